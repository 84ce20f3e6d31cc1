//! cargo-fuzz target `differential`: see `nfqb_fuzz::check::differential_packet`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| nfqb_fuzz::check::differential_packet(data));
