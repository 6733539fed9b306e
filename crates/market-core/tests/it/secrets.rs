//! Secrets never leave the server and are not stored in clear: no answer
//! carries a password, a hash or another answer's token, and the database
//! file holds the password hash only sealed.

use std::sync::Arc;

use market_core::{Role, User};
use market_store::{Db, Id, ManualClock, Reads, RedbBackend, StoreError};
use market_testkit::Client;
use serde_json::{Value, json};

use crate::support::*;

const ALICE_PW: &str = "alice's first password";
const ALICE_NEW_PW: &str = "alice's second password";
const BOB_PW: &str = "bob's only password";

/// Every response body of the walk.
#[derive(Default)]
struct Recorder {
    bodies: Vec<String>,
}

impl Recorder {
    /// Call `method`; the whole response, its body recorded.
    fn call(&mut self, c: &Client, method: &str, params: Value) -> Value {
        let body =
            json!({"jsonrpc": "2.0", "id": self.bodies.len(), "method": method, "params": params});
        let reply = c.post_raw(&body.to_string());
        assert_eq!(reply.status, 200, "{method}");
        self.bodies.push(reply.body.clone());
        reply.json()
    }

    /// Call `method` expecting success; the result.
    fn ok(&mut self, c: &Client, method: &str, params: Value) -> Value {
        let v = self.call(c, method, params);
        assert!(v.get("error").is_none(), "{method}: {v}");
        v["result"].clone()
    }
}

/// What the walk handed out and the user it is about.
struct Walk {
    bodies: Vec<String>,
    passwords: Vec<&'static str>,
    /// Tokens and API keys, each from exactly one response.
    secrets: Vec<String>,
    alice_id: String,
}

/// Sign in, read and change everything a frontend would, recording every answer.
fn walk(e: &Env) -> Walk {
    let mut r = Recorder::default();
    let mut secrets = Vec::new();
    let anon = e.anon();
    e.app
        .add_user(ADMIN_EMAIL, ADMIN_PASSWORD, &[Role::Admin], "test")
        .expect("admin");
    let a = r.ok(
        &anon,
        "auth.register",
        json!({"email": "alice@example.com", "password": ALICE_PW, "display_name": "Alice"}),
    );
    let alice_id = id_of(&a["user"]);
    secrets.push(str_of(&a["token"]).to_string());
    let b = r.ok(
        &anon,
        "auth.register",
        json!({"email": "bob@example.com", "password": BOB_PW, "display_name": "Bob"}),
    );
    let bob_id = id_of(&b["user"]);
    secrets.push(str_of(&b["token"]).to_string());
    let login = r.ok(
        &anon,
        "auth.login",
        json!({"email": "alice@example.com", "password": ALICE_PW}),
    );
    secrets.push(str_of(&login["token"]).to_string());
    let admin_login = r.ok(
        &anon,
        "auth.login",
        json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}),
    );
    secrets.push(str_of(&admin_login["token"]).to_string());
    r.call(
        &anon,
        "auth.login",
        json!({"email": "alice@example.com", "password": BOB_PW}),
    );
    r.call(
        &anon,
        "auth.register",
        json!({"email": "ALICE@example.com", "password": ALICE_PW, "display_name": "Dup"}),
    );
    let alice = e.with_token(str_of(&login["token"]));
    let bob = e.with_token(str_of(&b["token"]));
    let admin = e.with_token(str_of(&admin_login["token"]));

    r.ok(&alice, "auth.me", json!({}));
    let key = r.ok(&alice, "apikey.create", json!({"name": "ci"}));
    secrets.push(str_of(&key["key"]).to_string());
    r.ok(&alice, "apikey.list", json!({}));
    r.ok(&e.with_token(str_of(&key["key"])), "auth.me", json!({}));
    r.ok(
        &alice,
        "sshkey.add",
        json!({"name": "laptop", "public_key": ED25519}),
    );
    r.ok(&alice, "sshkey.list", json!({}));
    r.ok(
        &alice,
        "user.update_profile",
        json!({"display_name": "Alice A."}),
    );

    r.ok(&admin, "user.get", json!({"id": alice_id}));
    r.ok(&admin, "user.list", json!({}));
    r.ok(&admin, "user.list", json!({"role": "customer", "limit": 1}));
    r.ok(
        &admin,
        "user.suspend",
        json!({"id": bob_id, "reason": "check"}),
    );
    r.call(&bob, "auth.me", json!({}));
    r.ok(&admin, "user.unsuspend", json!({"id": bob_id}));
    r.ok(
        &admin,
        "user.set_roles",
        json!({"id": alice_id, "roles": ["app_provider"]}),
    );
    r.ok(
        &admin,
        "wallet.grant",
        json!({"user_id": alice_id, "amount": "20", "reason": "r"}),
    );
    r.ok(
        &alice,
        "wallet.transfer",
        json!({"to_email": "bob@example.com", "amount": "5", "idempotency_key": "s-1"}),
    );
    r.ok(
        &alice,
        "wallet.transfer",
        json!({"to_email": "bob@example.com", "amount": "5", "idempotency_key": "s-1"}),
    );
    r.ok(&alice, "wallet.get", json!({}));
    r.ok(&alice, "wallet.history", json!({}));
    r.ok(&bob, "wallet.history", json!({}));
    r.ok(&admin, "ledger.verify", json!({}));
    r.ok(
        &alice,
        "auth.change_password",
        json!({"old_password": ALICE_PW, "new_password": ALICE_NEW_PW}),
    );
    let relogin = r.ok(
        &anon,
        "auth.login",
        json!({"email": "alice@example.com", "password": ALICE_NEW_PW}),
    );
    secrets.push(str_of(&relogin["token"]).to_string());
    r.ok(&admin, "admin.audit", json!({"limit": 500}));
    r.ok(&admin, "admin.audit", json!({"object_id": alice_id}));
    r.ok(&anon, "system.config", json!({}));
    r.ok(&anon, "rpc.discover", json!({}));
    r.ok(&bob, "auth.logout", json!({}));
    Walk {
        bodies: r.bodies,
        passwords: vec![ALICE_PW, ALICE_NEW_PW, BOB_PW, ADMIN_PASSWORD],
        secrets,
        alice_id,
    }
}

#[test]
fn no_answer_carries_a_hash_a_password_or_another_answers_token() {
    let e = start();
    let w = walk(&e);
    assert!(w.bodies.len() > 30);
    for body in &w.bodies {
        for marker in ["password_hash", "token_hash", "key_hash", "$argon2"] {
            assert!(!body.contains(marker), "{marker} in {body}");
        }
        for pw in &w.passwords {
            assert!(!body.contains(pw), "a password in {body}");
        }
    }
    for secret in &w.secrets {
        let carrying = w.bodies.iter().filter(|b| b.contains(secret)).count();
        assert_eq!(carrying, 1, "{secret} is in {carrying} answers");
    }
}

#[test]
fn the_database_file_holds_no_password_hash_or_token_in_clear() {
    let e = start();
    let w = walk(&e);
    let (path, _dir) = e.shutdown();
    let alice: Id = w.alice_id.parse().expect("an id");
    let clock = || Arc::new(ManualClock::new(START.parse().unwrap()));
    {
        // without the key the user cannot be read at all
        let backend = RedbBackend::open(&path).expect("reopen");
        let db = Db::new(Arc::new(backend), clock());
        let read = db.read(|tx| tx.get::<User>(alice));
        assert!(
            matches!(read, Err(StoreError::NoSecretKey)),
            "read without a key: {read:?}"
        );
    }
    {
        // with it, the hash is there and is argon2id
        let backend = RedbBackend::open(&path).expect("reopen");
        let db = Db::new(Arc::new(backend), clock()).with_cipher(cipher());
        let user = db
            .read(|tx| tx.get::<User>(alice))
            .expect("read with the key")
            .expect("alice exists");
        assert!(
            user.password_hash.starts_with("$argon2id$"),
            "{}",
            user.password_hash
        );
    }
    let bytes = std::fs::read(&path).expect("read the file");
    let contains = |needle: &str| bytes.windows(needle.len()).any(|w| w == needle.as_bytes());
    assert!(bytes.len() > 1000);
    assert!(contains("alice@example.com"), "the file is not plain redb?");
    assert!(!contains("$argon2id$"), "a password hash in clear");
    assert!(!contains("$argon2"), "a password hash in clear");
    for pw in &w.passwords {
        assert!(!contains(pw), "a password in clear");
    }
    for secret in &w.secrets {
        assert!(!contains(secret), "a token or key in clear");
    }
}
