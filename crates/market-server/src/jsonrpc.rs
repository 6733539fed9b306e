//! The JSON-RPC 2.0 envelope: single requests, batches, notifications and
//! every standard error, on top of the one method table.
//!
//! Wire rules (SPEC 4 and 10): every reply is HTTP 200, except a request
//! made only of notifications (204, empty body) and a body over the limit
//! (413, decided before this module); a batch over the limit is answered by
//! one `-32600` error object. The JSON is parsed on the async worker that
//! read it, which then picks where the body runs ([`route`]):
//! - a lone anonymous lookup (one record by key, `Kind::Lookup`) is answered
//!   right there, on the latest durable commit: it is shorter than the
//!   hand-off to another thread;
//! - other reads are one task on the blocking pool: authentication, every
//!   call of a batch (in order) and the encoding of the reply run there;
//! - bodies that change state go to a separate write pool whose threads
//!   then wait for their writes to be durable: many wait at once, so one
//!   flush covers many writes, while reads keep the small pool that suits
//!   short CPU-bound calls.

use std::net::IpAddr;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Instant;

use market_rpc::{Caller, Ctx, Kind, MethodDef, RpcError};
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::Shared;

/// What goes back over HTTP.
pub enum Reply {
    /// 204: nothing to answer (only notifications).
    Nothing,
    /// 200 with this JSON body.
    Json(Vec<u8>),
}

/// One response object.
#[derive(Serialize)]
struct Response<'a> {
    jsonrpc: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    result: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<Value>,
    /// The request's id exactly as it was written.
    id: &'a RawValue,
}

fn encode(r: &Response<'_>) -> Vec<u8> {
    serde_json::to_vec(r).unwrap_or_else(|_| {
        br#"{"jsonrpc":"2.0","error":{"code":-32603,"message":"internal error"},"id":null}"#
            .to_vec()
    })
}

fn error_response(id: &RawValue, e: &RpcError) -> Vec<u8> {
    encode(&Response {
        jsonrpc: "2.0",
        result: None,
        error: Some(e.to_json()),
        id,
    })
}

/// A well-formed request; `id: None` means a notification.
struct Call {
    /// The id as written (a number keeps every digit it was sent with).
    id: Option<Box<RawValue>>,
    method: String,
    params: Option<Value>,
}

/// One element of a body: a call, or the error to answer it with and the
/// id to answer under.
enum Item {
    Call(Call),
    Invalid(RpcError, Box<RawValue>),
}

/// A body: one request or a batch of them.
enum Body {
    Single(Item),
    Batch(Vec<Item>),
}

fn null_id() -> Box<RawValue> {
    RawValue::NULL.to_owned()
}

/// A member that is present, even when it is `null` (absent stays `None`).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue>::deserialize(d).map(Some)
}

/// The members of a request object, each as written. serde refuses a
/// member given twice.
#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(default, borrow, deserialize_with = "present")]
    id: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "present")]
    jsonrpc: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "present")]
    method: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "present")]
    params: Option<&'a RawValue>,
}

/// A JSON value read like `serde_json::Value`, except that an object
/// naming one key twice is an error instead of keeping the last value.
struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Strict, D::Error> {
        d.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Strict::deserialize(d).map(|s| s.0)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Strict(v)) = seq.next_element()? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                return Err(de::Error::custom(format!("duplicate key '{key}'")));
            }
            let Strict(value) = map.next_value()?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

/// serde's messages end with a position; the caller wants the reason.
fn reason(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.find(" at line ") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

/// Parse a body. Only text that is not JSON at all is a parse error; each
/// request of a batch is checked on its own.
fn parse(body: &[u8]) -> Result<Body, RpcError> {
    let raw: &RawValue = serde_json::from_slice(body).map_err(RpcError::parse_error)?;
    if raw.get().trim_start().starts_with('[') {
        let items: Vec<&RawValue> =
            serde_json::from_str(raw.get()).map_err(RpcError::parse_error)?;
        Ok(Body::Batch(items.into_iter().map(item).collect()))
    } else {
        Ok(Body::Single(item(raw)))
    }
}

/// Check one request object.
fn item(raw: &RawValue) -> Item {
    match validate(raw) {
        Ok(call) => Item::Call(call),
        Err((e, id)) => Item::Invalid(e, id),
    }
}

fn validate(raw: &RawValue) -> Result<Call, (RpcError, Box<RawValue>)> {
    if !raw.get().trim_start().starts_with('{') {
        return Err((
            RpcError::invalid_request("a request must be an object"),
            null_id(),
        ));
    }
    let envelope: Envelope<'_> = serde_json::from_str(raw.get()).map_err(|e| {
        (
            RpcError::invalid_request(format!("malformed request: {}", reason(&e))),
            null_id(),
        )
    })?;
    let id = match envelope.id {
        None => None,
        Some(id) => match id.get().trim_start().as_bytes().first() {
            Some(b'"' | b'-' | b'0'..=b'9' | b'n') => Some(id.to_owned()),
            _ => {
                return Err((
                    RpcError::invalid_request("id must be a string, a number or null"),
                    null_id(),
                ));
            }
        },
    };
    let answer_id = id.clone().unwrap_or_else(null_id);
    let version = envelope
        .jsonrpc
        .and_then(|v| serde_json::from_str::<String>(v.get()).ok());
    if version.as_deref() != Some("2.0") {
        return Err((
            RpcError::invalid_request("jsonrpc must be \"2.0\""),
            answer_id,
        ));
    }
    let method = envelope
        .method
        .and_then(|m| serde_json::from_str::<String>(m.get()).ok());
    let Some(method) = method else {
        return Err((
            RpcError::invalid_request("method must be a string"),
            answer_id,
        ));
    };
    let params = match envelope.params {
        None => None,
        Some(p) if p.get().trim_start().starts_with(['{', '[']) => {
            match serde_json::from_str::<Strict>(p.get()) {
                Ok(Strict(v)) => Some(v),
                Err(e) => return Err((RpcError::invalid_params(reason(&e)), answer_id)),
            }
        }
        Some(_) => {
            return Err((
                RpcError::invalid_request("params must be an object or an array"),
                answer_id,
            ));
        }
    };
    Ok(Call { id, method, params })
}

fn outcome(e: &RpcError) -> &str {
    match (e.kind(), e.code) {
        (Some(kind), _) => kind,
        (None, -32601) => "method_not_found",
        (None, -32602) => "invalid_params",
        (None, -32600) => "invalid_request",
        _ => "internal_error",
    }
}

/// What a request says about its caller.
pub enum Credentials {
    /// No `Authorization` header (or not a bearer one).
    None,
    /// One `Authorization: Bearer` token.
    Bearer(String),
    /// More than one `Authorization` header: no way to tell which counts.
    Conflicting,
}

/// Who is calling, resolved once per HTTP request.
pub struct Origin {
    pub credentials: Credentials,
    pub peer: Option<IpAddr>,
    /// A board node's signed request: the verified node, or why it failed.
    pub node: Option<Result<String, RpcError>>,
}

/// Where a body runs.
enum Route {
    /// On the async worker that read it.
    Here,
    /// On the blocking pool.
    Reads,
    /// On the write pool, whose threads mostly wait for the disk.
    Writes,
}

/// A lone lookup by a caller without a token, on an embedded database in
/// good health, runs here, its reads on the latest durable commit
/// ([`market_store::unwaiting`]): they wait neither for a commit under way
/// nor for the network (PostgreSQL), and a token is not resolved (that may
/// record its use, a write). Should it write after all, the wait for the
/// disk is the write pool's. A body with a call that changes state goes to
/// the write pool; the rest to the blocking pool.
fn route(shared: &Shared, body: &Body, origin: &Origin) -> Route {
    let kind = |item: &Item| match item {
        Item::Call(call) => shared.methods.get(&call.method).map(|d| d.kind),
        Item::Invalid(..) => None,
    };
    match body {
        Body::Single(item) => match kind(item) {
            Some(Kind::Write) => Route::Writes,
            Some(Kind::Lookup)
                if matches!(origin.credentials, Credentials::None) && (shared.local_reads)() =>
            {
                Route::Here
            }
            _ => Route::Reads,
        },
        Body::Batch(items) if items.iter().any(|i| kind(i) == Some(Kind::Write)) => Route::Writes,
        Body::Batch(_) => Route::Reads,
    }
}

/// Answer one HTTP body where [`route`] says.
pub async fn handle(shared: &Arc<Shared>, body: axum::body::Bytes, origin: Origin) -> Reply {
    let parsed = match parse(&body) {
        Ok(parsed) => parsed,
        Err(e) => return Reply::Json(error_response(RawValue::NULL, &e)),
    };
    drop(body);
    let pool = match route(shared, &parsed, &origin) {
        Route::Here => {
            let (reply, pending) =
                market_store::unwaiting(|| answer_calls(shared, parsed, &origin));
            if pending.is_empty() {
                return reply;
            }
            // Written after all: the wait for the disk is the write pool's.
            return run_on(shared.writes.handle(), move || durable(reply, pending)).await;
        }
        Route::Reads => tokio::runtime::Handle::current(),
        Route::Writes => shared.writes.handle(),
    };
    let shared = shared.clone();
    run_on(pool, move || answer_body(&shared, parsed, &origin)).await
}

/// Run `f` on `pool`'s blocking threads, in the current span.
async fn run_on(pool: tokio::runtime::Handle, f: impl FnOnce() -> Reply + Send + 'static) -> Reply {
    let span = tracing::Span::current();
    pool.spawn_blocking(move || {
        let _entered = span.enter();
        f()
    })
    .await
    .unwrap_or_else(|e| {
        tracing::error!(error = %e, "request task failed");
        Reply::Json(error_response(RawValue::NULL, &RpcError::internal()))
    })
}

/// Answer one body on this thread (the in-process endpoint).
pub fn answer_now(shared: &Shared, body: &[u8], origin: &Origin) -> Reply {
    match parse(body) {
        Ok(parsed) => answer_body(shared, parsed, origin),
        Err(e) => Reply::Json(error_response(RawValue::NULL, &e)),
    }
}

/// Answer the calls; writes made by them are durable before the reply
/// leaves (a failure to make them durable answers an internal error instead).
fn answer_body(shared: &Shared, parsed: Body, origin: &Origin) -> Reply {
    let (reply, pending) = market_store::deferred(|| answer_calls(shared, parsed, origin));
    durable(reply, pending)
}

/// `reply` once `pending` is durable, else an internal error.
fn durable(reply: Reply, pending: market_store::Pending) -> Reply {
    match pending.wait() {
        Ok(()) => reply,
        Err(e) => {
            tracing::error!(error = %e, "writes could not be made durable");
            Reply::Json(error_response(RawValue::NULL, &RpcError::internal()))
        }
    }
}

/// The error of a call whose answer would take the reply over its limit.
fn too_large(limit: usize) -> RpcError {
    RpcError::invalid_request(format!(
        "the answer would be over the limit of {limit} bytes; ask for fewer or smaller results"
    ))
    .with_data("limit_bytes", serde_json::json!(limit))
}

fn answer_calls(shared: &Shared, parsed: Body, origin: &Origin) -> Reply {
    let mut caller = None;
    let limit = shared.answer_limit;
    match parsed {
        Body::Batch(items) => {
            if items.is_empty() {
                return Reply::Json(error_response(
                    RawValue::NULL,
                    &RpcError::invalid_request("empty batch"),
                ));
            }
            if items.len() > shared.batch_limit {
                let e = RpcError::invalid_request(format!(
                    "batch of {} requests is over the limit of {}",
                    items.len(),
                    shared.batch_limit
                ));
                return Reply::Json(error_response(RawValue::NULL, &e));
            }
            // In order, one after the other: a batch may build on its own
            // earlier calls. Once the answer reaches its limit, the calls
            // left are not run and each gets an error instead.
            let mut out = vec![b'['];
            let mut full = false;
            for item in items {
                let reply = if full {
                    refuse(item, limit)
                } else {
                    let reply = answer(shared, item, origin, &mut caller);
                    match reply {
                        Some((r, id)) if out.len() + r.len() + 2 > limit => {
                            full = true;
                            Some(error_response(&id, &too_large(limit)))
                        }
                        other => other.map(|(r, _)| r),
                    }
                };
                if let Some(r) = reply {
                    if out.len() > 1 {
                        out.push(b',');
                    }
                    out.extend_from_slice(&r);
                }
            }
            if out.len() == 1 {
                return Reply::Nothing;
            }
            out.push(b']');
            Reply::Json(out)
        }
        Body::Single(item) => match answer(shared, item, origin, &mut caller) {
            Some((r, id)) if r.len() > limit => Reply::Json(error_response(&id, &too_large(limit))),
            Some((r, _)) => Reply::Json(r),
            None => Reply::Nothing,
        },
    }
}

/// The answer to a call left unrun because the reply is full (`None` for
/// a notification).
fn refuse(item: Item, limit: usize) -> Option<Vec<u8>> {
    match item {
        Item::Call(Call { id: None, .. }) => None,
        Item::Call(Call { id: Some(id), .. }) | Item::Invalid(_, id) => {
            Some(error_response(&id, &too_large(limit)))
        }
    }
}

/// Run one element; `None` for a notification, else the encoded response
/// and the id it answers. The caller is resolved on first need; an
/// authentication failure answers every request (but not notifications)
/// with that error.
fn answer(
    shared: &Shared,
    item: Item,
    origin: &Origin,
    caller: &mut Option<Result<Caller, RpcError>>,
) -> Option<(Vec<u8>, Box<RawValue>)> {
    let call = match item {
        Item::Call(call) => call,
        Item::Invalid(e, id) => return Some((error_response(&id, &e), id)),
    };
    let cached = caller.get_or_insert_with(|| match &origin.credentials {
        Credentials::None => Ok(Caller::Anonymous),
        Credentials::Bearer(token) => shared.authenticator.authenticate(Some(token)),
        Credentials::Conflicting => Err(RpcError::unauthenticated(
            "more than one Authorization header",
        )),
    });
    let Call { id, method, params } = call;
    let mutates = shared.methods.get(&method).is_some_and(MethodDef::mutates);
    let result = match (&*cached, &origin.node) {
        (_, Some(Err(e))) | (Err(e), _) => {
            // Refused before it ran, and still a call of the method.
            let refused = Err(e.clone());
            observe(shared, &method, &refused, Instant::now());
            refused
        }
        (Ok(who), node) => {
            let node = node.as_ref().and_then(|n| n.as_ref().ok()).cloned();
            run(shared, method, params, who.clone(), origin.peer, node)
        }
    };
    // A change (a logout, a suspension, new roles) may change who the token
    // is: the batch's next call resolves it again.
    if mutates {
        *caller = None;
    }
    let id = id?;
    let encoded = match &result {
        Ok(raw) => encode(&Response {
            jsonrpc: "2.0",
            result: Some(raw),
            error: None,
            id: &id,
        }),
        Err(e) => error_response(&id, e),
    };
    Some((encoded, id))
}

fn run(
    shared: &Shared,
    method: String,
    params: Option<Value>,
    caller: Caller,
    peer: Option<IpAddr>,
    node: Option<String>,
) -> Result<Box<RawValue>, RpcError> {
    let started = Instant::now();
    let request_id = ulid::Ulid::generate().to_string();
    let span = tracing::info_span!("call", request_id = %request_id, method = %method);
    let _entered = span.enter();
    let mut ctx = Ctx::new(request_id, method, caller);
    ctx.peer = peer;
    ctx.node = node;
    let result = shared.limits.check(&ctx).and_then(|()| {
        std::panic::catch_unwind(AssertUnwindSafe(|| shared.methods.call(&ctx, params)))
            .unwrap_or_else(|_| {
                tracing::error!("handler panicked");
                Err(RpcError::internal())
            })
    });
    observe(shared, &ctx.method, &result, started);
    result
}

/// Count one call: under its method's name if the method exists (unknown
/// names would let clients grow the label set without bound).
fn observe(
    shared: &Shared,
    method: &str,
    result: &Result<Box<RawValue>, RpcError>,
    started: Instant,
) {
    let out = match result {
        Ok(_) => "ok",
        Err(e) => outcome(e),
    };
    let label = if shared.methods.get(method).is_some() {
        method
    } else {
        "unknown"
    };
    shared
        .metrics
        .observe_call(label, out, started.elapsed().as_secs_f64());
}
