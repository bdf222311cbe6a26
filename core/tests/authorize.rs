//! `Gate::authorize`: the decision for one request, Bearer and DPoP, in the contract's order,
//! with the verified-token cache, server nonces and the replay store. Every case asserts the
//! exact `Decision` and, for a refusal, the exact `Denial` with its description.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod fixtures;

use std::rc::Rc;

use filter_core::access_token::TokenError;
use filter_core::authorize::{Decision, Gate, PassReason, ReplayStore};
use filter_core::dpop::{BOUND_TOKEN_ON_BEARER, PROOF_ON_BEARER};
use filter_core::json::JsonError;
use filter_core::jwks_cache::FetchReason;
use filter_core::jws::{JwsError, Segment};
use filter_core::nonce::NonceConfig;
use filter_core::nonce::Nonces;
use filter_core::rejection::{self, Denial, Scheme};
use filter_core::replay::{self, ReplayError};
use fixtures::*;
use serde_json::json;
use testbed::token::{tamper, Signer};
use testbed::Key;

const NO_JKT: &str = "JWT Access Token has no jkt confirmation claim";
const CNF_FORMAT: &str = "JWT Access Token has invalid confirmation claim format";
const CNF_NO_JKT: &str = "Access token 'cnf' claim missing 'jkt'";
const CNF_MISMATCH: &str = "JWT Access Token confirmation mismatch";
const FAILED_TO_VERIFY: &str = "Failed to verify DPoP proof";
const MULTIPLE_PROOFS: &str = "Multiple DPoP proofs are not allowed";
const REPLAYED: &str = "DPoP proof has already been used";
const EXPIRED: &str = "Token has expired";

/// A replay store that is always full.
struct FullReplay {
    retry_after: u64,
}

impl ReplayStore for FullReplay {
    fn record(&mut self, _hash: u64, _expires_at: u64, _now: u64) -> Result<(), ReplayError> {
        Err(ReplayError::Full {
            retry_after: self.retry_after,
        })
    }
}

fn decide_at(gate: &mut Gate, request: &Request, now: u64) -> Decision {
    gate.authorize(&request.view(), &mut MemoryReplay::new(), now * 1000)
}

fn deny(gate: &mut Gate, request: &Request) -> Denial {
    denied(decide(gate, request))
}

/// A DPoP request for `GET /api/private` with `token` and the proof `builder` makes.
fn dpop_request(token: &str, proof: &testbed::ProofBuilder) -> Request {
    Request::private().dpop(token, &proof.build())
}

fn dpop_deny(gate: &mut Gate, token: &str, proof: &testbed::ProofBuilder) -> Denial {
    deny(gate, &dpop_request(token, proof))
}

fn dpop_gate() -> Gate {
    default_gate()
}

/// A gate that also accepts RSA, P-384 and Ed25519 proof keys.
fn any_proof_alg_gate() -> Gate {
    gate(config_with(
        json!({"dpop_algorithms": ["ES256", "ES384", "EdDSA", "RS256", "PS256"]}),
    ))
}

// ---- before any credentials: CORS preflight and public routes ----

#[test]
fn cors_preflight_passes_without_credentials_by_default() {
    let mut gate = default_gate();
    assert_eq!(
        passed(decide(&mut gate, &Request::private().preflight())),
        PassReason::CorsPreflight
    );
    // Even on a scoped route and with a broken token: a preflight carries no credentials anyway.
    let scoped = Request::get("/api/messages").preflight().bearer("garbage");
    assert_eq!(
        passed(decide(&mut gate, &scoped)),
        PassReason::CorsPreflight
    );
}

#[test]
fn cors_preflight_needs_credentials_when_bypass_is_off() {
    let mut gate = gate(config_with(json!({"bypass_cors_preflight": false})));
    assert_eq!(
        deny(&mut gate, &Request::private().preflight()),
        Denial::NoCredentials
    );
}

#[test]
fn options_without_preflight_headers_is_an_ordinary_request() {
    let mut gate = default_gate();
    assert_eq!(
        deny(&mut gate, &Request::new("OPTIONS", PRIVATE_PATH)),
        Denial::NoCredentials
    );
}

#[test]
fn public_route_passes_and_ignores_any_credentials() {
    let mut gate = default_gate();
    let cases = [
        Request::get("/public/info"),
        Request::get("/public/info").bearer("garbage"),
        Request::get("/public/info").bearer(&expired_token()),
        Request::get("/public/info").authorization("Bearer a, Bearer b"),
        Request::get("/public/info")
            .authorization("DPoP x")
            .dpop_line("y"),
    ];
    for request in cases {
        assert_eq!(
            passed(decide(&mut gate, &request)),
            PassReason::PublicRoute,
            "{:?}",
            request.authorization
        );
    }
    assert!(gate.tokens.is_empty());
}

// ---- credentials ----

#[test]
fn no_credentials() {
    let mut gate = default_gate();
    for authorization in [
        None,
        Some(""),
        Some("Bearer"),
        Some("Bearer   "),
        Some("DPoP"),
        Some("Basic dXNlcjpwYXNz"),
        Some("Token abc"),
    ] {
        let mut request = Request::private();
        request.authorization = authorization.map(str::to_owned);
        assert_eq!(
            deny(&mut gate, &request),
            Denial::NoCredentials,
            "{authorization:?}"
        );
    }
}

#[test]
fn several_credentials_are_an_invalid_request() {
    let mut gate = default_gate();
    let good = good_token();
    for value in [
        format!("Bearer {good}, Bearer {good}"),
        format!("Bearer {good},DPoP {good}"),
        "Basic a, Bearer b".to_owned(),
    ] {
        assert_eq!(
            deny(&mut gate, &Request::private().authorization(&value)),
            invalid_request(Scheme::Bearer, "Multiple credentials are not allowed")
        );
    }
}

// ---- Bearer ----

#[test]
fn bearer_with_a_valid_token_is_allowed_with_its_claims() {
    let mut gate = default_gate();
    let token = good_token();
    for value in [
        format!("Bearer {token}"),
        format!("bearer {token}"),
        format!("BEARER\t\t{token}"),
        format!("Bearer    {token}"),
    ] {
        let ok = allowed(decide(&mut gate, &Request::private().authorization(&value)));
        assert_eq!(ok.token.claims.get("sub"), Some(&json!("user_123")));
        assert_eq!(
            ok.token.scopes,
            vec!["openid".to_owned(), "profile".to_owned()]
        );
        assert_eq!(ok.next_nonce, None);
    }
}

#[test]
fn bearer_with_an_invalid_token() {
    let mut gate = default_gate();
    let duplicate = TokenError::Malformed(JwsError::Json {
        segment: Segment::Payload,
        error: JsonError::DuplicateMember("sub".into()),
    });
    let cases = [
        (
            "abc".to_owned(),
            "Malformed token: token has 1 segments, expected 3".to_owned(),
        ),
        (expired_token(), EXPIRED.to_owned()),
        (not_yet_valid_token(), "Token is not yet valid".to_owned()),
        (
            future_iat_token(),
            "Token was issued in the future".to_owned(),
        ),
        (no_kid_token(), "Token header has no key ID".to_owned()),
        (
            unknown_kid_token(),
            "No key matches the token's key ID".to_owned(),
        ),
        (wrong_issuer_token(), "Invalid issuer".to_owned()),
        (wrong_audience_token(), "Invalid audience".to_owned()),
        (
            alg_none_token(),
            "Malformed token: token signature is empty".to_owned(),
        ),
        (
            hs256_confusion_token(),
            "Token algorithm is not allowed".to_owned(),
        ),
        (embedded_jwk_token(), "Invalid token signature".to_owned()),
        (
            dpop_typ_token(),
            "Token type is not an access token".to_owned(),
        ),
        (
            crit_token(),
            "Token has an unsupported critical header parameter".to_owned(),
        ),
        (scope_number_token(), "Invalid scope claim".to_owned()),
        (bad_signature_token(), "Invalid token signature".to_owned()),
        (duplicate_claim_token(), duplicate.to_string()),
    ];
    for (token, description) in cases {
        assert_eq!(
            deny(&mut gate, &Request::private().bearer(&token)),
            invalid_token(Scheme::Bearer, &description)
        );
    }
    assert!(gate.tokens.is_empty(), "a refused token is never cached");
}

#[test]
fn bearer_with_insufficient_scope_lists_every_required_scope() {
    let mut gate = default_gate();
    let token = good().scope("read:data").build();
    assert_eq!(
        deny(&mut gate, &Request::get("/api/messages").bearer(&token)),
        Denial::InsufficientScope {
            scheme: Scheme::Bearer,
            scopes: "read:messages".into()
        }
    );
    assert_eq!(
        deny(&mut gate, &Request::new("POST", "/api/data").bearer(&token)),
        Denial::InsufficientScope {
            scheme: Scheme::Bearer,
            scopes: "read:data write:data".into()
        }
    );
    // A rule limited to POST does not apply to GET: any valid token will do there.
    allowed(decide(&mut gate, &Request::get("/api/data").bearer(&token)));
}

#[test]
fn bearer_with_every_required_scope_is_allowed() {
    let mut gate = default_gate();
    let token = good().scope("write:data read:data").build();
    allowed(decide(
        &mut gate,
        &Request::new("POST", "/api/data").bearer(&token),
    ));
    let scp = good()
        .remove_claim("scope")
        .claim("scp", json!(["read:messages"]))
        .build();
    allowed(decide(
        &mut gate,
        &Request::get("/api/messages").bearer(&scp),
    ));
}

#[test]
fn invalid_token_is_reported_before_insufficient_scope() {
    let mut gate = default_gate();
    assert_eq!(
        deny(
            &mut gate,
            &Request::get("/api/messages").bearer(&expired_token())
        ),
        invalid_token(Scheme::Bearer, EXPIRED)
    );
}

#[test]
fn bearer_token_whose_keys_are_missing_asks_for_them() {
    let config = two_issuer_config();
    let keys = empty_key_cache(&config);
    let mut gate = Gate::new(Rc::new(config), keys);
    assert_eq!(
        needs_keys(decide(&mut gate, &Request::private().bearer(&good_token()))),
        (0, FetchReason::Refresh)
    );
    let second = good().issuer_domain(SECOND_DOMAIN).build();
    assert_eq!(
        needs_keys(decide(&mut gate, &Request::private().bearer(&second))),
        (1, FetchReason::Refresh)
    );
}

#[test]
fn bearer_token_whose_keys_cannot_be_had_is_unavailable() {
    let config = config();
    let mut keys = empty_key_cache(&config);
    keys.fetch_started(0, FetchReason::Refresh, NOW);
    keys.fetch_failed(0, NOW);
    keys.fetch_started(0, FetchReason::Refresh, NOW);
    let backoff = keys.fetch_failed(0, NOW);
    assert_eq!(backoff, 2);
    let mut gate = Gate::new(Rc::new(config), keys);
    assert_eq!(
        deny(&mut gate, &Request::private().bearer(&good_token())),
        Denial::Unavailable { retry_after: 2 }
    );
}

#[test]
fn bearer_token_with_a_kid_published_since_asks_for_a_refetch() {
    let config = config();
    let mut keys = empty_key_cache(&config);
    keys.keys_fetched(0, Rc::new(issuer_keys()), None, NOW - 3600);
    let mut gate = Gate::new(Rc::new(config), keys);
    assert_eq!(
        needs_keys(decide(
            &mut gate,
            &Request::private().bearer(&unknown_kid_token())
        )),
        (0, FetchReason::UnknownKid)
    );
}

// ---- Bearer and DPoP together ----

#[test]
fn bound_token_on_bearer_is_refused() {
    let mut gate = default_gate();
    assert_eq!(
        deny(&mut gate, &Request::private().bearer(&bound_token())),
        invalid_token(Scheme::Bearer, BOUND_TOKEN_ON_BEARER)
    );
    // Any `cnf.jkt`, whatever its value, makes a token unfit for Bearer.
    let odd = good().claim("cnf", json!({"jkt": 5})).build();
    assert_eq!(
        deny(&mut gate, &Request::private().bearer(&odd)),
        invalid_token(Scheme::Bearer, BOUND_TOKEN_ON_BEARER)
    );
    assert_eq!(
        BOUND_TOKEN_ON_BEARER,
        "DPoP-bound token requires the DPoP authentication scheme, not Bearer"
    );
}

#[test]
fn bearer_with_a_dpop_header_is_an_invalid_request() {
    let mut gate = default_gate();
    let token = good_token();
    let request = Request::private()
        .bearer(&token)
        .dpop_line(&proof(&token).build());
    assert_eq!(
        deny(&mut gate, &request),
        invalid_request(Scheme::Bearer, PROOF_ON_BEARER)
    );
    assert_eq!(
        PROOF_ON_BEARER,
        "DPoP proof requires DPoP authentication scheme, not Bearer"
    );
}

#[test]
fn bound_token_with_a_dpop_header_on_bearer_is_the_token_problem() {
    let mut gate = default_gate();
    let token = bound_token();
    let request = Request::private()
        .bearer(&token)
        .dpop_line(&proof(&token).build());
    assert_eq!(
        deny(&mut gate, &request),
        invalid_token(Scheme::Bearer, BOUND_TOKEN_ON_BEARER)
    );
}

#[test]
fn invalid_token_with_a_dpop_header_on_bearer_is_the_token_problem() {
    let mut gate = default_gate();
    let token = expired_token();
    let request = Request::private()
        .bearer(&token)
        .dpop_line(&proof(&token).build());
    assert_eq!(
        deny(&mut gate, &request),
        invalid_token(Scheme::Bearer, EXPIRED)
    );
}

#[test]
fn dpop_required_refuses_bearer_before_looking_at_the_token() {
    let config = config_with(json!({"dpop_required": true}));
    let challenge = config.challenge();
    let mut gate = gate(config);
    for token in [good_token(), expired_token(), "garbage".to_owned()] {
        let denial = deny(&mut gate, &Request::private().bearer(&token));
        assert_eq!(
            denial,
            invalid_request(Scheme::Bearer, "DPoP-bound access token is required")
        );
        let response = rejection::render(&denial, &challenge);
        assert_eq!(response.status, 400);
        assert_eq!(
            response.header("www-authenticate"),
            Some(r#"DPoP algs="ES256""#)
        );
    }
    assert!(gate.tokens.is_empty());
}

#[test]
fn dpop_required_without_usable_credentials_is_no_credentials() {
    let mut gate = gate(config_with(json!({"dpop_required": true})));
    assert_eq!(deny(&mut gate, &Request::private()), Denial::NoCredentials);
    assert_eq!(
        deny(
            &mut gate,
            &Request::private().authorization("Basic dXNlcjpwYXNz")
        ),
        Denial::NoCredentials
    );
}

#[test]
fn dpop_required_accepts_a_valid_dpop_request() {
    let mut gate = gate(config_with(json!({"dpop_required": true})));
    let token = bound_token();
    allowed(decide(&mut gate, &dpop_request(&token, &proof(&token))));
}

#[test]
fn dpop_disabled_ignores_cnf_and_dpop_headers_on_bearer() {
    let mut gate = gate(config_with(json!({"dpop_enabled": false})));
    let token = bound_token();
    allowed(decide(&mut gate, &Request::private().bearer(&token)));
    let with_header = Request::private()
        .bearer(&token)
        .dpop_line(&proof(&token).build());
    allowed(decide(&mut gate, &with_header));
}

#[test]
fn dpop_disabled_refuses_the_dpop_scheme() {
    let mut gate = gate(config_with(json!({"dpop_enabled": false})));
    let token = bound_token();
    assert_eq!(
        dpop_deny(&mut gate, &token, &proof(&token)),
        invalid_request(Scheme::DPoP, "DPoP is not enabled")
    );
}

// ---- DPoP: the proof header ----

#[test]
fn dpop_with_a_valid_proof_is_allowed() {
    let mut gate = dpop_gate();
    let token = bound_token();
    let ok = allowed(decide(&mut gate, &dpop_request(&token, &proof(&token))));
    assert_eq!(
        ok.token.claims.get("cnf"),
        Some(&json!({"jkt": Key::Client1.thumbprint()}))
    );
    assert_eq!(ok.next_nonce, None);
    // Scheme names are case-insensitive.
    let request = Request::private()
        .authorization(&format!("dpop  {token}"))
        .dpop_line(&proof(&token).build());
    allowed(decide(&mut gate, &request));
}

#[test]
fn dpop_without_a_proof_header_is_an_invalid_request() {
    let mut gate = dpop_gate();
    let token = bound_token();
    let missing = invalid_request(Scheme::DPoP, "DPoP proof is missing");
    let no_header = Request::private().authorization(&format!("DPoP {token}"));
    assert_eq!(deny(&mut gate, &no_header), missing);
    for empty in ["", "  ", "\t"] {
        assert_eq!(
            deny(&mut gate, &no_header.clone().dpop_line(empty)),
            missing
        );
    }
}

#[test]
fn several_proofs_are_refused() {
    let mut gate = dpop_gate();
    let token = bound_token();
    let one = proof(&token).build();
    let two = proof(&token).build();
    let lines = Request::private().dpop(&token, &one).dpop_line(&two);
    assert_eq!(deny(&mut gate, &lines), invalid_proof(MULTIPLE_PROOFS));
    let joined = Request::private().dpop(&token, &format!("{one},{two}"));
    assert_eq!(deny(&mut gate, &joined), invalid_proof(MULTIPLE_PROOFS));
    let same_twice = Request::private().dpop(&token, &one).dpop_line(&one);
    assert_eq!(deny(&mut gate, &same_twice), invalid_proof(MULTIPLE_PROOFS));
}

// ---- DPoP: the order of the checks ----

#[test]
fn undecodable_proof_fails_before_the_token() {
    let mut gate = dpop_gate();
    for bad_proof in ["garbage", "a.b.c", "e30.e30.", "e30.e30.c2ln"] {
        // The token is expired too; the proof is reported.
        let request = Request::private().dpop(&expired_token(), bad_proof);
        assert_eq!(
            deny(&mut gate, &request),
            invalid_proof(FAILED_TO_VERIFY),
            "{bad_proof}"
        );
    }
}

#[test]
fn proof_with_a_critical_header_fails_before_the_token() {
    let mut gate = dpop_gate();
    let token = expired_token();
    let crit = proof(&token).header("crit", json!(["exp"]));
    assert_eq!(
        dpop_deny(&mut gate, &token, &crit),
        invalid_proof(FAILED_TO_VERIFY)
    );
}

#[test]
fn undecodable_proof_fails_before_keys_are_asked_for() {
    let config = config();
    let keys = empty_key_cache(&config);
    let mut gate = Gate::new(Rc::new(config), keys);
    let token = bound_token();
    assert_eq!(
        deny(&mut gate, &Request::private().dpop(&token, "garbage")),
        invalid_proof(FAILED_TO_VERIFY)
    );
    // A decodable proof, however wrong, waits for the token's keys.
    let wrong = proof(&token).header("typ", json!("jwt"));
    assert_eq!(
        needs_keys(decide(&mut gate, &dpop_request(&token, &wrong))),
        (0, FetchReason::Refresh)
    );
}

#[test]
fn token_is_checked_before_its_binding_and_the_proof() {
    let mut gate = dpop_gate();
    let token = good()
        .bound_to(Key::Client1)
        .claim("exp", json!(NOW - SKEW))
        .build();
    // The proof is wrong too (bad typ), and so would be the binding (signed by client-2).
    let wrong = proof(&token)
        .header("typ", json!("jwt"))
        .signing_key(Key::Client2);
    assert_eq!(
        dpop_deny(&mut gate, &token, &wrong),
        invalid_token(Scheme::DPoP, EXPIRED)
    );
    assert_eq!(
        dpop_deny(
            &mut gate,
            &unknown_kid_token(),
            &proof(&unknown_kid_token())
        ),
        invalid_token(Scheme::DPoP, "No key matches the token's key ID")
    );
}

#[test]
fn cnf_texts() {
    let mut gate = dpop_gate();
    let cases = [
        (good(), NO_JKT),
        (good().claim("cnf", json!(null)), NO_JKT),
        (good().claim("cnf", json!({})), NO_JKT),
        (
            good().claim("cnf", json!(Key::Client1.thumbprint())),
            CNF_FORMAT,
        ),
        (
            good().claim("cnf", json!([{"jkt": Key::Client1.thumbprint()}])),
            CNF_FORMAT,
        ),
        (good().claim("cnf", json!(1)), CNF_FORMAT),
        (good().claim("cnf", json!({"jkt": 5})), CNF_FORMAT),
        (good().claim("cnf", json!({"x5t#S256": "abc"})), CNF_NO_JKT),
        (good().claim("cnf", json!({"jkt": ""})), CNF_NO_JKT),
    ];
    for (builder, description) in cases {
        let token = builder.build();
        assert_eq!(
            dpop_deny(&mut gate, &token, &proof(&token)),
            invalid_token(Scheme::DPoP, description),
            "{:?}",
            builder.claims_map().get("cnf")
        );
    }
}

#[test]
fn binding_is_checked_before_the_proof() {
    let mut gate = dpop_gate();
    let token = good_token();
    let forged = proof(&token).signing_key(Key::Client2);
    assert_eq!(
        dpop_deny(&mut gate, &token, &forged),
        invalid_token(Scheme::DPoP, NO_JKT)
    );
}

#[test]
fn proof_is_checked_before_the_binding_matches() {
    let mut gate = dpop_gate();
    // Bound to client-2, proof by client-1 with the wrong method.
    let token = good().bound_to(Key::Client2).build();
    let wrong = proof(&token).claim("htm", json!("POST"));
    assert_eq!(
        dpop_deny(&mut gate, &token, &wrong),
        invalid_proof("DPoP proof htm mismatch")
    );
}

#[test]
fn binding_mismatch() {
    let mut gate = dpop_gate();
    // Bound to client-1; a valid proof made by client-2 with its own key.
    let token = bound_token();
    let other_client = testbed::ProofBuilder::new(Key::Client2, "GET", PRIVATE_URL)
        .access_token(&token)
        .iat(NOW);
    assert_eq!(
        dpop_deny(&mut gate, &token, &other_client),
        invalid_token(Scheme::DPoP, CNF_MISMATCH)
    );
}

#[test]
fn a_client_key_is_kept_only_once_a_valid_proof_shows_it_is_the_tokens() {
    let mut gate = dpop_gate();
    let token = bound_token();
    // A valid proof under a key the token is not bound to: refused, and its key not kept, so
    // proofs under new keys cannot push out the keys of other clients.
    let other_client = testbed::ProofBuilder::new(Key::Client2, "GET", PRIVATE_URL)
        .access_token(&token)
        .iat(NOW);
    assert_eq!(
        dpop_deny(&mut gate, &token, &other_client),
        invalid_token(Scheme::DPoP, CNF_MISMATCH)
    );
    assert_eq!(gate.kept_client_keys(), 0);
    // The token's key with a proof that fails a check: not kept either.
    let wrong = proof(&token).claim("htm", json!("POST"));
    assert_eq!(
        dpop_deny(&mut gate, &token, &wrong),
        invalid_proof("DPoP proof htm mismatch")
    );
    assert_eq!(gate.kept_client_keys(), 0);
    // A valid proof under the token's key: kept, once however often it is used.
    for _ in 0..2 {
        allowed(decide(&mut gate, &dpop_request(&token, &proof(&token))));
        assert_eq!(gate.kept_client_keys(), 1);
    }
}

#[test]
fn scopes_are_checked_last() {
    let mut gate = dpop_gate();
    let token = bound().scope("openid").build();
    let url = format!("https://{API_HOST}/api/messages");
    let request =
        Request::get("/api/messages").dpop(&token, &proof_for("GET", &url, &token).build());
    assert_eq!(
        deny(&mut gate, &request),
        Denial::InsufficientScope {
            scheme: Scheme::DPoP,
            scopes: "read:messages".into()
        }
    );
    // A binding mismatch on the same route is reported instead.
    let mismatched = testbed::ProofBuilder::new(Key::Client2, "GET", &url)
        .access_token(&token)
        .iat(NOW);
    let request = Request::get("/api/messages").dpop(&token, &mismatched.build());
    assert_eq!(
        deny(&mut gate, &request),
        invalid_token(Scheme::DPoP, CNF_MISMATCH)
    );
    // With the scope granted the request passes.
    let token = bound().scope("read:messages").build();
    let request =
        Request::get("/api/messages").dpop(&token, &proof_for("GET", &url, &token).build());
    allowed(decide(&mut gate, &request));
}

// ---- DPoP: each proof check ----

#[test]
fn proof_typ_must_be_exactly_dpop_jwt() {
    let mut gate = dpop_gate();
    let token = bound_token();
    for typ in [
        json!("DPoP+JWT"),
        json!("jwt"),
        json!("application/dpop+jwt"),
        json!(""),
    ] {
        let wrong = proof(&token).header("typ", typ);
        assert_eq!(
            dpop_deny(&mut gate, &token, &wrong),
            invalid_proof("Invalid DPoP proof typ")
        );
    }
    assert_eq!(
        dpop_deny(&mut gate, &token, &proof(&token).remove_header("typ")),
        invalid_proof("Invalid DPoP proof typ")
    );
}

#[test]
fn proof_alg_must_be_a_configured_dpop_algorithm() {
    let mut gate = dpop_gate();
    let unsupported = invalid_proof("Unsupported DPoP proof algorithm");
    // The default list is ES256 alone.
    let token = good().bound_to(Key::Ed1).build();
    let ed = testbed::ProofBuilder::new(Key::Ed1, "GET", PRIVATE_URL)
        .access_token(&token)
        .iat(NOW);
    assert_eq!(dpop_deny(&mut gate, &token, &ed), unsupported);
    let token = bound_token();
    for alg in ["none", "HS256", "es256", "RS256"] {
        assert_eq!(
            dpop_deny(&mut gate, &token, &proof(&token).alg(alg)),
            unsupported,
            "{alg}"
        );
    }
    let none = proof(&token).alg("none").signer(Signer::Bytes(vec![0]));
    assert_eq!(dpop_deny(&mut gate, &token, &none), unsupported);
}

#[test]
fn proof_keys_of_each_configured_type_are_accepted() {
    let mut gate = any_proof_alg_gate();
    for key in [Key::Client1, Key::Ec384, Key::Ed1, Key::Rsa1] {
        let token = good().bound_to(key).build();
        let proof = testbed::ProofBuilder::new(key, "GET", PRIVATE_URL)
            .access_token(&token)
            .iat(NOW);
        allowed(decide(&mut gate, &dpop_request(&token, &proof)));
    }
}

#[test]
fn proof_jwk_must_be_a_valid_public_key_of_the_right_type() {
    let mut gate = any_proof_alg_gate();
    let invalid_jwk = invalid_proof("Invalid DPoP proof jwk");
    let token = bound_token();
    let client = Key::Client1.bare_public_jwk();
    let other = Key::Client2.bare_public_jwk();
    let mut with_private = client.clone();
    with_private["d"] = json!("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    let mut off_curve = client.clone();
    off_curve["y"] = other["y"].clone();
    let mut wrong_curve = client.clone();
    wrong_curve["crv"] = json!("P-384");
    let cases = [
        proof(&token).remove_header("jwk"),
        proof(&token).jwk(with_private),
        proof(&token).jwk(off_curve),
        proof(&token).jwk(wrong_curve),
        proof(&token).jwk(json!({"kty": "oct", "k": "c2VjcmV0"})),
        // An Ed25519 key for ES256, a P-384 key for ES256.
        proof(&token).jwk(Key::Ed1.bare_public_jwk()),
        proof(&token).jwk(Key::Ec384.bare_public_jwk()),
    ];
    for builder in cases {
        assert_eq!(
            dpop_deny(&mut gate, &token, &builder),
            invalid_jwk,
            "{:?}",
            builder.header_map().get("jwk")
        );
    }
    // A `jwk` that is not even an object makes the header undecodable: reported first.
    let expired = expired_token();
    let not_an_object = proof(&expired).jwk(json!("not an object"));
    assert_eq!(
        dpop_deny(&mut gate, &expired, &not_an_object),
        invalid_proof(FAILED_TO_VERIFY)
    );
}

#[test]
fn rsa_proof_key_under_2048_bits_is_refused() {
    let mut gate = any_proof_alg_gate();
    let token = good().bound_to(Key::RsaSmall).build();
    let small = testbed::ProofBuilder::new(Key::RsaSmall, "GET", PRIVATE_URL)
        .access_token(&token)
        .iat(NOW);
    assert_eq!(
        dpop_deny(&mut gate, &token, &small),
        invalid_proof("Invalid DPoP proof jwk")
    );
}

#[test]
fn proof_signature_must_verify_with_its_own_jwk() {
    let mut gate = dpop_gate();
    let token = bound_token();
    let bad = invalid_proof("Invalid DPoP proof signature");
    // Signed by client-2 while the header shows client-1's key.
    assert_eq!(
        dpop_deny(&mut gate, &token, &proof(&token).signing_key(Key::Client2)),
        bad
    );
    let flipped = tamper::flip_signature_bit(&proof(&token).build());
    assert_eq!(
        deny(&mut gate, &Request::private().dpop(&token, &flipped)),
        bad
    );
    let resigned_claims = tamper::replace_claims(
        &proof(&token).build(),
        &json!({"jti": "x", "htm": "GET", "htu": PRIVATE_URL, "iat": NOW, "ath": testbed::keys::access_token_hash(&token)}),
    );
    assert_eq!(
        deny(
            &mut gate,
            &Request::private().dpop(&token, &resigned_claims)
        ),
        bad
    );
}

#[test]
fn missing_proof_claims_are_listed_in_order() {
    let mut gate = dpop_gate();
    let token = bound_token();
    let all_five = ["iat", "ath", "htm", "htu", "jti"]
        .iter()
        .fold(proof(&token), |p, name| p.remove_claim(name));
    let cases = [
        (
            proof(&token).remove_claim("iat"),
            "Missing required claim: iat",
        ),
        (
            proof(&token).remove_claim("ath"),
            "Missing required claim: ath",
        ),
        (
            proof(&token).remove_claim("htm"),
            "Missing required claim: htm",
        ),
        (
            proof(&token).remove_claim("htu"),
            "Missing required claim: htu",
        ),
        (
            proof(&token).remove_claim("jti"),
            "Missing required claim: jti",
        ),
        (
            proof(&token).remove_claim("jti").remove_claim("iat"),
            "Missing required claims: iat, jti",
        ),
        (all_five, "Missing required claims: iat, ath, htm, htu, jti"),
    ];
    for (builder, description) in cases {
        assert_eq!(
            dpop_deny(&mut gate, &token, &builder),
            invalid_proof(description),
            "{description}"
        );
    }
}

#[test]
fn proof_jti_must_be_a_non_blank_string() {
    let mut gate = dpop_gate();
    let token = bound_token();
    for jti in [
        json!(""),
        json!("   "),
        json!(12345),
        json!(null),
        json!(["a"]),
        json!("a".repeat(257)),
    ] {
        let builder = proof(&token).claim("jti", jti.clone());
        assert_eq!(
            dpop_deny(&mut gate, &token, &builder),
            invalid_proof("Invalid DPoP proof jti"),
            "{jti}"
        );
    }
}

#[test]
fn proof_iat_window_edges() {
    let mut gate = dpop_gate();
    let token = bound_token();
    allowed(decide(
        &mut gate,
        &dpop_request(&token, &proof(&token).iat(NOW - DPOP_IAT_OFFSET)),
    ));
    allowed(decide(
        &mut gate,
        &dpop_request(&token, &proof(&token).iat(NOW + DPOP_IAT_LEEWAY)),
    ));
    assert_eq!(
        dpop_deny(
            &mut gate,
            &token,
            &proof(&token).iat(NOW - DPOP_IAT_OFFSET - 1)
        ),
        invalid_proof("DPoP Proof iat is too old")
    );
    assert_eq!(
        dpop_deny(
            &mut gate,
            &token,
            &proof(&token).iat(NOW + DPOP_IAT_LEEWAY + 1)
        ),
        invalid_proof("DPoP Proof iat is from the future")
    );
    for iat in [json!("1700000000"), json!(null)] {
        let builder = proof(&token).claim("iat", iat);
        assert_eq!(
            dpop_deny(&mut gate, &token, &builder),
            invalid_proof("Invalid DPoP proof iat")
        );
    }
}

#[test]
fn proof_iat_window_follows_the_configuration() {
    let mut gate = gate(config_with(
        json!({"dpop_iat_offset": 10, "dpop_iat_leeway": 0}),
    ));
    let token = bound_token();
    allowed(decide(
        &mut gate,
        &dpop_request(&token, &proof(&token).iat(NOW - 10)),
    ));
    assert_eq!(
        dpop_deny(&mut gate, &token, &proof(&token).iat(NOW - 11)),
        invalid_proof("DPoP Proof iat is too old")
    );
    assert_eq!(
        dpop_deny(&mut gate, &token, &proof(&token).iat(NOW + 1)),
        invalid_proof("DPoP Proof iat is from the future")
    );
}

#[test]
fn proof_htm_is_the_request_method() {
    let mut gate = dpop_gate();
    let token = bound_token();
    allowed(decide(
        &mut gate,
        &dpop_request(&token, &proof(&token).claim("htm", json!("get"))),
    ));
    for htm in [json!("POST"), json!("GET "), json!(1)] {
        let builder = proof(&token).claim("htm", htm);
        assert_eq!(
            dpop_deny(&mut gate, &token, &builder),
            invalid_proof("DPoP proof htm mismatch")
        );
    }
}

#[test]
fn proof_htu_is_the_normalised_request_url() {
    let mut gate = dpop_gate();
    let token = bound_token();
    let request_with_query = |proof: &testbed::ProofBuilder| {
        Request::get("/api/private?page=2").dpop(&token, &proof.build())
    };
    for htu in [
        PRIVATE_URL,
        "HTTPS://API.EXAMPLE.COM/api/private",
        "https://api.example.com:443/api/private",
        "https://api.example.com/api/./x/../private",
        "https://api.example.com/api/private?other=1",
        "https://api.example.com/api/private#frag",
    ] {
        let builder = proof(&token).claim("htu", json!(htu));
        allowed(decide(&mut gate, &request_with_query(&builder)));
    }
    for htu in [
        json!("http://api.example.com/api/private"),
        json!("https://api.example.com/api/private/"),
        json!("https://api.example.com/API/private"),
        json!("https://api.example.com:8443/api/private"),
        json!("https://other.example.com/api/private"),
        json!("/api/private"),
        json!(7),
    ] {
        let builder = proof(&token).claim("htu", htu.clone());
        assert_eq!(
            dpop_deny(&mut gate, &token, &builder),
            invalid_proof("DPoP proof htu mismatch"),
            "{htu}"
        );
    }
}

#[test]
fn proof_htu_uses_the_connection_scheme_not_forwarded_headers_by_default() {
    let mut gate = dpop_gate();
    let token = bound_token();
    let plain = Request::private()
        .scheme("http")
        .forwarded("x-forwarded-proto", "https");
    let mut request = plain.clone().dpop(&token, &proof(&token).build());
    assert_eq!(
        deny(&mut gate, &request),
        invalid_proof("DPoP proof htu mismatch")
    );
    request = plain.dpop(
        &token,
        &proof_for("GET", "http://api.example.com/api/private", &token).build(),
    );
    allowed(decide(&mut gate, &request));
}

#[test]
fn proof_htu_follows_forwarded_headers_when_trusted() {
    let mut gate = gate(config_with(json!({"trust_forwarded_headers": true})));
    let token = bound_token();
    let behind_proxy = Request::private()
        .scheme("http")
        .forwarded("X-Forwarded-Proto", "https")
        .forwarded("X-Forwarded-Host", "gateway.example.com")
        .forwarded("X-Forwarded-Prefix", "/v1");
    let url = "https://gateway.example.com/v1/api/private";
    allowed(decide(
        &mut gate,
        &behind_proxy
            .clone()
            .dpop(&token, &proof_for("GET", url, &token).build()),
    ));
    // A prefix that climbs is ignored, never trusted.
    let climbing = Request::private()
        .scheme("https")
        .forwarded("X-Forwarded-Prefix", "/../admin");
    allowed(decide(
        &mut gate,
        &climbing.dpop(&token, &proof(&token).build()),
    ));
}

#[test]
fn proof_ath_is_the_hash_of_this_token() {
    let mut gate = dpop_gate();
    let token = bound_token();
    let other = bound().sub("someone_else").build();
    for builder in [
        proof(&token).access_token(&other),
        proof(&token).claim("ath", json!("")),
        proof(&token).claim("ath", json!(1)),
    ] {
        assert_eq!(
            dpop_deny(&mut gate, &token, &builder),
            invalid_proof("DPoP proof ath mismatch")
        );
    }
}

#[test]
fn proof_nonce_of_another_type_is_refused() {
    let mut gate = dpop_gate();
    let token = bound_token();
    assert_eq!(
        dpop_deny(&mut gate, &token, &proof(&token).claim("nonce", json!(5))),
        invalid_proof("Invalid DPoP proof nonce")
    );
    // Without `dpop_nonce` configured, a string nonce is ignored.
    allowed(decide(
        &mut gate,
        &dpop_request(&token, &proof(&token).nonce("anything")),
    ));
}

// ---- DPoP: server nonces ----

fn nonces() -> Nonces {
    Nonces::new(&NONCE_SECRET_BYTES, NONCE_LIFETIME).unwrap()
}

#[test]
fn proof_without_a_nonce_gets_one() {
    let mut gate = gate(nonce_config());
    let token = bound_token();
    let denial = dpop_deny(&mut gate, &token, &proof(&token));
    let issued = nonces().issue(NOW_MS);
    assert_eq!(
        denial,
        Denial::UseDpopNonce {
            description: "Resource server requires nonce in DPoP proof".into(),
            nonce: issued.clone()
        }
    );
    assert!(!issued.is_empty());
    // The client retries with it.
    let ok = allowed(decide(
        &mut gate,
        &dpop_request(&token, &proof(&token).nonce(&issued)),
    ));
    assert_eq!(ok.next_nonce, None);
}

#[test]
fn nonce_past_half_its_lifetime_is_accepted_and_a_next_one_is_sent() {
    let mut gate = gate(nonce_config());
    let token = bound_token();
    // Issued a full lifetime ago: still accepted, but due for refreshing.
    let old = nonces().issue(NOW_MS - NONCE_LIFETIME * 1000);
    let ok = allowed(decide(
        &mut gate,
        &dpop_request(&token, &proof(&token).nonce(&old)),
    ));
    assert_eq!(ok.next_nonce, Some(nonces().issue(NOW_MS)));
}

#[test]
fn expired_nonce_gets_a_fresh_one() {
    let mut gate = gate(nonce_config());
    let token = bound_token();
    let stale = nonces().issue(NOW_MS - 2 * NONCE_LIFETIME * 1000);
    assert_eq!(
        dpop_deny(&mut gate, &token, &proof(&token).nonce(&stale)),
        Denial::UseDpopNonce {
            description: "DPoP proof nonce has expired".into(),
            nonce: nonces().issue(NOW_MS)
        }
    );
}

#[test]
fn foreign_or_forged_nonce_gets_a_fresh_one() {
    let mut gate = gate(nonce_config());
    let token = bound_token();
    let foreign = Nonces::new(&FOREIGN_NONCE_SECRET_BYTES, NONCE_LIFETIME)
        .unwrap()
        .issue(NOW_MS);
    // Same secret, another lifetime: another time scale, so not ours either.
    let other_lifetime = Nonces::new(&NONCE_SECRET_BYTES, NONCE_LIFETIME * 2)
        .unwrap()
        .issue(NOW_MS);
    for nonce in [foreign, other_lifetime, "".to_owned(), "x".repeat(32)] {
        assert_eq!(
            dpop_deny(&mut gate, &token, &proof(&token).nonce(&nonce)),
            Denial::UseDpopNonce {
                description: "DPoP proof nonce is invalid".into(),
                nonce: nonces().issue(NOW_MS)
            },
            "{nonce}"
        );
    }
}

#[test]
fn proof_checks_come_before_the_nonce() {
    let mut gate = gate(nonce_config());
    let token = bound_token();
    let wrong_url = proof(&token).claim("htu", json!("https://api.example.com/elsewhere"));
    assert_eq!(
        dpop_deny(&mut gate, &token, &wrong_url),
        invalid_proof("DPoP proof htu mismatch")
    );
    assert_eq!(
        dpop_deny(&mut gate, &token, &proof(&token).claim("nonce", json!(5))),
        invalid_proof("Invalid DPoP proof nonce")
    );
}

#[test]
fn nonce_is_checked_before_replay_and_a_refused_proof_is_not_recorded() {
    let mut gate = gate(nonce_config());
    let mut store = MemoryReplay::new();
    let token = bound_token();
    let first = proof(&token).jti("retry-jti");
    let denial = denied(gate.authorize(&dpop_request(&token, &first).view(), &mut store, NOW_MS));
    let nonce = match denial {
        Denial::UseDpopNonce { nonce, .. } => nonce,
        other => panic!("expected use_dpop_nonce, got {other:?}"),
    };
    assert!(store.calls.is_empty());
    // The retry may reuse the jti: the refused proof was never recorded.
    let retry = first.nonce(&nonce);
    allowed(gate.authorize(&dpop_request(&token, &retry).view(), &mut store, NOW_MS));
    assert_eq!(store.calls.len(), 1);
}

// ---- DPoP: replay ----

#[test]
fn same_proof_twice_is_a_replay() {
    let mut gate = dpop_gate();
    let mut store = MemoryReplay::new();
    let token = bound_token();
    let request = dpop_request(&token, &proof(&token).jti("once"));
    allowed(gate.authorize(&request.view(), &mut store, NOW_MS));
    assert_eq!(
        denied(gate.authorize(&request.view(), &mut store, NOW_MS)),
        invalid_proof(REPLAYED)
    );
    // Still refused later within its window...
    let later = (NOW + DPOP_IAT_OFFSET) * 1000;
    assert_eq!(
        denied(gate.authorize(&request.view(), &mut store, later)),
        invalid_proof(REPLAYED)
    );
    // ...and after it, refused as too old instead.
    let after = (NOW + DPOP_IAT_OFFSET + 1) * 1000;
    assert_eq!(
        denied(gate.authorize(&request.view(), &mut store, after)),
        invalid_proof("DPoP Proof iat is too old")
    );
}

#[test]
fn replay_entry_is_the_key_and_jti_remembered_for_the_whole_window() {
    let mut gate = dpop_gate();
    let mut store = MemoryReplay::new();
    let token = bound_token();
    let request = dpop_request(&token, &proof(&token).jti("jti-1"));
    allowed(gate.authorize(&request.view(), &mut store, NOW_MS + 500));
    let hash = replay::entry_hash(&Key::Client1.thumbprint(), "jti-1");
    assert_eq!(store.calls, vec![(hash, NOW + DPOP_IAT_OFFSET + 1, NOW)]);
}

#[test]
fn same_jti_from_another_client_is_not_a_replay() {
    let mut gate = dpop_gate();
    let mut store = MemoryReplay::new();
    let first = bound_token();
    allowed(gate.authorize(
        &dpop_request(&first, &proof(&first).jti("shared")).view(),
        &mut store,
        NOW_MS,
    ));
    let second = good().bound_to(Key::Client2).build();
    let other = testbed::ProofBuilder::new(Key::Client2, "GET", PRIVATE_URL)
        .access_token(&second)
        .iat(NOW)
        .jti("shared");
    allowed(gate.authorize(&dpop_request(&second, &other).view(), &mut store, NOW_MS));
}

#[test]
fn full_replay_store_is_unavailable() {
    let mut gate = dpop_gate();
    let token = bound_token();
    let request = dpop_request(&token, &proof(&token));
    let denial =
        denied(gate.authorize(&request.view(), &mut FullReplay { retry_after: 5 }, NOW_MS));
    assert_eq!(denial, Denial::Unavailable { retry_after: 5 });
    // The bounded in-memory store behaves the same way once its one entry is taken.
    let mut store = MemoryReplay::with_capacity(1);
    allowed(gate.authorize(
        &dpop_request(&token, &proof(&token)).view(),
        &mut store,
        NOW_MS,
    ));
    let denial = denied(gate.authorize(
        &dpop_request(&token, &proof(&token)).view(),
        &mut store,
        NOW_MS,
    ));
    assert_eq!(
        denial,
        Denial::Unavailable {
            retry_after: DPOP_IAT_OFFSET + 1
        }
    );
}

#[test]
fn only_proofs_that_passed_every_proof_check_are_recorded() {
    let mut gate = dpop_gate();
    let mut store = MemoryReplay::new();
    let token = bound_token();
    let failing = [
        dpop_request(&token, &proof(&token).claim("htm", json!("POST")).jti("j")),
        dpop_request(&token, &proof(&token).iat(NOW - 1000).jti("j")),
        dpop_request(&token, &proof(&token).signing_key(Key::Client2).jti("j")),
        dpop_request(&expired_token(), &proof(&expired_token()).jti("j")),
        dpop_request(&good_token(), &proof(&good_token()).jti("j")),
    ];
    for request in &failing {
        denied(gate.authorize(&request.view(), &mut store, NOW_MS));
    }
    assert!(store.calls.is_empty());
    allowed(gate.authorize(
        &dpop_request(&token, &proof(&token).jti("j")).view(),
        &mut store,
        NOW_MS,
    ));
}

#[test]
fn replay_is_checked_before_the_binding() {
    // The contract lists the binding after every proof check, the replay check included.
    let mut gate = dpop_gate();
    let mut store = MemoryReplay::new();
    let token = good().bound_to(Key::Client2).build();
    let request = dpop_request(&token, &proof(&token).jti("mismatch"));
    assert_eq!(
        denied(gate.authorize(&request.view(), &mut store, NOW_MS)),
        invalid_token(Scheme::DPoP, CNF_MISMATCH)
    );
    assert_eq!(
        denied(gate.authorize(&request.view(), &mut store, NOW_MS)),
        invalid_proof(REPLAYED)
    );
}

#[test]
fn replay_check_off_accepts_a_proof_twice_and_stores_nothing() {
    let mut gate = gate(config_with(json!({"dpop_replay_check": false})));
    let mut store = MemoryReplay::new();
    let token = bound_token();
    let request = dpop_request(&token, &proof(&token));
    allowed(gate.authorize(&request.view(), &mut store, NOW_MS));
    allowed(gate.authorize(&request.view(), &mut store, NOW_MS));
    assert!(store.calls.is_empty());
}

// ---- the verified-token cache ----

#[test]
fn second_request_with_the_same_token_is_answered_from_the_cache() {
    let mut gate = default_gate();
    let token = good_token();
    let first = allowed(decide(&mut gate, &Request::private().bearer(&token)));
    let second = allowed(decide(&mut gate, &Request::private().bearer(&token)));
    assert!(Rc::ptr_eq(&first.token, &second.token));
    assert_eq!(gate.tokens.len(), 1);
}

#[test]
fn cached_token_stops_vouching_once_its_keys_change() {
    let mut gate = default_gate();
    let token = good_token();
    allowed(decide(&mut gate, &Request::private().bearer(&token)));
    // `rsa-1` leaves the key set: a cache hit still needs its key, so the token fails at once,
    // and once the gate is told the entry is gone too.
    gate.keys
        .keys_fetched(0, Rc::new(key_set(&[Key::Rsa2])), None, NOW);
    assert_eq!(
        deny(&mut gate, &Request::private().bearer(&token)),
        invalid_token(Scheme::Bearer, "No key matches the token's key ID")
    );
    gate.keys_changed(0);
    assert_eq!(
        deny(&mut gate, &Request::private().bearer(&token)),
        invalid_token(Scheme::Bearer, "No key matches the token's key ID")
    );
    assert!(gate.tokens.is_empty());
}

#[test]
fn keys_changed_drops_only_that_source() {
    let mut gate = gate(two_issuer_config());
    let first = good_token();
    let second = good().issuer_domain(SECOND_DOMAIN).build();
    let cached_second = allowed(decide(&mut gate, &Request::private().bearer(&second)));
    allowed(decide(&mut gate, &Request::private().bearer(&first)));
    gate.keys_changed(0);
    assert_eq!(gate.tokens.len(), 1);
    let again = allowed(decide(&mut gate, &Request::private().bearer(&second)));
    assert!(Rc::ptr_eq(&cached_second.token, &again.token));
}

#[test]
fn expired_cached_token_is_refused() {
    let mut gate = default_gate();
    let token = good().claim("exp", json!(NOW + 100)).build();
    let first = allowed(decide(&mut gate, &Request::private().bearer(&token)));
    let last_second = NOW + 100 + SKEW - 1;
    let still = allowed(decide_at(
        &mut gate,
        &Request::private().bearer(&token),
        last_second,
    ));
    assert!(Rc::ptr_eq(&first.token, &still.token));
    assert_eq!(
        denied(decide_at(
            &mut gate,
            &Request::private().bearer(&token),
            last_second + 1
        )),
        invalid_token(Scheme::Bearer, EXPIRED)
    );
}

#[test]
fn failures_are_never_cached() {
    let mut gate = default_gate();
    let token = bad_signature_token();
    for _ in 0..2 {
        assert_eq!(
            deny(&mut gate, &Request::private().bearer(&token)),
            invalid_token(Scheme::Bearer, "Invalid token signature")
        );
    }
    assert!(gate.tokens.is_empty());
}

#[test]
fn token_not_yet_valid_is_accepted_once_it_is() {
    let mut gate = default_gate();
    let token = good().claim("nbf", json!(NOW + SKEW + 10)).build();
    assert_eq!(
        deny(&mut gate, &Request::private().bearer(&token)),
        invalid_token(Scheme::Bearer, "Token is not yet valid")
    );
    allowed(decide_at(
        &mut gate,
        &Request::private().bearer(&token),
        NOW + 10,
    ));
}

#[test]
fn token_that_needed_keys_is_accepted_once_they_arrive() {
    let config = config();
    let keys = empty_key_cache(&config);
    let mut gate = Gate::new(Rc::new(config), keys);
    let request = Request::private().bearer(&good_token());
    assert_eq!(
        needs_keys(decide(&mut gate, &request)),
        (0, FetchReason::Refresh)
    );
    assert!(gate.tokens.is_empty());
    gate.keys.fetch_started(0, FetchReason::Refresh, NOW);
    gate.keys.keys_fetched(0, Rc::new(issuer_keys()), None, NOW);
    gate.keys_changed(0);
    allowed(decide(&mut gate, &request));
}

#[test]
fn token_with_a_kid_published_later_is_accepted_after_the_refetch() {
    let mut gate = gate(config());
    let token = good().key(Key::Rsa2).kid("rsa-2-new").build();
    assert_eq!(
        deny(&mut gate, &Request::private().bearer(&token)),
        invalid_token(Scheme::Bearer, "No key matches the token's key ID")
    );
    let mut rotated = Key::Rsa2.public_jwk();
    rotated["kid"] = json!("rsa-2-new");
    gate.keys.keys_fetched(
        0,
        Rc::new(jwks(&json!({"keys": [Key::Rsa1.public_jwk(), rotated]}))),
        None,
        NOW,
    );
    gate.keys_changed(0);
    allowed(decide(&mut gate, &Request::private().bearer(&token)));
}

#[test]
fn cached_token_still_meets_the_route_and_scheme_rules() {
    let mut gate = default_gate();
    // Cached through DPoP, then offered as Bearer.
    let bound = bound_token();
    allowed(decide(&mut gate, &dpop_request(&bound, &proof(&bound))));
    assert_eq!(
        deny(&mut gate, &Request::private().bearer(&bound)),
        invalid_token(Scheme::Bearer, BOUND_TOKEN_ON_BEARER)
    );
    // Cached through Bearer, then offered as DPoP.
    let plain = good_token();
    allowed(decide(&mut gate, &Request::private().bearer(&plain)));
    assert_eq!(
        dpop_deny(&mut gate, &plain, &proof(&plain)),
        invalid_token(Scheme::DPoP, NO_JKT)
    );
    // Cached on one route, then used on a route that needs a scope it lacks.
    assert_eq!(
        deny(&mut gate, &Request::get("/api/messages").bearer(&plain)),
        Denial::InsufficientScope {
            scheme: Scheme::Bearer,
            scopes: "read:messages".into()
        }
    );
    // A cached bound token still needs a fresh, matching proof every time.
    let mismatched = testbed::ProofBuilder::new(Key::Client2, "GET", PRIVATE_URL)
        .access_token(&bound)
        .iat(NOW);
    assert_eq!(
        dpop_deny(&mut gate, &bound, &mismatched),
        invalid_token(Scheme::DPoP, CNF_MISMATCH)
    );
}

#[test]
fn cached_token_gets_the_same_answer_once_its_keys_are_too_stale_to_serve() {
    let config = config_with(json!({"jwks_max_stale_seconds": 0}));
    let ttl = config.jwks_cache_ttl;
    let mut keys = empty_key_cache(&config);
    keys.keys_fetched(0, Rc::new(issuer_keys()), None, NOW);
    let mut gate = Gate::new(Rc::new(config), keys);
    let cached = good_token();
    allowed(decide(&mut gate, &Request::private().bearer(&cached)));
    // The keys' lifetime ends and the refresh fails: with no stale allowance nothing may serve.
    let end = NOW + ttl;
    gate.keys.fetch_started(0, FetchReason::Refresh, end);
    let backoff = gate.keys.fetch_failed(0, end);
    let uncached = good().sub("user_456").build();
    assert_eq!(
        denied(decide_at(
            &mut gate,
            &Request::private().bearer(&uncached),
            end
        )),
        Denial::Unavailable {
            retry_after: backoff
        }
    );
    assert_eq!(
        denied(decide_at(
            &mut gate,
            &Request::private().bearer(&cached),
            end
        )),
        Denial::Unavailable {
            retry_after: backoff
        }
    );
}

#[test]
fn inline_keys_verify_without_any_fetch() {
    let mut gate = inline_gate();
    allowed(decide(&mut gate, &Request::private().bearer(&good_token())));
    allowed(decide_at(
        &mut gate,
        &Request::private().bearer(&good().issued_at(NOW + 10 * 86400).build()),
        NOW + 10 * 86400,
    ));
}

#[test]
fn inline_keys_unknown_kid_is_a_token_problem() {
    let mut gate = inline_gate();
    assert_eq!(
        denied(decide(
            &mut gate,
            &Request::private().bearer(&unknown_kid_token())
        )),
        invalid_token(Scheme::Bearer, "No key matches the token's key ID")
    );
}

#[test]
fn nonce_is_accepted_for_at_least_its_lifetime_and_at_most_twice_it() {
    let lifetime_ms = NONCE_LIFETIME * 1000;
    let mut gate = gate(nonce_config());
    let token = bound_token();
    let at = |ms: u64, nonce: Option<&str>| {
        let mut builder = proof(&token).iat(ms / 1000);
        if let Some(nonce) = nonce {
            builder = builder.nonce(nonce);
        }
        (dpop_request(&token, &builder), ms)
    };
    // Issue times spread over several nonce slots, including both ends of one.
    for offset in [0, 1, 7_919, 19_999, 20_000, 29_999, 30_000, 44_444, 59_999] {
        let issued_at = NOW_MS + offset;
        let (request, ms) = at(issued_at, None);
        let nonce = match denied(gate.authorize(&request.view(), &mut MemoryReplay::new(), ms)) {
            Denial::UseDpopNonce { nonce, .. } => nonce,
            other => panic!("expected use_dpop_nonce, got {other:?}"),
        };
        let (request, ms) = at(issued_at + lifetime_ms, Some(&nonce));
        allowed(gate.authorize(&request.view(), &mut MemoryReplay::new(), ms));
        let (request, ms) = at(issued_at + 2 * lifetime_ms + 1, Some(&nonce));
        match denied(gate.authorize(&request.view(), &mut MemoryReplay::new(), ms)) {
            Denial::UseDpopNonce { description, .. } => {
                assert_eq!(
                    description, "DPoP proof nonce has expired",
                    "issued at +{offset} ms"
                )
            }
            other => panic!("issued at +{offset} ms: expected use_dpop_nonce, got {other:?}"),
        }
    }
}

#[test]
fn unusable_nonce_configuration_refuses_proofs_rather_than_skipping_nonces() {
    let mut config = nonce_config();
    config.dpop.nonce = Some(NonceConfig {
        secret: vec![7; 8],
        lifetime: NONCE_LIFETIME,
    });
    let keys = {
        let mut keys = empty_key_cache(&config);
        keys.keys_fetched(0, Rc::new(issuer_keys()), None, NOW);
        keys
    };
    let mut gate = Gate::new(Rc::new(config), keys);
    let token = bound_token();
    assert_eq!(
        denied(decide(&mut gate, &dpop_request(&token, &proof(&token)))),
        Denial::Internal
    );
}

// ---- per-route issuers and audiences ----

/// Two tenants on one gateway: `/a/` takes tokens from the first only, `/b/` from the second
/// only and only for [`OTHER_AUDIENCE`]; other routes take either.
fn two_tenant_gate() -> Gate {
    let mut doc = base_config();
    if let serde_json::Value::Object(map) = &mut doc {
        map.remove("domain");
        map.insert("domains".into(), json!([DOMAIN, SECOND_DOMAIN]));
        map.insert(
            "rules".into(),
            json!([
                {"match": {"prefix": "/a/"}, "issuers": [DOMAIN]},
                {"match": {"prefix": "/b/"}, "issuers": [format!("https://{SECOND_DOMAIN}/")],
                 "audiences": [OTHER_AUDIENCE], "scopes": "read:messages"}
            ]),
        );
    }
    gate(parse_config(&doc))
}

#[test]
fn a_route_takes_tokens_only_from_its_issuers() {
    let mut gate = two_tenant_gate();
    let first = good_token();
    let second = good().issuer_domain(SECOND_DOMAIN).build();
    allowed(decide(&mut gate, &Request::get("/a/x").bearer(&first)));
    allowed(decide(&mut gate, &Request::private().bearer(&second)));
    // The second tenant's valid token, now cached, is still not accepted on the first's route.
    for _ in 0..2 {
        assert_eq!(
            deny(&mut gate, &Request::get("/a/x").bearer(&second)),
            invalid_token(Scheme::Bearer, "Token issuer is not accepted on this route")
        );
    }
    assert_eq!(
        deny(&mut gate, &Request::get("/b/x").bearer(&first)),
        invalid_token(Scheme::Bearer, "Token issuer is not accepted on this route")
    );
}

#[test]
fn a_route_takes_tokens_only_for_its_audiences_before_looking_at_scopes() {
    let mut gate = two_tenant_gate();
    let for_api = good()
        .issuer_domain(SECOND_DOMAIN)
        .scope("read:messages")
        .build();
    assert_eq!(
        deny(&mut gate, &Request::get("/b/x").bearer(&for_api)),
        invalid_token(
            Scheme::Bearer,
            "Token audience is not accepted on this route"
        )
    );
    let unscoped = good()
        .issuer_domain(SECOND_DOMAIN)
        .aud(json!([AUDIENCE, OTHER_AUDIENCE]))
        .scope("")
        .build();
    assert!(matches!(
        deny(&mut gate, &Request::get("/b/x").bearer(&unscoped)),
        Denial::InsufficientScope { .. }
    ));
    let good_for_b = good()
        .issuer_domain(SECOND_DOMAIN)
        .aud(json!(OTHER_AUDIENCE))
        .scope("read:messages")
        .build();
    allowed(decide(&mut gate, &Request::get("/b/x").bearer(&good_for_b)));
}
