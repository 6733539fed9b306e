//! `provider.*` and `product.*`: provider profiles and the catalog.

use std::collections::BTreeMap;

use market_rpc::{Ctx, RpcError};
use market_store::{Page, Reads, Stored, WriteTx};

use crate::listing::{self, Source};
use crate::{
    App, Product, ProductArchiveParams, ProductCategory, ProductCreateParams, ProductGetParams,
    ProductListParams, ProductSearchParams, ProductService, ProductShape, ProductStatus,
    ProductUpdateParams, Provider, ProviderGetParams, ProviderKind, ProviderListParams,
    ProviderRegisterParams, ProviderService, ProviderUpdateParams, Role, User, me,
};

/// The provider kind that may sell a category.
pub fn kind_for(category: ProductCategory) -> ProviderKind {
    match category {
        ProductCategory::ComputeSlice
        | ProductCategory::Node
        | ProductCategory::Gateway
        | ProductCategory::Name => ProviderKind::Resource,
        ProductCategory::App
        | ProductCategory::Worker
        | ProductCategory::Model
        | ProductCategory::Module => ProviderKind::App,
        ProductCategory::Service => ProviderKind::Service,
    }
}

fn role_for(kind: ProviderKind) -> Role {
    match kind {
        ProviderKind::Service => Role::ServiceProvider,
        ProviderKind::App => Role::AppProvider,
        ProviderKind::Resource => Role::ResourceProvider,
    }
}

/// The caller's provider profile of `kind`, if any.
pub fn profile_of<R: Reads>(
    tx: &R,
    owner: market_store::Id,
    kind: ProviderKind,
) -> Result<Option<Provider>, RpcError> {
    Ok(listing::all_of(tx, Provider::BY_OWNER_ID, owner)?
        .into_iter()
        .find(|p| p.kind == kind))
}

fn field(name: &str, reason: &str) -> RpcError {
    RpcError::invalid_fields(BTreeMap::from([(name.to_string(), reason.to_string())]))
}

/// How deep search results can be paged (further matches are not useful,
/// and each page costs the matches before it).
const MAX_SEARCH_OFFSET: usize = 10_000;

/// Largest product, as JSON on the wire: bounds what one product adds to
/// an answer whatever its fields hold.
const MAX_PRODUCT_BYTES: usize = 64 * 1024;

/// `invalid_input` when `product` would be larger than [`MAX_PRODUCT_BYTES`].
fn within_size(product: &Product) -> Result<(), RpcError> {
    let size = serde_json::to_vec(product).map_or(usize::MAX, |v| v.len());
    if size > MAX_PRODUCT_BYTES {
        return Err(field(
            "attributes",
            &format!(
                "the product would take {size} bytes; at most {MAX_PRODUCT_BYTES} (shorten the description or attributes)"
            ),
        ));
    }
    Ok(())
}

/// A product the caller may change: their own (or any, for an admin).
fn owned_product(tx: &WriteTx<'_>, ctx: &Ctx, id: market_store::Id) -> Result<Product, RpcError> {
    Product::get_visible(tx, ctx, id)
}

fn clean_tags(tags: Vec<String>) -> Result<Vec<String>, RpcError> {
    let mut out: Vec<String> = tags
        .into_iter()
        .map(|t| t.trim().to_lowercase())
        .filter(|t| !t.is_empty())
        .collect();
    if out.iter().any(|t| t.chars().count() > 50) {
        return Err(field("tags", "each tag must be at most 50 long"));
    }
    out.sort();
    out.dedup();
    Ok(out)
}

impl ProviderService for App {
    fn register(&self, ctx: &Ctx, p: ProviderRegisterParams) -> Result<Provider, RpcError> {
        let owner = me(ctx)?;
        ctx.write(&self.db, |tx| {
            if profile_of(tx, owner, p.kind)?.is_some() {
                return Err(RpcError::conflict(format!(
                    "you are a {} provider already",
                    p.kind
                )));
            }
            let mut provider = Provider {
                owner_id: owner,
                kind: p.kind,
                name: p.name.trim().to_string(),
                description: p.description.clone(),
                ..Default::default()
            };
            tx.insert(&mut provider)?;
            let mut user: User = tx.load(owner)?;
            let role = role_for(p.kind);
            if !user.roles.contains(&role) {
                user.roles.push(role);
                user.roles.sort();
                tx.update(&mut user, None)?;
            }
            Ok(provider)
        })
    }

    fn get(&self, _ctx: &Ctx, p: ProviderGetParams) -> Result<Provider, RpcError> {
        self.db
            .read(|tx| tx.get::<Provider>(p.id))?
            .ok_or_else(|| RpcError::not_found("provider not found"))
    }

    fn list(&self, _ctx: &Ctx, p: ProviderListParams) -> Result<Page<Stored<Provider>>, RpcError> {
        let page = p.page()?;
        let found = self.db.read(|tx| match (p.owner_id, p.kind) {
            (Some(owner), kind) => {
                let mut mine = Provider::find_by_owner_id(tx, owner, &page)?;
                mine.items
                    .retain(|provider| kind.is_none_or(|k| provider.kind == k));
                Ok(mine)
            }
            (None, Some(kind)) => Provider::find_by_kind(tx, kind, &page),
            (None, None) => tx.list(&page),
        })?;
        Ok(Stored::page(found)?)
    }

    fn update(&self, ctx: &Ctx, p: ProviderUpdateParams) -> Result<Provider, RpcError> {
        ctx.write(&self.db, |tx| {
            let mut provider = Provider::get_visible(tx, ctx, p.id)?;
            p.apply(&mut provider);
            provider.name = provider.name.trim().to_string();
            tx.update(&mut provider, p.expected_version)?;
            Ok(provider)
        })
    }
}

impl ProductService for App {
    fn create(&self, ctx: &Ctx, p: ProductCreateParams) -> Result<Product, RpcError> {
        let owner = me(ctx)?;
        let price = p.price.normalize();
        let tags = clean_tags(p.tags.clone().unwrap_or_default())?;
        if let Some(attributes) = &p.attributes {
            crate::site_catalog::validate_attributes(p.category, attributes)?;
        }
        ctx.write(&self.db, |tx| {
            let kind = kind_for(p.category);
            let provider = profile_of(tx, owner, kind)?.ok_or_else(|| {
                RpcError::forbidden(format!(
                    "selling {} needs a {kind} provider profile: register with provider.register first",
                    p.category
                ))
            })?;
            let mut product = Product {
                provider_id: provider.id,
                owner_id: owner,
                category: p.category,
                name: p.name.trim().to_string(),
                description: p.description.clone(),
                price,
                pricing_unit: p.pricing_unit,
                tags: tags.clone(),
                attributes: p.attributes.clone().unwrap_or_default(),
                stock: p.stock,
                status: if p.draft == Some(true) { ProductStatus::Draft } else { ProductStatus::Active },
                ..Default::default()
            };
            within_size(&product)?;
            tx.insert(&mut product)?;
            Ok(product)
        })
    }

    fn update(&self, ctx: &Ctx, p: ProductUpdateParams) -> Result<Product, RpcError> {
        let tags = p.tags.clone().map(clean_tags).transpose()?;
        if p.status == Some(ProductStatus::Archived) {
            return Err(field("status", "use product.archive to archive a product"));
        }
        ctx.write(&self.db, |tx| {
            let mut product = owned_product(tx, ctx, p.id)?;
            if product.status == ProductStatus::Archived {
                return Err(RpcError::invalid_state("an archived product cannot change"));
            }
            p.apply(&mut product);
            product.name = product.name.trim().to_string();
            product.price = product.price.normalize();
            if let Some(tags) = &tags {
                product.tags = tags.clone();
            }
            if p.attributes.is_some() {
                crate::site_catalog::validate_attributes(product.category, &product.attributes)?;
            }
            within_size(&product)?;
            tx.update(&mut product, p.expected_version)?;
            product_updated(tx, &product)?;
            Ok(product)
        })
    }

    fn archive(&self, ctx: &Ctx, p: ProductArchiveParams) -> Result<Product, RpcError> {
        ctx.write(&self.db, |tx| {
            let mut product = owned_product(tx, ctx, p.id)?;
            if product.status == ProductStatus::Archived {
                return Err(RpcError::invalid_state("the product is archived already"));
            }
            product.status = ProductStatus::Archived;
            tx.update(&mut product, None)?;
            product_updated(tx, &product)?;
            Ok(product)
        })
    }

    fn get(&self, ctx: &Ctx, p: ProductGetParams) -> Result<Product, RpcError> {
        let product: Option<Product> = self.db.read_each(|tx| tx.get(p.id))?;
        product
            .filter(|product| product.status == ProductStatus::Active || ctx.owns(product.owner_id))
            .ok_or_else(Product::not_found)
    }

    fn list(&self, ctx: &Ctx, p: ProductListParams) -> Result<Page<Stored<Product>>, RpcError> {
        let page = p.page()?;
        let provider = p.provider_id.map(|id| id.to_string());
        let tag = p.tag.as_ref().map(|t| t.trim().to_lowercase());
        let keep = |x: &ProductShape| {
            (x.status == ProductStatus::Active || ctx.owns(x.owner_id))
                && p.category.is_none_or(|c| x.category == c)
                && p.provider_id.is_none_or(|id| x.provider_id == id)
                && tag.as_ref().is_none_or(|t| x.tags.contains(t))
        };
        let source = match (&provider, &tag, p.category) {
            (Some(id), _, _) => Source::Index(Product::BY_PROVIDER_ID, id),
            (None, Some(tag), _) => Source::Index(Product::BY_TAGS, tag),
            (None, None, Some(c)) => Source::Index(Product::BY_CATEGORY, c.as_str()),
            (None, None, None) if ctx.is_admin() => Source::All,
            (None, None, None) => Source::Index(Product::BY_STATUS, ProductStatus::Active.as_str()),
        };
        // A signed-in user's own drafts and archived products join the public ones.
        if let (Source::Index(index, _), Some(me)) = (source, ctx.user_id())
            && index == Product::BY_STATUS
        {
            let me = me.to_string();
            return self.db.read(|tx| {
                let mine = listing::union(
                    tx,
                    (Product::BY_STATUS, ProductStatus::Active.as_str()),
                    (Product::BY_OWNER_ID, &me),
                    &page,
                )?;
                Ok(Stored::page(mine)?)
            });
        }
        self.db
            .read(|tx| listing::filtered_stored(tx, source, &page, keep))
    }

    fn search(
        &self,
        _ctx: &Ctx,
        p: ProductSearchParams,
    ) -> Result<Page<Stored<Product>>, RpcError> {
        let page = p.page()?;
        let offset: usize = match &p.cursor {
            None => 0,
            Some(c) => c
                .parse()
                .ok()
                .filter(|o| *o <= MAX_SEARCH_OFFSET)
                .ok_or_else(|| field("cursor", "not a cursor returned by this search"))?,
        };
        self.search.sync(&self.db)?;
        let ids = self.search.query(
            &p.query,
            offset.saturating_add(page.limit).saturating_add(1),
        )?;
        let more = ids.len() > offset + page.limit;
        let items = self.db.read(|tx| {
            let mut items = Vec::with_capacity(page.limit);
            for id in ids.iter().skip(offset).take(page.limit) {
                if let Some(product) = tx
                    .get_shaped::<Product>(*id)?
                    .filter(|x| x.shape.status == ProductStatus::Active)
                {
                    items.push(product.stored);
                }
            }
            Ok::<_, RpcError>(items)
        })?;
        Ok(Page {
            items,
            next_cursor: more.then(|| (offset + page.limit).to_string()),
        })
    }
}

/// `product.updated`: its owner is concerned (admins see every event).
fn product_updated(tx: &mut market_store::WriteTx<'_>, product: &Product) -> Result<(), RpcError> {
    crate::events::emit(
        tx,
        "product.updated",
        "product",
        product.id,
        vec![product.owner_id],
        serde_json::json!({
            "status": product.status.as_str(),
            "name": product.name,
            "price": product.price.to_string(),
            "stock": product.stock,
            "version": product.version,
        }),
    )
}
