//! The PostgreSQL layout, written once from the schema: table, column and
//! index names and the DDL that makes them. Migrations compare this
//! layout with what the database holds.

use crate::backend::LogSpec;
use crate::record::{IndexSpec, TableSpec};

/// Letter case is folded with ICU's root locale, whatever the database's
/// own locale (a `C` database would fold ASCII only), so `nocase` values
/// compare as on redb (Unicode lower case).
const FOLD: &str = "COLLATE \"und-x-icu\"";

/// `text` in lower case, by Unicode's rules.
fn fold(text: &str) -> String {
    format!("lower({text} {FOLD})")
}

/// Columns every root object's table has, before its indexed fields.
pub const BASE_COLUMNS: &[&str] = &["id", "version", "created_at", "updated_at", "data"];

/// A double-quoted identifier.
pub fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A single-quoted literal.
pub fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

pub fn table(kind: &str) -> String {
    ident(kind)
}

pub fn log_table(log: &LogSpec) -> String {
    format!("log_{}", log.name)
}

/// The name of the index (or unique index) over `spec`; it says what kind
/// of index it is, so a change of kind is a new name.
pub fn index_name(kind: &str, spec: &IndexSpec) -> String {
    let what = match (spec.unique, spec.nocase) {
        (true, true) => "ci_key",
        (true, false) => "key",
        (false, true) => "ci_idx",
        (false, false) => "idx",
    };
    format!("{kind}__{}__{what}", spec.field)
}

/// The generated column of an indexed field: its type and expression.
pub fn column_def(spec: &IndexSpec) -> String {
    let path = literal(spec.field);
    let expr = match (spec.list, spec.nocase) {
        (true, true) => format!(
            "jsonb GENERATED ALWAYS AS ({}::jsonb)",
            fold(&format!("(data->{path})::text"))
        ),
        (true, false) => format!("jsonb GENERATED ALWAYS AS (data->{path})"),
        (false, _) => format!("text GENERATED ALWAYS AS (data->>{path})"),
    };
    format!("{} {expr} STORED", ident(spec.field))
}

pub fn add_column(kind: &str, spec: &IndexSpec) -> String {
    format!(
        "ALTER TABLE {} ADD COLUMN {}",
        table(kind),
        column_def(spec)
    )
}

pub fn create_index(kind: &str, spec: &IndexSpec) -> String {
    let col = ident(spec.field);
    let name = ident(&index_name(kind, spec));
    let t = table(kind);
    if spec.list {
        return format!("CREATE INDEX {name} ON {t} USING gin ({col})");
    }
    let key = if spec.nocase { fold(&col) } else { col };
    if spec.unique {
        format!("CREATE UNIQUE INDEX {name} ON {t} ({key})")
    } else {
        format!("CREATE INDEX {name} ON {t} ({key}, id)")
    }
}

/// How full PostgreSQL fills the pages of a `@hot` table, in percent: the
/// room left lets an update put the new version beside the old (a "HOT"
/// update, which writes no index entry).
pub const HOT_FILLFACTOR: u32 = 50;

/// Set the fillfactor of a `@hot` table, or reset another's to the default.
pub fn set_fillfactor(t: &TableSpec) -> String {
    if t.hot {
        format!(
            "ALTER TABLE {} SET (fillfactor = {HOT_FILLFACTOR})",
            table(t.kind)
        )
    } else {
        format!("ALTER TABLE {} RESET (fillfactor)", table(t.kind))
    }
}

pub fn create_table(t: &TableSpec) -> Vec<String> {
    let mut cols = vec![
        "id text COLLATE \"C\" PRIMARY KEY".to_string(),
        "version bigint NOT NULL".into(),
        "created_at timestamptz NOT NULL".into(),
        "updated_at timestamptz NOT NULL".into(),
        "data jsonb NOT NULL".into(),
    ];
    cols.extend(t.indexes.iter().map(column_def));
    let with = if t.hot {
        format!(" WITH (fillfactor = {HOT_FILLFACTOR})")
    } else {
        String::new()
    };
    let mut out = vec![format!(
        "CREATE TABLE {} (\n    {}\n){with}",
        table(t.kind),
        cols.join(",\n    ")
    )];
    out.extend(t.indexes.iter().map(|s| create_index(t.kind, s)));
    out
}

/// The condition "`spec`'s column holds the value of parameter `n`".
pub fn matches(spec: &IndexSpec, n: usize) -> String {
    let col = ident(spec.field);
    match (spec.list, spec.nocase) {
        (true, true) => format!(
            "{col} @> jsonb_build_array({})",
            fold(&format!("${n}::text"))
        ),
        (true, false) => format!("{col} @> jsonb_build_array(${n}::text)"),
        (false, true) => format!("{} = {}", fold(&col), fold(&format!("${n}::text"))),
        (false, false) => format!("{col} = ${n}::text"),
    }
}

pub fn log_column_index(log: &LogSpec, column: &str) -> String {
    format!(
        "CREATE INDEX {} ON {} ({}, seq)",
        ident(&format!("{}__{column}__idx", log_table(log))),
        log_table(log),
        ident(column)
    )
}

pub fn log_column(column: &str) -> String {
    format!(
        "{} text GENERATED ALWAYS AS (body->>{}) STORED",
        ident(column),
        literal(column)
    )
}

pub fn create_log(log: &LogSpec) -> Vec<String> {
    let body = if log.json { "jsonb" } else { "bytea" };
    let mut cols = vec![
        "seq bigint PRIMARY KEY".to_string(),
        "id text COLLATE \"C\" UNIQUE".into(),
        format!("body {body} NOT NULL"),
    ];
    cols.extend(log.columns.iter().map(|c| log_column(c)));
    let mut out = vec![format!(
        "CREATE TABLE {} (\n    {}\n)",
        log_table(log),
        cols.join(",\n    ")
    )];
    out.extend(log.columns.iter().map(|c| log_column_index(log, c)));
    out.extend(create_log_sequence(log));
    out
}

/// The sequence a log's numbers come from.
pub fn log_sequence(log: &LogSpec) -> String {
    format!("{}__seq", log_table(log))
}

/// The log's sequence, going on from the highest number it holds (or ever
/// held, for a pruned log).
pub fn create_log_sequence(log: &LogSpec) -> [String; 2] {
    let t = log_table(log);
    let s = log_sequence(log);
    [
        format!("CREATE SEQUENCE {s} OWNED BY {t}.seq"),
        format!(
            "SELECT setval('{s}', greatest(last, 1), last > 0) FROM (SELECT greatest(\
             (SELECT coalesce(max(seq), 0) FROM {t}), \
             (SELECT coalesce(max(last), 0) FROM log_seq WHERE name = {})) AS last) AS high",
            literal(log.name)
        ),
    ]
}

/// The tables every marketplace database has, whatever its schema.
pub fn base_tables() -> Vec<String> {
    [
        "CREATE TABLE marketplace_meta (\n    key text PRIMARY KEY,\n    value text NOT NULL\n)",
        "CREATE TABLE schema_migrations (\n    version integer PRIMARY KEY,\n    applied_at timestamptz NOT NULL DEFAULT now(),\n    description text NOT NULL,\n    statements text NOT NULL\n)",
        "CREATE TABLE audit (\n    id text COLLATE \"C\" PRIMARY KEY,\n    at timestamptz NOT NULL,\n    actor_id text NOT NULL,\n    method text NOT NULL,\n    object_type text NOT NULL,\n    object_id text NOT NULL,\n    action text NOT NULL,\n    request_id text NOT NULL\n)",
        "CREATE INDEX audit__actor_id__idx ON audit (actor_id, id)",
        "CREATE INDEX audit__object_id__idx ON audit (object_id, id)",
        "CREATE TABLE idempotency (\n    scope text COLLATE \"C\" PRIMARY KEY,\n    id text NOT NULL,\n    created_at timestamptz NOT NULL,\n    params_hash text NOT NULL,\n    response text NOT NULL\n)",
        "CREATE INDEX idempotency__created_at__idx ON idempotency (created_at)",
        "CREATE TABLE log_seq (\n    name text PRIMARY KEY,\n    last bigint NOT NULL\n)",
        "CREATE TABLE snapshots (\n    name text PRIMARY KEY,\n    data bytea NOT NULL\n)",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// Tables that are not root objects.
pub fn is_base_table(name: &str) -> bool {
    matches!(
        name,
        "marketplace_meta"
            | "schema_migrations"
            | "audit"
            | "idempotency"
            | "log_seq"
            | "snapshots"
    ) || name.starts_with("log_")
}
