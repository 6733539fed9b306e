//! `marketplace modules import FILE` and `marketplace export --out DIR`:
//! the module catalog from a file, and a static export of the worker,
//! model, module and product catalog for a site build. Both go through
//! the same transports as scripts: locally on the database, or remotely
//! over JSON-RPC.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use market_script::Transport;
use serde_json::{Map, Value, json};

use crate::script::{Target, connect};

/// The file that marks a folder as an export, so a later export may replace it.
const MARKER: &str = ".marketplace-export";
/// Items per page asked of the server.
const PAGE: u64 = 500;
/// Items between two progress lines.
const PROGRESS_EVERY: usize = 1000;

fn fail(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::FAILURE
}

/// `marketplace modules import FILE`.
pub fn modules_import(file: &Path, target: Target) -> ExitCode {
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) => return fail(format!("cannot read {}: {e}", file.display())),
    };
    let transport = match connect(target) {
        Ok(t) => t,
        Err(e) => return fail(e),
    };
    match transport.call("module.import_catalog", json!({ "toml": text })) {
        Ok(r) => {
            println!(
                "imported {} modules from {} ({} new, {} changed, {} unchanged)",
                r["slugs"].as_array().map_or(0, Vec::len),
                file.display(),
                r["created"],
                r["updated"],
                r["unchanged"]
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            // A catalog error names its line and column: show it as file:line:col.
            match e.data.as_ref().and_then(|d| d["fields"]["toml"].as_str()) {
                Some(reason) => eprintln!("{}:{reason}", file.display()),
                None => eprintln!("error: {}", e.message),
            }
            ExitCode::FAILURE
        }
    }
}

/// A JSON value with every object's keys in order, so equal data gives equal bytes.
fn sorted(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let ordered: BTreeMap<&String, Value> = m.iter().map(|(k, v)| (k, sorted(v))).collect();
            Value::Object(
                ordered
                    .into_iter()
                    .map(|(k, v)| (k.clone(), v))
                    .collect::<Map<_, _>>(),
            )
        }
        Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

fn json_text(v: &Value) -> String {
    let mut text = serde_json::to_string_pretty(&sorted(v)).unwrap_or_default();
    text.push('\n');
    text
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{}</title>\n</head>\n<body>\n{body}</body>\n</html>\n",
        escape(title)
    )
}

/// Every item of a paged method, oldest first.
fn all_pages(
    t: &Transport,
    method: &str,
    params: Value,
    done: &mut Progress,
) -> Result<Vec<Value>, String> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut p = params.clone();
        p["limit"] = json!(PAGE);
        if let Some(c) = &cursor {
            p["cursor"] = json!(c);
        }
        let r = t
            .call(method, p)
            .map_err(|e| format!("{method}: {}", e.message))?;
        let page = r["items"].as_array().cloned().unwrap_or_default();
        done.add(page.len());
        items.extend(page);
        match r["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    items.sort_by_key(key_of);
    Ok(items)
}

fn key_of(v: &Value) -> String {
    v["id"].as_str().unwrap_or_default().to_string()
}

struct Progress {
    read: usize,
    next_report: usize,
}

impl Progress {
    fn add(&mut self, n: usize) {
        self.read += n;
        if self.read >= self.next_report {
            eprintln!("export: {} items read", self.read);
            self.next_report = self.read + PROGRESS_EVERY;
        }
    }
}

struct Writer {
    root: PathBuf,
    files: usize,
}

impl Writer {
    fn put(&mut self, rel: &str, text: &str) -> Result<(), String> {
        let path = self.root.join(rel);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        self.files += 1;
        Ok(())
    }
}

/// Empty `out` for a new export: it must be missing, empty, or an earlier export.
fn prepare(out: &Path) -> Result<(), String> {
    if out.exists() {
        let mut entries =
            std::fs::read_dir(out).map_err(|e| format!("cannot read {}: {e}", out.display()))?;
        let empty = entries.next().is_none();
        if !empty && !out.join(MARKER).exists() {
            return Err(format!(
                "{} is not empty and holds no earlier export; choose another folder",
                out.display()
            ));
        }
        std::fs::remove_dir_all(out).map_err(|e| format!("cannot clear {}: {e}", out.display()))?;
    }
    std::fs::create_dir_all(out).map_err(|e| format!("cannot create {}: {e}", out.display()))
}

fn attributes_table(item: &Value) -> String {
    let mut rows = String::new();
    if let Some(attrs) = item["attributes"].as_object() {
        let ordered: BTreeMap<&String, &Value> =
            attrs.iter().filter(|(k, _)| *k != "pkgbuild").collect();
        for (k, v) in ordered {
            let _ = writeln!(
                rows,
                "<tr><th>{}</th><td>{}</td></tr>",
                escape(k),
                escape(v.as_str().unwrap_or_default())
            );
        }
    }
    if rows.is_empty() {
        String::new()
    } else {
        format!("<table>\n{rows}</table>\n")
    }
}

fn item_page(kind: &str, item: &Value, extra: &str) -> String {
    let name = item["name"].as_str().unwrap_or_default();
    let mut body = format!(
        "<p><a href=\"index.html\">All {kind}</a></p>\n<h1>{}</h1>\n<p>{}</p>\n",
        escape(name),
        escape(item["description"].as_str().unwrap_or_default())
    );
    if let Some(price) = item["price"].as_str() {
        let _ = writeln!(
            body,
            "<p>Price: {} TFC per {}</p>",
            escape(price),
            escape(item["pricing_unit"].as_str().unwrap_or_default())
        );
    }
    let tags: Vec<&str> = item["tags"]
        .as_array()
        .map(|t| t.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if !tags.is_empty() {
        let _ = writeln!(body, "<p>Tags: {}</p>", escape(&tags.join(", ")));
    }
    body.push_str(&attributes_table(item));
    body.push_str(extra);
    page(name, &body)
}

fn list_page(title: &str, items: &[Value]) -> String {
    let mut body = format!(
        "<p><a href=\"../index.html\">Catalog</a></p>\n<h1>{}</h1>\n<ul>\n",
        escape(title)
    );
    for item in items {
        let _ = writeln!(
            body,
            "<li><a href=\"{}.html\">{}</a></li>",
            escape(&key_of(item)),
            escape(item["name"].as_str().unwrap_or_default())
        );
    }
    body.push_str("</ul>\n");
    page(title, &body)
}

/// Write one section: `index.json`, `index.html`, and `<id>.json` +
/// `<id>.html` per item.
fn section(
    w: &mut Writer,
    dir: &str,
    title: &str,
    items: &[Value],
    extra: impl Fn(&Value) -> String,
) -> Result<(), String> {
    w.put(
        &format!("{dir}/index.json"),
        &json_text(&json!({ "items": items, "count": items.len() })),
    )?;
    w.put(&format!("{dir}/index.html"), &list_page(title, items))?;
    for item in items {
        let id = key_of(item);
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(format!("{dir}: an item has no usable id: {item}"));
        }
        w.put(&format!("{dir}/{id}.json"), &json_text(item))?;
        w.put(
            &format!("{dir}/{id}.html"),
            &item_page(dir, item, &extra(item)),
        )?;
    }
    Ok(())
}

fn export_into(t: &Transport, out: &Path) -> Result<(usize, usize), String> {
    let mut progress = Progress {
        read: 0,
        next_report: PROGRESS_EVERY,
    };
    let workers = all_pages(t, "catalog.workers", json!({}), &mut progress)?;
    let models = all_pages(t, "catalog.models", json!({}), &mut progress)?;
    let products: Vec<Value> = all_pages(t, "product.list", json!({}), &mut progress)?
        .into_iter()
        .filter(|p| p["status"] == "active")
        .collect();
    let mut modules = all_pages(t, "module.list", json!({}), &mut progress)?;
    modules.sort_by(|a, b| a["slug"].as_str().cmp(&b["slug"].as_str()));

    prepare(out)?;
    let mut w = Writer {
        root: out.to_path_buf(),
        files: 0,
    };
    section(&mut w, "workers", "Workers", &workers, |item| {
        if item["attributes"]["pkgbuild"].is_string() {
            format!(
                "<p><a href=\"{}/PKGBUILD\">PKGBUILD</a></p>\n",
                escape(&key_of(item))
            )
        } else {
            String::new()
        }
    })?;
    for worker in &workers {
        if let Some(text) = worker["attributes"]["pkgbuild"].as_str() {
            w.put(&format!("workers/{}/PKGBUILD", key_of(worker)), text)?;
        }
    }
    section(&mut w, "models", "Models", &models, |_| String::new())?;
    section(&mut w, "products", "Products", &products, |_| String::new())?;
    w.put(
        "modules/index.json",
        &json_text(&json!({ "items": modules, "count": modules.len() })),
    )?;
    for m in &modules {
        let slug = m["slug"].as_str().unwrap_or_default();
        if slug.is_empty() || slug.contains(['/', '.']) {
            return Err(format!("modules: a module has no usable slug: {m}"));
        }
        w.put(&format!("modules/{slug}.json"), &json_text(m))?;
    }
    let counts = json!({
        "workers": workers.len(),
        "models": models.len(),
        "products": products.len(),
        "modules": modules.len(),
    });
    w.put("index.json", &json_text(&counts))?;
    w.put(
        "index.html",
        &page(
            "Catalog",
            &format!(
                "<h1>Catalog</h1>\n<ul>\n<li><a href=\"workers/index.html\">Workers</a> ({})</li>\n<li><a href=\"models/index.html\">Models</a> ({})</li>\n<li><a href=\"products/index.html\">Products</a> ({})</li>\n</ul>\n",
                workers.len(),
                models.len(),
                products.len()
            ),
        ),
    )?;
    w.put(MARKER, "")?;
    Ok((progress.read, w.files))
}

/// `marketplace export --out DIR`.
pub fn export(out: &Path, target: Target) -> ExitCode {
    let transport = match connect(target) {
        Ok(t) => t,
        Err(e) => return fail(e),
    };
    match export_into(&transport, out) {
        Ok((items, files)) => {
            eprintln!(
                "export: {items} items read, {files} files written to {}",
                out.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}
