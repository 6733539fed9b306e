//! The bare baseline the benchmarks measure the marketplace against: axum
//! and serde_json answering `product.get` from an in-memory map, with the
//! same JSON-RPC envelope and nothing else. Shared by the in-process bench
//! (`benches/rpc.rs`) and the baseline process of the outside bench
//! (`examples/bench_baseline.rs`).

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

/// `POST /rpc` answering `product.get` from `catalog` (products by id).
pub fn router(catalog: HashMap<String, Value>) -> Router {
    Router::new()
        .route("/rpc", post(rpc))
        .with_state(Arc::new(catalog))
}

async fn rpc(State(catalog): State<Arc<HashMap<String, Value>>>, body: Bytes) -> Response {
    let reply = match serde_json::from_slice::<Value>(&body) {
        Err(e) => rpc_error(Value::Null, -32700, &format!("parse error: {e}")),
        Ok(request) => {
            let id = request.get("id").cloned().unwrap_or(Value::Null);
            if request.get("method").and_then(Value::as_str) != Some("product.get") {
                rpc_error(id, -32601, "method not found")
            } else {
                match request.pointer("/params/id").and_then(Value::as_str) {
                    None => rpc_error(id, -32602, "params.id must be a string"),
                    Some(key) => match catalog.get(key) {
                        Some(product) => json!({"jsonrpc": "2.0", "result": product, "id": id}),
                        None => rpc_error(id, 4040, "product not found"),
                    },
                }
            }
        }
    };
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::to_vec(&reply).unwrap_or_default(),
    )
        .into_response()
}

fn rpc_error(id: Value, code: i64, message: &str) -> Value {
    json!({"jsonrpc": "2.0", "error": {"code": code, "message": message}, "id": id})
}
