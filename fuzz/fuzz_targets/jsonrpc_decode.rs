//! Any body sent to `/rpc`, through the in-process endpoint (the envelope,
//! batches and the method table, without HTTP): never a panic, and always
//! the answer the envelope's rules give. The rules are the oracle the
//! property tests of `market-server` use, shared from its test folder.

#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use market_server::Endpoint;

#[path = "../../crates/market-server/tests/it/envelope.rs"]
mod envelope;

static ENDPOINT: LazyLock<Endpoint> = LazyLock::new(envelope::endpoint);

fuzz_target!(|body: &[u8]| {
    envelope::check(body, ENDPOINT.call(body, None).as_deref());
});
