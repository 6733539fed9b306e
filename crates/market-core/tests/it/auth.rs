//! `auth.*`: registration, sign-in, sessions, password changes, expiry.

use std::collections::BTreeSet;

use serde_json::json;

use crate::support::*;

const USER_FIELDS: [&str; 8] = [
    "id",
    "email",
    "display_name",
    "roles",
    "status",
    "created_at",
    "updated_at",
    "version",
];

#[test]
fn register_returns_the_user_a_token_and_its_expiry() {
    let e = start();
    let r = e.anon().ok(
        "auth.register",
        json!({"email": "ann@example.com", "password": PASSWORD, "display_name": "Ann"}),
    );
    let keys: BTreeSet<&str> = r.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, BTreeSet::from(["user", "token", "expires_at"]));
    let user = &r["user"];
    assert_eq!(user["email"], "ann@example.com");
    assert_eq!(user["display_name"], "Ann");
    assert_eq!(user["roles"], json!(["customer"]));
    assert_eq!(user["status"], "active");
    assert_eq!(user["version"], 1);
    assert_eq!(str_of(&user["id"]).len(), 26);
    assert_eq!(ts(str_of(&user["created_at"])), ts(START));
    assert_eq!(user["created_at"], user["updated_at"]);
    let fields: BTreeSet<&str> = user
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .filter(|k| *k != "suspended_reason")
        .collect();
    assert_eq!(fields, BTreeSet::from(USER_FIELDS));
    assert!(user.get("password_hash").is_none());
    let text = r.to_string();
    assert!(!text.contains("password_hash"), "{text}");
    assert!(!text.contains("$argon2"), "{text}");
    assert!(!text.contains(PASSWORD), "{text}");
    assert!(str_of(&r["token"]).len() >= 32);
    assert_eq!(
        ts(str_of(&r["expires_at"])),
        ts(START).add_seconds(TOKEN_TTL_SECS)
    );
    // the token signs in
    let me = e.with_token(str_of(&r["token"])).ok("auth.me", json!({}));
    assert_eq!(me, *user);
}

#[test]
fn an_email_taken_in_another_letter_case_is_a_conflict() {
    let e = start();
    e.register("alice@example.com");
    let err = fails(
        &e.anon(),
        "auth.register",
        json!({"email": "Alice@EXAMPLE.com", "password": PASSWORD, "display_name": "Alice 2"}),
        4090,
        "conflict",
    );
    assert_eq!(err["data"]["field"], "email");
    // exactly one account exists
    let (admin, _) = e.admin();
    let users = admin.ok("user.list", json!({"role": "customer"}));
    let emails: Vec<&str> = users["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| str_of(&u["email"]))
        .filter(|m| m.to_lowercase() == "alice@example.com")
        .collect();
    assert_eq!(emails, ["alice@example.com"]);
}

#[test]
fn sign_in_ignores_the_letter_case_of_the_email() {
    let e = start();
    let (_, user) = e.register("bob@example.com");
    let r = e.anon().ok(
        "auth.login",
        json!({"email": "BOB@Example.COM", "password": PASSWORD}),
    );
    assert_eq!(r["user"]["id"], user["id"]);
}

#[test]
fn a_password_under_ten_characters_is_invalid_input() {
    let e = start();
    let err = fails_on_field(
        &e.anon(),
        "auth.register",
        json!({"email": "c@example.com", "password": "123456789", "display_name": "C"}),
        "password",
    );
    assert!(err["data"]["fields"].get("email").is_none(), "{err}");
    // ten characters are enough
    e.anon().ok(
        "auth.register",
        json!({"email": "c@example.com", "password": "1234567890", "display_name": "C"}),
    );
}

#[test]
fn a_malformed_email_is_invalid_input() {
    let e = start();
    for email in ["not-an-email", "a@", "@example.com", ""] {
        fails_on_field(
            &e.anon(),
            "auth.register",
            json!({"email": email, "password": PASSWORD, "display_name": "D"}),
            "email",
        );
    }
}

#[test]
fn register_without_a_required_param_is_invalid_params() {
    let e = start();
    invalid_params(
        &e.anon(),
        "auth.register",
        json!({"email": "e@example.com", "password": PASSWORD}),
    );
    invalid_params(
        &e.anon(),
        "auth.register",
        json!({"email": "e@example.com", "password": 1234567890_u64, "display_name": "E"}),
    );
}

#[test]
fn login_returns_a_new_working_session() {
    let e = start();
    let first = e.register_result("fay@example.com");
    let r = e.anon().ok(
        "auth.login",
        json!({"email": "fay@example.com", "password": PASSWORD}),
    );
    assert_eq!(r["user"], first["user"]);
    assert_ne!(r["token"], first["token"]);
    assert_eq!(
        ts(str_of(&r["expires_at"])),
        ts(START).add_seconds(TOKEN_TTL_SECS)
    );
    let me = e.with_token(str_of(&r["token"])).ok("auth.me", json!({}));
    assert_eq!(me["email"], "fay@example.com");
    // the first session still works too
    let me = e
        .with_token(str_of(&first["token"]))
        .ok("auth.me", json!({}));
    assert_eq!(me["id"], r["user"]["id"]);
}

#[test]
fn a_wrong_password_and_an_unknown_email_get_the_same_answer() {
    let e = start();
    e.register("gus@example.com");
    let wrong_password = fails(
        &e.anon(),
        "auth.login",
        json!({"email": "gus@example.com", "password": "not the password"}),
        4010,
        "unauthenticated",
    );
    let unknown_email = fails(
        &e.anon(),
        "auth.login",
        json!({"email": "nobody@example.com", "password": PASSWORD}),
        4010,
        "unauthenticated",
    );
    assert_eq!(wrong_password, unknown_email);
    let msg = str_of(&wrong_password["message"]).to_lowercase();
    assert!(
        !msg.contains("unknown") && !msg.contains("no user"),
        "{msg}"
    );
}

#[test]
fn me_returns_the_signed_in_user() {
    let e = start();
    let (alice, alice_user) = e.register("alice@example.com");
    let (bob, bob_user) = e.register("bob@example.com");
    assert_eq!(alice.ok("auth.me", json!({})), alice_user);
    assert_eq!(bob.ok("auth.me", json!({})), bob_user);
    // auth.me takes no params
    invalid_params(&alice, "auth.me", json!({"id": str_of(&bob_user["id"])}));
}

#[test]
fn logout_revokes_only_the_calling_token() {
    let e = start();
    let (first, _) = e.register("hal@example.com");
    let second = e.login("hal@example.com", PASSWORD);
    assert_eq!(first.ok("auth.logout", json!({})), json!({"ok": true}));
    fails(&first, "auth.me", json!({}), 4010, "unauthenticated");
    fails(&first, "auth.logout", json!({}), 4010, "unauthenticated");
    fails(&first, "wallet.get", json!({}), 4010, "unauthenticated");
    assert_eq!(second.ok("auth.me", json!({}))["email"], "hal@example.com");
}

#[test]
fn calls_after_a_logout_in_the_same_batch_are_unauthenticated() {
    let e = start();
    let (c, _) = e.register("ivy@example.com");
    let body = json!([
        {"jsonrpc": "2.0", "id": 1, "method": "auth.logout", "params": {}},
        {"jsonrpc": "2.0", "id": 2, "method": "auth.me", "params": {}}
    ]);
    let replies = c.post_raw(&body.to_string()).json();
    let by_id = |id: i64| {
        replies
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == id)
            .unwrap()
            .clone()
    };
    assert_eq!(by_id(1)["result"], json!({"ok": true}));
    assert_eq!(by_id(2)["error"]["code"], 4010, "{replies}");
}

#[test]
fn change_password_with_a_wrong_old_password_is_unauthenticated() {
    let e = start();
    let (c, _) = e.register("ida@example.com");
    fails(
        &c,
        "auth.change_password",
        json!({"old_password": "not my password", "new_password": "a brand new secret"}),
        4010,
        "unauthenticated",
    );
    // nothing changed: the old password still signs in, the session works
    e.login("ida@example.com", PASSWORD);
    c.ok("auth.me", json!({}));
}

#[test]
fn change_password_refuses_a_short_new_password() {
    let e = start();
    let (c, _) = e.register("jo@example.com");
    fails_on_field(
        &c,
        "auth.change_password",
        json!({"old_password": PASSWORD, "new_password": "short"}),
        "new_password",
    );
    e.login("jo@example.com", PASSWORD);
}

#[test]
fn change_password_keeps_this_session_and_revokes_the_others() {
    let e = start();
    let (this, _) = e.register("kim@example.com");
    let other = e.login("kim@example.com", PASSWORD);
    let new_password = "a brand new secret";
    assert_eq!(
        this.ok(
            "auth.change_password",
            json!({"old_password": PASSWORD, "new_password": new_password})
        ),
        json!({"ok": true})
    );
    assert_eq!(this.ok("auth.me", json!({}))["email"], "kim@example.com");
    fails(&other, "auth.me", json!({}), 4010, "unauthenticated");
    let fresh = e.login("kim@example.com", new_password);
    fresh.ok("auth.me", json!({}));
    fails(
        &e.anon(),
        "auth.login",
        json!({"email": "kim@example.com", "password": PASSWORD}),
        4010,
        "unauthenticated",
    );
}

#[test]
fn tokens_expire_after_seven_days() {
    let e = start();
    let (c, _) = e.register("lea@example.com");
    e.clock.advance_seconds(TOKEN_TTL_SECS - 1);
    c.ok("auth.me", json!({}));
    e.clock.advance_seconds(2);
    fails(&c, "auth.me", json!({}), 4010, "unauthenticated");
    fails(&c, "wallet.get", json!({}), 4010, "unauthenticated");
    // signing in again gives a token that lives 7 days from now
    let r = e.anon().ok(
        "auth.login",
        json!({"email": "lea@example.com", "password": PASSWORD}),
    );
    assert_eq!(
        ts(str_of(&r["expires_at"])),
        ts(START).add_seconds(2 * TOKEN_TTL_SECS + 1)
    );
    e.with_token(str_of(&r["token"])).ok("auth.me", json!({}));
}

#[test]
fn a_blank_display_name_is_invalid_input() {
    let e = start();
    fails_on_field(
        &e.anon(),
        "auth.register",
        json!({"email": "blank@example.com", "password": PASSWORD, "display_name": "   "}),
        "display_name",
    );
    // nothing was created: the email is still free
    let r = e.anon().ok(
        "auth.register",
        json!({"email": "blank@example.com", "password": PASSWORD, "display_name": "Blank"}),
    );
    assert_eq!(r["user"]["display_name"], "Blank");
}
