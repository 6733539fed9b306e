//! End-to-end tests of the commerce features (SPEC sections 8 and 10):
//! providers and the catalog, nodes and slice rentals, cart and checkout
//! with escrow, orders, messages, bookings, deployments and admin stats.
//! Every test starts a server on a temporary redb file with a manual clock
//! and calls its JSON-RPC endpoint in-process, as a frontend would over HTTP.

mod helpers;

mod bookings;
mod catalog;
mod concurrency;
mod messages;
mod orders;
mod rentals;
mod search;
mod stats;
mod story;
