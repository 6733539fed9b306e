# The two commands that matter: `make run` and `make test`.

CARGO ?= cargo
LISTEN ?= 127.0.0.1:8080
DB ?= redb://./data/marketplace.redb
OPENRPC_TOOL := tools/openrpc-validate
VENV := target/venv
TS_TOOL := tools/ts-client-test
CONSOLE := web/console
## The browser of the console's end-to-end tests.
CHROMIUM ?= /usr/bin/chromium
## Kubernetes version the manifests in deploy/k8s are validated against (K3s stable).
K8S_VERSION ?= 1.33.0

.PHONY: run build test crash-test fuzz-check test-deps test-rust test-pg test-openrpc test-hero test-deploy test-ts-client test-console console console-sources lint fmt bench profile-writes bench-rpc bench-events bench-seed bench-pg generate clean

BIN := target/release/marketplace
HERO_CRATE := herolib-osis-0.3.13
SEED_SCALE ?= 100
CRASH_KILLS ?= 100
BENCH_SCALE ?= 1000
OHA := target/tools/oha/bin/oha

## Build, seed the demo data (only into an empty database) and serve on the
## embedded database at $(LISTEN), with demo top-ups on.
run: build
	$(BIN) run scripts/rhai/seed_demo.rhai --db $(DB)
	MARKETPLACE_TEST_PAYMENTS=1 $(BIN) serve --listen $(LISTEN) --db $(DB)

build:
	$(CARGO) build --release -p marketplace

## Every test: the Rust suites (the PostgreSQL ones on a throwaway cluster),
## the OpenRPC meta-schema check, the Hero ecosystem's published example
## schemas, the deploy/ manifests, the generated TypeScript client and the
## web console in Chromium.
## The tools the non-Rust checks need are fetched (npm, PyPI, crates.io)
## while the Rust code builds; their log is shown when they fail.
test:
	mkdir -p target
	$(MAKE) --no-print-directory test-deps > target/test-deps.log 2>&1 & deps=$$!; \
	$(CARGO) test --workspace --no-run; built=$$?; \
	if ! wait $$deps; then cat target/test-deps.log; exit 1; fi; \
	exit $$built
	$(MAKE) --no-print-directory test-rust test-pg test-openrpc test-hero test-deploy test-ts-client test-console

## Everything the non-Rust checks install, each redone only when its lock
## file changes.
NODE_DEPS := $(OPENRPC_TOOL)/node_modules/.package-lock.json $(TS_TOOL)/node_modules/.package-lock.json $(CONSOLE)/node_modules/.package-lock.json
HERO_DIR := target/hero/$(HERO_CRATE)
test-deps: $(NODE_DEPS) $(VENV)/installed $(HERO_DIR)

%/node_modules/.package-lock.json: %/package-lock.json
	cd $* && npm ci --no-audit --no-fund --silent

$(VENV)/installed: tools/deploy-validate/requirements.txt
	test -x $(VENV)/bin/pip || python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check -r tools/deploy-validate/requirements.txt
	touch $@

$(HERO_DIR):
	mkdir -p target/hero
	curl -fsSL https://static.crates.io/crates/herolib-osis/$(HERO_CRATE).crate | tar xz -C target/hero

test-rust:
	$(CARGO) test --workspace

## The end-to-end, concurrency, ledger, event, webhook and WebSocket suites
## again on PostgreSQL: a
## throwaway cluster (initdb + pg_ctl on a free loopback port), unless
## MARKETPLACE_TEST_PG names a server. (The store's own suite runs on both
## backends within test-rust.)
## (--workspace, so the build of test-rust serves here too; four test
## threads, since these tests mostly wait for the database.)
test-pg:
	MARKETPLACE_TEST_BACKEND=postgres $(CARGO) test --workspace --test it -- --test-threads=4 commerce:: wallet:: ledger_props:: idempotency:: events:: webhooks:: websocket::

## Validate the generated OpenRPC documents against the official meta-schema.
## (The binary comes from the test build, so no second build is needed.)
test-openrpc: $(OPENRPC_TOOL)/node_modules/.package-lock.json
	mkdir -p target/openrpc
	$(CARGO) test --workspace --no-run -q
	target/debug/marketplace schema openrpc > target/openrpc/marketplace.json
	node $(OPENRPC_TOOL)/validate.mjs target/openrpc/marketplace.json crates/oschema-codegen/tests/golden/gadgets.openrpc.json

## deploy/: hadolint on the Dockerfile, and the K3s manifests against the
## Kubernetes schemas (tools/deploy-validate/check_k8s.py says what it checks).
## The validators come from PyPI into $(VENV). The binary-level test of the
## manifests is in the Rust suites (crates/marketplace/tests/cli/deploy.rs).
test-deploy: $(VENV)/installed
	$(VENV)/bin/hadolint deploy/Dockerfile
	$(VENV)/bin/python tools/deploy-validate/check_k8s.py deploy/k8s $(K8S_VERSION)

## The generated TypeScript client package: type-checked alone with its own
## tsconfig, then with its tests, which run on Node against a live server.
test-ts-client: $(TS_TOOL)/node_modules/.package-lock.json
	$(CARGO) test --workspace --no-run -q
	rm -rf target/ts-client
	target/debug/marketplace schema typescript --out target/ts-client/package
	$(TS_TOOL)/node_modules/.bin/tsc --noEmit -p target/ts-client/package
	$(TS_TOOL)/node_modules/.bin/tsc -p $(TS_TOOL)
	echo '{"type":"module"}' > target/ts-client/build/package.json
	MARKETPLACE_BIN=$(CURDIR)/target/debug/marketplace node --experimental-websocket --test \
		target/ts-client/build/$(TS_TOOL)/client.test.js target/ts-client/build/$(TS_TOOL)/socket.test.js

## The web console (served at /app): its committed build must be what its
## sources compile to, then a buyer's and an admin's story run in Chromium
## against a live, seeded server; screenshots in target/console/screenshots.
test-console: $(CONSOLE)/node_modules/.package-lock.json
	$(CARGO) test --workspace --no-run -q
	rm -rf target/console/check target/console/e2e
	$(MAKE) --no-print-directory console-sources
	$(CONSOLE)/node_modules/.bin/tsc -p $(CONSOLE) --outDir target/console/check
	diff -r target/console/check $(CONSOLE)/dist || { echo "$(CONSOLE)/dist is not what its sources compile to: run make console"; exit 1; }
	$(CONSOLE)/node_modules/.bin/tsc -p $(CONSOLE)/e2e
	echo '{"type":"module"}' > target/console/package.json
	ln -sfn $(CURDIR)/$(CONSOLE)/node_modules target/console/node_modules
	MARKETPLACE_BIN=$(CURDIR)/target/debug/marketplace CHROMIUM=$(CHROMIUM) \
		node --test target/console/e2e/$(CONSOLE)/e2e/console.test.js

## Rebuild the console's committed scripts ($(CONSOLE)/dist) after changing
## its sources or the schema; the binary embeds them at its next build.
console: $(CONSOLE)/node_modules/.package-lock.json
	$(CARGO) build -q -p marketplace
	$(MAKE) --no-print-directory console-sources
	rm -rf $(CONSOLE)/dist
	$(CONSOLE)/node_modules/.bin/tsc -p $(CONSOLE)

## The generated client the console is built on, beside its sources.
console-sources:
	mkdir -p target/console
	target/debug/marketplace schema typescript --out target/console/client > /dev/null
	cp target/console/client/src/index.ts $(CONSOLE)/src/client.ts

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

## The example schemas of herolib-osis (from crates.io) check with
## `marketplace schema check`, each file alone and as one folder.
test-hero: $(HERO_DIR)
	$(CARGO) test --workspace --no-run -q
	set -e; cd target/hero/$(HERO_CRATE)/examples/basic; \
	for f in schemas/*.oschema code/core/types.oschema; do $(CURDIR)/target/debug/marketplace schema check $$f; done; \
	$(CURDIR)/target/debug/marketplace schema check schemas

## Every benchmark (release builds); figures are reported, not asserted.
## The release server and the bare baseline, each its own process, loaded by
## oha from a third (installed into target/tools/oha): the SPEC §18 summary
## table, beside the in-process benches' figures (fan-out, event-log cost;
## PostgreSQL from the last make bench-pg). Settings: BENCH_SCALE (default
## 1000: 1,000,000 products), BENCH_SECONDS, BENCH_CONNECTIONS, BENCH_ROUNDS.
bench: bench-events bench-rpc $(OHA)
	$(CARGO) build --release -p marketplace
	$(CARGO) build --release -p market-server --example bench_baseline
	SEED_SCALE=$(BENCH_SCALE) python3 scripts/bench.py

## Where a durable write's processor time goes: perf samples every core
## under the transfer and order loads (scripts/profile_writes.py).
profile-writes: $(OHA)
	$(CARGO) build --release -p marketplace
	python3 scripts/profile_writes.py

$(OHA):
	cargo install --locked oha --version 1.16.0 --root target/tools/oha --target-dir target/tools/build

## product.get beside a bare-axum baseline, and durable wallet.transfer with
## and without the event log (its cost).
bench-rpc:
	$(CARGO) bench -p market-server --bench rpc

## PostgreSQL: durable wallet.transfer beside pgbench TPC-B at 8 clients on
## the same (throwaway, durable) cluster, and product.get / product.list
## beside redb; summary in target/bench/pg_summary.json. BENCH_PG_LANES
## sets the write lanes (default the server's, 4).
bench-pg:
	CARGO=$(CARGO) scripts/bench-pg.sh

## The server killed with SIGKILL 100 times under concurrent transfers and
## orders on the embedded database; after each restart every acknowledged
## write must be there and the ledger must balance (make test runs 3 kills).
crash-test:
	MARKETPLACE_CRASH_KILLS=$(CRASH_KILLS) $(CARGO) test -p marketplace --test cli crash -- --nocapture

## The fuzz targets (fuzz/, see docs/fuzzing.md) still build: a check on
## stable with the workspace's lock file. Running them needs nightly.
fuzz-check:
	cp Cargo.lock fuzz/Cargo.lock
	cd fuzz && CARGO_TARGET_DIR=$(CURDIR)/target/fuzz $(CARGO) check --bins

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
	rm -rf generated $(OPENRPC_TOOL)/node_modules $(TS_TOOL)/node_modules
