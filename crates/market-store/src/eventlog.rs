//! An append-only log of opaque events with a rising local sequence number
//! and a unique event id, plus named snapshots beside it. The community
//! board keeps its signed events here: appending an id already present
//! does nothing, so events pulled twice from peers are stored once.

use crate::backend::{KeyRange, Order};
use crate::error::{Result, StoreError};
use crate::tx::{Reads, WriteTx};
use crate::types::Id;

const LOG: &str = "eventlog";
const IDS: &str = "eventlog:ids";
const META: &str = "meta";
const SEQ_KEY: &[u8] = b"eventlog.seq";
const SNAPSHOTS: &str = "snapshots";

fn corrupt(table: &str, reason: &str) -> StoreError {
    StoreError::Corrupt {
        table: table.into(),
        reason: reason.into(),
    }
}

fn seq_of(table: &str, bytes: &[u8]) -> Result<u64> {
    let arr: [u8; 8] = bytes
        .try_into()
        .map_err(|_| corrupt(table, "bad sequence"))?;
    Ok(u64::from_be_bytes(arr))
}

/// Reading the event log and snapshots, in either kind of transaction.
pub trait EventLogReads: Reads {
    /// The sequence number of the latest event (0 when the log is empty).
    fn event_log_last(&self) -> Result<u64> {
        match self.raw().get(META, SEQ_KEY)? {
            Some(bytes) => seq_of(META, &bytes),
            None => Ok(0),
        }
    }

    /// Up to `limit` events after `seq`, oldest first, with their sequence numbers.
    fn event_log_after(&self, seq: u64, limit: usize) -> Result<Vec<(u64, Vec<u8>)>> {
        let range = KeyRange::prefix(&[]).after(seq.to_be_bytes().to_vec());
        self.raw()
            .scan(LOG, &range, Order::Ascending, limit)?
            .into_iter()
            .map(|(k, v)| Ok((seq_of(LOG, &k)?, v)))
            .collect()
    }

    /// The sequence number of the event with this id, if the log holds it.
    fn event_log_seq(&self, id: Id) -> Result<Option<u64>> {
        match self.raw().get(IDS, &id.to_key())? {
            Some(bytes) => seq_of(IDS, &bytes).map(Some),
            None => Ok(None),
        }
    }

    /// The snapshot stored under `name`, if any.
    fn snapshot(&self, name: &str) -> Result<Option<Vec<u8>>> {
        self.raw().get(SNAPSHOTS, name.as_bytes())
    }
}

impl<T: Reads + ?Sized> EventLogReads for T {}

impl WriteTx<'_> {
    /// Append an event; its sequence number, or `None` when an event with
    /// this id is in the log already (nothing is written then).
    pub fn append_event_log(&mut self, id: Id, event: &[u8]) -> Result<Option<u64>> {
        if self.event_log_seq(id)?.is_some() {
            return Ok(None);
        }
        let seq = self.event_log_last()? + 1;
        self.raw.put(LOG, &seq.to_be_bytes(), event)?;
        self.raw.put(IDS, &id.to_key(), &seq.to_be_bytes())?;
        self.raw.put(META, SEQ_KEY, &seq.to_be_bytes())?;
        Ok(Some(seq))
    }

    /// Store (or replace) the snapshot `name`.
    pub fn put_snapshot(&mut self, name: &str, bytes: &[u8]) -> Result<()> {
        self.raw.put(SNAPSHOTS, name.as_bytes(), bytes)
    }
}
