//! The change log: one row per write of a logged record type (those that
//! feed a search index), with a rising sequence number, written in the same
//! transaction as the change. Followers (the search indexer) apply the log
//! in order and remember the last sequence they applied, so they catch up
//! after a crash or rebuild from scratch when they find themselves stale.

use serde::{Deserialize, Serialize};

use crate::backend::{KeyRange, Order};
use crate::error::{Result, StoreError};
use crate::tx::{Reads, WriteTx};
use crate::types::Id;

const TABLE: &str = "changes";
const META: &str = "meta";
const SEQ_KEY: &[u8] = b"changes.seq";

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
        table: TABLE.into(),
        reason: reason.into(),
    }
}

/// Reading the change log, in either kind of transaction.
pub trait ChangeReads: Reads {
    /// The sequence number of the latest change (0 when none).
    fn last_change(&self) -> Result<u64> {
        match self.raw().get(META, SEQ_KEY)? {
            Some(bytes) => {
                let arr: [u8; 8] = bytes
                    .as_slice()
                    .try_into()
                    .map_err(|_| corrupt("bad sequence"))?;
                Ok(u64::from_be_bytes(arr))
            }
            None => Ok(0),
        }
    }

    /// Up to `limit` changes after `seq`, oldest first.
    fn changes_after(&self, seq: u64, limit: usize) -> Result<Vec<Change>> {
        let range = KeyRange::prefix(&[]).after(seq.to_be_bytes().to_vec());
        self.raw()
            .scan(TABLE, &range, Order::Ascending, limit)?
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
        self.raw.put(TABLE, &seq.to_be_bytes(), &row)?;
        self.raw.put(META, SEQ_KEY, &seq.to_be_bytes())
    }

    /// Forget changes up to and including `seq` (every follower has them).
    pub fn prune_changes(&mut self, seq: u64) -> Result<usize> {
        let range = KeyRange {
            start: std::ops::Bound::Unbounded,
            end: std::ops::Bound::Included(seq.to_be_bytes().to_vec()),
        };
        let rows = self.raw.scan(TABLE, &range, Order::Ascending, 10_000)?;
        for (key, _) in &rows {
            self.raw.delete(TABLE, key)?;
        }
        Ok(rows.len())
    }
}
