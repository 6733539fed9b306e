//! Parallel buyers against one server: no over-booked node, no oversold stock.

use std::sync::Barrier;

use market_testkit::Client;
use serde_json::{Value, json};

use super::helpers::*;
use crate::support::*;

/// `n` users registered in parallel, each granted `amount`.
fn buyers(e: &Env, admin: &Client, n: usize, amount: &str) -> Vec<Client> {
    let users: Vec<(Client, Value)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..n)
            .map(|i| s.spawn(move || e.register(&format!("buyer{i}@example.com"))))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    users
        .into_iter()
        .map(|(c, u)| {
            grant(admin, &id_of(&u), amount);
            c
        })
        .collect()
}

/// Run `call` for every client at the same moment; each outcome.
fn all_at_once(
    clients: &[Client],
    call: impl Fn(&Client) -> Result<Value, Value> + Sync,
) -> Vec<Result<Value, Value>> {
    let barrier = Barrier::new(clients.len());
    std::thread::scope(|s| {
        let handles: Vec<_> = clients
            .iter()
            .map(|c| {
                let (barrier, call) = (&barrier, &call);
                s.spawn(move || {
                    barrier.wait();
                    call(c)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

#[test]
fn twelve_parallel_renters_never_overbook_a_five_unit_node() {
    let e = start();
    let (admin, _) = e.admin();
    let (owner, _, _) = provider(&e, "owner@example.com", "resource");
    let node_id = id_of(&node5(&owner, "10"));
    let clients = buyers(&e, &admin, 12, "10");
    let outcomes = all_at_once(&clients, |c| {
        c.call(
            "rental.slice",
            json!({"node_id": node_id, "units": 1, "hours": 1}),
        )
    });
    let won = outcomes.iter().filter(|o| o.is_ok()).count();
    assert_eq!(won, 5, "{outcomes:?}");
    for err in outcomes.iter().filter_map(|o| o.as_ref().err()) {
        assert_eq!(err["code"], 4090, "{err}");
        assert_eq!(err["data"]["kind"], "conflict", "{err}");
    }
    let n = e.anon().ok("node.get", json!({"id": node_id}));
    assert_eq!(n["used_units"], 5);
    // the winners paid 2 each, the others nothing
    let mut paid = 0;
    for (c, o) in clients.iter().zip(&outcomes) {
        let expected = if o.is_ok() { "8" } else { "10" };
        assert_balance(c, expected);
        paid += items(&c.ok("rental.list", json!({}))).len();
    }
    assert_eq!(paid, 5);
    assert_eq!(escrow(&e), dec("10"));
    assert_eq!(items(&owner.ok("order.list_sales", json!({}))).len(), 5);
    let v = verify_ok(&admin);
    assert_money(&v["total"], "110");
}

#[test]
fn ten_parallel_buyers_never_oversell_a_stock_of_three() {
    let e = start();
    let (admin, _) = e.admin();
    let (seller, _, _) = provider(&e, "seller@example.com", "app");
    let p = product(&seller, "app", "Limited app", "7", json!({"stock": 3}));
    let clients = buyers(&e, &admin, 10, "10");
    let outcomes = all_at_once(&clients, |c| {
        c.call(
            "order.buy_now",
            json!({"product_id": p["id"], "quantity": 1}),
        )
    });
    let orders: Vec<&Value> = outcomes.iter().filter_map(|o| o.as_ref().ok()).collect();
    assert_eq!(orders.len(), 3, "{outcomes:?}");
    assert!(orders.iter().all(|o| o["status"] == "paid"));
    for err in outcomes.iter().filter_map(|o| o.as_ref().err()) {
        assert_eq!(err["code"], 4090, "{err}");
        assert_eq!(err["data"]["kind"], "conflict", "{err}");
    }
    assert_eq!(
        e.anon().ok("product.get", json!({"id": p["id"]}))["stock"],
        0
    );
    assert_eq!(items(&seller.ok("order.list_sales", json!({}))).len(), 3);
    assert_eq!(items(&seller.ok("deployment.list", json!({}))).len(), 3);
    assert_eq!(escrow(&e), dec("21"));
    let v = verify_ok(&admin);
    assert_money(&v["total"], "79");
}
