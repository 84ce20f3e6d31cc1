//! Counters of a run and their JSON form.
//!
//! Why this module exists: the stats object is the filters' output that the harness and
//! the differential test read; its keys and their order are part of the spec ("Stats
//! JSON"), so they are pinned down by one struct whose field order is the key order.

use std::io::{self, Write};

use serde::Serialize;

use crate::decide::{Decision, Verdict};
use crate::rules::RuleSet;

/// Hits of one rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleHit {
    /// 1-based line in the rules file.
    pub line: usize,
    /// The rule's tokens joined by single spaces.
    pub rule: String,
    pub hits: u64,
}

/// The stats object. Field order = key order in the JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Stats {
    #[serde(rename = "impl")]
    pub implementation: &'static str,
    pub queue: u16,
    pub copy_range: u32,
    pub rcvbuf: u64,
    /// `--queues`.
    pub queues: u16,
    /// `--gso`.
    pub gso: bool,
    /// `--batch`.
    pub batch: u32,
    pub packets: u64,
    pub bytes: u64,
    pub accepted: u64,
    pub dropped: u64,
    pub malformed: u64,
    pub default_hits: u64,
    pub rule_hits: Vec<RuleHit>,
    pub recv_errors: u64,
    pub enobufs: u64,
    pub verdict_errors: u64,
    /// Packets flagged `NFQA_SKB_GSO`.
    pub gso_packets: u64,
    /// Netlink verdict messages sent (single or batch).
    pub verdict_messages: u64,
    pub cpu_user_us: u64,
    pub cpu_sys_us: u64,
}

/// The value of `impl` for this filter.
pub const IMPL: &str = "rust";

impl Stats {
    /// Zeroed counters with one `rule_hits` entry per rule, in file order, for one queue
    /// and the default flags (`queues` 1, no GSO, `batch` 1; see [`Stats::with_flags`]).
    pub fn new(queue: u16, copy_range: u32, rcvbuf: u64, rules: &RuleSet) -> Stats {
        Stats {
            implementation: IMPL,
            queue,
            copy_range,
            rcvbuf,
            queues: 1,
            gso: false,
            batch: 1,
            packets: 0,
            bytes: 0,
            accepted: 0,
            dropped: 0,
            malformed: 0,
            default_hits: 0,
            rule_hits: rules
                .rules()
                .iter()
                .map(|r| RuleHit {
                    line: r.line,
                    rule: r.text.clone(),
                    hits: 0,
                })
                .collect(),
            recv_errors: 0,
            enobufs: 0,
            verdict_errors: 0,
            gso_packets: 0,
            verdict_messages: 0,
            cpu_user_us: 0,
            cpu_sys_us: 0,
        }
    }

    /// Sets the `queues`, `gso` and `batch` keys.
    pub fn with_flags(mut self, queues: u16, gso: bool, batch: u32) -> Stats {
        self.queues = queues;
        self.gso = gso;
        self.batch = batch;
        self
    }

    /// Adds another queue's counters (`packets` .. `verdict_messages`, rule hits by
    /// position) to these; the flags, `queue`, `rcvbuf` and CPU times stay.
    pub fn add_counts(&mut self, other: &Stats) {
        self.packets += other.packets;
        self.bytes += other.bytes;
        self.accepted += other.accepted;
        self.dropped += other.dropped;
        self.malformed += other.malformed;
        self.default_hits += other.default_hits;
        for (hit, more) in self.rule_hits.iter_mut().zip(&other.rule_hits) {
            hit.hits += more.hits;
        }
        self.recv_errors += other.recv_errors;
        self.enobufs += other.enobufs;
        self.verdict_errors += other.verdict_errors;
        self.gso_packets += other.gso_packets;
        self.verdict_messages += other.verdict_messages;
    }

    /// Counts one decided packet of `len` bytes (its original length).
    #[inline]
    pub fn record(&mut self, decision: &Decision, len: u64) {
        self.packets += 1;
        self.bytes += len;
        match decision.verdict {
            Verdict::Accept => self.accepted += 1,
            Verdict::Drop => self.dropped += 1,
        }
        if decision.malformed {
            self.malformed += 1;
        }
        match decision.rule.and_then(|i| self.rule_hits.get_mut(i)) {
            Some(hit) => hit.hits += 1,
            None => self.default_hits += 1,
        }
    }

    /// The JSON object on one line, followed by a newline.
    pub fn to_json_line(&self) -> String {
        let mut s = serde_json::to_string(self).expect("stats serialize to JSON");
        s.push('\n');
        s
    }

    /// Writes [`to_json_line`](Self::to_json_line) to `out` and flushes it.
    pub fn write_to(&self, mut out: impl Write) -> io::Result<()> {
        out.write_all(self.to_json_line().as_bytes())?;
        out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_in_spec_order() {
        let rules = RuleSet::parse("# x\n\n drop  tcp dst-port 23 # telnet\n").unwrap();
        let mut s = Stats::new(0, 65535, 16777216, &rules);
        s.record(
            &Decision {
                verdict: Verdict::Drop,
                rule: Some(0),
                malformed: false,
            },
            60,
        );
        for _ in 0..9 {
            s.record(
                &Decision {
                    verdict: Verdict::Accept,
                    rule: None,
                    malformed: false,
                },
                1365,
            );
        }
        s.cpu_user_us = 1234;
        s.cpu_sys_us = 5678;
        assert_eq!(
            s.to_json_line(),
            concat!(
                r#"{"impl":"rust","queue":0,"copy_range":65535,"rcvbuf":16777216,"#,
                r#""queues":1,"gso":false,"batch":1,"#,
                r#""packets":10,"bytes":12345,"accepted":9,"dropped":1,"malformed":0,"#,
                r#""default_hits":9,"rule_hits":[{"line":3,"rule":"drop tcp dst-port 23","hits":1}],"#,
                r#""recv_errors":0,"enobufs":0,"verdict_errors":0,"#,
                r#""gso_packets":0,"verdict_messages":0,"#,
                r#""cpu_user_us":1234,"cpu_sys_us":5678}"#,
                "\n"
            )
        );
    }

    #[test]
    fn malformed_counts_as_default_hit() {
        let rules = RuleSet::parse("default drop\naccept tcp").unwrap();
        let mut s = Stats::new(3, 128, 212992, &rules);
        s.record(
            &Decision {
                verdict: Verdict::Drop,
                rule: None,
                malformed: true,
            },
            0,
        );
        assert_eq!(
            (s.packets, s.dropped, s.malformed, s.default_hits),
            (1, 1, 1, 1)
        );
        assert_eq!(s.rule_hits[0].hits, 0);
        assert!(s
            .to_json_line()
            .contains(r#""rule_hits":[{"line":2,"rule":"accept tcp","hits":0}]"#));
    }

    #[test]
    fn counts_of_queues_add_up() {
        let rules = RuleSet::parse("drop udp\naccept tcp").unwrap();
        let mut a = Stats::new(4, 128, 1, &rules).with_flags(2, true, 32);
        let mut b = Stats::new(5, 128, 2, &rules).with_flags(2, true, 32);
        let drop0 = Decision {
            verdict: Verdict::Drop,
            rule: Some(0),
            malformed: false,
        };
        a.record(&drop0, 100);
        b.record(&drop0, 50);
        b.record(
            &Decision {
                verdict: Verdict::Accept,
                rule: Some(1),
                malformed: false,
            },
            60,
        );
        b.gso_packets = 1;
        b.verdict_messages = 2;
        a.verdict_messages = 1;
        a.add_counts(&b);
        assert_eq!(
            (a.queue, a.rcvbuf, a.queues, a.gso, a.batch),
            (4, 1, 2, true, 32)
        );
        assert_eq!((a.packets, a.bytes, a.accepted, a.dropped), (3, 210, 1, 2));
        assert_eq!((a.rule_hits[0].hits, a.rule_hits[1].hits), (2, 1));
        assert_eq!((a.gso_packets, a.verdict_messages), (1, 3));
        assert!(a
            .to_json_line()
            .contains(r#""rcvbuf":1,"queues":2,"gso":true,"batch":32,"packets":3,"#));
    }

    #[test]
    fn no_rules_is_an_empty_array() {
        let s = Stats::new(0, 65535, 0, &RuleSet::default());
        assert!(s.to_json_line().contains(r#""rule_hits":[],"#));
    }
}
