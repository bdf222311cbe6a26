//! The JWS algorithms the filter knows. `none` and the HMAC family are not representable,
//! so they can never be allowed by configuration or selected by a token.

use std::fmt;

use crate::config_error::ConfigError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    RS256,
    RS384,
    RS512,
    PS256,
    PS384,
    PS512,
    ES256,
    ES384,
    EdDSA,
}

/// Which kind of key an algorithm needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyFamily {
    Rsa,
    /// Elliptic curve named by its JWK `crv`.
    Ec(&'static str),
    Ed25519,
}

impl Algorithm {
    pub const ALL: [Algorithm; 9] = [
        Algorithm::RS256,
        Algorithm::RS384,
        Algorithm::RS512,
        Algorithm::PS256,
        Algorithm::PS384,
        Algorithm::PS512,
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::EdDSA,
    ];

    /// Exact, case-sensitive match on the JOSE name (RFC 7518 §3.1).
    pub fn from_name(name: &str) -> Option<Algorithm> {
        Algorithm::ALL.into_iter().find(|a| a.name() == name)
    }

    pub fn name(self) -> &'static str {
        match self {
            Algorithm::RS256 => "RS256",
            Algorithm::RS384 => "RS384",
            Algorithm::RS512 => "RS512",
            Algorithm::PS256 => "PS256",
            Algorithm::PS384 => "PS384",
            Algorithm::PS512 => "PS512",
            Algorithm::ES256 => "ES256",
            Algorithm::ES384 => "ES384",
            Algorithm::EdDSA => "EdDSA",
        }
    }

    pub fn key_family(self) -> KeyFamily {
        match self {
            Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::PS256
            | Algorithm::PS384
            | Algorithm::PS512 => KeyFamily::Rsa,
            Algorithm::ES256 => KeyFamily::Ec("P-256"),
            Algorithm::ES384 => KeyFamily::Ec("P-384"),
            Algorithm::EdDSA => KeyFamily::Ed25519,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A configured list of algorithm names (`field`), each one of `allowed`; `default` when
/// the field is absent. `none` and HMAC get their own explanation.
pub fn parse_list(
    names: Option<Vec<String>>,
    field: &str,
    allowed: &[Algorithm],
    default: &[Algorithm],
) -> Result<Vec<Algorithm>, ConfigError> {
    let Some(names) = names else {
        return Ok(default.to_vec());
    };
    if names.is_empty() {
        return Err(ConfigError::new(field, "must not be empty"));
    }
    let allowed_names = allowed
        .iter()
        .map(|a| a.name())
        .collect::<Vec<_>>()
        .join(", ");
    let mut out: Vec<Algorithm> = Vec::with_capacity(names.len());
    for (i, name) in names.iter().enumerate() {
        let at = format!("{field}[{i}]");
        let upper = name.to_ascii_uppercase();
        let alg = match Algorithm::from_name(name) {
            Some(alg) if allowed.contains(&alg) => alg,
            Some(_) => {
                return Err(ConfigError::new(at, format!("{name:?} is not allowed here; use one of {allowed_names}")))
            }
            None if upper == "NONE" => {
                return Err(ConfigError::new(at, "\"none\" is never allowed: it means an unsigned token"))
            }
            None if upper.starts_with("HS") => {
                return Err(ConfigError::new(
                    at,
                    format!("{name:?} is a symmetric algorithm and is never allowed; use one of {allowed_names}"),
                ))
            }
            None => return Err(ConfigError::new(at, format!("unknown algorithm {name:?}; use one of {allowed_names}"))),
        };
        if out.contains(&alg) {
            return Err(ConfigError::new(at, format!("repeats {name:?}")));
        }
        out.push(alg);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for alg in Algorithm::ALL {
            assert_eq!(Algorithm::from_name(alg.name()), Some(alg));
        }
    }

    #[test]
    fn none_hmac_and_wrong_case_are_unknown() {
        for name in [
            "none", "None", "HS256", "HS384", "HS512", "rs256", "ES512", "",
        ] {
            assert_eq!(Algorithm::from_name(name), None, "{name}");
        }
    }
}
