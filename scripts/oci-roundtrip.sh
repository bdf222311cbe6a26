#!/usr/bin/env bash
# The image `make oci` built, through a real registry: starts Debian's docker-registry on
# 127.0.0.1, pushes dist/oci with skopeo, pulls it back by digest, and checks that the layer's
# plugin.wasm is byte for byte the module in dist/ and that the digest is the one built.
set -euo pipefail
cd "$(dirname "$0")/.."

layout=dist/oci
tag=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
built=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["manifests"][0]["digest"])' "$layout/index.json")
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$work/registry.yml" <<YAML
version: 0.1
log: {level: error}
storage: {filesystem: {rootdirectory: $work/storage}}
http: {addr: 127.0.0.1:$port}
YAML
docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
registry=$!
trap 'kill $registry 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 50); do
    curl -sf "http://127.0.0.1:$port/v2/" >/dev/null && break
    sleep 0.1
done

repo="127.0.0.1:$port/auth0-wasm-filter"
skopeo copy --quiet --dest-tls-verify=false "oci:$layout:$tag" "docker://$repo:$tag"
pushed=$(skopeo inspect --tls-verify=false --format '{{.Digest}}' "docker://$repo:$tag")
if [[ "$pushed" != "$built" ]]; then
    echo "oci: the registry holds $pushed, the layout $built" >&2
    exit 1
fi
skopeo copy --quiet --src-tls-verify=false "docker://$repo@$pushed" "oci:$work/pulled:pulled"
umoci unpack --rootless --image "$work/pulled:pulled" "$work/bundle" >/dev/null
cmp "$work/bundle/rootfs/plugin.wasm" dist/auth0_wasm_filter.wasm
echo "oci: $repo@$pushed pulled back by digest; plugin.wasm is the module"
