//! `marketplace run` and `marketplace repl` as an operator uses them: exit
//! statuses, `file:line:col` errors, `--set`, piped stdin, and both
//! transports.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;

use market_core::{Added, AppConfig, Role, User, UserStatus};
use market_server::ServerConfig;
use market_store::{Db, SecretCipher};
use market_testkit::TestServer;
use serde_json::json;

const KEY: &str = "1111111111111111111111111111111111111111111111111111111111111111";

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_marketplace"));
    c.env("MARKETPLACE_SECRET_KEY", KEY)
        .env_remove("MARKETPLACE_TOKEN")
        .env_remove("MARKETPLACE_DB");
    c
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

struct Dir {
    dir: tempfile::TempDir,
}

impl Dir {
    fn new() -> Dir {
        Dir {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn db(&self) -> String {
        format!("redb://{}", self.dir.path().join("m.redb").display())
    }

    fn script(&self, name: &str, body: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, body).unwrap();
        path
    }

    fn run(&self, script: &Path, args: &[&str]) -> Output {
        bin()
            .current_dir(self.dir.path())
            .arg("run")
            .arg(script)
            .args(args)
            .output()
            .unwrap()
    }

    fn repl(&self, args: &[&str], stdin: &str) -> Output {
        let mut child = bin()
            .current_dir(self.dir.path())
            .arg("repl")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }
}

#[test]
fn run_passes_set_values_and_exits_zero() {
    let d = Dir::new();
    let script = d.script(
        "vars.rhai",
        "let n = answer + 1;\nprint(`n=${n} flag=${flag} name=${name} rate=${type_of(rate)}`);\nprint(arg(\"missing\", \"default\"));\nprint(whoami().kind);\n",
    );
    let db = d.db();
    let out = d.run(
        &script,
        &[
            "--db",
            &db,
            "--set",
            "answer=41",
            "--set",
            "flag=true",
            "--set",
            "name=ada",
            "--set",
            "rate=1.5",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "n=42 flag=true name=ada rate=f64\ndefault\nsystem\n"
    );
}

#[test]
fn a_failing_script_exits_one_with_file_line_col() {
    let d = Dir::new();
    let db = d.db();
    let cases = [
        (
            "throw.rhai",
            "let a = 1;\nlet b = 2;\n    throw \"boom\";\n",
            ":3:5: boom",
        ),
        ("syntax.rhai", "let x = ;\n", ":1:9: Syntax error"),
        (
            "rpc.rhai",
            "let u = user::get(#{id: \"01ARZ3NDEKTSV4RRFFQ69G5FAV\"});\n",
            ":1:15: user.get: user not found (not_found 4040)",
        ),
        (
            "needs.rhai",
            "let e = arg(\"email\");\n",
            ":1:9: this script needs a value for 'email': pass --set email=...",
        ),
    ];
    for (name, body, expected) in cases {
        let script = d.script(name, body);
        let out = d.run(&script, &["--db", &db]);
        assert_eq!(out.status.code(), Some(1), "{name}");
        let stderr = text(&out.stderr);
        let prefix = format!("{}{expected}", script.display());
        assert!(stderr.starts_with(&prefix), "{name}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{name}: {stderr}");
    }
}

#[test]
fn run_refuses_what_it_cannot_start() {
    let d = Dir::new();
    let db = d.db();
    let script = d.script("ok.rhai", "1");
    let out = d.run(&script, &["--db", &db, "--set", "novalue"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("expected name=value"));
    let out = d.run(&d.dir.path().join("missing.rhai"), &["--db", &db]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("missing.rhai: cannot read the script"));
    let out = d.run(&script, &["--db", &db, "--url", "http://127.0.0.1:1/rpc"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "--db and --url exclude each other"
    );
    // a database held by another process (a server) is a clear error
    let held = Db::open(&db).unwrap();
    let out = d.run(&script, &["--db", &db]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("in use by another process"),
        "{}",
        text(&out.stderr)
    );
    drop(held);
    assert_eq!(d.run(&script, &["--db", &db]).status.code(), Some(0));
}

#[test]
fn a_runaway_script_stops_at_the_time_limit() {
    let d = Dir::new();
    let db = d.db();
    let script = d.script("spin.rhai", "let n = 0;\nloop { n += 1; }\n");
    let out = d.run(&script, &["--db", &db, "--timeout", "1"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("spin.rhai:2:"), "{stderr}");
    assert!(
        stderr.contains("ran longer than 1s (the time limit)"),
        "{stderr}"
    );
}

#[test]
fn repl_runs_piped_stdin_as_a_script() {
    let d = Dir::new();
    let db = d.db();
    let out = d.repl(&["--db", &db], "let x = 20;\nx * 2 + 2\n");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "42\n");
    let out = d.repl(&["--db", &db], "let x = 1;\nlet y = nope + x;\n");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "<stdin>:2:9: Variable not found: nope\nlet y = nope + x;\n        ^\n"
    );
    let out = d.repl(&["--db", &db], "help(\"wallet.transfer\")");
    assert!(
        text(&out.stdout).contains("to_email"),
        "{}",
        text(&out.stdout)
    );
}

/// A server on a fresh database with an admin and a customer.
fn server() -> (TestServer, Arc<Db>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("redb://{}", dir.path().join("s.redb").display());
    let db = Arc::new(
        Db::open(&url)
            .unwrap()
            .with_cipher(SecretCipher::from_text(KEY).unwrap()),
    );
    let (app, api) = market_testkit::marketplace(db.clone(), AppConfig::default());
    for (email, role) in [
        ("admin@example.com", Role::Admin),
        ("ada@example.com", Role::Customer),
    ] {
        let added = app
            .add_user(email, "correct-horse-battery", &[role], "test")
            .unwrap();
        assert!(matches!(added, Added::Created(_)));
    }
    (TestServer::start(api, ServerConfig::default()), db, dir)
}

#[test]
fn run_against_a_server_with_a_token() {
    let (server, db, _dir) = server();
    let d = Dir::new();
    let url = server.url("/rpc");
    let health = root().join("scripts/rhai/health_check.rhai");
    let out = d.run(
        &health,
        &[
            "--url",
            &url,
            "--set",
            "email=ada@example.com",
            "--set",
            "password=correct-horse-battery",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).ends_with("all 8 checks passed\n"),
        "{}",
        text(&out.stdout)
    );

    let seed = root().join("scripts/rhai/seed_board.rhai");
    let out = d.run(&seed, &["--url", &url]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("board seeded: 6 new post(s), 6 active post(s)"),
        "{}",
        text(&out.stdout)
    );
    let out = d.run(&seed, &["--url", &url]);
    assert!(
        text(&out.stdout).contains("board seeded: 0 new post(s), 6 active post(s)"),
        "a second run creates nothing: {}",
        text(&out.stdout)
    );
    let offers = server
        .client()
        .ok("post.list", json!({"category": "offer"}));
    assert_eq!(offers["items"].as_array().unwrap().len(), 2);

    let token = server.client().ok(
        "auth.login",
        json!({"email": "admin@example.com", "password": "correct-horse-battery"}),
    )["token"]
        .as_str()
        .unwrap()
        .to_string();
    let ops = root().join("scripts/rhai/admin_ops.rhai");
    let out = d.run(
        &ops,
        &[
            "--url",
            &url,
            "--token",
            &token,
            "--set",
            "action=suspend",
            "--set",
            "email=ada@example.com",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let ada = db
        .read(|tx| User::by_email(tx, "ada@example.com"))
        .unwrap()
        .unwrap();
    assert_eq!(ada.status, UserStatus::Suspended);
    // without a token the server refuses the admin method, naming it
    let out = d.run(
        &ops,
        &[
            "--url",
            &url,
            "--set",
            "action=unsuspend",
            "--set",
            "email=ada@example.com",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr)
            .contains("user.list: this method needs a bearer token (unauthenticated 4010)"),
        "{}",
        text(&out.stderr)
    );
}
