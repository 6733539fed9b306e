//! Who is calling, and the access rules every method declares.

use std::net::IpAddr;
use std::sync::Arc;

use market_store::{Actor, Db, Id, WriteTx};
use serde::Serialize;

use crate::error::{INTERNAL_ERROR, RpcError};
use crate::idempotency::IdempotencyScope;
use crate::methods::to_raw;
use crate::redact::Redact;

/// The role that passes every access check.
pub const ADMIN_ROLE: &str = "admin";

/// A signed-in user as the access checks see them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user_id: Id,
    pub roles: Vec<String>,
    /// The session or API key the request was made with.
    pub token_id: Option<Id>,
    /// The request was made with an API key (not a sign-in session): it may
    /// not manage API keys or change the password.
    pub api_key: bool,
}

impl Principal {
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }

    pub fn is_admin(&self) -> bool {
        self.has_role(ADMIN_ROLE)
    }
}

/// The caller of a method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// No token.
    Anonymous,
    /// A signed-in user.
    User(Principal),
    /// The operator's own tools on the database (CLI, local scripts): acts as an admin.
    System,
}

/// Everything a handler knows about the call besides its params.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub request_id: String,
    pub method: String,
    pub caller: Caller,
    pub peer: Option<IpAddr>,
    /// The peer node whose signed request this is (its public key, 64 hex),
    /// verified by the transport; only `board.events` looks at it.
    pub node: Option<String>,
    /// Set when the call carries an idempotency key.
    pub(crate) idempotency: Option<Arc<IdempotencyScope>>,
}

impl Ctx {
    pub fn new(request_id: impl Into<String>, method: impl Into<String>, caller: Caller) -> Ctx {
        Ctx {
            request_id: request_id.into(),
            method: method.into(),
            caller,
            peer: None,
            node: None,
            idempotency: None,
        }
    }

    /// Run the call's write transaction. Mutating handlers write through
    /// here: with an idempotency key, the result is stored in the same
    /// transaction as the effect, and a call whose key was committed first
    /// by a concurrent repeat replays that response instead of acting again.
    pub fn write<T, F>(&self, db: &Db, mut f: F) -> Result<T, RpcError>
    where
        T: Serialize + Redact,
        F: FnMut(&mut WriteTx<'_>) -> Result<T, RpcError>,
    {
        let Some(scope) = &self.idempotency else {
            return db.write(&self.actor(), f);
        };
        let mut stored = None;
        let result = db.write(&self.actor(), |tx| {
            if let Some(first) = scope.stored(tx)? {
                stored = Some(first);
                return Err(replayed());
            }
            let out = f(tx)?;
            let raw = to_raw(&out)?;
            tx.put_idempotency(&scope.scope, &scope.params_hash, raw.get())?;
            stored = Some(raw);
            Ok(out)
        });
        let answered = match &result {
            Ok(_) => true,
            Err(e) => is_replayed(e),
        };
        if let (true, Some(raw)) = (answered, stored) {
            scope.set_response(raw);
        }
        result
    }

    /// The signed-in user's id, if any.
    pub fn user_id(&self) -> Option<Id> {
        match &self.caller {
            Caller::User(p) => Some(p.user_id),
            _ => None,
        }
    }

    /// Admins and the system pass every access rule.
    pub fn is_admin(&self) -> bool {
        match &self.caller {
            Caller::User(p) => p.is_admin(),
            Caller::System => true,
            Caller::Anonymous => false,
        }
    }

    /// The signed-in user, or `unauthenticated`.
    pub fn require_user(&self) -> Result<&Principal, RpcError> {
        match &self.caller {
            Caller::User(p) => Ok(p),
            _ => Err(RpcError::unauthenticated("sign in first")),
        }
    }

    /// The signed-in user on a sign-in session: API keys may not manage
    /// keys or the password (`forbidden`).
    pub fn require_session(&self) -> Result<&Principal, RpcError> {
        let principal = self.require_user()?;
        if principal.api_key {
            return Err(RpcError::forbidden(
                "API keys cannot manage API keys or the password; sign in with the password",
            ));
        }
        Ok(principal)
    }

    /// The caller, method and idempotency key this call is bound to, when
    /// it carries a key: what [`market_store::WriteTx::delete_idempotency`] takes.
    pub fn idempotency_scope(&self) -> Option<&str> {
        self.idempotency.as_ref().map(|s| s.scope.as_str())
    }

    /// The audit identity of this call.
    pub fn actor(&self) -> Actor {
        let actor_id = match &self.caller {
            Caller::User(p) => p.user_id.to_string(),
            Caller::System => "system".to_string(),
            Caller::Anonymous => "anonymous".to_string(),
        };
        Actor {
            actor_id,
            method: self.method.clone(),
            request_id: self.request_id.clone(),
        }
    }

    /// May the caller act on an object owned by `owner`? Admins may.
    pub fn owns(&self, owner: Id) -> bool {
        self.is_admin() || self.user_id() == Some(owner)
    }
}

/// The marker error of a write that found its key already committed; the
/// dispatcher answers with the stored response instead.
fn replayed() -> RpcError {
    RpcError {
        code: INTERNAL_ERROR,
        message: "replayed".into(),
        data: None,
    }
}

fn is_replayed(e: &RpcError) -> bool {
    e.code == INTERNAL_ERROR && e.message == "replayed"
}

/// Who may call a method, as declared in the schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Public,
    User,
    Roles(&'static [&'static str]),
    /// Any signed-in user; the handler shows or changes only the caller's own
    /// objects (others answer `not_found`), admins see all.
    OwnerOrAdmin,
    Admin,
}

impl Access {
    /// The `x-access` level name of the OpenRPC document.
    pub fn level(self) -> &'static str {
        match self {
            Access::Public => "public",
            Access::User => "user",
            Access::Roles(_) => "role",
            Access::OwnerOrAdmin => "owner_or_admin",
            Access::Admin => "admin",
        }
    }

    /// Enforce the rule for `caller`, before any handler runs.
    pub fn check(self, caller: &Caller) -> Result<(), RpcError> {
        let principal = match (self, caller) {
            (Access::Public, _) | (_, Caller::System) => return Ok(()),
            (_, Caller::Anonymous) => {
                return Err(RpcError::unauthenticated(
                    "this method needs a bearer token",
                ));
            }
            (_, Caller::User(p)) => p,
        };
        let allowed = match self {
            Access::Public | Access::User | Access::OwnerOrAdmin => true,
            Access::Roles(roles) => {
                principal.is_admin() || roles.iter().any(|r| principal.has_role(r))
            }
            Access::Admin => principal.is_admin(),
        };
        if allowed {
            Ok(())
        } else {
            Err(RpcError::forbidden("your roles do not allow this method"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(roles: &[&str]) -> Caller {
        Caller::User(Principal {
            user_id: Id(ulid::Ulid::nil()),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            token_id: None,
            api_key: false,
        })
    }

    #[test]
    fn access_rules() {
        let kind = |r: Result<(), RpcError>| r.err().and_then(|e| e.kind().map(str::to_string));
        assert_eq!(kind(Access::Public.check(&Caller::Anonymous)), None);
        assert_eq!(
            kind(Access::User.check(&Caller::Anonymous)).as_deref(),
            Some("unauthenticated")
        );
        assert_eq!(kind(Access::User.check(&user(&["customer"]))), None);
        let sellers = Access::Roles(&["app_provider", "service_provider"]);
        assert_eq!(
            kind(sellers.check(&user(&["customer"]))).as_deref(),
            Some("forbidden")
        );
        assert_eq!(
            kind(sellers.check(&user(&["customer", "app_provider"]))),
            None
        );
        assert_eq!(kind(sellers.check(&user(&["admin"]))), None);
        assert_eq!(
            kind(Access::Admin.check(&user(&["customer"]))).as_deref(),
            Some("forbidden")
        );
        assert_eq!(kind(Access::Admin.check(&Caller::System)), None);
        assert_eq!(
            kind(Access::OwnerOrAdmin.check(&Caller::Anonymous)).as_deref(),
            Some("unauthenticated")
        );
    }
}
