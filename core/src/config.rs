//! The plugin configuration: one JSON object, parsed strictly into a [`Config`] that needs no
//! further checking at request time.
//!
//! Parsing goes through the strict JSON reader (duplicate member names are refused at every
//! depth, so `{"domain": "a", "domain": "b"}` cannot mean whichever one a parser keeps), then
//! typed deserialisation that refuses unknown fields, then validation. Every error names the
//! field with its position, e.g. `configuration field "rules[2].match.path": must start with "/"`.
//! Nothing is defaulted silently except the documented defaults.
//!
//! Each section is parsed and checked by the module that owns it (`key_source`, `rules`,
//! `forward`, `dpop_settings`, `nonce`, `rejection`'s realm, `algorithm` lists,
//! `token_policy`); this module holds the document's shape, composes the sections, and
//! checks the key-fetch timings itself.

pub use crate::config_error::ConfigError;
use crate::config_error::{bounded, Bounds};
use crate::dpop_settings::{DpopConfig, RawDpop, ReplayScope};
use crate::forward::{self, FilterState, Forward, RawFilterState, RawForward};
use crate::json;
use crate::key_source::{self, upstream_for, IssuerConfig, KeySource, KeySources, RawKeySources};
use crate::nonce::RawNonce;
use crate::rejection::{self, ChallengeConfig};
use crate::rules::{self, RawRule, RuleSet};
use crate::token_policy::{RawTokenPolicy, TokenPolicy};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Larger configurations are refused before parsing (an inline JWKS included).
pub const MAX_CONFIG_LEN: usize = 256 * 1024;

// Defaults and bounds of the key-fetch timings.
/// Seconds fetched keys are used before they are refreshed.
const JWKS_CACHE_TTL: Bounds = Bounds {
    default: 600,
    min: 1,
    max: 7 * 86400,
};
/// Shortest time between two fetches of one key source.
const JWKS_MIN_REFRESH_INTERVAL: Bounds = Bounds {
    default: 30,
    min: 1,
    max: 86400,
};
/// Seconds expired keys are still used while the issuer cannot be reached.
const JWKS_MAX_STALE: Bounds = Bounds {
    default: 86400,
    min: 0,
    max: 30 * 86400,
};
/// Milliseconds one key-fetch callout may take.
const HTTP_TIMEOUT_MS: Bounds = Bounds {
    default: 5000,
    min: 1,
    max: 60_000,
};

/// The configuration as the filter uses it.
#[derive(Debug)]
pub struct Config {
    /// Every accepted issuer; a token's `iss` must equal one `issuer` exactly.
    pub issuers: Vec<IssuerConfig>,
    /// Where keys come from; `IssuerConfig::key_source` indexes this.
    pub key_sources: Vec<KeySource>,
    /// What a token is checked against.
    pub token: TokenPolicy,
    pub realm: String,
    pub bypass_cors_preflight: bool,
    pub rules: RuleSet,
    pub forward: Forward,
    /// The default upstream (cluster) for key fetches.
    pub upstream: Option<String>,
    /// Per-host upstreams; hosts are lower-case.
    pub upstreams: BTreeMap<String, String>,
    pub jwks_cache_ttl: u64,
    pub jwks_min_refresh_interval: u64,
    pub jwks_max_stale: u64,
    pub http_timeout_ms: u64,
    pub dpop: DpopConfig,
    /// Claims and the outcome written to the host's filter state (Envoy only).
    pub filter_state: Option<FilterState>,
}

impl Config {
    /// The upstream that serves `host`: its `upstreams` entry, else `upstream`.
    pub fn upstream_for(&self, host: &str) -> Option<&str> {
        upstream_for(&self.upstreams, self.upstream.as_deref(), host)
    }

    /// The issuer whose keys come from `source` (for a discovery source, the one issuer
    /// its document must name).
    pub fn issuer_of_source(&self, source: usize) -> Option<&str> {
        self.issuers
            .iter()
            .find(|i| i.key_source == source)
            .map(|i| i.issuer.as_str())
    }

    /// Whether DPoP proofs are remembered in the host's shared data, for every worker: the
    /// configuration then needs a host that has shared data.
    pub fn needs_shared_data(&self) -> bool {
        let dpop = &self.dpop;
        dpop.enabled && dpop.replay_check && dpop.replay_scope == ReplayScope::Shared
    }

    /// Whether the configuration changes request headers for the upstream (identity
    /// headers, stripped credentials): it then needs a host that applies such changes.
    pub fn needs_header_changes(&self) -> bool {
        self.forward.rewrites_request()
    }

    /// The key source of the configured issuer `iss` (compared exactly).
    pub fn source_of_issuer(&self, iss: &str) -> Option<usize> {
        self.issuers
            .iter()
            .find(|i| i.issuer == iss)
            .map(|i| i.key_source)
    }

    pub fn challenge(&self) -> ChallengeConfig {
        ChallengeConfig {
            realm: self.realm.clone(),
            dpop_enabled: self.dpop.enabled,
            dpop_required: self.dpop.required,
            dpop_algorithms: self.dpop.algorithms.clone(),
        }
    }
}

// ---- the JSON shape ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    domain: Option<String>,
    domains: Option<Vec<String>>,
    audience: Option<Value>,
    upstream: Option<String>,
    upstreams: Option<BTreeMap<String, String>>,
    jwks_uri: Option<String>,
    jwks: Option<Map<String, Value>>,
    algorithms: Option<Vec<String>>,
    clock_skew_seconds: Option<u64>,
    realm: Option<String>,
    scope_claims: Option<Vec<String>>,
    bypass_cors_preflight: Option<bool>,
    rules: Option<Vec<RawRule>>,
    forward: Option<RawForward>,
    jwks_cache_ttl_seconds: Option<u64>,
    jwks_min_refresh_interval_seconds: Option<u64>,
    jwks_max_stale_seconds: Option<u64>,
    http_timeout_ms: Option<u64>,
    dpop_enabled: Option<bool>,
    dpop_required: Option<bool>,
    dpop_iat_leeway: Option<u64>,
    dpop_iat_offset: Option<u64>,
    dpop_algorithms: Option<Vec<String>>,
    dpop_replay_check: Option<bool>,
    dpop_replay_scope: Option<ReplayScope>,
    dpop_nonce: Option<RawNonce>,
    trust_forwarded_headers: Option<bool>,
    filter_state: Option<RawFilterState>,
}

// ---- parsing ----

pub fn parse(bytes: &[u8]) -> Result<Config, ConfigError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ConfigError::new(
            "",
            "is empty; at least \"domain\" and \"audience\" are required",
        ));
    }
    if bytes.len() > MAX_CONFIG_LEN {
        return Err(ConfigError::new(
            "",
            format!("is larger than {MAX_CONFIG_LEN} bytes"),
        ));
    }
    let object = json::parse_object(bytes).map_err(|e| match e {
        json::JsonError::DuplicateMember(name) => ConfigError::new(name, "appears more than once"),
        other => ConfigError::new("", other.to_string()),
    })?;
    let raw: RawConfig = serde_path_to_error::deserialize(Value::Object(object)).map_err(|e| {
        let path = e.path().to_string();
        shape_error(
            if path == "." { "" } else { &path },
            &e.into_inner().to_string(),
        )
    })?;
    validate(raw)
}

/// Turns serde's messages into one that names the offending field itself. For an unknown
/// field the path already ends with its name; for a missing one it names the parent.
fn shape_error(path: &str, message: &str) -> ConfigError {
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let problem = match rest.split_once(", expected ") {
            Some((_, list)) => format!(
                "is not a known field (expected {})",
                list.replace('`', "\"")
            ),
            None => "is not a known field".to_owned(),
        };
        return ConfigError::new(path, problem);
    }
    if let Some(rest) = message.strip_prefix("missing field `") {
        let name = rest.split('`').next().unwrap_or("");
        let field = if path.is_empty() {
            name.to_owned()
        } else {
            format!("{path}.{name}")
        };
        return ConfigError::new(field, "is required");
    }
    ConfigError::new(path, message.replace('`', "\""))
}

fn validate(raw: RawConfig) -> Result<Config, ConfigError> {
    let domains = key_source::domains(raw.domain, raw.domains)?;
    let token = TokenPolicy::from_config(RawTokenPolicy {
        audience: raw.audience,
        algorithms: raw.algorithms,
        clock_skew_seconds: raw.clock_skew_seconds,
        scope_claims: raw.scope_claims,
    })?;
    let KeySources {
        issuers,
        sources: key_sources,
        upstream,
        upstreams,
    } = KeySources::from_config(
        domains,
        RawKeySources {
            upstream: raw.upstream,
            upstreams: raw.upstreams,
            jwks_uri: raw.jwks_uri,
            jwks: raw.jwks,
        },
        &token.algorithms,
    )?;

    let dpop = DpopConfig::from_config(RawDpop {
        enabled: raw.dpop_enabled,
        required: raw.dpop_required,
        iat_leeway: raw.dpop_iat_leeway,
        iat_offset: raw.dpop_iat_offset,
        algorithms: raw.dpop_algorithms,
        replay_check: raw.dpop_replay_check,
        replay_scope: raw.dpop_replay_scope,
        nonce: raw.dpop_nonce,
        trust_forwarded_headers: raw.trust_forwarded_headers,
    })?;

    let domains_and_issuers: Vec<(String, String)> = issuers
        .iter()
        .map(|i| (i.domain.clone(), i.issuer.clone()))
        .collect();
    let rules = rules::from_config(
        raw.rules.unwrap_or_default(),
        &domains_and_issuers,
        &token.audiences,
    )?;
    let filter_state = raw
        .filter_state
        .map(forward::filter_state_from_config)
        .transpose()?;
    Ok(Config {
        issuers,
        key_sources,
        token,
        realm: rejection::realm_from_config(raw.realm)?,
        bypass_cors_preflight: raw
            .bypass_cors_preflight
            .unwrap_or(rules::DEFAULT_BYPASS_CORS_PREFLIGHT),
        rules,
        forward: forward::forward_from_config(raw.forward)?,
        upstream,
        upstreams,
        jwks_cache_ttl: bounded(
            "jwks_cache_ttl_seconds",
            raw.jwks_cache_ttl_seconds,
            JWKS_CACHE_TTL,
        )?,
        jwks_min_refresh_interval: bounded(
            "jwks_min_refresh_interval_seconds",
            raw.jwks_min_refresh_interval_seconds,
            JWKS_MIN_REFRESH_INTERVAL,
        )?,
        jwks_max_stale: bounded(
            "jwks_max_stale_seconds",
            raw.jwks_max_stale_seconds,
            JWKS_MAX_STALE,
        )?,
        http_timeout_ms: bounded("http_timeout_ms", raw.http_timeout_ms, HTTP_TIMEOUT_MS)?,
        dpop,
        filter_state,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algorithm::Algorithm;
    use crate::jwk;
    use crate::key_source::MAX_DOMAINS;
    use crate::nonce::NonceConfig;
    use crate::rules::{Accepts, PathMatch, Require, Rule};
    use serde_json::json;

    const EC_KEY: &str = r#"{"kty":"EC","crv":"P-256","kid":"ec1","x":"MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4","y":"4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM"}"#;
    const SECRET_32: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";

    fn minimal() -> Value {
        json!({"domain": "tenant.example.com", "audience": "https://api.example.com", "upstream": "auth0"})
    }

    fn with(overrides: Value) -> Vec<u8> {
        let mut base = minimal();
        if let (Value::Object(b), Value::Object(o)) = (&mut base, overrides) {
            for (k, v) in o {
                if v.is_null() {
                    b.remove(&k);
                } else {
                    b.insert(k, v);
                }
            }
        }
        serde_json::to_vec(&base).unwrap()
    }

    fn ok(bytes: &[u8]) -> Config {
        match parse(bytes) {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        }
    }

    fn err(bytes: &[u8]) -> ConfigError {
        match parse(bytes) {
            Ok(_) => panic!("accepted {}", String::from_utf8_lossy(bytes)),
            Err(e) => e,
        }
    }

    fn e(field: &str, problem: &str) -> ConfigError {
        ConfigError::new(field, problem)
    }

    #[test]
    fn minimal_configuration_gets_every_default() {
        let c = ok(&with(json!({})));
        assert_eq!(
            c.issuers,
            vec![IssuerConfig {
                issuer: "https://tenant.example.com/".to_owned(),
                domain: "tenant.example.com".to_owned(),
                key_source: 0
            }]
        );
        match c.key_sources.as_slice() {
            [KeySource::Discovery { url, upstream }] => {
                assert_eq!(
                    url.to_string(),
                    "https://tenant.example.com/.well-known/openid-configuration"
                );
                assert_eq!(upstream, "auth0");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            c.token.audiences,
            vec!["https://api.example.com".to_owned()]
        );
        assert_eq!(c.token.algorithms, vec![Algorithm::RS256]);
        assert_eq!(c.token.clock_skew, 60);
        assert_eq!(c.realm, "api");
        assert_eq!(
            c.token.scope_claims,
            vec!["scope".to_owned(), "scp".to_owned()]
        );
        assert!(c.bypass_cors_preflight);
        assert_eq!(c.rules, RuleSet::default());
        assert_eq!(c.forward, Forward::default());
        assert_eq!(c.upstream.as_deref(), Some("auth0"));
        assert!(c.upstreams.is_empty());
        assert_eq!(
            (
                c.jwks_cache_ttl,
                c.jwks_min_refresh_interval,
                c.jwks_max_stale,
                c.http_timeout_ms
            ),
            (600, 30, 86400, 5000)
        );
        assert_eq!(
            c.dpop,
            DpopConfig {
                enabled: true,
                required: false,
                iat_leeway: 30,
                iat_offset: 300,
                algorithms: vec![Algorithm::ES256],
                replay_check: true,
                replay_scope: ReplayScope::Shared,
                nonce: None,
                trust_forwarded_headers: false,
            }
        );
        assert_eq!(
            c.challenge(),
            ChallengeConfig {
                realm: "api".to_owned(),
                dpop_enabled: true,
                dpop_required: false,
                dpop_algorithms: vec![Algorithm::ES256]
            }
        );
    }

    #[test]
    fn every_field_set() {
        let c = ok(&serde_json::to_vec(&json!({
            "domains": ["tenant.example.com", "https://login.example.org/"],
            "audience": ["https://api.example.com", "urn:other"],
            "upstream": "auth0",
            "upstreams": {"LOGIN.example.org": "login_cluster"},
            "algorithms": ["RS256", "PS256", "ES256", "EdDSA"],
            "clock_skew_seconds": 0,
            "realm": "payments",
            "scope_claims": ["permissions"],
            "bypass_cors_preflight": false,
            "rules": [
                {"match": {"path": "/api/public"}, "require": "none"},
                {"match": {"prefix": "/api/", "methods": ["get", "HEAD"]}, "scopes": "read:messages  read:all"},
                {"match": {"path": "/api/data", "methods": ["POST"]}, "require": "token", "scopes": ["read:data", "write:data"]}
            ],
            "forward": {
                "claim_headers": {"sub": "X-Auth-Sub", "cnf.jkt": "x-auth-jkt"},
                "claims_header": "X-Auth-Claims",
                "strip_authorization": true
            },
            "jwks_cache_ttl_seconds": 60,
            "jwks_min_refresh_interval_seconds": 1,
            "jwks_max_stale_seconds": 0,
            "http_timeout_ms": 60000,
            "dpop_enabled": true,
            "dpop_required": true,
            "dpop_iat_leeway": 0,
            "dpop_iat_offset": 60,
            "dpop_algorithms": ["ES384", "EdDSA", "ES256"],
            "dpop_replay_check": false,
            "dpop_replay_scope": "worker",
            "dpop_nonce": {"secret": SECRET_32, "lifetime_seconds": 120},
            "trust_forwarded_headers": true
        }))
        .unwrap());
        let issuers: Vec<(&str, usize)> = c
            .issuers
            .iter()
            .map(|i| (i.issuer.as_str(), i.key_source))
            .collect();
        assert_eq!(
            issuers,
            vec![
                ("https://tenant.example.com/", 0),
                ("https://login.example.org/", 1)
            ]
        );
        let sources: Vec<(String, &str)> = c
            .key_sources
            .iter()
            .map(|s| match s {
                KeySource::Discovery { url, upstream } => (url.to_string(), upstream.as_str()),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            sources,
            vec![
                (
                    "https://tenant.example.com/.well-known/openid-configuration".to_owned(),
                    "auth0"
                ),
                (
                    "https://login.example.org/.well-known/openid-configuration".to_owned(),
                    "login_cluster"
                ),
            ]
        );
        assert_eq!(c.issuer_of_source(1), Some("https://login.example.org/"));
        assert_eq!(c.upstream_for("Login.Example.org"), Some("login_cluster"));
        assert_eq!(c.upstream_for("keys.example.net"), Some("auth0"));
        assert_eq!(
            c.token.audiences,
            vec!["https://api.example.com".to_owned(), "urn:other".to_owned()]
        );
        assert_eq!(
            c.token.algorithms,
            vec![
                Algorithm::RS256,
                Algorithm::PS256,
                Algorithm::ES256,
                Algorithm::EdDSA
            ]
        );
        assert_eq!(
            (
                c.token.clock_skew,
                c.realm.as_str(),
                c.bypass_cors_preflight
            ),
            (0, "payments", false)
        );
        assert_eq!(c.token.scope_claims, vec!["permissions".to_owned()]);
        let strings = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            c.rules.rules(),
            [
                Rule {
                    path: PathMatch::Exact("/api/public".to_owned()),
                    methods: None,
                    require: Require::None
                },
                Rule {
                    path: PathMatch::Prefix("/api/".to_owned()),
                    methods: Some(strings(&["GET", "HEAD"])),
                    require: Require::Token {
                        scopes: strings(&["read:messages", "read:all"]),
                        accepts: Accepts::ALL,
                    },
                },
                Rule {
                    path: PathMatch::Exact("/api/data".to_owned()),
                    methods: Some(strings(&["POST"])),
                    require: Require::Token {
                        scopes: strings(&["read:data", "write:data"]),
                        accepts: Accepts::ALL,
                    },
                },
            ]
        );
        // claim_headers entries come in claim-name order.
        assert_eq!(
            c.forward.managed_headers(),
            ["x-auth-jkt", "x-auth-sub", "x-auth-claims"]
        );
        assert!(c.forward.strip_authorization());
        assert_eq!(
            (
                c.jwks_cache_ttl,
                c.jwks_min_refresh_interval,
                c.jwks_max_stale,
                c.http_timeout_ms
            ),
            (60, 1, 0, 60000)
        );
        assert_eq!(
            c.dpop,
            DpopConfig {
                enabled: true,
                required: true,
                iat_leeway: 0,
                iat_offset: 60,
                algorithms: vec![Algorithm::ES384, Algorithm::EdDSA, Algorithm::ES256],
                replay_check: false,
                replay_scope: ReplayScope::Worker,
                nonce: Some(NonceConfig {
                    secret: (0u8..32).collect(),
                    lifetime: 120
                }),
                trust_forwarded_headers: true,
            }
        );
    }

    #[test]
    fn domain_forms() {
        let cases = [
            ("tenant.us.auth0.com", "https://tenant.us.auth0.com/"),
            (
                "https://tenant.us.auth0.com",
                "https://tenant.us.auth0.com/",
            ),
            (
                "https://tenant.us.auth0.com/",
                "https://tenant.us.auth0.com/",
            ),
            ("tenant.us.auth0.com/", "https://tenant.us.auth0.com/"),
            (
                "HTTPS://Tenant.US.auth0.com/",
                "https://tenant.us.auth0.com/",
            ),
            ("127.0.0.1:8443", "https://127.0.0.1:8443/"),
            ("localhost:9000/", "https://localhost:9000/"),
            ("[::1]:8443", "https://[::1]:8443/"),
        ];
        for (domain, issuer) in cases {
            let c = ok(&with(json!({ "domain": domain })));
            assert_eq!(
                c.issuers.first().map(|i| i.issuer.as_str()),
                Some(issuer),
                "{domain}"
            );
        }
    }

    #[test]
    fn bad_domains() {
        let cases = [
            ("", "must not be empty"),
            (
                " tenant.example.com",
                "must not contain whitespace, control or non-ASCII characters",
            ),
            (
                "tenant.example.com ",
                "must not contain whitespace, control or non-ASCII characters",
            ),
            (
                "ténant.example.com",
                "must not contain whitespace, control or non-ASCII characters",
            ),
            (
                "http://tenant.example.com",
                "must use https: the issuer is https://<domain>/",
            ),
            (
                "HTTP://tenant.example.com/",
                "must use https: the issuer is https://<domain>/",
            ),
            (
                "ftp://tenant.example.com",
                "must be a host name, optionally preceded by https://",
            ),
            (
                "https://https://tenant.example.com",
                "must be a host name, optionally preceded by https://",
            ),
            (
                "tenant.example.com/api",
                "must be a host name without a path",
            ),
            (
                "https://tenant.example.com//",
                "must be a host name without a path",
            ),
            (
                "tenant.example.com\\x",
                "must be a host name without a path",
            ),
            (
                "user@tenant.example.com",
                "must not contain userinfo (user@host)",
            ),
            (
                "https://u:p@tenant.example.com/",
                "must not contain userinfo (user@host)",
            ),
            (
                "tenant.example.com?x=1",
                "must not contain a query or fragment",
            ),
            (
                "tenant.example.com#x",
                "must not contain a query or fragment",
            ),
            ("https://", "must name a host"),
            ("/", "must name a host"),
            (
                "tenant..example.com",
                "is not a valid host: URL host is not a valid host name or address",
            ),
            (
                "tenant.example.com:0",
                "is not a valid host: URL port is not a number from 1 to 65535",
            ),
            (
                "tenant.example.com:x",
                "is not a valid host: URL port is not a number from 1 to 65535",
            ),
        ];
        for (domain, problem) in cases {
            assert_eq!(
                err(&with(json!({ "domain": domain }))),
                e("domain", problem),
                "{domain:?}"
            );
        }
    }

    #[test]
    fn domain_and_domains() {
        let cases = [
            (
                json!({"domains": ["a.example.com"]}),
                e(
                    "domains",
                    "cannot be combined with \"domain\"; give exactly one of them",
                ),
            ),
            (
                json!({"domain": null}),
                e("domain", "is required (or \"domains\")"),
            ),
            (
                json!({"domain": null, "domains": []}),
                e("domains", "must not be empty"),
            ),
            (
                json!({"domain": null, "domains": ["a.example.com", "A.example.com/"]}),
                e("domains[1]", "repeats the domain \"a.example.com\""),
            ),
            (
                json!({"domain": null, "domains": ["a.example.com", "http://b.example.com"]}),
                e(
                    "domains[1]",
                    "must use https: the issuer is https://<domain>/",
                ),
            ),
            (
                json!({"domain": null, "domains": "a.example.com"}),
                e(
                    "domains",
                    "invalid type: string \"a.example.com\", expected a sequence",
                ),
            ),
            (
                json!({"domain": 5}),
                e("domain", "invalid type: integer \"5\", expected a string"),
            ),
        ];
        for (overrides, want) in cases {
            assert_eq!(err(&with(overrides.clone())), want, "{overrides}");
        }
        let too_many: Vec<String> = (0..=MAX_DOMAINS)
            .map(|i| format!("t{i}.example.com"))
            .collect();
        assert_eq!(
            err(&with(json!({"domain": null, "domains": too_many}))),
            e("domains", "must not list more than 32 domains")
        );
    }

    #[test]
    fn audiences() {
        let c = ok(&with(json!({"audience": ["a", "b"]})));
        assert_eq!(c.token.audiences, vec!["a".to_owned(), "b".to_owned()]);
        let cases = [
            (json!({"audience": null}), e("audience", "is required")),
            (json!({"audience": ""}), e("audience", "must not be empty")),
            (json!({"audience": []}), e("audience", "must not be empty")),
            (
                json!({"audience": ["a", ""]}),
                e("audience[1]", "must not be empty"),
            ),
            (
                json!({"audience": ["a", 1]}),
                e("audience[1]", "must be a string"),
            ),
            (
                json!({"audience": ["a", "a"]}),
                e("audience[1]", "repeats the audience \"a\""),
            ),
            (
                json!({"audience": 5}),
                e("audience", "must be a string or a list of strings"),
            ),
            (
                json!({"audience": {"a": 1}}),
                e("audience", "must be a string or a list of strings"),
            ),
            (
                json!({"audience": "a\nb"}),
                e("audience", "must not contain control characters"),
            ),
        ];
        for (overrides, want) in cases {
            assert_eq!(err(&with(overrides.clone())), want, "{overrides}");
        }
    }

    #[test]
    fn algorithms() {
        let all = "RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, EdDSA";
        let dpop = "ES256, ES384, EdDSA, RS256, PS256";
        let cases = [
            (json!({"algorithms": []}), e("algorithms", "must not be empty")),
            (json!({"algorithms": ["RS256", "none"]}), e("algorithms[1]", "\"none\" is never allowed: it means an unsigned token")),
            (json!({"algorithms": ["NONE"]}), e("algorithms[0]", "\"none\" is never allowed: it means an unsigned token")),
            (
                json!({"algorithms": ["HS256"]}),
                e("algorithms[0]", &format!("\"HS256\" is a symmetric algorithm and is never allowed; use one of {all}")),
            ),
            (
                json!({"algorithms": ["hs512"]}),
                e("algorithms[0]", &format!("\"hs512\" is a symmetric algorithm and is never allowed; use one of {all}")),
            ),
            (json!({"algorithms": ["rs256"]}), e("algorithms[0]", &format!("unknown algorithm \"rs256\"; use one of {all}"))),
            (json!({"algorithms": ["ES512"]}), e("algorithms[0]", &format!("unknown algorithm \"ES512\"; use one of {all}"))),
            (json!({"algorithms": ["RS256", "RS256"]}), e("algorithms[1]", "repeats \"RS256\"")),
            (json!({"algorithms": "RS256"}), e("algorithms", "invalid type: string \"RS256\", expected a sequence")),
            (json!({"dpop_algorithms": []}), e("dpop_algorithms", "must not be empty")),
            (json!({"dpop_algorithms": ["RS384"]}), e("dpop_algorithms[0]", &format!("\"RS384\" is not allowed here; use one of {dpop}"))),
            (json!({"dpop_algorithms": ["ES256", "PS512"]}), e("dpop_algorithms[1]", &format!("\"PS512\" is not allowed here; use one of {dpop}"))),
            (
                json!({"dpop_algorithms": ["HS256"]}),
                e("dpop_algorithms[0]", &format!("\"HS256\" is a symmetric algorithm and is never allowed; use one of {dpop}")),
            ),
            (json!({"dpop_algorithms": ["none"]}), e("dpop_algorithms[0]", "\"none\" is never allowed: it means an unsigned token")),
        ];
        for (overrides, want) in cases {
            assert_eq!(err(&with(overrides.clone())), want, "{overrides}");
        }
    }

    #[test]
    fn upstreams_and_key_sources() {
        // jwks_uri: one source shared by every issuer, on its own host's upstream.
        let c = ok(&with(json!({
            "domain": null,
            "domains": ["a.example.com", "b.example.com"],
            "upstream": null,
            "upstreams": {"keys.example.net": "keys"},
            "jwks_uri": "http://keys.example.net:8080/jwks.json?v=1",
        })));
        assert_eq!(
            c.issuers.iter().map(|i| i.key_source).collect::<Vec<_>>(),
            vec![0, 0]
        );
        match c.key_sources.as_slice() {
            [KeySource::JwksUri { url, upstream }] => {
                assert_eq!(
                    url.to_string(),
                    "http://keys.example.net:8080/jwks.json?v=1"
                );
                assert_eq!(upstream, "keys");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(c.upstream, None);

        let cases = [
            (
                json!({"upstream": null}),
                e("upstream", "is required to fetch https://tenant.example.com/.well-known/openid-configuration (or give \"upstreams\" an entry for \"tenant.example.com\", or give \"jwks\")"),
            ),
            (
                json!({"upstream": null, "upstreams": {"other.example.com": "x"}}),
                e("upstream", "is required to fetch https://tenant.example.com/.well-known/openid-configuration (or give \"upstreams\" an entry for \"tenant.example.com\", or give \"jwks\")"),
            ),
            (
                json!({"upstream": null, "upstreams": {"tenant.example.com": "t"}, "jwks_uri": "https://keys.example.net/jwks"}),
                e("upstream", "is required to fetch https://keys.example.net/jwks (or give \"upstreams\" an entry for \"keys.example.net\", or give \"jwks\")"),
            ),
            (json!({"upstream": ""}), e("upstream", "must not be empty")),
            (json!({"upstream": "a b"}), e("upstream", "must be a cluster name: 1 to 255 printable ASCII characters without spaces")),
            (json!({"upstreams": {"https://a.example.com": "x"}}), e("upstreams.https://a.example.com", "must be keyed by a host name (without scheme, port or path)")),
            (json!({"upstreams": {"a.example.com:443": "x"}}), e("upstreams.a.example.com:443", "must be keyed by a host name (without scheme, port or path)")),
            (json!({"upstreams": {"a.example.com": ""}}), e("upstreams.a.example.com", "must not be empty")),
            (json!({"upstreams": {"a.example.com": "x", "A.example.com": "y"}}), e("upstreams.a.example.com", "repeats a host (host names are compared case-insensitively)")),
            (json!({"upstreams": {"a.example.com": 1}}), e("upstreams.a.example.com", "invalid type: integer \"1\", expected a string")),
            (json!({"jwks_uri": "/jwks.json"}), e("jwks_uri", "is not a valid URL: URL must be absolute and start with http:// or https://")),
            (json!({"jwks_uri": "https://u@keys.example.net/"}), e("jwks_uri", "is not a valid URL: URL must not contain userinfo (user@host)")),
            (json!({"jwks_uri": "https://a.example.com/", "jwks": {"keys": []}}), e("jwks_uri", "cannot be combined with \"jwks\"")),
        ];
        for (overrides, want) in cases {
            assert_eq!(err(&with(overrides.clone())), want, "{overrides}");
        }
    }

    #[test]
    fn inline_jwks_needs_no_upstream() {
        let jwks: Value = serde_json::from_str(&format!(r#"{{"keys":[{EC_KEY}]}}"#)).unwrap();
        let c = ok(&with(json!({
            "domain": null,
            "domains": ["a.example.com", "b.example.com"],
            "upstream": null,
            "algorithms": ["ES256"],
            "jwks": jwks,
        })));
        assert_eq!(
            c.issuers.iter().map(|i| i.key_source).collect::<Vec<_>>(),
            vec![0, 0]
        );
        match c.key_sources.as_slice() {
            [KeySource::Inline(keys)] => assert!(keys.find("ec1").is_some()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn inline_jwks_must_be_usable() {
        let jwks: Value = serde_json::from_str(&format!(r#"{{"keys":[{EC_KEY}]}}"#)).unwrap();
        let cases = [
            (
                json!({"jwks": {"keys": []}, "algorithms": ["ES256"]}),
                e("jwks", "contains no usable key"),
            ),
            (
                json!({"jwks": {"keys": [{"kty": "oct", "kid": "h", "k": "c2VjcmV0"}]}, "algorithms": ["ES256"]}),
                e(
                    "jwks",
                    &format!(
                        "contains no usable key ({})",
                        jwk::parse_jwks(br#"{"keys":[{"kty":"oct","kid":"h","k":"c2VjcmV0"}]}"#)
                            .map(|p| p
                                .skipped
                                .first()
                                .map(ToString::to_string)
                                .unwrap_or_default())
                            .unwrap_or_default()
                    ),
                ),
            ),
            (
                json!({"jwks": jwks, "algorithms": ["RS256"]}),
                e(
                    "jwks",
                    "has no key with a \"kid\" that fits any of \"algorithms\"",
                ),
            ),
            (
                json!({"jwks": "x"}),
                e("jwks", "invalid type: string \"x\", expected a map"),
            ),
        ];
        for (overrides, want) in cases {
            assert_eq!(err(&with(overrides.clone())), want, "{overrides}");
        }
        let not_a_set = err(&with(json!({"jwks": {"kty": "EC"}})));
        assert_eq!(not_a_set.field, "jwks");
        assert!(
            not_a_set.problem.starts_with("is not a valid JWKS: "),
            "{not_a_set}"
        );
    }

    #[test]
    fn rules() {
        let cases = [
            (json!({"rules": [{"match": {}}]}), e("rules[0].match", "needs exactly one of \"path\" and \"prefix\"")),
            (
                json!({"rules": [{"match": {"path": "/a", "prefix": "/a"}}]}),
                e("rules[0].match", "needs exactly one of \"path\" and \"prefix\""),
            ),
            (json!({"rules": [{"match": {"path": "/a"}}, {"match": {"path": "a"}}]}), e("rules[1].match.path", "must start with \"/\"")),
            (json!({"rules": [{"match": {"prefix": "api/"}}]}), e("rules[0].match.prefix", "must start with \"/\"")),
            (
                json!({"rules": [{"match": {"path": "/a?b=1"}}]}),
                e("rules[0].match.path", "must not contain \"?\" or \"#\" (matching ignores the query)"),
            ),
            (
                json!({"rules": [{"match": {"prefix": "/a/../b"}}]}),
                e("rules[0].match.prefix", "is not in the normal form requests are compared in (dot segments resolved, repeated slashes merged, unreserved characters unescaped); write \"/b\""),
            ),
            (
                json!({"rules": [{"match": {"path": "/a%2Fb"}, "require": "none"}]}),
                e("rules[0].match.path", "must not contain an encoded slash or backslash, a backslash, a malformed percent-escape or a dot segment with parameters"),
            ),
            (
                json!({"rules": [{"match": {"path": "/a", "methods": []}}]}),
                e("rules[0].match.methods", "must not be empty (leave it out to match every method)"),
            ),
            (
                json!({"rules": [{"match": {"path": "/a", "methods": ["GET", "G ET"]}}]}),
                e("rules[0].match.methods[1]", "must be an HTTP method name such as \"GET\""),
            ),
            (json!({"rules": [{"match": {"path": "/a", "methods": [""]}}]}), e("rules[0].match.methods[0]", "must be an HTTP method name such as \"GET\"")),
            (json!({"rules": [{"match": {"path": "/a", "methods": ["GET", "get"]}}]}), e("rules[0].match.methods[1]", "repeats \"GET\"")),
            (
                json!({"rules": [{"match": {"path": "/a"}, "require": "none", "scopes": "read"}]}),
                e("rules[0].scopes", "cannot be combined with \"require\": \"none\""),
            ),
            (
                json!({"rules": [{"match": {"path": "/a"}, "require": "optional"}]}),
                e("rules[0].require", "unknown variant \"optional\", expected \"token\" or \"none\""),
            ),
            (json!({"rules": [{"match": {"path": "/a"}, "require": "Token"}]}), e("rules[0].require", "unknown variant \"Token\", expected \"token\" or \"none\"")),
            (json!({"rules": [{"match": {"path": "/a"}, "scopes": ""}]}), e("rules[0].scopes", "must not be empty (leave it out to require no scope)")),
            (json!({"rules": [{"match": {"path": "/a"}, "scopes": "  "}]}), e("rules[0].scopes", "must not be empty (leave it out to require no scope)")),
            (json!({"rules": [{"match": {"path": "/a"}, "scopes": []}]}), e("rules[0].scopes", "must not be empty (leave it out to require no scope)")),
            (json!({"rules": [{"match": {"path": "/a"}, "scopes": ["a", 1]}]}), e("rules[0].scopes[1]", "must be a string")),
            (json!({"rules": [{"match": {"path": "/a"}, "scopes": 1}]}), e("rules[0].scopes", "must be a string of space-separated scopes or a list of strings")),
            (
                json!({"rules": [{"match": {"path": "/a"}, "scopes": ["a b"]}]}),
                e("rules[0].scopes[0]", "\"a b\" is not a scope: printable ASCII without spaces, '\"' or '\\'"),
            ),
            (
                json!({"rules": [{"match": {"path": "/a"}, "scopes": "a\"b"}]}),
                e("rules[0].scopes", "\"a\\\"b\" is not a scope: printable ASCII without spaces, '\"' or '\\'"),
            ),
            (json!({"rules": [{"match": {"path": "/a"}, "scopes": "a a"}]}), e("rules[0].scopes", "repeats \"a\"")),
            (json!({"rules": [{"match": {"path": "/a"}, "issuers": []}]}), e("rules[0].issuers", "must not be empty (leave it out to accept every configured issuer)")),
            (json!({"rules": [{"match": {"path": "/a"}, "issuers": ["other.example.com"]}]}), e("rules[0].issuers[0]", "\"other.example.com\" is not one of the configured domains")),
            (json!({"rules": [{"match": {"path": "/a"}, "issuers": ["http://x"]}]}), e("rules[0].issuers[0]", "must use https: the issuer is https://<domain>/")),
            (json!({"rules": [{"match": {"path": "/a"}, "audiences": ["https://elsewhere"]}]}), e("rules[0].audiences[0]", "\"https://elsewhere\" is not one of the configured audiences")),
            (json!({"rules": [{"match": {"path": "/a"}, "issuers": ["tenant.example.com", "https://tenant.example.com/"]}]}), e("rules[0].issuers[1]", "repeats \"https://tenant.example.com/\"")),
            (json!({"rules": [{"match": {"path": "/a"}, "audiences": ["https://api.example.com", "https://api.example.com"]}]}), e("rules[0].audiences[1]", "repeats \"https://api.example.com\"")),
            (json!({"rules": [{"match": {"path": "/a"}, "require": "none", "issuers": ["tenant.example.com"]}]}), e("rules[0].issuers", "cannot be combined with \"require\": \"none\"")),
            (json!({"rules": [{"match": {"path": "/a"}, "scopes": ["a", "a"]}]}), e("rules[0].scopes[1]", "repeats \"a\"")),
            (json!({"rules": [{"require": "none"}]}), e("rules[0].match", "is required")),
            (json!({"rules": [{"match": {"paht": "/a"}}]}), e("rules[0].match.paht", "is not a known field (expected one of \"path\", \"prefix\", \"methods\")")),
            (json!({"rules": [{"match": {"path": "/a"}, "scope": "x"}]}), e("rules[0].scope", "is not a known field (expected one of \"match\", \"require\", \"scopes\", \"issuers\", \"audiences\")")),
            (json!({"rules": {"match": {"path": "/a"}}}), e("rules", "invalid type: map, expected a sequence")),
        ];
        for (overrides, want) in cases {
            assert_eq!(err(&with(overrides.clone())), want, "{overrides}");
        }
    }

    #[test]
    fn forward() {
        let cases = [
            (
                json!({"forward": {"claim_headers": {"sub": "authorization"}}}),
                e("forward.claim_headers.sub", "header name is reserved (hop-by-hop, pseudo, credential, framing or forwarding header, or x-envoy-*)"),
            ),
            (
                json!({"forward": {"claim_headers": {"sub": ":path"}}}),
                e("forward.claim_headers.sub", "header name may contain only letters, digits and !#$%&'*+-.^_`|~"),
            ),
            (json!({"forward": {"claim_headers": {"sub": ""}}}), e("forward.claim_headers.sub", "header name is empty")),
            (json!({"forward": {"claim_headers": {"": "x-a"}}}), e("forward.claim_headers.", "claim name is empty")),
            (json!({"forward": {"claim_headers": {"cnf..jkt": "x-a"}}}), e("forward.claim_headers.cnf..jkt", "claim path has an empty component")),
            (
                json!({"forward": {"claim_headers": {"sub": "x-id", "email": "X-Id"}}}),
                e("forward", "header \"x-id\" is configured more than once"),
            ),
            (
                json!({"forward": {"claim_headers": {"sub": "x-id"}, "claims_header": "x-id"}}),
                e("forward", "header \"x-id\" is configured more than once"),
            ),
            (
                json!({"forward": {"claims_header": "Host"}}),
                e("forward.claims_header", "header name is reserved (hop-by-hop, pseudo, credential, framing or forwarding header, or x-envoy-*)"),
            ),
            (json!({"forward": {"strip_authorization": "yes"}}), e("forward.strip_authorization", "invalid type: string \"yes\", expected a boolean")),
            (
                json!({"forward": {"headers": {}}}),
                e("forward.headers", "is not a known field (expected one of \"claim_headers\", \"claims_header\", \"strip_authorization\")"),
            ),
            (json!({"forward": {"claim_headers": {"sub": 1}}}), e("forward.claim_headers.sub", "invalid type: integer \"1\", expected a string")),
        ];
        for (overrides, want) in cases {
            assert_eq!(err(&with(overrides.clone())), want, "{overrides}");
        }
    }

    #[test]
    fn numbers_and_their_bounds() {
        let cases = [
            (
                json!({"clock_skew_seconds": 3601}),
                e("clock_skew_seconds", "must be from 0 to 3600, not 3601"),
            ),
            (
                json!({"clock_skew_seconds": -1}),
                e(
                    "clock_skew_seconds",
                    "invalid value: integer \"-1\", expected u64",
                ),
            ),
            (
                json!({"clock_skew_seconds": 1.5}),
                e(
                    "clock_skew_seconds",
                    "invalid type: floating point \"1.5\", expected u64",
                ),
            ),
            (
                json!({"clock_skew_seconds": "60"}),
                e(
                    "clock_skew_seconds",
                    "invalid type: string \"60\", expected u64",
                ),
            ),
            (
                json!({"jwks_cache_ttl_seconds": 0}),
                e("jwks_cache_ttl_seconds", "must be from 1 to 604800, not 0"),
            ),
            (
                json!({"jwks_min_refresh_interval_seconds": 0}),
                e(
                    "jwks_min_refresh_interval_seconds",
                    "must be from 1 to 86400, not 0",
                ),
            ),
            (
                json!({"jwks_max_stale_seconds": 2_592_001}),
                e(
                    "jwks_max_stale_seconds",
                    "must be from 0 to 2592000, not 2592001",
                ),
            ),
            (
                json!({"http_timeout_ms": 0}),
                e("http_timeout_ms", "must be from 1 to 60000, not 0"),
            ),
            (
                json!({"http_timeout_ms": 60001}),
                e("http_timeout_ms", "must be from 1 to 60000, not 60001"),
            ),
            (
                json!({"http_timeout_ms": u64::MAX}),
                e(
                    "http_timeout_ms",
                    &format!("must be from 1 to 60000, not {}", u64::MAX),
                ),
            ),
            (
                json!({"dpop_iat_leeway": 3601}),
                e("dpop_iat_leeway", "must be from 0 to 3600, not 3601"),
            ),
            (
                json!({"dpop_iat_offset": 0}),
                e("dpop_iat_offset", "must be from 1 to 3600, not 0"),
            ),
        ];
        for (overrides, want) in cases {
            assert_eq!(err(&with(overrides.clone())), want, "{overrides}");
        }
    }

    #[test]
    fn dpop_settings() {
        let c = ok(&with(json!({"dpop_enabled": false})));
        assert_eq!((c.dpop.enabled, c.dpop.required), (false, false));
        assert!(!c.challenge().dpop_enabled);
        let c = ok(&with(json!({"dpop_nonce": {"secret": SECRET_32}})));
        assert_eq!(c.dpop.nonce.as_ref().map(|n| n.lifetime), Some(60));

        let short = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg"; // 31 bytes
        let cases = [
            (
                json!({"dpop_enabled": false, "dpop_required": true}),
                e("dpop_required", "requires \"dpop_enabled\": true"),
            ),
            (
                json!({"dpop_enabled": false, "dpop_nonce": {"secret": SECRET_32}}),
                e("dpop_nonce", "requires \"dpop_enabled\": true"),
            ),
            (
                json!({"dpop_nonce": {"secret": short}}),
                e(
                    "dpop_nonce.secret",
                    "must decode to at least 32 bytes, not 31",
                ),
            ),
            (
                json!({"dpop_nonce": {"secret": format!("{SECRET_32}=")}}),
                e(
                    "dpop_nonce.secret",
                    "must be unpadded base64url: padding at offset 43 is not allowed",
                ),
            ),
            (
                json!({"dpop_nonce": {"secret": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh+"}}),
                e(
                    "dpop_nonce.secret",
                    "must be unpadded base64url: character at offset 42 is not base64url",
                ),
            ),
            (
                json!({"dpop_nonce": {"secret": SECRET_32, "lifetime_seconds": 0}}),
                e(
                    "dpop_nonce.lifetime_seconds",
                    "must be from 1 to 3600, not 0",
                ),
            ),
            (
                json!({"dpop_nonce": {}}),
                e("dpop_nonce.secret", "is required"),
            ),
            (
                json!({"dpop_nonce": {"secret": SECRET_32, "lifetime": 5}}),
                e(
                    "dpop_nonce.lifetime",
                    "is not a known field (expected \"secret\" or \"lifetime_seconds\")",
                ),
            ),
            (
                json!({"dpop_enabled": "true"}),
                e(
                    "dpop_enabled",
                    "invalid type: string \"true\", expected a boolean",
                ),
            ),
        ];
        for (overrides, want) in cases {
            assert_eq!(err(&with(overrides.clone())), want, "{overrides}");
        }
    }

    #[test]
    fn secret_never_printed() {
        let n = NonceConfig {
            secret: vec![7; 32],
            lifetime: 60,
        };
        assert_eq!(
            format!("{n:?}"),
            "NonceConfig { secret: <32 bytes>, lifetime: 60 }"
        );
    }

    #[test]
    fn realm_and_scope_claims() {
        let cases = [
            (
                json!({"realm": ""}),
                e("realm", "must be 1 to 128 characters"),
            ),
            (
                json!({"realm": "a\"b"}),
                e("realm", "must be printable ASCII without '\"' or '\\'"),
            ),
            (
                json!({"realm": "a\\b"}),
                e("realm", "must be printable ASCII without '\"' or '\\'"),
            ),
            (
                json!({"realm": "a\r\nb"}),
                e("realm", "must be printable ASCII without '\"' or '\\'"),
            ),
            (
                json!({"scope_claims": []}),
                e("scope_claims", "must not be empty"),
            ),
            (
                json!({"scope_claims": ["scope", ""]}),
                e("scope_claims[1]", "must not be empty"),
            ),
            (
                json!({"scope_claims": ["scope", "scope"]}),
                e("scope_claims[1]", "repeats \"scope\""),
            ),
        ];
        for (overrides, want) in cases {
            assert_eq!(err(&with(overrides.clone())), want, "{overrides}");
        }
        assert_eq!(ok(&with(json!({"realm": "my api"}))).realm, "my api");
    }

    #[test]
    fn document_level_errors() {
        assert_eq!(
            err(b""),
            e(
                "",
                "is empty; at least \"domain\" and \"audience\" are required"
            )
        );
        assert_eq!(
            err(b"  \n"),
            e(
                "",
                "is empty; at least \"domain\" and \"audience\" are required"
            )
        );
        assert_eq!(err(b"[]"), e("", "JSON is not an object"));
        assert_eq!(err(b"{}"), e("domain", "is required (or \"domains\")"));
        let big = vec![b' '; MAX_CONFIG_LEN + 1];
        assert_eq!(
            err(&[b"{".as_slice(), &big, b"}"].concat()),
            e("", "is larger than 262144 bytes")
        );
        let dup =
            br#"{"domain":"a.example.com","domain":"b.example.com","audience":"x","upstream":"u"}"#;
        assert_eq!(err(dup), e("domain", "appears more than once"));
        let nested_dup = br#"{"domain":"a.example.com","audience":"x","upstream":"u","forward":{"claim_headers":{"sub":"x-a","sub":"x-b"}}}"#;
        assert_eq!(err(nested_dup), e("sub", "appears more than once"));
        let syntax = err(b"{\"domain\": }");
        assert_eq!(syntax.field, "");
    }

    #[test]
    fn unknown_fields_are_refused() {
        let got = err(&with(json!({"domian": "x"})));
        assert_eq!(got.field, "domian");
        assert!(
            got.problem.starts_with(
                "is not a known field (expected one of \"domain\", \"domains\", \"audience\""
            ),
            "{got}"
        );
    }

    #[test]
    fn display_is_one_line_naming_the_field() {
        let got = err(&with(
            json!({"rules": [{"match": {"path": "/a"}}, {"match": {"path": "/b"}}, {"match": {"path": "c"}}]}),
        ));
        assert_eq!(
            got.to_string(),
            "configuration field \"rules[2].match.path\": must start with \"/\""
        );
        assert_eq!(
            err(b"[]").to_string(),
            "configuration: JSON is not an object"
        );
    }
}
