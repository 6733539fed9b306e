//! The JSON-RPC 2.0 envelope: single requests, batches, notifications and
//! every standard error, on top of the one method table.
//!
//! Wire rules (SPEC 4 and 10): every reply is HTTP 200, except a request
//! made only of notifications (204, empty body), a body over the limit (413)
//! and nothing else; a batch over the limit is answered by one `-32600`
//! error object. Each call runs on the blocking pool.

use std::sync::Arc;
use std::time::Instant;

use market_rpc::{Caller, Ctx, RpcError};
use serde_json::{Value, json};
use tracing::Instrument;

use crate::Shared;

/// What goes back over HTTP.
pub enum Reply {
    /// 204: nothing to answer (only notifications).
    Nothing,
    /// 200 with this JSON body.
    Json(Value),
}

/// A well-formed request; `id: None` means a notification.
struct Call {
    id: Option<Value>,
    method: String,
    params: Option<Value>,
}

fn error_response(id: Value, e: &RpcError) -> Value {
    json!({ "jsonrpc": "2.0", "error": e.to_json(), "id": id })
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

/// Run one call on the blocking pool; `None` for a notification.
async fn run(
    shared: &Arc<Shared>,
    call: Call,
    caller: &Caller,
    peer: Option<std::net::IpAddr>,
) -> Option<Value> {
    let started = Instant::now();
    let request_id = ulid::Ulid::generate().to_string();
    let span = tracing::info_span!("call", request_id = %request_id, method = %call.method);
    let mut ctx = Ctx::new(request_id, call.method, caller.clone());
    ctx.peer = peer;
    let label = if shared.methods.get(&ctx.method).is_some() {
        ctx.method.clone()
    } else {
        "unknown".to_string()
    };
    let worker = shared.clone();
    let blocking_span = span.clone();
    let params = call.params;
    let result = tokio::task::spawn_blocking(move || {
        let _entered = blocking_span.enter();
        worker.methods.call(&ctx, params)
    })
    .instrument(span.clone())
    .await
    .unwrap_or_else(|panic| {
        span.in_scope(|| tracing::error!(error = %panic, "handler panicked"));
        Err(RpcError::internal())
    });
    let out = match &result {
        Ok(_) => "ok",
        Err(e) => outcome(e),
    };
    shared
        .metrics
        .observe_call(&label, out, started.elapsed().as_secs_f64());
    let id = call.id?;
    Some(match result {
        Ok(value) => json!({ "jsonrpc": "2.0", "result": value, "id": id }),
        Err(e) => error_response(id, &e),
    })
}

/// Answer one HTTP body.
pub async fn handle(
    shared: &Arc<Shared>,
    body: &[u8],
    caller: Result<Caller, RpcError>,
    peer: Option<std::net::IpAddr>,
) -> Reply {
    let parsed: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return Reply::Json(error_response(Value::Null, &RpcError::parse_error(e))),
    };
    match parsed {
        Value::Array(items) => {
            if items.is_empty() {
                return Reply::Json(error_response(
                    Value::Null,
                    &RpcError::invalid_request("empty batch"),
                ));
            }
            if items.len() > shared.batch_limit {
                let e = RpcError::invalid_request(format!(
                    "batch of {} requests is over the limit of {}",
                    items.len(),
                    shared.batch_limit
                ));
                return Reply::Json(error_response(Value::Null, &e));
            }
            // In order, one after the other: a batch may build on its own earlier calls.
            let mut replies = Vec::new();
            for item in items {
                if let Some(r) = answer(shared, item, &caller, peer).await {
                    replies.push(r);
                }
            }
            if replies.is_empty() {
                Reply::Nothing
            } else {
                Reply::Json(Value::Array(replies))
            }
        }
        single => match answer(shared, single, &caller, peer).await {
            Some(r) => Reply::Json(r),
            None => Reply::Nothing,
        },
    }
}

/// Validate and run one element; the caller's auth failure answers every
/// request (but not notifications) with that error.
fn answer<'a>(
    shared: &'a Arc<Shared>,
    item: Value,
    caller: &'a Result<Caller, RpcError>,
    peer: Option<std::net::IpAddr>,
) -> impl Future<Output = Option<Value>> + 'a {
    let validated = validate(item);
    async move {
        let call = match validated {
            Ok(call) => call,
            Err((e, id)) => return Some(error_response(id, &e)),
        };
        match caller {
            Ok(caller) => run(shared, call, caller, peer).await,
            Err(e) => call.id.map(|id| error_response(id, e)),
        }
    }
}
