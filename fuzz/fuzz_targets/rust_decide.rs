//! cargo-fuzz target `rust_decide`: see `nfqb_fuzz::check::rust_decide_one`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| nfqb_fuzz::check::rust_decide_one(data));
