//! A JWKS document as fetched from the issuer, and each key in it.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(parsed) = filter_core::jwk::parse_jwks(data) {
        for kid in parsed.keys.kids() {
            let _ = parsed.keys.find(kid).map(|key| key.thumbprint());
        }
    }
});
