#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| specgate_fuzz::checks::portable(data));
