//! `wallet.*`, `ledger.verify` and `system.config`: the TFC ledger as a
//! frontend sees it.

use market_core::AppConfig;
use serde_json::{Value, json};

use crate::support::*;

#[test]
fn a_new_wallet_is_empty_and_in_tfc() {
    let e = start();
    let (c, _) = e.register("w@example.com");
    let w = c.ok("wallet.get", json!({}));
    assert_eq!(w["balance"], "0");
    assert_eq!(w["currency"], "TFC");
    assert_eq!(dec_of(&w["usd_value"]), dec("0"));
    assert_eq!(
        c.ok("wallet.history", json!({})),
        json!({"items": [], "next_cursor": null})
    );
}

#[test]
fn topup_credits_the_wallet_when_test_payments_are_on() {
    let e = start();
    let (c, user) = e.register("t@example.com");
    let t = c.ok("wallet.topup", json!({"amount": "12.5"}));
    assert_eq!(t["kind"], "topup");
    assert_eq!(dec_of(&t["amount"]), dec("12.5"));
    assert_eq!(t["reference"], format!("user:{}", id_of(&user)));
    c.ok("wallet.topup", json!({"amount": "0.000001"}));
    assert_eq!(balance(&c), dec("12.500001"));
    let h = history(&c);
    assert_eq!(h.len(), 2);
    assert_eq!(h[1]["kind"], "topup");
    assert_eq!(dec_of(&h[1]["balance_after"]), dec("12.5"));
    assert_eq!(dec_of(&h[0]["balance_after"]), dec("12.500001"));
}

#[test]
fn topup_is_forbidden_without_test_payments() {
    let e = start_with(AppConfig::default(), server_config());
    let (c, _) = e.register("t@example.com");
    fails(
        &c,
        "wallet.topup",
        json!({"amount": "10"}),
        4030,
        "forbidden",
    );
    assert_eq!(balance(&c), dec("0"));
    assert!(history(&c).is_empty());
    assert_eq!(
        e.anon().ok("system.config", json!({}))["test_payments"],
        false
    );
}

#[test]
fn admins_grant_credits_to_a_user() {
    let e = start();
    let (admin, admin_user) = e.admin();
    let (c, user) = e.register("g@example.com");
    let t = admin.ok(
        "wallet.grant",
        json!({"user_id": id_of(&user), "amount": "250.75", "reason": "welcome bonus"}),
    );
    assert_eq!(t["kind"], "grant");
    assert_eq!(dec_of(&t["amount"]), dec("250.75"));
    assert_eq!(t["memo"], "welcome bonus");
    assert_eq!(t["reference"], format!("user:{}", id_of(&admin_user)));
    assert_eq!(balance(&c), dec("250.75"));
    // the admin's own wallet is untouched: credits come from issuance
    assert_eq!(balance(&admin), dec("0"));
    let h = history(&c);
    assert_eq!(h.len(), 1);
    assert_eq!(h[0]["kind"], "grant");
    assert_eq!(h[0]["transfer_id"], t["id"]);
    assert_eq!(h[0]["memo"], "welcome bonus");
    fails(
        &admin,
        "wallet.grant",
        json!({"user_id": "01ARZ3NDEKTSV4RRFFQ69G5FAV", "amount": "1", "reason": "x"}),
        4040,
        "not_found",
    );
    fails_on_field(
        &admin,
        "wallet.grant",
        json!({"user_id": id_of(&user), "amount": "1", "reason": ""}),
        "reason",
    );
    invalid_params(
        &admin,
        "wallet.grant",
        json!({"user_id": id_of(&user), "amount": "1"}),
    );
    assert_eq!(balance(&c), dec("250.75"));
}

#[test]
fn transfer_moves_exact_amounts_between_two_wallets() {
    let e = start();
    let (admin, _) = e.admin();
    let (alice, alice_user) = e.register("alice@example.com");
    let (bob, bob_user) = e.register("bob@example.com");
    grant(&admin, &id_of(&alice_user), "100");
    let t = alice.ok(
        "wallet.transfer",
        json!({"to_email": "bob@example.com", "amount": "33.333333", "memo": "rent"}),
    );
    assert_eq!(t["kind"], "transfer");
    assert_eq!(dec_of(&t["amount"]), dec("33.333333"));
    assert_eq!(t["memo"], "rent");
    assert_eq!(t["reference"], format!("user:{}", id_of(&bob_user)));
    assert_eq!(balance(&alice), dec("66.666667"));
    assert_eq!(balance(&bob), dec("33.333333"));
    // the recipient's email matches ignoring case; the memo is optional
    alice.ok(
        "wallet.transfer",
        json!({"to_email": "BOB@example.com", "amount": "0.666667"}),
    );
    assert_eq!(balance(&alice), dec("66"));
    assert_eq!(balance(&bob), dec("34"));
    let v = verify_ok(&admin);
    assert_eq!(dec_of(&v["total"]), dec("100"));
}

#[test]
fn transfer_refuses_unknown_recipients_and_oneself() {
    let e = start();
    let (admin, _) = e.admin();
    let (alice, alice_user) = e.register("alice@example.com");
    grant(&admin, &id_of(&alice_user), "10");
    fails(
        &alice,
        "wallet.transfer",
        json!({"to_email": "nobody@example.com", "amount": "1"}),
        4040,
        "not_found",
    );
    // oneself comes before the funds
    for (me, amount) in [
        ("alice@example.com", "1"),
        ("Alice@Example.com", "1"),
        ("alice@example.com", "100"),
    ] {
        fails(
            &alice,
            "wallet.transfer",
            json!({"to_email": me, "amount": amount}),
            4000,
            "invalid_input",
        );
    }
    assert_eq!(balance(&alice), dec("10"));
    assert_eq!(history(&alice).len(), 1);
}

#[test]
fn transfer_over_the_balance_is_insufficient_funds_and_moves_nothing() {
    let e = start();
    let (admin, _) = e.admin();
    let (alice, alice_user) = e.register("alice@example.com");
    let (bob, _) = e.register("bob@example.com");
    grant(&admin, &id_of(&alice_user), "10");
    let before = verify_ok(&admin);
    let err = fails(
        &alice,
        "wallet.transfer",
        json!({"to_email": "bob@example.com", "amount": "10.000001"}),
        4020,
        "insufficient_funds",
    );
    assert_eq!(dec_of(&err["data"]["needed"]), dec("10.000001"));
    assert_eq!(dec_of(&err["data"]["available"]), dec("10"));
    assert_eq!(balance(&alice), dec("10"));
    assert_eq!(balance(&bob), dec("0"));
    assert_eq!(history(&alice).len(), 1);
    assert!(history(&bob).is_empty());
    let after = verify_ok(&admin);
    assert_eq!(after["transfers"], before["transfers"]);
    assert_eq!(after["total"], before["total"]);
    // the whole balance may go
    alice.ok(
        "wallet.transfer",
        json!({"to_email": "bob@example.com", "amount": "10"}),
    );
    assert_eq!(balance(&alice), dec("0"));
    assert_eq!(balance(&bob), dec("10"));
    fails(
        &alice,
        "wallet.transfer",
        json!({"to_email": "bob@example.com", "amount": "0.000001"}),
        4020,
        "insufficient_funds",
    );
}

#[test]
fn amounts_must_be_positive_with_at_most_six_places() {
    let e = start();
    let (admin, _) = e.admin();
    let (c, user) = e.register("amt@example.com");
    e.register("to@example.com");
    grant(&admin, &id_of(&user), "100");
    let uid = id_of(&user);
    for bad in ["0", "-1", "1.1234567", "0.0000001", "abc", ""] {
        fails_on_field(
            &c,
            "wallet.transfer",
            json!({"to_email": "to@example.com", "amount": bad}),
            "amount",
        );
        fails_on_field(&c, "wallet.topup", json!({"amount": bad}), "amount");
        fails_on_field(
            &admin,
            "wallet.grant",
            json!({"user_id": uid, "amount": bad, "reason": "r"}),
            "amount",
        );
    }
    // a JSON number is the wrong type: money is a decimal string
    for number in [json!(5), json!(1.5)] {
        invalid_params(
            &c,
            "wallet.transfer",
            json!({"to_email": "to@example.com", "amount": number}),
        );
        invalid_params(&c, "wallet.topup", json!({"amount": number}));
        invalid_params(
            &admin,
            "wallet.grant",
            json!({"user_id": uid, "amount": number, "reason": "r"}),
        );
    }
    // trailing zeros within six places are fine
    c.ok(
        "wallet.transfer",
        json!({"to_email": "to@example.com", "amount": "1.500000"}),
    );
    assert_eq!(balance(&c), dec("98.5"));
    assert_eq!(balance(&admin), dec("0"));
    let v = verify_ok(&admin);
    assert_eq!(v["transfers"], 2);
}

#[test]
fn history_lists_signed_entries_newest_first_with_running_balances() {
    let e = start();
    let (admin, admin_user) = e.admin();
    let (alice, alice_user) = e.register("alice@example.com");
    let (bob, bob_user) = e.register("bob@example.com");
    grant(&admin, &id_of(&alice_user), "100");
    alice.ok("wallet.topup", json!({"amount": "5.5"}));
    alice.ok(
        "wallet.transfer",
        json!({"to_email": "bob@example.com", "amount": "30", "memo": "dinner"}),
    );
    grant(&admin, &id_of(&bob_user), "1");
    bob.ok(
        "wallet.transfer",
        json!({"to_email": "alice@example.com", "amount": "2.25"}),
    );
    let rows = |h: Vec<Value>| -> Vec<(String, rust_decimal::Decimal, rust_decimal::Decimal)> {
        h.iter()
            .map(|x| {
                (
                    str_of(&x["kind"]).to_string(),
                    dec_of(&x["amount"]),
                    dec_of(&x["balance_after"]),
                )
            })
            .collect()
    };
    let ha = history(&alice);
    assert_eq!(
        rows(ha.clone()),
        [
            ("transfer_in".into(), dec("2.25"), dec("77.75")),
            ("transfer_out".into(), dec("-30"), dec("75.5")),
            ("topup".into(), dec("5.5"), dec("105.5")),
            ("grant".into(), dec("100"), dec("100")),
        ]
    );
    assert_eq!(ha[1]["reference"], format!("user:{}", id_of(&bob_user)));
    assert_eq!(ha[1]["memo"], "dinner");
    assert_eq!(ha[3]["reference"], format!("user:{}", id_of(&admin_user)));
    for entry in &ha {
        for field in [
            "id",
            "amount",
            "kind",
            "reference",
            "balance_after",
            "created_at",
        ] {
            assert!(entry.get(field).is_some(), "{field} missing in {entry}");
        }
    }
    assert_eq!(
        rows(history(&bob)),
        [
            ("transfer_out".into(), dec("-2.25"), dec("28.75")),
            ("grant".into(), dec("1"), dec("31")),
            ("transfer_in".into(), dec("30"), dec("30")),
        ]
    );
    // pages of two, newest first, then the rest
    let first = alice.ok("wallet.history", json!({"limit": 2}));
    assert_eq!(first["items"], json!(ha[..2]));
    let second = alice.ok(
        "wallet.history",
        json!({"limit": 2, "cursor": first["next_cursor"]}),
    );
    assert_eq!(second["items"], json!(ha[2..]));
    assert!(second["next_cursor"].is_null());
    assert_eq!(balance(&alice), dec("77.75"));
    assert_eq!(balance(&bob), dec("28.75"));
}

#[test]
fn system_config_describes_the_currency() {
    let e = start();
    let cfg = e.anon().ok("system.config", json!({}));
    assert_eq!(cfg["currency"]["code"], "TFC");
    assert_eq!(cfg["currency"]["name"], "ThreeFold Credits");
    assert!(!str_of(&cfg["currency"]["symbol"]).is_empty());
    assert_eq!(dec_of(&cfg["currency"]["usd_rate"]), dec("1"));
    assert_eq!(dec_of(&cfg["commission_percent"]), dec("10"));
    assert_eq!(cfg["test_payments"], true);
    let mut keys: Vec<&String> = cfg.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(keys, ["commission_percent", "currency", "test_payments"]);
}

#[test]
fn usd_value_follows_the_configured_rate() {
    let e = start();
    let (admin, _) = e.admin();
    let (c, user) = e.register("usd@example.com");
    grant(&admin, &id_of(&user), "10");
    assert_eq!(
        dec_of(&c.ok("wallet.get", json!({}))["usd_value"]),
        dec("10")
    );
    let cfg = admin.ok(
        "system.set_config",
        json!({"usd_rate": "0.5", "commission_percent": "12.5"}),
    );
    assert_eq!(dec_of(&cfg["currency"]["usd_rate"]), dec("0.5"));
    assert_eq!(dec_of(&cfg["commission_percent"]), dec("12.5"));
    assert_eq!(e.anon().ok("system.config", json!({})), cfg);
    let w = c.ok("wallet.get", json!({}));
    assert_eq!(dec_of(&w["balance"]), dec("10"));
    assert_eq!(dec_of(&w["usd_value"]), dec("5"));
    // setting only one value leaves the other
    let cfg = admin.ok("system.set_config", json!({"usd_rate": "0.333333"}));
    assert_eq!(dec_of(&cfg["commission_percent"]), dec("12.5"));
    assert_eq!(
        dec_of(&c.ok("wallet.get", json!({}))["usd_value"]),
        dec("3.33333")
    );
    fails_on_field(
        &admin,
        "system.set_config",
        json!({"usd_rate": "0"}),
        "usd_rate",
    );
    fails_on_field(
        &admin,
        "system.set_config",
        json!({"commission_percent": "101"}),
        "commission_percent",
    );
    assert_eq!(
        dec_of(&e.anon().ok("system.config", json!({}))["currency"]["usd_rate"]),
        dec("0.333333")
    );
}

#[test]
fn ledger_verify_counts_accounts_and_transfers_and_sums_user_wallets() {
    let e = start();
    let (admin, _) = e.admin();
    // the issuance, escrow and revenue accounts, and the admin's wallet
    let v = verify_ok(&admin);
    assert_eq!(v["accounts"], 4);
    assert_eq!(v["transfers"], 0);
    assert_eq!(dec_of(&v["total"]), dec("0"));
    let (alice, alice_user) = e.register("alice@example.com");
    let (bob, _) = e.register("bob@example.com");
    grant(&admin, &id_of(&alice_user), "100");
    alice.ok(
        "wallet.transfer",
        json!({"to_email": "bob@example.com", "amount": "30"}),
    );
    bob.ok("wallet.topup", json!({"amount": "5.25"}));
    let v = verify_ok(&admin);
    assert_eq!(v["accounts"], 6);
    assert_eq!(v["transfers"], 3);
    assert_eq!(dec_of(&v["total"]), dec("105.25"));
    assert_eq!(balance(&alice) + balance(&bob), dec("105.25"));
}

#[test]
fn concurrent_transfers_never_overdraw_a_wallet() {
    let e = start();
    let (admin, _) = e.admin();
    let (sender, sender_user) = e.register("sender@example.com");
    let recipients: Vec<_> = (0..4)
        .map(|i| e.register(&format!("r{i}@example.com")).0)
        .collect();
    grant(&admin, &id_of(&sender_user), "100");
    let outcomes: Vec<Result<Value, Value>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..40)
            .map(|i| {
                let sender = sender.clone();
                s.spawn(move || {
                    sender.call(
                        "wallet.transfer",
                        json!({"to_email": format!("r{}@example.com", i % 4), "amount": "7"}),
                    )
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let ok = outcomes.iter().filter(|o| o.is_ok()).count();
    assert_eq!(ok, 14, "floor(100 / 7) transfers fit");
    for failed in outcomes.iter().filter_map(|o| o.as_ref().err()) {
        assert_eq!(failed["code"], 4020, "{failed}");
        assert_eq!(failed["data"]["kind"], "insufficient_funds");
    }
    assert_eq!(sender.ok("wallet.get", json!({}))["balance"], "2");
    let received: rust_decimal::Decimal = recipients.iter().map(balance).sum();
    assert_eq!(received, dec("98"));
    assert_eq!(history(&sender).len(), 15);
    let v = verify_ok(&admin);
    assert_eq!(v["transfers"], 15);
    assert_eq!(dec_of(&v["total"]), dec("100"));
}

/// What one transfer writes on the embedded database: its rows (table
/// entries put or deleted; a key written twice counts once) and its audit
/// entries. A guard against write amplification creeping back.
#[test]
fn a_transfer_writes_its_rows_and_five_audit_entries() {
    let e = start();
    let (admin, _) = e.admin();
    let (alice, alice_user) = e.register("alice@example.com");
    e.register("bob@example.com");
    grant(&admin, &id_of(&alice_user), "10");
    let alice_id = id_of(&alice_user);
    let audits = || {
        let page = admin.ok("admin.audit", json!({"actor_id": alice_id, "limit": 100}));
        page["items"].as_array().map_or(0, Vec::len)
    };
    let (stats, audited) = (e.db.write_stats(), audits());
    let t = alice.ok(
        "wallet.transfer",
        json!({"to_email": "bob@example.com", "amount": "1"}),
    );
    let after = e.db.write_stats();
    if on_postgres() {
        // rows are counted on the embedded database
        assert_eq!(after, stats);
    } else {
        assert_eq!(after.writes - stats.writes, 1);
        // each account, the transfer with its three index entries, two ledger
        // entries with two each, the counts of transfers and of ledger entries
        // (written once), two events with their ids and the log's end (once),
        // and the call's five audit entries in one row, with one actor index
        // entry and one object index entry for each of the five objects
        assert_eq!(after.rows - stats.rows, 2 + 4 + 6 + 2 + 5 + 7);
        // durable in the redo log, not by a checkpoint
        assert_eq!(after.batches - stats.batches, 1);
        assert_eq!(after.checkpoints, stats.checkpoints);
        // and /metrics says so
        let metrics = market_testkit::get(&e.server, "/metrics").body;
        for line in [
            format!("store_writes_total {}", after.writes),
            format!("store_batches_total {}", after.batches),
            format!("store_checkpoints_total {}", after.checkpoints),
            format!("store_rows_written_total {}", after.rows),
            "store_writes_queued 0".to_string(),
        ] {
            assert!(metrics.lines().any(|l| l == line), "{line} in {metrics}");
        }
        // with the time its serial stages took
        let stages = after.stages;
        for (name, time) in [
            ("store_write_calls_busy_seconds_total", stages.calls.busy),
            ("store_write_calls_cpu_seconds_total", stages.calls.cpu),
            (
                "store_write_commits_busy_seconds_total",
                stages.commits.busy,
            ),
            ("store_write_commits_cpu_seconds_total", stages.commits.cpu),
            ("store_write_engine_busy_seconds_total", stages.engine.busy),
            ("store_write_engine_cpu_seconds_total", stages.engine.cpu),
        ] {
            let shown = metrics
                .lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse::<f64>().ok());
            assert!(time > std::time::Duration::ZERO, "{name}: {stages:?}");
            assert_eq!(shown, Some(time.as_secs_f64()), "{name} in {metrics}");
        }
    }
    // the two accounts, the transfer and its two ledger entries
    assert_eq!(audits() - audited, 5, "{t}");
}

#[test]
fn transfers_and_grants_to_a_removed_user_are_not_found() {
    let e = start();
    let (admin, _) = e.admin();
    let (alice, alice_user) = e.register("alice@example.com");
    let (_, gone) = e.register("gone@example.com");
    grant(&admin, &id_of(&alice_user), "10");
    grant(&admin, &id_of(&gone), "4");
    e.app.remove_user("gone@example.com").expect("remove");
    fails(
        &alice,
        "wallet.transfer",
        json!({"to_email": "gone@example.com", "amount": "1"}),
        4040,
        "not_found",
    );
    fails(
        &admin,
        "wallet.grant",
        json!({"user_id": id_of(&gone), "amount": "1", "reason": "x"}),
        4040,
        "not_found",
    );
    assert_eq!(balance(&alice), dec("10"));
    // the removed user's money stays on the ledger
    let v = verify_ok(&admin);
    assert_eq!(dec_of(&v["total"]), dec("14"));
}

#[test]
fn a_blank_grant_reason_is_invalid_input() {
    let e = start();
    let (admin, _) = e.admin();
    let (c, user) = e.register("g@example.com");
    fails_on_field(
        &admin,
        "wallet.grant",
        json!({"user_id": id_of(&user), "amount": "1", "reason": "   "}),
        "reason",
    );
    assert_eq!(balance(&c), dec("0"));
}

#[test]
fn an_amount_too_large_for_the_ledger_is_invalid_input() {
    let e = start();
    let (admin, _) = e.admin();
    let (c, user) = e.register("big@example.com");
    grant(&admin, &id_of(&user), "1");
    // Decimal::MAX: the issuance account (already at -1) cannot go below -MAX
    let max = "79228162514264337593543950335";
    let err = c
        .call("wallet.topup", json!({"amount": max}))
        .expect_err("an amount the ledger cannot hold");
    assert_eq!(err["code"], 4000, "{err}");
    assert_eq!(err["data"]["kind"], "invalid_input", "{err}");
    assert_eq!(balance(&c), dec("1"));
    verify_ok(&admin);
}

#[test]
fn amounts_are_plain_decimal_strings() {
    let e = start();
    let (admin, _) = e.admin();
    let (c, user) = e.register("fmt@example.com");
    for odd in ["1e3", "1_000", "0x10"] {
        fails_on_field(
            &admin,
            "wallet.grant",
            json!({"user_id": id_of(&user), "amount": odd, "reason": "r"}),
            "amount",
        );
        fails_on_field(&c, "wallet.topup", json!({"amount": odd}), "amount");
    }
    assert_eq!(balance(&c), dec("0"));
}
