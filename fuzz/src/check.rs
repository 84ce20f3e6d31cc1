//! The checks behind the fuzz targets, shared with the plain `cargo test` that replays
//! the committed seed corpora (rust-impl/tests/fuzz_corpus.rs includes this file with
//! `#[path]`), so a corpus file means the same thing under libFuzzer and under CI.
//!
//! Input layouts:
//! - packet targets (`rust_decide`, `differential`): byte 0 picks a rules file from
//!   [`RULE_FILES`] (`byte % len`), the rest is the packet as the kernel would copy it;
//! - rules targets (`rust_rules`, `differential_rules`): the whole input is a rules file.
//!
//! Every check panics on a violation; libFuzzer turns the panic into a crash artifact.

use c_impl::Rules as CRules;
use rust_impl::decide::{decide, Decision, Verdict};
use rust_impl::rules::RuleSet;

#[allow(dead_code)] // every packet is used somewhere, but not by every includer
#[path = "../../rust-impl/src/wire/testdata.rs"]
mod testdata;

/// The fixed rule files of the packet targets, in file-name order (fuzz/rules/). The C
/// fuzzer (c-impl/fuzz/fuzz_decide.c) loads the same directory in the same order.
pub const RULE_FILES: [(&str, &str); 8] = [
    (
        "00-accept-all.rules",
        include_str!("../rules/00-accept-all.rules"),
    ),
    (
        "01-paper-like.rules",
        include_str!("../rules/01-paper-like.rules"),
    ),
    (
        "02-default-drop.rules",
        include_str!("../rules/02-default-drop.rules"),
    ),
    ("03-ipv6.rules", include_str!("../rules/03-ipv6.rules")),
    (
        "04-drop-all.rules",
        include_str!("../rules/04-drop-all.rules"),
    ),
    (
        "05-protocols.rules",
        include_str!("../rules/05-protocols.rules"),
    ),
    (
        "06-every-field.rules",
        include_str!("../rules/06-every-field.rules"),
    ),
    (
        "07-ports-and-default-accept.rules",
        include_str!("../rules/07-ports-and-default-accept.rules"),
    ),
];

/// Both parsers' view of [`RULE_FILES`], parsed once per process.
pub struct RuleSets {
    pub c: Vec<CRules>,
    pub rust: Vec<RuleSet>,
}

impl RuleSets {
    pub fn load() -> RuleSets {
        let c = RULE_FILES
            .iter()
            .map(|(name, text)| {
                CRules::parse(text).unwrap_or_else(|e| panic!("C refuses {name}: {e}"))
            })
            .collect();
        let rust = RULE_FILES
            .iter()
            .map(|(name, text)| {
                RuleSet::parse(text).unwrap_or_else(|e| panic!("Rust refuses {name}: {e}"))
            })
            .collect();
        RuleSets { c, rust }
    }

    /// The process-wide instance (fuzz targets call the checks millions of times).
    pub fn get() -> &'static RuleSets {
        static SETS: std::sync::OnceLock<RuleSets> = std::sync::OnceLock::new();
        SETS.get_or_init(RuleSets::load)
    }
}

/// Splits a packet-target input into (rules index, packet).
pub fn split_packet_input(data: &[u8]) -> Option<(usize, &[u8])> {
    let (&first, packet) = data.split_first()?;
    Some((usize::from(first) % RULE_FILES.len(), packet))
}

/// The properties every Rust decision has, whatever the bytes (spec, "The decision").
pub fn check_rust_invariants(rules: &RuleSet, packet: &[u8], d: &Decision) {
    match d.rule {
        Some(i) => {
            assert!(i < rules.len(), "rule {i} out of range for {packet:02x?}");
            assert!(
                !d.malformed,
                "malformed packet matched rule {i}: {packet:02x?}"
            );
            assert_eq!(d.verdict, rules.rules()[i].verdict, "verdict of rule {i}");
        }
        None => assert_eq!(d.verdict, rules.default_verdict(), "default verdict"),
    }
    if packet.is_empty() || !matches!(packet[0] >> 4, 4 | 6) {
        assert!(d.malformed, "{packet:02x?} must be malformed");
    }
}

/// `rust_decide`: the Rust decision alone never panics and keeps its invariants.
pub fn rust_decide_one(data: &[u8]) {
    let Some((index, packet)) = split_packet_input(data) else {
        return;
    };
    let rules = &RuleSets::get().rust[index];
    let d = decide(rules, packet);
    check_rust_invariants(rules, packet, &d);
    // Deterministic: a second call gives the same answer.
    assert_eq!(d, decide(rules, packet));
}

fn same_decision(c: c_impl::Decision, r: Decision) -> bool {
    let cv = matches!(c.verdict, c_impl::Verdict::Accept);
    let rv = matches!(r.verdict, Verdict::Accept);
    cv == rv && c.rule == r.rule && c.malformed == r.malformed
}

/// `differential`: C and Rust give the same verdict, rule and malformed flag.
pub fn differential_packet(data: &[u8]) {
    let Some((index, packet)) = split_packet_input(data) else {
        return;
    };
    let sets = RuleSets::get();
    let (c, r) = (
        sets.c[index].decide(packet),
        decide(&sets.rust[index], packet),
    );
    assert!(
        same_decision(c, r),
        "decision mismatch under {}: C {c:?}, Rust {r:?}, packet {packet:02x?}",
        RULE_FILES[index].0
    );
    check_rust_invariants(&sets.rust[index], packet, &r);
}

/// Packets the rules targets run through every rule set they manage to parse: the real
/// captures of rust-impl/src/wire/testdata.rs plus a few with non-loopback addresses, so
/// that prefixes of any length are tested on both sides of their boundary.
pub fn probe_packets() -> &'static [Vec<u8>] {
    static PROBES: std::sync::OnceLock<Vec<Vec<u8>>> = std::sync::OnceLock::new();
    PROBES.get_or_init(|| {
        use testdata::*;
        let mut v: Vec<Vec<u8>> = vec![
            IPV4_TCP_SYN.to_vec(),
            IPV4_TCP_RST.to_vec(),
            IPV4_UDP.to_vec(),
            IPV4_ICMP_PORT_UNREACH.to_vec(),
            IPV4_ICMP_ECHO_REQUEST.to_vec(),
            IPV4_ICMP_ECHO_REPLY.to_vec(),
            IPV6_TCP_SYN.to_vec(),
            IPV6_TCP_RST.to_vec(),
            IPV6_UDP.to_vec(),
            IPV6_ICMPV6_ECHO_REQUEST.to_vec(),
            IPV6_ICMPV6_ECHO_REPLY.to_vec(),
            IPV6_HOP_BY_HOP_UDP.to_vec(),
            IPV4_UDP_FIRST_FRAGMENT.to_vec(),
            IPV4_UDP_LATER_FRAGMENT.to_vec(),
            IPV6_UDP_FIRST_FRAGMENT.to_vec(),
            IPV6_UDP_LATER_FRAGMENT.to_vec(),
            Vec::new(),
        ];
        // Same headers, other addresses: 10.1.2.3 -> 192.168.1.77, 255.255.255.255 -> 0.0.0.0,
        // 2001:db8:abcd:12::5 -> fe80::1, ffff..ff -> ::.
        for (src, dst) in [
            ([10, 1, 2, 3], [192, 168, 1, 77]),
            ([255; 4], [0; 4]),
            ([128, 0, 0, 1], [127, 255, 255, 254]),
        ] {
            for base in [
                &IPV4_TCP_SYN[..],
                &IPV4_UDP[..],
                &IPV4_ICMP_PORT_UNREACH[..],
            ] {
                let mut p = base.to_vec();
                p[12..16].copy_from_slice(&src);
                p[16..20].copy_from_slice(&dst);
                v.push(p);
            }
        }
        let a = |s: &str| s.parse::<std::net::Ipv6Addr>().unwrap().octets();
        for (src, dst) in [
            (a("2001:db8:abcd:12::5"), a("fe80::1")),
            ([0xff; 16], [0; 16]),
            (a("::ffff:10.0.0.1"), a("8000::")),
        ] {
            for base in [
                &IPV6_TCP_SYN[..],
                &IPV6_UDP[..],
                &IPV6_ICMPV6_ECHO_REPLY[..],
            ] {
                let mut p = base.to_vec();
                p[8..24].copy_from_slice(&src);
                p[24..40].copy_from_slice(&dst);
                v.push(p);
            }
        }
        v
    })
}

/// `rust_rules`: the Rust parser never panics; what it accepts is within the limits and
/// decides every probe packet consistently.
pub fn rust_rules_one(data: &[u8]) {
    let Ok(rules) = RuleSet::parse_bytes(data) else {
        return;
    };
    assert!(rules.len() <= rust_impl::rules::MAX_RULES);
    let mut last_line = 0;
    for rule in rules.rules() {
        assert!(rule.line > last_line, "rule lines must increase");
        last_line = rule.line;
        assert!(rule.text.is_ascii(), "rule text {:?}", rule.text);
        // The stored text parses back to the same rule.
        let again = RuleSet::parse(&rule.text).expect("a rule's text parses again");
        assert_eq!(again.len(), 1);
        let mut want = rule.clone();
        want.line = 1;
        assert_eq!(again.rules()[0], want, "round trip of {:?}", rule.text);
    }
    for p in probe_packets() {
        let d = decide(&rules, p);
        check_rust_invariants(&rules, p, &d);
    }
}

/// `differential_rules`: both parsers accept or both refuse, with the same line and (when
/// the text holds no NUL byte, see below) the same message; accepted files have the same
/// rules, texts, lines and default, and decide every probe packet alike.
///
/// A NUL byte inside a quoted token ends the C message early (`%.*s` stops at NUL) while
/// Rust quotes the whole token: same line, same error, shorter text. That is the only
/// difference allowed.
pub fn differential_rules(data: &[u8]) {
    match (CRules::parse_bytes(data), RuleSet::parse_bytes(data)) {
        (Err(c), Err(r)) => {
            assert_eq!(
                c.line,
                r.line,
                "error line differs: C {c}, Rust {r}, text {:?}",
                String::from_utf8_lossy(data)
            );
            if !data.contains(&0) {
                assert_eq!(
                    c.message,
                    r.message,
                    "error message differs on line {}, text {:?}",
                    c.line,
                    String::from_utf8_lossy(data)
                );
            }
        }
        (Ok(c), Ok(r)) => {
            let text = String::from_utf8_lossy(data);
            assert_eq!(c.len(), r.len(), "rule count differs for {text:?}");
            let (cd, rd) = (c.default_verdict(), r.default_verdict());
            assert_eq!(
                matches!(cd, c_impl::Verdict::Accept),
                matches!(rd, Verdict::Accept),
                "default differs for {text:?}"
            );
            for (i, rule) in r.rules().iter().enumerate() {
                assert_eq!(
                    c.rule_line(i),
                    Some(rule.line),
                    "line of rule {i} in {text:?}"
                );
                assert_eq!(
                    c.rule_text(i).as_deref(),
                    Some(rule.text.as_str()),
                    "text of rule {i} in {text:?}"
                );
            }
            for p in probe_packets() {
                let (dc, dr) = (c.decide(p), decide(&r, p));
                assert!(
                    same_decision(dc, dr),
                    "decision mismatch: C {dc:?}, Rust {dr:?}, rules {text:?}, packet {p:02x?}"
                );
            }
        }
        (Ok(_), Err(r)) => panic!(
            "C accepts, Rust refuses ({r}): {:?}",
            String::from_utf8_lossy(data)
        ),
        (Err(c), Ok(_)) => panic!(
            "Rust accepts, C refuses ({c}): {:?}",
            String::from_utf8_lossy(data)
        ),
    }
}

/// The checks by target name, for replaying a corpus directory.
pub fn check_for_target(target: &str) -> Option<fn(&[u8])> {
    Some(match target {
        "rust_decide" => rust_decide_one,
        "differential" => differential_packet,
        "rust_rules" => rust_rules_one,
        "differential_rules" => differential_rules,
        // The C targets' inputs have the packet/rules layouts of their Rust twins.
        "fuzz_decide" => differential_packet,
        "fuzz_rules" => differential_rules,
        _ => return None,
    })
}
