//! What the DPoP end-to-end suites share: the plugin configurations they run, proofs and
//! bound tokens for a listener, and the stack they start. What a response must be is said
//! with `contract`'s vocabulary.
//!
//! Each suite starts one gateway (with extra filter listeners for the other configurations
//! it needs) and shares it between its tests ([`SharedStack`]), rather than one per test.

#![allow(dead_code, unused_imports)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use serde_json::{json, Value};

use crate::common::*;

/// Every algorithm a DPoP proof may use, in the order the challenges list them.
pub const ALL_DPOP_ALGS: [&str; 5] = ["ES256", "ES384", "EdDSA", "RS256", "PS256"];

/// The demo configuration with DPoP settings merged in.
pub fn dpop_config(issuer: &IssuerHandle, settings: Value) -> Value {
    let mut config = demo_config(issuer);
    if let (Value::Object(target), Value::Object(extra)) = (&mut config, settings) {
        for (name, value) in extra {
            target.insert(name, value);
        }
    }
    config
}

/// `http://127.0.0.1:<port of listener><path>`: the `htu` of a request to `listener`.
pub fn listener_url(stack: &Stack, listener: &str, path: &str) -> String {
    format!(
        "http://127.0.0.1:{}{path}",
        stack.gateway.listener_port(listener)
    )
}

/// An access token from the stack's issuer bound to `key`.
pub fn bound_token(stack: &Stack, key: Key) -> String {
    stack.token().bound_to(key).build()
}

/// A valid proof by `key` for `method` on `listener`'s `path`, for `token`.
pub fn proof_for(
    stack: &Stack,
    listener: &str,
    key: Key,
    method: &str,
    path: &str,
    token: &str,
) -> ProofBuilder {
    ProofBuilder::new(key, method, &listener_url(stack, listener, path)).access_token(token)
}

/// A base64url secret of `len` bytes, all equal to `byte`: deterministic test secrets.
pub fn secret(byte: u8, len: usize) -> String {
    testbed::b64url(&vec![byte; len])
}

/// Starts the issuer, the echo upstream and one Envoy with `concurrency` workers: the
/// main listener runs the first configuration `configs` returns, and each named one runs
/// on a listener of its own (same VM id, so the same shared data).
pub fn start_stack(
    concurrency: u32,
    configs: impl FnOnce(&IssuerHandle) -> (Value, Vec<(&'static str, Value)>),
) -> Stack {
    let issuer = Issuer::start(IssuerOptions::default())
        .unwrap_or_else(|e| panic!("issuer did not start: {e}"));
    let echo = Echo::start(0).unwrap_or_else(|e| panic!("echo upstream did not start: {e}"));
    let (main, listeners) = configs(&issuer);
    let mut options = GatewayOptions::new(main, &issuer, &echo).concurrency(concurrency);
    for (name, config) in &listeners {
        options = options.filter_listener(name, config);
    }
    Stack {
        gateway: Gateway::start(options),
        issuer,
        echo,
    }
}
