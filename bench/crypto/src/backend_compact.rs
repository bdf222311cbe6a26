//! `ed25519-compact`: a small pure-Rust Ed25519.

use crate::alg::{Alg, Backend, KeyMaterial};

pub struct Compact;

impl Backend for Compact {
    const NAME: &'static str = "ed25519-compact";
    type Key = ed25519_compact::PublicKey;

    fn supports(alg: Alg) -> bool {
        alg == Alg::EdDsa
    }

    fn prepare(alg: Alg, key: &KeyMaterial) -> Option<Self::Key> {
        match (alg, key) {
            (Alg::EdDsa, KeyMaterial::Ed25519 { x }) => {
                ed25519_compact::PublicKey::from_slice(x).ok()
            }
            _ => None,
        }
    }

    fn verify(key: &Self::Key, _alg: Alg, message: &[u8], signature: &[u8]) -> bool {
        match ed25519_compact::Signature::from_slice(signature) {
            Ok(sig) => key.verify(message, &sig).is_ok(),
            Err(_) => false,
        }
    }
}
