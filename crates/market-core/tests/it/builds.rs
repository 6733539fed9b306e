//! Builds (`build.*`) run as real child processes by the runner, and the
//! releases they make (`release.*`): deploy with a smoke check, rollback,
//! pruning.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use market_core::AppConfig;
use market_core::builds::{BuildConfig, Runner};
use market_store::Reads;
use market_testkit::Client;
use serde_json::{Value, json};

use crate::modules::CATALOG;
use crate::support::*;

/// A server whose build command is the shell script `script`, with its runner.
struct Builds {
    env: Env,
    admin: Client,
    /// Where the scripts and their marker files live.
    work: tempfile::TempDir,
    runner: Option<Runner>,
}

fn setup(script: &str, deploy: Option<&str>, timeout_secs: u64, keep: usize) -> Builds {
    setup_in(script, deploy, timeout_secs, keep, None)
}

/// [`setup`] with builds in `dir` (a folder of the work dir by default).
fn setup_in(
    script: &str,
    deploy: Option<&str>,
    timeout_secs: u64,
    keep: usize,
    dir: Option<PathBuf>,
) -> Builds {
    let work = tempfile::tempdir().expect("work dir");
    let build_sh = work.path().join("build.sh");
    std::fs::write(&build_sh, script).expect("write build script");
    let deploy_cmd = deploy.map(|text| {
        let path = work.path().join("deploy.sh");
        std::fs::write(&path, text).expect("write deploy script");
        format!("sh {}", path.display())
    });
    let config = AppConfig {
        builds: BuildConfig {
            command: Some(format!("sh {}", build_sh.display())),
            deploy_command: deploy_cmd,
            dir: dir.unwrap_or_else(|| work.path().join("builds")),
            timeout: Duration::from_secs(timeout_secs),
            deploy_timeout: Duration::from_secs(10),
            kill_grace: Duration::from_secs(1),
            releases_keep: keep,
        },
        ..app_config()
    };
    let env = start_with(config, server_config());
    let (admin, _) = env.admin();
    admin.ok("module.import_catalog", json!({"toml": CATALOG}));
    admin.ok(
        "manifest.install",
        json!({"slug": "search-plus", "reason": "first"}),
    );
    let runner = Runner::start(env.app.clone()).expect("start the runner");
    Builds {
        env,
        admin,
        work,
        runner: Some(runner),
    }
}

impl Builds {
    fn path(&self, name: &str) -> PathBuf {
        self.work.path().join(name)
    }

    fn request(&self, profile: &str) -> Value {
        self.admin.ok("build.request", json!({"profile": profile}))
    }

    /// Wait until the build is in `status` (panics after 30 s).
    fn wait_for(&self, id: &str, status: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let b = self.admin.ok("build.get", json!({"id": id}));
            if b["status"] == status {
                return b;
            }
            assert!(
                Instant::now() < deadline,
                "build never became {status}: {b}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The whole log of a build, read in pieces of `piece` bytes.
    fn log(&self, id: &str, piece: u32) -> (String, usize) {
        let (mut text, mut offset, mut calls) = (String::new(), 0u64, 0);
        loop {
            let part = self.admin.ok(
                "build.logs",
                json!({"id": id, "offset": offset, "limit": piece}),
            );
            calls += 1;
            text.push_str(str_of(&part["data"]));
            let next = part["next_offset"].as_u64().expect("next_offset");
            if part["complete"] == true {
                return (text, calls);
            }
            assert!(next > offset || calls < 10_000, "log does not advance");
            offset = next;
        }
    }

    /// Pin the installed module to `version`: a new manifest hash.
    fn pin(&self, version: &str) {
        self.admin.ok(
            "manifest.install",
            json!({"slug": "search-plus", "version": version, "reason": format!("pin {version}")}),
        );
    }

    fn releases(&self) -> Vec<Value> {
        self.admin.ok("release.list", json!({}))["items"]
            .as_array()
            .expect("items")
            .clone()
    }
}

/// Wait for a pid file written by a script and read it.
fn wait_pid(path: &Path) -> i32 {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(pid) = std::fs::read_to_string(path)
            .ok()
            .and_then(|t| t.trim().parse().ok())
        {
            return pid;
        }
        assert!(
            Instant::now() < deadline,
            "no pid file at {}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Is a process with this id still alive (and not a zombie)?
fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

fn wait_gone(pid: i32) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while alive(pid) {
        assert!(Instant::now() < deadline, "process {pid} still runs");
        std::thread::sleep(Duration::from_millis(20));
    }
}

const SUCCEED: &str = "echo \"building $MARKETPLACE_BUILD_PROFILE $MARKETPLACE_BUILD_ID\"\ncat \"$MARKETPLACE_BUILD_MANIFEST\"\necho done >&2\n";

#[test]
fn a_build_succeeds_makes_a_release_and_is_shared_by_requests() {
    let b = setup(SUCCEED, None, 60, 5);
    let first = b.request("monolith");
    assert_eq!(first["status"], "queued");
    let id = id_of(&first);
    assert_eq!(
        id_of(&b.request("monolith")),
        id,
        "the same manifest and profile share a build"
    );
    let done = b.wait_for(&id, "succeeded");
    assert_eq!(done["exit_code"], 0);
    assert!(done["started_at"].is_string() && done["finished_at"].is_string());
    let manifest = b.admin.ok("manifest.get", json!({}));
    assert_eq!(done["manifest_hash"], manifest["manifest_hash"]);
    let (log, _) = b.log(&id, 65536);
    assert!(
        log.starts_with(&format!("building monolith {id}\n")),
        "{log}"
    );
    assert!(
        log.contains(str_of(&manifest["manifest"])),
        "the manifest file reached the command: {log}"
    );
    assert!(log.ends_with("done\n"), "stderr is captured too: {log}");
    assert_eq!(done["log_bytes"].as_u64(), Some(log.len() as u64));
    assert_eq!(
        id_of(&b.request("monolith")),
        id,
        "a succeeded build is returned again"
    );

    let headless = b.request("headless");
    assert_ne!(id_of(&headless), id);
    b.wait_for(&id_of(&headless), "succeeded");
    let releases = b.releases();
    assert_eq!(releases.len(), 2);
    assert_eq!(releases[1]["build_id"], json!(id));
    assert_eq!(releases[1]["release_id"], done["release_id"]);
    assert_eq!(releases[1]["profile"], "monolith");
    assert_eq!(releases[1]["current"], false);

    let audit = b.admin.ok("admin.audit", json!({"object_id": id}));
    let methods: Vec<&str> = audit["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|e| str_of(&e["method"]))
        .collect();
    assert_eq!(
        methods,
        vec!["build.finished", "build.start", "build.request"]
    );
    let listed = b.admin.ok("build.list", json!({"status": "succeeded"}));
    assert_eq!(listed["items"].as_array().map(Vec::len), Some(2));
    fails(
        &b.admin,
        "build.cancel",
        json!({"id": id}),
        4220,
        "invalid_state",
    );
    fails(
        &b.admin,
        "build.get",
        json!({"id": "01J00000000000000000000000"}),
        4040,
        "not_found",
    );
    let (user, _) = b.env.register("user@example.com");
    fails(
        &user,
        "build.request",
        json!({"profile": "monolith"}),
        4030,
        "forbidden",
    );
    fails(&user, "release.list", json!({}), 4030, "forbidden");
}

#[test]
fn a_failing_build_records_its_status_and_is_not_reused() {
    let b = setup(
        "echo 'compiling'\necho 'error: oops' >&2\nexit 3\n",
        None,
        60,
        5,
    );
    let id = id_of(&b.request("headless"));
    let failed = b.wait_for(&id, "failed");
    assert_eq!(failed["exit_code"], 3);
    assert_eq!(failed["error"], "the build command exited with status 3");
    assert_eq!(b.log(&id, 4096).0, "compiling\nerror: oops\n");
    assert!(failed["release_id"].is_null());
    assert!(b.releases().is_empty(), "a failed build makes no release");
    let again = b.request("headless");
    assert_ne!(id_of(&again), id, "a failed build is built again");
    b.wait_for(&id_of(&again), "failed");
}

#[test]
fn a_large_log_is_served_in_pieces() {
    let script = "i=0\nwhile [ $i -lt 20000 ]; do echo \"line $i of a build that prints a lot\"; i=$((i+1)); done\n";
    let b = setup(script, None, 60, 5);
    let id = id_of(&b.request("monolith"));
    let done = b.wait_for(&id, "succeeded");
    let (log, calls) = b.log(&id, 65536);
    assert_eq!(done["log_bytes"].as_u64(), Some(log.len() as u64));
    assert!(log.len() > 700_000, "{}", log.len());
    assert!(calls > 10, "read in {calls} pieces");
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 20000);
    assert_eq!(lines[0], "line 0 of a build that prints a lot");
    assert_eq!(lines[19999], "line 19999 of a build that prints a lot");
    let tail = b
        .admin
        .ok("build.logs", json!({"id": id, "offset": log.len() - 10}));
    assert_eq!(tail["data"], "nts a lot\n");
    assert_eq!(tail["complete"], true);
    let beyond = b
        .admin
        .ok("build.logs", json!({"id": id, "offset": log.len() + 100}));
    assert_eq!(beyond["data"], "");
}

#[test]
fn a_hanging_build_times_out_and_its_processes_die() {
    let b = setup(
        "echo $$ > \"$PIDS/build.pid\"\nsleep 1000 &\necho $! > \"$PIDS/child.pid\"\nwait\n"
            .replace("$PIDS", "$(dirname \"$0\")")
            .as_str(),
        None,
        1,
        5,
    );
    let id = id_of(&b.request("monolith"));
    let pid = wait_pid(&b.path("build.pid"));
    let child = wait_pid(&b.path("child.pid"));
    let failed = b.wait_for(&id, "failed");
    assert_eq!(failed["error"], "the build timed out after 1 s");
    wait_gone(pid);
    wait_gone(child);
}

#[test]
fn cancel_kills_a_build_that_ignores_sigterm() {
    let script =
        "trap '' TERM\necho $$ > \"$(dirname \"$0\")/build.pid\"\nwhile :; do sleep 0.1; done\n";
    let b = setup(script, None, 600, 5);
    let id = id_of(&b.request("monolith"));
    let pid = wait_pid(&b.path("build.pid"));
    b.wait_for(&id, "running");
    assert!(alive(pid));
    let started = Instant::now();
    let cancelled = b.admin.ok("build.cancel", json!({"id": id}));
    assert_eq!(cancelled["status"], "cancelled");
    wait_gone(pid);
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(900),
        "SIGKILL came after the grace period, took {took:?}"
    );
    // The runner records the end without undoing the cancel.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let b2 = b.admin.ok("build.get", json!({"id": id}));
        assert_eq!(b2["status"], "cancelled");
        if b2["version"].as_u64() == Some(4) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the runner never recorded the end: {b2}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // An ended build cannot be cancelled.
    fails(
        &b.admin,
        "build.cancel",
        json!({"id": id}),
        4220,
        "invalid_state",
    );
}

#[test]
fn builds_run_one_at_a_time() {
    let script = "echo \"start $MARKETPLACE_BUILD_PROFILE\" >> \"$(dirname \"$0\")/order\"\nsleep 0.3\necho \"end $MARKETPLACE_BUILD_PROFILE\" >> \"$(dirname \"$0\")/order\"\n";
    let b = setup(script, None, 60, 5);
    let one = id_of(&b.request("monolith"));
    let two = id_of(&b.request("headless"));
    b.wait_for(&one, "succeeded");
    b.wait_for(&two, "succeeded");
    let order = std::fs::read_to_string(b.path("order")).expect("order file");
    assert_eq!(
        order,
        "start monolith\nend monolith\nstart headless\nend headless\n"
    );
}

#[test]
fn a_build_left_running_is_failed_at_start_up() {
    let mut b = setup(SUCCEED, None, 60, 5);
    drop(b.runner.take());
    let id = id_of(&b.request("monolith"));
    // What a crash leaves behind: a build marked running with no runner.
    b.env
        .db
        .write(&market_store::Actor::system("test"), |tx| {
            let mut build: market_core::Build = tx.load(id.parse().expect("id"))?;
            build.status = market_core::BuildStatus::Running;
            tx.update(&mut build, None)
        })
        .expect("mark running");
    b.runner = Some(Runner::start(b.env.app.clone()).expect("restart the runner"));
    let failed = b.admin.ok("build.get", json!({"id": id}));
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["error"], "the server stopped during the build");
    let again = b.request("monolith");
    assert_ne!(id_of(&again), id);
    b.wait_for(&id_of(&again), "succeeded");
}

#[test]
fn deploy_checks_rollback_and_pruning() {
    let deploy = "echo \"checking $MARKETPLACE_RELEASE_ID\"\ntest \"$(cat \"$(dirname \"$0\")/verdict\")\" = pass\n";
    let b = setup(SUCCEED, Some(deploy), 60, 2);
    let verdict = |v: &str| std::fs::write(b.path("verdict"), v).expect("verdict");
    let build = |b: &Builds| {
        let id = id_of(&b.request("monolith"));
        str_of(&b.wait_for(&id, "succeeded")["release_id"]).to_string()
    };
    let r1 = build(&b);
    b.pin("1.0.1");
    let r2 = build(&b);
    fails(
        &b.admin,
        "release.rollback",
        json!({}),
        4220,
        "invalid_state",
    );

    verdict("pass");
    let deployed = b.admin.ok("release.deploy", json!({"release_id": r1}));
    assert_eq!(deployed["current"], true);
    assert_eq!(deployed["release_id"], json!(r1));
    verdict("fail");
    let err = fails(
        &b.admin,
        "release.deploy",
        json!({"release_id": r2}),
        4220,
        "invalid_state",
    );
    assert!(
        str_of(&err["data"]["output"]).contains(&format!("checking {r2}")),
        "{err}"
    );
    let current: Vec<Value> = b
        .releases()
        .into_iter()
        .filter(|r| r["current"] == true)
        .collect();
    assert_eq!(current.len(), 1);
    assert_eq!(
        current[0]["release_id"],
        json!(r1),
        "a failed check leaves the current release"
    );
    verdict("pass");
    b.admin.ok("release.deploy", json!({"release_id": r2}));
    fails(
        &b.admin,
        "release.deploy",
        json!({"release_id": r2}),
        4220,
        "invalid_state",
    );

    let back = b.admin.ok("release.rollback", json!({}));
    assert_eq!(back["release_id"], json!(r1));
    fails(
        &b.admin,
        "release.rollback",
        json!({}),
        4220,
        "invalid_state",
    );
    let forward = b.admin.ok("release.rollback", json!({"release_id": r2}));
    assert_eq!(forward["release_id"], json!(r2));
    let flags: Vec<(String, bool)> = b
        .releases()
        .iter()
        .map(|r| (str_of(&r["release_id"]).to_string(), r["current"] == true))
        .collect();
    assert_eq!(flags, vec![(r2.clone(), true), (r1.clone(), false)]);

    // Keep 2: a third release drops the oldest.
    b.pin("1.0.2");
    let r3 = build(&b);
    let kept: Vec<String> = b
        .releases()
        .iter()
        .map(|r| str_of(&r["release_id"]).to_string())
        .collect();
    assert_eq!(kept, vec![r3.clone(), r2.clone()]);
    fails(
        &b.admin,
        "release.deploy",
        json!({"release_id": r1}),
        4040,
        "not_found",
    );
    let audit = b.admin.ok("admin.audit", json!({"object_id": r2}));
    let methods: Vec<&str> = audit["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|e| str_of(&e["method"]))
        .collect();
    assert!(
        methods.contains(&"release.deploy") && methods.contains(&"release.rollback"),
        "{methods:?}"
    );
}

/// A build folder given as a relative path still hands the command a
/// manifest path it can open from inside the build's folder.
#[test]
fn a_relative_build_dir_gives_usable_paths() {
    let scratch = tempfile::tempdir_in(concat!(env!("CARGO_MANIFEST_DIR"), "/../../target"))
        .expect("scratch dir in target");
    let name = scratch
        .path()
        .file_name()
        .expect("name")
        .to_string_lossy()
        .to_string();
    let relative = PathBuf::from("../../target").join(name).join("builds");
    let b = setup_in(
        "cat \"$MARKETPLACE_BUILD_MANIFEST\"\n",
        None,
        60,
        5,
        Some(relative),
    );
    let id = id_of(&b.request("headless"));
    b.wait_for(&id, "succeeded");
    assert!(b.log(&id, 65536).0.contains("[modules.\"search-plus\"]"));
}
