//! The ethr parsers against every real ethr v1.0.0 output in shared/fixtures/ethr/.
//!
//! The folder lives beside the repository (`shared/` is a sibling of the repository root).
//! Without it these tests fail, saying so, unless NFQB_NO_FIXTURES=1.

use std::path::PathBuf;

use harness::ethr::{self, EthrOutput, Scope, Side};
use harness::model::Sample;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/fixtures/ethr");

/// The fixture folder, or `None` when it is absent and NFQB_NO_FIXTURES=1 allows that.
fn fixtures() -> Option<PathBuf> {
    let dir = PathBuf::from(DIR);
    if dir.is_dir() {
        return Some(dir);
    }
    if std::env::var("NFQB_NO_FIXTURES").as_deref() == Ok("1") {
        eprintln!("skipped: {DIR} is missing and NFQB_NO_FIXTURES=1");
        return None;
    }
    panic!(
        "the real ethr fixtures are missing: expected the folder {DIR} (shared/fixtures/ethr beside \
         the repository). Put it there, or set NFQB_NO_FIXTURES=1 to skip these tests."
    );
}

fn read(dir: &std::path::Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("reading {name}: {e}"))
}

fn parse(dir: &std::path::Path, name: &str) -> EthrOutput {
    let side = if name.contains("-server") {
        Side::Server
    } else {
        Side::Client
    };
    let text = read(dir, name);
    if name.ends_with(".log") {
        ethr::parse_log(&text, side)
    } else {
        ethr::parse_console(&text, side)
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * b.abs().max(1.0)
}

fn assert_values(name: &str, what: &str, got: Vec<Option<f64>>, want: &[Option<f64>]) {
    assert_eq!(
        got.len(),
        want.len(),
        "{name}: number of {what} values: got {got:?}"
    );
    for (g, w) in got.iter().zip(want) {
        let same = match (g, w) {
            (Some(g), Some(w)) => close(*g, *w),
            (None, None) => true,
            _ => false,
        };
        assert!(same, "{name}: {what}: got {got:?}, want {want:?}");
    }
}

const G: f64 = 1e9;
const M: f64 = 1e6;
const K: f64 = 1e3;

/// What each fixture must yield: its aggregate rows' numbers, in order.
struct Expect {
    file: &'static str,
    bits: &'static [Option<f64>],
    packets: &'static [Option<f64>],
    connections: &'static [Option<f64>],
    /// Per-stream rows (client -n 2: two per second).
    streams: usize,
    errors: usize,
}

const N: Option<f64> = None;

macro_rules! v {
    ($($x:expr),*) => { &[$(Some($x)),*] };
}

const TCP_B_SERVER: &[Option<f64>] = v![
    1.09 * G,
    34.17 * G,
    36.04 * G,
    37.28 * G,
    33.65 * G,
    33.09 * G
];
const TCP_B_CLIENT: &[Option<f64>] = v![34.44 * G, 35.73 * G, 37.16 * G, 33.86 * G, 33.12 * G];
const N2_SERVER: &[Option<f64>] = v![0.0, 35.01 * G, 34.15 * G, 36.22 * G, 34.49 * G, 36.14 * G];
const N2_CLIENT: &[Option<f64>] = v![35.56 * G, 33.77 * G, 36.06 * G, 34.33 * G, 36.65 * G];
const CONN_1_THEN_0: &[Option<f64>] = v![1.0, 0.0, 0.0, 0.0, 0.0, 0.0];
const CONN_1_1_THEN_0: &[Option<f64>] = v![1.0, 1.0, 0.0, 0.0, 0.0, 0.0];
const NONE5: &[Option<f64>] = &[N, N, N, N, N];
const NONE6: &[Option<f64>] = &[N, N, N, N, N, N];
const ZERO5: &[Option<f64>] = v![0.0, 0.0, 0.0, 0.0, 0.0];
const TCP_C_CLIENT: &[Option<f64>] = v![24.09 * K, 0.0, 3.55 * K, 16.44 * K, 4.10 * K];
const UDP_B_SERVER: &[Option<f64>] = v![
    143.62 * M,
    25.68 * G,
    25.86 * G,
    25.68 * G,
    22.72 * G,
    26.91 * G
];
const UDP_B_SERVER_P: &[Option<f64>] = v![
    1.12 * K,
    200.66 * K,
    202.01 * K,
    200.62 * K,
    177.51 * K,
    210.23 * K
];
const UDP_B_CLIENT: &[Option<f64>] = v![44.43 * G, 33.28 * G, 38.37 * G, 24.04 * G, 42.64 * G];
const UDP_B_CLIENT_P: &[Option<f64>] =
    v![347.13 * K, 260.04 * K, 299.73 * K, 187.79 * K, 333.15 * K];
const UDP_P_SERVER: &[Option<f64>] = v![3.78 * M, 3.73 * M, 3.33 * M, 3.25 * M, 3.59 * M];
const UDP_P_SERVER_P: &[Option<f64>] =
    v![472.89 * K, 465.78 * K, 416.44 * K, 406.16 * K, 448.70 * K];
const UDP_P_CLIENT: &[Option<f64>] = v![4.18 * M, 4.40 * M, 3.34 * M, 3.76 * M, 4.50 * M];
const UDP_P_CLIENT_P: &[Option<f64>] =
    v![522.95 * K, 550.24 * K, 417.55 * K, 469.90 * K, 562.75 * K];
const TCP_L_SERVER_CONN: &[Option<f64>] = v![1.0, 0.0, 0.0, 0.0, 0.0];

/// The client's TCP `TestResult` rows say `"PacketsPerSecond":"0"`; its console prints no
/// packet column, so there the value is absent.
const EXPECT: &[Expect] = &[
    Expect {
        file: "ethr-v1.0.0-tcp-b-server.log",
        bits: TCP_B_SERVER,
        packets: NONE6,
        connections: CONN_1_THEN_0,
        streams: 0,
        errors: 0,
    },
    Expect {
        file: "ethr-v1.0.0-tcp-b-server-console.txt",
        bits: TCP_B_SERVER,
        packets: NONE6,
        connections: CONN_1_THEN_0,
        streams: 0,
        errors: 0,
    },
    Expect {
        file: "ethr-v1.0.0-tcp-b-client.log",
        bits: TCP_B_CLIENT,
        packets: ZERO5,
        connections: NONE5,
        streams: 5,
        errors: 0,
    },
    Expect {
        file: "ethr-v1.0.0-tcp-b-client-console.txt",
        bits: TCP_B_CLIENT,
        packets: NONE5,
        connections: NONE5,
        streams: 5,
        errors: 0,
    },
    Expect {
        file: "ethr-v1.0.0-tcp-b-n2-server.log",
        bits: N2_SERVER,
        packets: NONE6,
        connections: CONN_1_1_THEN_0,
        streams: 0,
        errors: 0,
    },
    Expect {
        file: "ethr-v1.0.0-tcp-b-n2-server-console.txt",
        bits: N2_SERVER,
        packets: NONE6,
        connections: CONN_1_1_THEN_0,
        streams: 0,
        errors: 0,
    },
    Expect {
        file: "ethr-v1.0.0-tcp-b-n2-client.log",
        bits: N2_CLIENT,
        packets: ZERO5,
        connections: NONE5,
        streams: 10,
        errors: 0,
    },
    Expect {
        file: "ethr-v1.0.0-tcp-b-n2-client-console.txt",
        bits: N2_CLIENT,
        packets: NONE5,
        connections: NONE5,
        streams: 10,
        errors: 0,
    },
    Expect {
        file: "ethr-v1.0.0-tcp-c-server.log",
        bits: &[],
        packets: &[],
        connections: &[],
        streams: 0,
        errors: 1850,
    },
    Expect {
        file: "ethr-v1.0.0-tcp-c-server-console.txt",
        bits: &[],
        packets: &[],
        connections: &[],
        streams: 0,
        errors: 2169,
    },
    Expect {
        file: "ethr-v1.0.0-tcp-c-client.log",
        bits: &[],
        packets: &[],
        connections: &[],
        streams: 0,
        errors: 0,
    },
    Expect {
        file: "ethr-v1.0.0-tcp-c-client-console.txt",
        bits: &[],
        packets: &[],
        connections: &[],
        streams: 0,
        errors: 0,
    },
    Expect {
        file: "ethr-v1.0.0-tcp-l-server.log",
        bits: ZERO5,
        packets: NONE5,
        connections: TCP_L_SERVER_CONN,
        streams: 0,
        errors: 0,
    },
    Expect {
        file: "ethr-v1.0.0-tcp-l-server-console.txt",
        bits: ZERO5,
        packets: NONE5,
        connections: TCP_L_SERVER_CONN,
        streams: 0,
        errors: 0,
    },
    Expect {
        file: "ethr-v1.0.0-tcp-l-client.log",
        bits: &[],
        packets: &[],
        connections: &[],
        streams: 0,
        errors: 0,
    },
    Expect {
        file: "ethr-v1.0.0-tcp-l-client-console.txt",
        bits: &[],
        packets: &[],
        connections: &[],
        streams: 0,
        errors: 0,
    },
    Expect {
        file: "ethr-v1.0.0-udp-b-server.log",
        bits: UDP_B_SERVER,
        packets: UDP_B_SERVER_P,
        connections: NONE6,
        streams: 0,
        errors: 0,
    },
    Expect {
        file: "ethr-v1.0.0-udp-b-server-console.txt",
        bits: UDP_B_SERVER,
        packets: UDP_B_SERVER_P,
        connections: NONE6,
        streams: 0,
        errors: 0,
    },
    Expect {
        file: "ethr-v1.0.0-udp-b-client.log",
        bits: UDP_B_CLIENT,
        packets: UDP_B_CLIENT_P,
        connections: NONE5,
        streams: 5,
        errors: 0,
    },
    Expect {
        file: "ethr-v1.0.0-udp-b-client-console.txt",
        bits: UDP_B_CLIENT,
        packets: UDP_B_CLIENT_P,
        connections: NONE5,
        streams: 5,
        errors: 0,
    },
    Expect {
        file: "ethr-v1.0.0-udp-p-server.log",
        bits: UDP_P_SERVER,
        packets: UDP_P_SERVER_P,
        connections: NONE5,
        streams: 0,
        errors: 0,
    },
    Expect {
        file: "ethr-v1.0.0-udp-p-server-console.txt",
        bits: UDP_P_SERVER,
        packets: UDP_P_SERVER_P,
        connections: NONE5,
        streams: 0,
        errors: 0,
    },
    Expect {
        file: "ethr-v1.0.0-udp-p-client.log",
        bits: UDP_P_CLIENT,
        packets: UDP_P_CLIENT_P,
        connections: NONE5,
        streams: 0,
        errors: 0,
    },
    Expect {
        file: "ethr-v1.0.0-udp-p-client-console.txt",
        bits: UDP_P_CLIENT,
        packets: UDP_P_CLIENT_P,
        connections: NONE5,
        streams: 0,
        errors: 0,
    },
];

#[test]
fn every_fixture_is_covered_and_parses_as_expected() {
    let Some(dir) = fixtures() else { return };
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "README.md")
        .collect();
    names.sort();
    let mut covered: Vec<&str> = EXPECT.iter().map(|e| e.file).collect();
    covered.sort();
    assert_eq!(
        names, covered,
        "every file in {DIR} needs an expectation here"
    );

    for e in EXPECT {
        let out = parse(&dir, e.file);
        assert_eq!(
            out.problem_count, 0,
            "{}: unusable lines: {:?}",
            e.file, out.problems
        );
        assert_eq!(out.errors.count, e.errors, "{}: error rows", e.file);
        assert_eq!(out.streams.len(), e.streams, "{}: per-stream rows", e.file);
        let rows: Vec<_> = out
            .intervals
            .iter()
            .filter(|i| i.bits_per_second.is_some())
            .collect();
        assert_values(
            e.file,
            "bits/s",
            rows.iter().map(|i| i.bits_per_second).collect(),
            e.bits,
        );
        assert_values(
            e.file,
            "packets/s",
            rows.iter().map(|i| i.packets_per_second).collect(),
            e.packets,
        );
        assert_values(
            e.file,
            "connections/s",
            rows.iter().map(|i| i.connections_per_second).collect(),
            e.connections,
        );
        // Only a server's first row is partial.
        for (n, i) in rows.iter().enumerate() {
            assert_eq!(
                i.partial,
                out.side == Side::Server && n == 0,
                "{}: row {n} partial flag",
                e.file
            );
        }
        // Samples: one per row with a bit rate, seconds 1, 2, 3, …
        let samples = out.to_samples(7);
        assert_eq!(samples.len(), e.bits.len(), "{}: samples", e.file);
        for (k, s) in samples.iter().enumerate() {
            assert_eq!((s.run, s.second), (7, k as u32 + 1), "{}", e.file);
        }
    }
}

#[test]
fn json_log_and_console_agree() {
    let Some(dir) = fixtures() else { return };
    for e in EXPECT.iter().filter(|e| e.file.ends_with(".log")) {
        let console_name = e.file.replace(".log", "-console.txt");
        let (log, console) = (parse(&dir, e.file), parse(&dir, &console_name));
        let strip = |s: Vec<Sample>| -> Vec<(u32, f64)> {
            s.into_iter()
                .map(|s| (s.second, s.bits_per_second))
                .collect()
        };
        assert_eq!(
            strip(log.to_samples(1)),
            strip(console.to_samples(1)),
            "{} vs {console_name}",
            e.file
        );
        let lat =
            |o: &EthrOutput| -> Vec<_> { o.intervals.iter().filter_map(|i| i.latency).collect() };
        if e.file.contains("-client") {
            // Percentiles: the JSON's rotated fields, put back, equal the console's.
            assert_eq!(lat(&log), lat(&console), "{} vs {console_name}", e.file);
        }
    }
}

#[test]
fn latency_percentiles_are_put_back_in_order() {
    let Some(dir) = fixtures() else { return };
    let client = parse(&dir, "ethr-v1.0.0-tcp-l-client.log");
    assert_eq!(client.latency_rows_reordered, 6);
    let first = client.intervals[0].latency.unwrap();
    // Console: Avg 44.359us Min 7.206us 50% 24.579us 90% 76.066us 95% 99.298us
    // 99% 372.230us 99.9% 587.212us 99.99% 587.212us Max 590.639us.
    assert_eq!(
        [
            first.avg_us,
            first.min_us,
            first.p50_us,
            first.p90_us,
            first.p95_us,
            first.p99_us,
            first.p999_us,
            first.p9999_us,
            first.max_us
        ],
        [44.359, 7.206, 24.579, 76.066, 99.298, 372.230, 587.212, 587.212, 590.639]
    );
    for i in &client.intervals {
        let l = i.latency.unwrap();
        assert!(
            l.min_us <= l.p50_us
                && l.p50_us <= l.p90_us
                && l.p90_us <= l.p99_us
                && l.p9999_us <= l.max_us,
            "{l:?}"
        );
    }

    // The server: each LatencyResult joins the TestResult of the same second; the last
    // one (after the client left) stands alone.
    let server = parse(&dir, "ethr-v1.0.0-tcp-l-server.log");
    assert_eq!(server.latency_rows_reordered, 6);
    assert_eq!(server.intervals.len(), 6);
    let joined = &server.intervals[0];
    assert_eq!(joined.average_latency_us, Some(44.331));
    assert_eq!(joined.latency.unwrap().avg_us, 44.331);
    assert_eq!(joined.latency.unwrap().p50_us, 24.490);
    assert_eq!(joined.latency.unwrap().max_us, 617.472);
    let last = server.intervals.last().unwrap();
    assert_eq!(
        (last.bits_per_second, last.latency.map(|l| l.avg_us)),
        (None, Some(30.445))
    );
}

#[test]
fn two_streams_add_up_to_the_sum_rows() {
    let Some(dir) = fixtures() else { return };
    for name in [
        "ethr-v1.0.0-tcp-b-n2-client.log",
        "ethr-v1.0.0-tcp-b-n2-client-console.txt",
    ] {
        let out = parse(&dir, name);
        assert!(
            out.streams
                .iter()
                .all(|s| matches!(s.scope, Scope::Stream(7 | 8))),
            "{name}"
        );
        for total in &out.intervals {
            let span = if name.ends_with(".log") {
                // TestResult rows carry no span: match by position.
                let k = out
                    .intervals
                    .iter()
                    .position(|i| std::ptr::eq(i, total))
                    .unwrap() as u32;
                (k, k + 1)
            } else {
                assert_eq!(total.scope, Scope::Sum);
                total.span.unwrap()
            };
            let sum: f64 = out
                .streams
                .iter()
                .filter(|s| s.span == Some(span))
                .filter_map(|s| s.bits_per_second)
                .sum();
            // Each stream is rounded to 0.01G: the sum may be off by 0.02G.
            assert!(
                (sum - total.bits_per_second.unwrap()).abs() <= 0.02e9 + 1.0,
                "{name} {span:?}"
            );
        }
    }
}

#[test]
fn server_samples_and_the_open_files_failure() {
    let Some(dir) = fixtures() else { return };
    let samples =
        ethr::samples_from_server_log(&read(&dir, "ethr-v1.0.0-udp-p-server.log"), 3).unwrap();
    assert_eq!(
        samples[0],
        Sample {
            run: 3,
            second: 1,
            bits_per_second: 3.78e6,
            packets_per_second: Some(472_890.0)
        }
    );

    let text = read(&dir, "ethr-v1.0.0-tcp-c-server.log");
    let out = ethr::parse_log(&text, Side::Server);
    assert_eq!(out.errors.count_containing("too many open files"), 1850);
    assert_eq!(out.errors.by_message.len(), 1);
    assert!(out
        .errors
        .describe()
        .unwrap()
        .starts_with("ethr logged 1850 error rows"));
    let e = ethr::samples_from_server_log(&text, 1)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("no result row") && e.contains("too many open files"),
        "{e}"
    );
}

#[test]
fn garbage_lines_inside_real_output_are_tolerated() {
    let Some(dir) = fixtures() else { return };
    let mut text = read(&dir, "ethr-v1.0.0-tcp-b-server.log");
    text.insert_str(0, "\u{0}\u{1}binary junk\n{\"Type\":\"TestResult\",\"Protocol\":\"TCP\",\"BitsPerSecond\":\"lots\"}\n");
    text.push_str("{\"Type\":\"TestRes");
    let out = ethr::parse_log(&text, Side::Server);
    assert_eq!(out.problem_count, 3);
    assert_eq!(
        out.problems.iter().map(|p| p.line()).collect::<Vec<_>>(),
        [1, 2, 11]
    );
    assert_eq!(out.to_samples(1).len(), 6);
}

#[test]
fn connections_per_second_from_the_client() {
    let Some(dir) = fixtures() else { return };
    for name in [
        "ethr-v1.0.0-tcp-c-client.log",
        "ethr-v1.0.0-tcp-c-client-console.txt",
    ] {
        let out = parse(&dir, name);
        assert_values(
            name,
            "connections/s",
            out.intervals
                .iter()
                .map(|i| i.connections_per_second)
                .collect(),
            TCP_C_CLIENT,
        );
        assert!(
            out.intervals
                .iter()
                .all(|i| i.bits_per_second.is_none() && i.scope == Scope::Total),
            "{name}"
        );
        assert!(
            out.to_samples(1).is_empty(),
            "{name}: no bit rate, no sample"
        );
    }
}
