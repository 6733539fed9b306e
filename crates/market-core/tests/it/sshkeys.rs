//! `sshkey.*`: the caller's SSH public keys.

use market_testkit::Client;
use serde_json::{Value, json};

use crate::support::*;

fn add(c: &Client, name: &str, key: &str) -> Value {
    c.ok("sshkey.add", json!({"name": name, "public_key": key}))
}

/// `(name, is_default)` of the caller's keys, newest first.
fn defaults(c: &Client) -> Vec<(String, bool)> {
    c.ok("sshkey.list", json!({}))["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| (str_of(&k["name"]).to_string(), k["is_default"] == true))
        .collect()
}

#[test]
fn added_keys_carry_their_type_and_fingerprint() {
    let e = start();
    let (c, user) = e.register("s@example.com");
    for (name, key, key_type, fingerprint) in [
        ("ed", ED25519, "ed25519", ED25519_FP),
        ("ec", ECDSA, "ecdsa", ECDSA_FP),
        ("rsa", RSA, "rsa", RSA_FP),
    ] {
        let k = add(&c, name, key);
        assert_eq!(k["name"], name);
        assert_eq!(k["key_type"], key_type, "{k}");
        assert_eq!(k["fingerprint"], fingerprint, "{k}");
        assert_eq!(k["user_id"], user["id"]);
        assert_eq!(k["version"], 1);
        assert!(str_of(&k["public_key"]).starts_with(key.split(' ').next().unwrap()));
    }
    let list = c.ok("sshkey.list", json!({}));
    let names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| str_of(&k["name"]))
        .collect();
    assert_eq!(names, ["rsa", "ec", "ed"]);
    assert!(list["next_cursor"].is_null());
}

#[test]
fn the_first_key_is_the_default() {
    let e = start();
    let (c, _) = e.register("d@example.com");
    assert_eq!(add(&c, "first", ED25519)["is_default"], true);
    assert_eq!(add(&c, "second", ECDSA)["is_default"], false);
    assert_eq!(
        defaults(&c),
        [("second".to_string(), false), ("first".to_string(), true)]
    );
}

#[test]
fn the_same_key_twice_is_a_conflict_but_another_user_may_add_it() {
    let e = start();
    let (alice, _) = e.register("alice@example.com");
    let (bob, _) = e.register("bob@example.com");
    add(&alice, "laptop", ED25519);
    // the same key with another comment has the same fingerprint
    let same = ED25519.replace(" test", " other-comment");
    fails(
        &alice,
        "sshkey.add",
        json!({"name": "again", "public_key": same}),
        4090,
        "conflict",
    );
    assert_eq!(defaults(&alice).len(), 1);
    let b = add(&bob, "laptop", ED25519);
    assert_eq!(b["fingerprint"], ED25519_FP);
    assert_eq!(b["is_default"], true);
}

#[test]
fn malformed_keys_are_invalid_input_naming_the_public_key() {
    let e = start();
    let (c, _) = e.register("m@example.com");
    let truncated = &ED25519[..60];
    let corrupted = ED25519.replace("AAAAIOMq", "AAAAIOMr!");
    let wrong_type = ED25519.replace("ssh-ed25519", "ssh-rsa");
    for bad in [
        "not a key",
        "ssh-ed25519",
        "ssh-ed25519 !!!notbase64!!!",
        truncated,
        corrupted.as_str(),
        wrong_type.as_str(),
        "ssh-dss AAAAB3NzaC1kc3MAAACBAP1/U4EddRIpUt9KnC7s5Of2EbdSPO9EAMMeP4C2USZpRV1AIlH7WT2NWPq/xfW6MPbLm1Vs14E7gB00b/JmYLdrmVClpJ+f6AR7ECLCT7up1/63xhv4O1fnxqimFQ8E+4P208UewwI1VBNaFpEy9nXzrith1yrv8iIDGZ3RSAHHAAAAFQCXYFCPFSMLzLKSuYKi64QL8Fgc9QAAAIEA9+GghdabPd7LvKtcNrhXuXmUr7v6OuqC+VdMCz0HgmdRWVeOutRZT+ZxBxCBgLRJFnEj6EwoFhO3zwkyjMim4TwWeotUfI0o4KOuHiuzpnWRbqN/C/ohNWLx+2J6ASQ7zKTxvqhRkImog9/hWuWfBpKLZl6Ae1UlZAFMO/7PSSoAAACBAPIIJ9oTlxwGhDYXe+6T4ZqZ2bMDd8Y+bkSuoHKsR9cnZ3g3dIYmAYnm0VePCc0wZ3lyFL0jAjQBFI8SdxaGD7TvMjS1n3Ao2a2GAk85gdhiPI6A4gZaMDbHxHbVP0e4d/tI8WiwUJKqQspIqZRUBSehA8XyjrVpDwv3AOTdCTi6 dsa",
        RSA_1024,
    ] {
        fails_on_field(
            &c,
            "sshkey.add",
            json!({"name": "bad", "public_key": bad}),
            "public_key",
        );
    }
    fails_on_field(
        &c,
        "sshkey.add",
        json!({"name": "", "public_key": ED25519}),
        "name",
    );
    invalid_params(&c, "sshkey.add", json!({"name": "x"}));
    assert!(defaults(&c).is_empty());
}

#[test]
fn set_default_moves_the_default() {
    let e = start();
    let (c, _) = e.register("sd@example.com");
    add(&c, "a", ED25519);
    let b = add(&c, "b", ECDSA);
    add(&c, "c", RSA);
    let chosen = c.ok("sshkey.set_default", json!({"id": id_of(&b)}));
    assert_eq!(chosen["id"], b["id"]);
    assert_eq!(chosen["is_default"], true);
    assert_eq!(
        defaults(&c),
        [
            ("c".to_string(), false),
            ("b".to_string(), true),
            ("a".to_string(), false)
        ]
    );
    // choosing the default again changes nothing
    c.ok("sshkey.set_default", json!({"id": id_of(&b)}));
    assert_eq!(defaults(&c).iter().filter(|(_, d)| *d).count(), 1);
    fails(
        &c,
        "sshkey.set_default",
        json!({"id": "01ARZ3NDEKTSV4RRFFQ69G5FAV"}),
        4040,
        "not_found",
    );
}

#[test]
fn removing_the_default_passes_it_to_the_newest_remaining_key() {
    let e = start();
    let (c, _) = e.register("rm@example.com");
    let a = add(&c, "a", ED25519);
    let b = add(&c, "b", ECDSA);
    add(&c, "c", RSA);
    assert_eq!(
        c.ok("sshkey.remove", json!({"id": id_of(&a)})),
        json!({"ok": true})
    );
    assert_eq!(
        defaults(&c),
        [("c".to_string(), true), ("b".to_string(), false)]
    );
    // removing a key that is not the default leaves the default alone
    c.ok("sshkey.remove", json!({"id": id_of(&b)}));
    assert_eq!(defaults(&c), [("c".to_string(), true)]);
    fails(
        &c,
        "sshkey.remove",
        json!({"id": id_of(&a)}),
        4040,
        "not_found",
    );
    // a removed key may be added again
    assert_eq!(add(&c, "a again", ED25519)["is_default"], false);
}

#[test]
fn a_blank_key_name_is_invalid_input() {
    let e = start();
    let (c, _) = e.register("blank@example.com");
    fails_on_field(
        &c,
        "sshkey.add",
        json!({"name": "   ", "public_key": ED25519}),
        "name",
    );
    assert!(defaults(&c).is_empty());
}
