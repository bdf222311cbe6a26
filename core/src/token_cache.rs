//! Access tokens that already passed every check, keyed by the SHA-256 of the whole token.
//! Clients reuse one token for many requests, so a hit skips parsing and signature
//! verification. Only successes are stored, each until its `exp`; the number of entries is
//! bounded, and eviction gives a second chance (CLOCK, an approximation of LRU): the oldest
//! entry goes unless it was used since it last came round, so tokens in steady use stay.
//! Entries of a key source are dropped whenever that source's key set changes.

use crate::access_token::VerifiedToken;
use std::cell::Cell;
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;

pub type TokenHash = [u8; 32];

#[derive(Debug)]
pub struct TokenCache {
    capacity: usize,
    entries: HashMap<TokenHash, Entry>,
    /// Eviction order. May hold hashes already removed.
    order: VecDeque<TokenHash>,
}

#[derive(Debug)]
struct Entry {
    token: Rc<VerifiedToken>,
    /// Set by a hit, cleared when eviction passes the entry over.
    used: Cell<bool>,
}

impl TokenCache {
    /// A cache of at most `capacity` tokens; 0 disables caching.
    pub fn new(capacity: usize) -> TokenCache {
        TokenCache {
            capacity,
            entries: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    /// The verified token, if cached and not yet expired at `now` (with `skew`, as when verified).
    pub fn get(&self, hash: &TokenHash, skew: u64, now: u64) -> Option<Rc<VerifiedToken>> {
        let entry = self.entries.get(hash)?;
        if now >= entry.token.expires_at.saturating_add(skew) {
            return None;
        }
        entry.used.set(true);
        Some(Rc::clone(&entry.token))
    }

    pub fn insert(&mut self, hash: TokenHash, token: Rc<VerifiedToken>) {
        if self.capacity == 0 {
            return;
        }
        let entry = Entry {
            token,
            used: Cell::new(false),
        };
        if self.entries.insert(hash, entry).is_some() {
            return;
        }
        self.order.push_back(hash);
        // Each pass clears at most every flag once, so two rounds always find a victim.
        let mut budget = self.order.len().saturating_mul(2);
        while self.entries.len() > self.capacity && budget > 0 {
            budget -= 1;
            let Some(oldest) = self.order.pop_front() else {
                break;
            };
            match self.entries.get(&oldest) {
                Some(entry) if entry.used.replace(false) => self.order.push_back(oldest),
                Some(_) => {
                    self.entries.remove(&oldest);
                }
                None => {}
            }
        }
        // Hashes of entries removed by `purge_source` linger in `order`; keep it bounded too.
        if self.order.len() > self.capacity.saturating_mul(2) {
            let entries = &self.entries;
            self.order.retain(|h| entries.contains_key(h));
        }
    }

    /// Drops every token verified with keys of `source` (its key set changed).
    pub fn purge_source(&mut self, source: usize) {
        self.entries.retain(|_, e| e.token.source != source);
    }

    /// Drops expired tokens; called from the periodic tick so memory follows live tokens.
    pub fn purge_expired(&mut self, skew: u64, now: u64) {
        self.entries
            .retain(|_, e| now < e.token.expires_at.saturating_add(skew));
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Map;

    fn token(source: usize, expires_at: u64) -> Rc<VerifiedToken> {
        Rc::new(VerifiedToken {
            claims: Map::new(),
            scopes: vec![],
            expires_at,
            source,
            kid: "k1".into(),
        })
    }

    fn hash(n: u8) -> TokenHash {
        [n; 32]
    }

    #[test]
    fn hit_until_exp_plus_skew() {
        let mut cache = TokenCache::new(4);
        cache.insert(hash(1), token(0, 100));
        assert!(cache.get(&hash(1), 10, 109).is_some());
        assert!(cache.get(&hash(1), 10, 110).is_none());
        assert!(cache.get(&hash(2), 10, 50).is_none());
    }

    #[test]
    fn bounded_and_evicts_oldest() {
        let mut cache = TokenCache::new(3);
        for n in 0..10 {
            cache.insert(hash(n), token(0, 1000));
        }
        assert_eq!(cache.len(), 3);
        assert!(cache.get(&hash(6), 0, 1).is_none());
        assert!(cache.get(&hash(9), 0, 1).is_some());
        assert!(cache.order.len() <= 6);
    }

    #[test]
    fn a_token_in_use_survives_eviction() {
        let mut cache = TokenCache::new(3);
        cache.insert(hash(0), token(0, 1000));
        for n in 1..50 {
            assert!(cache.get(&hash(0), 0, 1).is_some(), "evicted at {n}");
            cache.insert(hash(n), token(0, 1000));
        }
        assert_eq!(cache.len(), 3);
    }

    #[test]
    fn capacity_zero_disables() {
        let mut cache = TokenCache::new(0);
        cache.insert(hash(1), token(0, 1000));
        assert!(cache.is_empty());
    }

    #[test]
    fn key_set_change_drops_that_source_only() {
        let mut cache = TokenCache::new(8);
        cache.insert(hash(1), token(0, 1000));
        cache.insert(hash(2), token(1, 1000));
        cache.purge_source(0);
        assert!(cache.get(&hash(1), 0, 1).is_none());
        assert!(cache.get(&hash(2), 0, 1).is_some());
    }

    #[test]
    fn order_stays_bounded_under_purges() {
        let mut cache = TokenCache::new(2);
        for n in 0..200u8 {
            cache.insert(hash(n), token(0, 1000));
            cache.purge_source(0);
        }
        assert!(cache.order.len() <= 4);
        assert!(cache.is_empty());
    }

    #[test]
    fn expired_entries_are_purged() {
        let mut cache = TokenCache::new(8);
        cache.insert(hash(1), token(0, 100));
        cache.insert(hash(2), token(0, 300));
        cache.purge_expired(0, 200);
        assert_eq!(cache.len(), 1);
    }
}
