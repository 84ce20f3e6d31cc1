//! The per-packet decision: a pure function of the rule set and the copied bytes.
//!
//! Why this module exists: it is the contract the C and Rust filters are compared on
//! (spec, "The decision"). Keeping it free of sockets, clocks and allocation makes it
//! testable on byte arrays, fuzzable, and identical in every caller.

use crate::rules::{AddrMatch, Rule, RuleSet};
use crate::wire::{self, icmp, ip_proto, ipv4, ipv6, tcp, udp};

/// What happens to the packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Accept,
    Drop,
}

impl Verdict {
    /// `accept` or `drop`, as written in rules files and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Accept => "accept",
            Verdict::Drop => "drop",
        }
    }
}

/// The outcome for one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub verdict: Verdict,
    /// Index of the first matching rule (0-based among rules), `None` for the default.
    pub rule: Option<usize>,
    /// The headers could not be parsed; the default verdict was applied.
    pub malformed: bool,
}

/// Source and destination, in the packet's family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Addrs {
    V4 { src: u32, dst: u32 },
    V6 { src: u128, dst: u128 },
}

/// What the parsing steps extracted from a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Headers {
    pub addrs: Addrs,
    /// IPv4 protocol field, or the last next-header of the IPv6 walk.
    pub proto: u8,
    /// `(src, dst)` for TCP and UDP with the L4 header parsed.
    pub ports: Option<(u16, u16)>,
    /// The type of an ICMP (IPv4) or ICMPv6 (IPv6) message.
    pub icmp_type: Option<u8>,
}

/// Decides one packet (spec, "The decision"): first matching rule in file order,
/// else the default; a malformed packet gets the default and matches no rule.
pub fn decide(rules: &RuleSet, packet: &[u8]) -> Decision {
    let Ok(headers) = parse(packet) else {
        return Decision {
            verdict: rules.default_verdict(),
            rule: None,
            malformed: true,
        };
    };
    match rules.rules().iter().position(|r| matches(r, &headers)) {
        Some(index) => Decision {
            verdict: rules.rules()[index].verdict,
            rule: Some(index),
            malformed: false,
        },
        None => Decision {
            verdict: rules.default_verdict(),
            rule: None,
            malformed: false,
        },
    }
}

/// The parsing steps 1-4 of the spec. `Err` means malformed.
pub fn parse(packet: &[u8]) -> wire::Result<Headers> {
    let Some(&first) = packet.first() else {
        return Err(wire::Error::Truncated);
    };
    match first >> 4 {
        4 => parse_ipv4(packet),
        6 => parse_ipv6(packet),
        _ => Err(wire::Error::Malformed),
    }
}

fn parse_ipv4(packet: &[u8]) -> wire::Result<Headers> {
    let ip = ipv4::Packet::new_checked(packet)?;
    let mut headers = Headers {
        addrs: Addrs::V4 {
            src: u32::from_be_bytes(ip.src_bytes()),
            dst: u32::from_be_bytes(ip.dst_bytes()),
        },
        proto: ip.protocol(),
        ports: None,
        icmp_type: None,
    };
    if !ip.is_later_fragment() {
        parse_l4(&mut headers, ip.payload(), ip_proto::ICMP)?;
    }
    Ok(headers)
}

fn parse_ipv6(packet: &[u8]) -> wire::Result<Headers> {
    let ip = ipv6::Packet::new_checked(packet)?;
    let upper = ip.upper_layer()?;
    let mut headers = Headers {
        addrs: Addrs::V6 {
            src: u128::from_be_bytes(ip.src_bytes()),
            dst: u128::from_be_bytes(ip.dst_bytes()),
        },
        proto: upper.protocol,
        ports: None,
        icmp_type: None,
    };
    if !upper.later_fragment {
        parse_l4(
            &mut headers,
            &packet[ip.upper_range(&upper)],
            ip_proto::ICMPV6,
        )?;
    }
    Ok(headers)
}

/// Step 4: ports or ICMP type from the L4 region. `icmp` is the ICMP protocol number of
/// the packet's family (1 for IPv4, 58 for IPv6); the other family's number is opaque.
fn parse_l4(headers: &mut Headers, region: &[u8], icmp: u8) -> wire::Result<()> {
    match headers.proto {
        ip_proto::TCP => {
            let seg = tcp::Packet::new_checked(region)?;
            headers.ports = Some((seg.src_port(), seg.dst_port()));
        }
        ip_proto::UDP => {
            let dgram = udp::Packet::new_checked(region)?;
            headers.ports = Some((dgram.src_port(), dgram.dst_port()));
        }
        proto if proto == icmp => {
            let msg = icmp::Packet::new_checked(region)?;
            headers.icmp_type = Some(msg.msg_type());
        }
        _ => {}
    }
    Ok(())
}

/// Whether every field the rule gives matches the packet. A field the packet lacks
/// (no ports, no ICMP type) does not match.
fn matches(rule: &Rule, h: &Headers) -> bool {
    if rule.proto.is_some_and(|p| p != h.proto) {
        return false;
    }
    if !prefix_matches(rule.src.as_ref(), h.addrs, Side::Src)
        || !prefix_matches(rule.dst.as_ref(), h.addrs, Side::Dst)
    {
        return false;
    }
    if let Some(range) = rule.src_port {
        if !h.ports.is_some_and(|(sp, _)| range.contains(sp)) {
            return false;
        }
    }
    if let Some(range) = rule.dst_port {
        if !h.ports.is_some_and(|(_, dp)| range.contains(dp)) {
            return false;
        }
    }
    if let Some(t) = rule.icmp_type {
        if h.icmp_type != Some(t) {
            return false;
        }
    }
    true
}

#[derive(Clone, Copy)]
enum Side {
    Src,
    Dst,
}

/// An absent prefix matches; a prefix of the other family never does.
fn prefix_matches(want: Option<&AddrMatch>, addrs: Addrs, side: Side) -> bool {
    let Some(m) = want else {
        return true;
    };
    match (addrs, side) {
        (Addrs::V4 { src, .. }, Side::Src) => m.matches_v4(src),
        (Addrs::V4 { dst, .. }, Side::Dst) => m.matches_v4(dst),
        (Addrs::V6 { src, .. }, Side::Src) => m.matches_v6(src),
        (Addrs::V6 { dst, .. }, Side::Dst) => m.matches_v6(dst),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::testdata::*;

    fn rules(text: &str) -> RuleSet {
        RuleSet::parse(text).unwrap()
    }

    fn hit(rule: usize, verdict: Verdict) -> Decision {
        Decision {
            verdict,
            rule: Some(rule),
            malformed: false,
        }
    }

    fn default(verdict: Verdict) -> Decision {
        Decision {
            verdict,
            rule: None,
            malformed: false,
        }
    }

    fn malformed(verdict: Verdict) -> Decision {
        Decision {
            verdict,
            rule: None,
            malformed: true,
        }
    }

    #[test]
    fn headers_of_real_packets() {
        let h = parse(&IPV4_TCP_SYN).unwrap();
        assert_eq!(
            h,
            Headers {
                addrs: Addrs::V4 {
                    src: 0x7f00_0001,
                    dst: 0x7f00_0001
                },
                proto: 6,
                ports: Some((56448, 9999)),
                icmp_type: None,
            }
        );
        let h = parse(&IPV6_HOP_BY_HOP_UDP).unwrap();
        assert_eq!(h.addrs, Addrs::V6 { src: 1, dst: 1 });
        assert_eq!((h.proto, h.ports), (17, Some((38384, 5354))));
        let h = parse(&IPV6_ICMPV6_ECHO_REQUEST).unwrap();
        assert_eq!((h.proto, h.icmp_type, h.ports), (58, Some(128), None));
        let h = parse(&IPV4_ICMP_PORT_UNREACH).unwrap();
        assert_eq!((h.proto, h.icmp_type), (1, Some(3)));
    }

    #[test]
    fn fragments() {
        // The first fragment has the UDP header (cut by the copy range, still parsed).
        let h = parse(&IPV4_UDP_FIRST_FRAGMENT).unwrap();
        assert_eq!(h.ports, Some((52973, 5353)));
        let h = parse(&IPV6_UDP_FIRST_FRAGMENT).unwrap();
        assert_eq!(h.ports, Some((53011, 5353)));
        // Later fragments: protocol known, no ports.
        let h = parse(&IPV4_UDP_LATER_FRAGMENT).unwrap();
        assert_eq!((h.proto, h.ports), (17, None));
        let h = parse(&IPV6_UDP_LATER_FRAGMENT).unwrap();
        assert_eq!((h.proto, h.ports), (17, None));

        let set = rules("drop udp dst-port 5353\ndrop udp\n");
        assert_eq!(
            decide(&set, &IPV4_UDP_FIRST_FRAGMENT),
            hit(0, Verdict::Drop)
        );
        assert_eq!(
            decide(&set, &IPV4_UDP_LATER_FRAGMENT),
            hit(1, Verdict::Drop)
        );
        assert_eq!(
            decide(&set, &IPV6_UDP_LATER_FRAGMENT),
            hit(1, Verdict::Drop)
        );
    }

    #[test]
    fn first_match_in_file_order() {
        let set = rules(
            "default drop\n\
             accept udp dst-port 53\n\
             drop tcp dst-port 9999\n\
             accept tcp\n\
             accept icmp icmp-type 8\n\
             accept icmpv6 icmp-type 128\n",
        );
        assert_eq!(decide(&set, &IPV4_TCP_SYN), hit(1, Verdict::Drop));
        assert_eq!(decide(&set, &IPV6_TCP_SYN), hit(1, Verdict::Drop));
        assert_eq!(decide(&set, &IPV4_TCP_RST), hit(2, Verdict::Accept));
        assert_eq!(decide(&set, &IPV4_UDP), default(Verdict::Drop));
        assert_eq!(
            decide(&set, &IPV4_ICMP_ECHO_REQUEST),
            hit(3, Verdict::Accept)
        );
        assert_eq!(decide(&set, &IPV4_ICMP_ECHO_REPLY), default(Verdict::Drop));
        assert_eq!(
            decide(&set, &IPV6_ICMPV6_ECHO_REQUEST),
            hit(4, Verdict::Accept)
        );
    }

    #[test]
    fn empty_rule_set_accepts() {
        let set = RuleSet::default();
        assert_eq!(decide(&set, &IPV4_UDP), default(Verdict::Accept));
        assert_eq!(decide(&set, &[]), malformed(Verdict::Accept));
    }

    #[test]
    fn port_ranges_and_src_port() {
        let set = rules("drop tcp src-port 56000-57000\naccept udp src-port 41145 dst-port 5353");
        assert_eq!(decide(&set, &IPV4_TCP_SYN), hit(0, Verdict::Drop));
        assert_eq!(decide(&set, &IPV4_TCP_RST), default(Verdict::Accept));
        assert_eq!(decide(&set, &IPV4_UDP), hit(1, Verdict::Accept));
    }

    #[test]
    fn addresses_and_families() {
        let set = rules(
            "drop src 10.0.0.0/8\n\
             drop dst ::2\n\
             accept src 127.0.0.0/8 dst 127.0.0.1\n\
             drop src ::1/128\n",
        );
        assert_eq!(decide(&set, &IPV4_UDP), hit(2, Verdict::Accept));
        assert_eq!(decide(&set, &IPV6_UDP), hit(3, Verdict::Drop));
        // 0.0.0.0/0 is IPv4-only, ::/0 IPv6-only.
        let set = rules("drop src 0.0.0.0/0\naccept dst ::/0\n");
        assert_eq!(decide(&set, &IPV4_UDP), hit(0, Verdict::Drop));
        assert_eq!(decide(&set, &IPV6_UDP), hit(1, Verdict::Accept));
    }

    #[test]
    fn fields_the_packet_lacks_do_not_match() {
        let set = rules("drop udp dst-port 0-65535\ndrop icmp icmp-type 3\ndefault accept");
        // ICMP has no ports; TCP no ICMP type.
        assert_eq!(
            decide(&set, &IPV4_ICMP_ECHO_REQUEST),
            default(Verdict::Accept)
        );
        assert_eq!(decide(&set, &IPV4_ICMP_PORT_UNREACH), hit(1, Verdict::Drop));
        // Protocol 58 inside IPv4 and 1 inside IPv6: parsed, but no ICMP type.
        let mut v4 = IPV4_ICMP_ECHO_REQUEST;
        v4[9] = 58;
        let set = rules("drop icmpv6 icmp-type 8\ndrop icmpv6\n");
        assert_eq!(decide(&set, &v4), hit(1, Verdict::Drop));
        let mut v6 = IPV6_ICMPV6_ECHO_REQUEST;
        v6[6] = 1;
        let set = rules("drop icmp icmp-type 128\naccept icmp\ndefault drop");
        assert_eq!(decide(&set, &v6), hit(1, Verdict::Accept));
        assert_eq!(parse(&v6).unwrap().icmp_type, None);
    }

    #[test]
    fn malformed_gets_default_and_no_rule() {
        let set = rules("accept\ndefault drop");
        let cases: Vec<Vec<u8>> = vec![
            vec![],
            vec![0x45],
            IPV4_TCP_SYN[..19].to_vec(),
            IPV6_TCP_SYN[..39].to_vec(),
            {
                let mut b = IPV4_TCP_SYN.to_vec();
                b[0] = 0x55; // version 5
                b
            },
            {
                let mut b = IPV4_TCP_SYN.to_vec();
                b[0] = 0x00;
                b
            },
            // TCP region under 20 bytes: cut by the buffer...
            IPV4_TCP_SYN[..39].to_vec(),
            // ... or by the total length.
            {
                let mut b = IPV4_TCP_SYN.to_vec();
                b[3] = 39;
                b
            },
            IPV4_UDP[..27].to_vec(),
            IPV4_ICMP_ECHO_REQUEST[..23].to_vec(),
            IPV6_ICMPV6_ECHO_REQUEST[..43].to_vec(),
            // IPv6 UDP with payload length 7.
            {
                let mut b = IPV6_UDP.to_vec();
                b[5] = 7;
                b
            },
            // Hop-by-hop header cut off.
            IPV6_HOP_BY_HOP_UDP[..47].to_vec(),
        ];
        for (i, c) in cases.iter().enumerate() {
            assert_eq!(decide(&set, c), malformed(Verdict::Drop), "case {i}");
        }
    }

    #[test]
    fn cut_by_copy_range_is_not_malformed() {
        let set = rules("drop tcp dst-port 9999");
        // 40 bytes of a 60-byte packet: the TCP fixed header is all there.
        assert_eq!(decide(&set, &IPV4_TCP_SYN[..40]), hit(0, Verdict::Drop));
        // The IP header alone, for a protocol without L4 fields: parsed.
        let mut b = IPV4_TCP_SYN;
        b[9] = 47; // GRE
        assert_eq!(decide(&set, &b[..20]), default(Verdict::Accept));
    }

    #[test]
    fn never_panics_on_any_prefix_or_bit_flip() {
        let set = rules("drop tcp dst-port 1\naccept udp src-port 2\ndrop icmp icmp-type 3\ndrop icmpv6 icmp-type 4");
        let all: [&[u8]; 16] = [
            &IPV4_TCP_SYN,
            &IPV4_TCP_RST,
            &IPV4_UDP,
            &IPV4_ICMP_PORT_UNREACH,
            &IPV4_ICMP_ECHO_REQUEST,
            &IPV4_ICMP_ECHO_REPLY,
            &IPV4_UDP_FIRST_FRAGMENT,
            &IPV4_UDP_LATER_FRAGMENT,
            &IPV6_TCP_SYN,
            &IPV6_TCP_RST,
            &IPV6_UDP,
            &IPV6_ICMPV6_ECHO_REQUEST,
            &IPV6_ICMPV6_ECHO_REPLY,
            &IPV6_HOP_BY_HOP_UDP,
            &IPV6_UDP_FIRST_FRAGMENT,
            &IPV6_UDP_LATER_FRAGMENT,
        ];
        for p in all {
            for cut in 0..=p.len() {
                let _ = decide(&set, &p[..cut]);
            }
            for byte in 0..p.len().min(56) {
                for bit in 0..8 {
                    let mut b = p.to_vec();
                    b[byte] ^= 1 << bit;
                    let _ = decide(&set, &b);
                }
            }
        }
    }
}
