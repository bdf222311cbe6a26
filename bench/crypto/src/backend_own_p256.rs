//! This crate's own ES256 verifier (`p256_verify`): 32-bit words, per-key tables.

use crate::alg::{Alg, Backend, KeyMaterial};
use filter_core::crypto::p256_verify::PreparedKey;

pub struct OwnP256;

impl Backend for OwnP256 {
    const NAME: &'static str = "own-p256";
    type Key = PreparedKey;

    fn supports(alg: Alg) -> bool {
        alg == Alg::Es256
    }

    fn prepare(alg: Alg, key: &KeyMaterial) -> Option<Self::Key> {
        match (alg, key) {
            (Alg::Es256, KeyMaterial::Ec { x, y }) => {
                PreparedKey::new(x.as_slice().try_into().ok()?, y.as_slice().try_into().ok()?)
            }
            _ => None,
        }
    }

    fn verify(key: &Self::Key, _alg: Alg, message: &[u8], signature: &[u8]) -> bool {
        key.verify(message, signature)
    }
}
