//! Deterministic command-line tests: bad input is refused with one clear sentence and a
//! non-zero exit before anything changes; --dry-run prints the plan; `plot` and
//! `analyze` work from files alone. None of these needs root or touches the network.

use assert_cmd::Command;
use predicates::prelude::*;

fn harness() -> Command {
    Command::cargo_bin("harness").unwrap()
}

fn ethr_fixture(name: &str) -> String {
    format!(
        "{}/../../shared/fixtures/ethr/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

#[test]
fn bad_values_get_one_sentence_and_exit_2() {
    let cases: &[(&[&str], &str)] = &[
        (&["--duration", "-1s"], "--duration"),
        (&["--duration", "abc"], "not a duration"),
        (&["--duration", "1s"], "too short"),
        (&["--port", "0"], "--port"),
        (&["--port", "65536"], "--port"),
        (&["--impl", "go"], "unknown implementation"),
        (&["--runs", "0"], "--runs"),
        (&["--copy-range", "70000"], "--copy-range"),
        (&["--rules", "/nonexistent/rules"], "no such file"),
        (&["--address", "localhost"], "IPv4"),
    ];
    for (args, needle) in cases {
        let out = harness().args(*args).arg("--dry-run").assert().code(2);
        let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
        assert!(err.contains(needle), "{args:?}: {err}");
        assert_eq!(
            err.trim().lines().count(),
            1,
            "{args:?}: one line wanted, got {err}"
        );
    }
}

#[test]
fn unknown_flags_get_clap_errors() {
    harness()
        .arg("--bogus")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("unexpected argument"));
    harness()
        .args(["--load", "carrier-pigeon"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("invalid value"));
}

#[test]
fn dry_run_prints_every_command_and_changes_nothing() {
    let out = tempfile::tempdir().unwrap();
    let assert = harness()
        .args([
            "--dry-run",
            "--impl",
            "c,rust,none",
            "--runs",
            "2",
            "--load",
            "builtin",
        ])
        .args(["--duration", "30s", "--out"])
        .arg(out.path())
        .assert()
        .success();
    let text = String::from_utf8_lossy(&assert.get_output().stdout).to_string();
    assert!(text.contains("ip netns add nfqb-run-"), "{text}");
    assert!(
        text.contains("iptables -A OUTPUT -d 127.0.0.1 -p tcp --dport 9999 -m comment --comment"),
        "{text}"
    );
    assert!(text.contains("-j NFQUEUE --queue-num 0"), "{text}");
    assert!(text.contains(
        "load-client --mode stream --protocol tcp --address 127.0.0.1 --port 9999 --streams 1 --duration 30s"
    ));
    // Interleaved: c, rust, none, c, rust, none.
    let order: Vec<&str> = text.lines().filter(|l| l.starts_with("# run ")).collect();
    assert_eq!(
        order,
        [
            "# run 1 of C",
            "# run 1 of Rust",
            "# run 1 of no filter",
            "# run 2 of C",
            "# run 2 of Rust",
            "# run 2 of no filter"
        ]
    );
    assert!(
        std::fs::read_dir(out.path()).unwrap().next().is_none(),
        "dry run wrote files"
    );
}

#[test]
fn dry_run_with_ethr_follows_the_paper() {
    let assert = harness()
        .args([
            "--dry-run",
            "--impl",
            "c",
            "--runs",
            "1",
            "--load",
            "ethr",
            "--ethr",
            "/bin/true",
        ])
        .args(["--duration", "1m"])
        .assert()
        .success();
    let text = String::from_utf8_lossy(&assert.get_output().stdout).to_string();
    assert!(
        text.contains("/bin/true -s -ip 127.0.0.1 -port 9999 -o "),
        "{text}"
    );
    assert!(
        text.contains("/bin/true -c 127.0.0.1 -port 9999 -p tcp -t b -4 -d 60s -n 1"),
        "{text}"
    );
}

#[test]
fn missing_ethr_is_one_clear_sentence() {
    harness()
        .env("PATH", "/nonexistent")
        .args(["--dry-run", "--load", "ethr"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("ethr is not installed"));
}

#[test]
fn analyze_turns_ethr_logs_into_csv_summary_and_plot_and_plot_redraws_it() {
    let out = tempfile::tempdir().unwrap();
    let log = ethr_fixture("ethr-v1.0.0-tcp-b-server.log");
    let n2 = ethr_fixture("ethr-v1.0.0-tcp-b-n2-server.log");
    harness()
        .args([
            "analyze",
            "--ethr-log",
            &format!("c={log}"),
            "--ethr-log",
            &format!("c={n2}"),
        ])
        .args([
            "--ethr-log",
            &format!("rust={log}"),
            "--ethr-log",
            &format!("rust={n2}"),
            "--out",
        ])
        .arg(out.path())
        .assert()
        .success()
        .stdout(predicate::str::contains("| C |"));
    for f in [
        "c-server.csv",
        "rust-server.csv",
        "summary.csv",
        "summary.md",
        "output.png",
        "run.json",
    ] {
        assert!(out.path().join(f).is_file(), "{f} missing");
    }
    let csv = std::fs::read_to_string(out.path().join("c-server.csv")).unwrap();
    assert!(
        csv.starts_with("run,second,bits_per_second,packets_per_second"),
        "{csv}"
    );

    std::fs::remove_file(out.path().join("output.png")).unwrap();
    harness()
        .arg("plot")
        .arg("--out")
        .arg(out.path())
        .assert()
        .success();
    let png = std::fs::read(out.path().join("output.png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
}

#[test]
fn plot_without_csvs_says_what_to_do() {
    let out = tempfile::tempdir().unwrap();
    harness()
        .arg("plot")
        .arg("--out")
        .arg(out.path())
        .assert()
        .failure()
        .stderr(predicate::str::contains("run the benchmark first"));
}

#[test]
fn analyze_refuses_malformed_pairs() {
    harness()
        .args(["analyze", "--ethr-log", "c:file"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("IMPL=FILE"));
    harness()
        .args(["analyze", "--ethr-log", "java=x"])
        .assert()
        .code(2);
}
