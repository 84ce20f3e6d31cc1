//! The engine: runs the interleaved plan (c, rust, none, c, rust, none, …), one run at a
//! time, each in a fresh namespace, and returns what every run measured. It knows
//! nothing about the terminal: it reports through `Observer` and returns records.
//!
//! Every resource a run creates is owned by a guard (namespace, rule, child process), so
//! returning early for any reason — error, Ctrl-C, SIGTERM, panic — tears it all down.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use nix::sys::signal::Signal;
use serde::Serialize;

use crate::filters::{FilterArgs, FilterStats};
use crate::iptables::{NfqueueRule, RuleSpec};
use crate::load::generator::{CommandLine, Generator, LoadPlan};
use crate::lock::Lock;
use crate::model::{Impl, Metric, Sample};
use crate::netns::{wait_bound, Host, NetNs, Place, QueueCounters, Spawned};
use crate::options::Options;
use crate::preflight::Programs;

/// One run of one implementation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RunSpec {
    #[serde(rename = "impl")]
    pub implementation: Impl,
    /// 1-based round number.
    pub run: u32,
}

/// Rounds of all implementations, so slow drift of the machine hits each one equally.
pub fn plan(impls: &[Impl], runs: u32) -> Vec<RunSpec> {
    (1..=runs)
        .flat_map(|run| {
            impls.iter().map(move |&implementation| RunSpec {
                implementation,
                run,
            })
        })
        .collect()
}

/// What one run measured, valid or not.
#[derive(Debug, Clone, Serialize)]
pub struct RunRecord {
    #[serde(flatten)]
    pub spec: RunSpec,
    /// False when the numbers must not be reported as a result; `problem` says why.
    pub valid: bool,
    pub problem: Option<String>,
    pub samples: Vec<Sample>,
    pub filter: Option<FilterStats>,
    /// Kernel counters read just before the filter was stopped.
    pub kernel: Option<QueueCounters>,
    pub cpu_ns_per_packet: Option<f64>,
    /// The filter's resident memory (KiB), sampled once a second under load.
    pub filter_rss_kib: Vec<u64>,
    pub commands: Vec<String>,
}

/// What the engine tells its observer.
#[derive(Debug)]
pub enum Event<'a> {
    RunStarted {
        index: usize,
        total: usize,
        spec: RunSpec,
    },
    /// Load time elapsed in the current run.
    Tick {
        elapsed: Duration,
    },
    RunFinished {
        record: &'a RunRecord,
    },
    Warning(String),
}

pub trait Observer {
    fn event(&mut self, event: Event<'_>);
}

/// Set by the signal handler to the number of the signal that asked us to stop.
pub type StopFlag = Arc<AtomicUsize>;

fn check_stop(stop: &StopFlag) -> Result<()> {
    match stop.load(Ordering::Relaxed) {
        0 => Ok(()),
        n => {
            let name = Signal::try_from(n as i32).map_or("a signal", |s| s.as_str());
            Err(anyhow!(Interrupted(name.to_string())))
        }
    }
}

/// The error of a run stopped by SIGINT/SIGTERM.
#[derive(Debug, thiserror::Error)]
#[error("interrupted by {0}")]
pub struct Interrupted(pub String);

pub struct Engine<'a> {
    pub opts: &'a Options,
    pub programs: &'a Programs,
    pub generator: &'a Generator,
    /// Folder for this invocation's raw files (filter logs, stats, generator output).
    pub raw_dir: PathBuf,
    pub lock: &'a mut Lock,
    pub stop: StopFlag,
}

impl Engine<'_> {
    pub fn load_plan(&self) -> LoadPlan {
        LoadPlan {
            test: self.opts.test,
            protocol: self.opts.protocol,
            address: self.opts.address,
            port: self.opts.port,
            streams: self.opts.streams,
            duration: self.opts.duration,
        }
    }

    fn rule_spec(&self) -> RuleSpec {
        RuleSpec {
            protocol: self.opts.protocol,
            address: self.opts.address.to_string(),
            port: self.opts.port,
            queue: self.opts.queue,
            queues: self.opts.queues,
            bypass: self.opts.queue_bypass,
            cpu_fanout: self.opts.queue_cpu_fanout,
            binary: self.opts.iptables.clone(),
        }
    }

    fn filter_args(&self, stats: PathBuf) -> FilterArgs {
        FilterArgs {
            queue: self.opts.queue,
            copy_range: self.opts.copy_range,
            queue_maxlen: self.opts.queue_maxlen,
            rcvbuf: self.opts.rcvbuf,
            fail_open: self.opts.fail_open,
            gso: self.opts.gso,
            batch: (self.opts.batch > 1).then_some(self.opts.batch),
            queues: (self.opts.queues > 1).then_some(self.opts.queues),
            rules: self.opts.rules.clone(),
            ..FilterArgs::new(stats)
        }
    }

    fn raw(&self, spec: RunSpec, what: &str) -> PathBuf {
        self.raw_dir.join(format!(
            "{}-run{}-{what}",
            spec.implementation.as_str(),
            spec.run
        ))
    }

    /// The commands one run executes, in order (for `--dry-run` and run.json).
    pub fn commands(&self, spec: RunSpec) -> Vec<String> {
        let ns = format!("{}-run-{}-N", crate::netns::PREFIX, std::process::id());
        let prefix = if self.opts.host {
            String::new()
        } else {
            format!("ip netns exec {ns} ")
        };
        let mut c = Vec::new();
        if !self.opts.host {
            c.push(format!("ip netns add {ns}"));
            c.push(format!("ip -n {ns} link set lo up"));
        }
        let comment = self.rule_comment(spec);
        if let Some(bin) = self.programs.filter(spec.implementation) {
            c.push(format!(
                "{prefix}{}",
                self.rule_spec().install_command(&comment)
            ));
            let args = self.filter_args(self.raw(spec, "stats.json"));
            c.push(format!(
                "{prefix}{} {}",
                bin.display(),
                args.to_args().join(" ")
            ));
        }
        let plan = self.load_plan();
        c.push(format!(
            "{prefix}{}",
            self.generator.server(&plan, &self.raw(spec, "server.log"))
        ));
        c.push(format!("{prefix}{}", self.generator.client(&plan)));
        if self.programs.filter(spec.implementation).is_some() {
            c.push(format!("{prefix}cat /proc/net/netfilter/nfnetlink_queue"));
            c.push("kill -INT <filter pid>".to_string());
            c.push(format!(
                "{prefix}{} -D OUTPUT ... --comment {comment} ...",
                self.opts.iptables
            ));
        }
        if !self.opts.host {
            c.push(format!("ip netns del {ns}"));
        }
        c
    }

    fn rule_comment(&self, spec: RunSpec) -> String {
        format!(
            "nfq-bench-{}-{}-run{}",
            std::process::id(),
            spec.implementation.as_str(),
            spec.run
        )
    }

    /// Runs the whole plan. Invalid runs are returned (and reported) but never hidden.
    pub fn run_all(&mut self, observer: &mut dyn Observer) -> Result<Vec<RunRecord>> {
        let specs = plan(&self.opts.implementations, self.opts.runs);
        let mut records = Vec::with_capacity(specs.len());
        for (index, &spec) in specs.iter().enumerate() {
            check_stop(&self.stop)?;
            observer.event(Event::RunStarted {
                index,
                total: specs.len(),
                spec,
            });
            let record = self.run_one(spec, observer)?;
            self.lock.clear()?;
            observer.event(Event::RunFinished { record: &record });
            records.push(record);
        }
        Ok(records)
    }

    fn run_one(&mut self, spec: RunSpec, observer: &mut dyn Observer) -> Result<RunRecord> {
        let commands = self.commands(spec);
        // Guards are declared in creation order and dropped in reverse: processes first,
        // then the rule, then the namespace.
        let ns;
        let place: &dyn Place = if self.opts.host {
            &Host
        } else {
            ns = NetNs::create("run")?;
            self.lock.add_namespace(ns.name())?;
            &ns
        };
        check_stop(&self.stop)?;

        let filter_bin = self
            .programs
            .filter(spec.implementation)
            .map(Path::to_path_buf);
        let mut rule = None;
        let mut filter = None;
        let stats_path = self.raw(spec, "stats.json");
        if let Some(bin) = &filter_bin {
            let comment = self.rule_comment(spec);
            if self.opts.host {
                self.lock.add_host_rule(&self.opts.iptables, &comment)?;
            }
            rule = Some(NfqueueRule::install(place, self.rule_spec(), comment)?);
            let mut cmd = place.command(bin.as_os_str());
            cmd.args(self.filter_args(stats_path.clone()).to_args())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log_file(&self.raw(spec, "filter.log"))?);
            crate::sys::die_with_parent(&mut cmd);
            let mut f = Spawned::spawn(cmd, crate::filters::binary_name(spec.implementation))?;
            self.lock.add_child(f.pid())?;
            let bound = (0..self.opts.queues).try_for_each(|i| {
                wait_bound(
                    place,
                    u32::from(self.opts.queue) + u32::from(i),
                    Duration::from_secs(5),
                )
                .map(drop)
            });
            if let Err(e) = bound {
                let status = f.try_wait()?;
                let log = std::fs::read_to_string(self.raw(spec, "filter.log")).unwrap_or_default();
                bail!(
                    "{} did not bind queue {} ({}): {}",
                    crate::filters::binary_name(spec.implementation),
                    self.opts.queue,
                    status.map_or("still running".to_string(), |s| s.to_string()),
                    if log.trim().is_empty() {
                        e.to_string()
                    } else {
                        log.trim().to_string()
                    }
                );
            }
            filter = Some(f);
        }

        // Receiving side first; wait until it listens.
        let plan = self.load_plan();
        let server_log = self.raw(spec, "server.log");
        let server_out = self.raw(spec, "server.out");
        let server_cmd = self.generator.server(&plan, &server_log);
        let mut server = self.spawn_load(place, &server_cmd, &server_out, "load server")?;
        self.wait_listening(place, &mut server)?;

        let client_out = self.raw(spec, "client.out");
        let client_cmd = self.generator.client(&plan);
        let mut client = self.spawn_load(place, &client_cmd, &client_out, "load client")?;

        // Watch the client, the filter and the stop flag until the load ends.
        let start = Instant::now();
        let deadline = self.opts.duration + Duration::from_secs(20);
        let mut problem: Option<String> = None;
        let mut filter_rss_kib = Vec::new();
        let mut next_sample = start;
        loop {
            check_stop(&self.stop)?;
            if let Some(f) = filter.as_ref() {
                if Instant::now() >= next_sample {
                    next_sample += Duration::from_secs(1);
                    filter_rss_kib.extend(rss_kib(f.pid()));
                }
            }
            observer.event(Event::Tick {
                elapsed: start.elapsed().min(self.opts.duration),
            });
            if let Some(status) = client.try_wait()? {
                if !status.success() && problem.is_none() {
                    problem = Some(format!(
                        "the load client failed ({status}): {}",
                        tail(&client_out)
                    ));
                }
                break;
            }
            if problem.is_none() {
                if let Some(f) = filter.as_mut() {
                    if let Some(status) = f.try_wait()? {
                        let at = start.elapsed().as_secs_f64();
                        let mut p = format!(
                            "{} died after {at:.1} s of load ({status})",
                            crate::filters::binary_name(spec.implementation),
                        );
                        if self.opts.queue_bypass || self.opts.fail_open {
                            p.push_str("; with --queue-bypass the traffic kept flowing unfiltered");
                            observer.event(Event::Warning(p.clone()));
                            problem = Some(p);
                        } else {
                            observer.event(Event::Warning(p.clone()));
                            problem = Some(p);
                            break; // the load would only hang: stop it now
                        }
                    }
                }
            }
            if start.elapsed() > deadline {
                problem.get_or_insert_with(|| {
                    format!("the load client did not finish within {deadline:?}")
                });
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let client_output = client.stop(Signal::SIGTERM, Duration::from_secs(2))?;
        drop(client_output);

        // The receiving side: let it finish its last interval, or stop it.
        let wait = if self.generator.server_exits_by_itself() && problem.is_none() {
            Duration::from_secs(5)
        } else {
            Duration::from_millis(1500)
        };
        let server_status = wait_exit(&mut server, wait)?;
        if server_status.is_none() {
            server.stop(Signal::SIGINT, Duration::from_secs(2))?;
        }
        let stdout = std::fs::read_to_string(&server_out).unwrap_or_default();
        let samples =
            match self
                .generator
                .parse_server(self.opts.test, spec.run, &stdout, &server_log)
            {
                Ok(s) => s,
                Err(e) => {
                    problem.get_or_insert_with(|| format!("no receiver-side numbers: {e:#}"));
                    Vec::new()
                }
            };

        // Kernel counters before the filter unbinds (its line disappears then).
        let mut kernel = None;
        let mut stats = None;
        if let Some(f) = filter.take() {
            std::thread::sleep(Duration::from_millis(200));
            kernel = QueueCounters::sum(
                &place.queue_counters()?,
                self.opts.queue.into(),
                self.opts.queues.into(),
            );
            let out = f.stop(Signal::SIGINT, Duration::from_secs(5))?;
            match std::fs::read_to_string(&stats_path)
                .map_err(anyhow::Error::from)
                .and_then(|t| FilterStats::parse(&t))
            {
                Ok(s) if out.status.success() => stats = Some(s),
                Ok(_) | Err(_) => {
                    problem.get_or_insert_with(|| {
                        format!(
                            "{} exited with {} and wrote no stats: {}",
                            crate::filters::binary_name(spec.implementation),
                            out.status,
                            tail(&self.raw(spec, "filter.log"))
                        )
                    });
                }
            }
        }
        if let Some(r) = rule.take() {
            r.remove()?;
        }

        if problem.is_none() {
            problem = validate(
                spec,
                self.opts.test.metric(self.opts.protocol),
                &samples,
                stats.as_ref(),
                kernel.as_ref(),
            );
        }
        Ok(RunRecord {
            spec,
            valid: problem.is_none(),
            problem,
            cpu_ns_per_packet: stats.as_ref().and_then(FilterStats::cpu_ns_per_packet),
            filter_rss_kib,
            samples,
            filter: stats,
            kernel,
            commands,
        })
    }

    fn spawn_load(
        &mut self,
        place: &dyn Place,
        line: &CommandLine,
        out: &Path,
        what: &str,
    ) -> Result<Spawned> {
        let mut cmd = place.command(line.program.as_os_str());
        cmd.args(&line.args)
            .stdin(Stdio::null())
            .stdout(log_file(out)?)
            .stderr(log_file(&out.with_extension("err"))?);
        crate::sys::die_with_parent(&mut cmd);
        raise_nofile_limit();
        let s = Spawned::spawn(cmd, what)?;
        self.lock.add_child(s.pid())?;
        Ok(s)
    }

    /// Waits until the load server listens on the port (TCP) or has bound it (UDP).
    fn wait_listening(&self, place: &dyn Place, server: &mut Spawned) -> Result<()> {
        let flag = match self.opts.protocol {
            crate::iptables::Protocol::Tcp => "-ltnH",
            crate::iptables::Protocol::Udp => "-lunH",
        };
        let filter = format!("sport = :{}", self.opts.port);
        let start = Instant::now();
        loop {
            check_stop(&self.stop)?;
            if !place.run("ss", &[flag, &filter])?.trim().is_empty() {
                return Ok(());
            }
            if let Some(status) = server.try_wait()? {
                bail!("the load server exited at start ({status})");
            }
            if start.elapsed() > Duration::from_secs(10) {
                bail!(
                    "the load server did not listen on port {} within 10 s",
                    self.opts.port
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Why a finished run must not count as a result, if it must not.
pub fn validate(
    spec: RunSpec,
    metric: Metric,
    samples: &[Sample],
    stats: Option<&FilterStats>,
    kernel: Option<&QueueCounters>,
) -> Option<String> {
    if samples.iter().all(|s| metric.of(s).unwrap_or(0.0) <= 0.0) {
        return Some("the receiver measured no traffic".into());
    }
    if spec.implementation == Impl::None {
        return None;
    }
    let Some(stats) = stats else {
        return Some("the filter wrote no stats".into());
    };
    if stats.packets == 0 {
        return Some(
            "the filter saw no packets: the traffic did not pass through it (is the rule matching?)"
                .into(),
        );
    }
    if let Some(k) = kernel {
        // Every packet that got an id was either delivered to the filter or dropped for
        // lack of socket room (user_dropped); queue_dropped packets never got an id.
        if stats.packets + k.user_dropped != k.last_id {
            return Some(format!(
                "the filter counted {} packets but the kernel queued {} (user_dropped {})",
                stats.packets, k.last_id, k.user_dropped
            ));
        }
    } else {
        return Some("the queue was not bound when the load ended".into());
    }
    None
}

fn wait_exit(p: &mut Spawned, timeout: Duration) -> Result<Option<std::process::ExitStatus>> {
    let start = Instant::now();
    loop {
        if let Some(s) = p.try_wait()? {
            return Ok(Some(s));
        }
        if start.elapsed() > timeout {
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// VmRSS of a process in KiB, if it still exists.
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn log_file(path: &Path) -> Result<File> {
    File::create(path).with_context(|| format!("cannot create {}", path.display()))
}

/// The last non-empty line of a log, for one-line reasons.
fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path)
        .or_else(|_| std::fs::read_to_string(path.with_extension("err")))
        .unwrap_or_default();
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("(no output)")
        .trim()
        .to_string()
}

/// ethr's connection test exhausts the default open-files limit within a second
/// (FIELD-NOTES); children inherit ours, so raise the soft limit to the hard one.
fn raise_nofile_limit() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    if let Ok((_, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_interleaves_rounds() {
        let p = plan(&[Impl::C, Impl::Rust, Impl::None], 2);
        let names: Vec<String> = p
            .iter()
            .map(|s| format!("{}{}", s.implementation.as_str(), s.run))
            .collect();
        assert_eq!(names, ["c1", "rust1", "none1", "c2", "rust2", "none2"]);
    }

    const M: Metric = Metric::BitsPerSecond;

    fn sample(bps: f64) -> Sample {
        Sample {
            run: 1,
            second: 1,
            bits_per_second: bps,
            packets_per_second: None,
        }
    }

    #[test]
    fn runs_without_packets_or_with_mismatched_counts_are_invalid() {
        let spec = RunSpec {
            implementation: Impl::Rust,
            run: 1,
        };
        let stats = |packets| {
            FilterStats::parse(&format!(
                r#"{{"impl":"rust","queue":0,"copy_range":65535,"rcvbuf":1,"packets":{packets},"bytes":0,
                "accepted":{packets},"dropped":0,"malformed":0,"default_hits":{packets},"rule_hits":[],
                "recv_errors":0,"enobufs":0,"verdict_errors":0,"cpu_user_us":0,"cpu_sys_us":0}}"#
            ))
            .unwrap()
        };
        let k = |last_id, user_dropped| QueueCounters {
            queue: 0,
            portid: 1,
            waiting: 0,
            copy_mode: 2,
            copy_range: 65531,
            queue_dropped: 0,
            user_dropped,
            last_id,
        };
        let s = [sample(1e9)];
        assert!(validate(spec, M, &s, Some(&stats(0)), Some(&k(0, 0)))
            .unwrap()
            .contains("no packets"));
        assert!(validate(spec, M, &s, Some(&stats(10)), Some(&k(12, 0))).is_some());
        assert_eq!(
            validate(spec, M, &s, Some(&stats(10)), Some(&k(12, 2))),
            None
        );
        assert!(validate(spec, M, &[sample(0.0)], Some(&stats(10)), Some(&k(10, 0))).is_some());
        assert!(validate(spec, M, &s, None, None).is_some());
        let none = RunSpec {
            implementation: Impl::None,
            run: 1,
        };
        assert_eq!(validate(none, M, &s, None, None), None);
    }
}
