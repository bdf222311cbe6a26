//! How the access token and the DPoP proof fit together in real Envoy (issue 3,
//! "Behaviour" and "Challenges"): the order of the checks, the `cnf` claim, the binding to
//! the proof's key, scopes after the proof, the Bearer/DPoP scheme rules in each mode
//! (`dpop_required`, `dpop_enabled: false`), the exact `WWW-Authenticate` lines, and the
//! forwarding options that touch DPoP.
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
mod dpop_support;

use common::*;
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
const EXPIRED: &str = "Token has expired";
const BAD_TOKEN_SIGNATURE: &str = "Invalid token signature";
const MULTIPLE_CREDENTIALS: &str = "Multiple credentials are not allowed";

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

#[test]
fn order_of_checks_and_binding() {
    let stack = start();
    let s = &stack;
    let main = MAIN_LISTENER;
    let token = bound_token(s, Key::Client1);
    let proof_for_token = |token: &str| proof_for(s, main, Key::Client1, "GET", PRIVATE, token);
    let refused = |token: &str, proof: &ProofBuilder, expected: Refusal| {
        assert_refused(
            s,
            main,
            &dpop_request(PRIVATE, token, &proof.build()),
            &expected,
        )
    };
    let expired = s
        .token()
        .bound_to(Key::Client1)
        .issued_at(unix_now() - 7200)
        .build();
    let forged = tamper::flip_signature_bit(&token);
    let mut cases = Cases::new("order of checks and binding");

    // An undecodable proof is reported before anything about the token.
    cases.case("undecodable proof with a valid token", || {
        let request = dpop_request(PRIVATE, &token, "x.y.z");
        assert_refused(s, main, &request, &Refusal::proof(UNDECODABLE));
    });
    cases.case("undecodable proof with an expired token", || {
        let request = dpop_request(PRIVATE, &expired, "x.y.z");
        assert_refused(s, main, &request, &Refusal::proof(UNDECODABLE));
    });
    cases.case("undecodable proof with a token that is not a JWT", || {
        let request = dpop_request(PRIVATE, "not-a-token", "eyJhbGciOiJFUzI1NiJ9");
        assert_refused(s, main, &request, &Refusal::proof(UNDECODABLE));
    });

    // Then the token, exactly as for Bearer, answered on the DPoP challenge.
    cases.case("expired token with a valid proof", || {
        refused(
            &expired,
            &proof_for_token(&expired),
            Refusal::dpop_token(EXPIRED),
        )
    });
    cases.case("token with a forged signature and a valid proof", || {
        refused(
            &forged,
            &proof_for_token(&forged),
            Refusal::dpop_token(BAD_TOKEN_SIGNATURE),
        )
    });
    cases.case(
        "expired token with a proof that fails its own checks",
        || {
            let bad_proof = proof_for_token(&expired).claim("htm", json!("POST"));
            refused(&expired, &bad_proof, Refusal::dpop_token(EXPIRED))
        },
    );

    // Then the token must be bound.
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
        cases.case(name, || {
            let token = token_with_cnf(s, cnf);
            refused(
                &token,
                &proof_for_token(&token),
                Refusal::dpop_token(description),
            )
        });
    }
    cases.case(
        "unbound token with a proof that fails its own checks",
        || {
            let token = token_with_cnf(s, None);
            let bad_proof = proof_for_token(&token).claim("htm", json!("POST"));
            refused(&token, &bad_proof, Refusal::dpop_token(NO_JKT))
        },
    );

    // Then the proof, then the binding of the two.
    cases.case("token bound to client-2, proof by client-1", || {
        let token = bound_token(s, Key::Client2);
        refused(
            &token,
            &proof_for_token(&token),
            Refusal::dpop_token(JKT_MISMATCH),
        )
    });
    cases.case(
        "token bound to another key and a proof that fails its own checks",
        || {
            let token = bound_token(s, Key::Client2);
            let bad_proof = proof_for_token(&token).claim("htm", json!("POST"));
            refused(&token, &bad_proof, Refusal::proof(HTM_MISMATCH))
        },
    );
    cases.case("token bound to a thumbprint of another encoding", || {
        let padded = format!("{}=", Key::Client1.thumbprint());
        let token = s.token().cnf_jkt(&padded).build();
        refused(
            &token,
            &proof_for_token(&token),
            Refusal::dpop_token(JKT_MISMATCH),
        )
    });

    // Scopes last: 403 only once the proof and binding hold.
    let messages = || s.token().bound_to(Key::Client1).scope("openid");
    cases.case("missing scope after a valid proof", || {
        let token = messages().build();
        let proof = proof_for(s, main, Key::Client1, "GET", "/api/messages", &token).build();
        let expected = Refusal::new(
            403,
            "insufficient_scope",
            INSUFFICIENT_SCOPES,
            "Bearer realm=\"api\", DPoP error=\"insufficient_scope\", error_description=\"Insufficient scopes\", scope=\"read:messages\", algs=\"ES256\"",
        );
        assert_refused(s, main, &dpop_request("/api/messages", &token, &proof), &expected);
    });
    cases.case("missing scopes on a route needing two", || {
        let token = messages().scope("read:data").build();
        let proof = proof_for(s, main, Key::Client1, "POST", "/api/data", &token).build();
        let expected = Refusal::new(
            403,
            "insufficient_scope",
            INSUFFICIENT_SCOPES,
            "Bearer realm=\"api\", DPoP error=\"insufficient_scope\", error_description=\"Insufficient scopes\", scope=\"read:data write:data\", algs=\"ES256\"",
        );
        let request = Request::post("/api/data").dpop(&token, &proof);
        assert_refused(s, main, &request, &expected);
    });
    cases.case(
        "missing scope and a bad proof: the proof's 401 comes first",
        || {
            let token = messages().build();
            let proof = proof_for(s, main, Key::Client1, "GET", "/api/messages", &token)
                .iat(unix_now() - 400);
            let request = dpop_request("/api/messages", &token, &proof.build());
            assert_refused(s, main, &request, &Refusal::proof(IAT_TOO_OLD));
        },
    );
    cases.case(
        "missing scope and a key mismatch: the mismatch comes first",
        || {
            let token = s.token().bound_to(Key::Client2).scope("openid").build();
            let proof = proof_for(s, main, Key::Client1, "GET", "/api/messages", &token).build();
            let request = dpop_request("/api/messages", &token, &proof);
            assert_refused(s, main, &request, &Refusal::dpop_token(JKT_MISMATCH));
        },
    );
    cases.case("the scope granted", || {
        let token = messages().scope("read:messages").build();
        let proof = proof_for(s, main, Key::Client1, "GET", "/api/messages", &token).build();
        assert_allowed(s, main, &dpop_request("/api/messages", &token, &proof));
    });

    cases.finish();
}

#[test]
fn schemes_challenges_and_forwarding() {
    let stack = start();
    let s = &stack;
    let main = MAIN_LISTENER;
    let bound = bound_token(s, Key::Client1);
    let unbound = s.token().build();
    let valid_proof = |listener: &str, token: &str| {
        proof_for(s, listener, Key::Client1, "GET", PRIVATE, token).build()
    };
    let mut cases = Cases::new("schemes, challenges and forwarding");

    // Bearer next to DPoP (the default mode).
    cases.case("bound token on the Bearer scheme", || {
        let expected = Refusal::new(
            401,
            "invalid_token",
            BOUND_TOKEN_ON_BEARER,
            &bearer_error_challenge("invalid_token", BOUND_TOKEN_ON_BEARER, &["ES256"]),
        );
        assert_refused(s, main, &Request::get(PRIVATE).bearer(&bound), &expected);
    });
    cases.case("Bearer scheme with a DPoP header", || {
        let request = Request::get(PRIVATE)
            .bearer(&unbound)
            .header("DPoP", &valid_proof(main, &unbound));
        let expected = Refusal::new(
            400,
            "invalid_request",
            PROOF_ON_BEARER,
            &bearer_error_challenge("invalid_request", PROOF_ON_BEARER, &["ES256"]),
        );
        assert_refused(s, main, &request, &expected);
    });
    cases.case(
        "bound token with a DPoP header on the Bearer scheme",
        || {
            let request = Request::get(PRIVATE)
                .bearer(&bound)
                .header("DPoP", &valid_proof(main, &bound));
            let expected = Refusal::new(
                401,
                "invalid_token",
                BOUND_TOKEN_ON_BEARER,
                &bearer_error_challenge("invalid_token", BOUND_TOKEN_ON_BEARER, &["ES256"]),
            );
            assert_refused(s, main, &request, &expected);
        },
    );
    cases.case("an unbound Bearer token passes", || {
        assert_allowed(s, main, &Request::get(PRIVATE).bearer(&unbound));
    });
    cases.case("no credentials", || {
        let expected = Refusal::new(
            401,
            "invalid_request",
            NO_AUTHORIZATION,
            &plain_challenge(&["ES256"]),
        );
        assert_refused(s, main, &Request::get(PRIVATE), &expected);
        for value in ["Basic dXNlcjpwYXNz", "DPoP", ""] {
            let request = Request::get(PRIVATE).header("Authorization", value);
            assert_refused(s, main, &request, &expected);
        }
    });
    cases.case("DPoP and Bearer credentials together", || {
        let request = Request::get(PRIVATE)
            .header("Authorization", &format!("DPoP {bound}"))
            .header("Authorization", &format!("Bearer {unbound}"))
            .header("DPoP", &valid_proof(main, &bound));
        let expected = Refusal::new(
            400,
            "invalid_request",
            MULTIPLE_CREDENTIALS,
            &bearer_error_challenge("invalid_request", MULTIPLE_CREDENTIALS, &["ES256"]),
        );
        assert_refused(s, main, &request, &expected);
    });
    cases.case("invalid token on the Bearer scheme", || {
        let expired = s.token().issued_at(unix_now() - 7200).build();
        let expected = Refusal::new(
            401,
            "invalid_token",
            EXPIRED,
            &bearer_error_challenge("invalid_token", EXPIRED, &["ES256"]),
        );
        assert_refused(s, main, &Request::get(PRIVATE).bearer(&expired), &expected);
    });

    // Several DPoP algorithms: listed in the configured order, on every challenge.
    let several = &SEVERAL[..];
    cases.case("several algs: no credentials", || {
        let expected = Refusal::new(
            401,
            "invalid_request",
            NO_AUTHORIZATION,
            &plain_challenge(several),
        );
        assert_refused(s, SEVERAL_ALGS, &Request::get(PRIVATE), &expected);
    });
    cases.case("several algs: an error on a DPoP request", || {
        let proof = proof_for(s, SEVERAL_ALGS, Key::Client1, "PUT", PRIVATE, &bound).build();
        let request = dpop_request(PRIVATE, &bound, &proof);
        assert_refused(
            s,
            SEVERAL_ALGS,
            &request,
            &Refusal::proof_algs(HTM_MISMATCH, several),
        );
    });
    cases.case("several algs: an error on a Bearer request", || {
        let expected = Refusal::new(
            401,
            "invalid_token",
            BOUND_TOKEN_ON_BEARER,
            &bearer_error_challenge("invalid_token", BOUND_TOKEN_ON_BEARER, several),
        );
        assert_refused(
            s,
            SEVERAL_ALGS,
            &Request::get(PRIVATE).bearer(&bound),
            &expected,
        );
    });

    // dpop_required: Bearer is not offered at all.
    let required_only = format!("DPoP {}", algs(&["ES256"]));
    cases.case("required: an unbound Bearer token", || {
        let expected = Refusal::new(400, "invalid_request", DPOP_REQUIRED, &required_only);
        assert_refused(
            s,
            REQUIRED,
            &Request::get(PRIVATE).bearer(&unbound),
            &expected,
        );
    });
    cases.case("required: a bound token on the Bearer scheme", || {
        let expected = Refusal::new(400, "invalid_request", DPOP_REQUIRED, &required_only);
        assert_refused(
            s,
            REQUIRED,
            &Request::get(PRIVATE).bearer(&bound),
            &expected,
        );
    });
    cases.case("required: no credentials", || {
        let expected = Refusal::new(401, "invalid_request", NO_AUTHORIZATION, &required_only);
        assert_refused(s, REQUIRED, &Request::get(PRIVATE), &expected);
        let basic = Request::get(PRIVATE).header("Authorization", "Basic dXNlcjpwYXNz");
        assert_refused(s, REQUIRED, &basic, &expected);
    });
    cases.case("required: a proof error", || {
        let proof = proof_for(s, REQUIRED, Key::Client1, "GET", "/api/other", &bound).build();
        let expected = Refusal::new(
            401,
            "invalid_dpop_proof",
            HTU_MISMATCH,
            &format!(
                "DPoP error=\"invalid_dpop_proof\", error_description=\"{HTU_MISMATCH}\", algs=\"ES256\""
            ),
        );
        assert_refused(s, REQUIRED, &dpop_request(PRIVATE, &bound, &proof), &expected);
    });
    cases.case("required: the DPoP scheme without a proof", || {
        let request = Request::get(PRIVATE).header("Authorization", &format!("DPoP {bound}"));
        let expected = Refusal::new(
            400,
            "invalid_request",
            PROOF_MISSING,
            &format!(
                "DPoP error=\"invalid_request\", error_description=\"{PROOF_MISSING}\", algs=\"ES256\""
            ),
        );
        assert_refused(s, REQUIRED, &request, &expected);
    });
    cases.case("required: an invalid token on the DPoP scheme", || {
        let token = token_with_cnf(s, None);
        let proof = valid_proof(REQUIRED, &token);
        let expected = Refusal::new(
            401,
            "invalid_token",
            NO_JKT,
            &format!(
                "DPoP error=\"invalid_token\", error_description=\"{NO_JKT}\", algs=\"ES256\""
            ),
        );
        assert_refused(
            s,
            REQUIRED,
            &dpop_request(PRIVATE, &token, &proof),
            &expected,
        );
    });
    cases.case(
        "required: a valid DPoP request passes with its credentials",
        || {
            let proof = valid_proof(REQUIRED, &bound);
            let response = assert_allowed(s, REQUIRED, &dpop_request(PRIVATE, &bound, &proof));
            let echoed = response.echoed().unwrap();
            assert_eq!(
                echoed.header("authorization"),
                Some(format!("DPoP {bound}").as_str())
            );
            assert_eq!(echoed.header("dpop"), Some(proof.as_str()));
        },
    );

    // dpop_enabled: false: DPoP is not offered, and DPoP artefacts on Bearer are ignored.
    cases.case("disabled: the DPoP scheme", || {
        let proof = valid_proof(DISABLED, &bound);
        let expected = Refusal::new(
            400,
            "invalid_request",
            DPOP_DISABLED,
            "Bearer realm=\"api\"",
        );
        assert_refused(
            s,
            DISABLED,
            &dpop_request(PRIVATE, &bound, &proof),
            &expected,
        );
    });
    cases.case(
        "disabled: a bound token with a DPoP header on Bearer passes",
        || {
            let proof = valid_proof(DISABLED, &bound);
            let request = Request::get(PRIVATE).bearer(&bound).header("DPoP", &proof);
            let response = assert_allowed(s, DISABLED, &request);
            assert_eq!(
                response.echoed().unwrap().header("dpop"),
                Some(proof.as_str())
            );
        },
    );
    cases.case("disabled: no credentials", || {
        let expected = Refusal::new(
            401,
            "invalid_request",
            NO_AUTHORIZATION,
            "Bearer realm=\"api\"",
        );
        assert_refused(s, DISABLED, &Request::get(PRIVATE), &expected);
    });
    cases.case("disabled: an invalid Bearer token", || {
        let forged = tamper::flip_signature_bit(&unbound);
        let expected = Refusal::new(
            401,
            "invalid_token",
            BAD_TOKEN_SIGNATURE,
            &format!(
                "Bearer realm=\"api\", error=\"invalid_token\", error_description=\"{BAD_TOKEN_SIGNATURE}\""
            ),
        );
        assert_refused(s, DISABLED, &Request::get(PRIVATE).bearer(&forged), &expected);
    });

    // Forwarding.
    cases.case(
        "strip_authorization removes Authorization and DPoP; cnf.jkt is forwarded",
        || {
            let proof = valid_proof(main, &bound);
            let request = dpop_request(PRIVATE, &bound, &proof).header(JKT_HEADER, "forged");
            let response = assert_allowed(s, main, &request);
            let echoed = response.echoed().unwrap();
            assert!(!echoed.has_header("authorization"), "{echoed:?}");
            assert!(!echoed.has_header("dpop"), "{echoed:?}");
            assert_eq!(
                echoed.header_values(JKT_HEADER),
                [Key::Client1.thumbprint()]
            );
            assert_eq!(echoed.header("x-auth-sub"), Some("user_123"));
        },
    );
    cases.case(
        "an unbound Bearer token forwards no jkt, even a forged one",
        || {
            let request = Request::get(PRIVATE)
                .bearer(&unbound)
                .header(JKT_HEADER, "forged");
            let response = assert_allowed(s, main, &request);
            let echoed = response.echoed().unwrap();
            assert!(!echoed.has_header(JKT_HEADER), "{echoed:?}");
            assert!(!echoed.has_header("authorization"), "{echoed:?}");
        },
    );
    cases.case(
        "without strip_authorization both headers reach the upstream",
        || {
            let proof = valid_proof(PLAIN, &bound);
            let response = assert_allowed(s, PLAIN, &dpop_request(PRIVATE, &bound, &proof));
            let echoed = response.echoed().unwrap();
            assert_eq!(
                echoed.header("authorization"),
                Some(format!("DPoP {bound}").as_str())
            );
            assert_eq!(echoed.header("dpop"), Some(proof.as_str()));
        },
    );

    cases.finish();
}
