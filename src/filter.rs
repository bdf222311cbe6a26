//! The request context: strips forgeable headers, reads what the decision needs, asks the
//! core, and either applies the answer or parks the request until keys arrive.

use crate::clock;
use crate::headers;
use crate::respond::{self, Mode, ResponseNonce};
use crate::worker::{OwnedRequest, Waiter, Worker};
use filter_core::authorize::Decision;
use filter_core::rejection::Denial;
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::{Action, MapType};
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

pub struct Filter {
    context_id: u32,
    worker: Option<Rc<RefCell<Worker>>>,
    waiting: bool,
    /// A `DPoP-Nonce` to add to the upstream's response.
    nonce: ResponseNonce,
}

impl Filter {
    pub fn new(context_id: u32, worker: Option<Rc<RefCell<Worker>>>) -> Filter {
        Filter { context_id, worker, waiting: false, nonce: ResponseNonce::default() }
    }
}

/// Reads the request. Only DPoP requests pay for reading every header line, which is how
/// repeated `DPoP` (and `X-Forwarded-*`) lines are told apart from one.
fn read_request(trust_forwarded: bool) -> OwnedRequest {
    let method = headers::request(":method").unwrap_or_default();
    let cors_preflight = method == "OPTIONS"
        && headers::request("origin").is_some()
        && headers::request("access-control-request-method").is_some();
    let mut request = OwnedRequest {
        path: headers::request(":path").unwrap_or_default(),
        scheme: "http",
        authority: String::new(),
        authorization: headers::request("authorization"),
        dpop: Vec::new(),
        forwarded: Vec::new(),
        cors_preflight,
        method,
    };
    if headers::request("dpop").is_some() {
        for (name, value) in headers::all_request() {
            if name.eq_ignore_ascii_case("dpop") {
                request.dpop.push(value);
            } else if trust_forwarded && name.to_ascii_lowercase().starts_with("x-forwarded-") {
                request.forwarded.push((name, value));
            }
        }
        request.authority = headers::request(":authority").unwrap_or_default();
        // The downstream connection decides the scheme: `:scheme` may echo a client's
        // `X-Forwarded-Proto`.
        let tls = hostcalls::get_property(vec!["connection", "tls_version"]).ok().flatten();
        if tls.is_some_and(|v| !v.is_empty()) {
            request.scheme = "https";
        }
    }
    request
}

impl Context for Filter {}

impl HttpContext for Filter {
    fn on_http_request_headers(&mut self, _headers: usize, _end_of_stream: bool) -> Action {
        let Some(worker) = self.worker.clone() else {
            return respond::reject_unconfigured();
        };
        let Ok(mut w) = worker.try_borrow_mut() else {
            return respond::reject_unconfigured();
        };
        // Identity headers come only from this filter: drop any copy the client sent.
        for name in w.config.forward.managed_headers() {
            headers::set_request(name, None);
        }
        let request = read_request(w.config.dpop.trust_forwarded_headers);
        let now_ms = clock::now_ms();
        let mut decision = w.decide(&request.view(), now_ms);
        if let Decision::NeedKeys { source, .. } = decision {
            // Another worker may have fetched these keys already.
            if w.sync_from_shared(source) {
                decision = w.decide(&request.view(), now_ms);
            }
        }
        match decision {
            Decision::NeedKeys { source, reason } => {
                let now = now_ms / 1000;
                let waiter = Waiter {
                    context_id: self.context_id,
                    source,
                    since: now,
                    request,
                    nonce: self.nonce.clone(),
                };
                if !w.wait(waiter, reason, now) {
                    let busy = Decision::Deny(Denial::Unavailable { retry_after: 1 });
                    return respond::apply(&w, busy, Mode::Inline, &self.nonce);
                }
                if w.fetch_wanted {
                    // Fetches belong to the root context, whose callouts outlive this request.
                    let _ = hostcalls::set_tick_period(Duration::from_millis(1));
                }
                self.waiting = true;
                Action::Pause
            }
            other => respond::apply(&w, other, Mode::Inline, &self.nonce),
        }
    }

    fn on_http_response_headers(&mut self, _headers: usize, _end_of_stream: bool) -> Action {
        if let Some(nonce) = self.nonce.take() {
            let _ = hostcalls::set_map_value(MapType::HttpResponseHeaders, "dpop-nonce", Some(&nonce));
        }
        Action::Continue
    }
}

impl Drop for Filter {
    fn drop(&mut self) {
        if self.waiting {
            if let Some(Ok(mut w)) = self.worker.as_ref().map(|w| w.try_borrow_mut()) {
                w.forget(self.context_id);
            }
        }
    }
}
