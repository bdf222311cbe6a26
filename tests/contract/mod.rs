//! The response contract of the Bearer path, as assertions over real HTTP responses:
//! status, the exact `WWW-Authenticate` value, `content-type`, the JSON body
//! `{"detail": {"error", "error_description"}}`, `Retry-After` on 503, and for denied
//! requests that the echo upstream never saw them.
//!
//! Descriptions the contract does not fix are read from the body and must then appear,
//! byte for byte, in the challenge: the two can never disagree.

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

/// What the challenges of one filter configuration advertise.
#[derive(Debug, Clone, Copy)]
pub struct Challenge {
    pub realm: &'static str,
    /// The `algs` of the DPoP challenge; `None` when DPoP is disabled.
    pub dpop_algs: Option<&'static str>,
}

/// The defaults: realm `api`, DPoP enabled with ES256.
pub const DEFAULT: Challenge = Challenge {
    realm: "api",
    dpop_algs: Some("ES256"),
};

/// The body of a refusal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub error: String,
    pub description: String,
}

impl Challenge {
    /// The challenge with no error attributes: `Bearer realm="api", DPoP algs="ES256"`.
    pub fn plain(&self) -> String {
        let mut out = format!("Bearer realm=\"{}\"", self.realm);
        if let Some(algs) = self.dpop_algs {
            out.push_str(&format!(", DPoP algs=\"{algs}\""));
        }
        out
    }

    /// The challenge carrying an error on the Bearer part.
    pub fn with_error(&self, error: &str, description: &str, scope: Option<&str>) -> String {
        let mut out = format!(
            "Bearer realm=\"{}\", error=\"{error}\", error_description=\"{description}\"",
            self.realm
        );
        if let Some(scope) = scope {
            out.push_str(&format!(", scope=\"{scope}\""));
        }
        if let Some(algs) = self.dpop_algs {
            out.push_str(&format!(", DPoP algs=\"{algs}\""));
        }
        out
    }

    /// 401 `invalid_request` with the plain challenge (no, empty or foreign credentials).
    pub fn no_credentials(&self, response: &Response, case: &str) -> Refusal {
        let refusal = refusal(response, 401, "invalid_request", case);
        assert_eq!(
            challenge(response, case),
            self.plain(),
            "{case}: no error attributes on the challenge"
        );
        refusal
    }

    /// 401 `invalid_token` with the error on the Bearer challenge; returns the description.
    pub fn invalid_token(&self, response: &Response, case: &str) -> String {
        let refusal = refusal(response, 401, "invalid_token", case);
        assert_eq!(
            challenge(response, case),
            self.with_error("invalid_token", &refusal.description, None),
            "{case}"
        );
        refusal.description
    }

    /// 400 `invalid_request` with the error on the Bearer challenge; returns the description.
    pub fn invalid_request(&self, response: &Response, case: &str) -> String {
        let refusal = refusal(response, 400, "invalid_request", case);
        assert_eq!(
            challenge(response, case),
            self.with_error("invalid_request", &refusal.description, None),
            "{case}"
        );
        refusal.description
    }

    /// 403 `insufficient_scope`, description `Insufficient scopes`, `scope` naming `scopes`.
    pub fn insufficient_scope(&self, response: &Response, scopes: &str, case: &str) {
        let refusal = refusal(response, 403, "insufficient_scope", case);
        assert_eq!(refusal.description, "Insufficient scopes", "{case}");
        assert_eq!(
            challenge(response, case),
            self.with_error("insufficient_scope", "Insufficient scopes", Some(scopes)),
            "{case}"
        );
    }
}

pub fn no_credentials(response: &Response, case: &str) -> Refusal {
    DEFAULT.no_credentials(response, case)
}

pub fn invalid_token(response: &Response, case: &str) -> String {
    DEFAULT.invalid_token(response, case)
}

pub fn invalid_request(response: &Response, case: &str) -> String {
    DEFAULT.invalid_request(response, case)
}

pub fn insufficient_scope(response: &Response, scopes: &str, case: &str) {
    DEFAULT.insufficient_scope(response, scopes, case)
}

/// 503 `temporarily_unavailable` with a `Retry-After` of whole seconds (at least 1) and
/// no challenge; returns the `Retry-After` seconds.
pub fn unavailable(response: &Response, case: &str) -> u64 {
    refusal(response, 503, "temporarily_unavailable", case);
    assert_eq!(
        response.header_values("www-authenticate"),
        Vec::<&str>::new(),
        "{case}: a 503 carries no challenge"
    );
    let retry_after = response
        .header("retry-after")
        .unwrap_or_else(|| panic!("{case}: a 503 must carry Retry-After"));
    let seconds: u64 = retry_after
        .parse()
        .unwrap_or_else(|_| panic!("{case}: Retry-After {retry_after:?} is not whole seconds"));
    assert!(seconds >= 1, "{case}: Retry-After {seconds}");
    seconds
}

/// Checks status, `content-type` and the body's shape; returns its error and description.
pub fn refusal(response: &Response, status: u16, error: &str, case: &str) -> Refusal {
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
    let refusal = Refusal {
        error: text("error"),
        description: text("error_description"),
    };
    assert_eq!(refusal.error, error, "{case}: body error");
    assert_one_clean_line(&refusal.description, case);
    refusal
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

    /// Sends a request that must pass: 200 from the upstream, which saw it once.
    pub fn allowed(&self, request: &Request, case: &str) -> Echoed {
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
        response
            .echoed()
            .unwrap_or_else(|| panic!("{case}: not an echo body: {}", response.text()))
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
