//! Scopes a token grants and whether they cover what a route requires.
//!
//! Issuers disagree on the claim: Auth0 and RFC 9068 use `scope` (one space-separated string,
//! RFC 6749 §3.3), Okta and Azure AD use `scp` (an array, or a string). Every configured claim
//! is read and the results are united. A claim of any other shape makes the token invalid
//! rather than granting nothing, so a malformed token is reported as what it is.

use serde_json::{Map, Value};
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScopeError {
    /// The claim is neither a string nor an array of strings.
    InvalidClaim { claim: String },
}

impl fmt::Display for ScopeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScopeError::InvalidClaim { claim } => {
                write!(f, "claim {claim:?} must be a string or an array of strings")
            }
        }
    }
}

/// Every scope granted by the configured claims, in claim order, without duplicates or
/// empty entries. A missing claim grants nothing.
pub fn granted(
    claims: &Map<String, Value>,
    scope_claims: &[String],
) -> Result<Vec<String>, ScopeError> {
    let mut out: Vec<String> = Vec::new();
    let mut add = |scope: &str| {
        if !scope.is_empty() && !out.iter().any(|s| s == scope) {
            out.push(scope.to_owned());
        }
    };
    for name in scope_claims {
        let invalid = || ScopeError::InvalidClaim {
            claim: name.clone(),
        };
        match claims.get(name) {
            None => {}
            // RFC 6749 §3.3 delimits scopes with a space (%x20) only.
            Some(Value::String(s)) => s.split(' ').for_each(&mut add),
            Some(Value::Array(items)) => {
                for item in items {
                    add(item.as_str().ok_or_else(invalid)?);
                }
            }
            Some(_) => return Err(invalid()),
        }
    }
    Ok(out)
}

/// True when every required scope is granted (exact, case-sensitive comparison).
pub fn satisfies(granted: &[String], required: &[String]) -> bool {
    required.iter().all(|r| granted.iter().any(|g| g == r))
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

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn granted_scopes() {
        let default_claims = strings(&["scope", "scp"]);
        let cases = [
            (json!({}), Ok(strings(&[]))),
            (json!({"scope": ""}), Ok(strings(&[]))),
            (
                json!({"scope": "read:messages"}),
                Ok(strings(&["read:messages"])),
            ),
            (json!({"scope": "a b  c "}), Ok(strings(&["a", "b", "c"]))),
            (json!({"scope": "a\tb"}), Ok(strings(&["a\tb"]))),
            (json!({"scp": ["a", "b"]}), Ok(strings(&["a", "b"]))),
            (json!({"scp": []}), Ok(strings(&[]))),
            (
                json!({"scope": "a b", "scp": ["b", "c"]}),
                Ok(strings(&["a", "b", "c"])),
            ),
            (json!({"scp": "x y"}), Ok(strings(&["x", "y"]))),
            (json!({"scope": "a a"}), Ok(strings(&["a"]))),
            (
                json!({"scope": 1}),
                Err(ScopeError::InvalidClaim {
                    claim: "scope".to_owned(),
                }),
            ),
            (
                json!({"scope": null}),
                Err(ScopeError::InvalidClaim {
                    claim: "scope".to_owned(),
                }),
            ),
            (
                json!({"scope": {"a": 1}}),
                Err(ScopeError::InvalidClaim {
                    claim: "scope".to_owned(),
                }),
            ),
            (
                json!({"scope": true}),
                Err(ScopeError::InvalidClaim {
                    claim: "scope".to_owned(),
                }),
            ),
            (
                json!({"scope": "a", "scp": ["b", 2]}),
                Err(ScopeError::InvalidClaim {
                    claim: "scp".to_owned(),
                }),
            ),
            (
                json!({"scp": [["a"]]}),
                Err(ScopeError::InvalidClaim {
                    claim: "scp".to_owned(),
                }),
            ),
        ];
        for (c, want) in cases {
            assert_eq!(granted(&claims(c.clone()), &default_claims), want, "{c}");
        }
    }

    #[test]
    fn only_configured_claims_count() {
        let c = claims(json!({"scope": 5, "permissions": ["read:all"]}));
        assert_eq!(
            granted(&c, &strings(&["permissions"])),
            Ok(strings(&["read:all"]))
        );
    }

    #[test]
    fn satisfaction() {
        let g = strings(&["read:messages", "write:data"]);
        let cases: [(&[&str], bool); 6] = [
            (&[], true),
            (&["read:messages"], true),
            (&["read:messages", "write:data"], true),
            (&["read:data"], false),
            (&["read:messages", "read:data"], false),
            (&["READ:MESSAGES"], false),
        ];
        for (required, want) in cases {
            assert_eq!(satisfies(&g, &strings(required)), want, "{required:?}");
        }
        assert!(!satisfies(&[], &strings(&["a"])));
    }

    #[test]
    fn error_text() {
        let e = ScopeError::InvalidClaim {
            claim: "scp".to_owned(),
        };
        assert_eq!(
            e.to_string(),
            "claim \"scp\" must be a string or an array of strings"
        );
    }
}
