//! The root context: parses the configuration once, owns the worker state, fetches keys
//! (prefetch on the tick, on demand for waiting requests) and decides waiting requests when
//! keys arrive.

use crate::clock;
use crate::filter::Filter;
use crate::metrics::Metrics;
use crate::respond::{self, Mode, ResponseNonce};
use crate::worker::Worker;
use filter_core::authorize::Decision;
use filter_core::config;
use filter_core::rejection::Denial;
use log::{error, info};
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{BufferType, ContextType};
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

/// Background work (refresh, sharing between workers, stalled requests) runs this often.
const TICK: Duration = Duration::from_secs(1);
/// A request that needs a fetch asks for the next tick this soon.
const URGENT_TICK: Duration = Duration::from_millis(1);
/// While requests wait for keys, the tick looks for the outcome this often.
const WAITING_TICK: Duration = Duration::from_millis(20);

pub struct Plugin {
    context_id: u32,
    worker: Option<Rc<RefCell<Worker>>>,
}

impl Plugin {
    pub fn new(context_id: u32) -> Plugin {
        Plugin { context_id, worker: None }
    }

    /// Decides every request waiting on `source` again, now that its fetch ended.
    fn wake(&self, source: usize) {
        let Some(worker) = &self.worker else { return };
        let now_ms = clock::now_ms();
        let decided: Vec<(u32, Decision, ResponseNonce)> = match worker.try_borrow_mut() {
            Ok(mut w) => {
                let waiters = w.take_waiters(source);
                waiters
                    .into_iter()
                    .map(|waiter| {
                        let decision = match w.decide(&waiter.request.view(), now_ms) {
                            // Keys were just fetched (or failed): asking again now would loop.
                            Decision::NeedKeys { .. } => Decision::Deny(Denial::Unavailable { retry_after: 1 }),
                            other => other,
                        };
                        (waiter.context_id, decision, waiter.nonce)
                    })
                    .collect()
            }
            Err(_) => return,
        };
        self.resume_all(decided);
    }

    fn resume_all(&self, decided: Vec<(u32, Decision, ResponseNonce)>) {
        let Some(worker) = &self.worker else { return };
        for (context_id, decision, nonce) in decided {
            // A request whose client went away is gone from the host; skip it.
            if hostcalls::set_effective_context(context_id).is_err() {
                continue;
            }
            if let Ok(w) = worker.try_borrow() {
                respond::apply(&w, decision, Mode::Resume, &nonce);
            }
        }
        let _ = hostcalls::set_effective_context(self.context_id);
    }
}

/// Follows the host's log level, so messages Envoy would drop are not even formatted (a
/// denial's debug line would otherwise cost every refused request).
fn follow_host_log_level() {
    if let Ok(level) = hostcalls::get_log_level() {
        proxy_wasm::set_log_level(level);
    }
}

impl Context for Plugin {
    fn on_http_call_response(&mut self, token_id: u32, _headers: usize, body_size: usize, _trailers: usize) {
        let Some(worker) = &self.worker else { return };
        let now = clock::now();
        let outcome = match worker.try_borrow_mut() {
            Ok(mut w) => w.on_fetch_response(token_id, body_size, now),
            Err(_) => return,
        };
        if let crate::worker::FetchOutcome::Finished { source } = outcome {
            self.wake(source);
        }
    }
}

impl RootContext for Plugin {
    fn on_configure(&mut self, _size: usize) -> bool {
        follow_host_log_level();
        let bytes = hostcalls::get_buffer(BufferType::PluginConfiguration, 0, usize::MAX)
            .ok()
            .flatten()
            .unwrap_or_default();
        match config::parse(&bytes) {
            Ok(config) => {
                if config.dpop.enabled && config.dpop.replay_check {
                    crate::worker::create_replay_slots();
                }
                let worker = Worker::new(Rc::new(config), Metrics::define());
                self.worker = Some(Rc::new(RefCell::new(worker)));
                let _ = hostcalls::set_tick_period(URGENT_TICK);
                info!("configuration loaded");
                true
            }
            Err(e) => {
                error!("invalid plugin configuration: {e}");
                false
            }
        }
    }

    fn on_tick(&mut self) {
        follow_host_log_level();
        let Some(worker) = &self.worker else { return };
        let now = clock::now();
        let mut changed = Vec::new();
        let stalled = match worker.try_borrow_mut() {
            Ok(mut w) => {
                for source in 0..w.source_count() {
                    if w.sync_from_shared(source) {
                        changed.push(source);
                    }
                }
                changed.extend(w.adopt_failures_elsewhere(now));
                w.fetch_wanted = false;
                for (source, reason) in w.sources_to_fetch(now) {
                    w.start_fetch(source, reason, now);
                }
                w.keys_gauge(now);
                let skew = w.config.clock_skew;
                w.gate.tokens.purge_expired(skew, now);
                let stalled = w.take_stalled(now);
                // Requests waiting on another worker's fetch learn its outcome on the tick.
                let period = if w.has_waiters() { WAITING_TICK } else { TICK };
                let _ = hostcalls::set_tick_period(period);
                stalled
            }
            Err(_) => return,
        };
        for source in changed {
            self.wake(source);
        }
        let stalled = stalled
            .into_iter()
            .map(|w| (w.context_id, Decision::Deny(Denial::Unavailable { retry_after: 1 }), w.nonce))
            .collect();
        self.resume_all(stalled);
    }

    fn create_http_context(&self, context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Filter::new(context_id, self.worker.clone())))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}
