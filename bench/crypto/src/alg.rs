//! The JOSE signature algorithms under test and the key material each needs.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Alg {
    Rs256,
    Rs384,
    Rs512,
    Ps256,
    Ps384,
    Ps512,
    Es256,
    Es384,
    EdDsa,
}

impl Alg {
    pub const ALL: [Alg; 9] = [
        Alg::Rs256,
        Alg::Rs384,
        Alg::Rs512,
        Alg::Ps256,
        Alg::Ps384,
        Alg::Ps512,
        Alg::Es256,
        Alg::Es384,
        Alg::EdDsa,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Alg::Rs256 => "RS256",
            Alg::Rs384 => "RS384",
            Alg::Rs512 => "RS512",
            Alg::Ps256 => "PS256",
            Alg::Ps384 => "PS384",
            Alg::Ps512 => "PS512",
            Alg::Es256 => "ES256",
            Alg::Es384 => "ES384",
            Alg::EdDsa => "EdDSA",
        }
    }

    pub fn is_rsa(self) -> bool {
        matches!(
            self,
            Alg::Rs256 | Alg::Rs384 | Alg::Rs512 | Alg::Ps256 | Alg::Ps384 | Alg::Ps512
        )
    }
}

/// Public key material as a JWK carries it (big-endian unsigned integers, raw coordinates).
#[derive(Clone, Debug)]
pub enum KeyMaterial {
    Rsa { n: Vec<u8>, e: Vec<u8> },
    Ec { x: Vec<u8>, y: Vec<u8> },
    Ed25519 { x: Vec<u8> },
}

/// A verification backend: `prepare` is the per-key work that a key cache keeps across
/// requests, `verify` the per-request work.
pub trait Backend {
    const NAME: &'static str;
    type Key;
    fn supports(alg: Alg) -> bool;
    fn prepare(alg: Alg, key: &KeyMaterial) -> Option<Self::Key>;
    fn verify(key: &Self::Key, alg: Alg, message: &[u8], signature: &[u8]) -> bool;
}
