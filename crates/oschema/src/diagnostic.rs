//! Diagnostics: errors and warnings with a file, line and column.
//!
//! Every stage reports into one [`Reporter`]; nothing stops at the first
//! problem. The reporter sorts what it collected by file (in the order the
//! files were given), then line, then column.

use std::fmt;

use crate::model::Span;

/// How bad a [`Diagnostic`] is: errors reject the schema, warnings do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

/// One problem found in a schema.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    pub severity: Severity,
    /// The file name as given in [`Source::name`](crate::Source::name).
    pub file: String,
    /// 1-based line.
    pub line: u32,
    /// 1-based column, counted in chars.
    pub col: u32,
    pub message: String,
    /// A suggestion, shown in parentheses after the message.
    pub hint: Option<String>,
}

impl Diagnostic {
    /// Sets the hint.
    pub fn with_hint(&mut self, hint: impl Into<String>) -> &mut Self {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.file, self.line, self.col)?;
        if self.severity == Severity::Warning {
            f.write_str("warning: ")?;
        }
        f.write_str(&self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, " ({hint})")?;
        }
        Ok(())
    }
}

/// Collects diagnostics from every stage.
pub(crate) struct Reporter {
    files: Vec<String>,
    diagnostics: Vec<(usize, Diagnostic)>,
}

impl Reporter {
    pub(crate) fn new(files: Vec<String>) -> Self {
        Reporter {
            files,
            diagnostics: Vec::new(),
        }
    }

    pub(crate) fn error(&mut self, at: Span, message: impl Into<String>) -> &mut Diagnostic {
        self.push(Severity::Error, at, message.into())
    }

    pub(crate) fn warning(&mut self, at: Span, message: impl Into<String>) -> &mut Diagnostic {
        self.push(Severity::Warning, at, message.into())
    }

    /// `file:line:col` of a span, for messages that point elsewhere.
    pub(crate) fn location(&self, at: Span) -> String {
        format!("{}:{}:{}", self.file_name(at.file), at.line, at.col)
    }

    pub(crate) fn has_errors(&self) -> bool {
        self.diagnostics
            .iter()
            .any(|(_, d)| d.severity == Severity::Error)
    }

    /// Every diagnostic, sorted by file, line and column.
    pub(crate) fn finish(mut self) -> Vec<Diagnostic> {
        self.diagnostics
            .sort_by_key(|(file, d)| (*file, d.line, d.col));
        self.diagnostics.into_iter().map(|(_, d)| d).collect()
    }

    fn file_name(&self, file: usize) -> &str {
        self.files.get(file).map_or("<schema>", String::as_str)
    }

    fn push(&mut self, severity: Severity, at: Span, message: String) -> &mut Diagnostic {
        let diagnostic = Diagnostic {
            severity,
            file: self.file_name(at.file).to_owned(),
            line: at.line,
            col: at.col,
            message,
            hint: None,
        };
        self.diagnostics.push((at.file, diagnostic));
        let last = self.diagnostics.len() - 1;
        &mut self.diagnostics[last].1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_formats() {
        let mut rep = Reporter::new(vec!["a.oschema".into()]);
        let at = Span {
            file: 0,
            line: 42,
            col: 17,
        };
        rep.error(at, "unknown type 'Ordr'")
            .with_hint("did you mean 'Order'?");
        rep.warning(at, "unknown annotation '@foo'");
        let shown: Vec<String> = rep.finish().iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "a.oschema:42:17: unknown type 'Ordr' (did you mean 'Order'?)",
                "a.oschema:42:17: warning: unknown annotation '@foo'",
            ]
        );
    }
}
