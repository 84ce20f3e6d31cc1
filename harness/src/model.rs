//! The data model every other module speaks: which implementation ran, and the per-second
//! receiver-side numbers one run produced. Parsers produce it, statistics, exporters and
//! plots consume it; it is serde-serializable so results can be written and read back.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Which packet filter sat in the path during a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Impl {
    /// No filter: the baseline, the limit the machine reaches without NFQUEUE.
    None,
    /// The reference filter in C (libnetfilter_queue).
    C,
    /// The filter in Rust (nfq crate).
    Rust,
}

impl Impl {
    /// All implementations in display order: C, Rust, then the no-filter baseline.
    pub const DISPLAY_ORDER: [Impl; 3] = [Impl::C, Impl::Rust, Impl::None];

    /// The short machine name used in file names and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Impl::None => "none",
            Impl::C => "c",
            Impl::Rust => "rust",
        }
    }

    /// The name shown to people in tables, legends and sentences.
    pub fn label(self) -> &'static str {
        match self {
            Impl::None => "no filter",
            Impl::C => "C",
            Impl::Rust => "Rust",
        }
    }

    /// Position in [`Impl::DISPLAY_ORDER`]; `Ord` follows it.
    pub fn display_rank(self) -> usize {
        match self {
            Impl::C => 0,
            Impl::Rust => 1,
            Impl::None => 2,
        }
    }

    /// True for the two packet filters, false for the baseline.
    pub fn is_filter(self) -> bool {
        self != Impl::None
    }
}

impl PartialOrd for Impl {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Impl {
    fn cmp(&self, other: &Self) -> Ordering {
        self.display_rank().cmp(&other.display_rank())
    }
}

impl fmt::Display for Impl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not `none`, `c` or `rust`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown implementation {0:?}: expected none, c or rust")]
pub struct ParseImplError(pub String);

impl FromStr for Impl {
    type Err = ParseImplError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "none" => Ok(Impl::None),
            "c" => Ok(Impl::C),
            "rust" => Ok(Impl::Rust),
            _ => Err(ParseImplError(s.to_string())),
        }
    }
}

/// One row of `results/<impl>-server.csv`: what the receiver measured in one second.
///
/// `second` is the 1-based index of the interval within its run, in the order the load
/// generator reported them. The first interval of a run is often partial (ethr's server
/// starts its clock at accept) or covers slow start; statistics drop it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    pub run: u32,
    pub second: u32,
    pub bits_per_second: f64,
    pub packets_per_second: Option<f64>,
}

/// The per-second receiver-side numbers of one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSeries {
    pub implementation: Impl,
    pub run: u32,
    pub samples: Vec<Sample>,
}

impl RunSeries {
    /// Groups samples of one implementation by run number, runs and seconds in order.
    pub fn from_samples(implementation: Impl, samples: &[Sample]) -> Vec<RunSeries> {
        let mut runs: std::collections::BTreeMap<u32, Vec<Sample>> = Default::default();
        for s in samples {
            runs.entry(s.run).or_default().push(s.clone());
        }
        runs.into_iter()
            .map(|(run, mut samples)| {
                samples.sort_by_key(|s| s.second);
                RunSeries {
                    implementation,
                    run,
                    samples,
                }
            })
            .collect()
    }
}

/// Which number of a sample is analysed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Throughput, the headline number of bandwidth tests.
    #[default]
    BitsPerSecond,
    /// Packets per second received, the headline number of small-packet tests.
    PacketsPerSecond,
    /// Request/response round trips per second completed at the server (latency test);
    /// stored in the CSV's `packets_per_second` column, whose unit the test names.
    RoundTripsPerSecond,
    /// TCP connections accepted per second (connection test); stored like round trips.
    ConnectionsPerSecond,
}

impl Metric {
    /// The metric's value in a sample, in base units (bit/s or packet/s).
    pub fn of(self, sample: &Sample) -> Option<f64> {
        match self {
            Metric::BitsPerSecond => Some(sample.bits_per_second),
            Metric::PacketsPerSecond
            | Metric::RoundTripsPerSecond
            | Metric::ConnectionsPerSecond => sample.packets_per_second,
        }
    }

    /// The base unit, as written in CSV files.
    pub fn base_unit(self) -> &'static str {
        match self {
            Metric::BitsPerSecond => "bit/s",
            Metric::PacketsPerSecond => "packet/s",
            Metric::RoundTripsPerSecond => "round trip/s",
            Metric::ConnectionsPerSecond => "connection/s",
        }
    }

    /// The unit people read (Gbit/s, kpkt/s) and the factor from the base unit to it.
    pub fn display_unit(self) -> (&'static str, f64) {
        match self {
            Metric::BitsPerSecond => ("Gbit/s", 1e-9),
            Metric::PacketsPerSecond => ("kpkt/s", 1e-3),
            Metric::RoundTripsPerSecond => ("k round trips/s", 1e-3),
            Metric::ConnectionsPerSecond => ("k connections/s", 1e-3),
        }
    }

    /// What is measured, for axis labels and table headers.
    pub fn quantity(self) -> &'static str {
        match self {
            Metric::BitsPerSecond => "throughput",
            Metric::PacketsPerSecond => "packets received",
            Metric::RoundTripsPerSecond => "round trips",
            Metric::ConnectionsPerSecond => "connections accepted",
        }
    }
}

/// The program that produced the load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LoadGenerator {
    Ethr,
    Iperf3,
    /// The harness's own generator (used when ethr is not installed).
    Builtin,
}

impl LoadGenerator {
    pub fn as_str(self) -> &'static str {
        match self {
            LoadGenerator::Ethr => "ethr",
            LoadGenerator::Iperf3 => "iperf3",
            LoadGenerator::Builtin => "builtin",
        }
    }
}

impl fmt::Display for LoadGenerator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a report is about: shown in summaries, JSON and plot titles.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestInfo {
    /// The test in a few words, e.g. "TCP bandwidth, 1 stream".
    pub test: String,
    pub generator: LoadGenerator,
    /// The generator's version string when known, e.g. "ethr v1.0.0".
    pub generator_version: Option<String>,
    /// Sentences the caller wants in the report (e.g. errors the generator logged).
    pub notes: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn impl_names_round_trip_and_order() {
        for i in Impl::DISPLAY_ORDER {
            assert_eq!(i.as_str().parse::<Impl>().unwrap(), i);
        }
        assert_eq!("Rust".parse::<Impl>().unwrap(), Impl::Rust);
        assert!("java".parse::<Impl>().is_err());
        let mut v = vec![Impl::None, Impl::Rust, Impl::C];
        v.sort();
        assert_eq!(v, Impl::DISPLAY_ORDER);
        assert_eq!(serde_json::to_string(&Impl::Rust).unwrap(), "\"rust\"");
    }

    #[test]
    fn series_from_samples_groups_and_sorts() {
        let s = |run, second| Sample {
            run,
            second,
            bits_per_second: 1.0,
            packets_per_second: None,
        };
        let series = RunSeries::from_samples(Impl::C, &[s(2, 2), s(1, 1), s(2, 1)]);
        assert_eq!(series.len(), 2);
        assert_eq!(series[0].run, 1);
        assert_eq!(
            series[1]
                .samples
                .iter()
                .map(|s| s.second)
                .collect::<Vec<_>>(),
            [1, 2]
        );
    }
}
