//! The JSON-RPC 2.0 envelope's rules written a second time, from the
//! specification and the server's documented choices, as an oracle: given
//! any body, what `/rpc` must answer. The property tests in `it.rs` and the
//! fuzz target `fuzz/fuzz_targets/jsonrpc_decode.rs` both assert through
//! [`check`], so they hold the decoder to the same rules.
//!
//! The rules, per member of a body (a batch's members each on its own):
//! - text that is not JSON: one `-32700` error, id `null`;
//! - an empty batch, or one over [`BATCH_LIMIT`]: one `-32600` error, id `null`;
//! - not an object, a repeated `id`/`jsonrpc`/`method`/`params` member, or
//!   an `id` that is not a string, a number or `null`: `-32600`, id `null`;
//! - `jsonrpc` other than `"2.0"`, `method` not a string, `params` neither
//!   an object nor an array: `-32600` under the id (`null` when absent);
//! - `params` repeating a key anywhere inside, or holding a number beyond
//!   what a 64-bit float holds: `-32602` under the id;
//! - otherwise a call: no answer without an id (a notification), else the
//!   method's answer under the id exactly as written.
//!
//! The API answered is [`api`]: `echo.params` returns its params (`null`
//! when there are none); `rpc.discover` the OpenRPC document; every other
//! name is `-32601`.

use std::sync::Arc;

use market_rpc::{Access, Caller, Kind, MethodDef, Methods, RpcError};
use market_server::{Api, Authenticator, Endpoint, ServerConfig};
use serde::de::{IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;
use serde_json::{Value, json};

pub const PARSE_ERROR: i64 = -32700;
pub const INVALID_REQUEST: i64 = -32600;
pub const METHOD_NOT_FOUND: i64 = -32601;
pub const INVALID_PARAMS: i64 = -32602;

/// The method that answers its params.
pub const ECHO: &str = "echo.params";
/// Most members of a batch.
pub const BATCH_LIMIT: usize = 8;
/// Deepest nesting [`Doc::parse`] reads; deeper bodies get the looser checks.
const DEPTH: usize = 64;

/// Every caller is anonymous (the oracle sends no token).
struct Anonymous;

impl Authenticator for Anonymous {
    fn authenticate(&self, _token: Option<&str>) -> Result<Caller, RpcError> {
        Ok(Caller::Anonymous)
    }
}

fn openrpc() -> Value {
    json!({"openrpc": "1.3.2", "info": {"title": "envelope", "version": "1"}, "methods": []})
}

/// `echo.params` and, added by the server, `rpc.discover`.
pub fn api() -> Api {
    let mut methods = Methods::new();
    methods.add_raw(MethodDef {
        name: ECHO,
        access: Access::Public,
        kind: Kind::Lookup,
        handler: Arc::new(|_, params| {
            serde_json::value::to_raw_value(&params.unwrap_or(Value::Null))
                .map_err(|_| RpcError::internal())
        }),
    });
    Api {
        methods,
        openrpc: openrpc(),
        doc_html: String::new(),
        authenticator: Arc::new(Anonymous),
        ready: Arc::new(|| true),
        local_reads: Arc::new(|| true),
        events: None,
        write_stats: None,
    }
}

/// Batches of at most [`BATCH_LIMIT`]; no rate limits.
pub fn config() -> ServerConfig {
    ServerConfig {
        batch_limit: BATCH_LIMIT,
        auth_rate_per_min: 0,
        rate_per_min: 0,
        ..ServerConfig::default()
    }
}

pub fn endpoint() -> Endpoint {
    Endpoint::new(api(), &config())
}

/// A JSON value as written: members in order with repeated keys kept,
/// numbers as their text.
#[derive(Debug, Clone, PartialEq)]
pub enum Doc {
    Null,
    Bool(bool),
    Number(String),
    Str(String),
    Array(Vec<Doc>),
    Object(Vec<(String, Doc)>),
}

/// An object's members in order, repeated keys kept, values unread.
struct Members<'a>(Vec<(String, &'a RawValue)>);

impl<'de> Deserialize<'de> for Members<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct MembersVisitor;

        impl<'de> Visitor<'de> for MembersVisitor {
            type Value = Members<'de>;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members<'de>, A::Error> {
                let mut members = Vec::new();
                while let Some(member) = map.next_entry::<String, &'de RawValue>()? {
                    members.push(member);
                }
                Ok(Members(members))
            }
        }

        d.deserialize_map(MembersVisitor)
    }
}

impl Doc {
    /// Read JSON text; `None` when it is not JSON, holds a string that is
    /// not Unicode (a lone surrogate escape) or nests deeper than [`DEPTH`].
    pub fn parse(text: &str) -> Option<Doc> {
        Doc::read(serde_json::from_str(text).ok()?, 0)
    }

    fn read(raw: &RawValue, depth: usize) -> Option<Doc> {
        if depth > DEPTH {
            return None;
        }
        let text = raw.get();
        Some(match text.as_bytes().first()? {
            b'n' => Doc::Null,
            b't' => Doc::Bool(true),
            b'f' => Doc::Bool(false),
            b'"' => Doc::Str(serde_json::from_str(text).ok()?),
            b'[' => {
                let items: Vec<&RawValue> = serde_json::from_str(text).ok()?;
                let items = items.into_iter().map(|i| Doc::read(i, depth + 1));
                Doc::Array(items.collect::<Option<_>>()?)
            }
            b'{' => {
                let Members(members) = serde_json::from_str(text).ok()?;
                let members = members
                    .into_iter()
                    .map(|(key, value)| Some((key, Doc::read(value, depth + 1)?)));
                Doc::Object(members.collect::<Option<_>>()?)
            }
            _ => Doc::Number(text.to_owned()),
        })
    }

    /// Does an object anywhere inside name one key twice?
    fn repeats_a_key(&self) -> bool {
        match self {
            Doc::Array(items) => items.iter().any(Doc::repeats_a_key),
            Doc::Object(members) => {
                members
                    .iter()
                    .enumerate()
                    .any(|(i, (key, _))| members[..i].iter().any(|(k, _)| k == key))
                    || members.iter().any(|(_, v)| v.repeats_a_key())
            }
            _ => false,
        }
    }

    /// Is there a number inside that a 64-bit float cannot hold?
    fn overflows(&self) -> bool {
        match self {
            Doc::Number(text) => serde_json::from_str::<Value>(text).is_err(),
            Doc::Array(items) => items.iter().any(Doc::overflows),
            Doc::Object(members) => members.iter().any(|(_, v)| v.overflows()),
            _ => false,
        }
    }

    /// The value as the server hands it back once read: numbers as
    /// serde_json writes what it reads.
    fn as_read(&self) -> Doc {
        match self {
            Doc::Number(text) => Doc::Number(
                serde_json::from_str::<Value>(text)
                    .map_or_else(|_| text.clone(), |v| v.to_string()),
            ),
            Doc::Array(items) => Doc::Array(items.iter().map(Doc::as_read).collect()),
            Doc::Object(members) => Doc::Object(
                members
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_read()))
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    /// Members sorted by key, at every level: JSON objects have no order.
    fn sorted(&self) -> Doc {
        match self {
            Doc::Array(items) => Doc::Array(items.iter().map(Doc::sorted).collect()),
            Doc::Object(members) => {
                let mut members: Vec<(String, Doc)> = members
                    .iter()
                    .map(|(k, v)| (k.clone(), v.sorted()))
                    .collect();
                members.sort_by(|a, b| a.0.cmp(&b.0));
                Doc::Object(members)
            }
            other => other.clone(),
        }
    }

    /// The member named `key`: `Err` when named twice.
    fn member(&self, key: &str) -> Result<Option<&Doc>, ()> {
        let Doc::Object(members) = self else {
            return Ok(None);
        };
        let mut named = members.iter().filter(|(k, _)| k == key).map(|(_, v)| v);
        match (named.next(), named.next()) {
            (_, Some(_)) => Err(()),
            (first, None) => Ok(first),
        }
    }
}

/// What one member must be answered with.
#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    Result(Doc),
    /// `-32601`, naming the method.
    NotFound(String),
    Error(i64),
}

/// One response: its id (`Doc::Null` when none was readable) and outcome.
#[derive(Debug, Clone, PartialEq)]
struct Expected {
    id: Doc,
    outcome: Outcome,
}

/// What a whole body must be answered with.
#[derive(Debug, Clone, PartialEq)]
enum ExpectedReply {
    /// Notifications only: nothing (HTTP 204).
    Nothing,
    One(Expected),
    Many(Vec<Expected>),
}

fn refused(code: i64, id: &Doc) -> Option<Expected> {
    Some(Expected {
        id: id.clone(),
        outcome: Outcome::Error(code),
    })
}

/// The answer to one member, `None` for a notification.
fn expect_member(request: &Doc) -> Option<Expected> {
    if !matches!(request, Doc::Object(_)) {
        return refused(INVALID_REQUEST, &Doc::Null);
    }
    let (Ok(id), Ok(version), Ok(method), Ok(params)) = (
        request.member("id"),
        request.member("jsonrpc"),
        request.member("method"),
        request.member("params"),
    ) else {
        return refused(INVALID_REQUEST, &Doc::Null);
    };
    if id.is_some_and(|id| !matches!(id, Doc::Null | Doc::Number(_) | Doc::Str(_))) {
        return refused(INVALID_REQUEST, &Doc::Null);
    }
    let answer_id = id.cloned().unwrap_or(Doc::Null);
    if version != Some(&Doc::Str("2.0".to_owned())) {
        return refused(INVALID_REQUEST, &answer_id);
    }
    let Some(Doc::Str(method)) = method else {
        return refused(INVALID_REQUEST, &answer_id);
    };
    match params {
        Some(Doc::Array(_) | Doc::Object(_)) | None => {}
        Some(_) => return refused(INVALID_REQUEST, &answer_id),
    }
    if params.is_some_and(|p| p.repeats_a_key() || p.overflows()) {
        return refused(INVALID_PARAMS, &answer_id);
    }
    let outcome = match method.as_str() {
        ECHO => Outcome::Result(params.map_or(Doc::Null, Doc::as_read)),
        "rpc.discover" => Outcome::Result(
            Doc::parse(&openrpc().to_string()).expect("the OpenRPC document is JSON"),
        ),
        _ => Outcome::NotFound(method.clone()),
    };
    Some(Expected {
        id: id?.clone(),
        outcome,
    })
}

/// The answer to a whole body that is JSON.
fn expect(body: &Doc) -> ExpectedReply {
    let answers: Vec<Expected> = match body {
        Doc::Array(members) if members.is_empty() || members.len() > BATCH_LIMIT => {
            return ExpectedReply::One(Expected {
                id: Doc::Null,
                outcome: Outcome::Error(INVALID_REQUEST),
            });
        }
        Doc::Array(members) => members.iter().filter_map(expect_member).collect(),
        single => return expect_member(single).map_or(ExpectedReply::Nothing, ExpectedReply::One),
    };
    if answers.is_empty() {
        ExpectedReply::Nothing
    } else {
        ExpectedReply::Many(answers)
    }
}

/// A member that is present, even when it is `null`.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Box<RawValue>>, D::Error> {
    Box::<RawValue>::deserialize(d).map(Some)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorObject {
    pub code: i64,
    pub message: String,
    /// Allowed by the specification; what it holds is the method's business.
    #[serde(default, rename = "data")]
    _data: Option<IgnoredAny>,
}

/// One response object as sent, its id and result unread.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Answer {
    pub jsonrpc: String,
    #[serde(default, deserialize_with = "present")]
    pub result: Option<Box<RawValue>>,
    #[serde(default)]
    pub error: Option<ErrorObject>,
    pub id: Box<RawValue>,
}

/// A whole reply as sent.
#[derive(Debug)]
pub enum Reply {
    Nothing,
    One(Answer),
    Many(Vec<Answer>),
}

impl Reply {
    /// Read an answer of the endpoint: JSON, made of well-formed responses.
    pub fn read(reply: Option<&[u8]>) -> Reply {
        let Some(bytes) = reply else {
            return Reply::Nothing;
        };
        let text = std::str::from_utf8(bytes).expect("answers are UTF-8");
        let read = if text.starts_with('[') {
            serde_json::from_str(text).map(Reply::Many)
        } else {
            serde_json::from_str(text).map(Reply::One)
        };
        let reply = read.unwrap_or_else(|e| panic!("not a JSON-RPC answer ({e}): {text}"));
        for answer in reply.answers() {
            assert_eq!(answer.jsonrpc, "2.0", "{text}");
            match (&answer.result, &answer.error) {
                (Some(_), None) => {}
                (None, Some(error)) => assert!(
                    [
                        PARSE_ERROR,
                        INVALID_REQUEST,
                        METHOD_NOT_FOUND,
                        INVALID_PARAMS
                    ]
                    .contains(&error.code)
                        && !error.message.is_empty(),
                    "not a standard error: {text}"
                ),
                _ => panic!("a response holds a result or an error: {text}"),
            }
        }
        reply
    }

    pub fn answers(&self) -> &[Answer] {
        match self {
            Reply::Nothing => &[],
            Reply::One(answer) => std::slice::from_ref(answer),
            Reply::Many(answers) => answers,
        }
    }
}

/// Is `body` JSON text at all?
fn is_json(body: &[u8]) -> bool {
    std::str::from_utf8(body).is_ok() && serde_json::from_slice::<IgnoredAny>(body).is_ok()
}

fn matches(expected: &Expected, answer: &Answer, body: &str) {
    let id = Doc::parse(answer.id.get());
    assert_eq!(id.as_ref(), Some(&expected.id), "the id, for {body:?}");
    let error = answer.error.as_ref();
    match &expected.outcome {
        Outcome::Result(doc) => {
            let result = answer.result.as_ref().and_then(|r| Doc::parse(r.get()));
            assert_eq!(
                result.map(|r| r.sorted()),
                Some(doc.sorted()),
                "the result, for {body:?} (error {error:?})"
            );
        }
        Outcome::NotFound(method) => {
            let error = error.unwrap_or_else(|| panic!("method not found, for {body:?}"));
            assert_eq!(error.code, METHOD_NOT_FOUND, "for {body:?}");
            assert!(error.message.contains(method.as_str()), "{error:?}");
        }
        Outcome::Error(code) => {
            assert_eq!(
                error.map(|e| e.code),
                Some(*code),
                "the error, for {body:?}"
            );
        }
    }
}

/// Assert that `reply` is what [`endpoint`] must answer to `body`.
pub fn check(body: &[u8], reply: Option<&[u8]>) {
    // Lossless once the body is known to be JSON (which is UTF-8).
    let shown = String::from_utf8_lossy(body);
    if !is_json(body) {
        let reply = Reply::read(reply);
        let Reply::One(answer) = &reply else {
            panic!("one parse error for {shown:?}, not {reply:?}");
        };
        assert_eq!(answer.error.as_ref().map(|e| e.code), Some(PARSE_ERROR));
        assert_eq!(answer.id.get(), "null");
        return;
    }
    let reply = Reply::read(reply);
    match Doc::parse(&shown) {
        Some(doc) => match (expect(&doc), &reply) {
            (ExpectedReply::Nothing, Reply::Nothing) => {}
            (ExpectedReply::One(expected), Reply::One(answer)) => {
                matches(&expected, answer, &shown);
            }
            (ExpectedReply::Many(expected), Reply::Many(answers))
                if expected.len() == answers.len() =>
            {
                for (e, a) in expected.iter().zip(answers) {
                    matches(e, a, &shown);
                }
            }
            (expected, reply) => panic!("for {shown:?}: expected {expected:?}, got {reply:?}"),
        },
        None => loosely(&shown, &reply),
    }
}

/// Bodies the oracle cannot read to the end (a lone surrogate escape, deep
/// nesting): the reply's shape, and ids that are `null` or written in the body.
fn loosely(body: &str, reply: &Reply) {
    let members = body
        .trim_start()
        .starts_with('[')
        .then(|| serde_json::from_str::<Vec<IgnoredAny>>(body).map_or(0, |m| m.len()));
    match (members, reply) {
        (_, Reply::Nothing) => {}
        (Some(n), Reply::One(answer)) => {
            assert!(n == 0 || n > BATCH_LIMIT, "a batch of {n}: {body:?}");
            assert_eq!(answer.error.as_ref().map(|e| e.code), Some(INVALID_REQUEST));
            assert_eq!(answer.id.get(), "null");
        }
        (Some(n), Reply::Many(answers)) => {
            assert!(answers.len() <= n && n <= BATCH_LIMIT, "{body:?}");
        }
        (None, Reply::One(_)) => {}
        (None, Reply::Many(_)) => panic!("a batch answer to a single body: {body:?}"),
    }
    for answer in reply.answers() {
        let id = answer.id.get();
        assert!(id == "null" || body.contains(id), "id {id} for {body:?}");
    }
}
