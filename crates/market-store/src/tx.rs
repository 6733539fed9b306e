//! Typed transactions: records, indexes, pagination and the audit trail,
//! written once on top of the raw backend interface.

use serde::{Deserialize, Serialize};

use crate::Db;
use crate::backend::{KeyRange, Order, RawRead, RawWrite};
use crate::crypto::{self, SecretCipher};
use crate::error::{Result, StoreError};
use crate::record::{IndexSpec, Meta, Record};
use crate::types::{Id, Timestamp};

/// Who is acting and why: recorded with every mutation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// A user id, or `system` for background work and the CLI.
    pub actor_id: String,
    /// The RPC method or command that caused the change.
    pub method: String,
    /// Shared by every audit entry of one call.
    pub request_id: String,
}

impl Actor {
    pub fn system(method: &str) -> Actor {
        Actor {
            actor_id: "system".into(),
            method: method.into(),
            request_id: String::new(),
        }
    }
}

/// One entry of the audit trail: one changed root object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub id: Id,
    pub at: Timestamp,
    pub actor_id: String,
    pub method: String,
    pub object_type: String,
    pub object_id: Id,
    /// `create`, `update` or `delete`.
    pub action: String,
    pub request_id: String,
}

/// Which page of a list to read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageRequest {
    pub limit: usize,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// One page of a list, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

pub(crate) const AUDIT: &str = "audit";
/// Number of records of each type.
const COUNTS: &str = "count";
const AUDIT_BY_ACTOR: &str = "audit:actor";
const AUDIT_BY_OBJECT: &str = "audit:object";

fn primary(kind: &str) -> String {
    format!("o:{kind}")
}

fn index_table(kind: &str, field: &str) -> String {
    format!("i:{kind}:{field}")
}

fn unique_table(kind: &str, field: &str) -> String {
    format!("u:{kind}:{field}")
}

fn normalise(spec: &IndexSpec, value: &str) -> String {
    if spec.nocase {
        value.to_lowercase()
    } else {
        value.to_string()
    }
}

/// Index keys are the length-prefixed value followed by the id, so that one
/// value's entries form a contiguous, id-ordered range.
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

/// Decode a stored record, opening its sealed secret fields.
fn decode_record<T: Record>(cipher: Option<&SecretCipher>, table: &str, bytes: &[u8]) -> Result<T> {
    if T::SECRET_FIELDS.is_empty() {
        return decode(table, bytes);
    }
    let mut value: serde_json::Value = decode(table, bytes)?;
    let id = value
        .get("id")
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default()
        .to_string();
    for field in T::SECRET_FIELDS {
        let Some(slot) = value.get_mut(*field) else {
            continue;
        };
        let Some(sealed) = slot.as_str().filter(|s| crypto::is_sealed(s)) else {
            continue;
        };
        let cipher = cipher.ok_or(StoreError::NoSecretKey)?;
        let plain = cipher.open(sealed, &secret_aad(T::KIND, &id, field))?;
        *slot = decode(table, &plain)?;
    }
    serde_json::from_value(value).map_err(|e| StoreError::Corrupt {
        table: table.to_string(),
        reason: e.to_string(),
    })
}

/// Encode a record for storage, sealing its secret fields.
fn encode_record<T: Record>(
    cipher: Option<&SecretCipher>,
    table: &str,
    obj: &T,
) -> Result<Vec<u8>> {
    if T::SECRET_FIELDS.is_empty() {
        return encode(table, obj);
    }
    let mut value = serde_json::to_value(obj).map_err(|e| StoreError::Corrupt {
        table: table.to_string(),
        reason: e.to_string(),
    })?;
    let id = obj.meta().id.to_string();
    for field in T::SECRET_FIELDS {
        let Some(slot) = value.get_mut(*field) else {
            continue;
        };
        if slot.is_null() {
            continue;
        }
        let cipher = cipher.ok_or(StoreError::NoSecretKey)?;
        let plain = encode(table, slot)?;
        *slot = serde_json::Value::String(cipher.seal(&plain, &secret_aad(T::KIND, &id, field))?);
    }
    encode(table, &value)
}

/// Associated data of a sealed field: the place it belongs to.
fn secret_aad(kind: &str, id: &str, field: &str) -> String {
    format!("{kind}/{id}/{field}")
}

fn decode<T: serde::de::DeserializeOwned>(table: &str, bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt {
        table: table.to_string(),
        reason: e.to_string(),
    })
}

fn encode<T: Serialize>(table: &str, value: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| StoreError::Corrupt {
        table: table.to_string(),
        reason: e.to_string(),
    })
}

fn id_from_key(table: &str, key: &[u8]) -> Result<Id> {
    let tail = key
        .len()
        .checked_sub(16)
        .map(|at| &key[at..])
        .unwrap_or(key);
    Id::from_key(tail).ok_or_else(|| StoreError::Corrupt {
        table: table.to_string(),
        reason: "index key without an id".into(),
    })
}

fn cursor_id(cursor: &Option<String>) -> Result<Option<Id>> {
    match cursor {
        None => Ok(None),
        Some(c) => c.parse().map(Some).map_err(|_| StoreError::BadCursor),
    }
}

/// Reads available in both read and write transactions.
pub trait Reads {
    #[doc(hidden)]
    fn raw(&self) -> &dyn RawRead;
    #[doc(hidden)]
    fn cipher(&self) -> Option<&SecretCipher>;

    /// The object with this id, if it exists.
    fn get<T: Record>(&self, id: Id) -> Result<Option<T>> {
        let table = primary(T::KIND);
        match self.raw().get(&table, &id.to_key())? {
            Some(bytes) => decode_record(self.cipher(), &table, &bytes).map(Some),
            None => Ok(None),
        }
    }

    /// The object with this id, or [`StoreError::NotFound`].
    fn load<T: Record>(&self, id: Id) -> Result<T> {
        self.get(id)?.ok_or_else(|| StoreError::NotFound {
            kind: T::KIND,
            id: id.to_string(),
        })
    }

    /// All objects of a type, newest first.
    fn list<T: Record>(&self, page: &PageRequest) -> Result<Page<T>> {
        let table = primary(T::KIND);
        let mut range = KeyRange::prefix(&[]);
        if let Some(id) = cursor_id(&page.cursor)? {
            range = range.before(id.to_key().to_vec());
        }
        let rows = self.raw().scan(
            &table,
            &range,
            Order::Descending,
            page.limit.saturating_add(1),
        )?;
        let mut items = Vec::with_capacity(rows.len());
        for (_, bytes) in &rows {
            items.push(decode_record::<T>(self.cipher(), &table, bytes)?);
        }
        Ok(paginate(items, page.limit, |t| t.meta().id))
    }

    /// Objects whose indexed `field` equals `value`, newest first.
    fn find<T: Record>(&self, field: &str, value: &str, page: &PageRequest) -> Result<Page<T>> {
        let spec = index_spec::<T>(field)?;
        let value = normalise(spec, value);
        if spec.unique {
            let items: Vec<T> = self.find_unique::<T>(field, &value)?.into_iter().collect();
            let after_cursor = match cursor_id(&page.cursor)? {
                Some(c) => items.into_iter().filter(|t| t.meta().id < c).collect(),
                None => items,
            };
            return Ok(paginate(after_cursor, page.limit, |t| t.meta().id));
        }
        let table = index_table(T::KIND, spec.field);
        let mut range = KeyRange::prefix(&value_prefix(&value));
        if let Some(id) = cursor_id(&page.cursor)? {
            range = range.before(index_key(&value, id));
        }
        let keys = self.raw().scan(
            &table,
            &range,
            Order::Descending,
            page.limit.saturating_add(1),
        )?;
        let mut items = Vec::with_capacity(keys.len());
        for (key, _) in &keys {
            let id = id_from_key(&table, key)?;
            items.push(self.load::<T>(id)?);
        }
        Ok(paginate(items, page.limit, |t| t.meta().id))
    }

    /// The object holding a unique `value` of `field`.
    fn find_unique<T: Record>(&self, field: &str, value: &str) -> Result<Option<T>> {
        let spec = index_spec::<T>(field)?;
        let table = unique_table(T::KIND, spec.field);
        match self.raw().get(&table, normalise(spec, value).as_bytes())? {
            Some(id) => {
                let id = id_from_key(&table, &id)?;
                self.get(id)
            }
            None => Ok(None),
        }
    }

    /// How many records of a type there are.
    fn count<T: Record>(&self) -> Result<u64> {
        read_count(self.raw(), T::KIND)
    }

    /// The audit trail, newest first, optionally only one actor's or one object's entries.
    fn audit(&self, filter: AuditFilter<'_>, page: &PageRequest) -> Result<Page<AuditEntry>> {
        let cursor = cursor_id(&page.cursor)?;
        let fetch = page.limit.saturating_add(1);
        let (table, value) = match filter {
            AuditFilter::All => {
                let mut range = KeyRange::prefix(&[]);
                if let Some(id) = cursor {
                    range = range.before(id.to_key().to_vec());
                }
                let rows = self.raw().scan(AUDIT, &range, Order::Descending, fetch)?;
                let items = rows
                    .iter()
                    .map(|(_, v)| decode::<AuditEntry>(AUDIT, v))
                    .collect::<Result<Vec<_>>>()?;
                return Ok(paginate(items, page.limit, |e| e.id));
            }
            AuditFilter::Actor(a) => (AUDIT_BY_ACTOR, a),
            AuditFilter::Object(o) => (AUDIT_BY_OBJECT, o),
        };
        let mut range = KeyRange::prefix(&value_prefix(value));
        if let Some(id) = cursor {
            range = range.before(index_key(value, id));
        }
        let keys = self.raw().scan(table, &range, Order::Descending, fetch)?;
        let mut items = Vec::with_capacity(keys.len());
        for (key, _) in &keys {
            let id = id_from_key(table, key)?;
            if let Some(bytes) = self.raw().get(AUDIT, &id.to_key())? {
                items.push(decode::<AuditEntry>(AUDIT, &bytes)?);
            }
        }
        Ok(paginate(items, page.limit, |e| e.id))
    }
}

/// Which audit entries to read.
#[derive(Debug, Clone, Copy)]
pub enum AuditFilter<'a> {
    All,
    Actor(&'a str),
    Object(&'a str),
}

fn read_count(raw: &dyn RawRead, kind: &str) -> Result<u64> {
    match raw.get(COUNTS, kind.as_bytes())? {
        Some(bytes) => {
            let arr: [u8; 8] = bytes
                .as_slice()
                .try_into()
                .map_err(|_| StoreError::Corrupt {
                    table: COUNTS.into(),
                    reason: "bad count".into(),
                })?;
            Ok(u64::from_be_bytes(arr))
        }
        None => Ok(0),
    }
}

fn index_spec<T: Record>(field: &str) -> Result<&'static IndexSpec> {
    T::INDEXES
        .iter()
        .find(|s| s.field == field)
        .ok_or_else(|| StoreError::NoIndex {
            kind: T::KIND,
            field: field.to_string(),
        })
}

/// Cut a list fetched with one extra row into a page and its cursor.
fn paginate<T>(mut items: Vec<T>, limit: usize, id: impl Fn(&T) -> Id) -> Page<T> {
    let next_cursor = if items.len() > limit {
        items.truncate(limit);
        items.last().map(|t| id(t).to_string())
    } else {
        None
    };
    Page { items, next_cursor }
}

/// A read-only transaction: a consistent snapshot.
pub struct ReadTx<'a> {
    pub(crate) raw: &'a dyn RawRead,
    pub(crate) db: &'a Db,
}

impl Reads for ReadTx<'_> {
    fn raw(&self) -> &dyn RawRead {
        self.raw
    }

    fn cipher(&self) -> Option<&SecretCipher> {
        self.db.cipher()
    }
}

/// A write transaction. Every mutation also writes its audit entry here, so
/// the change and its record commit together or not at all.
pub struct WriteTx<'a> {
    pub(crate) raw: &'a mut dyn RawWrite,
    pub(crate) db: &'a Db,
    pub(crate) actor: &'a Actor,
    pub(crate) now: Timestamp,
    /// The `seq` of the last event this transaction appended.
    pub(crate) last_event: Option<u64>,
}

impl Reads for WriteTx<'_> {
    fn raw(&self) -> &dyn RawRead {
        &*self.raw
    }

    fn cipher(&self) -> Option<&SecretCipher> {
        self.db.cipher()
    }
}

impl WriteTx<'_> {
    /// The time of this transaction (one value for all its writes).
    pub fn now(&self) -> Timestamp {
        self.now
    }

    pub fn actor(&self) -> &Actor {
        self.actor
    }

    /// A fresh id, for objects that must reference each other before insertion.
    pub fn new_id(&self) -> Id {
        self.db.new_id()
    }

    /// Store a new object. Its id is kept if already set (see [`WriteTx::new_id`]),
    /// otherwise assigned; version 1 and both timestamps are set here.
    pub fn insert<T: Record>(&mut self, obj: &mut T) -> Result<()> {
        let mut id = obj.meta().id;
        if id.is_nil() {
            id = self.new_id();
        }
        obj.set_meta(Meta {
            id,
            created_at: self.now,
            updated_at: self.now,
            version: 1,
        });
        let table = primary(T::KIND);
        if self.raw.get(&table, &id.to_key())?.is_some() {
            return Err(StoreError::UniqueTaken {
                kind: T::KIND,
                field: "id",
                value: id.to_string(),
            });
        }
        self.write_indexes(None, obj)?;
        let bytes = encode_record(self.db.cipher(), &table, obj)?;
        self.raw.put(&table, &id.to_key(), &bytes)?;
        if T::LOGGED {
            self.log_change(T::KIND, id)?;
        }
        self.add_to_count(T::KIND, 1)?;
        self.record_audit(T::KIND, id, "create")
    }

    /// Store a changed object. `expected_version`, when given, must be the
    /// stored version; the version is then incremented.
    pub fn update<T: Record>(&mut self, obj: &mut T, expected_version: Option<u64>) -> Result<()> {
        let id = obj.meta().id;
        let old: T = self.load(id)?;
        let old_meta = old.meta();
        let expected = expected_version.unwrap_or(obj.meta().version);
        if expected != old_meta.version {
            return Err(StoreError::StaleVersion {
                kind: T::KIND,
                id: id.to_string(),
                expected,
                actual: old_meta.version,
            });
        }
        obj.set_meta(Meta {
            id,
            created_at: old_meta.created_at,
            updated_at: self.now,
            version: old_meta.version + 1,
        });
        self.write_indexes(Some(&old), obj)?;
        let table = primary(T::KIND);
        let bytes = encode_record(self.db.cipher(), &table, obj)?;
        self.raw.put(&table, &id.to_key(), &bytes)?;
        if T::LOGGED {
            self.log_change(T::KIND, id)?;
        }
        self.record_audit(T::KIND, id, "update")
    }

    /// Remove an object and its index entries; returns what was stored.
    pub fn delete<T: Record>(&mut self, id: Id) -> Result<T> {
        let old: T = self.load(id)?;
        for spec in T::INDEXES {
            for value in old.index_values(spec.field) {
                self.remove_index_entry(spec, T::KIND, &normalise(spec, &value), id)?;
            }
        }
        self.raw.delete(&primary(T::KIND), &id.to_key())?;
        if T::LOGGED {
            self.log_change(T::KIND, id)?;
        }
        self.add_to_count(T::KIND, -1)?;
        self.record_audit(T::KIND, id, "delete")?;
        Ok(old)
    }

    fn write_indexes<T: Record>(&mut self, old: Option<&T>, new: &T) -> Result<()> {
        let id = new.meta().id;
        for spec in T::INDEXES {
            let before: Vec<String> = old
                .map(|o| o.index_values(spec.field))
                .unwrap_or_default()
                .iter()
                .map(|v| normalise(spec, v))
                .collect();
            let after: Vec<String> = new
                .index_values(spec.field)
                .iter()
                .map(|v| normalise(spec, v))
                .collect();
            for value in before.iter().filter(|v| !after.contains(v)) {
                self.remove_index_entry(spec, T::KIND, value, id)?;
            }
            for value in after.iter().filter(|v| !before.contains(v)) {
                if spec.unique {
                    let table = unique_table(T::KIND, spec.field);
                    if let Some(holder) = self.raw.get(&table, value.as_bytes())?
                        && id_from_key(&table, &holder)? != id
                    {
                        return Err(StoreError::UniqueTaken {
                            kind: T::KIND,
                            field: spec.field,
                            value: value.clone(),
                        });
                    }
                    self.raw.put(&table, value.as_bytes(), &id.to_key())?;
                } else {
                    self.raw.put(
                        &index_table(T::KIND, spec.field),
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
        spec: &IndexSpec,
        kind: &str,
        value: &str,
        id: Id,
    ) -> Result<()> {
        if spec.unique {
            self.raw
                .delete(&unique_table(kind, spec.field), value.as_bytes())?;
        } else {
            self.raw
                .delete(&index_table(kind, spec.field), &index_key(value, id))?;
        }
        Ok(())
    }

    fn add_to_count(&mut self, kind: &str, delta: i64) -> Result<()> {
        let count = read_count(&*self.raw, kind)?.saturating_add_signed(delta);
        self.raw.put(COUNTS, kind.as_bytes(), &count.to_be_bytes())
    }

    fn record_audit(&mut self, kind: &str, object_id: Id, action: &str) -> Result<()> {
        let entry = AuditEntry {
            id: self.new_id(),
            at: self.now,
            actor_id: self.actor.actor_id.clone(),
            method: self.actor.method.clone(),
            object_type: kind.to_string(),
            object_id,
            action: action.to_string(),
            request_id: self.actor.request_id.clone(),
        };
        self.raw
            .put(AUDIT, &entry.id.to_key(), &encode(AUDIT, &entry)?)?;
        self.raw
            .put(AUDIT_BY_ACTOR, &index_key(&entry.actor_id, entry.id), &[])?;
        self.raw.put(
            AUDIT_BY_OBJECT,
            &index_key(&object_id.to_string(), entry.id),
            &[],
        )?;
        Ok(())
    }
}
