//! Several `marketplace serve` processes on one PostgreSQL database (a
//! throwaway cluster, or the server `MARKETPLACE_TEST_PG` names): money,
//! capacity and stock stay race-free across processes, search sees the
//! other process's products, a process killed mid-load loses no
//! acknowledged write, and the database commands (migrate, copy, backup,
//! restore) work on it.

use std::sync::Barrier;
use std::time::{Duration, Instant};

use market_testkit::Client;
use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::free_port;
use super::server::{
    ADMIN, ADMIN_PASSWORD, PASSWORD, Server, balance, bin, login, register, status, verify, via,
};

/// Run `call` once per item at the same moment; each outcome.
fn all_at_once<T: Sync>(
    items: &[T],
    call: impl Fn(usize, &T) -> Result<Value, Value> + Sync,
) -> Vec<Result<Value, Value>> {
    let barrier = Barrier::new(items.len());
    std::thread::scope(|s| {
        let handles: Vec<_> = items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let (barrier, call) = (&barrier, &call);
                s.spawn(move || {
                    barrier.wait();
                    call(i, item)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

fn conflict(outcome: &Result<Value, Value>) {
    let err = outcome.as_ref().err().unwrap();
    assert_eq!(err["code"], 4090, "{err}");
}

#[test]
fn two_servers_on_one_database_never_double_spend_overbook_or_oversell() {
    let db = market_pgtest::fresh_database();
    let a = Server::start(&db);
    let b = Server::start(&db);
    let servers = [&a, &b];
    let admin = login(&a.client(), ADMIN, ADMIN_PASSWORD);

    // Transfers: 8 users with 10 TFC each send 3 TFC to the next one, four
    // times at once, half through each server: at most 3 of 4 succeed.
    let users: Vec<(Client, String)> = (0..8)
        .map(|i| register(&servers[i % 2].client(), &format!("u{i}@example.com")))
        .collect();
    for (_, id) in &users {
        admin.ok(
            "wallet.grant",
            json!({"user_id": id, "amount": "10", "reason": "test"}),
        );
    }
    let sends: Vec<(usize, usize)> = (0..8).flat_map(|u| (0..4).map(move |k| (u, k))).collect();
    let outcomes = all_at_once(&sends, |_, &(u, k)| {
        let c = via(&users[u].0, servers[k % 2]);
        let to = format!("u{}@example.com", (u + 1) % 8);
        c.call("wallet.transfer", json!({"to_email": to, "amount": "3"}))
    });
    for o in outcomes.iter().filter(|o| o.is_err()) {
        let err = o.as_ref().err().unwrap();
        assert_eq!(err["code"], 4020, "{err}");
    }
    let mut total = Decimal::ZERO;
    for (u, (c, _)) in users.iter().enumerate() {
        let sent = outcomes
            .iter()
            .zip(&sends)
            .filter(|(o, (from, _))| *from == u && o.is_ok())
            .count();
        let received = outcomes
            .iter()
            .zip(&sends)
            .filter(|(o, (from, _))| (*from + 1) % 8 == u && o.is_ok())
            .count();
        let expected = Decimal::from(10) - Decimal::from(3 * sent) + Decimal::from(3 * received);
        // either server answers the same balance
        assert_eq!(balance(c), expected);
        assert_eq!(balance(&via(c, &b)), expected);
        assert!(expected >= Decimal::ZERO);
        total += expected;
    }
    assert_eq!(total, Decimal::from(80));
    let moved = outcomes.iter().filter(|o| o.is_ok()).count();
    eprintln!("two servers: {moved} of 32 transfers went through, 80 TFC in all after them");

    // Rentals: 12 renters, half through each server, on a node of 5 units.
    let (owner, _) = register(&a.client(), "owner@example.com");
    owner.ok(
        "provider.register",
        json!({"kind": "resource", "name": "grid", "description": "nodes"}),
    );
    let node = owner.ok(
        "node.register",
        json!({
            "name": "ghent-1",
            "location": {"country": "BE", "city": "Ghent"},
            "capacity": {"cpu_cores": 8, "memory_gb": 32, "storage_gb": 1000},
            "price_per_hour": "10",
        }),
    );
    let renters: Vec<Client> = (0..12)
        .map(|i| {
            let (c, id) = register(&servers[i % 2].client(), &format!("r{i}@example.com"));
            admin.ok(
                "wallet.grant",
                json!({"user_id": id, "amount": "10", "reason": "test"}),
            );
            c
        })
        .collect();
    let outcomes = all_at_once(&renters, |_, c| {
        c.call(
            "rental.slice",
            json!({"node_id": node["id"], "units": 1, "hours": 1}),
        )
    });
    assert_eq!(
        outcomes.iter().filter(|o| o.is_ok()).count(),
        5,
        "{outcomes:?}"
    );
    outcomes.iter().filter(|o| o.is_err()).for_each(conflict);
    let n = b.client().ok("node.get", json!({"id": node["id"]}));
    assert_eq!(n["used_units"], 5);
    eprintln!("two servers: 5 of 12 rentals of a 5-unit node went through");

    // Checkouts: 10 buyers, half through each server, for a stock of 3.
    let (seller, _) = register(&b.client(), "seller@example.com");
    seller.ok(
        "provider.register",
        json!({"kind": "app", "name": "apps", "description": "apps"}),
    );
    let p = seller.ok(
        "product.create",
        json!({"category": "app", "name": "Limited app", "description": "scarce",
               "price": "7", "pricing_unit": "one_time", "stock": 3}),
    );
    let buyers: Vec<Client> = (0..10)
        .map(|i| {
            let (c, id) = register(&servers[i % 2].client(), &format!("b{i}@example.com"));
            admin.ok(
                "wallet.grant",
                json!({"user_id": id, "amount": "10", "reason": "test"}),
            );
            c
        })
        .collect();
    let outcomes = all_at_once(&buyers, |_, c| {
        c.call(
            "order.buy_now",
            json!({"product_id": p["id"], "quantity": 1}),
        )
    });
    assert_eq!(
        outcomes.iter().filter(|o| o.is_ok()).count(),
        3,
        "{outcomes:?}"
    );
    outcomes.iter().filter(|o| o.is_err()).for_each(conflict);
    assert_eq!(
        a.client().ok("product.get", json!({"id": p["id"]}))["stock"],
        0
    );
    eprintln!("two servers: 3 of 10 checkouts of a stock of 3 went through");

    // Search through one server finds what the other just created.
    let created = seller.ok(
        "product.create",
        json!({"category": "app", "name": "Zeppelin tracker", "description": "follows airships",
               "price": "1", "pricing_unit": "one_time"}),
    );
    let started = Instant::now();
    let found = a
        .client()
        .ok("product.search", json!({"query": "zeppelin"}));
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(found["items"][0]["id"], created["id"], "{found}");

    let v = verify(&admin);
    assert_eq!(verify(&via(&admin, &b))["total"], v["total"]);
    eprintln!(
        "two servers: ledger.verify ok through both, total {}",
        v["total"]
    );
}

#[test]
fn a_killed_server_loses_no_acknowledged_write() {
    let db = market_pgtest::fresh_database();
    let mut a = Server::start(&db);
    let b = Server::start(&db);
    let admin = login(&b.client(), ADMIN, ADMIN_PASSWORD);
    let (sender, sender_id) = register(&a.client(), "sender@example.com");
    register(&b.client(), "receiver@example.com");
    admin.ok(
        "wallet.grant",
        json!({"user_id": sender_id, "amount": "1000", "reason": "test"}),
    );
    // Four threads transfer through the first server until it dies; the
    // transfers it acknowledged are recorded.
    let acked = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..500 {
                    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "wallet.transfer",
                        "params": {"to_email": "receiver@example.com", "amount": "0.5"}});
                    let agent: ureq::Agent = ureq::Agent::config_builder()
                        .timeout_global(Some(Duration::from_secs(10)))
                        .build()
                        .into();
                    let reply = agent
                        .post(sender.url().expect("an HTTP client"))
                        .header(
                            "Authorization",
                            &format!("Bearer {}", sender.token.as_deref().unwrap()),
                        )
                        .send(body.to_string());
                    let Ok(mut reply) = reply else { return };
                    let Ok(text) = reply.body_mut().read_to_string() else {
                        return;
                    };
                    let Ok(v) = serde_json::from_str::<Value>(&text) else {
                        return;
                    };
                    if let Some(id) = v["result"]["id"].as_str() {
                        acked.lock().unwrap().push(id.to_string());
                    }
                }
            });
        }
        std::thread::sleep(Duration::from_millis(1500));
        a.kill();
    });
    let acked = acked.into_inner().unwrap();
    assert!(
        !acked.is_empty(),
        "no transfer went through before the kill"
    );
    // Through the surviving server: every acknowledged transfer is there,
    // and the books balance. A transfer whose commit reached PostgreSQL as
    // the server died may still land for a moment after the kill, between
    // the reads of the history and of the balance: read both until they
    // agree.
    let survivor = via(&sender, &b);
    let transfers_seen = || {
        let mut seen = std::collections::HashSet::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut params = json!({"limit": 500});
            if let Some(c) = &cursor {
                params["cursor"] = json!(c);
            }
            let page = survivor.ok("wallet.history", params);
            for e in page["items"].as_array().unwrap() {
                seen.insert(e["transfer_id"].as_str().unwrap().to_string());
            }
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => break seen,
            }
        }
    };
    // the sender paid exactly for the transfers that exist (the grant is one entry too)
    let paid_for = |seen: &std::collections::HashSet<String>| {
        Decimal::from(1000) - Decimal::from(seen.len() - 1) * Decimal::new(5, 1)
    };
    let mut seen = transfers_seen();
    for _ in 0..50 {
        if balance(&survivor) == paid_for(&seen) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        seen = transfers_seen();
    }
    for id in &acked {
        assert!(seen.contains(id), "acknowledged transfer {id} is lost");
    }
    assert_eq!(balance(&survivor), paid_for(&seen));
    verify(&admin);
}

/// A redb marketplace copied to PostgreSQL and back, and backed up and
/// restored: the same users, balances, ids and versions, and the ledger verifies.
#[test]
fn copy_backup_and_restore_keep_everything() {
    let dir = tempfile::tempdir().unwrap();
    let redb = format!("redb://{}/m.redb", dir.path().display());
    let admin_email = "ops@example.com";
    let out = bin()
        .args([
            "admin",
            "add-user",
            "--db",
            &redb,
            "--email",
            admin_email,
            "--password",
            ADMIN_PASSWORD,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (balances, versions) = {
        let s = Server::start(&redb);
        let admin = login(&s.client(), admin_email, ADMIN_PASSWORD);
        let (alice, alice_id) = register(&s.client(), "alice@example.com");
        register(&s.client(), "bob@example.com");
        admin.ok(
            "wallet.grant",
            json!({"user_id": alice_id, "amount": "25.5", "reason": "test"}),
        );
        alice.ok(
            "wallet.transfer",
            json!({"to_email": "bob@example.com", "amount": "5.25"}),
        );
        let me = alice.ok("auth.me", json!({}));
        (balance(&alice), me["version"].clone())
    };
    let pg = market_pgtest::fresh_database();
    let copy = |from: &str, to: &str, extra: &[&str]| {
        bin()
            .args(["copy", "--from", from, "--to", to])
            .args(extra)
            .output()
            .unwrap()
    };
    let out = copy(&redb, &pg, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("copied "));
    // a second copy into the now non-empty target is refused
    let out = copy(&redb, &pg, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not empty; pass --force"));
    let check = |db: &str| {
        let s = Server::start(db);
        let admin = login(&s.client(), admin_email, ADMIN_PASSWORD);
        let alice = login(&s.client(), "alice@example.com", PASSWORD);
        assert_eq!(balance(&alice), balances);
        assert_eq!(alice.ok("auth.me", json!({}))["version"], versions);
        let v = verify(&admin);
        let audit = admin.ok("admin.audit", json!({"limit": 500}));
        (v["total"].clone(), audit["items"].as_array().unwrap().len())
    };
    let on_pg = check(&pg);
    // back to a new redb file
    let back = format!("redb://{}/back.redb", dir.path().display());
    let out = copy(&pg, &back, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // the checks above signed in, which wrote more audit entries
    assert!(check(&back).1 >= on_pg.1);
    // backup of the PostgreSQL database, restored into a fresh one
    let file = dir.path().join("m.backup");
    let out = bin()
        .args(["backup", "--db", &pg, "--out"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let restored = market_pgtest::fresh_database();
    let out = bin()
        .args(["restore", "--db", &restored])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(check(&restored).0, on_pg.0);
}

#[test]
fn migrate_and_bad_urls_on_the_command_line() {
    let db = market_pgtest::fresh_database();
    // a new database: the dry run prints the tables the schema makes
    let out = bin()
        .args(["migrate", "--dry-run", "--db", &db])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sql = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(sql.contains("CREATE TABLE \"order\" ("), "{sql}");
    assert!(
        sql.contains("CREATE INDEX \"order__buyer_id__idx\" ON \"order\" (\"buyer_id\", id);"),
        "{sql}"
    );
    assert!(
        sql.contains(
            "CREATE UNIQUE INDEX \"user__email__ci_key\" ON \"user\" (lower(\"email\" COLLATE \"und-x-icu\"));"
        ),
        "{sql}"
    );
    let out = bin().args(["migrate", "--db", &db]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = bin()
        .args(["migrate", "--dry-run", "--db", &db])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("nothing to do"));
    // an operator answers "which orders did this buyer place" in SQL
    let mut c = postgres::Client::connect(&db, postgres::NoTls).unwrap();
    let rows = c
        .query("SELECT id FROM \"order\" WHERE buyer_id = 'nobody'", &[])
        .unwrap();
    assert!(rows.is_empty());
    // a root object this build does not know (a newer schema): start-up
    // refuses with one line until a destructive migration drops it
    c.batch_execute(
        "CREATE TABLE gizmo (id text PRIMARY KEY, version bigint, created_at timestamptz, \
         updated_at timestamptz, data jsonb)",
    )
    .unwrap();
    let serve = |url: &str| {
        bin()
            .args(["serve", "--listen", "127.0.0.1:0", "--db", url])
            .output()
            .unwrap()
    };
    let one_error = |out: &std::process::Output| {
        assert_eq!(out.status.code(), Some(1));
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        let errors: Vec<String> = stderr
            .lines()
            .filter(|l| l.starts_with("error: "))
            .map(String::from)
            .collect();
        assert_eq!(errors.len(), 1, "{stderr}");
        errors[0].clone()
    };
    let line = one_error(&serve(&db));
    assert!(line.contains("DROP TABLE \"gizmo\""), "{line}");
    assert!(line.contains("--allow-destructive"), "{line}");
    let out = bin()
        .args(["migrate", "--allow-destructive", "--db", &db])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("DROP TABLE \"gizmo\";"));
    // a database of a newer format version
    c.batch_execute("UPDATE marketplace_meta SET value = '9' WHERE key = 'format_version'")
        .unwrap();
    let line = one_error(&serve(&db));
    assert!(line.contains("format version is 9"), "{line}");
    // start-up errors: one line, exit 1
    let port = free_port();
    let wrong_password = market_pgtest::wrong_password_url().map(|url| {
        (
            url,
            "password authentication failed for user \"postgres\"".to_string(),
        )
    });
    for (url, says) in [
        (
            format!("postgres://u:p@127.0.0.1:{port}/db"),
            "cannot connect to".to_string(),
        ),
        (
            market_pgtest::with_database(market_pgtest::server_url(), "missing_db"),
            "\"missing_db\" does not exist".to_string(),
        ),
        (
            "mysql://x".to_string(),
            "unsupported database URL".to_string(),
        ),
    ]
    .into_iter()
    .chain(wrong_password)
    {
        let out = bin()
            .args(["serve", "--listen", "127.0.0.1:0", "--db", &url])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{url}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let errors: Vec<&str> = stderr
            .lines()
            .filter(|l| l.starts_with("error: "))
            .collect();
        assert_eq!(errors.len(), 1, "{stderr}");
        assert!(errors[0].contains(&says), "{stderr}");
    }
}

/// Cut the server off its database: refuse new connections and end the
/// open ones (what a PostgreSQL restart does to a client).
fn cut_off(admin_sql: &mut postgres::Client, name: &str, allow: bool) {
    admin_sql
        .batch_execute(&format!(
            "ALTER DATABASE {name} WITH ALLOW_CONNECTIONS {allow}"
        ))
        .unwrap();
    if !allow {
        admin_sql
            .execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
                &[&name],
            )
            .unwrap();
    }
}

#[test]
fn a_lost_database_fails_only_the_calls_it_cut_and_the_server_recovers() {
    let db = market_pgtest::fresh_database();
    let name = db.rsplit('/').next().unwrap().to_string();
    let mut admin_sql =
        postgres::Client::connect(market_pgtest::server_url(), postgres::NoTls).unwrap();
    let s = Server::start(&db);
    let admin = login(&s.client(), ADMIN, ADMIN_PASSWORD);
    let (sender, sender_id) = register(&s.client(), "sender@example.com");
    register(&s.client(), "receiver@example.com");
    admin.ok(
        "wallet.grant",
        json!({"user_id": sender_id, "amount": "1000", "reason": "test"}),
    );
    // Transfers run while the connections are cut under them, twice.
    let outcomes = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..4)
            .map(|_| {
                scope.spawn(|| {
                    (0..60)
                        .map(|_| {
                            sender.call(
                                "wallet.transfer",
                                json!({"to_email": "receiver@example.com", "amount": "0.5"}),
                            )
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for _ in 0..2 {
            std::thread::sleep(Duration::from_millis(150));
            admin_sql
                .execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
                    &[&name],
                )
                .unwrap();
        }
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect::<Vec<_>>()
    });
    for o in outcomes.iter().filter(|o| o.is_err()) {
        assert_eq!(o.as_ref().err().unwrap()["code"], -32603, "{o:?}");
    }
    let ok = outcomes.iter().filter(|o| o.is_ok()).count();
    assert!(ok > 0);
    // Down: /readyz says so, calls fail cleanly.
    cut_off(&mut admin_sql, &name, false);
    assert_eq!(status(&format!("{}/readyz", s.base)), Some(503));
    assert_eq!(
        sender.call("wallet.get", json!({})).err().unwrap()["code"],
        -32603
    );
    // Back: the same process serves again by itself.
    cut_off(&mut admin_sql, &name, true);
    let deadline = Instant::now() + Duration::from_secs(30);
    while status(&format!("{}/readyz", s.base)) != Some(200) {
        assert!(Instant::now() < deadline, "the server did not recover");
        std::thread::sleep(Duration::from_millis(200));
    }
    // Nothing half-written: the books balance and the sender paid for
    // exactly the transfers that exist.
    verify(&admin);
    let history = sender.ok("wallet.history", json!({"limit": 500}));
    let transfers = history["items"].as_array().unwrap().len() - 1;
    assert!(
        transfers >= ok,
        "{transfers} transfers stored, {ok} acknowledged"
    );
    assert_eq!(
        balance(&sender),
        Decimal::from(1000) - Decimal::from(transfers) * Decimal::new(5, 1)
    );
}
