//! Generates the Rhai bindings of every schema type from
//! `schemas/marketplace.oschema` (the Rust types themselves come from
//! `market-core`, generated from the same file).

use std::path::PathBuf;

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let schema_path = manifest.join("../../schemas/marketplace.oschema");
    println!("cargo::rerun-if-changed={}", schema_path.display());
    let schema = match oschema_codegen::check_file(&schema_path, "schemas/marketplace.oschema") {
        Ok((schema, _)) => schema,
        Err(e) => fail(&e),
    };
    let out = PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_default()).join("rhai_types.rs");
    if let Err(e) = std::fs::write(&out, oschema_codegen::rhai(&schema)) {
        fail(&format!("cannot write {}: {e}", out.display()));
    }
}

fn fail(message: &str) -> ! {
    eprintln!("{message}");
    std::process::exit(1);
}
