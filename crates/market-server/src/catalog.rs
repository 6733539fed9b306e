//! `GET /catalog/...`: plain, cacheable reads of the worker and model
//! catalog for static-site builds. Each route calls a public `catalog.*`
//! method through the method table, as an anonymous caller, and answers its
//! JSON with a strong `ETag` (SHA-256 of the body), `Cache-Control`, and 304
//! when `If-None-Match` names the current tag. `/catalog/models` says
//! `X-Cache: STALE` when part of its answer is a mirror's last good copy of
//! a failing upstream (`FRESH` otherwise).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use market_rpc::{Caller, Ctx, RpcError};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::Shared;

/// How long caches may keep an answer.
const CACHE_CONTROL: &str = "public, max-age=60";

/// Query params each route reads, and how.
#[derive(Clone, Copy)]
enum Kind {
    Text,
    Number,
    Flag,
}

fn params(
    query: &BTreeMap<String, String>,
    allowed: &[(&str, Kind)],
) -> Result<Map<String, Value>, String> {
    let mut out = Map::new();
    for (name, value) in query {
        let Some((_, kind)) = allowed.iter().find(|(n, _)| n == name) else {
            return Err(format!("unknown query parameter {name:?}"));
        };
        if value.is_empty() {
            continue;
        }
        let v = match kind {
            Kind::Text => Value::String(value.clone()),
            Kind::Number => Value::from(
                value
                    .parse::<u64>()
                    .map_err(|_| format!("{name} must be a whole number"))?,
            ),
            Kind::Flag => match value.as_str() {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                _ => return Err(format!("{name} must be true or false")),
            },
        };
        out.insert(name.clone(), v);
    }
    Ok(out)
}

fn status_of(e: &RpcError) -> StatusCode {
    match e.kind() {
        Some("not_found") => StatusCode::NOT_FOUND,
        Some("invalid_input") => StatusCode::BAD_REQUEST,
        Some("rate_limited") => StatusCode::TOO_MANY_REQUESTS,
        _ if e.code == -32602 => StatusCode::BAD_REQUEST,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

fn error_response(status: StatusCode, error: Value) -> Response {
    let body = serde_json::json!({ "error": error }).to_string();
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

fn bad_request(message: String) -> Response {
    error_response(
        StatusCode::BAD_REQUEST,
        serde_json::json!({"code": -32602, "message": message}),
    )
}

/// Call a `catalog.*` method on the blocking pool.
async fn call(
    shared: &Arc<Shared>,
    method: &'static str,
    params: Map<String, Value>,
) -> Result<Value, Response> {
    shared.metrics.observe_http();
    let shared = shared.clone();
    let result = tokio::task::spawn_blocking(move || {
        let ctx = Ctx::new(
            ulid::Ulid::generate().to_string(),
            method,
            Caller::Anonymous,
        );
        shared.methods.call(&ctx, Some(Value::Object(params)))
    })
    .await;
    match result {
        Ok(Ok(raw)) => serde_json::from_str(raw.get()).map_err(|_| {
            error_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                RpcError::internal().to_json(),
            )
        }),
        Ok(Err(e)) => {
            if e.is_internal() {
                tracing::error!(method, "catalog read failed");
            }
            Err(error_response(status_of(&e), e.to_json()))
        }
        Err(_) => Err(error_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            RpcError::internal().to_json(),
        )),
    }
}

fn etag_of(body: &[u8]) -> String {
    let digest = Sha256::digest(body);
    format!("\"{}\"", hex::encode(&digest[..16]))
}

/// Does `If-None-Match` name this tag (or `*`)?
fn not_modified(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == etag || t == "*")
}

/// A cacheable answer: 200 with the body, or 304 without one.
fn cached(
    headers: &HeaderMap,
    content_type: &'static str,
    body: Vec<u8>,
    x_cache: Option<&'static str>,
) -> Response {
    let etag = etag_of(&body);
    let mut response = if not_modified(headers, &etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (StatusCode::OK, [(header::CONTENT_TYPE, content_type)], body).into_response()
    };
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(CACHE_CONTROL),
    );
    if let Some(x) = x_cache {
        h.insert("x-cache", HeaderValue::from_static(x));
    }
    response
}

fn json_bytes(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_default()
}

/// `{items, next_cursor}` of a page, whatever else it carries.
fn page_body(v: &Value) -> Value {
    serde_json::json!({"items": v["items"], "next_cursor": v["next_cursor"]})
}

pub(crate) async fn workers(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let p = match params(&query, &[("limit", Kind::Number), ("cursor", Kind::Text)]) {
        Ok(p) => p,
        Err(e) => return bad_request(e),
    };
    match call(&shared, "catalog.workers", p).await {
        Ok(v) => cached(
            &headers,
            "application/json",
            json_bytes(&page_body(&v)),
            None,
        ),
        Err(r) => r,
    }
}

async fn worker_of(shared: &Arc<Shared>, id: String) -> Result<Value, Response> {
    let mut p = Map::new();
    p.insert("id".into(), Value::String(id));
    call(shared, "catalog.worker", p).await
}

pub(crate) async fn worker(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    match worker_of(&shared, id).await {
        Ok(v) => cached(&headers, "application/json", json_bytes(&v), None),
        Err(r) => r,
    }
}

pub(crate) async fn pkgbuild(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    match worker_of(&shared, id).await {
        Ok(v) => match v["attributes"]["pkgbuild"].as_str() {
            Some(text) => cached(
                &headers,
                "text/plain; charset=utf-8",
                text.as_bytes().to_vec(),
                None,
            ),
            None => error_response(
                StatusCode::NOT_FOUND,
                RpcError::not_found("this worker has no PKGBUILD").to_json(),
            ),
        },
        Err(r) => r,
    }
}

pub(crate) async fn models(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let allowed = [
        ("source", Kind::Text),
        ("limit", Kind::Number),
        ("cursor", Kind::Text),
        ("nsfw", Kind::Flag),
    ];
    let p = match params(&query, &allowed) {
        Ok(p) => p,
        Err(e) => return bad_request(e),
    };
    match call(&shared, "catalog.models", p).await {
        Ok(v) => {
            let x_cache = if v["stale"] == true { "STALE" } else { "FRESH" };
            cached(
                &headers,
                "application/json",
                json_bytes(&page_body(&v)),
                Some(x_cache),
            )
        }
        Err(r) => r,
    }
}
