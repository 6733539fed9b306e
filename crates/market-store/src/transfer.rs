//! Moving a whole marketplace between databases (and backends): every
//! record as stored (ids, versions, timestamps, sealed secrets untouched),
//! the audit trail, the logs with their sequence numbers, idempotency
//! records and snapshots. [`Db::export`] reads them from one consistent
//! snapshot; [`Db::import`] writes them in batches of transactions. A
//! backup file is the same items as JSON lines ([`Item`]).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

use crate::Db;
use crate::backend::{LogSpec, Row, StoreRead, StoreWrite};
use crate::error::{Result, StoreError};
use crate::idempotency::IdempotencyRecord;
use crate::record::{TableSpec, json_index_values};
use crate::tx::{AuditEntry, AuditFilter};
use crate::types::{Id, Timestamp};

/// One thing a database holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "item", rename_all = "snake_case")]
pub enum Item {
    /// A root object: its type and its stored JSON.
    Record {
        kind: String,
        data: serde_json::Value,
    },
    Audit(AuditEntry),
    /// A log row; the body as base64.
    Log {
        log: String,
        seq: u64,
        id: Option<Id>,
        body: String,
    },
    Idempotency {
        scope: String,
        record: IdempotencyRecord,
    },
    /// A named snapshot, as base64.
    Snapshot {
        name: String,
        data: String,
    },
}

/// How much there is to move.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub records: u64,
}

const PAGE: usize = 1000;

fn corrupt(what: &str, reason: impl Into<String>) -> StoreError {
    StoreError::Corrupt {
        table: what.to_string(),
        reason: reason.into(),
    }
}

fn record_item(kind: &str, bytes: &[u8]) -> Result<Item> {
    let data = serde_json::from_slice(bytes).map_err(|e| corrupt(kind, e.to_string()))?;
    Ok(Item::Record {
        kind: kind.to_string(),
        data,
    })
}

/// Every item of `raw`, records type by type, then the audit trail, logs,
/// idempotency records and snapshots.
fn export_from(
    raw: &dyn StoreRead,
    tables: &[TableSpec],
    logs: &[LogSpec],
    sink: &mut dyn FnMut(Item) -> Result<()>,
) -> Result<()> {
    for table in tables {
        let mut before = None;
        loop {
            let rows = raw.list(table, before, PAGE)?;
            let n = rows.len();
            for bytes in rows {
                let item = record_item(table.kind, &bytes)?;
                if let Item::Record { data, .. } = &item {
                    before = Some(meta_of(table.kind, data)?.id);
                }
                sink(item)?;
            }
            if n < PAGE {
                break;
            }
        }
    }
    let mut before = None;
    loop {
        let entries = raw.audit(AuditFilter::All, before, PAGE)?;
        let n = entries.len();
        for e in entries {
            before = Some(e.id);
            sink(Item::Audit(e))?;
        }
        if n < PAGE {
            break;
        }
    }
    for log in logs {
        let mut ids = std::collections::HashMap::new();
        let mut after = None;
        loop {
            let page = raw.log_ids(log, after, PAGE)?;
            let n = page.len();
            for (id, seq) in page {
                after = Some(id);
                ids.insert(seq, id);
            }
            if n < PAGE {
                break;
            }
        }
        let mut seq = 0;
        loop {
            let rows = raw.log_after(log, seq, PAGE)?;
            let n = rows.len();
            for (s, body) in rows {
                seq = s;
                sink(Item::Log {
                    log: log.name.to_string(),
                    seq: s,
                    id: ids.get(&s).copied(),
                    body: STANDARD.encode(body),
                })?;
            }
            if n < PAGE {
                break;
            }
        }
    }
    let mut after: Option<String> = None;
    loop {
        let page = raw.idempotency_after(after.as_deref(), PAGE)?;
        let n = page.len();
        for (scope, record) in page {
            after = Some(scope.clone());
            sink(Item::Idempotency { scope, record })?;
        }
        if n < PAGE {
            break;
        }
    }
    for name in raw.snapshot_names()? {
        if let Some(bytes) = raw.snapshot(&name)? {
            sink(Item::Snapshot {
                name,
                data: STANDARD.encode(bytes),
            })?;
        }
    }
    Ok(())
}

/// The meta fields of a stored record.
struct RecordMeta {
    id: Id,
    version: u64,
    created_at: Timestamp,
    updated_at: Timestamp,
}

fn meta_of(kind: &str, json: &serde_json::Value) -> Result<RecordMeta> {
    #[derive(Deserialize)]
    struct M {
        id: Id,
        version: u64,
        created_at: Timestamp,
        updated_at: Timestamp,
    }
    let m = M::deserialize(json).map_err(|e| corrupt(kind, e.to_string()))?;
    Ok(RecordMeta {
        id: m.id,
        version: m.version,
        created_at: m.created_at,
        updated_at: m.updated_at,
    })
}

/// Write one item as it is, replacing what has the same key.
fn import_item(
    tx: &mut dyn StoreWrite,
    tables: &[TableSpec],
    logs: &[LogSpec],
    item: &Item,
) -> Result<()> {
    match item {
        Item::Record { kind, data } => {
            let table = tables
                .iter()
                .find(|t| t.kind == kind)
                .ok_or_else(|| corrupt(kind, "no such record type in this schema"))?;
            let meta = meta_of(kind, data)?;
            let text = serde_json::to_vec(data).map_err(|e| corrupt(kind, e.to_string()))?;
            let values: Vec<Vec<String>> = table
                .indexes
                .iter()
                .map(|s| json_index_values(data, s.field))
                .collect();
            let row = Row {
                id: meta.id,
                version: meta.version,
                created_at: meta.created_at,
                updated_at: meta.updated_at,
                data: &text,
            };
            match tx.get(table, meta.id)? {
                Some(old) => {
                    let old: serde_json::Value =
                        serde_json::from_slice(&old).map_err(|e| corrupt(kind, e.to_string()))?;
                    let old_values: Vec<Vec<String>> = table
                        .indexes
                        .iter()
                        .map(|s| json_index_values(&old, s.field))
                        .collect();
                    tx.update(table, &row, &old_values, &values)
                }
                None => tx.insert(table, &row, &values),
            }
        }
        Item::Audit(entry) => tx.append_audit(entry),
        Item::Log { log, seq, id, body } => {
            let spec = logs
                .iter()
                .find(|l| l.name == log)
                .ok_or_else(|| corrupt(log, "no such log"))?;
            let body = STANDARD
                .decode(body)
                .map_err(|e| corrupt(log, e.to_string()))?;
            tx.log_put(spec, *seq, *id, &body)
        }
        Item::Idempotency { scope, record } => tx.put_idempotency(scope, record),
        Item::Snapshot { name, data } => {
            let bytes = STANDARD
                .decode(data)
                .map_err(|e| corrupt("snapshots", e.to_string()))?;
            tx.put_snapshot(name, &bytes)
        }
    }
}

impl Db {
    /// How many records of `tables` there are.
    pub fn totals(&self, tables: &[TableSpec]) -> Result<Totals> {
        self.read_raw(|raw| {
            let mut records = 0;
            for t in tables {
                records += raw.count(t)?;
            }
            Ok(Totals { records })
        })
    }

    /// Whether the database holds nothing: no record of `tables`, no audit entry.
    pub fn is_empty(&self, tables: &[TableSpec]) -> Result<bool> {
        self.read_raw(|raw| {
            for t in tables {
                if raw.count(t)? > 0 {
                    return Ok(false);
                }
            }
            Ok(raw.audit(AuditFilter::All, None, 1)?.is_empty())
        })
    }

    /// Hand every item to `sink`, all read from one consistent snapshot.
    pub fn export(
        &self,
        tables: &[TableSpec],
        logs: &[LogSpec],
        sink: &mut dyn FnMut(Item) -> Result<()>,
    ) -> Result<()> {
        self.read_raw(|raw| export_from(raw, tables, logs, sink))
    }

    /// Write `items` as they are, in one transaction (replacing what has
    /// the same key): a batch of an import.
    pub fn import(&self, tables: &[TableSpec], logs: &[LogSpec], items: &[Item]) -> Result<()> {
        let commit = self.backend.write(&mut |tx| {
            for item in items {
                import_item(tx, tables, logs, item)?;
            }
            Ok(true)
        })?;
        if let Some(commit) = commit {
            self.backend.wait_durable(commit)?;
        }
        Ok(())
    }

    fn read_raw<T>(&self, f: impl FnOnce(&dyn StoreRead) -> Result<T>) -> Result<T> {
        let mut f = Some(f);
        let mut out = None;
        self.backend.read(&mut |raw| {
            if let Some(f) = f.take() {
                out = Some(f(raw));
            }
            Ok(())
        })?;
        out.unwrap_or_else(|| Err(StoreError::Backend("read transaction did not run".into())))
    }
}

/// Copy everything from `from` into `to`, `batch` items per transaction;
/// `progress` hears of each item written.
pub fn copy(
    from: &Db,
    to: &Db,
    tables: &[TableSpec],
    logs: &[LogSpec],
    progress: &mut dyn FnMut(&Item),
) -> Result<u64> {
    let mut pending = Vec::with_capacity(PAGE);
    let mut written = 0u64;
    from.export(tables, logs, &mut |item| {
        pending.push(item);
        if pending.len() >= PAGE {
            to.import(tables, logs, &pending)?;
            for i in pending.drain(..) {
                progress(&i);
                written += 1;
            }
        }
        Ok(())
    })?;
    to.import(tables, logs, &pending)?;
    for i in pending.drain(..) {
        progress(&i);
        written += 1;
    }
    Ok(written)
}
