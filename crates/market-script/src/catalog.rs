//! What scripts can call, read from the OpenRPC document: the methods by
//! namespace with their params, and the schema types. One source for the
//! per-namespace Rhai modules, `help` and REPL completion, so a method added
//! to the schema needs no hand-written binding.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde_json::{Map, Value};

/// The script API beside the RPC methods: signature and what it does.
pub const HELPERS: &[(&str, &str)] = &[
    (
        "call(method, params)",
        "call any method by name, e.g. call(\"wallet.get\", #{}); params may be left out",
    ),
    (
        "ns::method(params)",
        "the same through the namespace's module, e.g. wallet::transfer(#{to_email: e, amount: \"5\"})",
    ),
    (
        "as_user(email)",
        "act as this user from now on (local transport only)",
    ),
    (
        "login(email, password)",
        "sign in and act as that user from now on; returns the user",
    ),
    (
        "as_operator()",
        "act as the identity the script started with again",
    ),
    (
        "batch(|| { ... })",
        "run the closure's calls in one transaction (local transport): all kept, or none if one fails",
    ),
    (
        "whoami()",
        "#{transport, kind, ...}: who calls (system, anonymous, or the user)",
    ),
    (
        "arg(name) / arg(name, default)",
        "a --set value; without a default, a missing value stops the script",
    ),
    ("env(name)", "an environment variable, or () when unset"),
    (
        "progress(current, total, message)",
        "show progress of a long run (a bar when stdout is a terminal)",
    ),
    (
        "write_json(path, value)",
        "write a new JSON file under the output folder (no absolute paths, no '..')",
    ),
    (
        "has_method(name)",
        "whether the connected API has this method",
    ),
    (
        "to_json(value)",
        "JSON text of any value (maps, arrays, schema types)",
    ),
    (
        "help() / help(topic)",
        "this overview, a namespace, a method or a type",
    ),
];

/// One param of a method.
#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    pub name: String,
    pub required: bool,
    /// The type as a reader says it: `string`, `decimal`, `[Role]`, ...
    pub ty: String,
    pub description: String,
}

/// One RPC method.
#[derive(Debug, Clone, PartialEq)]
pub struct Method {
    /// `wallet.transfer`
    pub name: String,
    /// `wallet`
    pub namespace: String,
    /// `transfer`
    pub function: String,
    pub summary: String,
    pub params: Vec<Param>,
    pub result: String,
    /// The `x-access` level (`public`, `user`, `role`, ...), with roles.
    pub access: String,
}

/// Every method and type of an API.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    methods: BTreeMap<String, Method>,
    schemas: Map<String, Value>,
}

impl Catalog {
    /// Read an OpenRPC document; what it lacks is simply absent.
    pub fn from_openrpc(doc: &Value) -> Catalog {
        let mut methods = BTreeMap::new();
        for m in doc["methods"].as_array().into_iter().flatten() {
            let Some(name) = m["name"].as_str() else {
                continue;
            };
            let Some((namespace, function)) = name.split_once('.') else {
                continue;
            };
            let params = m["params"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| Param {
                    name: text(&p["name"]),
                    required: p["required"].as_bool().unwrap_or(false),
                    ty: type_name(&p["schema"]),
                    description: first_line(
                        p["description"]
                            .as_str()
                            .or_else(|| p["schema"]["description"].as_str())
                            .unwrap_or_default(),
                    ),
                })
                .collect();
            let access = &m["x-access"];
            let roles: Vec<&str> = access["roles"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let level = access["level"].as_str().unwrap_or("public");
            let access = if level == "role" {
                format!("role: {}", roles.join(" | "))
            } else {
                level.to_string()
            };
            methods.insert(
                name.to_string(),
                Method {
                    name: name.to_string(),
                    namespace: namespace.to_string(),
                    function: function.to_string(),
                    summary: first_line(
                        m["summary"]
                            .as_str()
                            .or_else(|| m["description"].as_str())
                            .unwrap_or_default(),
                    ),
                    params,
                    result: type_name(&m["result"]["schema"]),
                    access,
                },
            );
        }
        let schemas = doc["components"]["schemas"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        Catalog { methods, schemas }
    }

    pub fn method(&self, name: &str) -> Option<&Method> {
        self.methods.get(name)
    }

    pub fn methods(&self) -> impl Iterator<Item = &Method> {
        self.methods.values()
    }

    /// Namespaces, sorted.
    pub fn namespaces(&self) -> Vec<&str> {
        let mut out: Vec<&str> = self
            .methods
            .values()
            .map(|m| m.namespace.as_str())
            .collect();
        out.dedup();
        out
    }

    pub fn methods_of<'a>(&'a self, namespace: &'a str) -> impl Iterator<Item = &'a Method> + 'a {
        self.methods
            .values()
            .filter(move |m| m.namespace == namespace)
    }

    /// Names of the object types (schema structs), sorted.
    pub fn type_names(&self) -> Vec<&str> {
        self.schemas
            .iter()
            .filter(|(_, s)| s["type"] == "object")
            .map(|(n, _)| n.as_str())
            .collect()
    }

    /// The help text: an overview without a topic; else a namespace
    /// (`wallet`), a method (`wallet.transfer` or `wallet::transfer`), a
    /// type (`Product`) or a helper (`login`).
    pub fn help(&self, topic: Option<&str>) -> String {
        let Some(topic) = topic.map(str::trim).filter(|t| !t.is_empty()) else {
            return self.overview();
        };
        let topic = topic
            .trim_matches(|c| c == '"' || c == '\'')
            .trim_end_matches("()");
        let as_method = topic.replacen("::", ".", 1);
        if let Some(m) = self.methods.get(&as_method) {
            return method_help(m);
        }
        if self.methods.values().any(|m| m.namespace == topic) {
            let mut out = format!("namespace {topic}: call as {topic}::method(#{{...}})\n");
            for m in self.methods_of(topic) {
                let _ = writeln!(out, "  {:<28} {}", m.function, m.summary);
            }
            out.push_str("help(\"ns.method\") shows a method's params\n");
            return out;
        }
        if let Some(schema) = self.schemas.get(topic) {
            return type_help(topic, schema);
        }
        let helpers: Vec<String> = HELPERS
            .iter()
            .filter(|(sig, _)| sig.split(" / ").any(|s| s.split('(').next() == Some(topic)))
            .map(|(sig, what)| format!("{sig}\n  {what}\n"))
            .collect();
        if !helpers.is_empty() {
            return helpers.concat();
        }
        format!("no method, namespace, type or helper named '{topic}'; help() lists them\n")
    }

    fn overview(&self) -> String {
        let mut out = String::from(
            "Namespaces (call as ns::method(#{...}) or call(\"ns.method\", #{...})):\n",
        );
        for ns in self.namespaces() {
            let names: Vec<&str> = self.methods_of(ns).map(|m| m.function.as_str()).collect();
            let _ = writeln!(out, "  {ns:<12} {}", names.join(", "));
        }
        out.push_str("\nHelpers:\n");
        for (sig, what) in HELPERS {
            let _ = writeln!(out, "  {sig:<36} {what}");
        }
        let types = self.type_names();
        if !types.is_empty() {
            let _ = writeln!(
                out,
                "\nTypes (Type(), Type(#{{...}}); .validate() .json() .to_toml() .to_map()):\n  {}",
                wrap(&types.join(", "), 76, "  ")
            );
        }
        out.push_str(
            "\nhelp(\"wallet\"), help(\"wallet.transfer\"), help(\"Product\") for details\n",
        );
        out
    }
}

fn method_help(m: &Method) -> String {
    let mut out = String::new();
    let args: Vec<String> = m
        .params
        .iter()
        .map(|p| {
            if p.required {
                p.name.clone()
            } else {
                format!("{}?", p.name)
            }
        })
        .collect();
    let args = if args.is_empty() {
        String::new()
    } else {
        format!("#{{{}}}", args.join(", "))
    };
    let _ = writeln!(
        out,
        "{}::{}({args}) -> {}",
        m.namespace, m.function, m.result
    );
    if !m.summary.is_empty() {
        let _ = writeln!(out, "  {}", m.summary);
    }
    let _ = writeln!(out, "  access: {}", m.access);
    if !m.params.is_empty() {
        out.push_str("  params:\n");
        for p in &m.params {
            let need = if p.required { "required" } else { "optional" };
            let _ = write!(out, "    {:<18} {:<24} {need}", p.name, p.ty);
            if !p.description.is_empty() {
                let _ = write!(out, "  {}", p.description);
            }
            out.push('\n');
        }
    }
    out
}

fn type_help(name: &str, schema: &Value) -> String {
    let mut out = String::new();
    if let Some(values) = schema["enum"].as_array() {
        let values: Vec<String> = values.iter().map(|v| v.to_string()).collect();
        let _ = writeln!(out, "{name}: a string, one of {}", values.join(" | "));
        return out;
    }
    let _ = writeln!(
        out,
        "{name}: {}",
        first_line(schema["description"].as_str().unwrap_or_default())
    );
    let required: Vec<&str> = schema["required"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    for (field, s) in schema["properties"].as_object().into_iter().flatten() {
        let opt = if required.contains(&field.as_str()) {
            ""
        } else {
            "?"
        };
        let server = if s["readOnly"] == true {
            " (server-set)"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "  {:<22} {:<22} {}{server}",
            format!("{field}{opt}"),
            type_name(s),
            first_line(s["description"].as_str().unwrap_or_default())
        );
    }
    out
}

/// A JSON schema as a reader says its type.
pub fn type_name(s: &Value) -> String {
    if let Some(r) = s["$ref"].as_str() {
        return r.rsplit('/').next().unwrap_or(r).to_string();
    }
    if let Some(values) = s["enum"].as_array() {
        let values: Vec<String> = values.iter().map(|v| v.to_string()).collect();
        return values.join("|");
    }
    let ty = match &s["type"] {
        Value::String(t) => t.as_str(),
        Value::Array(ts) => {
            let inner: Vec<&str> = ts
                .iter()
                .filter_map(Value::as_str)
                .filter(|t| *t != "null")
                .collect();
            return match inner.as_slice() {
                [one] => format!("{one}?"),
                _ => "any".into(),
            };
        }
        _ => return "any".into(),
    };
    match ty {
        "string" => {
            if s["format"] == "date-time" {
                "time".into()
            } else if s["description"] == "ULID" {
                "id".into()
            } else if s["pattern"]
                .as_str()
                .is_some_and(|p| p.contains("[0-9]+(\\."))
            {
                "decimal string".into()
            } else {
                "string".into()
            }
        }
        "array" => format!("[{}]", type_name(&s["items"])),
        "object" => {
            let props = &s["properties"];
            if props.get("items").is_some() && props.get("next_cursor").is_some() {
                format!("page of {}", type_name(&props["items"]["items"]))
            } else if props.get("ok").is_some() && props.as_object().is_some_and(|p| p.len() == 1) {
                "#{ok}".into()
            } else if s.get("additionalProperties").is_some_and(Value::is_object) {
                format!("#{{string: {}}}", type_name(&s["additionalProperties"]))
            } else {
                "map".into()
            }
        }
        other => other.to_string(),
    }
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or_default().trim().to_string()
}

fn wrap(text: &str, width: usize, indent: &str) -> String {
    let mut out = String::new();
    let mut line = 0;
    for word in text.split(' ') {
        if line > 0 && line + word.len() + 1 > width {
            out.push('\n');
            out.push_str(indent);
            line = 0;
        } else if line > 0 {
            out.push(' ');
            line += 1;
        }
        out.push_str(word);
        line += word.len();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_methods_and_renders_help() {
        let doc = json!({
            "methods": [{
                "name": "wallet.transfer",
                "summary": "Send TFC",
                "params": [
                    {"name": "to_email", "required": true, "schema": {"type": "string"}},
                    {"name": "amount", "required": true, "schema": {"type": "string", "pattern": "^-?[0-9]+(\\.[0-9]{1,6})?$"}},
                    {"name": "memo", "required": false, "schema": {"type": "string"}}
                ],
                "result": {"name": "result", "schema": {"$ref": "#/components/schemas/Transfer"}},
                "x-access": {"level": "user", "roles": []}
            }],
            "components": {"schemas": {"Transfer": {"type": "object", "properties": {"amount": {"type": "string"}}, "required": ["amount"]}}}
        });
        let c = Catalog::from_openrpc(&doc);
        assert_eq!(c.namespaces(), vec!["wallet"]);
        let m = c.method("wallet.transfer").unwrap();
        assert_eq!(m.params[1].ty, "decimal string");
        let help = c.help(Some("wallet::transfer"));
        assert!(
            help.starts_with("wallet::transfer(#{to_email, amount, memo?}) -> Transfer"),
            "{help}"
        );
        assert!(c.help(Some("wallet")).contains("transfer"));
        assert!(c.help(Some("Transfer")).contains("amount"));
        assert!(c.help(Some("login")).contains("login(email, password)"));
        assert!(c.help(None).contains("wallet       transfer"));
        assert!(c.help(Some("nope")).starts_with("no method"));
    }
}
