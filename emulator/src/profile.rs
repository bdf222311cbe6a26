//! What each host does differently, as data. Each fact comes from the hosts' observed
//! behaviour: Envoy 1.40, Kong's ngx_wasm_module 0.6 (nginx 1.27) and APISIX's
//! wasm-nginx-module 0.7 under APISIX's Lua glue.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    Envoy,
    Kong,
    Apisix,
}

impl Profile {
    pub const ALL: [Profile; 3] = [Profile::Envoy, Profile::Kong, Profile::Apisix];

    pub fn name(self) -> &'static str {
        match self {
            Profile::Envoy => "envoy",
            Profile::Kong => "kong",
            Profile::Apisix => "apisix",
        }
    }

    /// Host time, tick and shared data answer `Unimplemented`.
    pub fn lacks_time_tick_and_shared_data(self) -> bool {
        self == Profile::Apisix
    }

    /// `proxy_set_effective_context` does nothing: a request can only be resumed or answered
    /// from its own callbacks.
    pub fn switches_context(self) -> bool {
        self == Profile::Envoy
    }

    /// A callout made inside the root context's callout callback crashes the worker.
    pub fn crashes_on_root_chained_callout(self) -> bool {
        self == Profile::Kong
    }

    /// Callouts only from a request context, one outstanding per request, and the callback
    /// gets the root context's id.
    pub fn callouts_only_from_requests(self) -> bool {
        self == Profile::Apisix
    }

    /// The tick period may be set once per root context, from it; another call traps.
    pub fn tick_settable_once(self) -> bool {
        self == Profile::Kong
    }

    /// Request header changes do not reach what is proxied upstream.
    pub fn ignores_request_header_changes(self) -> bool {
        self == Profile::Kong
    }

    /// `:authority` is the server's own `server_name:port`; the client's `Host` is a header.
    pub fn authority_is_server_name(self) -> bool {
        self == Profile::Kong
    }

    /// `proxy_get_header_map_pairs` lists the request's pseudo-headers (`:method`, `:path`,
    /// `:authority`, `:scheme`) with its header lines. Kong's host lists only the header
    /// lines (its test suite's `get_http_request_headers()` echo shows `Host`, `Connection`
    /// and the client's headers); APISIX's is taken to do the same, which only costs the
    /// filter the by-name reads it makes when they are missing.
    pub fn lists_pseudo_headers(self) -> bool {
        self == Profile::Envoy
    }

    /// nginx-based: the client's `Host` is a header of its own.
    pub fn keeps_host_header(self) -> bool {
        self != Profile::Envoy
    }

    /// A request paused with no callout of its own goes on to the upstream when the
    /// callback returns.
    pub fn pause_without_callout_continues(self) -> bool {
        self == Profile::Apisix
    }

    /// The callout host must be `host:port` (no cluster names).
    pub fn callout_needs_host_port(self) -> bool {
        self != Profile::Envoy
    }

    /// Root context and `on_configure` are created on the first request of each worker,
    /// and `proxy_on_vm_start` is never called.
    pub fn configures_lazily(self) -> bool {
        self == Profile::Apisix
    }

    /// Metric definitions answer `Ok` without writing an id; values are dropped.
    pub fn drops_metrics(self) -> bool {
        self == Profile::Apisix
    }

    /// A compare-and-swap on an absent shared-data key is ignored (the write happens).
    pub fn ignores_cas_on_absent_key(self) -> bool {
        self == Profile::Envoy
    }

    /// Imports the host does not define: a module importing one fails to load.
    pub fn missing_imports(self) -> &'static [&'static str] {
        match self {
            Profile::Apisix => &["proxy_get_log_level"],
            Profile::Envoy | Profile::Kong => &[],
        }
    }

    /// Imports the host defines with another signature than the ABI's (as it declares them):
    /// a module importing one fails to load.
    pub fn other_signatures(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Profile::Envoy => &[],
            Profile::Kong => &[("proxy_get_log_level", "(i32, i32) -> i32")],
            Profile::Apisix => &[("proxy_get_metric", "(i32, i64) -> i32")],
        }
    }

    /// Imports the host defines but does not implement: calling one ends the call in error
    /// (Kong's host: "not yet implemented").
    pub fn unimplemented_calls(self) -> &'static [&'static str] {
        match self {
            Profile::Kong => &[
                "proxy_done",
                "proxy_get_status",
                "proxy_resolve_shared_queue",
            ],
            Profile::Envoy | Profile::Apisix => &[],
        }
    }
}
