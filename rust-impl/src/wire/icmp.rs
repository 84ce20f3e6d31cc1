//! ICMP (RFC 792) and ICMPv6 (RFC 4443) header view.
//!
//! Why this module exists: the filter matches the ICMP type; both protocols start with
//! the same type, code, checksum layout, so one view serves both (spec, parsing step 4).

use super::{be16, Error, Result};

mod field {
    use core::ops::Range;

    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: Range<usize> = 2..4;
}

/// Bytes the filter needs: type, code and checksum.
pub const HEADER_LEN: usize = field::CHECKSUM.end;

/// A read-only view of an ICMP or ICMPv6 message (its first four bytes at least).
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

    /// At least type, code and checksum.
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

    /// Message type.
    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[field::TYPE]
    }

    /// Message code.
    pub fn msg_code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
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
    fn real_icmpv4() {
        let p = Packet::new_checked(&IPV4_ICMP_ECHO_REQUEST[20..]).unwrap();
        assert_eq!((p.msg_type(), p.msg_code()), (8, 0));
        assert_eq!(p.checksum(), 0x06fa);
        let p = Packet::new_checked(&IPV4_ICMP_ECHO_REPLY[20..]).unwrap();
        assert_eq!((p.msg_type(), p.msg_code()), (0, 0));
        let p = Packet::new_checked(&IPV4_ICMP_PORT_UNREACH[20..]).unwrap();
        assert_eq!((p.msg_type(), p.msg_code()), (3, 3));
    }

    #[test]
    fn real_icmpv6() {
        let p = Packet::new_checked(&IPV6_ICMPV6_ECHO_REQUEST[40..]).unwrap();
        assert_eq!((p.msg_type(), p.msg_code()), (128, 0));
        let p = Packet::new_checked(&IPV6_ICMPV6_ECHO_REPLY[40..]).unwrap();
        assert_eq!(p.msg_type(), 129);
    }

    #[test]
    fn needs_four_bytes() {
        assert_eq!(
            Packet::new_checked(&IPV4_ICMP_ECHO_REQUEST[20..23]).unwrap_err(),
            Error::Truncated
        );
        assert!(Packet::new_checked(&IPV4_ICMP_ECHO_REQUEST[20..24]).is_ok());
    }
}
