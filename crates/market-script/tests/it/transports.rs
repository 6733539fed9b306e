//! Local and remote transports: one API, the same results, the same rules.

use market_core::Role;
use serde_json::json;

use crate::support::{ADMIN, BOTH, Env, PASSWORD, Via};

/// Registration, grants, transfers with an idempotency key, every kind of
/// error, identity switches and admin reads: a summary without ids.
const LEDGER_TOUR: &str = r#"
let out = #{};
let ada = auth::register(#{email: "ada@example.com", password: "ada-password-1", display_name: "Ada"});
auth::register(#{email: "bob@example.com", password: "bob-password-1", display_name: "Bob"});
wallet::grant(#{user_id: ada.user.id, amount: "100", reason: "welcome"});
login("ada@example.com", "ada-password-1");
out.me = whoami().email;
let first = wallet::transfer(#{to_email: "bob@example.com", amount: parse_decimal("12.5"), memo: "lunch", idempotency_key: "k1"});
let again = call("wallet.transfer", #{to_email: "bob@example.com", amount: "12.5", memo: "lunch", idempotency_key: "k1"});
out.replayed = first.id == again.id;
try { wallet::transfer(#{to_email: "bob@example.com", amount: "1000"}) } catch (e) { out.overdraft = [e.code, e.kind]; }
try { wallet::transfer(#{to_email: "bob@example.com", amount: "1.1234567"}) } catch (e) { out.invalid = [e.code, e.kind, e.data.fields.keys()]; }
try { call("wallet.transfer", #{amount: "1"}) } catch (e) { out.missing_param = e.code; }
try { call("nope.nothing") } catch (e) { out.unknown_method = e.code; }
try { user::list() } catch (e) { out.not_admin = [e.code, e.kind, e.method]; }
out.ada = wallet::get().balance;
login("bob@example.com", "bob-password-1");
out.bob = wallet::get().balance;
out.history = wallet::history().items.map(|e| [e.kind, e.amount]);
as_operator();
out.users = user::list(#{}).items.map(|u| u.email);
out.ledger = ledger::verify();
out
"#;

#[test]
fn the_same_script_gives_the_same_result_in_both_transports() {
    let results: Vec<_> = BOTH
        .iter()
        .map(|&via| {
            let env = Env::new(via);
            let h = env.host(&[]);
            h.run(LEDGER_TOUR)
                .unwrap_or_else(|e| panic!("{via:?}: {e}\n{}", h.printed()))
        })
        .collect();
    assert_eq!(results[0], results[1]);
    let r = &results[0];
    assert_eq!(r["me"], "ada@example.com");
    assert_eq!(r["replayed"], true, "the key replays the first transfer");
    assert_eq!(r["overdraft"], json!([4020, "insufficient_funds"]));
    assert_eq!(r["invalid"], json!([4000, "invalid_input", ["amount"]]));
    assert_eq!(r["missing_param"], -32602);
    assert_eq!(r["unknown_method"], -32601);
    assert_eq!(r["not_admin"], json!([4030, "forbidden", "user.list"]));
    assert_eq!(r["ada"], "87.5");
    assert_eq!(r["bob"], "12.5");
    assert_eq!(r["history"], json!([["transfer_in", "12.5"]]));
    assert_eq!(
        r["users"],
        json!(["bob@example.com", "ada@example.com", ADMIN])
    );
    assert_eq!(r["ledger"]["ok"], true);
    let total: f64 = r["ledger"]["total"].as_str().unwrap().parse().unwrap();
    assert_eq!(total, 100.0);
}

#[test]
fn local_scripts_start_as_the_system_and_switch_identity() {
    let env = Env::new(Via::Local);
    env.add_user("ada@example.com", &[]);
    env.add_user("sam@example.com", &[]);
    let h = env.host(&[]);
    let r = h
        .run(&format!(
            r#"
            let out = #{{}};
            out.start = whoami();
            out.ada = as_user("ada@example.com").email;
            out.as_ada = whoami().email;
            try {{ user::list() }} catch (e) {{ out.list = e.kind; }}
            as_operator();
            out.back = whoami().kind;
            let sam = user::list(#{{}}).items.filter(|u| u.email == "sam@example.com")[0];
            user::suspend(#{{id: sam.id, reason: "test"}});
            try {{ as_user("sam@example.com") }} catch (e) {{ out.suspended = e.kind; }}
            try {{ as_user("nobody@example.com") }} catch (e) {{ out.nobody = e.kind; }}
            out.login = login("ada@example.com", "{PASSWORD}").email;
            out
            "#
        ))
        .unwrap();
    assert_eq!(
        r["start"],
        json!({"transport": "local", "kind": "system", "admin": true})
    );
    assert_eq!(r["ada"], "ada@example.com");
    assert_eq!(r["as_ada"], "ada@example.com");
    assert_eq!(
        r["list"], "forbidden",
        "the same access rules as the server"
    );
    assert_eq!(r["back"], "system");
    assert_eq!(r["suspended"], "forbidden");
    assert_eq!(r["nobody"], "not_found");
    assert_eq!(r["login"], "ada@example.com");
    // the audit names the system as the actor of local operator calls
    let audit = h
        .run("admin::audit(#{limit: 500}).items.filter(|a| a.method == \"user.suspend\")")
        .unwrap();
    assert_eq!(audit[0]["actor_id"], "system");
}

#[test]
fn remote_scripts_act_as_their_token() {
    let env = Env::new(Via::Remote);
    env.add_user("ada@example.com", &[Role::AppProvider]);
    let h = env.host(&[]);
    let r = h
        .run(
            r#"
            let out = #{};
            let me = whoami();
            out.start = [me.transport, me.kind, me.email, me.admin];
            try { as_user("ada@example.com") } catch (e) { out.as_user = [e.kind, e.message]; }
            out
            "#,
        )
        .unwrap();
    assert_eq!(r["start"], json!(["remote", "user", ADMIN, true]));
    assert_eq!(r["as_user"][0], "forbidden");
    assert!(
        r["as_user"][1]
            .as_str()
            .unwrap()
            .contains("login(email, password)"),
        "{r}"
    );
}

#[test]
fn a_local_batch_keeps_all_of_its_calls_or_none() {
    let env = Env::new(Via::Local);
    let h = env.host(&[]);
    let r = h
        .run(
            r#"
            let out = #{};
            let made = batch(|| {
                auth::register(#{email: "one@example.com", password: "a-long-password", display_name: "One"});
                auth::register(#{email: "two@example.com", password: "a-long-password", display_name: "Two"});
                2
            });
            out.made = made;
            try {
                batch(|| {
                    auth::register(#{email: "three@example.com", password: "a-long-password", display_name: "Three"});
                    auth::register(#{email: "one@example.com", password: "a-long-password", display_name: "Again"});
                });
            } catch (e) {
                out.failed = e.kind;
            }
            out.emails = user::list(#{}).items.map(|u| u.email);
            out
            "#,
        )
        .unwrap();
    assert_eq!(r["made"], 2);
    assert_eq!(r["failed"], "conflict", "{r}");
    let emails = r["emails"].as_array().unwrap();
    assert!(
        emails.contains(&json!("one@example.com")) && emails.contains(&json!("two@example.com"))
    );
    assert!(
        !emails.contains(&json!("three@example.com")),
        "the failed batch left nothing: {r}"
    );
}
