//! The processes under test: the echo upstream and one Envoy whose listeners differ only in
//! their auth filter. Envoy is pinned to CPU 0; the echo upstream and wrk share CPU 1, so
//! Envoy's core does nothing but proxy and authorize.

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::{json, Value};

use crate::client::{self, Request};
use crate::envoy::{self, Envoy, EnvoyOptions, Listener};
use crate::IssuerHandle;

/// The CPU Envoy runs on (its single worker and the main thread).
pub const ENVOY_CPU: u32 = 0;
/// The CPU the load generator and the upstream run on.
pub const LOAD_CPU: u32 = 1;
/// Where wrk sends every request.
pub const BENCH_PATH: &str = "/bench";

const ECHO_CLUSTER: &str = "echo";

/// The listeners, in the order each round drives them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// No auth filter: what Envoy and the upstream cost alone.
    None,
    /// The floor module doing nothing: the cost of being a wasm filter.
    Noop,
    /// The floor module reading the five headers an auth filter needs and the time, one host
    /// call each: what a straightforward wasm filter pays before deciding anything.
    Read,
    /// Envoy's native `jwt_authn` (no token cache, as Envoy defaults).
    JwtAuthn,
    /// `jwt_authn` with its verified-token cache (`jwt_cache_config`).
    JwtAuthnCached,
    /// Another build of this filter (`BENCH_BASELINE`), to measure a change in one run.
    Baseline,
    /// This filter.
    Wasm,
}

impl Gate {
    pub const ALL: [Gate; 7] = [
        Gate::None,
        Gate::Noop,
        Gate::Read,
        Gate::JwtAuthn,
        Gate::JwtAuthnCached,
        Gate::Baseline,
        Gate::Wasm,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Gate::None => "none",
            Gate::Noop => "floor-noop",
            Gate::Read => "floor-read",
            Gate::JwtAuthn => "jwt_authn",
            Gate::JwtAuthnCached => "jwt_authn-cached",
            Gate::Baseline => "baseline",
            Gate::Wasm => "wasm",
        }
    }

    /// Whether the listener checks tokens (and so refuses a request without one).
    pub fn authenticates(self) -> bool {
        matches!(
            self,
            Gate::JwtAuthn | Gate::JwtAuthnCached | Gate::Baseline | Gate::Wasm
        )
    }
}

/// Whether `taskset` can pin processes here.
pub fn can_pin() -> bool {
    Command::new("taskset")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `program` as a command, run under `taskset -c cpu` when `pin`.
pub fn pinned_command(program: &Path, cpu: u32, pin: bool) -> Command {
    if pin {
        let mut command = Command::new("taskset");
        command.arg("-c").arg(cpu.to_string()).arg(program);
        command
    } else {
        Command::new(program)
    }
}

/// The echo upstream as its own process (the `echo-upstream` binary next to this one).
pub struct EchoProcess {
    child: Child,
    pub port: u16,
}

impl EchoProcess {
    pub fn start(binary: &Path, pin: bool) -> Result<EchoProcess, String> {
        let mut child = pinned_command(binary, LOAD_CPU, pin)
            .args(["--port", "0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
        let mut line = String::new();
        if let Some(stdout) = child.stdout.take() {
            let _ = BufReader::new(stdout).read_line(&mut line);
        }
        // "echo upstream on http://127.0.0.1:PORT"
        let port = line
            .trim()
            .rsplit(':')
            .next()
            .and_then(|p| p.parse::<u16>().ok());
        match port {
            Some(port) => Ok(EchoProcess { child, port }),
            None => {
                let _ = child.kill();
                let _ = child.wait();
                Err(format!(
                    "echo upstream did not report its port (said {line:?})"
                ))
            }
        }
    }
}

impl Drop for EchoProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The wasm filter's configuration: the issuer's keys inline, RS256 and ES256 allowed, no
/// rules (so every path needs a token), DPoP with its defaults (enabled, replay check on).
pub fn wasm_config(issuer: &IssuerHandle) -> Value {
    json!({
        "domain": issuer.domain(),
        "audience": issuer.audience(),
        "jwks": issuer.published_jwks(),
        "algorithms": ["RS256", "ES256"],
    })
}

/// Envoy's `jwt_authn` with the same keys, issuer and audience; with `cache_size`, its own
/// verified-token cache (`jwt_cache_config`) of that many entries, which is off by default.
fn jwt_authn(issuer: &IssuerHandle, cache_size: Option<u64>) -> Value {
    let mut filter = envoy::jwt_authn_filter(
        &issuer.issuer(),
        &[issuer.audience()],
        &issuer.published_jwks(),
    );
    if let (Some(size), Some(Value::Object(provider))) = (
        cache_size,
        filter.pointer_mut("/typed_config/providers/auth0"),
    ) {
        provider.insert("jwt_cache_config".into(), json!({ "jwt_cache_size": size }));
    }
    filter
}

/// The modules the listeners load.
pub struct Modules<'a> {
    pub filter: &'a Path,
    pub floor: &'a Path,
    /// What the `baseline` listener runs, if it runs.
    pub baseline: Option<&'a super::settings::Baseline>,
}

pub fn bootstrap(
    issuer: &IssuerHandle,
    modules: &Modules<'_>,
    echo_port: u16,
    jwt_authn_cache: u64,
) -> Value {
    let filter =
        |module: &Path, vm_id: &str| vec![envoy::wasm_filter(module, &wasm_config(issuer), vm_id)];
    let baseline = |b: &super::settings::Baseline| {
        let mut config = wasm_config(issuer);
        if let Some(fields) = config.as_object_mut() {
            fields.extend(b.config_changes.clone());
        }
        vec![envoy::wasm_filter(&b.module, &config, "baseline")]
    };
    let listeners: Vec<Listener> = Gate::ALL
        .into_iter()
        .filter_map(|gate| {
            let filters = match gate {
                Gate::None => vec![],
                Gate::Noop => vec![envoy::wasm_filter(modules.floor, &json!("noop"), "noop")],
                Gate::Read => vec![envoy::wasm_filter(modules.floor, &json!("read"), "read")],
                Gate::JwtAuthn => vec![jwt_authn(issuer, None)],
                Gate::JwtAuthnCached => vec![jwt_authn(issuer, Some(jwt_authn_cache))],
                Gate::Baseline => baseline(modules.baseline?),
                Gate::Wasm => filter(modules.filter, "bench"),
            };
            Some(Listener::new(gate.name(), filters, ECHO_CLUSTER))
        })
        .collect();
    envoy::bootstrap(&listeners, &[envoy::cluster(ECHO_CLUSTER, echo_port)])
}

pub fn start_envoy(binary: PathBuf, bootstrap: &Value, pin: bool) -> Result<Envoy, String> {
    let mut options = EnvoyOptions::new(binary);
    options.concurrency = 1;
    options.log_level = "warning".into();
    // The default keeps the filter's own logs at debug, which would cost on every request.
    options.component_log_level = "main:warning,wasm:warning".into();
    let envoy = Envoy::start(bootstrap, &options).map_err(|e| e.to_string())?;
    if pin {
        // All of Envoy's threads, the worker included; threads started later inherit it.
        let status = Command::new("taskset")
            .args([
                "-a",
                "-p",
                "-c",
                &ENVOY_CPU.to_string(),
                &envoy.pid().to_string(),
            ])
            .stdout(Stdio::null())
            .status()
            .map_err(|e| format!("taskset: {e}"))?;
        if !status.success() {
            return Err(format!("taskset could not pin Envoy ({status})"));
        }
    }
    Ok(envoy)
}

/// One request through `port`; the status, or why there was none.
pub fn probe(port: u16, authorization: Option<&str>, dpop: Option<&str>) -> Result<u16, String> {
    let mut request = Request::get(BENCH_PATH);
    if let Some(value) = authorization {
        request = request.header("Authorization", value);
    }
    if let Some(value) = dpop {
        request = request.header("DPoP", value);
    }
    client::send(port, &request)
        .map(|r| r.status)
        .map_err(|e| e.to_string())
}

/// Resident memory of process `pid` in KiB (`VmRSS`).
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Jiffies per CPU since boot, as (busy, total), from `/proc/stat`.
#[derive(Debug, Clone, Default)]
pub struct CpuTimes(Vec<(u64, u64)>);

impl CpuTimes {
    pub fn now() -> CpuTimes {
        let text = fs::read_to_string("/proc/stat").unwrap_or_default();
        CpuTimes(parse_cpu_times(&text))
    }

    /// Percent busy of CPU `cpu` from `earlier` to `self`.
    pub fn busy_since(&self, earlier: &CpuTimes, cpu: usize) -> Option<f64> {
        let (busy, total) = self.0.get(cpu)?;
        let (busy_before, total_before) = earlier.0.get(cpu)?;
        let total = total.checked_sub(*total_before).filter(|t| *t > 0)?;
        let busy = busy.saturating_sub(*busy_before);
        Some(100.0 * busy as f64 / total as f64)
    }
}

/// `cpuN user nice system idle iowait irq softirq steal ...` lines, in CPU order; idle
/// and iowait count as not busy.
fn parse_cpu_times(text: &str) -> Vec<(u64, u64)> {
    text.lines()
        .filter(|line| {
            line.strip_prefix("cpu")
                .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
        })
        .map(|line| {
            let fields: Vec<u64> = line
                .split_whitespace()
                .skip(1)
                .take(8)
                .filter_map(|f| f.parse().ok())
                .collect();
            let total: u64 = fields.iter().sum();
            let idle: u64 = fields.iter().skip(3).take(2).sum();
            (total - idle, total)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lines_are_read_per_cpu_and_idle_is_not_busy() {
        let before = CpuTimes(parse_cpu_times(
            "cpu  10 0 10 80 0 0 0 0 0 0\ncpu0 5 0 5 40 0 0 0 0 0 0\ncpu1 5 0 5 40 0 0 0 0 0 0\nintr 1\n",
        ));
        let after = CpuTimes(parse_cpu_times(
            "cpu0 95 0 5 40 0 0 0 0 0 0\ncpu1 5 0 5 110 30 0 0 0 0 0\n",
        ));
        assert_eq!(after.busy_since(&before, 0), Some(100.0));
        assert_eq!(after.busy_since(&before, 1), Some(0.0));
        assert_eq!(after.busy_since(&before, 2), None);
    }
}
