//! Unit tests of the C rules parser and decision (csrc/decide.c) through the
//! safe API, against docs/filter-spec.md.
//!
//! Why this file exists: the C filter is the reference; these tests pin its
//! behaviour (accepted files, error lines and messages, decisions on hand-built
//! packets) so the Rust filter can be held to the same cases.

use c_impl::{c_main, Decision, ParseError, Rules, Verdict};

// ---- helpers ---------------------------------------------------------------

fn rules(text: &str) -> Rules {
    Rules::parse(text).unwrap_or_else(|e| panic!("{text:?} should parse: {e}"))
}

fn err(text: &str) -> ParseError {
    match Rules::parse(text) {
        Ok(r) => panic!("{text:?} should fail, parsed {r:?}"),
        Err(e) => e,
    }
}

fn assert_err(text: &str, line: usize, message: &str) {
    let e = err(text);
    assert_eq!(
        (e.line, e.message.as_str()),
        (line, message),
        "for {text:?}"
    );
}

const TCP: u8 = 6;
const UDP: u8 = 17;
const ICMP: u8 = 1;
const ICMPV6: u8 = 58;

fn tcp(sport: u16, dport: u16) -> Vec<u8> {
    let mut h = vec![0u8; 20];
    h[0..2].copy_from_slice(&sport.to_be_bytes());
    h[2..4].copy_from_slice(&dport.to_be_bytes());
    h[12] = 5 << 4; // data offset
    h
}

fn udp(sport: u16, dport: u16) -> Vec<u8> {
    let mut h = vec![0u8; 8];
    h[0..2].copy_from_slice(&sport.to_be_bytes());
    h[2..4].copy_from_slice(&dport.to_be_bytes());
    h[4..6].copy_from_slice(&8u16.to_be_bytes());
    h
}

fn icmp(typ: u8) -> Vec<u8> {
    vec![typ, 0, 0, 0, 0, 0, 0, 0]
}

/// IPv4 packet with a 20-byte header, `frag` = the be16 flags/offset field.
fn ipv4_frag(proto: u8, src: [u8; 4], dst: [u8; 4], frag: u16, l4: &[u8]) -> Vec<u8> {
    let mut p = vec![0u8; 20];
    p[0] = 0x45;
    let total = (20 + l4.len()) as u16;
    p[2..4].copy_from_slice(&total.to_be_bytes());
    p[6..8].copy_from_slice(&frag.to_be_bytes());
    p[8] = 64;
    p[9] = proto;
    p[12..16].copy_from_slice(&src);
    p[16..20].copy_from_slice(&dst);
    p.extend_from_slice(l4);
    p
}

fn ipv4(proto: u8, src: [u8; 4], dst: [u8; 4], l4: &[u8]) -> Vec<u8> {
    ipv4_frag(proto, src, dst, 0, l4)
}

fn v6(s: &str) -> [u8; 16] {
    s.parse::<std::net::Ipv6Addr>().unwrap().octets()
}

/// IPv6 packet; `payload` holds extension headers and L4, `next` the first.
fn ipv6(next: u8, src: &str, dst: &str, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0u8; 40];
    p[0] = 0x60;
    p[4..6].copy_from_slice(&(payload.len() as u16).to_be_bytes());
    p[6] = next;
    p[7] = 64;
    p[8..24].copy_from_slice(&v6(src));
    p[24..40].copy_from_slice(&v6(dst));
    p.extend_from_slice(payload);
    p
}

/// Hop-by-hop / routing / destination options header of (len8 + 1) * 8 bytes.
fn ext(next: u8, len8: u8) -> Vec<u8> {
    let mut h = vec![0u8; (len8 as usize + 1) * 8];
    h[0] = next;
    h[1] = len8;
    h
}

/// Fragment header: `offset` in 8-byte units, `more` = M flag.
fn frag6(next: u8, offset: u16, more: bool) -> Vec<u8> {
    let mut h = vec![0u8; 8];
    h[0] = next;
    h[2..4].copy_from_slice(&((offset << 3) | more as u16).to_be_bytes());
    h
}

/// Authentication header of (len4 + 2) * 4 bytes.
fn ah(next: u8, len4: u8) -> Vec<u8> {
    let mut h = vec![0u8; (len4 as usize + 2) * 4];
    h[0] = next;
    h[1] = len4;
    h
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

const A: [u8; 4] = [10, 0, 0, 1];
const B: [u8; 4] = [192, 168, 1, 20];

fn hit(rule: usize, verdict: Verdict) -> Decision {
    Decision {
        verdict,
        rule: Some(rule),
        malformed: false,
    }
}

fn miss(verdict: Verdict) -> Decision {
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

// ---- good files ------------------------------------------------------------

#[test]
fn empty_file_accepts_everything() {
    for text in ["", "\n\n", "# only a comment\n   \t\n", "   "] {
        let r = rules(text);
        assert_eq!(r.len(), 0);
        assert!(r.is_empty());
        assert_eq!(r.default_verdict(), Verdict::Accept);
        assert_eq!(
            r.decide(&ipv4(TCP, A, B, &tcp(1, 2))),
            miss(Verdict::Accept)
        );
    }
}

#[test]
fn all_keywords_and_normalised_text() {
    let text = "# header comment\n\
                \n\
                drop\ttcp  src 10.0.0.0/8 dst 192.168.1.1\tsrc-port 1000-2000 dst-port 80 # web\n\
                accept udp dst-port 53 src-port 0-65535\n\
                drop icmp icmp-type 8\n\
                accept icmpv6 icmp-type 128 src 2001:db8::/32\n\
                default drop\n\
                accept\n";
    let r = rules(text);
    assert_eq!(r.len(), 5);
    assert_eq!(r.default_verdict(), Verdict::Drop);
    let lines: Vec<_> = (0..r.len()).map(|i| r.rule_line(i).unwrap()).collect();
    assert_eq!(lines, [3, 4, 5, 6, 8]);
    assert_eq!(
        r.rule_text(0).unwrap(),
        "drop tcp src 10.0.0.0/8 dst 192.168.1.1 src-port 1000-2000 dst-port 80"
    );
    assert_eq!(
        r.rule_text(1).unwrap(),
        "accept udp dst-port 53 src-port 0-65535"
    );
    assert_eq!(
        r.rule_text(3).unwrap(),
        "accept icmpv6 icmp-type 128 src 2001:db8::/32"
    );
    assert_eq!(r.rule_text(4).unwrap(), "accept");
    assert_eq!(r.rule_text(5), None);
    assert_eq!(r.rule_line(5), None);
}

#[test]
fn comment_glued_to_a_token_and_tabs() {
    let r = rules("\t\tdrop\t\ttcp dst-port 23#telnet\n  default   accept# x\n");
    assert_eq!(r.len(), 1);
    assert_eq!(r.rule_text(0).unwrap(), "drop tcp dst-port 23");
    assert_eq!(r.default_verdict(), Verdict::Accept);
}

#[test]
fn default_line_may_come_anywhere_and_file_may_lack_final_newline() {
    let r = rules("default drop\naccept tcp dst-port 22");
    assert_eq!(r.len(), 1);
    assert_eq!(r.rule_line(0), Some(2));
    assert_eq!(r.default_verdict(), Verdict::Drop);
}

#[test]
fn ipv6_cidrs_and_numbers_with_leading_zeros() {
    let r = rules(
        "drop src ::/0\n\
         drop dst fe80::1/64\n\
         drop src ::ffff:10.0.0.1/128\n\
         drop src 10.0.0.0/0\n\
         drop tcp dst-port 0080 src-port 00-09\n\
         drop icmp icmp-type 008\n\
         drop dst 10.0.0.0/08\n",
    );
    assert_eq!(r.len(), 7);
}

#[test]
fn limits_4096_rules_and_1023_byte_lines() {
    let ok = "accept\n".repeat(4096);
    assert_eq!(rules(&ok).len(), 4096);
    assert_err(&format!("{ok}# fine\naccept\n"), 4098, "too many rules");

    let long_ok = format!("accept{}", " ".repeat(1023 - 6));
    assert_eq!(long_ok.len(), 1023);
    assert_eq!(rules(&long_ok).len(), 1);
    let long_comment = format!("# {}", "x".repeat(1021));
    assert_eq!(rules(&long_comment).len(), 0);
    assert_err(&format!("accept\n{long_ok} \n"), 2, "line too long");
    assert_err(&format!("#{}", "x".repeat(1023)), 1, "line too long");
}

// ---- bad files ---------------------------------------------------------------

#[test]
fn spec_example_errors() {
    assert_err(
        "accept\ndrop tcp dstport 80\n",
        2,
        "unknown keyword 'dstport'",
    );
    assert_err("drop src 10.0.0.300\n", 1, "bad address '10.0.0.300'");
    assert_err(
        "\n\ndrop tcp dst-port 90-80\n",
        3,
        "port range 90-80 is reversed",
    );
    assert_err(
        "drop tcp dst-port 1 dst-port 2\n",
        1,
        "'dst-port' given twice",
    );
    assert_err("drop dst-port 80\n", 1, "port match needs tcp or udp");
    assert_err("drop icmp src-port 80\n", 1, "port match needs tcp or udp");
    assert_err("# c\ndrop src\n", 2, "missing value after 'src'");
    assert_err(
        "default drop\naccept\ndefault accept\n",
        3,
        "'default' given twice",
    );
}

#[test]
fn address_errors() {
    for bad in [
        "10.0.0.0/33",
        "::/129",
        "10.0.0.0/",
        "10.0.0.0/-1",
        "10.0.0.0/+8",
        "10.0.0.0/8/8",
        "fe80::1%eth0",
        "1.2.3",
        "010.0.0.1",
        "2001:db8:::1",
        "host.example",
        "/8",
    ] {
        assert_err(
            &format!("drop dst {bad}\n"),
            1,
            &format!("bad address '{bad}'"),
        );
    }
}

/// Found by the `differential_rules` fuzz target: inet_pton stops at a NUL byte, so the C
/// parser took `::\0...1/128` for `::/128` while Rust refused it.
#[test]
fn address_with_a_nul_byte_is_refused() {
    for (text, line) in [
        (&b"drop src 1.2.3.4\0junk\n"[..], 1),
        (b"drop dst ::\0\x001/128\n", 1),
        (b"accept\ndrop src 10.0.0.1\0/8\n", 2),
        (b"drop tcp dst 127.0.0.1\0", 1),
    ] {
        let e = Rules::parse_bytes(text)
            .err()
            .unwrap_or_else(|| panic!("{text:?} should fail"));
        assert_eq!(e.line, line, "{text:?}: {e}");
        // The message stops at the NUL (printf's %.*s); the line and the error are what count.
        assert!(e.message.starts_with("bad address '"), "{text:?}: {e}");
    }
}

#[test]
fn port_and_icmp_errors() {
    for bad in [
        "65536",
        "x",
        "1-",
        "-1",
        "1-2-3",
        "+80",
        "99999999999999999999",
        "80,81",
    ] {
        assert_err(
            &format!("drop udp src-port {bad}\n"),
            1,
            &format!("bad port '{bad}'"),
        );
    }
    assert_err("drop udp dst-port 5-4\n", 1, "port range 5-4 is reversed");
    assert_err("drop icmp icmp-type 256\n", 1, "bad icmp type '256'");
    assert_err("drop icmp icmp-type -1\n", 1, "bad icmp type '-1'");
    assert_err(
        "drop tcp icmp-type 8\n",
        1,
        "icmp-type needs icmp or icmpv6",
    );
    assert_err("drop icmp-type 8\n", 1, "icmp-type needs icmp or icmpv6");
    assert_err(
        "drop icmp icmp-type\n",
        1,
        "missing value after 'icmp-type'",
    );
    assert_err(
        "drop icmp icmp-type 1 icmp-type 2\n",
        1,
        "'icmp-type' given twice",
    );
}

#[test]
fn structure_errors() {
    assert_err("allow tcp\n", 1, "unknown action 'allow'");
    assert_err("tcp drop\n", 1, "unknown action 'tcp'");
    assert_err(
        "drop src 1.2.3.4 tcp\n",
        1,
        "'tcp' must come right after the action",
    );
    assert_err(
        "drop tcp udp\n",
        1,
        "'udp' must come right after the action",
    );
    assert_err("drop tcp src 1.2.3.4 src 1.2.3.5\n", 1, "'src' given twice");
    assert_err("drop dst ::1 dst ::2\n", 1, "'dst' given twice");
    assert_err("drop tcp drop\n", 1, "unknown keyword 'drop'");
    assert_err("drop TCP\n", 1, "unknown keyword 'TCP'");
    assert_err("default\n", 1, "missing value after 'default'");
    assert_err("default maybe\n", 1, "bad default verdict 'maybe'");
    assert_err(
        "default drop now\n",
        1,
        "unexpected 'now' after the default verdict",
    );
    assert_err("accept default drop\n", 1, "unknown keyword 'default'");
    // Only spaces and tabs separate tokens: a CRLF file is refused.
    assert_err("accept\r\n", 1, "unknown action 'accept\r'");
    // Left to right, each keyword: twice, missing value, bad value, needed proto.
    assert_err("drop dst-port 90-80\n", 1, "port range 90-80 is reversed");
    assert_err("drop dst-port\n", 1, "missing value after 'dst-port'");
    assert_err(
        "drop src 1.1.1.1 bogus dst x\n",
        1,
        "unknown keyword 'bogus'",
    );
}

#[test]
fn parse_error_display() {
    let e = err("\nallow\n");
    assert_eq!(e.to_string(), "line 2: unknown action 'allow'");
    let _: &dyn std::error::Error = &e;
}

// ---- decisions ---------------------------------------------------------------

#[test]
fn ipv4_tcp_udp_icmp() {
    let r = rules(
        "drop tcp dst-port 23\n\
         accept udp src-port 1000-2000 dst 192.168.0.0/16\n\
         drop icmp icmp-type 8\n\
         drop udp\n\
         default accept\n",
    );
    assert_eq!(
        r.decide(&ipv4(TCP, A, B, &tcp(40000, 23))),
        hit(0, Verdict::Drop)
    );
    assert_eq!(
        r.decide(&ipv4(TCP, A, B, &tcp(23, 22))),
        miss(Verdict::Accept)
    );
    assert_eq!(
        r.decide(&ipv4(UDP, A, B, &udp(1000, 9))),
        hit(1, Verdict::Accept)
    );
    assert_eq!(
        r.decide(&ipv4(UDP, A, B, &udp(2000, 9))),
        hit(1, Verdict::Accept)
    );
    assert_eq!(
        r.decide(&ipv4(UDP, A, B, &udp(2001, 9))),
        hit(3, Verdict::Drop)
    );
    assert_eq!(
        r.decide(&ipv4(UDP, B, A, &udp(1500, 9))),
        hit(3, Verdict::Drop)
    );
    assert_eq!(r.decide(&ipv4(ICMP, A, B, &icmp(8))), hit(2, Verdict::Drop));
    assert_eq!(r.decide(&ipv4(ICMP, A, B, &icmp(0))), miss(Verdict::Accept));
    assert_eq!(r.decide(&ipv4(47, A, B, &[0; 4])), miss(Verdict::Accept));
}

#[test]
fn first_matching_rule_wins_and_prefixes_mask_host_bits() {
    let r = rules(
        "accept src 10.1.2.3/8\n\
         drop src 10.0.0.1\n\
         drop dst 192.168.1.20/31\n\
         default drop\n",
    );
    assert_eq!(
        r.decide(&ipv4(TCP, [10, 9, 9, 9], B, &tcp(1, 2))),
        hit(0, Verdict::Accept)
    );
    assert_eq!(
        r.decide(&ipv4(TCP, [11, 0, 0, 1], B, &tcp(1, 2))),
        hit(2, Verdict::Drop)
    );
    assert_eq!(
        r.decide(&ipv4(TCP, [11, 0, 0, 1], [192, 168, 1, 21], &tcp(1, 2))),
        hit(2, Verdict::Drop)
    );
    assert_eq!(
        r.decide(&ipv4(TCP, [11, 0, 0, 1], [192, 168, 1, 22], &tcp(1, 2))),
        miss(Verdict::Drop)
    );
    // a /13: 10.8.0.0 - 10.15.255.255
    let r = rules("drop dst 10.12.0.0/13\n");
    assert_eq!(
        r.decide(&ipv4(UDP, A, [10, 15, 255, 255], &udp(1, 1))),
        hit(0, Verdict::Drop)
    );
    assert_eq!(
        r.decide(&ipv4(UDP, A, [10, 16, 0, 0], &udp(1, 1))),
        miss(Verdict::Accept)
    );
    assert_eq!(
        r.decide(&ipv4(UDP, A, [10, 7, 255, 255], &udp(1, 1))),
        miss(Verdict::Accept)
    );
}

#[test]
fn families_never_cross() {
    let r = rules("drop src 0.0.0.0/0\ndrop icmp\naccept dst ::/0\ndefault drop\n");
    let p6 = ipv6(TCP, "2001:db8::1", "2001:db8::2", &tcp(1, 2));
    assert_eq!(r.decide(&p6), hit(2, Verdict::Accept));
    assert_eq!(
        r.decide(&ipv4(TCP, A, B, &tcp(1, 2))),
        hit(0, Verdict::Drop)
    );
    // ::ffff:10.0.0.1 is an IPv6 address: it never matches IPv4 packets
    let r = rules("drop src ::ffff:10.0.0.1\n");
    assert_eq!(
        r.decide(&ipv4(TCP, A, B, &tcp(1, 2))),
        miss(Verdict::Accept)
    );
}

#[test]
fn icmp_only_in_its_own_family() {
    let r = rules("drop icmp icmp-type 128\ndrop icmpv6 icmp-type 8\ndrop icmp\n");
    // ICMPv6 inside IPv4 and ICMP inside IPv6: proto matches, no type
    assert_eq!(
        r.decide(&ipv4(ICMPV6, A, B, &icmp(8))),
        miss(Verdict::Accept)
    );
    assert_eq!(
        r.decide(&ipv6(ICMP, "::1", "::2", &icmp(128))),
        hit(2, Verdict::Drop)
    );
    let r = rules("drop icmpv6 icmp-type 128\n");
    assert_eq!(
        r.decide(&ipv6(ICMPV6, "::1", "::2", &icmp(128))),
        hit(0, Verdict::Drop)
    );
    assert_eq!(
        r.decide(&ipv6(ICMPV6, "::1", "::2", &icmp(129))),
        miss(Verdict::Accept)
    );
    // ICMP region shorter than 4 bytes: malformed (but ICMP in IPv6 has no L4 fields)
    assert_eq!(
        r.decide(&ipv6(ICMPV6, "::1", "::2", &[128, 0, 0])),
        malformed(Verdict::Accept)
    );
    assert_eq!(
        r.decide(&ipv4(ICMP, A, B, &[8, 0, 0])),
        malformed(Verdict::Accept)
    );
    assert_eq!(
        r.decide(&ipv6(ICMP, "::1", "::2", &[8])),
        miss(Verdict::Accept)
    );
}

#[test]
fn ipv6_extension_headers() {
    let r = rules(
        "drop tcp dst-port 80 src 2001:db8::/32\ndrop tcp\ndrop udp dst 2001:db8:ffff::/127\n",
    );
    let t = tcp(5555, 80);
    let hbh_dst = cat(&[&ext(60, 0), &ext(43, 1), &ext(TCP, 0), &t]);
    assert_eq!(
        r.decide(&ipv6(0, "2001:db8::1", "::2", &hbh_dst)),
        hit(0, Verdict::Drop)
    );
    assert_eq!(
        r.decide(&ipv6(0, "2001:db9::1", "::2", &hbh_dst)),
        hit(1, Verdict::Drop)
    );
    let with_ah = cat(&[&ah(TCP, 4), &t]);
    assert_eq!(
        r.decide(&ipv6(51, "2001:db8::1", "::2", &with_ah)),
        hit(0, Verdict::Drop)
    );
    let u = cat(&[&ext(UDP, 0), &udp(1, 2)]);
    assert_eq!(
        r.decide(&ipv6(60, "::1", "2001:db8:ffff::1", &u)),
        hit(2, Verdict::Drop)
    );
    assert_eq!(
        r.decide(&ipv6(60, "::1", "2001:db8:ffff::2", &u)),
        miss(Verdict::Accept)
    );
    // No next header (59) and ESP (50) end the walk without L4 fields.
    let r = rules("drop tcp dst-port 80\ndrop src ::1\n");
    assert_eq!(
        r.decide(&ipv6(59, "::1", "::2", &[])),
        hit(1, Verdict::Drop)
    );
    assert_eq!(r.decide(&ipv6(50, "::3", "::2", &t)), miss(Verdict::Accept));
}

#[test]
fn ipv6_eight_extension_headers_ok_ninth_malformed() {
    let r = rules("drop tcp dst-port 80\n");
    let mut eight = Vec::new();
    for i in 0..8 {
        eight.extend(ext(if i == 7 { TCP } else { 60 }, 0));
    }
    eight.extend(tcp(1, 80));
    assert_eq!(
        r.decide(&ipv6(60, "::1", "::2", &eight)),
        hit(0, Verdict::Drop)
    );
    let mut nine = Vec::new();
    for i in 0..9 {
        nine.extend(ext(if i == 8 { TCP } else { 60 }, 0));
    }
    nine.extend(tcp(1, 80));
    assert_eq!(
        r.decide(&ipv6(60, "::1", "::2", &nine)),
        malformed(Verdict::Accept)
    );
}

#[test]
fn ipv6_extension_headers_out_of_bounds() {
    let r = rules("default drop\naccept\n");
    // a header that names TCP next, but no bytes are left for it
    assert_eq!(
        r.decide(&ipv6(0, "::1", "::2", &ext(TCP, 0))),
        malformed(Verdict::Drop)
    );
    // header length points past the region end
    let mut h = ext(59, 0);
    h[1] = 1; // claims 16 bytes, has 8
    assert_eq!(
        r.decide(&ipv6(0, "::1", "::2", &h)),
        malformed(Verdict::Drop)
    );
    // fewer than 2 bytes for next + len, fewer than 8 for a fragment header
    assert_eq!(
        r.decide(&ipv6(0, "::1", "::2", &[59])),
        malformed(Verdict::Drop)
    );
    assert_eq!(
        r.decide(&ipv6(44, "::1", "::2", &frag6(59, 0, true)[..7])),
        malformed(Verdict::Drop)
    );
    // an extension header ending exactly at the region end is fine
    assert_eq!(
        r.decide(&ipv6(0, "::1", "::2", &ext(59, 0))),
        hit(0, Verdict::Accept)
    );
    // the region ends at 40 + payload length even when more bytes follow
    let mut p = ipv6(0, "::1", "::2", &ext(59, 0));
    p[4..6].copy_from_slice(&4u16.to_be_bytes());
    assert_eq!(r.decide(&p), malformed(Verdict::Drop));
}

#[test]
fn fragments() {
    let r = rules("drop udp dst-port 53\ndrop udp src 10.0.0.1\naccept\n");
    // IPv4 first fragment (MF set, offset 0) has ports
    let first = ipv4_frag(UDP, A, B, 0x2000, &udp(1, 53));
    assert_eq!(r.decide(&first), hit(0, Verdict::Drop));
    // later fragment: proto and addresses still match, ports never do
    let later = ipv4_frag(UDP, A, B, 0x2000 | 185, &udp(1, 53));
    assert_eq!(r.decide(&later), hit(1, Verdict::Drop));
    let later_short = ipv4_frag(UDP, [1, 1, 1, 1], B, 3, &[0xab]);
    assert_eq!(r.decide(&later_short), hit(2, Verdict::Accept));

    let r = rules("drop udp dst-port 53\ndrop udp\n");
    let f0 = cat(&[&frag6(UDP, 0, true), &udp(1, 53)]);
    assert_eq!(
        r.decide(&ipv6(44, "::1", "::2", &f0)),
        hit(0, Verdict::Drop)
    );
    let f1 = cat(&[&frag6(UDP, 1, false), &[1, 2, 3]]);
    assert_eq!(
        r.decide(&ipv6(44, "::1", "::2", &f1)),
        hit(1, Verdict::Drop)
    );
    // a later fragment after a hop-by-hop header, then rubbish: walk stops
    let f2 = cat(&[&ext(44, 0), &frag6(60, 7, false), &[0xff; 3]]);
    let r = rules("drop udp\ndrop\n");
    assert_eq!(r.decide(&ipv6(0, "::1", "::2", &f2)), hit(1, Verdict::Drop));
}

#[test]
fn truncated_and_malformed() {
    let r = rules("drop tcp\ndefault drop\n");
    let d = malformed(Verdict::Drop);
    assert_eq!(r.decide(&[]), d);
    assert_eq!(r.decide(&[0x45]), d);
    assert_eq!(r.decide(&[0x55; 40]), d); // version 5
    assert_eq!(r.decide(&[0x00; 40]), d);
    let p = ipv4(TCP, A, B, &tcp(1, 2));
    assert_eq!(r.decide(&p[..19]), d);
    // ihl < 20
    let mut q = p.clone();
    q[0] = 0x44;
    assert_eq!(r.decide(&q), d);
    // ihl > len
    let mut q = p[..24].to_vec();
    q[0] = 0x47;
    assert_eq!(r.decide(&q), d);
    // total < ihl
    let mut q = p.clone();
    q[2..4].copy_from_slice(&19u16.to_be_bytes());
    assert_eq!(r.decide(&q), d);
    // TCP region shorter than 20 (cut by total length, not by the buffer)
    let mut q = p.clone();
    q[2..4].copy_from_slice(&39u16.to_be_bytes());
    assert_eq!(r.decide(&q), d);
    assert_eq!(r.decide(&p[..39]), d);
    // UDP < 8
    assert_eq!(r.decide(&ipv4(UDP, A, B, &udp(1, 2)[..7])), d);
    // IPv6 shorter than 40, and TCP cut short
    let p6 = ipv6(TCP, "::1", "::2", &tcp(1, 2));
    assert_eq!(r.decide(&p6[..39]), d);
    assert_eq!(r.decide(&p6[..59]), d);
    // ICMP proto other than its family, with no bytes at all: fine
    assert_eq!(r.decide(&ipv4(ICMPV6, A, B, &[])), miss(Verdict::Drop));
}

#[test]
fn cut_by_copy_range_is_not_malformed() {
    let r = rules("drop tcp dst-port 443\n");
    let mut p = ipv4(TCP, A, B, &[tcp(1, 443), vec![0; 1400]].concat());
    assert_eq!(r.decide(&p[..40]), hit(0, Verdict::Drop));
    // trailing bytes beyond the total length are ignored
    p.truncate(40);
    p[2..4].copy_from_slice(&40u16.to_be_bytes());
    p.extend_from_slice(&[0xee; 30]);
    assert_eq!(r.decide(&p), hit(0, Verdict::Drop));
    let p6 = ipv6(TCP, "::1", "::2", &[tcp(1, 443), vec![0; 1400]].concat());
    assert_eq!(r.decide(&p6[..60]), hit(0, Verdict::Drop));
}

#[test]
fn ipv4_options_shift_the_l4_header() {
    let r = rules("drop tcp dst-port 80\n");
    let mut p = ipv4(TCP, A, B, &[vec![1u8; 8], tcp(1, 80)].concat());
    p[0] = 0x47; // ihl 28: 8 bytes of options (NOP)
    assert_eq!(r.decide(&p), hit(0, Verdict::Drop));
}

#[test]
fn rules_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Rules>();
    let r = std::sync::Arc::new(rules("drop tcp dst-port 22\n"));
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let r = r.clone();
            std::thread::spawn(move || r.decide(&ipv4(TCP, A, B, &tcp(1, 22))))
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), hit(0, Verdict::Drop));
    }
}

#[test]
fn c_main_check_and_usage_errors() {
    let dir = std::env::temp_dir().join(format!("nfqb-ctest-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("good.rules");
    let bad = dir.join("bad.rules");
    std::fs::write(&good, "drop tcp dst-port 23\n").unwrap();
    std::fs::write(&bad, "drop tcp dstport 23\n").unwrap();
    let run = |args: &[&str]| c_main(std::iter::once("c-filter").chain(args.iter().copied()));
    let g = good.to_str().unwrap();
    let b = bad.to_str().unwrap();
    assert_eq!(run(&["--check", "--rules", g]), 0);
    assert_eq!(run(&["--rules", b, "--check"]), 2);
    assert_eq!(run(&["--check", "--rules", "/nonexistent/nfqb.rules"]), 2);
    assert_eq!(run(&["--queue", "65536", "--check"]), 2);
    assert_eq!(run(&["--copy-range", "0", "--check"]), 2);
    assert_eq!(run(&["--queue-maxlen", "0", "--check"]), 2);
    assert_eq!(run(&["--queue-maxlen", "4294967295", "--check"]), 0);
    assert_eq!(run(&["--rcvbuf", "0", "--check"]), 0);
    assert_eq!(run(&["--bogus"]), 2);
    assert_eq!(run(&["--que", "1", "--check"]), 2);
    assert_eq!(run(&["--check", "--check"]), 2);
    assert_eq!(run(&["--check", "extra"]), 2);
    assert_eq!(run(&["--check", "--stats"]), 2);
    // The tuning flags (docs/filter-spec.md, "Command line").
    assert_eq!(
        run(&["--gso", "--batch", "32", "--queues", "2", "--check"]),
        0
    );
    assert_eq!(run(&["--batch", "65535", "--queues", "64", "--check"]), 0);
    assert_eq!(run(&["--queue", "65472", "--queues", "64", "--check"]), 0);
    assert_eq!(run(&["--batch", "0", "--check"]), 2);
    assert_eq!(run(&["--batch", "65536", "--check"]), 2);
    assert_eq!(run(&["--queues", "0", "--check"]), 2);
    assert_eq!(run(&["--queues", "65", "--check"]), 2);
    assert_eq!(run(&["--queue", "65535", "--queues", "2", "--check"]), 2);
    assert_eq!(run(&["--gso=1", "--check"]), 2);
    assert_eq!(run(&["--gso", "--gso", "--check"]), 2);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Every prefix and many random mutations of valid packets: never a crash, and
/// under `NFQB_SANITIZE=1` never a read outside the (exactly sized) buffer.
#[test]
#[allow(clippy::unnecessary_to_owned)] // to_vec: an exactly sized heap copy for ASan
fn decide_survives_prefixes_and_mutations() {
    let r = rules(
        "drop tcp dst-port 80 src 10.0.0.0/8\ndrop icmpv6 icmp-type 128\ndrop udp src ::/0\n",
    );
    let seeds = [
        ipv4(TCP, A, B, &tcp(1, 80)),
        ipv4_frag(UDP, A, B, 0x2000, &udp(1, 2)),
        ipv6(
            0,
            "::1",
            "::2",
            &cat(&[&ext(44, 0), &frag6(UDP, 0, true), &udp(1, 2)]),
        ),
        ipv6(
            51,
            "::1",
            "::2",
            &cat(&[&ah(60, 1), &ext(ICMPV6, 0), &icmp(128)]),
        ),
    ];
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for seed in &seeds {
        for n in 0..=seed.len() {
            let _ = r.decide(&seed[..n].to_vec());
        }
        for _ in 0..20_000 {
            let mut p = seed.clone();
            for _ in 0..(next() % 4 + 1) {
                let i = (next() as usize) % p.len();
                p[i] = next() as u8;
            }
            let n = (next() as usize) % (p.len() + 1);
            let d = r.decide(&p[..n].to_vec());
            if d.malformed {
                assert_eq!((d.rule, d.verdict), (None, Verdict::Accept));
            }
        }
    }
}
