//! RustCrypto: `rsa` 0.10, `p256`/`p384` 0.14, `ed25519-dalek` 3.

use crate::alg::{Alg, Backend, KeyMaterial};
use rsa::signature::Verifier;
use rsa::{BoxedUint, PublicKey as RsaPublicKey};
use sha2::{Sha256, Sha384, Sha512};

pub struct RustCrypto;

pub enum Key {
    Rs256(rsa::pkcs1v15::VerifyingKey<Sha256>),
    Rs384(rsa::pkcs1v15::VerifyingKey<Sha384>),
    Rs512(rsa::pkcs1v15::VerifyingKey<Sha512>),
    Ps256(rsa::pss::VerifyingKey<Sha256>),
    Ps384(rsa::pss::VerifyingKey<Sha384>),
    Ps512(rsa::pss::VerifyingKey<Sha512>),
    Es256(p256::ecdsa::VerifyingKey),
    Es384(p384::ecdsa::VerifyingKey),
    Ed25519(ed25519_dalek::VerifyingKey),
}

fn rsa_key(n: &[u8], e: &[u8]) -> Option<RsaPublicKey> {
    let n = BoxedUint::from_be_slice_vartime(n);
    let e = BoxedUint::from_be_slice_vartime(e);
    RsaPublicKey::new_with_size_limits(n, e, 2048..=8192).ok()
}

fn sec1(x: &[u8], y: &[u8]) -> Vec<u8> {
    let mut point = Vec::with_capacity(1 + x.len() + y.len());
    point.push(4);
    point.extend_from_slice(x);
    point.extend_from_slice(y);
    point
}

impl Backend for RustCrypto {
    const NAME: &'static str = if cfg!(cpubits = "32") {
        "rustcrypto-cpubits32"
    } else {
        "rustcrypto"
    };
    type Key = Key;

    fn supports(_alg: Alg) -> bool {
        true
    }

    #[inline]
    fn prepare(alg: Alg, key: &KeyMaterial) -> Option<Key> {
        Some(match (alg, key) {
            (Alg::Rs256, KeyMaterial::Rsa { n, e }) => {
                Key::Rs256(rsa::pkcs1v15::VerifyingKey::new(rsa_key(n, e)?))
            }
            (Alg::Rs384, KeyMaterial::Rsa { n, e }) => {
                Key::Rs384(rsa::pkcs1v15::VerifyingKey::new(rsa_key(n, e)?))
            }
            (Alg::Rs512, KeyMaterial::Rsa { n, e }) => {
                Key::Rs512(rsa::pkcs1v15::VerifyingKey::new(rsa_key(n, e)?))
            }
            (Alg::Ps256, KeyMaterial::Rsa { n, e }) => {
                Key::Ps256(rsa::pss::VerifyingKey::new(rsa_key(n, e)?))
            }
            (Alg::Ps384, KeyMaterial::Rsa { n, e }) => {
                Key::Ps384(rsa::pss::VerifyingKey::new(rsa_key(n, e)?))
            }
            (Alg::Ps512, KeyMaterial::Rsa { n, e }) => {
                Key::Ps512(rsa::pss::VerifyingKey::new(rsa_key(n, e)?))
            }
            (Alg::Es256, KeyMaterial::Ec { x, y }) if x.len() == 32 && y.len() == 32 => {
                Key::Es256(p256::ecdsa::VerifyingKey::from_sec1_bytes(&sec1(x, y)).ok()?)
            }
            (Alg::Es384, KeyMaterial::Ec { x, y }) if x.len() == 48 && y.len() == 48 => {
                Key::Es384(p384::ecdsa::VerifyingKey::from_sec1_bytes(&sec1(x, y)).ok()?)
            }
            (Alg::EdDsa, KeyMaterial::Ed25519 { x }) => {
                let bytes: &[u8; 32] = x.as_slice().try_into().ok()?;
                Key::Ed25519(ed25519_dalek::VerifyingKey::from_bytes(bytes).ok()?)
            }
            _ => return None,
        })
    }

    /// Dispatches on `alg` before the key so that a caller with a constant `alg` links only
    /// that algorithm's code (the size probes rely on it).
    #[inline]
    fn verify(key: &Key, alg: Alg, message: &[u8], signature: &[u8]) -> bool {
        match (alg, key) {
            (Alg::Rs256, Key::Rs256(k)) => rsa_verify(k, message, signature),
            (Alg::Rs384, Key::Rs384(k)) => rsa_verify(k, message, signature),
            (Alg::Rs512, Key::Rs512(k)) => rsa_verify(k, message, signature),
            (Alg::Ps256, Key::Ps256(k)) => pss_verify(k, message, signature),
            (Alg::Ps384, Key::Ps384(k)) => pss_verify(k, message, signature),
            (Alg::Ps512, Key::Ps512(k)) => pss_verify(k, message, signature),
            (Alg::Es256, Key::Es256(k)) => match p256::ecdsa::Signature::from_slice(signature) {
                Ok(sig) => k.verify(message, &sig).is_ok(),
                Err(_) => false,
            },
            (Alg::Es384, Key::Es384(k)) => match p384::ecdsa::Signature::from_slice(signature) {
                Ok(sig) => k.verify(message, &sig).is_ok(),
                Err(_) => false,
            },
            (Alg::EdDsa, Key::Ed25519(k)) => {
                match ed25519_dalek::Signature::from_slice(signature) {
                    Ok(sig) => k.verify_strict(message, &sig).is_ok(),
                    Err(_) => false,
                }
            }
            _ => false,
        }
    }
}

fn rsa_verify<K: Verifier<rsa::pkcs1v15::Signature>>(
    k: &K,
    message: &[u8],
    signature: &[u8],
) -> bool {
    match rsa::pkcs1v15::Signature::try_from(signature) {
        Ok(sig) => k.verify(message, &sig).is_ok(),
        Err(_) => false,
    }
}

fn pss_verify<K: Verifier<rsa::pss::Signature>>(k: &K, message: &[u8], signature: &[u8]) -> bool {
    match rsa::pss::Signature::try_from(signature) {
        Ok(sig) => k.verify(message, &sig).is_ok(),
        Err(_) => false,
    }
}
