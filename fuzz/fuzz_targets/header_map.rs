//! A request's header map as the host encodes it, read as the filter reads a request.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some(lines) = filter_core::header_map::decode(data) else {
        return;
    };
    let request = filter_core::request::OwnedRequest::from_lines(lines, true);
    let _ = request.view();
});
