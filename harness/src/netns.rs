//! Network namespaces the harness and its tests create, use and always remove.
//!
//! Everything that touches netfilter runs inside a namespace made here, so no rule ever
//! lands in the host's tables by accident. `NetNs` removes its namespace on drop (panics
//! included); `Spawned` ends the one process it started, by pid, on drop. Names carry the
//! creating pid (`nfqb-<tag>-<pid>-<n>`) so a later run can tell a leftover of a dead
//! harness from a namespace that is still in use (`sweep_stale`).
//!
//! We drive iproute2's `ip netns` instead of calling setns(2) ourselves: `ip netns exec`
//! also gives each child its own /sys and /etc/netns view, and the namespace stays
//! visible to a human (`ip netns list`) while a run is in progress.

use std::ffi::OsStr;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// Prefix of every namespace this project makes.
pub const PREFIX: &str = "nfqb";

/// Where commands run: a namespace of ours, or the host itself (`--host`).
pub trait Place {
    /// A command that runs `program` in this place.
    fn command(&self, program: &OsStr) -> Command;
    /// Human name for messages and run.json.
    fn describe(&self) -> String;

    /// Runs `program args…` here, failing with its stderr when it exits non-zero.
    fn run(&self, program: &str, args: &[&str]) -> Result<String> {
        let out = self
            .command(OsStr::new(program))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("cannot run {program}"))?;
        check_output(program, args, &out)?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// The kernel's NFQUEUE counters as this place sees them.
    fn queue_counters(&self) -> Result<Vec<QueueCounters>> {
        let text = self.run("cat", &["/proc/net/netfilter/nfnetlink_queue"])?;
        QueueCounters::parse_all(&text)
    }
}

/// The host's own network stack.
pub struct Host;

impl Place for Host {
    fn command(&self, program: &OsStr) -> Command {
        Command::new(program)
    }
    fn describe(&self) -> String {
        "host".into()
    }
}

/// A network namespace created by us and deleted when dropped.
#[derive(Debug)]
pub struct NetNs {
    name: String,
}

static SEQUENCE: AtomicU32 = AtomicU32::new(0);

impl NetNs {
    /// Creates `nfqb-<tag>-<pid>-<n>` and brings its loopback up.
    pub fn create(tag: &str) -> Result<NetNs> {
        let n = SEQUENCE.fetch_add(1, Ordering::Relaxed);
        let name = format!("{PREFIX}-{tag}-{}-{n}", std::process::id());
        run_ip(&["netns", "add", &name]).context("cannot create a network namespace")?;
        // From here on the guard exists, so a failure below still removes the namespace.
        let ns = NetNs { name };
        run_ip(&["-n", &ns.name, "link", "set", "lo", "up"])?;
        Ok(ns)
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Place for NetNs {
    fn command(&self, program: &OsStr) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name]).arg(program);
        cmd
    }
    fn describe(&self) -> String {
        format!("network namespace {}", self.name)
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        if let Err(e) = run_ip(&["netns", "del", &self.name]) {
            eprintln!(
                "warning: could not remove network namespace {}: {e:#}",
                self.name
            );
        }
    }
}

/// Removes namespaces named by this project whose creating process is gone
/// (left by a harness that was SIGKILLed). Returns the names removed.
pub fn sweep_stale() -> Result<Vec<String>> {
    let list = run_ip(&["netns", "list"])?;
    let mut removed = Vec::new();
    for name in list.lines().filter_map(|l| l.split_whitespace().next()) {
        let Some(pid) = owner_pid(name) else { continue };
        if pid_alive(pid) {
            continue;
        }
        run_ip(&["netns", "del", name])?;
        removed.push(name.to_string());
    }
    Ok(removed)
}

/// The pid encoded in a name made by `NetNs::create`.
pub fn owner_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix(PREFIX)?.strip_prefix('-')?;
    let mut parts = rest.rsplitn(3, '-');
    let _seq: u32 = parts.next()?.parse().ok()?;
    let pid = parts.next()?.parse().ok()?;
    parts.next()?; // the tag
    Some(pid)
}

fn pid_alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

fn run_ip(args: &[&str]) -> Result<String> {
    let out = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .context("cannot run `ip` (install iproute2)")?;
    check_output("ip", args, &out)?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn check_output(program: &str, args: &[&str], out: &Output) -> Result<()> {
    if !out.status.success() {
        bail!(
            "`{program} {}` failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// One line of `/proc/net/netfilter/nfnetlink_queue`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct QueueCounters {
    pub queue: u32,
    pub portid: u32,
    pub waiting: u32,
    pub copy_mode: u32,
    pub copy_range: u32,
    /// Packets dropped because the queue was full (`--queue-maxlen`).
    pub queue_dropped: u64,
    /// Packets dropped because the program's socket had no room.
    pub user_dropped: u64,
    /// Id of the last packet queued: packets queued since the queue was bound.
    pub last_id: u64,
}

impl QueueCounters {
    pub fn parse_all(text: &str) -> Result<Vec<QueueCounters>> {
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|line| {
                let f: Vec<u64> = line
                    .split_whitespace()
                    .map(|x| x.parse::<u64>())
                    .collect::<Result<_, _>>()
                    .with_context(|| format!("bad nfnetlink_queue line {line:?}"))?;
                if f.len() < 8 {
                    bail!("bad nfnetlink_queue line {line:?}: {} fields", f.len());
                }
                Ok(QueueCounters {
                    queue: f[0] as u32,
                    portid: f[1] as u32,
                    waiting: f[2] as u32,
                    copy_mode: f[3] as u32,
                    copy_range: f[4] as u32,
                    queue_dropped: f[5],
                    user_dropped: f[6],
                    last_id: f[7],
                })
            })
            .collect()
    }

    /// The counters of queues `first..first + n` added up (`queue` = `first`), if all are bound.
    pub fn sum(all: &[QueueCounters], first: u32, n: u32) -> Option<QueueCounters> {
        let mut total = QueueCounters::find(all, first)?;
        for q in first + 1..first + n {
            let c = QueueCounters::find(all, q)?;
            total.waiting += c.waiting;
            total.queue_dropped += c.queue_dropped;
            total.user_dropped += c.user_dropped;
            total.last_id += c.last_id;
        }
        Some(total)
    }

    /// The counters of `queue`, if a program has it bound.
    pub fn find(all: &[QueueCounters], queue: u32) -> Option<QueueCounters> {
        all.iter().copied().find(|c| c.queue == queue)
    }
}

/// Waits until `queue` is bound in `place` (or `timeout` passes).
pub fn wait_bound(place: &dyn Place, queue: u32, timeout: Duration) -> Result<QueueCounters> {
    let start = Instant::now();
    loop {
        if let Some(c) = QueueCounters::find(&place.queue_counters()?, queue) {
            return Ok(c);
        }
        if start.elapsed() > timeout {
            bail!("queue {queue} was not bound within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A child process we started; killed (by its own pid) and reaped on drop.
#[derive(Debug)]
pub struct Spawned {
    child: Option<Child>,
    what: String,
}

impl Spawned {
    pub fn spawn(mut cmd: Command, what: impl Into<String>) -> Result<Spawned> {
        let what = what.into();
        let child = cmd
            .spawn()
            .with_context(|| format!("cannot start {what}"))?;
        Ok(Spawned {
            child: Some(child),
            what,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    /// Exit status if it has exited already.
    pub fn try_wait(&mut self) -> Result<Option<std::process::ExitStatus>> {
        match self.child.as_mut() {
            Some(c) => Ok(c.try_wait()?),
            None => bail!("{} was already collected", self.what),
        }
    }

    /// Sends `signal`, then waits up to `timeout` for the exit; kills it after that.
    pub fn stop(mut self, signal: nix::sys::signal::Signal, timeout: Duration) -> Result<Output> {
        let child = self.child.take().expect("child present until stop");
        stop_child(child, signal, timeout, &self.what)
    }
}

fn stop_child(
    mut child: Child,
    signal: nix::sys::signal::Signal,
    timeout: Duration,
    what: &str,
) -> Result<Output> {
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    if child.try_wait()?.is_none() {
        let _ = nix::sys::signal::kill(pid, signal);
        let start = Instant::now();
        while child.try_wait()?.is_none() {
            if start.elapsed() > timeout {
                let _ = child.kill();
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    child
        .wait_with_output()
        .with_context(|| format!("cannot collect {what}"))
}

impl Drop for Spawned {
    fn drop(&mut self) {
        if let Some(child) = self.child.take() {
            let what = self.what.clone();
            let _ = stop_child(
                child,
                nix::sys::signal::Signal::SIGTERM,
                Duration::from_secs(2),
                &what,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_queue_counters() {
        let text = "    0  12345     0 2 65531     0     7       1234  1\n";
        let c = QueueCounters::parse_all(text).unwrap();
        assert_eq!(
            c,
            vec![QueueCounters {
                queue: 0,
                portid: 12345,
                waiting: 0,
                copy_mode: 2,
                copy_range: 65531,
                queue_dropped: 0,
                user_dropped: 7,
                last_id: 1234
            }]
        );
        assert!(QueueCounters::parse_all("").unwrap().is_empty());
        assert!(QueueCounters::parse_all("0 1 2").is_err());
    }

    #[test]
    fn owner_pid_round_trip() {
        assert_eq!(owner_pid("nfqb-test-4242-0"), Some(4242));
        assert_eq!(owner_pid("nfqb-run-a-b-77-3"), Some(77));
        assert_eq!(owner_pid("other-1-2"), None);
        assert_eq!(owner_pid("nfqb-77"), None);
    }
}
