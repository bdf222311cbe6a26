//! The state one worker VM keeps between requests: the configuration, the core's gate and key
//! fetches, the host's capabilities and the stores they allow. Root and request contexts
//! share it through `Rc<RefCell<_>>` (a VM is single-threaded).

use crate::capabilities::{self, Capabilities};
use crate::host;
use crate::metrics::Metrics;
use crate::request::Parked;
use filter_core::authorize::{Decision, Gate, RequestView};
use filter_core::config::Config;
use filter_core::dpop_settings::ReplayScope;
use filter_core::key_fetch::{FetchEvent, KeyFetch, TICK_MS};
use filter_core::shared::{MemoryStore, Replay, SharedStore, WriteError};
use log::{debug, error, info, warn};
use std::rc::Rc;

/// The host's shared data, as the core's store.
pub struct HostStore;

impl SharedStore for HostStore {
    fn get(&self, key: &str) -> Option<(Vec<u8>, u32)> {
        host::shared_get(key).ok().flatten()
    }

    fn set(&mut self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), WriteError> {
        host::shared_set(key, value, cas).map_err(|status| match status {
            host::Status::CAS_MISMATCH => WriteError::CasMismatch,
            _ => WriteError::Failed,
        })
    }
}

pub struct Worker {
    pub config: Rc<Config>,
    pub gate: Gate,
    pub fetch: KeyFetch,
    pub metrics: Metrics,
    pub caps: Capabilities,
    /// The replay store when proofs are remembered per worker.
    local_replay: Option<MemoryStore>,
    /// Whether the host is Kong's ngx_wasm_module; asked on the first request.
    ngx_wasm: Option<bool>,
    /// Why the configuration cannot run on this host, once known.
    refused: Option<&'static str>,
    /// Requests waiting for another request's fetch, by context id.
    pub parked: Vec<Parked>,
    /// The tick period last set.
    tick_ms: u32,
}

impl Worker {
    pub fn new(config: Rc<Config>, caps: Capabilities, metrics: Metrics) -> Worker {
        let local_replay = (config.dpop.replay_scope == ReplayScope::Worker).then(|| {
            let mut store = MemoryStore::default();
            filter_core::shared::create_replay_slots(&mut store);
            store
        });
        Worker {
            gate: Gate::from_config(Rc::clone(&config)),
            fetch: KeyFetch::new(config.key_sources.len()),
            config,
            metrics,
            caps,
            local_replay,
            ngx_wasm: None,
            refused: None,
            parked: Vec::new(),
            tick_ms: TICK_MS,
        }
    }

    /// Sets the tick period the key fetches need, on hosts that can wake requests (only they
    /// allow setting it again, and from a request context).
    pub fn tune_tick(&mut self) {
        let wanted = self.fetch.tick_period_ms();
        if self.fetch.can_wake()
            && wanted != self.tick_ms
            && host::set_tick_period_ms(wanted).is_ok()
        {
            self.tick_ms = wanted;
        }
    }

    /// Learns, on the first request (where properties are defined on every host), what the
    /// host does with requests. On a host that resumes a request from another context (Envoy:
    /// it has a tick and is not ngx_wasm_module), requests wait for one fetch of the keys, and
    /// RS256/384/512 signatures go to Envoy's own `verify_signature` once it passes its
    /// self-test.
    ///
    /// ngx_wasm_module proxies request headers as the client sent them, so a configuration
    /// that relies on changing them (identity headers, stripping credentials) is refused
    /// there: every request is answered 500, and the reason is logged once per worker.
    pub fn know_host(&mut self) {
        if self.ngx_wasm.is_some() {
            return;
        }
        let ngx_wasm = capabilities::is_ngx_wasm_module();
        self.ngx_wasm = Some(ngx_wasm);
        let envoy = capabilities::is_envoy(&self.caps, ngx_wasm);
        self.fetch.set_can_wake(envoy);
        if envoy {
            if let Some(signatures) = capabilities::envoy_signatures() {
                self.gate.use_signature_host(Box::new(signatures));
                info!("RS256/384/512 signatures are checked by Envoy's verify_signature");
            }
        }
        self.refused = if ngx_wasm && self.config.needs_header_changes() {
            Some(
                "\"forward\" (claim headers, claims header, strip_authorization) needs request \
                 header changes to reach the upstream, and this host (ngx_wasm_module) proxies \
                 the headers as the client sent them; remove \"forward\"",
            )
        } else if !envoy && self.config.filter_state.is_some() {
            Some("\"filter_state\" is Envoy's filter state, which this host does not have; remove it")
        } else {
            None
        };
        if let Some(why) = self.refused {
            error!("configuration refused: {why}");
        }
    }

    /// Whether the configuration cannot run on this host (see [`Worker::know_host`]).
    pub fn refused_here(&self) -> bool {
        self.refused.is_some()
    }

    /// Counts and logs how a key fetch ended.
    pub fn report(&self, source: usize, event: &FetchEvent, context: &str) {
        match event {
            FetchEvent::Installed { keys, skipped } => {
                for key in skipped {
                    warn!("JWKS key skipped: {key}");
                }
                self.metrics.key_fetch(true);
                if *keys == 0 {
                    warn!("the JWKS of source {source} has no usable key: every token is refused");
                } else {
                    debug!("{keys} keys for source {source} fetched");
                }
            }
            FetchEvent::DiscoveryDone => debug!("discovery for source {source} answered"),
            FetchEvent::Failed { why, retry_after } => {
                self.metrics.key_fetch(false);
                warn!("fetching keys for source {source} failed: {why}{context}; next attempt in {retry_after}s");
            }
        }
    }

    pub fn decide(&mut self, request: &RequestView<'_>, now_ms: u64) -> Decision {
        let mut shared = HostStore;
        let store: &mut dyn SharedStore = match &mut self.local_replay {
            Some(local) => local,
            None => &mut shared,
        };
        self.gate.authorize(request, &mut Replay(store), now_ms)
    }

    /// Runs `f` on the key fetches with the gate and the store keys are shared through
    /// between workers: the host's shared data, when it has any.
    pub fn with_fetch<R>(
        &mut self,
        f: impl FnOnce(&mut KeyFetch, &mut Gate, Option<&mut dyn SharedStore>) -> R,
    ) -> R {
        let mut store = self.caps.shared_data.then_some(HostStore);
        f(
            &mut self.fetch,
            &mut self.gate,
            store.as_mut().map(|s| s as &mut dyn SharedStore),
        )
    }

    pub fn keys_gauge(&self, now: u64) {
        self.metrics.keys_in_use(self.gate.keys.keys_in_use(now));
    }
}
