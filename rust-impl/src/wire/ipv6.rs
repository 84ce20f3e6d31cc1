//! IPv6 header view (RFC 8200) and the extension-header walk.
//!
//! Why this module exists: IPv6 hides the transport protocol behind a chain of extension
//! headers whose lengths come from the packet itself. This module owns the offsets of the
//! fixed header and of the extension headers, and the bounded walk of the spec's parsing
//! step 3, so the rest of the filter only sees "protocol X at offset Y".

use core::ops::Range;
use std::net::Ipv6Addr;

use super::{be16, ip_proto, Error, Result};

mod field {
    use core::ops::Range;

    pub const VER_TC_FLOW: Range<usize> = 0..4;
    pub const LENGTH: Range<usize> = 4..6;
    pub const NXT_HDR: usize = 6;
    pub const HOP_LIMIT: usize = 7;
    pub const SRC_ADDR: Range<usize> = 8..24;
    pub const DST_ADDR: Range<usize> = 24..40;
}

/// Fields of the extension headers, relative to the start of each header.
mod ext_field {
    use core::ops::Range;

    /// Next header: first byte of every extension header.
    pub const NXT_HDR: usize = 0;
    /// Header length (units depend on the header type).
    pub const LENGTH: usize = 1;
    /// Fragment header: fragment offset (high 13 bits) and flags.
    pub const FRAG_OFF: Range<usize> = 2..4;

    /// Bytes needed to read `NXT_HDR` and `LENGTH`.
    pub const MIN_LEN: usize = 2;
    /// Size of a fragment header.
    pub const FRAG_LEN: usize = 8;
}

/// Length of the fixed IPv6 header.
pub const HEADER_LEN: usize = field::DST_ADDR.end;

/// The walk gives up (malformed) on a ninth extension header.
pub const MAX_EXT_HEADERS: usize = 8;

/// A read-only view of an IPv6 packet, possibly cut short by the copy range.
#[derive(Debug, Clone, Copy)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

/// Where the extension-header walk ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpperLayer {
    /// The last "next header" value: the transport protocol (or 59, 50, ...).
    pub protocol: u8,
    /// Offset of the upper-layer header in the buffer; `offset <= region end`.
    pub offset: usize,
    /// A fragment header with a non-zero offset was met: no L4 header follows.
    pub later_fragment: bool,
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

    /// Checks that the fixed header is there and the version is 6. A payload length
    /// beyond the buffer is allowed: the copy range may have cut the packet.
    pub fn check_len(&self) -> Result<()> {
        let data = self.buffer.as_ref();
        if data.len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        if data[field::VER_TC_FLOW.start] >> 4 != 6 {
            return Err(Error::Malformed);
        }
        Ok(())
    }

    /// Consumes the view, returning the buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The version field (6 for a checked packet).
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_TC_FLOW.start] >> 4
    }

    /// The payload length field (everything after the fixed header, as sent).
    pub fn payload_len(&self) -> u16 {
        be16(self.buffer.as_ref(), field::LENGTH.start)
    }

    /// The next-header field of the fixed header.
    pub fn next_header(&self) -> u8 {
        self.buffer.as_ref()[field::NXT_HDR]
    }

    /// The hop limit.
    pub fn hop_limit(&self) -> u8 {
        self.buffer.as_ref()[field::HOP_LIMIT]
    }

    /// Source address as raw bytes.
    pub fn src_bytes(&self) -> [u8; 16] {
        addr_bytes(&self.buffer.as_ref()[field::SRC_ADDR])
    }

    /// Destination address as raw bytes.
    pub fn dst_bytes(&self) -> [u8; 16] {
        addr_bytes(&self.buffer.as_ref()[field::DST_ADDR])
    }

    /// Source address.
    pub fn src_addr(&self) -> Ipv6Addr {
        Ipv6Addr::from(self.src_bytes())
    }

    /// Destination address.
    pub fn dst_addr(&self) -> Ipv6Addr {
        Ipv6Addr::from(self.dst_bytes())
    }

    /// End of the region after the fixed header: `min(40 + payload_len, len)`, or `len`
    /// when the payload length is 0 (jumbo / BIG TCP: the length is not in the header).
    pub fn region_end(&self) -> usize {
        let len = self.buffer.as_ref().len();
        match usize::from(self.payload_len()) {
            0 => len,
            payload => (HEADER_LEN + payload).min(len),
        }
    }

    /// Walks the extension headers (spec, parsing step 3).
    ///
    /// Hop-by-hop (0), routing (43) and destination options (60) are `(len + 1) * 8` bytes,
    /// AH (51) is `(len + 2) * 4`, a fragment header (44) is 8 bytes and stops the walk when
    /// its offset is non-zero. Anything else is the upper layer. Every read is checked
    /// against the region end; a header that does not fit, an offset past the region end,
    /// or a ninth extension header is `Error::Malformed`.
    pub fn upper_layer(&self) -> Result<UpperLayer> {
        let data = self.buffer.as_ref();
        let end = self.region_end();
        let mut next = self.next_header();
        let mut off = HEADER_LEN;
        let mut seen = 0usize;
        loop {
            let step = match next {
                ip_proto::HOP_BY_HOP | ip_proto::IPV6_ROUTING | ip_proto::IPV6_DEST_OPTS => {
                    ExtStep::Generic { unit: 8, extra: 1 }
                }
                ip_proto::AH => ExtStep::Generic { unit: 4, extra: 2 },
                ip_proto::IPV6_FRAGMENT => ExtStep::Fragment,
                _ => break,
            };
            seen += 1;
            if seen > MAX_EXT_HEADERS {
                return Err(Error::Malformed);
            }
            match step {
                ExtStep::Generic { unit, extra } => {
                    if off + ext_field::MIN_LEN > end {
                        return Err(Error::Malformed);
                    }
                    next = data[off + ext_field::NXT_HDR];
                    off += (usize::from(data[off + ext_field::LENGTH]) + extra) * unit;
                    if off > end {
                        return Err(Error::Malformed);
                    }
                }
                ExtStep::Fragment => {
                    if off + ext_field::FRAG_LEN > end {
                        return Err(Error::Malformed);
                    }
                    next = data[off + ext_field::NXT_HDR];
                    let frag_offset = be16(data, off + ext_field::FRAG_OFF.start) >> 3;
                    off += ext_field::FRAG_LEN;
                    if frag_offset != 0 {
                        return Ok(UpperLayer {
                            protocol: next,
                            offset: off,
                            later_fragment: true,
                        });
                    }
                }
            }
        }
        Ok(UpperLayer {
            protocol: next,
            offset: off,
            later_fragment: false,
        })
    }

    /// The L4 region for a walk result: `offset .. region end`.
    pub fn upper_range(&self, upper: &UpperLayer) -> Range<usize> {
        let end = self.region_end();
        upper.offset.min(end)..end
    }
}

enum ExtStep {
    /// `next` at byte 0, length at byte 1, size `(len + extra) * unit`.
    Generic { unit: usize, extra: usize },
    /// 8 bytes, offset in bytes 2..4.
    Fragment,
}

fn addr_bytes(s: &[u8]) -> [u8; 16] {
    let mut out = [0u8; 16];
    out.copy_from_slice(s);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::testdata::*;

    fn walk(bytes: &[u8]) -> Result<UpperLayer> {
        Packet::new_checked(bytes)?.upper_layer()
    }

    #[test]
    fn real_tcp_syn() {
        let p = Packet::new_checked(&IPV6_TCP_SYN[..]).unwrap();
        assert_eq!(p.version(), 6);
        assert_eq!(p.payload_len(), 40);
        assert_eq!(p.next_header(), ip_proto::TCP);
        assert_eq!(p.hop_limit(), 64);
        assert_eq!(p.src_addr(), Ipv6Addr::LOCALHOST);
        assert_eq!(p.dst_addr(), Ipv6Addr::LOCALHOST);
        let up = p.upper_layer().unwrap();
        assert_eq!(
            up,
            UpperLayer {
                protocol: ip_proto::TCP,
                offset: 40,
                later_fragment: false
            }
        );
        assert_eq!(p.upper_range(&up), 40..80);
    }

    #[test]
    fn real_hop_by_hop_then_udp() {
        let p = Packet::new_checked(&IPV6_HOP_BY_HOP_UDP[..]).unwrap();
        assert_eq!(p.next_header(), ip_proto::HOP_BY_HOP);
        let up = p.upper_layer().unwrap();
        assert_eq!(up.protocol, ip_proto::UDP);
        assert_eq!(up.offset, 48);
        assert!(!up.later_fragment);
    }

    #[test]
    fn real_fragments() {
        let first = walk(&IPV6_UDP_FIRST_FRAGMENT).unwrap();
        assert_eq!(first.protocol, ip_proto::UDP);
        assert_eq!(first.offset, 48);
        assert!(!first.later_fragment);
        let later = walk(&IPV6_UDP_LATER_FRAGMENT).unwrap();
        assert_eq!(later.protocol, ip_proto::UDP);
        assert_eq!(later.offset, 48);
        assert!(later.later_fragment);
    }

    #[test]
    fn rejects_short_or_wrong_version() {
        assert_eq!(walk(&IPV6_UDP[..39]).unwrap_err(), Error::Truncated);
        let mut b = IPV6_UDP;
        b[0] = 0x40;
        assert_eq!(walk(&b).unwrap_err(), Error::Malformed);
    }

    /// A 40-byte header whose payload is `ext` and first next-header is `first`.
    fn with_ext(first: u8, ext: &[u8]) -> Vec<u8> {
        let mut b = IPV6_UDP[..40].to_vec();
        b[4..6].copy_from_slice(&(ext.len() as u16).to_be_bytes());
        b[6] = first;
        b.extend_from_slice(ext);
        b
    }

    #[test]
    fn header_must_fit_in_region() {
        // Hop-by-hop claiming 16 bytes, only 8 present.
        let b = with_ext(0, &[17, 1, 0, 0, 0, 0, 0, 0]);
        assert_eq!(walk(&b).unwrap_err(), Error::Malformed);
        // Only one byte of an extension header.
        let b = with_ext(60, &[17]);
        assert_eq!(walk(&b).unwrap_err(), Error::Malformed);
        // A fragment header needs 8 bytes.
        let b = with_ext(44, &[17, 0, 0, 0, 0, 0]);
        assert_eq!(walk(&b).unwrap_err(), Error::Malformed);
        // The region end is the payload length, not the buffer: bytes past it don't count.
        let mut b = with_ext(0, &[17, 0, 0, 0, 0, 0, 0, 0]);
        b[5] = 1; // payload length 1
        assert_eq!(walk(&b).unwrap_err(), Error::Malformed);
    }

    #[test]
    fn header_ending_exactly_at_region_end_is_fine() {
        let b = with_ext(0, &[59, 0, 1, 4, 0, 0, 0, 0]);
        let up = walk(&b).unwrap();
        assert_eq!(up.protocol, ip_proto::IPV6_NO_NEXT);
        assert_eq!(up.offset, 48);
    }

    #[test]
    fn ah_length_unit() {
        // AH with len 1: (1 + 2) * 4 = 12 bytes, then TCP.
        let mut ext = vec![6, 1];
        ext.extend_from_slice(&[0; 10]);
        let b = with_ext(51, &ext);
        let up = walk(&b).unwrap();
        assert_eq!(up.protocol, ip_proto::TCP);
        assert_eq!(up.offset, 52);
    }

    #[test]
    fn eight_extension_headers_ok_nine_malformed() {
        let mut ext = Vec::new();
        for _ in 0..7 {
            ext.extend_from_slice(&[60, 0, 1, 4, 0, 0, 0, 0]);
        }
        ext.extend_from_slice(&[17, 0, 1, 4, 0, 0, 0, 0]);
        let up = walk(&with_ext(60, &ext)).unwrap();
        assert_eq!(up.protocol, ip_proto::UDP);
        assert_eq!(up.offset, 40 + 64);

        let mut ext = Vec::new();
        for _ in 0..8 {
            ext.extend_from_slice(&[60, 0, 1, 4, 0, 0, 0, 0]);
        }
        ext.extend_from_slice(&[17, 0, 1, 4, 0, 0, 0, 0]);
        assert_eq!(walk(&with_ext(60, &ext)).unwrap_err(), Error::Malformed);
    }

    #[test]
    fn esp_and_no_next_end_the_walk() {
        let up = walk(&with_ext(50, &[0; 8])).unwrap();
        assert_eq!((up.protocol, up.offset), (ip_proto::ESP, 40));
        let up = walk(&with_ext(59, &[])).unwrap();
        assert_eq!((up.protocol, up.offset), (ip_proto::IPV6_NO_NEXT, 40));
    }
}
