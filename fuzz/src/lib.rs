//! What the fuzz targets share: how an input is cut into lines and into a request, the
//! in-memory replay store, and the fixed instant and configuration of the `authorize` target.

use filter_core::authorize::{Decision, Gate, ReplayStore, RequestView};
use filter_core::config::{self, Config};
use filter_core::replay::ReplayError;
use std::collections::HashMap;
use std::rc::Rc;

/// The instant the seeds' tokens and proofs were made for (Unix seconds).
pub const NOW: u64 = 1_700_000_000;

/// The configuration of the `authorize` target: inline keys (testbed's), rules, DPoP with
/// forwarded headers trusted. Written with the seeds by `testbed`'s `fuzz-seeds`.
pub const AUTHORIZE_CONFIG: &str = include_str!("../authorize-config.json");

/// The input as text lines; `None` when it is not UTF-8 (hosts hand the filter text).
pub fn lines(data: &[u8]) -> Option<Vec<&str>> {
    std::str::from_utf8(data)
        .ok()
        .map(|s| s.split('\n').collect())
}

/// Replay records in a map, as the shared store keeps them.
#[derive(Default)]
pub struct Replays(HashMap<u64, u64>);

impl ReplayStore for Replays {
    fn record(&mut self, hash: u64, expires_at: u64, now: u64) -> Result<(), ReplayError> {
        match self.0.insert(hash, expires_at) {
            Some(previous) if previous > now => Err(ReplayError::Replayed),
            _ => Ok(()),
        }
    }
}

/// The `authorize` target's configuration, parsed.
pub fn authorize_config() -> Option<Rc<Config>> {
    config::parse(AUTHORIZE_CONFIG.as_bytes()).ok().map(Rc::new)
}

/// Decides the request in `data` twice (the second time meets the token cache and the replay
/// store filled), ten seconds after [`NOW`]. Lines: method, path, `Authorization` (empty:
/// none), then `dpop: <proof>` and `<x-forwarded-name>: <value>`. `None` when not UTF-8.
pub fn decide(config: Rc<Config>, data: &[u8]) -> Option<[Decision; 2]> {
    let lines = lines(data)?;
    let field = |i: usize| lines.get(i).copied().unwrap_or_default();
    let mut dpop = Vec::new();
    let mut forwarded = Vec::new();
    for line in lines.iter().skip(3) {
        if let Some(proof) = line.strip_prefix("dpop: ") {
            dpop.push(proof.to_owned());
        } else if let Some((name, value)) = line.split_once(": ") {
            forwarded.push((name.to_owned(), value.to_owned()));
        }
    }
    let request = RequestView {
        method: field(0),
        path: field(1),
        scheme: "https",
        authority: "api.example.com",
        authorization: Some(field(2)).filter(|a| !a.is_empty()),
        dpop: &dpop,
        forwarded: &forwarded,
        cors_preflight: false,
    };
    let mut gate = Gate::from_config(config);
    let mut replays = Replays::default();
    let now_ms = (NOW + 10) * 1000;
    let first = gate.authorize(&request, &mut replays, now_ms);
    let second = gate.authorize(&request, &mut replays, now_ms);
    Some([first, second])
}

#[cfg(test)]
mod tests {
    use super::*;
    use filter_core::authorize::PassReason;
    use filter_core::rejection::Denial;

    /// The seeds reach the end of the pipeline: without that the fuzzer would explore only
    /// the refusals near its start.
    #[test]
    fn the_authorize_seeds_are_decided_as_named() {
        let config = authorize_config().expect("the configuration parses");
        let seed = |name: &str| {
            let path = format!("{}/corpus/authorize/{name}", env!("CARGO_MANIFEST_DIR"));
            let data = std::fs::read(&path).expect("the seed exists");
            decide(Rc::clone(&config), &data).expect("the seed is text")
        };
        for name in ["bearer", "scoped", "eddsa"] {
            let [first, second] = seed(name);
            assert!(matches!(first, Decision::Allow(_)), "{name}: {first:?}");
            assert!(matches!(second, Decision::Allow(_)), "{name}: {second:?}");
        }
        for name in ["dpop", "dpop-forwarded"] {
            let [first, second] = seed(name);
            assert!(matches!(first, Decision::Allow(_)), "{name}: {first:?}");
            assert!(
                matches!(second, Decision::Deny(Denial::InvalidDpopProof { .. })),
                "{name}, the same proof again: {second:?}"
            );
        }
        let [public, _] = seed("public");
        assert!(matches!(public, Decision::Pass(PassReason::PublicRoute)));
    }

    /// The header map seeds are what a host sends: they decode, with the lines they were
    /// written with.
    #[test]
    fn the_header_map_seeds_decode() {
        for (name, method, authority) in [
            ("envoy", Some("GET"), "api.example.com"),
            ("nginx", None, "api.example.com"),
        ] {
            let path = format!("{}/corpus/header_map/{name}", env!("CARGO_MANIFEST_DIR"));
            let data = std::fs::read(&path).expect("the seed exists");
            let lines = filter_core::header_map::decode(&data).expect("the seed decodes");
            let request = filter_core::request::OwnedRequest::from_lines(lines, true);
            assert_eq!(request.method.as_deref(), method, "{name}");
            assert_eq!(request.authority.as_deref(), Some(authority), "{name}");
            assert!(request.authorization.is_some(), "{name}");
        }
    }
}
