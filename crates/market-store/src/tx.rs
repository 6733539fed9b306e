//! Typed transactions: records, indexes, pagination and the audit trail,
//! written once on top of the raw backend interface.

use serde::{Deserialize, Serialize};

use crate::Db;
use crate::backend::{Row, StoreRead, StoreWrite};
use crate::crypto::{self, SecretCipher};
use crate::error::{Result, StoreError};
use crate::record::{Index, Meta, Record, TableSpec};
use crate::stored::{Shaped, Verbatim, decode_shaped};
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

impl<T> Page<T> {
    /// The same page, each item passed through `f`.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            next_cursor: self.next_cursor,
        }
    }
}

fn index_values<T: Record>(obj: &T) -> Vec<Vec<String>> {
    T::INDEXES
        .iter()
        .map(|spec| obj.index_values(spec.field))
        .collect()
}

/// Decode a stored record, opening its sealed secret fields.
pub(crate) fn decode_record<T: Record>(
    cipher: Option<&SecretCipher>,
    table: &str,
    bytes: &[u8],
) -> Result<T> {
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

fn cursor_id(cursor: &Option<String>) -> Result<Option<Id>> {
    match cursor {
        None => Ok(None),
        Some(c) => c.parse().map(Some).map_err(|_| StoreError::BadCursor),
    }
}

/// Reads available in both read and write transactions.
pub trait Reads {
    #[doc(hidden)]
    fn store(&self) -> &dyn StoreRead;
    #[doc(hidden)]
    fn cipher(&self) -> Option<&SecretCipher>;

    /// The object with this id, if it exists.
    fn get<T: Record>(&self, id: Id) -> Result<Option<T>> {
        match self.store().get(&TableSpec::of::<T>(), id)? {
            Some(bytes) => decode_record(self.cipher(), T::KIND, &bytes).map(Some),
            None => Ok(None),
        }
    }

    /// The object with this id as its shape and stored JSON (see
    /// [`Verbatim`]), if it exists.
    fn get_shaped<T: Verbatim>(&self, id: Id) -> Result<Option<Shaped<T>>> {
        let keeps_text = self.store().keeps_text();
        let bytes = self.store().get(&TableSpec::of::<T>(), id)?;
        bytes
            .map(|b| decode_shaped(self.cipher(), keeps_text, &b))
            .transpose()
    }

    /// Only the fields `P` names of the `T` with this id, if it exists:
    /// less to decode than the whole object. `P` must not name a secret
    /// field of `T`: those stay sealed.
    fn get_part<T: Record, P: serde::de::DeserializeOwned>(&self, id: Id) -> Result<Option<P>> {
        let bytes = self.store().get(&TableSpec::of::<T>(), id)?;
        bytes.map(|b| decode(T::KIND, &b)).transpose()
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
        typed_page(
            self.cipher(),
            list_rows::<T>(self.store(), page)?,
            page.limit,
        )
    }

    /// All objects of a type, newest first, as their shapes and stored JSON
    /// (see [`Verbatim`]).
    fn list_shaped<T: Verbatim>(&self, page: &PageRequest) -> Result<Page<Shaped<T>>> {
        let rows = list_rows::<T>(self.store(), page)?;
        shaped_page(self.cipher(), self.store().keeps_text(), rows, page.limit)
    }

    /// A page of the objects under `value` in `index`, newest first.
    fn find_in<T: Record>(
        &self,
        index: Index<T>,
        value: &str,
        page: &PageRequest,
    ) -> Result<Page<T>> {
        let rows = find_rows(self.store(), index, value, page)?;
        typed_page(self.cipher(), rows, page.limit)
    }

    /// A page of the objects under `value` in `index`, newest first, as
    /// their shapes and stored JSON (see [`Verbatim`]).
    fn find_shaped_in<T: Verbatim>(
        &self,
        index: Index<T>,
        value: &str,
        page: &PageRequest,
    ) -> Result<Page<Shaped<T>>> {
        let rows = find_rows(self.store(), index, value, page)?;
        shaped_page(self.cipher(), self.store().keeps_text(), rows, page.limit)
    }

    /// Objects whose indexed `field` (a name, as a client gives it) equals
    /// `value`, newest first; code that knows the field uses [`Reads::find_in`].
    fn find<T: Record>(&self, field: &str, value: &str, page: &PageRequest) -> Result<Page<T>> {
        self.find_in(index_of::<T>(field)?, value, page)
    }

    /// The object holding a unique `value` in `index`.
    fn find_unique_in<T: Record>(&self, index: Index<T>, value: &str) -> Result<Option<T>> {
        match self
            .store()
            .find_unique(&TableSpec::of::<T>(), index.spec(), value)?
        {
            Some(bytes) => decode_record(self.cipher(), T::KIND, &bytes).map(Some),
            None => Ok(None),
        }
    }

    /// Only the fields `P` names of the object holding a unique `value` in
    /// `index` (as [`Reads::get_part`]: `P` names no secret field).
    fn find_unique_part_in<T: Record, P: serde::de::DeserializeOwned>(
        &self,
        index: Index<T>,
        value: &str,
    ) -> Result<Option<P>> {
        let bytes = self
            .store()
            .find_unique(&TableSpec::of::<T>(), index.spec(), value)?;
        bytes.map(|b| decode(T::KIND, &b)).transpose()
    }

    /// Start looking up the object holding a unique `value` in `index`, for
    /// a [`Reads::find_unique_in`] of it later in the transaction (see
    /// [`StoreRead::prefetch_unique`]).
    fn prefetch_unique_in<T: Record>(&self, index: Index<T>, value: &str) -> Result<()> {
        self.store()
            .prefetch_unique(&TableSpec::of::<T>(), index.spec(), value)
    }

    /// How many records of a type there are.
    fn count<T: Record>(&self) -> Result<u64> {
        self.store().count(&TableSpec::of::<T>())
    }

    /// The audit trail, newest first, optionally only one actor's or one object's entries.
    fn audit(&self, filter: AuditFilter<'_>, page: &PageRequest) -> Result<Page<AuditEntry>> {
        let items = self.store().audit(
            filter,
            cursor_id(&page.cursor)?,
            page.limit.saturating_add(1),
        )?;
        Ok(paginate(items, page.limit, |e| e.id))
    }
}

/// The rows of a page of all `T`s, with one extra row.
fn list_rows<T: Record>(store: &dyn StoreRead, page: &PageRequest) -> Result<Vec<Vec<u8>>> {
    store.list(
        &TableSpec::of::<T>(),
        cursor_id(&page.cursor)?,
        page.limit.saturating_add(1),
    )
}

/// The rows of a page of the `T`s under `value` in `index`, with one extra row.
fn find_rows<T: Record>(
    store: &dyn StoreRead,
    index: Index<T>,
    value: &str,
    page: &PageRequest,
) -> Result<Vec<Vec<u8>>> {
    store.find(
        &TableSpec::of::<T>(),
        index.spec(),
        value,
        cursor_id(&page.cursor)?,
        page.limit.saturating_add(1),
    )
}

/// A page of typed objects from its rows.
fn typed_page<T: Record>(
    cipher: Option<&SecretCipher>,
    rows: Vec<Vec<u8>>,
    limit: usize,
) -> Result<Page<T>> {
    decode_page(
        rows,
        limit,
        |b| decode_record(cipher, T::KIND, b),
        |t: &T| t.meta().id,
    )
}

/// A page of shapes and stored JSON from its rows.
fn shaped_page<T: Verbatim>(
    cipher: Option<&SecretCipher>,
    keeps_text: bool,
    rows: Vec<Vec<u8>>,
    limit: usize,
) -> Result<Page<Shaped<T>>> {
    decode_page(
        rows,
        limit,
        |b| decode_shaped(cipher, keeps_text, b),
        Shaped::id,
    )
}

/// Decode a page of stored records fetched with one extra row.
fn decode_page<X>(
    rows: Vec<Vec<u8>>,
    limit: usize,
    decode: impl Fn(&[u8]) -> Result<X>,
    id: impl Fn(&X) -> Id,
) -> Result<Page<X>> {
    // (the row past the page only tells that there is more)
    let items = rows
        .iter()
        .take(limit)
        .map(|bytes| decode(bytes))
        .collect::<Result<Vec<_>>>()?;
    let next_cursor = if rows.len() > limit {
        items.last().map(|x| id(x).to_string())
    } else {
        None
    };
    Ok(Page { items, next_cursor })
}

/// Which audit entries to read.
#[derive(Debug, Clone, Copy)]
pub enum AuditFilter<'a> {
    All,
    Actor(&'a str),
    Object(&'a str),
}

/// The index on `field` (a name) of `T`.
fn index_of<T: Record>(field: &str) -> Result<Index<T>> {
    T::INDEXES
        .iter()
        .find(|s| s.field == field)
        .map(Index::new)
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
    pub(crate) raw: &'a dyn StoreRead,
    pub(crate) db: &'a Db,
}

impl Reads for ReadTx<'_> {
    fn store(&self) -> &dyn StoreRead {
        self.raw
    }

    fn cipher(&self) -> Option<&SecretCipher> {
        self.db.cipher()
    }
}

/// A write transaction. Every mutation also writes its audit entry here, so
/// the change and its record commit together or not at all.
pub struct WriteTx<'a> {
    pub(crate) raw: &'a mut dyn StoreWrite,
    pub(crate) db: &'a Db,
    pub(crate) actor: &'a Actor,
    pub(crate) now: Timestamp,
    /// The `seq` of the last event this transaction appended.
    pub(crate) last_event: Option<u64>,
    /// Events were sent ahead: their numbers come from the backend once
    /// the write returns.
    pub(crate) events_sent: bool,
    /// Audit entries not written yet (see [`WriteTx::flush_audits`]).
    pub(crate) audits: Vec<AuditEntry>,
}

impl Reads for WriteTx<'_> {
    fn store(&self) -> &dyn StoreRead {
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
        let bytes = encode_record(self.db.cipher(), T::KIND, obj)?;
        self.raw.insert(
            &TableSpec::of::<T>(),
            &row(obj.meta(), &bytes),
            &index_values(obj),
        )?;
        if T::LOGGED {
            self.log_change(T::KIND, id)?;
        }
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
        let bytes = encode_record(self.db.cipher(), T::KIND, obj)?;
        self.raw.update(
            &TableSpec::of::<T>(),
            &row(obj.meta(), &bytes),
            &index_values(&old),
            &index_values(obj),
        )?;
        if T::LOGGED {
            self.log_change(T::KIND, id)?;
        }
        self.record_audit(T::KIND, id, "update")
    }

    /// Remove an object and its index entries; returns what was stored.
    pub fn delete<T: Record>(&mut self, id: Id) -> Result<T> {
        let old: T = self.load(id)?;
        self.raw
            .delete(&TableSpec::of::<T>(), id, &index_values(&old))?;
        if T::LOGGED {
            self.log_change(T::KIND, id)?;
        }
        self.record_audit(T::KIND, id, "delete")?;
        Ok(old)
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
        self.audits.push(entry);
        Ok(())
    }

    /// Write the audit entries gathered so far (in one go, at the end of
    /// the transaction's closure).
    pub(crate) fn flush_audits(&mut self) -> Result<()> {
        if self.audits.is_empty() {
            return Ok(());
        }
        let entries = std::mem::take(&mut self.audits);
        self.raw.append_audits(&entries)
    }
}

fn row(meta: Meta, data: &[u8]) -> Row<'_> {
    Row {
        id: meta.id,
        version: meta.version,
        created_at: meta.created_at,
        updated_at: meta.updated_at,
        data,
    }
}
