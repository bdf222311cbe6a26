//! The fixed test keys in `testbed/keys/` and everything that signs with them.
//!
//! The keys are committed PEM files (PKCS#8) compiled into the crate, so a test never
//! generates a key and every run signs with the same material. Each private key is
//! parsed once per process and kept.

use std::fmt;
use std::sync::OnceLock;

use hmac::{Hmac, KeyInit, Mac};
use p256::pkcs8::DecodePrivateKey;
use rsa::traits::PublicKeyParts;
use serde_json::{json, Value};
use sha2::{Digest, Sha256, Sha384, Sha512};

use crate::b64url;

/// One of the committed test keys. The key's name is also its default `kid`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Key {
    /// RSA 2048, the issuer's default signing key.
    Rsa1,
    /// RSA 2048, the key that rotation tests publish later.
    Rsa2,
    /// RSA 3072.
    Rsa3072,
    /// EC P-256.
    Ec1,
    /// EC P-384.
    Ec384,
    /// Ed25519.
    Ed1,
    /// RSA 2048 that no issuer ever publishes.
    AttackerRsa,
    /// EC P-256 that no issuer ever publishes.
    AttackerEc,
    /// RSA 1024: too small to be trusted, for the "small key" cases.
    RsaSmall,
    /// DPoP client key (P-256).
    Client1,
    /// Second DPoP client key (P-256), for "proof signed by another client".
    Client2,
}

/// What kind of key a [`Key`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    Rsa,
    P256,
    P384,
    Ed25519,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyError {
    /// No key has this name.
    UnknownName(String),
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyError::UnknownName(name) => write!(
                f,
                "no test key named {name:?} (known: {})",
                Key::ALL
                    .iter()
                    .map(|k| k.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
}

impl std::error::Error for KeyError {}

impl Key {
    pub const ALL: [Key; 11] = [
        Key::Rsa1,
        Key::Rsa2,
        Key::Rsa3072,
        Key::Ec1,
        Key::Ec384,
        Key::Ed1,
        Key::AttackerRsa,
        Key::AttackerEc,
        Key::RsaSmall,
        Key::Client1,
        Key::Client2,
    ];

    /// The file stem in `testbed/keys/` and the default `kid`.
    pub fn name(self) -> &'static str {
        match self {
            Key::Rsa1 => "rsa-1",
            Key::Rsa2 => "rsa-2",
            Key::Rsa3072 => "rsa-3072",
            Key::Ec1 => "ec-1",
            Key::Ec384 => "ec384-1",
            Key::Ed1 => "ed-1",
            Key::AttackerRsa => "attacker-rsa",
            Key::AttackerEc => "attacker-ec",
            Key::RsaSmall => "rsa-small",
            Key::Client1 => "client-1",
            Key::Client2 => "client-2",
        }
    }

    pub fn from_name(name: &str) -> Result<Key, KeyError> {
        Key::ALL
            .into_iter()
            .find(|k| k.name() == name)
            .ok_or_else(|| KeyError::UnknownName(name.to_string()))
    }

    pub fn kid(self) -> &'static str {
        self.name()
    }

    pub fn kind(self) -> KeyKind {
        match self {
            Key::Rsa1 | Key::Rsa2 | Key::Rsa3072 | Key::AttackerRsa | Key::RsaSmall => KeyKind::Rsa,
            Key::Ec1 | Key::AttackerEc | Key::Client1 | Key::Client2 => KeyKind::P256,
            Key::Ec384 => KeyKind::P384,
            Key::Ed1 => KeyKind::Ed25519,
        }
    }

    /// The algorithm a token signed with this key normally names.
    pub fn default_alg(self) -> &'static str {
        match self.kind() {
            KeyKind::Rsa => "RS256",
            KeyKind::P256 => "ES256",
            KeyKind::P384 => "ES384",
            KeyKind::Ed25519 => "EdDSA",
        }
    }

    /// Whether a signature under `alg` made by this key is a real `alg` signature.
    pub fn signs(self, alg: &str) -> bool {
        match self.kind() {
            KeyKind::Rsa => matches!(
                alg,
                "RS256" | "RS384" | "RS512" | "PS256" | "PS384" | "PS512"
            ),
            KeyKind::P256 => alg == "ES256",
            KeyKind::P384 => alg == "ES384",
            KeyKind::Ed25519 => alg == "EdDSA",
        }
    }

    /// The PEM text of the private key, as committed.
    pub fn private_pem(self) -> &'static str {
        match self {
            Key::Rsa1 => include_str!("../keys/rsa-1.pem"),
            Key::Rsa2 => include_str!("../keys/rsa-2.pem"),
            Key::Rsa3072 => include_str!("../keys/rsa-3072.pem"),
            Key::Ec1 => include_str!("../keys/ec-1.pem"),
            Key::Ec384 => include_str!("../keys/ec384-1.pem"),
            Key::Ed1 => include_str!("../keys/ed-1.pem"),
            Key::AttackerRsa => include_str!("../keys/attacker-rsa.pem"),
            Key::AttackerEc => include_str!("../keys/attacker-ec.pem"),
            Key::RsaSmall => include_str!("../keys/rsa-small.pem"),
            Key::Client1 => include_str!("../keys/client-1.pem"),
            Key::Client2 => include_str!("../keys/client-2.pem"),
        }
    }

    /// The public JWK with `kid` = the key's name and `use` = `sig`, without `alg`
    /// (add one with [`Key::public_jwk_with_alg`] when a test needs it).
    pub fn public_jwk(self) -> Value {
        let mut jwk = self.bare_public_jwk();
        if let Value::Object(map) = &mut jwk {
            map.insert("kid".into(), Value::String(self.kid().into()));
            map.insert("use".into(), Value::String("sig".into()));
        }
        jwk
    }

    pub fn public_jwk_with_alg(self, alg: &str) -> Value {
        let mut jwk = self.public_jwk();
        if let Value::Object(map) = &mut jwk {
            map.insert("alg".into(), Value::String(alg.into()));
        }
        jwk
    }

    /// Only the members that describe the key (`kty` and the key material), as a DPoP
    /// proof's `jwk` header carries it.
    pub fn bare_public_jwk(self) -> Value {
        match loaded(self) {
            Loaded::Rsa(key) => json!({
                "kty": "RSA",
                "n": b64url(unsigned(&key.n().to_be_bytes())),
                "e": b64url(unsigned(&key.e().to_be_bytes())),
            }),
            Loaded::P256(key) => {
                let point = key.verifying_key().to_sec1_point(false);
                json!({
                    "kty": "EC",
                    "crv": "P-256",
                    "x": b64url(point.x().map(|x| x.as_slice()).unwrap_or_default()),
                    "y": b64url(point.y().map(|y| y.as_slice()).unwrap_or_default()),
                })
            }
            Loaded::P384(key) => {
                let point = key.verifying_key().to_sec1_point(false);
                json!({
                    "kty": "EC",
                    "crv": "P-384",
                    "x": b64url(point.x().map(|x| x.as_slice()).unwrap_or_default()),
                    "y": b64url(point.y().map(|y| y.as_slice()).unwrap_or_default()),
                })
            }
            Loaded::Ed25519(key) => json!({
                "kty": "OKP",
                "crv": "Ed25519",
                "x": b64url(key.verifying_key().as_bytes()),
            }),
        }
    }

    /// The RFC 7638 thumbprint of the public key (what `cnf.jkt` holds).
    pub fn thumbprint(self) -> String {
        crate::thumbprint(&self.bare_public_jwk())
    }

    /// The public key as SubjectPublicKeyInfo PEM, e.g. as the "secret" of an HS256
    /// algorithm-confusion attempt.
    pub fn public_pem(self) -> String {
        use p256::pkcs8::EncodePublicKey;
        let pem = match loaded(self) {
            Loaded::Rsa(key) => key.to_public_key().to_public_key_pem(Default::default()),
            Loaded::P256(key) => key.verifying_key().to_public_key_pem(Default::default()),
            Loaded::P384(key) => key.verifying_key().to_public_key_pem(Default::default()),
            Loaded::Ed25519(key) => key.verifying_key().to_public_key_pem(Default::default()),
        };
        pem.unwrap_or_default()
    }

    /// Signs `message` as JWS algorithm `alg` would. When `alg` does not fit this key
    /// (or is not an asymmetric JWS algorithm at all), the key signs with its own
    /// default algorithm instead, so a token can name one algorithm and carry a
    /// signature of another: exactly the mismatch tests need.
    pub fn sign(self, alg: &str, message: &[u8]) -> Vec<u8> {
        use p256::ecdsa::signature::{RandomizedSigner, SignatureEncoding, Signer};
        let mut rng = getrandom::rand_core::UnwrapErr(getrandom::SysRng);
        match loaded(self) {
            Loaded::Rsa(key) => {
                let key = key.clone();
                match alg {
                    "RS384" => rsa::pkcs1v15::SigningKey::<Sha384>::new(key)
                        .sign(message)
                        .to_vec(),
                    "RS512" => rsa::pkcs1v15::SigningKey::<Sha512>::new(key)
                        .sign(message)
                        .to_vec(),
                    "PS256" => rsa::pss::SigningKey::<Sha256>::new(key)
                        .sign_with_rng(&mut rng, message)
                        .to_vec(),
                    "PS384" => rsa::pss::SigningKey::<Sha384>::new(key)
                        .sign_with_rng(&mut rng, message)
                        .to_vec(),
                    "PS512" => rsa::pss::SigningKey::<Sha512>::new(key)
                        .sign_with_rng(&mut rng, message)
                        .to_vec(),
                    _ => rsa::pkcs1v15::SigningKey::<Sha256>::new(key)
                        .sign(message)
                        .to_vec(),
                }
            }
            Loaded::P256(key) => {
                let signature: p256::ecdsa::Signature = key.sign(message);
                signature.to_bytes().to_vec()
            }
            Loaded::P384(key) => {
                let signature: p384::ecdsa::Signature = key.sign(message);
                signature.to_bytes().to_vec()
            }
            Loaded::Ed25519(key) => key.sign(message).to_bytes().to_vec(),
        }
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// HMAC over `message` for `HS256`/`HS384`/`HS512` (anything else: HS256). Only
/// attackers sign tokens this way.
pub fn hmac_sign(alg: &str, secret: &[u8], message: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length, so the constructors cannot fail here.
    match alg {
        "HS384" => Hmac::<Sha384>::new_from_slice(secret)
            .map(|mac| mac.chain_update(message).finalize().into_bytes().to_vec())
            .unwrap_or_default(),
        "HS512" => Hmac::<Sha512>::new_from_slice(secret)
            .map(|mac| mac.chain_update(message).finalize().into_bytes().to_vec())
            .unwrap_or_default(),
        _ => Hmac::<Sha256>::new_from_slice(secret)
            .map(|mac| mac.chain_update(message).finalize().into_bytes().to_vec())
            .unwrap_or_default(),
    }
}

/// base64url(SHA-256(access token)): a DPoP proof's `ath`.
pub fn access_token_hash(token: &str) -> String {
    b64url(&Sha256::digest(token.as_bytes()))
}

/// A big-endian integer without its leading zero bytes, as JWK's base64url integers are
/// written (RFC 7518 §6.3.1): the big-number type pads to its whole precision.
fn unsigned(bytes: &[u8]) -> &[u8] {
    let zeros = bytes.iter().take_while(|byte| **byte == 0).count();
    bytes.get(zeros..).unwrap_or_default()
}

enum Loaded {
    Rsa(rsa::PrivateKey),
    P256(p256::ecdsa::SigningKey),
    P384(p384::ecdsa::SigningKey),
    Ed25519(ed25519_dalek::SigningKey),
}

fn loaded(key: Key) -> &'static Loaded {
    static CELLS: [OnceLock<Loaded>; Key::ALL.len()] = [const { OnceLock::new() }; Key::ALL.len()];
    match CELLS.get(key as usize) {
        Some(cell) => cell.get_or_init(|| parse(key)),
        // Every key has a cell (the array is sized by `Key::ALL`); kept total anyway.
        None => Box::leak(Box::new(parse(key))),
    }
}

// The PEM files are compiled into this crate and a test parses every one of them, so a
// failure here is a broken checkout, not an input to handle.
#[allow(clippy::panic)]
fn parse(key: Key) -> Loaded {
    let pem = key.private_pem();
    let broken =
        |e: &dyn fmt::Display| -> ! { panic!("test key {} does not parse: {e}", key.name()) };
    match key.kind() {
        KeyKind::Rsa => {
            Loaded::Rsa(rsa::PrivateKey::from_pkcs8_pem(pem).unwrap_or_else(|e| broken(&e)))
        }
        KeyKind::P256 => Loaded::P256(
            p256::ecdsa::SigningKey::from_pkcs8_pem(pem).unwrap_or_else(|e| broken(&e)),
        ),
        KeyKind::P384 => Loaded::P384(
            p384::ecdsa::SigningKey::from_pkcs8_pem(pem).unwrap_or_else(|e| broken(&e)),
        ),
        KeyKind::Ed25519 => Loaded::Ed25519(
            ed25519_dalek::SigningKey::from_pkcs8_pem(pem).unwrap_or_else(|e| broken(&e)),
        ),
    }
}
