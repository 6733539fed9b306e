//! Full-text search over active products with tantivy.
//!
//! The index follows the store's change log: every product write logs a
//! change in its own transaction, and [`SearchIndex::sync`] applies the
//! changes after the last one it applied (kept in the index's commit
//! payload) before each query, so a search always sees the writes before
//! it. A missing, unreadable or stale index is rebuilt from the store, at
//! the first sync after opening: the server starts one in the background
//! ([`crate::App::catch_up_search`]), so start-up never waits for it.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use market_rpc::RpcError;
use market_store::{Actor, ChangeReads, Db, Id, PRUNE_STEP, PageRequest, Reads};
use tantivy::collector::TopDocs;
use tantivy::query::QueryParser;
use tantivy::schema::{Field, STORED, STRING, Schema, TEXT, Value};
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term, doc};

use crate::{Product, ProductStatus};

/// The index writer's memory budget while it applies changes, unless set
/// otherwise (`AppConfig::search_writer_bytes`).
pub const DEFAULT_WRITER_BYTES: usize = 20 << 20;
/// The least budget tantivy takes for its writer.
pub const MIN_WRITER_BYTES: usize = 15_000_000;
/// Changes applied per commit.
const BATCH: usize = 10_000;
/// Changes behind beyond which a sync rebuilds instead (a seed's million
/// products): faster, and the memory of one pass.
const REBUILD_GAP: u64 = 100_000;

struct Fields {
    id: Field,
    name: Field,
    description: Field,
    tags: Field,
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let fields = Fields {
        id: b.add_text_field("id", STRING | STORED),
        name: b.add_text_field("name", TEXT),
        description: b.add_text_field("description", TEXT),
        tags: b.add_text_field("tags", TEXT),
    };
    (b.build(), fields)
}

fn failed(what: &str, e: impl std::fmt::Display) -> RpcError {
    tracing::error!(error = %e, "search index: {what}");
    RpcError::internal()
}

/// The product search index, on disk beside the database or in memory.
/// Changes kept behind the newest on a database several processes share.
const SHARED_LOG_TAIL: u64 = 100_000;

pub struct SearchIndex {
    index: Index,
    reader: IndexReader,
    fields: Fields,
    /// The last change applied; also serialises syncs.
    applied: Mutex<u64>,
    /// Missing, unreadable or out of step when opened: the next sync builds
    /// it again from the store.
    stale: AtomicBool,
    /// The writer's memory budget.
    writer_bytes: usize,
    /// The change log holds no change up to this one (pruned).
    pruned: AtomicU64,
}

impl SearchIndex {
    /// Open the index in `dir` (or in memory), its writer given
    /// `writer_bytes` of memory (at least [`MIN_WRITER_BYTES`]); when it is
    /// missing, unreadable or out of step with `db`, the next sync rebuilds it.
    pub fn open(dir: Option<&Path>, db: &Db, writer_bytes: usize) -> Result<SearchIndex, RpcError> {
        let (schema, fields) = schema();
        let index = match dir {
            None => Index::create_in_ram(schema),
            Some(dir) => open_dir(dir, schema)?,
        };
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .map_err(|e| failed("reader", e))?;
        let applied = index
            .load_metas()
            .ok()
            .and_then(|m| m.payload)
            .and_then(|p| p.strip_prefix("seq:").and_then(|n| n.parse::<u64>().ok()));
        let search = SearchIndex {
            index,
            reader,
            fields,
            applied: Mutex::new(0),
            stale: AtomicBool::new(false),
            writer_bytes: writer_bytes.max(MIN_WRITER_BYTES),
            pruned: AtomicU64::new(0),
        };
        // Usable only if every change after its position is still in the log.
        let (last, next) = db.read(|tx| {
            let next = match applied {
                Some(seq) => tx.changes_after(seq, 1)?.first().map(|c| c.seq),
                None => None,
            };
            Ok::<_, RpcError>((tx.last_change()?, next))
        })?;
        let continuous = |seq: u64| seq == last || next == Some(seq + 1);
        match applied {
            Some(seq) if seq <= last && continuous(seq) => *search.lock() = seq,
            found => {
                tracing::info!(applied = ?found, last, "search index missing or stale; it is rebuilt from the store before the next search");
                search.stale.store(true, Ordering::Release);
            }
        }
        Ok(search)
    }

    /// Forget the logged changes up to `applied`, which the index holds
    /// now, in at most `steps` transactions of [`PRUNE_STEP`] changes (none
    /// when they are gone already). Several processes follow a shared
    /// database's log, each at its own pace: there the log keeps a long
    /// tail, and an index that falls further behind rebuilds.
    fn prune_applied(&self, db: &Db, applied: u64, steps: usize) -> Result<(), RpcError> {
        let upto = if db.is_shared() {
            applied.saturating_sub(SHARED_LOG_TAIL)
        } else {
            applied
        };
        if upto <= self.pruned.load(Ordering::Acquire) {
            return Ok(());
        }
        for _ in 0..steps {
            let forgot = db.write(&Actor::system("search.index"), |tx| tx.prune_changes(upto))?;
            if forgot < PRUNE_STEP {
                self.pruned.fetch_max(upto, Ordering::AcqRel);
                break;
            }
        }
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, u64> {
        self.applied.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn writer(&self) -> Result<IndexWriter, RpcError> {
        self.index
            .writer_with_num_threads(1, self.writer_bytes)
            .map_err(|e| failed("writer", e))
    }

    /// Drop the product's document, if the index holds one.
    fn remove(&self, writer: &IndexWriter, id: Id) {
        writer.delete_term(Term::from_field_text(self.fields.id, &id.to_string()));
    }

    /// Index the product when it is active. (A rebuild adds to an emptied
    /// index: it removes nothing, as every removal is held in memory until
    /// the commit.)
    fn add(&self, writer: &IndexWriter, p: &Product) -> Result<(), RpcError> {
        if p.status == ProductStatus::Active {
            writer
                .add_document(doc!(
                    self.fields.id => p.id.to_string(),
                    self.fields.name => p.name.clone(),
                    self.fields.description => p.description.clone(),
                    self.fields.tags => p.tags.join(" "),
                ))
                .map_err(|e| failed("add", e))?;
        }
        Ok(())
    }

    fn commit(&self, mut writer: IndexWriter, seq: u64) -> Result<(), RpcError> {
        let mut prepared = writer.prepare_commit().map_err(|e| failed("commit", e))?;
        prepared.set_payload(&format!("seq:{seq}"));
        prepared.commit().map_err(|e| failed("commit", e))?;
        self.reader.reload().map_err(|e| failed("reload", e))
    }

    /// Index every product again from the store (`applied`: the held lock).
    fn rebuild(&self, applied: &mut u64, db: &Db) -> Result<(), RpcError> {
        let writer = self.writer()?;
        writer
            .delete_all_documents()
            .map_err(|e| failed("clear", e))?;
        let (last, count) = db.read(|tx| {
            let last = tx.last_change()?;
            let mut cursor = None;
            let mut count = 0usize;
            loop {
                let page = Product::find_by_status(
                    tx,
                    ProductStatus::Active,
                    &PageRequest {
                        limit: 1000,
                        cursor,
                    },
                )?;
                for p in &page.items {
                    self.add(&writer, p)?;
                    count += 1;
                }
                match page.next_cursor {
                    Some(c) => cursor = Some(c),
                    None => return Ok::<_, RpcError>((last, count)),
                }
            }
        })?;
        self.commit(writer, last)?;
        tracing::info!(products = count, "search index rebuilt");
        *applied = last;
        self.stale.store(false, Ordering::Release);
        Ok(())
    }

    /// Apply the changes logged since the last sync (or rebuild a stale
    /// index), then forget up to [`PRUNE_STEP`] of the logged changes the
    /// index holds: a search does this before it answers.
    pub fn sync(&self, db: &Db) -> Result<(), RpcError> {
        let applied = self.catch_up(db)?;
        self.prune_applied(db, applied, 1)
    }

    /// [`SearchIndex::sync`], then forget every logged change the index
    /// holds (a seed's million, say), searches going on meanwhile.
    pub fn sync_and_prune(&self, db: &Db) -> Result<(), RpcError> {
        let applied = self.catch_up(db)?;
        self.prune_applied(db, applied, usize::MAX)
    }

    /// Bring the index up to the change log's end; the last change it holds.
    fn catch_up(&self, db: &Db) -> Result<u64, RpcError> {
        let mut applied = self.lock();
        if self.stale.load(Ordering::Acquire) {
            self.rebuild(&mut applied, db)?;
        }
        loop {
            let (changes, products) = db.read(|tx| {
                let changes = tx.changes_after(*applied, BATCH)?;
                // Changes this index never saw were pruned, or it is so far
                // behind (a full batch and more) that a rebuild is cheaper.
                let pruned = changes.first().is_some_and(|c| c.seq != *applied + 1);
                if pruned
                    || (changes.len() == BATCH
                        && tx.last_change()?.saturating_sub(*applied) > REBUILD_GAP)
                {
                    return Ok::<_, RpcError>((Vec::new(), None));
                }
                let mut products = Vec::with_capacity(changes.len());
                for c in changes.iter().filter(|c| c.kind == "product") {
                    products.push((c.id, tx.get::<Product>(c.id)?));
                }
                Ok::<_, RpcError>((changes, Some(products)))
            })?;
            let Some(products) = products else {
                self.rebuild(&mut applied, db)?;
                return Ok(*applied);
            };
            let Some(last) = changes.last().map(|c| c.seq) else {
                return Ok(*applied);
            };
            let writer = self.writer()?;
            for (id, product) in &products {
                self.remove(&writer, *id);
                if let Some(p) = product {
                    self.add(&writer, p)?;
                }
            }
            self.commit(writer, last)?;
            *applied = last;
            if changes.len() < BATCH {
                return Ok(last);
            }
        }
    }

    /// Ids of the best matches, best first. The text is searched as words:
    /// anything but letters and digits separates them, so no character is
    /// query syntax; text without a word finds nothing.
    pub fn query(&self, text: &str, limit: usize) -> Result<Vec<Id>, RpcError> {
        let words: Vec<String> = text
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
            .collect();
        if words.is_empty() {
            return Ok(Vec::new());
        }
        let mut parser = QueryParser::for_index(
            &self.index,
            vec![self.fields.name, self.fields.tags, self.fields.description],
        );
        parser.set_field_boost(self.fields.name, 4.0);
        parser.set_field_boost(self.fields.tags, 2.0);
        let query = parser.parse_query(&words.join(" ")).map_err(|e| {
            RpcError::invalid_fields(std::collections::BTreeMap::from([(
                "query".to_string(),
                format!("cannot be searched: {e}"),
            )]))
        })?;
        let searcher = self.reader.searcher();
        let hits = searcher
            .search(&query, &TopDocs::with_limit(limit).order_by_score())
            .map_err(|e| failed("search", e))?;
        let mut ids = Vec::with_capacity(hits.len());
        for (_, address) in hits {
            let doc: TantivyDocument = searcher.doc(address).map_err(|e| failed("fetch", e))?;
            if let Some(id) = doc
                .get_first(self.fields.id)
                .and_then(|v| v.as_str())
                .and_then(|s| s.parse().ok())
            {
                ids.push(id);
            }
        }
        Ok(ids)
    }
}

/// Open the index in `dir`, or start a fresh one when it is missing or unreadable.
fn open_dir(dir: &Path, schema: Schema) -> Result<Index, RpcError> {
    if dir.join("meta.json").exists() {
        match Index::open_in_dir(dir) {
            Ok(index) if index.schema() == schema => return Ok(index),
            Ok(_) => {
                tracing::warn!(dir = %dir.display(), "search index has another layout; starting a new one")
            }
            Err(e) => {
                tracing::warn!(dir = %dir.display(), error = %e, "search index unreadable; starting a new one")
            }
        }
    }
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(|e| failed("remove old index", e))?;
    }
    std::fs::create_dir_all(dir).map_err(|e| failed("create index folder", e))?;
    Index::create_in_dir(dir, schema).map_err(|e| failed("create index", e))
}

/// Where the index of a database file lives: beside it.
pub fn index_dir(db_path: &Path) -> PathBuf {
    let mut name = db_path.as_os_str().to_os_string();
    name.push(".search");
    PathBuf::from(name)
}
