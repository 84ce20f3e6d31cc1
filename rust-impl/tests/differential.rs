//! Differential test: the C decision function (through the c-impl crate) and the Rust one
//! must give the same verdict, matched rule and malformed flag for every packet of a
//! corpus, under several rule files, and the two rules parsers must agree on which files
//! are bad and on which line.

use c_impl::Rules as CRules;
use rust_impl::decide::{decide, Verdict};
use rust_impl::rules::RuleSet;

const RULE_FILES: &[(&str, &str)] = &[
    ("accept-all", ""),
    (
        "paper-like",
        "drop tcp dst-port 23\naccept udp dst 127.0.0.1 dst-port 9000-9999\ndrop src 10.0.0.0/8\ndefault accept\n",
    ),
    (
        "default-drop",
        "default drop\naccept icmp icmp-type 8\naccept icmpv6 icmp-type 128\n\
         accept tcp src-port 1000-2000\naccept src ::1/128\naccept udp src-port 53\n",
    ),
    (
        "ipv6",
        "# v6 heavy\ndrop dst 2001:db8::/32\ndrop udp\naccept tcp dst-port 0-65535\n\
         drop src fe80::/10 dst ::1\ndefault drop\n",
    ),
    ("drop-all", "drop\n"),
    (
        "protocols",
        "accept icmp\ndrop icmpv6 icmp-type 1\naccept tcp src 127.0.0.0/8 dst 127.0.0.1/32 src-port 1234 dst-port 9999\n\
         drop dst 0.0.0.0/0\n\tdrop   tcp\tdst 10.9.9.9   # tabs and spaces\ndefault accept\n",
    ),
];

/// Minimal packet builders for the corpus (checksums are irrelevant to the filters).
mod build {
    pub fn ipv4(proto: u8, src: [u8; 4], dst: [u8; 4], options: &[u8], l4: &[u8]) -> Vec<u8> {
        let ihl = 20 + options.len();
        assert!(ihl.is_multiple_of(4) && ihl <= 60);
        let total = ihl + l4.len();
        let mut p = vec![0u8; 20];
        p[0] = 0x40 | (ihl / 4) as u8;
        p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
        p[8] = 64;
        p[9] = proto;
        p[12..16].copy_from_slice(&src);
        p[16..20].copy_from_slice(&dst);
        p.extend_from_slice(options);
        p.extend_from_slice(l4);
        p
    }

    pub fn ipv6(next: u8, src: [u8; 16], dst: [u8; 16], payload: &[u8]) -> Vec<u8> {
        let mut p = vec![0u8; 40];
        p[0] = 0x60;
        p[4..6].copy_from_slice(&(payload.len() as u16).to_be_bytes());
        p[6] = next;
        p[7] = 64;
        p[8..24].copy_from_slice(&src);
        p[24..40].copy_from_slice(&dst);
        p.extend_from_slice(payload);
        p
    }

    pub fn tcp(sport: u16, dport: u16) -> Vec<u8> {
        let mut t = vec![0u8; 20];
        t[0..2].copy_from_slice(&sport.to_be_bytes());
        t[2..4].copy_from_slice(&dport.to_be_bytes());
        t[12] = 5 << 4;
        t[13] = 0x02; // SYN
        t
    }

    pub fn udp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
        let mut u = vec![0u8; 8];
        u[0..2].copy_from_slice(&sport.to_be_bytes());
        u[2..4].copy_from_slice(&dport.to_be_bytes());
        u[4..6].copy_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
        u.extend_from_slice(payload);
        u
    }

    pub fn icmp(kind: u8, code: u8, rest: &[u8]) -> Vec<u8> {
        let mut i = vec![kind, code, 0, 0, 0, 0, 0, 0];
        i.extend_from_slice(rest);
        i
    }

    /// An IPv6 extension header of `8 * (len_units + 1)` bytes.
    pub fn ext(next: u8, len_units: u8) -> Vec<u8> {
        let mut e = vec![0u8; 8 * (len_units as usize + 1)];
        e[0] = next;
        e[1] = len_units;
        e
    }

    pub fn frag6(next: u8, offset_units: u16, more: bool) -> Vec<u8> {
        let mut f = vec![0u8; 8];
        f[0] = next;
        f[2..4].copy_from_slice(&((offset_units << 3) | more as u16).to_be_bytes());
        f
    }

    pub fn v6(last: u8) -> [u8; 16] {
        let mut a = [0u8; 16];
        a[15] = last;
        a
    }

    pub fn v6_prefixed(prefix: [u8; 4], last: u8) -> [u8; 16] {
        let mut a = v6(last);
        a[..4].copy_from_slice(&prefix);
        a
    }
}

fn corpus() -> Vec<(String, Vec<u8>)> {
    use build::*;
    let lo = [127, 0, 0, 1];
    let ten = [10, 1, 2, 3];
    let far = [192, 0, 2, 7];
    let mut c: Vec<(String, Vec<u8>)> = Vec::new();
    let mut add = |name: &str, p: Vec<u8>| c.push((name.to_string(), p));

    // Valid IPv4.
    add("v4 tcp 9999", ipv4(6, lo, lo, &[], &tcp(1234, 9999)));
    add("v4 tcp telnet", ipv4(6, far, lo, &[], &tcp(40000, 23)));
    add("v4 tcp from 10/8", ipv4(6, ten, lo, &[], &tcp(1500, 80)));
    add(
        "v4 tcp to 10.9.9.9",
        ipv4(6, lo, [10, 9, 9, 9], &[], &tcp(1, 2)),
    );
    add(
        "v4 udp 9000",
        ipv4(17, lo, lo, &[], &udp(53, 9000, b"hello")),
    );
    add(
        "v4 udp 10000",
        ipv4(17, lo, lo, &[], &udp(5353, 10000, &[0; 64])),
    );
    add(
        "v4 udp dns from 10/8",
        ipv4(17, ten, lo, &[], &udp(53, 53, &[])),
    );
    add("v4 icmp echo", ipv4(1, lo, lo, &[], &icmp(8, 0, b"ping")));
    add("v4 icmp reply", ipv4(1, lo, lo, &[], &icmp(0, 0, &[])));
    let quoted = ipv4(6, lo, far, &[], &tcp(9999, 23));
    add(
        "v4 icmp unreachable quoting tcp",
        ipv4(1, far, lo, &[], &icmp(3, 1, &quoted[..28])),
    );
    add("v4 gre", ipv4(47, lo, lo, &[], &[0; 8]));
    add(
        "v4 tcp with options",
        ipv4(6, lo, lo, &[1, 1, 1, 0], &tcp(1234, 9999)),
    );
    add(
        "v4 tcp with 40 bytes of options",
        ipv4(6, lo, lo, &[1; 40], &tcp(1234, 23)),
    );
    add(
        "v4 icmpv6 proto in v4",
        ipv4(58, lo, lo, &[], &icmp(1, 0, &[])),
    );
    add(
        "v4 udp empty payload",
        ipv4(17, lo, lo, &[], &udp(1, 9999, &[])),
    );

    // IPv4 fragments.
    let mut first = ipv4(6, far, lo, &[], &tcp(1234, 23));
    first[6] = 0x20; // MF, offset 0
    add("v4 first fragment", first);
    let mut later = ipv4(6, far, lo, &[], &[0xde; 24]);
    later[6..8].copy_from_slice(&185u16.to_be_bytes());
    add("v4 later fragment", later.clone());
    let mut tiny_later = ipv4(17, ten, lo, &[], &[]);
    tiny_later[6..8].copy_from_slice(&0x2001u16.to_be_bytes());
    add("v4 later fragment no payload", tiny_later);
    let mut first_short = ipv4(6, far, lo, &[], &[0, 1, 0, 23, 0, 0, 0, 0]);
    first_short[6] = 0x20;
    add("v4 first fragment with 8 bytes of tcp", first_short);

    // Malformed IPv4.
    let good = ipv4(6, lo, lo, &[], &tcp(1234, 9999));
    add("zero length", vec![]);
    add("one byte", vec![0x45]);
    add("v4 truncated header", good[..19].to_vec());
    add("v4 header only", good[..20].to_vec());
    add("v4 tcp cut at 30", good[..30].to_vec());
    add("v4 tcp cut at 40 (copy range)", good[..40].to_vec());
    let mut ihl4 = good.clone();
    ihl4[0] = 0x44;
    add("v4 ihl 4", ihl4);
    let mut ihl0 = good.clone();
    ihl0[0] = 0x40;
    add("v4 ihl 0", ihl0);
    let mut ihl15 = good.clone();
    ihl15[0] = 0x4f;
    add("v4 ihl 15 > len", ihl15);
    let mut tot_small = good.clone();
    tot_small[2..4].copy_from_slice(&19u16.to_be_bytes());
    add("v4 total length < ihl", tot_small);
    let mut tot_short = good.clone();
    tot_short[2..4].copy_from_slice(&30u16.to_be_bytes());
    add("v4 total length cuts tcp", tot_short);
    let mut tot_big = good.clone();
    tot_big[2..4].copy_from_slice(&1500u16.to_be_bytes());
    add("v4 total length > buffer", tot_big);
    let mut trailing = good.clone();
    trailing.extend_from_slice(&[0xff; 16]);
    add("v4 trailing bytes", trailing);
    let mut tot_zero = good.clone();
    tot_zero[2..4].copy_from_slice(&0u16.to_be_bytes());
    add("v4 total length 0", tot_zero);
    let mut v5 = good.clone();
    v5[0] = 0x55;
    add("version 5", v5);
    add(
        "v4 udp 7 bytes",
        ipv4(17, lo, lo, &[], &[0, 53, 0x23, 0x28, 0, 7, 0]),
    );
    add("v4 icmp 3 bytes", ipv4(1, lo, lo, &[], &[8, 0, 0]));

    // IPv6.
    let one = v6(1);
    let db8 = v6_prefixed([0x20, 0x01, 0x0d, 0xb8], 1);
    let ll = v6_prefixed([0xfe, 0x80, 0, 0], 9);
    add("v6 tcp", ipv6(6, one, one, &tcp(1234, 9999)));
    add("v6 tcp to db8", ipv6(6, one, db8, &tcp(1234, 23)));
    add("v6 udp", ipv6(17, db8, one, &udp(53, 9000, b"x")));
    add("v6 icmpv6 echo", ipv6(58, ll, one, &icmp(128, 0, &[])));
    add(
        "v6 icmpv6 unreachable",
        ipv6(58, ll, one, &icmp(1, 4, &[0; 40])),
    );
    add(
        "v6 icmp (proto 1) in v6",
        ipv6(1, one, one, &icmp(8, 0, &[])),
    );
    add("v6 no next header", ipv6(59, one, one, &[]));
    add("v6 esp", ipv6(50, one, one, &[0; 16]));
    let chain = [ext(60, 0), ext(43, 1), ext(6, 0), tcp(1500, 22)].concat();
    add("v6 hop+dst+rt+tcp", ipv6(0, one, one, &chain));
    add(
        "v6 dst opts + udp",
        ipv6(60, one, one, &[ext(17, 2), udp(1, 9999, &[])].concat()),
    );
    add(
        "v6 first fragment",
        ipv6(44, ll, one, &[frag6(6, 0, true), tcp(1000, 23)].concat()),
    );
    add(
        "v6 later fragment",
        ipv6(44, ll, one, &[frag6(17, 100, false), vec![0; 16]].concat()),
    );
    let mut ah = vec![0u8; 12];
    ah[0] = 17;
    ah[1] = 1; // (1 + 2) * 4 = 12 bytes
    add(
        "v6 ah + udp",
        ipv6(51, one, one, &[ah, udp(53, 53, &[])].concat()),
    );
    let eight: Vec<u8> = (0..8)
        .flat_map(|i| ext(if i == 7 { 17 } else { 60 }, 0))
        .collect();
    add(
        "v6 8 extension headers",
        ipv6(60, one, one, &[eight, udp(1, 2, &[])].concat()),
    );
    let nine: Vec<u8> = (0..9)
        .flat_map(|i| ext(if i == 8 { 17 } else { 60 }, 0))
        .collect();
    add(
        "v6 9 extension headers",
        ipv6(60, one, one, &[nine, udp(1, 2, &[])].concat()),
    );
    add(
        "v6 extension header past the end",
        ipv6(0, one, one, &ext(6, 3)[..8]),
    );
    add(
        "v6 fragment header truncated",
        ipv6(44, one, one, &[6, 0, 0]),
    );
    add("v6 one byte ext", ipv6(60, one, one, &[6]));
    let v6good = ipv6(6, one, one, &tcp(1234, 9999));
    add("v6 truncated header", v6good[..39].to_vec());
    add("v6 header only", v6good[..40].to_vec());
    add("v6 tcp cut", v6good[..50].to_vec());
    let mut plen0 = v6good.clone();
    plen0[4..6].copy_from_slice(&[0, 0]);
    add("v6 payload length 0", plen0);
    let mut plen_big = v6good.clone();
    plen_big[4..6].copy_from_slice(&9000u16.to_be_bytes());
    add("v6 payload length > buffer", plen_big);
    add("v6 icmpv6 3 bytes", ipv6(58, one, one, &[128, 0, 0]));
    c
}

/// Deterministic variations of the corpus: every prefix, and seeded byte flips.
fn variations(corpus: &[(String, Vec<u8>)]) -> Vec<(String, Vec<u8>)> {
    // A tiny xorshift keeps the test self-contained and reproducible.
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut out = Vec::new();
    for (name, p) in corpus {
        for cut in 0..p.len() {
            out.push((format!("{name} cut to {cut}"), p[..cut].to_vec()));
        }
        for k in 0..64 {
            let mut q = p.clone();
            if q.is_empty() {
                break;
            }
            let flips = 1 + next() % 3;
            for _ in 0..flips {
                let i = (next() % q.len() as u64) as usize;
                q[i] ^= 1 << (next() % 8);
            }
            out.push((format!("{name} flip #{k}"), q));
        }
    }
    out
}

fn same(c: c_impl::Decision, r: rust_impl::decide::Decision) -> bool {
    let cv = matches!(c.verdict, c_impl::Verdict::Accept);
    let rv = matches!(r.verdict, Verdict::Accept);
    cv == rv && c.rule == r.rule && c.malformed == r.malformed
}

#[test]
fn c_and_rust_decide_every_packet_alike() {
    let base = corpus();
    let all: Vec<_> = base.iter().cloned().chain(variations(&base)).collect();
    let mut mismatches = Vec::new();
    for (rname, text) in RULE_FILES {
        let c = CRules::parse(text).unwrap_or_else(|e| panic!("C refuses {rname}: {e}"));
        let r = RuleSet::parse(text).unwrap_or_else(|e| panic!("Rust refuses {rname}: {e}"));
        for (pname, p) in &all {
            let (cd, rd) = (c.decide(p), decide(&r, p));
            if !same(cd, rd) {
                mismatches.push(format!(
                    "{rname} / {pname}: C {cd:?} Rust {rd:?} bytes {p:02x?}"
                ));
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} mismatches, first ones:\n{}",
        mismatches.len(),
        mismatches[..mismatches.len().min(10)].join("\n")
    );
}

/// The hand-built corpus has the decisions we expect (so "both agree" is not "both wrong").
#[test]
fn corpus_decisions_are_the_specified_ones() {
    let r = RuleSet::parse(RULE_FILES[1].1).unwrap(); // paper-like
    let by_name = |n: &str| corpus().into_iter().find(|(name, _)| name == n).unwrap().1;
    let d = |n: &str| decide(&r, &by_name(n));
    assert_eq!(d("v4 tcp telnet").rule, Some(0));
    assert_eq!(d("v4 tcp telnet").verdict, Verdict::Drop);
    assert_eq!(d("v4 udp 9000").rule, Some(1));
    assert_eq!(d("v4 udp 10000").rule, None);
    assert_eq!(d("v4 tcp from 10/8").rule, Some(2));
    assert_eq!(d("v4 first fragment").rule, Some(0));
    assert_eq!(d("v4 later fragment").rule, None);
    assert!(!d("v4 later fragment").malformed);
    assert_eq!(d("v4 tcp cut at 40 (copy range)").rule, None);
    assert!(!d("v4 tcp cut at 40 (copy range)").malformed);
    for bad in [
        "zero length",
        "one byte",
        "v4 truncated header",
        "v4 header only",
        "v4 ihl 4",
        "v4 ihl 15 > len",
        "v4 total length < ihl",
        "v4 total length cuts tcp",
        "version 5",
        "v6 9 extension headers",
        "v6 extension header past the end",
        "v6 truncated header",
        "v6 tcp cut",
    ] {
        assert!(d(bad).malformed, "{bad} should be malformed");
        assert_eq!(
            d(bad).verdict,
            Verdict::Accept,
            "{bad} gets the default verdict"
        );
    }
    for fine in ["v4 total length 0", "v6 payload length 0"] {
        assert!(
            !d(fine).malformed,
            "{fine}: length 0 means over 64 KiB, not in the header"
        );
        assert_eq!(d(fine).rule, None);
    }
    for fine in [
        "v4 total length > buffer",
        "v4 trailing bytes",
        "v6 8 extension headers",
        "v6 esp",
        "v6 payload length > buffer",
    ] {
        assert!(!d(fine).malformed, "{fine} should parse");
    }
    let v6 = RuleSet::parse(RULE_FILES[3].1).unwrap();
    assert_eq!(decide(&v6, &by_name("v6 tcp to db8")).rule, Some(0));
    assert_eq!(decide(&v6, &by_name("v6 dst opts + udp")).rule, Some(1));
    assert_eq!(decide(&v6, &by_name("v6 hop+dst+rt+tcp")).rule, Some(2));
    // A later fragment keeps its protocol (rule 1 is `drop udp`) but has no ports.
    assert_eq!(decide(&v6, &by_name("v6 later fragment")).rule, Some(1));
    assert_eq!(
        decide(&v6, &by_name("v6 later fragment")).verdict,
        Verdict::Drop
    );
}

#[test]
fn c_and_rust_parsers_agree_on_bad_files() {
    let bad = [
        ("dstport 23", "drop tcp dstport 23"),
        ("bad address", "accept\ndrop src 10.0.0.300"),
        ("prefix too long", "drop src 10.0.0.0/33"),
        ("v6 prefix too long", "\n\ndrop dst ::1/129"),
        ("reversed range", "drop tcp dst-port 90-80"),
        ("port too big", "drop udp src-port 65536"),
        ("twice", "drop tcp dst-port 1 dst-port 2"),
        ("port without proto", "drop dst-port 22"),
        ("icmp-type without icmp", "drop tcp icmp-type 3"),
        ("icmp type too big", "drop icmp icmp-type 256"),
        ("missing value", "# c\ndrop src"),
        ("default twice", "default drop\ndefault accept"),
        ("bad default", "default reject"),
        ("unknown action", "reject tcp"),
        ("proto not first", "drop src 1.2.3.4 tcp"),
        ("line too long", &format!("drop {}", " ".repeat(1100))),
        ("empty port", "drop tcp dst-port -"),
        ("garbage after default", "default drop now"),
        // Found by the differential_rules fuzz target: C's inet_pton stopped at the NUL.
        ("NUL inside an address", "accept\ndrop src ::\x00\x001/128"),
        ("NUL after an address", "drop dst 127.0.0.1\0junk"),
    ];
    for (name, text) in bad {
        let c = CRules::parse(text)
            .err()
            .unwrap_or_else(|| panic!("C accepts {name}"));
        let r = RuleSet::parse(text)
            .err()
            .unwrap_or_else(|| panic!("Rust accepts {name}"));
        assert_eq!(c.line, r.line, "{name}: C says {c}, Rust says {r}");
    }
    let many = "accept\n".repeat(4097);
    assert_eq!(CRules::parse(&many).err().map(|e| e.line), Some(4097));
    assert_eq!(RuleSet::parse(&many).err().map(|e| e.line), Some(4097));
    assert!(CRules::parse(&"accept\n".repeat(4096)).is_ok());
    assert!(RuleSet::parse(&"accept\n".repeat(4096)).is_ok());
}
