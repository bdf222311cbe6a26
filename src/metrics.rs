//! Statistics, defined once per worker VM. A host that refuses a metric leaves it undefined,
//! and recording to it is skipped: statistics never fail a request. APISIX's host accepts
//! the definitions and drops every value.
//!
//! On a host with a tick, the per-request counters are added up in the VM and handed to the
//! host once per tick ([`Metrics::flush`]): a counter may lag by one tick period (a second),
//! and a request costs no host call for its statistics. Key fetches and the gauge are
//! recorded when they happen.

use crate::host::{self, MetricKind};
use filter_core::rejection::{Denial, DENIAL_STATS};
use std::cell::Cell;

const PREFIX: &str = "auth0_wasm_filter";

/// A counter, and what it has counted since the last flush when counts are deferred.
#[derive(Debug, Default)]
struct Counter {
    id: Option<u32>,
    pending: Cell<u64>,
}

impl Counter {
    fn define(name: &str) -> Counter {
        Counter {
            id: define(MetricKind::Counter, name),
            pending: Cell::new(0),
        }
    }

    fn flush(&self) {
        let pending = self.pending.take();
        if let (Some(id), 1..) = (self.id, pending) {
            host::increment_metric(id, i64::try_from(pending).unwrap_or(i64::MAX));
        }
    }
}

#[derive(Debug, Default)]
pub struct Metrics {
    /// Whether per-request counts wait for [`Metrics::flush`].
    deferred: bool,
    allowed: Counter,
    public: Counter,
    cors_preflight: Counter,
    denied: [Counter; DENIAL_STATS.len()],
    key_fetch_ok: Option<u32>,
    key_fetch_failed: Option<u32>,
    keys_in_use: Option<u32>,
}

fn define(kind: MetricKind, name: &str) -> Option<u32> {
    host::define_metric(kind, &format!("{PREFIX}.{name}")).ok()
}

impl Metrics {
    /// Defines every metric; with `deferred`, per-request counts are handed over by `flush`,
    /// which the host's tick must then call.
    pub fn define(deferred: bool) -> Metrics {
        Metrics {
            deferred,
            allowed: Counter::define("allowed"),
            public: Counter::define("public"),
            cors_preflight: Counter::define("cors_preflight"),
            denied: DENIAL_STATS.map(|name| Counter::define(&format!("denied.{name}"))),
            key_fetch_ok: define(MetricKind::Counter, "jwks_fetch.success"),
            key_fetch_failed: define(MetricKind::Counter, "jwks_fetch.failure"),
            keys_in_use: define(MetricKind::Gauge, "jwks_keys"),
        }
    }

    fn count(&self, counter: &Counter) {
        counter.pending.set(counter.pending.get().saturating_add(1));
        if !self.deferred {
            counter.flush();
        }
    }

    /// Hands the deferred counts to the host.
    pub fn flush(&self) {
        for counter in [&self.allowed, &self.public, &self.cors_preflight]
            .into_iter()
            .chain(&self.denied)
        {
            counter.flush();
        }
    }

    pub fn allowed(&self) {
        self.count(&self.allowed)
    }

    pub fn public(&self) {
        self.count(&self.public)
    }

    pub fn cors_preflight(&self) {
        self.count(&self.cors_preflight)
    }

    pub fn denied(&self, denial: &Denial) {
        if let Some(counter) = self.denied.get(denial.stat()) {
            self.count(counter);
        }
    }

    pub fn key_fetch(&self, ok: bool) {
        let id = if ok {
            self.key_fetch_ok
        } else {
            self.key_fetch_failed
        };
        if let Some(id) = id {
            host::increment_metric(id, 1);
        }
    }

    pub fn keys_in_use(&self, count: usize) {
        if let Some(id) = self.keys_in_use {
            host::record_metric(id, u64::try_from(count).unwrap_or(u64::MAX));
        }
    }
}
