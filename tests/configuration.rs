//! The plugin configuration in real Envoy: an invalid one makes the plugin refuse to start,
//! with one error line naming the field and the problem (never a silent default, never a
//! panic); several valid ones start side by side and each protects its listener as
//! configured.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;
mod contract;

use std::time::Duration;

use common::*;
use contract::{Offer, Target};
use serde_json::{json, Value};

const REFUSAL_TIMEOUT: Duration = Duration::from_secs(20);

/// The smallest valid configuration for `issuer`.
fn minimal(issuer: &IssuerHandle) -> Value {
    json!({"domain": issuer.domain(), "audience": issuer.audience(), "upstream": ISSUER_CLUSTER})
}

/// Gateway options running the filter with `config`; a JSON string stands for the raw
/// configuration text itself (for text no JSON value serialises to, such as a repeated
/// member name).
fn options_for(config: Value, issuer: &IssuerHandle, echo: &EchoHandle) -> GatewayOptions {
    let Value::String(text) = config else {
        return GatewayOptions::new(config, issuer, echo);
    };
    let mut filter = testbed::envoy::wasm_filter(&module_path(), &Value::Null, VM_ID);
    filter["typed_config"]["config"]["configuration"]["value"] = Value::String(text);
    let mut options = GatewayOptions::new(Value::Null, issuer, echo);
    options.plugin_config = None;
    options.filters_before.push(filter);
    options
}

/// Starts Envoy with `config` and checks it is refused, with an error line from the filter
/// naming `field` (when the problem has a field) and saying what is wrong with it.
fn assert_config_refused(
    issuer: &IssuerHandle,
    echo: &EchoHandle,
    case: &str,
    config: Value,
    field: Option<&str>,
) {
    let failed = Gateway::start_expect_failure(options_for(config, issuer, echo), REFUSAL_TIMEOUT);
    assert!(
        failed.exited() && failed.exit.is_some_and(|status| !status.success()),
        "{case}: Envoy must refuse to start (exit {:?}, probe status {:?}); log:\n{}",
        failed.exit,
        failed.probe_status,
        failed.log
    );
    assert!(
        !failed.log.contains("panicked"),
        "{case}: the filter panicked; log:\n{}",
        failed.log
    );
    let errors: Vec<&str> = failed
        .log
        .lines()
        .filter(|l| l.contains("][error][wasm]"))
        .collect();
    assert!(
        !errors.is_empty(),
        "{case}: no error line from the filter; log:\n{}",
        failed.log
    );
    let Some(field) = field else { return };
    let quoted = format!("\"{field}\"");
    let line = errors
        .iter()
        .find(|line| line.contains(&quoted))
        .unwrap_or_else(|| {
            panic!(
                "{case}: no error line names {quoted}; error lines:\n{}",
                errors.join("\n")
            )
        });
    let problem = line
        .split(&quoted)
        .nth(1)
        .unwrap_or("")
        .trim_start_matches([':', ' ']);
    assert!(
        problem.len() >= 5,
        "{case}: the line must say what is wrong: {line}"
    );
}

/// Every case is `(name, configuration, field the error line must name)`.
fn assert_all_refused(cases: Vec<(&str, Value, Option<&str>)>) {
    let issuer = Issuer::start_default().unwrap();
    let echo = Echo::start(0).unwrap();
    for (case, config, field) in cases {
        assert_config_refused(&issuer, &echo, case, config, field);
    }
    assert_eq!(echo.requests(), 0);
}

// Each refused start costs Envoy a compilation of the module (about a second), so each
// kind of error named by the contract is checked once or twice rather than exhaustively;
// the parser's unit tests cover the rest.

#[test]
fn shape_and_issuer_errors_refuse_to_start() {
    let issuer = Issuer::start_default().unwrap();
    let base = minimal(&issuer);
    let repeated = format!(
        r#"{{"domain":"issuer.local","audience":"a","audience":"b","upstream":"{ISSUER_CLUSTER}"}}"#
    );
    assert_all_refused(vec![
        (
            "unknown field",
            with(base.clone(), "domian", json!("issuer.local")),
            Some("domian"),
        ),
        (
            "audience of a wrong type",
            with(base.clone(), "audience", json!(5)),
            Some("audience"),
        ),
        (
            "number given as a string",
            with(base.clone(), "clock_skew_seconds", json!("60")),
            Some("clock_skew_seconds"),
        ),
        ("repeated member", Value::String(repeated), Some("audience")),
        (
            "truncated JSON",
            json!(r#"{"domain": "issuer.local", "audience": "#),
            None,
        ),
        (
            "neither domain nor domains",
            without(base.clone(), "domain"),
            Some("domain"),
        ),
        (
            "both domain and domains",
            with(base.clone(), "domains", json!(["other.local"])),
            Some("domains"),
        ),
        (
            "domain over http",
            with(base.clone(), "domain", json!("http://issuer.local")),
            Some("domain"),
        ),
        (
            "no upstream and no jwks",
            without(base.clone(), "upstream"),
            Some("upstream"),
        ),
    ]);
}

#[test]
fn audience_url_algorithm_and_rule_errors_refuse_to_start() {
    let issuer = Issuer::start_default().unwrap();
    let base = minimal(&issuer);
    let rules = |rules: Value| with(base.clone(), "rules", rules);
    assert_all_refused(vec![
        (
            "empty audience",
            with(base.clone(), "audience", json!("")),
            Some("audience"),
        ),
        (
            "empty audience list",
            with(base.clone(), "audience", json!([])),
            Some("audience"),
        ),
        (
            "jwks_uri not a URL",
            with(base.clone(), "jwks_uri", json!("not a url")),
            Some("jwks_uri"),
        ),
        (
            "unknown algorithm",
            with(base.clone(), "algorithms", json!(["RS999"])),
            Some("algorithms[0]"),
        ),
        (
            "symmetric algorithm",
            with(base.clone(), "algorithms", json!(["RS256", "HS256"])),
            Some("algorithms[1]"),
        ),
        (
            "alg none",
            with(base.clone(), "algorithms", json!(["none"])),
            Some("algorithms[0]"),
        ),
        (
            "rule path not absolute",
            rules(json!([{"match": {"path": "api"}}])),
            Some("rules[0].match.path"),
        ),
        (
            "rule require unknown",
            rules(
                json!([{"match": {"path": "/a"}}, {"match": {"path": "/b"}, "require": "maybe"}]),
            ),
            Some("rules[1].require"),
        ),
        (
            "claim header that is a credential header",
            with(
                base.clone(),
                "forward",
                json!({"claim_headers": {"sub": "Authorization"}}),
            ),
            Some("forward.claim_headers.sub"),
        ),
    ]);
}

#[test]
fn several_valid_configurations_start_and_protect_their_listeners() {
    let issuer = Issuer::start_default().unwrap();
    // The second tenant has a key of its own, which the first does not publish.
    let other = Issuer::start(IssuerOptions {
        domain: "other.local".into(),
        keys: vec![Key::Rsa2],
        signing_key: Key::Rsa2,
        ..IssuerOptions::default()
    })
    .unwrap();
    let keys = Issuer::start(IssuerOptions {
        domain: "keys.local".into(),
        ..IssuerOptions::default()
    })
    .unwrap();
    let echo = Echo::start(0).unwrap();
    let audience = issuer.audience();

    let tolerant = json!({
        "domain": "https://issuer.local/",
        "audience": ["https://first.example.com", audience],
        "upstream": ISSUER_CLUSTER,
    });
    let domains = json!({
        "domains": [issuer.domain(), other.domain()],
        "audience": audience,
        "upstream": ISSUER_CLUSTER,
        "upstreams": {"other.local": "other_issuer"},
    });
    let jwks_uri = json!({
        "domain": issuer.domain(),
        "audience": audience,
        "jwks_uri": "https://keys.local/.well-known/jwks.json",
        "upstreams": {"keys.local": "keys"},
    });
    let inline =
        json!({"domain": issuer.domain(), "audience": audience, "jwks": issuer.published_jwks()});
    let everything = json!({
        "domain": issuer.domain(),
        "audience": [audience],
        "upstream": ISSUER_CLUSTER,
        "upstreams": {"other.local": "other_issuer"},
        "algorithms": ["ES256", "RS256"],
        "clock_skew_seconds": 0,
        "realm": "internal",
        "scope_claims": ["scp"],
        "bypass_cors_preflight": false,
        "rules": [
            {"match": {"path": "/health"}, "require": "none"},
            {"match": {"prefix": "/admin/", "methods": ["GET", "POST"]}, "require": "token", "scopes": ["admin"]},
        ],
        "forward": {"claim_headers": {"sub": "x-user"}, "claims_header": "x-claims", "strip_authorization": true},
        "jwks_cache_ttl_seconds": 60,
        "jwks_min_refresh_interval_seconds": 5,
        "jwks_max_stale_seconds": 120,
        "http_timeout_ms": 2000,
        "dpop_enabled": false,
    });
    let options = GatewayOptions::new(minimal(&issuer), &issuer, &echo)
        .cluster("other_issuer", other.port())
        .cluster("keys", keys.port())
        .filter_listener("tolerant", &tolerant)
        .filter_listener("domains", &domains)
        .filter_listener("jwks_uri", &jwks_uri)
        .filter_listener("inline", &inline)
        .filter_listener("everything", &everything);
    let gateway = Gateway::start(options);
    let target = |listener| Target {
        gateway: &gateway,
        echo: &echo,
        listener,
    };
    let token = issuer.token_builder().build();

    for listener in [MAIN_LISTENER, "tolerant", "domains", "jwks_uri", "inline"] {
        let response = target(listener).denied(&Request::get("/api/private"), listener);
        contract::no_credentials().check(&response, listener);
        let echoed =
            target(listener).allowed(&Request::get("/api/private").bearer(&token), listener);
        assert_eq!(
            echoed.header("authorization"),
            Some(format!("Bearer {token}").as_str())
        );
    }

    let first_audience = issuer
        .token_builder()
        .aud(json!("https://first.example.com"))
        .build();
    target("tolerant").allowed(
        &Request::get("/").bearer(&first_audience),
        "tolerant: second audience",
    );
    let response = target(MAIN_LISTENER).denied(
        &Request::get("/").bearer(&first_audience),
        "main: one audience",
    );
    contract::invalid_token().check(&response, "main: one audience");

    let other_token = other.token_builder().key(Key::Rsa2).build();
    target("domains").allowed(
        &Request::get("/").bearer(&other_token),
        "domains: second issuer",
    );
    // A kid is looked up in the key set of the token's own issuer only.
    for (case, token) in [
        (
            "domains: second issuer naming the first issuer's kid",
            other.token_builder().build(),
        ),
        (
            "domains: first issuer naming the second issuer's kid",
            issuer.token_builder().key(Key::Rsa2).build(),
        ),
    ] {
        let response = target("domains").denied(&Request::get("/").bearer(&token), case);
        contract::invalid_token().check(&response, case);
    }
    let response = target("domains").denied(
        &Request::get("/").bearer(&keys.token_builder().build()),
        "domains: foreign issuer",
    );
    contract::invalid_token().check(&response, "domains: foreign issuer");
    let response = target(MAIN_LISTENER).denied(
        &Request::get("/").bearer(&other_token),
        "main: second issuer",
    );
    contract::invalid_token().check(&response, "main: second issuer");

    // A configured jwks_uri skips discovery.
    assert_eq!(keys.discovery_fetches(), 0);
    assert!(keys.jwks_fetches() >= 1);

    let everything_target = target("everything");
    let challenge = Offer::new(Some("internal"), None);
    everything_target.allowed(&Request::get("/health"), "everything: public rule");
    let admin = issuer
        .token_builder()
        .key(Key::Ec1)
        .remove_claim("scope")
        .claim("scp", json!(["admin"]))
        .build();
    let echoed = everything_target.allowed(
        &Request::get("/admin/users").bearer(&admin),
        "everything: scoped rule",
    );
    assert_eq!(echoed.header("x-user"), Some("user_123"));
    assert!(echoed.has_header("x-claims"));
    assert!(!echoed.has_header("authorization"), "strip_authorization");
    // Only `scp` is read for scopes here.
    let scope_claim = issuer.token_builder().key(Key::Ec1).scope("admin").build();
    let response = everything_target.denied(
        &Request::get("/admin/users").bearer(&scope_claim),
        "everything: scope claim not read",
    );
    challenge
        .insufficient_scope("admin")
        .check(&response, "everything: scope claim not read");
    let response =
        everything_target.denied(&Request::get("/api/private"), "everything: no credentials");
    challenge
        .no_credentials()
        .check(&response, "everything: no credentials");
    let preflight = Request::new("OPTIONS", "/admin/users")
        .header("Origin", "https://app.example.com")
        .header("Access-Control-Request-Method", "GET");
    let response = everything_target.denied(&preflight, "everything: no preflight bypass");
    challenge
        .no_credentials()
        .check(&response, "everything: no preflight bypass");
    let past = issuer
        .token_builder()
        .key(Key::Ec1)
        .claim("exp", json!(testbed::unix_now() - 1))
        .build();
    let response = everything_target.denied(
        &Request::get("/api/private").bearer(&past),
        "everything: no clock skew",
    );
    challenge
        .invalid_token()
        .check(&response, "everything: no clock skew");
    let rs384 = issuer.token_builder().key_alg(Key::Rsa1, "RS384").build();
    let response = everything_target.denied(
        &Request::get("/api/private").bearer(&rs384),
        "everything: RS384 not listed",
    );
    challenge
        .invalid_token()
        .check(&response, "everything: RS384 not listed");

    let log = gateway.log();
    let errors: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("][error][wasm]"))
        .collect();
    assert!(
        errors.is_empty(),
        "valid configurations log no errors: {errors:?}"
    );
}
