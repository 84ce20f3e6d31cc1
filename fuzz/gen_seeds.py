#!/usr/bin/env python3
"""Writes the seed corpora under fuzz/corpus/<target>/ (run from anywhere; idempotent).

Packet targets (rust_decide, differential, fuzz_decide): byte 0 picks a rules file of
fuzz/rules/ (byte % count), the rest is the packet. Seeds are the real captures of
rust-impl/src/wire/testdata.rs (read from that file, not copied) and hand-built hostile
packets like those of rust-impl/tests/differential.rs, each under a rules file where it
matters. Rules targets (rust_rules, differential_rules, fuzz_rules): the files of
fuzz/rules/ plus bad files naming every error of the spec.

Crashing inputs found later go to fuzz/corpus/<target>/ too, by hand, named regress-*.
"""
import os
import re
import struct

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, "fuzz", "corpus")
PACKET_TARGETS = ["rust_decide", "differential", "fuzz_decide"]
RULES_TARGETS = ["rust_rules", "differential_rules", "fuzz_rules"]


def testdata():
    text = open(os.path.join(ROOT, "rust-impl/src/wire/testdata.rs")).read()
    out = {}
    for name, body in re.findall(r"pub const (\w+): \[u8; \d+\] = \[(.*?)\];", text, re.S):
        out[name] = bytes(int(b, 16) for b in re.findall(r"0x([0-9a-f]{2})", body))
    return out


def ipv4(proto, src, dst, l4, options=b"", frag=0, total=None):
    ihl = 20 + len(options)
    total = ihl + len(l4) if total is None else total
    h = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl // 4, 0, total, 0x1234, frag, 64, proto, 0,
                    bytes(src), bytes(dst))
    return h + options + l4


def ipv6(nxt, src, dst, payload, plen=None):
    plen = len(payload) if plen is None else plen
    return struct.pack("!IHBB16s16s", 0x60000000, plen, nxt, 64, bytes(src), bytes(dst)) + payload


def tcp(sport, dport):
    return struct.pack("!HHIIBBHHH", sport, dport, 1, 0, 5 << 4, 0x02, 65535, 0, 0)


def udp(sport, dport, data=b""):
    return struct.pack("!HHHH", sport, dport, 8 + len(data), 0) + data


def icmp(kind, code, rest=b""):
    return bytes([kind, code, 0, 0, 0, 0, 0, 0]) + rest


def ext(nxt, units):
    e = bytearray(8 * (units + 1))
    e[0], e[1] = nxt, units
    return bytes(e)


def frag6(nxt, offset, more):
    return struct.pack("!BBHI", nxt, 0, (offset << 3) | int(more), 0xabcd)


LO4, TEN, FAR = [127, 0, 0, 1], [10, 1, 2, 3], [192, 0, 2, 7]
LO6 = [0] * 15 + [1]
DB8 = [0x20, 0x01, 0x0d, 0xb8] + [0] * 11 + [1]
LL = [0xfe, 0x80] + [0] * 13 + [9]


def packet_seeds():
    td = testdata()
    seeds = {}
    # Real captures under the rules file that matches them most (index = byte 0).
    for i, (name, p) in enumerate(sorted(td.items())):
        seeds[f"real-{name.lower().replace('_', '-')}"] = bytes([i % 8]) + p
    good4 = ipv4(6, LO4, LO4, tcp(1234, 9999))
    good6 = ipv6(6, LO6, LO6, tcp(1234, 9999))
    built = {
        "v4-tcp-telnet": (1, ipv4(6, FAR, LO4, tcp(40000, 23))),
        "v4-udp-9000": (1, ipv4(17, LO4, LO4, udp(53, 9000, b"hello"))),
        "v4-from-10": (1, ipv4(6, TEN, LO4, tcp(1500, 80))),
        "v4-icmp-quoting-tcp": (6, ipv4(1, FAR, LO4, icmp(3, 1, ipv4(6, LO4, FAR, tcp(9999, 23))[:28]))),
        "v4-gre": (5, ipv4(47, LO4, LO4, bytes(8))),
        "v4-options-nop": (1, ipv4(6, LO4, LO4, tcp(1234, 23), options=b"\x01\x01\x01\x00")),
        "v4-options-40": (1, ipv4(6, LO4, LO4, tcp(1234, 23), options=b"\x01" * 40)),
        "v4-icmpv6-proto": (5, ipv4(58, LO4, LO4, icmp(1, 0))),
        "v4-udp-empty": (7, ipv4(17, LO4, LO4, udp(1, 9999))),
        "v4-first-fragment": (1, ipv4(6, FAR, LO4, tcp(1234, 23), frag=0x2000)),
        "v4-later-fragment": (1, ipv4(6, FAR, LO4, b"\xde" * 24, frag=185)),
        "v4-later-fragment-empty": (3, ipv4(17, TEN, LO4, b"", frag=0x2001)),
        "v4-first-fragment-8-bytes-tcp": (1, ipv4(6, FAR, LO4, b"\x00\x01\x00\x17" + bytes(4), frag=0x2000)),
        "zero-length": (0, b""),
        "one-byte": (0, b"\x45"),
        "v4-truncated-header": (0, good4[:19]),
        "v4-header-only": (1, good4[:20]),
        "v4-tcp-cut-30": (1, good4[:30]),
        "v4-ihl-4": (0, b"\x44" + good4[1:]),
        "v4-ihl-0": (0, b"\x40" + good4[1:]),
        "v4-ihl-15": (0, b"\x4f" + good4[1:]),
        "v4-total-lt-ihl": (0, good4[:2] + struct.pack("!H", 19) + good4[4:]),
        "v4-total-cuts-tcp": (0, good4[:2] + struct.pack("!H", 30) + good4[4:]),
        "v4-total-gt-buffer": (1, good4[:2] + struct.pack("!H", 1500) + good4[4:]),
        "v4-trailing": (1, good4 + b"\xff" * 16),
        "version-5": (0, b"\x55" + good4[1:]),
        "v4-udp-7-bytes": (7, ipv4(17, LO4, LO4, b"\x00\x35\x23\x28\x00\x07\x00")),
        "v4-icmp-3-bytes": (2, ipv4(1, LO4, LO4, b"\x08\x00\x00")),
        "v6-tcp-db8": (3, ipv6(6, LO6, DB8, tcp(1234, 23))),
        "v6-udp": (3, ipv6(17, DB8, LO6, udp(53, 9000, b"x"))),
        "v6-icmpv6-echo": (2, ipv6(58, LL, LO6, icmp(128, 0))),
        "v6-icmpv6-unreach": (5, ipv6(58, LL, LO6, icmp(1, 4, bytes(40)))),
        "v6-icmp-proto-1": (5, ipv6(1, LO6, LO6, icmp(8, 0))),
        "v6-no-next": (3, ipv6(59, LO6, LO6, b"")),
        "v6-esp": (3, ipv6(50, LO6, LO6, bytes(16))),
        "v6-hop-dst-rt-tcp": (3, ipv6(0, LO6, LO6, ext(60, 0) + ext(43, 1) + ext(6, 0) + tcp(1500, 22))),
        "v6-dst-udp": (3, ipv6(60, LO6, LO6, ext(17, 2) + udp(1, 9999))),
        "v6-first-fragment": (1, ipv6(44, LL, LO6, frag6(6, 0, True) + tcp(1000, 23))),
        "v6-later-fragment": (3, ipv6(44, LL, LO6, frag6(17, 100, False) + bytes(16))),
        "v6-ah-udp": (2, ipv6(51, LO6, LO6, bytes([17, 1]) + bytes(10) + udp(53, 53))),
        "v6-8-ext": (3, ipv6(60, LO6, LO6, b"".join(ext(17 if i == 7 else 60, 0) for i in range(8)) + udp(1, 2))),
        "v6-9-ext": (3, ipv6(60, LO6, LO6, b"".join(ext(17 if i == 8 else 60, 0) for i in range(9)) + udp(1, 2))),
        "v6-ext-past-end": (3, ipv6(0, LO6, LO6, ext(6, 3)[:8])),
        "v6-frag-truncated": (3, ipv6(44, LO6, LO6, b"\x06\x00\x00")),
        "v6-one-byte-ext": (3, ipv6(60, LO6, LO6, b"\x06")),
        "v6-truncated-header": (0, good6[:39]),
        "v6-tcp-cut": (3, good6[:50]),
        "v6-plen-0": (3, good6[:4] + b"\x00\x00" + good6[6:]),
        "v6-plen-gt-buffer": (3, good6[:4] + struct.pack("!H", 9000) + good6[6:]),
        "v6-icmpv6-3-bytes": (2, ipv6(58, LO6, LO6, b"\x80\x00\x00")),
        "v6-every-field-udp": (6, ipv6(17, [0x20, 0x01, 0x0d, 0xb8, 0xab, 0xcd] + [0] * 9 + [5],
                                       [0xfe, 0x80] + [0] * 13 + [1], udp(53, 5353))),
    }
    for name, (rules, p) in built.items():
        seeds[name] = bytes([rules]) + p
    return seeds


def rules_seeds():
    seeds = {}
    rules_dir = os.path.join(ROOT, "fuzz", "rules")
    for f in sorted(os.listdir(rules_dir)):
        seeds["file-" + f.removesuffix(".rules")] = open(os.path.join(rules_dir, f), "rb").read()
    bad = {
        "unknown-keyword": b"drop tcp dstport 23",
        "bad-address": b"accept\ndrop src 10.0.0.300",
        "v4-prefix-33": b"drop src 10.0.0.0/33",
        "v6-prefix-129": b"\n\ndrop dst ::1/129",
        "reversed-range": b"drop tcp dst-port 90-80",
        "port-65536": b"drop udp src-port 65536",
        "given-twice": b"drop tcp dst-port 1 dst-port 2",
        "port-needs-proto": b"drop dst-port 22",
        "icmp-type-needs-icmp": b"drop tcp icmp-type 3",
        "icmp-type-256": b"drop icmp icmp-type 256",
        "missing-value": b"# c\ndrop src",
        "default-twice": b"default drop\ndefault accept",
        "bad-default": b"default reject",
        "unknown-action": b"reject tcp",
        "proto-not-first": b"drop src 1.2.3.4 tcp",
        "line-too-long": b"drop " + b" " * 1100,
        "empty-port": b"drop tcp dst-port -",
        "garbage-after-default": b"default drop now",
        "v4-mapped-v6": b"accept src ::ffff:1.2.3.4/120 dst 1:2:3:4:5:6:7::/64\n",
        "crlf": b"drop tcp\r\naccept\r\n",
        "non-utf8": b"drop src \xff\xfe\n",
        "leading-zeros": b"drop tcp dst-port 0009-00010 src-port 000\naccept icmp icmp-type 008\n",
        "comment-glued": b"drop tcp#comment\naccept#\n",
    }
    for name, text in bad.items():
        seeds["text-" + name] = text
    return seeds


def write(target, seeds):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    for name, data in seeds.items():
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    for t in PACKET_TARGETS:
        write(t, packet_seeds())
    for t in RULES_TARGETS:
        write(t, rules_seeds())
    print("seeds written under", CORPUS)
