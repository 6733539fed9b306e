//! Shared commits: the write closures of concurrent requests in one process
//! run in a `SERIALIZABLE` transaction, or in a few side by side (lanes,
//! `PgSettings::write_lanes`); in each, closures run one after another,
//! each inside its own savepoint, and commit together.
//!
//! One transaction per request would pay a commit's flush and a round trip
//! for its start per request; one transaction for the whole process runs
//! every write one after another. Several lanes pay the commit once per
//! group and use the machine, but writes of different lanes on the same
//! rows wait for each other and run again (the writes of one actor share a
//! lane; a write that runs again does so in its lane, then in the first
//! one). Log rows get their numbers only as a group commits
//! ([`super::store::commit`]), under a lock held until the commit returns,
//! so lanes and processes do not conflict over the logs and numbers follow
//! commit order.
//!
//! The rules: a closure that fails (or returns without committing) is
//! rolled back to its savepoint and leaves its neighbours alone; a group
//! commits when nobody else is queueing to join it or when it is full; each
//! caller returns only once its group's commit has returned (so durable);
//! when the group's transaction fails for a reason that running again may
//! cure (a serialization failure, a deadlock, a connection lost before the
//! commit was sent), every closure in it runs again, in a later group; a
//! closure that meets a unique value committed meanwhile by another
//! transaction runs again alone.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

use super::store::{self, Deferred, Ended, Failure, PgTx};
use super::{MAX_ATTEMPTS, Manager, PgBackend, backoff, describe_error, rollback};
use crate::backend::StoreWrite;
use crate::error::{Result, StoreError};

/// Most closures one shared transaction takes before it commits.
const MAX_GROUP: usize = 64;

/// How a group ended, for its members.
#[derive(Debug, Clone)]
enum Outcome {
    /// With the highest number the commit gave a domain event.
    Committed(Option<u64>),
    /// Nothing of the group was committed: run again.
    Retry,
    Failed(String),
}

/// The transaction being filled.
struct Open {
    conn: r2d2::PooledConnection<Manager>,
    members: usize,
    /// The members' log rows, numbered at the commit.
    deferred: Vec<Deferred>,
}

#[derive(Default)]
struct State {
    open: Option<Open>,
    /// The number of the group `open` holds (or the next one).
    group: u64,
    /// Ended groups whose members have not all read the outcome yet:
    /// the outcome and how many members are still to read it.
    ended: HashMap<u64, (Outcome, usize)>,
}

impl State {
    /// End the open group with `outcome` (its members learn it) and drop
    /// its transaction.
    fn end(&mut self, outcome: Outcome) {
        if let Some(open) = self.open.take() {
            if open.members > 0 {
                self.ended.insert(self.group, (outcome, open.members));
            }
            self.group += 1;
        }
    }

    /// Roll the open group back: nothing of it was committed, so its
    /// members run again.
    fn abort(&mut self) {
        if let Some(open) = self.open.as_mut() {
            rollback(&mut open.conn);
        }
        self.end(Outcome::Retry);
    }

    /// Read the outcome of `group` once it is known.
    fn outcome(&mut self, group: u64) -> Option<Outcome> {
        let (outcome, left) = self.ended.get_mut(&group)?;
        let outcome = outcome.clone();
        *left -= 1;
        if *left == 0 {
            self.ended.remove(&group);
        }
        Some(outcome)
    }
}

/// The lanes of one backend.
pub(crate) struct Groups {
    lanes: Vec<Lane>,
    /// The lane the next write without an affinity joins.
    next: AtomicUsize,
}

impl Groups {
    pub(crate) fn new(lanes: usize) -> Groups {
        Groups {
            lanes: (0..lanes.max(1)).map(|_| Lane::default()).collect(),
            next: AtomicUsize::new(0),
        }
    }

    /// Run `f` in a group of one of the lanes (the writes of one affinity
    /// in the same lane, others round robin): `Ok(None)` once it is
    /// committed, or what the closure returned when it did not ask to
    /// commit.
    pub(crate) fn write(
        &self,
        backend: &PgBackend,
        affinity: Option<u64>,
        f: &mut dyn FnMut(&mut dyn StoreWrite) -> Result<bool>,
    ) -> Result<Option<u64>> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            // A write that must run again met another lane's (or process's)
            // writes. Once, it runs again in its own lane: in another, its
            // actor's next write would find that lane's transaction begun
            // before this one committed, and meet it in turn. After that,
            // in the first lane, where the writes that keep meeting run one
            // after another instead of waiting for each other's rows.
            let pick = match affinity {
                _ if attempt > 2 => 0,
                Some(affinity) => affinity,
                None => self.next.fetch_add(1, Ordering::Relaxed) as u64,
            };
            let lane = &self.lanes[(pick % self.lanes.len() as u64) as usize];
            match lane.write(backend, f) {
                Some(result) => return result,
                None if attempt < MAX_ATTEMPTS => backoff(attempt),
                None => {
                    return Err(StoreError::Backend(
                        "the write kept conflicting with other writes; try again".into(),
                    ));
                }
            }
        }
    }
}

/// One shared transaction at a time.
#[derive(Default)]
struct Lane {
    state: Mutex<State>,
    ended: Condvar,
    /// Callers waiting to take the lock and join the open group.
    queued: AtomicUsize,
}

impl Lane {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A closure that panicked leaves a transaction a later commit or
        // rollback settles; the state itself stays whole.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Commit the open group unless another caller is about to join it
    /// (that caller commits instead) and it has room.
    fn settle(&self, state: &mut State) {
        let Some(open) = state.open.as_mut() else {
            return;
        };
        if self.queued.load(Ordering::Acquire) > 0 && open.members < MAX_GROUP {
            return;
        }
        if open.members == 0 {
            rollback(&mut open.conn);
            state.open = None;
            return;
        }
        let outcome = match store::commit(&mut open.conn, std::mem::take(&mut open.deferred)) {
            Ok(seq) => Outcome::Committed(seq),
            Err(e) => {
                // (a transaction that failed is over already; one that
                // could not send its commit is not)
                rollback(&mut open.conn);
                if super::retryable(&e) {
                    Outcome::Retry
                } else {
                    Outcome::Failed(describe_error(&e))
                }
            }
        };
        state.end(outcome);
        self.ended.notify_all();
    }

    /// Run `f` in the open group (opening one when there is none): `Ok(None)`
    /// once it is committed, or what the closure returned when it did not
    /// ask to commit; `None` when it must run again.
    fn write(
        &self,
        backend: &PgBackend,
        f: &mut dyn FnMut(&mut dyn StoreWrite) -> Result<bool>,
    ) -> Option<Result<Option<u64>>> {
        self.queued.fetch_add(1, Ordering::AcqRel);
        let mut state = self.lock();
        self.queued.fetch_sub(1, Ordering::AcqRel);
        let ran_in = state.group;
        let joined = match self.run(backend, &mut state, f) {
            Ran::Member(group) => group,
            Ran::Done(result) => {
                self.settle(&mut state);
                return Some(result);
            }
            Ran::Again => {
                // The group, when still open, goes on without this closure,
                // which runs again only in a later one: this one's snapshot
                // would meet the same conflict again.
                self.settle(&mut state);
                self.ended.notify_all();
                while state.open.is_some() && state.group == ran_in {
                    state = self.wait_a_while(state);
                }
                return None;
            }
        };
        self.settle(&mut state);
        let outcome = loop {
            if let Some(outcome) = state.outcome(joined) {
                break outcome;
            }
            state = self.wait_a_while(state);
        };
        drop(state);
        match outcome {
            Outcome::Committed(seq) => {
                store::set_appended(seq);
                Some(Ok(None))
            }
            Outcome::Failed(message) => Some(Err(StoreError::Backend(message))),
            Outcome::Retry => None,
        }
    }

    /// Wait for a group to end, 20 ms at most. When nothing ended by then,
    /// whoever should have committed may be gone (a closure that
    /// panicked): commit the open group from here.
    fn wait_a_while<'a>(&'a self, state: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        let (mut state, waited) = self
            .ended
            .wait_timeout(state, Duration::from_millis(20))
            .unwrap_or_else(|p| p.into_inner());
        if waited.timed_out() {
            self.settle(&mut state);
        }
        state
    }

    /// Run `f` once inside a savepoint of the open group.
    fn run(
        &self,
        backend: &PgBackend,
        state: &mut State,
        f: &mut dyn FnMut(&mut dyn StoreWrite) -> Result<bool>,
    ) -> Ran {
        // The savepoint of the next member is set with the statement before
        // it (the transaction's start, or the previous member's release),
        // saving a round trip per member.
        if state.open.is_none() {
            match backend.begin("BEGIN ISOLATION LEVEL SERIALIZABLE; SAVEPOINT member") {
                Ok(conn) => {
                    state.open = Some(Open {
                        conn,
                        members: 0,
                        deferred: Vec::new(),
                    });
                }
                Err(e) => return Ran::Done(Err(e)),
            }
        }
        let Some(open) = state.open.as_mut() else {
            return Ran::Again;
        };
        let (result, ended, deferred) = {
            let mut tx = PgTx::after(&mut open.conn, &open.deferred);
            let result = f(&mut tx);
            let deferred = tx.take_deferred();
            // The closure's writes, sent ahead, and its release come back
            // in one round trip.
            let ended = if matches!(result, Ok(true)) {
                tx.end_with("RELEASE SAVEPOINT member; SAVEPOINT member")
            } else {
                Ended {
                    done: false,
                    ran_anyway: false,
                    failure: tx.into_failure(),
                }
            };
            (result, ended, deferred)
        };
        let Ended {
            done: released,
            ran_anyway,
            failure,
        } = ended;
        if failure.as_ref().is_some_and(|f| f.doomed) || open.conn.is_closed() {
            // A serialization failure dooms the whole transaction; a lost
            // connection has lost it.
            state.abort();
            return Ran::Again;
        }
        if ran_anyway {
            // A write's answer was wrong (a row count of 0) once the
            // closure's savepoint was released: it cannot be taken back
            // alone. Nothing of the group is committed yet; the others run
            // again, and this closure fails.
            state.abort();
            return Ran::Done(Err(failure.map_or_else(
                || StoreError::Backend("a write went wrong".into()),
                Failure::into_error,
            )));
        }
        let retry = failure.as_ref().is_some_and(|f| f.retry);
        // (a savepoint rolled back to stays set)
        if !released
            && open
                .conn
                .batch_execute("ROLLBACK TO SAVEPOINT member")
                .is_err()
        {
            state.abort();
            return Ran::Again;
        }
        if retry {
            // A unique value another transaction committed meanwhile: this
            // closure alone runs again (and then sees the value taken).
            return Ran::Again;
        }
        if released {
            open.members += 1;
            open.deferred.extend(deferred);
            return Ran::Member(state.group);
        }
        Ran::Done(match (failure, result) {
            // The closure saw the error; if it went on as if nothing
            // happened, its writes are lost all the same.
            (Some(failure), Ok(true)) => Err(failure.into_error()),
            // a write sent ahead failed its check: the typed error
            (Some(failure), Err(_)) if failure.checked.is_some() => Err(failure.into_error()),
            (_, other) => other.map(|_| None),
        })
    }
}

/// What running a closure in the group came to.
enum Ran {
    /// It asked to commit and is a member of this group.
    Member(u64),
    /// It is finished without a commit: its result.
    Done(Result<Option<u64>>),
    /// The group's transaction was lost before the commit: run again.
    Again,
}
