//! `cart.*`, `order.*`, `booking.*` and `deployment.*`: buying through a
//! cart or directly, escrow until each seller delivers, cancellation and
//! refunds, and the records purchases create.

use std::collections::BTreeMap;

use market_rpc::{Ctx, RpcError};
use market_store::{Id, Page, Reads, Stored, WriteTx};
use rust_decimal::Decimal;

use crate::escrow;
use crate::events;
use crate::listing::{self, Source};
use crate::{
    App, Booking, BookingListParams, BookingService, BookingStatus, BookingUpdateStatusParams,
    Cart, CartAddItemParams, CartClearParams, CartGetParams, CartItem, CartRemoveItemParams,
    CartService, CartUpdateItemParams, Deployment, DeploymentListParams, DeploymentService,
    DeploymentStatus, LedgerEntryKind, Order, OrderBuyNowParams, OrderCancelParams,
    OrderCheckoutParams, OrderFulfilParams, OrderGetParams, OrderItem, OrderListParams,
    OrderListSalesParams, OrderRefundParams, OrderService, OrderStatus, OrderTransitionsParams,
    Product, ProductCategory, ProductStatus, Rental, Sale, TransferKind, me, money,
};

/// Most units of one product in a cart (what one `cart.add_item` may ask for).
const MAX_LINE_QUANTITY: u32 = 10_000;
/// Most products in one cart.
const MAX_CART_LINES: usize = 100;

/// The user's cart (every user gets one with their account).
fn cart_of<R: Reads>(tx: &R, user: Id) -> Result<Cart, RpcError> {
    Cart::by_owner_id(tx, user)?.ok_or_else(|| RpcError::not_found("cart not found"))
}

/// Create the cart of a new user (in the transaction creating the user).
pub fn open_cart(tx: &mut WriteTx<'_>, user: Id) -> Result<(), RpcError> {
    tx.insert(&mut Cart {
        owner_id: user,
        items: Vec::new(),
        ..Default::default()
    })?;
    Ok(())
}

/// A product that can be bought now in `quantity`.
fn buyable<R: Reads>(
    tx: &R,
    buyer: Id,
    product_id: Id,
    quantity: u32,
) -> Result<Product, RpcError> {
    let product = tx
        .get::<Product>(product_id)?
        .filter(|p| p.status != ProductStatus::Draft || p.owner_id == buyer)
        .ok_or_else(Product::not_found)?;
    if product.status != ProductStatus::Active {
        return Err(
            RpcError::conflict(format!("'{}' is no longer for sale", product.name))
                .with_data("product_id", serde_json::json!(product.id)),
        );
    }
    if product.owner_id == buyer {
        return Err(RpcError::invalid_fields(BTreeMap::from([(
            "product_id".to_string(),
            "you cannot buy your own product".to_string(),
        )])));
    }
    if let Some(stock) = product.stock
        && u64::from(quantity) > stock
    {
        return Err(
            RpcError::conflict(format!("only {stock} of '{}' left", product.name))
                .with_data("product_id", serde_json::json!(product.id))
                .with_data("available", serde_json::json!(stock)),
        );
    }
    Ok(product)
}

/// Is the caller the buyer, a seller in the order, or an admin?
fn may_see(ctx: &Ctx, order: &Order) -> bool {
    ctx.owns(order.buyer_id)
        || ctx
            .user_id()
            .is_some_and(|me| order.items.iter().any(|i| i.seller_id == me))
}

impl App {
    /// Buy `lines` (product and quantity) for the caller in one transaction.
    fn purchase(
        &self,
        tx: &mut WriteTx<'_>,
        buyer: Id,
        lines: &[CartItem],
    ) -> Result<Order, RpcError> {
        if lines.is_empty() {
            return Err(RpcError::invalid_state("the cart is empty"));
        }
        let pct = self.system_config(tx)?.commission_percent;
        let order_id = tx.new_id();
        let mut items = Vec::with_capacity(lines.len());
        let mut products = Vec::with_capacity(lines.len());
        for line in lines {
            let mut product = buyable(tx, buyer, line.product_id, line.quantity)?;
            let line_total = money::round(product.price * Decimal::from(line.quantity));
            items.push(OrderItem {
                product_id: Some(product.id),
                seller_id: product.owner_id,
                name: product.name.clone(),
                category: product.category,
                unit_price: product.price,
                quantity: line.quantity,
                pricing_unit: product.pricing_unit,
                line_total,
                commission_percent: pct,
                fulfilled: false,
                fulfilled_at: None,
            });
            if let Some(stock) = product.stock {
                product.stock = Some(stock - u64::from(line.quantity));
                tx.update(&mut product, None)?;
            }
            products.push(product);
        }
        let total: Decimal = items.iter().map(|i| i.line_total).sum();
        escrow::hold(
            tx,
            buyer,
            total,
            TransferKind::Purchase,
            LedgerEntryKind::Purchase,
            &format!("order:{order_id}"),
        )?;
        let mut sales: BTreeMap<Id, Decimal> = BTreeMap::new();
        for item in &items {
            *sales.entry(item.seller_id).or_default() += item.line_total;
        }
        for (seller, amount) in sales {
            tx.insert(&mut Sale {
                seller_id: seller,
                order_id,
                buyer_id: buyer,
                amount,
                ..Default::default()
            })?;
        }
        for product in &products {
            match product.category {
                ProductCategory::Service => tx.insert(&mut Booking {
                    customer_id: buyer,
                    seller_id: product.owner_id,
                    order_id,
                    product_id: product.id,
                    product_name: product.name.clone(),
                    status: BookingStatus::Requested,
                    progress: 0,
                    ..Default::default()
                })?,
                ProductCategory::App => tx.insert(&mut Deployment {
                    customer_id: buyer,
                    seller_id: product.owner_id,
                    order_id,
                    product_id: product.id,
                    product_name: product.name.clone(),
                    status: DeploymentStatus::Requested,
                    ..Default::default()
                })?,
                _ => {}
            }
        }
        let mut order = Order {
            id: order_id,
            buyer_id: buyer,
            items,
            total,
            status: OrderStatus::Paid,
            ..Default::default()
        };
        tx.insert(&mut order)?;
        events::order_event(tx, "order.paid", &order)?;
        Ok(order)
    }

    /// What the caller may move `order` to now.
    fn transitions_for(ctx: &Ctx, order: &Order) -> Vec<OrderStatus> {
        let mut out = Vec::new();
        let nothing_fulfilled = order.items.iter().all(|i| !i.fulfilled);
        let is_rental = order.rental_id.is_some();
        if order.status == OrderStatus::Paid
            && nothing_fulfilled
            && !is_rental
            && ctx.owns(order.buyer_id)
        {
            out.push(OrderStatus::Cancelled);
        }
        if order.status == OrderStatus::Paid
            && !is_rental
            && let Some(me) = ctx.user_id()
        {
            let mine_open = order
                .items
                .iter()
                .any(|i| i.seller_id == me && !i.fulfilled);
            let others_done = order.items.iter().all(|i| i.seller_id == me || i.fulfilled);
            if mine_open && others_done {
                out.push(OrderStatus::Completed);
            }
        }
        if order.status == OrderStatus::Completed && ctx.is_admin() {
            out.push(OrderStatus::Refunded);
        }
        out
    }
}

impl CartService for App {
    fn get(&self, ctx: &Ctx, _p: CartGetParams) -> Result<Cart, RpcError> {
        let user = me(ctx)?;
        self.db.read(|tx| cart_of(tx, user))
    }

    fn add_item(&self, ctx: &Ctx, p: CartAddItemParams) -> Result<Cart, RpcError> {
        let user = me(ctx)?;
        ctx.write(&self.db, |tx| {
            let mut cart = cart_of(tx, user)?;
            let already = cart
                .items
                .iter()
                .find(|i| i.product_id == p.product_id)
                .map_or(0, |i| i.quantity);
            let quantity = already.saturating_add(p.quantity);
            if quantity > MAX_LINE_QUANTITY {
                return Err(RpcError::invalid_fields(BTreeMap::from([(
                    "quantity".to_string(),
                    format!(
                        "the cart would hold {quantity} of this product; at most {MAX_LINE_QUANTITY}"
                    ),
                )])));
            }
            if already == 0 && cart.items.len() >= MAX_CART_LINES {
                return Err(RpcError::invalid_fields(BTreeMap::from([(
                    "product_id".to_string(),
                    format!("a cart holds at most {MAX_CART_LINES} products"),
                )])));
            }
            buyable(tx, user, p.product_id, quantity)?;
            match cart.items.iter_mut().find(|i| i.product_id == p.product_id) {
                Some(item) => item.quantity = quantity,
                None => cart.items.push(CartItem {
                    product_id: p.product_id,
                    quantity,
                }),
            }
            tx.update(&mut cart, None)?;
            Ok(cart)
        })
    }

    fn update_item(&self, ctx: &Ctx, p: CartUpdateItemParams) -> Result<Cart, RpcError> {
        let user = me(ctx)?;
        ctx.write(&self.db, |tx| {
            let mut cart = cart_of(tx, user)?;
            if !cart.items.iter().any(|i| i.product_id == p.product_id) {
                return Err(RpcError::not_found("the product is not in your cart"));
            }
            buyable(tx, user, p.product_id, p.quantity)?;
            for item in cart
                .items
                .iter_mut()
                .filter(|i| i.product_id == p.product_id)
            {
                item.quantity = p.quantity;
            }
            tx.update(&mut cart, None)?;
            Ok(cart)
        })
    }

    fn remove_item(&self, ctx: &Ctx, p: CartRemoveItemParams) -> Result<Cart, RpcError> {
        let user = me(ctx)?;
        ctx.write(&self.db, |tx| {
            let mut cart = cart_of(tx, user)?;
            let before = cart.items.len();
            cart.items.retain(|i| i.product_id != p.product_id);
            if cart.items.len() == before {
                return Err(RpcError::not_found("the product is not in your cart"));
            }
            tx.update(&mut cart, None)?;
            Ok(cart)
        })
    }

    fn clear(&self, ctx: &Ctx, _p: CartClearParams) -> Result<market_rpc::Ok, RpcError> {
        let user = me(ctx)?;
        ctx.write(&self.db, |tx| {
            let mut cart = cart_of(tx, user)?;
            if !cart.items.is_empty() {
                cart.items.clear();
                tx.update(&mut cart, None)?;
            }
            Ok(market_rpc::Ok::TRUE)
        })
    }
}

impl OrderService for App {
    fn checkout(&self, ctx: &Ctx, _p: OrderCheckoutParams) -> Result<Order, RpcError> {
        let buyer = me(ctx)?;
        ctx.write(&self.db, |tx| {
            let mut cart = cart_of(tx, buyer)?;
            let order = self.purchase(tx, buyer, &cart.items)?;
            cart.items.clear();
            tx.update(&mut cart, None)?;
            Ok(order)
        })
    }

    fn buy_now(&self, ctx: &Ctx, p: OrderBuyNowParams) -> Result<Order, RpcError> {
        let buyer = me(ctx)?;
        ctx.write(&self.db, |tx| {
            self.purchase(
                tx,
                buyer,
                &[CartItem {
                    product_id: p.product_id,
                    quantity: p.quantity,
                }],
            )
        })
    }

    fn get(&self, ctx: &Ctx, p: OrderGetParams) -> Result<Order, RpcError> {
        self.db
            .read(|tx| tx.get::<Order>(p.id))?
            .filter(|o| may_see(ctx, o))
            .ok_or_else(Order::not_found)
    }

    fn list(&self, ctx: &Ctx, p: OrderListParams) -> Result<Page<Stored<Order>>, RpcError> {
        let buyer = me(ctx)?.to_string();
        let page = p.page()?;
        self.db
            .read(|tx| listing::stored(tx, Source::Index(Order::BY_BUYER_ID, &buyer), &page))
    }

    fn list_sales(
        &self,
        ctx: &Ctx,
        p: OrderListSalesParams,
    ) -> Result<Page<Stored<Order>>, RpcError> {
        let seller = me(ctx)?;
        let page = p.page()?;
        self.db.read(|tx| {
            let sales = Sale::find_by_seller_id(tx, seller, &page)?;
            let mut items = Vec::with_capacity(sales.items.len());
            for sale in &sales.items {
                items.push(tx.load::<Order>(sale.order_id)?);
            }
            Ok(Stored::page(Page {
                items,
                next_cursor: sales.next_cursor,
            })?)
        })
    }

    fn fulfil(&self, ctx: &Ctx, p: OrderFulfilParams) -> Result<Order, RpcError> {
        let seller = me(ctx)?;
        ctx.write(&self.db, |tx| {
            let mut order = tx
                .get::<Order>(p.id)?
                .filter(|o| may_see(ctx, o))
                .ok_or_else(Order::not_found)?;
            if !order.items.iter().any(|i| i.seller_id == seller) {
                return Err(Order::not_found());
            }
            if order.status != OrderStatus::Paid {
                return Err(RpcError::invalid_state(format!(
                    "the order is {}",
                    order.status
                )));
            }
            if order.rental_id.is_some() {
                return Err(RpcError::invalid_state(
                    "a rental order is fulfilled when its rental ends",
                ));
            }
            if !order
                .items
                .iter()
                .any(|i| i.seller_id == seller && !i.fulfilled)
            {
                return Err(RpcError::invalid_state(
                    "you fulfilled your items of this order already",
                ));
            }
            let now = tx.now();
            let mut share = Decimal::ZERO;
            let mut pct = Decimal::ZERO;
            for item in order
                .items
                .iter_mut()
                .filter(|i| i.seller_id == seller && !i.fulfilled)
            {
                share += item.line_total;
                pct = item.commission_percent;
                item.fulfilled = true;
                item.fulfilled_at = Some(now);
            }
            escrow::release(tx, seller, share, pct, &format!("order:{}", order.id))?;
            if order.items.iter().all(|i| i.fulfilled) {
                order.status = OrderStatus::Completed;
                order.completed_at = Some(now);
            }
            tx.update(&mut order, None)?;
            if order.status == OrderStatus::Completed {
                events::order_event(tx, "order.completed", &order)?;
            }
            Ok(order)
        })
    }

    fn cancel(&self, ctx: &Ctx, p: OrderCancelParams) -> Result<Order, RpcError> {
        ctx.write(&self.db, |tx| {
            let mut order = Order::get_visible(tx, ctx, p.id)?;
            if order.rental_id.is_some() {
                return Err(RpcError::invalid_state(
                    "cancel a rental with rental.cancel",
                ));
            }
            if order.status != OrderStatus::Paid || order.items.iter().any(|i| i.fulfilled) {
                return Err(RpcError::invalid_state(format!(
                    "only a paid order with nothing fulfilled can be cancelled; this one is {}",
                    order.status
                )));
            }
            escrow::give_back(
                tx,
                order.buyer_id,
                order.total,
                &format!("order:{}", order.id),
            )?;
            for item in &order.items {
                if let Some(mut product) = item
                    .product_id
                    .map(|id| tx.get::<Product>(id))
                    .transpose()?
                    .flatten()
                    && let Some(stock) = product.stock
                {
                    product.stock = Some(stock + u64::from(item.quantity));
                    tx.update(&mut product, None)?;
                }
            }
            order.status = OrderStatus::Cancelled;
            order.cancelled_at = Some(tx.now());
            tx.update(&mut order, None)?;
            events::order_event(tx, "order.cancelled", &order)?;
            Ok(order)
        })
    }

    fn refund(&self, ctx: &Ctx, p: OrderRefundParams) -> Result<Order, RpcError> {
        ctx.write(&self.db, |tx| {
            let mut order = tx.get::<Order>(p.id)?.ok_or_else(Order::not_found)?;
            if order.status != OrderStatus::Completed {
                return Err(RpcError::invalid_state(format!(
                    "only a completed order can be refunded; this one is {}",
                    order.status
                )));
            }
            let reference = format!("order:{}", order.id);
            // A cancelled rental gave part of its order back already.
            let given_back = match order.rental_id {
                Some(id) => tx.load::<Rental>(id)?.refunded_amount.unwrap_or_default(),
                None => Decimal::ZERO,
            };
            let mut shares: BTreeMap<Id, (Decimal, Decimal)> = BTreeMap::new();
            for item in &order.items {
                let entry = shares.entry(item.seller_id).or_default();
                entry.0 += item.line_total;
                entry.1 = item.commission_percent;
            }
            if let Some(entry) = shares.values_mut().next() {
                entry.0 -= given_back;
            }
            for (seller, (share, pct)) in shares {
                escrow::reverse(tx, order.buyer_id, seller, share, pct, &reference)?;
            }
            order.status = OrderStatus::Refunded;
            order.refunded_at = Some(tx.now());
            tx.update(&mut order, None)?;
            events::order_event(tx, "order.refunded", &order)?;
            Ok(order)
        })
    }

    fn transitions(
        &self,
        ctx: &Ctx,
        p: OrderTransitionsParams,
    ) -> Result<Vec<OrderStatus>, RpcError> {
        let order = self
            .db
            .read(|tx| tx.get::<Order>(p.id))?
            .filter(|o| may_see(ctx, o))
            .ok_or_else(Order::not_found)?;
        Ok(App::transitions_for(ctx, &order))
    }
}

impl BookingService for App {
    fn list(&self, ctx: &Ctx, p: BookingListParams) -> Result<Page<Stored<Booking>>, RpcError> {
        let user = me(ctx)?.to_string();
        let page = p.page()?;
        self.db.read(|tx| {
            let found = listing::union(
                tx,
                (Booking::BY_CUSTOMER_ID, &user),
                (Booking::BY_SELLER_ID, &user),
                &page,
            )?;
            Ok(Stored::page(found)?)
        })
    }

    fn update_status(&self, ctx: &Ctx, p: BookingUpdateStatusParams) -> Result<Booking, RpcError> {
        let seller = me(ctx)?;
        ctx.write(&self.db, |tx| {
            let mut booking = tx
                .get::<Booking>(p.id)?
                .filter(|b| b.seller_id == seller || ctx.is_admin())
                .ok_or_else(|| RpcError::not_found("booking not found"))?;
            let allowed = matches!(
                (booking.status, p.status),
                (BookingStatus::Requested, BookingStatus::InProgress)
                    | (BookingStatus::InProgress, BookingStatus::InProgress)
                    | (
                        BookingStatus::Requested | BookingStatus::InProgress,
                        BookingStatus::Completed
                    )
            );
            if !allowed {
                return Err(RpcError::invalid_state(format!(
                    "a {} booking cannot become {}",
                    booking.status, p.status
                )));
            }
            booking.status = p.status;
            booking.progress = match p.status {
                BookingStatus::Completed => 100,
                _ => p.progress.unwrap_or(booking.progress).min(99),
            };
            tx.update(&mut booking, None)?;
            events::emit(
                tx,
                "booking.updated",
                "booking",
                booking.id,
                vec![booking.customer_id, booking.seller_id],
                serde_json::json!({
                    "status": booking.status.as_str(),
                    "progress": booking.progress,
                    "order_id": booking.order_id.to_string(),
                }),
            )?;
            Ok(booking)
        })
    }
}

impl DeploymentService for App {
    fn list(
        &self,
        ctx: &Ctx,
        p: DeploymentListParams,
    ) -> Result<Page<Stored<Deployment>>, RpcError> {
        let user = me(ctx)?.to_string();
        let page = p.page()?;
        self.db.read(|tx| {
            let found = listing::union(
                tx,
                (Deployment::BY_CUSTOMER_ID, &user),
                (Deployment::BY_SELLER_ID, &user),
                &page,
            )?;
            Ok(Stored::page(found)?)
        })
    }
}
