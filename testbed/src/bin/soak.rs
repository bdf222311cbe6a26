//! `make soak`: a long run of mixed requests against Envoy with two workers running the
//! built filter, its keys fetched from the local issuer. Every response must have the
//! status its request calls for, Envoy's resident memory must stay flat once warmed up,
//! and the module must never trap.
//!
//! The mix, per 20 requests: 8 valid Bearer tokens from a pool of 200 (cache hits), 2 from
//! a pool of SOAK_TOKENS distinct ones (10,000: more than the verified-token cache, so
//! misses and evictions), 2 expired, 2 with forged signatures (distinct), 1 signed by a key
//! the issuer never published (an unknown `kid`, which makes the filter refetch keys, at
//! most once per refresh interval), 3 DPoP requests each with a proof made just before it
//! is sent, 1 resending the previous proof of that connection (a replay), 1 without
//! credentials. Expected: 200 for valid ones, 401 for every other, each within 2 s.
//!
//! Settings (environment): SOAK_REQUESTS (10,000,000), SOAK_CONNECTIONS (16),
//! SOAK_TOKENS (10,000), SOAK_DIR (target/bench: where minted tokens are kept for the next
//! run). Progress goes to stderr every 10 s; the summary, as Markdown, to stdout.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::json;
use testbed::bench::feed;
use testbed::bench::report::{mib, thousands};
use testbed::bench::stack::{rss_kib, EchoProcess};
use testbed::client::{Connection, Request};
use testbed::envoy::{self, Envoy, EnvoyOptions, Listener};
use testbed::proof::{random_jti, ProofBuilder};
use testbed::{unix_now, Issuer, IssuerHandle, Key};

const PATH: &str = "/soak";
const ISSUER_CLUSTER: &str = "issuer";
const ECHO_CLUSTER: &str = "echo";
const HITS_POOL: usize = 200;
/// Memory counts as warmed up after this share of the requests and this much time,
/// whichever comes later: the replay store records every proof for as long as it could be
/// accepted (`dpop_iat_offset` 300 s and `dpop_iat_leeway` 30 s by default) before it starts
/// to turn over.
const WARMUP_SHARE: f64 = 0.1;
const WARMUP_SECONDS: f64 = 360.0;
/// How much Envoy's RSS may grow after warm-up before the run fails: a leak of even a
/// few bytes per request would pass this over 10^7 requests.
const RSS_GROWTH_LIMIT_KIB: u64 = 8 * 1024;
const SAMPLE_EVERY: Duration = Duration::from_secs(10);
/// Unexpected answers described in full; the rest are only counted.
const EXAMPLES: usize = 5;
/// How long a request may wait for its answer: longer than the filter may keep a request
/// waiting for keys (2 × `http_timeout_ms` + 1 s = 11 s by default), so a late answer is
/// seen as late rather than as no answer.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(15);
/// An answer slower than this fails the run: the local issuer answers at once, so only a
/// request left waiting for keys that already came could take this long.
const SLOW: Duration = Duration::from_secs(2);

/// What one request of the mix is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Repeated,
    Distinct,
    Expired,
    Forged,
    UnknownKid,
    DpopFresh,
    DpopReplayed,
    Anonymous,
}

impl Kind {
    /// Request `index` of the run, 20 to a cycle.
    fn of(index: u64) -> Kind {
        match index % 20 {
            0..=7 => Kind::Repeated,
            8 | 9 => Kind::Distinct,
            10 | 11 => Kind::Expired,
            12 | 13 => Kind::Forged,
            14 => Kind::UnknownKid,
            15..=17 => Kind::DpopFresh,
            18 => Kind::DpopReplayed,
            _ => Kind::Anonymous,
        }
    }

    fn expected(self) -> u16 {
        match self {
            Kind::Repeated | Kind::Distinct | Kind::DpopFresh => 200,
            _ => 401,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Repeated => "valid, repeated",
            Kind::Distinct => "valid, distinct",
            Kind::Expired => "expired",
            Kind::Forged => "forged signature",
            Kind::UnknownKid => "unknown kid",
            Kind::DpopFresh => "DPoP, fresh proof",
            Kind::DpopReplayed => "DPoP, replayed proof",
            Kind::Anonymous => "no credentials",
        }
    }
}

struct Settings {
    requests: u64,
    connections: usize,
    distinct_tokens: usize,
    dir: PathBuf,
}

fn number(name: &str, default: u64) -> Result<u64, String> {
    match std::env::var(name) {
        Ok(text) => text
            .trim()
            .replace('_', "")
            .parse()
            .map_err(|_| format!("{name} must be a whole number, not {text:?}")),
        Err(_) => Ok(default),
    }
}

impl Settings {
    fn from_env(root: &Path) -> Result<Settings, String> {
        let requests = number("SOAK_REQUESTS", 10_000_000)?;
        let connections = usize::try_from(number("SOAK_CONNECTIONS", 16)?).unwrap_or(0);
        let distinct_tokens = usize::try_from(number("SOAK_TOKENS", 10_000)?).unwrap_or(0);
        if requests < 20 || connections == 0 || distinct_tokens == 0 {
            return Err(
                "SOAK_REQUESTS must be at least 20, SOAK_CONNECTIONS and SOAK_TOKENS at least 1"
                    .into(),
            );
        }
        Ok(Settings {
            requests,
            connections,
            distinct_tokens,
            dir: std::env::var_os("SOAK_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| root.join("target").join("bench")),
        })
    }
}

/// The credentials the mix draws from, made once (proofs excepted).
struct Credentials {
    repeated: Vec<String>,
    distinct: Vec<String>,
    expired: Vec<String>,
    forged: Vec<String>,
    unknown_kid: String,
    dpop_token: String,
    url: String,
}

impl Credentials {
    fn mint(issuer: &IssuerHandle, settings: &Settings, port: u16) -> Credentials {
        let (distinct, _) = feed::distinct_tokens(issuer, settings.distinct_tokens, &settings.dir);
        let now = unix_now();
        let numbered = |builder: testbed::TokenBuilder, prefix: &str, count: usize| {
            (0..count)
                .map(|i| {
                    builder
                        .clone()
                        .claim("jti", json!(format!("{prefix}-{i}")))
                        .build()
                })
                .collect::<Vec<_>>()
        };
        let repeated = numbered(issuer.token_builder(), "soak-hit", HITS_POOL);
        let expired = numbered(
            issuer
                .token_builder()
                .issued_at(now - 7_200)
                .expires_in(3_600),
            "soak-expired",
            HITS_POOL,
        );
        let forged = feed::bad_signatures(&distinct);
        Credentials {
            repeated,
            distinct,
            expired,
            forged,
            unknown_kid: issuer.token_builder().key(Key::AttackerRsa).build(),
            dpop_token: issuer.token_builder().bound_to(Key::Client1).build(),
            url: format!("http://127.0.0.1:{port}{PATH}"),
        }
    }

    fn pick(pool: &[String], index: u64) -> &str {
        let position = usize::try_from(index / 20).unwrap_or(0) % pool.len().max(1);
        pool.get(position).map(String::as_str).unwrap_or("")
    }

    fn proof(&self) -> String {
        ProofBuilder::new(Key::Client1, "GET", &self.url)
            .access_token(&self.dpop_token)
            .jti(&random_jti())
            .build()
    }
}

/// Counts per kind, with a few unexpected answers described.
#[derive(Default)]
struct Tally {
    answered: BTreeMap<Kind, u64>,
    unexpected: BTreeMap<Kind, u64>,
    slowest: BTreeMap<Kind, Duration>,
    slow: u64,
    examples: Vec<String>,
    socket_errors: u64,
}

/// What one connection does: requests `index` taken from `next` until the run is done.
fn drive(
    port: u16,
    credentials: &Credentials,
    next: &AtomicU64,
    total: u64,
    done: &AtomicU64,
    tally: &Mutex<Tally>,
) {
    let mut local = Tally::default();
    let mut connection: Option<Connection> = None;
    let mut last_proof: Option<String> = None;
    loop {
        let index = next.fetch_add(1, Ordering::Relaxed);
        if index >= total {
            break;
        }
        let kind = Kind::of(index);
        let request = Request::get(PATH).timeout(CLIENT_TIMEOUT);
        let request = match kind {
            Kind::Repeated => request.bearer(Credentials::pick(&credentials.repeated, index)),
            Kind::Distinct => request.bearer(Credentials::pick(&credentials.distinct, index)),
            Kind::Expired => request.bearer(Credentials::pick(&credentials.expired, index)),
            Kind::Forged => request.bearer(Credentials::pick(&credentials.forged, index)),
            Kind::UnknownKid => request.bearer(&credentials.unknown_kid),
            Kind::DpopFresh => {
                let proof = credentials.proof();
                last_proof = Some(proof.clone());
                request.dpop(&credentials.dpop_token, &proof)
            }
            Kind::DpopReplayed => {
                // A connection's first replay may come before its first fresh proof: that
                // proof is then sent once first, uncounted.
                let proof = last_proof.clone().unwrap_or_else(|| {
                    let proof = credentials.proof();
                    let _ = send(
                        &mut connection,
                        port,
                        &Request::get(PATH).dpop(&credentials.dpop_token, &proof),
                    );
                    proof
                });
                request.dpop(&credentials.dpop_token, &proof)
            }
            Kind::Anonymous => request,
        };
        let started = Instant::now();
        match send(&mut connection, port, &request) {
            Ok(response) => {
                let took = started.elapsed();
                *local.answered.entry(kind).or_default() += 1;
                let slowest = local.slowest.entry(kind).or_default();
                *slowest = (*slowest).max(took);
                if took > SLOW {
                    local.slow += 1;
                    if local.examples.len() < EXAMPLES {
                        local.examples.push(format!(
                            "{}: answered {} after {took:?}",
                            kind.name(),
                            response.status
                        ));
                    }
                }
                if response.status != kind.expected() {
                    *local.unexpected.entry(kind).or_default() += 1;
                    if local.examples.len() < EXAMPLES {
                        local.examples.push(format!(
                            "{}: {} (expected {}), WWW-Authenticate {:?}, body {}",
                            kind.name(),
                            response.status,
                            kind.expected(),
                            response.header("www-authenticate").unwrap_or(""),
                            response.text()
                        ));
                    }
                }
            }
            Err(e) => {
                local.socket_errors += 1;
                if local.examples.len() < EXAMPLES {
                    local
                        .examples
                        .push(format!("{}: no answer: {e}", kind.name()));
                }
            }
        }
        done.fetch_add(1, Ordering::Relaxed);
    }
    if let Ok(mut tally) = tally.lock() {
        for (kind, count) in local.answered {
            *tally.answered.entry(kind).or_default() += count;
        }
        for (kind, count) in local.unexpected {
            *tally.unexpected.entry(kind).or_default() += count;
        }
        for (kind, took) in local.slowest {
            let slowest = tally.slowest.entry(kind).or_default();
            *slowest = (*slowest).max(took);
        }
        tally.slow += local.slow;
        let room = EXAMPLES.saturating_sub(tally.examples.len());
        tally.examples.extend(local.examples.into_iter().take(room));
        tally.socket_errors += local.socket_errors;
    }
}

/// Sends on the kept-alive connection, opening a new one if there is none or it failed.
fn send(
    connection: &mut Option<Connection>,
    port: u16,
    request: &Request,
) -> std::io::Result<testbed::client::Response> {
    if connection.is_none() {
        *connection = Some(Connection::open(port)?);
    }
    let result = match connection.as_mut() {
        Some(open) => open.send(request),
        None => Err(std::io::Error::other("no connection")),
    };
    let closes = result
        .as_ref()
        .map(|r| r.header("connection") == Some("close"))
        .unwrap_or(true);
    if closes {
        *connection = None;
    }
    result
}

/// One reading of progress.
struct Sample {
    seconds: f64,
    requests: u64,
    rss_kib: u64,
}

fn progress(message: &str) {
    let _ = writeln!(std::io::stderr(), "soak: {message}");
}

fn repo_root() -> PathBuf {
    let testbed = Path::new(env!("CARGO_MANIFEST_DIR"));
    testbed.parent().unwrap_or(testbed).to_path_buf()
}

fn start_envoy(root: &Path, issuer: &IssuerHandle, echo_port: u16) -> Result<Envoy, String> {
    let config = json!({
        "domain": issuer.domain(),
        "audience": issuer.audience(),
        "upstream": ISSUER_CLUSTER,
    });
    let module = root.join("dist").join("auth0_wasm_filter.wasm");
    if !module.is_file() {
        return Err(format!("{} is missing: run make build", module.display()));
    }
    let filter = envoy::wasm_filter(&module, &config, "soak");
    let bootstrap = envoy::bootstrap(
        &[Listener::new("soak", vec![filter], ECHO_CLUSTER)],
        &[
            envoy::cluster(ECHO_CLUSTER, echo_port),
            envoy::cluster(ISSUER_CLUSTER, issuer.port()),
        ],
    );
    let mut options = EnvoyOptions::new(envoy::find_envoy(root)?);
    options.concurrency = 2;
    options.log_level = "warning".into();
    options.component_log_level = "main:warning,wasm:warning".into();
    Envoy::start(&bootstrap, &options).map_err(|e| e.to_string())
}

fn run() -> Result<bool, String> {
    let root = repo_root();
    let settings = Settings::from_env(&root)?;
    std::fs::create_dir_all(&settings.dir)
        .map_err(|e| format!("{}: {e}", settings.dir.display()))?;
    let echo_binary = std::env::current_exe()
        .map_err(|e| e.to_string())?
        .with_file_name("echo-upstream");
    let echo = EchoProcess::start(&echo_binary, false)?;
    let issuer =
        Issuer::start_default().map_err(|e| format!("cannot start the local issuer: {e}"))?;
    let envoy = start_envoy(&root, &issuer, echo.port)?;
    let port = envoy
        .listener_port("soak")
        .ok_or("Envoy has no soak listener")?;
    progress(&format!(
        "{} requests over {} connections; minting {} tokens (kept in {} for the next run)",
        thousands(settings.requests as f64),
        settings.connections,
        settings.distinct_tokens,
        settings.dir.display()
    ));
    let credentials = Credentials::mint(&issuer, &settings, port);

    let next = AtomicU64::new(0);
    let done = AtomicU64::new(0);
    let finished = AtomicBool::new(false);
    let tally = Mutex::new(Tally::default());
    let mut samples = Vec::new();
    let started = Instant::now();
    thread::scope(|scope| {
        let drivers: Vec<_> = (0..settings.connections)
            .map(|_| {
                scope.spawn(|| drive(port, &credentials, &next, settings.requests, &done, &tally))
            })
            .collect();
        scope.spawn(|| {
            for driver in drivers {
                let _ = driver.join();
            }
            finished.store(true, Ordering::SeqCst);
        });
        let mut last_report = Instant::now();
        loop {
            let stop = finished.load(Ordering::SeqCst);
            if stop || last_report.elapsed() >= SAMPLE_EVERY {
                last_report = Instant::now();
                let sample = Sample {
                    seconds: started.elapsed().as_secs_f64(),
                    requests: done.load(Ordering::Relaxed),
                    rss_kib: rss_kib(envoy.pid()).unwrap_or(0),
                };
                progress(&format!(
                    "{:>6.0} s  {:>12} requests  {:>8} req/s  Envoy RSS {}",
                    sample.seconds,
                    thousands(sample.requests as f64),
                    thousands(sample.requests as f64 / sample.seconds.max(0.001)),
                    mib(sample.rss_kib)
                ));
                samples.push(sample);
            }
            if stop {
                break;
            }
            thread::sleep(Duration::from_millis(100));
        }
    });
    let elapsed = started.elapsed().as_secs_f64();
    let tally = tally
        .into_inner()
        .map_err(|_| "a connection thread failed")?;
    let log = envoy.log();
    let trapped = ["panicked", "wasm trap", "Function: proxy_", "failed to run"]
        .iter()
        .any(|sign| log.contains(sign));
    let memory = Memory::of(&samples, settings.requests);
    let passed = tally.unexpected.is_empty()
        && tally.slow == 0
        && tally.socket_errors == 0
        && !trapped
        && memory.growth_kib <= RSS_GROWTH_LIMIT_KIB;
    println!(
        "{}",
        summary(&settings, &tally, &memory, elapsed, trapped, passed)
    );
    Ok(passed)
}

/// Envoy's resident memory over the run.
struct Memory {
    /// Whether the run went on past warm-up, so that growth means something.
    judged: bool,
    warm_kib: u64,
    peak_after_warmup_kib: u64,
    end_kib: u64,
    growth_kib: u64,
    trace: Vec<(u64, u64)>,
}

impl Memory {
    fn of(samples: &[Sample], requests: u64) -> Memory {
        let warm_after = (requests as f64 * WARMUP_SHARE) as u64;
        let warmed = |s: &&Sample| s.requests >= warm_after && s.seconds >= WARMUP_SECONDS;
        let warm = samples.iter().find(warmed);
        let warm_kib = warm.map_or(0, |s| s.rss_kib);
        let peak = samples
            .iter()
            .filter(warmed)
            .map(|s| s.rss_kib)
            .max()
            .unwrap_or(0);
        Memory {
            judged: warm.is_some(),
            warm_kib,
            peak_after_warmup_kib: peak,
            end_kib: samples.last().map_or(0, |s| s.rss_kib),
            growth_kib: peak.saturating_sub(warm_kib),
            trace: samples.iter().map(|s| (s.requests, s.rss_kib)).collect(),
        }
    }
}

fn summary(
    settings: &Settings,
    tally: &Tally,
    memory: &Memory,
    elapsed: f64,
    trapped: bool,
    passed: bool,
) -> String {
    let mut out = String::new();
    let answered: u64 = tally.answered.values().sum();
    out.push_str(&format!(
        "{} requests in {:.0} s ({} req/s), {} connections, Envoy with 2 workers: {}\n\n",
        thousands(answered as f64),
        elapsed,
        thousands(answered as f64 / elapsed.max(0.001)),
        settings.connections,
        if passed { "PASSED" } else { "FAILED" }
    ));
    out.push_str(
        "| request | expected | answered | unexpected | slowest answer |\n|---|--:|--:|--:|--:|\n",
    );
    for (kind, count) in &tally.answered {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {:.1} ms |\n",
            kind.name(),
            kind.expected(),
            thousands(*count as f64),
            tally.unexpected.get(kind).copied().unwrap_or(0),
            tally
                .slowest
                .get(kind)
                .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
        ));
    }
    out.push_str(&format!(
        "\nAnswers slower than {SLOW:?}: {}. Socket errors: {}. Module trapped: {}.\n",
        tally.slow,
        tally.socket_errors,
        if trapped { "yes" } else { "no" }
    ));
    if !memory.judged {
        out.push_str("Envoy RSS not judged: the run ended before warm-up.\n");
    } else {
        out.push_str(&format!(
        "Envoy RSS: {} after warm-up ({:.0} % of the requests and {WARMUP_SECONDS:.0} s), peak \
         after it {}, at the end {}: growth {} (limit {}).\n",
        mib(memory.warm_kib),
        WARMUP_SHARE * 100.0,
        mib(memory.peak_after_warmup_kib),
        mib(memory.end_kib),
        mib(memory.growth_kib),
        mib(RSS_GROWTH_LIMIT_KIB)
    ));
    }
    let step = (memory.trace.len() / 10).max(1);
    let trace: Vec<String> = memory
        .trace
        .iter()
        .enumerate()
        .filter(|(i, _)| i % step == 0 || *i + 1 == memory.trace.len())
        .map(|(_, (requests, kib))| format!("{}: {}", thousands(*requests as f64), mib(*kib)))
        .collect();
    out.push_str(&format!("RSS by requests done: {}.\n", trace.join(", ")));
    for example in &tally.examples {
        out.push_str(&format!("- {example}\n"));
    }
    out
}

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(message) => {
            progress(&message);
            ExitCode::FAILURE
        }
    }
}
