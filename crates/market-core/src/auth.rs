//! Accounts and sessions: registration, sign-in, tokens, API keys and the
//! resolution of a bearer token to a caller.
//!
//! Passwords are hashed with argon2id at OWASP's parameters (19 MiB, t=2,
//! p=1), a few at a time. Tokens and API keys are 256 random bits; only
//! their SHA-256 is stored.

use std::sync::{Condvar, Mutex, OnceLock};

use argon2::{Algorithm, Argon2, Params, PasswordHasher, PasswordVerifier, Version};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use market_rpc::{Caller, Ctx, Principal, RpcError};
use market_store::{Id, Page, Reads, Timestamp, WriteTx};
use sha2::{Digest, Sha256};
use unicode_normalization::UnicodeNormalization;

use crate::{
    ApiKey, ApiKeyCreated, ApiKeyService, ApikeyCreateParams, ApikeyListParams, ApikeyRevokeParams,
    App, AuthChangePasswordParams, AuthLoginParams, AuthLogoutParams, AuthMeParams,
    AuthRegisterParams, AuthResult, AuthService, AuthUseTokenParams, Role, Session, User,
    UserStatus, ledger, me,
};

/// Prefix of session tokens.
const SESSION_PREFIX: &str = "mks_";
/// Prefix of API keys.
const KEY_PREFIX: &str = "mkk_";
/// Characters of an API key kept to tell keys apart in lists.
const SHOWN_KEY_CHARS: usize = 12;
/// How stale `last_used_at` of an API key may get before it is written again.
const KEY_USE_RESOLUTION_SECS: i64 = 300;

/// At most this many password hashes run at once (each takes 19 MiB).
pub struct HashGate {
    running: Mutex<usize>,
    freed: Condvar,
    limit: usize,
}

impl HashGate {
    pub fn new() -> HashGate {
        let cores = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
        HashGate {
            running: Mutex::new(0),
            freed: Condvar::new(),
            limit: cores.max(1),
        }
    }

    fn run<T>(&self, f: impl FnOnce() -> T) -> T {
        {
            let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
            while *running >= self.limit {
                running = self.freed.wait(running).unwrap_or_else(|p| p.into_inner());
            }
            *running += 1;
        }
        let out = f();
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        *running -= 1;
        self.freed.notify_one();
        out
    }
}

fn hasher() -> Result<Argon2<'static>, RpcError> {
    let params = Params::new(19 * 1024, 2, 1, None).map_err(|e| {
        tracing::error!(error = %e, "argon2 parameters");
        RpcError::internal()
    })?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

impl App {
    /// The argon2id PHC string of a password.
    pub(crate) fn hash_password(&self, password: &str) -> Result<String, RpcError> {
        let argon = hasher()?;
        self.hashing
            .run(|| argon.hash_password(password.as_bytes()))
            .map(|h| h.to_string())
            .map_err(|e| {
                tracing::error!(error = %e, "password hashing failed");
                RpcError::internal()
            })
    }

    /// Does `password` match `hash`? Runs the full hash even for a missing
    /// user (`hash: None`), so timing does not tell which part was wrong.
    pub(crate) fn password_matches(
        &self,
        password: &str,
        hash: Option<&str>,
    ) -> Result<bool, RpcError> {
        static DUMMY: OnceLock<String> = OnceLock::new();
        let dummy = match DUMMY.get() {
            Some(d) => d.as_str(),
            None => DUMMY.get_or_init(|| {
                self.hash_password("not a password of anyone")
                    .unwrap_or_default()
            }),
        };
        let argon = hasher()?;
        let target = hash.unwrap_or(dummy);
        let ok = self
            .hashing
            .run(|| argon.verify_password(password.as_bytes(), target).is_ok());
        Ok(ok && hash.is_some())
    }

    /// Check a password against the account's budget: a locked account is
    /// `rate_limited` without a check; a wrong password counts against it,
    /// a right one clears it.
    pub(crate) fn check_password(
        &self,
        budget: &str,
        password: &str,
        hash: Option<&str>,
    ) -> Result<bool, RpcError> {
        self.passwords.check(budget, self.db.now())?;
        let ok = self.password_matches(password, hash)?;
        if ok {
            self.passwords.clear(budget);
        } else {
            self.passwords.record(budget, self.db.now());
        }
        Ok(ok)
    }
}

/// A new random token with `prefix`.
fn new_token(prefix: &str) -> Result<String, RpcError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| {
        tracing::error!(error = %e, "no randomness for a token");
        RpcError::internal()
    })?;
    Ok(format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes)))
}

/// What is stored of a token: its SHA-256 in hex.
pub(crate) fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn bad_credentials() -> RpcError {
    RpcError::unauthenticated("wrong email or password")
}

fn unknown_token() -> RpcError {
    RpcError::unauthenticated("unknown, expired or revoked token")
}

/// An email as accounts are told apart by it: trimmed and in Unicode
/// normalization form C (the unique index then ignores case).
pub fn normalize_email(email: &str) -> String {
    email.trim().nfc().collect()
}

/// The key of an account's password budget: its email, normalized and
/// lower-cased (so an address without an account counts alike).
fn budget_key(email: &str) -> String {
    normalize_email(email).to_lowercase()
}

/// What deciding who a caller is reads of a user: no secret field, so
/// authenticating a request decrypts nothing.
#[derive(serde::Deserialize)]
pub(crate) struct Standing {
    pub(crate) id: Id,
    #[serde(default)]
    pub(crate) roles: Vec<Role>,
    pub(crate) status: UserStatus,
}

/// The caller a user is, refusing deleted and suspended accounts.
pub(crate) fn principal(
    user: &Standing,
    token_id: Option<Id>,
    api_key: bool,
) -> Result<Principal, RpcError> {
    match user.status {
        UserStatus::Deleted if token_id.is_some() => Err(unknown_token()),
        UserStatus::Deleted => Err(RpcError::unauthenticated("this account is deleted")),
        UserStatus::Suspended => Err(RpcError::forbidden("this account is suspended")),
        UserStatus::Active => Ok(Principal {
            user_id: user.id,
            roles: user.roles.iter().map(|r| r.as_str().to_string()).collect(),
            token_id,
            api_key,
        }),
    }
}

pub(crate) fn authenticate(app: &App, token: &str) -> Result<Caller, RpcError> {
    let hash = token_hash(token);
    let now = app.db.now();
    if token.starts_with(KEY_PREFIX) {
        let (key, user) = app.db.read_each(|tx| {
            let key = ApiKey::by_key_hash(tx, &hash)?
                .filter(|k| !k.revoked)
                .ok_or_else(unknown_token)?;
            let user = tx
                .get_part::<User, Standing>(key.user_id)?
                .ok_or_else(unknown_token)?;
            Ok::<_, RpcError>((key, user))
        })?;
        let principal = principal(&user, Some(key.id), true)?;
        let stale = key
            .last_used_at
            .is_none_or(|t| t.add_seconds(KEY_USE_RESOLUTION_SECS) < now);
        if stale {
            record_key_use(app, key.id, now);
        }
        return Ok(Caller::User(principal));
    }
    let (session, user) = app.db.read_each(|tx| {
        let session = Session::by_token_hash(tx, &hash)?.ok_or_else(unknown_token)?;
        let user = tx
            .get_part::<User, Standing>(session.user_id)?
            .ok_or_else(unknown_token)?;
        Ok::<_, RpcError>((session, user))
    })?;
    if session.revoked || session.expires_at <= now {
        return Err(unknown_token());
    }
    Ok(Caller::User(principal(&user, Some(session.id), false)?))
}

/// Note when an API key was last used (best effort: a failure only logs).
fn record_key_use(app: &App, key_id: Id, now: Timestamp) {
    let actor = market_store::Actor::system("apikey.use");
    let result = app.db.write(&actor, |tx| {
        let mut key: ApiKey = tx.load(key_id)?;
        key.last_used_at = Some(now);
        tx.update(&mut key, None)
    });
    if let Err(e) = result {
        tracing::warn!(error = %e, "cannot record API key use");
    }
}

/// Open a session for `user` in this transaction.
fn open_session(app: &App, tx: &mut WriteTx<'_>, user: User) -> Result<AuthResult, RpcError> {
    let token = new_token(SESSION_PREFIX)?;
    let expires_at = tx.now().add_seconds(app.config.token_ttl_secs);
    tx.insert(&mut Session {
        user_id: user.id,
        token_hash: token_hash(&token),
        expires_at,
        revoked: false,
        ..Default::default()
    })?;
    Ok(AuthResult {
        user,
        token,
        expires_at,
    })
}

/// Revoke the sessions of `user_id`, except `keep`.
pub(crate) fn revoke_sessions(
    tx: &mut WriteTx<'_>,
    user_id: Id,
    keep: Option<Id>,
) -> Result<(), RpcError> {
    let mut cursor = None;
    loop {
        let page = Session::find_by_user_id(
            tx,
            user_id,
            &market_store::PageRequest { limit: 500, cursor },
        )?;
        for mut s in page
            .items
            .into_iter()
            .filter(|s| !s.revoked && Some(s.id) != keep)
        {
            s.revoked = true;
            tx.update(&mut s, None)?;
        }
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => return Ok(()),
        }
    }
}

/// Revoke an API key, and forget the stored answer of the call that
/// created it (it holds the key).
fn revoke_key(tx: &mut WriteTx<'_>, key: &mut ApiKey) -> Result<(), RpcError> {
    key.revoked = true;
    if let Some(scope) = key.created_under.take() {
        tx.delete_idempotency(&scope)?;
    }
    tx.update(key, None)?;
    Ok(())
}

/// Revoke every API key of `user_id`.
pub(crate) fn revoke_keys(tx: &mut WriteTx<'_>, user_id: Id) -> Result<(), RpcError> {
    let mut cursor = None;
    loop {
        let page = ApiKey::find_by_user_id(
            tx,
            user_id,
            &market_store::PageRequest { limit: 500, cursor },
        )?;
        for mut k in page.items.into_iter().filter(|k| !k.revoked) {
            revoke_key(tx, &mut k)?;
        }
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => return Ok(()),
        }
    }
}

/// Create a user with its wallet in this transaction.
pub(crate) fn create_user(
    tx: &mut WriteTx<'_>,
    email: &str,
    display_name: &str,
    password_hash: String,
    roles: Vec<Role>,
) -> Result<User, RpcError> {
    if User::by_email(tx, &normalize_email(email))?.is_some() {
        return Err(
            RpcError::conflict("an account with this email already exists")
                .with_data("field", serde_json::json!("email")),
        );
    }
    let mut user = User {
        email: normalize_email(email),
        display_name: display_name.trim().to_string(),
        roles,
        status: UserStatus::Active,
        password_hash,
        ..Default::default()
    };
    tx.insert(&mut user)?;
    ledger::open_wallet(tx, user.id)?;
    crate::commerce::open_cart(tx, user.id)?;
    Ok(user)
}

impl AuthService for App {
    fn register(&self, ctx: &Ctx, p: AuthRegisterParams) -> Result<AuthResult, RpcError> {
        let hash = self.hash_password(&p.password)?;
        ctx.write(&self.db, |tx| {
            let user = create_user(
                tx,
                &p.email,
                &p.display_name,
                hash.clone(),
                vec![Role::Customer],
            )?;
            open_session(self, tx, user)
        })
    }

    fn login(&self, ctx: &Ctx, p: AuthLoginParams) -> Result<AuthResult, RpcError> {
        let budget = budget_key(&p.email);
        let user = self
            .db
            .read(|tx| User::by_email(tx, &normalize_email(&p.email)))?;
        let user = user.filter(|u| u.status != UserStatus::Deleted);
        if !self.check_password(
            &budget,
            &p.password,
            user.as_ref().map(|u| u.password_hash.as_str()),
        )? {
            return Err(bad_credentials());
        }
        let user = user.ok_or_else(bad_credentials)?;
        if user.status == UserStatus::Suspended {
            return Err(RpcError::forbidden("this account is suspended"));
        }
        ctx.write(&self.db, |tx| {
            let current: User = tx.load(user.id)?;
            open_session(self, tx, current)
        })
    }

    fn logout(&self, ctx: &Ctx, _p: AuthLogoutParams) -> Result<market_rpc::Ok, RpcError> {
        let principal = ctx.require_user()?;
        let token_id = principal.token_id.ok_or_else(unknown_token)?;
        ctx.write(&self.db, |tx| {
            if let Some(mut session) = tx.get::<Session>(token_id)? {
                session.revoked = true;
                tx.update(&mut session, None)?;
            } else if let Some(mut key) = tx.get::<ApiKey>(token_id)? {
                revoke_key(tx, &mut key)?;
            }
            Ok(market_rpc::Ok::TRUE)
        })
    }

    fn me(&self, ctx: &Ctx, _p: AuthMeParams) -> Result<User, RpcError> {
        let id = me(ctx)?;
        Ok(self.db.read(|tx| tx.load::<User>(id))?)
    }

    fn use_token(&self, _ctx: &Ctx, p: AuthUseTokenParams) -> Result<User, RpcError> {
        match authenticate(self, &p.token)? {
            Caller::User(principal) => Ok(self.db.read(|tx| tx.load::<User>(principal.user_id))?),
            _ => Err(unknown_token()),
        }
    }

    fn change_password(
        &self,
        ctx: &Ctx,
        p: AuthChangePasswordParams,
    ) -> Result<market_rpc::Ok, RpcError> {
        let principal = ctx.require_session()?;
        let user: User = self.db.read(|tx| tx.load(principal.user_id))?;
        let budget = budget_key(&user.email);
        if !self.check_password(&budget, &p.old_password, Some(&user.password_hash))? {
            return Err(RpcError::unauthenticated("the old password is wrong"));
        }
        let hash = self.hash_password(&p.new_password)?;
        ctx.write(&self.db, |tx| {
            let mut user: User = tx.load(principal.user_id)?;
            user.password_hash = hash.clone();
            tx.update(&mut user, None)?;
            revoke_sessions(tx, user.id, principal.token_id)?;
            if p.keep_api_keys != Some(true) {
                revoke_keys(tx, user.id)?;
            }
            Ok(market_rpc::Ok::TRUE)
        })
    }
}

impl ApiKeyService for App {
    fn create(&self, ctx: &Ctx, p: ApikeyCreateParams) -> Result<ApiKeyCreated, RpcError> {
        let user_id = ctx.require_session()?.user_id;
        let key = new_token(KEY_PREFIX)?;
        let created_under = ctx.idempotency_scope().map(str::to_string);
        ctx.write(&self.db, |tx| {
            let mut record = ApiKey {
                user_id,
                name: p.name.trim().to_string(),
                key_hash: token_hash(&key),
                prefix: key.chars().take(SHOWN_KEY_CHARS).collect(),
                revoked: false,
                last_used_at: None,
                created_under: created_under.clone(),
                ..Default::default()
            };
            tx.insert(&mut record)?;
            Ok(ApiKeyCreated {
                id: record.id,
                key: key.clone(),
            })
        })
    }

    fn list(&self, ctx: &Ctx, p: ApikeyListParams) -> Result<Page<ApiKey>, RpcError> {
        let user_id = me(ctx)?;
        let page = p.page()?;
        Ok(self
            .db
            .read(|tx| ApiKey::find_by_user_id(tx, user_id, &page))?)
    }

    fn revoke(&self, ctx: &Ctx, p: ApikeyRevokeParams) -> Result<market_rpc::Ok, RpcError> {
        let user_id = ctx.require_session()?.user_id;
        ctx.write(&self.db, |tx| {
            let mut key = tx
                .get::<ApiKey>(p.id)?
                .filter(|k| k.user_id == user_id)
                .ok_or_else(|| RpcError::not_found("API key not found"))?;
            revoke_key(tx, &mut key)?;
            Ok(market_rpc::Ok::TRUE)
        })
    }
}
