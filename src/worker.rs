//! The state one worker VM keeps between requests: configuration, key cache, the requests
//! waiting for keys and the fetches in flight. Root and request contexts share it through
//! `Rc<RefCell<_>>` (a VM is single-threaded).

use crate::headers;
use crate::metrics::Metrics;
use proxy_wasm::types::MapType;
use crate::respond::ResponseNonce;
use filter_core::authorize::{Decision, Gate, ReplayStore, RequestView};
use filter_core::config::{Config, KeySource};
use filter_core::jwks_cache::{CachePolicy, FetchReason, KeyCache};
use filter_core::key_record::{self, FetchMark, KeyRecord};
use filter_core::url::HttpUrl;
use filter_core::replay::{self, ReplayError};
use filter_core::{discovery, jwk, jwks_cache};
use log::{debug, warn};
use proxy_wasm::hostcalls;
use std::rc::Rc;
use std::time::Duration;

/// More waiting requests than this are answered 503 at once rather than queued.
pub const MAX_WAITERS: usize = 4096;

/// JWKS and discovery bodies larger than this are refused without being read.
const MAX_FETCH_BODY: usize = 512 * 1024;

const SHARED_PREFIX: &str = "auth0_wasm_filter";

/// A request paused until keys arrive, with everything needed to decide it again.
#[derive(Debug)]
pub struct Waiter {
    pub context_id: u32,
    pub source: usize,
    pub since: u64,
    pub request: OwnedRequest,
    pub nonce: ResponseNonce,
}

/// The parts of a request the decision reads, owned so they outlive the callback.
#[derive(Debug, Clone)]
pub struct OwnedRequest {
    pub method: String,
    pub path: String,
    pub scheme: &'static str,
    pub authority: String,
    pub authorization: Option<String>,
    pub dpop: Vec<String>,
    pub forwarded: Vec<(String, String)>,
    pub cors_preflight: bool,
}

impl OwnedRequest {
    pub fn view(&self) -> RequestView<'_> {
        RequestView {
            method: &self.method,
            path: &self.path,
            scheme: self.scheme,
            authority: &self.authority,
            authorization: self.authorization.as_deref(),
            dpop: &self.dpop,
            forwarded: &self.forwarded,
            cors_preflight: self.cors_preflight,
        }
    }
}

/// Proofs seen, in the host's shared data: one store for every worker thread.
struct SharedReplay;

/// Compare-and-swap attempts before giving up on a contended slot.
const REPLAY_CAS_ATTEMPTS: usize = 8;

/// Creates every replay slot that does not exist yet. The host ignores the compare-and-swap
/// value when a key is absent, so two workers writing a new slot at once would both win:
/// slots are therefore created before any request is decided (the first VM to be configured,
/// on Envoy's main thread, creates them all; later ones find them).
pub fn create_replay_slots() {
    for index in 0..replay::SLOTS {
        let key = replay::slot_key(index);
        if let Ok((_, None)) = hostcalls::get_shared_data(&key) {
            let _ = hostcalls::set_shared_data(&key, Some(&[]), None);
        }
    }
}

impl ReplayStore for SharedReplay {
    fn record(&mut self, hash: u64, expires_at: u64, now: u64) -> Result<(), ReplayError> {
        let key = replay::slot_key(replay::slot_of(hash, replay::SLOTS));
        for _ in 0..REPLAY_CAS_ATTEMPTS {
            let (current, cas) = hostcalls::get_shared_data(&key).unwrap_or((None, None));
            if cas.is_none() {
                // Only if slot creation at configuration failed: create it, then swap.
                let _ = hostcalls::set_shared_data(&key, Some(&[]), None);
                continue;
            }
            let updated = replay::record(current.as_deref(), hash, expires_at, now)?;
            match hostcalls::set_shared_data(&key, Some(&updated), cas) {
                Ok(()) => return Ok(()),
                Err(proxy_wasm::types::Status::CasMismatch) => continue,
                Err(_) => break,
            }
        }
        // Never accept a proof that could not be recorded.
        Err(ReplayError::Full { retry_after: 1 })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Discovery,
    Jwks,
}

#[derive(Debug)]
struct Fetch {
    token: u32,
    source: usize,
    step: Step,
}

/// A key fetch's outcome, reported by [`Worker::on_fetch_response`].
pub enum FetchOutcome {
    /// The fetch goes on (discovery answered; the JWKS request is out).
    Continuing,
    /// The fetch for `source` finished, well or not: waiting requests can be decided.
    Finished { source: usize },
    /// Not one of this worker's fetches.
    Unknown,
}

pub struct Worker {
    pub config: Rc<Config>,
    pub gate: Gate,
    pub metrics: Metrics,
    waiters: Vec<Waiter>,
    fetches: Vec<Fetch>,
    /// Set when a request asked for a fetch that only the root context can start.
    pub fetch_wanted: bool,
}

impl Worker {
    pub fn new(config: Rc<Config>, metrics: Metrics) -> Worker {
        let policy = CachePolicy {
            ttl: config.jwks_cache_ttl,
            min_refresh_interval: config.jwks_min_refresh_interval,
            max_stale: config.jwks_max_stale,
        };
        let mut keys = KeyCache::new(config.key_sources.len(), policy);
        for (index, source) in config.key_sources.iter().enumerate() {
            if let KeySource::Inline(set) = source {
                keys.install_static(index, Rc::new(set.clone()));
            }
        }
        let gate = Gate::new(Rc::clone(&config), keys);
        Worker { config, gate, metrics, waiters: Vec::new(), fetches: Vec::new(), fetch_wanted: false }
    }

    pub fn decide(&mut self, request: &RequestView<'_>, now_ms: u64) -> Decision {
        self.gate.authorize(request, &mut SharedReplay, now_ms)
    }

    /// Queues a request until keys of `source` arrive. False when the queue is full.
    pub fn wait(&mut self, waiter: Waiter, reason: FetchReason, now: u64) -> bool {
        if self.waiters.len() >= MAX_WAITERS {
            return false;
        }
        let source = waiter.source;
        self.waiters.push(waiter);
        if self.gate.keys.want_fetch(source, reason, now) {
            self.fetch_wanted = true;
        }
        true
    }

    pub fn forget(&mut self, context_id: u32) {
        self.waiters.retain(|w| w.context_id != context_id);
    }

    /// Removes and returns the requests waiting on `source`.
    pub fn take_waiters(&mut self, source: usize) -> Vec<Waiter> {
        let (ready, rest) = std::mem::take(&mut self.waiters).into_iter().partition(|w| w.source == source);
        self.waiters = rest;
        ready
    }

    /// Removes and returns requests that waited longer than the fetch stall limit.
    pub fn take_stalled(&mut self, now: u64) -> Vec<Waiter> {
        let limit = jwks_cache::FETCH_STALL_SECONDS;
        let (stalled, rest) = std::mem::take(&mut self.waiters)
            .into_iter()
            .partition(|w| now >= w.since.saturating_add(limit));
        self.waiters = rest;
        stalled
    }

    /// Sources that need a fetch now: waited for by a request, or due for background refresh.
    pub fn sources_to_fetch(&self, now: u64) -> Vec<(usize, FetchReason)> {
        let mut wanted: Vec<(usize, FetchReason)> =
            self.gate.keys.due_sources(now).into_iter().map(|s| (s, FetchReason::Refresh)).collect();
        for w in &self.waiters {
            if wanted.iter().any(|(s, _)| *s == w.source) {
                continue;
            }
            if self.gate.keys.want_fetch(w.source, FetchReason::UnknownKid, now) {
                wanted.push((w.source, FetchReason::UnknownKid));
            }
        }
        wanted
    }

    /// Loads keys another worker published, if the shared copy changed. True if keys changed.
    pub fn sync_from_shared(&mut self, source: usize) -> bool {
        let Some(name) = self.shared_name(source, "jwks") else {
            return false;
        };
        let (Some(bytes), Some(revision)) = hostcalls::get_shared_data(&name).unwrap_or((None, None)) else {
            return false;
        };
        if self.gate.keys.shared_revision(source) == Some(revision) {
            return false;
        }
        self.gate.keys.set_shared_revision(source, revision);
        let Some(record) = key_record::decode(&bytes) else {
            return false;
        };
        if self.gate.keys.loaded(source).is_some_and(|l| l.fetched_at >= record.fetched_at) {
            return false;
        }
        match jwk::parse_jwks(record.jwks) {
            Ok(parsed) if !parsed.keys.is_empty() => {
                self.gate
                    .keys
                    .keys_shared(source, Rc::new(parsed.keys), record.fetched_at, record.fresh_until, revision);
                self.gate.keys_changed(source);
                true
            }
            _ => false,
        }
    }

    /// Claims the cross-worker right to refetch `source` for an unknown `kid`: at most one
    /// worker per `jwks_min_refresh_interval_seconds`.
    pub fn claim_kid_refresh(&mut self, source: usize, now: u64) -> bool {
        let Some(name) = self.shared_name(source, "kid_refresh") else {
            return true;
        };
        let (last, cas) = hostcalls::get_shared_data(&name).unwrap_or((None, None));
        let last: Option<u64> = last.and_then(|b| String::from_utf8(b).ok()).and_then(|s| s.parse().ok());
        if last.is_some_and(|t| now < t.saturating_add(self.config.jwks_min_refresh_interval)) {
            self.gate.keys.kid_refresh_claimed_elsewhere(source, now);
            return false;
        }
        let claimed = hostcalls::set_shared_data(&name, Some(now.to_string().as_bytes()), cas).is_ok();
        if !claimed {
            self.gate.keys.kid_refresh_claimed_elsewhere(source, now);
        }
        claimed
    }

    /// Starts fetching keys of `source`. Must run in the root context, whose callouts outlive
    /// any one request.
    pub fn start_fetch(&mut self, source: usize, reason: FetchReason, now: u64) {
        if !self.gate.keys.want_fetch(source, reason, now) {
            return;
        }
        let claimed = match reason {
            FetchReason::UnknownKid => self.claim_kid_refresh(source, now),
            FetchReason::Refresh => self.claim_fetch(source, now),
        };
        if !claimed {
            return;
        }
        let step = match (self.config.key_sources.get(source), self.gate.keys.jwks_uri(source)) {
            (Some(KeySource::Discovery { .. }), None) => Step::Discovery,
            (Some(KeySource::Discovery { .. } | KeySource::JwksUri { .. }), _) => Step::Jwks,
            _ => return,
        };
        self.gate.keys.fetch_started(source, reason, now);
        if !self.dispatch(source, step) {
            self.fetch_failed(source, now, "the fetch could not be dispatched");
        }
    }

    /// Claims the cross-worker right to fetch `source`, so that one worker fetches for all
    /// (the others load the result from shared data). A claim lapses after the longest a
    /// fetch can take (discovery and JWKS, each with its timeout).
    fn claim_fetch(&mut self, source: usize, now: u64) -> bool {
        let Some(name) = self.shared_name(source, "fetch") else {
            return true;
        };
        let (value, cas) = hostcalls::get_shared_data(&name).unwrap_or((None, None));
        let mark = value.as_deref().and_then(FetchMark::decode);
        let lease = (2 * self.config.http_timeout_ms).div_ceil(1000) + 1;
        if !FetchMark::allows_fetch(mark, now, lease) {
            return false;
        }
        let pending = FetchMark::Pending { since: now }.encode();
        hostcalls::set_shared_data(&name, Some(pending.as_bytes()), cas).is_ok()
    }

    fn publish_outcome(&self, source: usize, mark: FetchMark) {
        if let Some(name) = self.shared_name(source, "fetch") {
            let _ = hostcalls::set_shared_data(&name, Some(mark.encode().as_bytes()), None);
        }
    }

    /// Settles requests of this worker waiting on a fetch another worker made and lost:
    /// returns the sources whose waiters can now be answered.
    pub fn adopt_failures_elsewhere(&mut self, now: u64) -> Vec<usize> {
        let mut settled = Vec::new();
        for source in 0..self.source_count() {
            let Some(oldest) = self.waiters.iter().filter(|w| w.source == source).map(|w| w.since).min() else {
                continue;
            };
            if self.gate.keys.fetching(source, now) {
                continue;
            }
            let Some(name) = self.shared_name(source, "fetch") else {
                continue;
            };
            let (value, _) = hostcalls::get_shared_data(&name).unwrap_or((None, None));
            if let Some(FetchMark::Failed { at }) = value.as_deref().and_then(FetchMark::decode) {
                if at >= oldest {
                    self.gate.keys.fetch_failed(source, now);
                    settled.push(source);
                }
            }
        }
        settled
    }

    pub fn has_waiters(&self) -> bool {
        !self.waiters.is_empty()
    }

    fn url_for(&self, source: usize, step: Step) -> Option<HttpUrl> {
        match (self.config.key_sources.get(source)?, step) {
            (KeySource::Discovery { url, .. }, Step::Discovery) => Some(url.clone()),
            (KeySource::Discovery { .. }, Step::Jwks) => self.gate.keys.jwks_uri(source).cloned(),
            (KeySource::JwksUri { url, .. }, Step::Jwks) => Some(url.clone()),
            _ => None,
        }
    }

    fn dispatch(&mut self, source: usize, step: Step) -> bool {
        let Some(url) = self.url_for(source, step) else {
            return false;
        };
        let Some(upstream) = self.config.upstream_for(&url.host) else {
            warn!("no upstream is configured for key host {}", url.host);
            return false;
        };
        let authority = url.authority();
        let path = url.path_and_query();
        let headers = vec![
            (":method", "GET"),
            (":path", path.as_str()),
            (":authority", authority.as_str()),
            ("accept", "application/json"),
            ("user-agent", "auth0-wasm-filter"),
        ];
        let timeout = Duration::from_millis(self.config.http_timeout_ms);
        match hostcalls::dispatch_http_call(upstream, headers, None, vec![], timeout) {
            Ok(token) => {
                self.fetches.push(Fetch { token, source, step });
                true
            }
            Err(status) => {
                warn!("key fetch to upstream {upstream} failed to start: {status:?}");
                false
            }
        }
    }

    fn fetch_failed(&mut self, source: usize, now: u64, why: &str) {
        let retry = self.gate.keys.fetch_failed(source, now);
        self.publish_outcome(source, FetchMark::Failed { at: now });
        self.metrics.key_fetch(false);
        warn!("fetching keys for source {source} failed: {why}; next attempt in {retry}s");
    }

    /// Handles the answer to one of this worker's callouts.
    pub fn on_fetch_response(&mut self, token: u32, body_size: usize, now: u64) -> FetchOutcome {
        let Some(index) = self.fetches.iter().position(|f| f.token == token) else {
            return FetchOutcome::Unknown;
        };
        let fetch = self.fetches.swap_remove(index);
        let source = fetch.source;
        let status = headers::get(MapType::HttpCallResponseHeaders, ":status");
        let body = if body_size <= MAX_FETCH_BODY {
            hostcalls::get_buffer(proxy_wasm::types::BufferType::HttpCallResponseBody, 0, body_size)
                .ok()
                .flatten()
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        let outcome = match status.as_deref() {
            None => Err("no response (unreachable or timed out)".to_owned()),
            Some(s) if !s.starts_with('2') || s.len() != 3 => Err(format!("status {s}")),
            Some(_) if body_size > MAX_FETCH_BODY => Err(format!("body of {body_size} bytes is too large")),
            Some(_) => Ok(()),
        };
        if let Err(why) = outcome {
            if fetch.step == Step::Jwks {
                // The keys may have moved: ask discovery again next time.
                self.gate.keys.clear_jwks_uri(source);
            }
            self.fetch_failed(source, now, &why);
            return FetchOutcome::Finished { source };
        }
        match fetch.step {
            Step::Discovery => {
                let issuer = self.config.issuers.iter().find(|i| i.key_source == source).map(|i| i.issuer.clone());
                match issuer.map(|iss| discovery::jwks_uri(&body, &iss)) {
                    Some(Ok(url)) => {
                        self.gate.keys.set_jwks_uri(source, url);
                        if self.dispatch(source, Step::Jwks) {
                            return FetchOutcome::Continuing;
                        }
                        self.fetch_failed(source, now, "the JWKS fetch could not be dispatched");
                    }
                    Some(Err(e)) => self.fetch_failed(source, now, &e.to_string()),
                    None => self.fetch_failed(source, now, "no issuer uses this key source"),
                }
            }
            Step::Jwks => self.install_fetched(source, &body, now),
        }
        FetchOutcome::Finished { source }
    }

    fn install_fetched(&mut self, source: usize, body: &[u8], now: u64) {
        let parsed = match jwk::parse_jwks(body) {
            Ok(parsed) => parsed,
            Err(e) => {
                self.gate.keys.clear_jwks_uri(source);
                return self.fetch_failed(source, now, &format!("malformed JWKS: {e}"));
            }
        };
        for skipped in &parsed.skipped {
            warn!("JWKS key skipped: {skipped}");
        }
        if parsed.keys.is_empty() {
            return self.fetch_failed(source, now, "JWKS has no usable key");
        }
        let max_age =
            headers::get(MapType::HttpCallResponseHeaders, "cache-control").and_then(|v| jwks_cache::max_age(&v));
        self.gate.keys.keys_fetched(source, Rc::new(parsed.keys), max_age, now);
        self.gate.keys_changed(source);
        self.publish_outcome(source, FetchMark::Done { at: now });
        self.metrics.key_fetch(true);
        debug!("keys for source {source} fetched");
        if let (Some(name), Some(loaded)) = (self.shared_name(source, "jwks"), self.gate.keys.loaded(source)) {
            let record = KeyRecord { fetched_at: loaded.fetched_at, fresh_until: loaded.fresh_until, jwks: body };
            let _ = hostcalls::set_shared_data(&name, Some(&key_record::encode(&record)), None);
        }
    }

    /// The shared-data name for a key source: the URL and upstream, so that filter instances
    /// with the same source share keys and instances with different ones never do.
    fn shared_name(&self, source: usize, what: &str) -> Option<String> {
        let (url, upstream) = match self.config.key_sources.get(source)? {
            KeySource::Discovery { url, upstream } | KeySource::JwksUri { url, upstream } => (url, upstream),
            KeySource::Inline(_) => return None,
        };
        Some(format!("{SHARED_PREFIX}/{what}/{upstream}/{}", url.normalized()))
    }

    pub fn keys_gauge(&self, now: u64) {
        self.metrics.keys_in_use(self.gate.keys.keys_in_use(now));
    }

    pub fn source_count(&self) -> usize {
        self.config.key_sources.len()
    }
}
