//! Turns a checked oschema [`Schema`] into source: Rust (types, records,
//! validation, CRUD wiring, service traits and their registration), Rhai
//! bindings for every type, the OpenRPC document, the HTML API reference and
//! the TypeScript client package.
//!
//! Pure functions returning strings (and [`check_file`] for build scripts);
//! `build.rs` scripts write them to `OUT_DIR`, and `make generate` writes
//! them to a folder for reading.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod html;
mod names;
mod openrpc;
mod rhai;
mod rust;
mod typescript;

use oschema::{Method, Service};

pub use html::generate as html;
pub use openrpc::{Info, generate as openrpc};
pub use rhai::generate as rhai;
pub use rust::generate as rust;
pub use typescript::generate as typescript;

/// For build scripts: read and check one schema file, named `name` in
/// diagnostics. Warnings come back beside the schema; errors, all of them,
/// as the error.
pub fn check_file(
    path: &std::path::Path,
    name: &str,
) -> Result<(oschema::Schema, Vec<String>), String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let checked = oschema::check(&[oschema::Source {
        name: name.to_string(),
        text,
    }]);
    let diagnostics: Vec<String> = checked
        .diagnostics
        .iter()
        .map(ToString::to_string)
        .collect();
    match checked.schema {
        Some(schema) => Ok((schema, diagnostics)),
        None => Err(format!(
            "the schema has errors:\n{}",
            diagnostics.join("\n")
        )),
    }
}

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
