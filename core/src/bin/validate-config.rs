//! `validate-config FILE...` (`make validate CONFIG=FILE`): checks plugin configurations
//! exactly as the filter does when a gateway loads it, without a gateway. For each file it
//! prints what the configuration sets up and which hosts would refuse it, or the one line the
//! filter would log; the exit status is 1 when any file is refused. `-` reads stdin.

use filter_core::config::{self, Config};
use filter_core::key_source::KeySource;
use std::io::Read;
use std::process::ExitCode;

fn read(path: &str) -> std::io::Result<Vec<u8>> {
    if path == "-" {
        let mut bytes = Vec::new();
        std::io::stdin().read_to_end(&mut bytes)?;
        Ok(bytes)
    } else {
        std::fs::read(path)
    }
}

fn describe(config: &Config) -> Vec<String> {
    let mut lines = Vec::new();
    for issuer in &config.issuers {
        let keys = match config.key_sources.get(issuer.key_source) {
            Some(KeySource::Discovery { url, upstream }) => {
                format!("discovery {} through {upstream}", url.normalized())
            }
            Some(KeySource::JwksUri { url, upstream }) => {
                format!("JWKS {} through {upstream}", url.normalized())
            }
            Some(KeySource::Inline(keys)) => format!("{} inline keys", keys.len()),
            None => "no keys".to_owned(),
        };
        lines.push(format!("issuer {}: {keys}", issuer.issuer));
    }
    lines.push(format!("audiences: {}", config.token.audiences.join(", ")));
    let algorithms: Vec<String> = config
        .token
        .algorithms
        .iter()
        .map(|a| format!("{a:?}"))
        .collect();
    lines.push(format!("token algorithms: {}", algorithms.join(", ")));
    let dpop = &config.dpop;
    lines.push(if !dpop.enabled {
        "DPoP: off".to_owned()
    } else {
        format!(
            "DPoP: {}, replay check {}, nonces {}",
            if dpop.required {
                "required"
            } else {
                "accepted"
            },
            if dpop.replay_check { "on" } else { "off" },
            if dpop.nonce.is_some() {
                "required"
            } else {
                "off"
            },
        )
    });
    if config.needs_header_changes() {
        lines.push(
            "refused on Kong (ngx_wasm_module): \"forward\" needs request header changes".into(),
        );
    }
    if config.needs_shared_data() {
        lines.push(
            "refused on APISIX: replay detection across workers needs shared data \
             (set \"dpop_replay_scope\": \"worker\")"
                .into(),
        );
    }
    lines
}

fn main() -> ExitCode {
    let paths: Vec<String> = std::env::args().skip(1).collect();
    if paths.is_empty() {
        eprintln!("usage: validate-config FILE... (- for stdin)");
        return ExitCode::from(2);
    }
    let mut refused = false;
    for path in &paths {
        let outcome = read(path)
            .map_err(|e| format!("cannot read it: {e}"))
            .and_then(|bytes| {
                config::parse(&bytes).map_err(|e| format!("invalid plugin configuration: {e}"))
            });
        match outcome {
            Ok(config) => {
                println!("{path}: valid");
                for line in describe(&config) {
                    println!("  {line}");
                }
            }
            Err(why) => {
                refused = true;
                println!("{path}: {why}");
            }
        }
    }
    if refused {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
