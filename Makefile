# The two commands that matter: `make run` and `make test`.

CARGO ?= cargo
LISTEN ?= 127.0.0.1:8080
DB ?= redb://./data/marketplace.redb
OPENRPC_TOOL := tools/openrpc-validate

.PHONY: run build test test-rust test-openrpc lint fmt bench generate clean

## Build and serve on the embedded database at $(LISTEN), with demo top-ups on.
run:
	MARKETPLACE_TEST_PAYMENTS=1 $(CARGO) run --release -p marketplace -- serve --listen $(LISTEN) --db $(DB)

build:
	$(CARGO) build --release -p marketplace

## Every test: the Rust suites and the OpenRPC meta-schema check.
test: test-rust test-openrpc

test-rust:
	$(CARGO) test --workspace

## Validate the generated OpenRPC documents against the official meta-schema.
test-openrpc:
	cd $(OPENRPC_TOOL) && npm ci --no-audit --no-fund --silent
	mkdir -p target/openrpc
	$(CARGO) run -q -p marketplace -- schema openrpc > target/openrpc/marketplace.json
	node $(OPENRPC_TOOL)/validate.mjs target/openrpc/marketplace.json crates/oschema-codegen/tests/golden/gadgets.openrpc.json

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

## product.get through the server beside a bare-axum baseline (release build).
bench:
	$(CARGO) bench -p market-server --bench rpc

## Write the generated code, OpenRPC document and HTML reference to ./generated for reading.
generate:
	$(CARGO) run -q -p marketplace -- schema generate schemas/marketplace.oschema --out generated

clean:
	$(CARGO) clean
	rm -rf generated $(OPENRPC_TOOL)/node_modules
