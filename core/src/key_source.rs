//! The issuers and where each one's keys come from: the `domain`/`domains`, `upstream`,
//! `upstreams`, `jwks_uri` and `jwks` settings. Either one shared source (inline keys or a
//! `jwks_uri`) serves every issuer, or each issuer has its own discovery document.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::algorithm::Algorithm;
use crate::config_error::ConfigError;
use crate::jwk::{self, JwkSet};
use crate::url::{normalize_domain, HttpUrl, UrlError};

/// Most issuers in one configuration.
pub const MAX_DOMAINS: usize = 32;
/// Most `upstreams` entries.
const MAX_UPSTREAMS: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuerConfig {
    /// `https://<domain>/`.
    pub issuer: String,
    /// The normalised domain: lower-case host, and `:port` if one was given.
    pub domain: String,
    pub key_source: usize,
}

#[derive(Debug)]
pub enum KeySource {
    /// `url` is the issuer's discovery document; its `jwks_uri` names the keys.
    Discovery { url: HttpUrl, upstream: String },
    /// The configured `jwks_uri`, shared by every issuer.
    JwksUri { url: HttpUrl, upstream: String },
    /// The configured `jwks`: no network at all.
    Inline(JwkSet),
}

/// Every issuer, every key source, and the upstreams that reach them.
#[derive(Debug)]
pub struct KeySources {
    pub issuers: Vec<IssuerConfig>,
    /// `IssuerConfig::key_source` indexes this.
    pub sources: Vec<KeySource>,
    /// The default upstream (cluster) for key fetches.
    pub upstream: Option<String>,
    /// Per-host upstreams; hosts are lower-case.
    pub upstreams: BTreeMap<String, String>,
}

/// The key-source fields of the configuration, as given.
pub struct RawKeySources {
    pub upstream: Option<String>,
    pub upstreams: Option<BTreeMap<String, String>>,
    pub jwks_uri: Option<String>,
    pub jwks: Option<Map<String, Value>>,
}

impl KeySources {
    /// The sources for `domains` (from [`domains`]). Inline keys must hold a key with a `kid`
    /// that fits one of the token `algorithms`.
    pub fn from_config(
        domains: Vec<(String, HttpUrl)>,
        raw: RawKeySources,
        algorithms: &[Algorithm],
    ) -> Result<KeySources, ConfigError> {
        let upstream = match raw.upstream {
            Some(u) => Some(upstream_name(&u).map_err(|p| ConfigError::new("upstream", p))?),
            None => None,
        };
        let upstreams = upstream_map(raw.upstreams.unwrap_or_default())?;

        let resolve = |url: &HttpUrl| -> Result<String, ConfigError> {
            upstream_for(&upstreams, upstream.as_deref(), &url.host).map(str::to_owned).ok_or_else(|| {
                ConfigError::new(
                    "upstream",
                    format!(
                        "is required to fetch {url} (or give \"upstreams\" an entry for {:?}, or give \"jwks\")",
                        url.host
                    ),
                )
            })
        };
        // One shared source (inline keys or a direct `jwks_uri`), or discovery per issuer.
        let shared = match (raw.jwks, raw.jwks_uri) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::new(
                    "jwks_uri",
                    "cannot be combined with \"jwks\"",
                ))
            }
            (Some(jwks), None) => Some(KeySource::Inline(inline_jwks(jwks, algorithms)?)),
            // http is accepted for a local issuer: the fetch goes through a configured upstream,
            // and Envoy's cluster, not the URL, decides the transport.
            (None, Some(uri)) => {
                let url = HttpUrl::parse(&uri)
                    .map_err(|e| ConfigError::new("jwks_uri", url_problem(e)))?;
                let upstream = resolve(&url)?;
                Some(KeySource::JwksUri { url, upstream })
            }
            (None, None) => None,
        };
        let mut issuers: Vec<IssuerConfig> = Vec::with_capacity(domains.len());
        let mut key_sources: Vec<KeySource> = Vec::with_capacity(domains.len());
        if let Some(source) = shared {
            key_sources.push(source);
        }
        for (domain, url) in domains {
            let key_source = if key_sources.is_empty()
                || matches!(key_sources.first(), Some(KeySource::Discovery { .. }))
            {
                let discovery = HttpUrl {
                    path: "/.well-known/openid-configuration".to_owned(),
                    query: None,
                    ..url
                };
                let upstream = resolve(&discovery)?;
                key_sources.push(KeySource::Discovery {
                    url: discovery,
                    upstream,
                });
                key_sources.len() - 1
            } else {
                0
            };
            issuers.push(IssuerConfig {
                issuer: format!("https://{domain}/"),
                domain,
                key_source,
            });
        }
        Ok(KeySources {
            issuers,
            sources: key_sources,
            upstream,
            upstreams,
        })
    }
}

/// The upstream that serves `host`: its `upstreams` entry, else `default`.
pub fn upstream_for<'a>(
    upstreams: &'a BTreeMap<String, String>,
    default: Option<&'a str>,
    host: &str,
) -> Option<&'a str> {
    upstreams
        .get(&host.to_ascii_lowercase())
        .map(String::as_str)
        .or(default)
}

fn url_problem(e: UrlError) -> String {
    format!("is not a valid URL: {e}")
}

/// The `domain` or `domains` setting: each domain with the https URL of its issuer;
/// `domain` is `host` or `host:port`.
pub fn domains(
    domain: Option<String>,
    domains: Option<Vec<String>>,
) -> Result<Vec<(String, HttpUrl)>, ConfigError> {
    let list: Vec<(String, String)> = match (domain, domains) {
        (Some(_), Some(_)) => {
            return Err(ConfigError::new(
                "domains",
                "cannot be combined with \"domain\"; give exactly one of them",
            ))
        }
        (None, None) => return Err(ConfigError::new("domain", "is required (or \"domains\")")),
        (Some(d), None) => vec![("domain".to_owned(), d)],
        (None, Some(list)) => {
            if list.is_empty() {
                return Err(ConfigError::new("domains", "must not be empty"));
            }
            if list.len() > MAX_DOMAINS {
                return Err(ConfigError::new(
                    "domains",
                    format!("must not list more than {MAX_DOMAINS} domains"),
                ));
            }
            list.into_iter()
                .enumerate()
                .map(|(i, d)| (format!("domains[{i}]"), d))
                .collect()
        }
    };
    let mut out: Vec<(String, HttpUrl)> = Vec::with_capacity(list.len());
    for (field, raw) in list {
        let url = normalize_domain(&raw).map_err(|p| ConfigError::new(field.clone(), p))?;
        let domain = url.authority();
        if out.iter().any(|(d, _)| *d == domain) {
            return Err(ConfigError::new(
                field,
                format!("repeats the domain {domain:?}"),
            ));
        }
        out.push((domain, url));
    }
    Ok(out)
}

/// An Envoy cluster name: non-empty, printable ASCII.
fn upstream_name(name: &str) -> Result<String, String> {
    if name.is_empty() {
        return Err("must not be empty".to_owned());
    }
    if name.len() > 255 || !name.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(
            "must be a cluster name: 1 to 255 printable ASCII characters without spaces".to_owned(),
        );
    }
    Ok(name.to_owned())
}

fn upstream_map(raw: BTreeMap<String, String>) -> Result<BTreeMap<String, String>, ConfigError> {
    if raw.len() > MAX_UPSTREAMS {
        return Err(ConfigError::new(
            "upstreams",
            format!("must not have more than {MAX_UPSTREAMS} entries"),
        ));
    }
    let mut out = BTreeMap::new();
    for (host, name) in raw {
        let field = format!("upstreams.{host}");
        if !crate::url::is_host_name(&host) && !is_bracketed_ipv6(&host) {
            return Err(ConfigError::new(
                field,
                "must be keyed by a host name (without scheme, port or path)",
            ));
        }
        let upstream = upstream_name(&name).map_err(|p| ConfigError::new(field.clone(), p))?;
        if out.insert(host.to_ascii_lowercase(), upstream).is_some() {
            return Err(ConfigError::new(
                field,
                "repeats a host (host names are compared case-insensitively)",
            ));
        }
    }
    Ok(out)
}

fn is_bracketed_ipv6(host: &str) -> bool {
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .is_some_and(|h| h.parse::<std::net::Ipv6Addr>().is_ok())
}

fn inline_jwks(jwks: Map<String, Value>, algorithms: &[Algorithm]) -> Result<JwkSet, ConfigError> {
    let parsed = jwk::parse_jwks_object(&jwks)
        .map_err(|e| ConfigError::new("jwks", format!("is not a valid JWKS: {e}")))?;
    let keys = parsed.keys;
    if keys.is_empty() {
        let why = parsed
            .skipped
            .first()
            .map(|s| format!(" ({s})"))
            .unwrap_or_default();
        return Err(ConfigError::new(
            "jwks",
            format!("contains no usable key{why}"),
        ));
    }
    // Tokens are matched to keys by `kid`, so a key without one can never verify anything.
    let usable = keys
        .iter()
        .any(|k| k.kid.is_some() && algorithms.iter().any(|alg| k.fits(*alg)));
    if !usable {
        return Err(ConfigError::new(
            "jwks",
            "has no key with a \"kid\" that fits any of \"algorithms\"",
        ));
    }
    Ok(keys)
}
