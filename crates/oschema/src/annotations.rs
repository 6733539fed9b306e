//! Our annotations: which exist, where they apply and what they mean.
//!
//! Annotations we do not know are warnings, so schemas written for other
//! tools still check; ours in the wrong place or with bad arguments are
//! errors.

use crate::ast::{Annot, Val, ValKind};
use crate::diagnostic::Reporter;
use crate::model::{
    Access, Annotation, AnnotationArg, Crud, CrudOp, ErrorKind, FieldAttrs, Span, Type, Value,
};
use crate::names::{did_you_mean, is_snake, to_snake};

/// Annotations of fields and parameters.
const FIELD: &[&str] = &[
    "index",
    "unique",
    "search",
    "secret",
    "hidden",
    "server",
    "owner",
    "min",
    "max",
    "minlen",
    "maxlen",
    "keymaxlen",
    "itemmaxlen",
    "email",
];
/// Annotations of methods.
const METHOD: &[&str] = &["access", "mutates"];
/// Annotations of struct definitions.
const STRUCT: &[&str] = &["error", "crud", "hot"];

const LEVELS: &[&str] = &["public", "user", "owner", "admin"];
/// The enum whose variants are the roles `@access` may name.
pub(crate) const ROLE_ENUM: &str = "Role";

/// What an access value may be, for hints.
fn access_help(roles: &[String]) -> String {
    if roles.is_empty() {
        format!(
            "expected public, user, owner or admin; roles are the variants of a '{ROLE_ENUM}' enum"
        )
    } else {
        format!(
            "expected public, user, owner, admin or roles: {}",
            roles.join(", ")
        )
    }
}

const CRUD_OPS: [CrudOp; 6] = [
    CrudOp::Create,
    CrudOp::Get,
    CrudOp::List,
    CrudOp::Find,
    CrudOp::Update,
    CrudOp::Delete,
];

/// Where an annotation is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Place {
    Field,
    Param,
    Method,
    Struct,
    Enum,
    Service,
}

impl Place {
    fn ours(self) -> &'static [&'static str] {
        match self {
            Place::Field | Place::Param => FIELD,
            Place::Method => METHOD,
            Place::Struct => STRUCT,
            Place::Enum | Place::Service => &[],
        }
    }

    pub(crate) fn noun(self) -> &'static str {
        match self {
            Place::Field => "field",
            Place::Param => "parameter",
            Place::Method => "method",
            Place::Struct => "struct",
            Place::Enum => "enum",
            Place::Service => "service",
        }
    }
}

/// Reports unknown (a warning), misplaced and repeated annotations and
/// returns ours that apply here, to be interpreted.
pub(crate) fn applicable<'a>(
    annotations: &'a [Annot],
    place: Place,
    rep: &mut Reporter,
) -> Vec<&'a Annot> {
    let mut kept: Vec<&Annot> = Vec::new();
    for annotation in annotations {
        let name = annotation.name.text.as_str();
        let span = annotation.name.span;
        if place.ours().contains(&name) {
            if kept.iter().any(|k| k.name.text == name) {
                rep.error(span, format!("duplicate annotation '@{name}'"));
            } else {
                kept.push(annotation);
            }
            continue;
        }
        let home = [
            (FIELD, "fields and parameters"),
            (METHOD, "methods"),
            (STRUCT, "structs"),
        ]
        .into_iter()
        .find(|(names, _)| names.contains(&name));
        match home {
            Some((_, home)) => {
                let article = if place == Place::Enum { "an" } else { "a" };
                rep.error(
                    span,
                    format!("'@{name}' cannot be used on {article} {}", place.noun()),
                )
                .with_hint(format!("'@{name}' applies to {home}"));
            }
            None => {
                let hint = did_you_mean(name, place.ours().iter().copied());
                rep.warning(span, format!("unknown annotation '@{name}'"))
                    .hint = hint;
            }
        }
    }
    kept
}

/// What a field or parameter annotation is checked against.
pub(crate) struct Target<'a> {
    pub place: Place,
    pub name: &'a str,
    pub ty: &'a Type,
    pub is_enum: bool,
    /// A list whose items are an enum.
    pub item_is_enum: bool,
    pub span: Span,
}

impl Target<'_> {
    fn is_str(&self) -> bool {
        *self.ty == Type::Str
    }

    fn is_number(&self) -> bool {
        matches!(
            self.ty,
            Type::Int(_) | Type::F32 | Type::F64 | Type::Decimal
        )
    }

    fn has_length(&self) -> bool {
        matches!(self.ty, Type::Str | Type::List(_) | Type::Map(..))
    }

    fn is_searchable(&self) -> bool {
        match self.ty {
            Type::Str => true,
            Type::List(item) => **item == Type::Str,
            _ => false,
        }
    }

    fn is_indexable(&self) -> bool {
        self.is_enum || is_scalar(self.ty)
    }

    /// `@index` also takes lists of single values: each item is indexed.
    fn is_multi_indexable(&self) -> bool {
        self.is_indexable()
            || match self.ty {
                Type::List(item) => self.item_is_enum || is_scalar(item),
                _ => false,
            }
    }

    /// Reports `annotation` unless `ok`.
    fn require(&self, ok: bool, annotation: &Annot, applies_to: &str, rep: &mut Reporter) {
        if !ok {
            let name = &annotation.name.text;
            rep.error(
                annotation.name.span,
                format!(
                    "'@{name}' cannot be used on {} '{}' of type '{}'",
                    self.place.noun(),
                    self.name,
                    self.ty
                ),
            )
            .with_hint(format!("'@{name}' applies to {applies_to}"));
        }
    }
}

/// Interprets field annotations (already filtered by [`applicable`]).
pub(crate) fn field_attrs(
    annotations: &[&Annot],
    target: &Target<'_>,
    rep: &mut Reporter,
) -> FieldAttrs {
    let mut attrs = FieldAttrs::default();
    for &annotation in annotations {
        let name = annotation.name.text.as_str();
        match name {
            "index" => {
                no_args(annotation, rep);
                target.require(
                    target.is_multi_indexable(),
                    annotation,
                    MULTI_INDEXABLE,
                    rep,
                );
                attrs.index = true;
            }
            "unique" => {
                attrs.unique_nocase = unique_nocase(annotation, target, rep);
                target.require(target.is_indexable(), annotation, INDEXABLE, rep);
                attrs.unique = true;
                attrs.index = true;
            }
            "search" => {
                no_args(annotation, rep);
                target.require(target.is_searchable(), annotation, "str and [str]", rep);
                attrs.search = true;
            }
            "secret" => {
                no_args(annotation, rep);
                attrs.secret = true;
            }
            "hidden" => {
                no_args(annotation, rep);
                attrs.hidden = true;
            }
            "server" => {
                no_args(annotation, rep);
                attrs.server = true;
            }
            "owner" => {
                no_args(annotation, rep);
                target.require(
                    matches!(target.ty, Type::Ulid | Type::Str),
                    annotation,
                    "the user id field: 'ulid' or 'str'",
                    rep,
                );
                attrs.owner = true;
            }
            "email" => {
                no_args(annotation, rep);
                target.require(target.is_str(), annotation, "str", rep);
                attrs.email = true;
            }
            "min" | "max" => {
                let bound = number(annotation, rep);
                target.require(target.is_number(), annotation, "numbers and decimals", rep);
                if name == "min" {
                    attrs.min = bound;
                } else {
                    attrs.max = bound;
                }
            }
            "minlen" | "maxlen" => {
                let bound = length(annotation, rep);
                target.require(target.has_length(), annotation, "str, lists and maps", rep);
                if name == "minlen" {
                    attrs.min_len = bound;
                } else {
                    attrs.max_len = bound;
                }
            }
            "keymaxlen" => {
                let bound = length(annotation, rep);
                target.require(
                    matches!(target.ty, Type::Map(key, _) if **key == Type::Str),
                    annotation,
                    "maps with str keys",
                    rep,
                );
                attrs.key_max_len = bound;
            }
            "itemmaxlen" => {
                let bound = length(annotation, rep);
                target.require(
                    matches!(target.ty, Type::List(item) | Type::Map(_, item) if **item == Type::Str),
                    annotation,
                    "lists of str and maps with str values",
                    rep,
                );
                attrs.item_max_len = bound;
            }
            _ => {}
        }
    }
    if attrs.secret && attrs.index {
        rep.error(
            target.span,
            format!("'{}' cannot be both @secret and indexed", target.name),
        )
        .with_hint("encrypted values cannot be looked up; use @hidden for one-way hashes that must stay searchable");
    }
    if let (Some(min), Some(max)) = (attrs.min, attrs.max)
        && min > max
    {
        rep.error(
            target.span,
            format!("'{}' has @min({min}) greater than @max({max})", target.name),
        );
    }
    if let (Some(min), Some(max)) = (attrs.min_len, attrs.max_len)
        && min > max
    {
        rep.error(
            target.span,
            format!(
                "'{}' has @minlen({min}) greater than @maxlen({max})",
                target.name
            ),
        );
    }
    attrs
}

const INDEXABLE: &str = "single values: str, bool, integers, ulid, otime, decimal and enums";
const MULTI_INDEXABLE: &str =
    "single values (str, bool, integers, ulid, otime, decimal, enums) and lists of them";

fn is_scalar(ty: &Type) -> bool {
    matches!(
        ty,
        Type::Str | Type::Bool | Type::Int(_) | Type::Ulid | Type::Time | Type::Decimal
    )
}

/// `@hot` on a struct: its records are rewritten often; needs a root object.
pub(crate) fn hot(annotation: &Annot, name: &str, root: bool, rep: &mut Reporter) -> bool {
    no_args(annotation, rep);
    if !root {
        rep.error(
            annotation.name.span,
            format!("'@hot' needs a root object, and '{name}' is not one"),
        )
        .with_hint(format!("put '[rootobject]' in the doc comment of '{name}'"));
    }
    root
}

fn no_args(annotation: &Annot, rep: &mut Reporter) {
    if let Some(first) = annotation.args.first() {
        rep.error(
            first.value.span,
            format!("'@{}' takes no arguments", annotation.name.text),
        );
    }
}

/// The single positional argument of `annotation`.
fn one_value<'a>(annotation: &'a Annot, example: &str, rep: &mut Reporter) -> Option<&'a Val> {
    match annotation.args.as_slice() {
        [arg] if arg.key.is_none() => Some(&arg.value),
        _ => {
            rep.error(
                annotation.name.span,
                format!(
                    "'@{}' takes one value, e.g. '{example}'",
                    annotation.name.text
                ),
            );
            None
        }
    }
}

fn unique_nocase(annotation: &Annot, target: &Target<'_>, rep: &mut Reporter) -> bool {
    if annotation.args.is_empty() {
        return false;
    }
    let value = one_value(annotation, "@unique(nocase)", rep);
    match value.map(|v| (&v.kind, v)) {
        Some((ValKind::Ident(word), value)) if word == "nocase" => {
            if !target.is_str() {
                rep.error(value.span, "'nocase' applies to str fields only");
            }
            true
        }
        Some((_, value)) => {
            rep.error(
                value.span,
                format!(
                    "'@unique' accepts only 'nocase', found {}",
                    value.describe()
                ),
            );
            false
        }
        None => false,
    }
}

fn number(annotation: &Annot, rep: &mut Reporter) -> Option<f64> {
    let example = format!("@{}(0)", annotation.name.text);
    let value = one_value(annotation, &example, rep)?;
    match value.kind {
        ValKind::Number(n) => Some(n),
        _ => {
            rep.error(
                value.span,
                format!(
                    "'@{}' expects a number, found {}",
                    annotation.name.text,
                    value.describe()
                ),
            );
            None
        }
    }
}

fn length(annotation: &Annot, rep: &mut Reporter) -> Option<u64> {
    /// Integers above this do not survive the trip through `f64`.
    const MAX_EXACT: f64 = 9_007_199_254_740_992.0;
    let example = format!("@{}(1)", annotation.name.text);
    let value = one_value(annotation, &example, rep)?;
    match value.kind {
        ValKind::Number(n) if n >= 0.0 && n.fract() == 0.0 && n <= MAX_EXACT => Some(n as u64),
        _ => {
            rep.error(
                value.span,
                format!(
                    "'@{}' expects a non-negative integer, found {}",
                    annotation.name.text,
                    value.describe()
                ),
            );
            None
        }
    }
}

/// Access words out of values: names, "a, b" strings and `[lists]`.
fn access_words(values: &[&Val], rep: &mut Reporter) -> Option<Vec<(String, Span)>> {
    let mut words = Vec::new();
    for value in values {
        match &value.kind {
            ValKind::Ident(word) => words.push((word.clone(), value.span)),
            ValKind::Str(text) => words.extend(
                text.split(',')
                    .map(str::trim)
                    .filter(|w| !w.is_empty())
                    .map(|w| (w.to_owned(), value.span)),
            ),
            ValKind::List(items) => {
                words.extend(access_words(&items.iter().collect::<Vec<_>>(), rep)?);
            }
            ValKind::Number(_) => {
                rep.error(
                    value.span,
                    format!("expected an access value, found {}", value.describe()),
                );
                return None;
            }
        }
    }
    Some(words)
}

/// `public`, `user`, `owner`, `admin`, or one or more roles.
fn access_of(
    words: &[(String, Span)],
    at: Span,
    roles: &[String],
    rep: &mut Reporter,
) -> Option<Access> {
    let is_role = |word: &str| roles.iter().any(|r| r == word);
    match words {
        [] => {
            rep.error(at, "expected an access value")
                .with_hint(access_help(roles));
            None
        }
        [(word, span)] => match word.as_str() {
            "public" => Some(Access::Public),
            "user" => Some(Access::User),
            "owner" => Some(Access::OwnerOrAdmin),
            "admin" => Some(Access::Admin),
            role if is_role(role) => Some(Access::Roles(vec![role.to_owned()])),
            _ => {
                unknown_role(word, *span, roles, rep);
                None
            }
        },
        _ => {
            let mut named = Vec::new();
            for (word, span) in words {
                if is_role(word) {
                    named.push(word.clone());
                } else if LEVELS.contains(&word.as_str()) {
                    rep.error(
                        *span,
                        format!("'{word}' cannot be combined with other access values"),
                    )
                    .with_hint("list roles only, e.g. 'service_provider, app_provider'");
                } else {
                    unknown_role(word, *span, roles, rep);
                }
            }
            (named.len() == words.len()).then_some(Access::Roles(named))
        }
    }
}

fn unknown_role(word: &str, at: Span, roles: &[String], rep: &mut Reporter) {
    let candidates = LEVELS
        .iter()
        .copied()
        .chain(roles.iter().map(String::as_str));
    let hint = did_you_mean(word, candidates).unwrap_or_else(|| access_help(roles));
    rep.error(at, format!("unknown role '{word}'"))
        .with_hint(hint);
}

/// `@access(...)` on a method.
pub(crate) fn access(annotation: &Annot, roles: &[String], rep: &mut Reporter) -> Option<Access> {
    if let Some(keyed) = annotation.args.iter().find_map(|a| a.key.as_ref()) {
        rep.error(
            keyed.span,
            "'@access' takes access values, not 'key: value'",
        )
        .with_hint("e.g. '@access(user)' or '@access(service_provider, app_provider)'");
        return None;
    }
    let values: Vec<&Val> = annotation.args.iter().map(|a| &a.value).collect();
    let words = access_words(&values, rep)?;
    access_of(&words, annotation.name.span, roles, rep)
}

/// The service key `access: "..."`: a comma-separated list of access words.
pub(crate) fn access_text(
    text: &str,
    at: Span,
    roles: &[String],
    rep: &mut Reporter,
) -> Option<Access> {
    let words: Vec<(String, Span)> = text
        .split(',')
        .map(str::trim)
        .filter(|w| !w.is_empty())
        .map(|w| (w.to_owned(), at))
        .collect();
    access_of(&words, at, roles, rep)
}

/// `@error(kind)` on a struct.
pub(crate) fn error_kind(annotation: &Annot, rep: &mut Reporter) -> Option<ErrorKind> {
    let value = one_value(annotation, "@error(conflict)", rep)?;
    let (ValKind::Ident(word) | ValKind::Str(word)) = &value.kind else {
        rep.error(
            value.span,
            format!("'@error' expects an error kind, found {}", value.describe()),
        );
        return None;
    };
    let kind = ErrorKind::from_name(word);
    if kind.is_none() {
        let names = ErrorKind::ALL.map(ErrorKind::name);
        let hint = did_you_mean(word, names)
            .unwrap_or_else(|| format!("error kinds: {}", names.join(", ")));
        rep.error(value.span, format!("unknown error kind '{word}'"))
            .with_hint(hint);
    }
    kind
}

/// What `@crud` is checked against.
pub(crate) struct CrudTarget<'a> {
    pub name: &'a str,
    pub root: bool,
    pub has_owner: bool,
    pub has_index: bool,
    /// The variants of the schema's `Role` enum.
    pub roles: &'a [String],
}

/// `@crud(namespace: "x", get: public, update: owner, ...)` on a struct.
pub(crate) fn crud(annotation: &Annot, target: &CrudTarget<'_>, rep: &mut Reporter) -> Crud {
    let name = target.name;
    if !target.root {
        rep.error(
            annotation.name.span,
            format!("'@crud' needs a root object, and '{name}' is not one"),
        )
        .with_hint(format!("put '[rootobject]' in the doc comment of '{name}'"));
    }
    if annotation.args.is_empty() {
        rep.error(annotation.name.span, "'@crud' needs at least one operation")
            .with_hint("e.g. '@crud(get: public, list: public, create: admin)'");
    }
    let mut namespace = None;
    let mut ops: Vec<(CrudOp, Access)> = Vec::new();
    for arg in &annotation.args {
        let Some(key) = &arg.key else {
            rep.error(
                arg.value.span,
                "'@crud' arguments are written 'operation: access'",
            )
            .with_hint("e.g. '@crud(get: public, update: owner)'");
            continue;
        };
        if key.text == "namespace" {
            namespace = crud_namespace(&arg.value, namespace.is_some(), rep).or(namespace);
            continue;
        }
        let Some(op) = CRUD_OPS.into_iter().find(|op| op.name() == key.text) else {
            let candidates = CRUD_OPS.map(CrudOp::name);
            let hint = did_you_mean(&key.text, candidates.iter().copied().chain(["namespace"]))
                .unwrap_or_else(|| {
                    format!("operations: {}; and 'namespace'", candidates.join(", "))
                });
            rep.error(key.span, format!("unknown @crud operation '{}'", key.text))
                .with_hint(hint);
            continue;
        };
        if ops.iter().any(|(seen, _)| *seen == op) {
            rep.error(
                key.span,
                format!("duplicate @crud operation '{}'", op.name()),
            );
            continue;
        }
        if op == CrudOp::Find && !target.has_index {
            rep.error(
                key.span,
                format!("'find' needs an @index or @unique field in '{name}'"),
            )
            .with_hint("mark the fields to find by with @index");
        }
        let Some(access) = access_words(&[&arg.value], rep)
            .and_then(|words| access_of(&words, arg.value.span, target.roles, rep))
        else {
            continue;
        };
        if access == Access::OwnerOrAdmin {
            if !matches!(op, CrudOp::Get | CrudOp::Update | CrudOp::Delete) {
                rep.error(
                    arg.value.span,
                    format!("'owner' access does not apply to '{}'", op.name()),
                )
                .with_hint("'owner' applies to get, update and delete");
            } else if !target.has_owner {
                rep.error(
                    arg.value.span,
                    format!("'{}: owner' needs an @owner field in '{name}'", op.name()),
                )
                .with_hint("mark the field holding the owner's user id with @owner");
            }
        }
        ops.push((op, access));
    }
    Crud {
        namespace: namespace.unwrap_or_else(|| name.to_lowercase()),
        ops,
    }
}

fn crud_namespace(value: &Val, repeated: bool, rep: &mut Reporter) -> Option<String> {
    if repeated {
        rep.error(value.span, "duplicate @crud namespace");
        return None;
    }
    let (ValKind::Str(text) | ValKind::Ident(text)) = &value.kind else {
        rep.error(
            value.span,
            format!("expected a namespace string, found {}", value.describe()),
        );
        return None;
    };
    if !is_snake(text) {
        rep.error(
            value.span,
            format!("namespace '{text}' must be lower snake_case"),
        )
        .with_hint(format!("e.g. '{}'", to_snake(text)));
    }
    Some(text.clone())
}

/// Turns an annotation into its model form, as written.
pub(crate) fn raw(annotation: &Annot) -> Annotation {
    Annotation {
        name: annotation.name.text.clone(),
        args: annotation
            .args
            .iter()
            .map(|arg| AnnotationArg {
                key: arg.key.as_ref().map(|k| k.text.clone()),
                value: raw_value(&arg.value),
            })
            .collect(),
        span: annotation.name.span,
    }
}

fn raw_value(value: &Val) -> Value {
    match &value.kind {
        ValKind::Ident(name) => Value::Ident(name.clone()),
        ValKind::Str(text) => Value::Str(text.clone()),
        ValKind::Number(n) => Value::Number(*n),
        ValKind::List(items) => Value::List(items.iter().map(raw_value).collect()),
    }
}

/// The keys a service block understands.
pub(crate) const SERVICE_KEYS: &[&str] = &["version", "description", "namespace", "access"];

/// Suggestion for an unknown service key.
pub(crate) fn service_key_hint(key: &str) -> String {
    did_you_mean(key, SERVICE_KEYS.iter().copied())
        .unwrap_or_else(|| format!("known keys: {}", SERVICE_KEYS.join(", ")))
}
