//! `booking.*` and `deployment.*`: records created by buying services and
//! apps, and the service provider moving a booking forward.

use serde_json::json;

use super::helpers::*;
use crate::support::*;

#[test]
fn the_provider_moves_a_booking_forward_only() {
    let e = start();
    let (admin, _) = e.admin();
    let (seller, seller_user, _) = provider(&e, "svc@example.com", "service");
    let (buyer, buyer_user) = funded(&e, &admin, "buyer@example.com", "100");
    let (stranger, _, _) = provider(&e, "other@example.com", "service");
    let svc = product(&seller, "service", "Migration", "25", json!({}));
    let order = buyer.ok(
        "order.buy_now",
        json!({"product_id": svc["id"], "quantity": 1}),
    );
    let list = buyer.ok("booking.list", json!({}));
    assert_eq!(items(&list).len(), 1);
    let b = list["items"][0].clone();
    assert_eq!(b["status"], "requested");
    assert_eq!(b["progress"], 0);
    assert_eq!(b["order_id"], order["id"]);
    assert_eq!(b["product_name"], "Migration");
    assert_eq!(b["customer_id"], buyer_user["id"]);
    assert_eq!(b["seller_id"], seller_user["id"]);
    assert_eq!(seller.ok("booking.list", json!({}))["items"], list["items"]);
    assert!(items(&stranger.ok("booking.list", json!({}))).is_empty());
    // only the service provider moves it: to anyone else it is not theirs to change
    for who in [&buyer, &stranger] {
        fails(
            who,
            "booking.update_status",
            json!({"id": b["id"], "status": "in_progress", "progress": 10}),
            4040,
            "not_found",
        );
    }
    let started = seller.ok(
        "booking.update_status",
        json!({"id": b["id"], "status": "in_progress", "progress": 40}),
    );
    assert_eq!(started["status"], "in_progress");
    assert_eq!(started["progress"], 40);
    assert_eq!(started["version"], 2);
    let more = seller.ok(
        "booking.update_status",
        json!({"id": b["id"], "status": "in_progress", "progress": 70}),
    );
    assert_eq!(more["progress"], 70);
    let done = seller.ok(
        "booking.update_status",
        json!({"id": b["id"], "status": "completed"}),
    );
    assert_eq!(done["status"], "completed");
    assert_eq!(done["progress"], 100);
    for status in ["in_progress", "completed", "requested"] {
        fails(
            &seller,
            "booking.update_status",
            json!({"id": b["id"], "status": status}),
            4220,
            "invalid_state",
        );
    }
    // the customer sees where it stands
    let seen = &buyer.ok("booking.list", json!({}))["items"][0];
    assert_eq!(seen["status"], "completed");
    assert_eq!(seen["progress"], 100);
    // a booking is not a fulfilment: the money still waits in escrow
    assert_eq!(
        buyer.ok("order.get", json!({"id": order["id"]}))["status"],
        "paid"
    );
    assert_eq!(escrow(&e), dec("25"));
}

#[test]
fn a_booking_cannot_go_back_to_requested() {
    let e = start();
    let (admin, _) = e.admin();
    let (seller, _, _) = provider(&e, "svc@example.com", "service");
    let (buyer, _) = funded(&e, &admin, "buyer@example.com", "100");
    let svc = product(&seller, "service", "Audit", "5", json!({}));
    buyer.ok(
        "order.buy_now",
        json!({"product_id": svc["id"], "quantity": 1}),
    );
    let b = seller.ok("booking.list", json!({}))["items"][0].clone();
    fails(
        &seller,
        "booking.update_status",
        json!({"id": b["id"], "status": "requested"}),
        4220,
        "invalid_state",
    );
    // straight to completed is allowed
    let done = seller.ok(
        "booking.update_status",
        json!({"id": b["id"], "status": "completed"}),
    );
    assert_eq!(done["progress"], 100);
    fails(
        &seller,
        "booking.update_status",
        json!({"id": UNKNOWN_ID, "status": "completed"}),
        4040,
        "not_found",
    );
}

#[test]
fn deployments_are_listed_for_both_sides_and_bookings_only_for_services() {
    let e = start();
    let (admin, _) = e.admin();
    let (apps, apps_user, _) = provider(&e, "apps@example.com", "app");
    let (buyer, buyer_user) = funded(&e, &admin, "buyer@example.com", "100");
    let (other, _) = funded(&e, &admin, "other@example.com", "100");
    let wiki = product(&apps, "app", "Wiki", "3", json!({}));
    let model = product(&apps, "model", "LLM", "4", json!({}));
    let o1 = buyer.ok(
        "order.buy_now",
        json!({"product_id": wiki["id"], "quantity": 2}),
    );
    buyer.ok(
        "order.buy_now",
        json!({"product_id": model["id"], "quantity": 1}),
    );
    let o2 = other.ok(
        "order.buy_now",
        json!({"product_id": wiki["id"], "quantity": 1}),
    );
    let mine = items(&buyer.ok("deployment.list", json!({})));
    assert_eq!(mine.len(), 1, "a model is not an app: {mine:?}");
    assert_eq!(mine[0]["order_id"], o1["id"]);
    assert_eq!(mine[0]["customer_id"], buyer_user["id"]);
    assert_eq!(mine[0]["seller_id"], apps_user["id"]);
    assert_eq!(mine[0]["status"], "requested");
    let seller_view = apps.ok("deployment.list", json!({}));
    let orders: Vec<_> = items(&seller_view)
        .iter()
        .map(|d| d["order_id"].clone())
        .collect();
    assert_eq!(
        orders,
        vec![o2["id"].clone(), o1["id"].clone()],
        "newest first"
    );
    assert_eq!(items(&other.ok("deployment.list", json!({}))).len(), 1);
    assert!(items(&buyer.ok("booking.list", json!({}))).is_empty());
    assert!(items(&apps.ok("booking.list", json!({}))).is_empty());
    fails(
        &e.anon(),
        "deployment.list",
        json!({}),
        4010,
        "unauthenticated",
    );
}
