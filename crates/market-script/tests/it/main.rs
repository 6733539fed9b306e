//! market-script's integration tests: the scripts of `scripts/rhai/` on a
//! fresh database and against a running server, both transports giving the
//! same results, the sandbox, the REPL, and schema types in scripts.

// Tests fail by panicking: unwrap, expect and panic are how they assert.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod repl;
mod sandbox;
mod scripts;
mod seeds;
mod support;
mod transports;
mod types;
