#!/usr/bin/env bash
# Builds one tiny cdylib per (backend, algorithm family) with the release profile and prints
# its size and its growth over a module with no backend (probe-base).
# Output: TSV "probe  bytes  delta_bytes  wasm_opt_O3_bytes" on stdout.
set -euo pipefail
cd "$(dirname "$0")"
export CC_wasm32_wasip1="${CC_wasm32_wasip1:-clang}"
export AR_wasm32_wasip1="${AR_wasm32_wasip1:-llvm-ar}"
mkdir -p out/sizes
probes=(
  "base:probe-base"
  "own/rsa:probe-with-own,probe-rsa"
  "own-simd128/rsa:probe-with-own,probe-rsa"
  "ring/rsa:probe-with-ring,probe-rsa"
  "ring/es256:probe-with-ring,probe-es256"
  "ring/es384:probe-with-ring,probe-es384"
  "ring/eddsa:probe-with-ring,probe-eddsa"
  "ring/all:probe-with-ring,probe-rsa,probe-es256,probe-es384,probe-eddsa"
  "rustcrypto/rsa:probe-with-rustcrypto,probe-rsa"
  "rustcrypto/es256:probe-with-rustcrypto,probe-es256"
  "rustcrypto/es384:probe-with-rustcrypto,probe-es384"
  "rustcrypto/eddsa:probe-with-rustcrypto,probe-eddsa"
  "rustcrypto/all:probe-with-rustcrypto,probe-rsa,probe-es256,probe-es384,probe-eddsa"
  "compact/eddsa:probe-with-compact,probe-eddsa"
  "rustcrypto-cpubits32/rsa:probe-with-rustcrypto,probe-rsa"
  "rustcrypto-cpubits32/es256:probe-with-rustcrypto,probe-es256"
  "rustcrypto-cpubits32/es384:probe-with-rustcrypto,probe-es384"
  "rustcrypto-cpubits32/eddsa:probe-with-rustcrypto,probe-eddsa"
  "rustcrypto-cpubits32/all:probe-with-rustcrypto,probe-rsa,probe-es256,probe-es384,probe-eddsa"
  "sha2-0.10/sha256:probe-sha-010"
  "sha2-0.11/sha256:probe-sha-011"
  "ring/sha256:probe-sha-ring"
)
base=""
printf 'probe\tbytes\tdelta_bytes\twasm_opt_O3_bytes\n'
for entry in "${probes[@]}"; do
  name="${entry%%:*}"
  features="${entry#*:}"
  dir=target/sizes rustflags=""
  if [[ "$name" == rustcrypto-cpubits32/* ]]; then
    dir=target/sizes-cpubits32 rustflags='--cfg cpubits="32"'
  elif [[ "$name" == *-simd128/* ]]; then
    dir=target/sizes-simd128 rustflags='-C target-feature=+simd128'
  fi
  RUSTFLAGS="$rustflags" cargo rustc --quiet --release --target wasm32-wasip1 --lib \
    --crate-type cdylib --no-default-features --features "$features" --target-dir "$dir"
  file="out/sizes/${name//\//_}.wasm"
  cp "$dir/wasm32-wasip1/release/crypto_bench.wasm" "$file"
  bytes=$(stat -c %s "$file")
  [ -z "$base" ] && base=$bytes
  opt=""
  if command -v wasm-opt >/dev/null; then
    wasm-opt -O3 --enable-bulk-memory --enable-sign-ext --enable-mutable-globals \
      --enable-nontrapping-float-to-int --enable-multivalue --enable-reference-types --enable-simd \
      "$file" -o "$file.opt"
    opt=$(stat -c %s "$file.opt")
  fi
  printf '%s\t%s\t%s\t%s\n' "$name" "$bytes" "$((bytes - base))" "$opt"
done
