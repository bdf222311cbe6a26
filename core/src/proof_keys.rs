//! Public keys of DPoP proofs, parsed once per distinct `jwk` and kept for the next proofs.
//!
//! A client signs every proof with the same key and sends that key in every proof header, so
//! parsing it each time would repeat the costliest part of a proof check for a P-256 key (the
//! verifier's per-key tables take longer to build than a signature takes to verify).
//!
//! Entries are keyed by the whole `jwk` object as serde_json writes it. Its map keeps members
//! sorted and the writer is deterministic, so equal objects give equal text and unequal ones
//! (another member, another value, `alg`, `use`, `key_ops`, a private member) give different
//! text. [`jwk::parse_jwk`] depends on nothing but that object, so a hit returns exactly what
//! parsing it again would; only successes are stored, so every refusal (a private member
//! included) is decided by parsing, as for a key never seen. The number of entries is bounded,
//! the oldest entry makes room for a new one, and an object longer than [`MAX_KEPT_JWK`] (no
//! public key needs that much) is parsed every time rather than kept.
//!
//! A key is kept only when the caller says so ([`ProofKeys::keep_last`]), once a valid proof
//! shows it is the key its access token is bound to. Otherwise a client holding one valid
//! token could send proofs under new keys, each pushing out a key other clients use, and make
//! their requests pay for parsing again.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::rc::Rc;

use serde_json::{Map, Value};

use crate::jwk::{self, Jwk, JwkError};

/// Longest `jwk` text kept: a P-384 key with every optional member is under 400 bytes.
pub const MAX_KEPT_JWK: usize = 1024;

pub struct ProofKeys {
    capacity: usize,
    entries: HashMap<Rc<str>, Rc<Jwk>>,
    /// Insertion order, for eviction.
    order: VecDeque<Rc<str>>,
    /// The key the last [`ProofKeys::parse`] had to parse, until [`ProofKeys::keep_last`]
    /// keeps it or the next `parse` drops it.
    last_parsed: Option<(Rc<str>, Rc<Jwk>)>,
}

impl ProofKeys {
    /// A cache of at most `capacity` keys; 0 disables caching.
    pub fn new(capacity: usize) -> ProofKeys {
        ProofKeys {
            capacity,
            entries: HashMap::new(),
            order: VecDeque::new(),
            last_parsed: None,
        }
    }

    /// The parsed key for the `jwk` object of a proof header: the one kept from an earlier
    /// proof with an identical object, or [`jwk::parse_jwk`]'s answer now, which
    /// [`ProofKeys::keep_last`] may then keep if it is a key.
    pub fn parse(&mut self, jwk: &Map<String, Value>) -> Result<Rc<Jwk>, JwkError> {
        self.last_parsed = None;
        let Some(text) = text_of(jwk) else {
            return jwk::parse_jwk(jwk).map(Rc::new);
        };
        if let Some(hit) = self.entries.get(text.as_str()) {
            return Ok(Rc::clone(hit));
        }
        let key = Rc::new(jwk::parse_jwk(jwk)?);
        self.last_parsed = Some((text.into(), Rc::clone(&key)));
        Ok(key)
    }

    /// Keeps the key the last [`ProofKeys::parse`] parsed, if it parsed one (a key found
    /// kept, a refused object or one too long to keep leave nothing to keep).
    pub fn keep_last(&mut self) {
        if let Some((text, key)) = self.last_parsed.take() {
            self.insert(text, key);
        }
    }

    fn insert(&mut self, text: Rc<str>, key: Rc<Jwk>) {
        if self.capacity == 0 || self.entries.insert(Rc::clone(&text), key).is_some() {
            return;
        }
        self.order.push_back(text);
        while self.entries.len() > self.capacity {
            match self.order.pop_front() {
                Some(oldest) => {
                    self.entries.remove(&oldest);
                }
                None => break,
            }
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl fmt::Debug for ProofKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProofKeys")
            .field("len", &self.entries.len())
            .field("capacity", &self.capacity)
            .finish()
    }
}

/// The object's text; `None` when it is longer than [`MAX_KEPT_JWK`], or if serde_json cannot
/// write it (which does not happen for a parsed `Value`): such a key is parsed every time.
fn text_of(jwk: &Map<String, Value>) -> Option<String> {
    serde_json::to_string(jwk)
        .ok()
        .filter(|text| text.len() <= MAX_KEPT_JWK)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::KeyError;
    use serde_json::json;

    // RFC 7515 Appendix A.3's P-256 key.
    const X: &str = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
    const Y: &str = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";
    const D: &str = "jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI";

    fn object(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            other => panic!("not an object: {other}"),
        }
    }

    fn public() -> Map<String, Value> {
        object(json!({"kty": "EC", "crv": "P-256", "x": X, "y": Y}))
    }

    fn with(member: &str, value: Value) -> Map<String, Value> {
        let mut jwk = public();
        jwk.insert(member.to_owned(), value);
        jwk
    }

    #[test]
    fn same_object_is_parsed_once() {
        let mut keys = ProofKeys::new(8);
        let first = keys.parse(&public()).unwrap();
        keys.keep_last();
        let second = keys.parse(&public()).unwrap();
        assert!(Rc::ptr_eq(&first, &second));
        assert_eq!(keys.len(), 1);
        assert_eq!(
            second.thumbprint(),
            jwk::parse_jwk(&public()).unwrap().thumbprint()
        );
    }

    #[test]
    fn member_order_does_not_matter() {
        let mut keys = ProofKeys::new(8);
        let first = keys.parse(&public()).unwrap();
        keys.keep_last();
        let reordered: Map<String, Value> = serde_json::from_str(&format!(
            r#"{{"y":"{Y}","x":"{X}","crv":"P-256","kty":"EC"}}"#
        ))
        .unwrap();
        assert!(Rc::ptr_eq(&first, &keys.parse(&reordered).unwrap()));
        assert_eq!(keys.len(), 1);
    }

    #[test]
    fn any_other_member_or_value_is_another_entry() {
        let mut keys = ProofKeys::new(16);
        let base = keys.parse(&public()).unwrap();
        keys.keep_last();
        let variants = [
            with("alg", json!("ES256")),
            with("use", json!("sig")),
            with("key_ops", json!(["verify"])),
            with("kid", json!("client-1")),
            with("kid", json!("client-2")),
            with("ext", json!(true)),
        ];
        for (n, variant) in variants.iter().enumerate() {
            let key = keys.parse(variant).unwrap();
            keys.keep_last();
            assert!(!Rc::ptr_eq(&base, &key), "{variant:?}");
            assert_eq!(keys.len(), n + 2);
        }
        let named = keys.parse(&with("alg", json!("ES256"))).unwrap();
        assert_eq!(named.alg.as_deref(), Some("ES256"));
        assert_eq!(keys.len(), variants.len() + 1);
    }

    #[test]
    fn private_twin_of_a_cached_key_is_still_refused() {
        let mut keys = ProofKeys::new(8);
        keys.parse(&public()).unwrap();
        keys.keep_last();
        for member in ["d", "p", "k"] {
            assert_eq!(
                keys.parse(&with(member, json!(D))).unwrap_err(),
                JwkError::PrivateMember(member)
            );
            keys.keep_last();
        }
        assert_eq!(keys.len(), 1);
    }

    #[test]
    fn failures_are_not_kept_and_are_refused_every_time() {
        let mut keys = ProofKeys::new(8);
        let mut off_curve = public();
        off_curve.insert("y".to_owned(), json!(X));
        for _ in 0..2 {
            assert_eq!(
                keys.parse(&off_curve).unwrap_err(),
                JwkError::Key(KeyError::PointNotOnCurve)
            );
            keys.keep_last();
            assert_eq!(
                keys.parse(&with("use", json!("enc"))).unwrap_err(),
                JwkError::NotForSignatures("enc".into())
            );
            keys.keep_last();
        }
        assert!(keys.is_empty());
    }

    #[test]
    fn bounded_and_the_oldest_goes_first() {
        let mut keys = ProofKeys::new(3);
        let kid = |n: u32| with("kid", json!(format!("k{n}")));
        let mut parse_and_keep = |n: u32| {
            let key = keys.parse(&kid(n)).unwrap();
            keys.keep_last();
            key
        };
        let kept: Vec<Rc<Jwk>> = (0..6).map(&mut parse_and_keep).collect();
        assert_eq!(keys.len(), 3);
        assert!(keys.order.len() <= 3);
        // k3..k5 are still there; k0 was evicted and is parsed again.
        for n in 3..6 {
            assert!(Rc::ptr_eq(&keys.parse(&kid(n)).unwrap(), &kept[n as usize]));
        }
        assert!(!Rc::ptr_eq(&keys.parse(&kid(0)).unwrap(), &kept[0]));
        assert_eq!(keys.len(), 3);
    }

    #[test]
    fn capacity_zero_parses_every_time() {
        let mut keys = ProofKeys::new(0);
        let first = keys.parse(&public()).unwrap();
        keys.keep_last();
        let second = keys.parse(&public()).unwrap();
        assert!(!Rc::ptr_eq(&first, &second));
        assert!(keys.is_empty());
    }

    #[test]
    fn debug_shows_size_not_keys() {
        let mut keys = ProofKeys::new(4);
        keys.parse(&public()).unwrap();
        keys.keep_last();
        assert_eq!(format!("{keys:?}"), "ProofKeys { len: 1, capacity: 4 }");
    }

    #[test]
    fn a_parsed_key_is_kept_only_when_asked_and_only_the_last_one() {
        let mut keys = ProofKeys::new(8);
        let kid = |n: u32| with("kid", json!(format!("k{n}")));
        let first = keys.parse(&kid(1)).unwrap();
        assert!(keys.is_empty());
        // Another parse drops the first key: keep_last keeps only what the last one parsed.
        keys.parse(&kid(2)).unwrap();
        keys.keep_last();
        assert_eq!(keys.len(), 1);
        assert!(!Rc::ptr_eq(&keys.parse(&kid(1)).unwrap(), &first));
        // A hit leaves nothing to keep: kid 1, parsed before it, stays out.
        keys.parse(&kid(2)).unwrap();
        keys.keep_last();
        assert_eq!(keys.len(), 1);
        keys.keep_last();
        assert_eq!(keys.len(), 1);
    }

    #[test]
    fn an_oversized_object_is_parsed_but_not_kept() {
        let mut keys = ProofKeys::new(8);
        let padded = with("x-padding", json!("p".repeat(MAX_KEPT_JWK)));
        let key = keys.parse(&padded).unwrap();
        keys.keep_last();
        assert_eq!(
            key.thumbprint(),
            jwk::parse_jwk(&public()).unwrap().thumbprint()
        );
        assert!(keys.is_empty());
    }
}
