//! `user.*`: the admin's user management and the caller's own profile.

use std::collections::BTreeSet;

use market_testkit::Client;
use serde_json::{Value, json};

use crate::support::*;

/// Every user id of `user.list` with `params`, page by page with `limit`.
fn list_ids(admin: &Client, params: Value, limit: u32) -> Vec<String> {
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..100 {
        let mut p = params.clone();
        p["limit"] = json!(limit);
        if let Some(c) = &cursor {
            p["cursor"] = json!(c);
        }
        let page = admin.ok("user.list", p);
        let items = page["items"].as_array().expect("items");
        assert!(items.len() <= limit as usize);
        ids.extend(items.iter().map(id_of));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return ids,
        }
    }
    panic!("user.list never ended");
}

fn roles_of(user: &Value) -> BTreeSet<String> {
    user["roles"]
        .as_array()
        .expect("roles")
        .iter()
        .map(|r| str_of(r).to_string())
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[test]
fn user_list_is_newest_first_and_pages_with_next_cursor() {
    let e = start();
    let (admin, admin_user) = e.admin();
    let users: Vec<String> = ["u1", "u2", "u3", "u4"]
        .iter()
        .map(|n| id_of(&e.register(&format!("{n}@example.com")).1))
        .collect();
    let first = admin.ok("user.list", json!({"limit": 2}));
    assert_eq!(first["items"].as_array().unwrap().len(), 2);
    assert!(first["next_cursor"].is_string());
    assert_eq!(id_of(&first["items"][0]), users[3]);
    assert_eq!(id_of(&first["items"][1]), users[2]);
    let mut expected: Vec<String> = users.iter().rev().cloned().collect();
    expected.push(id_of(&admin_user));
    assert_eq!(list_ids(&admin, json!({}), 2), expected);
    assert_eq!(list_ids(&admin, json!({}), 3), expected);
    // the default page holds everything here, with no next page
    let all = admin.ok("user.list", json!({}));
    assert_eq!(all["items"].as_array().unwrap().len(), 5);
    assert!(all["next_cursor"].is_null());
}

#[test]
fn user_list_filters_by_role_and_status() {
    let e = start();
    let (admin, admin_user) = e.admin();
    let provider = id_of(&e.register("p@example.com").1);
    let suspended = id_of(&e.register("s@example.com").1);
    let plain = id_of(&e.register("c@example.com").1);
    admin.ok(
        "user.set_roles",
        json!({"id": provider, "roles": ["service_provider"]}),
    );
    admin.ok("user.suspend", json!({"id": suspended, "reason": "fraud"}));
    assert_eq!(
        list_ids(&admin, json!({"role": "service_provider"}), 50),
        [provider.as_str()]
    );
    assert_eq!(
        list_ids(&admin, json!({"role": "admin"}), 50),
        [id_of(&admin_user)]
    );
    assert_eq!(
        list_ids(&admin, json!({"role": "customer"}), 50),
        [
            plain.clone(),
            suspended.clone(),
            provider.clone(),
            id_of(&admin_user)
        ]
    );
    assert_eq!(
        list_ids(&admin, json!({"status": "suspended"}), 50),
        [suspended.as_str()]
    );
    assert_eq!(
        list_ids(&admin, json!({"status": "active"}), 1),
        [plain.clone(), provider.clone(), id_of(&admin_user)]
    );
    assert_eq!(
        list_ids(
            &admin,
            json!({"role": "service_provider", "status": "suspended"}),
            50
        ),
        Vec::<String>::new()
    );
    fails_on_field(&admin, "user.list", json!({"role": "superuser"}), "role");
}

#[test]
fn deleted_users_are_listed_only_when_asked_for() {
    let e = start();
    let (admin, admin_user) = e.admin();
    let gone = id_of(&e.register("gone@example.com").1);
    let kept = id_of(&e.register("kept@example.com").1);
    e.app
        .remove_user("gone@example.com")
        .expect("remove the user");
    assert_eq!(
        list_ids(&admin, json!({}), 50),
        [kept.clone(), id_of(&admin_user)]
    );
    assert_eq!(
        list_ids(&admin, json!({"role": "customer"}), 50),
        [kept, id_of(&admin_user)]
    );
    assert_eq!(list_ids(&admin, json!({"status": "deleted"}), 50), [gone]);
}

#[test]
fn user_get_returns_the_user_or_not_found() {
    let e = start();
    let (admin, _) = e.admin();
    let (_, user) = e.register("g@example.com");
    assert_eq!(admin.ok("user.get", json!({"id": id_of(&user)})), user);
    fails(
        &admin,
        "user.get",
        json!({"id": "01ARZ3NDEKTSV4RRFFQ69G5FAV"}),
        4040,
        "not_found",
    );
    invalid_params(&admin, "user.get", json!({}));
}

#[test]
fn suspend_sets_the_status_and_reason_and_only_once() {
    let e = start();
    let (admin, _) = e.admin();
    let (_, user) = e.register("s@example.com");
    let uid = id_of(&user);
    let s = admin.ok(
        "user.suspend",
        json!({"id": uid, "reason": "  chargebacks  "}),
    );
    assert_eq!(s["status"], "suspended");
    assert_eq!(s["suspended_reason"], "chargebacks");
    assert_eq!(s["version"], 2);
    assert_eq!(admin.ok("user.get", json!({"id": uid})), s);
    fails(
        &admin,
        "user.suspend",
        json!({"id": uid, "reason": "again"}),
        4220,
        "invalid_state",
    );
    let u = admin.ok("user.unsuspend", json!({"id": uid}));
    assert_eq!(u["status"], "active");
    assert!(u.get("suspended_reason").is_none_or(Value::is_null), "{u}");
    assert_eq!(u["version"], 3);
    fails(
        &admin,
        "user.unsuspend",
        json!({"id": uid}),
        4220,
        "invalid_state",
    );
}

#[test]
fn suspend_checks_its_params() {
    let e = start();
    let (admin, admin_user) = e.admin();
    let (_, user) = e.register("t@example.com");
    fails_on_field(
        &admin,
        "user.suspend",
        json!({"id": id_of(&user), "reason": ""}),
        "reason",
    );
    invalid_params(&admin, "user.suspend", json!({"id": id_of(&user)}));
    fails(
        &admin,
        "user.suspend",
        json!({"id": "01ARZ3NDEKTSV4RRFFQ69G5FAV", "reason": "x"}),
        4040,
        "not_found",
    );
    // nobody suspends themselves
    fails(
        &admin,
        "user.suspend",
        json!({"id": id_of(&admin_user), "reason": "oops"}),
        4000,
        "invalid_input",
    );
    assert_eq!(admin.ok("auth.me", json!({}))["status"], "active");
    assert_eq!(
        admin.ok("user.get", json!({"id": id_of(&user)}))["status"],
        "active"
    );
}

#[test]
fn set_roles_always_keeps_customer_and_shows_at_once() {
    let e = start();
    let (admin, _) = e.admin();
    let (c, user) = e.register("r@example.com");
    let uid = id_of(&user);
    let u = admin.ok(
        "user.set_roles",
        json!({"id": uid, "roles": ["service_provider", "app_provider"]}),
    );
    assert_eq!(
        roles_of(&u),
        set(&["customer", "service_provider", "app_provider"])
    );
    assert_eq!(
        roles_of(&c.ok("auth.me", json!({}))),
        set(&["customer", "service_provider", "app_provider"])
    );
    let u = admin.ok("user.set_roles", json!({"id": uid, "roles": []}));
    assert_eq!(u["roles"], json!(["customer"]));
    assert_eq!(c.ok("auth.me", json!({}))["roles"], json!(["customer"]));
    fails_on_field(
        &admin,
        "user.set_roles",
        json!({"id": uid, "roles": ["superuser"]}),
        "roles",
    );
    fails(
        &admin,
        "user.set_roles",
        json!({"id": "01ARZ3NDEKTSV4RRFFQ69G5FAV", "roles": []}),
        4040,
        "not_found",
    );
}

#[test]
fn granting_and_taking_admin_changes_access_on_the_same_token() {
    let e = start();
    let (admin, _) = e.admin();
    let (c, user) = e.register("a2@example.com");
    fails(&c, "user.list", json!({}), 4030, "forbidden");
    admin.ok(
        "user.set_roles",
        json!({"id": id_of(&user), "roles": ["admin"]}),
    );
    c.ok("user.list", json!({}));
    admin.ok("user.set_roles", json!({"id": id_of(&user), "roles": []}));
    fails(&c, "user.list", json!({}), 4030, "forbidden");
}

#[test]
fn an_admin_cannot_take_their_own_admin_role() {
    let e = start();
    let (admin, admin_user) = e.admin();
    fails_on_field(
        &admin,
        "user.set_roles",
        json!({"id": id_of(&admin_user), "roles": ["customer"]}),
        "roles",
    );
    assert!(roles_of(&admin.ok("auth.me", json!({}))).contains("admin"));
    admin.ok("user.list", json!({}));
    // keeping admin while adding another role is fine
    let u = admin.ok(
        "user.set_roles",
        json!({"id": id_of(&admin_user), "roles": ["admin", "resource_provider"]}),
    );
    assert_eq!(
        roles_of(&u),
        set(&["admin", "customer", "resource_provider"])
    );
}

#[test]
fn update_profile_changes_the_callers_display_name() {
    let e = start();
    let (c, user) = e.register("p@example.com");
    let u = c.ok("user.update_profile", json!({"display_name": "Pat Doe"}));
    assert_eq!(u["display_name"], "Pat Doe");
    assert_eq!(u["id"], user["id"]);
    assert_eq!(u["version"], 2);
    assert_eq!(c.ok("auth.me", json!({}))["display_name"], "Pat Doe");
    // an absent field is unchanged
    let u = c.ok("user.update_profile", json!({}));
    assert_eq!(u["display_name"], "Pat Doe");
    fails_on_field(
        &c,
        "user.update_profile",
        json!({"display_name": ""}),
        "display_name",
    );
    fails_on_field(
        &c,
        "user.update_profile",
        json!({"display_name": "   "}),
        "display_name",
    );
    fails_on_field(
        &c,
        "user.update_profile",
        json!({"display_name": "x".repeat(101)}),
        "display_name",
    );
    assert_eq!(c.ok("auth.me", json!({}))["display_name"], "Pat Doe");
}

#[test]
fn register_refuses_server_set_fields() {
    let e = start();
    let base = json!({"email": "m@example.com", "password": PASSWORD, "display_name": "M"});
    for (name, value) in [
        ("roles", json!(["admin"])),
        ("status", json!("active")),
        ("id", json!("01ARZ3NDEKTSV4RRFFQ69G5FAV")),
        ("password_hash", json!("$argon2id$v=19$m=19456,t=2,p=1$x$y")),
        ("version", json!(7)),
    ] {
        let mut p = base.clone();
        p[name] = value;
        invalid_params(&e.anon(), "auth.register", p);
    }
    // none of those calls created the account
    let r = e.anon().ok("auth.register", base);
    assert_eq!(r["user"]["roles"], json!(["customer"]));
    assert_eq!(r["user"]["version"], 1);
}

#[test]
fn update_profile_refuses_server_set_fields() {
    let e = start();
    let (c, user) = e.register("n@example.com");
    for (name, value) in [
        ("roles", json!(["admin"])),
        ("status", json!("active")),
        ("email", json!("other@example.com")),
        ("id", json!("01ARZ3NDEKTSV4RRFFQ69G5FAV")),
    ] {
        let mut p = json!({"display_name": "N"});
        p[name] = value;
        invalid_params(&c, "user.update_profile", p);
    }
    assert_eq!(c.ok("auth.me", json!({})), user);
    fails(&c, "user.list", json!({}), 4030, "forbidden");
}

#[test]
fn a_limit_over_500_is_invalid_input() {
    let e = start();
    let (admin, _) = e.admin();
    fails_on_field(&admin, "user.list", json!({"limit": 501}), "limit");
    admin.ok("user.list", json!({"limit": 500}));
    fails_on_field(&admin, "apikey.list", json!({"limit": 501}), "limit");
    fails_on_field(&admin, "sshkey.list", json!({"limit": 501}), "limit");
    fails_on_field(&admin, "wallet.history", json!({"limit": 501}), "limit");
    fails_on_field(&admin, "admin.audit", json!({"limit": 501}), "limit");
}

#[test]
fn a_blank_suspension_reason_is_invalid_input() {
    let e = start();
    let (admin, _) = e.admin();
    let (c, user) = e.register("blank@example.com");
    fails_on_field(
        &admin,
        "user.suspend",
        json!({"id": id_of(&user), "reason": "   "}),
        "reason",
    );
    assert_eq!(c.ok("auth.me", json!({}))["status"], "active");
}
