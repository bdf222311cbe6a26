//! The issuer and the echo upstream over real HTTP, with the raw client.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::ErrorKind;
use std::time::{Duration, Instant};

use serde_json::json;
use testbed::client::{self, Connection, Request};
use testbed::issuer::{jwks_of, DISCOVERY_PATH, JWKS_PATH, MALFORMED_JSON, TOKEN_PATH};
use testbed::token::tamper;
use testbed::{b64url_decode, Echo, Endpoint, Issuer, IssuerOptions, Key, Outage, ProofBuilder};

fn claims_of(token: &str) -> serde_json::Value {
    serde_json::from_slice(&b64url_decode(&tamper::segments(token)[1]).unwrap()).unwrap()
}

fn header_of(token: &str) -> serde_json::Value {
    serde_json::from_slice(&b64url_decode(&tamper::segments(token)[0]).unwrap()).unwrap()
}

#[test]
fn discovery_names_the_issuer_and_jwks_uri() {
    let issuer = Issuer::start_default().unwrap();
    let response = client::get(issuer.port(), DISCOVERY_PATH).unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-type"), Some("application/json"));
    assert_eq!(
        response.header("cache-control"),
        Some("public, max-age=600")
    );
    let document = response.json().unwrap();
    assert_eq!(document["issuer"], json!("https://issuer.local/"));
    assert_eq!(
        document["jwks_uri"],
        json!("https://issuer.local/.well-known/jwks.json")
    );
    assert_eq!(issuer.discovery_fetches(), 1);
    assert_eq!(issuer.jwks_fetches(), 0);
}

#[test]
fn discovery_fields_can_be_overridden() {
    let issuer = Issuer::start(IssuerOptions {
        domain: "tenant.example".into(),
        discovery_issuer: Some("https://evil.example/".into()),
        ..IssuerOptions::default()
    })
    .unwrap();
    let document = client::get(issuer.port(), DISCOVERY_PATH)
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(document["issuer"], json!("https://evil.example/"));
    assert_eq!(
        document["jwks_uri"],
        json!("https://tenant.example/.well-known/jwks.json")
    );
    issuer.set_discovery_issuer(None);
    issuer.set_jwks_uri(Some("https://keys.example/jwks"));
    let document = client::get(issuer.port(), DISCOVERY_PATH)
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(document["issuer"], json!("https://tenant.example/"));
    assert_eq!(document["jwks_uri"], json!("https://keys.example/jwks"));
}

#[test]
fn jwks_publishes_the_default_keys_and_rotates() {
    let issuer = Issuer::start_default().unwrap();
    let kids = |issuer: &testbed::IssuerHandle| -> Vec<String> {
        let jwks = client::get(issuer.port(), JWKS_PATH)
            .unwrap()
            .json()
            .unwrap();
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        kids(&issuer),
        ["rsa-1", "rsa-3072", "ec-1", "ec384-1", "ed-1"]
    );
    issuer.publish(&[Key::Rsa1, Key::Rsa2]);
    assert_eq!(kids(&issuer), ["rsa-1", "rsa-2"]);
    issuer.publish_jwks(json!({"keys": [Key::Rsa2.public_jwk_with_alg("RS256")]}));
    assert_eq!(kids(&issuer), ["rsa-2"]);
    assert_eq!(issuer.published_jwks()["keys"][0]["alg"], json!("RS256"));
    assert_eq!(issuer.jwks_fetches(), 3);
    issuer.reset_counters();
    assert_eq!(issuer.jwks_fetches(), 0);
    assert_eq!(jwks_of(&[Key::Ed1])["keys"][0]["kty"], json!("OKP"));
}

#[test]
fn cache_control_can_change_or_go() {
    let issuer = Issuer::start_default().unwrap();
    issuer.set_cache_control(Some("max-age=5"));
    assert_eq!(
        client::get(issuer.port(), JWKS_PATH)
            .unwrap()
            .header("cache-control"),
        Some("max-age=5")
    );
    issuer.set_cache_control(None);
    assert_eq!(
        client::get(issuer.port(), JWKS_PATH)
            .unwrap()
            .header("cache-control"),
        None
    );
}

#[test]
fn malformed_documents_until_served_normally() {
    let issuer = Issuer::start_default().unwrap();
    issuer.serve_malformed_json(Endpoint::Jwks);
    let response = client::get(issuer.port(), JWKS_PATH).unwrap();
    assert_eq!(
        (response.status, response.text()),
        (200, MALFORMED_JSON.to_string())
    );
    assert_eq!(
        client::get(issuer.port(), DISCOVERY_PATH)
            .unwrap()
            .json()
            .unwrap()["issuer"],
        json!("https://issuer.local/")
    );
    issuer.serve_normally(Endpoint::Jwks);
    assert!(client::get(issuer.port(), JWKS_PATH)
        .unwrap()
        .json()
        .unwrap()["keys"]
        .is_array());
}

#[test]
fn token_endpoint_mints_bearer_tokens() {
    let issuer = Issuer::start_default().unwrap();
    let body = json!({"scope": "read:messages", "sub": "user_9"});
    let response = client::send(issuer.port(), &Request::post(TOKEN_PATH).json(&body)).unwrap();
    assert_eq!(response.status, 200);
    let answer = response.json().unwrap();
    assert_eq!(answer["token_type"], json!("Bearer"));
    assert_eq!(answer["expires_in"], json!(3600));
    let token = answer["access_token"].as_str().unwrap();
    let claims = claims_of(token);
    assert_eq!(claims["scope"], json!("read:messages"));
    assert_eq!(claims["sub"], json!("user_9"));
    assert_eq!(claims["iss"], json!("https://issuer.local/"));
    assert_eq!(claims["aud"], json!("https://api.example.com"));
    assert!(claims.get("cnf").is_none());
    assert_eq!(header_of(token)["kid"], json!("rsa-1"));
    assert_eq!(issuer.token_requests(), 1);
}

#[test]
fn token_endpoint_picks_the_key_for_an_algorithm() {
    let issuer = Issuer::start_default().unwrap();
    for (alg, kid) in [
        ("ES256", "ec-1"),
        ("PS256", "rsa-1"),
        ("EdDSA", "ed-1"),
        ("ES384", "ec384-1"),
    ] {
        let response = client::send(
            issuer.port(),
            &Request::post(TOKEN_PATH).json(&json!({"alg": alg})),
        )
        .unwrap();
        let header = header_of(response.json().unwrap()["access_token"].as_str().unwrap());
        assert_eq!(
            (
                header["alg"].as_str().unwrap(),
                header["kid"].as_str().unwrap()
            ),
            (alg, kid)
        );
    }
    let response = client::send(
        issuer.port(),
        &Request::post(TOKEN_PATH).json(&json!({"alg": "HS256"})),
    )
    .unwrap();
    assert_eq!(response.status, 400);
    assert_eq!(
        response.json().unwrap()["error_description"],
        json!("no test key signs \"HS256\"")
    );
}

#[test]
fn token_endpoint_mints_dpop_bound_tokens() {
    let issuer = Issuer::start_default().unwrap();
    let jkt = Key::Client1.thumbprint();
    let by_jkt = client::send(
        issuer.port(),
        &Request::post(TOKEN_PATH).json(&json!({"jkt": jkt})),
    )
    .unwrap();
    let answer = by_jkt.json().unwrap();
    assert_eq!(answer["token_type"], json!("DPoP"));
    assert_eq!(
        claims_of(answer["access_token"].as_str().unwrap())["cnf"],
        json!({"jkt": jkt})
    );

    let by_jwk = client::send(
        issuer.port(),
        &Request::post(TOKEN_PATH).json(&json!({"dpop_jwk": Key::Client2.bare_public_jwk()})),
    )
    .unwrap();
    let token = by_jwk.json().unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        claims_of(&token)["cnf"]["jkt"],
        json!(Key::Client2.thumbprint())
    );

    let proof = ProofBuilder::new(Key::Client1, "POST", "https://issuer.local/oauth/token").build();
    let by_proof = client::send(
        issuer.port(),
        &Request::post(TOKEN_PATH).header("DPoP", &proof),
    )
    .unwrap();
    let token = by_proof.json().unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(claims_of(&token)["cnf"]["jkt"], json!(jkt));
}

#[test]
fn token_endpoint_refuses_unknown_fields_and_non_json() {
    let issuer = Issuer::start_default().unwrap();
    let response = client::send(
        issuer.port(),
        &Request::post(TOKEN_PATH).json(&json!({"scpoe": "x"})),
    )
    .unwrap();
    assert_eq!(response.status, 400);
    assert_eq!(
        response.json().unwrap()["error_description"],
        json!("unknown field \"scpoe\"")
    );
    let response = client::send(issuer.port(), &Request::post(TOKEN_PATH).body("scope=x")).unwrap();
    assert_eq!(response.status, 400);
    assert_eq!(client::get(issuer.port(), TOKEN_PATH).unwrap().status, 405);
    assert_eq!(client::get(issuer.port(), "/nope").unwrap().status, 404);
}

#[test]
fn refused_outage_refuses_connects_and_recovers() {
    let issuer = Issuer::start_default().unwrap();
    let mut kept = Connection::open(issuer.port()).unwrap();
    assert_eq!(kept.send(&Request::get(JWKS_PATH)).unwrap().status, 200);
    issuer.go_down(Outage::Refuse);
    let error = client::get(issuer.port(), JWKS_PATH).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::ConnectionRefused);
    assert!(
        kept.send(&Request::get(JWKS_PATH)).is_err(),
        "open connections are closed too"
    );
    issuer.come_back();
    assert_eq!(client::get(issuer.port(), JWKS_PATH).unwrap().status, 200);
    assert_eq!(issuer.outage(), None);
}

#[test]
fn status_outage_answers_every_document_with_that_status() {
    let issuer = Issuer::start_default().unwrap();
    issuer.go_down(Outage::Status(503));
    assert_eq!(client::get(issuer.port(), JWKS_PATH).unwrap().status, 503);
    assert_eq!(
        client::get(issuer.port(), DISCOVERY_PATH).unwrap().status,
        503
    );
    assert_eq!((issuer.jwks_fetches(), issuer.discovery_fetches()), (1, 1));
    issuer.come_back();
    assert_eq!(client::get(issuer.port(), JWKS_PATH).unwrap().status, 200);
}

#[test]
fn hanging_outage_makes_clients_time_out() {
    let issuer = Issuer::start_default().unwrap();
    issuer.go_down(Outage::Hang);
    let started = Instant::now();
    let error = client::send(
        issuer.port(),
        &Request::get(JWKS_PATH).timeout(Duration::from_millis(300)),
    )
    .unwrap_err();
    assert!(
        matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
        "{error:?}"
    );
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert!(issuer.wait_for_jwks_fetches(1, Duration::from_secs(1)));
    issuer.come_back();
    assert_eq!(client::get(issuer.port(), JWKS_PATH).unwrap().status, 200);
}

#[test]
fn issuer_mints_without_http_too() {
    let issuer = Issuer::start_default().unwrap();
    let minted = issuer
        .mint(&testbed::TokenRequest {
            scope: Some("a b".into()),
            jkt: Some("abc".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(minted.token_type, "DPoP");
    let claims = claims_of(&minted.access_token);
    assert_eq!(
        (claims["scope"].clone(), claims["cnf"].clone()),
        (json!("a b"), json!({"jkt": "abc"}))
    );
    assert_eq!(issuer.token_requests(), 0);
}

#[test]
fn echo_reflects_method_raw_path_and_every_header_line() {
    let echo = Echo::start(0).unwrap();
    let request = Request::new("DELETE", "/a/..%2Fb/./c?x=1&y")
        .header("X-Auth-Sub", "forged")
        .header("x-auth-sub", "second")
        .header("Authorization", "Bearer abc");
    let response = client::send(echo.port(), &request).unwrap();
    assert_eq!(response.status, 200);
    let body = response.json().unwrap();
    assert_eq!(body["method"], json!("DELETE"));
    assert_eq!(body["path"], json!("/a/..%2Fb/./c?x=1&y"));
    assert_eq!(body["headers"]["x-auth-sub"], json!(["forged", "second"]));
    assert_eq!(body["headers"]["authorization"], json!("Bearer abc"));
    let echoed = response.echoed().unwrap();
    assert_eq!(echoed.header("authorization"), Some("Bearer abc"));
    assert_eq!(echoed.header("x-auth-sub"), None);
    assert_eq!(echoed.header_values("X-Auth-Sub"), ["forged", "second"]);
    assert_eq!(echo.requests(), 1);
}

#[test]
fn echo_keeps_connections_alive_and_reads_chunked_bodies() {
    let echo = Echo::start(0).unwrap();
    let mut connection = Connection::open(echo.port()).unwrap();
    let chunked = Request::post("/upload")
        .raw()
        .header("host", "x")
        .header("transfer-encoding", "chunked")
        .body("3\r\nabc\r\n0\r\n\r\n");
    assert_eq!(connection.send(&chunked).unwrap().status, 200);
    let second = connection.send(&Request::get("/again")).unwrap();
    assert_eq!(second.echoed().unwrap().path, "/again");
    assert_eq!(echo.requests(), 2);
}
