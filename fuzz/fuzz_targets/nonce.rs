//! A `DPoP` proof's `nonce`, checked against the filter's own.
#![no_main]
use filter_core::nonce::Nonces;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(nonces) = Nonces::new(&[7; 32], 60) else {
        return;
    };
    let now_ms = filter_fuzz::NOW * 1000;
    let _ = nonces.check(Some(text), now_ms);
    let issued = nonces.issue(now_ms);
    let _ = nonces.check(Some(&format!("{issued}{text}")), now_ms);
});
