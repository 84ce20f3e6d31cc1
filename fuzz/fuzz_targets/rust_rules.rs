//! cargo-fuzz target `rust_rules`: see `nfqb_fuzz::check::rust_rules_one`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| nfqb_fuzz::check::rust_rules_one(data));
