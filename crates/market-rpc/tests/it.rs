//! The runtime on its own, without a schema: small hand-written types in
//! the shape the generator writes them, registered with `Methods::add` and
//! called through `Methods::call`, the one path every transport takes.

// Tests fail by panicking: unwrap, expect and panic are how they assert.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

/// `Record::meta` and `Record::set_meta` of a type with the four meta
/// fields, as the generator writes them.
macro_rules! record_meta {
    () => {
        fn meta(&self) -> Meta {
            Meta {
                id: self.id,
                created_at: self.created_at,
                updated_at: self.updated_at,
                version: self.version,
            }
        }

        fn set_meta(&mut self, meta: Meta) {
            self.id = meta.id;
            self.created_at = meta.created_at;
            self.updated_at = meta.updated_at;
            self.version = meta.version;
        }
    };
}

mod support {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use market_rpc::{Caller, Ctx, FromParams, Methods, ParamReader, Principal, Redact, RpcError};
    use market_store::{Db, ManualClock, RedbBackend};
    use serde_json::Value;

    pub const ALICE: &str = "01J0000000000000000000000A";
    pub const BOB: &str = "01J0000000000000000000000B";

    pub fn user(id: &str, roles: &[&str]) -> Caller {
        Caller::User(Principal {
            user_id: id.parse().expect("a valid test id"),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            token_id: None,
            api_key: false,
        })
    }

    /// Call `method` as `caller`; the result as it would go on the wire.
    pub fn call_raw(
        methods: &Methods,
        method: &str,
        caller: Caller,
        params: Option<Value>,
    ) -> Result<String, RpcError> {
        let ctx = Ctx::new("req", method, caller);
        methods.call(&ctx, params).map(|raw| raw.get().to_string())
    }

    /// Call `method` as `caller` with `params`; the result as JSON.
    pub fn call(
        methods: &Methods,
        method: &str,
        caller: Caller,
        params: Value,
    ) -> Result<Value, RpcError> {
        call_raw(methods, method, caller, Some(params))
            .map(|text| serde_json::from_str(&text).expect("results are JSON"))
    }

    /// The code and `data.kind` of an error.
    pub fn code_kind(e: &RpcError) -> (i32, Option<String>) {
        (e.code, e.kind().map(str::to_string))
    }

    /// `data.fields` of an error, or null.
    pub fn fields(e: &RpcError) -> Value {
        e.data
            .as_ref()
            .and_then(|d| d.get("fields"))
            .cloned()
            .unwrap_or(Value::Null)
    }

    /// Counts how often handlers ran.
    #[derive(Clone, Default)]
    pub struct Runs(Arc<AtomicUsize>);

    impl Runs {
        pub fn hit(&self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }

        pub fn count(&self) -> usize {
            self.0.load(Ordering::SeqCst)
        }
    }

    /// A method without params.
    pub struct NoParams;

    impl FromParams for NoParams {
        fn from_params(_: &mut ParamReader) -> Result<Self, RpcError> {
            Ok(NoParams)
        }
    }

    /// A database in a temporary redb file.
    pub struct TempDb {
        pub db: Arc<Db>,
        _dir: tempfile::TempDir,
    }

    pub fn temp_db() -> TempDb {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let backend = RedbBackend::open(&dir.path().join("t.redb")).expect("a new redb file");
        let clock = Arc::new(ManualClock::new(
            "2026-01-01T00:00:00Z".parse().expect("a timestamp"),
        ));
        TempDb {
            db: Arc::new(Db::new(Arc::new(backend), clock)),
            _dir: dir,
        }
    }

    /// Results that are plain JSON values.
    #[derive(serde::Serialize)]
    pub struct Echo(pub Value);

    impl Redact for Echo {}
}

mod errors {
    use std::collections::BTreeMap;

    use market_rpc::{ErrorKind, RpcError};
    use market_store::StoreError;
    use serde_json::json;

    #[test]
    fn protocol_errors_have_their_codes_and_no_data() {
        for (e, code) in [
            (RpcError::parse_error("eof"), -32700),
            (RpcError::invalid_request("no method"), -32600),
            (RpcError::method_not_found("a.b"), -32601),
            (RpcError::invalid_params("missing"), -32602),
            (RpcError::internal(), -32603),
        ] {
            assert_eq!(e.code, code, "{e}");
            assert_eq!(e.data, None, "{e}");
            assert_eq!(e.kind(), None);
            assert_eq!(e.to_json(), json!({"code": code, "message": e.message}));
        }
        assert_eq!(RpcError::parse_error("eof").message, "parse error: eof");
        assert_eq!(
            RpcError::method_not_found("a.b").message,
            "method 'a.b' not found"
        );
        assert_eq!(RpcError::internal().message, "internal error");
        assert!(RpcError::internal().is_internal());
        assert!(!RpcError::invalid_params("x").is_internal());
        assert_eq!(
            RpcError::method_not_found("a.b").to_string(),
            "method 'a.b' not found (-32601)"
        );
    }

    #[test]
    fn application_errors_carry_the_code_and_kind_of_the_contract() {
        let contract = [
            (ErrorKind::InvalidInput, 4000, "invalid_input"),
            (ErrorKind::Unauthenticated, 4010, "unauthenticated"),
            (ErrorKind::InsufficientFunds, 4020, "insufficient_funds"),
            (ErrorKind::Forbidden, 4030, "forbidden"),
            (ErrorKind::NotFound, 4040, "not_found"),
            (ErrorKind::Conflict, 4090, "conflict"),
            (ErrorKind::IdempotencyMismatch, 4091, "idempotency_mismatch"),
            (ErrorKind::InvalidState, 4220, "invalid_state"),
            (ErrorKind::RateLimited, 4290, "rate_limited"),
        ];
        assert_eq!(contract.len(), ErrorKind::ALL.len());
        for (kind, code, name) in contract {
            let e = RpcError::app(kind, "why");
            assert_eq!(
                e.to_json(),
                json!({"code": code, "message": "why", "data": {"kind": name}})
            );
            assert_eq!(e.kind(), Some(name));
        }
        for (e, name) in [
            (RpcError::invalid_input("x"), "invalid_input"),
            (RpcError::not_found("x"), "not_found"),
            (RpcError::conflict("x"), "conflict"),
            (RpcError::forbidden("x"), "forbidden"),
            (RpcError::unauthenticated("x"), "unauthenticated"),
            (RpcError::invalid_state("x"), "invalid_state"),
        ] {
            assert_eq!(e.kind(), Some(name));
        }
    }

    #[test]
    fn data_grows_without_losing_the_kind() {
        let e = RpcError::conflict("taken")
            .with_data("field", json!("email"))
            .with_data("current_version", json!(3));
        assert_eq!(
            e.data,
            Some(json!({"kind": "conflict", "field": "email", "current_version": 3}))
        );
        // a protocol error gets a data object of its own
        let e = RpcError::invalid_request("too big").with_data("limit_bytes", json!(10));
        assert_eq!(e.to_json()["data"], json!({"limit_bytes": 10}));
        assert_eq!(e.kind(), None);
    }

    #[test]
    fn invalid_fields_names_every_field_in_order() {
        let e = RpcError::invalid_fields(BTreeMap::from([
            ("quantity".to_string(), "must be at least 1".to_string()),
            ("name".to_string(), "must not be empty".to_string()),
        ]));
        assert_eq!(
            e.to_json(),
            json!({
                "code": 4000,
                "message": "invalid value for name, quantity",
                "data": {"kind": "invalid_input", "fields": {
                    "name": "must not be empty",
                    "quantity": "must be at least 1"
                }}
            })
        );
    }

    #[test]
    fn storage_errors_map_to_application_errors_and_hide_internals() {
        let e = RpcError::from(StoreError::NotFound {
            kind: "product",
            id: "01J0000000000000000000000A".into(),
        });
        assert_eq!(e.to_json()["data"], json!({"kind": "not_found"}));
        assert_eq!(e.message, "product not found");

        let e = RpcError::from(StoreError::StaleVersion {
            kind: "product",
            id: "x".into(),
            expected: 2,
            actual: 5,
        });
        assert_eq!(e.code, 4090);
        assert_eq!(
            e.data,
            Some(json!({"kind": "conflict", "current_version": 5}))
        );

        let e = RpcError::from(StoreError::UniqueTaken {
            kind: "user",
            field: "email",
            value: "a@b.io".into(),
        });
        assert_eq!(e.data, Some(json!({"kind": "conflict", "field": "email"})));
        assert!(!e.message.contains("a@b.io"), "{e}");

        let e = RpcError::from(StoreError::BadCursor);
        assert_eq!(e.code, 4000);
        assert!(
            e.data
                .as_ref()
                .is_some_and(|d| d["fields"]["cursor"].is_string())
        );

        let e = RpcError::from(StoreError::NoIndex {
            kind: "user",
            field: "nickname".into(),
        });
        assert_eq!(e.kind(), Some("invalid_input"));
        assert_eq!(
            e.data.as_ref().map(|d| d["fields"]["field"].clone()),
            Some(json!("'nickname' is not an indexed field"))
        );

        for hidden in [
            StoreError::Backend("disk /var/lib/x failed".into()),
            StoreError::Corrupt {
                table: "user".into(),
                reason: "bad json".into(),
            },
            StoreError::NoSecretKey,
            StoreError::BatchFailed,
        ] {
            let e = RpcError::from(hidden);
            assert_eq!(
                e.to_json(),
                json!({"code": -32603, "message": "internal error"})
            );
        }
    }
}

mod dispatch {
    use market_rpc::{Access, Caller, Ctx, Methods, RpcError};
    use serde_json::json;

    use crate::support::{ALICE, BOB, NoParams, Runs, call, code_kind, user};

    const SELLERS: &[&str] = &["app_provider", "service_provider"];

    const METHODS: [(&str, Access); 5] = [
        ("t.public", Access::Public),
        ("t.user", Access::User),
        ("t.sellers", Access::Roles(SELLERS)),
        ("t.owner", Access::OwnerOrAdmin),
        ("t.admin", Access::Admin),
    ];

    /// One method per access rule; each answers the caller's audit identity.
    fn table(runs: &Runs) -> Methods {
        let mut m = Methods::new();
        for (name, access) in METHODS {
            let runs = runs.clone();
            m.add(
                name,
                access,
                market_rpc::Kind::Read,
                move |ctx: &Ctx, _: NoParams| {
                    runs.hit();
                    Ok::<_, RpcError>(ctx.actor().actor_id)
                },
            );
        }
        m
    }

    #[test]
    fn unknown_methods_are_method_not_found() {
        let runs = Runs::default();
        let m = table(&runs);
        for name in ["t.nope", "T.public", "t.public ", "", "public"] {
            let e = call(&m, name, Caller::System, json!({})).unwrap_err();
            assert_eq!(e.code, -32601, "{name:?}");
            assert_eq!(e.data, None);
            assert_eq!(e.message, format!("method '{name}' not found"));
        }
        assert_eq!(runs.count(), 0);
    }

    #[test]
    fn every_access_rule_against_every_kind_of_caller() {
        let callers = [
            Caller::Anonymous,
            user(ALICE, &[]),
            user(ALICE, &["customer"]),
            user(ALICE, &["customer", "service_provider"]),
            user(BOB, &["admin"]),
            Caller::System,
        ];
        let expected: [[&str; 6]; 5] = [
            // anonymous, no roles, customer, seller, admin, system
            ["ok", "ok", "ok", "ok", "ok", "ok"],
            ["unauth", "ok", "ok", "ok", "ok", "ok"],
            ["unauth", "forbidden", "forbidden", "ok", "ok", "ok"],
            ["unauth", "ok", "ok", "ok", "ok", "ok"],
            ["unauth", "forbidden", "forbidden", "forbidden", "ok", "ok"],
        ];
        for ((name, _), row) in METHODS.iter().zip(expected) {
            for (caller, want) in callers.iter().zip(row) {
                let runs = Runs::default();
                let m = table(&runs);
                let got = call(&m, name, caller.clone(), json!({}));
                let who = format!("{name} as {caller:?}");
                match want {
                    "ok" => {
                        let actor = match caller {
                            Caller::Anonymous => "anonymous".to_string(),
                            Caller::System => "system".to_string(),
                            Caller::User(p) => p.user_id.to_string(),
                        };
                        assert_eq!(got, Ok(json!(actor)), "{who}");
                        assert_eq!(runs.count(), 1, "{who}");
                    }
                    "unauth" => {
                        let e = got.unwrap_err();
                        assert_eq!(
                            code_kind(&e),
                            (4010, Some("unauthenticated".into())),
                            "{who}"
                        );
                        assert_eq!(runs.count(), 0, "{who}: the handler must not run");
                    }
                    _ => {
                        let e = got.unwrap_err();
                        assert_eq!(code_kind(&e), (4030, Some("forbidden".into())), "{who}");
                        assert_eq!(runs.count(), 0, "{who}: the handler must not run");
                    }
                }
            }
        }
    }

    #[test]
    fn role_names_match_exactly() {
        let runs = Runs::default();
        let m = table(&runs);
        for roles in [
            &["Admin"][..],
            &["admin "],
            &["App_Provider"],
            &["provider"],
        ] {
            let e = call(&m, "t.admin", user(ALICE, roles), json!({})).unwrap_err();
            assert_eq!(e.kind(), Some("forbidden"), "{roles:?}");
            let e = call(&m, "t.sellers", user(ALICE, roles), json!({})).unwrap_err();
            assert_eq!(e.kind(), Some("forbidden"), "{roles:?}");
        }
        assert_eq!(runs.count(), 0);
    }

    #[test]
    fn access_is_checked_before_params_are_read() {
        let runs = Runs::default();
        let m = table(&runs);
        let e = call(&m, "t.user", Caller::Anonymous, json!({"bogus": 1})).unwrap_err();
        assert_eq!(e.kind(), Some("unauthenticated"));
        let e = call(&m, "t.admin", user(ALICE, &["customer"]), json!(["x"])).unwrap_err();
        assert_eq!(e.kind(), Some("forbidden"));
        // once allowed, the same params are refused as params
        let e = call(&m, "t.user", user(ALICE, &[]), json!({"bogus": 1})).unwrap_err();
        assert_eq!(e.code, -32602);
        assert_eq!(e.message, "unknown param 'bogus'");
        assert_eq!(runs.count(), 0);
    }

    #[test]
    fn access_levels_are_named_for_the_openrpc_document() {
        let levels: Vec<&str> = METHODS.iter().map(|(_, a)| a.level()).collect();
        assert_eq!(
            levels,
            ["public", "user", "role", "owner_or_admin", "admin"]
        );
    }

    #[test]
    fn the_table_lists_names_in_order_and_a_second_registration_replaces_the_first() {
        let runs = Runs::default();
        let mut m = table(&runs);
        assert_eq!(m.len(), 5);
        assert_eq!(
            m.names().collect::<Vec<_>>(),
            ["t.admin", "t.owner", "t.public", "t.sellers", "t.user"]
        );
        m.add(
            "t.public",
            Access::Admin,
            market_rpc::Kind::Write,
            |_: &Ctx, _: NoParams| Ok::<_, RpcError>("replaced".to_string()),
        );
        assert_eq!(m.len(), 5);
        let def = m.get("t.public").expect("registered");
        assert_eq!((def.access, def.mutates()), (Access::Admin, true));
        let e = call(&m, "t.public", Caller::Anonymous, json!({})).unwrap_err();
        assert_eq!(e.kind(), Some("unauthenticated"));
        assert_eq!(
            call(&m, "t.public", Caller::System, json!({})),
            Ok(json!("replaced"))
        );
        assert!(Methods::new().is_empty());
    }

    #[test]
    fn handler_errors_pass_through_unchanged() {
        let mut m = Methods::new();
        m.add(
            "t.fail",
            Access::Public,
            market_rpc::Kind::Read,
            |_: &Ctx, _: NoParams| {
                Err::<String, _>(
                    RpcError::invalid_state("closed").with_data("status", json!("closed")),
                )
            },
        );
        let e = call(&m, "t.fail", Caller::Anonymous, json!({})).unwrap_err();
        assert_eq!(
            e.to_json(),
            json!({"code": 4220, "message": "closed", "data": {"kind": "invalid_state", "status": "closed"}})
        );
    }
}

mod params {
    use market_rpc::{
        Access, Caller, Ctx, FieldErrors, FromParams, Methods, ParamReader, RpcError, Shape,
        Validate, path, rules,
    };
    use rust_decimal::Decimal;
    use serde::Deserialize;
    use serde_json::{Value, json};

    use crate::support::{Echo, Runs, call, call_raw, fields};

    /// A nested object param.
    #[derive(Debug, Deserialize)]
    struct Shelf {
        room: String,
        level: u8,
    }

    impl Validate for Shelf {
        fn validate_at(&self, at: &str, errs: &mut FieldErrors) {
            rules::text(errs, &path(at, "room"), &self.room, Some(1), Some(10));
            rules::range(
                errs,
                &path(at, "level"),
                self.level as f64,
                None,
                Some(10.0),
            );
        }
    }

    /// Params as the generator writes them: every param read first, then
    /// the rules checked.
    #[derive(Debug)]
    struct Listing {
        title: String,
        quantity: u32,
        price: Decimal,
        tags: Vec<String>,
        shelf: Option<Shelf>,
        note: Option<String>,
    }

    impl FromParams for Listing {
        fn from_params(reader: &mut ParamReader) -> Result<Self, RpcError> {
            let title = reader.required("title", Shape::String);
            let quantity = reader.required("quantity", Shape::Integer);
            let price = reader.required("price", Shape::Decimal);
            let tags = reader
                .optional("tags", Shape::Array)
                .map(Option::unwrap_or_default);
            let shelf = reader.optional("shelf", Shape::Object);
            let note = reader.optional("note", Shape::String);
            let parsed = Listing {
                title: title?,
                quantity: quantity?,
                price: price?,
                tags: tags?,
                shelf: shelf?,
                note: note?,
            };
            parsed.validate_at("", reader.fields());
            Ok(parsed)
        }
    }

    impl Validate for Listing {
        fn validate_at(&self, at: &str, errs: &mut FieldErrors) {
            rules::text(errs, &path(at, "title"), &self.title, Some(1), Some(20));
            rules::range(
                errs,
                &path(at, "quantity"),
                self.quantity as f64,
                Some(1.0),
                Some(100.0),
            );
            rules::decimal(
                errs,
                &path(at, "price"),
                &self.price,
                Some(Decimal::new(1, 6)),
                Some(Decimal::from(1000)),
            );
            rules::length(errs, &path(at, "tags"), self.tags.len(), None, Some(3));
            for (i, tag) in self.tags.iter().enumerate() {
                rules::text(
                    errs,
                    &format!("{}[{i}]", path(at, "tags")),
                    tag,
                    None,
                    Some(8),
                );
            }
            if let Some(shelf) = &self.shelf {
                shelf.validate_at(&path(at, "shelf"), errs);
            }
        }
    }

    fn table(runs: &Runs) -> Methods {
        let mut m = Methods::new();
        let runs = runs.clone();
        m.add(
            "listing.check",
            Access::Public,
            market_rpc::Kind::Read,
            move |_: &Ctx, p: Listing| {
                runs.hit();
                Ok::<_, RpcError>(Echo(json!({
                    "title": p.title,
                    "quantity": p.quantity,
                    "price": p.price.to_string(),
                    "tags": p.tags,
                    "shelf": p.shelf.map(|s| json!([s.room, s.level])),
                    "note": p.note,
                })))
            },
        );
        m
    }

    fn valid() -> Value {
        json!({"title": "Lamp", "quantity": 2, "price": "12.50"})
    }

    fn with(changes: Value) -> Value {
        let mut v = valid();
        if let (Value::Object(base), Value::Object(extra)) = (&mut v, changes) {
            for (k, x) in extra {
                if x.is_null() {
                    base.remove(&k);
                } else {
                    base.insert(k, x);
                }
            }
        }
        v
    }

    fn check(params: Value) -> Result<Value, RpcError> {
        call(
            &table(&Runs::default()),
            "listing.check",
            Caller::Anonymous,
            params,
        )
    }

    #[test]
    fn valid_params_reach_the_handler_with_their_values() {
        let runs = Runs::default();
        let m = table(&runs);
        let got = call(
            &m,
            "listing.check",
            Caller::Anonymous,
            json!({
                "title": "  Lamp ", "quantity": 100, "price": "0.000001",
                "tags": ["a", "bb"], "shelf": {"room": "attic", "level": 10}, "note": null
            }),
        );
        assert_eq!(
            got,
            Ok(json!({
                "title": "  Lamp ", "quantity": 100, "price": "0.000001",
                "tags": ["a", "bb"], "shelf": ["attic", 10], "note": null
            }))
        );
        // optional params may be left out
        let got = call(&m, "listing.check", Caller::Anonymous, valid());
        assert_eq!(
            got,
            Ok(json!({
                "title": "Lamp", "quantity": 2, "price": "12.50",
                "tags": [], "shelf": null, "note": null
            }))
        );
        assert_eq!(runs.count(), 2);
    }

    #[test]
    fn structural_problems_are_invalid_params() {
        let cases = [
            (
                with(json!({"title": null})),
                "missing required param 'title'",
            ),
            (with(json!({"title": 5})), "param 'title' must be a string"),
            (
                with(json!({"quantity": "2"})),
                "param 'quantity' must be an integer",
            ),
            (
                with(json!({"quantity": 2.5})),
                "param 'quantity' must be an integer",
            ),
            (
                with(json!({"price": 12.5})),
                "param 'price' must be a decimal string such as \"12.50\"",
            ),
            (with(json!({"tags": "a"})), "param 'tags' must be an array"),
            (
                with(json!({"shelf": ["attic", 1]})),
                "param 'shelf' must be an object",
            ),
            (with(json!({"colour": "red"})), "unknown param 'colour'"),
            (
                with(json!({"shelf": {"room": "attic", "level": 1, "colour": "red"}})),
                "unknown field 'shelf.colour'",
            ),
        ];
        let runs = Runs::default();
        let m = table(&runs);
        for (params, message) in cases {
            let e = call(&m, "listing.check", Caller::Anonymous, params.clone()).unwrap_err();
            assert_eq!(e.code, -32602, "{params}: {e}");
            assert_eq!(e.message, message, "{params}");
            assert_eq!(e.data, None, "{params}");
        }
        // an explicit null for a required param is as missing as no member
        let e = check(json!({"title": null, "quantity": 2, "price": "1"})).unwrap_err();
        assert_eq!(e.message, "missing required param 'title'");
        // positional, absent and null params
        let e = check(json!(["Lamp", 2, "12.50"])).unwrap_err();
        assert_eq!(e.code, -32602);
        assert_eq!(e.message, "params must be an object of named params");
        for absent in [None, Some(Value::Null)] {
            let e = call_raw(&m, "listing.check", Caller::Anonymous, absent).unwrap_err();
            assert_eq!(e.code, -32602);
            assert_eq!(e.message, "missing required param 'title'");
        }
        assert_eq!(runs.count(), 0);
    }

    #[test]
    fn structural_problems_win_over_broken_rules() {
        let e = check(with(json!({"title": "", "extra": 1}))).unwrap_err();
        assert_eq!(e.code, -32602);
        assert_eq!(e.message, "unknown param 'extra'");
        let e = check(with(json!({"quantity": 0, "price": 3}))).unwrap_err();
        assert_eq!(e.code, -32602);
    }

    #[test]
    fn broken_rules_are_invalid_input_naming_every_field() {
        let runs = Runs::default();
        let m = table(&runs);
        let e = call(
            &m,
            "listing.check",
            Caller::Anonymous,
            json!({
                "title": "   ", "quantity": 0, "price": "0",
                "tags": ["a", "much too long", "c", "d"],
                "shelf": {"room": "attic", "level": 11}
            }),
        )
        .unwrap_err();
        assert_eq!(e.code, 4000);
        assert_eq!(e.kind(), Some("invalid_input"));
        assert_eq!(
            fields(&e),
            json!({
                "title": "must not be empty",
                "quantity": "must be at least 1",
                "price": "must be at least 0.000001",
                "tags": "must be at most 3 long",
                "tags[1]": "must be at most 8 long",
                "shelf.level": "must be at most 10"
            })
        );
        assert_eq!(
            e.message,
            "invalid value for price, quantity, shelf.level, tags, tags[1], title"
        );
        assert_eq!(runs.count(), 0);
    }

    #[test]
    fn values_of_the_right_json_type_that_do_not_fit_are_invalid_input() {
        for (changes, field) in [
            (json!({"quantity": -1}), "quantity"),
            (json!({"quantity": 5_000_000_000u64}), "quantity"),
            (json!({"price": "1e3"}), "price"),
            (json!({"price": "12,50"}), "price"),
            (json!({"price": "+1"}), "price"),
            (json!({"price": ""}), "price"),
            (json!({"shelf": {"room": "attic", "level": 300}}), "shelf"),
            (json!({"shelf": {"room": "attic"}}), "shelf"),
            (json!({"tags": [1]}), "tags"),
        ] {
            let params = with(changes);
            let e = check(params.clone()).unwrap_err();
            assert_eq!(e.code, 4000, "{params}: {e}");
            let f = fields(&e);
            let reason = f[field].as_str().unwrap_or_default();
            assert!(!reason.is_empty(), "{params}: {f}");
            assert!(!reason.contains(" at line "), "{params}: {reason}");
        }
        let e = check(with(json!({"price": "1e3"}))).unwrap_err();
        assert_eq!(
            fields(&e),
            json!({"price": "must be a decimal number such as 12.50"})
        );
    }

    #[test]
    fn decimals_are_exact_with_at_most_six_places() {
        for (price, reason) in [
            ("0.000001", None),
            ("1000", None),
            ("1000.000000", None),
            ("1.5000000", None),
            ("0.0000001", Some("at most 6 decimal places")),
            ("1.1234567", Some("at most 6 decimal places")),
            ("0.0000000", Some("must be at least 0.000001")),
            ("-5", Some("must be at least 0.000001")),
            ("1000.000001", Some("must be at most 1000")),
        ] {
            let got = check(with(json!({"price": price})));
            match reason {
                None => assert_eq!(got.map(|v| v["price"].clone()), Ok(json!(price))),
                Some(reason) => {
                    let e = got.unwrap_err();
                    assert_eq!(fields(&e), json!({"price": reason}), "{price}");
                }
            }
        }
    }
}

mod rules {
    use std::collections::BTreeMap;

    use market_rpc::builtin::{Address, Location};
    use market_rpc::params::is_plain_decimal;
    use market_rpc::{FieldErrors, RpcError, Validate, path, rules};
    use rust_decimal::Decimal;
    use serde_json::{Value, json};

    /// The reasons recorded by `f`, by field.
    fn reasons(f: impl FnOnce(&mut FieldErrors)) -> Value {
        let mut errs = FieldErrors::default();
        f(&mut errs);
        match errs.into_result() {
            Ok(()) => json!({}),
            Err(e) => e.data.map(|d| d["fields"].clone()).unwrap_or(Value::Null),
        }
    }

    fn dec(s: &str) -> Decimal {
        s.parse().expect("a decimal")
    }

    #[test]
    fn text_minimums_ignore_surrounding_space_and_maximums_count_characters() {
        let text = |v: &str, min, max| reasons(|e| rules::text(e, "t", v, min, max));
        assert_eq!(
            text("   ", Some(1), None),
            json!({"t": "must not be empty"})
        );
        assert_eq!(
            text(" \n\t ", Some(1), None),
            json!({"t": "must not be empty"})
        );
        assert_eq!(
            text(" ab ", Some(3), None),
            json!({"t": "must be at least 3 long"})
        );
        assert_eq!(text(" abc ", Some(3), Some(5)), json!({}));
        assert_eq!(
            text(" abc  ", None, Some(5)),
            json!({"t": "must be at most 5 long"})
        );
        // characters, not bytes
        assert_eq!(text("ééééé", None, Some(5)), json!({}));
        assert_eq!(
            text("éééééé", None, Some(5)),
            json!({"t": "must be at most 5 long"})
        );
        assert_eq!(text("", None, None), json!({}));
    }

    #[test]
    fn text_holds_no_control_or_bidi_characters_but_newline_and_tab() {
        let text = |v: &str| reasons(|e| rules::text(e, "t", v, None, None));
        assert_eq!(text("line one\nline\ttwo"), json!({}));
        for bad in ["a\u{0}b", "a\rb", "\u{7}", "a\u{1b}[31m", "\u{85}"] {
            assert_eq!(
                text(bad),
                json!({"t": "must not contain control characters (only newline and tab)"}),
                "{bad:?}"
            );
        }
        for bad in ["abc\u{202E}def", "\u{202A}x", "x\u{2066}y", "\u{2069}"] {
            assert_eq!(
                text(bad),
                json!({"t": "must not contain bidirectional override characters"}),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn email_addresses() {
        for (v, ok) in [
            ("a@b.io", true),
            ("first.last+tag@mail.example.org", true),
            ("a@b", false),
            ("@b.io", false),
            ("a@", false),
            ("a@.b", false),
            ("a@b.", false),
            ("a@b@c.io", false),
            ("a b@c.io", false),
            ("a@b.io ", false),
            ("a\u{200B}@b.io", false),
            ("a@b\u{FEFF}.io", false),
            ("a@b\u{202E}.io", false),
            ("a\n@b.io", false),
            ("", false),
        ] {
            let got = reasons(|e| rules::email(e, "email", v));
            let want = if ok {
                json!({})
            } else {
                json!({"email": "must be an email address"})
            };
            assert_eq!(got, want, "{v:?}");
        }
    }

    #[test]
    fn ranges_are_inclusive() {
        let range = |v: f64| reasons(|e| rules::range(e, "n", v, Some(-1.5), Some(10.0)));
        assert_eq!(range(-1.5), json!({}));
        assert_eq!(range(10.0), json!({}));
        assert_eq!(range(-1.6), json!({"n": "must be at least -1.5"}));
        assert_eq!(range(10.01), json!({"n": "must be at most 10"}));
        assert_eq!(
            reasons(|e| rules::range(e, "n", 1e9, None, None)),
            json!({})
        );
    }

    #[test]
    fn decimal_bounds_are_compared_as_exact_decimals() {
        let d = |v: &str, min: Option<&str>, max: Option<&str>| {
            reasons(|e| rules::decimal(e, "amount", &dec(v), min.map(dec), max.map(dec)))
        };
        assert_eq!(d("0.000001", Some("0.000001"), None), json!({}));
        assert_eq!(
            d("0.000000", Some("0.000001"), None),
            json!({"amount": "must be at least 0.000001"})
        );
        assert_eq!(d("0.3", Some("0.3"), Some("0.3")), json!({}));
        // one millionth over a bound far beyond where a float can tell
        // the two apart
        assert_eq!(
            d("100000000000000.000001", None, Some("100000000000000")),
            json!({"amount": "must be at most 100000000000000"})
        );
        assert_eq!(
            d("99999999999999.999999", Some("100000000000000"), None),
            json!({"amount": "must be at least 100000000000000"})
        );
        // bounds are shown without trailing zeros
        assert_eq!(
            d("5", None, Some("2.500")),
            json!({"amount": "must be at most 2.5"})
        );
    }

    #[test]
    fn decimals_have_at_most_six_places_and_a_sane_size() {
        let d = |v: &str| reasons(|e| rules::decimal(e, "amount", &dec(v), None, None));
        assert_eq!(d("1.123456"), json!({}));
        assert_eq!(d("1.1234560000"), json!({}));
        assert_eq!(
            d("1.1234567"),
            json!({"amount": "at most 6 decimal places"})
        );
        assert_eq!(
            d("-0.0000001"),
            json!({"amount": "at most 6 decimal places"})
        );
        let limit = rules::DECIMAL_LIMIT.to_string();
        assert_eq!(d(&limit), json!({"amount": "too large"}));
        assert_eq!(d(&format!("-{limit}")), json!({"amount": "too large"}));
        assert_eq!(d("999999999999999.999999"), json!({}));
        // the first broken rule of a field is the one reported
        assert_eq!(
            reasons(|e| rules::decimal(e, "amount", &dec("0.0000001"), Some(dec("1")), None)),
            json!({"amount": "at most 6 decimal places"})
        );
    }

    #[test]
    fn plain_decimals_on_the_wire() {
        for (v, ok) in [
            ("12.50", true),
            ("-3", true),
            ("0.000001", true),
            ("007", true),
            ("1e3", false),
            ("1_000", false),
            ("+3", false),
            ("3.", false),
            (".5", false),
            ("--1", false),
            ("1.2.3", false),
            (" 1", false),
            ("", false),
            ("-", false),
        ] {
            assert_eq!(is_plain_decimal(v), ok, "{v:?}");
        }
    }

    #[test]
    fn lengths_of_lists() {
        let len = |n, min, max| reasons(|e| rules::length(e, "items", n, min, max));
        assert_eq!(len(0, Some(1), None), json!({"items": "must not be empty"}));
        assert_eq!(
            len(1, Some(2), None),
            json!({"items": "must be at least 2 long"})
        );
        assert_eq!(len(2, Some(2), Some(2)), json!({}));
        assert_eq!(
            len(3, None, Some(2)),
            json!({"items": "must be at most 2 long"})
        );
    }

    #[test]
    fn map_keys_are_short_plain_text_named_by_the_map() {
        let keys = |map: BTreeMap<&str, u32>| {
            reasons(|e| {
                for k in map.keys() {
                    rules::map_key(e, "labels", k, 4);
                }
            })
        };
        assert_eq!(keys(BTreeMap::from([("abcd", 1), ("é", 2)])), json!({}));
        assert_eq!(
            keys(BTreeMap::from([("abcde", 1)])),
            json!({"labels": "keys must be at most 4 long"})
        );
        assert_eq!(
            keys(BTreeMap::from([("a\u{0}", 1)])),
            json!({"labels": "keys: must not contain control characters (only newline and tab)"})
        );
        assert_eq!(
            keys(BTreeMap::from([("\u{202E}ab", 1)])),
            json!({"labels": "keys: must not contain bidirectional override characters"})
        );
    }

    #[test]
    fn field_errors_keep_the_first_reason_per_field() {
        let mut errs = FieldErrors::default();
        assert!(errs.is_empty());
        assert_eq!(errs.clone().into_result(), Ok(()));
        errs.add("name", "first");
        errs.add("name", "second");
        errs.add("age", "too young");
        assert!(!errs.is_empty());
        let e: RpcError = errs.into_result().unwrap_err();
        assert_eq!(
            e.to_json(),
            json!({
                "code": 4000,
                "message": "invalid value for age, name",
                "data": {"kind": "invalid_input", "fields": {"age": "too young", "name": "first"}}
            })
        );
    }

    #[test]
    fn paths_name_nested_fields() {
        assert_eq!(path("", "price"), "price");
        assert_eq!(path("items[2]", "quantity"), "items[2].quantity");
        assert_eq!(path("a.b", "c"), "a.b.c");
    }

    #[test]
    fn builtin_locations_are_on_earth() {
        let at = |latitude, longitude| Location {
            latitude,
            longitude,
        };
        assert_eq!(at(90.0, -180.0).validate(), Ok(()));
        let mut errs = FieldErrors::default();
        at(90.5, 180.5).validate_at("site.location", &mut errs);
        let e = errs.into_result().unwrap_err();
        assert_eq!(
            e.data.map(|d| d["fields"].clone()),
            Some(json!({
                "site.location.latitude": "must be at most 90",
                "site.location.longitude": "must be at most 180"
            }))
        );
        let e = at(-91.0, 0.0).validate().unwrap_err();
        assert_eq!(
            e.data.map(|d| d["fields"].clone()),
            Some(json!({"latitude": "must be at least -90"}))
        );
        assert_eq!(Address::default().validate(), Ok(()));
    }
}

mod redaction {
    use std::collections::BTreeMap;

    use market_rpc::methods::to_raw;
    use market_rpc::redact::{redact_field, remove_fields};
    use market_rpc::{Access, Caller, Ctx, Methods, Redact, RpcError};
    use market_store::Page;
    use serde::Serialize;
    use serde_json::{Value, json};

    use crate::support::{NoParams, call};

    /// A type with a `@secret` field (`pin`) and a `@hidden` one (`salt`).
    #[derive(Serialize, Clone)]
    struct Key {
        name: String,
        pin: String,
        salt: String,
    }

    impl Redact for Key {
        const HAS_SECRETS: bool = true;

        fn redact(value: &mut Value) {
            remove_fields(value, &["pin", "salt"]);
        }
    }

    /// Holds secrets only inside embedded values, the way generated code
    /// redacts them: by field, as the field's type.
    #[derive(Serialize)]
    struct Ring {
        owner: String,
        keys: Vec<Key>,
        spare: Option<Key>,
        missing: Option<Key>,
        by_room: BTreeMap<String, Key>,
        boxed: Box<Key>,
        pages: Vec<Page<Key>>,
    }

    impl Redact for Ring {
        const HAS_SECRETS: bool = true;

        fn redact(value: &mut Value) {
            redact_field::<Vec<Key>>(value, "keys");
            redact_field::<Option<Key>>(value, "spare");
            redact_field::<Option<Key>>(value, "missing");
            redact_field::<BTreeMap<String, Key>>(value, "by_room");
            redact_field::<Box<Key>>(value, "boxed");
            redact_field::<Vec<Page<Key>>>(value, "pages");
        }
    }

    /// No field of this type is secret, whatever the names say.
    #[derive(Serialize)]
    struct Plain {
        pin: String,
    }

    impl Redact for Plain {}

    fn key(name: &str) -> Key {
        Key {
            name: name.into(),
            pin: format!("{name}-pin"),
            salt: format!("{name}-salt"),
        }
    }

    fn ring() -> Ring {
        Ring {
            owner: "alice".into(),
            keys: vec![key("a"), key("b")],
            spare: Some(key("s")),
            missing: None,
            by_room: BTreeMap::from([("attic".to_string(), key("r"))]),
            boxed: Box::new(key("x")),
            pages: vec![Page {
                items: vec![key("p")],
                next_cursor: Some("c1".into()),
            }],
        }
    }

    #[test]
    fn secret_and_hidden_fields_are_removed_at_any_depth() {
        let mut m = Methods::new();
        m.add(
            "ring.get",
            Access::Public,
            market_rpc::Kind::Read,
            |_: &Ctx, _: NoParams| Ok::<_, RpcError>(ring()),
        );
        let got = call(&m, "ring.get", Caller::Anonymous, json!({}));
        assert_eq!(
            got,
            Ok(json!({
                "owner": "alice",
                "keys": [{"name": "a"}, {"name": "b"}],
                "spare": {"name": "s"},
                "missing": null,
                "by_room": {"attic": {"name": "r"}},
                "boxed": {"name": "x"},
                "pages": [{"items": [{"name": "p"}], "next_cursor": "c1"}]
            }))
        );
    }

    /// The wire text of a result.
    fn wire<R: Serialize + Redact>(r: &R) -> Result<String, RpcError> {
        to_raw(r).map(|raw| raw.get().to_string())
    }

    #[test]
    fn every_container_of_a_secret_type_is_redacted_on_the_wire() {
        let name = || r#"{"name":"a"}"#.to_string();
        assert_eq!(wire(&key("a")), Ok(name()));
        assert_eq!(wire(&Some(key("a"))), Ok(name()));
        assert_eq!(wire(&None::<Key>), Ok("null".to_string()));
        assert_eq!(wire(&Box::new(key("a"))), Ok(name()));
        assert_eq!(
            wire(&BTreeMap::from([("k".to_string(), key("a"))])),
            Ok(format!(r#"{{"k":{}}}"#, name()))
        );
        assert_eq!(
            wire(&vec![Some(vec![key("a")])]),
            Ok(format!("[[{}]]", name()))
        );
    }

    #[test]
    fn results_are_serialized_redacted_only_by_type() {
        let raw = to_raw(&vec![key("a")]).map(|r| r.get().to_string());
        assert_eq!(raw, Ok(r#"[{"name":"a"}]"#.to_string()));
        let raw = to_raw(&Page {
            items: vec![key("a")],
            next_cursor: None,
        })
        .map(|r| r.get().to_string());
        assert_eq!(
            raw,
            Ok(r#"{"items":[{"name":"a"}],"next_cursor":null}"#.to_string())
        );
        let raw = to_raw(&Plain { pin: "1234".into() }).map(|r| r.get().to_string());
        assert_eq!(raw, Ok(r#"{"pin":"1234"}"#.to_string()));
        let raw = to_raw(&market_rpc::Ok::TRUE).map(|r| r.get().to_string());
        assert_eq!(raw, Ok(r#"{"ok":true}"#.to_string()));
    }
}

mod idempotency {
    use std::sync::Barrier;

    use market_rpc::{
        Access, Caller, Ctx, FromParams, Methods, ParamReader, Redact, RpcError, Shape,
    };
    use market_store::{Db, Id, IndexSpec, Meta, Reads, Record, StoreError, Timestamp};
    use serde::{Deserialize, Serialize};
    use serde_json::{Value, json};

    use crate::support::{ALICE, BOB, NoParams, Runs, TempDb, call, call_raw, temp_db, user};

    /// A stored root object.
    #[derive(Debug, Clone, Default, Serialize, Deserialize)]
    struct Note {
        id: Id,
        created_at: Timestamp,
        updated_at: Timestamp,
        version: u64,
        text: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pin: Option<String>,
    }

    impl Record for Note {
        const KIND: &'static str = "note";
        const INDEXES: &'static [IndexSpec] = &[];

        record_meta!();

        fn index_values(&self, _field: &str) -> Vec<String> {
            Vec::new()
        }
    }

    impl Redact for Note {
        const HAS_SECRETS: bool = true;

        fn redact(value: &mut Value) {
            market_rpc::redact::remove_fields(value, &["pin"]);
        }
    }

    struct AddNote {
        text: String,
        pin: Option<String>,
    }

    impl FromParams for AddNote {
        fn from_params(r: &mut ParamReader) -> Result<Self, RpcError> {
            let text = r.required("text", Shape::String);
            let pin = r.optional("pin", Shape::String);
            Ok(AddNote {
                text: text?,
                pin: pin?,
            })
        }
    }

    struct Env {
        methods: Methods,
        runs: Runs,
        tmp: TempDb,
    }

    impl Env {
        fn db(&self) -> &Db {
            &self.tmp.db
        }

        fn notes(&self) -> u64 {
            self.db()
                .read(|tx| tx.count::<Note>())
                .unwrap_or_else(|e: StoreError| panic!("count notes: {e}"))
        }
    }

    /// `note.add` and `note.copy` (user, mutating) write a note; a text of
    /// "fail" fails after writing; `note.public_add` is public and
    /// mutating; `note.peek` only reads; `note.sloppy` mutates without
    /// writing through `Ctx::write`.
    fn env_with(methods: Methods, tmp: TempDb) -> Env {
        let runs = Runs::default();
        let mut m = methods;
        for (name, access) in [
            ("note.add", Access::User),
            ("note.copy", Access::User),
            ("note.public_add", Access::Public),
        ] {
            let db = tmp.db.clone();
            let runs = runs.clone();
            m.add(
                name,
                access,
                market_rpc::Kind::Write,
                move |ctx: &Ctx, p: AddNote| {
                    runs.hit();
                    ctx.write(&db, |tx| {
                        let mut note = Note {
                            text: p.text.clone(),
                            pin: p.pin.clone(),
                            ..Note::default()
                        };
                        tx.insert(&mut note)?;
                        if p.text == "fail" {
                            return Err(RpcError::invalid_state("refused after writing"));
                        }
                        Ok(note)
                    })
                },
            );
        }
        let db = tmp.db.clone();
        m.add(
            "note.peek",
            Access::User,
            market_rpc::Kind::Read,
            move |_: &Ctx, _: NoParams| db.read(|tx| tx.count::<Note>()).map_err(RpcError::from),
        );
        let runs_sloppy = runs.clone();
        m.add(
            "note.sloppy",
            Access::User,
            market_rpc::Kind::Write,
            move |_: &Ctx, _: NoParams| {
                runs_sloppy.hit();
                Ok::<_, RpcError>(market_rpc::Ok::TRUE)
            },
        );
        Env {
            methods: m,
            runs,
            tmp,
        }
    }

    fn env() -> Env {
        let tmp = temp_db();
        env_with(Methods::new().with_idempotency(tmp.db.clone()), tmp)
    }

    fn alice() -> Caller {
        user(ALICE, &["customer"])
    }

    fn add(e: &Env, method: &str, caller: Caller, params: Value) -> Result<String, RpcError> {
        call_raw(&e.methods, method, caller, Some(params))
    }

    #[test]
    fn a_repeat_replays_the_first_answer_without_running_again() {
        let e = env();
        let params = json!({"text": "hello", "pin": "1234", "idempotency_key": "k1"});
        let first = add(&e, "note.add", alice(), params.clone()).expect("first call");
        let note: Value = serde_json::from_str(&first).expect("JSON");
        assert_eq!(note["text"], "hello");
        assert_eq!(note["version"], 1);
        assert!(
            note.get("pin").is_none(),
            "secrets are not answered: {note}"
        );
        for _ in 0..3 {
            assert_eq!(
                add(&e, "note.add", alice(), params.clone()),
                Ok(first.clone())
            );
        }
        // the params compare as canonical JSON: member order does not matter
        let reordered = json!({"idempotency_key": "k1", "pin": "1234", "text": "hello"});
        assert_eq!(add(&e, "note.add", alice(), reordered), Ok(first.clone()));
        assert_eq!(e.runs.count(), 1);
        assert_eq!(e.notes(), 1);
    }

    #[test]
    fn the_same_key_with_other_params_is_a_mismatch() {
        let e = env();
        add(
            &e,
            "note.add",
            alice(),
            json!({"text": "a", "idempotency_key": "k"}),
        )
        .expect("first");
        for other in [
            json!({"text": "b", "idempotency_key": "k"}),
            json!({"text": "a", "pin": "1", "idempotency_key": "k"}),
        ] {
            let err = add(&e, "note.add", alice(), other).unwrap_err();
            assert_eq!(err.code, 4091);
            assert_eq!(err.kind(), Some("idempotency_mismatch"));
        }
        assert_eq!(e.runs.count(), 1);
        assert_eq!(e.notes(), 1);
    }

    #[test]
    fn keys_are_bound_to_the_caller_and_the_method() {
        let e = env();
        let params = json!({"text": "a", "idempotency_key": "k"});
        let first = add(&e, "note.add", alice(), params.clone()).expect("alice");
        let bob = add(&e, "note.add", user(BOB, &[]), params.clone()).expect("bob");
        let system = add(&e, "note.add", Caller::System, params.clone()).expect("system");
        let copy = add(&e, "note.copy", alice(), params.clone()).expect("another method");
        let answers = [&first, &bob, &system, &copy];
        for (i, a) in answers.iter().enumerate() {
            for b in &answers[i + 1..] {
                assert_ne!(a, b, "each caller and method acts on its own");
            }
        }
        assert_eq!(e.runs.count(), 4);
        assert_eq!(e.notes(), 4);
        // each of them still replays its own answer
        assert_eq!(add(&e, "note.add", user(BOB, &[]), params.clone()), Ok(bob));
        assert_eq!(add(&e, "note.copy", alice(), params), Ok(copy));
        assert_eq!(e.runs.count(), 4);
    }

    #[test]
    fn calls_without_a_key_run_every_time() {
        let e = env();
        for params in [
            json!({"text": "a"}),
            json!({"text": "a", "idempotency_key": null}),
        ] {
            let one = add(&e, "note.add", alice(), params.clone()).expect("one");
            let two = add(&e, "note.add", alice(), params).expect("two");
            assert_ne!(one, two);
        }
        assert_eq!(e.notes(), 4);
    }

    #[test]
    fn only_successful_answers_are_stored() {
        let e = env();
        let failing = json!({"text": "fail", "idempotency_key": "k"});
        let err = add(&e, "note.add", alice(), failing.clone()).unwrap_err();
        assert_eq!(err.kind(), Some("invalid_state"));
        assert_eq!(e.notes(), 0, "the failed call's write was rolled back");
        // the failure was not stored: the key runs again, even with other params
        let err = add(&e, "note.add", alice(), failing).unwrap_err();
        assert_eq!(err.kind(), Some("invalid_state"));
        let ok = add(
            &e,
            "note.add",
            alice(),
            json!({"text": "fine", "idempotency_key": "k"}),
        );
        assert!(ok.is_ok(), "{ok:?}");
        assert_eq!(e.runs.count(), 3);
        assert_eq!(e.notes(), 1);
    }

    #[test]
    fn keys_have_a_form() {
        let e = env();
        let long = "k".repeat(255);
        assert!(
            add(
                &e,
                "note.add",
                alice(),
                json!({"text": "a", "idempotency_key": long})
            )
            .is_ok()
        );
        for bad in [json!(""), json!("k".repeat(256))] {
            let err = add(
                &e,
                "note.add",
                alice(),
                json!({"text": "a", "idempotency_key": bad}),
            )
            .unwrap_err();
            assert_eq!(err.code, 4000);
            assert_eq!(
                err.data,
                Some(
                    json!({"kind": "invalid_input", "fields": {"idempotency_key": "must be 1 to 255 characters"}})
                )
            );
        }
        for bad in [json!(5), json!({"k": 1}), json!(true)] {
            let err = add(
                &e,
                "note.add",
                alice(),
                json!({"text": "a", "idempotency_key": bad}),
            )
            .unwrap_err();
            assert_eq!(err.code, -32602);
            assert_eq!(err.message, "param 'idempotency_key' must be a string");
        }
        assert_eq!(e.runs.count(), 1);
    }

    #[test]
    fn public_and_read_only_methods_take_no_key() {
        let e = env();
        let err = add(
            &e,
            "note.public_add",
            Caller::Anonymous,
            json!({"text": "a", "idempotency_key": "k"}),
        )
        .unwrap_err();
        assert_eq!(
            (err.code, err.message.as_str()),
            (-32602, "unknown param 'idempotency_key'")
        );
        let err = call(
            &e.methods,
            "note.peek",
            alice(),
            json!({"idempotency_key": "k"}),
        )
        .unwrap_err();
        assert_eq!(
            (err.code, err.message.as_str()),
            (-32602, "unknown param 'idempotency_key'")
        );
        // without a key, the public method runs every time
        assert!(
            add(
                &e,
                "note.public_add",
                Caller::Anonymous,
                json!({"text": "a"})
            )
            .is_ok()
        );
        assert!(
            add(
                &e,
                "note.public_add",
                Caller::Anonymous,
                json!({"text": "a"})
            )
            .is_ok()
        );
        assert_eq!(e.runs.count(), 2);
        assert_eq!(
            call(&e.methods, "note.peek", alice(), json!({})),
            Ok(json!(2))
        );
    }

    #[test]
    fn a_key_needs_a_store_and_a_write_through_the_context() {
        // no idempotency store: a key cannot be honoured, so nothing runs
        let e = env_with(Methods::new(), temp_db());
        let err = add(
            &e,
            "note.add",
            alice(),
            json!({"text": "a", "idempotency_key": "k"}),
        )
        .unwrap_err();
        assert_eq!(
            err.to_json(),
            json!({"code": -32603, "message": "internal error"})
        );
        assert_eq!(e.runs.count(), 0);
        assert!(add(&e, "note.add", alice(), json!({"text": "a"})).is_ok());

        // a mutating handler that bypasses Ctx::write cannot store its answer
        let e = env();
        let err = add(&e, "note.sloppy", alice(), json!({"idempotency_key": "k"})).unwrap_err();
        assert!(err.is_internal());
        assert_eq!(
            add(&e, "note.sloppy", alice(), json!({})),
            Ok(r#"{"ok":true}"#.to_string())
        );
    }

    #[test]
    fn a_keyed_call_knows_its_scope() {
        let tmp = temp_db();
        let db = tmp.db.clone();
        let mut m = Methods::new().with_idempotency(tmp.db.clone());
        m.add(
            "note.scope",
            Access::User,
            market_rpc::Kind::Write,
            move |ctx: &Ctx, _: NoParams| {
                ctx.write(&db, |_| Ok(ctx.idempotency_scope().map(str::to_string)))
            },
        );
        let scope = call(&m, "note.scope", alice(), json!({"idempotency_key": "k-9"}));
        assert_eq!(
            scope,
            Ok(json!(format!("{ALICE}\u{1f}note.scope\u{1f}k-9")))
        );
        assert_eq!(call(&m, "note.scope", alice(), json!({})), Ok(Value::Null));
    }

    #[test]
    fn concurrent_repeats_act_once_and_answer_alike() {
        let e = env();
        let threads = 6;
        let start = Barrier::new(threads);
        let answers: Vec<Result<String, RpcError>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|_| {
                    s.spawn(|| {
                        start.wait();
                        add(
                            &e,
                            "note.add",
                            alice(),
                            json!({"text": "once", "idempotency_key": "race"}),
                        )
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|_| Err(RpcError::internal())))
                .collect()
        });
        let first = answers[0].clone().expect("an answer");
        assert!(
            answers.iter().all(|a| a.as_ref() == Ok(&first)),
            "{answers:?}"
        );
        assert_eq!(e.notes(), 1);
    }
}

mod pages {
    use market_rpc::crud::{DEFAULT_LIMIT, ListParams, MAX_LIMIT, page_request};
    use market_rpc::{Access, Caller, Ctx, Methods, RpcError};
    use serde_json::json;

    use crate::support::{call, fields};

    #[test]
    fn limits_default_to_fifty_and_stop_at_five_hundred() {
        assert_eq!((DEFAULT_LIMIT, MAX_LIMIT), (50, 500));
        let page = page_request(None, None).expect("defaults");
        assert_eq!((page.limit, page.cursor), (50, None));
        let page = page_request(Some(1), Some("c".into())).expect("one");
        assert_eq!((page.limit, page.cursor.as_deref()), (1, Some("c")));
        assert_eq!(page_request(Some(500), None).map(|p| p.limit), Ok(500));
        for bad in [0, 501, u32::MAX] {
            let e = page_request(Some(bad), None).unwrap_err();
            assert_eq!(e.code, 4000, "{bad}");
            assert_eq!(
                e.data,
                Some(
                    json!({"kind": "invalid_input", "fields": {"limit": "must be between 1 and 500"}})
                )
            );
        }
    }

    #[test]
    fn list_params_read_limit_and_cursor() {
        let mut m = Methods::new();
        m.add(
            "t.list",
            Access::Public,
            market_rpc::Kind::Read,
            |_: &Ctx, p: ListParams| Ok::<_, RpcError>(json_page(p)),
        );
        let list = |params| call(&m, "t.list", Caller::Anonymous, params);
        assert_eq!(list(json!({})), Ok(json!([50, null])));
        assert_eq!(
            list(json!({"limit": 7, "cursor": "x"})),
            Ok(json!([7, "x"]))
        );
        let e = list(json!({"limit": 501})).unwrap_err();
        assert_eq!(fields(&e), json!({"limit": "must be between 1 and 500"}));
        let e = list(json!({"limit": -1})).unwrap_err();
        assert_eq!(e.kind(), Some("invalid_input"));
        assert!(fields(&e)["limit"].is_string());
        let e = list(json!({"limit": "10"})).unwrap_err();
        assert_eq!(e.code, -32602);
        let e = list(json!({"limit": 10, "offset": 5})).unwrap_err();
        assert_eq!(e.message, "unknown param 'offset'");
    }

    fn json_page(p: ListParams) -> crate::support::Echo {
        crate::support::Echo(json!([p.page.limit, p.page.cursor]))
    }
}

mod context {
    use market_rpc::{Caller, Ctx, Principal};

    use crate::support::{ALICE, BOB, user};

    fn ctx(caller: Caller) -> Ctx {
        Ctx::new("req-7", "thing.do", caller)
    }

    #[test]
    fn the_audit_identity_names_the_caller_method_and_request() {
        let actor = ctx(user(ALICE, &[])).actor();
        assert_eq!(
            (
                actor.actor_id.as_str(),
                actor.method.as_str(),
                actor.request_id.as_str()
            ),
            (ALICE, "thing.do", "req-7")
        );
        assert_eq!(ctx(Caller::System).actor().actor_id, "system");
        assert_eq!(ctx(Caller::Anonymous).actor().actor_id, "anonymous");
    }

    #[test]
    fn owners_admins_and_the_system_may_act_on_an_object() {
        let alice = ALICE.parse().expect("an id");
        let bob = BOB.parse().expect("an id");
        let as_alice = ctx(user(ALICE, &["customer"]));
        assert!(as_alice.owns(alice));
        assert!(!as_alice.owns(bob));
        assert!(!as_alice.is_admin());
        assert_eq!(as_alice.user_id(), Some(alice));
        let admin = ctx(user(BOB, &["customer", "admin"]));
        assert!(admin.is_admin() && admin.owns(alice));
        let system = ctx(Caller::System);
        assert!(system.is_admin() && system.owns(alice));
        assert_eq!(system.user_id(), None);
        let anonymous = ctx(Caller::Anonymous);
        assert!(!anonymous.is_admin() && !anonymous.owns(alice));
        assert_eq!(anonymous.user_id(), None);
    }

    #[test]
    fn sessions_and_api_keys() {
        let e = ctx(Caller::Anonymous).require_user().unwrap_err();
        assert_eq!((e.code, e.kind()), (4010, Some("unauthenticated")));
        let e = ctx(Caller::System).require_user().unwrap_err();
        assert_eq!(e.kind(), Some("unauthenticated"));
        let session = ctx(user(ALICE, &[]));
        assert_eq!(
            session.require_session().map(|p| p.user_id.to_string()),
            Ok(ALICE.to_string())
        );
        let api_key = ctx(Caller::User(Principal {
            user_id: ALICE.parse().expect("an id"),
            roles: vec!["admin".into()],
            token_id: None,
            api_key: true,
        }));
        assert!(api_key.require_user().is_ok());
        let e = api_key.require_session().unwrap_err();
        assert_eq!((e.code, e.kind()), (4030, Some("forbidden")));
        // outside an idempotent call there is no scope
        assert_eq!(session.idempotency_scope(), None);
    }
}

mod crud {
    use market_rpc::crud::{CrudOp, CrudRecord, register};
    use market_rpc::{
        Access, Caller, FieldErrors, FromParams, Methods, ParamReader, Redact, RpcError, Shape,
        Validate, path, rules,
    };
    use market_store::{Id, IndexSpec, IndexValue, Meta, Record, Timestamp};
    use serde::{Deserialize, Serialize};
    use serde_json::{Value, json};

    use crate::support::{ALICE, BOB, TempDb, call, code_kind, temp_db, user};

    /// A root object owned by its creator, as `@crud` with `@owner` declares it.
    #[derive(Debug, Clone, Default, Serialize, Deserialize)]
    struct Pad {
        id: Id,
        created_at: Timestamp,
        updated_at: Timestamp,
        version: u64,
        owner_id: Id,
        title: String,
    }

    impl Record for Pad {
        const KIND: &'static str = "pad";
        const INDEXES: &'static [IndexSpec] = &[IndexSpec {
            field: "owner_id",
            unique: false,
            nocase: false,
            list: false,
        }];

        record_meta!();

        fn index_values(&self, field: &str) -> Vec<String> {
            match field {
                "owner_id" => self.owner_id.index_values(),
                _ => Vec::new(),
            }
        }
    }

    impl Redact for Pad {}

    impl Validate for Pad {
        fn validate_at(&self, at: &str, errs: &mut FieldErrors) {
            rules::text(errs, &path(at, "title"), &self.title, Some(1), Some(20));
        }
    }

    struct PadCreate {
        title: String,
    }

    impl FromParams for PadCreate {
        fn from_params(r: &mut ParamReader) -> Result<Self, RpcError> {
            Ok(PadCreate {
                title: r.required("title", Shape::String)?,
            })
        }
    }

    struct PadUpdate {
        id: Id,
        expected_version: Option<u64>,
        title: Option<String>,
    }

    impl FromParams for PadUpdate {
        fn from_params(r: &mut ParamReader) -> Result<Self, RpcError> {
            let id = r.required("id", Shape::String);
            let expected_version = r.optional("expected_version", Shape::Integer);
            let title = r.optional("title", Shape::String);
            Ok(PadUpdate {
                id: id?,
                expected_version: expected_version?,
                title: title?,
            })
        }
    }

    impl CrudRecord for Pad {
        type Create = PadCreate;
        type Update = PadUpdate;
        const OWNER_INDEX: Option<market_store::Index<Pad>> =
            Some(market_store::Index::new(&Pad::INDEXES[0]));

        fn from_create(input: PadCreate, owner: Option<Id>) -> Pad {
            Pad {
                owner_id: owner.unwrap_or(Id::NIL),
                title: input.title,
                ..Pad::default()
            }
        }

        fn update_target(input: &PadUpdate) -> (Id, Option<u64>) {
            (input.id, input.expected_version)
        }

        fn apply_update(&mut self, input: PadUpdate) {
            if let Some(title) = input.title {
                self.title = title;
            }
        }

        fn owner(&self) -> Option<Id> {
            Some(self.owner_id)
        }
    }

    fn env() -> (Methods, TempDb) {
        let tmp = temp_db();
        let mut m = Methods::new().with_idempotency(tmp.db.clone());
        let ops = [
            CrudOp::Create,
            CrudOp::Get,
            CrudOp::List,
            CrudOp::Find,
            CrudOp::Update,
            CrudOp::Delete,
        ]
        .map(|op| (op, Access::OwnerOrAdmin));
        register::<Pad>(&mut m, tmp.db.clone(), "pad", &ops);
        (m, tmp)
    }

    fn alice() -> Caller {
        user(ALICE, &["customer"])
    }

    fn bob() -> Caller {
        user(BOB, &["customer"])
    }

    fn admin() -> Caller {
        user("01J0000000000000000000000C", &["admin"])
    }

    fn titles(page: &Value) -> Vec<&str> {
        page["items"]
            .as_array()
            .map(|items| items.iter().filter_map(|i| i["title"].as_str()).collect())
            .unwrap_or_default()
    }

    fn kind(r: Result<Value, RpcError>) -> (i32, Option<String>) {
        r.map_or_else(|e| code_kind(&e), |v| panic!("expected an error, got {v}"))
    }

    #[test]
    fn owners_see_and_change_only_their_own_objects() {
        let (m, _tmp) = env();
        assert_eq!(
            m.names().collect::<Vec<_>>(),
            [
                "pad.create",
                "pad.delete",
                "pad.find",
                "pad.get",
                "pad.list",
                "pad.update"
            ]
        );
        let mine = call(&m, "pad.create", alice(), json!({"title": "mine"})).expect("create");
        assert_eq!(
            (&mine["owner_id"], &mine["version"], &mine["title"]),
            (&json!(ALICE), &json!(1), &json!("mine"))
        );
        call(&m, "pad.create", bob(), json!({"title": "bob's"})).expect("create");
        let id = mine["id"].clone();

        assert_eq!(
            call(&m, "pad.get", alice(), json!({"id": id})),
            Ok(mine.clone())
        );
        assert_eq!(
            call(&m, "pad.get", admin(), json!({"id": id})),
            Ok(mine.clone())
        );
        assert_eq!(
            kind(call(&m, "pad.get", bob(), json!({"id": id}))),
            (4040, Some("not_found".into()))
        );
        assert_eq!(
            kind(call(&m, "pad.get", Caller::Anonymous, json!({"id": id}))),
            (4010, Some("unauthenticated".into()))
        );

        let list = |c| call(&m, "pad.list", c, json!({})).expect("list");
        assert_eq!(titles(&list(alice())), ["mine"]);
        assert_eq!(titles(&list(bob())), ["bob's"]);
        assert_eq!(titles(&list(admin())), ["bob's", "mine"], "newest first");

        let by_owner = json!({"field": "owner_id", "value": ALICE});
        assert_eq!(
            titles(&call(&m, "pad.find", bob(), by_owner.clone()).expect("find")),
            Vec::<&str>::new()
        );
        assert_eq!(
            titles(&call(&m, "pad.find", alice(), by_owner).expect("find")),
            ["mine"]
        );

        // others can neither change nor delete it, and it stays as it was
        assert_eq!(
            kind(call(
                &m,
                "pad.update",
                bob(),
                json!({"id": id, "title": "taken"})
            ))
            .1,
            Some("not_found".into())
        );
        assert_eq!(
            kind(call(&m, "pad.delete", bob(), json!({"id": id}))).1,
            Some("not_found".into())
        );
        assert_eq!(call(&m, "pad.get", alice(), json!({"id": id})), Ok(mine));
    }

    #[test]
    fn updates_check_versions_and_rules() {
        let (m, _tmp) = env();
        let pad = call(&m, "pad.create", alice(), json!({"title": "first"})).expect("create");
        let id = pad["id"].clone();
        let e = call(
            &m,
            "pad.update",
            alice(),
            json!({"id": id, "expected_version": 5, "title": "late"}),
        )
        .unwrap_err();
        assert_eq!(
            e.data,
            Some(json!({"kind": "conflict", "current_version": 1}))
        );
        let e = call(&m, "pad.update", alice(), json!({"id": id, "title": "  "})).unwrap_err();
        assert_eq!(
            e.data,
            Some(json!({"kind": "invalid_input", "fields": {"title": "must not be empty"}}))
        );
        let e = call(&m, "pad.create", alice(), json!({"title": ""})).unwrap_err();
        assert_eq!(e.kind(), Some("invalid_input"));
        let updated = call(
            &m,
            "pad.update",
            alice(),
            json!({"id": id, "expected_version": 1, "title": "second"}),
        )
        .expect("update");
        assert_eq!(
            (&updated["version"], &updated["title"]),
            (&json!(2), &json!("second"))
        );
        // an absent field is unchanged
        let same = call(&m, "pad.update", alice(), json!({"id": id})).expect("update");
        assert_eq!(
            (&same["version"], &same["title"]),
            (&json!(3), &json!("second"))
        );

        assert_eq!(
            call(&m, "pad.delete", alice(), json!({"id": id})),
            Ok(json!({"ok": true}))
        );
        assert_eq!(
            kind(call(&m, "pad.get", admin(), json!({"id": id}))).1,
            Some("not_found".into())
        );
    }

    #[test]
    fn finds_take_indexed_fields_and_lists_take_real_cursors() {
        let (m, _tmp) = env();
        let e = call(
            &m,
            "pad.find",
            admin(),
            json!({"field": "title", "value": "x"}),
        )
        .unwrap_err();
        assert_eq!(
            e.data,
            Some(
                json!({"kind": "invalid_input", "fields": {"field": "not an indexed field (indexed: owner_id)"}})
            )
        );
        for n in 0..3 {
            call(&m, "pad.create", alice(), json!({"title": format!("p{n}")})).expect("create");
        }
        let first = call(&m, "pad.list", alice(), json!({"limit": 2})).expect("list");
        assert_eq!(titles(&first), ["p2", "p1"]);
        let cursor = first["next_cursor"].clone();
        assert!(cursor.is_string(), "{first}");
        let rest = call(
            &m,
            "pad.list",
            alice(),
            json!({"limit": 2, "cursor": cursor}),
        )
        .expect("list");
        assert_eq!(titles(&rest), ["p0"]);
        assert_eq!(rest["next_cursor"], Value::Null);
        let e = call(&m, "pad.list", alice(), json!({"cursor": "not-a-cursor"})).unwrap_err();
        assert_eq!(e.kind(), Some("invalid_input"));
        assert!(e.data.is_some_and(|d| d["fields"]["cursor"].is_string()));
    }
}
