//! Rhai scripting for the marketplace: seed, check, migrate and administer
//! it with scripts, locally on the database or against a running server,
//! with the same script API either way, and an admin REPL.
//!
//! - [`sandbox`]: the one [`harden`] every engine goes through (limits,
//!   no file system, no `import`/`eval`).
//! - [`transport`]: [`Transport::local`] (the business layer in-process,
//!   through the server's method table) and [`Transport::remote`]
//!   (JSON-RPC over HTTP), and the identity calls are made as.
//! - [`api`]: `call`, one module per namespace read from the OpenRPC
//!   document ([`catalog`]), `as_user`, `login`, `arg`, `progress`, ...
//! - [`types`]: every schema type as a Rhai type; the bindings are
//!   generated from the schema by `build.rs` (`oschema_codegen::rhai`).
//! - [`repl`]: the interactive shell.
//!
//! [`ScriptHost`] puts them together: one engine bound to one transport.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

extern crate self as market_script;

pub mod api;
pub mod catalog;
pub mod error;
pub mod progress;
pub mod repl;
pub mod sandbox;
pub mod transport;
pub mod types;
pub mod value;

pub mod generated {
    //! Generated from the schema by `build.rs`: every struct of
    //! `schemas/marketplace.oschema` as a Rhai type (the Rust types are
    //! `market-core`'s).
    #![allow(clippy::all, clippy::pedantic)]
    use market_core::*;
    include!(concat!(env!("OUT_DIR"), "/rhai_types.rs"));
}

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rhai::{AST, Dynamic, Engine, Scope};

pub use catalog::Catalog;
pub use error::ScriptError;
pub use progress::Output;
pub use sandbox::{Limits, Watchdog, harden};
pub use transport::Transport;

use api::Session;
use progress::Console;

/// How a [`ScriptHost`] runs scripts.
#[derive(Clone, Debug)]
pub struct Options {
    pub limits: Limits,
    /// Where `print` and `debug` go.
    pub output: Output,
    /// Draw `progress(...)` as a bar (only ever when stdout is a terminal).
    pub progress_bars: bool,
    /// `--set` values: script variables, also read with `arg(name)`.
    pub args: Vec<(String, Dynamic)>,
    /// The folder `write_json` writes below; `None` disables it.
    pub files_dir: Option<PathBuf>,
}

impl Default for Options {
    /// `marketplace run`: default limits, standard output, bars on a
    /// terminal, `write_json` below the current folder.
    fn default() -> Options {
        Options {
            limits: Limits::default(),
            output: Output::Std,
            progress_bars: true,
            args: Vec::new(),
            files_dir: Some(PathBuf::from(".")),
        }
    }
}

/// A hardened engine with the marketplace API, bound to one transport.
pub struct ScriptHost {
    engine: Engine,
    session: Arc<Session>,
    watchdog: Watchdog,
    limits: Limits,
    types: Vec<&'static str>,
}

impl ScriptHost {
    pub fn new(transport: Transport, options: Options) -> ScriptHost {
        let catalog = Catalog::from_openrpc(&transport.openrpc());
        let mut engine = Engine::new();
        // Interning pays for strings made again and again; the scripts here
        // mostly make new ones (names, ids), and past its capacity the
        // interner scans itself on every new string.
        engine.set_max_strings_interned(0);
        let watchdog = harden(&mut engine, &options.limits);
        let mut types = types::Types::new(&mut engine);
        generated::register_rhai_types(&mut types);
        let type_names = types.names().to_vec();
        let session = Arc::new(Session {
            transport,
            catalog,
            console: Console::new(options.output, options.progress_bars),
            args: options.args.into_iter().collect::<BTreeMap<_, _>>(),
            files_dir: options.files_dir,
        });
        api::register(&mut engine, &session);
        ScriptHost {
            engine,
            session,
            watchdog,
            limits: options.limits,
            types: type_names,
        }
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub fn transport(&self) -> &Transport {
        &self.session.transport
    }

    pub fn catalog(&self) -> &Catalog {
        &self.session.catalog
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The names of the schema types scripts can construct.
    pub fn type_names(&self) -> &[&'static str] {
        &self.types
    }

    /// A scope holding the `--set` values as variables.
    pub fn scope(&self) -> Scope<'static> {
        let mut scope = Scope::new();
        for (name, value) in &self.session.args {
            scope.push_dynamic(name.clone(), value.clone());
        }
        scope
    }

    /// Compile `text` (named `source` in errors) against `scope`.
    pub fn compile(&self, scope: &Scope, source: &str, text: &str) -> Result<AST, ScriptError> {
        api::reset_tokens();
        let mut ast = self
            .engine
            .compile_with_scope(scope, text)
            .map_err(|e| ScriptError::new(source, e.into(), &self.limits))?;
        ast.set_source(source);
        Ok(ast)
    }

    /// Evaluate a compiled script in `scope`, under the sandbox's clock.
    pub fn eval_ast(
        &self,
        scope: &mut Scope,
        source: &str,
        ast: &AST,
    ) -> Result<Dynamic, ScriptError> {
        self.watchdog.start();
        let result = self.engine.eval_ast_with_scope::<Dynamic>(scope, ast);
        self.session.console.finish();
        result.map_err(|e| ScriptError::new(source, *e, &self.limits))
    }

    /// Run a script's text in a fresh scope holding the `--set` values, as
    /// the identity the transport started with.
    pub fn run(&self, source: &str, text: &str) -> Result<Dynamic, ScriptError> {
        self.session.transport.reset_identity();
        let mut scope = self.scope();
        let ast = self.compile(&scope, source, text)?;
        self.eval_ast(&mut scope, source, &ast)
    }

    /// Run a script file; errors name the file as given.
    pub fn run_file(&self, path: &Path) -> Result<Dynamic, ScriptError> {
        let source = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ScriptError {
            source: source.clone(),
            line: None,
            col: None,
            message: format!("cannot read the script: {e}"),
            thrown: None,
        })?;
        self.run(&source, &text)
    }

    /// Print a line through the session's output.
    pub fn print(&self, text: &str) {
        self.session.console.print(text);
    }
}

/// A `--set name=value`: numbers become numbers, `true`/`false` booleans,
/// anything else a string.
pub fn parse_set(arg: &str) -> Result<(String, Dynamic), String> {
    let (name, value) = arg
        .split_once('=')
        .ok_or_else(|| format!("--set {arg}: expected name=value"))?;
    let name = name.trim();
    let valid = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Err(format!(
            "--set {arg}: '{name}' is not a variable name (letters, digits and _)"
        ));
    }
    let value = if let Ok(i) = value.parse::<i64>() {
        Dynamic::from_int(i)
    } else if let Some(f) = value
        .parse::<f64>()
        .ok()
        .filter(|f| f.is_finite() && value.chars().any(|c| c.is_ascii_digit()))
    {
        Dynamic::from_float(f)
    } else if value == "true" || value == "false" {
        Dynamic::from_bool(value == "true")
    } else {
        Dynamic::from(value.to_string())
    };
    Ok((name.to_string(), value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_values_are_typed() {
        let v = |s: &str| parse_set(s).map(|(n, v)| (n, v.type_name(), v.to_string()));
        assert_eq!(v("scale=10").unwrap(), ("scale".into(), "i64", "10".into()));
        assert_eq!(v("rate=1.5").unwrap().1, "f64");
        assert_eq!(
            v("apply=true").unwrap(),
            ("apply".into(), "bool", "true".into())
        );
        assert_eq!(v("email=a@b.io").unwrap().2, "a@b.io");
        assert_eq!(v("note=a=b").unwrap().2, "a=b");
        assert_eq!(v("empty=").unwrap().1, "string");
        assert_eq!(v("x=inf").unwrap().1, "string");
        assert!(parse_set("novalue").is_err());
        assert!(parse_set("1x=2").is_err());
        assert!(parse_set("a-b=2").is_err());
    }
}
