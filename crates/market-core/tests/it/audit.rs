//! `admin.audit`: one entry per changed root object, newest first.

use std::collections::BTreeSet;

use market_testkit::Client;
use serde_json::{Value, json};

use crate::support::*;

fn audit(admin: &Client, params: Value) -> Vec<Value> {
    let page = admin.ok("admin.audit", params);
    page["items"].as_array().expect("items").clone()
}

/// `(method, object_type, action)` of entries.
fn summary(entries: &[Value]) -> Vec<(String, String, String)> {
    entries
        .iter()
        .map(|e| {
            (
                str_of(&e["method"]).to_string(),
                str_of(&e["object_type"]).to_string(),
                str_of(&e["action"]).to_string(),
            )
        })
        .collect()
}

fn triple(m: &str, t: &str, a: &str) -> (String, String, String) {
    (m.to_string(), t.to_string(), a.to_string())
}

#[test]
fn entries_are_newest_first_with_their_full_shape() {
    let e = start();
    let (admin, admin_user) = e.admin();
    let (c, user) = e.register("a@example.com");
    c.ok("user.update_profile", json!({"display_name": "Renamed"}));
    admin.ok(
        "user.suspend",
        json!({"id": id_of(&user), "reason": "audit me"}),
    );
    let entries = audit(&admin, json!({"limit": 500}));
    assert!(entries.len() >= 5, "{entries:#?}");
    let fields = BTreeSet::from([
        "id",
        "at",
        "actor_id",
        "method",
        "object_type",
        "object_id",
        "action",
        "request_id",
    ]);
    for entry in &entries {
        let keys: BTreeSet<&str> = entry
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys, fields, "{entry}");
        assert_eq!(ts(str_of(&entry["at"])), ts(START));
        assert!(str_of(&entry["at"]).ends_with('Z'));
    }
    let ids: Vec<&str> = entries.iter().map(|x| str_of(&x["id"])).collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first: {ids:?}");
    // the newest entries are the suspension, then the profile change
    assert_eq!(
        summary(&entries[..2]),
        [
            triple("user.suspend", "user", "update"),
            triple("user.update_profile", "user", "update"),
        ]
    );
    assert_eq!(entries[0]["actor_id"], admin_user["id"]);
    assert_eq!(entries[0]["object_id"], user["id"]);
    assert_eq!(entries[1]["actor_id"], user["id"]);
    assert_ne!(entries[0]["request_id"], entries[1]["request_id"]);
    // registration created (at least) the user, its wallet and a session
    let register: Vec<_> = entries
        .iter()
        .filter(|x| x["method"] == "auth.register")
        .collect();
    let types: BTreeSet<&str> = register.iter().map(|x| str_of(&x["object_type"])).collect();
    for created in ["user", "account", "session"] {
        assert!(types.contains(created), "{types:?}");
    }
    assert!(register.iter().all(|x| x["action"] == "create"));
    assert_eq!(
        register
            .iter()
            .map(|x| str_of(&x["request_id"]))
            .collect::<BTreeSet<_>>()
            .len(),
        1
    );
}

#[test]
fn entries_page_with_next_cursor() {
    let e = start();
    let (admin, _) = e.admin();
    let (c, _) = e.register("p@example.com");
    for i in 0..3 {
        c.ok(
            "user.update_profile",
            json!({"display_name": format!("n{i}")}),
        );
    }
    let all = audit(&admin, json!({"limit": 500}));
    let mut paged = Vec::new();
    let mut cursor = Value::Null;
    loop {
        let page = admin.ok("admin.audit", json!({"limit": 2, "cursor": cursor}));
        paged.extend(page["items"].as_array().unwrap().iter().cloned());
        cursor = page["next_cursor"].clone();
        if cursor.is_null() {
            break;
        }
    }
    assert_eq!(paged, all);
}

#[test]
fn entries_filter_by_actor_and_by_object() {
    let e = start();
    let (admin, _) = e.admin();
    let (alice, alice_user) = e.register("alice@example.com");
    let (bob, bob_user) = e.register("bob@example.com");
    let key = alice.ok("sshkey.add", json!({"name": "k", "public_key": ED25519}));
    bob.ok("user.update_profile", json!({"display_name": "Bobby"}));
    alice.ok("user.update_profile", json!({"display_name": "Ally"}));
    let alice_id = id_of(&alice_user);

    let by_alice = audit(&admin, json!({"actor_id": alice_id}));
    assert!(!by_alice.is_empty());
    assert!(by_alice.iter().all(|x| x["actor_id"] == alice_user["id"]));
    assert_eq!(
        summary(&by_alice),
        [
            triple("user.update_profile", "user", "update"),
            triple("sshkey.add", "ssh_key", "create"),
        ]
    );

    let on_key = audit(&admin, json!({"object_id": id_of(&key)}));
    assert_eq!(
        summary(&on_key),
        [triple("sshkey.add", "ssh_key", "create")]
    );
    assert_eq!(on_key[0]["object_id"], key["id"]);

    let on_bob = audit(&admin, json!({"object_id": id_of(&bob_user)}));
    assert_eq!(
        summary(&on_bob),
        [
            triple("user.update_profile", "user", "update"),
            triple("auth.register", "user", "create"),
        ]
    );
    assert!(on_bob.iter().all(|x| x["object_id"] == bob_user["id"]));

    // both filters at once
    let both = audit(
        &admin,
        json!({"actor_id": alice_id, "object_id": id_of(&bob_user)}),
    );
    assert!(both.is_empty(), "{both:#?}");
    let both = audit(&admin, json!({"actor_id": alice_id, "object_id": alice_id}));
    assert_eq!(
        summary(&both),
        [triple("user.update_profile", "user", "update")]
    );
}

#[test]
fn one_transfer_writes_several_entries_with_one_request_id() {
    let e = start();
    let (admin, _) = e.admin();
    let (alice, alice_user) = e.register("alice@example.com");
    e.register("bob@example.com");
    grant(&admin, &id_of(&alice_user), "10");
    let t = alice.ok(
        "wallet.transfer",
        json!({"to_email": "bob@example.com", "amount": "3"}),
    );
    let on_transfer = audit(&admin, json!({"object_id": id_of(&t)}));
    assert_eq!(
        summary(&on_transfer),
        [triple("wallet.transfer", "transfer", "create")]
    );
    let request_id = on_transfer[0]["request_id"].clone();
    assert!(!str_of(&request_id).is_empty());
    let all = audit(&admin, json!({"limit": 500}));
    let same: Vec<Value> = all
        .iter()
        .filter(|x| x["request_id"] == request_id)
        .cloned()
        .collect();
    let mut kinds: Vec<(String, String, String)> = summary(&same);
    kinds.sort();
    assert_eq!(
        kinds,
        [
            triple("wallet.transfer", "account", "update"),
            triple("wallet.transfer", "account", "update"),
            triple("wallet.transfer", "ledger_entry", "create"),
            triple("wallet.transfer", "ledger_entry", "create"),
            triple("wallet.transfer", "transfer", "create"),
        ]
    );
    assert!(same.iter().all(|x| x["actor_id"] == alice_user["id"]));
    // and no other call shares it
    let grant_ids: BTreeSet<&str> = all
        .iter()
        .filter(|x| x["method"] == "wallet.grant")
        .map(|x| str_of(&x["request_id"]))
        .collect();
    assert_eq!(grant_ids.len(), 1);
    assert!(!grant_ids.contains(str_of(&request_id)));
}

#[test]
fn failed_calls_leave_no_entries() {
    let e = start();
    let (admin, _) = e.admin();
    let (alice, _) = e.register("alice@example.com");
    e.register("bob@example.com");
    let before = audit(&admin, json!({"limit": 500}));
    fails(
        &alice,
        "wallet.transfer",
        json!({"to_email": "bob@example.com", "amount": "1"}),
        4020,
        "insufficient_funds",
    );
    fails(
        &alice,
        "sshkey.add",
        json!({"name": "x", "public_key": "nope"}),
        4000,
        "invalid_input",
    );
    assert_eq!(audit(&admin, json!({"limit": 500})), before);
}
