//! Errors scripts catch and errors operators read.
//!
//! A failed RPC call throws an object map a script can catch:
//!
//! ```text
//! #{ code: 4040, kind: "not_found", message: "user not found",
//!    method: "user.get", data: #{ kind: "not_found" } }
//! ```
//!
//! `code` and `message` are always there; `kind` and `data` are `()` for
//! protocol errors (negative codes); `data.fields` names the fields at fault
//! of an `invalid_input`. `validate()` on a schema type throws the same shape.
//!
//! A script that fails is reported as `file:line:col: message`
//! ([`ScriptError`]), the position being where the error was raised.

use std::fmt;

use market_rpc::RpcError;
use rhai::{Dynamic, EvalAltResult, Map, Position};
use serde_json::Value;

use crate::sandbox::Limits;
use crate::value::{to_dynamic, to_json};

/// The code of errors raised on the client side: the server could not be
/// reached or its answer was not JSON-RPC.
pub const TRANSPORT_ERROR: i32 = -32000;

/// The error of a failed call, as the value a script catches.
pub fn rpc_error(method: &str, e: &RpcError) -> Box<EvalAltResult> {
    let mut map = Map::new();
    map.insert("code".into(), Dynamic::from_int(i64::from(e.code)));
    map.insert("message".into(), e.message.clone().into());
    map.insert(
        "kind".into(),
        e.kind().map_or(Dynamic::UNIT, |k| k.to_string().into()),
    );
    map.insert("method".into(), method.to_string().into());
    map.insert(
        "data".into(),
        e.data.clone().map_or(Dynamic::UNIT, to_dynamic),
    );
    Box::new(EvalAltResult::ErrorRuntime(map.into(), Position::NONE))
}

/// A plain error message thrown from a native function.
pub fn script_error(message: impl Into<String>) -> Box<EvalAltResult> {
    Box::new(EvalAltResult::ErrorRuntime(
        message.into().into(),
        Position::NONE,
    ))
}

/// A script that failed: where and why.
#[derive(Debug, Clone, PartialEq)]
pub struct ScriptError {
    /// The script's name (its file, or `<stdin>`, `<repl>`).
    pub source: String,
    /// 1-based line and column of the failure, when known.
    pub line: Option<usize>,
    pub col: Option<usize>,
    pub message: String,
    /// What the script threw (an RPC error map, a string, ...), as JSON.
    pub thrown: Option<Value>,
}

impl fmt::Display for ScriptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.col) {
            (Some(line), Some(col)) => {
                write!(f, "{}:{line}:{col}: {}", self.source, self.message)
            }
            (Some(line), None) => write!(f, "{}:{line}: {}", self.source, self.message),
            _ => write!(f, "{}: {}", self.source, self.message),
        }
    }
}

impl std::error::Error for ScriptError {}

impl ScriptError {
    /// Describe a Rhai error of the script `source` for an operator.
    pub fn new(source: &str, err: EvalAltResult, limits: &Limits) -> ScriptError {
        let mut calls = Vec::new();
        let mut err = err;
        // The error raised inside functions is the one to show; the call
        // sites are context.
        loop {
            match err {
                EvalAltResult::ErrorInFunctionCall(name, _, inner, pos) => {
                    calls.push((name, pos));
                    err = *inner;
                }
                EvalAltResult::ErrorInModule(name, inner, pos) => {
                    calls.push((name, pos));
                    err = *inner;
                }
                other => {
                    err = other;
                    break;
                }
            }
        }
        let mut pos = err.take_position();
        if pos.is_none()
            && let Some((_, call_pos)) = calls.last()
        {
            pos = *call_pos;
        }
        let (mut message, thrown) = message(err, limits);
        if let Some((name, call_pos)) = calls.first()
            && let Some(line) = call_pos.line()
        {
            message.push_str(&format!(" (in {name}, called at line {line})"));
        }
        ScriptError {
            source: source.to_string(),
            line: pos.line(),
            col: pos.position(),
            message: message.replace("rpc_call", "call"),
            thrown,
        }
    }

    /// The line of `text` the error points at, and a caret under its column.
    pub fn caret(&self, text: &str) -> Option<String> {
        let line = text.lines().nth(self.line?.checked_sub(1)?)?;
        let col = self.col.unwrap_or(1).max(1);
        let pad: String = line
            .chars()
            .take(col - 1)
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        Some(format!("{line}\n{pad}^"))
    }
}

/// The message of one (innermost) error, and the value the script threw.
fn message(err: EvalAltResult, limits: &Limits) -> (String, Option<Value>) {
    match err {
        EvalAltResult::ErrorRuntime(value, _) => {
            let thrown = to_json(&value).ok();
            (describe_thrown(&value), thrown)
        }
        EvalAltResult::ErrorTerminated(value, _) => (value.to_string(), None),
        EvalAltResult::ErrorTooManyOperations(_) => (
            format!(
                "script stopped: it ran more than {} operations (the operation limit)",
                limits.max_operations
            ),
            None,
        ),
        EvalAltResult::ErrorStackOverflow(_) => (
            format!(
                "script stopped: function calls nested deeper than {} levels (the call depth limit)",
                limits.max_call_levels
            ),
            None,
        ),
        EvalAltResult::ErrorDataTooLarge(what, _) => {
            let (what, max) = if what.starts_with("Length of string") {
                ("a string", limits.max_string_size)
            } else if what.starts_with("Size of array") || what.starts_with("Size of BLOB") {
                ("an array", limits.max_array_size)
            } else if what.starts_with("Size of object map") {
                ("an object map", limits.max_map_size)
            } else {
                return (format!("script stopped: {what} is too large"), None);
            };
            (
                format!("script stopped: {what} grew beyond the limit of {max}"),
                None,
            )
        }
        other => (other.to_string(), None),
    }
}

/// What a thrown value says: an RPC error map as `method: message (kind code)`
/// with the fields at fault, anything else as text.
pub fn describe_thrown(value: &Dynamic) -> String {
    let Some(map) = value.read_lock::<Map>() else {
        return value.to_string();
    };
    let (Some(code), Some(message)) = (map.get("code"), map.get("message")) else {
        return value.to_string();
    };
    let mut out = String::new();
    if let Some(method) = map.get("method").filter(|m| m.is_string()) {
        out.push_str(&format!("{method}: "));
    }
    out.push_str(&message.to_string());
    match map.get("kind").filter(|k| k.is_string()) {
        Some(kind) => out.push_str(&format!(" ({kind} {code})")),
        None => out.push_str(&format!(" ({code})")),
    }
    let fields = map
        .get("data")
        .and_then(|d| d.read_lock::<Map>().and_then(|d| d.get("fields").cloned()));
    if let Some(fields) = fields.as_ref().and_then(|f| f.read_lock::<Map>()) {
        let parts: Vec<String> = fields.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        if !parts.is_empty() {
            out.push_str(&format!(" [{}]", parts.join("; ")));
        }
    }
    out
}
