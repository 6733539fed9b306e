//! Access control: tokens, roles, suspension, object ownership, and the
//! `x-access` the OpenRPC document declares.

use serde_json::{Value, json};

use crate::support::*;

#[test]
fn user_methods_need_a_token() {
    let e = start();
    for method in [
        "auth.me",
        "auth.logout",
        "wallet.get",
        "wallet.history",
        "apikey.list",
        "sshkey.list",
    ] {
        fails(&e.anon(), method, json!({}), 4010, "unauthenticated");
    }
    fails(
        &e.anon(),
        "wallet.transfer",
        json!({"to_email": "x@example.com", "amount": "1"}),
        4010,
        "unauthenticated",
    );
    // public methods answer without one
    e.anon().ok("system.config", json!({}));
    e.anon().ok("system.health", json!({}));
}

#[test]
fn a_garbage_token_is_unauthenticated() {
    let e = start();
    for token in ["garbage", "mks_", "mkk_notakey", &"x".repeat(300)] {
        fails(
            &e.with_token(token),
            "auth.me",
            json!({}),
            4010,
            "unauthenticated",
        );
    }
}

#[test]
fn customers_cannot_call_admin_methods() {
    let e = start();
    let (c, user) = e.register("cus@example.com");
    let uid = id_of(&user);
    let calls = [
        ("user.list", json!({})),
        ("user.get", json!({"id": uid})),
        ("user.suspend", json!({"id": uid, "reason": "x"})),
        ("user.set_roles", json!({"id": uid, "roles": ["admin"]})),
        (
            "wallet.grant",
            json!({"user_id": uid, "amount": "100", "reason": "free money"}),
        ),
        ("ledger.verify", json!({})),
        ("admin.audit", json!({})),
        ("system.set_config", json!({"usd_rate": "2"})),
    ];
    for (method, params) in calls {
        fails(&c, method, params, 4030, "forbidden");
    }
    // and nothing happened
    assert_eq!(balance(&c), dec("0"));
    let me = c.ok("auth.me", json!({}));
    assert_eq!(me["roles"], json!(["customer"]));
    assert_eq!(me["status"], "active");
    assert_eq!(
        dec_of(&e.anon().ok("system.config", json!({}))["currency"]["usd_rate"]),
        dec("1")
    );
}

#[test]
fn a_suspended_users_token_is_forbidden_at_once_and_works_again_after_unsuspend() {
    let e = start();
    let (admin, _) = e.admin();
    let (c, user) = e.register("sus@example.com");
    let key = c.ok("apikey.create", json!({"name": "script"}));
    let by_key = e.with_token(str_of(&key["key"]));
    c.ok("auth.me", json!({}));
    admin.ok(
        "user.suspend",
        json!({"id": id_of(&user), "reason": "spam"}),
    );
    for method in ["auth.me", "wallet.get", "apikey.list", "system.health"] {
        fails(&c, method, json!({}), 4030, "forbidden");
    }
    fails(&by_key, "auth.me", json!({}), 4030, "forbidden");
    // signing in again does not help
    fails(
        &e.anon(),
        "auth.login",
        json!({"email": "sus@example.com", "password": PASSWORD}),
        4030,
        "forbidden",
    );
    // a wrong password still says nothing about the account
    fails(
        &e.anon(),
        "auth.login",
        json!({"email": "sus@example.com", "password": "not the password"}),
        4010,
        "unauthenticated",
    );
    admin.ok("user.unsuspend", json!({"id": id_of(&user)}));
    assert_eq!(c.ok("auth.me", json!({}))["status"], "active");
    by_key.ok("auth.me", json!({}));
    e.login("sus@example.com", PASSWORD);
}

fn method_access(doc: &Value, name: &str) -> Value {
    doc["methods"]
        .as_array()
        .expect("methods")
        .iter()
        .find(|m| m["name"] == name)
        .unwrap_or_else(|| panic!("{name} is not in the OpenRPC document"))["x-access"]
        .clone()
}

#[test]
fn the_openrpc_document_declares_each_methods_access() {
    let e = start();
    let from_http = market_testkit::get(&e.server, "/openrpc.json");
    assert_eq!(from_http.status, 200);
    let doc = from_http.json();
    assert_eq!(e.anon().ok("rpc.discover", json!({})), doc);
    let grant = method_access(&doc, "wallet.grant");
    assert_eq!(grant["level"], "admin");
    assert!(grant["roles"].is_array(), "{grant}");
    assert_eq!(method_access(&doc, "auth.login")["level"], "public");
    assert_eq!(method_access(&doc, "auth.register")["level"], "public");
    assert_eq!(method_access(&doc, "system.config")["level"], "public");
    assert_eq!(method_access(&doc, "wallet.get")["level"], "user");
    assert_eq!(method_access(&doc, "auth.me")["level"], "user");
    for admin_only in [
        "user.list",
        "user.suspend",
        "ledger.verify",
        "admin.audit",
        "system.set_config",
    ] {
        assert_eq!(
            method_access(&doc, admin_only)["level"],
            "admin",
            "{admin_only}"
        );
    }
}

#[test]
fn nobody_revokes_another_users_api_key() {
    let e = start();
    let (alice, _) = e.register("alice@example.com");
    let (bob, _) = e.register("bob@example.com");
    let key = alice.ok("apikey.create", json!({"name": "ci"}));
    fails(
        &bob,
        "apikey.revoke",
        json!({"id": id_of(&key)}),
        4040,
        "not_found",
    );
    // alice's key still works and is not revoked
    let me = e.with_token(str_of(&key["key"])).ok("auth.me", json!({}));
    assert_eq!(me["email"], "alice@example.com");
    let listed = alice.ok("apikey.list", json!({}));
    assert_eq!(listed["items"][0]["revoked"], false);
    // bob does not see it either
    assert_eq!(bob.ok("apikey.list", json!({}))["items"], json!([]));
}

#[test]
fn nobody_removes_or_picks_another_users_ssh_key() {
    let e = start();
    let (alice, _) = e.register("alice@example.com");
    let (bob, _) = e.register("bob@example.com");
    let first = alice.ok(
        "sshkey.add",
        json!({"name": "laptop", "public_key": ED25519}),
    );
    let second = alice.ok(
        "sshkey.add",
        json!({"name": "desktop", "public_key": ECDSA}),
    );
    let before = alice.ok("sshkey.list", json!({}));
    fails(
        &bob,
        "sshkey.remove",
        json!({"id": id_of(&first)}),
        4040,
        "not_found",
    );
    fails(
        &bob,
        "sshkey.set_default",
        json!({"id": id_of(&second)}),
        4040,
        "not_found",
    );
    assert_eq!(alice.ok("sshkey.list", json!({})), before);
    assert_eq!(bob.ok("sshkey.list", json!({}))["items"], json!([]));
}

#[test]
fn wallets_show_only_the_callers_own_money() {
    let e = start();
    let (admin, _) = e.admin();
    let (alice, alice_user) = e.register("alice@example.com");
    let (bob, bob_user) = e.register("bob@example.com");
    grant(&admin, &id_of(&alice_user), "40");
    grant(&admin, &id_of(&bob_user), "3");
    alice.ok(
        "wallet.transfer",
        json!({"to_email": "bob@example.com", "amount": "5"}),
    );
    assert_eq!(balance(&alice), dec("35"));
    assert_eq!(balance(&bob), dec("8"));
    let kinds = |c: &market_testkit::Client| {
        history(c)
            .iter()
            .map(|h| (str_of(&h["kind"]).to_string(), dec_of(&h["amount"])))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        kinds(&alice),
        [
            ("transfer_out".to_string(), dec("-5")),
            ("grant".to_string(), dec("40"))
        ]
    );
    assert_eq!(
        kinds(&bob),
        [
            ("transfer_in".to_string(), dec("5")),
            ("grant".to_string(), dec("3"))
        ]
    );
    // there is no way to name another wallet
    invalid_params(&bob, "wallet.get", json!({"user_id": id_of(&alice_user)}));
    invalid_params(
        &bob,
        "wallet.history",
        json!({"user_id": id_of(&alice_user)}),
    );
}
