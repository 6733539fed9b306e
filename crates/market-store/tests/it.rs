//! Behaviour of the typed store, the same on the redb backend and on
//! PostgreSQL (a throwaway cluster, or the server `MARKETPLACE_TEST_PG` names).

// Tests fail by panicking: unwrap, expect and panic are how they assert.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::sync::Arc;

use market_store::{
    Actor, AuditEntry, AuditFilter, Backend, ChangeReads, Db, DomainEventReads, EventLogReads, Id,
    Index, IndexSpec, IndexValue, LOGS, ManualClock, Meta, PageRequest, PgBackend, PgSettings,
    Reads, Record, RedbBackend, SecretCipher, StoreError, StoreSettings, TableSpec, Timestamp,
    redo_path,
};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Gadget {
    id: Id,
    created_at: Timestamp,
    updated_at: Timestamp,
    version: u64,
    name: String,
    email: String,
    color: Option<String>,
}

impl Record for Gadget {
    const KIND: &'static str = "gadget";
    const LOGGED: bool = true;
    const INDEXES: &'static [IndexSpec] = &[
        IndexSpec {
            field: "email",
            unique: true,
            nocase: true,
            list: false,
        },
        IndexSpec {
            field: "color",
            unique: false,
            nocase: false,
            list: false,
        },
    ];
    fn meta(&self) -> Meta {
        Meta {
            id: self.id,
            created_at: self.created_at,
            updated_at: self.updated_at,
            version: self.version,
        }
    }
    fn set_meta(&mut self, m: Meta) {
        (self.id, self.created_at, self.updated_at, self.version) =
            (m.id, m.created_at, m.updated_at, m.version);
    }
    fn index_values(&self, field: &str) -> Vec<String> {
        match field {
            "email" => self.email.index_values(),
            "color" => self.color.index_values(),
            _ => Vec::new(),
        }
    }
}

/// The gadget's unique email index, as the generator names it.
const BY_EMAIL: Index<Gadget> = Index::new(&Gadget::INDEXES[0]);

fn gadget(name: &str, email: &str, color: Option<&str>) -> Gadget {
    let t = Timestamp::from_unix_millis(0).unwrap();
    Gadget {
        id: Id(ulid::Ulid::nil()),
        created_at: t,
        updated_at: t,
        version: 0,
        name: name.into(),
        email: email.into(),
        color: color.map(Into::into),
    }
}

/// A gadget as stored, for writes through the raw contract.
fn gadget_json(id: Id, at: Timestamp, name: &str, color: &str) -> String {
    format!(
        r#"{{"id":"{id}","created_at":"{at}","updated_at":"{at}","version":1,"name":"{name}","email":"{name}@x.io","color":"{color}"}}"#
    )
}

/// A first version of `data` written at `at`.
fn raw_row(id: Id, at: Timestamp, data: &str) -> market_store::Row<'_> {
    market_store::Row {
        id,
        version: 1,
        created_at: at,
        updated_at: at,
        data: data.as_bytes(),
    }
}

/// Which backend a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum On {
    Redb,
    Postgres,
}

/// The tables of this suite's record types.
const TABLES: &[TableSpec] = &[TableSpec::of::<Gadget>(), TableSpec::of::<Vault>()];

/// Four lanes, so that the concurrency tests run writes side by side.
fn pg_settings() -> PgSettings {
    PgSettings {
        pool_size: 20,
        write_lanes: 4,
        ..PgSettings::default()
    }
}

fn store_settings() -> StoreSettings {
    StoreSettings {
        pg: pg_settings(),
        ..StoreSettings::default()
    }
}

/// A new, empty store on one backend, which can be opened again.
struct Store {
    on: On,
    dir: tempfile::TempDir,
    url: String,
}

impl Store {
    fn new(on: On) -> Store {
        let dir = tempfile::tempdir().unwrap();
        let url = match on {
            On::Redb => format!("redb://{}/sub/test.redb", dir.path().display()),
            On::Postgres => market_pgtest::fresh_database(),
        };
        Store { on, dir, url }
    }

    fn open(&self) -> Arc<dyn Backend> {
        match self.on {
            On::Redb => {
                Arc::new(RedbBackend::open(&self.dir.path().join("sub/test.redb")).unwrap())
            }
            On::Postgres => {
                Arc::new(PgBackend::open(&self.url, TABLES, LOGS, &pg_settings()).unwrap())
            }
        }
    }
}

struct Fixture {
    db: Db,
    clock: Arc<ManualClock>,
    _store: Store,
}

fn fixture(on: On) -> Fixture {
    let store = Store::new(on);
    let clock = Arc::new(ManualClock::new("2026-01-01T00:00:00Z".parse().unwrap()));
    Fixture {
        db: Db::new(store.open(), clock.clone()),
        clock,
        _store: store,
    }
}

/// Each listed case as a test on each backend.
macro_rules! on_both {
    ($($case:ident),* $(,)?) => {
        mod redb {
            $(#[test]
            fn $case() {
                super::$case(super::On::Redb)
            })*
        }
        mod pg {
            $(#[test]
            fn $case() {
                super::$case(super::On::Postgres)
            })*
        }
    };
}

mod faults;

on_both!(
    insert_sets_meta_and_get_reads_it_back,
    update_bumps_version_and_checks_expected_version,
    unique_index_is_case_insensitive_and_follows_updates,
    secondary_index_and_list_paginate_newest_first,
    failed_closure_rolls_back_every_write_and_its_audit,
    every_mutation_is_audited_in_the_same_transaction,
    a_calls_audit_entries_page_and_filter_one_by_one,
    idempotency_records_are_kept_then_purged_by_age,
    concurrent_writers_share_durable_commits_and_nothing_is_lost,
    a_batch_commits_its_writes_together_or_not_at_all,
    secret_fields_need_the_key,
    a_part_of_an_object_reads_without_opening_its_secrets,
    a_listing_passes_records_through_as_the_type_writes_them,
    concurrent_read_modify_writes_lose_no_update,
    events_are_appended_unless_the_database_drops_them,
    failing_writes_amid_concurrent_ones_roll_back_alone,
    an_insert_under_a_stored_id_fails_and_writes_nothing,
    a_lookup_sent_ahead_answers_as_the_lookup_and_sees_later_writes,
    conflicting_writes_leave_no_gap_in_the_event_log,
    the_event_log_finds_what_the_transaction_appended,
);

/// A store on the embedded database at `path`, on the system clock.
fn redb_db(path: &std::path::Path) -> Db {
    Db::new(
        Arc::new(RedbBackend::open(path).unwrap()),
        Arc::new(market_store::SystemClock),
    )
}

fn actor() -> Actor {
    Actor {
        actor_id: "u1".into(),
        method: "gadget.create".into(),
        request_id: "r1".into(),
    }
}

fn insert(db: &Db, g: Gadget) -> Result<Gadget, StoreError> {
    db.write(&actor(), |tx| {
        let mut g = g.clone();
        tx.insert(&mut g)?;
        Ok(g)
    })
}

fn page(limit: usize, cursor: Option<String>) -> PageRequest {
    PageRequest { limit, cursor }
}

fn insert_sets_meta_and_get_reads_it_back(on: On) {
    let f = fixture(on);
    let g = insert(&f.db, gadget("a", "A@x.io", Some("red"))).unwrap();
    assert_eq!(g.version, 1);
    assert_eq!(g.created_at.to_string(), "2026-01-01T00:00:00Z");
    assert_eq!(g.created_at, g.updated_at);
    let back: Gadget = f.db.read(|tx| tx.load(g.id)).unwrap();
    assert_eq!(back, g);
    let missing: Option<Gadget> = f.db.read(|tx| tx.get(f.db.new_id())).unwrap();
    assert!(missing.is_none());
}

fn update_bumps_version_and_checks_expected_version(on: On) {
    let f = fixture(on);
    let mut g = insert(&f.db, gadget("a", "a@x.io", None)).unwrap();
    f.clock.advance_seconds(60);
    g.name = "b".into();
    let g2 =
        f.db.write(&actor(), |tx| {
            let mut g = g.clone();
            tx.update(&mut g, Some(1))?;
            Ok::<_, StoreError>(g)
        })
        .unwrap();
    assert_eq!(g2.version, 2);
    assert_eq!(g2.created_at, g.created_at);
    assert_eq!(g2.updated_at.to_string(), "2026-01-01T00:01:00Z");
    // stale expected_version
    let err =
        f.db.write(&actor(), |tx| {
            let mut g = g2.clone();
            tx.update(&mut g, Some(1))
        })
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::StaleVersion {
                expected: 1,
                actual: 2,
                ..
            }
        ),
        "{err}"
    );
    // stale in-memory copy (read before another write) is refused too
    let err =
        f.db.write(&actor(), |tx| {
            let mut old = g.clone();
            tx.update(&mut old, None)
        })
        .unwrap_err();
    assert!(matches!(err, StoreError::StaleVersion { actual: 2, .. }));
    let stored: Gadget = f.db.read(|tx| tx.load(g.id)).unwrap();
    assert_eq!(stored.name, "b");
    assert_eq!(stored.version, 2);
}

fn unique_index_is_case_insensitive_and_follows_updates(on: On) {
    let f = fixture(on);
    let g = insert(&f.db, gadget("a", "Ann@x.io", None)).unwrap();
    let err = insert(&f.db, gadget("b", "ann@X.IO", None)).unwrap_err();
    assert!(matches!(
        err,
        StoreError::UniqueTaken { field: "email", .. }
    ));
    let found: Option<Gadget> =
        f.db.read(|tx| tx.find_unique_in(BY_EMAIL, "ANN@x.io"))
            .unwrap();
    assert_eq!(found.map(|x| x.id), Some(g.id));
    #[derive(serde::Deserialize)]
    struct Named {
        id: Id,
        name: String,
    }
    let part =
        f.db.read(|tx| tx.find_unique_part_in::<Gadget, Named>(BY_EMAIL, "ANN@x.io"))
            .unwrap()
            .map(|n| (n.id, n.name));
    assert_eq!(part, Some((g.id, "a".to_string())));
    // change the email: the old value is free again, the new one taken
    f.db.write(&actor(), |tx| {
        let mut g = g.clone();
        g.email = "new@x.io".into();
        tx.update(&mut g, None)
    })
    .unwrap();
    insert(&f.db, gadget("c", "ann@x.io", None)).unwrap();
    assert!(insert(&f.db, gadget("d", "NEW@x.io", None)).is_err());
}

fn secondary_index_and_list_paginate_newest_first(on: On) {
    let f = fixture(on);
    let mut reds = Vec::new();
    for i in 0..7 {
        let color = if i % 2 == 0 { "red" } else { "blue" };
        let g = insert(
            &f.db,
            gadget(&format!("g{i}"), &format!("{i}@x.io"), Some(color)),
        )
        .unwrap();
        if color == "red" {
            reds.push(g.id);
        }
    }
    insert(&f.db, gadget("none", "none@x.io", None)).unwrap();
    reds.reverse();
    let p1 =
        f.db.read(|tx| tx.find::<Gadget>("color", "red", &page(3, None)))
            .unwrap();
    assert_eq!(p1.items.iter().map(|g| g.id).collect::<Vec<_>>(), reds[..3]);
    assert!(p1.next_cursor.is_some());
    let p2 =
        f.db.read(|tx| tx.find::<Gadget>("color", "red", &page(3, p1.next_cursor.clone())))
            .unwrap();
    assert_eq!(p2.items.iter().map(|g| g.id).collect::<Vec<_>>(), reds[3..]);
    assert_eq!(p2.next_cursor, None);

    let all = f.db.read(|tx| tx.list::<Gadget>(&page(5, None))).unwrap();
    assert_eq!(all.items.len(), 5);
    assert_eq!(all.items[0].name, "none");
    let rest =
        f.db.read(|tx| tx.list::<Gadget>(&page(5, all.next_cursor.clone())))
            .unwrap();
    assert_eq!(rest.items.len(), 3);
    assert_eq!(rest.items[2].name, "g0");
    assert!(rest.next_cursor.is_none());

    let bad =
        f.db.read(|tx| tx.list::<Gadget>(&page(5, Some("garbage".into()))))
            .unwrap_err();
    assert!(matches!(bad, StoreError::BadCursor));
    let noindex =
        f.db.read(|tx| tx.find::<Gadget>("name", "g1", &page(5, None)))
            .unwrap_err();
    assert!(matches!(noindex, StoreError::NoIndex { .. }));
}

fn failed_closure_rolls_back_every_write_and_its_audit(on: On) {
    let f = fixture(on);
    let err: Result<(), StoreError> = f.db.write(&actor(), |tx| {
        tx.insert(&mut gadget("a", "a@x.io", Some("red")))?;
        tx.insert(&mut gadget("b", "b@x.io", None))?;
        Err(StoreError::Backend("business rule said no".into()))
    });
    assert!(err.is_err());
    let all = f.db.read(|tx| tx.list::<Gadget>(&page(10, None))).unwrap();
    assert!(all.items.is_empty());
    let audit =
        f.db.read(|tx| tx.audit(AuditFilter::All, &page(10, None)))
            .unwrap();
    assert!(audit.items.is_empty());
    let reds =
        f.db.read(|tx| tx.find::<Gadget>("color", "red", &page(10, None)))
            .unwrap();
    assert!(reds.items.is_empty());
    // the email is still free
    insert(&f.db, gadget("a", "a@x.io", None)).unwrap();
}

/// On PostgreSQL the insert is sent ahead and its answer read only when the
/// closure ends: the error must still be the store's, and the closure's
/// other writes must go with it.
fn an_insert_under_a_stored_id_fails_and_writes_nothing(on: On) {
    let f = fixture(on);
    let first = insert(&f.db, gadget("a", "a@x.io", Some("red"))).unwrap();
    let err =
        f.db.write(&actor(), |tx| {
            tx.insert(&mut gadget("b", "b@x.io", Some("red")))?;
            let mut twin = gadget("c", "c@x.io", None);
            twin.id = first.id;
            tx.insert(&mut twin)?;
            Ok::<_, StoreError>(())
        })
        .unwrap_err();
    assert!(
        matches!(err, StoreError::UniqueTaken { field: "id", ref value, .. } if *value == first.id.to_string()),
        "{err:?}"
    );
    let all = f.db.read(|tx| tx.list::<Gadget>(&page(10, None))).unwrap();
    assert_eq!(all.items.len(), 1);
    assert_eq!(all.items[0].name, "a");
    let audit =
        f.db.read(|tx| tx.audit(AuditFilter::All, &page(10, None)))
            .unwrap();
    assert_eq!(audit.items.len(), 1);
    // the store takes writes again
    insert(&f.db, gadget("b", "b@x.io", None)).unwrap();
}

fn a_lookup_sent_ahead_answers_as_the_lookup_and_sees_later_writes(on: On) {
    let f = fixture(on);
    let a = insert(&f.db, gadget("a", "a@x.io", None)).unwrap();
    let email = |g: Option<Gadget>| g.map(|g| (g.id, g.email));
    f.db.write(&actor(), |tx| {
        tx.prefetch_unique_in(BY_EMAIL, "a@x.io")?;
        tx.prefetch_unique_in(BY_EMAIL, "b@x.io")?;
        assert_eq!(
            email(tx.find_unique_in(BY_EMAIL, "a@x.io")?),
            Some((a.id, "a@x.io".to_string()))
        );
        assert_eq!(email(tx.find_unique_in(BY_EMAIL, "b@x.io")?), None);
        // written after the lookups were sent: they ask again
        tx.prefetch_unique_in(BY_EMAIL, "a@x.io")?;
        tx.prefetch_unique_in(BY_EMAIL, "c@x.io")?;
        let mut moved = tx.load::<Gadget>(a.id)?;
        moved.email = "z@x.io".into();
        tx.update(&mut moved, None)?;
        let mut c = gadget("c", "c@x.io", None);
        tx.insert(&mut c)?;
        assert_eq!(email(tx.find_unique_in(BY_EMAIL, "a@x.io")?), None);
        assert_eq!(
            email(tx.find_unique_in(BY_EMAIL, "c@x.io")?),
            Some((c.id, "c@x.io".to_string()))
        );
        Ok::<_, StoreError>(())
    })
    .unwrap();
}

fn every_mutation_is_audited_in_the_same_transaction(on: On) {
    let f = fixture(on);
    let g = insert(&f.db, gadget("a", "a@x.io", Some("red"))).unwrap();
    let other = Actor {
        actor_id: "u2".into(),
        method: "gadget.delete".into(),
        request_id: "r2".into(),
    };
    f.db.write(&other, |tx| tx.delete::<Gadget>(g.id)).unwrap();
    let audit =
        f.db.read(|tx| tx.audit(AuditFilter::All, &page(10, None)))
            .unwrap();
    let summary: Vec<_> = audit
        .items
        .iter()
        .map(|e| {
            (
                e.actor_id.as_str(),
                e.method.as_str(),
                e.action.as_str(),
                e.object_type.as_str(),
                e.object_id,
                e.request_id.as_str(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("u2", "gadget.delete", "delete", "gadget", g.id, "r2"),
            ("u1", "gadget.create", "create", "gadget", g.id, "r1"),
        ]
    );
    let by_actor =
        f.db.read(|tx| tx.audit(AuditFilter::Actor("u1"), &page(10, None)))
            .unwrap();
    assert_eq!(by_actor.items.len(), 1);
    let by_object =
        f.db.read(|tx| tx.audit(AuditFilter::Object(&g.id.to_string()), &page(1, None)))
            .unwrap();
    assert_eq!(by_object.items[0].action, "delete");
    assert!(by_object.next_cursor.is_some());
    // deleted: gone from the table and its indexes
    let reds =
        f.db.read(|tx| tx.find::<Gadget>("color", "red", &page(10, None)))
            .unwrap();
    assert!(reds.items.is_empty());
    assert!(f.db.read(|tx| tx.get::<Gadget>(g.id)).unwrap().is_none());
}

/// All the audit entries of `filter`, newest first, `limit` at a time.
fn audit_pages(db: &Db, filter: AuditFilter<'_>, limit: usize) -> Vec<Vec<AuditEntry>> {
    let mut pages = Vec::new();
    let mut cursor = None;
    loop {
        let got = db
            .read(|tx| tx.audit(filter, &page(limit, cursor.clone())))
            .unwrap();
        pages.push(got.items);
        match got.next_cursor {
            Some(next) => cursor = Some(next),
            None => return pages,
        }
    }
}

/// One call changing several objects (one of them twice) stores its
/// entries together; they still come back one by one, newest first, in
/// pages that may end inside the call, by actor and by object.
fn a_calls_audit_entries_page_and_filter_one_by_one(on: On) {
    let f = fixture(on);
    let made =
        f.db.write(&actor(), |tx| {
            let mut made = Vec::new();
            for name in ["a", "b", "c"] {
                let mut g = gadget(name, &format!("{name}@x.io"), Some("red"));
                tx.insert(&mut g)?;
                made.push(g);
            }
            let mut b = made[1].clone();
            b.color = Some("blue".into());
            tx.update(&mut b, None)?;
            Ok::<_, StoreError>(made)
        })
        .unwrap();
    let other = Actor {
        actor_id: "u2".into(),
        method: "gadget.delete".into(),
        request_id: "r2".into(),
    };
    f.db.write(&other, |tx| tx.delete::<Gadget>(made[0].id))
        .unwrap();
    let (a, b, c) = (made[0].id, made[1].id, made[2].id);
    let summary = |entries: &[AuditEntry]| -> Vec<(String, Id)> {
        entries
            .iter()
            .map(|e| (e.action.clone(), e.object_id))
            .collect()
    };
    let all = vec![
        ("delete".to_string(), a),
        ("update".to_string(), b),
        ("create".to_string(), c),
        ("create".to_string(), b),
        ("create".to_string(), a),
    ];
    for limit in [1, 2, 3, 10] {
        let pages = audit_pages(&f.db, AuditFilter::All, limit);
        assert!(pages.iter().all(|p| p.len() <= limit));
        let entries: Vec<AuditEntry> = pages.concat();
        assert_eq!(summary(&entries), all, "pages of {limit}");
        assert!(entries.windows(2).all(|w| w[0].id > w[1].id));
        assert!(
            entries[1..]
                .iter()
                .all(|e| e.actor_id == "u1" && e.request_id == "r1")
        );
    }
    for limit in [1, 3] {
        let mine = audit_pages(&f.db, AuditFilter::Actor("u1"), limit).concat();
        assert_eq!(summary(&mine), all[1..].to_vec());
        let theirs = audit_pages(&f.db, AuditFilter::Actor("u2"), limit).concat();
        assert_eq!(summary(&theirs), all[..1].to_vec());
        let of_b = audit_pages(&f.db, AuditFilter::Object(&b.to_string()), limit).concat();
        assert_eq!(
            summary(&of_b),
            vec![("update".to_string(), b), ("create".to_string(), b)]
        );
        let of_a = audit_pages(&f.db, AuditFilter::Object(&a.to_string()), limit).concat();
        assert_eq!(summary(&of_a), vec![all[0].clone(), all[4].clone()]);
    }
}

#[test]
fn a_second_open_of_the_same_file_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("held.redb");
    let _first = RedbBackend::open(&path).unwrap();
    let err = RedbBackend::open(&path).err().unwrap();
    assert!(matches!(err, StoreError::Locked { .. }));
    assert!(
        err.to_string().contains("in use by another process"),
        "{err}"
    );
}

#[test]
fn urls_parse() {
    let open = |url: &str| Db::open_with(url, TABLES, &store_settings());
    assert!(matches!(open("mysql://x"), Err(StoreError::BadUrl(_))));
    assert!(matches!(open("redb://"), Err(StoreError::BadUrl(_))));
    assert!(matches!(
        open("postgres://u@h:notaport/db"),
        Err(StoreError::BadUrl(_))
    ));
    let dir = tempfile::tempdir().unwrap();
    let url = format!("redb://{}/a.redb", dir.path().display());
    let db = open(&url).unwrap();
    db.ping().unwrap();
    assert!(db.describe().ends_with("a.redb"));
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Vault {
    id: Id,
    created_at: Timestamp,
    updated_at: Timestamp,
    version: u64,
    label: String,
    code: String,
    spare: Option<String>,
}

impl Record for Vault {
    const KIND: &'static str = "vault";
    const INDEXES: &'static [IndexSpec] = &[];
    const SECRET_FIELDS: &'static [&'static str] = &["code", "spare"];
    fn meta(&self) -> Meta {
        Meta {
            id: self.id,
            created_at: self.created_at,
            updated_at: self.updated_at,
            version: self.version,
        }
    }
    fn set_meta(&mut self, m: Meta) {
        (self.id, self.created_at, self.updated_at, self.version) =
            (m.id, m.created_at, m.updated_at, m.version);
    }
    fn index_values(&self, _field: &str) -> Vec<String> {
        Vec::new()
    }
}

fn vault() -> Vault {
    Vault {
        id: Id::NIL,
        created_at: Timestamp::EPOCH,
        updated_at: Timestamp::EPOCH,
        version: 0,
        label: "visible-label".into(),
        code: "very-secret-code".into(),
        spare: None,
    }
}

/// Store a vault sealed with `key`; its id.
fn store_vault(backend: Arc<dyn Backend>, key: &str) -> Id {
    let db = Db::new(backend, Arc::new(market_store::SystemClock))
        .with_cipher(SecretCipher::from_text(key).unwrap());
    let v = db
        .write(&actor(), |tx| {
            let mut v = vault();
            tx.insert(&mut v)?;
            Ok::<_, StoreError>(v)
        })
        .unwrap();
    let back: Vault = db.read(|tx| tx.load(v.id)).unwrap();
    assert_eq!(back.code, "very-secret-code");
    assert_eq!(back.spare, None);
    v.id
}

fn secret_fields_need_the_key(on: On) {
    let store = Store::new(on);
    let id = store_vault(store.open(), &"3c".repeat(32));
    // without the key, or with another one: a clear error, never the plaintext
    let db = Db::new(store.open(), Arc::new(market_store::SystemClock));
    assert!(matches!(
        db.read(|tx| tx.load::<Vault>(id)),
        Err(StoreError::NoSecretKey)
    ));
    drop(db);
    let other = Db::new(store.open(), Arc::new(market_store::SystemClock))
        .with_cipher(SecretCipher::from_text(&"4d".repeat(32)).unwrap());
    assert!(matches!(
        other.read(|tx| tx.load::<Vault>(id)),
        Err(StoreError::Corrupt { .. })
    ));
}

fn a_part_of_an_object_reads_without_opening_its_secrets(on: On) {
    #[derive(serde::Deserialize)]
    struct Label {
        label: String,
        version: u64,
    }
    #[derive(serde::Deserialize)]
    struct Code {
        code: String,
    }
    let store = Store::new(on);
    let id = store_vault(store.open(), &"3c".repeat(32));
    // no key: the whole object cannot be read, a part without secrets can
    let db = Db::new(store.open(), Arc::new(market_store::SystemClock));
    let part = db.read(|tx| tx.get_part::<Vault, Label>(id)).unwrap();
    let part = part.expect("the vault is there");
    assert_eq!((part.label.as_str(), part.version), ("visible-label", 1));
    let missing = db.read(|tx| tx.get_part::<Vault, Label>(Id::NIL)).unwrap();
    assert!(missing.is_none());
    // a part naming a secret field gets it sealed, never in clear
    let code = db.read(|tx| tx.get_part::<Vault, Code>(id)).unwrap();
    let code = code.expect("the vault is there").code;
    assert!(
        !code.is_empty() && !code.contains("very-secret-code"),
        "{code}"
    );
}

/// A gadget as a listing reads it (what the generator writes for a root
/// object without secrets).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GadgetShape {
    id: Id,
    #[serde(rename = "created_at")]
    _created_at: serde::de::IgnoredAny,
    #[serde(rename = "updated_at")]
    _updated_at: serde::de::IgnoredAny,
    #[serde(rename = "version")]
    _version: serde::de::IgnoredAny,
    #[serde(rename = "name")]
    _name: serde::de::IgnoredAny,
    email: String,
    #[serde(default)]
    color: Option<String>,
}

impl market_store::Verbatim for Gadget {
    type Shape = GadgetShape;

    fn shape_id(shape: &GadgetShape) -> Id {
        shape.id
    }
}

fn a_listing_passes_records_through_as_the_type_writes_them(on: On) {
    let store = Store::new(on);
    let backend = store.open();
    let db = Db::new(backend.clone(), Arc::new(market_store::SystemClock));
    let red = insert(&db, gadget("a", "a@x.io", Some("red"))).unwrap();
    let plain = insert(&db, gadget("b", "b@x.io", None)).unwrap();
    // a record of an older layout: no `color` yet, and a field since renamed
    let at: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
    let old = Id::from_key(&(u128::MAX / 3).to_be_bytes()).unwrap();
    let data = format!(
        r#"{{"id":"{old}","created_at":"{at}","updated_at":"{at}","version":1,"name":"c","email":"c@x.io","hue":"blue"}}"#
    );
    backend
        .write(&mut |raw| {
            raw.insert(&TableSpec::of::<Gadget>(), &raw_row(old, at, &data), &[])?;
            Ok(true)
        })
        .unwrap();

    let all = db
        .read(|tx| tx.list_shaped::<Gadget>(&page(10, None)))
        .unwrap();
    assert_eq!(all.next_cursor, None);
    let ids: Vec<Id> = all.items.iter().map(|x| x.id()).collect();
    assert_eq!(ids, [old, plain.id, red.id], "newest first");
    for item in &all.items {
        let typed: Gadget = db.read(|tx| tx.load(item.id())).unwrap();
        assert_eq!(
            item.stored.json(),
            serde_json::to_string(&typed).unwrap(),
            "each record goes out as its type writes it"
        );
        assert_eq!(item.shape.email, typed.email);
        assert_eq!(item.shape.color, typed.color);
    }
    // the old record went through its type: the renamed field is gone
    assert!(!all.items[0].stored.json().contains("hue"));
    let one = db.read(|tx| tx.get_shaped::<Gadget>(old)).unwrap();
    assert_eq!(
        one.expect("the old record is there").stored.json(),
        all.items[0].stored.json()
    );
    let none = db.read(|tx| tx.get_shaped::<Gadget>(Id::NIL)).unwrap();
    assert!(none.is_none());
    assert!(all.items[0].stored.json().contains(r#""color":null"#));
    // and the answer carries the JSON itself, not a string of it
    let answer = serde_json::to_value(&all.items[2].stored).unwrap();
    assert_eq!(answer["email"], "a@x.io");

    insert(&db, gadget("d", "d@x.io", Some("red"))).unwrap();
    let by_color = Index::<Gadget>::new(&Gadget::INDEXES[1]);
    let first = db
        .read(|tx| tx.find_shaped_in(by_color, "red", &page(1, None)))
        .unwrap();
    assert_eq!(first.items.len(), 1);
    assert_eq!(first.items[0].shape.email, "d@x.io");
    let rest = db
        .read(|tx| tx.find_shaped_in(by_color, "red", &page(1, first.next_cursor.clone())))
        .unwrap();
    assert_eq!(
        rest.items.iter().map(|x| x.id()).collect::<Vec<_>>(),
        [red.id]
    );
    assert_eq!(rest.next_cursor, None);
}

#[test]
fn secret_fields_are_sealed_in_the_redb_file() {
    let store = Store::new(On::Redb);
    store_vault(store.open(), &"3c".repeat(32));
    let bytes = std::fs::read(store.dir.path().join("sub/test.redb")).unwrap();
    let contains = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
    assert!(
        contains(b"visible-label"),
        "plain fields are stored as they are"
    );
    assert!(
        !contains(b"very-secret-code"),
        "secret fields are not stored in clear"
    );
}

fn idempotency_records_are_kept_then_purged_by_age(on: On) {
    use market_store::IdempotencyReads;
    let f = fixture(on);
    f.db.write(&actor(), |tx| {
        tx.put_idempotency("u1/m/k1", "h1", "{\"ok\":true}")
    })
    .unwrap();
    f.clock.advance_seconds(3600);
    f.db.write(&actor(), |tx| tx.put_idempotency("u1/m/k2", "h2", "42"))
        .unwrap();
    let r = f.db.read(|tx| tx.idempotency("u1/m/k1")).unwrap().unwrap();
    assert_eq!(
        (r.params_hash.as_str(), r.response.as_str()),
        ("h1", "{\"ok\":true}")
    );
    // cut off between the two: only the older goes
    let cutoff = f.db.now().add_seconds(-1800);
    assert_eq!(f.db.purge_idempotency(cutoff).unwrap(), 1);
    assert!(f.db.read(|tx| tx.idempotency("u1/m/k1")).unwrap().is_none());
    assert!(f.db.read(|tx| tx.idempotency("u1/m/k2")).unwrap().is_some());
    assert_eq!(f.db.purge_idempotency(cutoff).unwrap(), 0);
}

fn concurrent_writers_share_durable_commits_and_nothing_is_lost(on: On) {
    let store = Store::new(on);
    {
        let db = Arc::new(Db::new(store.open(), Arc::new(market_store::SystemClock)));
        std::thread::scope(|s| {
            for t in 0..16 {
                let db = db.clone();
                s.spawn(move || {
                    for i in 0..25 {
                        insert(
                            &db,
                            gadget(&format!("t{t}-{i}"), &format!("{t}-{i}@x.io"), Some("red")),
                        )
                        .unwrap();
                    }
                });
            }
        });
        // a failing closure in the middle of the crowd leaves no trace
        let failed: Result<(), StoreError> = db.write(&actor(), |tx| {
            tx.insert(&mut gadget("ghost", "ghost@x.io", Some("red")))?;
            Err(StoreError::Backend("no".into()))
        });
        assert!(failed.is_err());
        assert_eq!(db.read(|tx| tx.count::<Gadget>()).unwrap(), 400);
    }
    // everything a writer was told is committed is there after reopening
    let db = Db::new(store.open(), Arc::new(market_store::SystemClock));
    let all = db
        .read(|tx| tx.find::<Gadget>("color", "red", &page(500, None)))
        .unwrap();
    assert_eq!(all.items.len(), 400);
    assert!(all.items.iter().all(|g| g.name != "ghost"));
    assert_eq!(db.read(|tx| tx.count::<Gadget>()).unwrap(), 400);
}

/// Many threads read a record, add one and write it back: the store runs
/// a closure again when another write got in between, so no increment is
/// lost (on PostgreSQL through serialization failures and retries).
fn concurrent_read_modify_writes_lose_no_update(on: On) {
    let f = fixture(on);
    let g = insert(&f.db, gadget("0", "n@x.io", None)).unwrap();
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| {
                for _ in 0..10 {
                    f.db.write(&actor(), |tx| {
                        let mut n: Gadget = tx.load(g.id)?;
                        n.name = (n.name.parse::<u32>().unwrap() + 1).to_string();
                        tx.update(&mut n, None)
                    })
                    .unwrap();
                }
            });
        }
    });
    let n: Gadget = f.db.read(|tx| tx.load(g.id)).unwrap();
    assert_eq!(n.name, "80");
    assert_eq!(n.version, 81);
}

/// An event appended to the board's log is found by id in the same
/// transaction (numbered or not yet) and after it, and appended once.
fn the_event_log_finds_what_the_transaction_appended(on: On) {
    let f = fixture(on);
    let (a, b): (Id, Id) = (
        "01KBD0000000000000000000AA".parse().unwrap(),
        "01KBD0000000000000000000BB".parse().unwrap(),
    );
    let found =
        f.db.write(&actor(), |tx| {
            assert!(tx.append_event_log(a, b"first")?);
            assert!(!tx.append_event_log(a, b"again")?);
            tx.event_log_find(a)
        })
        .unwrap();
    assert_eq!(found.as_deref(), Some(&b"first"[..]));
    let (again, other) =
        f.db.write(&actor(), |tx| {
            Ok::<_, StoreError>((tx.append_event_log(a, b"later")?, tx.event_log_find(b)?))
        })
        .unwrap();
    assert!(!again, "appended once");
    assert_eq!(other, None);
    let stored = f.db.read(|tx| tx.event_log_find(a)).unwrap();
    assert_eq!(stored.as_deref(), Some(&b"first"[..]));
    assert_eq!(f.db.read(|tx| tx.event_log_last()).unwrap(), 1);
}

/// Writes that each read two records and raise the lower one (a write skew
/// if they were not serializable) conflict, run again, and each logs an
/// event: the two stay level, and the event log numbers every committed
/// write once, with no number taken by an attempt that failed.
fn conflicting_writes_leave_no_gap_in_the_event_log(on: On) {
    let f = fixture(on);
    let a = insert(&f.db, gadget("0", "a@x.io", None)).unwrap();
    let b = insert(&f.db, gadget("0", "b@x.io", None)).unwrap();
    std::thread::scope(|s| {
        for t in 0..8 {
            let f = &f;
            s.spawn(move || {
                for i in 0..12 {
                    f.db.write(&actor(), |tx| {
                        let ga: Gadget = tx.load(a.id)?;
                        let gb: Gadget = tx.load(b.id)?;
                        let count = |g: &Gadget| g.name.parse::<u32>().unwrap();
                        let mut low = if count(&gb) < count(&ga) { gb } else { ga };
                        low.name = (count(&low) + 1).to_string();
                        tx.update(&mut low, None)?;
                        tx.emit(market_store::NewEvent {
                            kind: "gadget.raised",
                            object_type: "gadget",
                            object_id: format!("{t}-{i}"),
                            users: Vec::new(),
                            data: serde_json::json!({}),
                        })
                    })
                    .unwrap();
                }
            });
        }
    });
    let (ga, gb): (Gadget, Gadget) =
        f.db.read(|tx| Ok::<_, StoreError>((tx.load(a.id)?, tx.load(b.id)?)))
            .unwrap();
    let (na, nb): (u32, u32) = (ga.name.parse().unwrap(), gb.name.parse().unwrap());
    assert_eq!(na + nb, 96);
    assert!(
        na.abs_diff(nb) <= 1,
        "{na} and {nb}: a write skew got through"
    );
    let last = f.db.read(|tx| tx.last_event_seq()).unwrap();
    let events = f.db.read(|tx| tx.events_after(0, last, 1000)).unwrap();
    assert_eq!(last, 96, "one number per committed write");
    let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=96).collect::<Vec<u64>>());
}

#[test]
fn deferred_writes_are_visible_at_once_and_durable_after_the_wait() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("d.redb");
    {
        let db = redb_db(&path);
        let (ids, pending) = market_store::deferred(|| {
            (0..3)
                .map(|i| {
                    insert(&db, gadget(&format!("g{i}"), &format!("{i}@x.io"), None))
                        .unwrap()
                        .id
                })
                .collect::<Vec<_>>()
        });
        assert!(!pending.is_empty());
        // committed: readable before the wait
        assert_eq!(db.read(|tx| tx.count::<Gadget>()).unwrap(), 3);
        pending.wait().unwrap();
        // outside a scope nothing is pending
        let (_, none) = market_store::deferred(|| ());
        assert!(none.is_empty());
        assert_eq!(ids.len(), 3);
    }
    let db = redb_db(&path);
    assert_eq!(db.read(|tx| tx.count::<Gadget>()).unwrap(), 3);
}

/// A write is durable once its redo log record is: the database file
/// alone is at its last checkpoint, and the files as a crash leaves them
/// (copied while the store is open) open with every acknowledged write.
#[test]
fn a_crash_image_opens_with_every_acknowledged_write_from_the_redo_log() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("live.redb");
    let db = redb_db(&path);
    let gadgets = |from: usize, to: usize| -> Vec<Id> {
        (from..to)
            .map(|i| {
                insert(&db, gadget(&format!("g{i}"), &format!("{i}@x.io"), None))
                    .unwrap()
                    .id
            })
            .collect()
    };
    let mut ids = gadgets(0, 3);
    // A bulk transaction is made durable by a checkpoint, which takes in
    // the writes before it too.
    ids.extend(db.batch(|| Ok::<_, StoreError>(gadgets(3, 5))).unwrap());
    ids.extend(gadgets(5, 8));
    let image = |name: &str, with_log: bool| -> PathBuf {
        let copy = dir.path().join(name);
        std::fs::copy(&path, &copy).unwrap();
        if with_log {
            std::fs::copy(redo_path(&path), redo_path(&copy)).unwrap();
        }
        copy
    };
    let (crashed, without_log) = (image("crashed.redb", true), image("bare.redb", false));
    assert_eq!(
        redb_db(&without_log)
            .read(|tx| tx.count::<Gadget>())
            .unwrap(),
        5
    );
    let back = redb_db(&crashed);
    assert_eq!(back.read(|tx| tx.count::<Gadget>()).unwrap(), 8);
    for id in &ids {
        assert!(back.read(|tx| tx.get::<Gadget>(*id)).unwrap().is_some());
    }
    // The store writes on, and a clean shutdown leaves every write in the
    // database file itself (a checkpoint).
    insert(&back, gadget("after", "after@x.io", None)).unwrap();
    drop(back);
    let bare = dir.path().join("after.redb");
    std::fs::copy(&crashed, &bare).unwrap();
    assert_eq!(redb_db(&bare).read(|tx| tx.count::<Gadget>()).unwrap(), 9);
}

/// Once the redo log holds a quarter of redb's cache (at least 256 KiB),
/// a checkpoint takes its batches into the database file and the log
/// starts again; a crash image after that still opens with every write.
#[test]
fn a_full_redo_log_is_checkpointed_into_the_database_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("live.redb");
    let db = Db::new(
        Arc::new(RedbBackend::open_cached(&path, 1 << 20).unwrap()),
        Arc::new(market_store::SystemClock),
    );
    let name = "x".repeat(2048);
    for i in 0..300 {
        insert(
            &db,
            gadget(&format!("{name}{i}"), &format!("{i}@x.io"), None),
        )
        .unwrap();
    }
    let count = |copy: &PathBuf| redb_db(copy).read(|tx| tx.count::<Gadget>()).unwrap();
    let bare = dir.path().join("bare.redb");
    std::fs::copy(&path, &bare).unwrap();
    let in_file = count(&bare);
    // 300 records of over 2 KiB: at least one checkpoint, and records since.
    assert!((100..300).contains(&in_file), "{in_file} in the file");
    let crashed = dir.path().join("crashed.redb");
    std::fs::copy(&path, &crashed).unwrap();
    std::fs::copy(redo_path(&path), redo_path(&crashed)).unwrap();
    assert_eq!(count(&crashed), 300);
}

fn a_batch_commits_its_writes_together_or_not_at_all(on: On) {
    let f = fixture(on);
    // reads inside see the batch's writes; a nested batch joins
    let seen =
        f.db.batch(|| {
            let a = insert(&f.db, gadget("a", "a@x.io", Some("red")))?;
            let inner =
                f.db.batch(|| insert(&f.db, gadget("b", "b@x.io", Some("red"))))?;
            let back: Gadget = f.db.read(|tx| tx.load(a.id))?;
            assert_eq!(back.name, "a");
            Ok::<_, StoreError>((a.id, inner.id))
        })
        .unwrap();
    assert_eq!(f.db.read(|tx| tx.count::<Gadget>()).unwrap(), 2);
    assert!(f.db.read(|tx| tx.get::<Gadget>(seen.1)).unwrap().is_some());
    // a failed write inside rolls back the whole batch, even if the caller went on
    let err =
        f.db.batch(|| {
            insert(&f.db, gadget("c", "c@x.io", None))?;
            let taken = insert(&f.db, gadget("dup", "A@X.io", None));
            assert!(matches!(taken, Err(StoreError::UniqueTaken { .. })));
            insert(&f.db, gadget("d", "d@x.io", None))
        })
        .unwrap_err();
    assert!(matches!(err, StoreError::BatchFailed), "{err}");
    assert_eq!(f.db.read(|tx| tx.count::<Gadget>()).unwrap(), 2);
    assert!(
        f.db.read(|tx| tx.find_unique_in(BY_EMAIL, "c@x.io"))
            .unwrap()
            .is_none()
    );
    // an error returned by the closure rolls back too, and writes work afterwards
    let err: Result<(), StoreError> = f.db.batch(|| {
        insert(&f.db, gadget("e", "e@x.io", None))?;
        Err(StoreError::Backend("stop".into()))
    });
    assert!(err.is_err());
    insert(&f.db, gadget("f", "f@x.io", None)).unwrap();
    assert_eq!(f.db.read(|tx| tx.count::<Gadget>()).unwrap(), 3);
}

#[test]
fn stored_responses_are_sealed_when_there_is_a_key() {
    use market_store::IdempotencyReads;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("i.redb");
    {
        let db = redb_db(&path).with_cipher(SecretCipher::from_text(&"6e".repeat(32)).unwrap());
        db.write(&actor(), |tx| {
            tx.put_idempotency("u1/apikey.create/k", "h", r#"{"key":"mkk_only-once"}"#)
        })
        .unwrap();
        let back = db
            .read(|tx| tx.idempotency("u1/apikey.create/k"))
            .unwrap()
            .unwrap();
        assert_eq!(back.response, r#"{"key":"mkk_only-once"}"#);
    }
    let bytes = std::fs::read(&path).unwrap();
    assert!(
        !bytes.windows(13).any(|w| w == b"mkk_only-once"),
        "the response is not stored in clear"
    );
}

/// A plain SQL connection to a test database.
fn sql(url: &str) -> postgres::Client {
    postgres::Client::connect(url, postgres::NoTls).unwrap()
}

#[test]
fn postgres_tables_have_real_columns_and_indexes_an_operator_can_query() {
    let f = fixture(On::Postgres);
    let red = insert(&f.db, gadget("a", "Ann@X.io", Some("red"))).unwrap();
    insert(&f.db, gadget("b", "b@x.io", Some("blue"))).unwrap();
    let mut c = sql(&f._store.url);
    let rows = c
        .query(
            "SELECT id, version, data->>'name', email FROM gadget WHERE color = 'red'",
            &[],
        )
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].get::<_, String>(0), red.id.to_string());
    assert_eq!(rows[0].get::<_, i64>(1), 1);
    assert_eq!(rows[0].get::<_, String>(2), "a");
    assert_eq!(rows[0].get::<_, String>(3), "Ann@X.io");
    let indexes: Vec<String> = c
        .query(
            "SELECT indexname::text FROM pg_indexes WHERE tablename = 'gadget' ORDER BY 1",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        indexes,
        ["gadget__color__idx", "gadget__email__ci_key", "gadget_pkey"]
    );
    // the unique index itself refuses another case of the same email
    let err = c
        .execute(
            "INSERT INTO gadget (id, version, created_at, updated_at, data) \
             VALUES ('X', 1, now(), now(), '{\"email\": \"ANN@x.IO\"}')",
            &[],
        )
        .unwrap_err();
    assert_eq!(
        err.code(),
        Some(&postgres::error::SqlState::UNIQUE_VIOLATION),
        "{err:?}"
    );
    let audit: i64 = c
        .query_one(
            "SELECT count(*) FROM audit WHERE object_type = 'gadget'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(audit, 2);
}

#[test]
fn postgres_keeps_secret_fields_sealed_in_jsonb() {
    let store = Store::new(On::Postgres);
    let id = store_vault(store.open(), &"3c".repeat(32));
    let row = sql(&store.url)
        .query_one(
            "SELECT data::text FROM vault WHERE id = $1",
            &[&id.to_string()],
        )
        .unwrap();
    let text: String = row.get(0);
    assert!(text.contains("visible-label"), "{text}");
    assert!(!text.contains("very-secret-code"), "{text}");
}

/// A `gadget.made` event.
fn made() -> market_store::NewEvent {
    market_store::NewEvent {
        kind: "gadget.made",
        object_type: "gadget",
        object_id: "g".into(),
        users: Vec::new(),
        data: serde_json::json!({}),
    }
}

/// A PostgreSQL store holding three events.
fn three_events() -> (Store, Db) {
    let store = Store::new(On::Postgres);
    let db = Db::new(store.open(), Arc::new(market_store::SystemClock));
    for _ in 0..3 {
        db.write(&actor(), |tx| tx.emit(made())).unwrap();
    }
    (store, db)
}

/// The numbers of the events `db` holds, in order.
fn event_numbers(db: &Db) -> Vec<u64> {
    let events = db.read(|tx| tx.events_after(0, 1000, 1000)).unwrap();
    events.iter().map(|e| e.seq).collect()
}

/// A database whose logs were numbered from the counter row (format 1)
/// gets a sequence per log at opening, going on after the highest number
/// each log holds or, pruned, held.
#[test]
fn postgres_format_1_logs_go_on_from_their_numbers() {
    let (store, db) = three_events();
    drop(db);
    let mut c = sql(&store.url);
    c.batch_execute(
        "DROP SEQUENCE log_domain_events__seq; DROP SEQUENCE log_changes__seq; \
         INSERT INTO log_seq (name, last) VALUES ('domain_events', 3), ('changes', 7); \
         UPDATE marketplace_meta SET value = '1' WHERE key = 'format_version'",
    )
    .unwrap();
    let db = Db::new(store.open(), Arc::new(market_store::SystemClock));
    let format: String = c
        .query_one(
            "SELECT value FROM marketplace_meta WHERE key = 'format_version'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(format, market_store::FORMAT_VERSION.to_string());
    db.write(&actor(), |tx| tx.emit(made())).unwrap();
    insert(&db, gadget("after", "after@x.io", None)).unwrap();
    let seqs = event_numbers(&db);
    assert_eq!(seqs, [1, 2, 3, 4]);
    // the change log was pruned up to 7: the next change is 8
    let changes = db.read(|tx| tx.changes_after(0, 100)).unwrap();
    assert_eq!(changes.iter().map(|c| c.seq).collect::<Vec<_>>(), [8]);
    assert_eq!(db.read(|tx| tx.last_change()).unwrap(), 8);
}

/// A log's sequence left behind its rows (a restore beside a running
/// server, hands on the database) makes the next append collide with a
/// stored number: the commit that meets it moves the sequence past the
/// rows as it gives its numbers back, and the write goes through.
#[test]
fn postgres_a_sequence_left_behind_its_log_catches_up() {
    let (store, db) = three_events();
    sql(&store.url)
        .batch_execute("SELECT setval('log_domain_events__seq', 1)")
        .unwrap();
    db.write(&actor(), |tx| tx.emit(made())).unwrap();
    db.write(&actor(), |tx| tx.emit(made())).unwrap();
    let seqs = event_numbers(&db);
    assert_eq!(seqs, [1, 2, 3, 4, 5]);
}

/// The same record type, grown by one indexed field and without another.
mod grown {
    use super::*;

    pub const GROWN: &[IndexSpec] = &[
        IndexSpec {
            field: "email",
            unique: true,
            nocase: true,
            list: false,
        },
        IndexSpec {
            field: "name",
            unique: false,
            nocase: false,
            list: false,
        },
    ];
    pub const TABLES: &[TableSpec] = &[
        TableSpec {
            kind: "gadget",
            indexes: GROWN,
            hot: true,
        },
        TableSpec::of::<Vault>(),
    ];
}

#[test]
fn postgres_migrations_add_by_themselves_and_drop_only_when_allowed() {
    let store = Store::new(On::Postgres);
    let db = Db::new(store.open(), Arc::new(market_store::SystemClock));
    insert(&db, gadget("first", "a@x.io", Some("red"))).unwrap();
    drop(db);
    // a new indexed field: planned as additive, applied at opening, filled from the records;
    // so is the room a table marked hot leaves on its pages
    let plan = PgBackend::plan(&store.url, grown::TABLES, LOGS).unwrap();
    let text = plan.sql();
    assert!(
        text.contains("ALTER TABLE \"gadget\" ADD COLUMN \"name\" text GENERATED ALWAYS AS (data->>'name') STORED;"),
        "{text}"
    );
    assert!(
        text.contains("-- destructive\nDROP INDEX \"gadget__color__idx\";"),
        "{text}"
    );
    assert!(
        text.starts_with("ALTER TABLE \"gadget\" SET (fillfactor = 50);\n"),
        "{text}"
    );
    // the dropped index makes opening refuse, with what it would drop
    let err = PgBackend::open(&store.url, grown::TABLES, LOGS, &pg_settings())
        .err()
        .unwrap();
    assert!(
        matches!(err, StoreError::NeedsDestructiveMigration(_)),
        "{err}"
    );
    assert!(err.to_string().contains("--allow-destructive"), "{err}");
    // nothing was applied
    let mut c = sql(&store.url);
    let versions: i64 = c
        .query_one("SELECT count(*) FROM schema_migrations", &[])
        .unwrap()
        .get(0);
    assert_eq!(versions, 1);
    let applied = PgBackend::migrate(&store.url, grown::TABLES, LOGS, true).unwrap();
    assert_eq!(applied, plan);
    let name: String = c.query_one("SELECT name FROM gadget", &[]).unwrap().get(0);
    assert_eq!(name, "first");
    let options: Vec<String> = c
        .query_one(
            "SELECT reloptions::text[] FROM pg_class WHERE relname = 'gadget'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(options, ["fillfactor=50"]);
    let versions: Vec<i32> = c
        .query("SELECT version FROM schema_migrations ORDER BY 1", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(versions, [1, 2]);
    assert!(
        PgBackend::plan(&store.url, grown::TABLES, LOGS)
            .unwrap()
            .is_empty()
    );
    // a database migrated further than this build (format version) is refused
    c.execute(
        "UPDATE marketplace_meta SET value = '99' WHERE key = 'format_version'",
        &[],
    )
    .unwrap();
    let err = PgBackend::open(&store.url, grown::TABLES, LOGS, &pg_settings())
        .err()
        .unwrap();
    assert!(matches!(err, StoreError::NewerDatabase(_)), "{err}");
}

#[test]
fn postgres_connection_errors_are_one_clear_line() {
    let base = market_pgtest::server_url();
    let missing = market_pgtest::with_database(base, "no_such_database");
    let err = Db::open_with(&missing, TABLES, &store_settings())
        .err()
        .unwrap();
    assert!(matches!(err, StoreError::Connect(_)), "{err}");
    assert!(
        err.to_string()
            .contains("\"no_such_database\" does not exist"),
        "{err}"
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let unreachable = format!("postgres://u:p@127.0.0.1:{port}/db");
    let err = Db::open_with(&unreachable, TABLES, &store_settings())
        .err()
        .unwrap();
    assert!(matches!(err, StoreError::Connect(_)), "{err}");
    assert!(
        err.to_string().starts_with(&format!(
            "cannot connect to postgres://u@127.0.0.1:{port}/db"
        )),
        "{err}"
    );
    assert!(!err.to_string().contains('\n'), "{err}");
}

/// On PostgreSQL a closure's writes are answered in the round trip that
/// also releases its savepoint. An update that finds no row (which the
/// typed layer never sends: it loads the record first) is found out only
/// then: the shared transaction is rolled back, the writes that shared it
/// run again and commit, and that write alone fails.
#[test]
fn postgres_an_update_that_finds_no_row_fails_alone() {
    let store = Store::new(On::Postgres);
    let backend = store.open();
    let clock = Arc::new(ManualClock::new("2026-01-01T00:00:00Z".parse().unwrap()));
    let db = Db::new(backend.clone(), clock);
    let table = TableSpec::of::<Gadget>();
    let at: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
    std::thread::scope(|s| {
        for t in 0..6 {
            let db = &db;
            s.spawn(move || {
                for i in 0..10 {
                    let name = format!("t{t}-{i}");
                    insert(db, gadget(&name, &format!("{name}@x.io"), Some("green"))).unwrap();
                }
            });
        }
        let (backend, table) = (&backend, &table);
        s.spawn(move || {
            for i in 0..10u128 {
                let ghost = Id::from_key(&(u128::MAX - i).to_be_bytes()).unwrap();
                let row = market_store::Row {
                    id: ghost,
                    version: 2,
                    created_at: at,
                    updated_at: at,
                    data: br#"{"name": "ghost"}"#,
                };
                // a record inserted beside it goes out in the same
                // statement, and goes with it
                let partner = Id::from_key(&(u128::MAX / 2 - i).to_be_bytes()).unwrap();
                let data = gadget_json(partner, at, &format!("partner-{i}"), "green");
                let inserted = raw_row(partner, at, &data);
                let err = backend
                    .write(&mut |raw| {
                        raw.insert(table, &inserted, &[])?;
                        raw.update(table, &row, &[], &[])?;
                        Ok(true)
                    })
                    .unwrap_err();
                assert!(
                    matches!(err, StoreError::NotFound { kind: "gadget", ref id } if *id == ghost.to_string()),
                    "{err:?}"
                );
            }
        });
    });
    let green = db
        .read(|tx| tx.find::<Gadget>("color", "green", &page(100, None)))
        .unwrap();
    assert_eq!(green.items.len(), 60);
    let audit = db
        .read(|tx| tx.audit(AuditFilter::All, &page(100, None)))
        .unwrap();
    assert_eq!(audit.items.len(), 60, "one audit entry per kept write");
}

/// Writes sent as one statement: a taken id among several inserts into
/// one table is told as that insert's, and none of them is kept.
#[test]
fn postgres_a_taken_id_among_writes_sent_together_is_named() {
    let store = Store::new(On::Postgres);
    let backend = store.open();
    let db = Db::new(backend.clone(), Arc::new(market_store::SystemClock));
    let stored = insert(&db, gadget("a", "a@x.io", Some("red"))).unwrap();
    let table = TableSpec::of::<Gadget>();
    let at: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
    let fresh = Id::from_key(&7u128.to_be_bytes()).unwrap();
    let (first, second) = (
        gadget_json(fresh, at, "b", "red"),
        gadget_json(stored.id, at, "c", "red"),
    );
    let rows = [(fresh, &first), (stored.id, &second)].map(|(id, data)| raw_row(id, at, data));
    let err = backend
        .write(&mut |raw| {
            for row in &rows {
                raw.insert(&table, row, &[])?;
            }
            Ok(true)
        })
        .unwrap_err();
    assert!(
        matches!(err, StoreError::UniqueTaken { kind: "gadget", field: "id", ref value } if *value == stored.id.to_string()),
        "{err:?}"
    );
    let all = db.read(|tx| tx.list::<Gadget>(&page(10, None))).unwrap();
    assert_eq!(all.items.len(), 1);
    assert_eq!(all.items[0].name, "a");
}

#[test]
fn postgres_jobs_run_in_one_process_at_a_time() {
    let store = Store::new(On::Postgres);
    let a = Db::new(store.open(), Arc::new(market_store::SystemClock));
    let b = Db::new(store.open(), Arc::new(market_store::SystemClock));
    assert!(a.is_shared());
    let inner = a
        .exclusive("sweep", || b.exclusive("sweep", || ()).unwrap())
        .unwrap();
    assert_eq!(
        inner,
        Some(None),
        "the second process skips while the first runs"
    );
    assert_eq!(
        b.exclusive("sweep", || 7).unwrap(),
        Some(7),
        "free again afterwards"
    );
    assert_eq!(
        a.exclusive("sweep", || b.exclusive("other", || 1).unwrap())
            .unwrap(),
        Some(Some(1)),
        "jobs of other names run meanwhile"
    );
}

fn events_are_appended_unless_the_database_drops_them(on: On) {
    let f = fixture(on);
    let event = || market_store::NewEvent {
        kind: "gadget.made",
        object_type: "gadget",
        object_id: "g1".into(),
        users: Vec::new(),
        data: serde_json::json!({"n": 1}),
    };
    let before = f.db.events().durable();
    f.db.write(&actor(), |tx| {
        tx.emit(event())?;
        tx.emit(event())
    })
    .unwrap();
    let last = f.db.read(|tx| tx.last_event_seq()).unwrap();
    assert_eq!(last, before + 2);
    // The bell rings with the write's last event, whether its number was
    // known at once (redb) or came back with the write (PostgreSQL).
    assert_eq!(f.db.events().durable(), last);
    let Fixture { db, _store, .. } = fixture(on);
    let dropping = db.without_domain_events();
    let g = dropping
        .write(&actor(), |tx| {
            let mut g = gadget("b", "b@x.io", None);
            tx.insert(&mut g)?;
            tx.emit(event())?;
            Ok::<_, StoreError>(g)
        })
        .unwrap();
    assert_eq!(
        dropping.read(|tx| tx.last_event_seq()).unwrap(),
        0,
        "nothing appended"
    );
    assert_eq!(dropping.events().durable(), 0);
    let back: Gadget = dropping.read(|tx| tx.load(g.id)).unwrap();
    assert_eq!(back, g, "the write itself commits");
}

/// Concurrent writes share commits (on PostgreSQL one transaction, each
/// write in its own savepoint): a write that fails, by its own error, by a
/// unique value taken or by an id taken (found only when the answers of
/// its writes, sent ahead on PostgreSQL, come back), takes back its rows
/// and its event and nothing of its neighbours'.
fn failing_writes_amid_concurrent_ones_roll_back_alone(on: On) {
    let f = fixture(on);
    let db = &f.db;
    let event = |n: String| market_store::NewEvent {
        kind: "gadget.made",
        object_type: "gadget",
        object_id: n,
        users: Vec::new(),
        data: serde_json::json!({}),
    };
    let taken = insert(db, gadget("taken", "taken@x.io", None)).unwrap();
    let kept = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for t in 0..12 {
            let kept = &kept;
            s.spawn(move || {
                for i in 0..16 {
                    let name = format!("t{t}-{i}");
                    let result: Result<(), StoreError> = db.write(&actor(), |tx| {
                        let email = match i % 4 {
                            // a unique value another write holds
                            1 => "TAKEN@x.io".to_string(),
                            _ => format!("{name}@x.io"),
                        };
                        let mut g = gadget(&name, &email, Some("blue"));
                        if i % 4 == 3 {
                            // an id another record holds
                            g.id = taken.id;
                        }
                        tx.insert(&mut g)?;
                        tx.emit(event(name.clone()))?;
                        if i % 4 == 2 {
                            return Err(StoreError::Backend("the closure refuses".into()));
                        }
                        Ok(())
                    });
                    match i % 4 {
                        0 => {
                            result.unwrap();
                            kept.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                        3 => assert!(
                            matches!(result, Err(StoreError::UniqueTaken { field: "id", .. })),
                            "{name}: {result:?}"
                        ),
                        _ => assert!(result.is_err(), "{name} must fail"),
                    }
                }
            });
        }
    });
    let kept = kept.into_inner();
    assert_eq!(kept, 12 * 4);
    let blue = db
        .read(|tx| tx.find::<Gadget>("color", "blue", &page(500, None)))
        .unwrap();
    assert_eq!(blue.items.len(), kept);
    for g in &blue.items {
        let i: usize = g.name.rsplit('-').next().unwrap().parse().unwrap();
        assert_eq!(i % 4, 0, "{} should have been taken back", g.name);
    }
    let back: Gadget = db.read(|tx| tx.load(taken.id)).unwrap();
    assert_eq!(back, taken, "the record whose id was taken is untouched");
    let events = db.read(|tx| tx.last_event_seq()).unwrap();
    assert_eq!(
        usize::try_from(events).unwrap(),
        kept,
        "one event per kept write, no gap"
    );
}

/// Writes that arrive while one runs wait for it, then join the same
/// batch: one durable commit covers them all, and the one that fails in
/// the middle rolls back alone.
#[test]
fn writes_on_their_way_share_one_durable_commit_and_a_failing_one_rolls_back_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("b.redb");
    let db = redb_db(&path);
    let before = db.write_stats();
    let (started, first_runs) = std::sync::mpsc::channel();
    let (release, go) = std::sync::mpsc::channel::<()>();
    let held = std::thread::scope(|s| {
        let db = &db;
        s.spawn(move || {
            db.write(&actor(), |tx| {
                tx.insert(&mut gadget("first", "first@x.io", None))?;
                started.send(()).unwrap();
                go.recv().unwrap();
                Ok::<_, StoreError>(())
            })
            .unwrap();
        });
        first_runs.recv().unwrap();
        let held = std::time::Instant::now();
        let others: Vec<_> = ["second", "third", "fourth"]
            .into_iter()
            .map(|name| {
                s.spawn(move || {
                    db.write(&actor(), |tx| {
                        tx.insert(&mut gadget(name, &format!("{name}@x.io"), None))?;
                        if name == "third" {
                            return Err(StoreError::Backend("third refuses".into()));
                        }
                        Ok(())
                    })
                })
            })
            .collect();
        // every write is on its way before the first one ends
        while db.write_stats().queued < 4 {
            std::thread::yield_now();
        }
        let held = held.elapsed();
        release.send(()).unwrap();
        let outcomes: Vec<bool> = others
            .into_iter()
            .map(|h| h.join().unwrap().is_ok())
            .collect();
        assert_eq!(outcomes, vec![true, false, true]);
        held
    });
    let after = db.write_stats();
    assert_eq!(after.writes - before.writes, 3, "three writes committed");
    assert_eq!(after.batches - before.batches, 1, "in one durable commit");
    assert_eq!(after.queued, 0);
    // The first body held the batch while the others waited, asleep.
    let calls = after.stages.calls;
    assert!(calls.busy - before.stages.calls.busy >= held, "{calls:?}");
    assert!(calls.cpu < calls.busy, "{calls:?}");
    let commits = after.stages.commits;
    assert!(commits.busy > before.stages.commits.busy, "{commits:?}");
    // redb's part is within the leader's
    let engine = after.stages.engine;
    assert!(engine.busy > before.stages.engine.busy, "{engine:?}");
    assert!(engine.busy <= commits.busy, "{engine:?} within {commits:?}");
    drop(db);
    let db = redb_db(&path);
    let mut names: Vec<String> = db
        .read(|tx| tx.list::<Gadget>(&page(10, None)))
        .unwrap()
        .items
        .into_iter()
        .map(|g| g.name)
        .collect();
    names.sort();
    assert_eq!(names, ["first", "fourth", "second"]);
}

/// A thread that wrote without waiting and then opens a batch of its own
/// gets it (its earlier write is committed first, not waited on forever),
/// and reads its own writes all along.
#[test]
fn a_batch_after_an_unwaited_write_on_the_same_thread_goes_through() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.redb");
    let db = redb_db(&path);
    let ((), pending) = market_store::deferred(|| {
        insert(&db, gadget("alone", "alone@x.io", None)).unwrap();
        assert_eq!(db.read(|tx| tx.count::<Gadget>()).unwrap(), 1);
        db.batch(|| {
            insert(&db, gadget("in-a-batch", "batch@x.io", None))?;
            insert(&db, gadget("also", "also@x.io", None))
        })
        .unwrap();
        insert(&db, gadget("after", "after@x.io", None)).unwrap();
        assert_eq!(db.read(|tx| tx.count::<Gadget>()).unwrap(), 4);
    });
    pending.wait().unwrap();
    drop(db);
    let db = redb_db(&path);
    assert_eq!(db.read(|tx| tx.count::<Gadget>()).unwrap(), 4);
}
