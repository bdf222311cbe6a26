//! Signing keys through real Envoy: discovery and JWKS fetching, outages before and after
//! keys are cached, stale keys, `Cache-Control: max-age`, rotation through the unknown-`kid`
//! refetch and its rate limit, sharing between worker threads, and the statistics that
//! follow all of it. Timing uses short TTLs and intervals and polls with deadlines.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;
mod contract;

use std::thread;
use std::time::{Duration, Instant};

use common::*;
use contract::{eventually, filter_stat, Target};
use serde_json::{json, Value};
use testbed::server::Response as IssuerResponse;

const PRIVATE: &str = "/api/private";

fn private(token: &str) -> Request {
    Request::get(PRIVATE).bearer(token)
}

/// Polls until a request answers `status`; returns that response.
fn until_status(
    target: &Target<'_>,
    request: &Request,
    status: u16,
    timeout: Duration,
    what: &str,
) -> Response {
    eventually(timeout, what, || {
        let response = target.send(request);
        (response.status == status).then_some(response)
    })
}

/// A burst at a cold start: every request waits for the one fetch under way and passes.
#[test]
fn a_burst_before_keys_are_cached_waits_for_one_fetch() {
    let stack = Stack::start_with(
        IssuerOptions::default(),
        |issuer| {
            issuer.answer_after(Duration::from_millis(300));
            demo_config(issuer)
        },
        |options| options,
    );
    let target = Target::main(&stack);
    let token = stack.token().build();
    let responses = target.burst(&private(&token), 32);
    for (i, response) in responses.iter().enumerate() {
        assert_eq!(
            response.status, 200,
            "request {i} of the burst: {response:?}"
        );
    }
    assert_eq!(stack.echo.requests(), 32);
    // The request that came first fetched; the start-up prefetch may have gone out too.
    assert!(
        stack.issuer.jwks_fetches() <= 2,
        "32 waiting requests caused {} JWKS fetches",
        stack.issuer.jwks_fetches()
    );
}

#[test]
fn an_outage_before_the_first_fetch_is_503_and_recovers_without_restart() {
    let stack = Stack::start_with(
        IssuerOptions::default(),
        |issuer| {
            issuer.go_down(Outage::Hang);
            with(demo_config(issuer), "http_timeout_ms", json!(1000))
        },
        |options| options,
    );
    let target = Target::main(&stack);
    let token = stack.token().build();
    // The start-up prefetch is out and hanging.
    assert!(stack
        .issuer
        .wait_for_discovery_fetches(1, Duration::from_secs(5)));

    // Requests arriving meanwhile wait for that fetch: Envoy resumes them from its callback,
    // so they cost the issuer nothing more.
    let fetches_before = stack.issuer.discovery_fetches();
    let started = Instant::now();
    let responses = target.burst(&private(&token), 8);
    for (i, response) in responses.iter().enumerate() {
        contract::unavailable().check(
            response,
            &format!("concurrent request {i} during a hanging fetch"),
        );
    }
    let waiting_fetches = stack.issuer.discovery_fetches() - fetches_before;
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "the fetch timeout bounds the wait: {:?}",
        started.elapsed()
    );
    // One retry may follow the start-up fetch's timeout.
    assert!(
        waiting_fetches <= 1,
        "8 waiting requests caused {waiting_fetches} fetches"
    );

    // An issuer answering with an error status is an outage too.
    stack.issuer.go_down(Outage::Status(500));
    let before = stack.issuer.discovery_fetches();
    assert!(stack
        .issuer
        .wait_for_discovery_fetches(before + 1, Duration::from_secs(10)));
    let response = target.denied(&private(&token), "issuer answering 500");
    contract::unavailable().check(&response, "issuer answering 500");

    assert_eq!(
        stack.echo.requests(),
        0,
        "refused requests never reach the upstream"
    );

    stack.issuer.come_back();
    until_status(
        &target,
        &private(&token),
        200,
        Duration::from_secs(20),
        "recovery after the outage",
    );
    target.allowed(&private(&token), "after recovery");

    assert!(filter_stat(&stack.gateway, "jwks_fetch.failure") >= 2);
    assert!(filter_stat(&stack.gateway, "jwks_fetch.success") >= 1);
    assert!(contract::filter_stat_once(&stack.gateway, "denied.keys_unavailable", 9) >= 9);
    eventually(
        Duration::from_secs(3),
        "the keys gauge to show five keys",
        || (filter_stat(&stack.gateway, "jwks_keys") == 5).then_some(()),
    );
    let log = stack.gateway.log();
    assert!(
        log.lines().any(|l| l.contains("][warning][wasm]")),
        "key fetch failures are logged at warn"
    );
    assert!(!log.contains(&token), "a token never reaches the log");
}

/// A gateway whose keys live one second and may serve four more while refreshes fail.
fn short_lived_keys_stack() -> Stack {
    Stack::with_config(|issuer| {
        let config = with(demo_config(issuer), "jwks_cache_ttl_seconds", json!(1));
        let config = with(config, "jwks_max_stale_seconds", json!(4));
        with(config, "http_timeout_ms", json!(500))
    })
}

/// Takes the issuer down and waits until a refresh of the keys has failed.
fn fail_refreshes(stack: &Stack) -> Instant {
    stack.issuer.go_down(Outage::Status(503));
    let down = Instant::now();
    let failures = filter_stat(&stack.gateway, "jwks_fetch.failure");
    eventually(Duration::from_secs(5), "a failed refresh", || {
        (filter_stat(&stack.gateway, "jwks_fetch.failure") > failures).then_some(())
    });
    down
}

#[test]
fn stale_keys_serve_while_refreshes_fail_until_max_stale() {
    let stack = short_lived_keys_stack();
    let target = Target::main(&stack);
    // Each request carries a token never seen before, so only the keys can vouch for it.
    let fresh = |n: u32| private(&stack.token().claim("jti", json!(format!("t{n}"))).build());
    target.allowed(&fresh(0), "issuer up");

    let down = fail_refreshes(&stack);
    target.allowed(&fresh(1), "stale keys after a failed refresh");
    // The cached set lacks this kid: a token problem, not an outage.
    let unknown = stack.token().kid("rsa-unknown").build();
    let response = target.denied(&private(&unknown), "unknown kid while the issuer is down");
    contract::invalid_token().check(&response, "unknown kid while the issuer is down");

    let mut n = 1;
    let response = eventually(Duration::from_secs(10), "stale keys to expire", || {
        n += 1;
        let response = target.send(&fresh(n));
        assert!(
            matches!(response.status, 200 | 503),
            "stale keys either serve or are gone: {} {}",
            response.status,
            response.text()
        );
        (response.status == 503).then_some(response)
    });
    let expired_after = down.elapsed();
    contract::unavailable().check(&response, "stale keys expired");
    assert!(
        expired_after >= Duration::from_secs(2) && expired_after <= Duration::from_secs(8),
        "ttl 1 s + max stale 4 s, but keys stopped serving {expired_after:?} after the outage began"
    );

    stack.issuer.come_back();
    until_status(
        &target,
        &fresh(1000),
        200,
        Duration::from_secs(20),
        "recovery after stale keys expired",
    );
}

#[test]
fn a_token_seen_before_stops_passing_once_its_keys_are_past_max_stale() {
    let stack = short_lived_keys_stack();
    let target = Target::main(&stack);
    let token = private(&stack.token().build());
    target.allowed(&token, "issuer up");
    fail_refreshes(&stack);
    target.allowed(&token, "stale keys after a failed refresh");
    // Keys serve at most ttl 1 s + max stale 4 s after the last good fetch.
    thread::sleep(Duration::from_secs(6));
    let response = target.denied(&token, "same token, keys past max stale");
    contract::unavailable().check(&response, "same token, keys past max stale");
}

/// An issuer of `domain` whose documents are broken by `breakage`.
fn broken_issuer(domain: &str, breakage: impl FnOnce(&IssuerHandle)) -> IssuerHandle {
    let issuer = Issuer::start(IssuerOptions {
        domain: domain.into(),
        ..IssuerOptions::default()
    })
    .unwrap();
    breakage(&issuer);
    issuer
}

#[test]
fn unusable_discovery_or_jwks_documents_are_503_until_fixed() {
    let issuers: Vec<(&str, IssuerHandle)> = vec![
        ("control", broken_issuer("good.local", |_| {})),
        (
            "discovery names another issuer",
            broken_issuer("mismatch.local", |i| {
                i.set_discovery_issuer(Some("https://evil.local/"))
            }),
        ),
        (
            "discovery issuer lacks the trailing slash",
            broken_issuer("noslash.local", |i| {
                i.set_discovery_issuer(Some("https://noslash.local"))
            }),
        ),
        (
            "discovery is malformed JSON",
            broken_issuer("baddiscovery.local", |i| {
                i.serve_malformed_json(Endpoint::Discovery)
            }),
        ),
        (
            "discovery answers 500",
            broken_issuer("discovery500.local", |i| {
                i.serve_canned(Endpoint::Discovery, IssuerResponse::json(500, &json!({})))
            }),
        ),
        (
            "JWKS is malformed JSON",
            broken_issuer("badjwks.local", |i| i.serve_malformed_json(Endpoint::Jwks)),
        ),
        (
            "JWKS answers 404",
            broken_issuer("jwks404.local", |i| {
                i.serve_canned(Endpoint::Jwks, IssuerResponse::json(404, &json!({})))
            }),
        ),
        (
            "JWKS is not JSON at all",
            broken_issuer("htmljwks.local", |i| {
                i.serve_canned(
                    Endpoint::Jwks,
                    IssuerResponse::new(200, "text/html", "<html>login</html>"),
                )
            }),
        ),
    ];
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
    let config = json!({
        "domains": domains,
        "audience": testbed::DEFAULT_AUDIENCE,
        "upstreams": upstreams,
        "http_timeout_ms": 1000,
    });
    let mut options = GatewayOptions::without_filter(&echo);
    options.plugin_config = Some(config);
    for (_, issuer) in &issuers {
        options = options.cluster(&format!("keys_{}", issuer.domain()), issuer.port());
    }
    let gateway = Gateway::start(options);
    let target = Target {
        gateway: &gateway,
        echo: &echo,
        listener: MAIN_LISTENER,
    };

    let tokens: Vec<String> = issuers
        .iter()
        .map(|(_, i)| i.token_builder().build())
        .collect();
    target.allowed(&private(&tokens[0]), "control issuer");
    for ((case, _), token) in issuers.iter().zip(&tokens).skip(1) {
        let response = target.denied(&private(token), case);
        contract::unavailable().check(&response, case);
    }

    for (_, issuer) in &issuers {
        issuer.set_discovery_issuer(None);
        issuer.serve_normally(Endpoint::Discovery);
        issuer.serve_normally(Endpoint::Jwks);
    }
    for ((case, _), token) in issuers.iter().zip(&tokens) {
        until_status(
            &target,
            &private(token),
            200,
            Duration::from_secs(20),
            &format!("recovery: {case}"),
        );
    }
    let log = gateway.log();
    for token in &tokens {
        assert!(
            !log.contains(token.as_str()),
            "a token never reaches the log"
        );
    }
}

/// A JWKS that parses but holds no usable key is an answer: every token is refused 401
/// `invalid_token`, not 503. The issuer's next key is found by the unknown-`kid` refetch.
#[test]
fn a_key_set_without_usable_keys_refuses_tokens_with_401() {
    for (case, jwks) in [
        ("no keys", json!({"keys": []})),
        (
            "only unsupported keys",
            json!({"keys": [{"kty": "oct", "kid": "shared", "k": "c2VjcmV0"}]}),
        ),
    ] {
        let stack = Stack::start_with(
            IssuerOptions::default(),
            |issuer| {
                issuer.publish_jwks(jwks);
                with(
                    demo_config(issuer),
                    "jwks_min_refresh_interval_seconds",
                    json!(1),
                )
            },
            |options| options,
        );
        let target = Target::main(&stack);
        let token = stack.token().build();
        let response = target.denied(&private(&token), case);
        contract::invalid_token().check(&response, case);

        stack.issuer.publish(&[Key::Rsa1]);
        until_status(
            &target,
            &private(&token),
            200,
            Duration::from_secs(5),
            &format!("{case}: the key published later"),
        );
        assert_eq!(
            filter_stat(&stack.gateway, "jwks_fetch.failure"),
            0,
            "{case}"
        );
        assert!(
            stack.gateway.log().contains("has no usable key"),
            "{case}: the empty key set is logged"
        );
    }
}

#[test]
fn cache_control_max_age_shortens_the_key_lifetime() {
    // The configured TTL (default 600 s) is capped by the response's max-age.
    let stack = Stack::start_with(
        IssuerOptions {
            cache_control: Some("public, max-age=1".into()),
            ..IssuerOptions::default()
        },
        demo_config,
        |options| options,
    );
    let target = Target::main(&stack);
    let old = stack.token().build();
    target.allowed(&private(&old), "before rotation");
    let fetched = stack.issuer.jwks_fetches();
    assert!(
        stack
            .issuer
            .wait_for_jwks_fetches(fetched + 2, Duration::from_secs(6)),
        "keys with max-age=1 are refreshed without any request asking"
    );

    // The same kid now names other key material: tokens it vouched for before stop passing.
    let mut swapped = Key::Rsa2.public_jwk();
    swapped["kid"] = json!(Key::Rsa1.kid());
    stack.issuer.publish_jwks(json!({ "keys": [swapped] }));
    let response = until_status(
        &target,
        &private(&old),
        401,
        Duration::from_secs(6),
        "the replaced key to stop working",
    );
    contract::invalid_token().check(&response, "kid now names another key");
    let under_old_kid = stack.token().key(Key::Rsa2).kid(Key::Rsa1.kid()).build();
    target.allowed(&private(&under_old_kid), "new key under the old kid");

    stack.issuer.publish(&[Key::Rsa2]);
    let response = until_status(
        &target,
        &private(&under_old_kid),
        401,
        Duration::from_secs(6),
        "the removed kid to stop working",
    );
    contract::invalid_token().check(&response, "kid removed from the JWKS");
    // Found by the refresh alone: the unknown-kid refetch is rate-limited for 30 s.
    target.allowed(
        &private(&stack.token().key(Key::Rsa2).build()),
        "the new kid",
    );
    eventually(
        Duration::from_secs(3),
        "the keys gauge to show one key",
        || (filter_stat(&stack.gateway, "jwks_keys") == 1).then_some(()),
    );
    assert_eq!(filter_stat(&stack.gateway, "jwks_fetch.failure"), 0);
}

#[test]
fn a_new_kid_is_picked_up_by_one_rate_limited_refetch() {
    let stack = Stack::with_config(|issuer| {
        with(
            demo_config(issuer),
            "jwks_min_refresh_interval_seconds",
            json!(1),
        )
    });
    let target = Target::main(&stack);
    // Keys are prefetched on start, before any request.
    assert!(stack
        .issuer
        .wait_for_jwks_fetches(1, Duration::from_secs(5)));
    // Let the refetch interval since that fetch pass.
    thread::sleep(Duration::from_millis(1100));
    let old = stack.token().build();
    let new = stack.token().key(Key::Rsa2).build();
    target.allowed(&private(&old), "published kid");
    let fetches = stack.issuer.jwks_fetches();
    assert_eq!(filter_stat(&stack.gateway, "jwks_keys"), 5);

    let response = target.denied(&private(&new), "kid not published yet");
    contract::invalid_token().check(&response, "kid not published yet");
    assert_eq!(
        stack.issuer.jwks_fetches(),
        fetches + 1,
        "an unknown kid refetches once"
    );
    for i in 0..3 {
        let case = format!("kid still unknown, attempt {i}");
        let response = target.denied(&private(&new), &case);
        contract::invalid_token().check(&response, &case);
    }
    assert_eq!(
        stack.issuer.jwks_fetches(),
        fetches + 1,
        "refetches are rate-limited"
    );

    stack.issuer.publish(&[Key::Rsa1, Key::Rsa2]);
    thread::sleep(Duration::from_millis(1100));
    target.allowed(&private(&new), "kid published");
    assert_eq!(stack.issuer.jwks_fetches(), fetches + 2);
    target.allowed(&private(&old), "old kid still published");
    eventually(
        Duration::from_secs(3),
        "the keys gauge to show two keys",
        || (filter_stat(&stack.gateway, "jwks_keys") == 2).then_some(()),
    );

    // Removing a kid takes effect with the next refresh, not before.
    stack.issuer.publish(&[Key::Rsa2]);
    target.allowed(&private(&old), "removed kid before any refresh");
    thread::sleep(Duration::from_millis(1100));
    let stranger = stack.token().kid("rsa-unknown").build();
    let response = target.denied(&private(&stranger), "unknown kid");
    contract::invalid_token().check(&response, "unknown kid");
    assert_eq!(stack.issuer.jwks_fetches(), fetches + 3);
    let response = target.denied(&private(&old), "removed kid after the refresh");
    contract::invalid_token().check(&response, "removed kid after the refresh");
    target.allowed(&private(&new), "new kid after the refresh");
    assert_eq!(stack.issuer.jwks_fetches(), fetches + 3);
    assert_eq!(filter_stat(&stack.gateway, "jwks_fetch.failure"), 0);
}

/// Sends `request` on `count` fresh connections and returns the statuses.
fn spread(target: &Target<'_>, request: &Request, count: usize) -> Vec<u16> {
    (0..count).map(|_| target.send(request).status).collect()
}

/// Connections each worker of a `--concurrency 2` gateway accepted on the main listener.
fn connections_per_worker(gateway: &Gateway) -> [u64; 2] {
    let stats = gateway.stats("^listener\\..*\\.worker_[01]\\.downstream_cx_total$");
    let sum = |worker: &str| {
        stats
            .iter()
            .filter(|(name, _)| name.contains(&format!(".{worker}.")))
            .map(|(_, v)| *v)
            .sum()
    };
    [sum("worker_0"), sum("worker_1")]
}

#[test]
fn workers_share_refetched_keys_and_the_unknown_kid_rate_limit() {
    let stack = Stack::start_with(
        IssuerOptions::default(),
        |issuer| {
            with(
                demo_config(issuer),
                "jwks_min_refresh_interval_seconds",
                json!(2),
            )
        },
        |options| options.concurrency(2),
    );
    let target = Target::main(&stack);
    let old = private(&stack.token().build());
    let new = private(&stack.token().key(Key::Rsa2).build());
    let stranger = private(&stack.token().kid("rsa-unknown").build());
    assert!(stack
        .issuer
        .wait_for_jwks_fetches(1, Duration::from_secs(5)));
    thread::sleep(Duration::from_millis(2100));

    assert_eq!(spread(&target, &old, 20), vec![200; 20]);
    let [first, second] = connections_per_worker(&stack.gateway);
    assert!(
        first > 0 && second > 0,
        "connections must reach both workers ({first}, {second})"
    );

    // One worker refetches for the new kid; the other takes the keys from shared data.
    stack.issuer.publish(&[Key::Rsa1, Key::Rsa2]);
    let fetches = stack.issuer.jwks_fetches();
    assert_eq!(target.send(&new).status, 200);
    assert_eq!(stack.issuer.jwks_fetches(), fetches + 1);
    assert_eq!(spread(&target, &new, 20), vec![200; 20]);
    assert_eq!(
        stack.issuer.jwks_fetches(),
        fetches + 1,
        "the other worker used the shared keys"
    );

    // A burst of unknown kids over both workers refetches once in all.
    thread::sleep(Duration::from_millis(2100));
    let fetches = stack.issuer.jwks_fetches();
    let started = Instant::now();
    let statuses = spread(&target, &stranger, 20);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "the burst fits in one interval"
    );
    assert_eq!(statuses, vec![401; 20]);
    assert_eq!(
        stack.issuer.jwks_fetches(),
        fetches + 1,
        "one refetch for an unknown kid across workers"
    );
}

/// A key rotation under load: a burst of tokens with the new `kid` over both workers, while
/// the JWKS answers slowly. Every request waits for the one refetch, on its own worker or on
/// the other, and passes.
#[test]
fn a_rotation_burst_over_two_workers_waits_for_one_refetch() {
    let stack = Stack::start_with(
        IssuerOptions::default(),
        |issuer| {
            with(
                demo_config(issuer),
                "jwks_min_refresh_interval_seconds",
                json!(1),
            )
        },
        |options| options.concurrency(2),
    );
    let target = Target::main(&stack);
    assert!(stack
        .issuer
        .wait_for_jwks_fetches(1, Duration::from_secs(5)));
    let old = private(&stack.token().build());
    assert_eq!(spread(&target, &old, 10), vec![200; 10]);
    thread::sleep(Duration::from_millis(1100));

    stack.issuer.publish(&[Key::Rsa1, Key::Rsa2]);
    stack.issuer.answer_after(Duration::from_millis(1500));
    let new = private(&stack.token().key(Key::Rsa2).build());
    let fetches = stack.issuer.jwks_fetches();
    let before = connections_per_worker(&stack.gateway);
    let responses = target.burst(&new, 50);
    let after = connections_per_worker(&stack.gateway);
    assert!(
        after[0] > before[0] && after[1] > before[1],
        "the burst must reach both workers ({before:?} then {after:?})"
    );
    let statuses: Vec<u16> = responses.iter().map(|r| r.status).collect();
    assert_eq!(statuses, vec![200; 50]);
    assert_eq!(
        stack.issuer.jwks_fetches(),
        fetches + 1,
        "one refetch for the new kid across workers"
    );
}

#[test]
fn workers_share_keys_fetched_at_start_and_on_refresh() {
    let stack = Stack::start_with(
        IssuerOptions {
            cache_control: Some("public, max-age=2".into()),
            ..IssuerOptions::default()
        },
        demo_config,
        |options| options.concurrency(2),
    );
    let target = Target::main(&stack);
    let token = private(&stack.token().build());
    assert!(stack
        .issuer
        .wait_for_jwks_fetches(1, Duration::from_secs(5)));
    thread::sleep(Duration::from_millis(500));
    assert_eq!(spread(&target, &token, 20), vec![200; 20]);
    let [first, second] = connections_per_worker(&stack.gateway);
    assert!(first > 0 && second > 0, "connections reach both workers");
    assert_eq!(
        (
            stack.issuer.discovery_fetches(),
            stack.issuer.jwks_fetches()
        ),
        (1, 1),
        "keys fetched once at start serve both workers"
    );
    // Two refresh periods: one fetch each, whatever the number of workers.
    thread::sleep(Duration::from_millis(4500));
    assert_eq!(spread(&target, &token, 20), vec![200; 20]);
    let jwks = stack.issuer.jwks_fetches();
    assert!(
        (2..=4).contains(&jwks),
        "{jwks} JWKS fetches in about 5 s with max-age=2"
    );
}
