//! IPv4 header view (RFC 791).
//!
//! Why this module exists: it is the only place that knows where the IPv4 fields live and
//! which length checks make the rest of the header safe to read (spec, parsing step 2).

use core::ops::Range;
use std::net::Ipv4Addr;

use super::{be16, Error, Result};

mod field {
    use core::ops::Range;

    pub const VER_IHL: usize = 0;
    pub const LENGTH: Range<usize> = 2..4;
    pub const FLG_OFF: Range<usize> = 6..8;
    pub const PROTOCOL: usize = 9;
    pub const SRC_ADDR: Range<usize> = 12..16;
    pub const DST_ADDR: Range<usize> = 16..20;
}

/// Length of an IPv4 header without options.
pub const HEADER_LEN: usize = field::DST_ADDR.end;

/// A read-only view of an IPv4 packet, possibly cut short by the copy range.
#[derive(Debug, Clone, Copy)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checking it; accessors may panic on a short buffer.
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wraps a buffer after [`check_len`](Self::check_len).
    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Checks, in the spec's order: at least 20 bytes, version 4, `20 <= ihl <= len`,
    /// `total_len >= ihl`. A total length beyond the buffer is allowed: the copy range
    /// may have cut the packet.
    pub fn check_len(&self) -> Result<()> {
        let data = self.buffer.as_ref();
        if data.len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        if data[field::VER_IHL] >> 4 != 4 {
            return Err(Error::Malformed);
        }
        let ihl = usize::from(data[field::VER_IHL] & 0x0f) * 4;
        if ihl < HEADER_LEN || ihl > data.len() {
            return Err(Error::Malformed);
        }
        let total = usize::from(be16(data, field::LENGTH.start));
        // 0: a packet over 64 KiB (BIG TCP, GSO) whose length is not in the header.
        if total != 0 && total < ihl {
            return Err(Error::Malformed);
        }
        Ok(())
    }

    /// Consumes the view, returning the buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The version field (4 for a checked packet).
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_IHL] >> 4
    }

    /// Header length in bytes (IHL * 4).
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::VER_IHL] & 0x0f) * 4
    }

    /// The total length field: header plus payload as sent.
    pub fn total_len(&self) -> u16 {
        be16(self.buffer.as_ref(), field::LENGTH.start)
    }

    /// Fragment offset in 8-byte units (the low 13 bits of the flags/offset word).
    pub fn frag_offset(&self) -> u16 {
        be16(self.buffer.as_ref(), field::FLG_OFF.start) & 0x1fff
    }

    /// Whether "more fragments" is set.
    pub fn more_frags(&self) -> bool {
        be16(self.buffer.as_ref(), field::FLG_OFF.start) & 0x2000 != 0
    }

    /// True for a fragment other than the first: it carries no L4 header.
    pub fn is_later_fragment(&self) -> bool {
        self.frag_offset() != 0
    }

    /// The protocol field (next-level protocol number).
    pub fn protocol(&self) -> u8 {
        self.buffer.as_ref()[field::PROTOCOL]
    }

    /// Source address as raw bytes.
    pub fn src_bytes(&self) -> [u8; 4] {
        addr_bytes(&self.buffer.as_ref()[field::SRC_ADDR])
    }

    /// Destination address as raw bytes.
    pub fn dst_bytes(&self) -> [u8; 4] {
        addr_bytes(&self.buffer.as_ref()[field::DST_ADDR])
    }

    /// Source address.
    pub fn src_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.src_bytes())
    }

    /// Destination address.
    pub fn dst_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.dst_bytes())
    }

    /// Byte range of the L4 region inside the buffer: `ihl .. min(total_len, len)`, or
    /// `ihl .. len` when the total length is 0 (over 64 KiB, not in the header).
    pub fn payload_range(&self) -> Range<usize> {
        let len = self.buffer.as_ref().len();
        let end = match usize::from(self.total_len()) {
            0 => len,
            total => total.min(len),
        };
        self.header_len()..end
    }

    /// The L4 region (what follows the header, up to the total length or the copy range).
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.payload_range()]
    }
}

fn addr_bytes(s: &[u8]) -> [u8; 4] {
    let mut out = [0u8; 4];
    out.copy_from_slice(s);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::ip_proto;
    use crate::wire::testdata::*;

    #[test]
    fn real_tcp_syn() {
        let p = Packet::new_checked(&IPV4_TCP_SYN[..]).unwrap();
        assert_eq!(p.version(), 4);
        assert_eq!(p.header_len(), 20);
        assert_eq!(p.total_len(), 60);
        assert_eq!(p.protocol(), ip_proto::TCP);
        assert_eq!(p.src_addr(), Ipv4Addr::LOCALHOST);
        assert_eq!(p.dst_addr(), Ipv4Addr::LOCALHOST);
        assert_eq!(p.frag_offset(), 0);
        assert!(!p.is_later_fragment());
        assert_eq!(p.payload().len(), 40);
        assert_eq!(p.payload_range(), 20..60);
    }

    #[test]
    fn real_udp_and_icmp() {
        let p = Packet::new_checked(&IPV4_UDP[..]).unwrap();
        assert_eq!(p.protocol(), ip_proto::UDP);
        assert_eq!(p.payload().len(), 13);
        let p = Packet::new_checked(&IPV4_ICMP_ECHO_REQUEST[..]).unwrap();
        assert_eq!(p.protocol(), ip_proto::ICMP);
        assert_eq!(p.payload()[0], 8);
    }

    #[test]
    fn real_fragments() {
        let first = Packet::new_checked(&IPV4_UDP_FIRST_FRAGMENT[..]).unwrap();
        assert!(first.more_frags());
        assert!(!first.is_later_fragment());
        // total length 1500, buffer cut to 72: the region ends at the buffer.
        assert_eq!(first.total_len(), 1500);
        assert_eq!(first.payload_range(), 20..72);

        let later = Packet::new_checked(&IPV4_UDP_LATER_FRAGMENT[..]).unwrap();
        assert!(!later.more_frags());
        assert_eq!(later.frag_offset(), 185);
        assert!(later.is_later_fragment());
    }

    #[test]
    fn total_len_shorter_than_buffer_bounds_the_payload() {
        // An Ethernet-padded frame: trailing bytes beyond total_len are not L4 data.
        let mut padded = IPV4_TCP_RST.to_vec();
        padded.extend_from_slice(&[0u8; 6]);
        let p = Packet::new_checked(&padded[..]).unwrap();
        assert_eq!(p.payload_range(), 20..40);
    }

    #[test]
    fn rejects_bad_lengths() {
        assert_eq!(
            Packet::new_checked(&IPV4_TCP_SYN[..19]).unwrap_err(),
            Error::Truncated
        );
        let mut b = IPV4_TCP_SYN;
        b[0] = 0x44; // ihl 16 < 20
        assert_eq!(Packet::new_checked(&b[..]).unwrap_err(), Error::Malformed);
        b[0] = 0x4f; // ihl 60 > 40-byte buffer
        assert_eq!(Packet::new_checked(&b[..40]).unwrap_err(), Error::Malformed);
        let mut b = IPV4_TCP_SYN;
        b[2] = 0;
        b[3] = 19; // total < ihl
        assert_eq!(Packet::new_checked(&b[..]).unwrap_err(), Error::Malformed);
        b[3] = 20; // total == ihl: valid, empty L4 region
        assert_eq!(Packet::new_checked(&b[..]).unwrap().payload().len(), 0);
        let mut b = IPV4_TCP_SYN;
        b[0] = 0x65;
        assert_eq!(Packet::new_checked(&b[..]).unwrap_err(), Error::Malformed);
    }

    #[test]
    fn options_are_skipped() {
        // IHL 6: one 4-byte option (NOP NOP NOP EOL) before the UDP header.
        let mut b = vec![0x46, 0, 0, 37];
        b.extend_from_slice(&IPV4_UDP[4..20]);
        b.extend_from_slice(&[1, 1, 1, 0]);
        b.extend_from_slice(&IPV4_UDP[20..]);
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.header_len(), 24);
        assert_eq!(p.payload(), &IPV4_UDP[20..]);
    }
}
