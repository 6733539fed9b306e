//! The server over a real socket: the JSON-RPC 2.0 specification's own
//! examples adapted to real methods, the HTTP surface and the limits.

// Tests fail by panicking: unwrap, expect and panic are how they assert.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use market_server::ServerConfig;
use market_store::{Actor, Db, ManualClock, RedbBackend};
use market_testkit::{TestServer, get};
use serde_json::{Value, json};

struct Env {
    server: TestServer,
    db: Arc<Db>,
    _dir: tempfile::TempDir,
}

fn start(config: ServerConfig) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let backend = RedbBackend::open(&dir.path().join("t.redb")).unwrap();
    let clock = Arc::new(ManualClock::new("2026-01-01T00:00:00Z".parse().unwrap()));
    let db = Arc::new(Db::new(Arc::new(backend), clock));
    let (_, api) = market_testkit::marketplace(db.clone(), market_core::AppConfig::default());
    Env {
        server: TestServer::start(api, config),
        db,
        _dir: dir,
    }
}

fn env() -> Env {
    start(ServerConfig::default())
}

fn insert_product(db: &Db, name: &str, status: market_core::ProductStatus) -> market_core::Product {
    db.write(&Actor::system("test"), |tx| {
        let mut p = market_core::Product {
            name: name.into(),
            description: "a test product".into(),
            price: "12.50".parse().unwrap(),
            status,
            ..Default::default()
        };
        tx.insert(&mut p)?;
        Ok::<_, market_store::StoreError>(p)
    })
    .unwrap()
}

#[test]
fn a_call_answers_with_its_result_and_id() {
    let e = env();
    let body = r#"{"jsonrpc": "2.0", "method": "system.health", "params": {}, "id": 1}"#;
    let reply = e.server.client().post_raw(body);
    assert_eq!(reply.status, 200);
    assert!(reply.content_type.starts_with("application/json"));
    let v = reply.json();
    assert_eq!(v["jsonrpc"], "2.0");
    assert_eq!(v["id"], 1);
    assert_eq!(v["result"]["status"], "ok");
    assert_eq!(v["result"]["db"], "ok");
    assert_eq!(v["result"]["version"], market_core::VERSION);
    // string ids and null ids come back as sent; params may be omitted
    let v = e
        .server
        .client()
        .post_raw(r#"{"jsonrpc":"2.0","method":"system.version","id":"abc"}"#)
        .json();
    assert_eq!(v["id"], "abc");
    assert_eq!(v["result"]["name"], "marketplace");
    let v = e
        .server
        .client()
        .post_raw(r#"{"jsonrpc":"2.0","method":"system.version","id":null}"#)
        .json();
    assert_eq!(v["id"], Value::Null);
    assert!(v.get("result").is_some());
}

#[test]
fn the_compat_path_serves_the_same_methods() {
    let e = env();
    let c = market_testkit::Client::new(&e.server.url("/api/v1/marketplace/main/rpc"));
    assert_eq!(c.ok("system.health", json!({}))["status"], "ok");
}

#[test]
fn notifications_get_no_response() {
    let e = env();
    let reply = e
        .server
        .client()
        .post_raw(r#"{"jsonrpc": "2.0", "method": "system.health", "params": {}}"#);
    assert_eq!(reply.status, 204);
    assert_eq!(reply.body, "");
    // a notification of an unknown method is silent too
    let reply = e
        .server
        .client()
        .post_raw(r#"{"jsonrpc": "2.0", "method": "foobar"}"#);
    assert_eq!(reply.status, 204);
    // a batch of notifications only
    let reply = e.server.client().post_raw(
        r#"[{"jsonrpc": "2.0", "method": "system.health", "params": {}}, {"jsonrpc": "2.0", "method": "system.version"}]"#,
    );
    assert_eq!(reply.status, 204);
    assert_eq!(reply.body, "");
}

#[test]
fn unknown_methods_are_method_not_found() {
    let e = env();
    let v = e
        .server
        .client()
        .post_raw(r#"{"jsonrpc": "2.0", "method": "foobar", "id": "1"}"#)
        .json();
    assert_eq!(v["error"]["code"], -32601);
    assert_eq!(v["id"], "1");
}

#[test]
fn invalid_json_is_a_parse_error() {
    let e = env();
    let reply = e
        .server
        .client()
        .post_raw(r#"{"jsonrpc": "2.0", "method": "foobar, "params": "bar", "baz]"#);
    assert_eq!(reply.status, 200);
    let v = reply.json();
    assert_eq!(v["error"]["code"], -32700);
    assert_eq!(v["id"], Value::Null);
    // a broken batch is one parse error, not an array
    let v = e
        .server
        .client()
        .post_raw(
            r#"[
        {"jsonrpc": "2.0", "method": "sum", "params": [1,2,4], "id": "1"},
        {"jsonrpc": "2.0", "method"
    ]"#,
        )
        .json();
    assert_eq!(v["error"]["code"], -32700);
}

#[test]
fn malformed_requests_are_invalid_request() {
    let e = env();
    let v = e
        .server
        .client()
        .post_raw(r#"{"jsonrpc": "2.0", "method": 1, "params": "bar"}"#)
        .json();
    assert_eq!(v["error"]["code"], -32600);
    assert_eq!(v["id"], Value::Null);
    for body in [
        r#"{"method": "system.health", "id": 1}"#,
        r#"{"jsonrpc": "1.0", "method": "system.health", "id": 1}"#,
        r#"{"jsonrpc": "2.0", "method": "system.health", "params": 3, "id": 1}"#,
        r#"{"jsonrpc": "2.0", "method": "system.health", "id": {"a": 1}}"#,
        r#"42"#,
    ] {
        let v = e.server.client().post_raw(body).json();
        assert_eq!(v["error"]["code"], -32600, "{body}");
    }
}

#[test]
fn empty_and_junk_batches() {
    let e = env();
    let v = e.server.client().post_raw("[]").json();
    assert!(v.is_object(), "an empty batch gets one error object: {v}");
    assert_eq!(v["error"]["code"], -32600);
    assert_eq!(v["id"], Value::Null);

    let v = e.server.client().post_raw("[1]").json();
    let items = v.as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["error"]["code"], -32600);

    let v = e.server.client().post_raw("[1,2,3]").json();
    let items = v.as_array().unwrap();
    assert_eq!(items.len(), 3);
    assert!(
        items
            .iter()
            .all(|i| i["error"]["code"] == -32600 && i["id"].is_null())
    );
}

#[test]
fn a_mixed_batch_answers_each_request_but_not_notifications() {
    let e = env();
    let p = insert_product(&e.db, "Gateway", market_core::ProductStatus::Active);
    let body = json!([
        {"jsonrpc": "2.0", "method": "system.health", "params": {}, "id": "1"},
        {"jsonrpc": "2.0", "method": "system.version", "params": {}},
        {"jsonrpc": "2.0", "method": "product.get", "params": {"id": p.id.to_string()}, "id": "2"},
        {"foo": "boo"},
        {"jsonrpc": "2.0", "method": "foo.get", "params": {"name": "myself"}, "id": "5"},
        {"jsonrpc": "2.0", "method": "product.get", "params": {"id": "nope"}, "id": "9"}
    ]);
    let v = e.server.client().post_raw(&body.to_string()).json();
    let items = v.as_array().unwrap();
    assert_eq!(items.len(), 5, "{v}");
    let by_id = |id: &str| items.iter().find(|i| i["id"] == id).unwrap().clone();
    assert_eq!(by_id("1")["result"]["status"], "ok");
    assert_eq!(by_id("2")["result"]["name"], "Gateway");
    assert_eq!(by_id("2")["result"]["price"], "12.50");
    assert_eq!(by_id("5")["error"]["code"], -32601);
    assert_eq!(by_id("9")["error"]["code"], 4000);
    assert_eq!(by_id("9")["error"]["data"]["kind"], "invalid_input");
    assert!(by_id("9")["error"]["data"]["fields"]["id"].is_string());
    let invalid: Vec<&Value> = items.iter().filter(|i| i["id"].is_null()).collect();
    assert_eq!(invalid.len(), 1);
    assert_eq!(invalid[0]["error"]["code"], -32600);
}

#[test]
fn batches_over_the_limit_get_one_error_object() {
    let e = start(ServerConfig {
        batch_limit: 3,
        ..ServerConfig::default()
    });
    let call = json!({"jsonrpc": "2.0", "method": "system.version", "id": 1});
    let three = Value::Array(vec![call.clone(); 3]);
    assert_eq!(
        e.server
            .client()
            .post_raw(&three.to_string())
            .json()
            .as_array()
            .unwrap()
            .len(),
        3
    );
    let four = Value::Array(vec![call; 4]);
    let v = e.server.client().post_raw(&four.to_string()).json();
    assert!(v.is_object());
    assert_eq!(v["error"]["code"], -32600);

    let e = env();
    let call = json!({"jsonrpc": "2.0", "method": "system.version", "id": 1});
    let v = e
        .server
        .client()
        .post_raw(&Value::Array(vec![call.clone(); 100]).to_string())
        .json();
    assert_eq!(v.as_array().unwrap().len(), 100);
    let v = e
        .server
        .client()
        .post_raw(&Value::Array(vec![call; 101]).to_string())
        .json();
    assert_eq!(v["error"]["code"], -32600);
}

#[test]
fn bodies_over_the_limit_are_413() {
    let e = env();
    let big = format!(
        r#"{{"jsonrpc":"2.0","method":"system.health","params":{{"pad":"{}"}},"id":1}}"#,
        "x".repeat(1024 * 1024)
    );
    assert_eq!(e.server.client().post_raw(&big).status, 413);
    // just under the limit is read, and the unknown param is refused as -32602
    let small = format!(
        r#"{{"jsonrpc":"2.0","method":"system.health","params":{{"pad":"{}"}},"id":1}}"#,
        "x".repeat(1000)
    );
    let v = e.server.client().post_raw(&small).json();
    assert_eq!(v["error"]["code"], -32602);
}

#[test]
fn params_errors_are_told_apart() {
    let e = env();
    let c = e.server.client();
    // structural: missing, wrong JSON type, unknown name, positional
    assert_eq!(c.err("product.get", json!({})).0, -32602);
    assert_eq!(c.err("product.get", json!({"id": 5})).0, -32602);
    let id = e.db.new_id().to_string();
    assert_eq!(
        c.err("product.get", json!({"id": id, "extra": true})).0,
        -32602
    );
    let v = c
        .post_raw(r#"{"jsonrpc":"2.0","method":"product.get","params":["x"],"id":1}"#)
        .json();
    assert_eq!(v["error"]["code"], -32602);
    // a value that breaks the schema
    assert_eq!(
        c.err("product.get", json!({"id": "not-a-ulid"})),
        (4000, "invalid_input".into())
    );
    // a valid id that does not exist
    assert_eq!(
        c.err("product.get", json!({"id": id})),
        (4040, "not_found".into())
    );
}

#[test]
fn product_get_hides_drafts_from_the_public() {
    let e = env();
    let active = insert_product(&e.db, "Active", market_core::ProductStatus::Active);
    let draft = insert_product(&e.db, "Draft", market_core::ProductStatus::Draft);
    let c = e.server.client();
    let got = c.ok("product.get", json!({"id": active.id.to_string()}));
    assert_eq!(got["id"], active.id.to_string());
    assert_eq!(got["version"], 1);
    assert_eq!(got["status"], "active");
    assert_eq!(got["created_at"], "2026-01-01T00:00:00Z");
    assert_eq!(
        c.err("product.get", json!({"id": draft.id.to_string()})).1,
        "not_found"
    );
}

#[test]
fn a_bad_token_is_unauthenticated() {
    let e = env();
    let c = e.server.client().with_token("not-a-real-token");
    assert_eq!(
        c.err("system.health", json!({})),
        (4010, "unauthenticated".into())
    );
}

#[test]
fn discovery_docs_health_and_metrics() {
    let e = env();
    let doc = get(&e.server, "/openrpc.json");
    assert_eq!(doc.status, 200);
    let doc = doc.json();
    assert_eq!(doc["openrpc"], "1.3.2");
    let names: Vec<&str> = doc["methods"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["name"].as_str())
        .collect();
    assert!(
        names.contains(&"product.get") && names.contains(&"system.health"),
        "{names:?}"
    );
    let discovered = e.server.client().ok("rpc.discover", json!({}));
    assert_eq!(discovered, doc);
    let get_method = doc["methods"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "product.get")
        .unwrap();
    assert_eq!(
        get_method["x-access"],
        json!({"level": "public", "roles": []})
    );

    let html = get(&e.server, "/doc");
    assert_eq!(html.status, 200);
    assert!(html.content_type.starts_with("text/html"));
    assert!(html.body.contains("product.get"));

    assert_eq!(get(&e.server, "/healthz").json(), json!({"status": "ok"}));
    assert_eq!(get(&e.server, "/readyz").status, 200);

    e.server.client().ok("system.health", json!({}));
    e.server.client().post_raw(r#"[{"jsonrpc":"2.0","method":"system.version","id":1},{"jsonrpc":"2.0","method":"nope","id":2}]"#);
    let metrics = get(&e.server, "/metrics");
    assert_eq!(metrics.status, 200);
    assert!(
        metrics
            .body
            .contains(r#"rpc_calls_total{method="system.health",outcome="ok"} 1"#),
        "{}",
        metrics.body
    );
    assert!(
        metrics
            .body
            .contains(r#"rpc_calls_total{method="system.version",outcome="ok"} 1"#)
    );
    assert!(
        metrics
            .body
            .contains(r#"rpc_calls_total{method="unknown",outcome="method_not_found"} 1"#)
    );
    assert!(metrics.body.contains("rpc_call_duration_seconds_bucket"));
}
