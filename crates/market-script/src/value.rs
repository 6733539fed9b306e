//! Values crossing between scripts and JSON.
//!
//! Results arrive as JSON and become Rhai values: objects are object maps,
//! arrays are arrays, numbers are integers (or floats when they have a
//! fraction), decimals and timestamps stay the strings they are on the wire.
//! Going the other way, maps, arrays, strings, numbers, booleans and `()`
//! map onto JSON as expected; a Rhai `decimal` becomes a decimal string (what
//! money params expect); a schema type (`Product(...)`) becomes its JSON
//! object without secret fields.

use std::any::TypeId;
use std::collections::BTreeMap;
use std::sync::RwLock;

use rhai::{Array, Dynamic, FnPtr, Map};
use serde_json::{Number, Value};

/// How deeply values may nest when converted (guards against cycles made of
/// shared values).
const MAX_DEPTH: usize = 128;

/// Converts a value of one registered schema type to JSON.
pub(crate) type ObjectToJson = fn(&Dynamic) -> Option<Result<Value, String>>;

/// The schema types scripts can hold, by Rust type: how each becomes JSON.
/// Filled by [`crate::types::Types::object`]; a property of the types, the
/// same for every engine.
static OBJECTS: RwLock<BTreeMap<TypeId, ObjectToJson>> = RwLock::new(BTreeMap::new());

pub(crate) fn register_object(type_id: TypeId, to_json: ObjectToJson) {
    let mut objects = match OBJECTS.write() {
        Ok(o) => o,
        Err(poisoned) => poisoned.into_inner(),
    };
    objects.insert(type_id, to_json);
}

fn object_to_json(d: &Dynamic) -> Option<Result<Value, String>> {
    let objects = match OBJECTS.read() {
        Ok(o) => o,
        Err(poisoned) => poisoned.into_inner(),
    };
    let convert = objects.get(&d.type_id()).copied()?;
    drop(objects);
    convert(d)
}

/// A JSON value as a script sees it.
pub fn to_dynamic(v: Value) -> Dynamic {
    match v {
        Value::Null => Dynamic::UNIT,
        Value::Bool(b) => Dynamic::from_bool(b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Dynamic::from_int(i),
            None => Dynamic::from_float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => Dynamic::from(s),
        Value::Array(items) => {
            let array: Array = items.into_iter().map(to_dynamic).collect();
            Dynamic::from_array(array)
        }
        Value::Object(members) => {
            let map: Map = members
                .into_iter()
                .map(|(k, v)| (k.into(), to_dynamic(v)))
                .collect();
            Dynamic::from_map(map)
        }
    }
}

/// A script value as JSON, or why it cannot be one.
pub fn to_json(d: &Dynamic) -> Result<Value, String> {
    convert(d, 0)
}

fn convert(d: &Dynamic, depth: usize) -> Result<Value, String> {
    if depth > MAX_DEPTH {
        return Err(format!("values nest deeper than {MAX_DEPTH} levels"));
    }
    if d.is_shared() {
        return convert(&d.flatten_clone(), depth);
    }
    if d.is_unit() {
        return Ok(Value::Null);
    }
    if let Ok(b) = d.as_bool() {
        return Ok(Value::Bool(b));
    }
    if let Ok(i) = d.as_int() {
        return Ok(Value::Number(i.into()));
    }
    if let Ok(f) = d.as_float() {
        return Number::from_f64(f)
            .map(Value::Number)
            .ok_or_else(|| format!("{f} is not a number JSON can carry"));
    }
    if let Ok(dec) = d.as_decimal() {
        return Ok(Value::String(dec.to_string()));
    }
    if let Ok(c) = d.as_char() {
        return Ok(Value::String(c.to_string()));
    }
    if d.is_string() {
        return Ok(Value::String(d.to_string()));
    }
    if let Some(array) = d.read_lock::<Array>() {
        return array
            .iter()
            .map(|item| convert(item, depth + 1))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array);
    }
    if let Some(map) = d.read_lock::<Map>() {
        let mut out = serde_json::Map::with_capacity(map.len());
        for (k, v) in map.iter() {
            out.insert(k.to_string(), convert(v, depth + 1)?);
        }
        return Ok(Value::Object(out));
    }
    if d.is_blob() {
        let bytes = d.clone().into_blob().unwrap_or_default();
        return Ok(Value::Array(
            bytes.into_iter().map(|b| Value::Number(b.into())).collect(),
        ));
    }
    if d.is::<FnPtr>() {
        return Err("a function cannot be sent as JSON".into());
    }
    match object_to_json(d) {
        Some(result) => result,
        None => Err(format!("a {} cannot be sent as JSON", d.type_name())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_round_trips() {
        let v = json!({"a": [1, 2.5, "x", null, true], "b": {"c": "12.50"}, "big": u64::MAX});
        let d = to_dynamic(v.clone());
        let back = to_json(&d).unwrap();
        assert_eq!(back["a"], v["a"]);
        assert_eq!(back["b"], v["b"]);
        assert!(back["big"].is_f64(), "beyond i64 becomes a float");
    }

    #[test]
    fn decimals_become_strings_and_functions_are_refused() {
        let d = Dynamic::from_decimal("12.50".parse().unwrap());
        assert_eq!(to_json(&d).unwrap(), json!("12.50"));
        let f = Dynamic::from(FnPtr::new("f").unwrap());
        assert!(to_json(&f).unwrap_err().contains("function"));
        assert!(to_json(&Dynamic::from_float(f64::NAN)).is_err());
    }
}
