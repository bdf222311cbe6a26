//! The statistics as Prometheus scrapes them from Envoy (`/stats/prometheus`): their names,
//! that each outcome moves its own, and that the Grafana dashboard in `examples/grafana/`
//! asks for names that exist.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;
mod contract;

use std::collections::BTreeMap;

use common::*;
use contract::Target;
use filter_core::rejection::DENIAL_STATS;

/// The metric families (`name` → value) of Envoy's Prometheus page that belong to the filter.
fn scrape(gateway: &Gateway) -> BTreeMap<String, f64> {
    let response = gateway.envoy().admin_get("/stats/prometheus").unwrap();
    assert_eq!(response.status, 200);
    String::from_utf8_lossy(&response.body)
        .lines()
        .filter(|line| !line.starts_with('#') && line.contains("auth0_wasm_filter"))
        .filter_map(|line| {
            let (name, value) = line.rsplit_once(' ')?;
            let name = name.split('{').next()?.to_owned();
            Some((name, value.parse().ok()?))
        })
        .collect()
}

#[test]
fn prometheus_names_and_values() {
    let stack = Stack::start();
    let target = Target::main(&stack);
    let token = stack.token().build();
    target.allowed(&Request::get("/api/private").bearer(&token), "allowed");
    target.allowed(&Request::get("/api/public"), "public");
    target.denied(&Request::get("/api/private"), "no credentials");
    target.denied(
        &Request::get("/api/private").bearer("not-a-token"),
        "invalid token",
    );

    // Request counters reach Envoy on the filter's next tick; the last request's is waited for.
    contract::filter_stat_once(&stack.gateway, "denied.invalid_token", 1);
    let metrics = scrape(&stack.gateway);
    let value = |name: &str| {
        *metrics
            .get(name)
            .unwrap_or_else(|| panic!("{name} is not on /stats/prometheus: {metrics:#?}"))
    };
    assert_eq!(value("auth0_wasm_filter_allowed"), 1.0);
    assert_eq!(value("auth0_wasm_filter_public"), 1.0);
    assert_eq!(value("auth0_wasm_filter_cors_preflight"), 0.0);
    assert_eq!(value("auth0_wasm_filter_denied_no_credentials"), 1.0);
    assert_eq!(value("auth0_wasm_filter_denied_invalid_token"), 1.0);
    for reason in DENIAL_STATS {
        value(&format!("auth0_wasm_filter_denied_{reason}"));
    }
    assert!(value("auth0_wasm_filter_jwks_fetch_success") >= 1.0);
    assert_eq!(value("auth0_wasm_filter_jwks_fetch_failure"), 0.0);
    assert!(value("auth0_wasm_filter_jwks_keys") >= 1.0);
}

#[test]
fn the_dashboard_asks_for_metrics_that_exist() {
    let stack = Stack::start();
    let metrics = scrape(&stack.gateway);
    let dashboard = include_str!("../examples/grafana/auth0-wasm-filter.json");
    let dashboard: serde_json::Value = serde_json::from_str(dashboard).unwrap();
    let mut asked = 0;
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            // Names spelled out; `auth0_wasm_filter_denied_.+` matchers cover DENIAL_STATS.
            for name in expr
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .filter(|word| word.starts_with("auth0_wasm_filter_"))
            {
                if name != "auth0_wasm_filter_denied_" {
                    assert!(metrics.contains_key(name), "{name} in {expr:?}");
                    asked += 1;
                }
            }
        }
    }
    assert!(asked >= 10, "{asked} names asked for");
}
