//! Child processes of build and deploy commands: `sh -c COMMAND` in its own
//! process group, output into a file, a timeout, and a stop that sends
//! SIGTERM to the whole group, then SIGKILL after a grace period.

use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How often a running command is checked.
const POLL: Duration = Duration::from_millis(50);

/// How a command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// It exited by itself with this status.
    Exited(i32),
    /// A signal ended it (not one of ours).
    Signalled(i32),
    /// It ran past its timeout and was killed.
    TimedOut,
    /// `should_stop` asked for it to end, and it was killed.
    Stopped,
    /// It could not be started.
    SpawnFailed(String),
}

/// What to run.
pub struct Job<'a> {
    pub command: &'a str,
    pub env: Vec<(&'a str, String)>,
    pub dir: &'a Path,
    /// Where stdout and stderr go (appended).
    pub log: &'a Path,
    pub timeout: Duration,
    /// Between SIGTERM and SIGKILL.
    pub grace: Duration,
}

fn signal_group(pgid: i32, signal: i32) {
    // SAFETY: kill(2) with a negative pid signals a process group; it has no
    // memory effects, and a group that is gone only yields ESRCH.
    unsafe {
        libc::kill(-pgid, signal);
    }
}

/// Run `job` until it exits, times out, or `should_stop` returns true.
/// Whatever the command left running in its process group is killed when
/// it ends.
pub fn run(job: &Job<'_>, should_stop: impl Fn() -> bool) -> Outcome {
    let log = match File::options().create(true).append(true).open(job.log) {
        Ok(f) => f,
        Err(e) => return Outcome::SpawnFailed(format!("cannot open the log file: {e}")),
    };
    let err_log = match log.try_clone() {
        Ok(f) => f,
        Err(e) => return Outcome::SpawnFailed(format!("cannot open the log file: {e}")),
    };
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(job.command)
        .current_dir(job.dir)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(err_log)
        .process_group(0);
    for (k, v) in &job.env {
        command.env(k, v);
    }
    let mut child = match command.spawn() {
        Ok(c) => c,
        Err(e) => return Outcome::SpawnFailed(format!("cannot start `sh -c`: {e}")),
    };
    let Ok(pgid) = i32::try_from(child.id()) else {
        return Outcome::SpawnFailed("process id out of range".into());
    };
    let started = Instant::now();
    let ended = loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                use std::os::unix::process::ExitStatusExt;
                break match (status.code(), status.signal()) {
                    (Some(code), _) => Outcome::Exited(code),
                    (None, Some(sig)) => Outcome::Signalled(sig),
                    (None, None) => Outcome::Exited(-1),
                };
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(error = %e, "cannot wait for a child process");
            }
        }
        let timed_out = started.elapsed() >= job.timeout;
        if timed_out || should_stop() {
            terminate(&mut child, pgid, job.grace);
            break if timed_out {
                Outcome::TimedOut
            } else {
                Outcome::Stopped
            };
        }
        std::thread::sleep(POLL);
    };
    // Nothing of the command outlives it.
    signal_group(pgid, libc::SIGKILL);
    ended
}

/// Is any process of the group left?
fn group_alive(pgid: i32) -> bool {
    // SAFETY: signal 0 only checks that the group exists; nothing is sent.
    unsafe { libc::kill(-pgid, 0) == 0 }
}

/// SIGTERM to the group; SIGKILL once the grace ran out with any of it left.
fn terminate(child: &mut std::process::Child, pgid: i32, grace: Duration) {
    signal_group(pgid, libc::SIGTERM);
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        let leader_gone = matches!(child.try_wait(), Ok(Some(_)));
        if leader_gone && !group_alive(pgid) {
            break;
        }
        std::thread::sleep(POLL);
    }
    signal_group(pgid, libc::SIGKILL);
    let _ = child.wait();
}
