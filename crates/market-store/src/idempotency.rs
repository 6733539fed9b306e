//! Stored first responses of mutating calls, keyed by caller, method and
//! idempotency key, written in the same transaction as the call's effect.

use serde::{Deserialize, Serialize};

use crate::Db;
use crate::backend::{KeyRange, Order};
use crate::crypto;
use crate::error::{Result, StoreError};
use crate::tx::{Reads, WriteTx};
use crate::types::{Id, Timestamp};

const TABLE: &str = "idem";
/// The same records by creation (id) order, for purging old ones.
const BY_TIME: &str = "idem:time";

/// The remembered outcome of the first call with a key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdempotencyRecord {
    pub id: Id,
    pub created_at: Timestamp,
    /// Hash of the canonical params (without the key).
    pub params_hash: String,
    /// The response's `result`, exactly as first sent.
    pub response: String,
}

/// Associated data of a sealed response: the scope it answers.
fn aad(scope: &str) -> String {
    format!("idem/{scope}")
}

fn decode(bytes: &[u8]) -> Result<IdempotencyRecord> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt {
        table: TABLE.into(),
        reason: e.to_string(),
    })
}

/// Read access to idempotency records, in either kind of transaction.
pub trait IdempotencyReads: Reads {
    /// The record of `scope` (caller, method and key joined), if any.
    fn idempotency(&self, scope: &str) -> Result<Option<IdempotencyRecord>> {
        let Some(bytes) = self.raw().get(TABLE, scope.as_bytes())? else {
            return Ok(None);
        };
        let mut record = decode(&bytes)?;
        if crypto::is_sealed(&record.response) {
            let cipher = self.cipher().ok_or(StoreError::NoSecretKey)?;
            let plain = cipher.open(&record.response, &aad(scope))?;
            record.response = String::from_utf8(plain).map_err(|_| StoreError::Corrupt {
                table: TABLE.into(),
                reason: "stored response is not text".into(),
            })?;
        }
        Ok(Some(record))
    }
}

impl<T: Reads + ?Sized> IdempotencyReads for T {}

impl WriteTx<'_> {
    /// Remember the response of the first call of `scope`.
    pub fn put_idempotency(
        &mut self,
        scope: &str,
        params_hash: &str,
        response: &str,
    ) -> Result<()> {
        // Responses may hold what is shown once (a new API key): sealed at
        // rest whenever there is a key.
        let response = match self.cipher() {
            Some(cipher) => cipher.seal(response.as_bytes(), &aad(scope))?,
            None => response.to_string(),
        };
        let record = IdempotencyRecord {
            id: self.new_id(),
            created_at: self.now(),
            params_hash: params_hash.to_string(),
            response,
        };
        let bytes = serde_json::to_vec(&record).map_err(|e| StoreError::Corrupt {
            table: TABLE.into(),
            reason: e.to_string(),
        })?;
        if let Some(old) = self.idempotency(scope)? {
            self.raw.delete(BY_TIME, &old.id.to_key())?;
        }
        self.raw.put(TABLE, scope.as_bytes(), &bytes)?;
        self.raw.put(BY_TIME, &record.id.to_key(), scope.as_bytes())
    }

    /// Forget the response of `scope`: a repeat of that call runs again
    /// instead of replaying it.
    pub fn delete_idempotency(&mut self, scope: &str) -> Result<()> {
        if let Some(old) = self.idempotency(scope)? {
            self.raw.delete(BY_TIME, &old.id.to_key())?;
            self.raw.delete(TABLE, scope.as_bytes())?;
        }
        Ok(())
    }
}

impl Db {
    /// Delete records created before `cutoff`, in batches; returns how many went.
    pub fn purge_idempotency(&self, cutoff: Timestamp) -> Result<usize> {
        const BATCH: usize = 1000;
        let mut purged = 0;
        loop {
            let done = self.write(&crate::Actor::system("idempotency.purge"), |tx| {
                let rows = tx
                    .raw
                    .scan(BY_TIME, &KeyRange::prefix(&[]), Order::Ascending, BATCH)?;
                let mut count = 0;
                for (key, scope) in &rows {
                    let old = Id::from_key(key).is_some_and(|id| {
                        i64::try_from(id.0.timestamp_ms()).unwrap_or(i64::MAX)
                            < cutoff.unix_millis()
                    });
                    if !old {
                        return Ok((count, true));
                    }
                    tx.raw.delete(BY_TIME, key)?;
                    tx.raw.delete(TABLE, scope)?;
                    count += 1;
                }
                Ok::<_, StoreError>((count, rows.len() < BATCH))
            })?;
            purged += done.0;
            if done.1 {
                return Ok(purged);
            }
        }
    }
}
