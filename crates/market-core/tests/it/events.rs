//! The domain event log over HTTP: what mutations append, who sees what
//! (`event.list`), paging by `seq` and type filters.

use market_testkit::Client;
use serde_json::{Value, json};

use crate::support::*;

/// Every event `c` may see, oldest first, read page by page.
pub fn all_events(c: &Client, types: &[&str]) -> Vec<Value> {
    let mut out = Vec::new();
    let mut after = 0;
    loop {
        let page = c.ok(
            "event.list",
            json!({"after_seq": after, "types": types, "limit": 7}),
        );
        out.extend(page["items"].as_array().expect("items").iter().cloned());
        after = page["last_seq"].as_u64().expect("last_seq");
        if page["next_cursor"].is_null() {
            return out;
        }
        assert_eq!(page["next_cursor"], after.to_string());
    }
}

fn types_of(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| str_of(&e["type"]).to_string())
        .collect()
}

fn seqs(events: &[Value]) -> Vec<u64> {
    events
        .iter()
        .map(|e| e["seq"].as_u64().expect("seq"))
        .collect()
}

/// A seller with one active `app` product; the seller and the product.
fn seller_with_product(e: &Env) -> (Client, Value) {
    let (seller, _) = e.register("seller@example.com");
    seller.ok(
        "provider.register",
        json!({"kind": "app", "name": "Apps", "description": "apps"}),
    );
    let product = seller.ok(
        "product.create",
        json!({"category": "app", "name": "Editor", "description": "edits",
            "price": "4.00", "pricing_unit": "one_time"}),
    );
    (seller, product)
}

#[test]
fn a_purchase_appends_its_events_and_each_party_sees_only_its_own() {
    let e = start();
    let (admin, _) = e.admin();
    let (seller, product) = seller_with_product(&e);
    let (alice, alice_user) = e.register("alice@example.com");
    let (bob, bob_user) = e.register("bob@example.com");
    grant(&admin, &id_of(&alice_user), "50");
    grant(&admin, &id_of(&bob_user), "20");
    let order = alice.ok(
        "order.buy_now",
        json!({"product_id": id_of(&product), "quantity": 2}),
    );
    seller.ok("order.fulfil", json!({"id": id_of(&order)}));
    bob.ok(
        "message.send",
        json!({"to_user_id": id_of(&alice_user), "body": "hello"}),
    );

    let mine = all_events(&alice, &[]);
    assert_eq!(
        types_of(&mine),
        [
            "wallet.credited",
            "wallet.debited",
            "order.paid",
            "order.completed",
            "message.received"
        ]
    );
    let paid = &mine[2];
    assert_eq!(paid["object_type"], "order");
    assert_eq!(paid["object_id"], order["id"]);
    assert_eq!(paid["actor_id"], alice_user["id"]);
    assert_eq!(dec_of(&paid["data"]["total"]), dec("8"));
    assert_eq!(dec_of(&mine[1]["data"]["amount"]), dec("-8"));
    assert_eq!(dec_of(&mine[1]["data"]["balance_after"]), dec("42"));
    assert_eq!(mine[1]["data"]["kind"], "purchase");
    for key in [
        "seq",
        "id",
        "type",
        "at",
        "actor_id",
        "object_type",
        "object_id",
        "data",
    ] {
        assert!(paid.get(key).is_some(), "event without {key}: {paid}");
    }
    assert_eq!(paid.as_object().map(|o| o.len()), Some(8), "{paid}");

    // Bob sees his grant and nothing of Alice's order or of the message he sent.
    let bobs = all_events(&bob, &[]);
    assert_eq!(types_of(&bobs), ["wallet.credited"]);
    assert!(bobs.iter().all(|ev| ev["object_id"] != order["id"]));

    // The seller sees the order and the sale, not the buyers' grants.
    let sellers = types_of(&all_events(&seller, &[]));
    assert_eq!(
        sellers,
        ["order.paid", "wallet.credited", "order.completed"]
    );

    // The admin sees every event, `seq` 1, 2, 3, ... without a gap.
    let every = all_events(&admin, &[]);
    let expected: Vec<u64> = (1..=every.len() as u64).collect();
    assert_eq!(seqs(&every), expected);
    for ev in mine.iter().chain(&bobs) {
        assert!(every.contains(ev), "admin misses {ev}");
    }
    // Anonymous callers see nothing at all.
    fails(&e.anon(), "event.list", json!({}), 4010, "unauthenticated");
}

#[test]
fn type_filters_and_after_seq_page_the_log() {
    let e = start();
    let (admin, _) = e.admin();
    let (alice, alice_user) = e.register("alice@example.com");
    for _ in 0..5 {
        grant(&admin, &id_of(&alice_user), "1");
    }
    let (bob, _) = e.register("bob@example.com");
    alice.ok(
        "wallet.transfer",
        json!({"to_email": "bob@example.com", "amount": "2"}),
    );
    let credited = all_events(&alice, &["wallet.credited"]);
    assert_eq!(credited.len(), 5);
    let debited = all_events(&alice, &["wallet.debited"]);
    assert_eq!(debited.len(), 1);
    assert_eq!(dec_of(&debited[0]["data"]["amount"]), dec("-2"));
    assert_eq!(dec_of(&debited[0]["data"]["balance_after"]), dec("3"));
    assert_eq!(types_of(&all_events(&bob, &[])), ["wallet.credited"]);

    // `after_seq` starts after a given event; a short page says where it stopped.
    let all = all_events(&alice, &[]);
    let third = all[2]["seq"].as_u64().expect("seq");
    let page = alice.ok("event.list", json!({"after_seq": third, "limit": 2}));
    assert_eq!(
        seqs(page["items"].as_array().expect("items")),
        seqs(&all[3..5])
    );
    assert_eq!(page["last_seq"], all[4]["seq"]);
    assert_eq!(
        page["next_cursor"],
        all[4]["seq"].as_u64().expect("seq").to_string()
    );
    let end = alice.ok("event.list", json!({"after_seq": 1_000_000}));
    assert_eq!(end["items"], json!([]));
    assert!(end["next_cursor"].is_null());

    fails_on_field(&alice, "event.list", json!({"limit": 501}), "limit");
    fails_on_field(&alice, "event.list", json!({"types": [""]}), "types");
    invalid_params(&alice, "event.list", json!({"after_seq": "x"}));
}

#[test]
fn rentals_bookings_and_products_say_what_happened() {
    let e = start();
    let (admin, _) = e.admin();
    let (host, _) = e.register("host@example.com");
    host.ok(
        "provider.register",
        json!({"kind": "resource", "name": "Grid", "description": "nodes"}),
    );
    let node = host.ok(
        "node.register",
        json!({"name": "n1", "location": {"country": "BE", "city": "Ghent"},
            "capacity": {"cpu_cores": 4, "memory_gb": 16, "storage_gb": 800},
            "price_per_hour": "4"}),
    );
    let (renter, renter_user) = e.register("renter@example.com");
    grant(&admin, &id_of(&renter_user), "100");
    let rental = renter.ok(
        "rental.slice",
        json!({"node_id": id_of(&node), "units": 1, "hours": 2}),
    );
    renter.ok("rental.extend", json!({"id": id_of(&rental), "hours": 1}));
    renter.ok("rental.cancel", json!({"id": id_of(&rental)}));
    let rentals: Vec<Value> = all_events(
        &renter,
        &["rental.started", "rental.extended", "rental.ended"],
    );
    assert_eq!(
        types_of(&rentals),
        ["rental.started", "rental.extended", "rental.ended"]
    );
    assert!(rentals.iter().all(|r| r["object_id"] == rental["id"]));
    assert_eq!(rentals[1]["data"]["hours"], 3);
    assert_eq!(rentals[2]["data"]["status"], "cancelled");
    // The node's owner hears of the rental too.
    let hosts = types_of(&all_events(&host, &["rental.started", "rental.ended"]));
    assert_eq!(hosts, ["rental.started", "rental.ended"]);

    let (pro, _) = e.register("pro@example.com");
    pro.ok(
        "provider.register",
        json!({"kind": "service", "name": "Help", "description": "helps"}),
    );
    let service = pro.ok(
        "product.create",
        json!({"category": "service", "name": "Setup", "description": "sets up",
            "price": "3", "pricing_unit": "one_time"}),
    );
    pro.ok(
        "product.update",
        json!({"id": id_of(&service), "price": "5"}),
    );
    let updated = all_events(&pro, &["product.updated"]);
    assert_eq!(updated.len(), 1);
    assert_eq!(dec_of(&updated[0]["data"]["price"]), dec("5"));
    renter.ok(
        "order.buy_now",
        json!({"product_id": id_of(&service), "quantity": 1}),
    );
    let booking = &renter.ok("booking.list", json!({}))["items"][0];
    pro.ok(
        "booking.update_status",
        json!({"id": id_of(booking), "status": "in_progress", "progress": 40}),
    );
    let seen = all_events(&renter, &["booking.updated"]);
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0]["data"]["progress"], 40);
    assert_eq!(all_events(&pro, &["booking.updated"]), seen);
}

#[test]
fn a_failed_mutation_appends_nothing() {
    let e = start();
    let (admin, _) = e.admin();
    let (alice, alice_user) = e.register("alice@example.com");
    e.register("bob@example.com");
    grant(&admin, &id_of(&alice_user), "1");
    let before = all_events(&admin, &[]);
    fails(
        &alice,
        "wallet.transfer",
        json!({"to_email": "bob@example.com", "amount": "5"}),
        4020,
        "insufficient_funds",
    );
    assert_eq!(all_events(&admin, &[]), before);
}

#[test]
fn subscribing_needs_a_websocket() {
    let e = start();
    let (alice, _) = e.register("alice@example.com");
    fails(&alice, "event.subscribe", json!({}), 4220, "invalid_state");
    fails(
        &alice,
        "event.unsubscribe",
        json!({"subscription": "x"}),
        4220,
        "invalid_state",
    );
}
