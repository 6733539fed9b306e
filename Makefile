# The two commands that matter: `make run` and `make test`.

CARGO ?= cargo
LISTEN ?= 127.0.0.1:8080
DB ?= redb://./data/marketplace.redb
OPENRPC_TOOL := tools/openrpc-validate

.PHONY: run build test test-rust test-openrpc test-hero lint fmt bench bench-rpc bench-events bench-seed generate clean

BIN := target/release/marketplace
HERO_CRATE := herolib-osis-0.3.13
SEED_SCALE ?= 100

## Build, seed the demo data (only into an empty database) and serve on the
## embedded database at $(LISTEN), with demo top-ups on.
run: build
	$(BIN) run scripts/rhai/seed_demo.rhai --db $(DB)
	MARKETPLACE_TEST_PAYMENTS=1 $(BIN) serve --listen $(LISTEN) --db $(DB)

build:
	$(CARGO) build --release -p marketplace

## Every test: the Rust suites, the OpenRPC meta-schema check and the Hero
## ecosystem's published example schemas.
test: test-rust test-openrpc test-hero

test-rust:
	$(CARGO) test --workspace

## Validate the generated OpenRPC documents against the official meta-schema.
## (The binary comes from the test build, so no second build is needed.)
test-openrpc:
	cd $(OPENRPC_TOOL) && npm ci --no-audit --no-fund --silent
	mkdir -p target/openrpc
	$(CARGO) test --workspace --no-run -q
	target/debug/marketplace schema openrpc > target/openrpc/marketplace.json
	node $(OPENRPC_TOOL)/validate.mjs target/openrpc/marketplace.json crates/oschema-codegen/tests/golden/gadgets.openrpc.json

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

## The example schemas of herolib-osis (from crates.io) check with
## `marketplace schema check`, each file alone and as one folder.
test-hero:
	mkdir -p target/hero
	test -d target/hero/$(HERO_CRATE) || curl -fsSL https://static.crates.io/crates/herolib-osis/$(HERO_CRATE).crate | tar xz -C target/hero
	$(CARGO) test --workspace --no-run -q
	set -e; cd target/hero/$(HERO_CRATE)/examples/basic; \
	for f in schemas/*.oschema code/core/types.oschema; do $(CURDIR)/target/debug/marketplace schema check $$f; done; \
	$(CURDIR)/target/debug/marketplace schema check schemas

## Every benchmark (release builds); figures are reported, not asserted.
bench: bench-rpc bench-events bench-seed

## product.get beside a bare-axum baseline, and durable wallet.transfer.
bench-rpc:
	$(CARGO) bench -p market-server --bench rpc

## WebSocket event fan-out: events per second to 1,000 subscribers.
bench-events:
	$(CARGO) bench -p market-server --bench events

## seed_marketplace.rhai at scale $(SEED_SCALE) (1000 products per unit) into a new embedded database.
bench-seed: build
	rm -rf target/bench/seed && mkdir -p target/bench/seed
	$(BIN) run scripts/rhai/seed_marketplace.rhai --db redb://target/bench/seed/seed.redb --set scale=$(SEED_SCALE)

## Write the generated code, OpenRPC document and HTML reference to ./generated for reading.
generate:
	$(CARGO) run -q -p marketplace -- schema generate schemas/marketplace.oschema --out generated

clean:
	$(CARGO) clean
	rm -rf generated $(OPENRPC_TOOL)/node_modules
