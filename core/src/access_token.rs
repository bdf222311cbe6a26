//! The access-token check pipeline: each step in the order of the contract, each failure a
//! typed [`TokenError`]. Claims are trusted only after the signature verified; before that the
//! unverified `iss` is used for one thing only, choosing among the configured issuers' key sets.

use crate::algorithm::Algorithm;
use crate::config::Config;
use crate::dpop;
use crate::host_verify::{self, SignatureHost};
use crate::jwk::Jwk;
use crate::jwks_cache::{FetchReason, Lookup};
use crate::jws::{self, JwsError};
use crate::rules::Accepts;
use crate::scope;
use serde_json::{Map, Value};
use std::cell::OnceCell;
use std::fmt;

/// `typ` values an access token may carry (compared case-insensitively, RFC 9068 §2.1).
const ACCESS_TOKEN_TYPES: [&str; 3] = ["jwt", "at+jwt", "application/at+jwt"];

/// `crit` header parameters this filter understands. None: every listed extension is refused.
const UNDERSTOOD_CRIT: [&str; 0] = [];

/// Where the pipeline finds keys; the worker's key cache in production, fixtures in tests.
pub trait KeyStore {
    fn lookup(&self, source: usize, kid: &str, now: u64) -> Lookup<'_>;
}

impl KeyStore for crate::jwks_cache::KeyCache {
    fn lookup(&self, source: usize, kid: &str, now: u64) -> Lookup<'_> {
        crate::jwks_cache::KeyCache::lookup(self, source, kid, now)
    }
}

/// A token whose signature and claims passed every check.
#[derive(Debug, Clone)]
pub struct VerifiedToken {
    pub claims: Map<String, Value>,
    pub scopes: Vec<String>,
    pub expires_at: u64,
    pub source: usize,
    pub kid: String,
    /// The token's `ath`, once a DPoP proof needed it ([`VerifiedToken::ath`]).
    ath: OnceCell<String>,
}

impl VerifiedToken {
    pub fn new(
        claims: Map<String, Value>,
        scopes: Vec<String>,
        expires_at: u64,
        source: usize,
        kid: String,
    ) -> VerifiedToken {
        VerifiedToken {
            claims,
            scopes,
            expires_at,
            source,
            kid,
            ath: OnceCell::new(),
        }
    }

    /// base64url(SHA-256) of `text`, which must be this token's text: hashed on the first
    /// DPoP proof for the token and kept, as the verified-token cache keeps the token.
    pub fn ath(&self, text: &str) -> &str {
        self.ath.get_or_init(|| dpop::access_token_hash(text))
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum TokenError {
    Malformed(JwsError),
    AlgorithmNotAllowed,
    UnsupportedCritical,
    WrongType,
    MissingKid,
    UnknownIssuer,
    UnknownKid,
    KeyAlgorithmMismatch,
    BadSignature,
    InvalidAudience,
    MissingClaim(&'static str),
    InvalidClaim(&'static str),
    Expired,
    NotYetValid,
    IssuedInFuture,
    InvalidScopeClaim,
    /// Valid, but from an issuer this route does not accept.
    IssuerNotAcceptedHere,
    /// Valid, but for no audience this route accepts.
    AudienceNotAcceptedHere,
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenError::Malformed(e) => write!(f, "Malformed token: {e}"),
            TokenError::AlgorithmNotAllowed => f.write_str("Token algorithm is not allowed"),
            TokenError::UnsupportedCritical => {
                f.write_str("Token has an unsupported critical header parameter")
            }
            TokenError::WrongType => f.write_str("Token type is not an access token"),
            TokenError::MissingKid => f.write_str("Token header has no key ID"),
            TokenError::UnknownIssuer => f.write_str("Invalid issuer"),
            TokenError::UnknownKid => f.write_str("No key matches the token's key ID"),
            TokenError::KeyAlgorithmMismatch => f.write_str("Token algorithm does not fit its key"),
            TokenError::BadSignature => f.write_str("Invalid token signature"),
            TokenError::InvalidAudience => f.write_str("Invalid audience"),
            TokenError::MissingClaim(name) => write!(f, "Missing required claim: {name}"),
            TokenError::InvalidClaim(name) => write!(f, "Invalid claim: {name}"),
            TokenError::Expired => f.write_str("Token has expired"),
            TokenError::NotYetValid => f.write_str("Token is not yet valid"),
            TokenError::IssuedInFuture => f.write_str("Token was issued in the future"),
            TokenError::InvalidScopeClaim => f.write_str("Invalid scope claim"),
            TokenError::IssuerNotAcceptedHere => {
                f.write_str("Token issuer is not accepted on this route")
            }
            TokenError::AudienceNotAcceptedHere => {
                f.write_str("Token audience is not accepted on this route")
            }
        }
    }
}

/// Why a token could not be accepted right now.
#[derive(Debug, Clone, PartialEq)]
pub enum Rejected {
    Invalid(TokenError),
    /// Keys of `source` must be fetched before the token can be judged.
    NeedKeys {
        source: usize,
        reason: FetchReason,
    },
    /// No keys can be had for `source` until `retry_after` seconds have passed.
    Unavailable {
        retry_after: u64,
    },
}

impl From<TokenError> for Rejected {
    fn from(e: TokenError) -> Rejected {
        Rejected::Invalid(e)
    }
}

/// `host` checks RS256/384/512 signatures when the host offers that ([`host_verify`]); the own
/// verifiers check everything else, and anything the host did not answer.
pub fn verify(
    token: &str,
    config: &Config,
    keys: &dyn KeyStore,
    now: u64,
    host: Option<&mut dyn SignatureHost>,
) -> Result<VerifiedToken, Rejected> {
    let jws = jws::decode(token).map_err(TokenError::Malformed)?;
    let header = &jws.header;

    let alg = Algorithm::from_name(&header.alg)
        .filter(|a| config.token.algorithms.contains(a))
        .ok_or(TokenError::AlgorithmNotAllowed)?;
    if let Some(crit) = &header.crit {
        if !crit.iter().all(|c| UNDERSTOOD_CRIT.contains(&c.as_str())) {
            return Err(TokenError::UnsupportedCritical.into());
        }
    }
    if let Some(typ) = &header.typ {
        if !ACCESS_TOKEN_TYPES
            .iter()
            .any(|t| typ.eq_ignore_ascii_case(t))
        {
            return Err(TokenError::WrongType.into());
        }
    }
    let kid = header.kid.as_deref().ok_or(TokenError::MissingKid)?;

    let claims = &jws.claims;
    let iss = claims
        .get("iss")
        .and_then(Value::as_str)
        .ok_or(TokenError::UnknownIssuer)?;
    let source = config
        .source_of_issuer(iss)
        .ok_or(TokenError::UnknownIssuer)?;

    let jwk = match keys.lookup(source, kid, now) {
        Lookup::Found(jwk) => jwk,
        Lookup::UnknownKid { may_refetch: true } => {
            return Err(Rejected::NeedKeys {
                source,
                reason: FetchReason::UnknownKid,
            })
        }
        Lookup::UnknownKid { may_refetch: false } => return Err(TokenError::UnknownKid.into()),
        Lookup::NoKeys { wait: true, .. } => {
            return Err(Rejected::NeedKeys {
                source,
                reason: FetchReason::Refresh,
            })
        }
        Lookup::NoKeys {
            wait: false,
            retry_after,
        } => return Err(Rejected::Unavailable { retry_after }),
    };
    verify_signature(&jws, jwk, alg, host)?;

    check_audience(claims, &config.token.audiences)?;
    let expires_at = check_times(claims, config.token.clock_skew, now)?;
    let scopes = scope::granted(claims, &config.token.scope_claims)
        .map_err(|_| TokenError::InvalidScopeClaim)?;

    Ok(VerifiedToken::new(
        jws.claims.clone(),
        scopes,
        expires_at,
        source,
        kid.to_owned(),
    ))
}

fn verify_signature(
    jws: &jws::Jws<'_>,
    jwk: &Jwk,
    alg: Algorithm,
    host: Option<&mut dyn SignatureHost>,
) -> Result<(), TokenError> {
    if !jwk.fits(alg) {
        return Err(TokenError::KeyAlgorithmMismatch);
    }
    let host = host.filter(|_| jws.header.alg == alg.name());
    if let (Some(host), Some(hash), Some(spki)) = (host, host_verify::hash_name(alg), jwk.spki()) {
        let message = jws.signing_input().as_bytes();
        match host_verify::check(host, hash, spki, message, jws.signature()) {
            Some(true) => return Ok(()),
            Some(false) => return Err(TokenError::BadSignature),
            None => {}
        }
    }
    jws.verify(jwk.key(), alg)
        .map_err(|_| TokenError::BadSignature)
}

/// Whether a verified token's `iss` and `aud` are among those the route accepts.
pub fn route_accepts(claims: &Map<String, Value>, accepts: &Accepts) -> Result<(), TokenError> {
    let iss = claims
        .get("iss")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !accepts.issuer(iss) {
        return Err(TokenError::IssuerNotAcceptedHere);
    }
    if let Some(audiences) = &accepts.audiences {
        check_audience(claims, audiences).map_err(|_| TokenError::AudienceNotAcceptedHere)?;
    }
    Ok(())
}

fn check_audience(claims: &Map<String, Value>, audiences: &[String]) -> Result<(), TokenError> {
    let accepted = |aud: &str| audiences.iter().any(|a| a == aud);
    let ok = match claims.get("aud") {
        Some(Value::String(aud)) => accepted(aud),
        Some(Value::Array(list)) => {
            let mut any = false;
            for item in list {
                match item {
                    Value::String(aud) => any |= accepted(aud),
                    _ => return Err(TokenError::InvalidClaim("aud")),
                }
            }
            any
        }
        None => return Err(TokenError::MissingClaim("aud")),
        Some(_) => return Err(TokenError::InvalidClaim("aud")),
    };
    if ok {
        Ok(())
    } else {
        Err(TokenError::InvalidAudience)
    }
}

/// Checks `exp`, `nbf` and `iat`; returns `exp`.
fn check_times(claims: &Map<String, Value>, skew: u64, now: u64) -> Result<u64, TokenError> {
    let exp = numeric_date(claims, "exp")?.ok_or(TokenError::MissingClaim("exp"))?;
    if now >= exp.saturating_add(skew) {
        return Err(TokenError::Expired);
    }
    if let Some(nbf) = numeric_date(claims, "nbf")? {
        if nbf > now.saturating_add(skew) {
            return Err(TokenError::NotYetValid);
        }
    }
    let iat = numeric_date(claims, "iat")?.ok_or(TokenError::MissingClaim("iat"))?;
    if iat > now.saturating_add(skew) {
        return Err(TokenError::IssuedInFuture);
    }
    Ok(exp)
}

/// A NumericDate claim (RFC 7519 §2) as whole seconds; fractions are truncated.
pub fn numeric_date(
    claims: &Map<String, Value>,
    name: &'static str,
) -> Result<Option<u64>, TokenError> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => crate::json::numeric_date(n)
            .map(Some)
            .map_err(|_| TokenError::InvalidClaim(name)),
        Some(_) => Err(TokenError::InvalidClaim(name)),
    }
}
