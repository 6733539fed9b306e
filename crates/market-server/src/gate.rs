//! A counting gate: at most `n` holders at once, the others wait.

use std::sync::{Condvar, Mutex};

/// Lets `n` threads through at once.
pub struct Gate {
    inside: Mutex<usize>,
    left: Condvar,
    limit: usize,
}

/// A place in the gate, given back when dropped.
pub struct Pass<'a>(&'a Gate);

impl Gate {
    pub fn new(limit: usize) -> Gate {
        Gate {
            inside: Mutex::new(0),
            left: Condvar::new(),
            limit: limit.max(1),
        }
    }

    /// Wait for a place.
    pub fn enter(&self) -> Pass<'_> {
        let mut inside = self.inside.lock().unwrap_or_else(|p| p.into_inner());
        while *inside >= self.limit {
            inside = self.left.wait(inside).unwrap_or_else(|p| p.into_inner());
        }
        *inside += 1;
        Pass(self)
    }
}

impl Drop for Pass<'_> {
    fn drop(&mut self) {
        let mut inside = self.0.inside.lock().unwrap_or_else(|p| p.into_inner());
        *inside -= 1;
        self.0.left.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn never_more_than_the_limit_inside() {
        let gate = Gate::new(2);
        let inside = AtomicUsize::new(0);
        let most = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    for _ in 0..50 {
                        let _pass = gate.enter();
                        let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        std::thread::yield_now();
                        inside.fetch_sub(1, Ordering::SeqCst);
                    }
                });
            }
        });
        assert_eq!(most.load(Ordering::SeqCst), 2);
    }
}
