//! Rate limits: the methods that register or check a password per client
//! address, and a
//! global limit per signed-in user (or per address for anonymous callers).
//! Over a limit a call answers `rate_limited` (4290) with `retry_after_secs`.

use std::net::IpAddr;
use std::num::NonZeroU32;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use market_rpc::{Caller, Ctx, ErrorKind, RpcError};
use serde_json::json;

/// Methods sharing the per-address sign-in limit: every one that
/// registers or checks a password.
const AUTH_METHODS: &[&str] = &["auth.login", "auth.register", "auth.change_password"];

/// The limiters of one server.
pub struct Limits {
    auth: Option<DefaultKeyedRateLimiter<String>>,
    global: Option<DefaultKeyedRateLimiter<String>>,
    clock: DefaultClock,
}

fn limiter(per_minute: u32) -> Option<DefaultKeyedRateLimiter<String>> {
    NonZeroU32::new(per_minute).map(|n| RateLimiter::keyed(Quota::per_minute(n)))
}

fn address(peer: Option<IpAddr>) -> String {
    peer.map_or_else(|| "unknown".to_string(), |ip| ip.to_string())
}

impl Limits {
    /// Limits per minute; 0 turns a limit off.
    pub fn new(auth_per_minute: u32, global_per_minute: u32) -> Limits {
        Limits {
            auth: limiter(auth_per_minute),
            global: limiter(global_per_minute),
            clock: DefaultClock::default(),
        }
    }

    /// May this call go ahead?
    pub fn check(&self, ctx: &Ctx) -> Result<(), RpcError> {
        if let Some(auth) = &self.auth
            && AUTH_METHODS.contains(&ctx.method.as_str())
        {
            self.take(auth, address(ctx.peer))?;
        }
        if let Some(global) = &self.global {
            let key = match &ctx.caller {
                Caller::User(p) => format!("user:{}", p.user_id),
                _ => format!("ip:{}", address(ctx.peer)),
            };
            self.take(global, key)?;
        }
        Ok(())
    }

    fn take(&self, limiter: &DefaultKeyedRateLimiter<String>, key: String) -> Result<(), RpcError> {
        limiter.check_key(&key).map_err(|not_until| {
            let wait = not_until.wait_time_from(self.clock.now()).as_secs().max(1);
            RpcError::app(
                ErrorKind::RateLimited,
                format!("too many requests; retry in {wait} s"),
            )
            .with_data("retry_after_secs", json!(wait))
        })
    }

    /// Forget clients that have not called for a while (keeps memory bounded).
    pub fn forget_idle(&self) {
        for l in [&self.auth, &self.global].into_iter().flatten() {
            l.retain_recent();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(method: &str, ip: &str) -> Ctx {
        let mut c = Ctx::new("r", method, Caller::Anonymous);
        c.peer = ip.parse().ok();
        c
    }

    #[test]
    fn sign_in_calls_are_limited_per_address() {
        let l = Limits::new(3, 0);
        for _ in 0..3 {
            l.check(&ctx("auth.login", "10.0.0.1")).unwrap();
        }
        let e = l.check(&ctx("auth.register", "10.0.0.1")).unwrap_err();
        assert_eq!(e.code, 4290);
        assert_eq!(e.kind(), Some("rate_limited"));
        assert!(
            e.data
                .as_ref()
                .and_then(|d| d.get("retry_after_secs"))
                .is_some()
        );
        // another address, and other methods, are not affected
        l.check(&ctx("auth.login", "10.0.0.2")).unwrap();
        l.check(&ctx("system.health", "10.0.0.1")).unwrap();
    }

    #[test]
    fn the_global_limit_counts_every_call() {
        let l = Limits::new(0, 2);
        l.check(&ctx("system.health", "10.0.0.1")).unwrap();
        l.check(&ctx("product.get", "10.0.0.1")).unwrap();
        assert_eq!(
            l.check(&ctx("system.health", "10.0.0.1")).unwrap_err().code,
            4290
        );
        l.forget_idle();
        let off = Limits::new(0, 0);
        for _ in 0..1000 {
            off.check(&ctx("auth.login", "10.0.0.1")).unwrap();
        }
    }
}
