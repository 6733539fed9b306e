//! The OpenRPC document: every method with its params, result, errors,
//! access (`x-access`), docs and an example; every type as a JSON Schema.

use oschema::{Access, ErrorKind, FieldAttrs, IntType, Method, Schema, Service, Struct, Type};
use serde_json::{Map, Value, json};

use crate::is_paged;

/// The document's `info` block.
#[derive(Debug, Clone)]
pub struct Info {
    pub title: String,
    pub version: String,
    pub description: String,
    /// The wire code of an error kind, by name: the runtime owns the codes.
    pub error_code: fn(&str) -> Option<i32>,
}

/// The OpenRPC document for `schema`.
pub fn generate(schema: &Schema, info: &Info) -> Value {
    let g = Gen {
        schema,
        error_code: info.error_code,
    };
    let methods: Vec<Value> = schema
        .services
        .iter()
        .flat_map(|svc| svc.methods.iter().map(move |m| g.method(svc, m)))
        .chain(g.crud_methods())
        .collect();
    let mut schemas = Map::new();
    for e in &schema.enums {
        let mut s = json!({ "type": "string", "enum": e.variants });
        describe(&mut s, e.doc.as_deref());
        schemas.insert(e.name.clone(), s);
    }
    for s in &schema.structs {
        schemas.insert(s.name.clone(), g.struct_schema(s));
    }
    json!({
        "openrpc": "1.3.2",
        "info": { "title": info.title, "version": info.version, "description": info.description },
        "methods": methods,
        "components": { "schemas": schemas },
    })
}

#[derive(Clone, Copy)]
struct Gen<'a> {
    schema: &'a Schema,
    error_code: fn(&str) -> Option<i32>,
}

fn describe(v: &mut Value, doc: Option<&str>) {
    if let (Some(d), Value::Object(m)) = (doc, v) {
        m.insert("description".into(), json!(d));
    }
}

const EXAMPLE_ID: &str = "01J9Z3K4M5N6P7Q8R9S0T1V2W3";

impl Gen<'_> {
    fn type_schema(&self, ty: &Type, attrs: &FieldAttrs) -> Value {
        let mut s = match ty {
            Type::Str if attrs.email => json!({ "type": "string", "format": "email" }),
            Type::Str => json!({ "type": "string" }),
            Type::Bool => json!({ "type": "boolean" }),
            Type::Int(i) => match i {
                IntType::U8 | IntType::U16 | IntType::U32 | IntType::U64 => {
                    json!({ "type": "integer", "minimum": 0 })
                }
                _ => json!({ "type": "integer" }),
            },
            Type::F32 | Type::F64 => json!({ "type": "number" }),
            Type::Time => json!({ "type": "string", "format": "date-time" }),
            Type::Decimal => {
                json!({ "type": "string", "pattern": "^-?[0-9]+(\\.[0-9]{1,6})?$", "description": "decimal amount as a string" })
            }
            Type::Ulid => {
                json!({ "type": "string", "pattern": "^[0-7][0-9A-HJKMNP-TV-Z]{25}$", "description": "ULID" })
            }
            Type::Location => json!({
                "type": "object",
                "properties": { "latitude": { "type": "number" }, "longitude": { "type": "number" } },
                "required": ["latitude", "longitude"],
            }),
            Type::Address => json!({
                "type": "object",
                "properties": {
                    "street": { "type": "string" }, "city": { "type": "string" },
                    "postal_code": { "type": "string" }, "country": { "type": "string" }
                },
                "required": ["street", "city", "postal_code", "country"],
            }),
            Type::Any => json!({}),
            Type::List(t) => {
                let item = FieldAttrs {
                    max_len: attrs.item_max_len,
                    ..FieldAttrs::default()
                };
                json!({ "type": "array", "items": self.type_schema(t, &item) })
            }
            Type::Map(_, v) => {
                let value = FieldAttrs {
                    max_len: attrs.item_max_len,
                    ..FieldAttrs::default()
                };
                let mut m = json!({ "type": "object", "additionalProperties": self.type_schema(v, &value) });
                if let Some(n) = attrs.key_max_len {
                    m["propertyNames"] = json!({ "maxLength": n });
                }
                if let Some(n) = attrs.max_len {
                    m["maxProperties"] = json!(n);
                }
                m
            }
            Type::Named(n) => json!({ "$ref": format!("#/components/schemas/{n}") }),
        };
        if let Value::Object(m) = &mut s {
            let is_list = matches!(ty, Type::List(_));
            let (lo, hi) = if is_list {
                ("minItems", "maxItems")
            } else {
                ("minLength", "maxLength")
            };
            if matches!(ty, Type::Str | Type::List(_)) {
                if let Some(n) = attrs.min_len {
                    m.insert(lo.into(), json!(n));
                }
                if let Some(n) = attrs.max_len {
                    m.insert(hi.into(), json!(n));
                }
            }
            if matches!(ty, Type::Int(_) | Type::F32 | Type::F64) {
                if let Some(n) = attrs.min {
                    m.insert("minimum".into(), json!(n));
                }
                if let Some(n) = attrs.max {
                    m.insert("maximum".into(), json!(n));
                }
            }
        }
        s
    }

    fn struct_schema(&self, s: &Struct) -> Value {
        let mut props = Map::new();
        let mut required = Vec::new();
        if s.root {
            props.insert(
                "id".into(),
                self.type_schema(&Type::Ulid, &FieldAttrs::default()),
            );
            props.insert(
                "created_at".into(),
                self.type_schema(&Type::Time, &FieldAttrs::default()),
            );
            props.insert(
                "updated_at".into(),
                self.type_schema(&Type::Time, &FieldAttrs::default()),
            );
            props.insert("version".into(), json!({ "type": "integer", "minimum": 1 }));
            required.extend(["id", "created_at", "updated_at", "version"].map(String::from));
        }
        for f in s
            .fields
            .iter()
            .filter(|f| !f.attrs.secret && !f.attrs.hidden)
        {
            let mut fs = self.type_schema(&f.ty, &f.attrs);
            describe(&mut fs, f.doc.as_deref());
            if f.attrs.server
                && let Value::Object(m) = &mut fs
            {
                m.insert("readOnly".into(), json!(true));
            }
            props.insert(f.name.clone(), fs);
            if !f.optional {
                required.push(f.name.clone());
            }
        }
        let mut out = json!({ "type": "object", "properties": props, "required": required });
        describe(&mut out, s.doc.as_deref());
        if let (Some(kind), Value::Object(m)) = (s.error_kind, &mut out) {
            m.insert("x-error-kind".into(), json!(kind.name()));
        }
        out
    }

    fn result_schema(&self, m: &Method) -> Value {
        match &m.result {
            None => {
                json!({ "type": "object", "properties": { "ok": { "type": "boolean", "const": true } }, "required": ["ok"] })
            }
            Some(Type::List(inner)) if is_paged(m) => {
                page_schema(self.type_schema(inner, &FieldAttrs::default()))
            }
            Some(t) => self.type_schema(t, &FieldAttrs::default()),
        }
    }

    fn method(&self, svc: &Service, m: &Method) -> Value {
        let mut params: Vec<Value> = m
            .params
            .iter()
            .filter(|p| p.name != "idempotency_key")
            .map(|p| {
                let mut d = json!({ "name": p.name, "required": !defaults_when_absent(&p.ty, p.optional), "schema": self.type_schema(&p.ty, &p.attrs) });
                describe(&mut d, p.doc.as_deref());
                d
            })
            .collect();
        if m.mutates && m.access != Access::Public {
            params.push(idempotency_param());
        }
        let (mut kinds, mut named) = (Vec::new(), Vec::new());
        for e in &m.errors {
            match self.schema.find_struct(e).and_then(|s| s.error_kind) {
                Some(kind) => kinds.push(kind),
                None => named.push(e.as_str()),
            }
        }
        kinds.extend(access_errors(&m.access));
        if !m.params.is_empty() {
            kinds.push(ErrorKind::InvalidInput);
        }
        if m.mutates && m.access != Access::Public {
            kinds.push(ErrorKind::IdempotencyMismatch);
        }
        let example_params: Vec<Value> = m
            .params
            .iter()
            .filter(|p| !defaults_when_absent(&p.ty, p.optional))
            .map(|p| json!({ "name": p.name, "value": self.example(&p.ty, &p.name, 0) }))
            .collect();
        let example_result = match &m.result {
            None => json!({ "ok": true }),
            Some(Type::List(inner)) if is_paged(m) => {
                json!({ "items": [self.example(inner, "", 0)], "next_cursor": null })
            }
            Some(t) => self.example(t, "", 0),
        };
        let name = format!("{}.{}", svc.namespace, m.name);
        let mut out = json!({
            "name": name,
            "params": params,
            "result": { "name": "result", "schema": self.result_schema(m) },
            "errors": errors(self.error_code, kinds, &named),
            "paramStructure": "by-name",
            "tags": [{ "name": svc.namespace }],
            "x-access": access_json(&m.access),
            "examples": [{
                "name": format!("{name} example"),
                "params": example_params,
                "result": { "name": "result", "value": example_result },
            }],
        });
        if let (Some(d), Value::Object(o)) = (&m.doc, &mut out) {
            o.insert(
                "summary".into(),
                json!(d.lines().next().unwrap_or_default()),
            );
            o.insert("description".into(), json!(d));
        }
        out
    }

    fn crud_methods(&self) -> Vec<Value> {
        let mut out = Vec::new();
        for s in &self.schema.structs {
            let Some(crud) = &s.crud else { continue };
            let obj = json!({ "$ref": format!("#/components/schemas/{}", s.name) });
            let writable: Vec<_> = s
                .fields
                .iter()
                .filter(|f| !f.attrs.server && !f.attrs.owner)
                .collect();
            let id = json!({ "name": "id", "required": true, "schema": self.type_schema(&Type::Ulid, &FieldAttrs::default()) });
            let limit = json!({ "name": "limit", "required": false, "schema": { "type": "integer", "minimum": 1, "maximum": 500, "default": 50 } });
            let cursor =
                json!({ "name": "cursor", "required": false, "schema": { "type": "string" } });
            for (op, access) in &crud.ops {
                let (params, result, summary) = match op {
                    oschema::CrudOp::Create => (
                        writable.iter().map(|f| json!({ "name": f.name, "required": !defaults_when_absent(&f.ty, f.optional), "schema": self.type_schema(&f.ty, &f.attrs) })).collect(),
                        obj.clone(),
                        format!("Create a {}", s.name),
                    ),
                    oschema::CrudOp::Get => (vec![id.clone()], obj.clone(), format!("Get a {} by id", s.name)),
                    oschema::CrudOp::List => (vec![limit.clone(), cursor.clone()], page_schema(obj.clone()), format!("List {} objects, newest first", s.name)),
                    oschema::CrudOp::Find => {
                        let fields: Vec<&str> = s.fields.iter().filter(|f| f.attrs.index || f.attrs.unique || f.attrs.owner).map(|f| f.name.as_str()).collect();
                        (
                            vec![
                                json!({ "name": "field", "required": true, "schema": { "type": "string", "enum": fields } }),
                                json!({ "name": "value", "required": true, "schema": {} }),
                                limit.clone(),
                                cursor.clone(),
                            ],
                            page_schema(obj.clone()),
                            format!("Find {} objects by an indexed field", s.name),
                        )
                    }
                    oschema::CrudOp::Update => {
                        let mut p = vec![id.clone(), json!({ "name": "expected_version", "required": false, "schema": { "type": "integer", "minimum": 1 } })];
                        p.extend(writable.iter().map(|f| json!({ "name": f.name, "required": false, "schema": self.type_schema(&f.ty, &f.attrs) })));
                        (p, obj.clone(), format!("Change a {}; absent fields stay unchanged", s.name))
                    }
                    oschema::CrudOp::Delete => (
                        vec![id.clone()],
                        json!({ "type": "object", "properties": { "ok": { "type": "boolean" } }, "required": ["ok"] }),
                        format!("Delete a {}", s.name),
                    ),
                };
                let mut params = params;
                if matches!(
                    op,
                    oschema::CrudOp::Create | oschema::CrudOp::Update | oschema::CrudOp::Delete
                ) && *access != Access::Public
                {
                    params.push(idempotency_param());
                }
                let mut kinds = access_errors(access);
                kinds.push(ErrorKind::InvalidInput);
                if matches!(
                    op,
                    oschema::CrudOp::Get | oschema::CrudOp::Update | oschema::CrudOp::Delete
                ) {
                    kinds.push(ErrorKind::NotFound);
                }
                if matches!(op, oschema::CrudOp::Create | oschema::CrudOp::Update) {
                    kinds.push(ErrorKind::Conflict);
                }
                out.push(json!({
                    "name": format!("{}.{}", crud.namespace, op.name()),
                    "summary": summary,
                    "params": params,
                    "result": { "name": "result", "schema": result },
                    "errors": errors(self.error_code, kinds, &[]),
                    "paramStructure": "by-name",
                    "tags": [{ "name": crud.namespace }],
                    "x-access": access_json(access),
                }));
            }
        }
        out
    }

    /// A plausible value of `ty` for examples (`name` hints at strings).
    fn example(&self, ty: &Type, name: &str, depth: usize) -> Value {
        match ty {
            Type::Str => json!(match name {
                n if n.contains("email") => "ada@example.com",
                n if n.contains("password") => "correct-horse-battery",
                "query" => "gpu",
                _ => "example",
            }),
            Type::Bool => json!(true),
            Type::Int(_) => json!(1),
            Type::F32 | Type::F64 => json!(1.5),
            Type::Time => json!("2026-01-31T12:00:00Z"),
            Type::Decimal => json!("12.50"),
            Type::Ulid => json!(EXAMPLE_ID),
            Type::Location => json!({ "latitude": 51.05, "longitude": 3.72 }),
            Type::Address => {
                json!({ "street": "Main 1", "city": "Ghent", "postal_code": "9000", "country": "BE" })
            }
            Type::Any => json!({}),
            Type::List(t) => json!([self.example(t, name, depth + 1)]),
            Type::Map(_, v) => json!({ "key": self.example(v, name, depth + 1) }),
            Type::Named(n) => {
                if let Some(e) = self.schema.find_enum(n) {
                    return json!(e.variants.first());
                }
                let Some(s) = self.schema.find_struct(n) else {
                    return Value::Null;
                };
                let mut m = Map::new();
                if s.root {
                    m.insert("id".into(), json!(EXAMPLE_ID));
                    m.insert("created_at".into(), json!("2026-01-31T12:00:00Z"));
                    m.insert("updated_at".into(), json!("2026-01-31T12:00:00Z"));
                    m.insert("version".into(), json!(1));
                }
                if depth < 4 {
                    for f in s
                        .fields
                        .iter()
                        .filter(|f| !f.optional && !f.attrs.secret && !f.attrs.hidden)
                    {
                        m.insert(f.name.clone(), self.example(&f.ty, &f.name, depth + 1));
                    }
                }
                Value::Object(m)
            }
        }
    }
}

/// Params a caller may leave out: optional ones, and lists and maps (empty when absent).
pub(crate) fn defaults_when_absent(ty: &Type, optional: bool) -> bool {
    optional || matches!(ty, Type::List(_) | Type::Map(..))
}

/// The optional key every mutating, non-public method accepts.
fn idempotency_param() -> Value {
    json!({
        "name": "idempotency_key",
        "required": false,
        "description": "Repeat-safe key: the first successful response is stored for 24 hours and replayed for a repeat with the same params; other params with the same key are `idempotency_mismatch` (4091).",
        "schema": { "type": "string", "minLength": 1, "maxLength": 255 },
    })
}

fn page_schema(item: Value) -> Value {
    json!({
        "type": "object",
        "properties": {
            "items": { "type": "array", "items": item },
            "next_cursor": { "type": ["string", "null"], "description": "pass as `cursor` for the next page; null on the last page" },
        },
        "required": ["items", "next_cursor"],
    })
}

fn access_errors(a: &Access) -> Vec<ErrorKind> {
    match a {
        Access::Public => vec![],
        Access::User | Access::OwnerOrAdmin => {
            vec![ErrorKind::Unauthenticated, ErrorKind::Forbidden]
        }
        Access::Roles(_) | Access::Admin => vec![ErrorKind::Unauthenticated, ErrorKind::Forbidden],
    }
}

/// The error objects of a method: one per kind, then one per error named
/// without a declared kind (Hero style), which answers as `invalid_input`
/// with `data.error` set to its name.
/// A kind the runtime has no code for gets `null`, which the OpenRPC
/// meta-schema check refuses.
fn errors(code: fn(&str) -> Option<i32>, mut kinds: Vec<ErrorKind>, named: &[&str]) -> Vec<Value> {
    kinds.sort_by_key(|k| code(k.name()));
    kinds.dedup();
    let plain = ErrorKind::InvalidInput;
    kinds
        .into_iter()
        .map(|k| json!({ "code": code(k.name()), "message": k.name(), "data": { "kind": k.name() } }))
        .chain(named.iter().map(|name| {
            json!({ "code": code(plain.name()), "message": name, "data": { "kind": plain.name(), "error": name } })
        }))
        .collect()
}

/// `x-access`: `{"level": ..., "roles": [...]}`.
pub(crate) fn access_json(a: &Access) -> Value {
    let (level, roles): (&str, Vec<String>) = match a {
        Access::Public => ("public", vec![]),
        Access::User => ("user", vec![]),
        Access::Roles(r) => ("role", r.clone()),
        Access::OwnerOrAdmin => ("owner_or_admin", vec![]),
        Access::Admin => ("admin", vec!["admin".to_string()]),
    };
    json!({ "level": level, "roles": roles })
}
