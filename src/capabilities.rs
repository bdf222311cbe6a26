//! What the host offers, found by asking it rather than assumed. Envoy has everything;
//! APISIX's host answers `Unimplemented` for time, tick and shared data; Kong's host
//! (ngx_wasm_module) has them all but does not pass request header changes upstream.

use crate::host;
use filter_core::host_verify;
use filter_core::key_fetch::TICK_MS;
use log::warn;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// `proxy_get_current_time_nanoseconds` works; else the WASI clock is read.
    pub host_time: bool,
    /// The root context gets a tick: keys are refreshed in the background.
    pub tick: bool,
    /// Shared data works: keys, fetch claims and the replay store span workers.
    pub shared_data: bool,
}

const PROBE_KEY: &str = "auth0_wasm_filter/probe";

impl Capabilities {
    /// Probes the host from the root context's `on_configure`. `start_tick` sets the tick
    /// period (the probe for a tick is setting it; Kong's host traps on a second call, so it
    /// is set once); pass false when this root context has set it already.
    pub fn probe(start_tick: bool) -> Capabilities {
        let host_time = host::host_time_ns().is_ok();
        let tick = !start_tick || host::set_tick_period_ms(TICK_MS).is_ok();
        let shared_data = !matches!(
            host::shared_get(PROBE_KEY),
            Err(host::Status::UNIMPLEMENTED)
        );
        let caps = Capabilities {
            host_time,
            tick,
            shared_data,
        };
        if caps != Capabilities::FULL {
            warn!(
                "host capabilities: time {}, tick {}, shared data {}",
                on(host_time),
                on(tick),
                on(shared_data)
            );
        }
        caps
    }

    pub const FULL: Capabilities = Capabilities {
        host_time: true,
        tick: true,
        shared_data: true,
    };
}

fn on(available: bool) -> &'static str {
    if available {
        "available"
    } else {
        "missing (worked around)"
    }
}

/// Whether the host is Kong's ngx_wasm_module, found by its `ngx.*` properties. It proxies
/// the request headers as the client sent them, whatever the filter removed or replaced.
/// Asked from a request context, where properties are defined on every host.
pub fn is_ngx_wasm_module() -> bool {
    matches!(host::property(&["ngx", "pid"]), Ok(Some(_)))
}

/// Whether the host is Envoy: it has a tick (APISIX's host has none) and is not
/// ngx_wasm_module. Only Envoy resumes a paused request from another context
/// (ngx_wasm_module's `proxy_set_effective_context` does nothing and the worker crashes) and
/// has a filter state for later filters.
pub fn is_envoy(caps: &Capabilities, ngx_wasm: bool) -> bool {
    caps.tick && !ngx_wasm
}

/// Envoy's `verify_signature` foreign function, for the core's [`host_verify`] checks.
#[derive(Debug)]
pub struct EnvoySignatures;

impl host_verify::SignatureHost for EnvoySignatures {
    fn call(&mut self, arguments: &[u8]) -> Option<Vec<u8>> {
        host::call_foreign(host_verify::FUNCTION, arguments).ok()
    }
}

/// Envoy's signature function if it passes the self-test; asked only on Envoy (see
/// [`host::call_foreign`]).
pub fn envoy_signatures() -> Option<EnvoySignatures> {
    let mut host = EnvoySignatures;
    if host_verify::self_test(&mut host) {
        Some(host)
    } else {
        warn!("Envoy's verify_signature failed its self-test: RSA signatures are checked in wasm");
        None
    }
}
