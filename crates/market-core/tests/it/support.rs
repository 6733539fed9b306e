//! Shared set-up: a marketplace server on a temporary redb file with a
//! manual clock, and helpers to sign users in, grant credits and check errors.
//! With `MARKETPLACE_TEST_BACKEND=postgres` the server runs on a fresh
//! PostgreSQL database instead (see `market_pgtest`), one per database path.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::Arc;

use market_core::{Added, App, AppConfig, Role};
use market_server::{Endpoint, ServerConfig};
use market_store::{
    Backend, Db, LOGS, ManualClock, PgBackend, PgSettings, RedbBackend, SecretCipher, Timestamp,
};
use market_testkit::{Client, TestServer};
use rust_decimal::Decimal;
use serde_json::{Value, json};

/// The password every test user registers with.
pub const PASSWORD: &str = "correct horse battery";
pub const ADMIN_EMAIL: &str = "root@example.com";
pub const ADMIN_PASSWORD: &str = "the admin's password";
/// Where the manual clock of every server starts.
pub const START: &str = "2026-01-01T00:00:00Z";
/// Real OpenSSH public keys (made with `ssh-keygen`) and the fingerprints
/// `ssh-keygen -l -E sha256` prints for them.
pub const ED25519: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl test";
pub const ED25519_FP: &str = "SHA256:+DiY3wvvV6TuJJhbpZisF/zLDA0zPMSvHdkr4UvCOqU";
pub const ECDSA: &str = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBJMKtyLWvlf6SlgbkyR8EcbfAQ02WK3Xz+/P2oOKhQR6EdJ4tVLGghXYGj9C1Id+w8PlySZqg6xkAccILZbkhFc= ectest";
pub const ECDSA_FP: &str = "SHA256:TBnIMBFRzSUqDTH9jZNSHi3XmFQObMyYHxGle3httKg";
pub const RSA: &str = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQCtofNKc5JI0ijBka1cUncc/LgzT1arSywrwlGMyCiTiStbvn/3ZfKxzV+QwYjBM2X9EG4K3eKl6hr3srjn4fanmj4/dp6ktXXGvfDVlAMs7KluOV+S+OKDNKQDJ7TSNknzmxHW2+lrDWd1MquYChJCepU0iLPqhcJafvvH+twihQYYeup7eRp0Vy6WXsQDZ/ePDYxCv9lJRCZBACYSJ04PEQh6fj62Gm9V7QsljXvuk/FLDGzXveaEEfNfIDnl2m5DLfhdbAQ96Kb2xeexMyddieQJtUOir2k5r1wTD0eTs4wGONMvex3YZcezK3O9mbsNB19iG/SydkVnTfZFZR2J rsatest";
pub const RSA_FP: &str = "SHA256:lfa/U4fZXSTgIEqmCDoJvq1xhZEA/wFJ9czkCMTqKB8";
/// A 1024-bit RSA key: valid OpenSSH, but below the 2048 bits the schema asks for.
pub const RSA_1024: &str = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQC0Cb7I2oMldivMyQ7Y0sA8TwfjR9yqhji2YB9NqERNiqPdbHv8H1QtkpbyDP9zljCww4YJM55JUnZqz+eYnGYpwRgqd9gKAjB5xVeCIRJmJFDADTtsV4Rx3SneCyX8Medsr1lTdp4xpxNbAIX+Oqb+fRVusYS3AWRmem76QU/Vqw== small";
/// A sign-in token lives this long by default (7 days).
pub const TOKEN_TTL_SECS: i64 = 7 * 24 * 3600;

/// A running server and what sits behind it. Fields drop in order: the
/// server stops before the database closes. Clients call the server's
/// JSON-RPC endpoint in-process; [`Env::http`] goes through the socket.
pub struct Env {
    pub server: TestServer,
    pub endpoint: Arc<Endpoint>,
    pub app: Arc<App>,
    pub db: Arc<Db>,
    pub clock: Arc<ManualClock>,
    pub db_path: PathBuf,
    pub dir: tempfile::TempDir,
}

/// Test payments on (so `wallet.topup` works).
pub fn app_config() -> AppConfig {
    AppConfig {
        test_payments: true,
        ..Default::default()
    }
}

/// No practical rate limits.
pub fn server_config() -> ServerConfig {
    ServerConfig {
        auth_rate_per_min: 10_000,
        rate_per_min: 0,
        ..Default::default()
    }
}

/// The secret key every test database is sealed with.
pub fn cipher() -> SecretCipher {
    SecretCipher::from_text(&"11".repeat(32)).expect("a valid secret key")
}

/// A server with the default test settings.
pub fn start() -> Env {
    start_with(app_config(), server_config())
}

pub fn start_with(app: AppConfig, server: ServerConfig) -> Env {
    let dir = tempfile::tempdir().expect("temp dir");
    let db_path = dir.path().join("market.redb");
    let clock = Arc::new(ManualClock::new(START.parse().expect("start time")));
    open_at(db_path, dir, clock, app, server)
}

/// A server and business layer on the database file at `db_path` (new or existing).
pub fn open_at(
    db_path: std::path::PathBuf,
    dir: tempfile::TempDir,
    clock: Arc<ManualClock>,
    app: AppConfig,
    server: ServerConfig,
) -> Env {
    let db = Arc::new(Db::new(backend_at(&db_path), clock.clone()).with_cipher(cipher()));
    let (app, api) = market_testkit::marketplace(db.clone(), app);
    let endpoint = Arc::new(Endpoint::new(app.api(), &server));
    let server = TestServer::start(api, server);
    Env {
        server,
        endpoint,
        app,
        db,
        clock,
        db_path,
        dir,
    }
}

/// Whether the suites run on PostgreSQL (`MARKETPLACE_TEST_BACKEND=postgres`).
pub fn on_postgres() -> bool {
    std::env::var("MARKETPLACE_TEST_BACKEND").is_ok_and(|v| v == "postgres")
}

/// The storage behind `db_path`: the redb file, or on PostgreSQL the
/// database made for that path the first time (so a reopen finds its data).
pub fn backend_at(db_path: &std::path::Path) -> Arc<dyn Backend> {
    if !on_postgres() {
        return Arc::new(RedbBackend::open(db_path).expect("open redb"));
    }
    static URLS: std::sync::Mutex<Vec<(PathBuf, String)>> = std::sync::Mutex::new(Vec::new());
    let url = {
        let mut urls = URLS.lock().unwrap_or_else(|p| p.into_inner());
        match urls.iter().find(|(p, _)| p == db_path) {
            Some((_, url)) => url.clone(),
            None => {
                let url = market_pgtest::fresh_database();
                urls.push((db_path.to_path_buf(), url.clone()));
                url
            }
        }
    };
    let settings = PgSettings {
        pool_size: 8,
        ..PgSettings::default()
    };
    let tables = market_core::generated::ROOT_TABLES;
    Arc::new(PgBackend::open(&url, tables, LOGS, &settings).expect("open postgres"))
}

impl Env {
    /// A client without a token.
    pub fn anon(&self) -> Client {
        Client::local(self.endpoint.clone())
    }

    /// A client over HTTP, without a token.
    pub fn http(&self) -> Client {
        self.server.client()
    }

    /// A client sending `token` as its bearer token.
    pub fn with_token(&self, token: &str) -> Client {
        self.anon().with_token(token)
    }

    /// The whole `auth.register` result for `email` with [`PASSWORD`].
    pub fn register_result(&self, email: &str) -> Value {
        let name = email.split('@').next().unwrap_or(email);
        self.anon().ok(
            "auth.register",
            json!({"email": email, "password": PASSWORD, "display_name": name}),
        )
    }

    /// Register `email`; the signed-in client and the user.
    pub fn register(&self, email: &str) -> (Client, Value) {
        let r = self.register_result(email);
        (self.with_token(str_of(&r["token"])), r["user"].clone())
    }

    /// Sign in; the signed-in client (panics on failure).
    pub fn login(&self, email: &str, password: &str) -> Client {
        let r = self
            .anon()
            .ok("auth.login", json!({"email": email, "password": password}));
        self.with_token(str_of(&r["token"]))
    }

    /// An admin created the way the CLI does, signed in over RPC; the
    /// client and the admin user.
    pub fn admin(&self) -> (Client, Value) {
        let added = self
            .app
            .add_user(ADMIN_EMAIL, ADMIN_PASSWORD, &[Role::Admin], "test")
            .expect("create the admin");
        assert!(matches!(added, Added::Created(_)), "one admin per server");
        let r = self.anon().ok(
            "auth.login",
            json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}),
        );
        (self.with_token(str_of(&r["token"])), r["user"].clone())
    }

    /// Stop the server and close the database; the file and its directory stay.
    pub fn shutdown(self) -> (PathBuf, tempfile::TempDir) {
        let Env {
            server,
            endpoint,
            app,
            db,
            clock,
            db_path,
            dir,
        } = self;
        drop(server);
        drop(endpoint);
        drop(app);
        drop(db);
        drop(clock);
        (db_path, dir)
    }
}

/// A JSON string value (panics otherwise).
pub fn str_of(v: &Value) -> &str {
    v.as_str()
        .unwrap_or_else(|| panic!("expected a string, got {v}"))
}

/// The `id` of an object.
pub fn id_of(v: &Value) -> String {
    str_of(&v["id"]).to_string()
}

pub fn dec(s: &str) -> Decimal {
    s.parse()
        .unwrap_or_else(|e| panic!("not a decimal {s:?}: {e}"))
}

/// A decimal string value as a number.
pub fn dec_of(v: &Value) -> Decimal {
    dec(str_of(v))
}

pub fn ts(s: &str) -> Timestamp {
    s.parse()
        .unwrap_or_else(|_| panic!("not a timestamp: {s:?}"))
}

/// Grant `amount` to `user_id` as an admin; the transfer.
pub fn grant(admin: &Client, user_id: &str, amount: &str) -> Value {
    admin.ok(
        "wallet.grant",
        json!({"user_id": user_id, "amount": amount, "reason": "test credits"}),
    )
}

/// The caller's balance.
pub fn balance(c: &Client) -> Decimal {
    dec_of(&c.ok("wallet.get", json!({}))["balance"])
}

/// The caller's wallet entries, newest first (one page of up to 500).
pub fn history(c: &Client) -> Vec<Value> {
    let page = c.ok("wallet.history", json!({"limit": 500}));
    assert!(page["next_cursor"].is_null(), "more than one page");
    page["items"].as_array().expect("items").clone()
}

/// `ledger.verify` as an admin, asserting that it passed.
pub fn verify_ok(admin: &Client) -> Value {
    let v = admin.ok("ledger.verify", json!({}));
    assert_eq!(v["ok"], true, "ledger problems: {}", v["problems"]);
    assert_eq!(v["problems"], json!([]));
    v
}

/// Call `method` expecting an error with `code` (and, for application
/// errors, `data.kind`); the whole error object.
pub fn fails(c: &Client, method: &str, params: Value, code: i64, kind: &str) -> Value {
    let e = c
        .call(method, params.clone())
        .err()
        .unwrap_or_else(|| panic!("{method} {params} unexpectedly succeeded"));
    assert_eq!(e["code"], code, "{method} {params}: {e}");
    if kind.is_empty() {
        assert!(e.pointer("/data/kind").is_none(), "{e}");
    } else {
        assert_eq!(e["data"]["kind"], kind, "{method} {params}: {e}");
    }
    e
}

/// `invalid_input` naming `field` in `data.fields`.
pub fn fails_on_field(c: &Client, method: &str, params: Value, field: &str) -> Value {
    let e = fails(c, method, params, 4000, "invalid_input");
    assert!(
        e["data"]["fields"][field].is_string(),
        "{method}: expected data.fields.{field}, got {e}"
    );
    e
}

/// `-32602 invalid params`.
pub fn invalid_params(c: &Client, method: &str, params: Value) -> Value {
    fails(c, method, params, -32602, "")
}

/// POST a JSON-RPC body to `/rpc` over a plain socket with extra headers
/// (the testkit client cannot send `X-Forwarded-For`); the reply's JSON body.
pub fn post_with_headers(env: &Env, headers: &[(&str, &str)], body: &Value) -> Value {
    let body = body.to_string();
    let mut stream = TcpStream::connect(env.server.addr).expect("connect");
    let mut req = format!(
        "POST /rpc HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
        env.server.addr,
        body.len()
    );
    for (name, value) in headers {
        req.push_str(&format!("{name}: {value}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(&body);
    stream.write_all(req.as_bytes()).expect("send");
    let mut reply = String::new();
    stream.read_to_string(&mut reply).expect("read reply");
    let (head, payload) = reply.split_once("\r\n\r\n").expect("an HTTP reply");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        !head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked"),
        "{head}"
    );
    serde_json::from_str(payload).unwrap_or_else(|e| panic!("not JSON ({e}): {payload:?}"))
}
