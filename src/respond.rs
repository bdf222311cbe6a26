//! Applies a decision to the current request, always from that request's own context:
//! identity headers and continue, or the rejection the core rendered.

use crate::headers;
use crate::host;
use crate::worker::Worker;
use filter_core::authorize::{Decision, PassReason};
use filter_core::forward::RESULT_KEY;
use filter_core::rejection::{self, Denial, DENIAL_STATS, KEYS_BUSY};
use log::debug;
use proxy_wasm::types::Action;
use std::cell::Cell;

/// Whether the request is inside its own headers callback, or paused and resumed later.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Inline,
    Resume,
}

/// Applies `decision`; a `DPoP-Nonce` the response must carry goes to `nonce`.
pub fn apply(
    worker: &Worker,
    decision: Decision,
    mode: Mode,
    nonce: &Cell<Option<String>>,
) -> Action {
    let config = &worker.config;
    match decision {
        Decision::Pass(PassReason::PublicRoute) => {
            worker.metrics.public();
            export(worker, "public", Vec::new());
            proceed(mode)
        }
        Decision::Pass(PassReason::CorsPreflight) => {
            worker.metrics.cors_preflight();
            export(worker, "cors_preflight", Vec::new());
            proceed(mode)
        }
        Decision::Allow(allowed) => {
            let claims = config
                .filter_state
                .as_ref()
                .map(|state| state.entries_for(&allowed.token.claims));
            export(worker, "allowed", claims.unwrap_or_default());
            for (name, value) in config.forward.headers_for(&allowed.token.claims) {
                headers::set_request(&name, Some(&value));
            }
            if config.forward.strip_authorization() {
                headers::set_request("authorization", None);
                headers::set_request("dpop", None);
            }
            if allowed.next_nonce.is_some() {
                nonce.set(allowed.next_nonce);
            }
            worker.metrics.allowed();
            proceed(mode)
        }
        Decision::Deny(denial) => deny(worker, &denial),
        Decision::NeedKeys { .. } => deny(worker, &KEYS_BUSY),
    }
}

/// Writes the outcome, and the configured claims of a verified token, to the request's filter
/// state when the configuration asks for it.
fn export(worker: &Worker, result: &str, claims: Vec<(String, String)>) {
    if worker.config.filter_state.is_none() {
        return;
    }
    let _ = host::set_property(RESULT_KEY, result.as_bytes());
    for (key, value) in claims {
        let _ = host::set_property(&key, value.as_bytes());
    }
}

fn proceed(mode: Mode) -> Action {
    if mode == Mode::Resume {
        let _ = host::resume_request();
    }
    Action::Continue
}

pub fn deny(worker: &Worker, denial: &Denial) -> Action {
    worker.metrics.denied(denial);
    if worker.config.filter_state.is_some() {
        let result = DENIAL_STATS.get(denial.stat()).copied().unwrap_or_default();
        export(worker, result, Vec::new());
    }
    debug!(
        "request denied: {}: {}",
        denial.code(),
        denial.description()
    );
    send(&rejection::render(denial, &worker.config.challenge()))
}

fn send(response: &rejection::Response) -> Action {
    let headers: Vec<(&str, &str)> = response
        .headers
        .iter()
        .map(|(k, v)| (*k, v.as_str()))
        .collect();
    let _ = host::send_response(response.status, &headers, response.body.as_bytes());
    Action::Pause
}

/// The answer when the plugin has no configuration: never reached in Envoy, which refuses to
/// start a plugin whose configuration failed, but a request must never pass unchecked.
pub fn reject_unconfigured() -> Action {
    reject_without_worker(&Denial::Internal)
}

/// Answers `denial` (one without a challenge: 500 or 503) when the worker state cannot be
/// reached.
pub fn reject_without_worker(denial: &Denial) -> Action {
    // These carry no challenge, so what the challenges would advertise does not matter.
    let challenge = rejection::ChallengeConfig {
        realm: String::new(),
        dpop_enabled: false,
        dpop_required: false,
        dpop_algorithms: Vec::new(),
    };
    send(&rejection::render(denial, &challenge))
}
