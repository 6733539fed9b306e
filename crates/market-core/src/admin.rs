//! `admin.*`: the audit trail.

use market_rpc::{Ctx, RpcError};
use market_store::{AuditFilter, Page, Reads};

use crate::{AdminAuditParams, AdminService, App, AuditEntry, page};

impl AdminService for App {
    fn audit(&self, _ctx: &Ctx, p: AdminAuditParams) -> Result<Page<AuditEntry>, RpcError> {
        let page = page(p.limit, p.cursor)?;
        let object = p.object_id.map(|id| id.to_string());
        let filter = match (&p.actor_id, &object) {
            (Some(actor), _) => AuditFilter::Actor(actor),
            (None, Some(object)) => AuditFilter::Object(object),
            (None, None) => AuditFilter::All,
        };
        let mut found = self.db.read(|tx| tx.audit(filter, &page))?;
        if let (Some(_), Some(object)) = (&p.actor_id, &object) {
            found.items.retain(|e| e.object_id.to_string() == *object);
        }
        Ok(Page {
            items: found
                .items
                .into_iter()
                .map(|e| AuditEntry {
                    id: e.id,
                    at: e.at,
                    actor_id: e.actor_id,
                    method: e.method,
                    object_type: e.object_type,
                    object_id: e.object_id,
                    action: e.action,
                    request_id: e.request_id,
                })
                .collect(),
            next_cursor: found.next_cursor,
        })
    }
}
