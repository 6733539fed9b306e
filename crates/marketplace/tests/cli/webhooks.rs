//! Webhooks from a real server to a local receiver: Standard Webhooks
//! signatures checked on arrival, a receiver that fails, hangs and answers
//! slowly, and a server killed in the middle of a delivery that delivers
//! after its restart.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, KeyInit, Mac};
use market_testkit::Client;
use serde_json::{Value, json};
use sha2::Sha256;

use super::serve_quietly;

const ADMIN: &str = "ops@example.com";
const ADMIN_PASSWORD: &str = "ops-password-1";

/// One request that reached the receiver.
#[derive(Debug, Clone)]
struct Arrival {
    headers: HashMap<String, String>,
    body: String,
    /// Whether the signature checked out with the endpoint's secret.
    signed: bool,
}

/// How the receiver answers the `n`-th arrival (from 0) of a message
/// whose event carries `amount`.
type Behaviour = dyn Fn(&str, usize) -> Answer + Send + Sync;

#[derive(Clone, Copy)]
enum Answer {
    Status(u16),
    /// Wait this long, then answer this status.
    After(Duration, u16),
}

/// A webhook receiver on a loopback port; it verifies each signature with
/// the secret set once the endpoint exists.
struct Receiver {
    port: u16,
    secret: Arc<Mutex<String>>,
    arrivals: Arc<Mutex<Vec<Arrival>>>,
}

fn read_request(stream: &mut TcpStream) -> Option<(HashMap<String, String>, String)> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':')?;
        headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
    }
    let len: usize = headers.get("content-length")?.parse().ok()?;
    let mut body = vec![0; len];
    reader.read_exact(&mut body).ok()?;
    Some((headers, String::from_utf8(body).ok()?))
}

fn verify(secret: &str, headers: &HashMap<String, String>, body: &str) -> bool {
    let (Some(id), Some(ts), Some(sigs)) = (
        headers.get("webhook-id"),
        headers.get("webhook-timestamp"),
        headers.get("webhook-signature"),
    ) else {
        return false;
    };
    let Some(key) = secret
        .strip_prefix("whsec_")
        .and_then(|k| B64.decode(k).ok())
    else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&key) else {
        return false;
    };
    mac.update(format!("{id}.{ts}.{body}").as_bytes());
    let expected = format!("v1,{}", B64.encode(mac.finalize().into_bytes()));
    sigs.split(' ').any(|s| s == expected)
}

impl Receiver {
    fn start(behaviour: Arc<Behaviour>) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a receiver");
        let port = listener.local_addr().expect("addr").port();
        let secret = Arc::new(Mutex::new(String::new()));
        let arrivals: Arc<Mutex<Vec<Arrival>>> = Arc::default();
        let seen: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
        let (s, a) = (secret.clone(), arrivals.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let (s, a, seen, behaviour) =
                    (s.clone(), a.clone(), seen.clone(), behaviour.clone());
                std::thread::spawn(move || {
                    let Some((headers, body)) = read_request(&mut stream) else {
                        return;
                    };
                    let signed = verify(&s.lock().expect("lock"), &headers, &body);
                    let id = headers.get("webhook-id").cloned().unwrap_or_default();
                    let n = {
                        let mut seen = seen.lock().expect("lock");
                        let n = seen.entry(id).or_insert(0);
                        *n += 1;
                        *n - 1
                    };
                    let amount = serde_json::from_str::<Value>(&body)
                        .ok()
                        .and_then(|v| v["data"]["amount"].as_str().map(str::to_string))
                        .unwrap_or_default();
                    a.lock().expect("lock").push(Arrival {
                        headers,
                        body,
                        signed,
                    });
                    let status = match behaviour(&amount, n) {
                        Answer::Status(s) => s,
                        Answer::After(wait, s) => {
                            std::thread::sleep(wait);
                            s
                        }
                    };
                    let _ = write!(
                        stream,
                        "HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    );
                });
            }
        });
        Receiver {
            port,
            secret,
            arrivals,
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hook", self.port)
    }

    fn arrivals(&self) -> Vec<Arrival> {
        self.arrivals.lock().expect("lock").clone()
    }

    /// Wait until `done` holds for the arrivals (at most `limit`).
    fn wait_until(&self, limit: Duration, done: impl Fn(&[Arrival]) -> bool) -> Vec<Arrival> {
        let started = Instant::now();
        loop {
            let now = self.arrivals();
            if done(&now) {
                return now;
            }
            assert!(
                started.elapsed() < limit,
                "the receiver waited in vain; it got {now:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn client(port: u16) -> Client {
    Client::new(&format!("http://127.0.0.1:{port}/rpc"))
}

fn login(port: u16, email: &str, password: &str) -> Client {
    let r = client(port).ok("auth.login", json!({"email": email, "password": password}));
    client(port).with_token(r["token"].as_str().expect("a token"))
}

/// Alice registered with an endpoint for her credits at `receiver`.
fn alice_with_endpoint(port: u16, receiver: &Receiver) -> (Client, Value, Value) {
    let r = client(port).ok(
        "auth.register",
        json!({"email": "alice@example.com", "password": "alice-password", "display_name": "Alice"}),
    );
    let alice = client(port).with_token(r["token"].as_str().expect("a token"));
    let created = alice.ok(
        "webhook.create",
        json!({"url": receiver.url(), "types": ["wallet.credited"]}),
    );
    *receiver.secret.lock().expect("lock") =
        created["secret"].as_str().expect("a secret").to_string();
    (alice, r["user"].clone(), created["endpoint"].clone())
}

fn body_of(a: &Arrival) -> Value {
    serde_json::from_str(&a.body).expect("a JSON body")
}

#[test]
fn deliveries_reach_a_receiver_that_fails_hangs_and_answers_slowly() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("redb://{}", dir.path().join("m.redb").display());
    // The "1" credit hangs once, then comes slowly; the "2" credit fails once.
    let receiver = Receiver::start(Arc::new(|amount: &str, n| match (amount, n) {
        ("1", 0) => Answer::After(Duration::from_secs(4), 200),
        ("1", _) => Answer::After(Duration::from_millis(800), 200),
        ("2", 0) => Answer::Status(500),
        _ => Answer::Status(204),
    }));
    let (server, port) = serve_quietly(
        &db,
        &[
            ("ADMIN_SEED_USERS", &format!("{ADMIN}:{ADMIN_PASSWORD}")),
            ("MARKETPLACE_WEBHOOK_ALLOW_PRIVATE", "1"),
            ("MARKETPLACE_WEBHOOK_TIMEOUT_SECS", "2"),
        ],
    );
    let admin = login(port, ADMIN, ADMIN_PASSWORD);
    let (alice, alice_user, endpoint) = alice_with_endpoint(port, &receiver);
    for amount in ["1", "2"] {
        admin.ok(
            "wallet.grant",
            json!({"user_id": alice_user["id"], "amount": amount, "reason": "test"}),
        );
    }
    // Each message twice: the hang timed out and the 500 were retried 5 s later.
    let arrivals = receiver.wait_until(Duration::from_secs(40), |a| a.len() >= 4);
    assert_eq!(arrivals.len(), 4, "{arrivals:?}");
    assert!(arrivals.iter().all(|a| a.signed), "{arrivals:?}");
    let mut by_id: HashMap<String, Vec<&Arrival>> = HashMap::new();
    for a in &arrivals {
        by_id
            .entry(a.headers["webhook-id"].clone())
            .or_default()
            .push(a);
    }
    assert_eq!(by_id.len(), 2);
    for tries in by_id.values() {
        assert_eq!(tries.len(), 2);
        assert_eq!(tries[0].body, tries[1].body);
        assert_eq!(body_of(tries[0])["type"], "wallet.credited");
        let t0: i64 = tries[0].headers["webhook-timestamp"].parse().expect("ts");
        let t1: i64 = tries[1].headers["webhook-timestamp"].parse().expect("ts");
        assert!(t1 - t0 >= 5, "the retry waited {} s", t1 - t0);
    }
    // The server says the same: both delivered on the second attempt.
    let started = Instant::now();
    loop {
        let page = alice.ok("webhook.deliveries", json!({"id": endpoint["id"]}));
        let items = page["items"].as_array().expect("items").clone();
        if items.len() == 2 && items.iter().all(|d| d["status"] == "delivered") {
            assert!(items.iter().all(|d| d["attempts"] == 2), "{items:?}");
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "{items:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    super::stop(server);
}

#[test]
fn a_server_killed_mid_delivery_delivers_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("redb://{}", dir.path().join("m.redb").display());
    // The first attempt hangs past the server's life; later ones succeed.
    let receiver = Receiver::start(Arc::new(|_: &str, n| match n {
        0 => Answer::After(Duration::from_secs(30), 200),
        _ => Answer::Status(200),
    }));
    let env = [
        ("ADMIN_SEED_USERS", format!("{ADMIN}:{ADMIN_PASSWORD}")),
        ("MARKETPLACE_WEBHOOK_ALLOW_PRIVATE", "1".to_string()),
        ("MARKETPLACE_WEBHOOK_TIMEOUT_SECS", "3".to_string()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (mut server, port) = serve_quietly(&db, &env);
    let admin = login(port, ADMIN, ADMIN_PASSWORD);
    let (_, alice_user, _) = alice_with_endpoint(port, &receiver);
    admin.ok(
        "wallet.grant",
        json!({"user_id": alice_user["id"], "amount": "3", "reason": "test"}),
    );
    let first = receiver.wait_until(Duration::from_secs(20), |a| !a.is_empty());
    server.kill().expect("kill the server");
    server.wait().expect("reap the server");

    let (server, port) = serve_quietly(&db, &env);
    let arrivals = receiver.wait_until(Duration::from_secs(30), |a| a.len() >= 2);
    assert_eq!(
        arrivals[1].headers["webhook-id"],
        first[0].headers["webhook-id"]
    );
    assert_eq!(arrivals[1].body, first[0].body);
    assert!(arrivals.iter().all(|a| a.signed));
    let alice = login(port, "alice@example.com", "alice-password");
    let endpoint = &alice.ok("webhook.list", json!({}))["items"][0];
    let started = Instant::now();
    loop {
        let d = &alice.ok("webhook.deliveries", json!({"id": endpoint["id"]}))["items"][0];
        if d["status"] == "delivered" {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "{d}");
        std::thread::sleep(Duration::from_millis(100));
    }
    super::stop(server);
}
