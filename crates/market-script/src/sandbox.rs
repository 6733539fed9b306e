//! The sandbox: one [`harden`] applied to every engine.
//!
//! Scripts can compute, call the marketplace API and print; nothing else.
//! There is no file system or process access in Rhai itself (the engine is
//! built without any file or OS package), `import` and `eval` are disabled,
//! and every resource a script can exhaust is capped: operations, call
//! depth, expression depth, string/array/map sizes, wall-clock time and
//! (on Linux) the memory the process gains during a run, which also catches
//! collections that grow where Rhai does not measure them (a map filled
//! with `m[key] = value`). A script over a limit stops with an error naming
//! the limit; the process and the engine stay usable.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rhai::Engine;
use rhai::module_resolvers::DummyModuleResolver;

/// How often (in operations) the wall clock is read.
const CLOCK_EVERY: u64 = 1024;

/// How often (in operations) the process's memory is read.
const MEMORY_EVERY: u64 = 64 * 1024;

const MIB: u64 = 1024 * 1024;

/// What one script run may use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Operations per run (statements, expressions, calls); 0 means no limit.
    pub max_operations: u64,
    /// Nested function calls.
    pub max_call_levels: usize,
    /// Nesting of expressions, at the top level and inside functions.
    pub max_expr_depth: usize,
    pub max_fn_expr_depth: usize,
    /// Bytes of one string.
    pub max_string_size: usize,
    /// Items of one array.
    pub max_array_size: usize,
    /// Entries of one object map.
    pub max_map_size: usize,
    /// Wall-clock time per run; `None` means no limit.
    pub max_duration: Option<Duration>,
    /// Bytes of resident memory the process may gain during a run (read
    /// on Linux only); `None` means no limit. Leave room for the
    /// database's cache when scripts run locally.
    pub max_memory_growth: Option<u64>,
}

impl Default for Limits {
    /// Limits for `marketplace run`: room for seeding and migrating large
    /// databases, still a stop for runaway scripts.
    fn default() -> Limits {
        Limits {
            max_operations: 2_000_000_000,
            max_call_levels: 64,
            max_expr_depth: 64,
            max_fn_expr_depth: 32,
            max_string_size: 16 * 1024 * 1024,
            max_array_size: 1_000_000,
            max_map_size: 100_000,
            max_duration: Some(Duration::from_secs(3600)),
            max_memory_growth: Some(4096 * MIB),
        }
    }
}

impl Limits {
    /// Limits for one REPL entry.
    pub fn interactive() -> Limits {
        Limits {
            max_operations: 200_000_000,
            max_duration: Some(Duration::from_secs(300)),
            max_memory_growth: Some(1024 * MIB),
            ..Limits::default()
        }
    }
}

/// The wall clock of an engine's runs: [`Watchdog::start`] before each run.
#[derive(Clone, Debug)]
pub struct Watchdog {
    inner: Arc<Clock>,
}

#[derive(Debug)]
struct Clock {
    base: Instant,
    /// Nanoseconds after `base` at which the running script stops;
    /// `u64::MAX` when there is no limit or nothing runs.
    deadline: AtomicU64,
    limit: Option<Duration>,
    /// Resident bytes when the run started.
    baseline: AtomicU64,
    max_growth: Option<u64>,
}

impl Watchdog {
    /// Start timing a run.
    pub fn start(&self) {
        let deadline = match self.inner.limit {
            Some(limit) => {
                let at = self.inner.base.elapsed().saturating_add(limit);
                u64::try_from(at.as_nanos()).unwrap_or(u64::MAX)
            }
            None => u64::MAX,
        };
        self.inner.deadline.store(deadline, Ordering::Relaxed);
        if self.inner.max_growth.is_some() {
            let now = resident_bytes().unwrap_or(0);
            self.inner.baseline.store(now, Ordering::Relaxed);
        }
    }

    fn over_memory(&self) -> bool {
        let Some(max) = self.inner.max_growth else {
            return false;
        };
        let baseline = self.inner.baseline.load(Ordering::Relaxed);
        resident_bytes().is_some_and(|now| now.saturating_sub(baseline) > max)
    }

    fn expired(&self) -> bool {
        let deadline = self.inner.deadline.load(Ordering::Relaxed);
        deadline != u64::MAX
            && u64::try_from(self.inner.base.elapsed().as_nanos()).unwrap_or(u64::MAX) > deadline
    }
}

/// Apply the sandbox to `engine`. Every engine of this crate goes through
/// here; call [`Watchdog::start`] before each run to arm the time limit.
/// `print` goes to stdout and `debug` to stderr (a session may redirect both).
pub fn harden(engine: &mut Engine, limits: &Limits) -> Watchdog {
    engine.set_module_resolver(DummyModuleResolver::new());
    engine.disable_symbol("import");
    engine.disable_symbol("eval");
    engine.set_max_operations(limits.max_operations);
    engine.set_max_call_levels(limits.max_call_levels);
    engine.set_max_expr_depths(limits.max_expr_depth, limits.max_fn_expr_depth);
    engine.set_max_string_size(limits.max_string_size);
    engine.set_max_array_size(limits.max_array_size);
    engine.set_max_map_size(limits.max_map_size);
    engine.on_print(|text| println!("{text}"));
    engine.on_debug(|text, source, pos| match (source, pos.line()) {
        (Some(source), Some(line)) => eprintln!("{source}:{line}: {text}"),
        (None, Some(line)) => eprintln!("line {line}: {text}"),
        _ => eprintln!("{text}"),
    });
    let watchdog = Watchdog {
        inner: Arc::new(Clock {
            base: Instant::now(),
            deadline: AtomicU64::new(u64::MAX),
            limit: limits.max_duration,
            baseline: AtomicU64::new(0),
            max_growth: limits.max_memory_growth,
        }),
    };
    if limits.max_duration.is_some() || limits.max_memory_growth.is_some() {
        let clock = watchdog.clone();
        let late = format!(
            "script stopped: it ran longer than {}s (the time limit)",
            limits.max_duration.unwrap_or_default().as_secs_f64()
        );
        let big = format!(
            "script stopped: the process grew by more than {} MiB during the run (the memory limit)",
            limits.max_memory_growth.unwrap_or_default() / MIB
        );
        engine.on_progress(move |ops| {
            if ops % CLOCK_EVERY != 0 {
                None
            } else if clock.expired() {
                Some(late.clone().into())
            } else if ops % MEMORY_EVERY == 0 && clock.over_memory() {
                Some(big.clone().into())
            } else {
                None
            }
        });
    }
    watchdog
}

/// The process's resident memory in bytes (Linux); `None` elsewhere.
fn resident_bytes() -> Option<u64> {
    if !cfg!(target_os = "linux") {
        return None;
    }
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}
