//! The root context: parses the configuration once, finds what the host offers, owns the
//! worker state, and on hosts with a tick refreshes keys in the background. It never answers
//! or resumes a request: requests continue from their own contexts.

use crate::capabilities::Capabilities;
use crate::clock;
use crate::filter::{self, Filter};
use crate::host;
use crate::metrics::Metrics;
use crate::worker::{HostStore, Worker};
use filter_core::config::{self, Config};
use filter_core::key_fetch::{self, Outcome, Purpose};
use filter_core::shared;
use log::{error, info};
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::ContextType;
use std::cell::RefCell;
use std::rc::Rc;

pub struct Plugin {
    id: u32,
    worker: Option<Rc<RefCell<Worker>>>,
    /// The tick period is set once per root context (Kong's host traps on a second call).
    tick_set: bool,
}

impl Plugin {
    pub fn new(id: u32) -> Plugin {
        Plugin {
            id,
            worker: None,
            tick_set: false,
        }
    }
}

/// Why `config` cannot run on a host with `caps`, if it cannot.
fn refusal(config: &Config, caps: &Capabilities) -> Option<&'static str> {
    (config.needs_shared_data() && !caps.shared_data).then_some(
        "DPoP replay detection across workers needs the host's shared data, which this host does not \
         provide; set \"dpop_replay_scope\": \"worker\" to remember proofs per worker instead",
    )
}

impl Context for Plugin {
    fn on_http_call_response(
        &mut self,
        token: u32,
        _headers: usize,
        body_size: usize,
        _trailers: usize,
    ) {
        let Some(worker) = &self.worker else { return };
        if let Ok(mut w) = worker.try_borrow_mut() {
            let w = &mut *w;
            // A background fetch: its JWKS request (after discovery) goes out on the next
            // tick rather than from here; requests parked for it are decided.
            if let Outcome::Finished { woken, .. } = filter::answer_callout(w, token, body_size) {
                filter::wake(w, woken, self.id);
            }
        }
    }
}

impl RootContext for Plugin {
    fn on_configure(&mut self, _size: usize) -> bool {
        let bytes = host::plugin_configuration().unwrap_or_default();
        let config = match config::parse(&bytes) {
            Ok(config) => config,
            Err(e) => {
                error!("invalid plugin configuration: {e}");
                return false;
            }
        };
        let caps = Capabilities::probe(!self.tick_set);
        self.tick_set = true;
        if let Some(why) = refusal(&config, &caps) {
            error!("configuration refused: {why}");
            return false;
        }
        if config.needs_shared_data() {
            shared::create_replay_slots(&mut HostStore);
        }
        let worker = Worker::new(Rc::new(config), caps, Metrics::define(caps.tick));
        if caps.shared_data {
            key_fetch::create_claims(&worker.gate, &mut HostStore);
        }
        self.worker = Some(Rc::new(RefCell::new(worker)));
        info!("configuration loaded");
        true
    }

    fn on_tick(&mut self) {
        let Some(worker) = self.worker.clone() else {
            return;
        };
        let Ok(mut guard) = worker.try_borrow_mut() else {
            return;
        };
        let w = &mut *guard;
        let now = clock::now_ms(w.caps.host_time) / 1000;
        let tick = w.with_fetch(|fetch, gate, store| fetch.on_tick(gate, store, now));
        filter::wake(w, tick.woken, self.id);
        for callout in tick.callouts {
            match filter::dispatch(self, &callout) {
                Ok(token) => w
                    .fetch
                    .dispatched(token, &callout, Purpose::Background, now),
                Err(why) => {
                    let outcome = w.with_fetch(|fetch, gate, store| {
                        fetch.dispatch_failed(gate, store, &callout, Purpose::Background, now)
                    });
                    if let Outcome::Finished { event, woken, .. } = outcome {
                        w.report(callout.source, &event, &format!(" ({why})"));
                        filter::wake(w, woken, self.id);
                    }
                }
            }
        }
        w.tune_tick();
        w.keys_gauge(now);
        let skew = w.config.token.clock_skew;
        w.gate.tokens.purge_expired(skew, now);
        w.metrics.flush();
    }

    fn create_http_context(&self, context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Filter::new(context_id, self.worker.clone())))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}
