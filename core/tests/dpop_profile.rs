//! Where a DPoP request's time goes, step by step, with fresh distinct proofs for one bound
//! token: what `make bench`'s workload (c) sends. At the end, for workloads (b) and (d), the
//! steps of a Bearer token that misses the verified-token cache. A profile, not a test: it asserts only that
//! every proof is accepted, and prints nanoseconds per step. Run it where the filter runs, on
//! V8 under Node (`scripts/wasi-run`), optimised:
//!
//! ```sh
//! cargo test --release -p filter-core --target wasm32-wasip1 --test dpop_profile -- --ignored --nocapture
//! ```
//!
//! PROFILE_PROOFS (2000) sets how many proofs; each step runs over all of them once to warm
//! up (V8 compiles hot functions again, optimised) and is then timed over all of them.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod fixtures;

use std::hint::black_box;
use std::time::Instant;

use filter_core::algorithm::Algorithm;
use filter_core::authorize::Decision;
use filter_core::dpop::{self, ProofTarget};
use filter_core::proof_keys::ProofKeys;
use filter_core::replay;
use filter_core::shared::{self, MemoryStore, Replay};
use filter_core::{crypto, jwk, jws};
use fixtures::*;
use testbed::Key;

/// Nanoseconds per call of `step` over `inputs`, after one untimed pass.
fn per_call<T>(inputs: &[T], mut step: impl FnMut(&T)) -> f64 {
    for input in inputs {
        step(input);
    }
    let started = Instant::now();
    for input in inputs {
        step(input);
    }
    started.elapsed().as_nanos() as f64 / inputs.len().max(1) as f64
}

#[test]
#[ignore = "a profile: run it with --ignored --nocapture (see the file's comment)"]
fn dpop_request_steps() {
    let count: usize = std::env::var("PROFILE_PROOFS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(2000);
    let token = good().bound_to(Key::Client1).build();
    let proofs: Vec<String> = (0..count)
        .map(|i| {
            testbed::ProofBuilder::new(Key::Client1, "GET", PRIVATE_URL)
                .access_token(&token)
                .jti(&format!("profile-{i}"))
                .iat(NOW)
                .build()
        })
        .collect();
    let policy = config().dpop;
    let target = ProofTarget {
        method: "GET",
        url: Some(PRIVATE_URL),
    };
    let ath = dpop::access_token_hash(&token);
    let mut keys = ProofKeys::new(8);
    let mut rows: Vec<(&str, f64)> = Vec::new();

    rows.push((
        "decode the proof (base64url, JSON header and claims)",
        per_call(&proofs, |p| {
            black_box(dpop::decode_proof(p).unwrap());
        }),
    ));
    let decoded = jws::decode(&proofs[0]).unwrap();
    let jwk_object = decoded.header.jwk.clone().unwrap();
    rows.push((
        "parse the proof's jwk (a new client key: tables, thumbprint)",
        per_call(&proofs[..proofs.len().min(50)], |_| {
            black_box(jwk::parse_jwk(&jwk_object).unwrap());
        }),
    ));
    keys.parse(&jwk_object).unwrap();
    keys.keep_last();
    rows.push((
        "find the proof's jwk among kept keys",
        per_call(&proofs, |_| {
            black_box(keys.parse(&jwk_object).unwrap());
        }),
    ));
    let key = keys.parse(&jwk_object).unwrap();
    let parsed: Vec<jws::Jws<'_>> = proofs.iter().map(|p| jws::decode(p).unwrap()).collect();
    rows.push((
        "P-256 signature check (ES256, prepared key)",
        per_call(&parsed, |jws| {
            jws.verify(key.key(), Algorithm::ES256).unwrap();
        }),
    ));
    let decoded: Vec<dpop::Proof<'_>> = proofs
        .iter()
        .map(|p| dpop::decode_proof(p).unwrap())
        .collect();
    rows.push((
        "every proof check (jwk lookup, signature, jti, iat, htm, htu, ath)",
        per_call(&decoded, |proof| {
            black_box(dpop::verify_proof(proof, &mut keys, &target, &ath, &policy, NOW).unwrap());
        }),
    ));
    rows.push((
        "ath: SHA-256 of the access token (once per token)",
        per_call(&proofs[..1], |_| {
            black_box(dpop::access_token_hash(&token));
        }),
    ));
    let proven: Vec<dpop::VerifiedProof> = decoded
        .iter()
        .map(|p| dpop::verify_proof(p, &mut keys, &target, &ath, &policy, NOW).unwrap())
        .collect();
    rows.push((
        "replay entry hash (SHA-256 of jkt and jti)",
        per_call(&proven, |p| {
            black_box(replay::entry_hash(&p.jkt, &p.jti));
        }),
    ));
    // Two stores, so the untimed pass does not make the timed one see replays.
    let hashes: Vec<u64> = proven
        .iter()
        .map(|p| replay::entry_hash(&p.jkt, &p.jti))
        .collect();
    let mut stores = [MemoryStore::default(), MemoryStore::default()];
    for store in &mut stores {
        shared::create_replay_slots(store);
    }
    let mut pass = 0;
    rows.push((
        "replay record in a shared-data slot (get, purge, append, compare-and-swap)",
        per_call(&hashes, |hash| {
            let store = &mut stores[pass / hashes.len()];
            pass += 1;
            use filter_core::authorize::ReplayStore;
            Replay(store)
                .record(*hash, NOW + 301, NOW)
                .expect("a fresh proof is recorded");
        }),
    ));
    let requests: Vec<Request> = proofs
        .iter()
        .map(|p| Request::private().dpop(&token, p))
        .collect();
    let mut gates = [default_gate(), default_gate()];
    let mut replays = [MemoryStore::default(), MemoryStore::default()];
    for store in &mut replays {
        shared::create_replay_slots(store);
    }
    let mut pass = 0;
    rows.push((
        "the whole decision (Gate::authorize; token from the cache)",
        per_call(&requests, |request| {
            let i = pass / requests.len();
            pass += 1;
            let decision =
                gates[i].authorize(&request.view(), &mut Replay(&mut replays[i]), NOW_MS);
            assert!(matches!(decision, Decision::Allow(_)), "{decision:?}");
        }),
    ));
    rows.push((
        "the request's URL for htu (parse and normalise)",
        per_call(&proofs, |_| {
            black_box(dpop::request_url("https", API_HOST, PRIVATE_PATH, None));
        }),
    ));
    let mut gates = [
        gate(config_with(serde_json::json!({"dpop_replay_check": false}))),
        gate(config_with(serde_json::json!({"dpop_replay_check": false}))),
    ];
    let mut pass = 0;
    rows.push((
        "the whole decision without the replay check",
        per_call(&requests, |request| {
            let i = pass / requests.len();
            pass += 1;
            let mut none = MemoryStore::default();
            let decision = gates[i].authorize(&request.view(), &mut Replay(&mut none), NOW_MS);
            assert!(matches!(decision, Decision::Allow(_)), "{decision:?}");
        }),
    ));
    let bearer = vec![Request::private().bearer(&good_token()); count];
    let mut gate = default_gate();
    let mut replay = MemoryStore::default();
    rows.push((
        "for comparison: a Bearer token from the cache (Gate::authorize)",
        per_call(&bearer, |request| {
            black_box(gate.authorize(&request.view(), &mut Replay(&mut replay), NOW_MS));
        }),
    ));
    rows.push((
        "for comparison: SHA-256 of 1 KiB",
        per_call(&proofs[..proofs.len().min(200)], |_| {
            black_box(crypto::sha256(&[7u8; 1024]));
        }),
    ));
    // Workloads (b) and (d): distinct RS256 tokens, each missing the verified-token cache.
    let distinct: Vec<String> = (0..count.min(500))
        .map(|i| {
            good()
                .claim("jti", serde_json::json!(format!("b-{i}")))
                .build()
        })
        .collect();
    let signed: Vec<jws::Jws<'_>> = distinct.iter().map(|t| jws::decode(t).unwrap()).collect();
    rows.push((
        "(b) decode an RS256 token (base64url, JSON header and claims)",
        per_call(&distinct, |t| {
            black_box(jws::decode(t).unwrap());
        }),
    ));
    let rsa = issuer_keys();
    let rsa_key = rsa.find("rsa-1").unwrap().key();
    rows.push((
        "(b) RS256 signature check (SHA-256 of the signing input, RSA-2048)",
        per_call(&signed, |jws| {
            jws.verify(rsa_key, Algorithm::RS256).unwrap();
        }),
    ));
    let distinct_requests: Vec<Request> = distinct
        .iter()
        .map(|t| Request::private().bearer(t))
        .collect();
    let mut gates = [default_gate(), default_gate()];
    let mut pass = 0;
    rows.push((
        "(b) the whole decision for a token not in the cache (Gate::authorize)",
        per_call(&distinct_requests, |request| {
            let i = pass / distinct_requests.len();
            pass += 1;
            let mut none = MemoryStore::default();
            let decision = gates[i].authorize(&request.view(), &mut Replay(&mut none), NOW_MS);
            assert!(matches!(decision, Decision::Allow(_)), "{decision:?}");
        }),
    ));
    println!("\n{count} distinct proofs, ns per call:");
    for (step, ns) in rows {
        println!("{ns:>10.0}  {step}");
    }
}
