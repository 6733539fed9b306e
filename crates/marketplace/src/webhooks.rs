//! The webhook worker of `serve`: a thread that runs rounds of the outbox
//! (`App::webhook_round`) whenever new events become durable, and at least
//! every second for retries that come due, sending with ureq (no redirects
//! followed, one timeout per attempt).

use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use market_core::App;
use market_core::webhooks::{Attempt, Deliver};

/// Deliveries claimed per round, and sent at once.
const ROUND: usize = 64;
const PARALLEL: usize = 8;
/// The longest pause between two rounds.
const TICK: Duration = Duration::from_secs(1);

/// HTTP POSTs through ureq.
struct Http(ureq::Agent);

impl Http {
    fn new(timeout: Duration) -> Http {
        Http(
            ureq::Agent::config_builder()
                .http_status_as_error(false)
                .max_redirects(0)
                .timeout_global(Some(timeout))
                .user_agent("marketplace-webhooks")
                .build()
                .into(),
        )
    }
}

impl Deliver for Http {
    fn post(&self, url: &str, headers: &[(&'static str, String)], body: &str) -> Attempt {
        let mut request = self.0.post(url);
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        match request.send(body) {
            Ok(response) => {
                let status = response.status().as_u16();
                Attempt {
                    status: Some(status),
                    error: (!(200..300).contains(&status)).then(|| format!("HTTP {status}")),
                }
            }
            Err(e) => Attempt {
                status: None,
                error: Some(e.to_string()),
            },
        }
    }
}

/// Wakes the worker: new events, or the server stopping.
#[derive(Default)]
struct Bell {
    state: Mutex<(bool, bool)>,
    rung: Condvar,
}

impl Bell {
    fn ring(&self, stop: bool) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.0 = true;
        s.1 |= stop;
        self.rung.notify_all();
    }

    /// Wait for a ring or `timeout`; whether to stop.
    fn wait(&self, timeout: Duration) -> bool {
        let s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let (mut s, _) = self
            .rung
            .wait_timeout_while(s, timeout, |s| !s.0)
            .unwrap_or_else(|p| p.into_inner());
        s.0 = false;
        s.1
    }
}

/// The running worker; stopped (and joined) when dropped.
pub struct Worker {
    bell: Arc<Bell>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Worker {
    pub fn start(app: Arc<App>, timeout: Duration) -> std::io::Result<Worker> {
        let bell = Arc::new(Bell::default());
        let ringer = Arc::downgrade(&bell);
        app.db().events().listen(move |_| {
            if let Some(bell) = ringer.upgrade() {
                bell.ring(false);
            }
        });
        let http = Http::new(timeout);
        // Longer than an attempt may take; a claim left by a crash is due again then.
        let lease = i64::try_from(timeout.as_secs()).unwrap_or(i64::MAX / 4) * 2 + 1;
        let waiter = bell.clone();
        let thread = std::thread::Builder::new()
            .name("marketplace-webhooks".into())
            .spawn(move || {
                loop {
                    let busy = match app.webhook_round(&http, ROUND, PARALLEL, lease) {
                        Ok(n) => n == ROUND,
                        Err(e) => {
                            tracing::warn!(error = %e.message, "webhook round failed");
                            false
                        }
                    };
                    let pause = if busy { Duration::ZERO } else { TICK };
                    if waiter.wait(pause) {
                        return;
                    }
                }
            })?;
        Ok(Worker {
            bell,
            thread: Some(thread),
        })
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.bell.ring(true);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
