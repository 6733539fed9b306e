//! Removing secret fields from results, by type, before they leave the server.

use market_store::{Id, Page, Timestamp};
use rust_decimal::Decimal;
use serde_json::Value;

/// Strips the fields the schema marks secret from a serialized value.
/// Generated for every schema type; the default does nothing.
pub trait Redact {
    /// Whether values of this type can hold a secret field at all; when not,
    /// results are serialized directly, without a pass over a JSON value.
    const HAS_SECRETS: bool = false;

    fn redact(_value: &mut Value) {}
}

macro_rules! plain {
    ($($t:ty),*) => {$( impl Redact for $t {} )*};
}

plain!(
    String,
    bool,
    u8,
    u16,
    u32,
    u64,
    i8,
    i16,
    i32,
    i64,
    f32,
    f64,
    Id,
    Timestamp,
    Decimal,
    Value,
    ()
);

impl<T: Redact> Redact for Vec<T> {
    const HAS_SECRETS: bool = T::HAS_SECRETS;

    fn redact(value: &mut Value) {
        if let Value::Array(items) = value {
            items.iter_mut().for_each(T::redact);
        }
    }
}

impl<T: Redact> Redact for Box<T> {
    const HAS_SECRETS: bool = T::HAS_SECRETS;

    fn redact(value: &mut Value) {
        T::redact(value);
    }
}

impl<T: Redact> Redact for Option<T> {
    const HAS_SECRETS: bool = T::HAS_SECRETS;

    fn redact(value: &mut Value) {
        if !value.is_null() {
            T::redact(value);
        }
    }
}

impl<K, V: Redact> Redact for std::collections::BTreeMap<K, V> {
    const HAS_SECRETS: bool = V::HAS_SECRETS;

    fn redact(value: &mut Value) {
        if let Value::Object(m) = value {
            m.values_mut().for_each(V::redact);
        }
    }
}

impl<T: Redact> Redact for Page<T> {
    const HAS_SECRETS: bool = T::HAS_SECRETS;

    fn redact(value: &mut Value) {
        if let Some(items) = value.get_mut("items") {
            Vec::<T>::redact(items);
        }
    }
}

/// A stored record's JSON holds nothing to strip: only types without
/// fields that are never returned are passed through as stored.
impl<T: market_store::Verbatim> Redact for market_store::Stored<T> {}

/// Remove `fields` from an object (used by generated impls).
pub fn remove_fields(value: &mut Value, fields: &[&str]) {
    if let Value::Object(m) = value {
        for f in fields {
            m.remove(*f);
        }
    }
}

/// Redact the member `field` of an object as a `T` (used by generated impls).
pub fn redact_field<T: Redact>(value: &mut Value, field: &str) {
    if let Some(v) = value.get_mut(field) {
        T::redact(v);
    }
}
