//! End-to-end tests of identity, access control and the TFC ledger: every
//! test starts a real server on a temporary redb file and drives it over a
//! socket the way a frontend would.

mod support;

mod access;
mod apikeys;
mod audit;
mod auth;
mod board;
mod builds;
mod events;
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
