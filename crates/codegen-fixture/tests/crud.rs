//! Generated CRUD over a real socket: a root object with `@index` fields and
//! `@crud` gets working create/get/list/find/update/delete with no
//! hand-written code, with the schema's access, validation, uniqueness and
//! secrecy rules applied.

// Tests fail by panicking: unwrap, expect and panic are how they assert.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use market_rpc::{Caller, Kind, Principal, RpcError};
use market_server::{Api, Authenticator, ServerConfig};
use market_store::{Db, Id, ManualClock, RedbBackend, SecretCipher};
use market_testkit::{Client, TestServer};
use serde_json::{Value, json};

const ALICE: &str = "01J0000000000000000000000A";
const BOB: &str = "01J0000000000000000000000B";
const ROOT: &str = "01J0000000000000000000000C";

/// Tokens are user names here: `alice`, `bob` (customers) and `root` (admin).
struct Users;

fn principal(id: &str, role: &str) -> Result<Caller, RpcError> {
    let user_id: Id = id.parse().map_err(|_| RpcError::internal())?;
    Ok(Caller::User(Principal {
        user_id,
        roles: vec![role.to_string()],
        token_id: None,
        api_key: false,
    }))
}

impl Authenticator for Users {
    fn authenticate(&self, token: Option<&str>) -> Result<Caller, RpcError> {
        match token {
            None => Ok(Caller::Anonymous),
            Some("alice") => principal(ALICE, "customer"),
            Some("bob") => principal(BOB, "customer"),
            Some("root") => principal(ROOT, "admin"),
            Some(_) => Err(RpcError::unauthenticated("unknown token")),
        }
    }
}

struct Env {
    server: TestServer,
    _dir: tempfile::TempDir,
}

impl Env {
    fn anon(&self) -> Client {
        self.server.client()
    }
    fn as_user(&self, token: &str) -> Client {
        self.server.client().with_token(token)
    }
}

fn start() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let backend = RedbBackend::open(&dir.path().join("f.redb")).unwrap();
    let clock = Arc::new(ManualClock::new("2026-03-01T08:00:00Z".parse().unwrap()));
    let cipher = SecretCipher::from_text(&"2a".repeat(32)).unwrap();
    let db = Arc::new(Db::new(Arc::new(backend), clock).with_cipher(cipher));
    let api = Api {
        methods: codegen_fixture::methods(db.clone()),
        openrpc: json!({}),
        doc_html: String::new(),
        authenticator: Arc::new(Users),
        ready: Arc::new(|| true),
        local_reads: Arc::new(|| true),
        events: None,
        write_stats: None,
    };
    Env {
        server: TestServer::start(api, ServerConfig::default()),
        _dir: dir,
    }
}

fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_new_root_object_with_indexes_gets_create_get_list_find() {
    let e = start();
    let root = e.as_user("root");
    let mut made = Vec::new();
    for (sku, size) in [("A-1", 3), ("B-2", 5), ("A-1", 5), ("C-3", 3)] {
        let w = root.ok("widget.create", json!({"sku": sku, "size": size}));
        assert_eq!(w["sku"], sku);
        assert_eq!(w["size"], size);
        assert_eq!(w["version"], 1);
        assert_eq!(w["created_at"], "2026-03-01T08:00:00Z");
        assert!(w.get("label").is_none());
        made.push(w["id"].as_str().unwrap().to_string());
    }
    // get: public
    let got = e.anon().ok("widget.get", json!({"id": made[1]}));
    assert_eq!(got["sku"], "B-2");
    // list: newest first, paged
    let p1 = e.anon().ok("widget.list", json!({"limit": 3}));
    assert_eq!(
        ids(&p1),
        vec![made[3].clone(), made[2].clone(), made[1].clone()]
    );
    let p2 = e.anon().ok(
        "widget.list",
        json!({"limit": 3, "cursor": p1["next_cursor"]}),
    );
    assert_eq!(ids(&p2), vec![made[0].clone()]);
    assert_eq!(p2["next_cursor"], Value::Null);
    // find by each indexed field
    let a1 = e
        .anon()
        .ok("widget.find", json!({"field": "sku", "value": "A-1"}));
    assert_eq!(ids(&a1), vec![made[2].clone(), made[0].clone()]);
    let size5 = e
        .anon()
        .ok("widget.find", json!({"field": "size", "value": 5}));
    assert_eq!(ids(&size5), vec![made[2].clone(), made[1].clone()]);
    let none = e
        .anon()
        .ok("widget.find", json!({"field": "sku", "value": "Z-9"}));
    assert_eq!(ids(&none), Vec::<String>::new());
    // a field without an index, bad values, wrong access, unknown ops
    assert_eq!(
        e.anon()
            .err("widget.find", json!({"field": "label", "value": "x"}))
            .1,
        "invalid_input"
    );
    assert_eq!(
        root.err("widget.create", json!({"sku": "D", "size": 0})).1,
        "invalid_input"
    );
    assert_eq!(root.err("widget.create", json!({"sku": "D"})).0, -32602);
    assert_eq!(
        e.anon()
            .err("widget.create", json!({"sku": "D", "size": 1}))
            .1,
        "unauthenticated"
    );
    assert_eq!(
        e.as_user("alice")
            .err("widget.create", json!({"sku": "D", "size": 1}))
            .1,
        "forbidden"
    );
    assert_eq!(root.err("widget.delete", json!({"id": made[0]})).0, -32601);
    assert_eq!(
        e.anon().err("widget.get", json!({"id": ROOT})).1,
        "not_found"
    );
    assert_eq!(
        e.anon().err("widget.list", json!({"limit": 501})).1,
        "invalid_input"
    );
}

#[test]
fn owner_rules_uniqueness_versions_and_secrets() {
    let e = start();
    let alice = e.as_user("alice");
    let bob = e.as_user("bob");
    let g = alice.ok(
        "gadget.create",
        json!({"name": "Lamp", "serial": "SN-1", "color": "red", "price": "9.99", "tags": ["desk"], "pin": "1234", "shelf": {"room": "attic", "level": 2}}),
    );
    let id = g["id"].as_str().unwrap().to_string();
    assert_eq!(
        g["owner_id"], ALICE,
        "the owner is the caller, never a param"
    );
    assert_eq!(
        g["checked"], false,
        "server-set fields start at their default"
    );
    assert!(
        g.get("pin").is_none(),
        "secret fields are never returned: {g}"
    );
    assert_eq!(g["price"], "9.99");
    assert_eq!(g["shelf"]["room"], "attic");

    // no mass assignment: owner, server-set fields and ids are not params
    assert_eq!(alice.err("gadget.create", json!({"name": "X", "serial": "SN-2", "color": "red", "price": "1", "tags": [], "checked": true})).0, -32602);
    assert_eq!(alice.err("gadget.create", json!({"name": "X", "serial": "SN-2", "color": "red", "price": "1", "tags": [], "owner_id": BOB})).0, -32602);
    // schema rules: every broken field named
    let err = alice
        .call("gadget.create", json!({"name": "", "serial": "SN-3", "color": "red", "price": "-1.1234567", "tags": [], "shelf": {"room": "", "level": 11}}))
        .unwrap_err();
    assert_eq!(err["data"]["kind"], "invalid_input");
    let fields = err["data"]["fields"].as_object().unwrap();
    let mut names: Vec<&str> = fields.keys().map(String::as_str).collect();
    names.sort();
    assert_eq!(names, ["name", "price", "shelf.level", "shelf.room"]);
    assert_eq!(
        alice
            .err(
                "gadget.create",
                json!({"name": "X", "serial": "SN-3", "color": "purple", "price": "1", "tags": []})
            )
            .1,
        "invalid_input"
    );
    // lists may be left out: they start empty
    let plain = bob.ok(
        "gadget.create",
        json!({"name": "Plain", "serial": "SN-9", "color": "red", "price": "0"}),
    );
    assert_eq!(plain["tags"], json!([]));
    // unique, case-insensitive
    assert_eq!(
        bob.err(
            "gadget.create",
            json!({"name": "Copy", "serial": "sn-1", "color": "blue", "price": "1", "tags": []})
        ),
        (4090, "conflict".into())
    );

    // update: only the owner (others are told it does not exist), with versions
    assert_eq!(
        bob.err("gadget.update", json!({"id": id, "name": "Mine now"}))
            .1,
        "not_found"
    );
    let g2 = alice.ok(
        "gadget.update",
        json!({"id": id, "name": "Desk lamp", "expected_version": 1}),
    );
    assert_eq!(g2["name"], "Desk lamp");
    assert_eq!(g2["version"], 2);
    assert_eq!(g2["serial"], "SN-1", "absent fields stay unchanged");
    assert_eq!(
        alice.err(
            "gadget.update",
            json!({"id": id, "name": "Stale", "expected_version": 1})
        ),
        (4090, "conflict".into())
    );
    let admin = e.as_user("root");
    assert_eq!(
        admin.ok("gadget.update", json!({"id": id, "color": "green"}))["version"],
        3
    );

    // find by the indexed enum; the public may read
    let green = e
        .anon()
        .ok("gadget.find", json!({"field": "color", "value": "green"}));
    assert_eq!(ids(&green), vec![id.clone()]);
    assert!(green["items"][0].get("pin").is_none());
    let by_serial = e
        .anon()
        .ok("gadget.find", json!({"field": "serial", "value": "sn-1"}));
    assert_eq!(ids(&by_serial), vec![id.clone()]);

    // the hand-written service sees the same data
    assert_eq!(
        e.anon().ok("inventory.count", json!({"color": "green"}))["count"],
        1
    );
    assert_eq!(
        alice.ok("inventory.reserve", json!({"color": "green"}))["id"],
        id
    );
    assert_eq!(
        alice.err("inventory.reserve", json!({"color": "blue"})).1,
        "conflict"
    );
    assert_eq!(
        e.anon()
            .err("inventory.reserve", json!({"color": "blue"}))
            .1,
        "unauthenticated"
    );

    // delete: admins only
    assert_eq!(alice.err("gadget.delete", json!({"id": id})).1, "forbidden");
    assert_eq!(
        admin.ok("gadget.delete", json!({"id": id})),
        json!({"ok": true})
    );
    assert_eq!(e.anon().err("gadget.get", json!({"id": id})).1, "not_found");
    assert_eq!(
        e.anon().ok("inventory.count", json!({"color": "green"}))["count"],
        0
    );
}

#[test]
fn idempotency_keys_replay_the_first_response_and_refuse_other_params() {
    let e = start();
    let alice = e.as_user("alice");
    let create = |key: &str, serial: &str| {
        json!({"jsonrpc": "2.0", "id": 7, "method": "gadget.create", "params": {
            "name": "Fan", "serial": serial, "color": "blue", "price": "5", "idempotency_key": key
        }})
        .to_string()
    };
    let first = alice.post_raw(&create("k-1", "FAN-1"));
    let repeat = alice.post_raw(&create("k-1", "FAN-1"));
    assert_eq!(
        first.body, repeat.body,
        "a repeat is answered byte for byte"
    );
    assert!(first.json()["result"]["id"].is_string());
    assert_eq!(
        e.anon().ok("inventory.count", json!({"color": "blue"}))["count"],
        1
    );
    // the same key with other params
    let other = alice.post_raw(&create("k-1", "FAN-2")).json();
    assert_eq!(other["error"]["code"], 4091);
    assert_eq!(other["error"]["data"]["kind"], "idempotency_mismatch");
    // keys belong to their caller: bob's k-1 is a new call (and the serial is taken)
    let bob = e.as_user("bob").post_raw(&create("k-1", "FAN-1")).json();
    assert_eq!(bob["error"]["data"]["kind"], "conflict");
    // a failed call stores nothing: the key can be retried
    let failed = alice.post_raw(&create("k-2", "FAN-1")).json();
    assert_eq!(failed["error"]["data"]["kind"], "conflict");
    let retried = alice.post_raw(&create("k-2", "FAN-3")).json();
    assert_eq!(retried["result"]["serial"], "FAN-3");
    assert_eq!(
        e.anon().ok("inventory.count", json!({"color": "blue"}))["count"],
        2
    );
    // public methods take no key
    let id = first.json()["result"]["id"].clone();
    assert_eq!(
        e.anon()
            .err("gadget.get", json!({"id": id, "idempotency_key": "x"}))
            .0,
        -32602
    );

    // concurrent repeats: exactly one gadget, every answer the same
    let bodies: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| s.spawn(|| alice.post_raw(&create("k-3", "FAN-4")).body))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(bodies.iter().all(|b| b == &bodies[0]), "{bodies:#?}");
    assert_eq!(
        e.anon().ok("inventory.count", json!({"color": "blue"}))["count"],
        3
    );
}

#[test]
fn a_new_root_object_with_a_four_method_service_needs_only_its_rules() {
    let e = start();
    let (alice, bob, root) = (e.as_user("alice"), e.as_user("bob"), e.as_user("root"));
    let g = alice.ok(
        "gadget.create",
        json!({"name": "Drill", "serial": "L-1", "color": "red", "price": "3", "tags": []}),
    );
    let gadget = g["id"].as_str().unwrap();

    // access from the schema: signed-in users lend, anyone reads history
    let (code, kind) = e.anon().err("loan.lend", json!({"gadget_id": gadget}));
    assert_eq!((code, kind.as_str()), (4010, "unauthenticated"));
    let (code, kind) = bob.err("loan.lend", json!({"gadget_id": ROOT}));
    assert_eq!((code, kind.as_str()), (4040, "not_found"));

    let first = bob.ok("loan.lend", json!({"gadget_id": gadget}));
    assert_eq!(first["borrower_id"], BOB);
    assert_eq!(first["returned"], false);
    let (code, kind) = alice.err("loan.lend", json!({"gadget_id": gadget}));
    assert_eq!((code, kind.as_str()), (4090, "conflict"));

    // the owner (or an admin) gives back; others do not learn it exists
    let (code, kind) = alice.err("loan.give_back", json!({"id": first["id"]}));
    assert_eq!((code, kind.as_str()), (4040, "not_found"));
    let back = bob.ok("loan.give_back", json!({"id": first["id"]}));
    assert_eq!(back["returned"], true);
    assert_eq!(back["version"], 2);
    let (code, kind) = bob.err("loan.give_back", json!({"id": first["id"]}));
    assert_eq!((code, kind.as_str()), (4220, "invalid_state"));

    let second = alice.ok("loan.lend", json!({"gadget_id": gadget}));
    root.ok("loan.give_back", json!({"id": second["id"]}));

    // one loan by id: its borrower or an admin; nobody without a token
    assert_eq!(bob.ok("loan.get", json!({"id": first["id"]})), back);
    assert_eq!(
        root.ok("loan.get", json!({"id": first["id"]}))["id"],
        first["id"]
    );
    let (code, kind) = alice.err("loan.get", json!({"id": first["id"]}));
    assert_eq!((code, kind.as_str()), (4040, "not_found"));
    let (code, kind) = e.anon().err("loan.get", json!({"id": first["id"]}));
    assert_eq!((code, kind.as_str()), (4010, "unauthenticated"));

    // paged history from the generated finder, newest first
    let page = e
        .anon()
        .ok("loan.history", json!({"gadget_id": gadget, "limit": 1}));
    assert_eq!(ids(&page), vec![second["id"].as_str().unwrap()]);
    let rest = e.anon().ok(
        "loan.history",
        json!({"gadget_id": gadget, "limit": 1, "cursor": page["next_cursor"]}),
    );
    assert_eq!(ids(&rest), vec![first["id"].as_str().unwrap()]);
    assert!(rest["next_cursor"].is_null());
    let (code, kind) = e
        .anon()
        .err("loan.history", json!({"gadget_id": gadget, "limit": 0}));
    assert_eq!((code, kind.as_str()), (4000, "invalid_input"));
}

#[test]
fn a_read_of_one_record_by_its_id_is_a_lookup_and_other_reads_are_not() {
    let dir = tempfile::tempdir().unwrap();
    let backend = RedbBackend::open(&dir.path().join("k.redb")).unwrap();
    let clock = Arc::new(ManualClock::new("2026-03-01T08:00:00Z".parse().unwrap()));
    let methods = codegen_fixture::methods(Arc::new(Db::new(Arc::new(backend), clock)));
    let kinds: Vec<(&str, Kind)> = [
        "loan.get",
        "gadget.get",
        "loan.history",
        "gadget.list",
        "gadget.find",
        "inventory.count",
        "loan.lend",
        "gadget.create",
    ]
    .into_iter()
    .map(|name| (name, methods.get(name).unwrap().kind))
    .collect();
    assert_eq!(
        kinds,
        [
            ("loan.get", Kind::Lookup),
            ("gadget.get", Kind::Lookup),
            ("loan.history", Kind::Read),
            ("gadget.list", Kind::Read),
            ("gadget.find", Kind::Read),
            ("inventory.count", Kind::Read),
            ("loan.lend", Kind::Write),
            ("gadget.create", Kind::Write),
        ]
    );
}
