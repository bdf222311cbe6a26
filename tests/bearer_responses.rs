//! The response contract of the Bearer path, over real HTTP through Envoy: every kind of
//! refusal with its exact status, `WWW-Authenticate`, body and `content-type`, public routes,
//! scheme parsing, and the statistics each outcome moves.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;
mod contract;

use std::time::{Duration, Instant};

use common::*;
use contract::{Offer, Target};
use serde_json::json;

#[test]
fn public_routes_pass_with_any_credentials_or_none() {
    let stack = Stack::start();
    let target = Target::main(&stack);
    let expired = stack.token().expires_in(-3600).build();
    let cases = [
        ("no Authorization", Request::get("/api/public")),
        (
            "garbage token",
            Request::get("/api/public").bearer("not-a-token"),
        ),
        (
            "expired token",
            Request::get("/api/public").bearer(&expired),
        ),
        (
            "Basic credentials",
            Request::get("/api/public").header("Authorization", "Basic dXNlcjpwYXNz"),
        ),
        (
            "two Authorization headers",
            Request::get("/api/public").bearer("a").bearer("b"),
        ),
        ("POST", Request::post("/api/public")),
    ];
    for (case, request) in &cases {
        let echoed = target.allowed(request, case);
        assert!(
            !echoed.has_header("x-auth-sub"),
            "{case}: no identity on a public route"
        );
    }
    let stats = contract::filter_stats_once(&stack.gateway, "public", cases.len() as u64);
    assert_eq!(stats.get("public"), Some(&(cases.len() as u64)));
    assert_eq!(stats.get("allowed"), Some(&0));
}

#[test]
fn missing_empty_and_foreign_credentials_are_401_invalid_request_with_a_plain_challenge() {
    let stack = Stack::start();
    let target = Target::main(&stack);
    let cases = [
        ("no Authorization", Request::get("/api/private")),
        (
            "empty Authorization",
            Request::get("/api/private").header("Authorization", ""),
        ),
        (
            "scheme only",
            Request::get("/api/private").header("Authorization", "Bearer"),
        ),
        (
            "scheme and spaces",
            Request::get("/api/private").header("Authorization", "Bearer    "),
        ),
        (
            "lower-case scheme only",
            Request::get("/api/private").header("Authorization", "bearer"),
        ),
        (
            "Basic",
            Request::get("/api/private").header("Authorization", "Basic dXNlcjpwYXNz"),
        ),
        (
            "unknown scheme",
            Request::get("/api/private").header("Authorization", "Token abc.def.ghi"),
        ),
        (
            "token without a scheme",
            Request::get("/api/private").header("Authorization", &stack.token().build()),
        ),
        ("scoped route", Request::get("/api/messages")),
        (
            "unmatched route (secure default)",
            Request::get("/anything/else"),
        ),
    ];
    for (case, request) in &cases {
        let response = target.denied(request, case);
        contract::no_credentials().check(&response, case);
    }
    assert_eq!(
        contract::filter_stat_once(&stack.gateway, "denied.no_credentials", cases.len() as u64),
        cases.len() as u64
    );
}

#[test]
fn invalid_token_is_401_with_the_error_on_the_bearer_challenge() {
    let stack = Stack::start();
    let target = Target::main(&stack);
    let expired = stack.token().expires_in(-3600).build();
    let forged = stack
        .token()
        .key_alg(Key::AttackerRsa, "RS256")
        .kid(Key::Rsa1.kid())
        .build();
    // A member name the description may quote, holding a quote, CR, LF and a header line.
    let injected = testbed::token::compact(
        r#"{"alg":"RS256","kid":"rsa-1","x\"\r\nSet-Cookie: a=b":1,"x\"\r\nSet-Cookie: a=b":2}"#,
        &serde_json::Value::Object(stack.token().claims_map().clone()).to_string(),
        "RS256",
        &Signer::Key(Key::Rsa1),
    );
    let cases = [
        ("not a JWS", "abc"),
        ("expired", expired.as_str()),
        ("signed by another key", forged.as_str()),
        (
            "quote, CR and LF in a repeated member name",
            injected.as_str(),
        ),
    ];
    let mut descriptions = Vec::new();
    for (case, token) in cases {
        let response = target.denied(&Request::get("/api/private").bearer(token), case);
        descriptions.push(contract::invalid_token().check(&response, case));
    }
    // An expired token is told apart from a forged one.
    assert_ne!(descriptions[1], descriptions[2]);
    let response = target.denied(&Request::get("/api/private").bearer(&injected), "injection");
    assert!(
        response.header("set-cookie").is_none(),
        "no header smuggled"
    );
    assert_eq!(
        contract::filter_stat_once(
            &stack.gateway,
            "denied.invalid_token",
            cases.len() as u64 + 1
        ),
        cases.len() as u64 + 1
    );
    // Each denial's reason is logged at debug level; the token never is.
    let log = stack.gateway.log();
    assert!(
        log.lines()
            .any(|l| l.contains("][debug][wasm]") && l.contains(&descriptions[1])),
        "no debug line gives the reason {:?}",
        descriptions[1]
    );
    for (_, token) in cases {
        assert!(!log.contains(token), "a token reached the log");
    }
}

#[test]
fn missing_scopes_are_403_naming_every_required_scope() {
    let stack = Stack::start();
    let target = Target::main(&stack);
    let token = |scope: &str| stack.token().scope(scope).build();
    let refused = [
        (
            "GET /api/messages, default scopes",
            Request::get("/api/messages").bearer(&token("openid profile")),
            "read:messages",
        ),
        (
            "GET /api/messages, empty scope",
            Request::get("/api/messages").bearer(&token("")),
            "read:messages",
        ),
        (
            "GET /api/messages, scope differs in case",
            Request::get("/api/messages").bearer(&token("READ:messages")),
            "read:messages",
        ),
        (
            "POST /api/data, one of two scopes",
            Request::post("/api/data").bearer(&token("read:data")),
            "read:data write:data",
        ),
        (
            "POST /api/data, the other one",
            Request::post("/api/data").bearer(&token("openid write:data")),
            "read:data write:data",
        ),
    ];
    for (case, request, scopes) in &refused {
        let response = target.denied(request, case);
        contract::insufficient_scope(scopes).check(&response, case);
    }
    let granted = [
        (
            "GET /api/messages",
            Request::get("/api/messages").bearer(&token("read:messages")),
        ),
        (
            "GET /api/messages among others",
            Request::get("/api/messages").bearer(&token("openid read:messages profile")),
        ),
        (
            "POST /api/data with both",
            Request::post("/api/data").bearer(&token("write:data read:data")),
        ),
        // The rule names GET only; other methods fall through to "any valid token".
        (
            "POST /api/messages",
            Request::post("/api/messages").bearer(&token("openid")),
        ),
    ];
    for (case, request) in &granted {
        target.allowed(request, case);
    }
    let stats = contract::filter_stats_once(&stack.gateway, "allowed", granted.len() as u64);
    assert_eq!(
        stats.get("denied.insufficient_scope"),
        Some(&(refused.len() as u64))
    );
    assert_eq!(stats.get("allowed"), Some(&(granted.len() as u64)));
}

#[test]
fn several_credentials_are_400_invalid_request_on_the_bearer_challenge() {
    let stack = Stack::start();
    let target = Target::main(&stack);
    let good = stack.token().build();
    let cases = [
        (
            "two Bearer lines, same token",
            Request::get("/api/private").bearer(&good).bearer(&good),
        ),
        (
            "two Bearer lines, second garbage",
            Request::get("/api/private").bearer(&good).bearer("x"),
        ),
        (
            "Bearer and Basic lines",
            Request::get("/api/private")
                .bearer(&good)
                .header("Authorization", "Basic dXNlcjpwYXNz"),
        ),
        (
            "one line holding two credentials",
            Request::get("/api/private")
                .header("Authorization", &format!("Bearer {good}, Bearer {good}")),
        ),
        (
            "two lines on a public-looking scoped route",
            Request::get("/api/messages").bearer(&good).bearer(&good),
        ),
    ];
    for (case, request) in &cases {
        let response = target.denied(request, case);
        contract::invalid_request().check(&response, case);
    }
    assert_eq!(
        contract::filter_stat_once(&stack.gateway, "denied.invalid_request", cases.len() as u64),
        cases.len() as u64
    );
}

#[test]
fn the_scheme_is_case_insensitive_and_may_be_followed_by_spaces_or_a_tab() {
    let stack = Stack::start();
    let target = Target::main(&stack);
    let token = stack.token().build();
    for authorization in [
        format!("Bearer {token}"),
        format!("bearer {token}"),
        format!("BEARER {token}"),
        format!("bEaReR {token}"),
        format!("Bearer    {token}"),
        format!("Bearer\t{token}"),
        format!("Bearer \t  {token}"),
    ] {
        let case = format!(
            "Authorization: {:?}",
            authorization.replace(&token, "<token>")
        );
        let echoed = target.allowed(
            &Request::get("/api/private").header("Authorization", &authorization),
            &case,
        );
        assert_eq!(echoed.header("x-auth-sub"), Some("user_123"), "{case}");
    }
}

#[test]
fn challenges_follow_the_configured_realm_and_a_disabled_dpop() {
    let stack = Stack::with_config(|issuer| {
        with(
            with(demo_config(issuer), "realm", json!("orders")),
            "dpop_enabled",
            json!(false),
        )
    });
    let target = Target::main(&stack);
    let challenge = Offer::new(Some("orders"), None);
    assert_eq!(
        challenge.no_credentials().challenge_line("any").as_deref(),
        Some(r#"Bearer realm="orders""#)
    );

    let response = target.denied(&Request::get("/api/private"), "no credentials");
    challenge
        .no_credentials()
        .check(&response, "no credentials");

    let response = target.denied(&Request::get("/api/private").bearer("abc"), "invalid token");
    challenge.invalid_token().check(&response, "invalid token");

    let token = stack.token().build();
    let response = target.denied(&Request::get("/api/messages").bearer(&token), "scope");
    challenge
        .insufficient_scope("read:messages")
        .check(&response, "scope");

    let request = Request::get("/api/private").bearer(&token).bearer(&token);
    let response = target.denied(&request, "two credentials");
    challenge
        .invalid_request()
        .check(&response, "two credentials");

    target.allowed(&Request::get("/api/private").bearer(&token), "valid token");
}

#[test]
fn keys_that_cannot_be_obtained_give_503_with_retry_after_and_no_challenge() {
    let stack = Stack::start_with(
        IssuerOptions::default(),
        |issuer| {
            issuer.go_down(Outage::Refuse);
            demo_config(issuer)
        },
        |options| options,
    );
    let target = Target::main(&stack);
    let token = stack.token().build();
    for case in ["first request", "second request"] {
        let started = Instant::now();
        let response = target.denied(&Request::get("/api/private").bearer(&token), case);
        // A refused connection is an answer: nobody waits for a timeout.
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{case}: took {:?}",
            started.elapsed()
        );
        contract::unavailable().check(&response, case);
        let retry_after = contract::retry_after(&response, case);
        assert!(retry_after <= 60, "{case}: Retry-After {retry_after}");
    }
    let response = target.denied(
        &Request::get("/api/messages").bearer(&token),
        "scoped route",
    );
    contract::unavailable().check(&response, "scoped route");

    // What needs no keys is still answered as usual.
    target.allowed(&Request::get("/api/public"), "public route");
    let response = target.denied(&Request::get("/api/private"), "no credentials");
    contract::no_credentials().check(&response, "no credentials");
    let response = target.denied(
        &Request::get("/api/private").bearer("abc"),
        "malformed token",
    );
    contract::invalid_token().check(&response, "malformed token");

    assert_eq!(
        contract::filter_stat_once(&stack.gateway, "denied.keys_unavailable", 3),
        3
    );
    assert!(contract::filter_stat(&stack.gateway, "jwks_fetch.failure") >= 1);
    assert_eq!(
        contract::filter_stat(&stack.gateway, "jwks_fetch.success"),
        0
    );
}
