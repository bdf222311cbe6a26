//! Measures per-key setup and per-verification time of each backend compiled into this build,
//! and SHA-256 throughput. Runs natively or as wasm32-wasip1 (time from the WASI clock).
//!
//! Usage: bench [--vectors DIR] [--check] [--quick] [--only NAME]
//!   --vectors DIR  Wycheproof directory (default: $WYCHEPROOF_DIR or ../../core/tests/vectors/wycheproof)
//!   --check        run every Wycheproof vector through every backend and exit
//!   --quick        shorter samples
//!   --only NAME    only algorithms whose name contains NAME

use crypto_bench::alg::{Alg, Backend};
use crypto_bench::wycheproof::{self, Case, VectorFile};
use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

struct Options {
    dir: PathBuf,
    check: bool,
    sample: Duration,
    samples: usize,
    only: Option<String>,
}

fn options() -> Options {
    let mut o = Options {
        dir: std::env::var_os("WYCHEPROOF_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("../../core/tests/vectors/wycheproof")),
        check: false,
        sample: Duration::from_millis(50),
        samples: 21,
        only: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--vectors" => o.dir = args.next().map(PathBuf::from).unwrap_or(o.dir),
            "--check" => o.check = true,
            "--quick" => {
                o.sample = Duration::from_millis(20);
                o.samples = 5;
            }
            "--only" => o.only = args.next(),
            other => {
                eprintln!("unknown argument {other}");
                std::process::exit(2);
            }
        }
    }
    o
}

/// Process CPU time in seconds. The machine runs other work, so wall time would also count
/// the time this process spends descheduled; CPU time does not.
#[cfg(target_family = "wasm")]
fn cpu_seconds() -> f64 {
    #[link(wasm_import_module = "wasi_snapshot_preview1")]
    extern "C" {
        fn clock_time_get(id: u32, precision: u64, time: *mut u64) -> u16;
    }
    const PROCESS_CPUTIME_ID: u32 = 2;
    let mut ns = 0u64;
    // SAFETY: the WASI call writes one u64 through the pointer it is given.
    let errno = unsafe { clock_time_get(PROCESS_CPUTIME_ID, 1, &mut ns) };
    if errno != 0 {
        return Instant::now().elapsed().as_secs_f64();
    }
    ns as f64 * 1e-9
}

#[cfg(not(target_family = "wasm"))]
fn cpu_seconds() -> f64 {
    #[repr(C)]
    struct Timespec {
        sec: i64,
        nsec: i64,
    }
    extern "C" {
        fn clock_gettime(id: i32, ts: *mut Timespec) -> i32;
    }
    const CLOCK_PROCESS_CPUTIME_ID: i32 = 2;
    let mut ts = Timespec { sec: 0, nsec: 0 };
    // SAFETY: clock_gettime writes one timespec through the pointer it is given.
    unsafe { clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    ts.sec as f64 + ts.nsec as f64 * 1e-9
}

struct Timing {
    /// Fastest sample: the least disturbed by other work on the machine.
    min_us: f64,
    median_us: f64,
}

/// CPU time per call in microseconds over `samples` batches, each sized (after a warm-up that
/// also lets the engine tier up) to take about `sample`.
fn time_per_call(o: &Options, mut f: impl FnMut()) -> Timing {
    let mut batch = 1u64;
    let warm_until = Instant::now() + o.sample * 4;
    loop {
        let start = cpu_seconds();
        for _ in 0..batch {
            f();
        }
        let took = cpu_seconds() - start;
        let target = o.sample.as_secs_f64();
        if Instant::now() >= warm_until && took >= target / 4.0 {
            batch = ((target / (took / batch as f64)) as u64).max(1);
            break;
        }
        if took < target / 4.0 {
            batch *= 2;
        }
    }
    let mut means: Vec<f64> = (0..o.samples)
        .map(|_| {
            let start = cpu_seconds();
            for _ in 0..batch {
                f();
            }
            (cpu_seconds() - start) * 1e6 / batch as f64
        })
        .collect();
    means.sort_by(|a, b| a.total_cmp(b));
    Timing {
        min_us: means.first().copied().unwrap_or(f64::NAN),
        median_us: means.get(means.len() / 2).copied().unwrap_or(f64::NAN),
    }
}

fn fixtures(files: &[VectorFile]) -> Vec<(String, Alg, Case)> {
    let mut out = Vec::new();
    for alg in Alg::ALL {
        let bits: &[u64] = match alg {
            Alg::Rs256 => &[2048, 3072, 4096],
            a if a.is_rsa() => &[2048],
            Alg::Es256 => &[256],
            Alg::Es384 => &[384],
            _ => &[255],
        };
        for &b in bits {
            if let Some(case) = wycheproof::fixture(files, alg, b) {
                let label = if alg.is_rsa() && b != 2048 {
                    format!("{}-{b}", alg.name())
                } else {
                    alg.name().to_string()
                };
                out.push((label, alg, case.clone()));
            }
        }
    }
    out
}

fn bench_backend<B: Backend>(o: &Options, fixtures: &[(String, Alg, Case)]) {
    for (label, alg, case) in fixtures {
        if !B::supports(*alg) || o.only.as_ref().is_some_and(|s| !label.contains(s.as_str())) {
            continue;
        }
        let Some(key) = B::prepare(*alg, &case.key) else {
            println!("{label}\t{}\tkey refused", B::NAME);
            continue;
        };
        let mut bad = case.sig.clone();
        if let Some(last) = bad.last_mut() {
            *last ^= 1;
        }
        if !B::verify(&key, *alg, &case.msg, &case.sig) || B::verify(&key, *alg, &case.msg, &bad) {
            println!("{label}\t{}\tWRONG RESULT", B::NAME);
            continue;
        }
        let setup = time_per_call(o, || {
            black_box(B::prepare(*alg, black_box(&case.key)));
        });
        let verify = time_per_call(o, || {
            black_box(B::verify(
                &key,
                *alg,
                black_box(&case.msg),
                black_box(&case.sig),
            ));
        });
        println!(
            "{label}\t{}\tsetup_us={:.2}\tverify_us={:.2}\tverify_median_us={:.2}",
            B::NAME,
            setup.min_us,
            verify.min_us,
            verify.median_us
        );
    }
}

fn bench_sha(o: &Options) {
    if o.only
        .as_ref()
        .is_some_and(|s| !"SHA-256".contains(s.as_str()))
    {
        return;
    }
    for sha in crypto_bench::sha::ALL {
        for len in [64usize, 1024, 4096] {
            let input: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let us = time_per_call(o, || {
                black_box((sha.digest)(black_box(&input)));
            });
            println!(
                "SHA-256/{len}B\t{}\tdigest_us={:.2}\tMB_per_s={:.1}",
                sha.name,
                us.min_us,
                len as f64 / us.min_us
            );
        }
    }
}

fn check<B: Backend>(files: &[VectorFile]) -> bool {
    let mut ok = true;
    for file in files {
        if !B::supports(file.alg) {
            continue;
        }
        let r = wycheproof::run::<B>(file);
        println!(
            "{}\t{}\tpassed={}\tfailed={}\tacceptable_accepted={}\tacceptable_rejected={}",
            B::NAME,
            file.name,
            r.passed,
            r.failures.len(),
            r.acceptable_accepted,
            r.acceptable_rejected
        );
        for f in &r.failures {
            println!("  FAIL tcId={} verified={} {:?} {}", f.0, f.3, f.2, f.1);
        }
        ok &= r.failures.is_empty();
    }
    ok
}

/// Calls `$f::<B>(args)` for every backend compiled in.
macro_rules! each_backend {
    ($f:ident, $($arg:expr),*) => {{
        #[cfg(feature = "own")]
        $f::<crypto_bench::backend_own::Own>($($arg),*);
        #[cfg(feature = "own")]
        $f::<crypto_bench::backend_own_p256::OwnP256>($($arg),*);
        #[cfg(feature = "ring")]
        $f::<crypto_bench::backend_ring::Ring>($($arg),*);
        #[cfg(feature = "rustcrypto")]
        $f::<crypto_bench::backend_rustcrypto::RustCrypto>($($arg),*);
        #[cfg(feature = "compact")]
        $f::<crypto_bench::backend_compact::Compact>($($arg),*);
        #[cfg(feature = "p256-013")]
        $f::<crypto_bench::backend_p256_013::P256v013>($($arg),*);
    }};
}

fn check_unit<B: Backend>(files: &[VectorFile], ok: &mut bool) {
    *ok &= check::<B>(files);
}

fn main() {
    let o = options();
    let files = match wycheproof::load(&o.dir) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("cannot load vectors: {e}");
            std::process::exit(2);
        }
    };
    if o.check {
        let mut ok = true;
        each_backend!(check_unit, &files, &mut ok);
        println!(
            "{}",
            if ok {
                "all vectors agree"
            } else {
                "VECTOR FAILURES"
            }
        );
        std::process::exit(if ok { 0 } else { 1 });
    }
    let target = if cfg!(target_family = "wasm") {
        "wasm32-wasip1"
    } else {
        "native"
    };
    println!("# target={target}");
    let fixtures = fixtures(&files);
    each_backend!(bench_backend, &o, &fixtures);
    bench_sha(&o);
}
