#!/usr/bin/env python3
"""`make bench`: the release server driven from outside, beside a baseline.

The marketplace (`marketplace serve`, release build) and the bare axum
baseline (`examples/bench_baseline.rs`, the same worker count) each run as
their own process; `oha` (installed into target/tools/oha by `make bench`)
loads them from a third. Each oha run is kept as JSON under
target/bench/outside/, and the summary table, every SPEC §18 figure beside
its target, goes to stdout and target/bench/summary.json. Figures of the
in-process benches (WebSocket fan-out, PostgreSQL beside pgbench) are read
from their reports when present.

Settings (environment): SEED_SCALE (1000 products per unit, default 1000),
BENCH_SECONDS (per run, default 10), BENCH_CONNECTIONS (default 32),
BENCH_ROUNDS (interleaved product.get rounds, default 2).

Every load run is checked: a run fails the bench when a reply is not 200,
and the write runs are checked against the state they must have moved
(the sender's balance, the product's stock). The write runs also report
the server's processor time and the machine's idle share, and run again
on a new database in /dev/shm (memory, where a sync costs nothing): side
by side, they tell what bounds the durable rates.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "target/bench/outside"
BIN = ROOT / "target/release/marketplace"
BASELINE = ROOT / "target/release/examples/bench_baseline"
OHA = ROOT / "target/tools/oha/bin/oha"

SCALE = int(os.environ.get("SEED_SCALE", "1000"))
SECONDS = int(os.environ.get("BENCH_SECONDS", "10"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "32"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "2"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rpc(url, method, params, token=None):
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    with urllib.request.urlopen(urllib.request.Request(url, body, headers), timeout=60) as r:
        reply = json.load(r)
    if "error" in reply:
        raise SystemExit(f"{method} failed: {reply['error']}")
    return reply["result"]


def http_status(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status
    except OSError:
        return None


def rss_kib(pid, field):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise SystemExit(f"no {field} for process {pid}")


def oha(name, url, method, params, token=None, calls=None):
    """One oha run of `method`, for `SECONDS` or `calls` calls; its JSON
    report, checked for non-200 replies."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
    amount = ["-n", str(calls)] if calls else ["-z", f"{SECONDS}s"]
    cmd = [str(OHA), "--no-tui", "--output-format", "json", *amount,
           "-c", str(CONNECTIONS), "-m", "POST", "-T", "application/json", "-d", body]
    if token:
        cmd += ["-H", f"Authorization: Bearer {token}"]
    out = subprocess.run(cmd + [url], check=True, capture_output=True, text=True).stdout
    (OUT / f"{name}.json").write_text(out)
    report = json.loads(out)
    codes = report.get("statusCodeDistribution", {})
    bad = {c: n for c, n in codes.items() if c != "200"}
    errors = report.get("errorDistribution", {})
    # calls cut at the end of the window are not failures (the server may
    # still have carried them out)
    cut = sum(n for e, n in errors.items() if "aborted due to deadline" in e)
    errors = {e: n for e, n in errors.items() if "aborted due to deadline" not in e}
    if bad or errors:
        raise SystemExit(f"{name}: replies other than 200: {bad} {errors}")
    ok = codes.get("200", 0)
    s = report["summary"]
    lat = report["latencyPercentiles"]
    row = {"requests": ok, "cut": cut, "req_per_s": ok / s["total"], "p50_ms": lat["p50"] * 1000,
           "p99_ms": lat["p99"] * 1000}
    print(f"  {name:<28} {row['req_per_s']:>10.0f} req/s  p50 {row['p50_ms']:.2f} ms  p99 {row['p99_ms']:.2f} ms",
          flush=True)
    return row


# The two stages that run one at a time, and the storage engine's part of
# the second.
STAGES = ("calls", "commits", "engine")


def store_metrics(base):
    """The store's write figures from /metrics (writes, batches, rows, and
    the time its serial stages were busy), and when they were read."""
    with urllib.request.urlopen(f"{base}/metrics", timeout=10) as r:
        text = r.read().decode()
    out = {"at": time.monotonic()}
    names = ["store_writes_total", "store_batches_total", "store_rows_written_total"]
    names += [f"store_write_{stage}_{part}_seconds_total" for stage in STAGES
              for part in ("busy", "cpu")]
    for line in text.splitlines():
        for name in names:
            if line.startswith(name + " "):
                out[name] = float(line.split()[1])
    return out


def batching(before, after):
    """Writes per batch and rows per write between two readings, and the
    share of the time between them each serial stage was busy and on a
    processor (percent)."""
    def delta(name):
        return after.get(name, 0) - before.get(name, 0)
    writes = int(delta("store_writes_total"))
    batches = int(delta("store_batches_total"))
    rows = int(delta("store_rows_written_total"))
    wall = after["at"] - before["at"]
    return {"writes": writes, "batches": batches,
            "writes_per_batch": writes / batches if batches else None,
            "rows_per_write": rows / writes if writes else None,
            "stages": {stage: {part: 100 * delta(f"store_write_{stage}_{part}_seconds_total") / wall
                               for part in ("busy", "cpu")} for stage in STAGES}}


def listening(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def check_writes(what, run, done):
    """Every acknowledged write is in the state, and nothing else but the
    calls cut at the end of the window."""
    if not run["requests"] <= done <= run["requests"] + run["cut"]:
        raise SystemExit(f"{run['requests']} {what} acknowledged ({run['cut']} cut), {done} made")


def start(cmd, env, ready, log=subprocess.DEVNULL):
    """Start a process, its output to `log`; it and the seconds until `ready()` held."""
    started = time.monotonic()
    proc = subprocess.Popen(cmd, env={**os.environ, **env}, stdout=log, stderr=log)
    while not ready():
        if proc.poll() is not None:
            raise SystemExit(f"{cmd[0]} exited with {proc.returncode}")
        if time.monotonic() - started > 120:
            proc.kill()
            raise SystemExit(f"{cmd[0]} not ready after 120 s")
        time.sleep(0.01)
    return proc, time.monotonic() - started


def serve(db, env, log=subprocess.DEVNULL):
    """`marketplace serve` on `db` and a free port, once `/readyz` answers 200:
    the process, its base URL and the seconds it took."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc, took = start([str(BIN), "serve", "--listen", f"127.0.0.1:{port}", "--db", db], env,
                       lambda: http_status(f"{base}/readyz") == 200, log=log)
    return proc, base, took


def cpu_ticks(pid):
    """Clock ticks: the process's processor time, and the machine's total,
    idle and waiting-for-the-disk time over all its cores."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return int(fields[11]) + int(fields[12]), sum(cpu), cpu[3], cpu[4]


def measured(pid, load):
    """`load()`'s oha row, with the server's processor time and the
    machine's idle share over the run."""
    before = cpu_ticks(pid)
    row = load()
    proc, total, idle, iowait = (a - b for a, b in zip(cpu_ticks(pid), before))
    row["server_cpu_pct"] = 100 * proc * os.cpu_count() / total
    row["machine_idle_pct"] = 100 * idle / total
    row["machine_iowait_pct"] = 100 * iowait / total
    row["cpu_us_per_call"] = proc / os.sysconf("SC_CLK_TCK") * 1e6 / max(row["requests"], 1)
    return row


PASSWORD = "bench-password-1"
TRANSFER = {"to_email": "recipient@bench.example", "amount": "0.000001"}


def register(url, who):
    return rpc(url, "auth.register", {"email": f"{who}@bench.example", "password": PASSWORD,
                                      "display_name": who})["token"]


def sender(url):
    """A sender with 1,000,000,000 TFC and the recipient of `TRANSFER`:
    the sender's token."""
    token = register(url, "sender")
    register(url, "recipient")
    rpc(url, "wallet.topup", {"amount": "1000000000"}, token)
    return token


def buyer(url, stock):
    """A seller's product with `stock` units and a funded buyer: the
    buyer's token and the product's id."""
    seller = register(url, "seller")
    rpc(url, "provider.register", {"kind": "app", "name": "bench", "description": "bench"}, seller)
    item = rpc(url, "product.create", {"category": "app", "name": "bench app", "description": "",
                                       "price": "0.000001", "pricing_unit": "one_time",
                                       "stock": stock}, seller)["id"]
    token = register(url, "buyer")
    rpc(url, "wallet.topup", {"amount": "1000000"}, token)
    return token, item


def write_loads(url, base, pid, prefix=""):
    """Durable transfers, then orders, on a server: their oha rows, each
    checked against the state it must have moved (the sender's balance,
    the product's stock)."""
    token = sender(url)
    before = Decimal(rpc(url, "wallet.get", {}, token)["balance"])
    stored = store_metrics(base)
    transfer = measured(pid, lambda: oha(f"{prefix}wallet_transfer", url, "wallet.transfer",
                                         TRANSFER, token))
    transfer["store"] = batching(stored, store_metrics(base))
    moved = (before - Decimal(rpc(url, "wallet.get", {}, token)["balance"])) / Decimal("0.000001")
    check_writes("transfers", transfer, moved)

    stock = 100_000_000
    token, item = buyer(url, stock)
    stored = store_metrics(base)
    buy = measured(pid, lambda: oha(f"{prefix}order_buy_now", url, "order.buy_now",
                                    {"product_id": item, "quantity": 1}, token))
    buy["store"] = batching(stored, store_metrics(base))
    left = rpc(url, "product.get", {"id": item})["stock"]
    check_writes("orders", buy, stock - left)
    return transfer, buy


FIRST_CREATES = 15_000
FIRST_TRANSFERS = 13_000


def first_load(url, pid):
    """The first load of a new server: `FIRST_CREATES` products created by
    one seller, then `FIRST_TRANSFERS` durable transfers, each checked; its
    RSS at the end and its peak, in KiB."""
    seller = register(url, "first-seller")
    provider = rpc(url, "provider.register",
                   {"kind": "app", "name": "first", "description": "first load"}, seller)["id"]
    created = oha("first_load_product_create", url, "product.create",
                  {"category": "app", "name": "first load app",
                   "description": "an app of the first load", "price": "1.5",
                   "pricing_unit": "one_time", "tags": ["fast", "wiki"]}, seller,
                  calls=FIRST_CREATES)
    listed, cursor = 0, None
    while True:
        params = {"provider_id": provider, "limit": 100}
        page = rpc(url, "product.list", {**params, "cursor": cursor} if cursor else params)
        listed += len(page["items"])
        cursor = page.get("next_cursor")
        if not cursor:
            break
    check_writes("first-load products", created, listed)
    token = sender(url)
    before = Decimal(rpc(url, "wallet.get", {}, token)["balance"])
    run = oha("first_load_wallet_transfer", url, "wallet.transfer", TRANSFER, token,
              calls=FIRST_TRANSFERS)
    moved = (before - Decimal(rpc(url, "wallet.get", {}, token)["balance"])) / Decimal("0.000001")
    check_writes("first-load transfers", run, moved)
    return rss_kib(pid, "VmRSS"), rss_kib(pid, "VmHWM")


def in_memory_writes(env):
    """The same write loads on a new database in /dev/shm (memory: a sync
    there costs nothing), to tell the disk's share of the durable rates."""
    shm = Path("/dev/shm")
    if not shm.is_dir():
        return None
    folder = shm / f"marketplace-bench-{os.getpid()}"
    shutil.rmtree(folder, ignore_errors=True)
    server, base, _ = serve(f"redb://{folder / 'market.redb'}", env)
    try:
        transfer, buy = write_loads(f"{base}/rpc", base, server.pid, prefix="in_memory_")
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(folder, ignore_errors=True)
    return {"wallet_transfer": transfer, "order_buy_now": buy}


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    for tool in (BIN, BASELINE, OHA):
        if not tool.exists():
            raise SystemExit(f"missing {tool}: run `make bench`")
    db_path = OUT / "market.redb"
    for p in OUT.glob("market.redb*"):
        shutil.rmtree(p) if p.is_dir() else p.unlink()
    db = f"redb://{db_path}"

    env = {"MARKETPLACE_SECRET_KEY": "5a" * 32, "MARKETPLACE_TEST_PAYMENTS": "1", "MARKETPLACE_RATE_PER_MIN": "0",
           "MARKETPLACE_AUTH_RATE_PER_MIN": "0", "RUST_LOG": "warn"}

    # idle: a server that has just started on an empty database; then its
    # first load
    empty = OUT / "empty"
    shutil.rmtree(empty, ignore_errors=True)
    fresh, fresh_base, _ = serve(f"redb://{empty / 'market.redb'}", env)
    try:
        time.sleep(1)
        fresh_rss = rss_kib(fresh.pid, "VmRSS")
        print(f"== idle RSS on an empty database: {fresh_rss / 1024:.1f} MiB", flush=True)
        first_rss, first_peak = first_load(f"{fresh_base}/rpc", fresh.pid)
    finally:
        fresh.terminate()
        fresh.wait()
    print(f"== first load ({FIRST_CREATES} creates, {FIRST_TRANSFERS} transfers): RSS "
          f"{first_rss / 1024:.1f} MiB at its end, peak {first_peak / 1024:.1f} MiB", flush=True)

    print(f"== seeding {1000 * SCALE} products (seed_marketplace.rhai, scale {SCALE})", flush=True)
    t = time.monotonic()
    subprocess.run([str(BIN), "run", "scripts/rhai/seed_marketplace.rhai", "--db", db,
                    "--set", f"scale={SCALE}"], check=True, cwd=ROOT, stdout=subprocess.DEVNULL,
                   env={**os.environ, "MARKETPLACE_SECRET_KEY": "5a" * 32})
    seed_s = time.monotonic() - t
    size = db_path.stat().st_size
    print(f"  {seed_s:.1f} s, database {size / 1e6:.0f} MB", flush=True)

    # the first start: the search index catches up with the seed (and then
    # prunes the change log it applied, which its log line tells)
    catch_up_log = OUT / "catch_up.log"
    with open(catch_up_log, "w") as log:
        server, base, startup_s = serve(db, {**env, "RUST_LOG": "warn,market_core=info"}, log)
    url = f"{base}/rpc"
    try:
        print(f"== marketplace ready in {startup_s * 1000:.0f} ms", flush=True)
        product = rpc(url, "product.list", {"limit": 1})["items"][0]
        json_bytes = len(json.dumps(product, separators=(",", ":")))
        word = product["name"].split()[0]
        # the first search waits for the index to catch up with the seed
        t = time.monotonic()
        rpc(url, "product.search", {"query": word, "limit": 1})
        first_search_s = time.monotonic() - t
        deadline = time.monotonic() + 600
        while "search index up to date" not in catch_up_log.read_text():
            if time.monotonic() > deadline:
                raise SystemExit("the search index did not report its catch-up within 600 s")
            time.sleep(0.1)
        catch_up_rss = rss_kib(server.pid, "VmHWM")
        time.sleep(1)
        idle_rss = rss_kib(server.pid, "VmRSS")
        print(f"  first product.search {first_search_s:.1f} s (search index catch-up); after the "
              f"catch-up and its pruning, peak RSS {catch_up_rss / 1024:.0f} MiB, idle RSS "
              f"{idle_rss / 1024:.1f} MiB", flush=True)
    finally:
        server.terminate()
        server.wait()

    # the free pages the seed's copy-on-write left in the file go back
    t = time.monotonic()
    subprocess.run([str(BIN), "compact", "--db", db], check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    compact_s = time.monotonic() - t
    compacted = db_path.stat().st_size
    print(f"== marketplace compact: {compacted / 1e6:.0f} MB in {compact_s:.1f} s", flush=True)

    server, base, _ = serve(db, env)
    url = f"{base}/rpc"
    baseline = None
    try:
        products_file = OUT / "products.json"
        products_file.write_text(json.dumps([product]))
        bport = free_port()
        baseline, _ = start([str(BASELINE), f"127.0.0.1:{bport}", str(products_file)], {},
                            lambda: listening(bport))
        burl = f"http://127.0.0.1:{bport}/rpc"

        print(f"== load: oha, {CONNECTIONS} connections, {SECONDS} s per run", flush=True)
        get = {"id": product["id"]}
        gets = {"baseline": [], "marketplace": []}
        for r in range(ROUNDS):
            gets["baseline"].append(oha(f"baseline_product_get_{r + 1}", burl, "product.get", get))
            gets["marketplace"].append(oha(f"product_get_{r + 1}", url, "product.get", get))
        best = {k: max(v, key=lambda x: x["req_per_s"]) for k, v in gets.items()}
        listing = measured(server.pid, lambda: oha("product_list_by_category", url, "product.list",
                                                    {"category": product["category"], "limit": 20}))
        search = oha("product_search", url, "product.search", {"query": word, "limit": 20})

        transfer, buy = write_loads(url, base, server.pid)
        loaded_rss = rss_kib(server.pid, "VmHWM")
    finally:
        for p in (server, baseline):
            if p is not None:
                p.terminate()
                p.wait()
    in_memory = in_memory_writes(env)

    summary = {
        "products": 1000 * SCALE,
        "connections": CONNECTIONS,
        "seconds_per_run": SECONDS,
        "product_get": {"marketplace": best["marketplace"], "baseline": best["baseline"],
                        "ratio": best["marketplace"]["req_per_s"] / best["baseline"]["req_per_s"],
                        "rounds": gets},
        "product_list_by_category": listing,
        "product_search": search,
        "wallet_transfer": transfer,
        "order_buy_now": buy,
        "in_memory": in_memory,
        "seed_s": seed_s,
        "database_bytes": size,
        "compacted_bytes": compacted,
        "compact_s": compact_s,
        "product_json_bytes": json_bytes,
        "startup_ms": startup_s * 1000,
        "first_search_s": first_search_s,
        "rss_after_catch_up_mib": catch_up_rss / 1024,
        "rss_idle_empty_mib": fresh_rss / 1024,
        "rss_first_load_mib": first_rss / 1024,
        "rss_first_load_peak_mib": first_peak / 1024,
        "rss_idle_mib": idle_rss / 1024,
        "rss_peak_mib": loaded_rss / 1024,
    }
    for name, path in (("events", "events.json"), ("postgres", "pg_summary.json")):
        p = ROOT / "target/bench" / path
        summary[name] = json.loads(p.read_text()) if p.exists() else None
    (ROOT / "target/bench/summary.json").write_text(json.dumps(summary, indent=2))
    table(summary)


def batch_figures(run):
    b = run.get("store") or {}
    if not b.get("writes_per_batch"):
        return "n/a"
    return f"{b['writes_per_batch']:.1f}, {b['rows_per_write']:.1f}"


def stage_figures(run):
    stages = (run.get("store") or {}).get("stages")
    if not stages:
        return "n/a"
    return ", ".join(f"{stages[stage]['busy']:.0f} % ({stages[stage]['cpu']:.0f} %)"
                     for stage in STAGES)


def cpu_figures(run):
    if "server_cpu_pct" not in run:
        return "n/a"
    return (f"{run['server_cpu_pct']:.0f} % of {100 * os.cpu_count()} %, {run['machine_idle_pct']:.0f} % "
            f"({run['machine_iowait_pct']:.0f} %), {run['cpu_us_per_call']:.0f} us")


def in_memory_figure(s, name):
    m = s.get("in_memory")
    if not m:
        return "no /dev/shm"
    run = m[name]
    return f"{run['req_per_s']:.0f} /s, p99 {run['p99_ms']:.1f} ms"


def table(s):
    def met(ok):
        return "met" if ok else "NOT met"

    def at_million(ok):
        return met(ok) if s["products"] >= 1_000_000 else "(needs 1,000,000 products)"

    g = s["product_get"]
    rows = [
        ("product.get / baseline (req/s)",
         f"{g['ratio']:.2f} ({g['marketplace']['req_per_s']:.0f} / {g['baseline']['req_per_s']:.0f})",
         ">= 0.6", met(g["ratio"] >= 0.6)),
        ("product.get p99", f"{g['marketplace']['p99_ms']:.2f} ms", "< 3 ms",
         met(g["marketplace"]["p99_ms"] < 3)),
        (f"product.list by category p99 ({s['products']} products)",
         f"{s['product_list_by_category']['p99_ms']:.2f} ms", "< 5 ms at 1,000,000",
         at_million(s["product_list_by_category"]["p99_ms"] < 5)),
        ("  server CPU, machine idle (disk wait), CPU per call", cpu_figures(s["product_list_by_category"]),
         "reported", ""),
        ("product.search", f"{s['product_search']['req_per_s']:.0f} req/s, p99 "
         f"{s['product_search']['p99_ms']:.2f} ms", "reported", ""),
        ("wallet.transfer (durable)", f"{s['wallet_transfer']['req_per_s']:.0f} /s", ">= 10,000 /s",
         met(s["wallet_transfer"]["req_per_s"] >= 10_000)),
        ("  writes per batch, rows per transfer", batch_figures(s["wallet_transfer"]), "reported", ""),
        ("  server CPU, machine idle (disk wait), CPU per call", cpu_figures(s["wallet_transfer"]),
         "reported", ""),
        ("  one-at-a-time stages busy (on a processor): calls, commits, redb's and the log's part", stage_figures(s["wallet_transfer"]),
         "reported", ""),
        ("  the same on a database in memory (tmpfs)", in_memory_figure(s, "wallet_transfer"), "reported",
         ""),
        ("order.buy_now (durable)", f"{s['order_buy_now']['req_per_s']:.0f} /s", ">= 5,000 /s",
         met(s["order_buy_now"]["req_per_s"] >= 5_000)),
        ("  writes per batch, rows per order", batch_figures(s["order_buy_now"]), "reported", ""),
        ("  server CPU, machine idle (disk wait), CPU per call", cpu_figures(s["order_buy_now"]),
         "reported", ""),
        ("  one-at-a-time stages busy (on a processor): calls, commits, redb's and the log's part", stage_figures(s["order_buy_now"]),
         "reported", ""),
        ("  the same on a database in memory (tmpfs)", in_memory_figure(s, "order_buy_now"), "reported",
         ""),
        (f"seed {s['products']} products", f"{s['seed_s']:.1f} s", "< 10 s at 1,000,000",
         at_million(s["seed_s"] < 10)),
        ("database size per product after the seed", f"{s['database_bytes'] / s['products']:.0f} B",
         "reported", ""),
        ("  after the index catch-up and marketplace compact",
         f"{s['compacted_bytes'] / s['products']:.0f} B ({s['compact_s']:.1f} s)", "reported", ""),
        ("  a product's JSON", f"{s['product_json_bytes']} B", "reported", ""),
        (f"start-up to /readyz ({s['products']} products)", f"{s['startup_ms']:.0f} ms",
         "< 1 s at 1,000,000", at_million(s["startup_ms"] < 1000)),
        ("first product.search after start-up (index catch-up)", f"{s['first_search_s']:.1f} s",
         "reported", ""),
        ("RSS peak after the index catch-up", f"{s['rss_after_catch_up_mib']:.1f} MiB", "reported", ""),
        ("RSS idle, just started on an empty database", f"{s['rss_idle_empty_mib']:.1f} MiB", "<= 30 MB",
         met(s["rss_idle_empty_mib"] * 1.048576 <= 30)),
        (f"RSS at the end of the first load ({FIRST_CREATES:,} creates, {FIRST_TRANSFERS:,} transfers)",
         f"{s['rss_first_load_mib']:.1f} MiB", "< 64 MiB", met(s["rss_first_load_mib"] < 64)),
        ("  its peak (a password hash holds 19 MiB while it runs)",
         f"{s['rss_first_load_peak_mib']:.1f} MiB", "reported", ""),
        (f"RSS idle after the catch-up ({s['products']} products)", f"{s['rss_idle_mib']:.1f} MiB",
         "reported", ""),
        ("RSS peak under load", f"{s['rss_peak_mib']:.1f} MiB", "< 256 MiB at 1,000,000",
         at_million(s["rss_peak_mib"] < 256)),
    ]
    e = s.get("events")
    rows.append(("WebSocket fan-out, 1,000 subscribers",
                 f"{e['events_per_s']:.0f} events/s" if e else "run make bench-events", "reported", ""))
    p = s.get("postgres")
    rows.append(("PostgreSQL transfers / pgbench TPC-B",
                 f"{p['ratio']:.2f} ({p['wallet_transfer_per_s']:.0f} / {p['pgbench_tpcb_tps']:.0f})"
                 if p else "run make bench-pg", ">= 0.5", met(p["ratio"] >= 0.5) if p else ""))
    print()
    print(f"summary (outside load, {s['connections']} connections, {s['seconds_per_run']} s per run)")
    width = max(len(r[0]) for r in rows)
    for name, value, target, verdict in rows:
        print(f"{name:<{width}}  {value:>34}  {target:>22}  {verdict}")
    print("\nwrote target/bench/summary.json and target/bench/outside/*.json")


if __name__ == "__main__":
    sys.exit(main())
