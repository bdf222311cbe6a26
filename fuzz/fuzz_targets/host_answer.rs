//! What Envoy's `verify_signature` answers (`host_verify::read_result`): whatever bytes come
//! back, a verdict or `None`, never a panic; a verdict of true needs field 1 set.
#![no_main]
use filter_core::host_verify::read_result;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if read_result(data) == Some(true) {
        assert!(!data.is_empty());
    }
});
