//! The results table, as aligned text for the terminal and as Markdown for BENCHMARKS.md.

use super::settings::Workload;
use super::stack::Gate;
use super::wrk::Run;

/// Every measured run of one listener under one workload.
#[derive(Debug, Clone)]
pub struct Row {
    pub workload: Workload,
    pub gate: Gate,
    pub runs: Vec<Run>,
    /// Why runs did not count (unexpected statuses, socket errors, wrk failures).
    pub problems: Vec<String>,
}

impl Row {
    pub fn rate(&self) -> Option<f64> {
        median(self.runs.iter().map(|r| r.requests_per_second).collect())
    }

    pub fn p50(&self) -> Option<f64> {
        median(self.runs.iter().map(|r| r.p50).collect())
    }

    pub fn p99(&self) -> Option<f64> {
        median(self.runs.iter().map(|r| r.p99).collect())
    }

    /// Median busy percent of Envoy's CPU and of the load generator's.
    pub fn cpu(&self) -> Option<(f64, f64)> {
        let envoy = median(self.runs.iter().filter_map(|r| r.envoy_cpu).collect())?;
        let load = median(self.runs.iter().filter_map(|r| r.load_cpu).collect())?;
        Some((envoy, load))
    }

    fn range(&self) -> Option<(f64, f64)> {
        let rates = self.runs.iter().map(|r| r.requests_per_second);
        let min = rates.clone().reduce(f64::min)?;
        let max = rates.reduce(f64::max)?;
        Some((min, max))
    }
}

/// The middle value (the mean of the two middle ones for an even count).
pub fn median(mut values: Vec<f64>) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    let middle = values.len() / 2;
    match values.len() {
        0 => None,
        n if n % 2 == 1 => values.get(middle).copied(),
        _ => Some((values.get(middle - 1)? + values.get(middle)?) / 2.0),
    }
}

/// The wasm row's ratios within its workload: requests/s and p99 against `jwt_authn`, then
/// requests/s against `jwt_authn` with its cache, the header-reading floor and the baseline
/// build, where those listeners ran.
fn ratio(rows: &[Row], row: &Row) -> String {
    if row.gate != Gate::Wasm || !row.problems.is_empty() {
        return String::new();
    }
    let other = |gate: Gate| {
        rows.iter()
            .find(|r| r.workload == row.workload && r.gate == gate && r.problems.is_empty())
    };
    let Some(rate) = row.rate() else {
        return String::new();
    };
    let rate_against = |gate: Gate| {
        other(gate)
            .and_then(Row::rate)
            .filter(|r| *r > 0.0)
            .map(|r| rate / r)
    };
    let mut parts = Vec::new();
    if let Some(native) = rate_against(Gate::JwtAuthn) {
        let p99 = other(Gate::JwtAuthn)
            .and_then(Row::p99)
            .zip(row.p99())
            .filter(|(native, _)| *native > 0.0)
            .map(|(native, own)| format!(" (p99 {:.2}x)", own / native))
            .unwrap_or_default();
        parts.push(format!("{native:.2}x{p99}"));
    }
    if let Some(cached) = rate_against(Gate::JwtAuthnCached) {
        parts.push(format!("{cached:.2}x cached"));
    }
    if let Some(floor) = rate_against(Gate::Read) {
        parts.push(format!("{floor:.2} of floor-read"));
    }
    if let Some(baseline) = rate_against(Gate::Baseline) {
        parts.push(format!("{baseline:.2}x baseline"));
    }
    parts.join("; ")
}

struct Cells {
    workload: String,
    listener: String,
    rate: String,
    range: String,
    p50: String,
    p99: String,
    cpu: String,
    ratio: String,
}

fn cells(rows: &[Row]) -> Vec<Cells> {
    rows.iter()
        .map(|row| {
            let failed = !row.problems.is_empty();
            let (rate, range, p50, p99, cpu) = if failed {
                (
                    "FAILED".to_string(),
                    String::new(),
                    String::new(),
                    String::new(),
                    String::new(),
                )
            } else {
                (
                    row.rate().map(thousands).unwrap_or_default(),
                    row.range()
                        .map(|(lo, hi)| format!("{}-{}", thousands(lo), thousands(hi)))
                        .unwrap_or_default(),
                    row.p50().map(latency).unwrap_or_default(),
                    row.p99().map(latency).unwrap_or_default(),
                    row.cpu()
                        .map(|(envoy, load)| format!("{envoy:.0}% / {load:.0}%"))
                        .unwrap_or_default(),
                )
            };
            Cells {
                workload: row.workload.title().to_string(),
                listener: row.gate.name().to_string(),
                rate,
                range,
                p50,
                p99,
                cpu,
                ratio: ratio(rows, row),
            }
        })
        .collect()
}

const COLUMNS: usize = 8;

const HEADINGS: [&str; COLUMNS] = [
    "workload",
    "listener",
    "req/s (median)",
    "req/s min-max",
    "p50",
    "p99",
    "busy CPU0 / CPU1",
    "wasm / jwt_authn; / jwt_authn-cached; / floor-read",
];

fn columns(c: &Cells) -> [&str; COLUMNS] {
    [
        &c.workload,
        &c.listener,
        &c.rate,
        &c.range,
        &c.p50,
        &c.p99,
        &c.cpu,
        &c.ratio,
    ]
}

pub fn text_table(rows: &[Row]) -> String {
    let cells = cells(rows);
    let mut widths = HEADINGS.map(str::len);
    for c in &cells {
        for (width, cell) in widths.iter_mut().zip(columns(c)) {
            *width = (*width).max(cell.len());
        }
    }
    let line = |values: [&str; COLUMNS]| {
        let mut out = String::new();
        for (i, (value, width)) in values.iter().zip(widths).enumerate() {
            // Text left, numbers right.
            if i < 2 {
                out.push_str(&format!("{value:<width$}  "));
            } else {
                out.push_str(&format!("{value:>width$}  "));
            }
        }
        out.trim_end().to_string() + "\n"
    };
    let mut out = line(HEADINGS);
    let mut previous = None;
    for (row, c) in rows.iter().zip(&cells) {
        if previous.is_some_and(|w| w != row.workload) {
            out.push('\n');
        }
        previous = Some(row.workload);
        out.push_str(&line(columns(c)));
    }
    out
}

pub fn markdown_table(rows: &[Row]) -> String {
    let mut out = format!("| {} |\n", HEADINGS.join(" | "));
    out.push_str("|---|---|--:|--:|--:|--:|--:|--:|\n");
    for c in cells(rows) {
        out.push_str(&format!("| {} |\n", columns(&c).join(" | ")));
    }
    out
}

/// `12345.6` as `12,346`.
pub fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Microseconds as `412us` or `1.23ms`.
pub fn latency(us: f64) -> String {
    if us < 1000.0 {
        format!("{us:.0}us")
    } else {
        format!("{:.2}ms", us / 1000.0)
    }
}

/// KiB as `54.3 MiB`.
pub fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(rate: f64, p99: f64) -> Run {
        Run {
            requests: 1,
            requests_per_second: rate,
            p50: p99 / 2.0,
            p99,
            envoy_cpu: Some(99.0),
            load_cpu: Some(60.4),
            ..Run::default()
        }
    }

    #[test]
    fn medians_of_odd_and_even_counts() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(vec![]), None);
    }

    #[test]
    fn numbers_are_grouped_and_latencies_scaled() {
        assert_eq!(thousands(1234567.4), "1,234,567");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(latency(412.4), "412us");
        assert_eq!(latency(1234.0), "1.23ms");
    }

    #[test]
    fn ratio_is_on_the_wasm_row_against_jwt_authn_of_the_same_workload() {
        let row = |gate, rate, p99| Row {
            workload: Workload::RepeatedToken,
            gate,
            runs: vec![run(rate, p99)],
            problems: vec![],
        };
        let rows = vec![
            row(Gate::None, 40_000.0, 500.0),
            row(Gate::Read, 15_000.0, 800.0),
            row(Gate::JwtAuthn, 10_000.0, 2_000.0),
            row(Gate::JwtAuthnCached, 30_000.0, 600.0),
            row(Gate::Wasm, 12_000.0, 1_000.0),
        ];
        let markdown = markdown_table(&rows);
        assert!(markdown.contains("| (a) one RS256 token | wasm | 12,000 | 12,000-12,000 | 500us | 1.00ms | 99% / 60% | 1.20x (p99 0.50x); 0.40x cached; 0.80 of floor-read |"));
        let without_floor: Vec<Row> = rows
            .into_iter()
            .filter(|r| matches!(r.gate, Gate::JwtAuthn | Gate::Wasm))
            .collect();
        assert!(markdown_table(&without_floor).contains("| 1.20x (p99 0.50x) |"));
        assert!(markdown.contains(
            "| (a) one RS256 token | jwt_authn | 10,000 | 10,000-10,000 | 1.00ms | 2.00ms | 99% / 60% |  |"
        ));
    }

    #[test]
    fn failed_rows_say_so_and_get_no_ratio() {
        let rows = vec![Row {
            workload: Workload::Dpop,
            gate: Gate::Wasm,
            runs: vec![run(5.0, 1.0)],
            problems: vec!["expected every response 200".into()],
        }];
        assert!(markdown_table(&rows)
            .contains("| (c) DPoP, ES256 proofs | wasm | FAILED |  |  |  |  |  |"));
    }
}
