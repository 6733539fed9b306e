//! `module.*` and `manifest.*`: the module catalog read from a
//! `marketplace.toml` file, and the installed set of modules as revisions of
//! a `modules.toml` manifest.

use std::collections::BTreeMap;

use market_rpc::{Ctx, RpcError};
use market_store::{Page, Reads, Record, Stored};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use toml::Spanned;

use crate::listing::{self, Source};
use crate::{
    App, CatalogModule, Manifest, ManifestEntry, ManifestGetParams, ManifestHistoryParams,
    ManifestInstallParams, ManifestRevision, ManifestService, ManifestUninstallParams,
    ModuleGetParams, ModuleImport, ModuleImportCatalogParams, ModuleListParams, ModuleService,
    ModuleSource, VERSION,
};

/// The catalog format this server reads (`schema = 1`).
const CATALOG_SCHEMA: i64 = 1;

/// A problem in a catalog file, at a 1-based line and column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl std::fmt::Display for CatalogError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.column, self.message)
    }
}

impl CatalogError {
    fn at(text: &str, offset: usize, message: impl Into<String>) -> CatalogError {
        let (line, column) = line_col(text, offset);
        CatalogError {
            line,
            column,
            message: message.into(),
        }
    }

    fn into_rpc(self) -> RpcError {
        RpcError::invalid_fields(BTreeMap::from([("toml".to_string(), self.to_string())]))
            .with_data("line", serde_json::json!(self.line))
            .with_data("column", serde_json::json!(self.column))
    }
}

/// 1-based line and column (in characters) of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut end = offset.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let before = &text[..end];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogFile {
    schema: Spanned<i64>,
    updated_at: Spanned<toml::Value>,
    #[serde(default)]
    modules: BTreeMap<Spanned<String>, ModuleToml>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ModuleToml {
    slug: Option<Spanned<String>>,
    name: Spanned<String>,
    #[serde(default)]
    description: String,
    source: Spanned<String>,
    #[serde(rename = "crate")]
    crate_name: Option<Spanned<String>>,
    version: Option<Spanned<String>>,
    git: Option<Spanned<String>>,
    rev: Option<Spanned<String>>,
    path: Option<Spanned<String>>,
    #[serde(default)]
    tags: Vec<Spanned<String>>,
    compat: Option<CompatToml>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CompatToml {
    server: Spanned<String>,
}

/// A catalog file, read and checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Catalog {
    pub updated_at: String,
    /// By slug.
    pub modules: BTreeMap<String, CatalogModule>,
}

fn valid_slug(slug: &str) -> bool {
    !slug.is_empty()
        && slug.len() <= 100
        && slug
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && slug
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

/// Is this server's version inside `range`? (`range` has been checked.)
pub fn compatible(range: &str) -> bool {
    match (
        semver::VersionReq::parse(range),
        semver::Version::parse(VERSION),
    ) {
        (Ok(req), Ok(version)) => req.matches(&version),
        _ => false,
    }
}

/// Read a `marketplace.toml` catalog; the first problem names its line and column.
pub fn parse_catalog(text: &str) -> Result<Catalog, CatalogError> {
    let file: CatalogFile = toml::from_str(text).map_err(|e| {
        let offset = e.span().map_or(0, |s| s.start);
        CatalogError::at(text, offset, e.message().trim_end().to_string())
    })?;
    if *file.schema.get_ref() != CATALOG_SCHEMA {
        return Err(CatalogError::at(
            text,
            file.schema.span().start,
            format!(
                "unsupported catalog schema {} (this server reads schema = {CATALOG_SCHEMA})",
                file.schema.get_ref()
            ),
        ));
    }
    let updated_at = match file.updated_at.get_ref() {
        toml::Value::String(s) => s.clone(),
        toml::Value::Datetime(d) => d.to_string(),
        _ => String::new(),
    };
    if updated_at.parse::<market_store::Timestamp>().is_err() {
        return Err(CatalogError::at(
            text,
            file.updated_at.span().start,
            "updated_at must be an RFC 3339 date-time, e.g. 2026-01-01T00:00:00Z",
        ));
    }
    let mut modules = BTreeMap::new();
    for (key, m) in file.modules {
        let module = check_module(text, &key, m, &updated_at)?;
        modules.insert(module.slug.clone(), module);
    }
    Ok(Catalog {
        updated_at,
        modules,
    })
}

fn check_module(
    text: &str,
    key: &Spanned<String>,
    m: ModuleToml,
    updated_at: &str,
) -> Result<CatalogModule, CatalogError> {
    let err = |span: std::ops::Range<usize>, msg: String| CatalogError::at(text, span.start, msg);
    let slug = key.get_ref().clone();
    if !valid_slug(&slug) {
        return Err(err(
            key.span(),
            format!(
                "module slug {slug:?} must be lower-case letters, digits, '-' or '_' (at most 100)"
            ),
        ));
    }
    if let Some(s) = &m.slug
        && s.get_ref() != &slug
    {
        return Err(err(
            s.span(),
            format!(
                "slug {:?} differs from the table name {slug:?}",
                s.get_ref()
            ),
        ));
    }
    let name = m.name.get_ref().trim().to_string();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(err(
            m.name.span(),
            "name must be 1 to 200 characters".into(),
        ));
    }
    if m.description.chars().count() > 10_000 {
        return Err(err(
            key.span(),
            "description must be at most 10000 characters".into(),
        ));
    }
    let source = match m.source.get_ref().parse::<ModuleSource>() {
        Ok(s) => s,
        Err(_) => {
            return Err(err(
                m.source.span(),
                format!(
                    "unknown source {:?} (expected crates-io, git or path)",
                    m.source.get_ref()
                ),
            ));
        }
    };
    if let Some(v) = &m.version
        && semver::Version::parse(v.get_ref()).is_err()
    {
        return Err(err(
            v.span(),
            format!("version {:?} is not a semver version", v.get_ref()),
        ));
    }
    let need = |field: &Option<Spanned<String>>, what: &str| -> Result<(), CatalogError> {
        match field {
            Some(v) if !v.get_ref().trim().is_empty() => Ok(()),
            _ => Err(err(
                m.source.span(),
                format!("source {} needs `{what}`", m.source.get_ref()),
            )),
        }
    };
    match source {
        ModuleSource::CratesIo => {
            need(&m.crate_name, "crate")?;
            need(&m.version, "version")?;
        }
        ModuleSource::Git => {
            need(&m.git, "git")?;
            need(&m.rev, "rev")?;
        }
        ModuleSource::Path => need(&m.path, "path")?,
    }
    let compat_server = match &m.compat {
        Some(c) => {
            let range = c.server.get_ref().trim().to_string();
            if semver::VersionReq::parse(&range).is_err() {
                return Err(err(
                    c.server.span(),
                    format!("compat.server {range:?} is not a semver range"),
                ));
            }
            range
        }
        None => "*".to_string(),
    };
    let mut tags = Vec::with_capacity(m.tags.len());
    for t in &m.tags {
        let tag = t.get_ref().trim().to_lowercase();
        if tag.is_empty() || tag.chars().count() > 50 {
            return Err(err(t.span(), "each tag must be 1 to 50 characters".into()));
        }
        tags.push(tag);
    }
    tags.sort();
    tags.dedup();
    if tags.len() > 20 {
        return Err(err(key.span(), "at most 20 tags per module".into()));
    }
    let text_of = |v: &Option<Spanned<String>>| v.as_ref().map(|s| s.get_ref().trim().to_string());
    Ok(CatalogModule {
        compatible: compatible(&compat_server),
        slug,
        name,
        description: m.description,
        source,
        crate_name: text_of(&m.crate_name),
        module_version: text_of(&m.version),
        git: text_of(&m.git),
        rev: text_of(&m.rev),
        path: text_of(&m.path),
        tags,
        compat_server,
        catalog_updated_at: updated_at.to_string(),
        ..Default::default()
    })
}

/// The catalog fields of a module (what an import compares).
fn same_entry(a: &CatalogModule, b: &CatalogModule) -> bool {
    (
        &a.name,
        &a.description,
        a.source,
        &a.crate_name,
        &a.module_version,
        &a.git,
        &a.rev,
        &a.path,
        &a.tags,
        &a.compat_server,
    ) == (
        &b.name,
        &b.description,
        b.source,
        &b.crate_name,
        &b.module_version,
        &b.git,
        &b.rev,
        &b.path,
        &b.tags,
        &b.compat_server,
    )
}

/// A TOML basic string.
fn quoted(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// The canonical `modules.toml` text of an installed set: modules by slug,
/// keys in a fixed order, so equal sets give equal bytes.
pub fn canonical_manifest(entries: &BTreeMap<String, ManifestEntry>) -> String {
    let mut out = String::from("# modules.toml: the installed modules\nschema = 1\n");
    for (slug, e) in entries {
        out.push_str(&format!("\n[modules.{}]\n", quoted(slug)));
        out.push_str(&format!("source = {}\n", quoted(e.source.as_str())));
        let fields = [
            ("crate", &e.crate_name),
            ("version", &e.version),
            ("git", &e.git),
            ("rev", &e.rev),
            ("path", &e.path),
        ];
        for (key, value) in fields {
            if let Some(v) = value {
                out.push_str(&format!("{key} = {}\n", quoted(v)));
            }
        }
    }
    out
}

/// SHA-256 of a manifest text, as lower-case hex.
pub fn manifest_hash(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

fn module_not_found(slug: &str) -> RpcError {
    RpcError::not_found(format!("no module {slug:?} in the catalog"))
}

fn field(name: &str, reason: impl Into<String>) -> RpcError {
    RpcError::invalid_fields(BTreeMap::from([(name.to_string(), reason.into())]))
}

/// The newest manifest revision, if any.
pub fn current_revision<R: Reads>(tx: &R) -> Result<Option<ManifestRevision>, RpcError> {
    Ok(tx
        .list::<ManifestRevision>(&market_store::PageRequest {
            limit: 1,
            cursor: None,
        })?
        .items
        .into_iter()
        .next())
}

/// The current manifest (revision 0 and no modules before the first change).
pub fn current_manifest<R: Reads>(tx: &R) -> Result<Manifest, RpcError> {
    Ok(match current_revision(tx)? {
        Some(r) => Manifest {
            revision: r.revision,
            manifest: r.manifest,
            manifest_hash: r.manifest_hash,
            modules: r.modules,
            revision_id: Some(r.id),
        },
        None => {
            let text = canonical_manifest(&BTreeMap::new());
            Manifest {
                revision: 0,
                manifest_hash: manifest_hash(&text),
                manifest: text,
                modules: Vec::new(),
                revision_id: None,
            }
        }
    })
}

impl App {
    /// Write a new revision of the manifest with `entries`.
    fn new_revision(
        &self,
        ctx: &Ctx,
        change: &str,
        slug: &str,
        reason: &str,
        edit: impl Fn(&mut BTreeMap<String, ManifestEntry>, &CatalogModule) -> Result<(), RpcError>,
    ) -> Result<ManifestRevision, RpcError> {
        let reason = reason.trim().to_string();
        if reason.is_empty() {
            return Err(field("reason", "say why"));
        }
        ctx.write(&self.db, |tx| {
            let module = CatalogModule::by_slug(tx, slug)?.ok_or_else(|| module_not_found(slug))?;
            let current = current_manifest(tx)?;
            let mut entries: BTreeMap<String, ManifestEntry> = current
                .modules
                .into_iter()
                .map(|e| (e.slug.clone(), e))
                .collect();
            edit(&mut entries, &module)?;
            let manifest = canonical_manifest(&entries);
            let mut revision = ManifestRevision {
                revision: current.revision + 1,
                manifest_hash: manifest_hash(&manifest),
                manifest,
                modules: entries.into_values().collect(),
                change: change.to_string(),
                slug: slug.to_string(),
                reason: reason.clone(),
                actor_id: ctx.actor().actor_id,
                ..Default::default()
            };
            tx.insert(&mut revision)?;
            Ok(revision)
        })
    }
}

impl ModuleService for App {
    fn import_catalog(
        &self,
        ctx: &Ctx,
        p: ModuleImportCatalogParams,
    ) -> Result<ModuleImport, RpcError> {
        let catalog = parse_catalog(&p.toml).map_err(CatalogError::into_rpc)?;
        ctx.write(&self.db, |tx| {
            let (mut created, mut updated, mut unchanged) = (0, 0, 0);
            for module in catalog.modules.values() {
                match CatalogModule::by_slug(tx, &module.slug)? {
                    None => {
                        tx.insert(&mut module.clone())?;
                        created += 1;
                    }
                    Some(old) if same_entry(&old, module) => unchanged += 1,
                    Some(old) => {
                        let mut next = module.clone();
                        next.set_meta(old.meta());
                        tx.update(&mut next, None)?;
                        updated += 1;
                    }
                }
            }
            Ok(ModuleImport {
                created,
                updated,
                unchanged,
                slugs: catalog.modules.keys().cloned().collect(),
                updated_at: catalog.updated_at.clone(),
            })
        })
    }

    fn list(
        &self,
        _ctx: &Ctx,
        p: ModuleListParams,
    ) -> Result<Page<Stored<CatalogModule>>, RpcError> {
        let page = p.page()?;
        let tag = p.tag.as_ref().map(|t| t.trim().to_lowercase());
        let query = p.query.as_ref().map(|q| q.trim().to_lowercase());
        let source = match &tag {
            Some(tag) => Source::Index(CatalogModule::BY_TAGS, tag),
            None => Source::All,
        };
        let mut found = self.db.read(|tx| {
            listing::filtered(tx, source, &page, |m: &CatalogModule| {
                query.as_ref().is_none_or(|q| {
                    m.slug.contains(q.as_str())
                        || m.name.to_lowercase().contains(q.as_str())
                        || m.description.to_lowercase().contains(q.as_str())
                })
            })
        })?;
        for m in &mut found.items {
            m.compatible = compatible(&m.compat_server);
        }
        Ok(Stored::page(found)?)
    }

    fn get(&self, _ctx: &Ctx, p: ModuleGetParams) -> Result<CatalogModule, RpcError> {
        let mut module = self
            .db
            .read(|tx| CatalogModule::by_slug(tx, p.slug.trim()))?
            .ok_or_else(|| module_not_found(&p.slug))?;
        module.compatible = compatible(&module.compat_server);
        Ok(module)
    }
}

impl ManifestService for App {
    fn get(&self, _ctx: &Ctx, _p: ManifestGetParams) -> Result<Manifest, RpcError> {
        self.db.read(|tx| current_manifest(tx))
    }

    fn history(
        &self,
        _ctx: &Ctx,
        p: ManifestHistoryParams,
    ) -> Result<Page<Stored<ManifestRevision>>, RpcError> {
        let page = p.page()?;
        self.db.read(|tx| listing::stored(tx, Source::All, &page))
    }

    fn install(&self, ctx: &Ctx, p: ManifestInstallParams) -> Result<ManifestRevision, RpcError> {
        let pinned = match &p.version {
            Some(v) => Some(
                semver::Version::parse(v.trim())
                    .map_err(|e| field("version", format!("not a semver version: {e}")))?
                    .to_string(),
            ),
            None => None,
        };
        let slug = p.slug.trim().to_string();
        self.new_revision(ctx, "install", &slug, &p.reason, |entries, module| {
            if !compatible(&module.compat_server) {
                return Err(field(
                    "slug",
                    format!(
                        "module {} needs a server in {:?}; this server is {VERSION}",
                        module.slug, module.compat_server
                    ),
                ));
            }
            if pinned.is_some() && module.source != ModuleSource::CratesIo {
                return Err(field(
                    "version",
                    "only crates-io modules can be pinned to another version",
                ));
            }
            let entry = ManifestEntry {
                slug: module.slug.clone(),
                source: module.source,
                crate_name: module.crate_name.clone(),
                version: pinned.clone().or_else(|| module.module_version.clone()),
                git: module.git.clone(),
                rev: module.rev.clone(),
                path: module.path.clone(),
            };
            if entries.get(&module.slug) == Some(&entry) {
                return Err(RpcError::invalid_state(format!(
                    "module {} is installed already as asked",
                    module.slug
                )));
            }
            entries.insert(module.slug.clone(), entry);
            Ok(())
        })
    }

    fn uninstall(
        &self,
        ctx: &Ctx,
        p: ManifestUninstallParams,
    ) -> Result<ManifestRevision, RpcError> {
        let slug = p.slug.trim().to_string();
        self.new_revision(ctx, "uninstall", &slug, &p.reason, |entries, module| {
            entries.remove(&module.slug).map(|_| ()).ok_or_else(|| {
                RpcError::not_found(format!("module {} is not installed", module.slug))
            })
        })
    }
}
