//! The request context: strips forgeable headers, reads what the decision needs, asks the
//! core, and applies the answer. A request that needs keys fetches them with its own callout
//! and is decided again in that callout's callback. On a host that can resume a request from
//! another context, a request that needs keys this worker already fetches is parked instead,
//! and woken from the callback that ends that fetch.

use crate::clock;
use crate::headers;
use crate::host::{self, Map};
use crate::request::{self, Parked};
use crate::respond::{self, Mode};
use crate::worker::Worker;
use filter_core::authorize::Decision;
use filter_core::key_fetch::{Answer, Callout, FetchEvent, Outcome, Plan, Purpose, MAX_FETCH_BODY};
use filter_core::rejection::{Denial, KEYS_BUSY};
use filter_core::request::OwnedRequest;
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::Action;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

/// Callouts one request may make before it is answered 503: a discovery and a JWKS fetch
/// for a refresh that was due, then the same for the source its token names.
const MAX_CALLOUTS_PER_REQUEST: u8 = 4;

pub struct Filter {
    id: u32,
    worker: Option<Rc<RefCell<Worker>>>,
    /// The request as read, and its callout's token, while that callout is out.
    waiting: Option<(OwnedRequest, u32)>,
    /// Whether the request waits for another request's fetch, in `Worker::parked`.
    parked: bool,
    callouts: u8,
    /// A key source this request's own fetch failed for: it is not fetched again for this
    /// request, which is answered 503 if it still needs those keys.
    failed_source: Option<usize>,
    /// A `DPoP-Nonce` to add to the upstream's response; shared with `Parked` so that a
    /// request decided from another context still sends it.
    nonce: Rc<Cell<Option<String>>>,
}

impl Filter {
    pub fn new(id: u32, worker: Option<Rc<RefCell<Worker>>>) -> Filter {
        Filter {
            id,
            worker,
            waiting: None,
            parked: false,
            callouts: 0,
            failed_source: None,
            nonce: Rc::default(),
        }
    }

    /// Decides `request` and applies the answer, fetching keys first when it needs them.
    fn settle(
        &mut self,
        w: &mut Worker,
        request: OwnedRequest,
        mut decision: Decision,
        mode: Mode,
    ) -> Action {
        let now_ms = clock::now_ms(w.caps.host_time);
        let mut decided_again = false;
        loop {
            let Decision::NeedKeys { source, reason } = decision else {
                return respond::apply(w, decision, mode, &self.nonce);
            };
            if self.callouts >= MAX_CALLOUTS_PER_REQUEST || self.failed_source == Some(source) {
                return respond::deny(w, &KEYS_BUSY);
            }
            let plan = w.with_fetch(|fetch, gate, store| {
                fetch.plan_for_request(gate, store, source, reason, self.id, now_ms / 1000)
            });
            match plan {
                Plan::Fetch(callout) => return self.fetch(w, request, &callout, mode),
                Plan::Wait => {
                    w.parked.push(Parked {
                        id: self.id,
                        request,
                        nonce: Rc::clone(&self.nonce),
                    });
                    self.parked = true;
                    w.tune_tick();
                    return Action::Pause;
                }
                Plan::DecideAgain if !decided_again => {
                    decided_again = true;
                    decision = w.decide(&request.view(), now_ms);
                }
                Plan::DecideAgain => return respond::deny(w, &KEYS_BUSY),
                Plan::Unavailable { retry_after } => {
                    return respond::deny(w, &Denial::Unavailable { retry_after })
                }
            }
        }
    }

    /// Sends `callout` from this request's context and parks the request until it answers.
    fn fetch(
        &mut self,
        w: &mut Worker,
        request: OwnedRequest,
        callout: &Callout,
        mode: Mode,
    ) -> Action {
        let now = clock::now_ms(w.caps.host_time) / 1000;
        match dispatch(self, callout) {
            Ok(token) => {
                self.callouts = self.callouts.saturating_add(1);
                w.fetch.dispatched(token, callout, Purpose::Request, now);
                self.waiting = Some((request, token));
                Action::Pause
            }
            Err(why) => {
                let outcome = w.with_fetch(|fetch, gate, store| {
                    fetch.dispatch_failed(gate, store, callout, Purpose::Request, now)
                });
                let action = respond::deny(w, &KEYS_BUSY);
                if let Outcome::Finished {
                    source,
                    event,
                    woken,
                } = outcome
                {
                    w.report(source, &event, &format!(" ({why})"));
                    wake(w, woken, self.id);
                }
                if mode == Mode::Inline {
                    action
                } else {
                    Action::Pause
                }
            }
        }
    }
}

/// Decides the parked requests `woken` from the callback of the context `current`, which is
/// made current again afterwards. A request that still needs keys is answered 503.
pub fn wake(w: &mut Worker, woken: Vec<u32>, current: u32) {
    if woken.is_empty() {
        return;
    }
    let now_ms = clock::now_ms(w.caps.host_time);
    for id in woken {
        let Some(index) = w.parked.iter().position(|p| p.id == id) else {
            continue;
        };
        let parked = w.parked.swap_remove(index);
        if host::set_effective_context(id).is_err() {
            continue;
        }
        let decision = w.decide(&parked.request.view(), now_ms);
        respond::apply(w, decision, Mode::Resume, &parked.nonce);
    }
    let _ = host::set_effective_context(current);
}

/// Sends a key fetch; the SDK's dispatcher routes its answer to the context that sent it.
pub fn dispatch(context: &dyn Context, callout: &Callout) -> Result<u32, String> {
    let headers = vec![
        (":method", "GET"),
        (":scheme", callout.scheme),
        (":path", callout.path.as_str()),
        (":authority", callout.authority.as_str()),
        ("accept", "application/json"),
        ("user-agent", "auth0-wasm-filter"),
    ];
    let timeout = Duration::from_millis(callout.timeout_ms);
    context
        .dispatch_http_call(&callout.upstream, headers, None, vec![], timeout)
        .map_err(|status| format!("callout to {} refused: {status:?}", callout.upstream))
}

/// Reads a key fetch's answer from the host and hands it to the core.
pub fn answer_callout(w: &mut Worker, token: u32, body_size: usize) -> Outcome {
    let status = headers::get(Map::CallResponseHeaders, ":status");
    let cache_control = headers::get(Map::CallResponseHeaders, "cache-control");
    let body = if body_size <= MAX_FETCH_BODY {
        host::call_response_body(body_size).unwrap_or_default()
    } else {
        Vec::new()
    };
    let answer = Answer {
        status: status.as_deref(),
        cache_control: cache_control.as_deref(),
        body_size,
        body: &body,
    };
    let now = clock::now_ms(w.caps.host_time) / 1000;
    let outcome =
        w.with_fetch(|fetch, gate, store| fetch.on_answer(gate, store, token, &answer, now));
    if let Outcome::Finished { source, event, .. } = &outcome {
        w.report(*source, event, "");
        w.keys_gauge(now);
    }
    outcome
}

impl Context for Filter {
    fn on_http_call_response(
        &mut self,
        token: u32,
        _headers: usize,
        body_size: usize,
        _trailers: usize,
    ) {
        let Some((request, waited_for)) = self.waiting.take() else {
            return;
        };
        if waited_for != token {
            self.waiting = Some((request, waited_for));
            return;
        }
        let Some(worker) = self.worker.clone() else {
            return;
        };
        let Ok(mut w) = worker.try_borrow_mut() else {
            respond::reject_without_worker(&KEYS_BUSY);
            return;
        };
        match answer_callout(&mut w, token, body_size) {
            Outcome::Next(callout) => {
                self.fetch(&mut w, request, &callout, Mode::Resume);
            }
            Outcome::Finished {
                source,
                event,
                woken,
            } => {
                if matches!(event, FetchEvent::Failed { .. }) {
                    self.failed_source = Some(source);
                }
                let now_ms = clock::now_ms(w.caps.host_time);
                let decision = w.decide(&request.view(), now_ms);
                self.settle(&mut w, request, decision, Mode::Resume);
                wake(&mut w, woken, self.id);
            }
            Outcome::Unknown => {
                let now_ms = clock::now_ms(w.caps.host_time);
                let decision = w.decide(&request.view(), now_ms);
                self.settle(&mut w, request, decision, Mode::Resume);
            }
        }
    }
}

impl HttpContext for Filter {
    fn on_http_request_headers(&mut self, _headers: usize, _end_of_stream: bool) -> Action {
        let Some(worker) = self.worker.clone() else {
            return respond::reject_unconfigured();
        };
        let Ok(mut w) = worker.try_borrow_mut() else {
            return respond::reject_unconfigured();
        };
        w.know_host();
        if w.refused_here() {
            return respond::deny(&w, &Denial::Internal);
        }
        // Identity headers come only from this filter: drop any copy the client sent.
        for name in w.config.forward.managed_headers() {
            headers::set_request(name, None);
        }
        let request = request::read(w.config.dpop.trust_forwarded_headers);
        let now_ms = clock::now_ms(w.caps.host_time);
        if !w.caps.tick {
            // No background refresh on this host: the request refreshes keys that are due.
            if let Some(source) = w.fetch.refresh_due(&w.gate, now_ms / 1000) {
                let due = Decision::NeedKeys {
                    source,
                    reason: filter_core::jwks_cache::FetchReason::Refresh,
                };
                return self.settle(&mut w, request, due, Mode::Inline);
            }
        }
        let decision = w.decide(&request.view(), now_ms);
        self.settle(&mut w, request, decision, Mode::Inline)
    }

    fn on_http_response_headers(&mut self, _headers: usize, _end_of_stream: bool) -> Action {
        if let Some(nonce) = self.nonce.take() {
            let _ = host::set_header(Map::ResponseHeaders, "dpop-nonce", Some(nonce.as_bytes()));
        }
        Action::Continue
    }
}

impl Drop for Filter {
    /// A request that went away while it waited: its callout's answer, if the host still
    /// delivers it, is no longer awaited, and a parked request is no longer woken.
    fn drop(&mut self) {
        let token = self.waiting.take().map(|(_, token)| token);
        if token.is_none() && !self.parked {
            return;
        }
        if let Some(Ok(mut w)) = self.worker.as_ref().map(|w| w.try_borrow_mut()) {
            if let Some(token) = token {
                w.fetch.forget(token);
            }
            if self.parked {
                w.fetch.forget_waiter(self.id);
                w.parked.retain(|p| p.id != self.id);
            }
        }
    }
}
