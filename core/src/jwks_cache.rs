//! The key cache of one worker: for each key source, the last good key set, when it must be
//! refreshed, how long it may still serve while refreshes fail, and whether a fetch may start.
//!
//! It is a state machine driven by the shell: `lookup` answers requests, `want_fetch` tells the
//! shell whether to start a fetch, `fetch_started`/`keys_fetched`/`fetch_failed` record what the
//! network did. Nothing here performs I/O or reads the clock.

use crate::jwk::{Jwk, JwkSet};
use crate::url::HttpUrl;
use std::rc::Rc;

/// Longest pause between two attempts while a source keeps failing.
pub const MAX_BACKOFF_SECONDS: u64 = 8;

#[derive(Debug, Clone, Copy)]
pub struct CachePolicy {
    pub ttl: u64,
    pub min_refresh_interval: u64,
    pub max_stale: u64,
    /// The longest a fetch can take (discovery, then JWKS, each with its timeout): a fetch
    /// started longer ago than this is over, whether or not anyone heard how it ended.
    pub fetch_lease: u64,
}

/// A key set that was fetched and parsed.
#[derive(Debug, Clone)]
pub struct LoadedKeys {
    pub keys: Rc<JwkSet>,
    pub fetched_at: u64,
    /// End of the keys' lifetime: a background refresh is due from here on.
    pub fresh_until: u64,
}

#[derive(Debug, Default)]
struct SourceState {
    loaded: Option<LoadedKeys>,
    /// The `jwks_uri` learnt from discovery, kept so a refresh can skip discovery.
    jwks_uri: Option<HttpUrl>,
    in_flight_since: Option<u64>,
    consecutive_failures: u32,
    next_attempt_at: u64,
    /// When the last fetch for an unknown `kid` started, on this worker or another.
    last_kid_refresh_at: Option<u64>,
    /// Identifies the revision of the shared copy this state was loaded from.
    shared_revision: Option<u32>,
    /// Keys given in the configuration: never fetched, so never refetched either.
    is_static: bool,
}

/// Why a fetch is wanted; it decides which rate limit applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchReason {
    /// No usable keys, or the keys' lifetime is over.
    Refresh,
    /// A token names a `kid` the current set lacks.
    UnknownKid,
}

/// The answer to "which key has this `kid`?".
#[derive(Debug)]
pub enum Lookup<'a> {
    Found(&'a Jwk),
    /// The set was fetched and lacks the `kid`; `may_refetch` says whether a refetch is allowed now.
    UnknownKid {
        may_refetch: bool,
    },
    /// No usable keys: wait for a fetch (in flight or startable), or give up until `retry_after`.
    NoKeys {
        wait: bool,
        retry_after: u64,
    },
}

#[derive(Debug)]
pub struct KeyCache {
    policy: CachePolicy,
    sources: Vec<SourceState>,
}

impl KeyCache {
    pub fn new(source_count: usize, policy: CachePolicy) -> KeyCache {
        KeyCache {
            policy,
            sources: (0..source_count).map(|_| SourceState::default()).collect(),
        }
    }

    pub fn policy(&self) -> CachePolicy {
        self.policy
    }

    /// Installs keys that need no fetching (the inline `jwks` option): they never expire.
    pub fn install_static(&mut self, source: usize, keys: Rc<JwkSet>) {
        if let Some(state) = self.sources.get_mut(source) {
            state.loaded = Some(LoadedKeys {
                keys,
                fetched_at: 0,
                fresh_until: u64::MAX,
            });
            state.is_static = true;
        }
    }

    pub fn lookup(&self, source: usize, kid: &str, now: u64) -> Lookup<'_> {
        let Some(state) = self.sources.get(source) else {
            return Lookup::NoKeys {
                wait: false,
                retry_after: MAX_BACKOFF_SECONDS,
            };
        };
        match self.usable(state, now) {
            Some(loaded) => match loaded.keys.find(kid) {
                Some(jwk) => Lookup::Found(jwk),
                None => Lookup::UnknownKid {
                    may_refetch: self.kid_refetch_allowed(state, now),
                },
            },
            None => {
                let in_flight = self.in_flight(state, now);
                if in_flight || now >= state.next_attempt_at {
                    Lookup::NoKeys {
                        wait: true,
                        retry_after: crate::rejection::RETRY_SOON,
                    }
                } else {
                    Lookup::NoKeys {
                        wait: false,
                        retry_after: state.next_attempt_at - now,
                    }
                }
            }
        }
    }

    /// Keys that may serve at `now`: fresh, or stale but within `max_stale` of their lifetime's end.
    fn usable<'a>(&self, state: &'a SourceState, now: u64) -> Option<&'a LoadedKeys> {
        state
            .loaded
            .as_ref()
            .filter(|l| now < l.fresh_until.saturating_add(self.policy.max_stale))
    }

    /// Whether this worker has a fetch for `source` under way.
    pub fn fetching(&self, source: usize, now: u64) -> bool {
        self.sources
            .get(source)
            .is_some_and(|s| self.in_flight(s, now))
    }

    fn in_flight(&self, state: &SourceState, now: u64) -> bool {
        state
            .in_flight_since
            .is_some_and(|since| now < since.saturating_add(self.policy.fetch_lease))
    }

    /// A refetch for an unknown `kid` started (here or on another worker) and has not
    /// delivered keys yet: a request with an unknown `kid` waits for it rather than being
    /// refused by the rate limit.
    fn kid_refresh_running(&self, state: &SourceState, now: u64) -> bool {
        state.last_kid_refresh_at.is_some_and(|started| {
            now < started.saturating_add(self.policy.fetch_lease)
                && state.loaded.as_ref().is_none_or(|l| l.fetched_at < started)
        })
    }

    /// Whether a refetch for an unknown `kid` of `source` is under way anywhere.
    pub fn kid_refresh_in_progress(&self, source: usize, now: u64) -> bool {
        self.sources
            .get(source)
            .is_some_and(|s| self.kid_refresh_running(s, now))
    }

    fn kid_refetch_allowed(&self, state: &SourceState, now: u64) -> bool {
        if state.is_static {
            return false;
        }
        if self.kid_refresh_running(state, now) {
            return true;
        }
        let since_fetch = state.loaded.as_ref().is_none_or(|l| {
            now >= l
                .fetched_at
                .saturating_add(self.policy.min_refresh_interval)
        });
        let since_kid = state
            .last_kid_refresh_at
            .is_none_or(|t| now >= t.saturating_add(self.policy.min_refresh_interval));
        since_fetch && since_kid
    }

    /// Whether the shell should start a fetch for `source` now.
    pub fn want_fetch(&self, source: usize, reason: FetchReason, now: u64) -> bool {
        let Some(state) = self.sources.get(source) else {
            return false;
        };
        if self.in_flight(state, now) {
            return false;
        }
        match reason {
            FetchReason::UnknownKid => self.kid_refetch_allowed(state, now),
            FetchReason::Refresh => {
                let due = state.loaded.as_ref().is_none_or(|l| now >= l.fresh_until);
                due && now >= state.next_attempt_at
            }
        }
    }

    /// Sources whose refresh is due (background prefetch on the tick).
    pub fn due_sources(&self, now: u64) -> Vec<usize> {
        (0..self.sources.len())
            .filter(|&s| self.want_fetch(s, FetchReason::Refresh, now))
            .collect()
    }

    pub fn fetch_started(&mut self, source: usize, reason: FetchReason, now: u64) {
        if let Some(state) = self.sources.get_mut(source) {
            state.in_flight_since = Some(now);
            if reason == FetchReason::UnknownKid {
                state.last_kid_refresh_at = Some(now);
            }
        }
    }

    /// Records that another worker started a refetch for an unknown `kid` at `started`.
    pub fn kid_refresh_claimed_elsewhere(&mut self, source: usize, started: u64) {
        if let Some(state) = self.sources.get_mut(source) {
            state.last_kid_refresh_at = Some(started);
        }
    }

    pub fn jwks_uri(&self, source: usize) -> Option<&HttpUrl> {
        self.sources.get(source).and_then(|s| s.jwks_uri.as_ref())
    }

    /// Forgets the `jwks_uri` learnt from discovery, so the next fetch asks discovery again.
    pub fn clear_jwks_uri(&mut self, source: usize) {
        if let Some(state) = self.sources.get_mut(source) {
            state.jwks_uri = None;
        }
    }

    pub fn set_jwks_uri(&mut self, source: usize, url: HttpUrl) {
        if let Some(state) = self.sources.get_mut(source) {
            state.jwks_uri = Some(url);
        }
    }

    /// Installs freshly fetched keys. `max_age` is the response's `Cache-Control: max-age`.
    pub fn keys_fetched(
        &mut self,
        source: usize,
        keys: Rc<JwkSet>,
        max_age: Option<u64>,
        now: u64,
    ) {
        let lifetime = max_age.map_or(self.policy.ttl, |m| m.min(self.policy.ttl));
        self.install(source, keys, now, now.saturating_add(lifetime), None);
    }

    /// Installs keys another worker fetched, read from shared data at `revision`.
    pub fn keys_shared(
        &mut self,
        source: usize,
        keys: Rc<JwkSet>,
        fetched_at: u64,
        fresh_until: u64,
        revision: u32,
    ) {
        self.install(source, keys, fetched_at, fresh_until, Some(revision));
    }

    fn install(
        &mut self,
        source: usize,
        keys: Rc<JwkSet>,
        fetched_at: u64,
        fresh_until: u64,
        revision: Option<u32>,
    ) {
        if let Some(state) = self.sources.get_mut(source) {
            state.loaded = Some(LoadedKeys {
                keys,
                fetched_at,
                fresh_until,
            });
            state.in_flight_since = None;
            state.consecutive_failures = 0;
            state.next_attempt_at = 0;
            if revision.is_some() {
                state.shared_revision = revision;
            }
        }
    }

    /// The shared revision this worker last loaded, to skip re-parsing an unchanged copy.
    pub fn shared_revision(&self, source: usize) -> Option<u32> {
        self.sources.get(source).and_then(|s| s.shared_revision)
    }

    pub fn set_shared_revision(&mut self, source: usize, revision: u32) {
        if let Some(state) = self.sources.get_mut(source) {
            state.shared_revision = Some(revision);
        }
    }

    /// Records a failed fetch and returns the seconds until the next attempt.
    pub fn fetch_failed(&mut self, source: usize, now: u64) -> u64 {
        let Some(state) = self.sources.get_mut(source) else {
            return MAX_BACKOFF_SECONDS;
        };
        state.in_flight_since = None;
        state.consecutive_failures = state.consecutive_failures.saturating_add(1);
        let backoff = 1u64
            .checked_shl(state.consecutive_failures.saturating_sub(1))
            .unwrap_or(MAX_BACKOFF_SECONDS)
            .min(MAX_BACKOFF_SECONDS);
        state.next_attempt_at = now.saturating_add(backoff);
        backoff
    }

    pub fn loaded(&self, source: usize) -> Option<&LoadedKeys> {
        self.sources.get(source).and_then(|s| s.loaded.as_ref())
    }

    /// Number of keys usable at `now`, over all sources (a gauge).
    pub fn keys_in_use(&self, now: u64) -> usize {
        self.sources
            .iter()
            .filter_map(|s| self.usable(s, now))
            .map(|l| l.keys.len())
            .sum()
    }
}

/// The `max-age` of a `Cache-Control` value, if it has one; `Some(0)` for `no-store` or
/// `no-cache` (keys are then due for refresh at once).
pub fn max_age(cache_control: &str) -> Option<u64> {
    let mut max_age = None;
    for directive in cache_control.split(',') {
        let directive = directive.trim();
        let (name, value) = directive.split_once('=').unwrap_or((directive, ""));
        let name = name.trim().to_ascii_lowercase();
        match name.as_str() {
            "no-store" | "no-cache" => return Some(0),
            "max-age" => max_age = value.trim().trim_matches('"').parse::<u64>().ok(),
            _ => {}
        }
    }
    max_age
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jwk::parse_jwks;

    const NOW: u64 = 1_700_000_000;
    const LEASE: u64 = 11;
    const POLICY: CachePolicy = CachePolicy {
        ttl: 600,
        min_refresh_interval: 30,
        max_stale: 3600,
        fetch_lease: LEASE,
    };

    fn keyset() -> Rc<JwkSet> {
        let jwks = br#"{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k1","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#;
        match parse_jwks(jwks) {
            Ok(parsed) => Rc::new(parsed.keys),
            Err(e) => unreachable!("fixture must parse: {e}"),
        }
    }

    #[test]
    fn empty_cache_waits_for_first_fetch() {
        let cache = KeyCache::new(1, POLICY);
        assert!(matches!(
            cache.lookup(0, "k1", NOW),
            Lookup::NoKeys { wait: true, .. }
        ));
        assert!(cache.want_fetch(0, FetchReason::Refresh, NOW));
    }

    #[test]
    fn one_fetch_in_flight_at_a_time() {
        let mut cache = KeyCache::new(1, POLICY);
        cache.fetch_started(0, FetchReason::Refresh, NOW);
        assert!(!cache.want_fetch(0, FetchReason::Refresh, NOW + 1));
        assert!(matches!(
            cache.lookup(0, "k1", NOW + 1),
            Lookup::NoKeys { wait: true, .. }
        ));
        // A fetch that never answers stops blocking after its lease.
        assert!(cache.want_fetch(0, FetchReason::Refresh, NOW + LEASE));
    }

    #[test]
    fn failures_back_off_and_answer_unavailable() {
        let mut cache = KeyCache::new(1, POLICY);
        cache.fetch_started(0, FetchReason::Refresh, NOW);
        assert_eq!(cache.fetch_failed(0, NOW), 1);
        match cache.lookup(0, "k1", NOW) {
            Lookup::NoKeys {
                wait: false,
                retry_after,
            } => assert_eq!(retry_after, 1),
            other => panic!("unexpected {other:?}"),
        }
        assert!(!cache.want_fetch(0, FetchReason::Refresh, NOW));
        assert!(cache.want_fetch(0, FetchReason::Refresh, NOW + 1));
        assert_eq!(cache.fetch_failed(0, NOW + 1), 2);
        assert_eq!(cache.fetch_failed(0, NOW + 3), 4);
        assert_eq!(cache.fetch_failed(0, NOW + 7), 8);
        assert_eq!(cache.fetch_failed(0, NOW + 15), MAX_BACKOFF_SECONDS);
    }

    #[test]
    fn found_and_unknown_kid() {
        let mut cache = KeyCache::new(1, POLICY);
        cache.keys_fetched(0, keyset(), None, NOW);
        assert!(matches!(cache.lookup(0, "k1", NOW), Lookup::Found(_)));
        // Refetch for an unknown kid is rate limited from the last fetch.
        assert!(matches!(
            cache.lookup(0, "k2", NOW + 1),
            Lookup::UnknownKid { may_refetch: false }
        ));
        assert!(matches!(
            cache.lookup(0, "k2", NOW + 30),
            Lookup::UnknownKid { may_refetch: true }
        ));
        cache.fetch_started(0, FetchReason::UnknownKid, NOW + 30);
        cache.keys_fetched(0, keyset(), None, NOW + 31);
        assert!(matches!(
            cache.lookup(0, "k2", NOW + 31),
            Lookup::UnknownKid { may_refetch: false }
        ));
    }

    #[test]
    fn an_unknown_kid_waits_for_a_refetch_running_elsewhere() {
        let mut cache = KeyCache::new(1, POLICY);
        cache.keys_fetched(0, keyset(), None, NOW);
        // Inside the rate limit, but another worker's refetch started after these keys.
        cache.kid_refresh_claimed_elsewhere(0, NOW + 2);
        assert!(cache.kid_refresh_in_progress(0, NOW + 3));
        assert!(matches!(
            cache.lookup(0, "k2", NOW + 3),
            Lookup::UnknownKid { may_refetch: true }
        ));
        // Its lease ran out without keys: the rate limit applies again.
        assert!(matches!(
            cache.lookup(0, "k2", NOW + 2 + LEASE),
            Lookup::UnknownKid { may_refetch: false }
        ));
        // Keys fetched at or after its start end it.
        cache.keys_fetched(0, keyset(), None, NOW + 2);
        assert!(!cache.kid_refresh_in_progress(0, NOW + 3));
        assert!(matches!(
            cache.lookup(0, "k2", NOW + 3),
            Lookup::UnknownKid { may_refetch: false }
        ));
    }

    #[test]
    fn kid_comparison_is_byte_for_byte() {
        let mut cache = KeyCache::new(1, POLICY);
        cache.keys_fetched(0, keyset(), None, NOW);
        for kid in ["K1", "k1 ", "k"] {
            assert!(
                matches!(cache.lookup(0, kid, NOW), Lookup::UnknownKid { .. }),
                "{kid}"
            );
        }
    }

    #[test]
    fn lifetime_is_the_smaller_of_ttl_and_max_age() {
        let mut cache = KeyCache::new(2, POLICY);
        cache.keys_fetched(0, keyset(), Some(60), NOW);
        cache.keys_fetched(1, keyset(), Some(6000), NOW);
        assert_eq!(cache.loaded(0).map(|l| l.fresh_until), Some(NOW + 60));
        assert_eq!(cache.loaded(1).map(|l| l.fresh_until), Some(NOW + 600));
        assert!(cache.want_fetch(0, FetchReason::Refresh, NOW + 60));
        assert!(!cache.want_fetch(1, FetchReason::Refresh, NOW + 60));
        assert_eq!(cache.due_sources(NOW + 60), vec![0]);
    }

    #[test]
    fn stale_keys_serve_until_max_stale_then_drop() {
        let mut cache = KeyCache::new(1, POLICY);
        cache.keys_fetched(0, keyset(), None, NOW);
        let end = NOW + 600;
        cache.fetch_started(0, FetchReason::Refresh, end);
        cache.fetch_failed(0, end);
        assert!(matches!(
            cache.lookup(0, "k1", end + 3599),
            Lookup::Found(_)
        ));
        assert!(matches!(
            cache.lookup(0, "k1", end + 3600),
            Lookup::NoKeys { .. }
        ));
        assert_eq!(cache.keys_in_use(end + 3599), 1);
        assert_eq!(cache.keys_in_use(end + 3600), 0);
    }

    #[test]
    fn inline_keys_never_expire() {
        let mut cache = KeyCache::new(1, POLICY);
        cache.install_static(0, keyset());
        assert!(matches!(
            cache.lookup(0, "k1", u64::MAX - 1),
            Lookup::Found(_)
        ));
        assert!(cache.due_sources(u64::MAX - 1).is_empty());
    }

    #[test]
    fn inline_keys_never_refetch_for_an_unknown_kid() {
        let mut cache = KeyCache::new(1, POLICY);
        cache.install_static(0, keyset());
        assert!(matches!(
            cache.lookup(0, "k2", NOW),
            Lookup::UnknownKid { may_refetch: false }
        ));
        assert!(!cache.want_fetch(0, FetchReason::UnknownKid, NOW));
    }

    #[test]
    fn cache_control_parsing() {
        assert_eq!(max_age("public, max-age=300"), Some(300));
        assert_eq!(max_age("MAX-AGE=\"20\""), Some(20));
        assert_eq!(max_age("no-store"), Some(0));
        assert_eq!(max_age("max-age=abc"), None);
        assert_eq!(max_age("private"), None);
    }
}
