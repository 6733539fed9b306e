//! The REPL: stdin that is not a terminal, entries that keep their state,
//! help, errors with a caret, and completion.

use market_script::repl::{self, Session, completions};

use crate::support::{Env, Via};

#[test]
fn piped_stdin_runs_as_one_script() {
    let env = Env::new(Via::Local);
    let h = env.host(&[]);
    let mut err = Vec::new();
    assert!(repl::run_piped(
        &h.host,
        "let x = 20;\nx * 2 + 2\n",
        &mut err
    ));
    assert_eq!(h.printed(), "42\n");
    assert!(err.is_empty());
    assert!(repl::run_piped(&h.host, "system::health()", &mut err));
    assert!(
        h.printed().contains("\"status\": \"ok\""),
        "maps as JSON: {}",
        h.printed()
    );

    let mut err = Vec::new();
    assert!(!repl::run_piped(
        &h.host,
        "let x = 1;\nlet y = nope + x;\n",
        &mut err
    ));
    assert_eq!(
        String::from_utf8(err).unwrap(),
        "<stdin>:2:9: Variable not found: nope\nlet y = nope + x;\n        ^\n"
    );
}

#[test]
fn entries_keep_variables_and_functions() {
    let env = Env::new(Via::Local);
    let h = env.host(&[]);
    let mut session = Session::new(&h.host);
    assert_eq!(session.entry("let total = 40;"), (None, true));
    assert_eq!(session.entry("fn add(a, b) { a + b }"), (None, true));
    assert_eq!(session.entry("add(total, 2)"), (Some("42".into()), true));
    assert!(session.variables().contains(&"total".to_string()));
    let (help, ok) = session.entry("help wallet.transfer");
    assert!(ok);
    let help = help.unwrap();
    assert!(
        help.starts_with("wallet::transfer(#{to_email, amount, memo?, idempotency_key?})"),
        "{help}"
    );
    assert!(help.contains("access: user"), "{help}");
    let (overview, _) = session.entry("help");
    let overview = overview.unwrap();
    for ns in [
        "wallet", "post", "board", "module", "manifest", "build", "release", "catalog",
    ] {
        assert!(
            overview.contains(&format!("\n  {ns:<12} ")),
            "help lists the {ns} namespace: {overview}"
        );
    }
    let (text, _) = session.entry("help(\"release\")");
    assert!(text.unwrap().contains("rollback"));
    let (text, _) = session.entry("help(\"user\")");
    assert!(text.unwrap().contains("suspend"));
    let (text, ok) = session.entry("let m = #{a: 1};\nm.a + oops");
    assert!(!ok);
    assert_eq!(
        text.unwrap(),
        "<repl>:2:7: Variable not found: oops\nm.a + oops\n      ^"
    );
    // the failed entry did not break the session
    assert_eq!(session.entry("total + 2"), (Some("42".into()), true));
    let (_, ok) = session.entry("total.");
    assert!(!ok);
    let (v, ok) = session.entry("call(\"system.health\").status");
    assert_eq!(
        (v.as_deref(), ok),
        (Some("ok"), true),
        "a broken entry leaves no state behind"
    );
    // progress is silent without a terminal, and harmless
    assert_eq!(
        session.entry("progress(1, 2, \"half\"); progress(2, 2); 1"),
        (Some("1".into()), true)
    );
}

#[test]
fn completion_of_namespaces_methods_and_variables() {
    let env = Env::new(Via::Local);
    let h = env.host(&[]);
    let catalog = h.host.catalog();
    assert_eq!(
        completions("wal", 3, catalog, &[]),
        (0, vec!["wallet::".to_string()])
    );
    let line = "let t = wallet::tr";
    assert_eq!(
        completions(line, line.len(), catalog, &[]),
        (8, vec!["wallet::transfer".to_string()])
    );
    let (_, all) = completions("wallet::", 8, catalog, &[]);
    assert!(
        all.contains(&"wallet::get".to_string()) && all.len() >= 5,
        "{all:?}"
    );
    let (start, found) = completions("print(to", 8, catalog, &["total".to_string()]);
    assert_eq!(start, 6);
    assert_eq!(found, ["to_json", "total"]);
    let (_, found) = completions("as_", 3, catalog, &[]);
    assert_eq!(found, ["as_operator", "as_user"]);
    let (_, found) = completions("Prod", 4, catalog, &[]);
    assert!(found.contains(&"Product".to_string()), "{found:?}");
}
