//! End-to-end tests of identity, access control, the TFC ledger, commerce,
//! the board and the catalogs (one test binary for the crate): every
//! test starts a server on a temporary redb file and calls its JSON-RPC
//! endpoint in-process (the envelope and rules of `/rpc` without a socket);
//! the suites about sockets, addresses and HTTP use the server over HTTP.

// Tests fail by panicking: unwrap, expect and panic are how they assert.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

mod access;
mod apikeys;
mod audit;
mod auth;
mod board;
mod builds;
mod commerce;
mod events;
mod faults;
mod hardening;
mod idempotency;
mod ledger_props;
mod limits;
mod modules;
mod secrets;
mod site_catalog;
mod sshkeys;
mod users;
mod wallet;
mod webhooks;
mod websocket;
