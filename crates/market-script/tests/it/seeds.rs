//! The seed scripts: `seed_demo.rhai` on an empty database and against a
//! running server (the same marketplace either way, seeded once), and
//! `seed_marketplace.rhai` at `--set scale=1`, checked by the data they leave.

use std::sync::Arc;

use market_core::{App, AppConfig};
use market_script::{Limits, Options, Output, ScriptHost, Transport};
use market_store::{Db, SecretCipher};
use rhai::Dynamic;
use serde_json::{Value, json};

use crate::support::{ADMIN, BOTH, Env, Host, Via};

/// Reads back what `seed_demo.rhai` made, through calls: as the operator,
/// then signed in as alice, sam and bob.
const DEMO_CHECK: &str = r#"
let password = "demo-password-1";
let out = #{};
out.stats = call("admin.stats");
let users = user::list(#{limit: 500}).items;
out.demo_users = users.filter(|u| u.email.ends_with("@demo.example")).map(|u| u.email);
out.admins = users.filter(|u| "admin" in u.roles).map(|u| u.email);
out.providers = provider::list(#{limit: 500}).items.map(|p| p.kind);
out.products = product::list(#{limit: 500}).items.map(|p| [p.name, p.status]);
out.nodes = node::list(#{limit: 500}).items.map(|n| [n.name, n.status]);
out.ledger = ledger::verify();

login("alice@demo.example", password);
out.alice = wallet::get().balance;
out.alice_orders = order::list().items.map(|o| [o.total, o.status]);
out.alice_rentals = rental::list().items.map(|r| [r.units, r.status]);
let threads = message::threads().items;
out.alice_threads = threads.len();
out.thread_with = threads[0].other_display_name;
out.thread_about_order = threads[0].order_id != ();
out.messages = message::list(#{thread_id: threads[0].thread_id}).items.map(|m| m.body);

login("sam@demo.example", password);
out.sam = wallet::get().balance;
out.sam_bookings = booking::list().items.map(|b| [b.product_name, b.status, b.progress]);

login("bob@demo.example", password);
out.bob = wallet::get().balance;
out.bob_orders = order::list().items.len();
out.bob_sees = product::list(#{limit: 500}).items.len();
as_operator();
out
"#;

/// What changes when anything is written: totals, the newest audit entry
/// and every user's version.
const SNAPSHOT: &str = r#"
#{
    stats: call("admin.stats"),
    newest_audit: admin::audit(#{limit: 1}).items.map(|a| a.id),
    users: user::list(#{limit: 500}).items.map(|u| [u.email, u.version]),
}
"#;

fn sorted(v: &Value) -> Vec<Value> {
    let mut items = v.as_array().unwrap().clone();
    items.sort_by_key(|x| x.to_string());
    items
}

/// The checks on [`DEMO_CHECK`]'s summary; `others` users existed before.
fn assert_demo(r: &Value, others: u64) {
    let stats = &r["stats"];
    assert_eq!(stats["users"], 7 + others, "{r}");
    assert_eq!(stats["providers"], 4, "{r}");
    assert_eq!(stats["products"], 9, "{r}");
    assert_eq!(stats["nodes"], 3, "{r}");
    assert_eq!(stats["orders"], 3, "{r}");
    assert_eq!(stats["active_rentals"], 1, "{r}");
    let mut demo: Vec<&str> = r["demo_users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    demo.sort();
    assert_eq!(
        demo,
        [
            "ada@demo.example",
            "admin@demo.example",
            "alice@demo.example",
            "bob@demo.example",
            "rex@demo.example",
            "rita@demo.example",
            "sam@demo.example",
        ]
    );
    let admins: Vec<&str> = r["admins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .filter(|e| e.ends_with("@demo.example"))
        .collect();
    assert_eq!(admins, ["admin@demo.example"], "one demo admin");
    assert_eq!(
        sorted(&r["providers"]),
        sorted(&json!(["app", "resource", "resource", "service"]))
    );
    let products = r["products"].as_array().unwrap();
    assert_eq!(products.len(), 9, "the operator sees drafts too: {r}");
    let drafts: Vec<&Value> = products.iter().filter(|p| p[1] == "draft").collect();
    assert_eq!(drafts, [&json!(["Analytics (beta)", "draft"])]);
    assert_eq!(
        sorted(&r["nodes"]),
        sorted(&json!([
            ["ghent-01", "online"],
            ["cairo-01", "online"],
            ["lisbon-01", "maintenance"],
        ]))
    );
    let ledger = &r["ledger"];
    assert_eq!(ledger["ok"], true, "{ledger}");
    assert_eq!(ledger["problems"], json!([]));
    // 800 granted, less the rental's 24 held in escrow and the commission
    // (10%) on the 180 fulfilled: 311 + 285 (bob) + 108 (sam) + 54 (ada).
    assert_eq!(ledger["total"], "758", "{ledger}");

    // 500 granted; checkout: Node setup 120 + 3 x Team Wiki 15 = 165; the
    // rental: 2 of ghent-01's 16 units at 8/h for 24 h = 8 * 2 * 24 / 16 = 24.
    assert_eq!(r["alice"], "311", "{r}");
    assert_eq!(
        sorted(&r["alice_orders"]),
        sorted(&json!([["165", "completed"], ["24", "paid"]]))
    );
    assert_eq!(r["alice_rentals"], json!([[2, "active"]]));
    assert_eq!(r["alice_threads"], 1);
    assert_eq!(r["thread_with"], "Sam Services");
    assert_eq!(r["thread_about_order"], true);
    assert_eq!(
        r["messages"],
        json!([
            "Tomorrow morning works. I'll start then.",
            "Hi Sam, when could you set up my node?",
        ]),
        "two messages, newest first"
    );
    assert_eq!(
        r["sam_bookings"],
        json!([["Node setup", "in_progress", 30]])
    );
    assert_eq!(r["sam"], "108", "Node setup 120 less 10% commission");
    assert_eq!(r["bob"], "285", "300 granted, one Team Wiki at 15");
    assert_eq!(r["bob_orders"], 1);
    assert_eq!(r["bob_sees"], 8, "buyers do not see the draft");
}

/// A host on a local database nobody has used yet: no users at all.
fn empty_local() -> (tempfile::TempDir, Host) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("redb://{}", dir.path().join("m.redb").display());
    let db = Arc::new(
        Db::open(&url)
            .unwrap()
            .with_cipher(SecretCipher::from_text(&"22".repeat(32)).unwrap()),
    );
    let app = App::new(db, AppConfig::default()).unwrap();
    let (output, text) = Output::capture();
    let host = ScriptHost::new(
        Transport::local(app),
        Options {
            limits: Limits::default(),
            output,
            progress_bars: false,
            args: Vec::new(),
            files_dir: None,
        },
    );
    (dir, Host { host, text })
}

#[test]
fn seed_demo_fills_an_empty_database_once() {
    let (_dir, h) = empty_local();
    let out = h
        .run_script("seed_demo.rhai")
        .unwrap_or_else(|e| panic!("{e}\n{}", h.printed()));
    assert_eq!(
        out,
        json!({"seeded": true, "users": 7, "products": 9, "orders": 3})
    );
    assert!(
        h.printed()
            .contains("seeded 7 users, 4 providers, 9 products, 3 nodes, 3 orders"),
        "{}",
        h.printed()
    );
    let before = h.run(SNAPSHOT).unwrap();
    let summary = h.run(DEMO_CHECK).unwrap();
    assert_demo(&summary, 0);

    let after_check = h.run(SNAPSHOT).unwrap();
    let again = h.run_script("seed_demo.rhai").unwrap();
    assert_eq!(again, json!({"seeded": false}));
    assert!(
        h.printed().contains("the marketplace is not empty"),
        "{}",
        h.printed()
    );
    assert_eq!(
        h.run(SNAPSHOT).unwrap(),
        after_check,
        "a second run writes nothing"
    );
    assert_eq!(before["stats"], after_check["stats"]);
}

#[test]
fn seed_demo_gives_the_same_marketplace_in_both_transports() {
    let summaries: Vec<Value> = BOTH
        .iter()
        .map(|&via| {
            // A running server needs an admin's token; admins alone do not
            // make the marketplace "not empty".
            let env = Env::new(via);
            let h = env.host(&[]);
            let out = h
                .run_script("seed_demo.rhai")
                .unwrap_or_else(|e| panic!("{via:?}: {e}\n{}", h.printed()));
            assert_eq!(
                out,
                json!({"seeded": true, "users": 8, "products": 9, "orders": 3}),
                "{via:?}"
            );
            let summary = h.run(DEMO_CHECK).unwrap_or_else(|e| panic!("{via:?}: {e}"));
            assert_demo(&summary, 1);
            assert!(
                summary["admins"]
                    .as_array()
                    .unwrap()
                    .contains(&json!(ADMIN))
            );

            let before = h.run(SNAPSHOT).unwrap();
            assert_eq!(
                h.run_script("seed_demo.rhai").unwrap(),
                json!({"seeded": false}),
                "{via:?}"
            );
            assert_eq!(h.run(SNAPSHOT).unwrap(), before, "{via:?}: nothing changes");
            summary
        })
        .collect();
    assert_eq!(summaries[0], summaries[1], "the same data either way");
}

#[test]
fn seed_demo_leaves_a_marketplace_with_customers_alone() {
    let env = Env::new(Via::Local);
    env.add_user("ada@example.com", &[]);
    let h = env.host(&[]);
    let before = h.run(SNAPSHOT).unwrap();
    assert_eq!(
        h.run_script("seed_demo.rhai").unwrap(),
        json!({"seeded": false})
    );
    assert!(
        h.printed().contains("1 users besides admins"),
        "{}",
        h.printed()
    );
    assert_eq!(h.run(SNAPSHOT).unwrap(), before);
}

/// Every page of `product.list` at `limit`: the page sizes and the number
/// of distinct ids.
const WALK_PRODUCTS: &str = r#"
let limit = 300;
let sizes = [];
let seen = #{};
let cursor = ();
loop {
    let params = #{limit: limit};
    if cursor != () { params.cursor = cursor; }
    let page = product::list(params);
    sizes.push(page.items.len());
    for p in page.items { seen[p.id] = true; }
    cursor = page.next_cursor;
    if cursor == () { break; }
}
#{sizes: sizes, distinct: seen.len()}
"#;

fn set(arg: &str) -> (String, Dynamic) {
    market_script::parse_set(arg).unwrap()
}

#[test]
fn seed_marketplace_at_scale_one() {
    let env = Env::new(Via::Local);
    let (name, value) = set("scale=1");
    let h = env.host(&[(&name, value)]);
    // As `marketplace run` does: the writes become durable together at the end.
    let (out, pending) = market_store::deferred(|| h.run_script("seed_marketplace.rhai"));
    pending.wait().unwrap();
    let out = out.unwrap_or_else(|e| panic!("{e}\n{}", h.printed()));
    // 3 providers of each kind and 5 customers; plus the environment's admin.
    assert_eq!(
        out,
        json!({"products": 1000, "nodes": 10, "orders": 5, "users": 15})
    );
    assert!(
        h.printed()
            .contains("seeded 1000 products, 10 nodes, 5 orders, 15 users"),
        "{}",
        h.printed()
    );

    let r = h
        .run(
            r#"
            let out = #{};
            out.stats = call("admin.stats");
            out.seeded_users = user::list(#{limit: 500}).items.filter(|u| u.email.ends_with("@seed.example")).len();
            out.providers = provider::list(#{limit: 500}).items.map(|p| p.kind);
            out.nodes = node::list(#{limit: 500}).items.len();
            let found = product::search(#{query: "quantum", limit: 20});
            out.found = found.items.map(|p| p.name);
            out.more = found.next_cursor != ();
            out.one = product::search(#{query: "quantum wiki"}).items[0].name;
            out.ledger = ledger::verify();
            out
            "#,
        )
        .unwrap();
    assert_eq!(r["stats"]["products"], 1000);
    assert_eq!(r["stats"]["nodes"], 10);
    assert_eq!(r["stats"]["orders"], 5);
    assert_eq!(r["stats"]["providers"], 9);
    assert_eq!(r["stats"]["users"], 15);
    assert_eq!(r["seeded_users"], 14, "9 sellers and 5 customers");
    assert_eq!(
        sorted(&r["providers"]),
        sorted(&json!([
            "service", "service", "service", "app", "app", "app", "resource", "resource",
            "resource"
        ]))
    );
    assert_eq!(r["nodes"], 10);
    let found = r["found"].as_array().unwrap();
    assert_eq!(found.len(), 20, "{r}");
    assert!(
        found
            .iter()
            .all(|n| n.as_str().unwrap().starts_with("quantum ")),
        "{r}"
    );
    assert_eq!(r["more"], true, "100 quantum products, more than a page");
    assert!(
        r["one"].as_str().unwrap().starts_with("quantum wiki "),
        "{r}"
    );
    assert_eq!(r["ledger"]["ok"], true, "{r}");

    let pages = h.run(WALK_PRODUCTS).unwrap();
    assert_eq!(
        pages,
        json!({"sizes": [300, 300, 300, 100], "distinct": 1000})
    );
}

#[test]
fn seed_marketplace_refuses_a_scale_that_is_not_a_whole_number() {
    let env = Env::new(Via::Local);
    for arg in ["scale=0", "scale=-2", "scale=abc", "scale=1.5"] {
        let (name, value) = set(arg);
        let h = env.host(&[(&name, value)]);
        let e = h.run_script("seed_marketplace.rhai").unwrap_err();
        assert_eq!(
            e.message, "scale must be a whole number of at least 1",
            "{arg}: {e}"
        );
        assert!(e.to_string().contains("seed_marketplace.rhai:"), "{e}");
    }
    assert_eq!(env.user(ADMIN).version, 1);
    let stats = env.host(&[]).run("call(\"admin.stats\")").unwrap();
    assert_eq!(stats["users"], 1, "nothing written");
}

#[test]
fn seed_marketplace_gives_the_same_marketplace_in_both_transports() {
    let mut summaries = Vec::new();
    for via in BOTH {
        let env = Env::new(via);
        let (name, value) = set("scale=1");
        let h = env.host(&[(&name, value)]);
        let (out, pending) = market_store::deferred(|| h.run_script("seed_marketplace.rhai"));
        pending.wait().unwrap();
        let out = out.unwrap_or_else(|e| panic!("{via:?}: {e}\n{}", h.printed()));
        assert_eq!(
            out,
            json!({"products": 1000, "nodes": 10, "orders": 5, "users": 15}),
            "{via:?}"
        );
        let r = h
            .run(
                r#"
                let out = #{};
                out.stats = call("admin.stats");
                out.providers = provider::list(#{limit: 500}).items.map(|p| p.kind).len();
                out.ledger = ledger::verify().ok;
                out
                "#,
            )
            .unwrap();
        summaries.push(r);
    }
    assert_eq!(summaries[0], summaries[1]);
    assert_eq!(summaries[0]["ledger"], true);
    assert_eq!(summaries[0]["providers"], 9);
}
