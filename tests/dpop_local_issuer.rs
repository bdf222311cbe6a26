//! The local issuer's DPoP tooling works against the real gateway (issue 3, "Local
//! issuer"): bound tokens from `POST /oauth/token` (by `jkt`, or from the key of a `DPoP`
//! proof sent to the token endpoint), and the `local-issuer dpop-token` / `proof`
//! commands a curl user runs, including the nonce retry.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;
mod dpop_support;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use dpop_support::*;
use serde_json::{json, Value};
use testbed::issuer::{mint, MintedToken, TokenRequest, TOKEN_PATH};

const NONCE: &str = "nonce";
const MESSAGES: &str = "/api/messages";
/// How long the test waits for `cargo build` of the command line tool (it may queue
/// behind other builds of the workspace).
const BUILD_TIMEOUT: Duration = Duration::from_secs(90);

fn start() -> Stack {
    start_stack(1, |issuer| {
        let nonce = dpop_config(
            issuer,
            json!({"dpop_nonce": {"secret": secret(0x42, 32), "lifetime_seconds": 60}}),
        );
        (demo_config(issuer), vec![(NONCE, nonce)])
    })
}

/// `POST /oauth/token` on the issuer with `body` and optional extra headers; the JSON answer.
fn request_token(stack: &Stack, body: Value, dpop: Option<&str>) -> Value {
    let mut request = Request::post(TOKEN_PATH).json(&body);
    if let Some(proof) = dpop {
        request = request.header("DPoP", proof);
    }
    let response = testbed::client::send(stack.issuer.port(), &request).unwrap();
    assert_eq!(response.status, 200, "{}", shown(&response));
    response.json().unwrap()
}

/// The `cnf` claim of a compact token, read without verifying it.
fn cnf_of(token: &str) -> Value {
    let [_, payload, _] = tamper::segments(token);
    let claims: Value = serde_json::from_slice(&testbed::b64url_decode(&payload).unwrap()).unwrap();
    claims["cnf"].clone()
}

fn get_messages(stack: &Stack, key: Key, token: &str) -> Request {
    let proof = proof_for(stack, MAIN_LISTENER, key, "GET", MESSAGES, token).build();
    Request::get(MESSAGES).dpop(token, &proof)
}

#[test]
fn tokens_from_the_token_endpoint_and_the_library() {
    let stack = start();
    let s = &stack;
    let main = MAIN_LISTENER;
    let mut cases = Cases::new("local issuer tokens");

    cases.case(
        "POST /oauth/token with jkt mints a bound token the gateway accepts",
        || {
            let answer = request_token(
                s,
                json!({"jkt": Key::Client1.thumbprint(), "scope": "read:messages"}),
                None,
            );
            assert_eq!(answer["token_type"], json!("DPoP"));
            let token = answer["access_token"].as_str().unwrap();
            assert_eq!(cnf_of(token), json!({"jkt": Key::Client1.thumbprint()}));
            assert_allowed(s, main, &get_messages(s, Key::Client1, token));
            let expected = Refusal::new(
                401,
                "invalid_token",
                BOUND_TOKEN_ON_BEARER,
                &bearer_error_challenge("invalid_token", BOUND_TOKEN_ON_BEARER, &["ES256"]),
            );
            assert_refused(s, main, &Request::get(MESSAGES).bearer(token), &expected);
        },
    );
    cases.case(
        "POST /oauth/token with a DPoP proof binds to the proof's key",
        || {
            let token_url = format!("http://127.0.0.1:{}{TOKEN_PATH}", s.issuer.port());
            let proof = ProofBuilder::new(Key::Client2, "POST", &token_url).build();
            let answer = request_token(s, json!({"scope": "read:messages"}), Some(&proof));
            assert_eq!(answer["token_type"], json!("DPoP"));
            let token = answer["access_token"].as_str().unwrap();
            assert_allowed(s, main, &get_messages(s, Key::Client2, token));
            let stolen = get_messages(s, Key::Client1, token);
            assert_refused(s, main, &stolen, &Refusal::dpop_token(JKT_MISMATCH));
        },
    );
    cases.case(
        "POST /oauth/token without binding mints a Bearer token",
        || {
            let answer = request_token(s, json!({"scope": "read:messages"}), None);
            assert_eq!(answer["token_type"], json!("Bearer"));
            let token = answer["access_token"].as_str().unwrap();
            assert_eq!(cnf_of(token), Value::Null);
            let proof = proof_for(s, main, Key::Client1, "GET", MESSAGES, token).build();
            let request = Request::get(MESSAGES).dpop(token, &proof);
            assert_refused(s, main, &request, &Refusal::dpop_token(NO_JKT));
        },
    );
    cases.case(
        "the library calls behind `dpop-token` and `proof` make an accepted pair",
        || {
            let options = IssuerOptions::default();
            let minted: MintedToken = mint(
                &options.domain,
                &options.audience,
                options.signing_key,
                options.token_lifetime,
                &TokenRequest {
                    scope: Some("read:messages".into()),
                    jkt: Some(Key::Client1.thumbprint()),
                    ..TokenRequest::default()
                },
            )
            .unwrap();
            assert_eq!(minted.token_type, "DPoP");
            assert_allowed(
                s,
                main,
                &get_messages(s, Key::Client1, &minted.access_token),
            );
        },
    );

    cases.finish();
}

/// A `local-issuer` built earlier next to this test's own profile directory, used when
/// building it now is not possible.
fn earlier_local_issuer() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    // <target>/<profile>/deps/<this test> -> <target>/<profile>/local-issuer
    let binary = exe.parent()?.parent()?.join("local-issuer");
    binary.is_file().then(|| {
        eprintln!("note: using the earlier build {}", binary.display());
        binary
    })
}

/// Builds the `local-issuer` command line tool (a no-op when it is up to date) and
/// returns its path; `None`, with the reason printed, when it cannot be had.
fn built_local_issuer() -> Option<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut child = Command::new(cargo)
        .args([
            "build",
            "-p",
            "testbed",
            "--bin",
            "local-issuer",
            "--message-format=json",
        ])
        .current_dir(repo_root())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| eprintln!("note: cannot run cargo to build local-issuer: {e}"))
        .ok()?;
    // Drained on its own thread: cargo writes a message per artifact, which would fill the
    // pipe and stall the build if nobody read it until the end.
    let mut stdout = child.stdout.take()?;
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut stdout, &mut text);
        text
    });
    let deadline = Instant::now() + BUILD_TIMEOUT;
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => break,
            Ok(Some(status)) => {
                eprintln!("note: building local-issuer failed ({status})");
                return None;
            }
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                eprintln!("note: building local-issuer took too long");
                return None;
            }
        }
    }
    let messages = reader.join().ok()?;
    let binary = messages
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|message| message["target"]["name"] == json!("local-issuer"))
        .find_map(|message| message["executable"].as_str().map(PathBuf::from));
    if binary.is_none() {
        eprintln!("note: cargo named no local-issuer executable");
    }
    binary
}

/// Runs `local-issuer args...` and returns its standard output, trimmed.
fn run(binary: &PathBuf, args: &[&str]) -> String {
    let output = Command::new(binary).args(args).output().unwrap();
    assert!(
        output.status.success(),
        "local-issuer {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

#[test]
fn the_command_line_tool_makes_requests_the_gateway_accepts() {
    let Some(binary) = built_local_issuer().or_else(earlier_local_issuer) else {
        eprintln!("note: no local-issuer binary; the command line checks did not run");
        return;
    };
    let stack = start();
    let s = &stack;
    let main = MAIN_LISTENER;
    let mut cases = Cases::new("local-issuer command line");

    cases.case("thumbprint names client-1's key", || {
        assert_eq!(run(&binary, &["thumbprint"]), Key::Client1.thumbprint());
    });
    cases.case("dpop-token and proof", || {
        let token = run(&binary, &["dpop-token", "--scope", "read:messages"]);
        let url = s.gateway.url(MESSAGES);
        let proof = run(
            &binary,
            &["proof", "--htm", "GET", "--htu", &url, "--token", &token],
        );
        assert_allowed(s, main, &Request::get(MESSAGES).dpop(&token, &proof));
        // A second request needs a second proof, as the curl example says.
        assert_refused(
            s,
            main,
            &Request::get(MESSAGES).dpop(&token, &proof),
            &Refusal::proof(REPLAYED),
        );
    });
    cases.case("dpop-token and proof for another client key", || {
        let token = run(&binary, &["dpop-token", "--key", "client-2"]);
        let url = s.gateway.url("/api/private");
        let proof = run(
            &binary,
            &[
                "proof", "--key", "client-2", "--htm", "GET", "--htu", &url, "--token", &token,
            ],
        );
        assert_allowed(s, main, &Request::get("/api/private").dpop(&token, &proof));
    });
    cases.case("the nonce retry from the command line", || {
        let token = run(&binary, &["dpop-token"]);
        let url = listener_url(s, NONCE, "/api/private");
        let first = run(
            &binary,
            &["proof", "--htm", "GET", "--htu", &url, "--token", &token],
        );
        let response = send_unseen(s, NONCE, &Request::get("/api/private").dpop(&token, &first));
        assert_eq!(response.status, 401, "{}", shown(&response));
        let nonce = response.header("dpop-nonce").unwrap().to_string();
        let retry = run(
            &binary,
            &[
                "proof", "--htm", "GET", "--htu", &url, "--token", &token, "--nonce", &nonce,
            ],
        );
        assert_allowed(s, NONCE, &Request::get("/api/private").dpop(&token, &retry));
    });

    cases.finish();
}
