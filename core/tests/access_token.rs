//! `access_token::verify`: every check of the Bearer contract, in its order, with exact errors.
//!
//! Keys come from `fixtures::ScriptedKeys` (a fixed answer per test, recording each question)
//! or from a real `KeyCache`, so the `Lookup` answers and their mapping are both covered.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod fixtures;

use std::rc::Rc;

use filter_core::access_token::{self, Rejected, TokenError, VerifiedToken};
use filter_core::b64;
use filter_core::config::Config;
use filter_core::host_verify;
use filter_core::json::{self, JsonError};
use filter_core::jwks_cache::FetchReason;
use filter_core::jws::{JwsError, Segment, MAX_TOKEN_LEN};
use fixtures::*;
use serde_json::{json, Map, Value};
use testbed::token::{tamper, Signer};
use testbed::Key;

fn verify_with(
    token: &str,
    config: &Config,
    keys: &ScriptedKeys,
    now: u64,
) -> Result<VerifiedToken, Rejected> {
    access_token::verify(token, config, keys, now, None)
}

/// Verifies at `NOW` with the default configuration and the issuer's keys.
fn verify(token: &str) -> Result<VerifiedToken, Rejected> {
    verify_with(token, &config(), &ScriptedKeys::published(), NOW)
}

fn verify_at(token: &str, now: u64) -> Result<VerifiedToken, Rejected> {
    verify_with(token, &config(), &ScriptedKeys::published(), now)
}

fn invalid(e: TokenError) -> Result<VerifiedToken, Rejected> {
    Err(Rejected::Invalid(e))
}

/// Compares outcomes; `VerifiedToken` has no `PartialEq`, so a success compares its fields.
#[track_caller]
fn assert_outcome(got: Result<VerifiedToken, Rejected>, want: Result<VerifiedToken, Rejected>) {
    match (got, want) {
        (Ok(g), Ok(w)) => {
            assert_eq!(g.claims, w.claims);
            assert_eq!(g.scopes, w.scopes);
            assert_eq!(g.expires_at, w.expires_at);
            assert_eq!(g.source, w.source);
            assert_eq!(g.kid, w.kid);
        }
        (got, want) => assert_eq!(format!("{got:?}"), format!("{want:?}")),
    }
}

#[track_caller]
fn assert_rejected(got: Result<VerifiedToken, Rejected>, want: Rejected) {
    match got {
        Ok(t) => panic!("expected {want:?}, token was accepted: {:?}", t.claims),
        Err(e) => assert_eq!(e, want),
    }
}

#[track_caller]
fn assert_invalid(token: &str, want: TokenError) {
    assert_rejected(verify(token), Rejected::Invalid(want));
}

#[track_caller]
fn accepted(got: Result<VerifiedToken, Rejected>) -> VerifiedToken {
    match got {
        Ok(t) => t,
        Err(e) => panic!("expected the token to be accepted, got {e:?}"),
    }
}

fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// A compact token from raw segment texts, signature `sig`.
fn raw(header: &str, payload: &str) -> String {
    format!(
        "{}.{}.c2ln",
        b64::encode(header.as_bytes()),
        b64::encode(payload.as_bytes())
    )
}

/// `token` with its signature replaced by `rsa-1`'s signature under `alg` over the same input.
fn resigned(token: &str, alg: &str) -> String {
    let [header, payload, _] = tamper::segments(token);
    let signature = Key::Rsa1.sign(alg, format!("{header}.{payload}").as_bytes());
    format!("{header}.{payload}.{}", testbed::b64url(&signature))
}

// ---- the good token ----

#[test]
fn good_token_is_accepted_with_its_claims_scopes_expiry_source_and_kid() {
    let builder = good();
    let keys = ScriptedKeys::published();
    let token = accepted(verify_with(&builder.build(), &config(), &keys, NOW));
    assert_eq!(&token.claims, builder.claims_map());
    assert_eq!(
        token.scopes,
        vec!["openid".to_owned(), "profile".to_owned()]
    );
    assert_eq!(token.expires_at, NOW + 3600);
    assert_eq!(token.source, 0);
    assert_eq!(token.kid, "rsa-1");
    assert_eq!(keys.questions(), vec![(0, "rsa-1".to_owned(), NOW)]);
}

#[test]
fn every_published_key_type_verifies_under_its_algorithm() {
    let cases = [
        (Key::Rsa1, "RS256"),
        (Key::Rsa1, "PS256"),
        (Key::Rsa3072, "RS256"),
        (Key::Rsa2, "RS384"),
        (Key::Ec1, "ES256"),
        (Key::Ed1, "EdDSA"),
    ];
    for (key, alg) in cases {
        let token = good().key_alg(key, alg).build();
        let verified = accepted(verify(&token));
        assert_eq!(verified.kid, key.kid(), "{key} {alg}");
    }
}

// ---- step 1: the compact form ----

#[test]
fn malformed_compact_forms() {
    let b64_error = |s: &str| b64::decode(s).unwrap_err();
    let json_error = |s: &[u8]| json::parse_object(s).unwrap_err();
    let long = "a".repeat(MAX_TOKEN_LEN + 1);
    let header = b64::encode(br#"{"alg":"RS256","kid":"rsa-1"}"#);
    let payload = b64::encode(br#"{"iss":"https://issuer.local/"}"#);
    let cases: Vec<(String, JwsError)> = vec![
        ("".into(), JwsError::SegmentCount { found: 1 }),
        ("abc".into(), JwsError::SegmentCount { found: 1 }),
        ("a.b".into(), JwsError::SegmentCount { found: 2 }),
        ("a.b.c.d".into(), JwsError::SegmentCount { found: 4 }),
        // JWE compact form: five segments.
        ("a.b.c.d.e".into(), JwsError::SegmentCount { found: 5 }),
        (
            long.clone(),
            JwsError::TooLong {
                len: long.len(),
                max: MAX_TOKEN_LEN,
            },
        ),
        (
            format!(".{payload}.c2ln"),
            JwsError::EmptySegment(Segment::Header),
        ),
        (
            format!("{header}..c2ln"),
            JwsError::EmptySegment(Segment::Payload),
        ),
        (
            format!("{header}.{payload}."),
            JwsError::EmptySegment(Segment::Signature),
        ),
        (
            format!("{header}=.{payload}.c2ln"),
            JwsError::Encoding {
                segment: Segment::Header,
                error: b64_error(&format!("{header}=")),
            },
        ),
        (
            format!("{header}.{payload}+.c2ln"),
            JwsError::Encoding {
                segment: Segment::Payload,
                error: b64_error(&format!("{payload}+")),
            },
        ),
        (
            format!("{header}.{payload}.c2ln/"),
            JwsError::Encoding {
                segment: Segment::Signature,
                error: b64_error("c2ln/"),
            },
        ),
        (
            raw("{", "{}"),
            JwsError::Json {
                segment: Segment::Header,
                error: json_error(b"{"),
            },
        ),
        (
            raw("[1]", "{}"),
            JwsError::Json {
                segment: Segment::Header,
                error: JsonError::NotAnObject,
            },
        ),
        (
            raw(r#"{"alg":"RS256","kid":"rsa-1"}"#, "[1]"),
            JwsError::Json {
                segment: Segment::Payload,
                error: JsonError::NotAnObject,
            },
        ),
        (raw(r#"{"kid":"rsa-1"}"#, "{}"), JwsError::MissingAlg),
        (
            raw(r#"{"alg":256,"kid":"rsa-1"}"#, "{}"),
            JwsError::HeaderMemberType {
                member: "alg",
                expected: "a string",
            },
        ),
        (
            raw(r#"{"alg":"RS256","kid":7}"#, "{}"),
            JwsError::HeaderMemberType {
                member: "kid",
                expected: "a string",
            },
        ),
        (
            raw(r#"{"alg":"RS256","kid":"rsa-1","typ":1}"#, "{}"),
            JwsError::HeaderMemberType {
                member: "typ",
                expected: "a string",
            },
        ),
        (
            raw(r#"{"alg":"RS256","kid":"rsa-1","crit":"exp"}"#, "{}"),
            JwsError::HeaderMemberType {
                member: "crit",
                expected: "an array of strings",
            },
        ),
        (
            raw(r#"{"alg":"RS256","kid":"rsa-1","crit":[]}"#, "{}"),
            JwsError::EmptyCrit,
        ),
    ];
    for (token, want) in cases {
        let keys = ScriptedKeys::published();
        assert_rejected(
            verify_with(&token, &config(), &keys, NOW),
            Rejected::Invalid(TokenError::Malformed(want)),
        );
        assert!(
            keys.questions().is_empty(),
            "a malformed token must not reach the key store"
        );
    }
}

#[test]
fn duplicate_claim_is_refused_as_malformed() {
    assert_invalid(
        &duplicate_claim_token(),
        TokenError::Malformed(JwsError::Json {
            segment: Segment::Payload,
            error: JsonError::DuplicateMember("sub".into()),
        }),
    );
}

#[test]
fn duplicate_header_member_is_refused_as_malformed() {
    // Two `kid`s: which one a parser keeps decides which key it uses.
    let token = good()
        .raw_header(r#"{"alg":"RS256","typ":"JWT","kid":"attacker-rsa","kid":"rsa-1"}"#)
        .build();
    assert_invalid(
        &token,
        TokenError::Malformed(JwsError::Json {
            segment: Segment::Header,
            error: JsonError::DuplicateMember("kid".into()),
        }),
    );
}

// ---- step 2: alg ----

#[test]
fn alg_none_with_empty_signature_fails_on_the_empty_segment() {
    assert_invalid(
        &alg_none_token(),
        TokenError::Malformed(JwsError::EmptySegment(Segment::Signature)),
    );
}

#[test]
fn alg_none_in_any_spelling_with_a_signature_is_not_allowed() {
    for alg in ["none", "None", "NONE"] {
        let token = good().alg(alg).build();
        assert_invalid(&token, TokenError::AlgorithmNotAllowed);
    }
}

#[test]
fn hs256_signed_with_the_rsa_public_key_is_not_allowed() {
    let keys = ScriptedKeys::published();
    assert_rejected(
        verify_with(&hs256_confusion_token(), &config(), &keys, NOW),
        Rejected::Invalid(TokenError::AlgorithmNotAllowed),
    );
    assert!(keys.questions().is_empty());
}

#[test]
fn every_hmac_algorithm_is_not_allowed() {
    let secret = Key::Rsa1.public_pem().into_bytes();
    for alg in ["HS256", "HS384", "HS512"] {
        let token = good().alg(alg).signer(Signer::Hmac(secret.clone())).build();
        assert_invalid(&token, TokenError::AlgorithmNotAllowed);
    }
}

#[test]
fn algorithm_outside_the_configured_list_is_not_allowed() {
    // ES384 and PS512 are real algorithms, but not in the fixture's `algorithms`.
    assert_invalid(
        &good().key_alg(Key::Ec384, "ES384").build(),
        TokenError::AlgorithmNotAllowed,
    );
    assert_invalid(
        &good().key_alg(Key::Rsa1, "PS512").build(),
        TokenError::AlgorithmNotAllowed,
    );
    // The default list is RS256 alone.
    let rs256_only = config_with(json!({"algorithms": null}));
    let token = good().key(Key::Ec1).build();
    assert_rejected(
        verify_with(&token, &rs256_only, &ScriptedKeys::published(), NOW),
        Rejected::Invalid(TokenError::AlgorithmNotAllowed),
    );
}

#[test]
fn algorithm_names_are_exact() {
    for alg in [
        "rs256",
        "RS256 ",
        " RS256",
        "RSA256",
        "ES512",
        "EdDSA25519",
        "",
    ] {
        assert_invalid(&good().alg(alg).build(), TokenError::AlgorithmNotAllowed);
    }
}

// ---- step 3: crit ----

#[test]
fn any_critical_extension_is_unsupported() {
    assert_invalid(&crit_token(), TokenError::UnsupportedCritical);
    assert_invalid(
        &good()
            .header("crit", json!(["b64"]))
            .header("b64", json!(false))
            .build(),
        TokenError::UnsupportedCritical,
    );
}

// ---- step 4: typ ----

#[test]
fn access_token_types_are_accepted_case_insensitively() {
    for typ in [
        "JWT",
        "jwt",
        "at+jwt",
        "AT+JWT",
        "application/at+jwt",
        "Application/AT+JWT",
    ] {
        accepted(verify(&good().typ(typ).build()));
    }
    accepted(verify(&good().remove_header("typ").build()));
}

#[test]
fn dpop_proof_type_and_other_types_are_refused() {
    assert_invalid(&dpop_typ_token(), TokenError::WrongType);
    for typ in ["JOSE", "", "at+jwt ", "application/jwt", "secevent+jwt"] {
        assert_invalid(&good().typ(typ).build(), TokenError::WrongType);
    }
}

// ---- step 5: kid ----

#[test]
fn missing_kid_is_refused_before_any_lookup() {
    let keys = ScriptedKeys::published();
    assert_rejected(
        verify_with(&no_kid_token(), &config(), &keys, NOW),
        Rejected::Invalid(TokenError::MissingKid),
    );
    assert!(keys.questions().is_empty());
}

// ---- step 6: iss chooses the key source ----

#[test]
fn issuer_not_configured_is_refused_before_any_lookup() {
    let cases = [
        wrong_issuer_token(),
        good().remove_claim("iss").build(),
        good().claim("iss", json!(7)).build(),
        // Exact comparison: the configured issuer is `https://issuer.local/`.
        good().claim("iss", json!("https://issuer.local")).build(),
        good().claim("iss", json!("https://ISSUER.local/")).build(),
        good().claim("iss", json!("http://issuer.local/")).build(),
        good().claim("iss", json!([ISSUER])).build(),
    ];
    for token in cases {
        let keys = ScriptedKeys::published();
        assert_rejected(
            verify_with(&token, &config(), &keys, NOW),
            Rejected::Invalid(TokenError::UnknownIssuer),
        );
        assert!(keys.questions().is_empty());
    }
}

#[test]
fn each_issuer_looks_in_its_own_key_source() {
    let config = two_issuer_config();
    let keys = ScriptedKeys::published();
    let second = good().issuer_domain(SECOND_DOMAIN).build();
    let verified = accepted(verify_with(&second, &config, &keys, NOW));
    assert_eq!(verified.source, 1);
    accepted(verify_with(&good_token(), &config, &keys, NOW));
    assert_eq!(
        keys.questions(),
        vec![(1, "rsa-1".to_owned(), NOW), (0, "rsa-1".to_owned(), NOW)]
    );
}

// ---- step 7: the key lookup, for each Lookup answer ----

#[test]
fn unknown_kid_without_refetch_is_a_token_problem() {
    let keys = ScriptedKeys::published();
    assert_rejected(
        verify_with(&unknown_kid_token(), &config(), &keys, NOW),
        Rejected::Invalid(TokenError::UnknownKid),
    );
    assert_eq!(keys.questions(), vec![(0, "rsa-404".to_owned(), NOW)]);
}

#[test]
fn kid_is_compared_byte_for_byte() {
    for kid in ["RSA-1", "rsa-1 ", " rsa-1", "rsa-", ""] {
        assert_invalid(&good().kid(kid).build(), TokenError::UnknownKid);
    }
}

#[test]
fn key_too_small_to_trust_is_never_published() {
    // `rsa-small` is in the JWKS document, but the parser skips a 1024-bit key.
    assert_invalid(&good().key(Key::RsaSmall).build(), TokenError::UnknownKid);
}

#[test]
fn unknown_kid_that_may_be_refetched_asks_for_keys() {
    let keys = ScriptedKeys::answering(Answer::UnknownKid { may_refetch: true });
    assert_rejected(
        verify_with(&unknown_kid_token(), &config(), &keys, NOW),
        Rejected::NeedKeys {
            source: 0,
            reason: FetchReason::UnknownKid,
        },
    );
}

#[test]
fn no_keys_while_a_fetch_can_come_asks_for_a_refresh() {
    let keys = ScriptedKeys::answering(Answer::NoKeys {
        wait: true,
        retry_after: 1,
    });
    assert_rejected(
        verify_with(&good_token(), &config(), &keys, NOW),
        Rejected::NeedKeys {
            source: 0,
            reason: FetchReason::Refresh,
        },
    );
}

#[test]
fn no_keys_and_no_fetch_possible_is_unavailable_with_retry_after() {
    let keys = ScriptedKeys::answering(Answer::NoKeys {
        wait: false,
        retry_after: 7,
    });
    assert_rejected(
        verify_with(&good_token(), &config(), &keys, NOW),
        Rejected::Unavailable { retry_after: 7 },
    );
}

#[test]
fn need_keys_names_the_source_of_the_token_issuer() {
    let keys = ScriptedKeys::answering(Answer::NoKeys {
        wait: true,
        retry_after: 1,
    });
    let second = good().issuer_domain(SECOND_DOMAIN).build();
    assert_rejected(
        verify_with(&second, &two_issuer_config(), &keys, NOW),
        Rejected::NeedKeys {
            source: 1,
            reason: FetchReason::Refresh,
        },
    );
}

#[test]
fn key_cache_answers_map_to_need_keys_unavailable_and_unknown_kid() {
    let config = config();
    let mut cache = fixtures::empty_key_cache(&config);
    // Nothing fetched yet: wait for the first fetch.
    assert_eq!(
        access_token::verify(&good_token(), &config, &cache, NOW, None).unwrap_err(),
        Rejected::NeedKeys {
            source: 0,
            reason: FetchReason::Refresh
        }
    );
    // The fetch failed: 503 until the backoff ends.
    cache.fetch_started(0, FetchReason::Refresh, NOW);
    let backoff = cache.fetch_failed(0, NOW);
    assert_eq!(
        access_token::verify(&good_token(), &config, &cache, NOW, None).unwrap_err(),
        Rejected::Unavailable {
            retry_after: backoff
        }
    );
    // Keys arrive: the good token passes, an unknown kid is refused while a refetch is too soon...
    cache.keys_fetched(0, Rc::new(issuer_keys()), None, NOW);
    accepted(access_token::verify(
        &good_token(),
        &config,
        &cache,
        NOW,
        None,
    ));
    assert_eq!(
        access_token::verify(&unknown_kid_token(), &config, &cache, NOW, None).unwrap_err(),
        Rejected::Invalid(TokenError::UnknownKid)
    );
    // ...and asks for a refetch once `jwks_min_refresh_interval_seconds` has passed.
    let later = NOW + config.jwks_min_refresh_interval;
    assert_eq!(
        access_token::verify(&unknown_kid_token(), &config, &cache, later, None).unwrap_err(),
        Rejected::NeedKeys {
            source: 0,
            reason: FetchReason::UnknownKid
        }
    );
}

#[test]
fn unknown_kid_with_inline_keys_is_a_token_problem() {
    let config = config_with(json!({"upstream": null, "jwks": issuer_jwks()}));
    let mut cache = fixtures::empty_key_cache(&config);
    cache.install_static(0, Rc::new(issuer_keys()));
    accepted(access_token::verify(
        &good_token(),
        &config,
        &cache,
        NOW,
        None,
    ));
    assert_eq!(
        access_token::verify(&unknown_kid_token(), &config, &cache, NOW, None).unwrap_err(),
        Rejected::Invalid(TokenError::UnknownKid)
    );
}

// ---- step 8: the key must fit the algorithm ----

#[test]
fn algorithm_that_does_not_fit_the_key_is_refused() {
    let cases = [
        // An RSA key named for ES256.
        good().alg("ES256").build(),
        // An EC key named for RS256 (the signature is ES256).
        good().key_alg(Key::Ec1, "RS256").build(),
        good().key_alg(Key::Ec1, "EdDSA").build(),
        good().key_alg(Key::Ed1, "ES256").build(),
        // `rsa-2`'s JWK pins `alg: RS384`.
        good().key_alg(Key::Rsa2, "RS256").build(),
        good().key_alg(Key::Rsa2, "PS256").build(),
    ];
    for token in cases {
        assert_invalid(&token, TokenError::KeyAlgorithmMismatch);
    }
}

// ---- step 9: the signature ----

/// A host signature check that answers as scripted and records what it was asked.
#[derive(Debug)]
struct ScriptedHost {
    answer: Option<Vec<u8>>,
    asked: Vec<Vec<u8>>,
}

impl host_verify::SignatureHost for ScriptedHost {
    fn call(&mut self, arguments: &[u8]) -> Option<Vec<u8>> {
        self.asked.push(arguments.to_vec());
        self.answer.clone()
    }
}

fn verify_by_host(
    token: &str,
    answer: Option<Vec<u8>>,
) -> (Result<VerifiedToken, Rejected>, usize) {
    let mut host = ScriptedHost {
        answer,
        asked: Vec::new(),
    };
    let keys = ScriptedKeys::published();
    let outcome = access_token::verify(token, &config(), &keys, NOW, Some(&mut host));
    (outcome, host.asked.len())
}

const HOST_YES: [u8; 2] = [0x08, 0x01];

#[test]
fn the_hosts_verdict_decides_rs256_and_rs384() {
    for token in [good_token(), good().key_alg(Key::Rsa2, "RS384").build()] {
        let (outcome, asked) = verify_by_host(&token, Some(HOST_YES.to_vec()));
        accepted(outcome);
        assert_eq!(asked, 1);
        let (outcome, asked) = verify_by_host(&token, Some(Vec::new()));
        assert_outcome(outcome, invalid(TokenError::BadSignature));
        assert_eq!(asked, 1);
    }
}

#[test]
fn the_host_is_asked_with_the_tokens_own_bytes_and_key() {
    let token = good_token();
    let mut host = ScriptedHost {
        answer: Some(HOST_YES.to_vec()),
        asked: Vec::new(),
    };
    let keys = ScriptedKeys::published();
    accepted(access_token::verify(
        &token,
        &config(),
        &keys,
        NOW,
        Some(&mut host),
    ));
    let (signing_input, signature) = token.rsplit_once('.').unwrap();
    let spki = issuer_keys()
        .find("rsa-1")
        .unwrap()
        .spki()
        .unwrap()
        .to_vec();
    let want = host_verify::arguments(
        "sha256",
        &spki,
        &b64::decode(signature).unwrap(),
        signing_input.as_bytes(),
    );
    assert_eq!(host.asked, vec![want]);
}

#[test]
fn without_a_readable_answer_the_own_verifier_decides() {
    for answer in [None, Some(vec![0x0d, 0, 0, 0, 0])] {
        let (outcome, asked) = verify_by_host(&good_token(), answer.clone());
        accepted(outcome);
        assert_eq!(asked, 1);
        let (outcome, _) = verify_by_host(&bad_signature_token(), answer);
        assert_outcome(outcome, invalid(TokenError::BadSignature));
    }
}

#[test]
fn pss_ecdsa_and_eddsa_never_go_to_the_host() {
    let cases = [
        good().key_alg(Key::Rsa1, "PS256").build(),
        good().key_alg(Key::Ec1, "ES256").build(),
        good().key_alg(Key::Ed1, "EdDSA").build(),
    ];
    for token in cases {
        // A host that would accept anything is not asked, and the signatures still verify.
        let (outcome, asked) = verify_by_host(&token, Some(HOST_YES.to_vec()));
        accepted(outcome);
        assert_eq!(asked, 0);
    }
    // Nor is a token refused before its signature: a key named for another algorithm.
    let (outcome, asked) = verify_by_host(&good().alg("ES256").build(), Some(HOST_YES.to_vec()));
    assert_outcome(outcome, invalid(TokenError::KeyAlgorithmMismatch));
    assert_eq!(asked, 0);
}

#[test]
fn signature_that_does_not_verify_is_refused() {
    let cases = [
        bad_signature_token(),
        // Claims changed after signing.
        tamper::replace_claims(
            &good_token(),
            &json!({"iss": ISSUER, "aud": AUDIENCE, "sub": "admin",
            "iat": NOW, "exp": NOW + 3600, "scope": "admin"}),
        ),
        // Signed by a key the issuer never published, under a published `kid`.
        good().signer(Signer::Key(Key::AttackerRsa)).build(),
        // RS256 named, PS256 made by the right key over the right bytes.
        resigned(&good_token(), "PS256"),
        good().signer(Signer::Bytes(vec![0; 256])).build(),
        good().signer(Signer::Bytes(vec![1])).build(),
    ];
    for token in cases {
        assert_invalid(&token, TokenError::BadSignature);
    }
}

#[test]
fn embedded_jwk_is_never_used() {
    assert_invalid(&embedded_jwk_token(), TokenError::BadSignature);
    // Under the attacker's own kid there is no key at all.
    let own_kid = good()
        .header("jwk", Key::AttackerRsa.public_jwk())
        .key(Key::AttackerRsa)
        .build();
    assert_invalid(&own_kid, TokenError::UnknownKid);
}

#[test]
fn jku_x5u_and_x5c_are_never_used() {
    let attacker = Key::AttackerRsa;
    for (name, value) in [
        ("jku", json!("https://attacker.example/jwks.json")),
        ("x5u", json!("https://attacker.example/cert.pem")),
        (
            "x5c",
            json!(["MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"]),
        ),
    ] {
        // Signed by the attacker under the issuer's kid: the signature decides.
        let token = good()
            .header(name, value.clone())
            .signer(Signer::Key(attacker))
            .build();
        assert_invalid(&token, TokenError::BadSignature);
        // The same members on a genuine token change nothing.
        accepted(verify(&good().header(name, value).build()));
    }
}

// ---- step 10: aud ----

#[test]
fn audience_forms() {
    let ok = [
        json!(AUDIENCE),
        json!(OTHER_AUDIENCE),
        json!([AUDIENCE]),
        json!(["https://elsewhere.example.com", OTHER_AUDIENCE]),
        json!([AUDIENCE, AUDIENCE]),
    ];
    for aud in ok {
        accepted(verify(&good().aud(aud.clone()).build()));
    }
    let refused = [
        (
            json!("https://elsewhere.example.com"),
            TokenError::InvalidAudience,
        ),
        (
            json!("https://API.example.com"),
            TokenError::InvalidAudience,
        ),
        (json!(format!("{AUDIENCE}/")), TokenError::InvalidAudience),
        (json!(""), TokenError::InvalidAudience),
        (json!([]), TokenError::InvalidAudience),
        (
            json!(["https://elsewhere.example.com"]),
            TokenError::InvalidAudience,
        ),
        // A non-string member makes the claim invalid even beside a good audience.
        (json!([AUDIENCE, 1]), TokenError::InvalidClaim("aud")),
        (json!([null]), TokenError::InvalidClaim("aud")),
        (json!([[AUDIENCE]]), TokenError::InvalidClaim("aud")),
        (json!(1), TokenError::InvalidClaim("aud")),
        (json!({"aud": AUDIENCE}), TokenError::InvalidClaim("aud")),
        (json!(null), TokenError::InvalidClaim("aud")),
        (json!(true), TokenError::InvalidClaim("aud")),
    ];
    for (aud, want) in refused {
        assert_invalid(&good().aud(aud.clone()).build(), want);
    }
    assert_invalid(&wrong_audience_token(), TokenError::InvalidAudience);
    assert_invalid(
        &good().remove_claim("aud").build(),
        TokenError::MissingClaim("aud"),
    );
}

// ---- steps 11-13: exp, nbf, iat, with the clock skew ----

#[test]
fn exp_edges_with_skew() {
    assert_invalid(&expired_token(), TokenError::Expired);
    let last_second = good().claim("exp", json!(NOW - SKEW + 1)).build();
    assert_eq!(accepted(verify(&last_second)).expires_at, NOW - SKEW + 1);
    // The same token one second later.
    assert_outcome(
        verify_at(&last_second, NOW + 1),
        invalid(TokenError::Expired),
    );
    assert_invalid(&good().claim("exp", json!(0)).build(), TokenError::Expired);
}

#[test]
fn exp_must_be_present_and_a_number() {
    assert_invalid(
        &good().remove_claim("exp").build(),
        TokenError::MissingClaim("exp"),
    );
    for exp in [
        json!(NOW.to_string()),
        json!(null),
        json!([NOW + 10]),
        json!(true),
        json!(-1),
        json!(-1.5),
        json!(1e300),
    ] {
        assert_invalid(
            &good().claim("exp", exp.clone()).build(),
            TokenError::InvalidClaim("exp"),
        );
    }
    // The largest integer is far in the future, not an overflow.
    assert_eq!(
        accepted(verify(&good().claim("exp", json!(u64::MAX)).build())).expires_at,
        u64::MAX
    );
}

#[test]
fn nbf_edges_with_skew() {
    let edge = good().claim("nbf", json!(NOW + SKEW)).build();
    accepted(verify(&edge));
    assert_invalid(&not_yet_valid_token(), TokenError::NotYetValid);
    // Valid once the clock has caught up.
    accepted(verify_at(&not_yet_valid_token(), NOW + 1));
    accepted(verify(&good().claim("nbf", json!(0)).build()));
    for nbf in [json!("0"), json!(null), json!(-5)] {
        assert_invalid(
            &good().claim("nbf", nbf.clone()).build(),
            TokenError::InvalidClaim("nbf"),
        );
    }
}

#[test]
fn iat_edges_with_skew() {
    accepted(verify(&good().claim("iat", json!(NOW + SKEW)).build()));
    assert_invalid(&future_iat_token(), TokenError::IssuedInFuture);
    assert_invalid(
        &good().remove_claim("iat").build(),
        TokenError::MissingClaim("iat"),
    );
    for iat in [json!("1700000000"), json!(null), json!(-1)] {
        assert_invalid(
            &good().claim("iat", iat.clone()).build(),
            TokenError::InvalidClaim("iat"),
        );
    }
    // An old iat is fine: only exp bounds a token's age.
    accepted(verify(&good().claim("iat", json!(0)).build()));
}

#[test]
fn zero_skew_makes_every_edge_exact() {
    let strict = config_with(json!({"clock_skew_seconds": 0}));
    let check = |token: &str| verify_with(token, &strict, &ScriptedKeys::published(), NOW);
    assert_outcome(
        check(&good().claim("exp", json!(NOW)).build()),
        invalid(TokenError::Expired),
    );
    accepted(check(&good().claim("exp", json!(NOW + 1)).build()));
    accepted(check(&good().claim("nbf", json!(NOW)).build()));
    assert_outcome(
        check(&good().claim("nbf", json!(NOW + 1)).build()),
        invalid(TokenError::NotYetValid),
    );
    accepted(check(&good().claim("iat", json!(NOW)).build()));
    assert_outcome(
        check(&good().claim("iat", json!(NOW + 1)).build()),
        invalid(TokenError::IssuedInFuture),
    );
}

#[test]
fn numeric_dates_may_be_fractional_and_are_truncated() {
    let fractional = good()
        .claim("iat", json!(NOW as f64 - 0.25))
        .claim("nbf", json!(NOW as f64 + 0.5))
        .claim("exp", json!(NOW as f64 + 100.75))
        .build();
    assert_eq!(accepted(verify(&fractional)).expires_at, NOW + 100);
    // Truncation only ever shortens a lifetime: `exp` NOW-SKEW+0.9 counts as NOW-SKEW.
    assert_invalid(
        &good()
            .claim("exp", json!((NOW - SKEW) as f64 + 0.9))
            .build(),
        TokenError::Expired,
    );
    // A float with no fraction is the same instant as the integer.
    assert_invalid(
        &good().claim("exp", json!((NOW - SKEW) as f64)).build(),
        TokenError::Expired,
    );
    assert_invalid(
        &good().claim("iat", json!((NOW + SKEW + 1) as f64)).build(),
        TokenError::IssuedInFuture,
    );
    assert_invalid(
        &good()
            .claim("nbf", json!((NOW + SKEW + 1) as f64 + 0.5))
            .build(),
        TokenError::NotYetValid,
    );
}

#[test]
fn numeric_date_reads_integers_and_floats_and_refuses_the_rest() {
    let claims = object(json!({
        "int": 5, "float": 5.9, "zero": 0, "big": u64::MAX, "neg": -1, "negf": -0.5,
        "huge": 1e18, "str": "5", "null": null, "arr": [5]
    }));
    assert_eq!(access_token::numeric_date(&claims, "int"), Ok(Some(5)));
    assert_eq!(access_token::numeric_date(&claims, "float"), Ok(Some(5)));
    assert_eq!(access_token::numeric_date(&claims, "zero"), Ok(Some(0)));
    assert_eq!(
        access_token::numeric_date(&claims, "big"),
        Ok(Some(u64::MAX))
    );
    assert_eq!(access_token::numeric_date(&claims, "absent"), Ok(None));
    for name in ["neg", "negf", "huge", "str", "null", "arr"] {
        assert_eq!(
            access_token::numeric_date(&claims, name),
            Err(TokenError::InvalidClaim(name)),
            "{name}"
        );
    }
}

// ---- step 14: scope claims ----

#[test]
fn scope_claim_forms() {
    let scopes = |builder: testbed::TokenBuilder| accepted(verify(&builder.build())).scopes;
    let strings = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    assert_eq!(
        scopes(good().scope("read:messages write:messages")),
        strings(&["read:messages", "write:messages"])
    );
    assert_eq!(scopes(good().scope("a  b a")), strings(&["a", "b"]));
    assert_eq!(scopes(good().scope("")), strings(&[]));
    assert_eq!(scopes(good().remove_claim("scope")), strings(&[]));
    assert_eq!(
        scopes(good().claim("scope", json!(["a", "b"]))),
        strings(&["a", "b"])
    );
    // `scope` and `scp` are united, in claim order.
    assert_eq!(
        scopes(good().scope("a b").claim("scp", json!(["b", "c"]))),
        strings(&["a", "b", "c"])
    );
    assert_eq!(
        scopes(good().remove_claim("scope").claim("scp", json!("x y"))),
        strings(&["x", "y"])
    );
}

#[test]
fn scope_claim_of_another_type_makes_the_token_invalid() {
    assert_invalid(&scope_number_token(), TokenError::InvalidScopeClaim);
    for value in [
        json!(null),
        json!(true),
        json!({"read": true}),
        json!(["a", 1]),
        json!([["a"]]),
    ] {
        assert_invalid(
            &good().claim("scope", value.clone()).build(),
            TokenError::InvalidScopeClaim,
        );
        assert_invalid(
            &good()
                .remove_claim("scope")
                .claim("scp", value.clone())
                .build(),
            TokenError::InvalidScopeClaim,
        );
    }
}

#[test]
fn only_configured_scope_claims_are_read() {
    let permissions = config_with(json!({"scope_claims": ["permissions"]}));
    let check = |builder: testbed::TokenBuilder| {
        verify_with(
            &builder.build(),
            &permissions,
            &ScriptedKeys::published(),
            NOW,
        )
    };
    let token = good()
        .scope("ignored")
        .claim("permissions", json!(["read:messages"]));
    assert_eq!(
        accepted(check(token)).scopes,
        vec!["read:messages".to_owned()]
    );
    // A claim that is not configured is not judged either.
    assert_eq!(
        accepted(check(good().claim("scope", json!(42)))).scopes,
        Vec::<String>::new()
    );
    assert_outcome(
        check(good().claim("permissions", json!(42))),
        invalid(TokenError::InvalidScopeClaim),
    );
}

// ---- the order of the checks ----

#[test]
fn checks_run_in_contract_order() {
    // Each token fails two adjacent checks; the earlier one must be reported.
    let cases: Vec<(&str, String, TokenError)> = vec![
        (
            "malformed before alg",
            good().alg("HS256").raw_claims(r#"{"a":1,"a":2}"#).build(),
            TokenError::Malformed(JwsError::Json {
                segment: Segment::Payload,
                error: JsonError::DuplicateMember("a".into()),
            }),
        ),
        (
            "alg before crit",
            good().alg("HS256").header("crit", json!(["exp"])).build(),
            TokenError::AlgorithmNotAllowed,
        ),
        (
            "crit before typ",
            good()
                .header("crit", json!(["exp"]))
                .typ("dpop+jwt")
                .build(),
            TokenError::UnsupportedCritical,
        ),
        (
            "typ before kid",
            good().typ("dpop+jwt").remove_header("kid").build(),
            TokenError::WrongType,
        ),
        (
            "kid before iss",
            good()
                .remove_header("kid")
                .issuer_domain("evil.example")
                .build(),
            TokenError::MissingKid,
        ),
        (
            "iss before key lookup",
            good().issuer_domain("evil.example").kid("rsa-404").build(),
            TokenError::UnknownIssuer,
        ),
        (
            "key lookup before signature",
            good()
                .kid("rsa-404")
                .signer(Signer::Key(Key::AttackerRsa))
                .build(),
            TokenError::UnknownKid,
        ),
        (
            "key fit before signature",
            good()
                .alg("ES256")
                .signer(Signer::Key(Key::AttackerEc))
                .build(),
            TokenError::KeyAlgorithmMismatch,
        ),
        (
            "signature before aud (claims are trusted only once signed)",
            good()
                .aud(json!("https://elsewhere.example.com"))
                .signer(Signer::Key(Key::AttackerRsa))
                .build(),
            TokenError::BadSignature,
        ),
        (
            "aud before exp",
            good()
                .aud(json!("https://elsewhere.example.com"))
                .claim("exp", json!(NOW - SKEW))
                .build(),
            TokenError::InvalidAudience,
        ),
        (
            "exp before nbf",
            good()
                .claim("exp", json!(NOW - SKEW))
                .claim("nbf", json!(NOW + SKEW + 1))
                .build(),
            TokenError::Expired,
        ),
        (
            "nbf before iat",
            good()
                .claim("nbf", json!(NOW + SKEW + 1))
                .claim("iat", json!(NOW + SKEW + 1))
                .build(),
            TokenError::NotYetValid,
        ),
        (
            "iat before scope",
            good()
                .claim("iat", json!(NOW + SKEW + 1))
                .claim("scope", json!(42))
                .build(),
            TokenError::IssuedInFuture,
        ),
    ];
    for (case, token, want) in cases {
        match verify(&token) {
            Err(Rejected::Invalid(got)) => assert_eq!(got, want, "{case}"),
            other => panic!("{case}: expected {want:?}, got {other:?}"),
        }
    }
}

#[test]
fn lookup_failure_comes_before_the_signature_and_claims() {
    // Needing keys is reported even for a token whose claims are all wrong: nothing after the
    // lookup can be judged without the key.
    let keys = ScriptedKeys::answering(Answer::NoKeys {
        wait: true,
        retry_after: 1,
    });
    let token = good()
        .claim("exp", json!(0))
        .aud(json!("x"))
        .signer(Signer::Key(Key::AttackerRsa))
        .build();
    assert_rejected(
        verify_with(&token, &config(), &keys, NOW),
        Rejected::NeedKeys {
            source: 0,
            reason: FetchReason::Refresh,
        },
    );
}

#[test]
fn error_texts_are_the_descriptions_on_the_wire() {
    let cases = [
        (
            TokenError::AlgorithmNotAllowed,
            "Token algorithm is not allowed",
        ),
        (
            TokenError::UnsupportedCritical,
            "Token has an unsupported critical header parameter",
        ),
        (TokenError::WrongType, "Token type is not an access token"),
        (TokenError::MissingKid, "Token header has no key ID"),
        (TokenError::UnknownIssuer, "Invalid issuer"),
        (TokenError::UnknownKid, "No key matches the token's key ID"),
        (
            TokenError::KeyAlgorithmMismatch,
            "Token algorithm does not fit its key",
        ),
        (TokenError::BadSignature, "Invalid token signature"),
        (TokenError::InvalidAudience, "Invalid audience"),
        (
            TokenError::MissingClaim("exp"),
            "Missing required claim: exp",
        ),
        (TokenError::InvalidClaim("aud"), "Invalid claim: aud"),
        (TokenError::Expired, "Token has expired"),
        (TokenError::NotYetValid, "Token is not yet valid"),
        (TokenError::IssuedInFuture, "Token was issued in the future"),
        (TokenError::InvalidScopeClaim, "Invalid scope claim"),
        (
            TokenError::Malformed(JwsError::SegmentCount { found: 1 }),
            "Malformed token: token has 1 segments, expected 3",
        ),
    ];
    for (error, text) in cases {
        assert_eq!(error.to_string(), text);
    }
}
