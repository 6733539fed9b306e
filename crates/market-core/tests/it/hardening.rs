//! Hostile clients: oversized answers, slow sockets, password guessing,
//! account probing, lookalike and control characters, and the protocol's
//! corner cases (duplicate keys, several `Authorization` headers, huge ids).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use market_core::AppConfig;
use market_server::{ConnectionLimits, ServerConfig};
use serde_json::{Value, json};

use crate::support::*;

/// A provider of `kind` signed in, with its profile registered.
fn provider(e: &Env, email: &str, kind: &str) -> market_testkit::Client {
    let (c, _) = e.register(email);
    c.ok(
        "provider.register",
        json!({"kind": kind, "name": "Shop", "description": "sells things"}),
    );
    // the new role shows on the next call with the same token
    c
}

fn product_params(name: &str) -> Value {
    json!({"category": "app", "name": name, "description": "an app",
        "price": "1.00", "pricing_unit": "one_time"})
}

// ---- protocol -------------------------------------------------------------

#[test]
fn numeric_ids_are_echoed_exactly_as_sent() {
    let e = start();
    for id in [
        "123456789012345678901234567890",
        "1.50",
        "-0",
        "1e400",
        "12345678901234567890.000000000001",
    ] {
        let body = format!(r#"{{"jsonrpc":"2.0","method":"system.version","id":{id}}}"#);
        let reply = e.anon().post_raw(&body);
        assert!(
            reply.body.ends_with(&format!(r#""id":{id}}}"#)),
            "{id}: {}",
            reply.body
        );
    }
    // in batches and errors too
    let reply = e.anon().post_raw(
        r#"[{"jsonrpc":"2.0","method":"no.such","id":99999999999999999999},{"jsonrpc":"2.0","method":"system.version","id":"s"}]"#,
    );
    assert!(
        reply.body.contains(r#""id":99999999999999999999}"#),
        "{}",
        reply.body
    );
    assert!(reply.body.contains(r#""id":"s"}"#), "{}", reply.body);
}

#[test]
fn duplicate_keys_are_refused_not_last_wins() {
    let e = start();
    let (alice, alice_user) = e.register("dup-alice@example.com");
    e.register("dup-bob@example.com");
    let (admin, _) = e.admin();
    grant(&admin, str_of(&alice_user["id"]), "10");
    let token = alice.token.clone().unwrap_or_default();
    // a duplicate inside params is invalid params, with the request's id
    let body = r#"{"jsonrpc":"2.0","id":7,"method":"wallet.transfer","params":{"to_email":"dup-bob@example.com","amount":"1","amount":"2"}}"#;
    let v = e.with_token(&token).post_raw(body).json();
    assert_eq!(v["error"]["code"], -32602, "{v}");
    assert_eq!(v["id"], 7);
    // nested objects too
    let body = r#"{"jsonrpc":"2.0","id":8,"method":"system.version","params":{"a":{"x":1,"x":2}}}"#;
    let v = e.anon().post_raw(body).json();
    assert_eq!(v["error"]["code"], -32602, "{v}");
    // a duplicate member of the request itself is an invalid request
    let body = r#"{"jsonrpc":"2.0","id":9,"method":"system.version","method":"auth.me"}"#;
    let v = e.anon().post_raw(body).json();
    assert_eq!(v["error"]["code"], -32600, "{v}");
    assert_eq!(balance(&alice), dec("10"), "nothing moved");
}

#[test]
fn two_authorization_headers_are_unauthenticated() {
    let e = start();
    let (alice, _) = e.register("two-headers@example.com");
    let token = alice.token.clone().unwrap_or_default();
    let me = json!({"jsonrpc": "2.0", "id": 1, "method": "auth.me", "params": {}});
    let bearer = format!("Bearer {token}");
    let one = post_with_headers(&e, &[("Authorization", &bearer)], &me);
    assert_eq!(one["result"]["email"], "two-headers@example.com", "{one}");
    let two = post_with_headers(
        &e,
        &[
            ("Authorization", &bearer),
            ("Authorization", "Bearer other"),
        ],
        &me,
    );
    assert_eq!(two["error"]["code"], 4010, "{two}");
    assert_eq!(two["error"]["data"]["kind"], "unauthenticated", "{two}");
    // even twice the same token
    let same = post_with_headers(
        &e,
        &[("Authorization", &bearer), ("Authorization", &bearer)],
        &me,
    );
    assert_eq!(same["error"]["code"], 4010, "{same}");
}

#[test]
fn unknown_fields_inside_nested_params_are_invalid_params() {
    let e = start();
    let seller = provider(&e, "nested@example.com", "resource");
    let node = |location: Value, capacity: Value| json!({"name": "n1", "location": location, "capacity": capacity, "price_per_hour": "1.0"});
    let location = json!({"country": "BE", "city": "Ghent"});
    let capacity = json!({"cpu_cores": 4, "memory_gb": 16, "storage_gb": 800});
    let e1 = invalid_params(
        &seller,
        "node.register",
        node(
            json!({"country": "BE", "city": "Ghent", "planet": "Mars"}),
            capacity.clone(),
        ),
    );
    assert!(
        e1["message"]
            .as_str()
            .unwrap_or_default()
            .contains("planet"),
        "{e1}"
    );
    invalid_params(
        &seller,
        "node.register",
        node(
            location.clone(),
            json!({"cpu_cores": 4, "memory_gb": 16, "storage_gb": 800, "gpu": 1}),
        ),
    );
    let n = seller.ok("node.register", node(location, capacity));
    assert_eq!(n["location"]["city"], "Ghent");
}

// ---- response amplification -----------------------------------------------

#[test]
fn product_attributes_tags_and_size_are_bounded() {
    let e = start();
    let seller = provider(&e, "big@example.com", "app");
    let with = |extra: Value| {
        let mut p = product_params("Big");
        if let (Some(p), Some(extra)) = (p.as_object_mut(), extra.as_object()) {
            p.extend(extra.clone());
        }
        p
    };
    let long_key = "k".repeat(65);
    fails_on_field(
        &seller,
        "product.create",
        with(json!({"attributes": {long_key: "v"}})),
        "attributes",
    );
    fails_on_field(
        &seller,
        "product.create",
        with(json!({"attributes": {"pkgbuild": "x".repeat(16_385)}})),
        "attributes[pkgbuild]",
    );
    fails_on_field(
        &seller,
        "product.create",
        with(json!({"tags": ["t".repeat(51)]})),
        "tags[0]",
    );
    // each field within its cap, the whole over 64 KiB
    let mut attributes = serde_json::Map::new();
    for i in 0..5 {
        attributes.insert(format!("part{i}"), json!("y".repeat(16_000)));
    }
    let e1 = fails_on_field(
        &seller,
        "product.create",
        with(json!({"attributes": attributes.clone()})),
        "attributes",
    );
    assert!(e1.to_string().contains("65536"), "{e1}");
    // at the caps it is fine
    let ok = seller.ok(
        "product.create",
        with(json!({"attributes": {"k".repeat(64): "v".repeat(16_384)}, "tags": ["t".repeat(50)]})),
    );
    // and an update cannot grow it past the bound either
    fails_on_field(
        &seller,
        "product.update",
        json!({"id": id_of(&ok), "attributes": attributes}),
        "attributes",
    );
}

#[test]
fn an_answer_over_the_limit_stops_the_batch_with_an_error_per_call_left() {
    let e = start_with(
        app_config(),
        ServerConfig {
            answer_limit: 8 * 1024,
            ..server_config()
        },
    );
    let seller = provider(&e, "many@example.com", "app");
    for i in 0..10 {
        let mut p = product_params(&format!("Product {i}"));
        p["description"] = json!("d".repeat(1000));
        seller.ok("product.create", p);
    }
    let call = |id: u32| json!({"jsonrpc": "2.0", "id": id, "method": "product.list", "params": {"limit": 5}});
    let batch: Vec<Value> = (1..=4).map(call).collect();
    let reply = e.anon().post_raw(&Value::Array(batch).to_string());
    assert!(reply.body.len() <= 8 * 1024, "{} bytes", reply.body.len());
    let answers = reply.json();
    let answers = answers.as_array().expect("a batch answer");
    assert_eq!(answers.len(), 4, "one answer per call");
    assert_eq!(
        answers[0]["result"]["items"].as_array().map(Vec::len),
        Some(5)
    );
    for a in &answers[1..] {
        assert_eq!(a["error"]["code"], -32600, "{a}");
        assert_eq!(a["error"]["data"]["limit_bytes"], 8 * 1024, "{a}");
    }
    assert_eq!(answers[3]["id"], 4);
    // one call whose answer alone is over the limit
    let v = e.anon().request("product.list", json!({"limit": 10}));
    assert_eq!(v["error"]["code"], -32600, "{v}");
    assert_eq!(v["id"], 1);
}

// ---- slow clients -----------------------------------------------------------

fn slow_server(limits: ConnectionLimits, body_timeout: Duration) -> Env {
    start_with(
        app_config(),
        ServerConfig {
            body_timeout,
            connections: limits,
            ..server_config()
        },
    )
}

fn short_limits() -> ConnectionLimits {
    ConnectionLimits {
        header_timeout: Duration::from_millis(600),
        idle_timeout: Duration::from_millis(900),
        max_connections: 100,
        max_connections_per_address: 3,
    }
}

/// Read until the server closes the socket; what it sent, and how long it took.
fn read_until_closed(stream: &mut TcpStream) -> (String, Duration) {
    let started = Instant::now();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    (
        String::from_utf8_lossy(&out).into_owned(),
        started.elapsed(),
    )
}

#[test]
fn a_client_sending_half_its_headers_is_cut_off() {
    let e = slow_server(short_limits(), Duration::from_secs(30));
    let mut s = TcpStream::connect(e.server.addr).expect("connect");
    s.write_all(b"POST /rpc HTTP/1.1\r\nHost: x\r\nContent-Ty")
        .expect("send");
    let (_, took) = read_until_closed(&mut s);
    assert!(took < Duration::from_secs(5), "closed after {took:?}");
    // a prompt client is served on a fresh connection
    assert_eq!(
        e.anon().ok("system.version", json!({}))["name"],
        "marketplace"
    );
}

#[test]
fn a_client_sending_half_its_body_gets_408() {
    let e = slow_server(short_limits(), Duration::from_millis(700));
    let mut s = TcpStream::connect(e.server.addr).expect("connect");
    s.write_all(b"POST /rpc HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{\"jsonrpc\"")
        .expect("send");
    let (reply, took) = read_until_closed(&mut s);
    assert!(reply.starts_with("HTTP/1.1 408"), "{reply}");
    assert!(took < Duration::from_secs(5), "closed after {took:?}");
}

#[test]
fn an_idle_kept_alive_connection_is_closed() {
    let e = slow_server(short_limits(), Duration::from_secs(30));
    let mut s = TcpStream::connect(e.server.addr).expect("connect");
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"system.version"}"#;
    let request = format!(
        "POST /rpc HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(request.as_bytes()).expect("send");
    let (reply, took) = read_until_closed(&mut s);
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(reply.contains("marketplace"), "{reply}");
    assert!(
        took >= Duration::from_millis(500) && took < Duration::from_secs(5),
        "closed after {took:?}"
    );
}

#[test]
fn open_connections_are_capped_per_address() {
    let e = slow_server(short_limits(), Duration::from_secs(30));
    let held: Vec<TcpStream> = (0..3)
        .map(|_| TcpStream::connect(e.server.addr).expect("connect"))
        .collect();
    std::thread::sleep(Duration::from_millis(100));
    let mut fourth = TcpStream::connect(e.server.addr).expect("connect");
    let (reply, took) = read_until_closed(&mut fourth);
    assert!(reply.starts_with("HTTP/1.1 503"), "{reply:?}");
    assert!(took < Duration::from_secs(2), "{took:?}");
    drop(held);
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(
        e.anon().ok("system.version", json!({}))["name"],
        "marketplace"
    );
}

#[test]
fn open_connections_are_capped_in_total() {
    let e = slow_server(
        ConnectionLimits {
            max_connections: 2,
            max_connections_per_address: 0,
            ..short_limits()
        },
        Duration::from_secs(30),
    );
    let held: Vec<TcpStream> = (0..2)
        .map(|_| TcpStream::connect(e.server.addr).expect("connect"))
        .collect();
    std::thread::sleep(Duration::from_millis(100));
    let mut third = TcpStream::connect(e.server.addr).expect("connect");
    let (reply, _) = read_until_closed(&mut third);
    assert!(reply.starts_with("HTTP/1.1 503"), "{reply:?}");
    drop(held);
}

// ---- password guessing ------------------------------------------------------

fn guard_config(password_attempts: u32) -> AppConfig {
    AppConfig {
        password_attempts,
        password_lock_secs: 900,
        ..app_config()
    }
}

#[test]
fn change_password_shares_the_per_address_sign_in_budget() {
    let e = start_with(
        guard_config(0),
        ServerConfig {
            auth_rate_per_min: 3,
            rate_per_min: 0,
            ..ServerConfig::default()
        },
    );
    let (c, _) = e.register("budget@example.com");
    let wrong = json!({"old_password": "not the password", "new_password": "another password"});
    fails(
        &c,
        "auth.change_password",
        wrong.clone(),
        4010,
        "unauthenticated",
    );
    fails(
        &c,
        "auth.change_password",
        wrong.clone(),
        4010,
        "unauthenticated",
    );
    let e1 = fails(&c, "auth.change_password", wrong, 4290, "rate_limited");
    assert!(e1["data"]["retry_after_secs"].as_u64().is_some(), "{e1}");
}

#[test]
fn a_burst_of_wrong_passwords_locks_the_accounts_password_checks() {
    let e = start_with(guard_config(3), server_config());
    let (c, _) = e.register("locked@example.com");
    e.register("other@example.com");
    let login = |password: &str| json!({"email": "locked@example.com", "password": password});
    for _ in 0..2 {
        fails(
            &e.anon(),
            "auth.login",
            login("wrong password"),
            4010,
            "unauthenticated",
        );
    }
    // a wrong old password through a stolen token counts alike
    let wrong = json!({"old_password": "wrong password", "new_password": "another password"});
    fails(&c, "auth.change_password", wrong, 4010, "unauthenticated");
    // now even the right password is refused for a while, on every method
    let e1 = fails(
        &e.anon(),
        "auth.login",
        login(PASSWORD),
        4290,
        "rate_limited",
    );
    assert_eq!(e1["data"]["retry_after_secs"], 900, "{e1}");
    let right = json!({"old_password": PASSWORD, "new_password": "another password"});
    fails(
        &c,
        "auth.change_password",
        right.clone(),
        4290,
        "rate_limited",
    );
    // other accounts are not affected
    e.login("other@example.com", PASSWORD);
    // an address without an account locks the same way (no probing)
    let ghost = json!({"email": "ghost@example.com", "password": "wrong password"});
    for _ in 0..3 {
        fails(
            &e.anon(),
            "auth.login",
            ghost.clone(),
            4010,
            "unauthenticated",
        );
    }
    fails(&e.anon(), "auth.login", ghost, 4290, "rate_limited");
    // after the lock, the right password works again
    e.clock.advance_seconds(901);
    c.ok("auth.change_password", right);
    e.login("locked@example.com", "another password");
}

// ---- API keys ---------------------------------------------------------------

#[test]
fn api_keys_cannot_manage_keys_or_change_the_password() {
    let e = start();
    let (c, _) = e.register("keys@example.com");
    let created = c.ok("apikey.create", json!({"name": "ci"}));
    let key = e.with_token(str_of(&created["key"]));
    assert_eq!(key.ok("auth.me", json!({}))["email"], "keys@example.com");
    fails(
        &key,
        "apikey.create",
        json!({"name": "more"}),
        4030,
        "forbidden",
    );
    fails(
        &key,
        "apikey.revoke",
        json!({"id": id_of(&created)}),
        4030,
        "forbidden",
    );
    fails(
        &key,
        "auth.change_password",
        json!({"old_password": PASSWORD, "new_password": "another password"}),
        4030,
        "forbidden",
    );
    // the session still may
    assert_eq!(
        c.ok("apikey.list", json!({}))["items"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    e.login("keys@example.com", PASSWORD);
}

#[test]
fn a_password_change_revokes_api_keys_unless_asked_to_keep_them() {
    let e = start();
    let (c, _) = e.register("change@example.com");
    let first = c.ok("apikey.create", json!({"name": "one"}));
    c.ok(
        "auth.change_password",
        json!({"old_password": PASSWORD, "new_password": "second password", "keep_api_keys": true}),
    );
    let kept = e.with_token(str_of(&first["key"]));
    assert_eq!(kept.ok("auth.me", json!({}))["email"], "change@example.com");
    let second = c.ok("apikey.create", json!({"name": "two"}));
    c.ok(
        "auth.change_password",
        json!({"old_password": "second password", "new_password": "third password"}),
    );
    for k in [&first, &second] {
        fails(
            &e.with_token(str_of(&k["key"])),
            "auth.me",
            json!({}),
            4010,
            "unauthenticated",
        );
    }
    let keys = c.ok("apikey.list", json!({}));
    let revoked: Vec<bool> = keys["items"]
        .as_array()
        .map(|items| items.iter().map(|k| k["revoked"] == true).collect())
        .unwrap_or_default();
    assert_eq!(revoked, vec![true, true]);
}

#[test]
fn a_revoked_keys_creation_is_no_longer_replayed() {
    let e = start();
    let (c, _) = e.register("replay@example.com");
    let params = json!({"name": "ci", "idempotency_key": "create-ci"});
    let first = c.ok("apikey.create", params.clone());
    let again = c.ok("apikey.create", params.clone());
    assert_eq!(again, first, "replayed while the key lives");
    c.ok("apikey.revoke", json!({"id": id_of(&first)}));
    let after = c.ok("apikey.create", params);
    assert_ne!(
        after["key"], first["key"],
        "the revoked key is not shown again"
    );
    assert_ne!(after["id"], first["id"]);
    fails(
        &e.with_token(str_of(&first["key"])),
        "auth.me",
        json!({}),
        4010,
        "unauthenticated",
    );
    // a key revoked by a password change is forgotten as well
    let params = json!({"name": "two", "idempotency_key": "create-two"});
    let two = c.ok("apikey.create", params.clone());
    c.ok(
        "auth.change_password",
        json!({"old_password": PASSWORD, "new_password": "a new password"}),
    );
    assert_ne!(c.ok("apikey.create", params)["key"], two["key"]);
}

// ---- account probing --------------------------------------------------------

#[test]
fn a_transfer_answers_the_same_for_known_and_unknown_emails_without_funds() {
    let e = start();
    let (poor, _) = e.register("poor@example.com");
    e.register("known@example.com");
    for to in ["known@example.com", "nobody@example.com"] {
        fails(
            &poor,
            "wallet.transfer",
            json!({"to_email": to, "amount": "5"}),
            4020,
            "insufficient_funds",
        );
    }
}

#[test]
fn transfers_to_unknown_emails_count_against_a_budget() {
    let e = start_with(
        AppConfig {
            email_lookup_misses_per_hour: 3,
            ..app_config()
        },
        server_config(),
    );
    let (rich, user) = e.register("rich@example.com");
    e.register("friend@example.com");
    let (admin, _) = e.admin();
    grant(&admin, str_of(&user["id"]), "100");
    let send = |to: &str| json!({"to_email": to, "amount": "1"});
    // known recipients do not count
    for _ in 0..4 {
        rich.ok("wallet.transfer", send("friend@example.com"));
    }
    for i in 0..3 {
        fails(
            &rich,
            "wallet.transfer",
            send(&format!("probe{i}@example.com")),
            4040,
            "not_found",
        );
    }
    let e1 = fails(
        &rich,
        "wallet.transfer",
        send("friend@example.com"),
        4290,
        "rate_limited",
    );
    assert!(e1["data"]["retry_after_secs"].as_u64().is_some(), "{e1}");
    e.clock.advance_seconds(3601);
    rich.ok("wallet.transfer", send("friend@example.com"));
    assert_eq!(balance(&rich), dec("95"));
}

// ---- lookalike and control characters -------------------------------------

#[test]
fn emails_with_control_characters_are_refused_and_lookalikes_collide() {
    let e = start();
    e.register("Ada@x.test");
    let register =
        |email: &str| json!({"email": email, "password": PASSWORD, "display_name": "Ada"});
    for bad in [
        "ada@x.test\u{0}",
        "ada@x.test\u{1b}",
        "ada\u{200b}@x.test",
        "ada@x.test\u{202e}",
        "ada@x.te\tst",
    ] {
        fails_on_field(&e.anon(), "auth.register", register(bad), "email");
    }
    fails(
        &e.anon(),
        "auth.register",
        register("ada@x.test"),
        4090,
        "conflict",
    );
    fails(
        &e.anon(),
        "auth.register",
        register("ADA@X.TEST"),
        4090,
        "conflict",
    );
    // composed and decomposed forms are one address
    e.register("\u{e9}lise@x.test");
    fails(
        &e.anon(),
        "auth.register",
        register("e\u{301}lise@x.test"),
        4090,
        "conflict",
    );
    e.login("E\u{301}LISE@x.test", PASSWORD);
}

#[test]
fn free_text_refuses_control_and_bidi_override_characters() {
    let e = start();
    let (a, _) = e.register("text-a@example.com");
    let (_, b) = e.register("text-b@example.com");
    for name in [
        "Ann\u{0}",
        "Ann\u{1b}[31m",
        "Ann\u{202e}gpj.exe",
        "Ann\u{2066}x",
    ] {
        fails_on_field(
            &a,
            "user.update_profile",
            json!({"display_name": name}),
            "display_name",
        );
    }
    let to = id_of(&b);
    for body in ["hi\u{0}", "\u{1b}[2J", "evil\u{202e}txt", "line\rfeed"] {
        fails_on_field(
            &a,
            "message.send",
            json!({"to_user_id": to, "body": body}),
            "body",
        );
    }
    let m = a.ok(
        "message.send",
        json!({"to_user_id": to, "body": "two lines\n\tand a tab"}),
    );
    assert_eq!(m["body"], "two lines\n\tand a tab");
    fails_on_field(
        &a,
        "provider.register",
        json!({"kind": "app", "name": "Shop\u{202d}", "description": ""}),
        "name",
    );
}

// ---- cart -------------------------------------------------------------------

#[test]
fn the_cart_cap_applies_to_the_lines_total() {
    let e = start();
    let seller = provider(&e, "cart-seller@example.com", "app");
    let product = seller.ok("product.create", product_params("Cheap"));
    let (buyer, _) = e.register("cart-buyer@example.com");
    let add = |q: u32| json!({"product_id": id_of(&product), "quantity": q});
    buyer.ok("cart.add_item", add(10_000));
    fails_on_field(&buyer, "cart.add_item", add(10_000), "quantity");
    fails_on_field(&buyer, "cart.add_item", add(1), "quantity");
    let cart = buyer.ok("cart.get", json!({}));
    assert_eq!(cart["items"][0]["quantity"], 10_000);
}

// ---- search -----------------------------------------------------------------

#[test]
fn search_text_is_words_never_query_syntax() {
    let e = start();
    let seller = provider(&e, "search@example.com", "app");
    seller.ok("product.create", product_params("Status board"));
    for query in [
        "status:*",
        "status:(",
        "name:[a TO",
        "\"status",
        "AND",
        "status^2 OR",
    ] {
        let page = e.anon().call("product.search", json!({"query": query}));
        let page = page.unwrap_or_else(|err| panic!("{query}: {err}"));
        let names: Vec<&str> = page["items"]
            .as_array()
            .map(|items| items.iter().filter_map(|p| p["name"].as_str()).collect())
            .unwrap_or_default();
        let has_word = query.to_lowercase().contains("status");
        assert_eq!(names == ["Status board"], has_word, "{query}: {names:?}");
    }
    let page = e.anon().ok("product.search", json!({"query": "*:*"}));
    assert_eq!(page["items"], json!([]));
}
