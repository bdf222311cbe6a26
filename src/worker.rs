//! The state one worker VM keeps between requests: the configuration, the core's gate and key
//! fetches, the host's capabilities and the stores they allow. Root and request contexts
//! share it through `Rc<RefCell<_>>` (a VM is single-threaded).

use crate::capabilities::{self, Capabilities};
use crate::host;
use crate::metrics::Metrics;
use filter_core::authorize::{Decision, Gate, RequestView};
use filter_core::config::{Config, ReplayScope};
use filter_core::key_fetch::{FetchEvent, KeyFetch};
use filter_core::shared::{MemoryStore, Replay, SharedStore, WriteError};
use log::{debug, error, warn};
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
    /// Whether request header changes reach the upstream on this host; asked once.
    header_changes: Option<bool>,
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
            header_changes: None,
        }
    }

    /// Whether this host applies the filter's request header changes upstream. When it does
    /// not, a configuration that relies on them (identity headers, stripping credentials) is
    /// refused: every request is answered 500, and the reason is logged once per worker.
    pub fn header_changes_hold(&mut self) -> bool {
        *self.header_changes.get_or_insert_with(|| {
            let hold = capabilities::header_changes_reach_upstream();
            if !hold {
                error!(
                    "configuration refused: \"forward\" (claim headers, claims header, strip_authorization) \
                     needs request header changes to reach the upstream, and this host \
                     (ngx_wasm_module) proxies the headers as the client sent them; remove \"forward\""
                );
            }
            hold
        })
    }

    /// Counts and logs how a key fetch ended.
    pub fn report(&self, source: usize, event: &FetchEvent, context: &str) {
        match event {
            FetchEvent::Installed { keys, skipped } => {
                for key in skipped {
                    warn!("JWKS key skipped: {key}");
                }
                self.metrics.key_fetch(true);
                debug!("{keys} keys for source {source} fetched");
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

    /// Where keys are shared between workers: the host's shared data, when it has any.
    pub fn key_store(&self) -> Option<HostStore> {
        self.caps.shared_data.then_some(HostStore)
    }

    pub fn keys_gauge(&self, now: u64) {
        self.metrics.keys_in_use(self.gate.keys.keys_in_use(now));
    }
}
