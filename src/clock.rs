//! The host's clock, as the Unix seconds the core expects.

use proxy_wasm::hostcalls;
use std::time::UNIX_EPOCH;

pub fn now() -> u64 {
    hostcalls::get_current_time()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs())
}
