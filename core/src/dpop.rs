//! DPoP (RFC 9449): the proof in the `DPoP` header, the request URL it must name, and the
//! binding between the access token's `cnf.jkt` and the proof's key.
//!
//! The pipeline runs these steps in the order the contract gives: [`decode_proof`] first (an
//! undecodable proof fails before the access token is looked at), then the access token, then
//! [`confirmation`], then [`verify_proof`], then [`check_binding`]. Server nonces
//! ([`crate::nonce`]) and `jti` replay ([`crate::replay`]) are separate steps after
//! [`verify_proof`], so that only a proof that passed every other check is remembered.

use crate::json::DateError;
use std::borrow::Cow;
use std::fmt;

use serde_json::{Map, Value};

use crate::algorithm::Algorithm;
use crate::b64;
use crate::crypto::{self, SignatureError};
use crate::dpop_settings::DpopConfig;
use crate::jwk::JwkError;
use crate::jws::{self, Jws, JwsError};
use crate::proof_keys::ProofKeys;
use crate::url::{self, HttpUrl};

/// The only `typ` a proof may carry (RFC 9449 §4.2), compared exactly: a media type would be
/// case-insensitive, but the RFC registers this exact value and accepting variants would let a
/// proof and some other JWT type share spellings.
pub const PROOF_TYP: &str = "dpop+jwt";

/// The claims every proof must carry, in the order a "Missing required claims" text lists them.
pub const REQUIRED_CLAIMS: [&str; 5] = ["iat", "ath", "htm", "htu", "jti"];

/// A longer `jti` is refused. RFC 9449 suggests 96 bits of randomness; nothing legitimate
/// needs more than a few dozen characters, and the value is hashed on every request.
pub const MAX_JTI_LEN: usize = 256;

/// Longer `X-Forwarded-Prefix` values are ignored.
pub const MAX_PREFIX_LEN: usize = 1024;

/// Description for a Bearer request whose token is bound to a key (401 `invalid_token`).
pub const BOUND_TOKEN_ON_BEARER: &str =
    "DPoP-bound token requires the DPoP authentication scheme, not Bearer";

/// Description for a Bearer request that carries a `DPoP` header (400 `invalid_request`).
pub const PROOF_ON_BEARER: &str = "DPoP proof requires DPoP authentication scheme, not Bearer";

const FAILED_TO_VERIFY: &str = "Failed to verify DPoP proof";

/// Why a proof is refused. Every variant is answered with 401 `invalid_dpop_proof`; the
/// [`fmt::Display`] text is the `error_description`. Variants that share a text keep their own
/// cause so logs and tests can tell them apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProofError {
    /// The header is not a compact JWS with a JSON object header and payload.
    Undecodable(JwsError),
    /// `crit` is present: DPoP defines no header extensions, so none can be understood
    /// (RFC 7515 §4.1.11 then requires refusing the JWS).
    CriticalHeader,
    InvalidTyp,
    /// `alg` is unknown or not in `dpop_algorithms`.
    UnsupportedAlgorithm,
    MissingJwk,
    InvalidJwk(JwkError),
    /// A valid key of another type or curve than `alg` needs, or whose own `alg` differs.
    JwkAlgorithmMismatch,
    InvalidSignature(SignatureError),
    /// Names from [`REQUIRED_CLAIMS`], in that order.
    MissingClaims(Vec<&'static str>),
    /// Not a string, blank, or longer than [`MAX_JTI_LEN`].
    InvalidJti,
    /// Not a number.
    InvalidIat,
    IatTooOld,
    IatFromFuture,
    HtmMismatch,
    HtuMismatch,
    AthMismatch,
    /// `nonce` present but not a string.
    InvalidNonce,
    /// The `jti` was accepted before (see [`crate::replay`]).
    Replayed,
    /// A comma in the `DPoP` header value, or several `DPoP` header lines.
    Multiple,
}

impl ProofError {
    /// The `error_description` for the response.
    pub fn description(&self) -> Cow<'static, str> {
        match self {
            ProofError::MissingClaims(_) => Cow::Owned(self.to_string()),
            _ => Cow::Borrowed(self.static_text()),
        }
    }

    fn static_text(&self) -> &'static str {
        match self {
            ProofError::Undecodable(_) | ProofError::CriticalHeader => FAILED_TO_VERIFY,
            ProofError::InvalidTyp => "Invalid DPoP proof typ",
            ProofError::UnsupportedAlgorithm => "Unsupported DPoP proof algorithm",
            ProofError::MissingJwk
            | ProofError::InvalidJwk(_)
            | ProofError::JwkAlgorithmMismatch => "Invalid DPoP proof jwk",
            ProofError::InvalidSignature(_) => "Invalid DPoP proof signature",
            // Written by `Display`; this text is only a fallback.
            ProofError::MissingClaims(_) => "Missing required claims",
            ProofError::InvalidJti => "Invalid DPoP proof jti",
            ProofError::InvalidIat => "Invalid DPoP proof iat",
            ProofError::IatTooOld => "DPoP Proof iat is too old",
            ProofError::IatFromFuture => "DPoP Proof iat is from the future",
            ProofError::HtmMismatch => "DPoP proof htm mismatch",
            ProofError::HtuMismatch => "DPoP proof htu mismatch",
            ProofError::AthMismatch => "DPoP proof ath mismatch",
            ProofError::InvalidNonce => "Invalid DPoP proof nonce",
            ProofError::Replayed => "DPoP proof has already been used",
            ProofError::Multiple => "Multiple DPoP proofs are not allowed",
        }
    }
}

impl fmt::Display for ProofError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProofError::MissingClaims(names) => {
                let noun = if names.len() == 1 { "claim" } else { "claims" };
                write!(f, "Missing required {noun}: {}", names.join(", "))
            }
            _ => f.write_str(self.static_text()),
        }
    }
}

impl std::error::Error for ProofError {}

/// Why an access token presented with a proof is refused: 401 `invalid_token`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CnfError {
    /// No `cnf`, `cnf: null` or `cnf: {}`.
    NoConfirmation,
    /// `cnf` is not an object, or its `jkt` is not a string.
    InvalidFormat,
    /// `cnf` has other members but no `jkt` (or an empty one).
    MissingJkt,
    /// `cnf.jkt` is not the thumbprint of the proof's key.
    Mismatch,
}

impl fmt::Display for CnfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CnfError::NoConfirmation => "JWT Access Token has no jkt confirmation claim",
            CnfError::InvalidFormat => "JWT Access Token has invalid confirmation claim format",
            CnfError::MissingJkt => "Access token 'cnf' claim missing 'jkt'",
            CnfError::Mismatch => "JWT Access Token confirmation mismatch",
        })
    }
}

impl std::error::Error for CnfError {}

/// A decoded, not yet trusted proof.
#[derive(Debug, Clone)]
pub struct Proof<'a> {
    jws: Jws<'a>,
}

/// What the proof must name: the request's method and its URL as built by [`request_url`].
/// `url: None` (a request whose URL cannot be formed) fails the `htu` check in its turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProofTarget<'a> {
    pub method: &'a str,
    pub url: Option<&'a str>,
}

/// A proof that passed every check of [`verify_proof`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedProof {
    /// RFC 7638 SHA-256 thumbprint of the proof's `jwk`, base64url.
    pub jkt: String,
    pub jti: String,
    /// Whole seconds (a fractional `iat` is rounded down).
    pub iat: u64,
    pub nonce: Option<String>,
}

/// Splits and parses the `DPoP` header value. Runs before the access token is checked, so a
/// garbled proof is reported as such whatever the token.
pub fn decode_proof(proof: &str) -> Result<Proof<'_>, ProofError> {
    let jws = jws::decode(proof).map_err(ProofError::Undecodable)?;
    if jws.header.crit.is_some() {
        return Err(ProofError::CriticalHeader);
    }
    Ok(Proof { jws })
}

/// Every check of RFC 9449 §4.3 except the nonce and replay, in the contract's order: `typ`,
/// `alg`, `jwk`, signature, presence of the required claims, `jti`, `iat`, `htm`, `htu`, `ath`.
/// The `jwk` is parsed through `keys`, which returns the key kept from an earlier proof with
/// the same `jwk`; keeping a new one is the caller's choice ([`ProofKeys::keep_last`]). `ath`
/// is [`access_token_hash`] of the presented access token (computed once per verified token
/// by the caller). `now` is Unix seconds.
pub fn verify_proof(
    proof: &Proof<'_>,
    keys: &mut ProofKeys,
    target: &ProofTarget<'_>,
    ath: &str,
    policy: &DpopConfig,
    now: u64,
) -> Result<VerifiedProof, ProofError> {
    let header = &proof.jws.header;
    if header.typ.as_deref() != Some(PROOF_TYP) {
        return Err(ProofError::InvalidTyp);
    }
    let alg = Algorithm::from_name(&header.alg)
        .filter(|alg| policy.algorithms.contains(alg))
        .ok_or(ProofError::UnsupportedAlgorithm)?;
    let jwk_object = header.jwk.as_ref().ok_or(ProofError::MissingJwk)?;
    let key = keys.parse(jwk_object).map_err(ProofError::InvalidJwk)?;
    if !key.fits(alg) {
        return Err(ProofError::JwkAlgorithmMismatch);
    }
    proof
        .jws
        .verify(key.key(), alg)
        .map_err(ProofError::InvalidSignature)?;

    let claims = &proof.jws.claims;
    let missing: Vec<&'static str> = REQUIRED_CLAIMS
        .into_iter()
        .filter(|name| !claims.contains_key(*name))
        .collect();
    if !missing.is_empty() {
        return Err(ProofError::MissingClaims(missing));
    }

    let jti = match claims.get("jti") {
        Some(Value::String(jti)) if !jti.trim().is_empty() && jti.len() <= MAX_JTI_LEN => jti,
        _ => return Err(ProofError::InvalidJti),
    };
    let iat = check_iat(claims.get("iat"), policy, now)?;

    let htm = claims.get("htm").and_then(Value::as_str);
    if !htm.is_some_and(|htm| htm.eq_ignore_ascii_case(target.method)) {
        return Err(ProofError::HtmMismatch);
    }

    let htu = claims
        .get("htu")
        .and_then(Value::as_str)
        .and_then(|htu| HttpUrl::parse(htu).ok())
        .map(|htu| htu.normalized());
    match (htu, target.url) {
        (Some(htu), Some(url)) if htu == url => {}
        _ => return Err(ProofError::HtuMismatch),
    }

    if claims.get("ath").and_then(Value::as_str) != Some(ath) {
        return Err(ProofError::AthMismatch);
    }

    let nonce = match claims.get("nonce") {
        None => None,
        Some(Value::String(nonce)) => Some(nonce.clone()),
        Some(_) => return Err(ProofError::InvalidNonce),
    };

    Ok(VerifiedProof {
        jkt: key.thumbprint(),
        jti: jti.clone(),
        iat,
        nonce,
    })
}

/// The proof's acceptance window is [now - iat_offset, now + iat_leeway].
fn check_iat(value: Option<&Value>, policy: &DpopConfig, now: u64) -> Result<u64, ProofError> {
    let Some(Value::Number(number)) = value else {
        return Err(ProofError::InvalidIat);
    };
    let iat = match crate::json::numeric_date(number) {
        Ok(iat) => iat,
        Err(DateError::Negative) => return Err(ProofError::IatTooOld),
        Err(DateError::TooLarge) => return Err(ProofError::IatFromFuture),
    };
    if iat < now.saturating_sub(policy.iat_offset) {
        return Err(ProofError::IatTooOld);
    }
    if iat > now.saturating_add(policy.iat_leeway) {
        return Err(ProofError::IatFromFuture);
    }
    Ok(iat)
}

/// base64url(SHA-256(token)): the `ath` a proof for this token must carry (RFC 9449 §4.2).
pub fn access_token_hash(access_token: &str) -> String {
    b64::encode(&crypto::sha256(access_token.as_bytes()))
}

/// The `cnf.jkt` of a DPoP-bound access token (RFC 9449 §6.1).
pub fn confirmation(claims: &Map<String, Value>) -> Result<&str, CnfError> {
    let cnf = match claims.get("cnf") {
        None | Some(Value::Null) => return Err(CnfError::NoConfirmation),
        Some(Value::Object(cnf)) if cnf.is_empty() => return Err(CnfError::NoConfirmation),
        Some(Value::Object(cnf)) => cnf,
        Some(_) => return Err(CnfError::InvalidFormat),
    };
    match cnf.get("jkt") {
        None => Err(CnfError::MissingJkt),
        Some(Value::String(jkt)) if jkt.is_empty() => Err(CnfError::MissingJkt),
        Some(Value::String(jkt)) => Ok(jkt),
        Some(_) => Err(CnfError::InvalidFormat),
    }
}

/// The token is bound to the key that signed the proof.
pub fn check_binding(jkt: &str, proof: &VerifiedProof) -> Result<(), CnfError> {
    // Thumbprints are public values; a plain comparison leaks nothing.
    if jkt == proof.jkt {
        Ok(())
    } else {
        Err(CnfError::Mismatch)
    }
}

/// Whether the token carries `cnf.jkt` in any form: such a token must not be accepted on the
/// Bearer scheme, where no proof of possession is asked for.
pub fn is_bound(claims: &Map<String, Value>) -> bool {
    claims
        .get("cnf")
        .and_then(Value::as_object)
        .is_some_and(|cnf| cnf.contains_key("jkt"))
}

/// The `X-Forwarded-Proto`, `-Host` and `-Prefix` header lines of a request. Only consulted
/// when `trust_forwarded_headers` is on; each one overrides its part of the URL only when it
/// is a single valid value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ForwardedHeaders<'a> {
    pub proto: Vec<&'a str>,
    pub host: Vec<&'a str>,
    pub prefix: Vec<&'a str>,
}

impl<'a> ForwardedHeaders<'a> {
    /// Picks the three headers out of all request headers (names compared case-insensitively).
    pub fn from_headers<I>(headers: I) -> ForwardedHeaders<'a>
    where
        I: IntoIterator<Item = (&'a str, &'a str)>,
    {
        let mut found = ForwardedHeaders::default();
        for (name, value) in headers {
            let list = if name.eq_ignore_ascii_case("x-forwarded-proto") {
                &mut found.proto
            } else if name.eq_ignore_ascii_case("x-forwarded-host") {
                &mut found.host
            } else if name.eq_ignore_ascii_case("x-forwarded-prefix") {
                &mut found.prefix
            } else {
                continue;
            };
            // Two lines already make the header unusable; keeping more would only cost memory.
            if list.len() < 2 {
                list.push(value);
            }
        }
        found
    }
}

/// The URL a proof's `htu` must equal, normalised like `htu` (RFC 9449 §4.3): from the
/// connection's `scheme`, the `:authority` and the `:path` (whose query is dropped), with the
/// forwarded headers applied when given. `None` when no valid URL can be formed.
pub fn request_url(
    scheme: &str,
    authority: &str,
    path: &str,
    forwarded: Option<&ForwardedHeaders<'_>>,
) -> Option<String> {
    let mut scheme = valid_proto(scheme)?;
    let mut authority = valid_authority(authority)?;
    let mut prefix = "";
    if let Some(fwd) = forwarded {
        if let Some(proto) = single(&fwd.proto).and_then(valid_proto) {
            scheme = proto;
        }
        if let Some(host) = single(&fwd.host).and_then(valid_authority) {
            authority = host;
        }
        if let Some(p) = single(&fwd.prefix).and_then(valid_prefix) {
            prefix = p;
        }
    }
    if !path.starts_with('/') {
        return None;
    }
    let path = path.split(['?', '#']).next().unwrap_or(path);
    let url = format!("{scheme}://{authority}{prefix}{path}");
    HttpUrl::parse(&url).ok().map(|url| url.normalized())
}

/// The value of a header that appears exactly once, without surrounding whitespace.
fn single<'a>(values: &[&'a str]) -> Option<&'a str> {
    match values {
        [one] => Some(one.trim_matches([' ', '\t'])),
        _ => None,
    }
}

fn valid_proto(value: &str) -> Option<&'static str> {
    if value.eq_ignore_ascii_case("https") {
        Some("https")
    } else if value.eq_ignore_ascii_case("http") {
        Some("http")
    } else {
        None
    }
}

/// `host[:port]` or `[v6]:port` and nothing else: a `/`, `?`, `#`, `@` or `,` would move the
/// boundary between authority and path when the URL is assembled, and a path could then be
/// smuggled in through the host.
fn valid_authority(value: &str) -> Option<&str> {
    let allowed =
        |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':' | b'[' | b']');
    if value.is_empty() || !value.bytes().all(allowed) {
        return None;
    }
    HttpUrl::parse(&format!("http://{value}/"))
        .ok()
        .map(|_| value)
}

/// A path prefix: starts with `/`, one value (no comma), path characters only, and no `..`
/// segment even percent-encoded, so a forwarded prefix can never climb above the real path.
/// A trailing `/` is dropped because the request path brings its own.
fn valid_prefix(value: &str) -> Option<&str> {
    if !value.starts_with('/') || value.len() > MAX_PREFIX_LEN {
        return None;
    }
    // RFC 3986 `pchar` and `/`, minus the comma that separates several values.
    let path_char = |b: u8| {
        url::is_unreserved(b)
            || matches!(
                b,
                b'/' | b':' | b'@' | b'!' | b'$' | b'&' | b'\'' | b'(' | b')'
            )
            || matches!(b, b'*' | b'+' | b';' | b'=' | b'%')
    };
    if !value.bytes().all(path_char) || !well_formed_escapes(value) {
        return None;
    }
    let decoded = url::normalize_percent_encoding(value);
    if decoded.split('/').any(|segment| segment == "..") {
        return None;
    }
    Some(value.trim_end_matches('/'))
}

fn well_formed_escapes(value: &str) -> bool {
    let mut bytes = value.bytes();
    while let Some(b) = bytes.next() {
        if b == b'%' {
            let hex = |b: Option<u8>| b.is_some_and(|b| b.is_ascii_hexdigit());
            if !hex(bytes.next()) || !hex(bytes.next()) {
                return false;
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::KeyError;
    use crate::jwk;
    use serde_json::json;

    const NOW: u64 = 1_700_000_000;
    const METHOD: &str = "GET";
    const URL: &str = "https://api.example.com/api/messages";
    const TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1c2VyXzEyMyJ9.c2lnbmF0dXJl";

    const RSA_PEM: &str = "-----BEGIN PRIVATE KEY-----
MIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQCYpn/XqIPSL1Vk
rVX2im0icyndOOT6fA/wwOEPSkhFD3JgdS4ySD7I9DTxeJYTRK44X7g9hzW0btZR
Jh723zbGFEWAs9bu1iZnxILYL/PUifz8uYhyBjhyw6ElwDS6fuRGcBR9Q0IMP1EP
En8DlyjHO7qQnS/sWvQbmtEcwHNVKDhde6FaUiJElb6E/1fb+aUZvBKHknXJwGVn
+ydJF+J0C9GQhn/jTw9SUori5lMosSzefgngEoiRtGZj1vkLdvt6xQ3akfeAKTlo
KJxQKAcsyt6g7lkCqtimHFsiiwPQ7xDgrMthlGCD+Q5mnJG1GNR839IKp7h5cdio
GmsosBMJAgMBAAECggEACoOdVptSyQ1dklumCh8quS65eXVLwDz/VBPU7JqvM6KG
vEIV9nynZmv7oY4uuBEI9vUQ2ZwQhOcFd/1qMJLbUPVgfCbm7PhvGMKeSIm0/7Sp
ajbVQRVQmgcDeHguqZHH41og7yfMys8ppCIgAX1N37srdH5/KIZzPduB/7r5tqm9
MpuyrcpqU3CaKHM+smlTTAC36tIIfxP5oh7u37GxyuDDUoFvMrZCYQqynPbVaaGl
lNe7cAk/1zVblDphcxtoQV0vpo8y+Lcfc2se+EyDonXoV3Vi6nkWHkXNPTIz+xlJ
wsliLKCy23a0/MgT2xtUQqJjAYXRM4AxOzM9mxKeqQKBgQDXjVsY40wtz9/HL5RX
n0m5AiGRpy/MHy1+qlUi4/+VyvaEUHw/E1aBuXD4NaOf5OQEChH5C0xBD44ummh6
whaXA/aBpdzw5P1Bhn1k4+NZffl8ps5nauTojtiS3gER7MFhnUQAVcdIxMvxXACo
Oc971f42FU1MtOg6F6009ytnVwKBgQC1S3uKTwkfytxwo3z4biOh1kUZWIFTg4dn
sxFfx6EBbWPk08ovVi7vaLpY9nNzm2s0fBpiSIraBwPrP59l0N7luYhHtjCvgCvY
bp+gCJjX72H0N7rcY/AZL+HsnttRNTSOBox3rZvlQ3RRlg+uxhRpqu2KCtt1G3SY
IiadnoG8nwKBgAXmhrHdtv4iDJwlP0hOwfPgjQ6xputNhy9Kdl4oI5z0G19v3JbV
bq7KZr9EqJ/94ggCRo+ssX+ub1PzQhzqJzgnEZ5m7e9iNVSP2+rhGh4fBq9U2Z2X
HYEIOAF9NkZJVtnXNj9UGcpyKKsIu7PfMUDQkM7mMmGBKkI81671fSitAoGBAIZl
1sfJn7H56UF3cYWZ4MBw3/jSK82FjDPMA+1FSI6OUaepehFtio3gzYR171CcvvTB
q62Aqa7H1JfpKnmIRjV3PRgscBsqoVZpa9xvgx9RTwSE6/nF/JAvdwS7H0ssbjF7
mVZ/VTq4rtpsrGOcZDWRiVb0hYxjNiQx7P6cKwFxAoGBALsJeDWg+vZBCupPTvPy
KJNeB4sn8g/9sS0wsuTUuWVu06yNsbhDxZeMKrZxse32UDPa2NUX7jedRVr6P8jk
RtCYWSThWve5gnoz6TcpXfG9EX/AvESmu3mnPqRwDXQLlBMWJTLB16+j4HsLPmYm
j+CGlKkXb5ozdy3FNL7x8PV+
-----END PRIVATE KEY-----
";

    // ---- fixed keys ----

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Key {
        /// P-256, private scalar 0x11 repeated.
        Ec256,
        /// A second P-256 key, private scalar 0x12 repeated.
        Ec256Other,
        /// P-384, private scalar 0x22 repeated.
        Ec384,
        /// Ed25519, seed 0x07 repeated.
        Ed,
        /// RSA 2048 (`RSA_PEM`).
        Rsa,
    }

    fn p256_key(key: Key) -> p256::ecdsa::SigningKey {
        let byte = if key == Key::Ec256Other { 0x12 } else { 0x11 };
        p256::ecdsa::SigningKey::from_slice(&[byte; 32]).unwrap()
    }

    fn p384_key() -> p384::ecdsa::SigningKey {
        p384::ecdsa::SigningKey::from_slice(&[0x22; 48]).unwrap()
    }

    fn ed_key() -> ed25519_dalek::SigningKey {
        ed25519_dalek::SigningKey::from_bytes(&[7; 32])
    }

    fn rsa_key() -> rsa::PrivateKey {
        use rsa::pkcs8::DecodePrivateKey;
        rsa::PrivateKey::from_pkcs8_pem(RSA_PEM).unwrap()
    }

    /// Public JWK members in RFC 7638 order, and the canonical JSON a thumbprint hashes.
    fn public_jwk(key: Key) -> (Value, String) {
        match key {
            Key::Ec256 | Key::Ec256Other => {
                let point = p256_key(key).verifying_key().to_sec1_point(false);
                let bytes = point.as_bytes();
                ec_jwk("P-256", &bytes[1..33], &bytes[33..65])
            }
            Key::Ec384 => {
                let point = p384_key().verifying_key().to_sec1_point(false);
                let bytes = point.as_bytes();
                ec_jwk("P-384", &bytes[1..49], &bytes[49..97])
            }
            Key::Ed => {
                let x = b64::encode(ed_key().verifying_key().as_bytes());
                let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
                (json!({"kty": "OKP", "crv": "Ed25519", "x": x}), canonical)
            }
            Key::Rsa => {
                use rsa::traits::PublicKeyParts;
                let key = rsa_key();
                let n = b64::encode(&key.n_bytes());
                let e = b64::encode(&key.e_bytes());
                let canonical = format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#);
                (json!({"kty": "RSA", "n": n, "e": e}), canonical)
            }
        }
    }

    fn ec_jwk(crv: &str, x: &[u8], y: &[u8]) -> (Value, String) {
        let (x, y) = (b64::encode(x), b64::encode(y));
        let canonical = format!(r#"{{"crv":"{crv}","kty":"EC","x":"{x}","y":"{y}"}}"#);
        (json!({"kty": "EC", "crv": crv, "x": x, "y": y}), canonical)
    }

    fn thumbprint_of(key: Key) -> String {
        b64::encode(&crypto::sha256(public_jwk(key).1.as_bytes()))
    }

    fn default_alg(key: Key) -> &'static str {
        match key {
            Key::Ec256 | Key::Ec256Other => "ES256",
            Key::Ec384 => "ES384",
            Key::Ed => "EdDSA",
            Key::Rsa => "RS256",
        }
    }

    /// A deterministic generator for the PSS salt: tests need repeatable bytes, not secrecy.
    struct CountingRng(u8);

    impl rsa::rand_core::TryRng for CountingRng {
        type Error = std::convert::Infallible;
        fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
            let mut b = [0; 4];
            self.try_fill_bytes(&mut b)?;
            Ok(u32::from_be_bytes(b))
        }
        fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
            let mut b = [0; 8];
            self.try_fill_bytes(&mut b)?;
            Ok(u64::from_be_bytes(b))
        }
        fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
            for byte in dst {
                self.0 = self.0.wrapping_add(1);
                *byte = self.0;
            }
            Ok(())
        }
    }

    impl rsa::rand_core::TryCryptoRng for CountingRng {}

    fn sign(key: Key, alg: &str, message: &[u8]) -> Vec<u8> {
        match (key, alg) {
            (Key::Ec256 | Key::Ec256Other, _) => {
                use p256::ecdsa::signature::Signer;
                let sig: p256::ecdsa::Signature = p256_key(key).sign(message);
                sig.to_bytes().to_vec()
            }
            (Key::Ec384, _) => {
                use p384::ecdsa::signature::Signer;
                let sig: p384::ecdsa::Signature = p384_key().sign(message);
                sig.to_bytes().to_vec()
            }
            (Key::Ed, _) => {
                use ed25519_dalek::Signer;
                ed_key().sign(message).to_bytes().to_vec()
            }
            (Key::Rsa, "PS256") => {
                use rsa::signature::{RandomizedSigner, SignatureEncoding};
                let signer = rsa::pss::SigningKey::<rsa::sha2::Sha256>::new(rsa_key());
                signer.sign_with_rng(&mut CountingRng(0), message).to_vec()
            }
            (Key::Rsa, _) => {
                use rsa::signature::{SignatureEncoding, Signer};
                let signer = rsa::pkcs1v15::SigningKey::<rsa::sha2::Sha256>::new(rsa_key());
                signer.sign(message).to_vec()
            }
        }
    }

    // ---- proofs ----

    /// A proof under construction: by default valid for `METHOD URL` with `TOKEN` at `NOW`.
    struct ProofSpec {
        header: Map<String, Value>,
        claims: Map<String, Value>,
        signed_by: Key,
        signature: Option<Vec<u8>>,
    }

    impl ProofSpec {
        fn new(key: Key) -> ProofSpec {
            let header = json!({
                "typ": "dpop+jwt",
                "alg": default_alg(key),
                "jwk": public_jwk(key).0,
            });
            let claims = json!({
                "jti": "e1j3V_bKic8-LAEB",
                "htm": METHOD,
                "htu": URL,
                "iat": NOW,
                "ath": access_token_hash(TOKEN),
            });
            ProofSpec {
                header: header.as_object().unwrap().clone(),
                claims: claims.as_object().unwrap().clone(),
                signed_by: key,
                signature: None,
            }
        }

        fn header(mut self, name: &str, value: Value) -> ProofSpec {
            self.header.insert(name.to_owned(), value);
            self
        }

        fn without_header(mut self, name: &str) -> ProofSpec {
            self.header.remove(name);
            self
        }

        fn claim(mut self, name: &str, value: Value) -> ProofSpec {
            self.claims.insert(name.to_owned(), value);
            self
        }

        fn without_claim(mut self, name: &str) -> ProofSpec {
            self.claims.remove(name);
            self
        }

        fn signed_by(mut self, key: Key) -> ProofSpec {
            self.signed_by = key;
            self
        }

        fn signature(mut self, signature: Vec<u8>) -> ProofSpec {
            self.signature = Some(signature);
            self
        }

        fn signing_input(&self) -> String {
            format!(
                "{}.{}",
                b64::encode(Value::Object(self.header.clone()).to_string().as_bytes()),
                b64::encode(Value::Object(self.claims.clone()).to_string().as_bytes())
            )
        }

        fn build(&self) -> String {
            let input = self.signing_input();
            let alg = self
                .header
                .get("alg")
                .and_then(Value::as_str)
                .unwrap_or("ES256");
            let signature = match &self.signature {
                Some(s) => s.clone(),
                None => sign(self.signed_by, alg, input.as_bytes()),
            };
            format!("{input}.{}", b64::encode(&signature))
        }
    }

    fn policy() -> DpopConfig {
        DpopConfig {
            enabled: true,
            required: false,
            iat_leeway: 30,
            iat_offset: 300,
            algorithms: vec![
                Algorithm::ES256,
                Algorithm::ES384,
                Algorithm::EdDSA,
                Algorithm::RS256,
                Algorithm::PS256,
            ],
            replay_check: true,
            replay_scope: crate::dpop_settings::ReplayScope::Shared,
            nonce: None,
            trust_forwarded_headers: false,
        }
    }

    fn check_with(
        compact: &str,
        policy: &DpopConfig,
        now: u64,
    ) -> Result<VerifiedProof, ProofError> {
        let proof = decode_proof(compact)?;
        let target = ProofTarget {
            method: METHOD,
            url: Some(URL),
        };
        verify_proof(
            &proof,
            &mut ProofKeys::new(8),
            &target,
            &access_token_hash(TOKEN),
            policy,
            now,
        )
    }

    fn check(spec: ProofSpec) -> Result<VerifiedProof, ProofError> {
        check_with(&spec.build(), &policy(), NOW)
    }

    fn expect_err(spec: ProofSpec, want: ProofError, text: &str) {
        let got = check(spec).unwrap_err();
        assert_eq!(got, want);
        assert_eq!(got.to_string(), text);
        assert_eq!(got.description(), text);
    }

    // ---- accepted proofs ----

    #[test]
    fn valid_proof_of_every_supported_algorithm_is_accepted() {
        for (key, alg) in [
            (Key::Ec256, "ES256"),
            (Key::Ec384, "ES384"),
            (Key::Ed, "EdDSA"),
            (Key::Rsa, "RS256"),
            (Key::Rsa, "PS256"),
        ] {
            let verified = check(ProofSpec::new(key).header("alg", json!(alg))).unwrap();
            assert_eq!(
                verified,
                VerifiedProof {
                    jkt: thumbprint_of(key),
                    jti: "e1j3V_bKic8-LAEB".to_owned(),
                    iat: NOW,
                    nonce: None,
                },
                "{alg}"
            );
        }
    }

    #[test]
    fn nonce_claim_is_passed_on() {
        let verified = check(ProofSpec::new(Key::Ec256).claim("nonce", json!("n-1"))).unwrap();
        assert_eq!(verified.nonce.as_deref(), Some("n-1"));
    }

    #[test]
    fn extra_claims_and_header_members_are_ignored() {
        let spec = ProofSpec::new(Key::Ec256)
            .claim("extra", json!({"a": 1}))
            .header("kid", json!("ignored"));
        assert_eq!(check(spec).unwrap().jkt, thumbprint_of(Key::Ec256));
    }

    // ---- decoding (runs before the access token is checked) ----

    #[test]
    fn undecodable_proofs_fail_to_verify() {
        let valid = ProofSpec::new(Key::Ec256).build();
        let (input, sig) = valid.rsplit_once('.').unwrap();
        let cases = [
            "".to_owned(),
            "not-a-jws".to_owned(),
            input.to_owned(),
            format!("{valid}.x"),
            format!("{input}.{sig}="),
            format!("{input}.+{sig}"),
            format!("{}.{}.c2ln", b64::encode(b"not json"), b64::encode(b"{}")),
            format!("{}.{}.c2ln", b64::encode(b"[]"), b64::encode(b"{}")),
            format!(
                "{}.{}.c2ln",
                b64::encode(br#"{"alg":"ES256","typ":"dpop+jwt"}"#),
                b64::encode(br#"{"jti":"a","jti":"b"}"#)
            ),
            format!(
                "{}.{}.c2ln",
                b64::encode(br#"{"typ":"dpop+jwt"}"#),
                b64::encode(b"{}")
            ),
            "a".repeat(jws::MAX_TOKEN_LEN + 1),
        ];
        for compact in cases {
            let err = decode_proof(&compact).unwrap_err();
            assert!(
                matches!(err, ProofError::Undecodable(_)),
                "{compact:.60}: {err:?}"
            );
            assert_eq!(err.to_string(), "Failed to verify DPoP proof");
        }
    }

    #[test]
    fn undecodable_proof_reports_the_jws_error() {
        assert_eq!(
            decode_proof("a.b").unwrap_err(),
            ProofError::Undecodable(JwsError::SegmentCount { found: 2 })
        );
    }

    #[test]
    fn critical_header_extension_fails_to_verify() {
        let spec = ProofSpec::new(Key::Ec256).header("crit", json!(["exp"]));
        let err = decode_proof(&spec.build()).unwrap_err();
        assert_eq!(err, ProofError::CriticalHeader);
        assert_eq!(err.to_string(), "Failed to verify DPoP proof");
    }

    // ---- header checks ----

    #[test]
    fn typ_must_be_exactly_dpop_jwt() {
        expect_err(
            ProofSpec::new(Key::Ec256).without_header("typ"),
            ProofError::InvalidTyp,
            "Invalid DPoP proof typ",
        );
        for typ in [
            "JWT",
            "at+jwt",
            "DPoP+JWT",
            "dpop+JWT",
            "application/dpop+jwt",
            "dpop+jwt ",
        ] {
            expect_err(
                ProofSpec::new(Key::Ec256).header("typ", json!(typ)),
                ProofError::InvalidTyp,
                "Invalid DPoP proof typ",
            );
        }
    }

    #[test]
    fn alg_must_be_a_configured_proof_algorithm() {
        for alg in ["none", "HS256", "ES512", "es256", "RS384", ""] {
            expect_err(
                ProofSpec::new(Key::Ec256).header("alg", json!(alg)),
                ProofError::UnsupportedAlgorithm,
                "Unsupported DPoP proof algorithm",
            );
        }
        let only_eddsa = DpopConfig {
            algorithms: vec![Algorithm::EdDSA],
            ..policy()
        };
        assert_eq!(
            check_with(&ProofSpec::new(Key::Ec256).build(), &only_eddsa, NOW).unwrap_err(),
            ProofError::UnsupportedAlgorithm
        );
        assert!(check_with(&ProofSpec::new(Key::Ed).build(), &only_eddsa, NOW).is_ok());
    }

    #[test]
    fn missing_jwk_is_invalid() {
        expect_err(
            ProofSpec::new(Key::Ec256).without_header("jwk"),
            ProofError::MissingJwk,
            "Invalid DPoP proof jwk",
        );
    }

    #[test]
    fn jwk_with_private_members_is_refused() {
        for member in ["d", "p", "q", "dp", "dq", "qi", "oth", "k"] {
            let mut jwk = public_jwk(Key::Ec256).0;
            jwk[member] = json!("AAAA");
            let err = check(ProofSpec::new(Key::Ec256).header("jwk", jwk)).unwrap_err();
            assert!(
                matches!(err, ProofError::InvalidJwk(JwkError::PrivateMember(_))),
                "{member}: {err:?}"
            );
            assert_eq!(err.to_string(), "Invalid DPoP proof jwk");
        }
    }

    #[test]
    fn jwk_off_the_curve_is_refused() {
        let mut jwk = public_jwk(Key::Ec256).0;
        let mut y = b64::decode(jwk["y"].as_str().unwrap()).unwrap();
        y[31] ^= 1;
        jwk["y"] = json!(b64::encode(&y));
        expect_err(
            ProofSpec::new(Key::Ec256).header("jwk", jwk),
            ProofError::InvalidJwk(JwkError::Key(KeyError::PointNotOnCurve)),
            "Invalid DPoP proof jwk",
        );
    }

    #[test]
    fn rsa_jwk_under_2048_bits_is_refused() {
        // Any odd 1024-bit modulus: the size is refused before anything else about it.
        let mut n = vec![0xC5u8; 128];
        n[127] = 0x01;
        let jwk = json!({"kty": "RSA", "n": b64::encode(&n), "e": "AQAB"});
        expect_err(
            ProofSpec::new(Key::Rsa).header("jwk", jwk),
            ProofError::InvalidJwk(JwkError::Key(KeyError::RsaModulusTooSmall {
                bits: 1024,
                min: 2048,
            })),
            "Invalid DPoP proof jwk",
        );
    }

    #[test]
    fn symmetric_and_unknown_jwks_are_refused() {
        expect_err(
            ProofSpec::new(Key::Ec256).header("jwk", json!({"kty": "oct", "k": "c2VjcmV0"})),
            ProofError::InvalidJwk(JwkError::SymmetricKey),
            "Invalid DPoP proof jwk",
        );
        expect_err(
            ProofSpec::new(Key::Ec256).header("jwk", json!({"crv": "P-256"})),
            ProofError::InvalidJwk(JwkError::MissingMember("kty")),
            "Invalid DPoP proof jwk",
        );
    }

    #[test]
    fn jwk_must_fit_alg() {
        // An Ed25519 key under ES256, a P-256 key under ES384, and an RSA key under EdDSA.
        for (key, alg) in [
            (Key::Ed, "ES256"),
            (Key::Ec256, "ES384"),
            (Key::Rsa, "EdDSA"),
        ] {
            expect_err(
                ProofSpec::new(key).header("alg", json!(alg)),
                ProofError::JwkAlgorithmMismatch,
                "Invalid DPoP proof jwk",
            );
        }
        // A JWK that names its own algorithm allows only that one.
        let mut jwk = public_jwk(Key::Rsa).0;
        jwk["alg"] = json!("PS256");
        expect_err(
            ProofSpec::new(Key::Rsa).header("jwk", jwk),
            ProofError::JwkAlgorithmMismatch,
            "Invalid DPoP proof jwk",
        );
    }

    // ---- signature ----

    #[test]
    fn proof_signed_by_another_key_is_refused() {
        expect_err(
            ProofSpec::new(Key::Ec256).signed_by(Key::Ec256Other),
            ProofError::InvalidSignature(SignatureError::Invalid),
            "Invalid DPoP proof signature",
        );
    }

    #[test]
    fn proof_with_altered_claims_is_refused() {
        let valid = ProofSpec::new(Key::Ed).build();
        let (_, rest) = valid.split_once('.').unwrap();
        let (_, signature) = rest.split_once('.').unwrap();
        let altered = ProofSpec::new(Key::Ed).claim("htm", json!("POST"));
        let forged = format!("{}.{signature}", altered.signing_input());
        assert_eq!(
            check_with(&forged, &policy(), NOW).unwrap_err(),
            ProofError::InvalidSignature(SignatureError::Invalid)
        );
    }

    #[test]
    fn es256_high_s_signature_is_accepted_as_the_crypto_layer_decides() {
        let spec = ProofSpec::new(Key::Ec256);
        let low: p256::ecdsa::Signature = {
            use p256::ecdsa::signature::Signer;
            p256_key(Key::Ec256).sign(spec.signing_input().as_bytes())
        };
        let high = p256::ecdsa::Signature::from_scalars(low.r(), -low.s()).unwrap();
        assert_ne!(high.to_bytes(), low.to_bytes());
        assert!(check(spec.signature(high.to_bytes().to_vec())).is_ok());
    }

    #[test]
    fn es256_der_signature_is_refused() {
        let spec = ProofSpec::new(Key::Ec256);
        let raw = sign(Key::Ec256, "ES256", spec.signing_input().as_bytes());
        let der = der_signature(&raw[..32], &raw[32..]);
        let len = der.len();
        expect_err(
            spec.signature(der),
            ProofError::InvalidSignature(SignatureError::Length {
                expected: 64,
                actual: len,
            }),
            "Invalid DPoP proof signature",
        );
    }

    #[test]
    fn es256_signature_with_zero_r_is_refused() {
        let mut zero_r = vec![0u8; 32];
        zero_r.extend_from_slice(&[1u8; 32]);
        expect_err(
            ProofSpec::new(Key::Ec256).signature(zero_r),
            ProofError::InvalidSignature(SignatureError::Malformed),
            "Invalid DPoP proof signature",
        );
    }

    /// ASN.1 DER `SEQUENCE { INTEGER r, INTEGER s }` (RFC 3279 §2.2.3).
    fn der_signature(r: &[u8], s: &[u8]) -> Vec<u8> {
        fn integer(bytes: &[u8]) -> Vec<u8> {
            let trimmed: Vec<u8> = bytes.iter().copied().skip_while(|&b| b == 0).collect();
            let mut value = if trimmed.first().is_some_and(|&b| b & 0x80 != 0) {
                vec![0]
            } else {
                vec![]
            };
            value.extend(trimmed);
            let mut out = vec![0x02, value.len() as u8];
            out.extend(value);
            out
        }
        let body = [integer(r), integer(s)].concat();
        let mut out = vec![0x30, body.len() as u8];
        out.extend(body);
        out
    }

    // ---- claims ----

    #[test]
    fn one_missing_claim_is_named() {
        for name in REQUIRED_CLAIMS {
            expect_err(
                ProofSpec::new(Key::Ec256).without_claim(name),
                ProofError::MissingClaims(vec![name]),
                &format!("Missing required claim: {name}"),
            );
        }
    }

    #[test]
    fn several_missing_claims_are_listed_in_fixed_order() {
        expect_err(
            ProofSpec::new(Key::Ec256)
                .without_claim("jti")
                .without_claim("iat"),
            ProofError::MissingClaims(vec!["iat", "jti"]),
            "Missing required claims: iat, jti",
        );
        let mut spec = ProofSpec::new(Key::Ec256);
        for name in ["jti", "htu", "htm", "ath", "iat"] {
            spec = spec.without_claim(name);
        }
        expect_err(
            spec,
            ProofError::MissingClaims(vec!["iat", "ath", "htm", "htu", "jti"]),
            "Missing required claims: iat, ath, htm, htu, jti",
        );
    }

    #[test]
    fn jti_must_be_a_non_blank_bounded_string() {
        for jti in [
            json!(""),
            json!("  \t"),
            json!(42),
            json!(null),
            json!(["a"]),
            json!("a".repeat(257)),
        ] {
            expect_err(
                ProofSpec::new(Key::Ec256).claim("jti", jti),
                ProofError::InvalidJti,
                "Invalid DPoP proof jti",
            );
        }
        let longest = "a".repeat(MAX_JTI_LEN);
        let verified = check(ProofSpec::new(Key::Ec256).claim("jti", json!(longest))).unwrap();
        assert_eq!(verified.jti, longest);
    }

    #[test]
    fn iat_must_be_a_number() {
        for iat in [json!("1700000000"), json!(null), json!(true), json!({})] {
            expect_err(
                ProofSpec::new(Key::Ec256).claim("iat", iat),
                ProofError::InvalidIat,
                "Invalid DPoP proof iat",
            );
        }
    }

    #[test]
    fn iat_window_edges() {
        let at = |iat: Value| check(ProofSpec::new(Key::Ec256).claim("iat", iat));
        assert_eq!(at(json!(NOW - 300)).unwrap().iat, NOW - 300);
        assert_eq!(at(json!(NOW - 301)).unwrap_err(), ProofError::IatTooOld);
        assert_eq!(at(json!(NOW + 30)).unwrap().iat, NOW + 30);
        assert_eq!(at(json!(NOW + 31)).unwrap_err(), ProofError::IatFromFuture);
        assert_eq!(at(json!(0)).unwrap_err(), ProofError::IatTooOld);
        assert_eq!(at(json!(-5)).unwrap_err(), ProofError::IatTooOld);
        assert_eq!(at(json!(-0.5)).unwrap_err(), ProofError::IatTooOld);
        assert_eq!(at(json!(1e300)).unwrap_err(), ProofError::IatFromFuture);
        assert_eq!(at(json!(u64::MAX)).unwrap_err(), ProofError::IatFromFuture);
        // A fractional NumericDate counts by its whole seconds.
        assert_eq!(at(json!(NOW as f64 + 30.9)).unwrap().iat, NOW + 30);
        assert_eq!(
            at(json!(NOW as f64 - 300.5)).unwrap_err(),
            ProofError::IatTooOld
        );
    }

    #[test]
    fn iat_texts() {
        assert_eq!(
            ProofError::IatTooOld.to_string(),
            "DPoP Proof iat is too old"
        );
        assert_eq!(
            ProofError::IatFromFuture.to_string(),
            "DPoP Proof iat is from the future"
        );
    }

    #[test]
    fn iat_window_follows_the_policy_and_survives_small_clocks() {
        let narrow = DpopConfig {
            iat_leeway: 0,
            iat_offset: 1,
            ..policy()
        };
        let at = |iat: u64, now: u64| {
            check_with(
                &ProofSpec::new(Key::Ec256).claim("iat", json!(iat)).build(),
                &narrow,
                now,
            )
        };
        assert!(at(NOW, NOW).is_ok());
        assert!(at(NOW - 1, NOW).is_ok());
        assert_eq!(at(NOW - 2, NOW).unwrap_err(), ProofError::IatTooOld);
        assert_eq!(at(NOW + 1, NOW).unwrap_err(), ProofError::IatFromFuture);
        assert!(at(0, 0).is_ok());
    }

    #[test]
    fn htm_is_the_method_case_insensitively() {
        assert!(check(ProofSpec::new(Key::Ec256).claim("htm", json!("get"))).is_ok());
        for htm in [json!("POST"), json!("GET "), json!(""), json!(1)] {
            expect_err(
                ProofSpec::new(Key::Ec256).claim("htm", htm),
                ProofError::HtmMismatch,
                "DPoP proof htm mismatch",
            );
        }
    }

    #[test]
    fn htu_matches_after_normalisation() {
        for htu in [
            "https://api.example.com/api/messages",
            "HTTPS://API.Example.COM/api/messages",
            "https://api.example.com:443/api/messages",
            "https://api.example.com/api/messages?page=2",
            "https://api.example.com/api/messages#top",
            "https://api.example.com/api/./messages",
            "https://api.example.com/api/x/../messages",
            "https://api.example.com/api/%6Dessages",
        ] {
            assert!(
                check(ProofSpec::new(Key::Ec256).claim("htu", json!(htu))).is_ok(),
                "{htu}"
            );
        }
    }

    #[test]
    fn htu_naming_another_resource_is_refused() {
        for htu in [
            json!("http://api.example.com/api/messages"),
            json!("https://api.example.com/api/messages/"),
            json!("https://api.example.com/API/messages"),
            json!("https://api.example.com/api/message"),
            json!("https://other.example.com/api/messages"),
            json!("https://api.example.com:8443/api/messages"),
            json!("https://api.example.com.evil.test/api/messages"),
            json!("https://user@api.example.com/api/messages"),
            json!("/api/messages"),
            json!("api.example.com/api/messages"),
            json!(""),
            json!(["https://api.example.com/api/messages"]),
        ] {
            expect_err(
                ProofSpec::new(Key::Ec256).claim("htu", htu),
                ProofError::HtuMismatch,
                "DPoP proof htu mismatch",
            );
        }
    }

    #[test]
    fn htu_cannot_match_a_request_without_url() {
        let proof = ProofSpec::new(Key::Ec256).build();
        let decoded = decode_proof(&proof).unwrap();
        let target = ProofTarget {
            method: METHOD,
            url: None,
        };
        assert_eq!(
            verify_proof(
                &decoded,
                &mut ProofKeys::new(8),
                &target,
                &access_token_hash(TOKEN),
                &policy(),
                NOW
            )
            .unwrap_err(),
            ProofError::HtuMismatch
        );
    }

    #[test]
    fn ath_is_the_exact_hash_of_the_presented_token() {
        let hash = access_token_hash(TOKEN);
        for ath in [
            json!(access_token_hash("another.token.value")),
            json!(format!("{hash}=")),
            json!(hash.to_ascii_uppercase()),
            json!(""),
            json!(null),
        ] {
            expect_err(
                ProofSpec::new(Key::Ec256).claim("ath", ath),
                ProofError::AthMismatch,
                "DPoP proof ath mismatch",
            );
        }
    }

    #[test]
    fn ath_of_known_token() {
        // RFC 9449 §7.1: the `ath` of this access token.
        assert_eq!(
            access_token_hash("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"),
            "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"
        );
    }

    #[test]
    fn non_string_nonce_is_refused() {
        expect_err(
            ProofSpec::new(Key::Ec256).claim("nonce", json!(7)),
            ProofError::InvalidNonce,
            "Invalid DPoP proof nonce",
        );
    }

    // ---- order of checks ----

    #[test]
    fn checks_run_in_contract_order() {
        // Each proof fails several checks; the first in the contract's order is reported.
        let all_wrong = || {
            ProofSpec::new(Key::Ec256)
                .claim("jti", json!(""))
                .claim("iat", json!(NOW - 1000))
                .claim("htm", json!("POST"))
                .claim("htu", json!("https://evil.test/"))
                .claim("ath", json!("x"))
                .claim("nonce", json!(1))
        };
        let cases = [
            (
                all_wrong()
                    .header("typ", json!("JWT"))
                    .header("alg", json!("none")),
                ProofError::InvalidTyp,
            ),
            (
                all_wrong()
                    .header("alg", json!("none"))
                    .without_header("jwk"),
                ProofError::UnsupportedAlgorithm,
            ),
            (
                all_wrong().without_header("jwk").signed_by(Key::Ec256Other),
                ProofError::MissingJwk,
            ),
            (
                all_wrong().signed_by(Key::Ec256Other).without_claim("iat"),
                ProofError::InvalidSignature(SignatureError::Invalid),
            ),
            (
                all_wrong().without_claim("htu"),
                ProofError::MissingClaims(vec!["htu"]),
            ),
            (all_wrong(), ProofError::InvalidJti),
            (all_wrong().claim("jti", json!("ok")), ProofError::IatTooOld),
            (
                all_wrong()
                    .claim("jti", json!("ok"))
                    .claim("iat", json!(NOW)),
                ProofError::HtmMismatch,
            ),
            (
                all_wrong()
                    .claim("jti", json!("ok"))
                    .claim("iat", json!(NOW))
                    .claim("htm", json!(METHOD)),
                ProofError::HtuMismatch,
            ),
            (
                all_wrong()
                    .claim("jti", json!("ok"))
                    .claim("iat", json!(NOW))
                    .claim("htm", json!(METHOD))
                    .claim("htu", json!(URL)),
                ProofError::AthMismatch,
            ),
            (
                all_wrong()
                    .claim("jti", json!("ok"))
                    .claim("iat", json!(NOW))
                    .claim("htm", json!(METHOD))
                    .claim("htu", json!(URL))
                    .claim("ath", json!(access_token_hash(TOKEN))),
                ProofError::InvalidNonce,
            ),
        ];
        for (spec, want) in cases {
            assert_eq!(check(spec).unwrap_err(), want);
        }
    }

    #[test]
    fn the_remaining_descriptions() {
        assert_eq!(
            ProofError::Replayed.to_string(),
            "DPoP proof has already been used"
        );
        assert_eq!(
            ProofError::Multiple.to_string(),
            "Multiple DPoP proofs are not allowed"
        );
        assert_eq!(
            ProofError::Replayed.description(),
            "DPoP proof has already been used"
        );
    }

    // ---- the access token's confirmation ----

    fn claims(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn confirmation_claim_shapes() {
        let cases = [
            (json!({}), Err(CnfError::NoConfirmation)),
            (json!({"cnf": null}), Err(CnfError::NoConfirmation)),
            (json!({"cnf": {}}), Err(CnfError::NoConfirmation)),
            (json!({"cnf": "abc"}), Err(CnfError::InvalidFormat)),
            (json!({"cnf": ["abc"]}), Err(CnfError::InvalidFormat)),
            (json!({"cnf": 1}), Err(CnfError::InvalidFormat)),
            (json!({"cnf": {"jkt": 1}}), Err(CnfError::InvalidFormat)),
            (
                json!({"cnf": {"jkt": {"a": "b"}}}),
                Err(CnfError::InvalidFormat),
            ),
            (
                json!({"cnf": {"x5t#S256": "abc"}}),
                Err(CnfError::MissingJkt),
            ),
            (json!({"cnf": {"jkt": ""}}), Err(CnfError::MissingJkt)),
            (json!({"cnf": {"jkt": "abc"}}), Ok("abc")),
            (json!({"cnf": {"jkt": "abc", "x5t#S256": "def"}}), Ok("abc")),
        ];
        for (value, want) in cases {
            assert_eq!(confirmation(&claims(value.clone())), want, "{value}");
        }
    }

    #[test]
    fn confirmation_texts() {
        assert_eq!(
            CnfError::NoConfirmation.to_string(),
            "JWT Access Token has no jkt confirmation claim"
        );
        assert_eq!(
            CnfError::InvalidFormat.to_string(),
            "JWT Access Token has invalid confirmation claim format"
        );
        assert_eq!(
            CnfError::MissingJkt.to_string(),
            "Access token 'cnf' claim missing 'jkt'"
        );
        assert_eq!(
            CnfError::Mismatch.to_string(),
            "JWT Access Token confirmation mismatch"
        );
    }

    #[test]
    fn binding_compares_jkt_with_the_proof_key_thumbprint() {
        let verified = check(ProofSpec::new(Key::Ec256)).unwrap();
        assert_eq!(check_binding(&thumbprint_of(Key::Ec256), &verified), Ok(()));
        assert_eq!(
            check_binding(&thumbprint_of(Key::Ec256Other), &verified),
            Err(CnfError::Mismatch)
        );
        assert_eq!(check_binding("", &verified), Err(CnfError::Mismatch));
    }

    #[test]
    fn rfc_7638_thumbprint_example() {
        // RFC 7638 §3.1: the example RSA key and its SHA-256 thumbprint.
        let n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
        let jwk = json!({"kty": "RSA", "n": n, "e": "AQAB", "alg": "RS256", "kid": "2011-04-29"});
        let key = jwk::parse_jwk(jwk.as_object().unwrap()).unwrap();
        assert_eq!(
            key.thumbprint(),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn bound_tokens() {
        assert!(is_bound(&claims(json!({"cnf": {"jkt": "abc"}}))));
        assert!(is_bound(&claims(json!({"cnf": {"jkt": 1}}))));
        assert!(!is_bound(&claims(json!({}))));
        assert!(!is_bound(&claims(json!({"cnf": {}}))));
        assert!(!is_bound(&claims(json!({"cnf": "jkt"}))));
        assert!(!is_bound(&claims(json!({"cnf": {"x5t#S256": "abc"}}))));
        assert!(!is_bound(&claims(json!({"jkt": "abc"}))));
    }

    // ---- the request URL ----

    #[test]
    fn request_url_from_pseudo_headers() {
        let cases = [
            (
                ("https", "api.example.com", "/api/messages"),
                Some("https://api.example.com/api/messages"),
            ),
            (
                ("HTTPS", "API.Example.com:443", "/api/messages?x=1"),
                Some("https://api.example.com/api/messages"),
            ),
            (
                ("http", "api.example.com:80", "/a/./b/../c"),
                Some("http://api.example.com/a/c"),
            ),
            (
                ("http", "api.example.com:8080", "/"),
                Some("http://api.example.com:8080/"),
            ),
            (("https", "[::1]:8443", "/x"), Some("https://[::1]:8443/x")),
            (
                ("https", "127.0.0.1", "/x#frag"),
                Some("https://127.0.0.1/x"),
            ),
            (("ftp", "api.example.com", "/x"), None),
            (("https", "", "/x"), None),
            (("https", "api.example.com", "x"), None),
            (("https", "api.example.com", "*"), None),
            (("https", "api.example.com", ""), None),
            (("https", "api.example.com", "/a b"), None),
            (("https", "user@api.example.com", "/x"), None),
            (("https", "evil.test/api", "/messages"), None),
            (("https", "evil.test?", "/messages"), None),
            (("https", "evil.test#", "/messages"), None),
            (("https", "a.test,b.test", "/messages"), None),
            (("https", "api.example.com:", "/x"), None),
            (("https", "api.example.com:99999", "/x"), None),
        ];
        for ((scheme, authority, path), want) in cases {
            assert_eq!(
                request_url(scheme, authority, path, None).as_deref(),
                want,
                "{scheme} {authority} {path}"
            );
        }
    }

    #[test]
    fn forwarded_headers_are_picked_from_all_headers() {
        let headers = [
            (":authority", "internal:8080"),
            ("X-Forwarded-Proto", "https"),
            ("x-forwarded-host", "api.example.com"),
            ("x-forwarded-prefix", "/v1"),
            ("x-forwarded-prefix", "/v2"),
            ("x-forwarded-prefix", "/v3"),
            ("x-forwarded-for", "10.0.0.1"),
        ];
        let found = ForwardedHeaders::from_headers(headers);
        assert_eq!(
            found,
            ForwardedHeaders {
                proto: vec!["https"],
                host: vec!["api.example.com"],
                prefix: vec!["/v1", "/v2"],
            }
        );
    }

    fn forwarded<'a>(
        proto: &[&'a str],
        host: &[&'a str],
        prefix: &[&'a str],
    ) -> ForwardedHeaders<'a> {
        ForwardedHeaders {
            proto: proto.to_vec(),
            host: host.to_vec(),
            prefix: prefix.to_vec(),
        }
    }

    fn behind_proxy(fwd: &ForwardedHeaders<'_>) -> Option<String> {
        request_url("http", "internal:8080", "/messages?x=1", Some(fwd))
    }

    #[test]
    fn valid_forwarded_headers_override_each_part() {
        let cases = [
            (forwarded(&[], &[], &[]), "http://internal:8080/messages"),
            (
                forwarded(&["https"], &[], &[]),
                "https://internal:8080/messages",
            ),
            (
                forwarded(&["HTTPS"], &[], &[]),
                "https://internal:8080/messages",
            ),
            (
                forwarded(&[" https\t"], &[], &[]),
                "https://internal:8080/messages",
            ),
            (
                forwarded(&[], &["API.example.com"], &[]),
                "http://api.example.com/messages",
            ),
            (
                forwarded(&[], &["api.example.com:8443"], &[]),
                "http://api.example.com:8443/messages",
            ),
            (
                forwarded(&[], &["[2001:db8::1]"], &[]),
                "http://[2001:db8::1]/messages",
            ),
            (
                forwarded(&[], &[], &["/api"]),
                "http://internal:8080/api/messages",
            ),
            (
                forwarded(&[], &[], &["/api/"]),
                "http://internal:8080/api/messages",
            ),
            (forwarded(&[], &[], &["/"]), "http://internal:8080/messages"),
            (
                forwarded(&[], &[], &["/a/./b"]),
                "http://internal:8080/a/b/messages",
            ),
            (
                forwarded(&[], &[], &["/caf%C3%A9"]),
                "http://internal:8080/caf%C3%A9/messages",
            ),
            (
                forwarded(&["https"], &["api.example.com:443"], &["/v1"]),
                "https://api.example.com/v1/messages",
            ),
        ];
        for (fwd, want) in cases {
            assert_eq!(behind_proxy(&fwd).as_deref(), Some(want), "{fwd:?}");
        }
    }

    #[test]
    fn invalid_forwarded_values_are_ignored_never_trusted() {
        let base = "http://internal:8080/messages";
        let cases = [
            // Proto: one http or https value only.
            forwarded(&["ftp"], &[], &[]),
            forwarded(&["https,http"], &[], &[]),
            forwarded(&["https, https"], &[], &[]),
            forwarded(&["https", "https"], &[], &[]),
            forwarded(&["https://"], &[], &[]),
            forwarded(&[""], &[], &[]),
            forwarded(&["javascript"], &[], &[]),
            // Host: one host[:port], nothing that could move the path boundary.
            forwarded(&[], &["evil.test,api.example.com"], &[]),
            forwarded(&[], &["api.example.com", "evil.test"], &[]),
            forwarded(&[], &["evil.test/api"], &[]),
            forwarded(&[], &["evil.test?x="], &[]),
            forwarded(&[], &["evil.test#"], &[]),
            forwarded(&[], &["user@evil.test"], &[]),
            forwarded(&[], &["evil.test:0"], &[]),
            forwarded(&[], &["evil.test:http"], &[]),
            forwarded(&[], &["evil .test"], &[]),
            forwarded(&[], &["evil\\test"], &[]),
            forwarded(&[], &["%65vil.test"], &[]),
            forwarded(&[], &["[::1"], &[]),
            forwarded(&[], &[""], &[]),
            forwarded(&[], &["ex\u{e4}mple.com"], &[]),
            // Prefix: one absolute path without `..`, comma, query or fragment.
            forwarded(&[], &[], &["api"]),
            forwarded(&[], &[], &["/api,/v2"]),
            forwarded(&[], &[], &["/api", "/v2"]),
            forwarded(&[], &[], &["/.."]),
            forwarded(&[], &[], &["/api/../admin"]),
            forwarded(&[], &[], &["/api/%2e%2e/admin"]),
            forwarded(&[], &[], &["/api/.%2E"]),
            forwarded(&[], &[], &["/api?x=/"]),
            forwarded(&[], &[], &["/api#"]),
            forwarded(&[], &[], &["/api\\x"]),
            forwarded(&[], &[], &["/a b"]),
            forwarded(&[], &[], &["/api%2"]),
            forwarded(&[], &[], &["//evil.test"]),
            forwarded(&[], &[], &[""]),
        ];
        for fwd in cases {
            let got = behind_proxy(&fwd);
            // "//evil.test" is a valid path prefix, not a host: it may apply, but only as a path.
            if fwd.prefix == ["//evil.test"] {
                assert_eq!(
                    got.as_deref(),
                    Some("http://internal:8080//evil.test/messages")
                );
                continue;
            }
            assert_eq!(got.as_deref(), Some(base), "{fwd:?}");
        }
        let long = format!("/{}", "a".repeat(MAX_PREFIX_LEN));
        assert_eq!(
            behind_proxy(&forwarded(&[], &[], &[&long])).as_deref(),
            Some(base)
        );
    }

    #[test]
    fn one_invalid_forwarded_header_does_not_discard_the_others() {
        let fwd = forwarded(&["gopher"], &["api.example.com"], &["/x/../y"]);
        assert_eq!(
            behind_proxy(&fwd).as_deref(),
            Some("http://api.example.com/messages")
        );
    }

    #[test]
    fn forwarded_headers_are_ignored_when_not_trusted() {
        // The caller passes `None` when `trust_forwarded_headers` is off.
        assert_eq!(
            request_url("http", "internal:8080", "/messages", None).as_deref(),
            Some("http://internal:8080/messages")
        );
    }

    #[test]
    fn proof_for_the_public_url_matches_a_request_behind_a_trusted_proxy() {
        let fwd = forwarded(&["https"], &["api.example.com"], &["/api"]);
        let url = request_url("http", "10.0.0.5:8080", "/messages", Some(&fwd)).unwrap();
        let proof = ProofSpec::new(Key::Ec256).build();
        let decoded = decode_proof(&proof).unwrap();
        let target = ProofTarget {
            method: METHOD,
            url: Some(&url),
        };
        assert!(verify_proof(
            &decoded,
            &mut ProofKeys::new(8),
            &target,
            &access_token_hash(TOKEN),
            &policy(),
            NOW
        )
        .is_ok());
    }
}
