//! WebSocket event fan-out: events per second delivered to
//! `BENCH_SUBSCRIBERS` (default 1,000) subscribers over real sockets.
//!
//! The marketplace server runs in-process on a temporary redb file. Every
//! subscriber is an admin connection subscribed to the live log; the bench
//! then appends `BENCH_EVENTS` (default 2,000) events, 100 per durable
//! transaction, and measures the time from the first append until every
//! subscriber has received the last event (checking that each one got every
//! event once and in order).
//!
//! The report goes to stdout and, as JSON, to `target/bench/events.json`.
//! Run with `cargo bench -p market-server --bench events`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use market_core::{AppConfig, Role};
use market_server::{ConnectionLimits, ServerConfig, WebSocketLimits};
use market_store::{Actor, Db, NewEvent, RedbBackend, SecretCipher, SystemClock};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const PER_TX: usize = 100;

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench failed: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let subscribers = env_number("BENCH_SUBSCRIBERS", 1000).max(1);
    let events = env_number("BENCH_EVENTS", 2_000).max(PER_TX);
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let backend = RedbBackend::open(&dir.path().join("events.redb")).map_err(|e| e.to_string())?;
    let cipher = SecretCipher::from_text(&"42".repeat(32)).map_err(|e| e.to_string())?;
    let db = Arc::new(Db::new(Arc::new(backend), Arc::new(SystemClock)).with_cipher(cipher));
    let (app, api) = market_testkit::marketplace(db.clone(), AppConfig::default());
    app.add_user(
        "bench@example.com",
        "bench-password",
        &[Role::Admin],
        "bench",
    )
    .map_err(|e| e.message.clone())?;
    let config = ServerConfig {
        rate_per_min: 0,
        auth_rate_per_min: 0,
        connections: ConnectionLimits {
            max_connections: subscribers + 64,
            max_connections_per_address: 0,
            ..ConnectionLimits::default()
        },
        websocket: WebSocketLimits {
            connections_per_client: 0,
            // The load generator shares the machine: give it time.
            send_timeout: Duration::from_secs(60),
            ..WebSocketLimits::default()
        },
        ..ServerConfig::default()
    };
    let server = market_testkit::TestServer::start(api, config);
    let token = server.client().ok(
        "auth.login",
        json!({"email": "bench@example.com", "password": "bench-password"}),
    )["token"]
        .as_str()
        .ok_or("no token")?
        .to_string();
    let url = format!("ws://{}/rpc", server.addr);

    let client = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let first = db
        .read(|tx| market_store::DomainEventReads::last_event_seq(tx))
        .map_err(|e| e.to_string())?;
    let last = first + events as u64;
    // Connect and subscribe everyone, then start the clock.
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel::<()>(subscribers);
    let mut tasks = Vec::with_capacity(subscribers);
    for _ in 0..subscribers {
        let (url, token, ready) = (url.clone(), token.clone(), ready_tx.clone());
        tasks.push(client.spawn(subscriber(url, token, first, last, ready)));
    }
    drop(ready_tx);
    client.block_on(async {
        for _ in 0..subscribers {
            ready_rx.recv().await;
        }
    });
    let started = Instant::now();
    let pad = "x".repeat(64);
    for _ in 0..events / PER_TX {
        db.write(&Actor::system("bench.events"), |tx| {
            for _ in 0..PER_TX {
                tx.emit(NewEvent {
                    kind: "bench.tick",
                    object_type: "bench",
                    object_id: "b".into(),
                    users: Vec::new(),
                    data: json!({"pad": pad}),
                })?;
            }
            Ok::<_, market_store::StoreError>(())
        })
        .map_err(|e| e.to_string())?;
    }
    let appended = started.elapsed();
    let mut ok = 0;
    for t in tasks {
        match client.block_on(t) {
            Ok(Ok(())) => ok += 1,
            Ok(Err(e)) => return Err(format!("a subscriber failed: {e}")),
            Err(e) => return Err(format!("a subscriber task failed: {e}")),
        }
    }
    let elapsed = started.elapsed();
    let delivered = (ok * events) as f64;
    let per_s = delivered / elapsed.as_secs_f64();
    let events_per_s = events as f64 / elapsed.as_secs_f64();
    println!(
        "WebSocket event fan-out: {subscribers} subscribers, {events} events ({PER_TX} per durable transaction)"
    );
    println!("  appended in        {:>10.3} s", appended.as_secs_f64());
    println!("  all delivered in   {:>10.3} s", elapsed.as_secs_f64());
    println!("  events/s (each to every subscriber) {events_per_s:>12.0}");
    println!("  notifications/s (all subscribers)   {per_s:>12.0}");
    let out = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/bench");
    std::fs::create_dir_all(&out).map_err(|e| e.to_string())?;
    let report = json!({
        "subscribers": subscribers,
        "events": events,
        "events_per_tx": PER_TX,
        "append_seconds": appended.as_secs_f64(),
        "deliver_seconds": elapsed.as_secs_f64(),
        "events_per_s": events_per_s,
        "notifications_per_s": per_s,
    });
    std::fs::write(out.join("events.json"), report.to_string()).map_err(|e| e.to_string())?;
    drop(server);
    Ok(())
}

/// One subscriber: connect, subscribe to the live log, then read until the
/// event `last`, checking the sequence.
async fn subscriber(
    url: String,
    token: String,
    first: u64,
    last: u64,
    ready: tokio::sync::mpsc::Sender<()>,
) -> Result<(), String> {
    let mut request = url.into_client_request().map_err(|e| e.to_string())?;
    request.headers_mut().insert(
        "authorization",
        format!("Bearer {token}")
            .parse()
            .map_err(|_| "bad header")?,
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(request)
        .await
        .map_err(|e| e.to_string())?;
    ws.send(Message::Text(
        json!({"jsonrpc": "2.0", "id": 1, "method": "event.subscribe", "params": {}})
            .to_string()
            .into(),
    ))
    .await
    .map_err(|e| e.to_string())?;
    let mut expected = first + 1;
    let mut subscribed = false;
    while expected <= last {
        let msg = tokio::time::timeout(Duration::from_secs(120), ws.next())
            .await
            .map_err(|_| format!("stalled before seq {expected}"))?
            .ok_or("closed")?
            .map_err(|e| e.to_string())?;
        if let Message::Close(frame) = &msg {
            return Err(format!("closed before seq {expected}: {frame:?}"));
        }
        let Message::Text(text) = msg else { continue };
        let v: Value = serde_json::from_str(text.as_str()).map_err(|e| e.to_string())?;
        if !subscribed {
            if v["id"] != 1 || v.get("result").is_none() {
                return Err(format!("subscribe failed: {v}"));
            }
            subscribed = true;
            let _ = ready.send(()).await;
            continue;
        }
        let seq = v["params"]["event"]["seq"].as_u64().ok_or("no seq")?;
        if seq != expected {
            return Err(format!("expected seq {expected}, got {seq}"));
        }
        expected += 1;
    }
    let _ = ws.close(None).await;
    Ok(())
}
