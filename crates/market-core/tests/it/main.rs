//! End-to-end tests of identity, access control and the TFC ledger: every
//! test starts a server on a temporary redb file and calls its JSON-RPC
//! endpoint in-process (the envelope and rules of `/rpc` without a socket);
//! the suites about sockets, addresses and HTTP use the server over HTTP.

mod support;

mod access;
mod apikeys;
mod audit;
mod auth;
mod board;
mod builds;
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
