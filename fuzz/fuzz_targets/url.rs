//! URLs (configuration, discovery, `htu`) and the request URL a proof's `htu` must equal:
//! line 1 a URL; then scheme, authority, path and `X-Forwarded-*` lines (`name: value`).
#![no_main]
use filter_core::dpop::{request_url, ForwardedHeaders};
use filter_core::url::{self, HttpUrl};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some(lines) = filter_fuzz::lines(data) else {
        return;
    };
    let first = lines.first().copied().unwrap_or_default();
    if let Ok(parsed) = HttpUrl::parse(first) {
        let _ = (
            parsed.authority(),
            parsed.path_and_query(),
            parsed.normalized(),
        );
    }
    let _ = url::normalize_percent_encoding(first);
    let _ = url::remove_dot_segments(first);
    let field = |i: usize| lines.get(i).copied().unwrap_or_default();
    let forwarded = ForwardedHeaders::from_headers(
        lines
            .iter()
            .skip(4)
            .filter_map(|line| line.split_once(": ")),
    );
    let _ = request_url(field(1), field(2), field(3), None);
    let _ = request_url(field(1), field(2), field(3), Some(&forwarded));
});
