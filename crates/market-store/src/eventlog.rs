//! An append-only log of opaque events with a rising local sequence number
//! and a unique event id, plus named snapshots beside it. The community
//! board keeps its signed events here: appending an id already present
//! does nothing, so events pulled twice from peers are stored once.

use crate::backend::{Appended, LogSpec};
use crate::error::Result;
use crate::tx::{Reads, WriteTx};
use crate::types::Id;

/// The community board's log: opaque signed events, one per id.
pub const EVENTLOG: LogSpec = LogSpec {
    name: "eventlog",
    json: false,
    columns: &[],
};

/// Reading the event log and snapshots, in either kind of transaction.
pub trait EventLogReads: Reads {
    /// The sequence number of the latest event (0 when the log is empty).
    fn event_log_last(&self) -> Result<u64> {
        self.store().log_last(&EVENTLOG)
    }

    /// Up to `limit` events after `seq`, oldest first, with their sequence numbers.
    fn event_log_after(&self, seq: u64, limit: usize) -> Result<Vec<(u64, Vec<u8>)>> {
        self.store().log_after(&EVENTLOG, seq, limit)
    }

    /// The sequence number of the event with this id, if the log holds it.
    fn event_log_seq(&self, id: Id) -> Result<Option<u64>> {
        self.store().log_seq(&EVENTLOG, id)
    }

    /// The event with this id, if the log holds it (or this transaction
    /// appended it).
    fn event_log_find(&self, id: Id) -> Result<Option<Vec<u8>>> {
        self.store().log_find(&EVENTLOG, id)
    }

    /// The snapshot stored under `name`, if any.
    fn snapshot(&self, name: &str) -> Result<Option<Vec<u8>>> {
        self.store().snapshot(name)
    }
}

impl<T: Reads + ?Sized> EventLogReads for T {}

impl WriteTx<'_> {
    /// Append an event; `false` when an event with this id is in the log
    /// already (nothing is written then).
    pub fn append_event_log(&mut self, id: Id, event: &[u8]) -> Result<bool> {
        Ok(self.raw.log_append(&EVENTLOG, Some(id), event)? != Appended::Present)
    }

    /// Store (or replace) the snapshot `name`.
    pub fn put_snapshot(&mut self, name: &str, bytes: &[u8]) -> Result<()> {
        self.raw.put_snapshot(name, bytes)
    }
}
