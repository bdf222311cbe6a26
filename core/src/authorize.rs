//! The decision for one request, as a list of named steps in the contract's order: which rule
//! applies, which credentials came, whether the access token holds (from the verified-token
//! cache when it can), whether the DPoP proof holds, whether the scopes suffice. The shell
//! applies the [`Decision`]; `NeedKeys` means "fetch these keys, then ask again".

use crate::access_token::{self, Rejected, VerifiedToken};
use crate::config::Config;
use crate::dpop::{self, ForwardedHeaders, ProofError, ProofTarget};
use crate::extract::{self, Credentials, DpopHeader};
use crate::host_verify::SignatureHost;
use crate::jwks_cache::{CachePolicy, FetchReason, KeyCache, Lookup};
use crate::key_source::KeySource;
use crate::nonce::{NonceCheck, Nonces};
use crate::proof_keys::ProofKeys;
use crate::rejection::{Denial, Scheme};
use crate::replay::{self, ReplayError};
use crate::rules::Requirement;
use crate::scope;
use crate::token_cache::TokenCache;
use std::rc::Rc;

/// Verified tokens kept per worker. Sized for the distinct tokens a busy gateway sees within
/// their lifetime; each entry holds one token's claims (typically well under 1 KiB).
pub const TOKEN_CACHE_ENTRIES: usize = 4096;

/// DPoP proof keys kept per worker: one per active client key. A P-256 entry holds about 4 KiB
/// of precomputed multiples, so the bound keeps this near 4 MiB.
pub const PROOF_KEY_ENTRIES: usize = 1024;

/// What the shell read from the request.
#[derive(Debug, Clone, Copy)]
pub struct RequestView<'a> {
    pub method: &'a str,
    /// `:path`, with its query string.
    pub path: &'a str,
    /// `https` when the downstream connection uses TLS, else `http`.
    pub scheme: &'a str,
    pub authority: &'a str,
    pub authorization: Option<&'a str>,
    /// Every `DPoP` header line.
    pub dpop: &'a [String],
    /// `X-Forwarded-*` lines, read only when the configuration trusts them.
    pub forwarded: &'a [(String, String)],
    /// `OPTIONS` with both `Origin` and `Access-Control-Request-Method`.
    pub cors_preflight: bool,
}

/// Where proofs already seen are remembered: the host's shared data in production.
pub trait ReplayStore {
    /// Records the proof `hash` until `expires_at`, or says it was seen or cannot be stored.
    fn record(&mut self, hash: u64, expires_at: u64, now: u64) -> Result<(), ReplayError>;
}

#[derive(Debug)]
pub enum Decision {
    /// Let the request through without identity headers.
    Pass(PassReason),
    /// A valid token: let the request through with its identity headers.
    Allow(Allowed),
    Deny(Denial),
    NeedKeys {
        source: usize,
        reason: FetchReason,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PassReason {
    PublicRoute,
    CorsPreflight,
}

#[derive(Debug)]
pub struct Allowed {
    pub token: Rc<VerifiedToken>,
    /// A fresh `DPoP-Nonce` for the response: the proof's nonce is past half its lifetime.
    pub next_nonce: Option<String>,
}

/// Everything one worker keeps to decide requests.
#[derive(Debug)]
pub struct Gate {
    pub config: Rc<Config>,
    pub keys: KeyCache,
    pub tokens: TokenCache,
    proof_keys: ProofKeys,
    nonces: NonceSetup,
    /// The host's own signature check, once the shell found one that passes its self-test.
    signature_host: Option<Box<dyn SignatureHost>>,
}

#[derive(Debug)]
enum NonceSetup {
    Off,
    On(Nonces),
    /// Configured but unusable: proofs are refused rather than accepted without nonces.
    Broken,
}

impl Gate {
    pub fn new(config: Rc<Config>, keys: KeyCache) -> Gate {
        let nonces = match &config.dpop.nonce {
            None => NonceSetup::Off,
            Some(n) => Nonces::from_config(n).map_or(NonceSetup::Broken, NonceSetup::On),
        };
        Gate {
            tokens: TokenCache::new(TOKEN_CACHE_ENTRIES),
            proof_keys: ProofKeys::new(PROOF_KEY_ENTRIES),
            config,
            keys,
            nonces,
            signature_host: None,
        }
    }

    /// Lets the host check the RSA signatures it can check ([`crate::host_verify`]); the
    /// caller has run [`crate::host_verify::self_test`] on it.
    pub fn use_signature_host(&mut self, host: Box<dyn SignatureHost>) {
        self.signature_host = Some(host);
    }

    /// A gate for `config` with its inline keys installed and every fetched source empty.
    pub fn from_config(config: Rc<Config>) -> Gate {
        let policy = CachePolicy {
            ttl: config.jwks_cache_ttl,
            min_refresh_interval: config.jwks_min_refresh_interval,
            max_stale: config.jwks_max_stale,
            // Discovery, then the JWKS, each within the callout timeout.
            fetch_lease: (2 * config.http_timeout_ms).div_ceil(1000) + 1,
        };
        let mut keys = KeyCache::new(config.key_sources.len(), policy);
        for (index, source) in config.key_sources.iter().enumerate() {
            if let KeySource::Inline(set) = source {
                keys.install_static(index, Rc::new(set.clone()));
            }
        }
        Gate::new(config, keys)
    }

    /// How many DPoP client keys are kept for later proofs.
    pub fn kept_client_keys(&self) -> usize {
        self.proof_keys.len()
    }

    /// Keys of `source` changed: tokens they vouched for must be checked again.
    pub fn keys_changed(&mut self, source: usize) {
        self.tokens.purge_source(source);
    }

    pub fn authorize(
        &mut self,
        req: &RequestView<'_>,
        replay: &mut dyn ReplayStore,
        now_ms: u64,
    ) -> Decision {
        match self.decide(req, replay, now_ms) {
            Ok(decision) | Err(decision) => decision,
        }
    }

    /// `Err` carries an early answer so each step can use `?`.
    fn decide(
        &mut self,
        req: &RequestView<'_>,
        replay: &mut dyn ReplayStore,
        now_ms: u64,
    ) -> Result<Decision, Decision> {
        let config = Rc::clone(&self.config);
        if config.bypass_cors_preflight && req.cors_preflight {
            return Ok(Decision::Pass(PassReason::CorsPreflight));
        }
        let (required_scopes, accepts) = match config.rules.requirement(req.method, req.path) {
            Requirement::Public => return Ok(Decision::Pass(PassReason::PublicRoute)),
            Requirement::Token { scopes, accepts } => (scopes, accepts),
        };
        let now = now_ms / 1000;
        let (scheme, allowed) = match extract::credentials(req.authorization) {
            Credentials::Missing => return Err(deny(Denial::NoCredentials)),
            Credentials::Multiple => {
                return Err(invalid_request(
                    Scheme::Bearer,
                    "Multiple credentials are not allowed",
                ))
            }
            Credentials::Bearer(token) => (Scheme::Bearer, self.bearer(token, req, now)?),
            Credentials::DPoP(token) => (Scheme::DPoP, self.dpop(token, req, replay, now_ms)?),
        };
        if let Err(problem) = access_token::route_accepts(&allowed.token.claims, accepts) {
            return Err(invalid_token(scheme, problem));
        }
        if !scope::satisfies(&allowed.token.scopes, required_scopes) {
            return Err(deny(Denial::InsufficientScope {
                scheme,
                scopes: required_scopes.join(" "),
            }));
        }
        Ok(Decision::Allow(allowed))
    }

    fn bearer(
        &mut self,
        token: &str,
        req: &RequestView<'_>,
        now: u64,
    ) -> Result<Allowed, Decision> {
        let dpop = &self.config.dpop;
        if dpop.required {
            return Err(invalid_request(
                Scheme::Bearer,
                "DPoP-bound access token is required",
            ));
        }
        let verified = self.access_token(token, Scheme::Bearer, now)?;
        if self.config.dpop.enabled {
            if dpop::is_bound(&verified.claims) {
                return Err(invalid_token(Scheme::Bearer, dpop::BOUND_TOKEN_ON_BEARER));
            }
            if !req.dpop.is_empty() {
                return Err(invalid_request(Scheme::Bearer, dpop::PROOF_ON_BEARER));
            }
        }
        Ok(Allowed {
            token: verified,
            next_nonce: None,
        })
    }

    fn dpop(
        &mut self,
        token: &str,
        req: &RequestView<'_>,
        replay: &mut dyn ReplayStore,
        now_ms: u64,
    ) -> Result<Allowed, Decision> {
        let config = Rc::clone(&self.config);
        let policy = &config.dpop;
        if !policy.enabled {
            return Err(invalid_request(Scheme::DPoP, "DPoP is not enabled"));
        }
        let now = now_ms / 1000;
        let lines: Vec<&str> = req.dpop.iter().map(String::as_str).collect();
        let proof = match extract::dpop_proof(&lines) {
            DpopHeader::One(proof) => proof,
            DpopHeader::Absent => {
                return Err(invalid_request(Scheme::DPoP, "DPoP proof is missing"))
            }
            DpopHeader::Multiple => return Err(invalid_proof(ProofError::Multiple)),
        };
        let proof = dpop::decode_proof(proof).map_err(invalid_proof)?;

        let verified = self.access_token(token, Scheme::DPoP, now)?;
        let jkt =
            dpop::confirmation(&verified.claims).map_err(|e| invalid_token(Scheme::DPoP, e))?;

        let forwarded = policy.trust_forwarded_headers.then(|| {
            ForwardedHeaders::from_headers(
                req.forwarded.iter().map(|(n, v)| (n.as_str(), v.as_str())),
            )
        });
        let url = dpop::request_url(req.scheme, req.authority, req.path, forwarded.as_ref());
        let target = ProofTarget {
            method: req.method,
            url: url.as_deref(),
        };
        let ath = verified.ath(token);
        let proven = dpop::verify_proof(&proof, &mut self.proof_keys, &target, ath, policy, now)
            .map_err(invalid_proof)?;
        // A new client key is kept once a valid proof shows it is the token's; the binding
        // is still reported after the nonce and replay checks, as the contract orders them.
        if dpop::check_binding(jkt, &proven).is_ok() {
            self.proof_keys.keep_last();
        }

        let mut next_nonce = None;
        let nonces = match &self.nonces {
            NonceSetup::Off => None,
            NonceSetup::On(nonces) => Some(nonces),
            NonceSetup::Broken => return Err(deny(Denial::Internal)),
        };
        if let Some(nonces) = nonces {
            match nonces.check(proven.nonce.as_deref(), now_ms) {
                NonceCheck::Valid { refresh } => next_nonce = refresh.then(|| nonces.issue(now_ms)),
                other => {
                    let description = other.description().unwrap_or("DPoP proof nonce is invalid");
                    return Err(deny(Denial::UseDpopNonce {
                        description: description.into(),
                        nonce: nonces.issue(now_ms),
                    }));
                }
            }
        }
        if policy.replay_check {
            let hash = replay::entry_hash(&proven.jkt, &proven.jti);
            match replay.record(hash, replay::remember_until(proven.iat, policy), now) {
                Ok(()) => {}
                Err(ReplayError::Replayed) => return Err(invalid_proof(ProofError::Replayed)),
                Err(ReplayError::Full { retry_after }) => {
                    return Err(deny(Denial::Unavailable { retry_after }))
                }
            }
        }
        dpop::check_binding(jkt, &proven).map_err(|e| invalid_token(Scheme::DPoP, e))?;
        Ok(Allowed {
            token: verified,
            next_nonce,
        })
    }

    /// The access token, from the verified-token cache or checked in full and then cached.
    /// A cached token still needs its key to be usable now: keys past `jwks_max_stale` vouch
    /// for nothing, cached or not.
    fn access_token(
        &mut self,
        token: &str,
        scheme: Scheme,
        now: u64,
    ) -> Result<Rc<VerifiedToken>, Decision> {
        if let Some(hit) = self.tokens.get(token, self.config.token.clock_skew, now) {
            if matches!(
                self.keys.lookup(hit.source, &hit.kid, now),
                Lookup::Found(_)
            ) {
                return Ok(hit);
            }
        }
        let host = self
            .signature_host
            .as_mut()
            .map(|h| h.as_mut() as &mut dyn SignatureHost);
        match access_token::verify(token, &self.config, &self.keys, now, host) {
            Ok(verified) => {
                let verified = Rc::new(verified);
                self.tokens.insert(token, Rc::clone(&verified));
                Ok(verified)
            }
            Err(Rejected::Invalid(e)) => Err(invalid_token(scheme, e)),
            Err(Rejected::NeedKeys { source, reason }) => {
                Err(Decision::NeedKeys { source, reason })
            }
            Err(Rejected::Unavailable { retry_after }) => {
                Err(deny(Denial::Unavailable { retry_after }))
            }
        }
    }
}

fn deny(denial: Denial) -> Decision {
    Decision::Deny(denial)
}

fn invalid_request(scheme: Scheme, description: &'static str) -> Decision {
    deny(Denial::InvalidRequest {
        scheme,
        description: description.into(),
    })
}

fn invalid_token(scheme: Scheme, error: impl std::fmt::Display) -> Decision {
    deny(Denial::InvalidToken {
        scheme,
        description: error.to_string().into(),
    })
}

fn invalid_proof(error: ProofError) -> Decision {
    deny(Denial::InvalidDpopProof {
        description: error.description(),
    })
}
