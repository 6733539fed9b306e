//! The embedded default backend: one redb file, zero setup.
//!
//! Writes use group commit: each write transaction commits without waiting
//! for the disk; its caller then waits until a durable commit covers it. One
//! waiting caller (the leader) makes that durable commit for everyone who
//! committed before it, so under load one fsync serves many transactions.

use std::cell::RefCell;
use std::collections::HashMap;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex};

use redb::{
    Database, DatabaseError, Durability, ReadableDatabase, ReadableTable, TableDefinition,
    TableError,
};

use crate::backend::{Backend, StoreRead, StoreWrite};
use crate::error::{Result, StoreError};
use crate::kv::{Entry, KeyRange, Kv, Order, RawRead, RawWrite};

type Def<'a> = TableDefinition<'a, &'static [u8], &'static [u8]>;

/// A redb database file.
pub struct RedbBackend {
    db: Database,
    path: PathBuf,
    group: Mutex<GroupState>,
    flushed: Condvar,
}

/// Commits made, commits made durable, and whether a leader is flushing.
#[derive(Default)]
struct GroupState {
    committed: u64,
    durable: u64,
    flushing: bool,
}

impl RedbBackend {
    /// Open the file, creating it (and its folder) when absent.
    pub fn open(path: &Path) -> Result<RedbBackend> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                StoreError::Backend(format!("cannot create folder {}: {e}", dir.display()))
            })?;
        }
        let db = Database::builder().create(path).map_err(|e| match e {
            DatabaseError::DatabaseAlreadyOpen => StoreError::Locked {
                path: path.display().to_string(),
            },
            other => StoreError::Backend(format!("cannot open {}: {other}", path.display())),
        })?;
        Ok(RedbBackend {
            db,
            path: path.to_path_buf(),
            group: Mutex::new(GroupState::default()),
            flushed: Condvar::new(),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, GroupState> {
        self.group.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Return once commit number `mine` is durable, flushing as the leader
    /// when nobody else is.
    fn wait_until(&self, mine: u64) -> Result<()> {
        let mut state = self.state();
        loop {
            if state.durable >= mine {
                return Ok(());
            }
            if state.flushing {
                state = self.flushed.wait(state).unwrap_or_else(|p| p.into_inner());
                continue;
            }
            state.flushing = true;
            let target = state.committed;
            drop(state);
            let flushed = self.flush();
            state = self.state();
            state.flushing = false;
            if flushed.is_ok() {
                state.durable = state.durable.max(target);
            }
            self.flushed.notify_all();
            flushed?;
        }
    }

    /// A durable commit, which makes every earlier commit durable too.
    fn flush(&self) -> Result<()> {
        let mut tx = self.db.begin_write()?;
        tx.set_durability(Durability::Immediate)
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        tx.set_quick_repair(true);
        tx.commit()?;
        Ok(())
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

    /// Commit a transaction without waiting for the disk; its number.
    fn commit_quick(&self, tx: redb::WriteTransaction) -> Result<u64> {
        // Numbered under the group lock right after the commit, so a leader
        // that read `committed` covers exactly the commits before its flush.
        let mut state = self.state();
        tx.commit()?;
        state.committed += 1;
        Ok(state.committed)
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
        let tx = self.db.begin_read()?;
        f(&Kv(Reader(tx)))
    }

    fn write(&self, f: &mut dyn FnMut(&mut dyn StoreWrite) -> Result<bool>) -> Result<Option<u64>> {
        if let Some(mut open) = self.take_batch() {
            let result = f(&mut Kv(Writer::new(&open.tx)));
            open.failed |= !matches!(result, Ok(true));
            Self::put_batch(open);
            return result.map(|_| None);
        }
        let mut tx = self.db.begin_write()?;
        tx.set_durability(Durability::None)
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        let commit = f(&mut Kv(Writer::new(&tx)))?;
        if !commit {
            tx.abort()?;
            return Ok(None);
        }
        self.commit_quick(tx).map(Some)
    }

    fn begin_batch(&self) -> Result<bool> {
        if BATCH.with(|b| b.borrow().is_some()) {
            return Ok(false);
        }
        let mut tx = self.db.begin_write()?;
        tx.set_durability(Durability::None)
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        Self::put_batch(OpenBatch {
            owner: self.key(),
            tx,
            failed: false,
        });
        Ok(true)
    }

    fn end_batch(&self, commit: bool) -> Result<Option<u64>> {
        let open = self
            .take_batch()
            .ok_or_else(|| StoreError::Backend("no batch is open".into()))?;
        if !commit || open.failed {
            open.tx.abort()?;
            return if open.failed {
                Err(StoreError::BatchFailed)
            } else {
                Ok(None)
            };
        }
        self.commit_quick(open.tx).map(Some)
    }

    fn wait_durable(&self, commit: u64) -> Result<()> {
        self.wait_until(commit)
    }

    fn ping(&self) -> Result<()> {
        self.db.begin_read()?;
        Ok(())
    }

    fn describe(&self) -> String {
        format!("redb:{}", self.path.display())
    }
}
