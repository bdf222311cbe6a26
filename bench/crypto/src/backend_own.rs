//! This crate's own RSA (`rsa_verify`); no EC or EdDSA.

use crate::alg::{Alg, Backend, KeyMaterial};
use filter_core::crypto::rsa_verify::{HashAlg, RsaPublicKey, Scheme};

pub struct Own;

/// The big-endian exponent as a number, if it fits in 64 bits.
fn exponent(e: &[u8]) -> Option<u64> {
    let e = &e[e.iter().position(|&b| b != 0).unwrap_or(e.len())..];
    (e.len() <= 8).then(|| e.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
}

fn scheme(alg: Alg) -> Option<Scheme> {
    Some(match alg {
        Alg::Rs256 => Scheme::Pkcs1v15(HashAlg::Sha256),
        Alg::Rs384 => Scheme::Pkcs1v15(HashAlg::Sha384),
        Alg::Rs512 => Scheme::Pkcs1v15(HashAlg::Sha512),
        Alg::Ps256 => Scheme::Pss(HashAlg::Sha256),
        Alg::Ps384 => Scheme::Pss(HashAlg::Sha384),
        Alg::Ps512 => Scheme::Pss(HashAlg::Sha512),
        _ => return None,
    })
}

impl Backend for Own {
    const NAME: &'static str = if cfg!(target_feature = "simd128") {
        "own-u32-simd128"
    } else {
        "own-u32"
    };
    type Key = (RsaPublicKey, Scheme);

    fn supports(alg: Alg) -> bool {
        alg.is_rsa()
    }

    fn prepare(alg: Alg, key: &KeyMaterial) -> Option<Self::Key> {
        match key {
            KeyMaterial::Rsa { n, e } => Some((RsaPublicKey::new(n, exponent(e)?).ok()?, scheme(alg)?)),
            _ => None,
        }
    }

    fn verify(key: &Self::Key, _alg: Alg, message: &[u8], signature: &[u8]) -> bool {
        key.0.verify(key.1, message, signature).is_ok()
    }
}
