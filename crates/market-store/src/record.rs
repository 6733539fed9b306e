//! What a stored root object is: the [`Record`] trait the generated types implement.

use std::marker::PhantomData;

use rust_decimal::Decimal;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::types::{Id, Timestamp};

/// The implicit fields of every root object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    pub id: Id,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// Starts at 1, +1 per write.
    pub version: u64,
}

/// A secondary index over one field of a root object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexSpec {
    pub field: &'static str,
    /// At most one object per value.
    pub unique: bool,
    /// Values compared without regard to letter case.
    pub nocase: bool,
    /// The field is a list, indexed under each of its items.
    pub list: bool,
}

/// The index on one field of root object `T`, as a typed handle: the
/// generator gives each indexed field one (`Product::BY_TAGS`), so a query
/// naming a field without an index, or an index of another type, does not
/// compile.
pub struct Index<T> {
    spec: &'static IndexSpec,
    of: PhantomData<fn() -> T>,
}

impl<T> Index<T> {
    /// The handle of the index `spec` of `T` (one of `T::INDEXES`); made by
    /// the generated code.
    pub const fn new(spec: &'static IndexSpec) -> Self {
        Index {
            spec,
            of: PhantomData,
        }
    }

    /// The indexed field's name.
    pub const fn field(self) -> &'static str {
        self.spec.field
    }

    /// How the field is indexed.
    pub const fn spec(self) -> &'static IndexSpec {
        self.spec
    }
}

impl<T> Clone for Index<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Index<T> {}

impl<T> PartialEq for Index<T> {
    fn eq(&self, other: &Self) -> bool {
        self.spec.field == other.spec.field
    }
}

impl<T> Eq for Index<T> {}

impl<T> std::fmt::Debug for Index<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Index").field(&self.spec.field).finish()
    }
}

/// What a backend needs to know of a root object's table: its name and
/// its indexed fields. The generator lists one per root object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableSpec {
    /// The object type's name ([`Record::KIND`]), also the table's name.
    pub kind: &'static str,
    pub indexes: &'static [IndexSpec],
    /// Its records are rewritten often ([`Record::HOT`]).
    pub hot: bool,
}

impl TableSpec {
    pub const fn of<T: Record>() -> TableSpec {
        TableSpec {
            kind: T::KIND,
            indexes: T::INDEXES,
            hot: T::HOT,
        }
    }

    /// The index on `field`, if there is one.
    pub fn index(&self, field: &str) -> Option<&'static IndexSpec> {
        self.indexes.iter().find(|s| s.field == field)
    }
}

/// The values `field` contributes to its index, read from a stored
/// record's JSON (the same strings [`IndexValue`] gives for the typed
/// value): used where records move without their Rust type (copy, restore).
pub fn json_index_values(record: &serde_json::Value, field: &str) -> Vec<String> {
    fn text(v: &serde_json::Value) -> Option<String> {
        match v {
            serde_json::Value::Null => None,
            serde_json::Value::String(s) => Some(s.clone()),
            other => Some(other.to_string()),
        }
    }
    match record.get(field) {
        Some(serde_json::Value::Array(items)) => {
            let mut values: Vec<String> = items.iter().filter_map(text).collect();
            values.sort();
            values.dedup();
            values
        }
        Some(v) => text(v).into_iter().collect(),
        None => Vec::new(),
    }
}

/// A root object: stored in its own table, found by id and by its indexes.
pub trait Record: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The object type's name in storage and audit, e.g. `product`.
    const KIND: &'static str;
    /// Its indexed fields.
    const INDEXES: &'static [IndexSpec];
    /// Top-level fields encrypted at rest (`@secret`).
    const SECRET_FIELDS: &'static [&'static str] = &[];
    /// Writes are recorded in the change log (types with `@search` fields).
    const LOGGED: bool = false;
    /// Its records are rewritten often (`@hot`: balances, counters): a
    /// backend that can leaves room beside each record for its next
    /// version (PostgreSQL: a table with half of each page free).
    const HOT: bool = false;

    fn meta(&self) -> Meta;
    fn set_meta(&mut self, meta: Meta);
    /// The values `field` contributes to its index (none for an absent option).
    fn index_values(&self, field: &str) -> Vec<String>;
}

/// How a field value is written into an index key.
pub trait IndexValue {
    fn index_values(&self) -> Vec<String>;
}

macro_rules! index_by_display {
    ($($t:ty),*) => {$(
        impl IndexValue for $t {
            fn index_values(&self) -> Vec<String> {
                vec![self.to_string()]
            }
        }
    )*};
}

index_by_display!(
    String, bool, u8, u16, u32, u64, i8, i16, i32, i64, Id, Timestamp, Decimal
);

/// A list is indexed under each of its items.
impl<T: IndexValue> IndexValue for Vec<T> {
    fn index_values(&self) -> Vec<String> {
        let mut values: Vec<String> = self.iter().flat_map(IndexValue::index_values).collect();
        values.sort();
        values.dedup();
        values
    }
}

impl<T: IndexValue> IndexValue for Option<T> {
    fn index_values(&self) -> Vec<String> {
        self.as_ref()
            .map(IndexValue::index_values)
            .unwrap_or_default()
    }
}
