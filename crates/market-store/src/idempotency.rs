//! Stored first responses of mutating calls, keyed by caller, method and
//! idempotency key, written in the same transaction as the call's effect.

use serde::{Deserialize, Serialize};

use crate::Db;
use crate::crypto;
use crate::error::{Result, StoreError};
use crate::tx::{Reads, WriteTx};
use crate::types::{Id, Timestamp};

const TABLE: &str = "idem";

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

/// Read access to idempotency records, in either kind of transaction.
pub trait IdempotencyReads: Reads {
    /// The record of `scope` (caller, method and key joined), if any.
    fn idempotency(&self, scope: &str) -> Result<Option<IdempotencyRecord>> {
        let Some(mut record) = self.store().idempotency(scope)? else {
            return Ok(None);
        };
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
        self.raw.put_idempotency(scope, &record)
    }

    /// Forget the response of `scope`: a repeat of that call runs again
    /// instead of replaying it.
    pub fn delete_idempotency(&mut self, scope: &str) -> Result<()> {
        self.raw.delete_idempotency(scope)
    }
}

impl Db {
    /// Delete records created before `cutoff`, in batches; returns how many went.
    pub fn purge_idempotency(&self, cutoff: Timestamp) -> Result<usize> {
        const BATCH: usize = 1000;
        let mut purged = 0;
        loop {
            let done = self.write(&crate::Actor::system("idempotency.purge"), |tx| {
                let count = tx.raw.purge_idempotency(cutoff, BATCH)?;
                Ok::<_, StoreError>((count, count < BATCH))
            })?;
            purged += done.0;
            if done.1 {
                return Ok(purged);
            }
        }
    }
}
