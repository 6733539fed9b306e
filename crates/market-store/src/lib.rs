//! Transactional storage for root objects.
//!
//! One synchronous API ([`Db::read`], [`Db::write`]) over a raw byte-level
//! [`Backend`]. Typed access ([`Reads`], [`WriteTx`]) — records, secondary and
//! unique indexes, cursors, versions and the audit trail — is written once on
//! top of it, so every backend behaves the same.
//!
//! The write closure may run more than once (retries) and must have no effects
//! outside its transaction. Returning an error rolls everything back.
//! [`Db::write`] returns once its commit is durable, unless it runs inside
//! [`deferred`], which collects the commits for the caller to wait on later
//! (the server answers only then; bulk loads wait once at the end).

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod backend;
mod changes;
mod crypto;
mod domain_events;
mod durability;
mod error;
mod eventlog;
mod idempotency;
mod kv;
mod overlay;
mod pg;
mod record;
mod redb_backend;
mod redo;
mod stored;
mod transfer;
mod tx;
mod types;

use std::cell::Cell;
use std::sync::Arc;

pub use backend::{
    Appended, Backend, IndexValues, LogSpec, Row, StageTime, Stages, StoreRead, StoreWrite,
    WriteStats,
};
pub use changes::{CHANGES, Change, ChangeReads, PRUNE_STEP};
pub use crypto::{KeyError, SecretCipher};
pub use domain_events::{DOMAIN_EVENTS, DomainEvent, DomainEventReads, EventBell, NewEvent};
pub use durability::{Pending, deferred, unwaiting};
pub use error::{Result, StoreError};
pub use eventlog::{EVENTLOG, EventLogReads};
pub use idempotency::{IdempotencyReads, IdempotencyRecord};
pub use pg::{FORMAT_VERSION, PgBackend, PgSettings, Plan, Step};
pub use record::{Index, IndexSpec, IndexValue, Meta, Record, TableSpec, json_index_values};
pub use redb_backend::{DEFAULT_CACHE_BYTES, RedbBackend, compact, redo_path, sync_folder};
pub use stored::{Shaped, Stored, Verbatim};
pub use transfer::{Item, Totals, copy};
pub use tx::{Actor, AuditEntry, AuditFilter, Page, PageRequest, ReadTx, Reads, WriteTx};
pub use types::{BadId, BadTimestamp, Clock, Id, IdGenerator, ManualClock, SystemClock, Timestamp};

/// Rolls an open batch back if its closure unwinds.
struct BatchGuard<'a> {
    backend: &'a dyn Backend,
    open: bool,
}

impl Drop for BatchGuard<'_> {
    fn drop(&mut self) {
        if self.open {
            BATCH_EVENTS.with(|b| b.set(None));
            let _ = self.backend.end_batch(false);
        }
    }
}

thread_local! {
    /// The highest event `seq` written in this thread's open batch.
    static BATCH_EVENTS: Cell<Option<u64>> = const { Cell::new(None) };
}

/// Where the data lives, parsed from a database URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbUrl {
    /// `redb://PATH`: everything after `redb://` is a file path
    /// (`redb:///abs/path` is absolute).
    Redb(std::path::PathBuf),
    /// `postgres://USER:PASS@HOST:PORT/DB` (or `postgresql://`), kept whole.
    Postgres(String),
}

impl std::str::FromStr for DbUrl {
    type Err = StoreError;
    fn from_str(url: &str) -> Result<DbUrl> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            pg::parse_url(url)?;
            return Ok(DbUrl::Postgres(url.to_string()));
        }
        match url.strip_prefix("redb://") {
            Some(path) if !path.is_empty() => Ok(DbUrl::Redb(path.into())),
            _ => Err(StoreError::BadUrl(url.to_string())),
        }
    }
}

/// Every append-only log the store keeps; a PostgreSQL database gets a
/// `log_<name>` table for each.
pub const LOGS: &[LogSpec] = &[CHANGES, EVENTLOG, DOMAIN_EVENTS];

/// A database: a backend, a clock and an id generator.
pub struct Db {
    backend: Arc<dyn Backend>,
    clock: Arc<dyn Clock>,
    ids: IdGenerator,
    cipher: Option<SecretCipher>,
    events: Arc<EventBell>,
    /// Whether writes append their domain events (see [`Db::without_domain_events`]).
    domain_events: bool,
}

/// How a database is opened.
#[derive(Debug, Clone)]
pub struct StoreSettings {
    /// The embedded database's page cache, in bytes.
    pub cache_bytes: usize,
    /// Whether each embedded checkpoint also saves what a restart after a
    /// crash needs to open the file at once ([`RedbBackend::with_quick_repair`]).
    pub quick_repair: bool,
    /// PostgreSQL's connections.
    pub pg: PgSettings,
}

impl Default for StoreSettings {
    fn default() -> StoreSettings {
        StoreSettings {
            cache_bytes: redb_backend::DEFAULT_CACHE_BYTES,
            quick_repair: true,
            pg: PgSettings::default(),
        }
    }
}

impl Db {
    /// Open the embedded database a `redb://` URL names, with the system
    /// clock. (PostgreSQL needs the schema's tables: [`Db::open_with`].)
    pub fn open(url: &str) -> Result<Db> {
        match url.parse()? {
            DbUrl::Redb(path) => Ok(Db::new(
                Arc::new(RedbBackend::open(&path)?),
                Arc::new(SystemClock),
            )),
            DbUrl::Postgres(_) => Err(StoreError::Backend(
                "a PostgreSQL database is opened with the schema's tables (Db::open_with)".into(),
            )),
        }
    }

    /// Open the database a URL names, with the system clock. A PostgreSQL
    /// database gets a table for each of `tables` (migrated at opening).
    pub fn open_with(url: &str, tables: &[TableSpec], settings: &StoreSettings) -> Result<Db> {
        let backend: Arc<dyn Backend> = match url.parse()? {
            DbUrl::Redb(path) => Arc::new(
                RedbBackend::open_cached(&path, settings.cache_bytes)?
                    .with_quick_repair(settings.quick_repair),
            ),
            DbUrl::Postgres(url) => Arc::new(PgBackend::open(&url, tables, LOGS, &settings.pg)?),
        };
        Ok(Db::new(backend, Arc::new(SystemClock)))
    }

    pub fn new(backend: Arc<dyn Backend>, clock: Arc<dyn Clock>) -> Db {
        let mut db = Db {
            backend,
            clock,
            ids: IdGenerator::default(),
            cipher: None,
            events: Arc::new(EventBell::default()),
            domain_events: true,
        };
        // What a database holds when it opens is durable.
        match db.read(|tx| tx.last_event_seq()) {
            Ok(seq) => db.events = Arc::new(EventBell::starting_at(seq)),
            Err(e) => tracing::warn!(error = %e, "cannot read the event log's last seq"),
        }
        db
    }

    /// The durable end of the domain event log, and its listeners.
    pub fn events(&self) -> &Arc<EventBell> {
        &self.events
    }

    /// Encrypt `@secret` fields with this cipher.
    pub fn with_cipher(mut self, cipher: SecretCipher) -> Db {
        self.cipher = Some(cipher);
        self
    }

    /// A database whose writes drop their domain events instead of
    /// appending them, for measuring what the event log costs (`make bench`
    /// runs `wallet.transfer` both ways). Nothing is then delivered to
    /// subscriptions, `event.list` or webhooks: never for serving.
    pub fn without_domain_events(mut self) -> Db {
        self.domain_events = false;
        self
    }

    pub(crate) fn records_domain_events(&self) -> bool {
        self.domain_events
    }

    pub fn cipher(&self) -> Option<&SecretCipher> {
        self.cipher.as_ref()
    }

    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    pub fn new_id(&self) -> Id {
        self.ids.next(self.clock.now())
    }

    pub fn describe(&self) -> String {
        self.backend.describe()
    }

    /// Several processes may write to this database at once (PostgreSQL):
    /// work that must happen once goes through [`Db::exclusive`].
    pub fn is_shared(&self) -> bool {
        self.backend.shared()
    }

    /// Run `f` as the job `name`, unless another process sharing the
    /// database runs it right now (then `None`): background work
    /// (sweepers, expiry, purges) runs once across processes.
    pub fn exclusive<T>(&self, name: &str, f: impl FnOnce() -> T) -> Result<Option<T>> {
        let mut f = Some(f);
        let mut out = None;
        self.backend.exclusive(name, &mut || {
            if let Some(f) = f.take() {
                out = Some(f());
            }
        })?;
        Ok(out)
    }

    /// What the batched writes did so far.
    pub fn write_stats(&self) -> WriteStats {
        self.backend.write_stats()
    }

    /// Can a read be answered now within this process: an embedded file in
    /// good health, with no round trip to a server and no repair of the
    /// file to wait for?
    pub fn reads_in_process(&self) -> bool {
        self.backend.reads_in_process()
    }

    /// Does the database answer?
    pub fn ping(&self) -> Result<()> {
        self.backend.ping()
    }

    /// Run `f` with the writes this thread makes through this database in
    /// one transaction: committed together when `f` succeeds, rolled back
    /// together when it fails or any write inside failed (`BatchFailed`).
    /// Reads inside see the batch's writes. Inside an open batch, `f` joins
    /// it. For bulk work: one commit instead of one per write.
    pub fn batch<T, E: From<StoreError>>(
        &self,
        f: impl FnOnce() -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E> {
        if !self.backend.begin_batch()? {
            return f();
        }
        BATCH_EVENTS.with(|b| b.set(Some(0)));
        let mut guard = BatchGuard {
            backend: &*self.backend,
            open: true,
        };
        let result = f();
        let seq = BATCH_EVENTS.with(|b| b.replace(None)).unwrap_or(0);
        guard.open = false;
        // The closure's own error says more than `BatchFailed`.
        let ended = self.backend.end_batch(result.is_ok());
        let result = result?;
        let commit = ended?;
        if let Some(commit) = commit {
            self.after_commit(commit, (seq > 0).then_some(seq))?;
        }
        Ok(result)
    }

    /// Wait until `commit` is durable (or leave it to the enclosing
    /// [`deferred`] scope), then tell the event listeners about `events`.
    fn after_commit(&self, commit: u64, events: Option<u64>) -> Result<()> {
        let bell = events.map(|seq| (&self.events, seq));
        if !durability::defer(&self.backend, commit, bell) {
            self.backend.wait_durable(commit)?;
            if let Some(seq) = events {
                self.events.advance(seq);
            }
        }
        Ok(())
    }

    /// Run `f` on a consistent snapshot.
    pub fn read<T, E: From<StoreError>>(
        &self,
        f: impl FnOnce(&ReadTx<'_>) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E> {
        self.read_with(false, f)
    }

    /// Run `f` where each of its reads sees what was committed when it
    /// ran, not one snapshot: for a single read, or reads that need not
    /// agree with each other. On PostgreSQL such a read costs no
    /// transaction around it.
    pub fn read_each<T, E: From<StoreError>>(
        &self,
        f: impl FnOnce(&ReadTx<'_>) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E> {
        self.read_with(true, f)
    }

    fn read_with<T, E: From<StoreError>>(
        &self,
        each: bool,
        f: impl FnOnce(&ReadTx<'_>) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E> {
        let mut f = Some(f);
        let mut out = None;
        let mut run = |raw: &dyn StoreRead| {
            if let Some(f) = f.take() {
                out = Some(f(&ReadTx { raw, db: self }));
            }
            Ok(())
        };
        if each {
            self.backend.read_each(&mut run)?;
        } else {
            self.backend.read(&mut run)?;
        }
        out.unwrap_or_else(
            || Err(StoreError::Backend("read transaction did not run".into()).into()),
        )
    }

    /// Run `f` in a write transaction on behalf of `actor`: committed when
    /// `f` returns `Ok`, rolled back entirely when it returns `Err`.
    pub fn write<T, E: From<StoreError>>(
        &self,
        actor: &Actor,
        mut f: impl FnMut(&mut WriteTx<'_>) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E> {
        let mut out = None;
        let mut emitted = None;
        let mut sent = false;
        let affinity = {
            let mut h = std::hash::DefaultHasher::new();
            std::hash::Hash::hash(&actor.actor_id, &mut h);
            std::hash::Hasher::finish(&h)
        };
        let commit = self.backend.write_for(affinity, &mut |raw| {
            let mut tx = WriteTx {
                raw,
                db: self,
                actor,
                now: self.clock.now(),
                last_event: None,
                events_sent: false,
                audits: Vec::new(),
            };
            let mut result = f(&mut tx);
            if result.is_ok()
                && let Err(e) = tx.flush_audits()
            {
                result = Err(e.into());
            }
            let commit = result.is_ok();
            emitted = tx.last_event.filter(|_| commit);
            sent = tx.events_sent && commit;
            out = Some(result);
            Ok(commit)
        })?;
        if sent {
            emitted = emitted.max(self.backend.last_appended());
        }
        match commit {
            Some(commit) => self.after_commit(commit, emitted)?,
            // Inside a batch, its events are told when the batch commits;
            // otherwise the commit is durable already (PostgreSQL).
            None => {
                if let Some(seq) = emitted {
                    let in_batch = BATCH_EVENTS.with(|b| match b.get() {
                        Some(max) => {
                            b.set(Some(max.max(seq)));
                            true
                        }
                        None => false,
                    });
                    if !in_batch {
                        self.events.advance(seq);
                    }
                }
            }
        }
        out.unwrap_or_else(|| {
            Err(StoreError::Backend("write transaction did not run".into()).into())
        })
    }
}
