//! The response contract as assertions over real HTTP responses, the one way every
//! end-to-end test states what a refusal must be: status, `error`, `error_description`, the
//! exact `WWW-Authenticate` line, `content-type`, the JSON body
//! `{"detail": {"error", "error_description"}}`, `Retry-After` on 503, no `DPoP-Nonce`
//! except on `use_dpop_nonce`, and (through [`Target`]) that the upstream never saw the
//! request.
//!
//! A [`Refusal`] names its description, or leaves it to the filter: the description is then
//! read from the body and must appear, byte for byte, in the challenge, so the two can never
//! disagree.

#![allow(dead_code)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{EchoHandle, Echoed, Gateway, Request, Response, Stack, MAIN_LISTENER};

// Descriptions the response contract fixes word for word.
pub const NO_AUTHORIZATION: &str = "No Authorization provided";
pub const INSUFFICIENT_SCOPES: &str = "Insufficient scopes";
pub const EXPIRED: &str = "Token has expired";
pub const BAD_TOKEN_SIGNATURE: &str = "Invalid token signature";
pub const MULTIPLE_CREDENTIALS: &str = "Multiple credentials are not allowed";
pub const UNDECODABLE: &str = "Failed to verify DPoP proof";
pub const IAT_TOO_OLD: &str = "DPoP Proof iat is too old";
pub const IAT_FROM_FUTURE: &str = "DPoP Proof iat is from the future";
pub const REPLAYED: &str = "DPoP proof has already been used";
pub const MULTIPLE_PROOFS: &str = "Multiple DPoP proofs are not allowed";
pub const NO_JKT: &str = "JWT Access Token has no jkt confirmation claim";
pub const CNF_FORMAT: &str = "JWT Access Token has invalid confirmation claim format";
pub const CNF_WITHOUT_JKT: &str = "Access token 'cnf' claim missing 'jkt'";
pub const JKT_MISMATCH: &str = "JWT Access Token confirmation mismatch";
pub const BOUND_TOKEN_ON_BEARER: &str =
    "DPoP-bound token requires the DPoP authentication scheme, not Bearer";
pub const PROOF_ON_BEARER: &str = "DPoP proof requires DPoP authentication scheme, not Bearer";

// Descriptions the contract leaves to the filter (it fixes only status and error code);
// pinned here so that a change of wording is a visible decision.
pub const BAD_TYP: &str = "Invalid DPoP proof typ";
pub const BAD_ALG: &str = "Unsupported DPoP proof algorithm";
pub const BAD_JWK: &str = "Invalid DPoP proof jwk";
pub const BAD_SIGNATURE: &str = "Invalid DPoP proof signature";
pub const BAD_JTI: &str = "Invalid DPoP proof jti";
pub const BAD_IAT: &str = "Invalid DPoP proof iat";
pub const HTM_MISMATCH: &str = "DPoP proof htm mismatch";
pub const HTU_MISMATCH: &str = "DPoP proof htu mismatch";
pub const ATH_MISMATCH: &str = "DPoP proof ath mismatch";
pub const PROOF_MISSING: &str = "DPoP proof is missing";
pub const DPOP_DISABLED: &str = "DPoP is not enabled";
pub const DPOP_REQUIRED: &str = "DPoP-bound access token is required";
pub const NONCE_MISSING: &str = "Resource server requires nonce in DPoP proof";
pub const NONCE_INVALID: &str = "DPoP proof nonce is invalid";
pub const NONCE_EXPIRED: &str = "DPoP proof nonce has expired";

/// The schemes one filter configuration offers in its challenges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    /// The Bearer challenge's realm; `None` when only DPoP is accepted (`dpop_required`).
    pub realm: Option<String>,
    /// The `algs` of the DPoP challenge; `None` when DPoP is disabled.
    pub dpop_algs: Option<String>,
}

/// Which challenge carries the error attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Bearer,
    Dpop,
}

/// What the `WWW-Authenticate` line must be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// No challenge at all (503).
    Absent,
    /// The offered schemes without error attributes.
    Plain(Offer),
    /// The offered schemes, `on` carrying the error, its description and `scope`.
    Error {
        offer: Offer,
        on: Scheme,
        scope: Option<String>,
    },
}

/// An expected refusal, stated whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    pub error: &'static str,
    /// `None`: the filter's own wording, any one clean line.
    pub description: Option<String>,
    pub challenge: Line,
}

/// Realm `api`, DPoP enabled with ES256: the demo configuration.
pub fn default_offer() -> Offer {
    Offer::new(Some("api"), Some(&["ES256"]))
}

impl Offer {
    pub fn new(realm: Option<&str>, dpop_algs: Option<&[&str]>) -> Offer {
        Offer {
            realm: realm.map(str::to_string),
            dpop_algs: dpop_algs.map(|algs| algs.join(" ")),
        }
    }

    /// The same offer with DPoP advertising `algs`.
    pub fn algs(&self, algs: &[&str]) -> Offer {
        Offer::new(self.realm.as_deref(), Some(algs))
    }

    fn error(&self, status: u16, error: &'static str, on: Scheme) -> Refusal {
        Refusal {
            status,
            error,
            description: None,
            challenge: Line::Error {
                offer: self.clone(),
                on,
                scope: None,
            },
        }
    }

    /// 401 `invalid_request` with the plain challenge (no, empty or foreign credentials).
    pub fn no_credentials(&self) -> Refusal {
        Refusal {
            status: 401,
            error: "invalid_request",
            description: None,
            challenge: Line::Plain(self.clone()),
        }
    }

    /// 401 `invalid_token` on the Bearer challenge.
    pub fn invalid_token(&self) -> Refusal {
        self.error(401, "invalid_token", Scheme::Bearer)
    }

    /// 400 `invalid_request` on the Bearer challenge.
    pub fn invalid_request(&self) -> Refusal {
        self.error(400, "invalid_request", Scheme::Bearer)
    }

    /// 403 `insufficient_scope`, `Insufficient scopes`, `scope` naming `scopes`.
    pub fn insufficient_scope(&self, scopes: &str) -> Refusal {
        Refusal {
            challenge: Line::Error {
                offer: self.clone(),
                on: Scheme::Bearer,
                scope: Some(scopes.to_string()),
            },
            ..self
                .error(403, "insufficient_scope", Scheme::Bearer)
                .described(INSUFFICIENT_SCOPES)
        }
    }

    /// 401 `use_dpop_nonce` on the DPoP challenge; the response also hands out a nonce.
    pub fn use_dpop_nonce(&self, description: &str) -> Refusal {
        self.error(401, "use_dpop_nonce", Scheme::Dpop)
            .described(description)
    }

    /// 401 `invalid_dpop_proof` on the DPoP challenge.
    pub fn invalid_dpop_proof(&self, description: &str) -> Refusal {
        self.error(401, "invalid_dpop_proof", Scheme::Dpop)
            .described(description)
    }
}

impl Refusal {
    /// The same refusal with its description fixed.
    pub fn described(mut self, description: &str) -> Refusal {
        self.description = Some(description.to_string());
        self
    }

    /// The same refusal with the error on the DPoP challenge.
    pub fn on_dpop(mut self) -> Refusal {
        if let Line::Error { on, .. } = &mut self.challenge {
            *on = Scheme::Dpop;
        }
        self
    }

    /// The `WWW-Authenticate` line this refusal carries with `description`.
    pub fn challenge_line(&self, description: &str) -> Option<String> {
        let (offer, error) = match &self.challenge {
            Line::Absent => return None,
            Line::Plain(offer) => (offer, None),
            Line::Error { offer, on, scope } => (offer, Some((*on, scope))),
        };
        let attributes = |scope: &Option<String>| {
            let mut out = format!(
                "error=\"{}\", error_description=\"{description}\"",
                self.error
            );
            if let Some(scope) = scope {
                out.push_str(&format!(", scope=\"{scope}\""));
            }
            out
        };
        let mut parts = Vec::new();
        if let Some(realm) = &offer.realm {
            let mut bearer = format!("Bearer realm=\"{realm}\"");
            if let Some((Scheme::Bearer, scope)) = error {
                bearer.push_str(&format!(", {}", attributes(scope)));
            }
            parts.push(bearer);
        }
        if let Some(algs) = &offer.dpop_algs {
            let algs = format!("algs=\"{algs}\"");
            parts.push(match error {
                Some((Scheme::Dpop, scope)) => format!("DPoP {}, {algs}", attributes(scope)),
                _ => format!("DPoP {algs}"),
            });
        }
        Some(parts.join(", "))
    }

    /// Asserts that `response` is this refusal; returns its description.
    pub fn check(&self, response: &Response, case: &str) -> String {
        let description = body_refusal(response, self.status, self.error, case);
        if let Some(expected) = &self.description {
            assert_eq!(&description, expected, "{case}: error_description");
        }
        let challenges = response.header_values("www-authenticate");
        match self.challenge_line(&description) {
            Some(line) => assert_eq!(
                challenges,
                vec![line.as_str()],
                "{case}: exactly this WWW-Authenticate line"
            ),
            None => assert_eq!(challenges, Vec::<&str>::new(), "{case}: no challenge"),
        }
        if self.status == 503 {
            retry_after(response, case);
        }
        if self.error != "use_dpop_nonce" {
            assert_eq!(
                response.header("dpop-nonce"),
                None,
                "{case}: only use_dpop_nonce carries a nonce"
            );
        }
        description
    }
}

pub fn no_credentials() -> Refusal {
    default_offer().no_credentials()
}

pub fn invalid_token() -> Refusal {
    default_offer().invalid_token()
}

pub fn invalid_request() -> Refusal {
    default_offer().invalid_request()
}

pub fn insufficient_scope(scopes: &str) -> Refusal {
    default_offer().insufficient_scope(scopes)
}

pub fn invalid_dpop_proof(description: &str) -> Refusal {
    default_offer().invalid_dpop_proof(description)
}

pub fn use_dpop_nonce(description: &str) -> Refusal {
    default_offer().use_dpop_nonce(description)
}

/// 503 `temporarily_unavailable`, no challenge, `Retry-After` of whole seconds (at least 1).
pub fn unavailable() -> Refusal {
    Refusal {
        status: 503,
        error: "temporarily_unavailable",
        description: None,
        challenge: Line::Absent,
    }
}

/// The `Retry-After` seconds of a response, which must be whole and at least 1.
pub fn retry_after(response: &Response, case: &str) -> u64 {
    let value = response
        .header("retry-after")
        .unwrap_or_else(|| panic!("{case}: a 503 must carry Retry-After"));
    let seconds: u64 = value
        .parse()
        .unwrap_or_else(|_| panic!("{case}: Retry-After {value:?} is not whole seconds"));
    assert!(seconds >= 1, "{case}: Retry-After {seconds}");
    seconds
}

/// Checks status, `content-type` and the body's shape and error; returns the description.
fn body_refusal(response: &Response, status: u16, error: &str, case: &str) -> String {
    assert_eq!(
        response.status,
        status,
        "{case}: status (body: {})",
        response.text()
    );
    assert_eq!(
        response.header_values("content-type"),
        vec!["application/json"],
        "{case}: content-type"
    );
    let body = response
        .json()
        .unwrap_or_else(|| panic!("{case}: body is not JSON: {:?}", response.text()));
    let detail = body
        .as_object()
        .filter(|top| top.len() == 1)
        .and_then(|top| top.get("detail"))
        .and_then(Value::as_object)
        .filter(|detail| detail.len() == 2)
        .unwrap_or_else(|| {
            panic!("{case}: body must be exactly {{\"detail\": {{\"error\", \"error_description\"}}}}: {body}")
        });
    let text = |name: &str| {
        detail
            .get(name)
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("{case}: detail.{name} must be a string: {body}"))
            .to_string()
    };
    assert_eq!(text("error"), error, "{case}: body error");
    let description = text("error_description");
    assert_one_clean_line(&description, case);
    description
}

/// A description is one human-readable line: not empty, no CR, LF or other control
/// character, and no `"` that would end the challenge's quoted string.
pub fn assert_one_clean_line(description: &str, case: &str) {
    assert!(!description.is_empty(), "{case}: empty description");
    assert!(
        !description.chars().any(|c| c.is_control() || c == '"'),
        "{case}: description {description:?} must be one line without quotes"
    );
}

/// The single `WWW-Authenticate` value of a response.
pub fn challenge(response: &Response, case: &str) -> String {
    let values = response.header_values("www-authenticate");
    assert_eq!(
        values.len(),
        1,
        "{case}: exactly one WWW-Authenticate line, got {values:?}"
    );
    values[0].to_string()
}

/// A gateway listener and the echo upstream behind it, for requests whose effect on the
/// upstream is part of the assertion.
#[derive(Clone, Copy)]
pub struct Target<'a> {
    pub gateway: &'a Gateway,
    pub echo: &'a EchoHandle,
    pub listener: &'a str,
}

impl<'a> Target<'a> {
    pub fn main(stack: &'a Stack) -> Target<'a> {
        Target {
            gateway: &stack.gateway,
            echo: &stack.echo,
            listener: MAIN_LISTENER,
        }
    }

    pub fn listener(stack: &'a Stack, listener: &'a str) -> Target<'a> {
        Target {
            listener,
            ..Target::main(stack)
        }
    }

    pub fn send(&self, request: &Request) -> Response {
        self.gateway.send_to(self.listener, request)
    }

    /// Sends `request` `count` times at once, each from its own thread and connection.
    pub fn burst(&self, request: &Request, count: usize) -> Vec<Response> {
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..count)
                .map(|_| scope.spawn(|| self.send(request)))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        })
    }

    /// Sends a request that must be refused: the upstream never sees it.
    pub fn denied(&self, request: &Request, case: &str) -> Response {
        let before = self.echo.requests();
        let response = self.send(request);
        assert_ne!(
            response.status,
            200,
            "{case}: must be refused (body: {})",
            response.text()
        );
        assert_eq!(
            self.echo.requests(),
            before,
            "{case}: a refused request must never reach the upstream"
        );
        response
    }

    /// Sends a request that must be refused as `expected`; returns the description.
    pub fn refused(&self, request: &Request, expected: &Refusal, case: &str) -> String {
        expected.check(&self.denied(request, case), case)
    }

    /// Sends a request that must pass: 200 from the upstream, which saw it once.
    pub fn allowed(&self, request: &Request, case: &str) -> Echoed {
        self.allowed_response(request, case)
            .echoed()
            .unwrap_or_else(|| panic!("{case}: not an echo body"))
    }

    /// [`Target::allowed`], returning the whole response (for its headers).
    pub fn allowed_response(&self, request: &Request, case: &str) -> Response {
        let before = self.echo.requests();
        let response = self.send(request);
        assert_eq!(
            response.status,
            200,
            "{case}: must pass (body: {})",
            response.text()
        );
        assert_eq!(
            self.echo.requests(),
            before + 1,
            "{case}: the upstream sees the request once"
        );
        assert!(
            response.echoed().is_some(),
            "{case}: not an echo body: {}",
            response.text()
        );
        response
    }
}

/// Polls `probe` every 50 ms until it returns `Some`, or panics after `timeout` naming
/// `what`.
pub fn eventually<T>(timeout: Duration, what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = probe() {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The filter's own counters and gauges, without Envoy's `wasmcustom.auth0_wasm_filter.` prefix.
pub fn filter_stats(gateway: &Gateway) -> std::collections::BTreeMap<String, u64> {
    gateway
        .stats("auth0_wasm_filter")
        .into_iter()
        .filter_map(|(name, value)| {
            name.split_once("auth0_wasm_filter.")
                .map(|(_, rest)| (rest.to_string(), value))
        })
        .collect()
}

/// One of the filter's counters or gauges (0 when Envoy has not seen it yet).
pub fn filter_stat(gateway: &Gateway, name: &str) -> u64 {
    filter_stats(gateway).get(name).copied().unwrap_or(0)
}

/// The filter's statistics once `name` has reached `want`, or as they are after 5 s: the
/// filter hands its request counters to Envoy on each tick (every second), so they lag.
pub fn filter_stats_once(
    gateway: &Gateway,
    name: &str,
    want: u64,
) -> std::collections::BTreeMap<String, u64> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let stats = filter_stats(gateway);
        if stats.get(name).copied().unwrap_or(0) >= want || Instant::now() >= deadline {
            return stats;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Counter `name` once it has reached `want`, or as it is after 5 s ([`filter_stats_once`]).
pub fn filter_stat_once(gateway: &Gateway, name: &str, want: u64) -> u64 {
    filter_stats_once(gateway, name, want)
        .get(name)
        .copied()
        .unwrap_or(0)
}
