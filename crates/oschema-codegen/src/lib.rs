//! Turns a checked oschema [`Schema`] into source: Rust (types, records,
//! validation, CRUD wiring, service traits and their registration), Rhai
//! bindings for every type, the OpenRPC document and the HTML API reference.
//!
//! Pure functions returning strings; `build.rs` scripts write them to
//! `OUT_DIR`, and `make generate` writes them to a folder for reading.

mod html;
mod names;
mod openrpc;
mod rhai;
mod rust;

use oschema::{Method, Service};

pub use html::generate as html;
pub use openrpc::{Info, generate as openrpc};
pub use rhai::generate as rhai;
pub use rust::generate as rust;

/// A method returns a page (`{items, next_cursor}`) when its result is a list
/// and it takes a `cursor` param.
pub fn is_paged(m: &Method) -> bool {
    matches!(m.result, Some(oschema::Type::List(_))) && m.params.iter().any(|p| p.name == "cursor")
}

/// `product.get` → `ProductGetParams`.
pub fn params_struct_name(svc: &Service, m: &Method) -> String {
    format!(
        "{}{}Params",
        names::camel(&svc.namespace),
        names::camel(&m.name)
    )
}
