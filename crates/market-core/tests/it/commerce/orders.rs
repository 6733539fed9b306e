//! `cart.*` and `order.*`: what checkout refuses, cancellation, fulfilment,
//! refunds (also one that cannot be covered), transitions, lists and
//! idempotent checkout.

use market_testkit::Client;
use serde_json::{Value, json};

use super::helpers::*;
use crate::support::*;

/// An admin; a service seller (registered first, so the smaller id) with a
/// 20 TFC service; an app seller with a 30 TFC app of which 5 are in stock;
/// a buyer holding 500 TFC.
struct Shop {
    e: Env,
    admin: Client,
    svc_seller: Client,
    app_seller: Client,
    svc: Value,
    app: Value,
    buyer: Client,
    buyer_user: Value,
}

fn shop() -> Shop {
    let e = start();
    let (admin, _) = e.admin();
    let (svc_seller, _, _) = provider(&e, "svc@example.com", "service");
    let (app_seller, _, _) = provider(&e, "app@example.com", "app");
    let svc = product(&svc_seller, "service", "Setup help", "20", json!({}));
    let app = product(&app_seller, "app", "Wiki", "30", json!({"stock": 5}));
    let (buyer, buyer_user) = funded(&e, &admin, "buyer@example.com", "500");
    Shop {
        e,
        admin,
        svc_seller,
        app_seller,
        svc,
        app,
        buyer,
        buyer_user,
    }
}

impl Shop {
    fn stock(&self) -> Value {
        self.e
            .anon()
            .ok("product.get", json!({"id": self.app["id"]}))["stock"]
            .clone()
    }

    /// The buyer buys one service and `apps` apps through the cart.
    fn order(&self, apps: u32) -> Value {
        self.buyer.ok(
            "cart.add_item",
            json!({"product_id": self.svc["id"], "quantity": 1}),
        );
        self.buyer.ok(
            "cart.add_item",
            json!({"product_id": self.app["id"], "quantity": apps}),
        );
        self.buyer.ok("order.checkout", json!({}))
    }
}

#[test]
fn checking_out_an_empty_cart_is_invalid_state() {
    let s = shop();
    fails(&s.buyer, "order.checkout", json!({}), 4220, "invalid_state");
    s.buyer.ok(
        "cart.add_item",
        json!({"product_id": s.svc["id"], "quantity": 1}),
    );
    assert_eq!(s.buyer.ok("cart.clear", json!({})), json!({"ok": true}));
    assert_eq!(s.buyer.ok("cart.get", json!({}))["items"], json!([]));
    fails(&s.buyer, "order.checkout", json!({}), 4220, "invalid_state");
    assert_eq!(
        s.buyer.ok("cart.clear", json!({})),
        json!({"ok": true}),
        "clearing an empty cart"
    );
    assert!(items(&s.buyer.ok("order.list", json!({}))).is_empty());
    assert_balance(&s.buyer, "500");
}

#[test]
fn the_cart_refuses_what_cannot_be_bought() {
    let s = shop();
    let archived = product(&s.app_seller, "app", "Gone", "1", json!({}));
    s.app_seller
        .ok("product.archive", json!({"id": archived["id"]}));
    // an archived product is no longer for sale
    fails(
        &s.buyer,
        "cart.add_item",
        json!({"product_id": archived["id"], "quantity": 1}),
        4090,
        "conflict",
    );
    fails(
        &s.buyer,
        "order.buy_now",
        json!({"product_id": archived["id"], "quantity": 1}),
        4090,
        "conflict",
    );
    fails(
        &s.buyer,
        "cart.add_item",
        json!({"product_id": UNKNOWN_ID, "quantity": 1}),
        4040,
        "not_found",
    );
    // more than the stock, also across two additions
    fails(
        &s.buyer,
        "cart.add_item",
        json!({"product_id": s.app["id"], "quantity": 6}),
        4090,
        "conflict",
    );
    s.buyer.ok(
        "cart.add_item",
        json!({"product_id": s.app["id"], "quantity": 3}),
    );
    let e = fails(
        &s.buyer,
        "cart.add_item",
        json!({"product_id": s.app["id"], "quantity": 3}),
        4090,
        "conflict",
    );
    assert_eq!(e["data"]["available"], 5, "{e}");
    fails(
        &s.buyer,
        "cart.update_item",
        json!({"product_id": s.app["id"], "quantity": 6}),
        4090,
        "conflict",
    );
    fails(
        &s.buyer,
        "order.buy_now",
        json!({"product_id": s.app["id"], "quantity": 6}),
        4090,
        "conflict",
    );
    assert_eq!(
        s.buyer.ok("cart.get", json!({}))["items"],
        json!([{"product_id": s.app["id"], "quantity": 3}])
    );
    // your own product
    fails_on_field(
        &s.app_seller,
        "cart.add_item",
        json!({"product_id": s.app["id"], "quantity": 1}),
        "product_id",
    );
    fails_on_field(
        &s.app_seller,
        "order.buy_now",
        json!({"product_id": s.app["id"], "quantity": 1}),
        "product_id",
    );
    assert_eq!(s.stock(), 5);
}

/// A draft was never public: to anyone but its owner it does not exist
/// (SPEC 7: `not_found` for objects the caller may not see), so the cart
/// must not answer `conflict` with the unpublished product's name.
#[test]
fn a_draft_cannot_be_bought_and_does_not_show() {
    let s = shop();
    let draft = product(
        &s.app_seller,
        "app",
        "Secret project",
        "1",
        json!({"draft": true}),
    );
    fails(
        &s.buyer,
        "product.get",
        json!({"id": draft["id"]}),
        4040,
        "not_found",
    );
    for method in ["cart.add_item", "order.buy_now"] {
        let e = fails(
            &s.buyer,
            method,
            json!({"product_id": draft["id"], "quantity": 1}),
            4040,
            "not_found",
        );
        assert!(!e.to_string().contains("Secret project"), "{e}");
    }
}

#[test]
fn checkout_rechecks_the_cart_and_changes_nothing_on_failure() {
    let s = shop();
    s.buyer.ok(
        "cart.add_item",
        json!({"product_id": s.svc["id"], "quantity": 1}),
    );
    s.buyer.ok(
        "cart.add_item",
        json!({"product_id": s.app["id"], "quantity": 4}),
    );
    let cart = s.buyer.ok("cart.get", json!({}))["items"].clone();
    // someone else takes 2 of the 5: 4 no longer fit
    let (other, _) = funded(&s.e, &s.admin, "other@example.com", "100");
    other.ok(
        "order.buy_now",
        json!({"product_id": s.app["id"], "quantity": 2}),
    );
    assert_eq!(s.stock(), 3);
    fails(&s.buyer, "order.checkout", json!({}), 4090, "conflict");
    // the seller archives the service: no longer for sale
    s.buyer.ok(
        "cart.update_item",
        json!({"product_id": s.app["id"], "quantity": 3}),
    );
    s.svc_seller
        .ok("product.archive", json!({"id": s.svc["id"]}));
    fails(&s.buyer, "order.checkout", json!({}), 4090, "conflict");
    let after = s.buyer.ok("cart.get", json!({}))["items"].clone();
    assert_eq!(after[0], cart[0]);
    assert_eq!(after[1], json!({"product_id": s.app["id"], "quantity": 3}));
    assert_eq!(s.stock(), 3);
    assert_balance(&s.buyer, "500");
    assert!(items(&s.buyer.ok("order.list", json!({}))).is_empty());
    assert!(items(&s.buyer.ok("booking.list", json!({}))).is_empty());
    s.buyer
        .ok("cart.remove_item", json!({"product_id": s.svc["id"]}));
    let order = s.buyer.ok("order.checkout", json!({}));
    assert_money(&order["total"], "90");
    assert_eq!(s.stock(), 0);
}

#[test]
fn checkout_without_enough_money_changes_nothing() {
    let s = shop();
    let (poor, _) = funded(&s.e, &s.admin, "poor@example.com", "49.999999");
    poor.ok(
        "cart.add_item",
        json!({"product_id": s.svc["id"], "quantity": 1}),
    );
    poor.ok(
        "cart.add_item",
        json!({"product_id": s.app["id"], "quantity": 1}),
    );
    let cart = poor.ok("cart.get", json!({}));
    let e = fails(
        &poor,
        "order.checkout",
        json!({}),
        4020,
        "insufficient_funds",
    );
    assert_money(&e["data"]["needed"], "50");
    assert_eq!(poor.ok("cart.get", json!({}))["items"], cart["items"]);
    assert_eq!(s.stock(), 5);
    assert_balance(&poor, "49.999999");
    assert!(items(&poor.ok("order.list", json!({}))).is_empty());
    assert!(items(&poor.ok("booking.list", json!({}))).is_empty());
    assert!(items(&poor.ok("deployment.list", json!({}))).is_empty());
    assert!(items(&s.svc_seller.ok("order.list_sales", json!({}))).is_empty());
    fails(
        &poor,
        "order.buy_now",
        json!({"product_id": s.app["id"], "quantity": 2}),
        4020,
        "insufficient_funds",
    );
    assert_eq!(s.stock(), 5);
    assert_eq!(escrow(&s.e), dec("0"));
    verify_ok(&s.admin);
}

#[test]
fn the_buyer_cancels_before_fulfilment_and_gets_everything_back() {
    let s = shop();
    let order = s.order(2);
    assert_money(&order["total"], "80");
    assert_balance(&s.buyer, "420");
    assert_eq!(s.stock(), 3);
    let (stranger, _) = s.e.register("stranger@example.com");
    fails(
        &stranger,
        "order.cancel",
        json!({"id": order["id"]}),
        4040,
        "not_found",
    );
    fails(
        &stranger,
        "order.get",
        json!({"id": order["id"]}),
        4040,
        "not_found",
    );
    let c = s.buyer.ok("order.cancel", json!({"id": order["id"]}));
    assert_eq!(c["status"], "cancelled");
    assert!(c["cancelled_at"].is_string(), "{c}");
    assert_balance(&s.buyer, "500");
    assert_eq!(s.stock(), 5, "stock restored");
    assert_eq!(escrow(&s.e), dec("0"));
    assert_eq!(
        s.buyer.ok("order.transitions", json!({"id": order["id"]})),
        json!([])
    );
    fails(
        &s.buyer,
        "order.cancel",
        json!({"id": order["id"]}),
        4220,
        "invalid_state",
    );
    fails(
        &s.svc_seller,
        "order.fulfil",
        json!({"id": order["id"]}),
        4220,
        "invalid_state",
    );
    fails(
        &s.admin,
        "order.refund",
        json!({"id": order["id"]}),
        4220,
        "invalid_state",
    );
    // an admin may cancel a paid order too
    let again = s.order(1);
    assert_eq!(
        s.admin.ok("order.cancel", json!({"id": again["id"]}))["status"],
        "cancelled"
    );
    assert_balance(&s.buyer, "500");
    assert_eq!(s.stock(), 5);
    verify_ok(&s.admin);
}

#[test]
fn fulfilment_rules() {
    let s = shop();
    let order = s.order(1);
    let id = json!({"id": order["id"]});
    let (stranger, _, _) = provider(&s.e, "stranger@example.com", "service");
    fails(&stranger, "order.fulfil", id.clone(), 4040, "not_found");
    let first = s.svc_seller.ok("order.fulfil", id.clone());
    assert_eq!(first["status"], "paid");
    fails(
        &s.svc_seller,
        "order.fulfil",
        id.clone(),
        4220,
        "invalid_state",
    );
    assert_balance(&s.svc_seller, "18");
    // after a fulfilment the buyer (or an admin) can no longer cancel
    fails(&s.buyer, "order.cancel", id.clone(), 4220, "invalid_state");
    fails(&s.admin, "order.cancel", id.clone(), 4220, "invalid_state");
    assert_eq!(s.buyer.ok("order.get", id.clone())["status"], "paid");
    let done = s.app_seller.ok("order.fulfil", id.clone());
    assert_eq!(done["status"], "completed");
    assert_balance(&s.app_seller, "27");
    fails(
        &s.app_seller,
        "order.fulfil",
        id.clone(),
        4220,
        "invalid_state",
    );
    fails(&s.buyer, "order.cancel", id, 4220, "invalid_state");
    assert_eq!(escrow(&s.e), dec("0"));
    assert_eq!(revenue(&s.e), dec("5"));
}

#[test]
fn refunds_are_for_admins_and_completed_orders() {
    let s = shop();
    let order = s.order(1);
    let id = json!({"id": order["id"]});
    fails(&s.buyer, "order.refund", id.clone(), 4030, "forbidden");
    fails(&s.svc_seller, "order.refund", id.clone(), 4030, "forbidden");
    fails(&s.admin, "order.refund", id.clone(), 4220, "invalid_state");
    fails(
        &s.admin,
        "order.refund",
        json!({"id": UNKNOWN_ID}),
        4040,
        "not_found",
    );
    s.svc_seller.ok("order.fulfil", id.clone());
    fails(&s.admin, "order.refund", id.clone(), 4220, "invalid_state");
    s.app_seller.ok("order.fulfil", id.clone());
    assert_eq!(s.admin.ok("order.refund", id.clone())["status"], "refunded");
    fails(&s.admin, "order.refund", id.clone(), 4220, "invalid_state");
    assert_eq!(s.admin.ok("order.transitions", id), json!([]));
    assert_balance(&s.buyer, "500");
    assert_balance(&s.svc_seller, "0");
    assert_balance(&s.app_seller, "0");
    assert_eq!(revenue(&s.e), dec("0"));
    verify_ok(&s.admin);
}

#[test]
fn a_refund_a_seller_cannot_cover_fails_and_moves_nothing() {
    let s = shop();
    let order = s.order(1);
    let id = json!({"id": order["id"]});
    s.svc_seller.ok("order.fulfil", id.clone());
    s.app_seller.ok("order.fulfil", id.clone());
    assert_balance(&s.svc_seller, "18");
    assert_balance(&s.app_seller, "27");
    // the seller refunded last (the larger id) spends part of the money: the
    // first seller's reversal must be undone as well
    let (friend, _) = s.e.register("friend@example.com");
    s.app_seller.ok(
        "wallet.transfer",
        json!({"to_email": "friend@example.com", "amount": "0.000001"}),
    );
    let wallets = [&s.buyer, &s.svc_seller, &s.app_seller, &friend, &s.admin];
    let before: Vec<_> = wallets.iter().map(|c| balance(c)).collect();
    let histories: Vec<_> = wallets.iter().map(|c| history(c).len()).collect();
    let (esc, rev) = (escrow(&s.e), revenue(&s.e));
    let e = fails(
        &s.admin,
        "order.refund",
        id.clone(),
        4020,
        "insufficient_funds",
    );
    assert!(e["data"].is_object(), "{e}");
    let after: Vec<_> = wallets.iter().map(|c| balance(c)).collect();
    assert_eq!(after, before, "no wallet moved");
    assert_eq!(
        wallets.iter().map(|c| history(c).len()).collect::<Vec<_>>(),
        histories,
        "no entry was written"
    );
    assert_eq!((escrow(&s.e), revenue(&s.e)), (esc, rev));
    assert_eq!(s.buyer.ok("order.get", id.clone())["status"], "completed");
    verify_ok(&s.admin);
    // with the money back it goes through
    friend.ok(
        "wallet.transfer",
        json!({"to_email": "app@example.com", "amount": "0.000001"}),
    );
    assert_eq!(s.admin.ok("order.refund", id)["status"], "refunded");
    assert_balance(&s.buyer, "500");
}

#[test]
fn transitions_tell_each_caller_their_moves() {
    let s = shop();
    let order = s.order(1);
    let id = json!({"id": order["id"]});
    let (stranger, _) = s.e.register("stranger@example.com");
    assert_eq!(
        s.buyer.ok("order.transitions", id.clone()),
        json!(["cancelled"])
    );
    fails(
        &stranger,
        "order.transitions",
        id.clone(),
        4040,
        "not_found",
    );
    // two sellers still to deliver: neither completes the order alone
    assert_eq!(s.svc_seller.ok("order.transitions", id.clone()), json!([]));
    assert_eq!(s.app_seller.ok("order.transitions", id.clone()), json!([]));
    s.svc_seller.ok("order.fulfil", id.clone());
    assert_eq!(s.buyer.ok("order.transitions", id.clone()), json!([]));
    assert_eq!(s.svc_seller.ok("order.transitions", id.clone()), json!([]));
    assert_eq!(
        s.app_seller.ok("order.transitions", id.clone()),
        json!(["completed"])
    );
    assert_eq!(s.admin.ok("order.transitions", id.clone()), json!([]));
    s.app_seller.ok("order.fulfil", id.clone());
    assert_eq!(
        s.admin.ok("order.transitions", id.clone()),
        json!(["refunded"])
    );
    for c in [&s.buyer, &s.svc_seller, &s.app_seller] {
        assert_eq!(c.ok("order.transitions", id.clone()), json!([]));
    }
    // a one-seller order: its seller completes it
    let single = s.buyer.ok(
        "order.buy_now",
        json!({"product_id": s.app["id"], "quantity": 1}),
    );
    assert_eq!(
        s.app_seller
            .ok("order.transitions", json!({"id": single["id"]})),
        json!(["completed"])
    );
}

#[test]
fn order_lists_show_each_side_its_orders() {
    let s = shop();
    let (other, _) = funded(&s.e, &s.admin, "other@example.com", "100");
    let first = s.order(1);
    let only_app = s.buyer.ok(
        "order.buy_now",
        json!({"product_id": s.app["id"], "quantity": 2}),
    );
    let others = other.ok(
        "order.buy_now",
        json!({"product_id": s.svc["id"], "quantity": 1}),
    );
    assert_eq!(only_app["items"].as_array().unwrap().len(), 1);
    assert_money(&only_app["total"], "60");
    assert_eq!(
        s.buyer.ok("cart.get", json!({}))["items"],
        json!([]),
        "buy_now leaves the cart alone"
    );
    assert_eq!(
        ids(&s.buyer.ok("order.list", json!({}))),
        vec![id_of(&only_app), id_of(&first)]
    );
    assert_eq!(
        ids(&other.ok("order.list", json!({}))),
        vec![id_of(&others)]
    );
    assert_eq!(
        ids(&s.svc_seller.ok("order.list_sales", json!({}))),
        vec![id_of(&others), id_of(&first)]
    );
    assert_eq!(
        ids(&s.app_seller.ok("order.list_sales", json!({}))),
        vec![id_of(&only_app), id_of(&first)]
    );
    fails(&s.buyer, "order.list_sales", json!({}), 4030, "forbidden");
    // paging through my orders
    let paged: Vec<String> = all_pages(&s.buyer, "order.list", json!({"limit": 1}))
        .iter()
        .map(id_of)
        .collect();
    assert_eq!(paged, vec![id_of(&only_app), id_of(&first)]);
    fails_on_field(&s.buyer, "order.list", json!({"limit": 501}), "limit");
    // who may read one order
    for c in [&s.buyer, &s.svc_seller, &s.app_seller, &s.admin] {
        assert_eq!(
            c.ok("order.get", json!({"id": first["id"]}))["id"],
            first["id"]
        );
    }
    fails(
        &other,
        "order.get",
        json!({"id": first["id"]}),
        4040,
        "not_found",
    );
    fails(
        &s.svc_seller,
        "order.get",
        json!({"id": only_app["id"]}),
        4040,
        "not_found",
    );
    assert_eq!(first["buyer_id"], s.buyer_user["id"]);
}

#[test]
fn cart_items_are_added_updated_and_removed() {
    let s = shop();
    let add = |p: &Value, q: u32| {
        s.buyer.ok(
            "cart.add_item",
            json!({"product_id": p["id"], "quantity": q}),
        )
    };
    add(&s.svc, 1);
    add(&s.svc, 2);
    let cart = add(&s.app, 1);
    assert_eq!(
        cart["items"],
        json!([
            {"product_id": s.svc["id"], "quantity": 3},
            {"product_id": s.app["id"], "quantity": 1},
        ])
    );
    let cart = s.buyer.ok(
        "cart.update_item",
        json!({"product_id": s.svc["id"], "quantity": 1}),
    );
    assert_eq!(cart["items"][0]["quantity"], 1);
    let cart = s
        .buyer
        .ok("cart.remove_item", json!({"product_id": s.app["id"]}));
    assert_eq!(
        cart["items"],
        json!([{"product_id": s.svc["id"], "quantity": 1}])
    );
    fails(
        &s.buyer,
        "cart.update_item",
        json!({"product_id": s.app["id"], "quantity": 1}),
        4040,
        "not_found",
    );
    fails(
        &s.buyer,
        "cart.remove_item",
        json!({"product_id": s.app["id"]}),
        4040,
        "not_found",
    );
    // nobody else sees or changes this cart
    let (other, _) = s.e.register("other@example.com");
    assert_eq!(other.ok("cart.get", json!({}))["items"], json!([]));
    fails(
        &other,
        "cart.remove_item",
        json!({"product_id": s.svc["id"]}),
        4040,
        "not_found",
    );
    fails(&s.e.anon(), "cart.get", json!({}), 4010, "unauthenticated");
    assert_eq!(s.buyer.ok("cart.clear", json!({})), json!({"ok": true}));
    assert_eq!(s.buyer.ok("cart.get", json!({}))["items"], json!([]));
}

#[test]
fn checkout_with_the_same_idempotency_key_makes_one_order() {
    let s = shop();
    s.buyer.ok(
        "cart.add_item",
        json!({"product_id": s.app["id"], "quantity": 2}),
    );
    let body = json!({
        "jsonrpc": "2.0", "id": 7, "method": "order.checkout",
        "params": {"idempotency_key": "checkout-1"},
    })
    .to_string();
    let first = s.buyer.post_raw(&body);
    let v = first.json();
    assert_eq!(v["result"]["status"], "paid", "{v}");
    let second = s.buyer.post_raw(&body);
    assert_eq!(second.body, first.body, "replayed byte for byte");
    assert_eq!(
        ids(&s.buyer.ok("order.list", json!({}))),
        vec![id_of(&v["result"])]
    );
    assert_balance(&s.buyer, "440");
    assert_eq!(s.stock(), 3);
    // the cart is empty now, but the key still answers with the first order
    let third = s
        .buyer
        .ok("order.checkout", json!({"idempotency_key": "checkout-1"}));
    assert_eq!(third, v["result"]);
    // a new key checks out again (and finds the cart empty)
    fails(
        &s.buyer,
        "order.checkout",
        json!({"idempotency_key": "checkout-2"}),
        4220,
        "invalid_state",
    );
    // buy_now: the same key with other params is a mismatch
    let once = s.buyer.ok(
        "order.buy_now",
        json!({"product_id": s.app["id"], "quantity": 1, "idempotency_key": "now-1"}),
    );
    let again = s.buyer.ok(
        "order.buy_now",
        json!({"product_id": s.app["id"], "quantity": 1, "idempotency_key": "now-1"}),
    );
    assert_eq!(once, again);
    fails(
        &s.buyer,
        "order.buy_now",
        json!({"product_id": s.app["id"], "quantity": 2, "idempotency_key": "now-1"}),
        4091,
        "idempotency_mismatch",
    );
    assert_eq!(s.stock(), 2);
    assert_eq!(items(&s.buyer.ok("order.list", json!({}))).len(), 2);
}
