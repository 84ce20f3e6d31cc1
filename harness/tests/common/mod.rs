//! Helpers shared by the privileged end-to-end tests of the harness binary: finding what a
//! run may have left behind (namespaces, host rules, processes).
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

pub fn harness_bin() -> &'static str {
    env!("CARGO_BIN_EXE_harness")
}

/// Namespaces whose name says they were made by process `pid`.
pub fn namespaces_of(pid: u32) -> Vec<String> {
    let out = Command::new("ip").args(["netns", "list"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| harness::netns::owner_pid(n) == Some(pid))
        .map(str::to_string)
        .collect()
}

pub fn host_nfqueue_rules() -> usize {
    let out = Command::new("iptables").args(["-S"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .matches("NFQUEUE")
        .count()
}

/// Processes (other than this one) whose command line mentions `needle`.
pub fn processes_mentioning(needle: &str) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if pid == std::process::id() {
            continue;
        }
        if let Ok(cmd) = std::fs::read(entry.path().join("cmdline")) {
            if String::from_utf8_lossy(&cmd).contains(needle) {
                found.push(pid);
            }
        }
    }
    found
}

/// Processes named `comm` whose command line mentions `needle`.
pub fn named_processes_mentioning(comm: &str, needle: &str) -> Vec<u32> {
    processes_mentioning(needle)
        .into_iter()
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == comm)
        })
        .collect()
}

pub fn assert_nothing_left(pid: u32, out: &Path, rules_before: usize) {
    assert!(
        namespaces_of(pid).is_empty(),
        "namespaces left: {:?}",
        namespaces_of(pid)
    );
    assert_eq!(
        host_nfqueue_rules(),
        rules_before,
        "a host NFQUEUE rule was left"
    );
    let left = processes_mentioning(&out.display().to_string());
    assert!(left.is_empty(), "processes left: {left:?}");
}

/// A lock file private to one test (beside its output folder), so privileged tests never
/// contend for the real one.
pub fn private_lock(out: &Path) -> std::path::PathBuf {
    out.with_extension("lock")
}

/// The harness binary with a private lock file.
pub fn harness_command(out: &Path) -> Command {
    let mut c = Command::new(harness_bin());
    c.env("NFQB_LOCK_FILE", private_lock(out));
    c
}
