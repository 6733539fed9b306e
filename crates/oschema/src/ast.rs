//! Syntax tree: what the parser read, with positions, before any check.
//!
//! Names are not resolved and annotations are kept as written; the checker
//! turns this into the validated [`model`](crate::model).

use crate::model::Span;

/// An identifier and where it was written.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Name {
    pub text: String,
    pub span: Span,
}

#[derive(Debug, Default)]
pub(crate) struct File {
    pub items: Vec<Item>,
}

#[derive(Debug)]
pub(crate) enum Item {
    Enum(EnumDef),
    Struct(StructDef),
    Service(ServiceDef),
}

/// `Name = "a" | "b"`
#[derive(Debug)]
pub(crate) struct EnumDef {
    pub name: Name,
    pub doc: Option<String>,
    pub annotations: Vec<Annot>,
    pub variants: Vec<(String, Span)>,
}

/// `Name = { field: type ... }`
#[derive(Debug)]
pub(crate) struct StructDef {
    pub name: Name,
    pub doc: Option<String>,
    pub annotations: Vec<Annot>,
    pub fields: Vec<FieldDef>,
}

/// `name?: type @annotation ...`, a struct field or a method parameter.
#[derive(Debug)]
pub(crate) struct FieldDef {
    pub name: Name,
    pub optional: bool,
    pub ty: TypeExpr,
    pub doc: Option<String>,
    pub annotations: Vec<Annot>,
}

#[derive(Debug)]
pub(crate) enum TypeExpr {
    Name(Name),
    /// `[T]`, at the `[`.
    List(Box<TypeExpr>, Span),
    /// `{K: V}`, at the `{`.
    Map(Box<TypeExpr>, Box<TypeExpr>, Span),
}

impl TypeExpr {
    pub(crate) fn span(&self) -> Span {
        match self {
            TypeExpr::Name(name) => name.span,
            TypeExpr::List(_, span) | TypeExpr::Map(_, _, span) => *span,
        }
    }
}

/// `service Name { key: value ... methods }`
#[derive(Debug)]
pub(crate) struct ServiceDef {
    pub name: Name,
    pub doc: Option<String>,
    pub annotations: Vec<Annot>,
    pub keys: Vec<ServiceKey>,
    pub methods: Vec<MethodDef>,
}

/// `version: "1.0.0"` inside a service block.
#[derive(Debug)]
pub(crate) struct ServiceKey {
    pub name: Name,
    pub value: Val,
}

/// `name(params) -> Result @annotations` and its `error:` lines.
#[derive(Debug)]
pub(crate) struct MethodDef {
    pub name: Name,
    pub params: Vec<FieldDef>,
    pub result: Option<TypeExpr>,
    pub errors: Vec<Name>,
    pub doc: Option<String>,
    pub annotations: Vec<Annot>,
}

/// `@name` or `@name(args)`; the span of `name` is at the `@`.
#[derive(Debug)]
pub(crate) struct Annot {
    pub name: Name,
    pub args: Vec<Arg>,
}

/// `key: value` or a positional `value`.
#[derive(Debug)]
pub(crate) struct Arg {
    pub key: Option<Name>,
    pub value: Val,
}

#[derive(Debug)]
pub(crate) struct Val {
    pub kind: ValKind,
    pub span: Span,
}

#[derive(Debug)]
pub(crate) enum ValKind {
    Ident(String),
    Str(String),
    Number(f64),
    List(Vec<Val>),
}

impl Val {
    /// How the value is named in messages.
    pub(crate) fn describe(&self) -> String {
        match &self.kind {
            ValKind::Ident(name) => format!("'{name}'"),
            ValKind::Str(text) => format!("\"{text}\""),
            ValKind::Number(n) => n.to_string(),
            ValKind::List(_) => "a list".to_owned(),
        }
    }
}
