//! `sshkey.*`: the caller's SSH public keys.

use std::collections::BTreeMap;

use market_rpc::{Ctx, RpcError};
use market_store::{Id, Page, PageRequest, Reads, Stored, WriteTx};

use crate::listing::{self, Source};

use crate::sshkey::{KeyAlgorithm, parse_public_key};
use crate::{
    App, KeyType, SshKey, SshKeyService, SshkeyAddParams, SshkeyListParams, SshkeyRemoveParams,
    SshkeySetDefaultParams, me,
};

fn not_found() -> RpcError {
    RpcError::not_found("SSH key not found")
}

/// All keys of a user (a user has few).
fn keys_of<R: Reads>(tx: &R, user_id: Id) -> Result<Vec<SshKey>, RpcError> {
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let page = SshKey::find_by_user_id(tx, user_id, &PageRequest { limit: 500, cursor })?;
        out.extend(page.items);
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => return Ok(out),
        }
    }
}

/// Make `id` the user's only default key.
fn make_default(tx: &mut WriteTx<'_>, user_id: Id, id: Id) -> Result<Option<SshKey>, RpcError> {
    let mut chosen = None;
    for mut key in keys_of(tx, user_id)? {
        let should = key.id == id;
        if key.is_default != should {
            key.is_default = should;
            tx.update(&mut key, None)?;
        }
        if should {
            chosen = Some(key);
        }
    }
    Ok(chosen)
}

impl SshKeyService for App {
    fn add(&self, ctx: &Ctx, p: SshkeyAddParams) -> Result<SshKey, RpcError> {
        let user_id = me(ctx)?;
        let parsed = parse_public_key(&p.public_key).map_err(|e| {
            RpcError::invalid_fields(BTreeMap::from([("public_key".to_string(), e.to_string())]))
        })?;
        let key_type = match parsed.algorithm {
            KeyAlgorithm::Ed25519 => KeyType::Ed25519,
            KeyAlgorithm::Ecdsa => KeyType::Ecdsa,
            KeyAlgorithm::Rsa => KeyType::Rsa,
        };
        ctx.write(&self.db, |tx| {
            let existing = keys_of(tx, user_id)?;
            if existing.iter().any(|k| k.fingerprint == parsed.fingerprint) {
                return Err(RpcError::conflict("you added this key already")
                    .with_data("field", serde_json::json!("public_key")));
            }
            let mut key = SshKey {
                user_id,
                name: p.name.trim().to_string(),
                public_key: parsed.normalized.clone(),
                fingerprint: parsed.fingerprint.clone(),
                key_type,
                is_default: existing.is_empty(),
                ..Default::default()
            };
            tx.insert(&mut key)?;
            Ok(key)
        })
    }

    fn list(&self, ctx: &Ctx, p: SshkeyListParams) -> Result<Page<Stored<SshKey>>, RpcError> {
        let user_id = me(ctx)?.to_string();
        let page = p.page()?;
        self.db
            .read(|tx| listing::stored(tx, Source::Index(SshKey::BY_USER_ID, &user_id), &page))
    }

    fn remove(&self, ctx: &Ctx, p: SshkeyRemoveParams) -> Result<market_rpc::Ok, RpcError> {
        let user_id = me(ctx)?;
        ctx.write(&self.db, |tx| {
            let key = tx
                .get::<SshKey>(p.id)?
                .filter(|k| k.user_id == user_id)
                .ok_or_else(not_found)?;
            tx.delete::<SshKey>(key.id)?;
            if key.is_default
                && let Some(newest) = keys_of(tx, user_id)?.into_iter().next()
            {
                make_default(tx, user_id, newest.id)?;
            }
            Ok(market_rpc::Ok::TRUE)
        })
    }

    fn set_default(&self, ctx: &Ctx, p: SshkeySetDefaultParams) -> Result<SshKey, RpcError> {
        let user_id = me(ctx)?;
        ctx.write(&self.db, |tx| {
            tx.get::<SshKey>(p.id)?
                .filter(|k| k.user_id == user_id)
                .ok_or_else(not_found)?;
            make_default(tx, user_id, p.id)?.ok_or_else(not_found)
        })
    }
}
