//! The worker and model catalog: attributes validated per category, the
//! `catalog.*` methods, and the cacheable `GET /catalog/...` routes (ETag,
//! Cache-Control, 304, CORS, X-Cache for the mirror's stale copies).

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;

use market_core::ModelSource;
use market_core::site_catalog::UpstreamModel;
use market_testkit::Client;
use serde_json::{Value, json};

use crate::support::*;

const PKGBUILD: &str = "pkgname=llama-worker\npkgver=1.0\narch=(x86_64)\n";

/// An HTTP answer: status, headers (lower-case names) and body.
struct Reply {
    status: u16,
    headers: BTreeMap<String, String>,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

fn get(env: &Env, path: &str, headers: &[(&str, &str)]) -> Reply {
    let mut stream = TcpStream::connect(env.server.addr).expect("connect");
    let mut req = format!(
        "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
        env.server.addr
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    stream.write_all(req.as_bytes()).expect("send");
    let mut raw = String::new();
    stream.read_to_string(&mut raw).expect("read");
    let (head, body) = raw.split_once("\r\n\r\n").expect("an HTTP reply");
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Reply {
        status,
        headers,
        body: body.to_string(),
    }
}

fn app_provider(e: &Env) -> Client {
    let (c, _) = e.register("apps@example.com");
    c.ok(
        "provider.register",
        json!({"kind": "app", "name": "Apps", "description": "workers and models"}),
    );
    c
}

fn product(c: &Client, category: &str, name: &str, attributes: Value) -> Value {
    c.ok(
        "product.create",
        json!({
            "category": category, "name": name, "description": format!("{name} for the grid"),
            "price": "1", "pricing_unit": "hour", "attributes": attributes,
        }),
    )
}

fn create_fails(c: &Client, category: &str, attributes: Value, key: &str) {
    let e = fails(
        c,
        "product.create",
        json!({"category": category, "name": "x", "description": "x", "price": "1", "pricing_unit": "hour", "attributes": attributes}),
        4000,
        "invalid_input",
    );
    assert!(
        e["data"]["fields"][format!("attributes.{key}")].is_string(),
        "{e}"
    );
}

#[test]
fn worker_and_model_attributes_are_validated() {
    let e = start();
    let apps = app_provider(&e);
    create_fails(
        &apps,
        "worker",
        json!({"backends": "cpu,,cuda"}),
        "backends",
    );
    create_fails(&apps, "worker", json!({"backends": "CUDA!"}), "backends");
    create_fails(&apps, "worker", json!({"platforms": "linux"}), "platforms");
    create_fails(&apps, "worker", json!({"pkgbuild": "echo hi"}), "pkgbuild");
    create_fails(
        &apps,
        "model",
        json!({"source": "modelzoo", "upstream_id": "a"}),
        "source",
    );
    create_fails(
        &apps,
        "model",
        json!({"source": "huggingface"}),
        "upstream_id",
    );
    create_fails(&apps, "model", json!({"upstream_id": "x/y"}), "source");
    create_fails(&apps, "model", json!({"size_bytes": "12 GB"}), "size_bytes");
    create_fails(&apps, "model", json!({"nsfw": "maybe"}), "nsfw");
    create_fails(&apps, "model", json!({"license": ""}), "license");
    let w = product(
        &apps,
        "worker",
        "Llama worker",
        json!({"backends": "cpu,cuda", "platforms": "linux-x86_64,linux-aarch64", "pkgbuild": PKGBUILD}),
    );
    assert_eq!(w["attributes"]["backends"], "cpu,cuda");
    // An update is checked too, and a bad one changes nothing.
    let err = fails(
        &apps,
        "product.update",
        json!({"id": w["id"], "attributes": {"backends": "a b"}}),
        4000,
        "invalid_input",
    );
    assert!(
        err["data"]["fields"]["attributes.backends"].is_string(),
        "{err}"
    );
    let again = e.anon().ok("product.get", json!({"id": w["id"]}));
    assert_eq!(again["attributes"]["backends"], "cpu,cuda");
    // Other categories keep free-form attributes.
    product(
        &apps,
        "app",
        "An app",
        json!({"backends": "anything at all"}),
    );
}

#[test]
fn catalog_routes_are_cacheable() {
    let e = start();
    let apps = app_provider(&e);
    let w1 = product(
        &apps,
        "worker",
        "Llama worker",
        json!({"backends": "cpu,cuda", "platforms": "linux-x86_64", "pkgbuild": PKGBUILD}),
    );
    let w2 = product(
        &apps,
        "worker",
        "Whisper worker",
        json!({"backends": "metal", "platforms": "macos-aarch64"}),
    );
    product(
        &apps,
        "model",
        "Mistral",
        json!({"source": "huggingface", "upstream_id": "mistralai/Mistral-7B", "size_bytes": "14000000000", "license": "apache-2.0", "nsfw": "false"}),
    );
    product(
        &apps,
        "model",
        "Spicy",
        json!({"source": "civitai", "upstream_id": "4201", "nsfw": "true"}),
    );
    apps.ok("product.archive", json!({"id": w2["id"]}));

    let list = get(
        &e,
        "/catalog/workers",
        &[("Origin", "https://site.example")],
    );
    assert_eq!(list.status, 200);
    assert_eq!(list.headers["access-control-allow-origin"], "*");
    assert_eq!(list.headers["cache-control"], "public, max-age=60");
    let body = list.json();
    assert_eq!(
        body["items"].as_array().map(Vec::len),
        Some(1),
        "archived workers are left out"
    );
    assert_eq!(body["items"][0]["id"], w1["id"]);
    assert_eq!(body["items"][0]["attributes"]["platforms"], "linux-x86_64");
    assert!(body["next_cursor"].is_null());
    let etag = list.headers["etag"].clone();
    assert!(etag.starts_with('"') && etag.len() == 34, "{etag}");
    let unchanged = get(&e, "/catalog/workers", &[("If-None-Match", &etag)]);
    assert_eq!(unchanged.status, 304);
    assert_eq!(unchanged.body, "");
    assert_eq!(unchanged.headers["etag"], etag);

    // A change gives a new tag, so the old one no longer matches.
    apps.ok(
        "product.update",
        json!({"id": w1["id"], "description": "faster"}),
    );
    let changed = get(&e, "/catalog/workers", &[("If-None-Match", &etag)]);
    assert_eq!(changed.status, 200);
    assert_ne!(changed.headers["etag"], etag);

    let id = str_of(&w1["id"]);
    let one = get(&e, &format!("/catalog/workers/{id}"), &[]);
    assert_eq!(one.status, 200);
    assert_eq!(one.json()["description"], "faster");
    let pkg = get(&e, &format!("/catalog/workers/{id}/PKGBUILD"), &[]);
    assert_eq!(pkg.status, 200);
    assert_eq!(pkg.body, PKGBUILD);
    assert!(pkg.headers["content-type"].starts_with("text/plain"));
    let pkg304 = get(
        &e,
        &format!("/catalog/workers/{id}/PKGBUILD"),
        &[("If-None-Match", &pkg.headers["etag"])],
    );
    assert_eq!(pkg304.status, 304);
    assert_eq!(
        get(&e, &format!("/catalog/workers/{}", str_of(&w2["id"])), &[]).status,
        404
    );
    assert_eq!(
        get(
            &e,
            &format!("/catalog/workers/{}/PKGBUILD", str_of(&w2["id"])),
            &[]
        )
        .status,
        404
    );
    assert_eq!(get(&e, "/catalog/workers/not-an-id", &[]).status, 400);
    assert_eq!(get(&e, "/catalog/workers?limit=lots", &[]).status, 400);
    assert_eq!(get(&e, "/catalog/workers?colour=red", &[]).status, 400);

    let models = get(&e, "/catalog/models", &[]);
    assert_eq!(models.status, 200);
    assert_eq!(models.headers["x-cache"], "FRESH");
    let names: Vec<String> = models.json()["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|m| str_of(&m["name"]).to_string())
        .collect();
    assert_eq!(
        names,
        vec!["Mistral"],
        "NSFW models are left out unless asked"
    );
    let all = get(&e, "/catalog/models?nsfw=true", &[]).json();
    assert_eq!(all["items"].as_array().map(Vec::len), Some(2));
    let civitai = get(&e, "/catalog/models?nsfw=true&source=civitai", &[]).json();
    assert_eq!(civitai["items"][0]["name"], "Spicy");
    assert_eq!(civitai["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(get(&e, "/catalog/models?nsfw=perhaps", &[]).status, 400);
    assert_eq!(get(&e, "/catalog/models?source=modelzoo", &[]).status, 400);
}

#[test]
fn mirrored_models_are_listed_and_stale_when_upstream_fails() {
    let e = start();
    let hf = "http://hf.example";
    let models = [
        UpstreamModel {
            upstream_id: "org/a".into(),
            name: "a".into(),
            license: Some("mit".into()),
            size_bytes: Some(42),
            ..Default::default()
        },
        UpstreamModel {
            upstream_id: "org/b".into(),
            name: "b".into(),
            nsfw: true,
            ..Default::default()
        },
        UpstreamModel {
            upstream_id: "org/c".into(),
            name: "c".into(),
            ..Default::default()
        },
    ];
    assert_eq!(
        e.app
            .mirror_store(hf, ModelSource::Huggingface, &models)
            .expect("store"),
        3
    );
    // Pages of one, newest first, NSFW left out.
    let first = get(&e, "/catalog/models?limit=1", &[]);
    assert_eq!(first.headers["x-cache"], "FRESH");
    let first = first.json();
    assert_eq!(first["items"][0]["name"], "c");
    assert_eq!(first["items"][0]["origin"], "mirror");
    let cursor = str_of(&first["next_cursor"]).to_string();
    let second = get(&e, &format!("/catalog/models?limit=1&cursor={cursor}"), &[]).json();
    assert_eq!(second["items"][0]["name"], "a");
    assert_eq!(second["items"][0]["attributes"]["license"], "mit");
    assert_eq!(second["items"][0]["attributes"]["size_bytes"], "42");
    assert_eq!(second["items"][0]["attributes"]["upstream_id"], "org/a");
    assert!(second["next_cursor"].is_null());

    // The upstream fails: the last good copy is served, marked stale.
    assert_eq!(
        e.app
            .mirror_failed(hf, ModelSource::Huggingface, "HTTP 503")
            .expect("record"),
        1
    );
    let stale = get(&e, "/catalog/models", &[]);
    assert_eq!(stale.headers["x-cache"], "STALE");
    assert_eq!(stale.json()["items"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        get(&e, "/catalog/models?source=civitai", &[]).headers["x-cache"],
        "FRESH"
    );
    let rpc = e.anon().ok("catalog.models", json!({"nsfw": true}));
    assert_eq!(rpc["stale"], true);
    assert_eq!(rpc["items"].as_array().map(Vec::len), Some(3));
    // It answers again: fresh, and an entry is updated in place.
    let renamed = [UpstreamModel {
        upstream_id: "org/a".into(),
        name: "a v2".into(),
        ..Default::default()
    }];
    e.app
        .mirror_store(hf, ModelSource::Huggingface, &renamed)
        .expect("store");
    let fresh = get(&e, "/catalog/models", &[]);
    assert_eq!(fresh.headers["x-cache"], "FRESH");
    let names: Vec<String> = fresh.json()["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|m| str_of(&m["name"]).to_string())
        .collect();
    assert_eq!(names, vec!["c", "a v2"]);
}
