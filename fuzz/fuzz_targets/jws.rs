//! Compact JWS: access tokens and DPoP proofs as the filter decodes them.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = filter_core::jws::decode(text);
    let _ = filter_core::jws::decode_compact(text);
    let _ = filter_core::dpop::decode_proof(text);
});
