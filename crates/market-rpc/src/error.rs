//! The one error type of the RPC layer and its wire form.

use std::collections::BTreeMap;

use market_store::StoreError;
use serde_json::{Value, json};

pub use crate::kind::{ErrorKind, error_code};

pub const PARSE_ERROR: i32 = -32700;
pub const INVALID_REQUEST: i32 = -32600;
pub const METHOD_NOT_FOUND: i32 = -32601;
pub const INVALID_PARAMS: i32 = -32602;
pub const INTERNAL_ERROR: i32 = -32603;

/// A JSON-RPC error: a protocol error (negative code) or an application
/// error (a code and `data.kind` from [`ErrorKind`]).
#[derive(Debug, Clone, PartialEq)]
pub struct RpcError {
    pub code: i32,
    pub message: String,
    pub data: Option<Value>,
}

impl RpcError {
    fn protocol(code: i32, message: impl Into<String>) -> RpcError {
        RpcError {
            code,
            message: message.into(),
            data: None,
        }
    }

    pub fn parse_error(detail: impl std::fmt::Display) -> RpcError {
        RpcError::protocol(PARSE_ERROR, format!("parse error: {detail}"))
    }

    pub fn invalid_request(detail: impl Into<String>) -> RpcError {
        RpcError::protocol(INVALID_REQUEST, detail)
    }

    pub fn method_not_found(method: &str) -> RpcError {
        RpcError::protocol(METHOD_NOT_FOUND, format!("method '{method}' not found"))
    }

    pub fn invalid_params(detail: impl Into<String>) -> RpcError {
        RpcError::protocol(INVALID_PARAMS, detail)
    }

    /// An internal failure: logged with the request id by the caller, never
    /// described on the wire.
    pub fn internal() -> RpcError {
        RpcError::protocol(INTERNAL_ERROR, "internal error")
    }

    /// An application error of `kind`.
    pub fn app(kind: ErrorKind, message: impl Into<String>) -> RpcError {
        RpcError {
            code: kind.code(),
            message: message.into(),
            data: Some(json!({ "kind": kind.name() })),
        }
    }

    pub fn invalid_input(message: impl Into<String>) -> RpcError {
        RpcError::app(ErrorKind::InvalidInput, message)
    }

    /// `invalid_input` naming the fields at fault and why.
    pub fn invalid_fields(fields: BTreeMap<String, String>) -> RpcError {
        let names: Vec<&str> = fields.keys().map(String::as_str).collect();
        let message = format!("invalid value for {}", names.join(", "));
        RpcError::invalid_input(message).with_data("fields", json!(fields))
    }

    pub fn not_found(message: impl Into<String>) -> RpcError {
        RpcError::app(ErrorKind::NotFound, message)
    }

    pub fn conflict(message: impl Into<String>) -> RpcError {
        RpcError::app(ErrorKind::Conflict, message)
    }

    pub fn forbidden(message: impl Into<String>) -> RpcError {
        RpcError::app(ErrorKind::Forbidden, message)
    }

    pub fn unauthenticated(message: impl Into<String>) -> RpcError {
        RpcError::app(ErrorKind::Unauthenticated, message)
    }

    pub fn invalid_state(message: impl Into<String>) -> RpcError {
        RpcError::app(ErrorKind::InvalidState, message)
    }

    /// Add a key to `data` (which becomes an object if it was absent).
    pub fn with_data(mut self, key: &str, value: Value) -> RpcError {
        let mut data = match self.data.take() {
            Some(Value::Object(m)) => m,
            _ => serde_json::Map::new(),
        };
        data.insert(key.to_string(), value);
        self.data = Some(Value::Object(data));
        self
    }

    /// The application kind, if this is an application error.
    pub fn kind(&self) -> Option<&str> {
        self.data.as_ref()?.get("kind")?.as_str()
    }

    pub fn is_internal(&self) -> bool {
        self.code == INTERNAL_ERROR
    }

    /// The JSON-RPC `error` member.
    pub fn to_json(&self) -> Value {
        let mut obj = json!({ "code": self.code, "message": self.message });
        if let (Some(data), Value::Object(m)) = (&self.data, &mut obj) {
            m.insert("data".into(), data.clone());
        }
        obj
    }
}

impl std::fmt::Display for RpcError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}

impl std::error::Error for RpcError {}

impl From<StoreError> for RpcError {
    fn from(e: StoreError) -> RpcError {
        match e {
            StoreError::NotFound { kind, .. } => RpcError::not_found(format!("{kind} not found")),
            StoreError::StaleVersion {
                kind,
                expected,
                actual,
                ..
            } => RpcError::conflict(format!(
                "{kind} changed: it is at version {actual}, not {expected}"
            ))
            .with_data("current_version", json!(actual)),
            StoreError::UniqueTaken { kind, field, .. } => {
                RpcError::conflict(format!("{kind} with this {field} already exists"))
                    .with_data("field", json!(field))
            }
            StoreError::BadCursor => RpcError::invalid_fields(BTreeMap::from([(
                "cursor".to_string(),
                "not a cursor returned by this list".to_string(),
            )])),
            StoreError::NoIndex { field, .. } => RpcError::invalid_fields(BTreeMap::from([(
                "field".to_string(),
                format!("'{field}' is not an indexed field"),
            )])),
            other => {
                tracing::error!(error = %other, "storage failure");
                RpcError::internal()
            }
        }
    }
}
