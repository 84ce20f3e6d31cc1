//! Privileged tests of both filters on real traffic. Each test makes its own network
//! namespace (removed on drop, panics included) and installs NFQUEUE rules only there.
//! Without root they skip with a reason; with CI=true a skip fails.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use harness::filters::{binary_path, FilterArgs, FilterStats, STATS_KEYS};
use harness::iptables::{NfqueueRule, Protocol, RuleSpec};
use harness::netns::{wait_bound, NetNs, Place, QueueCounters, Spawned};
use harness::privilege::require_root;
use nix::sys::signal::Signal;

const FILTERS: [&str; 2] = ["c-filter", "rust-filter"];

fn rule(protocol: Protocol, port: u16) -> RuleSpec {
    RuleSpec {
        protocol,
        address: "127.0.0.1".into(),
        port,
        queue: 0,
        queues: 1,
        bypass: false,
        cpu_fanout: false,
        binary: "iptables".into(),
    }
}

struct Workdir(PathBuf);
impl Workdir {
    fn new(tag: &str) -> Workdir {
        let d = std::env::temp_dir().join(format!("nfqb-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        Workdir(d)
    }
    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}
impl Drop for Workdir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn start_filter(ns: &NetNs, filter: &str, args: &FilterArgs) -> Spawned {
    let mut cmd = ns.command(binary_path(filter).unwrap().as_os_str());
    cmd.args(args.to_args()).stdout(Stdio::null());
    let f = Spawned::spawn(cmd, filter).unwrap();
    wait_bound(ns, args.queue.into(), Duration::from_secs(5)).unwrap();
    f
}

fn stop_filter(f: Spawned, stats: &Path) -> FilterStats {
    let out = f.stop(Signal::SIGINT, Duration::from_secs(5)).unwrap();
    assert!(out.status.success(), "filter exited with {}", out.status);
    let text = std::fs::read_to_string(stats).unwrap();
    check_stats_keys(&text);
    FilterStats::parse(&text).unwrap()
}

fn check_stats_keys(text: &str) {
    let v: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    let mut want = STATS_KEYS.to_vec();
    let mut got = keys.clone();
    want.sort();
    got.sort();
    assert_eq!(got, want, "stats keys in {text}");
    // Order matters too: both filters write the spec's order.
    let positions: Vec<usize> = STATS_KEYS
        .iter()
        .map(|k| text.find(&format!("\"{k}\"")).unwrap())
        .collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "stats keys out of order: {text}"
    );
}

/// Runs an iperf3 server (one test) and client in `ns`; returns the client's exit success.
fn iperf3(ns: &NetNs, port: u16, client_args: &[&str]) -> bool {
    let mut server = ns.command(OsStr::new("iperf3"));
    server
        .args(["-s", "-1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let server = Spawned::spawn(server, "iperf3 server").unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let status = ns
        .command(OsStr::new("timeout"))
        .args(["20", "iperf3", "-c", "127.0.0.1", "-p", &port.to_string()])
        .args(client_args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    drop(server);
    status.success()
}

fn settled_counters(ns: &NetNs) -> QueueCounters {
    // Let the last packets of the test get their verdicts before reading the counters.
    std::thread::sleep(Duration::from_millis(300));
    QueueCounters::find(&ns.queue_counters().unwrap(), 0).expect("queue 0 is bound")
}

#[test]
fn tcp_and_udp_traffic_pass_and_every_packet_is_counted() {
    if !require_root("tcp_and_udp_traffic_pass_and_every_packet_is_counted") {
        return;
    }
    for filter in FILTERS {
        let ns = NetNs::create("test").unwrap();
        let dir = Workdir::new(filter);
        let _tcp =
            NfqueueRule::install(&ns, rule(Protocol::Tcp, 9999), "nfqb-test-tcp".into()).unwrap();
        let _udp =
            NfqueueRule::install(&ns, rule(Protocol::Udp, 9999), "nfqb-test-udp".into()).unwrap();
        let args = FilterArgs::new(dir.path("stats.json"));
        let f = start_filter(&ns, filter, &args);

        assert!(
            iperf3(&ns, 9999, &["-t", "2"]),
            "{filter}: TCP iperf3 failed"
        );
        assert!(
            iperf3(&ns, 9999, &["-t", "2", "-u", "-b", "20M", "-l", "512"]),
            "{filter}: UDP iperf3 failed"
        );
        let kernel = settled_counters(&ns);
        let stats = stop_filter(f, &args.stats);
        eprintln!("{filter}: kernel {kernel:?}\n{filter}: stats {stats:?}");

        assert_eq!(stats.implementation, filter.trim_end_matches("-filter"));
        assert!(
            stats.packets > 5_000,
            "{filter}: only {} packets",
            stats.packets
        );
        assert_eq!(
            stats.packets, kernel.last_id,
            "{filter}: filter count != kernel's queued count"
        );
        assert_eq!(kernel.queue_dropped, 0, "{filter}: queue drops");
        assert_eq!(kernel.user_dropped, 0, "{filter}: socket drops");
        assert_eq!(stats.accepted, stats.packets);
        assert_eq!(stats.dropped, 0);
        assert_eq!(stats.default_hits, stats.packets);
        assert!(stats.rule_hits.is_empty());
        assert_eq!(stats.malformed, 0);
        assert_eq!(
            (stats.recv_errors, stats.enobufs, stats.verdict_errors),
            (0, 0, 0)
        );
        assert!(
            stats.bytes > stats.packets * 40,
            "{filter}: bytes {}",
            stats.bytes
        );
        assert_eq!((stats.queue, stats.copy_range), (0, 65535));
        assert!(stats.rcvbuf >= 8 << 20, "{filter}: rcvbuf {}", stats.rcvbuf);
        assert!(stats.cpu_user_us + stats.cpu_sys_us > 0);
    }
}

#[test]
fn a_drop_rule_blocks_its_port_and_other_ports_pass() {
    if !require_root("a_drop_rule_blocks_its_port_and_other_ports_pass") {
        return;
    }
    for filter in FILTERS {
        let ns = NetNs::create("test").unwrap();
        let dir = Workdir::new(filter);
        let rules = dir.path("rules");
        std::fs::write(
            &rules,
            "# block one port\ndrop tcp dst-port 9998\ndefault accept\n",
        )
        .unwrap();
        let _a =
            NfqueueRule::install(&ns, rule(Protocol::Tcp, 9998), "nfqb-test-a".into()).unwrap();
        let _b =
            NfqueueRule::install(&ns, rule(Protocol::Tcp, 9999), "nfqb-test-b".into()).unwrap();
        let mut args = FilterArgs::new(dir.path("stats.json"));
        args.rules = Some(rules);
        let f = start_filter(&ns, filter, &args);

        assert!(
            iperf3(&ns, 9999, &["-t", "1"]),
            "{filter}: port 9999 should pass"
        );
        assert!(
            !iperf3(&ns, 9998, &["-t", "1", "--connect-timeout", "1000"]),
            "{filter}: port 9998 should be blocked"
        );
        let kernel = settled_counters(&ns);
        let stats = stop_filter(f, &args.stats);
        eprintln!("{filter}: kernel {kernel:?}\n{filter}: stats {stats:?}");

        assert_eq!(stats.rule_hits.len(), 1);
        assert_eq!(stats.rule_hits[0].line, 2);
        assert_eq!(stats.rule_hits[0].rule, "drop tcp dst-port 9998");
        assert!(stats.rule_hits[0].hits >= 1);
        assert_eq!(stats.dropped, stats.rule_hits[0].hits);
        assert!(stats.accepted > 100);
        assert_eq!(stats.packets, stats.accepted + stats.dropped);
        assert_eq!(stats.packets, kernel.last_id);
    }
}

#[test]
fn bad_rules_file_is_refused_before_binding() {
    if !require_root("bad_rules_file_is_refused_before_binding") {
        return;
    }
    for filter in FILTERS {
        let ns = NetNs::create("test").unwrap();
        let dir = Workdir::new(filter);
        let rules = dir.path("rules");
        std::fs::write(&rules, "accept udp\ndrop tcp dstport 23\n").unwrap();
        let out = ns
            .command(binary_path(filter).unwrap().as_os_str())
            .args(["--rules", rules.to_str().unwrap()])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{filter}: {err}");
        assert!(err.contains(":2:"), "{filter}: no line number in {err:?}");
        assert!(
            ns.queue_counters().unwrap().is_empty(),
            "{filter} bound a queue"
        );
    }
}
