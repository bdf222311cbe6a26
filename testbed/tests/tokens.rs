//! The builders produce what they claim: signatures that verify with an independent
//! verifier, the default claims, and RFC 7638 thumbprints.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::Instant;

use p256::ecdsa::signature::Verifier;
use serde_json::{json, Value};
use sha2::{Digest, Sha256, Sha384, Sha512};
use testbed::keys::{access_token_hash, KeyKind};
use testbed::token::{tamper, DEFAULT_SCOPE, DEFAULT_SUBJECT};
use testbed::{b64url, b64url_decode, thumbprint, Key, ProofBuilder, Signer, TokenBuilder};

fn decode_segment(segment: &str) -> Value {
    serde_json::from_slice(&b64url_decode(segment).unwrap()).unwrap()
}

fn parts(token: &str) -> (Value, Value, Vec<u8>, String) {
    let [h, p, s] = tamper::segments(token);
    (
        decode_segment(&h),
        decode_segment(&p),
        b64url_decode(&s).unwrap(),
        format!("{h}.{p}"),
    )
}

fn member(jwk: &Value, name: &str) -> Vec<u8> {
    b64url_decode(jwk[name].as_str().unwrap()).unwrap()
}

/// Verifies with public key material taken from the JWK only, as a relying party would.
fn verifies(jwk: &Value, alg: &str, signing_input: &str, signature: &[u8]) -> bool {
    let message = signing_input.as_bytes();
    match alg {
        "RS256" | "RS384" | "RS512" | "PS256" | "PS384" | "PS512" => {
            let n = member(jwk, "n");
            let bits = (n.len() * 8) as u32;
            let key = rsa::PublicKey::new(
                rsa::BoxedUint::from_be_slice(&n, bits).unwrap(),
                rsa::BoxedUint::from_be_slice(&member(jwk, "e"), 64).unwrap(),
            )
            .unwrap();
            macro_rules! check {
                ($scheme:ident, $hash:ty) => {{
                    let Ok(signature) = rsa::$scheme::Signature::try_from(signature) else {
                        return false;
                    };
                    rsa::$scheme::VerifyingKey::<$hash>::new(key)
                        .verify(message, &signature)
                        .is_ok()
                }};
            }
            match alg {
                "RS256" => check!(pkcs1v15, Sha256),
                "RS384" => check!(pkcs1v15, Sha384),
                "RS512" => check!(pkcs1v15, Sha512),
                "PS256" => check!(pss, Sha256),
                "PS384" => check!(pss, Sha384),
                _ => check!(pss, Sha512),
            }
        }
        "ES256" => {
            let mut sec1 = vec![4u8];
            sec1.extend(member(jwk, "x"));
            sec1.extend(member(jwk, "y"));
            let key = p256::ecdsa::VerifyingKey::from_sec1_bytes(&sec1).unwrap();
            let Ok(signature) = p256::ecdsa::Signature::from_slice(signature) else {
                return false;
            };
            key.verify(message, &signature).is_ok()
        }
        "ES384" => {
            let mut sec1 = vec![4u8];
            sec1.extend(member(jwk, "x"));
            sec1.extend(member(jwk, "y"));
            let key = p384::ecdsa::VerifyingKey::from_sec1_bytes(&sec1).unwrap();
            let Ok(signature) = p384::ecdsa::Signature::from_slice(signature) else {
                return false;
            };
            key.verify(message, &signature).is_ok()
        }
        "EdDSA" => {
            let x: [u8; 32] = member(jwk, "x").try_into().unwrap();
            let key = ed25519_dalek::VerifyingKey::from_bytes(&x).unwrap();
            let Ok(signature) = ed25519_dalek::Signature::from_slice(signature) else {
                return false;
            };
            key.verify(message, &signature).is_ok()
        }
        _ => false,
    }
}

#[test]
fn every_key_loads_quickly_and_publishes_a_jwk_of_its_size() {
    let started = Instant::now();
    for key in Key::ALL {
        let jwk = key.public_jwk();
        assert_eq!(jwk["kid"], json!(key.name()));
        assert_eq!(jwk["use"], json!("sig"));
        assert!(jwk.get("alg").is_none(), "{key}: no alg unless asked for");
        assert!(jwk.get("d").is_none(), "{key}: no private member");
        let expected = match key {
            Key::Rsa1 | Key::Rsa2 | Key::AttackerRsa => ("RSA", "n", 256),
            Key::Rsa3072 => ("RSA", "n", 384),
            Key::RsaSmall => ("RSA", "n", 128),
            Key::Ec1 | Key::AttackerEc | Key::Client1 | Key::Client2 => ("EC", "x", 32),
            Key::Ec384 => ("EC", "x", 48),
            Key::Ed1 => ("OKP", "x", 32),
        };
        assert_eq!(jwk["kty"], json!(expected.0), "{key}");
        assert_eq!(member(&jwk, expected.1).len(), expected.2, "{key}");
        assert_eq!(Key::from_name(key.name()), Ok(key));
    }
    assert!(
        started.elapsed().as_secs() < 5,
        "loading keys took {:?}",
        started.elapsed()
    );
    assert_eq!(Key::Ec384.public_jwk()["crv"], json!("P-384"));
    assert_eq!(Key::Ed1.public_jwk()["crv"], json!("Ed25519"));
    assert_eq!(Key::Rsa1.public_jwk()["e"], json!("AQAB"));
}

#[test]
fn keys_are_distinct() {
    let mut thumbprints: Vec<String> = Key::ALL.iter().map(|k| k.thumbprint()).collect();
    thumbprints.sort();
    thumbprints.dedup();
    assert_eq!(thumbprints.len(), Key::ALL.len());
}

#[test]
fn default_token_has_the_demo_claims_and_verifies_rs256_with_rsa_1() {
    let token = TokenBuilder::new().build();
    let (header, claims, signature, input) = parts(&token);
    assert_eq!(
        header,
        json!({"alg": "RS256", "typ": "JWT", "kid": "rsa-1"})
    );
    assert_eq!(claims["iss"], json!("https://issuer.local/"));
    assert_eq!(claims["aud"], json!("https://api.example.com"));
    assert_eq!(claims["sub"], json!(DEFAULT_SUBJECT));
    assert_eq!(claims["scope"], json!(DEFAULT_SCOPE));
    let iat = claims["iat"].as_u64().unwrap();
    assert_eq!(claims["exp"].as_u64().unwrap(), iat + 3600);
    assert!(iat.abs_diff(testbed::unix_now()) <= 2);
    assert!(verifies(
        &Key::Rsa1.public_jwk(),
        "RS256",
        &input,
        &signature
    ));
    assert!(!verifies(
        &Key::Rsa2.public_jwk(),
        "RS256",
        &input,
        &signature
    ));
}

#[test]
fn every_algorithm_signs_verifiably_with_its_key() {
    let cases = [
        (Key::Rsa1, "RS256"),
        (Key::Rsa1, "RS384"),
        (Key::Rsa1, "RS512"),
        (Key::Rsa1, "PS256"),
        (Key::Rsa1, "PS384"),
        (Key::Rsa1, "PS512"),
        (Key::Rsa3072, "RS256"),
        (Key::RsaSmall, "RS256"),
        (Key::Ec1, "ES256"),
        (Key::Ec384, "ES384"),
        (Key::Ed1, "EdDSA"),
    ];
    for (key, alg) in cases {
        let token = TokenBuilder::new().key_alg(key, alg).build();
        let (header, _, signature, input) = parts(&token);
        assert_eq!(header["alg"], json!(alg));
        assert_eq!(header["kid"], json!(key.kid()));
        assert!(
            verifies(&key.public_jwk(), alg, &input, &signature),
            "{key} {alg}"
        );
    }
}

#[test]
fn mismatched_key_and_alg_name_the_alg_but_sign_with_the_keys_own_scheme() {
    let token = TokenBuilder::new().key_alg(Key::Ec1, "RS256").build();
    let (header, _, signature, input) = parts(&token);
    assert_eq!(header["alg"], json!("RS256"));
    assert_eq!(signature.len(), 64);
    assert!(verifies(
        &Key::Ec1.public_jwk(),
        "ES256",
        &input,
        &signature
    ));
}

#[test]
fn ecdsa_signatures_are_raw_r_and_s() {
    let (_, _, es256, _) = parts(&TokenBuilder::new().key(Key::Ec1).build());
    let (_, _, es384, _) = parts(&TokenBuilder::new().key(Key::Ec384).build());
    assert_eq!((es256.len(), es384.len()), (64, 96));
}

#[test]
fn hmac_and_empty_signers() {
    let secret = Key::Rsa1.public_pem();
    assert!(secret.starts_with("-----BEGIN PUBLIC KEY-----"));
    let token = TokenBuilder::new()
        .alg("HS256")
        .signer(Signer::Hmac(secret.into_bytes()))
        .build();
    let (header, _, signature, _) = parts(&token);
    assert_eq!(header["alg"], json!("HS256"));
    assert_eq!(signature.len(), 32);

    let unsigned = TokenBuilder::new()
        .alg("none")
        .signer(Signer::Empty)
        .build();
    assert!(unsigned.ends_with('.'));
    assert_eq!(
        decode_segment(&tamper::segments(&unsigned)[0])["alg"],
        json!("none")
    );
}

#[test]
fn header_and_claims_can_be_set_removed_or_raw() {
    let token = TokenBuilder::new()
        .remove_header("kid")
        .typ("at+jwt")
        .remove_claim("iat")
        .claim("aud", json!(["a", "b"]))
        .scope("read:messages")
        .expires_in(-10)
        .build();
    let (header, claims, _, _) = parts(&token);
    assert_eq!(header, json!({"alg": "RS256", "typ": "at+jwt"}));
    assert_eq!(claims["aud"], json!(["a", "b"]));
    assert_eq!(claims["scope"], json!("read:messages"));
    assert!(claims.get("iat").is_none());
    assert!(claims["exp"].as_u64().unwrap() < testbed::unix_now());

    let raw = TokenBuilder::new()
        .raw_claims(r#"{"sub":"a","sub":"b"}"#)
        .build();
    let payload = b64url_decode(&tamper::segments(&raw)[1]).unwrap();
    assert_eq!(payload, br#"{"sub":"a","sub":"b"}"#);
}

#[test]
fn tampering_breaks_the_signature_and_keeps_the_rest() {
    let token = TokenBuilder::new().build();
    let flipped = tamper::flip_signature_bit(&token);
    let (_, _, signature, input) = parts(&flipped);
    assert_ne!(flipped, token);
    assert!(!verifies(
        &Key::Rsa1.public_jwk(),
        "RS256",
        &input,
        &signature
    ));

    let swapped = tamper::replace_claims(&token, &json!({"sub": "admin"}));
    assert_eq!(parts(&swapped).1, json!({"sub": "admin"}));
    assert_eq!(tamper::segments(&swapped)[2], tamper::segments(&token)[2]);
    assert!(tamper::strip_signature(&token).ends_with('.'));
}

#[test]
fn rfc7638_example_thumbprint() {
    // RFC 7638 §3.1.
    let jwk = json!({
        "kty": "RSA",
        "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
        "e": "AQAB",
        "alg": "RS256",
        "kid": "2011-04-29"
    });
    assert_eq!(
        thumbprint(&jwk),
        "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
    );
}

#[test]
fn thumbprints_ignore_non_required_members() {
    let mut jwk = Key::Client1.public_jwk();
    jwk["alg"] = json!("ES256");
    assert_eq!(thumbprint(&jwk), Key::Client1.thumbprint());
    assert_eq!(thumbprint(&Key::Ed1.public_jwk()), Key::Ed1.thumbprint());
    assert_eq!(thumbprint(&Key::Rsa1.public_jwk()), Key::Rsa1.thumbprint());
}

#[test]
fn bound_tokens_carry_the_clients_thumbprint() {
    let token = TokenBuilder::new().bound_to(Key::Client1).build();
    assert_eq!(
        parts(&token).1["cnf"],
        json!({"jkt": Key::Client1.thumbprint()})
    );
}

#[test]
fn default_proof_follows_rfc_9449() {
    let token = TokenBuilder::new().bound_to(Key::Client1).build();
    let proof = ProofBuilder::new(Key::Client1, "GET", "http://127.0.0.1:10000/api/private")
        .access_token(&token)
        .build();
    let (header, claims, signature, input) = parts(&proof);
    assert_eq!(header["typ"], json!("dpop+jwt"));
    assert_eq!(header["alg"], json!("ES256"));
    assert_eq!(header["jwk"], Key::Client1.bare_public_jwk());
    assert!(header.get("kid").is_none());
    assert_eq!(claims["htm"], json!("GET"));
    assert_eq!(claims["htu"], json!("http://127.0.0.1:10000/api/private"));
    assert_eq!(claims["ath"], json!(access_token_hash(&token)));
    assert_eq!(
        claims["ath"],
        json!(b64url(&Sha256::digest(token.as_bytes())))
    );
    assert_eq!(claims["jti"].as_str().unwrap().len(), 22);
    assert!(
        claims["iat"]
            .as_u64()
            .unwrap()
            .abs_diff(testbed::unix_now())
            <= 2
    );
    assert!(claims.get("nonce").is_none());
    assert!(verifies(&header["jwk"], "ES256", &input, &signature));
}

#[test]
fn proofs_get_fresh_jtis_and_every_field_is_overridable() {
    let a = parts(&ProofBuilder::new(Key::Client1, "GET", "http://h/").build()).1;
    let b = parts(&ProofBuilder::new(Key::Client1, "GET", "http://h/").build()).1;
    assert_ne!(a["jti"], b["jti"]);

    let proof = ProofBuilder::new(Key::Client1, "POST", "http://h/x")
        .nonce("n-1")
        .jti("fixed")
        .iat(1000)
        .remove_claim("htm")
        .header("typ", json!("jwt"))
        .build();
    let (header, claims, _, _) = parts(&proof);
    assert_eq!(header["typ"], json!("jwt"));
    assert_eq!(
        claims,
        json!({"jti": "fixed", "htu": "http://h/x", "iat": 1000, "nonce": "n-1"})
    );
}

#[test]
fn proofs_sign_with_every_dpop_algorithm() {
    for (key, alg) in [
        (Key::Client1, "ES256"),
        (Key::Ec384, "ES384"),
        (Key::Ed1, "EdDSA"),
        (Key::Rsa1, "RS256"),
        (Key::Rsa1, "PS256"),
    ] {
        let proof = ProofBuilder::new(key, "GET", "http://h/").alg(alg).build();
        let (header, _, signature, input) = parts(&proof);
        assert_eq!(header["alg"], json!(alg));
        assert!(
            verifies(&header["jwk"], alg, &input, &signature),
            "{key} {alg}"
        );
    }
}

#[test]
fn forged_proof_keeps_the_jwk_but_not_the_signature() {
    let proof = ProofBuilder::new(Key::Client1, "GET", "http://h/")
        .signing_key(Key::AttackerEc)
        .build();
    let (header, _, signature, input) = parts(&proof);
    assert_eq!(header["jwk"], Key::Client1.bare_public_jwk());
    assert!(!verifies(&header["jwk"], "ES256", &input, &signature));
    assert!(verifies(
        &Key::AttackerEc.bare_public_jwk(),
        "ES256",
        &input,
        &signature
    ));
}

#[test]
fn key_kinds_and_default_algorithms() {
    assert_eq!(Key::Client2.kind(), KeyKind::P256);
    assert_eq!(Key::Ec384.default_alg(), "ES384");
    assert!(Key::Rsa1.signs("PS512"));
    assert!(!Key::Ec1.signs("ES384"));
    assert_eq!(
        Key::from_name("nope")
            .unwrap_err()
            .to_string()
            .split(" (")
            .next(),
        Some("no test key named \"nope\"")
    );
}
