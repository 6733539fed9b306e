//! Webhooks: endpoints, the outbox, Standard Webhooks signatures, the
//! retry schedule on the manual clock, disabling, rotation, test and
//! replay. Rounds of the worker run in-process with a recording sender;
//! the real HTTP sender is tested through the binary (crates/marketplace).

use std::collections::VecDeque;
use std::sync::Mutex;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, KeyInit, Mac};
use market_core::webhooks::{Attempt, Deliver, RETRY_AFTER_SECS};
use market_core::{AppConfig, webhooks::WebhookConfig};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::events::all_events;
use crate::support::*;

/// One request the sender was asked to make.
#[derive(Debug, Clone)]
struct Sent {
    url: String,
    headers: Vec<(&'static str, String)>,
    body: String,
}

impl Sent {
    fn header(&self, name: &str) -> &str {
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("no {name} header"))
    }
}

/// A sender that records each request and answers from a script (2xx when
/// the script is empty).
#[derive(Default)]
struct Recorder {
    answers: Mutex<VecDeque<Option<u16>>>,
    sent: Mutex<Vec<Sent>>,
}

impl Recorder {
    fn answer(&self, status: Option<u16>, times: usize) {
        let mut a = self.answers.lock().expect("lock");
        for _ in 0..times {
            a.push_back(status);
        }
    }

    fn take(&self) -> Vec<Sent> {
        std::mem::take(&mut *self.sent.lock().expect("lock"))
    }
}

impl Deliver for Recorder {
    fn post(&self, url: &str, headers: &[(&'static str, String)], body: &str) -> Attempt {
        self.sent.lock().expect("lock").push(Sent {
            url: url.to_string(),
            headers: headers.to_vec(),
            body: body.to_string(),
        });
        let status = self
            .answers
            .lock()
            .expect("lock")
            .pop_front()
            .unwrap_or(Some(204));
        Attempt {
            status,
            error: match status {
                Some(s) if (200..300).contains(&s) => None,
                Some(s) => Some(format!("HTTP {s}")),
                None => Some("timed out".into()),
            },
        }
    }
}

fn allowing_private() -> AppConfig {
    AppConfig {
        webhooks: WebhookConfig {
            allow_private: true,
        },
        ..app_config()
    }
}

fn round(e: &Env, r: &Recorder) -> usize {
    e.app.webhook_round(r, 100, 4, 60).expect("a webhook round")
}

/// Does `sig` (one `v1,<base64>` entry) sign the message with `secret`?
fn signs(secret: &str, sig: &str, id: &str, ts: &str, body: &str) -> bool {
    let key = B64
        .decode(secret.strip_prefix("whsec_").expect("whsec_ prefix"))
        .expect("base64 secret");
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("key");
    mac.update(format!("{id}.{ts}.{body}").as_bytes());
    let expected = format!("v1,{}", B64.encode(mac.finalize().into_bytes()));
    sig == expected
}

fn deliveries(c: &market_testkit::Client, endpoint: &Value) -> Vec<Value> {
    c.ok("webhook.deliveries", json!({"id": endpoint["id"]}))["items"]
        .as_array()
        .expect("items")
        .clone()
}

#[test]
fn urls_reaching_private_addresses_are_refused_unless_allowed() {
    let e = start();
    let (alice, _) = e.register("alice@example.com");
    for url in [
        "http://127.0.0.1:9000/hook",
        "http://localhost/hook",
        "http://10.1.2.3/hook",
        "http://192.168.0.10/hook",
        "http://172.16.5.4/hook",
        "http://169.254.169.254/latest",
        "http://[::1]/hook",
        "http://[fe80::1]/hook",
        "http://0.0.0.0/hook",
        "ftp://93.184.216.34/hook",
        "not a url",
        "http://user:pw@93.184.216.34/hook",
    ] {
        fails_on_field(
            &alice,
            "webhook.create",
            json!({"url": url, "types": []}),
            "url",
        );
    }
    let ok = alice.ok(
        "webhook.create",
        json!({"url": "https://93.184.216.34/hook", "types": []}),
    );
    assert_eq!(ok["endpoint"]["status"], "active");
    assert_eq!(
        alice.ok("webhook.list", json!({}))["items"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );

    let allowed = start_with(allowing_private(), server_config());
    let (bob, _) = allowed.register("bob@example.com");
    bob.ok(
        "webhook.create",
        json!({"url": "http://127.0.0.1:9000/hook", "types": []}),
    );
}

#[test]
fn events_are_delivered_signed_and_the_secret_is_shown_once() {
    let e = start_with(allowing_private(), server_config());
    let (admin, _) = e.admin();
    let (alice, alice_user) = e.register("alice@example.com");
    let (_, bob_user) = e.register("bob@example.com");
    let created = alice.ok(
        "webhook.create",
        json!({"url": "http://127.0.0.1:9/alice", "types": ["wallet.credited"]}),
    );
    let secret = str_of(&created["secret"]).to_string();
    assert!(secret.starts_with("whsec_"));
    let endpoint = created["endpoint"].clone();
    assert!(endpoint.get("secret").is_none(), "{endpoint}");
    let listed = alice.ok("webhook.list", json!({}));
    assert!(!listed.to_string().contains(&secret[6..]), "{listed}");

    grant(&admin, &id_of(&alice_user), "7");
    grant(&admin, &id_of(&bob_user), "9");
    alice.ok(
        "wallet.transfer",
        json!({"to_email": "bob@example.com", "amount": "1"}),
    );
    let r = Recorder::default();
    assert_eq!(round(&e, &r), 1, "only Alice's credit is for her endpoint");
    let sent = r.take();
    let s = &sent[0];
    assert_eq!(s.url, "http://127.0.0.1:9/alice");
    let body: Value = serde_json::from_str(&s.body).expect("JSON body");
    assert_eq!(body["type"], "wallet.credited");
    assert_eq!(dec_of(&body["data"]["amount"]), dec("7"));
    assert_eq!(s.header("webhook-id"), str_of(&body["id"]));
    assert_eq!(s.header("content-type"), "application/json");
    let ts = s.header("webhook-timestamp");
    assert_eq!(ts, ts_of_start().to_string());
    assert!(signs(
        &secret,
        s.header("webhook-signature"),
        s.header("webhook-id"),
        ts,
        &s.body
    ));
    assert!(!signs(
        &secret,
        s.header("webhook-signature"),
        s.header("webhook-id"),
        ts,
        "{}"
    ));
    let d = deliveries(&alice, &endpoint);
    assert_eq!(d.len(), 1);
    assert_eq!(d[0]["status"], "delivered");
    assert_eq!(d[0]["attempts"], 1);
    assert_eq!(d[0]["last_status"], 204);
    // Nothing new: nothing sent.
    assert_eq!(round(&e, &r), 0);

    // An admin's endpoint receives every user's events.
    let all = admin.ok(
        "webhook.create",
        json!({"url": "http://127.0.0.1:9/all", "types": []}),
    );
    grant(&admin, &id_of(&bob_user), "1");
    assert_eq!(round(&e, &r), 1);
    assert_eq!(r.take()[0].url, "http://127.0.0.1:9/all");
    assert_eq!(all["endpoint"]["all_events"], true);

    // Others cannot see or touch the endpoint.
    let bob = e.login("bob@example.com", PASSWORD);
    for (method, params) in [
        ("webhook.deliveries", json!({"id": endpoint["id"]})),
        ("webhook.test", json!({"id": endpoint["id"]})),
        ("webhook.rotate_secret", json!({"id": endpoint["id"]})),
        ("webhook.delete", json!({"id": endpoint["id"]})),
        ("webhook.replay", json!({"delivery_id": d[0]["id"]})),
    ] {
        fails(&bob, method, params, 4040, "not_found");
    }
}

/// The manual clock's start as a Unix time.
fn ts_of_start() -> i64 {
    ts(START).unix_millis() / 1000
}

#[test]
fn failures_are_retried_on_the_schedule_and_a_day_of_them_disables_the_endpoint() {
    let e = start_with(allowing_private(), server_config());
    let (admin, _) = e.admin();
    let (alice, alice_user) = e.register("alice@example.com");
    let endpoint = alice.ok(
        "webhook.create",
        json!({"url": "http://127.0.0.1:9/down", "types": ["wallet.credited"]}),
    )["endpoint"]
        .clone();
    grant(&admin, &id_of(&alice_user), "1");
    let r = Recorder::default();
    r.answer(Some(503), 1);
    r.answer(None, 1);
    r.answer(Some(429), 100);
    assert_eq!(round(&e, &r), 1);
    let mut elapsed = 0;
    for (i, wait) in RETRY_AFTER_SECS.iter().enumerate() {
        let d = &deliveries(&alice, &endpoint)[0];
        assert_eq!(d["status"], "pending", "after attempt {}", i + 1);
        assert_eq!(d["attempts"], i as u64 + 1);
        let due = ts(str_of(&d["next_attempt_at"]));
        assert_eq!(due, ts(START).add_seconds(elapsed + wait));
        // Not due yet: nothing is sent.
        e.clock.advance_seconds(wait - 1);
        assert_eq!(round(&e, &r), 0);
        e.clock.advance_seconds(1);
        elapsed += wait;
        assert_eq!(round(&e, &r), 1, "attempt {}", i + 2);
    }
    // The 8th attempt came 27.5 hours after the first failure: disabled.
    let d = &deliveries(&alice, &endpoint)[0];
    assert_eq!(d["status"], "failed");
    assert_eq!(d["attempts"], 8);
    let listed = &alice.ok("webhook.list", json!({}))["items"][0];
    assert_eq!(listed["status"], "disabled");
    assert!(str_of(&listed["disabled_reason"]).contains("24 hours"));
    let told = all_events(&alice, &["webhook.disabled"]);
    assert_eq!(told.len(), 1);
    assert_eq!(told[0]["object_id"], endpoint["id"]);
    // A disabled endpoint gets nothing more.
    grant(&admin, &id_of(&alice_user), "1");
    assert_eq!(round(&e, &r), 0);
    fails(
        &alice,
        "webhook.test",
        json!({"id": endpoint["id"]}),
        4220,
        "invalid_state",
    );
}

#[test]
fn other_4xx_give_up_and_410_disables_at_once() {
    let e = start_with(allowing_private(), server_config());
    let (admin, _) = e.admin();
    let (alice, alice_user) = e.register("alice@example.com");
    let endpoint = alice.ok(
        "webhook.create",
        json!({"url": "http://127.0.0.1:9/x", "types": []}),
    )["endpoint"]
        .clone();
    let r = Recorder::default();
    r.answer(Some(404), 1);
    r.answer(Some(302), 1);
    grant(&admin, &id_of(&alice_user), "1");
    grant(&admin, &id_of(&alice_user), "1");
    assert_eq!(round(&e, &r), 2);
    let d = deliveries(&alice, &endpoint);
    assert!(
        d.iter()
            .all(|d| d["status"] == "failed" && d["attempts"] == 1),
        "{d:?}"
    );
    e.clock.advance_seconds(3600);
    assert_eq!(round(&e, &r), 0, "no retry of a 4xx or a redirect");
    assert_eq!(
        alice.ok("webhook.list", json!({}))["items"][0]["status"],
        "active"
    );

    r.answer(Some(410), 1);
    grant(&admin, &id_of(&alice_user), "1");
    assert_eq!(round(&e, &r), 1);
    let listed = &alice.ok("webhook.list", json!({}))["items"][0];
    assert_eq!(listed["status"], "disabled");
    assert!(str_of(&listed["disabled_reason"]).contains("410"));
}

#[test]
fn a_rotated_secret_signs_beside_the_old_one_for_a_day() {
    let e = start_with(allowing_private(), server_config());
    let (alice, _) = e.register("alice@example.com");
    let created = alice.ok(
        "webhook.create",
        json!({"url": "http://127.0.0.1:9/r", "types": []}),
    );
    let old = str_of(&created["secret"]).to_string();
    let id = created["endpoint"]["id"].clone();
    let rotated = alice.ok("webhook.rotate_secret", json!({"id": id}));
    let new = str_of(&rotated["secret"]).to_string();
    assert_ne!(new, old);
    assert_eq!(
        ts(str_of(&rotated["previous_valid_until"])),
        ts(START).add_seconds(24 * 3600)
    );
    let r = Recorder::default();
    alice.ok("webhook.test", json!({"id": id}));
    assert_eq!(round(&e, &r), 1);
    let s = &r.take()[0];
    let sigs: Vec<&str> = s.header("webhook-signature").split(' ').collect();
    assert_eq!(sigs.len(), 2);
    let (msg, ts_h) = (s.header("webhook-id"), s.header("webhook-timestamp"));
    assert!(signs(&new, sigs[0], msg, ts_h, &s.body));
    assert!(signs(&old, sigs[1], msg, ts_h, &s.body));

    e.clock.advance_seconds(24 * 3600);
    alice.ok("webhook.test", json!({"id": id}));
    assert_eq!(round(&e, &r), 1);
    let s = &r.take()[0];
    let sig = s.header("webhook-signature");
    assert!(!sig.contains(' '));
    assert!(signs(
        &new,
        sig,
        s.header("webhook-id"),
        s.header("webhook-timestamp"),
        &s.body
    ));
}

#[test]
fn test_replay_and_delete() {
    let e = start_with(allowing_private(), server_config());
    let (alice, _) = e.register("alice@example.com");
    let endpoint = alice.ok(
        "webhook.create",
        json!({"url": "http://127.0.0.1:9/t", "types": []}),
    )["endpoint"]
        .clone();
    let test = alice.ok("webhook.test", json!({"id": endpoint["id"]}));
    assert_eq!(test["event_type"], "webhook.test");
    assert_eq!(test["status"], "pending");
    let r = Recorder::default();
    assert_eq!(round(&e, &r), 1);
    let first = r.take();
    let replay = alice.ok("webhook.replay", json!({"delivery_id": test["id"]}));
    assert_ne!(replay["id"], test["id"]);
    assert_eq!(replay["message_id"], test["message_id"]);
    assert_eq!(round(&e, &r), 1);
    let second = r.take();
    assert_eq!(second[0].body, first[0].body);
    assert_eq!(
        second[0].header("webhook-id"),
        first[0].header("webhook-id")
    );
    let listed = deliveries(&alice, &endpoint);
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0]["id"], replay["id"], "newest first");

    // A claimed delivery whose sender died is due again once its lease ends.
    alice.ok("webhook.test", json!({"id": endpoint["id"]}));
    let claimed = e.app.claim_deliveries(10, 60).expect("claim");
    assert_eq!(claimed.len(), 1);
    assert!(e.app.claim_deliveries(10, 60).expect("claim").is_empty());
    e.clock.advance_seconds(61);
    let again = e.app.claim_deliveries(10, 60).expect("claim");
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].delivery.id, claimed[0].delivery.id);

    assert_eq!(
        alice.ok("webhook.delete", json!({"id": endpoint["id"]})),
        json!({"ok": true})
    );
    assert_eq!(alice.ok("webhook.list", json!({}))["items"], json!([]));
    fails(
        &alice,
        "webhook.deliveries",
        json!({"id": endpoint["id"]}),
        4040,
        "not_found",
    );
    e.clock.advance_seconds(61);
    assert_eq!(round(&e, &r), 0);
}
