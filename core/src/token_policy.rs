//! The token settings: which algorithms, audiences and clock skew a token is checked
//! against, and which claims hold its scopes (`algorithms`, `audience`,
//! `clock_skew_seconds`, `scope_claims`).

use serde_json::Value;

use crate::algorithm::{self, Algorithm};
use crate::config_error::{bounded, check_text, Bounds, ConfigError};

/// Most audiences accepted.
const MAX_AUDIENCES: usize = 32;
/// Most claims scopes are read from.
const MAX_SCOPE_CLAIMS: usize = 8;
/// Seconds of clock difference tolerated on `exp`, `nbf` and `iat`.
const CLOCK_SKEW: Bounds = Bounds {
    default: 60,
    min: 0,
    max: 3600,
};
/// The token algorithms accepted unless configured.
const DEFAULT_ALGORITHMS: [Algorithm; 1] = [Algorithm::RS256];
/// Where scopes are read from unless configured.
const DEFAULT_SCOPE_CLAIMS: [&str; 2] = ["scope", "scp"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenPolicy {
    pub algorithms: Vec<Algorithm>,
    pub audiences: Vec<String>,
    /// Seconds of clock difference tolerated on `exp`, `nbf` and `iat`.
    pub clock_skew: u64,
    pub scope_claims: Vec<String>,
}

/// The token fields of the configuration, as given.
pub struct RawTokenPolicy {
    pub audience: Option<Value>,
    pub algorithms: Option<Vec<String>>,
    pub clock_skew_seconds: Option<u64>,
    pub scope_claims: Option<Vec<String>>,
}

impl TokenPolicy {
    /// An audience is required; RS256, 60 s and `scope`/`scp` are the defaults.
    pub fn from_config(raw: RawTokenPolicy) -> Result<TokenPolicy, ConfigError> {
        Ok(TokenPolicy {
            audiences: audiences(raw.audience)?,
            algorithms: algorithm::parse_list(
                raw.algorithms,
                "algorithms",
                &Algorithm::ALL,
                &DEFAULT_ALGORITHMS,
            )?,
            clock_skew: bounded("clock_skew_seconds", raw.clock_skew_seconds, CLOCK_SKEW)?,
            scope_claims: scope_claims(raw.scope_claims)?,
        })
    }
}

fn audiences(value: Option<Value>) -> Result<Vec<String>, ConfigError> {
    let field = "audience";
    let list = match value {
        None => return Err(ConfigError::new(field, "is required")),
        Some(Value::String(s)) => vec![(field.to_owned(), Value::String(s))],
        Some(Value::Array(items)) => {
            if items.is_empty() {
                return Err(ConfigError::new(field, "must not be empty"));
            }
            if items.len() > MAX_AUDIENCES {
                return Err(ConfigError::new(
                    field,
                    format!("must not list more than {MAX_AUDIENCES} audiences"),
                ));
            }
            items
                .into_iter()
                .enumerate()
                .map(|(i, v)| (format!("{field}[{i}]"), v))
                .collect()
        }
        Some(_) => {
            return Err(ConfigError::new(
                field,
                "must be a string or a list of strings",
            ))
        }
    };
    let mut out: Vec<String> = Vec::with_capacity(list.len());
    for (field, v) in list {
        let Value::String(s) = v else {
            return Err(ConfigError::new(field, "must be a string"));
        };
        check_text(&field, &s)?;
        if out.contains(&s) {
            return Err(ConfigError::new(
                field,
                format!("repeats the audience {s:?}"),
            ));
        }
        out.push(s);
    }
    Ok(out)
}

fn scope_claims(raw: Option<Vec<String>>) -> Result<Vec<String>, ConfigError> {
    let Some(list) = raw else {
        return Ok(DEFAULT_SCOPE_CLAIMS.map(str::to_owned).to_vec());
    };
    if list.is_empty() {
        return Err(ConfigError::new("scope_claims", "must not be empty"));
    }
    if list.len() > MAX_SCOPE_CLAIMS {
        return Err(ConfigError::new(
            "scope_claims",
            format!("must not list more than {MAX_SCOPE_CLAIMS} claims"),
        ));
    }
    let mut out: Vec<String> = Vec::with_capacity(list.len());
    for (i, claim) in list.into_iter().enumerate() {
        let field = format!("scope_claims[{i}]");
        check_text(&field, &claim)?;
        if out.contains(&claim) {
            return Err(ConfigError::new(field, format!("repeats {claim:?}")));
        }
        out.push(claim);
    }
    Ok(out)
}
