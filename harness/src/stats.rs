//! Statistics over runs: what the benchmark concludes and how sure it can be.
//!
//! The unit of evidence is the run, not the second: seconds within a run are correlated
//! (same connection, same scheduler state), runs are not. So each run is reduced to its
//! mean over the seconds used (its first, partial or slow-start second dropped), and all
//! inference is over those run means:
//! - descriptive statistics per implementation: mean, median, sample standard deviation,
//!   min, max, and a 95 % confidence interval of the mean, Student t with n − 1 degrees of
//!   freedom (none with a single run);
//! - ratios (Rust/C, and each filter over the no-filter limit) with a confidence interval
//!   by **Fieller's theorem** for two independent means, with Welch–Satterthwaite degrees
//!   of freedom evaluated at the estimated ratio. Chosen over a bootstrap because it is
//!   exact under normality, deterministic without a seed, and behaves with the 3–10 runs
//!   a benchmark has (a bootstrap over 3 run means has only 10 distinct resamples). When
//!   the denominator's mean is not clearly above zero (g ≥ 1) the interval is unbounded
//!   and reported as absent;
//! - the verdict: Rust faster (or slower) than C when the Rust/C interval lies above (or
//!   below) 1, no significant difference when it contains 1, inconclusive with fewer
//!   than 2 runs of either;
//! - bottleneck honesty: a filter is the bottleneck only when the interval of its share
//!   of the no-filter limit lies entirely below 1. A Welch t-test (one-sided, filter <
//!   limit) is reported alongside for readers who prefer a p-value.
//!
//! Per-second values pooled over all runs are described too, for display only.
//! Student t quantiles and distribution functions come from `statrs`.

use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, StudentsT};

use crate::model::{Impl, Metric, RunSeries};

/// How the analysis treats the data.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct StatsOptions {
    /// Samples dropped at the start of each run (by `second` order). 1 drops ethr's
    /// partial first interval (or iperf3's slow-start second).
    pub skip_first: usize,
    /// Confidence level of every interval, e.g. 0.95.
    pub confidence: f64,
}

impl Default for StatsOptions {
    fn default() -> Self {
        StatsOptions {
            skip_first: 1,
            confidence: 0.95,
        }
    }
}

/// A two-sided confidence interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ConfidenceInterval {
    pub low: f64,
    pub high: f64,
}

impl ConfidenceInterval {
    pub fn contains(&self, x: f64) -> bool {
        self.low <= x && x <= self.high
    }
}

/// Descriptive statistics of a set of values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Descriptive {
    pub n: usize,
    pub mean: f64,
    pub median: f64,
    /// Sample standard deviation (n − 1); `None` for a single value.
    pub std_dev: Option<f64>,
    pub min: f64,
    pub max: f64,
    /// Confidence interval of the mean (Student t); `None` for a single value, and for
    /// pooled per-second values (not independent).
    pub ci: Option<ConfidenceInterval>,
}

/// One run reduced to the mean of the seconds used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunMean {
    pub run: u32,
    pub mean: f64,
    pub seconds_used: usize,
    pub seconds_dropped: usize,
}

/// A ratio of two means with its confidence interval (Fieller).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RatioEstimate {
    pub ratio: f64,
    /// `None` with fewer than 2 runs on either side, or when the interval is unbounded.
    pub ci: Option<ConfidenceInterval>,
}

/// Welch's t-test of "a's mean is below b's".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Welch {
    pub t: f64,
    pub df: f64,
    /// One-sided p-value for mean(a) < mean(b).
    pub p_less: f64,
}

/// Everything about one implementation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImplStats {
    pub implementation: Impl,
    /// Runs with at least one usable second, in run order.
    pub runs: Vec<RunMean>,
    /// Runs left out because no second was left after dropping (or the metric was absent).
    pub runs_without_data: usize,
    pub seconds_used: usize,
    pub seconds_dropped: usize,
    /// Over run means: the basis of every comparison. `None` without runs.
    pub over_runs: Option<Descriptive>,
    /// Over all used seconds of all runs, for display.
    pub per_second: Option<Descriptive>,
    /// This implementation over the no-filter limit (filters only, when `none` ran).
    pub share_of_limit: Option<RatioEstimate>,
    /// This implementation over C (not for C itself).
    pub ratio_to_c: Option<RatioEstimate>,
}

impl ImplStats {
    pub fn run_means(&self) -> Vec<f64> {
        self.runs.iter().map(|r| r.mean).collect()
    }
}

/// The answer to "is Rust faster than C?".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Faster,
    Slower,
    NoSignificantDifference,
    /// Fewer than 2 runs of C or of Rust.
    Inconclusive,
}

impl Verdict {
    pub fn sentence(self) -> &'static str {
        match self {
            Verdict::Faster => "Rust is faster than C",
            Verdict::Slower => "Rust is slower than C",
            Verdict::NoSignificantDifference => "no significant difference at 95 %",
            Verdict::Inconclusive => "inconclusive: fewer than 2 runs of C or of Rust",
        }
    }
}

/// Whether a filter held throughput below what the machine reaches without one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Bottleneck {
    /// Significantly below the no-filter limit: the filter limited the test.
    Filter,
    /// Not significantly below: something else (load generator, CPU, loopback) limited it.
    NotFilter,
    /// No no-filter baseline was measured.
    NoBaseline,
    /// Fewer than 2 runs of the filter or of the baseline.
    TooFewRuns,
}

/// The bottleneck test of one filter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BottleneckCheck {
    pub filter: Impl,
    pub outcome: Bottleneck,
    /// Filter over limit.
    pub share: Option<RatioEstimate>,
    pub welch: Option<Welch>,
}

impl BottleneckCheck {
    /// One sentence for the summary.
    pub fn sentence(&self) -> String {
        let who = format!("{} filter", self.filter.label());
        let share = self
            .share
            .as_ref()
            .map(|s| format!(" ({})", share_text(s)))
            .unwrap_or_default();
        match self.outcome {
            Bottleneck::Filter => format!("{who}: the filter was the bottleneck{share}."),
            Bottleneck::NotFilter => format!(
                "{who}: the filter was not the bottleneck; the language comparison is \
                 inconclusive for this test{share}."
            ),
            Bottleneck::NoBaseline => format!(
                "{who}: no no-filter baseline was measured, so whether the filter was the \
                 bottleneck is unknown."
            ),
            Bottleneck::TooFewRuns => format!(
                "{who}: fewer than 2 runs of the filter or of the baseline; whether the filter \
                 was the bottleneck cannot be tested{share}."
            ),
        }
    }
}

fn share_text(s: &RatioEstimate) -> String {
    match s.ci {
        Some(ci) => format!(
            "{:.1} % of the no-filter limit, 95 % CI {:.1}–{:.1} %",
            s.ratio * 100.0,
            ci.low * 100.0,
            ci.high * 100.0
        ),
        None => format!("{:.1} % of the no-filter limit", s.ratio * 100.0),
    }
}

/// The whole analysis of one test.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Analysis {
    pub metric: Metric,
    pub options: StatsOptions,
    /// Implementations that ran, in display order (C, Rust, none).
    pub implementations: Vec<ImplStats>,
    /// Rust over C.
    pub rust_vs_c: Option<RatioEstimate>,
    pub verdict: Verdict,
    /// One check per filter that ran.
    pub bottleneck: Vec<BottleneckCheck>,
    /// How the intervals were computed, for the reader.
    pub method: String,
}

/// Describes the interval method in reports.
pub const METHOD: &str = "95 % confidence intervals over run means: Student t for a mean; \
Fieller's theorem with Welch–Satterthwaite degrees of freedom for ratios of means.";

impl Analysis {
    pub fn get(&self, implementation: Impl) -> Option<&ImplStats> {
        self.implementations
            .iter()
            .find(|s| s.implementation == implementation)
    }

    /// The verdict with its numbers, e.g. "Rust is faster than C (Rust/C = 1.07, 95 % CI
    /// 1.02–1.12)".
    pub fn verdict_sentence(&self) -> String {
        let mut s = self.verdict.sentence().to_string();
        if let Some(r) = &self.rust_vs_c {
            match r.ci {
                Some(ci) => {
                    s += &format!(
                        " (Rust/C = {:.3}, 95 % CI {:.3}–{:.3})",
                        r.ratio, ci.low, ci.high
                    )
                }
                None => s += &format!(" (Rust/C = {:.3}, no interval)", r.ratio),
            }
        }
        s
    }

    pub fn bottleneck_sentences(&self) -> Vec<String> {
        self.bottleneck
            .iter()
            .map(BottleneckCheck::sentence)
            .collect()
    }
}

/// Analyses runs of any implementations (missing ones are simply absent).
pub fn analyze(series: &[RunSeries], metric: Metric, options: &StatsOptions) -> Analysis {
    let conf = options.confidence;
    let mut implementations: Vec<ImplStats> = Impl::DISPLAY_ORDER
        .into_iter()
        .filter(|i| series.iter().any(|s| s.implementation == *i))
        .map(|i| impl_stats(i, series, metric, options))
        .collect();

    let means = |i: Impl| {
        implementations
            .iter()
            .find(|s| s.implementation == i)
            .map(ImplStats::run_means)
    };
    let (c, rust, none) = (means(Impl::C), means(Impl::Rust), means(Impl::None));
    for s in &mut implementations {
        let own = s.run_means();
        if s.implementation.is_filter() {
            s.share_of_limit = none.as_deref().and_then(|n| fieller_ratio(&own, n, conf));
        }
        if s.implementation != Impl::C {
            s.ratio_to_c = c.as_deref().and_then(|c| fieller_ratio(&own, c, conf));
        }
    }

    let rust_vs_c = match (&rust, &c) {
        (Some(r), Some(c)) => fieller_ratio(r, c, conf),
        _ => None,
    };
    let verdict = match (&rust, &c, &rust_vs_c) {
        (Some(r), Some(c), Some(ratio)) if r.len() >= 2 && c.len() >= 2 => match ratio.ci {
            Some(ci) if ci.low > 1.0 => Verdict::Faster,
            Some(ci) if ci.high < 1.0 => Verdict::Slower,
            _ => Verdict::NoSignificantDifference,
        },
        _ => Verdict::Inconclusive,
    };

    let bottleneck = implementations
        .iter()
        .filter(|s| s.implementation.is_filter())
        .map(|s| {
            let own = s.run_means();
            let outcome = match &none {
                None => Bottleneck::NoBaseline,
                Some(n) if n.len() < 2 || own.len() < 2 => Bottleneck::TooFewRuns,
                Some(_) => match s.share_of_limit.as_ref().and_then(|r| r.ci) {
                    Some(ci) if ci.high < 1.0 => Bottleneck::Filter,
                    _ => Bottleneck::NotFilter,
                },
            };
            BottleneckCheck {
                filter: s.implementation,
                outcome,
                share: s.share_of_limit.clone(),
                welch: none.as_deref().and_then(|n| welch_less(&own, n)),
            }
        })
        .collect();

    Analysis {
        metric,
        options: *options,
        implementations,
        rust_vs_c,
        verdict,
        bottleneck,
        method: METHOD.to_string(),
    }
}

fn impl_stats(
    implementation: Impl,
    series: &[RunSeries],
    metric: Metric,
    options: &StatsOptions,
) -> ImplStats {
    let mut runs = Vec::new();
    let mut pooled = Vec::new();
    let mut runs_without_data = 0;
    let mut seconds_dropped = 0;
    let mut mine: Vec<&RunSeries> = series
        .iter()
        .filter(|s| s.implementation == implementation)
        .collect();
    mine.sort_by_key(|s| s.run);
    for s in mine {
        let mut samples: Vec<_> = s.samples.iter().collect();
        samples.sort_by_key(|x| x.second);
        let dropped = samples.len().min(options.skip_first);
        seconds_dropped += dropped;
        let values: Vec<f64> = samples[dropped..]
            .iter()
            .filter_map(|x| metric.of(x))
            .collect();
        match mean(&values) {
            Some(m) => {
                pooled.extend_from_slice(&values);
                runs.push(RunMean {
                    run: s.run,
                    mean: m,
                    seconds_used: values.len(),
                    seconds_dropped: dropped,
                });
            }
            None => runs_without_data += 1,
        }
    }
    let run_means: Vec<f64> = runs.iter().map(|r| r.mean).collect();
    ImplStats {
        implementation,
        seconds_used: pooled.len(),
        seconds_dropped,
        over_runs: describe(&run_means, Some(options.confidence)),
        per_second: describe(&pooled, None),
        runs,
        runs_without_data,
        share_of_limit: None,
        ratio_to_c: None,
    }
}

/// Arithmetic mean; `None` for no values.
pub fn mean(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

/// Median (mean of the two middle values for an even count); `None` for no values.
pub fn median(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

/// Sample variance (n − 1); `None` for fewer than 2 values.
pub fn sample_variance(values: &[f64]) -> Option<f64> {
    if values.len() < 2 {
        return None;
    }
    let m = mean(values)?;
    Some(values.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (values.len() - 1) as f64)
}

/// Sample standard deviation (n − 1); `None` for fewer than 2 values.
pub fn sample_std_dev(values: &[f64]) -> Option<f64> {
    sample_variance(values).map(f64::sqrt)
}

/// The two-sided Student t quantile: t such that P(|T| ≤ t) = `confidence` with `df`
/// degrees of freedom (e.g. 4.303 for df 2 at 0.95).
pub fn t_quantile(df: f64, confidence: f64) -> Option<f64> {
    let t = StudentsT::new(0.0, 1.0, df).ok()?;
    Some(t.inverse_cdf(0.5 + confidence / 2.0))
}

/// Confidence interval of the mean: mean ± t(n − 1) · s / √n; `None` for fewer than 2.
pub fn mean_ci(values: &[f64], confidence: f64) -> Option<ConfidenceInterval> {
    let n = values.len();
    let m = mean(values)?;
    let s = sample_std_dev(values)?;
    let half = t_quantile((n - 1) as f64, confidence)? * s / (n as f64).sqrt();
    Some(ConfidenceInterval {
        low: m - half,
        high: m + half,
    })
}

/// Descriptive statistics; the interval only when `confidence` is given.
pub fn describe(values: &[f64], confidence: Option<f64>) -> Option<Descriptive> {
    Some(Descriptive {
        n: values.len(),
        mean: mean(values)?,
        median: median(values)?,
        std_dev: sample_std_dev(values),
        min: values.iter().copied().fold(f64::INFINITY, f64::min),
        max: values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        ci: confidence.and_then(|c| mean_ci(values, c)),
    })
}

/// The ratio mean(num)/mean(den) of two independent samples, with Fieller's interval.
///
/// With v_x = s_x²/n_x and v_y = s_y²/n_y (variances of the two means), r = x̄/ȳ,
/// t the two-sided quantile at df = (v_x + r²v_y)² / (v_x²/(n_x−1) + r⁴v_y²/(n_y−1))
/// (Welch–Satterthwaite for x̄ − r·ȳ) and g = t²v_y/ȳ², the interval is
/// [r ± (t/ȳ)·√(v_x(1−g) + r²v_y)] / (1 − g); unbounded (→ `None`) when g ≥ 1.
/// `None` altogether when mean(den) is 0 or a side is empty.
pub fn fieller_ratio(num: &[f64], den: &[f64], confidence: f64) -> Option<RatioEstimate> {
    let (mx, my) = (mean(num)?, mean(den)?);
    if my == 0.0 {
        return None;
    }
    let r = mx / my;
    let ci = (|| {
        let (nx, ny) = (num.len() as f64, den.len() as f64);
        let vx = sample_variance(num)? / nx;
        let vy = sample_variance(den)? / ny;
        let (a, b) = (vx, r * r * vy);
        if a + b == 0.0 {
            return Some(ConfidenceInterval { low: r, high: r });
        }
        let df = (a + b).powi(2) / (a * a / (nx - 1.0) + b * b / (ny - 1.0));
        let t = t_quantile(df, confidence)?;
        let g = t * t * vy / (my * my);
        if g >= 1.0 {
            return None;
        }
        let half = t / my.abs() * (vx * (1.0 - g) + r * r * vy).sqrt();
        Some(ConfidenceInterval {
            low: (r - half) / (1.0 - g),
            high: (r + half) / (1.0 - g),
        })
    })();
    Some(RatioEstimate { ratio: r, ci })
}

/// Welch's t-test of mean(a) < mean(b); `None` with fewer than 2 values on a side.
/// With both variances 0 the test is decided by the means alone (p 0 or 1).
pub fn welch_less(a: &[f64], b: &[f64]) -> Option<Welch> {
    let (va, vb) = (
        sample_variance(a)? / a.len() as f64,
        sample_variance(b)? / b.len() as f64,
    );
    let diff = mean(a)? - mean(b)?;
    let se2 = va + vb;
    if se2 == 0.0 {
        let t = if diff < 0.0 {
            f64::NEG_INFINITY
        } else if diff > 0.0 {
            f64::INFINITY
        } else {
            0.0
        };
        let p_less = if diff < 0.0 { 0.0 } else { 1.0 };
        return Some(Welch {
            t,
            df: f64::NAN,
            p_less,
        });
    }
    let t = diff / se2.sqrt();
    let df = se2 * se2 / (va * va / (a.len() - 1) as f64 + vb * vb / (b.len() - 1) as f64);
    let p_less = StudentsT::new(0.0, 1.0, df).ok()?.cdf(t);
    Some(Welch { t, df, p_less })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Sample;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn t_quantiles_match_closed_forms() {
        // df 1: tan(π(p − ½)) with p = 0.975 → 12.706204736174703
        assert!(close(
            t_quantile(1.0, 0.95).unwrap(),
            12.706204736174703,
            1e-9
        ));
        // df 2: (2p − 1)/√(2p(1 − p)) = 0.95/√0.04875 → 4.302652729749464
        assert!(close(
            t_quantile(2.0, 0.95).unwrap(),
            4.302652729749464,
            1e-9
        ));
    }

    #[test]
    fn describe_three_values() {
        // 15.6, 16.2, 17.6: mean 49.4/3 = 16.466666…; deviations −0.866…, −0.266…, 1.133…;
        // squares 0.751111 + 0.071111 + 1.284444 = 2.106667; variance 1.053333;
        // s = 1.026320; half-width 4.302653 · 1.026320/√3 = 2.549521.
        let d = describe(&[17.6, 15.6, 16.2], Some(0.95)).unwrap();
        assert_eq!(d.n, 3);
        assert!(close(d.mean, 49.4 / 3.0, 1e-12));
        assert!(close(d.median, 16.2, 1e-12));
        assert!(close(d.std_dev.unwrap(), 1.026_320_287_889_377, 1e-12));
        assert_eq!((d.min, d.max), (15.6, 17.6));
        let ci = d.ci.unwrap();
        assert!(close(ci.low, (49.4 / 3.0) - 2.5495209, 1e-6), "{ci:?}");
        assert!(close(ci.high, (49.4 / 3.0) + 2.5495209, 1e-6), "{ci:?}");
    }

    #[test]
    fn single_value_has_no_interval() {
        let d = describe(&[3.0], Some(0.95)).unwrap();
        assert_eq!(d.std_dev, None);
        assert_eq!(d.ci, None);
        assert_eq!(median(&[1.0, 4.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(describe(&[], Some(0.95)), None);
    }

    #[test]
    fn fieller_with_exact_numerator() {
        // num 2,2,2 (v_x 0); den 0.9, 1.0, 1.1: ȳ 1, s² 0.01, v_y 0.01/3; r 2;
        // df = b²/(b²/2) = 2 → t 4.302652729749464; g = t²·v_y = 0.061709159…;
        // half = t·√(4·v_y) = 0.496828…; low = (2 − half)/(1 − g) = 1.602033…,
        // high = (2 + half)/(1 − g) = 2.661039…
        let r = fieller_ratio(&[2.0, 2.0, 2.0], &[0.9, 1.0, 1.1], 0.95).unwrap();
        assert!(close(r.ratio, 2.0, 1e-12));
        let ci = r.ci.unwrap();
        let t: f64 = 4.302652729749464;
        let vy = 0.01 / 3.0;
        let g = t * t * vy;
        let half = t * (4.0 * vy).sqrt();
        assert!(close(ci.low, (2.0 - half) / (1.0 - g), 1e-9), "{ci:?}");
        assert!(close(ci.high, (2.0 + half) / (1.0 - g), 1e-9), "{ci:?}");
        assert!(
            close(ci.low, 1.6020330, 1e-6) && close(ci.high, 2.6610386, 1e-6),
            "{ci:?}"
        );
    }

    #[test]
    fn fieller_edge_cases() {
        // One run on a side: a ratio, no interval.
        assert_eq!(fieller_ratio(&[2.0], &[1.0, 1.2], 0.95).unwrap().ci, None);
        // Denominator not clearly above zero: unbounded.
        assert_eq!(
            fieller_ratio(&[1.0, 1.1], &[0.1, 5.0], 0.95).unwrap().ci,
            None
        );
        // No spread at all: a point.
        let ci = fieller_ratio(&[2.0, 2.0], &[4.0, 4.0], 0.95)
            .unwrap()
            .ci
            .unwrap();
        assert_eq!((ci.low, ci.high), (0.5, 0.5));
        assert_eq!(fieller_ratio(&[1.0], &[0.0], 0.95), None);
    }

    #[test]
    fn welch_equal_sizes() {
        // a 1,2,3 and b 4,5,6: diff −3, v_a = v_b = 1/3, se = √(2/3) = 0.816497, t = −3.674235;
        // df = (2/3)²/(2·(1/3)²/2) = 4. For df 4 the t distribution function has the closed
        // form F(t) = ½ + (3/8)·u·(1 − t²/(12(1 + t²/4))) with u = t/√(1 + t²/4):
        // F(−3.674235) = 0.0106558; Simpson integration of the density (python3, no scipy)
        // agrees to 1e-12.
        let w = welch_less(&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0]).unwrap();
        assert!(close(w.t, -3.6742346141747673, 1e-12));
        assert!(close(w.df, 4.0, 1e-12));
        assert!(close(w.p_less, 0.010655820564, 1e-9), "{}", w.p_less);
    }

    fn runs(implementation: Impl, per_run: &[&[f64]]) -> Vec<RunSeries> {
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

    #[test]
    fn drops_first_second_and_compares() {
        let mut s = runs(
            Impl::C,
            &[&[1.0, 15.0, 16.2], &[0.5, 16.0, 16.0], &[0.0, 17.0, 16.4]],
        );
        s.extend(runs(
            Impl::Rust,
            &[&[1.0, 18.0, 18.2], &[1.0, 19.0, 18.8], &[1.0, 19.0, 19.0]],
        ));
        s.extend(runs(
            Impl::None,
            &[&[1.0, 35.0, 35.0], &[1.0, 36.0, 36.0], &[1.0, 37.0, 37.0]],
        ));
        let a = analyze(&s, Metric::BitsPerSecond, &StatsOptions::default());
        let c = a.get(Impl::C).unwrap();
        assert_eq!((c.seconds_used, c.seconds_dropped), (6, 3));
        // C run means 15.6, 16.0, 16.7 Gbit/s.
        let m: Vec<f64> = c.run_means().iter().map(|x| x / 1e9).collect();
        assert!(close(m[0], 15.6, 1e-9) && close(m[1], 16.0, 1e-9) && close(m[2], 16.7, 1e-9));
        assert_eq!(a.verdict, Verdict::Faster);
        assert!(a
            .verdict_sentence()
            .starts_with("Rust is faster than C (Rust/C = "));
        assert!(a.bottleneck.iter().all(|b| b.outcome == Bottleneck::Filter));
        assert!(a.bottleneck[0]
            .sentence()
            .starts_with("C filter: the filter was the bottleneck ("));
        assert_eq!(
            a.implementations
                .iter()
                .map(|s| s.implementation)
                .collect::<Vec<_>>(),
            Impl::DISPLAY_ORDER
        );
    }

    #[test]
    fn filter_at_the_limit_is_not_the_bottleneck() {
        let mut s = runs(Impl::C, &[&[0.0, 35.5], &[0.0, 36.5], &[0.0, 35.0]]);
        s.extend(runs(
            Impl::Rust,
            &[&[0.0, 36.0], &[0.0, 35.2], &[0.0, 36.9]],
        ));
        s.extend(runs(
            Impl::None,
            &[&[0.0, 35.0], &[0.0, 36.0], &[0.0, 37.0]],
        ));
        let a = analyze(&s, Metric::BitsPerSecond, &StatsOptions::default());
        assert_eq!(a.verdict, Verdict::NoSignificantDifference);
        assert_eq!(a.verdict.sentence(), "no significant difference at 95 %");
        for b in &a.bottleneck {
            assert_eq!(b.outcome, Bottleneck::NotFilter);
            assert!(b.sentence().contains(
                "the filter was not the bottleneck; the language comparison is inconclusive for this test"
            ));
        }
    }

    #[test]
    fn one_run_is_inconclusive() {
        let mut s = runs(Impl::C, &[&[0.0, 15.0, 15.0]]);
        s.extend(runs(Impl::Rust, &[&[0.0, 18.0, 18.0], &[0.0, 18.5, 18.5]]));
        let a = analyze(&s, Metric::BitsPerSecond, &StatsOptions::default());
        assert_eq!(a.verdict, Verdict::Inconclusive);
        assert_eq!(a.get(Impl::C).unwrap().over_runs.as_ref().unwrap().ci, None);
        assert!(a
            .bottleneck
            .iter()
            .all(|b| b.outcome == Bottleneck::NoBaseline));
    }

    #[test]
    fn packets_metric_skips_missing_values() {
        let s = vec![RunSeries {
            implementation: Impl::C,
            run: 1,
            samples: vec![
                Sample {
                    run: 1,
                    second: 1,
                    bits_per_second: 1.0,
                    packets_per_second: Some(1.0),
                },
                Sample {
                    run: 1,
                    second: 2,
                    bits_per_second: 1.0,
                    packets_per_second: None,
                },
            ],
        }];
        let a = analyze(&s, Metric::PacketsPerSecond, &StatsOptions::default());
        assert_eq!(a.get(Impl::C).unwrap().runs_without_data, 1);
        assert_eq!(a.get(Impl::C).unwrap().over_runs, None);
    }
}
