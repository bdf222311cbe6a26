//! The DPoP settings (`dpop_*`, `trust_forwarded_headers`): parsed, checked against each
//! other, and held as the proof checks, the replay store and the challenges read them.

use serde::Deserialize;

use crate::algorithm::{self, Algorithm};
use crate::config_error::{bounded, Bounds, ConfigError};
use crate::nonce::{self, NonceConfig, RawNonce};

/// Seconds a proof's `iat` may lie in the future.
const IAT_LEEWAY: Bounds = Bounds {
    default: 30,
    min: 0,
    max: 3600,
};
/// Seconds a proof's `iat` may lie in the past.
const IAT_OFFSET: Bounds = Bounds {
    default: 300,
    min: 1,
    max: 3600,
};
/// The algorithms a proof may be signed with, in the order challenges list them.
const ALLOWED_ALGORITHMS: [Algorithm; 5] = [
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
    Algorithm::RS256,
    Algorithm::PS256,
];
const DEFAULT_ALGORITHMS: [Algorithm; 1] = [Algorithm::ES256];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DpopConfig {
    pub enabled: bool,
    pub required: bool,
    /// Seconds a proof's `iat` may lie in the future.
    pub iat_leeway: u64,
    /// Seconds a proof's `iat` may lie in the past.
    pub iat_offset: u64,
    pub algorithms: Vec<Algorithm>,
    pub replay_check: bool,
    pub replay_scope: ReplayScope,
    pub nonce: Option<NonceConfig>,
    pub trust_forwarded_headers: bool,
}

/// Where proofs already seen are remembered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReplayScope {
    /// In the host's shared data: a proof is accepted once by all workers of the gateway.
    /// A host without shared data cannot give this, and refuses the configuration.
    Shared,
    /// In each worker's memory: a proof can be accepted once per worker. For hosts without
    /// shared data, chosen knowingly.
    Worker,
}

/// The DPoP fields of the configuration, as given.
#[derive(Default)]
pub struct RawDpop {
    pub enabled: Option<bool>,
    pub required: Option<bool>,
    pub iat_leeway: Option<u64>,
    pub iat_offset: Option<u64>,
    pub algorithms: Option<Vec<String>>,
    pub replay_check: Option<bool>,
    pub replay_scope: Option<ReplayScope>,
    pub nonce: Option<RawNonce>,
    pub trust_forwarded_headers: Option<bool>,
}

impl DpopConfig {
    /// DPoP is enabled, not required, replay-checked in shared data, without nonces, unless
    /// configured otherwise; requiring DPoP or nonces needs it enabled.
    pub fn from_config(raw: RawDpop) -> Result<DpopConfig, ConfigError> {
        let enabled = raw.enabled.unwrap_or(true);
        let required = raw.required.unwrap_or(false);
        if required && !enabled {
            return Err(ConfigError::new(
                "dpop_required",
                "requires \"dpop_enabled\": true",
            ));
        }
        let nonce = match raw.nonce {
            None => None,
            Some(_) if !enabled => {
                return Err(ConfigError::new(
                    "dpop_nonce",
                    "requires \"dpop_enabled\": true",
                ))
            }
            Some(n) => Some(nonce::nonce_from_config(n)?),
        };
        Ok(DpopConfig {
            enabled,
            required,
            iat_leeway: bounded("dpop_iat_leeway", raw.iat_leeway, IAT_LEEWAY)?,
            iat_offset: bounded("dpop_iat_offset", raw.iat_offset, IAT_OFFSET)?,
            algorithms: algorithm::parse_list(
                raw.algorithms,
                "dpop_algorithms",
                &ALLOWED_ALGORITHMS,
                &DEFAULT_ALGORITHMS,
            )?,
            replay_check: raw.replay_check.unwrap_or(true),
            replay_scope: raw.replay_scope.unwrap_or(ReplayScope::Shared),
            nonce,
            trust_forwarded_headers: raw.trust_forwarded_headers.unwrap_or(false),
        })
    }
}
