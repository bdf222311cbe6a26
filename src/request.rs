//! The request as the decision reads it: read once from the host's headers and owned, so it
//! outlives the headers callback while the request waits for keys.

use crate::headers;
use crate::host;
use filter_core::authorize::RequestView;
use std::cell::Cell;
use std::rc::Rc;

/// A request waiting for another request's fetch, with what deciding it needs.
pub struct Parked {
    pub id: u32,
    pub request: OwnedRequest,
    pub nonce: Rc<Cell<Option<String>>>,
}

/// The parts of a request the decision reads, owned so they outlive the headers callback.
#[derive(Debug, Clone)]
pub struct OwnedRequest {
    method: String,
    path: String,
    scheme: &'static str,
    authority: String,
    authorization: Option<String>,
    dpop: Vec<String>,
    forwarded: Vec<(String, String)>,
    cors_preflight: bool,
}

impl OwnedRequest {
    pub fn view(&self) -> RequestView<'_> {
        RequestView {
            method: &self.method,
            path: &self.path,
            scheme: self.scheme,
            authority: &self.authority,
            authorization: self.authorization.as_deref(),
            dpop: &self.dpop,
            forwarded: &self.forwarded,
            cors_preflight: self.cors_preflight,
        }
    }
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

/// Reads the request. Only DPoP requests pay for reading every header line, which is how
/// repeated `DPoP` (and `X-Forwarded-*`) lines are told apart from one.
pub fn read(trust_forwarded: bool) -> OwnedRequest {
    let method = headers::request(":method").unwrap_or_default();
    let cors_preflight = method == "OPTIONS"
        && headers::request("origin").is_some()
        && headers::request("access-control-request-method").is_some();
    let mut request = OwnedRequest {
        path: headers::request(":path").unwrap_or_default(),
        scheme: "http",
        authority: String::new(),
        authorization: headers::request("authorization"),
        dpop: Vec::new(),
        forwarded: Vec::new(),
        cors_preflight,
        method,
    };
    if headers::request("dpop").is_some() {
        let mut host_header = None;
        for (name, value) in headers::all_request() {
            if name.eq_ignore_ascii_case("dpop") {
                request.dpop.push(value);
            } else if name.eq_ignore_ascii_case("host") {
                host_header = Some(value);
            } else if trust_forwarded && name.to_ascii_lowercase().starts_with("x-forwarded-") {
                request.forwarded.push((name, value));
            }
        }
        // nginx-based hosts keep the client's `Host` as a header and give `:authority` as
        // their own `server_name:port`; Envoy has only `:authority` (it drops a `host`
        // header that comes with one).
        request.authority = host_header
            .or_else(|| headers::request(":authority"))
            .unwrap_or_default();
        if downstream_tls() {
            request.scheme = "https";
        }
    }
    request
}
