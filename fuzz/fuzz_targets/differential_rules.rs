//! cargo-fuzz target `differential_rules`: see `nfqb_fuzz::check::differential_rules`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| nfqb_fuzz::check::differential_rules(data));
