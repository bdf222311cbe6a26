//! Which routes need a token, and which scopes: the gateway's `require_auth`.
//!
//! Rules are compiled once from configuration. A request path is compared in one normal form:
//! query and fragment cut off, percent-escapes of unreserved characters decoded (so
//! `/api/%61dmin` meets the rule for `/api/admin`, as the upstream will), repeated slashes
//! merged, then dot segments removed. Slashes are merged first so that `..` always climbs over
//! a real segment: `/api/public//../private` is `/api/private` here, never `/api/public/private`.
//!
//! A public rule is the one place where matching too much lets a request through, so it only
//! applies to paths that every upstream reads the same way. A path is ambiguous, and never
//! matches `require: none`, when it holds an encoded slash or backslash (`%2F`, `%5C`), a
//! literal backslash, a double-encoded one of those or of a dot (`%252e`), a malformed
//! percent-escape, a dot segment carrying parameters (`..;x`, which Tomcat-style servers resolve
//! as `..`), both dot segments and repeated slashes (servers that do not merge slashes resolve
//! them differently), or does not start with exactly one `/`. Such a request falls through to later rules
//! and, at worst, to the secure default.

use crate::config_error::ConfigError;
use crate::url::{normalize_domain, normalize_percent_encoding, remove_dot_segments};
use serde::Deserialize;
use serde_json::Value;
use std::borrow::Cow;
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathMatch {
    Exact(String),
    /// Plain string prefix, as Envoy's route `prefix`: `/api` also matches `/apis`.
    Prefix(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Require {
    None,
    Token {
        scopes: Vec<String>,
        accepts: Accepts,
    },
}

/// Which of the configured issuers and audiences a route accepts tokens from and for;
/// `None`: all of them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Accepts {
    /// Issuer URLs (`https://<domain>/`), compared exactly with `iss`.
    pub issuers: Option<Vec<String>>,
    pub audiences: Option<Vec<String>>,
}

/// What a request that matches no rule accepts.
static ACCEPTS_ALL: Accepts = Accepts::ALL;

impl Accepts {
    pub const ALL: Accepts = Accepts {
        issuers: None,
        audiences: None,
    };

    pub fn issuer(&self, iss: &str) -> bool {
        self.issuers
            .as_ref()
            .is_none_or(|issuers| issuers.iter().any(|i| i == iss))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub path: PathMatch,
    /// Upper-case method names, compared case-sensitively; `None` matches every method.
    pub methods: Option<Vec<String>>,
    pub require: Require,
}

/// What a request needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requirement<'a> {
    Public,
    /// A valid token, from and for what the route accepts, that grants every scope listed.
    Token {
        scopes: &'a [String],
        accepts: &'a Accepts,
    },
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleSet {
    rules: Vec<Rule>,
}

impl RuleSet {
    pub fn new(rules: Vec<Rule>) -> RuleSet {
        RuleSet { rules }
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// First matching rule wins; no match means a valid token with no particular scope.
    pub fn requirement(&self, method: &str, raw_path: &str) -> Requirement<'_> {
        let path = normalize_path(raw_path);
        for rule in &self.rules {
            if !rule.matches(method, &path.path) {
                continue;
            }
            match &rule.require {
                Require::None if path.ambiguous => continue,
                Require::None => return Requirement::Public,
                Require::Token { scopes, accepts } => {
                    return Requirement::Token { scopes, accepts }
                }
            }
        }
        Requirement::Token {
            scopes: &[],
            accepts: &ACCEPTS_ALL,
        }
    }
}

impl Rule {
    fn matches(&self, method: &str, path: &str) -> bool {
        let path_ok = match &self.path {
            PathMatch::Exact(p) => path == p,
            PathMatch::Prefix(p) => path.starts_with(p.as_str()),
        };
        path_ok
            && self
                .methods
                .as_ref()
                .is_none_or(|methods| methods.iter().any(|m| m == method))
    }
}

/// A request path in the form rules are compared in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NormalizedPath<'a> {
    pub path: Cow<'a, str>,
    /// Upstreams may read this path differently from [`normalize_path`]; see the module doc.
    pub ambiguous: bool,
}

pub fn normalize_path(raw: &str) -> NormalizedPath<'_> {
    let end = raw.find(['?', '#']).unwrap_or(raw.len());
    let (path, _) = raw.split_at(end);

    // Most paths need no work at all; they are borrowed as they are.
    let clean = path.starts_with('/')
        && !path.contains(['%', '\\', ';'])
        && !path.contains("//")
        && !path.contains("/.")
        && path.bytes().all(|b| b.is_ascii_graphic());
    if clean {
        return NormalizedPath {
            path: Cow::Borrowed(path),
            ambiguous: false,
        };
    }

    // A leading "//" reads as a network-path reference to some URL parsers.
    let mut ambiguous = !path.starts_with('/')
        || path.starts_with("//")
        || path.contains('\\')
        || !path.bytes().all(|b| b.is_ascii_graphic())
        || has_suspicious_escape(path);

    let decoded = normalize_percent_encoding(path);
    let has_dot_segment = decoded.split('/').any(|s| s == "." || s == "..");
    ambiguous |= has_dot_segment && decoded.contains("//");
    ambiguous |= decoded.split('/').any(|segment| {
        let name = segment.split(';').next().unwrap_or(segment);
        segment.contains(';') && (name == "." || name == "..")
    });

    let merged = merge_slashes(&decoded);
    NormalizedPath {
        path: Cow::Owned(remove_dot_segments(&merged)),
        ambiguous,
    }
}

/// `%2F`, `%5C` (any case), double-encoded `%252F`/`%255C`/`%252E`, or a `%` that does not
/// start a valid escape.
fn has_suspicious_escape(path: &str) -> bool {
    let bytes = path.as_bytes();
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let (Some(hi), Some(lo)) = (bytes.get(i + 1), bytes.get(i + 2)) else {
                return true;
            };
            if !hi.is_ascii_hexdigit() || !lo.is_ascii_hexdigit() {
                return true;
            }
            let pair = [hi.to_ascii_uppercase(), lo.to_ascii_uppercase()];
            match &pair {
                b"2F" | b"5C" => return true,
                b"25" => {
                    let next = [
                        bytes.get(i + 3).map(u8::to_ascii_uppercase),
                        bytes.get(i + 4).map(u8::to_ascii_uppercase),
                    ];
                    if matches!(
                        next,
                        [Some(b'2'), Some(b'F' | b'E')] | [Some(b'5'), Some(b'C')]
                    ) {
                        return true;
                    }
                }
                _ => {}
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    false
}

fn merge_slashes(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut previous_slash = false;
    for c in path.chars() {
        if c == '/' && previous_slash {
            continue;
        }
        previous_slash = c == '/';
        out.push(c);
    }
    out
}

/// Why a configured rule path was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RulePathError {
    NotAbsolute,
    QueryOrFragment,
    InvalidCharacter,
    /// The path would be ambiguous as a request path, so it could never match a public rule.
    Ambiguous,
    /// Requests are normalised before matching, so a rule path must already be in normal form.
    NotNormalized {
        normal: String,
    },
}

impl fmt::Display for RulePathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RulePathError::NotAbsolute => f.write_str("must start with \"/\""),
            RulePathError::QueryOrFragment => f.write_str("must not contain \"?\" or \"#\" (matching ignores the query)"),
            RulePathError::InvalidCharacter => {
                f.write_str("must not contain whitespace, control characters or non-ASCII characters")
            }
            RulePathError::Ambiguous => f.write_str(
                "must not contain an encoded slash or backslash, a backslash, a malformed percent-escape or a dot segment with parameters",
            ),
            RulePathError::NotNormalized { normal } => write!(
                f,
                "is not in the normal form requests are compared in (dot segments resolved, repeated slashes merged, unreserved characters unescaped); write {normal:?}"
            ),
        }
    }
}

/// Checks a configured `path` or `prefix`.
pub fn check_rule_path(p: &str) -> Result<(), RulePathError> {
    if !p.starts_with('/') {
        return Err(RulePathError::NotAbsolute);
    }
    if p.contains(['?', '#']) {
        return Err(RulePathError::QueryOrFragment);
    }
    if !p.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(RulePathError::InvalidCharacter);
    }
    let normal = normalize_path(p);
    if normal.ambiguous {
        return Err(RulePathError::Ambiguous);
    }
    if normal.path != p {
        return Err(RulePathError::NotNormalized {
            normal: normal.path.into_owned(),
        });
    }
    Ok(())
}

// ---- the `rules` setting ----

/// Most rules in one configuration.
const MAX_RULES: usize = 512;
/// Most scopes one rule may require.
const MAX_SCOPES_PER_RULE: usize = 32;
/// Most methods one rule may match.
const MAX_METHODS_PER_RULE: usize = 16;
/// CORS preflight requests pass without a token unless configured otherwise.
pub const DEFAULT_BYPASS_CORS_PREFLIGHT: bool = true;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRule {
    #[serde(rename = "match")]
    matcher: RawMatch,
    require: Option<RawRequire>,
    scopes: Option<Value>,
    issuers: Option<Vec<String>>,
    audiences: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMatch {
    path: Option<String>,
    prefix: Option<String>,
    methods: Option<Vec<String>>,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum RawRequire {
    Token,
    None,
}

/// The `rules` setting. A rule's `issuers` name configured domains (`issuers` pairs each
/// normalised domain with its issuer URL) and its `audiences` configured audiences.
pub fn from_config(
    raw: Vec<RawRule>,
    issuers: &[(String, String)],
    audiences: &[String],
) -> Result<RuleSet, ConfigError> {
    if raw.len() > MAX_RULES {
        return Err(ConfigError::new(
            "rules",
            format!("must not have more than {MAX_RULES} rules"),
        ));
    }
    let mut rules = Vec::with_capacity(raw.len());
    for (i, r) in raw.into_iter().enumerate() {
        rules.push(rule(i, r, issuers, audiences)?);
    }
    Ok(RuleSet::new(rules))
}

fn rule(
    i: usize,
    raw: RawRule,
    issuers: &[(String, String)],
    audiences: &[String],
) -> Result<Rule, ConfigError> {
    let at = |name: &str| format!("rules[{i}].{name}");
    let path = match (raw.matcher.path, raw.matcher.prefix) {
        (Some(p), None) => {
            check_rule_path(&p).map_err(|e| ConfigError::new(at("match.path"), e.to_string()))?;
            PathMatch::Exact(p)
        }
        (None, Some(p)) => {
            check_rule_path(&p).map_err(|e| ConfigError::new(at("match.prefix"), e.to_string()))?;
            PathMatch::Prefix(p)
        }
        _ => {
            return Err(ConfigError::new(
                at("match"),
                "needs exactly one of \"path\" and \"prefix\"",
            ))
        }
    };

    let methods = match raw.matcher.methods {
        None => None,
        Some(list) => {
            if list.is_empty() {
                return Err(ConfigError::new(
                    at("match.methods"),
                    "must not be empty (leave it out to match every method)",
                ));
            }
            if list.len() > MAX_METHODS_PER_RULE {
                return Err(ConfigError::new(
                    at("match.methods"),
                    format!("must not list more than {MAX_METHODS_PER_RULE} methods"),
                ));
            }
            let mut out: Vec<String> = Vec::with_capacity(list.len());
            for (j, m) in list.iter().enumerate() {
                let field = at(&format!("match.methods[{j}]"));
                if m.is_empty() || m.len() > 32 || !m.bytes().all(crate::forward::is_tchar) {
                    return Err(ConfigError::new(
                        field,
                        "must be an HTTP method name such as \"GET\"",
                    ));
                }
                // Methods are case-sensitive on the wire; configuration accepts `get` for `GET`.
                let upper = m.to_ascii_uppercase();
                if out.contains(&upper) {
                    return Err(ConfigError::new(field, format!("repeats {upper:?}")));
                }
                out.push(upper);
            }
            Some(out)
        }
    };

    let scopes = match raw.scopes {
        None => Vec::new(),
        Some(v) => scope_list(&at("scopes"), v)?,
    };
    let accepts = Accepts {
        issuers: raw
            .issuers
            .map(|list| route_issuers(&at("issuers"), list, issuers))
            .transpose()?,
        audiences: raw
            .audiences
            .map(|list| route_audiences(&at("audiences"), list, audiences))
            .transpose()?,
    };
    let require = match raw.require.unwrap_or(RawRequire::Token) {
        RawRequire::None => {
            let limited = [
                ("scopes", !scopes.is_empty()),
                ("issuers", accepts.issuers.is_some()),
                ("audiences", accepts.audiences.is_some()),
            ];
            if let Some((name, _)) = limited.iter().find(|(_, set)| *set) {
                return Err(ConfigError::new(
                    at(name),
                    "cannot be combined with \"require\": \"none\"",
                ));
            }
            Require::None
        }
        RawRequire::Token => Require::Token { scopes, accepts },
    };
    Ok(Rule {
        path,
        methods,
        require,
    })
}

/// A rule's `issuers`: some of the configured domains, as their issuer URLs.
fn route_issuers(
    field: &str,
    list: Vec<String>,
    issuers: &[(String, String)],
) -> Result<Vec<String>, ConfigError> {
    if list.is_empty() {
        return Err(ConfigError::new(
            field,
            "must not be empty (leave it out to accept every configured issuer)",
        ));
    }
    let mut out = Vec::with_capacity(list.len());
    for (j, raw) in list.iter().enumerate() {
        let domain = normalize_domain(raw)
            .map_err(|e| ConfigError::new(format!("{field}[{j}]"), e))?
            .authority();
        let Some((_, issuer)) = issuers.iter().find(|(d, _)| *d == domain) else {
            return Err(ConfigError::new(
                format!("{field}[{j}]"),
                format!("{raw:?} is not one of the configured domains"),
            ));
        };
        // No repeats: the list is then no longer than the configured domains.
        if out.contains(issuer) {
            return Err(ConfigError::new(
                format!("{field}[{j}]"),
                format!("repeats {raw:?}"),
            ));
        }
        out.push(issuer.clone());
    }
    Ok(out)
}

/// A rule's `audiences`: some of the configured audiences.
fn route_audiences(
    field: &str,
    list: Vec<String>,
    audiences: &[String],
) -> Result<Vec<String>, ConfigError> {
    if list.is_empty() {
        return Err(ConfigError::new(
            field,
            "must not be empty (leave it out to accept every configured audience)",
        ));
    }
    for (j, audience) in list.iter().enumerate() {
        if !audiences.contains(audience) {
            return Err(ConfigError::new(
                format!("{field}[{j}]"),
                format!("{audience:?} is not one of the configured audiences"),
            ));
        }
        if list
            .get(..j)
            .is_some_and(|earlier| earlier.contains(audience))
        {
            return Err(ConfigError::new(
                format!("{field}[{j}]"),
                format!("repeats {audience:?}"),
            ));
        }
    }
    Ok(list)
}

/// `"a b"` or `["a", "b"]`; each a scope-token (RFC 6749 §3.3).
fn scope_list(field: &str, value: Value) -> Result<Vec<String>, ConfigError> {
    let items: Vec<(String, String)> = match value {
        Value::String(s) => {
            let items: Vec<(String, String)> = s
                .split(' ')
                .filter(|x| !x.is_empty())
                .map(|x| (field.to_owned(), x.to_owned()))
                .collect();
            if items.is_empty() {
                return Err(ConfigError::new(
                    field,
                    "must not be empty (leave it out to require no scope)",
                ));
            }
            items
        }
        Value::Array(list) => {
            if list.is_empty() {
                return Err(ConfigError::new(
                    field,
                    "must not be empty (leave it out to require no scope)",
                ));
            }
            let mut items = Vec::with_capacity(list.len());
            for (j, v) in list.into_iter().enumerate() {
                let Value::String(s) = v else {
                    return Err(ConfigError::new(
                        format!("{field}[{j}]"),
                        "must be a string",
                    ));
                };
                items.push((format!("{field}[{j}]"), s));
            }
            items
        }
        _ => {
            return Err(ConfigError::new(
                field,
                "must be a string of space-separated scopes or a list of strings",
            ))
        }
    };
    if items.len() > MAX_SCOPES_PER_RULE {
        return Err(ConfigError::new(
            field,
            format!("must not list more than {MAX_SCOPES_PER_RULE} scopes"),
        ));
    }
    let mut out: Vec<String> = Vec::with_capacity(items.len());
    for (at, scope) in items {
        let nqchar = |b: u8| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b);
        if scope.is_empty() || scope.len() > 256 || !scope.bytes().all(nqchar) {
            return Err(ConfigError::new(
                at,
                format!("{scope:?} is not a scope: printable ASCII without spaces, '\"' or '\\'"),
            ));
        }
        if out.contains(&scope) {
            return Err(ConfigError::new(at, format!("repeats {scope:?}")));
        }
        out.push(scope);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| (*x).to_owned()).collect()
    }

    fn rule(path: PathMatch, methods: Option<&[&str]>, require: Require) -> Rule {
        Rule {
            path,
            methods: methods.map(s),
            require,
        }
    }

    fn exact(p: &str) -> PathMatch {
        PathMatch::Exact(p.to_owned())
    }

    fn prefix(p: &str) -> PathMatch {
        PathMatch::Prefix(p.to_owned())
    }

    fn token(scopes: &[&str]) -> Require {
        Require::Token {
            scopes: s(scopes),
            accepts: Accepts::ALL,
        }
    }

    /// The rules of the demo configuration, plus a public prefix and an admin area.
    fn demo() -> RuleSet {
        RuleSet::new(vec![
            rule(exact("/api/public"), None, Require::None),
            rule(exact("/api/private"), None, token(&[])),
            rule(
                exact("/api/messages"),
                Some(&["GET"]),
                token(&["read:messages"]),
            ),
            rule(
                exact("/api/data"),
                Some(&["POST"]),
                token(&["read:data", "write:data"]),
            ),
            rule(prefix("/static/"), None, Require::None),
            rule(prefix("/admin/"), None, token(&["admin"])),
        ])
    }

    #[test]
    fn demo_rules() {
        let rules = demo();
        let messages = s(&["read:messages"]);
        let data = s(&["read:data", "write:data"]);
        let admin = s(&["admin"]);
        let cases: Vec<(&str, &str, Requirement<'_>)> = vec![
            ("GET", "/api/public", Requirement::Public),
            ("POST", "/api/public", Requirement::Public),
            ("GET", "/api/public?x=1", Requirement::Public),
            ("GET", "/api/public#frag", Requirement::Public),
            (
                "GET",
                "/api/public/",
                Requirement::Token {
                    scopes: &[],
                    accepts: &Accepts::ALL,
                },
            ),
            (
                "GET",
                "/api/publicity",
                Requirement::Token {
                    scopes: &[],
                    accepts: &Accepts::ALL,
                },
            ),
            (
                "GET",
                "/api/private",
                Requirement::Token {
                    scopes: &[],
                    accepts: &Accepts::ALL,
                },
            ),
            (
                "GET",
                "/api/messages",
                Requirement::Token {
                    scopes: &messages,
                    accepts: &Accepts::ALL,
                },
            ),
            (
                "GET",
                "/api/messages?limit=5",
                Requirement::Token {
                    scopes: &messages,
                    accepts: &Accepts::ALL,
                },
            ),
            (
                "POST",
                "/api/messages",
                Requirement::Token {
                    scopes: &[],
                    accepts: &Accepts::ALL,
                },
            ),
            (
                "get",
                "/api/messages",
                Requirement::Token {
                    scopes: &[],
                    accepts: &Accepts::ALL,
                },
            ),
            (
                "POST",
                "/api/data",
                Requirement::Token {
                    scopes: &data,
                    accepts: &Accepts::ALL,
                },
            ),
            (
                "GET",
                "/api/data",
                Requirement::Token {
                    scopes: &[],
                    accepts: &Accepts::ALL,
                },
            ),
            ("GET", "/static/app.js", Requirement::Public),
            ("GET", "/static/", Requirement::Public),
            (
                "GET",
                "/static",
                Requirement::Token {
                    scopes: &[],
                    accepts: &Accepts::ALL,
                },
            ),
            (
                "GET",
                "/admin/users",
                Requirement::Token {
                    scopes: &admin,
                    accepts: &Accepts::ALL,
                },
            ),
            (
                "GET",
                "/unknown",
                Requirement::Token {
                    scopes: &[],
                    accepts: &Accepts::ALL,
                },
            ),
            (
                "GET",
                "/",
                Requirement::Token {
                    scopes: &[],
                    accepts: &Accepts::ALL,
                },
            ),
            (
                "GET",
                "",
                Requirement::Token {
                    scopes: &[],
                    accepts: &Accepts::ALL,
                },
            ),
            (
                "OPTIONS",
                "*",
                Requirement::Token {
                    scopes: &[],
                    accepts: &Accepts::ALL,
                },
            ),
        ];
        for (method, path, want) in cases {
            assert_eq!(rules.requirement(method, path), want, "{method} {path}");
        }
    }

    #[test]
    fn first_match_wins() {
        let rules = RuleSet::new(vec![
            rule(prefix("/api/"), Some(&["GET"]), token(&["read"])),
            rule(prefix("/api/"), None, token(&["write"])),
            rule(prefix("/api/"), None, Require::None),
        ]);
        let read = s(&["read"]);
        let write = s(&["write"]);
        assert_eq!(
            rules.requirement("GET", "/api/x"),
            Requirement::Token {
                scopes: &read,
                accepts: &Accepts::ALL
            }
        );
        assert_eq!(
            rules.requirement("DELETE", "/api/x"),
            Requirement::Token {
                scopes: &write,
                accepts: &Accepts::ALL
            }
        );
    }

    #[test]
    fn no_rules_means_token_everywhere() {
        let rules = RuleSet::default();
        assert_eq!(
            rules.requirement("GET", "/anything"),
            Requirement::Token {
                scopes: &[],
                accepts: &Accepts::ALL
            }
        );
    }

    /// Requests an attacker would craft to reach a protected resource through a public rule,
    /// or to slip past a scoped rule into the weaker default.
    #[test]
    fn path_confusion_attempts() {
        let rules = demo();
        let admin = s(&["admin"]);
        let none: &[String] = &[];
        let cases: Vec<(&str, Requirement<'_>)> = vec![
            // dot segments, literal and encoded, climbing out of a public area
            (
                "/static/../api/private",
                Requirement::Token {
                    scopes: none,
                    accepts: &Accepts::ALL,
                },
            ),
            (
                "/static/%2e%2e/admin/users",
                Requirement::Token {
                    scopes: &admin,
                    accepts: &Accepts::ALL,
                },
            ),
            (
                "/static/%2E%2E/admin/users",
                Requirement::Token {
                    scopes: &admin,
                    accepts: &Accepts::ALL,
                },
            ),
            (
                "/static/.%2e/admin/users",
                Requirement::Token {
                    scopes: &admin,
                    accepts: &Accepts::ALL,
                },
            ),
            (
                "/static/./../admin/x",
                Requirement::Token {
                    scopes: &admin,
                    accepts: &Accepts::ALL,
                },
            ),
            (
                "/api/public/%2e%2e/private",
                Requirement::Token {
                    scopes: none,
                    accepts: &Accepts::ALL,
                },
            ),
            (
                "/api/public/..",
                Requirement::Token {
                    scopes: none,
                    accepts: &Accepts::ALL,
                },
            ),
            // repeated slashes are merged before dot segments are resolved
            (
                "/static//../admin/x",
                Requirement::Token {
                    scopes: &admin,
                    accepts: &Accepts::ALL,
                },
            ),
            (
                "//static/x",
                Requirement::Token {
                    scopes: none,
                    accepts: &Accepts::ALL,
                },
            ),
            ("/static//x", Requirement::Public),
            ("/api//public", Requirement::Public),
            // servers that keep empty segments would resolve this one elsewhere
            (
                "/admin/x//../../static/y",
                Requirement::Token {
                    scopes: none,
                    accepts: &Accepts::ALL,
                },
            ),
            // encoded slash and backslash never reach a public rule
            (
                "/static/..%2fadmin/users",
                Requirement::Token {
                    scopes: none,
                    accepts: &Accepts::ALL,
                },
            ),
            (
                "/static/..%2Fadmin/users",
                Requirement::Token {
                    scopes: none,
                    accepts: &Accepts::ALL,
                },
            ),
            (
                "/static/..%5cadmin/users",
                Requirement::Token {
                    scopes: none,
                    accepts: &Accepts::ALL,
                },
            ),
            (
                "/static/..%5Cadmin/users",
                Requirement::Token {
                    scopes: none,
                    accepts: &Accepts::ALL,
                },
            ),
            (
                "/static/..\\admin\\users",
                Requirement::Token {
                    scopes: none,
                    accepts: &Accepts::ALL,
                },
            ),
            (
                "/static/x%2Fy",
                Requirement::Token {
                    scopes: none,
                    accepts: &Accepts::ALL,
                },
            ),
            (
                "/api%2Fpublic",
                Requirement::Token {
                    scopes: none,
                    accepts: &Accepts::ALL,
                },
            ),
            // double encoding for upstreams that decode twice
            (
                "/static/%252e%252e/admin/users",
                Requirement::Token {
                    scopes: none,
                    accepts: &Accepts::ALL,
                },
            ),
            (
                "/static/..%252fadmin",
                Requirement::Token {
                    scopes: none,
                    accepts: &Accepts::ALL,
                },
            ),
            (
                "/static/..%255cadmin",
                Requirement::Token {
                    scopes: none,
                    accepts: &Accepts::ALL,
                },
            ),
            // Tomcat-style path parameters on a dot segment
            (
                "/static/..;/admin/users",
                Requirement::Token {
                    scopes: none,
                    accepts: &Accepts::ALL,
                },
            ),
            (
                "/static/..;jsessionid=1/admin/users",
                Requirement::Token {
                    scopes: none,
                    accepts: &Accepts::ALL,
                },
            ),
            (
                "/static/.;/x",
                Requirement::Token {
                    scopes: none,
                    accepts: &Accepts::ALL,
                },
            ),
            // malformed escapes
            (
                "/static/%",
                Requirement::Token {
                    scopes: none,
                    accepts: &Accepts::ALL,
                },
            ),
            (
                "/static/%zz",
                Requirement::Token {
                    scopes: none,
                    accepts: &Accepts::ALL,
                },
            ),
            // encoded unreserved characters mean the same resource
            (
                "/%61dmin/users",
                Requirement::Token {
                    scopes: &admin,
                    accepts: &Accepts::ALL,
                },
            ),
            (
                "/admin%2Fusers",
                Requirement::Token {
                    scopes: none,
                    accepts: &Accepts::ALL,
                },
            ),
            ("/api/%70ublic", Requirement::Public),
            ("/st%61tic/x", Requirement::Public),
            // harmless parameters and dots that are not dot segments
            ("/static/a;b", Requirement::Public),
            ("/static/...", Requirement::Public),
            ("/static/.hidden", Requirement::Public),
            ("/static/x/..", Requirement::Public),
            // whitespace or control characters
            (
                "/static/a b",
                Requirement::Token {
                    scopes: none,
                    accepts: &Accepts::ALL,
                },
            ),
            (
                "/static/a\tb",
                Requirement::Token {
                    scopes: none,
                    accepts: &Accepts::ALL,
                },
            ),
        ];
        for (path, want) in cases {
            assert_eq!(rules.requirement("GET", path), want, "{path}");
        }
    }

    #[test]
    fn ambiguous_path_falls_through_to_later_token_rule() {
        let rules = RuleSet::new(vec![
            rule(prefix("/files/"), None, Require::None),
            rule(prefix("/files/"), None, token(&["files"])),
        ]);
        let files = s(&["files"]);
        assert_eq!(
            rules.requirement("GET", "/files/a%2Fb"),
            Requirement::Token {
                scopes: &files,
                accepts: &Accepts::ALL
            }
        );
        assert_eq!(rules.requirement("GET", "/files/a"), Requirement::Public);
    }

    #[test]
    fn normal_forms() {
        let cases = [
            ("/a/b", "/a/b", false),
            ("/a/b?x=/../y", "/a/b", false),
            ("/a/./b/../c", "/a/c", false),
            ("/a//b///c", "/a/b/c", false),
            ("/a/%2e%2E/b", "/b", false),
            ("/a/%7Ex", "/a/~x", false),
            ("/a/%3a", "/a/%3A", false),
            ("/a/%2f/b", "/a/%2F/b", true),
            ("/a//../b", "/b", true),
            ("/a/..;/b", "/a/..;/b", true),
            ("a/b", "a/b", true),
            ("/a\\b", "/a\\b", true),
        ];
        for (raw, path, ambiguous) in cases {
            let got = normalize_path(raw);
            assert_eq!(
                (got.path.as_ref(), got.ambiguous),
                (path, ambiguous),
                "{raw}"
            );
        }
    }

    #[test]
    fn clean_paths_are_borrowed() {
        assert!(matches!(
            normalize_path("/api/messages?x=1").path,
            Cow::Borrowed("/api/messages")
        ));
        assert!(matches!(normalize_path("/a/../b").path, Cow::Owned(_)));
    }

    #[test]
    fn configured_paths() {
        let cases = [
            ("/", Ok(())),
            ("/api/", Ok(())),
            ("/api/public", Ok(())),
            ("/a;b", Ok(())),
            ("/a/%3A", Ok(())),
            ("api", Err(RulePathError::NotAbsolute)),
            ("", Err(RulePathError::NotAbsolute)),
            ("/a?b", Err(RulePathError::QueryOrFragment)),
            ("/a#b", Err(RulePathError::QueryOrFragment)),
            ("/a b", Err(RulePathError::InvalidCharacter)),
            ("/a/é", Err(RulePathError::InvalidCharacter)),
            ("/a%2Fb", Err(RulePathError::Ambiguous)),
            ("/a\\b", Err(RulePathError::Ambiguous)),
            ("/a/..;/b", Err(RulePathError::Ambiguous)),
            (
                "/a/../b",
                Err(RulePathError::NotNormalized {
                    normal: "/b".to_owned(),
                }),
            ),
            (
                "/a//b",
                Err(RulePathError::NotNormalized {
                    normal: "/a/b".to_owned(),
                }),
            ),
            (
                "/%61pi",
                Err(RulePathError::NotNormalized {
                    normal: "/api".to_owned(),
                }),
            ),
            (
                "/a/%3a",
                Err(RulePathError::NotNormalized {
                    normal: "/a/%3A".to_owned(),
                }),
            ),
        ];
        for (p, want) in cases {
            assert_eq!(check_rule_path(p), want, "{p:?}");
        }
    }

    #[test]
    fn rule_path_error_text() {
        assert_eq!(
            RulePathError::NotAbsolute.to_string(),
            "must start with \"/\""
        );
        assert_eq!(
            RulePathError::NotNormalized { normal: "/b".to_owned() }.to_string(),
            "is not in the normal form requests are compared in (dot segments resolved, repeated slashes merged, unreserved characters unescaped); write \"/b\""
        );
    }
}
