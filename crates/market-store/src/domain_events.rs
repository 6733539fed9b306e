//! The domain event log: every mutation appends the events it causes
//! (`order.paid`, `wallet.credited`, ...) in its own write transaction.
//!
//! Narrow on purpose, so that any backend maps it to one table: append in a
//! [`WriteTx`] ([`WriteTx::emit`]) and read a page after a `seq`
//! ([`DomainEventReads`]). `seq` is allocated inside the write transaction,
//! so commit order is `seq` order and a reader never sees a gap. Besides
//! the log, one index row per concerned user (`user id ‖ seq`) lets a user
//! page their own events without scanning everyone's.
//!
//! [`EventBell`] tells listeners (live subscriptions) the highest `seq` that
//! is durable; [`crate::Db`] rings it once a commit holding events is on
//! disk, so nobody hears of an event a crash could still take back.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use crate::backend::{KeyRange, Order};
use crate::error::{Result, StoreError};
use crate::tx::{Reads, WriteTx};
use crate::types::{Id, Timestamp};

const LOG: &str = "domain_events";
const BY_USER: &str = "domain_events:user";
const META: &str = "meta";
const SEQ_KEY: &[u8] = b"domain_events.seq";

/// One stored event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DomainEvent {
    pub seq: u64,
    pub id: Id,
    /// What happened, e.g. `order.paid`.
    #[serde(rename = "type")]
    pub kind: String,
    pub at: Timestamp,
    /// The user who acted, or `system`.
    pub actor_id: String,
    pub object_type: String,
    pub object_id: String,
    pub data: serde_json::Value,
    /// The users the event concerns (who may see it besides admins).
    pub users: Vec<Id>,
}

/// An event about to be appended: what the domain code says.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub kind: &'static str,
    pub object_type: &'static str,
    pub object_id: String,
    pub users: Vec<Id>,
    pub data: serde_json::Value,
}

fn corrupt(table: &str, reason: impl Into<String>) -> StoreError {
    StoreError::Corrupt {
        table: table.into(),
        reason: reason.into(),
    }
}

fn user_key(user: Id, seq: u64) -> Vec<u8> {
    let mut key = user.to_key().to_vec();
    key.extend_from_slice(&seq.to_be_bytes());
    key
}

fn seq_of(table: &str, bytes: &[u8]) -> Result<u64> {
    let arr: [u8; 8] = bytes
        .try_into()
        .map_err(|_| corrupt(table, "bad sequence"))?;
    Ok(u64::from_be_bytes(arr))
}

/// Reading the domain event log, in either kind of transaction.
pub trait DomainEventReads: Reads {
    /// The `seq` of the latest event (0 when none).
    fn last_event_seq(&self) -> Result<u64> {
        match self.raw().get(META, SEQ_KEY)? {
            Some(bytes) => seq_of(META, &bytes),
            None => Ok(0),
        }
    }

    /// Up to `limit` events with `after < seq <= upto`, oldest first.
    fn events_after(&self, after: u64, upto: u64, limit: usize) -> Result<Vec<DomainEvent>> {
        if after >= upto {
            return Ok(Vec::new());
        }
        let range = KeyRange {
            start: std::ops::Bound::Excluded(after.to_be_bytes().to_vec()),
            end: std::ops::Bound::Included(upto.to_be_bytes().to_vec()),
        };
        self.raw()
            .scan(LOG, &range, Order::Ascending, limit)?
            .into_iter()
            .map(|(_, v)| serde_json::from_slice(&v).map_err(|e| corrupt(LOG, e.to_string())))
            .collect()
    }

    /// Up to `limit` events concerning `user` with `after < seq <= upto`, oldest first.
    fn user_events_after(
        &self,
        user: Id,
        after: u64,
        upto: u64,
        limit: usize,
    ) -> Result<Vec<DomainEvent>> {
        if after >= upto {
            return Ok(Vec::new());
        }
        let range = KeyRange {
            start: std::ops::Bound::Excluded(user_key(user, after)),
            end: std::ops::Bound::Included(user_key(user, upto)),
        };
        let mut out = Vec::new();
        for (key, _) in self.raw().scan(BY_USER, &range, Order::Ascending, limit)? {
            let seq = seq_of(BY_USER, key.get(16..).unwrap_or_default())?;
            let bytes = self
                .raw()
                .get(LOG, &seq.to_be_bytes())?
                .ok_or_else(|| corrupt(BY_USER, format!("event {seq} is indexed but missing")))?;
            out.push(serde_json::from_slice(&bytes).map_err(|e| corrupt(LOG, e.to_string()))?);
        }
        Ok(out)
    }
}

impl<T: Reads + ?Sized> DomainEventReads for T {}

impl WriteTx<'_> {
    /// Append an event, stamped with this transaction's time and actor; its `seq`.
    pub fn emit(&mut self, event: NewEvent) -> Result<u64> {
        let seq = self.last_event_seq()? + 1;
        let mut users = event.users;
        users.sort();
        users.dedup();
        let stored = DomainEvent {
            seq,
            id: self.new_id(),
            kind: event.kind.to_string(),
            at: self.now,
            actor_id: self.actor.actor_id.clone(),
            object_type: event.object_type.to_string(),
            object_id: event.object_id,
            data: event.data,
            users,
        };
        let bytes = serde_json::to_vec(&stored).map_err(|e| corrupt(LOG, e.to_string()))?;
        self.raw.put(LOG, &seq.to_be_bytes(), &bytes)?;
        for user in &stored.users {
            self.raw.put(BY_USER, &user_key(*user, seq), &[])?;
        }
        self.raw.put(META, SEQ_KEY, &seq.to_be_bytes())?;
        self.last_event = Some(seq);
        Ok(seq)
    }
}

type Listener = Box<dyn Fn(u64) + Send + Sync>;

/// The highest durable `seq`, and who wants to hear when it grows.
#[derive(Default)]
pub struct EventBell {
    durable: AtomicU64,
    listeners: Mutex<Vec<Listener>>,
}

impl EventBell {
    pub(crate) fn starting_at(seq: u64) -> EventBell {
        EventBell {
            durable: AtomicU64::new(seq),
            listeners: Mutex::new(Vec::new()),
        }
    }

    /// Every event up to this `seq` is committed and durable.
    pub fn durable(&self) -> u64 {
        self.durable.load(Ordering::Acquire)
    }

    /// Call `f` with the new durable `seq` each time it grows.
    pub fn listen(&self, f: impl Fn(u64) + Send + Sync + 'static) {
        self.listeners
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Box::new(f));
    }

    /// Commits holding events up to `seq` are durable (commits are durable
    /// in order, so every lower `seq` is too).
    pub(crate) fn advance(&self, seq: u64) {
        let before = self.durable.fetch_max(seq, Ordering::AcqRel);
        if seq > before {
            for f in self
                .listeners
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
            {
                f(seq);
            }
        }
    }
}
