//! What the upstream learns about the caller: claims copied into request headers.
//!
//! Every header this filter may set is removed from every incoming request first, public
//! routes included, so a client can never present an identity the filter did not verify.
//! A claim value that could split or smuggle a header (control characters) is not forwarded.

use crate::b64;
use crate::config_error::ConfigError;
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fmt;

/// Longest header name accepted in configuration.
pub const MAX_HEADER_NAME_LEN: usize = 128;

/// Longest value forwarded for one claim; larger values are skipped, not truncated.
pub const MAX_CLAIM_VALUE_LEN: usize = 8192;

/// Headers the filter, the proxy or the DPoP/forwarding logic depend on: a claim header may
/// not replace them, and stripping them from every request would break the request.
const RESERVED_HEADERS: [&str; 23] = [
    "authorization",
    "proxy-authorization",
    "dpop",
    "host",
    "content-length",
    "content-type",
    "content-encoding",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "upgrade",
    "expect",
    "cookie",
    "origin",
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-host",
    "x-forwarded-prefix",
    "access-control-request-method",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderNameError {
    Empty,
    TooLong,
    /// A character outside RFC 9110 `tchar`, or a leading `:` (pseudo-header).
    InvalidCharacter,
    Reserved,
}

impl fmt::Display for HeaderNameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HeaderNameError::Empty => f.write_str("header name is empty"),
            HeaderNameError::TooLong => write!(f, "header name is longer than {MAX_HEADER_NAME_LEN} characters"),
            HeaderNameError::InvalidCharacter => {
                f.write_str("header name may contain only letters, digits and !#$%&'*+-.^_`|~")
            }
            HeaderNameError::Reserved => f.write_str(
                "header name is reserved (hop-by-hop, pseudo, credential, framing or forwarding header, or x-envoy-*)",
            ),
        }
    }
}

/// RFC 9110 §5.6.2 `tchar`.
pub fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Validates a configured header name and returns it lower-cased (HTTP/2 and Envoy's form).
pub fn header_name(raw: &str) -> Result<String, HeaderNameError> {
    if raw.is_empty() {
        return Err(HeaderNameError::Empty);
    }
    if raw.len() > MAX_HEADER_NAME_LEN {
        return Err(HeaderNameError::TooLong);
    }
    if !raw.bytes().all(is_tchar) {
        return Err(HeaderNameError::InvalidCharacter);
    }
    let name = raw.to_ascii_lowercase();
    if RESERVED_HEADERS.contains(&name.as_str()) || name.starts_with("x-envoy-") {
        return Err(HeaderNameError::Reserved);
    }
    Ok(name)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimNameError {
    Empty,
    TooLong,
    /// A dotted path with an empty component, such as `cnf..jkt` or `.sub`.
    EmptyPathComponent,
}

impl fmt::Display for ClaimNameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ClaimNameError::Empty => "claim name is empty",
            ClaimNameError::TooLong => "claim name is too long",
            ClaimNameError::EmptyPathComponent => "claim path has an empty component",
        })
    }
}

const MAX_CLAIM_NAME_LEN: usize = 256;

/// One claim to forward.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimHeader {
    /// As configured: a top-level claim name, or a dotted path such as `cnf.jkt`.
    pub claim: String,
    /// Lower-cased header name.
    pub header: String,
}

impl ClaimHeader {
    /// `claim` names a top-level claim when one exists under the full name (so namespaced
    /// claims like `https://example.com/roles` work); otherwise it is read as a dotted path
    /// into nested objects.
    pub fn new(claim: &str, header: &str) -> Result<ClaimHeader, ClaimHeaderError> {
        check_claim_name(claim).map_err(ClaimHeaderError::Claim)?;
        let header = header_name(header).map_err(ClaimHeaderError::Header)?;
        Ok(ClaimHeader {
            claim: claim.to_owned(),
            header,
        })
    }

    fn lookup<'a>(&self, claims: &'a Map<String, Value>) -> Option<&'a Value> {
        lookup(claims, &self.claim)
    }
}

/// The claim named `claim` at the top level, else the dotted path into nested objects.
fn lookup<'a>(claims: &'a Map<String, Value>, claim: &str) -> Option<&'a Value> {
    if let Some(v) = claims.get(claim) {
        return Some(v);
    }
    let mut parts = claim.split('.');
    let mut current = claims.get(parts.next()?)?;
    for part in parts {
        current = current.as_object()?.get(part)?;
    }
    Some(current)
}

fn check_claim_name(claim: &str) -> Result<(), ClaimNameError> {
    if claim.is_empty() {
        return Err(ClaimNameError::Empty);
    }
    if claim.len() > MAX_CLAIM_NAME_LEN {
        return Err(ClaimNameError::TooLong);
    }
    if claim.split('.').any(str::is_empty) {
        return Err(ClaimNameError::EmptyPathComponent);
    }
    Ok(())
}

/// The filter state key of the request's outcome: `allowed`, `public`, `cors_preflight`, or
/// the refusal's statistic name (`invalid_token`, ...).
pub const RESULT_KEY: &str = "auth0.result";

/// Verified claims written to the host's filter state for the filters and access logs after
/// this one (Envoy keys them `wasm.auth0.<claim>`), with the outcome under [`RESULT_KEY`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FilterState {
    claims: Vec<String>,
}

impl FilterState {
    pub fn new(claims: Vec<String>) -> Result<FilterState, ClaimNameError> {
        for claim in &claims {
            check_claim_name(claim)?;
        }
        Ok(FilterState { claims })
    }

    /// `(key, value)` for each configured claim the token has, formatted as for headers.
    pub fn entries_for(&self, claims: &Map<String, Value>) -> Vec<(String, String)> {
        self.claims
            .iter()
            .filter_map(|claim| {
                let value = lookup(claims, claim).and_then(header_value)?;
                Some((format!("auth0.{claim}"), value))
            })
            .collect()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimHeaderError {
    Claim(ClaimNameError),
    Header(HeaderNameError),
}

impl fmt::Display for ClaimHeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClaimHeaderError::Claim(e) => e.fmt(f),
            ClaimHeaderError::Header(e) => e.fmt(f),
        }
    }
}

/// The parsed `forward` configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Forward {
    claim_headers: Vec<ClaimHeader>,
    claims_header: Option<String>,
    strip_authorization: bool,
    managed: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ForwardError {
    /// Two entries (or a claim header and `claims_header`) would write the same header.
    DuplicateHeader(String),
}

impl fmt::Display for ForwardError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ForwardError::DuplicateHeader(h) => {
                write!(f, "header {h:?} is configured more than once")
            }
        }
    }
}

impl Forward {
    /// `claims_header` must already be validated with [`header_name`].
    pub fn new(
        claim_headers: Vec<ClaimHeader>,
        claims_header: Option<String>,
        strip_authorization: bool,
    ) -> Result<Forward, ForwardError> {
        let mut managed: Vec<String> = Vec::with_capacity(claim_headers.len() + 1);
        let names = claim_headers
            .iter()
            .map(|c| &c.header)
            .chain(claims_header.as_ref());
        for name in names {
            if managed.contains(name) {
                return Err(ForwardError::DuplicateHeader(name.clone()));
            }
            managed.push(name.clone());
        }
        Ok(Forward {
            claim_headers,
            claims_header,
            strip_authorization,
            managed,
        })
    }

    /// Every header name this filter sets; remove them from every incoming request.
    pub fn managed_headers(&self) -> &[String] {
        &self.managed
    }

    /// Whether the filter changes request headers at all (adds identity headers, removes
    /// forged copies of them, or strips credentials): only then must the host apply such
    /// changes to what it proxies.
    pub fn rewrites_request(&self) -> bool {
        !self.managed.is_empty() || self.strip_authorization
    }

    /// Whether to remove `Authorization` (and `DPoP`) before forwarding an allowed request.
    pub fn strip_authorization(&self) -> bool {
        self.strip_authorization
    }

    pub fn claim_headers(&self) -> &[ClaimHeader] {
        &self.claim_headers
    }

    pub fn claims_header(&self) -> Option<&str> {
        self.claims_header.as_deref()
    }

    /// Headers to add for a request whose token was verified with these claims. Claims that
    /// are absent, of another type, too long or unsafe in a header are left out.
    pub fn headers_for(&self, claims: &Map<String, Value>) -> Vec<(String, String)> {
        let mut out = Vec::with_capacity(self.managed.len());
        for entry in &self.claim_headers {
            if let Some(value) = entry.lookup(claims).and_then(header_value) {
                out.push((entry.header.clone(), value));
            }
        }
        if let Some(name) = &self.claims_header {
            // Serialising a map of JSON values cannot fail; an empty header is never sent.
            if let Ok(json) = serde_json::to_vec(claims) {
                out.push((name.clone(), b64::encode(&json)));
            }
        }
        out
    }
}

fn header_value(v: &Value) -> Option<String> {
    let text = match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Array(items) => {
            let mut parts = Vec::with_capacity(items.len());
            for item in items {
                parts.push(item.as_str()?);
            }
            parts.join(" ")
        }
        Value::Null | Value::Object(_) => return None,
    };
    let safe = text.len() <= MAX_CLAIM_VALUE_LEN && !text.chars().any(char::is_control);
    safe.then_some(text)
}

// ---- the `forward` and `filter_state` settings ----

/// Most claim headers, and most claims written to the filter state.
const MAX_CLAIM_HEADERS: usize = 32;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawForward {
    claim_headers: Option<BTreeMap<String, String>>,
    claims_header: Option<String>,
    strip_authorization: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFilterState {
    claims: Option<Vec<String>>,
}

/// The `forward` setting; without it nothing is forwarded or stripped.
pub fn forward_from_config(raw: Option<RawForward>) -> Result<Forward, ConfigError> {
    let Some(raw) = raw else {
        return Ok(Forward::default());
    };
    let claim_headers = raw.claim_headers.unwrap_or_default();
    if claim_headers.len() > MAX_CLAIM_HEADERS {
        return Err(ConfigError::new(
            "forward.claim_headers",
            format!("must not have more than {MAX_CLAIM_HEADERS} entries"),
        ));
    }
    let mut entries = Vec::with_capacity(claim_headers.len());
    for (claim, header) in &claim_headers {
        let field = format!("forward.claim_headers.{claim}");
        entries.push(
            ClaimHeader::new(claim, header).map_err(|e| ConfigError::new(field, e.to_string()))?,
        );
    }
    let claims_header = match raw.claims_header {
        None => None,
        Some(h) => Some(
            header_name(&h)
                .map_err(|e| ConfigError::new("forward.claims_header", e.to_string()))?,
        ),
    };
    Forward::new(
        entries,
        claims_header,
        raw.strip_authorization.unwrap_or(false),
    )
    .map_err(|e| match &e {
        ForwardError::DuplicateHeader(_) => ConfigError::new("forward", e.to_string()),
    })
}

/// The `filter_state` setting.
pub fn filter_state_from_config(raw: RawFilterState) -> Result<FilterState, ConfigError> {
    let claims = raw.claims.unwrap_or_default();
    if claims.len() > MAX_CLAIM_HEADERS {
        return Err(ConfigError::new(
            "filter_state.claims",
            format!("must not list more than {MAX_CLAIM_HEADERS} claims"),
        ));
    }
    FilterState::new(claims).map_err(|e| ConfigError::new("filter_state.claims", e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    fn forward(pairs: &[(&str, &str)], claims_header: Option<&str>) -> Forward {
        let entries = pairs
            .iter()
            .map(|(c, h)| ClaimHeader::new(c, h))
            .collect::<Result<Vec<_>, _>>();
        match entries.map(|e| Forward::new(e, claims_header.map(str::to_owned), false)) {
            Ok(Ok(f)) => f,
            other => unreachable_forward(other),
        }
    }

    #[allow(clippy::panic)]
    fn unreachable_forward<T: fmt::Debug>(other: T) -> Forward {
        panic!("fixture did not build: {other:?}")
    }

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect()
    }

    #[test]
    fn claim_values() {
        let f = forward(&[("v", "x-v")], None);
        let long = "a".repeat(MAX_CLAIM_VALUE_LEN + 1);
        let fits = "a".repeat(MAX_CLAIM_VALUE_LEN);
        let cases: Vec<(Value, Option<&str>)> = vec![
            (json!("user_123"), Some("user_123")),
            (json!(""), Some("")),
            (json!("émile"), Some("émile")),
            (json!(42), Some("42")),
            (json!(-1), Some("-1")),
            (json!(1.5), Some("1.5")),
            (json!(true), Some("true")),
            (json!(false), Some("false")),
            (json!(["a", "b", "c"]), Some("a b c")),
            (json!([]), Some("")),
            (json!(["a", 1]), None),
            (json!(null), None),
            (json!({"a": "b"}), None),
            (json!("a\r\nx-admin: true"), None),
            (json!("a\nb"), None),
            (json!("a\u{0}b"), None),
            (json!("a\tb"), None),
            (json!("a\u{7f}b"), None),
            (json!(["ok", "bad\r\n"]), None),
            (json!(long), None),
            (json!(fits.clone()), Some(fits.as_str())),
        ];
        for (v, want) in cases {
            let got = f.headers_for(&claims(json!({ "v": v })));
            let want: Vec<(String, String)> =
                want.map(|w| pairs(&[("x-v", w)])).unwrap_or_default();
            assert_eq!(got, want, "{v}");
        }
    }

    #[test]
    fn absent_claims_are_skipped_and_order_follows_configuration() {
        let f = forward(
            &[
                ("sub", "X-Auth-Sub"),
                ("scope", "x-auth-scope"),
                ("email", "x-email"),
            ],
            None,
        );
        let got = f.headers_for(&claims(
            json!({"sub": "user_123", "scope": "read:messages write"}),
        ));
        assert_eq!(
            got,
            pairs(&[
                ("x-auth-sub", "user_123"),
                ("x-auth-scope", "read:messages write")
            ])
        );
    }

    #[test]
    fn dotted_paths_and_namespaced_claims() {
        let f = forward(
            &[
                ("cnf.jkt", "x-jkt"),
                ("https://example.com/roles", "x-roles"),
                ("a.b.c", "x-abc"),
                ("a.missing", "x-missing"),
                ("sub.x", "x-sub-x"),
            ],
            None,
        );
        let c = claims(json!({
            "sub": "user",
            "cnf": {"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"},
            "https://example.com/roles": ["admin", "dev"],
            "a": {"b": {"c": 7}},
        }));
        assert_eq!(
            f.headers_for(&c),
            pairs(&[
                ("x-jkt", "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"),
                ("x-roles", "admin dev"),
                ("x-abc", "7"),
            ])
        );
    }

    #[test]
    fn claims_header_is_unpadded_base64url_json() {
        let f = forward(&[("sub", "x-sub")], Some("x-claims"));
        let c = claims(json!({"sub": "u", "aud": "api"}));
        // serde_json's map keeps keys sorted: {"aud":"api","sub":"u"}
        assert_eq!(
            f.headers_for(&c),
            pairs(&[
                ("x-sub", "u"),
                ("x-claims", "eyJhdWQiOiJhcGkiLCJzdWIiOiJ1In0")
            ])
        );
    }

    #[test]
    fn managed_headers_are_every_configured_name() {
        let f = forward(&[("sub", "X-Sub"), ("scope", "x-scope")], Some("x-claims"));
        assert_eq!(f.managed_headers(), ["x-sub", "x-scope", "x-claims"]);
        assert_eq!(Forward::default().managed_headers(), [] as [String; 0]);
    }

    #[test]
    fn duplicate_header_names_refused() {
        let entries = vec![
            ClaimHeader::new("sub", "x-id"),
            ClaimHeader::new("email", "X-ID"),
        ];
        let entries: Result<Vec<_>, _> = entries.into_iter().collect();
        assert_eq!(
            entries.map(|e| Forward::new(e, None, false)),
            Ok(Err(ForwardError::DuplicateHeader("x-id".to_owned())))
        );
        let entries = vec![ClaimHeader::new("sub", "x-id")]
            .into_iter()
            .collect::<Result<Vec<_>, _>>();
        assert_eq!(
            entries.map(|e| Forward::new(e, Some("x-id".to_owned()), true)),
            Ok(Err(ForwardError::DuplicateHeader("x-id".to_owned())))
        );
    }

    #[test]
    fn header_names() {
        let cases = [
            ("x-auth-sub", Ok("x-auth-sub")),
            ("X-Auth-Sub", Ok("x-auth-sub")),
            ("x_user.id~1", Ok("x_user.id~1")),
            ("", Err(HeaderNameError::Empty)),
            ("x sub", Err(HeaderNameError::InvalidCharacter)),
            ("x-sub:", Err(HeaderNameError::InvalidCharacter)),
            (":authority", Err(HeaderNameError::InvalidCharacter)),
            (":path", Err(HeaderNameError::InvalidCharacter)),
            ("x-sub\r\n", Err(HeaderNameError::InvalidCharacter)),
            ("x-süb", Err(HeaderNameError::InvalidCharacter)),
            ("x(y)", Err(HeaderNameError::InvalidCharacter)),
            ("Authorization", Err(HeaderNameError::Reserved)),
            ("authorization", Err(HeaderNameError::Reserved)),
            ("DPoP", Err(HeaderNameError::Reserved)),
            ("host", Err(HeaderNameError::Reserved)),
            ("Content-Length", Err(HeaderNameError::Reserved)),
            ("transfer-encoding", Err(HeaderNameError::Reserved)),
            ("connection", Err(HeaderNameError::Reserved)),
            ("te", Err(HeaderNameError::Reserved)),
            ("upgrade", Err(HeaderNameError::Reserved)),
            ("cookie", Err(HeaderNameError::Reserved)),
            ("x-forwarded-proto", Err(HeaderNameError::Reserved)),
            ("x-envoy-original-path", Err(HeaderNameError::Reserved)),
        ];
        for (raw, want) in cases {
            assert_eq!(header_name(raw), want.map(str::to_owned), "{raw:?}");
        }
        assert_eq!(
            header_name(&"x".repeat(MAX_HEADER_NAME_LEN)),
            Ok("x".repeat(MAX_HEADER_NAME_LEN))
        );
        assert_eq!(
            header_name(&"x".repeat(MAX_HEADER_NAME_LEN + 1)),
            Err(HeaderNameError::TooLong)
        );
    }

    #[test]
    fn claim_names() {
        let cases = [
            ("sub", Ok(())),
            ("cnf.jkt", Ok(())),
            ("https://example.com/roles", Ok(())),
            ("", Err(ClaimHeaderError::Claim(ClaimNameError::Empty))),
            (
                "cnf..jkt",
                Err(ClaimHeaderError::Claim(ClaimNameError::EmptyPathComponent)),
            ),
            (
                ".sub",
                Err(ClaimHeaderError::Claim(ClaimNameError::EmptyPathComponent)),
            ),
            (
                "sub.",
                Err(ClaimHeaderError::Claim(ClaimNameError::EmptyPathComponent)),
            ),
        ];
        for (claim, want) in cases {
            assert_eq!(
                ClaimHeader::new(claim, "x-h").map(|_| ()),
                want,
                "{claim:?}"
            );
        }
        assert_eq!(
            ClaimHeader::new(&"c".repeat(257), "x-h"),
            Err(ClaimHeaderError::Claim(ClaimNameError::TooLong))
        );
        assert_eq!(
            ClaimHeader::new("sub", "authorization"),
            Err(ClaimHeaderError::Header(HeaderNameError::Reserved))
        );
    }
}
