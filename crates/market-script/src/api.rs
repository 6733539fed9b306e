//! The script API: `call`, one module per namespace, identity, arguments,
//! progress, files and help, registered on a hardened engine.
//!
//! The namespace modules come from the [`Catalog`] at run time: every
//! method of the connected API is `ns::method(#{...})` (and `ns::method()`
//! without params), so a method added to the schema needs no binding here.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use rhai::{Dynamic, Engine, EvalAltResult, FnPtr, Module, NativeCallContext, Token};
use serde_json::Value;

use crate::catalog::Catalog;
use crate::error::{rpc_error, script_error};
use crate::progress::Console;
use crate::transport::Transport;
use crate::value::{to_dynamic, to_json};

/// The name `call` is rewritten to when it is not a method of a value
/// (Rhai reserves `call` for function pointers).
const CALL: &str = "rpc_call";

/// Environment variables scripts never see.
/// Scripts see only `MARKETPLACE_*` variables, and none whose name hints
/// at a secret or at a connection string (which may carry a password).
const ENV_PREFIX: &str = "MARKETPLACE_";
const SECRET_HINTS: &[&str] = &[
    "SECRET",
    "KEY",
    "TOKEN",
    "PASS",
    "CREDENTIAL",
    "AUTH",
    "DB",
    "URL",
    "DSN",
    "SEED",
];

/// What the API functions of one engine share.
pub struct Session {
    pub transport: Transport,
    pub catalog: Catalog,
    pub console: Console,
    /// `--set` values.
    pub args: BTreeMap<String, Dynamic>,
    /// Where `write_json` may create files; `None` disables it.
    pub files_dir: Option<PathBuf>,
}

type Result<T> = std::result::Result<T, Box<EvalAltResult>>;

impl Session {
    /// Call `method` with `params` (an object map, a schema type, or `()`).
    pub fn call(&self, method: &str, params: &Dynamic) -> Result<Dynamic> {
        let params = if params.is_unit() {
            Value::Object(serde_json::Map::new())
        } else {
            match to_json(params) {
                Ok(v @ Value::Object(_)) => v,
                Ok(_) => {
                    return Err(script_error(format!(
                        "{method}: params must be an object map like #{{id: \"...\"}}, not a {}",
                        params.type_name()
                    )));
                }
                Err(e) => return Err(script_error(format!("{method}: params: {e}"))),
            }
        };
        self.transport
            .call(method, params)
            .map(to_dynamic)
            .map_err(|e| rpc_error(method, &e))
    }
}

/// Register the whole API on `engine`.
pub fn register(engine: &mut Engine, session: &Arc<Session>) {
    install_call_keyword(engine);
    register_call(engine, session);
    register_namespaces(engine, session);
    register_helpers(engine, session);
    let s = session.clone();
    engine.on_print(move |text| s.console.print(text));
    let s = session.clone();
    engine.on_debug(move |text, source, pos| {
        let text = match (source, pos.line()) {
            (Some(source), Some(line)) => format!("{source}:{line}: {text}"),
            (None, Some(line)) => format!("line {line}: {text}"),
            _ => text.to_string(),
        };
        s.console.debug(&text)
    });
}

thread_local! {
    /// Whether the previous token was `.`, `?.` or `::` (then `call` is a
    /// method or a module function, and stays as it is).
    static AFTER_ACCESS: Cell<bool> = const { Cell::new(false) };
}

/// Forget the previous token: called before each compilation, so that a
/// script that failed to compile after a `.` leaves nothing behind.
pub(crate) fn reset_tokens() {
    AFTER_ACCESS.with(|c| c.set(false));
}

/// Rhai reserves `call(fn_ptr, ...)`; scripts also need `call("ns.method",
/// params)`. The tokenizer rewrites a free-standing `call` to
/// [`CALL`], which handles both; `f.call(x)` is left alone. The reserved
/// word `module` becomes a plain name, for `module::list(...)`.
#[allow(deprecated)]
fn install_call_keyword(engine: &mut Engine) {
    engine.on_parse_token(|token, _pos, _state| {
        let after_access = AFTER_ACCESS.with(|c| {
            c.replace(matches!(
                token,
                Token::Period | Token::Elvis | Token::DoubleColon
            ))
        });
        match token {
            Token::Identifier(s) | Token::Reserved(s) if s.as_str() == "call" && !after_access => {
                Token::Identifier(Box::new(CALL.into()))
            }
            // Rhai reserves `module`; it is also the module catalog's namespace.
            Token::Reserved(s) if s.as_str() == "module" => Token::Identifier(s),
            other => other,
        }
    });
}

/// Point an error raised by a native function at the call in the script.
fn at<T>(ctx: &NativeCallContext, result: Result<T>) -> Result<T> {
    result.map_err(|mut e| {
        if e.position().is_none() {
            e.set_position(ctx.call_position());
        }
        e
    })
}

fn register_call(engine: &mut Engine, session: &Arc<Session>) {
    let s = session.clone();
    engine.register_fn(CALL, move |ctx: NativeCallContext, method: &str| {
        at(&ctx, s.call(method, &Dynamic::UNIT))
    });
    let s = session.clone();
    engine.register_fn(
        CALL,
        move |ctx: NativeCallContext, method: &str, params: Dynamic| {
            at(&ctx, s.call(method, &params))
        },
    );
    // `call(fn_ptr, args...)`, as in plain Rhai.
    engine.register_fn(CALL, |ctx: NativeCallContext, f: FnPtr| {
        f.call_raw(&ctx, None, [])
    });
    engine.register_fn(CALL, |ctx: NativeCallContext, f: FnPtr, a: Dynamic| {
        f.call_raw(&ctx, None, [a])
    });
    engine.register_fn(
        CALL,
        |ctx: NativeCallContext, f: FnPtr, a: Dynamic, b: Dynamic| f.call_raw(&ctx, None, [a, b]),
    );
    engine.register_fn(
        CALL,
        |ctx: NativeCallContext, f: FnPtr, a: Dynamic, b: Dynamic, c: Dynamic| {
            f.call_raw(&ctx, None, [a, b, c])
        },
    );
}

fn register_namespaces(engine: &mut Engine, session: &Arc<Session>) {
    for ns in session.catalog.namespaces() {
        let mut module = Module::new();
        for m in session.catalog.methods_of(ns) {
            let name: Arc<str> = m.name.as_str().into();
            let (s, method) = (session.clone(), name.clone());
            module.set_native_fn(m.function.as_str(), move |ctx: NativeCallContext| {
                at(&ctx, s.call(&method, &Dynamic::UNIT))
            });
            let (s, method) = (session.clone(), name);
            module.set_native_fn(
                m.function.as_str(),
                move |ctx: NativeCallContext, params: Dynamic| at(&ctx, s.call(&method, &params)),
            );
        }
        engine.register_static_module(ns, module.into());
    }
}

fn register_helpers(engine: &mut Engine, session: &Arc<Session>) {
    let s = session.clone();
    engine.register_fn("login", move |email: &str, password: &str| {
        s.transport
            .login(email, password)
            .map(|mut r| to_dynamic(r["user"].take()))
            .map_err(|e| rpc_error("auth.login", &e))
    });
    let s = session.clone();
    engine.register_fn("as_user", move |email: &str| {
        s.transport
            .as_user(email)
            .map(to_dynamic)
            .map_err(|e| rpc_error("as_user", &e))
    });
    let s = session.clone();
    engine.register_fn("as_operator", move || s.transport.reset_identity());
    let s = session.clone();
    engine.register_fn(
        "batch",
        move |ctx: NativeCallContext, f: FnPtr| -> Result<Dynamic> {
            s.transport
                .batch(|| f.call_raw(&ctx, None, []))
                .map_err(|e| match e {
                    crate::transport::BatchError::Inner(e) => e,
                    crate::transport::BatchError::Store(e) => script_error(format!("batch: {e}")),
                })
        },
    );
    let s = session.clone();
    engine.register_fn("whoami", move || {
        s.transport
            .whoami()
            .map(to_dynamic)
            .map_err(|e| rpc_error("whoami", &e))
    });
    let s = session.clone();
    engine.register_fn("arg", move |name: &str| -> Result<Dynamic> {
        s.args.get(name).cloned().ok_or_else(|| {
            script_error(format!(
                "this script needs a value for '{name}': pass --set {name}=..."
            ))
        })
    });
    let s = session.clone();
    engine.register_fn("arg", move |name: &str, default: Dynamic| {
        s.args.get(name).cloned().unwrap_or(default)
    });
    engine.register_fn("env", |name: &str| {
        env_value(name, |n| std::env::var(n).ok()).map_or(Dynamic::UNIT, Dynamic::from)
    });
    let s = session.clone();
    engine.register_fn(
        "progress",
        move |current: i64, total: i64, message: &str| {
            s.console.progress(count(current), count(total), message)
        },
    );
    let s = session.clone();
    engine.register_fn("progress", move |current: i64, total: i64| {
        s.console.progress(count(current), count(total), "")
    });
    let s = session.clone();
    engine.register_fn("write_json", move |path: &str, value: Dynamic| {
        write_json(s.files_dir.as_deref(), path, &value)
    });
    let s = session.clone();
    engine.register_fn("has_method", move |name: &str| {
        s.catalog.method(&name.replacen("::", ".", 1)).is_some()
    });
    // Also for maps and arrays, in front of Rhai's own `to_json` (which
    // knows neither decimals nor schema types).
    engine.register_fn("to_json", |value: Dynamic| json_text(&value));
    engine.register_fn("to_json", |value: rhai::Map| json_text(&value.into()));
    engine.register_fn("to_json", |value: rhai::Array| json_text(&value.into()));
    let s = session.clone();
    engine.register_fn("help", move || s.catalog.help(None));
    let s = session.clone();
    engine.register_fn("help", move |topic: &str| s.catalog.help(Some(topic)));
}

fn json_text(value: &Dynamic) -> Result<String> {
    let v = to_json(value).map_err(script_error)?;
    serde_json::to_string_pretty(&v).map_err(|e| script_error(e.to_string()))
}

/// An environment variable as scripts see it: only the allowed ones.
fn env_value(name: &str, get: impl Fn(&str) -> Option<String>) -> Option<String> {
    let rest = name.strip_prefix(ENV_PREFIX)?;
    let upper = rest.to_ascii_uppercase();
    if SECRET_HINTS.iter().any(|hint| upper.contains(hint)) {
        return None;
    }
    get(name)
}

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// `write_json(path, value)`: a new file below `base`, never outside it
/// (no absolute paths, no `..`, no following links out), never over an
/// existing file. Returns the path written.
fn write_json(base: Option<&Path>, path: &str, value: &Dynamic) -> Result<String> {
    let base = base.ok_or_else(|| script_error("write_json is not available here"))?;
    let relative = Path::new(path);
    let plain = relative
        .components()
        .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
    if path.is_empty() || !plain {
        return Err(script_error(format!(
            "write_json: '{path}' must be a relative path below the current folder, without '..'"
        )));
    }
    let target = base.join(relative);
    let parent = target.parent().unwrap_or(base);
    let inside = match (parent.canonicalize(), base.canonicalize()) {
        (Ok(parent), Ok(base)) => parent.starts_with(&base),
        (Err(e), _) | (_, Err(e)) => {
            return Err(script_error(format!(
                "write_json: cannot write '{path}': {e}"
            )));
        }
    };
    if !inside {
        return Err(script_error(format!(
            "write_json: '{path}' leads outside the current folder"
        )));
    }
    let json = to_json(value).map_err(|e| script_error(format!("write_json: {e}")))?;
    let mut text = serde_json::to_string_pretty(&json)
        .map_err(|e| script_error(format!("write_json: {e}")))?;
    text.push('\n');
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&target)
        .map_err(|e| script_error(format!("write_json: cannot create '{path}': {e}")))?;
    std::io::Write::write_all(&mut file, text.as_bytes())
        .map_err(|e| script_error(format!("write_json: cannot write '{path}': {e}")))?;
    Ok(path.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_see_only_marketplace_variables_without_secrets() {
        let all = |_: &str| Some("value".to_string());
        for hidden in [
            "MARKETPLACE_SECRET_KEY",
            "MARKETPLACE_DB",
            "MARKETPLACE_NODE_KEY",
            "MARKETPLACE_EMBED_URL",
            "ADMIN_SEED_USERS",
            "DATABASE_URL",
            "HOME",
            "PATH",
        ] {
            assert_eq!(env_value(hidden, all), None, "{hidden}");
        }
        assert_eq!(
            env_value("MARKETPLACE_TFC_USD_RATE", all).as_deref(),
            Some("value")
        );
        assert_eq!(
            env_value("MARKETPLACE_LISTEN", all).as_deref(),
            Some("value")
        );
    }

    #[test]
    fn write_json_stays_below_its_folder() {
        let dir = tempfile::tempdir().unwrap();
        let v = Dynamic::from_int(1);
        for bad in ["/etc/x.json", "../x.json", "a/../../x.json", ""] {
            assert!(write_json(Some(dir.path()), bad, &v).is_err(), "{bad}");
        }
        assert!(write_json(Some(dir.path()), "missing/x.json", &v).is_err());
        assert_eq!(
            write_json(Some(dir.path()), "x.json", &v).unwrap(),
            "x.json"
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("x.json")).unwrap(),
            "1\n"
        );
        let again = write_json(Some(dir.path()), "x.json", &v).unwrap_err();
        assert!(again.to_string().contains("cannot create"), "{again}");
        assert!(write_json(None, "y.json", &v).is_err());
    }
}
