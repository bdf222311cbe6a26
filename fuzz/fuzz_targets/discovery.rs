//! An OpenID discovery document as fetched from the issuer.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(url) = filter_core::discovery::jwks_uri(data, "https://issuer.local/") {
        let _ = (url.authority(), url.path_and_query(), url.normalized());
    }
});
