//! The human-readable API reference, rendered from the OpenRPC document so
//! the two can never disagree.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde_json::Value;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A short type name for a JSON Schema.
fn type_name(s: &Value) -> String {
    if let Some(r) = s.get("$ref").and_then(Value::as_str) {
        let name = r.rsplit('/').next().unwrap_or(r);
        return format!("<a href=\"#type-{0}\">{0}</a>", esc(name));
    }
    if let Some(items) = s.get("items") {
        return format!("[{}]", type_name(items));
    }
    if let Some(v) = s.get("additionalProperties") {
        return format!("{{str: {}}}", type_name(v));
    }
    if s.get("properties")
        .and_then(|p| p.get("next_cursor"))
        .is_some()
        && let Some(items) = s
            .get("properties")
            .and_then(|p| p.get("items"))
            .and_then(|i| i.get("items"))
    {
        return format!("page of {}", type_name(items));
    }
    match (
        s.get("type"),
        s.get("format"),
        s.get("description").and_then(Value::as_str),
    ) {
        (_, Some(f), _) => esc(f.as_str().unwrap_or_default()),
        (_, _, Some("decimal amount as a string")) => "decimal".into(),
        (_, _, Some("ULID")) => "ulid".into(),
        (Some(Value::String(t)), _, _) => esc(t),
        (Some(Value::Array(ts)), _, _) => ts
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(" | "),
        _ => "any".into(),
    }
}

fn access_text(a: &Value) -> String {
    let level = a.get("level").and_then(Value::as_str).unwrap_or("admin");
    match level {
        "role" => {
            let roles: Vec<&str> = a
                .get("roles")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            format!("roles: {}", roles.join(", "))
        }
        "owner_or_admin" => "owner or admin".into(),
        other => other.into(),
    }
}

/// The HTML page for an OpenRPC document.
pub fn generate(doc: &Value) -> String {
    let title = doc
        .pointer("/info/title")
        .and_then(Value::as_str)
        .unwrap_or("API");
    let version = doc
        .pointer("/info/version")
        .and_then(Value::as_str)
        .unwrap_or("");
    let description = doc
        .pointer("/info/description")
        .and_then(Value::as_str)
        .unwrap_or("");
    let mut groups: BTreeMap<&str, Vec<&Value>> = BTreeMap::new();
    for m in doc
        .get("methods")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let ns = m
            .get("name")
            .and_then(Value::as_str)
            .and_then(|n| n.split('.').next())
            .unwrap_or("other");
        groups.entry(ns).or_default().push(m);
    }
    let mut out = String::new();
    let _ = write!(
        out,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t} API reference</title>\n<style>\
body{{font-family:system-ui,sans-serif;margin:0;display:flex;color:#1d1d1f}}nav{{width:16rem;padding:1rem;background:#f5f5f7;height:100vh;overflow:auto;position:sticky;top:0}}\
main{{padding:1rem 2rem;max-width:60rem}}code,pre{{background:#f0f0f3;border-radius:4px;padding:0 .25rem}}pre{{padding:.5rem;overflow:auto}}\
table{{border-collapse:collapse;margin:.5rem 0}}td,th{{border:1px solid #ddd;padding:.25rem .5rem;text-align:left;vertical-align:top}}\
.access{{font-size:.85em;background:#e8f0fe;border-radius:4px;padding:.1rem .4rem}}h3{{margin-top:2rem}}nav a{{display:block;text-decoration:none}}\
</style></head><body>\n<nav><strong>{t}</strong> {v}<br><a href=\"/openrpc.json\">openrpc.json</a>\n",
        t = esc(title),
        v = esc(version)
    );
    for (ns, methods) in &groups {
        let _ = writeln!(out, "<p><strong>{}</strong></p>", esc(ns));
        for m in methods {
            let name = m.get("name").and_then(Value::as_str).unwrap_or_default();
            let _ = writeln!(out, "<a href=\"#m-{0}\">{0}</a>", esc(name));
        }
    }
    let _ = write!(
        out,
        "<p><strong><a href=\"#types\">types</a></strong></p></nav>\n<main><h1>{} API reference</h1><p>{}</p>\n",
        esc(title),
        esc(description)
    );
    out.push_str("<p>JSON-RPC 2.0 over <code>POST /rpc</code>, params by name. Authenticate with <code>Authorization: Bearer &lt;token&gt;</code>.</p>\n");
    for (ns, methods) in &groups {
        let _ = writeln!(out, "<h2>{}</h2>", esc(ns));
        for m in methods {
            method_html(&mut out, m);
        }
    }
    out.push_str("<h2 id=\"types\">Types</h2>\n");
    if let Some(schemas) = doc
        .pointer("/components/schemas")
        .and_then(Value::as_object)
    {
        for (name, s) in schemas {
            type_html(&mut out, name, s);
        }
    }
    out.push_str("</main></body></html>\n");
    out
}

fn method_html(out: &mut String, m: &Value) {
    let name = m.get("name").and_then(Value::as_str).unwrap_or_default();
    let _ = writeln!(
        out,
        "<h3 id=\"m-{0}\">{0} <span class=\"access\">{1}</span></h3>",
        esc(name),
        esc(&access_text(m.get("x-access").unwrap_or(&Value::Null)))
    );
    if let Some(d) = m
        .get("description")
        .or(m.get("summary"))
        .and_then(Value::as_str)
    {
        let _ = writeln!(out, "<p>{}</p>", esc(d));
    }
    let params = m
        .get("params")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if !params.is_empty() {
        out.push_str(
            "<table><tr><th>param</th><th>type</th><th>required</th><th>description</th></tr>\n",
        );
        for p in &params {
            let _ = writeln!(
                out,
                "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(p.get("name").and_then(Value::as_str).unwrap_or_default()),
                type_name(p.get("schema").unwrap_or(&Value::Null)),
                if p.get("required").and_then(Value::as_bool).unwrap_or(false) {
                    "yes"
                } else {
                    "no"
                },
                esc(p
                    .get("description")
                    .and_then(Value::as_str)
                    .unwrap_or_default())
            );
        }
        out.push_str("</table>\n");
    }
    let _ = writeln!(
        out,
        "<p>Returns {}.</p>",
        type_name(m.pointer("/result/schema").unwrap_or(&Value::Null))
    );
    let errors: Vec<String> = m
        .get("errors")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|e| {
            format!(
                "<code>{}</code> {}",
                e.get("code").map(Value::to_string).unwrap_or_default(),
                esc(e.get("message").and_then(Value::as_str).unwrap_or_default())
            )
        })
        .collect();
    if !errors.is_empty() {
        let _ = writeln!(out, "<p>Errors: {}</p>", errors.join(", "));
    }
    if let Some(ex) = m.pointer("/examples/0") {
        let params: serde_json::Map<String, Value> = ex
            .get("params")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|p| {
                Some((
                    p.get("name")?.as_str()?.to_string(),
                    p.get("value")?.clone(),
                ))
            })
            .collect();
        let req =
            serde_json::json!({ "jsonrpc": "2.0", "id": 1, "method": name, "params": params });
        let _ = writeln!(
            out,
            "<pre>{}</pre>",
            esc(&serde_json::to_string_pretty(&req).unwrap_or_default())
        );
    }
}

fn type_html(out: &mut String, name: &str, s: &Value) {
    let _ = writeln!(out, "<h3 id=\"type-{0}\">{0}</h3>", esc(name));
    if let Some(d) = s.get("description").and_then(Value::as_str) {
        let _ = writeln!(out, "<p>{}</p>", esc(d));
    }
    if let Some(variants) = s.get("enum").and_then(Value::as_array) {
        let v: Vec<String> = variants
            .iter()
            .map(|v| format!("<code>{}</code>", esc(v.as_str().unwrap_or_default())))
            .collect();
        let _ = writeln!(out, "<p>One of {}.</p>", v.join(" | "));
        return;
    }
    let required: Vec<&str> = s
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if let Some(props) = s.get("properties").and_then(Value::as_object) {
        out.push_str("<table><tr><th>field</th><th>type</th><th></th><th>description</th></tr>\n");
        for (f, fs) in props {
            let mut flags = Vec::new();
            if !required.contains(&f.as_str()) {
                flags.push("optional");
            }
            if fs.get("readOnly").and_then(Value::as_bool).unwrap_or(false) {
                flags.push("server-set");
            }
            let _ = writeln!(
                out,
                "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(f),
                type_name(fs),
                flags.join(", "),
                esc(fs
                    .get("description")
                    .and_then(Value::as_str)
                    .unwrap_or_default())
            );
        }
        out.push_str("</table>\n");
    }
}
