//! Access tokens that already passed every check, keyed by the token's text. Clients reuse
//! one token for many requests, so a hit skips parsing and signature verification. Only
//! successes are stored, each until its `exp`; the number of entries and the bytes of token
//! text kept are bounded, and eviction gives a second chance (CLOCK, an approximation of
//! LRU): the oldest entry goes unless it was used since it last came round, so tokens in
//! steady use stay. Entries of a key source are dropped whenever that source's key set
//! changes.
//!
//! A hit costs one hash of the token's last [`HASHED_TAIL`] bytes and one comparison of the
//! whole text: no digest of the whole token. The tail of a signed token is its signature, so
//! the tails of stored tokens differ; the hash is keyed per cache (`RandomState`), and a
//! lookup that lands on an entry with another text is a miss, so a client choosing tails can
//! at most make its own lookups compare text. Entries are only ever tokens that verified.

use crate::access_token::VerifiedToken;
use std::cell::Cell;
use std::collections::hash_map::RandomState;
use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasher;
use std::rc::Rc;

/// Bytes at the end of a token the lookup hash covers.
pub const HASHED_TAIL: usize = 32;
/// Token text the cache keeps at most, over all entries: 4096 typical tokens of about 1 KiB.
pub const MAX_TEXT_BYTES: usize = 4 * 1024 * 1024;

#[derive(Debug)]
pub struct TokenCache {
    capacity: usize,
    hasher: RandomState,
    entries: HashMap<u64, Entry>,
    /// Eviction order. May hold keys already removed.
    order: VecDeque<u64>,
    /// Bytes of token text in `entries`.
    text_bytes: usize,
}

#[derive(Debug)]
struct Entry {
    text: Box<str>,
    token: Rc<VerifiedToken>,
    /// Set by a hit, cleared when eviction passes the entry over.
    used: Cell<bool>,
}

impl TokenCache {
    /// A cache of at most `capacity` tokens; 0 disables caching.
    pub fn new(capacity: usize) -> TokenCache {
        TokenCache {
            capacity,
            hasher: RandomState::new(),
            entries: HashMap::new(),
            order: VecDeque::new(),
            text_bytes: 0,
        }
    }

    fn key(&self, text: &str) -> u64 {
        let bytes = text.as_bytes();
        let tail = bytes
            .get(bytes.len().saturating_sub(HASHED_TAIL)..)
            .unwrap_or(bytes);
        self.hasher.hash_one((bytes.len(), tail))
    }

    /// The verified token `text`, if cached and not yet expired at `now` (with `skew`, as
    /// when verified).
    pub fn get(&self, text: &str, skew: u64, now: u64) -> Option<Rc<VerifiedToken>> {
        let entry = self.entries.get(&self.key(text))?;
        if *entry.text != *text || now >= entry.token.expires_at.saturating_add(skew) {
            return None;
        }
        entry.used.set(true);
        Some(Rc::clone(&entry.token))
    }

    pub fn insert(&mut self, text: &str, token: Rc<VerifiedToken>) {
        if self.capacity == 0 || text.len() > MAX_TEXT_BYTES {
            return;
        }
        let key = self.key(text);
        let entry = Entry {
            text: text.into(),
            token,
            used: Cell::new(false),
        };
        self.text_bytes += text.len();
        match self.entries.insert(key, entry) {
            // Another token with the same key is replaced: the cache only ever misses for it.
            Some(previous) => {
                self.text_bytes = self.text_bytes.saturating_sub(previous.text.len());
                return;
            }
            None => self.order.push_back(key),
        }
        // Each pass clears at most every flag once, so two rounds always find a victim.
        let mut budget = self.order.len().saturating_mul(2);
        while (self.entries.len() > self.capacity || self.text_bytes > MAX_TEXT_BYTES) && budget > 0
        {
            budget -= 1;
            let Some(oldest) = self.order.pop_front() else {
                break;
            };
            match self.entries.get(&oldest) {
                Some(entry) if entry.used.replace(false) => self.order.push_back(oldest),
                Some(_) => self.remove(oldest),
                None => {}
            }
        }
        // Keys of entries removed by `purge_source` linger in `order`; keep it bounded too.
        if self.order.len() > self.capacity.saturating_mul(2) {
            let entries = &self.entries;
            self.order.retain(|k| entries.contains_key(k));
        }
    }

    fn remove(&mut self, key: u64) {
        if let Some(entry) = self.entries.remove(&key) {
            self.text_bytes = self.text_bytes.saturating_sub(entry.text.len());
        }
    }

    /// Drops every token verified with keys of `source` (its key set changed).
    pub fn purge_source(&mut self, source: usize) {
        self.retain(|token| token.source != source);
    }

    /// Drops expired tokens; called from the periodic tick so memory follows live tokens.
    pub fn purge_expired(&mut self, skew: u64, now: u64) {
        self.retain(|token| now < token.expires_at.saturating_add(skew));
    }

    fn retain(&mut self, keep: impl Fn(&VerifiedToken) -> bool) {
        let mut freed = 0;
        self.entries.retain(|_, e| {
            let kept = keep(&e.token);
            if !kept {
                freed += e.text.len();
            }
            kept
        });
        self.text_bytes = self.text_bytes.saturating_sub(freed);
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
        Rc::new(VerifiedToken::new(
            Map::new(),
            vec![],
            expires_at,
            source,
            "k1".into(),
        ))
    }

    /// A token text per `n`, differing in its tail as signatures do.
    fn text(n: u8) -> String {
        format!("header.payload.{}{n:03}", "s".repeat(HASHED_TAIL))
    }

    #[test]
    fn hit_until_exp_plus_skew() {
        let mut cache = TokenCache::new(4);
        cache.insert(&text(1), token(0, 100));
        assert!(cache.get(&text(1), 10, 109).is_some());
        assert!(cache.get(&text(1), 10, 110).is_none());
        assert!(cache.get(&text(2), 10, 50).is_none());
    }

    #[test]
    fn bounded_and_evicts_oldest() {
        let mut cache = TokenCache::new(3);
        for n in 0..10 {
            cache.insert(&text(n), token(0, 1000));
        }
        assert_eq!(cache.len(), 3);
        assert!(cache.get(&text(6), 0, 1).is_none());
        assert!(cache.get(&text(9), 0, 1).is_some());
        assert!(cache.order.len() <= 6);
    }

    #[test]
    fn a_token_in_use_survives_eviction() {
        let mut cache = TokenCache::new(3);
        cache.insert(&text(0), token(0, 1000));
        for n in 1..50 {
            assert!(cache.get(&text(0), 0, 1).is_some(), "evicted at {n}");
            cache.insert(&text(n), token(0, 1000));
        }
        assert_eq!(cache.len(), 3);
    }

    #[test]
    fn capacity_zero_disables() {
        let mut cache = TokenCache::new(0);
        cache.insert(&text(1), token(0, 1000));
        assert!(cache.is_empty());
    }

    #[test]
    fn key_set_change_drops_that_source_only() {
        let mut cache = TokenCache::new(8);
        cache.insert(&text(1), token(0, 1000));
        cache.insert(&text(2), token(1, 1000));
        cache.purge_source(0);
        assert!(cache.get(&text(1), 0, 1).is_none());
        assert!(cache.get(&text(2), 0, 1).is_some());
    }

    #[test]
    fn order_stays_bounded_under_purges() {
        let mut cache = TokenCache::new(2);
        for n in 0..200u8 {
            cache.insert(&text(n), token(0, 1000));
            cache.purge_source(0);
        }
        assert!(cache.order.len() <= 4);
        assert!(cache.is_empty());
    }

    #[test]
    fn expired_entries_are_purged() {
        let mut cache = TokenCache::new(8);
        cache.insert(&text(1), token(0, 100));
        cache.insert(&text(2), token(0, 300));
        cache.purge_expired(0, 200);
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn a_token_sharing_another_ones_tail_is_a_miss() {
        let mut cache = TokenCache::new(8);
        let genuine = text(1);
        cache.insert(&genuine, token(0, 1000));
        // Same length and same signature, another header and payload: what a forger sends.
        let forged = genuine.replacen("header.payload", "HEADER.PAYLOAD", 1);
        assert_eq!(forged.len(), genuine.len());
        assert!(cache.get(&forged, 0, 1).is_none());
        assert!(cache.get(&genuine, 0, 1).is_some());
        // Caching the forged text (were it ever verified) replaces the genuine one.
        cache.insert(&forged, token(0, 1000));
        assert_eq!(cache.len(), 1);
        assert_eq!(cache.text_bytes, forged.len());
        assert!(cache.get(&forged, 0, 1).is_some());
    }

    #[test]
    fn kept_text_is_bounded_in_bytes() {
        let mut cache = TokenCache::new(4096);
        let big = |n: u8| format!("{}{n:03}", "x".repeat(100 * 1024));
        for n in 0..60 {
            cache.insert(&big(n), token(0, 1000));
            assert!(
                cache.text_bytes <= MAX_TEXT_BYTES,
                "{} bytes",
                cache.text_bytes
            );
        }
        assert_eq!(cache.len(), MAX_TEXT_BYTES / (100 * 1024 + 3));
        assert!(cache.get(&big(59), 0, 1).is_some());
        cache.purge_expired(0, 2000);
        assert_eq!((cache.len(), cache.text_bytes), (0, 0));
    }
}
