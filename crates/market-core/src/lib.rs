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

mod catalog;
mod system;

use std::sync::Arc;

use market_rpc::{Caller, Methods, RpcError};
use market_store::Db;

pub use generated::*;

/// The OpenRPC document generated from the schema.
pub fn openrpc() -> serde_json::Value {
    serde_json::from_str(include_str!(concat!(env!("OUT_DIR"), "/openrpc.json")))
        .unwrap_or(serde_json::Value::Null)
}

/// The HTML API reference generated from the schema.
pub const DOC_HTML: &str = include_str!(concat!(env!("OUT_DIR"), "/doc.html"));

/// The server's version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The business layer: one instance per process, shared by every caller.
pub struct App {
    db: Arc<Db>,
}

impl App {
    pub fn new(db: Arc<Db>) -> Arc<App> {
        Arc::new(App { db })
    }

    pub fn db(&self) -> &Arc<Db> {
        &self.db
    }

    /// Every method of the schema, with its declared access.
    pub fn methods(self: &Arc<Self>) -> Methods {
        let mut methods = Methods::new().with_idempotency(self.db.clone());
        register_services(&mut methods, self.clone());
        register_crud(&mut methods, self.db.clone());
        methods
    }

    /// Resolve a bearer token. No token is an anonymous caller; a token that
    /// no session or API key holds is `unauthenticated`.
    pub fn authenticate(&self, token: Option<&str>) -> Result<Caller, RpcError> {
        match token {
            None => Ok(Caller::Anonymous),
            Some(_) => Err(RpcError::unauthenticated("unknown or expired token")),
        }
    }
}
