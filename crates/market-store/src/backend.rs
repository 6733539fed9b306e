//! The contract a storage engine implements.
//!
//! It speaks of what the store keeps, not of bytes under keys: root objects
//! (a record with its id, version, timestamps and indexed values), the
//! audit trail, append-only logs, idempotency records and snapshots. So
//! each backend can keep them its own way: redb in byte-ordered tables with
//! index tables beside them ([`crate::RedbBackend`]), PostgreSQL in one
//! table per root object with a real column and index per indexed field
//! ([`crate::PgBackend`]). Records travel as their JSON text, secret fields
//! already sealed; the typed layer ([`crate::tx`]) encodes and decodes them.

use std::time::Duration;

use crate::error::{Result, StoreError};
use crate::idempotency::IdempotencyRecord;
use crate::record::{IndexSpec, TableSpec};
use crate::tx::{AuditEntry, AuditFilter};
use crate::types::{Id, Timestamp};

/// A root object as stored: its meta fields and its JSON text.
#[derive(Debug, Clone, Copy)]
pub struct Row<'a> {
    pub id: Id,
    pub version: u64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub data: &'a [u8],
}

/// The values of each indexed field of a record, in the order of
/// [`TableSpec::indexes`], as written (not yet folded to lower case).
pub type IndexValues = [Vec<String>];

/// An append-only log: rows with a sequence number that rises by one per
/// row with no gap a reader can see, an optional unique id (appending an
/// id already present does nothing) and a body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogSpec {
    /// The log's name; on PostgreSQL its table is `log_<name>`.
    pub name: &'static str,
    /// The body is JSON (a `jsonb` column on PostgreSQL) rather than opaque bytes.
    pub json: bool,
    /// Top-level fields of a JSON body that get their own column and
    /// index on PostgreSQL, for operators' queries.
    pub columns: &'static [&'static str],
}

/// Reads inside a transaction (a consistent snapshot).
pub trait StoreRead {
    /// A record's JSON text.
    fn get(&self, table: &TableSpec, id: Id) -> Result<Option<Vec<u8>>>;
    /// Up to `limit` records, newest first, older than `before` when given.
    fn list(&self, table: &TableSpec, before: Option<Id>, limit: usize) -> Result<Vec<Vec<u8>>>;
    /// Up to `limit` records whose `index` holds `value`, newest first.
    fn find(
        &self,
        table: &TableSpec,
        index: &IndexSpec,
        value: &str,
        before: Option<Id>,
        limit: usize,
    ) -> Result<Vec<Vec<u8>>>;
    /// The record holding `value` in a unique index.
    fn find_unique(
        &self,
        table: &TableSpec,
        index: &IndexSpec,
        value: &str,
    ) -> Result<Option<Vec<u8>>>;
    /// Start looking up the record holding `value` in a unique index, for
    /// a [`StoreRead::find_unique`] of it later in the transaction: a
    /// backend that sends statements ahead answers the two lookups in one
    /// round trip. A write to the table in between makes the later lookup
    /// ask again.
    fn prefetch_unique(&self, _table: &TableSpec, _index: &IndexSpec, _value: &str) -> Result<()> {
        Ok(())
    }
    fn count(&self, table: &TableSpec) -> Result<u64>;
    /// Are records read back byte for byte as they were written? (Not on
    /// PostgreSQL, whose `jsonb` orders keys its own way.)
    fn keeps_text(&self) -> bool {
        false
    }
    /// Up to `limit` audit entries, newest first, older than `before` when given.
    fn audit(
        &self,
        filter: AuditFilter<'_>,
        before: Option<Id>,
        limit: usize,
    ) -> Result<Vec<AuditEntry>>;
    /// The sequence number of the log's latest row (0 when empty).
    fn log_last(&self, log: &LogSpec) -> Result<u64>;
    /// Up to `limit` rows after `seq`, oldest first.
    fn log_after(&self, log: &LogSpec, seq: u64, limit: usize) -> Result<Vec<(u64, Vec<u8>)>>;
    /// The sequence number of the row with this id.
    fn log_seq(&self, log: &LogSpec, id: Id) -> Result<Option<u64>>;
    /// The body of the row with this id, in the log or appended earlier in
    /// this transaction (whose number a backend may give only at commit).
    fn log_find(&self, log: &LogSpec, id: Id) -> Result<Option<Vec<u8>>> {
        let Some(seq) = self.log_seq(log, id)? else {
            return Ok(None);
        };
        let row = self
            .log_after(log, seq.saturating_sub(1), 1)?
            .into_iter()
            .next();
        Ok(row.filter(|(s, _)| *s == seq).map(|(_, body)| body))
    }
    /// Up to `limit` ids of rows with an id, after `after`, by id, with
    /// their sequence numbers (copy and restore keep them).
    fn log_ids(&self, log: &LogSpec, after: Option<Id>, limit: usize) -> Result<Vec<(Id, u64)>>;
    /// An idempotency record as stored (its response maybe sealed).
    fn idempotency(&self, scope: &str) -> Result<Option<IdempotencyRecord>>;
    /// Up to `limit` idempotency records with a scope after `after`, by scope.
    fn idempotency_after(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, IdempotencyRecord)>>;
    fn snapshot(&self, name: &str) -> Result<Option<Vec<u8>>>;
    /// Every snapshot's name.
    fn snapshot_names(&self) -> Result<Vec<String>>;
}

/// Writes inside a transaction; later reads of the same transaction see them.
pub trait StoreWrite: StoreRead {
    /// Store a new record; `UniqueTaken` when its id is stored already
    /// (field `id`) or a unique value is held by another.
    fn insert(&mut self, table: &TableSpec, row: &Row<'_>, values: &IndexValues) -> Result<()>;
    /// Replace a record; `old` are the values the stored record indexed.
    fn update(
        &mut self,
        table: &TableSpec,
        row: &Row<'_>,
        old: &IndexValues,
        new: &IndexValues,
    ) -> Result<()>;
    fn delete(&mut self, table: &TableSpec, id: Id, old: &IndexValues) -> Result<()>;
    fn append_audit(&mut self, entry: &AuditEntry) -> Result<()>;
    /// Append several audit entries (a transaction's, at its end).
    fn append_audits(&mut self, entries: &[AuditEntry]) -> Result<()> {
        entries.iter().try_for_each(|e| self.append_audit(e))
    }
    /// Append a row unless a row of `id` is there already (in the log or
    /// appended earlier in this transaction).
    fn log_append(&mut self, log: &LogSpec, id: Option<Id>, body: &[u8]) -> Result<Appended>;
    /// Append a row under a new id, whose number its writer needs only once
    /// the write is over: the number now, or `None` when the backend
    /// numbers the row as the write commits (its number then comes from
    /// [`Backend::last_appended`] when the write returns).
    fn log_append_new(&mut self, log: &LogSpec, id: Id, body: &[u8]) -> Result<Option<u64>> {
        match self.log_append(log, Some(id), body)? {
            Appended::Now(seq) => Ok(Some(seq)),
            Appended::AtCommit => Ok(None),
            Appended::Present => Err(StoreError::Corrupt {
                table: log.name.into(),
                reason: format!("id {id} appended twice"),
            }),
        }
    }
    /// Append a row without an id.
    fn log_push(&mut self, log: &LogSpec, body: &[u8]) -> Result<()> {
        self.log_append(log, None, body).map(|_| ())
    }
    /// Append a row under a sequence number of its own (copy and restore),
    /// raising the log's sequence to it.
    fn log_put(&mut self, log: &LogSpec, seq: u64, id: Option<Id>, body: &[u8]) -> Result<()>;
    /// Forget rows up to and including `seq`, at most `limit` of them.
    fn log_prune(&mut self, log: &LogSpec, seq: u64, limit: usize) -> Result<usize>;
    fn put_idempotency(&mut self, scope: &str, record: &IdempotencyRecord) -> Result<()>;
    fn delete_idempotency(&mut self, scope: &str) -> Result<()>;
    /// Delete up to `limit` records created before `cutoff`, oldest first.
    fn purge_idempotency(&mut self, cutoff: Timestamp, limit: usize) -> Result<usize>;
    fn put_snapshot(&mut self, name: &str, bytes: &[u8]) -> Result<()>;
}

/// What a backend's batched writes did so far, for metrics: several
/// calls' writes share one durable commit (see [`crate::RedbBackend`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteStats {
    /// Writes that committed.
    pub writes: u64,
    /// Durable commits of batches of them.
    pub batches: u64,
    /// Of the durable commits, those the storage engine made durable
    /// itself (checkpoints), the others being durable in its redo log
    /// (see [`crate::RedbBackend`]).
    pub checkpoints: u64,
    /// Keys the writes put or deleted.
    pub rows: u64,
    /// Writes waiting for the open batch right now.
    pub queued: u64,
    /// How long the two stages of a batched write that run one at a time
    /// were busy, and the storage engine's part of the second.
    pub stages: Stages,
}

/// How long the two serial stages of batched writes were busy in all,
/// and the storage engine's part of the commits: a stage busy nearly all
/// the time bounds the write rate, whatever the cores and the disk could
/// still take. Zero on a backend that does not batch writes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stages {
    /// The calls' bodies, each in its overlay over the open batch.
    pub calls: StageTime,
    /// The leaders' commits: waiting for the calls on their way, applying
    /// the batch's rows, the durable commit.
    pub commits: StageTime,
    /// Of the commits, the storage engine's part: the batch's rows put in
    /// its tables and made durable, in its redo log (written and synced
    /// while the rows go in) or by a checkpoint.
    pub engine: StageTime,
}

/// Time spent in a stage that runs on one thread at a time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StageTime {
    /// Wall-clock time.
    pub busy: Duration,
    /// Of it, time on a processor; the rest went waiting for a core, the
    /// disk or a lock.
    pub cpu: Duration,
}

/// A storage engine: runs closures in read and write transactions.
///
/// `write` commits when the closure returns `Ok(true)`, and rolls back when it
/// returns `Ok(false)` or an error. Backends may run a closure more than once
/// (serialization retries), so closures must not have effects outside the
/// transaction. A commit may not be durable yet when `write` returns: it
/// answers the commit's number, and [`Backend::wait_durable`] returns once
/// that commit is on disk.
/// What [`StoreWrite::log_append`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Appended {
    /// Appended under this number.
    Now(u64),
    /// Appended; the backend numbers it as the transaction commits.
    AtCommit,
    /// A row of that id is there already: nothing was appended.
    Present,
}

pub trait Backend: Send + Sync {
    fn read(&self, f: &mut dyn FnMut(&dyn StoreRead) -> Result<()>) -> Result<()>;
    /// [`Backend::read`] without the promise of one snapshot: each read
    /// sees what was committed when it ran.
    fn read_each(&self, f: &mut dyn FnMut(&dyn StoreRead) -> Result<()>) -> Result<()> {
        self.read(f)
    }
    /// The commit number, or `None` when the closure rolled back or the
    /// commit is durable already.
    fn write(&self, f: &mut dyn FnMut(&mut dyn StoreWrite) -> Result<bool>) -> Result<Option<u64>>;
    /// [`Backend::write`] on behalf of a writer known by `affinity` (a hash
    /// of the actor). A backend that runs several write transactions side
    /// by side keeps the writes of one affinity in the same one, so that a
    /// writer's next write does not meet its previous one as a conflict.
    fn write_for(
        &self,
        _affinity: u64,
        f: &mut dyn FnMut(&mut dyn StoreWrite) -> Result<bool>,
    ) -> Result<Option<u64>> {
        self.write(f)
    }
    /// Block until commit `commit` (and every earlier one) is durable.
    fn wait_durable(&self, commit: u64) -> Result<()>;
    /// The highest number the commit of the write that just returned on
    /// this thread gave the rows it appended with
    /// [`StoreWrite::log_append_new`].
    fn last_appended(&self) -> Option<u64> {
        None
    }
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
    /// What the batched writes did so far (zero where writes are not batched).
    fn write_stats(&self) -> WriteStats {
        WriteStats::default()
    }
    /// A cheap round trip proving the database answers.
    fn ping(&self) -> Result<()>;
    /// Can a read be answered now within this process: an embedded file in
    /// good health, with no round trip to a server and no repair of the
    /// file to wait for?
    fn reads_in_process(&self) -> bool {
        false
    }
    /// Several processes may write to this database at once.
    fn shared(&self) -> bool {
        false
    }
    /// Run `f` unless another process is running the job `name` right
    /// now; whether it ran. Only one process opens an embedded database,
    /// so there it always runs.
    fn exclusive(&self, _name: &str, f: &mut dyn FnMut()) -> Result<bool> {
        f();
        Ok(true)
    }
    /// A short description for logs, e.g. `redb:./data/marketplace.redb`.
    fn describe(&self) -> String;
}
