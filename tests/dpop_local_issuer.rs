//! The local issuer's DPoP tooling works against the real gateway: bound tokens from `POST /oauth/token` (by `jkt`, or from the key of a `DPoP`
//! proof sent to the token endpoint), and the `local-issuer dpop-token` / `proof`
//! commands a curl user runs, including the nonce retry.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;
mod contract;
mod dpop_support;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::*;
use contract::*;
use dpop_support::*;
use serde_json::{json, Value};
use testbed::issuer::{mint, MintedToken, TokenRequest, TOKEN_PATH};

const NONCE: &str = "nonce";
const MESSAGES: &str = "/api/messages";
/// How long the test waits for `cargo build` of the command line tool (it may queue
/// behind other builds of the workspace).
const BUILD_TIMEOUT: Duration = Duration::from_secs(90);

static STACK: SharedStack = SharedStack::new();

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
    assert_eq!(response.status, 200, "{}", response.text());
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

/// The shared stack, for tokens from the issuer's endpoint and library.
struct Tokens {
    stack: StackGuard,
}

impl Tokens {
    fn new() -> Tokens {
        Tokens {
            stack: STACK.lock(start),
        }
    }
}

#[test]
fn post_oauth_token_with_jkt_mints_a_bound_token_the_gateway_accepts() {
    let t = Tokens::new();
    let s: &Stack = &t.stack;
    let main = MAIN_LISTENER;
    let answer = request_token(
        s,
        json!({"jkt": Key::Client1.thumbprint(), "scope": "read:messages"}),
        None,
    );
    assert_eq!(answer["token_type"], json!("DPoP"));
    let token = answer["access_token"].as_str().unwrap();
    assert_eq!(cnf_of(token), json!({"jkt": Key::Client1.thumbprint()}));
    Target::listener(s, main).allowed(
        &get_messages(s, Key::Client1, token),
        "POST /oauth/token with jkt mints a bound token the gateway accepts",
    );
    let expected = invalid_token().described(BOUND_TOKEN_ON_BEARER);
    Target::listener(s, main).refused(
        &Request::get(MESSAGES).bearer(token),
        &expected,
        "POST /oauth/token with jkt mints a bound token the gateway accepts",
    );
}

#[test]
fn post_oauth_token_with_a_dpop_proof_binds_to_the_proofs_key() {
    let t = Tokens::new();
    let s: &Stack = &t.stack;
    let main = MAIN_LISTENER;
    let token_url = format!("http://127.0.0.1:{}{TOKEN_PATH}", s.issuer.port());
    let proof = ProofBuilder::new(Key::Client2, "POST", &token_url).build();
    let answer = request_token(s, json!({"scope": "read:messages"}), Some(&proof));
    assert_eq!(answer["token_type"], json!("DPoP"));
    let token = answer["access_token"].as_str().unwrap();
    Target::listener(s, main).allowed(
        &get_messages(s, Key::Client2, token),
        "POST /oauth/token with a DPoP proof binds to the proof's key",
    );
    let stolen = get_messages(s, Key::Client1, token);
    Target::listener(s, main).refused(
        &stolen,
        &invalid_token().on_dpop().described(JKT_MISMATCH),
        "POST /oauth/token with a DPoP proof binds to the proof's key",
    );
}

#[test]
fn post_oauth_token_without_binding_mints_a_bearer_token() {
    let t = Tokens::new();
    let s: &Stack = &t.stack;
    let main = MAIN_LISTENER;
    let answer = request_token(s, json!({"scope": "read:messages"}), None);
    assert_eq!(answer["token_type"], json!("Bearer"));
    let token = answer["access_token"].as_str().unwrap();
    assert_eq!(cnf_of(token), Value::Null);
    let proof = proof_for(s, main, Key::Client1, "GET", MESSAGES, token).build();
    let request = Request::get(MESSAGES).dpop(token, &proof);
    Target::listener(s, main).refused(
        &request,
        &invalid_token().on_dpop().described(NO_JKT),
        "POST /oauth/token without binding mints a Bearer token",
    );
}

#[test]
fn the_library_calls_behind_dpop_token_and_proof_make_an_accepted_pair() {
    let t = Tokens::new();
    let s: &Stack = &t.stack;
    let main = MAIN_LISTENER;
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
    Target::listener(s, main).allowed(
        &get_messages(s, Key::Client1, &minted.access_token),
        "the library calls behind `dpop-token` and `proof` make an accepted pair",
    );
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

/// The `local-issuer` binary, built once for every test of this file.
fn local_issuer() -> Option<&'static PathBuf> {
    static BINARY: OnceLock<Option<PathBuf>> = OnceLock::new();
    BINARY
        .get_or_init(|| built_local_issuer().or_else(earlier_local_issuer))
        .as_ref()
}

/// The shared stack and the command line tool; `None` (with a note) when the tool cannot
/// be built here, and the test then checks nothing.
struct Cli {
    stack: StackGuard,
    binary: &'static PathBuf,
}

impl Cli {
    fn new() -> Option<Cli> {
        let Some(binary) = local_issuer() else {
            eprintln!("note: no local-issuer binary; the command line checks did not run");
            return None;
        };
        Some(Cli {
            stack: STACK.lock(start),
            binary,
        })
    }
}

#[test]
fn thumbprint_names_client_1s_key() {
    let Some(t) = Cli::new() else { return };
    let binary = t.binary;
    assert_eq!(run(binary, &["thumbprint"]), Key::Client1.thumbprint());
}

#[test]
fn dpop_token_and_proof() {
    let Some(t) = Cli::new() else { return };
    let s: &Stack = &t.stack;
    let main = MAIN_LISTENER;
    let binary = t.binary;
    let token = run(binary, &["dpop-token", "--scope", "read:messages"]);
    let url = s.gateway.url(MESSAGES);
    let proof = run(
        binary,
        &["proof", "--htm", "GET", "--htu", &url, "--token", &token],
    );
    Target::listener(s, main).allowed(
        &Request::get(MESSAGES).dpop(&token, &proof),
        "dpop-token and proof",
    );
    // A second request needs a second proof, as the curl example says.
    Target::listener(s, main).refused(
        &Request::get(MESSAGES).dpop(&token, &proof),
        &invalid_dpop_proof(REPLAYED),
        "dpop-token and proof",
    );
}

#[test]
fn dpop_token_and_proof_for_another_client_key() {
    let Some(t) = Cli::new() else { return };
    let s: &Stack = &t.stack;
    let main = MAIN_LISTENER;
    let binary = t.binary;
    let token = run(binary, &["dpop-token", "--key", "client-2"]);
    let url = s.gateway.url("/api/private");
    let proof = run(
        binary,
        &[
            "proof", "--key", "client-2", "--htm", "GET", "--htu", &url, "--token", &token,
        ],
    );
    Target::listener(s, main).allowed(
        &Request::get("/api/private").dpop(&token, &proof),
        "dpop-token and proof for another client key",
    );
}

#[test]
fn the_nonce_retry_from_the_command_line() {
    let Some(t) = Cli::new() else { return };
    let s: &Stack = &t.stack;
    let binary = t.binary;
    let token = run(binary, &["dpop-token"]);
    let url = listener_url(s, NONCE, "/api/private");
    let first = run(
        binary,
        &["proof", "--htm", "GET", "--htu", &url, "--token", &token],
    );
    let request = Request::get("/api/private").dpop(&token, &first);
    let response = Target::listener(s, NONCE).denied(&request, "the first proof");
    use_dpop_nonce(NONCE_MISSING).check(&response, "the first proof");
    let nonce = response.header("dpop-nonce").unwrap().to_string();
    let retry = run(
        binary,
        &[
            "proof", "--htm", "GET", "--htu", &url, "--token", &token, "--nonce", &nonce,
        ],
    );
    Target::listener(s, NONCE).allowed(
        &Request::get("/api/private").dpop(&token, &retry),
        "the nonce retry from the command line",
    );
}
