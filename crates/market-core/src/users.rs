//! User accounts: the admin's `user.*` methods, the caller's profile, and
//! the operator's tools (admins seeded at start-up, `marketplace admin`).

use std::collections::BTreeMap;

use market_rpc::{Ctx, RpcError};
use market_store::{Actor, Page, PageRequest, Reads};

use crate::auth::{create_user, revoke_keys, revoke_sessions};
use crate::{
    App, Role, User, UserGetParams, UserListParams, UserService, UserSetRolesParams, UserStatus,
    UserSuspendParams, UserUnsuspendParams, UserUpdateProfileParams, me,
};

fn not_found() -> RpcError {
    RpcError::not_found("user not found")
}

fn field_error(field: &str, reason: &str) -> RpcError {
    RpcError::invalid_fields(BTreeMap::from([(field.to_string(), reason.to_string())]))
}

impl UserService for App {
    fn list(&self, _ctx: &Ctx, p: UserListParams) -> Result<Page<User>, RpcError> {
        let page = p.page()?;
        let mut found: Page<User> = self.db.read(|tx| match (p.role, p.status) {
            (Some(role), _) => User::find_by_roles(tx, role, &page),
            (None, Some(status)) => User::find_by_status(tx, status, &page),
            (None, None) => tx.list(&page),
        })?;
        match p.status {
            Some(status) => found.items.retain(|u| u.status == status),
            None => found.items.retain(|u| u.status != UserStatus::Deleted),
        }
        Ok(found)
    }

    fn get(&self, _ctx: &Ctx, p: UserGetParams) -> Result<User, RpcError> {
        self.db
            .read(|tx| tx.get::<User>(p.id))?
            .ok_or_else(not_found)
    }

    fn suspend(&self, ctx: &Ctx, p: UserSuspendParams) -> Result<User, RpcError> {
        if ctx.user_id() == Some(p.id) {
            return Err(field_error("id", "you cannot suspend yourself"));
        }
        ctx.write(&self.db, |tx| {
            let mut user = tx.get::<User>(p.id)?.ok_or_else(not_found)?;
            if user.status != UserStatus::Active {
                return Err(RpcError::invalid_state(format!(
                    "the user is {}, not active",
                    user.status
                )));
            }
            user.status = UserStatus::Suspended;
            user.suspended_reason = Some(p.reason.trim().to_string());
            tx.update(&mut user, None)?;
            Ok(user)
        })
    }

    fn unsuspend(&self, ctx: &Ctx, p: UserUnsuspendParams) -> Result<User, RpcError> {
        ctx.write(&self.db, |tx| {
            let mut user = tx.get::<User>(p.id)?.ok_or_else(not_found)?;
            if user.status != UserStatus::Suspended {
                return Err(RpcError::invalid_state(format!(
                    "the user is {}, not suspended",
                    user.status
                )));
            }
            user.status = UserStatus::Active;
            user.suspended_reason = None;
            tx.update(&mut user, None)?;
            Ok(user)
        })
    }

    fn set_roles(&self, ctx: &Ctx, p: UserSetRolesParams) -> Result<User, RpcError> {
        let mut roles = p.roles.clone();
        roles.push(Role::Customer);
        roles.sort();
        roles.dedup();
        if ctx.user_id() == Some(p.id) && !roles.contains(&Role::Admin) {
            return Err(field_error(
                "roles",
                "you cannot take the admin role from yourself",
            ));
        }
        ctx.write(&self.db, |tx| {
            let mut user = tx
                .get::<User>(p.id)?
                .filter(|u| u.status != UserStatus::Deleted)
                .ok_or_else(not_found)?;
            user.roles = roles.clone();
            tx.update(&mut user, None)?;
            Ok(user)
        })
    }

    fn update_profile(&self, ctx: &Ctx, p: UserUpdateProfileParams) -> Result<User, RpcError> {
        let id = me(ctx)?;
        ctx.write(&self.db, |tx| {
            let mut user: User = tx.load(id)?;
            if let Some(name) = &p.display_name {
                let name = name.trim();
                if name.is_empty() {
                    return Err(field_error("display_name", "must not be empty"));
                }
                user.display_name = name.to_string();
            }
            tx.update(&mut user, None)?;
            Ok(user)
        })
    }
}

/// An admin to create at start-up: `ADMIN_SEED_USERS` entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminUser {
    pub email: String,
    pub password: String,
}

/// Read `email:password[,email:password]`.
pub fn parse_seed_users(text: &str) -> Result<Vec<AdminUser>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|entry| match entry.split_once(':') {
            Some((email, password)) if !email.trim().is_empty() && !password.is_empty() => {
                Ok(AdminUser {
                    email: email.trim().to_string(),
                    password: password.to_string(),
                })
            }
            _ => Err(format!(
                "'{}' is not email:password",
                entry.split(':').next().unwrap_or_default()
            )),
        })
        .collect()
}

/// What happened to one seeded or added user.
#[derive(Debug, Clone, PartialEq)]
pub enum Added {
    Created(User),
    /// A user with that email exists already; nothing was changed.
    Exists(User),
}

impl App {
    /// Create a user directly (operator tools). An existing email is left
    /// exactly as it is, password included.
    pub fn add_user(
        &self,
        email: &str,
        password: &str,
        roles: &[Role],
        method: &str,
    ) -> Result<Added, RpcError> {
        let mut errs = market_rpc::FieldErrors::default();
        market_rpc::rules::email(&mut errs, "email", email.trim());
        market_rpc::rules::length(
            &mut errs,
            "password",
            password.chars().count(),
            Some(10),
            Some(1024),
        );
        errs.into_result()?;
        if let Some(existing) = self
            .db
            .read(|tx| User::by_email(tx, &crate::auth::normalize_email(email)))?
        {
            return Ok(Added::Exists(existing));
        }
        let hash = self.hash_password(password)?;
        let mut all = roles.to_vec();
        all.push(Role::Customer);
        all.sort();
        all.dedup();
        let name = email.split('@').next().unwrap_or(email).to_string();
        let user = self.db.write(&Actor::system(method), |tx| {
            create_user(tx, email, &name, hash.clone(), all.clone())
        })?;
        Ok(Added::Created(user))
    }

    /// Create the admins of `ADMIN_SEED_USERS` that are absent.
    pub fn seed_admins(&self, admins: &[AdminUser]) -> Result<(), RpcError> {
        for admin in admins {
            match self.add_user(&admin.email, &admin.password, &[Role::Admin], "admin.seed")? {
                Added::Created(u) => tracing::info!(email = %u.email, "created seed admin"),
                Added::Exists(u) if u.roles.contains(&Role::Admin) => {
                    tracing::info!(email = %u.email, "seed admin exists; left unchanged");
                }
                Added::Exists(u) => tracing::warn!(
                    email = %u.email,
                    "a seed admin's email belongs to an existing non-admin user; left unchanged (grant the role with user.set_roles)"
                ),
            }
        }
        Ok(())
    }

    /// Users that are not deleted, oldest first (operator tools).
    pub fn all_users(&self) -> Result<Vec<User>, RpcError> {
        let mut out = Vec::new();
        let mut cursor = None;
        loop {
            let page: Page<User> = self
                .db
                .read(|tx| tx.list(&PageRequest { limit: 500, cursor }))?;
            out.extend(
                page.items
                    .into_iter()
                    .filter(|u| u.status != UserStatus::Deleted),
            );
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        out.reverse();
        Ok(out)
    }

    /// Mark a user deleted and revoke every token and key (the ledger
    /// history stays). Returns the user, or `not_found`.
    pub fn remove_user(&self, email: &str) -> Result<User, RpcError> {
        self.db.write(&Actor::system("admin.remove_user"), |tx| {
            let mut user = User::by_email(tx, &crate::auth::normalize_email(email))?
                .filter(|u| u.status != UserStatus::Deleted)
                .ok_or_else(not_found)?;
            user.status = UserStatus::Deleted;
            tx.update(&mut user, None)?;
            revoke_sessions(tx, user.id, None)?;
            revoke_keys(tx, user.id)?;
            Ok(user)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_users_parse() {
        let admins = parse_seed_users("a@x.io:secret-pass-1, b@x.io:pa:ss").unwrap();
        assert_eq!(admins.len(), 2);
        assert_eq!(admins[1].password, "pa:ss");
        assert!(parse_seed_users("nopassword").is_err());
        assert!(parse_seed_users("a@x.io:").is_err());
        assert_eq!(parse_seed_users("").unwrap(), vec![]);
    }
}
