//! What a run does, read from `BENCH_*` environment variables.

use std::path::PathBuf;

use super::stack::Gate;

/// The workloads, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    /// One RS256 Bearer token repeated.
    RepeatedToken,
    /// Distinct RS256 Bearer tokens in rotation: every request a cache miss.
    DistinctTokens,
    /// A DPoP-bound token with a fresh ES256 proof per request (`jwt_authn`: ES256 Bearer).
    Dpop,
    /// Tokens whose signature does not verify.
    BadSignature,
}

impl Workload {
    pub const ALL: [Workload; 4] = [
        Workload::RepeatedToken,
        Workload::DistinctTokens,
        Workload::Dpop,
        Workload::BadSignature,
    ];

    pub fn letter(self) -> char {
        match self {
            Workload::RepeatedToken => 'a',
            Workload::DistinctTokens => 'b',
            Workload::Dpop => 'c',
            Workload::BadSignature => 'd',
        }
    }

    /// The listeners the workload drives (`baseline` only when there is one). The floor
    /// modules and the cached `jwt_authn` are comparison points for a cache hit only: with
    /// distinct tokens or fresh proofs they would measure what (a) already shows.
    pub fn gates(self, baseline: bool) -> Vec<Gate> {
        Gate::ALL
            .into_iter()
            .filter(|gate| match gate {
                Gate::None | Gate::JwtAuthn | Gate::Wasm => true,
                Gate::Baseline => baseline,
                Gate::Noop | Gate::Read | Gate::JwtAuthnCached => self == Workload::RepeatedToken,
            })
            .collect()
    }

    pub fn title(self) -> &'static str {
        match self {
            Workload::RepeatedToken => "(a) one RS256 token",
            Workload::DistinctTokens => "(b) distinct RS256 tokens",
            Workload::Dpop => "(c) DPoP, ES256 proofs",
            Workload::BadSignature => "(d) bad signatures",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Settings {
    /// Seconds of each measured run.
    pub seconds: u64,
    /// Measured runs per listener and workload.
    pub rounds: u32,
    /// Seconds of the discarded run per listener before each workload's rounds; 0: none.
    pub warmup_seconds: u64,
    pub workloads: Vec<Workload>,
    /// Distinct tokens of workloads (b) and (d).
    pub distinct_tokens: usize,
    /// Bad-signature requests sent to the filter for the memory check; 0 skips it.
    pub memory_requests: u64,
    /// The memory check stops after this many seconds even short of `memory_requests`;
    /// 0: no limit.
    pub memory_seconds: u64,
    /// Entries of the verified-token cache of the `jwt_authn-cached` listener.
    pub jwt_authn_cache: u64,
    /// Where feeds, the wrk script and wrk's outputs go.
    pub dir: PathBuf,
    /// What the `baseline` listener runs, if it runs.
    pub baseline: Option<Baseline>,
}

/// The `baseline` listener: another build of the filter (BENCH_BASELINE), or this one with
/// other settings (BENCH_BASELINE_CONFIG), or both, measured in the same rounds as `wasm`.
#[derive(Debug, Clone)]
pub struct Baseline {
    pub module: PathBuf,
    /// Members set over the filter's benchmark configuration.
    pub config_changes: serde_json::Map<String, serde_json::Value>,
}

fn baseline_from_env(repo_root: &std::path::Path) -> Result<Option<Baseline>, String> {
    let module = match std::env::var_os("BENCH_BASELINE") {
        Some(path) if !path.is_empty() => {
            let path = PathBuf::from(path);
            if !path.is_file() {
                return Err(format!("BENCH_BASELINE: {} is not a file", path.display()));
            }
            Some(path)
        }
        _ => None,
    };
    let config_changes = match std::env::var("BENCH_BASELINE_CONFIG") {
        Ok(text) if !text.trim().is_empty() => match serde_json::from_str(&text) {
            Ok(serde_json::Value::Object(changes)) => Some(changes),
            _ => {
                return Err(format!(
                    "BENCH_BASELINE_CONFIG must be a JSON object, not {text}"
                ))
            }
        },
        _ => None,
    };
    if module.is_none() && config_changes.is_none() {
        return Ok(None);
    }
    Ok(Some(Baseline {
        module: module.unwrap_or_else(|| repo_root.join("dist").join("auth0_wasm_filter.wasm")),
        config_changes: config_changes.unwrap_or_default(),
    }))
}

pub const CONNECTIONS: u32 = 16;
/// `jwt_cache_config`'s default size in Envoy.
const JWT_AUTHN_CACHE: u64 = 100;

impl Settings {
    pub fn from_env(repo_root: &std::path::Path) -> Result<Settings, String> {
        let workloads = match std::env::var("BENCH_WORKLOADS") {
            Ok(text) => parse_workloads(&text)?,
            Err(_) => Workload::ALL.to_vec(),
        };
        let seconds = number("BENCH_SECONDS", 5)?;
        if seconds == 0 {
            return Err("BENCH_SECONDS must be at least 1".into());
        }
        let rounds = number("BENCH_ROUNDS", 3)?;
        let rounds = u32::try_from(rounds)
            .ok()
            .filter(|r| *r > 0)
            .ok_or("BENCH_ROUNDS must be between 1 and 2^32-1")?;
        let distinct_tokens = usize::try_from(number("BENCH_TOKENS", 10_000)?)
            .ok()
            .filter(|n| *n > 0)
            .ok_or("BENCH_TOKENS must be at least 1")?;
        Ok(Settings {
            seconds,
            rounds,
            warmup_seconds: number("BENCH_WARMUP_SECONDS", 1)?,
            workloads,
            distinct_tokens,
            memory_requests: number("BENCH_MEMORY_REQUESTS", 1_000_000)?,
            memory_seconds: number("BENCH_MEMORY_SECONDS", 30)?,
            jwt_authn_cache: match number("BENCH_JWT_AUTHN_CACHE", JWT_AUTHN_CACHE)? {
                0 => return Err("BENCH_JWT_AUTHN_CACHE must be at least 1".into()),
                size => size,
            },
            dir: std::env::var_os("BENCH_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| repo_root.join("target").join("bench")),
            baseline: baseline_from_env(repo_root)?,
        })
    }

    pub fn describe(&self) -> String {
        let letters: String = self.workloads.iter().map(|w| w.letter()).collect();
        let memory = if self.memory_requests == 0 {
            "memory check off".to_string()
        } else if self.memory_seconds == 0 {
            format!("memory check {} requests", self.memory_requests)
        } else {
            format!(
                "memory check {} requests or {} s",
                self.memory_requests, self.memory_seconds
            )
        };
        let jwt_cache = format!("jwt_authn-cached: cache of {} tokens", self.jwt_authn_cache);
        let baseline = self
            .baseline
            .as_ref()
            .map(|b| {
                let changes = if b.config_changes.is_empty() {
                    String::new()
                } else {
                    format!(
                        " with {}",
                        serde_json::Value::Object(b.config_changes.clone())
                    )
                };
                format!("; baseline {}{changes}", b.module.display())
            })
            .unwrap_or_default();
        format!(
            "BENCH_WORKLOADS={letters} BENCH_ROUNDS={} BENCH_SECONDS={} BENCH_WARMUP_SECONDS={} \
             BENCH_TOKENS={}; wrk -t1 -c{CONNECTIONS}; {jwt_cache}; {memory}{baseline}",
            self.rounds, self.seconds, self.warmup_seconds, self.distinct_tokens
        )
    }
}

fn number(name: &str, default: u64) -> Result<u64, String> {
    match std::env::var(name) {
        Ok(text) => text
            .trim()
            .parse()
            .map_err(|_| format!("{name}={text:?} is not a whole number")),
        Err(_) => Ok(default),
    }
}

/// `"a,b,d"` or `"abd"`.
fn parse_workloads(text: &str) -> Result<Vec<Workload>, String> {
    let mut chosen = Vec::new();
    for c in text.chars().filter(|c| !matches!(c, ',' | ' ')) {
        let workload = Workload::ALL
            .into_iter()
            .find(|w| w.letter() == c.to_ascii_lowercase())
            .ok_or_else(|| format!("BENCH_WORKLOADS: unknown workload {c:?} (a, b, c, d)"))?;
        if !chosen.contains(&workload) {
            chosen.push(workload);
        }
    }
    if chosen.is_empty() {
        return Err("BENCH_WORKLOADS names no workload".into());
    }
    // Always in the documented order: (c) sizes its proofs from what (a) measured.
    Ok(Workload::ALL
        .into_iter()
        .filter(|w| chosen.contains(w))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workloads_are_read_in_any_order_and_run_in_the_documented_one() {
        assert_eq!(
            parse_workloads("d, a"),
            Ok(vec![Workload::RepeatedToken, Workload::BadSignature])
        );
        assert_eq!(
            parse_workloads("x"),
            Err("BENCH_WORKLOADS: unknown workload 'x' (a, b, c, d)".to_string())
        );
        assert_eq!(
            parse_workloads(","),
            Err("BENCH_WORKLOADS names no workload".to_string())
        );
    }
}
