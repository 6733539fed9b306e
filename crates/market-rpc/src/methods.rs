//! The method table: `namespace.method` to handler, with its declared access.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;
use serde_json::value::RawValue;

use market_store::Db;

use crate::ctx::{Access, Ctx};
use crate::error::RpcError;
use crate::idempotency::{IdempotencyScope, take_key};
use crate::params::{FromParams, parse_params};
use crate::redact::Redact;

/// A type-erased handler: params in, serialized result out.
pub type Handler =
    Arc<dyn Fn(&Ctx, Option<Value>) -> Result<Box<RawValue>, RpcError> + Send + Sync>;

/// What a method does with the store, which decides where a server runs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Changes state: accepts an idempotency key; its answer waits for the disk.
    Write,
    /// Reads: lists, searches, reports, work that grows with the data.
    Read,
    /// Reads one record by the one id it takes: short enough to answer on
    /// the thread that received the request.
    Lookup,
}

/// One callable method.
#[derive(Clone)]
pub struct MethodDef {
    pub name: &'static str,
    pub access: Access,
    pub kind: Kind,
    pub handler: Handler,
}

impl MethodDef {
    /// Changes state (accepts an idempotency key).
    pub fn mutates(&self) -> bool {
        self.kind == Kind::Write
    }
}

/// Every method the server answers. Built once at start-up from the
/// generated registration functions.
#[derive(Clone, Default)]
pub struct Methods {
    map: BTreeMap<&'static str, MethodDef>,
    /// Where idempotency records live; without it keys are refused.
    idempotency_db: Option<Arc<Db>>,
}

impl Methods {
    pub fn new() -> Methods {
        Methods::default()
    }

    /// Keep idempotency records in `db` (the database the handlers write).
    pub fn with_idempotency(mut self, db: Arc<Db>) -> Methods {
        self.idempotency_db = Some(db);
        self
    }

    /// Register a raw handler. A second registration of a name replaces the first.
    pub fn add_raw(&mut self, def: MethodDef) {
        self.map.insert(def.name, def);
    }

    /// Register a typed handler: params are parsed into `P`, the result is
    /// serialized and stripped of secret fields.
    pub fn add<P, R, F>(&mut self, name: &'static str, access: Access, kind: Kind, f: F)
    where
        P: FromParams + 'static,
        R: Serialize + Redact + 'static,
        F: Fn(&Ctx, P) -> Result<R, RpcError> + Send + Sync + 'static,
    {
        let handler: Handler = Arc::new(move |ctx, params| {
            let p = parse_params::<P>(params)?;
            let r = f(ctx, p)?;
            to_raw(&r)
        });
        self.add_raw(MethodDef {
            name,
            access,
            kind,
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
    pub fn call(&self, ctx: &Ctx, mut params: Option<Value>) -> Result<Box<RawValue>, RpcError> {
        let def = self
            .get(&ctx.method)
            .ok_or_else(|| RpcError::method_not_found(&ctx.method))?;
        def.access.check(&ctx.caller)?;
        // Public methods take no key: there is no caller to bind it to.
        if !def.mutates() || def.access == Access::Public {
            return (def.handler)(ctx, params);
        }
        let Some(key) = take_key(&mut params)? else {
            return (def.handler)(ctx, params);
        };
        let db = self.idempotency_db.as_ref().ok_or_else(|| {
            tracing::error!("idempotency key given, but no idempotency store is configured");
            RpcError::internal()
        })?;
        let empty = Value::Object(serde_json::Map::new());
        let scope = Arc::new(IdempotencyScope::new(
            &ctx.actor().actor_id,
            &ctx.method,
            &key,
            params.as_ref().unwrap_or(&empty),
        ));
        if let Some(first) = scope.lookup(db)? {
            return Ok(first);
        }
        let mut keyed = ctx.clone();
        keyed.idempotency = Some(scope.clone());
        let result = (def.handler)(&keyed, params);
        match (scope.take_response(), result) {
            (Some(stored), _) => Ok(stored),
            (None, Err(e)) => Err(e),
            (None, Ok(_)) => {
                tracing::error!(method = %ctx.method, "a mutating method did not write through Ctx::write; its idempotency key was not stored");
                Err(RpcError::internal())
            }
        }
    }
}

/// Serialize a result for the wire: straight to text, or through a JSON
/// value to strip secret fields when the type holds any.
pub fn to_raw<R: Serialize + Redact>(r: &R) -> Result<Box<RawValue>, RpcError> {
    // `to_raw_value` keeps the text it wrote without parsing it again.
    let raw = if R::HAS_SECRETS {
        serde_json::to_value(r).and_then(|mut v| {
            R::redact(&mut v);
            serde_json::value::to_raw_value(&v)
        })
    } else {
        serde_json::value::to_raw_value(r)
    };
    raw.map_err(|e| {
        tracing::error!(error = %e, "cannot serialize a result");
        RpcError::internal()
    })
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
