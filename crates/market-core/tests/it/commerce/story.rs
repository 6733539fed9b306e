//! The whole story of issue 4's acceptance, in one test: a resource
//! provider's node, a slice rental, a service and an app bought through the
//! cart, both sellers paid, an admin refund, messages about the order, the
//! rental's expiry, and every balance exact at the end.

use serde_json::json;

use super::helpers::*;
use crate::support::*;

#[test]
fn the_whole_marketplace_story_balances_to_the_last_micro_tfc() {
    let e = start();
    let (admin, _) = e.admin();

    // --- a resource provider registers and lists a node --------------------
    let (rp, _rp_user, rp_profile) = provider(&e, "rp@example.com", "resource");
    assert_eq!(rp_profile["kind"], "resource");
    let roles = rp.ok("auth.me", json!({}))["roles"].clone();
    assert!(
        roles
            .as_array()
            .unwrap()
            .contains(&json!("resource_provider")),
        "{roles}"
    );
    let node = node5(&rp, "10");
    let node_id = id_of(&node);
    assert_eq!(node["status"], "online");
    assert_eq!(node["total_units"], 5);
    assert_eq!(node["used_units"], 0);
    assert_eq!(node["provider_id"], rp_profile["id"]);
    let free = e.anon().ok("slice.list_available", json!({}));
    assert_eq!(items(&free).len(), 1);
    assert_eq!(free["items"][0]["node_id"], node["id"]);
    assert_eq!(free["items"][0]["free_units"], 5);
    assert_money(&free["items"][0]["price_per_unit_hour"], "2");

    // --- a buyer rents 2 units for 3 hours ---------------------------------
    let (buyer, buyer_user) = funded(&e, &admin, "buyer@example.com", "1000");
    let rental = buyer.ok(
        "rental.slice",
        json!({"node_id": node_id, "units": 2, "hours": 3}),
    );
    let rental_id = id_of(&rental);
    assert_eq!(rental["status"], "active");
    assert_eq!(rental["kind"], "slice");
    assert_eq!(rental["units"], 2);
    assert_eq!(rental["hours"], 3);
    assert_money(&rental["price_per_unit_hour"], "2");
    assert_money(&rental["amount"], "12");
    assert_eq!(rental["starts_at"], START);
    assert_eq!(rental["ends_at"], "2026-01-01T03:00:00Z");
    assert_balance(&buyer, "988");
    assert_eq!(escrow(&e), dec("12"));
    let free = e.anon().ok("slice.list_available", json!({}));
    assert_eq!(free["items"][0]["free_units"], 3);
    assert_eq!(
        e.anon().ok("node.get", json!({"id": node_id}))["used_units"],
        2
    );
    let rental_order = buyer.ok("order.get", json!({"id": rental["order_id"]}));
    assert_eq!(rental_order["status"], "paid");
    assert_eq!(rental_order["rental_id"], rental["id"]);
    assert_money(&rental_order["total"], "12");
    assert_eq!(
        rental_order["items"][0]["seller_id"],
        rp_profile["owner_id"]
    );
    assert_eq!(rental_order["items"][0]["category"], "compute_slice");

    // --- a service provider and an app provider list products --------------
    let (sp, sp_user, _) = provider(&e, "sp@example.com", "service");
    let (ap, ap_user, _) = provider(&e, "ap@example.com", "app");
    // 10 % of 49.999985 is 4.9999985: half to even at 6 places gives 4.999998
    let service = product(&sp, "service", "Website audit", "49.999985", json!({}));
    let app = product(
        &ap,
        "app",
        "Nextcloud",
        "30",
        json!({"pricing_unit": "month", "stock": 5}),
    );
    assert_eq!(service["status"], "active");
    assert_eq!(app["stock"], 5);

    // --- the buyer fills a cart and checks out ------------------------------
    buyer.ok(
        "cart.add_item",
        json!({"product_id": service["id"], "quantity": 1}),
    );
    buyer.ok(
        "cart.add_item",
        json!({"product_id": app["id"], "quantity": 1}),
    );
    let cart = buyer.ok(
        "cart.add_item",
        json!({"product_id": app["id"], "quantity": 1}),
    );
    assert_eq!(
        cart["items"],
        json!([
            {"product_id": service["id"], "quantity": 1},
            {"product_id": app["id"], "quantity": 2},
        ])
    );
    let order = buyer.ok("order.checkout", json!({}));
    let order_id = id_of(&order);
    assert_eq!(order["status"], "paid");
    assert_eq!(order["buyer_id"], buyer_user["id"]);
    assert_money(&order["total"], "109.999985");
    let lines = order["items"].as_array().unwrap();
    assert_eq!(lines.len(), 2);
    let line_of = |pid: &serde_json::Value| {
        lines
            .iter()
            .find(|l| &l["product_id"] == pid)
            .unwrap_or_else(|| panic!("no line for {pid}: {order}"))
            .clone()
    };
    let s_line = line_of(&service["id"]);
    assert_eq!(s_line["seller_id"], sp_user["id"]);
    assert_eq!(s_line["quantity"], 1);
    assert_money(&s_line["unit_price"], "49.999985");
    assert_money(&s_line["line_total"], "49.999985");
    assert_money(&s_line["commission_percent"], "10");
    assert_eq!(s_line["fulfilled"], false);
    let a_line = line_of(&app["id"]);
    assert_eq!(a_line["seller_id"], ap_user["id"]);
    assert_eq!(a_line["quantity"], 2);
    assert_eq!(a_line["pricing_unit"], "month");
    assert_money(&a_line["line_total"], "60");
    assert_balance(&buyer, "878.000015");
    assert_eq!(escrow(&e), dec("121.999985"));
    assert_eq!(
        e.anon().ok("product.get", json!({"id": app["id"]}))["stock"],
        3
    );
    assert_eq!(buyer.ok("cart.get", json!({}))["items"], json!([]));

    // a booking for the service, seen by the buyer and the service provider
    let bookings = buyer.ok("booking.list", json!({}));
    assert_eq!(items(&bookings).len(), 1, "{bookings}");
    let booking = &bookings["items"][0];
    assert_eq!(booking["order_id"], order["id"]);
    assert_eq!(booking["product_id"], service["id"]);
    assert_eq!(booking["customer_id"], buyer_user["id"]);
    assert_eq!(booking["seller_id"], sp_user["id"]);
    assert_eq!(booking["status"], "requested");
    assert_eq!(booking["progress"], 0);
    assert_eq!(sp.ok("booking.list", json!({}))["items"], bookings["items"]);
    assert_eq!(items(&ap.ok("booking.list", json!({}))).len(), 0);
    // a deployment record for the app, seen by the buyer and the app provider
    let deployments = buyer.ok("deployment.list", json!({}));
    assert_eq!(items(&deployments).len(), 1, "{deployments}");
    let deployment = &deployments["items"][0];
    assert_eq!(deployment["order_id"], order["id"]);
    assert_eq!(deployment["product_id"], app["id"]);
    assert_eq!(deployment["product_name"], "Nextcloud");
    assert_eq!(deployment["seller_id"], ap_user["id"]);
    assert_eq!(deployment["status"], "requested");
    assert_eq!(
        ap.ok("deployment.list", json!({}))["items"],
        deployments["items"]
    );
    assert_eq!(items(&sp.ok("deployment.list", json!({}))).len(), 0);
    // both sellers see the order among their sales
    for seller in [&sp, &ap] {
        let sales = seller.ok("order.list_sales", json!({}));
        assert_eq!(ids(&sales), vec![order_id.clone()]);
    }

    // --- both sellers fulfil: each gets share - round(share * 10 / 100) ----
    let after_first = sp.ok("order.fulfil", json!({"id": order_id}));
    assert_eq!(
        after_first["status"], "paid",
        "one seller is still to deliver"
    );
    assert_eq!(
        ap.ok("order.transitions", json!({"id": order_id})),
        json!(["completed"])
    );
    assert_eq!(
        buyer.ok("order.transitions", json!({"id": order_id})),
        json!([])
    );
    assert_balance(&sp, "44.999987");
    assert_eq!(revenue(&e), dec("4.999998"));
    let done = ap.ok("order.fulfil", json!({"id": order_id}));
    assert_eq!(done["status"], "completed");
    assert!(done["completed_at"].is_string(), "{done}");
    assert!(
        done["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["fulfilled"] == true)
    );
    assert_balance(&ap, "54");
    assert_eq!(revenue(&e), dec("10.999998"));
    assert_eq!(escrow(&e), dec("12"), "only the rental is still held");

    // --- an admin refunds the completed order ------------------------------
    assert_eq!(
        admin.ok("order.transitions", json!({"id": order_id})),
        json!(["refunded"])
    );
    let refunded = admin.ok("order.refund", json!({"id": order_id}));
    assert_eq!(refunded["status"], "refunded");
    assert!(refunded["refunded_at"].is_string(), "{refunded}");
    assert_eq!(
        buyer.ok("order.get", json!({"id": order_id}))["status"],
        "refunded"
    );
    assert_balance(&buyer, "988");
    assert_balance(&sp, "0");
    assert_balance(&ap, "0");
    assert_eq!(revenue(&e), dec("0"));
    assert_eq!(escrow(&e), dec("12"));
    let kinds: Vec<(String, rust_decimal::Decimal)> = history(&buyer)
        .iter()
        .map(|h| (str_of(&h["kind"]).to_string(), dec_of(&h["amount"])))
        .collect();
    let expected: Vec<(String, rust_decimal::Decimal)> = [
        ("refund", "6"),
        ("refund", "54"),
        ("refund", "4.999998"),
        ("refund", "44.999987"),
        ("purchase", "-109.999985"),
        ("rental", "-12"),
        ("grant", "1000"),
    ]
    .iter()
    .map(|(k, a)| (k.to_string(), dec(a)))
    .collect();
    assert_eq!(kinds, expected, "the buyer's history, newest first");
    let refunds: Vec<_> = history(&buyer)
        .into_iter()
        .filter(|h| h["kind"] == "refund")
        .collect();
    let refunded_sum: rust_decimal::Decimal = refunds.iter().map(|h| dec_of(&h["amount"])).sum();
    assert_eq!(refunded_sum, dec("109.999985"), "{refunds:?}");
    assert!(
        refunds
            .iter()
            .all(|h| h["reference"] == format!("order:{order_id}"))
    );

    // --- messages between the buyer and a seller about the order -----------
    let m1 = buyer.ok(
        "message.send",
        json!({"to_user_id": sp_user["id"], "body": "When does the audit start?", "order_id": order_id}),
    );
    buyer.ok(
        "message.send",
        json!({"to_user_id": sp_user["id"], "body": "Any news?", "order_id": order_id}),
    );
    let thread_id = m1["thread_id"].as_str().unwrap().to_string();
    assert_eq!(m1["sender_id"], buyer_user["id"]);
    assert_eq!(m1["recipient_id"], sp_user["id"]);
    assert_eq!(m1["read"], false);
    let threads = sp.ok("message.threads", json!({}));
    assert_eq!(items(&threads).len(), 1, "{threads}");
    assert_eq!(threads["items"][0]["thread_id"], thread_id.as_str());
    assert_eq!(threads["items"][0]["other_user_id"], buyer_user["id"]);
    assert_eq!(threads["items"][0]["order_id"], order_id.as_str());
    assert_eq!(threads["items"][0]["unread"], 2);
    assert_eq!(
        buyer.ok("message.threads", json!({}))["items"][0]["unread"],
        0
    );
    let listed = sp.ok("message.list", json!({"thread_id": thread_id}));
    let bodies: Vec<_> = items(&listed).iter().map(|m| m["body"].clone()).collect();
    assert_eq!(
        bodies,
        vec![json!("Any news?"), json!("When does the audit start?")],
        "newest first"
    );
    assert_eq!(
        sp.ok("message.mark_read", json!({"thread_id": thread_id})),
        json!({"ok": true})
    );
    assert_eq!(sp.ok("message.threads", json!({}))["items"][0]["unread"], 0);
    assert!(
        items(&sp.ok("message.list", json!({"thread_id": thread_id})))
            .iter()
            .all(|m| m["read"] == true)
    );
    let reply = sp.ok(
        "message.send",
        json!({"to_user_id": buyer_user["id"], "body": "Tomorrow.", "order_id": order_id}),
    );
    assert_eq!(
        reply["thread_id"],
        thread_id.as_str(),
        "same pair, same order, same thread"
    );
    assert_eq!(
        buyer.ok("message.threads", json!({}))["items"][0]["unread"],
        1
    );
    // a third user sees nothing of it
    let (stranger, _) = e.register("stranger@example.com");
    fails(
        &stranger,
        "message.list",
        json!({"thread_id": thread_id}),
        4040,
        "not_found",
    );
    fails(
        &stranger,
        "message.mark_read",
        json!({"thread_id": thread_id}),
        4040,
        "not_found",
    );
    assert_eq!(items(&stranger.ok("message.threads", json!({}))).len(), 0);
    // an admin may read it
    assert_eq!(
        items(&admin.ok("message.list", json!({"thread_id": thread_id}))).len(),
        3
    );

    // --- the rental expires: units free again, the provider paid -----------
    advance(&e, 3 * 3600 - 1);
    assert_eq!(e.app.expire_rentals().expect("sweep"), 0, "not over yet");
    assert_eq!(escrow(&e), dec("12"));
    advance(&e, 1);
    assert_eq!(e.app.expire_rentals().expect("sweep"), 1);
    let ended = buyer.ok("rental.get", json!({"id": rental_id}));
    assert_eq!(ended["status"], "expired");
    assert_eq!(ended["ended_at"], "2026-01-01T03:00:00Z");
    assert_eq!(
        e.anon().ok("node.get", json!({"id": node_id}))["used_units"],
        0
    );
    assert_eq!(
        e.anon().ok("slice.list_available", json!({}))["items"][0]["free_units"],
        5
    );
    assert_eq!(
        buyer.ok("order.get", json!({"id": rental["order_id"]}))["status"],
        "completed"
    );
    assert_balance(&rp, "10.8");
    let paid = history(&rp);
    assert_eq!(paid.len(), 1, "{paid:?}");
    assert_eq!(paid[0]["kind"], "sale");
    assert_money(&paid[0]["amount"], "10.8");
    assert_eq!(
        paid[0]["reference"],
        format!("order:{}", str_of(&rental["order_id"]))
    );
    assert_eq!(e.app.expire_rentals().expect("sweep"), 0, "expires once");

    // --- every balance exactly as computed by hand --------------------------
    assert_balance(&buyer, "988");
    assert_balance(&rp, "10.8");
    assert_balance(&sp, "0");
    assert_balance(&ap, "0");
    assert_balance(&stranger, "0");
    assert_balance(&admin, "0");
    assert_eq!(escrow(&e), dec("0"));
    assert_eq!(revenue(&e), dec("1.2"));
    assert_eq!(issuance(&e), dec("-1000"));
    let v = verify_total(&admin, &[&buyer, &rp, &sp, &ap, &stranger, &admin]);
    assert_money(&v["total"], "998.8");
    // what the users hold plus the platform's revenue is every credit issued,
    // so escrow holds nothing
    assert_eq!(
        dec("1000") - dec_of(&v["total"]) - revenue(&e),
        dec("0"),
        "escrow by difference"
    );
}
