#!/usr/bin/env bash
# Builds the fuzz targets (fuzz/) with coverage instrumentation and runs each under libFuzzer
# for SECONDS seconds: `scripts/fuzz.sh SECONDS [TARGET...]` (default: every target).
#
# libFuzzer (through the libfuzzer-sys crate) works on the stable toolchain: the coverage
# instrumentation is LLVM's SanitizerCoverage, which stable rustc enables with -C passes and
# -C llvm-args; no sanitizer runtime (nightly only) is needed, since the targets are safe Rust
# and a panic, an overflow or a debug assertion is the crash to find.
#
# New inputs go to fuzz/target/corpus/TARGET (not committed), read with the committed seeds in
# fuzz/corpus/TARGET. A crash, a hang (over 10 s) or more than 2 GiB of memory stops the run
# with its input in fuzz/artifacts/TARGET/ and a non-zero exit.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
export CARGO_TARGET_DIR=target

seconds="${1:-60}"
shift || true
host=$(rustc -vV | sed -n 's/^host: //p')
targets=("$@")
if ((${#targets[@]} == 0)); then
    mapfile -t targets < <(sed -n 's/^name = "\(.*\)"$/\1/p' Cargo.toml | grep -v '^filter-fuzz$')
fi

# Build scripts run on the host unflagged: the flags apply only to the --target build.
RUSTFLAGS="--cfg fuzzing -C passes=sancov-module -C llvm-args=-sanitizer-coverage-level=4 \
-C llvm-args=-sanitizer-coverage-inline-8bit-counters -C llvm-args=-sanitizer-coverage-pc-table \
-C llvm-args=-sanitizer-coverage-trace-compares -C debug-assertions -C overflow-checks" \
    cargo build --release --locked --target "$host" --bins

total=0
for target in "${targets[@]}"; do
    mkdir -p "target/corpus/$target" "artifacts/$target"
    log="target/$target.log"
    echo "fuzz: $target for ${seconds}s"
    if ! "target/$host/release/$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -max_len=16384 -print_final_stats=1 -artifact_prefix="artifacts/$target/" \
        "target/corpus/$target" "corpus/$target" >"$log" 2>&1; then
        tail -n 40 "$log"
        echo "fuzz: $target found a failure; its input is in fuzz/artifacts/$target/" >&2
        exit 1
    fi
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    echo "fuzz: $target: ${runs:-0} executions, no failure"
    total=$((total + ${runs:-0}))
done
echo "fuzz: ${#targets[@]} targets, $total executions, no failure"
