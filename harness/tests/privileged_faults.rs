//! Fault tests of the harness binary, each in namespaces of its own: a filter killed mid-run,
//! a harness killed outright, host mode (run inside a namespace standing in for the host),
//! a load generator that dies or never listens, a UDP flood, and bad input. Without root
//! they skip; with CI=true a skip fails.

mod common;

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{
    assert_nothing_left, harness_command, host_nfqueue_rules, named_processes_mentioning,
    namespaces_of,
};
use harness::netns::{NetNs, Place};
use harness::privilege::require_root;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn run_json(out: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(out.join("run.json")).unwrap()).unwrap()
}

fn spawn(mut cmd: Command) -> Child {
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn stderr_of(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn filter_killed(
    filter: &str,
    extra: &[&str],
    duration: &str,
) -> (Output, Duration, tempfile::TempDir) {
    let out = tempfile::tempdir().unwrap();
    let mut cmd = harness_command(out.path());
    cmd.args([
        "--impl",
        filter.trim_end_matches("-filter"),
        "--runs",
        "1",
        "--duration",
        duration,
    ])
    .args(["--load", "builtin", "--quiet", "--out"])
    .arg(out.path())
    .args(extra);
    let child = spawn(cmd);
    let needle = out.path().display().to_string();
    let pid = wait_for("the filter", Duration::from_secs(20), || {
        named_processes_mentioning(filter, &needle).first().copied()
    });
    std::thread::sleep(Duration::from_secs(2));
    kill(Pid::from_raw(pid as i32), Signal::SIGKILL).unwrap();
    let killed = Instant::now();
    let result = child.wait_with_output().unwrap();
    (result, killed.elapsed(), out)
}

#[test]
fn a_filter_killed_mid_run_makes_the_run_invalid_at_once() {
    if !require_root("a_filter_killed_mid_run_makes_the_run_invalid_at_once") {
        return;
    }
    for filter in ["c-filter", "rust-filter"] {
        let rules_before = host_nfqueue_rules();
        let (result, took, out) = filter_killed(filter, &[], "30s");
        let stderr = stderr_of(&result);
        eprintln!("{filter}: harness ended {took:?} after the kill: {stderr}");
        assert_eq!(result.status.code(), Some(3), "{stderr}");
        assert!(
            took < Duration::from_secs(10),
            "the load was not stopped: {took:?}"
        );
        assert!(stderr.contains("invalid run left out"), "{stderr}");
        let run = run_json(out.path());
        let r = &run["runs"][0];
        assert_eq!(r["valid"], false);
        assert!(r["problem"].as_str().unwrap().contains("died"), "{r}");
        // Its numbers are not reported as a result.
        assert!(!out
            .path()
            .join(format!("{}-server.csv", filter.trim_end_matches("-filter")))
            .exists());
        // Pid 0 owns no namespace: the check is by output folder and host rules.
        assert_nothing_left(0, out.path(), rules_before);
    }
}

#[test]
fn with_queue_bypass_traffic_keeps_flowing_after_the_filter_dies() {
    if !require_root("with_queue_bypass_traffic_keeps_flowing_after_the_filter_dies") {
        return;
    }
    let (result, _took, out) = filter_killed("rust-filter", &["--queue-bypass"], "8s");
    let stderr = stderr_of(&result);
    assert_eq!(result.status.code(), Some(3), "{stderr}");
    let run = run_json(out.path());
    let r = &run["runs"][0];
    assert_eq!(r["valid"], false);
    assert!(
        r["problem"].as_str().unwrap().contains("kept flowing"),
        "{r}"
    );
    let samples = r["samples"].as_array().unwrap();
    let last = samples.last().unwrap()["bits_per_second"].as_f64().unwrap();
    assert!(
        samples.len() >= 6 && last > 1e8,
        "traffic stopped: {samples:?}"
    );
}

#[test]
fn leftovers_of_a_sigkilled_harness_are_cleaned_by_the_next_run() {
    if !require_root("leftovers_of_a_sigkilled_harness_are_cleaned_by_the_next_run") {
        return;
    }
    let out = tempfile::tempdir().unwrap();
    let mut cmd = harness_command(out.path());
    cmd.args([
        "--impl",
        "c",
        "--runs",
        "1",
        "--duration",
        "30s",
        "--load",
        "builtin",
        "--quiet",
        "--out",
    ])
    .arg(out.path());
    let mut child = spawn(cmd);
    let pid = child.id();
    let ns = wait_for("the namespace", Duration::from_secs(20), || {
        namespaces_of(pid).pop()
    });
    let needle = out.path().display().to_string();
    wait_for("the filter", Duration::from_secs(20), || {
        named_processes_mentioning("c-filter", &needle)
            .first()
            .copied()
    });
    std::thread::sleep(Duration::from_secs(2));
    kill(Pid::from_raw(pid as i32), Signal::SIGKILL).unwrap();
    child.wait().unwrap();
    // The kernel ends our children with the harness (PR_SET_PDEATHSIG)…
    wait_for(
        "the filter to die with the harness",
        Duration::from_secs(5),
        || {
            named_processes_mentioning("c-filter", &needle)
                .is_empty()
                .then_some(())
        },
    );
    // …but the namespace and the lock file stay until the next run.
    assert!(namespaces_of(pid).contains(&ns));
    assert!(common::private_lock(out.path()).exists());

    let mut next = harness_command(out.path());
    next.args([
        "--impl",
        "none",
        "--runs",
        "1",
        "--duration",
        "2s",
        "--load",
        "builtin",
        "--quiet",
        "--out",
    ])
    .arg(out.path());
    let result = next.output().unwrap();
    let stderr = stderr_of(&result);
    assert!(result.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("removed leftover network namespace {ns}")),
        "{stderr}"
    );
    assert!(namespaces_of(pid).is_empty());
    assert!(!common::private_lock(out.path()).exists());
}

#[test]
fn host_mode_removes_exactly_its_rule_and_refuses_a_taken_queue() {
    if !require_root("host_mode_removes_exactly_its_rule_and_refuses_a_taken_queue") {
        return;
    }
    // A namespace of ours stands in for the host: the harness runs inside it with --host.
    let host = NetNs::create("fakehost").unwrap();
    host.run(
        "iptables",
        &[
            "-A", "OUTPUT", "-p", "udp", "--dport", "5353", "-j", "ACCEPT",
        ],
    )
    .unwrap();
    let before = host.run("iptables", &["-S", "OUTPUT"]).unwrap();
    let out = tempfile::tempdir().unwrap();
    let run = |extra: &[&str]| {
        host.command(std::ffi::OsStr::new(common::harness_bin()))
            .env("NFQB_LOCK_FILE", common::private_lock(out.path()))
            .args([
                "--host",
                "--impl",
                "rust",
                "--runs",
                "1",
                "--duration",
                "3s",
                "--load",
                "builtin",
            ])
            .args(["--quiet", "--out"])
            .arg(out.path())
            .args(extra)
            .output()
            .unwrap()
    };
    let result = run(&[]);
    assert!(result.status.success(), "{}", stderr_of(&result));
    assert_eq!(
        host.run("iptables", &["-S", "OUTPUT"]).unwrap(),
        before,
        "host rules changed"
    );

    host.run(
        "iptables",
        &[
            "-A",
            "OUTPUT",
            "-p",
            "tcp",
            "--dport",
            "1234",
            "-j",
            "NFQUEUE",
            "--queue-num",
            "0",
        ],
    )
    .unwrap();
    let with_rule = host.run("iptables", &["-S", "OUTPUT"]).unwrap();
    let result = run(&[]);
    let stderr = stderr_of(&result);
    assert_eq!(result.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("already has a rule sending to queue 0"),
        "{stderr}"
    );
    assert_eq!(host.run("iptables", &["-S", "OUTPUT"]).unwrap(), with_rule);
}

#[test]
fn a_load_generator_that_dies_or_never_listens_is_a_clear_error() {
    if !require_root("a_load_generator_that_dies_or_never_listens_is_a_clear_error") {
        return;
    }
    let out = tempfile::tempdir().unwrap();
    let sleeper = out.path().join("fake-ethr");
    std::fs::write(
        &sleeper,
        "#!/usr/bin/env python3\nimport time\ntime.sleep(60)\n",
    )
    .unwrap();
    std::fs::set_permissions(
        &sleeper,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let rules_before = host_nfqueue_rules();
    for (ethr, expect) in [
        ("/bin/false", "exited at start"),
        (sleeper.to_str().unwrap(), "did not listen"),
    ] {
        let start = Instant::now();
        let result = harness_command(out.path())
            .args([
                "--impl",
                "rust",
                "--runs",
                "1",
                "--duration",
                "5s",
                "--load",
                "ethr",
                "--ethr",
                ethr,
            ])
            .args(["--quiet", "--out"])
            .arg(out.path().join("results"))
            .output()
            .unwrap();
        let stderr = stderr_of(&result);
        assert_eq!(result.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains(expect), "{stderr}");
        assert!(start.elapsed() < Duration::from_secs(30));
        assert_nothing_left(0, out.path(), rules_before);
    }
}

#[test]
fn a_udp_flood_is_survived_and_its_drops_are_counted() {
    if !require_root("a_udp_flood_is_survived_and_its_drops_are_counted") {
        return;
    }
    let out = tempfile::tempdir().unwrap();
    let result = harness_command(out.path())
        .args([
            "--impl",
            "c,rust",
            "--runs",
            "1",
            "--duration",
            "30s",
            "--load",
            "builtin",
        ])
        .args([
            "--protocol",
            "udp",
            "--streams",
            "2",
            "--queue-maxlen",
            "64",
            "--json",
            "--out",
        ])
        .arg(out.path())
        .output()
        .unwrap();
    let stderr = stderr_of(&result);
    assert!(result.status.success(), "{stderr}");
    let summary: serde_json::Value = serde_json::from_slice(&result.stdout).unwrap();
    let notes = summary["test"]["notes"].to_string();
    assert!(notes.contains("dropped"), "drops not reported: {notes}");
    for r in run_json(out.path())["runs"].as_array().unwrap() {
        assert_eq!(r["valid"], true, "{r}");
        let k = &r["kernel"];
        let rss: Vec<u64> = r["filter_rss_kib"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap())
            .collect();
        eprintln!(
            "{}: {} packets decided, queue_dropped {}, user_dropped {}, RSS KiB first {:?} last {:?} max {:?}",
            r["impl"], r["filter"]["packets"], k["queue_dropped"], k["user_dropped"],
            rss.get(2), rss.last(), rss.iter().max()
        );
        assert!(k["queue_dropped"].as_u64().unwrap() + k["user_dropped"].as_u64().unwrap() > 0);
        assert!(rss.len() >= 25, "{rss:?}");
        let settled = rss[2];
        assert!(
            rss[2..].iter().all(|&x| x <= settled + settled / 5 + 1024),
            "memory grew: {rss:?}"
        );
    }
}

#[test]
fn bad_input_is_refused_before_anything_changes() {
    if !require_root("bad_input_is_refused_before_anything_changes") {
        return;
    }
    let out = tempfile::tempdir().unwrap();
    let rules = out.path().join("rules");
    std::fs::write(&rules, "drop tcp dst-port 23\ndrop tcp dstport 24\n").unwrap();
    let before = Command::new("ip")
        .args(["netns", "list"])
        .output()
        .unwrap()
        .stdout;
    let cases: Vec<(Vec<String>, &str, i32)> = vec![
        (
            vec!["--rules".into(), rules.display().to_string()],
            ":2: unknown keyword 'dstport'",
            2,
        ),
        (
            vec!["--iptables".into(), "/nonexistent/iptables".into()],
            "is not installed",
            1,
        ),
        (
            vec!["--out".into(), "/proc/nfqb-results".into()],
            "cannot create the folder",
            1,
        ),
    ];
    for (args, needle, code) in cases {
        let result = harness_command(out.path())
            .args([
                "--impl",
                "c,rust",
                "--runs",
                "1",
                "--duration",
                "3s",
                "--quiet",
            ])
            .args(&args)
            .output()
            .unwrap();
        let stderr = stderr_of(&result);
        assert_eq!(result.status.code(), Some(code), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{args:?}: {stderr}");
    }
    let after = Command::new("ip")
        .args(["netns", "list"])
        .output()
        .unwrap()
        .stdout;
    assert_eq!(before, after, "a namespace was made or removed");

    // Not root: refused with one sentence (skipped where `nobody` cannot run the binary).
    let result = Command::new("runuser")
        .args([
            "-u",
            "nobody",
            "--",
            common::harness_bin(),
            "--impl",
            "c",
            "--duration",
            "3s",
        ])
        .output()
        .unwrap();
    let stderr = stderr_of(&result);
    if stderr.contains("Permission denied") || result.status.code() == Some(126) {
        eprintln!(
            "not-root case not checked: nobody cannot execute {}",
            common::harness_bin()
        );
    } else {
        assert_eq!(result.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains("needs root"), "{stderr}");
    }
}
