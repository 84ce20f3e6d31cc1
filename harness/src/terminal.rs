//! The terminal side of a run: a progress bar saying what runs and how long is left,
//! one line per finished run, and warnings. The engine only emits events; this is the
//! one place that draws them.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::run::{Event, Observer};

pub struct Progress {
    bar: ProgressBar,
    per_run: Duration,
    current: usize,
    label: String,
}

impl Progress {
    /// `total_runs` runs of `per_run` load each; hidden when `quiet`.
    pub fn new(total_runs: usize, per_run: Duration, generator: &str, quiet: bool) -> Progress {
        let total = per_run.as_secs() * total_runs as u64;
        let bar = ProgressBar::new(total);
        if quiet {
            bar.set_draw_target(ProgressDrawTarget::hidden());
        } else {
            bar.set_draw_target(ProgressDrawTarget::stderr());
        }
        bar.set_style(
            ProgressStyle::with_template("{prefix} [{bar:30}] {msg} — about {eta} left")
                .expect("valid template")
                .progress_chars("=> "),
        );
        bar.set_prefix(format!("load: {generator}"));
        Progress {
            bar,
            per_run,
            current: 0,
            label: String::new(),
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}

impl Observer for Progress {
    fn event(&mut self, event: Event<'_>) {
        match event {
            Event::RunStarted { index, total, spec } => {
                self.current = index;
                self.label = format!(
                    "run {}/{total}: {} (round {})",
                    index + 1,
                    spec.implementation.label(),
                    spec.run
                );
                self.bar.set_message(self.label.clone());
                self.bar.set_position(self.per_run.as_secs() * index as u64);
            }
            Event::Tick { elapsed } => {
                self.bar
                    .set_position(self.per_run.as_secs() * self.current as u64 + elapsed.as_secs());
            }
            Event::RunFinished { record } => {
                let name = record.spec.implementation.label();
                let used: Vec<f64> = record
                    .samples
                    .iter()
                    .skip(1)
                    .map(|s| s.bits_per_second / 1e9)
                    .collect();
                let mean = if used.is_empty() {
                    0.0
                } else {
                    used.iter().sum::<f64>() / used.len() as f64
                };
                let line = match &record.problem {
                    None => format!("  {name} round {}: {mean:.2} Gbit/s", record.spec.run),
                    Some(p) => format!("  {name} round {}: INVALID — {p}", record.spec.run),
                };
                self.bar.println(line);
            }
            Event::Warning(w) => self.bar.println(format!("warning: {w}")),
        }
    }
}

/// Prints nothing but warnings (for `--quiet` and `--json`).
pub struct Quiet;

impl Observer for Quiet {
    fn event(&mut self, event: Event<'_>) {
        if let Event::Warning(w) = event {
            eprintln!("warning: {w}");
        }
    }
}
