//! JSON-RPC over WebSocket (`GET /rpc` with an upgrade): the same methods
//! and access rules as HTTP, event subscriptions in `seq` order with no gap
//! and no duplicate, slow consumers closed with 1008 and resuming, caps,
//! and pings of idle connections.

use std::net::TcpStream;
use std::time::{Duration, Instant};

use market_server::{ServerConfig, WebSocketLimits};
use market_store::{Actor, DomainEventReads, Id, NewEvent};
use serde_json::{Value, json};
use tungstenite::client::IntoClientRequest;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::{Message, WebSocket};

use crate::support::*;

/// A WebSocket JSON-RPC client; notifications that arrive while it waits
/// for an answer are kept for [`Ws::next_event`].
struct Ws {
    socket: WebSocket<TcpStream>,
    next_id: u64,
    pending: std::collections::VecDeque<Value>,
    /// The close frame, once the server sent one.
    closed: Option<(CloseCode, String)>,
}

fn request(e: &Env, token: Option<&str>) -> tungstenite::handshake::client::Request {
    let mut req = format!("ws://{}/rpc", e.server.addr)
        .into_client_request()
        .expect("a WebSocket request");
    if let Some(token) = token {
        req.headers_mut().insert(
            "authorization",
            format!("Bearer {token}").parse().expect("a header value"),
        );
    }
    req
}

impl Ws {
    fn try_connect(e: &Env, token: Option<&str>) -> Result<Ws, tungstenite::Error> {
        let stream = TcpStream::connect(e.server.addr).expect("connect");
        let (socket, _) =
            tungstenite::client::client(request(e, token), stream).map_err(|err| match err {
                tungstenite::HandshakeError::Failure(f) => f,
                tungstenite::HandshakeError::Interrupted(_) => tungstenite::Error::ConnectionClosed,
            })?;
        Ok(Ws {
            socket,
            next_id: 1,
            pending: Default::default(),
            closed: None,
        })
    }

    fn connect(e: &Env, token: Option<&str>) -> Ws {
        Ws::try_connect(e, token).expect("WebSocket handshake")
    }

    fn send_text(&mut self, text: String) {
        self.socket
            .send(Message::Text(text.into()))
            .expect("send a message");
    }

    /// The next JSON message within `timeout`, or `None`.
    fn read(&mut self, timeout: Duration) -> Option<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            self.socket
                .get_mut()
                .set_read_timeout(Some(left.max(Duration::from_millis(1))))
                .expect("read timeout");
            match self.socket.read() {
                Ok(Message::Text(t)) => {
                    return Some(serde_json::from_str(t.as_str()).expect("JSON message"));
                }
                Ok(Message::Close(frame)) => {
                    self.closed = Some(frame.map_or((CloseCode::Status, String::new()), |f| {
                        (f.code, f.reason.to_string())
                    }));
                    return None;
                }
                Ok(_) => {}
                Err(tungstenite::Error::Io(io))
                    if matches!(
                        io.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => return None,
            }
        }
    }

    /// Call `method`; the whole response object.
    fn call(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.send_text(
            json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}).to_string(),
        );
        loop {
            let msg = self
                .read(Duration::from_secs(30))
                .unwrap_or_else(|| panic!("no answer to {method}"));
            if msg["id"] == id {
                return msg;
            }
            self.pending.push_back(msg);
        }
    }

    fn ok(&mut self, method: &str, params: Value) -> Value {
        let r = self.call(method, params);
        assert!(r.get("error").is_none(), "{method} failed: {r}");
        r["result"].clone()
    }

    fn error(&mut self, method: &str, params: Value) -> Value {
        let r = self.call(method, params);
        r.get("error")
            .cloned()
            .unwrap_or_else(|| panic!("{method} unexpectedly succeeded: {r}"))
    }

    /// The next `event` notification within `timeout`.
    fn next_event(&mut self, timeout: Duration) -> Option<Value> {
        let msg = match self.pending.pop_front() {
            Some(m) => m,
            None => self.read(timeout)?,
        };
        assert_eq!(msg["method"], "event", "not a notification: {msg}");
        Some(msg["params"].clone())
    }
}

/// Append `count` events in one transaction, straight to the log, each
/// concerning `users` and carrying `pad` bytes of data.
fn write_events(e: &Env, count: usize, users: &[Id], pad: usize) {
    let filler = "x".repeat(pad);
    e.db.write(&Actor::system("test.events"), |tx| {
        for _ in 0..count {
            tx.emit(NewEvent {
                kind: "test.happened",
                object_type: "test",
                object_id: "t".into(),
                users: users.to_vec(),
                data: json!({"pad": filler}),
            })?;
        }
        Ok::<_, market_store::StoreError>(())
    })
    .expect("append events");
}

fn last_seq(e: &Env) -> u64 {
    e.db.read(|tx| tx.last_event_seq()).expect("read the log")
}

fn user_id(user: &Value) -> Id {
    str_of(&user["id"]).parse().expect("a user id")
}

#[test]
fn every_method_works_over_websocket_with_the_same_access_rules() {
    let e = start();
    let (_, admin_user) = e.admin();
    let r = e.register_result("alice@example.com");
    let token = str_of(&r["token"]).to_string();

    let mut anon = Ws::connect(&e, None);
    assert_eq!(anon.error("auth.me", json!({}))["code"], 4010);
    assert_eq!(anon.ok("system.health", json!({}))["status"], "ok");
    assert_eq!(anon.error("event.subscribe", json!({}))["code"], 4010);
    // A token given by a first `auth.use_token` call.
    assert_eq!(
        anon.error("auth.use_token", json!({"token": "mks_nonsense"}))["code"],
        4010
    );
    assert_eq!(anon.error("auth.me", json!({}))["code"], 4010);
    let me = anon.ok("auth.use_token", json!({"token": token}));
    assert_eq!(me["id"], r["user"]["id"]);
    assert_eq!(anon.ok("auth.me", json!({}))["email"], "alice@example.com");
    assert_eq!(anon.error("admin.stats", json!({}))["code"], 4030);
    assert_eq!(
        anon.error("user.get", json!({"id": admin_user["id"]}))["code"],
        4030
    );
    // The envelope is the HTTP one: parse errors, batches, notifications.
    anon.send_text("{not json".into());
    let parse = anon.read(Duration::from_secs(10)).expect("an answer");
    assert_eq!(parse["error"]["code"], -32700);
    anon.send_text(
        json!([
            {"jsonrpc": "2.0", "id": "a", "method": "auth.me"},
            {"jsonrpc": "2.0", "method": "auth.me"},
            {"jsonrpc": "2.0", "id": "b", "method": "nope.nothing"}
        ])
        .to_string(),
    );
    let batch = anon.read(Duration::from_secs(10)).expect("an answer");
    assert_eq!(batch.as_array().map(Vec::len), Some(2), "{batch}");
    assert_eq!(batch[1]["error"]["code"], -32601);
    assert_eq!(
        anon.error("event.unsubscribe", json!({"subscription": "none"}))["code"],
        4040
    );
    assert_eq!(
        anon.error("event.subscribe", json!({"after_seq": -1}))["code"],
        -32602
    );
    assert_eq!(
        anon.error("event.subscribe", json!({"colour": "red"}))["code"],
        -32602
    );
    assert_eq!(
        anon.error("event.subscribe", json!({"types": [""]}))["data"]["kind"],
        "invalid_input"
    );

    // The header works as over HTTP, and calls count in the same metrics.
    let mut header = Ws::connect(&e, Some(&token));
    assert_eq!(
        header.ok("auth.me", json!({}))["email"],
        "alice@example.com"
    );
    let metrics = market_testkit::get(&e.server, "/metrics").body;
    assert!(
        metrics.contains(r#"rpc_calls_total{method="auth.me",outcome="ok"} 4"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"rpc_calls_total{method="auth.me",outcome="unauthenticated"} 2"#),
        "{metrics}"
    );
    assert!(metrics.contains(r#"method="event.subscribe""#), "{metrics}");
}

#[test]
fn subscriptions_deliver_backlog_then_live_events_to_those_concerned() {
    let e = start();
    let (admin, _) = e.admin();
    let (alice, alice_user) = e.register("alice@example.com");
    let (_, bob_user) = e.register("bob@example.com");
    grant(&admin, &id_of(&alice_user), "10");
    let alice_token = alice.token.clone().expect("a token");
    let mut ws = Ws::connect(&e, Some(&alice_token));
    let sub = ws.ok("event.subscribe", json!({"after_seq": 0}));
    let sub = str_of(&sub["subscription"]).to_string();
    let first = ws.next_event(Duration::from_secs(10)).expect("the backlog");
    assert_eq!(first["subscription"], sub);
    assert_eq!(first["event"]["type"], "wallet.credited");
    assert_eq!(first["event"]["seq"], 1);

    // Live: Bob's grant is not Alice's business; Bob's message is.
    grant(&admin, &id_of(&bob_user), "5");
    let bob = e.login("bob@example.com", PASSWORD);
    bob.ok(
        "message.send",
        json!({"to_user_id": alice_user["id"], "body": "hi"}),
    );
    let live = ws
        .next_event(Duration::from_secs(10))
        .expect("a live event");
    assert_eq!(live["event"]["type"], "message.received");
    assert_eq!(live["event"]["seq"], 3);
    assert!(ws.next_event(Duration::from_millis(300)).is_none());

    // A type filter, and unsubscribing stops the flow.
    let only = ws.ok("event.subscribe", json!({"types": ["wallet.debited"]}));
    alice.ok(
        "wallet.transfer",
        json!({"to_email": "bob@example.com", "amount": "1"}),
    );
    let mut got = Vec::new();
    while let Some(n) = ws.next_event(Duration::from_millis(500)) {
        got.push((n["subscription"].clone(), n["event"]["type"].clone()));
    }
    got.sort_by_key(|(s, _)| s.to_string());
    let mut want = vec![
        (json!(sub), json!("wallet.debited")),
        (only["subscription"].clone(), json!("wallet.debited")),
    ];
    want.sort_by_key(|(s, _)| s.to_string());
    assert_eq!(got, want, "each subscription gets the event once");
    assert_eq!(
        ws.ok("event.unsubscribe", json!({"subscription": sub})),
        json!({"ok": true})
    );
    alice.ok(
        "wallet.transfer",
        json!({"to_email": "bob@example.com", "amount": "1"}),
    );
    let after = ws.next_event(Duration::from_secs(10)).expect("an event");
    assert_eq!(after["subscription"], only["subscription"]);
    assert!(ws.next_event(Duration::from_millis(300)).is_none());
}

#[test]
fn ten_thousand_events_written_during_a_subscription_arrive_in_order_once() {
    let e = start();
    let (admin, _) = e.admin();
    let (alice, alice_user) = e.register("alice@example.com");
    let alice_id = user_id(&alice_user);
    let start_seq = last_seq(&e);
    let mut admin_ws = Ws::connect(&e, admin.token.as_deref());
    let mut alice_ws = Ws::connect(&e, alice.token.as_deref());
    let total = 10_000u64;
    std::thread::scope(|s| {
        // Two writers, 1,000 transactions each of five events; every 10th
        // transaction concerns Alice.
        for writer in 0..2 {
            let e = &e;
            s.spawn(move || {
                for i in 0..1000 {
                    let users = if (writer * 1000 + i) % 10 == 0 {
                        vec![alice_id]
                    } else {
                        Vec::new()
                    };
                    write_events(e, 5, &users, 16);
                }
            });
        }
        std::thread::sleep(Duration::from_millis(20));
        admin_ws.ok("event.subscribe", json!({"after_seq": start_seq}));
        alice_ws.ok("event.subscribe", json!({"after_seq": start_seq}));
        assert!(
            last_seq(&e) < start_seq + total,
            "the subscription should start while events are written"
        );
    });
    let mut seen = Vec::new();
    while (seen.len() as u64) < total {
        let n = admin_ws
            .next_event(Duration::from_secs(30))
            .unwrap_or_else(|| panic!("stalled after {} events", seen.len()));
        seen.push(n["event"]["seq"].as_u64().expect("seq"));
    }
    let expected: Vec<u64> = (start_seq + 1..=start_seq + total).collect();
    assert_eq!(seen, expected, "admin: a gap, a duplicate or a wrong order");
    assert!(admin_ws.next_event(Duration::from_millis(300)).is_none());

    let mut alice_seen = Vec::new();
    while alice_seen.len() < 1000 {
        let n = alice_ws
            .next_event(Duration::from_secs(30))
            .unwrap_or_else(|| panic!("alice stalled after {}", alice_seen.len()));
        alice_seen.push(n["event"]["seq"].as_u64().expect("seq"));
    }
    assert!(alice_seen.windows(2).all(|w| w[0] < w[1]));
    let hers =
        e.db.read(|tx| tx.user_events_after(alice_id, start_seq, u64::MAX, 5000))
            .expect("read");
    assert_eq!(alice_seen, hers.iter().map(|ev| ev.seq).collect::<Vec<_>>());
    assert!(alice_ws.next_event(Duration::from_millis(300)).is_none());
}

fn tight_limits() -> ServerConfig {
    ServerConfig {
        websocket: WebSocketLimits {
            connections_per_client: 2,
            subscriptions_per_connection: 2,
            queue: 4,
            send_timeout: Duration::from_millis(300),
            ping_interval: Duration::from_secs(60),
            token_recheck: Duration::from_millis(500),
        },
        ..server_config()
    }
}

#[test]
fn a_slow_consumer_is_closed_with_1008_and_resumes_with_after_seq() {
    let e = start_with(app_config(), tight_limits());
    let (admin, _) = e.admin();
    let token = admin.token.clone().expect("a token");
    let start_seq = last_seq(&e);
    let mut ws = Ws::connect(&e, Some(&token));
    ws.ok("event.subscribe", json!({}));
    // 600 events of 32 KiB: far more than the socket buffers hold.
    for _ in 0..6 {
        write_events(&e, 100, &[], 32 * 1024);
    }
    // Not reading (pongs neither) for a while: the queue stays full.
    std::thread::sleep(Duration::from_millis(1500));
    let mut received = Vec::new();
    while let Some(n) = ws.next_event(Duration::from_secs(10)) {
        received.push(n["event"]["seq"].as_u64().expect("seq"));
    }
    let (code, reason) = ws
        .closed
        .clone()
        .unwrap_or_else(|| panic!("no close frame after {} events", received.len()));
    assert_eq!(code, CloseCode::Policy, "{reason}");
    assert!(reason.contains("after_seq"), "{reason}");
    assert!(
        received.len() < 600,
        "{} events before the close",
        received.len()
    );
    let expected: Vec<u64> = (start_seq + 1..=start_seq + received.len() as u64).collect();
    assert_eq!(received, expected);

    // Resume where it stopped: the rest, once each.
    let resume = received.last().copied().unwrap_or(start_seq);
    let mut again = Ws::connect(&e, Some(&token));
    again.ok("event.subscribe", json!({"after_seq": resume}));
    while (received.len() as u64) < 600 {
        let n = again
            .next_event(Duration::from_secs(10))
            .expect("the rest of the events");
        received.push(n["event"]["seq"].as_u64().expect("seq"));
    }
    let all: Vec<u64> = (start_seq + 1..=start_seq + 600).collect();
    assert_eq!(received, all);
}

#[test]
fn connections_and_subscriptions_are_capped_per_client() {
    let e = start_with(app_config(), tight_limits());
    let (alice, _) = e.register("alice@example.com");
    let token = alice.token.clone().expect("a token");
    let mut first = Ws::connect(&e, Some(&token));
    let second = Ws::connect(&e, Some(&token));
    match Ws::try_connect(&e, Some(&token)) {
        Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 429),
        Err(other) => panic!("expected 429, got {other}"),
        Ok(_) => panic!("a third connection was accepted"),
    }
    drop(second);
    // The place frees once the connection is gone.
    let deadline = Instant::now() + Duration::from_secs(10);
    let _third = loop {
        match Ws::try_connect(&e, Some(&token)) {
            Ok(ws) => break ws,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            Err(err) => panic!("the freed place was not given back: {err}"),
        }
    };
    first.ok("event.subscribe", json!({}));
    first.ok("event.subscribe", json!({}));
    let e3 = first.error("event.subscribe", json!({}));
    assert_eq!(e3["code"], 4290, "{e3}");
    assert_eq!(e3["data"]["kind"], "rate_limited");
}

#[test]
fn idle_connections_are_pinged_and_closed_when_silent() {
    let mut limits = tight_limits();
    limits.websocket.ping_interval = Duration::from_millis(600);
    let e = start_with(app_config(), limits);
    let (alice, _) = e.register("alice@example.com");
    let token = alice.token.clone().expect("a token");
    // A client that keeps reading answers the pings and stays.
    let mut lively = Ws::connect(&e, Some(&token));
    let until = Instant::now() + Duration::from_millis(2100);
    while Instant::now() < until {
        assert!(lively.read(Duration::from_millis(100)).is_none());
        assert!(lively.closed.is_none(), "closed: {:?}", lively.closed);
    }
    assert_eq!(
        lively.ok("auth.me", json!({}))["email"],
        "alice@example.com"
    );
    // A silent one is closed with 1001 once a ping goes unanswered.
    let mut silent = Ws::connect(&e, Some(&token));
    std::thread::sleep(Duration::from_millis(2100));
    assert!(silent.read(Duration::from_secs(5)).is_none());
    let (code, reason) = silent.closed.clone().expect("a close frame");
    assert_eq!(code, CloseCode::Away, "{reason}");
}

#[test]
fn a_subscription_ends_when_its_token_stops_working() {
    let e = start_with(app_config(), tight_limits());
    let (admin, _) = e.admin();
    let (alice, alice_user) = e.register("alice@example.com");
    let mut ws = Ws::connect(&e, alice.token.as_deref());
    ws.ok("event.subscribe", json!({}));
    grant(&admin, &id_of(&alice_user), "1");
    assert!(ws.next_event(Duration::from_secs(10)).is_some());
    alice.ok("auth.logout", json!({}));
    // Within the recheck interval (500 ms here) the token is found revoked.
    std::thread::sleep(Duration::from_millis(1200));
    grant(&admin, &id_of(&alice_user), "1");
    assert!(ws.next_event(Duration::from_secs(10)).is_none());
    let (code, reason) = ws.closed.clone().expect("a close frame");
    assert_eq!(code, CloseCode::Policy, "{reason}");
    assert!(reason.contains("token"), "{reason}");
}
