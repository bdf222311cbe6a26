//! Statistics, defined once per worker VM. A host that refuses a metric leaves it undefined,
//! and recording to it is skipped: statistics never fail a request. APISIX's host accepts
//! the definitions and drops every value.

use crate::host::{self, MetricKind};
use filter_core::rejection::{Denial, DENIAL_STATS};

const PREFIX: &str = "auth0_wasm_filter";

#[derive(Debug, Default)]
pub struct Metrics {
    allowed: Option<u32>,
    public: Option<u32>,
    cors_preflight: Option<u32>,
    denied: [Option<u32>; DENIAL_STATS.len()],
    key_fetch_ok: Option<u32>,
    key_fetch_failed: Option<u32>,
    keys_in_use: Option<u32>,
}

fn define(kind: MetricKind, name: &str) -> Option<u32> {
    host::define_metric(kind, &format!("{PREFIX}.{name}")).ok()
}

impl Metrics {
    pub fn define() -> Metrics {
        let mut denied = [None; DENIAL_STATS.len()];
        for (slot, name) in denied.iter_mut().zip(DENIAL_STATS) {
            *slot = define(MetricKind::Counter, &format!("denied.{name}"));
        }
        Metrics {
            allowed: define(MetricKind::Counter, "allowed"),
            public: define(MetricKind::Counter, "public"),
            cors_preflight: define(MetricKind::Counter, "cors_preflight"),
            denied,
            key_fetch_ok: define(MetricKind::Counter, "jwks_fetch.success"),
            key_fetch_failed: define(MetricKind::Counter, "jwks_fetch.failure"),
            keys_in_use: define(MetricKind::Gauge, "jwks_keys"),
        }
    }

    fn bump(id: Option<u32>) {
        if let Some(id) = id {
            host::increment_metric(id, 1);
        }
    }

    pub fn allowed(&self) {
        Self::bump(self.allowed)
    }

    pub fn public(&self) {
        Self::bump(self.public)
    }

    pub fn cors_preflight(&self) {
        Self::bump(self.cors_preflight)
    }

    pub fn denied(&self, denial: &Denial) {
        Self::bump(self.denied.get(denial.stat()).copied().flatten())
    }

    pub fn key_fetch(&self, ok: bool) {
        Self::bump(if ok {
            self.key_fetch_ok
        } else {
            self.key_fetch_failed
        })
    }

    pub fn keys_in_use(&self, count: usize) {
        if let Some(id) = self.keys_in_use {
            host::record_metric(id, u64::try_from(count).unwrap_or(u64::MAX));
        }
    }
}
