//! The DPoP state that outlives one request, in real Envoy with two worker threads
//! (issue 3, `dpop_replay_check`, `dpop_nonce`, `trust_forwarded_headers`): a proof is
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
mod dpop_support;

use std::collections::BTreeMap;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use common::*;
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
    let replayed = Refusal::proof(REPLAYED);
    let mut accepted = 0;
    for response in responses {
        if response.status == 200 {
            assert!(response.echoed().is_some(), "{}", shown(response));
            accepted += 1;
        } else {
            let body = response.json().unwrap_or_default();
            assert_eq!(
                (
                    response.status,
                    body["detail"]["error"].as_str(),
                    body["detail"]["error_description"].as_str(),
                    response.header("www-authenticate"),
                ),
                (
                    replayed.status,
                    Some(replayed.error.as_str()),
                    Some(replayed.description.as_str()),
                    Some(replayed.challenge.as_str()),
                ),
                "{}",
                shown(response)
            );
        }
    }
    accepted
}

#[test]
fn replay_is_detected_across_worker_threads() {
    let stack = start();
    let s = &stack;
    let main = MAIN_LISTENER;
    let token = bound_token(s, Key::Client1);
    let request = |listener: &str| {
        let proof = proof_for(s, listener, Key::Client1, "GET", PRIVATE, &token).build();
        Request::get(PRIVATE).dpop(&token, &proof)
    };
    let mut cases = Cases::new("replay across workers");

    cases.case(
        "one proof on 40 connections in a row: one 200, on both workers",
        || {
            let before = connections_per_worker(s);
            let request = request(main);
            let echoed_before = s.echo.requests();
            let responses: Vec<Response> = (0..40).map(|_| s.gateway.send(&request)).collect();
            assert_eq!(responses[0].status, 200, "{}", shown(&responses[0]));
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
        },
    );
    cases.case(
        "dpop_replay_check false: the same proof passes twice",
        || {
            let request = request(NO_REPLAY_CHECK);
            assert_allowed(s, NO_REPLAY_CHECK, &request);
            assert_allowed(s, NO_REPLAY_CHECK, &request);
        },
    );

    cases.finish();
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
    assert_allowed(s, MAIN_LISTENER, &proof(&warm));
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
        shown(response)
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
    let response = send_unseen(stack, listener, request);
    let body = response.json().unwrap_or_default();
    assert_eq!(response.status, 401, "{}", shown(&response));
    assert_eq!(
        body["detail"]["error"],
        json!("use_dpop_nonce"),
        "{}",
        shown(&response)
    );
    assert_eq!(
        body["detail"]["error_description"],
        json!(description),
        "{}",
        shown(&response)
    );
    assert_eq!(
        response.header_values("www-authenticate"),
        [dpop_error_challenge(
            "use_dpop_nonce",
            description,
            &["ES256"]
        )]
    );
    issued_nonce(&response)
}

#[test]
fn server_nonces() {
    let stack = start();
    let s = &stack;
    let token = bound_token(s, Key::Client1);
    let proof = |listener: &str| proof_for(s, listener, Key::Client1, "GET", PRIVATE, &token);
    let request = |proof: &ProofBuilder| Request::get(PRIVATE).dpop(&token, &proof.build());
    let mut cases = Cases::new("server nonces");

    // Issued and retried; the first, nonce-less proof was not remembered.
    let jti = testbed::proof::random_jti();
    let mut first_nonce = String::new();
    let issued_at = Instant::now();
    cases.case(
        "a proof without a nonce gets use_dpop_nonce and a nonce",
        || {
            first_nonce = assert_use_nonce(
                s,
                NONCE_A,
                &request(&proof(NONCE_A).jti(&jti)),
                NONCE_MISSING,
            );
        },
    );
    let nonce = first_nonce.clone();
    let accepted_with_nonce = request(&proof(NONCE_A).jti(&jti).nonce(&nonce));
    cases.case(
        "the retry with the nonce, reusing the refused proof's jti, passes",
        || {
            let response = assert_allowed(s, NONCE_A, &accepted_with_nonce);
            assert_eq!(
                response.header("dpop-nonce"),
                None,
                "a fresh nonce needs no replacement"
            );
        },
    );
    cases.case(
        "the nonce of one instance is accepted by another sharing the secret",
        || {
            assert_allowed(s, NONCE_B, &request(&proof(NONCE_B).nonce(&nonce)));
        },
    );
    cases.case(
        "a nonce issued by the other instance is accepted here too",
        || {
            let from_b = assert_use_nonce(s, NONCE_B, &request(&proof(NONCE_B)), NONCE_MISSING);
            assert_allowed(s, NONCE_A, &request(&proof(NONCE_A).nonce(&from_b)));
        },
    );
    cases.case(
        "a nonce under another secret is refused with a fresh nonce",
        || {
            let foreign = assert_use_nonce(s, FOREIGN, &request(&proof(FOREIGN)), NONCE_MISSING);
            let fresh = assert_use_nonce(
                s,
                NONCE_A,
                &request(&proof(NONCE_A).nonce(&foreign)),
                NONCE_INVALID,
            );
            assert_ne!(fresh, foreign);
            assert_allowed(s, NONCE_A, &request(&proof(NONCE_A).nonce(&fresh)));
        },
    );
    cases.case(
        "a proof failing an earlier check gets that error, not use_dpop_nonce",
        || {
            let wrong_method = proof(NONCE_A).claim("htm", json!("POST"));
            assert_refused(
                s,
                NONCE_A,
                &request(&wrong_method),
                &Refusal::proof(HTM_MISMATCH),
            );
        },
    );
    cases.case("a made-up nonce is refused", || {
        for made_up in ["", "nonce", &"A".repeat(32)] {
            assert_use_nonce(
                s,
                NONCE_A,
                &request(&proof(NONCE_A).nonce(made_up)),
                NONCE_INVALID,
            );
        }
    });
    cases.case("a nonce that is not a string is a malformed proof", || {
        let request = request(&proof(NONCE_A).claim("nonce", json!(1)));
        let response = send_unseen(s, NONCE_A, &request);
        let body = response.json().unwrap_or_default();
        assert_eq!(
            (
                response.status,
                body["detail"]["error"].as_str(),
                body["detail"]["error_description"].as_str()
            ),
            (401, Some("invalid_dpop_proof"), Some(BAD_NONCE_CLAIM)),
            "{}",
            shown(&response)
        );
    });
    cases.case(
        "without dpop_nonce configured, a nonce in the proof is ignored",
        || {
            let response = assert_allowed(
                s,
                MAIN_LISTENER,
                &request(&proof(MAIN_LISTENER).nonce(&nonce)),
            );
            assert_eq!(response.header("dpop-nonce"), None);
        },
    );

    // Past half its lifetime, a successful response hands out the next nonce; the old one
    // is still accepted for at least the lifetime.
    sleep_until(issued_at + Duration::from_millis(NONCE_LIFETIME * 1000 + 100));
    let mut next = String::new();
    cases.case(
        "past half its lifetime, success carries the next nonce",
        || {
            let response = assert_allowed(s, NONCE_A, &request(&proof(NONCE_A).nonce(&nonce)));
            next = issued_nonce(&response);
            assert_ne!(next, nonce);
        },
    );
    let next_nonce = next.clone();
    cases.case(
        "the next nonce is accepted at once, without a replacement",
        || {
            let response = assert_allowed(s, NONCE_B, &request(&proof(NONCE_B).nonce(&next_nonce)));
            assert_eq!(response.header("dpop-nonce"), None);
        },
    );

    // Past twice its lifetime, the first nonce is refused everywhere.
    sleep_until(issued_at + Duration::from_millis(2 * NONCE_LIFETIME * 1000 + 300));
    cases.case(
        "past twice its lifetime, the nonce is refused with a fresh one",
        || {
            let fresh = assert_use_nonce(
                s,
                NONCE_A,
                &request(&proof(NONCE_A).nonce(&nonce)),
                NONCE_EXPIRED,
            );
            assert_ne!(fresh, nonce);
            assert_use_nonce(
                s,
                NONCE_B,
                &request(&proof(NONCE_B).nonce(&nonce)),
                NONCE_EXPIRED,
            );
            assert_allowed(s, NONCE_A, &request(&proof(NONCE_A).nonce(&fresh)));
        },
    );
    cases.case(
        "a replayed proof with an expired nonce: the nonce is checked before the replay",
        || {
            assert_use_nonce(s, NONCE_A, &accepted_with_nonce, NONCE_EXPIRED);
        },
    );

    cases.finish();
}

fn sleep_until(deadline: Instant) {
    let now = Instant::now();
    if deadline > now {
        std::thread::sleep(deadline - now);
    }
}

#[test]
fn forwarded_headers_for_htu() {
    let stack = start();
    let s = &stack;
    let token = bound_token(s, Key::Client1);
    let mut cases = Cases::new("forwarded headers for htu");
    // A request to `listener` with a proof naming `htu` and these extra header lines.
    let request = |htu: &str, headers: &[(&str, &str)]| {
        let proof = ProofBuilder::new(Key::Client1, "GET", htu)
            .access_token(&token)
            .build();
        let mut request = Request::get(PRIVATE).dpop(&token, &proof);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        request
    };
    let direct = |listener: &str| listener_url(s, listener, PRIVATE);
    let accepted = |listener: &str, htu: &str, headers: &[(&str, &str)]| {
        assert_allowed(s, listener, &request(htu, headers));
    };
    let mismatched = |listener: &str, htu: &str, headers: &[(&str, &str)]| {
        assert_refused(
            s,
            listener,
            &request(htu, headers),
            &Refusal::proof(HTU_MISMATCH),
        );
    };
    let main = MAIN_LISTENER;
    let main_port = s.gateway.listener_port(main);
    let trusted_port = s.gateway.listener_port(TRUSTED);
    let local = |port: u16| format!("127.0.0.1:{port}");

    // trust_forwarded_headers false: the connection and the request line decide.
    cases.case("untrusted X-Forwarded-Proto is ignored", || {
        let headers = [("X-Forwarded-Proto", "https")];
        accepted(main, &direct(main), &headers);
        mismatched(
            main,
            &format!("https://{}{PRIVATE}", local(main_port)),
            &headers,
        );
    });
    cases.case("untrusted X-Forwarded-Host is ignored", || {
        let headers = [("X-Forwarded-Host", "api.example.test")];
        accepted(main, &direct(main), &headers);
        mismatched(main, "http://api.example.test/api/private", &headers);
    });
    cases.case("untrusted X-Forwarded-Prefix is ignored", || {
        let headers = [("X-Forwarded-Prefix", "/gw")];
        accepted(main, &direct(main), &headers);
        mismatched(
            main,
            &format!("http://{}/gw/api/private", local(main_port)),
            &headers,
        );
    });

    // trust_forwarded_headers true: single valid values are honoured.
    let trusted_local = local(trusted_port);
    cases.case("trusted X-Forwarded-Proto", || {
        let headers = [("X-Forwarded-Proto", "https")];
        accepted(
            TRUSTED,
            &format!("https://{trusted_local}{PRIVATE}"),
            &headers,
        );
        mismatched(TRUSTED, &direct(TRUSTED), &headers);
    });
    cases.case("trusted X-Forwarded-Host", || {
        let headers = [("X-Forwarded-Host", "api.example.test:8443")];
        accepted(
            TRUSTED,
            "http://api.example.test:8443/api/private",
            &headers,
        );
        mismatched(TRUSTED, &direct(TRUSTED), &headers);
    });
    cases.case("trusted X-Forwarded-Prefix", || {
        let headers = [("X-Forwarded-Prefix", "/gw")];
        accepted(
            TRUSTED,
            &format!("http://{trusted_local}/gw/api/private"),
            &headers,
        );
        mismatched(TRUSTED, &direct(TRUSTED), &headers);
        let trailing = [("X-Forwarded-Prefix", "/gw/")];
        accepted(
            TRUSTED,
            &format!("http://{trusted_local}/gw/api/private"),
            &trailing,
        );
    });
    cases.case("all three trusted, default port dropped", || {
        let headers = [
            ("X-Forwarded-Proto", "https"),
            ("X-Forwarded-Host", "API.example.test:443"),
            ("X-Forwarded-Prefix", "/gw"),
        ];
        accepted(TRUSTED, "https://api.example.test/gw/api/private", &headers);
        mismatched(TRUSTED, "https://api.example.test/api/private", &headers);
    });
    cases.case(
        "trusted headers do not apply to the other listeners' requests",
        || {
            let headers = [("X-Forwarded-Proto", "https")];
            accepted(main, &direct(main), &headers);
        },
    );

    // Invalid values are ignored, never trusted.
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
        cases.case(&format!("invalid forwarded value ignored: {name}"), || {
            accepted(TRUSTED, &direct(TRUSTED), &headers);
            mismatched(TRUSTED, &forged_htu, &headers);
        });
    }

    cases.finish();
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
#[test]
fn decisions_made_after_a_key_fetch() {
    // A short refetch interval lets every case fetch again after a short wait.
    let refetch_after = Duration::from_millis(1100);
    let stack = start_stack(1, |issuer| {
        let quick = json!({"jwks_min_refresh_interval_seconds": 1});
        let mut nonce = dpop_config(issuer, quick.clone());
        nonce["dpop_nonce"] = json!({"secret": secret(0x33, 32), "lifetime_seconds": 1});
        (dpop_config(issuer, quick), vec![(NONCE_A, nonce)])
    });
    let s = &stack;
    // A token under a kid the filter has not fetched yet, bound to client-1.
    let token_for_new_kid = |kid: &str| {
        publish_alias(s, kid);
        std::thread::sleep(refetch_after);
        s.token().bound_to(Key::Client1).kid(kid).build()
    };
    let fetched = |before: u64| {
        assert!(
            s.issuer.jwks_fetches() > before,
            "the decision did not wait for a key fetch"
        );
    };
    let request =
        |token: &str, proof: &ProofBuilder| Request::get(PRIVATE).dpop(token, &proof.build());
    // Both filter instances hold the key set before any alias is published.
    let unbound = s.token().build();
    for listener in [MAIN_LISTENER, NONCE_A] {
        assert_allowed(s, listener, &Request::get(PRIVATE).bearer(&unbound));
    }
    let mut cases = Cases::new("decisions after a key fetch");

    cases.case("a valid proof passes, and is then a replay", || {
        let token = token_for_new_kid("rsa-1-later-a");
        let before = s.issuer.jwks_fetches();
        let proof = proof_for(s, MAIN_LISTENER, Key::Client1, "GET", PRIVATE, &token);
        let request = request(&token, &proof);
        assert_allowed(s, MAIN_LISTENER, &request);
        fetched(before);
        assert_refused(s, MAIN_LISTENER, &request, &Refusal::proof(REPLAYED));
    });
    cases.case("a proof failing its checks is refused whole", || {
        let token = token_for_new_kid("rsa-1-later-b");
        let before = s.issuer.jwks_fetches();
        let proof = proof_for(s, MAIN_LISTENER, Key::Client1, "PATCH", PRIVATE, &token);
        assert_refused(
            s,
            MAIN_LISTENER,
            &request(&token, &proof),
            &Refusal::proof(HTM_MISMATCH),
        );
        fetched(before);
    });
    cases.case(
        "a proof without a nonce gets use_dpop_nonce and a nonce",
        || {
            let token = token_for_new_kid("rsa-1-later-c");
            let before = s.issuer.jwks_fetches();
            let proof = proof_for(s, NONCE_A, Key::Client1, "GET", PRIVATE, &token);
            assert_use_nonce(s, NONCE_A, &request(&token, &proof), NONCE_MISSING);
            fetched(before);
        },
    );
    cases.case(
        "success past half the nonce lifetime carries the next nonce",
        || {
            let known = bound_token(s, Key::Client1);
            let first = proof_for(s, NONCE_A, Key::Client1, "GET", PRIVATE, &known);
            let nonce = assert_use_nonce(s, NONCE_A, &request(&known, &first), NONCE_MISSING);
            // The wait for the refetch also takes the nonce past half its 1 s lifetime.
            let token = token_for_new_kid("rsa-1-later-d");
            let before = s.issuer.jwks_fetches();
            let proof = proof_for(s, NONCE_A, Key::Client1, "GET", PRIVATE, &token).nonce(&nonce);
            let response = assert_allowed(s, NONCE_A, &request(&token, &proof));
            fetched(before);
            assert_ne!(issued_nonce(&response), nonce);
        },
    );

    cases.finish();
}
