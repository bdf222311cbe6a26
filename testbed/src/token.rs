//! Access tokens for tests: a good default token, every header member and claim
//! overridable, signed by any test key under any algorithm name, or assembled from raw
//! JSON text when a test needs bytes serde_json would never produce (duplicate members).

use serde_json::{json, Map, Value};

use crate::keys::{hmac_sign, Key};
use crate::{b64url, unix_now, DEFAULT_AUDIENCE, DEFAULT_DOMAIN};

/// The `sub` of the default token.
pub const DEFAULT_SUBJECT: &str = "user_123";
/// The `scope` of the default token: granted nothing the demo's rules ask for, so a
/// scoped route answers 403 until a test sets the scope it needs.
pub const DEFAULT_SCOPE: &str = "openid profile";
/// Seconds from `iat` to `exp` in the default token.
pub const DEFAULT_LIFETIME: u64 = 3600;

/// How the signature segment is produced.
#[derive(Debug, Clone)]
pub enum Signer {
    /// A test key; the scheme follows the header's `alg` when it fits the key, the
    /// key's default algorithm otherwise (see [`Key::sign`]).
    Key(Key),
    /// HMAC with the given secret (for `HS*` confusion attempts); the header's `alg`
    /// picks the hash.
    Hmac(Vec<u8>),
    /// An empty signature segment (`alg: none` style).
    Empty,
    /// These exact signature bytes.
    Bytes(Vec<u8>),
}

impl Signer {
    fn signature(&self, alg: &str, signing_input: &[u8]) -> Vec<u8> {
        match self {
            Signer::Key(key) => key.sign(alg, signing_input),
            Signer::Hmac(secret) => hmac_sign(alg, secret, signing_input),
            Signer::Empty => Vec::new(),
            Signer::Bytes(bytes) => bytes.clone(),
        }
    }
}

/// Builds an access token. `TokenBuilder::new()` is a valid token for the demo issuer
/// (`https://issuer.local/`, audience `https://api.example.com`), signed RS256 by
/// [`Key::Rsa1`] with `kid` `rsa-1`, issued now, expiring in an hour.
#[derive(Debug, Clone)]
pub struct TokenBuilder {
    header: Map<String, Value>,
    claims: Map<String, Value>,
    signer: Signer,
    raw_header: Option<String>,
    raw_claims: Option<String>,
}

impl Default for TokenBuilder {
    fn default() -> Self {
        TokenBuilder::new()
    }
}

impl TokenBuilder {
    pub fn new() -> TokenBuilder {
        TokenBuilder::for_issuer(DEFAULT_DOMAIN, DEFAULT_AUDIENCE)
    }

    /// A default token from `https://<domain>/` for `audience`.
    pub fn for_issuer(domain: &str, audience: &str) -> TokenBuilder {
        let now = unix_now();
        let key = Key::Rsa1;
        let header = object(json!({"alg": key.default_alg(), "typ": "JWT", "kid": key.kid()}));
        let claims = object(json!({
            "iss": issuer_url(domain),
            "aud": audience,
            "sub": DEFAULT_SUBJECT,
            "iat": now,
            "exp": now + DEFAULT_LIFETIME,
            "scope": DEFAULT_SCOPE,
        }));
        TokenBuilder {
            header,
            claims,
            signer: Signer::Key(key),
            raw_header: None,
            raw_claims: None,
        }
    }

    /// Signs with `key` under its default algorithm, and sets `kid` and `alg` to match.
    pub fn key(self, key: Key) -> TokenBuilder {
        self.key_alg(key, key.default_alg())
    }

    /// Signs with `key`, names `alg` in the header and sets `kid` to the key's.
    /// A mismatched pair (an EC key with `RS256`) yields a token whose signature was
    /// made with the key's own default algorithm.
    pub fn key_alg(mut self, key: Key, alg: &str) -> TokenBuilder {
        self.signer = Signer::Key(key);
        self.header.insert("alg".into(), Value::String(alg.into()));
        self.header
            .insert("kid".into(), Value::String(key.kid().into()));
        self
    }

    /// Replaces how the signature is made without touching the header.
    pub fn signer(mut self, signer: Signer) -> TokenBuilder {
        self.signer = signer;
        self
    }

    /// Sets the header's `alg` only (the signature is still made as before).
    pub fn alg(self, alg: &str) -> TokenBuilder {
        self.header("alg", json!(alg))
    }

    pub fn kid(self, kid: &str) -> TokenBuilder {
        self.header("kid", json!(kid))
    }

    pub fn typ(self, typ: &str) -> TokenBuilder {
        self.header("typ", json!(typ))
    }

    pub fn header(mut self, name: &str, value: Value) -> TokenBuilder {
        self.header.insert(name.into(), value);
        self
    }

    pub fn remove_header(mut self, name: &str) -> TokenBuilder {
        self.header.remove(name);
        self
    }

    pub fn claim(mut self, name: &str, value: Value) -> TokenBuilder {
        self.claims.insert(name.into(), value);
        self
    }

    pub fn remove_claim(mut self, name: &str) -> TokenBuilder {
        self.claims.remove(name);
        self
    }

    #[allow(clippy::should_implement_trait)]
    pub fn sub(self, sub: &str) -> TokenBuilder {
        self.claim("sub", json!(sub))
    }

    pub fn scope(self, scope: &str) -> TokenBuilder {
        self.claim("scope", json!(scope))
    }

    pub fn aud(self, aud: Value) -> TokenBuilder {
        self.claim("aud", aud)
    }

    /// `iss` = `https://<domain>/`.
    pub fn issuer_domain(self, domain: &str) -> TokenBuilder {
        self.claim("iss", json!(issuer_url(domain)))
    }

    /// Sets `iat` to `now` and `exp` to `now + 3600`.
    pub fn issued_at(self, now: u64) -> TokenBuilder {
        self.claim("iat", json!(now))
            .claim("exp", json!(now + DEFAULT_LIFETIME))
    }

    /// `exp` = `iat` + `seconds` (negative: already expired).
    pub fn expires_in(self, seconds: i64) -> TokenBuilder {
        let iat = self
            .claims
            .get("iat")
            .and_then(Value::as_i64)
            .unwrap_or_else(|| unix_now() as i64);
        self.claim("exp", json!(iat + seconds))
    }

    /// Binds the token to a DPoP key: `cnf` = `{"jkt": <thumbprint>}`.
    pub fn cnf_jkt(self, jkt: &str) -> TokenBuilder {
        self.claim("cnf", json!({ "jkt": jkt }))
    }

    /// Binds the token to a test key's thumbprint.
    pub fn bound_to(self, key: Key) -> TokenBuilder {
        let jkt = key.thumbprint();
        self.cnf_jkt(&jkt)
    }

    /// Uses this exact JSON text as the header (e.g. with a duplicate member).
    pub fn raw_header(mut self, json_text: &str) -> TokenBuilder {
        self.raw_header = Some(json_text.into());
        self
    }

    /// Uses this exact JSON text as the payload.
    pub fn raw_claims(mut self, json_text: &str) -> TokenBuilder {
        self.raw_claims = Some(json_text.into());
        self
    }

    pub fn header_map(&self) -> &Map<String, Value> {
        &self.header
    }

    pub fn claims_map(&self) -> &Map<String, Value> {
        &self.claims
    }

    /// The compact serialization `header.payload.signature`.
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

/// `https://<domain>/`, the issuer of a tenant domain.
pub fn issuer_url(domain: &str) -> String {
    format!("https://{domain}/")
}

/// Encodes two JSON texts and signs them as `alg` names with `signer`.
/// Signs `header` and `claims` (or the raw JSON texts that replace them) with `signer`, using
/// the header's `alg` to pick the scheme.
pub(crate) fn build_jws(
    header: &Map<String, Value>,
    claims: &Map<String, Value>,
    raw_header: Option<&str>,
    raw_claims: Option<&str>,
    signer: &Signer,
) -> String {
    let header_text =
        raw_header.map_or_else(|| Value::Object(header.clone()).to_string(), str::to_owned);
    let claims_text =
        raw_claims.map_or_else(|| Value::Object(claims.clone()).to_string(), str::to_owned);
    let alg = header.get("alg").and_then(Value::as_str).unwrap_or("");
    compact(&header_text, &claims_text, alg, signer)
}

pub fn compact(header_json: &str, claims_json: &str, alg: &str, signer: &Signer) -> String {
    let signing_input = format!(
        "{}.{}",
        b64url(header_json.as_bytes()),
        b64url(claims_json.as_bytes())
    );
    let signature = signer.signature(alg, signing_input.as_bytes());
    format!("{signing_input}.{}", b64url(&signature))
}

/// Raw edits of an already signed compact token.
pub mod tamper {
    use serde_json::Value;

    use crate::b64url;

    fn split(token: &str) -> (&str, &str, &str) {
        let mut parts = token.splitn(3, '.');
        let header = parts.next().unwrap_or("");
        let payload = parts.next().unwrap_or("");
        let signature = parts.next().unwrap_or("");
        (header, payload, signature)
    }

    /// Keeps header and signature, swaps in another payload (the signature no longer
    /// matches).
    pub fn replace_claims(token: &str, claims: &Value) -> String {
        let (header, _, signature) = split(token);
        format!(
            "{header}.{}.{signature}",
            b64url(claims.to_string().as_bytes())
        )
    }

    /// Keeps payload and signature, swaps in another header.
    pub fn replace_header(token: &str, header: &Value) -> String {
        let (_, payload, signature) = split(token);
        format!(
            "{}.{payload}.{signature}",
            b64url(header.to_string().as_bytes())
        )
    }

    /// Flips one bit in the middle of the decoded signature.
    pub fn flip_signature_bit(token: &str) -> String {
        let (header, payload, signature) = split(token);
        let mut bytes = crate::b64url_decode(signature).unwrap_or_default();
        let middle = bytes.len() / 2;
        if let Some(byte) = bytes.get_mut(middle) {
            *byte ^= 0x01;
        }
        format!("{header}.{payload}.{}", b64url(&bytes))
    }

    /// `header.payload.` with the signature segment emptied.
    pub fn strip_signature(token: &str) -> String {
        let (header, payload, _) = split(token);
        format!("{header}.{payload}.")
    }

    /// The three segments, for tests that reassemble them by hand.
    pub fn segments(token: &str) -> [String; 3] {
        let (header, payload, signature) = split(token);
        [
            header.to_string(),
            payload.to_string(),
            signature.to_string(),
        ]
    }
}

pub(crate) fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}
