//! The strict JSON parser every token, proof, key set and configuration goes through.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = filter_core::json::parse_object(data);
});
