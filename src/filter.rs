//! The request context: strips forgeable headers, reads what the decision needs, asks the
//! core, and either applies the answer or parks the request until keys arrive.

use crate::clock;
use crate::respond::{self, Mode};
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
}

impl Filter {
    pub fn new(context_id: u32, worker: Option<Rc<RefCell<Worker>>>) -> Filter {
        Filter { context_id, worker, waiting: false }
    }
}

fn header(name: &str) -> Option<String> {
    hostcalls::get_map_value(MapType::HttpRequestHeaders, name).ok().flatten()
}

fn read_request() -> OwnedRequest {
    let method = header(":method").unwrap_or_default();
    let cors_preflight = method == "OPTIONS"
        && header("origin").is_some()
        && header("access-control-request-method").is_some();
    OwnedRequest {
        path: header(":path").unwrap_or_default(),
        authorization: header("authorization"),
        cors_preflight,
        method,
    }
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
            let _ = hostcalls::set_map_value(MapType::HttpRequestHeaders, name, None);
        }
        let request = read_request();
        let now = clock::now();
        let mut decision = w.decide(&request.view(), now);
        if let Decision::NeedKeys { source, .. } = decision {
            // Another worker may have fetched these keys already.
            if w.sync_from_shared(source) {
                decision = w.decide(&request.view(), now);
            }
        }
        match decision {
            Decision::NeedKeys { source, reason } => {
                let waiter = Waiter { context_id: self.context_id, source, since: now, request };
                if !w.wait(waiter, reason, now) {
                    return respond::apply(&w, Decision::Deny(Denial::Unavailable { retry_after: 1 }), Mode::Inline);
                }
                if w.fetch_wanted {
                    // Fetches belong to the root context, whose callouts outlive this request.
                    let _ = hostcalls::set_tick_period(Duration::from_millis(1));
                }
                self.waiting = true;
                Action::Pause
            }
            other => respond::apply(&w, other, Mode::Inline),
        }
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
