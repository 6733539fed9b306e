//! The change log: one row per write of a logged record type (those that
//! feed a search index), with a rising sequence number, written in the same
//! transaction as the change. Followers (the search indexer) apply the log
//! in order and remember the last sequence they applied, so they catch up
//! after a crash or rebuild from scratch when they find themselves stale.

use serde::{Deserialize, Serialize};

use crate::backend::LogSpec;
use crate::error::{Result, StoreError};
use crate::tx::{Reads, WriteTx};
use crate::types::Id;

/// The change log.
pub const CHANGES: LogSpec = LogSpec {
    name: "changes",
    json: true,
    columns: &["kind"],
};

/// One logged write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    /// The row's number (older rows carry it in their body too).
    #[serde(default)]
    pub seq: u64,
    /// The record type, e.g. `product`.
    pub kind: String,
    pub id: Id,
}

/// A change as stored: its number is the row's.
#[derive(Serialize)]
struct Stored<'a> {
    kind: &'a str,
    id: Id,
}

fn corrupt(reason: impl Into<String>) -> StoreError {
    StoreError::Corrupt {
        table: CHANGES.name.into(),
        reason: reason.into(),
    }
}

/// Reading the change log, in either kind of transaction.
pub trait ChangeReads: Reads {
    /// The sequence number of the latest change (0 when none).
    fn last_change(&self) -> Result<u64> {
        self.store().log_last(&CHANGES)
    }

    /// Up to `limit` changes after `seq`, oldest first.
    fn changes_after(&self, seq: u64, limit: usize) -> Result<Vec<Change>> {
        self.store()
            .log_after(&CHANGES, seq, limit)?
            .into_iter()
            .map(|(seq, v)| {
                let mut change: Change =
                    serde_json::from_slice(&v).map_err(|e| corrupt(e.to_string()))?;
                change.seq = seq;
                Ok(change)
            })
            .collect()
    }
}

impl<T: Reads + ?Sized> ChangeReads for T {}

/// The most changes [`WriteTx::prune_changes`] forgets in one transaction.
pub const PRUNE_STEP: usize = 10_000;

impl WriteTx<'_> {
    /// Log a write; its number is the row's, given when it is appended
    /// (on PostgreSQL, as the transaction commits).
    pub(crate) fn log_change(&mut self, kind: &str, id: Id) -> Result<()> {
        let row = serde_json::to_vec(&Stored { kind, id }).map_err(|e| corrupt(e.to_string()))?;
        self.raw.log_push(&CHANGES, &row)
    }

    /// Forget changes up to and including `seq` (every follower has them),
    /// at most [`PRUNE_STEP`] of them; how many it forgot.
    pub fn prune_changes(&mut self, seq: u64) -> Result<usize> {
        self.raw.log_prune(&CHANGES, seq, PRUNE_STEP)
    }
}
