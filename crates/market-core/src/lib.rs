//! The marketplace domain: the types, stores and service traits generated
//! from `schemas/marketplace.oschema`, and the hand-written business rules
//! that implement those traits.
//!
//! Everything here is synchronous and transport-free: the server calls it on
//! its blocking pool (a lone anonymous lookup on its async worker, reading
//! without waiting), local scripts and the CLI call it directly.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod generated {
    //! Generated from the schema by `build.rs`; read it with `make generate`.
    #![allow(clippy::all, clippy::pedantic)]
    include!(concat!(env!("OUT_DIR"), "/marketplace.rs"));
}

mod admin;
mod auth;
pub mod board;
pub mod builds;
mod capacity;
mod catalog;
mod commerce;
mod escrow;
pub mod events;
mod guard;
pub mod ledger;
mod listing;
mod messages;
pub mod modules;
mod money;
mod process;
pub mod search;
pub mod site_catalog;
mod sshkey;
mod sshkeys;
mod system;
mod users;
mod wallet;
pub mod webhooks;

use std::sync::Arc;

use market_rpc::{Api, Authenticator, Caller, Methods, RpcError};
use market_store::{Db, Id, Reads};
use rust_decimal::Decimal;

pub use auth::normalize_email;
pub use generated::*;
pub use users::{Added, AdminUser, parse_seed_users};

/// The OpenRPC document generated from the schema.
pub fn openrpc() -> serde_json::Value {
    serde_json::from_str(include_str!(concat!(env!("OUT_DIR"), "/openrpc.json")))
        .unwrap_or(serde_json::Value::Null)
}

/// The HTML API reference generated from the schema.
pub const DOC_HTML: &str = include_str!(concat!(env!("OUT_DIR"), "/doc.html"));

/// The server's version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Settings the business rules read; `usd_rate` and `commission_percent`
/// are defaults that values stored by `system.set_config` override.
#[derive(Debug, Clone, PartialEq)]
pub struct AppConfig {
    pub usd_rate: Decimal,
    pub commission_percent: Decimal,
    /// `wallet.topup` hands out credits (demo mode).
    pub test_payments: bool,
    /// Lifetime of a sign-in token, in seconds.
    pub token_ttl_secs: i64,
    /// Where the product search index lives; in memory when `None`.
    pub search_dir: Option<std::path::PathBuf>,
    /// The search index writer's memory budget, in bytes.
    pub search_writer_bytes: usize,
    /// Wrong passwords one account (email) may get within
    /// `password_lock_secs` before its password checks lock for that long (0: no limit).
    pub password_attempts: u32,
    pub password_lock_secs: i64,
    /// `wallet.transfer` emails matching no account that one user may send
    /// per hour before transfers are refused for an hour (0: no limit).
    pub email_lookup_misses_per_hour: u32,
    /// How builds and deploys of the module manifest run.
    pub builds: builds::BuildConfig,
    /// Where webhooks may point.
    pub webhooks: webhooks::WebhookConfig,
}

impl Default for AppConfig {
    fn default() -> Self {
        AppConfig {
            usd_rate: Decimal::ONE,
            commission_percent: Decimal::TEN,
            test_payments: false,
            token_ttl_secs: 7 * 24 * 3600,
            search_dir: None,
            search_writer_bytes: search::DEFAULT_WRITER_BYTES,
            password_attempts: 10,
            password_lock_secs: 900,
            email_lookup_misses_per_hour: 20,
            builds: builds::BuildConfig::default(),
            webhooks: webhooks::WebhookConfig::default(),
        }
    }
}

/// The business layer: one instance per process, shared by every caller.
pub struct App {
    db: Arc<Db>,
    config: AppConfig,
    hashing: auth::HashGate,
    search: search::SearchIndex,
    /// Wrong passwords per account.
    passwords: guard::Budget,
    /// Emails of `wallet.transfer` that match no account, per user.
    lookups: guard::Budget,
    board: board::Board,
}

impl App {
    /// The business layer on `db`: creates the ledger's system accounts if
    /// this is a new database, and opens (or rebuilds) the search index.
    /// The board signs with a new random node key; servers and the CLI use
    /// [`App::with_board`] with the node's own key.
    pub fn new(db: Arc<Db>, config: AppConfig) -> Result<Arc<App>, RpcError> {
        let key = board::NodeKey::generate().map_err(|e| {
            tracing::error!(error = %e, "cannot make a node key");
            RpcError::internal()
        })?;
        App::with_board(db, config, board::BoardConfig::new(key))
    }

    /// The business layer with the community board configured by `board`:
    /// its view is loaded from the snapshot in the database plus the log's tail.
    pub fn with_board(
        db: Arc<Db>,
        config: AppConfig,
        board: board::BoardConfig,
    ) -> Result<Arc<App>, RpcError> {
        ledger::ensure_system_accounts(&db)?;
        let search = search::SearchIndex::open(
            config.search_dir.as_deref(),
            &db,
            config.search_writer_bytes,
        )?;
        let passwords = guard::Budget::new(
            config.password_attempts,
            config.password_lock_secs,
            config.password_lock_secs,
            "wrong passwords for this account",
        );
        let lookups = guard::Budget::new(
            config.email_lookup_misses_per_hour,
            3600,
            3600,
            "transfers to unknown emails",
        );
        let board = board::Board::open(&db, board)?;
        Ok(Arc::new(App {
            db,
            config,
            hashing: auth::HashGate::new(),
            search,
            passwords,
            lookups,
            board,
        }))
    }

    pub fn db(&self) -> &Arc<Db> {
        &self.db
    }

    /// Bring the search index up to date on a background thread: a rebuild
    /// when it was missing or stale, else the changes written since it last
    /// synced (a local seed's, say); then prune the change log it applied.
    /// Start-up does not wait for it; a search meanwhile waits until the
    /// index is up to date, so it never misses a product.
    pub fn catch_up_search(self: &Arc<Self>) {
        let app = self.clone();
        let spawned = std::thread::Builder::new()
            .name("search-catch-up".into())
            .spawn(move || {
                let started = std::time::Instant::now();
                match app.search.sync_and_prune(&app.db) {
                    Ok(()) => tracing::info!(
                        ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                        "search index up to date"
                    ),
                    Err(e) => tracing::warn!(
                        error = %e.message,
                        "search index catch-up failed; the next search tries again"
                    ),
                }
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "cannot start the search catch-up; the next search does it");
        }
    }

    pub fn config(&self) -> &AppConfig {
        &self.config
    }

    /// Every method of the schema, with its declared access.
    pub fn methods(self: &Arc<Self>) -> Methods {
        let mut methods = Methods::new().with_idempotency(self.db.clone());
        register_services(&mut methods, self.clone());
        register_crud(&mut methods, self.db.clone());
        methods
    }

    /// The whole API on this business layer: methods, authentication, the
    /// generated documents and readiness. The one wiring point of the server,
    /// local scripts and tests.
    pub fn api(self: &Arc<Self>) -> Api {
        let db = self.db.clone();
        Api {
            methods: self.methods(),
            openrpc: openrpc(),
            doc_html: DOC_HTML.to_string(),
            authenticator: self.clone(),
            local_reads: Arc::new({
                let db = self.db.clone();
                move || db.reads_in_process()
            }),
            ready: Arc::new(move || db.ping().is_ok()),
            events: Some(Arc::new(events::AppEvents(self.clone()))),
            write_stats: Some(Arc::new({
                let db = self.db.clone();
                move || db.write_stats()
            })),
        }
    }

    /// Resolve a bearer token to its caller. No token is an anonymous caller;
    /// an unknown, expired or revoked token is `unauthenticated`; a suspended
    /// user's token is `forbidden`.
    pub fn authenticate(&self, token: Option<&str>) -> Result<Caller, RpcError> {
        match token {
            None => Ok(Caller::Anonymous),
            Some(token) => auth::authenticate(self, token),
        }
    }

    /// The caller that acting as this user (a local script's `as_user`) is:
    /// refused, as the user's tokens are, while the account is suspended or
    /// deleted; read again on every call so that changes apply at once.
    pub fn act_as(&self, user_id: Id) -> Result<Caller, RpcError> {
        let user = self
            .db
            .read(|tx| tx.get_part::<User, auth::Standing>(user_id))?
            .ok_or_else(|| RpcError::unauthenticated("the user acted as no longer exists"))?;
        auth::principal(&user, None, false).map(Caller::User)
    }
}

impl Authenticator for App {
    fn authenticate(&self, token: Option<&str>) -> Result<Caller, RpcError> {
        App::authenticate(self, token)
    }
}

/// The caller's user id, or `unauthenticated`.
fn me(ctx: &market_rpc::Ctx) -> Result<Id, RpcError> {
    Ok(ctx.require_user()?.user_id)
}
