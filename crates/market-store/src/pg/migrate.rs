//! Migrations generated from the schema: compare the layout the schema asks
//! for ([`super::sql`]) with what the database holds, and list the steps
//! between them. Adding a table, a column or an index is additive and
//! applies at start-up; dropping one is destructive and needs
//! `marketplace migrate --allow-destructive`. Every applied set of steps
//! is a numbered row of `schema_migrations`; they run in one transaction
//! under an advisory lock, so processes starting together migrate once.

use std::collections::{BTreeMap, BTreeSet};

use postgres::{Client, GenericClient};

use super::sql::{self, BASE_COLUMNS, ident};
use crate::backend::LogSpec;
use crate::error::{Result, StoreError};
use crate::record::TableSpec;

/// The layout of the tables that are not root objects; a database written
/// by a build with a higher number is refused. Format 2 numbers log rows
/// from one sequence per log instead of a counter row.
pub const FORMAT_VERSION: u32 = 2;

/// The advisory lock migrations run under.
const MIGRATION_LOCK: i64 = 0x6d61_726b_6574_0001;

/// One statement of a migration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub sql: String,
    /// It drops something.
    pub destructive: bool,
}

/// What a database needs to match the schema.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub steps: Vec<Step>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    pub fn destructive(&self) -> impl Iterator<Item = &Step> {
        self.steps.iter().filter(|s| s.destructive)
    }

    /// The statements, each ending with `;`, destructive ones marked.
    pub fn sql(&self) -> String {
        self.steps
            .iter()
            .map(|s| {
                if s.destructive {
                    format!("-- destructive\n{};\n", s.sql)
                } else {
                    format!("{};\n", s.sql)
                }
            })
            .collect()
    }
}

/// What the database holds now.
#[derive(Default)]
struct Current {
    /// Table name to its columns.
    tables: BTreeMap<String, BTreeSet<String>>,
    indexes: BTreeSet<String>,
    sequences: BTreeSet<String>,
    /// Tables with a fillfactor set, to its value.
    fillfactors: BTreeMap<String, u32>,
    format: Option<u32>,
}

fn pg(e: postgres::Error) -> StoreError {
    StoreError::Backend(super::describe_error(&e))
}

fn inspect(client: &mut impl GenericClient) -> Result<Current> {
    let mut current = Current::default();
    for row in client
        .query(
            "SELECT table_name::text, column_name::text FROM information_schema.columns \
             WHERE table_schema = current_schema()",
            &[],
        )
        .map_err(pg)?
    {
        current
            .tables
            .entry(row.get(0))
            .or_default()
            .insert(row.get(1));
    }
    for row in client
        .query(
            "SELECT indexname::text FROM pg_indexes WHERE schemaname = current_schema()",
            &[],
        )
        .map_err(pg)?
    {
        current.indexes.insert(row.get(0));
    }
    for row in client
        .query(
            "SELECT sequence_name::text FROM information_schema.sequences \
             WHERE sequence_schema = current_schema()",
            &[],
        )
        .map_err(pg)?
    {
        current.sequences.insert(row.get(0));
    }
    for row in client
        .query(
            "SELECT c.relname::text, substr(o, 12) FROM pg_class c, unnest(c.reloptions) o \
             WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r' \
             AND o LIKE 'fillfactor=%'",
            &[],
        )
        .map_err(pg)?
    {
        let (table, value): (String, String) = (row.get(0), row.get(1));
        let fillfactor = value.parse().map_err(|_| StoreError::Corrupt {
            table,
            reason: format!("fillfactor '{value}' is not a number"),
        })?;
        current.fillfactors.insert(row.get(0), fillfactor);
    }
    if current.tables.contains_key("marketplace_meta") {
        let row = client
            .query_opt(
                "SELECT value FROM marketplace_meta WHERE key = 'format_version'",
                &[],
            )
            .map_err(pg)?;
        if let Some(row) = row {
            let value: String = row.get(0);
            current.format = Some(value.parse().map_err(|_| StoreError::Corrupt {
                table: "marketplace_meta".into(),
                reason: format!("format_version '{value}' is not a number"),
            })?);
        }
    }
    Ok(current)
}

fn step(sql: String) -> Step {
    Step {
        sql,
        destructive: false,
    }
}

fn drop(sql: String) -> Step {
    Step {
        sql,
        destructive: true,
    }
}

fn plan_from(current: &Current, tables: &[TableSpec], logs: &[LogSpec]) -> Result<Plan> {
    if let Some(format) = current.format
        && format > FORMAT_VERSION
    {
        return Err(StoreError::NewerDatabase(format!(
            "the database's format version is {format}, this build knows up to {FORMAT_VERSION}; run a newer marketplace"
        )));
    }
    let mut steps = Vec::new();
    if !current.tables.contains_key("marketplace_meta") {
        steps.extend(sql::base_tables().into_iter().map(step));
        steps.push(step(format!(
            "INSERT INTO marketplace_meta (key, value) VALUES ('format_version', '{FORMAT_VERSION}')"
        )));
    }
    for log in logs {
        let name = sql::log_table(log);
        match current.tables.get(&name) {
            None => steps.extend(sql::create_log(log).into_iter().map(step)),
            Some(columns) => {
                if !current.sequences.contains(&sql::log_sequence(log)) {
                    steps.extend(sql::create_log_sequence(log).into_iter().map(step));
                }
                for column in log.columns.iter().filter(|c| !columns.contains(**c)) {
                    steps.push(step(format!(
                        "ALTER TABLE {name} ADD COLUMN {}",
                        sql::log_column(column)
                    )));
                    steps.push(step(sql::log_column_index(log, column)));
                }
            }
        }
    }
    if current.format.is_some_and(|f| f < FORMAT_VERSION) {
        steps.push(step(format!(
            "UPDATE marketplace_meta SET value = '{FORMAT_VERSION}' WHERE key = 'format_version'"
        )));
    }
    let wanted: BTreeSet<&str> = tables.iter().map(|t| t.kind).collect();
    for t in tables {
        let Some(columns) = current.tables.get(t.kind) else {
            steps.extend(sql::create_table(t).into_iter().map(step));
            continue;
        };
        // `@hot` sets the fillfactor of a table that has none and takes back
        // its own; a value an operator chose is left alone.
        let fillfactor = current.fillfactors.get(t.kind).copied();
        let ours = fillfactor == Some(sql::HOT_FILLFACTOR);
        if (t.hot && fillfactor.is_none()) || (!t.hot && ours) {
            steps.push(step(sql::set_fillfactor(t)));
        }
        for spec in t.indexes {
            if !columns.contains(spec.field) {
                steps.push(step(sql::add_column(t.kind, spec)));
            }
        }
        let wanted_indexes: BTreeSet<String> = t
            .indexes
            .iter()
            .map(|s| sql::index_name(t.kind, s))
            .collect();
        let prefix = format!("{}__", t.kind);
        for index in current
            .indexes
            .iter()
            .filter(|i| i.starts_with(&prefix) && !wanted_indexes.contains(*i))
        {
            steps.push(drop(format!("DROP INDEX {}", ident(index))));
        }
        for spec in t.indexes {
            if !current.indexes.contains(&sql::index_name(t.kind, spec)) {
                steps.push(step(sql::create_index(t.kind, spec)));
            }
        }
        for column in columns
            .iter()
            .filter(|c| !BASE_COLUMNS.contains(&c.as_str()) && t.index(c).is_none())
        {
            steps.push(drop(format!(
                "ALTER TABLE {} DROP COLUMN {}",
                sql::table(t.kind),
                ident(column)
            )));
        }
    }
    for (name, columns) in &current.tables {
        let is_root = BASE_COLUMNS.iter().all(|c| columns.contains(*c));
        if is_root && !sql::is_base_table(name) && !wanted.contains(name.as_str()) {
            steps.push(drop(format!("DROP TABLE {}", sql::table(name))));
        }
    }
    Ok(Plan { steps })
}

/// The steps that would bring the database in line with the schema.
pub fn plan(client: &mut Client, tables: &[TableSpec], logs: &[LogSpec]) -> Result<Plan> {
    let current = inspect(client)?;
    plan_from(&current, tables, logs)
}

/// Apply what the schema asks for, under the migration lock; the plan that
/// was applied. Refuses a plan with destructive steps unless allowed.
pub fn apply(
    client: &mut Client,
    tables: &[TableSpec],
    logs: &[LogSpec],
    allow_destructive: bool,
) -> Result<Plan> {
    let mut tx = client.transaction().map_err(pg)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .map_err(pg)?;
    let current = inspect(&mut tx)?;
    let plan = plan_from(&current, tables, logs)?;
    if plan.is_empty() {
        tx.commit().map_err(pg)?;
        return Ok(plan);
    }
    if !allow_destructive && plan.destructive().next().is_some() {
        let what: Vec<&str> = plan.destructive().map(|s| s.sql.as_str()).collect();
        return Err(StoreError::NeedsDestructiveMigration(what.join("; ")));
    }
    for s in &plan.steps {
        tx.batch_execute(&s.sql).map_err(pg)?;
    }
    let version: i32 = tx
        .query_one(
            "SELECT coalesce(max(version), 0) + 1 FROM schema_migrations",
            &[],
        )
        .map_err(pg)?
        .get(0);
    let description = if plan.destructive().next().is_some() {
        "generated from the schema (destructive)"
    } else {
        "generated from the schema"
    };
    tx.execute(
        "INSERT INTO schema_migrations (version, description, statements) VALUES ($1, $2, $3)",
        &[&version, &description, &plan.sql()],
    )
    .map_err(pg)?;
    tx.commit().map_err(pg)?;
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::IndexSpec;

    const EMAIL: IndexSpec = IndexSpec {
        field: "email",
        unique: true,
        nocase: true,
        list: false,
    };
    const TAGS: IndexSpec = IndexSpec {
        field: "tags",
        unique: false,
        nocase: false,
        list: true,
    };

    #[test]
    fn an_empty_database_gets_every_table_and_index() {
        let tables = [TableSpec {
            kind: "user",
            indexes: &[EMAIL, TAGS],
            hot: false,
        }];
        let plan = plan_from(&Current::default(), &tables, &[]).unwrap();
        let sql = plan.sql();
        assert!(sql.contains("CREATE TABLE \"user\" ("));
        assert!(sql.contains("\"email\" text GENERATED ALWAYS AS (data->>'email') STORED"));
        assert!(sql.contains(
            "CREATE UNIQUE INDEX \"user__email__ci_key\" ON \"user\" (lower(\"email\" COLLATE \"und-x-icu\"))"
        ));
        assert!(sql.contains("CREATE INDEX \"user__tags__idx\" ON \"user\" USING gin (\"tags\")"));
        assert!(plan.destructive().next().is_none());
    }

    /// A database migrated by this build, with no table of the schema yet.
    fn migrated() -> Current {
        let mut current = Current {
            format: Some(FORMAT_VERSION),
            ..Default::default()
        };
        current
            .tables
            .insert("marketplace_meta".into(), BTreeSet::new());
        current
    }

    #[test]
    fn removals_are_destructive_and_additions_are_not() {
        let mut current = migrated();
        let cols: BTreeSet<String> = BASE_COLUMNS
            .iter()
            .map(|c| c.to_string())
            .chain(["old".to_string()])
            .collect();
        current.tables.insert("user".into(), cols.clone());
        current.tables.insert("gone".into(), cols);
        current.indexes.insert("user__old__idx".into());
        let tables = [TableSpec {
            kind: "user",
            indexes: &[EMAIL],
            hot: false,
        }];
        let plan = plan_from(&current, &tables, &[]).unwrap();
        let destructive: Vec<&str> = plan.destructive().map(|s| s.sql.as_str()).collect();
        assert_eq!(
            destructive,
            [
                "DROP INDEX \"user__old__idx\"",
                "ALTER TABLE \"user\" DROP COLUMN \"old\"",
                "DROP TABLE \"gone\""
            ]
        );
        let additive: Vec<&str> = plan
            .steps
            .iter()
            .filter(|s| !s.destructive)
            .map(|s| s.sql.as_str())
            .collect();
        assert_eq!(
            additive,
            [
                "ALTER TABLE \"user\" ADD COLUMN \"email\" text GENERATED ALWAYS AS (data->>'email') STORED",
                "CREATE UNIQUE INDEX \"user__email__ci_key\" ON \"user\" (lower(\"email\" COLLATE \"und-x-icu\"))"
            ]
        );
    }

    #[test]
    fn a_hot_table_leaves_room_on_its_pages_and_changing_that_is_additive_and_leaves_other_values()
    {
        let purse = |hot| TableSpec {
            kind: "purse",
            indexes: &[],
            hot,
        };
        let plan = plan_from(&Current::default(), &[purse(true)], &[]).unwrap();
        assert!(
            plan.sql().contains("\n) WITH (fillfactor = 50);"),
            "{}",
            plan.sql()
        );
        let mut current = migrated();
        let cols: BTreeSet<String> = BASE_COLUMNS.iter().map(|c| c.to_string()).collect();
        current.tables.insert("purse".into(), cols);
        let steps = |current: &Current, hot| {
            let plan = plan_from(current, &[purse(hot)], &[]).unwrap();
            assert!(plan.destructive().next().is_none());
            plan.steps.into_iter().map(|s| s.sql).collect::<Vec<_>>()
        };
        assert_eq!(
            steps(&current, true),
            ["ALTER TABLE \"purse\" SET (fillfactor = 50)"]
        );
        assert!(steps(&current, false).is_empty());
        current.fillfactors.insert("purse".into(), 50);
        assert!(steps(&current, true).is_empty());
        assert_eq!(
            steps(&current, false),
            ["ALTER TABLE \"purse\" RESET (fillfactor)"]
        );
        // a value an operator chose stays, hot or not
        current.fillfactors.insert("purse".into(), 70);
        assert!(steps(&current, true).is_empty());
        assert!(steps(&current, false).is_empty());
    }

    #[test]
    fn a_format_1_log_gets_its_sequence_from_its_highest_number() {
        let log = LogSpec {
            name: "changes",
            json: true,
            columns: &[],
        };
        let mut current = Current {
            format: Some(1),
            ..Default::default()
        };
        for table in ["marketplace_meta", "log_changes"] {
            current.tables.insert(table.into(), BTreeSet::new());
        }
        let plan = plan_from(&current, &[], &[log]).unwrap();
        let steps: Vec<&str> = plan.steps.iter().map(|s| s.sql.as_str()).collect();
        assert_eq!(steps.len(), 3, "{steps:?}");
        assert_eq!(
            steps[0],
            "CREATE SEQUENCE log_changes__seq OWNED BY log_changes.seq"
        );
        assert!(
            steps[1].starts_with("SELECT setval('log_changes__seq', greatest(last, 1), last > 0)")
        );
        assert!(steps[1].contains("SELECT coalesce(max(seq), 0) FROM log_changes"));
        assert!(steps[1].contains("FROM log_seq WHERE name = 'changes'"));
        assert_eq!(
            steps[2],
            format!(
                "UPDATE marketplace_meta SET value = '{FORMAT_VERSION}' WHERE key = 'format_version'"
            )
        );
        assert!(plan.destructive().next().is_none());
    }

    #[test]
    fn a_newer_format_is_refused() {
        let current = Current {
            format: Some(FORMAT_VERSION + 1),
            ..Default::default()
        };
        let err = plan_from(&current, &[], &[]).unwrap_err();
        assert!(matches!(err, StoreError::NewerDatabase(_)), "{err}");
    }
}
