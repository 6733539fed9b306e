//! market-script's integration tests: the scripts of `scripts/rhai/` on a
//! fresh database and against a running server, both transports giving the
//! same results, the sandbox, the REPL, and schema types in scripts.

mod repl;
mod sandbox;
mod scripts;
mod seeds;
mod support;
mod transports;
mod types;
