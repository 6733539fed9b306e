//! Any bytes as a schema folder: one file per stretch between 0xFF bytes
//! (a byte UTF-8 never uses), each read as text with invalid UTF-8 replaced.
//! Checking never panics and holds the invariants the property tests of
//! `oschema` assert, shared from its test folder.

#![no_main]

use libfuzzer_sys::fuzz_target;
use oschema::Source;

#[path = "../../crates/oschema/tests/it/invariants.rs"]
mod invariants;

fuzz_target!(|data: &[u8]| {
    let sources: Vec<Source> = data
        .split(|&b| b == 0xFF)
        .enumerate()
        .map(|(i, file)| Source::new(format!("f{i}.oschema"), String::from_utf8_lossy(file)))
        .collect();
    invariants::assert_sound(&sources);
});
