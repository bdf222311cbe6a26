//! Unix time in milliseconds: the host's clock, or the WASI clock on hosts without one.

use crate::host;
use std::time::{SystemTime, UNIX_EPOCH};

pub fn now_ms(host_time: bool) -> u64 {
    let ns = if host_time {
        host::host_time_ns().ok()
    } else {
        None
    };
    match ns {
        Some(ns) => ns / 1_000_000,
        None => SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
    }
}
