//! `admin.stats`: exact totals after a known scenario.

use serde_json::json;

use super::helpers::*;
use crate::support::*;

#[test]
fn admin_stats_count_a_known_scenario_exactly() {
    let e = start();
    let (admin, _) = e.admin();
    let empty = admin.ok("admin.stats", json!({}));
    assert_eq!(empty["users"], 1, "{empty}");
    assert_eq!(empty["orders"], 0);
    assert_money(&empty["gross_volume"], "0");

    let (res, _, _) = provider(&e, "res@example.com", "resource");
    let (shop, _, _) = provider(&e, "shop@example.com", "service");
    shop.ok(
        "provider.register",
        json!({"kind": "app", "name": "Shop apps", "description": ""}),
    );
    let (buyer, _) = funded(&e, &admin, "buyer@example.com", "1000");
    e.register("idle@example.com");
    let n1 = node5(&res, "10");
    node(&res, "small", 1, 4, 200, "1");
    let svc = product(&shop, "service", "Help", "20", json!({}));
    let app = product(&shop, "app", "Tool", "7.5", json!({}));
    let old = product(&shop, "app", "Old", "1", json!({}));
    shop.ok("product.archive", json!({"id": old["id"]}));
    product(&shop, "app", "Draft", "1", json!({"draft": true}));

    // paid: a rental of 2 units for 3 hours (12) and a service (20)
    buyer.ok(
        "rental.slice",
        json!({"node_id": n1["id"], "units": 2, "hours": 3}),
    );
    buyer.ok(
        "order.buy_now",
        json!({"product_id": svc["id"], "quantity": 1}),
    );
    // completed: two apps (15)
    let done = buyer.ok(
        "order.buy_now",
        json!({"product_id": app["id"], "quantity": 2}),
    );
    shop.ok("order.fulfil", json!({"id": done["id"]}));
    // cancelled (excluded): 7.5
    let cancelled = buyer.ok(
        "order.buy_now",
        json!({"product_id": app["id"], "quantity": 1}),
    );
    buyer.ok("order.cancel", json!({"id": cancelled["id"]}));
    // refunded (excluded): 20
    let refunded = buyer.ok(
        "order.buy_now",
        json!({"product_id": svc["id"], "quantity": 1}),
    );
    shop.ok("order.fulfil", json!({"id": refunded["id"]}));
    admin.ok("order.refund", json!({"id": refunded["id"]}));

    let s = admin.ok("admin.stats", json!({}));
    assert_eq!(s["users"], 5, "admin, res, shop, buyer, idle: {s}");
    assert_eq!(s["providers"], 3, "{s}");
    assert_eq!(s["products"], 4, "archived and draft count too: {s}");
    assert_eq!(s["nodes"], 2, "{s}");
    assert_eq!(s["orders"], 5, "{s}");
    assert_eq!(s["active_rentals"], 1, "{s}");
    assert_money(&s["gross_volume"], "47");

    // the rental expiring keeps its (now completed) order in the volume
    advance(&e, 3 * 3600);
    assert_eq!(e.app.expire_rentals().unwrap(), 1);
    let s = admin.ok("admin.stats", json!({}));
    assert_eq!(s["active_rentals"], 0);
    assert_money(&s["gross_volume"], "47");

    for who in [&buyer, &shop, &res] {
        fails(who, "admin.stats", json!({}), 4030, "forbidden");
    }
    fails(&e.anon(), "admin.stats", json!({}), 4010, "unauthenticated");
}
