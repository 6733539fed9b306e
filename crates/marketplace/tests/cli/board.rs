//! The community board across real server processes: three nodes on
//! separate databases syncing, a node catching up after being down, a
//! tampered event refused, and search against fake embedding endpoints.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{bin, free_port, wait_for};

const ADMIN: &str = "root@example.com";
const ADMIN_PASSWORD: &str = "the admin password";

/// A server process, killed when dropped.
struct Node {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Node {
    fn start(dir: &Path, name: &str, port: u16, env: &[(&str, String)]) -> Node {
        let log = dir.join(format!("{name}.log"));
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        let mut cmd = bin();
        cmd.args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--db",
            &format!("redb://{}/{name}.redb", dir.display()),
        ])
        .env("RUST_LOG", "info")
        .env("ADMIN_SEED_USERS", format!("{ADMIN}:{ADMIN_PASSWORD}"))
        .stdout(Stdio::from(file.try_clone().unwrap()))
        .stderr(Stdio::from(file));
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().unwrap();
        wait_for(port);
        Node { child, port, log }
    }

    fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn call(&self, token: Option<&str>, method: &str, params: Value) -> Value {
        rpc(self.port, token, method, params)
    }

    fn ok(&self, token: Option<&str>, method: &str, params: Value) -> Value {
        let r = self.call(token, method, params);
        assert!(r.get("error").is_none(), "{method}: {r}");
        r["result"].clone()
    }

    fn register(&self, email: &str) -> String {
        let r = self.ok(
            None,
            "auth.register",
            json!({"email": email, "password": "a long password", "display_name": "n"}),
        );
        r["token"].as_str().unwrap().to_string()
    }

    fn admin_token(&self) -> String {
        let r = self.ok(
            None,
            "auth.login",
            json!({"email": ADMIN, "password": ADMIN_PASSWORD}),
        );
        r["token"].as_str().unwrap().to_string()
    }

    fn active_titles(&self) -> Vec<String> {
        let r = self.ok(None, "post.list", json!({}));
        let mut t: Vec<String> = r["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["title"].as_str().unwrap().to_string())
            .collect();
        t.sort();
        t
    }
}

fn rpc(port: u16, token: Option<&str>, method: &str, params: Value) -> Value {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).to_string();
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    write!(
        s,
        "POST /rpc HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n{auth}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let (_, body) = out.split_once("\r\n\r\n").unwrap();
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// Poll `check` until it holds (at most 40 s).
fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let started = Instant::now();
    while !check() {
        assert!(started.elapsed() < Duration::from_secs(40), "never: {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn node_id(seed: &str) -> String {
    let out = bin()
        .args(["board", "node-id"])
        .env("MARKETPLACE_NODE_KEY", seed)
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// A tiny HTTP server: `answer` gets the request body and returns the
/// status and body to send, or `None` to hang without answering.
fn fake_http(answer: fn(&str) -> Option<(u16, String)>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream);
                let mut len = 0usize;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let lower = line.to_ascii_lowercase();
                    if let Some(v) = lower.strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap_or(0);
                    }
                    if line == "\r\n" {
                        break;
                    }
                }
                let mut body = vec![0u8; len];
                if reader.read_exact(&mut body).is_err() {
                    return;
                }
                let Some((status, text)) = answer(&String::from_utf8_lossy(&body)) else {
                    std::thread::sleep(Duration::from_secs(30));
                    return;
                };
                let mut stream = reader.into_inner();
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                    text.len()
                );
            });
        }
    });
    port
}

/// The forged event the fake peer serves (set before it is asked).
static FORGED: std::sync::OnceLock<String> = std::sync::OnceLock::new();

fn forged_peer(_: &str) -> Option<(u16, String)> {
    let items = FORGED.get().cloned().unwrap_or_else(|| "[]".into());
    let body = format!(
        r#"{{"jsonrpc":"2.0","id":1,"result":{{"items":{items},"next_after":1,"node_id":"x","lamport":1}}}}"#
    );
    Some((200, body))
}

#[test]
fn three_servers_converge_catch_up_and_refuse_tampered_events() {
    let dir = tempfile::tempdir().unwrap();
    let seeds = ["01".repeat(32), "02".repeat(32), "03".repeat(32)];
    let ids: Vec<String> = seeds.iter().map(|s| node_id(s)).collect();
    let manifest = dir.path().join("community.toml");
    std::fs::write(
        &manifest,
        format!(
            "[[node]]\npublic_key = \"{}\"\nlevel = \"anchor\"\n\n[[node]]\npublic_key = \"{}\"\nlevel = \"trusted\"\n\n[[node]]\npublic_key = \"{}\"\nlevel = \"member\"\n",
            ids[0], ids[1], ids[2]
        ),
    )
    .unwrap();
    let fake = fake_http(forged_peer);
    let ports = [free_port(), free_port(), free_port()];
    let url = |p: u16| format!("http://127.0.0.1:{p}/rpc");
    let env_of = |i: usize| -> Vec<(&str, String)> {
        let mut peers: Vec<String> = (0..3).filter(|j| *j != i).map(|j| url(ports[j])).collect();
        if i == 0 {
            peers.push(url(fake));
        }
        vec![
            ("MARKETPLACE_NODE_KEY", seeds[i].clone()),
            (
                "MARKETPLACE_COMMUNITY_MANIFEST",
                manifest.display().to_string(),
            ),
            ("MARKETPLACE_BOARD_PEERS", peers.join(",")),
            ("MARKETPLACE_BOARD_SYNC_SECS", "1".into()),
        ]
    };
    let names = ["n1", "n2", "n3"];
    let n1 = Node::start(dir.path(), names[0], ports[0], &env_of(0));
    let n2 = Node::start(dir.path(), names[1], ports[1], &env_of(1));
    let n3 = Node::start(dir.path(), names[2], ports[2], &env_of(2));

    let mut tokens = Vec::new();
    for (i, n) in [&n1, &n2, &n3].into_iter().enumerate() {
        let t = n.register(&format!("user{i}@example.com"));
        n.ok(
            Some(&t),
            "post.create",
            json!({"category": "offer", "title": format!("from node {}", i + 1), "body": "b"}),
        );
        tokens.push(t);
    }
    let all = vec!["from node 1", "from node 2", "from node 3"];
    for (i, n) in [&n1, &n2, &n3].into_iter().enumerate() {
        eventually(&format!("node {} sees every post", i + 1), || {
            n.active_titles() == all
        });
    }
    eprintln!("three nodes converged: each lists {all:?}");

    // Node 3 goes down; node 1 posts and expires meanwhile.
    drop(n3);
    let first = n1.ok(None, "post.list", json!({}))["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["title"] == "from node 1")
        .unwrap()["id"]
        .clone();
    n1.ok(
        Some(&tokens[0]),
        "post.expire",
        json!({"id": first, "reason": "fulfilled"}),
    );
    n1.ok(
        Some(&tokens[0]),
        "post.create",
        json!({"category": "emergency", "title": "while node 3 was down", "body": "b"}),
    );
    let now = vec!["from node 2", "from node 3", "while node 3 was down"];
    eventually("node 2 sees the expiry and the new post", || {
        n2.active_titles() == now
    });
    assert_eq!(
        n2.ok(None, "post.get", json!({"id": first}))["expired_reason"],
        "fulfilled"
    );

    let n3 = Node::start(dir.path(), names[2], ports[2], &env_of(2));
    eventually("node 3 catches up after being down", || {
        n3.active_titles() == now
    });
    assert_eq!(
        n3.ok(None, "post.get", json!({"id": first}))["status"],
        "expired"
    );
    eprintln!("node 3 caught up after a restart: {now:?}, {first} expired");

    // Equal logs everywhere: the same events, whatever order they came in.
    let count = |n: &Node| {
        let admin = n.admin_token();
        n.ok(Some(&admin), "board.events", json!({"limit": 1000}))["items"]
            .as_array()
            .unwrap()
            .len()
    };
    for n in [&n1, &n2, &n3] {
        eventually("every node holds the five events", || count(n) == 5);
    }

    // A fake peer serves a copy of node 2's event with another id and title.
    let admin = n2.admin_token();
    let events = n2.ok(Some(&admin), "board.events", json!({}))["items"].clone();
    let mut forged = events
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "post.created" && e["origin"] == ids[1].as_str())
        .unwrap()
        .clone();
    forged["id"] = json!("01ARZ3NDEKTSV4RRFFQ69G5FAV");
    forged["data"]["title"] = json!("forged");
    FORGED.set(json!([forged]).to_string()).unwrap();
    eventually("node 1 refuses the tampered event", || {
        n1.logs().contains("board: event refused")
    });
    let r = n1.call(
        None,
        "post.get",
        json!({"id": "01ARZ3NDEKTSV4RRFFQ69G5FAV"}),
    );
    assert_eq!(r["error"]["code"], 4040, "{r}");
    assert!(!n1.active_titles().contains(&"forged".to_string()));
    eprintln!(
        "tampered event refused: {}",
        n1.logs()
            .lines()
            .find(|l| l.contains("event refused"))
            .unwrap_or("")
    );

    // board.events needs a signed node request or an admin.
    let r = n1.call(None, "board.events", json!({}));
    assert_eq!(r["error"]["code"], 4010, "{r}");
}

/// Embeddings from letter counts: texts sharing letters are close.
fn letters(text: &str) -> Vec<f64> {
    let mut v = vec![0.0; 26];
    for c in text.to_lowercase().chars() {
        if c.is_ascii_lowercase() {
            v[(c as u8 - b'a') as usize] += 1.0;
        }
    }
    v
}

fn answering(body: &str) -> Option<(u16, String)> {
    let req: Value = serde_json::from_str(body).ok()?;
    let data: Vec<Value> = req["input"]
        .as_array()?
        .iter()
        .enumerate()
        .map(|(i, t)| json!({"index": i, "embedding": letters(t.as_str().unwrap_or(""))}))
        .collect();
    Some((200, json!({"data": data}).to_string()))
}

fn failing(_: &str) -> Option<(u16, String)> {
    Some((500, r#"{"error":"model overloaded"}"#.into()))
}

fn hanging(_: &str) -> Option<(u16, String)> {
    None
}

#[test]
fn post_search_is_semantic_and_falls_back_to_text() {
    let dir = tempfile::tempdir().unwrap();
    let endpoints = [
        ("answers", Some(fake_http(answering))),
        ("fails", Some(fake_http(failing))),
        ("hangs", Some(fake_http(hanging))),
        ("absent", None),
    ];
    for (name, port) in endpoints {
        let mut env = vec![("MARKETPLACE_EMBED_TIMEOUT_MS", "500".to_string())];
        if let Some(p) = port {
            env.push(("MARKETPLACE_EMBED_URL", format!("http://127.0.0.1:{p}")));
        }
        let node = Node::start(dir.path(), name, free_port(), &env);
        let t = node.register("ada@example.com");
        for title in ["zzz yyy", "bicycle repair"] {
            node.ok(
                Some(&t),
                "post.create",
                json!({"category": "offer", "title": title, "body": "x"}),
            );
        }
        let started = Instant::now();
        let r = node.ok(None, "post.search", json!({"query": "bicycle"}));
        let fallback = r["fallback"].as_bool().unwrap();
        assert_eq!(fallback, name != "answers", "{name}: {r}");
        assert_eq!(
            r["items"][0]["post"]["title"], "bicycle repair",
            "{name}: {r}"
        );
        if name == "answers" {
            assert_eq!(
                r["items"].as_array().unwrap().len(),
                2,
                "semantic search scores every post"
            );
        } else {
            assert_eq!(
                r["items"].as_array().unwrap().len(),
                1,
                "text matching keeps matches only"
            );
            assert!(
                node.logs().contains("falling back to text matching"),
                "{name}"
            );
        }
        if name == "hangs" {
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "the timeout bounds a hanging endpoint"
            );
        }
        eprintln!(
            "endpoint {name}: fallback={fallback} top={} in {:?}",
            r["items"][0]["post"]["title"],
            started.elapsed()
        );
    }
}

#[test]
fn board_commands_snapshot_restore_and_print_the_node_id() {
    let dir = tempfile::tempdir().unwrap();
    let db = |name: &str| format!("redb://{}/{name}.redb", dir.path().display());
    let seed = super::root().join("scripts/rhai/seed_board.rhai");
    let out = bin()
        .args(["run", seed.to_str().unwrap(), "--db", &db("a")])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("board seeded: 6 new post(s), 6 active post(s)"),
        "{stdout}"
    );

    let file = dir.path().join("board.json");
    let run = |args: &[&str]| bin().args(args).output().unwrap();
    let out = run(&[
        "board",
        "snapshot",
        "--out",
        file.to_str().unwrap(),
        "--db",
        &db("a"),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("wrote 6 events and 6 posts"));
    let out = run(&["board", "restore", file.to_str().unwrap(), "--db", &db("b")]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("restored: 6 new events, 6 posts"));

    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, text.replace("Spare bicycle", "Spare tricycle")).unwrap();
    let out = run(&["board", "restore", file.to_str().unwrap(), "--db", &db("c")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad signature"));

    let id = run(&["board", "node-id", "--db", &db("a")]);
    let id = String::from_utf8(id.stdout).unwrap();
    assert_eq!(id.trim().len(), 64, "{id}");
    let again = run(&["board", "node-id", "--db", &db("a")]);
    assert_eq!(
        String::from_utf8(again.stdout).unwrap(),
        id,
        "the key file is kept"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("a.redb.node.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
