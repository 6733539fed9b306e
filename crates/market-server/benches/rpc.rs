//! `product.get` over a real socket: the marketplace server against a bare
//! axum baseline that answers the same call from an in-memory map.
//!
//! Both servers hold the same 10,000 active products and run, one after the
//! other, on the runtime `marketplace serve` uses, on a background thread. A load
//! generator (its own 2-worker runtime) keeps `BENCH_CONNECTIONS` (default 32)
//! keep-alive HTTP/1.1 connections busy for a 1 s warm-up and then a measured
//! window of `BENCH_SECONDS` (default 5), recording every latency.
//!
//! The report goes to stdout and, as JSON, to `target/bench/product_get.json`.
//! Targets are reported, not asserted; the process fails only when a request
//! fails (transport error, non-200 status or a reply without `"result"`).
//!
//! `product.list` filtered by tag (20 per page) and durable `wallet.transfer`
//! run against the marketplace too. `BENCH_DB` names the database (default:
//! a new redb file; a `postgres://` URL of an empty database benchmarks the
//! PostgreSQL backend, reported in `target/bench/rpc_postgres.json`, with
//! `BENCH_PG_LANES` write lanes: default the server's).
//! On the embedded database the transfers run a second time on an equal
//! database whose writes drop their domain events: the event log's cost.
//!
//! Run with `cargo bench -p market-server --bench rpc`.

// Tests fail by panicking: unwrap, expect and panic are how they assert.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{StatusCode, header};
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use market_core::{Product, ProductStatus};
use market_rpc::Redact;
use market_server::ServerConfig;
use market_store::{Actor, Db, StoreError};
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

mod baseline;

const PRODUCTS: usize = 10_000;
const BATCH: usize = 1_000;
const WARMUP: Duration = Duration::from_secs(1);
const TARGET_RATIO: f64 = 0.6;
const TARGET_P99_MS: f64 = 3.0;
/// Latencies above this (in µs) are clamped into the top bucket.
const MAX_LATENCY_US: u64 = 60_000_000;

/// How hard and how long to push.
#[derive(Debug, Clone, Copy)]
struct Load {
    connections: usize,
    warmup: Duration,
    measure: Duration,
}

impl Load {
    fn from_env() -> Load {
        let connections = env_number("BENCH_CONNECTIONS", 32.0) as usize;
        let seconds = env_number("BENCH_SECONDS", 5.0);
        Load {
            connections: connections.max(1),
            warmup: WARMUP,
            measure: Duration::from_secs_f64(seconds.max(0.1)),
        }
    }
}

fn env_number(name: &str, default: f64) -> f64 {
    match std::env::var(name) {
        Ok(v) => v
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name} must be a number, got {v:?}")),
        Err(_) => default,
    }
}

fn main() -> ExitCode {
    let load = Load::from_env();
    let dir = tempfile::tempdir().expect("create a temporary folder for the database");
    let url = std::env::var("BENCH_DB")
        .unwrap_or_else(|_| format!("redb://{}", dir.path().join("bench.redb").display()));
    // Both databases seal secret fields with the same fixed key.
    let cipher = || market_store::SecretCipher::from_text(&"5a".repeat(32)).expect("a valid key");
    let settings = market_store::StoreSettings {
        pg: market_store::PgSettings {
            pool_size: 64,
            write_lanes: env_number(
                "BENCH_PG_LANES",
                market_store::PgSettings::default().write_lanes as f64,
            ) as usize,
            ..market_store::PgSettings::default()
        },
        ..market_store::StoreSettings::default()
    };
    let db = Arc::new(
        Db::open_with(&url, market_core::generated::ROOT_TABLES, &settings)
            .expect("open the benchmark database")
            .with_cipher(cipher()),
    );
    eprintln!("database {}", db.describe());

    let started = Instant::now();
    let products = seed(&db);
    eprintln!(
        "seeded {} products in {:.2} s",
        products.len(),
        started.elapsed().as_secs_f64()
    );
    let ids: Arc<Vec<String>> = Arc::new(products.iter().map(|(id, _)| id.clone()).collect());
    let catalog: HashMap<String, Value> = products.into_iter().collect();

    let client = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .thread_name("bench-client")
        .build()
        .expect("build the load generator runtime");

    let baseline = {
        let server = Server::start("bench-baseline", move |listener, stop| async move {
            axum::serve(listener, baseline::router(catalog))
                .with_graceful_shutdown(async {
                    let _ = stop.await;
                })
                .await
        });
        eprintln!("baseline on {}", server.addr);
        client.block_on(drive(server.addr, load, product_gets(ids.clone())))
    };

    let (marketplace, moved) = {
        let server = marketplace_server(db.clone());
        eprintln!("marketplace on {}", server.addr);
        let gets = client.block_on(drive(server.addr, load, product_gets(ids.clone())));
        let lists = client.block_on(drive(server.addr, load, product_lists()));
        let moves = client.block_on(drive(server.addr, load, transfers(senders(&server, load))));
        ((gets, lists), moves)
    };
    // The same transfers on an equal embedded database whose writes drop
    // their domain events: what the event log costs.
    let without_events = (!report_is_postgres(&db)).then(|| {
        let db = Arc::new(
            Db::open(&format!(
                "redb://{}",
                dir.path().join("no-events.redb").display()
            ))
            .expect("open the second benchmark database")
            .with_cipher(cipher())
            .without_domain_events(),
        );
        seed(&db);
        let server = marketplace_server(db);
        eprintln!("marketplace without the event log on {}", server.addr);
        client.block_on(drive(server.addr, load, transfers(senders(&server, load))))
    });
    drop(client);
    let (marketplace, lists) = marketplace;

    let report = Report {
        load,
        backend: db.describe(),
        baseline,
        marketplace,
        lists,
        transfers: moved,
        without_events,
    };
    report.print();
    match report.write_json() {
        Ok(path) => eprintln!("wrote {}", path.display()),
        Err(e) => eprintln!("cannot write the JSON report: {e}"),
    }
    let errors = report.baseline.errors
        + report.marketplace.errors
        + report.lists.errors
        + report.transfers.errors
        + report.without_events.as_ref().map_or(0, |o| o.errors);
    if errors > 0 {
        eprintln!("FAILED: {errors} request(s) failed");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

fn report_is_postgres(db: &Db) -> bool {
    db.describe().starts_with("postgres")
}

/// The marketplace on `db`, without rate or per-address limits: every
/// request of the load generator comes from one address.
fn marketplace_server(db: Arc<Db>) -> Server {
    let config = market_core::AppConfig {
        test_payments: true,
        ..market_core::AppConfig::default()
    };
    let api = market_testkit::marketplace(db, config).1;
    Server::start("bench-market", move |listener, stop| async move {
        let config = ServerConfig {
            rate_per_min: 0,
            auth_rate_per_min: 0,
            ..ServerConfig::default()
        };
        let router = market_server::app(api, &config);
        let connections = market_server::ConnectionLimits {
            max_connections_per_address: 0,
            ..market_server::ConnectionLimits::default()
        };
        market_server::serve_with(listener, router, connections, async {
            let _ = stop.await;
        })
        .await
    })
}

/// One funded sender per connection of `load`, on `server`.
fn senders(server: &Server, load: Load) -> Arc<Vec<(String, String)>> {
    Arc::new(wallets(
        &format!("http://{}/rpc", server.addr),
        load.connections,
    ))
}

// ---------------------------------------------------------------------------
// Data

/// Insert the products, `BATCH` per transaction; each one's id and its
/// serialized form as `product.get` returns it.
fn seed(db: &Db) -> Vec<(String, Value)> {
    let actor = Actor::system("bench");
    let mut out = Vec::with_capacity(PRODUCTS);
    for batch in 0..PRODUCTS.div_ceil(BATCH) {
        let first = batch * BATCH;
        let last = (first + BATCH).min(PRODUCTS);
        let inserted = db
            .write(&actor, |tx| {
                let mut inserted = Vec::with_capacity(last - first);
                for i in first..last {
                    let mut p = Product {
                        name: format!("Bench product {i}"),
                        description: format!("product number {i}, seeded for the benchmark"),
                        price: format!("{}.{:02}", 1 + i % 500, i % 100)
                            .parse()
                            .expect("a valid price"),
                        status: ProductStatus::Active,
                        tags: vec!["bench".into(), format!("group-{}", i % 10)],
                        ..Default::default()
                    };
                    tx.insert(&mut p)?;
                    inserted.push(p);
                }
                Ok::<_, StoreError>(inserted)
            })
            .expect("seed a batch of products");
        for p in inserted {
            let mut v = serde_json::to_value(&p).expect("serialize a product");
            Product::redact(&mut v);
            out.push((p.id.to_string(), v));
        }
    }
    out
}

/// `n` funded senders, each with a token and the email of its recipient.
fn wallets(url: &str, n: usize) -> Vec<(String, String)> {
    let client = market_testkit::Client::new(url);
    let register = |email: &str| {
        let params =
            json!({"email": email, "password": "bench-password-1", "display_name": "Bench"});
        let result = client.ok("auth.register", params);
        result["token"].as_str().expect("a token").to_string()
    };
    (0..n)
        .map(|i| {
            let token = register(&format!("sender{i}@bench.example"));
            let to = format!("recipient{i}@bench.example");
            register(&to);
            client
                .clone()
                .with_token(&token)
                .ok("wallet.topup", json!({"amount": "1000"}));
            (token, to)
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Servers

/// A server on `127.0.0.1:<free port>` in its own server runtime on its own
/// thread; stopped (gracefully) and joined when dropped.
struct Server {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    fn start<F, Fut>(name: &str, serve: F) -> Server
    where
        F: FnOnce(TcpListener, oneshot::Receiver<()>) -> Fut + Send + 'static,
        Fut: Future<Output = std::io::Result<()>>,
    {
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = oneshot::channel();
        let thread = std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || {
                // Both servers run on the runtime `marketplace serve` uses.
                let rt = market_server::runtime().expect("build a server runtime");
                rt.block_on(async move {
                    let listener = TcpListener::bind("127.0.0.1:0")
                        .await
                        .expect("bind a loopback port");
                    addr_tx
                        .send(listener.local_addr().expect("read the bound address"))
                        .expect("report the bound address");
                    serve(listener, stop_rx).await.expect("serve");
                });
            })
            .expect("spawn a server thread");
        let addr = addr_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("server did not start within 10 s");
        Server {
            addr,
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

// ---------------------------------------------------------------------------
// Load generator

/// What one server did in the measured window.
struct Outcome {
    /// Requests started in the window (successes and failures).
    requests: u64,
    errors: u64,
    /// From the end of the warm-up until the last request of the window finished.
    elapsed: Duration,
    /// Latency of the successful requests, in µs.
    latency: Histogram<u64>,
    /// The first few failures, for the report.
    samples: Vec<String>,
}

impl Outcome {
    fn new() -> Outcome {
        Outcome {
            requests: 0,
            errors: 0,
            elapsed: Duration::ZERO,
            latency: Histogram::new_with_bounds(1, MAX_LATENCY_US, 3)
                .expect("valid histogram bounds"),
            samples: Vec::new(),
        }
    }

    fn fail(&mut self, what: String) {
        self.errors += 1;
        if self.samples.len() < 5 {
            self.samples.push(what);
        }
    }

    fn merge(&mut self, other: Outcome) {
        self.requests += other.requests;
        self.errors += other.errors;
        self.latency
            .add(&other.latency)
            .expect("histograms with the same bounds");
        for s in other.samples {
            if self.samples.len() < 5 {
                self.samples.push(s);
            }
        }
    }

    fn throughput(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64().max(f64::EPSILON)
    }

    fn ms(&self, quantile: f64) -> f64 {
        self.latency.value_at_quantile(quantile) as f64 / 1000.0
    }

    fn max_ms(&self) -> f64 {
        self.latency.max() as f64 / 1000.0
    }
}

/// Run `load` against `addr`: every connection warms up, then measures.
/// Makes the body and bearer token of call `id` on connection `n`.
type Workload = Arc<dyn Fn(usize, u64, &mut SplitMix64) -> (String, Option<String>) + Send + Sync>;

/// `product.get` of random seeded products, without a token.
fn product_gets(ids: Arc<Vec<String>>) -> Workload {
    Arc::new(move |_, call_id, rng| {
        let product = &ids[(rng.next() % ids.len() as u64) as usize];
        let body = format!(
            r#"{{"jsonrpc":"2.0","id":{call_id},"method":"product.get","params":{{"id":"{product}"}}}}"#
        );
        (body, None)
    })
}

/// `product.list` of one of the ten seeded tags, 20 per page, without a token.
fn product_lists() -> Workload {
    Arc::new(move |_, call_id, rng| {
        let group = rng.next() % 10;
        let body = format!(
            r#"{{"jsonrpc":"2.0","id":{call_id},"method":"product.list","params":{{"tag":"group-{group}","limit":20}}}}"#
        );
        (body, None)
    })
}

/// `wallet.transfer` of one micro-TFC from sender `n` to recipient `n`.
fn transfers(senders: Arc<Vec<(String, String)>>) -> Workload {
    Arc::new(move |n, call_id, _| {
        let (token, to) = &senders[n % senders.len()];
        let body = format!(
            r#"{{"jsonrpc":"2.0","id":{call_id},"method":"wallet.transfer","params":{{"to_email":"{to}","amount":"0.000001"}}}}"#
        );
        (body, Some(token.clone()))
    })
}

async fn drive(addr: SocketAddr, load: Load, work: Workload) -> Outcome {
    let measure_from = Instant::now() + load.warmup;
    let until = measure_from + load.measure;
    let tasks: Vec<_> = (0..load.connections)
        .map(|n| tokio::spawn(connection(addr, n, measure_from, until, work.clone())))
        .collect();
    let mut total = Outcome::new();
    for task in tasks {
        match task.await {
            Ok(outcome) => total.merge(outcome),
            Err(e) => total.fail(format!("a connection task died: {e}")),
        }
    }
    total.elapsed = measure_from.elapsed();
    total
}

/// One keep-alive connection sending calls back to back until `until`;
/// only the calls started at or after `measure_from` count.
async fn connection(
    addr: SocketAddr,
    n: usize,
    measure_from: Instant,
    until: Instant,
    work: Workload,
) -> Outcome {
    let mut outcome = Outcome::new();
    let mut rng = SplitMix64(0x5eed_0000 + n as u64);
    let mut call_id: u64 = 0;
    let mut sender = None;
    while Instant::now() < until {
        let send = match &mut sender {
            Some(s) => s,
            None => match connect(addr).await {
                Ok(s) => sender.insert(s),
                Err(e) => {
                    if Instant::now() >= measure_from {
                        outcome.requests += 1;
                        outcome.fail(e);
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        call_id += 1;
        let (body, token) = work(n, call_id, &mut rng);
        let mut request = hyper::Request::post("/rpc")
            .header(header::HOST, addr.to_string())
            .header(header::CONTENT_TYPE, "application/json");
        if let Some(token) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let request = request
            .body(Full::new(Bytes::from(body)))
            .expect("a well-formed request");
        let started = Instant::now();
        let result = call(send, request).await;
        let latency = started.elapsed();
        if started < measure_from {
            if result.is_err() {
                sender = None;
            }
            continue;
        }
        outcome.requests += 1;
        match result {
            Ok(()) => {
                let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
                outcome.latency.saturating_record(us.max(1));
            }
            Err(e) => {
                outcome.fail(e);
                sender = None;
            }
        }
    }
    outcome
}

async fn connect(addr: SocketAddr) -> Result<http1::SendRequest<Full<Bytes>>, String> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect to {addr}: {e}"))?;
    stream
        .set_nodelay(true)
        .map_err(|e| format!("set TCP_NODELAY: {e}"))?;
    let (sender, conn) = http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("HTTP/1.1 handshake with {addr}: {e}"))?;
    tokio::spawn(async move {
        // Ends when the sender is dropped or the server closes the connection;
        // a broken connection shows up as a failed request.
        let _ = conn.await;
    });
    Ok(sender)
}

/// Send one request and check the answer: HTTP 200 with a `"result"`.
async fn call(
    sender: &mut http1::SendRequest<Full<Bytes>>,
    request: hyper::Request<Full<Bytes>>,
) -> Result<(), String> {
    sender
        .ready()
        .await
        .map_err(|e| format!("connection not ready: {e}"))?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| format!("send: {e}"))?;
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("read body: {e}"))?
        .to_bytes();
    if status != StatusCode::OK {
        return Err(format!("HTTP {status}: {}", snippet(&body)));
    }
    if !body.windows(8).any(|w| w == b"\"result\"") {
        return Err(format!("no result: {}", snippet(&body)));
    }
    Ok(())
}

/// The start of a body, for failure messages.
fn snippet(body: &[u8]) -> String {
    const MAX: usize = 160;
    let text = String::from_utf8_lossy(&body[..body.len().min(MAX)]).into_owned();
    if body.len() > MAX {
        format!("{text}...")
    } else {
        text
    }
}

/// A small, seeded, dependency-free generator for picking product ids.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

// ---------------------------------------------------------------------------
// Report

struct Report {
    load: Load,
    /// The database, as `Db::describe` says.
    backend: String,
    baseline: Outcome,
    marketplace: Outcome,
    /// `product.list` by tag.
    lists: Outcome,
    /// Durable `wallet.transfer` calls (batched).
    transfers: Outcome,
    /// The same on a database that drops domain events (embedded database only).
    without_events: Option<Outcome>,
}

/// Durable transfers per second the contract aims at.
const TARGET_TRANSFERS: f64 = 10_000.0;

impl Report {
    fn ratio(&self) -> f64 {
        self.marketplace.throughput() / self.baseline.throughput().max(f64::EPSILON)
    }

    /// How much lower transfer throughput is with the event log, in percent.
    fn event_log_cost_percent(&self) -> Option<f64> {
        let without = self.without_events.as_ref()?.throughput();
        Some(100.0 * (1.0 - self.transfers.throughput() / without.max(f64::EPSILON)))
    }

    fn print(&self) {
        println!("database: {}", self.backend);
        println!(
            "product.get, {} connections, {} s each, {PRODUCTS} products",
            self.load.connections,
            self.load.measure.as_secs_f64()
        );
        println!(
            "{:<12} {:>12} {:>8} {:>8} {:>8} {:>8}",
            "", "req/s", "p50 ms", "p99 ms", "max ms", "errors"
        );
        for (name, o) in [
            ("bare axum", &self.baseline),
            ("marketplace", &self.marketplace),
        ] {
            println!(
                "{name:<12} {:>12.1} {:>8.2} {:>8.2} {:>8.2} {:>8}",
                o.throughput(),
                o.ms(0.5),
                o.ms(0.99),
                o.max_ms(),
                o.errors
            );
        }
        println!(
            "ratio (marketplace / baseline throughput): {:.2}   target >= {TARGET_RATIO:.2}; p99 target < {TARGET_P99_MS} ms",
            self.ratio()
        );
        let l = &self.lists;
        println!();
        println!("product.list by tag (20 per page, ~1,000 matches per tag)");
        println!(
            "{:<12} {:>12.1} {:>8.2} {:>8.2} {:>8.2} {:>8}",
            "marketplace",
            l.throughput(),
            l.ms(0.5),
            l.ms(0.99),
            l.max_ms(),
            l.errors
        );
        let t = &self.transfers;
        println!();
        println!(
            "wallet.transfer (durable, batched), {} connections, {} s",
            self.load.connections,
            self.load.measure.as_secs_f64()
        );
        println!(
            "{:<12} {:>12.1} {:>8.2} {:>8.2} {:>8.2} {:>8}   target >= {TARGET_TRANSFERS} transfers/s",
            "marketplace",
            t.throughput(),
            t.ms(0.5),
            t.ms(0.99),
            t.max_ms(),
            t.errors
        );
        if let Some(w) = &self.without_events {
            println!(
                "{:<12} {:>12.1} {:>8.2} {:>8.2} {:>8.2} {:>8}   without the event log",
                "",
                w.throughput(),
                w.ms(0.5),
                w.ms(0.99),
                w.max_ms(),
                w.errors
            );
            println!(
                "the event log's cost: {:.1} % of transfers/s (with / without: {:.2})",
                self.event_log_cost_percent().unwrap_or_default(),
                t.throughput() / w.throughput().max(f64::EPSILON)
            );
        }
        for (name, o) in [
            ("bare axum", &self.baseline),
            ("marketplace", &self.marketplace),
            ("product.list", &self.lists),
            ("transfers", &self.transfers),
        ]
        .into_iter()
        .chain(
            self.without_events
                .as_ref()
                .map(|o| ("transfers without events", o)),
        ) {
            for s in &o.samples {
                println!("{name} failure: {s}");
            }
        }
    }

    fn json(&self) -> Value {
        let side = |o: &Outcome| {
            json!({
                "requests": o.requests,
                "seconds": o.elapsed.as_secs_f64(),
                "req_per_s": o.throughput(),
                "p50_ms": o.ms(0.5),
                "p99_ms": o.ms(0.99),
                "max_ms": o.max_ms(),
                "errors": o.errors,
            })
        };
        json!({
            "method": "product.get",
            "database": self.backend,
            "connections": self.load.connections,
            "warmup_seconds": self.load.warmup.as_secs_f64(),
            "seconds": self.load.measure.as_secs_f64(),
            "products": PRODUCTS,
            "baseline": side(&self.baseline),
            "marketplace": side(&self.marketplace),
            "ratio": self.ratio(),
            "targets": {"ratio_min": TARGET_RATIO, "p99_ms_max": TARGET_P99_MS},
            "ratio_met": self.ratio() >= TARGET_RATIO,
            "p99_met": self.marketplace.ms(0.99) < TARGET_P99_MS,
            "product_list": side(&self.lists),
            "wallet_transfer": side(&self.transfers),
            "wallet_transfer_target_per_s": TARGET_TRANSFERS,
            "wallet_transfer_without_event_log": self.without_events.as_ref().map(side),
            "event_log_cost_percent": self.event_log_cost_percent(),
        })
    }

    fn write_json(&self) -> std::io::Result<PathBuf> {
        let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../target/bench"));
        std::fs::create_dir_all(&dir)?;
        let name = if self.backend.starts_with("postgres") {
            "rpc_postgres.json"
        } else {
            "product_get.json"
        };
        let path = dir.join(name);
        let text = serde_json::to_string_pretty(&self.json()).map_err(std::io::Error::other)?;
        std::fs::write(&path, text + "\n")?;
        Ok(dir.canonicalize()?.join(name))
    }
}
