#!/usr/bin/env python3
"""Capture the packet corpus of the decision micro-benchmark.

Why it exists: rust-impl/benches/decision.rs times the filters' decision on real
packets; this script is how the captured ones were made, so they can be made
again.  It generates traffic on `lo` in a network namespace of its own (MTU 1500,
documentation addresses), captures it with an AF_PACKET socket (link header
removed, incoming copies only) and prints Rust source on stdout:

    sudo unshare --net python3 scripts/microbench-capture.py > rust-impl/benches/captured.rs

A packet longer than HEAD bytes whose remaining bytes are all one value (bulk
payload) is stored as its first HEAD bytes, its length and that byte; the
benchmark rebuilds it byte for byte.  Needs root (namespace, raw sockets).
"""
import os
import select
import socket
import struct
import subprocess
import sys
import threading
import time

HEAD = 96
ETH_P_ALL = 0x0003
PACKET_HOST = 0
IPV6_DSTOPTS = 59  # linux/in6.h, sticky option


def sh(*args):
    subprocess.run(args, check=True)


def setup():
    sh("ip", "link", "set", "lo", "up")
    sh("ip", "link", "set", "lo", "mtu", "1500")
    for a in ("10.1.2.3/32", "192.0.2.10/32", "198.51.100.7/32"):
        sh("ip", "addr", "add", a, "dev", "lo")
    for a in ("2001:db8::1/128", "2001:db8::10/128", "fd00::5/128"):
        sh("ip", "-6", "addr", "add", a, "dev", "lo", "nodad")


class Capture:
    def __init__(self):
        self.s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        self.s.bind(("lo", 0))

    def drain(self):
        """Packets seen so far (IP header on), incoming copies only."""
        out = []
        while select.select([self.s], [], [], 0.2)[0]:
            frame, addr = self.s.recvfrom(70000)
            if addr[2] == PACKET_HOST:
                out.append(frame[14:])
        return out


def tcp_bulk(family, server, client, port, payload, count, dstopts=None):
    """`count` writes of `payload` with TCP_NODELAY: one full-size segment each."""
    ls = socket.socket(family, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((server, port))
    ls.listen(1)
    got = bytearray()

    def serve():
        c, _ = ls.accept()
        while len(got) < len(payload) * count:
            d = c.recv(65536)
            if not d:
                break
            got.extend(d)
        c.close()

    t = threading.Thread(target=serve)
    t.start()
    c = socket.socket(family, socket.SOCK_STREAM)
    if dstopts is not None:
        c.setsockopt(socket.IPPROTO_IPV6, IPV6_DSTOPTS, dstopts)
    c.bind((client, 0))
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    c.connect((server, port))
    for _ in range(count):
        c.sendall(payload)
        time.sleep(0.02)
    t.join()
    c.close()
    ls.close()


def syn_to_closed(family, server, client, port):
    c = socket.socket(family, socket.SOCK_STREAM)
    c.bind((client, 0))
    try:
        c.connect((server, port))
    except ConnectionRefusedError:
        pass
    c.close()


def udp(family, server, client, port, payload, dstopts=None):
    r = socket.socket(family, socket.SOCK_DGRAM)
    r.bind((server, port))
    s = socket.socket(family, socket.SOCK_DGRAM)
    if dstopts is not None:
        s.setsockopt(socket.IPPROTO_IPV6, IPV6_DSTOPTS, dstopts)
    s.bind((client, 0))
    s.sendto(payload, (server, port))
    r.recv(2048)
    s.close()
    r.close()


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def ping4(dst):
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    body = struct.pack("!HH", 0x1234, 1) + b"ping"
    hdr = struct.pack("!BBH", 8, 0, 0)
    cs = checksum(hdr + body)
    s.sendto(struct.pack("!BBH", 8, 0, cs) + body, (dst, 0))
    time.sleep(0.05)
    s.close()


def ping6(dst):
    s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
    # The kernel fills in the ICMPv6 checksum of raw ICMPv6 sockets.
    s.sendto(struct.pack("!BBHHH", 128, 0, 0, 0x1234, 1) + b"ping", (dst, 0))
    time.sleep(0.05)
    s.close()


def pick(pkts, pred, what):
    for p in pkts:
        if pred(p):
            return p
    sys.exit(f"capture: no packet for {what}")


def v4(p):
    return p[0] >> 4 == 4


def v4_tcp(p, sport=None, dport=None, plen=None, flags=None):
    if not v4(p) or p[9] != 6:
        return False
    ihl = (p[0] & 15) * 4
    sp, dp = struct.unpack("!HH", p[ihl:ihl + 4])
    fl = p[ihl + 13]
    return ((dport is None or dp == dport) and (sport is None or sp == sport)
            and (plen is None or len(p) == plen) and (flags is None or fl == flags))


def v6_walk(p):
    """(proto, l4 offset, ext headers) of an IPv6 packet."""
    nxt, off, ext = p[6], 40, []
    while nxt in (0, 43, 60):
        ext.append(nxt)
        nxt, off = p[off], off + (p[off + 1] + 1) * 8
    return nxt, off, ext


def v6_tcp(p, sport=None, dport=None, plen=None, flags=None, ext=None):
    if p[0] >> 4 != 6:
        return False
    proto, off, e = v6_walk(p)
    if proto != 6:
        return False
    sp, dp = struct.unpack("!HH", p[off:off + 4])
    fl = p[off + 13]
    return ((dport is None or dp == dport) and (sport is None or sp == sport)
            and (plen is None or len(p) == plen) and (flags is None or fl == flags)
            and (ext is None or e == ext))


def main():
    setup()
    cap = Capture()
    # PadN filling a 8-byte destination options header (next, len 0, PadN 4).
    dstopts = bytes([0, 0, 1, 4, 0, 0, 0, 0])

    tcp_bulk(socket.AF_INET, "192.0.2.10", "10.1.2.3", 5201, b"A" * 1448, 4)
    syn_to_closed(socket.AF_INET, "198.51.100.7", "10.1.2.3", 23)
    udp(socket.AF_INET, "127.0.0.1", "127.0.0.1", 9500, b"x" * 20)
    udp(socket.AF_INET, "192.0.2.10", "10.1.2.3", 53, bytes(range(40)))
    ping4("192.0.2.10")
    tcp_bulk(socket.AF_INET6, "2001:db8::10", "2001:db8::1", 5201, b"B" * 1428, 4)
    tcp_bulk(socket.AF_INET6, "fd00::5", "2001:db8::1", 443, b"C" * 1420, 2, dstopts)
    udp(socket.AF_INET6, "2001:db8::10", "2001:db8::1", 53, bytes(range(40)), dstopts)
    ping6("2001:db8::10")
    pkts = cap.drain()

    chosen = [
        ("IPV4_TCP_BULK_DATA", "IPv4 TCP data segment 10.1.2.3 -> 192.0.2.10:5201, 1448-byte payload (ACK|PSH)",
         pick(pkts, lambda p: v4_tcp(p, dport=5201, plen=1500), "v4 bulk")),
        ("IPV4_TCP_BULK_ACK", "IPv4 TCP pure ACK 192.0.2.10:5201 -> 10.1.2.3 (timestamps)",
         pick(pkts, lambda p: v4_tcp(p, sport=5201, plen=52, flags=0x10), "v4 ack")),
        ("IPV4_TCP_SYN_TELNET", "IPv4 TCP SYN 10.1.2.3 -> 198.51.100.7:23",
         pick(pkts, lambda p: v4_tcp(p, dport=23, flags=0x02), "v4 syn 23")),
        ("IPV4_TCP_RST_TELNET", "IPv4 TCP RST/ACK 198.51.100.7:23 -> 10.1.2.3",
         pick(pkts, lambda p: v4_tcp(p, sport=23, flags=0x14), "v4 rst 23")),
        ("IPV4_UDP_9500", "IPv4 UDP 127.0.0.1 -> 127.0.0.1:9500, 20-byte payload",
         pick(pkts, lambda p: v4(p) and p[9] == 17 and p[22:24] == struct.pack("!H", 9500), "udp 9500")),
        ("IPV4_UDP_DNS", "IPv4 UDP 10.1.2.3 -> 192.0.2.10:53, 40-byte payload",
         pick(pkts, lambda p: v4(p) and p[9] == 17 and p[22:24] == struct.pack("!H", 53), "udp 53")),
        ("IPV4_ICMP_ECHO_REQUEST_DOC", "IPv4 ICMP echo request -> 192.0.2.10",
         pick(pkts, lambda p: v4(p) and p[9] == 1 and p[20] == 8, "echo request")),
        ("IPV4_ICMP_ECHO_REPLY_DOC", "IPv4 ICMP echo reply from 192.0.2.10",
         pick(pkts, lambda p: v4(p) and p[9] == 1 and p[20] == 0, "echo reply")),
        ("IPV6_TCP_BULK_DATA", "IPv6 TCP data segment [2001:db8::1] -> [2001:db8::10]:5201, 1428-byte payload",
         pick(pkts, lambda p: v6_tcp(p, dport=5201, plen=1500), "v6 bulk")),
        ("IPV6_TCP_BULK_ACK", "IPv6 TCP pure ACK [2001:db8::10]:5201 -> [2001:db8::1]",
         pick(pkts, lambda p: v6_tcp(p, sport=5201, plen=72, flags=0x10), "v6 ack")),
        ("IPV6_DSTOPTS_TCP_DATA", "IPv6 destination options (PadN) then TCP data [2001:db8::1] -> [fd00::5]:443, 1420-byte payload",
         pick(pkts, lambda p: v6_tcp(p, dport=443, ext=[60]) and len(p) > 1000, "v6 dstopts tcp")),
        ("IPV6_DSTOPTS_UDP_DNS", "IPv6 destination options (PadN) then UDP [2001:db8::1] -> [2001:db8::10]:53",
         pick(pkts, lambda p: p[0] >> 4 == 6 and v6_walk(p)[0] == 17 and v6_walk(p)[2] == [60], "v6 dstopts udp")),
        ("IPV6_ICMPV6_ECHO_REQUEST_DOC", "IPv6 ICMPv6 echo request -> 2001:db8::10",
         pick(pkts, lambda p: p[0] >> 4 == 6 and v6_walk(p)[0] == 58 and p[40] == 128, "echo6 request")),
    ]

    print("// @generated by scripts/microbench-capture.py (see there how to run it); do not edit.")
    print("//! Packets captured on `lo` (MTU 1500) in a network namespace, link header removed.")
    print("//! A bulk packet is stored as its first bytes, its length and its payload fill byte.")
    print()
    print("use super::corpus::Captured;")
    for name, doc, p in chosen:
        print()
        print(f"/// {doc}.")
        head, fill = p, None
        if len(p) > HEAD and len(set(p[HEAD:])) == 1:
            head, fill = p[:HEAD], p[HEAD]
        print(f"pub const {name}: Captured = Captured {{")
        print("    head: &[")
        for i in range(0, len(head), 16):
            print("        " + " ".join(f"0x{b:02x}," for b in head[i:i + 16]))
        print("    ],")
        print(f"    len: {len(p)},")
        print(f"    fill: 0x{(fill if fill is not None else 0):02x},")
        print("};")


if __name__ == "__main__":
    if os.geteuid() != 0:
        sys.exit("capture: run as root inside `unshare --net`")
    main()
