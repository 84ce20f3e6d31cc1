//! `results/summary.csv` (one row per implementation, base units, for machines) and
//! `results/summary.md` (a table plus the verdict and bottleneck sentences, for people).

use std::fmt::Write as _;

use anyhow::Context;
use serde::Serialize;

use crate::model::{Impl, TestInfo};
use crate::stats::{Analysis, RatioEstimate};

/// One row of summary.csv. Values are in the metric's base unit (`unit` column);
/// empty cells mean "not applicable" or "not computable" (e.g. an interval from one run).
#[derive(Debug, Serialize)]
struct Row {
    implementation: Impl,
    metric: &'static str,
    unit: &'static str,
    runs: usize,
    runs_without_data: usize,
    seconds_used: usize,
    seconds_dropped: usize,
    mean: Option<f64>,
    median: Option<f64>,
    std_dev: Option<f64>,
    min: Option<f64>,
    max: Option<f64>,
    ci_low: Option<f64>,
    ci_high: Option<f64>,
    share_of_limit: Option<f64>,
    share_ci_low: Option<f64>,
    share_ci_high: Option<f64>,
    ratio_to_c: Option<f64>,
    ratio_to_c_ci_low: Option<f64>,
    ratio_to_c_ci_high: Option<f64>,
}

/// The bytes of summary.csv.
pub fn summary_csv(analysis: &Analysis) -> anyhow::Result<Vec<u8>> {
    let metric = match analysis.metric {
        crate::model::Metric::BitsPerSecond => "bits_per_second",
        crate::model::Metric::PacketsPerSecond => "packets_per_second",
        crate::model::Metric::RoundTripsPerSecond => "round_trips_per_second",
        crate::model::Metric::ConnectionsPerSecond => "connections_per_second",
    };
    let mut w = csv::Writer::from_writer(Vec::new());
    for s in &analysis.implementations {
        let d = s.over_runs.as_ref();
        let ratio = |r: &Option<RatioEstimate>| {
            let r = r.as_ref();
            (
                r.map(|r| r.ratio),
                r.and_then(|r| r.ci).map(|c| c.low),
                r.and_then(|r| r.ci).map(|c| c.high),
            )
        };
        let (share, share_lo, share_hi) = ratio(&s.share_of_limit);
        let (to_c, to_c_lo, to_c_hi) = ratio(&s.ratio_to_c);
        w.serialize(Row {
            implementation: s.implementation,
            metric,
            unit: analysis.metric.base_unit(),
            runs: s.runs.len(),
            runs_without_data: s.runs_without_data,
            seconds_used: s.seconds_used,
            seconds_dropped: s.seconds_dropped,
            mean: d.map(|d| d.mean),
            median: d.map(|d| d.median),
            std_dev: d.and_then(|d| d.std_dev),
            min: d.map(|d| d.min),
            max: d.map(|d| d.max),
            ci_low: d.and_then(|d| d.ci).map(|c| c.low),
            ci_high: d.and_then(|d| d.ci).map(|c| c.high),
            share_of_limit: share,
            share_ci_low: share_lo,
            share_ci_high: share_hi,
            ratio_to_c: to_c,
            ratio_to_c_ci_low: to_c_lo,
            ratio_to_c_ci_high: to_c_hi,
        })?;
    }
    w.into_inner().context("flushing the CSV writer")
}

/// The text of summary.md.
pub fn summary_markdown(info: &TestInfo, analysis: &Analysis) -> String {
    let (unit, factor) = analysis.metric.display_unit();
    let decimals = if factor < 1e-6 { 2 } else { 1 };
    let num = |x: f64| format!("{:.*}", decimals, x * factor);
    let opt = |x: Option<f64>| x.map(num).unwrap_or_else(|| "–".to_string());

    let mut md = String::new();
    let _ = writeln!(md, "# {}: C vs Rust NFQUEUE filters\n", info.test);
    let generator = match &info.generator_version {
        Some(v) => format!("{} ({v})", info.generator),
        None => info.generator.to_string(),
    };
    let dropped = match analysis.options.skip_first {
        0 => "no second dropped".to_string(),
        1 => "each run's first second dropped".to_string(),
        n => format!("each run's first {n} seconds dropped"),
    };
    let quantity = analysis.metric.quantity();
    let _ = writeln!(
        md,
        "Load generator: **{generator}**. Measured: {quantity} at the receiver, in {unit}, \
         over run means ({dropped}).\n"
    );
    let _ = writeln!(
        md,
        "| Implementation | Runs | Seconds used | Mean ({unit}) | Median | σ | Min | Max | 95 % CI | \
         Share of limit | Ratio to C [95 % CI] |"
    );
    let _ = writeln!(md, "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|");
    for s in &analysis.implementations {
        let d = s.over_runs.as_ref();
        let ci = d
            .and_then(|d| d.ci)
            .map(|c| format!("{}–{}", num(c.low), num(c.high)))
            .unwrap_or_else(|| "–".to_string());
        let share = match (s.implementation, &s.share_of_limit) {
            (Impl::None, _) => "limit".to_string(),
            (_, Some(r)) => ratio_cell(r, true),
            (_, None) => "–".to_string(),
        };
        let to_c = match (s.implementation, &s.ratio_to_c) {
            (Impl::C, _) => "1".to_string(),
            (_, Some(r)) => ratio_cell(r, false),
            (_, None) => "–".to_string(),
        };
        let runs = if s.runs_without_data > 0 {
            format!("{} (+{} without data)", s.runs.len(), s.runs_without_data)
        } else {
            s.runs.len().to_string()
        };
        let _ = writeln!(
            md,
            "| {} | {runs} | {} ({} dropped) | {} | {} | {} | {} | {} | {ci} | {share} | {to_c} |",
            s.implementation.label(),
            s.seconds_used,
            s.seconds_dropped,
            opt(d.map(|d| d.mean)),
            opt(d.map(|d| d.median)),
            opt(d.and_then(|d| d.std_dev)),
            opt(d.map(|d| d.min)),
            opt(d.map(|d| d.max)),
        );
    }
    let _ = writeln!(md, "\n**Verdict:** {}.\n", analysis.verdict_sentence());
    if !analysis.bottleneck.is_empty() {
        let _ = writeln!(md, "**Bottleneck:**\n");
        for sentence in analysis.bottleneck_sentences() {
            let _ = writeln!(md, "- {sentence}");
        }
        md.push('\n');
    }
    let _ = writeln!(md, "Notes:\n");
    for note in &info.notes {
        let _ = writeln!(md, "- {note}");
    }
    let _ = writeln!(md, "- {}", analysis.method);
    md
}

fn ratio_cell(r: &RatioEstimate, percent: bool) -> String {
    let f = |x: f64| {
        if percent {
            format!("{:.1} %", x * 100.0)
        } else {
            format!("{x:.3}")
        }
    };
    match r.ci {
        Some(c) => format!("{} [{}–{}]", f(r.ratio), f(c.low), f(c.high)),
        None => format!("{} [–]", f(r.ratio)),
    }
}
