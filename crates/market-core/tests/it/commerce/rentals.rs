//! `node.*`, `slice.*` and `rental.*`: renting capacity, its refusals,
//! extension, cancellation, expiry (also across a restart) and workloads.

use serde_json::json;

use super::helpers::*;
use crate::support::*;

/// An admin, a resource provider with a 5-unit node at 10 TFC an hour (2 per
/// unit-hour) and a buyer holding 100 TFC.
struct Grid {
    e: Env,
    admin: market_testkit::Client,
    owner: market_testkit::Client,
    node_id: String,
    buyer: market_testkit::Client,
}

fn grid() -> Grid {
    let e = start();
    let (admin, _) = e.admin();
    let (owner, _, _) = provider(&e, "owner@example.com", "resource");
    let node_id = id_of(&node5(&owner, "10"));
    let (buyer, _) = funded(&e, &admin, "buyer@example.com", "100");
    Grid {
        e,
        admin,
        owner,
        node_id,
        buyer,
    }
}

fn used_units(g: &Grid) -> serde_json::Value {
    g.e.anon().ok("node.get", json!({"id": g.node_id}))["used_units"].clone()
}

#[test]
fn a_node_of_8_cpu_32_gb_1000_gb_holds_5_units_and_needs_the_role() {
    let e = start();
    let (customer, _) = e.register("c@example.com");
    let params = json!({
        "name": "n", "location": {"country": "BE", "city": "Ghent"},
        "capacity": {"cpu_cores": 8, "memory_gb": 32, "storage_gb": 1000},
        "price_per_hour": "10",
    });
    fails(
        &customer,
        "node.register",
        params.clone(),
        4030,
        "forbidden",
    );
    fails(&e.anon(), "node.register", params, 4010, "unauthenticated");
    let (owner, _, _) = provider(&e, "o@example.com", "resource");
    let n = node5(&owner, "10");
    assert_eq!(n["total_units"], 5);
    assert_eq!(n["country"], "BE");
    let wide = node(&owner, "wide", 16, 64, 4000, "8");
    assert_eq!(wide["total_units"], 16);
    let memory_bound = node(&owner, "memory-bound", 16, 15, 4000, "3");
    assert_eq!(memory_bound["total_units"], 3);
    let avail = e.anon().ok("slice.list_available", json!({}));
    let by_id = |id: &serde_json::Value| {
        items(&avail)
            .into_iter()
            .find(|a| &a["node_id"] == id)
            .unwrap_or_else(|| panic!("{id} missing from {avail}"))
    };
    assert_money(&by_id(&n["id"])["price_per_unit_hour"], "2");
    assert_money(&by_id(&wide["id"])["price_per_unit_hour"], "0.5");
    assert_money(&by_id(&memory_bound["id"])["price_per_unit_hour"], "1");
    // asking for 4 free vCPUs leaves out the 3-unit node
    let big = e.anon().ok("slice.list_available", json!({"min_cpu": 4}));
    let big_ids = items(&big)
        .iter()
        .map(|a| a["node_id"].clone())
        .collect::<Vec<_>>();
    assert!(big_ids.contains(&n["id"]) && big_ids.contains(&wide["id"]));
    assert!(!big_ids.contains(&memory_bound["id"]), "{big}");
}

#[test]
fn a_whole_node_rental_needs_every_unit_free() {
    let g = grid();
    let (other, _) = funded(&g.e, &g.admin, "other@example.com", "100");
    // one unit rented: the whole node is not available
    let slice = g.buyer.ok(
        "rental.slice",
        json!({"node_id": g.node_id, "units": 1, "hours": 1}),
    );
    fails(
        &other,
        "rental.node",
        json!({"node_id": g.node_id, "hours": 1}),
        4090,
        "conflict",
    );
    assert_balance(&other, "100");
    g.buyer.ok("rental.cancel", json!({"id": slice["id"]}));
    assert_eq!(used_units(&g), 0);
    // free again: the whole node for 2 hours is 10 * 2
    let whole = other.ok("rental.node", json!({"node_id": g.node_id, "hours": 2}));
    assert_eq!(whole["kind"], "node");
    assert_eq!(whole["units"], 5);
    assert_money(&whole["amount"], "20");
    assert_balance(&other, "80");
    assert_eq!(used_units(&g), 5);
    let order = other.ok("order.get", json!({"id": whole["order_id"]}));
    assert_eq!(order["items"][0]["category"], "node");
    assert_eq!(order["items"][0]["quantity"], 10, "unit-hours");
    // nothing left for anyone
    fails(
        &g.buyer,
        "rental.slice",
        json!({"node_id": g.node_id, "units": 1, "hours": 1}),
        4090,
        "conflict",
    );
    fails(
        &g.buyer,
        "rental.node",
        json!({"node_id": g.node_id, "hours": 1}),
        4090,
        "conflict",
    );
    assert!(
        items(&g.e.anon().ok("slice.list_available", json!({}))).is_empty(),
        "a fully rented node offers no slice"
    );
    verify_ok(&g.admin);
}

#[test]
fn offline_and_maintenance_nodes_refuse_rentals() {
    let g = grid();
    let (stranger, _, _) = provider(&g.e, "stranger@example.com", "resource");
    fails(
        &stranger,
        "node.set_status",
        json!({"id": g.node_id, "status": "offline"}),
        4040,
        "not_found",
    );
    for status in ["offline", "maintenance"] {
        let n = g.owner.ok(
            "node.set_status",
            json!({"id": g.node_id, "status": status}),
        );
        assert_eq!(n["status"], status);
        fails(
            &g.buyer,
            "rental.slice",
            json!({"node_id": g.node_id, "units": 1, "hours": 1}),
            4220,
            "invalid_state",
        );
        fails(
            &g.buyer,
            "rental.node",
            json!({"node_id": g.node_id, "hours": 1}),
            4220,
            "invalid_state",
        );
        assert!(items(&g.e.anon().ok("slice.list_available", json!({}))).is_empty());
        let listed = g.e.anon().ok("node.list", json!({"status": status}));
        assert_eq!(ids(&listed), vec![g.node_id.clone()]);
    }
    assert_eq!(used_units(&g), 0);
    assert_balance(&g.buyer, "100");
    assert!(items(&g.buyer.ok("order.list", json!({}))).is_empty());
    g.owner.ok(
        "node.set_status",
        json!({"id": g.node_id, "status": "online"}),
    );
    g.buyer.ok(
        "rental.slice",
        json!({"node_id": g.node_id, "units": 1, "hours": 1}),
    );
    assert_eq!(used_units(&g), 1);
}

#[test]
fn renting_more_units_than_are_free_is_a_conflict() {
    let g = grid();
    let e = fails(
        &g.buyer,
        "rental.slice",
        json!({"node_id": g.node_id, "units": 6, "hours": 1}),
        4090,
        "conflict",
    );
    assert_eq!(e["data"]["free_units"], 5, "{e}");
    g.buyer.ok(
        "rental.slice",
        json!({"node_id": g.node_id, "units": 3, "hours": 1}),
    );
    fails(
        &g.buyer,
        "rental.slice",
        json!({"node_id": g.node_id, "units": 3, "hours": 1}),
        4090,
        "conflict",
    );
    g.buyer.ok(
        "rental.slice",
        json!({"node_id": g.node_id, "units": 2, "hours": 1}),
    );
    assert_eq!(used_units(&g), 5);
    assert_balance(&g.buyer, "90");
    // an unknown node; the owner's own node
    fails(
        &g.buyer,
        "rental.slice",
        json!({"node_id": UNKNOWN_ID, "units": 1, "hours": 1}),
        4040,
        "not_found",
    );
    let own = node(&g.owner, "spare", 2, 8, 400, "1");
    fails_on_field(
        &g.owner,
        "rental.slice",
        json!({"node_id": own["id"], "units": 1, "hours": 1}),
        "node_id",
    );
}

#[test]
fn a_renter_without_enough_money_changes_nothing() {
    let g = grid();
    let (poor, _) = funded(&g.e, &g.admin, "poor@example.com", "5.999999");
    // 1 unit for 3 hours costs 6
    fails(
        &poor,
        "rental.slice",
        json!({"node_id": g.node_id, "units": 1, "hours": 3}),
        4020,
        "insufficient_funds",
    );
    fails(
        &poor,
        "rental.node",
        json!({"node_id": g.node_id, "hours": 1}),
        4020,
        "insufficient_funds",
    );
    assert_eq!(used_units(&g), 0);
    assert_balance(&poor, "5.999999");
    assert_balance(&g.owner, "0");
    assert_eq!(escrow(&g.e), dec("0"));
    assert!(items(&poor.ok("order.list", json!({}))).is_empty());
    assert!(items(&poor.ok("rental.list", json!({}))).is_empty());
    assert!(items(&g.owner.ok("order.list_sales", json!({}))).is_empty());
    assert_eq!(history(&poor).len(), 1, "only the grant");
    // 2 hours (4 TFC) fit
    poor.ok(
        "rental.slice",
        json!({"node_id": g.node_id, "units": 1, "hours": 2}),
    );
    assert_balance(&poor, "1.999999");
    verify_ok(&g.admin);
}

#[test]
fn extend_adds_hours_and_charge_to_the_same_order() {
    let g = grid();
    let r = g.buyer.ok(
        "rental.slice",
        json!({"node_id": g.node_id, "units": 1, "hours": 2}),
    );
    assert_balance(&g.buyer, "96");
    let (stranger, _) = funded(&g.e, &g.admin, "stranger@example.com", "100");
    fails(
        &stranger,
        "rental.extend",
        json!({"id": r["id"], "hours": 1}),
        4040,
        "not_found",
    );
    let x = g
        .buyer
        .ok("rental.extend", json!({"id": r["id"], "hours": 3}));
    assert_eq!(x["id"], r["id"]);
    assert_eq!(x["order_id"], r["order_id"]);
    assert_eq!(x["hours"], 5);
    assert_money(&x["amount"], "10");
    assert_eq!(x["ends_at"], "2026-01-01T05:00:00Z");
    assert_balance(&g.buyer, "90");
    assert_eq!(escrow(&g.e), dec("10"));
    let orders = g.buyer.ok("order.list", json!({}));
    assert_eq!(
        ids(&orders),
        vec![str_of(&r["order_id"]).to_string()],
        "one order"
    );
    let order = &orders["items"][0];
    assert_money(&order["total"], "10");
    assert_eq!(order["items"][0]["quantity"], 5);
    assert_money(&order["items"][0]["line_total"], "10");
    // more than the wallet holds: nothing changes
    fails(
        &g.buyer,
        "rental.extend",
        json!({"id": r["id"], "hours": 46}),
        4020,
        "insufficient_funds",
    );
    assert_eq!(g.buyer.ok("rental.get", json!({"id": r["id"]}))["hours"], 5);
    assert_balance(&g.buyer, "90");
    // the extension moved the end: nothing expires at 4 hours, it does at 5
    advance(&g.e, 4 * 3600);
    assert_eq!(g.e.app.expire_rentals().unwrap(), 0);
    advance(&g.e, 3600);
    assert_eq!(g.e.app.expire_rentals().unwrap(), 1);
    assert_balance(&g.owner, "9");
    assert_eq!(revenue(&g.e), dec("1"));
    assert_eq!(escrow(&g.e), dec("0"));
    fails(
        &g.buyer,
        "rental.extend",
        json!({"id": r["id"], "hours": 1}),
        4220,
        "invalid_state",
    );
    verify_ok(&g.admin);
}

#[test]
fn cancel_refunds_the_unused_whole_hours_and_pays_the_rest() {
    let g = grid();
    // 2 units for 5 hours at 2 per unit-hour: 20
    let r = g.buyer.ok(
        "rental.slice",
        json!({"node_id": g.node_id, "units": 2, "hours": 5}),
    );
    assert_balance(&g.buyer, "80");
    advance(&g.e, 5400); // 1.5 hours: 3.5 hours left, 3 of them whole
    let c = g.buyer.ok("rental.cancel", json!({"id": r["id"]}));
    assert_eq!(c["status"], "cancelled");
    assert_money(&c["refunded_amount"], "12");
    assert_eq!(c["ended_at"], "2026-01-01T01:30:00Z");
    assert_balance(&g.buyer, "92");
    // the 2 hours used (8) go to the owner minus 10 %
    assert_balance(&g.owner, "7.2");
    assert_eq!(revenue(&g.e), dec("0.8"));
    assert_eq!(escrow(&g.e), dec("0"));
    assert_eq!(used_units(&g), 0);
    let order = g.buyer.ok("order.get", json!({"id": r["order_id"]}));
    assert_eq!(order["status"], "completed");
    fails(
        &g.buyer,
        "rental.cancel",
        json!({"id": r["id"]}),
        4220,
        "invalid_state",
    );
    // the sweeper leaves a cancelled rental alone
    advance(&g.e, 10 * 3600);
    assert_eq!(g.e.app.expire_rentals().unwrap(), 0);
    assert_balance(&g.owner, "7.2");
    verify_ok(&g.admin);
}

#[test]
fn a_rental_past_its_end_is_expired_by_whoever_looks_first() {
    let g = grid();
    // 1 unit for 2 hours at 2 per unit-hour: 4
    let first = g.buyer.ok(
        "rental.slice",
        json!({"node_id": g.node_id, "units": 1, "hours": 2}),
    );
    let second = g.buyer.ok(
        "rental.slice",
        json!({"node_id": g.node_id, "units": 1, "hours": 2}),
    );
    let third = g.buyer.ok(
        "rental.slice",
        json!({"node_id": g.node_id, "units": 1, "hours": 2}),
    );
    assert_balance(&g.buyer, "88");
    advance(&g.e, 2 * 3600 + 1);
    // the sweeper has not run: extending is refused, and the rental expired
    // with the sweeper's rules (everything paid to the owner, no refund)
    fails(
        &g.buyer,
        "rental.extend",
        json!({"id": first["id"], "hours": 1}),
        4220,
        "invalid_state",
    );
    let r = g.buyer.ok("rental.get", json!({"id": first["id"]}));
    assert_eq!(r["status"], "expired");
    assert_eq!(r["hours"], 2);
    assert!(r["refunded_amount"].is_null(), "{r}");
    assert_balance(&g.buyer, "88");
    assert_balance(&g.owner, "3.6");
    // cancelling refunds nothing once the end has passed
    fails(
        &g.buyer,
        "rental.cancel",
        json!({"id": second["id"]}),
        4220,
        "invalid_state",
    );
    assert_balance(&g.buyer, "88");
    assert_balance(&g.owner, "7.2");
    // a plain look expires it too, with the right status in the answer
    let listed = g.buyer.ok("rental.list", json!({}));
    let third_listed = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == third["id"])
        .unwrap();
    assert_eq!(third_listed["status"], "expired");
    assert_balance(&g.owner, "10.8");
    assert_eq!(used_units(&g), 0);
    assert_eq!(escrow(&g.e), dec("0"));
    // nothing is left for the sweeper
    assert_eq!(g.e.app.expire_rentals().unwrap(), 0);
    verify_ok(&g.admin);
}

#[test]
fn cancelling_at_once_refunds_everything_and_a_stranger_cannot_cancel() {
    let g = grid();
    let r = g.buyer.ok(
        "rental.slice",
        json!({"node_id": g.node_id, "units": 1, "hours": 4}),
    );
    let (stranger, _) = g.e.register("stranger@example.com");
    fails(
        &stranger,
        "rental.cancel",
        json!({"id": r["id"]}),
        4040,
        "not_found",
    );
    // the order of a rental is cancelled through the rental, not the order
    fails(
        &g.buyer,
        "order.cancel",
        json!({"id": r["order_id"]}),
        4220,
        "invalid_state",
    );
    fails(
        &g.owner,
        "order.fulfil",
        json!({"id": r["order_id"]}),
        4220,
        "invalid_state",
    );
    assert_eq!(
        g.buyer
            .ok("order.transitions", json!({"id": r["order_id"]})),
        json!([])
    );
    let c = g.buyer.ok("rental.cancel", json!({"id": r["id"]}));
    assert_money(&c["refunded_amount"], "8");
    assert_balance(&g.buyer, "100");
    assert_balance(&g.owner, "0");
    assert_eq!(revenue(&g.e), dec("0"));
    verify_ok(&g.admin);
}

#[test]
fn a_rental_is_seen_by_its_buyer_the_node_owner_and_admins_only() {
    let g = grid();
    let r = g.buyer.ok(
        "rental.slice",
        json!({"node_id": g.node_id, "units": 1, "hours": 1}),
    );
    for who in [&g.buyer, &g.owner, &g.admin] {
        let got = who.ok("rental.get", json!({"id": r["id"]}));
        assert_eq!(got["id"], r["id"]);
        assert_eq!(got["node_id"], g.node_id.as_str());
    }
    let (stranger, _) = g.e.register("stranger@example.com");
    fails(
        &stranger,
        "rental.get",
        json!({"id": r["id"]}),
        4040,
        "not_found",
    );
    fails(
        &stranger,
        "order.get",
        json!({"id": r["order_id"]}),
        4040,
        "not_found",
    );
    assert_eq!(ids(&g.buyer.ok("rental.list", json!({}))), vec![id_of(&r)]);
    assert!(items(&stranger.ok("rental.list", json!({}))).is_empty());
    // the owner sees the order among their sales
    assert_eq!(
        ids(&g.owner.ok("order.list_sales", json!({}))),
        vec![str_of(&r["order_id"]).to_string()]
    );
}

#[test]
fn slice_assign_attaches_a_workload_with_the_buyers_own_keys() {
    let g = grid();
    let key = g.buyer.ok(
        "sshkey.add",
        json!({"name": "laptop", "public_key": SSH_KEY}),
    );
    assert_eq!(key["is_default"], true);
    let (other, _) = funded(&g.e, &g.admin, "other@example.com", "100");
    let other_key = other.ok("sshkey.add", json!({"name": "mine", "public_key": SSH_KEY}));
    assert_ne!(key["id"], other_key["id"]);
    // renting with someone else's key is refused; without keys takes the default
    fails_on_field(
        &g.buyer,
        "rental.slice",
        json!({"node_id": g.node_id, "units": 1, "hours": 2, "ssh_key_ids": [other_key["id"]]}),
        "ssh_key_ids",
    );
    let r = g.buyer.ok(
        "rental.slice",
        json!({"node_id": g.node_id, "units": 1, "hours": 2}),
    );
    assert_eq!(r["ssh_key_ids"], json!([key["id"]]));
    let a = g.buyer.ok(
        "slice.assign",
        json!({"rental_id": r["id"], "workload": "docker.io/library/nginx:1.27", "ssh_key_ids": [key["id"]]}),
    );
    assert_eq!(a["rental_id"], r["id"]);
    assert_eq!(a["node_id"], g.node_id.as_str());
    assert_eq!(a["workload"], "docker.io/library/nginx:1.27");
    assert_eq!(a["ssh_key_ids"], json!([key["id"]]));
    fails_on_field(
        &g.buyer,
        "slice.assign",
        json!({"rental_id": r["id"], "workload": "w", "ssh_key_ids": [other_key["id"]]}),
        "ssh_key_ids",
    );
    // someone else's rental
    fails(
        &other,
        "slice.assign",
        json!({"rental_id": r["id"], "workload": "w", "ssh_key_ids": [other_key["id"]]}),
        4040,
        "not_found",
    );
    fails(
        &other,
        "slice.unassign",
        json!({"assignment_id": a["id"]}),
        4040,
        "not_found",
    );
    assert_eq!(
        g.buyer
            .ok("slice.unassign", json!({"assignment_id": a["id"]})),
        json!({"ok": true})
    );
    fails(
        &g.buyer,
        "slice.unassign",
        json!({"assignment_id": a["id"]}),
        4040,
        "not_found",
    );
    // an ended rental takes no workload
    g.buyer.ok("rental.cancel", json!({"id": r["id"]}));
    fails(
        &g.buyer,
        "slice.assign",
        json!({"rental_id": r["id"], "workload": "w", "ssh_key_ids": [key["id"]]}),
        4220,
        "invalid_state",
    );
}

#[test]
fn expiry_survives_a_restart() {
    let g = grid();
    let Grid {
        e,
        admin,
        owner,
        node_id,
        buyer,
    } = g;
    let r = buyer.ok(
        "rental.slice",
        json!({"node_id": node_id, "units": 2, "hours": 2}),
    );
    let tokens: Vec<String> = [&admin, &owner, &buyer]
        .iter()
        .map(|c| c.token.clone().expect("a token"))
        .collect();
    drop((admin, owner, buyer));
    advance(&e, 2 * 3600 + 60);
    let e = restart(e, app_config());
    let [admin, owner, buyer] = [0, 1, 2].map(|i| e.with_token(&tokens[i]));
    // nothing ran while the server was down: the sweeper's first run catches up
    assert_eq!(e.app.expire_rentals().unwrap(), 1);
    let ended = buyer.ok("rental.get", json!({"id": r["id"]}));
    assert_eq!(ended["status"], "expired");
    assert_eq!(
        e.anon().ok("node.get", json!({"id": node_id}))["used_units"],
        0
    );
    // 2 units * 2 hours * 2 = 8, minus 10 %
    assert_balance(&owner, "7.2");
    assert_balance(&buyer, "92");
    assert_eq!(escrow(&e), dec("0"));
    verify_ok(&admin);
}

/// A cancelled rental's order is `completed` and so open to an admin refund.
/// The buyer already got the unused hours back; the refund must take back
/// only what was released (the owner's net and the commission), not the
/// whole original charge.
#[test]
fn refunding_a_cancelled_rentals_order_returns_only_what_was_paid_out() {
    let g = grid();
    let owner_id = id_of(&g.owner.ok("auth.me", json!({})));
    grant(&g.admin, &owner_id, "100");
    // other sales leave the platform 10 TFC of commission, so neither the
    // owner's wallet nor revenue limits what the refund can take back
    let (apps, _, _) = provider(&g.e, "apps@example.com", "app");
    let (other, _) = funded(&g.e, &g.admin, "other@example.com", "100");
    let app = product(&apps, "app", "Wiki", "100", json!({}));
    let sale = other.ok(
        "order.buy_now",
        json!({"product_id": app["id"], "quantity": 1}),
    );
    apps.ok("order.fulfil", json!({"id": sale["id"]}));
    assert_eq!(revenue(&g.e), dec("10"));
    let r = g.buyer.ok(
        "rental.slice",
        json!({"node_id": g.node_id, "units": 2, "hours": 5}),
    );
    advance(&g.e, 5400);
    g.buyer.ok("rental.cancel", json!({"id": r["id"]}));
    assert_balance(&g.buyer, "92");
    assert_balance(&g.owner, "107.2");
    assert_eq!(revenue(&g.e), dec("10.8"));
    assert_eq!(
        g.admin
            .ok("order.transitions", json!({"id": r["order_id"]})),
        json!(["refunded"])
    );
    let refunded = g.admin.ok("order.refund", json!({"id": r["order_id"]}));
    assert_eq!(refunded["status"], "refunded");
    // the buyer is made whole: 100, not 100 + the 12 already refunded
    assert_balance(&g.buyer, "100");
    assert_balance(&g.owner, "100");
    assert_eq!(revenue(&g.e), dec("10"));
    verify_ok(&g.admin);
}

#[test]
fn rental_params_break_schema_rules_as_invalid_input() {
    let g = grid();
    for (params, field) in [
        (
            json!({"node_id": g.node_id, "units": 0, "hours": 1}),
            "units",
        ),
        (
            json!({"node_id": g.node_id, "units": 1, "hours": 0}),
            "hours",
        ),
        (
            json!({"node_id": g.node_id, "units": 1, "hours": 8761}),
            "hours",
        ),
    ] {
        fails_on_field(&g.buyer, "rental.slice", params, field);
    }
    fails_on_field(
        &g.buyer,
        "rental.node",
        json!({"node_id": g.node_id, "hours": 0}),
        "hours",
    );
    invalid_params(
        &g.buyer,
        "rental.slice",
        json!({"node_id": g.node_id, "units": 1}),
    );
    invalid_params(
        &g.buyer,
        "rental.slice",
        json!({"node_id": g.node_id, "units": "two", "hours": 1}),
    );
    fails(
        &g.e.anon(),
        "rental.slice",
        json!({"node_id": g.node_id, "units": 1, "hours": 1}),
        4010,
        "unauthenticated",
    );
    let r = g.buyer.ok(
        "rental.slice",
        json!({"node_id": g.node_id, "units": 1, "hours": 1}),
    );
    fails_on_field(
        &g.buyer,
        "rental.extend",
        json!({"id": r["id"], "hours": 0}),
        "hours",
    );
    assert_eq!(used_units(&g), 1);
    assert_balance(&g.buyer, "98");
}

#[test]
fn unit_hours_beyond_an_order_line_are_invalid_input() {
    let e = start();
    let (admin, _) = e.admin();
    let (owner, _, _) = provider(&e, "huge@example.com", "resource");
    let big = node(&owner, "huge", 500_000, 2_000_000, 100_000_000, "1");
    let (buyer, _) = funded(&e, &admin, "whale@example.com", "100000");
    let (code, kind) = buyer.err("rental.node", json!({"node_id": big["id"], "hours": 8760}));
    assert_eq!((code, kind.as_str()), (4000, "invalid_input"));
    assert_balance(&buyer, "100000");
}
