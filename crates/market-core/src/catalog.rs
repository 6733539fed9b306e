//! `product.*`: the catalog.

use market_rpc::{Ctx, RpcError};
use market_store::Reads;

use crate::{App, Product, ProductGetParams, ProductService, ProductStatus};

impl ProductService for App {
    fn get(&self, ctx: &Ctx, p: ProductGetParams) -> Result<Product, RpcError> {
        let product: Option<Product> = self.db.read(|tx| tx.get(p.id))?;
        match product {
            Some(product)
                if product.status == ProductStatus::Active || ctx.owns(product.owner_id) =>
            {
                Ok(product)
            }
            _ => Err(RpcError::not_found("product not found")),
        }
    }
}
