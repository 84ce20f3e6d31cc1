//! TCP header view (RFC 9293).
//!
//! Why this module exists: the filter matches TCP ports; this view guarantees the 20-byte
//! fixed header is present before a port is read (spec, parsing step 4).

use super::{be16, Error, Result};

mod field {
    use core::ops::Range;

    pub const SRC_PORT: Range<usize> = 0..2;
    pub const DST_PORT: Range<usize> = 2..4;
    pub const SEQ_NUM: Range<usize> = 4..8;
    pub const ACK_NUM: Range<usize> = 8..12;
    pub const FLAGS: Range<usize> = 12..14;
    pub const WIN_SIZE: Range<usize> = 14..16;
    pub const CHECKSUM: Range<usize> = 16..18;
    pub const URGENT: Range<usize> = 18..20;
}

/// Length of a TCP header without options.
pub const HEADER_LEN: usize = field::URGENT.end;

/// Flag bits in the low byte of the flags word.
pub mod flags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
}

/// A read-only view of a TCP segment (its header at least).
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

    /// At least the 20-byte fixed header. The data offset is not checked: the spec
    /// reads ports only.
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

    /// Sequence number.
    pub fn seq_number(&self) -> u32 {
        u32::from_be_bytes(word(&self.buffer.as_ref()[field::SEQ_NUM]))
    }

    /// Acknowledgement number.
    pub fn ack_number(&self) -> u32 {
        u32::from_be_bytes(word(&self.buffer.as_ref()[field::ACK_NUM]))
    }

    /// Header length from the data offset field, in bytes (unchecked against the buffer).
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::FLAGS.start] >> 4) * 4
    }

    /// The flag bits (see [`flags`]).
    pub fn flags(&self) -> u8 {
        self.buffer.as_ref()[field::FLAGS.start + 1]
    }

    /// Window size.
    pub fn window_len(&self) -> u16 {
        be16(self.buffer.as_ref(), field::WIN_SIZE.start)
    }

    /// Checksum field.
    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), field::CHECKSUM.start)
    }
}

fn word(s: &[u8]) -> [u8; 4] {
    let mut out = [0u8; 4];
    out.copy_from_slice(s);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::testdata::*;

    #[test]
    fn real_ipv4_syn() {
        let p = Packet::new_checked(&IPV4_TCP_SYN[20..]).unwrap();
        assert_eq!(p.src_port(), 56448);
        assert_eq!(p.dst_port(), 9999);
        assert_eq!(p.seq_number(), 0x5b79_47df);
        assert_eq!(p.ack_number(), 0);
        assert_eq!(p.header_len(), 40);
        assert_eq!(p.flags(), flags::SYN);
        assert_eq!(p.window_len(), 0xffd7);
        assert_eq!(p.checksum(), 0xfe30);
    }

    #[test]
    fn real_ipv6_rst() {
        let p = Packet::new_checked(&IPV6_TCP_RST[40..]).unwrap();
        assert_eq!(p.src_port(), 9999);
        assert_eq!(p.dst_port(), 46566);
        assert_eq!(p.flags(), flags::RST | flags::ACK);
        assert_eq!(p.header_len(), 20);
    }

    #[test]
    fn needs_twenty_bytes() {
        assert_eq!(
            Packet::new_checked(&IPV4_TCP_RST[20..39]).unwrap_err(),
            Error::Truncated
        );
        assert!(Packet::new_checked(&IPV4_TCP_RST[20..40]).is_ok());
        // A bogus data offset does not matter: only the fixed header is read.
        let mut b = IPV4_TCP_RST;
        b[32] = 0xf0;
        assert_eq!(Packet::new_checked(&b[20..]).unwrap().dst_port(), 56448);
    }
}
