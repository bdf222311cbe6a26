//! The contract on every host profile: the built module (`dist/auth0_wasm_filter.wasm`) runs
//! in the emulated hosts of Envoy, Kong (ngx_wasm_module) and APISIX (wasm-nginx-module),
//! with keys fetched over real HTTP from the local issuer through the module's own callouts.
//! Each test runs on each profile and ends by asserting that nothing the module did would
//! have crashed, trapped or failed open on that host.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;
mod contract;

use emulated_host::{Callout, CalloutReply, Gateway, Profile, Request, Response, Upstream};
use serde_json::{json, Value};
use std::rc::Rc;
use std::thread;
use std::time::Duration;
use testbed::{client, Issuer, IssuerHandle, IssuerOptions, Key, Outage, ProofBuilder};

const HOST: &str = "api.example.com";

fn module() -> Vec<u8> {
    let path = common::repo_root().join("dist/auth0_wasm_filter.wasm");
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e} (run `make build`)", path.display()))
}

/// How the configuration names the issuer's upstream on `profile`'s host: a cluster on
/// Envoy, `host:port` on the nginx-based hosts.
fn upstream_name(profile: Profile, issuer: &IssuerHandle) -> String {
    match profile {
        Profile::Envoy => "issuer".into(),
        Profile::Kong | Profile::Apisix => format!("127.0.0.1:{}", issuer.port()),
    }
}

/// Answers callouts from the local issuer over HTTP, as the host would; a callout to any
/// other upstream gets no answer.
fn issuer_upstream(profile: Profile, issuer: &IssuerHandle) -> Upstream {
    let (port, expected) = (issuer.port(), upstream_name(profile, issuer));
    Rc::new(move |callout: &Callout| {
        if callout.upstream != expected {
            return None;
        }
        let request = client::Request::get(callout.header(":path")?)
            .header("host", callout.header(":authority")?)
            .timeout(Duration::from_secs(3));
        let response = client::send(port, &request).ok()?;
        Some(CalloutReply {
            status: response.status,
            headers: response.headers,
            body: response.body,
        })
    })
}

fn config(profile: Profile, issuer: &IssuerHandle) -> Value {
    json!({
        "domain": issuer.domain(),
        "audience": issuer.audience(),
        "upstream": upstream_name(profile, issuer),
        "jwks_min_refresh_interval_seconds": 1,
        "rules": [
            {"match": {"path": "/api/public"}, "require": "none"},
            {"match": {"path": "/api/messages"}, "scopes": "read:messages"}
        ],
        "dpop_enabled": true,
        "dpop_replay_scope": if profile == Profile::Apisix { "worker" } else { "shared" }
    })
}

struct Setup {
    issuer: IssuerHandle,
    gateway: Gateway,
}

fn start_with(profile: Profile, workers: usize, edit: impl FnOnce(Value) -> Value) -> Setup {
    let issuer = Issuer::start(IssuerOptions::default()).unwrap();
    let config = edit(config(profile, &issuer)).to_string();
    let gateway = Gateway::start(
        profile,
        &module(),
        &config,
        workers,
        issuer_upstream(profile, &issuer),
    )
    .unwrap_or_else(|e| panic!("{}: the module does not load: {e}", profile.name()));
    Setup { issuer, gateway }
}

fn start(profile: Profile) -> Setup {
    start_with(profile, 1, |c| c)
}

impl Setup {
    fn send(&mut self, worker: usize, request: &Request) -> Response {
        self.gateway.send(worker, request)
    }

    fn bearer(&mut self, path: &str, token: &str) -> Response {
        self.send(
            0,
            &Request::get(HOST, path).header("authorization", &format!("Bearer {token}")),
        )
    }

    fn no_violations(&self) {
        let violations = self.gateway.violations();
        assert!(
            violations.is_empty(),
            "{}: {violations:#?}",
            self.gateway.profile().name()
        );
    }

    fn logged(&self, text: &str) -> bool {
        self.gateway.logs().iter().any(|l| l.contains(text))
    }
}

/// The emulated host's answer as an HTTP response, for the contract's assertions.
fn http(response: &Response) -> client::Response {
    client::Response {
        status: response.status,
        reason: String::new(),
        headers: response
            .headers
            .iter()
            .map(|(name, value)| (name.to_ascii_lowercase(), value.clone()))
            .collect(),
        body: response.body.clone().into_bytes(),
    }
}

fn bearer_contract(profile: Profile) {
    let mut s = start(profile);
    let public = s.send(0, &Request::get(HOST, "/api/public"));
    assert_eq!(public.status, 200, "public route");
    let none = s.send(0, &Request::get(HOST, "/api/messages"));
    contract::no_credentials().check(&http(&none), "no token");
    assert!(s.gateway.configured());

    let token = s.issuer.token_builder().scope("read:messages").build();
    let ok = s.bearer("/api/messages", &token);
    assert_eq!(
        ok.status, 200,
        "valid token, keys through discovery and JWKS: {ok:?}"
    );
    assert!(ok.upstream_saw.is_some());
    let scopeless = s.issuer.token_builder().scope("other").build();
    let forbidden = s.bearer("/api/messages", &scopeless);
    contract::insufficient_scope("read:messages").check(&http(&forbidden), "scope missing");
    let forged = s
        .issuer
        .token_builder()
        .key(Key::AttackerRsa)
        .kid("rsa-1")
        .scope("read:messages")
        .build();
    let refused = s.bearer("/api/messages", &forged);
    let description = contract::invalid_token().check(&http(&refused), "forged signature");
    assert_eq!(description, contract::BAD_TOKEN_SIGNATURE);
    assert_eq!(
        (s.issuer.discovery_fetches(), s.issuer.jwks_fetches()),
        (1, 1),
        "keys fetched once"
    );
    s.no_violations();
}

fn rotation(profile: Profile) {
    let mut s = start(profile);
    let old = s.issuer.token_builder().scope("read:messages").build();
    assert_eq!(s.bearer("/api/messages", &old).status, 200);
    s.issuer.publish(&[Key::Rsa1, Key::Rsa2]);
    thread::sleep(Duration::from_millis(1100));
    let new = s
        .issuer
        .token_builder()
        .key(Key::Rsa2)
        .scope("read:messages")
        .build();
    assert_eq!(
        s.bearer("/api/messages", &new).status,
        200,
        "a new kid is picked up by a refetch"
    );
    let stranger = s
        .issuer
        .token_builder()
        .kid("rsa-unknown")
        .scope("read:messages")
        .build();
    let stranger = s.bearer("/api/messages", &stranger);
    contract::invalid_token().check(&http(&stranger), "refetches are rate-limited");
    s.no_violations();
}

fn outage(profile: Profile) {
    let mut s = start(profile);
    s.issuer.go_down(Outage::Status(500));
    let token = s.issuer.token_builder().scope("read:messages").build();
    let down = s.bearer("/api/messages", &token);
    contract::unavailable().check(&http(&down), "keys cannot be had");
    assert!(s.logged("fetching keys for source 0 failed: status 500"));
    s.issuer.come_back();
    thread::sleep(Duration::from_millis(1100));
    assert_eq!(
        s.bearer("/api/messages", &token).status,
        200,
        "recovers without restart"
    );
    s.no_violations();
}

fn dpop(profile: Profile) {
    let mut s = start_with(profile, 2, |c| c);
    let token = s
        .issuer
        .token_builder()
        .bound_to(Key::Ec1)
        .scope("read:messages")
        .build();
    let proof = ProofBuilder::new(Key::Ec1, "GET", &format!("http://{HOST}/api/messages"))
        .access_token(&token)
        .build();
    let request = Request::get(HOST, "/api/messages")
        .header("authorization", &format!("DPoP {token}"))
        .header("dpop", &proof);
    assert_eq!(
        s.send(0, &request).status,
        200,
        "a proof for the client's own URL"
    );
    let replayed = s.send(0, &request);
    contract::invalid_dpop_proof(contract::REPLAYED)
        .check(&http(&replayed), "replayed on the same worker");
    let other_worker = s.send(1, &request);
    match profile {
        // Shared data: one replay store for every worker.
        Profile::Envoy | Profile::Kong => {
            contract::invalid_dpop_proof(contract::REPLAYED)
                .check(&http(&other_worker), "replayed on another worker");
        }
        // No shared data: the configuration chose per-worker replay detection.
        Profile::Apisix => assert_eq!(other_worker.status, 200, "per-worker replay scope"),
    }
    let elsewhere = ProofBuilder::new(Key::Ec1, "GET", "http://kong:8000/api/messages")
        .access_token(&token)
        .build();
    let wrong_url = Request::get(HOST, "/api/messages")
        .header("authorization", &format!("DPoP {token}"))
        .header("dpop", &elsewhere);
    contract::invalid_dpop_proof(contract::HTU_MISMATCH)
        .check(&http(&s.send(0, &wrong_url)), "a proof for another URL");
    s.no_violations();
}

fn identity_headers(profile: Profile) {
    let mut s = start_with(profile, 1, |mut c| {
        c["forward"] = json!({"claim_headers": {"sub": "x-auth-sub"}});
        c
    });
    let token = s
        .issuer
        .token_builder()
        .sub("alice")
        .scope("read:messages")
        .build();
    let request = Request::get(HOST, "/api/messages")
        .header("authorization", &format!("Bearer {token}"))
        .header("x-auth-sub", "forged");
    let response = s.send(0, &request);
    match profile {
        Profile::Kong => {
            // The host would pass the forged copy upstream: the configuration is refused.
            assert_eq!(response.status, 500);
            assert!(s.logged("configuration refused: \"forward\""));
        }
        Profile::Envoy | Profile::Apisix => {
            assert_eq!(response.status, 200);
            let saw = response.upstream_saw.unwrap();
            let subs: Vec<&str> = saw
                .iter()
                .filter(|(n, _)| n == "x-auth-sub")
                .map(|(_, v)| v.as_str())
                .collect();
            assert_eq!(subs, ["alice"]);
        }
    }
    s.no_violations();
}

fn filter_state(profile: Profile) {
    let mut s = start_with(profile, 1, |mut c| {
        c["filter_state"] = json!({"claims": ["sub"]});
        c
    });
    let token = s.issuer.token_builder().sub("alice").build();
    let response = s.bearer("/api/private", &token);
    match profile {
        Profile::Envoy => {
            assert_eq!(response.status, 200);
            assert_eq!(
                response.properties,
                [
                    ("auth0.result".to_owned(), "allowed".to_owned()),
                    ("auth0.sub".to_owned(), "alice".to_owned())
                ]
            );
        }
        // No filter state for later filters on the nginx hosts: refused, not ignored.
        Profile::Kong | Profile::Apisix => {
            assert_eq!(response.status, 500);
            assert!(s.logged("configuration refused: \"filter_state\""));
            assert!(response.properties.is_empty());
        }
    }
    s.no_violations();
}

fn background_refresh(profile: Profile) {
    let mut s = start(profile);
    s.gateway.tick();
    s.gateway.tick();
    match profile {
        // Discovery on one tick, the JWKS on the next: never chained in the root's callback.
        Profile::Envoy | Profile::Kong => assert_eq!(
            (s.issuer.discovery_fetches(), s.issuer.jwks_fetches()),
            (1, 1)
        ),
        // No tick: nothing happens until a request needs keys.
        Profile::Apisix => assert_eq!(
            (s.issuer.discovery_fetches(), s.issuer.jwks_fetches()),
            (0, 0)
        ),
    }
    let token = s.issuer.token_builder().scope("read:messages").build();
    assert_eq!(s.bearer("/api/messages", &token).status, 200);
    assert_eq!(s.issuer.jwks_fetches(), 1);
    s.no_violations();
}

macro_rules! on_every_host {
    ($($case:ident),* $(,)?) => {
        mod envoy { $( #[test] fn $case() { super::$case(emulated_host::Profile::Envoy) } )* }
        mod kong { $( #[test] fn $case() { super::$case(emulated_host::Profile::Kong) } )* }
        mod apisix { $( #[test] fn $case() { super::$case(emulated_host::Profile::Apisix) } )* }
    };
}

on_every_host!(
    bearer_contract,
    rotation,
    outage,
    dpop,
    identity_headers,
    filter_state,
    background_refresh
);

#[test]
fn apisix_refuses_cross_worker_replay_detection_it_cannot_give() {
    let mut s = start_with(Profile::Apisix, 1, |mut c| {
        c["dpop_replay_scope"] = json!("shared");
        c
    });
    let response = s.send(0, &Request::get(HOST, "/api/public"));
    assert_eq!(
        response.status, 503,
        "APISIX answers 503 for a plugin that failed to configure"
    );
    assert!(!s.gateway.configured());
    assert!(s.logged(
        "configuration refused: DPoP replay detection across workers needs the host's shared data"
    ));
    s.no_violations();
}

/// A panic (here the proxy-wasm dispatcher's, on a callout answer nobody asked for) is
/// logged with its message and location at critical level before the VM traps.
#[test]
fn a_panic_is_logged_before_the_trap() {
    let mut s = start(Profile::Envoy);
    s.gateway.answer_unknown_callout(0);
    let logs = s.gateway.logs();
    let panic = logs
        .iter()
        .find(|l| l.starts_with("0 5 auth0-wasm-filter panicked at "))
        .unwrap_or_else(|| panic!("no critical panic line in {logs:#?}"));
    assert!(panic.contains("invalid token_id"), "{panic}");
    assert!(panic.contains(".rs:"), "the location is logged: {panic}");
    assert!(!s.gateway.violations().is_empty(), "the VM trapped");
}

#[test]
fn the_module_imports_nothing_a_host_lacks() {
    for profile in Profile::ALL {
        let loaded = Gateway::start(profile, &module(), "{}", 1, Rc::new(|_: &Callout| None));
        assert!(loaded.is_ok(), "{}: {:?}", profile.name(), loaded.err());
    }
}
