//! `node.*`, `slice.*` and `rental.*`: grid capacity, rented up front.
//!
//! Renting reserves units on the node, charges the buyer into escrow and
//! records an order and the rental in one transaction, so concurrent renters
//! can never over-book a node. A rental's money is released to the node's
//! owner (minus commission) when it ends: by expiry (the sweeper) or by
//! cancellation (the unused whole hours go back to the buyer).

use std::collections::BTreeMap;

use market_rpc::{Ctx, RpcError};
use market_store::{Actor, Id, Page, Reads, Stored, Timestamp, WriteTx};
use rust_decimal::Decimal;

use crate::escrow;
use crate::events;
use crate::listing::{self, Source};
use crate::{
    App, LedgerEntryKind, Node, NodeGetParams, NodeListParams, NodeRegisterParams, NodeService,
    NodeSetStatusParams, NodeShape, NodeStatus, Order, OrderItem, OrderStatus, PricingUnit,
    ProductCategory, ProviderKind, Rental, RentalCancelParams, RentalExtendParams, RentalGetParams,
    RentalKind, RentalListParams, RentalNodeParams, RentalService, RentalSliceParams, RentalStatus,
    Sale, SliceAssignParams, SliceAssignment, SliceAvailability, SliceListAvailableParams,
    SliceService, SliceUnassignParams, SshKey, TransferKind, me, money,
};

/// One slice unit: 1 vCPU, 4 GB memory, 200 GB storage.
pub fn units_of(cpu_cores: u32, memory_gb: u32, storage_gb: u32) -> u32 {
    cpu_cores.min(memory_gb / 4).min(storage_gb / 200)
}

/// Unit-hours beyond what an order line can count.
fn too_large() -> RpcError {
    field("hours", "too many unit-hours for one rental")
}

fn field(name: &str, reason: &str) -> RpcError {
    RpcError::invalid_fields(BTreeMap::from([(name.to_string(), reason.to_string())]))
}

/// The price of one unit for one hour on `node` (rounded, for display).
/// A rental may be extended, cancelled or assigned only while it is active
/// and before its end; past its end it is about to expire, whoever looks first.
fn still_running(rental: &Rental, now: Timestamp) -> Result<(), RpcError> {
    if rental.status != RentalStatus::Active {
        return Err(RpcError::invalid_state(format!(
            "the rental is {}",
            rental.status
        )));
    }
    if rental.ends_at <= now {
        return Err(RpcError::invalid_state(format!(
            "the rental ended at {}",
            rental.ends_at
        )));
    }
    Ok(())
}

fn unit_hour_price(node: &Node) -> Decimal {
    money::round(node.price_per_hour / Decimal::from(node.total_units.max(1)))
}

/// What `units` for `hours` cost at a node price, rounded once.
fn charge(price_per_hour: Decimal, node_units: u32, units: u32, hours: u32) -> Decimal {
    money::round(
        price_per_hour * Decimal::from(units) * Decimal::from(hours)
            / Decimal::from(node_units.max(1)),
    )
}

/// `ids` if they are all the user's keys; when none are given, the user's default key.
fn own_keys(tx: &WriteTx<'_>, user: Id, ids: &[Id]) -> Result<Vec<Id>, RpcError> {
    let keys = listing::all_of(tx, SshKey::BY_USER_ID, user)?;
    if ids.is_empty() {
        return Ok(keys.iter().filter(|k| k.is_default).map(|k| k.id).collect());
    }
    if let Some(missing) = ids.iter().find(|id| !keys.iter().any(|k| k.id == **id)) {
        return Err(field(
            "ssh_key_ids",
            &format!("{missing} is not one of your SSH keys"),
        ));
    }
    let mut out = ids.to_vec();
    out.dedup();
    Ok(out)
}

impl NodeService for App {
    fn register(&self, ctx: &Ctx, p: NodeRegisterParams) -> Result<Node, RpcError> {
        let owner = me(ctx)?;
        let price = p.price_per_hour.normalize();
        let units = units_of(
            p.capacity.cpu_cores,
            p.capacity.memory_gb,
            p.capacity.storage_gb,
        );
        if units == 0 {
            return Err(field(
                "capacity",
                "a node needs at least 1 vCPU, 4 GB memory and 200 GB storage",
            ));
        }
        ctx.write(&self.db, |tx| {
            let provider = crate::catalog::profile_of(tx, owner, ProviderKind::Resource)?;
            let mut node = Node {
                owner_id: owner,
                provider_id: provider.map(|p| p.id),
                name: p.name.trim().to_string(),
                country: p.location.country.trim().to_uppercase(),
                location: p.location.clone(),
                capacity: p.capacity.clone(),
                price_per_hour: price,
                status: NodeStatus::Online,
                total_units: units,
                used_units: 0,
                ..Default::default()
            };
            tx.insert(&mut node)?;
            Ok(node)
        })
    }

    fn set_status(&self, ctx: &Ctx, p: NodeSetStatusParams) -> Result<Node, RpcError> {
        ctx.write(&self.db, |tx| {
            let mut node = Node::get_visible(tx, ctx, p.id)?;
            node.status = p.status;
            tx.update(&mut node, None)?;
            Ok(node)
        })
    }

    fn get(&self, _ctx: &Ctx, p: NodeGetParams) -> Result<Node, RpcError> {
        self.db
            .read(|tx| tx.get::<Node>(p.id))?
            .ok_or_else(Node::not_found)
    }

    fn list(&self, _ctx: &Ctx, p: NodeListParams) -> Result<Page<Stored<Node>>, RpcError> {
        let page = p.page()?;
        let country = p.country.as_ref().map(|c| c.trim().to_uppercase());
        let source = match (p.status, &country) {
            (_, Some(c)) => Source::Index(Node::BY_COUNTRY, c),
            (Some(s), None) => Source::Index(Node::BY_STATUS, s.as_str()),
            (None, None) => Source::All,
        };
        self.db.read(|tx| {
            listing::filtered_stored(tx, source, &page, |n: &NodeShape| {
                p.status.is_none_or(|s| n.status == s)
            })
        })
    }
}

impl SliceService for App {
    fn list_available(
        &self,
        _ctx: &Ctx,
        p: SliceListAvailableParams,
    ) -> Result<Page<SliceAvailability>, RpcError> {
        let page = p.page()?;
        let country = p.country.as_ref().map(|c| c.trim().to_uppercase());
        let need_units = p
            .min_cpu
            .unwrap_or(1)
            .max(p.min_memory_gb.unwrap_or(0).div_ceil(4))
            .max(1);
        let nodes: Page<Node> = self.db.read(|tx| {
            listing::filtered(
                tx,
                Source::Index(Node::BY_STATUS, NodeStatus::Online.as_str()),
                &page,
                |n: &Node| {
                    n.total_units.saturating_sub(n.used_units) >= need_units
                        && country.as_ref().is_none_or(|c| &n.country == c)
                },
            )
        })?;
        Ok(Page {
            items: nodes
                .items
                .iter()
                .map(|n| SliceAvailability {
                    node_id: n.id,
                    node_name: n.name.clone(),
                    country: n.location.country.clone(),
                    city: n.location.city.clone(),
                    total_units: n.total_units,
                    free_units: n.total_units.saturating_sub(n.used_units),
                    price_per_unit_hour: unit_hour_price(n),
                    price_per_hour: n.price_per_hour,
                })
                .collect(),
            next_cursor: nodes.next_cursor,
        })
    }

    fn assign(&self, ctx: &Ctx, p: SliceAssignParams) -> Result<SliceAssignment, RpcError> {
        let owner = me(ctx)?;
        self.expire_if_due(p.rental_id)?;
        ctx.write(&self.db, |tx| {
            let rental = tx
                .get::<Rental>(p.rental_id)?
                .filter(|r| r.buyer_id == owner)
                .ok_or_else(Rental::not_found)?;
            still_running(&rental, tx.now())?;
            let keys = match &p.ssh_key_ids {
                Some(ids) if !ids.is_empty() => own_keys(tx, owner, ids)?,
                _ => rental.ssh_key_ids.clone(),
            };
            let mut assignment = SliceAssignment {
                owner_id: owner,
                rental_id: rental.id,
                node_id: rental.node_id,
                workload: p.workload.trim().to_string(),
                ssh_key_ids: keys,
                ..Default::default()
            };
            tx.insert(&mut assignment)?;
            Ok(assignment)
        })
    }

    fn unassign(&self, ctx: &Ctx, p: SliceUnassignParams) -> Result<market_rpc::Ok, RpcError> {
        ctx.write(&self.db, |tx| {
            SliceAssignment::get_visible(tx, ctx, p.assignment_id)?;
            tx.delete::<SliceAssignment>(p.assignment_id)?;
            Ok(market_rpc::Ok::TRUE)
        })
    }
}

/// What a new rental asks for.
struct RentRequest<'a> {
    node_id: Id,
    units: Option<u32>,
    hours: u32,
    ssh_key_ids: &'a [Id],
}

impl App {
    fn rent(&self, ctx: &Ctx, req: RentRequest<'_>) -> Result<Rental, RpcError> {
        let buyer = me(ctx)?;
        ctx.write(&self.db, |tx| {
            let mut node = tx.get::<Node>(req.node_id)?.ok_or_else(Node::not_found)?;
            if node.status != NodeStatus::Online {
                return Err(RpcError::invalid_state(format!(
                    "the node is {}",
                    node.status
                )));
            }
            if node.owner_id == buyer {
                return Err(field("node_id", "you cannot rent your own node"));
            }
            let free = node.total_units.saturating_sub(node.used_units);
            let (kind, units) = match req.units {
                Some(units) if units > free => {
                    return Err(RpcError::conflict(format!(
                        "the node has {free} free units, not {units}"
                    ))
                    .with_data("free_units", serde_json::json!(free)));
                }
                Some(units) => (RentalKind::Slice, units),
                None if node.used_units > 0 => {
                    return Err(RpcError::conflict(
                        "part of the node is rented; a whole-node rental needs it free",
                    ));
                }
                None => (RentalKind::Node, node.total_units),
            };
            let keys = own_keys(tx, buyer, req.ssh_key_ids)?;
            let price = unit_hour_price(&node);
            let amount = charge(node.price_per_hour, node.total_units, units, req.hours);
            let quantity = units.checked_mul(req.hours).ok_or_else(too_large)?;
            let pct = self.system_config(tx)?.commission_percent;
            let now = tx.now();
            let order_id = tx.new_id();
            let rental_id = tx.new_id();
            let reference = format!("order:{order_id}");
            escrow::hold(
                tx,
                buyer,
                amount,
                TransferKind::Rental,
                LedgerEntryKind::Rental,
                &reference,
            )?;
            let (name, category) = match kind {
                RentalKind::Slice => (
                    format!("{units} slice units of {}", node.name),
                    ProductCategory::ComputeSlice,
                ),
                RentalKind::Node => (
                    format!("the whole node {}", node.name),
                    ProductCategory::Node,
                ),
            };
            let mut order = Order {
                id: order_id,
                buyer_id: buyer,
                items: vec![OrderItem {
                    product_id: None,
                    seller_id: node.owner_id,
                    name,
                    category,
                    unit_price: price,
                    quantity,
                    pricing_unit: PricingUnit::Hour,
                    line_total: amount,
                    commission_percent: pct,
                    fulfilled: false,
                    fulfilled_at: None,
                }],
                total: amount,
                status: OrderStatus::Paid,
                rental_id: Some(rental_id),
                ..Default::default()
            };
            tx.insert(&mut order)?;
            events::order_event(tx, "order.paid", &order)?;
            tx.insert(&mut Sale {
                seller_id: node.owner_id,
                order_id,
                buyer_id: buyer,
                amount,
                ..Default::default()
            })?;
            let mut rental = Rental {
                id: rental_id,
                buyer_id: buyer,
                node_id: node.id,
                seller_id: node.owner_id,
                order_id,
                kind,
                units,
                hours: req.hours,
                starts_at: now,
                ends_at: now.add_seconds(i64::from(req.hours) * 3600),
                price_per_unit_hour: price,
                node_price_per_hour: node.price_per_hour,
                node_units: node.total_units,
                amount,
                ssh_key_ids: keys,
                status: RentalStatus::Active,
                ..Default::default()
            };
            tx.insert(&mut rental)?;
            node.used_units += units;
            tx.update(&mut node, None)?;
            rental_event(tx, "rental.started", &rental)?;
            Ok(rental)
        })
    }

    /// End an active rental: refund `refund` to the buyer, release the rest
    /// to the node's owner, free the units and complete the order.
    fn end_rental(
        tx: &mut WriteTx<'_>,
        rental: &mut Rental,
        status: RentalStatus,
        refund: Decimal,
    ) -> Result<(), RpcError> {
        let mut order: Order = tx.load(rental.order_id)?;
        let reference = format!("order:{}", order.id);
        escrow::give_back(tx, rental.buyer_id, refund, &reference)?;
        let pct = order
            .items
            .first()
            .map_or(Decimal::ZERO, |i| i.commission_percent);
        escrow::release(
            tx,
            rental.seller_id,
            rental.amount - refund,
            pct,
            &reference,
        )?;
        if let Some(mut node) = tx.get::<Node>(rental.node_id)? {
            node.used_units = node.used_units.saturating_sub(rental.units);
            tx.update(&mut node, None)?;
        }
        let now = tx.now();
        rental.status = status;
        rental.ended_at = Some(now);
        rental.refunded_amount = (refund > Decimal::ZERO).then_some(refund);
        tx.update(rental, None)?;
        for item in &mut order.items {
            item.fulfilled = true;
            item.fulfilled_at = Some(now);
        }
        order.status = OrderStatus::Completed;
        order.completed_at = Some(now);
        tx.update(&mut order, None)?;
        rental_event(tx, "rental.ended", rental)?;
        events::order_event(tx, "order.completed", &order)?;
        Ok(())
    }

    /// Expire every active rental past its end: the sweeper's work, also run
    /// at start-up. Returns how many ended.
    pub fn expire_rentals(&self) -> Result<usize, RpcError> {
        let now = self.db.now();
        let due: Vec<Id> = self.db.read(|tx| {
            let active =
                listing::all_of_value(tx, Rental::BY_STATUS, RentalStatus::Active.as_str())?;
            Ok::<_, RpcError>(
                active
                    .into_iter()
                    .filter(|r| r.ends_at <= now)
                    .map(|r| r.id)
                    .collect(),
            )
        })?;
        let mut ended = 0;
        for id in due {
            ended += usize::from(self.expire_if_due(id)?);
        }
        Ok(ended)
    }

    /// Expire one rental if it is active and past its end, with the same
    /// rules as the sweeper (the whole charge released to the provider).
    /// Calls that look at a rental run this first, so a rental past its end
    /// is expired by whoever looks first. Returns whether it ended now.
    fn expire_if_due(&self, id: Id) -> Result<bool, RpcError> {
        let now = self.db.now();
        let due = self.db.read(|tx| {
            Ok::<_, RpcError>(
                tx.get::<Rental>(id)?
                    .is_some_and(|r| r.status == RentalStatus::Active && r.ends_at <= now),
            )
        })?;
        if !due {
            return Ok(false);
        }
        self.db.write(&Actor::system("rental.expire"), |tx| {
            let Some(mut rental) = tx.get::<Rental>(id)? else {
                return Ok(false);
            };
            if rental.status != RentalStatus::Active || rental.ends_at > tx.now() {
                return Ok(false);
            }
            Self::end_rental(tx, &mut rental, RentalStatus::Expired, Decimal::ZERO)?;
            Ok::<_, RpcError>(true)
        })
    }

    /// Expire the rentals of a page that are past their end; whether any did.
    fn expire_due_of(&self, rentals: &[Rental]) -> Result<bool, RpcError> {
        let now = self.db.now();
        let mut any = false;
        for r in rentals
            .iter()
            .filter(|r| r.status == RentalStatus::Active && r.ends_at <= now)
        {
            any |= self.expire_if_due(r.id)?;
        }
        Ok(any)
    }
}

/// `rental.started`, `rental.extended`, `rental.ended`: the renter and the node's owner are concerned.
fn rental_event(tx: &mut WriteTx<'_>, kind: &'static str, rental: &Rental) -> Result<(), RpcError> {
    events::emit(
        tx,
        kind,
        "rental",
        rental.id,
        vec![rental.buyer_id, rental.seller_id],
        serde_json::json!({
            "status": rental.status.as_str(),
            "node_id": rental.node_id.to_string(),
            "order_id": rental.order_id.to_string(),
            "units": rental.units,
            "hours": rental.hours,
            "ends_at": rental.ends_at.to_string(),
            "amount": rental.amount.to_string(),
        }),
    )
}

impl RentalService for App {
    fn slice(&self, ctx: &Ctx, p: RentalSliceParams) -> Result<Rental, RpcError> {
        let keys = p.ssh_key_ids.clone().unwrap_or_default();
        self.rent(
            ctx,
            RentRequest {
                node_id: p.node_id,
                units: Some(p.units),
                hours: p.hours,
                ssh_key_ids: &keys,
            },
        )
    }

    fn node(&self, ctx: &Ctx, p: RentalNodeParams) -> Result<Rental, RpcError> {
        let keys = p.ssh_key_ids.clone().unwrap_or_default();
        self.rent(
            ctx,
            RentRequest {
                node_id: p.node_id,
                units: None,
                hours: p.hours,
                ssh_key_ids: &keys,
            },
        )
    }

    fn list(&self, ctx: &Ctx, p: RentalListParams) -> Result<Page<Stored<Rental>>, RpcError> {
        let buyer = me(ctx)?;
        let page = p.page()?;
        let read = || {
            self.db
                .read(|tx| Rental::find_by_buyer_id(tx, buyer, &page))
        };
        let rentals = read()?;
        if self.expire_due_of(&rentals.items)? {
            return Ok(Stored::page(read()?)?);
        }
        Ok(Stored::page(rentals)?)
    }

    fn get(&self, ctx: &Ctx, p: RentalGetParams) -> Result<Rental, RpcError> {
        let read = || {
            self.db
                .read(|tx| tx.get::<Rental>(p.id))
                .map(|r| r.filter(|r| ctx.owns(r.buyer_id) || ctx.user_id() == Some(r.seller_id)))
        };
        let rental = read()?.ok_or_else(Rental::not_found)?;
        if self.expire_due_of(std::slice::from_ref(&rental))? {
            return read()?.ok_or_else(Rental::not_found);
        }
        Ok(rental)
    }

    fn extend(&self, ctx: &Ctx, p: RentalExtendParams) -> Result<Rental, RpcError> {
        let buyer = me(ctx)?;
        self.expire_if_due(p.id)?;
        ctx.write(&self.db, |tx| {
            let mut rental = tx
                .get::<Rental>(p.id)?
                .filter(|r| r.buyer_id == buyer)
                .ok_or_else(Rental::not_found)?;
            still_running(&rental, tx.now())?;
            let cost = charge(
                rental.node_price_per_hour,
                rental.node_units,
                rental.units,
                p.hours,
            );
            let mut order: Order = tx.load(rental.order_id)?;
            escrow::hold(
                tx,
                buyer,
                cost,
                TransferKind::Rental,
                LedgerEntryKind::Rental,
                &format!("order:{}", order.id),
            )?;
            for item in &mut order.items {
                item.quantity = rental
                    .units
                    .checked_mul(p.hours)
                    .and_then(|more| item.quantity.checked_add(more))
                    .ok_or_else(too_large)?;
                item.line_total += cost;
            }
            order.total += cost;
            tx.update(&mut order, None)?;
            let sales = listing::all_of(tx, Sale::BY_ORDER_ID, order.id)?;
            for mut sale in sales {
                sale.amount += cost;
                tx.update(&mut sale, None)?;
            }
            rental.hours += p.hours;
            rental.ends_at = rental.ends_at.add_seconds(i64::from(p.hours) * 3600);
            rental.amount += cost;
            tx.update(&mut rental, None)?;
            rental_event(tx, "rental.extended", &rental)?;
            Ok(rental)
        })
    }

    fn cancel(&self, ctx: &Ctx, p: RentalCancelParams) -> Result<Rental, RpcError> {
        self.expire_if_due(p.id)?;
        ctx.write(&self.db, |tx| {
            let mut rental = Rental::get_visible(tx, ctx, p.id)?;
            still_running(&rental, tx.now())?;
            let left = (rental.ends_at.unix_millis() - tx.now().unix_millis()).max(0);
            let unused_hours = u32::try_from(left / 3_600_000)
                .unwrap_or(u32::MAX)
                .min(rental.hours);
            let refund = charge(
                rental.node_price_per_hour,
                rental.node_units,
                rental.units,
                unused_hours,
            )
            .min(rental.amount);
            App::end_rental(tx, &mut rental, RentalStatus::Cancelled, refund)?;
            Ok(rental)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slice_units_follow_the_scarcest_resource() {
        assert_eq!(units_of(8, 32, 1000), 5);
        assert_eq!(units_of(8, 64, 4000), 8);
        assert_eq!(units_of(2, 64, 4000), 2);
        assert_eq!(units_of(16, 15, 4000), 3);
        assert_eq!(units_of(1, 3, 200), 0);
    }
}
