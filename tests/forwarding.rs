//! What the upstream gets, through real Envoy: verified claims as headers, forged copies of
//! those headers removed from every request, `strip_authorization`, `claims_header`; which
//! rule a path meets after normalisation (dot segments, repeated slashes, encoded slashes,
//! query strings); and the CORS preflight bypass and its absence.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;
mod contract;

use common::*;
use contract::Target;
use serde_json::{json, Value};

/// The listener with `strip_authorization` and no CORS preflight bypass.
const STRICT: &str = "strict";

const FORWARDED: [&str; 6] = [
    "x-auth-sub",
    "x-auth-scope",
    "x-auth-scp",
    "x-auth-roles",
    "x-auth-org",
    "x-auth-claims",
];

fn rules() -> Value {
    json!([
        {"match": {"path": "/api/public"}, "require": "none"},
        {"match": {"prefix": "/static/"}, "require": "none"},
        {"match": {"path": "/api/private"}},
        {"match": {"path": "/api/messages", "methods": ["GET"]}, "scopes": "read:messages"},
        {"match": {"path": "/api/data", "methods": ["POST"]}, "scopes": ["read:data", "write:data"]}
    ])
}

fn forwarding_config(issuer: &IssuerHandle) -> Value {
    let config = with(demo_config(issuer), "rules", rules());
    with(
        config,
        "forward",
        json!({
            "claim_headers": {
                "sub": "X-Auth-Sub",
                "scope": "x-auth-scope",
                "scp": "x-auth-scp",
                "https://example.com/roles": "x-auth-roles",
                "org.id": "x-auth-org",
            },
            "claims_header": "x-auth-claims",
        }),
    )
}

/// The main listener's configuration without the CORS bypass, forwarding `sub` only and
/// stripping the credentials.
fn strict_config(main: &Value) -> Value {
    let config = with(main.clone(), "bypass_cors_preflight", json!(false));
    with(
        config,
        "forward",
        json!({"claim_headers": {"sub": "x-auth-sub"}, "strip_authorization": true}),
    )
}

fn forwarding_stack() -> Stack {
    Stack::start_with(IssuerOptions::default(), forwarding_config, |options| {
        let strict = strict_config(options.plugin_config.as_ref().unwrap());
        options.filter_listener(STRICT, &strict)
    })
}

/// `request` with a forged copy (two, in different cases) of every forwarded header.
fn forged(request: Request) -> Request {
    FORWARDED.iter().fold(request, |request, name| {
        request
            .header(name, "forged")
            .header(&name.to_ascii_uppercase(), "forged-again")
    })
}

#[test]
fn verified_claims_are_forwarded_and_forged_copies_never_are() {
    let stack = forwarding_stack();
    let target = Target::main(&stack);
    let token = stack
        .token()
        .scope("openid profile")
        .claim("scp", json!(["read:a", "write:b"]))
        .claim("https://example.com/roles", json!(["admin", "ops"]))
        .claim("org", json!({"id": "org_7"}));
    let bearer = token.build();
    let request = forged(Request::get("/api/private").bearer(&bearer)).header("X-Custom", "kept");
    let echoed = target.allowed(&request, "all claims");
    for (name, value) in [
        ("x-auth-sub", "user_123"),
        ("x-auth-scope", "openid profile"),
        ("x-auth-scp", "read:a write:b"),
        ("x-auth-roles", "admin ops"),
        ("x-auth-org", "org_7"),
    ] {
        assert_eq!(echoed.header_values(name), vec![value], "{name}");
    }
    let claims_header = echoed.header_values("x-auth-claims");
    assert_eq!(
        claims_header.len(),
        1,
        "one claims header: {claims_header:?}"
    );
    let decoded = testbed::b64url_decode(claims_header[0]).expect("unpadded base64url");
    let claims: Value = serde_json::from_slice(&decoded).expect("JSON claims");
    assert_eq!(claims, Value::Object(token.claims_map().clone()));
    assert_eq!(
        echoed.header_values("authorization"),
        vec![format!("Bearer {bearer}")]
    );
    assert_eq!(echoed.header("x-custom"), Some("kept"));

    // Claims the token lacks are not forwarded, and neither are their forged copies.
    let plain = stack.token().remove_claim("scope").build();
    let echoed = target.allowed(
        &forged(Request::get("/api/private").bearer(&plain)),
        "few claims",
    );
    assert_eq!(echoed.header_values("x-auth-sub"), vec!["user_123"]);
    for name in ["x-auth-scope", "x-auth-scp", "x-auth-roles", "x-auth-org"] {
        assert!(
            !echoed.has_header(name),
            "{name} must not reach the upstream"
        );
    }
    assert_eq!(echoed.header_values("x-auth-claims").len(), 1);

    // Requests that pass without a token carry no identity at all.
    let preflight = Request::new("OPTIONS", "/api/private")
        .header("Origin", "https://app.example.com")
        .header("Access-Control-Request-Method", "GET");
    for (case, request) in [
        ("public route", forged(Request::get("/api/public"))),
        ("public prefix", forged(Request::get("/static/app.js"))),
        (
            "public route with a token",
            forged(Request::get("/api/public").bearer(&bearer)),
        ),
        ("CORS preflight", forged(preflight)),
    ] {
        let echoed = target.allowed(&request, case);
        for name in FORWARDED {
            assert!(
                !echoed.has_header(name),
                "{case}: {name} must not reach the upstream"
            );
        }
    }
}

#[test]
fn strip_authorization_removes_the_credentials_before_the_upstream() {
    let stack = forwarding_stack();
    let strict = Target::listener(&stack, STRICT);
    let token = stack.token().build();
    let echoed = strict.allowed(
        &forged(Request::get("/api/private").bearer(&token)),
        "strip_authorization",
    );
    assert!(!echoed.has_header("authorization"));
    assert_eq!(echoed.header_values("x-auth-sub"), vec!["user_123"]);
    // Only configured headers are managed on this listener.
    assert_eq!(
        echoed.header_values("x-auth-claims"),
        vec!["forged", "forged-again"]
    );
}

#[test]
fn rules_apply_to_the_normalised_path() {
    let stack = forwarding_stack();
    let target = Target::main(&stack);
    // Each of these reaches a protected resource and must not pass as public.
    for path in [
        "/api/public/../private",
        "/api/public/./../private",
        "/api/public/%2e%2e/private",
        "/api/public%2F..",
        "/api/public%2f..%2fprivate",
        "/static/../api/private",
        "/static/../../api/private",
        "/static/%2e%2e/api/private",
        "/static/..%2Fapi/private",
        "/static%2F..%2Fapi/private",
        "/static/..;/api/private",
        "/static/%5C..%5Capi/private",
        "/static\\..\\api\\private",
        "/static//../api/private",
        "//api/private",
        "/api//private",
        "/api/private?x=/api/public",
        "/api/private?/static/",
        "/API/PUBLIC",
        "/api/public/../messages",
    ] {
        let response = target.denied(&Request::get(path), path);
        contract::no_credentials().check(&response, path);
    }
    for path in [
        "/api/public",
        "/api/public?x=/api/private",
        "/api/public?next=../private",
        "/api//public",
        "/static/app.js",
        "/static//app.js",
        "/static/css/../app.js",
    ] {
        let echoed = target.allowed(&Request::get(path), path);
        assert_eq!(echoed.path, path, "the upstream gets the path as sent");
    }
    let token = stack.token().build();
    let response = target.denied(
        &Request::get("/api/public/../messages").bearer(&token),
        "scoped route through dot segments",
    );
    contract::insufficient_scope("read:messages")
        .check(&response, "scoped route through dot segments");
}

#[test]
fn cors_preflights_pass_unauthenticated_only_when_bypass_is_on() {
    let stack = forwarding_stack();
    let target = Target::main(&stack);
    let strict = Target::listener(&stack, STRICT);
    let preflight = |path: &str| {
        Request::new("OPTIONS", path)
            .header("Origin", "https://app.example.com")
            .header("Access-Control-Request-Method", "POST")
    };
    let passing = [
        ("preflight", preflight("/api/private")),
        ("preflight to a scoped route", preflight("/api/data")),
        ("preflight to an unmatched route", preflight("/anything")),
        (
            "preflight with a bad token",
            preflight("/api/private").bearer("garbage"),
        ),
    ];
    for (case, request) in &passing {
        target.allowed(request, case);
    }
    for (case, request) in [
        (
            "OPTIONS with Origin only",
            Request::new("OPTIONS", "/api/private").header("Origin", "https://app.example.com"),
        ),
        (
            "OPTIONS with Access-Control-Request-Method only",
            Request::new("OPTIONS", "/api/private").header("Access-Control-Request-Method", "POST"),
        ),
        (
            "GET with preflight headers",
            Request::get("/api/private")
                .header("Origin", "https://app.example.com")
                .header("Access-Control-Request-Method", "POST"),
        ),
    ] {
        let response = target.denied(&request, case);
        contract::no_credentials().check(&response, case);
    }
    assert_eq!(
        contract::filter_stat_once(&stack.gateway, "cors_preflight", passing.len() as u64),
        passing.len() as u64
    );

    let response = strict.denied(&preflight("/api/private"), "bypass off");
    contract::no_credentials().check(&response, "bypass off");
    strict.allowed(
        &preflight("/api/private").bearer(&stack.token().build()),
        "bypass off, with a token",
    );
}
