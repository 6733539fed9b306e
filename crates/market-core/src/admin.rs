//! `admin.*`: the audit trail.

use market_rpc::{Ctx, RpcError};
use market_store::{AuditFilter, Page, Reads};

use rust_decimal::Decimal;

use crate::listing::all_of_value;
use crate::{
    AdminAuditParams, AdminService, AdminStats, AdminStatsParams, App, AuditEntry, Node, Order,
    OrderStatus, Product, Provider, Rental, RentalStatus, User, UserStatus,
};

impl AdminService for App {
    fn stats(&self, _ctx: &Ctx, _p: AdminStatsParams) -> Result<AdminStats, RpcError> {
        self.db.read(|tx| {
            let users = tx.count::<User>()?;
            let deleted =
                all_of_value(tx, User::BY_STATUS, UserStatus::Deleted.as_str())?.len() as u64;
            let mut gross_volume = Decimal::ZERO;
            for status in [OrderStatus::Paid, OrderStatus::Completed] {
                for order in all_of_value(tx, Order::BY_STATUS, status.as_str())? {
                    gross_volume += order.total;
                }
            }
            Ok(AdminStats {
                users: users.saturating_sub(deleted),
                providers: tx.count::<Provider>()?,
                products: tx.count::<Product>()?,
                orders: tx.count::<Order>()?,
                nodes: tx.count::<Node>()?,
                active_rentals: all_of_value(tx, Rental::BY_STATUS, RentalStatus::Active.as_str())?
                    .len() as u64,
                gross_volume: gross_volume.normalize(),
            })
        })
    }

    fn audit(&self, _ctx: &Ctx, p: AdminAuditParams) -> Result<Page<AuditEntry>, RpcError> {
        let page = p.page()?;
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
