//! `marketplace migrate`, `compact`, `copy`, `backup` and `restore`: the
//! database as a whole. Copies, backups and restores move records as
//! stored (secret fields stay sealed, so no key is needed) and keep ids,
//! versions, timestamps, the ledger and the audit trail as they are.

use std::io::{BufRead, BufWriter, Write};
use std::path::Path;
use std::process::ExitCode;

use indicatif::{ProgressBar, ProgressStyle};
use market_core::generated::ROOT_TABLES;
use market_store::{Db, DbUrl, Item, LOGS, PgBackend};
use serde::{Deserialize, Serialize};

use crate::config::Config;

/// The first line of a backup file.
#[derive(Debug, Serialize, Deserialize)]
struct Header {
    format: String,
    version: u32,
    /// Records in the file (for progress).
    records: u64,
}

const FORMAT: &str = "marketplace-backup";
const VERSION: u32 = 1;
/// Items written per transaction of a restore.
const BATCH: usize = 1000;

fn finish(result: Result<String, String>) -> ExitCode {
    crate::report(result)
}

fn open(url: &str, config: &Config) -> Result<Db, String> {
    Db::open_with(url, ROOT_TABLES, &config.store_settings()).map_err(|e| format!("{url}: {e}"))
}

fn bar(records: u64) -> ProgressBar {
    let bar = ProgressBar::new(records);
    if let Ok(style) =
        ProgressStyle::with_template("{spinner} {msg:10} [{bar:30}] {pos}/{len} ({per_sec})")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// Advance the bar for one item: records fill it, the rest lengthen it.
fn tick(bar: &ProgressBar, item: &Item) {
    let what = match item {
        Item::Record { .. } => "records",
        Item::Audit(_) => {
            bar.inc_length(1);
            "audit"
        }
        Item::Log { .. } => {
            bar.inc_length(1);
            "logs"
        }
        Item::Idempotency { .. } | Item::Snapshot { .. } => {
            bar.inc_length(1);
            "other"
        }
    };
    bar.set_message(what);
    bar.inc(1);
}

fn refuse_non_empty(db: &Db, url: &str, force: bool) -> Result<(), String> {
    if !force && !db.is_empty(ROOT_TABLES).map_err(|e| e.to_string())? {
        return Err(format!(
            "{url} is not empty; pass --force to write into it anyway (records with the same ids are replaced)"
        ));
    }
    Ok(())
}

/// `marketplace migrate`: print or apply what the schema asks of the database.
pub fn migrate(db: Option<String>, dry_run: bool, allow_destructive: bool) -> ExitCode {
    finish((|| {
        let config = crate::admin::config_for(db)?;
        let url = match config.db.parse::<DbUrl>().map_err(|e| e.to_string())? {
            DbUrl::Redb(_) => {
                return Ok(format!(
                    "{}: an embedded database has no SQL schema; nothing to migrate",
                    config.db
                ));
            }
            DbUrl::Postgres(url) => url,
        };
        if dry_run {
            let plan = PgBackend::plan(&url, ROOT_TABLES, LOGS).map_err(|e| e.to_string())?;
            return Ok(if plan.is_empty() {
                "-- the database matches the schema; nothing to do".into()
            } else {
                plan.sql().trim_end().to_string()
            });
        }
        let plan = PgBackend::migrate(&url, ROOT_TABLES, LOGS, allow_destructive)
            .map_err(|e| e.to_string())?;
        Ok(if plan.is_empty() {
            "the database matches the schema; nothing to do".into()
        } else {
            let n = plan.steps.len();
            let noun = if n == 1 { "statement" } else { "statements" };
            format!("applied {n} {noun}:\n{}", plan.sql().trim_end())
        })
    })())
}

/// `marketplace compact`: shrink an embedded database's file to what it holds.
pub fn compact(db: Option<String>) -> ExitCode {
    finish((|| {
        let config = crate::admin::config_for(db)?;
        let path = match config.db.parse::<DbUrl>().map_err(|e| e.to_string())? {
            DbUrl::Redb(path) => path,
            DbUrl::Postgres(_) => {
                return Ok(format!(
                    "{}: PostgreSQL gives space back with VACUUM (autovacuum runs it); nothing to compact",
                    config.db
                ));
            }
        };
        if !path.exists() {
            return Err(format!("{}: no such database", path.display()));
        }
        let (before, after) = market_store::compact(&path).map_err(|e| e.to_string())?;
        let mb = |bytes: u64| bytes as f64 / 1e6;
        Ok(format!(
            "compacted {}: {:.1} MB -> {:.1} MB",
            path.display(),
            mb(before),
            mb(after)
        ))
    })())
}

/// `marketplace copy --from URL --to URL`.
pub fn copy(from: &str, to: &str, force: bool) -> ExitCode {
    finish((|| {
        let config = crate::admin::config_for(None)?;
        let source = open(from, &config)?;
        let target = open(to, &config)?;
        refuse_non_empty(&target, to, force)?;
        let totals = source.totals(ROOT_TABLES).map_err(|e| e.to_string())?;
        let bar = bar(totals.records);
        let n = market_store::copy(&source, &target, ROOT_TABLES, LOGS, &mut |item| {
            tick(&bar, item)
        })
        .map_err(|e| format!("copy failed: {e}"))?;
        bar.finish_and_clear();
        Ok(format!(
            "copied {n} items ({} records) from {} to {}",
            totals.records,
            source.describe(),
            target.describe()
        ))
    })())
}

/// `marketplace backup --db URL --out FILE`: one consistent snapshot.
pub fn backup(db: Option<String>, out: &Path) -> ExitCode {
    finish((|| {
        let config = crate::admin::config_for(db)?;
        let source = open(&config.db, &config)?;
        let totals = source.totals(ROOT_TABLES).map_err(|e| e.to_string())?;
        let partial = out.with_extension("partial");
        let file = std::fs::File::create(&partial)
            .map_err(|e| format!("cannot create {}: {e}", partial.display()))?;
        let mut w = BufWriter::new(file);
        let header = Header {
            format: FORMAT.into(),
            version: VERSION,
            records: totals.records,
        };
        let io = |e: std::io::Error| format!("cannot write {}: {e}", partial.display());
        serde_json::to_writer(&mut w, &header).map_err(|e| e.to_string())?;
        w.write_all(b"\n").map_err(io)?;
        let bar = bar(totals.records);
        let mut n = 0u64;
        source
            .export(ROOT_TABLES, LOGS, &mut |item| {
                let failed = |e: String| market_store::StoreError::Backend(e);
                serde_json::to_writer(&mut w, &item).map_err(|e| failed(e.to_string()))?;
                w.write_all(b"\n").map_err(|e| failed(e.to_string()))?;
                tick(&bar, &item);
                n += 1;
                Ok(())
            })
            .map_err(|e| format!("backup failed: {e}"))?;
        w.flush().map_err(io)?;
        w.get_ref().sync_all().map_err(io)?;
        drop(w);
        std::fs::rename(&partial, out)
            .map_err(|e| format!("cannot rename to {}: {e}", out.display()))?;
        market_store::sync_folder(out)
            .map_err(|e| format!("cannot sync the folder of {}: {e}", out.display()))?;
        bar.finish_and_clear();
        Ok(format!(
            "backed up {n} items ({} records) of {} to {}",
            totals.records,
            source.describe(),
            out.display()
        ))
    })())
}

/// `marketplace restore --db URL FILE`.
pub fn restore(db: Option<String>, file: &Path, force: bool) -> ExitCode {
    finish((|| {
        let config = crate::admin::config_for(db)?;
        let text = std::fs::File::open(file)
            .map_err(|e| format!("cannot open {}: {e}", file.display()))?;
        let mut lines = std::io::BufReader::new(text).lines();
        let bad = |line: usize, e: &dyn std::fmt::Display| {
            format!(
                "{} line {line}: not a marketplace backup ({e})",
                file.display()
            )
        };
        let first = lines
            .next()
            .ok_or_else(|| bad(1, &"the file is empty"))?
            .map_err(|e| bad(1, &e))?;
        let header: Header = serde_json::from_str(&first).map_err(|e| bad(1, &e))?;
        if header.format != FORMAT || header.version > VERSION {
            return Err(bad(
                1,
                &format!("format {} version {}", header.format, header.version),
            ));
        }
        // Check the whole file before writing anything.
        let mut items = Vec::new();
        for (i, line) in lines.enumerate() {
            let line = line.map_err(|e| bad(i + 2, &e))?;
            items.push(serde_json::from_str::<Item>(&line).map_err(|e| bad(i + 2, &e))?);
        }
        let target = open(&config.db, &config)?;
        refuse_non_empty(&target, &config.db, force)?;
        let bar = bar(header.records);
        for chunk in items.chunks(BATCH) {
            target
                .import(ROOT_TABLES, LOGS, chunk)
                .map_err(|e| format!("restore failed: {e}"))?;
            for item in chunk {
                tick(&bar, item);
            }
        }
        bar.finish_and_clear();
        Ok(format!(
            "restored {} items ({} records) into {}",
            items.len(),
            header.records,
            target.describe()
        ))
    })())
}
