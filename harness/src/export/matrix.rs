//! `results/README.md`'s table: one row per test × profile × implementation, read back
//! from the `summary.json` and `run.json` each results folder holds. Returns markdown.

use std::fmt::Write as _;

use serde::Deserialize;

use crate::model::{Impl, TestInfo};
use crate::stats::Analysis;

/// The parts of `summary.json` the table needs.
#[derive(Debug, Deserialize)]
pub struct SummaryDoc {
    pub test: TestInfo,
    pub verdict: String,
    pub analysis: Analysis,
}

/// The parts of `run.json` the table needs.
#[derive(Debug, Deserialize)]
pub struct RunDoc {
    pub options: RunOptions,
    pub runs: Vec<RunEntry>,
}

#[derive(Debug, Deserialize)]
pub struct RunOptions {
    pub test: String,
    pub profile: String,
    #[serde(default)]
    pub queues: Option<u32>,
    #[serde(default)]
    pub streams: Option<u32>,
}

#[derive(Debug, Deserialize)]
pub struct RunEntry {
    #[serde(rename = "impl")]
    pub implementation: Impl,
    pub valid: bool,
    pub cpu_ns_per_packet: Option<f64>,
    pub kernel: Option<Kernel>,
}

#[derive(Debug, Deserialize)]
pub struct Kernel {
    pub queue_dropped: u64,
    pub user_dropped: u64,
}

/// One results folder, read back.
pub struct Folder {
    pub name: String,
    pub summary: SummaryDoc,
    pub run: RunDoc,
}

fn ci(low: Option<f64>, high: Option<f64>, scale: f64, digits: usize) -> String {
    match (low, high) {
        (Some(l), Some(h)) => format!(" [{:.*}–{:.*}]", digits, l * scale, digits, h * scale),
        _ => String::new(),
    }
}

/// The markdown table over all folders.
pub fn table(folders: &[Folder]) -> String {
    let mut out = String::new();
    out.push_str(
        "| test | profile | queues | implementation | mean | share of limit [95 % CI] | Rust/C [95 % CI] | CPU ns/packet | kernel drops | verdict |\n\
         |---|---|--:|---|--:|--:|--:|--:|--:|---|\n",
    );
    for f in folders {
        let a = &f.summary.analysis;
        let (unit, scale) = a.metric.display_unit();
        for s in &a.implementations {
            let runs: Vec<&RunEntry> = f
                .run
                .runs
                .iter()
                .filter(|r| r.valid && r.implementation == s.implementation)
                .collect();
            let ns: Vec<f64> = runs.iter().filter_map(|r| r.cpu_ns_per_packet).collect();
            let ns = if ns.is_empty() {
                "–".to_string()
            } else {
                format!("{:.0}", ns.iter().sum::<f64>() / ns.len() as f64)
            };
            let drops: u64 = runs
                .iter()
                .filter_map(|r| r.kernel.as_ref())
                .map(|k| k.queue_dropped + k.user_dropped)
                .sum();
            let drops = if s.implementation.is_filter() {
                drops.to_string()
            } else {
                "–".into()
            };
            let mean = s.over_runs.as_ref().map_or("–".to_string(), |d| {
                format!("{:.2} {unit}", d.mean * scale)
            });
            let share = match &s.share_of_limit {
                Some(r) => format!(
                    "{:.1} %{}",
                    r.ratio * 100.0,
                    ci(r.ci.map(|c| c.low), r.ci.map(|c| c.high), 100.0, 1)
                ),
                None if s.implementation == Impl::None => "limit".into(),
                None => "–".into(),
            };
            let to_c = match (&s.ratio_to_c, s.implementation) {
                (Some(r), Impl::Rust) => format!(
                    "{:.3}{}",
                    r.ratio,
                    ci(r.ci.map(|c| c.low), r.ci.map(|c| c.high), 1.0, 3)
                ),
                _ => "–".into(),
            };
            let verdict = if s.implementation == Impl::Rust {
                f.summary.analysis.verdict.sentence().to_string()
            } else {
                String::new()
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {mean} | {share} | {to_c} | {ns} | {drops} | {verdict} |",
                f.run.options.test,
                f.run.options.profile,
                f.run.options.queues.unwrap_or(1),
                s.implementation.label(),
            );
        }
    }
    out
}
