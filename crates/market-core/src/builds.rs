//! `build.*` and `release.*`: builds of the current manifest by the
//! configured build command, the runner that executes them one at a time,
//! and the releases that succeeded builds make (deploy, rollback, pruning).
//!
//! Files of a build live in `<dir>/<build id>/`: `modules.toml` (the
//! manifest built, named by `MARKETPLACE_BUILD_MANIFEST`) and `build.log`
//! (the command's stdout and stderr, served by `build.logs`). Smoke checks
//! of a deploy append to `deploy.log` beside them.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use market_rpc::{Ctx, RpcError};
use market_store::{Actor, Id, Page, PageRequest, Reads, Stored, WriteTx};

use crate::listing::{self, Source};
use crate::modules::current_manifest;
use crate::process::{self, Job, Outcome};
use crate::{
    App, Build, BuildCancelParams, BuildGetParams, BuildListParams, BuildLog, BuildLogsParams,
    BuildRequestParams, BuildService, BuildStatus, Release, ReleaseDeployParams, ReleaseInfo,
    ReleaseListParams, ReleaseRollbackParams, ReleaseService,
};

/// How builds and deploys run.
#[derive(Debug, Clone, PartialEq)]
pub struct BuildConfig {
    /// `MARKETPLACE_BUILD_COMMAND`, run with `sh -c`; builds are refused without one.
    pub command: Option<String>,
    /// `MARKETPLACE_DEPLOY_COMMAND`: the smoke check of a deploy; without
    /// one a deploy makes the release current at once.
    pub deploy_command: Option<String>,
    /// Where build folders are made.
    pub dir: PathBuf,
    /// Longest a build command may run.
    pub timeout: Duration,
    /// Longest a smoke check may run.
    pub deploy_timeout: Duration,
    /// Between SIGTERM and SIGKILL when a command is stopped.
    pub kill_grace: Duration,
    /// Releases kept (the current one is always kept too).
    pub releases_keep: usize,
}

impl Default for BuildConfig {
    fn default() -> Self {
        BuildConfig {
            command: None,
            deploy_command: None,
            dir: std::env::temp_dir().join("marketplace-builds"),
            timeout: Duration::from_secs(3600),
            deploy_timeout: Duration::from_secs(300),
            kill_grace: Duration::from_secs(10),
            releases_keep: 5,
        }
    }
}

/// How often the runner looks for queued builds.
const IDLE_POLL: Duration = Duration::from_millis(200);
/// Largest piece `build.logs` returns.
const MAX_LOG_PIECE: u64 = 1024 * 1024;
/// How much of a smoke check's output a release keeps.
const CHECK_TAIL: u64 = 4096;

fn is_done(status: BuildStatus) -> bool {
    matches!(
        status,
        BuildStatus::Succeeded | BuildStatus::Failed | BuildStatus::Cancelled
    )
}

impl App {
    /// A build's folder, absolute: commands run inside it and get paths in it.
    fn build_dir(&self, id: Id) -> PathBuf {
        let dir = self.config.builds.dir.join(id.to_string());
        std::path::absolute(&dir).unwrap_or(dir)
    }

    /// Mark builds left `running` by a stopped or crashed server `failed`;
    /// the number marked. Run at start-up, before the runner.
    pub fn fail_interrupted_builds(&self) -> Result<usize, RpcError> {
        self.db.write(&Actor::system("build.finished"), |tx| {
            let running =
                listing::all_of_value(tx, Build::BY_STATUS, BuildStatus::Running.as_str())?;
            for mut build in running.iter().cloned() {
                build.status = BuildStatus::Failed;
                build.error = Some("the server stopped during the build".into());
                build.finished_at = Some(tx.now());
                tx.update(&mut build, None)?;
                build_finished(tx, &build)?;
            }
            Ok::<_, RpcError>(running.len())
        })
    }

    /// Take the oldest queued build, marking it running.
    fn claim_build(&self) -> Result<Option<Build>, RpcError> {
        self.db.write(&Actor::system("build.start"), |tx| {
            let queued = listing::all_of_value(tx, Build::BY_STATUS, BuildStatus::Queued.as_str())?;
            let Some(mut build) = queued.into_iter().min_by_key(|b| b.id) else {
                return Ok(None);
            };
            build.status = BuildStatus::Running;
            build.started_at = Some(tx.now());
            tx.update(&mut build, None)?;
            Ok(Some(build))
        })
    }

    fn build_status(&self, id: Id) -> Option<BuildStatus> {
        match self.db.read(|tx| tx.get::<Build>(id)) {
            Ok(b) => b.map(|b| b.status),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read a build's status");
                None
            }
        }
    }

    /// Run one claimed build to its end and record how it ended.
    fn execute_build(&self, build: &Build, stop: &AtomicBool) -> Result<(), RpcError> {
        let cfg = &self.config.builds;
        let dir = self.build_dir(build.id);
        let manifest_path = dir.join("modules.toml");
        let log_path = dir.join("build.log");
        let prepared = std::fs::create_dir_all(&dir)
            .and_then(|()| std::fs::write(&manifest_path, &build.manifest));
        let outcome = match (prepared, &cfg.command) {
            (Err(e), _) => Outcome::SpawnFailed(format!("cannot prepare {}: {e}", dir.display())),
            (Ok(()), None) => Outcome::SpawnFailed("no build command is configured".into()),
            (Ok(()), Some(command)) => {
                tracing::info!(build = %build.id, profile = %build.profile, "build started");
                let job = Job {
                    command,
                    env: vec![
                        (
                            "MARKETPLACE_BUILD_MANIFEST",
                            manifest_path.display().to_string(),
                        ),
                        ("MARKETPLACE_BUILD_ID", build.id.to_string()),
                        ("MARKETPLACE_BUILD_PROFILE", build.profile.to_string()),
                    ],
                    dir: &dir,
                    log: &log_path,
                    timeout: cfg.timeout,
                    grace: cfg.kill_grace,
                };
                process::run(&job, || {
                    stop.load(Ordering::Relaxed)
                        || self.build_status(build.id) != Some(BuildStatus::Running)
                })
            }
        };
        let log_bytes = std::fs::metadata(&log_path).map_or(0, |m| m.len());
        tracing::info!(build = %build.id, ?outcome, "build ended");
        self.db.write(&Actor::system("build.finished"), |tx| {
            let mut b: Build = tx.load(build.id)?;
            b.log_bytes = log_bytes;
            if b.status == BuildStatus::Running {
                b.finished_at = Some(tx.now());
                match &outcome {
                    Outcome::Exited(0) => b.status = BuildStatus::Succeeded,
                    Outcome::Exited(code) => {
                        b.status = BuildStatus::Failed;
                        b.exit_code = Some(i64::from(*code));
                        b.error = Some(format!("the build command exited with status {code}"));
                    }
                    Outcome::Signalled(sig) => {
                        b.status = BuildStatus::Failed;
                        b.error = Some(format!("the build command was killed by signal {sig}"));
                    }
                    Outcome::TimedOut => {
                        b.status = BuildStatus::Failed;
                        b.error = Some(format!(
                            "the build timed out after {} s",
                            cfg.timeout.as_secs()
                        ));
                    }
                    Outcome::Stopped => {
                        b.status = BuildStatus::Failed;
                        b.error = Some("the server stopped during the build".into());
                    }
                    Outcome::SpawnFailed(why) => {
                        b.status = BuildStatus::Failed;
                        b.error = Some(why.clone());
                    }
                }
                if outcome == Outcome::Exited(0) {
                    b.exit_code = Some(0);
                    let mut release = Release {
                        build_id: b.id,
                        manifest_hash: b.manifest_hash.clone(),
                        profile: b.profile,
                        ..Default::default()
                    };
                    tx.insert(&mut release)?;
                    b.release_id = Some(release.id);
                    prune_releases(tx, cfg.releases_keep)?;
                }
                tx.update(&mut b, None)?;
                build_finished(tx, &b)?;
            } else {
                tx.update(&mut b, None)?;
            }
            Ok::<_, RpcError>(())
        })
    }

    /// Run a smoke check of `release`; its outcome and the end of its output.
    fn smoke_check(&self, release: &Release) -> (bool, String) {
        let cfg = &self.config.builds;
        let Some(command) = &cfg.deploy_command else {
            return (true, String::new());
        };
        let dir = self.build_dir(release.build_id);
        let log_path = dir.join("deploy.log");
        if let Err(e) = std::fs::create_dir_all(&dir) {
            return (false, format!("cannot prepare {}: {e}", dir.display()));
        }
        let start = std::fs::metadata(&log_path).map_or(0, |m| m.len());
        let job = Job {
            command,
            env: vec![
                ("MARKETPLACE_RELEASE_ID", release.id.to_string()),
                ("MARKETPLACE_BUILD_ID", release.build_id.to_string()),
                ("MARKETPLACE_BUILD_PROFILE", release.profile.to_string()),
                (
                    "MARKETPLACE_BUILD_MANIFEST",
                    dir.join("modules.toml").display().to_string(),
                ),
            ],
            dir: &dir,
            log: &log_path,
            timeout: cfg.deploy_timeout,
            grace: cfg.kill_grace,
        };
        let outcome = process::run(&job, || false);
        let end = std::fs::metadata(&log_path).map_or(start, |m| m.len());
        let from = start.max(end.saturating_sub(CHECK_TAIL));
        let tail = read_piece(&log_path, from, CHECK_TAIL).unwrap_or_default();
        let passed = outcome == Outcome::Exited(0);
        let summary = match outcome {
            Outcome::Exited(0) => String::new(),
            Outcome::Exited(code) => format!("the smoke check exited with status {code}"),
            Outcome::Signalled(sig) => format!("the smoke check was killed by signal {sig}"),
            Outcome::TimedOut => format!(
                "the smoke check timed out after {} s",
                cfg.deploy_timeout.as_secs()
            ),
            Outcome::Stopped => "the smoke check was stopped".into(),
            Outcome::SpawnFailed(why) => why,
        };
        let output = if summary.is_empty() {
            tail
        } else {
            format!("{tail}{summary}\n")
        };
        (passed, output)
    }

    /// Check `target` and, when the check passes, make it the current release.
    fn make_current(&self, ctx: &Ctx, target: Release) -> Result<ReleaseInfo, RpcError> {
        let (passed, output) = self.smoke_check(&target);
        if !passed {
            // Kept although the call fails, so the failure is on record and
            // audited; nothing becomes current.
            self.db.write(&ctx.actor(), |tx| {
                let mut r: Release = tx.load(target.id)?;
                r.check_passed = Some(false);
                r.check_output = Some(output.clone());
                tx.update(&mut r, None)?;
                Ok::<_, RpcError>(())
            })?;
            return Err(RpcError::invalid_state(format!(
                "the smoke check of release {} failed; the current release stays",
                target.id
            ))
            .with_data("output", serde_json::Value::String(output)));
        }
        ctx.write(&self.db, |tx| {
            for mut other in all_releases(tx)? {
                if other.current && other.id != target.id {
                    other.current = false;
                    tx.update(&mut other, None)?;
                }
            }
            let mut r: Release = tx.get(target.id)?.ok_or_else(Release::not_found)?;
            r.current = true;
            r.deployed_at = Some(tx.now());
            r.check_passed = Some(true);
            r.check_output = Some(output.clone());
            tx.update(&mut r, None)?;
            Ok(info(&r))
        })
    }
}

/// Every release, newest first (they are few: pruning keeps a handful).
fn all_releases<R: Reads>(tx: &R) -> Result<Vec<Release>, RpcError> {
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let page: Page<Release> = tx.list(&PageRequest { limit: 500, cursor })?;
        out.extend(page.items);
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => return Ok(out),
        }
    }
}

/// Delete releases beyond the newest `keep`, never the current one.
fn prune_releases(tx: &mut WriteTx<'_>, keep: usize) -> Result<(), RpcError> {
    for old in all_releases(tx)?.into_iter().skip(keep.max(1)) {
        if !old.current {
            tx.delete::<Release>(old.id)?;
        }
    }
    Ok(())
}

fn info(r: &Release) -> ReleaseInfo {
    ReleaseInfo {
        release_id: r.id,
        manifest_hash: r.manifest_hash.clone(),
        profile: r.profile,
        build_id: r.build_id,
        created_at: r.created_at,
        current: r.current,
        deployed_at: r.deployed_at,
    }
}

/// Up to `limit` bytes of a file from `offset`, cut at a character boundary
/// when one is near.
fn read_piece(path: &Path, offset: u64, limit: u64) -> std::io::Result<String> {
    let mut file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(String::new()),
        Err(e) => return Err(e),
    };
    file.seek(SeekFrom::Start(offset))?;
    let mut bytes = Vec::new();
    file.take(limit).read_to_end(&mut bytes)?;
    Ok(utf8_prefix(bytes))
}

/// The longest valid UTF-8 prefix of `bytes` (a character cut at the end
/// is left for the next piece), or all of it with replacements when the
/// bytes are not UTF-8 at all.
fn utf8_prefix(mut bytes: Vec<u8>) -> String {
    match std::str::from_utf8(&bytes) {
        Ok(_) => String::from_utf8(bytes).unwrap_or_default(),
        Err(e) if e.error_len().is_none() && e.valid_up_to() > 0 => {
            bytes.truncate(e.valid_up_to());
            String::from_utf8(bytes).unwrap_or_default()
        }
        Err(_) => String::from_utf8_lossy(&bytes).into_owned(),
    }
}

/// Executes queued builds one at a time on its own thread, until dropped.
pub struct Runner {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Runner {
    /// Mark interrupted builds failed, then start running queued builds.
    pub fn start(app: Arc<App>) -> Result<Runner, RpcError> {
        let failed = app.fail_interrupted_builds()?;
        if failed > 0 {
            tracing::warn!(failed, "builds interrupted by a stop were marked failed");
        }
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("marketplace-builds".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    match app.claim_build() {
                        Ok(Some(build)) => {
                            if let Err(e) = app.execute_build(&build, &flag) {
                                tracing::error!(build = %build.id, error = %e, "cannot record a build's end");
                            }
                        }
                        Ok(None) => std::thread::sleep(IDLE_POLL),
                        Err(e) => {
                            tracing::warn!(error = %e, "cannot look for queued builds");
                            std::thread::sleep(IDLE_POLL);
                        }
                    }
                }
            })
            .map_err(|e| {
                tracing::error!(error = %e, "cannot start the build runner");
                RpcError::internal()
            })?;
        Ok(Runner {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Runner {
    /// Stops a running command (its build is marked failed) and waits.
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl BuildService for App {
    fn request(&self, ctx: &Ctx, p: BuildRequestParams) -> Result<Build, RpcError> {
        if self.config.builds.command.is_none() {
            return Err(RpcError::invalid_state(
                "builds are off: MARKETPLACE_BUILD_COMMAND is not set",
            ));
        }
        ctx.write(&self.db, |tx| {
            let manifest = current_manifest(tx)?;
            let key = format!("{}:{}", manifest.manifest_hash, p.profile);
            let same = listing::all_of_value(tx, Build::BY_KEY, &key)?;
            if let Some(existing) = same
                .into_iter()
                .filter(|b| {
                    matches!(
                        b.status,
                        BuildStatus::Queued | BuildStatus::Running | BuildStatus::Succeeded
                    )
                })
                .max_by_key(|b| b.id)
            {
                return Ok(existing);
            }
            let mut build = Build {
                manifest_hash: manifest.manifest_hash,
                manifest_revision: manifest.revision,
                manifest: manifest.manifest,
                profile: p.profile,
                key: key.clone(),
                status: BuildStatus::Queued,
                requested_by: ctx.actor().actor_id,
                ..Default::default()
            };
            tx.insert(&mut build)?;
            Ok(build)
        })
    }

    fn get(&self, _ctx: &Ctx, p: BuildGetParams) -> Result<Build, RpcError> {
        self.db
            .read(|tx| tx.get::<Build>(p.id))?
            .ok_or_else(Build::not_found)
    }

    fn list(&self, _ctx: &Ctx, p: BuildListParams) -> Result<Page<Stored<Build>>, RpcError> {
        let page = p.page()?;
        self.db.read(|tx| match p.status {
            Some(s) => listing::filtered_stored(
                tx,
                Source::Index(Build::BY_STATUS, s.as_str()),
                &page,
                |_| true,
            ),
            None => listing::stored(tx, Source::All, &page),
        })
    }

    fn logs(&self, _ctx: &Ctx, p: BuildLogsParams) -> Result<BuildLog, RpcError> {
        let build = self
            .db
            .read(|tx| tx.get::<Build>(p.id))?
            .ok_or_else(Build::not_found)?;
        let offset = p.offset.unwrap_or(0);
        let limit = p.limit.map_or(64 * 1024, u64::from).min(MAX_LOG_PIECE);
        let path = self.build_dir(build.id).join("build.log");
        let size = std::fs::metadata(&path).map_or(0, |m| m.len());
        let data = read_piece(&path, offset.min(size), limit).map_err(|e| {
            tracing::error!(build = %build.id, error = %e, "cannot read a build log");
            RpcError::internal()
        })?;
        let next_offset = offset.min(size) + data.len() as u64;
        Ok(BuildLog {
            build_id: build.id,
            offset,
            next_offset,
            complete: is_done(build.status) && next_offset >= size,
            data,
        })
    }

    fn cancel(&self, ctx: &Ctx, p: BuildCancelParams) -> Result<Build, RpcError> {
        ctx.write(&self.db, |tx| {
            let mut build = tx.get::<Build>(p.id)?.ok_or_else(Build::not_found)?;
            if is_done(build.status) {
                return Err(RpcError::invalid_state(format!(
                    "the build is {} already",
                    build.status
                )));
            }
            build.status = BuildStatus::Cancelled;
            build.error = Some(format!("cancelled by {}", ctx.actor().actor_id));
            build.finished_at = Some(tx.now());
            tx.update(&mut build, None)?;
            Ok(build)
        })
    }
}

impl ReleaseService for App {
    fn list(&self, _ctx: &Ctx, p: ReleaseListParams) -> Result<Page<ReleaseInfo>, RpcError> {
        let page = p.page()?;
        let found: Page<Release> = self.db.read(|tx| tx.list(&page))?;
        Ok(Page {
            items: found.items.iter().map(info).collect(),
            next_cursor: found.next_cursor,
        })
    }

    fn deploy(&self, ctx: &Ctx, p: ReleaseDeployParams) -> Result<ReleaseInfo, RpcError> {
        let release = self
            .db
            .read(|tx| tx.get::<Release>(p.release_id))?
            .ok_or_else(Release::not_found)?;
        if release.current {
            return Err(RpcError::invalid_state("the release is current already"));
        }
        self.make_current(ctx, release)
    }

    fn rollback(&self, ctx: &Ctx, p: ReleaseRollbackParams) -> Result<ReleaseInfo, RpcError> {
        let releases = self.db.read(|tx| all_releases(tx))?;
        let current = releases
            .iter()
            .find(|r| r.current)
            .ok_or_else(|| RpcError::invalid_state("no release is current"))?;
        let target = match p.release_id {
            Some(id) => releases
                .iter()
                .find(|r| r.id == id)
                .ok_or_else(Release::not_found)?,
            None => releases
                .iter()
                .find(|r| r.id < current.id)
                .ok_or_else(|| RpcError::invalid_state("no release before the current one"))?,
        };
        if target.id == current.id {
            return Err(RpcError::invalid_state("the release is current already"));
        }
        self.make_current(ctx, target.clone())
    }
}

/// `build.finished`: the user who requested the build is concerned.
fn build_finished(tx: &mut WriteTx<'_>, build: &Build) -> Result<(), RpcError> {
    crate::events::emit(
        tx,
        "build.finished",
        "build",
        build.id,
        build.requested_by.parse().into_iter().collect(),
        serde_json::json!({
            "status": build.status.as_str(),
            "profile": build.profile.as_str(),
            "manifest_hash": build.manifest_hash,
            "exit_code": build.exit_code,
            "error": build.error,
            "release_id": build.release_id.map(|id| id.to_string()),
        }),
    )
}
