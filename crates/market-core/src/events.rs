//! `event.*`: the domain event log as callers see it, and the helpers the
//! business rules append their events with.
//!
//! Every mutation appends its events in its own transaction
//! (`WriteTx::emit`); each event names the users it concerns, and only
//! they (and admins) see it. Subscriptions over WebSocket read the same
//! pages through [`EventSource`], up to the durable end of the log.

use market_rpc::{Caller, Ctx, EventBatch, EventSource, RpcError};
use market_store::{DomainEvent, DomainEventReads, Id, NewEvent, WriteTx};
use serde_json::{Value, json};

use crate::{
    App, EventListParams, EventPage, EventService, EventSubscribeParams, EventSubscription,
    EventUnsubscribeParams,
};

/// Events read from the log per step while looking for visible ones.
const SCAN_STEP: usize = 500;
/// Most log rows one read looks at before answering (with what it found).
const SCAN_BUDGET: usize = 20_000;

/// Append an event about `object_type`/`object_id` that concerns `users`.
pub(crate) fn emit(
    tx: &mut WriteTx<'_>,
    kind: &'static str,
    object_type: &'static str,
    object_id: impl ToString,
    users: Vec<Id>,
    data: Value,
) -> Result<(), RpcError> {
    tx.emit(NewEvent {
        kind,
        object_type,
        object_id: object_id.to_string(),
        users,
        data,
    })?;
    Ok(())
}

/// An event as callers see it: `{seq, id, type, at, actor_id, object_type, object_id, data}`.
pub fn event_json(e: &DomainEvent) -> Value {
    json!({
        "seq": e.seq,
        "id": e.id.to_string(),
        "type": e.kind,
        "at": e.at.to_string(),
        "actor_id": e.actor_id,
        "object_type": e.object_type,
        "object_id": e.object_id,
        "data": e.data,
    })
}

/// Whose events a caller sees: everyone's (admins and the operator's
/// tools), one user's, or nobody's.
#[derive(Debug, Clone, Copy)]
enum Viewer {
    All,
    User(Id),
    Nobody,
}

fn viewer(caller: &Caller) -> Viewer {
    match caller {
        Caller::System => Viewer::All,
        Caller::User(p) if p.is_admin() => Viewer::All,
        Caller::User(p) => Viewer::User(p.user_id),
        Caller::Anonymous => Viewer::Nobody,
    }
}

fn check_types(types: &[String]) -> Result<(), RpcError> {
    if types.iter().any(|t| t.trim().is_empty()) {
        return Err(RpcError::invalid_fields(
            [("types".to_string(), "an event type is empty".to_string())].into(),
        ));
    }
    Ok(())
}

impl App {
    /// Up to `limit` events visible to `caller` with `after < seq <= upto`,
    /// only of `types` unless empty, and the `seq` the read reached.
    pub fn read_events(
        &self,
        caller: &Caller,
        after: u64,
        upto: u64,
        types: &[String],
        limit: usize,
    ) -> Result<(Vec<DomainEvent>, u64), RpcError> {
        let viewer = viewer(caller);
        self.db.read(|tx| {
            let mut found = Vec::new();
            let mut cursor = after;
            let mut scanned = 0;
            while found.len() < limit && cursor < upto && scanned < SCAN_BUDGET {
                let rows = match viewer {
                    Viewer::All => tx.events_after(cursor, upto, SCAN_STEP)?,
                    Viewer::User(user) => tx.user_events_after(user, cursor, upto, SCAN_STEP)?,
                    Viewer::Nobody => Vec::new(),
                };
                if rows.is_empty() {
                    // Nothing visible up to `upto`: the read reached it.
                    cursor = upto;
                    break;
                }
                scanned += rows.len();
                for e in rows {
                    if found.len() == limit {
                        break;
                    }
                    cursor = e.seq;
                    if types.is_empty() || types.contains(&e.kind) {
                        found.push(e);
                    }
                }
            }
            Ok((found, cursor))
        })
    }
}

impl EventService for App {
    fn list(&self, ctx: &Ctx, p: EventListParams) -> Result<EventPage, RpcError> {
        let limit = p.page()?.limit;
        let types = p.types.unwrap_or_default();
        check_types(&types)?;
        let after = p.after_seq.unwrap_or(0);
        let upto = self.db.read(|tx| tx.last_event_seq())?;
        let (events, read_to) = self.read_events(&ctx.caller, after, upto, &types, limit)?;
        let last_seq = read_to.max(after);
        Ok(EventPage {
            items: events.iter().map(event_json).collect(),
            last_seq,
            next_cursor: (last_seq < upto).then(|| last_seq.to_string()),
        })
    }

    fn subscribe(
        &self,
        _ctx: &Ctx,
        _p: EventSubscribeParams,
    ) -> Result<EventSubscription, RpcError> {
        Err(websocket_only("event.subscribe"))
    }

    fn unsubscribe(
        &self,
        _ctx: &Ctx,
        _p: EventUnsubscribeParams,
    ) -> Result<market_rpc::Ok, RpcError> {
        Err(websocket_only("event.unsubscribe"))
    }
}

fn websocket_only(method: &str) -> RpcError {
    RpcError::invalid_state(format!(
        "{method} works only as a single request over a WebSocket connection (GET /rpc with an upgrade)"
    ))
}

/// The event log for transports: what [`App::read_events`] answers, up to
/// the durable end.
pub struct AppEvents(pub std::sync::Arc<App>);

impl EventSource for AppEvents {
    fn read(
        &self,
        caller: &Caller,
        after: u64,
        types: &[String],
        limit: usize,
    ) -> Result<EventBatch, RpcError> {
        let upto = self.0.db.events().durable();
        let (events, read_to) = self.0.read_events(caller, after, upto, types, limit)?;
        Ok(EventBatch {
            events: events.iter().map(event_json).collect(),
            read_to: read_to.max(after),
        })
    }

    fn durable_seq(&self) -> u64 {
        self.0.db.events().durable()
    }

    fn listen(&self, f: Box<dyn Fn(u64) + Send + Sync>) {
        self.0.db.events().listen(f);
    }
}

/// `order.paid`, `order.completed`, ...: the buyer and every seller are concerned.
pub(crate) fn order_event(
    tx: &mut WriteTx<'_>,
    kind: &'static str,
    order: &crate::Order,
) -> Result<(), RpcError> {
    let mut users = vec![order.buyer_id];
    users.extend(order.items.iter().map(|i| i.seller_id));
    emit(
        tx,
        kind,
        "order",
        order.id,
        users,
        json!({
            "status": order.status.as_str(),
            "total": order.total.to_string(),
            "buyer_id": order.buyer_id.to_string(),
            "rental_id": order.rental_id.map(|id| id.to_string()),
        }),
    )
}
