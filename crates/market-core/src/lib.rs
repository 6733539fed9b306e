//! The marketplace domain: the types, stores and service traits generated
//! from `schemas/marketplace.oschema`, and the hand-written business rules
//! that implement those traits.
//!
//! Everything here is synchronous and transport-free: the server calls it on
//! its blocking pool, local scripts and the CLI call it directly.

pub mod generated {
    //! Generated from the schema by `build.rs`; read it with `make generate`.
    #![allow(clippy::all, clippy::pedantic)]
    include!(concat!(env!("OUT_DIR"), "/marketplace.rs"));
}

mod admin;
mod auth;
pub mod builds;
mod capacity;
mod catalog;
mod commerce;
mod escrow;
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

use std::sync::Arc;

use market_rpc::{Caller, Methods, RpcError};
use market_store::{Db, Id, PageRequest};
use rust_decimal::Decimal;

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
    /// How builds and deploys of the module manifest run.
    pub builds: builds::BuildConfig,
}

impl Default for AppConfig {
    fn default() -> Self {
        AppConfig {
            usd_rate: Decimal::ONE,
            commission_percent: Decimal::TEN,
            test_payments: false,
            token_ttl_secs: 7 * 24 * 3600,
            search_dir: None,
            builds: builds::BuildConfig::default(),
        }
    }
}

/// The business layer: one instance per process, shared by every caller.
pub struct App {
    db: Arc<Db>,
    config: AppConfig,
    hashing: auth::HashGate,
    search: search::SearchIndex,
}

impl App {
    /// The business layer on `db`: creates the ledger's system accounts if
    /// this is a new database, and opens (or rebuilds) the search index.
    pub fn new(db: Arc<Db>, config: AppConfig) -> Result<Arc<App>, RpcError> {
        ledger::ensure_system_accounts(&db)?;
        let search = search::SearchIndex::open(config.search_dir.as_deref(), &db)?;
        Ok(Arc::new(App {
            db,
            config,
            hashing: auth::HashGate::new(),
            search,
        }))
    }

    pub fn db(&self) -> &Arc<Db> {
        &self.db
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

    /// Resolve a bearer token to its caller. No token is an anonymous caller;
    /// an unknown, expired or revoked token is `unauthenticated`; a suspended
    /// user's token is `forbidden`.
    pub fn authenticate(&self, token: Option<&str>) -> Result<Caller, RpcError> {
        match token {
            None => Ok(Caller::Anonymous),
            Some(token) => auth::authenticate(self, token),
        }
    }
}

/// `limit`/`cursor` of a list method, checked.
fn page(limit: Option<u32>, cursor: Option<String>) -> Result<PageRequest, RpcError> {
    market_rpc::crud::page_request(limit, cursor)
}

/// The caller's user id, or `unauthenticated`.
fn me(ctx: &market_rpc::Ctx) -> Result<Id, RpcError> {
    Ok(ctx.require_user()?.user_id)
}
