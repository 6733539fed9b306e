//! The TypeScript client package, generated from the OpenRPC document (so
//! its shapes are exactly the wire's: paged results, CRUD methods, hidden
//! secret fields, the idempotency key): every type and enum of
//! `components.schemas`, one params interface and one typed function per
//! method, the `Methods` map that types `call`, `notify` and `batch`, the
//! error kinds with their codes, and the runtime in `typescript/runtime.ts`
//! (HTTP transport, typed `RpcError`, batches, WebSocket subscriptions).

use std::collections::BTreeSet;
use std::fmt::Write;

use serde_json::Value;

use crate::names::camel;

const RUNTIME: &str = include_str!("typescript/runtime.ts");

/// Names the runtime defines: a schema type or namespace may not take them.
const RUNTIME_TYPES: &[&str] = &[
    "ERROR_KINDS",
    "ErrorKind",
    "STANDARD_ERRORS",
    "StandardErrorKind",
    "AnyErrorKind",
    "RpcError",
    "TransportError",
    "Page",
    "MethodName",
    "ParamsOf",
    "ResultOf",
    "Settled",
    "BatchCall",
    "request",
    "BatchResults",
    "CallOptions",
    "FetchLike",
    "ClientOptions",
    "RpcClient",
    "MarketEvent",
    "WebSocketLike",
    "SocketOptions",
    "Subscription",
    "RpcSocket",
    "Methods",
    "Client",
];
/// Members of `RpcClient`: a namespace may not take them.
const CLIENT_MEMBERS: &[&str] = &["url", "token", "setToken", "call", "notify", "batch"];

/// The files of the package, as (path in the package, text): `package.json`,
/// `tsconfig.json`, `README.md` and `src/index.ts`. Fails when a schema name
/// would clash with a name of the runtime.
pub fn generate(
    doc: &Value,
    error_code: fn(&str) -> Option<i32>,
) -> Result<Vec<(String, String)>, String> {
    let title = doc["info"]["title"].as_str().unwrap_or("api");
    let version = doc["info"]["version"].as_str().unwrap_or("0.0.0");
    let package = format!("{}-client", slug(title));
    let index = index_ts(doc, title, version, error_code)?;
    let package_json = serde_json::to_string_pretty(&serde_json::json!({
        "name": package,
        "version": version,
        "description": format!("Typed JSON-RPC client of the {title} API (generated)"),
        "type": "module",
        "main": "dist/index.js",
        "types": "dist/index.d.ts",
        "files": ["dist", "src"],
        "scripts": { "build": "tsc -p ." },
        "devDependencies": { "typescript": "^5.4.0" },
    }))
    .map_err(|e| e.to_string())?;
    let tsconfig = serde_json::to_string_pretty(&serde_json::json!({
        "compilerOptions": {
            "target": "ES2022",
            "module": "ES2022",
            "moduleResolution": "Bundler",
            "lib": ["ES2022"],
            "strict": true,
            "noUncheckedIndexedAccess": true,
            "exactOptionalPropertyTypes": false,
            "declaration": true,
            "rootDir": "src",
            "outDir": "dist",
        },
        "include": ["src"],
    }))
    .map_err(|e| e.to_string())?;
    let readme = format!(
        "# {package}\n\nTyped client of the {title} JSON-RPC API {version}, generated from its schema. Do not edit: regenerate.\n\n```ts\nimport {{ Client, RpcError, request }} from \"{package}\";\n\nconst api = new Client({{ url: \"http://127.0.0.1:8080/rpc\" }});\nconst me = await api.auth.login({{ email, password }});\napi.setToken(me.token);\nconst [a, b] = await api.batch([request(\"auth.me\", {{}}), request(\"wallet.get\", {{}})]);\ntry {{\n  await api.auth.login({{ email, password: \"wrong\" }});\n}} catch (e) {{\n  if (e instanceof RpcError && e.kind === \"unauthenticated\") {{ /* e.code === 4010 */ }}\n}}\n```\n\nEvents over a WebSocket: `const ws = await RpcSocket.open({{ url: \"ws://127.0.0.1:8080/rpc\", token }}); await ws.subscribe({{ types: [\"order.paid\"] }}, (event) => ...)`.\n\nBuild with `npm run build` (TypeScript 5).\n"
    );
    Ok(vec![
        ("package.json".into(), package_json + "\n"),
        ("tsconfig.json".into(), tsconfig + "\n"),
        ("README.md".into(), readme),
        ("src/index.ts".into(), index),
    ])
}

/// `Gadgets API` → `gadgets-api`.
fn slug(title: &str) -> String {
    let mut out = String::new();
    for c in title.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_string()
}

fn index_ts(
    doc: &Value,
    title: &str,
    version: &str,
    error_code: fn(&str) -> Option<i32>,
) -> Result<String, String> {
    let empty = serde_json::Map::new();
    let schemas = doc["components"]["schemas"].as_object().unwrap_or(&empty);
    let no_methods = Vec::new();
    let methods = doc["methods"].as_array().unwrap_or(&no_methods);
    let reserved: BTreeSet<&str> = RUNTIME_TYPES.iter().copied().collect();
    let mut taken: BTreeSet<String> = BTreeSet::new();
    for name in schemas.keys() {
        if reserved.contains(name.as_str()) {
            return Err(format!(
                "the schema type {name} clashes with a name of the TypeScript runtime"
            ));
        }
        taken.insert(name.clone());
    }

    let mut out = format!(
        "// @generated from the OpenRPC document of {title} {version} by `marketplace schema typescript`. Do not edit.\n/* eslint-disable */\n\n"
    );
    out.push_str("/** Application error kinds and their JSON-RPC error codes. */\nexport const ERROR_KINDS = {\n");
    for kind in oschema::ErrorKind::ALL {
        let code = error_code(kind.name())
            .ok_or_else(|| format!("no wire code for the error kind '{}'", kind.name()))?;
        let _ = writeln!(out, "  {}: {code},", kind.name());
    }
    out.push_str("} as const;\n\n/** The kind of an application error (`error.data.kind`). */\nexport type ErrorKind = keyof typeof ERROR_KINDS;\n\n");
    out.push_str(RUNTIME);

    out.push_str("\n// ---------------------------------------------------------------------------\n// Types\n// ---------------------------------------------------------------------------\n\n");
    for (name, schema) in schemas {
        type_decl(&mut out, name, schema);
    }

    out.push_str("// ---------------------------------------------------------------------------\n// Methods\n// ---------------------------------------------------------------------------\n\n");
    let mut namespaces: Vec<(String, Vec<ClientMethod>)> = Vec::new();
    let mut map = String::from(
        "/** Every method: its params (by name) and its result. */\nexport interface Methods {\n",
    );
    for m in methods {
        let Some(full) = m["name"].as_str() else {
            continue;
        };
        let Some((ns, method)) = full.split_once('.') else {
            continue;
        };
        let params_name = format!("{}{}Params", camel(ns), camel(method));
        if !taken.insert(params_name.clone()) || reserved.contains(params_name.as_str()) {
            return Err(format!(
                "the params type {params_name} of {full} clashes with another name"
            ));
        }
        let params = m["params"].as_array().cloned().unwrap_or_default();
        let all_optional = params.iter().all(|p| p["required"] != Value::Bool(true));
        let summary = m["summary"].as_str().map(str::to_string);
        let _ = writeln!(out, "/** Params of `{full}`. */");
        if params.is_empty() {
            let _ = writeln!(out, "export type {params_name} = Record<string, never>;\n");
        } else {
            let _ = writeln!(out, "export interface {params_name} {{");
            for p in &params {
                let pname = p["name"].as_str().unwrap_or_default();
                doc_comment(&mut out, "  ", p["description"].as_str());
                let optional = if p["required"] == Value::Bool(true) {
                    ""
                } else {
                    "?"
                };
                let _ = writeln!(
                    out,
                    "  {}{optional}: {};",
                    prop_name(pname),
                    ts_type(&p["schema"], "  ")
                );
            }
            out.push_str("}\n\n");
        }
        let result = ts_type(&m["result"]["schema"], "  ");
        let _ = writeln!(
            map,
            "  {}: {{ params: {params_name}; result: {result} }};",
            quote(full)
        );
        let entry = ClientMethod {
            method: method.to_string(),
            params_name,
            full: full.to_string(),
            all_optional,
            doc: method_doc(m, summary),
        };
        match namespaces.iter_mut().find(|(n, _)| n == ns) {
            Some((_, list)) => list.push(entry),
            None => namespaces.push((ns.to_string(), vec![entry])),
        }
    }
    map.push_str("}\n\n");
    out.push_str(&map);

    out.push_str("/** The API: one typed function per method, grouped by namespace\n * (`client.product.get({ id })`), on top of {@link RpcClient}'s `call`,\n * `notify` and `batch`. */\nexport class Client extends RpcClient {\n");
    for (ns, list) in &namespaces {
        if CLIENT_MEMBERS.contains(&ns.as_str()) {
            return Err(format!(
                "the namespace {ns} clashes with a member of the client"
            ));
        }
        let _ = writeln!(out, "  readonly {} = {{", prop_name(ns));
        for m in list {
            doc_comment(&mut out, "    ", m.doc.as_deref());
            let default = if m.all_optional { " = {}" } else { "" };
            let _ = writeln!(
                out,
                "    {}: (params: {}{default}, options?: CallOptions): Promise<ResultOf<{}>> =>\n      this.call({}, params, options),",
                prop_name(&m.method),
                m.params_name,
                quote(&m.full),
                quote(&m.full)
            );
        }
        out.push_str("  };\n");
    }
    out.push_str("}\n");
    Ok(out)
}

/// One function of the client class.
struct ClientMethod {
    /// `get` of `product.get`.
    method: String,
    params_name: String,
    /// `product.get`.
    full: String,
    /// Whether every param may be left out (the params default to `{}`).
    all_optional: bool,
    doc: Option<String>,
}

/// The doc of a method: its summary, then its access and error kinds.
fn method_doc(m: &Value, summary: Option<String>) -> Option<String> {
    let mut lines = Vec::new();
    if let Some(s) = summary {
        lines.push(s);
    }
    if let Some(level) = m["x-access"]["level"].as_str() {
        let roles: Vec<&str> = m["x-access"]["roles"]
            .as_array()
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        lines.push(if roles.is_empty() || level == "admin" {
            format!("Access: {level}.")
        } else {
            format!("Access: {level} ({}).", roles.join(", "))
        });
    }
    let kinds: BTreeSet<&str> = m["errors"]
        .as_array()
        .map(|e| {
            e.iter()
                .filter_map(|e| e["data"]["kind"].as_str())
                .collect()
        })
        .unwrap_or_default();
    if !kinds.is_empty() {
        lines.push(format!(
            "Errors: {}.",
            kinds.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    (!lines.is_empty()).then(|| lines.join("\n"))
}

fn type_decl(out: &mut String, name: &str, schema: &Value) {
    doc_comment(out, "", schema["description"].as_str());
    if let Some(variants) = schema["enum"].as_array() {
        let values: Vec<String> = variants.iter().map(|v| v.to_string()).collect();
        let _ = writeln!(
            out,
            "export const {name} = [{}] as const;",
            values.join(", ")
        );
        let _ = writeln!(out, "export type {name} = (typeof {name})[number];\n");
        return;
    }
    if schema["type"] == "object" && schema["properties"].is_object() {
        let _ = writeln!(out, "export interface {name} {}\n", object_body(schema, ""));
        return;
    }
    let _ = writeln!(out, "export type {name} = {};\n", ts_type(schema, ""));
}

/// `{ ... }` of an object schema with properties, indented under `indent`.
fn object_body(schema: &Value, indent: &str) -> String {
    let required: BTreeSet<&str> = schema["required"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let inner = format!("{indent}  ");
    let mut out = String::from("{\n");
    if let Some(props) = schema["properties"].as_object() {
        for (name, p) in props {
            doc_comment(&mut out, &inner, p["description"].as_str());
            let readonly = if p["readOnly"] == Value::Bool(true) {
                "readonly "
            } else {
                ""
            };
            let optional = if required.contains(name.as_str()) {
                ""
            } else {
                "?"
            };
            let _ = writeln!(
                out,
                "{inner}{readonly}{}{optional}: {};",
                prop_name(name),
                ts_type(p, &inner)
            );
        }
    }
    out.push_str(indent);
    out.push('}');
    out
}

/// The TypeScript type of a JSON Schema.
fn ts_type(schema: &Value, indent: &str) -> String {
    if let Some(r) = schema["$ref"].as_str() {
        return r.rsplit('/').next().unwrap_or("unknown").to_string();
    }
    if let Some(values) = schema["enum"].as_array() {
        return values
            .iter()
            .map(Value::to_string)
            .collect::<Vec<_>>()
            .join(" | ");
    }
    if let Some(c) = schema.get("const") {
        return c.to_string();
    }
    match &schema["type"] {
        Value::Array(types) => types
            .iter()
            .map(|t| {
                let mut one = schema.clone();
                one["type"] = t.clone();
                ts_type(&one, indent)
            })
            .collect::<Vec<_>>()
            .join(" | "),
        Value::String(t) => match t.as_str() {
            "string" => "string".into(),
            "integer" | "number" => "number".into(),
            "boolean" => "boolean".into(),
            "null" => "null".into(),
            "array" => {
                let item = ts_type(&schema["items"], indent);
                if item.contains(' ') {
                    format!("Array<{item}>")
                } else {
                    format!("{item}[]")
                }
            }
            "object" => {
                if let Some(item) = page_item(schema) {
                    return format!("Page<{}>", ts_type(item, indent));
                }
                if schema["properties"].is_object() {
                    return object_body(schema, indent);
                }
                match &schema["additionalProperties"] {
                    Value::Object(v) => format!(
                        "Record<string, {}>",
                        ts_type(&Value::Object(v.clone()), indent)
                    ),
                    _ => "Record<string, unknown>".into(),
                }
            }
            _ => "unknown".into(),
        },
        _ => "unknown".into(),
    }
}

/// The item schema of a page (`{items: [T], next_cursor: string|null}`).
fn page_item(schema: &Value) -> Option<&Value> {
    let props = schema["properties"].as_object()?;
    let keys: BTreeSet<&str> = props.keys().map(String::as_str).collect();
    (keys == BTreeSet::from(["items", "next_cursor"]) && props["items"]["type"] == "array")
        .then(|| &props["items"]["items"])
}

fn doc_comment(out: &mut String, indent: &str, doc: Option<&str>) {
    let Some(doc) = doc.map(str::trim).filter(|d| !d.is_empty()) else {
        return;
    };
    let doc = doc.replace("*/", "*\\/");
    let lines: Vec<&str> = doc.lines().collect();
    if lines.len() == 1 {
        let _ = writeln!(out, "{indent}/** {} */", lines[0]);
    } else {
        let _ = writeln!(out, "{indent}/**");
        for l in lines {
            let _ = writeln!(out, "{indent} * {l}");
        }
        let _ = writeln!(out, "{indent} */");
    }
}

/// A property name, quoted unless it is an identifier.
fn prop_name(name: &str) -> String {
    let ident = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '$')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$');
    if ident { name.to_string() } else { quote(name) }
}

fn quote(s: &str) -> String {
    Value::String(s.to_string()).to_string()
}
