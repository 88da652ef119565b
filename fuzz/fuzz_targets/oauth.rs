//! libFuzzer target: `specgate_fuzz::checks::oauth` (see `fuzz/src/checks.rs`).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| specgate_fuzz::checks::oauth(data));
