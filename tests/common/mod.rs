//! End-to-end harness: real Envoy loading `dist/auth0_wasm_filter.wasm`, in front of the
//! echo upstream, fetching keys from the local issuer.
//!
//! ```ignore
//! let issuer = Issuer::start_default().unwrap();
//! let echo = Echo::start(0).unwrap();
//! let gateway = Gateway::start(GatewayOptions::new(demo_config(&issuer), &issuer, &echo));
//! let response = gateway.send(&Request::get("/api/private").bearer(&issuer.token_builder().build()));
//! assert_eq!(response.status, 200);
//! ```
//!
//! Every port is chosen by the OS; Envoy's are read back from its admin interface. When
//! a test panics, the gateway prints the last 200 lines of Envoy's log before killing it.

#![allow(dead_code, unused_imports)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

pub use testbed::client::{Connection, Request, Response};
pub use testbed::envoy::{Envoy, EnvoyOptions, Listener, StartFailure};
pub use testbed::issuer::{Endpoint, IssuerOptions, Outage, TokenRequest};
pub use testbed::token::tamper;
pub use testbed::{
    Echo, EchoHandle, Echoed, Issuer, IssuerHandle, Key, ProofBuilder, Signer, TokenBuilder,
};

/// The module `make build` writes, relative to the repository root.
pub const MODULE_RELATIVE_PATH: &str = "dist/auth0_wasm_filter.wasm";
/// The listener every request goes to unless a test names another.
pub const MAIN_LISTENER: &str = "main";
/// Cluster names in the generated bootstrap; the plugin configuration's `upstream`
/// names [`ISSUER_CLUSTER`].
pub const ISSUER_CLUSTER: &str = "issuer";
pub const ECHO_CLUSTER: &str = "echo";
/// All filters of one gateway share this VM id unless a test sets another.
pub const VM_ID: &str = "auth0";
pub const LOG_TAIL_LINES: usize = 200;

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Whether `make build` has produced the module.
pub fn module_built() -> bool {
    repo_root().join(MODULE_RELATIVE_PATH).is_file()
}

/// The built module; panics with what to do when it is missing.
pub fn module_path() -> PathBuf {
    let path = repo_root().join(MODULE_RELATIVE_PATH);
    assert!(
        path.is_file(),
        "{} is missing: run `make build` first (end-to-end tests load the built module)",
        path.display()
    );
    path
}

/// The Envoy binary (`$ENVOY_BIN` or `.tools/envoy/envoy/_bin/envoy`); panics with what
/// to do when it is missing.
pub fn envoy_binary() -> PathBuf {
    testbed::envoy::find_envoy(&repo_root()).unwrap_or_else(|message| panic!("{message}"))
}

/// The demo's plugin configuration (the same rules and forwarding as the top-level
/// `envoy.yaml`), for `issuer`'s domain and audience, fetching through [`ISSUER_CLUSTER`].
pub fn demo_config(issuer: &IssuerHandle) -> Value {
    json!({
        "domain": issuer.domain(),
        "audience": issuer.audience(),
        "upstream": ISSUER_CLUSTER,
        "rules": [
            {"match": {"path": "/api/public"}, "require": "none"},
            {"match": {"path": "/api/private"}},
            {"match": {"path": "/api/messages", "methods": ["GET"]}, "scopes": "read:messages"},
            {"match": {"path": "/api/data", "methods": ["POST"]}, "scopes": ["read:data", "write:data"]}
        ],
        "forward": {"claim_headers": {"sub": "x-auth-sub", "scope": "x-auth-scope"}}
    })
}

/// Sets (or replaces) one top-level member of a plugin configuration.
pub fn with(mut config: Value, name: &str, value: Value) -> Value {
    if let Value::Object(map) = &mut config {
        map.insert(name.into(), value);
    }
    config
}

/// Removes one top-level member of a plugin configuration.
pub fn without(mut config: Value, name: &str) -> Value {
    if let Value::Object(map) = &mut config {
        map.remove(name);
    }
    config
}

#[derive(Debug, Clone)]
pub struct GatewayOptions {
    /// Configuration of the filter on the main listener; `None` runs the main listener
    /// with no auth filter at all.
    pub plugin_config: Option<Value>,
    /// Envoy worker threads.
    pub concurrency: u32,
    /// Port of the [`ISSUER_CLUSTER`]; `None` leaves that cluster out.
    pub issuer_port: Option<u16>,
    /// Port of the [`ECHO_CLUSTER`], where the main listener routes.
    pub echo_port: u16,
    /// More plain HTTP/1.1 clusters on 127.0.0.1, as (name, port).
    pub clusters: Vec<(String, u16)>,
    /// More listeners (e.g. a second filter instance, `jwt_authn`, or no filter).
    pub extra_listeners: Vec<Listener>,
    /// HTTP filters placed before the wasm filter on the main listener.
    pub filters_before: Vec<Value>,
    /// Extra `HttpConnectionManager` members for the main listener (e.g.
    /// `{"normalize_path": true}` or forwarded-header settings).
    pub connection_manager: Map<String, Value>,
    /// Routes of the main listener; empty: everything to [`ECHO_CLUSTER`].
    pub routes: Vec<Value>,
    pub vm_id: String,
    pub startup_timeout: Duration,
    /// `--component-log-level`.
    pub component_log_level: String,
    /// Listeners served from a file Envoy watches, for [`Gateway::reload`]; the main
    /// listener then gets a fixed port so that a reload keeps it.
    pub reloadable: bool,
    /// Port of the main listener; 0: Envoy picks one.
    pub main_port: u16,
}

impl GatewayOptions {
    /// The filter with `plugin_config` in front of `echo`, keys from `issuer`.
    pub fn new(plugin_config: Value, issuer: &IssuerHandle, echo: &EchoHandle) -> GatewayOptions {
        GatewayOptions {
            plugin_config: Some(plugin_config),
            issuer_port: Some(issuer.port()),
            ..GatewayOptions::without_filter(echo)
        }
    }

    /// Envoy in front of `echo` with no auth filter.
    pub fn without_filter(echo: &EchoHandle) -> GatewayOptions {
        GatewayOptions {
            plugin_config: None,
            concurrency: 1,
            issuer_port: None,
            echo_port: echo.port(),
            clusters: Vec::new(),
            extra_listeners: Vec::new(),
            filters_before: Vec::new(),
            connection_manager: Map::new(),
            routes: Vec::new(),
            vm_id: VM_ID.into(),
            startup_timeout: testbed::envoy::DEFAULT_STARTUP_TIMEOUT,
            component_log_level: testbed::envoy::DEFAULT_COMPONENT_LOG_LEVEL.into(),
            reloadable: false,
            main_port: 0,
        }
    }

    /// Listeners that [`Gateway::reload`] can replace while Envoy runs.
    pub fn reloadable(mut self) -> GatewayOptions {
        self.reloadable = true;
        self.main_port = testbed::net::free_port().expect("a free port");
        self
    }

    pub fn concurrency(mut self, workers: u32) -> GatewayOptions {
        self.concurrency = workers;
        self
    }

    pub fn cluster(mut self, name: &str, port: u16) -> GatewayOptions {
        self.clusters.push((name.into(), port));
        self
    }

    pub fn listener(mut self, listener: Listener) -> GatewayOptions {
        self.extra_listeners.push(listener);
        self
    }

    /// One more listener named `name` running the filter with `plugin_config` (same VM
    /// id, so the same shared data) in front of the echo upstream.
    pub fn filter_listener(self, name: &str, plugin_config: &Value) -> GatewayOptions {
        let filter = testbed::envoy::wasm_filter(&module_path(), plugin_config, &self.vm_id);
        self.listener(Listener::new(name, vec![filter], ECHO_CLUSTER))
    }

    pub fn connection_manager(mut self, name: &str, value: Value) -> GatewayOptions {
        self.connection_manager.insert(name.into(), value);
        self
    }

    /// The bootstrap these options describe.
    pub fn bootstrap(&self) -> Value {
        let mut filters = self.filters_before.clone();
        if let Some(config) = &self.plugin_config {
            filters.push(testbed::envoy::wasm_filter(
                &module_path(),
                config,
                &self.vm_id,
            ));
        }
        let mut main = Listener::new(MAIN_LISTENER, filters, ECHO_CLUSTER);
        main.port = self.main_port;
        main.connection_manager = self.connection_manager.clone();
        if !self.routes.is_empty() {
            main.routes = self.routes.clone();
        }
        let mut listeners = vec![main];
        listeners.extend(self.extra_listeners.iter().cloned());
        let mut clusters = vec![testbed::envoy::cluster(ECHO_CLUSTER, self.echo_port)];
        if let Some(port) = self.issuer_port {
            clusters.push(testbed::envoy::cluster(ISSUER_CLUSTER, port));
        }
        for (name, port) in &self.clusters {
            clusters.push(testbed::envoy::cluster(name, *port));
        }
        testbed::envoy::bootstrap(&listeners, &clusters)
    }

    fn envoy_options(&self) -> EnvoyOptions {
        let mut options = EnvoyOptions::new(envoy_binary());
        options.concurrency = self.concurrency;
        options.startup_timeout = self.startup_timeout;
        options.component_log_level = self.component_log_level.clone();
        options.listeners_from_file = self.reloadable;
        options
    }
}

/// What happened to an Envoy that was expected not to start cleanly.
#[derive(Debug)]
pub struct FailedStart {
    /// Envoy's exit status if it exited (e.g. it refused its configuration).
    pub exit: Option<ExitStatus>,
    /// When Envoy stayed up: the status a request to the main listener got (`None` if
    /// the listener never answered).
    pub probe_status: Option<u16>,
    pub log: String,
}

impl FailedStart {
    pub fn exited(&self) -> bool {
        self.exit.is_some()
    }

    /// The first log line containing `needle`.
    pub fn log_line(&self, needle: &str) -> Option<&str> {
        self.log.lines().find(|line| line.contains(needle))
    }
}

/// A running Envoy; killed when dropped, after printing its log if the test panicked.
pub struct Gateway {
    envoy: Envoy,
}

impl Gateway {
    /// The last [`LOG_TAIL_LINES`] lines of Envoy's log on stderr, for a failing test.
    pub fn print_log_tail(&self) {
        eprintln!(
            "---- last {LOG_TAIL_LINES} lines of Envoy's log ({}) ----\n{}\n---- end of Envoy's log ----",
            self.envoy.log_path().display(),
            self.envoy.log_tail(LOG_TAIL_LINES)
        );
    }

    /// Starts Envoy and waits until every listener answers; panics with Envoy's log if it
    /// does not come up.
    pub fn start(options: GatewayOptions) -> Gateway {
        match Envoy::start(&options.bootstrap(), &options.envoy_options()) {
            Ok(envoy) => Gateway { envoy },
            Err(failure) => panic!("{failure}"),
        }
    }

    /// Starts Envoy with a configuration that must be refused. Waits up to `timeout` for
    /// Envoy to exit; if it comes up instead, sends one request to the main listener and
    /// reports its status. Either way the log is returned for the test to inspect.
    pub fn start_expect_failure(options: GatewayOptions, timeout: Duration) -> FailedStart {
        let mut envoy = match Envoy::spawn(&options.bootstrap(), &options.envoy_options()) {
            Ok(envoy) => envoy,
            Err(e) => panic!("could not start Envoy: {e}"),
        };
        let deadline = Instant::now() + timeout;
        let mut probe_status = None;
        let mut exit = None;
        while Instant::now() < deadline {
            if let Some(status) = envoy.try_wait() {
                exit = Some(status);
                break;
            }
            if envoy.wait_ready(Duration::from_millis(200)).is_ok() {
                let port = envoy.listener_port(MAIN_LISTENER);
                probe_status = port
                    .and_then(|port| {
                        testbed::client::send(port, &Request::get("/api/private")).ok()
                    })
                    .map(|response| response.status);
                break;
            }
        }
        if exit.is_none() {
            // Configuration errors are logged as the VM starts; give late lines a moment.
            exit = envoy.wait_exit(Duration::from_millis(300));
        }
        let log = envoy.log();
        FailedStart {
            exit,
            probe_status,
            log,
        }
    }

    pub fn envoy(&self) -> &Envoy {
        &self.envoy
    }

    /// Replaces the listeners with those of `options` (started [`GatewayOptions::reloadable`],
    /// clusters unchanged) and waits until Envoy runs them: what a control plane pushing a
    /// new filter configuration does.
    pub fn reload(&self, options: &GatewayOptions) {
        let bootstrap = options.bootstrap();
        let listeners = bootstrap
            .pointer("/static_resources/listeners")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if let Err(e) = self
            .envoy
            .replace_listeners(&listeners, Duration::from_secs(30))
        {
            panic!("reloading Envoy's listeners failed: {e}");
        }
    }

    /// Port of the main listener.
    pub fn port(&self) -> u16 {
        self.listener_port(MAIN_LISTENER)
    }

    pub fn listener_port(&self, name: &str) -> u16 {
        self.envoy
            .listener_port(name)
            .unwrap_or_else(|| panic!("no listener named {name:?}"))
    }

    pub fn admin_port(&self) -> u16 {
        self.envoy.admin_port()
    }

    /// `http://127.0.0.1:<main port><path>`: what a DPoP proof's `htu` names.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port())
    }

    /// Sends to the main listener; panics (with Envoy's log) if no response arrives.
    pub fn send(&self, request: &Request) -> Response {
        self.send_to(MAIN_LISTENER, request)
    }

    pub fn send_to(&self, listener: &str, request: &Request) -> Response {
        let port = self.listener_port(listener);
        testbed::client::send(port, request).unwrap_or_else(|e| {
            panic!(
                "{} {} to listener {listener:?} failed: {e}",
                request.method, request.target
            )
        })
    }

    pub fn get(&self, target: &str) -> Response {
        self.send(&Request::get(target))
    }

    /// Counters and gauges matching the regular expression `filter`.
    pub fn stats(&self, filter: &str) -> BTreeMap<String, u64> {
        self.envoy
            .stats(filter)
            .unwrap_or_else(|e| panic!("reading stats failed: {e}"))
    }

    /// One counter or gauge by exact name (`None`: Envoy has no such stat).
    pub fn stat(&self, name: &str) -> Option<u64> {
        self.envoy
            .stat(name)
            .unwrap_or_else(|e| panic!("reading stats failed: {e}"))
    }

    pub fn log(&self) -> String {
        self.envoy.log()
    }

    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> bool {
        self.envoy.wait_for_log(needle, timeout)
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.print_log_tail();
        }
    }
}

/// The issuer, the echo upstream and a gateway running the filter between them.
pub struct Stack {
    // Declared first so Envoy goes (and dumps its log) before the servers it talks to.
    pub gateway: Gateway,
    pub issuer: IssuerHandle,
    pub echo: EchoHandle,
}

impl Stack {
    /// Default issuer, echo, and the filter with [`demo_config`].
    pub fn start() -> Stack {
        Stack::start_with(IssuerOptions::default(), demo_config, |options| options)
    }

    /// Default issuer and echo; `config` builds the plugin configuration from the issuer.
    pub fn with_config(config: impl FnOnce(&IssuerHandle) -> Value) -> Stack {
        Stack::start_with(IssuerOptions::default(), config, |options| options)
    }

    /// Full control: issuer options, the plugin configuration, and any change to the
    /// gateway options.
    pub fn start_with(
        issuer_options: IssuerOptions,
        config: impl FnOnce(&IssuerHandle) -> Value,
        adjust: impl FnOnce(GatewayOptions) -> GatewayOptions,
    ) -> Stack {
        let issuer =
            Issuer::start(issuer_options).unwrap_or_else(|e| panic!("issuer did not start: {e}"));
        let echo = Echo::start(0).unwrap_or_else(|e| panic!("echo upstream did not start: {e}"));
        let options = adjust(GatewayOptions::new(config(&issuer), &issuer, &echo));
        let gateway = Gateway::start(options);
        Stack {
            gateway,
            issuer,
            echo,
        }
    }

    /// A good token from this stack's issuer.
    pub fn token(&self) -> TokenBuilder {
        self.issuer.token_builder()
    }

    pub fn send(&self, request: &Request) -> Response {
        self.gateway.send(request)
    }
}

/// One stack for every test of a file, started by the first test that asks and handed to
/// one test at a time: each test is its own `#[test]`, runnable alone by name, without
/// paying for an Envoy of its own. The stack is never dropped (it lives in a `static`);
/// Envoy's reaper stops it when the test process ends.
pub struct SharedStack(std::sync::OnceLock<std::sync::Mutex<Stack>>);

impl SharedStack {
    pub const fn new() -> SharedStack {
        SharedStack(std::sync::OnceLock::new())
    }

    /// The stack, started with `start` if no test has yet; held until the guard goes.
    pub fn lock(&'static self, start: impl FnOnce() -> Stack) -> StackGuard {
        let stack = self.0.get_or_init(|| std::sync::Mutex::new(start()));
        // A test that failed while holding the stack left it as it was: go on with it.
        StackGuard(
            stack
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        )
    }
}

/// A test's hold on a [`SharedStack`]; when the test fails, prints the tail of Envoy's log
/// (the shared gateway is never dropped, so it cannot).
pub struct StackGuard(std::sync::MutexGuard<'static, Stack>);

impl std::ops::Deref for StackGuard {
    type Target = Stack;
    fn deref(&self) -> &Stack {
        &self.0
    }
}

impl Drop for StackGuard {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.gateway.print_log_tail();
        }
    }
}
