//! The module catalog (`module.*`) and the manifest (`manifest.*`).

use serde_json::{Value, json};

use crate::support::*;

/// A catalog of three modules: two for any server, one for servers 9.x only.
pub const CATALOG: &str = r#"schema = 1
updated_at = "2026-03-01T12:00:00Z"

[modules.search-plus]
slug = "search-plus"
name = "Search Plus"
description = "Better ranking for product search"
source = "crates-io"
crate = "market-search-plus"
version = "1.2.0"
tags = ["search", "ranking"]
compat.server = ">=0.1, <1"

[modules.invoices]
name = "Invoices"
description = "PDF invoices for orders"
source = "git"
git = "https://example.com/invoices.git"
rev = "4f2a9c1"
tags = ["billing"]

[modules.future]
name = "Future"
description = "Needs a newer server"
source = "path"
path = "modules/future"
compat.server = "^9"
"#;

fn import(admin: &market_testkit::Client, toml: &str) -> Value {
    admin.ok("module.import_catalog", json!({"toml": toml}))
}

#[test]
fn import_upserts_and_lists_modules() {
    let e = start();
    let (admin, _) = e.admin();
    let first = import(&admin, CATALOG);
    assert_eq!(first["created"], 3);
    assert_eq!(first["updated"], 0);
    assert_eq!(first["slugs"], json!(["future", "invoices", "search-plus"]));
    assert_eq!(first["updated_at"], "2026-03-01T12:00:00Z");

    let again = import(&admin, CATALOG);
    assert_eq!(
        (again["created"].clone(), again["unchanged"].clone()),
        (json!(0), json!(3))
    );
    let changed = import(
        &admin,
        &CATALOG.replace("version = \"1.2.0\"", "version = \"1.3.0\""),
    );
    assert_eq!(
        (changed["updated"].clone(), changed["unchanged"].clone()),
        (json!(1), json!(2))
    );

    let anon = e.anon();
    let m = anon.ok("module.get", json!({"slug": "search-plus"}));
    assert_eq!(m["crate_name"], "market-search-plus");
    assert_eq!(m["module_version"], "1.3.0");
    assert_eq!(m["source"], "crates-io");
    assert_eq!(m["compatible"], true);
    assert_eq!(m["tags"], json!(["ranking", "search"]));
    assert_eq!(m["version"], 2, "one update after the create");
    let future = anon.ok("module.get", json!({"slug": "future"}));
    assert_eq!(future["compatible"], false);
    assert_eq!(future["compat_server"], "^9");
    let invoices = anon.ok("module.get", json!({"slug": "invoices"}));
    assert_eq!(invoices["compat_server"], "*");

    let slugs = |v: Value| -> Vec<String> {
        v["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|m| str_of(&m["slug"]).to_string())
            .collect()
    };
    assert_eq!(slugs(anon.ok("module.list", json!({}))).len(), 3);
    assert_eq!(
        slugs(anon.ok("module.list", json!({"tag": "billing"}))),
        vec!["invoices"]
    );
    assert_eq!(
        slugs(anon.ok("module.list", json!({"query": "RANKING"}))),
        vec!["search-plus"]
    );
    assert_eq!(
        slugs(anon.ok("module.list", json!({"query": "nothing like it"}))),
        Vec::<String>::new()
    );
    fails(
        &anon,
        "module.get",
        json!({"slug": "nope"}),
        4040,
        "not_found",
    );
    fails(
        &anon,
        "module.import_catalog",
        json!({"toml": CATALOG}),
        4010,
        "unauthenticated",
    );
    let (user, _) = e.register("user@example.com");
    fails(
        &user,
        "module.import_catalog",
        json!({"toml": CATALOG}),
        4030,
        "forbidden",
    );
}

/// A bad catalog is `invalid_input` naming the line and column, and imports nothing.
#[test]
fn bad_catalogs_name_line_and_column() {
    let e = start();
    let (admin, _) = e.admin();
    let cases: &[(&str, &str, u64, u64)] = &[
        // TOML syntax: the string on line 2 is not closed at its end
        (
            "schema = 1\nupdated_at = \"2026-01-01T00:00:00Z\n",
            "expected `\"`",
            2,
            35,
        ),
        (
            "schema = 2\nupdated_at = \"2026-01-01T00:00:00Z\"\n",
            "unsupported catalog schema 2",
            1,
            10,
        ),
        (
            "schema = 1\nupdated_at = \"yesterday\"\n",
            "RFC 3339",
            2,
            14,
        ),
        (
            "schema = 1\nupdated_at = \"2026-01-01T00:00:00Z\"\n[modules.a]\nname = \"A\"\nsource = \"svn\"\n",
            "unknown source \"svn\"",
            5,
            10,
        ),
        (
            "schema = 1\nupdated_at = \"2026-01-01T00:00:00Z\"\n[modules.a]\nname = \"A\"\nsource = \"crates-io\"\ncrate = \"a\"\nversion = \"one\"\n",
            "not a semver version",
            7,
            11,
        ),
        (
            "schema = 1\nupdated_at = \"2026-01-01T00:00:00Z\"\n[modules.a]\nname = \"A\"\nsource = \"git\"\ngit = \"x\"\nrev = \"y\"\ncompat.server = \"about two\"\n",
            "not a semver range",
            8,
            17,
        ),
        (
            "schema = 1\nupdated_at = \"2026-01-01T00:00:00Z\"\n[modules.a]\nname = \"A\"\nsource = \"git\"\n",
            "needs `git`",
            5,
            10,
        ),
        (
            "schema = 1\nupdated_at = \"2026-01-01T00:00:00Z\"\n[modules.a]\nname = \"A\"\nsource = \"path\"\npath = \"p\"\ncolour = \"red\"\n",
            "unknown field",
            7,
            1,
        ),
        (
            "schema = 1\nupdated_at = \"2026-01-01T00:00:00Z\"\n[modules.a]\nslug = \"b\"\nname = \"A\"\nsource = \"path\"\npath = \"p\"\n",
            "differs from the table name",
            4,
            8,
        ),
    ];
    for (text, words, line, column) in cases {
        let err = fails(
            &admin,
            "module.import_catalog",
            json!({"toml": text}),
            4000,
            "invalid_input",
        );
        assert_eq!(err["data"]["line"], *line, "{text}: {err}");
        assert_eq!(err["data"]["column"], *column, "{text}: {err}");
        let reason = str_of(&err["data"]["fields"]["toml"]);
        assert!(
            reason.starts_with(&format!("{line}:{column}: ")),
            "{reason}"
        );
        assert!(reason.contains(words), "{reason} should say {words}");
    }
    let listed = e.anon().ok("module.list", json!({}));
    assert_eq!(listed["items"], json!([]), "nothing imported");
}

#[test]
fn manifest_revisions_are_canonical_and_audited() {
    let e = start();
    let (admin, admin_user) = e.admin();
    import(&admin, CATALOG);
    let empty = admin.ok("manifest.get", json!({}));
    assert_eq!(empty["revision"], 0);
    assert_eq!(empty["modules"], json!([]));

    let r1 = admin.ok(
        "manifest.install",
        json!({"slug": "search-plus", "reason": "better search"}),
    );
    assert_eq!(r1["revision"], 1);
    let r2 = admin.ok(
        "manifest.install",
        json!({"slug": "invoices", "reason": "billing"}),
    );
    assert_eq!(r2["revision"], 2);
    assert_eq!(
        str_of(&r2["manifest"]),
        "# modules.toml: the installed modules\nschema = 1\n\n[modules.\"invoices\"]\nsource = \"git\"\ngit = \"https://example.com/invoices.git\"\nrev = \"4f2a9c1\"\n\n[modules.\"search-plus\"]\nsource = \"crates-io\"\ncrate = \"market-search-plus\"\nversion = \"1.2.0\"\n"
    );
    let hash = str_of(&r2["manifest_hash"]).to_string();
    assert_eq!(hash.len(), 64);
    assert_eq!(
        hash,
        market_core::modules::manifest_hash(str_of(&r2["manifest"]))
    );

    // The same set installed in the other order has the same hash.
    let e2 = start();
    let (admin2, _) = e2.admin();
    import(&admin2, CATALOG);
    admin2.ok(
        "manifest.install",
        json!({"slug": "invoices", "reason": "billing"}),
    );
    let other = admin2.ok(
        "manifest.install",
        json!({"slug": "search-plus", "reason": "search"}),
    );
    assert_eq!(str_of(&other["manifest_hash"]), hash);

    // A pinned version changes the hash; installing it again as it is fails.
    let pinned = admin.ok(
        "manifest.install",
        json!({"slug": "search-plus", "version": "1.1.0", "reason": "pin"}),
    );
    assert_ne!(str_of(&pinned["manifest_hash"]), hash);
    assert!(str_of(&pinned["manifest"]).contains("version = \"1.1.0\""));
    fails(
        &admin,
        "manifest.install",
        json!({"slug": "search-plus", "version": "1.1.0", "reason": "again"}),
        4220,
        "invalid_state",
    );
    fails_on_field(
        &admin,
        "manifest.install",
        json!({"slug": "search-plus", "version": "latest", "reason": "r"}),
        "version",
    );
    fails_on_field(
        &admin,
        "manifest.install",
        json!({"slug": "invoices", "version": "2.0.0", "reason": "r"}),
        "version",
    );
    // Incompatible with this server, unknown, or without a reason.
    let err = fails_on_field(
        &admin,
        "manifest.install",
        json!({"slug": "future", "reason": "try"}),
        "slug",
    );
    assert!(
        str_of(&err["data"]["fields"]["slug"]).contains("^9"),
        "{err}"
    );
    fails(
        &admin,
        "manifest.install",
        json!({"slug": "ghost", "reason": "r"}),
        4040,
        "not_found",
    );
    fails(
        &admin,
        "manifest.install",
        json!({"slug": "invoices", "reason": ""}),
        4000,
        "invalid_input",
    );

    let r4 = admin.ok(
        "manifest.uninstall",
        json!({"slug": "invoices", "reason": "not needed"}),
    );
    assert_eq!(r4["revision"], 4);
    assert_eq!(r4["modules"].as_array().map(Vec::len), Some(1));
    fails(
        &admin,
        "manifest.uninstall",
        json!({"slug": "invoices", "reason": "twice"}),
        4040,
        "not_found",
    );

    let current = admin.ok("manifest.get", json!({}));
    assert_eq!(current["revision"], 4);
    assert_eq!(current["manifest_hash"], r4["manifest_hash"]);
    let history = admin.ok("manifest.history", json!({}));
    let reasons: Vec<&str> = history["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|r| str_of(&r["reason"]))
        .collect();
    assert_eq!(
        reasons,
        vec!["not needed", "pin", "billing", "better search"]
    );
    assert_eq!(history["items"][0]["change"], "uninstall");
    assert_eq!(history["items"][0]["actor_id"], admin_user["id"]);

    let audit = admin.ok("admin.audit", json!({"object_id": r4["id"]}));
    assert_eq!(audit["items"][0]["method"], "manifest.uninstall");
    assert_eq!(audit["items"][0]["actor_id"], admin_user["id"]);
    let (user, _) = e.register("someone@example.com");
    fails(
        &user,
        "manifest.install",
        json!({"slug": "invoices", "reason": "mine"}),
        4030,
        "forbidden",
    );
    fails(&user, "manifest.get", json!({}), 4030, "forbidden");
}
