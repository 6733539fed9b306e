//! Storage faults under the redb backend (`market_faults`): a write that
//! meets one fails, without a panic, and is stored whole or not at all;
//! every acknowledged write stays intact; the same `Db` works again once
//! the fault clears.

use std::path::PathBuf;
use std::sync::Arc;

use market_faults::{FaultPlan, FaultyStorage};
use market_store::{Db, Reads, RedbBackend, StoreError, SystemClock};

use crate::{Gadget, actor, gadget, page};

/// A store on a file that fails as `plan` says.
struct Faulty {
    db: Db,
    plan: Arc<FaultPlan>,
    path: PathBuf,
    _dir: tempfile::TempDir,
}

fn faulty() -> Faulty {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("faulty.redb");
    let plan = FaultPlan::new();
    let storage_plan = plan.clone();
    let backend = RedbBackend::open_on(&path, move |file| {
        FaultyStorage::open(file, storage_plan.clone())
    })
    .unwrap();
    Faulty {
        db: Db::new(Arc::new(backend), Arc::new(SystemClock)),
        plan,
        path,
        _dir: dir,
    }
}

impl Faulty {
    /// Store `n` gadgets of colour `tag` (names of 1 KiB) in one write.
    fn write_many(&self, tag: &str, n: usize) -> Result<Vec<Gadget>, StoreError> {
        write_many(&self.db, tag, n)
    }

    /// How many gadgets of colour `tag` are stored.
    fn count(&self, tag: &str) -> usize {
        count(&self.db, tag)
    }

    /// Until a commit waits in its held sync.
    fn wait_for_a_held_sync(&self) {
        wait_for("a commit waiting in its held sync", || {
            self.plan.syncs_waiting() > 0
        });
    }

    fn file_len(&self) -> u64 {
        std::fs::metadata(&self.path).unwrap().len()
    }
}

/// Until `done()`; a failure after a minute rather than a test that hangs.
fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "no {what} after a minute"
        );
        std::thread::yield_now();
    }
}

fn write_many(db: &Db, tag: &str, n: usize) -> Result<Vec<Gadget>, StoreError> {
    db.write(&actor(), |tx| {
        (0..n)
            .map(|i| {
                let name = format!("{tag}-{i}-{}", "x".repeat(1024));
                let mut g = gadget(&name, &format!("{tag}-{i}@x.io"), Some(tag));
                tx.insert(&mut g)?;
                Ok(g)
            })
            .collect()
    })
}

fn count(db: &Db, tag: &str) -> usize {
    db.read(|tx| tx.find::<Gadget>("color", tag, &page(2000, None)))
        .unwrap()
        .items
        .len()
}

/// Every acknowledged gadget is stored as it was acknowledged.
fn assert_intact(db: &Db, kept: &[Gadget]) {
    for g in kept {
        let stored: Gadget = db.read(|tx| tx.load(g.id)).unwrap();
        assert_eq!(&stored, g);
    }
}

/// A write of `n` gadgets tagged `tag` that failed left all of them or none.
fn assert_whole_or_absent(db: &Db, tag: &str, n: usize) -> usize {
    let present = count(db, tag);
    assert!(
        present == 0 || present == n,
        "{present} of the {n} gadgets of the failed write {tag} are stored"
    );
    present
}

/// Fail the first disk write of `write` (6 gadgets tagged as told), then
/// its second, and so on, until it makes fewer disk writes than the one
/// planned. Each failed write is whole or absent, the writes acknowledged
/// before are intact, and the next write succeeds. How many disk writes
/// failed, and how many gadgets of failed writes are stored.
fn fail_each_disk_write(
    f: &Faulty,
    kept: &mut Vec<Gadget>,
    write: impl Fn(&str) -> Result<Vec<Gadget>, StoreError>,
) -> (u64, usize) {
    let (mut failures, mut unacknowledged) = (0, 0);
    for n in 1.. {
        assert!(n < 100, "a 6-record write takes fewer than 100 disk writes");
        f.plan.fail_nth_write(n);
        let injected = f.plan.injected();
        let tag = format!("try{n}-{}", kept.len());
        let result = write(&tag);
        if f.plan.injected() == injected {
            f.plan.clear();
            kept.extend(result.unwrap());
            break;
        }
        failures += 1;
        let err = result.unwrap_err();
        assert!(matches!(err, StoreError::Backend(_)), "{err}");
        unacknowledged += assert_whole_or_absent(&f.db, &tag, 6);
        assert_intact(&f.db, kept);
        // the same Db writes again: the backend reopened the file itself
        kept.extend(
            f.write_many(&format!("after{n}-{}", kept.len()), 1)
                .unwrap(),
        );
    }
    (failures, unacknowledged)
}

#[test]
fn a_write_failing_at_any_of_its_disk_writes_is_whole_or_absent_and_the_next_succeeds() {
    let f = faulty();
    let mut kept = f.write_many("kept", 3).unwrap();
    // A write is durable once its redo log record is on disk.
    let (logged, lost_logged) = fail_each_disk_write(&f, &mut kept, |tag| f.write_many(tag, 6));
    assert!(
        logged >= 1,
        "no disk write of a logged write could be failed"
    );
    // A bulk transaction is made durable by redb's own commit (a
    // checkpoint), which writes the tables' pages and its header.
    let (checkpointed, lost_checkpointed) =
        fail_each_disk_write(&f, &mut kept, |tag| f.db.batch(|| f.write_many(tag, 6)));
    assert!(
        checkpointed >= 10,
        "only {checkpointed} disk writes of a checkpoint could be failed"
    );
    let failures = logged + checkpointed;
    let unacknowledged = lost_logged + lost_checkpointed;
    assert_eq!(f.plan.injected(), failures);
    assert_eq!(
        f.db.read(|tx| tx.count::<Gadget>()).unwrap(),
        u64::try_from(kept.len() + unacknowledged).unwrap()
    );
    // and all of it is on disk: a fresh opening of the file finds it
    let Faulty { db, path, _dir, .. } = f;
    drop(db);
    let reopened = Db::new(
        Arc::new(RedbBackend::open(&path).unwrap()),
        Arc::new(SystemClock),
    );
    assert_intact(&reopened, &kept);
    assert_eq!(
        reopened.read(|tx| tx.count::<Gadget>()).unwrap(),
        u64::try_from(kept.len() + unacknowledged).unwrap()
    );
}

#[test]
fn a_full_disk_fails_the_write_that_needs_room_keeps_reads_and_passes_when_space_returns() {
    let f = faulty();
    let kept = f.write_many("kept", 5).unwrap();
    f.plan.disk_full_at(f.file_len());
    let err = f.write_many("big", 300).unwrap_err();
    assert!(err.to_string().contains("No space left on device"), "{err}");
    assert!(f.plan.injected() >= 1);
    // reads go on while the disk is full: reopening the file needs no room
    assert_intact(&f.db, &kept);
    assert_eq!(f.count("big"), 0);
    assert!(f.db.ping().is_ok());
    // the same write again meets the same full disk, and nothing breaks
    assert!(f.write_many("big", 300).is_err());
    assert_eq!(f.count("big"), 0);
    f.plan.clear();
    let big = f.write_many("big", 300).unwrap();
    assert_eq!(f.count("big"), 300);
    assert_intact(&f.db, &kept);
    assert_intact(&f.db, &big);
}

#[test]
fn while_every_disk_write_fails_calls_fail_and_once_it_clears_they_work_again() {
    let f = faulty();
    let kept = f.write_many("kept", 3).unwrap();
    assert!(f.db.reads_in_process());
    f.plan.fail_all_writes();
    assert!(f.write_many("during", 3).is_err());
    // redb opens a file again only by writing to it: until the fault
    // clears, reads fail too, and none is answered in the caller's stead
    assert!(!f.db.reads_in_process());
    assert!(f.db.read(|tx| tx.count::<Gadget>()).is_err());
    assert!(f.db.ping().is_err());
    assert!(f.write_many("during", 3).is_err());
    assert!(!f.db.reads_in_process());
    f.plan.clear();
    assert!(f.db.ping().is_ok());
    assert!(f.db.reads_in_process());
    assert_eq!(f.count("during"), 0);
    assert_intact(&f.db, &kept);
    let after = f.write_many("after", 3).unwrap();
    assert_intact(&f.db, &after);
}

/// Batched writes: a write that joined a batch before the failure but was
/// not durable yet is lost with it. Waiting for it fails, even once later
/// commits (with higher numbers) are durable on the reopened file.
#[test]
fn a_commit_lost_to_a_failure_is_never_acknowledged_afterwards() {
    let f = faulty();
    let mut kept = f.write_many("kept", 2).unwrap();
    let (first, first_pending) = market_store::deferred(|| f.write_many("first", 3));
    assert_eq!(first.unwrap().len(), 3);
    assert!(!first_pending.is_empty());
    f.plan.fail_all_writes();
    let (second, second_pending) = market_store::deferred(|| f.write_many("second", 3));
    assert!(second.and_then(|_| second_pending.wait()).is_err());
    f.plan.clear();
    kept.extend(f.write_many("later", 2).unwrap());
    assert!(first_pending.wait().is_err());
    assert_whole_or_absent(&f.db, "first", 3);
    assert_whole_or_absent(&f.db, "second", 3);
    assert_intact(&f.db, &kept);
}

#[test]
fn concurrent_writers_meeting_a_failure_get_an_error_or_a_durable_commit() {
    let f = faulty();
    f.plan.fail_nth_write(4);
    let outcomes: Vec<(String, Result<Vec<Gadget>, StoreError>)> = std::thread::scope(|s| {
        let writers: Vec<_> = (0..6)
            .map(|t| {
                let db = &f.db;
                s.spawn(move || {
                    (0..5)
                        .map(|i| {
                            let tag = format!("t{t}-{i}");
                            let result = write_many(db, &tag, 2);
                            (tag, result)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        writers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    assert_eq!(f.plan.injected(), 1);
    let mut failed = 0;
    for (tag, result) in &outcomes {
        match result {
            Ok(kept) => assert_intact(&f.db, kept),
            Err(_) => {
                failed += 1;
                assert_whole_or_absent(&f.db, tag, 2);
            }
        }
    }
    assert!(failed >= 1);
    assert!(f.write_many("after", 2).is_ok());
}

/// While a batch commits, the next one gathers over its writes. When that
/// commit fails, the batch gathered over it fails too (it read writes that
/// are not there); when it passes, both are kept. Either way the store
/// writes again afterwards.
#[test]
fn the_batch_gathered_over_a_failing_commit_fails_with_it() {
    for fail in [true, false] {
        let f = faulty();
        f.write_many("kept", 1).unwrap();
        std::thread::scope(|s| {
            let held = f.plan.hold_syncs();
            let first = s.spawn(|| f.write_many("first", 1));
            f.wait_for_a_held_sync();
            // the first write's commit waits for the disk: the next write
            // gathers in a new batch and reads the first one's gadget
            let second = s.spawn(|| {
                f.db.write(&actor(), |tx| {
                    let seen = tx
                        .find::<Gadget>("color", "first", &page(10, None))?
                        .items
                        .len();
                    tx.insert(&mut gadget("second", "second@x.io", Some("second")))?;
                    Ok::<_, StoreError>(seen)
                })
            });
            wait_for("second write in its batch", || {
                f.db.write_stats().writes >= 3
            });
            held.release(fail);
            let (first, second) = (first.join().unwrap(), second.join().unwrap());
            if fail {
                assert!(first.is_err(), "the failed commit is not acknowledged");
                assert!(second.is_err(), "nor the batch that read it");
            } else {
                first.unwrap();
                assert_eq!(second.unwrap(), 1, "the second write saw the first");
            }
        });
        let kept = usize::from(!fail);
        assert_eq!(f.count("first"), kept);
        assert_eq!(f.count("second"), kept);
        f.write_many("after", 1).unwrap();
        assert_eq!(f.count("after"), 1);
        assert_eq!(f.count("kept"), 1);
    }
}

/// A read that must not wait (`unwaiting`, as on a server's async worker)
/// answers from the latest durable commit while a commit waits for the
/// disk. The same read outside it reads the same: at once while the sync
/// held is the redo log's, after it when it is redb's own (a sync of a file
/// growing, which redb's `begin_read` waits for).
#[test]
fn a_read_that_must_not_wait_answers_from_the_latest_durable_commit() {
    let f = faulty();
    f.write_many("kept", 1).unwrap();
    std::thread::scope(|s| {
        let held = f.plan.hold_syncs();
        let first = s.spawn(|| f.write_many("first", 2));
        f.wait_for_a_held_sync();
        let (seen, pending) = market_store::unwaiting(|| (f.count("kept"), f.count("first")));
        assert_eq!(seen, (1, 0), "the commit under way is not durable yet");
        assert!(pending.is_empty());
        let plain = s.spawn(|| f.count("first"));
        std::thread::sleep(std::time::Duration::from_millis(50));
        held.release(false);
        assert_eq!(first.join().unwrap().unwrap().len(), 2);
        assert_eq!(plain.join().unwrap(), 0, "what was durable when it began");
    });
    // acknowledged, so read without waiting too
    let (after, _) = market_store::unwaiting(|| f.count("first"));
    assert_eq!(after, 2);
}
