//! The two ways a script reaches the marketplace, behind one API.
//!
//! - **Local** (`--db`): the business layer runs in this process on the
//!   database, through the same method table the server uses
//!   ([`market_rpc::Methods::call`]: access rules, params, validation,
//!   idempotency, audit). Scripts start as the system operator, an admin.
//! - **Remote** (`--url`, `--token`): JSON-RPC 2.0 POSTs to a server with a
//!   blocking HTTP client (safe inside or outside a tokio runtime). Scripts
//!   start as the token's user, or anonymous without a token.
//!
//! Either way a call is `method` + params in, the JSON result or the
//! JSON-RPC error out; nothing is implemented twice.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use market_core::{App, User, UserStatus};
use market_rpc::{Caller, Ctx, Methods, RpcError};
use market_store::Id;
use serde_json::{Value, json};

use crate::error::TRANSPORT_ERROR;

/// Answers above this size are refused (remote transport).
const MAX_RESPONSE_BYTES: u64 = 256 * 1024 * 1024;

/// How long one remote call may take.
const REMOTE_TIMEOUT: Duration = Duration::from_secs(300);

/// Who the next call is made as.
#[derive(Debug, Clone, PartialEq)]
enum Identity {
    /// The operator on the database: passes every access rule.
    System,
    Anonymous,
    /// A user chosen with `as_user` (local): checked again on every call.
    User(Id),
    /// A bearer token (from `--token` or `login`).
    Token(String),
}

enum Kind {
    Local {
        app: Arc<App>,
        methods: Methods,
    },
    Remote {
        url: String,
        agent: ureq::Agent,
        next_id: AtomicU64,
    },
}

/// A connection to the marketplace API with the identity calls are made as.
pub struct Transport {
    kind: Kind,
    initial: Identity,
    identity: RwLock<Identity>,
}

impl Transport {
    /// The business layer `app`, called in-process as the system operator.
    pub fn local(app: Arc<App>) -> Transport {
        let methods = app.api().methods;
        Transport {
            kind: Kind::Local { app, methods },
            initial: Identity::System,
            identity: RwLock::new(Identity::System),
        }
    }

    /// A server's JSON-RPC endpoint (`http://host:port/rpc`), called with
    /// `token` as the bearer token when given.
    pub fn remote(url: &str, token: Option<String>) -> Transport {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(REMOTE_TIMEOUT))
            .build()
            .into();
        let initial = match token.filter(|t| !t.is_empty()) {
            Some(t) => Identity::Token(t),
            None => Identity::Anonymous,
        };
        Transport {
            kind: Kind::Remote {
                url: url.to_string(),
                agent,
                next_id: AtomicU64::new(1),
            },
            identity: RwLock::new(initial.clone()),
            initial,
        }
    }

    /// `local` or `remote`.
    pub fn name(&self) -> &'static str {
        match self.kind {
            Kind::Local { .. } => "local",
            Kind::Remote { .. } => "remote",
        }
    }

    /// Where calls go: the database or the server's URL.
    pub fn describe(&self) -> String {
        match &self.kind {
            Kind::Local { app, .. } => app.db().describe(),
            Kind::Remote { url, .. } => url.clone(),
        }
    }

    /// The API's OpenRPC document: the built-in one locally, the server's
    /// (`rpc.discover`) remotely, falling back to the built-in one.
    pub fn openrpc(&self) -> Value {
        match &self.kind {
            Kind::Local { .. } => market_core::openrpc(),
            Kind::Remote { .. } => match self.call("rpc.discover", json!({})) {
                Ok(doc) if doc.get("methods").is_some() => doc,
                _ => market_core::openrpc(),
            },
        }
    }

    fn identity(&self) -> Identity {
        match self.identity.read() {
            Ok(i) => i.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn set_identity(&self, identity: Identity) {
        match self.identity.write() {
            Ok(mut i) => *i = identity,
            Err(poisoned) => *poisoned.into_inner() = identity,
        }
    }

    /// Run `f` as one batch: locally its writes share one transaction,
    /// kept together or not at all; remotely each call stands alone.
    pub fn batch<T, E>(&self, f: impl FnOnce() -> Result<T, E>) -> Result<T, BatchError<E>> {
        match &self.kind {
            Kind::Local { app, .. } => app.db().batch(|| f().map_err(BatchError::Inner)),
            Kind::Remote { .. } => f().map_err(BatchError::Inner),
        }
    }

    /// Call `method` with named `params` as the current identity.
    pub fn call(&self, method: &str, params: Value) -> Result<Value, RpcError> {
        match &self.kind {
            Kind::Local { app, methods } => {
                if method == "rpc.discover" {
                    return Ok(market_core::openrpc());
                }
                let caller = self.local_caller(app)?;
                let ctx = Ctx::new(app.db().new_id().to_string(), method, caller);
                let raw = methods.call(&ctx, Some(params))?;
                serde_json::from_str(raw.get()).map_err(|e| {
                    tracing::error!(error = %e, method, "a result is not JSON");
                    RpcError::internal()
                })
            }
            Kind::Remote {
                url,
                agent,
                next_id,
            } => {
                let token = match self.identity() {
                    Identity::Token(t) => Some(t),
                    _ => None,
                };
                let id = next_id.fetch_add(1, Ordering::Relaxed);
                post(agent, url, token.as_deref(), id, method, params)
            }
        }
    }

    /// The caller of a local call, resolved again each time so that a
    /// suspension or a role change takes effect at once, as on a server.
    fn local_caller(&self, app: &App) -> Result<Caller, RpcError> {
        match self.identity() {
            Identity::System => Ok(Caller::System),
            Identity::Anonymous => Ok(Caller::Anonymous),
            Identity::Token(token) => app.authenticate(Some(&token)),
            Identity::User(id) => app.act_as(id),
        }
    }

    /// Sign in with `auth.login` and make the following calls as that user.
    /// Returns the `auth.login` result (`{user, token, expires_at}`).
    pub fn login(&self, email: &str, password: &str) -> Result<Value, RpcError> {
        let result = self.call(
            "auth.login",
            json!({ "email": email, "password": password }),
        )?;
        let token = result["token"]
            .as_str()
            .ok_or_else(|| RpcError::invalid_request("auth.login answered without a token"))?;
        self.set_identity(Identity::Token(token.to_string()));
        Ok(result)
    }

    /// Act as the user with this email (local transport only). Returns the user.
    pub fn as_user(&self, email: &str) -> Result<Value, RpcError> {
        let Kind::Local { app, .. } = &self.kind else {
            return Err(RpcError::forbidden(
                "as_user works on the database (--db) only; use login(email, password) with a server",
            ));
        };
        let user = app
            .db()
            .read(|tx| User::by_email(tx, &market_core::normalize_email(email)))?
            .filter(|u| u.status != UserStatus::Deleted)
            .ok_or_else(|| RpcError::not_found(format!("no user with email {}", email.trim())))?;
        app.act_as(user.id)?;
        self.set_identity(Identity::User(user.id));
        let raw = market_rpc::methods::to_raw(&user)?;
        serde_json::from_str(raw.get()).map_err(|_| RpcError::internal())
    }

    /// Act as the identity the transport started with again.
    pub fn reset_identity(&self) {
        self.set_identity(self.initial.clone());
    }

    /// Who calls: `{transport, kind: "system" | "anonymous" | "user", ...}`,
    /// with the user's fields for a user.
    pub fn whoami(&self) -> Result<Value, RpcError> {
        let kind = match self.identity() {
            Identity::System => "system",
            Identity::Anonymous => "anonymous",
            Identity::User(_) | Identity::Token(_) => "user",
        };
        let mut out = if kind == "user" {
            self.call("auth.me", json!({}))?
        } else {
            json!({})
        };
        if let Value::Object(m) = &mut out {
            m.insert("transport".into(), json!(self.name()));
            m.insert("kind".into(), json!(kind));
            m.insert(
                "admin".into(),
                json!(kind == "system" || m.get("roles").is_some_and(is_admin)),
            );
        }
        Ok(out)
    }
}

fn is_admin(roles: &Value) -> bool {
    roles
        .as_array()
        .is_some_and(|r| r.iter().any(|r| r == market_rpc::ADMIN_ROLE))
}

fn transport_error(message: String) -> RpcError {
    RpcError {
        code: TRANSPORT_ERROR,
        message,
        data: Some(json!({ "kind": "transport" })),
    }
}

/// One JSON-RPC request over HTTP.
fn post(
    agent: &ureq::Agent,
    url: &str,
    token: Option<&str>,
    id: u64,
    method: &str,
    params: Value,
) -> Result<Value, RpcError> {
    let body = json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params });
    let mut req = agent.post(url).header("Content-Type", "application/json");
    if let Some(token) = token {
        req = req.header("Authorization", &format!("Bearer {token}"));
    }
    let mut resp = req
        .send(body.to_string())
        .map_err(|e| transport_error(format!("cannot reach {url}: {e}")))?;
    let status = resp.status().as_u16();
    let text = resp
        .body_mut()
        .with_config()
        .limit(MAX_RESPONSE_BYTES)
        .read_to_string()
        .map_err(|e| transport_error(format!("cannot read the answer of {url}: {e}")))?;
    match status {
        200 => {}
        413 => {
            return Err(transport_error(format!(
                "the request to {method} is larger than the server accepts (HTTP 413)"
            )));
        }
        _ => {
            let snippet: String = text.chars().take(200).collect();
            return Err(transport_error(format!(
                "HTTP {status} from {url}: {snippet}"
            )));
        }
    }
    let mut reply: Value = serde_json::from_str(&text)
        .map_err(|e| transport_error(format!("{url} did not answer JSON: {e}")))?;
    if let Some(error) = reply.get_mut("error") {
        let error = error.take();
        return Err(RpcError {
            code: error["code"]
                .as_i64()
                .and_then(|c| i32::try_from(c).ok())
                .unwrap_or(TRANSPORT_ERROR),
            message: error["message"].as_str().unwrap_or("error").to_string(),
            data: error.get("data").cloned(),
        });
    }
    match reply.get_mut("result") {
        Some(result) => Ok(result.take()),
        None => Err(transport_error(format!(
            "{url} answered neither a result nor an error"
        ))),
    }
}

/// Why a batch failed: its closure's own error, or the store's.
#[derive(Debug)]
pub enum BatchError<E> {
    Inner(E),
    Store(market_store::StoreError),
}

impl<E> From<market_store::StoreError> for BatchError<E> {
    fn from(e: market_store::StoreError) -> Self {
        BatchError::Store(e)
    }
}
