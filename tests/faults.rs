//! Faults of the issuer, in real Envoy with two workers: each broken issuer has its own key
//! source, and a burst of requests over both workers must all get the documented answer
//! (503 `temporarily_unavailable` with `Retry-After` while no keys can be had), nothing may
//! trap, and once the issuer is fixed every source recovers without a restart.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;
mod contract;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use common::*;
use contract::{eventually, Target};
use serde_json::{json, Value};
use testbed::server::Response as IssuerResponse;

const PRIVATE: &str = "/api/private";
const BURST: usize = 12;
const TIMEOUT_MS: u64 = 800;

fn issuer(domain: &str, fault: impl FnOnce(&IssuerHandle)) -> IssuerHandle {
    let issuer = Issuer::start(IssuerOptions {
        domain: domain.into(),
        ..IssuerOptions::default()
    })
    .unwrap();
    fault(&issuer);
    issuer
}

/// A JWKS document larger than the filter reads (512 KiB), made of one valid key repeated.
fn oversized_jwks() -> String {
    let key = Key::Rsa1.public_jwk().to_string();
    let copies = 600 * 1024 / key.len() + 1;
    format!("{{\"keys\": [{}]}}", vec![key; copies].join(","))
}

fn stack(issuers: &[(&str, IssuerHandle)]) -> (EchoHandle, Gateway) {
    let echo = Echo::start(0).unwrap();
    let domains: Vec<&str> = issuers.iter().map(|(_, i)| i.domain()).collect();
    let upstreams: serde_json::Map<String, Value> = issuers
        .iter()
        .map(|(_, i)| {
            (
                i.domain().to_string(),
                json!(format!("keys_{}", i.domain())),
            )
        })
        .collect();
    let mut options = GatewayOptions::without_filter(&echo).concurrency(2);
    options.plugin_config = Some(json!({
        "domains": domains,
        "audience": testbed::DEFAULT_AUDIENCE,
        "upstreams": upstreams,
        "http_timeout_ms": TIMEOUT_MS,
        "jwks_min_refresh_interval_seconds": 1,
    }));
    for (_, issuer) in issuers {
        options = options.cluster(&format!("keys_{}", issuer.domain()), issuer.port());
    }
    let gateway = Gateway::start(options);
    (echo, gateway)
}

fn assert_nothing_trapped(gateway: &Gateway) {
    let log = gateway.log();
    for sign in ["panicked", "wasm trap", "Function: proxy_", "failed to run"] {
        assert!(
            !log.contains(sign),
            "the module trapped ({sign:?}) in:\n{log}"
        );
    }
}

#[test]
fn every_issuer_fault_is_503_for_every_waiting_request_and_recovers() {
    let big = oversized_jwks();
    let faults: Vec<(&str, IssuerHandle)> = vec![
        (
            "connection refused",
            issuer("refused.local", |i| i.go_down(Outage::Refuse)),
        ),
        (
            "reset mid-body",
            issuer("reset.local", |i| {
                let jwks = json!({"keys": [Key::Rsa1.public_jwk()]}).to_string();
                i.serve_canned(
                    Endpoint::Jwks,
                    IssuerResponse::new(200, "application/json", jwks).cut_after(40),
                )
            }),
        ),
        (
            "slower than the timeout",
            issuer("slow.local", |i| {
                i.answer_after(Duration::from_millis(TIMEOUT_MS * 2))
            }),
        ),
        (
            "5xx",
            issuer("bad-gateway.local", |i| i.go_down(Outage::Status(502))),
        ),
        (
            "garbage",
            issuer("garbage.local", |i| {
                i.serve_canned(
                    Endpoint::Jwks,
                    IssuerResponse::new(200, "application/json", vec![0xff, 0x00, 0x7b, 0x22]),
                )
            }),
        ),
        (
            "body over the size limit",
            issuer("huge.local", |i| {
                i.serve_canned(
                    Endpoint::Jwks,
                    IssuerResponse::new(200, "application/json", big.clone()),
                )
            }),
        ),
        (
            "redirect",
            issuer("redirect.local", |i| {
                i.serve_canned(
                    Endpoint::Jwks,
                    IssuerResponse::new(302, "text/plain", "moved")
                        .with_header("location", "https://elsewhere.example/jwks.json"),
                )
            }),
        ),
    ];
    let (echo, gateway) = stack(&faults);
    let target = Target {
        gateway: &gateway,
        echo: &echo,
        listener: MAIN_LISTENER,
    };
    for (case, issuer) in &faults {
        let request = Request::get(PRIVATE).bearer(&issuer.token_builder().build());
        for (i, response) in target.burst(&request, BURST).iter().enumerate() {
            contract::unavailable().check(response, &format!("{case}: request {i} of the burst"));
        }
    }
    assert_eq!(echo.requests(), 0, "no request reached the upstream");
    assert_nothing_trapped(&gateway);

    for (_, issuer) in &faults {
        issuer.come_back();
        issuer.answer_after(Duration::ZERO);
        issuer.serve_normally(Endpoint::Jwks);
    }
    for (case, issuer) in &faults {
        let request = Request::get(PRIVATE).bearer(&issuer.token_builder().build());
        eventually(
            Duration::from_secs(20),
            &format!("recovery: {case}"),
            || (target.send(&request).status == 200).then_some(()),
        );
        let statuses: Vec<u16> = target
            .burst(&request, BURST)
            .iter()
            .map(|r| r.status)
            .collect();
        assert_eq!(statuses, vec![200; BURST], "{case}, recovered");
    }
    assert_nothing_trapped(&gateway);
}

/// The content type of a key set is not checked: a valid JWKS served as `text/plain` is used.
#[test]
fn a_key_set_with_another_content_type_is_used() {
    let plain = issuer("plain.local", |i| {
        let jwks = json!({"keys": [Key::Rsa1.public_jwk()]}).to_string();
        i.serve_canned(Endpoint::Jwks, IssuerResponse::new(200, "text/plain", jwks))
    });
    let issuers = [("text/plain", plain)];
    let (echo, gateway) = stack(&issuers);
    let target = Target {
        gateway: &gateway,
        echo: &echo,
        listener: MAIN_LISTENER,
    };
    let request = Request::get(PRIVATE).bearer(&issuers[0].1.token_builder().build());
    let statuses: Vec<u16> = target
        .burst(&request, BURST)
        .iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, vec![200; BURST]);
    assert_nothing_trapped(&gateway);
}

/// An issuer that flaps between answering and failing: once keys are cached, every request
/// passes, on both workers, whatever the refreshes meet.
#[test]
fn a_flapping_issuer_never_refuses_a_valid_token_once_keys_are_cached() {
    let flapping = issuer("flapping.local", |_| {});
    let issuers = [("flapping", flapping)];
    let (echo, gateway) = stack(&issuers);
    let target = Target {
        gateway: &gateway,
        echo: &echo,
        listener: MAIN_LISTENER,
    };
    let issuer = &issuers[0].1;
    let request = Request::get(PRIVATE).bearer(&issuer.token_builder().build());
    assert_eq!(
        target
            .burst(&request, BURST)
            .iter()
            .map(|r| r.status)
            .collect::<Vec<_>>(),
        vec![200; BURST]
    );
    // Unknown kids make the filter refetch (at most once a second), so the flapping is met.
    let stranger = Request::get(PRIVATE).bearer(&issuer.token_builder().kid("rsa-unknown").build());
    for round in 0..6 {
        if round % 2 == 0 {
            issuer.go_down(Outage::Status(500));
        } else {
            issuer.come_back();
        }
        for response in target.burst(&stranger, 4) {
            assert!(
                response.status == 401 || response.status == 503,
                "round {round}: an unknown kid is 401, or 503 while the refetch fails: {response:?}"
            );
        }
        let statuses: Vec<u16> = target
            .burst(&request, BURST)
            .iter()
            .map(|r| r.status)
            .collect();
        assert_eq!(statuses, vec![200; BURST], "round {round}");
        thread::sleep(Duration::from_millis(1100));
    }
    assert_nothing_trapped(&gateway);
}

/// A new configuration pushed while requests wait for a slow key set (Envoy replaces the
/// listener, so a new plugin instance starts beside the old one, on both workers): every
/// waiting request is answered and nothing traps; the requests that came in on the old
/// instance are decided by it, and the new instance decides everything after the push.
#[test]
fn a_configuration_reload_while_requests_wait_for_keys_answers_every_one() {
    const WAITING: usize = 24;
    let issuer = issuer("reload.local", |i| {
        i.answer_after(Duration::from_millis(1500))
    });
    let echo = Echo::start(0).unwrap();
    let config = |realm: &str| {
        let mut config = demo_config(&issuer);
        config["realm"] = json!(realm);
        config["http_timeout_ms"] = json!(4000);
        config
    };
    let before = GatewayOptions::new(config("before"), &issuer, &echo)
        .concurrency(2)
        .reloadable();
    let gateway = Gateway::start(before.clone());
    let token = issuer.token_builder().build();
    let request = Request::get(PRIVATE).bearer(&token);

    let answered = AtomicUsize::new(0);
    let statuses: Vec<u16> = thread::scope(|scope| {
        let waiting: Vec<_> = (0..WAITING)
            .map(|_| {
                scope.spawn(|| {
                    let status = gateway.send(&request).status;
                    answered.fetch_add(1, Ordering::SeqCst);
                    status
                })
            })
            .collect();
        // The first fetch is under way (the issuer holds it 1.5 s) and every request waits.
        assert!(issuer.wait_for_discovery_fetches(1, Duration::from_secs(5)));
        thread::sleep(Duration::from_millis(300));
        let mut after = before.clone();
        after.plugin_config = Some(config("after"));
        gateway.reload(&after);
        assert_eq!(
            answered.load(Ordering::SeqCst),
            0,
            "the reload was applied while every request still waited"
        );
        assert_eq!(
            gateway.stat("listener_manager.listener_in_place_updated"),
            Some(1),
            "Envoy replaced the filter chain"
        );
        waiting.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(
        statuses,
        vec![200; WAITING],
        "every request that waited for keys across the reload passes"
    );

    // The new instance answers now: its realm, and valid tokens pass on both workers.
    let target = Target {
        gateway: &gateway,
        echo: &echo,
        listener: MAIN_LISTENER,
    };
    issuer.answer_after(Duration::ZERO);
    let challenge = gateway
        .get(PRIVATE)
        .header("www-authenticate")
        .unwrap_or("")
        .to_string();
    assert!(
        challenge.contains("realm=\"after\""),
        "the new configuration is in force: {challenge}"
    );
    let statuses: Vec<u16> = target
        .burst(&request, BURST)
        .iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, vec![200; BURST], "after the reload");
    assert_nothing_trapped(&gateway);
}
