//! Privileged end-to-end tests of the harness binary: short real runs of every
//! implementation with the built-in generator and with iperf3, and an interrupted run.
//! Each run makes its own namespaces; the tests check that none of them, no rule and no
//! child process survives. Without root they skip; with CI=true a skip fails.

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{assert_nothing_left, host_nfqueue_rules, namespaces_of};
use harness::privilege::require_root;

fn short_run(load: &str) {
    let out = tempfile::tempdir().unwrap();
    let rules_before = host_nfqueue_rules();
    let child = common::harness_command(out.path())
        .args([
            "--impl",
            "c,rust,none",
            "--duration",
            "5s",
            "--runs",
            "1",
            "--load",
            load,
            "--json",
            "--out",
        ])
        .arg(out.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let result = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(result.status.success(), "{load}: harness failed: {stderr}");
    let summary: serde_json::Value = serde_json::from_slice(&result.stdout).unwrap();
    assert_eq!(summary["test"]["generator"], load);
    let impls = summary["analysis"]["implementations"].as_array().unwrap();
    assert_eq!(impls.len(), 3, "{summary}");
    for i in impls {
        let mean = i["over_runs"]["mean"].as_f64().unwrap();
        assert!(
            mean > 1e8,
            "{load}: {} only {mean} bit/s",
            i["implementation"]
        );
    }

    let run: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.path().join("run.json")).unwrap()).unwrap();
    for r in run["runs"].as_array().unwrap() {
        assert_eq!(r["valid"], true, "{load}: {r}");
        if r["impl"] != "none" {
            let packets = r["filter"]["packets"].as_u64().unwrap();
            let kernel = &r["kernel"];
            eprintln!(
                "{load} {}: {packets} packets, kernel last id {}, queue_dropped {}, user_dropped {}, {:.0} ns/packet",
                r["impl"], kernel["last_id"], kernel["queue_dropped"], kernel["user_dropped"],
                r["cpu_ns_per_packet"].as_f64().unwrap_or(0.0)
            );
            assert!(packets > 1000);
            assert_eq!(
                packets + kernel["user_dropped"].as_u64().unwrap(),
                kernel["last_id"].as_u64().unwrap()
            );
        }
    }
    for f in [
        "c-server.csv",
        "rust-server.csv",
        "none-server.csv",
        "summary.csv",
        "summary.md",
        "output.png",
        "run.json",
    ] {
        assert!(out.path().join(f).is_file(), "{f} missing");
    }
    assert_nothing_left(pid, out.path(), rules_before);
}

#[test]
fn five_second_runs_with_the_builtin_generator() {
    if require_root("five_second_runs_with_the_builtin_generator") {
        short_run("builtin");
    }
}

#[test]
fn five_second_runs_with_iperf3() {
    if require_root("five_second_runs_with_iperf3") {
        short_run("iperf3");
    }
}

fn interrupted_run(signal: nix::sys::signal::Signal) {
    let out = tempfile::tempdir().unwrap();
    std::fs::write(out.path().join("summary.md"), "earlier results\n").unwrap();
    let rules_before = host_nfqueue_rules();
    let child = common::harness_command(out.path())
        .args([
            "--impl",
            "rust,c",
            "--duration",
            "30s",
            "--runs",
            "1",
            "--load",
            "builtin",
            "--quiet",
            "--out",
        ])
        .arg(out.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    // Wait until the first run is under load: its filter's stats file is being used.
    let start = Instant::now();
    while namespaces_of(pid).is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the run never started"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_secs(3));
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), signal).unwrap();
    let waited = Instant::now();
    let result = child.wait_with_output().unwrap();
    assert!(
        waited.elapsed() < Duration::from_secs(10),
        "the harness took {:?} to stop",
        waited.elapsed()
    );
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(!result.status.success());
    assert!(stderr.contains("interrupted by"), "{stderr}");
    assert_eq!(
        stderr.trim().lines().count(),
        1,
        "one-line reason wanted: {stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(out.path().join("summary.md")).unwrap(),
        "earlier results\n"
    );
    assert_nothing_left(pid, out.path(), rules_before);
}

#[test]
fn sigint_mid_run_leaves_nothing_behind() {
    if require_root("sigint_mid_run_leaves_nothing_behind") {
        interrupted_run(nix::sys::signal::Signal::SIGINT);
    }
}

#[test]
fn sigterm_mid_run_leaves_nothing_behind() {
    if require_root("sigterm_mid_run_leaves_nothing_behind") {
        interrupted_run(nix::sys::signal::Signal::SIGTERM);
    }
}
