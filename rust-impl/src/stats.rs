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
    pub cpu_user_us: u64,
    pub cpu_sys_us: u64,
}

/// The value of `impl` for this filter.
pub const IMPL: &str = "rust";

impl Stats {
    /// Zeroed counters with one `rule_hits` entry per rule, in file order.
    pub fn new(queue: u16, copy_range: u32, rcvbuf: u64, rules: &RuleSet) -> Stats {
        Stats {
            implementation: IMPL,
            queue,
            copy_range,
            rcvbuf,
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
            cpu_user_us: 0,
            cpu_sys_us: 0,
        }
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
                r#""packets":10,"bytes":12345,"accepted":9,"dropped":1,"malformed":0,"#,
                r#""default_hits":9,"rule_hits":[{"line":3,"rule":"drop tcp dst-port 23","hits":1}],"#,
                r#""recv_errors":0,"enobufs":0,"verdict_errors":0,"#,
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
    fn no_rules_is_an_empty_array() {
        let s = Stats::new(0, 65535, 0, &RuleSet::default());
        assert!(s.to_json_line().contains(r#""rule_hits":[],"#));
    }
}
