//! `make bench`: requests/s and latency of Envoy with no auth filter, with its native
//! `jwt_authn`, and with this filter, under the same load, side by side.
//!
//! One Envoy (`--concurrency 1`, pinned to CPU 0) serves listeners that differ only in their
//! auth filter: none, the floor module (`bench/floor`: doing nothing, or reading what an auth
//! filter must read), `jwt_authn` without and with its token cache, and this filter. wrk
//! (`-t1 -c16`, on CPU 1 with the echo upstream) drives each in turn, round after round, so
//! drift of the machine hits all of them alike. Every response is
//! counted by status: a run where the filter refused what it should accept (or the other
//! way round) fails the benchmark instead of being reported as fast.
//!
//! Settings (environment): BENCH_SECONDS (5), BENCH_ROUNDS (3), BENCH_WARMUP_SECONDS (1),
//! BENCH_WORKLOADS (abcd), BENCH_TOKENS (10000), BENCH_MEMORY_REQUESTS (1000000; 0 skips
//! the memory check), BENCH_MEMORY_SECONDS (30; 0: no time limit), BENCH_JWT_AUTHN_CACHE
//! (100, Envoy's default: the token cache of the `jwt_authn-cached` listener),
//! BENCH_DIR (target/bench), BENCH_BASELINE (another build of the filter, measured in the
//! same rounds as the `baseline` listener), BENCH_BASELINE_CONFIG (a JSON object set over the
//! `baseline` listener's filter configuration, with or without BENCH_BASELINE). BENCH_TOKENS must exceed the filter's verified-token cache
//! (4096 entries) for every request of (b) and (d) to miss it.
//! Progress goes to stderr; the results, as a table and as Markdown, to stdout.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

use testbed::bench::feed::{self, Credentials};
use testbed::bench::report::{self, mib, thousands, Row};
use testbed::bench::settings::{Settings, Workload};
use testbed::bench::stack::{self, EchoProcess, Gate, BENCH_PATH};
use testbed::bench::wrk::{self, Run};
use testbed::envoy::Envoy;
use testbed::{Issuer, IssuerHandle, Key};

/// Proofs minted per DPoP run, as a multiple of what the last run used: a run that uses
/// them all would replay proofs and fail.
const PROOF_MARGIN: f64 = 1.3;
const PROOF_EXTRA: usize = 2_000;
/// What the first DPoP run is sized for when workload (a) did not run first (requests/s).
const DPOP_RATE_GUESS: f64 = 20_000.0;
/// The memory check runs wrk in pieces of this many seconds, reading RSS in between.
const MEMORY_CHUNK_SECONDS: u64 = 10;
/// RSS readings shown in the report, first and last included.
const MEMORY_TRACE_POINTS: usize = 12;

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            progress("FAILED: some runs did not answer as expected (see \"failures\" above)");
            ExitCode::FAILURE
        }
        Err(message) => {
            progress(&message);
            ExitCode::FAILURE
        }
    }
}

/// Progress on stderr. Write errors are ignored: the release profile aborts on panic, which
/// would leave Envoy and the echo upstream running.
fn progress(message: &str) {
    let _ = writeln!(std::io::stderr(), "bench: {message}");
}

fn repo_root() -> PathBuf {
    let testbed = Path::new(env!("CARGO_MANIFEST_DIR"));
    testbed.parent().unwrap_or(testbed).to_path_buf()
}

/// The tokens every workload draws from, minted once.
struct Tokens {
    one: String,
    distinct: Vec<String>,
    bad: Vec<String>,
    es256: String,
    dpop_bound: String,
}

/// The status every response of `gate` must have under `workload`.
fn expected_status(workload: Workload, gate: Gate) -> u16 {
    match (workload, gate) {
        (Workload::BadSignature, gate) if gate.authenticates() => 401,
        _ => 200,
    }
}

struct Bench {
    settings: Settings,
    pin: bool,
    script: PathBuf,
    envoy: Envoy,
    tokens: Tokens,
    /// Requests/s the next DPoP run is sized for.
    dpop_rate: f64,
}

impl Bench {
    fn port(&self, gate: Gate) -> Result<u16, String> {
        self.envoy
            .listener_port(gate.name())
            .ok_or_else(|| format!("Envoy has no listener {:?}", gate.name()))
    }

    fn rss(&self) -> u64 {
        stack::rss_kib(self.envoy.pid()).unwrap_or(0)
    }

    /// The feed file for one run. DPoP proofs are minted for each run, just before it, so
    /// their `iat` is current and no `jti` is ever sent twice.
    fn feed(&self, workload: Workload, gate: Gate, seconds: u64) -> Result<PathBuf, String> {
        let dir = &self.settings.dir;
        let written = match (workload, gate) {
            (Workload::RepeatedToken, _) => {
                feed::write(&dir.join("a.txt"), &[Credentials::bearer(&self.tokens.one)])
            }
            (Workload::DistinctTokens, _) => {
                let requests: Vec<Credentials> = self
                    .tokens
                    .distinct
                    .iter()
                    .map(|t| Credentials::bearer(t))
                    .collect();
                feed::write(&dir.join("b.txt"), &requests)
            }
            (Workload::Dpop, Gate::Wasm | Gate::Baseline) => {
                let count = (self.dpop_rate * seconds as f64 * PROOF_MARGIN) as usize + PROOF_EXTRA;
                let url = format!("http://127.0.0.1:{}{BENCH_PATH}", self.port(gate)?);
                let started = Instant::now();
                let requests =
                    feed::dpop_requests(&self.tokens.dpop_bound, Key::Client1, &url, count);
                progress(&format!(
                    "  minted {} DPoP proofs in {:.1}s",
                    thousands(count as f64),
                    started.elapsed().as_secs_f64()
                ));
                feed::write(&dir.join("c-dpop.txt"), &requests)
            }
            (Workload::Dpop, _) => feed::write(
                &dir.join("c-es256.txt"),
                &[Credentials::bearer(&self.tokens.es256)],
            ),
            (Workload::BadSignature, _) => {
                let requests: Vec<Credentials> = self
                    .tokens
                    .bad
                    .iter()
                    .map(|t| Credentials::bearer(t))
                    .collect();
                feed::write(&dir.join("d.txt"), &requests)
            }
        };
        written.map_err(|e| format!("cannot write a feed into {}: {e}", dir.display()))
    }

    /// One wrk run; problems are returned, not raised, so the table still prints.
    fn measure(&mut self, workload: Workload, gate: Gate, seconds: u64) -> Result<Run, String> {
        let feed = self.feed(workload, gate, seconds)?;
        let run = wrk::run(&self.script, &feed, self.port(gate)?, seconds, self.pin)?;
        if workload == Workload::Dpop && matches!(gate, Gate::Wasm | Gate::Baseline) {
            self.dpop_rate = run.requests_per_second.max(1.0);
            if run.wraps > 0 {
                return Err(format!(
                    "the run used up its DPoP proofs ({} times over), so proofs were replayed",
                    run.wraps
                ));
            }
        }
        match run.problem(expected_status(workload, gate)) {
            Some(problem) => Err(problem),
            None => Ok(run),
        }
    }

    fn workload(&mut self, workload: Workload) -> Vec<Row> {
        let gates = workload.gates(self.settings.baseline.is_some());
        let mut rows: Vec<Row> = gates
            .iter()
            .copied()
            .map(|gate| Row {
                workload,
                gate,
                runs: Vec::new(),
                problems: Vec::new(),
            })
            .collect();
        if self.settings.warmup_seconds > 0 {
            for &gate in &gates {
                let seconds = self.settings.warmup_seconds;
                match self.measure(workload, gate, seconds) {
                    Ok(run) => progress(&format!(
                        "{} {:<9} warm-up  {:>8} req/s (discarded)",
                        workload.letter(),
                        gate.name(),
                        thousands(run.requests_per_second)
                    )),
                    Err(problem) => progress(&format!(
                        "{} {:<9} warm-up  PROBLEM: {problem}",
                        workload.letter(),
                        gate.name()
                    )),
                }
            }
        }
        for round in 1..=self.settings.rounds {
            for (&gate, row) in gates.iter().zip(rows.iter_mut()) {
                match self.measure(workload, gate, self.settings.seconds) {
                    Ok(run) => {
                        progress(&format!(
                            "{} {:<9} round {round}/{}  {:>8} req/s  p50 {}  p99 {}  busy {:.0}% / {:.0}%",
                            workload.letter(),
                            gate.name(),
                            self.settings.rounds,
                            thousands(run.requests_per_second),
                            report::latency(run.p50),
                            report::latency(run.p99),
                            run.envoy_cpu.unwrap_or(0.0),
                            run.load_cpu.unwrap_or(0.0)
                        ));
                        row.runs.push(run);
                    }
                    Err(problem) => {
                        progress(&format!(
                            "{} {:<9} round {round}/{}  PROBLEM: {problem}",
                            workload.letter(),
                            gate.name(),
                            self.settings.rounds
                        ));
                        row.problems.push(format!("round {round}: {problem}"));
                    }
                }
            }
        }
        rows
    }

    /// Bad-signature requests to the filter in pieces, with Envoy's RSS read before, between
    /// and after. Returns the summary line, and a problem if responses were not all 401.
    fn memory_check(&mut self) -> (String, Option<String>) {
        let target = self.settings.memory_requests;
        let limit = self.settings.memory_seconds;
        let started = Instant::now();
        let before = self.rss();
        let mut samples = vec![before];
        let mut sent = 0u64;
        let mut problem = None;
        while sent < target {
            let elapsed = started.elapsed().as_secs();
            if limit > 0 && elapsed >= limit {
                break;
            }
            let seconds = if limit > 0 {
                MEMORY_CHUNK_SECONDS.min(limit - elapsed).max(1)
            } else {
                MEMORY_CHUNK_SECONDS
            };
            match self.measure(Workload::BadSignature, Gate::Wasm, seconds) {
                Ok(run) => sent += run.requests,
                Err(e) => {
                    problem = Some(format!("memory check: {e}"));
                    break;
                }
            }
            samples.push(self.rss());
            progress(&format!(
                "memory check: {} requests, Envoy RSS {}",
                thousands(sent as f64),
                mib(samples.last().copied().unwrap_or(0))
            ));
        }
        let after = samples.last().copied().unwrap_or(before);
        let max = samples.iter().copied().max().unwrap_or(after);
        let cut = if sent < target && problem.is_none() {
            format!(
                " (stopped at the {limit} s limit short of {}: BENCH_MEMORY_SECONDS=0 lifts it)",
                thousands(target as f64)
            )
        } else {
            String::new()
        };
        let trace: Vec<String> = evenly_spaced(&samples, MEMORY_TRACE_POINTS)
            .iter()
            .map(|k| format!("{:.1}", *k as f64 / 1024.0))
            .collect();
        let line = format!(
            "{} bad-signature requests to `wasm` in {:.0} s{cut}: Envoy RSS {} before, {} after, \
             {} at most (MiB, from first to last reading: {})",
            thousands(sent as f64),
            started.elapsed().as_secs_f64(),
            mib(before),
            mib(after),
            mib(max),
            trace.join(", ")
        );
        (line, problem)
    }
}

fn run() -> Result<bool, String> {
    let root = repo_root();
    let settings = Settings::from_env(&root)?;
    fs::create_dir_all(&settings.dir)
        .map_err(|e| format!("cannot create {}: {e}", settings.dir.display()))?;
    let module = root.join("dist").join("auth0_wasm_filter.wasm");
    let module_size = fs::metadata(&module)
        .map_err(|_| {
            format!(
                "{} is missing: run `make build` (or `make bench`)",
                module.display()
            )
        })?
        .len();
    if Command::new("wrk")
        .arg("-v")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_err()
    {
        return Err("wrk is not installed: `make bench` installs it (apt-get install wrk)".into());
    }
    // Anything else running skews the numbers; the report says how busy the machine was.
    let load_at_start = load_average();
    let pin = stack::can_pin();
    if !pin {
        progress("taskset is missing: Envoy and wrk are NOT pinned to separate CPUs");
    }
    let envoy_binary = testbed::envoy::find_envoy(&root)?;
    let envoy_version_path = envoy_binary.display().to_string();
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let echo_binary = exe.with_file_name("echo-upstream");
    // `make bench` builds it next to the filter's own build: <target>/wasm32-wasip1/release.
    let floor = exe
        .parent()
        .and_then(Path::parent)
        .map(|target| target.join("wasm32-wasip1/release/bench_floor.wasm"))
        .filter(|path| path.is_file())
        .ok_or("the floor module (bench_floor.wasm) is missing: run `make bench`")?;
    progress(&settings.describe());

    let issuer =
        Issuer::start_default().map_err(|e| format!("cannot start the local issuer: {e}"))?;
    let started = Instant::now();
    let needs_distinct = settings
        .workloads
        .iter()
        .any(|w| matches!(w, Workload::DistinctTokens | Workload::BadSignature))
        || settings.memory_requests > 0;
    let (distinct, reused) = if needs_distinct {
        feed::distinct_tokens(&issuer, settings.distinct_tokens, &settings.dir)
    } else {
        (Vec::new(), false)
    };
    let tokens = Tokens {
        one: issuer.token_builder().build(),
        bad: feed::bad_signatures(&distinct),
        distinct,
        es256: issuer.token_builder().key(Key::Ec1).build(),
        dpop_bound: issuer.token_builder().bound_to(Key::Client1).build(),
    };
    progress(&format!(
        "minted tokens in {:.1}s{}",
        started.elapsed().as_secs_f64(),
        if reused {
            " (distinct tokens kept from an earlier run)"
        } else {
            ""
        }
    ));

    let echo = EchoProcess::start(&echo_binary, pin)?;
    let envoy = stack::start_envoy(
        envoy_binary,
        &stack::bootstrap(
            &issuer,
            &stack::Modules {
                filter: &module,
                floor: &floor,
                baseline: settings.baseline.as_ref(),
            },
            echo.port,
            settings.jwt_authn_cache,
        ),
        pin,
    )?;
    let script = wrk::write_script(&settings.dir)
        .map_err(|e| format!("cannot write the wrk script: {e}"))?;
    let mut bench = Bench {
        settings,
        pin,
        script,
        envoy,
        tokens,
        dpop_rate: DPOP_RATE_GUESS,
    };
    preflight(&bench, &issuer)?;

    let mut rss_lines = vec![format!("{} after start", mib(bench.rss()))];
    let mut rows: Vec<Row> = Vec::new();
    for workload in bench.settings.workloads.clone() {
        let workload_rows = bench.workload(workload);
        if workload == Workload::RepeatedToken {
            // DPoP costs more than a cached Bearer token: (a)'s rate bounds (c)'s.
            if let Some(rate) = workload_rows
                .iter()
                .find(|r| r.gate == Gate::Wasm)
                .and_then(Row::rate)
            {
                bench.dpop_rate = rate;
            }
        }
        rows.extend(workload_rows);
        rss_lines.push(format!(
            "{} after ({})",
            mib(bench.rss()),
            workload.letter()
        ));
    }
    let mut failures: Vec<String> = rows
        .iter()
        .flat_map(|r| {
            r.problems
                .iter()
                .map(move |p| format!("{} / {}: {p}", r.workload.title(), r.gate.name()))
        })
        .collect();
    let memory = if bench.settings.memory_requests > 0 {
        let (line, problem) = bench.memory_check();
        failures.extend(problem);
        Some(line)
    } else {
        None
    };

    let mut notes = vec![
        format!(
            "module: dist/auth0_wasm_filter.wasm, {} bytes ({:.0} KiB)",
            thousands(module_size as f64),
            module_size as f64 / 1024.0
        ),
        format!("Envoy RSS (one worker): {}", rss_lines.join(", ")),
    ];
    notes.extend(memory.map(|m| format!("memory check: {m}")));
    notes.push(format!("settings: {}", bench.settings.describe()));
    notes.push(format!(
        "pinning: {}",
        if bench.pin {
            "Envoy on CPU 0; wrk and the echo upstream on CPU 1"
        } else {
            "none (taskset missing)"
        }
    ));
    notes.push(format!("machine: {}", machine()));
    notes.push(format!("Envoy: {}", envoy_version(&envoy_version_path)));
    notes.push(format!("source: {}", source_revision(&root)));
    notes.push(format!(
        "load average (1 min) at start {load_at_start}, at end {}",
        load_average()
    ));
    notes.push(format!(
        "date: {}",
        command_line(&["date", "-u", "+%Y-%m-%d %H:%M UTC"]).trim()
    ));

    let mut results = report::text_table(&rows);
    for note in &notes {
        results.push_str(&format!("{note}\n"));
    }
    if !failures.is_empty() {
        results.push_str("\nfailures:\n");
        for failure in &failures {
            results.push_str(&format!("  {failure}\n"));
        }
    }
    results.push_str("\n--- Markdown ---\n\n");
    results.push_str(&report::markdown_table(&rows));
    results.push('\n');
    for note in &notes {
        results.push_str(&format!("- {note}\n"));
    }
    for failure in &failures {
        results.push_str(&format!("- FAILED: {failure}\n"));
    }
    // A closed stdout (`| head`) must not end the program before Envoy is stopped.
    let _ = std::io::stdout().write_all(results.as_bytes());
    drop(echo);
    Ok(failures.is_empty())
}

/// At most `points` of `values`, evenly spaced, always with the first and the last.
fn evenly_spaced(values: &[u64], points: usize) -> Vec<u64> {
    if values.len() <= points || points < 2 {
        return values.to_vec();
    }
    let last = values.len() - 1;
    (0..points)
        .filter_map(|i| values.get(i * last / (points - 1)).copied())
        .collect()
}

/// One request per listener before any load: the filters accept a good token and refuse a
/// missing one, so a broken setup fails in a second with Envoy's log, not after minutes.
fn preflight(bench: &Bench, issuer: &IssuerHandle) -> Result<(), String> {
    let token = format!("Bearer {}", bench.tokens.one);
    for gate in Gate::ALL {
        if gate == Gate::Baseline && bench.settings.baseline.is_none() {
            continue;
        }
        let port = bench.port(gate)?;
        let with_token = stack::probe(port, Some(&token), None);
        let without = stack::probe(port, None, None);
        let wants_without = if gate.authenticates() { 401 } else { 200 };
        if with_token != Ok(200) || without != Ok(wants_without) {
            return Err(format!(
                "listener {:?} answered {:?} with a good token and {:?} without one (wanted 200 and {wants_without}); \
                 issuer {}; Envoy's log:\n{}",
                gate.name(),
                with_token,
                without,
                issuer.issuer(),
                bench.envoy.log_tail(40)
            ));
        }
    }
    Ok(())
}

/// `1.40.0/Clean/RELEASE/BoringSSL` out of `envoy --version`.
fn envoy_version(binary: &str) -> String {
    let text = command_line(&[binary, "--version"]);
    text.split("version: ")
        .nth(1)
        .map(|v| v.trim())
        .map(|v| v.split_once('/').map_or(v, |(_, rest)| rest).to_string())
        .unwrap_or_else(|| "?".into())
}

/// `lscpu`'s model name and the CPU count.
fn machine() -> String {
    let lscpu = command_line(&["lscpu"]);
    let field = |name: &str| {
        lscpu
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_string())
            .unwrap_or_else(|| "?".into())
    };
    format!(
        "{}, {} CPUs, {}",
        field("Model name:"),
        field("CPU(s):"),
        command_line(&["uname", "-sr"]).trim()
    )
}

/// The commit the module was built from, flagged when the work tree had changes.
fn source_revision(root: &Path) -> String {
    let root = root.display().to_string();
    let commit = command_line(&["git", "-C", &root, "rev-parse", "--short", "HEAD"]);
    let changes = command_line(&[
        "git",
        "-C",
        &root,
        "status",
        "--porcelain",
        "--untracked-files=no",
    ]);
    match (commit.trim(), changes.trim().is_empty()) {
        ("", _) => "? (not a git checkout)".into(),
        (commit, true) => format!("git {commit}"),
        (commit, false) => format!("git {commit} with uncommitted changes"),
    }
}

/// The 1-minute load average from `/proc/loadavg`.
fn load_average() -> String {
    fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| text.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

/// A command's stdout, empty if it cannot run.
fn command_line(argv: &[&str]) -> String {
    let Some((program, args)) = argv.split_first() else {
        return String::new();
    };
    Command::new(program)
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_trace_keeps_first_and_last_reading() {
        let values: Vec<u64> = (0..55).collect();
        let picked = evenly_spaced(&values, 12);
        assert_eq!(picked.len(), 12);
        assert_eq!(picked.first(), Some(&0));
        assert_eq!(picked.last(), Some(&54));
        assert_eq!(evenly_spaced(&[1, 2, 3], 12), vec![1, 2, 3]);
    }
}
