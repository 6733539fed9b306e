//! The raw, byte-level interface a storage engine implements.
//!
//! Tables are named byte-ordered maps. Everything typed (records, indexes,
//! audit) is built on top of this in [`crate::tx`], once, for every backend:
//! the redb backend here and a PostgreSQL backend (a table `(tbl, k, v)` with
//! a primary key on `(tbl, k)`) implement the same few operations.

use std::ops::Bound;

use crate::error::Result;

/// A key range inside one table.
#[derive(Debug, Clone)]
pub struct KeyRange {
    pub start: Bound<Vec<u8>>,
    pub end: Bound<Vec<u8>>,
}

impl KeyRange {
    /// Every key starting with `prefix`.
    pub fn prefix(prefix: &[u8]) -> KeyRange {
        KeyRange {
            start: Bound::Included(prefix.to_vec()),
            end: match prefix_successor(prefix) {
                Some(end) => Bound::Excluded(end),
                None => Bound::Unbounded,
            },
        }
    }

    /// Narrow the range so it ends before `key` (for descending pagination).
    pub fn before(mut self, key: Vec<u8>) -> KeyRange {
        self.end = Bound::Excluded(key);
        self
    }

    /// Narrow the range so it starts after `key` (for ascending pagination).
    pub fn after(mut self, key: Vec<u8>) -> KeyRange {
        self.start = Bound::Excluded(key);
        self
    }
}

/// The smallest byte string greater than every string starting with `prefix`.
fn prefix_successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// Scan direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    Ascending,
    Descending,
}

pub type Entry = (Vec<u8>, Vec<u8>);

/// Reads inside a transaction (a consistent snapshot).
pub trait RawRead {
    fn get(&self, table: &str, key: &[u8]) -> Result<Option<Vec<u8>>>;
    /// Up to `limit` entries of `range`, in `order`.
    fn scan(&self, table: &str, range: &KeyRange, order: Order, limit: usize)
    -> Result<Vec<Entry>>;
}

/// Writes inside a transaction; visible to later reads of the same transaction.
pub trait RawWrite: RawRead {
    fn put(&mut self, table: &str, key: &[u8], value: &[u8]) -> Result<()>;
    /// Returns whether the key was present.
    fn delete(&mut self, table: &str, key: &[u8]) -> Result<bool>;
}

/// A storage engine: runs closures in read and write transactions.
///
/// `write` commits when the closure returns `Ok(true)`, and rolls back when it
/// returns `Ok(false)` or an error. Backends may run a closure more than once
/// (serialization retries), so closures must not have effects outside the
/// transaction. A commit may not be durable yet when `write` returns: it
/// answers the commit's number, and [`Backend::wait_durable`] returns once
/// that commit is on disk.
pub trait Backend: Send + Sync {
    fn read(&self, f: &mut dyn FnMut(&dyn RawRead) -> Result<()>) -> Result<()>;
    /// The commit number, or `None` when the closure rolled back.
    fn write(&self, f: &mut dyn FnMut(&mut dyn RawWrite) -> Result<bool>) -> Result<Option<u64>>;
    /// Block until commit `commit` (and every earlier one) is durable.
    fn wait_durable(&self, commit: u64) -> Result<()>;
    /// Open a batch on this thread: the thread's next writes share one
    /// transaction until [`Backend::end_batch`]. `false` when a batch is
    /// open already (the caller then joins it) or batches are unsupported.
    fn begin_batch(&self) -> Result<bool> {
        Ok(false)
    }
    /// Commit (or roll back) the thread's batch; the commit's number. A batch
    /// in which a write failed rolls back and answers `BatchFailed`.
    fn end_batch(&self, _commit: bool) -> Result<Option<u64>> {
        Ok(None)
    }
    /// A cheap round trip proving the database answers.
    fn ping(&self) -> Result<()>;
    /// A short description for logs, e.g. `redb:./data/marketplace.redb`.
    fn describe(&self) -> String;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_ranges() {
        let r = KeyRange::prefix(b"ab");
        assert_eq!(r.start, Bound::Included(b"ab".to_vec()));
        assert_eq!(r.end, Bound::Excluded(b"ac".to_vec()));
        let r = KeyRange::prefix(&[1, 255]);
        assert_eq!(r.end, Bound::Excluded(vec![2]));
        let r = KeyRange::prefix(&[255, 255]);
        assert_eq!(r.end, Bound::Unbounded);
    }
}
