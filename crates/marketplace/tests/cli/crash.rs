//! SIGKILL under load on the embedded database: transfers and orders run
//! from four clients while the server is killed without warning, again and
//! again. After each restart every write the server acknowledged is there,
//! and the ledger balances; at the end the product's stock and its orders
//! add up; with quick repair (the default) and without it.
//! `MARKETPLACE_CRASH_KILLS` sets the number of kills of each (3 by
//! default; `make crash-test` runs 100).

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use market_testkit::Client;
use serde_json::{Value, json};

use super::server::{ADMIN, ADMIN_PASSWORD, Server, login, register, verify};

const CLIENTS: usize = 4;
const STOCK: u64 = 1_000_000;

fn kills() -> usize {
    std::env::var("MARKETPLACE_CRASH_KILLS")
        .ok()
        .map(|v| v.parse().expect("MARKETPLACE_CRASH_KILLS: a number"))
        .unwrap_or(3)
}

/// One call to a server that may die meanwhile: `None` when no answer came.
fn attempt(url: &str, token: &str, method: &str, params: Value) -> Option<Value> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    let mut reply = agent
        .post(url)
        .header("Content-Type", "application/json")
        .header("Authorization", &format!("Bearer {token}"))
        .send(body.to_string())
        .ok()?;
    serde_json::from_str(&reply.body_mut().read_to_string().ok()?).ok()
}

/// What the server acknowledged: `(client, id)` of transfers and orders.
#[derive(Default)]
struct Acked {
    transfers: Vec<(usize, String)>,
    orders: Vec<(usize, String)>,
}

/// Every item of a paged list method, newest first, until `enough` says so.
fn pages(c: &Client, method: &str, mut enough: impl FnMut(&[Value]) -> bool) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut params = json!({"limit": 500});
        if let Some(c) = &cursor {
            params["cursor"] = json!(c);
        }
        let page = c.ok(method, params);
        out.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) if !enough(&out) => cursor = Some(next.to_string()),
            _ => return out,
        }
    }
}

/// Check that every acknowledged write in `acked` is stored, through `server`.
fn assert_kept(server: &Server, tokens: &[String], acked: &Acked) {
    for (n, token) in tokens.iter().enumerate() {
        let c = server.client().with_token(token);
        let wanted: HashSet<&str> = acked
            .transfers
            .iter()
            .filter(|(from, _)| *from == n)
            .map(|(_, id)| id.as_str())
            .collect();
        // newest first: stop once every wanted transfer has shown up
        let entries = pages(&c, "wallet.history", |items| {
            let seen: HashSet<&str> = items
                .iter()
                .filter_map(|e| e["transfer_id"].as_str())
                .collect();
            wanted.is_subset(&seen)
        });
        let seen: HashSet<&str> = entries
            .iter()
            .filter_map(|e| e["transfer_id"].as_str())
            .collect();
        for id in &wanted {
            assert!(seen.contains(id), "acknowledged transfer {id} is lost");
        }
        for (_, id) in acked.orders.iter().filter(|(buyer, _)| *buyer == n) {
            let order = c.ok("order.get", json!({"id": id}));
            assert_eq!(order["status"], "paid", "acknowledged order {id}: {order}");
        }
    }
}

#[test]
fn sigkill_under_load_loses_no_acknowledged_write() {
    sigkill_under_load(&[]);
}

/// Without quick repair a checkpoint syncs once, and each start after a
/// kill checks the whole file first, then applies the redo log: nothing
/// acknowledged may be missing either.
#[test]
fn sigkill_without_quick_repair_loses_no_acknowledged_write() {
    sigkill_under_load(&[("MARKETPLACE_QUICK_REPAIR", "0")]);
}

fn sigkill_under_load(settings: &[(&str, &str)]) {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("redb://{}", dir.path().join("market.redb").display());
    let mut server = Server::start_with(&db, settings);
    let admin = login(&server.client(), ADMIN, ADMIN_PASSWORD);
    let users: Vec<(Client, String)> = (0..CLIENTS)
        .map(|n| register(&server.client(), &format!("payer{n}@example.com")))
        .collect();
    for (_, id) in &users {
        admin.ok(
            "wallet.grant",
            json!({"user_id": id, "amount": "1000000", "reason": "test"}),
        );
    }
    let tokens: Vec<String> = users
        .iter()
        .map(|(c, _)| c.token.clone().unwrap())
        .collect();
    let (seller, _) = register(&server.client(), "seller@example.com");
    seller.ok(
        "provider.register",
        json!({"kind": "app", "name": "apps", "description": "apps"}),
    );
    let product = seller.ok(
        "product.create",
        json!({"category": "app", "name": "Crash-proof app", "description": "sold under fire",
               "price": "1", "pricing_unit": "one_time", "stock": STOCK}),
    )["id"]
        .as_str()
        .unwrap()
        .to_string();

    let mut all = Acked::default();
    for cycle in 0..kills() {
        let url = format!("{}/rpc", server.base);
        let acked = Mutex::new(Acked::default());
        std::thread::scope(|s| {
            for (n, token) in tokens.iter().enumerate() {
                let (url, acked, product) = (&url, &acked, &product);
                s.spawn(move || {
                    let to = format!("payer{}@example.com", (n + 1) % CLIENTS);
                    for i in 0.. {
                        let (method, params) = if i % 2 == 0 {
                            ("wallet.transfer", json!({"to_email": to, "amount": "0.01"}))
                        } else {
                            (
                                "order.buy_now",
                                json!({"product_id": product, "quantity": 1}),
                            )
                        };
                        // no answer: the server is dead
                        let Some(reply) = attempt(url, token, method, params) else {
                            return;
                        };
                        let Some(id) = reply["result"]["id"].as_str() else {
                            panic!("{method} failed: {reply}");
                        };
                        let mut acked = acked.lock().unwrap();
                        let list = if i % 2 == 0 {
                            &mut acked.transfers
                        } else {
                            &mut acked.orders
                        };
                        list.push((n, id.to_string()));
                    }
                });
            }
            // once the load is under way, at a different moment each time
            let deadline = Instant::now() + Duration::from_secs(60);
            while {
                let acked = acked.lock().unwrap();
                acked.transfers.is_empty() || acked.orders.is_empty()
            } {
                assert!(Instant::now() < deadline, "no write went through");
                std::thread::sleep(Duration::from_millis(10));
            }
            std::thread::sleep(Duration::from_millis(50 + (cycle as u64 * 97) % 500));
            server.kill();
        });
        let acked = acked.into_inner().unwrap();
        eprintln!(
            "kill {}: {} transfers and {} orders acknowledged before it",
            cycle + 1,
            acked.transfers.len(),
            acked.orders.len()
        );
        server = Server::start_with(&db, settings);
        assert_kept(&server, &tokens, &acked);
        verify(&login(&server.client(), ADMIN, ADMIN_PASSWORD));
        all.transfers.extend(acked.transfers);
        all.orders.extend(acked.orders);
    }
    // Everything acknowledged over all the kills, and stock and orders add
    // up: every unit that left the stock is in exactly one stored order.
    assert_kept(&server, &tokens, &all);
    let mut sold = 0;
    for token in &tokens {
        let c = server.client().with_token(token);
        let orders = pages(&c, "order.list", |_| false);
        let ids: HashSet<&str> = orders.iter().filter_map(|o| o["id"].as_str()).collect();
        assert_eq!(ids.len(), orders.len(), "an order listed twice");
        sold += orders.len() as u64;
    }
    let left = server.client().ok("product.get", json!({"id": product}))["stock"]
        .as_u64()
        .unwrap();
    assert_eq!(left + sold, STOCK, "{sold} orders, {left} left in stock");
    assert!(sold >= all.orders.len() as u64);
}
