//! The store's contract in SQL, inside one PostgreSQL transaction.

use std::cell::RefCell;
use std::collections::HashMap;

use postgres::Row as PgRow;
use postgres::Statement;
use postgres::types::ToSql;

use super::client::{Answer, Conn, Params as Owned, Pipeline, Sent};
use super::sql;
use super::{describe_error, dooms_transaction, retryable};
use crate::backend::{Appended, IndexValues, LogSpec, Row, StoreRead, StoreWrite};
use crate::error::{Result, StoreError};
use crate::idempotency::IdempotencyRecord;
use crate::record::{IndexSpec, TableSpec};
use crate::tx::{AuditEntry, AuditFilter};
use crate::types::{Id, Timestamp};

/// The first statement that failed: PostgreSQL aborts the transaction then.
pub(crate) struct Failure {
    /// A conflict with another transaction: running again may succeed.
    pub retry: bool,
    /// A serialization failure or a deadlock: the whole transaction is
    /// lost, not only the statements since the last savepoint.
    pub doomed: bool,
    pub message: String,
    /// What a write sent ahead found wrong in its answer (an id taken, a
    /// record gone), as the store's error.
    pub checked: Option<StoreError>,
}

impl Failure {
    pub fn into_error(self) -> StoreError {
        self.checked.unwrap_or(StoreError::Backend(self.message))
    }
}

pub(crate) struct PgTx<'c> {
    pipe: RefCell<Pipeline<'c>>,
    /// Writes sent whose answers nobody waited for yet, with what their
    /// answer must say: they come back with the next statement whose
    /// answer is needed (see [`super::client`]).
    sent: RefCell<Vec<(Sent<'c>, Check)>>,
    failure: RefCell<Option<Failure>>,
    /// PostgreSQL ran every statement of the last wait without an error.
    all_ran: std::cell::Cell<bool>,
    /// The records this transaction read or wrote by id, as it sees them:
    /// a second read of one (an update after a load) costs no round trip.
    seen: RefCell<Seen>,
    /// Writes not sent yet: they go out together, as one statement, with
    /// the next statement sent or at the closure's end.
    queued: RefCell<Vec<Queued>>,
    /// Unique lookups sent ahead ([`StoreRead::prefetch_unique`]), each
    /// with its number: `None` until answered, then the row found (its id
    /// and record), if any.
    prefetched: RefCell<HashMap<Lookup, (u64, Option<Found>)>>,
    /// The number of the last lookup sent ahead.
    prefetches: std::cell::Cell<u64>,
    /// Log rows to number and insert when the transaction commits.
    deferred: RefCell<Vec<Deferred>>,
    /// Those of the closures before this one in the same transaction.
    earlier: &'c [Deferred],
}

/// A log row appended by a write closure, numbered and inserted only when
/// its transaction commits ([`commit`]).
pub(crate) struct Deferred {
    log: LogSpec,
    id: Option<String>,
    body: Body,
    /// A domain event: its number is what [`last_appended`] tells.
    announced: bool,
}

enum Body {
    Json(String),
    Bytes(Vec<u8>),
}

/// The advisory lock a transaction's connection holds from the moment it
/// numbers log rows until its commit has returned, so that numbers follow
/// commit order (a reader that has seen number `n` never meets a lower one
/// later) and a commit that fails can give its numbers back (no gap).
/// (Waited for as long as it takes, unlike rows.)
const LOG_LOCK: &str = "SET LOCAL lock_timeout = 0; SELECT pg_advisory_lock(7881706113011990530)";
const LOG_UNLOCK: &str = "SELECT pg_advisory_unlock(7881706113011990530)";
/// The commit and the lock's release in one message, so the lock is held
/// no longer than the commit takes in PostgreSQL. The statements of one
/// message stop at the first error: a commit that fails, or a transaction
/// that failed before (where `SELECT 1` is refused, while a `COMMIT` would
/// quietly roll back), leaves the lock held for [`give_back`].
const COMMIT_AND_UNLOCK: &str = "SELECT 1; COMMIT; SELECT pg_advisory_unlock(7881706113011990530)";

/// How a closure's end went.
pub(crate) struct Ended {
    /// Its writes and `end` went through.
    pub done: bool,
    /// PostgreSQL ran them all, `end` included, but an answer was not what
    /// the write needed (a row count of 0): the closure's savepoint is
    /// released already and cannot be rolled back to.
    pub ran_anyway: bool,
    pub failure: Option<Failure>,
}

/// What the answer of a write sent ahead must say.
enum Check {
    Nothing,
    /// A record inserted: a primary key violation means its id is taken.
    Inserted {
        kind: &'static str,
        id: Id,
    },
    /// One row updated (none: the record is gone).
    Updated {
        kind: &'static str,
        id: Id,
    },
    /// Writes sent as one statement ([`combine`]): its row holds the
    /// row count of each update, in order.
    Combined(Vec<Check>),
    /// A unique lookup sent ahead, with its number: its rows are kept for
    /// the lookup.
    Prefetched(Lookup, u64),
}

/// A unique lookup: table, index field and value.
type Lookup = (&'static str, &'static str, String);

/// What a unique lookup found: the record's id and bytes, or nothing.
type Found = Option<(Id, Vec<u8>)>;

/// A record write waiting to be sent: a statement whose parameters are
/// numbered from `$1`.
struct Queued {
    sql: String,
    params: Owned,
    check: Check,
    /// The record it writes: a second write of it waits for this one.
    key: Option<(&'static str, Id)>,
}

/// The most writes sent as one statement.
const MOST_COMBINED: usize = 32;

/// `writes` as one statement: each a data-modifying `WITH` query, the row
/// counts of the updates its answer. (They all run on one snapshot, so no
/// two of them may touch the same record.)
fn combine(writes: Vec<Queued>) -> (String, Owned, Check) {
    let mut sql = String::from("WITH ");
    let mut counts = Vec::new();
    let mut params: Owned = Vec::new();
    let mut checks = Vec::new();
    for (i, w) in writes.into_iter().enumerate() {
        if i > 0 {
            sql.push_str(", ");
        }
        let returning = if matches!(w.check, Check::Updated { .. }) {
            counts.push(format!("(SELECT count(*) FROM w{i})"));
            " RETURNING 1"
        } else {
            ""
        };
        sql.push_str(&format!(
            "w{i} AS ({}{returning})",
            shift_params(&w.sql, params.len())
        ));
        params.extend(w.params);
        checks.push(w.check);
    }
    if counts.is_empty() {
        sql.push_str(" SELECT 1");
    } else {
        sql.push_str(&format!(" SELECT {}", counts.join(", ")));
    }
    (sql, params, Check::Combined(checks))
}

/// `sql` with its parameters `$n` renumbered `$(n + by)`.
fn shift_params(sql: &str, by: usize) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut chars = sql.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        out.push(c);
        if c != '$' {
            continue;
        }
        let mut end = i + 1;
        while let Some((j, d)) = chars.peek().copied() {
            if !d.is_ascii_digit() {
                break;
            }
            end = j + 1;
            chars.next();
        }
        match sql[i + 1..end].parse::<usize>() {
            Ok(n) => out.push_str(&(n + by).to_string()),
            Err(_) => out.push_str(&sql[i + 1..end]),
        }
    }
    out
}

thread_local! {
    /// The highest number given to a domain event by the commit of the
    /// write that just returned on this thread.
    static APPENDED: std::cell::Cell<Option<u64>> = const { std::cell::Cell::new(None) };
}

/// Tell the write on this thread the highest event number its commit gave.
pub(crate) fn set_appended(seq: Option<u64>) {
    APPENDED.with(|a| a.set(seq));
}

/// The highest number the write on this thread appended (and forget it).
pub(crate) fn last_appended() -> Option<u64> {
    APPENDED.with(std::cell::Cell::take)
}

impl Check {
    fn verify(&self, answer: &Answer) -> Result<()> {
        match (self, answer) {
            (Check::Updated { kind, id }, Answer::Count(0)) => Err(StoreError::NotFound {
                kind,
                id: id.to_string(),
            }),
            (Check::Combined(checks), Answer::Rows(rows)) => {
                let updates = checks.iter().filter(|c| matches!(c, Check::Updated { .. }));
                for (column, check) in updates.enumerate() {
                    let count = rows.first().and_then(|r| r.try_get::<_, i64>(column).ok());
                    let count = u64::try_from(count.unwrap_or(0)).unwrap_or(0);
                    check.verify(&Answer::Count(count))?;
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// The store's error for a statement PostgreSQL refused, when it has
    /// one: an insert under an id another record holds.
    fn refused(&self, e: &postgres::Error) -> Option<StoreError> {
        let db = e.as_db_error()?;
        let on_key = *db.code() == postgres::error::SqlState::UNIQUE_VIOLATION
            && db.constraint().is_some_and(|c| c.ends_with("_pkey"));
        if !on_key {
            return None;
        }
        let taken = |kind, id: &Id| StoreError::UniqueTaken {
            kind,
            field: "id",
            value: id.to_string(),
        };
        match self {
            Check::Inserted { kind, id } => Some(taken(kind, id)),
            // the insert into the table named whose id the message names
            Check::Combined(checks) => {
                let detail = db.detail().unwrap_or_default();
                let into_table = |c: &&Check| match c {
                    Check::Inserted { kind, .. } => db.table() == Some(*kind),
                    _ => false,
                };
                let mut inserts = checks.iter().filter(into_table).peekable();
                let first = inserts.peek().copied();
                let named = inserts.find(|c| match c {
                    Check::Inserted { id, .. } => detail.contains(&id.to_string()),
                    _ => false,
                });
                match named.or(first)? {
                    Check::Inserted { kind, id } => Some(taken(kind, id)),
                    _ => None,
                }
            }
            _ => None,
        }
    }
}

/// Records by kind and id: their bytes, or `None` when absent.
type Seen = HashMap<(&'static str, Id), Option<Vec<u8>>>;

type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

/// Whole microseconds since the epoch, as a `timestamptz` reads back.
const MICROS: &str = "(extract(epoch from {}) * 1000000)::bigint";

fn micros(column: &str) -> String {
    MICROS.replace("{}", column)
}

fn limit_of(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

fn version_of(v: u64) -> Result<i64> {
    i64::try_from(v).map_err(|_| StoreError::Backend(format!("version {v} out of range")))
}

fn timestamp(table: &str, us: i64) -> Result<Timestamp> {
    Timestamp::from_unix_micros(us).ok_or_else(|| StoreError::Corrupt {
        table: table.into(),
        reason: format!("timestamp {us} out of range"),
    })
}

fn id_of(table: &str, text: &str) -> Result<Id> {
    text.parse().map_err(|_| StoreError::Corrupt {
        table: table.into(),
        reason: format!("'{text}' is not an id"),
    })
}

fn text_of(table: &str, bytes: &[u8]) -> Result<String> {
    String::from_utf8(bytes.to_vec()).map_err(|_| StoreError::Corrupt {
        table: table.into(),
        reason: "a JSON value that is not UTF-8".into(),
    })
}

fn seq_of(table: &str, seq: i64) -> Result<u64> {
    u64::try_from(seq).map_err(|_| StoreError::Corrupt {
        table: table.into(),
        reason: format!("sequence {seq} below zero"),
    })
}

fn seq_param(seq: u64) -> Result<i64> {
    i64::try_from(seq).map_err(|_| StoreError::Backend(format!("sequence {seq} out of range")))
}

impl<'c> PgTx<'c> {
    pub fn new(conn: &'c mut Conn) -> PgTx<'c> {
        PgTx {
            pipe: RefCell::new(conn.pipeline()),
            sent: RefCell::new(Vec::new()),
            failure: RefCell::new(None),
            all_ran: std::cell::Cell::new(true),
            seen: RefCell::new(HashMap::new()),
            queued: RefCell::new(Vec::new()),
            prefetched: RefCell::new(HashMap::new()),
            prefetches: std::cell::Cell::new(0),
            deferred: RefCell::new(Vec::new()),
            earlier: &[],
        }
    }

    /// The same, after closures in the same transaction that appended
    /// `earlier` log rows.
    pub fn after(conn: &'c mut Conn, earlier: &'c [Deferred]) -> PgTx<'c> {
        PgTx {
            earlier,
            ..PgTx::new(conn)
        }
    }

    /// The log rows appended so far, for the transaction's commit.
    pub fn take_deferred(&self) -> Vec<Deferred> {
        std::mem::take(&mut *self.deferred.borrow_mut())
    }

    /// Send `sql` (a transaction's start) ahead of the first statement.
    pub fn send_first(&self, sql: &'static str) {
        let future = self.pipe.borrow().batch(sql);
        self.sent.borrow_mut().push((future, Check::Nothing));
    }

    /// The first failure, without waiting for the writes sent ahead (for a
    /// closure whose writes are rolled back).
    pub fn into_failure(self) -> Option<Failure> {
        self.failure.into_inner()
    }

    /// Wait for the writes sent ahead; the first failure, if any.
    pub fn finish(self) -> Option<Failure> {
        if self.failure.borrow().is_none() {
            // a failure is recorded in `failure`
            let _ = self.settle(None);
        }
        self.failure.into_inner()
    }

    /// Send `end` (a savepoint's release) behind the writes sent ahead and
    /// wait for all of them.
    pub fn end_with(self, end: &'static str) -> Ended {
        let tried = self.failure.borrow().is_none();
        let done = tried && self.settle(Some(end)).is_ok();
        Ended {
            done,
            // every statement ran, yet an answer was wrong
            ran_anyway: tried && !done && self.all_ran.get(),
            failure: self.failure.into_inner(),
        }
    }

    /// Remember what a record is now, as this transaction wrote it.
    fn saw(&self, table: &TableSpec, id: Id, data: Option<&[u8]>) {
        self.seen
            .borrow_mut()
            .insert((table.kind, id), data.map(<[u8]>::to_vec));
    }

    /// Remember the first failure and turn it into the store's error.
    fn fail(&self, e: &postgres::Error) -> StoreError {
        let message = describe_error(e);
        self.fail_with(Failure {
            retry: retryable(e),
            doomed: dooms_transaction(e),
            message: message.clone(),
            checked: None,
        });
        StoreError::Backend(message)
    }

    fn fail_with(&self, failure: Failure) {
        let mut slot = self.failure.borrow_mut();
        if slot.is_none() {
            *slot = Some(failure);
        }
    }

    fn failed(&self) -> Result<()> {
        match self.failure.borrow().as_ref() {
            Some(f) => Err(StoreError::Backend(f.message.clone())),
            None => Ok(()),
        }
    }

    /// The prepared statement for `sql`. Preparing it (once per connection)
    /// fails in a transaction that a write sent ahead has broken: that
    /// write's error is the one to tell.
    fn statement(&self, sql: &str) -> Result<Statement> {
        self.failed()?;
        let prepared = self.pipe.borrow_mut().statement(sql);
        prepared.or_else(|e| {
            self.settle(None)?;
            Err(self.fail(&e))
        })
    }

    /// Wait for the writes sent ahead, and for `end` sent behind them.
    fn settle(&self, end: Option<&'static str>) -> Result<()> {
        if let Err(e) = self.flush() {
            // nothing of `end` was sent
            self.all_ran.set(false);
            return Err(e);
        }
        let sent = std::mem::take(&mut *self.sent.borrow_mut());
        let (mut futures, mut checks): (Vec<_>, Vec<_>) = sent.into_iter().unzip();
        let mut pipe = self.pipe.borrow_mut();
        if let Some(end) = end {
            futures.push(pipe.batch(end));
            checks.push(Check::Nothing);
        }
        if futures.is_empty() {
            return Ok(());
        }
        self.all_ran.set(false);
        let answers = pipe.wait(futures).map_err(|e| self.fail(&e))?;
        drop(pipe);
        self.verify(answers, &checks)
    }

    /// The first error among `answers`, in order.
    fn verify(
        &self,
        answers: Vec<std::result::Result<Answer, postgres::Error>>,
        checks: &[Check],
    ) -> Result<()> {
        let mut first = Ok(());
        self.all_ran
            .set(answers.iter().all(std::result::Result::is_ok));
        for (answer, check) in answers.into_iter().zip(checks) {
            if first.is_err() {
                break;
            }
            let wrong = match answer {
                Ok(Answer::Rows(rows)) if matches!(check, Check::Prefetched(..)) => {
                    if let Check::Prefetched(lookup, number) = check {
                        self.keep_prefetched(lookup, *number, &rows);
                    }
                    None
                }
                Ok(answer) => check.verify(&answer).err(),
                Err(e) => match check.refused(&e) {
                    Some(typed) => Some(typed),
                    None => {
                        first = Err(self.fail(&e));
                        continue;
                    }
                },
            };
            if let Some(e) = wrong {
                let message = e.to_string();
                self.fail_with(Failure {
                    retry: false,
                    doomed: false,
                    message: message.clone(),
                    checked: Some(e),
                });
                first = Err(StoreError::Backend(message));
            }
        }
        first
    }

    /// Run a statement and wait for its answer, with the writes sent
    /// ahead in the same round trip.
    fn run(&self, sql: &str, params: Params<'_>, rows: bool) -> Result<Answer> {
        self.flush()?;
        let statement = self.statement(sql)?;
        let sent = std::mem::take(&mut *self.sent.borrow_mut());
        let (futures, checks): (Vec<_>, Vec<_>) = sent.into_iter().unzip();
        let (answers, last) = self
            .pipe
            .borrow_mut()
            .run_behind(futures, &statement, params, rows)
            .map_err(|e| self.fail(&e))?;
        self.verify(answers, &checks)?;
        last.map_err(|e| self.fail(&e))
    }

    fn query(&self, sql: &str, params: Params<'_>) -> Result<Vec<PgRow>> {
        match self.run(sql, params, true)? {
            Answer::Rows(rows) => Ok(rows),
            _ => Ok(Vec::new()),
        }
    }

    fn execute(&self, sql: &str, params: Params<'_>) -> Result<u64> {
        match self.run(sql, params, false)? {
            Answer::Count(n) => Ok(n),
            _ => Ok(0),
        }
    }

    /// Send a write; its answer comes back with the next statement waited
    /// for, or at the end of the transaction's closure.
    fn later(&self, sql: &str, params: Owned, check: Check) -> Result<()> {
        self.flush()?;
        self.send(sql, params, check)
    }

    fn send(&self, sql: &str, params: Owned, check: Check) -> Result<()> {
        let statement = self.statement(sql)?;
        let pipe = self.pipe.borrow();
        let future = if matches!(check, Check::Combined(_) | Check::Prefetched(..)) {
            pipe.query(statement, params)
        } else {
            pipe.execute(statement, params)
        };
        drop(pipe);
        self.sent.borrow_mut().push((future, check));
        Ok(())
    }

    /// Keep a record write to send with the next statement: the writes of
    /// a closure go out as one statement ([`combine`]), which PostgreSQL
    /// answers once instead of once each.
    fn queue(&self, write: Queued) -> Result<()> {
        self.failed()?;
        if let Some((kind, _)) = write.key {
            // a lookup sent before this write may no longer hold
            self.prefetched
                .borrow_mut()
                .retain(|(k, _, _), _| *k != kind);
        }
        let again = write.key.is_some() && self.queued.borrow().iter().any(|q| q.key == write.key);
        if again {
            self.flush()?;
        }
        let full = {
            let mut queued = self.queued.borrow_mut();
            queued.push(write);
            queued.len() >= MOST_COMBINED
        };
        if full { self.flush() } else { Ok(()) }
    }

    /// Keep the answer of a unique lookup sent ahead, unless a write to
    /// its table came after it (which forgot the lookup, or sent it again
    /// under a new number).
    fn keep_prefetched(&self, lookup: &Lookup, number: u64, rows: &[PgRow]) {
        let mut prefetched = self.prefetched.borrow_mut();
        let Some((_, slot)) = prefetched.get_mut(lookup).filter(|(n, _)| *n == number) else {
            return;
        };
        let found = rows.first().map(|row| {
            let id: &str = row.get(0);
            (id_of(lookup.0, id), row.get::<_, String>(1).into_bytes())
        });
        match found {
            Some((Err(_), _)) => {
                // told by the lookup itself, which asks again
                prefetched.remove(lookup);
            }
            Some((Ok(id), data)) => *slot = Some(Some((id, data))),
            None => *slot = Some(None),
        }
    }

    /// Send the queued writes.
    fn flush(&self) -> Result<()> {
        let mut queued = std::mem::take(&mut *self.queued.borrow_mut());
        match queued.len() {
            0 => Ok(()),
            1 => {
                let Some(w) = queued.pop() else { return Ok(()) };
                self.send(&w.sql, w.params, w.check)
            }
            _ => {
                let (sql, params, check) = combine(queued);
                self.send(&sql, params, check)
            }
        }
    }

    /// The body of the row of `id` this transaction (or a closure before
    /// it in the same one) appended, still to be numbered.
    fn pending(&self, log: &LogSpec, id: &str) -> Option<Vec<u8>> {
        let deferred = self.deferred.borrow();
        self.earlier
            .iter()
            .chain(deferred.iter())
            .find(|d| d.log.name == log.name && d.id.as_deref() == Some(id))
            .map(|d| match &d.body {
                Body::Json(text) => text.clone().into_bytes(),
                Body::Bytes(bytes) => bytes.clone(),
            })
    }

    /// Keep a log row for the commit to number and insert. A JSON body
    /// PostgreSQL's `jsonb` would refuse is refused here, where it fails
    /// this closure alone rather than the commit of its group.
    fn defer(&self, log: &LogSpec, id: Option<Id>, body: &[u8], announced: bool) -> Result<()> {
        self.failed()?;
        let body = if log.json {
            let text = text_of(log.name, body)?;
            if has_nul_escape(&text) {
                return Err(StoreError::Backend(format!(
                    "a {} row may not hold the character U+0000",
                    log.name
                )));
            }
            Body::Json(text)
        } else {
            Body::Bytes(body.to_vec())
        };
        self.deferred.borrow_mut().push(Deferred {
            log: *log,
            id: id.map(|i| i.to_string()),
            body,
            announced,
        });
        Ok(())
    }

    fn insert_audits(&self, entries: &[AuditEntry], on_conflict: &str) -> Result<()> {
        let column = |f: &dyn Fn(&AuditEntry) -> String| -> Box<dyn ToSql + Sync + Send> {
            Box::new(entries.iter().map(f).collect::<Vec<_>>())
        };
        self.queue(Queued {
            sql: format!(
                "INSERT INTO audit (id, at, actor_id, method, object_type, object_id, action, request_id) \
                 SELECT id, at::timestamptz, actor_id, method, object_type, object_id, action, request_id \
                 FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], \
                 $7::text[], $8::text[]) AS e(id, at, actor_id, method, object_type, object_id, action, request_id)\
                 {on_conflict}"
            ),
            params: vec![
                column(&|e| e.id.to_string()),
                column(&|e| e.at.to_string()),
                column(&|e| e.actor_id.clone()),
                column(&|e| e.method.clone()),
                column(&|e| e.object_type.clone()),
                column(&|e| e.object_id.to_string()),
                column(&|e| e.action.clone()),
                column(&|e| e.request_id.clone()),
            ],
            check: Check::Nothing,
            key: None,
        })
    }

    /// Queue the insert or update `sql` of `row`, which this transaction
    /// now sees as written.
    fn write_record(
        &self,
        table: &TableSpec,
        row: &Row<'_>,
        sql: String,
        check: Check,
    ) -> Result<()> {
        self.queue(Queued {
            sql,
            params: record_params(table.kind, row)?,
            check,
            key: Some((table.kind, row.id)),
        })?;
        self.saw(table, row.id, Some(row.data));
        Ok(())
    }

    fn records(&self, sql: &str, params: Params<'_>) -> Result<Vec<Vec<u8>>> {
        Ok(self
            .query(sql, params)?
            .iter()
            .map(|r| r.get::<_, String>(0).into_bytes())
            .collect())
    }

    /// Refuse a unique value another record holds (before PostgreSQL's
    /// unique index would, so the error names the field).
    fn check_unique(
        &self,
        table: &TableSpec,
        id: Id,
        old: &IndexValues,
        new: &IndexValues,
    ) -> Result<()> {
        let id_text = id.to_string();
        for (i, spec) in table.indexes.iter().enumerate() {
            if !spec.unique {
                continue;
            }
            let before = old.get(i);
            for value in new.get(i).into_iter().flatten() {
                if before.is_some_and(|b| b.contains(value)) {
                    continue;
                }
                let sql = format!(
                    "SELECT 1 FROM {} WHERE {} AND id <> $2 LIMIT 1",
                    sql::table(table.kind),
                    sql::matches(spec, 1)
                );
                if !self.query(&sql, &[value, &id_text])?.is_empty() {
                    return Err(StoreError::UniqueTaken {
                        kind: table.kind,
                        field: spec.field,
                        value: if spec.nocase {
                            value.to_lowercase()
                        } else {
                            value.clone()
                        },
                    });
                }
            }
        }
        Ok(())
    }

    fn audit_entry(row: &PgRow) -> Result<AuditEntry> {
        Ok(AuditEntry {
            id: id_of("audit", row.get(0))?,
            at: timestamp("audit", row.get(1))?,
            actor_id: row.get(2),
            method: row.get(3),
            object_type: row.get(4),
            object_id: id_of("audit", row.get(5))?,
            action: row.get(6),
            request_id: row.get(7),
        })
    }

    fn idempotency_record(row: &PgRow) -> Result<IdempotencyRecord> {
        Ok(IdempotencyRecord {
            id: id_of("idempotency", row.get(0))?,
            created_at: timestamp("idempotency", row.get(1))?,
            params_hash: row.get(2),
            response: row.get(3),
        })
    }

    fn log_body(log: &LogSpec, row: &PgRow, at: usize) -> Vec<u8> {
        if log.json {
            row.get::<_, String>(at).into_bytes()
        } else {
            row.get(at)
        }
    }

    fn body_select(log: &LogSpec) -> &'static str {
        if log.json { "body::text" } else { "body" }
    }
}

impl StoreRead for PgTx<'_> {
    fn get(&self, table: &TableSpec, id: Id) -> Result<Option<Vec<u8>>> {
        if let Some(seen) = self.seen.borrow().get(&(table.kind, id)) {
            return Ok(seen.clone());
        }
        let sql = format!(
            "SELECT data::text FROM {} WHERE id = $1",
            sql::table(table.kind)
        );
        let found = self.records(&sql, &[&id.to_string()])?.into_iter().next();
        self.seen
            .borrow_mut()
            .insert((table.kind, id), found.clone());
        Ok(found)
    }

    fn list(&self, table: &TableSpec, before: Option<Id>, limit: usize) -> Result<Vec<Vec<u8>>> {
        let t = sql::table(table.kind);
        let limit = limit_of(limit);
        match before {
            Some(b) => self.records(
                &format!("SELECT data::text FROM {t} WHERE id < $1 ORDER BY id DESC LIMIT $2"),
                &[&b.to_string(), &limit],
            ),
            None => self.records(
                &format!("SELECT data::text FROM {t} ORDER BY id DESC LIMIT $1"),
                &[&limit],
            ),
        }
    }

    fn find(
        &self,
        table: &TableSpec,
        index: &IndexSpec,
        value: &str,
        before: Option<Id>,
        limit: usize,
    ) -> Result<Vec<Vec<u8>>> {
        let t = sql::table(table.kind);
        let cond = sql::matches(index, 1);
        let limit = limit_of(limit);
        match before {
            Some(b) => self.records(
                &format!(
                    "SELECT data::text FROM {t} WHERE {cond} AND id < $2 ORDER BY id DESC LIMIT $3"
                ),
                &[&value, &b.to_string(), &limit],
            ),
            None => self.records(
                &format!("SELECT data::text FROM {t} WHERE {cond} ORDER BY id DESC LIMIT $2"),
                &[&value, &limit],
            ),
        }
    }

    fn find_unique(
        &self,
        table: &TableSpec,
        index: &IndexSpec,
        value: &str,
    ) -> Result<Option<Vec<u8>>> {
        let lookup = (table.kind, index.field, value.to_string());
        let sent = self.prefetched.borrow().contains_key(&lookup);
        if sent && matches!(self.prefetched.borrow().get(&lookup), Some((_, None))) {
            // sent ahead, its answer still to come
            self.settle(None)?;
        }
        let answered = if sent {
            let kept = self.prefetched.borrow_mut().remove(&lookup);
            kept.and_then(|(_, found)| found)
        } else {
            None
        };
        let found = match answered {
            Some(found) => found,
            None => {
                let rows = self.query(&unique_sql(table, index), &[&value])?;
                match rows.first() {
                    Some(row) => Some((
                        id_of(table.kind, row.get(0))?,
                        row.get::<_, String>(1).into_bytes(),
                    )),
                    None => None,
                }
            }
        };
        let Some((id, data)) = found else {
            return Ok(None);
        };
        // a load of it by id later in the transaction costs no round trip
        self.saw(table, id, Some(&data));
        Ok(Some(data))
    }

    fn prefetch_unique(&self, table: &TableSpec, index: &IndexSpec, value: &str) -> Result<()> {
        self.failed()?;
        let lookup = (table.kind, index.field, value.to_string());
        if self.prefetched.borrow().contains_key(&lookup) {
            return Ok(());
        }
        // (after the writes queued before it, which it must see)
        self.flush()?;
        let number = self.prefetches.get() + 1;
        self.prefetches.set(number);
        self.prefetched
            .borrow_mut()
            .insert(lookup.clone(), (number, None));
        self.send(
            &unique_sql(table, index),
            vec![Box::new(value.to_string())],
            Check::Prefetched(lookup, number),
        )
    }

    fn count(&self, table: &TableSpec) -> Result<u64> {
        let sql = format!("SELECT count(*) FROM {}", sql::table(table.kind));
        let rows = self.query(&sql, &[])?;
        let n: i64 = rows.first().map(|r| r.get(0)).unwrap_or(0);
        Ok(u64::try_from(n).unwrap_or(0))
    }

    fn audit(
        &self,
        filter: AuditFilter<'_>,
        before: Option<Id>,
        limit: usize,
    ) -> Result<Vec<AuditEntry>> {
        let columns = format!(
            "id, {}, actor_id, method, object_type, object_id, action, request_id",
            micros("at")
        );
        let (mut cond, value) = match filter {
            AuditFilter::All => (String::from("TRUE"), None),
            AuditFilter::Actor(a) => ("actor_id = $2".into(), Some(a)),
            AuditFilter::Object(o) => ("object_id = $2".into(), Some(o)),
        };
        let before = before.map(|b| b.to_string());
        if before.is_some() {
            cond.push_str(if value.is_some() {
                " AND id < $3"
            } else {
                " AND id < $2"
            });
        }
        let sql = format!("SELECT {columns} FROM audit WHERE {cond} ORDER BY id DESC LIMIT $1");
        let limit = limit_of(limit);
        let rows = match (value, &before) {
            (Some(v), Some(b)) => self.query(&sql, &[&limit, &v, b])?,
            (Some(v), None) => self.query(&sql, &[&limit, &v])?,
            (None, Some(b)) => self.query(&sql, &[&limit, b])?,
            (None, None) => self.query(&sql, &[&limit])?,
        };
        rows.iter().map(Self::audit_entry).collect()
    }

    /// The highest number committed: the last row, or what the log held
    /// before it was pruned. (Not the sequence's value, which counts rows
    /// numbered by transactions still committing, or rolled back.)
    fn log_last(&self, log: &LogSpec) -> Result<u64> {
        let sql = format!(
            "SELECT greatest((SELECT coalesce(max(seq), 0) FROM {}), \
             (SELECT coalesce(max(last), 0) FROM log_seq WHERE name = $1))",
            sql::log_table(log)
        );
        let rows = self.query(&sql, &[&log.name])?;
        match rows.first() {
            Some(r) => seq_of(log.name, r.get(0)),
            None => Ok(0),
        }
    }

    fn log_after(&self, log: &LogSpec, seq: u64, limit: usize) -> Result<Vec<(u64, Vec<u8>)>> {
        let sql = format!(
            "SELECT seq, {} FROM {} WHERE seq > $1 ORDER BY seq LIMIT $2",
            Self::body_select(log),
            sql::log_table(log)
        );
        self.query(&sql, &[&seq_param(seq)?, &limit_of(limit)])?
            .iter()
            .map(|r| Ok((seq_of(log.name, r.get(0))?, Self::log_body(log, r, 1))))
            .collect()
    }

    fn log_seq(&self, log: &LogSpec, id: Id) -> Result<Option<u64>> {
        let sql = format!("SELECT seq FROM {} WHERE id = $1", sql::log_table(log));
        match self.query(&sql, &[&id.to_string()])?.first() {
            Some(r) => seq_of(log.name, r.get(0)).map(Some),
            None => Ok(None),
        }
    }

    fn log_find(&self, log: &LogSpec, id: Id) -> Result<Option<Vec<u8>>> {
        if let Some(row) = self.pending(log, &id.to_string()) {
            return Ok(Some(row));
        }
        let sql = format!(
            "SELECT {} FROM {} WHERE id = $1",
            Self::body_select(log),
            sql::log_table(log)
        );
        Ok(self
            .query(&sql, &[&id.to_string()])?
            .first()
            .map(|r| Self::log_body(log, r, 0)))
    }

    fn log_ids(&self, log: &LogSpec, after: Option<Id>, limit: usize) -> Result<Vec<(Id, u64)>> {
        let sql = format!(
            "SELECT id, seq FROM {} WHERE id IS NOT NULL AND id > $1 ORDER BY id LIMIT $2",
            sql::log_table(log)
        );
        let after = after.map(|a| a.to_string()).unwrap_or_default();
        self.query(&sql, &[&after, &limit_of(limit)])?
            .iter()
            .map(|r| Ok((id_of(log.name, r.get(0))?, seq_of(log.name, r.get(1))?)))
            .collect()
    }

    fn idempotency(&self, scope: &str) -> Result<Option<IdempotencyRecord>> {
        let sql = format!(
            "SELECT id, {}, params_hash, response FROM idempotency WHERE scope = $1",
            micros("created_at")
        );
        match self.query(&sql, &[&scope])?.first() {
            Some(r) => Self::idempotency_record(r).map(Some),
            None => Ok(None),
        }
    }

    fn idempotency_after(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, IdempotencyRecord)>> {
        let sql = format!(
            "SELECT id, {}, params_hash, response, scope FROM idempotency \
             WHERE scope > $1 ORDER BY scope LIMIT $2",
            micros("created_at")
        );
        self.query(&sql, &[&after.unwrap_or(""), &limit_of(limit)])?
            .iter()
            .map(|r| Ok((r.get(4), Self::idempotency_record(r)?)))
            .collect()
    }

    fn snapshot(&self, name: &str) -> Result<Option<Vec<u8>>> {
        Ok(self
            .query("SELECT data FROM snapshots WHERE name = $1", &[&name])?
            .first()
            .map(|r| r.get(0)))
    }

    fn snapshot_names(&self) -> Result<Vec<String>> {
        Ok(self
            .query("SELECT name FROM snapshots ORDER BY name", &[])?
            .iter()
            .map(|r| r.get(0))
            .collect())
    }
}

/// The statement of a unique lookup: the record's id and JSON.
fn unique_sql(table: &TableSpec, index: &IndexSpec) -> String {
    format!(
        "SELECT id, data::text FROM {} WHERE {} LIMIT 1",
        sql::table(table.kind),
        sql::matches(index, 1)
    )
}

/// How a log's body parameter is written: JSON logs store `jsonb`.
fn body_param(log: &LogSpec) -> &'static str {
    if log.json { "$3::text::jsonb" } else { "$3" }
}

/// A log row's body as a parameter.
fn log_body(log: &LogSpec, body: &[u8]) -> Result<Box<dyn ToSql + Sync + Send>> {
    Ok(if log.json {
        Box::new(text_of(log.name, body)?)
    } else {
        Box::new(body.to_vec())
    })
}

/// One log's rows of a commit, in order.
struct LogRows {
    log: LogSpec,
    /// They are domain events (their numbers are told).
    events: bool,
    ids: Vec<Option<String>>,
    bodies: Vec<Body>,
}

/// Number `rows` under [`LOG_LOCK`], insert them and commit the
/// transaction on `conn`, in one round trip; the highest number given to a
/// domain event. Any statement failing fails the commit (PostgreSQL then
/// rolls the transaction back) and the logs' sequences are set back to
/// where they were, so the numbers taken are given again.
pub(crate) fn commit(
    conn: &mut Conn,
    rows: Vec<Deferred>,
) -> std::result::Result<Option<u64>, postgres::Error> {
    let mut logs: Vec<LogRows> = Vec::new();
    for row in rows {
        let at = match logs.iter().position(|l| l.log.name == row.log.name) {
            Some(at) => at,
            None => {
                logs.push(LogRows {
                    log: row.log,
                    events: false,
                    ids: Vec::new(),
                    bodies: Vec::new(),
                });
                logs.len() - 1
            }
        };
        let l = &mut logs[at];
        l.events |= row.announced;
        l.ids.push(row.id);
        l.bodies.push(row.body);
    }
    if logs.is_empty() {
        return conn.batch_execute("COMMIT").map(|()| None);
    }
    // Everything is prepared before the lock is taken: a failure then
    // leaves it free.
    let mut pipe = conn.pipeline();
    let mut states = Vec::new();
    let mut inserts = Vec::new();
    for LogRows {
        log, ids, bodies, ..
    } in &mut logs
    {
        states.push(pipe.statement(&format!(
            "SELECT last_value, is_called FROM {}",
            sql::log_sequence(log)
        ))?);
        let (kind, cast) = if log.json {
            ("text", "::jsonb")
        } else {
            ("bytea", "")
        };
        let statement = pipe.statement(&format!(
            "INSERT INTO {} (seq, id, body) SELECT nextval('{}'), id, body{cast} \
             FROM unnest($1::text[], $2::{kind}[]) AS r(id, body) RETURNING seq",
            sql::log_table(log),
            sql::log_sequence(log)
        ))?;
        let mut json = Vec::new();
        let mut bytes = Vec::new();
        for body in std::mem::take(bodies) {
            match body {
                Body::Json(text) => json.push(text),
                Body::Bytes(b) => bytes.push(b),
            }
        }
        let body: Box<dyn ToSql + Sync + Send> = if log.json {
            Box::new(json)
        } else {
            Box::new(bytes)
        };
        inserts.push((
            statement,
            vec![
                Box::new(std::mem::take(ids)) as Box<dyn ToSql + Sync + Send>,
                body,
            ],
        ));
    }
    let mut sent = vec![pipe.batch(LOG_LOCK)];
    for statement in states {
        sent.push(pipe.query(statement, Vec::new()));
    }
    for (statement, params) in inserts {
        sent.push(pipe.query(statement, params));
    }
    sent.push(pipe.batch(COMMIT_AND_UNLOCK));
    let mut answers = pipe.wait(sent)?;
    let Some(committed) = answers.pop() else {
        return conn.batch_execute("ROLLBACK").map(|()| None);
    };
    let mut answers = answers.into_iter();
    // Without the lock, nothing was numbered.
    answers.next().transpose()?;
    // The first error, in the order the statements ran, is the one to
    // tell: those after it only say the transaction was aborted.
    let mut failed = None;
    let mut before = Vec::new();
    for LogRows { log, .. } in &logs {
        match answers.next() {
            Some(Ok(Answer::Rows(state))) => {
                if let Some(row) = state.first() {
                    before.push((*log, row.get::<_, i64>(0), row.get::<_, bool>(1)));
                }
            }
            Some(Err(e)) => failed = failed.or(Some(e)),
            _ => {}
        }
    }
    let mut announced = None;
    for LogRows { events, .. } in &logs {
        match answers.next() {
            Some(Ok(Answer::Rows(seqs))) if *events => {
                let high = seqs.iter().map(|r| r.get::<_, i64>(0)).max();
                announced = announced.max(high.and_then(|s| u64::try_from(s).ok()));
            }
            Some(Err(e)) => failed = failed.or(Some(e)),
            _ => {}
        }
    }
    // The commit's own message went through: the transaction committed
    // and the lock is free, whatever else was said.
    match (committed, failed) {
        (Ok(_), _) => Ok(announced),
        (Err(e), failed) => {
            // Nobody else numbered rows since, the lock being held.
            give_back(conn, &before);
            Err(failed.unwrap_or(e))
        }
    }
}

/// End the failed transaction, set the sequences back to `before` (never
/// below a number the log holds: a sequence left behind would refuse
/// every append) and let go of [`LOG_LOCK`]. A connection that cannot do
/// it is closed, which lets go of the lock too.
fn give_back(conn: &mut Conn, before: &[(LogSpec, i64, bool)]) {
    let mut sql = String::from("ROLLBACK; ");
    for (log, last, called) in before {
        let s = sql::log_sequence(log);
        let next = if *called { last + 1 } else { *last };
        sql.push_str(&format!(
            "SELECT CASE WHEN high >= {next} THEN setval('{s}', high, true) \
             ELSE setval('{s}', {last}, {called}) END \
             FROM (SELECT coalesce(max(seq), 0) AS high FROM {}) AS log; ",
            sql::log_table(log)
        ));
    }
    sql.push_str(LOG_UNLOCK);
    if conn.batch_execute(&sql).is_err() {
        conn.discard();
    }
}

/// A JSON text holding the escape `\u0000` (outside an escaped backslash),
/// which `jsonb` refuses.
fn has_nul_escape(text: &str) -> bool {
    let bytes = text.as_bytes();
    let mut backslashes = 0;
    for (i, b) in bytes.iter().enumerate() {
        if *b == b'\\' {
            backslashes += 1;
            continue;
        }
        if backslashes % 2 == 1 && bytes[i..].starts_with(b"u0000") {
            return true;
        }
        backslashes = 0;
    }
    false
}

/// A record row's parameters: id, version, timestamps and JSON.
fn record_params(kind: &str, row: &Row<'_>) -> Result<Owned> {
    Ok(vec![
        Box::new(row.id.to_string()),
        Box::new(version_of(row.version)?),
        Box::new(row.created_at.to_string()),
        Box::new(row.updated_at.to_string()),
        Box::new(text_of(kind, row.data)?),
    ])
}

impl StoreWrite for PgTx<'_> {
    fn insert(&mut self, table: &TableSpec, row: &Row<'_>, values: &IndexValues) -> Result<()> {
        self.check_unique(table, row.id, &[], values)?;
        let sql = format!(
            "INSERT INTO {} (id, version, created_at, updated_at, data) \
             VALUES ($1, $2, $3::text::timestamptz, $4::text::timestamptz, $5::text::jsonb)",
            sql::table(table.kind)
        );
        let check = Check::Inserted {
            kind: table.kind,
            id: row.id,
        };
        self.write_record(table, row, sql, check)
    }

    fn update(
        &mut self,
        table: &TableSpec,
        row: &Row<'_>,
        old: &IndexValues,
        new: &IndexValues,
    ) -> Result<()> {
        self.check_unique(table, row.id, old, new)?;
        let sql = format!(
            "UPDATE {} SET version = $2, created_at = $3::text::timestamptz, \
             updated_at = $4::text::timestamptz, data = $5::text::jsonb WHERE id = $1",
            sql::table(table.kind)
        );
        let check = Check::Updated {
            kind: table.kind,
            id: row.id,
        };
        self.write_record(table, row, sql, check)
    }

    fn delete(&mut self, table: &TableSpec, id: Id, _old: &IndexValues) -> Result<()> {
        self.queue(Queued {
            sql: format!("DELETE FROM {} WHERE id = $1", sql::table(table.kind)),
            params: vec![Box::new(id.to_string())],
            check: Check::Nothing,
            key: Some((table.kind, id)),
        })?;
        self.saw(table, id, None);
        Ok(())
    }

    /// New entries (fresh ids): a plain insert, whose key check is no read
    /// that `SERIALIZABLE` tracks.
    fn append_audits(&mut self, entries: &[AuditEntry]) -> Result<()> {
        self.insert_audits(entries, "")
    }

    /// An entry that may be there already (an import into a database that
    /// holds it): kept as it is.
    fn append_audit(&mut self, e: &AuditEntry) -> Result<()> {
        self.insert_audits(std::slice::from_ref(e), " ON CONFLICT (id) DO NOTHING")
    }

    /// Kept for the commit to number; a row whose id the log holds, or
    /// that this transaction appended already, is not appended again.
    fn log_append(&mut self, log: &LogSpec, id: Option<Id>, body: &[u8]) -> Result<Appended> {
        if let Some(id) = id
            && (self.pending(log, &id.to_string()).is_some() || self.log_seq(log, id)?.is_some())
        {
            return Ok(Appended::Present);
        }
        self.defer(log, id, body, false)?;
        Ok(Appended::AtCommit)
    }

    /// A domain event, numbered at the commit ([`commit`]), which tells
    /// the number through [`super::PgBackend`]'s `last_appended`.
    fn log_append_new(&mut self, log: &LogSpec, id: Id, body: &[u8]) -> Result<Option<u64>> {
        self.defer(log, Some(id), body, true)?;
        Ok(None)
    }

    /// A row under a given number (a copy or a restore): the sequence goes
    /// on after it.
    fn log_put(&mut self, log: &LogSpec, seq: u64, id: Option<Id>, body: &[u8]) -> Result<()> {
        let t = sql::log_table(log);
        let id = id.map(|i| i.to_string());
        let seq = seq_param(seq)?;
        let value = body_param(log);
        self.later(
            &format!(
                "INSERT INTO {t} (seq, id, body) VALUES ($1, $2, {value}) \
                 ON CONFLICT (seq) DO UPDATE SET id = excluded.id, body = excluded.body"
            ),
            vec![Box::new(seq), Box::new(id), log_body(log, body)?],
            Check::Nothing,
        )?;
        // under the log lock, so no commit numbers rows meanwhile (held
        // until this transaction ends)
        self.later("SET LOCAL lock_timeout = 0", Vec::new(), Check::Nothing)?;
        self.later(
            "SELECT pg_advisory_xact_lock(7881706113011990530)",
            Vec::new(),
            Check::Nothing,
        )?;
        let s = sql::log_sequence(log);
        self.later(
            &format!("SELECT setval('{s}', greatest($1, (SELECT last_value FROM {s})))"),
            vec![Box::new(seq)],
            Check::Nothing,
        )
    }

    /// Forget rows up to `seq`; the highest number forgotten stays in
    /// `log_seq`, so [`StoreRead::log_last`] does not go back.
    fn log_prune(&mut self, log: &LogSpec, seq: u64, limit: usize) -> Result<usize> {
        let t = sql::log_table(log);
        let sql = format!(
            "WITH gone AS (DELETE FROM {t} WHERE seq IN \
             (SELECT seq FROM {t} WHERE seq <= $1 ORDER BY seq LIMIT $2) RETURNING seq), \
             high AS (INSERT INTO log_seq (name, last) SELECT $3, max(seq) FROM gone \
             HAVING count(*) > 0 \
             ON CONFLICT (name) DO UPDATE SET last = greatest(log_seq.last, excluded.last)) \
             SELECT count(*) FROM gone"
        );
        let rows = self.query(&sql, &[&seq_param(seq)?, &limit_of(limit), &log.name])?;
        let n: i64 = rows.first().map(|r| r.get(0)).unwrap_or(0);
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }

    fn put_idempotency(&mut self, scope: &str, r: &IdempotencyRecord) -> Result<()> {
        self.later(
            "INSERT INTO idempotency (scope, id, created_at, params_hash, response) \
             VALUES ($1, $2, $3::text::timestamptz, $4, $5) \
             ON CONFLICT (scope) DO UPDATE SET id = excluded.id, created_at = excluded.created_at, \
             params_hash = excluded.params_hash, response = excluded.response",
            vec![
                Box::new(scope.to_string()),
                Box::new(r.id.to_string()),
                Box::new(r.created_at.to_string()),
                Box::new(r.params_hash.clone()),
                Box::new(r.response.clone()),
            ],
            Check::Nothing,
        )
    }

    fn delete_idempotency(&mut self, scope: &str) -> Result<()> {
        self.later(
            "DELETE FROM idempotency WHERE scope = $1",
            vec![Box::new(scope.to_string())],
            Check::Nothing,
        )
    }

    fn purge_idempotency(&mut self, cutoff: Timestamp, limit: usize) -> Result<usize> {
        let n = self.execute(
            "DELETE FROM idempotency WHERE scope IN (SELECT scope FROM idempotency \
             WHERE created_at < $1::text::timestamptz ORDER BY created_at LIMIT $2)",
            &[&cutoff.to_string(), &limit_of(limit)],
        )?;
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }

    fn put_snapshot(&mut self, name: &str, bytes: &[u8]) -> Result<()> {
        self.later(
            "INSERT INTO snapshots (name, data) VALUES ($1, $2) \
             ON CONFLICT (name) DO UPDATE SET data = excluded.data",
            vec![Box::new(name.to_string()), Box::new(bytes.to_vec())],
            Check::Nothing,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::{Check, Queued, combine, has_nul_escape, shift_params};
    use crate::types::Id;

    #[test]
    fn parameters_are_renumbered_past_those_before() {
        assert_eq!(
            shift_params("UPDATE t SET a = $2::text WHERE id = $1 AND b = $10", 5),
            "UPDATE t SET a = $7::text WHERE id = $6 AND b = $15"
        );
        assert_eq!(shift_params("SELECT '$' || $1", 0), "SELECT '$' || $1");
    }

    #[test]
    fn writes_combine_into_one_statement_counting_the_updates() {
        let id = Id(ulid::Ulid(7));
        let write = |sql: &str, check| Queued {
            sql: sql.into(),
            params: vec![Box::new(id.to_string()), Box::new(1_i64)],
            check,
            key: Some(("t", id)),
        };
        let (sql, params, check) = combine(vec![
            write(
                "UPDATE t SET v = $2 WHERE id = $1",
                Check::Updated { kind: "t", id },
            ),
            write(
                "INSERT INTO u (id, v) VALUES ($1, $2)",
                Check::Inserted { kind: "u", id },
            ),
            write(
                "UPDATE w SET v = $2 WHERE id = $1",
                Check::Updated { kind: "w", id },
            ),
        ]);
        assert_eq!(
            sql,
            "WITH w0 AS (UPDATE t SET v = $2 WHERE id = $1 RETURNING 1), \
             w1 AS (INSERT INTO u (id, v) VALUES ($3, $4)), \
             w2 AS (UPDATE w SET v = $6 WHERE id = $5 RETURNING 1) \
             SELECT (SELECT count(*) FROM w0), (SELECT count(*) FROM w2)"
        );
        assert!(sql.starts_with(crate::pg::client::COMBINED));
        assert_eq!(params.len(), 6);
        assert!(matches!(check, Check::Combined(ref c) if c.len() == 3));
    }

    #[test]
    fn only_a_real_nul_escape_is_found() {
        assert!(has_nul_escape(r#"{"a":"x\u0000"}"#));
        assert!(has_nul_escape(r#"{"a":"\\\u0000"}"#));
        assert!(!has_nul_escape(r#"{"a":"\\u0000"}"#));
        assert!(!has_nul_escape(r#"{"a":"\u0001"}"#));
        assert!(!has_nul_escape(r#"{"a":"u0000"}"#));
    }
}
