//! Catalog commands of the binary: `modules import`, the seed script and
//! `export`, and the model mirror of `serve` against local fake upstreams
//! that answer, fail, hang and rate-limit.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::Child;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{bin, free_port, root, wait_for};

const CATALOG: &str = r#"schema = 1
updated_at = "2026-03-01T12:00:00Z"

[modules.alpha]
name = "Alpha"
source = "path"
path = "modules/alpha"
"#;

#[test]
fn modules_import_reports_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("redb://{}/m.redb", dir.path().display());
    let good = dir.path().join("marketplace.toml");
    std::fs::write(&good, CATALOG).unwrap();
    let out = bin()
        .args(["modules", "import"])
        .arg(&good)
        .args(["--db", &db])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!(
            "imported 1 modules from {} (1 new, 0 changed, 0 unchanged)\n",
            good.display()
        )
    );
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        CATALOG.replace("source = \"path\"", "source = \"svn\""),
    )
    .unwrap();
    let out = bin()
        .args(["modules", "import"])
        .arg(&bad)
        .args(["--db", &db])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with(&format!("{}:6:10: unknown source \"svn\"", bad.display())),
        "{err}"
    );
}

/// Every file under `dir` with its bytes, by relative path.
fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path.strip_prefix(dir).unwrap().display().to_string();
                out.insert(rel, std::fs::read(&path).unwrap());
            }
        }
    }
    out
}

fn json_file(files: &BTreeMap<String, Vec<u8>>, name: &str) -> serde_json::Value {
    serde_json::from_slice(files.get(name).unwrap_or_else(|| panic!("no {name}"))).unwrap()
}

#[test]
fn seed_catalog_then_export_twice_gives_the_same_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("redb://{}/m.redb", dir.path().display());
    let out = bin()
        .arg("run")
        .arg(root().join("scripts/rhai/seed_catalog.rhai"))
        .args(["--db", &db])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("modules: 3 new") && said.contains("seeded 3 workers and 3 models"),
        "{said}"
    );

    let export = |name: &str| {
        let target = dir.path().join(name);
        let out = bin()
            .args(["export", "--out"])
            .arg(&target)
            .args(["--db", &db])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("items read") && err.contains("files written"),
            "{err}"
        );
        tree(&target)
    };
    let a = export("a");
    let b = export("b");
    assert_eq!(a, b, "two exports of the same data are the same bytes");
    // A second export into the same folder replaces the first, identically.
    assert_eq!(export("a"), b);

    assert_eq!(
        json_file(&a, "index.json"),
        serde_json::json!({"workers": 3, "models": 2, "products": 6, "modules": 3})
    );
    let workers = json_file(&a, "workers/index.json");
    assert_eq!(workers["count"], 3);
    let first = workers["items"][0]["id"].as_str().unwrap().to_string();
    let pkgbuild = String::from_utf8(a[&format!("workers/{first}/PKGBUILD")].clone()).unwrap();
    assert!(pkgbuild.starts_with("pkgname="), "{pkgbuild}");
    assert_eq!(
        json_file(&a, &format!("workers/{first}.json"))["id"],
        first.as_str()
    );
    let page = String::from_utf8(a[&format!("workers/{first}.html")].clone()).unwrap();
    assert!(
        page.contains("<th>backends</th>") && page.contains("PKGBUILD</a>"),
        "{page}"
    );
    let models = json_file(&a, "models/index.json");
    assert!(
        models["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["attributes"]["nsfw"] == "false"),
        "NSFW models are left out: {models}"
    );
    assert!(a.contains_key("products/index.html") && a.contains_key("modules/search-plus.json"));
    assert_eq!(
        a.len(),
        2 + 2 + 3 * 3 + 2 + 2 * 2 + 2 + 6 * 2 + 1 + 3 + 1,
        "{:?}",
        a.keys()
    );

    // A folder that holds something else is left alone.
    let other = dir.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("keep.txt"), "mine").unwrap();
    let out = bin()
        .args(["export", "--out"])
        .arg(&other)
        .args(["--db", &db])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        std::fs::read_to_string(other.join("keep.txt")).unwrap(),
        "mine"
    );
}

/// What a fake upstream does with one request.
#[derive(Clone, Copy, Debug)]
enum Act {
    Answer,
    RateLimit,
    Fail,
    Hang,
}

/// A fake upstream: each request takes the next act of its script (the
/// last act repeats) and is logged with its time.
struct Upstream {
    port: u16,
    log: Arc<Mutex<Vec<(Instant, String)>>>,
}

fn upstream(body: &'static str, script: Vec<Act>) -> Upstream {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let log = Arc::new(Mutex::new(Vec::new()));
    let seen = log.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let n = seen.lock().unwrap().len();
            let act = *script.get(n).or(script.last()).unwrap();
            let head = read_head(&mut stream);
            seen.lock().unwrap().push((Instant::now(), head));
            std::thread::spawn(move || respond(stream, act, body));
        }
    });
    Upstream { port, log }
}

fn read_head(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).map(|n| n == 1).unwrap_or(false) {
        head.push(byte[0]);
    }
    String::from_utf8_lossy(&head)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

fn respond(mut stream: TcpStream, act: Act, body: &str) {
    let reply = match act {
        Act::Answer => format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
        Act::RateLimit => "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".into(),
        Act::Fail => "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".into(),
        Act::Hang => {
            std::thread::sleep(Duration::from_secs(30));
            return;
        }
    };
    let _ = stream.write_all(reply.as_bytes());
}

const HF_BODY: &str = r#"[
 {"id": "org/small-llm", "tags": ["text-generation", "license:apache-2.0"], "pipeline_tag": "text-generation", "usedStorage": 1234},
 {"id": "org/spicy", "tags": ["not-for-all-audiences", "license:other"]}
]"#;
const CIVITAI_BODY: &str = r#"{"items": [
 {"id": 77, "name": "Landscapes", "type": "Checkpoint", "nsfw": false, "tags": ["landscape"],
  "modelVersions": [{"files": [{"sizeKB": 2.5}]}]}
], "metadata": {}}"#;

/// GET a path; the status, the `x-cache` header and the body.
fn get(port: u16, path: &str) -> (u16, String, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let x_cache = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("x-cache:")
                .map(|v| v.trim().to_uppercase())
        })
        .unwrap_or_default();
    (status, x_cache, body.to_string())
}

fn names(body: &str) -> Vec<String> {
    let v: serde_json::Value = serde_json::from_str(body).unwrap();
    let mut n: Vec<String> = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap().to_string())
        .collect();
    n.sort();
    n
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Poll `check` every 100 ms until it returns a value (panics after `secs`).
fn eventually<T>(secs: u64, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn the_model_mirror_serves_stale_copies_when_upstreams_fail() {
    // HuggingFace: rate-limited first, then answers, then fails for good.
    let hf = upstream(HF_BODY, vec![Act::RateLimit, Act::Answer, Act::Fail]);
    // Civitai: answers once, then hangs.
    let civitai = upstream(CIVITAI_BODY, vec![Act::Answer, Act::Hang]);
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let server = Server(
        bin()
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .args(["--db", &format!("redb://{}/m.redb", dir.path().display())])
            .env(
                "MARKETPLACE_MODEL_SOURCES",
                format!(
                    "huggingface=http://127.0.0.1:{},civitai=http://127.0.0.1:{}",
                    hf.port, civitai.port
                ),
            )
            .env("MARKETPLACE_MIRROR_INTERVAL_SECS", "2")
            .env("MARKETPLACE_MIRROR_TIMEOUT_SECS", "1")
            .env("RUST_LOG", "warn")
            .spawn()
            .unwrap(),
    );
    wait_for(port);

    // Both answered: three models, the NSFW one only when asked.
    let all = eventually(30, "the first refresh", || {
        let (status, _, body) = get(port, "/catalog/models?nsfw=true");
        (status == 200 && names(&body).len() == 3).then_some(body)
    });
    assert_eq!(names(&all), vec!["Landscapes", "small-llm", "spicy"]);
    let v: serde_json::Value = serde_json::from_str(&all).unwrap();
    let small = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "small-llm")
        .unwrap();
    assert_eq!(small["attributes"]["license"], "apache-2.0");
    assert_eq!(small["attributes"]["size_bytes"], "1234");
    assert_eq!(small["attributes"]["source"], "huggingface");
    let landscapes = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "Landscapes")
        .unwrap();
    assert_eq!(landscapes["attributes"]["size_bytes"], "2560");
    let (_, _, safe) = get(port, "/catalog/models");
    assert_eq!(names(&safe), vec!["Landscapes", "small-llm"]);

    // The 429 was retried after its Retry-After.
    {
        let log = hf.log.lock().unwrap();
        assert!(
            log[0].1.starts_with("GET /api/models?limit=100"),
            "{:?}",
            log[0]
        );
        assert!(
            log[1].0.duration_since(log[0].0) >= Duration::from_millis(900),
            "retried too soon"
        );
    }

    // Then HuggingFace fails and Civitai hangs: the last good copies are served, stale.
    let stale = eventually(60, "stale answers", || {
        let (status, x_cache, body) = get(port, "/catalog/models?source=civitai");
        let (_, hf_cache, _) = get(port, "/catalog/models?source=huggingface");
        (status == 200 && x_cache == "STALE" && hf_cache == "STALE").then_some(body)
    });
    assert_eq!(names(&stale), vec!["Landscapes"]);
    let (status, x_cache, body) = get(port, "/catalog/models?nsfw=true");
    assert_eq!((status, x_cache.as_str()), (200, "STALE"));
    assert_eq!(names(&body).len(), 3);
    // Each failing refresh tried three times.
    assert!(
        hf.log.lock().unwrap().len() >= 2 + 3,
        "{:?}",
        hf.log.lock().unwrap()
    );
    assert!(
        civitai.log.lock().unwrap().len() > 3,
        "one answer, then three tries"
    );
    drop(server);
}
