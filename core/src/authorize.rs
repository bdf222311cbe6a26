//! The decision for one request: which rule applies, which credentials came, whether the token
//! holds, whether its scopes suffice. The shell applies the [`Decision`]; a `NeedKeys` answer
//! means "fetch these keys, then ask again with the same request".

use crate::access_token::{self, KeyStore, Rejected, VerifiedToken};
use crate::config::Config;
use crate::extract::{self, Credentials};
use crate::jwks_cache::FetchReason;
use crate::rejection::{Denial, Scheme};
use crate::rules::Requirement;

/// What the shell read from the request.
#[derive(Debug, Clone, Copy)]
pub struct RequestView<'a> {
    pub method: &'a str,
    /// `:path`, with its query string.
    pub path: &'a str,
    pub authorization: Option<&'a str>,
    /// `OPTIONS` with both `Origin` and `Access-Control-Request-Method`.
    pub cors_preflight: bool,
}

#[derive(Debug)]
pub enum Decision {
    /// Let the request through without identity headers.
    Pass(PassReason),
    /// A valid token: let the request through with these identity headers.
    Allow(VerifiedToken),
    Deny(Denial),
    NeedKeys { source: usize, reason: FetchReason },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PassReason {
    PublicRoute,
    CorsPreflight,
}

pub fn authorize(config: &Config, keys: &dyn KeyStore, req: &RequestView<'_>, now: u64) -> Decision {
    if config.bypass_cors_preflight && req.cors_preflight {
        return Decision::Pass(PassReason::CorsPreflight);
    }
    let required_scopes = match config.rules.requirement(req.method, req.path) {
        Requirement::Public => return Decision::Pass(PassReason::PublicRoute),
        Requirement::Token { scopes } => scopes,
    };
    let (scheme, token) = match extract::credentials(req.authorization) {
        Credentials::Missing => return Decision::Deny(Denial::NoCredentials),
        Credentials::Multiple => {
            return Decision::Deny(Denial::InvalidRequest {
                scheme: Scheme::Bearer,
                description: "Multiple credentials are not allowed".into(),
            })
        }
        Credentials::Bearer(token) => (Scheme::Bearer, token),
        Credentials::DPoP(_) => {
            return Decision::Deny(Denial::InvalidRequest {
                scheme: Scheme::DPoP,
                description: "DPoP proofs are not verified by this version".into(),
            })
        }
    };
    let verified = match access_token::verify(token, config, keys, now) {
        Ok(v) => v,
        Err(Rejected::Invalid(e)) => {
            return Decision::Deny(Denial::InvalidToken { scheme, description: e.to_string().into() })
        }
        Err(Rejected::NeedKeys { source, reason }) => return Decision::NeedKeys { source, reason },
        Err(Rejected::Unavailable { retry_after }) => return Decision::Deny(Denial::Unavailable { retry_after }),
    };
    if !required_scopes.iter().all(|s| verified.scopes.iter().any(|g| g == s)) {
        return Decision::Deny(Denial::InsufficientScope { scheme, scopes: required_scopes.join(" ") });
    }
    Decision::Allow(verified)
}
