//! The previous `p256` line (0.13), whose field arithmetic picks its word size from the target
//! (32-bit on wasm32), unlike 0.14.

use crate::alg::{Alg, Backend, KeyMaterial};
use p256_013::ecdsa::signature::Verifier;

pub struct P256v013;

impl Backend for P256v013 {
    const NAME: &'static str = "p256-0.13";
    type Key = p256_013::ecdsa::VerifyingKey;

    fn supports(alg: Alg) -> bool {
        alg == Alg::Es256
    }

    fn prepare(alg: Alg, key: &KeyMaterial) -> Option<Self::Key> {
        match (alg, key) {
            (Alg::Es256, KeyMaterial::Ec { x, y }) if x.len() == 32 && y.len() == 32 => {
                let mut point = vec![4u8];
                point.extend_from_slice(x);
                point.extend_from_slice(y);
                p256_013::ecdsa::VerifyingKey::from_sec1_bytes(&point).ok()
            }
            _ => None,
        }
    }

    fn verify(key: &Self::Key, _alg: Alg, message: &[u8], signature: &[u8]) -> bool {
        match p256_013::ecdsa::Signature::from_slice(signature) {
            Ok(sig) => key.verify(message, &sig).is_ok(),
            Err(_) => false,
        }
    }
}
