//! Waiting for durability later: inside [`deferred`], writes return as soon
//! as they commit, and the caller waits once for all of them with
//! [`Pending::wait`]. The server uses it to leave the CPU to the next call
//! while a write waits for the disk; bulk loads use it to wait once.

use std::cell::RefCell;
use std::sync::Arc;

use crate::backend::Backend;
use crate::error::Result;

/// The latest commit of each backend written in a scope.
type Commits = Vec<(Arc<dyn Backend>, u64)>;

thread_local! {
    static SCOPE: RefCell<Option<Commits>> = const { RefCell::new(None) };
}

/// Commits made inside a [`deferred`] scope that may not be durable yet.
#[must_use = "wait for the commits before telling anyone they happened"]
#[derive(Default)]
pub struct Pending {
    commits: Commits,
}

impl Pending {
    /// Block until every commit is durable.
    pub fn wait(self) -> Result<()> {
        for (backend, commit) in &self.commits {
            backend.wait_durable(*commit)?;
        }
        Ok(())
    }

    /// Whether there is anything to wait for.
    pub fn is_empty(&self) -> bool {
        self.commits.is_empty()
    }
}

/// Run `f` with durability waits deferred; the commits it made come back
/// with its result. Scopes nest: an inner scope's commits are its own.
pub fn deferred<R>(f: impl FnOnce() -> R) -> (R, Pending) {
    let outer = SCOPE.with(|s| s.borrow_mut().replace(Vec::new()));
    let result = f();
    let commits = SCOPE
        .with(|s| std::mem::replace(&mut *s.borrow_mut(), outer))
        .unwrap_or_default();
    (result, Pending { commits })
}

/// Record `commit` in the current scope; `false` when there is none.
pub(crate) fn defer(backend: &Arc<dyn Backend>, commit: u64) -> bool {
    SCOPE.with(|s| match s.borrow_mut().as_mut() {
        Some(pending) => {
            match pending.iter_mut().find(|(b, _)| Arc::ptr_eq(b, backend)) {
                Some(entry) => entry.1 = entry.1.max(commit),
                None => pending.push((backend.clone(), commit)),
            }
            true
        }
        None => false,
    })
}
