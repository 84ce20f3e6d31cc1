//! The fixed packet corpus of the micro-benchmark: real packets in a fixed mix and a
//! fixed order.
//!
//! Why this module exists: both languages must decide exactly the same bytes in exactly
//! the same order, run after run, so that times and instruction counts compare. Every
//! packet is a real capture: `captured.rs` (made by `scripts/microbench-capture.py`) and
//! the unit tests' `src/wire/testdata.rs`, included here as it is. The malformed ones are
//! captured packets cut short or with a bad version, as a small copy range or a
//! corrupted packet would give.

#[path = "../../src/wire/testdata.rs"]
#[allow(dead_code)]
mod testdata;

use super::captured::*;
use testdata::*;

/// A captured packet: its first bytes; a bulk packet also its length and the payload
/// byte that fills it from `head.len()` to `len`.
pub struct Captured {
    pub head: &'static [u8],
    pub len: usize,
    pub fill: u8,
}

impl Captured {
    fn bytes(&self) -> Vec<u8> {
        let mut b = self.head.to_vec();
        b.resize(self.len, self.fill);
        b
    }
}

/// One packet of the corpus and how many times it appears per [`CYCLE`] decisions.
pub struct Packet {
    pub name: &'static str,
    /// Traffic class, for the mix summary.
    pub class: &'static str,
    pub weight: usize,
    pub bytes: Vec<u8>,
}

/// Decisions per cycle of the schedule (the sum of the weights).
pub const CYCLE: usize = 200;

fn cut(b: &[u8], n: usize) -> Vec<u8> {
    b[..n].to_vec()
}

fn with(b: &[u8], at: usize, v: u8) -> Vec<u8> {
    let mut b = b.to_vec();
    b[at] = v;
    b
}

/// The corpus: mostly IPv4 TCP bulk transfer (data one way, ACKs the other), then IPv6
/// TCP, small UDP (DNS-like, a port-9000s service, mDNS), ICMP and ICMPv6, IPv6 with an
/// extension header (destination options, hop-by-hop, fragment), IPv4 and IPv6
/// fragments, and a few malformed packets (2 %).
pub fn packets() -> Vec<Packet> {
    let p = |name, class, weight, bytes: Vec<u8>| Packet {
        name,
        class,
        weight,
        bytes,
    };
    let v = vec![
        p(
            "v4 tcp bulk data",
            "IPv4 TCP",
            97,
            IPV4_TCP_BULK_DATA.bytes(),
        ),
        p("v4 tcp bulk ack", "IPv4 TCP", 28, IPV4_TCP_BULK_ACK.bytes()),
        p("v4 tcp syn :23", "IPv4 TCP", 2, IPV4_TCP_SYN_TELNET.bytes()),
        p("v4 tcp rst :23", "IPv4 TCP", 2, IPV4_TCP_RST_TELNET.bytes()),
        p("v4 tcp syn :9999", "IPv4 TCP", 1, IPV4_TCP_SYN.to_vec()),
        p(
            "v6 tcp bulk data",
            "IPv6 TCP",
            16,
            IPV6_TCP_BULK_DATA.bytes(),
        ),
        p("v6 tcp bulk ack", "IPv6 TCP", 6, IPV6_TCP_BULK_ACK.bytes()),
        p(
            "v6 dstopts tcp data",
            "IPv6 TCP",
            6,
            IPV6_DSTOPTS_TCP_DATA.bytes(),
        ),
        p("v6 tcp syn", "IPv6 TCP", 1, IPV6_TCP_SYN.to_vec()),
        p("v4 udp :9500", "IPv4 UDP", 8, IPV4_UDP_9500.bytes()),
        p("v4 udp dns", "IPv4 UDP", 8, IPV4_UDP_DNS.bytes()),
        p("v4 udp mdns", "IPv4 UDP", 4, IPV4_UDP.to_vec()),
        p(
            "v6 dstopts udp dns",
            "IPv6 UDP",
            4,
            IPV6_DSTOPTS_UDP_DNS.bytes(),
        ),
        p(
            "v6 hop-by-hop udp",
            "IPv6 UDP",
            2,
            IPV6_HOP_BY_HOP_UDP.to_vec(),
        ),
        p("v6 udp mdns", "IPv6 UDP", 2, IPV6_UDP.to_vec()),
        p(
            "v4 echo request",
            "ICMP",
            1,
            IPV4_ICMP_ECHO_REQUEST_DOC.bytes(),
        ),
        p("v4 echo reply", "ICMP", 1, IPV4_ICMP_ECHO_REPLY_DOC.bytes()),
        p(
            "v4 port unreachable",
            "ICMP",
            1,
            IPV4_ICMP_PORT_UNREACH.to_vec(),
        ),
        p(
            "v6 echo request",
            "ICMPv6",
            1,
            IPV6_ICMPV6_ECHO_REQUEST_DOC.bytes(),
        ),
        p(
            "v6 echo reply",
            "ICMPv6",
            1,
            IPV6_ICMPV6_ECHO_REPLY.to_vec(),
        ),
        p(
            "v4 first fragment",
            "fragments",
            1,
            IPV4_UDP_FIRST_FRAGMENT.to_vec(),
        ),
        p(
            "v4 later fragment",
            "fragments",
            1,
            IPV4_UDP_LATER_FRAGMENT.to_vec(),
        ),
        p(
            "v6 first fragment",
            "fragments",
            1,
            IPV6_UDP_FIRST_FRAGMENT.to_vec(),
        ),
        p(
            "v6 later fragment",
            "fragments",
            1,
            IPV6_UDP_LATER_FRAGMENT.to_vec(),
        ),
        p("v4 cut to 19 bytes", "malformed", 1, cut(&IPV4_UDP, 19)),
        p("version 5", "malformed", 1, with(&IPV4_TCP_RST, 0, 0x55)),
        p("v4 tcp header cut", "malformed", 1, cut(&IPV4_TCP_SYN, 39)),
        p(
            "v6 hop-by-hop cut",
            "malformed",
            1,
            cut(&IPV6_HOP_BY_HOP_UDP, 47),
        ),
    ];
    assert_eq!(v.iter().map(|p| p.weight).sum::<usize>(), CYCLE);
    v
}

/// The order of one cycle: indices into `packets`, each packet `weight` times, shuffled
/// by a fixed-seed xorshift so that neither language meets a trivially periodic branch
/// pattern (and both meet the same one).
pub fn schedule(packets: &[Packet]) -> Vec<usize> {
    let mut order: Vec<usize> = packets
        .iter()
        .enumerate()
        .flat_map(|(i, p)| std::iter::repeat_n(i, p.weight))
        .collect();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for i in (1..order.len()).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        order.swap(i, (x % (i as u64 + 1)) as usize);
    }
    order
}
