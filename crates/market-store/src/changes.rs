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
    pub seq: u64,
    /// The record type, e.g. `product`.
    pub kind: String,
    pub id: Id,
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
            .map(|(_, v)| serde_json::from_slice(&v).map_err(|e| corrupt(e.to_string())))
            .collect()
    }
}

impl<T: Reads + ?Sized> ChangeReads for T {}

impl WriteTx<'_> {
    pub(crate) fn log_change(&mut self, kind: &str, id: Id) -> Result<()> {
        let seq = self.last_change()? + 1;
        let row = serde_json::to_vec(&Change {
            seq,
            kind: kind.to_string(),
            id,
        })
        .map_err(|e| corrupt(e.to_string()))?;
        self.raw.log_put(&CHANGES, seq, None, &row)
    }

    /// Forget changes up to and including `seq` (every follower has them).
    pub fn prune_changes(&mut self, seq: u64) -> Result<usize> {
        self.raw.log_prune(&CHANGES, seq, 10_000)
    }
}
