//! What a marketplace API is, whoever serves or calls it: the method table,
//! how a bearer token becomes a caller, the generated documents and a
//! readiness probe. The HTTP server, the local script transport and the
//! tests all take one of these from the same wiring point.

use std::sync::Arc;

use serde_json::Value;

use crate::{Caller, EventSource, Methods, RpcError};

/// Resolves the bearer token of a request to a caller.
pub trait Authenticator: Send + Sync + 'static {
    /// `token` is the `Authorization: Bearer` value, if any. May block (it reads the database).
    fn authenticate(&self, token: Option<&str>) -> Result<Caller, RpcError>;
}

/// What is served.
pub struct Api {
    pub methods: Methods,
    /// The OpenRPC document (also the result of `rpc.discover`).
    pub openrpc: Value,
    /// The HTML API reference.
    pub doc_html: String,
    pub authenticator: Arc<dyn Authenticator>,
    /// Does the database answer? May block.
    pub ready: Arc<dyn Fn() -> bool + Send + Sync>,
    /// Can a read be answered now within this process without waiting (an
    /// embedded database in good health)? A server then answers a lone
    /// lookup (`Kind::Lookup`) without handing it to another thread, its
    /// reads on the latest durable commit (`market_store::unwaiting`); reads
    /// that go over the network (PostgreSQL), or that would open the file
    /// again after a storage failure, never hold its async workers.
    pub local_reads: Arc<dyn Fn() -> bool + Send + Sync>,
    /// The domain event log, for `event.subscribe` over WebSocket.
    pub events: Option<Arc<dyn EventSource>>,
    /// What the store's batched writes did so far, for `/metrics`.
    pub write_stats: Option<Arc<dyn Fn() -> market_store::WriteStats + Send + Sync>>,
}
