//! `marketplace schema ...`: check, print and generate from .oschema files.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Read the sources named on the command line; folders contribute their
/// `.oschema` files in name order.
fn read_sources(paths: &[PathBuf]) -> Result<Vec<oschema::Source>, String> {
    let mut sources = Vec::new();
    for path in paths {
        let files = if path.is_dir() {
            let entries =
                std::fs::read_dir(path).map_err(|e| format!("{}: {e}", path.display()))?;
            let mut files: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "oschema"))
                .collect();
            files.sort();
            files
        } else {
            vec![path.clone()]
        };
        for file in files {
            let text =
                std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
            sources.push(oschema::Source {
                name: file.display().to_string(),
                text,
            });
        }
    }
    Ok(sources)
}

/// Read and check schema files, printing every diagnostic.
fn check_files(paths: &[PathBuf]) -> Result<(Vec<oschema::Source>, oschema::Schema), ExitCode> {
    let sources = read_sources(paths).map_err(|e| {
        eprintln!("error: {e}");
        ExitCode::FAILURE
    })?;
    let checked = oschema::check(&sources);
    for d in &checked.diagnostics {
        eprintln!("{d}");
    }
    match checked.schema {
        Some(schema) => Ok((sources, schema)),
        None => {
            let errors = checked
                .diagnostics
                .iter()
                .filter(|d| d.severity == oschema::Severity::Error)
                .count();
            eprintln!("{errors} error(s)");
            Err(ExitCode::FAILURE)
        }
    }
}

pub fn check(paths: &[PathBuf]) -> ExitCode {
    match check_files(paths) {
        Ok((sources, schema)) => {
            println!(
                "ok: {} file(s), {} enums, {} types ({} root objects), {} services",
                sources.len(),
                schema.enums.len(),
                schema.structs.len(),
                schema.root_objects().count(),
                schema.services.len()
            );
            ExitCode::SUCCESS
        }
        Err(code) => code,
    }
}

pub fn generate(paths: &[PathBuf], out: &Path) -> ExitCode {
    let schema = match check_files(paths) {
        Ok((_, schema)) => schema,
        Err(code) => return code,
    };
    let info = oschema_codegen::Info {
        title: "Marketplace".into(),
        version: market_core::VERSION.into(),
        description: "Generated from the schema".into(),
        error_code: market_rpc::error_code,
    };
    let openrpc = oschema_codegen::openrpc(&schema, &info);
    let files = [
        ("generated.rs", oschema_codegen::rust(&schema)),
        (
            "openrpc.json",
            serde_json::to_string_pretty(&openrpc).unwrap_or_default(),
        ),
        ("doc.html", oschema_codegen::html(&openrpc)),
    ];
    if let Err(e) = std::fs::create_dir_all(out) {
        eprintln!("error: cannot create {}: {e}", out.display());
        return ExitCode::FAILURE;
    }
    for (name, text) in files {
        let path = out.join(name);
        if let Err(e) = std::fs::write(&path, text) {
            eprintln!("error: cannot write {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
        println!("wrote {}", path.display());
    }
    ExitCode::SUCCESS
}

/// Print the OpenRPC document of the built-in schema.
pub fn openrpc() -> ExitCode {
    crate::report(serde_json::to_string_pretty(&market_core::openrpc()).map_err(|e| e.to_string()))
}

/// Write the TypeScript client package of the built-in schema to `out`.
pub fn typescript(out: &Path) -> ExitCode {
    crate::report(write_typescript(out))
}

fn write_typescript(out: &Path) -> Result<String, String> {
    let files = oschema_codegen::typescript(&market_core::openrpc(), market_rpc::error_code)?;
    for (name, text) in &files {
        let path = out.join(name);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    Ok(format!(
        "wrote the TypeScript client package ({} files) to {}",
        files.len(),
        out.display()
    ))
}
