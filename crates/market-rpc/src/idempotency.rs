//! Idempotency keys of mutating methods (SPEC 6 and 10): the first
//! successful response is stored with the call's effect, in the same
//! transaction, and replayed byte for byte on a repeat; the same key with
//! other params is `idempotency_mismatch`.

use std::fmt::Write;
use std::sync::Mutex;

use market_store::{Db, IdempotencyReads};
use serde_json::Value;
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

use crate::error::{ErrorKind, RpcError};

/// The param every mutating method accepts.
pub const KEY_PARAM: &str = "idempotency_key";
/// Longest accepted key.
pub const MAX_KEY_LEN: usize = 255;

/// The key of one call, bound to its caller and method.
#[derive(Debug)]
pub struct IdempotencyScope {
    /// Caller, method and key joined.
    pub scope: String,
    /// Hash of the canonical params without the key.
    pub params_hash: String,
    /// The response to answer with: stored by this call, or replayed.
    pub(crate) response: Mutex<Option<Box<RawValue>>>,
}

impl IdempotencyScope {
    pub(crate) fn new(actor: &str, method: &str, key: &str, params: &Value) -> IdempotencyScope {
        IdempotencyScope {
            scope: format!("{actor}\u{1f}{method}\u{1f}{key}"),
            params_hash: params_hash(params),
            response: Mutex::new(None),
        }
    }

    pub(crate) fn set_response(&self, raw: Box<RawValue>) {
        *self.response.lock().unwrap_or_else(|p| p.into_inner()) = Some(raw);
    }

    pub(crate) fn take_response(&self) -> Option<Box<RawValue>> {
        self.response
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }

    /// The stored response for this scope, if the key was used before.
    pub(crate) fn stored<R: IdempotencyReads + ?Sized>(
        &self,
        tx: &R,
    ) -> Result<Option<Box<RawValue>>, RpcError> {
        match tx.idempotency(&self.scope)? {
            None => Ok(None),
            Some(record) if record.params_hash != self.params_hash => Err(RpcError::app(
                ErrorKind::IdempotencyMismatch,
                "this idempotency key was used with other params",
            )),
            Some(record) => RawValue::from_string(record.response)
                .map(Some)
                .map_err(|e| {
                    tracing::error!(error = %e, "stored idempotent response is not JSON");
                    RpcError::internal()
                }),
        }
    }

    /// Look the key up before running the method.
    pub(crate) fn lookup(&self, db: &Db) -> Result<Option<Box<RawValue>>, RpcError> {
        db.read(|tx| self.stored(tx))
    }
}

/// Take the key out of `params` (an object), checking its form.
pub(crate) fn take_key(params: &mut Option<Value>) -> Result<Option<String>, RpcError> {
    let Some(Value::Object(map)) = params else {
        return Ok(None);
    };
    match map.remove(KEY_PARAM) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(k)) if k.is_empty() || k.chars().count() > MAX_KEY_LEN => {
            let mut fields = std::collections::BTreeMap::new();
            fields.insert(
                KEY_PARAM.to_string(),
                format!("must be 1 to {MAX_KEY_LEN} characters"),
            );
            Err(RpcError::invalid_fields(fields))
        }
        Some(Value::String(k)) => Ok(Some(k)),
        Some(_) => Err(RpcError::invalid_params(format!(
            "param '{KEY_PARAM}' must be a string"
        ))),
    }
}

/// SHA-256 of the params written canonically (object keys sorted, no spaces).
fn params_hash(params: &Value) -> String {
    let mut text = String::new();
    canonical(params, &mut text);
    let digest = Sha256::digest(text.as_bytes());
    digest.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String((*k).clone()).to_string());
                out.push(':');
                if let Some(item) = map.get(*k) {
                    canonical(item, out);
                }
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_hash_ignores_key_order_but_not_values() {
        let a = params_hash(&json!({"a": 1, "b": {"y": [1, 2], "x": "s"}}));
        let b = params_hash(&json!({"b": {"x": "s", "y": [1, 2]}, "a": 1}));
        let c = params_hash(&json!({"b": {"x": "s", "y": [2, 1]}, "a": 1}));
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn keys_are_checked() {
        let mut p = Some(json!({"idempotency_key": "k1", "x": 1}));
        assert_eq!(take_key(&mut p).unwrap().as_deref(), Some("k1"));
        assert_eq!(p, Some(json!({"x": 1})));
        let mut p = Some(json!({"idempotency_key": "x".repeat(256)}));
        assert_eq!(take_key(&mut p).unwrap_err().kind(), Some("invalid_input"));
        let mut p = Some(json!({"idempotency_key": 5}));
        assert_eq!(take_key(&mut p).unwrap_err().code, -32602);
        let mut p = None;
        assert_eq!(take_key(&mut p).unwrap(), None);
    }
}
