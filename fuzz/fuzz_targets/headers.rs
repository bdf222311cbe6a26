//! The `Authorization` header (first line) and the `DPoP` header lines (the rest).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some(lines) = filter_fuzz::lines(data) else {
        return;
    };
    let _ = filter_core::extract::credentials(lines.first().copied());
    let _ = filter_core::extract::dpop_proof(lines.get(1..).unwrap_or_default());
});
