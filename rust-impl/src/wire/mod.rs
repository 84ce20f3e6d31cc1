//! Zero-copy views of the packet headers the filter looks at.
//!
//! Why this module exists: the decision function must never read outside the bytes the
//! kernel copied, whatever those bytes claim. Each header format gets one `Packet<T>` view
//! whose `new_checked` validates the lengths once; after that every accessor is a plain,
//! in-bounds slice read and cannot panic. Field offsets are named ranges in a private
//! `field` module, as in smoltcp's `wire`.

pub mod icmp;
pub mod ipv4;
pub mod ipv6;
pub mod tcp;
pub mod udp;

#[cfg(test)]
pub(crate) mod testdata;

use core::fmt;

/// Why a buffer could not be viewed as a header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// The buffer is shorter than the fixed part of the header.
    Truncated,
    /// A length or version field is inconsistent with the buffer.
    Malformed,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Truncated => f.write_str("truncated header"),
            Error::Malformed => f.write_str("malformed header"),
        }
    }
}

impl std::error::Error for Error {}

/// Result of a wire-level check.
pub type Result<T> = core::result::Result<T, Error>;

/// IANA protocol numbers the filter knows by name.
pub mod ip_proto {
    pub const HOP_BY_HOP: u8 = 0;
    pub const ICMP: u8 = 1;
    pub const TCP: u8 = 6;
    pub const UDP: u8 = 17;
    pub const IPV6_ROUTING: u8 = 43;
    pub const IPV6_FRAGMENT: u8 = 44;
    pub const ESP: u8 = 50;
    pub const AH: u8 = 51;
    pub const ICMPV6: u8 = 58;
    pub const IPV6_NO_NEXT: u8 = 59;
    pub const IPV6_DEST_OPTS: u8 = 60;
}

/// Big-endian u16 at `at`; callers guarantee `at + 2 <= data.len()`.
#[inline]
pub(crate) fn be16(data: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([data[at], data[at + 1]])
}
