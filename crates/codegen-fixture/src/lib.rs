//! The generator's golden outputs, compiled: `gadgets` (with CRUD and a
//! service, exercised by this crate's tests) and a Hero-style schema.
//!
//! The only hand-written code is the `InventoryService` and `LoanService`
//! implementations below (their rules); every CRUD method, finder, page and
//! access check comes from the schema alone.

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
    Gadget, GadgetCount, InventoryCountParams, InventoryReserveParams, InventoryService, Loan,
    LoanGetParams, LoanGiveBackParams, LoanHistoryParams, LoanLendParams, LoanService,
};
use market_rpc::{Ctx, Methods, RpcError};
use market_store::{Db, Page, PageRequest, Reads, Stored};

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

/// A root object with `@index` fields and a four-method service: the
/// schema lines, and these rules.
impl LoanService for Inventory {
    fn lend(&self, ctx: &Ctx, p: LoanLendParams) -> Result<Loan, RpcError> {
        let borrower = ctx.require_user()?.user_id;
        ctx.write(&self.db, |tx| {
            Gadget::get_or_not_found(tx, p.gadget_id)?;
            let latest = PageRequest {
                limit: 1,
                cursor: None,
            };
            let latest = Loan::find_by_gadget_id(tx, p.gadget_id, &latest)?;
            if latest.items.iter().any(|l| !l.returned) {
                return Err(RpcError::conflict("the gadget is lent out"));
            }
            let mut loan = Loan {
                gadget_id: p.gadget_id,
                borrower_id: borrower,
                ..Loan::default()
            };
            tx.insert(&mut loan)?;
            Ok(loan)
        })
    }

    fn give_back(&self, ctx: &Ctx, p: LoanGiveBackParams) -> Result<Loan, RpcError> {
        ctx.write(&self.db, |tx| {
            let mut loan = Loan::get_visible(tx, ctx, p.id)?;
            if loan.returned {
                return Err(RpcError::invalid_state("the loan is given back already"));
            }
            loan.returned = true;
            tx.update(&mut loan, None)?;
            Ok(loan)
        })
    }

    fn history(&self, _ctx: &Ctx, p: LoanHistoryParams) -> Result<Page<Stored<Loan>>, RpcError> {
        let page = p.page()?;
        let gadget = p.gadget_id.to_string();
        Ok(self
            .db
            .read(|tx| tx.find_shaped_in(Loan::BY_GADGET_ID, &gadget, &page))?
            .map(|loan| loan.stored))
    }

    fn get(&self, ctx: &Ctx, p: LoanGetParams) -> Result<Loan, RpcError> {
        self.db.read(|tx| Loan::get_visible(tx, ctx, p.id))
    }
}

/// Every method of the fixture schema.
pub fn methods(db: Arc<Db>) -> Methods {
    let mut m = Methods::new().with_idempotency(db.clone());
    gadgets::register_crud(&mut m, db.clone());
    gadgets::register_services(&mut m, Arc::new(Inventory { db }));
    m
}

#[cfg(test)]
mod tests {
    use market_store::{Index, Record};

    use crate::gadgets::{Gadget, Loan, Widget};

    /// The handles of `T`, in schema order, name exactly its indexes.
    fn names_every_index<T: Record>(handles: &[Index<T>]) {
        let named: Vec<&str> = handles.iter().map(|h| h.field()).collect();
        let indexed: Vec<&str> = T::INDEXES.iter().map(|s| s.field).collect();
        assert_eq!(named, indexed, "{}", T::KIND);
    }

    #[test]
    fn each_indexed_field_has_a_typed_index_handle() {
        names_every_index(&[Gadget::BY_SERIAL, Gadget::BY_COLOR, Gadget::BY_OWNER_ID]);
        names_every_index(&[Widget::BY_SKU, Widget::BY_SIZE]);
        names_every_index(&[Loan::BY_GADGET_ID, Loan::BY_BORROWER_ID]);
        assert_eq!(Gadget::BY_COLOR, Gadget::BY_COLOR);
        assert_ne!(Gadget::BY_COLOR, Gadget::BY_SERIAL);
    }
}
