//! UDP header view (RFC 768).
//!
//! Why this module exists: the filter matches UDP ports; this view guarantees the 8-byte
//! header is present before a port is read (spec, parsing step 4).

use super::{be16, Error, Result};

mod field {
    use core::ops::Range;

    pub const SRC_PORT: Range<usize> = 0..2;
    pub const DST_PORT: Range<usize> = 2..4;
    pub const LENGTH: Range<usize> = 4..6;
    pub const CHECKSUM: Range<usize> = 6..8;
}

/// Length of the UDP header.
pub const HEADER_LEN: usize = field::CHECKSUM.end;

/// A read-only view of a UDP datagram (its header at least).
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

    /// At least the 8-byte header. The length field is not checked against the buffer.
    pub fn check_len(&self) -> Result<()> {
        if self.buffer.as_ref().len() < HEADER_LEN {
            Err(Error::Truncated)
        } else {
            Ok(())
        }
    }

    /// Consumes the view, returning the buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Source port.
    pub fn src_port(&self) -> u16 {
        be16(self.buffer.as_ref(), field::SRC_PORT.start)
    }

    /// Destination port.
    pub fn dst_port(&self) -> u16 {
        be16(self.buffer.as_ref(), field::DST_PORT.start)
    }

    /// Length field (header plus data, as sent).
    pub fn len(&self) -> u16 {
        be16(self.buffer.as_ref(), field::LENGTH.start)
    }

    /// Whether the length field says the datagram carries nothing at all (not even a header).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Checksum field.
    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), field::CHECKSUM.start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::testdata::*;

    #[test]
    fn real_ipv4_udp() {
        let p = Packet::new_checked(&IPV4_UDP[20..]).unwrap();
        assert_eq!(p.src_port(), 41145);
        assert_eq!(p.dst_port(), 5353);
        assert_eq!(p.len(), 13);
        assert_eq!(p.checksum(), 0xfe20);
    }

    #[test]
    fn real_ipv6_udp_after_hop_by_hop() {
        let p = Packet::new_checked(&IPV6_HOP_BY_HOP_UDP[48..]).unwrap();
        assert_eq!(p.src_port(), 38384);
        assert_eq!(p.dst_port(), 5354);
        assert_eq!(p.len(), 11);
    }

    #[test]
    fn needs_eight_bytes() {
        assert_eq!(
            Packet::new_checked(&IPV4_UDP[20..27]).unwrap_err(),
            Error::Truncated
        );
        assert!(Packet::new_checked(&IPV4_UDP[20..28]).is_ok());
    }
}
