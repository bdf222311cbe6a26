//! How the access token and the DPoP proof fit together in real Envoy: the order of the
//! checks, the `cnf` claim, the binding to the proof's key, scopes after the proof, the
//! Bearer/DPoP scheme rules in each mode (`dpop_required`, `dpop_enabled: false`), the exact
//! `WWW-Authenticate` lines, and the forwarding options that touch DPoP.
//!
//! One Envoy serves every mode: the main listener runs the demo configuration with
//! `forward.strip_authorization` and a `cnf.jkt` claim header; the other listeners are
//! named after the setting they change.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;
mod contract;
mod dpop_support;

use common::*;
use contract::*;
use dpop_support::*;
use serde_json::{json, Value};
use testbed::unix_now;

/// The demo configuration, unchanged (DPoP enabled, not required, nothing stripped).
const PLAIN: &str = "plain";
const REQUIRED: &str = "required";
const DISABLED: &str = "disabled";
/// `dpop_algorithms` in a non-canonical order, to see the challenge keep it.
const SEVERAL_ALGS: &str = "several_algs";
const SEVERAL: [&str; 3] = ["PS256", "ES256", "EdDSA"];

const PRIVATE: &str = "/api/private";
const JKT_HEADER: &str = "x-auth-jkt";

static STACK: SharedStack = SharedStack::new();

fn start() -> Stack {
    start_stack(1, |issuer| {
        let main = dpop_config(
            issuer,
            json!({"forward": {
                "claim_headers": {"sub": "x-auth-sub", "scope": "x-auth-scope", "cnf.jkt": JKT_HEADER},
                "strip_authorization": true,
            }}),
        );
        let listeners = vec![
            (PLAIN, demo_config(issuer)),
            (
                REQUIRED,
                dpop_config(issuer, json!({"dpop_required": true})),
            ),
            (
                DISABLED,
                dpop_config(issuer, json!({"dpop_enabled": false})),
            ),
            (
                SEVERAL_ALGS,
                dpop_config(issuer, json!({"dpop_algorithms": SEVERAL})),
            ),
        ];
        (main, listeners)
    })
}

/// What the `several_algs` listener's challenges offer.
fn several_offer() -> Offer {
    default_offer().algs(&SEVERAL)
}

/// What the `required` listener's challenges offer: DPoP alone.
fn required_offer() -> Offer {
    Offer::new(None, Some(&["ES256"]))
}

/// What the `disabled` listener's challenges offer: Bearer alone.
fn disabled_offer() -> Offer {
    Offer::new(Some("api"), None)
}

fn dpop_request(path: &str, token: &str, proof: &str) -> Request {
    Request::get(path).dpop(token, proof)
}

/// A token from the stack's issuer with these `cnf` contents (`None`: no `cnf` at all).
fn token_with_cnf(stack: &Stack, cnf: Option<Value>) -> String {
    let builder = stack.token();
    match cnf {
        Some(cnf) => builder.claim("cnf", cnf).build(),
        None => builder.build(),
    }
}

/// The main listener and tokens bound to `client-1`: valid, expired and forged.
struct Binding {
    stack: StackGuard,
    token: String,
    expired: String,
    forged: String,
}

impl Binding {
    fn new() -> Binding {
        let stack = STACK.lock(start);
        let token = bound_token(&stack, Key::Client1);
        let expired = stack
            .token()
            .bound_to(Key::Client1)
            .issued_at(unix_now() - 7200)
            .build();
        let forged = tamper::flip_signature_bit(&token);
        Binding {
            stack,
            token,
            expired,
            forged,
        }
    }

    /// A valid proof by `client-1` for `GET /api/private` with `token`.
    fn proof_for_token(&self, token: &str) -> ProofBuilder {
        proof_for(
            &self.stack,
            MAIN_LISTENER,
            Key::Client1,
            "GET",
            PRIVATE,
            token,
        )
    }

    /// Sends `token` with `proof` to the main listener: refused as `expected`.
    fn refused(&self, token: &str, proof: &ProofBuilder, expected: Refusal) {
        let request = dpop_request(PRIVATE, token, &proof.build());
        Target::main(&self.stack).refused(&request, &expected, "binding");
    }

    /// A token bound to `client-1` with only `openid`, for the scoped routes.
    fn messages(&self) -> TokenBuilder {
        self.stack.token().bound_to(Key::Client1).scope("openid")
    }
}

// An undecodable proof is reported before anything about the token.
#[test]
fn undecodable_proof_with_a_valid_token() {
    let t = Binding::new();
    let s: &Stack = &t.stack;
    let main = MAIN_LISTENER;
    let token = &t.token;
    let request = dpop_request(PRIVATE, token, "x.y.z");
    Target::listener(s, main).refused(
        &request,
        &invalid_dpop_proof(UNDECODABLE),
        "undecodable proof with a valid token",
    );
}

#[test]
fn undecodable_proof_with_an_expired_token() {
    let t = Binding::new();
    let s: &Stack = &t.stack;
    let main = MAIN_LISTENER;
    let expired = &t.expired;
    let request = dpop_request(PRIVATE, expired, "x.y.z");
    Target::listener(s, main).refused(
        &request,
        &invalid_dpop_proof(UNDECODABLE),
        "undecodable proof with an expired token",
    );
}

#[test]
fn undecodable_proof_with_a_token_that_is_not_a_jwt() {
    let t = Binding::new();
    let s: &Stack = &t.stack;
    let main = MAIN_LISTENER;
    let request = dpop_request(PRIVATE, "not-a-token", "eyJhbGciOiJFUzI1NiJ9");
    Target::listener(s, main).refused(
        &request,
        &invalid_dpop_proof(UNDECODABLE),
        "undecodable proof with a token that is not a JWT",
    );
}

// Then the token, exactly as for Bearer, answered on the DPoP challenge.
#[test]
fn expired_token_with_a_valid_proof() {
    let t = Binding::new();
    let expired = &t.expired;
    t.refused(
        expired,
        &t.proof_for_token(expired),
        invalid_token().on_dpop().described(EXPIRED),
    )
}

#[test]
fn token_with_a_forged_signature_and_a_valid_proof() {
    let t = Binding::new();
    let forged = &t.forged;
    t.refused(
        forged,
        &t.proof_for_token(forged),
        invalid_token().on_dpop().described(BAD_TOKEN_SIGNATURE),
    )
}

#[test]
fn expired_token_with_a_proof_that_fails_its_own_checks() {
    let t = Binding::new();
    let expired = &t.expired;
    let bad_proof = t.proof_for_token(expired).claim("htm", json!("POST"));
    t.refused(
        expired,
        &bad_proof,
        invalid_token().on_dpop().described(EXPIRED),
    )
}

#[test]
fn a_token_without_a_usable_cnf_jkt_is_refused_on_the_dpop_challenge() {
    let t = Binding::new();
    for (name, cnf, description) in [
        ("no cnf", None, NO_JKT),
        ("cnf empty", Some(json!({})), NO_JKT),
        ("cnf a string", Some(json!("jkt")), CNF_FORMAT),
        (
            "cnf an array",
            Some(json!([Key::Client1.thumbprint()])),
            CNF_FORMAT,
        ),
        (
            "cnf without jkt",
            Some(json!({"x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"})),
            CNF_WITHOUT_JKT,
        ),
    ] {
        let token = token_with_cnf(&t.stack, cnf);
        let request = dpop_request(PRIVATE, &token, &t.proof_for_token(&token).build());
        let expected = invalid_token().on_dpop().described(description);
        Target::main(&t.stack).refused(&request, &expected, name);
    }
}

#[test]
fn unbound_token_with_a_proof_that_fails_its_own_checks() {
    let t = Binding::new();
    let s: &Stack = &t.stack;
    let token = token_with_cnf(s, None);
    let bad_proof = t.proof_for_token(&token).claim("htm", json!("POST"));
    t.refused(
        &token,
        &bad_proof,
        invalid_token().on_dpop().described(NO_JKT),
    )
}

// Then the proof, then the binding of the two.
#[test]
fn token_bound_to_client_2_proof_by_client_1() {
    let t = Binding::new();
    let s: &Stack = &t.stack;
    let token = bound_token(s, Key::Client2);
    t.refused(
        &token,
        &t.proof_for_token(&token),
        invalid_token().on_dpop().described(JKT_MISMATCH),
    )
}

#[test]
fn token_bound_to_another_key_and_a_proof_that_fails_its_own_checks() {
    let t = Binding::new();
    let s: &Stack = &t.stack;
    let token = bound_token(s, Key::Client2);
    let bad_proof = t.proof_for_token(&token).claim("htm", json!("POST"));
    t.refused(&token, &bad_proof, invalid_dpop_proof(HTM_MISMATCH))
}

#[test]
fn token_bound_to_a_thumbprint_of_another_encoding() {
    let t = Binding::new();
    let s: &Stack = &t.stack;
    let padded = format!("{}=", Key::Client1.thumbprint());
    let token = s.token().cnf_jkt(&padded).build();
    t.refused(
        &token,
        &t.proof_for_token(&token),
        invalid_token().on_dpop().described(JKT_MISMATCH),
    )
}

#[test]
fn missing_scope_after_a_valid_proof() {
    let t = Binding::new();
    let s: &Stack = &t.stack;
    let main = MAIN_LISTENER;
    let token = t.messages().build();
    let proof = proof_for(s, main, Key::Client1, "GET", "/api/messages", &token).build();
    let expected = insufficient_scope("read:messages").on_dpop();
    Target::listener(s, main).refused(
        &dpop_request("/api/messages", &token, &proof),
        &expected,
        "missing scope after a valid proof",
    );
}

#[test]
fn missing_scopes_on_a_route_needing_two() {
    let t = Binding::new();
    let s: &Stack = &t.stack;
    let main = MAIN_LISTENER;
    let token = t.messages().scope("read:data").build();
    let proof = proof_for(s, main, Key::Client1, "POST", "/api/data", &token).build();
    let expected = insufficient_scope("read:data write:data").on_dpop();
    let request = Request::post("/api/data").dpop(&token, &proof);
    Target::listener(s, main).refused(&request, &expected, "missing scopes on a route needing two");
}

#[test]
fn missing_scope_and_a_bad_proof_the_proofs_401_comes_first() {
    let t = Binding::new();
    let s: &Stack = &t.stack;
    let main = MAIN_LISTENER;
    let token = t.messages().build();
    let proof =
        proof_for(s, main, Key::Client1, "GET", "/api/messages", &token).iat(unix_now() - 400);
    let request = dpop_request("/api/messages", &token, &proof.build());
    Target::listener(s, main).refused(
        &request,
        &invalid_dpop_proof(IAT_TOO_OLD),
        "missing scope and a bad proof: the proof's 401 comes first",
    );
}

#[test]
fn missing_scope_and_a_key_mismatch_the_mismatch_comes_first() {
    let t = Binding::new();
    let s: &Stack = &t.stack;
    let main = MAIN_LISTENER;
    let token = s.token().bound_to(Key::Client2).scope("openid").build();
    let proof = proof_for(s, main, Key::Client1, "GET", "/api/messages", &token).build();
    let request = dpop_request("/api/messages", &token, &proof);
    Target::listener(s, main).refused(
        &request,
        &invalid_token().on_dpop().described(JKT_MISMATCH),
        "missing scope and a key mismatch: the mismatch comes first",
    );
}

#[test]
fn the_scope_granted() {
    let t = Binding::new();
    let s: &Stack = &t.stack;
    let main = MAIN_LISTENER;
    let token = t.messages().scope("read:messages").build();
    let proof = proof_for(s, main, Key::Client1, "GET", "/api/messages", &token).build();
    Target::listener(s, main).allowed(
        &dpop_request("/api/messages", &token, &proof),
        "the scope granted",
    );
}

/// Every listener, with a token bound to `client-1` and an unbound one.
struct Schemes {
    stack: StackGuard,
    bound: String,
    unbound: String,
}

impl Schemes {
    fn new() -> Schemes {
        let stack = STACK.lock(start);
        let bound = bound_token(&stack, Key::Client1);
        let unbound = stack.token().build();
        Schemes {
            stack,
            bound,
            unbound,
        }
    }

    /// A valid proof by `client-1` for `GET /api/private` on `listener`, for `token`.
    fn valid_proof(&self, listener: &str, token: &str) -> String {
        proof_for(&self.stack, listener, Key::Client1, "GET", PRIVATE, token).build()
    }
}

// Bearer next to DPoP (the default mode).
#[test]
fn bound_token_on_the_bearer_scheme() {
    let t = Schemes::new();
    let s: &Stack = &t.stack;
    let main = MAIN_LISTENER;
    let bound = &t.bound;
    let expected = invalid_token().described(BOUND_TOKEN_ON_BEARER);
    Target::listener(s, main).refused(
        &Request::get(PRIVATE).bearer(bound),
        &expected,
        "bound token on the Bearer scheme",
    );
}

#[test]
fn bearer_scheme_with_a_dpop_header() {
    let t = Schemes::new();
    let s: &Stack = &t.stack;
    let main = MAIN_LISTENER;
    let unbound = &t.unbound;
    let request = Request::get(PRIVATE)
        .bearer(unbound)
        .header("DPoP", &t.valid_proof(main, unbound));
    let expected = invalid_request().described(PROOF_ON_BEARER);
    Target::listener(s, main).refused(&request, &expected, "Bearer scheme with a DPoP header");
}

#[test]
fn bound_token_with_a_dpop_header_on_the_bearer_scheme() {
    let t = Schemes::new();
    let s: &Stack = &t.stack;
    let main = MAIN_LISTENER;
    let bound = &t.bound;
    let request = Request::get(PRIVATE)
        .bearer(bound)
        .header("DPoP", &t.valid_proof(main, bound));
    let expected = invalid_token().described(BOUND_TOKEN_ON_BEARER);
    Target::listener(s, main).refused(
        &request,
        &expected,
        "bound token with a DPoP header on the Bearer scheme",
    );
}

#[test]
fn an_unbound_bearer_token_passes() {
    let t = Schemes::new();
    let s: &Stack = &t.stack;
    let main = MAIN_LISTENER;
    let unbound = &t.unbound;
    Target::listener(s, main).allowed(
        &Request::get(PRIVATE).bearer(unbound),
        "an unbound Bearer token passes",
    );
}

#[test]
fn no_credentials() {
    let t = Schemes::new();
    let s: &Stack = &t.stack;
    let main = MAIN_LISTENER;
    let expected = default_offer().no_credentials().described(NO_AUTHORIZATION);
    Target::listener(s, main).refused(&Request::get(PRIVATE), &expected, "no credentials");
    for value in ["Basic dXNlcjpwYXNz", "DPoP", ""] {
        let request = Request::get(PRIVATE).header("Authorization", value);
        Target::listener(s, main).refused(&request, &expected, "no credentials");
    }
}

#[test]
fn dpop_and_bearer_credentials_together() {
    let t = Schemes::new();
    let s: &Stack = &t.stack;
    let main = MAIN_LISTENER;
    let bound = &t.bound;
    let unbound = &t.unbound;
    let request = Request::get(PRIVATE)
        .header("Authorization", &format!("DPoP {bound}"))
        .header("Authorization", &format!("Bearer {unbound}"))
        .header("DPoP", &t.valid_proof(main, bound));
    let expected = invalid_request().described(MULTIPLE_CREDENTIALS);
    Target::listener(s, main).refused(&request, &expected, "DPoP and Bearer credentials together");
}

#[test]
fn invalid_token_on_the_bearer_scheme() {
    let t = Schemes::new();
    let s: &Stack = &t.stack;
    let main = MAIN_LISTENER;
    let expired = s.token().issued_at(unix_now() - 7200).build();
    let expected = invalid_token().described(EXPIRED);
    Target::listener(s, main).refused(
        &Request::get(PRIVATE).bearer(&expired),
        &expected,
        "invalid token on the Bearer scheme",
    );
}

#[test]
fn several_algs_no_credentials() {
    let t = Schemes::new();
    let s: &Stack = &t.stack;
    let expected = several_offer().no_credentials().described(NO_AUTHORIZATION);
    Target::listener(s, SEVERAL_ALGS).refused(
        &Request::get(PRIVATE),
        &expected,
        "several algs: no credentials",
    );
}

#[test]
fn several_algs_an_error_on_a_dpop_request() {
    let t = Schemes::new();
    let s: &Stack = &t.stack;
    let bound = &t.bound;
    let proof = proof_for(s, SEVERAL_ALGS, Key::Client1, "PUT", PRIVATE, bound).build();
    let request = dpop_request(PRIVATE, bound, &proof);
    Target::listener(s, SEVERAL_ALGS).refused(
        &request,
        &several_offer().invalid_dpop_proof(HTM_MISMATCH),
        "several algs: an error on a DPoP request",
    );
}

#[test]
fn several_algs_an_error_on_a_bearer_request() {
    let t = Schemes::new();
    let s: &Stack = &t.stack;
    let bound = &t.bound;
    let expected = several_offer()
        .invalid_token()
        .described(BOUND_TOKEN_ON_BEARER);
    Target::listener(s, SEVERAL_ALGS).refused(
        &Request::get(PRIVATE).bearer(bound),
        &expected,
        "several algs: an error on a Bearer request",
    );
}

#[test]
fn required_an_unbound_bearer_token() {
    let t = Schemes::new();
    let s: &Stack = &t.stack;
    let unbound = &t.unbound;
    let expected = Refusal {
        status: 400,
        ..required_offer().no_credentials().described(DPOP_REQUIRED)
    };
    Target::listener(s, REQUIRED).refused(
        &Request::get(PRIVATE).bearer(unbound),
        &expected,
        "required: an unbound Bearer token",
    );
}

#[test]
fn required_a_bound_token_on_the_bearer_scheme() {
    let t = Schemes::new();
    let s: &Stack = &t.stack;
    let bound = &t.bound;
    let expected = Refusal {
        status: 400,
        ..required_offer().no_credentials().described(DPOP_REQUIRED)
    };
    Target::listener(s, REQUIRED).refused(
        &Request::get(PRIVATE).bearer(bound),
        &expected,
        "required: a bound token on the Bearer scheme",
    );
}

#[test]
fn required_no_credentials() {
    let t = Schemes::new();
    let s: &Stack = &t.stack;
    let expected = required_offer()
        .no_credentials()
        .described(NO_AUTHORIZATION);
    Target::listener(s, REQUIRED).refused(
        &Request::get(PRIVATE),
        &expected,
        "required: no credentials",
    );
    let basic = Request::get(PRIVATE).header("Authorization", "Basic dXNlcjpwYXNz");
    Target::listener(s, REQUIRED).refused(&basic, &expected, "required: no credentials");
}

#[test]
fn required_a_proof_error() {
    let t = Schemes::new();
    let s: &Stack = &t.stack;
    let bound = &t.bound;
    let proof = proof_for(s, REQUIRED, Key::Client1, "GET", "/api/other", bound).build();
    let expected = required_offer().invalid_dpop_proof(HTU_MISMATCH);
    Target::listener(s, REQUIRED).refused(
        &dpop_request(PRIVATE, bound, &proof),
        &expected,
        "required: a proof error",
    );
}

#[test]
fn required_the_dpop_scheme_without_a_proof() {
    let t = Schemes::new();
    let s: &Stack = &t.stack;
    let bound = &t.bound;
    let request = Request::get(PRIVATE).header("Authorization", &format!("DPoP {bound}"));
    let expected = required_offer()
        .invalid_request()
        .on_dpop()
        .described(PROOF_MISSING);
    Target::listener(s, REQUIRED).refused(
        &request,
        &expected,
        "required: the DPoP scheme without a proof",
    );
}

#[test]
fn required_an_invalid_token_on_the_dpop_scheme() {
    let t = Schemes::new();
    let s: &Stack = &t.stack;
    let token = token_with_cnf(s, None);
    let proof = t.valid_proof(REQUIRED, &token);
    let expected = required_offer().invalid_token().on_dpop().described(NO_JKT);
    Target::listener(s, REQUIRED).refused(
        &dpop_request(PRIVATE, &token, &proof),
        &expected,
        "required: an invalid token on the DPoP scheme",
    );
}

#[test]
fn required_a_valid_dpop_request_passes_with_its_credentials() {
    let t = Schemes::new();
    let s: &Stack = &t.stack;
    let bound = &t.bound;
    let proof = t.valid_proof(REQUIRED, bound);
    let echoed = Target::listener(s, REQUIRED).allowed(
        &dpop_request(PRIVATE, bound, &proof),
        "required: a valid DPoP request passes with its credentials",
    );
    assert_eq!(
        echoed.header("authorization"),
        Some(format!("DPoP {bound}").as_str())
    );
    assert_eq!(echoed.header("dpop"), Some(proof.as_str()));
}

// dpop_enabled: false: DPoP is not offered, and DPoP artefacts on Bearer are ignored.
#[test]
fn disabled_the_dpop_scheme() {
    let t = Schemes::new();
    let s: &Stack = &t.stack;
    let bound = &t.bound;
    let proof = t.valid_proof(DISABLED, bound);
    let expected = Refusal {
        status: 400,
        ..disabled_offer().no_credentials().described(DPOP_DISABLED)
    };
    Target::listener(s, DISABLED).refused(
        &dpop_request(PRIVATE, bound, &proof),
        &expected,
        "disabled: the DPoP scheme",
    );
}

#[test]
fn disabled_a_bound_token_with_a_dpop_header_on_bearer_passes() {
    let t = Schemes::new();
    let s: &Stack = &t.stack;
    let bound = &t.bound;
    let proof = t.valid_proof(DISABLED, bound);
    let request = Request::get(PRIVATE).bearer(bound).header("DPoP", &proof);
    let response = Target::listener(s, DISABLED).allowed(
        &request,
        "disabled: a bound token with a DPoP header on Bearer passes",
    );
    assert_eq!(response.header("dpop"), Some(proof.as_str()));
}

#[test]
fn disabled_no_credentials() {
    let t = Schemes::new();
    let s: &Stack = &t.stack;
    let expected = disabled_offer()
        .no_credentials()
        .described(NO_AUTHORIZATION);
    Target::listener(s, DISABLED).refused(
        &Request::get(PRIVATE),
        &expected,
        "disabled: no credentials",
    );
}

#[test]
fn disabled_an_invalid_bearer_token() {
    let t = Schemes::new();
    let s: &Stack = &t.stack;
    let unbound = &t.unbound;
    let forged = tamper::flip_signature_bit(unbound);
    let expected = disabled_offer()
        .invalid_token()
        .described(BAD_TOKEN_SIGNATURE);
    Target::listener(s, DISABLED).refused(
        &Request::get(PRIVATE).bearer(&forged),
        &expected,
        "disabled: an invalid Bearer token",
    );
}

// Forwarding.
#[test]
fn strip_authorization_removes_authorization_and_dpop_cnf_jkt_is_forwarded() {
    let t = Schemes::new();
    let s: &Stack = &t.stack;
    let main = MAIN_LISTENER;
    let bound = &t.bound;
    let proof = t.valid_proof(main, bound);
    let request = dpop_request(PRIVATE, bound, &proof).header(JKT_HEADER, "forged");
    let echoed = Target::listener(s, main).allowed(
        &request,
        "strip_authorization removes Authorization and DPoP; cnf.jkt is forwarded",
    );
    assert!(!echoed.has_header("authorization"), "{echoed:?}");
    assert!(!echoed.has_header("dpop"), "{echoed:?}");
    assert_eq!(
        echoed.header_values(JKT_HEADER),
        [Key::Client1.thumbprint()]
    );
    assert_eq!(echoed.header("x-auth-sub"), Some("user_123"));
}

#[test]
fn an_unbound_bearer_token_forwards_no_jkt_even_a_forged_one() {
    let t = Schemes::new();
    let s: &Stack = &t.stack;
    let main = MAIN_LISTENER;
    let unbound = &t.unbound;
    let request = Request::get(PRIVATE)
        .bearer(unbound)
        .header(JKT_HEADER, "forged");
    let echoed = Target::listener(s, main).allowed(
        &request,
        "an unbound Bearer token forwards no jkt, even a forged one",
    );
    assert!(!echoed.has_header(JKT_HEADER), "{echoed:?}");
    assert!(!echoed.has_header("authorization"), "{echoed:?}");
}

#[test]
fn without_strip_authorization_both_headers_reach_the_upstream() {
    let t = Schemes::new();
    let s: &Stack = &t.stack;
    let bound = &t.bound;
    let proof = t.valid_proof(PLAIN, bound);
    let echoed = Target::listener(s, PLAIN).allowed(
        &dpop_request(PRIVATE, bound, &proof),
        "without strip_authorization both headers reach the upstream",
    );
    assert_eq!(
        echoed.header("authorization"),
        Some(format!("DPoP {bound}").as_str())
    );
    assert_eq!(echoed.header("dpop"), Some(proof.as_str()));
}
