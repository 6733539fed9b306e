//! `product.search`: ranking, visibility, freshness, paging, and the index
//! rebuilt from the store after its files are deleted.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use market_core::AppConfig;
use market_store::ChangeReads;
use serde_json::{Value, json};

use super::helpers::*;
use crate::support::*;

fn search(e: &Env, query: &str) -> Vec<String> {
    ids(&e.anon().ok("product.search", json!({"query": query})))
}

/// The changes the log still holds, against what it should hold once the
/// index applied all `made`: none alone, pruned; on a database several
/// processes share (PostgreSQL), a tail far longer than a test's changes.
fn logged_changes(e: &Env, made: usize) -> (usize, usize) {
    let held =
        e.db.read(|tx| tx.changes_after(0, 1000))
            .expect("read the change log")
            .len();
    (held, if e.db.is_shared() { made } else { 0 })
}

fn make(c: &market_testkit::Client, name: &str, description: &str, tags: Value) -> Value {
    c.ok(
        "product.create",
        json!({
            "category": "app", "name": name, "description": description,
            "price": "1", "pricing_unit": "month", "tags": tags,
        }),
    )
}

#[test]
fn an_exact_name_match_ranks_above_a_description_mention() {
    let e = start();
    let (c, _, _) = provider(&e, "p@example.com", "app");
    // the description mention is indexed first, so insertion order cannot
    // explain the ranking
    let basic = make(
        &c,
        "Basic server",
        "A plain machine; it will not run quantum chemistry fast, but it is cheap and reliable for web hosting",
        json!([]),
    );
    let quantum = make(
        &c,
        "Quantum GPU",
        "Accelerated computing for simulations",
        json!([]),
    );
    let unrelated = make(&c, "Mail relay", "Sends your newsletters", json!(["smtp"]));
    let hidden = make(&c, "Quantum hidden", "quantum", json!([]));
    c.ok(
        "product.update",
        json!({"id": hidden["id"], "status": "draft"}),
    );
    c.ok(
        "product.create",
        json!({"category": "app", "name": "Quantum secret", "description": "quantum", "price": "1",
               "pricing_unit": "month", "draft": true}),
    );
    // the name match first, the description mention after it, no drafts
    assert_eq!(search(&e, "quantum"), vec![id_of(&quantum), id_of(&basic)]);
    assert_eq!(search(&e, "Quantum GPU")[0], id_of(&quantum));
    assert_eq!(
        search(&e, "smtp"),
        vec![id_of(&unrelated)],
        "tags are searched"
    );
    assert_eq!(search(&e, "newsletters"), vec![id_of(&unrelated)]);
    assert!(search(&e, "zeppelin").is_empty());
}

#[test]
fn search_follows_renames_archiving_and_publishing() {
    let e = start();
    let (c, _, _) = provider(&e, "p@example.com", "app");
    let p = make(&c, "Quantum GPU", "fast", json!([]));
    assert_eq!(search(&e, "quantum"), vec![id_of(&p)]);
    c.ok(
        "product.update",
        json!({"id": p["id"], "name": "Photon TPU"}),
    );
    assert!(search(&e, "quantum").is_empty(), "the old name is gone");
    assert_eq!(search(&e, "photon"), vec![id_of(&p)]);
    c.ok("product.update", json!({"id": p["id"], "tags": ["tensor"]}));
    assert_eq!(search(&e, "tensor"), vec![id_of(&p)]);
    c.ok("product.update", json!({"id": p["id"], "status": "draft"}));
    assert!(search(&e, "photon").is_empty(), "a draft is not searchable");
    c.ok("product.update", json!({"id": p["id"], "status": "active"}));
    assert_eq!(search(&e, "photon"), vec![id_of(&p)]);
    c.ok("product.archive", json!({"id": p["id"]}));
    assert!(
        search(&e, "photon").is_empty(),
        "archived products disappear"
    );
    assert!(search(&e, "tensor").is_empty());
    let d = c.ok(
        "product.create",
        json!({"category": "app", "name": "Photon draft", "description": "", "price": "1",
               "pricing_unit": "month", "draft": true}),
    );
    assert!(search(&e, "photon").is_empty());
    c.ok("product.update", json!({"id": d["id"], "status": "active"}));
    assert_eq!(search(&e, "photon"), vec![id_of(&d)]);
}

#[test]
fn search_pages_with_next_cursor() {
    let e = start();
    let (c, _, _) = provider(&e, "p@example.com", "app");
    let mut made = HashSet::new();
    for i in 0..5 {
        made.insert(id_of(&make(
            &c,
            &format!("Widget {i}"),
            "a widget",
            json!([]),
        )));
    }
    make(&c, "Gadget", "nothing alike", json!([]));
    let anon = e.anon();
    let first = anon.ok("product.search", json!({"query": "widget", "limit": 2}));
    assert_eq!(items(&first).len(), 2);
    assert!(first["next_cursor"].is_string(), "{first}");
    let mut got = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut params = json!({"query": "widget", "limit": 2});
        if let Some(cur) = &cursor {
            params["cursor"] = json!(cur);
        }
        let page = anon.ok("product.search", params);
        pages += 1;
        got.extend(ids(&page));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
        assert!(pages < 10, "search pages do not end");
    }
    assert_eq!(pages, 3);
    let unique: HashSet<String> = got.iter().cloned().collect();
    assert_eq!(got.len(), 5, "{got:?}");
    assert_eq!(unique, made);
    // one page holding everything
    let all = anon.ok("product.search", json!({"query": "widget", "limit": 5}));
    assert_eq!(ids(&all).len(), 5);
    assert!(all["next_cursor"].is_null(), "{all}");
    assert_eq!(ids(&all), got, "pages follow the same ranking");
    fails_on_field(
        &anon,
        "product.search",
        json!({"query": "widget", "limit": 501}),
        "limit",
    );
}

#[test]
fn the_index_is_rebuilt_after_its_files_are_deleted() {
    let root = tempfile::tempdir().expect("temp dir");
    let (search_dir, config) = on_disk(root.path());
    let e = start_with(config.clone(), server_config());
    let (c, _, _) = provider(&e, "p@example.com", "app");
    let quantum = make(&c, "Quantum GPU", "fast", json!([]));
    let basic = make(&c, "Basic server", "no quantum inside", json!([]));
    let gone = make(&c, "Quantum relic", "old", json!([]));
    c.ok("product.archive", json!({"id": gone["id"]}));
    let before = search(&e, "quantum");
    assert_eq!(before, vec![id_of(&quantum), id_of(&basic)]);
    assert!(
        search_dir.join("meta.json").exists(),
        "the index lives on disk"
    );
    drop(c);
    let e = restart(e, config.clone());
    assert_eq!(search(&e, "quantum"), before, "a restart keeps the index");
    // stop, delete the index, start again on the same database and folder
    let e = {
        let clock = e.clock.clone();
        let (db_path, dir) = e.shutdown();
        std::fs::remove_dir_all(&search_dir).expect("delete the index");
        assert!(!search_dir.exists());
        let env = reopen(db_path, dir, clock, config.clone());
        assert!(
            search_dir.join("meta.json").exists(),
            "created at start-up, filled by the first sync"
        );
        env
    };
    assert_eq!(search(&e, "quantum"), before);
    assert_eq!(search(&e, "gpu"), vec![id_of(&quantum)]);
    assert!(search(&e, "relic").is_empty(), "archived stays out");
    // and it keeps following changes
    let c = e.login("p@example.com", PASSWORD);
    let fresh = make(&c, "Quantum annealer", "new", json!([]));
    assert_eq!(search(&e, "annealer"), vec![id_of(&fresh)]);
}

/// Stop the server, put `index` in place of the index folder, start again.
fn restart_with_index(e: Env, search_dir: &Path, index: &Path, config: AppConfig) -> Env {
    let clock = e.clock.clone();
    let (db_path, dir) = e.shutdown();
    std::fs::remove_dir_all(search_dir).unwrap();
    copy_dir(index, search_dir);
    reopen(db_path, dir, clock, config)
}

fn on_disk(root: &Path) -> (PathBuf, AppConfig) {
    let search_dir = root.join("search");
    let config = AppConfig {
        test_payments: true,
        search_dir: Some(search_dir.clone()),
        ..Default::default()
    };
    (search_dir, config)
}

#[test]
fn an_index_older_than_the_store_catches_up_at_start() {
    let root = tempfile::tempdir().expect("temp dir");
    let (search_dir, config) = on_disk(root.path());
    let e = start_with(config.clone(), server_config());
    let (c, _, _) = provider(&e, "p@example.com", "app");
    let p = make(&c, "Quantum annealer", "new", json!([]));
    assert_eq!(search(&e, "annealer"), vec![id_of(&p)]);
    // the search waited for the index, which then forgot the change it holds
    let (held, expected) = logged_changes(&e, 1);
    assert_eq!(held, expected);
    // keep a copy of the index as it is now, then change the product
    let snapshot = root.path().join("snapshot");
    copy_dir(&search_dir, &snapshot);
    c.ok(
        "product.update",
        json!({"id": p["id"], "name": "Ising machine"}),
    );
    drop(c);
    let e = restart_with_index(e, &search_dir, &snapshot, config);
    assert_eq!(search(&e, "ising"), vec![id_of(&p)]);
    assert!(search(&e, "annealer").is_empty());
}

/// The same, but the index had already applied (and so dropped from the
/// change log) the later change before the old files came back: the store
/// alone knows it.
#[test]
fn an_index_older_than_pruned_changes_is_rebuilt() {
    let root = tempfile::tempdir().expect("temp dir");
    let (search_dir, config) = on_disk(root.path());
    let e = start_with(config.clone(), server_config());
    let (c, _, _) = provider(&e, "p@example.com", "app");
    let p = make(&c, "Quantum annealer", "new", json!([]));
    assert_eq!(search(&e, "annealer"), vec![id_of(&p)]);
    let snapshot = root.path().join("snapshot");
    copy_dir(&search_dir, &snapshot);
    c.ok(
        "product.update",
        json!({"id": p["id"], "name": "Ising machine"}),
    );
    assert_eq!(search(&e, "ising"), vec![id_of(&p)]);
    drop(c);
    let e = restart_with_index(e, &search_dir, &snapshot, config);
    assert_eq!(search(&e, "ising"), vec![id_of(&p)]);
    assert!(search(&e, "annealer").is_empty());
    // the rebuilt index holds every change: the log keeps none of them
    let (held, expected) = logged_changes(&e, 2);
    assert_eq!(held, expected);
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn a_cursor_beyond_any_real_page_is_invalid_input() {
    let e = start();
    let (c, _, _) = provider(&e, "deep@example.com", "app");
    make(&c, "Widget", "a widget", json!([]));
    for cursor in ["1000000000000", "18446744073709551615", "-1"] {
        let (code, kind) = e.anon().err(
            "product.search",
            json!({"query": "widget", "cursor": cursor}),
        );
        assert_eq!((code, kind.as_str()), (4000, "invalid_input"), "{cursor}");
    }
    assert_eq!(
        search(&e, "widget").len(),
        1,
        "the server is still answering"
    );
}
