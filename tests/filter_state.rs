//! `filter_state`: the outcome and chosen claims written to Envoy's filter state, read by an
//! RBAC filter placed after this one and by the access log, in real Envoy.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;
mod contract;

use common::*;
use contract::{eventually, Target};
use serde_json::{json, Value};
use std::time::Duration;

const LISTENER: &str = "rbac";

/// Lets through requests whose verified `sub` is `admin-user`, and public routes.
fn rbac_on_sub() -> Value {
    json!({
        "name": "envoy.filters.http.rbac",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC",
            "rules": {"action": "ALLOW", "policies": {
                "admins": {
                    "permissions": [{"any": true}],
                    "principals": [{"filter_state": {
                        "key": "wasm.auth0.sub",
                        "string_match": {"exact": "admin-user"}
                    }}]
                },
                "public": {
                    "permissions": [{"any": true}],
                    "principals": [{"filter_state": {
                        "key": "wasm.auth0.result",
                        "string_match": {"exact": "public"}
                    }}]
                }
            }}
        }
    })
}

fn access_log(path: &str) -> Value {
    json!([{
        "name": "envoy.access_loggers.file",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
            "path": path,
            "log_format": {"text_format_source": {"inline_string":
                "%REQ(:PATH)% %RESPONSE_CODE% sub=%FILTER_STATE(wasm.auth0.sub:PLAIN)% result=%FILTER_STATE(wasm.auth0.result:PLAIN)%\n"}}
        }
    }])
}

#[test]
fn rbac_matches_a_claim_and_the_access_log_shows_who_and_why() {
    let log_path = std::env::temp_dir().join(format!(
        "auth0-wasm-filter-access-{}.log",
        std::process::id()
    ));
    let _ = std::fs::remove_file(&log_path);
    let log_path_text = log_path.to_string_lossy().into_owned();
    let stack = Stack::start_with(
        IssuerOptions::default(),
        |issuer| {
            let mut config = demo_config(issuer);
            config["filter_state"] = json!({"claims": ["sub", "scope"]});
            config.as_object_mut().unwrap().remove("forward");
            config
        },
        |options| {
            let config = options.plugin_config.clone().unwrap();
            let filter = testbed::envoy::wasm_filter(&module_path(), &config, &options.vm_id);
            let mut listener = Listener::new(LISTENER, vec![filter, rbac_on_sub()], ECHO_CLUSTER);
            listener
                .connection_manager
                .insert("access_log".into(), access_log(&log_path_text));
            options.listener(listener)
        },
    );
    let target = Target::listener(&stack, LISTENER);
    let admin = stack.token().sub("admin-user").build();
    let user = stack.token().build();

    target.allowed(&Request::get("/api/private").bearer(&admin), "the admin");
    let refused = target.send(&Request::get("/api/private").bearer(&user));
    assert_eq!(
        refused.status, 403,
        "RBAC refuses another subject: {refused:?}"
    );
    let response = target.denied(&Request::get("/api/private"), "no token");
    contract::no_credentials().check(&response, "no token");
    target.allowed(&Request::get("/api/public"), "public");

    let log = eventually(Duration::from_secs(10), "four access log lines", || {
        let text = std::fs::read_to_string(&log_path).unwrap_or_default();
        (text.lines().count() >= 4).then_some(text)
    });
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(
        lines,
        vec![
            "/api/private 200 sub=admin-user result=allowed",
            &format!(
                "/api/private 403 sub={} result=allowed",
                testbed::token::DEFAULT_SUBJECT
            ),
            "/api/private 401 sub=- result=no_credentials",
            "/api/public 200 sub=- result=public",
        ]
    );
    let _ = std::fs::remove_file(&log_path);
}
