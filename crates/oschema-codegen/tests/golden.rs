//! Golden tests: the generated outputs of each fixture schema are checked in
//! under `tests/golden/` (refresh with `UPDATE_EXPECT=1 cargo test -p oschema-codegen`).
//! The Rust output of `gadgets` is compiled and exercised by the
//! `codegen-fixture` crate, its Rhai output by `market-script`'s tests.

// Tests fail by panicking: unwrap, expect and panic are how they assert.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use expect_test::expect_file;

fn schema(name: &str) -> oschema::Schema {
    let path = format!(
        "{}/tests/fixtures/{name}.oschema",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap();
    let checked = oschema::check(&[oschema::Source {
        name: format!("{name}.oschema"),
        text,
    }]);
    let errors: Vec<String> = checked
        .diagnostics
        .iter()
        .map(ToString::to_string)
        .collect();
    checked
        .schema
        .unwrap_or_else(|| panic!("fixture has errors: {errors:#?}"))
}

fn info() -> oschema_codegen::Info {
    oschema_codegen::Info {
        title: "Gadgets".into(),
        version: "1.0.0".into(),
        description: "Fixture".into(),
        error_code: market_rpc::error_code,
    }
}

#[test]
fn gadgets_rust() {
    expect_file!["golden/gadgets.rs"].assert_eq(&oschema_codegen::rust(&schema("gadgets")));
}

#[test]
fn gadgets_rhai() {
    expect_file!["golden/gadgets.rhai.rs"].assert_eq(&oschema_codegen::rhai(&schema("gadgets")));
}

#[test]
fn gadgets_openrpc() {
    let doc = oschema_codegen::openrpc(&schema("gadgets"), &info());
    expect_file!["golden/gadgets.openrpc.json"]
        .assert_eq(&serde_json::to_string_pretty(&doc).unwrap());
}

#[test]
fn gadgets_html() {
    let doc = oschema_codegen::openrpc(&schema("gadgets"), &info());
    expect_file!["golden/gadgets.html"].assert_eq(&oschema_codegen::html(&doc));
}

#[test]
fn gadgets_typescript() {
    let doc = oschema_codegen::openrpc(&schema("gadgets"), &info());
    let files = oschema_codegen::typescript(&doc, market_rpc::error_code).unwrap();
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["package.json", "tsconfig.json", "README.md", "src/index.ts"]
    );
    let package: serde_json::Value = serde_json::from_str(&files[0].1).unwrap();
    assert_eq!(package["name"], "gadgets-client");
    assert_eq!(package["version"], "1.0.0");
    expect_file!["golden/gadgets.ts"].assert_eq(&files[3].1);
}

#[test]
fn typescript_refuses_a_type_named_like_the_runtime() {
    let mut doc = oschema_codegen::openrpc(&schema("gadgets"), &info());
    doc["components"]["schemas"]["RpcError"] = serde_json::json!({"type": "string"});
    let e = oschema_codegen::typescript(&doc, market_rpc::error_code).unwrap_err();
    assert!(e.contains("RpcError"), "{e}");
}

#[test]
fn hero_schema_generates() {
    let dir = format!(
        "{}/../oschema/tests/fixtures/hero",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let sources: Vec<oschema::Source> = files
        .iter()
        .map(|p| oschema::Source {
            name: p.display().to_string(),
            text: std::fs::read_to_string(p).unwrap(),
        })
        .collect();
    let schema = oschema::check(&sources)
        .schema
        .expect("hero fixture checks");
    let rust = oschema_codegen::rust(&schema);
    expect_file!["golden/hero.rs"].assert_eq(&rust);
    let doc = oschema_codegen::openrpc(&schema, &info());
    let methods = doc["methods"].as_array().expect("methods");
    let method = |name: &str| {
        methods
            .iter()
            .find(|m| m["name"] == name)
            .unwrap_or_else(|| panic!("no {name}"))
    };
    // errors named without a declared kind answer as invalid_input, by name
    let errors = &method("accountmanager.change_password")["errors"];
    for name in ["InvalidCredentials", "WeakPassword", "PasswordReused"] {
        assert!(
            errors
                .as_array()
                .is_some_and(|e| e.contains(&serde_json::json!({
                    "code": 4000,
                    "message": name,
                    "data": {"kind": "invalid_input", "error": name},
                }))),
            "{errors}"
        );
    }
    // declared error types keep their kind
    let errors = &method("order.checkout")["errors"];
    assert!(
        errors.as_array().is_some_and(|e| e
            .iter()
            .any(|e| e["code"] == 4020 && e["data"]["kind"] == "insufficient_funds")),
        "{errors}"
    );
}

#[test]
fn every_error_kind_of_the_schema_language_has_a_wire_code() {
    let mut codes: Vec<i32> = oschema::ErrorKind::ALL
        .iter()
        .map(|k| {
            market_rpc::error_code(k.name())
                .unwrap_or_else(|| panic!("no wire code for '{}'", k.name()))
        })
        .collect();
    assert_eq!(codes.len(), market_rpc::ErrorKind::ALL.len());
    codes.sort_unstable();
    codes.dedup();
    assert_eq!(
        codes.len(),
        oschema::ErrorKind::ALL.len(),
        "codes are distinct"
    );
}
