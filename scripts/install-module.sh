#!/usr/bin/env bash
# install-module.sh BUILT OUT: copies the module cargo built (release profile: opt-level 3,
# LTO, one codegen unit, stripped) to OUT after checking it exports the proxy-wasm ABI.
# The release profile does the optimising, so every machine builds the same module.
set -euo pipefail
built="$1"
out="$2"
abi=proxy_abi_version_0_2_1

if ! grep -q "$abi" "$built"; then
    echo "install-module: $built does not export $abi" >&2
    exit 1
fi
cp "$built" "$out"
echo "$out: $(wc -c <"$out") bytes"
