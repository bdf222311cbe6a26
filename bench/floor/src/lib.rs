//! The floor of `make bench`: what any Rust proxy-wasm filter costs before it decides
//! anything. Its plugin configuration picks one of two behaviours:
//!
//! - `"noop"`: every request continues untouched (the cost of being a wasm filter at all);
//! - `"read"`: every request first reads, one host call each, the five request headers an
//!   auth filter needs (`:method`, `:path`, `:authority`, `authorization`, `dpop`) and the
//!   host's clock, as a straightforward filter would, then continues.
//!
//! The values read are kept in the context until it ends, so the work cannot be skipped.

use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType, LogLevel};
use std::time::SystemTime;

const READ: &[&str] = &[":method", ":path", ":authority", "authorization", "dpop"];

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Warn);
    proxy_wasm::set_root_context(|_| Box::new(Floor { read: false }));
}}

struct Floor {
    read: bool,
}

impl Context for Floor {}

impl RootContext for Floor {
    fn on_configure(&mut self, _size: usize) -> bool {
        let configuration = self.get_plugin_configuration().unwrap_or_default();
        match configuration.trim_ascii() {
            b"\"noop\"" => self.read = false,
            b"\"read\"" => self.read = true,
            _ => return false,
        }
        true
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Request {
            read: self.read,
            seen: Vec::new(),
            now: None,
        }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

struct Request {
    read: bool,
    seen: Vec<Option<String>>,
    now: Option<SystemTime>,
}

impl Context for Request {}

impl HttpContext for Request {
    fn on_http_request_headers(&mut self, _headers: usize, _end_of_stream: bool) -> Action {
        if self.read {
            self.seen = READ
                .iter()
                .map(|name| self.get_http_request_header(name))
                .collect();
            self.now = Some(self.get_current_time());
        }
        Action::Continue
    }
}
