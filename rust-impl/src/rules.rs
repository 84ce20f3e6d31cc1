//! The rules file: parser and in-memory rule set.
//!
//! Why this module exists: the C and Rust filters must accept and reject exactly the same
//! files and number rules the same way, so the grammar of the spec ("Rules file") lives in
//! one place, apart from the per-packet code. Parsing happens once, before any socket is
//! opened; the result is plain data that [`crate::decide`] reads without allocating.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::decide::Verdict;
use crate::wire::ip_proto;

/// At most this many rules in a file.
pub const MAX_RULES: usize = 4096;
/// Longest line accepted, in bytes, not counting its `\n`.
pub const MAX_LINE_LEN: usize = 1023;

/// A rules file could not be parsed. `line` is 1-based.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct RuleError {
    pub line: usize,
    pub message: String,
}

/// An address with a prefix, host bits already masked off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddrMatch {
    V4 { net: u32, mask: u32 },
    V6 { net: u128, mask: u128 },
}

impl AddrMatch {
    /// An IPv4 prefix; `prefix` must be `<= 32`.
    pub fn v4(addr: Ipv4Addr, prefix: u8) -> AddrMatch {
        let mask = match prefix {
            0 => 0,
            p => u32::MAX << (32 - u32::from(p.min(32))),
        };
        AddrMatch::V4 {
            net: u32::from(addr) & mask,
            mask,
        }
    }

    /// An IPv6 prefix; `prefix` must be `<= 128`.
    pub fn v6(addr: Ipv6Addr, prefix: u8) -> AddrMatch {
        let mask = match prefix {
            0 => 0,
            p => u128::MAX << (128 - u32::from(p.min(128))),
        };
        AddrMatch::V6 {
            net: u128::from(addr) & mask,
            mask,
        }
    }

    /// Whether an IPv4 address (as a big-endian integer) is in the prefix.
    /// An IPv6 prefix never matches.
    #[inline]
    pub fn matches_v4(&self, addr: u32) -> bool {
        matches!(*self, AddrMatch::V4 { net, mask } if addr & mask == net)
    }

    /// Whether an IPv6 address (as a big-endian integer) is in the prefix.
    /// An IPv4 prefix never matches.
    #[inline]
    pub fn matches_v6(&self, addr: u128) -> bool {
        matches!(*self, AddrMatch::V6 { net, mask } if addr & mask == net)
    }
}

/// An inclusive port range `lo..=hi`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange {
    pub lo: u16,
    pub hi: u16,
}

impl PortRange {
    #[inline]
    pub fn contains(&self, port: u16) -> bool {
        self.lo <= port && port <= self.hi
    }
}

/// One rule. A `None` field is not tested.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// 1-based line of the rule in the file.
    pub line: usize,
    /// The rule's tokens joined by single spaces (comment removed).
    pub text: String,
    pub verdict: Verdict,
    /// IP protocol number: 6, 17, 1 or 58.
    pub proto: Option<u8>,
    pub src: Option<AddrMatch>,
    pub dst: Option<AddrMatch>,
    pub src_port: Option<PortRange>,
    pub dst_port: Option<PortRange>,
    pub icmp_type: Option<u8>,
}

/// A parsed rules file: rules in file order and the default verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSet {
    rules: Vec<Rule>,
    default_verdict: Verdict,
}

impl Default for RuleSet {
    /// No rules, default accept: what the filter does without `--rules`.
    fn default() -> Self {
        RuleSet {
            rules: Vec::new(),
            default_verdict: Verdict::Accept,
        }
    }
}

impl RuleSet {
    /// Parses a rules file (spec, "Rules file"). The first error wins.
    pub fn parse(text: &str) -> Result<RuleSet, RuleError> {
        Self::parse_bytes(text.as_bytes())
    }

    /// Like [`parse`](Self::parse) for raw file contents, which need not be UTF-8: every
    /// valid token is ASCII, so a non-UTF-8 byte outside a comment is an error on its line.
    pub fn parse_bytes(text: &[u8]) -> Result<RuleSet, RuleError> {
        let mut rules = Vec::new();
        let mut default_verdict = None;
        let mut lines = text.split(|&b| b == b'\n');
        // A final '\n' ends the last line; it does not start an empty one. (An empty
        // trailing piece would be ignored anyway, this only keeps line counting plain.)
        if text.last() == Some(&b'\n') {
            lines.next_back();
        }
        for (index, raw) in lines.enumerate() {
            let line = index + 1;
            let err = |message: String| RuleError { line, message };
            if raw.len() > MAX_LINE_LEN {
                return Err(err("line too long".into()));
            }
            let content = match raw.iter().position(|&b| b == b'#') {
                Some(hash) => &raw[..hash],
                None => raw,
            };
            let tokens: Vec<&[u8]> = content
                .split(|&b| b == b' ' || b == b'\t')
                .filter(|t| !t.is_empty())
                .collect();
            let Some(&first) = tokens.first() else {
                continue;
            };
            match first {
                b"default" => {
                    if default_verdict.is_some() {
                        return Err(err("'default' given twice".into()));
                    }
                    default_verdict = Some(parse_default(&tokens).map_err(err)?);
                }
                b"accept" | b"drop" => {
                    if rules.len() == MAX_RULES {
                        return Err(err("too many rules".into()));
                    }
                    rules.push(parse_rule(line, &tokens).map_err(err)?);
                }
                other => {
                    return Err(err(format!("unknown action '{}'", show(other))));
                }
            }
        }
        Ok(RuleSet {
            rules,
            default_verdict: default_verdict.unwrap_or(Verdict::Accept),
        })
    }

    /// The rules in file order; a rule's index here is its number in stats and decisions.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The verdict when no rule matches (and for malformed packets).
    pub fn default_verdict(&self) -> Verdict {
        self.default_verdict
    }

    /// Number of rules.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Whether there are no rules.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}

fn parse_default(tokens: &[&[u8]]) -> Result<Verdict, String> {
    let value = tokens
        .get(1)
        .ok_or_else(|| "missing value after 'default'".to_string())?;
    let verdict = match *value {
        b"accept" => Verdict::Accept,
        b"drop" => Verdict::Drop,
        other => return Err(format!("bad default verdict '{}'", show(other))),
    };
    if let Some(extra) = tokens.get(2) {
        return Err(format!(
            "unexpected '{}' after the default verdict",
            show(extra)
        ));
    }
    Ok(verdict)
}

fn proto_number(token: &[u8]) -> Option<u8> {
    match token {
        b"tcp" => Some(ip_proto::TCP),
        b"udp" => Some(ip_proto::UDP),
        b"icmp" => Some(ip_proto::ICMP),
        b"icmpv6" => Some(ip_proto::ICMPV6),
        _ => None,
    }
}

fn parse_rule(line: usize, tokens: &[&[u8]]) -> Result<Rule, String> {
    let verdict = match tokens[0] {
        b"accept" => Verdict::Accept,
        _ => Verdict::Drop,
    };
    let mut rule = Rule {
        line,
        text: String::new(),
        verdict,
        proto: None,
        src: None,
        dst: None,
        src_port: None,
        dst_port: None,
        icmp_type: None,
    };
    let mut i = 1;
    if let Some(proto) = tokens.get(1).and_then(|t| proto_number(t)) {
        rule.proto = Some(proto);
        i = 2;
    }
    while i < tokens.len() {
        let keyword = tokens[i];
        let name = show(keyword);
        let given = match keyword {
            b"src" => rule.src.is_some(),
            b"dst" => rule.dst.is_some(),
            b"src-port" => rule.src_port.is_some(),
            b"dst-port" => rule.dst_port.is_some(),
            b"icmp-type" => rule.icmp_type.is_some(),
            other if proto_number(other).is_some() => {
                return Err(format!("'{name}' must come right after the action"));
            }
            _ => return Err(format!("unknown keyword '{name}'")),
        };
        if given {
            return Err(format!("'{name}' given twice"));
        }
        let value = *tokens
            .get(i + 1)
            .ok_or_else(|| format!("missing value after '{name}'"))?;
        match keyword {
            b"src" => rule.src = Some(parse_addr(value)?),
            b"dst" => rule.dst = Some(parse_addr(value)?),
            b"src-port" | b"dst-port" => {
                let ports = parse_ports(value)?;
                if !matches!(rule.proto, Some(ip_proto::TCP | ip_proto::UDP)) {
                    return Err("port match needs tcp or udp".into());
                }
                if keyword == b"src-port" {
                    rule.src_port = Some(ports);
                } else {
                    rule.dst_port = Some(ports);
                }
            }
            _ => {
                let icmp_type = parse_icmp_type(value)?;
                if !matches!(rule.proto, Some(ip_proto::ICMP | ip_proto::ICMPV6)) {
                    return Err("icmp-type needs icmp or icmpv6".into());
                }
                rule.icmp_type = Some(icmp_type);
            }
        }
        i += 2;
    }
    // Every token of a valid rule is ASCII (checked by the parsers above).
    rule.text = tokens.iter().map(|t| show(t)).collect::<Vec<_>>().join(" ");
    Ok(rule)
}

/// `ADDR[/PREFIX]`: a dotted quad or RFC 4291 IPv6 text, prefix in decimal.
fn parse_addr(token: &[u8]) -> Result<AddrMatch, String> {
    let bad = || format!("bad address '{}'", show(token));
    let text = std::str::from_utf8(token).map_err(|_| bad())?;
    let (addr, prefix) = match text.split_once('/') {
        Some((addr, prefix)) => (addr, Some(prefix)),
        None => (text, None),
    };
    if let Ok(v4) = addr.parse::<Ipv4Addr>() {
        let prefix = match prefix {
            None => 32,
            Some(p) => parse_decimal(p.as_bytes(), 32).ok_or_else(bad)?,
        };
        return Ok(AddrMatch::v4(v4, prefix as u8));
    }
    if let Ok(v6) = addr.parse::<Ipv6Addr>() {
        let prefix = match prefix {
            None => 128,
            Some(p) => parse_decimal(p.as_bytes(), 128).ok_or_else(bad)?,
        };
        return Ok(AddrMatch::v6(v6, prefix as u8));
    }
    Err(bad())
}

/// `P` or `P-Q`, `0 <= P <= Q <= 65535`.
fn parse_ports(token: &[u8]) -> Result<PortRange, String> {
    let bad = || format!("bad port '{}'", show(token));
    let port = |s: &[u8]| parse_decimal(s, 65535).map(|p| p as u16).ok_or_else(bad);
    match token.iter().position(|&b| b == b'-') {
        None => {
            let p = port(token)?;
            Ok(PortRange { lo: p, hi: p })
        }
        Some(dash) => {
            let lo = port(&token[..dash])?;
            let hi = port(&token[dash + 1..])?;
            if lo > hi {
                return Err(format!("port range {} is reversed", show(token)));
            }
            Ok(PortRange { lo, hi })
        }
    }
}

fn parse_icmp_type(token: &[u8]) -> Result<u8, String> {
    parse_decimal(token, 255)
        .map(|t| t as u8)
        .ok_or_else(|| format!("bad icmp type '{}'", show(token)))
}

/// A non-empty run of ASCII digits whose value is at most `max` (leading zeros allowed).
fn parse_decimal(s: &[u8], max: u32) -> Option<u32> {
    if s.is_empty() {
        return None;
    }
    let mut value: u32 = 0;
    for &b in s {
        if !b.is_ascii_digit() {
            return None;
        }
        value = value.saturating_mul(10).saturating_add(u32::from(b - b'0'));
    }
    (value <= max).then_some(value)
}

/// A token as text for messages (lossy for non-UTF-8 bytes).
fn show(token: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> (usize, String) {
        let e = RuleSet::parse(text).unwrap_err();
        (e.line, e.message)
    }

    #[test]
    fn empty_file_accepts_everything() {
        let set = RuleSet::parse("").unwrap();
        assert!(set.is_empty());
        assert_eq!(set.default_verdict(), Verdict::Accept);
        assert_eq!(set, RuleSet::default());
        let set = RuleSet::parse("\n# only a comment\n\t \n").unwrap();
        assert!(set.is_empty());
    }

    #[test]
    fn good_file() {
        let text = "\
# a comment line
default drop

accept tcp dst-port 22          # ssh
drop\tudp src 10.1.2.3/8  dst-port 1000-2000 src-port 53
accept icmp icmp-type 8
accept icmpv6 dst 2001:db8::1/32 icmp-type 128
drop src ::ffff:1.2.3.4
accept
";
        let set = RuleSet::parse(text).unwrap();
        assert_eq!(set.default_verdict(), Verdict::Drop);
        assert_eq!(set.len(), 6);
        let r = set.rules();
        assert_eq!(r[0].line, 4);
        assert_eq!(r[0].text, "accept tcp dst-port 22");
        assert_eq!(r[0].verdict, Verdict::Accept);
        assert_eq!(r[0].proto, Some(6));
        assert_eq!(r[0].dst_port, Some(PortRange { lo: 22, hi: 22 }));

        assert_eq!(r[1].line, 5);
        assert_eq!(
            r[1].text,
            "drop udp src 10.1.2.3/8 dst-port 1000-2000 src-port 53"
        );
        assert_eq!(r[1].verdict, Verdict::Drop);
        assert_eq!(
            r[1].src,
            Some(AddrMatch::V4 {
                net: 0x0a00_0000,
                mask: 0xff00_0000
            })
        );
        assert_eq!(r[1].dst_port, Some(PortRange { lo: 1000, hi: 2000 }));
        assert_eq!(r[1].src_port, Some(PortRange { lo: 53, hi: 53 }));

        assert_eq!(
            (r[2].line, r[2].proto, r[2].icmp_type),
            (6, Some(1), Some(8))
        );
        assert_eq!(r[3].line, 7);
        assert_eq!(
            r[3].dst,
            Some(AddrMatch::V6 {
                net: 0x2001_0db8 << 96,
                mask: u128::MAX << 96
            })
        );
        assert_eq!(r[4].line, 8);
        assert_eq!(
            r[4].src,
            Some(AddrMatch::V6 {
                net: 0xffff_0102_0304,
                mask: u128::MAX
            })
        );
        assert_eq!((r[5].line, r[5].text.as_str()), (9, "accept"));
        assert_eq!(r[5].proto, None);
    }

    #[test]
    fn keywords_in_any_order_and_edge_values() {
        let set = RuleSet::parse(
            "drop tcp dst-port 0-65535 src 0.0.0.0/0 dst ::/0 src-port 65535\n\
             accept src 1.2.3.4/32 dst 255.255.255.255\n\
             accept icmpv6 icmp-type 255\n\
             accept icmp icmp-type 0\n\
             drop udp dst-port 007",
        )
        .unwrap();
        let r = set.rules();
        assert_eq!(r[0].dst_port, Some(PortRange { lo: 0, hi: 65535 }));
        assert_eq!(r[0].src, Some(AddrMatch::V4 { net: 0, mask: 0 }));
        assert_eq!(r[0].dst, Some(AddrMatch::V6 { net: 0, mask: 0 }));
        assert_eq!(r[2].icmp_type, Some(255));
        assert_eq!(r[3].icmp_type, Some(0));
        assert_eq!(r[4].dst_port, Some(PortRange { lo: 7, hi: 7 }));
        assert_eq!(r[4].line, 5);
    }

    #[test]
    fn host_bits_are_masked_but_text_is_kept() {
        let set = RuleSet::parse("drop src 192.168.77.5/20\ndrop dst 2001:db8::ff/127").unwrap();
        let r = set.rules();
        assert_eq!(
            r[0].src,
            Some(AddrMatch::v4(Ipv4Addr::new(192, 168, 64, 0), 20))
        );
        assert_eq!(r[0].text, "drop src 192.168.77.5/20");
        assert_eq!(
            r[1].dst,
            Some(AddrMatch::v6("2001:db8::fe".parse().unwrap(), 127))
        );
    }

    #[test]
    fn address_families_never_cross() {
        let v4 = AddrMatch::v4(Ipv4Addr::UNSPECIFIED, 0);
        let v6 = AddrMatch::v6(Ipv6Addr::UNSPECIFIED, 0);
        assert!(v4.matches_v4(0x7f00_0001));
        assert!(!v4.matches_v6(1));
        assert!(v6.matches_v6(1));
        assert!(!v6.matches_v4(0x7f00_0001));
    }

    #[test]
    fn errors_name_the_line() {
        assert_eq!(
            err("accept\ndrop tcp dstport 23\n"),
            (2, "unknown keyword 'dstport'".into())
        );
        assert_eq!(
            err("# c\n\ndrop src 10.0.0.300\n"),
            (3, "bad address '10.0.0.300'".into())
        );
        assert_eq!(
            err("drop tcp dst-port 90-80"),
            (1, "port range 90-80 is reversed".into())
        );
        assert_eq!(
            err("accept\naccept\ndrop tcp dst-port 1 dst-port 2"),
            (3, "'dst-port' given twice".into())
        );
        assert_eq!(
            err("drop dst-port 80"),
            (1, "port match needs tcp or udp".into())
        );
        assert_eq!(
            err("drop icmp src-port 80"),
            (1, "port match needs tcp or udp".into())
        );
        assert_eq!(err("drop tcp src"), (1, "missing value after 'src'".into()));
        assert_eq!(
            err("default drop\naccept\ndefault accept"),
            (3, "'default' given twice".into())
        );
        assert_eq!(
            err("drop tcp icmp-type 3"),
            (1, "icmp-type needs icmp or icmpv6".into())
        );
        assert_eq!(
            err("drop icmp icmp-type 256"),
            (1, "bad icmp type '256'".into())
        );
        assert_eq!(err("block tcp"), (1, "unknown action 'block'".into()));
        assert_eq!(
            err("drop src 1.2.3.4 tcp"),
            (1, "'tcp' must come right after the action".into())
        );
        assert_eq!(
            err("drop tcp udp"),
            (1, "'udp' must come right after the action".into())
        );
        assert_eq!(err("default"), (1, "missing value after 'default'".into()));
        assert_eq!(
            err("default reject"),
            (1, "bad default verdict 'reject'".into())
        );
        assert_eq!(
            err("default drop now"),
            (1, "unexpected 'now' after the default verdict".into())
        );
        assert_eq!(
            err("drop udp dst-port 65536"),
            (1, "bad port '65536'".into())
        );
        assert_eq!(err("drop udp dst-port 1-"), (1, "bad port '1-'".into()));
        assert_eq!(
            err("drop udp dst-port 090-080"),
            (1, "port range 090-080 is reversed".into())
        );
        assert_eq!(
            err("drop udp dst-port 1-2-3"),
            (1, "bad port '1-2-3'".into())
        );
        assert_eq!(err("drop udp dst-port -1"), (1, "bad port '-1'".into()));
        assert_eq!(err("drop udp dst-port +1"), (1, "bad port '+1'".into()));
        assert_eq!(
            err("drop src 10.0.0.0/33"),
            (1, "bad address '10.0.0.0/33'".into())
        );
        assert_eq!(err("drop src ::1/129"), (1, "bad address '::1/129'".into()));
        assert_eq!(
            err("drop src 10.0.0.0/"),
            (1, "bad address '10.0.0.0/'".into())
        );
        assert_eq!(err("drop dst 1.2.3.4/8/8").0, 1);
    }

    #[test]
    fn checks_run_left_to_right_per_keyword() {
        // The protocol a keyword needs is checked when the keyword is read.
        assert_eq!(
            err("drop dst-port 80 bogus"),
            (1, "port match needs tcp or udp".into())
        );
        assert_eq!(
            err("drop icmp-type 3 src-port 1"),
            (1, "icmp-type needs icmp or icmpv6".into())
        );
        // ... after its value.
        assert_eq!(err("drop dst-port x"), (1, "bad port 'x'".into()));
        // A misplaced protocol is reported before anything else about it.
        assert_eq!(
            err("drop src 1.2.3.4 udp udp"),
            (1, "'udp' must come right after the action".into())
        );
    }

    #[test]
    fn address_text_is_strict() {
        for bad in [
            "1.2.3",
            "1.2.3.4.5",
            "01.2.3.4",
            "1.2.3.04",
            "0x1.2.3.4",
            "1.2.3.4 ",
            "256.1.1.1",
            " 1.2.3.4",
            "1::2::3",
            "1:2:3:4:5:6:7:8:9",
            "12345::",
            "::1%lo",
            "[::1]",
            "::ffff:1.2.3",
            "::ffff:01.2.3.4",
            "localhost",
            "",
            "/8",
            // A NUL byte ends the text for C's inet_pton; it must not end it here either
            // (the C parser took "::\0..1/128" for "::/128" until the fuzzer found it).
            "1.2.3.4\0junk",
            "::\x00\x001/128",
            "10.0.0.1\0/8",
        ] {
            assert!(parse_addr(bad.as_bytes()).is_err(), "accepted {bad:?}");
        }
        for good in [
            "0.0.0.0",
            "255.255.255.255",
            "::",
            "::1",
            "1::",
            "1:2:3:4:5:6:7:8",
            "1:2:3:4:5:6:7::",
            "::2:3:4:5:6:7:8",
            "1::3:4:5:6:7:8",
            "0001:02:3::",
            "ABCD:ef01::",
            "::ffff:192.0.2.1",
            "::192.0.2.1",
            "64:ff9b::1.2.3.4",
            "1:2:3:4:5:6:1.2.3.4",
        ] {
            assert!(parse_addr(good.as_bytes()).is_ok(), "rejected {good:?}");
        }
    }

    #[test]
    fn line_length_limit() {
        let ok = format!("accept{}", " ".repeat(MAX_LINE_LEN - 6));
        assert_eq!(ok.len(), MAX_LINE_LEN);
        assert_eq!(RuleSet::parse(&ok).unwrap().len(), 1);
        let long = format!("accept\n#{}", "x".repeat(MAX_LINE_LEN));
        assert_eq!(err(&long), (2, "line too long".into()));
    }

    #[test]
    fn rule_count_limit() {
        let mut text = "accept\n".repeat(MAX_RULES);
        assert_eq!(RuleSet::parse(&text).unwrap().len(), MAX_RULES);
        text.push_str("# fine\ndefault drop\ndrop\n");
        assert_eq!(err(&text), (MAX_RULES + 3, "too many rules".into()));
        // The count is checked before the rule itself.
        let text = "accept\n".repeat(MAX_RULES) + "drop tcp dstport 1\n";
        assert_eq!(err(&text), (MAX_RULES + 1, "too many rules".into()));
    }

    #[test]
    fn rule_numbers_skip_comments_blank_and_default_lines() {
        let set = RuleSet::parse("# x\n\ndefault accept\ndrop tcp\n  # y\naccept udp\n").unwrap();
        let lines: Vec<usize> = set.rules().iter().map(|r| r.line).collect();
        assert_eq!(lines, [4, 6]);
    }

    #[test]
    fn separators_are_spaces_and_tabs_only() {
        // A carriage return is not a separator: "drop\r" is not an action.
        assert_eq!(err("accept\r\n").0, 1);
        let set = RuleSet::parse(" \t drop \t tcp\t\tdst-port  80 \t").unwrap();
        assert_eq!(set.rules()[0].text, "drop tcp dst-port 80");
    }

    #[test]
    fn non_utf8_bytes() {
        // In a comment they are ignored; elsewhere they are an error on their line.
        let set = RuleSet::parse_bytes(b"accept # caf\xe9\n").unwrap();
        assert_eq!(set.len(), 1);
        let e = RuleSet::parse_bytes(b"accept\ndrop src 1.2.3.\xff\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.starts_with("bad address"));
    }

    #[test]
    fn display() {
        let e = RuleSet::parse("drop tcp dstport 23").unwrap_err();
        assert_eq!(e.to_string(), "line 1: unknown keyword 'dstport'");
    }
}
