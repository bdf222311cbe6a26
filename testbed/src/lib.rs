//! Everything the demo, the end-to-end tests and the benchmark need around the filter:
//! fixed test keys, access-token and DPoP-proof builders, a local issuer (discovery,
//! JWKS, token minting), an echo upstream, a raw HTTP client, and real Envoy processes.
//!
//! Native only; nothing here is part of the wasm module.

pub mod bench;
pub mod client;
pub mod echo;
pub mod envoy;
pub mod issuer;
pub mod keys;
pub mod net;
pub mod proof;
pub mod server;
pub mod token;

use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::Value;
use sha2::{Digest, Sha256};

pub use echo::{Echo, EchoHandle, Echoed};
pub use issuer::{Endpoint, Issuer, IssuerHandle, IssuerOptions, Outage, TokenRequest};
pub use keys::Key;
pub use proof::ProofBuilder;
pub use token::{Signer, TokenBuilder};

/// The demo's tenant domain (the top-level `envoy.yaml` names it too).
pub const DEFAULT_DOMAIN: &str = "issuer.local";
/// The demo's API audience.
pub const DEFAULT_AUDIENCE: &str = "https://api.example.com";

/// Unpadded base64url.
pub fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn b64url_decode(text: &str) -> Result<Vec<u8>, base64::DecodeError> {
    URL_SAFE_NO_PAD.decode(text)
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The RFC 7638 JWK thumbprint (SHA-256, base64url): the required members of the key
/// type, in lexicographic order, without whitespace. Unknown key types hash `{}`, which
/// matches no real key.
pub fn thumbprint(jwk: &Value) -> String {
    let member = |name: &str| {
        let value = jwk.get(name).and_then(Value::as_str).unwrap_or("");
        format!("\"{name}\":{}", Value::String(value.to_string()))
    };
    let kty = jwk.get("kty").and_then(Value::as_str).unwrap_or("");
    let names: &[&str] = match kty {
        "RSA" => &["e", "kty", "n"],
        "EC" => &["crv", "kty", "x", "y"],
        "OKP" => &["crv", "kty", "x"],
        _ => &[],
    };
    let canonical = format!(
        "{{{}}}",
        names
            .iter()
            .map(|n| member(n))
            .collect::<Vec<_>>()
            .join(",")
    );
    b64url(&Sha256::digest(canonical.as_bytes()))
}
