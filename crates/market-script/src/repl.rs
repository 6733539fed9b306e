//! The admin REPL: line editing with a history file, multi-line input while
//! brackets are open, tab completion of namespaces, `ns::method` names,
//! helpers, types and variables, `help`, and errors shown with a caret.
//! Fed from a pipe, it runs the whole input as one script instead.

use std::borrow::Cow;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use rhai::{AST, Dynamic, Scope};
use rustyline::completion::{Completer, Pair};
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::FileHistory;
use rustyline::validate::{ValidationContext, ValidationResult, Validator};
use rustyline::{CompletionType, Config, Context, Editor, Helper};

use crate::ScriptHost;
use crate::catalog::{Catalog, HELPERS};
use crate::error::ScriptError;
use crate::value::to_json;

const PROMPT: &str = "mkt> ";

/// Where the history is kept: `$XDG_STATE_HOME/marketplace/history`, else
/// `~/.marketplace_history`.
pub fn history_path() -> Option<PathBuf> {
    if let Some(state) = std::env::var_os("XDG_STATE_HOME").filter(|s| !s.is_empty()) {
        return Some(PathBuf::from(state).join("marketplace").join("history"));
    }
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|home| PathBuf::from(home).join(".marketplace_history"))
}

/// The names of the script helpers (`call`, `login`, ...).
pub fn helper_names() -> Vec<&'static str> {
    HELPERS
        .iter()
        .flat_map(|(sig, _)| sig.split(" / "))
        .filter_map(|sig| sig.split('(').next())
        .filter(|name| !name.contains("::"))
        .collect()
}

/// Completions for the word ending at `pos` in `line`: where the word
/// starts and the candidates. `wal` gives `wallet::`; `wallet::tr` gives
/// `wallet::transfer`; other words match helpers, types and `names`
/// (the script's variables).
pub fn completions(
    line: &str,
    pos: usize,
    catalog: &Catalog,
    names: &[String],
) -> (usize, Vec<String>) {
    let before = line.get(..pos).unwrap_or(line);
    let start = before
        .char_indices()
        .rev()
        .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '_' || *c == ':'))
        .map_or(0, |(i, c)| i + c.len_utf8());
    let word = &before[start..];
    let mut out: Vec<String> = Vec::new();
    if let Some((ns, prefix)) = word.split_once("::") {
        out.extend(
            catalog
                .methods_of(ns)
                .filter(|m| m.function.starts_with(prefix))
                .map(|m| format!("{ns}::{}", m.function)),
        );
    } else if !word.is_empty() {
        out.extend(
            catalog
                .namespaces()
                .into_iter()
                .filter(|ns| ns.starts_with(word))
                .map(|ns| format!("{ns}::")),
        );
        out.extend(
            helper_names()
                .into_iter()
                .chain(catalog.type_names())
                .chain(names.iter().map(String::as_str))
                .filter(|n| n.starts_with(word))
                .map(str::to_string),
        );
    }
    out.sort();
    out.dedup();
    (start, out)
}

/// Whether `text` leaves a bracket, a backtick string or a block comment
/// open (then the REPL asks for more lines).
pub fn is_incomplete(text: &str) -> bool {
    let mut depth: i64 = 0;
    let mut chars = text.chars().peekable();
    let mut block_comments = 0;
    while let Some(c) = chars.next() {
        if block_comments > 0 {
            match (c, chars.peek()) {
                ('*', Some('/')) => {
                    chars.next();
                    block_comments -= 1;
                }
                ('/', Some('*')) => {
                    chars.next();
                    block_comments += 1;
                }
                _ => {}
            }
            continue;
        }
        match c {
            '/' if chars.peek() == Some(&'/') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                block_comments += 1;
            }
            '"' | '\'' => {
                while let Some(s) = chars.next() {
                    match s {
                        '\\' => {
                            chars.next();
                        }
                        '\n' => break,
                        s if s == c => break,
                        _ => {}
                    }
                }
            }
            '`' => {
                let mut closed = false;
                for s in chars.by_ref() {
                    if s == '`' {
                        closed = true;
                        break;
                    }
                }
                if !closed {
                    return true;
                }
            }
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => depth -= 1,
            _ => {}
        }
    }
    depth > 0 || block_comments > 0
}

/// A result as the REPL shows it: nothing for `()`, strings as they are,
/// maps, arrays and schema types as pretty JSON.
pub fn show(value: &Dynamic) -> Option<String> {
    if value.is_unit() {
        return None;
    }
    if value.is_string() {
        return Some(value.to_string());
    }
    let structured = value.is_map() || value.is_array() || value.is_variant();
    match to_json(value) {
        Ok(json) if structured => serde_json::to_string_pretty(&json).ok(),
        _ => Some(value.to_string()),
    }
}

/// An error as the REPL shows it: `source:line:col: message`, then the
/// line at fault with a caret under the position.
pub fn render_error(e: &ScriptError, text: &str) -> String {
    match e.caret(text) {
        Some(caret) => format!("{e}\n{caret}"),
        None => e.to_string(),
    }
}

/// `help`, `help topic`: the REPL's own command (`help("x")` is the
/// script function and works too).
fn help_command(line: &str) -> Option<Option<&str>> {
    let line = line.trim().trim_end_matches(';');
    if line == "help" {
        return Some(None);
    }
    let topic = line.strip_prefix("help ")?.trim();
    Some(Some(topic))
}

/// One REPL session's state: variables and the functions defined so far.
pub struct Session<'h> {
    host: &'h ScriptHost,
    scope: Scope<'static>,
    functions: AST,
}

impl<'h> Session<'h> {
    pub fn new(host: &'h ScriptHost) -> Session<'h> {
        Session {
            host,
            scope: host.scope(),
            functions: AST::empty(),
        }
    }

    /// Evaluate one entry; variables and functions stay for the next.
    pub fn eval(&mut self, source: &str, text: &str) -> Result<Dynamic, ScriptError> {
        let ast = self.host.compile(&self.scope, source, text)?;
        let merged = self.functions.merge(&ast);
        let result = self.host.eval_ast(&mut self.scope, source, &merged);
        self.functions = merged;
        self.functions.clear_statements();
        result
    }

    /// The names of the variables defined so far.
    pub fn variables(&self) -> Vec<String> {
        self.scope
            .iter()
            .map(|(name, ..)| name.to_string())
            .collect()
    }

    /// Handle one entry as the REPL does: `help`, or evaluate it; the text
    /// to show (result or error) and whether it succeeded.
    pub fn entry(&mut self, text: &str) -> (Option<String>, bool) {
        if let Some(topic) = help_command(text) {
            return (Some(self.host.catalog().help(topic)), true);
        }
        match self.eval("<repl>", text) {
            Ok(v) => (show(&v), true),
            Err(e) => (Some(render_error(&e, text)), false),
        }
    }
}

/// Feed the whole of `text` (stdin that is not a terminal) as one script:
/// prints its final value, or the error with a caret to `err`. Returns
/// whether it succeeded.
pub fn run_piped(host: &ScriptHost, text: &str, err: &mut dyn Write) -> bool {
    match host.run("<stdin>", text) {
        Ok(v) => {
            if let Some(shown) = show(&v) {
                host.print(&shown);
            }
            true
        }
        Err(e) => {
            let _ = writeln!(err, "{}", render_error(&e, text));
            false
        }
    }
}

struct ReplHelper {
    catalog: Catalog,
    names: Arc<Mutex<Vec<String>>>,
}

impl Completer for ReplHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let names = match self.names.lock() {
            Ok(n) => n.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        let (start, found) = completions(line, pos, &self.catalog, &names);
        let pairs = found
            .into_iter()
            .map(|c| Pair {
                display: c.clone(),
                replacement: c,
            })
            .collect();
        Ok((start, pairs))
    }
}

impl Validator for ReplHelper {
    fn validate(&self, ctx: &mut ValidationContext<'_>) -> rustyline::Result<ValidationResult> {
        if is_incomplete(ctx.input()) {
            Ok(ValidationResult::Incomplete)
        } else {
            Ok(ValidationResult::Valid(None))
        }
    }
}

impl Hinter for ReplHelper {
    type Hint = String;
}

impl Highlighter for ReplHelper {
    fn highlight_prompt<'b, 's: 'b, 'p: 'b>(
        &'s self,
        prompt: &'p str,
        _default: bool,
    ) -> Cow<'b, str> {
        Cow::Borrowed(prompt)
    }
}

impl Helper for ReplHelper {}

/// The interactive REPL on a terminal.
pub fn interactive(host: &ScriptHost) -> Result<(), String> {
    let config = Config::builder()
        .completion_type(CompletionType::List)
        .auto_add_history(false)
        .build();
    let mut editor: Editor<ReplHelper, FileHistory> =
        Editor::with_config(config).map_err(|e| format!("cannot start the line editor: {e}"))?;
    let names = Arc::new(Mutex::new(Vec::new()));
    let mut catalog_names: Vec<String> = host.type_names().iter().map(|t| t.to_string()).collect();
    catalog_names.sort();
    editor.set_helper(Some(ReplHelper {
        catalog: host.catalog().clone(),
        names: names.clone(),
    }));
    let history = history_path();
    if let Some(path) = &history {
        let _ = editor.load_history(path);
    }
    println!(
        "marketplace REPL, {} transport on {} (acting as {}). `help` lists the API; Ctrl-D leaves.",
        host.transport().name(),
        host.transport().describe(),
        if host.transport().name() == "local" {
            "the system admin"
        } else {
            "the --token user"
        }
    );
    let mut session = Session::new(host);
    loop {
        match editor.readline(PROMPT) {
            Ok(line) => {
                let text = line.trim();
                if text.is_empty() {
                    continue;
                }
                let _ = editor.add_history_entry(line.as_str());
                if let Some(path) = &history {
                    save_history(&mut editor, path);
                }
                if matches!(text, "exit" | "quit" | "exit()" | "quit()") {
                    break;
                }
                let (shown, ok) = session.entry(&line);
                if let Some(shown) = shown {
                    if ok {
                        println!("{shown}");
                    } else {
                        eprintln!("{shown}");
                    }
                }
                let mut vars = session.variables();
                vars.extend(catalog_names.iter().cloned());
                match names.lock() {
                    Ok(mut n) => *n = vars,
                    Err(poisoned) => *poisoned.into_inner() = vars,
                }
            }
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(format!("cannot read input: {e}")),
        }
    }
    Ok(())
}

fn save_history(editor: &mut Editor<ReplHelper, FileHistory>, path: &std::path::Path) {
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    if let Err(e) = editor.save_history(path) {
        tracing::debug!(error = %e, path = %path.display(), "cannot save the REPL history");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_brackets_ask_for_more() {
        assert!(is_incomplete("fn f() {"));
        assert!(is_incomplete("let m = #{a: [1,"));
        assert!(is_incomplete("let s = `multi"));
        assert!(is_incomplete("/* open"));
        assert!(!is_incomplete("let x = \"{\";"));
        assert!(!is_incomplete("let x = 1; // {"));
        assert!(!is_incomplete("wallet::get()"));
        assert!(
            !is_incomplete("}"),
            "too many closers is an error, not more input"
        );
    }

    #[test]
    fn help_is_a_command() {
        assert_eq!(help_command("help"), Some(None));
        assert_eq!(
            help_command(" help wallet.transfer "),
            Some(Some("wallet.transfer"))
        );
        assert_eq!(help_command("help(\"x\")"), None);
        assert_eq!(help_command("helpme"), None);
    }

    #[test]
    fn helpers_are_named() {
        let names = helper_names();
        for n in [
            "call",
            "login",
            "as_user",
            "arg",
            "progress",
            "write_json",
            "help",
        ] {
            assert!(names.contains(&n), "{n}: {names:?}");
        }
        assert!(!names.iter().any(|n| n.contains("::")));
    }
}
