//! Fetching keys over the network, for one worker: which callout to make, what its answer
//! does to the key cache, and how workers share keys and claims through a [`SharedStore`].
//!
//! The design holds on every host the filter runs on:
//! - A request that must wait for keys makes its own callout and is decided again in that
//!   callout's callback, so it continues from its own context. No request is ever resumed
//!   from the root context or from another request (Kong's and APISIX's hosts cannot switch
//!   contexts, and APISIX lets a paused request through unless it has a callout out).
//!   On hosts that can resume a request from another context (Envoy), a request that needs
//!   keys while this worker already fetches them waits for that fetch instead (at most
//!   [`MAX_WAITERS`] per worker), and is decided again when it ends. Elsewhere, several
//!   requests waiting at once each fetch, at most [`MAX_FETCHES_PER_SOURCE`] per key source
//!   and worker; past that they are answered 503 with `Retry-After: 1`.
//! - Only a request's callback chains discovery into the JWKS fetch. A background fetch (the
//!   root context's tick, on hosts that have one) sends its JWKS request on the next tick:
//!   Kong's host crashes on a callout made inside the root context's callout callback.
//! - With shared data, one worker refreshes keys in the background for all (a claim in shared
//!   data), every fetched key set is published for the other workers, and a refetch for an
//!   unknown `kid` is rate-limited across workers; a request on another worker that arrives
//!   while that refetch runs waits for keys too, rather than being refused by the rate limit.
//!
//! Nothing here performs I/O or reads the clock: the shell dispatches the [`Callout`]s and
//! hands back each [`Answer`].

use crate::authorize::Gate;
use crate::jwks_cache::{self, FetchReason};
use crate::key_record::{self, FetchMark, KeyRecord};
use crate::key_source::KeySource;
use crate::rejection::RETRY_SOON;
use crate::shared::SharedStore;
use crate::{discovery, jwk};
use std::rc::Rc;

/// Callouts for one key source that one worker keeps out at once; a request that would need
/// one more is answered 503 at once. Bounds what a burst of waiting requests costs the issuer.
pub const MAX_FETCHES_PER_SOURCE: usize = 8;

/// The root context's tick period: background refresh and loading keys other workers
/// published. Kong's host traps on a second `set_tick_period`, so only hosts that can wake
/// requests (see [`KeyFetch::set_can_wake`]) ever change it, to [`FAST_TICK_MS`].
pub const TICK_MS: u32 = 1000;

/// The tick period while requests wait for keys another worker fetches.
pub const FAST_TICK_MS: u32 = 50;

/// Requests one worker keeps waiting for another request's fetch; more are answered 503.
pub const MAX_WAITERS: usize = 1024;

/// Discovery and JWKS bodies larger than this are refused without being read.
pub const MAX_FETCH_BODY: usize = 512 * 1024;

const SHARED_PREFIX: &str = "auth0_wasm_filter";

/// Which document a callout asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Discovery,
    Jwks,
}

/// Who waits for a callout's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// The request that made it: decided again when it ends.
    Request,
    /// Nobody: a refresh started by the root context's tick.
    Background,
}

/// A callout to make: `GET scheme://authority/path` through `upstream` (Envoy's cluster, or
/// the `host:port` the nginx-based hosts connect to).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Callout {
    pub source: usize,
    pub step: Step,
    pub upstream: String,
    pub scheme: &'static str,
    pub authority: String,
    pub path: String,
    pub timeout_ms: u64,
}

/// What the host said to a callout. `status` is `None` when nothing answered (refused,
/// reset, timed out).
#[derive(Debug, Clone, Copy)]
pub struct Answer<'a> {
    pub status: Option<&'a str>,
    pub cache_control: Option<&'a str>,
    pub body_size: usize,
    /// The body, read only when `body_size` is within [`MAX_FETCH_BODY`].
    pub body: &'a [u8],
}

/// What a request that needs keys does next.
#[derive(Debug, PartialEq, Eq)]
pub enum Plan {
    /// Make this callout (then report it with [`KeyFetch::dispatched`]) and wait for it.
    Fetch(Callout),
    /// Wait for a fetch this worker already makes: the request is among the `woken` of the
    /// [`Outcome`] or [`Tick`] that ends the wait.
    Wait,
    /// The keys this request can have are here already: decide it again.
    DecideAgain,
    /// Answer 503 with this `Retry-After`.
    Unavailable { retry_after: u64 },
}

/// What a callout's answer led to.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Discovery answered: make this JWKS callout from the same request context.
    Next(Callout),
    /// The fetch for `source` ended; `event` says how, for metrics and logs. The waiting
    /// requests in `woken` are to be decided again.
    Finished {
        source: usize,
        event: FetchEvent,
        woken: Vec<u32>,
    },
    /// Not a callout of this worker (or one whose request went away).
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchEvent {
    /// New keys installed: this many usable, and these keys of the document skipped.
    Installed { keys: usize, skipped: Vec<String> },
    /// Discovery answered in the background; the JWKS request goes out on the next tick.
    DiscoveryDone,
    /// The fetch failed; the source is not tried again for `retry_after` seconds.
    Failed { why: String, retry_after: u64 },
}

/// What the root context's tick leads to.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Tick {
    /// Background fetches to start.
    pub callouts: Vec<Callout>,
    /// Waiting requests to decide again: keys came from another worker, or they waited
    /// longer than a fetch may take.
    pub woken: Vec<u32>,
}

/// A waiting request, by its context id.
#[derive(Debug, Clone, Copy)]
struct Waiter {
    id: u32,
    source: usize,
    since: u64,
    /// It waits for another worker's refetch, whose keys the tick loads from shared data.
    elsewhere: bool,
}

#[derive(Debug, Clone, Copy)]
struct InFlight {
    token: u32,
    source: usize,
    step: Step,
    purpose: Purpose,
    started: u64,
}

/// The fetches of one worker.
#[derive(Debug)]
pub struct KeyFetch {
    in_flight: Vec<InFlight>,
    /// Per source: a background fetch holds the cross-worker claim and its JWKS request is
    /// due on the next tick.
    jwks_due: Vec<bool>,
    /// Whether the host can resume a request from another context, so that requests can
    /// wait for one fetch; false until the shell has found out.
    can_wake: bool,
    waiters: Vec<Waiter>,
}

impl KeyFetch {
    pub fn new(source_count: usize) -> KeyFetch {
        KeyFetch {
            in_flight: Vec::new(),
            jwks_due: vec![false; source_count],
            can_wake: false,
            waiters: Vec::new(),
        }
    }

    /// Lets requests wait for another request's fetch (the host can resume them from there).
    pub fn set_can_wake(&mut self, can_wake: bool) {
        self.can_wake = can_wake;
    }

    pub fn can_wake(&self) -> bool {
        self.can_wake
    }

    /// Decides how the request `id` that needs keys of `source` (for `reason`) gets them.
    pub fn plan_for_request(
        &mut self,
        gate: &mut Gate,
        store: Option<&mut dyn SharedStore>,
        source: usize,
        reason: FetchReason,
        id: u32,
        now: u64,
    ) -> Plan {
        if let Some(store) = store.as_deref() {
            if sync_from_shared(gate, store, source) {
                return Plan::DecideAgain;
            }
        }
        // Whether a refetch for an unknown `kid` runs on another worker.
        let mut refetch_elsewhere = false;
        if reason == FetchReason::UnknownKid {
            if gate.keys.kid_refresh_in_progress(source, now) {
                refetch_elsewhere = self.count(source) == 0;
            } else {
                let claim = match store {
                    Some(store) => claim_kid_refresh(gate, store, source, now),
                    None => Claim::Won,
                };
                match claim {
                    Claim::Won => gate
                        .keys
                        .fetch_started(source, FetchReason::UnknownKid, now),
                    Claim::Lost { started } => {
                        gate.keys.kid_refresh_claimed_elsewhere(source, started);
                        if !gate.keys.kid_refresh_in_progress(source, now) {
                            // That refetch is over, and its keys were loaded above.
                            return Plan::DecideAgain;
                        }
                        refetch_elsewhere = true;
                    }
                }
            }
        }
        if self.can_wake && (self.count(source) > 0 || refetch_elsewhere) {
            if self.waiters.len() >= MAX_WAITERS {
                return Plan::Unavailable {
                    retry_after: RETRY_SOON,
                };
            }
            self.waiters.push(Waiter {
                id,
                source,
                since: now,
                elsewhere: self.count(source) == 0,
            });
            return Plan::Wait;
        }
        if self.count(source) >= MAX_FETCHES_PER_SOURCE {
            return Plan::Unavailable {
                retry_after: RETRY_SOON,
            };
        }
        if !gate.keys.fetching(source, now) {
            gate.keys.fetch_started(source, FetchReason::Refresh, now);
        }
        match self.first_callout(gate, source) {
            Some(callout) => Plan::Fetch(callout),
            None => Plan::Unavailable {
                retry_after: jwks_cache::MAX_BACKOFF_SECONDS,
            },
        }
    }

    /// Records that `callout` went out as `token`.
    pub fn dispatched(&mut self, token: u32, callout: &Callout, purpose: Purpose, now: u64) {
        self.in_flight.push(InFlight {
            token,
            source: callout.source,
            step: callout.step,
            purpose,
            started: now,
        });
    }

    /// The host refused to send `callout`.
    pub fn dispatch_failed(
        &mut self,
        gate: &mut Gate,
        store: Option<&mut dyn SharedStore>,
        callout: &Callout,
        purpose: Purpose,
        now: u64,
    ) -> Outcome {
        let event = self.failed(
            gate,
            store,
            callout.source,
            callout.step,
            purpose,
            now,
            "the host refused the callout".into(),
        );
        self.finished(callout.source, event)
    }

    /// A request went away: its callout's answer, if one still comes, changes nothing. Its
    /// waiters, if that was the last fetch of their source, get one from the next tick.
    pub fn forget(&mut self, token: u32) {
        self.in_flight.retain(|f| f.token != token);
    }

    /// A waiting request went away.
    pub fn forget_waiter(&mut self, id: u32) {
        self.waiters.retain(|w| w.id != id);
    }

    /// Handles the answer to the callout `token`.
    pub fn on_answer(
        &mut self,
        gate: &mut Gate,
        store: Option<&mut dyn SharedStore>,
        token: u32,
        answer: &Answer<'_>,
        now: u64,
    ) -> Outcome {
        let Some(index) = self.in_flight.iter().position(|f| f.token == token) else {
            return Outcome::Unknown;
        };
        let fetch = self.in_flight.swap_remove(index);
        let source = fetch.source;
        let body = match answer.status {
            None => Err("no response (unreachable, reset or timed out)".to_owned()),
            Some(s) if s.len() != 3 || !s.starts_with('2') => Err(format!("status {s}")),
            Some(_) if answer.body_size > MAX_FETCH_BODY => {
                Err(format!("body of {} bytes is too large", answer.body_size))
            }
            Some(_) => Ok(answer.body),
        };
        let event = match (body, fetch.step) {
            (Err(why), _) => self.failed(gate, store, source, fetch.step, fetch.purpose, now, why),
            (Ok(body), Step::Discovery) => {
                let issuer = gate.config.issuer_of_source(source).unwrap_or_default();
                match discovery::jwks_uri(body, issuer) {
                    Ok(url) => {
                        gate.keys.set_jwks_uri(source, url);
                        match fetch.purpose {
                            Purpose::Request => match self.callout(gate, source, Step::Jwks) {
                                Some(next) => return Outcome::Next(next),
                                None => self.failed(
                                    gate,
                                    store,
                                    source,
                                    Step::Jwks,
                                    fetch.purpose,
                                    now,
                                    "no JWKS URL".into(),
                                ),
                            },
                            Purpose::Background => {
                                if let Some(due) = self.jwks_due.get_mut(source) {
                                    *due = true;
                                }
                                FetchEvent::DiscoveryDone
                            }
                        }
                    }
                    Err(e) => self.failed(
                        gate,
                        store,
                        source,
                        fetch.step,
                        fetch.purpose,
                        now,
                        e.to_string(),
                    ),
                }
            }
            (Ok(body), Step::Jwks) => {
                self.install(gate, store, &fetch, body, answer.cache_control, now)
            }
        };
        self.finished(source, event)
    }

    /// A fetch for `source` ended: its waiters are woken once no fetch of this worker can
    /// still bring them keys.
    fn finished(&mut self, source: usize, event: FetchEvent) -> Outcome {
        let fetch_continues =
            self.count(source) > 0 || self.jwks_due.get(source).copied().unwrap_or(false);
        let woken = if fetch_continues && !matches!(event, FetchEvent::Installed { .. }) {
            Vec::new()
        } else {
            self.take_waiters(|w| w.source == source)
        };
        Outcome::Finished {
            source,
            event,
            woken,
        }
    }

    fn take_waiters(&mut self, wake: impl Fn(&Waiter) -> bool) -> Vec<u32> {
        let mut woken = Vec::new();
        self.waiters.retain(|w| {
            let woke = wake(w);
            if woke {
                woken.push(w.id);
            }
            !woke
        });
        woken
    }

    /// The root context's tick: loads what other workers published, wakes the requests that
    /// can be decided now, and returns the background fetches to start (refreshes that are
    /// due, JWKS requests after discovery, and a fetch for requests whose fetch went away).
    pub fn on_tick(
        &mut self,
        gate: &mut Gate,
        mut store: Option<&mut dyn SharedStore>,
        now: u64,
    ) -> Tick {
        // A callout the host never answered must not hold a slot forever, nor a request wait
        // longer than a fetch may take.
        let lease = gate.keys.policy().fetch_lease;
        self.in_flight
            .retain(|f| now < f.started.saturating_add(lease));
        let mut tick = Tick {
            callouts: Vec::new(),
            woken: self.take_waiters(|w| now >= w.since.saturating_add(lease)),
        };
        for source in 0..gate.config.key_sources.len() {
            if let Some(store) = store.as_deref() {
                if sync_from_shared(gate, store, source) {
                    tick.woken.extend(self.take_waiters(|w| w.source == source));
                }
            }
            // Keys may have come by another path than this tick (a request that loaded them
            // first, or this worker's own fetch): whoever waits for another worker's refetch is
            // woken once that refetch is no longer under way, whatever ended it.
            let keys = &gate.keys;
            tick.woken.extend(self.take_waiters(|w| {
                w.source == source && w.elsewhere && !keys.kid_refresh_in_progress(source, now)
            }));
            let jwks_due = self.jwks_due.get(source).copied().unwrap_or(false);
            if jwks_due {
                if let Some(due) = self.jwks_due.get_mut(source) {
                    *due = false;
                }
                tick.callouts.extend(self.callout(gate, source, Step::Jwks));
                continue;
            }
            if self.count(source) > 0 {
                continue;
            }
            if self
                .waiters
                .iter()
                .any(|w| w.source == source && !w.elsewhere)
            {
                // The request that fetched for them went away.
                if !gate.keys.fetching(source, now) {
                    gate.keys.fetch_started(source, FetchReason::Refresh, now);
                }
                tick.callouts.extend(self.first_callout(gate, source));
                continue;
            }
            if !gate.keys.want_fetch(source, FetchReason::Refresh, now) {
                continue;
            }
            if let Some(store) = store.as_deref_mut() {
                if !claim_fetch(gate, store, source, now) {
                    continue;
                }
            }
            gate.keys.fetch_started(source, FetchReason::Refresh, now);
            tick.callouts.extend(self.first_callout(gate, source));
        }
        tick
    }

    /// The tick period this worker needs: short while requests wait for another worker's
    /// refetch, so that they are decided soon after its keys are published.
    pub fn tick_period_ms(&self) -> u32 {
        if self.waiters.iter().any(|w| w.elsewhere) {
            FAST_TICK_MS
        } else {
            TICK_MS
        }
    }

    /// On a host without a tick, a request refreshes keys whose lifetime is over before it is
    /// decided: the first source due, if any.
    pub fn refresh_due(&self, gate: &Gate, now: u64) -> Option<usize> {
        (0..gate.config.key_sources.len()).find(|&source| {
            gate.keys.loaded(source).is_some()
                && gate.keys.want_fetch(source, FetchReason::Refresh, now)
                && self.count(source) == 0
        })
    }

    fn count(&self, source: usize) -> usize {
        self.in_flight.iter().filter(|f| f.source == source).count()
    }

    /// Discovery when the `jwks_uri` is not known yet, else the JWKS.
    fn first_callout(&self, gate: &Gate, source: usize) -> Option<Callout> {
        let step = match gate.config.key_sources.get(source)? {
            KeySource::Discovery { .. } if gate.keys.jwks_uri(source).is_none() => Step::Discovery,
            KeySource::Discovery { .. } | KeySource::JwksUri { .. } => Step::Jwks,
            KeySource::Inline(_) => return None,
        };
        self.callout(gate, source, step)
    }

    fn callout(&self, gate: &Gate, source: usize, step: Step) -> Option<Callout> {
        let url = match (gate.config.key_sources.get(source)?, step) {
            (KeySource::Discovery { url, .. }, Step::Discovery) => url.clone(),
            (KeySource::Discovery { .. }, Step::Jwks) => gate.keys.jwks_uri(source)?.clone(),
            (KeySource::JwksUri { url, .. }, Step::Jwks) => url.clone(),
            _ => return None,
        };
        let upstream = gate.config.upstream_for(&url.host)?.to_owned();
        Some(Callout {
            source,
            step,
            upstream,
            scheme: url.scheme.as_str(),
            authority: url.authority(),
            path: url.path_and_query(),
            timeout_ms: gate.config.http_timeout_ms,
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn failed(
        &mut self,
        gate: &mut Gate,
        store: Option<&mut dyn SharedStore>,
        source: usize,
        step: Step,
        purpose: Purpose,
        now: u64,
        why: String,
    ) -> FetchEvent {
        if step == Step::Jwks {
            // The keys may have moved: ask discovery again next time.
            gate.keys.clear_jwks_uri(source);
        }
        if purpose == Purpose::Background {
            if let Some(due) = self.jwks_due.get_mut(source) {
                *due = false;
            }
            if let Some(store) = store {
                publish_mark(gate, store, source, FetchMark::Failed { at: now });
            }
        }
        // Another callout for the source may still bring keys: only the last one to end
        // decides that the source failed.
        let retry_after = if self.count(source) == 0 {
            gate.keys.fetch_failed(source, now)
        } else {
            1
        };
        FetchEvent::Failed { why, retry_after }
    }

    fn install(
        &mut self,
        gate: &mut Gate,
        store: Option<&mut dyn SharedStore>,
        fetch: &InFlight,
        body: &[u8],
        cache_control: Option<&str>,
        now: u64,
    ) -> FetchEvent {
        let source = fetch.source;
        // A set with no usable key is an answer: no token can be valid until the issuer
        // publishes one (found by the unknown-`kid` refetch), so requests are refused 401.
        let parsed = match jwk::parse_jwks(body) {
            Ok(parsed) => parsed,
            Err(e) => {
                return self.failed(
                    gate,
                    store,
                    source,
                    Step::Jwks,
                    fetch.purpose,
                    now,
                    format!("malformed JWKS: {e}"),
                )
            }
        };
        let skipped = parsed.skipped.iter().map(ToString::to_string).collect();
        let keys = parsed.keys.len();
        let max_age = cache_control.and_then(jwks_cache::max_age);
        gate.keys
            .keys_fetched(source, Rc::new(parsed.keys), max_age, now);
        gate.keys_changed(source);
        if let (Some(store), Some(loaded)) = (store, gate.keys.loaded(source)) {
            let record = KeyRecord {
                fetched_at: loaded.fetched_at,
                fresh_until: loaded.fresh_until,
                jwks: body,
            };
            if let Some(name) = shared_name(gate, source, "jwks") {
                let _ = store.set(&name, &key_record::encode(&record), None);
            }
            if fetch.purpose == Purpose::Background {
                publish_mark(gate, store, source, FetchMark::Done { at: now });
            }
        }
        FetchEvent::Installed { keys, skipped }
    }
}

/// Loads keys another worker published, if the shared copy changed. True if keys changed.
pub fn sync_from_shared(gate: &mut Gate, store: &dyn SharedStore, source: usize) -> bool {
    let Some(name) = shared_name(gate, source, "jwks") else {
        return false;
    };
    let Some((bytes, revision)) = store.get(&name) else {
        return false;
    };
    if gate.keys.shared_revision(source) == Some(revision) {
        return false;
    }
    gate.keys.set_shared_revision(source, revision);
    let Some(record) = key_record::decode(&bytes) else {
        return false;
    };
    if gate
        .keys
        .loaded(source)
        .is_some_and(|l| l.fetched_at >= record.fetched_at)
    {
        return false;
    }
    match jwk::parse_jwks(record.jwks) {
        Ok(parsed) => {
            let keys = Rc::new(parsed.keys);
            gate.keys.keys_shared(
                source,
                keys,
                record.fetched_at,
                record.fresh_until,
                revision,
            );
            gate.keys_changed(source);
            true
        }
        _ => false,
    }
}

/// Creates the cross-worker claim entries of every key source, so that every claim is a
/// compare-and-swap on an entry that exists (Envoy ignores the CAS on an absent key).
pub fn create_claims(gate: &Gate, store: &mut dyn SharedStore) {
    for source in 0..gate.config.key_sources.len() {
        let entries = [
            (shared_name(gate, source, "kid_refresh"), "0".to_owned()),
            (
                shared_name(gate, source, "fetch"),
                FetchMark::Done { at: 0 }.encode(),
            ),
        ];
        for (name, initial) in entries {
            if let Some(name) = name.filter(|name| store.get(name).is_none()) {
                let _ = store.set(&name, initial.as_bytes(), None);
            }
        }
    }
}

enum Claim {
    Won,
    Lost { started: u64 },
}

/// Claims the cross-worker right to refetch `source` for an unknown `kid`: at most one
/// refetch per `jwks_min_refresh_interval_seconds` over all workers.
fn claim_kid_refresh(gate: &Gate, store: &mut dyn SharedStore, source: usize, now: u64) -> Claim {
    let Some(name) = shared_name(gate, source, "kid_refresh") else {
        return Claim::Won;
    };
    let current = store.get(&name);
    let last = current
        .as_ref()
        .and_then(|(v, _)| std::str::from_utf8(v).ok()?.parse::<u64>().ok());
    if let Some(started) =
        last.filter(|&t| now < t.saturating_add(gate.config.jwks_min_refresh_interval))
    {
        return Claim::Lost { started };
    }
    match store.set(
        &name,
        now.to_string().as_bytes(),
        current.map(|(_, revision)| revision),
    ) {
        Ok(()) => Claim::Won,
        Err(_) => Claim::Lost { started: now },
    }
}

/// Claims the cross-worker right to refresh `source` in the background, so that one worker
/// fetches for all. A claim lapses after the fetch lease.
fn claim_fetch(gate: &Gate, store: &mut dyn SharedStore, source: usize, now: u64) -> bool {
    let Some(name) = shared_name(gate, source, "fetch") else {
        return true;
    };
    let current = store.get(&name);
    let mark = current.as_ref().and_then(|(v, _)| FetchMark::decode(v));
    if !FetchMark::allows_fetch(mark, now, gate.keys.policy().fetch_lease) {
        return false;
    }
    let pending = FetchMark::Pending { since: now }.encode();
    store
        .set(
            &name,
            pending.as_bytes(),
            current.map(|(_, revision)| revision),
        )
        .is_ok()
}

fn publish_mark(gate: &Gate, store: &mut dyn SharedStore, source: usize, mark: FetchMark) {
    if let Some(name) = shared_name(gate, source, "fetch") {
        let _ = store.set(&name, mark.encode().as_bytes(), None);
    }
}

/// The shared-data name for a key source: its URL and upstream, so that filter instances
/// with the same source share keys and instances with different ones never do.
fn shared_name(gate: &Gate, source: usize, what: &str) -> Option<String> {
    let (url, upstream) = match gate.config.key_sources.get(source)? {
        KeySource::Discovery { url, upstream } | KeySource::JwksUri { url, upstream } => {
            (url, upstream)
        }
        KeySource::Inline(_) => return None,
    };
    Some(format!(
        "{SHARED_PREFIX}/{what}/{upstream}/{}",
        url.normalized()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config;
    use crate::jwks_cache::Lookup;
    use crate::shared::MemoryStore;

    const NOW: u64 = 1_700_000_000;
    /// The context id of the request a test plans for.
    const REQUEST: u32 = 7;
    const DISCOVERY: &[u8] =
        br#"{"issuer":"https://tenant.example.com/","jwks_uri":"https://tenant.example.com/keys.json"}"#;
    const JWKS: &[u8] = br#"{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k1","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#;

    /// One worker: its gate and its fetches.
    struct Worker {
        gate: Gate,
        fetch: KeyFetch,
        next_token: u32,
    }

    fn worker() -> Worker {
        let json = br#"{"domain":"tenant.example.com","audience":"https://api.example.com","upstream":"auth0",
            "jwks_min_refresh_interval_seconds":30,"http_timeout_ms":2000}"#;
        let config = match config::parse(json) {
            Ok(c) => c,
            Err(e) => unreachable!("fixture must parse: {e}"),
        };
        Worker {
            gate: Gate::from_config(Rc::new(config)),
            fetch: KeyFetch::new(1),
            next_token: 1,
        }
    }

    fn ok(body: &[u8]) -> Answer<'_> {
        Answer {
            status: Some("200"),
            cache_control: None,
            body_size: body.len(),
            body,
        }
    }

    const NO_ANSWER: Answer<'static> = Answer {
        status: None,
        cache_control: None,
        body_size: 0,
        body: b"",
    };

    impl Worker {
        fn plan(&mut self, store: Option<&mut MemoryStore>, reason: FetchReason, now: u64) -> Plan {
            let store = store.map(|s| s as &mut dyn SharedStore);
            self.fetch
                .plan_for_request(&mut self.gate, store, 0, reason, REQUEST, now)
        }

        /// Sends `callout` as the host would, returning its token.
        fn send(&mut self, callout: &Callout, purpose: Purpose, now: u64) -> u32 {
            let token = self.next_token;
            self.next_token += 1;
            self.fetch.dispatched(token, callout, purpose, now);
            token
        }

        fn answer(
            &mut self,
            store: Option<&mut MemoryStore>,
            token: u32,
            answer: &Answer<'_>,
            now: u64,
        ) -> Outcome {
            let store = store.map(|s| s as &mut dyn SharedStore);
            self.fetch
                .on_answer(&mut self.gate, store, token, answer, now)
        }

        /// The background fetches a tick starts.
        fn tick(&mut self, store: Option<&mut MemoryStore>, now: u64) -> Vec<Callout> {
            self.full_tick(store, now).callouts
        }

        fn full_tick(&mut self, store: Option<&mut MemoryStore>, now: u64) -> Tick {
            let store = store.map(|s| s as &mut dyn SharedStore);
            self.fetch.on_tick(&mut self.gate, store, now)
        }

        fn has(&self, kid: &str, now: u64) -> bool {
            matches!(self.gate.keys.lookup(0, kid, now), Lookup::Found(_))
        }

        /// A request that needs keys fetches discovery, then the JWKS, from its own context.
        fn fetch_for_request(
            &mut self,
            mut store: Option<&mut MemoryStore>,
            reason: FetchReason,
            now: u64,
        ) {
            let Plan::Fetch(discovery) = self.plan(store.as_deref_mut(), reason, now) else {
                unreachable!("a fetch was expected")
            };
            let token = self.send(&discovery, Purpose::Request, now);
            let Outcome::Next(jwks) = self.answer(store.as_deref_mut(), token, &ok(DISCOVERY), now)
            else {
                unreachable!("discovery must lead to the JWKS")
            };
            let token = self.send(&jwks, Purpose::Request, now);
            let outcome = self.answer(store, token, &ok(JWKS), now);
            assert!(matches!(
                outcome,
                Outcome::Finished {
                    event: FetchEvent::Installed { keys: 1, .. },
                    ..
                }
            ));
        }
    }

    #[test]
    fn a_request_fetches_discovery_then_the_jwks_itself() {
        let mut store = MemoryStore::default();
        let mut a = worker();
        let Plan::Fetch(discovery) = a.plan(Some(&mut store), FetchReason::Refresh, NOW) else {
            unreachable!("no keys: a fetch")
        };
        assert_eq!(
            (
                discovery.upstream.as_str(),
                discovery.scheme,
                discovery.authority.as_str(),
                discovery.path.as_str()
            ),
            (
                "auth0",
                "https",
                "tenant.example.com",
                "/.well-known/openid-configuration"
            )
        );
        assert_eq!(discovery.timeout_ms, 2000);
        let token = a.send(&discovery, Purpose::Request, NOW);
        let Outcome::Next(jwks) = a.answer(Some(&mut store), token, &ok(DISCOVERY), NOW) else {
            unreachable!("the JWKS request follows from the same request")
        };
        assert_eq!((jwks.step, jwks.path.as_str()), (Step::Jwks, "/keys.json"));
        let token = a.send(&jwks, Purpose::Request, NOW);
        let outcome = a.answer(Some(&mut store), token, &ok(JWKS), NOW);
        assert_eq!(
            outcome,
            Outcome::Finished {
                source: 0,
                event: FetchEvent::Installed {
                    keys: 1,
                    skipped: vec![]
                },
                woken: vec![]
            }
        );
        assert!(a.has("k1", NOW));
    }

    /// Plans for the request `id` on a worker whose host can resume it from elsewhere.
    fn plan_as(w: &mut Worker, store: Option<&mut MemoryStore>, id: u32, now: u64) -> Plan {
        let store = store.map(|s| s as &mut dyn SharedStore);
        w.fetch
            .plan_for_request(&mut w.gate, store, 0, FetchReason::Refresh, id, now)
    }

    /// A worker whose host can wake requests, with request 1's discovery fetch out.
    fn waking_worker_fetching() -> (Worker, u32) {
        let mut a = worker();
        a.fetch.set_can_wake(true);
        let Plan::Fetch(discovery) = plan_as(&mut a, None, 1, NOW) else {
            unreachable!("the first request fetches")
        };
        let token = a.send(&discovery, Purpose::Request, NOW);
        (a, token)
    }

    #[test]
    fn where_requests_can_be_woken_they_wait_for_the_one_fetch_out() {
        let (mut a, token) = waking_worker_fetching();
        for id in 2..=20 {
            assert_eq!(plan_as(&mut a, None, id, NOW), Plan::Wait);
        }
        let Outcome::Next(jwks) = a.answer(None, token, &ok(DISCOVERY), NOW) else {
            unreachable!("discovery leads to the JWKS")
        };
        let token = a.send(&jwks, Purpose::Request, NOW);
        assert_eq!(plan_as(&mut a, None, 21, NOW), Plan::Wait, "still fetching");
        let Outcome::Finished { woken, .. } = a.answer(None, token, &ok(JWKS), NOW) else {
            unreachable!("the fetch ends")
        };
        assert_eq!(woken, (2..=21).collect::<Vec<_>>());
        assert!(a.has("k1", NOW));
    }

    #[test]
    fn waiters_are_woken_when_the_fetch_fails_or_is_refused() {
        let (mut a, token) = waking_worker_fetching();
        assert_eq!(plan_as(&mut a, None, 2, NOW), Plan::Wait);
        let Outcome::Next(jwks) = a.answer(None, token, &ok(DISCOVERY), NOW) else {
            unreachable!("discovery leads to the JWKS")
        };
        let outcome = a
            .fetch
            .dispatch_failed(&mut a.gate, None, &jwks, Purpose::Request, NOW);
        let Outcome::Finished { event, woken, .. } = outcome else {
            unreachable!("a refused callout ends the fetch")
        };
        assert!(matches!(event, FetchEvent::Failed { .. }));
        assert_eq!(woken, vec![2]);
    }

    #[test]
    fn waiters_of_a_request_that_went_away_get_a_fetch_on_the_tick_then_give_up() {
        let (mut a, token) = waking_worker_fetching();
        assert_eq!(plan_as(&mut a, None, 2, NOW), Plan::Wait);
        assert_eq!(plan_as(&mut a, None, 3, NOW), Plan::Wait);
        a.fetch.forget(token);
        a.fetch.forget_waiter(3);
        let tick = a.full_tick(None, NOW + 1);
        assert!(tick.woken.is_empty());
        let [callout] = tick.callouts.as_slice() else {
            unreachable!("one fetch for the waiter left: {tick:?}")
        };
        a.send(callout, Purpose::Background, NOW + 1);
        // The host never answers: the waiter is decided again once a fetch may be over.
        let lease = a.gate.keys.policy().fetch_lease;
        assert!(a.full_tick(None, NOW + lease - 1).woken.is_empty());
        assert_eq!(a.full_tick(None, NOW + lease).woken, vec![2]);
    }

    #[test]
    fn waiters_are_woken_by_keys_another_worker_published() {
        let mut store = MemoryStore::default();
        let (mut a, mut b) = (worker(), worker());
        b.fetch.set_can_wake(true);
        let Plan::Fetch(discovery) = plan_as(&mut b, Some(&mut store), 1, NOW) else {
            unreachable!("the first request fetches")
        };
        b.send(&discovery, Purpose::Request, NOW);
        assert_eq!(plan_as(&mut b, Some(&mut store), 2, NOW), Plan::Wait);
        a.fetch_for_request(Some(&mut store), FetchReason::Refresh, NOW);
        assert_eq!(b.full_tick(Some(&mut store), NOW + 1).woken, vec![2]);
    }

    /// Workers a and b hold the first keys (b can wake requests); at `later` a claims and
    /// sends an unknown-kid refetch. The store, both workers and a's callout token.
    fn refetch_out_on_a(later: u64) -> (MemoryStore, Worker, Worker, u32) {
        let mut store = MemoryStore::default();
        let (mut a, mut b) = (worker(), worker());
        create_claims(&a.gate, &mut store);
        a.fetch_for_request(Some(&mut store), FetchReason::Refresh, NOW);
        b.fetch.set_can_wake(true);
        assert!(b.tick(Some(&mut store), NOW).is_empty());
        let Plan::Fetch(jwks) = a.plan(Some(&mut store), FetchReason::UnknownKid, later) else {
            unreachable!("the claim's winner fetches")
        };
        let token = a.send(&jwks, Purpose::Request, later);
        (store, a, b, token)
    }

    /// What worker b plans for its request `id` that names an unknown kid, at `now`.
    fn plan_unknown_kid(b: &mut Worker, store: &mut MemoryStore, id: u32, now: u64) -> Plan {
        let store = Some(store as &mut dyn SharedStore);
        b.fetch
            .plan_for_request(&mut b.gate, store, 0, FetchReason::UnknownKid, id, now)
    }

    #[test]
    fn requests_wait_for_an_unknown_kid_refetch_on_another_worker_with_a_fast_tick() {
        let later = NOW + 60;
        // Worker a claims the refetch; b's requests wait for it rather than fetch.
        let (mut store, mut a, mut b, token) = refetch_out_on_a(later);
        assert_eq!(plan_unknown_kid(&mut b, &mut store, 1, later), Plan::Wait);
        assert_eq!(plan_unknown_kid(&mut b, &mut store, 2, later), Plan::Wait);
        assert_eq!(b.fetch.tick_period_ms(), FAST_TICK_MS);
        assert!(b.full_tick(Some(&mut store), later).woken.is_empty());
        a.answer(Some(&mut store), token, &ok(JWKS), later + 1);
        assert_eq!(b.full_tick(Some(&mut store), later + 1).woken, vec![1, 2]);
        assert_eq!(b.fetch.tick_period_ms(), TICK_MS);
    }

    /// Found by `make soak`: a request that arrives after the keys were published but before
    /// the tick loads them takes the update itself; the requests already waiting must still be
    /// woken by the next tick, not left until the fetch lease ends.
    #[test]
    fn waiters_are_woken_when_another_request_loaded_the_published_keys_first() {
        let later = NOW + 60;
        let (mut store, mut a, mut b, token) = refetch_out_on_a(later);
        assert_eq!(plan_unknown_kid(&mut b, &mut store, 1, later), Plan::Wait);
        a.answer(Some(&mut store), token, &ok(JWKS), later);
        // Request 2 on b loads a's keys and is decided at once.
        assert_eq!(
            plan_unknown_kid(&mut b, &mut store, 2, later),
            Plan::DecideAgain
        );
        assert_eq!(b.full_tick(Some(&mut store), later).woken, vec![1]);
        assert_eq!(b.fetch.tick_period_ms(), TICK_MS);
    }

    #[test]
    fn claims_exist_before_the_first_one_so_that_one_worker_wins() {
        /// A store that, like Envoy's, ignores the compare-and-swap on an absent key.
        struct Lenient(MemoryStore);
        impl SharedStore for Lenient {
            fn get(&self, key: &str) -> Option<(Vec<u8>, u32)> {
                self.0.get(key)
            }
            fn set(
                &mut self,
                key: &str,
                value: &[u8],
                cas: Option<u32>,
            ) -> Result<(), crate::shared::WriteError> {
                let cas = cas.filter(|_| self.0.get(key).is_some());
                self.0.set(key, value, cas)
            }
        }
        let a = worker();
        for what in ["kid_refresh", "fetch"] {
            let name = shared_name(&a.gate, 0, what).unwrap_or_default();
            // Two workers read the claim before either writes it.
            let race = |store: &mut Lenient| {
                let read = store.get(&name).map(|(_, revision)| revision);
                let now = NOW.to_string();
                [
                    store.set(&name, now.as_bytes(), read).is_ok(),
                    store.set(&name, now.as_bytes(), read).is_ok(),
                ]
            };
            let mut fresh = Lenient(MemoryStore::default());
            assert_eq!(
                race(&mut fresh),
                [true, true],
                "both win on an absent entry"
            );
            let mut created = Lenient(MemoryStore::default());
            create_claims(&a.gate, &mut created);
            assert_eq!(race(&mut created), [true, false], "{what}: one wins");
        }
    }

    #[test]
    fn a_key_set_without_usable_keys_is_installed_and_shared() {
        let mut store = MemoryStore::default();
        let (mut a, mut b) = (worker(), worker());
        let Plan::Fetch(discovery) = a.plan(Some(&mut store), FetchReason::Refresh, NOW) else {
            unreachable!("no keys: a fetch")
        };
        let token = a.send(&discovery, Purpose::Request, NOW);
        let Outcome::Next(jwks) = a.answer(Some(&mut store), token, &ok(DISCOVERY), NOW) else {
            unreachable!("discovery leads to the JWKS")
        };
        let token = a.send(&jwks, Purpose::Request, NOW);
        let outcome = a.answer(Some(&mut store), token, &ok(br#"{"keys":[]}"#), NOW);
        assert!(matches!(
            outcome,
            Outcome::Finished {
                event: FetchEvent::Installed { keys: 0, .. },
                ..
            }
        ));
        assert!(a.gate.keys.loaded(0).is_some());
        assert_eq!(
            b.plan(Some(&mut store), FetchReason::Refresh, NOW),
            Plan::DecideAgain
        );
        assert!(b.gate.keys.loaded(0).is_some());
    }

    #[test]
    fn without_waking_the_waiting_requests_each_fetch_up_to_the_bound() {
        let mut a = worker();
        for id in 0..MAX_FETCHES_PER_SOURCE as u32 {
            let Plan::Fetch(callout) = plan_as(&mut a, None, id, NOW) else {
                unreachable!("each request fetches")
            };
            a.send(&callout, Purpose::Request, NOW);
        }
        assert_eq!(
            plan_as(&mut a, None, 99, NOW),
            Plan::Unavailable { retry_after: 1 }
        );
    }

    #[test]
    fn another_worker_loads_published_keys_instead_of_fetching() {
        let mut store = MemoryStore::default();
        let (mut a, mut b) = (worker(), worker());
        a.fetch_for_request(Some(&mut store), FetchReason::Refresh, NOW);
        assert_eq!(
            b.plan(Some(&mut store), FetchReason::Refresh, NOW),
            Plan::DecideAgain
        );
        assert!(b.has("k1", NOW));
        // Loaded on the tick too, before any request asks.
        let mut c = worker();
        assert!(c.tick(Some(&mut store), NOW).is_empty());
        assert!(c.has("k1", NOW));
    }

    #[test]
    fn one_worker_refreshes_in_the_background_and_never_chains_from_the_root() {
        let mut store = MemoryStore::default();
        let (mut a, mut b) = (worker(), worker());
        let callouts = a.tick(Some(&mut store), NOW);
        let [discovery] = callouts.as_slice() else {
            unreachable!("one background fetch: {callouts:?}")
        };
        let token = a.send(discovery, Purpose::Background, NOW);
        // The claim is held: the other worker leaves the refresh to it.
        assert!(b.tick(Some(&mut store), NOW).is_empty());
        // Discovery's answer starts nothing from the root context's callback...
        let outcome = a.answer(Some(&mut store), token, &ok(DISCOVERY), NOW);
        assert_eq!(
            outcome,
            Outcome::Finished {
                source: 0,
                event: FetchEvent::DiscoveryDone,
                woken: vec![]
            }
        );
        // ...the JWKS request goes out on the next tick.
        let callouts = a.tick(Some(&mut store), NOW + 1);
        let [jwks] = callouts.as_slice() else {
            unreachable!("the JWKS fetch: {callouts:?}")
        };
        assert_eq!(jwks.step, Step::Jwks);
        let token = a.send(jwks, Purpose::Background, NOW + 1);
        a.answer(Some(&mut store), token, &ok(JWKS), NOW + 1);
        assert!(b.tick(Some(&mut store), NOW + 2).is_empty());
        assert!(b.has("k1", NOW + 2));
    }

    #[test]
    fn a_background_fetch_that_fails_elsewhere_frees_the_claim_at_once() {
        let mut store = MemoryStore::default();
        let (mut a, mut b) = (worker(), worker());
        let callouts = a.tick(Some(&mut store), NOW);
        let token = a.send(&callouts[0], Purpose::Background, NOW);
        let outcome = a.answer(Some(&mut store), token, &NO_ANSWER, NOW);
        assert!(matches!(
            outcome,
            Outcome::Finished {
                event: FetchEvent::Failed { retry_after: 1, .. },
                ..
            }
        ));
        // Worker A backs off; worker B, seeing the failure, may try without waiting for a lease.
        assert!(a.tick(Some(&mut store), NOW).is_empty());
        assert_eq!(b.tick(Some(&mut store), NOW).len(), 1);
    }

    #[test]
    fn an_unknown_kid_refetch_claimed_elsewhere_makes_requests_wait_for_keys_not_fail() {
        let mut store = MemoryStore::default();
        let (mut a, mut b) = (worker(), worker());
        a.fetch_for_request(Some(&mut store), FetchReason::Refresh, NOW);
        b.plan(Some(&mut store), FetchReason::Refresh, NOW);
        let later = NOW + 30;
        // A wins the cross-worker claim and fetches.
        let Plan::Fetch(a_fetch) = a.plan(Some(&mut store), FetchReason::UnknownKid, later) else {
            unreachable!("A refetches")
        };
        let a_token = a.send(&a_fetch, Purpose::Request, later);
        // B loses the claim while A's refetch runs: its request waits with a callout of its own.
        let Plan::Fetch(b_fetch) = b.plan(Some(&mut store), FetchReason::UnknownKid, later) else {
            unreachable!("B waits for keys")
        };
        let b_token = b.send(&b_fetch, Purpose::Request, later);
        assert!(matches!(
            b.gate.keys.lookup(0, "k9", later),
            Lookup::UnknownKid { may_refetch: true }
        ));
        assert_eq!(a_fetch.step, Step::Jwks);
        a.answer(Some(&mut store), a_token, &ok(JWKS), later);
        b.answer(Some(&mut store), b_token, &ok(JWKS), later);
        // The refetch is over: within the interval an unknown kid is refused on both workers.
        for w in [&mut a, &mut b] {
            assert_eq!(
                w.plan(Some(&mut store), FetchReason::UnknownKid, later + 1),
                Plan::DecideAgain
            );
            assert!(matches!(
                w.gate.keys.lookup(0, "k9", later + 1),
                Lookup::UnknownKid { may_refetch: false }
            ));
        }
    }

    #[test]
    fn a_timeout_fails_the_fetch_and_backs_off() {
        let mut a = worker();
        let Plan::Fetch(callout) = a.plan(None, FetchReason::Refresh, NOW) else {
            unreachable!("a fetch")
        };
        let token = a.send(&callout, Purpose::Request, NOW);
        let outcome = a.answer(None, token, &NO_ANSWER, NOW);
        assert!(matches!(
            outcome,
            Outcome::Finished {
                event: FetchEvent::Failed { retry_after: 1, .. },
                ..
            }
        ));
        assert!(matches!(
            a.gate.keys.lookup(0, "k1", NOW),
            Lookup::NoKeys {
                wait: false,
                retry_after: 1
            }
        ));
        assert!(matches!(
            a.gate.keys.lookup(0, "k1", NOW + 1),
            Lookup::NoKeys { wait: true, .. }
        ));
    }

    #[test]
    fn bad_answers_fail_the_fetch() {
        let big = vec![b' '; MAX_FETCH_BODY + 1];
        let cases = [
            Answer { status: Some("500"), ..ok(DISCOVERY) },
            Answer { status: Some("2000"), ..ok(DISCOVERY) },
            Answer { status: Some("200"), cache_control: None, body_size: big.len(), body: &big },
            ok(b"{}"),
            ok(br#"{"issuer":"https://evil.example.com/","jwks_uri":"https://evil.example.com/k"}"#),
        ];
        for answer in cases {
            let mut a = worker();
            let Plan::Fetch(callout) = a.plan(None, FetchReason::Refresh, NOW) else {
                unreachable!("a fetch")
            };
            let token = a.send(&callout, Purpose::Request, NOW);
            let outcome = a.answer(None, token, &answer, NOW);
            assert!(
                matches!(
                    outcome,
                    Outcome::Finished {
                        event: FetchEvent::Failed { .. },
                        ..
                    }
                ),
                "{answer:?}"
            );
        }
    }

    #[test]
    fn a_request_that_goes_away_leaves_nothing_behind() {
        let mut a = worker();
        let Plan::Fetch(callout) = a.plan(None, FetchReason::Refresh, NOW) else {
            unreachable!("a fetch")
        };
        let token = a.send(&callout, Purpose::Request, NOW);
        a.fetch.forget(token);
        assert_eq!(a.answer(None, token, &ok(DISCOVERY), NOW), Outcome::Unknown);
        assert_eq!(a.fetch.count(0), 0);
    }

    #[test]
    fn waiting_requests_fetch_each_up_to_the_bound() {
        let mut a = worker();
        for _ in 0..MAX_FETCHES_PER_SOURCE {
            let Plan::Fetch(callout) = a.plan(None, FetchReason::Refresh, NOW) else {
                unreachable!("a fetch")
            };
            a.send(&callout, Purpose::Request, NOW);
        }
        assert_eq!(
            a.plan(None, FetchReason::Refresh, NOW),
            Plan::Unavailable { retry_after: 1 }
        );
        // A callout the host never answers stops counting after the lease.
        let lease = a.gate.keys.policy().fetch_lease;
        a.tick(None, NOW + lease);
        assert!(matches!(
            a.plan(None, FetchReason::Refresh, NOW + lease),
            Plan::Fetch(_)
        ));
    }

    #[test]
    fn one_of_several_waiting_fetches_failing_does_not_fail_the_source() {
        let mut a = worker();
        let Plan::Fetch(first) = a.plan(None, FetchReason::Refresh, NOW) else {
            unreachable!("a fetch")
        };
        let Plan::Fetch(second) = a.plan(None, FetchReason::Refresh, NOW) else {
            unreachable!("a fetch")
        };
        let (t1, t2) = (
            a.send(&first, Purpose::Request, NOW),
            a.send(&second, Purpose::Request, NOW),
        );
        a.answer(None, t1, &NO_ANSWER, NOW);
        assert!(matches!(
            a.gate.keys.lookup(0, "k1", NOW),
            Lookup::NoKeys { wait: true, .. }
        ));
        let Outcome::Next(jwks) = a.answer(None, t2, &ok(DISCOVERY), NOW) else {
            unreachable!("the JWKS")
        };
        let t3 = a.send(&jwks, Purpose::Request, NOW);
        a.answer(None, t3, &ok(JWKS), NOW);
        assert!(a.has("k1", NOW));
    }

    #[test]
    fn without_shared_data_each_worker_keeps_its_own_keys_and_limits() {
        let (mut a, mut b) = (worker(), worker());
        a.fetch_for_request(None, FetchReason::Refresh, NOW);
        assert!(matches!(
            b.plan(None, FetchReason::Refresh, NOW),
            Plan::Fetch(_)
        ));
        // The unknown-kid rate limit is the worker's own.
        assert!(matches!(
            a.plan(None, FetchReason::UnknownKid, NOW + 30),
            Plan::Fetch(_)
        ));
    }

    #[test]
    fn without_a_tick_requests_refresh_keys_whose_lifetime_is_over() {
        let mut a = worker();
        assert_eq!(
            a.fetch.refresh_due(&a.gate, NOW),
            None,
            "nothing loaded: requests fetch when they need keys"
        );
        a.fetch_for_request(None, FetchReason::Refresh, NOW);
        let ttl = a.gate.config.jwks_cache_ttl;
        assert_eq!(a.fetch.refresh_due(&a.gate, NOW + ttl - 1), None);
        assert_eq!(a.fetch.refresh_due(&a.gate, NOW + ttl), Some(0));
        let Plan::Fetch(callout) = a.plan(None, FetchReason::Refresh, NOW + ttl) else {
            unreachable!("a refresh")
        };
        a.send(&callout, Purpose::Request, NOW + ttl);
        assert_eq!(
            a.fetch.refresh_due(&a.gate, NOW + ttl),
            None,
            "one refresh at a time"
        );
    }
}
