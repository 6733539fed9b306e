//! A `marketplace serve` process for the tests that need a real one (on
//! redb or PostgreSQL), and the calls they share.

use std::process::{Child, Command};
use std::time::{Duration, Instant};

use market_testkit::Client;
use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::{free_port, serve_command};

pub(crate) const ADMIN: &str = "root@example.com";
pub(crate) const ADMIN_PASSWORD: &str = "the admin's password";
pub(crate) const PASSWORD: &str = "correct horse battery";

pub(crate) fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_marketplace"));
    c.env("MARKETPLACE_SECRET_KEY", "11".repeat(32))
        .env("MARKETPLACE_NODE_KEY", "22".repeat(32))
        .env_remove("MARKETPLACE_DB");
    c
}

/// A `marketplace serve` process, killed when dropped.
pub(crate) struct Server {
    child: Child,
    pub(crate) base: String,
}

impl Server {
    pub(crate) fn start(db: &str) -> Server {
        Server::start_with(db, &[])
    }

    /// A server with `settings` in its environment besides the tests' own.
    pub(crate) fn start_with(db: &str, settings: &[(&str, &str)]) -> Server {
        let port = free_port();
        let child = serve_command(bin(), db, port)
            .env("MARKETPLACE_TEST_PAYMENTS", "1")
            .env("ADMIN_SEED_USERS", format!("{ADMIN}:{ADMIN_PASSWORD}"))
            .env("MARKETPLACE_AUTH_RATE_PER_MIN", "100000")
            .env("MARKETPLACE_RATE_PER_MIN", "0")
            .env("MARKETPLACE_PG_POOL_SIZE", "8")
            .env("RUST_LOG", "warn")
            .envs(settings.iter().copied())
            .spawn()
            .unwrap();
        let server = Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while status(&format!("{}/readyz", server.base)) != Some(200) {
            assert!(Instant::now() < deadline, "the server did not become ready");
            std::thread::sleep(Duration::from_millis(100));
        }
        server
    }

    pub(crate) fn client(&self) -> Client {
        Client::new(&format!("{}/rpc", self.base))
    }

    pub(crate) fn kill(&mut self) {
        // SIGKILL: no shutdown, no flush.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The HTTP status of a GET, or `None` when nothing answers.
pub(crate) fn status(url: &str) -> Option<u16> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    agent.get(url).call().ok().map(|r| r.status().as_u16())
}

pub(crate) fn login(c: &Client, email: &str, password: &str) -> Client {
    let r = c.ok("auth.login", json!({"email": email, "password": password}));
    c.clone().with_token(r["token"].as_str().unwrap())
}

pub(crate) fn register(c: &Client, email: &str) -> (Client, String) {
    let r = c.ok(
        "auth.register",
        json!({"email": email, "password": PASSWORD, "display_name": "user"}),
    );
    let token = r["token"].as_str().unwrap();
    (
        c.clone().with_token(token),
        r["user"]["id"].as_str().unwrap().to_string(),
    )
}

/// The same signed-in session through another server.
pub(crate) fn via(c: &Client, server: &Server) -> Client {
    Client::new(&format!("{}/rpc", server.base)).with_token(c.token.as_deref().unwrap())
}

fn dec(v: &Value) -> Decimal {
    v.as_str().unwrap().parse().unwrap()
}

pub(crate) fn balance(c: &Client) -> Decimal {
    dec(&c.ok("wallet.get", json!({}))["balance"])
}

pub(crate) fn verify(admin: &Client) -> Value {
    let v = admin.ok("ledger.verify", json!({}));
    assert_eq!(v["ok"], true, "{v}");
    v
}
