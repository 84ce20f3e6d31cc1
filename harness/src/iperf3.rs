//! Parser for `iperf3 -J` output (client's or server's), keeping receiver-side numbers.
//!
//! Only what the receiver counted says what passed a filter. In iperf3's JSON each
//! interval's `sum.sender` tells which side it was measured on: a client's per-interval
//! numbers of a normal (not `-R`) test are sender-side; the receiver's per-interval numbers
//! are in the server's JSON (`iperf3 -s -1 -J`). The client has the receiver's *totals*
//! only (`end.sum_received`).
//!
//! Things iperf3 3.12 does that this module handles (seen in tests/fixtures/iperf3/):
//! - for UDP, the receiver's `packets` is the highest sequence number seen, i.e. packets
//!   received *plus* `lost_packets`; received = packets − lost_packets;
//! - the UDP server's `end.sum` has `bytes` and `bits_per_second` 0; `end.sum_received`
//!   has the real totals;
//! - the server's last interval is often a fragment of a few milliseconds after the client
//!   stopped (e.g. 3.000013–3.001187 s); intervals shorter than [`MIN_INTERVAL_SECONDS`] are
//!   left out of the samples and counted.

use serde::{Deserialize, Serialize};

use crate::model::Sample;

/// Intervals shorter than this are end-of-test fragments, not seconds of load.
pub const MIN_INTERVAL_SECONDS: f64 = 0.5;

/// Which end wrote the JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Client,
    Server,
    Unknown,
}

/// The `sum` of one reporting interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Iperf3Interval {
    pub start: f64,
    pub end: f64,
    pub seconds: f64,
    pub bytes: u64,
    pub bits_per_second: f64,
    /// True when measured by the sending side.
    pub sender: bool,
    /// True for intervals inside `-O` (omitted warm-up).
    pub omitted: bool,
    /// UDP: at the sender, packets sent; at the receiver, packets received plus lost.
    pub packets: Option<u64>,
    /// UDP, receiver: packets missing by sequence number.
    pub lost_packets: Option<u64>,
    /// TCP, sender: retransmitted segments.
    pub retransmits: Option<u64>,
    /// UDP, receiver.
    pub jitter_ms: Option<f64>,
}

impl Iperf3Interval {
    /// Packets that arrived: for a UDP receiver `packets − lost_packets`; for a UDP sender
    /// the packets it sent; `None` for TCP.
    pub fn packets_counted(&self) -> Option<u64> {
        let packets = self.packets?;
        Some(packets.saturating_sub(self.lost_packets.unwrap_or(0)))
    }

    /// [`Iperf3Interval::packets_counted`] per second.
    pub fn packets_per_second(&self) -> Option<f64> {
        let n = self.packets_counted()?;
        (self.seconds > 0.0).then(|| n as f64 / self.seconds)
    }
}

/// Whole-test totals from `end.sum_sent` / `end.sum_received`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    pub seconds: f64,
    pub bytes: u64,
    pub bits_per_second: f64,
    pub packets: Option<u64>,
    pub lost_packets: Option<u64>,
}

/// One parsed `iperf3 -J` document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Iperf3Report {
    /// e.g. `iperf 3.12`.
    pub version: Option<String>,
    pub role: Role,
    /// `TCP` or `UDP`.
    pub protocol: Option<String>,
    pub num_streams: Option<u32>,
    /// `-R`: the client received.
    pub reverse: bool,
    /// Every interval's `sum`, in order.
    pub intervals: Vec<Iperf3Interval>,
    /// `end.sum_sent`.
    pub sent: Option<Totals>,
    /// `end.sum_received`: the receiver's totals (present in both sides' JSON).
    pub received: Option<Totals>,
}

/// Why no receiver-side samples could be had.
#[derive(Debug, thiserror::Error)]
pub enum Iperf3Error {
    #[error("not iperf3 JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("iperf3 reported an error: {0}")]
    Reported(String),
    #[error(
        "the per-interval numbers in this JSON are sender-side ({role:?} of a {} test); \
         receiver-side intervals are in the other end's JSON (the server's, `iperf3 -s -1 -J`)",
        if *reverse { "reverse" } else { "normal" }
    )]
    SenderSide { role: Role, reverse: bool },
    #[error("the JSON has no interval of at least {MIN_INTERVAL_SECONDS} s")]
    NoIntervals,
}

/// Parses one `iperf3 -J` document. An `"error"` member (iperf3 could not run the test)
/// is an error here.
pub fn parse(json: &str) -> Result<Iperf3Report, Iperf3Error> {
    let raw: Raw = serde_json::from_str(json)?;
    if let Some(e) = raw.error {
        return Err(Iperf3Error::Reported(e));
    }
    let start = raw.start.unwrap_or_default();
    let role = if start.connecting_to.is_some() {
        Role::Client
    } else if start.accepted_connection.is_some() {
        Role::Server
    } else {
        Role::Unknown
    };
    let test = start.test_start.unwrap_or_default();
    let intervals = raw
        .intervals
        .into_iter()
        .filter_map(|i| i.sum)
        .map(|s| Iperf3Interval {
            start: s.start.unwrap_or(0.0),
            end: s.end.unwrap_or(0.0),
            seconds: s.seconds.unwrap_or(0.0),
            bytes: s.bytes.unwrap_or(0),
            bits_per_second: s.bits_per_second.unwrap_or(0.0),
            // Without the flag (old iperf3), the server of a normal test is the receiver.
            sender: s.sender.unwrap_or(role == Role::Client),
            omitted: s.omitted.unwrap_or(false),
            packets: s.packets,
            lost_packets: s.lost_packets,
            retransmits: s.retransmits,
            jitter_ms: s.jitter_ms,
        })
        .collect();
    let end = raw.end.unwrap_or_default();
    Ok(Iperf3Report {
        version: start.version,
        role,
        protocol: test.protocol,
        num_streams: test.num_streams,
        reverse: test.reverse.unwrap_or(0) != 0,
        intervals,
        sent: end.sum_sent.map(RawSum::totals),
        received: end.sum_received.map(RawSum::totals),
    })
}

impl Iperf3Report {
    /// True for a UDP test.
    pub fn is_udp(&self) -> bool {
        self.protocol.as_deref() == Some("UDP")
    }

    /// The receiver's intervals (not omitted, at least [`MIN_INTERVAL_SECONDS`] long).
    pub fn receiver_intervals(&self) -> Result<Vec<&Iperf3Interval>, Iperf3Error> {
        if !self.intervals.is_empty() && self.intervals.iter().all(|i| i.sender) {
            return Err(Iperf3Error::SenderSide {
                role: self.role,
                reverse: self.reverse,
            });
        }
        let kept: Vec<&Iperf3Interval> = self
            .intervals
            .iter()
            .filter(|i| !i.sender && !i.omitted && i.seconds >= MIN_INTERVAL_SECONDS)
            .collect();
        if kept.is_empty() {
            return Err(Iperf3Error::NoIntervals);
        }
        Ok(kept)
    }

    /// How many receiver intervals were fragments shorter than [`MIN_INTERVAL_SECONDS`].
    pub fn short_intervals(&self) -> usize {
        self.intervals
            .iter()
            .filter(|i| !i.sender && i.seconds < MIN_INTERVAL_SECONDS)
            .count()
    }

    /// Receiver-side samples of one run: `second` is the 1-based index of the interval;
    /// packets per second only for UDP (packets that arrived, not packets expected).
    pub fn to_samples(&self, run: u32) -> Result<Vec<Sample>, Iperf3Error> {
        Ok(self
            .receiver_intervals()?
            .into_iter()
            .zip(1..)
            .map(|(i, second)| Sample {
                run,
                second,
                bits_per_second: i.bits_per_second,
                packets_per_second: if self.is_udp() {
                    i.packets_per_second()
                } else {
                    None
                },
            })
            .collect())
    }
}

/// The receiver-side samples of one run from the server's `iperf3 -s -1 -J` output.
pub fn samples_from_server_json(text: &str, run: u32) -> anyhow::Result<Vec<Sample>> {
    Ok(parse(text)?.to_samples(run)?)
}

#[derive(Deserialize)]
struct Raw {
    start: Option<RawStart>,
    #[serde(default)]
    intervals: Vec<RawInterval>,
    end: Option<RawEnd>,
    error: Option<String>,
}

#[derive(Deserialize, Default)]
struct RawStart {
    version: Option<String>,
    connecting_to: Option<serde_json::Value>,
    accepted_connection: Option<serde_json::Value>,
    test_start: Option<RawTestStart>,
}

#[derive(Deserialize, Default)]
struct RawTestStart {
    protocol: Option<String>,
    num_streams: Option<u32>,
    reverse: Option<u32>,
}

#[derive(Deserialize)]
struct RawInterval {
    sum: Option<RawSum>,
}

#[derive(Deserialize, Default)]
struct RawEnd {
    sum_sent: Option<RawSum>,
    sum_received: Option<RawSum>,
}

#[derive(Deserialize)]
struct RawSum {
    start: Option<f64>,
    end: Option<f64>,
    seconds: Option<f64>,
    bytes: Option<u64>,
    bits_per_second: Option<f64>,
    sender: Option<bool>,
    omitted: Option<bool>,
    packets: Option<u64>,
    lost_packets: Option<u64>,
    retransmits: Option<u64>,
    jitter_ms: Option<f64>,
}

impl RawSum {
    fn totals(self) -> Totals {
        Totals {
            seconds: self.seconds.unwrap_or(0.0),
            bytes: self.bytes.unwrap_or(0),
            bits_per_second: self.bits_per_second.unwrap_or(0.0),
            packets: self.packets,
            lost_packets: self.lost_packets,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn udp_receiver_packets_exclude_lost() {
        let i = Iperf3Interval {
            start: 0.0,
            end: 1.0,
            seconds: 0.5,
            bytes: 0,
            bits_per_second: 0.0,
            sender: false,
            omitted: false,
            packets: Some(1000),
            lost_packets: Some(100),
            retransmits: None,
            jitter_ms: None,
        };
        assert_eq!(i.packets_counted(), Some(900));
        assert_eq!(i.packets_per_second(), Some(1800.0));
    }

    #[test]
    fn reported_error_and_garbage() {
        assert!(matches!(
            parse("{\"error\":\"unable to connect\"}"),
            Err(Iperf3Error::Reported(_))
        ));
        assert!(matches!(parse("garbage"), Err(Iperf3Error::Json(_))));
    }
}
