//! Reading named params: structural problems are `-32602`, values that break
//! a schema rule are `invalid_input` with `data.fields`.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::error::RpcError;

/// The JSON type a param must have on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    String,
    Integer,
    Number,
    Bool,
    Array,
    Object,
    Any,
    /// A string holding a plain decimal number (`12.50`, `-3`).
    Decimal,
}

/// `-?digits(.digits)?`: how money and other decimals are written on the wire.
pub fn is_plain_decimal(s: &str) -> bool {
    let digits = s.strip_prefix('-').unwrap_or(s);
    let (int, frac) = match digits.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (digits, None),
    };
    let all_digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    all_digits(int) && frac.is_none_or(all_digits)
}

impl Shape {
    fn accepts(self, v: &Value) -> bool {
        match self {
            Shape::String | Shape::Decimal => v.is_string(),
            Shape::Integer => v.is_i64() || v.is_u64(),
            Shape::Number => v.is_number(),
            Shape::Bool => v.is_boolean(),
            Shape::Array => v.is_array(),
            Shape::Object => v.is_object(),
            Shape::Any => true,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Shape::String => "a string",
            Shape::Integer => "an integer",
            Shape::Number => "a number",
            Shape::Bool => "a boolean",
            Shape::Array => "an array",
            Shape::Object => "an object",
            Shape::Any => "any value",
            Shape::Decimal => "a decimal string such as \"12.50\"",
        }
    }
}

/// Types that can be read from named params (implemented by generated code).
pub trait FromParams: Sized {
    fn from_params(reader: &mut ParamReader) -> Result<Self, RpcError>;
}

/// Parse JSON-RPC `params` into `P`: absent params read as `{}`; positional
/// (array) params are refused.
pub fn parse_params<P: FromParams>(params: Option<Value>) -> Result<P, RpcError> {
    let map = match params {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m,
        Some(_) => {
            return Err(RpcError::invalid_params(
                "params must be an object of named params",
            ));
        }
    };
    let mut reader = ParamReader {
        map,
        structural: None,
        fields: FieldErrors::default(),
    };
    let parsed = P::from_params(&mut reader);
    reader.finish()?;
    parsed
}

/// Takes params out of the request one by one, remembering every problem.
pub struct ParamReader {
    map: Map<String, Value>,
    structural: Option<String>,
    fields: FieldErrors,
}

impl ParamReader {
    fn take<T: DeserializeOwned>(
        &mut self,
        name: &str,
        shape: Shape,
        required: bool,
    ) -> Result<Option<T>, RpcError> {
        let value = match self.map.remove(name) {
            None | Some(Value::Null) if !required => return Ok(None),
            None | Some(Value::Null) => {
                return Err(self.structural(format!("missing required param '{name}'")));
            }
            Some(v) => v,
        };
        if !shape.accepts(&value) {
            return Err(self.structural(format!("param '{name}' must be {}", shape.name())));
        }
        if shape == Shape::Decimal && !value.as_str().is_some_and(is_plain_decimal) {
            self.fields
                .add(name, "must be a decimal number such as 12.50");
            return Err(RpcError::invalid_input(format!("invalid value for {name}")));
        }
        // A member no field takes, at any depth, is as structural as an
        // unknown param.
        let mut unknown = None;
        let parsed = serde_ignored::deserialize(value, |path| {
            unknown.get_or_insert_with(|| path.to_string());
        });
        match (parsed, unknown) {
            (Ok(_), Some(at)) => Err(self.structural(format!("unknown field '{name}.{at}'"))),
            (Ok(v), None) => Ok(Some(v)),
            (Err(e), _) => {
                self.fields.add(name, clean_serde_message(&e.to_string()));
                Err(RpcError::invalid_input(format!("invalid value for {name}")))
            }
        }
    }

    fn structural(&mut self, message: String) -> RpcError {
        let err = RpcError::invalid_params(message.clone());
        self.structural.get_or_insert(message);
        err
    }

    /// A param that must be present.
    pub fn required<T: DeserializeOwned>(
        &mut self,
        name: &str,
        shape: Shape,
    ) -> Result<T, RpcError> {
        self.take(name, shape, true)?
            .ok_or_else(|| RpcError::invalid_params(format!("missing required param '{name}'")))
    }

    /// A param that may be absent (or null).
    pub fn optional<T: DeserializeOwned>(
        &mut self,
        name: &str,
        shape: Shape,
    ) -> Result<Option<T>, RpcError> {
        self.take(name, shape, false)
    }

    /// Record a rule broken by a param that was read.
    pub fn fields(&mut self) -> &mut FieldErrors {
        &mut self.fields
    }

    fn finish(self) -> Result<(), RpcError> {
        if let Some(message) = self.structural {
            return Err(RpcError::invalid_params(message));
        }
        if let Some(unknown) = self.map.keys().next() {
            return Err(RpcError::invalid_params(format!(
                "unknown param '{unknown}'"
            )));
        }
        self.fields.into_result()
    }
}

/// serde's messages end with a position that means nothing to a caller.
fn clean_serde_message(message: &str) -> String {
    match message.find(" at line ") {
        Some(at) => message[..at].to_string(),
        None => message.to_string(),
    }
}

/// Broken rules by field name; empty means valid.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct FieldErrors(BTreeMap<String, String>);

impl FieldErrors {
    pub fn add(&mut self, field: &str, reason: impl Into<String>) {
        self.0
            .entry(field.to_string())
            .or_insert_with(|| reason.into());
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `invalid_input` with `data.fields` when anything was recorded.
    pub fn into_result(self) -> Result<(), RpcError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(RpcError::invalid_fields(self.0))
        }
    }
}

/// Objects that check the schema's field rules (generated for every schema type).
pub trait Validate {
    /// Record broken rules, naming fields below the path `at`.
    fn validate_at(&self, at: &str, errs: &mut FieldErrors);

    /// `invalid_input` with every broken rule, or `Ok`.
    fn validate(&self) -> Result<(), RpcError> {
        let mut errs = FieldErrors::default();
        self.validate_at("", &mut errs);
        errs.into_result()
    }
}

/// The name of `field` below the path `at` (`items[2].quantity`).
pub fn path(at: &str, field: &str) -> String {
    if at.is_empty() {
        field.to_string()
    } else {
        format!("{at}.{field}")
    }
}

/// The rules the schema's field annotations declare, checked by generated code.
pub mod rules {
    use super::*;

    /// Numbers (`@min`/`@max`).
    pub fn range(
        errs: &mut FieldErrors,
        field: &str,
        value: f64,
        min: Option<f64>,
        max: Option<f64>,
    ) {
        if let Some(min) = min.filter(|m| value < *m) {
            errs.add(field, format!("must be at least {min}"));
        }
        if let Some(max) = max.filter(|m| value > *m) {
            errs.add(field, format!("must be at most {max}"));
        }
    }

    /// Largest decimal accepted anywhere: far above any real amount, far
    /// below where sums could overflow.
    pub const DECIMAL_LIMIT: i64 = 1_000_000_000_000_000;

    /// Decimals: `@min`/`@max` compared as decimals, at most six decimal
    /// places, and a sane size.
    pub fn decimal(
        errs: &mut FieldErrors,
        field: &str,
        value: &Decimal,
        min: Option<Decimal>,
        max: Option<Decimal>,
    ) {
        if value.normalize().scale() > 6 {
            errs.add(field, "at most 6 decimal places");
        }
        if value.abs() >= Decimal::from(DECIMAL_LIMIT) {
            errs.add(field, "too large");
        }
        if let Some(min) = min.filter(|m| value < m) {
            errs.add(field, format!("must be at least {}", min.normalize()));
        }
        if let Some(max) = max.filter(|m| value > m) {
            errs.add(field, format!("must be at most {}", max.normalize()));
        }
    }

    /// Lengths (`@minlen`/`@maxlen`): chars of a string, items of a list.
    pub fn length(
        errs: &mut FieldErrors,
        field: &str,
        len: usize,
        min: Option<u64>,
        max: Option<u64>,
    ) {
        let len = len as u64;
        if let Some(min) = min.filter(|m| len < *m) {
            if min == 1 {
                errs.add(field, "must not be empty");
            } else {
                errs.add(field, format!("must be at least {min} long"));
            }
        }
        if let Some(max) = max.filter(|m| len > *m) {
            errs.add(field, format!("must be at most {max} long"));
        }
    }

    /// Text lengths: `@minlen` counts the characters that are not leading or
    /// trailing whitespace (so "   " is empty), `@maxlen` all of them. Text
    /// holds no control characters but newline and tab, and no bidi
    /// override or isolate characters (which make text display other than
    /// it reads).
    pub fn text(
        errs: &mut FieldErrors,
        field: &str,
        value: &str,
        min: Option<u64>,
        max: Option<u64>,
    ) {
        length(errs, field, value.trim().chars().count(), min, None);
        length(errs, field, value.chars().count(), None, max);
        if let Some(reason) = forbidden_char(value) {
            errs.add(field, reason);
        }
    }

    /// Keys of a map (`@keymaxlen`): plain text of at most `max` characters.
    pub fn map_key(errs: &mut FieldErrors, field: &str, key: &str, max: u64) {
        if key.chars().count() as u64 > max {
            errs.add(field, format!("keys must be at most {max} long"));
        } else if let Some(reason) = forbidden_char(key) {
            errs.add(field, format!("keys: {reason}"));
        }
    }

    /// Bidi embeddings, overrides and isolates.
    fn is_bidi_control(c: char) -> bool {
        matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
    }

    /// Why `text` may not be stored, if it may not.
    fn forbidden_char(text: &str) -> Option<&'static str> {
        for c in text.chars() {
            if c.is_control() && c != '\n' && c != '\t' {
                return Some("must not contain control characters (only newline and tab)");
            }
            if is_bidi_control(c) {
                return Some("must not contain bidirectional override characters");
            }
        }
        None
    }

    /// Zero-width and other invisible format characters.
    fn is_invisible(c: char) -> bool {
        matches!(c, '\u{200B}'..='\u{200F}' | '\u{2060}'..='\u{2064}' | '\u{FEFF}' | '\u{00AD}')
    }

    /// `@email`: one `@` with text on both sides and a dot in the domain,
    /// no whitespace, control or invisible characters.
    pub fn email(errs: &mut FieldErrors, field: &str, value: &str) {
        let ok = match value.split_once('@') {
            Some((local, domain)) => {
                !local.is_empty()
                    && !domain.contains('@')
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
                    && !value.chars().any(|c| {
                        c.is_whitespace() || c.is_control() || is_bidi_control(c) || is_invisible(c)
                    })
            }
            None => false,
        };
        if !ok {
            errs.add(field, "must be an email address");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{INVALID_PARAMS, RpcError};

    #[derive(Debug)]
    struct P {
        name: String,
        count: Option<u32>,
        price: Option<Decimal>,
    }

    impl FromParams for P {
        fn from_params(r: &mut ParamReader) -> Result<Self, RpcError> {
            let name = r.required::<String>("name", Shape::String);
            let count = r.optional::<u32>("count", Shape::Integer);
            let price = r.optional::<Decimal>("price", Shape::String);
            let p = P {
                name: name?,
                count: count?,
                price: price?,
            };
            rules::length(r.fields(), "name", p.name.chars().count(), Some(1), Some(5));
            if let Some(price) = &p.price {
                rules::decimal(r.fields(), "price", price, Some(Decimal::ZERO), None);
            }
            Ok(p)
        }
    }

    fn parse(v: Value) -> Result<P, RpcError> {
        parse_params::<P>(Some(v))
    }

    fn fields(e: &RpcError) -> Value {
        e.data
            .as_ref()
            .and_then(|d| d.get("fields"))
            .cloned()
            .unwrap_or(Value::Null)
    }

    #[test]
    fn structural_problems_are_invalid_params() {
        for bad in [
            serde_json::json!({}),
            serde_json::json!({"name": 3}),
            serde_json::json!({"name": "a", "extra": 1}),
            serde_json::json!(["a"]),
            serde_json::json!({"name": "a", "count": "3"}),
            serde_json::json!({"name": "a", "price": 1.5}),
        ] {
            let e = parse(bad.clone()).unwrap_err();
            assert_eq!(e.code, INVALID_PARAMS, "{bad}: {e}");
        }
        assert_eq!(parse_params::<P>(None).unwrap_err().code, INVALID_PARAMS);
    }

    #[test]
    fn value_problems_are_invalid_input_with_every_field() {
        let e =
            parse(serde_json::json!({"name": "", "count": -1, "price": "1.1234567"})).unwrap_err();
        assert_eq!(e.kind(), Some("invalid_input"));
        let f = fields(&e);
        assert!(f.get("count").is_some(), "{f}");
        let e = parse(serde_json::json!({"name": "toolong", "price": "-1"})).unwrap_err();
        let f = fields(&e);
        assert_eq!(f["name"], "must be at most 5 long");
        assert_eq!(f["price"], "must be at least 0");
        let e = parse(serde_json::json!({"name": "ok", "price": "1.1234567"})).unwrap_err();
        assert_eq!(fields(&e)["price"], "at most 6 decimal places");
        let e = parse(serde_json::json!({"name": "ok", "price": "abc"})).unwrap_err();
        assert_eq!(e.kind(), Some("invalid_input"));
        let ok = parse(serde_json::json!({"name": "ok", "count": null, "price": "2.50"})).unwrap();
        assert_eq!(
            (ok.name.as_str(), ok.count, ok.price.map(|p| p.to_string())),
            ("ok", None, Some("2.50".into()))
        );
    }

    #[test]
    fn decimals_are_plain_and_text_is_trimmed_for_minimums() {
        for (v, ok) in [
            ("12.50", true),
            ("-3", true),
            ("0.000001", true),
            ("1e3", false),
            ("1_000", false),
            ("+3", false),
            ("3.", false),
            (".5", false),
            ("", false),
            ("-", false),
        ] {
            assert_eq!(is_plain_decimal(v), ok, "{v}");
        }
        let mut e = FieldErrors::default();
        rules::text(&mut e, "name", "   ", Some(1), Some(10));
        assert!(!e.is_empty());
        let mut e = FieldErrors::default();
        rules::text(&mut e, "name", " ok ", Some(1), Some(4));
        assert!(e.is_empty());
        let mut e = FieldErrors::default();
        rules::decimal(
            &mut e,
            "amount",
            &Decimal::from(rules::DECIMAL_LIMIT),
            None,
            None,
        );
        assert!(!e.is_empty());
    }

    #[test]
    fn email_rule() {
        for (v, ok) in [
            ("a@b.io", true),
            ("a@b", false),
            ("@b.io", false),
            ("a b@c.io", false),
            ("a@@b.io", false),
        ] {
            let mut e = FieldErrors::default();
            rules::email(&mut e, "email", v);
            assert_eq!(e.is_empty(), ok, "{v}");
        }
    }
}
