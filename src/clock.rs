//! The host's clock, as the Unix time the core expects.

use proxy_wasm::hostcalls;
use std::time::UNIX_EPOCH;

/// Unix time in milliseconds (DPoP nonces are finer than a second).
pub fn now_ms() -> u64 {
    hostcalls::get_current_time()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

pub fn now() -> u64 {
    now_ms() / 1000
}
