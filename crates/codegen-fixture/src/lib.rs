//! The generator's golden outputs, compiled: `gadgets` (with CRUD and a
//! service, exercised by this crate's tests) and a Hero-style schema.
//!
//! The only hand-written code is the `InventoryService` implementation
//! below; every CRUD method comes from the schema alone.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod gadgets {
    #![allow(clippy::all)]
    include!("../../oschema-codegen/tests/golden/gadgets.rs");
}

pub mod hero {
    #![allow(clippy::all, dead_code)]
    include!("../../oschema-codegen/tests/golden/hero.rs");
}

use std::sync::Arc;

use gadgets::{
    Gadget, GadgetCount, InventoryCountParams, InventoryReserveParams, InventoryService,
};
use market_rpc::{Ctx, Methods, RpcError};
use market_store::{Db, PageRequest};

/// The fixture's one hand-written service.
pub struct Inventory {
    pub db: Arc<Db>,
}

impl InventoryService for Inventory {
    fn count(&self, _ctx: &Ctx, p: InventoryCountParams) -> Result<GadgetCount, RpcError> {
        let page = PageRequest {
            limit: 10_000,
            cursor: None,
        };
        let found = self
            .db
            .read(|tx| Gadget::find_by_color(tx, p.color, &page))?;
        Ok(GadgetCount {
            color: p.color,
            count: found.items.len() as u64,
        })
    }

    fn reserve(&self, _ctx: &Ctx, p: InventoryReserveParams) -> Result<Gadget, RpcError> {
        let page = PageRequest {
            limit: 1,
            cursor: None,
        };
        let found = self
            .db
            .read(|tx| Gadget::find_by_color(tx, p.color, &page))?;
        found
            .items
            .into_iter()
            .next()
            .ok_or_else(|| RpcError::conflict(format!("no {} gadget left", p.color)))
    }
}

/// Every method of the fixture schema.
pub fn methods(db: Arc<Db>) -> Methods {
    let mut m = Methods::new().with_idempotency(db.clone());
    gadgets::register_crud(&mut m, db.clone());
    gadgets::register_services(&mut m, Arc::new(Inventory { db }));
    m
}
