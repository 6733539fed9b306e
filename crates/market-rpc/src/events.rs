//! What a transport needs to stream the domain event log to a caller
//! (WebSocket subscriptions): pages of the events the caller may see, the
//! durable end of the log, and word when that end moves.

use crate::{Caller, RpcError};

/// A page of events for one caller.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventBatch {
    /// The events as JSON, `seq` rising.
    pub events: Vec<serde_json::Value>,
    /// The `seq` the read reached (events the caller may not see are
    /// skipped): the next read starts after it.
    pub read_to: u64,
}

/// The domain event log as a transport sees it.
pub trait EventSource: Send + Sync + 'static {
    /// Events after `after` (up to the durable end) that `caller` may see,
    /// only of `types` unless it is empty, at most `limit`. Runs on the
    /// blocking pool.
    fn read(
        &self,
        caller: &Caller,
        after: u64,
        types: &[String],
        limit: usize,
    ) -> Result<EventBatch, RpcError>;

    /// The highest `seq` that is committed and durable.
    fn durable_seq(&self) -> u64;

    /// Call `f` with the new durable `seq` each time it grows.
    fn listen(&self, f: Box<dyn Fn(u64) + Send + Sync>);
}
