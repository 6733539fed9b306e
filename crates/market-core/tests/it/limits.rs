//! Rate limits: sign-in calls per client address (the socket peer, or the
//! `X-Forwarded-For` entry of a trusted proxy), and calls per user; over
//! HTTP, since addresses come from the socket.

use market_core::Role;
use market_server::ServerConfig;
use serde_json::{Value, json};

use crate::support::*;

fn with_limits(auth_rate_per_min: u32, rate_per_min: u32, trusted: &[&str]) -> Env {
    let e = start_with(
        app_config(),
        ServerConfig {
            auth_rate_per_min,
            rate_per_min,
            trusted_proxies: trusted.iter().map(|ip| ip.parse().unwrap()).collect(),
            ..ServerConfig::default()
        },
    );
    e.app
        .add_user("limit@example.com", PASSWORD, &[Role::Customer], "test")
        .expect("add a user");
    e
}

fn login_body() -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "auth.login",
        "params": {"email": "limit@example.com", "password": PASSWORD}})
}

/// `auth.login` through a proxy that says the client is `forwarded_for`;
/// `Ok(token)` or `Err(error)`.
fn login_via(e: &Env, forwarded_for: &str) -> Result<String, Value> {
    let v = post_with_headers(e, &[("X-Forwarded-For", forwarded_for)], &login_body());
    match v.get("error") {
        Some(err) => Err(err.clone()),
        None => Ok(str_of(&v["result"]["token"]).to_string()),
    }
}

fn assert_rate_limited(err: &Value) {
    assert_eq!(err["code"], 4290, "{err}");
    assert_eq!(err["data"]["kind"], "rate_limited", "{err}");
    let wait = err["data"]["retry_after_secs"]
        .as_u64()
        .unwrap_or_else(|| panic!("retry_after_secs: {err}"));
    assert!((1..=60).contains(&wait), "{err}");
}

#[test]
fn the_fourth_sign_in_from_one_address_is_rate_limited() {
    let e = with_limits(3, 0, &[]);
    let anon = e.http();
    let params = json!({"email": "limit@example.com", "password": PASSWORD});
    let first = anon.ok("auth.login", params.clone());
    anon.ok("auth.login", params.clone());
    anon.ok("auth.login", params.clone());
    assert_rate_limited(&anon.call("auth.login", params).unwrap_err());
    // registration shares the budget
    assert_rate_limited(
        &anon
            .call(
                "auth.register",
                json!({"email": "new@example.com", "password": PASSWORD, "display_name": "N"}),
            )
            .unwrap_err(),
    );
    // other methods are not affected
    let signed_in = e.http().with_token(str_of(&first["token"]));
    for _ in 0..10 {
        signed_in.ok("auth.me", json!({}));
        anon.ok("system.health", json!({}));
    }
}

#[test]
fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_budget() {
    let e = with_limits(2, 0, &["127.0.0.1"]);
    for client in ["203.0.113.1", "203.0.113.2"] {
        login_via(&e, client).expect("first sign-in");
        login_via(&e, client).expect("second sign-in");
        assert_rate_limited(&login_via(&e, client).unwrap_err());
    }
    // the nearest address that is not a trusted proxy counts
    let chained = "203.0.113.3, 127.0.0.1";
    login_via(&e, chained).expect("first sign-in");
    login_via(&e, chained).expect("second sign-in");
    assert_rate_limited(&login_via(&e, "203.0.113.3").unwrap_err());
    // a token obtained through the proxy works
    let token = login_via(&e, "198.51.100.7").expect("another client");
    e.http().with_token(&token).ok("auth.me", json!({}));
}

#[test]
fn forwarded_addresses_from_an_untrusted_peer_are_ignored() {
    let e = with_limits(2, 0, &[]);
    login_via(&e, "203.0.113.1").expect("first sign-in");
    login_via(&e, "203.0.113.2").expect("second sign-in");
    // a made-up header does not buy another budget: the peer is the client
    assert_rate_limited(&login_via(&e, "203.0.113.3").unwrap_err());
    assert_rate_limited(
        &e.http()
            .call(
                "auth.login",
                json!({"email": "limit@example.com", "password": PASSWORD}),
            )
            .unwrap_err(),
    );
}

#[test]
fn the_per_user_limit_counts_each_users_calls() {
    let e = with_limits(0, 5, &[]);
    let alice = e.login("limit@example.com", PASSWORD);
    for _ in 0..5 {
        alice.ok("wallet.get", json!({}));
    }
    assert_rate_limited(&alice.call("auth.me", json!({})).unwrap_err());
    // another user has a budget of their own
    e.app
        .add_user("other@example.com", PASSWORD, &[Role::Customer], "test")
        .expect("add a user");
    let bob = e.login("other@example.com", PASSWORD);
    for _ in 0..4 {
        bob.ok("auth.me", json!({}));
    }
}
