//! DPoP `jti` replay detection over the host's shared data.
//!
//! Shared data is a key-value store common to all worker threads, with compare-and-swap
//! writes, but keys can be neither listed nor deleted. So the state is a fixed set of
//! [`SLOTS`] keys ([`slot_key`]), each holding at most [`ENTRIES_PER_SLOT`] entries of
//! [`ENTRY_LEN`] bytes. A proof lands in the slot chosen by its [`entry_hash`]; writing a slot
//! purges its expired entries. The largest state is therefore
//! `SLOTS * ENTRIES_PER_SLOT * ENTRY_LEN` = 16384 * 128 * 12 bytes = 24 MiB of values (plus
//! the host's per-key overhead for 16384 keys), however many proofs arrive. That is room for
//! about two million live proofs, an average of some 6,300 fresh proofs per second over the
//! default acceptance window of 331 s; since proofs spread over the slots at random, the
//! fullest slot reaches its limit at roughly 4,500 per second sustained.
//!
//! A full slot (every entry still live) refuses the new proof with [`ReplayError::Full`]: the
//! caller answers 503 with `Retry-After`. Evicting a live entry instead would let that proof be
//! replayed, and accepting without recording would do the same for the new one.
//!
//! Using the store, per proof that passed every other check:
//!
//! ```text
//! hash = entry_hash(jkt, jti); key = slot_key(slot_of(hash, SLOTS))
//! repeat a bounded number of times:
//!     (bytes, cas) = get_shared_data(key)
//!     record(bytes, hash, remember_until(iat, config), now)
//!         Ok(new)       -> set_shared_data(key, new, cas): done, or retry on a CAS mismatch
//!         Err(Replayed) -> 401 invalid_dpop_proof "DPoP proof has already been used"
//!         Err(Full)     -> 503
//! retries exhausted -> 503 (never allow unrecorded)
//! ```
//!
//! Slot choice is not keyed with a secret: a client can aim its own proofs at one slot and
//! fill it, but every one of them must be a fully valid proof for a valid token, and the harm
//! is limited to `1 / SLOTS` of proofs answered 503 for one acceptance window.

use std::fmt;

use crate::crypto;
use crate::dpop_settings::DpopConfig;

/// Number of shared-data keys used.
pub const SLOTS: usize = 16384;
/// Live entries one slot holds.
pub const ENTRIES_PER_SLOT: usize = 128;
/// 8 bytes of hash, then the expiry as 4 bytes big-endian Unix seconds (enough until 2106).
pub const ENTRY_LEN: usize = 12;
/// Largest value ever written to a slot.
pub const MAX_SLOT_LEN: usize = ENTRIES_PER_SLOT * ENTRY_LEN;

/// The key names carry the entry format's version, so a filter with another format never
/// reads these values as its own.
const KEY_PREFIX: &str = "auth0-wasm-filter.dpop-jti.v1.";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayError {
    /// This (`jkt`, `jti`) was recorded before and is still inside its window.
    Replayed,
    /// The slot is full of live entries; the earliest frees up in `retry_after` seconds.
    Full { retry_after: u64 },
}

impl fmt::Display for ReplayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReplayError::Replayed => f.write_str("DPoP proof has already been used"),
            ReplayError::Full { retry_after } => write!(
                f,
                "DPoP replay store slot is full; retry in {retry_after} s"
            ),
        }
    }
}

impl std::error::Error for ReplayError {}

/// The shared-data key of slot `index`.
pub fn slot_key(index: usize) -> String {
    format!("{KEY_PREFIX}{index}")
}

/// Identifies a proof: the first 8 bytes of SHA-256 over the proof key's thumbprint and the
/// `jti`. The key is included because `jti` values are only unique per client (RFC 9449
/// §11.1); a length prefix keeps (`ab`, `c`) and (`a`, `bc`) apart.
pub fn entry_hash(jkt: &str, jti: &str) -> u64 {
    let mut input = Vec::with_capacity(8 + jkt.len() + jti.len());
    input.extend_from_slice(&(jkt.len() as u64).to_be_bytes());
    input.extend_from_slice(jkt.as_bytes());
    input.extend_from_slice(jti.as_bytes());
    let digest = crypto::sha256(&input);
    let mut first = [0u8; 8];
    for (out, byte) in first.iter_mut().zip(digest.iter()) {
        *out = *byte;
    }
    u64::from_be_bytes(first)
}

/// The slot an entry hash belongs to, in `0..slots` (0 when `slots` is 0).
pub fn slot_of(hash: u64, slots: usize) -> usize {
    match u64::try_from(slots) {
        Ok(n) if n > 0 => usize::try_from(hash % n).unwrap_or(0),
        _ => 0,
    }
}

/// Until when a proof must be remembered: it is accepted while `now <= iat + iat_offset`,
/// and an entry is live while `now < expires_at`.
pub fn remember_until(iat: u64, policy: &DpopConfig) -> u64 {
    iat.saturating_add(policy.iat_offset).saturating_add(1)
}

/// Records `hash` in a slot whose current value is `slot` (`None`: never written) and
/// returns the value to write back, with expired entries dropped. `now` is Unix seconds.
///
/// A value this module did not write cannot normally appear (the key names are versioned).
/// Should one appear anyway, it is read as entries as far as whole entries go: a trailing
/// fragment and anything beyond [`ENTRIES_PER_SLOT`] entries are dropped. Every entry that can
/// be read is kept, so nothing recorded is forgotten; what is dropped was never a valid
/// record. Only a value shorter than one entry reads as empty, as it holds no entry at all.
pub fn record(
    slot: Option<&[u8]>,
    hash: u64,
    expires_at: u64,
    now: u64,
) -> Result<Vec<u8>, ReplayError> {
    let stored = slot.unwrap_or_default();
    let mut live = 0usize;
    let mut earliest = u64::MAX;
    let mut out = Vec::with_capacity(stored.len().min(MAX_SLOT_LEN) + ENTRY_LEN);
    for chunk in stored.chunks_exact(ENTRY_LEN).take(ENTRIES_PER_SLOT) {
        let Some((entry_hash, expiry)) = parse_entry(chunk) else {
            continue;
        };
        if expiry <= now {
            continue;
        }
        if entry_hash == hash {
            return Err(ReplayError::Replayed);
        }
        live += 1;
        earliest = earliest.min(expiry);
        out.extend_from_slice(chunk);
    }
    if live >= ENTRIES_PER_SLOT {
        return Err(ReplayError::Full {
            retry_after: earliest.saturating_sub(now).max(1),
        });
    }
    out.extend_from_slice(&hash.to_be_bytes());
    out.extend_from_slice(&stored_expiry(expires_at).to_be_bytes());
    Ok(out)
}

fn parse_entry(chunk: &[u8]) -> Option<(u64, u64)> {
    let (hash, rest) = chunk.split_first_chunk::<8>()?;
    let expiry: &[u8; 4] = rest.try_into().ok()?;
    Some((
        u64::from_be_bytes(*hash),
        u64::from(u32::from_be_bytes(*expiry)),
    ))
}

/// An expiry past 2106 is stored as the last second a `u32` holds, which is still later than
/// any acceptance window that starts before then.
fn stored_expiry(expires_at: u64) -> u32 {
    u32::try_from(expires_at).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const NOW: u64 = 1_700_000_000;
    const JKT: &str = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I";

    fn policy() -> DpopConfig {
        DpopConfig {
            enabled: true,
            required: false,
            iat_leeway: 30,
            iat_offset: 300,
            algorithms: vec![crate::algorithm::Algorithm::ES256],
            replay_check: true,
            replay_scope: crate::dpop_settings::ReplayScope::Shared,
            nonce: None,
            trust_forwarded_headers: false,
        }
    }

    fn entry(hash: u64, expiry: u32) -> Vec<u8> {
        [&hash.to_be_bytes()[..], &expiry.to_be_bytes()[..]].concat()
    }

    fn slot_with(entries: &[(u64, u32)]) -> Vec<u8> {
        entries.iter().flat_map(|&(h, e)| entry(h, e)).collect()
    }

    #[test]
    fn memory_bound_is_as_documented() {
        assert_eq!(MAX_SLOT_LEN, 1536);
        assert_eq!(SLOTS * MAX_SLOT_LEN, 24 * 1024 * 1024);
    }

    #[test]
    fn first_proof_is_recorded() {
        let blob = record(None, 42, NOW + 301, NOW).unwrap();
        assert_eq!(blob, entry(42, (NOW + 301) as u32));
        assert_eq!(record(Some(&[]), 42, NOW + 301, NOW).unwrap(), blob);
    }

    #[test]
    fn same_proof_again_is_replayed() {
        let blob = record(None, 42, NOW + 301, NOW).unwrap();
        assert_eq!(
            record(Some(&blob), 42, NOW + 301, NOW + 1),
            Err(ReplayError::Replayed)
        );
        assert_eq!(
            record(Some(&blob), 42, NOW + 301, NOW + 300),
            Err(ReplayError::Replayed)
        );
        assert_eq!(
            ReplayError::Replayed.to_string(),
            "DPoP proof has already been used"
        );
    }

    #[test]
    fn other_proofs_are_added() {
        let blob = record(None, 1, NOW + 301, NOW).unwrap();
        let blob = record(Some(&blob), 2, NOW + 302, NOW + 1).unwrap();
        assert_eq!(
            blob,
            slot_with(&[(1, (NOW + 301) as u32), (2, (NOW + 302) as u32)])
        );
    }

    #[test]
    fn entry_lives_until_just_before_its_expiry() {
        let blob = record(None, 42, NOW + 301, NOW).unwrap();
        assert_eq!(
            record(Some(&blob), 42, NOW + 301, NOW + 300),
            Err(ReplayError::Replayed)
        );
        // At `expires_at` the entry is gone (and a proof that old fails its `iat` check).
        assert_eq!(
            record(Some(&blob), 42, NOW + 602, NOW + 301).unwrap(),
            entry(42, (NOW + 602) as u32)
        );
    }

    #[test]
    fn remembered_for_the_whole_acceptance_window() {
        // A proof with `iat` = t is accepted up to now = t + iat_offset (and from
        // t - iat_leeway on); the entry must be live at every such instant.
        let iat = NOW;
        let until = remember_until(iat, &policy());
        assert_eq!(until, NOW + 301);
        let blob = record(None, 7, until, iat - 30).unwrap();
        for now in [iat - 30, iat, iat + 299, iat + 300] {
            assert_eq!(
                record(Some(&blob), 7, until, now),
                Err(ReplayError::Replayed),
                "{now}"
            );
        }
        assert_eq!(remember_until(u64::MAX - 5, &policy()), u64::MAX);
    }

    #[test]
    fn expired_entries_are_purged_on_write() {
        let blob = slot_with(&[
            (1, (NOW - 1) as u32),
            (2, (NOW + 10) as u32),
            (3, NOW as u32),
        ]);
        assert_eq!(
            record(Some(&blob), 4, NOW + 301, NOW).unwrap(),
            slot_with(&[(2, (NOW + 10) as u32), (4, (NOW + 301) as u32)])
        );
    }

    #[test]
    fn full_slot_fails_closed_with_retry_after() {
        let entries: Vec<(u64, u32)> = (0..ENTRIES_PER_SLOT as u64)
            .map(|i| (i + 100, (NOW + 50 + i) as u32))
            .collect();
        let blob = slot_with(&entries);
        assert_eq!(
            record(Some(&blob), 1, NOW + 301, NOW),
            Err(ReplayError::Full { retry_after: 50 })
        );
        // A replay is still reported as such.
        assert_eq!(
            record(Some(&blob), 100, NOW + 301, NOW),
            Err(ReplayError::Replayed)
        );
        // Once the earliest entry expires there is room again, and the slot never grows.
        let next = record(Some(&blob), 1, NOW + 301, NOW + 50).unwrap();
        assert_eq!(next.len(), MAX_SLOT_LEN);
        assert_eq!(
            ReplayError::Full { retry_after: 50 }.to_string(),
            "DPoP replay store slot is full; retry in 50 s"
        );
    }

    #[test]
    fn value_of_less_than_one_entry_reads_as_empty() {
        for len in 1..ENTRY_LEN {
            let junk = vec![0xff; len];
            assert_eq!(
                record(Some(&junk), 9, NOW + 1, NOW).unwrap(),
                entry(9, (NOW + 1) as u32)
            );
        }
    }

    #[test]
    fn trailing_fragment_is_dropped_and_whole_entries_kept() {
        let mut blob = slot_with(&[(5, (NOW + 100) as u32)]);
        blob.extend_from_slice(&[1, 2, 3]);
        assert_eq!(
            record(Some(&blob), 5, NOW + 301, NOW),
            Err(ReplayError::Replayed)
        );
        assert_eq!(
            record(Some(&blob), 6, NOW + 301, NOW).unwrap(),
            slot_with(&[(5, (NOW + 100) as u32), (6, (NOW + 301) as u32)])
        );
    }

    #[test]
    fn oversized_value_is_read_up_to_the_entry_limit() {
        let entries: Vec<(u64, u32)> = (0..ENTRIES_PER_SLOT as u64 + 10)
            .map(|i| (i, (NOW - 1) as u32))
            .collect();
        let out = record(Some(&slot_with(&entries)), 1, NOW + 301, NOW).unwrap();
        assert_eq!(out, entry(1, (NOW + 301) as u32));
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_results_stay_bounded() {
        let mut state = 0x1234_5678_9abc_def0u64;
        for len in 0..4 * MAX_SLOT_LEN {
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    state as u8
                })
                .collect();
            match record(Some(&bytes), state, NOW + 301, NOW) {
                Ok(out) => assert!(out.len() <= MAX_SLOT_LEN && out.len() % ENTRY_LEN == 0),
                Err(ReplayError::Full { retry_after }) => assert!(retry_after >= 1),
                Err(ReplayError::Replayed) => {}
            }
        }
    }

    #[test]
    fn expiry_beyond_2106_is_stored_saturated() {
        let blob = record(None, 1, u64::MAX, NOW).unwrap();
        assert_eq!(blob, entry(1, u32::MAX));
    }

    #[test]
    fn entry_hash_is_the_documented_digest() {
        let mut input = (JKT.len() as u64).to_be_bytes().to_vec();
        input.extend_from_slice(JKT.as_bytes());
        input.extend_from_slice(b"jti-1");
        let digest = crypto::sha256(&input);
        let want = u64::from_be_bytes(digest[..8].try_into().unwrap());
        assert_eq!(entry_hash(JKT, "jti-1"), want);
    }

    #[test]
    fn entry_hash_separates_key_and_jti() {
        assert_ne!(entry_hash("ab", "c"), entry_hash("a", "bc"));
        assert_ne!(entry_hash(JKT, "jti-1"), entry_hash("other-key", "jti-1"));
        assert_ne!(entry_hash(JKT, "jti-1"), entry_hash(JKT, "jti-2"));
        assert_eq!(entry_hash(JKT, "jti-1"), entry_hash(JKT, "jti-1"));
    }

    #[test]
    fn slots_and_keys() {
        assert_eq!(slot_of(u64::MAX, SLOTS), (u64::MAX % SLOTS as u64) as usize);
        assert_eq!(slot_of(SLOTS as u64 + 3, SLOTS), 3);
        assert_eq!(slot_of(12345, 1), 0);
        assert_eq!(slot_of(12345, 0), 0);
        assert_eq!(slot_key(0), "auth0-wasm-filter.dpop-jti.v1.0");
        assert_eq!(slot_key(SLOTS - 1), "auth0-wasm-filter.dpop-jti.v1.16383");
    }

    /// The shell's loop, over a map standing in for shared data.
    fn accept(
        store: &mut HashMap<String, Vec<u8>>,
        jti: &str,
        iat: u64,
        now: u64,
    ) -> Result<(), ReplayError> {
        let hash = entry_hash(JKT, jti);
        let key = slot_key(slot_of(hash, SLOTS));
        let new = record(
            store.get(&key).map(Vec::as_slice),
            hash,
            remember_until(iat, &policy()),
            now,
        )?;
        store.insert(key, new);
        Ok(())
    }

    #[test]
    fn many_proofs_through_the_store() {
        let mut store = HashMap::new();
        for i in 0..20_000 {
            assert_eq!(accept(&mut store, &format!("jti-{i}"), NOW, NOW), Ok(()));
        }
        for i in (0..20_000).step_by(97) {
            assert_eq!(
                accept(&mut store, &format!("jti-{i}"), NOW, NOW + 300),
                Err(ReplayError::Replayed)
            );
        }
        assert!(store.values().all(|v| v.len() <= MAX_SLOT_LEN));
        // After the window every slot that is written again sheds its old entries.
        assert_eq!(accept(&mut store, "jti-0", NOW + 301, NOW + 301), Ok(()));
        let key = slot_key(slot_of(entry_hash(JKT, "jti-0"), SLOTS));
        assert_eq!(store[&key].len(), ENTRY_LEN);
    }
}
