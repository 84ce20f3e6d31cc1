//! Validated run options: everything `cli.rs` accepts, checked once and turned into
//! types the engine can trust. Each error is one sentence saying what is wrong and
//! what to do, and is reported before anything on the machine is changed.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Result};

use crate::cli::{LoadKind, ProfileArg, ProtocolArg, RunArgs, TestArg};
use crate::iptables::Protocol;
use crate::load::generator::TestKind;
use crate::model::Impl;

/// A benchmark run, validated.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Options {
    /// Implementations in the order each round runs them.
    pub implementations: Vec<Impl>,
    #[serde(with = "humantime_serde")]
    pub duration: Duration,
    pub runs: u32,
    pub load: LoadChoice,
    pub test: TestKind,
    pub profile: Profile,
    pub protocol: Protocol,
    pub streams: u32,
    pub address: std::net::Ipv4Addr,
    pub port: u16,
    pub queue: u16,
    pub queues: u16,
    pub queue_cpu_fanout: bool,
    pub copy_range: u32,
    pub gso: bool,
    pub batch: u32,
    pub queue_maxlen: Option<u32>,
    pub rcvbuf: Option<u64>,
    pub rules: Option<PathBuf>,
    pub fail_open: bool,
    pub queue_bypass: bool,
    pub iptables: String,
    pub host: bool,
    pub out: PathBuf,
    pub dry_run: bool,
    pub quiet: bool,
    pub json: bool,
}

/// Filter settings: the paper's, or the optimised ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// Copy every byte (65535), one verdict per packet, no GSO: the paper's settings.
    Seed,
    /// Headers only (copy 128), GSO packets whole, batch verdicts of 32.
    Tuned,
}

impl Profile {
    pub fn as_str(self) -> &'static str {
        match self {
            Profile::Seed => "seed",
            Profile::Tuned => "tuned",
        }
    }
}

/// The load generator asked for; `auto` is resolved when the run starts.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LoadChoice {
    Auto { ethr: Option<PathBuf> },
    Ethr { ethr: Option<PathBuf> },
    Iperf3,
    Builtin,
}

impl Options {
    pub fn from_args(a: &RunArgs) -> Result<Options> {
        let duration = parse_duration(&a.duration)?;
        if a.runs == 0 {
            bail!("--runs must be at least 1");
        }
        if a.streams == 0 || a.streams > 128 {
            bail!("--streams must be between 1 and 128, not {}", a.streams);
        }
        let profile = match a.profile {
            ProfileArg::Seed => Profile::Seed,
            ProfileArg::Tuned => Profile::Tuned,
        };
        let tuned = profile == Profile::Tuned;
        let copy_range = a.copy_range.unwrap_or(if tuned { 128 } else { 65535 });
        if copy_range == 0 || copy_range > 65535 {
            bail!("--copy-range must be between 1 and 65535 bytes, not {copy_range}");
        }
        let batch = a.batch.unwrap_or(if tuned { 32 } else { 1 });
        if batch == 0 || batch > 4096 {
            bail!("--batch must be between 1 and 4096, not {batch}");
        }
        if a.queues == 0 || a.queues > 64 {
            bail!("--queues must be between 1 and 64, not {}", a.queues);
        }
        if u32::from(a.queue) + u32::from(a.queues) > 65536 {
            bail!(
                "--queue {} with --queues {} goes past queue 65535",
                a.queue,
                a.queues
            );
        }
        if a.queue_cpu_fanout && a.queues < 2 {
            bail!("--queue-cpu-fanout needs --queues 2 or more");
        }
        let test = match a.test {
            TestArg::Bandwidth => TestKind::Bandwidth,
            TestArg::Pps => TestKind::Pps,
            TestArg::Latency => TestKind::Latency,
            TestArg::Conns => TestKind::Conns,
        };
        let protocol = match (a.protocol, test) {
            (Some(ProtocolArg::Tcp), TestKind::Pps) => {
                bail!("--test pps sends UDP packets: drop --protocol tcp")
            }
            (Some(ProtocolArg::Udp), TestKind::Latency | TestKind::Conns) => {
                bail!(
                    "--test {} is a TCP test: drop --protocol udp",
                    test.as_str()
                )
            }
            (Some(ProtocolArg::Tcp), _) => Protocol::Tcp,
            (Some(ProtocolArg::Udp), _) => Protocol::Udp,
            (None, TestKind::Pps) => Protocol::Udp,
            (None, _) => Protocol::Tcp,
        };
        if a.queue_maxlen == Some(0) {
            bail!("--queue-maxlen must be at least 1");
        }
        let address = a.address.parse().map_err(|_| {
            anyhow::anyhow!(
                "--address must be an IPv4 address such as 127.0.0.1, not {:?}",
                a.address
            )
        })?;
        if let Some(r) = &a.rules {
            if !r.is_file() {
                bail!("--rules {}: no such file", r.display());
            }
        }
        if a.iptables.trim().is_empty() {
            bail!("--iptables must name a program, such as iptables or iptables-legacy");
        }
        let load = match a.load {
            LoadKind::Auto => LoadChoice::Auto {
                ethr: a.ethr.clone(),
            },
            LoadKind::Ethr => LoadChoice::Ethr {
                ethr: a.ethr.clone(),
            },
            LoadKind::Iperf3 => LoadChoice::Iperf3,
            LoadKind::Builtin => LoadChoice::Builtin,
        };
        Ok(Options {
            implementations: parse_impls(&a.implementations)?,
            duration,
            runs: a.runs,
            load,
            test,
            profile,
            protocol,
            streams: a.streams,
            address,
            port: parse_port(&a.port)?,
            queue: a.queue,
            queues: a.queues,
            queue_cpu_fanout: a.queue_cpu_fanout,
            copy_range,
            gso: a.gso.unwrap_or(tuned),
            batch,
            queue_maxlen: a.queue_maxlen,
            rcvbuf: a.rcvbuf,
            rules: a.rules.clone(),
            fail_open: a.fail_open,
            queue_bypass: a.queue_bypass,
            iptables: a.iptables.clone(),
            host: a.host,
            out: a.out.clone(),
            dry_run: a.dry_run,
            quiet: a.quiet || a.json,
            json: a.json,
        })
    }
}

/// `c,rust,none`, `all`, in the user's order, without repeats.
pub fn parse_impls(list: &str) -> Result<Vec<Impl>> {
    let mut out: Vec<Impl> = Vec::new();
    for word in list.split(',').map(str::trim) {
        let add: Vec<Impl> = match word {
            "all" => vec![Impl::C, Impl::Rust, Impl::None],
            "" => bail!("--impl is empty: give c, rust, none or all (comma-separated)"),
            w => vec![w.parse().map_err(|_| {
                anyhow::anyhow!(
                    "--impl: unknown implementation {w:?}; choose from c, rust, none, all"
                )
            })?],
        };
        for i in add {
            if !out.contains(&i) {
                out.push(i);
            }
        }
    }
    Ok(out)
}

/// Durations like `30s`, `1m`, `90s`, `1m30s`; at least one second.
pub fn parse_duration(text: &str) -> Result<Duration> {
    let t = text.trim();
    let d = humantime::parse_duration(t).map_err(|e| {
        anyhow::anyhow!("--duration {text:?} is not a duration ({e}); write it like 30s, 1m or 90s")
    })?;
    if d < Duration::from_secs(2) {
        bail!("--duration {text:?} is too short: a run needs at least 2s (the first second is dropped)");
    }
    Ok(d)
}

pub fn parse_port(text: &str) -> Result<u16> {
    match text.trim().parse::<u32>() {
        Ok(p @ 1..=65535) => Ok(p as u16),
        _ => bail!("--port {text:?} is not a port: give a number from 1 to 65535"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1m").unwrap(), Duration::from_secs(60));
        assert_eq!(parse_duration("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
        for bad in ["-1s", "abc", "", "1s", "0s", "10"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ports() {
        assert_eq!(parse_port("9999").unwrap(), 9999);
        for bad in ["0", "65536", "-1", "x"] {
            assert!(parse_port(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn impls() {
        assert_eq!(
            parse_impls("all").unwrap(),
            vec![Impl::C, Impl::Rust, Impl::None]
        );
        assert_eq!(
            parse_impls("rust,c,rust").unwrap(),
            vec![Impl::Rust, Impl::C]
        );
        assert!(parse_impls("go").is_err());
        assert!(parse_impls("c,,rust").is_err());
    }
}
