//! The end-to-end harness works: the issuer and the echo upstream answer over real
//! HTTP, and real Envoy starts, routes to the echo upstream and reports stats. With the
//! module built, Envoy also starts with the filter loaded.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;
use testbed::issuer::{DISCOVERY_PATH, JWKS_PATH};

#[test]
fn issuer_serves_discovery_and_jwks_over_http() {
    let issuer = Issuer::start_default().unwrap();
    let discovery = testbed::client::get(issuer.port(), DISCOVERY_PATH).unwrap();
    assert_eq!(discovery.status, 200);
    let document = discovery.json().unwrap();
    assert_eq!(document["issuer"], json!("https://issuer.local/"));
    assert_eq!(
        document["jwks_uri"],
        json!("https://issuer.local/.well-known/jwks.json")
    );

    let jwks = testbed::client::get(issuer.port(), JWKS_PATH).unwrap();
    assert_eq!(jwks.status, 200);
    assert_eq!(jwks.header("cache-control"), Some("public, max-age=600"));
    assert_eq!(jwks.json().unwrap()["keys"][0], Key::Rsa1.public_jwk());
    assert_eq!((issuer.discovery_fetches(), issuer.jwks_fetches()), (1, 1));
}

#[test]
fn echo_answers_with_the_request() {
    let echo = Echo::start(0).unwrap();
    let response = testbed::client::send(
        echo.port(),
        &Request::get("/x/%2F/../y")
            .header("X-A", "1")
            .header("x-a", "2"),
    )
    .unwrap();
    assert_eq!(response.status, 200);
    let echoed = response.echoed().unwrap();
    assert_eq!(
        (echoed.method.as_str(), echoed.path.as_str()),
        ("GET", "/x/%2F/../y")
    );
    assert_eq!(echoed.header_values("x-a"), ["1", "2"]);
}

#[test]
fn envoy_without_the_filter_routes_to_echo_and_reports_stats() {
    let echo = Echo::start(0).unwrap();
    let gateway = Gateway::start(GatewayOptions::without_filter(&echo));
    let response = gateway.send(&Request::get("/api/private?q=1").header("X-Auth-Sub", "forged"));
    assert_eq!(response.status, 200);
    let echoed = response.echoed().unwrap();
    assert_eq!(echoed.path, "/api/private?q=1");
    assert_eq!(echoed.header("x-auth-sub"), Some("forged"));
    assert_eq!(echo.requests(), 1);
    assert_eq!(gateway.stat("http.main.downstream_rq_completed"), Some(1));
    assert_eq!(
        gateway
            .stats("^cluster\\.echo\\.upstream_rq_200$")
            .get("cluster.echo.upstream_rq_200"),
        Some(&1)
    );
    assert!(gateway.url("/api/private").starts_with("http://127.0.0.1:"));
}

#[test]
fn envoy_runs_extra_listeners_side_by_side() {
    let echo = Echo::start(0).unwrap();
    let direct = Listener {
        routes: vec![testbed::envoy::direct_response(204, "")],
        ..Listener::new("direct", Vec::new(), common::ECHO_CLUSTER)
    };
    let gateway = Gateway::start(
        GatewayOptions::without_filter(&echo)
            .concurrency(2)
            .listener(direct),
    );
    assert_ne!(gateway.port(), gateway.listener_port("direct"));
    assert_eq!(
        gateway.send_to("direct", &Request::get("/anything")).status,
        204
    );
    assert_eq!(gateway.get("/anything").status, 200);
    assert_eq!(echo.requests(), 1);
}

#[test]
fn envoy_hosts_a_native_jwt_authn_listener() {
    let issuer = Issuer::start_default().unwrap();
    let echo = Echo::start(0).unwrap();
    let jwt_authn = testbed::envoy::jwt_authn_filter(
        &issuer.issuer(),
        &[issuer.audience()],
        &issuer.published_jwks(),
    );
    let options = GatewayOptions::without_filter(&echo).listener(Listener::new(
        "jwt_authn",
        vec![jwt_authn],
        common::ECHO_CLUSTER,
    ));
    let gateway = Gateway::start(options);
    let token = issuer.token_builder().build();
    let allowed = gateway.send_to("jwt_authn", &Request::get("/api/private").bearer(&token));
    assert_eq!(allowed.status, 200, "body: {}", allowed.text());
    // Envoy's own verifier agrees with the builders on every algorithm the issuer publishes.
    for (key, alg) in [
        (Key::Rsa1, "PS256"),
        (Key::Rsa3072, "RS384"),
        (Key::Ec1, "ES256"),
        (Key::Ec384, "ES384"),
        (Key::Ed1, "EdDSA"),
    ] {
        let token = issuer.token_builder().key_alg(key, alg).build();
        let response = gateway.send_to("jwt_authn", &Request::get("/").bearer(&token));
        assert_eq!(response.status, 200, "{key} {alg}: {}", response.text());
    }
    let forged = TokenBuilder::new()
        .key_alg(Key::AttackerRsa, "RS256")
        .kid("rsa-1")
        .build();
    let refused = gateway.send_to("jwt_authn", &Request::get("/api/private").bearer(&forged));
    assert_eq!(refused.status, 401);
    assert_eq!(
        gateway
            .send_to("jwt_authn", &Request::get("/api/private"))
            .status,
        401
    );
    assert_eq!(echo.requests(), 6);
}

#[test]
fn envoy_refusing_its_configuration_is_reported_with_its_log() {
    let echo = Echo::start(0).unwrap();
    let mut options = GatewayOptions::without_filter(&echo);
    options
        .connection_manager
        .insert("no_such_field".into(), json!(true));
    let failed = Gateway::start_expect_failure(options, Duration::from_secs(20));
    assert!(failed.exited(), "Envoy should exit; log:\n{}", failed.log);
    assert!(
        failed.log_line("no_such_field").is_some(),
        "log:\n{}",
        failed.log
    );
}

#[test]
fn envoy_loads_the_built_module() {
    if !module_built() {
        eprintln!("skipped: {MODULE_RELATIVE_PATH} is not built (run `make build`)");
        return;
    }
    let stack = Stack::start();
    let response = stack.send(&Request::get("/api/public"));
    assert_eq!(response.status, 200, "body: {}", response.text());
    assert!(
        stack.gateway.log().contains("wasm"),
        "the log names the wasm component"
    );
}
