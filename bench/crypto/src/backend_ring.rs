//! `ring` 0.17. Its public API takes raw key bytes on every call, so the per-key work
//! (parsing n, computing R^2 mod n, decoding the curve point) is repeated per verification.

use crate::alg::{Alg, Backend, KeyMaterial};
use ring::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};

pub struct Ring;

pub enum Key {
    Rsa { n: Vec<u8>, e: Vec<u8> },
    Point(Vec<u8>),
}

fn rsa_params(alg: Alg) -> Option<&'static signature::RsaParameters> {
    Some(match alg {
        Alg::Rs256 => &signature::RSA_PKCS1_2048_8192_SHA256,
        Alg::Rs384 => &signature::RSA_PKCS1_2048_8192_SHA384,
        Alg::Rs512 => &signature::RSA_PKCS1_2048_8192_SHA512,
        Alg::Ps256 => &signature::RSA_PSS_2048_8192_SHA256,
        Alg::Ps384 => &signature::RSA_PSS_2048_8192_SHA384,
        Alg::Ps512 => &signature::RSA_PSS_2048_8192_SHA512,
        _ => return None,
    })
}

fn strip_zeros(bytes: &[u8]) -> Vec<u8> {
    let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    bytes.get(start..).unwrap_or_default().to_vec()
}

impl Backend for Ring {
    const NAME: &'static str = "ring";
    type Key = Key;

    fn supports(_alg: Alg) -> bool {
        true
    }

    fn prepare(alg: Alg, key: &KeyMaterial) -> Option<Key> {
        match (alg, key) {
            (a, KeyMaterial::Rsa { n, e }) if a.is_rsa() => Some(Key::Rsa {
                n: strip_zeros(n),
                e: strip_zeros(e),
            }),
            (Alg::Es256 | Alg::Es384, KeyMaterial::Ec { x, y }) => {
                let mut point = Vec::with_capacity(1 + x.len() + y.len());
                point.push(4);
                point.extend_from_slice(x);
                point.extend_from_slice(y);
                Some(Key::Point(point))
            }
            (Alg::EdDsa, KeyMaterial::Ed25519 { x }) => Some(Key::Point(x.clone())),
            _ => None,
        }
    }

    fn verify(key: &Key, alg: Alg, message: &[u8], sig: &[u8]) -> bool {
        match key {
            Key::Rsa { n, e } => match rsa_params(alg) {
                Some(params) => RsaPublicKeyComponents { n, e }
                    .verify(params, message, sig)
                    .is_ok(),
                None => false,
            },
            Key::Point(point) => {
                let algorithm: &dyn signature::VerificationAlgorithm = match alg {
                    Alg::Es256 => &signature::ECDSA_P256_SHA256_FIXED,
                    Alg::Es384 => &signature::ECDSA_P384_SHA384_FIXED,
                    Alg::EdDsa => &signature::ED25519,
                    _ => return false,
                };
                UnparsedPublicKey::new(algorithm, point)
                    .verify(message, sig)
                    .is_ok()
            }
        }
    }
}
