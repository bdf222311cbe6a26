//! The JOSE layer (b64, json, crypto, jwk, jws) against Project Wycheproof's vectors.
//!
//! Vectors are read from `tests/vectors/wycheproof` in this crate (vendored, with their LICENSE), or from the
//! directory named by `WYCHEPROOF_DIR`. Keys are always built through the crate's public
//! constructors: `jwk::parse_jwk` on the vector's JWK where it has one, `VerifyingKey::ec` on
//! the raw coordinates otherwise.
//!
//! What the layer does where Wycheproof leaves room, or where it is stricter than the vectors:
//! - `acceptable` RSA PKCS#1 v1.5 vectors (flag `MissingNull`, a DigestInfo without the NULL
//!   parameter) are rejected: RFC 8017 §9.2 fixes one encoding and we accept only that.
//! - P-521 / ES512 is not implemented: its keys are refused with `UnsupportedCurve`, tokens
//!   naming ES512 with an unsupported algorithm.
//! - HMAC (`HS*`, `oct` keys) is never supported: symmetric keys are skipped from key sets and
//!   `HS*` names no algorithm, so every HMAC case, valid or not, is rejected.
//! - A compact JWS must have three non-empty segments; `valid` JWS vectors with an empty payload
//!   are rejected as such, and their signatures are checked through `VerifyingKey::verify`.
//! - `valid` JWS vectors whose payload is not JSON (`foo`, `Test`, ...) verify through
//!   `jws::decode_compact`; `jws::decode`, which access tokens use, refuses them for the payload.
//! - `valid` vectors with a character outside base64url (tcId 372, 373) are HS256 and rejected.
//! - `valid` RFC 7520 figure 20 (tcId 346, 350) signs with PS384 under a JWK whose `alg` is
//!   PS256; a JWK's own `alg` binds, so these are rejected as a key mismatch.
//! - JWK set cases that Wycheproof wants rejected as a whole (duplicate kid, mixed key types)
//!   are rejected because the token's key is symmetric; duplicate kids keep the first key.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::PathBuf;

use filter_core::algorithm::{Algorithm, KeyFamily};
use filter_core::crypto::{KeyError, SignatureError, VerifyingKey};
use filter_core::jwk::{self, JwkError, JwkSet, SkipReason};
use filter_core::jws::{self, JwsError, Segment};
use serde_json::{json, Map, Value};

fn vector_dir() -> PathBuf {
    match std::env::var_os("WYCHEPROOF_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/vectors/wycheproof"
        )),
    }
}

fn load(name: &str) -> Value {
    let path = vector_dir().join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

fn hex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2), "odd hex length");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn groups(doc: &Value) -> &Vec<Value> {
    doc["testGroups"].as_array().unwrap()
}

fn tests(group: &Value) -> &Vec<Value> {
    group["tests"].as_array().unwrap()
}

fn object(v: &Value) -> &Map<String, Value> {
    v.as_object().unwrap()
}

/// Big-endian integer bytes at a fixed width (Wycheproof's hex may carry a sign octet).
fn fixed_width(bytes: &[u8], width: usize) -> Vec<u8> {
    let first = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    let digits = &bytes[first..];
    assert!(digits.len() <= width);
    let mut out = vec![0; width - digits.len()];
    out.extend_from_slice(digits);
    out
}

#[derive(Debug, Default)]
struct Tally {
    valid: usize,
    invalid: usize,
    acceptable: usize,
}

/// Every `valid` vector verifies, every `invalid` and `acceptable` one is rejected. RSA
/// rejections are exact: `Length` when the signature is not as long as the modulus, `Invalid`
/// for everything else (a value at or above the modulus included).
fn check_signature_file(name: &str, alg: Algorithm, coordinate_len: usize) -> Tally {
    let doc = load(name);
    let mut tally = Tally::default();
    for group in groups(&doc) {
        let jwk = group.get("publicKeyJwk").or_else(|| group.get("keyJwk"));
        let key = match jwk {
            Some(jwk) => jwk::parse_jwk(object(jwk)).map(|k| k.key().clone()),
            None => {
                let public = &group["publicKey"];
                let crv = match public["curve"].as_str().unwrap() {
                    "secp256r1" => "P-256",
                    "secp384r1" => "P-384",
                    other => other,
                };
                let x = fixed_width(&hex(public["wx"].as_str().unwrap()), coordinate_len);
                let y = fixed_width(&hex(public["wy"].as_str().unwrap()), coordinate_len);
                VerifyingKey::ec(crv, &x, &y).map_err(JwkError::Key)
            }
        };
        let key = key.unwrap_or_else(|e| panic!("{name}: group key refused: {e}"));
        let rsa_len = match alg.key_family() {
            KeyFamily::Rsa => Some(group["keySize"].as_u64().unwrap() as usize / 8),
            _ => None,
        };
        for test in tests(group) {
            let id = &test["tcId"];
            let msg = hex(test["msg"].as_str().unwrap());
            let sig = hex(test["sig"].as_str().unwrap());
            let outcome = key.verify(alg, &msg, &sig);
            match test["result"].as_str().unwrap() {
                "valid" => {
                    assert_eq!(outcome, Ok(()), "{name} tcId {id} must verify");
                    tally.valid += 1;
                }
                "invalid" => {
                    match rsa_len {
                        Some(expected) if sig.len() != expected => assert_eq!(
                            outcome,
                            Err(SignatureError::Length {
                                expected,
                                actual: sig.len()
                            }),
                            "{name} tcId {id}"
                        ),
                        Some(_) => {
                            assert_eq!(outcome, Err(SignatureError::Invalid), "{name} tcId {id}")
                        }
                        None => assert!(outcome.is_err(), "{name} tcId {id} must be rejected"),
                    }
                    tally.invalid += 1;
                }
                "acceptable" => {
                    assert_eq!(
                        outcome,
                        Err(SignatureError::Invalid),
                        "{name} tcId {id}: acceptable vectors are rejected"
                    );
                    tally.acceptable += 1;
                }
                other => panic!("{name} tcId {id}: unknown result {other}"),
            }
        }
    }
    tally
}

fn expect_tally(tally: Tally, valid: usize, invalid: usize, acceptable: usize) {
    assert_eq!(
        (tally.valid, tally.invalid, tally.acceptable),
        (valid, invalid, acceptable),
        "vector counts changed: {tally:?}"
    );
}

#[test]
fn ecdsa_p256_sha256_p1363() {
    let t = check_signature_file(
        "ecdsa_secp256r1_sha256_p1363_test.json",
        Algorithm::ES256,
        32,
    );
    expect_tally(t, 173, 89, 0);
}

#[test]
fn ecdsa_p384_sha384_p1363() {
    let t = check_signature_file(
        "ecdsa_secp384r1_sha384_p1363_test.json",
        Algorithm::ES384,
        48,
    );
    expect_tally(t, 193, 87, 0);
}

#[test]
fn ed25519() {
    let t = check_signature_file("ed25519_test.json", Algorithm::EdDSA, 32);
    expect_tally(t, 88, 63, 0);
}

#[test]
fn rsa_pkcs1_2048_sha256() {
    let t = check_signature_file("rsa_signature_2048_sha256_test.json", Algorithm::RS256, 0);
    expect_tally(t, 9, 249, 1);
}

#[test]
fn rsa_pkcs1_2048_sha384() {
    let t = check_signature_file("rsa_signature_2048_sha384_test.json", Algorithm::RS384, 0);
    expect_tally(t, 7, 250, 1);
}

#[test]
fn rsa_pkcs1_2048_sha512() {
    let t = check_signature_file("rsa_signature_2048_sha512_test.json", Algorithm::RS512, 0);
    expect_tally(t, 8, 250, 1);
}

#[test]
fn rsa_pkcs1_3072_sha256() {
    let t = check_signature_file("rsa_signature_3072_sha256_test.json", Algorithm::RS256, 0);
    expect_tally(t, 8, 250, 1);
}

#[test]
fn rsa_pkcs1_4096_sha256() {
    let t = check_signature_file("rsa_signature_4096_sha256_test.json", Algorithm::RS256, 0);
    expect_tally(t, 7, 250, 1);
}

#[test]
fn rsa_pss_2048_sha256_salt32() {
    let t = check_signature_file("rsa_pss_2048_sha256_mgf1_32_test.json", Algorithm::PS256, 0);
    expect_tally(t, 63, 45, 0);
}

#[test]
fn rsa_pss_2048_sha384_salt48() {
    let t = check_signature_file("rsa_pss_2048_sha384_mgf1_48_test.json", Algorithm::PS384, 0);
    expect_tally(t, 95, 46, 0);
}

#[test]
fn p521_keys_are_refused_as_unsupported() {
    let doc = load("ecdsa_secp521r1_sha512_p1363_test.json");
    let mut refused = 0;
    for group in groups(&doc) {
        if let Some(jwk) = group.get("publicKeyJwk") {
            assert_eq!(
                jwk::parse_jwk(object(jwk)).unwrap_err(),
                JwkError::Key(KeyError::UnsupportedCurve("P-521".into()))
            );
            refused += 1;
        }
    }
    assert!(refused > 0);
}

/// Why the JWS harness did not accept a token.
#[derive(Debug, Clone, PartialEq)]
enum Rejection {
    NotCompact,
    Jws(JwsError),
    /// `alg` names nothing this layer implements (`none`, `HS*`, `ES512`, ...).
    Algorithm(String),
    MissingKid,
    UnknownKid,
    /// The key exists but its type, curve or own `alg` does not fit the token's `alg`.
    KeyMismatch,
    Signature(SignatureError),
}

/// The steps the access-token check takes before claims: decode, algorithm, key by `kid`,
/// key fits, signature. The payload is kept as bytes (see the module comment).
fn verify_compact(token: &Value, keys: &JwkSet) -> Result<(), Rejection> {
    let token = token.as_str().ok_or(Rejection::NotCompact)?;
    let compact = jws::decode_compact(token).map_err(Rejection::Jws)?;
    let alg = Algorithm::from_name(&compact.header.alg)
        .ok_or_else(|| Rejection::Algorithm(compact.header.alg.clone()))?;
    let kid = compact.header.kid.as_deref().ok_or(Rejection::MissingKid)?;
    let jwk = keys.find(kid).ok_or(Rejection::UnknownKid)?;
    if !jwk.fits(alg) {
        return Err(Rejection::KeyMismatch);
    }
    compact.verify(jwk.key(), alg).map_err(Rejection::Signature)
}

/// A group's key set: its public keys, or, where it only has private ones, those (which the
/// parser must refuse).
fn group_keys(group: &Value) -> (JwkSet, Vec<jwk::SkippedKey>) {
    let keys = group
        .get("public")
        .or_else(|| group.get("private"))
        .unwrap();
    let doc = if keys.get("keys").is_some() {
        keys.clone()
    } else {
        json!({ "keys": [keys] })
    };
    let parsed = jwk::parse_jwks(doc.to_string().as_bytes()).unwrap();
    (parsed.keys, parsed.skipped)
}

/// A `valid` JWS vector rejected because the token has an empty payload: its signature must
/// still verify with the group's key, straight through `VerifyingKey::verify`.
fn verify_empty_payload_signature(token: &str, keys: &JwkSet) {
    let (input, sig) = token.rsplit_once('.').unwrap();
    let header = input.split_once('.').unwrap().0;
    let header =
        filter_core::json::parse_object(&filter_core::b64::decode(header).unwrap()).unwrap();
    let alg = Algorithm::from_name(header["alg"].as_str().unwrap()).unwrap();
    let jwk = keys.find(header["kid"].as_str().unwrap()).unwrap();
    let sig = filter_core::b64::decode(sig).unwrap();
    assert_eq!(jwk.key().verify(alg, input.as_bytes(), &sig), Ok(()));
}

#[test]
fn json_web_signature_vectors() {
    let doc = load("json_web_signature_test.json");
    let mut accepted = 0;
    let mut rejected_invalid = 0;
    let mut rejected_valid = Vec::new();
    for group in groups(&doc) {
        let (keys, _) = group_keys(group);
        for test in tests(group) {
            let id = test["tcId"].as_u64().unwrap();
            let outcome = verify_compact(&test["jws"], &keys);
            match (test["result"].as_str().unwrap(), outcome) {
                ("valid", Ok(())) => accepted += 1,
                ("valid", Err(why)) => {
                    match &why {
                        Rejection::Algorithm(alg) => {
                            assert!(
                                alg.starts_with("HS") || alg == "ES512",
                                "tcId {id}: {why:?}"
                            )
                        }
                        Rejection::Jws(JwsError::EmptySegment(Segment::Payload)) => {
                            verify_empty_payload_signature(test["jws"].as_str().unwrap(), &keys)
                        }
                        Rejection::KeyMismatch => {
                            // RFC 7520 figure 20 is PS384, but the group's JWK says "alg":"PS256";
                            // a JWK's own alg is binding here (RFC 7517 §4.4).
                            assert!(matches!(id, 346 | 350), "tcId {id}: {why:?}");
                        }
                        Rejection::Jws(JwsError::Encoding { segment, .. }) => {
                            // Only the HS256 vectors 372/373, which carry a `?` in base64url.
                            assert!(matches!(id, 372 | 373), "tcId {id}: {why:?}");
                            assert_ne!(*segment, Segment::Signature);
                        }
                        _ => panic!("valid tcId {id} rejected: {why:?}"),
                    }
                    rejected_valid.push(id);
                }
                ("invalid", Ok(())) => panic!("invalid tcId {id} was accepted"),
                ("invalid", Err(_)) => rejected_invalid += 1,
                (other, _) => panic!("tcId {id}: unexpected result {other}"),
            }
        }
    }
    assert_eq!(rejected_invalid, 355);
    // 46 valid vectors: 26 verify. Of the 20 refused, 10 are HMAC (1, 348, 352, 357-359,
    // 372, 373, 376, 377), 2 ES512 (347, 351), 6 have an empty payload (their signatures were
    // checked above) and 2 use a key whose own alg is another (346, 350).
    assert_eq!(accepted, 26);
    assert_eq!(
        rejected_valid,
        [
            1, 259, 264, 268, 272, 320, 325, 346, 347, 348, 350, 351, 352, 357, 358, 359, 372, 373,
            376, 377
        ]
    );
}

fn jws_case(doc: &Value, id: u64) -> (Value, Value) {
    for group in groups(doc) {
        for test in tests(group) {
            if test["tcId"].as_u64() == Some(id) {
                return (group.clone(), test["jws"].clone());
            }
        }
    }
    panic!("no tcId {id}");
}

#[test]
fn json_web_signature_named_attacks_fail_for_the_right_reason() {
    let doc = load("json_web_signature_test.json");
    let cases: [(u64, Rejection); 12] = [
        // A header `jwk` never supplies the key: the set's key is used and the signature fails.
        (32, Rejection::Signature(SignatureError::Invalid)),
        // HS256 over the EC key's bytes.
        (31, Rejection::Algorithm("HS256".into())),
        (17, Rejection::Jws(JwsError::SegmentCount { found: 1 })),
        (
            16,
            Rejection::Jws(JwsError::EmptySegment(Segment::Signature)),
        ),
        (
            341,
            Rejection::Jws(JwsError::EmptySegment(Segment::Signature)),
        ),
        (
            342,
            Rejection::Jws(JwsError::EmptySegment(Segment::Signature)),
        ),
        // A PS512-only key refuses RS256 and PS256.
        (332, Rejection::KeyMismatch),
        (338, Rejection::KeyMismatch),
        // ES256 signature too long, and a 512-byte one.
        (
            379,
            Rejection::Signature(SignatureError::Length {
                expected: 64,
                actual: 66,
            }),
        ),
        (
            385,
            Rejection::Signature(SignatureError::Length {
                expected: 64,
                actual: 514,
            }),
        ),
        (386, Rejection::Signature(SignatureError::Malformed)),
        (14, Rejection::Jws(JwsError::SegmentCount { found: 4 })),
    ];
    for (id, expected) in cases {
        let (group, token) = jws_case(&doc, id);
        let (keys, _) = group_keys(&group);
        assert_eq!(verify_compact(&token, &keys), Err(expected), "tcId {id}");
    }
}

#[test]
fn json_web_signature_base64_cases() {
    let doc = load("json_web_signature_test.json");
    let (group, token) = jws_case(&doc, 374);
    let (keys, _) = group_keys(&group);
    // "AB" has non-zero unused bits: refused before anything else looks at the payload.
    assert_eq!(
        verify_compact(&token, &keys),
        Err(Rejection::Jws(JwsError::Encoding {
            segment: Segment::Payload,
            error: filter_core::b64::B64Error::NonCanonical { offset: 1 }
        }))
    );
    let (_, token) = jws_case(&doc, 360);
    assert_eq!(
        verify_compact(&token, &keys),
        Err(Rejection::Jws(JwsError::Encoding {
            segment: Segment::Signature,
            error: filter_core::b64::B64Error::InvalidCharacter { offset: 0 }
        }))
    );
}

/// Every case of the JWK file, with the exact reason.
#[test]
fn json_web_key_vectors() {
    let doc = load("json_web_key_test.json");
    let oct = |kid: &str| (kid.to_owned(), SkipReason::Unusable(JwkError::SymmetricKey));
    let key_error =
        |kid: &str, e: KeyError| (kid.to_owned(), SkipReason::Unusable(JwkError::Key(e)));
    let unusable = |kid: &str, e: JwkError| (kid.to_owned(), SkipReason::Unusable(e));
    type Expectation = (u64, Result<(), Rejection>, Vec<(String, SkipReason)>);
    let expected: Vec<Expectation> = vec![
        // Mixed keyset: the oct key is refused, the EC key is kept, the HS256 token fails.
        (
            1,
            Err(Rejection::Algorithm("HS256".into())),
            vec![oct("kid-aes-sign")],
        ),
        (
            2,
            Err(Rejection::Algorithm("HS256".into())),
            vec![oct("kid-aes-sign"), oct("kid-aes-sign-2")],
        ),
        (
            3,
            Err(Rejection::Algorithm("HS256".into())),
            vec![oct("kid-aes-sign"), oct("kid-aes-sign-2")],
        ),
        (
            4,
            Err(Rejection::Algorithm("HS256".into())),
            vec![oct("kid-aes-sign"), oct("kid-aes-sign")],
        ),
        (5, Ok(()), vec![]),
        (
            6,
            Err(Rejection::UnknownKid),
            vec![unusable(
                "kid-rsa-sign",
                JwkError::NotForSignatures("enc".into()),
            )],
        ),
        (
            7,
            Err(Rejection::UnknownKid),
            vec![key_error("kid-rsa-roca-sign", KeyError::RsaRocaFingerprint)],
        ),
        (
            8,
            Err(Rejection::Jws(JwsError::EmptySegment(Segment::Payload))),
            vec![key_error(
                "RS256_1024",
                KeyError::RsaModulusTooSmall {
                    bits: 1024,
                    min: 2048,
                },
            )],
        ),
        (
            9,
            Err(Rejection::Jws(JwsError::EmptySegment(Segment::Payload))),
            vec![key_error("RS256_2048", KeyError::RsaExponentTooSmall)],
        ),
        (
            10,
            Err(Rejection::Algorithm("HS256".into())),
            vec![oct("short_hs256_key")],
        ),
        (
            11,
            Err(Rejection::Algorithm("HS384".into())),
            vec![oct("short_hs384_key")],
        ),
        (
            12,
            Err(Rejection::Algorithm("HS512".into())),
            vec![oct("short_hs512_key")],
        ),
        (
            13,
            Err(Rejection::Algorithm("HS256".into())),
            vec![oct("long_hs256_key")],
        ),
        (
            14,
            Err(Rejection::Algorithm("HS384".into())),
            vec![oct("long_hs384_key")],
        ),
        (
            15,
            Err(Rejection::Algorithm("HS512".into())),
            vec![oct("long_hs512_key")],
        ),
        (
            16,
            Err(Rejection::Algorithm("HS256".into())),
            vec![oct("hs256_key")],
        ),
        (
            17,
            Err(Rejection::Algorithm("HS384".into())),
            vec![oct("hs384_key")],
        ),
        (
            18,
            Err(Rejection::Algorithm("HS512".into())),
            vec![oct("hs512_key")],
        ),
        (
            19,
            Err(Rejection::UnknownKid),
            vec![unusable(
                "kid-ec-sign",
                JwkError::UnknownAlgorithm("ES521".into()),
            )],
        ),
        (
            20,
            Err(Rejection::UnknownKid),
            vec![unusable(
                "kid-ec-sign",
                JwkError::UnknownAlgorithm("ES224".into()),
            )],
        ),
        (
            21,
            Err(Rejection::UnknownKid),
            vec![unusable(
                "kid-ec-sign",
                JwkError::NotForSignatures("enc".into()),
            )],
        ),
        (
            22,
            Err(Rejection::UnknownKid),
            vec![key_error("kid-ec-sign", KeyError::PointNotOnCurve)],
        ),
        (
            23,
            Err(Rejection::UnknownKid),
            vec![key_error(
                "kid-ec-sign",
                KeyError::CoordinateLength {
                    coordinate: "x",
                    expected: 48,
                    actual: 32,
                },
            )],
        ),
        (
            24,
            Err(Rejection::UnknownKid),
            vec![unusable("kid-ec-sign", JwkError::MissingMember("n"))],
        ),
        (
            25,
            Err(Rejection::Algorithm("HS256".into())),
            vec![oct("kid-aes-sign")],
        ),
        (
            26,
            Err(Rejection::Algorithm("HS256".into())),
            vec![oct("kid-aes-sign")],
        ),
    ];
    let mut seen = 0;
    for group in groups(&doc) {
        let (keys, skipped) = group_keys(group);
        for test in tests(group) {
            let id = test["tcId"].as_u64().unwrap();
            let (_, outcome, skips) = expected.iter().find(|(i, _, _)| *i == id).unwrap();
            assert_eq!(&verify_compact(&test["jws"], &keys), outcome, "tcId {id}");
            let got: Vec<(String, SkipReason)> = skipped
                .iter()
                .map(|s| (s.kid.clone().unwrap_or_default(), s.reason.clone()))
                .collect();
            assert_eq!(&got, skips, "tcId {id} skipped keys");
            // Of Wycheproof's valid cases only 5 is accepted: 2, 13, 14 and 15 are HMAC.
            if test["result"] == "invalid" {
                assert!(outcome.is_err(), "tcId {id}");
            }
            seen += 1;
        }
    }
    assert_eq!(seen, expected.len());
}
