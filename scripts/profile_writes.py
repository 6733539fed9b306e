#!/usr/bin/env python3
"""`make profile-writes`: where a durable write's processor time goes.

Starts the release server on a new embedded database, loads it with oha
(durable `wallet.transfer`, then `order.buy_now`, as `make bench` does)
while `perf record -a` samples every core with call stacks, and sorts the
server's samples into the stages of a write, each sample to the first
stage one of whose frames it holds: the call's own closure (which runs one at a time),
the leader applying a batch's rows and committing it, authentication, the
wait for the batch (condition variables, wake-ups), the rest of the call
(params, dispatch, the answer's JSON) and HTTP with the async runtime. It
prints each stage's share of the server's samples and its processor time
per call, and the shares of the load generator and of idle cores; then,
from the server's /metrics, how much of the time the two stages that run
one at a time (the calls' bodies, the leaders' commits, and the part of
the commits in redb and its redo log) were busy, and on a processor.

Needs `perf` (linux-perf) and the rights to sample every core. Settings
(environment): BENCH_SECONDS (per run, default 10), BENCH_CONNECTIONS
(default 32), PERF_FREQUENCY (samples per second per core, default 299).
"""

import collections
import os
import shutil
import subprocess
import sys

import bench

OUT = bench.ROOT / "target/bench/profile"
FREQUENCY = os.environ.get("PERF_FREQUENCY", "299")

# (stage, frames that mark it), the first match wins: a leader's samples
# fall under its commit though it waits for its batch too. Marks are frame
# names as perf prints them, inlined frames included.
STAGES = [
    ("the call's closure, in its overlay (one at a time)", ["market_store::Db::write::{{closure}}"]),
    ("leader: the batch's rows into redb and its redo log record (on the log's thread), redb's commit, freeing the batch",
     ["redb::transactions::WriteTransaction", "Writes::apply", "overlay::Writes>", "commit_open",
      "market_store::redo::"]),
    ("authentication (session and user read)", ["auth::authenticate"]),
    ("waiting for the batch: condition variables, wake-ups", ["wait_until", "Pending::wait"]),
    ("the rest of the call: params, dispatch, the answer's JSON", ["answer_body"]),
    ("HTTP, sockets and the async runtime", ["hyper::", "tokio::", "axum::", "tower"]),
]


def stacks(data):
    """The samples of a perf recording: (command, frames leaf first)."""
    out = subprocess.run(["perf", "script", "-i", str(data), "-F", "comm,ip,sym,dso"],
                         check=True, capture_output=True, text=True).stdout
    samples, current = [], None
    for line in out.splitlines():
        if not line.strip():
            if current:
                samples.append(current)
            current = None
        elif not line[0].isspace():
            current = (line.split()[0], [])
        elif current is not None:
            current[1].append(line.strip())
    if current:
        samples.append(current)
    return samples


def report(name, samples, calls):
    hz = int(FREQUENCY)
    by_command = collections.Counter(
        "server" if comm.startswith("marketplace") else "idle" if comm == "swapper" else comm
        for comm, _ in samples)
    print(f"\n{name}: {calls} calls acknowledged; samples of every core: "
          + ", ".join(f"{c} {100 * n / len(samples):.0f} %" for c, n in by_command.most_common(4)))
    server = [frames for comm, frames in samples if comm.startswith("marketplace")]
    stages, kernel = collections.Counter(), collections.Counter()
    for frames in server:
        stage = next((s for s, marks in STAGES if any(m in f for f in frames for m in marks)),
                     "other")
        stages[stage] += 1
        if frames and "kernel" in frames[0]:
            kernel[stage] += 1
    for stage, n in stages.most_common():
        print(f"  {100 * n / len(server):5.1f} %  {n / hz * 1e6 / calls:6.0f} us per call"
              f"  (in the kernel {100 * kernel[stage] / n:3.0f} %)  {stage}")
    print(f"  server: {len(server) / hz * 1e6 / calls:.0f} us of processor time per call")


def occupancy(store):
    """How busy the two stages that run one at a time, and the part of the
    second in redb and its redo log, were."""
    calls, commits, engine = (store["stages"][stage] for stage in bench.STAGES)
    print(f"  one at a time: the calls' bodies held the batch {calls['busy']:.0f} % of the time"
          f" (on a processor {calls['cpu']:.0f} %, the rest waiting for a core or a lock);"
          f" leaders were committing {commits['busy']:.0f} % of the time (on a processor"
          f" {commits['cpu']:.0f} %, the rest waiting for the disk, a core or the calls on their way),"
          f" in redb and its redo log {engine['busy']:.0f} % (on a processor {engine['cpu']:.0f} %)")


def profiled(name, url, base, method, params, token, seconds):
    data = OUT / f"{name}.perf"
    stored = bench.store_metrics(base)
    perf = subprocess.Popen(["perf", "record", "-F", FREQUENCY, "-a", "--call-graph", "dwarf,12288",
                             "-o", str(data), "--", "sleep", str(seconds - 1)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    run = bench.oha(name, url, method, params, token)
    store = bench.batching(stored, bench.store_metrics(base))
    if perf.wait() != 0:
        raise SystemExit("perf record failed: is perf installed, and may it sample every core?")
    report(name, stacks(data), run["requests"] * (seconds - 1) // seconds)
    occupancy(store)


def main():
    if not shutil.which("perf"):
        raise SystemExit("perf is not installed (Debian: linux-perf)")
    for tool in (bench.BIN, bench.OHA):
        if not tool.exists():
            raise SystemExit(f"missing {tool}: run `make profile-writes`")
    bench.OUT.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir(parents=True)
    env = {"MARKETPLACE_SECRET_KEY": "5a" * 32, "MARKETPLACE_TEST_PAYMENTS": "1",
           "MARKETPLACE_RATE_PER_MIN": "0", "MARKETPLACE_AUTH_RATE_PER_MIN": "0", "RUST_LOG": "warn"}
    server, base, _ = bench.serve(f"redb://{OUT / 'market.redb'}", env)
    url = f"{base}/rpc"
    try:
        profiled("wallet_transfer", url, base, "wallet.transfer", bench.TRANSFER, bench.sender(url),
                 bench.SECONDS)
        token, item = bench.buyer(url, 100_000_000)
        profiled("order_buy_now", url, base, "order.buy_now", {"product_id": item, "quantity": 1}, token,
                 bench.SECONDS)
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    sys.exit(main())
