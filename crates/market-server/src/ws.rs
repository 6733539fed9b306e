//! JSON-RPC 2.0 over WebSocket (`GET /rpc` with an upgrade): every method
//! through the same envelope, access rules, limits and metrics as HTTP
//! (each text message is one body for [`jsonrpc::handle`]), plus
//! subscriptions to the domain event log.
//!
//! A connection's token comes from its `Authorization` header or from a
//! successful `auth.use_token {token}`; it is resolved again for every
//! message, as over HTTP. `event.subscribe` answers `{subscription}` and
//! then sends `event` notifications in `seq` order: the backlog after
//! `after_seq`, then live events. A subscription reads the log itself
//! (never a shared buffer) up to its durable end, and wakes when that end
//! moves, so it sees every event once and in order. Outgoing messages go
//! through one bounded queue per connection; a subscription that cannot
//! queue its next event within the send timeout closes the connection with
//! 1008, and the client resumes with `after_seq`. The server pings a
//! connection silent for a ping interval and closes it (1001) when nothing,
//! not even a pong, answers that ping within another interval.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use market_rpc::{Caller, Ctx, EventSource, RpcError};
use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};

use crate::jsonrpc::{self, Credentials, Origin, Reply};
use crate::{Shared, client_address, credentials};

/// Limits of WebSocket connections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebSocketLimits {
    /// Open WebSocket connections per client address (0: no cap).
    pub connections_per_client: usize,
    /// Subscriptions one connection may hold at once.
    pub subscriptions_per_connection: usize,
    /// Messages waiting to be written to one connection.
    pub queue: usize,
    /// How long a subscription may wait for room in the queue before the
    /// connection is closed as too slow (1008).
    pub send_timeout: Duration,
    /// How often an idle connection is pinged.
    pub ping_interval: Duration,
    /// How often a subscription checks its token again (a logout, a
    /// suspension or new roles take effect within this time).
    pub token_recheck: Duration,
}

impl Default for WebSocketLimits {
    fn default() -> Self {
        WebSocketLimits {
            connections_per_client: 16,
            subscriptions_per_connection: 16,
            queue: 1024,
            send_timeout: Duration::from_secs(10),
            ping_interval: Duration::from_secs(30),
            token_recheck: Duration::from_secs(5),
        }
    }
}

/// Events read from the log per step of a subscription.
const READ_STEP: usize = 256;
/// How long the close frame may take to leave.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(10);
const POLICY_VIOLATION: u16 = 1008;
const GOING_AWAY: u16 = 1001;
const UNSUPPORTED: u16 = 1003;
const INTERNAL: u16 = 1011;

/// Open WebSocket connections per client address.
#[derive(Default)]
pub(crate) struct Clients(Arc<Mutex<HashMap<Option<IpAddr>, usize>>>);

/// One connection's place in [`Clients`]; released when dropped.
struct ClientSlot {
    clients: Arc<Mutex<HashMap<Option<IpAddr>, usize>>>,
    address: Option<IpAddr>,
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let mut map = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = map.get_mut(&self.address) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                map.remove(&self.address);
            }
        }
    }
}

impl Clients {
    fn admit(&self, address: Option<IpAddr>, cap: usize) -> Option<ClientSlot> {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let n = map.entry(address).or_insert(0);
        if cap > 0 && *n >= cap {
            return None;
        }
        *n += 1;
        Some(ClientSlot {
            clients: self.0.clone(),
            address,
        })
    }
}

/// The durable end of the event log as a watch channel, fed by the log's bell.
pub(crate) fn event_tick(source: Option<&Arc<dyn EventSource>>) -> watch::Receiver<u64> {
    let start = source.map_or(0, |s| s.durable_seq());
    let (tx, rx) = watch::channel(start);
    if let Some(source) = source {
        source.listen(Box::new(move |seq| {
            tx.send_if_modified(|v| {
                let grew = seq > *v;
                *v = (*v).max(seq);
                grew
            });
        }));
    }
    rx
}

/// `GET /rpc` with an upgrade.
pub(crate) async fn upgrade(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    held: Option<axum::Extension<crate::connections::Held>>,
    ws: WebSocketUpgrade,
) -> Response {
    let address = client_address(Some(peer.ip()), &headers, &shared.trusted_proxies);
    let limits = &shared.websocket;
    let Some(slot) = shared
        .ws_clients
        .admit(address, limits.connections_per_client)
    else {
        return (
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "at most {} WebSocket connections per client",
                limits.connections_per_client
            ),
        )
            .into_response();
    };
    let token = match credentials(&headers) {
        Credentials::Bearer(t) => Token::Bearer(t),
        Credentials::Conflicting => Token::Conflicting,
        Credentials::None => Token::None,
    };
    ws.max_message_size(shared.body_limit)
        .on_upgrade(move |socket| async move {
            // The connection counts against the server's caps while it lives.
            let _held = held;
            let _slot = slot;
            run(shared, socket, token, address).await;
        })
}

/// The credentials a connection speaks with.
#[derive(Clone)]
enum Token {
    None,
    Bearer(String),
    Conflicting,
}

impl Token {
    fn credentials(&self) -> Credentials {
        match self {
            Token::None => Credentials::None,
            Token::Bearer(t) => Credentials::Bearer(t.clone()),
            Token::Conflicting => Credentials::Conflicting,
        }
    }
}

/// Why the connection ends, sent in the close frame.
type Closing = watch::Sender<Option<(u16, String)>>;

fn close_with(closing: &Closing, code: u16, reason: &str) {
    closing.send_if_modified(|c| {
        if c.is_some() {
            return false;
        }
        *c = Some((code, reason.to_string()));
        true
    });
}

/// One connection: the writer task, the subscriptions, and the reader here.
async fn run(shared: Arc<Shared>, socket: WebSocket, mut token: Token, peer: Option<IpAddr>) {
    let limits = shared.websocket.clone();
    let (sink, mut stream) = socket.split();
    let (out, queue) = mpsc::channel::<Message>(limits.queue.max(1));
    let (closing, closed) = watch::channel(None);
    let writer = tokio::spawn(write_loop(sink, queue, closed.clone()));
    let mut subscriptions: HashMap<String, tokio::task::JoinHandle<()>> = HashMap::new();
    let mut ping = tokio::time::interval(limits.ping_interval);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_seen = Instant::now();
    // When a ping went out that nothing has answered yet.
    let mut awaiting: Option<Instant> = None;
    let mut closed_rx = closed.clone();
    loop {
        tokio::select! {
            message = stream.next() => {
                last_seen = Instant::now();
                awaiting = None;
                match message {
                    Some(Ok(Message::Text(text))) => {
                        let reply = answer(&shared, &text, &mut token, peer, &mut subscriptions, &out, &closing).await;
                        if let Some(reply) = reply
                            && out.send(Message::Text(reply.into())).await.is_err()
                        {
                            break;
                        }
                    }
                    Some(Ok(Message::Binary(_))) => {
                        close_with(&closing, UNSUPPORTED, "only text messages (JSON-RPC) are understood");
                        break;
                    }
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                    Some(Ok(Message::Close(_)) | Err(_)) | None => break,
                }
            }
            _ = ping.tick() => match awaiting {
                Some(sent) if sent.elapsed() >= limits.ping_interval => {
                    close_with(&closing, GOING_AWAY, "no answer to pings");
                    break;
                }
                Some(_) => {}
                None if last_seen.elapsed() >= limits.ping_interval => {
                    let _ = out.try_send(Message::Ping(Default::default()));
                    awaiting = Some(Instant::now());
                }
                None => {}
            },
            _ = closed_rx.changed() => break,
        }
    }
    for (_, task) in subscriptions.drain() {
        task.abort();
    }
    close_with(&closing, 1000, "");
    drop(out);
    let _ = tokio::time::timeout(CLOSE_TIMEOUT + Duration::from_secs(1), writer).await;
    // Let the client answer the close before the socket goes: closing it
    // with unread input would reset the connection and lose what the
    // client has not read yet.
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, async {
        while let Some(Ok(message)) = stream.next().await {
            if matches!(message, Message::Close(_)) {
                break;
            }
        }
    })
    .await;
}

/// Write queued messages until the connection closes; then the close frame.
async fn write_loop(
    mut sink: futures_util::stream::SplitSink<WebSocket, Message>,
    mut queue: mpsc::Receiver<Message>,
    mut closed: watch::Receiver<Option<(u16, String)>>,
) {
    loop {
        tokio::select! {
            biased;
            _ = closed.changed() => break,
            message = queue.recv() => {
                let Some(message) = message else { break };
                tokio::select! {
                    sent = sink.send(message) => if sent.is_err() { return },
                    _ = closed.changed() => break,
                }
            }
        }
    }
    let reason = closed.borrow().clone();
    let frame = reason.map(|(code, reason)| CloseFrame {
        code,
        reason: Utf8Bytes::from(reason),
    });
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, sink.send(Message::Close(frame))).await;
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, sink.close()).await;
}

/// The methods a connection answers itself.
enum Local {
    Subscribe,
    Unsubscribe,
    UseToken,
}

/// A single request object naming one of the connection's own methods.
fn local_call(text: &str) -> Option<(Local, Value, Option<Value>)> {
    let trimmed = text.trim_start();
    if !trimmed.starts_with('{') {
        return None;
    }
    let v: Value = serde_json::from_str(text).ok()?;
    if v.get("jsonrpc")? != "2.0" {
        return None;
    }
    let local = match v.get("method")?.as_str()? {
        "event.subscribe" => Local::Subscribe,
        "event.unsubscribe" => Local::Unsubscribe,
        "auth.use_token" => Local::UseToken,
        _ => return None,
    };
    let id = v.get("id")?.clone();
    Some((local, id, v.get("params").cloned()))
}

fn reply(id: &Value, result: Result<Value, RpcError>) -> String {
    match result {
        Ok(result) => json!({"jsonrpc": "2.0", "result": result, "id": id}),
        Err(e) => json!({"jsonrpc": "2.0", "error": e.to_json(), "id": id}),
    }
    .to_string()
}

/// Answer one text message; `None` when there is nothing to answer.
async fn answer(
    shared: &Arc<Shared>,
    text: &str,
    token: &mut Token,
    peer: Option<IpAddr>,
    subscriptions: &mut HashMap<String, tokio::task::JoinHandle<()>>,
    out: &mpsc::Sender<Message>,
    closing: &Closing,
) -> Option<String> {
    match local_call(text) {
        Some((Local::Subscribe, id, params)) => {
            let started = Instant::now();
            let result = subscribe(shared, token, peer, params, subscriptions, out, closing).await;
            let answer = match &result {
                Ok((name, _)) => Ok(json!({"subscription": name})),
                Err(e) => Err(e.clone()),
            };
            observe(shared, "event.subscribe", &answer, started);
            let text = reply(&id, answer);
            let (name, follower) = match result {
                Ok(started) => started,
                Err(_) => return Some(text),
            };
            // The answer is queued before the subscription's first notification.
            if out.send(Message::Text(text.into())).await.is_ok() {
                subscriptions.insert(name, tokio::spawn(follower.run()));
            }
            None
        }
        Some((Local::Unsubscribe, id, params)) => {
            let started = Instant::now();
            let result = unsubscribe(params, subscriptions);
            observe(shared, "event.unsubscribe", &result, started);
            Some(reply(&id, result))
        }
        Some((Local::UseToken, _, params)) => {
            let answer = through_envelope(shared, text, token, peer).await?;
            let ok = serde_json::from_str::<Value>(&answer)
                .ok()
                .is_some_and(|v| v.get("result").is_some());
            let given = params
                .as_ref()
                .and_then(|p| p.get("token"))
                .and_then(Value::as_str);
            if let (true, Some(t)) = (ok, given) {
                *token = Token::Bearer(t.to_string());
            }
            Some(answer)
        }
        None => through_envelope(shared, text, token, peer).await,
    }
}

/// Run a message through the JSON-RPC envelope, as an HTTP body would.
async fn through_envelope(
    shared: &Arc<Shared>,
    text: &str,
    token: &Token,
    peer: Option<IpAddr>,
) -> Option<String> {
    let origin = Origin {
        credentials: token.credentials(),
        peer,
        node: None,
    };
    let body = axum::body::Bytes::copy_from_slice(text.as_bytes());
    match jsonrpc::handle(shared, body, origin).await {
        Reply::Nothing => None,
        Reply::Json(bytes) => Some(String::from_utf8_lossy(&bytes).into_owned()),
    }
}

fn observe(shared: &Shared, method: &str, result: &Result<Value, RpcError>, started: Instant) {
    let outcome = match result {
        Ok(_) => "ok",
        Err(e) => e.kind().unwrap_or("invalid_params"),
    };
    shared
        .metrics
        .observe_call(method, outcome, started.elapsed().as_secs_f64());
}

/// The params of `event.subscribe`.
struct SubscribeParams {
    types: Vec<String>,
    after_seq: Option<u64>,
}

fn subscribe_params(params: Option<Value>) -> Result<SubscribeParams, RpcError> {
    let map = match params {
        None | Some(Value::Null) => serde_json::Map::new(),
        Some(Value::Object(map)) => map,
        Some(_) => return Err(RpcError::invalid_params("params must be an object")),
    };
    let mut out = SubscribeParams {
        types: Vec::new(),
        after_seq: None,
    };
    for (key, value) in map {
        match (key.as_str(), value) {
            ("types", Value::Null) | ("after_seq", Value::Null) => {}
            ("types", Value::Array(items)) => {
                for item in items {
                    let Value::String(t) = item else {
                        return Err(RpcError::invalid_params("types: expected strings"));
                    };
                    out.types.push(t);
                }
            }
            ("types", _) => return Err(RpcError::invalid_params("types: expected an array")),
            ("after_seq", v) => {
                out.after_seq = Some(v.as_u64().ok_or_else(|| {
                    RpcError::invalid_params("after_seq: expected a non-negative integer")
                })?);
            }
            (other, _) => {
                return Err(RpcError::invalid_params(format!("unknown param '{other}'")));
            }
        }
    }
    let bad = if out.types.len() > 50 {
        Some("at most 50 types")
    } else if out
        .types
        .iter()
        .any(|t| t.trim().is_empty() || t.len() > 100)
    {
        Some("each type has 1 to 100 characters")
    } else {
        None
    };
    if let Some(reason) = bad {
        return Err(RpcError::invalid_fields(
            [("types".to_string(), reason.to_string())].into(),
        ));
    }
    Ok(out)
}

async fn resolve(shared: &Arc<Shared>, token: &Token) -> Result<Caller, RpcError> {
    let token = token.clone();
    let auth = shared.authenticator.clone();
    tokio::task::spawn_blocking(move || match token {
        Token::None => Ok(Caller::Anonymous),
        Token::Bearer(t) => auth.authenticate(Some(&t)),
        Token::Conflicting => Err(RpcError::unauthenticated(
            "more than one Authorization header",
        )),
    })
    .await
    .unwrap_or_else(|_| Err(RpcError::internal()))
}

async fn subscribe(
    shared: &Arc<Shared>,
    token: &Token,
    peer: Option<IpAddr>,
    params: Option<Value>,
    subscriptions: &mut HashMap<String, tokio::task::JoinHandle<()>>,
    out: &mpsc::Sender<Message>,
    closing: &Closing,
) -> Result<(String, Follower), RpcError> {
    let caller = resolve(shared, token).await?;
    if matches!(caller, Caller::Anonymous) {
        return Err(RpcError::unauthenticated("sign in first"));
    }
    let mut ctx = Ctx::new(
        ulid::Ulid::generate().to_string(),
        "event.subscribe",
        caller.clone(),
    );
    ctx.peer = peer;
    shared.limits.check(&ctx)?;
    let p = subscribe_params(params)?;
    let Some(source) = shared.events.clone() else {
        return Err(RpcError::invalid_state("this server has no event log"));
    };
    subscriptions.retain(|_, task| !task.is_finished());
    let cap = shared.websocket.subscriptions_per_connection;
    if subscriptions.len() >= cap {
        return Err(RpcError::app(
            market_rpc::ErrorKind::RateLimited,
            format!("at most {cap} subscriptions per connection"),
        ));
    }
    let id = ulid::Ulid::generate().to_string();
    let after = p.after_seq.unwrap_or_else(|| source.durable_seq());
    let follower = Follower {
        source,
        shared: shared.clone(),
        token: token.clone(),
        caller,
        checked: Instant::now(),
        subscription: id.clone(),
        types: p.types,
        after,
        out: out.clone(),
        tick: shared.event_tick.clone(),
        send_timeout: shared.websocket.send_timeout,
        closing: closing.clone(),
    };
    Ok((id, follower))
}

fn unsubscribe(
    params: Option<Value>,
    subscriptions: &mut HashMap<String, tokio::task::JoinHandle<()>>,
) -> Result<Value, RpcError> {
    let id = match params {
        Some(Value::Object(map)) => {
            if let Some(other) = map.keys().find(|k| *k != "subscription") {
                return Err(RpcError::invalid_params(format!("unknown param '{other}'")));
            }
            match map.get("subscription") {
                Some(Value::String(s)) => s.clone(),
                Some(_) => {
                    return Err(RpcError::invalid_params("subscription: expected a string"));
                }
                None => return Err(RpcError::invalid_params("missing param 'subscription'")),
            }
        }
        _ => return Err(RpcError::invalid_params("missing param 'subscription'")),
    };
    match subscriptions.remove(&id) {
        Some(task) => {
            task.abort();
            Ok(json!({"ok": true}))
        }
        None => Err(RpcError::not_found(
            "no such subscription on this connection",
        )),
    }
}

/// One subscription: reads the log after its cursor and queues notifications.
struct Follower {
    source: Arc<dyn EventSource>,
    shared: Arc<Shared>,
    /// The connection's token when it subscribed, checked again now and then.
    token: Token,
    caller: Caller,
    checked: Instant,
    subscription: String,
    types: Vec<String>,
    /// The last `seq` read.
    after: u64,
    out: mpsc::Sender<Message>,
    tick: watch::Receiver<u64>,
    send_timeout: Duration,
    closing: Closing,
}

impl Follower {
    async fn run(mut self) {
        let mut after = self.after;
        loop {
            let end = (*self.tick.borrow_and_update()).max(self.source.durable_seq());
            if after < end {
                if self.checked.elapsed() >= self.shared.websocket.token_recheck {
                    match resolve(&self.shared, &self.token).await {
                        Ok(Caller::Anonymous) | Err(_) => {
                            close_with(
                                &self.closing,
                                POLICY_VIOLATION,
                                "the subscription's token no longer works; sign in again",
                            );
                            return;
                        }
                        Ok(caller) => self.caller = caller,
                    }
                    self.checked = Instant::now();
                }
                let source = self.source.clone();
                let caller = self.caller.clone();
                let types = self.types.clone();
                let read = tokio::task::spawn_blocking(move || {
                    source.read(&caller, after, &types, READ_STEP)
                })
                .await;
                let batch = match read {
                    Ok(Ok(batch)) => batch,
                    Ok(Err(e)) => {
                        tracing::error!(error = %e.message, "subscription cannot read the event log");
                        close_with(&self.closing, INTERNAL, "internal error");
                        return;
                    }
                    Err(_) => return,
                };
                for event in batch.events {
                    let note = json!({
                        "jsonrpc": "2.0",
                        "method": "event",
                        "params": {"subscription": self.subscription, "event": event},
                    });
                    let message = Message::Text(note.to_string().into());
                    match tokio::time::timeout(self.send_timeout, self.out.send(message)).await {
                        Ok(Ok(())) => {}
                        Ok(Err(_)) => return,
                        Err(_) => {
                            close_with(
                                &self.closing,
                                POLICY_VIOLATION,
                                "too slow: subscribe again with after_seq set to the last seq received",
                            );
                            return;
                        }
                    }
                }
                if batch.read_to > after {
                    after = batch.read_to;
                    continue;
                }
            }
            if self.tick.changed().await.is_err() {
                return;
            }
        }
    }
}
