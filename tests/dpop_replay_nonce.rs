//! The DPoP state that outlives one request, in real Envoy with two worker threads
//! (`dpop_replay_check`, `dpop_nonce`, `trust_forwarded_headers`): a proof is
//! accepted once whichever worker sees it, server nonces are issued, retried, refreshed,
//! expired and shared between filter instances that share a secret, and the request URL
//! a proof must name comes from forwarded headers only when they are trusted and valid.
//!
//! One Envoy with `--concurrency 2` serves every case; its listeners are named after the
//! setting they change.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;
mod contract;
mod dpop_support;

use std::collections::BTreeMap;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use common::*;
use contract::*;
use dpop_support::*;
use filter_core::replay;
use serde_json::json;

const NO_REPLAY_CHECK: &str = "no_replay_check";
/// Two filter instances sharing one nonce secret.
const NONCE_A: &str = "nonce_a";
const NONCE_B: &str = "nonce_b";
/// Nonces under another secret.
const FOREIGN: &str = "foreign";
const TRUSTED: &str = "trusted";

const NONCE_LIFETIME: u64 = 2;
/// Rounds of the fresh-slot race; a double acceptance shows up in about one round in 60.
const FRESH_SLOT_ROUNDS: usize = 150;
/// Rounds of the used-slot race; each needs a search for a jti in the chosen slot.
const USED_SLOT_ROUNDS: usize = 25;
const RACE_SENDERS: usize = 12;
const PRIVATE: &str = "/api/private";
/// The filter's text for a `nonce` claim that is not a string (a malformed proof).
const BAD_NONCE_CLAIM: &str = "Invalid DPoP proof nonce";

static STACK: SharedStack = SharedStack::new();

fn start() -> Stack {
    start_stack(2, |issuer| {
        let nonce = |byte: u8| {
            dpop_config(
                issuer,
                json!({"dpop_nonce": {"secret": secret(byte, 32), "lifetime_seconds": NONCE_LIFETIME}}),
            )
        };
        let listeners = vec![
            (
                NO_REPLAY_CHECK,
                dpop_config(issuer, json!({"dpop_replay_check": false})),
            ),
            (NONCE_A, nonce(0x5a)),
            (NONCE_B, nonce(0x5a)),
            (FOREIGN, nonce(0x7f)),
            (
                TRUSTED,
                dpop_config(issuer, json!({"trust_forwarded_headers": true})),
            ),
        ];
        (demo_config(issuer), listeners)
    })
}

/// Connections each worker thread accepted so far, over every listener (Envoy names
/// listener stats after the configured address, which is port 0 for all of them).
fn connections_per_worker(stack: &Stack) -> BTreeMap<String, u64> {
    stack
        .gateway
        .stats(r"^listener\.127\.0\.0\.1_\d+\.worker_\d+\.downstream_cx_total$")
}

/// Sends `request` to `listener` from `senders` threads at once, each on a connection
/// of its own opened beforehand (so the copies leave together); returns every response.
fn send_at_once(stack: &Stack, listener: &str, request: &Request, senders: usize) -> Vec<Response> {
    let port = stack.gateway.listener_port(listener);
    let barrier = Barrier::new(senders);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..senders)
            .map(|_| {
                let mut connection = Connection::open(port).unwrap();
                let barrier = &barrier;
                scope.spawn(move || {
                    barrier.wait();
                    connection.send(request).unwrap()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

/// Every response is a 200 from the upstream or the replay refusal; returns how many
/// were 200s.
fn count_accepted(responses: &[Response]) -> usize {
    let replayed = invalid_dpop_proof(REPLAYED);
    let mut accepted = 0;
    for response in responses {
        if response.status == 200 {
            assert!(
                response.echoed().is_some(),
                "not an echo body: {}",
                response.text()
            );
            accepted += 1;
        } else {
            replayed.check(response, "a copy of an accepted proof");
        }
    }
    accepted
}

/// The stack and a token bound to `client-1`.
struct Replay {
    stack: StackGuard,
    token: String,
}

impl Replay {
    fn new() -> Replay {
        let stack = STACK.lock(start);
        let token = bound_token(&stack, Key::Client1);
        Replay { stack, token }
    }

    /// A request to `listener` with the token and a fresh proof for it.
    fn request(&self, listener: &str) -> Request {
        let proof = proof_for(
            &self.stack,
            listener,
            Key::Client1,
            "GET",
            PRIVATE,
            &self.token,
        )
        .build();
        Request::get(PRIVATE).dpop(&self.token, &proof)
    }
}

#[test]
fn one_proof_on_40_connections_in_a_row_one_200_on_both_workers() {
    let t = Replay::new();
    let s: &Stack = &t.stack;
    let main = MAIN_LISTENER;
    let before = connections_per_worker(s);
    let request = t.request(main);
    let echoed_before = s.echo.requests();
    let responses: Vec<Response> = (0..40).map(|_| s.gateway.send(&request)).collect();
    assert_eq!(responses[0].status, 200, "{}", responses[0].text());
    assert_eq!(count_accepted(&responses), 1);
    assert_eq!(s.echo.requests(), echoed_before + 1);
    let after = connections_per_worker(s);
    assert_eq!(after.len(), 2, "worker stats: {after:?}");
    for (worker, count) in &after {
        let earlier = before.get(worker).copied().unwrap_or(0);
        assert!(
            *count > earlier,
            "worker {worker} saw none of the connections: before {before:?}, after {after:?}"
        );
    }
}

#[test]
fn dpop_replay_check_false_the_same_proof_passes_twice() {
    let t = Replay::new();
    let s: &Stack = &t.stack;
    let request = t.request(NO_REPLAY_CHECK);
    Target::listener(s, NO_REPLAY_CHECK).allowed(
        &request,
        "dpop_replay_check false: the same proof passes twice",
    );
    Target::listener(s, NO_REPLAY_CHECK).allowed(
        &request,
        "dpop_replay_check false: the same proof passes twice",
    );
}

/// Copies of one proof racing through both workers: exactly one may pass. Each round
/// uses a fresh proof, so each lands on a replay-store slot no proof used before.
#[test]
fn concurrent_copies_of_a_proof_are_accepted_once() {
    let stack = start();
    let s = &stack;
    let token = bound_token(s, Key::Client1);
    let mut doubles = Vec::new();
    for round in 0..FRESH_SLOT_ROUNDS {
        let proof = proof_for(s, MAIN_LISTENER, Key::Client1, "GET", PRIVATE, &token).build();
        let request = Request::get(PRIVATE).dpop(&token, &proof);
        let echoed_before = s.echo.requests();
        let responses = send_at_once(s, MAIN_LISTENER, &request, RACE_SENDERS);
        let accepted = count_accepted(&responses);
        assert_eq!(s.echo.requests(), echoed_before + accepted as u64);
        if accepted != 1 {
            doubles.push(format!("round {round}: {accepted} accepted"));
        }
    }
    assert!(
        doubles.is_empty(),
        "one proof sent {RACE_SENDERS} times at once was accepted more than once in {} of {FRESH_SLOT_ROUNDS} rounds: {doubles:?}",
        doubles.len()
    );
}

/// The same race on a slot that already holds an entry: the compare-and-swap then decides,
/// and exactly one copy passes. Proofs are aimed at one slot with the filter's own slot
/// function, which isolates the fresh-slot race above.
#[test]
fn concurrent_copies_on_a_used_replay_slot_are_accepted_once() {
    let stack = start();
    let s = &stack;
    let token = bound_token(s, Key::Client1);
    let jkt = Key::Client1.thumbprint();
    let slot = |jti: &str| replay::slot_of(replay::entry_hash(&jkt, jti), replay::SLOTS);
    let proof = |jti: &str| {
        let proof = proof_for(s, MAIN_LISTENER, Key::Client1, "GET", PRIVATE, &token)
            .jti(jti)
            .build();
        Request::get(PRIVATE).dpop(&token, &proof)
    };
    let warm = testbed::proof::random_jti();
    Target::main(s).allowed(&proof(&warm), "a proof that fills the slot");
    let target = slot(&warm);
    let mut candidates = (0u64..)
        .map(|i| format!("{warm}-{i}"))
        .filter(|jti| slot(jti) == target);
    let mut doubles = Vec::new();
    for round in 0..USED_SLOT_ROUNDS {
        let jti = candidates.next().unwrap();
        let responses = send_at_once(s, MAIN_LISTENER, &proof(&jti), RACE_SENDERS);
        let accepted = count_accepted(&responses);
        if accepted != 1 {
            doubles.push(format!("round {round}: {accepted} accepted"));
        }
    }
    assert!(doubles.is_empty(), "{doubles:?}");
}

/// The `DPoP-Nonce` of a response; fails when there is none, or more than one.
fn issued_nonce(response: &Response) -> String {
    let values = response.header_values("dpop-nonce");
    assert_eq!(
        values.len(),
        1,
        "one DPoP-Nonce expected: {}",
        response.text()
    );
    let nonce = values[0].to_string();
    assert!(
        !nonce.is_empty()
            && nonce
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "DPoP-Nonce is not base64url: {nonce:?}"
    );
    nonce
}

/// Asserts the 401 `use_dpop_nonce` answer with `description`, and returns the nonce it
/// hands out.
fn assert_use_nonce(stack: &Stack, listener: &str, request: &Request, description: &str) -> String {
    let response = Target::listener(stack, listener).denied(request, description);
    use_dpop_nonce(description).check(&response, description);
    issued_nonce(&response)
}

/// The nonce listeners and a token bound to `client-1`.
struct Nonces {
    stack: StackGuard,
    token: String,
}

impl Nonces {
    fn new() -> Nonces {
        let stack = STACK.lock(start);
        let token = bound_token(&stack, Key::Client1);
        Nonces { stack, token }
    }

    /// A valid proof for `GET /api/private` on `listener`, for the token, without a nonce.
    fn proof(&self, listener: &str) -> ProofBuilder {
        proof_for(
            &self.stack,
            listener,
            Key::Client1,
            "GET",
            PRIVATE,
            &self.token,
        )
    }

    fn request(&self, proof: &ProofBuilder) -> Request {
        Request::get(PRIVATE).dpop(&self.token, &proof.build())
    }

    /// The nonce `listener` hands out to a proof without one.
    fn nonce_from(&self, listener: &str) -> String {
        let request = self.request(&self.proof(listener));
        assert_use_nonce(&self.stack, listener, &request, NONCE_MISSING)
    }

    /// Sends `proof` to `listener`: it passes; returns the response, for its headers.
    fn allowed(&self, listener: &str, proof: &ProofBuilder) -> Response {
        Target::listener(&self.stack, listener).allowed_response(&self.request(proof), listener)
    }
}

#[test]
fn a_proof_without_a_nonce_gets_one_and_its_retry_reusing_the_jti_passes() {
    let t = Nonces::new();
    let jti = testbed::proof::random_jti();
    let request = t.request(&t.proof(NONCE_A).jti(&jti));
    let nonce = assert_use_nonce(&t.stack, NONCE_A, &request, NONCE_MISSING);
    // The refused, nonce-less proof was not remembered: its jti is still usable.
    let response = t.allowed(NONCE_A, &t.proof(NONCE_A).jti(&jti).nonce(&nonce));
    assert_eq!(
        response.header("dpop-nonce"),
        None,
        "a fresh nonce needs no replacement"
    );
}

#[test]
fn the_nonce_of_one_instance_is_accepted_by_another_sharing_the_secret() {
    let t = Nonces::new();
    let nonce = t.nonce_from(NONCE_A);
    t.allowed(NONCE_B, &t.proof(NONCE_B).nonce(&nonce));
    let from_b = t.nonce_from(NONCE_B);
    t.allowed(NONCE_A, &t.proof(NONCE_A).nonce(&from_b));
}

#[test]
fn a_nonce_under_another_secret_is_refused_with_a_fresh_nonce() {
    let t = Nonces::new();
    let foreign = t.nonce_from(FOREIGN);
    let request = t.request(&t.proof(NONCE_A).nonce(&foreign));
    let fresh = assert_use_nonce(&t.stack, NONCE_A, &request, NONCE_INVALID);
    assert_ne!(fresh, foreign);
    t.allowed(NONCE_A, &t.proof(NONCE_A).nonce(&fresh));
}

#[test]
fn a_proof_failing_an_earlier_check_gets_that_error_not_use_dpop_nonce() {
    let t = Nonces::new();
    let request = t.request(&t.proof(NONCE_A).claim("htm", json!("POST")));
    let expected = invalid_dpop_proof(HTM_MISMATCH);
    Target::listener(&t.stack, NONCE_A).refused(&request, &expected, "wrong htm, no nonce");
}

#[test]
fn a_made_up_nonce_is_refused() {
    let t = Nonces::new();
    for made_up in ["", "nonce", &"A".repeat(32)] {
        let request = t.request(&t.proof(NONCE_A).nonce(made_up));
        assert_use_nonce(&t.stack, NONCE_A, &request, NONCE_INVALID);
    }
}

#[test]
fn a_nonce_that_is_not_a_string_is_a_malformed_proof() {
    let t = Nonces::new();
    let request = t.request(&t.proof(NONCE_A).claim("nonce", json!(1)));
    let expected = invalid_dpop_proof(BAD_NONCE_CLAIM);
    Target::listener(&t.stack, NONCE_A).refused(&request, &expected, "nonce 1");
}

#[test]
fn without_dpop_nonce_configured_a_nonce_in_the_proof_is_ignored() {
    let t = Nonces::new();
    let nonce = t.nonce_from(NONCE_A);
    let response = t.allowed(MAIN_LISTENER, &t.proof(MAIN_LISTENER).nonce(&nonce));
    assert_eq!(response.header("dpop-nonce"), None);
}

/// Past half its lifetime, a successful response hands out the next nonce and the old one
/// is still accepted; past twice its lifetime it is refused everywhere, before any replay
/// check.
#[test]
fn a_nonce_is_replaced_past_half_its_lifetime_and_refused_past_twice() {
    let t = Nonces::new();
    let issued_at = Instant::now();
    let nonce = t.nonce_from(NONCE_A);
    let accepted = t.proof(NONCE_A).nonce(&nonce);
    t.allowed(NONCE_A, &accepted);

    sleep_until(issued_at + Duration::from_millis(NONCE_LIFETIME * 1000 + 100));
    let response = t.allowed(NONCE_A, &t.proof(NONCE_A).nonce(&nonce));
    let next = issued_nonce(&response);
    assert_ne!(next, nonce);
    let response = t.allowed(NONCE_B, &t.proof(NONCE_B).nonce(&next));
    assert_eq!(
        response.header("dpop-nonce"),
        None,
        "the next nonce needs no replacement"
    );

    sleep_until(issued_at + Duration::from_millis(2 * NONCE_LIFETIME * 1000 + 300));
    let request = t.request(&t.proof(NONCE_A).nonce(&nonce));
    let fresh = assert_use_nonce(&t.stack, NONCE_A, &request, NONCE_EXPIRED);
    assert_ne!(fresh, nonce);
    let request = t.request(&t.proof(NONCE_B).nonce(&nonce));
    assert_use_nonce(&t.stack, NONCE_B, &request, NONCE_EXPIRED);
    t.allowed(NONCE_A, &t.proof(NONCE_A).nonce(&fresh));
    // The accepted proof sent again: its expired nonce is reported, not the replay.
    assert_use_nonce(&t.stack, NONCE_A, &t.request(&accepted), NONCE_EXPIRED);
}

fn sleep_until(deadline: Instant) {
    let now = Instant::now();
    if deadline > now {
        std::thread::sleep(deadline - now);
    }
}

/// The main and `trusted` listeners, with a token bound to `client-1`.
struct Forwarded {
    stack: StackGuard,
    token: String,
    main_port: u16,
    trusted_local: String,
}

impl Forwarded {
    fn new() -> Forwarded {
        let stack = STACK.lock(start);
        let token = bound_token(&stack, Key::Client1);
        let main_port = stack.gateway.listener_port(MAIN_LISTENER);
        let trusted_local = local(stack.gateway.listener_port(TRUSTED));
        Forwarded {
            stack,
            token,
            main_port,
            trusted_local,
        }
    }

    /// A request with a proof naming `htu` and these extra header lines.
    fn request(&self, htu: &str, headers: &[(&str, &str)]) -> Request {
        let proof = ProofBuilder::new(Key::Client1, "GET", htu)
            .access_token(&self.token)
            .build();
        let mut request = Request::get(PRIVATE).dpop(&self.token, &proof);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        request
    }

    /// The URL of `/api/private` on `listener`, as a client reaching it directly names it.
    fn direct(&self, listener: &str) -> String {
        listener_url(&self.stack, listener, PRIVATE)
    }

    fn accepted(&self, listener: &str, htu: &str, headers: &[(&str, &str)]) {
        Target::listener(&self.stack, listener).allowed(&self.request(htu, headers), htu);
    }

    fn mismatched(&self, listener: &str, htu: &str, headers: &[(&str, &str)]) {
        let expected = invalid_dpop_proof(HTU_MISMATCH);
        Target::listener(&self.stack, listener).refused(
            &self.request(htu, headers),
            &expected,
            htu,
        );
    }
}

/// `127.0.0.1:<port>`.
fn local(port: u16) -> String {
    format!("127.0.0.1:{port}")
}

// trust_forwarded_headers false: the connection and the request line decide.
#[test]
fn untrusted_x_forwarded_proto_is_ignored() {
    let t = Forwarded::new();
    let main = MAIN_LISTENER;
    let main_port = t.main_port;
    let headers = [("X-Forwarded-Proto", "https")];
    t.accepted(main, &t.direct(main), &headers);
    t.mismatched(
        main,
        &format!("https://{}{PRIVATE}", local(main_port)),
        &headers,
    );
}

#[test]
fn untrusted_x_forwarded_host_is_ignored() {
    let t = Forwarded::new();
    let main = MAIN_LISTENER;
    let headers = [("X-Forwarded-Host", "api.example.test")];
    t.accepted(main, &t.direct(main), &headers);
    t.mismatched(main, "http://api.example.test/api/private", &headers);
}

#[test]
fn untrusted_x_forwarded_prefix_is_ignored() {
    let t = Forwarded::new();
    let main = MAIN_LISTENER;
    let main_port = t.main_port;
    let headers = [("X-Forwarded-Prefix", "/gw")];
    t.accepted(main, &t.direct(main), &headers);
    t.mismatched(
        main,
        &format!("http://{}/gw/api/private", local(main_port)),
        &headers,
    );
}

#[test]
fn trusted_x_forwarded_proto() {
    let t = Forwarded::new();
    let trusted_local = &t.trusted_local;
    let headers = [("X-Forwarded-Proto", "https")];
    t.accepted(
        TRUSTED,
        &format!("https://{trusted_local}{PRIVATE}"),
        &headers,
    );
    t.mismatched(TRUSTED, &t.direct(TRUSTED), &headers);
}

#[test]
fn trusted_x_forwarded_host() {
    let t = Forwarded::new();
    let headers = [("X-Forwarded-Host", "api.example.test:8443")];
    t.accepted(
        TRUSTED,
        "http://api.example.test:8443/api/private",
        &headers,
    );
    t.mismatched(TRUSTED, &t.direct(TRUSTED), &headers);
}

#[test]
fn trusted_x_forwarded_prefix() {
    let t = Forwarded::new();
    let trusted_local = &t.trusted_local;
    let headers = [("X-Forwarded-Prefix", "/gw")];
    t.accepted(
        TRUSTED,
        &format!("http://{trusted_local}/gw/api/private"),
        &headers,
    );
    t.mismatched(TRUSTED, &t.direct(TRUSTED), &headers);
    let trailing = [("X-Forwarded-Prefix", "/gw/")];
    t.accepted(
        TRUSTED,
        &format!("http://{trusted_local}/gw/api/private"),
        &trailing,
    );
}

#[test]
fn all_three_trusted_default_port_dropped() {
    let t = Forwarded::new();
    let headers = [
        ("X-Forwarded-Proto", "https"),
        ("X-Forwarded-Host", "API.example.test:443"),
        ("X-Forwarded-Prefix", "/gw"),
    ];
    t.accepted(TRUSTED, "https://api.example.test/gw/api/private", &headers);
    t.mismatched(TRUSTED, "https://api.example.test/api/private", &headers);
}

#[test]
fn trusted_headers_do_not_apply_to_the_other_listeners_requests() {
    let t = Forwarded::new();
    let main = MAIN_LISTENER;
    let headers = [("X-Forwarded-Proto", "https")];
    t.accepted(main, &t.direct(main), &headers);
}

#[test]
fn invalid_forwarded_values_are_ignored_never_trusted() {
    let t = Forwarded::new();
    let trusted_local = &t.trusted_local;
    for (name, headers, forged_htu) in [
        (
            "two comma-separated protos",
            vec![("X-Forwarded-Proto", "https, http")],
            format!("https://{trusted_local}{PRIVATE}"),
        ),
        (
            "two proto header lines",
            vec![
                ("X-Forwarded-Proto", "https"),
                ("X-Forwarded-Proto", "https"),
            ],
            format!("https://{trusted_local}{PRIVATE}"),
        ),
        (
            "proto ftp",
            vec![("X-Forwarded-Proto", "ftp")],
            format!("ftp://{trusted_local}{PRIVATE}"),
        ),
        (
            "two comma-separated hosts",
            vec![("X-Forwarded-Host", "a.example.test, b.example.test")],
            "http://a.example.test/api/private".to_string(),
        ),
        (
            "host carrying a path",
            vec![("X-Forwarded-Host", "a.example.test/admin")],
            "http://a.example.test/admin/api/private".to_string(),
        ),
        (
            "prefix without a leading slash",
            vec![("X-Forwarded-Prefix", "gw")],
            format!("http://{trusted_local}/gw/api/private"),
        ),
        (
            "prefix with a dot-dot segment",
            vec![("X-Forwarded-Prefix", "/gw/../admin")],
            format!("http://{trusted_local}/admin/api/private"),
        ),
        (
            "prefix with a percent-encoded dot-dot segment",
            vec![("X-Forwarded-Prefix", "/gw/%2e%2e/admin")],
            format!("http://{trusted_local}/admin/api/private"),
        ),
        (
            "two comma-separated prefixes",
            vec![("X-Forwarded-Prefix", "/a,/b")],
            format!("http://{trusted_local}/a,/b/api/private"),
        ),
    ] {
        let request = t.request(&t.direct(TRUSTED), &headers);
        Target::listener(&t.stack, TRUSTED).allowed(&request, name);
        let request = t.request(&forged_htu, &headers);
        let expected = invalid_dpop_proof(HTU_MISMATCH);
        Target::listener(&t.stack, TRUSTED).refused(&request, &expected, name);
    }
}

/// Publishes the issuer's signing key once more under `kid`: a token naming it makes the
/// filter fetch the key set before deciding, so the decision is made after the pause.
fn publish_alias(stack: &Stack, kid: &str) {
    let mut jwks = stack.issuer.published_jwks();
    let mut alias = Key::Rsa1.public_jwk();
    alias["kid"] = json!(kid);
    jwks["keys"].as_array_mut().unwrap().push(alias);
    stack.issuer.publish_jwks(jwks);
}

/// Replay and nonces when the decision waits for a key fetch: the request is paused, the
/// keys arrive, and the same checks run with the same outcome and response headers.
static AFTER_FETCH: SharedStack = SharedStack::new();

/// A short refetch interval lets every test fetch again after a short wait.
const REFETCH_AFTER: Duration = Duration::from_millis(1100);

/// One worker, `jwks_min_refresh_interval_seconds: 1`; `nonce_a` with a 1 s nonce lifetime.
fn start_after_fetch() -> Stack {
    let stack = start_stack(1, |issuer| {
        let quick = json!({"jwks_min_refresh_interval_seconds": 1});
        let mut nonce = dpop_config(issuer, quick.clone());
        nonce["dpop_nonce"] = json!({"secret": secret(0x33, 32), "lifetime_seconds": 1});
        (dpop_config(issuer, quick), vec![(NONCE_A, nonce)])
    });
    // Both filter instances hold the key set before any alias is published.
    let unbound = stack.token().build();
    for listener in [MAIN_LISTENER, NONCE_A] {
        Target::listener(&stack, listener)
            .allowed(&Request::get(PRIVATE).bearer(&unbound), "warm-up");
    }
    stack
}

/// Replay and nonces when the decision waits for a key fetch: the request is paused, the
/// keys arrive, and the same checks run with the same outcome and response headers.
struct AfterFetch {
    stack: StackGuard,
}

impl AfterFetch {
    fn new() -> AfterFetch {
        AfterFetch {
            stack: AFTER_FETCH.lock(start_after_fetch),
        }
    }

    /// A token under a kid the filter has not fetched yet, bound to `client-1`.
    fn token_for_new_kid(&self, kid: &str) -> String {
        publish_alias(&self.stack, kid);
        std::thread::sleep(REFETCH_AFTER);
        self.stack.token().bound_to(Key::Client1).kid(kid).build()
    }

    fn fetched(&self, before: u64) {
        assert!(
            self.stack.issuer.jwks_fetches() > before,
            "the decision did not wait for a key fetch"
        );
    }

    fn request(&self, token: &str, proof: &ProofBuilder) -> Request {
        Request::get(PRIVATE).dpop(token, &proof.build())
    }
}

#[test]
fn a_valid_proof_passes_and_is_then_a_replay() {
    let t = AfterFetch::new();
    let s: &Stack = &t.stack;
    let token = t.token_for_new_kid("rsa-1-later-a");
    let before = s.issuer.jwks_fetches();
    let proof = proof_for(s, MAIN_LISTENER, Key::Client1, "GET", PRIVATE, &token);
    let request = t.request(&token, &proof);
    Target::listener(s, MAIN_LISTENER)
        .allowed(&request, "a valid proof passes, and is then a replay");
    t.fetched(before);
    Target::listener(s, MAIN_LISTENER).refused(
        &request,
        &invalid_dpop_proof(REPLAYED),
        "a valid proof passes, and is then a replay",
    );
}

#[test]
fn a_proof_failing_its_checks_is_refused_whole() {
    let t = AfterFetch::new();
    let s: &Stack = &t.stack;
    let token = t.token_for_new_kid("rsa-1-later-b");
    let before = s.issuer.jwks_fetches();
    let proof = proof_for(s, MAIN_LISTENER, Key::Client1, "PATCH", PRIVATE, &token);
    Target::listener(s, MAIN_LISTENER).refused(
        &t.request(&token, &proof),
        &invalid_dpop_proof(HTM_MISMATCH),
        "a proof failing its checks is refused whole",
    );
    t.fetched(before);
}

#[test]
fn a_proof_without_a_nonce_gets_use_dpop_nonce_and_a_nonce() {
    let t = AfterFetch::new();
    let s: &Stack = &t.stack;
    let token = t.token_for_new_kid("rsa-1-later-c");
    let before = s.issuer.jwks_fetches();
    let proof = proof_for(s, NONCE_A, Key::Client1, "GET", PRIVATE, &token);
    assert_use_nonce(s, NONCE_A, &t.request(&token, &proof), NONCE_MISSING);
    t.fetched(before);
}

#[test]
fn success_past_half_the_nonce_lifetime_carries_the_next_nonce() {
    let t = AfterFetch::new();
    let s: &Stack = &t.stack;
    let known = bound_token(s, Key::Client1);
    let first = proof_for(s, NONCE_A, Key::Client1, "GET", PRIVATE, &known);
    let nonce = assert_use_nonce(s, NONCE_A, &t.request(&known, &first), NONCE_MISSING);
    // The wait for the refetch also takes the nonce past half its 1 s lifetime.
    let token = t.token_for_new_kid("rsa-1-later-d");
    let before = s.issuer.jwks_fetches();
    let proof = proof_for(s, NONCE_A, Key::Client1, "GET", PRIVATE, &token).nonce(&nonce);
    let response = Target::listener(s, NONCE_A).allowed_response(
        &t.request(&token, &proof),
        "success past half the nonce lifetime carries the next nonce",
    );
    t.fetched(before);
    assert_ne!(issued_nonce(&response), nonce);
}
