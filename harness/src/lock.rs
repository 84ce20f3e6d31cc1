//! One benchmark at a time, and recovery from a harness that was killed outright.
//!
//! The lock file records the harness's pid and everything it creates that would outlive
//! it: namespaces, host rules (by their unique comment) and child processes (pid plus
//! start time, so a recycled pid is never signalled). A run that finds the lock of a dead
//! harness removes those leftovers and says so; a live one makes it refuse to start.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use crate::netns::Host;

pub const DEFAULT_PATH: &str = "/run/nfq-bench.lock";

/// The lock file: `NFQB_LOCK_FILE` if set (tests use their own), else `DEFAULT_PATH`.
pub fn path() -> std::path::PathBuf {
    std::env::var_os("NFQB_LOCK_FILE").map_or_else(|| DEFAULT_PATH.into(), Into::into)
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Leftovers {
    pub pid: u32,
    pub namespaces: Vec<String>,
    /// (iptables binary, comment) of rules installed on the host.
    pub host_rules: Vec<(String, String)>,
    /// (pid, start time in clock ticks since boot) of children.
    pub children: Vec<(u32, u64)>,
}

/// The held lock; removed on drop.
pub struct Lock {
    path: PathBuf,
    state: Leftovers,
}

impl Lock {
    /// Takes the lock at `path`, first cleaning up after a dead previous holder.
    /// Returns the lock and a description of what was cleaned.
    pub fn acquire(path: &Path) -> Result<(Lock, Vec<String>)> {
        let mut cleaned = Vec::new();
        for _attempt in 0..2 {
            match OpenOptions::new().write(true).create_new(true).open(path) {
                Ok(file) => {
                    let lock = Lock {
                        path: path.to_path_buf(),
                        state: Leftovers {
                            pid: std::process::id(),
                            ..Default::default()
                        },
                    };
                    lock.write(file)?;
                    return Ok((lock, cleaned));
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let text = std::fs::read_to_string(path).unwrap_or_default();
                    let old: Leftovers = serde_json::from_str(&text).unwrap_or_default();
                    if old.pid != 0 && old.pid != std::process::id() && pid_alive(old.pid) {
                        bail!(
                            "another benchmark is running (pid {}); wait for it or stop it, \
                             then try again (lock file {})",
                            old.pid,
                            path.display()
                        );
                    }
                    cleaned.extend(clean(&old));
                    cleaned.push(format!("removed the stale lock file of pid {}", old.pid));
                    std::fs::remove_file(path)
                        .with_context(|| format!("cannot remove stale lock {}", path.display()))?;
                }
                Err(e) => {
                    return Err(e)
                        .with_context(|| format!("cannot create lock file {}", path.display()))
                }
            }
        }
        bail!("cannot take the lock {}", path.display())
    }

    pub fn add_namespace(&mut self, name: &str) -> Result<()> {
        self.state.namespaces.push(name.to_string());
        self.rewrite()
    }

    pub fn add_host_rule(&mut self, binary: &str, comment: &str) -> Result<()> {
        self.state
            .host_rules
            .push((binary.to_string(), comment.to_string()));
        self.rewrite()
    }

    pub fn add_child(&mut self, pid: u32) -> Result<()> {
        if let Some(start) = start_time(pid) {
            self.state.children.push((pid, start));
        }
        self.rewrite()
    }

    /// Forgets everything recorded (after a run tore its own state down).
    pub fn clear(&mut self) -> Result<()> {
        self.state = Leftovers {
            pid: self.state.pid,
            ..Default::default()
        };
        self.rewrite()
    }

    fn rewrite(&self) -> Result<()> {
        let file = File::create(&self.path)
            .with_context(|| format!("cannot write lock file {}", self.path.display()))?;
        self.write(file)
    }

    fn write(&self, mut file: File) -> Result<()> {
        file.write_all(serde_json::to_string(&self.state)?.as_bytes())?;
        Ok(())
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Removes what a dead harness left; one line per thing removed.
fn clean(old: &Leftovers) -> Vec<String> {
    let mut done = Vec::new();
    for &(pid, start) in &old.children {
        if start_time(pid) == Some(start) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
            done.push(format!("ended leftover process {pid}"));
        }
    }
    for (binary, comment) in &old.host_rules {
        if crate::iptables::remove_by_comment(&Host, binary, comment).is_ok() {
            done.push(format!("removed leftover host rule {comment:?}"));
        }
    }
    let existing = std::process::Command::new("ip")
        .args(["netns", "list"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    for ns in &old.namespaces {
        if existing
            .lines()
            .any(|l| l.split_whitespace().next() == Some(ns))
        {
            let ok = std::process::Command::new("ip")
                .args(["netns", "del", ns])
                .status()
                .is_ok_and(|s| s.success());
            if ok {
                done.push(format!("removed leftover network namespace {ns}"));
            }
        }
    }
    done
}

fn pid_alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// Field 22 of /proc/PID/stat: start time in clock ticks after boot.
pub fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may contain spaces; fields after it follow the last ')'.
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(19)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_start_time_is_readable() {
        assert!(start_time(std::process::id()).is_some());
    }

    #[test]
    fn lock_is_exclusive_and_stale_locks_are_taken_over() {
        let dir = std::env::temp_dir().join(format!("nfqb-lock-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("lock");
        {
            let (_lock, cleaned) = Lock::acquire(&path).unwrap();
            assert!(cleaned.is_empty());
            // Our own pid holds it: a second acquire from this process sees a live holder
            // only if the pid differs, so fake a live foreign holder: pid 1.
        }
        assert!(!path.exists(), "lock removed on drop");
        std::fs::write(
            &path,
            r#"{"pid":1,"namespaces":[],"host_rules":[],"children":[]}"#,
        )
        .unwrap();
        assert!(Lock::acquire(&path).is_err(), "pid 1 is alive");
        // A dead holder: a pid above the kernel's maximum cannot exist.
        std::fs::write(
            &path,
            r#"{"pid":4194305,"namespaces":[],"host_rules":[],"children":[]}"#,
        )
        .unwrap();
        let (_lock, cleaned) = Lock::acquire(&path).unwrap();
        assert_eq!(
            cleaned,
            vec!["removed the stale lock file of pid 4194305".to_string()]
        );
        drop(_lock);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
