//! Commerce helpers on top of the shared support: providers, nodes and
//! products in one call, the platform's system accounts, restarts on the
//! same database.

use std::path::PathBuf;
use std::sync::Arc;

use market_core::{AccountKind, AppConfig, ledger};
use market_store::ManualClock;
use market_testkit::Client;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use tempfile::TempDir;

use crate::support::*;

/// An SSH key (the same one `support::ED25519` holds; the brief names it).
pub const SSH_KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl test";

/// A registered user who also became a provider of `kind`: the client, the
/// user and the provider profile.
pub fn provider(e: &Env, email: &str, kind: &str) -> (Client, Value, Value) {
    let (c, user) = e.register(email);
    let profile = c.ok(
        "provider.register",
        json!({"kind": kind, "name": format!("{kind} by {email}"), "description": "we deliver"}),
    );
    (c, user, profile)
}

/// A registered customer holding `amount` TFC granted by `admin`.
pub fn funded(e: &Env, admin: &Client, email: &str, amount: &str) -> (Client, Value) {
    let (c, user) = e.register(email);
    grant(admin, &id_of(&user), amount);
    (c, user)
}

/// Register a node in `BE`, Ghent.
pub fn node(
    c: &Client,
    name: &str,
    cpu: u32,
    memory_gb: u32,
    storage_gb: u32,
    price: &str,
) -> Value {
    c.ok(
        "node.register",
        json!({
            "name": name,
            "location": {"country": "BE", "city": "Ghent"},
            "capacity": {"cpu_cores": cpu, "memory_gb": memory_gb, "storage_gb": storage_gb},
            "price_per_hour": price,
        }),
    )
}

/// A node of 8 vCPU / 32 GB / 1000 GB: 5 slice units.
pub fn node5(c: &Client, price: &str) -> Value {
    node(c, "ghent-1", 8, 32, 1000, price)
}

/// `product.create` with the required fields plus `extra`.
pub fn product(c: &Client, category: &str, name: &str, price: &str, extra: Value) -> Value {
    let mut params = json!({
        "category": category,
        "name": name,
        "description": format!("{name}: a fine {category}"),
        "price": price,
        "pricing_unit": "one_time",
    });
    if let (Some(p), Some(x)) = (params.as_object_mut(), extra.as_object()) {
        for (k, v) in x {
            p.insert(k.clone(), v.clone());
        }
    }
    c.ok("product.create", params)
}

/// The balance of one of the platform's system accounts, read from the store.
pub fn system_balance(e: &Env, kind: AccountKind) -> Decimal {
    e.db.read(|tx| ledger::system_account(tx, kind))
        .expect("system account")
        .balance
}

pub fn escrow(e: &Env) -> Decimal {
    system_balance(e, AccountKind::Escrow)
}

pub fn revenue(e: &Env) -> Decimal {
    system_balance(e, AccountKind::Revenue)
}

pub fn issuance(e: &Env) -> Decimal {
    system_balance(e, AccountKind::Issuance)
}

/// Assert a money value of a reply equals `expected` (compared as decimals,
/// so "988" and "988.000000" are the same amount; the value must be a string).
#[track_caller]
pub fn assert_money(v: &Value, expected: &str) {
    assert_eq!(
        dec_of(v),
        dec(expected),
        "money: got {v}, expected {expected}"
    );
}

/// Assert the caller's wallet balance, as the exact string `wallet.get`
/// returns (balances come back normalised: "988", "10.8", "878.000015").
#[track_caller]
pub fn assert_balance(c: &Client, expected: &str) {
    let w = c.ok("wallet.get", json!({}));
    assert_eq!(w["balance"], expected, "balance: {w}");
}

/// The items of a list reply.
pub fn items(page: &Value) -> Vec<Value> {
    page["items"]
        .as_array()
        .unwrap_or_else(|| panic!("not a page: {page}"))
        .clone()
}

/// The ids of the items of a list reply, in order.
pub fn ids(page: &Value) -> Vec<String> {
    items(page).iter().map(id_of).collect()
}

/// Follow `next_cursor` from the first page of `method` until it ends; every
/// item in order.
pub fn all_pages(c: &Client, method: &str, params: Value) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..1000 {
        let mut p = params.clone();
        if let Some(cur) = &cursor {
            p["cursor"] = json!(cur);
        }
        let page = c.ok(method, p);
        out.extend(items(&page));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => return out,
        }
    }
    panic!("{method}: more than 1000 pages");
}

/// Move the server's clock forward.
pub fn advance(e: &Env, secs: i64) {
    e.clock.advance_seconds(secs);
}

/// Stop the server, close the database, and start a new server and business
/// layer on the same database file with the same clock.
pub fn restart(e: Env, config: AppConfig) -> Env {
    let clock = e.clock.clone();
    let (db_path, dir) = e.shutdown();
    reopen(db_path, dir, clock, config)
}

/// A new server and business layer on an existing database file.
pub fn reopen(db_path: PathBuf, dir: TempDir, clock: Arc<ManualClock>, config: AppConfig) -> Env {
    open_at(db_path, dir, clock, config, server_config())
}

/// `ledger.verify` passes and its total equals the sum of `wallets`.
#[track_caller]
pub fn verify_total(admin: &Client, wallets: &[&Client]) -> Value {
    let v = verify_ok(admin);
    let sum: Decimal = wallets.iter().map(|c| balance(c)).sum();
    assert_eq!(dec_of(&v["total"]), sum, "ledger total vs wallets: {v}");
    v
}

/// A well-formed id no object has.
pub const UNKNOWN_ID: &str = "01JAAAAAAAAAAAAAAAAAAAAAAA";
