//! The echo upstream: answers every request 200 with what it received, so a test can
//! see exactly which headers the gateway forwarded.
//!
//! Body: `{"method": "GET", "path": "/api/x?q=1", "headers": {"x-auth-sub": "user_123"}}`.
//! `path` is the request target as received (query included, undecoded). Header names are
//! lower-cased; a header received once maps to its value as a string, a header received
//! several times maps to an array of its values in arrival order (never joined, so a
//! forged copy next to the real one stays visible).

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use serde_json::{json, Map, Value};

use crate::server::{Action, Handler, Request, Response, Server};

struct EchoState {
    requests: AtomicU64,
}

impl Handler for EchoState {
    fn handle(&self, request: &Request) -> Action {
        self.requests.fetch_add(1, Ordering::SeqCst);
        Action::Respond(Response::json(200, &echo_body(request)))
    }
}

fn echo_body(request: &Request) -> Value {
    let mut headers = Map::new();
    for (name, value) in &request.headers {
        match headers.get_mut(name) {
            None => {
                headers.insert(name.clone(), Value::String(value.clone()));
            }
            Some(Value::Array(values)) => values.push(Value::String(value.clone())),
            Some(first) => {
                let earlier = first.take();
                *first = Value::Array(vec![earlier, Value::String(value.clone())]);
            }
        }
    }
    json!({ "method": request.method, "path": request.target, "headers": headers })
}

pub struct Echo;

impl Echo {
    /// Serves on 127.0.0.1:`port` (0: any free port) until the handle is dropped.
    pub fn start(port: u16) -> io::Result<EchoHandle> {
        let state = Arc::new(EchoState {
            requests: AtomicU64::new(0),
        });
        let server = Server::start(port, Arc::clone(&state) as Arc<dyn Handler>)?;
        Ok(EchoHandle { server, state })
    }
}

pub struct EchoHandle {
    server: Server,
    state: Arc<EchoState>,
}

impl EchoHandle {
    pub fn port(&self) -> u16 {
        self.server.port()
    }

    /// Requests answered so far: a denied request must leave this unchanged.
    pub fn requests(&self) -> u64 {
        self.state.requests.load(Ordering::SeqCst)
    }
}

/// A parsed echo body.
#[derive(Debug, Clone, PartialEq)]
pub struct Echoed {
    pub method: String,
    pub path: String,
    /// (name, value) pairs, one per received header line, in arrival order.
    pub headers: Vec<(String, String)>,
}

impl Echoed {
    /// Parses an echo body; `None` when the body is not one.
    pub fn parse(body: &[u8]) -> Option<Echoed> {
        let value: Value = serde_json::from_slice(body).ok()?;
        let method = value.get("method")?.as_str()?.to_string();
        let path = value.get("path")?.as_str()?.to_string();
        let mut headers = Vec::new();
        for (name, entry) in value.get("headers")?.as_object()? {
            match entry {
                Value::String(single) => headers.push((name.clone(), single.clone())),
                Value::Array(values) => {
                    for item in values {
                        headers.push((name.clone(), item.as_str()?.to_string()));
                    }
                }
                _ => return None,
            }
        }
        Some(Echoed {
            method,
            path,
            headers,
        })
    }

    /// The value of a header received once; `None` if absent or repeated.
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        let mut values = self.headers.iter().filter(|(n, _)| *n == name);
        match (values.next(), values.next()) {
            (Some((_, value)), None) => Some(value.as_str()),
            _ => None,
        }
    }

    /// Every value received for `name`, in order.
    pub fn header_values(&self, name: &str) -> Vec<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .filter(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn has_header(&self, name: &str) -> bool {
        !self.header_values(name).is_empty()
    }
}
