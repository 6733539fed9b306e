//! Storage faults under the API (the embedded database on a file that fails
//! on command, `market_faults`): a call that meets one answers `-32603
//! internal error` and nothing else, changes nothing, and the server works
//! again by itself once the fault clears. Runs on redb only.

use std::path::PathBuf;
use std::sync::Arc;

use market_core::{App, Role};
use market_faults::{FaultPlan, FaultyStorage};
use market_server::Endpoint;
use market_store::{Db, ManualClock, RedbBackend};
use market_testkit::Client;
use serde_json::{Value, json};

use crate::support::*;

/// The marketplace on a file that fails as `plan` says, called in-process.
struct Faulty {
    plan: Arc<FaultPlan>,
    endpoint: Arc<Endpoint>,
    app: Arc<App>,
    path: PathBuf,
    _dir: tempfile::TempDir,
}

fn start_faulty() -> Faulty {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("faulty.redb");
    let plan = FaultPlan::new();
    let storage_plan = plan.clone();
    let backend = RedbBackend::open_on(&path, move |file| {
        FaultyStorage::open(file, storage_plan.clone())
    })
    .unwrap();
    let clock = Arc::new(ManualClock::new(START.parse().unwrap()));
    let db = Arc::new(Db::new(Arc::new(backend), clock).with_cipher(cipher()));
    let (app, api) = market_testkit::marketplace(db, app_config());
    let endpoint = Arc::new(Endpoint::new(api, &server_config()));
    Faulty {
        plan,
        endpoint,
        app,
        path,
        _dir: dir,
    }
}

impl Faulty {
    fn anon(&self) -> Client {
        Client::local(self.endpoint.clone())
    }

    /// The admin, and Alice with 100 TFC.
    fn admin_and_alice(&self) -> (Client, Client) {
        self.app
            .add_user(ADMIN_EMAIL, ADMIN_PASSWORD, &[Role::Admin], "test")
            .unwrap();
        let login = self.anon().ok(
            "auth.login",
            json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}),
        );
        let admin = self.anon().with_token(str_of(&login["token"]));
        let (alice, alice_user) = self.register("alice@example.com");
        grant(&admin, &id_of(&alice_user), "100");
        (admin, alice)
    }

    fn register(&self, email: &str) -> (Client, Value) {
        let r = self.anon().ok(
            "auth.register",
            json!({"email": email, "password": PASSWORD, "display_name": "user"}),
        );
        (
            self.anon().with_token(str_of(&r["token"])),
            r["user"].clone(),
        )
    }

    fn file_len(&self) -> u64 {
        std::fs::metadata(&self.path).unwrap().len()
    }
}

/// Alice's transfer to the admin.
fn to_admin(amount: &str) -> Value {
    json!({"to_email": ADMIN_EMAIL, "amount": amount})
}

/// The answer of a call that met a storage fault: the bare internal error,
/// no detail of what failed.
fn assert_internal_error(result: Result<Value, Value>) {
    let e = result.expect_err("the call should have failed");
    assert_eq!(e, json!({"code": -32603, "message": "internal error"}));
}

#[test]
fn while_disk_writes_fail_a_transfer_is_an_internal_error_and_moves_nothing_until_cleared() {
    let f = start_faulty();
    let (admin, alice) = f.admin_and_alice();
    f.plan.fail_all_writes();
    assert_internal_error(alice.call("wallet.transfer", to_admin("10")));
    // redb opens the file again only by writing to it: until the fault
    // clears, reads fail the same way
    assert_internal_error(alice.call("wallet.get", json!({})));
    f.plan.clear();
    assert_eq!(balance(&alice), dec("100"));
    assert_eq!(balance(&admin), dec("0"));
    assert!(history(&admin).is_empty());
    verify_ok(&admin);
    alice.ok("wallet.transfer", to_admin("10"));
    assert_eq!(balance(&alice), dec("90"));
    assert_eq!(balance(&admin), dec("10"));
    assert_eq!(history(&admin).len(), 1);
    verify_ok(&admin);
}

#[test]
fn on_a_full_disk_only_the_transfer_needing_room_fails_and_reads_go_on() {
    let f = start_faulty();
    let (admin, alice) = f.admin_and_alice();
    // The file may not grow any more: transfers go through while it has
    // free pages; the ledger only grows, so one soon needs more room.
    f.plan.disk_full_at(f.file_len());
    let mut sent = 0;
    let failed = loop {
        assert!(sent < 100, "100 transfers fit in the file as it was");
        match alice.call("wallet.transfer", to_admin("1")) {
            Ok(_) => sent += 1,
            Err(e) => break e,
        }
    };
    assert_internal_error(Err(failed));
    assert_eq!(f.plan.injected(), 1);
    // reads go on while the disk is full, and show only what was acknowledged
    let sent_tfc = rust_decimal::Decimal::from(sent);
    assert_eq!(balance(&alice), dec("100") - sent_tfc);
    assert_eq!(balance(&admin), sent_tfc);
    assert_eq!(history(&admin).len(), sent);
    verify_ok(&admin);
    f.plan.clear();
    alice.ok("wallet.transfer", to_admin("1"));
    assert_eq!(balance(&alice), dec("99") - sent_tfc);
    assert_eq!(balance(&admin), sent_tfc + dec("1"));
    assert_eq!(history(&admin).len(), sent + 1);
    verify_ok(&admin);
}

#[test]
fn a_registration_meeting_a_failed_disk_write_leaves_no_account_and_can_be_made_again() {
    let f = start_faulty();
    f.plan.fail_nth_write(1);
    let params =
        json!({"email": "carol@example.com", "password": PASSWORD, "display_name": "Carol"});
    assert_internal_error(f.anon().call("auth.register", params.clone()));
    assert_eq!(f.plan.injected(), 1);
    // the fault was one write: the next call works on the reopened file,
    // and no half-made account holds the email
    let carol = f.anon().ok("auth.register", params);
    assert_eq!(carol["user"]["email"], "carol@example.com");
    let carol = f.anon().with_token(str_of(&carol["token"]));
    assert_eq!(balance(&carol), dec("0"));
}
