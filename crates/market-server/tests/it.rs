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

/// The endpoint and the router in-process, over a small API made by hand:
/// the envelope, authentication, answer limits, readiness and metrics, with
/// no domain and no socket.
mod in_process {
    use std::collections::HashSet;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    use axum::Router;
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use http_body_util::BodyExt;
    use market_rpc::{Access, Caller, Ctx, Kind, MethodDef, Methods, Principal, RpcError};
    use market_server::{Api, Authenticator, Endpoint, ServerConfig};
    use serde_json::{Value, json};
    use tower::ServiceExt;

    const ALICE: &str = "01J0000000000000000000000A";
    const ROOT: &str = "01J0000000000000000000000C";

    /// Tokens are names: `alice` (a customer, until `session.logout`
    /// revokes her token) and `root` (an admin).
    #[derive(Default)]
    struct Tokens {
        revoked: Mutex<HashSet<String>>,
        lookups: AtomicUsize,
    }

    fn principal(id: &str, role: &str) -> Result<Caller, RpcError> {
        Ok(Caller::User(Principal {
            user_id: id.parse().map_err(|_| RpcError::internal())?,
            roles: vec![role.to_string()],
            token_id: None,
            api_key: false,
        }))
    }

    impl Authenticator for Tokens {
        fn authenticate(&self, token: Option<&str>) -> Result<Caller, RpcError> {
            self.lookups.fetch_add(1, Ordering::SeqCst);
            let revoked = self.revoked.lock().map_err(|_| RpcError::internal())?;
            match token {
                None => Ok(Caller::Anonymous),
                Some(t) if revoked.contains(t) => {
                    Err(RpcError::unauthenticated("this token was revoked"))
                }
                Some("alice") => principal(ALICE, "customer"),
                Some("root") => principal(ROOT, "admin"),
                Some(_) => Err(RpcError::unauthenticated("unknown token")),
            }
        }
    }

    #[derive(Default)]
    struct Fixture {
        tokens: Arc<Tokens>,
        /// Handler runs, every method together.
        runs: Arc<AtomicUsize>,
        ready: Arc<AtomicBool>,
    }

    impl Fixture {
        fn runs(&self) -> usize {
            self.runs.load(Ordering::SeqCst)
        }

        fn lookups(&self) -> usize {
            self.tokens.lookups.load(Ordering::SeqCst)
        }

        /// `echo.say {text}` answers `{text}`; `echo.whoami` (user) the
        /// caller's id; `echo.admin` (admin) `"yes"`; `echo.big {size}` a
        /// string of `size` bytes; `echo.fail` a params error;
        /// `session.logout` (user, mutating) revokes `alice`.
        fn api(&self) -> Api {
            let mut methods = Methods::new();
            let mut add =
                |name: &'static str,
                 access: Access,
                 kind: Kind,
                 f: fn(&Fixture, &Ctx, &Value) -> Result<Value, RpcError>| {
                    let fixture = Fixture {
                        tokens: self.tokens.clone(),
                        runs: self.runs.clone(),
                        ready: self.ready.clone(),
                    };
                    methods.add_raw(MethodDef {
                        name,
                        access,
                        kind,
                        handler: Arc::new(move |ctx: &Ctx, params: Option<Value>| {
                            fixture.runs.fetch_add(1, Ordering::SeqCst);
                            let params = params.unwrap_or(Value::Null);
                            let out = f(&fixture, ctx, &params)?;
                            serde_json::value::to_raw_value(&out).map_err(|_| RpcError::internal())
                        }),
                    });
                };
            add("echo.say", Access::Public, Kind::Lookup, |_, _, p| {
                Ok(json!({"text": p["text"]}))
            });
            add("echo.whoami", Access::User, Kind::Read, |_, ctx, _| {
                Ok(json!(ctx.actor().actor_id))
            });
            add("echo.admin", Access::Admin, Kind::Read, |_, _, _| {
                Ok(json!("yes"))
            });
            add("echo.big", Access::Public, Kind::Read, |_, _, p| {
                let size = p["size"].as_u64().unwrap_or(0) as usize;
                Ok(json!("x".repeat(size)))
            });
            add("echo.fail", Access::Public, Kind::Read, |_, _, _| {
                Err(RpcError::invalid_params("missing required param 'x'"))
            });
            add("session.logout", Access::User, Kind::Write, |f, _, _| {
                let mut revoked = f.tokens.revoked.lock().map_err(|_| RpcError::internal())?;
                revoked.insert("alice".to_string());
                Ok(json!({"ok": true}))
            });
            let ready = self.ready.clone();
            Api {
                methods,
                openrpc: json!({"openrpc": "1.3.2", "methods": []}),
                doc_html: "<html></html>".to_string(),
                authenticator: self.tokens.clone(),
                ready: Arc::new(move || ready.load(Ordering::SeqCst)),
                local_reads: Arc::new(|| true),
                events: None,
                write_stats: None,
            }
        }
    }

    fn endpoint(config: ServerConfig) -> (Fixture, Endpoint) {
        let f = Fixture::default();
        let ep = Endpoint::new(f.api(), &config);
        (f, ep)
    }

    fn text(ep: &Endpoint, body: &str, token: Option<&str>) -> Option<String> {
        ep.call(body.as_bytes(), token)
            .map(|out| String::from_utf8(out).expect("answers are UTF-8"))
    }

    fn answer(ep: &Endpoint, body: &Value, token: Option<&str>) -> Option<Value> {
        text(ep, &body.to_string(), token).map(|t| serde_json::from_str(&t).expect("JSON"))
    }

    fn req(method: &str, params: Value, id: Value) -> Value {
        json!({"jsonrpc": "2.0", "method": method, "params": params, "id": id})
    }

    fn note(method: &str, params: Value) -> Value {
        json!({"jsonrpc": "2.0", "method": method, "params": params})
    }

    #[test]
    fn a_call_answers_with_its_result_under_the_id_as_written() {
        let (f, ep) = endpoint(ServerConfig::default());
        for id in [
            r#""abc""#,
            "7",
            "null",
            "1.50",
            "-0",
            "123456789012345678901234567890",
        ] {
            let body = format!(
                r#"{{"jsonrpc":"2.0","method":"echo.say","params":{{"text":"hi"}},"id":{id}}}"#
            );
            assert_eq!(
                text(&ep, &body, None),
                Some(format!(
                    r#"{{"jsonrpc":"2.0","result":{{"text":"hi"}},"id":{id}}}"#
                ))
            );
        }
        assert_eq!(f.runs(), 6);
        // rpc.discover answers the OpenRPC document
        let out = answer(&ep, &req("rpc.discover", json!({}), json!(1)), None);
        assert_eq!(
            out.map(|v| v["result"].clone()),
            Some(json!({"openrpc": "1.3.2", "methods": []}))
        );
    }

    #[test]
    fn a_batch_answers_each_request_in_order() {
        let (f, ep) = endpoint(ServerConfig::default());
        let body = json!([
            req("echo.say", json!({"text": "one"}), json!(1)),
            note("echo.say", json!({"text": "heard, not answered"})),
            req("nope.nothing", json!({}), json!(2)),
            {"jsonrpc": "1.0", "method": "echo.say", "id": 3},
            req("echo.say", json!({"text": "three"}), json!("x")),
        ]);
        let out = answer(&ep, &body, None).expect("an answer");
        let ids: Vec<&Value> = out
            .as_array()
            .expect("an array")
            .iter()
            .map(|r| &r["id"])
            .collect();
        assert_eq!(ids, [&json!(1), &json!(2), &json!(3), &json!("x")]);
        assert_eq!(out[0]["result"], json!({"text": "one"}));
        assert_eq!(out[1]["error"]["code"], -32601);
        assert_eq!(out[2]["error"]["code"], -32600);
        assert_eq!(out[3]["result"], json!({"text": "three"}));
        assert_eq!(f.runs(), 3, "the notification ran too");
    }

    #[test]
    fn notifications_are_run_but_not_answered() {
        let (f, ep) = endpoint(ServerConfig::default());
        assert_eq!(
            answer(&ep, &note("echo.say", json!({"text": "a"})), None),
            None
        );
        assert_eq!(f.runs(), 1);
        // failing notifications are silent too
        assert_eq!(answer(&ep, &note("nope.nothing", json!({})), None), None);
        assert_eq!(answer(&ep, &note("echo.fail", json!({})), None), None);
        assert_eq!(answer(&ep, &note("echo.whoami", json!({})), None), None);
        assert_eq!(
            answer(&ep, &note("echo.say", json!({})), Some("forged")),
            None
        );
        let batch = json!([
            note("echo.say", json!({})),
            note("echo.big", json!({"size": 3}))
        ]);
        assert_eq!(answer(&ep, &batch, None), None);
        assert_eq!(f.runs(), 4);
    }

    #[test]
    fn text_that_is_not_json_is_one_parse_error() {
        let (f, ep) = endpoint(ServerConfig::default());
        for body in [
            r#"{"jsonrpc":"2.0","method":"echo.say""#,
            r#"[{"jsonrpc":"2.0","method":"echo.say","id":1},"#,
            "",
            "{'jsonrpc': '2.0'}",
        ] {
            let out: Value = text(&ep, body, None)
                .map(|t| serde_json::from_str(&t).expect("JSON"))
                .expect("an answer");
            assert_eq!(out["error"]["code"], -32700, "{body}");
            assert_eq!(out["id"], Value::Null, "{body}");
            assert_eq!(out["jsonrpc"], "2.0");
        }
        assert_eq!(f.runs(), 0);
    }

    #[test]
    fn a_bad_token_answers_every_request_unauthenticated() {
        let (f, ep) = endpoint(ServerConfig::default());
        let out = answer(
            &ep,
            &req("echo.say", json!({"text": "a"}), json!(1)),
            Some("forged"),
        );
        assert_eq!(
            out,
            Some(json!({
                "jsonrpc": "2.0",
                "error": {"code": 4010, "message": "unknown token", "data": {"kind": "unauthenticated"}},
                "id": 1
            }))
        );
        let batch = json!([
            req("echo.say", json!({"text": "a"}), json!(1)),
            note("echo.say", json!({"text": "b"})),
            req("echo.whoami", json!({}), json!(2)),
        ]);
        let out = answer(&ep, &batch, Some("forged")).expect("an answer");
        let kinds: Vec<(&Value, &Value)> = out
            .as_array()
            .expect("an array")
            .iter()
            .map(|r| (&r["id"], &r["error"]["data"]["kind"]))
            .collect();
        assert_eq!(
            kinds,
            [
                (&json!(1), &json!("unauthenticated")),
                (&json!(2), &json!("unauthenticated"))
            ]
        );
        assert_eq!(f.runs(), 0, "no handler runs for a bad token");
        // a good token and no token
        let whoami = req("echo.whoami", json!({}), json!(1));
        let out = answer(&ep, &whoami, Some("alice")).expect("an answer");
        assert_eq!(out["result"], ALICE);
        let out = answer(&ep, &whoami, None).expect("an answer");
        assert_eq!(out["error"]["code"], 4010);
        assert_eq!(out["error"]["message"], "this method needs a bearer token");
        let out = answer(&ep, &req("echo.admin", json!({}), json!(1)), Some("alice"));
        assert_eq!(out.map(|v| v["error"]["code"].clone()), Some(json!(4030)));
        let out = answer(&ep, &req("echo.admin", json!({}), json!(1)), Some("root"));
        assert_eq!(out.map(|v| v["result"].clone()), Some(json!("yes")));
    }

    #[test]
    fn a_batch_resolves_its_token_once_and_again_after_a_change() {
        let (f, ep) = endpoint(ServerConfig::default());
        let whoami = |id: u32| req("echo.whoami", json!({}), json!(id));
        let out = answer(
            &ep,
            &json!([whoami(1), whoami(2), whoami(3)]),
            Some("alice"),
        );
        assert_eq!(f.lookups(), 1);
        assert!(
            out.as_ref()
                .and_then(Value::as_array)
                .is_some_and(|a| a.len() == 3 && a.iter().all(|r| r["result"] == ALICE)),
            "{out:?}"
        );
        // a logout inside the batch: the calls after it see the revoked token
        let batch = json!([
            whoami(1),
            req("session.logout", json!({}), json!(2)),
            whoami(3)
        ]);
        let out = answer(&ep, &batch, Some("alice")).expect("an answer");
        assert_eq!(out[0]["result"], ALICE);
        assert_eq!(out[1]["result"], json!({"ok": true}));
        assert_eq!(out[2]["error"]["message"], "this token was revoked");
        assert_eq!(out[2]["error"]["data"]["kind"], "unauthenticated");
        assert_eq!(f.lookups(), 3);
    }

    #[test]
    fn a_full_answer_stops_the_batch_and_refuses_the_rest() {
        let big = |id: u32| req("echo.big", json!({"size": 100}), json!(id));
        let one = {
            let (_, ep) = endpoint(ServerConfig::default());
            text(&ep, &big(1).to_string(), None)
                .expect("an answer")
                .len()
        };
        // room for "[" and two answers, not three
        let limit = 2 * one + 3 + 10;
        let (f, ep) = endpoint(ServerConfig {
            answer_limit: limit,
            ..ServerConfig::default()
        });
        let batch = json!([
            big(1),
            big(2),
            big(3),
            big(4),
            note("echo.big", json!({"size": 1}))
        ]);
        let out = answer(&ep, &batch, None).expect("an answer");
        let out = out.as_array().expect("an array");
        assert_eq!(out.len(), 4);
        assert_eq!(out[0]["result"], "x".repeat(100));
        assert_eq!(out[1]["result"], "x".repeat(100));
        for (r, id) in out[2..].iter().zip([3, 4]) {
            assert_eq!(r["id"], id);
            assert_eq!(r["error"]["code"], -32600);
            assert_eq!(r["error"]["data"], json!({"limit_bytes": limit}));
        }
        assert_eq!(f.runs(), 3, "the calls after the full answer do not run");
        // a single answer over the limit
        let (_, ep) = endpoint(ServerConfig {
            answer_limit: one - 1,
            ..ServerConfig::default()
        });
        let out = answer(&ep, &big(9), None).expect("an answer");
        assert_eq!(out["id"], 9);
        assert_eq!(out["error"]["code"], -32600);
        assert_eq!(out["error"]["data"]["limit_bytes"], one - 1);
        assert_eq!(
            answer(&ep, &req("echo.say", json!({"text": "ok"}), json!(1)), None)
                .map(|v| v["result"].clone()),
            Some(json!({"text": "ok"}))
        );
    }

    #[test]
    fn an_empty_or_oversized_batch_is_one_error_object() {
        let (f, ep) = endpoint(ServerConfig {
            batch_limit: 2,
            ..ServerConfig::default()
        });
        let call = req("echo.say", json!({"text": "a"}), json!(1));
        let two = answer(&ep, &json!([call, call]), None).expect("an answer");
        assert_eq!(two.as_array().map(Vec::len), Some(2));
        for body in [json!([call, call, call]), json!([])] {
            let out = answer(&ep, &body, None).expect("an answer");
            assert_eq!(out["error"]["code"], -32600, "{body}");
            assert_eq!(out["id"], Value::Null);
        }
        assert_eq!(f.runs(), 2);
    }

    /// A stored object for the idempotency test.
    #[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
    struct Tally {
        id: market_store::Id,
        created_at: market_store::Timestamp,
        updated_at: market_store::Timestamp,
        version: u64,
    }

    impl market_store::Record for Tally {
        const KIND: &'static str = "tally";
        const INDEXES: &'static [market_store::IndexSpec] = &[];

        fn meta(&self) -> market_store::Meta {
            market_store::Meta {
                id: self.id,
                created_at: self.created_at,
                updated_at: self.updated_at,
                version: self.version,
            }
        }

        fn set_meta(&mut self, meta: market_store::Meta) {
            self.id = meta.id;
            self.created_at = meta.created_at;
            self.updated_at = meta.updated_at;
            self.version = meta.version;
        }

        fn index_values(&self, _field: &str) -> Vec<String> {
            Vec::new()
        }
    }

    impl market_rpc::Redact for Tally {}

    #[test]
    fn a_repeated_key_replays_the_first_result_under_the_new_id() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let backend =
            market_store::RedbBackend::open(&dir.path().join("t.redb")).expect("a new redb file");
        let clock = Arc::new(market_store::ManualClock::new(
            "2026-01-01T00:00:00Z".parse().expect("a timestamp"),
        ));
        let db = Arc::new(market_store::Db::new(Arc::new(backend), clock));
        let f = Fixture::default();
        let mut api = f.api();
        api.methods = api.methods.with_idempotency(db.clone());
        let writer = db.clone();
        let runs = f.runs.clone();
        api.methods.add_raw(MethodDef {
            name: "tally.add",
            access: Access::User,
            kind: Kind::Write,
            handler: Arc::new(move |ctx: &Ctx, _: Option<Value>| {
                runs.fetch_add(1, Ordering::SeqCst);
                let tally = ctx.write(&writer, |tx| {
                    let mut t = Tally::default();
                    tx.insert(&mut t)?;
                    Ok::<_, RpcError>(t)
                })?;
                market_rpc::methods::to_raw(&tally)
            }),
        });
        let ep = Endpoint::new(api, &ServerConfig::default());
        let add = |id: &str| {
            format!(
                r#"{{"jsonrpc":"2.0","method":"tally.add","params":{{"idempotency_key":"k"}},"id":{id}}}"#
            )
        };
        let first = text(&ep, &add("1"), Some("alice")).expect("an answer");
        let again = text(&ep, &add(r#""second""#), Some("alice")).expect("an answer");
        let result = |t: &str| serde_json::from_str::<Value>(t).expect("JSON")["result"].clone();
        assert!(result(&first)["id"].is_string(), "{first}");
        assert_eq!(
            again,
            first.replacen(r#""id":1}"#, r#""id":"second"}"#, 1),
            "the same result, byte for byte, under the new id"
        );
        assert_eq!(f.runs(), 1);
        // a batch repeating the key acts once too
        let batch = format!("[{},{}]", add("3"), add("4"));
        let out: Value = serde_json::from_str(&text(&ep, &batch, Some("root")).expect("an answer"))
            .expect("JSON");
        assert_eq!(out[0]["result"], out[1]["result"]);
        assert_ne!(out[0]["result"], result(&first), "root's key is root's own");
        assert_eq!(f.runs(), 2);
        let count = db
            .read(|tx| market_store::Reads::count::<Tally>(tx))
            .expect("a count");
        assert_eq!(count, 2);
    }

    async fn send(router: &Router, request: Request<Body>) -> (StatusCode, String) {
        let response = router
            .clone()
            .oneshot(request)
            .await
            .unwrap_or_else(|e| match e {});
        let status = response.status();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("a body")
            .to_bytes();
        (status, String::from_utf8_lossy(&bytes).into_owned())
    }

    async fn get(router: &Router, path: &str) -> (StatusCode, String) {
        let request = Request::get(path).body(Body::empty()).expect("a request");
        send(router, request).await
    }

    async fn post(router: &Router, body: Value, token: Option<&str>) -> (StatusCode, String) {
        let mut request = Request::post("/rpc").header("content-type", "application/json");
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let request = request
            .body(Body::from(body.to_string()))
            .expect("a request");
        send(router, request).await
    }

    #[tokio::test]
    async fn the_authorization_header_is_read_once_and_strictly() {
        let f = Fixture::default();
        let router = market_server::app(f.api(), &ServerConfig::default());
        let whoami = req("echo.whoami", json!({}), json!(1));
        let send_with = |headers: &[&str]| {
            let mut request = Request::post("/rpc").header("content-type", "application/json");
            for h in headers {
                request = request.header("authorization", *h);
            }
            let request = request
                .body(Body::from(whoami.to_string()))
                .expect("a request");
            let router = router.clone();
            async move {
                let (_, body) = send(&router, request).await;
                serde_json::from_str::<Value>(&body).expect("JSON")
            }
        };
        for scheme in ["Bearer alice", "bearer alice", "BEARER  alice "] {
            assert_eq!(send_with(&[scheme]).await["result"], ALICE, "{scheme}");
        }
        // another scheme is no token at all
        let out = send_with(&["Basic YWxpY2U6cHc="]).await;
        assert_eq!(out["error"]["message"], "this method needs a bearer token");
        // two headers are conflicting credentials, even when both are good
        let out = send_with(&["Bearer alice", "Bearer root"]).await;
        assert_eq!(out["error"]["code"], 4010);
        assert_eq!(
            out["error"]["message"],
            "more than one Authorization header"
        );
        assert_eq!(f.runs(), 3);
    }

    #[tokio::test]
    async fn readyz_follows_the_probe() {
        let f = Fixture::default();
        f.ready.store(true, Ordering::SeqCst);
        let router = market_server::app(f.api(), &ServerConfig::default());
        let (status, body) = get(&router, "/readyz").await;
        assert_eq!(
            (status, body.as_str()),
            (StatusCode::OK, r#"{"status":"ready"}"#)
        );
        f.ready.store(false, Ordering::SeqCst);
        let (status, body) = get(&router, "/readyz").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        let body: Value = serde_json::from_str(&body).expect("JSON");
        assert_eq!(body["status"], "unavailable");
        // liveness does not ask the database
        let (status, _) = get(&router, "/healthz").await;
        assert_eq!(status, StatusCode::OK);
        f.ready.store(true, Ordering::SeqCst);
        assert_eq!(get(&router, "/readyz").await.0, StatusCode::OK);

        // a probe that fails outright is not ready either
        let mut api = f.api();
        api.ready = Arc::new(|| panic!("the database is gone"));
        let router = market_server::app(api, &ServerConfig::default());
        assert_eq!(
            get(&router, "/readyz").await.0,
            StatusCode::SERVICE_UNAVAILABLE
        );
    }

    /// The value of one series of the Prometheus text.
    fn series(metrics: &str, name: &str) -> Option<f64> {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
    }

    #[tokio::test]
    async fn metrics_count_calls_by_method_and_outcome() {
        let f = Fixture::default();
        let router = market_server::app(f.api(), &ServerConfig::default());
        let say = |id: u32| req("echo.say", json!({"text": "a"}), json!(id));
        assert_eq!(post(&router, say(1), None).await.0, StatusCode::OK);
        let batch = json!([
            say(2),
            note("echo.say", json!({})),
            req("no.such_method", json!({}), json!(3)),
            req("other.unknown", json!({}), json!(4)),
            req("echo.fail", json!({}), json!(5)),
        ]);
        assert_eq!(post(&router, batch, None).await.0, StatusCode::OK);
        let (status, body) = post(&router, note("echo.say", json!({})), None).await;
        assert_eq!((status, body.as_str()), (StatusCode::NO_CONTENT, ""));
        post(
            &router,
            req("echo.admin", json!({}), json!(6)),
            Some("alice"),
        )
        .await;
        post(&router, req("echo.whoami", json!({}), json!(7)), None).await;
        post(
            &router,
            req("echo.whoami", json!({}), json!(8)),
            Some("forged"),
        )
        .await;
        post(
            &router,
            req("echo.whoami", json!({}), json!(9)),
            Some("alice"),
        )
        .await;

        let (status, metrics) = get(&router, "/metrics").await;
        assert_eq!(status, StatusCode::OK);
        let calls = |method: &str, outcome: &str| {
            series(
                &metrics,
                &format!(r#"rpc_calls_total{{method="{method}",outcome="{outcome}"}}"#),
            )
        };
        assert_eq!(calls("echo.say", "ok"), Some(4.0), "{metrics}");
        assert_eq!(calls("unknown", "method_not_found"), Some(2.0));
        assert_eq!(calls("echo.fail", "invalid_params"), Some(1.0));
        assert_eq!(calls("echo.admin", "forbidden"), Some(1.0));
        assert_eq!(calls("echo.whoami", "unauthenticated"), Some(2.0));
        assert_eq!(calls("echo.whoami", "ok"), Some(1.0));
        assert_eq!(calls("no.such_method", "method_not_found"), None);
        assert_eq!(
            series(
                &metrics,
                r#"rpc_call_duration_seconds_count{method="echo.say"}"#
            ),
            Some(4.0)
        );
        assert_eq!(series(&metrics, "http_rpc_requests_total"), Some(7.0));
    }

    #[tokio::test]
    async fn the_console_is_served_with_its_policy_and_revalidated_by_etag() {
        let router = market_server::app(Fixture::default().api(), &ServerConfig::default());
        let fetch = |path: &str, etag: Option<&str>| {
            let mut request = Request::get(path);
            if let Some(etag) = etag {
                request = request.header("if-none-match", etag);
            }
            let request = request.body(Body::empty()).expect("a request");
            let router = router.clone();
            async move {
                let response = router.oneshot(request).await.unwrap_or_else(|e| match e {});
                let (parts, body) = response.into_parts();
                let body = body.collect().await.expect("a body").to_bytes();
                (parts, String::from_utf8_lossy(&body).into_owned())
            }
        };
        let header = |parts: &axum::http::response::Parts, name: &str| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string()
        };
        for path in ["/app", "/app/"] {
            let (page, html) = fetch(path, None).await;
            assert_eq!(page.status, StatusCode::OK, "{path}");
            assert_eq!(header(&page, "content-type"), "text/html; charset=utf-8");
            assert!(html.contains(r#"src="/app/app.js""#), "{html}");
            let policy = header(&page, "content-security-policy");
            assert!(policy.contains("script-src 'self'"), "{policy}");
            assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
        }
        let (script, js) = fetch("/app/app.js", None).await;
        assert_eq!(script.status, StatusCode::OK);
        assert_eq!(
            header(&script, "content-type"),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(header(&script, "x-content-type-options"), "nosniff");
        assert!(js.contains(r#"from "./client.js""#), "{js}");
        let etag = header(&script, "etag");
        assert!(etag.starts_with('"') && etag.len() > 10, "{etag}");
        let (again, body) = fetch("/app/app.js", Some(&etag)).await;
        assert_eq!(again.status, StatusCode::NOT_MODIFIED);
        assert_eq!(body, "");
        let (changed, _) = fetch("/app/app.js", Some("\"other\"")).await;
        assert_eq!(changed.status, StatusCode::OK);
        let (css, _) = fetch("/app/console.css", None).await;
        assert_eq!(header(&css, "content-type"), "text/css; charset=utf-8");
        assert_ne!(header(&css, "etag"), etag);
        for missing in ["/app/nope.js", "/app/..%2Fsecret", "/app/index.html.bak"] {
            assert_eq!(
                fetch(missing, None).await.0.status,
                StatusCode::NOT_FOUND,
                "{missing}"
            );
        }
    }
}

#[path = "it/envelope.rs"]
mod envelope;

/// Property tests of the JSON-RPC envelope: any body, in-process and over
/// the HTTP route, gets the answer the rules of [`envelope`] give.
mod envelope_props {
    use std::sync::LazyLock;

    use axum::body::Body;
    use axum::http::{Request, StatusCode, header};
    use http_body_util::BodyExt;
    use market_server::Endpoint;
    use proptest::collection::vec;
    use proptest::option;
    use proptest::prelude::*;
    use proptest::sample::{Index, select};
    use serde_json::Value;
    use tower::ServiceExt;

    use super::envelope::{
        self, Answer, BATCH_LIMIT, Doc, ECHO, INVALID_REQUEST, METHOD_NOT_FOUND, Reply,
    };

    static ENDPOINT: LazyLock<Endpoint> = LazyLock::new(envelope::endpoint);

    /// How a body is laid out: the white space between tokens, and keys
    /// written as `\u` escapes (which name the same member).
    #[derive(Debug, Clone, Copy)]
    struct Style {
        space: &'static str,
        escape_keys: bool,
    }

    fn style() -> impl Strategy<Value = Style> {
        (select(vec!["", " ", "\n\t \r"]), any::<bool>())
            .prop_map(|(space, escape_keys)| Style { space, escape_keys })
    }

    fn write_key(key: &str, style: Style, out: &mut String) {
        if style.escape_keys {
            out.push('"');
            for unit in key.encode_utf16() {
                out.push_str(&format!("\\u{unit:04x}"));
            }
            out.push('"');
        } else {
            out.push_str(&Value::from(key).to_string());
        }
    }

    fn write(doc: &Doc, style: Style, out: &mut String) {
        match doc {
            Doc::Null => out.push_str("null"),
            Doc::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Doc::Number(text) => out.push_str(text),
            Doc::Str(s) => out.push_str(&Value::from(s.as_str()).to_string()),
            Doc::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(style.space);
                    write(item, style, out);
                }
                out.push_str(style.space);
                out.push(']');
            }
            Doc::Object(members) => {
                out.push('{');
                for (i, (key, value)) in members.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(style.space);
                    write_key(key, style, out);
                    out.push_str(style.space);
                    out.push(':');
                    out.push_str(style.space);
                    write(value, style, out);
                }
                out.push_str(style.space);
                out.push('}');
            }
        }
    }

    fn text(doc: &Doc, style: Style) -> String {
        let mut out = String::new();
        write(doc, style, &mut out);
        out
    }

    /// Numbers as clients write them; with `wild`, also beyond a 64-bit float.
    fn number(wild: bool) -> impl Strategy<Value = String> {
        let mut odd = vec!["-0", "0.0", "1e3", "-2.5E-3", "1E+2", "1e-400"];
        if wild {
            odd.extend(["123456789012345678901234567890", "1e400", "-1e400"]);
        }
        prop_oneof![
            any::<i64>().prop_map(|n| n.to_string()),
            any::<u64>().prop_map(|n| n.to_string()),
            (any::<i32>(), 0..100u8).prop_map(|(i, f)| format!("{i}.{f:02}")),
            select(odd).prop_map(String::from),
        ]
    }

    /// Any Unicode (control characters, quotes and backslashes included),
    /// or a plausible method name.
    fn string() -> impl Strategy<Value = String> {
        prop_oneof![any::<String>(), "[a-z_.]{0,12}"]
    }

    fn key() -> impl Strategy<Value = String> {
        prop_oneof![
            select(vec!["id", "jsonrpc", "method", "params", "a"]).prop_map(String::from),
            string(),
        ]
    }

    /// `null`, a boolean, a number or a string.
    fn scalar(wild: bool) -> impl Strategy<Value = Doc> {
        prop_oneof![
            Just(Doc::Null),
            any::<bool>().prop_map(Doc::Bool),
            number(wild).prop_map(Doc::Number),
            string().prop_map(Doc::Str),
        ]
    }

    /// Any JSON value; with `wild`, objects may repeat a key and numbers may
    /// be beyond a 64-bit float.
    fn doc(wild: bool) -> impl Strategy<Value = Doc> {
        scalar(wild).prop_recursive(4, 48, 6, move |inner| {
            let members = vec((key(), inner.clone()), 0..6).prop_map(move |mut members| {
                if !wild {
                    let mut seen = std::collections::HashSet::new();
                    members.retain(|(k, _)| seen.insert(k.clone()));
                }
                Doc::Object(members)
            });
            prop_oneof![vec(inner, 0..6).prop_map(Doc::Array), members]
        })
    }

    fn params(wild: bool) -> impl Strategy<Value = Doc> {
        prop_oneof![
            doc(wild).prop_filter("an object", |d| matches!(d, Doc::Object(_))),
            vec(doc(wild), 0..4).prop_map(Doc::Array),
        ]
    }

    /// Something shaped like a request, each member right or wrong, in any order.
    fn request() -> impl Strategy<Value = Doc> {
        let version = prop_oneof![
            4 => Just(Doc::Str("2.0".to_owned())),
            1 => select(vec!["1.0", "2", "2.0 "]).prop_map(|v| Doc::Str(v.to_owned())),
            1 => doc(true),
        ];
        let method = prop_oneof![
            3 => Just(Doc::Str(ECHO.to_owned())),
            1 => Just(Doc::Str("rpc.discover".to_owned())),
            2 => string().prop_map(Doc::Str),
            1 => doc(true),
        ];
        let params = prop_oneof![3 => params(true), 1 => scalar(true)];
        let id = prop_oneof![
            2 => number(true).prop_map(Doc::Number),
            2 => string().prop_map(Doc::Str),
            1 => Just(Doc::Null),
            1 => any::<bool>().prop_map(Doc::Bool),
            1 => doc(true),
        ];
        (
            option::weighted(0.9, version),
            option::weighted(0.9, method),
            option::of(params),
            option::weighted(0.7, id),
            vec((key(), doc(true)), 0..2),
        )
            .prop_flat_map(|(version, method, params, id, mut members)| {
                let named = [("jsonrpc", version), ("method", method), ("params", params)];
                for (name, value) in named.into_iter().chain([("id", id)]) {
                    if let Some(value) = value {
                        members.push((name.to_owned(), value));
                    }
                }
                Just(members).prop_shuffle()
            })
            .prop_map(Doc::Object)
    }

    /// A single member or a batch, of requests and any other values.
    fn body() -> impl Strategy<Value = Doc> {
        let member = prop_oneof![4 => request(), 1 => doc(true)];
        prop_oneof![
            2 => member.clone(),
            1 => vec(member, 0..=BATCH_LIMIT + 2).prop_map(Doc::Array),
        ]
    }

    /// Pieces of JSON-RPC bodies, to reach past the parser with raw bytes.
    const TOKENS: &[&str] = &[
        "{",
        "}",
        "[",
        "]",
        ":",
        ",",
        " ",
        "\"jsonrpc\"",
        "\"2.0\"",
        "\"method\"",
        "\"echo.params\"",
        "\"params\"",
        "\"id\"",
        "\"\\u0069d\"",
        "1",
        "-0.5",
        "1e400",
        "null",
        "true",
        "\"",
        "\"\\ud800\"",
        "\\",
    ];

    /// Changes to a body: overwrite, insert or remove one byte.
    fn mutate(mut bytes: Vec<u8>, edits: &[(Index, u8, u8)]) -> Vec<u8> {
        for (at, byte, kind) in edits {
            match kind {
                0 if !bytes.is_empty() => {
                    let i = at.index(bytes.len());
                    bytes[i] = *byte;
                }
                1 if !bytes.is_empty() => {
                    bytes.remove(at.index(bytes.len()));
                }
                _ => bytes.insert(at.index(bytes.len() + 1), *byte),
            }
        }
        bytes
    }

    /// Any byte, JSON's punctuation more often.
    fn byte() -> impl Strategy<Value = u8> {
        prop_oneof![any::<u8>(), select(b"{}[]:,\"\\ 0-.en".to_vec())]
    }

    /// Any bytes, runs of JSON-RPC tokens, and well-laid-out bodies with up
    /// to two bytes changed.
    fn bytes() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            vec(any::<u8>(), 0..200),
            vec(select(TOKENS), 0..40).prop_map(|tokens| tokens.concat().into_bytes()),
            (body(), style(), vec((any::<Index>(), byte(), 0..3u8), 0..3))
                .prop_map(|(doc, style, edits)| mutate(text(&doc, style).into_bytes(), &edits)),
        ]
    }

    /// Equal as JSON values: members in any order, numbers by value.
    fn same(a: &Doc, b: &Doc) -> bool {
        match (a, b) {
            (Doc::Number(x), Doc::Number(y)) => match (x.parse::<i128>(), y.parse::<i128>()) {
                (Ok(x), Ok(y)) => x == y,
                _ => x.parse::<f64>().ok() == y.parse::<f64>().ok(),
            },
            (Doc::Array(xs), Doc::Array(ys)) => {
                xs.len() == ys.len() && xs.iter().zip(ys).all(|(x, y)| same(x, y))
            }
            (Doc::Object(xs), Doc::Object(ys)) => {
                xs.len() == ys.len()
                    && xs
                        .iter()
                        .all(|(k, x)| ys.iter().any(|(l, y)| k == l && same(x, y)))
            }
            (x, y) => x == y,
        }
    }

    fn call(body: &[u8]) -> Option<Vec<u8>> {
        ENDPOINT.call(body, None)
    }

    fn one(reply: Reply) -> Answer {
        match reply {
            Reply::One(answer) => answer,
            other => panic!("one response, not {other:?}"),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Bytes that are not JSON get one parse error; JSON gets the
        /// answer of the rules, never a panic.
        #[test]
        fn any_bytes_get_a_parse_error_or_the_answer_the_rules_give(body in bytes()) {
            envelope::check(&body, call(&body).as_deref());
        }

        /// Any JSON value, laid out any way, gets the answer of the rules:
        /// `-32600` for what is not a request, the id echoed when readable.
        #[test]
        fn any_json_value_gets_the_answer_the_rules_give(doc in body(), style in style()) {
            let body = text(&doc, style);
            envelope::check(body.as_bytes(), call(body.as_bytes()).as_deref());
        }

        /// A well-formed call comes back under its id exactly as written:
        /// `echo.params` with its params, any other name `-32601` naming it;
        /// without an id, nothing comes back.
        #[test]
        fn well_formed_calls_round_trip_their_params_and_ids(
            method in prop_oneof![
                Just(ECHO.to_owned()),
                string().prop_filter("not a method of the API", |m| m != ECHO && m != "rpc.discover"),
            ],
            params in option::of(params(false)),
            id in option::of(prop_oneof![
                number(true).prop_map(Doc::Number),
                string().prop_map(Doc::Str),
                Just(Doc::Null),
            ]),
            style in style(),
        ) {
            let mut members = vec![
                ("jsonrpc".to_owned(), Doc::Str("2.0".to_owned())),
                ("method".to_owned(), Doc::Str(method.clone())),
            ];
            members.extend(params.clone().map(|p| ("params".to_owned(), p)));
            members.extend(id.clone().map(|id| ("id".to_owned(), id)));
            let body = text(&Doc::Object(members), style);
            let reply = Reply::read(call(body.as_bytes()).as_deref());
            let Some(id) = id else {
                prop_assert!(matches!(reply, Reply::Nothing), "{reply:?}");
                return Ok(());
            };
            let answer = one(reply);
            prop_assert_eq!(answer.id.get(), text(&id, style));
            if method == ECHO {
                let result = answer.result.as_ref().and_then(|r| Doc::parse(r.get()));
                let sent = params.unwrap_or(Doc::Null);
                prop_assert!(
                    result.as_ref().is_some_and(|r| same(r, &sent)),
                    "sent {sent:?}, got {result:?} ({:?})", answer.error
                );
            } else {
                let error = answer.error.expect("an error");
                prop_assert_eq!(error.code, METHOD_NOT_FOUND);
                prop_assert!(error.message.contains(&method), "{}", error.message);
            }
        }

        /// A batch gets one response per member that is not a notification,
        /// in the members' order; an empty batch or one over the limit gets
        /// a single `-32600` object.
        #[test]
        fn a_batch_answers_each_member_that_is_not_a_notification_in_order(
            kinds in vec(0..5u8, 0..=2 * BATCH_LIMIT),
            style in style(),
        ) {
            let request = |method: &str, version: &str, id: Option<usize>| {
                let mut members = vec![
                    ("jsonrpc".to_owned(), Doc::Str(version.to_owned())),
                    ("method".to_owned(), Doc::Str(method.to_owned())),
                ];
                members.extend(id.map(|id| ("id".to_owned(), Doc::Number(id.to_string()))));
                Doc::Object(members)
            };
            // (member, the id it is answered under, its answer: a result or an error code)
            let members: Vec<(Doc, Option<&str>, Result<(), i64>)> = kinds
                .iter()
                .enumerate()
                .map(|(i, kind)| match kind {
                    0 => (request(ECHO, "2.0", Some(i)), Some("id"), Ok(())),
                    1 => (request(ECHO, "2.0", None), None, Ok(())),
                    2 => (Doc::Number(i.to_string()), Some("null"), Err(INVALID_REQUEST)),
                    3 => (request(ECHO, "1.0", Some(i)), Some("id"), Err(INVALID_REQUEST)),
                    _ => (request("no.such", "2.0", Some(i)), Some("id"), Err(METHOD_NOT_FOUND)),
                })
                .collect();
            let batch = Doc::Array(members.iter().map(|(m, _, _)| m.clone()).collect());
            let reply = Reply::read(call(text(&batch, style).as_bytes()).as_deref());
            if kinds.is_empty() || kinds.len() > BATCH_LIMIT {
                let answer = one(reply);
                prop_assert_eq!(answer.id.get(), "null");
                prop_assert_eq!(answer.error.map(|e| e.code), Some(INVALID_REQUEST));
                return Ok(());
            }
            let expected: Vec<(String, Result<(), i64>)> = members
                .iter()
                .enumerate()
                .filter_map(|(i, (_, id, outcome))| {
                    let id = match (*id)? {
                        "id" => i.to_string(),
                        other => other.to_owned(),
                    };
                    Some((id, *outcome))
                })
                .collect();
            let got: Vec<(String, Result<(), i64>)> = reply
                .answers()
                .iter()
                .map(|a| (a.id.get().to_owned(), a.error.as_ref().map_or(Ok(()), |e| Err(e.code))))
                .collect();
            prop_assert_eq!(&got, &expected);
            prop_assert_eq!(matches!(reply, Reply::Nothing), expected.is_empty());
        }
    }

    /// The HTTP route answers every body as the in-process endpoint does:
    /// 200 with the same JSON, or 204 with nothing.
    #[test]
    fn the_http_route_answers_as_the_endpoint_does() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let router = market_server::app(envelope::api(), &envelope::config());
        proptest!(ProptestConfig::with_cases(256), |(body in bytes())| {
            let request = Request::post("/rpc")
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(body.clone()))
                .expect("a request");
            let (status, kind, answer) = runtime.block_on(async {
                let response = router.clone().oneshot(request).await.unwrap_or_else(|e| match e {});
                let kind = response.headers().get(header::CONTENT_TYPE).cloned();
                let status = response.status();
                let bytes = response.into_body().collect().await.expect("a body").to_bytes();
                (status, kind, bytes)
            });
            match call(&body) {
                Some(expected) => {
                    prop_assert_eq!(status, StatusCode::OK);
                    prop_assert_eq!(kind.as_ref().map(|k| k.as_bytes()), Some(&b"application/json"[..]));
                    prop_assert_eq!(&answer[..], &expected[..]);
                    envelope::check(&body, Some(&answer));
                }
                None => {
                    prop_assert_eq!(status, StatusCode::NO_CONTENT);
                    prop_assert!(answer.is_empty());
                }
            }
        });
    }
}

/// Where a body runs. A lone lookup by a caller without a token, over an
/// embedded database, is answered on the async worker that read it; every
/// other body on a blocking thread, where a read may wait on another
/// runtime as the PostgreSQL client does.
mod routing {
    use std::sync::Arc;

    use market_rpc::{Access, Kind, MethodDef, Methods};
    use market_server::ServerConfig;
    use market_testkit::TestServer;
    use serde_json::{Value, json};

    /// `probe.get` (a lookup) and `probe.list` (a read) answer whether their
    /// thread may block on a runtime.
    fn server(local_reads: bool) -> TestServer {
        let mut api = super::envelope::api();
        api.local_reads = Arc::new(move || local_reads);
        let mut methods = Methods::new();
        for (name, kind) in [("probe.get", Kind::Lookup), ("probe.list", Kind::Read)] {
            methods.add_raw(MethodDef {
                name,
                access: Access::Public,
                kind,
                handler: Arc::new(|_, _| {
                    let may_block = std::panic::catch_unwind(|| {
                        tokio::runtime::Handle::current().block_on(async {})
                    })
                    .is_ok();
                    Ok(serde_json::value::to_raw_value(&may_block).unwrap())
                }),
            });
        }
        api.methods = methods;
        TestServer::start(api, ServerConfig::default())
    }

    fn may_block(server: &TestServer, token: Option<&str>, body: &str) -> Value {
        let client = server.client();
        let client = match token {
            Some(t) => client.with_token(t),
            None => client,
        };
        let reply = client.post_raw(body).json();
        match reply {
            Value::Array(items) => items.into_iter().map(|i| i["result"].clone()).collect(),
            one => one["result"].clone(),
        }
    }

    const GET: &str = r#"{"jsonrpc":"2.0","method":"probe.get","id":1}"#;
    const LIST: &str = r#"{"jsonrpc":"2.0","method":"probe.list","id":1}"#;

    #[test]
    fn a_lone_anonymous_lookup_on_an_embedded_database_runs_on_the_async_worker() {
        let s = server(true);
        assert_eq!(may_block(&s, None, GET), json!(false));
        assert_eq!(may_block(&s, Some("t"), GET), json!(true));
        assert_eq!(may_block(&s, None, LIST), json!(true));
        let batch = format!("[{GET},{GET}]");
        assert_eq!(may_block(&s, None, &batch), json!([true, true]));
    }

    #[test]
    fn lookups_on_a_database_across_the_network_never_hold_the_async_workers() {
        let s = server(false);
        assert_eq!(may_block(&s, None, GET), json!(true));
        assert_eq!(may_block(&s, Some("t"), GET), json!(true));
    }
}
