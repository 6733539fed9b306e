//! `message.*`: one thread per pair of users and order, unread counts on
//! each side, and threads private to their two participants and admins.

use serde_json::json;

use super::helpers::*;
use crate::support::*;

#[test]
fn threads_are_per_pair_and_order_with_unread_counts_per_side() {
    let e = start();
    let (admin, _) = e.admin();
    let (seller, seller_user, _) = provider(&e, "seller@example.com", "app");
    let (buyer, buyer_user) = funded(&e, &admin, "buyer@example.com", "100");
    let (other, other_user) = e.register("other@example.com");
    let p = product(&seller, "app", "Tool", "5", json!({}));
    let order = buyer.ok(
        "order.buy_now",
        json!({"product_id": p["id"], "quantity": 1}),
    );

    let general = buyer.ok(
        "message.send",
        json!({"to_user_id": seller_user["id"], "body": "Hello"}),
    );
    let about = buyer.ok(
        "message.send",
        json!({"to_user_id": seller_user["id"], "body": "About my order", "order_id": order["id"]}),
    );
    assert_ne!(
        general["thread_id"], about["thread_id"],
        "an order has its own thread"
    );
    let again = seller.ok(
        "message.send",
        json!({"to_user_id": buyer_user["id"], "body": "Hi!"}),
    );
    assert_eq!(
        again["thread_id"], general["thread_id"],
        "either side, one thread"
    );
    let threads = seller.ok("message.threads", json!({}));
    let summaries = items(&threads);
    assert_eq!(summaries.len(), 2);
    let find = |id: &serde_json::Value| {
        summaries
            .iter()
            .find(|t| &t["thread_id"] == id)
            .unwrap_or_else(|| panic!("{id} not in {threads}"))
            .clone()
    };
    let g = find(&general["thread_id"]);
    assert_eq!(g["unread"], 1);
    assert!(g["order_id"].is_null(), "{g}");
    assert_eq!(g["other_user_id"], buyer_user["id"]);
    assert_eq!(g["other_display_name"], "buyer");
    let a = find(&about["thread_id"]);
    assert_eq!(a["unread"], 1);
    assert_eq!(a["order_id"], order["id"]);
    let mine = items(&buyer.ok("message.threads", json!({})));
    let unread: Vec<_> = mine
        .iter()
        .map(|t| (t["thread_id"].clone(), t["unread"].clone()))
        .collect();
    assert!(
        unread.contains(&(general["thread_id"].clone(), json!(1))),
        "{unread:?}"
    );
    assert!(
        unread.contains(&(about["thread_id"].clone(), json!(0))),
        "{unread:?}"
    );
    // reading one thread leaves the other unread
    seller.ok(
        "message.mark_read",
        json!({"thread_id": general["thread_id"]}),
    );
    let after = seller.ok("message.threads", json!({}));
    for t in items(&after) {
        let expected = if t["thread_id"] == general["thread_id"] {
            0
        } else {
            1
        };
        assert_eq!(t["unread"], expected, "{t}");
    }
    // marking read only touches the caller's side
    let still = items(&buyer.ok("message.threads", json!({})));
    assert!(
        still
            .iter()
            .any(|t| t["thread_id"] == general["thread_id"] && t["unread"] == 1)
    );
    // the general thread holds both messages, newest first, one page at a time
    let paged = all_pages(
        &seller,
        "message.list",
        json!({"thread_id": general["thread_id"], "limit": 1}),
    );
    let bodies: Vec<_> = paged.iter().map(|m| m["body"].clone()).collect();
    assert_eq!(bodies, vec![json!("Hi!"), json!("Hello")]);

    // refusals
    fails_on_field(
        &buyer,
        "message.send",
        json!({"to_user_id": buyer_user["id"], "body": "me"}),
        "to_user_id",
    );
    fails(
        &buyer,
        "message.send",
        json!({"to_user_id": UNKNOWN_ID, "body": "anyone?"}),
        4040,
        "not_found",
    );
    // an order thread needs both people to be in the order
    fails(
        &buyer,
        "message.send",
        json!({"to_user_id": other_user["id"], "body": "look", "order_id": order["id"]}),
        4040,
        "not_found",
    );
    fails(
        &other,
        "message.send",
        json!({"to_user_id": seller_user["id"], "body": "me too", "order_id": order["id"]}),
        4040,
        "not_found",
    );
    for thread in [&general["thread_id"], &about["thread_id"]] {
        fails(
            &other,
            "message.list",
            json!({"thread_id": thread}),
            4040,
            "not_found",
        );
        fails(
            &other,
            "message.mark_read",
            json!({"thread_id": thread}),
            4040,
            "not_found",
        );
    }
    assert!(items(&other.ok("message.threads", json!({}))).is_empty());
    fails(
        &e.anon(),
        "message.threads",
        json!({}),
        4010,
        "unauthenticated",
    );
    fails_on_field(&buyer, "message.threads", json!({"limit": 501}), "limit");
    assert_eq!(
        items(&admin.ok("message.list", json!({"thread_id": about["thread_id"]}))).len(),
        1
    );
}

#[test]
fn threads_come_latest_message_first_one_page_at_a_time() {
    let e = start();
    let (me, _) = e.register("me@example.com");
    let mut users = Vec::new();
    for name in ["ann", "ben", "cat"] {
        let (_, user) = e.register(&format!("{name}@example.com"));
        me.ok(
            "message.send",
            json!({"to_user_id": user["id"], "body": format!("hello {name}")}),
        );
        advance(&e, 1);
        users.push(user);
    }
    let order = |page: Vec<serde_json::Value>| -> Vec<String> {
        page.iter()
            .map(|t| str_of(&t["other_display_name"]).to_string())
            .collect()
    };
    let paged = all_pages(&me, "message.threads", json!({"limit": 1}));
    assert_eq!(order(paged), ["cat", "ben", "ann"]);
    // a new message in the oldest thread brings it to the top
    me.ok(
        "message.send",
        json!({"to_user_id": users[0]["id"], "body": "again"}),
    );
    let paged = all_pages(&me, "message.threads", json!({"limit": 2}));
    assert_eq!(order(paged), ["ann", "cat", "ben"]);
    fails_on_field(
        &me,
        "message.threads",
        json!({"cursor": "not-a-cursor"}),
        "cursor",
    );
}
