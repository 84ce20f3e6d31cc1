//! The rule files of the micro-benchmark.
//!
//! Why this module exists: the cost of a decision depends on how many rules a packet
//! meets before the first match; these files span that range (none, a few, a hundred
//! with the match last) and the address families. `main.rs` checks, before measuring,
//! that the C and Rust parsers read each file alike and that both decide every corpus
//! packet alike, so both languages do the same work.

/// A named rules file.
pub struct RuleFile {
    pub name: &'static str,
    pub about: &'static str,
    pub text: String,
}

/// The five-rule file: a firewall's first lines, the spec's examples.
const FIVE: &str = "\
# five rules: telnet, a local service, a private network, a v6 prefix, ping
drop tcp dst-port 23
accept udp dst 127.0.0.1 dst-port 9000-9999
drop src 10.0.0.0/8
drop dst 2001:db8:dead::/48
accept icmp icmp-type 8
default accept
";

/// IPv6-heavy: prefixes, ICMPv6 types, ports on v6 addresses; IPv4 meets all of them.
const IPV6: &str = "\
# IPv6-heavy
drop src fe80::/10 dst ff02::/16
accept icmpv6 icmp-type 128
accept icmpv6 icmp-type 129
drop icmpv6 icmp-type 137
drop dst 2001:db8:dead::/48
drop tcp dst ::1/128 dst-port 23
accept tcp src 2001:db8::/32 dst fd00::/8 dst-port 443
accept udp dst 2001:db8::10 dst-port 53
drop src fd00::/8
accept src 2001:db8::/32 dst 2001:db8::/32
drop tcp src ::/0 dst-port 0-1023
default drop
";

/// 99 rules that no corpus packet matches, of every kind (protocol, prefixes of both
/// families, ports, ICMP types), then `accept`: each well-formed packet tests all 100.
fn hundred() -> String {
    let mut s = String::from("# 100 rules, the match last\ndefault drop\n");
    for k in 1..=99u32 {
        let rule = match k % 7 {
            0 => format!("drop tcp dst 203.0.113.{k} dst-port {}", 1000 + k),
            1 => format!("drop udp src 198.18.{k}.0/24"),
            2 => format!("drop src 2001:db8:{k:x}::/48 dst fd00:{k:x}::/32"),
            3 => format!("drop tcp src-port 1-1023 dst-port {}", 2000 + k),
            4 => format!("drop icmp icmp-type {}", 20 + k),
            5 => format!("drop icmpv6 icmp-type {}", 140 + k),
            _ => format!("drop dst 198.51.100.{}/32", 100 + k),
        };
        s.push_str(&rule);
        s.push('\n');
    }
    s.push_str("accept\n");
    s
}

pub fn all() -> Vec<RuleFile> {
    vec![
        RuleFile {
            name: "accept-all",
            about: "no rules, default accept (the paper's setting)",
            text: String::new(),
        },
        RuleFile {
            name: "five",
            about: "5 rules: telnet, a local UDP service, 10/8, a v6 prefix, ping",
            text: FIVE.to_string(),
        },
        RuleFile {
            name: "hundred-last",
            about: "100 rules, only the last (`accept`) matches: worst case first-match",
            text: hundred(),
        },
        RuleFile {
            name: "ipv6-heavy",
            about: "11 rules on IPv6 prefixes, ICMPv6 types and v6 ports, default drop",
            text: IPV6.to_string(),
        },
    ]
}
