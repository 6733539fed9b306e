//! The `marketplace` binary as an operator uses it (one test binary for the
//! crate: the commands here, scripts and the REPL in `script`).

// Tests fail by panicking: unwrap, expect and panic are how they assert.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_marketplace"))
}

#[path = "cli/board.rs"]
mod board;
#[path = "cli/crash.rs"]
mod crash;
#[path = "cli/pg.rs"]
mod pg;
#[path = "cli/script.rs"]
mod script;
#[path = "cli/server.rs"]
mod server;
#[path = "cli/webhooks.rs"]
mod webhooks;

fn root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn schema_check_accepts_the_marketplace_and_hero_schemas() {
    let out = bin()
        .arg("schema")
        .arg("check")
        .arg(root().join("schemas/marketplace.oschema"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.starts_with("ok: 1 file(s)"), "{stdout}");
    // a Hero folder: several files, one schema
    let out = bin()
        .arg("schema")
        .arg("check")
        .arg(root().join("crates/oschema/tests/fixtures/hero"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("ok: 4 file(s)"));
}

#[test]
fn schema_check_reports_every_error_with_its_position() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("broken.oschema");
    std::fs::write(
        &file,
        "Status = \"a\" | \"a\"\n\n# An order [rootobject]\nOrder = {\n    status: Status\n    buyer: Usr\n    buyer: str\n}\n",
    )
    .unwrap();
    let out = bin()
        .arg("schema")
        .arg("check")
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let name = file.display().to_string();
    assert!(stderr.contains(&format!("{name}:1:")), "{stderr}");
    assert!(
        stderr.contains(&format!("{name}:6:12: unknown type 'Usr'")),
        "{stderr}"
    );
    assert!(stderr.contains(&format!("{name}:7:5:")), "{stderr}");
    assert!(stderr.contains("3 error(s)"), "{stderr}");
    // a missing file is a clear error too
    let out = bin()
        .arg("schema")
        .arg("check")
        .arg(dir.path().join("nope.oschema"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope.oschema"));
}

#[test]
fn schema_openrpc_and_generate() {
    let out = bin().arg("schema").arg("openrpc").output().unwrap();
    assert!(out.status.success());
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["openrpc"], "1.3.2");
    assert!(doc["components"]["schemas"]["Product"].is_object());

    let dir = tempfile::tempdir().unwrap();
    let out = bin()
        .args(["schema", "generate", "--out"])
        .arg(dir.path())
        .arg(root().join("schemas/marketplace.oschema"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rust = std::fs::read_to_string(dir.path().join("generated.rs")).unwrap();
    assert!(rust.starts_with("// @generated"));
    assert!(rust.contains("pub struct Product {"));
    assert!(dir.path().join("openrpc.json").exists() && dir.path().join("doc.html").exists());
}

/// Block until a server listens on `port` (at most 30 s).
fn wait_for(port: u16) {
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "server did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A free loopback port for a server, never one this test run handed out
/// before: the kernel may give a port just let go of to the next test
/// that asks, while the server it was meant for is still starting.
fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<std::collections::BTreeSet<u16>> =
        std::sync::Mutex::new(std::collections::BTreeSet::new());
    loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if GIVEN.lock().unwrap().insert(port) {
            return port;
        }
    }
}

fn post(port: u16, body: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "POST /rpc HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn serve_answers_and_shuts_down_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let db = format!("redb://{}/data/m.redb", dir.path().display());
    let mut child = bin()
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--db",
            &db,
        ])
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for(port);
    let reply = post(port, r#"{"jsonrpc":"2.0","id":1,"method":"system.health"}"#);
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(
        reply.contains(r#""status":"ok""#) && reply.contains(r#""db":"ok""#),
        "{reply}"
    );

    // a second process cannot open the same database while the server holds it
    let out = bin()
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{}", free_port()),
            "--db",
            &db,
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("in use by another process"));
    let out = admin(&db, &["list-users"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("in use by another process"));

    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = child.wait().unwrap();
    assert!(status.success(), "exit status {status}");
    let logs: Vec<String> = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .chain(BufReader::new(child.stderr.take().unwrap()).lines())
        .map_while(Result::ok)
        .collect();
    let logs = logs.join("\n");
    assert!(logs.contains("shutdown signal received"), "{logs}");
    assert!(logs.contains("database closed"), "{logs}");
    // the file was closed cleanly: it opens again at once
    market_store::Db::open(&db).unwrap().ping().unwrap();
}

fn admin(db: &str, args: &[&str]) -> std::process::Output {
    bin()
        .arg("admin")
        .args(args)
        .args(["--db", db])
        .env_remove("MARKETPLACE_SECRET_KEY")
        .output()
        .unwrap()
}

#[test]
fn admin_commands_manage_users_on_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("redb://{}/m.redb", dir.path().display());
    let out = admin(
        &db,
        &[
            "add-user",
            "--email",
            "Root@Example.com",
            "--password",
            "a-long-password",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("with roles customer, admin"));
    // the key file was created beside the database, private
    assert!(dir.path().join("m.redb.key").exists());
    // a second add of the same email (any case) changes nothing and says so
    let out = admin(
        &db,
        &[
            "add-user",
            "--email",
            "root@example.com",
            "--password",
            "another-password",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("exists already"));
    let out = admin(
        &db,
        &[
            "add-user",
            "--email",
            "seller@example.com",
            "--password",
            "a-long-password",
            "--role",
            "app_provider",
        ],
    );
    assert!(out.status.success());
    // bad input is a clear error
    let out = admin(
        &db,
        &[
            "add-user",
            "--email",
            "x@example.com",
            "--password",
            "short",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("password"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = admin(&db, &["list-users"]);
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(
        listing.contains("Root@Example.com") && listing.contains("seller@example.com"),
        "{listing}"
    );
    assert!(listing.contains("customer,app_provider"));
    assert!(listing.contains("2 user(s)"));

    let out = admin(&db, &["remove-user", "--email", "SELLER@example.com"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listing = String::from_utf8_lossy(&admin(&db, &["list-users"]).stdout).to_string();
    assert!(
        !listing.contains("seller@example.com") && listing.contains("1 user(s)"),
        "{listing}"
    );
    let out = admin(&db, &["remove-user", "--email", "seller@example.com"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not found"));
}

#[test]
fn compact_gives_free_pages_back_and_keeps_the_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.redb");
    let db = format!("redb://{}", path.display());
    let add = [
        "add-user",
        "--email",
        "kept@example.com",
        "--password",
        "a-long-password",
    ];
    assert!(admin(&db, &add).status.success());
    // a large load that is gone again leaves its pages free in the file
    {
        let store = market_store::Db::open(&db).unwrap();
        let actor = market_store::Actor::system("test");
        let ids = store
            .write(&actor, |tx| {
                (0..2000)
                    .map(|i| {
                        let mut s = market_core::Setting {
                            key: format!("filler-{i}"),
                            value: "x".repeat(2000),
                            ..Default::default()
                        };
                        tx.insert(&mut s).map(|()| s.id)
                    })
                    .collect::<Result<Vec<_>, market_store::StoreError>>()
            })
            .unwrap();
        store
            .write(&actor, |tx| {
                ids.iter()
                    .try_for_each(|id| tx.delete::<market_core::Setting>(*id).map(|_| ()))
            })
            .unwrap();
    }
    let before = std::fs::metadata(&path).unwrap().len();
    let out = bin().args(["compact", "--db", &db]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.starts_with(&format!("compacted {}: ", path.display())),
        "{stdout}"
    );
    let after = std::fs::metadata(&path).unwrap().len();
    assert!(after < before / 2, "{before} -> {after} bytes");
    // what the file holds is all there
    let listing = String::from_utf8_lossy(&admin(&db, &["list-users"]).stdout).to_string();
    assert!(listing.contains("kept@example.com"), "{listing}");
    // a database in use is refused, and a missing one is an error
    let held = market_store::Db::open(&db).unwrap();
    let out = bin().args(["compact", "--db", &db]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("in use by another process"));
    drop(held);
    let missing = format!("redb://{}/none.redb", dir.path().display());
    let out = bin().args(["compact", "--db", &missing]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no such database"));
    assert!(!dir.path().join("none.redb").exists());
}

/// A server process a test started: killed when the test ends without
/// stopping it (a failed assertion), so that it never outlives the test.
struct Served(std::process::Child);

impl std::ops::Deref for Served {
    type Target = std::process::Child;
    fn deref(&self) -> &std::process::Child {
        &self.0
    }
}

impl std::ops::DerefMut for Served {
    fn deref_mut(&mut self) -> &mut std::process::Child {
        &mut self.0
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        // A process already reaped is left alone.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A server on `db` with these extra environment variables, its output
/// dropped, once it listens; with its port.
fn serve_quietly(db: &str, env: &[(&str, &str)]) -> (Served, u16) {
    let port = free_port();
    let child = serve_command(bin(), db, port)
        .envs(env.iter().copied())
        .env_remove("MARKETPLACE_SECRET_KEY")
        .spawn()
        .unwrap();
    let served = Served(child);
    wait_for(port);
    (served, port)
}

/// `c` told to serve `db` on loopback `port`, its output dropped.
fn serve_command(mut c: Command, db: &str, port: u16) -> Command {
    c.args([
        "serve",
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--db",
        db,
    ])
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    c
}

/// Stop a server with SIGTERM; it must exit cleanly.
fn stop(mut child: Served) {
    assert!(
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    assert!(child.wait().unwrap().success());
}

/// The name and scheduling policy of each thread of process `pid` (fields 2
/// and 41 of `/proc/PID/task/TID/stat`) but the allocator's own.
#[cfg(target_os = "linux")]
fn thread_policies(pid: u32) -> Vec<(String, u32)> {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .map(|task| {
            let stat = std::fs::read_to_string(task.unwrap().path().join("stat")).unwrap();
            let (open, close) = (stat.find('(').unwrap(), stat.rfind(')').unwrap());
            // the fields after the name, which may hold spaces: state is field 3
            let policy = stat[close + 2..].split(' ').nth(41 - 3).unwrap();
            (stat[open + 1..close].to_string(), policy.parse().unwrap())
        })
        .filter(|(name, _)| !name.starts_with("jemalloc"))
        .collect()
}

#[cfg(target_os = "linux")]
#[test]
fn the_servers_threads_are_batch_threads_unless_turned_off() {
    const SCHED_OTHER: u32 = 0;
    const SCHED_BATCH: u32 = 3;
    let dir = tempfile::tempdir().unwrap();
    let db = format!("redb://{}/m.redb", dir.path().display());
    let (served, port) = serve_quietly(&db, &[]);
    // a write, so that the write pool has started a thread
    let reply = post(
        port,
        r#"{"jsonrpc":"2.0","id":1,"method":"auth.register","params":{"email":"a@example.com","password":"correct horse battery","display_name":"A"}}"#,
    );
    assert!(reply.contains(r#""token""#), "{reply}");
    let threads = thread_policies(served.id());
    for name in ["marketplace", "marketplace-wri", "redo-log"] {
        assert!(threads.iter().any(|(n, _)| n == name), "{threads:?}");
    }
    assert!(
        threads.iter().all(|&(_, p)| p == SCHED_BATCH),
        "{threads:?}"
    );
    stop(served);

    let (served, _) = serve_quietly(&db, &[("MARKETPLACE_BATCH_SCHEDULING", "0")]);
    let threads = thread_policies(served.id());
    assert!(
        threads.iter().all(|&(_, p)| p == SCHED_OTHER),
        "{threads:?}"
    );
    stop(served);
}

#[test]
fn seeded_admins_are_created_once_and_can_sign_in() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("redb://{}/m.redb", dir.path().display());
    for _ in 0..2 {
        let (child, port) = serve_quietly(
            &db,
            &[("ADMIN_SEED_USERS", "ops@example.com:ops-password-1")],
        );
        let reply = post(
            port,
            r#"{"jsonrpc":"2.0","id":1,"method":"auth.login","params":{"email":"ops@example.com","password":"ops-password-1"}}"#,
        );
        assert!(reply.contains(r#""roles":["customer","admin"]"#), "{reply}");
        assert!(!reply.contains("password_hash"));
        stop(child);
    }
    let listing = String::from_utf8_lossy(&admin(&db, &["list-users"]).stdout).to_string();
    assert_eq!(listing.matches("ops@example.com").count(), 1, "{listing}");
}

#[test]
fn the_first_starts_rate_and_commission_hold_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("redb://{}/m.redb", dir.path().display());
    let config = r#"{"jsonrpc":"2.0","id":1,"method":"system.config"}"#;
    let mut answers = Vec::new();
    for (rate, pct) in [("2.5", "7"), ("3", "12")] {
        let (child, port) = serve_quietly(
            &db,
            &[
                ("MARKETPLACE_TFC_USD_RATE", rate),
                ("MARKETPLACE_COMMISSION_PERCENT", pct),
            ],
        );
        answers.push(post(port, config));
        stop(child);
    }
    for reply in &answers {
        assert!(reply.contains(r#""usd_rate":"2.5""#), "{reply}");
        assert!(reply.contains(r#""commission_percent":"7""#), "{reply}");
    }
}

#[test]
fn admin_without_the_databases_key_refuses_and_makes_no_key_file() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("redb://{}/m.redb", dir.path().display());
    let key_file = dir.path().join("m.redb.key");
    let with_key = |key: &str, args: &[&str]| {
        bin()
            .arg("admin")
            .args(args)
            .args(["--db", &db])
            .env("MARKETPLACE_SECRET_KEY", key)
            .output()
            .unwrap()
    };
    let key = "ab".repeat(32);
    let add = [
        "add-user",
        "--email",
        "sealed@example.com",
        "--password",
        "a-long-password",
    ];
    assert!(with_key(&key, &add).status.success());
    assert!(!key_file.exists(), "the key came from the environment");
    // no key at all: refused, and no key file appears
    let out = admin(&db, &["list-users"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("MARKETPLACE_SECRET_KEY"), "{stderr}");
    assert!(!stderr.contains("internal error"), "{stderr}");
    assert!(!key_file.exists(), "no key file for an existing database");
    // the wrong key: refused with a clear message
    let out = with_key(&"cd".repeat(32), &["list-users"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("does not open the sealed data"), "{stderr}");
    // the right key works
    let out = with_key(&key, &["list-users"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("sealed@example.com"));
}

#[path = "cli/catalog.rs"]
mod catalog;

#[path = "cli/deploy.rs"]
mod deploy;

#[path = "cli/typescript.rs"]
mod typescript;
