//! Raw bindings to csrc/decide.h, csrc/verdict.h and csrc/filter.c, and the only `unsafe` code
//! of this crate.
//!
//! Why it exists: lib.rs exposes a safe API for the tests and the differential
//! test; keeping every FFI call here keeps the soundness argument in one place.
//!
//! Soundness:
//! - `RawRules` owns the pointer returned by `nfqb_rules_parse` (non-null on
//!   success) and frees it exactly once in `Drop`; it is neither `Clone` nor
//!   `Copy`, so no double free.
//! - Text is passed as pointer + length (`nfqb_rules_parse` does not need a NUL
//!   terminator) and the error buffer as pointer + capacity; the C side writes
//!   at most `errlen` bytes, NUL-terminated.
//! - `nfqb_decide` reads only `pkt[0..len)` (every read is length-checked in
//!   decide.c) and does not keep the pointer.
//! - The rule set is never written after parsing and decide.c has no global
//!   mutable state, so sharing `&RawRules` between threads (`Sync`) and moving it
//!   (`Send`) are sound.
//! - `nfqb_encode_verdict` writes at most `buflen` bytes to `buf` (nothing when `buflen` is
//!   below 32), needs no alignment and keeps no pointer; it has no state.
//! - `nfqb_main` uses getopt's process-wide globals and installs signal
//!   handlers, so `c_main` serialises calls with a mutex.

use std::ffi::{c_char, c_int, c_uint, c_void, CStr, CString, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::ptr::NonNull;
use std::sync::Mutex;

/// Mirrors `NFQB_ERR_LEN` in decide.h.
const ERR_LEN: usize = 1280;

#[repr(C)]
struct NfqbRules {
    _opaque: [u8; 0],
}

#[repr(C)]
#[derive(Clone, Copy)]
pub(crate) struct NfqbDecision {
    pub verdict: c_int,
    pub rule: c_int,
    pub malformed: c_int,
}

extern "C" {
    fn nfqb_rules_parse(
        text: *const c_char,
        len: usize,
        out: *mut *mut NfqbRules,
        err_line: *mut c_uint,
        err: *mut c_char,
        errlen: usize,
    ) -> c_int;
    fn nfqb_rules_free(r: *mut NfqbRules);
    fn nfqb_rules_count(r: *const NfqbRules) -> usize;
    fn nfqb_rules_line(r: *const NfqbRules, i: usize) -> c_uint;
    fn nfqb_rules_text(r: *const NfqbRules, i: usize) -> *const c_char;
    fn nfqb_rules_default(r: *const NfqbRules) -> c_int;
    fn nfqb_decide(r: *const NfqbRules, pkt: *const u8, len: usize) -> NfqbDecision;
    fn nfqb_encode_verdict(
        queue: u16,
        id: u32,
        verdict: c_int,
        batch: c_int,
        buf: *mut c_void,
        buflen: usize,
    ) -> usize;
    fn nfqb_main(argc: c_int, argv: *mut *mut c_char) -> c_int;
}

/// Mirrors `NFQB_VERDICT_MSG_LEN` in verdict.h.
pub(crate) const VERDICT_MSG_LEN: usize = 32;

/// Encodes the verdict message into `buf`; returns its length (32).
#[inline]
pub(crate) fn encode_verdict(
    queue: u16,
    id: u32,
    accept: bool,
    batch: bool,
    buf: &mut [u8; VERDICT_MSG_LEN],
) -> usize {
    // SAFETY: `buf` is valid for writes of its 32 bytes, which is `buflen`; the C side
    // writes at most `buflen` bytes, needs no alignment and keeps no pointer.
    unsafe {
        nfqb_encode_verdict(
            queue,
            id,
            c_int::from(accept),
            c_int::from(batch),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    }
}

/// An owned, immutable C rule set.
pub(crate) struct RawRules(NonNull<NfqbRules>);

// SAFETY: see the module comment: immutable after parsing, no global state.
unsafe impl Send for RawRules {}
unsafe impl Sync for RawRules {}

impl RawRules {
    /// Parses `text`; on failure returns (1-based line or 0, message).
    pub(crate) fn parse(text: &[u8]) -> Result<RawRules, (usize, String)> {
        let mut out: *mut NfqbRules = std::ptr::null_mut();
        let mut line: c_uint = 0;
        let mut err = [0 as c_char; ERR_LEN];
        // SAFETY: all pointers are valid for the lengths passed.
        let rc = unsafe {
            nfqb_rules_parse(
                text.as_ptr().cast(),
                text.len(),
                &mut out,
                &mut line,
                err.as_mut_ptr(),
                err.len(),
            )
        };
        match NonNull::new(out) {
            Some(p) if rc == 0 => Ok(RawRules(p)),
            _ => {
                // SAFETY: the C side NUL-terminates within ERR_LEN.
                let msg = unsafe { CStr::from_ptr(err.as_ptr()) };
                Err((line as usize, msg.to_string_lossy().into_owned()))
            }
        }
    }

    pub(crate) fn count(&self) -> usize {
        // SAFETY: self.0 is a live rule set.
        unsafe { nfqb_rules_count(self.0.as_ptr()) }
    }

    pub(crate) fn line(&self, i: usize) -> usize {
        // SAFETY: out-of-range i is handled by the C side (returns 0).
        unsafe { nfqb_rules_line(self.0.as_ptr(), i) as usize }
    }

    pub(crate) fn text(&self, i: usize) -> Option<String> {
        // SAFETY: the string is NUL-terminated and lives as long as self.
        unsafe {
            let p = nfqb_rules_text(self.0.as_ptr(), i);
            (!p.is_null()).then(|| CStr::from_ptr(p).to_string_lossy().into_owned())
        }
    }

    pub(crate) fn default_accepts(&self) -> bool {
        // SAFETY: self.0 is a live rule set.
        unsafe { nfqb_rules_default(self.0.as_ptr()) == 1 }
    }

    pub(crate) fn decide(&self, packet: &[u8]) -> NfqbDecision {
        // SAFETY: the C side reads only packet[0..len).
        unsafe { nfqb_decide(self.0.as_ptr(), packet.as_ptr(), packet.len()) }
    }
}

impl Drop for RawRules {
    fn drop(&mut self) {
        // SAFETY: owned pointer from nfqb_rules_parse, freed once.
        unsafe { nfqb_rules_free(self.0.as_ptr()) }
    }
}

static MAIN_LOCK: Mutex<()> = Mutex::new(());

/// Runs the C filter's `nfqb_main` with `args` as argv (args[0] = program name).
pub(crate) fn run_main<I, S>(args: I) -> i32
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut owned = Vec::new();
    for a in args {
        match CString::new(a.as_ref().as_bytes()) {
            Ok(c) => owned.push(c),
            Err(_) => {
                eprintln!("c-filter: an argument contains a NUL byte");
                return 2;
            }
        }
    }
    if owned.is_empty() {
        owned.push(CString::from(c"c-filter"));
    }
    let mut argv: Vec<*mut c_char> = owned.iter().map(|c| c.as_ptr().cast_mut()).collect();
    argv.push(std::ptr::null_mut());
    let _guard = MAIN_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    // SAFETY: argv is a NULL-terminated array of NUL-terminated strings that
    // outlive the call; getopt may permute the pointer array (ours), never the
    // strings' bytes.
    unsafe { nfqb_main((argv.len() - 1) as c_int, argv.as_mut_ptr()) }
}
