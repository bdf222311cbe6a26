//! Public JSON Web Keys (RFC 7517) and key sets, parsed into ready-to-use verification keys.
//!
//! Only what can verify a signature is kept: RSA (`n`, `e`), EC P-256/P-384 (`crv`, `x`, `y`)
//! and OKP Ed25519 (`crv`, `x`). A key whose `use`, `key_ops` or `alg` says it is for something
//! else is refused, and so is anything carrying private or symmetric material: a JWKS that
//! publishes a private key is broken, and trusting its other keys would hide that.
//!
//! In a set, one bad key does not spoil the others: it is skipped with a reason the caller can
//! log, since issuers publish keys for other purposes (`use: "enc"`) next to signing keys.

use std::fmt;

use serde_json::{Map, Value};

use crate::algorithm::{Algorithm, KeyFamily};
use crate::b64::{self, B64Error};
use crate::crypto::{self, KeyError, VerifyingKey};
use crate::host_verify;
use crate::json::{self, clip, excerpt, JsonError};

/// A JWKS document larger than this is refused before parsing.
pub const MAX_JWKS_LEN: usize = 256 * 1024;
/// A JWKS with more keys than this is refused: real issuers publish a handful.
pub const MAX_KEYS: usize = 64;
/// Longer `kid` values are refused; they are compared on every request and end up in logs.
pub const MAX_KID_LEN: usize = 256;

/// Members that only private or symmetric keys have (RFC 7518 §6.3.2, §6.2.2, §6.4.1).
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

#[derive(Debug, Clone)]
pub struct Jwk {
    pub kid: Option<String>,
    /// The JWK's own `alg`, already checked to name a known algorithm fitting the key.
    pub alg: Option<String>,
    pub key_use: Option<String>,
    algorithm: Option<Algorithm>,
    key: VerifyingKey,
    thumbprint: String,
    /// An RSA key as DER SubjectPublicKeyInfo, for a host that checks signatures itself
    /// ([`crate::host_verify`]).
    spki: Option<Vec<u8>>,
}

impl Jwk {
    pub fn key(&self) -> &VerifyingKey {
        &self.key
    }

    /// DER SubjectPublicKeyInfo of an RSA key; `None` for other key types.
    pub fn spki(&self) -> Option<&[u8]> {
        self.spki.as_deref()
    }

    pub fn family(&self) -> KeyFamily {
        self.key.family()
    }

    /// The algorithm named by the JWK's `alg`, if it has one.
    pub fn algorithm(&self) -> Option<Algorithm> {
        self.algorithm
    }

    /// Whether a signature made with `alg` may be checked with this key: the key type and curve
    /// must be the algorithm's, and a JWK that names an algorithm allows only that one.
    pub fn fits(&self, alg: Algorithm) -> bool {
        alg.key_family() == self.key.family() && self.algorithm.is_none_or(|own| own == alg)
    }

    /// The RFC 7638 SHA-256 thumbprint, base64url: what DPoP's `jkt` and `cnf` compare.
    pub fn thumbprint(&self) -> String {
        self.thumbprint.clone()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwkError {
    // The shape of the object.
    MissingMember(&'static str),
    MemberType {
        member: &'static str,
        expected: &'static str,
    },
    MemberEncoding {
        member: &'static str,
        error: B64Error,
    },
    KidTooLong {
        len: usize,
        max: usize,
    },
    // The kind of key.
    SymmetricKey,
    PrivateMember(&'static str),
    /// `kty` other than RSA, EC, OKP and oct; clipped.
    UnsupportedKeyType(String),
    // What the key is for.
    /// `use` other than `sig`; clipped.
    NotForSignatures(String),
    /// `key_ops` present without `verify`.
    NoVerifyOperation,
    DuplicateKeyOperation(String),
    /// `alg` that is not a signature algorithm this filter implements; clipped.
    UnknownAlgorithm(String),
    /// `alg` names an algorithm for another type of key or curve.
    AlgorithmMismatch {
        alg: Algorithm,
    },
    // The key material.
    Key(KeyError),
}

impl fmt::Display for JwkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JwkError::MissingMember(member) => write!(f, "member {member} is missing"),
            JwkError::MemberType { member, expected } => {
                write!(f, "member {member} is not {expected}")
            }
            JwkError::MemberEncoding { member, error } => {
                write!(f, "member {member} is not base64url: {error}")
            }
            JwkError::KidTooLong { len, max } => {
                write!(f, "kid is {len} bytes, more than the {max} allowed")
            }
            JwkError::SymmetricKey => f.write_str("symmetric keys are not accepted"),
            JwkError::PrivateMember(member) => {
                write!(f, "private key member {member} is present")
            }
            JwkError::UnsupportedKeyType(kty) => {
                write!(f, "key type '{}' is not supported", excerpt(kty))
            }
            JwkError::NotForSignatures(key_use) => {
                write!(f, "key use '{}' is not sig", excerpt(key_use))
            }
            JwkError::NoVerifyOperation => f.write_str("key_ops does not allow verify"),
            JwkError::DuplicateKeyOperation(op) => {
                write!(f, "key_ops lists '{}' twice", excerpt(op))
            }
            JwkError::UnknownAlgorithm(alg) => {
                write!(f, "algorithm '{}' is not supported", excerpt(alg))
            }
            JwkError::AlgorithmMismatch { alg } => {
                write!(f, "algorithm {alg} does not fit the key")
            }
            JwkError::Key(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for JwkError {}

impl From<KeyError> for JwkError {
    fn from(e: KeyError) -> JwkError {
        JwkError::Key(e)
    }
}

pub fn parse_jwk(obj: &Map<String, Value>) -> Result<Jwk, JwkError> {
    let kty = required_str(obj, "kty")?;
    if kty == "oct" {
        return Err(JwkError::SymmetricKey);
    }
    if let Some(member) = PRIVATE_MEMBERS.into_iter().find(|m| obj.contains_key(*m)) {
        return Err(JwkError::PrivateMember(member));
    }
    if !matches!(kty, "RSA" | "EC" | "OKP") {
        return Err(JwkError::UnsupportedKeyType(clip(kty)));
    }

    let key_use = optional_str(obj, "use")?;
    if let Some(u) = key_use {
        if u != "sig" {
            return Err(JwkError::NotForSignatures(clip(u)));
        }
    }
    check_key_ops(obj)?;
    let alg = optional_str(obj, "alg")?;
    let algorithm = match alg {
        Some(name) => {
            Some(Algorithm::from_name(name).ok_or_else(|| JwkError::UnknownAlgorithm(clip(name)))?)
        }
        None => None,
    };
    let kid = optional_str(obj, "kid")?;
    if let Some(kid) = kid {
        if kid.len() > MAX_KID_LEN {
            return Err(JwkError::KidTooLong {
                len: kid.len(),
                max: MAX_KID_LEN,
            });
        }
    }

    let mut spki = None;
    let (key, canonical) = match kty {
        "RSA" => {
            let n = required_b64(obj, "n")?;
            let e = required_b64(obj, "e")?;
            let key = VerifyingKey::rsa(&n, &e)?;
            // The thumbprint uses the minimal encoding even where `n` was sent with a leading
            // zero octet, so both spellings of one key get one thumbprint.
            let first = n.iter().position(|&b| b != 0).unwrap_or(n.len());
            let n_min = n.get(first..).unwrap_or_default();
            let canonical = format!(
                r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
                b64::encode(&e),
                b64::encode(n_min)
            );
            spki = Some(host_verify::rsa_spki(&n, &e));
            (key, canonical)
        }
        "EC" => {
            let crv = required_str(obj, "crv")?;
            let x = required_b64(obj, "x")?;
            let y = required_b64(obj, "y")?;
            let key = VerifyingKey::ec(crv, &x, &y)?;
            // `crv` is one of the supported names here, safe to place in JSON as is.
            let canonical = format!(
                r#"{{"crv":"{crv}","kty":"EC","x":"{}","y":"{}"}}"#,
                b64::encode(&x),
                b64::encode(&y)
            );
            (key, canonical)
        }
        _ => {
            let crv = required_str(obj, "crv")?;
            if crv != "Ed25519" {
                return Err(JwkError::Key(KeyError::UnsupportedCurve(clip(crv))));
            }
            let x = required_b64(obj, "x")?;
            let key = VerifyingKey::ed25519(&x)?;
            let canonical = format!(
                r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#,
                b64::encode(&x)
            );
            (key, canonical)
        }
    };
    if let Some(alg) = algorithm {
        if alg.key_family() != key.family() {
            return Err(JwkError::AlgorithmMismatch { alg });
        }
    }

    Ok(Jwk {
        kid: kid.map(str::to_owned),
        alg: alg.map(str::to_owned),
        key_use: key_use.map(str::to_owned),
        algorithm,
        key,
        thumbprint: b64::encode(&crypto::sha256(canonical.as_bytes())),
        spki,
    })
}

fn check_key_ops(obj: &Map<String, Value>) -> Result<(), JwkError> {
    const NOT_LIST: JwkError = JwkError::MemberType {
        member: "key_ops",
        expected: "an array of strings",
    };
    let Some(value) = obj.get("key_ops") else {
        return Ok(());
    };
    let ops = value.as_array().ok_or(NOT_LIST)?;
    let mut seen: Vec<&str> = Vec::with_capacity(ops.len());
    for op in ops {
        let op = op.as_str().ok_or(NOT_LIST)?;
        if seen.contains(&op) {
            return Err(JwkError::DuplicateKeyOperation(clip(op)));
        }
        seen.push(op);
    }
    if seen.contains(&"verify") {
        Ok(())
    } else {
        Err(JwkError::NoVerifyOperation)
    }
}

fn optional_str<'a>(
    obj: &'a Map<String, Value>,
    member: &'static str,
) -> Result<Option<&'a str>, JwkError> {
    match obj.get(member) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(JwkError::MemberType {
            member,
            expected: "a string",
        }),
    }
}

fn required_str<'a>(
    obj: &'a Map<String, Value>,
    member: &'static str,
) -> Result<&'a str, JwkError> {
    optional_str(obj, member)?.ok_or(JwkError::MissingMember(member))
}

fn required_b64(obj: &Map<String, Value>, member: &'static str) -> Result<Vec<u8>, JwkError> {
    b64::decode(required_str(obj, member)?)
        .map_err(|error| JwkError::MemberEncoding { member, error })
}

/// The usable keys of a JWKS, in document order.
#[derive(Debug, Clone, Default)]
pub struct JwkSet {
    keys: Vec<Jwk>,
}

impl JwkSet {
    /// The key whose `kid` equals `kid` byte for byte (no case folding, no normalisation).
    pub fn find(&self, kid: &str) -> Option<&Jwk> {
        self.keys.iter().find(|k| k.kid.as_deref() == Some(kid))
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The `kid` of every key that has one, in document order.
    pub fn kids(&self) -> impl Iterator<Item = &str> + '_ {
        self.keys.iter().filter_map(|k| k.kid.as_deref())
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Jwk> {
        self.keys.iter()
    }
}

#[derive(Debug, Clone)]
pub struct ParsedJwks {
    pub keys: JwkSet,
    pub skipped: Vec<SkippedKey>,
}

/// A key of the document that is not in the set, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedKey {
    /// Position in the document's `keys` array.
    pub index: usize,
    /// The key's `kid` if it had a string one, clipped.
    pub kid: Option<String>,
    pub reason: SkipReason,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipReason {
    NotAnObject,
    Unusable(JwkError),
    /// An earlier key has the same `kid`; the earlier one is kept, so lookups are deterministic.
    DuplicateKid,
}

impl fmt::Display for SkippedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "key {}", self.index)?;
        if let Some(kid) = &self.kid {
            write!(f, " (kid '{}')", excerpt(kid))?;
        }
        match &self.reason {
            SkipReason::NotAnObject => f.write_str(" skipped: not a JSON object"),
            SkipReason::Unusable(e) => write!(f, " skipped: {e}"),
            SkipReason::DuplicateKid => f.write_str(" skipped: an earlier key has the same kid"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwksError {
    TooLarge { len: usize, max: usize },
    Json(JsonError),
    MissingKeys,
    KeysNotArray,
    TooManyKeys { count: usize, max: usize },
}

impl fmt::Display for JwksError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JwksError::TooLarge { len, max } => {
                write!(f, "JWKS is {len} bytes, more than the {max} allowed")
            }
            JwksError::Json(e) => write!(f, "JWKS is not valid JSON: {e}"),
            JwksError::MissingKeys => f.write_str("JWKS has no keys member"),
            JwksError::KeysNotArray => f.write_str("JWKS keys member is not an array"),
            JwksError::TooManyKeys { count, max } => {
                write!(f, "JWKS has {count} keys, more than the {max} allowed")
            }
        }
    }
}

impl std::error::Error for JwksError {}

/// Parses a JWKS document. A set with no usable key is not an error here: whether that is an
/// outage or a token problem is the key cache's decision.
pub fn parse_jwks(bytes: &[u8]) -> Result<ParsedJwks, JwksError> {
    if bytes.len() > MAX_JWKS_LEN {
        return Err(JwksError::TooLarge {
            len: bytes.len(),
            max: MAX_JWKS_LEN,
        });
    }
    let doc = json::parse_object(bytes).map_err(JwksError::Json)?;
    parse_jwks_object(&doc)
}

/// The same, for a JWKS already parsed as part of a larger document (the inline `jwks` of the
/// configuration).
pub fn parse_jwks_object(doc: &Map<String, Value>) -> Result<ParsedJwks, JwksError> {
    let entries = doc
        .get("keys")
        .ok_or(JwksError::MissingKeys)?
        .as_array()
        .ok_or(JwksError::KeysNotArray)?;
    if entries.len() > MAX_KEYS {
        return Err(JwksError::TooManyKeys {
            count: entries.len(),
            max: MAX_KEYS,
        });
    }
    let mut keys: Vec<Jwk> = Vec::with_capacity(entries.len());
    let mut skipped = Vec::new();
    for (index, entry) in entries.iter().enumerate() {
        let Some(obj) = entry.as_object() else {
            skipped.push(SkippedKey {
                index,
                kid: None,
                reason: SkipReason::NotAnObject,
            });
            continue;
        };
        let kid = obj.get("kid").and_then(Value::as_str).map(clip);
        match parse_jwk(obj) {
            Ok(jwk) => {
                let duplicate = jwk.kid.is_some() && keys.iter().any(|k| k.kid == jwk.kid);
                if duplicate {
                    skipped.push(SkippedKey {
                        index,
                        kid,
                        reason: SkipReason::DuplicateKid,
                    });
                } else {
                    keys.push(jwk);
                }
            }
            Err(e) => skipped.push(SkippedKey {
                index,
                kid,
                reason: SkipReason::Unusable(e),
            }),
        }
    }
    Ok(ParsedJwks {
        keys: JwkSet { keys },
        skipped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    // RFC 7638 §3.1.
    const RFC7638_N: &str = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
    const RFC7638_THUMBPRINT: &str = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs";
    // RFC 7515 Appendix A.3.
    const EC_X: &str = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
    const EC_Y: &str = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";
    // RFC 8037 Appendix A.2.
    const OKP_X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
    const OKP_THUMBPRINT: &str = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k";

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => panic!("fixture is not an object"),
        }
    }

    fn rsa() -> Value {
        json!({"kty": "RSA", "n": RFC7638_N, "e": "AQAB", "alg": "RS256", "kid": "2011-04-29"})
    }

    fn ec() -> Value {
        json!({"kty": "EC", "crv": "P-256", "x": EC_X, "y": EC_Y, "kid": "ec"})
    }

    fn okp() -> Value {
        json!({"kty": "OKP", "crv": "Ed25519", "x": OKP_X, "kid": "ed"})
    }

    fn with(mut v: Value, member: &str, value: Value) -> Map<String, Value> {
        v.as_object_mut().unwrap().insert(member.into(), value);
        obj(v)
    }

    fn without(mut v: Value, member: &str) -> Map<String, Value> {
        v.as_object_mut().unwrap().remove(member);
        obj(v)
    }

    #[test]
    fn rfc7638_example_thumbprint() {
        let jwk = parse_jwk(&obj(rsa())).unwrap();
        assert_eq!(jwk.thumbprint(), RFC7638_THUMBPRINT);
        assert_eq!(jwk.kid.as_deref(), Some("2011-04-29"));
        assert_eq!(jwk.alg.as_deref(), Some("RS256"));
        assert_eq!(jwk.algorithm(), Some(Algorithm::RS256));
        assert_eq!(jwk.family(), KeyFamily::Rsa);
    }

    #[test]
    fn thumbprint_ignores_optional_members_and_leading_zero_of_n() {
        let mut n = b64::decode(RFC7638_N).unwrap();
        n.insert(0, 0);
        let padded =
            json!({"kty": "RSA", "n": b64::encode(&n), "e": "AQAB", "use": "sig", "x5t": "abc"});
        assert_eq!(
            parse_jwk(&obj(padded)).unwrap().thumbprint(),
            RFC7638_THUMBPRINT
        );
    }

    #[test]
    fn rfc8037_okp_thumbprint() {
        let jwk = parse_jwk(&obj(okp())).unwrap();
        assert_eq!(jwk.thumbprint(), OKP_THUMBPRINT);
        assert_eq!(jwk.family(), KeyFamily::Ed25519);
    }

    #[test]
    fn ec_thumbprint_covers_crv_x_y_in_order() {
        let jwk = parse_jwk(&obj(ec())).unwrap();
        let expected = format!(r#"{{"crv":"P-256","kty":"EC","x":"{EC_X}","y":"{EC_Y}"}}"#);
        assert_eq!(
            jwk.thumbprint(),
            b64::encode(&crypto::sha256(expected.as_bytes()))
        );
        assert_eq!(jwk.family(), KeyFamily::Ec("P-256"));
    }

    #[test]
    fn fits_checks_family_curve_and_own_alg() {
        let rs = parse_jwk(&obj(rsa())).unwrap();
        assert!(rs.fits(Algorithm::RS256));
        assert!(!rs.fits(Algorithm::PS256));
        assert!(!rs.fits(Algorithm::ES256));
        let any_rsa = parse_jwk(&without(rsa(), "alg")).unwrap();
        for alg in [Algorithm::RS256, Algorithm::RS512, Algorithm::PS384] {
            assert!(any_rsa.fits(alg), "{alg}");
        }
        assert!(!any_rsa.fits(Algorithm::EdDSA));
        let p256 = parse_jwk(&obj(ec())).unwrap();
        assert!(p256.fits(Algorithm::ES256));
        assert!(!p256.fits(Algorithm::ES384));
        let ed = parse_jwk(&obj(okp())).unwrap();
        assert!(ed.fits(Algorithm::EdDSA));
        assert!(!ed.fits(Algorithm::ES256));
    }

    #[test]
    fn kty_is_required_and_must_be_known() {
        assert_eq!(
            parse_jwk(&without(rsa(), "kty")).unwrap_err(),
            JwkError::MissingMember("kty")
        );
        assert_eq!(
            parse_jwk(&with(rsa(), "kty", json!(1))).unwrap_err(),
            JwkError::MemberType {
                member: "kty",
                expected: "a string"
            }
        );
        assert_eq!(
            parse_jwk(&with(rsa(), "kty", json!("rsa"))).unwrap_err(),
            JwkError::UnsupportedKeyType("rsa".into())
        );
        assert_eq!(
            parse_jwk(&obj(json!({"kty": "oct", "k": "AAAA"}))).unwrap_err(),
            JwkError::SymmetricKey
        );
    }

    #[test]
    fn private_members_are_refused() {
        for member in PRIVATE_MEMBERS {
            assert_eq!(
                parse_jwk(&with(rsa(), member, json!("AQAB"))).unwrap_err(),
                JwkError::PrivateMember(member),
                "{member}"
            );
        }
        assert_eq!(
            parse_jwk(&with(ec(), "d", json!("AQAB"))).unwrap_err(),
            JwkError::PrivateMember("d")
        );
    }

    #[test]
    fn use_must_be_sig_when_present() {
        assert!(parse_jwk(&with(rsa(), "use", json!("sig"))).is_ok());
        assert_eq!(
            parse_jwk(&with(rsa(), "use", json!("enc"))).unwrap_err(),
            JwkError::NotForSignatures("enc".into())
        );
        assert_eq!(
            parse_jwk(&with(rsa(), "use", json!(["sig"]))).unwrap_err(),
            JwkError::MemberType {
                member: "use",
                expected: "a string"
            }
        );
    }

    #[test]
    fn key_ops_must_allow_verify() {
        assert!(parse_jwk(&with(rsa(), "key_ops", json!(["verify"]))).is_ok());
        assert!(parse_jwk(&with(rsa(), "key_ops", json!(["sign", "verify"]))).is_ok());
        assert_eq!(
            parse_jwk(&with(rsa(), "key_ops", json!(["encrypt"]))).unwrap_err(),
            JwkError::NoVerifyOperation
        );
        assert_eq!(
            parse_jwk(&with(rsa(), "key_ops", json!([]))).unwrap_err(),
            JwkError::NoVerifyOperation
        );
        assert_eq!(
            parse_jwk(&with(rsa(), "key_ops", json!(["verify", "verify"]))).unwrap_err(),
            JwkError::DuplicateKeyOperation("verify".into())
        );
        assert_eq!(
            parse_jwk(&with(rsa(), "key_ops", json!("verify"))).unwrap_err(),
            JwkError::MemberType {
                member: "key_ops",
                expected: "an array of strings"
            }
        );
    }

    #[test]
    fn alg_must_be_known_and_fit_the_key() {
        for name in ["HS256", "none", "RSA1_5", "ES512", "rs256"] {
            assert_eq!(
                parse_jwk(&with(rsa(), "alg", json!(name))).unwrap_err(),
                JwkError::UnknownAlgorithm(name.into()),
                "{name}"
            );
        }
        assert_eq!(
            parse_jwk(&with(rsa(), "alg", json!("ES256"))).unwrap_err(),
            JwkError::AlgorithmMismatch {
                alg: Algorithm::ES256
            }
        );
        assert_eq!(
            parse_jwk(&with(ec(), "alg", json!("ES384"))).unwrap_err(),
            JwkError::AlgorithmMismatch {
                alg: Algorithm::ES384
            }
        );
        assert_eq!(
            parse_jwk(&with(okp(), "alg", json!("ES256"))).unwrap_err(),
            JwkError::AlgorithmMismatch {
                alg: Algorithm::ES256
            }
        );
        assert!(parse_jwk(&with(okp(), "alg", json!("EdDSA"))).is_ok());
    }

    #[test]
    fn kid_must_be_a_short_string() {
        assert_eq!(
            parse_jwk(&with(rsa(), "kid", json!(7))).unwrap_err(),
            JwkError::MemberType {
                member: "kid",
                expected: "a string"
            }
        );
        assert_eq!(
            parse_jwk(&with(rsa(), "kid", json!("k".repeat(MAX_KID_LEN + 1)))).unwrap_err(),
            JwkError::KidTooLong {
                len: MAX_KID_LEN + 1,
                max: MAX_KID_LEN
            }
        );
        assert!(parse_jwk(&with(rsa(), "kid", json!("k".repeat(MAX_KID_LEN)))).is_ok());
    }

    #[test]
    fn key_members_are_required_and_strictly_encoded() {
        assert_eq!(
            parse_jwk(&without(rsa(), "n")).unwrap_err(),
            JwkError::MissingMember("n")
        );
        assert_eq!(
            parse_jwk(&without(ec(), "crv")).unwrap_err(),
            JwkError::MissingMember("crv")
        );
        assert_eq!(
            parse_jwk(&without(ec(), "y")).unwrap_err(),
            JwkError::MissingMember("y")
        );
        assert_eq!(
            parse_jwk(&without(okp(), "x")).unwrap_err(),
            JwkError::MissingMember("x")
        );
        assert_eq!(
            parse_jwk(&with(rsa(), "e", json!("AQAB="))).unwrap_err(),
            JwkError::MemberEncoding {
                member: "e",
                error: B64Error::Padding { offset: 4 }
            }
        );
        assert_eq!(
            parse_jwk(&with(ec(), "x", json!(format!("{EC_X} ")))).unwrap_err(),
            JwkError::MemberEncoding {
                member: "x",
                error: B64Error::InvalidCharacter { offset: 43 }
            }
        );
    }

    #[test]
    fn key_material_errors_are_passed_through() {
        let small = json!({"kty": "RSA", "n": b64::encode(&[0xc5; 128]), "e": "AQAB"});
        assert_eq!(
            parse_jwk(&obj(small)).unwrap_err(),
            JwkError::Key(KeyError::RsaModulusTooSmall {
                bits: 1024,
                min: 2048
            })
        );
        assert_eq!(
            parse_jwk(&with(rsa(), "e", json!("AQ"))).unwrap_err(),
            JwkError::Key(KeyError::RsaExponentTooSmall)
        );
        assert_eq!(
            parse_jwk(&with(ec(), "crv", json!("P-521"))).unwrap_err(),
            JwkError::Key(KeyError::UnsupportedCurve("P-521".into()))
        );
        assert_eq!(
            parse_jwk(&with(okp(), "crv", json!("X25519"))).unwrap_err(),
            JwkError::Key(KeyError::UnsupportedCurve("X25519".into()))
        );
        assert_eq!(
            parse_jwk(&with(ec(), "x", json!(EC_Y))).unwrap_err(),
            JwkError::Key(KeyError::PointNotOnCurve)
        );
    }

    #[test]
    fn jwks_keeps_usable_keys_and_reports_the_rest() {
        let doc = json!({"keys": [
            rsa(),
            with(ec(), "use", json!("enc")),
            "not a key",
            okp(),
            with(okp(), "kid", json!("2011-04-29")),
            json!({"kty": "oct", "k": "AAAA", "kid": "hmac"}),
        ]});
        let parsed = parse_jwks(doc.to_string().as_bytes()).unwrap();
        assert_eq!(parsed.keys.len(), 2);
        assert_eq!(
            parsed.keys.kids().collect::<Vec<_>>(),
            vec!["2011-04-29", "ed"]
        );
        assert_eq!(
            parsed.skipped,
            vec![
                SkippedKey {
                    index: 1,
                    kid: Some("ec".into()),
                    reason: SkipReason::Unusable(JwkError::NotForSignatures("enc".into()))
                },
                SkippedKey {
                    index: 2,
                    kid: None,
                    reason: SkipReason::NotAnObject
                },
                SkippedKey {
                    index: 4,
                    kid: Some("2011-04-29".into()),
                    reason: SkipReason::DuplicateKid
                },
                SkippedKey {
                    index: 5,
                    kid: Some("hmac".into()),
                    reason: SkipReason::Unusable(JwkError::SymmetricKey)
                },
            ]
        );
        // The first key with a duplicated kid is the one kept.
        assert_eq!(
            parsed.keys.find("2011-04-29").unwrap().family(),
            KeyFamily::Rsa
        );
    }

    #[test]
    fn find_is_byte_exact() {
        let parsed = parse_jwks(json!({"keys": [okp()]}).to_string().as_bytes()).unwrap();
        assert!(parsed.keys.find("ed").is_some());
        for other in ["ED", "ed ", " ed", "e", ""] {
            assert!(parsed.keys.find(other).is_none(), "{other:?}");
        }
    }

    #[test]
    fn keys_without_kid_are_kept_but_never_found() {
        let parsed = parse_jwks(
            json!({"keys": [without(okp(), "kid")]})
                .to_string()
                .as_bytes(),
        )
        .unwrap();
        assert_eq!(parsed.keys.len(), 1);
        assert_eq!(parsed.keys.kids().count(), 0);
        assert!(parsed.keys.find("").is_none());
    }

    #[test]
    fn jwks_document_errors() {
        assert_eq!(parse_jwks(b"{}").unwrap_err(), JwksError::MissingKeys);
        assert_eq!(
            parse_jwks(br#"{"keys":{}}"#).unwrap_err(),
            JwksError::KeysNotArray
        );
        assert_eq!(
            parse_jwks(br#"[{"keys":[]}]"#).unwrap_err(),
            JwksError::Json(JsonError::NotAnObject)
        );
        assert_eq!(
            parse_jwks(br#"{"keys":[],"keys":[]}"#).unwrap_err(),
            JwksError::Json(JsonError::DuplicateMember("keys".into()))
        );
        let many = json!({"keys": vec![json!({}); MAX_KEYS + 1]});
        assert_eq!(
            parse_jwks(many.to_string().as_bytes()).unwrap_err(),
            JwksError::TooManyKeys {
                count: MAX_KEYS + 1,
                max: MAX_KEYS
            }
        );
        let mut big = br#"{"keys":[]}"#.to_vec();
        big.resize(MAX_JWKS_LEN + 1, b' ');
        assert_eq!(
            parse_jwks(&big).unwrap_err(),
            JwksError::TooLarge {
                len: MAX_JWKS_LEN + 1,
                max: MAX_JWKS_LEN
            }
        );
        let empty = parse_jwks(br#"{"keys":[]}"#).unwrap();
        assert!(empty.keys.is_empty());
        assert!(empty.skipped.is_empty());
    }

    #[test]
    fn skipped_key_display_is_one_safe_line() {
        let skipped = SkippedKey {
            index: 3,
            kid: Some("a\"b\r\n".into()),
            reason: SkipReason::Unusable(JwkError::NotForSignatures("e\"nc".into())),
        };
        assert_eq!(
            skipped.to_string(),
            "key 3 (kid 'a?b??') skipped: key use 'e?nc' is not sig"
        );
        let duplicate = SkippedKey {
            index: 1,
            kid: None,
            reason: SkipReason::DuplicateKid,
        };
        assert_eq!(
            duplicate.to_string(),
            "key 1 skipped: an earlier key has the same kid"
        );
    }

    #[test]
    fn every_error_display_is_one_line() {
        let errors = [
            JwkError::MissingMember("n"),
            JwkError::MemberEncoding {
                member: "x",
                error: B64Error::Padding { offset: 1 },
            },
            JwkError::UnsupportedKeyType("\"\n".into()),
            JwkError::UnknownAlgorithm("\r".into()),
            JwkError::Key(KeyError::RsaRocaFingerprint),
        ];
        for e in errors {
            let text = e.to_string();
            assert!(!text.contains(['\r', '\n', '"']), "{text}");
        }
        for e in [
            JwksError::Json(JsonError::DuplicateMember("\"".into())),
            JwksError::TooManyKeys { count: 65, max: 64 },
        ] {
            let text = e.to_string();
            assert!(!text.contains(['\r', '\n', '"']), "{text}");
        }
    }
}
