//! Generates the Rhai bindings of every schema type from
//! `schemas/marketplace.oschema` (the Rust types themselves come from
//! `market-core`, generated from the same file).

use std::path::PathBuf;

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let schema_path = manifest.join("../../schemas/marketplace.oschema");
    println!("cargo::rerun-if-changed={}", schema_path.display());
    let text = match std::fs::read_to_string(&schema_path) {
        Ok(t) => t,
        Err(e) => fail(&format!("cannot read {}: {e}", schema_path.display())),
    };
    let checked = oschema::check(&[oschema::Source {
        name: "schemas/marketplace.oschema".into(),
        text,
    }]);
    let Some(schema) = checked.schema else {
        let all: Vec<String> = checked
            .diagnostics
            .iter()
            .map(ToString::to_string)
            .collect();
        fail(&format!("the schema has errors:\n{}", all.join("\n")));
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
