//! Reads the request the decision needs from the host: every header line in one call, then
//! what that call left out on this host.

use crate::headers;
use crate::host::{self, Map};
use filter_core::header_map;
use filter_core::request::OwnedRequest;
use std::cell::Cell;
use std::rc::Rc;

/// A request waiting for another request's fetch, with what deciding it needs.
pub struct Parked {
    pub id: u32,
    pub request: OwnedRequest,
    pub nonce: Rc<Cell<Option<String>>>,
}

/// Whether the downstream connection uses TLS. `:scheme` may echo a client's
/// `X-Forwarded-Proto`, so the connection is asked: Envoy's and Kong's hosts answer
/// `connection.tls_version`, APISIX's host answers nginx variables such as `https`.
fn downstream_tls() -> bool {
    match host::property(&["connection", "tls_version"]) {
        Ok(Some(version)) => !version.is_empty(),
        _ => matches!(host::property(&["https"]), Ok(Some(v)) if v == b"on"),
    }
}

/// Reads the request: on Envoy one host call, as it lists the pseudo-headers with the
/// header lines; nginx-based hosts are asked for `:method` and `:path` by name. Only DPoP
/// requests pay for the connection's scheme (and, without a `Host` line, `:authority`).
pub fn read(trust_forwarded: bool) -> OwnedRequest {
    let encoded = host::header_map(Map::RequestHeaders);
    let lines = header_map::decode(&encoded).unwrap_or_default();
    let mut request = OwnedRequest::from_lines(lines, trust_forwarded);
    if request.method.is_none() {
        request.method = headers::request(":method");
    }
    if request.path.is_none() {
        request.path = headers::request(":path");
    }
    if request.has_dpop() {
        if request.authority.is_none() {
            request.authority = headers::request(":authority");
        }
        if downstream_tls() {
            request.scheme = "https";
        }
    }
    request
}
