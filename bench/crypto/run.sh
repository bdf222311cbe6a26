#!/usr/bin/env bash
# Full bake-off: Wycheproof check and benchmark natively and in wasm32-wasip1 under Node (V8),
# module sizes, then the markdown table. Results go to out/.
# Usage: ./run.sh [--quick]   (WYCHEPROOF_DIR overrides the vector directory)
set -euo pipefail
cd "$(dirname "$0")"
export CC_wasm32_wasip1="${CC_wasm32_wasip1:-clang}"
export AR_wasm32_wasip1="${AR_wasm32_wasip1:-llvm-ar}"
vectors="${WYCHEPROOF_DIR:-../../core/tests/vectors/wycheproof}"
mode=("$@")
# Envoy's V8 (proxy-wasm-cpp-host) turns Liftoff off and compiles every function with TurboFan.
node=(node --no-liftoff --experimental-wasi-unstable-preview1 --no-warnings run-wasm.mjs)
mkdir -p out

cargo build --quiet --release --bin bench --features compact
cargo build --quiet --release --bin bench --features compact --target wasm32-wasip1
# The own RSA with its wasm SIMD column sums (needs the module built with simd128).
RUSTFLAGS='-C target-feature=+simd128' cargo build --quiet --release --bin bench --no-default-features \
  --features own --target-dir target/simd --target wasm32-wasip1
# RustCrypto with 32-bit words on wasm32 (its default promotes wasm32 to 64-bit words).
RUSTFLAGS='--cfg cpubits="32"' cargo build --quiet --release --bin bench --no-default-features \
  --features rustcrypto --target-dir target/cpubits32 --target wasm32-wasip1
cargo build --quiet --release --bin bench --no-default-features --features p256-013 --target-dir target/p256-013
cargo build --quiet --release --bin bench --no-default-features --features p256-013 --target-dir target/p256-013 --target wasm32-wasip1

./target/release/bench --vectors "$vectors" --check > out/check-native.txt
"${node[@]}" target/wasm32-wasip1/release/bench.wasm --vectors "$vectors" --check > out/check-wasm.txt
"${node[@]}" target/cpubits32/wasm32-wasip1/release/bench.wasm --vectors "$vectors" --check > out/check-wasm-cpubits32.txt
"${node[@]}" target/simd/wasm32-wasip1/release/bench.wasm --vectors "$vectors" --check > out/check-wasm-simd128.txt
# The unit tests of the core's verifiers in wasm, scalar and SIMD (the core's own wasm runner).
for flags in "" "-C target-feature=+simd128"; do
  (cd ../.. && RUSTFLAGS="$flags" cargo test --quiet --release -p filter-core --lib --target wasm32-wasip1 \
    --target-dir "bench/crypto/target/wasm-test${flags:+-simd}" crypto:: 2>&1 | grep 'test result')
done
"${node[@]}" target/p256-013/wasm32-wasip1/release/bench.wasm --vectors "$vectors" --check > out/check-wasm-p256-013.txt
tail -n1 out/check-*.txt

{
  ./target/release/bench --vectors "$vectors" "${mode[@]}"
  ./target/p256-013/release/bench --vectors "$vectors" --only ES256 "${mode[@]}" | grep -v '^#'
} > out/native.tsv
{
  "${node[@]}" target/wasm32-wasip1/release/bench.wasm --vectors "$vectors" "${mode[@]}"
  "${node[@]}" target/simd/wasm32-wasip1/release/bench.wasm --vectors "$vectors" --only S "${mode[@]}" | grep -v -e '^#' -e '^SHA'
  "${node[@]}" target/cpubits32/wasm32-wasip1/release/bench.wasm --vectors "$vectors" "${mode[@]}" | grep -v -e '^#' -e '^SHA'
  "${node[@]}" target/p256-013/wasm32-wasip1/release/bench.wasm --vectors "$vectors" --only ES256 "${mode[@]}" | grep -v '^#'
} > out/wasm.tsv
./sizes.sh > out/sizes.tsv
python3 table.py out/wasm.tsv out/native.tsv out/sizes.tsv > out/table.md
cat out/table.md
