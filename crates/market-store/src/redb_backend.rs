//! The embedded default backend: one redb file, zero setup.
//!
//! Writes are batched and pipelined: the calls that write at about the
//! same time make one batch, which one write transaction applies and one
//! durable commit makes durable, while the next batch gathers. A batch is
//! made durable by its record in the redo log ([`crate::redo`]: one write
//! and one sync, while redb applies the batch), and redb commits it without
//! waiting for the disk; every so often a checkpoint, a commit redb makes
//! durable itself, takes in the batches before it. After a crash the file
//! opens at its last checkpoint and the log's batches are applied again.
//! Each call
//! runs, one at a time, in an overlay ([`crate::overlay`]) over a snapshot
//! of the database, the writes of the batch being committed (not in the
//! snapshot yet) and those of the calls before it in its batch; its writes
//! join the batch only when it succeeds, so a failing call rolls back alone.
//! Its caller then waits until the batch is durable: one waiting caller
//! (the leader) lets the calls already on their way join, commits the batch
//! for everyone, and the others wait for it. A batch whose commit fails
//! takes the batch gathered over it along. Readers see a batch once it is
//! durable; a thread that wrote and has not waited yet reads its own writes.
//! A bulk transaction ([`Backend::begin_batch`]) commits the open batch
//! first, and no batch gathers while it is open.
//!
//! Storage faults: after one I/O error (a failed write, resize, sync or
//! read, a full disk) redb refuses every later operation of that
//! [`Database`] (`PreviousIo`) until it is opened again. So the backend
//! watches its storage, the redo log's too; once it failed, the next call
//! drops the database and opens the file again, which brings it back to its
//! last checkpoint (redb repairs it), applies the log's batches up to the
//! last whose commit succeeded (without a checkpoint, so that a full disk
//! does not stop the reads), and carries on. While the fault lasts each
//! call tries that again and fails; when it clears, calls succeed, without
//! a restart.
//!
//! Commits that were not durable when the storage failed are lost to their
//! callers: they are answered with an error, never with success, even once
//! later commits (with higher numbers) are durable on the reopened file.
//! The reopened store holds every acknowledged commit, and a lost commit
//! only if the failed one was a checkpoint that got far enough to make it
//! durable after all (with a failed write or sync redb goes back to the
//! commit before); the redo record of a batch whose commit failed is made
//! unreadable before its callers hear of it. A process that ends (a crash)
//! while a batch's record is being written, or before a failed record could
//! be made unreadable, may find it whole at the next start and apply it,
//! though nobody heard it was durable. A commit is there whole or not at
//! all, and every acknowledged (durable) commit is kept.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, RwLock};

use redb::backends::FileBackend;
use redb::{
    BackendError, Database, DatabaseError, Durability, ReadableDatabase, ReadableTable,
    StorageBackend, TableDefinition, TableError,
};

use crate::backend::{Backend, StageTime, Stages, StoreRead, StoreWrite, WriteStats};
use crate::error::{Result, StoreError};
use crate::kv::{Entry, KeyRange, Kv, Order, RawRead, RawWrite};
use crate::overlay::{Layer, Overlay, Writes};
use crate::redo::{Recovered, RedoLog, checkpoint_bytes};

type Def<'a> = TableDefinition<'a, &'static [u8], &'static [u8]>;

/// Makes the storage of a file (the database's or its redo log's), at
/// start and again after a storage failure.
type OpenStorage = dyn Fn(&Path) -> std::io::Result<Box<dyn StorageBackend>> + Send + Sync;

/// The table where a checkpoint notes the last record of the redo log it
/// holds (under [`APPLIED`]), and where the database keeps the key its
/// log's records are checked with (under [`LOG_KEY`]).
const REDO: &str = "redb:redo";
const APPLIED: &[u8] = b"applied";
const LOG_KEY: &[u8] = b"key";

/// The redo log beside the database at `path`: its name with `.redo` added.
pub fn redo_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".redo");
    PathBuf::from(name)
}

/// The page cache of an embedded database unless told otherwise: redb's
/// own default (1 GiB) would hold a large marketplace in memory; pages
/// beyond the cache are read again from the file (the system's page cache,
/// which the process's RSS does not count). Small, so that a server under
/// its first load stays well under 64 MiB: a larger cache did not make
/// the bench's reads, writes or seed faster.
pub const DEFAULT_CACHE_BYTES: usize = 8 << 20;

/// A redb database file.
pub struct RedbBackend {
    path: PathBuf,
    /// redb's page cache, in bytes.
    cache_bytes: usize,
    /// Commits save the allocator state (see [`RedbBackend::with_quick_repair`]).
    quick_repair: bool,
    storage: Box<OpenStorage>,
    /// The open database; `None` after a storage failure until it opens again.
    current: RwLock<Option<Arc<Handle>>>,
    /// A snapshot of the latest durable commit (and the opening it was
    /// taken on), for reads that must not wait (see [`crate::unwaiting`]):
    /// redb makes a read transaction begun while a commit writes wait.
    latest: RwLock<Option<(u64, Arc<redb::ReadTransaction>)>>,
    /// The commit numbers and who waits for them (see [`GroupState::wake`]).
    group: Mutex<GroupState>,
    /// The batch open for writes to join, and the one being committed.
    open: Mutex<Open>,
    /// Told when the writes the leader waits for are in (or the batch is
    /// full), and when a bulk transaction ends.
    joined: Condvar,
    /// Writes that ever set out to join a batch; those not departed yet
    /// are on their way.
    arrivals: AtomicU64,
    /// Writes that ever joined a batch or gave up (counted under the lock
    /// of [`Open`], where the leader reads it).
    departures: AtomicU64,
    /// The last redo log record whose commit succeeded: reopened after a
    /// storage failure, the database applies the log up to it, and not the
    /// record of a commit that failed (its callers heard so).
    logged: AtomicU64,
    counters: Counters,
}

/// Writes gathered to be applied by one write transaction and made
/// durable by one commit.
struct Batch {
    /// The database as its first write found it.
    snapshot: Reader,
    /// The writes of the batch being committed when it opened, which the
    /// snapshot does not hold yet.
    prior: Option<Arc<Writes>>,
    /// The writes of the calls in it.
    writes: Writes,
    /// The opening of the database it was begun on.
    handle: Arc<Handle>,
    /// Its commit number.
    number: u64,
    /// The calls whose writes it holds.
    members: usize,
}

impl Batch {
    /// `f` on the batch as its next write sees it.
    fn read<R>(&self, f: impl FnOnce(&Layer<'_, Layer<'_, Reader>>) -> R) -> R {
        let none = Writes::default();
        let prior = Layer {
            writes: self.prior.as_deref().unwrap_or(&none),
            base: &self.snapshot,
        };
        f(&Layer {
            writes: &self.writes,
            base: &prior,
        })
    }
}

/// The batches of writes in flight.
#[derive(Default)]
struct Open {
    /// The batch gathering writes.
    batch: Option<Batch>,
    /// The writes of the batch being committed.
    committing: Option<Arc<Writes>>,
    /// Bulk transactions open: no batch gathers meanwhile.
    bulk: usize,
    /// A snapshot taken right after the latest commit (and the opening it
    /// was taken on), for the next batch: redb makes a read transaction
    /// begun while a commit writes wait for it, which would keep the next
    /// batch from gathering meanwhile.
    fresh: Option<(u64, Arc<redb::ReadTransaction>)>,
    /// The leader waits until this many writes have departed: those that
    /// set out before it began to wait.
    awaited: Option<u64>,
}

/// The most writes one batch takes; the writes after them wait for the
/// next one.
const MAX_BATCH: usize = 256;

/// What the batched writes did so far.
#[derive(Default)]
struct Counters {
    writes: AtomicU64,
    batches: AtomicU64,
    rows: AtomicU64,
    /// The calls' bodies, one at a time (see [`Joining::run`]).
    calls: StageClock,
    /// The leaders' commits (see [`RedbBackend::commit_open`]).
    commits: StageClock,
    /// Of them, redb's part and the redo log's (see [`RedbBackend::commit`]).
    engine: StageClock,
    /// Commits redb made durable itself (see [`crate::redo`]).
    checkpoints: AtomicU64,
}

/// Adds up the wall-clock and processor time of a stage that runs on one
/// thread at a time, in nanoseconds.
#[derive(Default)]
struct StageClock {
    busy: AtomicU64,
    cpu: AtomicU64,
}

impl StageClock {
    /// Time `f` into this stage.
    fn time<R>(&self, f: impl FnOnce() -> R) -> R {
        let (wall, cpu) = (std::time::Instant::now(), thread_cpu());
        let out = f();
        let nanos = |d: std::time::Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.busy
            .fetch_add(nanos(wall.elapsed()), Ordering::Relaxed);
        self.cpu
            .fetch_add(nanos(thread_cpu().saturating_sub(cpu)), Ordering::Relaxed);
        out
    }

    fn read(&self) -> StageTime {
        StageTime {
            busy: std::time::Duration::from_nanos(self.busy.load(Ordering::Relaxed)),
            cpu: std::time::Duration::from_nanos(self.cpu.load(Ordering::Relaxed)),
        }
    }
}

/// The processor time this thread has used (zero where the system cannot
/// tell).
fn thread_cpu() -> std::time::Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec for the call to fill in.
    if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &raw mut ts) } != 0 {
        return std::time::Duration::ZERO;
    }
    std::time::Duration::new(
        u64::try_from(ts.tv_sec).unwrap_or(0),
        u32::try_from(ts.tv_nsec).unwrap_or(0),
    )
}

/// One opening of the database.
struct Handle {
    db: Database,
    /// Batches are durable in it until a checkpoint (see [`crate::redo`]).
    redo: Mutex<RedoLog>,
    /// A bulk transaction committed without the redo log: the next commit
    /// must be a checkpoint, before a batch that read its writes is logged.
    unlogged: AtomicBool,
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
            self.health.fail(e);
        }
        result
    }
}

impl Health {
    /// The storage failed (first with `cause`): the next call opens the
    /// database again.
    fn fail(&self, cause: &impl std::fmt::Display) {
        self.cause
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get_or_insert_with(|| cause.to_string());
        self.failed.store(true, Ordering::Release);
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
    /// The number of the latest commit; a batch gets its number when it
    /// opens (no other commit can come between).
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
    /// The callers waiting for a commit, by its number: they are woken
    /// when it is durable or lost, and one of the oldest when the leader is
    /// done and a commit is left to lead, never all at every change.
    waiting: BTreeMap<u64, Arc<Condvar>>,
}

/// How many ranges of lost commits are remembered.
const LOST_RANGES: usize = 64;

impl GroupState {
    /// The opening in use failed: every commit not yet durable is lost, and
    /// commits from now on belong to the next opening.
    fn lose_pending(&mut self) {
        self.generation += 1;
        self.lose_open();
        self.wake();
    }

    /// A commit failed while the database stays open: every commit not
    /// yet durable is lost, the batch gathered over the failed one too.
    fn lose_open(&mut self) {
        if self.committed == self.durable {
            return;
        }
        match self.lost.last_mut() {
            Some(last) if last.0 == self.durable => last.1 = self.committed,
            _ => self.lost.push((self.durable, self.committed)),
        }
        self.forget_oldest();
    }

    fn forget_oldest(&mut self) {
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
        in_ranges(&self.lost, commit)
    }

    /// Whether a caller waiting for `commit` has its answer.
    fn settled(&self, commit: u64) -> bool {
        self.durable >= commit || self.is_lost(commit)
    }

    /// Wake the callers whose commits are settled and, with no leader
    /// committing, one caller of the oldest commit still pending, to lead.
    fn wake(&mut self) {
        let (durable, lost) = (self.durable, &self.lost);
        self.waiting.retain(|&commit, waiters| {
            let settled = durable >= commit || in_ranges(lost, commit);
            if settled {
                waiters.notify_all();
            }
            !settled
        });
        if !self.flushing
            && let Some(waiters) = self.waiting.values().next()
        {
            waiters.notify_one();
        }
    }
}

/// Whether `commit` is in one of the ranges `(after, upto]`.
fn in_ranges(ranges: &[(u64, u64)], commit: u64) -> bool {
    ranges
        .iter()
        .any(|&(after, upto)| after < commit && commit <= upto)
}

fn lost_commit() -> StoreError {
    StoreError::Backend(
        "the storage failed before this write was durable; it was not acknowledged".into(),
    )
}

/// The storage could not be opened.
/// Logs a repair's progress, a line per tenth: after a crash without
/// quick repair, the first opening checks the whole file.
fn repair_progress(path: &Path) -> impl Fn(&mut redb::RepairSession) + 'static {
    let path = path.display().to_string();
    let logged = AtomicUsize::new(usize::MAX);
    move |session| {
        let tenths = (session.progress() * 10.0) as usize;
        if logged.swap(tenths, Ordering::Relaxed) != tenths {
            tracing::warn!(path = %path, done = %format!("{}%", tenths * 10), "repairing the database after an unclean shutdown");
        }
    }
}

/// Make the entry of `file`, just created or renamed, durable in its
/// folder: until then a crash of the machine may forget the file, and the
/// writes synced in it with it.
pub fn sync_folder(file: &Path) -> std::io::Result<()> {
    let folder = match file.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    std::fs::File::open(folder)?.sync_all()
}

fn open_error(path: &Path, e: &std::io::Error) -> StoreError {
    StoreError::Backend(format!("cannot open {}: {e}", path.display()))
}

/// Rewrite the embedded database at `path` so that it keeps no free
/// pages, as an operator does offline (the file must not be open
/// elsewhere): its sizes in bytes before and after. Copy-on-write leaves
/// the pages a large load replaced free inside the file; new writes reuse
/// them, but the file does not shrink by itself.
pub fn compact(path: &Path) -> Result<(u64, u64)> {
    let size = || {
        std::fs::metadata(path)
            .map(|m| m.len())
            .map_err(|e| open_error(path, &e))
    };
    let before = size()?;
    let in_use = || {
        StoreError::Backend(format!(
            "{} is in use by another process: stop the server first",
            path.display()
        ))
    };
    // What the redo log holds goes into the file first.
    drop(RedbBackend::open(path).map_err(|e| match e {
        StoreError::Locked { .. } => in_use(),
        e => e,
    })?);
    let mut db = redb::Database::open(path).map_err(|e| match e {
        redb::DatabaseError::DatabaseAlreadyOpen => in_use(),
        e => StoreError::Backend(format!("cannot open {}: {e}", path.display())),
    })?;
    while db
        .compact()
        .map_err(|e| StoreError::Backend(format!("cannot compact {}: {e}", path.display())))?
    {}
    drop(db);
    Ok((before, size()?))
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
        RedbBackend::open_on_cached(path, cache_bytes, |file: &Path| {
            let new = !file.exists();
            let opened = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(file)?;
            if new {
                sync_folder(file)?;
            }
            FileBackend::new(opened).map_err(std::io::Error::other)
        })
    }

    /// Open the database at `path` on the storage `storage` makes of a
    /// file's path (a new database when it is empty): `path` for the
    /// database and [`redo_path`] for its redo log. `storage` is called
    /// again to reopen them after the storage failed, so it must give the
    /// same data each time (for a file, open it again).
    pub fn open_on<S: StorageBackend>(
        path: &Path,
        storage: impl Fn(&Path) -> std::io::Result<S> + Send + Sync + 'static,
    ) -> Result<RedbBackend> {
        RedbBackend::open_on_cached(path, DEFAULT_CACHE_BYTES, storage)
    }

    fn open_on_cached<S: StorageBackend>(
        path: &Path,
        cache_bytes: usize,
        storage: impl Fn(&Path) -> std::io::Result<S> + Send + Sync + 'static,
    ) -> Result<RedbBackend> {
        let backend = RedbBackend {
            path: path.to_path_buf(),
            cache_bytes,
            quick_repair: true,
            storage: Box::new(move |file| {
                storage(file).map(|s| -> Box<dyn StorageBackend> { Box::new(s) })
            }),
            current: RwLock::new(None),
            latest: RwLock::new(None),
            group: Mutex::new(GroupState::default()),
            open: Mutex::new(Open::default()),
            joined: Condvar::new(),
            arrivals: AtomicU64::new(0),
            departures: AtomicU64::new(0),
            logged: AtomicU64::new(u64::MAX),
            counters: Counters::default(),
        };
        let first = Arc::new(backend.open_database(0)?);
        backend.keep_latest(&first);
        *backend.current_mut() = Some(first);
        Ok(backend)
    }

    /// With quick repair (the default), every checkpoint (redb's own
    /// durable commit) also saves redb's allocator state and commits in two
    /// phases (two syncs), so that the file opens at once after a crash.
    /// Without it, a checkpoint syncs once and is just as durable, but the
    /// first opening after a crash checks and rebuilds the whole file first
    /// (seconds per GB).
    #[must_use]
    pub fn with_quick_repair(mut self, on: bool) -> RedbBackend {
        self.quick_repair = on;
        self
    }

    fn open_database(&self, generation: u64) -> Result<Handle> {
        let health = Arc::new(Health::default());
        let storage = Watched {
            storage: (self.storage)(&self.path).map_err(|e| open_error(&self.path, &e))?,
            health: health.clone(),
        };
        let db = Database::builder()
            .set_cache_size(self.cache_bytes)
            .set_repair_callback(repair_progress(&self.path))
            .create_with_backend(storage)
            .map_err(|e| match e {
                DatabaseError::DatabaseAlreadyOpen => StoreError::Locked {
                    path: self.path.display().to_string(),
                },
                other => {
                    StoreError::Backend(format!("cannot open {}: {other}", self.path.display()))
                }
            })?;
        // At the first opening every intact record counts: its caller may
        // have heard it is durable before the process ended.
        let upto = self.logged.load(Ordering::Acquire);
        let log_path = redo_path(&self.path);
        let log = Watched {
            storage: (self.storage)(&log_path).map_err(|e| open_error(&log_path, &e))?,
            health: health.clone(),
        };
        let redo = self.recover(&db, Arc::new(log), upto)?;
        Ok(Handle {
            db,
            redo: Mutex::new(redo),
            unlogged: AtomicBool::new(false),
            generation,
            health,
        })
    }

    /// Open the redo log on `storage` and apply again the batches it holds
    /// that `db`, just opened at its last checkpoint, does not (up to
    /// record `upto`).
    fn recover(
        &self,
        db: &Database,
        storage: Arc<dyn StorageBackend>,
        upto: u64,
    ) -> Result<RedoLog> {
        let damaged = || {
            StoreError::Backend(format!(
                "{}: the redo log's position is damaged",
                self.path.display()
            ))
        };
        let number = |bytes: Option<Vec<u8>>| -> Result<Option<u64>> {
            bytes
                .map(|b| {
                    Ok(u64::from_le_bytes(
                        b.as_slice().try_into().map_err(|_| damaged())?,
                    ))
                })
                .transpose()
        };
        let reader = Reader::new(db.begin_read()?);
        let applied = number(reader.get(REDO, APPLIED)?)?.unwrap_or(0);
        let key = match number(reader.get(REDO, LOG_KEY)?)? {
            Some(key) => key,
            None => {
                let mut key = [0u8; 8];
                getrandom::fill(&mut key).map_err(|e| {
                    StoreError::Backend(format!("no randomness for the redo log's key: {e}"))
                })?;
                let mut tx = db.begin_write()?;
                tx.set_quick_repair(self.quick_repair);
                (&Writer::new(&tx)).put(REDO, LOG_KEY, &key)?;
                tx.commit()?;
                u64::from_le_bytes(key)
            }
        };
        let redo = redo_path(&self.path);
        let Recovered { log, batches } = RedoLog::open(
            storage,
            key,
            applied,
            upto,
            checkpoint_bytes(self.cache_bytes),
        )
        .map_err(|e| open_error(&redo, &e))?;
        if !batches.is_empty() {
            // Not waiting for the disk, nor needing room for a checkpoint:
            // the log keeps them durable until the next one.
            let mut tx = db.begin_write()?;
            tx.set_durability(Durability::None)
                .map_err(|e| StoreError::Backend(e.to_string()))?;
            {
                let mut writer = &Writer::new(&tx);
                for writes in &batches {
                    writes.apply(&mut writer)?;
                }
            }
            tx.commit()?;
            tracing::info!(path = %self.path.display(), batches = batches.len(), "applied the redo log's batches");
        }
        self.logged.store(log.last(), Ordering::Release);
        Ok(log)
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
        self.keep_latest(&handle);
        *current = Some(handle.clone());
        Ok(handle)
    }

    /// Take the snapshot reads that must not wait use, right after a
    /// commit (or an opening), while no commit writes.
    fn keep_latest(&self, handle: &Handle) {
        let snapshot = handle.db.begin_read().ok().map(Arc::new);
        *self.latest.write().unwrap_or_else(PoisonError::into_inner) =
            snapshot.map(|tx| (handle.generation, tx));
    }

    /// The opening in use and the snapshot of its latest durable commit,
    /// when both are at hand without waiting.
    fn latest_now(&self) -> Option<(Arc<Handle>, Arc<redb::ReadTransaction>)> {
        let current = self.current.try_read().ok()?;
        let handle = current.as_ref().filter(|h| !h.failed())?;
        let latest = self.latest.try_read().ok()?;
        let (generation, tx) = latest.as_ref()?;
        (*generation == handle.generation).then(|| (handle.clone(), tx.clone()))
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

    /// Return once commit number `mine` is durable, committing the open
    /// batch as the leader when nobody else is; an error when it never
    /// will be.
    fn wait_until(&self, mine: u64) -> Result<()> {
        let mut state = self.state();
        loop {
            if state.settled(mine) {
                if self.unsettled().is_some_and(|n| n <= mine) {
                    UNSETTLED.set(None);
                }
                return if state.durable >= mine && !state.is_lost(mine) {
                    Ok(())
                } else {
                    Err(lost_commit())
                };
            }
            if state.flushing {
                let waiters = state.waiting.entry(mine).or_default().clone();
                state = waiters.wait(state).unwrap_or_else(|p| p.into_inner());
                continue;
            }
            state.flushing = true;
            drop(state);
            let committed = self.counters.commits.time(|| self.commit_open(true));
            state = self.state();
            state.flushing = false;
            state.wake();
            // The failure of the commit that took this write along says
            // more than "lost".
            if let Err(e) = committed
                && state.durable < mine
            {
                return Err(e);
            }
        }
    }

    fn lock_open(&self) -> MutexGuard<'_, Open> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Commit the open batch durably, which makes every earlier commit
    /// durable too; with no batch open, an empty transaction. The leader
    /// first lets the writes that set out before it join (`let_join`).
    fn commit_open(&self, let_join: bool) -> Result<()> {
        let mut open = self.lock_open();
        let set_out = self.arrivals.load(Ordering::Acquire);
        while let_join
            && open.bulk == 0
            && self.departures.load(Ordering::Acquire) < set_out
            && open.batch.as_ref().is_some_and(|b| b.members < MAX_BATCH)
        {
            open.awaited = Some(set_out);
            open = self
                .joined
                .wait(open)
                .unwrap_or_else(PoisonError::into_inner);
        }
        open.awaited = None;
        let Some(batch) = open.batch.take() else {
            drop(open);
            let handle = self.handle()?;
            let number = self.number();
            return self.commit(&handle, number, &Writes::default());
        };
        // The next batch gathers over these writes until they are in.
        let writes = Arc::new(batch.writes);
        open.committing = Some(writes.clone());
        drop(open);
        let committed = self.commit(&batch.handle, batch.number, &writes);
        let mut open = self.lock_open();
        if open
            .committing
            .as_ref()
            .is_some_and(|w| Arc::ptr_eq(w, &writes))
        {
            open.committing = None;
        }
        committed
    }

    /// The next commit number.
    fn number(&self) -> u64 {
        let mut state = self.state();
        state.committed += 1;
        state.committed
    }

    /// A new batch over `prior`, the writes of the batch being committed,
    /// and a snapshot: `fresh`, taken after the latest commit, or one taken
    /// now (after `prior` was read, so that what the snapshot misses,
    /// `prior` holds).
    fn open_batch(
        &self,
        prior: Option<Arc<Writes>>,
        fresh: Option<(u64, Arc<redb::ReadTransaction>)>,
    ) -> Result<Batch> {
        let handle = self.handle()?;
        let snapshot = match fresh.filter(|(generation, _)| *generation == handle.generation) {
            Some((_, tx)) => Reader::shared(tx),
            None => match handle.db.begin_read() {
                Ok(tx) => Reader::new(tx),
                Err(e) => return self.check(&handle, Err(e.into())),
            },
        };
        Ok(Batch {
            snapshot,
            prior,
            writes: Writes::default(),
            number: self.number(),
            handle,
            members: 0,
        })
    }

    /// Apply `writes` in one write transaction and commit it durably as
    /// commit `number`. When it fails, every commit not yet durable is
    /// lost: the batch gathering now read these writes.
    fn commit(&self, handle: &Arc<Handle>, number: u64, writes: &Writes) -> Result<()> {
        {
            let state = self.state();
            if handle.generation != state.generation || state.is_lost(number) {
                return Err(lost_commit());
            }
        }
        let result = self
            .counters
            .engine
            .time(|| self.write_durably(handle, writes));
        let result = self.check(handle, result);
        let last_record = result.as_ref().ok().copied();
        let result = result.map(drop);
        // Before anyone hears the commit is durable: a caller told so then
        // reads its writes, even without waiting. (A commit that ends after
        // the file was opened again leaves that opening's snapshot alone.)
        match &result {
            Ok(()) if handle.generation == self.state().generation => self.keep_latest(handle),
            Err(_) if handle.failed() => {
                *self.latest.write().unwrap_or_else(PoisonError::into_inner) = None;
            }
            _ => {}
        }
        match &result {
            Ok(()) => {
                {
                    let mut state = self.state();
                    if state.generation == handle.generation {
                        state.durable = state.durable.max(number);
                        self.counters.batches.fetch_add(1, Ordering::Relaxed);
                        if let Some(last) = last_record {
                            self.logged.store(last, Ordering::Release);
                        }
                    }
                }
                // Set before the caller lets go of `writes`: a batch opening
                // on the snapshot the commit left behind needs them until then.
                self.lock_open().fresh = self
                    .latest
                    .read()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clone();
            }
            // The batch gathering read the lost writes, and it may hold a
            // failed opening of the file, which must close to open again.
            // All under the lock batches open under, so that none opens
            // over the lost writes between their loss and its dropping.
            Err(_) => {
                let mut open = self.lock_open();
                self.state().lose_open();
                open.fresh = None;
                open.batch = None;
                open.committing = None;
            }
        }
        self.state().wake();
        result
    }

    /// Apply `writes` in one write transaction and make it durable: in the
    /// redo log, which is synced while redb applies them, with a commit
    /// that does not wait for the disk; or, when the log is full, when a
    /// bulk transaction committed without it or when there are no writes,
    /// by a checkpoint, a commit redb makes durable, which also takes in
    /// every commit before it.
    fn write_durably(&self, handle: &Handle, writes: &Writes) -> Result<u64> {
        let mut redo = handle.redo.lock().unwrap_or_else(PoisonError::into_inner);
        let mut tx = handle.db.begin_write()?;
        tx.set_quick_repair(self.quick_repair);
        // Taken after `begin_write`: a bulk transaction that committed
        // before it has set it, and none commits while this one is open.
        let unlogged = handle.unlogged.swap(false, Ordering::AcqRel);
        if writes.is_empty() || redo.full() || unlogged {
            let checkpointed = Self::checkpoint_in(tx, writes, redo.last());
            if checkpointed.is_err() {
                handle.unlogged.fetch_or(unlogged, Ordering::AcqRel);
            }
            checkpointed?;
            redo.restart();
            self.counters.checkpoints.fetch_add(1, Ordering::Relaxed);
            return Ok(redo.last());
        }
        tx.set_durability(Durability::None)
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        let failed = |e: std::io::Error| {
            handle.health.fail(&e);
            StoreError::Backend(format!("cannot write the redo log: {e}"))
        };
        // The record is written and synced while the rows go in.
        redo.append(writes).map_err(failed)?;
        let applied = writes.apply(&mut &Writer::new(&tx));
        redo.appended().map_err(failed)?;
        // Only now may readers see the writes: they are durable.
        let committed = applied.and_then(|()| tx.commit().map_err(StoreError::from));
        if committed.is_err() {
            // Its callers hear that it failed: its record must not come
            // back after a restart.
            redo.retract().map_err(failed).ok();
        }
        committed.map(|()| redo.last())
    }

    /// Commit `writes` in `tx` as a checkpoint, noting that the log's
    /// records up to number `last` are in.
    fn checkpoint_in(tx: redb::WriteTransaction, writes: &Writes, last: u64) -> Result<()> {
        {
            let mut writer = &Writer::new(&tx);
            writes.apply(&mut writer)?;
            writer.put(REDO, APPLIED, &last.to_le_bytes())?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Make every commit durable in the database itself, so that the redo
    /// log is empty, as a clean shutdown leaves it.
    fn checkpoint(&self) -> Result<()> {
        let handle = self.handle()?;
        if handle
            .redo
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_empty()
            && !handle.unlogged.load(Ordering::Acquire)
        {
            return Ok(());
        }
        let result = self.write_durably(&handle, &Writes::default());
        self.check(&handle, result).map(drop)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for RedbBackend {
    fn drop(&mut self) {
        if let Err(e) = self.checkpoint() {
            tracing::warn!(path = %self.path.display(), error = %e, "the redo log is applied at the next start instead");
        }
    }
}

fn collect<T: ReadableTable<&'static [u8], &'static [u8]>>(
    table: &T,
    range: &KeyRange,
    order: Order,
    limit: usize,
) -> Result<Vec<Entry>> {
    let iter = table.range::<&[u8]>(range.bounds())?;
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

type ReadTable = redb::ReadOnlyTable<&'static [u8], &'static [u8]>;

/// A read transaction, keeping each table open once it was used (a list
/// reads one table for each record it holds).
struct Reader {
    tx: Arc<redb::ReadTransaction>,
    /// `None`: the table does not exist in this snapshot.
    tables: RefCell<HashMap<String, Option<ReadTable>, foldhash::fast::RandomState>>,
}

impl Reader {
    fn new(tx: redb::ReadTransaction) -> Reader {
        Reader::shared(Arc::new(tx))
    }

    /// A reader of a snapshot others read too.
    fn shared(tx: Arc<redb::ReadTransaction>) -> Reader {
        Reader {
            tx,
            tables: RefCell::new(HashMap::default()),
        }
    }

    /// `f` on the table, or `missing` when there is no such table.
    fn with_table<R>(
        &self,
        name: &str,
        missing: R,
        f: impl FnOnce(&ReadTable) -> Result<R>,
    ) -> Result<R> {
        let mut tables = self.tables.borrow_mut();
        if !tables.contains_key(name) {
            let table = match self.tx.open_table(Def::new(name)) {
                Ok(t) => Some(t),
                Err(TableError::TableDoesNotExist(_)) => None,
                Err(e) => return Err(e.into()),
            };
            tables.insert(name.to_string(), table);
        }
        match tables.get(name) {
            Some(Some(table)) => f(table),
            _ => Ok(missing),
        }
    }
}

impl RawRead for Reader {
    fn get(&self, table: &str, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.with_table(table, None, |t| Ok(t.get(key)?.map(|v| v.value().to_vec())))
    }

    fn scan(
        &self,
        table: &str,
        range: &KeyRange,
        order: Order,
        limit: usize,
    ) -> Result<Vec<Entry>> {
        self.with_table(table, Vec::new(), |t| collect(t, range, order, limit))
    }
}

type Table<'a> = redb::Table<'a, &'static [u8], &'static [u8]>;

/// Writes in one transaction, keeping each table open once it was used.
struct Writer<'a> {
    tx: &'a redb::WriteTransaction,
    tables: RefCell<HashMap<String, Table<'a>, foldhash::fast::RandomState>>,
}

impl<'a> Writer<'a> {
    fn new(tx: &'a redb::WriteTransaction) -> Writer<'a> {
        Writer {
            tx,
            tables: RefCell::new(HashMap::default()),
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

// On a shared reference: the tables are behind a `RefCell`, and a batch
// keeps its writer in a [`Tx`] that lends it out shared.
impl RawRead for &Writer<'_> {
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

impl RawWrite for &Writer<'_> {
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

self_cell::self_cell!(
    /// A write transaction with its writer, which keeps the tables the
    /// writes used open for the next ones of the batch.
    struct Tx {
        owner: redb::WriteTransaction,
        #[not_covariant]
        dependent: Writer,
    }
);

impl Tx {
    fn begin(tx: redb::WriteTransaction) -> Tx {
        Tx::new(tx, |tx| Writer::new(tx))
    }

    /// Run `f` on the transaction's writer.
    fn write<R>(&self, f: impl FnOnce(&Writer<'_>) -> R) -> R {
        self.with_dependent(|_, writer| f(writer))
    }

    /// The transaction, its tables closed, to commit or abort.
    fn finish(self) -> redb::WriteTransaction {
        self.into_owner()
    }
}

/// A batch open on this thread: one write transaction that the writes of
/// several calls share, committed or rolled back as a whole.
struct OpenBatch {
    /// The backend it belongs to (its address).
    owner: usize,
    tx: Tx,
    /// The opening of the database it was begun on.
    handle: Arc<Handle>,
    /// A write inside failed: the batch can only roll back.
    failed: bool,
}

thread_local! {
    static BATCH: RefCell<Option<OpenBatch>> = const { RefCell::new(None) };
    /// The batch holding this thread's latest write that it has not waited
    /// for yet: the backend (its address) and the batch's number.
    static UNSETTLED: Cell<Option<(usize, u64)>> = const { Cell::new(None) };
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

    /// Forget this thread's write not waited for: another thread waits.
    pub(crate) fn hand_over_unsettled() {
        UNSETTLED.set(None);
    }

    /// The number of the batch holding this thread's latest write, while
    /// the thread has not waited for it.
    fn unsettled(&self) -> Option<u64> {
        UNSETTLED
            .get()
            .filter(|(owner, _)| *owner == self.key())
            .map(|(_, number)| number)
    }

    fn put_batch(open: OpenBatch) {
        BATCH.with(|b| *b.borrow_mut() = Some(open));
    }

    /// Commit (or roll back) a bulk transaction; the commit's number.
    fn finish_bulk(&self, open: OpenBatch, commit: bool) -> Result<Option<u64>> {
        if !commit || open.failed {
            let aborted = open.tx.finish().abort().map_err(StoreError::from);
            self.check(&open.handle, aborted)?;
            return if open.failed {
                Err(StoreError::BatchFailed)
            } else {
                Ok(None)
            };
        }
        self.commit_quick(&open.handle, open.tx.finish()).map(Some)
    }

    /// A bulk transaction ended: batches may gather again.
    fn end_bulk(&self) {
        let mut open = self.lock_open();
        open.bulk = open.bulk.saturating_sub(1);
        // the bulk transaction's writes are not in it
        open.fresh = None;
        drop(open);
        self.joined.notify_all();
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
        handle.unlogged.store(true, Ordering::Release);
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
            let result = open.tx.write(|w| f(&Kv(w)));
            Self::put_batch(open);
            return result;
        }
        if crate::durability::unwaiting_now()
            && self.unsettled().is_none()
            && let Some((handle, tx)) = self.latest_now()
        {
            let result = f(&Kv(Reader::shared(tx)));
            return self.check(&handle, result);
        }
        if let Some(mine) = self.unsettled() {
            // This thread wrote and did not wait: its reads see its writes.
            let open = self.lock_open();
            if let Some(batch) = open.batch.as_ref().filter(|b| b.number == mine) {
                let result = batch.read(|layer| f(&Kv(layer)));
                return self.check(&batch.handle.clone(), result);
            }
            drop(open);
            // Being committed right now: wait for it (a lost write is not read).
            let _ = self.wait_until(mine);
        }
        let handle = self.handle()?;
        let result = handle
            .db
            .begin_read()
            .map_err(StoreError::from)
            .and_then(|tx| f(&Kv(Reader::new(tx))));
        self.check(&handle, result)
    }

    fn write(&self, f: &mut dyn FnMut(&mut dyn StoreWrite) -> Result<bool>) -> Result<Option<u64>> {
        if let Some(mut open) = self.take_batch() {
            let result = open.tx.write(|w| f(&mut Kv(w)));
            open.failed |= !matches!(result, Ok(true));
            Self::put_batch(open);
            return result.map(|_| None);
        }
        self.arrivals.fetch_add(1, Ordering::AcqRel);
        let mut open = self.lock_open();
        while open.bulk > 0 {
            open = self
                .joined
                .wait(open)
                .unwrap_or_else(PoisonError::into_inner);
        }
        self.counters.calls.time(|| {
            Joining {
                backend: self,
                open,
            }
            .run(f)
        })
    }

    fn begin_batch(&self) -> Result<bool> {
        if BATCH.with(|b| b.borrow().is_some()) {
            return Ok(false);
        }
        // No batch gathers while this transaction is open (it would not
        // see its writes), and the open one commits first: this thread's
        // earlier writes may wait in it.
        let pending = {
            let mut open = self.lock_open();
            open.bulk += 1;
            open.batch.as_ref().map(|b| b.number)
        };
        if let Some(number) = pending {
            // Durable or lost, it is out of the way; a lost one's writer
            // hears of it.
            self.wait_until(number).ok();
        }
        let begun = self
            .handle()
            .and_then(|handle| match Self::begin_quick(&handle) {
                Ok(tx) => Ok((handle, tx)),
                Err(e) => self.check(&handle, Err(e)),
            });
        let (handle, tx) = match begun {
            Ok(begun) => begun,
            Err(e) => {
                self.end_bulk();
                return Err(e);
            }
        };
        Self::put_batch(OpenBatch {
            owner: self.key(),
            tx: Tx::begin(tx),
            handle,
            failed: false,
        });
        Ok(true)
    }

    fn end_batch(&self, commit: bool) -> Result<Option<u64>> {
        let open = self
            .take_batch()
            .ok_or_else(|| StoreError::Backend("no batch is open".into()))?;
        let ended = self.finish_bulk(open, commit);
        self.end_bulk();
        ended
    }

    fn wait_durable(&self, commit: u64) -> Result<()> {
        self.wait_until(commit)
    }

    fn write_stats(&self) -> WriteStats {
        WriteStats {
            writes: self.counters.writes.load(Ordering::Relaxed),
            batches: self.counters.batches.load(Ordering::Relaxed),
            checkpoints: self.counters.checkpoints.load(Ordering::Relaxed),
            rows: self.counters.rows.load(Ordering::Relaxed),
            // departures first: a write counted there arrived before
            queued: {
                let departed = self.departures.load(Ordering::Acquire);
                self.arrivals
                    .load(Ordering::Acquire)
                    .saturating_sub(departed)
            },
            stages: Stages {
                calls: self.counters.calls.read(),
                commits: self.counters.commits.read(),
                engine: self.counters.engine.read(),
            },
        }
    }

    /// Not after a storage failure (the next read opens the file again),
    /// nor while the file is being opened again.
    fn reads_in_process(&self) -> bool {
        self.latest_now().is_some()
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

/// A write joining the open batch: it holds the batch while it runs. When
/// it is done (or unwinds), a batch nobody's writes are in is dropped, and
/// the leader waiting for the writes on their way hears of it.
struct Joining<'a> {
    backend: &'a RedbBackend,
    open: MutexGuard<'a, Open>,
}

impl Joining<'_> {
    /// Run `f` in an overlay over the open batch (opening one when none
    /// is); its writes join the batch when it succeeds. The batch's number.
    fn run(
        &mut self,
        f: &mut dyn FnMut(&mut dyn StoreWrite) -> Result<bool>,
    ) -> Result<Option<u64>> {
        let backend = self.backend;
        let stale = self.open.batch.as_ref().is_some_and(|b| {
            let state = backend.state();
            b.handle.failed() || b.handle.generation != state.generation || state.is_lost(b.number)
        });
        if stale {
            // Its storage failed, or a commit it gathered over: it is lost.
            self.open.batch = None;
        }
        if self.open.batch.is_none() {
            let prior = self.open.committing.clone();
            let fresh = self.open.fresh.clone();
            self.open.batch = Some(backend.open_batch(prior, fresh)?);
        }
        let Some(batch) = self.open.batch.as_mut() else {
            return Err(StoreError::Backend("no batch to join".into()));
        };
        let (outcome, writes) = batch.read(|layer| {
            let mut kv = Kv(Overlay::new(layer));
            let outcome = f(&mut kv);
            (outcome, kv.0.into_writes())
        });
        match outcome {
            Ok(true) => {
                let counters = &backend.counters;
                counters.writes.fetch_add(1, Ordering::Relaxed);
                counters
                    .rows
                    .fetch_add(writes.rows() as u64, Ordering::Relaxed);
                batch.writes.merge(writes);
                batch.members += 1;
                UNSETTLED.set(Some((backend.key(), batch.number)));
                Ok(Some(batch.number))
            }
            Ok(false) => Ok(None),
            Err(e) => {
                let handle = batch.handle.clone();
                if handle.failed() {
                    self.open.batch = None;
                }
                backend.check(&handle, Err(e))
            }
        }
    }
}

impl Drop for Joining<'_> {
    fn drop(&mut self) {
        if self.open.batch.as_ref().is_some_and(|b| b.members == 0) {
            self.open.batch = None;
        }
        let departed = self.backend.departures.fetch_add(1, Ordering::AcqRel) + 1;
        // A leader waits until the writes that set out before it are in
        // or the batch is full.
        if self.open.awaited.is_some_and(|n| departed >= n)
            || self
                .open
                .batch
                .as_ref()
                .is_none_or(|b| b.members >= MAX_BATCH)
        {
            self.backend.joined.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{GroupState, LOST_RANGES, sync_folder};

    #[test]
    fn a_new_files_folder_is_synced_or_the_failure_said() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("m.redb");
        std::fs::write(&file, b"").unwrap();
        sync_folder(&file).unwrap();
        // a bare name is in the current folder
        sync_folder(std::path::Path::new("m.redb")).unwrap();
        let lost = sync_folder(&dir.path().join("gone/m.redb")).unwrap_err();
        assert_eq!(lost.kind(), std::io::ErrorKind::NotFound);
    }

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
