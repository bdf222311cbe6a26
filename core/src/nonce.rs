//! Stateless DPoP server nonces (RFC 9449 §8), derived from a shared secret and the time.
//!
//! Time here is **milliseconds** since the Unix epoch (`now_ms`), unlike the rest of the core:
//! with a lifetime of one second the time slots below are half a second long.
//!
//! Construction. Time is cut into slots of half the lifetime, `H = lifetime_ms / 2`; the slot
//! of an instant is `now_ms / H`. The nonce for slot `s` is
//!
//! ```text
//! base64url( s as 8 bytes big-endian || first 16 bytes of HMAC-SHA256(secret, "dpop-nonce" || H || s) )
//! ```
//!
//! (`H` as 8 bytes big-endian too), 32 characters. Every instance that shares the secret and
//! the lifetime computes the same nonce for the same slot, so none needs shared storage. A
//! nonce of slot `s` is accepted while the current slot is `s` to `s + 3`: at least `3H`
//! (1.5 lifetimes) and at most `4H` (2 lifetimes) after it was issued, which is the contract's
//! "at least the lifetime, at most twice it". One slot in the future is accepted too, so that
//! instances whose clocks differ by less than `H` accept each other's fresh nonces; this
//! shifts nothing at the late end. `H` is inside the MAC so that a nonce issued under another
//! lifetime is refused rather than read on the wrong time scale.

use std::fmt;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::b64;
use crate::config_error::{bounded, Bounds, ConfigError};
use serde::Deserialize;

/// Shortest secret accepted: the HMAC key must not be guessable.
pub const MIN_SECRET_LEN: usize = 32;

/// Bytes of MAC kept in a nonce: 128 bits is beyond any online guessing.
const TAG_LEN: usize = 16;
const NONCE_BYTES: usize = 8 + TAG_LEN;
/// base64url length of a nonce; anything else is refused before decoding.
pub const NONCE_LEN: usize = (NONCE_BYTES * 4).div_ceil(3);

const DOMAIN: &[u8] = b"dpop-nonce";
/// Slots after the issuing one during which a nonce is still accepted.
const LATE_SLOTS: u64 = 3;
/// From this many slots after issue on, successful responses carry the next nonce: the
/// current one is then past half its lifetime and has between `H` and `2H` left.
const REFRESH_AFTER_SLOTS: u64 = 2;
/// Slots ahead of the local clock still accepted (another instance's clock may run ahead).
const EARLY_SLOTS: u64 = 1;

/// The outcome of checking a proof's `nonce`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceCheck {
    /// `refresh`: past half its lifetime; send the next nonce (`DPoP-Nonce`) on the response.
    Valid { refresh: bool },
    /// The proof has no `nonce`.
    Missing,
    /// Not a nonce of this secret and lifetime, malformed, or from further ahead than clock
    /// differences explain.
    Invalid,
    /// Ours, but too old.
    Expired,
}

impl NonceCheck {
    /// The `error_description` of the 401 `use_dpop_nonce` answer; `None` when valid.
    pub fn description(self) -> Option<&'static str> {
        match self {
            NonceCheck::Valid { .. } => None,
            NonceCheck::Missing => Some("Resource server requires nonce in DPoP proof"),
            NonceCheck::Invalid => Some("DPoP proof nonce is invalid"),
            NonceCheck::Expired => Some("DPoP proof nonce has expired"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceSetupError {
    SecretTooShort { len: usize, min: usize },
    ZeroLifetime,
}

impl fmt::Display for NonceSetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NonceSetupError::SecretTooShort { len, min } => {
                write!(
                    f,
                    "nonce secret is {len} bytes, fewer than the {min} required"
                )
            }
            NonceSetupError::ZeroLifetime => {
                f.write_str("nonce lifetime must be at least 1 second")
            }
        }
    }
}

impl std::error::Error for NonceSetupError {}

/// Issues and checks nonces. Built once per configuration: the keyed HMAC state is prepared
/// here, so each request only hashes its 26 bytes.
#[derive(Clone)]
pub struct Nonces {
    mac: Hmac<Sha256>,
    slot_ms: u64,
}

/// The key must never reach a log line through `{:?}`.
impl fmt::Debug for Nonces {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Nonces")
            .field("slot_ms", &self.slot_ms)
            .finish_non_exhaustive()
    }
}

impl Nonces {
    pub fn new(secret: &[u8], lifetime_seconds: u64) -> Result<Nonces, NonceSetupError> {
        if secret.len() < MIN_SECRET_LEN {
            return Err(NonceSetupError::SecretTooShort {
                len: secret.len(),
                min: MIN_SECRET_LEN,
            });
        }
        if lifetime_seconds == 0 {
            return Err(NonceSetupError::ZeroLifetime);
        }
        // HMAC takes keys of any length; this error cannot occur with a non-empty secret.
        let mac = Hmac::<Sha256>::new_from_slice(secret).map_err(|_| {
            NonceSetupError::SecretTooShort {
                len: secret.len(),
                min: MIN_SECRET_LEN,
            }
        })?;
        Ok(Nonces {
            mac,
            slot_ms: (lifetime_seconds.saturating_mul(1000) / 2).max(1),
        })
    }

    pub fn from_config(config: &NonceConfig) -> Result<Nonces, NonceSetupError> {
        Nonces::new(&config.secret, config.lifetime)
    }

    /// The nonce to hand out at `now_ms` (milliseconds). The same for every caller within a
    /// slot, on every instance sharing the secret.
    pub fn issue(&self, now_ms: u64) -> String {
        let slot = now_ms / self.slot_ms;
        let mut bytes = [0u8; NONCE_BYTES];
        let (slot_bytes, tag_bytes) = bytes.split_at_mut(8);
        slot_bytes.copy_from_slice(&slot.to_be_bytes());
        let tag = self.tagged(slot).finalize().into_bytes();
        for (out, byte) in tag_bytes.iter_mut().zip(tag.iter()) {
            *out = *byte;
        }
        b64::encode(&bytes)
    }

    /// Checks a proof's `nonce` at `now_ms` (milliseconds).
    pub fn check(&self, nonce: Option<&str>, now_ms: u64) -> NonceCheck {
        let Some(nonce) = nonce else {
            return NonceCheck::Missing;
        };
        if nonce.len() != NONCE_LEN {
            return NonceCheck::Invalid;
        }
        let Ok(bytes) = b64::decode(nonce) else {
            return NonceCheck::Invalid;
        };
        let Some((slot_bytes, tag)) = bytes.split_first_chunk::<8>() else {
            return NonceCheck::Invalid;
        };
        let slot = u64::from_be_bytes(*slot_bytes);
        // Constant time: how much of a forged tag matches must not show in the timing.
        if tag.len() != TAG_LEN || self.tagged(slot).verify_truncated_left(tag).is_err() {
            return NonceCheck::Invalid;
        }
        let current = now_ms / self.slot_ms;
        if slot > current {
            return if slot - current <= EARLY_SLOTS {
                NonceCheck::Valid { refresh: false }
            } else {
                NonceCheck::Invalid
            };
        }
        match current - slot {
            age if age > LATE_SLOTS => NonceCheck::Expired,
            age => NonceCheck::Valid {
                refresh: age >= REFRESH_AFTER_SLOTS,
            },
        }
    }

    fn tagged(&self, slot: u64) -> Hmac<Sha256> {
        self.mac
            .clone()
            .chain_update(DOMAIN)
            .chain_update(self.slot_ms.to_be_bytes())
            .chain_update(slot.to_be_bytes())
    }
}

// ---- the `dpop_nonce` setting ----

/// Longest secret text accepted (base64url), before decoding.
const MAX_SECRET_TEXT_LEN: usize = 1024;
/// Seconds a nonce lives unless configured.
const LIFETIME: Bounds = Bounds {
    default: 60,
    min: 1,
    max: 3600,
};

#[derive(Clone, PartialEq, Eq)]
pub struct NonceConfig {
    pub secret: Vec<u8>,
    /// Seconds.
    pub lifetime: u64,
}

/// The secret must never reach a log line through `{:?}`.
impl fmt::Debug for NonceConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NonceConfig")
            .field("secret", &format_args!("<{} bytes>", self.secret.len()))
            .field("lifetime", &self.lifetime)
            .finish()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNonce {
    secret: String,
    lifetime_seconds: Option<u64>,
}

/// The `dpop_nonce` setting.
pub fn nonce_from_config(raw: RawNonce) -> Result<NonceConfig, ConfigError> {
    let field = "dpop_nonce.secret";
    if raw.secret.len() > MAX_SECRET_TEXT_LEN {
        return Err(ConfigError::new(field, "is too long"));
    }
    let secret = b64::decode(&raw.secret)
        .map_err(|e| ConfigError::new(field, format!("must be unpadded base64url: {e}")))?;
    if secret.len() < MIN_SECRET_LEN {
        return Err(ConfigError::new(
            field,
            format!(
                "must decode to at least {MIN_SECRET_LEN} bytes, not {}",
                secret.len()
            ),
        ));
    }
    let lifetime = bounded(
        "dpop_nonce.lifetime_seconds",
        raw.lifetime_seconds,
        LIFETIME,
    )?;
    Ok(NonceConfig { secret, lifetime })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto;

    const SECRET: [u8; 32] = [0x5a; 32];
    const OTHER_SECRET: [u8; 32] = [0xa5; 32];
    /// 2023-11-14T22:00:00Z in milliseconds: the start of a slot for every lifetime used below
    /// (a multiple of 1,800,000 ms, the slot of a one-hour lifetime).
    const T0: u64 = 1_699_999_200_000;

    fn nonces(lifetime: u64) -> Nonces {
        Nonces::new(&SECRET, lifetime).unwrap()
    }

    /// HMAC-SHA256 written out from RFC 2104, to check the construction independently.
    fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
        let mut block = [0u8; 64];
        block[..key.len()].copy_from_slice(key);
        let pad = |byte: u8| block.iter().map(|b| b ^ byte).collect::<Vec<u8>>();
        let inner = crypto::sha256(&[pad(0x36), message.to_vec()].concat());
        crypto::sha256(&[pad(0x5c), inner.to_vec()].concat())
    }

    #[test]
    fn nonce_is_the_documented_construction() {
        let lifetime = 60;
        let slot_ms = 30_000u64;
        let slot = T0 / slot_ms;
        let message = [DOMAIN, &slot_ms.to_be_bytes(), &slot.to_be_bytes()].concat();
        let tag = hmac_sha256(&SECRET, &message);
        let expected = b64::encode(&[&slot.to_be_bytes()[..], &tag[..16]].concat());
        assert_eq!(nonces(lifetime).issue(T0), expected);
        assert_eq!(expected.len(), NONCE_LEN);
        assert_eq!(NONCE_LEN, 32);
    }

    #[test]
    fn same_slot_same_nonce_on_every_instance() {
        let (a, b) = (nonces(60), nonces(60));
        assert_eq!(a.issue(T0), b.issue(T0 + 29_999));
        assert_ne!(a.issue(T0), a.issue(T0 + 30_000));
    }

    #[test]
    fn other_instance_with_the_same_secret_accepts() {
        let nonce = nonces(60).issue(T0 + 1234);
        assert_eq!(
            nonces(60).check(Some(&nonce), T0 + 1234),
            NonceCheck::Valid { refresh: false }
        );
    }

    #[test]
    fn foreign_secret_is_refused() {
        let foreign = Nonces::new(&OTHER_SECRET, 60).unwrap().issue(T0);
        assert_eq!(nonces(60).check(Some(&foreign), T0), NonceCheck::Invalid);
    }

    #[test]
    fn nonce_of_another_lifetime_is_refused() {
        let other = nonces(120).issue(T0);
        assert_eq!(nonces(60).check(Some(&other), T0), NonceCheck::Invalid);
    }

    #[test]
    fn accepted_for_at_least_the_lifetime_and_at_most_twice_it() {
        for lifetime in [1u64, 2, 60, 3600] {
            let l = lifetime * 1000;
            let n = nonces(lifetime);
            // Issue at several points of a slot, from its first to its last millisecond.
            for offset in [0, 1, l / 4, l / 2 - 1] {
                let issued = T0 + offset;
                let nonce = n.issue(issued);
                assert!(
                    matches!(n.check(Some(&nonce), issued + l), NonceCheck::Valid { .. }),
                    "lifetime {lifetime}, offset {offset}: refused before one lifetime"
                );
                assert_eq!(
                    n.check(Some(&nonce), issued + 2 * l),
                    NonceCheck::Expired,
                    "lifetime {lifetime}, offset {offset}: accepted after two lifetimes"
                );
            }
        }
    }

    #[test]
    fn expiry_edges_are_exact() {
        // Lifetime 60 s: slots of 30 s. A nonce of slot s is valid through slot s + 3.
        let n = nonces(60);
        let nonce = n.issue(T0);
        assert_eq!(
            n.check(Some(&nonce), T0 + 120_000 - 1),
            NonceCheck::Valid { refresh: true }
        );
        assert_eq!(n.check(Some(&nonce), T0 + 120_000), NonceCheck::Expired);
        assert_eq!(n.check(Some(&nonce), u64::MAX), NonceCheck::Expired);
    }

    #[test]
    fn lifetime_of_one_second_works() {
        let n = nonces(1);
        let nonce = n.issue(T0);
        let at = |ms: u64| n.check(Some(&nonce), T0 + ms);
        assert_eq!(at(0), NonceCheck::Valid { refresh: false });
        assert_eq!(at(999), NonceCheck::Valid { refresh: false });
        assert_eq!(at(1000), NonceCheck::Valid { refresh: true });
        assert_eq!(at(1999), NonceCheck::Valid { refresh: true });
        assert_eq!(at(2000), NonceCheck::Expired);
        assert_ne!(n.issue(T0 + 500), nonce);
    }

    #[test]
    fn refresh_once_past_half_the_lifetime() {
        let n = nonces(60);
        let nonce = n.issue(T0);
        let at = |ms: u64| n.check(Some(&nonce), T0 + ms);
        assert_eq!(at(0), NonceCheck::Valid { refresh: false });
        assert_eq!(at(59_999), NonceCheck::Valid { refresh: false });
        assert_eq!(at(60_000), NonceCheck::Valid { refresh: true });
        assert_eq!(at(119_999), NonceCheck::Valid { refresh: true });
    }

    #[test]
    fn a_slot_ahead_is_accepted_for_clock_differences_two_are_not() {
        let n = nonces(60);
        assert_eq!(
            n.check(Some(&n.issue(T0 + 30_000)), T0),
            NonceCheck::Valid { refresh: false }
        );
        assert_eq!(
            n.check(Some(&n.issue(T0 + 60_000)), T0),
            NonceCheck::Invalid
        );
        assert_eq!(n.check(Some(&n.issue(u64::MAX)), 0), NonceCheck::Invalid);
    }

    #[test]
    fn missing_nonce() {
        assert_eq!(nonces(60).check(None, T0), NonceCheck::Missing);
    }

    #[test]
    fn altered_nonces_are_refused() {
        let n = nonces(60);
        let nonce = n.issue(T0);
        let mut bytes = b64::decode(&nonce).unwrap();
        for i in 0..bytes.len() {
            bytes[i] ^= 0x01;
            assert_eq!(
                n.check(Some(&b64::encode(&bytes)), T0),
                NonceCheck::Invalid,
                "byte {i}"
            );
            bytes[i] ^= 0x01;
        }
        // The slot of a nonce cannot be moved forward to extend its life.
        let slot = T0 / 30_000;
        bytes[..8].copy_from_slice(&(slot + 3).to_be_bytes());
        assert_eq!(
            n.check(Some(&b64::encode(&bytes)), T0 + 150_000),
            NonceCheck::Invalid
        );
    }

    #[test]
    fn malformed_nonces_never_panic() {
        let n = nonces(60);
        let valid = n.issue(T0);
        let cases = [
            String::new(),
            "a".to_owned(),
            "=".repeat(NONCE_LEN),
            "A".repeat(NONCE_LEN),
            "A".repeat(NONCE_LEN - 1),
            "A".repeat(NONCE_LEN + 1),
            "A".repeat(100_000),
            format!("{}=", &valid[..NONCE_LEN - 1]),
            format!("{}+", &valid[..NONCE_LEN - 1]),
            format!("{}/", &valid[..NONCE_LEN - 1]),
            format!("{} ", &valid[..NONCE_LEN - 1]),
            format!("{}\u{e9}", &valid[..NONCE_LEN - 2]),
            "\u{1F600}".repeat(NONCE_LEN / 4),
            format!("{valid}{valid}"),
            valid.to_ascii_uppercase(),
        ];
        for case in cases {
            assert_eq!(n.check(Some(&case), T0), NonceCheck::Invalid, "{case:.40}");
        }
    }

    #[test]
    fn setup_requires_a_long_secret_and_a_lifetime() {
        assert_eq!(
            Nonces::new(&[1; 31], 60).unwrap_err(),
            NonceSetupError::SecretTooShort { len: 31, min: 32 }
        );
        assert_eq!(
            Nonces::new(&SECRET, 0).unwrap_err(),
            NonceSetupError::ZeroLifetime
        );
        assert!(Nonces::new(&[1; 200], u64::MAX).is_ok());
    }

    #[test]
    fn from_config_uses_secret_and_lifetime() {
        let config = NonceConfig {
            secret: SECRET.to_vec(),
            lifetime: 60,
        };
        let n = Nonces::from_config(&config).unwrap();
        assert_eq!(n.issue(T0), nonces(60).issue(T0));
    }

    #[test]
    fn debug_output_hides_the_key() {
        let shown = format!("{:?}", nonces(60));
        assert_eq!(shown, "Nonces { slot_ms: 30000, .. }");
    }

    #[test]
    fn descriptions() {
        assert_eq!(NonceCheck::Valid { refresh: true }.description(), None);
        assert_eq!(
            NonceCheck::Missing.description(),
            Some("Resource server requires nonce in DPoP proof")
        );
        assert_eq!(
            NonceCheck::Invalid.description(),
            Some("DPoP proof nonce is invalid")
        );
        assert_eq!(
            NonceCheck::Expired.description(),
            Some("DPoP proof nonce has expired")
        );
    }
}
