//! The community board: rules and bad input over a socket; the event log,
//! its view, snapshots, restores and peer events in-process.

use std::sync::Arc;

use market_core::board::{BoardConfig, Community, Level, Manifest, NodeKey, SignedEvent};
use market_core::{App, AppConfig};
use market_store::{Db, ManualClock, RedbBackend};
use serde_json::{Value, json};

use crate::support::{self, START, id_of, str_of};

const WEEK: i64 = 7 * 24 * 3600;

fn post(title: &str) -> Value {
    json!({"category": "offer", "title": title, "body": "ask at the bakery", "tags": ["bikes"]})
}

fn log_len(app: &App) -> usize {
    app.board_snapshot_file().unwrap().events.len()
}

#[test]
fn posts_follow_the_rules_and_bad_input_stores_nothing() {
    let env = support::start();
    let (ada, ada_user) = env.register("ada@example.com");
    let (bob, _) = env.register("bob@example.com");

    let created = ada.ok("post.create", post("Free bike"));
    let p = &created["post"];
    let id = id_of(p);
    assert_eq!(str_of(&created["event_id"]), id);
    assert_eq!(created["lamport"], 1);
    assert_eq!(p["status"], "active");
    assert_eq!(p["version"], 1);
    assert_eq!(p["author_id"], ada_user["id"]);
    assert_eq!(p["origin_node"], env.app.node_id());
    let start: market_store::Timestamp = START.parse().unwrap();
    assert_eq!(
        str_of(&p["expires_at"]),
        start.add_seconds(WEEK).to_string()
    );

    // Bad input: each a clear error, nothing appended.
    let before = log_len(&env.app);
    let bad = [
        json!({"category": "offer", "title": "", "body": "b"}),
        json!({"category": "offer", "title": "   ", "body": "b"}),
        json!({"category": "offer", "title": "t", "body": "x".repeat(10_001)}),
        json!({"category": "offer", "title": "t".repeat(201), "body": "b"}),
        json!({"category": "offer", "title": "t", "body": "b", "tags": [""]}),
        json!({"category": "offer", "title": "t", "body": "b", "tags": ["x".repeat(51)]}),
        json!({"category": "offer", "title": "t", "body": "b", "tags": vec!["t"; 21]}),
        json!({"category": "offer", "title": "t", "body": "b", "ttl_seconds": 0}),
        json!({"category": "offer", "title": "t", "body": "b", "ttl_seconds": 30 * 24 * 3600 + 1}),
        json!({"category": "offer", "title": "t", "body": "b", "location": {"lat": 90.5, "lng": 0.0}}),
        json!({"category": "offer", "title": "t", "body": "b", "location": {"lat": 0.0, "lng": -180.5}}),
    ];
    for params in bad {
        let (code, kind) = ada.err("post.create", params.clone());
        assert_eq!((code, kind.as_str()), (4000, "invalid_input"), "{params}");
    }
    let (code, kind) = ada.err(
        "post.create",
        json!({"category": "party", "title": "t", "body": "b"}),
    );
    assert_eq!(
        (code, kind.as_str()),
        (4000, "invalid_input"),
        "unknown category"
    );
    let (code, _) = env.anon().err("post.create", post("anonymous"));
    assert_eq!(code, 4010);
    assert_eq!(log_len(&env.app), before, "bad input appended nothing");
    let (code, _) = ada.err("post.get", json!({"id": "01ARZ3NDEKTSV4RRFFQ69G5FAV"}));
    assert_eq!(code, 4040);

    // The maximum TTL is allowed.
    let long = ada.ok(
        "post.create",
        json!({"category": "info", "title": "Long", "body": "b", "ttl_seconds": 30 * 24 * 3600,
               "location": {"lat": -90.0, "lng": 180.0, "label": "pole"}}),
    );
    assert_eq!(long["post"]["location"]["label"], "pole");

    // Idempotency on (author, client_id).
    let first = ada.ok(
        "post.create",
        json!({"category": "request", "title": "Ladder?", "body": "b", "client_id": "c-1"}),
    );
    let n = log_len(&env.app);
    let again = ada.ok(
        "post.create",
        json!({"category": "request", "title": "Other", "body": "b", "client_id": "c-1"}),
    );
    assert_eq!(again["post"]["id"], first["post"]["id"]);
    assert_eq!(again["post"]["title"], "Ladder?");
    assert_eq!(log_len(&env.app), n, "a repeat creates nothing");
    let bobs = bob.ok(
        "post.create",
        json!({"category": "request", "title": "Bob's", "body": "b", "client_id": "c-1"}),
    );
    assert_ne!(
        bobs["post"]["id"], first["post"]["id"],
        "client ids are per author"
    );

    // Only the author updates; only the author uses the author's reasons.
    let (code, _) = bob.err("post.update", json!({"id": id, "title": "mine now"}));
    assert_eq!(code, 4030);
    let updated = ada.ok("post.update", json!({"id": id, "title": "Free bike, blue"}));
    assert_eq!(updated["title"], "Free bike, blue");
    assert_eq!(updated["version"], 2);
    let (code, _) = ada.err("post.update", json!({"id": id, "body": ""}));
    assert_eq!(code, 4000);
    let (code, _) = bob.err("post.expire", json!({"id": id, "reason": "fulfilled"}));
    assert_eq!(code, 4030);
    let (code, _) = ada.err("post.expire", json!({"id": id, "reason": "stale"}));
    assert_eq!(code, 4030, "stale needs a moderator");

    let listed = env.anon().ok("post.list", json!({}));
    assert_eq!(listed["items"].as_array().unwrap().len(), 4);
    let found = env.anon().ok("post.search", json!({"query": "blue bike"}));
    assert_eq!(found["fallback"], true);
    assert_eq!(found["items"][0]["post"]["id"], id.as_str());

    let expired = ada.ok("post.expire", json!({"id": id, "reason": "fulfilled"}));
    assert_eq!(expired["status"], "expired");
    assert_eq!(expired["expired_reason"], "fulfilled");
    assert_eq!(expired["expired_by"], ada_user["id"]);
    let (code, kind) = ada.err("post.expire", json!({"id": id, "reason": "withdrawn"}));
    assert_eq!((code, kind.as_str()), (4220, "invalid_state"));
    let (code, _) = ada.err("post.update", json!({"id": id, "title": "again"}));
    assert_eq!(code, 4220);
    let listed = env.anon().ok("post.list", json!({}));
    let ids: Vec<&str> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| str_of(&p["id"]))
        .collect();
    assert_eq!(ids.len(), 3);
    assert!(!ids.contains(&id.as_str()), "expired posts leave the list");
    let found = env.anon().ok("post.search", json!({"query": "blue bike"}));
    assert!(
        found["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|h| h["post"]["id"] != id.as_str())
    );
    assert_eq!(
        env.anon().ok("post.get", json!({"id": id}))["status"],
        "expired"
    );

    // Filters and pages.
    let requests = env.anon().ok("post.list", json!({"category": "request"}));
    assert_eq!(requests["items"].as_array().unwrap().len(), 2);
    let page = env.anon().ok("post.list", json!({"limit": 2}));
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    let rest = env.anon().ok(
        "post.list",
        json!({"limit": 2, "cursor": page["next_cursor"]}),
    );
    assert_eq!(rest["items"].as_array().unwrap().len(), 1);
    let newer = env.anon().ok("post.list", json!({"since_lamport": 3}));
    assert!(
        newer["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["lamport"].as_u64().unwrap() > 3)
    );
}

#[test]
fn moderators_expire_and_the_sweeper_expires_stale_posts() {
    let env = support::start();
    let (admin, _) = env.admin();
    let (ada, _) = env.register("ada@example.com");
    let (mo, mo_user) = env.register("mo@example.com");
    let id = id_of(&ada.ok("post.create", post("Spam"))["post"]);
    let (code, _) = mo.err("post.expire", json!({"id": id, "reason": "moderated"}));
    assert_eq!(code, 4030);
    admin.ok(
        "user.set_roles",
        json!({"id": mo_user["id"], "roles": ["customer", "moderator"]}),
    );
    let mo = env.login("mo@example.com", support::PASSWORD);
    let done = mo.ok("post.expire", json!({"id": id, "reason": "moderated"}));
    assert_eq!(done["expired_reason"], "moderated");

    let short = id_of(
        &ada.ok(
            "post.create",
            json!({"category": "emergency", "title": "Water", "body": "b", "ttl_seconds": 60}),
        )["post"],
    );
    assert_eq!(env.app.sweep_board().unwrap(), 0, "nothing is due yet");
    env.clock.advance_seconds(61);
    let listed = env.anon().ok("post.list", json!({}));
    assert!(
        listed["items"].as_array().unwrap().is_empty(),
        "past its TTL it leaves the list at once"
    );
    assert_eq!(env.app.sweep_board().unwrap(), 1);
    assert_eq!(
        env.app.sweep_board().unwrap(),
        0,
        "a swept post is not swept again"
    );
    let p = env.anon().ok("post.get", json!({"id": short}));
    assert_eq!(p["status"], "expired");
    assert_eq!(p["expired_reason"], "stale");
    assert_eq!(p["expired_by"], "system");
}

/// A business layer on a fresh database with this board configuration.
fn node(
    dir: &tempfile::TempDir,
    name: &str,
    board: BoardConfig,
    clock: &Arc<ManualClock>,
) -> Arc<App> {
    let backend = RedbBackend::open(&dir.path().join(name)).unwrap();
    let db = Arc::new(Db::new(Arc::new(backend), clock.clone()).with_cipher(support::cipher()));
    App::with_board(db, AppConfig::default(), board).unwrap()
}

fn user(app: &App, email: &str) -> market_rpc::Ctx {
    let added = app
        .add_user(
            email,
            support::PASSWORD,
            &[market_core::Role::Customer],
            "test",
        )
        .unwrap();
    let market_core::Added::Created(u) = added else {
        panic!("new user")
    };
    market_rpc::Ctx::new(
        "t",
        "",
        market_rpc::Caller::User(market_rpc::Principal {
            user_id: u.id,
            roles: vec!["customer".into()],
            token_id: None,
            api_key: false,
        }),
    )
}

fn call(
    app: &Arc<App>,
    ctx: &market_rpc::Ctx,
    method: &str,
    params: Value,
) -> Result<Value, market_rpc::RpcError> {
    let mut ctx = ctx.clone();
    ctx.method = method.into();
    let raw = app.methods().call(&ctx, Some(params))?;
    Ok(serde_json::from_str(raw.get()).unwrap())
}

#[test]
fn replay_snapshot_restart_and_restore_give_equal_state() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(START.parse().unwrap()));
    let key = NodeKey::from_seed([1; 32]);
    let path = dir.path().join("a.redb");
    let a = node(&dir, "a.redb", BoardConfig::new(key.clone()), &clock);
    let ada = user(&a, "ada@example.com");
    let mut ids = Vec::new();
    for i in 0..5 {
        let r = call(&a, &ada, "post.create", post(&format!("post {i}"))).unwrap();
        ids.push(id_of(&r["post"]));
    }
    call(
        &a,
        &ada,
        "post.update",
        json!({"id": ids[1], "tags": ["x", "y"]}),
    )
    .unwrap();
    call(
        &a,
        &ada,
        "post.expire",
        json!({"id": ids[2], "reason": "withdrawn"}),
    )
    .unwrap();
    let live = a.board_view().unwrap();
    let replayed = a.board_replay().unwrap();
    assert_eq!(
        live.state(),
        replayed.state(),
        "the view equals a replay of the log"
    );
    assert_eq!(live.posts.len(), 5);
    a.save_board_snapshot().unwrap();
    // After the snapshot: one more event, which a restart replays as the tail.
    call(
        &a,
        &ada,
        "post.update",
        json!({"id": ids[0], "title": "after the snapshot"}),
    )
    .unwrap();
    let file = a.board_snapshot_file().unwrap();
    let before_restart = a.board_view().unwrap();
    drop(a);
    let backend = RedbBackend::open(&path).unwrap();
    let db = Arc::new(Db::new(Arc::new(backend), clock.clone()).with_cipher(support::cipher()));
    let a = App::with_board(db, AppConfig::default(), BoardConfig::new(key)).unwrap();
    assert_eq!(
        a.board_view().unwrap().state(),
        before_restart.state(),
        "snapshot plus tail"
    );
    assert_eq!(
        a.board_view().unwrap().posts[&ids[0].parse().unwrap()]
            .title
            .value,
        "after the snapshot"
    );

    let b = node(
        &dir,
        "b.redb",
        BoardConfig::new(NodeKey::from_seed([2; 32])),
        &clock,
    );
    assert_eq!(b.restore_board_snapshot(&file).unwrap(), file.events.len());
    assert_eq!(
        b.board_view().unwrap().state(),
        before_restart.state(),
        "restored equals the source"
    );
    assert_eq!(b.board_replay().unwrap().state(), before_restart.state());
    assert_eq!(
        b.restore_board_snapshot(&file).unwrap(),
        0,
        "a second restore adds nothing"
    );

    // A tampered file is refused and leaves the database as it was.
    let mut tampered = file;
    tampered.events[0].data.title = Some("forged".into());
    let c = node(
        &dir,
        "c.redb",
        BoardConfig::new(NodeKey::from_seed([3; 32])),
        &clock,
    );
    let err = c.restore_board_snapshot(&tampered).unwrap_err();
    assert_eq!(err.kind(), Some("invalid_input"));
    assert!(err.message.contains("bad signature"), "{}", err.message);
    assert!(c.board_view().unwrap().posts.is_empty());
}

#[test]
fn peers_events_are_verified_deduplicated_and_expiries_converge() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(START.parse().unwrap()));
    let (ka, kb, kx) = (
        NodeKey::from_seed([1; 32]),
        NodeKey::from_seed([2; 32]),
        NodeKey::from_seed([9; 32]),
    );
    let manifest = Manifest::of([
        (ka.node_id(), Level::Anchor),
        (kb.node_id(), Level::Trusted),
    ]);
    let cfg = |k: &NodeKey| BoardConfig {
        community: Community(Some(manifest.clone())),
        ..BoardConfig::new(k.clone())
    };
    let a = node(&dir, "a.redb", cfg(&ka), &clock);
    let b = node(&dir, "b.redb", cfg(&kb), &clock);
    let ada = user(&a, "ada@example.com");
    let id = id_of(
        &call(
            &a,
            &ada,
            "post.create",
            json!({"category": "info", "title": "t", "body": "b", "ttl_seconds": 60}),
        )
        .unwrap()["post"],
    );
    let events = a.board_snapshot_file().unwrap().events;
    let r = b.ingest_board_events("a", &events).unwrap();
    assert_eq!((r.accepted, r.duplicates, r.rejected), (1, 0, 0));
    let r = b.ingest_board_events("a", &events).unwrap();
    assert_eq!((r.accepted, r.duplicates), (0, 1), "duplicates are dropped");
    assert!(
        b.board_view().unwrap().lamport >= 1,
        "the Lamport clock advanced"
    );

    let mut forged = events[0].clone();
    forged.id = "01ARZ3NDEKTSV4RRFFQ69G5FAV".parse().unwrap();
    let r = b.ingest_board_events("a", &[forged]).unwrap();
    assert_eq!(
        (r.accepted, r.rejected),
        (0, 1),
        "a tampered event is refused"
    );
    let outsider = node(&dir, "x.redb", BoardConfig::new(kx.clone()), &clock);
    let eve = user(&outsider, "eve@example.com");
    call(&outsider, &eve, "post.create", post("from outside")).unwrap();
    let foreign: Vec<SignedEvent> = outsider.board_snapshot_file().unwrap().events;
    let r = b.ingest_board_events("x", &foreign).unwrap();
    assert_eq!(
        (r.accepted, r.rejected),
        (0, 1),
        "a node outside the manifest is refused"
    );
    assert_eq!(b.board_view().unwrap().posts.len(), 1);

    // Both nodes expire the post at once; after exchanging, one expired post.
    clock.advance_seconds(61);
    assert_eq!(a.sweep_board().unwrap(), 1);
    assert_eq!(b.sweep_board().unwrap(), 1);
    let from_a = a.board_snapshot_file().unwrap().events;
    let from_b = b.board_snapshot_file().unwrap().events;
    b.ingest_board_events("a", &from_a).unwrap();
    a.ingest_board_events("b", &from_b).unwrap();
    let (va, vb) = (a.board_view().unwrap(), b.board_view().unwrap());
    assert_eq!(va.state(), vb.state(), "the nodes converge");
    let p = &va.posts[&id.parse().unwrap()];
    assert!(p.expiry.is_some());
    assert_eq!(p.version, 3, "created plus two expiries, one expired post");

    // A member node's stale expiries do not count.
    let km = NodeKey::from_seed([4; 32]);
    let with_member = Manifest::of([(ka.node_id(), Level::Anchor), (km.node_id(), Level::Member)]);
    let m = node(
        &dir,
        "m.redb",
        BoardConfig {
            community: Community(Some(with_member)),
            ..BoardConfig::new(km)
        },
        &clock,
    );
    let mia = user(&m, "mia@example.com");
    call(
        &m,
        &mia,
        "post.create",
        json!({"category": "info", "title": "t", "body": "b", "ttl_seconds": 60}),
    )
    .unwrap();
    clock.advance_seconds(61);
    assert_eq!(m.sweep_board().unwrap(), 0, "a member node does not sweep");
}
