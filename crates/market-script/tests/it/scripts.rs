//! Every script of `scripts/rhai/`, on a fresh database and against a
//! running server, checked by the data it leaves behind.

use market_core::{Role, UserStatus};
use market_script::{Limits, Transport};
use rhai::Dynamic;
use serde_json::{Value, json};

use crate::support::{ADMIN, BOTH, Env, PASSWORD, Via, s};

#[test]
fn admin_ops_suspends_and_unsuspends_a_user() {
    for via in BOTH {
        let env = Env::new(via);
        env.add_user("ada@example.com", &[]);
        let h = env.host(&[
            ("action", s("suspend")),
            ("email", s("ADA@example.com")),
            ("reason", s("chargeback")),
        ]);
        let out = h.run_script("admin_ops.rhai").unwrap();
        assert_eq!(out["status"], "suspended", "{via:?}");
        let ada = env.user("ada@example.com");
        assert_eq!(ada.status, UserStatus::Suspended, "{via:?}");
        assert_eq!(ada.suspended_reason.as_deref(), Some("chargeback"));
        assert!(
            h.printed().contains("suspended ada@example.com"),
            "{}",
            h.printed()
        );
        // a suspended user can no longer sign in
        let probe = env.host(&[]);
        let e = probe
            .run(&format!("login(\"ada@example.com\", \"{PASSWORD}\")"))
            .unwrap_err();
        assert_eq!(
            e.thrown.as_ref().unwrap()["kind"],
            "forbidden",
            "{via:?}: {e}"
        );
        // suspending again changes nothing
        let again = h.run_script("admin_ops.rhai").unwrap();
        assert_eq!(again["status"], "suspended");
        assert_eq!(env.user("ada@example.com").version, ada.version);

        let h = env.host(&[("action", s("unsuspend")), ("email", s("ada@example.com"))]);
        assert_eq!(h.run_script("admin_ops.rhai").unwrap()["status"], "active");
        let ada = env.user("ada@example.com");
        assert_eq!(ada.status, UserStatus::Active, "{via:?}");
        assert_eq!(ada.suspended_reason, None);

        let h = env.host(&[("action", s("suspend")), ("email", s("nobody@example.com"))]);
        let e = h.run_script("admin_ops.rhai").unwrap_err();
        assert!(
            e.message.contains("no user with email nobody@example.com"),
            "{e}"
        );
        assert!(e.to_string().contains("admin_ops.rhai:"), "{e}");
    }
}

#[test]
fn admin_ops_exports_chosen_types_to_a_new_json_file() {
    for via in BOTH {
        let env = Env::new(via);
        env.add_user("ada@example.com", &[]);
        env.add_user("bob@example.com", &[Role::ServiceProvider]);
        let h = env.host(&[
            ("action", s("export")),
            ("types", s("users, audit")),
            ("out", s("dump.json")),
        ]);
        let out = h.run_script("admin_ops.rhai").unwrap();
        assert_eq!(out["counts"]["users"], 3, "{via:?}: {out}");
        let text = std::fs::read_to_string(env.files.path().join("dump.json")).unwrap();
        assert!(!text.contains("password_hash"), "secret fields never leave");
        let file: Value = serde_json::from_str(&text).unwrap();
        let mut emails: Vec<&str> = file["users"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["email"].as_str().unwrap())
            .collect();
        emails.sort();
        assert_eq!(emails, ["ada@example.com", ADMIN, "bob@example.com"]);
        let audit = file["audit"].as_array().unwrap();
        assert_eq!(file["counts"]["audit"], audit.len());
        assert!(
            audit.iter().filter(|a| a["object_type"] == "user").count() >= 3,
            "{via:?}: every user's creation is audited"
        );
        // never overwrites: the second run fails and leaves the file alone
        let e = h.run_script("admin_ops.rhai").unwrap_err();
        assert!(e.message.contains("cannot create 'dump.json'"), "{e}");
        assert_eq!(
            std::fs::read_to_string(env.files.path().join("dump.json")).unwrap(),
            text
        );
        let h = env.host(&[("action", s("export")), ("types", s("users,passwords"))]);
        let e = h.run_script("admin_ops.rhai").unwrap_err();
        assert!(e.message.contains("cannot export 'passwords'"), "{e}");
        let h = env.host(&[("action", s("reboot"))]);
        let e = h.run_script("admin_ops.rhai").unwrap_err();
        assert!(e.message.contains("unknown action 'reboot'"), "{e}");
    }
}

#[test]
fn admin_ops_needs_an_admin() {
    let env = Env::new(Via::Remote);
    env.add_user("ada@example.com", &[]);
    let as_customer = Transport::remote(&env.rpc_url(), Some(env.token("ada@example.com")));
    let h = env.host_with(
        as_customer,
        &[("action", s("suspend")), ("email", s(ADMIN))],
        Limits::default(),
    );
    let e = h.run_script("admin_ops.rhai").unwrap_err();
    assert_eq!(e.thrown.as_ref().unwrap()["kind"], "forbidden", "{e}");
    assert_eq!(e.thrown.as_ref().unwrap()["method"], "user.list", "{e}");
    assert_eq!(env.user(ADMIN).status, UserStatus::Active);
}

fn health_args(password: &str) -> Vec<(&'static str, Dynamic)> {
    vec![("email", s("ops@example.com")), ("password", s(password))]
}

#[test]
fn health_check_passes_end_to_end() {
    for via in BOTH {
        let env = Env::new(via);
        env.add_user("ops@example.com", &[]);
        let transport = match via {
            Via::Local => Transport::local(env.app.clone()),
            Via::Remote => Transport::remote(&env.rpc_url(), None),
        };
        let h = env.host_with(transport, &health_args(PASSWORD), Limits::default());
        let out = h.run_script("health_check.rhai").unwrap();
        assert_eq!(
            out,
            json!({"passed": 8, "failed": []}),
            "{via:?}: {}",
            h.printed()
        );
        let printed = h.printed();
        for check in [
            "health",
            "config",
            "catalog",
            "login",
            "me",
            "wallet",
            "board",
            "board_post",
        ] {
            assert!(
                printed.contains(&format!("ok    {check}:")),
                "{via:?}: {printed}"
            );
        }
        assert!(printed.contains("signed in as ops@example.com"));
    }
}

#[test]
fn health_check_names_every_failed_check() {
    let env = Env::new(Via::Remote);
    env.add_user("ops@example.com", &[]);
    let h = env.host_with(
        Transport::remote(&env.rpc_url(), None),
        &health_args("wrong-password"),
        Limits::default(),
    );
    let e = h.run_script("health_check.rhai").unwrap_err();
    assert_eq!(
        e.message,
        "health check failed: login, me, wallet, board_post",
        "{}",
        h.printed()
    );
    assert!(e.to_string().contains("health_check.rhai:"), "{e}");
    let printed = h.printed();
    assert!(printed.contains("ok    health:"), "{printed}");
    assert!(
        printed.contains("FAIL  login: wrong email or password (unauthenticated)"),
        "{printed}"
    );

    // a server that is gone fails every check
    let url = env.rpc_url();
    drop(env);
    let env = Env::new(Via::Local);
    let h = env.host_with(
        Transport::remote(&url, None),
        &health_args(PASSWORD),
        Limits::default(),
    );
    let e = h.run_script("health_check.rhai").unwrap_err();
    assert_eq!(
        e.message,
        "health check failed: health, config, catalog, login, me, wallet, board, board_post"
    );
    assert!(h.printed().contains("cannot reach"), "{}", h.printed());
}

#[test]
fn migrate_data_is_a_dry_run_until_told_to_apply() {
    for via in BOTH {
        let env = Env::new(via);
        env.add_user("ada@example.com", &[]);
        env.add_user("bea@example.com", &[Role::ServiceProvider]);
        env.add_user("cyd@other.org", &[]);
        let args = |apply: bool| {
            vec![
                ("domain", s("Example.com")),
                ("role", s("service_provider")),
                ("apply", Dynamic::from_bool(apply)),
            ]
        };
        let roles = |email: &str| -> Vec<Role> { env.user(email).roles };
        let h = env.host(&args(false));
        let out = h.run_script("migrate_data.rhai").unwrap();
        let mut changed: Vec<&str> = out["changed"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e.as_str().unwrap())
            .collect();
        changed.sort();
        assert_eq!(changed, ["ada@example.com", ADMIN], "{via:?}");
        assert_eq!(out["seen"], 4);
        assert_eq!(
            roles("ada@example.com"),
            [Role::Customer],
            "a dry run writes nothing"
        );
        assert!(h.printed().contains("would change ada@example.com"));

        let h = env.host(&args(true));
        let out = h.run_script("migrate_data.rhai").unwrap();
        assert_eq!(out["changed"].as_array().unwrap().len(), 2, "{via:?}");
        assert_eq!(
            roles("ada@example.com"),
            [Role::Customer, Role::ServiceProvider]
        );
        assert!(roles(ADMIN).contains(&Role::ServiceProvider));
        assert!(roles(ADMIN).contains(&Role::Admin), "other roles are kept");
        assert_eq!(roles("cyd@other.org"), [Role::Customer]);
        assert_eq!(
            env.user("bea@example.com").version,
            1,
            "already had the role"
        );
        // a second run finds nothing left to do
        let out = h.run_script("migrate_data.rhai").unwrap();
        assert_eq!(out["changed"], json!([]));
    }
}
