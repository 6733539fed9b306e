//! The JSON-RPC 2.0 envelope: single requests, batches, notifications and
//! every standard error, on top of the one method table.
//!
//! Wire rules (SPEC 4 and 10): every reply is HTTP 200, except a request
//! made only of notifications (204, empty body) and a body over the limit
//! (413, decided before this module); a batch over the limit is answered by
//! one `-32600` error object. One HTTP request is one task on the blocking
//! pool: parsing, authentication, every call of a batch (in order) and the
//! encoding of the reply run there, never on the async workers (only the
//! JSON is parsed before, to pick the pool). Bodies that change state go to
//! a separate write pool whose threads then wait for their writes to be
//! durable: many wait at once, so one flush covers many writes, while reads
//! keep the small pool that suits short CPU-bound calls.

use std::net::IpAddr;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Instant;

use market_rpc::{Caller, Ctx, RpcError};
use serde::Serialize;
use serde_json::Value;
use serde_json::value::RawValue;

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
    id: &'a Value,
}

fn encode(r: &Response<'_>) -> Vec<u8> {
    serde_json::to_vec(r).unwrap_or_else(|_| {
        br#"{"jsonrpc":"2.0","error":{"code":-32603,"message":"internal error"},"id":null}"#
            .to_vec()
    })
}

fn error_response(id: &Value, e: &RpcError) -> Vec<u8> {
    encode(&Response {
        jsonrpc: "2.0",
        result: None,
        error: Some(e.to_json()),
        id,
    })
}

/// A well-formed request; `id: None` means a notification.
struct Call {
    id: Option<Value>,
    method: String,
    params: Option<Value>,
}

/// Check one request object; on failure the error and the id to answer with.
fn validate(v: Value) -> Result<Call, (RpcError, Value)> {
    let Value::Object(mut obj) = v else {
        return Err((
            RpcError::invalid_request("a request must be an object"),
            Value::Null,
        ));
    };
    let id = obj.remove("id");
    let answer_id = match &id {
        Some(v @ (Value::String(_) | Value::Number(_) | Value::Null)) => v.clone(),
        Some(_) => {
            return Err((
                RpcError::invalid_request("id must be a string, a number or null"),
                Value::Null,
            ));
        }
        None => Value::Null,
    };
    if obj.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Err((
            RpcError::invalid_request("jsonrpc must be \"2.0\""),
            answer_id,
        ));
    }
    let method = match obj.remove("method") {
        Some(Value::String(m)) => m,
        _ => {
            return Err((
                RpcError::invalid_request("method must be a string"),
                answer_id,
            ));
        }
    };
    let params = match obj.remove("params") {
        None => None,
        Some(p @ (Value::Object(_) | Value::Array(_))) => Some(p),
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

/// Who is calling, resolved once per HTTP request.
pub struct Origin {
    pub token: Option<String>,
    pub peer: Option<IpAddr>,
    /// A board node's signed request: the verified node, or why it failed.
    pub node: Option<Result<String, RpcError>>,
}

/// Does the body hold a call to a method that changes state?
fn writes(shared: &Shared, parsed: &Value) -> bool {
    let mutates = |call: &Value| {
        call.get("method")
            .and_then(Value::as_str)
            .and_then(|m| shared.methods.get(m))
            .is_some_and(|d| d.mutates)
    };
    match parsed {
        Value::Array(items) => items.iter().any(mutates),
        call => mutates(call),
    }
}

/// Answer one HTTP body. The JSON is parsed here; the calls run on a
/// blocking pool: the small one for reads, the write pool for bodies that
/// change state (those threads mostly wait for the disk).
pub async fn handle(shared: &Arc<Shared>, body: axum::body::Bytes, origin: Origin) -> Reply {
    let parsed: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return Reply::Json(error_response(&Value::Null, &RpcError::parse_error(e))),
    };
    drop(body);
    let pool = if writes(shared, &parsed) {
        shared.writes.handle()
    } else {
        tokio::runtime::Handle::current()
    };
    let shared = shared.clone();
    let span = tracing::Span::current();
    pool.spawn_blocking(move || {
        let _entered = span.enter();
        answer_body(&shared, parsed, &origin)
    })
    .await
    .unwrap_or_else(|e| {
        tracing::error!(error = %e, "request task failed");
        Reply::Json(error_response(&Value::Null, &RpcError::internal()))
    })
}

/// Answer the calls; writes made by them are durable before the reply
/// leaves (a failure to make them durable answers an internal error instead).
fn answer_body(shared: &Shared, parsed: Value, origin: &Origin) -> Reply {
    let (reply, pending) = market_store::deferred(|| answer_calls(shared, parsed, origin));
    match pending.wait() {
        Ok(()) => reply,
        Err(e) => {
            tracing::error!(error = %e, "writes could not be made durable");
            Reply::Json(error_response(&Value::Null, &RpcError::internal()))
        }
    }
}

fn answer_calls(shared: &Shared, parsed: Value, origin: &Origin) -> Reply {
    let mut caller = None;
    match parsed {
        Value::Array(items) => {
            if items.is_empty() {
                return Reply::Json(error_response(
                    &Value::Null,
                    &RpcError::invalid_request("empty batch"),
                ));
            }
            if items.len() > shared.batch_limit {
                let e = RpcError::invalid_request(format!(
                    "batch of {} requests is over the limit of {}",
                    items.len(),
                    shared.batch_limit
                ));
                return Reply::Json(error_response(&Value::Null, &e));
            }
            // In order, one after the other: a batch may build on its own earlier calls.
            let replies: Vec<Vec<u8>> = items
                .into_iter()
                .filter_map(|item| answer(shared, item, origin, &mut caller))
                .collect();
            if replies.is_empty() {
                return Reply::Nothing;
            }
            let mut out =
                Vec::with_capacity(replies.iter().map(|r| r.len() + 1).sum::<usize>() + 1);
            out.push(b'[');
            for (i, r) in replies.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(r);
            }
            out.push(b']');
            Reply::Json(out)
        }
        single => match answer(shared, single, origin, &mut caller) {
            Some(r) => Reply::Json(r),
            None => Reply::Nothing,
        },
    }
}

/// Validate and run one element; `None` for a notification. The caller is
/// resolved on first need; an authentication failure answers every request
/// (but not notifications) with that error.
fn answer(
    shared: &Shared,
    item: Value,
    origin: &Origin,
    caller: &mut Option<Result<Caller, RpcError>>,
) -> Option<Vec<u8>> {
    let call = match validate(item) {
        Ok(call) => call,
        Err((e, id)) => return Some(error_response(&id, &e)),
    };
    let cached = caller.get_or_insert_with(|| match &origin.token {
        None => Ok(Caller::Anonymous),
        Some(token) => shared.authenticator.authenticate(Some(token)),
    });
    let Call { id, method, params } = call;
    let mutates = shared.methods.get(&method).is_some_and(|d| d.mutates);
    let result = match (&*cached, &origin.node) {
        (_, Some(Err(e))) | (Err(e), _) => Err(e.clone()),
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
    Some(match &result {
        Ok(raw) => encode(&Response {
            jsonrpc: "2.0",
            result: Some(raw),
            error: None,
            id: &id,
        }),
        Err(e) => error_response(&id, e),
    })
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
    let known = shared.methods.get(&method).is_some();
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
    let out = match &result {
        Ok(_) => "ok",
        Err(e) => outcome(e),
    };
    let label = if known {
        ctx.method.as_str()
    } else {
        "unknown"
    };
    shared
        .metrics
        .observe_call(label, out, started.elapsed().as_secs_f64());
    result
}
