#!/usr/bin/env bash
# `make bench-pg`: durable wallet.transfer per second on PostgreSQL beside
# pgbench's TPC-B at 8 clients on the same server in the same run, and
# product.get / product.list on PostgreSQL beside the redb figures.
#
# Starts its own cluster (initdb + pg_ctl, durable settings: fsync on, as
# installed) on a free loopback port in target/bench/pg, and stops it at the end.
# As root the cluster runs as the `postgres` user, since PostgreSQL refuses root.
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO=${CARGO:-cargo}
PGBENCH_SECONDS=${PGBENCH_SECONDS:-15}
OUT=target/bench
DIR=$(mktemp -d /tmp/market-bench-pg.XXXXXX)

# Build first, so pgbench and the marketplace run back to back.
$CARGO bench -p market-server --bench rpc --no-run

BIN=$(command -v initdb >/dev/null 2>&1 && dirname "$(command -v initdb)" || ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
PGBENCH=$(command -v pgbench || echo "$BIN/pgbench")
as_owner() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
if [ "$(id -u)" = 0 ]; then chown postgres:postgres "$DIR"; fi

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
as_owner "$BIN/initdb" -D "$DIR/data" -U postgres --auth=trust -E UTF8 --locale=C >/dev/null
as_owner "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/log" -w \
    -o "-p $PORT -k $DIR -c listen_addresses=127.0.0.1 -c max_connections=200 -c shared_buffers=256MB" start >/dev/null
stop() { as_owner "$BIN/pg_ctl" -D "$DIR/data" -m fast stop >/dev/null 2>&1 || true; rm -rf "$DIR"; }
trap stop EXIT

URL="postgres://postgres@127.0.0.1:$PORT"
PSQL=(psql -q -h 127.0.0.1 -p "$PORT" -U postgres)
"${PSQL[@]}" -d postgres -c "CREATE DATABASE pgbench" -c "CREATE DATABASE market"
mkdir -p "$OUT"

echo "== pgbench TPC-B, 8 clients, ${PGBENCH_SECONDS} s"
"$PGBENCH" -h 127.0.0.1 -p "$PORT" -U postgres -i -s 8 -q pgbench >/dev/null 2>&1
"$PGBENCH" -h 127.0.0.1 -p "$PORT" -U postgres -c 8 -j 8 -T "$PGBENCH_SECONDS" pgbench | tee "$OUT/pgbench.txt"
TPCB=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$OUT/pgbench.txt" | tail -1)

echo "== marketplace on PostgreSQL"
BENCH_DB="$URL/market" $CARGO bench -p market-server --bench rpc | tee "$OUT/rpc_postgres.txt"
echo "== marketplace on redb"
$CARGO bench -p market-server --bench rpc | tee "$OUT/rpc_redb.txt"

python3 - "$TPCB" <<'PY'
import json, sys
tpcb = float(sys.argv[1])
pg = json.load(open("target/bench/rpc_postgres.json"))
rd = json.load(open("target/bench/product_get.json"))
t = pg["wallet_transfer"]["req_per_s"]
print()
print("summary (PostgreSQL beside redb, same machine, same run)")
print(f"{'':28} {'PostgreSQL':>12} {'redb':>12}")
print(f"{'product.get req/s':28} {pg['marketplace']['req_per_s']:>12.1f} {rd['marketplace']['req_per_s']:>12.1f}")
print(f"{'product.get p99 ms':28} {pg['marketplace']['p99_ms']:>12.2f} {rd['marketplace']['p99_ms']:>12.2f}")
print(f"{'product.list req/s':28} {pg['product_list']['req_per_s']:>12.1f} {rd['product_list']['req_per_s']:>12.1f}")
print(f"{'product.list p99 ms':28} {pg['product_list']['p99_ms']:>12.2f} {rd['product_list']['p99_ms']:>12.2f}")
print(f"{'wallet.transfer /s (durable)':28} {t:>12.1f} {rd['wallet_transfer']['req_per_s']:>12.1f}")
print(f"pgbench TPC-B (8 clients): {tpcb:.1f} tps; transfers / TPC-B = {t / tpcb:.2f} (target >= 0.5)")
json.dump({"pgbench_tpcb_tps": tpcb, "wallet_transfer_per_s": t, "ratio": t / tpcb, "ratio_met": t / tpcb >= 0.5},
          open("target/bench/pg_summary.json", "w"), indent=2)
PY
