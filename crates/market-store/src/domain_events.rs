//! The domain event log: every mutation appends the events it causes
//! (`order.paid`, `wallet.credited`, ...) in its own write transaction.
//!
//! One log of the storage contract ([`DOMAIN_EVENTS`]; on PostgreSQL the
//! table `log_domain_events`, with `type`, `object_type`, `object_id` and
//! `actor_id` as indexed columns): append in a [`WriteTx`]
//! ([`WriteTx::emit`]) and read a page after a `seq` ([`DomainEventReads`]).
//! The backend allocates `seq` inside the write transaction, so commit order
//! is `seq` order and a reader never sees a gap. A user's page filters the
//! log by the users each event names.
//!
//! [`EventBell`] tells listeners (live subscriptions) the highest `seq` that
//! is durable; [`crate::Db`] rings it once a commit holding events is on
//! disk, so nobody hears of an event a crash could still take back.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use crate::backend::LogSpec;
use crate::error::{Result, StoreError};
use crate::tx::{Reads, WriteTx};
use crate::types::{Id, Timestamp};

/// The domain event log.
pub const DOMAIN_EVENTS: LogSpec = LogSpec {
    name: "domain_events",
    json: true,
    columns: &["type", "object_type", "object_id", "actor_id"],
};

/// Rows read per step while filtering a user's events.
const SCAN_STEP: usize = 1000;

/// One stored event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DomainEvent {
    /// The row's sequence number (not part of the stored body).
    #[serde(skip)]
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

fn decode(seq: u64, body: &[u8]) -> Result<DomainEvent> {
    let mut event: DomainEvent = serde_json::from_slice(body).map_err(|e| StoreError::Corrupt {
        table: DOMAIN_EVENTS.name.into(),
        reason: e.to_string(),
    })?;
    event.seq = seq;
    Ok(event)
}

/// Reading the domain event log, in either kind of transaction.
pub trait DomainEventReads: Reads {
    /// The `seq` of the latest event (0 when none).
    fn last_event_seq(&self) -> Result<u64> {
        self.store().log_last(&DOMAIN_EVENTS)
    }

    /// Up to `limit` events with `after < seq <= upto`, oldest first.
    fn events_after(&self, after: u64, upto: u64, limit: usize) -> Result<Vec<DomainEvent>> {
        if after >= upto {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        for (seq, body) in self.store().log_after(&DOMAIN_EVENTS, after, limit)? {
            if seq > upto {
                break;
            }
            out.push(decode(seq, &body)?);
        }
        Ok(out)
    }

    /// Up to `limit` events concerning `user` with `after < seq <= upto`,
    /// oldest first.
    fn user_events_after(
        &self,
        user: Id,
        after: u64,
        upto: u64,
        limit: usize,
    ) -> Result<Vec<DomainEvent>> {
        let mut out = Vec::new();
        let mut from = after;
        while from < upto && out.len() < limit {
            let rows = self.store().log_after(&DOMAIN_EVENTS, from, SCAN_STEP)?;
            let Some(&(last, _)) = rows.last() else { break };
            for (seq, body) in rows {
                if seq > upto || out.len() == limit {
                    return Ok(out);
                }
                let event = decode(seq, &body)?;
                if event.users.contains(&user) {
                    out.push(event);
                }
            }
            from = last;
        }
        Ok(out)
    }
}

impl<T: Reads + ?Sized> DomainEventReads for T {}

impl WriteTx<'_> {
    /// Append an event, stamped with this transaction's time and actor
    /// (nothing on a database that drops events, see
    /// [`crate::Db::without_domain_events`]).
    pub fn emit(&mut self, event: NewEvent) -> Result<()> {
        if !self.db.records_domain_events() {
            return Ok(());
        }
        let mut users = event.users;
        users.sort();
        users.dedup();
        let stored = DomainEvent {
            seq: 0,
            id: self.new_id(),
            kind: event.kind.to_string(),
            at: self.now,
            actor_id: self.actor.actor_id.clone(),
            object_type: event.object_type.to_string(),
            object_id: event.object_id,
            data: event.data,
            users,
        };
        let bytes = serde_json::to_vec(&stored).map_err(|e| StoreError::Corrupt {
            table: DOMAIN_EVENTS.name.into(),
            reason: e.to_string(),
        })?;
        // On PostgreSQL the event is sent ahead and its number known only
        // when the write returns (`Db::write` asks the backend then).
        match self.raw.log_append_new(&DOMAIN_EVENTS, stored.id, &bytes)? {
            Some(seq) => self.last_event = Some(seq),
            None => self.events_sent = true,
        }
        Ok(())
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
