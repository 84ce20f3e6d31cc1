//! Exporters: CSV round trip, summary.csv, summary.md and the JSON summary, from
//! synthetic runs whose outcome is known.

use harness::export::{csv, json, summary};
use harness::model::{Impl, LoadGenerator, Metric, RunSeries, Sample, TestInfo};
use harness::stats::{self, StatsOptions, Verdict};

fn series(implementation: Impl, per_run: &[&[f64]]) -> Vec<RunSeries> {
    per_run
        .iter()
        .zip(1..)
        .map(|(values, run)| RunSeries {
            implementation,
            run,
            samples: values
                .iter()
                .zip(1..)
                .map(|(v, second)| Sample {
                    run,
                    second,
                    bits_per_second: v * 1e9,
                    packets_per_second: None,
                })
                .collect(),
        })
        .collect()
}

/// C ≈ 16, Rust ≈ 18.5, no filter ≈ 36 Gbit/s; first seconds partial.
fn benchmark() -> Vec<RunSeries> {
    let mut s = series(
        Impl::Rust,
        &[
            &[1.0, 18.0, 18.2, 18.4],
            &[0.4, 19.0, 18.8, 18.6],
            &[0.0, 18.9, 19.0, 18.7],
        ],
    );
    s.extend(series(
        Impl::None,
        &[
            &[1.1, 35.0, 35.2, 34.8],
            &[0.0, 36.0, 36.4, 35.9],
            &[2.0, 37.0, 36.6, 36.9],
        ],
    ));
    s.extend(series(
        Impl::C,
        &[
            &[0.5, 15.0, 16.2, 15.6],
            &[0.5, 16.0, 16.0, 16.3],
            &[0.0, 17.0, 16.4, 16.5],
        ],
    ));
    s
}

fn info() -> TestInfo {
    TestInfo {
        test: "TCP bandwidth, 1 stream".into(),
        generator: LoadGenerator::Ethr,
        generator_version: Some("ethr v1.0.0".into()),
        notes: vec!["ethr logged 0 errors".into()],
    }
}

#[test]
fn samples_csv_round_trip() {
    let samples = vec![
        Sample {
            run: 1,
            second: 1,
            bits_per_second: 1.09e9,
            packets_per_second: None,
        },
        Sample {
            run: 1,
            second: 2,
            bits_per_second: 0.1 + 0.2,
            packets_per_second: Some(472_890.0),
        },
        Sample {
            run: 2,
            second: 1,
            bits_per_second: 34_150_000_000.0,
            packets_per_second: Some(1.0 / 3.0),
        },
        Sample {
            run: 2,
            second: 2,
            bits_per_second: 0.0,
            packets_per_second: Some(0.0),
        },
    ];
    let bytes = csv::samples_to_csv(&samples).unwrap();
    let text = String::from_utf8(bytes.clone()).unwrap();
    assert!(
        text.starts_with("run,second,bits_per_second,packets_per_second\n1,1,1090000000.0,\n"),
        "{text}"
    );
    assert_eq!(csv::samples_from_csv(&bytes).unwrap(), samples);
    assert_eq!(csv::file_name(Impl::Rust), "rust-server.csv");

    let empty = csv::samples_to_csv(&[]).unwrap();
    assert_eq!(empty, b"run,second,bits_per_second,packets_per_second\n");
    assert!(csv::samples_from_csv(&empty).unwrap().is_empty());

    // Grouped back into runs for statistics.
    let runs = RunSeries::from_samples(Impl::C, &csv::samples_from_csv(&bytes).unwrap());
    assert_eq!(
        runs.iter().map(|r| r.samples.len()).collect::<Vec<_>>(),
        [2, 2]
    );
}

#[test]
fn summary_csv_has_one_row_per_implementation_in_display_order() {
    let a = stats::analyze(
        &benchmark(),
        Metric::BitsPerSecond,
        &StatsOptions::default(),
    );
    assert_eq!(a.verdict, Verdict::Faster);
    let bytes = summary::summary_csv(&a).unwrap();
    let mut r = ::csv::Reader::from_reader(bytes.as_slice());
    let headers: Vec<String> = r.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(
        &headers[..8],
        [
            "implementation",
            "metric",
            "unit",
            "runs",
            "runs_without_data",
            "seconds_used",
            "seconds_dropped",
            "mean"
        ]
    );
    let rows: Vec<::csv::StringRecord> = r.records().map(Result::unwrap).collect();
    assert_eq!(
        rows.iter().map(|r| r[0].to_string()).collect::<Vec<_>>(),
        ["c", "rust", "none"]
    );
    let col = |name: &str| headers.iter().position(|h| h == name).unwrap();
    // C: run means 15.6, 16.1, 16.633… Gbit/s → mean 16.111… Gbit/s, 9 seconds used, 3 dropped.
    let c = &rows[0];
    assert_eq!(
        (
            &c[col("runs")],
            &c[col("seconds_used")],
            &c[col("seconds_dropped")]
        ),
        ("3", "9", "3")
    );
    let mean: f64 = c[col("mean")].parse().unwrap();
    assert!((mean - (145.0e9 / 9.0)).abs() < 1.0, "{mean}");
    assert_eq!(&c[col("ratio_to_c")], "", "C over itself is left empty");
    assert_eq!(
        &rows[2][col("share_of_limit")],
        "",
        "the limit over itself is left empty"
    );
    assert!(!rows[1][col("ratio_to_c_ci_low")].is_empty());
}

#[test]
fn summary_markdown_says_what_was_found() {
    let a = stats::analyze(
        &benchmark(),
        Metric::BitsPerSecond,
        &StatsOptions::default(),
    );
    let md = summary::summary_markdown(&info(), &a);
    assert!(
        md.starts_with("# TCP bandwidth, 1 stream: C vs Rust NFQUEUE filters\n"),
        "{md}"
    );
    assert!(
        md.contains("Load generator: **ethr (ethr v1.0.0)**"),
        "{md}"
    );
    assert!(md.contains("| Implementation | Runs | Seconds used | Mean (Gbit/s) | Median | σ | Min | Max | 95 % CI | Share of limit | Ratio to C [95 % CI] |"));
    let c_row = md.lines().position(|l| l.starts_with("| C |")).unwrap();
    let rust_row = md.lines().position(|l| l.starts_with("| Rust |")).unwrap();
    let none_row = md
        .lines()
        .position(|l| l.starts_with("| no filter |"))
        .unwrap();
    assert!(c_row < rust_row && rust_row < none_row);
    assert!(md.contains("| C | 3 | 9 (3 dropped) | 16.11 |"), "{md}");
    assert!(
        md.contains("**Verdict:** Rust is faster than C (Rust/C = "),
        "{md}"
    );
    assert!(
        md.contains("- C filter: the filter was the bottleneck ("),
        "{md}"
    );
    assert!(md.contains("- ethr logged 0 errors"));
    assert!(md.contains("Fieller"));
}

#[test]
fn summary_markdown_when_the_filter_is_not_the_bottleneck() {
    let mut s = series(Impl::C, &[&[0.0, 35.5], &[0.0, 36.5], &[0.0, 35.0]]);
    s.extend(series(
        Impl::Rust,
        &[&[0.0, 36.0], &[0.0, 35.2], &[0.0, 36.9]],
    ));
    s.extend(series(
        Impl::None,
        &[&[0.0, 35.0], &[0.0, 36.0], &[0.0, 37.0]],
    ));
    let a = stats::analyze(&s, Metric::BitsPerSecond, &StatsOptions::default());
    let md = summary::summary_markdown(&info(), &a);
    assert!(
        md.contains("**Verdict:** no significant difference at 95 %"),
        "{md}"
    );
    assert!(
        md.contains("- Rust filter: the filter was not the bottleneck; the language comparison is inconclusive for this test ("),
        "{md}"
    );
}

#[test]
fn single_runs_leave_intervals_empty() {
    let mut s = series(Impl::C, &[&[0.0, 15.0]]);
    s.extend(series(Impl::Rust, &[&[0.0, 18.0]]));
    let a = stats::analyze(&s, Metric::BitsPerSecond, &StatsOptions::default());
    assert_eq!(a.verdict, Verdict::Inconclusive);
    let md = summary::summary_markdown(&info(), &a);
    assert!(
        md.contains("| C | 1 | 1 (1 dropped) | 15.00 | 15.00 | – | 15.00 | 15.00 | – | – | 1 |"),
        "{md}"
    );
    assert!(md.contains("no no-filter baseline was measured"), "{md}");
}

#[test]
fn json_summary_parses_back() {
    let a = stats::analyze(
        &benchmark(),
        Metric::BitsPerSecond,
        &StatsOptions::default(),
    );
    let text = json::summary_json(&info(), &a).unwrap();
    assert!(text.ends_with('\n'));
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["test"]["generator"], "ethr");
    assert!(v["verdict"]
        .as_str()
        .unwrap()
        .starts_with("Rust is faster than C"));
    assert_eq!(v["analysis"]["verdict"], "faster");
    assert_eq!(v["analysis"]["implementations"][0]["implementation"], "c");
    assert_eq!(v["analysis"]["implementations"][0]["over_runs"]["n"], 3);
    assert_eq!(v["bottleneck"].as_array().unwrap().len(), 2);
    let back: harness::stats::Analysis = serde_json::from_value(v["analysis"].clone()).unwrap();
    assert_eq!(back.verdict, a.verdict);
}

/// The whole pure path on real ethr server logs: two bandwidth runs of the baseline.
#[test]
fn real_ethr_logs_through_statistics() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/fixtures/ethr");
    if !std::path::Path::new(dir).is_dir() {
        assert_eq!(
            std::env::var("NFQB_NO_FIXTURES").as_deref(),
            Ok("1"),
            "the ethr fixtures are missing: {dir}"
        );
        return;
    }
    let mut runs = Vec::new();
    for (run, name) in [
        (1, "ethr-v1.0.0-tcp-b-server.log"),
        (2, "ethr-v1.0.0-tcp-b-n2-server.log"),
    ] {
        let text = std::fs::read_to_string(format!("{dir}/{name}")).unwrap();
        let samples = harness::ethr::samples_from_server_log(&text, run).unwrap();
        runs.push(RunSeries {
            implementation: Impl::None,
            run,
            samples,
        });
    }
    let a = stats::analyze(&runs, Metric::BitsPerSecond, &StatsOptions::default());
    let none = a.get(Impl::None).unwrap();
    // The partial first rows (1.09G and 0) are dropped: 5 + 5 seconds used.
    assert_eq!((none.seconds_used, none.seconds_dropped), (10, 2));
    // Run means: (34.17+36.04+37.28+33.65+33.09)/5 = 34.846, (35.01+34.15+36.22+34.49+36.14)/5 = 35.202.
    let m = none.run_means();
    assert!(
        (m[0] - 34.846e9).abs() < 1.0 && (m[1] - 35.202e9).abs() < 1.0,
        "{m:?}"
    );
    assert!((none.over_runs.as_ref().unwrap().mean - 35.024e9).abs() < 1.0);
}
