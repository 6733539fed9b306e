//! `apikey.*`: long-lived keys used as bearer tokens.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::support::*;

#[test]
fn create_returns_an_id_and_a_key_that_signs_in() {
    let e = start();
    let (c, user) = e.register("k@example.com");
    let created = c.ok("apikey.create", json!({"name": "deploy bot"}));
    let keys: BTreeSet<&str> = created
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, BTreeSet::from(["id", "key"]));
    assert_eq!(str_of(&created["id"]).len(), 26);
    let key = str_of(&created["key"]);
    assert!(key.len() >= 32, "{key}");
    let by_key = e.with_token(key);
    assert_eq!(by_key.ok("auth.me", json!({})), user);
    // the key acts as its user everywhere
    assert_eq!(
        by_key.ok("wallet.get", json!({})),
        c.ok("wallet.get", json!({}))
    );
    fails_on_field(&c, "apikey.create", json!({"name": ""}), "name");
    invalid_params(&c, "apikey.create", json!({}));
}

#[test]
fn list_shows_names_and_prefixes_but_never_the_keys() {
    let e = start();
    let (c, user) = e.register("l@example.com");
    let a = c.ok("apikey.create", json!({"name": "first"}));
    let b = c.ok("apikey.create", json!({"name": "second"}));
    let reply = c.post_raw(
        &json!({"jsonrpc": "2.0", "id": 1, "method": "apikey.list", "params": {}}).to_string(),
    );
    for secret in [str_of(&a["key"]), str_of(&b["key"])] {
        assert!(!reply.body.contains(secret), "{}", reply.body);
    }
    assert!(!reply.body.contains("key_hash"), "{}", reply.body);
    let page = reply.json()["result"].clone();
    assert!(page["next_cursor"].is_null());
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    // newest first
    for (item, created, name) in [(&items[0], &b, "second"), (&items[1], &a, "first")] {
        assert_eq!(item["id"], created["id"]);
        assert_eq!(item["name"], name);
        assert_eq!(item["user_id"], user["id"]);
        assert_eq!(item["revoked"], false);
        assert!(item.get("key").is_none(), "{item}");
        assert!(item.get("key_hash").is_none(), "{item}");
        let prefix = str_of(&item["prefix"]);
        let key = str_of(&created["key"]);
        assert!(
            !prefix.is_empty() && prefix.len() < key.len() / 2,
            "{prefix}"
        );
        assert!(key.starts_with(prefix), "{prefix} / {key}");
    }
    // another user sees none of them
    let (other, _) = e.register("m@example.com");
    assert_eq!(
        other.ok("apikey.list", json!({})),
        json!({"items": [], "next_cursor": null})
    );
}

#[test]
fn using_a_key_records_when_it_was_last_used() {
    let e = start();
    let (c, _) = e.register("u@example.com");
    let created = c.ok("apikey.create", json!({"name": "cron"}));
    let listed = c.ok("apikey.list", json!({}));
    assert!(
        listed["items"][0]
            .get("last_used_at")
            .is_none_or(Value::is_null)
    );
    e.clock.advance_seconds(3600);
    e.with_token(str_of(&created["key"]))
        .ok("auth.me", json!({}));
    let listed = c.ok("apikey.list", json!({}));
    assert_eq!(
        ts(str_of(&listed["items"][0]["last_used_at"])),
        ts(START).add_seconds(3600)
    );
}

#[test]
fn revoke_answers_ok_and_the_key_stops_working() {
    let e = start();
    let (c, _) = e.register("r@example.com");
    let keep = c.ok("apikey.create", json!({"name": "keep"}));
    let drop = c.ok("apikey.create", json!({"name": "drop"}));
    assert_eq!(
        c.ok("apikey.revoke", json!({"id": id_of(&drop)})),
        json!({"ok": true})
    );
    fails(
        &e.with_token(str_of(&drop["key"])),
        "auth.me",
        json!({}),
        4010,
        "unauthenticated",
    );
    e.with_token(str_of(&keep["key"])).ok("auth.me", json!({}));
    c.ok("auth.me", json!({}));
    let items = c.ok("apikey.list", json!({}))["items"].clone();
    let revoked: Vec<(String, bool)> = items
        .as_array()
        .unwrap()
        .iter()
        .map(|k| (str_of(&k["name"]).to_string(), k["revoked"] == true))
        .collect();
    assert_eq!(
        revoked,
        [("drop".to_string(), true), ("keep".to_string(), false)]
    );
    fails(
        &c,
        "apikey.revoke",
        json!({"id": "01ARZ3NDEKTSV4RRFFQ69G5FAV"}),
        4040,
        "not_found",
    );
}

#[test]
fn the_keys_and_sessions_of_a_removed_user_stop_working() {
    let e = start();
    let (admin, _) = e.admin();
    let (c, user) = e.register("gone@example.com");
    let key = c.ok("apikey.create", json!({"name": "k"}));
    e.app.remove_user("gone@example.com").expect("remove");
    fails(
        &e.with_token(str_of(&key["key"])),
        "auth.me",
        json!({}),
        4010,
        "unauthenticated",
    );
    fails(&c, "auth.me", json!({}), 4010, "unauthenticated");
    fails(
        &e.anon(),
        "auth.login",
        json!({"email": "gone@example.com", "password": PASSWORD}),
        4010,
        "unauthenticated",
    );
    // the account is kept, marked deleted
    assert_eq!(
        admin.ok("user.get", json!({"id": id_of(&user)}))["status"],
        "deleted"
    );
}

#[test]
fn a_blank_key_name_is_invalid_input() {
    let e = start();
    let (c, _) = e.register("blank@example.com");
    fails_on_field(&c, "apikey.create", json!({"name": "   "}), "name");
    assert_eq!(c.ok("apikey.list", json!({}))["items"], json!([]));
}
