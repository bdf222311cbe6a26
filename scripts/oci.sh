#!/usr/bin/env bash
# Builds the module's OCI image into dist/oci (an OCI image layout, tag = the crate version):
# one layer holding the module as /plugin.wasm, the "compat" image that Istio's WasmPlugin and
# Envoy Gateway's EnvoyExtensionPolicy pull. umoci (Debian package) builds it; no container
# daemon is involved. Prints the manifest digest. Push it with skopeo, e.g.
#   skopeo copy oci:dist/oci:0.1.0 docker://registry.example.com/auth0-wasm-filter:0.1.0
set -euo pipefail
cd "$(dirname "$0")/.."

module=dist/auth0_wasm_filter.wasm
layout=dist/oci
tag=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
[[ -f "$module" ]] || { echo "oci: $module is missing (make build)" >&2; exit 1; }

bundle=$(mktemp -d)
trap 'rm -rf "$bundle"' EXIT
rm -rf "$layout"
umoci init --layout "$layout"
umoci new --image "$layout:$tag"
umoci unpack --rootless --image "$layout:$tag" "$bundle/image"
cp "$module" "$bundle/image/rootfs/plugin.wasm"
umoci repack --image "$layout:$tag" "$bundle/image"
umoci config --image "$layout:$tag" \
    --manifest.annotation "module.wasm.image/variant=compat-smart" \
    --config.label "org.opencontainers.image.title=auth0-wasm-filter"
umoci gc --layout "$layout"
digest=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["manifests"][0]["digest"])' "$layout/index.json")
echo "oci: $layout:$tag $digest"
