//! The method table: `namespace.method` to handler, with its declared access.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;

use crate::ctx::{Access, Ctx};
use crate::error::RpcError;
use crate::params::{FromParams, parse_params};
use crate::redact::Redact;

/// A type-erased handler: params in, result out.
pub type Handler = Arc<dyn Fn(&Ctx, Option<Value>) -> Result<Value, RpcError> + Send + Sync>;

/// One callable method.
#[derive(Clone)]
pub struct MethodDef {
    pub name: &'static str,
    pub access: Access,
    /// Changes state (accepts an idempotency key).
    pub mutates: bool,
    pub handler: Handler,
}

/// Every method the server answers. Built once at start-up from the
/// generated registration functions.
#[derive(Clone, Default)]
pub struct Methods {
    map: BTreeMap<&'static str, MethodDef>,
}

impl Methods {
    pub fn new() -> Methods {
        Methods::default()
    }

    /// Register a raw handler. A second registration of a name replaces the first.
    pub fn add_raw(&mut self, def: MethodDef) {
        self.map.insert(def.name, def);
    }

    /// Register a typed handler: params are parsed into `P`, the result is
    /// serialized and stripped of secret fields.
    pub fn add<P, R, F>(&mut self, name: &'static str, access: Access, mutates: bool, f: F)
    where
        P: FromParams + 'static,
        R: Serialize + Redact + 'static,
        F: Fn(&Ctx, P) -> Result<R, RpcError> + Send + Sync + 'static,
    {
        let handler: Handler = Arc::new(move |ctx, params| {
            let p = parse_params::<P>(params)?;
            let r = f(ctx, p)?;
            let mut v = serde_json::to_value(&r).map_err(|e| {
                tracing::error!(error = %e, "cannot serialize a result");
                RpcError::internal()
            })?;
            R::redact(&mut v);
            Ok(v)
        });
        self.add_raw(MethodDef {
            name,
            access,
            mutates,
            handler,
        });
    }

    pub fn get(&self, name: &str) -> Option<&MethodDef> {
        self.map.get(name)
    }

    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.map.keys().copied()
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Look up, check access, run. The one path every call takes, whatever
    /// the transport.
    pub fn call(&self, ctx: &Ctx, params: Option<Value>) -> Result<Value, RpcError> {
        let def = self
            .get(&ctx.method)
            .ok_or_else(|| RpcError::method_not_found(&ctx.method))?;
        def.access.check(&ctx.caller)?;
        (def.handler)(ctx, params)
    }
}

/// The result of methods that return nothing else: `{"ok": true}`.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct Ok {
    pub ok: bool,
}

impl Ok {
    pub const TRUE: Ok = Ok { ok: true };
}

impl Redact for Ok {}
