//! Safe Rust face of the C reference filter.
//!
//! Why it exists: the C rules parser and decision (csrc/decide.c) are the
//! reference the Rust filter is tested against, so tests (here and in
//! rust-impl's differential test) call them through this API, and the
//! `c-filter` binary starts the C entry point through [`c_main`]. The C verdict-message
//! encoder is exposed as [`encode_verdict`] (tests and micro-benchmarks). All `unsafe`
//! lives in the `ffi` module.
#![deny(unsafe_code)]

#[allow(unsafe_code)] // the one module with FFI calls; see its soundness note
mod ffi;

use std::ffi::OsStr;
use std::fmt;

/// The verdict for a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Accept,
    Drop,
}

/// What the C decision function said about one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub verdict: Verdict,
    /// 0-based index of the first matching rule.
    pub rule: Option<usize>,
    /// The headers could not be parsed (the default verdict applies).
    pub malformed: bool,
}

/// A rules file the C parser refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based line; 0 when not tied to a line (out of memory).
    pub line: usize,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for ParseError {}

/// A parsed rule set, owned by the C side. `Send + Sync`: immutable once parsed.
pub struct Rules {
    raw: ffi::RawRules,
}

impl Rules {
    /// Parses the text of a rules file with the C parser.
    pub fn parse(text: &str) -> Result<Rules, ParseError> {
        Self::parse_bytes(text.as_bytes())
    }

    /// As [`Rules::parse`], for raw file bytes (the C filter reads bytes).
    pub fn parse_bytes(text: &[u8]) -> Result<Rules, ParseError> {
        ffi::RawRules::parse(text)
            .map(|raw| Rules { raw })
            .map_err(|(line, message)| ParseError { line, message })
    }

    /// Number of rules (comments, blank lines and `default` excluded).
    pub fn len(&self) -> usize {
        self.raw.count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The verdict when no rule matches.
    pub fn default_verdict(&self) -> Verdict {
        if self.raw.default_accepts() {
            Verdict::Accept
        } else {
            Verdict::Drop
        }
    }

    /// 1-based file line of rule `i`.
    pub fn rule_line(&self, i: usize) -> Option<usize> {
        (i < self.len()).then(|| self.raw.line(i))
    }

    /// Rule `i`'s tokens joined by single spaces (as in the stats JSON).
    pub fn rule_text(&self, i: usize) -> Option<String> {
        self.raw.text(i)
    }

    /// The decision for one packet (bytes from the IP header on).
    pub fn decide(&self, packet: &[u8]) -> Decision {
        let d = self.raw.decide(packet);
        Decision {
            verdict: if d.verdict == 1 {
                Verdict::Accept
            } else {
                Verdict::Drop
            },
            rule: usize::try_from(d.rule).ok(),
            malformed: d.malformed != 0,
        }
    }
}

impl fmt::Debug for Rules {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rules")
            .field("len", &self.len())
            .field("default", &self.default_verdict())
            .finish()
    }
}

/// Length of a verdict message (`NFQB_VERDICT_MSG_LEN`): nlmsghdr, nfgenmsg and the
/// `NFQA_VERDICT_HDR` attribute.
pub const VERDICT_MSG_LEN: usize = ffi::VERDICT_MSG_LEN;

/// The netlink verdict message the C filter sends (csrc/verdict.c, built with
/// libnetfilter_queue's `nfq_nlmsg_put` + `nfq_nlmsg_verdict_put`):
/// `NFQNL_MSG_VERDICT_BATCH` (every waiting packet of `queue` with id <= `id`) when
/// `batch`, else `NFQNL_MSG_VERDICT` for packet `id`. Returns the bytes written to `buf`.
#[inline]
pub fn encode_verdict(
    queue: u16,
    id: u32,
    verdict: Verdict,
    batch: bool,
    buf: &mut [u8; VERDICT_MSG_LEN],
) -> &[u8] {
    let n = ffi::encode_verdict(queue, id, verdict == Verdict::Accept, batch, buf);
    assert_eq!(n, VERDICT_MSG_LEN, "nfqb_encode_verdict failed");
    &buf[..n]
}

/// Runs the C filter (`nfqb_main`) with `args` as its argv, `args[0]` being the
/// program name, and returns its exit code. Calls are serialised (getopt state
/// and signal handlers are process-wide).
pub fn c_main<I, S>(args: I) -> i32
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    ffi::run_main(args)
}
