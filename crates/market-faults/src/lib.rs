//! Storage faults on command, for tests: [`FaultyStorage`] is a file
//! (the database's or its redo log's) whose writes fail when its
//! [`FaultPlan`] says so. A test opens the store on it with
//! `market_store::RedbBackend::open_on(&path, move |file|
//! FaultyStorage::open(file, plan.clone()))`, keeps the plan, and steers it:
//! [`FaultPlan::fail_nth_write`], [`FaultPlan::fail_all_writes`],
//! [`FaultPlan::disk_full_at`], [`FaultPlan::clear`], and holds syncs
//! back ([`FaultPlan::hold_syncs`], [`SyncsHeld::release`]) to
//! catch a commit half-way. The plan outlives the
//! storage, so it still holds when the store opens the file again.
//!
//! A dependency of tests only: no server build carries it.

use std::fs::OpenOptions;
use std::io;
use std::ops::Bound;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};

use redb::backends::FileBackend;
use redb::{BackendError, StorageBackend};

/// What a [`FaultyStorage`] does wrong; shared between the storage (and its
/// later openings) and the test that steers it. No fault at first.
#[derive(Debug)]
pub struct FaultPlan {
    /// Writes until the failing one, counting it (0: none planned).
    countdown: AtomicU64,
    /// Every write, resize and sync fails.
    broken: AtomicBool,
    /// The file may not grow past this many bytes (`u64::MAX`: no limit).
    capacity: AtomicU64,
    /// Operations failed on purpose so far.
    injected: AtomicU64,
    /// Syncs held back.
    gate: Mutex<Gate>,
    released: Condvar,
}

/// Whether syncs wait, how many do, and whether the first one let go fails.
#[derive(Debug, Default)]
struct Gate {
    held: bool,
    waiting: usize,
    fail_one: bool,
}

/// Syncs held back by [`FaultPlan::hold_syncs`]; dropped, it lets them go
/// (without a failure) if nothing did before.
#[must_use = "dropping it lets the syncs go at once"]
pub struct SyncsHeld<'a>(&'a FaultPlan);

impl SyncsHeld<'_> {
    /// Let the waiting syncs go, and syncs pass again; with `fail`, the
    /// first one let go fails with an I/O error.
    pub fn release(self, fail: bool) {
        let mut gate = self.0.gate();
        gate.held = false;
        gate.fail_one = fail && gate.waiting > 0;
        self.0.released.notify_all();
    }
}

impl Drop for SyncsHeld<'_> {
    fn drop(&mut self) {
        let mut gate = self.0.gate();
        if gate.held {
            gate.held = false;
            self.0.released.notify_all();
        }
    }
}

impl FaultPlan {
    pub fn new() -> Arc<FaultPlan> {
        Arc::new(FaultPlan {
            countdown: AtomicU64::new(0),
            broken: AtomicBool::new(false),
            capacity: AtomicU64::new(u64::MAX),
            injected: AtomicU64::new(0),
            gate: Mutex::new(Gate::default()),
            released: Condvar::new(),
        })
    }

    fn gate(&self) -> std::sync::MutexGuard<'_, Gate> {
        self.gate.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// From now on a sync (the end of a durable commit) waits until
    /// [`SyncsHeld::release`], or until the guard returned is
    /// dropped: a test that fails while syncs are held lets them go as it
    /// unwinds instead of hanging on the threads waiting in them.
    pub fn hold_syncs(&self) -> SyncsHeld<'_> {
        self.gate().held = true;
        SyncsHeld(self)
    }

    /// How many syncs wait right now.
    pub fn syncs_waiting(&self) -> usize {
        self.gate().waiting
    }

    /// Wait while syncs are held; whether this one is to fail.
    fn pass_gate(&self) -> bool {
        let mut gate = self.gate();
        if !gate.held {
            return false;
        }
        gate.waiting += 1;
        while gate.held {
            gate = self
                .released
                .wait(gate)
                .unwrap_or_else(PoisonError::into_inner);
        }
        gate.waiting -= 1;
        std::mem::take(&mut gate.fail_one)
    }

    /// Fail the `n`th write from now (1: the next one; resizes and syncs do
    /// not count) with an I/O error, once; 0 plans none.
    pub fn fail_nth_write(&self, n: u64) {
        self.countdown.store(n, Ordering::SeqCst);
    }

    /// Fail every write, resize and sync with an I/O error until cleared.
    pub fn fail_all_writes(&self) {
        self.broken.store(true, Ordering::SeqCst);
    }

    /// A full disk: a write or resize that would take the file past
    /// `bytes` fails with "No space left on device"
    /// ([`io::ErrorKind::StorageFull`]) until cleared.
    pub fn disk_full_at(&self, bytes: u64) {
        self.capacity.store(bytes, Ordering::SeqCst);
    }

    /// No fault from now on.
    pub fn clear(&self) {
        self.countdown.store(0, Ordering::SeqCst);
        self.broken.store(false, Ordering::SeqCst);
        self.capacity.store(u64::MAX, Ordering::SeqCst);
    }

    /// How many operations failed on purpose so far.
    pub fn injected(&self) -> u64 {
        self.injected.load(Ordering::SeqCst)
    }

    fn inject(&self, error: io::Error) -> io::Result<()> {
        self.injected.fetch_add(1, Ordering::SeqCst);
        Err(error)
    }

    /// A write or resize may not happen while the storage is broken, nor
    /// reach past `end` when that is beyond the capacity.
    fn check_room(&self, end: u64) -> io::Result<()> {
        if self.broken.load(Ordering::SeqCst) {
            return self.inject(io::Error::other("injected I/O error"));
        }
        if end > self.capacity.load(Ordering::SeqCst) {
            return self.inject(io::Error::new(
                io::ErrorKind::StorageFull,
                "No space left on device",
            ));
        }
        Ok(())
    }

    /// Count a write down to the planned failure.
    fn check_write(&self) -> io::Result<()> {
        let counted = self
            .countdown
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
        if counted == Ok(1) {
            return self.inject(io::Error::other("injected write error"));
        }
        Ok(())
    }
}

/// A redb file that fails as its [`FaultPlan`] says. A failed write or
/// resize changes nothing in the file.
#[derive(Debug)]
pub struct FaultyStorage {
    file: FileBackend,
    plan: Arc<FaultPlan>,
}

impl FaultyStorage {
    /// The file at `path` (created when absent) under `plan`.
    pub fn open(path: &Path, plan: Arc<FaultPlan>) -> io::Result<FaultyStorage> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        Ok(FaultyStorage {
            file: FileBackend::new(file).map_err(io::Error::other)?,
            plan,
        })
    }
}

impl StorageBackend for FaultyStorage {
    fn len(&self) -> io::Result<u64> {
        self.file.len()
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> io::Result<()> {
        self.file.read(offset, out)
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        if len > self.file.len()? {
            self.plan.check_room(len)?;
        } else if self.plan.broken.load(Ordering::SeqCst) {
            self.plan.inject(io::Error::other("injected I/O error"))?;
        }
        self.file.set_len(len)
    }

    fn sync_data(&self) -> io::Result<()> {
        if self.plan.pass_gate() {
            self.plan.inject(io::Error::other("injected sync error"))?;
        }
        if self.plan.broken.load(Ordering::SeqCst) {
            self.plan.inject(io::Error::other("injected sync error"))?;
        }
        self.file.sync_data()
    }

    fn write(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        let end = u64::try_from(data.len())
            .ok()
            .and_then(|len| offset.checked_add(len))
            .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
        self.plan.check_room(end)?;
        self.plan.check_write()?;
        self.file.write(offset, data)
    }

    fn close(&self) -> io::Result<()> {
        self.file.close()
    }

    fn try_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.file.try_lock_range(start, end)
    }

    fn try_lock_shared_range(
        &self,
        start: Bound<u64>,
        end: Bound<u64>,
    ) -> Result<bool, BackendError> {
        self.file.try_lock_shared_range(start, end)
    }

    fn lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.file.lock_range(start, end)
    }

    fn lock_shared_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.file.lock_shared_range(start, end)
    }

    fn unlock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.file.unlock_range(start, end)
    }

    fn query_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.file.query_lock_range(start, end)
    }
}
