//! Schema types as Rhai types: the generic half of the generated bindings.
//!
//! The generated `register_rhai_types` lists, per struct of the schema, its
//! name and its fields with an accessor each; [`Types::object`] turns that
//! into a Rhai type with:
//!
//! - constructors `Product()` (every field at its default) and
//!   `Product(#{name: "x", ...})` (the default with the given fields set;
//!   an unknown field is an error);
//! - a getter and a setter per field (`p.name`, `p.name = "y"`): values are
//!   converted through JSON, so ids, timestamps, decimals and enums are
//!   strings, lists are arrays, embedded structs are object maps (a setter
//!   also takes a typed object);
//! - `validate()`: throws the schema's field errors, shaped like an RPC
//!   `invalid_input` error (`e.data.fields`);
//! - `json()`: the JSON text, without secret fields; `to_toml()`: the same
//!   as TOML; `to_map()`: the same as an object map (what RPC params take);
//! - `to_string()` / `to_debug()` for `print` and string interpolation.
//!
//! Fields marked `@secret` or `@hidden` in the schema are not generated, so
//! scripts never see them.

use std::any::TypeId;
use std::sync::Arc;

use market_rpc::{Redact, Validate};
use rhai::{Dynamic, Engine, EvalAltResult, Map};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{rpc_error, script_error};
use crate::value::{register_object, to_dynamic, to_json};

/// What a schema type must offer to live in scripts (the generated Rust
/// types all do).
pub trait SchemaType:
    Serialize + DeserializeOwned + Default + Clone + Validate + Redact + Send + Sync + 'static
{
}

impl<T> SchemaType for T where
    T: Serialize + DeserializeOwned + Default + Clone + Validate + Redact + Send + Sync + 'static
{
}

type Getter<T> = Arc<dyn Fn(&mut T) -> Result<Dynamic, String> + Send + Sync>;
type Setter<T> = Arc<dyn Fn(&mut T, Value) -> Result<(), String> + Send + Sync>;

/// One field of a schema type: its name and how to read and write it.
pub struct Field<T> {
    name: &'static str,
    get: Getter<T>,
    set: Setter<T>,
}

impl<T: 'static> Field<T> {
    /// The field `name`, reached through `access`.
    pub fn new<F>(name: &'static str, access: fn(&mut T) -> &mut F) -> Field<T>
    where
        F: Serialize + DeserializeOwned + 'static,
    {
        Field {
            name,
            get: Arc::new(move |o: &mut T| {
                serde_json::to_value(&*access(o))
                    .map(to_dynamic)
                    .map_err(|e| e.to_string())
            }),
            set: Arc::new(move |o: &mut T, v: Value| {
                *access(o) = serde_json::from_value(v).map_err(|e| e.to_string())?;
                Ok(())
            }),
        }
    }
}

/// Registers schema types with one engine.
pub struct Types<'e> {
    engine: &'e mut Engine,
    names: Vec<&'static str>,
}

impl<'e> Types<'e> {
    pub fn new(engine: &'e mut Engine) -> Types<'e> {
        Types {
            engine,
            names: Vec::new(),
        }
    }

    /// The names of the types registered so far.
    pub fn names(&self) -> &[&'static str] {
        &self.names
    }

    /// Make `T` the Rhai type `name` with these fields.
    pub fn object<T: SchemaType>(&mut self, name: &'static str, fields: Vec<Field<T>>) {
        self.names.push(name);
        register_object(TypeId::of::<T>(), object_json::<T>);
        let engine = &mut *self.engine;
        engine.register_type_with_name::<T>(name);
        for field in &fields {
            let (fname, get, set) = (field.name, field.get.clone(), field.set.clone());
            engine.register_get(fname, move |o: &mut T| {
                get(o).map_err(|e| script_error(format!("{name}.{fname}: {e}")))
            });
            engine.register_set(fname, move |o: &mut T, v: Dynamic| {
                let json = to_json(&v).map_err(|e| script_error(format!("{name}.{fname}: {e}")))?;
                set(o, json).map_err(|e| script_error(format!("{name}.{fname}: {e}")))
            });
        }
        let fields = Arc::new(fields);
        engine.register_fn(name, T::default);
        engine.register_fn(name, move |map: Map| from_map::<T>(name, &fields, map));
        engine.register_fn("validate", |o: &mut T| {
            o.validate().map_err(|e| rpc_error("validate", &e))
        });
        engine.register_fn("json", |o: &mut T| json_text(o));
        engine.register_fn("to_string", |o: &mut T| json_text(o));
        engine.register_fn("to_debug", move |o: &mut T| {
            json_text(o).map(|j| format!("{name}({j})"))
        });
        engine.register_fn("to_map", |o: &mut T| visible_json(o).map(to_dynamic));
        engine.register_fn("to_toml", |o: &mut T| {
            let mut v = visible_json(o)?;
            drop_nulls(&mut v);
            toml::to_string(&v).map_err(|e| script_error(format!("to_toml: {e}")))
        });
    }
}

/// `Type(#{...})`: the default value with the map's fields set.
fn from_map<T: SchemaType>(
    name: &str,
    fields: &[Field<T>],
    map: Map,
) -> Result<T, Box<EvalAltResult>> {
    let mut obj = T::default();
    for (key, value) in map {
        let Some(field) = fields.iter().find(|f| f.name == key.as_str()) else {
            let known: Vec<&str> = fields.iter().map(|f| f.name).collect();
            return Err(script_error(format!(
                "{name} has no field '{key}' (fields: {})",
                known.join(", ")
            )));
        };
        let json = to_json(&value).map_err(|e| script_error(format!("{name}.{key}: {e}")))?;
        (field.set)(&mut obj, json).map_err(|e| script_error(format!("{name}.{key}: {e}")))?;
    }
    Ok(obj)
}

/// The value as JSON without the fields that are never returned.
fn visible_json<T: SchemaType>(o: &T) -> Result<Value, Box<EvalAltResult>> {
    let mut v = serde_json::to_value(o).map_err(|e| script_error(e.to_string()))?;
    if T::HAS_SECRETS {
        T::redact(&mut v);
    }
    Ok(v)
}

fn json_text<T: SchemaType>(o: &T) -> Result<String, Box<EvalAltResult>> {
    market_rpc::methods::to_raw(o)
        .map(|raw| raw.get().to_string())
        .map_err(|e| rpc_error("json", &e))
}

fn object_json<T: SchemaType>(d: &Dynamic) -> Option<Result<Value, String>> {
    let o = d.read_lock::<T>()?;
    let mut v = match serde_json::to_value(&*o) {
        Ok(v) => v,
        Err(e) => return Some(Err(e.to_string())),
    };
    if T::HAS_SECRETS {
        T::redact(&mut v);
    }
    Some(Ok(v))
}

/// TOML has no null: absent is how it says "none".
fn drop_nulls(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|_, v| !v.is_null());
            m.values_mut().for_each(drop_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(drop_nulls),
        _ => {}
    }
}
