//! Budgets against guessing: failed password checks per account, and
//! lookups of other accounts by email per user.
//!
//! Both are per process and in memory, like the server's rate limits. An
//! account is keyed by its normalized email, so an address without an
//! account locks exactly like one with an account and the answer tells
//! nothing about which exists.

use std::collections::HashMap;
use std::sync::Mutex;

use market_rpc::{ErrorKind, RpcError};
use market_store::Timestamp;
use serde_json::json;

/// Most keys remembered; beyond it, keys whose window is over are dropped.
const MAX_KEYS: usize = 100_000;

/// Events of one key within its window.
#[derive(Debug, Clone, Copy)]
struct Window {
    started: Timestamp,
    count: u32,
    locked_until: Option<Timestamp>,
}

/// Counts events per key within a window; reaching the budget locks the
/// key until `lock_secs` have passed.
pub(crate) struct Budget {
    windows: Mutex<HashMap<String, Window>>,
    limit: u32,
    window_secs: i64,
    lock_secs: i64,
    what: &'static str,
}

fn rate_limited(what: &str, now: Timestamp, until: Timestamp) -> RpcError {
    let wait = ((until.unix_millis() - now.unix_millis() + 999) / 1000).max(1);
    RpcError::app(
        ErrorKind::RateLimited,
        format!("too many {what}; retry in {wait} s"),
    )
    .with_data("retry_after_secs", json!(wait))
}

impl Budget {
    /// `limit` events per `window_secs` (0: no limit), then locked for `lock_secs`.
    pub(crate) fn new(limit: u32, window_secs: i64, lock_secs: i64, what: &'static str) -> Budget {
        Budget {
            windows: Mutex::new(HashMap::new()),
            limit,
            window_secs,
            lock_secs,
            what,
        }
    }

    /// Is `key` locked now? `rate_limited` with `retry_after_secs` if so.
    pub(crate) fn check(&self, key: &str, now: Timestamp) -> Result<(), RpcError> {
        if self.limit == 0 {
            return Ok(());
        }
        let windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        match windows.get(key).and_then(|w| w.locked_until) {
            Some(until) if until > now => Err(rate_limited(self.what, now, until)),
            _ => Ok(()),
        }
    }

    /// Count one event of `key`; the one that reaches the budget locks it.
    pub(crate) fn record(&self, key: &str, now: Timestamp) {
        if self.limit == 0 {
            return;
        }
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        if windows.len() >= MAX_KEYS && !windows.contains_key(key) {
            let horizon = self.window_secs.max(self.lock_secs);
            windows.retain(|_, w| w.started.add_seconds(horizon) > now);
        }
        let fresh = Window {
            started: now,
            count: 0,
            locked_until: None,
        };
        let w = windows.entry(key.to_string()).or_insert(fresh);
        let lock_over = w.locked_until.is_some_and(|until| until <= now);
        if lock_over || w.started.add_seconds(self.window_secs) <= now {
            *w = fresh;
        }
        w.count += 1;
        if w.count >= self.limit {
            w.locked_until = Some(now.add_seconds(self.lock_secs));
        }
    }

    /// Forget `key` (its password was right).
    pub(crate) fn clear(&self, key: &str) {
        self.windows
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> Timestamp {
        let start: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        start.add_seconds(secs)
    }

    #[test]
    fn reaching_the_budget_locks_the_key_for_a_while() {
        let b = Budget::new(3, 600, 900, "password attempts");
        for s in 0..3 {
            b.check("a", at(s)).unwrap();
            b.record("a", at(s));
        }
        let e = b.check("a", at(3)).unwrap_err();
        assert_eq!(e.kind(), Some("rate_limited"));
        assert_eq!(e.data.unwrap()["retry_after_secs"], 899);
        b.check("other", at(3)).unwrap();
        b.check("a", at(2 + 900)).unwrap();
        // failures spread wider than the window do not add up
        let b = Budget::new(2, 60, 900, "x");
        b.record("a", at(0));
        b.record("a", at(61));
        b.check("a", at(62)).unwrap();
        b.clear("a");
        b.record("a", at(63));
        b.check("a", at(63)).unwrap();
    }
}
