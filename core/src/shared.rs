//! Data that workers share: the host's key/value store with compare-and-swap, seen through a
//! small trait so that the cross-worker protocols (key sharing, fetch claims, the replay
//! store) are plain Rust, tested against [`MemoryStore`]. A host without shared data gets a
//! `MemoryStore` of its own per worker, which keeps the same protocols to one worker.

use crate::authorize::ReplayStore;
use crate::replay::{self, ReplayError};
use std::collections::BTreeMap;

/// Why a write did not happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteError {
    /// The value changed since it was read (another worker wrote first).
    CasMismatch,
    /// The host refused the write (full, or any other status).
    Failed,
}

/// A key/value store with a revision per key, as proxy-wasm's shared data.
pub trait SharedStore {
    /// The value and its revision, or `None` when the key was never written.
    fn get(&self, key: &str) -> Option<(Vec<u8>, u32)>;
    /// Writes `value`; with `cas`, only if the key is still at that revision.
    fn set(&mut self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), WriteError>;
}

/// Keys a [`MemoryStore`] holds at most: every replay slot plus the key-sharing entries of a
/// generous number of key sources. Writes of new keys past it fail.
pub const MEMORY_STORE_KEYS: usize = replay::SLOTS + 1024;

/// A store in the worker's own memory.
#[derive(Debug, Default)]
pub struct MemoryStore {
    entries: BTreeMap<String, (Vec<u8>, u32)>,
}

impl SharedStore for MemoryStore {
    fn get(&self, key: &str) -> Option<(Vec<u8>, u32)> {
        self.entries.get(key).cloned()
    }

    fn set(&mut self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), WriteError> {
        let revision = match (self.entries.get(key), cas) {
            (Some((_, current)), Some(expected)) if *current != expected => {
                return Err(WriteError::CasMismatch)
            }
            (Some((_, current)), _) => current.wrapping_add(1),
            (None, Some(_)) => return Err(WriteError::CasMismatch),
            (None, None) if self.entries.len() >= MEMORY_STORE_KEYS => {
                return Err(WriteError::Failed)
            }
            (None, None) => 1,
        };
        self.entries
            .insert(key.to_owned(), (value.to_vec(), revision));
        Ok(())
    }
}

/// Compare-and-swap attempts before giving up on a contended replay slot.
const REPLAY_CAS_ATTEMPTS: usize = 8;

/// Creates every replay slot that does not exist yet. Envoy ignores the compare-and-swap
/// revision when a key is absent, so two workers writing a new slot at once would both win:
/// slots are therefore created before any request is decided.
pub fn create_replay_slots(store: &mut dyn SharedStore) {
    for index in 0..replay::SLOTS {
        let key = replay::slot_key(index);
        if store.get(&key).is_none() {
            let _ = store.set(&key, &[], None);
        }
    }
}

/// Proofs seen, kept in a [`SharedStore`].
pub struct Replay<'a>(pub &'a mut dyn SharedStore);

impl ReplayStore for Replay<'_> {
    fn record(&mut self, hash: u64, expires_at: u64, now: u64) -> Result<(), ReplayError> {
        let key = replay::slot_key(replay::slot_of(hash, replay::SLOTS));
        for _ in 0..REPLAY_CAS_ATTEMPTS {
            let Some((current, revision)) = self.0.get(&key) else {
                // Only if slot creation at configuration failed: create it, then swap.
                let _ = self.0.set(&key, &[], None);
                continue;
            };
            let updated = replay::record(Some(&current), hash, expires_at, now)?;
            match self.0.set(&key, &updated, Some(revision)) {
                Ok(()) => return Ok(()),
                Err(WriteError::CasMismatch) => continue,
                Err(WriteError::Failed) => break,
            }
        }
        // Never accept a proof that could not be recorded.
        Err(ReplayError::Full {
            retry_after: crate::rejection::RETRY_SOON,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compare_and_swap_refuses_a_stale_revision() {
        let mut store = MemoryStore::default();
        assert_eq!(store.set("k", b"a", None), Ok(()));
        let (_, first) = store.get("k").unwrap_or_default();
        assert_eq!(store.set("k", b"b", Some(first)), Ok(()));
        assert_eq!(
            store.set("k", b"c", Some(first)),
            Err(WriteError::CasMismatch)
        );
        assert_eq!(store.get("k").map(|(v, _)| v), Some(b"b".to_vec()));
        assert_eq!(
            store.set("absent", b"x", Some(1)),
            Err(WriteError::CasMismatch)
        );
    }

    #[test]
    fn new_keys_past_the_bound_are_refused() {
        let mut store = MemoryStore::default();
        for i in 0..MEMORY_STORE_KEYS {
            assert_eq!(store.set(&i.to_string(), b"", None), Ok(()));
        }
        assert_eq!(store.set("one more", b"", None), Err(WriteError::Failed));
        assert_eq!(store.set("0", b"rewrite", None), Ok(()));
    }

    #[test]
    fn a_proof_is_recorded_once_in_the_store() {
        let mut store = MemoryStore::default();
        create_replay_slots(&mut store);
        assert_eq!(Replay(&mut store).record(42, 200, 100), Ok(()));
        assert_eq!(
            Replay(&mut store).record(42, 200, 150),
            Err(ReplayError::Replayed)
        );
        assert_eq!(Replay(&mut store).record(43, 200, 150), Ok(()));
    }

    /// A store whose every write loses the race: the proof is refused, never accepted.
    struct AlwaysContended(MemoryStore);

    impl SharedStore for AlwaysContended {
        fn get(&self, key: &str) -> Option<(Vec<u8>, u32)> {
            self.0.get(key).or(Some((Vec::new(), 1)))
        }
        fn set(&mut self, _: &str, _: &[u8], _: Option<u32>) -> Result<(), WriteError> {
            Err(WriteError::CasMismatch)
        }
    }

    #[test]
    fn a_slot_that_stays_contended_fails_closed() {
        let mut store = AlwaysContended(MemoryStore::default());
        assert_eq!(
            Replay(&mut store).record(42, 200, 100),
            Err(ReplayError::Full { retry_after: 1 })
        );
    }
}
