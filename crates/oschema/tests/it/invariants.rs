//! What checking any schema must hold, whatever its text: no panic, a model
//! exactly when there is no error, every diagnostic inside the file it
//! names and in the documented order, and the same outcome every time. The
//! property tests in `it.rs` and the fuzz target
//! `fuzz/fuzz_targets/schema_parse.rs` both assert through [`assert_sound`].

use oschema::{Source, check};

/// Check `sources` (whose names must differ) and assert the invariants.
pub fn assert_sound(sources: &[Source]) {
    let checked = check(sources);
    assert_eq!(checked.schema.is_some(), !checked.has_errors());
    let mut previous = (0, 0, 0);
    for d in &checked.diagnostics {
        let file = sources
            .iter()
            .position(|s| s.name == d.file)
            .unwrap_or_else(|| panic!("{d}: names no file given"));
        let lines: Vec<&str> = sources[file].text.split('\n').collect();
        let line = usize::try_from(d.line).unwrap_or(usize::MAX);
        assert!(
            (1..=lines.len()).contains(&line),
            "{d}: the file has {} lines",
            lines.len()
        );
        let width = lines[line - 1].chars().count() + 1;
        let col = usize::try_from(d.col).unwrap_or(usize::MAX);
        assert!(
            (1..=width).contains(&col),
            "{d}: line {line} ends at column {width}"
        );
        assert!(!d.message.is_empty(), "{d}: no message");
        // Sorted by file (in the order given), then line, then column.
        let at = (file, d.line, d.col);
        assert!(at >= previous, "{d}: out of order");
        previous = at;
    }
    let again = check(sources);
    assert_eq!(
        again.diagnostics, checked.diagnostics,
        "a second check differs"
    );
    assert_eq!(again.schema, checked.schema, "a second check differs");
}
