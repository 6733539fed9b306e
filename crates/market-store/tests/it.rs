//! Behaviour of the typed store on the redb backend.

// Tests fail by panicking: unwrap, expect and panic are how they assert.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use market_store::{
    Actor, AuditFilter, Db, Id, IndexSpec, IndexValue, ManualClock, Meta, PageRequest, Reads,
    Record, RedbBackend, SecretCipher, StoreError, Timestamp,
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
    const INDEXES: &'static [IndexSpec] = &[
        IndexSpec {
            field: "email",
            unique: true,
            nocase: true,
        },
        IndexSpec {
            field: "color",
            unique: false,
            nocase: false,
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

struct Fixture {
    db: Db,
    clock: Arc<ManualClock>,
    _dir: tempfile::TempDir,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let backend = RedbBackend::open(&dir.path().join("sub/test.redb")).unwrap();
    let clock = Arc::new(ManualClock::new("2026-01-01T00:00:00Z".parse().unwrap()));
    Fixture {
        db: Db::new(Arc::new(backend), clock.clone()),
        clock,
        _dir: dir,
    }
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

#[test]
fn insert_sets_meta_and_get_reads_it_back() {
    let f = fixture();
    let g = insert(&f.db, gadget("a", "A@x.io", Some("red"))).unwrap();
    assert_eq!(g.version, 1);
    assert_eq!(g.created_at.to_string(), "2026-01-01T00:00:00Z");
    assert_eq!(g.created_at, g.updated_at);
    let back: Gadget = f.db.read(|tx| tx.load(g.id)).unwrap();
    assert_eq!(back, g);
    let missing: Option<Gadget> = f.db.read(|tx| tx.get(f.db.new_id())).unwrap();
    assert!(missing.is_none());
}

#[test]
fn update_bumps_version_and_checks_expected_version() {
    let f = fixture();
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

#[test]
fn unique_index_is_case_insensitive_and_follows_updates() {
    let f = fixture();
    let g = insert(&f.db, gadget("a", "Ann@x.io", None)).unwrap();
    let err = insert(&f.db, gadget("b", "ann@X.IO", None)).unwrap_err();
    assert!(matches!(
        err,
        StoreError::UniqueTaken { field: "email", .. }
    ));
    let found: Option<Gadget> = f.db.read(|tx| tx.find_unique("email", "ANN@x.io")).unwrap();
    assert_eq!(found.map(|x| x.id), Some(g.id));
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

#[test]
fn secondary_index_and_list_paginate_newest_first() {
    let f = fixture();
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

#[test]
fn failed_closure_rolls_back_every_write_and_its_audit() {
    let f = fixture();
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

#[test]
fn every_mutation_is_audited_in_the_same_transaction() {
    let f = fixture();
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
    assert!(Db::open("postgres://x").is_err());
    assert!(Db::open("redb://").is_err());
    let dir = tempfile::tempdir().unwrap();
    let url = format!("redb://{}/a.redb", dir.path().display());
    let db = Db::open(&url).unwrap();
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

#[test]
fn secret_fields_are_sealed_at_rest_and_need_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v.redb");
    let key = "3c".repeat(32);
    let id = {
        let db = Db::new(
            Arc::new(RedbBackend::open(&path).unwrap()),
            Arc::new(market_store::SystemClock),
        )
        .with_cipher(SecretCipher::from_text(&key).unwrap());
        let v = db
            .write(&actor(), |tx| {
                let mut v = Vault {
                    id: Id::NIL,
                    created_at: Timestamp::EPOCH,
                    updated_at: Timestamp::EPOCH,
                    version: 0,
                    label: "visible-label".into(),
                    code: "very-secret-code".into(),
                    spare: None,
                };
                tx.insert(&mut v)?;
                Ok::<_, StoreError>(v)
            })
            .unwrap();
        let back: Vault = db.read(|tx| tx.load(v.id)).unwrap();
        assert_eq!(back.code, "very-secret-code");
        assert_eq!(back.spare, None);
        v.id
    };
    let bytes = std::fs::read(&path).unwrap();
    let contains = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
    assert!(
        contains(b"visible-label"),
        "plain fields are stored as they are"
    );
    assert!(
        !contains(b"very-secret-code"),
        "secret fields are not stored in clear"
    );
    // without the key, or with another one: a clear error, never the plaintext
    let db = Db::new(
        Arc::new(RedbBackend::open(&path).unwrap()),
        Arc::new(market_store::SystemClock),
    );
    assert!(matches!(
        db.read(|tx| tx.load::<Vault>(id)),
        Err(StoreError::NoSecretKey)
    ));
    drop(db);
    let other = Db::new(
        Arc::new(RedbBackend::open(&path).unwrap()),
        Arc::new(market_store::SystemClock),
    )
    .with_cipher(SecretCipher::from_text(&"4d".repeat(32)).unwrap());
    assert!(matches!(
        other.read(|tx| tx.load::<Vault>(id)),
        Err(StoreError::Corrupt { .. })
    ));
}

#[test]
fn idempotency_records_are_kept_then_purged_by_age() {
    use market_store::IdempotencyReads;
    let f = fixture();
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

#[test]
fn concurrent_writers_share_durable_commits_and_nothing_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g.redb");
    {
        let db = Arc::new(Db::new(
            Arc::new(RedbBackend::open(&path).unwrap()),
            Arc::new(market_store::SystemClock),
        ));
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
    let db = Db::new(
        Arc::new(RedbBackend::open(&path).unwrap()),
        Arc::new(market_store::SystemClock),
    );
    let all = db
        .read(|tx| tx.find::<Gadget>("color", "red", &page(500, None)))
        .unwrap();
    assert_eq!(all.items.len(), 400);
    assert!(all.items.iter().all(|g| g.name != "ghost"));
    assert_eq!(db.read(|tx| tx.count::<Gadget>()).unwrap(), 400);
}

#[test]
fn deferred_writes_are_visible_at_once_and_durable_after_the_wait() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("d.redb");
    {
        let db = Db::new(
            Arc::new(RedbBackend::open(&path).unwrap()),
            Arc::new(market_store::SystemClock),
        );
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
    let db = Db::new(
        Arc::new(RedbBackend::open(&path).unwrap()),
        Arc::new(market_store::SystemClock),
    );
    assert_eq!(db.read(|tx| tx.count::<Gadget>()).unwrap(), 3);
}

#[test]
fn a_batch_commits_its_writes_together_or_not_at_all() {
    let f = fixture();
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
        f.db.read(|tx| tx.find_unique::<Gadget>("email", "c@x.io"))
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
        let db = Db::new(
            Arc::new(RedbBackend::open(&path).unwrap()),
            Arc::new(market_store::SystemClock),
        )
        .with_cipher(SecretCipher::from_text(&"6e".repeat(32)).unwrap());
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
