//! Waiting for durability later: inside [`deferred`], writes return as soon
//! as they commit, and the caller waits once for all of them with
//! [`Pending::wait`]. The server uses it to leave the CPU to the next call
//! while a write waits for the disk; bulk loads use it to wait once.

use std::cell::{Cell, RefCell};
use std::sync::Arc;

use crate::backend::Backend;
use crate::domain_events::EventBell;
use crate::error::Result;

/// The latest commit of each backend written in a scope, and the highest
/// event `seq` of each event log.
#[derive(Default)]
struct Scope {
    commits: Vec<(Arc<dyn Backend>, u64)>,
    events: Vec<(Arc<EventBell>, u64)>,
}

thread_local! {
    static SCOPE: RefCell<Option<Scope>> = const { RefCell::new(None) };
    /// Inside [`unwaiting`].
    static UNWAITING: Cell<bool> = const { Cell::new(false) };
}

/// Commits made inside a [`deferred`] scope that may not be durable yet.
#[must_use = "wait for the commits before telling anyone they happened"]
#[derive(Default)]
pub struct Pending {
    scope: Scope,
}

impl Pending {
    /// Block until every commit is durable, then tell the event listeners.
    pub fn wait(self) -> Result<()> {
        for (backend, commit) in &self.scope.commits {
            backend.wait_durable(*commit)?;
        }
        for (bell, seq) in &self.scope.events {
            bell.advance(*seq);
        }
        Ok(())
    }

    /// Whether there is anything to wait for.
    pub fn is_empty(&self) -> bool {
        self.scope.commits.is_empty()
    }
}

/// Run `f` with durability waits deferred; the commits it made come back
/// with its result. Scopes nest: an inner scope's commits are its own.
pub fn deferred<R>(f: impl FnOnce() -> R) -> (R, Pending) {
    let outer = SCOPE.with(|s| s.borrow_mut().replace(Scope::default()));
    let result = f();
    let scope = SCOPE
        .with(|s| std::mem::replace(&mut *s.borrow_mut(), outer))
        .unwrap_or_default();
    (result, Pending { scope })
}

/// Record `commit` (holding events up to `events`' seq, if any) in the
/// current scope; `false` when there is none.
pub(crate) fn defer(
    backend: &Arc<dyn Backend>,
    commit: u64,
    events: Option<(&Arc<EventBell>, u64)>,
) -> bool {
    SCOPE.with(|s| match s.borrow_mut().as_mut() {
        Some(pending) => {
            match pending
                .commits
                .iter_mut()
                .find(|(b, _)| Arc::ptr_eq(b, backend))
            {
                Some(entry) => entry.1 = entry.1.max(commit),
                None => pending.commits.push((backend.clone(), commit)),
            }
            if let Some((bell, seq)) = events {
                match pending
                    .events
                    .iter_mut()
                    .find(|(b, _)| Arc::ptr_eq(b, bell))
                {
                    Some(entry) => entry.1 = entry.1.max(seq),
                    None => pending.events.push((bell.clone(), seq)),
                }
            }
            true
        }
        None => false,
    })
}

/// [`deferred`] on a thread that must not wait, such as an async runtime's
/// worker: reads on an embedded database come from the snapshot of its
/// latest durable commit instead of waiting for a commit under way. What
/// `f` wrote (a read should write nothing) comes back to be waited for on
/// another thread.
pub fn unwaiting<R>(f: impl FnOnce() -> R) -> (R, Pending) {
    struct Reset(bool);
    impl Drop for Reset {
        fn drop(&mut self) {
            UNWAITING.set(self.0);
        }
    }
    let _reset = Reset(UNWAITING.replace(true));
    let out = deferred(f);
    crate::redb_backend::RedbBackend::hand_over_unsettled();
    out
}

/// Is this thread inside [`unwaiting`]?
pub(crate) fn unwaiting_now() -> bool {
    UNWAITING.get()
}
