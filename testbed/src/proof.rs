//! DPoP proofs (RFC 9449 §4.2) for tests and for curl users.

use serde_json::{json, Map, Value};

use crate::keys::{access_token_hash, Key};
use crate::token::{build_jws, object, Signer};
use crate::{b64url, unix_now};

/// Builds a DPoP proof. `ProofBuilder::new(Key::Client1, "GET", url)` is a valid proof
/// for a request without an access token; add `.access_token(token)` for `ath`.
/// Defaults: `typ` `dpop+jwt`, `alg` the key's default, `jwk` the key's public JWK
/// (key members only), a random `jti`, `iat` now.
#[derive(Debug, Clone)]
pub struct ProofBuilder {
    header: Map<String, Value>,
    claims: Map<String, Value>,
    signer: Signer,
    raw_header: Option<String>,
    raw_claims: Option<String>,
}

impl ProofBuilder {
    pub fn new(key: Key, htm: &str, htu: &str) -> ProofBuilder {
        let header = object(json!({
            "typ": "dpop+jwt",
            "alg": key.default_alg(),
            "jwk": key.bare_public_jwk(),
        }));
        let claims = object(json!({
            "jti": random_jti(),
            "htm": htm,
            "htu": htu,
            "iat": unix_now(),
        }));
        ProofBuilder {
            header,
            claims,
            signer: Signer::Key(key),
            raw_header: None,
            raw_claims: None,
        }
    }

    /// Sets `ath` to base64url(SHA-256(`token`)).
    pub fn access_token(self, token: &str) -> ProofBuilder {
        self.claim("ath", json!(access_token_hash(token)))
    }

    pub fn nonce(self, nonce: &str) -> ProofBuilder {
        self.claim("nonce", json!(nonce))
    }

    pub fn jti(self, jti: &str) -> ProofBuilder {
        self.claim("jti", json!(jti))
    }

    pub fn iat(self, iat: u64) -> ProofBuilder {
        self.claim("iat", json!(iat))
    }

    /// Names `alg` in the header; the signature follows it when it fits the signing key.
    pub fn alg(self, alg: &str) -> ProofBuilder {
        self.header("alg", json!(alg))
    }

    /// Signs with another key while the header keeps its `jwk` (a forged proof).
    pub fn signing_key(mut self, key: Key) -> ProofBuilder {
        self.signer = Signer::Key(key);
        self
    }

    pub fn signer(mut self, signer: Signer) -> ProofBuilder {
        self.signer = signer;
        self
    }

    /// Replaces the header's `jwk`.
    pub fn jwk(self, jwk: Value) -> ProofBuilder {
        self.header("jwk", jwk)
    }

    pub fn header(mut self, name: &str, value: Value) -> ProofBuilder {
        self.header.insert(name.into(), value);
        self
    }

    pub fn remove_header(mut self, name: &str) -> ProofBuilder {
        self.header.remove(name);
        self
    }

    pub fn claim(mut self, name: &str, value: Value) -> ProofBuilder {
        self.claims.insert(name.into(), value);
        self
    }

    pub fn remove_claim(mut self, name: &str) -> ProofBuilder {
        self.claims.remove(name);
        self
    }

    pub fn raw_header(mut self, json_text: &str) -> ProofBuilder {
        self.raw_header = Some(json_text.into());
        self
    }

    pub fn raw_claims(mut self, json_text: &str) -> ProofBuilder {
        self.raw_claims = Some(json_text.into());
        self
    }

    pub fn header_map(&self) -> &Map<String, Value> {
        &self.header
    }

    pub fn claims_map(&self) -> &Map<String, Value> {
        &self.claims
    }

    pub fn build(&self) -> String {
        build_jws(
            &self.header,
            &self.claims,
            self.raw_header.as_deref(),
            self.raw_claims.as_deref(),
            &self.signer,
        )
    }
}

/// 128 random bits, base64url: unique for every proof.
pub fn random_jti() -> String {
    let mut bytes = [0u8; 16];
    // No entropy would make every proof a replay: a broken machine, not a test input.
    #[allow(clippy::expect_used)]
    getrandom::fill(&mut bytes).expect("the system's random source answers");
    b64url(&bytes)
}
