//! Checks: resolves names across files, interprets our annotations and
//! lowers the syntax tree into the validated [`model`](crate::model),
//! reporting every problem it finds.

use std::collections::HashMap;

use crate::annotations::{self, CrudTarget, Place, Target};
use crate::ast::{self, Item, Name, TypeExpr, ValKind};
use crate::diagnostic::Reporter;
use crate::model::{
    Access, Enum, Field, IntType, Method, Param, Schema, Service, Span, Struct, Type,
};
use crate::names::{
    RUST_KEYWORDS, did_you_mean, is_snake, is_upper_camel, to_snake, to_upper_camel,
};

mod endpoints;
mod recursion;

use endpoints::{Endpoint, Origin};

/// Builtin type names.
/// Names of the Rust prelude that generated code uses unqualified.
const RESERVED_TYPE_NAMES: &[&str] = &[
    "Self", "Ok", "Err", "Some", "None", "Result", "Option", "Vec", "String", "Box", "Default",
];

const BUILTINS: &[&str] = &[
    "str",
    "bool",
    "u8",
    "u16",
    "u32",
    "u64",
    "i8",
    "i16",
    "i32",
    "i64",
    "f32",
    "f64",
    "otime",
    "time",
    "ocur",
    "decimal",
    "ulid",
    "olocation",
    "oaddress",
    "any",
];

/// Type names from other languages, and what to write instead.
const ALIASES: &[(&str, &str)] = &[
    ("string", "str"),
    ("String", "str"),
    ("int", "i64"),
    ("integer", "i64"),
    ("float", "f64"),
    ("double", "f64"),
    ("boolean", "bool"),
    ("datetime", "otime"),
    ("timestamp", "otime"),
    ("money", "decimal"),
];

/// Fields every root object gets implicitly (besides its id).
const ROOT_FIELDS: &[&str] = &["created_at", "updated_at", "version"];

const ROOT_MARKER: &str = "[rootobject]";

fn builtin(name: &str) -> Option<Type> {
    Some(match name {
        "str" => Type::Str,
        "bool" => Type::Bool,
        "u8" => Type::Int(IntType::U8),
        "u16" => Type::Int(IntType::U16),
        "u32" => Type::Int(IntType::U32),
        "u64" => Type::Int(IntType::U64),
        "i8" => Type::Int(IntType::I8),
        "i16" => Type::Int(IntType::I16),
        "i32" => Type::Int(IntType::I32),
        "i64" => Type::Int(IntType::I64),
        "f32" => Type::F32,
        "f64" => Type::F64,
        "otime" | "time" => Type::Time,
        "ocur" | "decimal" => Type::Decimal,
        "ulid" => Type::Ulid,
        "olocation" => Type::Location,
        "oaddress" => Type::Address,
        "any" => Type::Any,
        _ => return None,
    })
}

/// Checks parsed files (in the order given) and builds the schema; the
/// caller fills in [`Schema::files`].
pub(crate) fn run(files: &[ast::File], rep: &mut Reporter) -> Schema {
    let mut checker = Checker {
        rep,
        types: HashMap::new(),
        endpoints: Vec::new(),
        roles: Vec::new(),
    };
    let items: Vec<&Item> = files.iter().flat_map(|f| &f.items).collect();
    checker.roles = items
        .iter()
        .find_map(|item| match item {
            Item::Enum(def) if def.name.text == annotations::ROLE_ENUM => {
                Some(def.variants.iter().map(|(v, _)| v.clone()).collect())
            }
            _ => None,
        })
        .unwrap_or_default();
    for item in &items {
        checker.declare(item);
    }
    let mut schema = Schema::default();
    let mut services: HashMap<&str, Span> = HashMap::new();
    for item in items {
        match item {
            Item::Enum(def) => schema.enums.push(checker.lower_enum(def)),
            Item::Struct(def) => schema.structs.push(checker.lower_struct(def)),
            Item::Service(def) => {
                let first = services.get(def.name.text.as_str()).copied();
                if let Some(first) = first {
                    let location = checker.rep.location(first);
                    checker
                        .rep
                        .error(
                            def.name.span,
                            format!("duplicate service '{}'", def.name.text),
                        )
                        .with_hint(format!("first defined at {location}"));
                } else {
                    services.insert(&def.name.text, def.name.span);
                }
                schema
                    .services
                    .push(checker.lower_service(def, first.is_none()));
            }
        }
    }
    checker.check_recursion(&schema.structs);
    checker.check_endpoints();
    schema
}

#[derive(Debug, Clone, Copy)]
struct TypeInfo {
    span: Span,
    kind: Kind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Enum,
    Struct { error: bool },
}

/// Where a type is used, for the rule that error types are only named in
/// `error:` lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Usage {
    Field,
    Param,
    Result,
}

struct Checker<'r> {
    rep: &'r mut Reporter,
    /// Every enum and struct by name: the first definition of each name.
    types: HashMap<String, TypeInfo>,
    endpoints: Vec<Endpoint>,
    /// What `@access` may name as roles: the variants of the `Role` enum.
    roles: Vec<String>,
}

/// An error type: has `@error(...)`.
fn is_error(def: &ast::StructDef) -> bool {
    def.annotations.iter().any(|a| a.name.text == "error")
}

fn has_root_marker(def: &ast::StructDef) -> bool {
    def.doc
        .as_deref()
        .is_some_and(|doc| doc.to_ascii_lowercase().contains(ROOT_MARKER))
}

/// A root object: has a Hero `sid` field or `[rootobject]` in its doc. An
/// `id` field alone does not make one (result types such as `{id, key}`
/// carry ids of other objects), and error types are never stored.
fn is_root(def: &ast::StructDef) -> bool {
    !is_error(def) && (has_root_marker(def) || def.fields.iter().any(|f| f.name.text == "sid"))
}

/// The doc without the `[rootobject]` marker.
fn strip_root_marker(doc: Option<&str>) -> Option<String> {
    let lines: Vec<String> = doc?
        .lines()
        .map(|line| {
            let lower = line.to_ascii_lowercase();
            if !lower.contains(ROOT_MARKER) {
                return line.to_owned();
            }
            let mut kept = String::new();
            let mut rest = line;
            while let Some(at) = rest.to_ascii_lowercase().find(ROOT_MARKER) {
                kept.push_str(&rest[..at]);
                rest = &rest[at + ROOT_MARKER.len()..];
            }
            kept.push_str(rest);
            kept.split_whitespace().collect::<Vec<_>>().join(" ")
        })
        .collect();
    let doc = lines.join("\n");
    let doc = doc.trim();
    (!doc.is_empty()).then(|| doc.to_owned())
}

/// `OrderService` -> `order`, `SshKeyService` -> `sshkey`.
fn default_namespace(service: &str) -> String {
    let base = service
        .strip_suffix("Service")
        .filter(|base| !base.is_empty())
        .unwrap_or(service);
    base.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

impl Checker<'_> {
    // ---- names --------------------------------------------------------

    fn declare(&mut self, item: &Item) {
        let (name, kind) = match item {
            Item::Enum(def) => (&def.name, Kind::Enum),
            Item::Struct(def) => (
                &def.name,
                Kind::Struct {
                    error: is_error(def),
                },
            ),
            Item::Service(def) => {
                self.check_type_name(&def.name, "service");
                return;
            }
        };
        self.check_type_name(name, "type");
        if let Some(first) = self.types.get(&name.text) {
            let location = self.rep.location(first.span);
            self.rep
                .error(name.span, format!("duplicate definition '{}'", name.text))
                .with_hint(format!("first defined at {location}"));
        } else {
            self.types.insert(
                name.text.clone(),
                TypeInfo {
                    span: name.span,
                    kind,
                },
            );
        }
    }

    fn check_type_name(&mut self, name: &Name, what: &str) {
        let text = name.text.as_str();
        if BUILTINS.contains(&text) {
            self.rep
                .error(
                    name.span,
                    format!("'{text}' is a builtin type and cannot be redefined"),
                )
                .with_hint("choose another name");
        } else if RESERVED_TYPE_NAMES.contains(&text) {
            self.rep
                .error(name.span, format!("'{text}' is a reserved word"))
                .with_hint("it names a Rust prelude item the generated code relies on; choose another name");
        } else if !is_upper_camel(text) {
            self.rep
                .error(
                    name.span,
                    format!("{what} name '{text}' must be UpperCamelCase"),
                )
                .with_hint(format!("rename to '{}'", to_upper_camel(&to_snake(text))));
        }
    }

    fn check_member_name(&mut self, name: &Name, what: &str) {
        let text = name.text.as_str();
        if RUST_KEYWORDS.contains(&text) {
            self.rep
                .error(
                    name.span,
                    format!("{what} name '{text}' is a reserved word"),
                )
                .with_hint("it is a Rust keyword; choose another name");
        } else if !is_snake(text) {
            self.rep
                .error(
                    name.span,
                    format!("{what} name '{text}' must be lower snake_case"),
                )
                .with_hint(format!("rename to '{}'", to_snake(text)));
        }
    }

    /// Reports `name` if already in `seen` (within one definition); true
    /// the first time.
    fn check_unique<'n>(
        &mut self,
        seen: &mut HashMap<&'n str, Span>,
        name: &'n Name,
        message: impl FnOnce() -> String,
    ) -> bool {
        if let Some(first) = seen.get(name.text.as_str()) {
            let hint = format!("first at line {}", first.line);
            self.rep.error(name.span, message()).with_hint(hint);
            false
        } else {
            seen.insert(&name.text, name.span);
            true
        }
    }

    // ---- types --------------------------------------------------------

    fn is_enum(&self, ty: &Type) -> bool {
        matches!(ty, Type::Named(name)
            if self.types.get(name).is_some_and(|t| t.kind == Kind::Enum))
    }

    fn lower_type(&mut self, ty: &TypeExpr, usage: Usage) -> Type {
        match ty {
            TypeExpr::Name(name) => self.lower_named(name, usage),
            TypeExpr::List(item, _) => Type::List(Box::new(self.lower_type(item, usage))),
            TypeExpr::Map(key, value, _) => {
                let key_type = self.lower_type(key, usage);
                let valid = matches!(key_type, Type::Str | Type::Int(_) | Type::Ulid)
                    || self.is_enum(&key_type);
                if !valid {
                    self.rep
                        .error(key.span(), format!("map keys cannot be '{key_type}'"))
                        .with_hint("map keys are str, integers, ulid or an enum");
                }
                Type::Map(Box::new(key_type), Box::new(self.lower_type(value, usage)))
            }
        }
    }

    fn lower_named(&mut self, name: &Name, usage: Usage) -> Type {
        let text = name.text.as_str();
        if let Some(ty) = builtin(text) {
            return ty;
        }
        match self.types.get(text).map(|t| t.kind) {
            Some(Kind::Struct { error: true }) if usage != Usage::Field => {
                let what = if usage == Usage::Param {
                    "a parameter"
                } else {
                    "a result"
                };
                self.rep
                    .error(
                        name.span,
                        format!("error type '{text}' cannot be used as {what}"),
                    )
                    .with_hint("error types are named in 'error:' lines");
            }
            Some(_) => {}
            None => {
                let hint = ALIASES
                    .iter()
                    .find(|(alias, _)| *alias == text)
                    .map(|(_, ours)| format!("write '{ours}'"))
                    .or_else(|| {
                        let names = self.types.keys().map(String::as_str);
                        did_you_mean(text, names.chain(BUILTINS.iter().copied()))
                    });
                self.rep
                    .error(name.span, format!("unknown type '{text}'"))
                    .hint = hint;
            }
        }
        Type::Named(name.text.clone())
    }

    // ---- definitions --------------------------------------------------

    fn lower_enum(&mut self, def: &ast::EnumDef) -> Enum {
        annotations::applicable(&def.annotations, Place::Enum, self.rep);
        let name = &def.name.text;
        if def.variants.is_empty() {
            self.rep
                .error(def.name.span, format!("enum '{name}' has no variants"))
                .with_hint(format!("write: {name} = \"a\" | \"b\""));
        }
        let mut seen: HashMap<&str, Span> = HashMap::new();
        for (variant, span) in &def.variants {
            let valid = variant.starts_with(|c: char| c.is_ascii_alphabetic())
                && variant
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            if !valid {
                self.rep
                    .error(
                        *span,
                        format!("invalid variant \"{variant}\" in enum '{name}'"),
                    )
                    .with_hint("variants start with a letter and hold letters, digits, '_' or '-'");
            }
            if let Some(first) = seen.get(variant.as_str()) {
                let hint = format!("first at line {}", first.line);
                self.rep
                    .error(
                        *span,
                        format!("duplicate variant \"{variant}\" in enum '{name}'"),
                    )
                    .with_hint(hint);
            } else {
                seen.insert(variant, *span);
            }
        }
        Enum {
            name: name.clone(),
            doc: def.doc.clone(),
            variants: def.variants.iter().map(|(v, _)| v.clone()).collect(),
            span: def.name.span,
        }
    }

    fn lower_struct(&mut self, def: &ast::StructDef) -> Struct {
        let name = &def.name.text;
        let root = is_root(def);
        let mut seen: HashMap<&str, Span> = HashMap::new();
        let mut id_field: Option<&Name> = None;
        let mut fields = Vec::new();
        for field in &def.fields {
            let field_name = field.name.text.as_str();
            self.check_unique(&mut seen, &field.name, || {
                format!("duplicate field '{field_name}' in '{name}'")
            });
            if root && matches!(field_name, "sid" | "id") {
                self.check_id_field(field, id_field, name);
                id_field = Some(&field.name);
                continue;
            }
            if root && ROOT_FIELDS.contains(&field_name) {
                self.rep
                    .error(
                        field.name.span,
                        format!("'{field_name}' is reserved in root objects"),
                    )
                    .with_hint(
                        "root objects get id, created_at, updated_at and version implicitly",
                    );
            }
            fields.push(self.lower_field(field));
        }
        if !root {
            for f in fields.iter().filter(|f| f.attrs.secret) {
                self.rep
                    .error(
                        f.span,
                        format!("'@secret' field '{}' must belong to a root object", f.name),
                    )
                    .with_hint("secret fields are encrypted where their root object is stored; use @hidden to only keep a field out of answers");
            }
        }
        let owners: Vec<&Field> = fields.iter().filter(|f| f.attrs.owner).collect();
        if let [_, second, ..] = owners.as_slice() {
            self.rep.error(
                second.span,
                format!("'{name}' has more than one @owner field"),
            );
        }
        let mut strukt = Struct {
            name: name.clone(),
            doc: strip_root_marker(def.doc.as_deref()),
            root,
            error_kind: None,
            crud: None,
            hot: false,
            fields,
            annotations: def.annotations.iter().map(annotations::raw).collect(),
            span: def.name.span,
        };
        for annotation in annotations::applicable(&def.annotations, Place::Struct, self.rep) {
            if annotation.name.text == "error" {
                strukt.error_kind = annotations::error_kind(annotation, self.rep);
                if has_root_marker(def) {
                    self.rep
                        .error(
                            annotation.name.span,
                            format!("error type '{name}' cannot be a root object"),
                        )
                        .with_hint("remove '[rootobject]' from its doc comment");
                }
            } else if annotation.name.text == "hot" {
                strukt.hot = annotations::hot(annotation, name, root, self.rep);
            } else {
                let target = CrudTarget {
                    name,
                    root,
                    has_owner: strukt.owner_field().is_some(),
                    has_index: strukt.fields.iter().any(|f| f.attrs.index),
                    roles: &self.roles,
                };
                let crud = annotations::crud(annotation, &target, self.rep);
                for (op, _) in &crud.ops {
                    self.endpoints.push(Endpoint {
                        key: format!("{}.{}", crud.namespace, op.name()),
                        span: annotation.name.span,
                        origin: Origin::Crud {
                            strukt: name.clone(),
                        },
                    });
                }
                strukt.crud = Some(crud);
            }
        }
        strukt
    }

    /// The `sid`/`id` field of a root object: one only. It is replaced by
    /// the implicit ULID `id`; its type is still resolved to report typos.
    fn check_id_field(&mut self, field: &ast::FieldDef, earlier: Option<&Name>, strukt: &str) {
        if let Some(earlier) = earlier
            && earlier.text != field.name.text
        {
            self.rep.error(
                field.name.span,
                format!(
                    "'{strukt}' has both '{}' and '{}'",
                    earlier.text, field.name.text
                ),
            );
        }
        self.lower_type(&field.ty, Usage::Field);
    }

    fn lower_field(&mut self, field: &ast::FieldDef) -> Field {
        let (ty, attrs) = self.lower_member(field, Place::Field, Usage::Field);
        Field {
            name: field.name.text.clone(),
            ty,
            optional: field.optional,
            doc: field.doc.clone(),
            attrs,
            annotations: field.annotations.iter().map(annotations::raw).collect(),
            span: field.name.span,
        }
    }

    /// Name, type and annotations of a field or parameter.
    fn lower_member(
        &mut self,
        member: &ast::FieldDef,
        place: Place,
        usage: Usage,
    ) -> (Type, crate::model::FieldAttrs) {
        self.check_member_name(&member.name, place.noun());
        let ty = self.lower_type(&member.ty, usage);
        let ours = annotations::applicable(&member.annotations, place, self.rep);
        let target = Target {
            place,
            name: &member.name.text,
            ty: &ty,
            is_enum: self.is_enum(&ty),
            item_is_enum: matches!(&ty, Type::List(item) if self.is_enum(item)),
            span: member.name.span,
        };
        let attrs = annotations::field_attrs(&ours, &target, self.rep);
        (ty, attrs)
    }

    // ---- services -----------------------------------------------------

    fn lower_service(&mut self, def: &ast::ServiceDef, unique: bool) -> Service {
        let mut service = Service {
            name: def.name.text.clone(),
            namespace: default_namespace(&def.name.text),
            version: None,
            description: None,
            doc: def.doc.clone(),
            default_access: None,
            methods: Vec::new(),
            annotations: def.annotations.iter().map(annotations::raw).collect(),
            span: def.name.span,
        };
        annotations::applicable(&def.annotations, Place::Service, self.rep);
        let mut seen: HashMap<&str, Span> = HashMap::new();
        for key in &def.keys {
            let name = key.name.text.as_str();
            if !annotations::SERVICE_KEYS.contains(&name) {
                self.rep
                    .warning(key.name.span, format!("unknown service key '{name}'"))
                    .with_hint(annotations::service_key_hint(name));
                continue;
            }
            self.check_unique(&mut seen, &key.name, || {
                format!("duplicate key '{name}' in service '{}'", def.name.text)
            });
            let ValKind::Str(text) = &key.value.kind else {
                self.rep
                    .error(
                        key.value.span,
                        format!(
                            "'{name}:' expects a \"string\", found {}",
                            key.value.describe()
                        ),
                    )
                    .with_hint(format!("e.g. {name}: \"...\""));
                continue;
            };
            match name {
                "version" => service.version = Some(text.clone()),
                "description" => service.description = Some(text.clone()),
                "namespace" => {
                    if !is_snake(text) {
                        self.rep
                            .error(
                                key.value.span,
                                format!("namespace '{text}' must be lower snake_case"),
                            )
                            .with_hint(format!("e.g. '{}'", to_snake(text)));
                    }
                    service.namespace = text.clone();
                }
                _ => {
                    service.default_access =
                        annotations::access_text(text, key.value.span, &self.roles, self.rep);
                }
            }
        }
        for method in &def.methods {
            let lowered = self.lower_method(method, service.default_access.as_ref());
            if unique {
                self.endpoints.push(Endpoint {
                    key: format!("{}.{}", service.namespace, lowered.name),
                    span: lowered.span,
                    origin: Origin::Method {
                        service: service.name.clone(),
                        name: lowered.name.clone(),
                    },
                });
            }
            service.methods.push(lowered);
        }
        service
    }

    fn lower_method(&mut self, def: &ast::MethodDef, default_access: Option<&Access>) -> Method {
        let name = &def.name.text;
        self.check_member_name(&def.name, "method");
        let mut seen: HashMap<&str, Span> = HashMap::new();
        let mut params = Vec::new();
        for param in &def.params {
            let param_name = param.name.text.as_str();
            self.check_unique(&mut seen, &param.name, || {
                format!("duplicate parameter '{param_name}' in method '{name}'")
            });
            let (ty, attrs) = self.lower_member(param, Place::Param, Usage::Param);
            if param_name == "idempotency_key" && !(param.optional && ty == Type::Str) {
                self.rep
                    .error(param.name.span, "'idempotency_key' must be an optional str")
                    .with_hint("write 'idempotency_key?: str'");
            }
            params.push(Param {
                name: param.name.text.clone(),
                ty,
                optional: param.optional,
                doc: param.doc.clone(),
                attrs,
                span: param.name.span,
            });
        }
        let result = def
            .result
            .as_ref()
            .map(|ty| self.lower_type(ty, Usage::Result));
        let mut errors_seen: HashMap<&str, Span> = HashMap::new();
        for error in &def.errors {
            let first = self.check_unique(&mut errors_seen, error, || {
                format!("duplicate error '{}' in method '{name}'", error.text)
            });
            if first {
                self.check_error_type(error);
            }
        }
        let mut access = None;
        let mut mutates = false;
        for annotation in annotations::applicable(&def.annotations, Place::Method, self.rep) {
            if annotation.name.text == "access" {
                access = annotations::access(annotation, &self.roles, self.rep);
            } else {
                if let Some(arg) = annotation.args.first() {
                    self.rep
                        .error(arg.value.span, "'@mutates' takes no arguments");
                }
                mutates = true;
            }
        }
        Method {
            name: name.clone(),
            params,
            result,
            errors: def.errors.iter().map(|e| e.text.clone()).collect(),
            access: access
                .or_else(|| default_access.cloned())
                .unwrap_or(Access::Admin),
            mutates,
            doc: def.doc.clone(),
            annotations: def.annotations.iter().map(annotations::raw).collect(),
            span: def.name.span,
        }
    }

    /// A name in an `error:` line is a struct with `@error(kind)`; Hero
    /// schemas also name plain structs and undeclared errors, which are
    /// accepted with a warning and answer as `invalid_input`.
    fn check_error_type(&mut self, error: &Name) {
        let text = error.text.as_str();
        match self.types.get(text).map(|t| t.kind) {
            Some(Kind::Struct { error: true }) => {}
            Some(Kind::Struct { error: false }) => {
                self.rep
                    .warning(
                        error.span,
                        format!("'{text}' has no @error(kind): it answers as invalid_input"),
                    )
                    .with_hint(format!("add @error(kind) to '{text}' to choose its kind"));
            }
            Some(Kind::Enum) => {
                self.rep
                    .error(
                        error.span,
                        format!("'{text}' is an enum, not an error type"),
                    )
                    .with_hint("error types are structs with @error(kind)");
            }
            None => {
                let errors = self.types.iter().filter_map(|(name, t)| {
                    (t.kind == Kind::Struct { error: true }).then_some(name.as_str())
                });
                let hint = did_you_mean(text, errors).or_else(|| {
                    Some(format!(
                        "declare '{text} = {{ ... }} @error(kind)' to choose its kind"
                    ))
                });
                self.rep
                    .warning(
                        error.span,
                        format!("undeclared error '{text}': it answers as invalid_input"),
                    )
                    .hint = hint;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces() {
        assert_eq!(default_namespace("OrderService"), "order");
        assert_eq!(default_namespace("SshKeyService"), "sshkey");
        assert_eq!(default_namespace("ApiKeyService"), "apikey");
        assert_eq!(default_namespace("Service"), "service");
        assert_eq!(default_namespace("Wallet"), "wallet");
    }

    #[test]
    fn root_marker_is_removed() {
        assert_eq!(
            strip_root_marker(Some("A user account [rootobject]\nmore")).as_deref(),
            Some("A user account\nmore")
        );
        assert_eq!(
            strip_root_marker(Some("A [RootObject] thing")).as_deref(),
            Some("A thing")
        );
        assert_eq!(strip_root_marker(Some("[rootobject]")), None);
    }
}
