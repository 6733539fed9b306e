//! Fresh databases, running servers and script hosts for the tests.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use market_core::{Added, App, AppConfig, Role, User};
use market_script::{Limits, Options, Output, ScriptError, ScriptHost, Transport};
use market_server::ServerConfig;
use market_store::{Db, SecretCipher};
use market_testkit::TestServer;
use rhai::Dynamic;
use serde_json::{Value, json};

pub const ADMIN: &str = "admin@example.com";
pub const PASSWORD: &str = "correct-horse-battery";

/// The repository's root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn script(name: &str) -> PathBuf {
    root().join("scripts/rhai").join(name)
}

/// Which way a test's scripts reach the marketplace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    Local,
    Remote,
}

pub const BOTH: [Via; 2] = [Via::Local, Via::Remote];

/// A fresh marketplace with an admin, reachable locally or through a server.
pub struct Env {
    pub app: Arc<App>,
    pub via: Via,
    server: Option<TestServer>,
    /// Where `write_json` writes.
    pub files: tempfile::TempDir,
    _dir: tempfile::TempDir,
}

impl Env {
    pub fn new(via: Via) -> Env {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("redb://{}", dir.path().join("m.redb").display());
        let db = Arc::new(
            Db::open(&url)
                .unwrap()
                .with_cipher(SecretCipher::from_text(&"11".repeat(32)).unwrap()),
        );
        let config = AppConfig {
            test_payments: true,
            ..AppConfig::default()
        };
        let (app, server) = match via {
            Via::Local => (App::new(db, config).unwrap(), None),
            Via::Remote => {
                let (app, api) = market_testkit::marketplace(db, config);
                // Seed scripts sign in once per user they act as.
                let config = ServerConfig {
                    auth_rate_per_min: 0,
                    ..ServerConfig::default()
                };
                (app, Some(TestServer::start(api, config)))
            }
        };
        let env = Env {
            app,
            via,
            server,
            files: tempfile::tempdir().unwrap(),
            _dir: dir,
        };
        env.add_user(ADMIN, &[Role::Admin]);
        env
    }

    /// Create a user with [`PASSWORD`] directly on the database.
    pub fn add_user(&self, email: &str, roles: &[Role]) -> User {
        match self.app.add_user(email, PASSWORD, roles, "test").unwrap() {
            Added::Created(u) | Added::Exists(u) => u,
        }
    }

    /// The user as stored now.
    pub fn user(&self, email: &str) -> User {
        self.app
            .db()
            .read(|tx| User::by_email(tx, email))
            .unwrap()
            .unwrap_or_else(|| panic!("no user {email}"))
    }

    pub fn rpc_url(&self) -> String {
        match &self.server {
            Some(s) => s.url("/rpc"),
            None => panic!("a local environment has no server"),
        }
    }

    /// A token of `email`, signed in through the server.
    pub fn token(&self, email: &str) -> String {
        let reply = self
            .server
            .as_ref()
            .expect("a server")
            .client()
            .ok("auth.login", json!({"email": email, "password": PASSWORD}));
        reply["token"].as_str().unwrap().to_string()
    }

    /// A transport as the operator: the system admin locally, the admin's
    /// token remotely.
    pub fn transport(&self) -> Transport {
        match self.via {
            Via::Local => Transport::local(self.app.clone()),
            Via::Remote => Transport::remote(&self.rpc_url(), Some(self.token(ADMIN))),
        }
    }

    /// A host running scripts with `args`, output captured.
    pub fn host(&self, args: &[(&str, Dynamic)]) -> Host {
        self.host_with(self.transport(), args, Limits::default())
    }

    pub fn host_with(
        &self,
        transport: Transport,
        args: &[(&str, Dynamic)],
        limits: Limits,
    ) -> Host {
        let (output, text) = Output::capture();
        let host = ScriptHost::new(
            transport,
            Options {
                limits,
                output,
                progress_bars: false,
                args: args
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.clone()))
                    .collect(),
                files_dir: Some(self.files.path().to_path_buf()),
            },
        );
        Host { host, text }
    }
}

/// A script host and what its scripts printed.
pub struct Host {
    pub host: ScriptHost,
    pub text: Arc<Mutex<String>>,
}

impl Host {
    pub fn printed(&self) -> String {
        self.text.lock().unwrap().clone()
    }

    /// Run a file of `scripts/rhai/`; its value as JSON.
    pub fn run_script(&self, name: &str) -> Result<Value, ScriptError> {
        self.host.run_file(&script(name)).map(|v| json_of(&v))
    }

    /// Run script text; its value as JSON.
    pub fn run(&self, text: &str) -> Result<Value, ScriptError> {
        self.host.run("test.rhai", text).map(|v| json_of(&v))
    }
}

pub fn json_of(v: &Dynamic) -> Value {
    market_script::value::to_json(v).unwrap()
}

pub fn s(v: &str) -> Dynamic {
    Dynamic::from(v.to_string())
}
