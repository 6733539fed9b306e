//! The PostgreSQL backend: several stateless processes on one database.
//!
//! Every root object has its own table (`id`, `version`, `created_at`,
//! `updated_at`, the record as `jsonb`, and one generated column with a
//! real index or unique index per indexed field); the audit trail,
//! idempotency records, logs and snapshots are tables too (see [`sql`]).
//! Write closures run in `SERIALIZABLE` transactions and run again, after a
//! short randomised backoff, when PostgreSQL reports a serialization
//! failure or a deadlock, so money and capacity stay race-free across
//! processes. Concurrent writes of one process share a transaction (or a
//! few side by side), each write in its own savepoint, and its commit
//! ([`shared`]); log rows are numbered as a transaction commits
//! ([`store::commit`]). Pooled connections are
//! driven on the thread that uses them (storage runs on blocking threads)
//! and pipeline their writes ([`client`]); `r2d2` pools them, each keeping
//! its prepared statements. Migrations use the blocking `postgres` client.

mod client;
mod migrate;
mod shared;
mod sql;
mod store;

use std::cell::RefCell;
use std::str::FromStr;
use std::time::Duration;

use postgres::{Client, NoTls};

pub use migrate::{FORMAT_VERSION, Plan, Step};

use crate::backend::{Backend, LogSpec, StoreRead, StoreWrite};
use crate::error::{Result, StoreError};
use crate::record::TableSpec;
use client::Conn;
use store::PgTx;

/// Connection settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgSettings {
    /// Most connections this process opens.
    pub pool_size: u32,
    /// Longest a statement may run before PostgreSQL cancels it.
    pub statement_timeout: Duration,
    /// Longest to wait for a connection (new or from the pool).
    pub connect_timeout: Duration,
    /// Transactions the writes of this process share at once, side by side
    /// (at most `pool_size`).
    pub write_lanes: usize,
}

impl Default for PgSettings {
    fn default() -> PgSettings {
        PgSettings {
            pool_size: 16,
            statement_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
            write_lanes: 4,
        }
    }
}

/// The most times a write closure runs before its conflict is reported.
const MAX_ATTEMPTS: u32 = 40;

struct Manager {
    config: tokio_postgres::Config,
    statement_timeout: Duration,
}

fn connect(
    config: &postgres::Config,
    timeout: Duration,
) -> std::result::Result<Client, postgres::Error> {
    let mut client = config.connect(NoTls)?;
    client.batch_execute(&format!("SET statement_timeout = {}", timeout.as_millis()))?;
    Ok(client)
}

impl r2d2::ManageConnection for Manager {
    type Connection = Conn;
    type Error = client::ConnectError;

    fn connect(&self) -> std::result::Result<Conn, client::ConnectError> {
        Conn::connect(&self.config, self.statement_timeout)
    }

    fn is_valid(&self, conn: &mut Conn) -> std::result::Result<(), client::ConnectError> {
        conn.batch_execute("")
            .map_err(|e| client::ConnectError::Postgres(describe_error(&e)))
    }

    fn has_broken(&self, conn: &mut Conn) -> bool {
        conn.is_closed()
    }
}

/// What PostgreSQL said, without the driver's wrapping.
pub(crate) fn describe_error(e: &postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return db.message().to_string();
    }
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text = format!("{text}: {s}");
        source = s.source();
    }
    text
}

/// Worth running the transaction again: a serialization failure, a
/// deadlock, a unique value taken by a transaction that committed after
/// this one checked it, or a row another transaction held too long.
fn retryable(e: &postgres::Error) -> bool {
    use postgres::error::SqlState;
    e.code().is_some_and(|c| {
        *c == SqlState::T_R_SERIALIZATION_FAILURE
            || *c == SqlState::T_R_DEADLOCK_DETECTED
            || *c == SqlState::UNIQUE_VIOLATION
            || *c == SqlState::LOCK_NOT_AVAILABLE
    })
}

/// A serialization failure or a deadlock: the transaction cannot go on,
/// even from a savepoint. Except a row updated or deleted by a transaction
/// that committed after this one started: that statement fails alone, and
/// its savepoint can be rolled back to (the write then runs again, in a
/// later transaction that sees the row as it is). PostgreSQL tells the two
/// apart only by the message; where its messages are not in English, such
/// a failure dooms the transaction too, which is only slower.
fn dooms_transaction(e: &postgres::Error) -> bool {
    use postgres::error::SqlState;
    let concurrent_change = e.as_db_error().is_some_and(|db| {
        db.message()
            .starts_with("could not serialize access due to concurrent ")
    });
    e.code().is_some_and(|c| {
        (*c == SqlState::T_R_SERIALIZATION_FAILURE && !concurrent_change)
            || *c == SqlState::T_R_DEADLOCK_DETECTED
    })
}

/// Parse a `postgres://` or `postgresql://` URL.
pub fn parse_url(url: &str) -> Result<postgres::Config> {
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return Err(StoreError::BadUrl(url.to_string()));
    }
    postgres::Config::from_str(url).map_err(|e| StoreError::BadUrl(format!("{url}: {e}")))
}

/// `postgres://user@host:port/db`, without the password.
fn display(config: &postgres::Config) -> String {
    let host = config
        .get_hosts()
        .first()
        .map(|h| match h {
            postgres::config::Host::Tcp(h) => h.clone(),
            postgres::config::Host::Unix(p) => p.display().to_string(),
        })
        .unwrap_or_else(|| "localhost".into());
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!(
        "postgres://{}@{host}:{port}/{}",
        config.get_user().unwrap_or(""),
        config.get_dbname().unwrap_or("")
    )
}

/// One direct connection, with a clear error.
fn direct(config: &postgres::Config, settings: &PgSettings) -> Result<Client> {
    let mut config = config.clone();
    config.connect_timeout(settings.connect_timeout);
    connect(&config, settings.statement_timeout)
        .map_err(|e| StoreError::Connect(format!("{}: {}", display(&config), describe_error(&e))))
}

/// A batch open on this thread: one connection in one transaction.
struct OpenBatch {
    owner: usize,
    conn: r2d2::PooledConnection<Manager>,
    failed: bool,
    /// Log rows its writes appended, numbered at its commit.
    deferred: Vec<store::Deferred>,
}

thread_local! {
    static BATCH: RefCell<Option<OpenBatch>> = const { RefCell::new(None) };
}

/// A PostgreSQL database.
pub struct PgBackend {
    pool: r2d2::Pool<Manager>,
    /// The transaction concurrent writes of this process share.
    groups: shared::Groups,
    tables: Vec<TableSpec>,
    logs: Vec<LogSpec>,
    name: String,
}

impl PgBackend {
    /// Connect, apply the additive migrations the schema needs (refusing
    /// destructive ones and databases of a newer format) and pool.
    pub fn open(
        url: &str,
        tables: &[TableSpec],
        logs: &[LogSpec],
        settings: &PgSettings,
    ) -> Result<PgBackend> {
        let config = parse_url(url)?;
        let mut client = direct(&config, settings)?;
        migrate::apply(&mut client, tables, logs, false)?;
        drop(client);
        let mut pooled = tokio_postgres::Config::from_str(url)
            .map_err(|e| StoreError::BadUrl(format!("{url}: {e}")))?;
        pooled.connect_timeout(settings.connect_timeout);
        let pool = r2d2::Pool::builder()
            .max_size(settings.pool_size.max(1))
            .min_idle(Some(0))
            .test_on_check_out(false)
            .connection_timeout(settings.connect_timeout)
            .error_handler(Box::new(r2d2::NopErrorHandler))
            .build_unchecked(Manager {
                config: pooled,
                statement_timeout: settings.statement_timeout,
            });
        Ok(PgBackend {
            pool,
            // every lane's open transaction holds a connection
            groups: shared::Groups::new(
                settings
                    .write_lanes
                    .min(usize::try_from(settings.pool_size).unwrap_or(usize::MAX)),
            ),
            tables: tables.to_vec(),
            logs: logs.to_vec(),
            name: display(&config),
        })
    }

    /// The migration the database at `url` needs, without applying it.
    pub fn plan(url: &str, tables: &[TableSpec], logs: &[LogSpec]) -> Result<Plan> {
        let config = parse_url(url)?;
        let mut client = direct(&config, &PgSettings::default())?;
        migrate::plan(&mut client, tables, logs)
    }

    /// Apply the migration the database at `url` needs; what was applied.
    pub fn migrate(
        url: &str,
        tables: &[TableSpec],
        logs: &[LogSpec],
        allow_destructive: bool,
    ) -> Result<Plan> {
        let config = parse_url(url)?;
        let mut client = direct(&config, &PgSettings::default())?;
        migrate::apply(&mut client, tables, logs, allow_destructive)
    }

    /// The root object tables this backend was opened with.
    pub fn tables(&self) -> &[TableSpec] {
        &self.tables
    }

    pub fn logs(&self) -> &[LogSpec] {
        &self.logs
    }

    fn conn(&self) -> Result<r2d2::PooledConnection<Manager>> {
        self.pool
            .get()
            .map_err(|e| StoreError::Backend(format!("no connection to {}: {e}", self.name)))
    }

    fn key(&self) -> usize {
        std::ptr::from_ref(self) as usize
    }

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

    /// A pooled connection the server has not closed. One it closed while
    /// it sat in the pool (a restart) is found out here, before anything
    /// is sent on it, and a fresh one is taken instead.
    fn checkout(&self) -> Result<r2d2::PooledConnection<Manager>> {
        for _ in 0..3 {
            let mut conn = self.conn()?;
            if !conn.is_closed() {
                return Ok(conn);
            }
        }
        Err(StoreError::Backend(format!(
            "the connections to {} keep closing",
            self.name
        )))
    }

    /// A connection with `begin` run on it.
    fn begin(&self, begin: &str) -> Result<r2d2::PooledConnection<Manager>> {
        let mut conn = self.checkout()?;
        match conn.batch_execute(begin) {
            Ok(()) => Ok(conn),
            Err(e) => {
                // back to the pool outside any transaction
                rollback(&mut conn);
                Err(StoreError::Backend(describe_error(&e)))
            }
        }
    }

    /// A write: in the thread's batch when one is open, else in a shared
    /// transaction ([`shared`]).
    fn write_in(
        &self,
        affinity: Option<u64>,
        f: &mut dyn FnMut(&mut dyn StoreWrite) -> Result<bool>,
    ) -> Result<Option<u64>> {
        if let Some(mut open) = self.take_batch() {
            store::set_appended(None);
            let (result, failure, deferred) = {
                let mut tx = PgTx::after(&mut open.conn, &open.deferred);
                let result = f(&mut tx);
                let deferred = tx.take_deferred();
                (result, tx.finish(), deferred)
            };
            open.deferred.extend(deferred);
            open.failed |= failure.is_some() || !matches!(result, Ok(true));
            Self::put_batch(open);
            return match (failure, result) {
                // the closure's writes, sent ahead, failed after it returned
                (Some(failure), Ok(_)) => Err(failure.into_error()),
                (_, result) => result.map(|_| None),
            };
        }
        self.groups.write(self, affinity, f)
    }
}

fn rollback(conn: &mut Conn) {
    // A connection that is gone has rolled back already.
    let _ = conn.batch_execute("ROLLBACK");
}

/// Sleep a little longer after each conflict, with jitter so that the
/// transactions that collided do not collide again.
fn backoff(attempt: u32) {
    let ceiling = 1u64 << attempt.min(7);
    let mut bytes = [0u8; 2];
    let jitter = match getrandom::fill(&mut bytes) {
        Ok(()) => u64::from(u16::from_le_bytes(bytes)) % (ceiling * 1000),
        Err(_) => ceiling * 500,
    };
    std::thread::sleep(Duration::from_micros(200 + jitter));
}

impl Backend for PgBackend {
    fn read(&self, f: &mut dyn FnMut(&dyn StoreRead) -> Result<()>) -> Result<()> {
        if let Some(mut open) = self.take_batch() {
            let result = {
                let tx = PgTx::new(&mut open.conn);
                f(&tx)
            };
            Self::put_batch(open);
            return result;
        }
        // The transaction's start goes with its first statement, and its
        // end with whatever the connection sends next: a read costs one
        // round trip per statement. (Ending a read-only transaction cannot
        // fail in a way that changes what it read.)
        let mut conn = self.checkout()?;
        let result = {
            let tx = PgTx::new(&mut conn);
            tx.send_first("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
            f(&tx)
        };
        conn.send_and_forget("COMMIT");
        result
    }

    /// Each statement in a transaction of its own: no `BEGIN` or `COMMIT`
    /// to send (inside a batch, the batch's transaction).
    fn read_each(&self, f: &mut dyn FnMut(&dyn StoreRead) -> Result<()>) -> Result<()> {
        let in_batch = BATCH.with(|b| b.borrow().as_ref().is_some_and(|o| o.owner == self.key()));
        if in_batch {
            return self.read(f);
        }
        let mut conn = self.checkout()?;
        let tx = PgTx::new(&mut conn);
        f(&tx)
    }

    fn write(&self, f: &mut dyn FnMut(&mut dyn StoreWrite) -> Result<bool>) -> Result<Option<u64>> {
        self.write_in(None, f)
    }

    fn write_for(
        &self,
        affinity: u64,
        f: &mut dyn FnMut(&mut dyn StoreWrite) -> Result<bool>,
    ) -> Result<Option<u64>> {
        self.write_in(Some(affinity), f)
    }

    fn last_appended(&self) -> Option<u64> {
        store::last_appended()
    }

    fn wait_durable(&self, _commit: u64) -> Result<()> {
        // A PostgreSQL commit is durable when it returns.
        Ok(())
    }

    fn begin_batch(&self) -> Result<bool> {
        if BATCH.with(|b| b.borrow().is_some()) {
            return Ok(false);
        }
        // A batch is not run again, so its writes wait for rows as long as
        // it takes.
        let conn = self.begin("BEGIN ISOLATION LEVEL SERIALIZABLE; SET LOCAL lock_timeout = 0")?;
        Self::put_batch(OpenBatch {
            owner: self.key(),
            conn,
            failed: false,
            deferred: Vec::new(),
        });
        Ok(true)
    }

    fn end_batch(&self, commit: bool) -> Result<Option<u64>> {
        let mut open = self
            .take_batch()
            .ok_or_else(|| StoreError::Backend("no batch is open".into()))?;
        if !commit || open.failed {
            rollback(&mut open.conn);
            return if open.failed {
                Err(StoreError::BatchFailed)
            } else {
                Ok(None)
            };
        }
        if let Err(e) = store::commit(&mut open.conn, std::mem::take(&mut open.deferred)) {
            rollback(&mut open.conn);
            return Err(StoreError::Backend(describe_error(&e)));
        }
        Ok(None)
    }

    fn ping(&self) -> Result<()> {
        let mut conn = self.conn()?;
        conn.batch_execute("SELECT 1")
            .map_err(|e| StoreError::Backend(describe_error(&e)))
    }

    fn describe(&self) -> String {
        self.name.clone()
    }

    fn shared(&self) -> bool {
        true
    }

    /// A session-level advisory lock named after the job, held on one
    /// pooled connection while `f` runs; a process that dies drops it.
    fn exclusive(&self, name: &str, f: &mut dyn FnMut()) -> Result<bool> {
        let mut conn = self.conn()?;
        let err = |e: postgres::Error| StoreError::Backend(describe_error(&e));
        let got = conn
            .query(
                "SELECT pg_try_advisory_lock(hashtextextended($1, 0))",
                &[&name],
            )
            .map_err(err)?
            .first()
            .is_some_and(|row| row.get::<_, bool>(0));
        if !got {
            return Ok(false);
        }
        f();
        conn.execute(
            "SELECT pg_advisory_unlock(hashtextextended($1, 0))",
            &[&name],
        )
        .map_err(err)?;
        Ok(true)
    }
}
