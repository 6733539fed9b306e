//! `catalog.*`: the worker and model catalog that static-site builds read
//! (also served as plain `GET /catalog/...`), the validation of worker and
//! model attributes, and the store of the upstream model mirror.

use std::collections::{BTreeMap, BTreeSet};

use market_rpc::{Ctx, RpcError};
use market_store::{Actor, Id, Page, PageRequest, Reads, Timestamp};

use crate::listing::{self, Source};
use crate::{
    App, CatalogItem, CatalogModelsParams, CatalogService, CatalogWorkerParams,
    CatalogWorkersParams, MirrorModel, MirrorSource, ModelPage, ModelSource, Product,
    ProductCategory, ProductStatus,
};

/// Longest `pkgbuild` attribute.
const MAX_PKGBUILD: usize = 64 * 1024;

fn bad(reasons: &mut BTreeMap<String, String>, key: &str, reason: impl Into<String>) {
    reasons.insert(format!("attributes.{key}"), reason.into());
}

/// A comma-separated list of lower-case names (`cpu,cuda`), each matching `ok`.
fn name_list(value: &str, ok: impl Fn(&str) -> bool) -> bool {
    let items: Vec<&str> = value.split(',').map(str::trim).collect();
    !items.is_empty()
        && items
            .iter()
            .all(|i| !i.is_empty() && i.len() <= 50 && ok(i))
}

fn plain_name(s: &str) -> bool {
    s.chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

/// Check the attributes a category gives a meaning to: a worker's
/// `backends`, `platforms` and `pkgbuild`; a model's `source`,
/// `upstream_id`, `size_bytes`, `license` and `nsfw`. Other keys and other
/// categories pass as they are.
pub fn validate_attributes(
    category: ProductCategory,
    attrs: &BTreeMap<String, String>,
) -> Result<(), RpcError> {
    let mut reasons = BTreeMap::new();
    match category {
        ProductCategory::Worker => {
            if let Some(v) = attrs.get("backends")
                && !name_list(v, plain_name)
            {
                bad(
                    &mut reasons,
                    "backends",
                    "a comma-separated list of backends, e.g. `cpu,cuda`",
                );
            }
            if let Some(v) = attrs.get("platforms")
                && !name_list(v, |p| plain_name(p) && p.contains('-'))
            {
                bad(
                    &mut reasons,
                    "platforms",
                    "a comma-separated list of platforms, e.g. `linux-x86_64,linux-aarch64`",
                );
            }
            if let Some(v) = attrs.get("pkgbuild") {
                if v.len() > MAX_PKGBUILD {
                    bad(
                        &mut reasons,
                        "pkgbuild",
                        format!("at most {MAX_PKGBUILD} bytes"),
                    );
                } else if !v.lines().any(|l| l.trim_start().starts_with("pkgname=")) {
                    bad(&mut reasons, "pkgbuild", "a PKGBUILD must set `pkgname=`");
                }
            }
        }
        ProductCategory::Model => {
            if let Some(v) = attrs.get("source")
                && v.parse::<ModelSource>().is_err()
            {
                bad(&mut reasons, "source", "`huggingface` or `civitai`");
            }
            match (attrs.get("source"), attrs.get("upstream_id")) {
                (Some(_), None) => bad(&mut reasons, "upstream_id", "required with `source`"),
                (None, Some(_)) => bad(&mut reasons, "source", "required with `upstream_id`"),
                (_, Some(id)) if id.trim().is_empty() || id.len() > 300 => {
                    bad(&mut reasons, "upstream_id", "1 to 300 characters");
                }
                _ => {}
            }
            if let Some(v) = attrs.get("size_bytes")
                && v.parse::<u64>().is_err()
            {
                bad(&mut reasons, "size_bytes", "a whole number of bytes");
            }
            if let Some(v) = attrs.get("license")
                && (v.trim().is_empty() || v.len() > 100)
            {
                bad(
                    &mut reasons,
                    "license",
                    "1 to 100 characters, e.g. `apache-2.0`",
                );
            }
            if let Some(v) = attrs.get("nsfw")
                && v != "true"
                && v != "false"
            {
                bad(&mut reasons, "nsfw", "`true` or `false`");
            }
        }
        _ => {}
    }
    if reasons.is_empty() {
        Ok(())
    } else {
        Err(RpcError::invalid_fields(reasons))
    }
}

fn item_of(p: &Product) -> CatalogItem {
    CatalogItem {
        id: p.id,
        category: p.category,
        name: p.name.clone(),
        description: p.description.clone(),
        tags: p.tags.clone(),
        attributes: p.attributes.clone(),
        price: Some(p.price),
        pricing_unit: Some(p.pricing_unit),
        provider_id: Some(p.provider_id),
        origin: "product".into(),
        created_at: p.created_at,
        updated_at: p.updated_at,
    }
}

fn item_of_mirror(m: &MirrorModel) -> CatalogItem {
    let mut attributes = BTreeMap::from([
        ("source".to_string(), m.source.to_string()),
        ("upstream_id".to_string(), m.upstream_id.clone()),
        ("nsfw".to_string(), m.nsfw.to_string()),
    ]);
    if let Some(size) = m.size_bytes {
        attributes.insert("size_bytes".into(), size.to_string());
    }
    if let Some(license) = &m.license {
        attributes.insert("license".into(), license.clone());
    }
    CatalogItem {
        id: m.id,
        category: ProductCategory::Model,
        name: m.name.clone(),
        description: m.description.clone(),
        tags: m.tags.clone(),
        attributes,
        price: None,
        pricing_unit: None,
        provider_id: None,
        origin: "mirror".into(),
        created_at: m.created_at,
        updated_at: m.updated_at,
    }
}

/// Every object of a type, newest first.
fn all<T: market_store::Record, R: Reads>(tx: &R) -> Result<Vec<T>, RpcError> {
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let page: Page<T> = tx.list(&PageRequest { limit: 500, cursor })?;
        out.extend(page.items);
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => return Ok(out),
        }
    }
}

/// A model as one upstream lists it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct UpstreamModel {
    pub upstream_id: String,
    pub name: String,
    pub description: String,
    pub tags: Vec<String>,
    pub size_bytes: Option<u64>,
    pub license: Option<String>,
    pub nsfw: bool,
}

impl App {
    /// Store what one upstream answered: its models are upserted (by source
    /// and upstream id) and it stops being stale. The number stored.
    pub fn mirror_store(
        &self,
        url: &str,
        source: ModelSource,
        models: &[UpstreamModel],
    ) -> Result<usize, RpcError> {
        self.db.write(&Actor::system("mirror.refresh"), |tx| {
            let now = tx.now();
            for m in models {
                let key = format!("{source}:{}", m.upstream_id);
                let existing = MirrorModel::by_key(tx, &key)?;
                let mut next = MirrorModel {
                    key: key.clone(),
                    source,
                    upstream_id: m.upstream_id.clone(),
                    name: m.name.clone(),
                    description: m.description.clone(),
                    tags: m.tags.clone(),
                    size_bytes: m.size_bytes,
                    license: m.license.clone(),
                    nsfw: m.nsfw,
                    origin: url.to_string(),
                    fetched_at: now,
                    ..Default::default()
                };
                match existing {
                    None => tx.insert(&mut next)?,
                    Some(old) => {
                        use market_store::Record;
                        next.set_meta(old.meta());
                        tx.update(&mut next, None)?;
                    }
                }
            }
            let mut state = self.mirror_state(tx, url, source)?;
            state.last_attempt_at = Some(now);
            state.last_success_at = Some(now);
            state.last_error = None;
            state.failures = 0;
            state.stale = false;
            save_state(tx, &mut state)?;
            Ok::<_, RpcError>(models.len())
        })
    }

    /// Record that one upstream failed: its models stay, marked stale.
    pub fn mirror_failed(
        &self,
        url: &str,
        source: ModelSource,
        error: &str,
    ) -> Result<u32, RpcError> {
        self.db.write(&Actor::system("mirror.refresh"), |tx| {
            let mut state = self.mirror_state(tx, url, source)?;
            state.last_attempt_at = Some(tx.now());
            state.last_error = Some(error.chars().take(1000).collect());
            state.failures = state.failures.saturating_add(1);
            state.stale = true;
            save_state(tx, &mut state)?;
            Ok::<_, RpcError>(state.failures)
        })
    }

    /// When an upstream last answered in full, if ever.
    pub fn mirror_last_success(&self, url: &str) -> Result<Option<Timestamp>, RpcError> {
        Ok(self
            .db
            .read(|tx| MirrorSource::by_url(tx, url))?
            .and_then(|s| s.last_success_at))
    }

    fn mirror_state<R: Reads>(
        &self,
        tx: &R,
        url: &str,
        source: ModelSource,
    ) -> Result<MirrorSource, RpcError> {
        Ok(
            MirrorSource::by_url(tx, url)?.unwrap_or_else(|| MirrorSource {
                url: url.to_string(),
                source,
                ..Default::default()
            }),
        )
    }
}

fn save_state(
    tx: &mut market_store::WriteTx<'_>,
    state: &mut MirrorSource,
) -> Result<(), RpcError> {
    if state.id.is_nil() {
        tx.insert(state)?;
    } else {
        tx.update(state, None)?;
    }
    Ok(())
}

fn active_worker(p: &Product) -> bool {
    p.category == ProductCategory::Worker && p.status == ProductStatus::Active
}

impl CatalogService for App {
    fn workers(&self, _ctx: &Ctx, p: CatalogWorkersParams) -> Result<Page<CatalogItem>, RpcError> {
        let page = p.page()?;
        let found = self.db.read(|tx| {
            listing::filtered(
                tx,
                Source::Index(Product::BY_CATEGORY, ProductCategory::Worker.as_str()),
                &page,
                active_worker,
            )
        })?;
        Ok(Page {
            items: found.items.iter().map(item_of).collect(),
            next_cursor: found.next_cursor,
        })
    }

    fn worker(&self, _ctx: &Ctx, p: CatalogWorkerParams) -> Result<CatalogItem, RpcError> {
        self.db
            .read(|tx| tx.get::<Product>(p.id))?
            .filter(active_worker)
            .map(|w| item_of(&w))
            .ok_or_else(|| RpcError::not_found("worker not found"))
    }

    fn models(&self, _ctx: &Ctx, p: CatalogModelsParams) -> Result<ModelPage, RpcError> {
        let page = p.page()?;
        let after: Option<Id> = match &page.cursor {
            None => None,
            Some(c) => Some(c.parse().map_err(|_| {
                RpcError::invalid_fields(BTreeMap::from([(
                    "cursor".to_string(),
                    "not a cursor returned by this list".to_string(),
                )]))
            })?),
        };
        let want_nsfw = p.nsfw.unwrap_or(false);
        let keep = |item: &CatalogItem| {
            let nsfw = item.attributes.get("nsfw").is_some_and(|v| v == "true");
            let source = item.attributes.get("source").map(String::as_str);
            (want_nsfw || !nsfw)
                && p.source.is_none_or(|s| source == Some(s.as_str()))
                && after.is_none_or(|a| item.id < a)
        };
        let (mut items, stale) = self.db.read(|tx| {
            let mut items: Vec<CatalogItem> =
                listing::all_of_value(tx, Product::BY_CATEGORY, ProductCategory::Model.as_str())?
                    .iter()
                    .filter(|m| m.status == ProductStatus::Active)
                    .map(item_of)
                    .filter(|i| keep(i))
                    .collect();
            items.extend(
                all::<MirrorModel, _>(tx)?
                    .iter()
                    .filter(|m| p.source.is_none_or(|s| m.source == s))
                    .map(item_of_mirror)
                    .filter(|i| keep(i)),
            );
            let stale = all::<MirrorSource, _>(tx)?
                .iter()
                .any(|s| s.stale && p.source.is_none_or(|want| s.source == want));
            Ok::<_, RpcError>((items, stale))
        })?;
        let mut seen = BTreeSet::new();
        items.retain(|i| seen.insert(i.id));
        items.sort_by_key(|i| std::cmp::Reverse(i.id));
        let next_cursor = if items.len() > page.limit {
            items.truncate(page.limit);
            items.last().map(|i| i.id.to_string())
        } else {
            None
        };
        Ok(ModelPage {
            items,
            next_cursor,
            stale,
        })
    }
}
