#!/usr/bin/env bash
# optimize-module.sh BUILT OUT: copies the module built by cargo to OUT, through
# `wasm-opt -O3` when binaryen is installed and its output still exports the proxy-wasm
# ABI; otherwise unchanged.
set -euo pipefail
built="$1"
out="$2"
abi=proxy_abi_version_0_2_1

if ! grep -q "$abi" "$built"; then
    echo "optimize-module: $built does not export $abi" >&2
    exit 1
fi
if command -v wasm-opt >/dev/null 2>&1; then
    tmp="$out.opt.tmp"
    if wasm-opt -O3 "$built" -o "$tmp" 2>"$tmp.log" && grep -q "$abi" "$tmp"; then
        mv "$tmp" "$out"
        rm -f "$tmp.log"
        echo "$out: $(wc -c <"$out") bytes (wasm-opt -O3; $(wc -c <"$built") before)"
        exit 0
    fi
    echo "optimize-module: wasm-opt failed or dropped the ABI export; using the module as built" >&2
    cat "$tmp.log" >&2 || true
    rm -f "$tmp" "$tmp.log"
fi
cp "$built" "$out"
echo "$out: $(wc -c <"$out") bytes"
