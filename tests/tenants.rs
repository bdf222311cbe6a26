//! Two tenants behind one gateway, each on its own routes (per-route `issuers`), in real
//! Envoy: a token passes only on its tenant's routes, and shared routes take both.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;
mod contract;

use common::*;
use contract::Target;
use serde_json::{json, Value};

fn tenant(domain: &str) -> IssuerHandle {
    Issuer::start(IssuerOptions {
        domain: domain.into(),
        ..IssuerOptions::default()
    })
    .unwrap()
}

#[test]
fn each_tenant_passes_only_on_its_routes() {
    let tenants = [tenant("tenant-a.local"), tenant("tenant-b.local")];
    let echo = Echo::start(0).unwrap();
    let upstreams: serde_json::Map<String, Value> = tenants
        .iter()
        .map(|t| {
            (
                t.domain().to_string(),
                json!(format!("keys_{}", t.domain())),
            )
        })
        .collect();
    let mut options = GatewayOptions::without_filter(&echo);
    options.plugin_config = Some(json!({
        "domains": ["tenant-a.local", "tenant-b.local"],
        "audience": testbed::DEFAULT_AUDIENCE,
        "upstreams": upstreams,
        "rules": [
            {"match": {"prefix": "/tenant-a/"}, "issuers": ["tenant-a.local"]},
            {"match": {"prefix": "/tenant-b/"}, "issuers": ["tenant-b.local"], "scopes": "read:messages"}
        ]
    }));
    for t in &tenants {
        options = options.cluster(&format!("keys_{}", t.domain()), t.port());
    }
    let gateway = Gateway::start(options);
    let target = Target {
        gateway: &gateway,
        echo: &echo,
        listener: MAIN_LISTENER,
    };
    let a = tenants[0].token_builder().build();
    let b = tenants[1].token_builder().scope("read:messages").build();

    target.allowed(&Request::get("/tenant-a/orders").bearer(&a), "a on a");
    target.allowed(&Request::get("/tenant-b/orders").bearer(&b), "b on b");
    target.allowed(&Request::get("/shared").bearer(&a), "a on a shared route");
    target.allowed(&Request::get("/shared").bearer(&b), "b on a shared route");
    for (path, token, case) in [
        ("/tenant-a/orders", &b, "b on a"),
        ("/tenant-b/orders", &a, "a on b"),
    ] {
        let response = target.denied(&Request::get(path).bearer(token), case);
        let description = contract::invalid_token().check(&response, case);
        assert_eq!(
            description, "Token issuer is not accepted on this route",
            "{case}"
        );
    }
}
