//! Writes the seed corpora of the fuzz targets (`fuzz/corpus/<target>/`) and the
//! configuration of the `authorize` target (`fuzz/authorize-config.json`): tokens and proofs
//! signed with the testbed's keys, key sets, discovery documents, URLs and configurations.
//! Run from the repository root: `cargo run -p testbed --bin fuzz-seeds`. The output is
//! committed; run it again only when the formats change.

use serde_json::{json, Value};
use std::fs;
use std::path::Path;
use testbed::{Key, ProofBuilder, TokenBuilder, DEFAULT_AUDIENCE, DEFAULT_DOMAIN};

/// The instant of every token and proof (the fuzz targets' `NOW`).
const NOW: u64 = 1_700_000_000;
const URL: &str = "https://api.example.com/api/private";

fn write(target: &str, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    let dir = Path::new("fuzz/corpus").join(target);
    fs::create_dir_all(&dir)?;
    fs::write(dir.join(name), bytes)
}

/// The proxy-wasm ABI's header map encoding (little-endian u32 count, then each name's and
/// value's length, then each name and value followed by a NUL). The fuzz crate's seed test
/// checks that `filter_core::header_map::decode` reads these seeds back.
fn encode_header_map(lines: &[(&str, &str)]) -> Vec<u8> {
    let len = |n: usize| u32::try_from(n).unwrap_or(u32::MAX).to_le_bytes();
    let mut out = len(lines.len()).to_vec();
    for (name, value) in lines {
        out.extend(len(name.len()).into_iter().chain(len(value.len())));
    }
    for (name, value) in lines {
        out.extend(name.bytes().chain([0]).chain(value.bytes()).chain([0]));
    }
    out
}

fn jwks() -> Value {
    json!({"keys": [
        Key::Rsa1.public_jwk(),
        Key::Ec1.public_jwk(),
        Key::Ed1.public_jwk(),
        Key::Rsa2.public_jwk_with_alg("PS256"),
    ]})
}

fn config() -> Value {
    json!({
        "domain": DEFAULT_DOMAIN,
        "audience": DEFAULT_AUDIENCE,
        "jwks": jwks(),
        "algorithms": ["RS256", "PS256", "ES256", "EdDSA"],
        "trust_forwarded_headers": true,
        "rules": [
            {"match": {"prefix": "/public/"}, "require": "none"},
            {"match": {"path": "/api/messages", "methods": ["GET"]}, "scopes": "read:messages"},
            {"match": {"prefix": "/api/"}}
        ]
    })
}

fn main() -> std::io::Result<()> {
    let config = config();
    fs::write(
        "fuzz/authorize-config.json",
        serde_json::to_string_pretty(&config)?,
    )?;
    let token = |key: Key| TokenBuilder::new().key(key).issued_at(NOW);
    let bearer = token(Key::Rsa1).build();
    let scoped = token(Key::Ec1).scope("read:messages").build();
    let ed = token(Key::Ed1).build();
    let bound = token(Key::Rsa1).bound_to(Key::Client1).build();
    let proof = ProofBuilder::new(Key::Client1, "GET", URL)
        .access_token(&bound)
        .iat(NOW)
        .build();
    let forwarded_proof = ProofBuilder::new(
        Key::Client1,
        "GET",
        "https://public.example.com/v1/api/private",
    )
    .access_token(&bound)
    .iat(NOW)
    .build();

    let requests = [
        ("bearer", format!("GET\n/api/private\nBearer {bearer}")),
        ("scoped", format!("GET\n/api/messages\nBearer {scoped}")),
        ("eddsa", format!("GET\n/api/private?x=1\nBearer {ed}")),
        ("public", "GET\n/public/page\n".to_owned()),
        (
            "dpop",
            format!("GET\n/api/private\nDPoP {bound}\ndpop: {proof}"),
        ),
        (
            "dpop-forwarded",
            format!(
                "GET\n/api/private\nDPoP {bound}\ndpop: {forwarded_proof}\n\
                 x-forwarded-host: public.example.com\nx-forwarded-prefix: /v1"
            ),
        ),
    ];
    for (name, request) in &requests {
        write("authorize", name, request.as_bytes())?;
    }
    for (name, text) in [
        ("bearer", format!("Bearer {bearer}")),
        ("dpop", format!("DPoP {bound}\n{proof}")),
        ("two-proofs", format!("DPoP {bound}\n{proof}\n{proof}")),
    ] {
        write("headers", name, text.as_bytes())?;
    }
    // Request header maps as hosts answer `proxy_get_header_map_pairs`: Envoy's, with
    // pseudo-headers, and an nginx host's, without them.
    let authorization = format!("DPoP {bound}");
    for (name, lines) in [
        (
            "envoy",
            vec![
                (":authority", "api.example.com"),
                (":path", "/api/private"),
                (":method", "GET"),
                (":scheme", "https"),
                ("authorization", authorization.as_str()),
                ("dpop", proof.as_str()),
                ("x-forwarded-proto", "https"),
            ],
        ),
        (
            "nginx",
            vec![
                ("Host", "api.example.com"),
                ("Authorization", authorization.as_str()),
                ("Origin", "https://app.example.com"),
                ("Access-Control-Request-Method", "GET"),
            ],
        ),
    ] {
        write("header_map", name, &encode_header_map(&lines))?;
    }
    for (name, text) in [
        ("rs256", &bearer),
        ("es256", &scoped),
        ("eddsa", &ed),
        ("proof", &proof),
    ] {
        write("jws", name, text.as_bytes())?;
    }
    let jwks = jwks();
    write("jwks", "keys", jwks.to_string().as_bytes())?;
    write("json", "jwks", jwks.to_string().as_bytes())?;
    write("json", "config", config.to_string().as_bytes())?;
    for (name, jws) in [("token", &bearer), ("proof", &proof)] {
        let segments = testbed::token::tamper::segments(jws);
        for (part, segment) in ["header", "claims"].iter().zip(&segments) {
            let decoded = testbed::b64url_decode(segment).unwrap_or_default();
            write("json", &format!("{name}-{part}"), &decoded)?;
        }
    }
    let discovery = json!({
        "issuer": "https://issuer.local/",
        "jwks_uri": "https://issuer.local/.well-known/jwks.json",
        "authorization_endpoint": "https://issuer.local/authorize"
    });
    write("discovery", "auth0", discovery.to_string().as_bytes())?;
    for (name, text) in [
        ("plain", "https://api.example.com/api/private\nhttps\napi.example.com\n/api/private"),
        (
            "forwarded",
            "HTTPS://Api.Example.com:443/a/./b/../c?q#f\nhttp\napi.example.com:8080\n/v1/%7euser\n\
             x-forwarded-proto: https\nx-forwarded-host: public.example.com\nx-forwarded-prefix: /v1",
        ),
        ("ipv6", "http://[::1]:8080/x%2Fy\nhttp\n[::1]:8080\n/x"),
    ] {
        write("url", name, text.as_bytes())?;
    }
    write(
        "nonce",
        "shape",
        b"AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA",
    )?;
    // Envoy's `verify_signature` answers: valid, and refused with its error text.
    write("host_answer", "valid", &[0x08, 0x01])?;
    let mut refused = vec![0x12, 24];
    refused.extend_from_slice(b"Failed to verify digest.");
    write("host_answer", "refused", &refused)?;
    let configs = [
        ("inline", config.clone()),
        (
            "discovery",
            json!({"domains": ["a.example.com", "b.example.com"], "audience": ["x", "y"],
                   "upstreams": {"a.example.com": "a:443", "b.example.com": "b"},
                   "dpop_required": true, "dpop_nonce": {"secret": "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA"},
                   "forward": {"claim_headers": {"sub": "x-sub"}, "strip_authorization": true},
                   "http_timeout_ms": 2000, "clock_skew_seconds": 30}),
        ),
    ];
    for (name, config) in configs {
        write("config", name, config.to_string().as_bytes())?;
    }
    Ok(())
}
