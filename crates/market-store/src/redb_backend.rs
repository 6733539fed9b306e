//! The embedded default backend: one redb file, zero setup.
//!
//! Writes use group commit: each write transaction commits without waiting
//! for the disk; its caller then waits until a durable commit covers it. One
//! waiting caller (the leader) makes that durable commit for everyone who
//! committed before it, so under load one fsync serves many transactions.
//!
//! Storage faults: after one I/O error (a failed write, resize, sync or
//! read, a full disk) redb refuses every later operation of that
//! [`Database`] (`PreviousIo`) until it is opened again. So the backend
//! watches its storage; once it failed, the next call drops the database and
//! opens the file again, which brings it back to its last durable commit
//! (redb repairs it), and carries on. While the fault lasts each call tries
//! that again and fails; when it clears, calls succeed, without a restart.
//!
//! Commits that were not durable when the storage failed are lost to their
//! callers: they are answered with an error, never with success, even once
//! later commits (with higher numbers) are durable on the reopened file.
//! The reopened file holds the last durable commit, and a lost commit only
//! if the failed durable commit got far enough to make it durable after
//! all (with a failed write or sync redb goes back to the commit before).
//! A commit is there whole or not at all, and every acknowledged (durable)
//! commit is kept.

use std::cell::RefCell;
use std::collections::HashMap;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError, RwLock};

use redb::backends::FileBackend;
use redb::{
    BackendError, Database, DatabaseError, Durability, ReadableDatabase, ReadableTable,
    StorageBackend, TableDefinition, TableError,
};

use crate::backend::{Backend, StoreRead, StoreWrite};
use crate::error::{Result, StoreError};
use crate::kv::{Entry, KeyRange, Kv, Order, RawRead, RawWrite};

type Def<'a> = TableDefinition<'a, &'static [u8], &'static [u8]>;

/// Makes the storage a database is opened on, at start and again after a
/// storage failure.
type OpenStorage = dyn Fn() -> std::io::Result<Box<dyn StorageBackend>> + Send + Sync;

/// The page cache of an embedded database unless told otherwise: redb's
/// own default (1 GiB) would hold a large marketplace in memory; pages
/// beyond the cache are read again from the file (the system's page cache).
pub const DEFAULT_CACHE_BYTES: usize = 64 << 20;

/// A redb database file.
pub struct RedbBackend {
    path: PathBuf,
    /// redb's page cache, in bytes.
    cache_bytes: usize,
    storage: Box<OpenStorage>,
    /// The open database; `None` after a storage failure until it opens again.
    current: RwLock<Option<Arc<Handle>>>,
    group: Mutex<GroupState>,
    flushed: Condvar,
}

/// One opening of the database.
struct Handle {
    db: Database,
    /// Counts openings: a commit of an earlier one cannot be made durable
    /// by this one.
    generation: u64,
    health: Arc<Health>,
}

impl Handle {
    fn failed(&self) -> bool {
        self.health.failed.load(Ordering::Acquire)
    }

    /// The first error its storage reported.
    fn cause(&self) -> String {
        self.health
            .cause
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .unwrap_or_default()
    }
}

/// Whether the storage of one opening failed (redb then refuses everything
/// until the database is opened again), and its first error: redb answers
/// later calls with `PreviousIo`, which does not say what happened.
#[derive(Debug, Default)]
struct Health {
    failed: AtomicBool,
    cause: Mutex<Option<String>>,
}

/// The storage a database is opened on, telling its [`Health`].
#[derive(Debug)]
struct Watched {
    storage: Box<dyn StorageBackend>,
    health: Arc<Health>,
}

impl Watched {
    fn watch<T, E: std::fmt::Display>(
        &self,
        result: std::result::Result<T, E>,
    ) -> std::result::Result<T, E> {
        if let Err(e) = &result {
            let mut cause = self
                .health
                .cause
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            cause.get_or_insert_with(|| e.to_string());
            self.health.failed.store(true, Ordering::Release);
        }
        result
    }
}

impl StorageBackend for Watched {
    fn len(&self) -> std::io::Result<u64> {
        self.watch(self.storage.len())
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> std::io::Result<()> {
        self.watch(self.storage.read(offset, out))
    }

    fn set_len(&self, len: u64) -> std::io::Result<()> {
        self.watch(self.storage.set_len(len))
    }

    fn sync_data(&self) -> std::io::Result<()> {
        self.watch(self.storage.sync_data())
    }

    fn write(&self, offset: u64, data: &[u8]) -> std::io::Result<()> {
        self.watch(self.storage.write(offset, data))
    }

    fn close(&self) -> std::io::Result<()> {
        self.storage.close()
    }

    fn try_lock_range(
        &self,
        start: Bound<u64>,
        end: Bound<u64>,
    ) -> std::result::Result<bool, BackendError> {
        self.storage.try_lock_range(start, end)
    }

    fn try_lock_shared_range(
        &self,
        start: Bound<u64>,
        end: Bound<u64>,
    ) -> std::result::Result<bool, BackendError> {
        self.storage.try_lock_shared_range(start, end)
    }

    fn lock_range(
        &self,
        start: Bound<u64>,
        end: Bound<u64>,
    ) -> std::result::Result<(), BackendError> {
        self.storage.lock_range(start, end)
    }

    fn lock_shared_range(
        &self,
        start: Bound<u64>,
        end: Bound<u64>,
    ) -> std::result::Result<(), BackendError> {
        self.storage.lock_shared_range(start, end)
    }

    // redb fails every later operation when an unlock fails, as after an I/O error.
    fn unlock_range(
        &self,
        start: Bound<u64>,
        end: Bound<u64>,
    ) -> std::result::Result<(), BackendError> {
        self.watch(self.storage.unlock_range(start, end))
    }

    fn query_lock_range(
        &self,
        start: Bound<u64>,
        end: Bound<u64>,
    ) -> std::result::Result<bool, BackendError> {
        self.storage.query_lock_range(start, end)
    }
}

/// Commits made, commits made durable, whether a leader is flushing, and
/// the commits a storage failure took.
#[derive(Default)]
struct GroupState {
    committed: u64,
    durable: u64,
    flushing: bool,
    /// The opening commits are made in now.
    generation: u64,
    /// Ranges `(after, upto]` of commits that were not durable when the
    /// storage failed, oldest first. Consecutive failures with no durable
    /// commit between them share one range, and at most [`LOST_RANGES`] are
    /// kept (see [`GroupState::lose_pending`]).
    lost: Vec<(u64, u64)>,
}

/// How many ranges of lost commits are remembered.
const LOST_RANGES: usize = 64;

impl GroupState {
    /// The opening in use failed: every commit not yet durable is lost, and
    /// commits from now on belong to the next opening.
    fn lose_pending(&mut self) {
        self.generation += 1;
        if self.committed == self.durable {
            return;
        }
        match self.lost.last_mut() {
            Some(last) if last.0 == self.durable => last.1 = self.committed,
            _ => self.lost.push((self.durable, self.committed)),
        }
        if self.lost.len() > LOST_RANGES {
            // Joining the two oldest ranges also counts the durable commits
            // between them as lost: a caller still waiting on one of those
            // (after dozens of failures) gets an error for a kept write,
            // never success for a lost one.
            let (after, _) = self.lost.remove(0);
            self.lost[0].0 = after;
        }
    }

    fn is_lost(&self, commit: u64) -> bool {
        self.lost
            .iter()
            .any(|&(after, upto)| after < commit && commit <= upto)
    }
}

fn lost_commit() -> StoreError {
    StoreError::Backend(
        "the storage failed before this write was durable; it was not acknowledged".into(),
    )
}

/// The storage could not be opened.
fn open_error(path: &Path, e: &std::io::Error) -> StoreError {
    StoreError::Backend(format!("cannot open {}: {e}", path.display()))
}

impl RedbBackend {
    /// Open the file, creating it (and its folder) when absent, with the
    /// default cache.
    pub fn open(path: &Path) -> Result<RedbBackend> {
        RedbBackend::open_cached(path, DEFAULT_CACHE_BYTES)
    }

    /// Open the file with a page cache of `cache_bytes`.
    pub fn open_cached(path: &Path, cache_bytes: usize) -> Result<RedbBackend> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                StoreError::Backend(format!("cannot create folder {}: {e}", dir.display()))
            })?;
        }
        let file_path = path.to_path_buf();
        RedbBackend::open_on_cached(path, cache_bytes, move || {
            let file = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&file_path)?;
            FileBackend::new(file).map_err(std::io::Error::other)
        })
    }

    /// Open the database on the storage `storage` makes (a new database
    /// when it is empty); `path` names it in logs and [`RedbBackend::path`].
    /// `storage` is called again to reopen the database after the storage
    /// failed, so it must give the same data each time (for a file, open it
    /// again).
    pub fn open_on<S: StorageBackend>(
        path: &Path,
        storage: impl Fn() -> std::io::Result<S> + Send + Sync + 'static,
    ) -> Result<RedbBackend> {
        RedbBackend::open_on_cached(path, DEFAULT_CACHE_BYTES, storage)
    }

    fn open_on_cached<S: StorageBackend>(
        path: &Path,
        cache_bytes: usize,
        storage: impl Fn() -> std::io::Result<S> + Send + Sync + 'static,
    ) -> Result<RedbBackend> {
        let backend = RedbBackend {
            path: path.to_path_buf(),
            cache_bytes,
            storage: Box::new(move || {
                storage().map(|s| -> Box<dyn StorageBackend> { Box::new(s) })
            }),
            current: RwLock::new(None),
            group: Mutex::new(GroupState::default()),
            flushed: Condvar::new(),
        };
        let first = backend.open_database(0)?;
        *backend.current_mut() = Some(Arc::new(first));
        Ok(backend)
    }

    fn open_database(&self, generation: u64) -> Result<Handle> {
        let health = Arc::new(Health::default());
        let storage = (self.storage)().map_err(|e| open_error(&self.path, &e))?;
        let watched = Watched {
            storage,
            health: health.clone(),
        };
        let db = Database::builder()
            .set_cache_size(self.cache_bytes)
            .create_with_backend(watched)
            .map_err(|e| match e {
                DatabaseError::DatabaseAlreadyOpen => StoreError::Locked {
                    path: self.path.display().to_string(),
                },
                other => {
                    StoreError::Backend(format!("cannot open {}: {other}", self.path.display()))
                }
            })?;
        Ok(Handle {
            db,
            generation,
            health,
        })
    }

    fn current_mut(&self) -> std::sync::RwLockWriteGuard<'_, Option<Arc<Handle>>> {
        self.current.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// The open database: the one in use unless its storage failed, else a
    /// new opening of the file.
    fn handle(&self) -> Result<Arc<Handle>> {
        if let Some(handle) = self
            .current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .filter(|h| !h.failed())
        {
            return Ok(handle.clone());
        }
        let mut current = self.current_mut();
        if let Some(handle) = current.as_ref() {
            if !handle.failed() {
                return Ok(handle.clone());
            }
            self.state().lose_pending();
            self.flushed.notify_all();
            // The file closes once the last call still using it lets go;
            // until then opening it again fails (`Locked`), and the next
            // call tries again.
            *current = None;
        }
        let generation = self.state().generation;
        let handle = Arc::new(self.open_database(generation).inspect_err(|e| {
            tracing::warn!(path = %self.path.display(), error = %e, "cannot reopen the database after a storage failure");
        })?);
        tracing::info!(path = %self.path.display(), "database reopened after a storage failure");
        *current = Some(handle.clone());
        Ok(handle)
    }

    /// `result` of an operation on `handle`. When its storage failed, the
    /// handle is retired at once, so that callers waiting for durability
    /// learn that their commits are lost, and a storage error says what
    /// failed.
    fn check<T>(&self, handle: &Arc<Handle>, result: Result<T>) -> Result<T> {
        match result {
            Err(StoreError::Backend(_)) if handle.failed() => {
                let cause = handle.cause();
                let mut current = self.current_mut();
                if current.as_ref().is_some_and(|h| Arc::ptr_eq(h, handle)) {
                    tracing::error!(path = %self.path.display(), error = %cause, "storage failure: the database is opened again on the next call");
                    self.state().lose_pending();
                    self.flushed.notify_all();
                    *current = None;
                }
                Err(StoreError::Backend(format!("storage failure: {cause}")))
            }
            other => other,
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, GroupState> {
        self.group.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Return once commit number `mine` is durable, flushing as the leader
    /// when nobody else is; an error when it never will be.
    fn wait_until(&self, mine: u64) -> Result<()> {
        let mut state = self.state();
        loop {
            if state.is_lost(mine) {
                return Err(lost_commit());
            }
            if state.durable >= mine {
                return Ok(());
            }
            if state.flushing {
                state = self.flushed.wait(state).unwrap_or_else(|p| p.into_inner());
                continue;
            }
            state.flushing = true;
            let (target, generation) = (state.committed, state.generation);
            drop(state);
            let flushed = self.flush(generation);
            state = self.state();
            state.flushing = false;
            if flushed.is_ok() && state.generation == generation {
                state.durable = state.durable.max(target);
            }
            self.flushed.notify_all();
            if !state.is_lost(mine) {
                flushed?;
            }
        }
    }

    /// A durable commit on opening `generation`, which makes every earlier
    /// commit of it durable too.
    fn flush(&self, generation: u64) -> Result<()> {
        let handle = self.handle()?;
        if handle.generation != generation {
            // Reopened since: what was to be flushed is lost.
            return Err(lost_commit());
        }
        let result = (|| {
            let mut tx = handle.db.begin_write()?;
            tx.set_durability(Durability::Immediate)
                .map_err(|e| StoreError::Backend(e.to_string()))?;
            tx.set_quick_repair(true);
            tx.commit()?;
            Ok(())
        })();
        self.check(&handle, result)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn bounds(range: &KeyRange) -> (Bound<&[u8]>, Bound<&[u8]>) {
    fn b(x: &Bound<Vec<u8>>) -> Bound<&[u8]> {
        match x {
            Bound::Included(v) => Bound::Included(v.as_slice()),
            Bound::Excluded(v) => Bound::Excluded(v.as_slice()),
            Bound::Unbounded => Bound::Unbounded,
        }
    }
    (b(&range.start), b(&range.end))
}

fn collect<T: ReadableTable<&'static [u8], &'static [u8]>>(
    table: &T,
    range: &KeyRange,
    order: Order,
    limit: usize,
) -> Result<Vec<Entry>> {
    let iter = table.range::<&[u8]>(bounds(range))?;
    let mut out = Vec::new();
    let mut push = |item: std::result::Result<_, redb::StorageError>| -> Result<bool> {
        let (k, v): (redb::AccessGuard<&[u8]>, redb::AccessGuard<&[u8]>) = item?;
        out.push((k.value().to_vec(), v.value().to_vec()));
        Ok(out.len() < limit)
    };
    if limit == 0 {
        return Ok(Vec::new());
    }
    match order {
        Order::Ascending => {
            for item in iter {
                if !push(item)? {
                    break;
                }
            }
        }
        Order::Descending => {
            for item in iter.rev() {
                if !push(item)? {
                    break;
                }
            }
        }
    }
    Ok(out)
}

struct Reader(redb::ReadTransaction);

impl RawRead for Reader {
    fn get(&self, table: &str, key: &[u8]) -> Result<Option<Vec<u8>>> {
        match self.0.open_table(Def::new(table)) {
            Ok(t) => Ok(t.get(key)?.map(|v| v.value().to_vec())),
            Err(TableError::TableDoesNotExist(_)) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    fn scan(
        &self,
        table: &str,
        range: &KeyRange,
        order: Order,
        limit: usize,
    ) -> Result<Vec<Entry>> {
        match self.0.open_table(Def::new(table)) {
            Ok(t) => collect(&t, range, order, limit),
            Err(TableError::TableDoesNotExist(_)) => Ok(Vec::new()),
            Err(e) => Err(e.into()),
        }
    }
}

type Table<'a> = redb::Table<'a, &'static [u8], &'static [u8]>;

/// Writes in one transaction, keeping each table open once it was used.
struct Writer<'a> {
    tx: &'a redb::WriteTransaction,
    tables: RefCell<HashMap<String, Table<'a>>>,
}

impl<'a> Writer<'a> {
    fn new(tx: &'a redb::WriteTransaction) -> Writer<'a> {
        Writer {
            tx,
            tables: RefCell::new(HashMap::new()),
        }
    }

    fn with_table<R>(&self, name: &str, f: impl FnOnce(&mut Table<'a>) -> Result<R>) -> Result<R> {
        let mut tables = self.tables.borrow_mut();
        if let Some(table) = tables.get_mut(name) {
            return f(table);
        }
        let mut table = self.tx.open_table(Def::new(name))?;
        let out = f(&mut table);
        tables.insert(name.to_string(), table);
        out
    }
}

impl RawRead for Writer<'_> {
    fn get(&self, table: &str, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.with_table(table, |t| Ok(t.get(key)?.map(|v| v.value().to_vec())))
    }

    fn scan(
        &self,
        table: &str,
        range: &KeyRange,
        order: Order,
        limit: usize,
    ) -> Result<Vec<Entry>> {
        self.with_table(table, |t| collect(&*t, range, order, limit))
    }
}

impl RawWrite for Writer<'_> {
    fn put(&mut self, table: &str, key: &[u8], value: &[u8]) -> Result<()> {
        self.with_table(table, |t| {
            t.insert(key, value)?;
            Ok(())
        })
    }

    fn delete(&mut self, table: &str, key: &[u8]) -> Result<bool> {
        self.with_table(table, |t| Ok(t.remove(key)?.is_some()))
    }
}

/// A batch open on this thread: one write transaction that the writes of
/// several calls share, committed or rolled back as a whole.
struct OpenBatch {
    /// The backend it belongs to (its address).
    owner: usize,
    tx: redb::WriteTransaction,
    /// The opening of the database it was begun on.
    handle: Arc<Handle>,
    /// A write inside failed: the batch can only roll back.
    failed: bool,
}

thread_local! {
    static BATCH: RefCell<Option<OpenBatch>> = const { RefCell::new(None) };
}

impl RedbBackend {
    fn key(&self) -> usize {
        std::ptr::from_ref(self) as usize
    }

    /// Take this backend's open batch off the thread, to use and put back.
    fn take_batch(&self) -> Option<OpenBatch> {
        BATCH.with(|b| {
            let mut slot = b.borrow_mut();
            match slot.as_ref() {
                Some(open) if open.owner == self.key() => slot.take(),
                _ => None,
            }
        })
    }

    fn put_batch(open: OpenBatch) {
        BATCH.with(|b| *b.borrow_mut() = Some(open));
    }

    /// A write transaction that commits without waiting for the disk.
    fn begin_quick(handle: &Handle) -> Result<redb::WriteTransaction> {
        let mut tx = handle.db.begin_write()?;
        tx.set_durability(Durability::None)
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        Ok(tx)
    }

    /// Commit a transaction of `handle` without waiting for the disk; its number.
    fn commit_quick(&self, handle: &Arc<Handle>, tx: redb::WriteTransaction) -> Result<u64> {
        // Numbered under the group lock right after the commit, so a leader
        // that read `committed` covers exactly the commits before its flush.
        let mut state = self.state();
        if handle.generation != state.generation {
            // The database was reopened meanwhile: the next flush is not
            // this transaction's (dropping it rolls it back).
            return Err(lost_commit());
        }
        let committed = tx.commit();
        if committed.is_ok() {
            state.committed += 1;
        }
        let number = state.committed;
        drop(state);
        self.check(handle, committed.map(|()| number).map_err(StoreError::from))
    }
}

impl Backend for RedbBackend {
    fn read(&self, f: &mut dyn FnMut(&dyn StoreRead) -> Result<()>) -> Result<()> {
        if let Some(open) = self.take_batch() {
            // Inside a batch, reads see the batch's own writes.
            let result = f(&Kv(Writer::new(&open.tx)));
            Self::put_batch(open);
            return result;
        }
        let handle = self.handle()?;
        let result = handle
            .db
            .begin_read()
            .map_err(StoreError::from)
            .and_then(|tx| f(&Kv(Reader(tx))));
        self.check(&handle, result)
    }

    fn write(&self, f: &mut dyn FnMut(&mut dyn StoreWrite) -> Result<bool>) -> Result<Option<u64>> {
        if let Some(mut open) = self.take_batch() {
            let result = f(&mut Kv(Writer::new(&open.tx)));
            open.failed |= !matches!(result, Ok(true));
            Self::put_batch(open);
            return result.map(|_| None);
        }
        let handle = self.handle()?;
        let tx = match Self::begin_quick(&handle) {
            Ok(tx) => tx,
            Err(e) => return self.check(&handle, Err(e)),
        };
        let outcome = f(&mut Kv(Writer::new(&tx)));
        match outcome {
            Ok(true) => self.commit_quick(&handle, tx).map(Some),
            Ok(false) => {
                let aborted = tx.abort().map_err(StoreError::from);
                self.check(&handle, aborted.map(|()| None))
            }
            Err(e) => {
                drop(tx);
                self.check(&handle, Err(e))
            }
        }
    }

    fn begin_batch(&self) -> Result<bool> {
        if BATCH.with(|b| b.borrow().is_some()) {
            return Ok(false);
        }
        let handle = self.handle()?;
        let tx = match Self::begin_quick(&handle) {
            Ok(tx) => tx,
            Err(e) => return self.check(&handle, Err(e)),
        };
        Self::put_batch(OpenBatch {
            owner: self.key(),
            tx,
            handle,
            failed: false,
        });
        Ok(true)
    }

    fn end_batch(&self, commit: bool) -> Result<Option<u64>> {
        let open = self
            .take_batch()
            .ok_or_else(|| StoreError::Backend("no batch is open".into()))?;
        if !commit || open.failed {
            let aborted = open.tx.abort().map_err(StoreError::from);
            self.check(&open.handle, aborted)?;
            return if open.failed {
                Err(StoreError::BatchFailed)
            } else {
                Ok(None)
            };
        }
        self.commit_quick(&open.handle, open.tx).map(Some)
    }

    fn wait_durable(&self, commit: u64) -> Result<()> {
        self.wait_until(commit)
    }

    fn ping(&self) -> Result<()> {
        let handle = self.handle()?;
        let result = handle.db.begin_read().map(drop).map_err(StoreError::from);
        self.check(&handle, result)
    }

    fn describe(&self) -> String {
        format!("redb:{}", self.path.display())
    }
}

#[cfg(test)]
mod tests {
    use super::{GroupState, LOST_RANGES};

    #[test]
    fn commits_pending_at_a_failure_stay_lost_and_ranges_join_until_a_durable_commit() {
        let mut s = GroupState {
            committed: 3,
            durable: 1,
            ..GroupState::default()
        };
        s.lose_pending();
        assert_eq!((s.generation, s.lost.clone()), (1, vec![(1, 3)]));
        assert!(!s.is_lost(1) && s.is_lost(2) && s.is_lost(3) && !s.is_lost(4));
        // failing again before anything became durable widens the range
        s.committed = 5;
        s.lose_pending();
        assert_eq!(s.lost, vec![(1, 5)]);
        // nothing pending: nothing lost
        s.durable = 6;
        s.committed = 6;
        s.lose_pending();
        assert_eq!((s.generation, s.lost.clone()), (3, vec![(1, 5)]));
        // a lost commit after a durable one starts a range of its own
        s.committed = 7;
        s.lose_pending();
        assert_eq!(s.lost, vec![(1, 5), (6, 7)]);
        assert!(!s.is_lost(6) && s.is_lost(7));
    }

    #[test]
    fn past_the_limit_the_oldest_ranges_join_and_stay_lost() {
        let mut s = GroupState::default();
        for _ in 0..LOST_RANGES + 2 {
            s.committed += 1;
            s.lose_pending();
            s.committed += 1;
            s.durable = s.committed;
        }
        assert_eq!(s.lost.len(), LOST_RANGES);
        // the first lost commit is still lost; the durable ones between the
        // joined ranges count as lost too, the ones after them do not
        assert!(s.is_lost(1) && s.is_lost(2) && s.is_lost(5));
        assert!(!s.is_lost(6) && s.is_lost(7));
    }
}
