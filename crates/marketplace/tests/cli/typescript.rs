//! `marketplace schema typescript`: the client package of the built-in
//! schema, one typed entry per method of the OpenRPC document. (`make
//! test-ts-client` type-checks it and runs it against a live server.)

use super::bin;

#[test]
fn schema_typescript_writes_the_client_package() {
    let dir = tempfile::tempdir().unwrap();
    let out = bin()
        .args(["schema", "typescript", "--out"])
        .arg(dir.path().join("client"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let package: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("client/package.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(package["name"], "marketplace-client");
    let index = std::fs::read_to_string(dir.path().join("client/src/index.ts")).unwrap();
    let openrpc = bin().args(["schema", "openrpc"]).output().unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&openrpc.stdout).unwrap();
    let methods = doc["methods"].as_array().unwrap();
    assert!(methods.len() > 50, "{}", methods.len());
    for m in methods {
        let name = m["name"].as_str().unwrap();
        assert!(
            index.contains(&format!("  \"{name}\": {{ params: ")),
            "{name} is in the Methods map"
        );
        assert!(
            index.contains(&format!("this.call(\"{name}\", params, options)")),
            "{name} has a function"
        );
    }
    assert!(index.contains("  \"auth.login\": { params: AuthLoginParams; result: AuthResult };"));
    assert!(index.contains("export const Role = [\"customer\", "));
    assert!(index.contains("  insufficient_funds: 4020,\n"));

    // a folder that cannot be made is a clear error
    let file = dir.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    let out = bin()
        .args(["schema", "typescript", "--out"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot create"));
}
