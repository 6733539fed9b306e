//! Generates the marketplace's types, stores, service traits, OpenRPC
//! document and HTML reference from `schemas/marketplace.oschema`.

use std::path::{Path, PathBuf};

/// `market-rpc`'s table of error kinds and codes, the file itself: the
/// generator is told exactly the codes the runtime answers with.
#[path = "../market-rpc/src/kind.rs"]
mod kind;

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let schema_path = manifest.join("../../schemas/marketplace.oschema");
    println!("cargo::rerun-if-changed={}", schema_path.display());
    let schema = match oschema_codegen::check_file(&schema_path, "schemas/marketplace.oschema") {
        Ok((schema, warnings)) => {
            for w in warnings {
                println!("cargo::warning={w}");
            }
            schema
        }
        Err(e) => fail(&e),
    };
    let info = oschema_codegen::Info {
        title: "Marketplace".into(),
        version: std::env::var("CARGO_PKG_VERSION").unwrap_or_default(),
        description: "Cloud-capacity marketplace: compute slices and nodes, apps, services, gateways and names, paid in TFC credits.".into(),
        error_code: kind::error_code,
    };
    let openrpc = oschema_codegen::openrpc(&schema, &info);
    let out = PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_default());
    write(&out.join("marketplace.rs"), &oschema_codegen::rust(&schema));
    write(
        &out.join("openrpc.json"),
        &serde_json::to_string_pretty(&openrpc).unwrap_or_default(),
    );
    write(&out.join("doc.html"), &oschema_codegen::html(&openrpc));
}

fn write(path: &Path, text: &str) {
    if let Err(e) = std::fs::write(path, text) {
        fail(&format!("cannot write {}: {e}", path.display()));
    }
}

fn fail(message: &str) -> ! {
    eprintln!("{message}");
    std::process::exit(1);
}
