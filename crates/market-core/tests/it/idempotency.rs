//! Idempotency keys on mutating methods (SPEC 6 and 10).

use market_testkit::Client;
use serde_json::{Value, json};

use crate::support::*;

/// A `wallet.transfer` request body.
fn transfer_body(id: Value, to: &str, amount: &str, key: &str) -> String {
    json!({"jsonrpc": "2.0", "id": id, "method": "wallet.transfer", "params": {
        "to_email": to, "amount": amount, "memo": "keyed", "idempotency_key": key
    }})
    .to_string()
}

/// An admin and two users, the first granted `amount`.
fn funded(e: &Env, amount: &str) -> (Client, Client, Client) {
    let (admin, _) = e.admin();
    let (alice, alice_user) = e.register("alice@example.com");
    let (bob, _) = e.register("bob@example.com");
    if amount != "0" {
        grant(&admin, &id_of(&alice_user), amount);
    }
    (admin, alice, bob)
}

#[test]
fn a_repeat_is_answered_byte_for_byte_and_moves_money_once() {
    let e = start();
    let (admin, alice, bob) = funded(&e, "100");
    let body = transfer_body(json!(7), "bob@example.com", "10", "pay-1");
    let first = alice.post_raw(&body);
    let repeat = alice.post_raw(&body);
    assert_eq!(first.status, 200);
    assert_eq!(
        first.body, repeat.body,
        "a repeat is answered byte for byte"
    );
    let v = first.json();
    assert_eq!(v["id"], 7);
    assert_eq!(dec_of(&v["result"]["amount"]), dec("10"));
    // under another request id the stored result comes back with that id
    let other = alice
        .post_raw(&transfer_body(
            json!("x-2"),
            "bob@example.com",
            "10",
            "pay-1",
        ))
        .json();
    assert_eq!(other["id"], "x-2");
    assert_eq!(other["result"], v["result"]);
    assert_eq!(balance(&alice), dec("90"));
    assert_eq!(balance(&bob), dec("10"));
    assert_eq!(history(&alice).len(), 2);
    assert_eq!(verify_ok(&admin)["transfers"], 2);
}

#[test]
fn concurrent_repeats_transfer_once() {
    let e = start();
    let (admin, alice, bob) = funded(&e, "100");
    let body = transfer_body(json!(1), "bob@example.com", "25", "pay-concurrent");
    let bodies: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| s.spawn(|| alice.post_raw(&body).body))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(bodies.iter().all(|b| b == &bodies[0]), "{bodies:#?}");
    let v: Value = serde_json::from_str(&bodies[0]).unwrap();
    assert_eq!(dec_of(&v["result"]["amount"]), dec("25"), "{v}");
    assert_eq!(balance(&alice), dec("75"));
    assert_eq!(balance(&bob), dec("25"));
    assert_eq!(verify_ok(&admin)["transfers"], 2);
}

#[test]
fn the_same_key_with_other_params_is_an_idempotency_mismatch() {
    let e = start();
    let (_admin, alice, bob) = funded(&e, "100");
    alice.ok(
        "wallet.transfer",
        json!({"to_email": "bob@example.com", "amount": "10", "idempotency_key": "k"}),
    );
    for params in [
        json!({"to_email": "bob@example.com", "amount": "11", "idempotency_key": "k"}),
        json!({"to_email": "bob@example.com", "amount": "10", "memo": "m", "idempotency_key": "k"}),
    ] {
        let err = fails(
            &alice,
            "wallet.transfer",
            params,
            4091,
            "idempotency_mismatch",
        );
        assert!(err["message"].is_string());
    }
    // the same params in another order are the same call
    let replay = alice.ok(
        "wallet.transfer",
        json!({"idempotency_key": "k", "amount": "10", "to_email": "bob@example.com"}),
    );
    assert_eq!(dec_of(&replay["amount"]), dec("10"));
    assert_eq!(balance(&alice), dec("90"));
    assert_eq!(balance(&bob), dec("10"));
}

#[test]
fn a_failed_call_can_be_retried_with_its_key() {
    let e = start();
    let (admin, alice, bob) = funded(&e, "5");
    let params =
        json!({"to_email": "bob@example.com", "amount": "8", "idempotency_key": "retry-me"});
    fails(
        &alice,
        "wallet.transfer",
        params.clone(),
        4020,
        "insufficient_funds",
    );
    let alice_id = id_of(&alice.ok("auth.me", json!({})));
    grant(&admin, &alice_id, "5");
    let t = alice.ok("wallet.transfer", params.clone());
    assert_eq!(dec_of(&t["amount"]), dec("8"));
    assert_eq!(alice.ok("wallet.transfer", params), t);
    assert_eq!(balance(&alice), dec("2"));
    assert_eq!(balance(&bob), dec("8"));
}

#[test]
fn keys_belong_to_their_caller_and_method() {
    let e = start();
    let (admin, alice, bob) = funded(&e, "50");
    let (carol, _) = e.register("carol@example.com");
    let bob_id = id_of(&bob.ok("auth.me", json!({})));
    grant(&admin, &bob_id, "50");
    let params =
        json!({"to_email": "carol@example.com", "amount": "4", "idempotency_key": "shared"});
    let a = alice.ok("wallet.transfer", params.clone());
    let b = bob.ok("wallet.transfer", params.clone());
    assert_ne!(a["id"], b["id"]);
    assert_eq!(balance(&alice), dec("46"));
    assert_eq!(balance(&bob), dec("46"));
    assert_eq!(balance(&carol), dec("8"));
    // the same key on another method is another call
    let topup = alice.ok(
        "wallet.topup",
        json!({"amount": "1", "idempotency_key": "shared"}),
    );
    assert_eq!(topup["kind"], "topup");
    assert_eq!(balance(&alice), dec("47"));
}

#[test]
fn public_methods_take_no_key() {
    let e = start();
    e.register("pub@example.com");
    invalid_params(
        &e.anon(),
        "auth.login",
        json!({"email": "pub@example.com", "password": PASSWORD, "idempotency_key": "k"}),
    );
    invalid_params(
        &e.anon(),
        "auth.register",
        json!({"email": "pub2@example.com", "password": PASSWORD, "display_name": "P", "idempotency_key": "k"}),
    );
    // the register above created nothing
    e.register("pub2@example.com");
}

#[test]
fn keys_must_be_1_to_255_characters() {
    let e = start();
    let (_admin, alice, _bob) = funded(&e, "10");
    for bad in [String::new(), "k".repeat(256)] {
        fails_on_field(
            &alice,
            "wallet.transfer",
            json!({"to_email": "bob@example.com", "amount": "1", "idempotency_key": bad}),
            "idempotency_key",
        );
    }
    invalid_params(
        &alice,
        "wallet.transfer",
        json!({"to_email": "bob@example.com", "amount": "1", "idempotency_key": 5}),
    );
    assert_eq!(balance(&alice), dec("10"));
    alice.ok(
        "wallet.transfer",
        json!({"to_email": "bob@example.com", "amount": "1", "idempotency_key": "k".repeat(255)}),
    );
    assert_eq!(balance(&alice), dec("9"));
}

#[test]
fn a_key_works_across_sessions_of_the_same_user() {
    let e = start();
    let (_admin, alice, bob) = funded(&e, "20");
    let body = transfer_body(json!(3), "bob@example.com", "6", "cross-session");
    let first = alice.post_raw(&body);
    let other_session = e.login("alice@example.com", PASSWORD);
    assert_eq!(other_session.post_raw(&body).body, first.body);
    assert_eq!(balance(&alice), dec("14"));
    assert_eq!(balance(&bob), dec("6"));
}

#[test]
fn a_key_is_remembered_for_24_hours() {
    let e = start();
    let (_admin, alice, bob) = funded(&e, "20");
    let body = transfer_body(json!(1), "bob@example.com", "5", "daily");
    let first = alice.post_raw(&body);
    // the purge the server runs hourly forgets records older than 24 h
    let purge = |e: &Env| e.db.purge_idempotency(e.db.now().add_seconds(-24 * 3600));
    e.clock.advance_seconds(24 * 3600 - 1);
    assert_eq!(purge(&e).expect("purge"), 0);
    assert_eq!(alice.post_raw(&body).body, first.body);
    assert_eq!(balance(&alice), dec("15"));
    assert_eq!(balance(&bob), dec("5"));
    e.clock.advance_seconds(2);
    assert_eq!(purge(&e).expect("purge"), 1);
}
