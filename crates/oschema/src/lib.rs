//! The `.oschema` schema language: lexer, parser, validated model and diagnostics.
//!
//! Pure: no I/O. Callers hand in sources (file name and text) and get back the
//! validated [`Schema`] or every [`Diagnostic`] found.
//!
//! ```
//! let checked = oschema::check(&[oschema::Source::new(
//!     "shop.oschema",
//!     "Item = { name: str }\nservice ItemService {\n    get(name: str) -> Item @access(public)\n}\n",
//! )]);
//! let schema = checked.schema.expect("no errors");
//! assert_eq!(schema.services[0].namespace, "item");
//! ```

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod annotations;
mod ast;
mod check;
mod diagnostic;
mod lexer;
pub mod model;
mod names;
mod parser;

pub use diagnostic::{Diagnostic, Severity};
pub use model::*;

use diagnostic::Reporter;

/// One schema file: its name as given (shown in diagnostics) and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub name: String,
    pub text: String,
}

impl Source {
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> Self {
        Source {
            name: name.into(),
            text: text.into(),
        }
    }
}

/// The outcome of [`check`].
#[derive(Debug, Clone)]
pub struct Checked {
    /// The validated schema: `Some` exactly when there is no error.
    pub schema: Option<Schema>,
    /// Every error and warning, sorted by file (in the order given), line and column.
    pub diagnostics: Vec<Diagnostic>,
}

impl Checked {
    pub fn has_errors(&self) -> bool {
        self.diagnostics
            .iter()
            .any(|d| d.severity == Severity::Error)
    }
}

/// Parses and checks a schema made of one or more files (a Hero folder):
/// names are global across the files.
pub fn check(sources: &[Source]) -> Checked {
    let files: Vec<String> = sources.iter().map(|s| s.name.clone()).collect();
    let mut rep = Reporter::new(files.clone());
    let parsed: Vec<ast::File> = sources
        .iter()
        .enumerate()
        .map(|(i, source)| {
            let tokens = lexer::lex(i, &source.text, &mut rep);
            parser::parse(tokens, &mut rep)
        })
        .collect();
    let mut schema = check::run(&parsed, &mut rep);
    schema.files = files;
    let schema = (!rep.has_errors()).then_some(schema);
    Checked {
        schema,
        diagnostics: rep.finish(),
    }
}
