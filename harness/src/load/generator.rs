//! The three load generators behind one type: which command starts the receiving side
//! and the sending side, and how the receiver's per-second numbers are read back.
//! Only receiver-side numbers are used: a sender reports what it sent, not what passed
//! the filter (FIELD-NOTES: ethr's UDP client claimed ~500 k/s while ~235 k/s arrived).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde::Serialize;

use crate::iptables::Protocol;
use crate::model::{Metric, Sample};

/// What a run measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TestKind {
    /// Bulk transfer (TCP by default): bits/s at the receiver.
    Bandwidth,
    /// Small UDP packets: packets/s at the receiver.
    Pps,
    /// TCP request/response: round trips/s completed at the server.
    Latency,
    /// TCP connection setup: connections/s accepted by the server.
    Conns,
}

impl TestKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TestKind::Bandwidth => "bandwidth",
            TestKind::Pps => "pps",
            TestKind::Latency => "latency",
            TestKind::Conns => "conns",
        }
    }

    /// The headline number of the test.
    pub fn metric(self, protocol: Protocol) -> Metric {
        match (self, protocol) {
            (TestKind::Bandwidth, Protocol::Tcp) => Metric::BitsPerSecond,
            (TestKind::Bandwidth, Protocol::Udp) | (TestKind::Pps, _) => Metric::PacketsPerSecond,
            (TestKind::Latency, _) => Metric::RoundTripsPerSecond,
            (TestKind::Conns, _) => Metric::ConnectionsPerSecond,
        }
    }

    /// ethr's `-t` letter.
    fn ethr_letter(self) -> &'static str {
        match self {
            TestKind::Bandwidth => "b",
            TestKind::Pps => "p",
            TestKind::Latency => "l",
            TestKind::Conns => "c",
        }
    }

    /// The built-in generator's mode.
    fn builtin_mode(self) -> &'static str {
        match self {
            TestKind::Bandwidth | TestKind::Pps => "stream",
            TestKind::Latency => "round-trip",
            TestKind::Conns => "connect",
        }
    }
}

/// What the load does, independent of the generator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LoadPlan {
    pub test: TestKind,
    pub protocol: Protocol,
    pub address: std::net::Ipv4Addr,
    pub port: u16,
    pub streams: u32,
    pub duration: Duration,
}

/// A resolved generator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "name", rename_all = "lowercase")]
pub enum Generator {
    Ethr {
        path: PathBuf,
    },
    Iperf3 {
        path: PathBuf,
    },
    /// The harness's own `load-server` / `load-client` subcommands.
    Builtin {
        harness: PathBuf,
    },
}

/// A program and its arguments, printable for `--dry-run` and run.json.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CommandLine {
    pub program: PathBuf,
    pub args: Vec<String>,
}

impl std::fmt::Display for CommandLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.program.display())?;
        for a in &self.args {
            write!(f, " {a}")?;
        }
        Ok(())
    }
}

impl Generator {
    pub fn name(&self) -> &'static str {
        match self {
            Generator::Ethr { .. } => "ethr",
            Generator::Iperf3 { .. } => "iperf3",
            Generator::Builtin { .. } => "builtin",
        }
    }

    /// Version text for run.json and the summary.
    pub fn version(&self) -> String {
        let (program, flag) = match self {
            Generator::Ethr { path } => (path.as_path(), "-v"),
            Generator::Iperf3 { path } => (path.as_path(), "--version"),
            Generator::Builtin { .. } => {
                return format!("nfq-bench builtin {}", env!("CARGO_PKG_VERSION"))
            }
        };
        crate::environment::first_line_of(program, &[flag])
    }

    /// Refuses a test this generator cannot run, in one sentence.
    pub fn supports(&self, test: TestKind) -> Result<()> {
        if matches!(self, Generator::Iperf3 { .. })
            && matches!(test, TestKind::Latency | TestKind::Conns)
        {
            bail!(
                "iperf3 has no {} test: use --load builtin (or ethr)",
                test.as_str()
            );
        }
        Ok(())
    }

    /// Whether the receiving side exits by itself once the sender is done.
    pub fn server_exits_by_itself(&self) -> bool {
        !matches!(self, Generator::Ethr { .. })
    }

    /// Receiving side. `log` is a file the server may write its results to.
    pub fn server(&self, plan: &LoadPlan, log: &Path) -> CommandLine {
        let port = plan.port.to_string();
        let addr = plan.address.to_string();
        match self {
            Generator::Ethr { path } => CommandLine {
                program: path.clone(),
                args: strings(&[
                    "-s",
                    "-ip",
                    &addr,
                    "-port",
                    &port,
                    "-o",
                    &log.display().to_string(),
                ]),
            },
            Generator::Iperf3 { path } => CommandLine {
                program: path.clone(),
                args: strings(&["-s", "-1", "-J", "-B", &addr, "-p", &port]),
            },
            Generator::Builtin { harness } => CommandLine {
                program: harness.clone(),
                args: builtin_args("load-server", plan),
            },
        }
    }

    /// Sending side, for `plan.duration`.
    pub fn client(&self, plan: &LoadPlan) -> CommandLine {
        let port = plan.port.to_string();
        let addr = plan.address.to_string();
        let secs = plan.duration.as_secs().max(1).to_string();
        let streams = plan.streams.to_string();
        match self {
            Generator::Ethr { path } => {
                let mut args = strings(&["-c", &addr, "-port", &port]);
                let proto = plan.protocol.to_string();
                args.extend(strings(&["-p", &proto, "-t", plan.test.ethr_letter()]));
                args.extend(strings(&["-4", "-d", &format!("{secs}s"), "-n", &streams]));
                CommandLine {
                    program: path.clone(),
                    args,
                }
            }
            Generator::Iperf3 { path } => {
                let mut args = strings(&["-c", &addr, "-p", &port, "-t", &secs, "-P", &streams]);
                if plan.protocol == Protocol::Udp {
                    args.extend(strings(&["-u", "-b", "0", "-l", "64"]));
                }
                args.extend(strings(&["-J"]));
                CommandLine {
                    program: path.clone(),
                    args,
                }
            }
            Generator::Builtin { harness } => CommandLine {
                program: harness.clone(),
                args: builtin_args("load-client", plan),
            },
        }
    }

    /// Per-second receiver-side samples from the server's stdout or log file.
    pub fn parse_server(
        &self,
        test: TestKind,
        run: u32,
        stdout: &str,
        log: &Path,
    ) -> Result<Vec<Sample>> {
        match self {
            Generator::Ethr { .. } => {
                let text = std::fs::read_to_string(log)
                    .with_context(|| format!("ethr wrote no server log at {}", log.display()))?;
                ethr_samples(test, &text, run)
            }
            Generator::Iperf3 { .. } => crate::iperf3::samples_from_server_json(stdout, run),
            Generator::Builtin { .. } => {
                let mut out = Vec::new();
                for line in stdout.lines().filter(|l| l.starts_with('{')) {
                    let i: crate::load::builtin::Interval = serde_json::from_str(line)
                        .with_context(|| format!("bad line from the built-in server: {line}"))?;
                    // The last interval ends when the sender stops; a sliver of a second
                    // says little and is left out, as iperf3's closing fragment is.
                    if i.seconds < 0.5 {
                        continue;
                    }
                    out.push(Sample {
                        run,
                        second: i.second,
                        bits_per_second: i.bits_per_second,
                        packets_per_second: Some(i.packets_per_second),
                    });
                }
                if out.is_empty() {
                    bail!("the built-in server measured nothing");
                }
                Ok(out)
            }
        }
    }
}

/// ethr's server log as samples: bandwidth and packets/s directly; latency as round
/// trips/s of one connection (10⁶ / mean latency in µs); connections/s as reported.
fn ethr_samples(test: TestKind, text: &str, run: u32) -> Result<Vec<Sample>> {
    match test {
        TestKind::Bandwidth | TestKind::Pps => crate::ethr::samples_from_server_log(text, run),
        TestKind::Latency | TestKind::Conns => {
            let parsed = crate::ethr::parse_log(text, crate::ethr::Side::Server);
            let samples: Vec<Sample> = parsed
                .intervals
                .iter()
                .filter_map(|i| match test {
                    TestKind::Latency => i
                        .average_latency_us
                        .filter(|&us| us > 0.0)
                        .map(|us| 1e6 / us),
                    _ => i.connections_per_second,
                })
                .enumerate()
                .map(|(k, rate)| Sample {
                    run,
                    second: k as u32 + 1,
                    bits_per_second: 0.0,
                    packets_per_second: Some(rate),
                })
                .collect();
            if samples.is_empty() {
                bail!(
                    "the ethr server log holds no {} results{}",
                    test.as_str(),
                    parsed
                        .errors
                        .describe()
                        .map(|d| format!(" ({d})"))
                        .unwrap_or_default()
                );
            }
            Ok(samples)
        }
    }
}

fn builtin_args(sub: &str, plan: &LoadPlan) -> Vec<String> {
    strings(&[
        sub,
        "--mode",
        plan.test.builtin_mode(),
        "--protocol",
        &plan.protocol.to_string(),
        "--address",
        &plan.address.to_string(),
        "--port",
        &plan.port.to_string(),
        "--streams",
        &plan.streams.to_string(),
        "--duration",
        &format!("{}s", plan.duration.as_secs()),
    ])
}

fn strings(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

/// Finds `name` on PATH.
pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(protocol: Protocol) -> LoadPlan {
        LoadPlan {
            test: if protocol == Protocol::Udp {
                TestKind::Pps
            } else {
                TestKind::Bandwidth
            },
            protocol,
            address: "127.0.0.1".parse().unwrap(),
            port: 9999,
            streams: 1,
            duration: Duration::from_secs(60),
        }
    }

    #[test]
    fn ethr_is_run_as_the_paper_did() {
        let g = Generator::Ethr {
            path: "ethr".into(),
        };
        assert_eq!(
            g.server(&plan(Protocol::Tcp), Path::new("/tmp/s.log"))
                .to_string(),
            "ethr -s -ip 127.0.0.1 -port 9999 -o /tmp/s.log"
        );
        assert_eq!(
            g.client(&plan(Protocol::Tcp)).to_string(),
            "ethr -c 127.0.0.1 -port 9999 -p tcp -t b -4 -d 60s -n 1"
        );
        assert!(g
            .client(&plan(Protocol::Udp))
            .to_string()
            .contains("-p udp -t p"));
    }

    #[test]
    fn iperf3_reports_from_the_receiver() {
        let g = Generator::Iperf3 {
            path: "iperf3".into(),
        };
        assert_eq!(
            g.server(&plan(Protocol::Tcp), Path::new("x")).to_string(),
            "iperf3 -s -1 -J -B 127.0.0.1 -p 9999"
        );
        assert_eq!(
            g.client(&plan(Protocol::Udp)).to_string(),
            "iperf3 -c 127.0.0.1 -p 9999 -t 60 -P 1 -u -b 0 -l 64 -J"
        );
    }

    #[test]
    fn builtin_uses_hidden_subcommands() {
        let g = Generator::Builtin {
            harness: "/bin/harness".into(),
        };
        assert_eq!(
            g.client(&plan(Protocol::Tcp)).to_string(),
            "/bin/harness load-client --mode stream --protocol tcp --address 127.0.0.1 --port 9999 --streams 1 --duration 60s"
        );
    }
}
