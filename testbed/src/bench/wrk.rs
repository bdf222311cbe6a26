//! Running wrk with the feed script and reading its report.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::Path;
use std::process::Stdio;

use super::settings::CONNECTIONS;
use super::stack::{pinned_command, CpuTimes, BENCH_PATH, ENVOY_CPU, LOAD_CPU};

/// The wrk script. Requests come from the feed file named after `--`, all built in `init`
/// so that `request` is a table lookup. The `response` hook counts statuses (wrk itself
/// only counts "non-2xx or 3xx"), so a run of 401s cannot pass for a benchmark of the
/// filter; `done` prints the counts and how often the feed wrapped around.
pub const SCRIPT: &str = r#"-- Written by `make bench`. Usage: wrk ... -s feed.lua <url> -- <feed file>
-- Feed file: one request per line, the Authorization value, a tab, the DPoP proof or nothing.

local prepared = {}
local position = 1
local threads = {}
statuses = {}
wraps = 0

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  for line in io.lines(args[1]) do
    local authorization, proof = line:match("^([^\t]*)\t(.*)$")
    local headers = { ["Authorization"] = authorization }
    if proof ~= "" then
      headers["DPoP"] = proof
    end
    prepared[#prepared + 1] = wrk.format("GET", "@PATH@", headers)
  end
end

function request()
  local next_request = prepared[position]
  position = position + 1
  if position > #prepared then
    position = 1
    wraps = wraps + 1
  end
  return next_request
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do
      io.write(string.format("status %d %d\n", status, count))
    end
    io.write(string.format("wraps %d\n", thread:get("wraps")))
  end
end
"#;

pub fn write_script(dir: &Path) -> io::Result<std::path::PathBuf> {
    let path = dir.join("feed.lua");
    fs::write(&path, SCRIPT.replace("@PATH@", BENCH_PATH))?;
    Ok(path)
}

/// What one wrk run measured.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Run {
    pub requests: u64,
    pub requests_per_second: f64,
    /// Microseconds.
    pub p50: f64,
    pub p99: f64,
    /// Responses per HTTP status.
    pub statuses: BTreeMap<u16, u64>,
    /// connect, read, write and timeout errors together.
    pub socket_errors: u64,
    pub socket_error_text: Option<String>,
    /// Times the feed was used up and started again.
    pub wraps: u64,
    /// Percent busy during the run of Envoy's CPU and of the load generator's.
    pub envoy_cpu: Option<f64>,
    pub load_cpu: Option<f64>,
}

impl Run {
    /// Why this run does not count, if it does not: a status other than `expected`, a
    /// socket error, or nothing measured.
    pub fn problem(&self, expected: u16) -> Option<String> {
        let unexpected: Vec<String> = self
            .statuses
            .iter()
            .filter(|(status, _)| **status != expected)
            .map(|(status, count)| format!("{count} x {status}"))
            .collect();
        if !unexpected.is_empty() {
            return Some(format!(
                "expected every response {expected}, got {} (and {} x {expected})",
                unexpected.join(", "),
                self.statuses.get(&expected).copied().unwrap_or(0)
            ));
        }
        if self.socket_errors > 0 {
            return Some(format!(
                "socket errors: {}",
                self.socket_error_text.as_deref().unwrap_or("?")
            ));
        }
        if self.requests == 0 || self.statuses.is_empty() {
            return Some("no responses".into());
        }
        None
    }
}

/// `wrk -t1 -c16 -d<seconds>s --latency` against `http://127.0.0.1:<port>/bench`.
pub fn run(script: &Path, feed: &Path, port: u16, seconds: u64, pin: bool) -> Result<Run, String> {
    let cpu_before = CpuTimes::now();
    let output = pinned_command(Path::new("wrk"), LOAD_CPU, pin)
        .args(["-t1", &format!("-c{CONNECTIONS}"), &format!("-d{seconds}s")])
        .arg("--latency")
        .arg("-s")
        .arg(script)
        .arg(format!("http://127.0.0.1:{port}{BENCH_PATH}"))
        .arg("--")
        .arg(feed)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run wrk: {e}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(format!(
            "wrk failed ({}): {}{}",
            output.status,
            stdout,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let cpu_after = CpuTimes::now();
    let mut run = parse(&stdout).ok_or_else(|| format!("cannot read wrk's report:\n{stdout}"))?;
    run.envoy_cpu = cpu_after.busy_since(&cpu_before, ENVOY_CPU as usize);
    run.load_cpu = cpu_after.busy_since(&cpu_before, LOAD_CPU as usize);
    Ok(run)
}

/// Reads wrk's `--latency` report and the script's `status`/`wraps` lines.
pub fn parse(text: &str) -> Option<Run> {
    let mut run = Run::default();
    let mut saw_rate = false;
    for line in text.lines().map(str::trim) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["Requests/sec:", rate] => {
                run.requests_per_second = rate.parse().ok()?;
                saw_rate = true;
            }
            ["50%", value] => run.p50 = microseconds(value)?,
            ["99%", value] => run.p99 = microseconds(value)?,
            [count, "requests", "in", ..] => run.requests = count.parse().ok()?,
            ["status", status, count] => {
                *run.statuses.entry(status.parse().ok()?).or_insert(0) +=
                    count.parse::<u64>().ok()?;
            }
            ["wraps", count] => run.wraps += count.parse::<u64>().ok()?,
            ["Socket", "errors:", ..] => {
                // "Socket errors: connect 0, read 0, write 0, timeout 3"
                run.socket_errors = words
                    .iter()
                    .filter_map(|w| w.trim_end_matches(',').parse::<u64>().ok())
                    .sum();
                run.socket_error_text = line
                    .strip_prefix("Socket errors:")
                    .map(|s| s.trim().to_string());
            }
            _ => {}
        }
    }
    saw_rate.then_some(run)
}

/// wrk's durations: `385.00us`, `1.20ms`, `2.00s`, `1.00m`.
fn microseconds(text: &str) -> Option<f64> {
    let split = text.find(|c: char| c.is_ascii_alphabetic())?;
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let scale = match unit {
        "us" => 1.0,
        "ms" => 1_000.0,
        "s" => 1_000_000.0,
        "m" => 60_000_000.0,
        "h" => 3_600_000_000.0,
        _ => return None,
    };
    Some(number * scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPORT: &str = "Running 5s test @ http://127.0.0.1:41234/bench
  1 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   403.30us  105.32us   3.47ms   88.36%
    Req/Sec    39.72k     1.38k   41.71k    82.00%
  Latency Distribution
     50%  385.00us
     75%  433.00us
     90%  499.00us
     99%    1.78ms
  197607 requests in 5.00s, 169.26MB read
  Non-2xx or 3xx responses: 12
  Socket errors: connect 0, read 0, write 0, timeout 3
Requests/sec:  39516.48
Transfer/sec:     33.85MB
status 200 197595
status 401 12
wraps 19
";

    #[test]
    fn report_with_statuses_and_socket_errors() {
        let run = parse(REPORT).unwrap();
        assert_eq!(run.requests, 197_607);
        assert_eq!(run.requests_per_second, 39_516.48);
        assert_eq!(run.p50, 385.0);
        assert_eq!(run.p99, 1_780.0);
        assert_eq!(run.statuses, BTreeMap::from([(200, 197_595), (401, 12)]));
        assert_eq!(run.socket_errors, 3);
        assert_eq!(run.wraps, 19);
        assert_eq!(
            run.problem(200),
            Some("expected every response 200, got 12 x 401 (and 197595 x 200)".into())
        );
    }

    #[test]
    fn clean_run_has_no_problem_until_socket_errors() {
        let mut run = parse(&REPORT.replace("status 401 12\n", "")).unwrap();
        assert_eq!(
            run.problem(200),
            Some("socket errors: connect 0, read 0, write 0, timeout 3".into())
        );
        run.socket_errors = 0;
        assert_eq!(run.problem(200), None);
    }

    #[test]
    fn text_without_a_rate_is_not_a_report() {
        assert_eq!(
            parse("unable to connect to 127.0.0.1:1 Connection refused"),
            None
        );
    }

    #[test]
    fn durations_in_every_unit() {
        assert_eq!(microseconds("12.5us"), Some(12.5));
        assert_eq!(microseconds("2.00s"), Some(2_000_000.0));
        assert_eq!(microseconds("1.00m"), Some(60_000_000.0));
        assert_eq!(microseconds("3.1xs"), None);
    }
}
