//! The runtime generated RPC code stands on: one error type, the call
//! context and access rules, the method table, param reading and schema
//! rules, secret redaction and generic CRUD.
//!
//! Generated code stays thin (declarations and registration tables); the
//! logic lives here, once.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod api;
pub mod builtin;
pub mod crud;
pub mod ctx;
pub mod error;
pub mod events;
pub mod idempotency;
mod kind;
pub mod methods;
pub mod params;
pub mod redact;

pub use api::{Api, Authenticator};
pub use ctx::{ADMIN_ROLE, Access, Caller, Ctx, Principal};
pub use error::{ErrorKind, RpcError, error_code};
pub use events::{EventBatch, EventSource};
pub use methods::{Handler, Kind, MethodDef, Methods, Ok};
pub use params::{
    FieldErrors, FromParams, ParamReader, Shape, Validate, parse_params, path, rules,
};
pub use redact::Redact;
