//! The one place that turns a refusal into an HTTP response: status, `WWW-Authenticate`
//! (RFC 6750 §3, RFC 9449 §7.1), `Retry-After`, `DPoP-Nonce`, and the JSON body
//! `{"detail":{"error":"<code>","error_description":"<text>"}}` that auth0-fastapi-api returns.
//!
//! Challenge rules: the Bearer challenge comes first, then the DPoP one; the error attributes
//! go on the challenge of the scheme the request used; a scheme that is not offered (DPoP when
//! disabled, Bearer when DPoP is required) gets no challenge, and an error that belongs to a
//! scheme not offered is carried by the body alone.

use crate::algorithm::Algorithm;
use crate::config_error::ConfigError;
use serde::Serialize;
use std::borrow::Cow;
use std::fmt::Write as _;

/// Descriptions longer than this are cut; they are meant for a human reading a log line.
pub const MAX_DESCRIPTION_LEN: usize = 200;

const NO_CREDENTIALS: &str = "No Authorization provided";
const INSUFFICIENT_SCOPE: &str = "Insufficient scopes";
const UNAVAILABLE: &str =
    "The signing keys of the authorization server cannot be obtained; try again later";
const INTERNAL: &str = "An internal error occurred";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Bearer,
    DPoP,
}

/// Why a request is refused. Descriptions are for humans; the filter never puts a token,
/// a proof or a claim value in them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denial {
    /// No usable `Authorization` header: 401 with plain challenges.
    NoCredentials,
    /// 400. For several `Authorization` headers the scheme cannot be told; pass `Bearer`.
    InvalidRequest {
        scheme: Scheme,
        description: Cow<'static, str>,
    },
    /// 401.
    InvalidToken {
        scheme: Scheme,
        description: Cow<'static, str>,
    },
    /// 401, on the DPoP challenge.
    InvalidDpopProof { description: Cow<'static, str> },
    /// 401, on the DPoP challenge, with a fresh nonce in `DPoP-Nonce`.
    UseDpopNonce {
        description: Cow<'static, str>,
        nonce: String,
    },
    /// 403. `scopes`: every scope the route requires, separated by single spaces.
    InsufficientScope { scheme: Scheme, scopes: String },
    /// 503 without a challenge: keys cannot be obtained now.
    Unavailable { retry_after: u64 },
    /// 500 without a challenge.
    Internal,
}

/// The statistic of each kind of refusal, `denied.<name>`, in the order of
/// [`Denial::stat`].
pub const DENIAL_STATS: [&str; 8] = [
    "no_credentials",
    "invalid_request",
    "invalid_token",
    "invalid_dpop_proof",
    "use_dpop_nonce",
    "insufficient_scope",
    "keys_unavailable",
    "internal_error",
];

/// `Retry-After` of a refusal because the filter is busy right now (keys being fetched, a
/// contended replay slot) rather than because something failed: the next second may do.
pub const RETRY_SOON: u64 = 1;

/// The answer while keys cannot be had right now.
pub const KEYS_BUSY: Denial = Denial::Unavailable {
    retry_after: RETRY_SOON,
};

impl Denial {
    /// The index of this refusal's statistic in [`DENIAL_STATS`].
    pub fn stat(&self) -> usize {
        match self {
            Denial::NoCredentials => 0,
            Denial::InvalidRequest { .. } => 1,
            Denial::InvalidToken { .. } => 2,
            Denial::InvalidDpopProof { .. } => 3,
            Denial::UseDpopNonce { .. } => 4,
            Denial::InsufficientScope { .. } => 5,
            Denial::Unavailable { .. } => 6,
            Denial::Internal => 7,
        }
    }

    pub fn status(&self) -> u16 {
        match self {
            Denial::InvalidRequest { .. } => 400,
            Denial::NoCredentials
            | Denial::InvalidToken { .. }
            | Denial::InvalidDpopProof { .. }
            | Denial::UseDpopNonce { .. } => 401,
            Denial::InsufficientScope { .. } => 403,
            Denial::Internal => 500,
            Denial::Unavailable { .. } => 503,
        }
    }

    /// The `error` code of the body and the challenge; also a good label for statistics.
    pub fn code(&self) -> &'static str {
        match self {
            Denial::NoCredentials | Denial::InvalidRequest { .. } => "invalid_request",
            Denial::InvalidToken { .. } => "invalid_token",
            Denial::InvalidDpopProof { .. } => "invalid_dpop_proof",
            Denial::UseDpopNonce { .. } => "use_dpop_nonce",
            Denial::InsufficientScope { .. } => "insufficient_scope",
            Denial::Unavailable { .. } => "temporarily_unavailable",
            Denial::Internal => "internal_server_error",
        }
    }

    /// The description as it goes on the wire (sanitised, bounded).
    pub fn description(&self) -> String {
        let raw = match self {
            Denial::NoCredentials => NO_CREDENTIALS,
            Denial::InvalidRequest { description, .. }
            | Denial::InvalidToken { description, .. }
            | Denial::InvalidDpopProof { description }
            | Denial::UseDpopNonce { description, .. } => description,
            Denial::InsufficientScope { .. } => INSUFFICIENT_SCOPE,
            Denial::Unavailable { .. } => UNAVAILABLE,
            Denial::Internal => INTERNAL,
        };
        sanitize(raw)
    }

    /// The scheme whose challenge carries the error attributes; `None` when no challenge
    /// carries them.
    fn error_scheme(&self, cfg: &ChallengeConfig) -> Option<Scheme> {
        let wanted = match self {
            Denial::NoCredentials | Denial::Unavailable { .. } | Denial::Internal => return None,
            Denial::InvalidRequest { scheme, .. }
            | Denial::InvalidToken { scheme, .. }
            | Denial::InsufficientScope { scheme, .. } => *scheme,
            Denial::InvalidDpopProof { .. } | Denial::UseDpopNonce { .. } => Scheme::DPoP,
        };
        Some(wanted).filter(|s| cfg.offers(*s))
    }

    fn has_challenge(&self) -> bool {
        !matches!(self, Denial::Unavailable { .. } | Denial::Internal)
    }
}

/// What the challenges advertise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChallengeConfig {
    /// Must be free of `"`, `\` and control characters (configuration checks it).
    pub realm: String,
    pub dpop_enabled: bool,
    pub dpop_required: bool,
    pub dpop_algorithms: Vec<Algorithm>,
}

impl ChallengeConfig {
    pub fn offers(&self, scheme: Scheme) -> bool {
        match scheme {
            Scheme::Bearer => !(self.dpop_enabled && self.dpop_required),
            Scheme::DPoP => self.dpop_enabled,
        }
    }
}

/// A response to send instead of forwarding the request. Header names are lower-case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Serialize)]
struct Body<'a> {
    detail: Detail<'a>,
}

#[derive(Serialize)]
struct Detail<'a> {
    error: &'a str,
    error_description: &'a str,
}

pub fn render(denial: &Denial, cfg: &ChallengeConfig) -> Response {
    let code = denial.code();
    let description = denial.description();
    let body = serde_json::to_string(&Body {
        detail: Detail {
            error: code,
            error_description: &description,
        },
    })
    // Serialising two strings cannot fail; the fallback keeps the contract's shape anyway.
    .unwrap_or_else(|_| {
        format!("{{\"detail\":{{\"error\":\"{code}\",\"error_description\":\"\"}}}}")
    });

    let mut headers: Vec<(&'static str, String)> = vec![
        ("content-type", "application/json".to_owned()),
        ("cache-control", "no-store".to_owned()),
    ];
    if denial.has_challenge() {
        headers.push(("www-authenticate", challenge(denial, &description, cfg)));
    }
    match denial {
        Denial::Unavailable { retry_after } => {
            headers.push(("retry-after", (*retry_after).max(1).to_string()))
        }
        Denial::UseDpopNonce { nonce, .. } => headers.push((
            "dpop-nonce",
            nonce.chars().filter(|c| is_qdtext(*c)).collect(),
        )),
        _ => {}
    }
    Response {
        status: denial.status(),
        headers,
        body,
    }
}

fn challenge(denial: &Denial, description: &str, cfg: &ChallengeConfig) -> String {
    let target = denial.error_scheme(cfg);
    let attributes = |out: &mut String| {
        // Writing to a String cannot fail.
        let _ = write!(
            out,
            "error=\"{}\", error_description=\"{description}\"",
            denial.code()
        );
        if let Denial::InsufficientScope { scopes, .. } = denial {
            let scope: String = scopes.chars().filter(|c| is_qdtext(*c)).collect();
            let _ = write!(out, ", scope=\"{scope}\"");
        }
    };

    let mut out = String::with_capacity(128 + description.len());
    if cfg.offers(Scheme::Bearer) {
        let _ = write!(out, "Bearer realm=\"{}\"", cfg.realm);
        if target == Some(Scheme::Bearer) {
            out.push_str(", ");
            attributes(&mut out);
        }
    }
    if cfg.offers(Scheme::DPoP) {
        if !out.is_empty() {
            out.push_str(", ");
        }
        out.push_str("DPoP ");
        if target == Some(Scheme::DPoP) {
            attributes(&mut out);
            out.push_str(", ");
        }
        let algs: Vec<&str> = cfg.dpop_algorithms.iter().map(|a| a.name()).collect();
        let _ = write!(out, "algs=\"{}\"", algs.join(" "));
    }
    out
}

/// RFC 6750 §3: `error_description` and `scope` use %x20-21 / %x23-5B / %x5D-7E only.
fn is_qdtext(c: char) -> bool {
    matches!(c, ' '..='~') && c != '"' && c != '\\'
}

/// One printable ASCII line, safe inside a quoted-string and in the JSON body alike.
fn sanitize(text: &str) -> String {
    let mut out: String = text
        .chars()
        .map(|c| match c {
            '"' => '\'',
            '\\' => '/',
            c if is_qdtext(c) => c,
            _ => ' ',
        })
        .take(MAX_DESCRIPTION_LEN)
        .collect();
    let trimmed_len = out.trim_end().len();
    out.truncate(trimmed_len);
    out
}

/// The realm of every Bearer challenge unless configured.
pub const DEFAULT_REALM: &str = "api";
/// Longest realm accepted.
const MAX_REALM_LEN: usize = 128;

/// The `realm` setting: the Bearer challenge's realm, `api` by default.
pub fn realm_from_config(raw: Option<String>) -> Result<String, ConfigError> {
    let Some(realm) = raw else {
        return Ok(DEFAULT_REALM.to_owned());
    };
    if realm.is_empty() || realm.len() > MAX_REALM_LEN {
        return Err(ConfigError::new(
            "realm",
            format!("must be 1 to {MAX_REALM_LEN} characters"),
        ));
    }
    // It is written inside a quoted-string of every challenge.
    if !realm
        .bytes()
        .all(|b| (b' '..=b'~').contains(&b) && b != b'"' && b != b'\\')
    {
        return Err(ConfigError::new(
            "realm",
            "must be printable ASCII without '\"' or '\\'",
        ));
    }
    Ok(realm)
}

#[cfg(test)]
mod tests {
    #[test]
    fn each_kind_of_refusal_has_its_own_statistic() {
        let every = [
            Denial::NoCredentials,
            Denial::InvalidRequest {
                scheme: Scheme::Bearer,
                description: "x".into(),
            },
            Denial::InvalidToken {
                scheme: Scheme::Bearer,
                description: "x".into(),
            },
            Denial::InvalidDpopProof {
                description: "x".into(),
            },
            Denial::UseDpopNonce {
                description: "x".into(),
                nonce: "n".into(),
            },
            Denial::InsufficientScope {
                scheme: Scheme::Bearer,
                scopes: "s".into(),
            },
            Denial::Unavailable { retry_after: 1 },
            Denial::Internal,
        ];
        assert_eq!(every.len(), DENIAL_STATS.len());
        let mut seen: Vec<usize> = every.iter().map(Denial::stat).collect();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), every.len());
        assert!(seen.iter().all(|&i| i < DENIAL_STATS.len()));
    }

    use super::*;

    fn cfg(dpop_enabled: bool, dpop_required: bool, algs: &[Algorithm]) -> ChallengeConfig {
        ChallengeConfig {
            realm: "api".to_owned(),
            dpop_enabled,
            dpop_required,
            dpop_algorithms: algs.to_vec(),
        }
    }

    /// The defaults: DPoP enabled, not required, ES256.
    fn mixed() -> ChallengeConfig {
        cfg(true, false, &[Algorithm::ES256])
    }

    fn bearer_only() -> ChallengeConfig {
        cfg(false, false, &[Algorithm::ES256])
    }

    fn dpop_only() -> ChallengeConfig {
        cfg(true, true, &[Algorithm::ES256])
    }

    fn invalid_token(scheme: Scheme, d: &str) -> Denial {
        Denial::InvalidToken {
            scheme,
            description: d.to_owned().into(),
        }
    }

    fn invalid_request(scheme: Scheme, d: &str) -> Denial {
        Denial::InvalidRequest {
            scheme,
            description: d.to_owned().into(),
        }
    }

    fn www(denial: &Denial, cfg: &ChallengeConfig) -> Option<String> {
        render(denial, cfg)
            .header("www-authenticate")
            .map(str::to_owned)
    }

    #[test]
    fn challenges_of_the_contract() {
        use Scheme::{Bearer, DPoP};
        let scope = |s: &str| Denial::InsufficientScope {
            scheme: Bearer,
            scopes: s.to_owned(),
        };
        let cases: Vec<(&str, Denial, ChallengeConfig, Option<&str>)> = vec![
            (
                "no credentials, bearer only",
                Denial::NoCredentials,
                bearer_only(),
                Some(r#"Bearer realm="api""#),
            ),
            (
                "no credentials, dpop enabled",
                Denial::NoCredentials,
                mixed(),
                Some(r#"Bearer realm="api", DPoP algs="ES256""#),
            ),
            (
                "no credentials, dpop required",
                Denial::NoCredentials,
                dpop_only(),
                Some(r#"DPoP algs="ES256""#),
            ),
            (
                "invalid bearer token, bearer only",
                invalid_token(Bearer, "Token has expired"),
                bearer_only(),
                Some(
                    r#"Bearer realm="api", error="invalid_token", error_description="Token has expired""#,
                ),
            ),
            (
                "invalid bearer token, dpop enabled",
                invalid_token(Bearer, "Token has expired"),
                mixed(),
                Some(
                    r#"Bearer realm="api", error="invalid_token", error_description="Token has expired", DPoP algs="ES256""#,
                ),
            ),
            (
                "insufficient scope",
                scope("read:messages"),
                bearer_only(),
                Some(
                    r#"Bearer realm="api", error="insufficient_scope", error_description="Insufficient scopes", scope="read:messages""#,
                ),
            ),
            (
                "insufficient scope, several, dpop enabled",
                scope("read:data write:data"),
                mixed(),
                Some(
                    r#"Bearer realm="api", error="insufficient_scope", error_description="Insufficient scopes", scope="read:data write:data", DPoP algs="ES256""#,
                ),
            ),
            (
                "insufficient scope on a dpop request",
                Denial::InsufficientScope {
                    scheme: DPoP,
                    scopes: "read:messages".to_owned(),
                },
                mixed(),
                Some(
                    r#"Bearer realm="api", DPoP error="insufficient_scope", error_description="Insufficient scopes", scope="read:messages", algs="ES256""#,
                ),
            ),
            (
                "several credentials",
                invalid_request(Bearer, "Multiple credentials are not allowed"),
                mixed(),
                Some(
                    r#"Bearer realm="api", error="invalid_request", error_description="Multiple credentials are not allowed", DPoP algs="ES256""#,
                ),
            ),
            (
                "several credentials, dpop required: the error is in the body only",
                invalid_request(Bearer, "Multiple credentials are not allowed"),
                dpop_only(),
                Some(r#"DPoP algs="ES256""#),
            ),
            (
                "error on a dpop request",
                Denial::InvalidDpopProof {
                    description: "DPoP Proof iat is too old".into(),
                },
                mixed(),
                Some(
                    r#"Bearer realm="api", DPoP error="invalid_dpop_proof", error_description="DPoP Proof iat is too old", algs="ES256""#,
                ),
            ),
            (
                "error on a dpop request, dpop required",
                Denial::InvalidDpopProof {
                    description: "DPoP Proof iat is too old".into(),
                },
                dpop_only(),
                Some(
                    r#"DPoP error="invalid_dpop_proof", error_description="DPoP Proof iat is too old", algs="ES256""#,
                ),
            ),
            (
                "invalid token on a dpop request",
                invalid_token(DPoP, "JWT Access Token confirmation mismatch"),
                mixed(),
                Some(
                    r#"Bearer realm="api", DPoP error="invalid_token", error_description="JWT Access Token confirmation mismatch", algs="ES256""#,
                ),
            ),
            (
                "missing dpop header",
                invalid_request(DPoP, "DPoP proof is missing"),
                mixed(),
                Some(
                    r#"Bearer realm="api", DPoP error="invalid_request", error_description="DPoP proof is missing", algs="ES256""#,
                ),
            ),
            (
                "bearer with a dpop header",
                invalid_request(
                    Bearer,
                    "DPoP proof requires DPoP authentication scheme, not Bearer",
                ),
                mixed(),
                Some(
                    r#"Bearer realm="api", error="invalid_request", error_description="DPoP proof requires DPoP authentication scheme, not Bearer", DPoP algs="ES256""#,
                ),
            ),
            (
                "bearer token while dpop is required",
                invalid_request(Bearer, "DPoP authentication scheme is required"),
                dpop_only(),
                Some(r#"DPoP algs="ES256""#),
            ),
            (
                "dpop scheme while dpop is disabled",
                invalid_request(DPoP, "DPoP is not enabled"),
                bearer_only(),
                Some(r#"Bearer realm="api""#),
            ),
            (
                "nonce required",
                Denial::UseDpopNonce {
                    description: "Authorization server requires nonce in DPoP proof".into(),
                    nonce: "n1".to_owned(),
                },
                mixed(),
                Some(
                    r#"Bearer realm="api", DPoP error="use_dpop_nonce", error_description="Authorization server requires nonce in DPoP proof", algs="ES256""#,
                ),
            ),
            (
                "outage",
                Denial::Unavailable { retry_after: 5 },
                mixed(),
                None,
            ),
            ("internal", Denial::Internal, mixed(), None),
        ];
        for (name, denial, cfg, want) in cases {
            assert_eq!(www(&denial, &cfg).as_deref(), want, "{name}");
        }
    }

    #[test]
    fn algs_lists_the_configured_dpop_algorithms_in_order() {
        let c = cfg(
            true,
            false,
            &[Algorithm::ES256, Algorithm::ES384, Algorithm::EdDSA],
        );
        assert_eq!(
            www(&Denial::NoCredentials, &c).as_deref(),
            Some(r#"Bearer realm="api", DPoP algs="ES256 ES384 EdDSA""#)
        );
        let c = ChallengeConfig {
            realm: "payments".to_owned(),
            ..cfg(true, true, &[Algorithm::PS256, Algorithm::RS256])
        };
        assert_eq!(
            www(&Denial::NoCredentials, &c).as_deref(),
            Some(r#"DPoP algs="PS256 RS256""#)
        );
        let c = ChallengeConfig {
            realm: "payments".to_owned(),
            ..bearer_only()
        };
        assert_eq!(
            www(&Denial::NoCredentials, &c).as_deref(),
            Some(r#"Bearer realm="payments""#)
        );
    }

    #[test]
    fn statuses_codes_and_bodies() {
        let cases: Vec<(Denial, u16, &str)> = vec![
            (
                Denial::NoCredentials,
                401,
                r#"{"detail":{"error":"invalid_request","error_description":"No Authorization provided"}}"#,
            ),
            (
                invalid_request(Scheme::Bearer, "Multiple credentials"),
                400,
                r#"{"detail":{"error":"invalid_request","error_description":"Multiple credentials"}}"#,
            ),
            (
                invalid_token(Scheme::Bearer, "Invalid audience"),
                401,
                r#"{"detail":{"error":"invalid_token","error_description":"Invalid audience"}}"#,
            ),
            (
                Denial::InvalidDpopProof {
                    description: "DPoP proof has already been used".into(),
                },
                401,
                r#"{"detail":{"error":"invalid_dpop_proof","error_description":"DPoP proof has already been used"}}"#,
            ),
            (
                Denial::UseDpopNonce {
                    description: "Nonce required".into(),
                    nonce: "abc".to_owned(),
                },
                401,
                r#"{"detail":{"error":"use_dpop_nonce","error_description":"Nonce required"}}"#,
            ),
            (
                Denial::InsufficientScope {
                    scheme: Scheme::Bearer,
                    scopes: "a".to_owned(),
                },
                403,
                r#"{"detail":{"error":"insufficient_scope","error_description":"Insufficient scopes"}}"#,
            ),
            (
                Denial::Unavailable { retry_after: 5 },
                503,
                r#"{"detail":{"error":"temporarily_unavailable","error_description":"The signing keys of the authorization server cannot be obtained; try again later"}}"#,
            ),
            (
                Denial::Internal,
                500,
                r#"{"detail":{"error":"internal_server_error","error_description":"An internal error occurred"}}"#,
            ),
        ];
        for (denial, status, body) in cases {
            let r = render(&denial, &mixed());
            assert_eq!((r.status, r.body.as_str()), (status, body), "{denial:?}");
            assert_eq!(
                r.header("content-type"),
                Some("application/json"),
                "{denial:?}"
            );
            assert_eq!(r.header("cache-control"), Some("no-store"), "{denial:?}");
        }
    }

    #[test]
    fn outage_has_retry_after_and_no_challenge() {
        let r = render(&Denial::Unavailable { retry_after: 7 }, &mixed());
        assert_eq!(
            r.headers,
            vec![
                ("content-type", "application/json".to_owned()),
                ("cache-control", "no-store".to_owned()),
                ("retry-after", "7".to_owned()),
            ]
        );
        let r = render(&Denial::Unavailable { retry_after: 0 }, &mixed());
        assert_eq!(r.header("retry-after"), Some("1"));
    }

    #[test]
    fn nonce_header_only_on_use_dpop_nonce() {
        let r = render(
            &Denial::UseDpopNonce {
                description: "x".into(),
                nonce: "eyJ7S_zG.uR\r\n\"x".to_owned(),
            },
            &mixed(),
        );
        assert_eq!(r.header("dpop-nonce"), Some("eyJ7S_zG.uRx"));
        let r = render(&invalid_token(Scheme::DPoP, "x"), &mixed());
        assert_eq!(r.header("dpop-nonce"), None);
        assert_eq!(r.header("retry-after"), None);
    }

    #[test]
    fn descriptions_are_sanitised_in_header_and_body() {
        let hostile = "bad\r\nset-cookie: a=\"b\" \\ é\u{0}";
        let r = render(&invalid_token(Scheme::Bearer, hostile), &bearer_only());
        assert_eq!(
            r.header("www-authenticate"),
            Some(
                r#"Bearer realm="api", error="invalid_token", error_description="bad  set-cookie: a='b' /""#
            )
        );
        assert_eq!(
            r.body,
            r#"{"detail":{"error":"invalid_token","error_description":"bad  set-cookie: a='b' /"}}"#
        );
    }

    #[test]
    fn long_descriptions_are_cut() {
        let long = "x".repeat(MAX_DESCRIPTION_LEN + 50);
        let d = invalid_token(Scheme::Bearer, &long);
        assert_eq!(d.description(), "x".repeat(MAX_DESCRIPTION_LEN));
    }

    #[test]
    fn scope_attribute_drops_characters_a_scope_cannot_hold() {
        let d = Denial::InsufficientScope {
            scheme: Scheme::Bearer,
            scopes: "a\"b c\\d".to_owned(),
        };
        assert_eq!(
            www(&d, &bearer_only()).as_deref(),
            Some(
                r#"Bearer realm="api", error="insufficient_scope", error_description="Insufficient scopes", scope="ab cd""#
            )
        );
    }
}
