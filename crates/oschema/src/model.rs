//! The validated model of a schema: what the generator consumes.
//!
//! Everything here has passed the checks in `check`: names resolve, nothing is
//! duplicated, annotations are understood. Source positions are kept so that
//! later stages can still point at the schema.

use std::fmt;

/// A position in a source file (1-based line and column).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    /// Index into [`Schema::files`].
    pub file: usize,
    pub line: u32,
    pub col: u32,
}

/// A whole schema, possibly read from several files.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Schema {
    /// File names in the order they were given (sorted by name for a folder).
    pub files: Vec<String>,
    pub enums: Vec<Enum>,
    pub structs: Vec<Struct>,
    pub services: Vec<Service>,
}

/// `Name = "a" | "b"`
#[derive(Debug, Clone, PartialEq)]
pub struct Enum {
    pub name: String,
    pub doc: Option<String>,
    pub variants: Vec<String>,
    pub span: Span,
}

/// `Name = { field: type ... }`, an embedded type, a root object or an error type.
#[derive(Debug, Clone, PartialEq)]
pub struct Struct {
    pub name: String,
    pub doc: Option<String>,
    /// Stored with its own id: has a `sid`/`id` field or `[rootobject]` in its doc.
    pub root: bool,
    /// `@error(kind)`: this struct is an error type mapped to a wire error kind.
    pub error_kind: Option<ErrorKind>,
    /// `@crud(...)`: generated CRUD methods and who may call them (root objects only).
    pub crud: Option<Crud>,
    /// `@hot`: its records are rewritten often (balances, counters), so
    /// storage leaves room for new versions beside the old.
    pub hot: bool,
    /// Declared fields, without the implicit `id`/`sid` of a root object
    /// (root objects always get `id`, `created_at`, `updated_at`, `version`).
    pub fields: Vec<Field>,
    pub annotations: Vec<Annotation>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub name: String,
    pub ty: Type,
    /// `name?: T`
    pub optional: bool,
    pub doc: Option<String>,
    pub attrs: FieldAttrs,
    pub annotations: Vec<Annotation>,
    pub span: Span,
}

/// Our field annotations, interpreted.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FieldAttrs {
    /// `@index`: findable by exact value (secondary index).
    pub index: bool,
    /// `@unique`: at most one object per value (implies an index).
    /// Strings are compared case-insensitively when `@unique(nocase)`.
    pub unique: bool,
    pub unique_nocase: bool,
    /// `@search`: joins the root object's full-text index.
    pub search: bool,
    /// `@secret`: encrypted at rest, never returned.
    pub secret: bool,
    /// `@hidden`: stored as is (e.g. a one-way hash that must stay
    /// searchable), never returned.
    pub hidden: bool,
    /// `@server`: set by the server only; clients can never write it.
    pub server: bool,
    /// `@owner`: the field holds the id of the user owning the object.
    pub owner: bool,
    /// `@min(n)` / `@max(n)`: numeric bounds (numbers and decimals).
    pub min: Option<f64>,
    pub max: Option<f64>,
    /// `@minlen(n)` / `@maxlen(n)`: length bounds (strings in chars, lists in items).
    pub min_len: Option<u64>,
    pub max_len: Option<u64>,
    /// `@keymaxlen(n)`: longest key of a map with `str` keys, in characters.
    pub key_max_len: Option<u64>,
    /// `@itemmaxlen(n)`: longest item of a `[str]` list or value of a map
    /// of `str`, in characters.
    pub item_max_len: Option<u64>,
    /// `@email`: must look like an email address.
    pub email: bool,
}

/// A type expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Type {
    Str,
    Bool,
    Int(IntType),
    F32,
    F64,
    /// `otime` / `time`: a timestamp (RFC 3339 UTC on the wire).
    Time,
    /// `decimal` / `ocur`: money, a decimal string on the wire.
    Decimal,
    /// `ulid`: a reference to another object's id.
    Ulid,
    /// `olocation`
    Location,
    /// `oaddress`
    Address,
    /// `any`: arbitrary JSON.
    Any,
    /// `[T]`
    List(Box<Type>),
    /// `{K: V}`
    Map(Box<Type>, Box<Type>),
    /// A user-defined enum or struct, by name (always resolves after checking).
    Named(String),
}

/// Shows the type as written in a schema (`[str]`, `{str: Item}`, `otime`).
impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Type::Str => f.write_str("str"),
            Type::Bool => f.write_str("bool"),
            Type::Int(int) => f.write_str(int.name()),
            Type::F32 => f.write_str("f32"),
            Type::F64 => f.write_str("f64"),
            Type::Time => f.write_str("otime"),
            Type::Decimal => f.write_str("decimal"),
            Type::Ulid => f.write_str("ulid"),
            Type::Location => f.write_str("olocation"),
            Type::Address => f.write_str("oaddress"),
            Type::Any => f.write_str("any"),
            Type::List(item) => write!(f, "[{item}]"),
            Type::Map(key, value) => write!(f, "{{{key}: {value}}}"),
            Type::Named(name) => f.write_str(name),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntType {
    U8,
    U16,
    U32,
    U64,
    I8,
    I16,
    I32,
    I64,
}

impl IntType {
    /// The schema name: `u8` .. `i64`.
    pub fn name(self) -> &'static str {
        match self {
            IntType::U8 => "u8",
            IntType::U16 => "u16",
            IntType::U32 => "u32",
            IntType::U64 => "u64",
            IntType::I8 => "i8",
            IntType::I16 => "i16",
            IntType::I32 => "i32",
            IntType::I64 => "i64",
        }
    }
}

/// `service Name { ... }`
#[derive(Debug, Clone, PartialEq)]
pub struct Service {
    pub name: String,
    /// Public namespace: `namespace: "..."`, else the name without `Service`, lower-cased.
    pub namespace: String,
    pub version: Option<String>,
    pub description: Option<String>,
    pub doc: Option<String>,
    /// `access: "..."` default for methods without `@access`.
    pub default_access: Option<Access>,
    pub methods: Vec<Method>,
    pub annotations: Vec<Annotation>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Method {
    pub name: String,
    pub params: Vec<Param>,
    /// `-> T`; `None` means the method returns `{"ok": true}`.
    pub result: Option<Type>,
    /// Names of error structs from `error:` lines.
    pub errors: Vec<String>,
    /// Resolved access: the method's `@access`, else the service default, else admin.
    pub access: Access,
    /// `@mutates`: the method changes state (takes an idempotency key, writes audit).
    pub mutates: bool,
    pub doc: Option<String>,
    pub annotations: Vec<Annotation>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    pub name: String,
    pub ty: Type,
    pub optional: bool,
    pub doc: Option<String>,
    pub attrs: FieldAttrs,
    pub span: Span,
}

/// Who may call a method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// Anyone, no token needed.
    Public,
    /// Any signed-in user.
    User,
    /// A signed-in user holding one of these roles (admins always pass).
    Roles(Vec<String>),
    /// The owner of the object named by the params, or an admin.
    OwnerOrAdmin,
    /// Admins only.
    Admin,
}

/// The error kinds `@error(kind)` may name (SPEC section 5). Their wire
/// codes belong to the runtime, which the generator is told them by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    InvalidInput,
    Unauthenticated,
    InsufficientFunds,
    Forbidden,
    NotFound,
    Conflict,
    IdempotencyMismatch,
    InvalidState,
    RateLimited,
}

impl ErrorKind {
    pub const ALL: [ErrorKind; 9] = [
        ErrorKind::InvalidInput,
        ErrorKind::Unauthenticated,
        ErrorKind::InsufficientFunds,
        ErrorKind::Forbidden,
        ErrorKind::NotFound,
        ErrorKind::Conflict,
        ErrorKind::IdempotencyMismatch,
        ErrorKind::InvalidState,
        ErrorKind::RateLimited,
    ];

    /// The snake_case name used in schemas and on the wire.
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::InvalidInput => "invalid_input",
            ErrorKind::Unauthenticated => "unauthenticated",
            ErrorKind::InsufficientFunds => "insufficient_funds",
            ErrorKind::Forbidden => "forbidden",
            ErrorKind::NotFound => "not_found",
            ErrorKind::Conflict => "conflict",
            ErrorKind::IdempotencyMismatch => "idempotency_mismatch",
            ErrorKind::InvalidState => "invalid_state",
            ErrorKind::RateLimited => "rate_limited",
        }
    }

    pub fn from_name(name: &str) -> Option<ErrorKind> {
        ErrorKind::ALL.into_iter().find(|k| k.name() == name)
    }
}

/// `@crud(get: public, list: public, find: public, create: admin, update: owner, delete: admin)`
#[derive(Debug, Clone, PartialEq)]
pub struct Crud {
    /// Namespace of the generated methods: `namespace: "..."` inside `@crud`,
    /// else the struct name lower-cased.
    pub namespace: String,
    pub ops: Vec<(CrudOp, Access)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrudOp {
    Create,
    Get,
    List,
    Find,
    Update,
    Delete,
}

impl CrudOp {
    pub fn name(self) -> &'static str {
        match self {
            CrudOp::Create => "create",
            CrudOp::Get => "get",
            CrudOp::List => "list",
            CrudOp::Find => "find",
            CrudOp::Update => "update",
            CrudOp::Delete => "delete",
        }
    }
}

/// A raw annotation as written: `@name` or `@name(args)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Annotation {
    pub name: String,
    pub args: Vec<AnnotationArg>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AnnotationArg {
    /// `key: value` arguments have a key; positional ones do not.
    pub key: Option<String>,
    pub value: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Ident(String),
    Str(String),
    Number(f64),
    List(Vec<Value>),
}

impl Schema {
    pub fn find_struct(&self, name: &str) -> Option<&Struct> {
        self.structs.iter().find(|s| s.name == name)
    }

    pub fn find_enum(&self, name: &str) -> Option<&Enum> {
        self.enums.iter().find(|e| e.name == name)
    }

    pub fn root_objects(&self) -> impl Iterator<Item = &Struct> {
        self.structs.iter().filter(|s| s.root)
    }

    /// The file name of a span, for diagnostics in later stages.
    pub fn file_name(&self, span: Span) -> &str {
        self.files
            .get(span.file)
            .map(String::as_str)
            .unwrap_or("<schema>")
    }
}

impl Struct {
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// The `@owner` field, if any.
    pub fn owner_field(&self) -> Option<&Field> {
        self.fields.iter().find(|f| f.attrs.owner)
    }
}
