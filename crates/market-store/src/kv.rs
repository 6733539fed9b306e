//! The store's contract on byte-ordered key-value tables, for embedded
//! engines (redb). Records live in `o:<kind>` by id; each index has a table
//! of its own (`i:<kind>:<field>` keyed by value then id, `u:<kind>:<field>`
//! keyed by value); counts, the audit trail with its two indexes (a call's
//! entries in one row), logs, idempotency records and snapshots have tables
//! too. Index keys are the length-prefixed value followed by the 16-byte
//! id, so one value's entries are contiguous and newest-first is a reverse
//! scan.

use std::collections::HashMap;
use std::ops::Bound;
use std::sync::{LazyLock, PoisonError, RwLock};

use crate::backend::{Appended, IndexValues, LogSpec, Row, StoreRead, StoreWrite};
use crate::error::{Result, StoreError};
use crate::idempotency::IdempotencyRecord;
use crate::record::{IndexSpec, TableSpec};
use crate::tx::{AuditEntry, AuditFilter};
use crate::types::{Id, Timestamp};

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

    /// The range's bounds as byte slices.
    pub(crate) fn bounds(&self) -> (Bound<&[u8]>, Bound<&[u8]>) {
        fn b(x: &Bound<Vec<u8>>) -> Bound<&[u8]> {
            match x {
                Bound::Included(v) => Bound::Included(v.as_slice()),
                Bound::Excluded(v) => Bound::Excluded(v.as_slice()),
                Bound::Unbounded => Bound::Unbounded,
            }
        }
        (b(&self.start), b(&self.end))
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

/// Reads of named byte-ordered tables inside a transaction.
pub trait RawRead {
    fn get(&self, table: &str, key: &[u8]) -> Result<Option<Vec<u8>>>;
    /// Up to `limit` entries of `range`, in `order`.
    fn scan(&self, table: &str, range: &KeyRange, order: Order, limit: usize)
    -> Result<Vec<Entry>>;
}

impl<R: RawRead> RawRead for &R {
    fn get(&self, table: &str, key: &[u8]) -> Result<Option<Vec<u8>>> {
        (**self).get(table, key)
    }

    fn scan(
        &self,
        table: &str,
        range: &KeyRange,
        order: Order,
        limit: usize,
    ) -> Result<Vec<Entry>> {
        (**self).scan(table, range, order, limit)
    }
}

/// Writes of named tables; visible to later reads of the same transaction.
pub trait RawWrite: RawRead {
    fn put(&mut self, table: &str, key: &[u8], value: &[u8]) -> Result<()>;
    /// Returns whether the key was present.
    fn delete(&mut self, table: &str, key: &[u8]) -> Result<bool>;
}

/// The store's contract over raw tables.
pub struct Kv<R>(pub R);

const AUDIT: &str = "audit";
const AUDIT_BY_ACTOR: &str = "audit:actor";
const AUDIT_BY_OBJECT: &str = "audit:object";
/// Number of records of each type.
const COUNTS: &str = "count";
const META: &str = "meta";
const IDEM: &str = "idem";
/// Idempotency records by creation (id) order, for purging old ones.
const IDEM_BY_TIME: &str = "idem:time";
const SNAPSHOTS: &str = "snapshots";

/// What a table's name is made for.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Named {
    Primary,
    Index,
    Unique,
    LogIds,
    LogSeq,
}

/// The name `what` of `kind` (and `field`), made once and then shared: the
/// names come from the schema's static specs, so there are few of them, and
/// a call would otherwise format several.
/// They are found by where `kind` and `field` lie, not by comparing them:
/// the same text at two places is made twice, each time alike.
fn name(what: Named, kind: &'static str, field: &'static str) -> &'static str {
    type Place = (usize, usize);
    type Names = HashMap<(Named, Place, Place), &'static str, foldhash::fast::RandomState>;
    static NAMES: LazyLock<RwLock<Names>> = LazyLock::new(RwLock::default);
    let place = |s: &'static str| (s.as_ptr() as usize, s.len());
    let key = (what, place(kind), place(field));
    if let Some(name) = NAMES
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .get(&key)
    {
        return name;
    }
    let made = match what {
        Named::Primary => format!("o:{kind}"),
        Named::Index => format!("i:{kind}:{field}"),
        Named::Unique => format!("u:{kind}:{field}"),
        Named::LogIds => format!("{kind}:ids"),
        Named::LogSeq => format!("{kind}.seq"),
    };
    NAMES
        .write()
        .unwrap_or_else(PoisonError::into_inner)
        .entry(key)
        .or_insert_with(|| Box::leak(made.into_boxed_str()))
}

fn primary(kind: &'static str) -> &'static str {
    name(Named::Primary, kind, "")
}

fn index_table(kind: &'static str, field: &'static str) -> &'static str {
    name(Named::Index, kind, field)
}

fn unique_table(kind: &'static str, field: &'static str) -> &'static str {
    name(Named::Unique, kind, field)
}

fn log_ids(log: &LogSpec) -> &'static str {
    name(Named::LogIds, log.name, "")
}

fn log_seq_key(log: &LogSpec) -> &'static [u8] {
    name(Named::LogSeq, log.name, "").as_bytes()
}

fn normalise(spec: &IndexSpec, value: &str) -> String {
    if spec.nocase {
        value.to_lowercase()
    } else {
        value.to_string()
    }
}

fn normalised(spec: &IndexSpec, values: Option<&Vec<String>>) -> Vec<String> {
    values
        .map(|vs| vs.iter().map(|v| normalise(spec, v)).collect())
        .unwrap_or_default()
}

/// The length-prefixed value an index key starts with.
fn value_prefix(value: &str) -> Vec<u8> {
    let bytes = value.as_bytes();
    let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
    let mut key = Vec::with_capacity(4 + bytes.len() + 16);
    key.extend_from_slice(&len.to_be_bytes());
    key.extend_from_slice(bytes);
    key
}

fn index_key(value: &str, id: Id) -> Vec<u8> {
    let mut key = value_prefix(value);
    key.extend_from_slice(&id.to_key());
    key
}

fn corrupt(table: &str, reason: impl Into<String>) -> StoreError {
    StoreError::Corrupt {
        table: table.to_string(),
        reason: reason.into(),
    }
}

fn id_from_key(table: &str, key: &[u8]) -> Result<Id> {
    let tail = key
        .len()
        .checked_sub(16)
        .map(|at| &key[at..])
        .unwrap_or(key);
    Id::from_key(tail).ok_or_else(|| corrupt(table, "index key without an id"))
}

fn u64_of(table: &str, bytes: &[u8]) -> Result<u64> {
    let arr: [u8; 8] = bytes.try_into().map_err(|_| corrupt(table, "bad number"))?;
    Ok(u64::from_be_bytes(arr))
}

fn decode<T: serde::de::DeserializeOwned>(table: &str, bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| corrupt(table, e.to_string()))
}

fn encode<T: serde::Serialize>(table: &str, value: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| corrupt(table, e.to_string()))
}

/// The audit entries of one call, in one row of the audit table keyed by
/// the oldest entry's id: what they share once, then what each changed.
/// (Rows written before were one entry each, an [`AuditEntry`].)
#[derive(serde::Serialize, serde::Deserialize)]
struct CallAudit {
    at: Timestamp,
    actor_id: String,
    method: String,
    request_id: String,
    entries: Vec<CallEntry>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct CallEntry {
    id: Id,
    object_type: String,
    object_id: Id,
    action: String,
}

impl CallAudit {
    /// The entries of `run`, which share their time, actor, method and request.
    fn of(run: &[AuditEntry]) -> Option<CallAudit> {
        let first = run.first()?;
        Some(CallAudit {
            at: first.at,
            actor_id: first.actor_id.clone(),
            method: first.method.clone(),
            request_id: first.request_id.clone(),
            entries: run
                .iter()
                .map(|e| CallEntry {
                    id: e.id,
                    object_type: e.object_type.clone(),
                    object_id: e.object_id,
                    action: e.action.clone(),
                })
                .collect(),
        })
    }

    /// Its entries, newest first.
    fn into_entries(self) -> Vec<AuditEntry> {
        let mut entries: Vec<AuditEntry> = self
            .entries
            .into_iter()
            .map(|e| AuditEntry {
                id: e.id,
                at: self.at,
                actor_id: self.actor_id.clone(),
                method: self.method.clone(),
                object_type: e.object_type,
                object_id: e.object_id,
                action: e.action,
                request_id: self.request_id.clone(),
            })
            .collect();
        entries.sort_by_key(|e| std::cmp::Reverse(e.id));
        entries
    }
}

/// The entries of a row of the audit table, newest first.
fn audit_row(bytes: &[u8]) -> Result<Vec<AuditEntry>> {
    match serde_json::from_slice::<CallAudit>(bytes) {
        Ok(call) => Ok(call.into_entries()),
        Err(_) => Ok(vec![decode::<AuditEntry>(AUDIT, bytes)?]),
    }
}

/// Whether two entries belong to one call's row.
fn same_call(a: &AuditEntry, b: &AuditEntry) -> bool {
    a.at == b.at && a.actor_id == b.actor_id && a.method == b.method && a.request_id == b.request_id
}

/// Every key of a table (up to `before` when given), newest first.
fn descending(before: Option<Id>, prefix: &[u8], key: impl Fn(Id) -> Vec<u8>) -> KeyRange {
    let range = KeyRange::prefix(prefix);
    match before {
        Some(id) => range.before(key(id)),
        None => range,
    }
}

impl<R: RawRead> Kv<R> {
    fn count_of(&self, kind: &str) -> Result<u64> {
        match self.0.get(COUNTS, kind.as_bytes())? {
            Some(bytes) => u64_of(COUNTS, &bytes),
            None => Ok(0),
        }
    }

    fn records_by_keys(
        &self,
        table: &TableSpec,
        index: &str,
        keys: &[Entry],
    ) -> Result<Vec<Vec<u8>>> {
        let primary = primary(table.kind);
        let mut out = Vec::with_capacity(keys.len());
        for (key, _) in keys {
            let id = id_from_key(index, key)?;
            let bytes = self.0.get(primary, &id.to_key())?.ok_or_else(|| {
                corrupt(
                    index,
                    format!("index entry for a missing {} {id}", table.kind),
                )
            })?;
            out.push(bytes);
        }
        Ok(out)
    }
}

impl<R: RawRead> StoreRead for Kv<R> {
    fn keeps_text(&self) -> bool {
        true
    }

    fn get(&self, table: &TableSpec, id: Id) -> Result<Option<Vec<u8>>> {
        self.0.get(primary(table.kind), &id.to_key())
    }

    fn list(&self, table: &TableSpec, before: Option<Id>, limit: usize) -> Result<Vec<Vec<u8>>> {
        let range = descending(before, &[], |id| id.to_key().to_vec());
        let rows = self
            .0
            .scan(primary(table.kind), &range, Order::Descending, limit)?;
        Ok(rows.into_iter().map(|(_, v)| v).collect())
    }

    fn find(
        &self,
        table: &TableSpec,
        index: &IndexSpec,
        value: &str,
        before: Option<Id>,
        limit: usize,
    ) -> Result<Vec<Vec<u8>>> {
        let value = normalise(index, value);
        if index.unique {
            let found = self.find_unique(table, index, &value)?;
            let mut out = Vec::new();
            if let Some(bytes) = found {
                let meta: serde_json::Value = decode(table.kind, &bytes)?;
                let id: Option<Id> = meta
                    .get("id")
                    .and_then(serde_json::Value::as_str)
                    .and_then(|s| s.parse().ok());
                if before.is_none_or(|b| id.is_some_and(|id| id < b)) && limit > 0 {
                    out.push(bytes);
                }
            }
            return Ok(out);
        }
        let name = index_table(table.kind, index.field);
        let range = descending(before, &value_prefix(&value), |id| index_key(&value, id));
        let keys = self.0.scan(name, &range, Order::Descending, limit)?;
        self.records_by_keys(table, name, &keys)
    }

    fn find_unique(
        &self,
        table: &TableSpec,
        index: &IndexSpec,
        value: &str,
    ) -> Result<Option<Vec<u8>>> {
        let name = unique_table(table.kind, index.field);
        match self.0.get(name, normalise(index, value).as_bytes())? {
            Some(id) => {
                let id = id_from_key(name, &id)?;
                self.get(table, id)
            }
            None => Ok(None),
        }
    }

    fn count(&self, table: &TableSpec) -> Result<u64> {
        self.count_of(table.kind)
    }

    fn audit(
        &self,
        filter: AuditFilter<'_>,
        before: Option<Id>,
        limit: usize,
    ) -> Result<Vec<AuditEntry>> {
        let mut items = Vec::new();
        if limit == 0 {
            return Ok(items);
        }
        // Rows are keyed by their oldest entry: a row before `upper` may
        // still hold entries after `before`, which are left out.
        let mut upper = before;
        loop {
            let rows: Vec<(Id, Vec<u8>)> = match filter {
                AuditFilter::All => {
                    let range = descending(upper, &[], |id| id.to_key().to_vec());
                    self.0
                        .scan(AUDIT, &range, Order::Descending, limit)?
                        .into_iter()
                        .map(|(k, v)| Ok((id_from_key(AUDIT, &k)?, v)))
                        .collect::<Result<_>>()?
                }
                AuditFilter::Actor(value) | AuditFilter::Object(value) => {
                    let index = match filter {
                        AuditFilter::Object(_) => AUDIT_BY_OBJECT,
                        _ => AUDIT_BY_ACTOR,
                    };
                    let range = descending(upper, &value_prefix(value), |id| index_key(value, id));
                    let keys = self.0.scan(index, &range, Order::Descending, limit)?;
                    let mut rows = Vec::with_capacity(keys.len());
                    for (key, _) in &keys {
                        let id = id_from_key(index, key)?;
                        // a missing row still moves the scan on
                        let bytes = self.0.get(AUDIT, &id.to_key())?.unwrap_or_default();
                        rows.push((id, bytes));
                    }
                    rows
                }
            };
            let scanned = rows.len();
            for (id, bytes) in rows {
                upper = Some(id);
                if bytes.is_empty() {
                    continue;
                }
                for entry in audit_row(&bytes)? {
                    let wanted = before.is_none_or(|b| entry.id < b)
                        && match filter {
                            AuditFilter::Object(o) => entry.object_id.to_string() == o,
                            _ => true,
                        };
                    if wanted {
                        items.push(entry);
                        if items.len() == limit {
                            return Ok(items);
                        }
                    }
                }
            }
            if scanned < limit {
                return Ok(items);
            }
        }
    }

    fn log_last(&self, log: &LogSpec) -> Result<u64> {
        match self.0.get(META, log_seq_key(log))? {
            Some(bytes) => u64_of(META, &bytes),
            None => Ok(0),
        }
    }

    fn log_after(&self, log: &LogSpec, seq: u64, limit: usize) -> Result<Vec<(u64, Vec<u8>)>> {
        let range = KeyRange::prefix(&[]).after(seq.to_be_bytes().to_vec());
        self.0
            .scan(log.name, &range, Order::Ascending, limit)?
            .into_iter()
            .map(|(k, v)| Ok((u64_of(log.name, &k)?, v)))
            .collect()
    }

    fn log_seq(&self, log: &LogSpec, id: Id) -> Result<Option<u64>> {
        let table = log_ids(log);
        match self.0.get(table, &id.to_key())? {
            Some(bytes) => u64_of(table, &bytes).map(Some),
            None => Ok(None),
        }
    }

    fn log_ids(&self, log: &LogSpec, after: Option<Id>, limit: usize) -> Result<Vec<(Id, u64)>> {
        let table = log_ids(log);
        let mut range = KeyRange::prefix(&[]);
        if let Some(id) = after {
            range = range.after(id.to_key().to_vec());
        }
        self.0
            .scan(table, &range, Order::Ascending, limit)?
            .into_iter()
            .map(|(k, v)| Ok((id_from_key(table, &k)?, u64_of(table, &v)?)))
            .collect()
    }

    fn idempotency(&self, scope: &str) -> Result<Option<IdempotencyRecord>> {
        match self.0.get(IDEM, scope.as_bytes())? {
            Some(bytes) => decode(IDEM, &bytes).map(Some),
            None => Ok(None),
        }
    }

    fn idempotency_after(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, IdempotencyRecord)>> {
        let mut range = KeyRange::prefix(&[]);
        if let Some(scope) = after {
            range = range.after(scope.as_bytes().to_vec());
        }
        self.0
            .scan(IDEM, &range, Order::Ascending, limit)?
            .into_iter()
            .map(|(k, v)| {
                let scope =
                    String::from_utf8(k).map_err(|_| corrupt(IDEM, "a scope that is not text"))?;
                Ok((scope, decode(IDEM, &v)?))
            })
            .collect()
    }

    fn snapshot(&self, name: &str) -> Result<Option<Vec<u8>>> {
        self.0.get(SNAPSHOTS, name.as_bytes())
    }

    fn snapshot_names(&self) -> Result<Vec<String>> {
        self.0
            .scan(
                SNAPSHOTS,
                &KeyRange::prefix(&[]),
                Order::Ascending,
                usize::MAX,
            )?
            .into_iter()
            .map(|(k, _)| {
                String::from_utf8(k).map_err(|_| corrupt(SNAPSHOTS, "a name that is not text"))
            })
            .collect()
    }
}

impl<W: RawWrite> Kv<W> {
    /// A log's row `seq`, and its id's entry; the log's end is the caller's.
    fn log_row(&mut self, log: &LogSpec, seq: u64, id: Option<Id>, body: &[u8]) -> Result<()> {
        self.0.put(log.name, &seq.to_be_bytes(), body)?;
        if let Some(id) = id {
            self.0.put(log_ids(log), &id.to_key(), &seq.to_be_bytes())?;
        }
        Ok(())
    }

    fn add_to_count(&mut self, kind: &str, delta: i64) -> Result<()> {
        let count = self.count_of(kind)?.saturating_add_signed(delta);
        self.0.put(COUNTS, kind.as_bytes(), &count.to_be_bytes())
    }

    /// Move index entries from the `old` values to the `new` ones, refusing
    /// a unique value another record holds.
    fn write_indexes(
        &mut self,
        table: &TableSpec,
        id: Id,
        old: &IndexValues,
        new: &IndexValues,
    ) -> Result<()> {
        for (i, spec) in table.indexes.iter().enumerate() {
            let before = normalised(spec, old.get(i));
            let after = normalised(spec, new.get(i));
            for value in before.iter().filter(|v| !after.contains(v)) {
                self.remove_index_entry(table, spec, value, id)?;
            }
            for value in after.iter().filter(|v| !before.contains(v)) {
                if spec.unique {
                    let name = unique_table(table.kind, spec.field);
                    if let Some(holder) = self.0.get(name, value.as_bytes())?
                        && id_from_key(name, &holder)? != id
                    {
                        return Err(StoreError::UniqueTaken {
                            kind: table.kind,
                            field: spec.field,
                            value: value.clone(),
                        });
                    }
                    self.0.put(name, value.as_bytes(), &id.to_key())?;
                } else {
                    self.0.put(
                        index_table(table.kind, spec.field),
                        &index_key(value, id),
                        &[],
                    )?;
                }
            }
        }
        Ok(())
    }

    fn remove_index_entry(
        &mut self,
        table: &TableSpec,
        spec: &IndexSpec,
        value: &str,
        id: Id,
    ) -> Result<()> {
        if spec.unique {
            self.0
                .delete(unique_table(table.kind, spec.field), value.as_bytes())?;
        } else {
            self.0
                .delete(index_table(table.kind, spec.field), &index_key(value, id))?;
        }
        Ok(())
    }
}

impl<W: RawWrite> StoreWrite for Kv<W> {
    fn insert(&mut self, table: &TableSpec, row: &Row<'_>, values: &IndexValues) -> Result<()> {
        if self.0.get(primary(table.kind), &row.id.to_key())?.is_some() {
            return Err(StoreError::UniqueTaken {
                kind: table.kind,
                field: "id",
                value: row.id.to_string(),
            });
        }
        self.write_indexes(table, row.id, &[], values)?;
        self.0
            .put(primary(table.kind), &row.id.to_key(), row.data)?;
        self.add_to_count(table.kind, 1)
    }

    fn update(
        &mut self,
        table: &TableSpec,
        row: &Row<'_>,
        old: &IndexValues,
        new: &IndexValues,
    ) -> Result<()> {
        self.write_indexes(table, row.id, old, new)?;
        self.0.put(primary(table.kind), &row.id.to_key(), row.data)
    }

    fn delete(&mut self, table: &TableSpec, id: Id, old: &IndexValues) -> Result<()> {
        for (i, spec) in table.indexes.iter().enumerate() {
            for value in normalised(spec, old.get(i)) {
                self.remove_index_entry(table, spec, &value, id)?;
            }
        }
        self.0.delete(primary(table.kind), &id.to_key())?;
        self.add_to_count(table.kind, -1)
    }

    fn append_audit(&mut self, entry: &AuditEntry) -> Result<()> {
        self.append_audits(std::slice::from_ref(entry))
    }

    /// The entries of each call in one row, with one actor index entry and
    /// one object index entry per object it changed: a transfer's five
    /// entries take 7 rows, not 15.
    fn append_audits(&mut self, entries: &[AuditEntry]) -> Result<()> {
        for run in entries.chunk_by(same_call) {
            let Some(call) = CallAudit::of(run) else {
                continue;
            };
            let Some(key) = run.iter().map(|e| e.id).min() else {
                continue;
            };
            self.0.put(AUDIT, &key.to_key(), &encode(AUDIT, &call)?)?;
            self.0
                .put(AUDIT_BY_ACTOR, &index_key(&call.actor_id, key), &[])?;
            let mut objects: Vec<Id> = run.iter().map(|e| e.object_id).collect();
            objects.sort_unstable();
            objects.dedup();
            for object in objects {
                self.0
                    .put(AUDIT_BY_OBJECT, &index_key(&object.to_string(), key), &[])?;
            }
        }
        Ok(())
    }

    fn log_append(&mut self, log: &LogSpec, id: Option<Id>, body: &[u8]) -> Result<Appended> {
        if let Some(id) = id
            && self.log_seq(log, id)?.is_some()
        {
            return Ok(Appended::Present);
        }
        let seq = self.log_last(log)? + 1;
        self.log_put(log, seq, id, body)?;
        Ok(Appended::Now(seq))
    }

    /// The id is new (made by this write), so it is not looked for first.
    fn log_append_new(&mut self, log: &LogSpec, id: Id, body: &[u8]) -> Result<Option<u64>> {
        let seq = self.log_last(log)? + 1;
        self.log_row(log, seq, Some(id), body)?;
        self.0.put(META, log_seq_key(log), &seq.to_be_bytes())?;
        Ok(Some(seq))
    }

    fn log_put(&mut self, log: &LogSpec, seq: u64, id: Option<Id>, body: &[u8]) -> Result<()> {
        self.log_row(log, seq, id, body)?;
        if seq > self.log_last(log)? {
            self.0.put(META, log_seq_key(log), &seq.to_be_bytes())?;
        }
        Ok(())
    }

    fn log_prune(&mut self, log: &LogSpec, seq: u64, limit: usize) -> Result<usize> {
        let range = KeyRange {
            start: Bound::Unbounded,
            end: Bound::Included(seq.to_be_bytes().to_vec()),
        };
        let rows = self.0.scan(log.name, &range, Order::Ascending, limit)?;
        for (key, _) in &rows {
            self.0.delete(log.name, key)?;
        }
        Ok(rows.len())
    }

    fn put_idempotency(&mut self, scope: &str, record: &IdempotencyRecord) -> Result<()> {
        if let Some(old) = self.idempotency(scope)? {
            self.0.delete(IDEM_BY_TIME, &old.id.to_key())?;
        }
        self.0.put(IDEM, scope.as_bytes(), &encode(IDEM, record)?)?;
        self.0
            .put(IDEM_BY_TIME, &record.id.to_key(), scope.as_bytes())
    }

    fn delete_idempotency(&mut self, scope: &str) -> Result<()> {
        if let Some(old) = self.idempotency(scope)? {
            self.0.delete(IDEM_BY_TIME, &old.id.to_key())?;
            self.0.delete(IDEM, scope.as_bytes())?;
        }
        Ok(())
    }

    fn purge_idempotency(&mut self, cutoff: Timestamp, limit: usize) -> Result<usize> {
        let rows = self.0.scan(
            IDEM_BY_TIME,
            &KeyRange::prefix(&[]),
            Order::Ascending,
            limit,
        )?;
        let mut count = 0;
        for (key, scope) in &rows {
            let old = Id::from_key(key).is_some_and(|id| {
                i64::try_from(id.0.timestamp_ms()).unwrap_or(i64::MAX) < cutoff.unix_millis()
            });
            if !old {
                break;
            }
            self.0.delete(IDEM_BY_TIME, key)?;
            self.0.delete(IDEM, scope)?;
            count += 1;
        }
        Ok(count)
    }

    fn put_snapshot(&mut self, name: &str, bytes: &[u8]) -> Result<()> {
        self.0.put(SNAPSHOTS, name.as_bytes(), bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_rows_of_one_entry_as_written_before_read_back_as_they_were() {
        let entry = |id: u128, object: u128, action: &str| AuditEntry {
            id: Id(ulid::Ulid(id)),
            at: Timestamp::from_unix_millis(1_000).unwrap(),
            actor_id: "u1".into(),
            method: "gadget.create".into(),
            object_type: "gadget".into(),
            object_id: Id(ulid::Ulid(object)),
            action: action.into(),
            request_id: "r1".into(),
        };
        let old = entry(7, 70, "create");
        assert_eq!(audit_row(&encode(AUDIT, &old).unwrap()).unwrap(), vec![old]);
        let call = [
            entry(1, 10, "create"),
            entry(2, 20, "create"),
            entry(3, 10, "update"),
        ];
        let row = encode(AUDIT, &CallAudit::of(&call).unwrap()).unwrap();
        let back = audit_row(&row).unwrap();
        assert_eq!(
            back,
            vec![call[2].clone(), call[1].clone(), call[0].clone()]
        );
        assert!(audit_row(b"{\"not\":\"an entry\"}").is_err());
    }

    #[test]
    fn table_names_are_made_once_and_shared() {
        let log = LogSpec {
            name: "domain_events",
            json: true,
            columns: &[],
        };
        assert_eq!(primary("product"), "o:product");
        assert_eq!(index_table("product", "tags"), "i:product:tags");
        assert_eq!(unique_table("user", "email"), "u:user:email");
        assert_eq!(log_ids(&log), "domain_events:ids");
        assert_eq!(log_seq_key(&log), b"domain_events.seq");
        let (kind, field) = ("product", "tags");
        assert!(std::ptr::eq(
            index_table(kind, field),
            index_table(kind, field)
        ));
        assert_ne!(index_table(kind, field), unique_table(kind, field));
        // the same text elsewhere names the same table
        let elsewhere: &'static str = String::from(kind).leak();
        assert_eq!(index_table(elsewhere, field), "i:product:tags");
        assert!(!std::ptr::eq(
            index_table(elsewhere, field),
            index_table(kind, field)
        ));
    }

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
