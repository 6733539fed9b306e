//! Integration tests: whole schemas in, rendered diagnostics or model out.

// Tests fail by panicking: unwrap, expect and panic are how they assert.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fmt::Write as _;

use expect_test::{Expect, expect};
use oschema::{Access, Checked, FieldAttrs, Schema, Source, check};

fn sources(files: &[(&str, &str)]) -> Vec<Source> {
    files
        .iter()
        .map(|(name, text)| Source::new(*name, *text))
        .collect()
}

fn render_diagnostics(checked: &Checked) -> String {
    checked
        .diagnostics
        .iter()
        .map(|d| format!("{d}\n"))
        .collect()
}

/// Checks `files` and compares the diagnostics, one per line.
fn check_diags(files: &[(&str, &str)], expect: Expect) {
    let checked = check(&sources(files));
    assert_eq!(checked.schema.is_some(), !checked.has_errors());
    expect.assert_eq(&render_diagnostics(&checked));
}

/// Checks `files`, which must have no errors, and compares the model.
fn check_model(files: &[(&str, &str)], expect: Expect) {
    let checked = check(&sources(files));
    let Some(schema) = checked.schema else {
        panic!("unexpected errors:\n{}", render_diagnostics(&checked));
    };
    expect.assert_eq(&render_schema(&schema));
}

fn render_attrs(attrs: &FieldAttrs) -> String {
    let flags = [
        (attrs.index, "index"),
        (attrs.unique, "unique"),
        (attrs.unique_nocase, "nocase"),
        (attrs.search, "search"),
        (attrs.secret, "secret"),
        (attrs.server, "server"),
        (attrs.owner, "owner"),
        (attrs.email, "email"),
    ];
    let mut out: Vec<String> = flags
        .iter()
        .filter(|(set, _)| *set)
        .map(|(_, name)| format!(" {name}"))
        .collect();
    let bounds = [
        ("min", attrs.min),
        ("max", attrs.max),
        ("minlen", attrs.min_len.map(|n| n as f64)),
        ("maxlen", attrs.max_len.map(|n| n as f64)),
        ("keymaxlen", attrs.key_max_len.map(|n| n as f64)),
        ("itemmaxlen", attrs.item_max_len.map(|n| n as f64)),
    ];
    out.extend(
        bounds
            .iter()
            .filter_map(|(name, v)| v.map(|v| format!(" {name}={v}"))),
    );
    out.concat()
}

fn render_doc(doc: Option<&String>) -> String {
    doc.map(|d| format!("  # {d:?}")).unwrap_or_default()
}

fn render_access(access: &Access) -> String {
    match access {
        Access::Roles(roles) => format!("roles({})", roles.join(", ")),
        other => format!("{other:?}").to_lowercase(),
    }
}

/// A compact, readable dump of the model.
fn render_schema(schema: &Schema) -> String {
    let mut out = String::new();
    for e in &schema.enums {
        let _ = writeln!(
            out,
            "enum {} = {}{}",
            e.name,
            e.variants.join(" | "),
            render_doc(e.doc.as_ref())
        );
    }
    for s in &schema.structs {
        let mut head = format!("struct {}", s.name);
        if s.root {
            head.push_str(" root");
        }
        if s.hot {
            head.push_str(" hot");
        }
        if let Some(kind) = s.error_kind {
            let _ = write!(head, " error={}", kind.name());
        }
        if let Some(crud) = &s.crud {
            let ops: Vec<String> = crud
                .ops
                .iter()
                .map(|(op, access)| format!("{}: {}", op.name(), render_access(access)))
                .collect();
            let _ = write!(head, " crud[{}]({})", crud.namespace, ops.join(", "));
        }
        let _ = writeln!(out, "{head}{}", render_doc(s.doc.as_ref()));
        for f in &s.fields {
            let optional = if f.optional { "?" } else { "" };
            let _ = writeln!(
                out,
                "    {}{optional}: {}{}{}",
                f.name,
                f.ty,
                render_attrs(&f.attrs),
                render_doc(f.doc.as_ref())
            );
        }
    }
    for s in &schema.services {
        let mut head = format!("service {} ns={}", s.name, s.namespace);
        if let Some(v) = &s.version {
            let _ = write!(head, " version={v}");
        }
        if let Some(d) = &s.description {
            let _ = write!(head, " description={d:?}");
        }
        if let Some(a) = &s.default_access {
            let _ = write!(head, " access={}", render_access(a));
        }
        let _ = writeln!(out, "{head}{}", render_doc(s.doc.as_ref()));
        for m in &s.methods {
            let params: Vec<String> = m
                .params
                .iter()
                .map(|p| {
                    let optional = if p.optional { "?" } else { "" };
                    format!(
                        "{}{optional}: {}{}{}",
                        p.name,
                        p.ty,
                        render_attrs(&p.attrs),
                        render_doc(p.doc.as_ref())
                    )
                })
                .collect();
            let result = m
                .result
                .as_ref()
                .map(|t| format!(" -> {t}"))
                .unwrap_or_default();
            let mutates = if m.mutates { " mutates" } else { "" };
            let _ = writeln!(
                out,
                "    {}({}){result} access={}{mutates}{}{}",
                m.name,
                params.join(", "),
                render_access(&m.access),
                if m.errors.is_empty() {
                    String::new()
                } else {
                    format!(" errors={}", m.errors.join("|"))
                },
                render_doc(m.doc.as_ref())
            );
        }
    }
    out
}

const HERO: [(&str, &str); 4] = [
    (
        "hero/00_enums.oschema",
        include_str!("fixtures/hero/00_enums.oschema"),
    ),
    (
        "hero/10_objects.oschema",
        include_str!("fixtures/hero/10_objects.oschema"),
    ),
    (
        "hero/20_accounts.oschema",
        include_str!("fixtures/hero/20_accounts.oschema"),
    ),
    (
        "hero/90_services.oschema",
        include_str!("fixtures/hero/90_services.oschema"),
    ),
];

#[test]
fn hero_folder_checks_with_warnings_only() {
    check_diags(
        &HERO,
        expect![[r#"
        hero/20_accounts.oschema:86:16: warning: 'InvalidCredentials' has no @error(kind): it answers as invalid_input (add @error(kind) to 'InvalidCredentials' to choose its kind)
        hero/20_accounts.oschema:90:16: warning: 'InvalidCredentials' has no @error(kind): it answers as invalid_input (add @error(kind) to 'InvalidCredentials' to choose its kind)
        hero/20_accounts.oschema:90:37: warning: 'WeakPassword' has no @error(kind): it answers as invalid_input (add @error(kind) to 'WeakPassword' to choose its kind)
        hero/20_accounts.oschema:90:52: warning: undeclared error 'PasswordReused': it answers as invalid_input (declare 'PasswordReused = { ... } @error(kind)' to choose its kind)
        hero/20_accounts.oschema:110:16: warning: 'InvalidCredentials' has no @error(kind): it answers as invalid_input (add @error(kind) to 'InvalidCredentials' to choose its kind)
    "#]],
    );
}

#[test]
fn hero_folder_model() {
    check_model(
        &HERO,
        expect![[r#"
            enum OrderStatus = paid | completed | cancelled | refunded  # "Where an order is in its life"
            enum Role = customer | service_provider | app_provider | resource_provider | admin  # "Role of a user on the platform"
            enum PricingUnit = one_time | hour | month  # "how a price is counted"
            struct User root  # "A user account"
                email: str index  # "indexed: findable by value"
                display_name: str
                role: Role
                bio?: str  # "? makes a field optional"
                tags: [str]  # "list"
                settings: {str: str}  # "map"
                created: otime  # "timestamp"
                contacts: [Contact]  # "embedded type"
            struct Contact
                name: str
                tel: str
            struct Product root  # "Something for sale"
                name: str index  # "Display name\n(shown in listings)"
                price: decimal
                unit: PricingUnit
                attributes: {str: [str]}
                ratings: [[u8]]
                location?: olocation
                ships_from?: oaddress
                extra: any
            struct Order root  # "A placed order"
                buyer: str index
                status: OrderStatus
                lines: [OrderLine]
                total: decimal
                notes?: str
                history: [OrderEvent]  # "Every status change"
            struct OrderLine
                product: str
                quantity: u32
                unit_price: decimal
                weight: f64
            struct OrderEvent
                at: otime
                status: OrderStatus
                note?: str
            struct Category  # "A category tree: recursion through a list and an option is fine"
                name: str
                children: [Category]
                parent?: Category
                by_name: {str: Category}
            struct InsufficientFunds error=insufficient_funds  # "The wallet cannot pay for it"
                needed: decimal
            struct OutOfStock error=conflict
                product: str
            struct Task root  # "Task entity"
                name?: str index  # "optional name for file naming"
                title: str index  # "task title"
                description?: str index  # "optional detailed description"
                status: OrderStatus  # "current status"
                assignee?: str  # "optional assigned user"
                created: otime  # "creation timestamp"
                due?: otime  # "optional due date"
                tags: [str]  # "categorization tags"
            struct AuthResult  # "Authentication result with session token"
                token: str
                expires_at: otime
                user: User
            struct Profile  # "Profile information"
                bio?: str
                avatar_url?: str
                children: [Comment]
            struct Comment
                content: str
            struct Directory  # "Phone numbers, a list of an embedded type inside an embedded type"
                name: str  # "display name"
                tel: [Tel]  # "list of phone numbers"
            struct Tel
                number: str  # "phone number"
                country_code: str  # "country code"
            struct ActivitySummary  # "User activity summary"
                logins: u32
                last_login?: otime
                actions: u32
            struct InvalidCredentials  # "───────────────────────────────────────────────────────────────────────────\nERROR TYPES\n───────────────────────────────────────────────────────────────────────────"
                message: str
            struct WeakPassword
                message: str
                requirements: [str]
            service AccountManager ns=accountmanager version=1.0.0 description="Account authentication and profile service"  # "this is comment for AccountManager"
                authenticate(email: str, password: str) -> AuthResult access=admin errors=InvalidCredentials  # "Authenticate and return a session token"
                change_password(old_password: str, new_password: str) -> bool access=admin errors=InvalidCredentials|WeakPassword|PasswordReused  # "Change the password"
                update_profile(profile: Profile) -> User access=admin  # "Update the profile"
                get_activity_summary(days: u32) -> ActivitySummary access=admin  # "Activity summary"
                directory() -> [Directory] access=admin  # "Phone book"
            service GroupManager ns=groupmanager version=1.0.0 description="Group manager"
                create(name: str, description: str) -> bool access=admin errors=InvalidCredentials  # "Create a group"
            service OrderService ns=order version=1.0.0 description="Cart checkout and order lifecycle"  # "Order placement and fulfilment"
                checkout(idempotency_key?: str) -> Order access=admin errors=InsufficientFunds|OutOfStock  # "Turn the caller's cart into a paid order"
                get(sid: str) -> Order access=admin
                list(status?: OrderStatus  # "only orders in this status", limit?: u32) -> [Order] access=admin
                cancel(sid: str) access=admin errors=OutOfStock|InsufficientFunds  # "cancel before fulfilment"
            service UserService ns=user version=0.1.0  # "Accounts"
                get(sid: str) -> User access=admin
                find(email: str) -> [User] access=admin
        "#]],
    );
}

#[test]
fn hero_folder_spans_and_files() {
    let schema = check(&sources(&HERO)).schema.expect("hero schema checks");
    let order = schema.find_struct("Order").expect("Order");
    assert_eq!(schema.file_name(order.span), "hero/10_objects.oschema");
    assert_eq!((order.span.line, order.span.col), (35, 1));
    let buyer = order.field("buyer").expect("buyer");
    assert_eq!((buyer.span.line, buyer.span.col), (36, 5));
    assert_eq!(schema.root_objects().count(), 4);
    assert!(order.annotations.is_empty());
    let product = schema.find_struct("Product").expect("Product");
    assert_eq!(product.field("name").map(|f| f.annotations.len()), Some(1));
}

#[test]
fn unknown_types_suggest_a_name() {
    check_diags(
        &[(
            "schemas/marketplace.oschema",
            "Order = { id: str }\nLine = {\n    order: Ordr\n    note: string\n    count: u33\n    list: [{str: Widget}]\n}\n",
        )],
        expect![[r#"
            schemas/marketplace.oschema:3:12: unknown type 'Ordr' (did you mean 'Order'?)
            schemas/marketplace.oschema:4:11: unknown type 'string' (write 'str')
            schemas/marketplace.oschema:5:12: unknown type 'u33' (did you mean 'u32'?)
            schemas/marketplace.oschema:6:18: unknown type 'Widget'
        "#]],
    );
}

#[test]
fn duplicate_definitions_across_files() {
    check_diags(
        &[
            ("a.oschema", "Order = { id: str }\nStatus = \"a\"\n"),
            (
                "b.oschema",
                "\nOrder = { x: str }\nStatus = { y: str }\nservice S {}\nservice S {}\n",
            ),
        ],
        expect![[r#"
            b.oschema:2:1: duplicate definition 'Order' (first defined at a.oschema:1:1)
            b.oschema:3:1: duplicate definition 'Status' (first defined at a.oschema:2:1)
            b.oschema:5:9: duplicate service 'S' (first defined at b.oschema:4:9)
        "#]],
    );
}

#[test]
fn duplicates_inside_definitions() {
    check_diags(
        &[(
            "d.oschema",
            r#"Status = "a" | "b" | "a"
Empty =
Odd = "in progress" | "1x" | ""
Thing = {
    name: str
    name: u8
}
service ThingService {
    put(a: str, a: u8)
    get(a: str) -> Thing
        error: Oops | Oops
}
"#,
        )],
        expect![[r#"
            d.oschema:1:22: duplicate variant "a" in enum 'Status' (first at line 1)
            d.oschema:2:1: enum 'Empty' has no variants (write: Empty = "a" | "b")
            d.oschema:3:7: invalid variant "in progress" in enum 'Odd' (variants start with a letter and hold letters, digits, '_' or '-')
            d.oschema:3:23: invalid variant "1x" in enum 'Odd' (variants start with a letter and hold letters, digits, '_' or '-')
            d.oschema:3:30: invalid variant "" in enum 'Odd' (variants start with a letter and hold letters, digits, '_' or '-')
            d.oschema:6:5: duplicate field 'name' in 'Thing' (first at line 5)
            d.oschema:9:17: duplicate parameter 'a' in method 'put' (first at line 9)
            d.oschema:11:16: warning: undeclared error 'Oops': it answers as invalid_input (declare 'Oops = { ... } @error(kind)' to choose its kind)
            d.oschema:11:23: duplicate error 'Oops' in method 'get' (first at line 11)
        "#]],
    );
}

#[test]
fn method_collisions() {
    check_diags(
        &[(
            "c.oschema",
            r#"# [rootobject]
Gadget = { name: str @index } @crud(get: public, find: user)
service OrderService {
    get(id: str)
    get(id: u32)
}
service OrderAdminService {
    namespace: "order"
    get(id: str)
    list()
}
service GadgetService {
    get(id: str)
    find()
}
"#,
        )],
        expect![[r#"
            c.oschema:5:5: duplicate method 'get' in service 'OrderService' (first defined at c.oschema:4:5)
            c.oschema:9:5: method 'order.get' is already defined in service 'OrderService' (first defined at c.oschema:4:5)
            c.oschema:13:5: method 'gadget.get' is already generated by @crud on 'Gadget' (first defined at c.oschema:2:31)
            c.oschema:14:5: method 'gadget.find' is already generated by @crud on 'Gadget' (first defined at c.oschema:2:31)
        "#]],
    );
}

#[test]
fn error_lines_and_error_types() {
    check_diags(
        &[(
            "e.oschema",
            r#"Gone = {} @error(not_found)
Plain = { a: str }
Color = "red"
service S {
    a() -> Gone
        error: Plain | Color | Gnoe | Gone
    b(reason: [Gone]) -> {str: Gone}
}
"#,
        )],
        expect![[r#"
            e.oschema:5:12: error type 'Gone' cannot be used as a result (error types are named in 'error:' lines)
            e.oschema:6:16: warning: 'Plain' has no @error(kind): it answers as invalid_input (add @error(kind) to 'Plain' to choose its kind)
            e.oschema:6:24: 'Color' is an enum, not an error type (error types are structs with @error(kind))
            e.oschema:6:32: warning: undeclared error 'Gnoe': it answers as invalid_input (declare 'Gnoe = { ... } @error(kind)' to choose its kind)
            e.oschema:7:16: error type 'Gone' cannot be used as a parameter (error types are named in 'error:' lines)
            e.oschema:7:32: error type 'Gone' cannot be used as a result (error types are named in 'error:' lines)
        "#]],
    );
}

#[test]
fn recursive_embedding() {
    check_diags(
        &[(
            "r.oschema",
            r#"A = { b: B }
B = { a: A  f: F }
Node = { next: Node }
Tree = { children: [Tree]  parent?: Tree  index: {str: Tree} }
C = { d: D }
D = { e?: E  c: C }
E = { a: A }
F = { b: B }
B2 = { f: F }
"#,
        )],
        expect![[r#"
            r.oschema:1:7: recursive type 'A' embeds itself: A.b -> B.a -> A (make one of these fields optional ('?') or a list)
            r.oschema:3:10: recursive type 'Node' embeds itself: Node.next -> Node (make one of these fields optional ('?') or a list)
            r.oschema:5:7: recursive type 'C' embeds itself: C.d -> D.c -> C (make one of these fields optional ('?') or a list)
            r.oschema:8:7: recursive type 'F' embeds itself: F.b -> B.f -> F (make one of these fields optional ('?') or a list)
        "#]],
    );
}

#[test]
fn reserved_and_badly_cased_names() {
    check_diags(
        &[(
            "n.oschema",
            r#"str = { a: str }
Self = { a: str }
order_item = { a: str }
Good = {
    type: str
    displayName: str
    Fine: str
}
service order_service {
    Get(match: str) -> Good
    move()
}
# [rootobject]
Stored = {
    created_at: otime
    version: u32
    updated_at: otime
}
Both = { sid: str  id: str }
NumericId = { id: u32  other: Strr }
"#,
        )],
        expect![[r#"
            n.oschema:1:1: 'str' is a builtin type and cannot be redefined (choose another name)
            n.oschema:2:1: 'Self' is a reserved word (it names a Rust prelude item the generated code relies on; choose another name)
            n.oschema:3:1: type name 'order_item' must be UpperCamelCase (rename to 'OrderItem')
            n.oschema:5:5: field name 'type' is a reserved word (it is a Rust keyword; choose another name)
            n.oschema:6:5: field name 'displayName' must be lower snake_case (rename to 'display_name')
            n.oschema:7:5: field name 'Fine' must be lower snake_case (rename to 'fine')
            n.oschema:9:9: service name 'order_service' must be UpperCamelCase (rename to 'OrderService')
            n.oschema:10:5: method name 'Get' must be lower snake_case (rename to 'get')
            n.oschema:10:9: parameter name 'match' is a reserved word (it is a Rust keyword; choose another name)
            n.oschema:11:5: method name 'move' is a reserved word (it is a Rust keyword; choose another name)
            n.oschema:15:5: 'created_at' is reserved in root objects (root objects get id, created_at, updated_at and version implicitly)
            n.oschema:16:5: 'version' is reserved in root objects (root objects get id, created_at, updated_at and version implicitly)
            n.oschema:17:5: 'updated_at' is reserved in root objects (root objects get id, created_at, updated_at and version implicitly)
            n.oschema:19:20: 'Both' has both 'sid' and 'id'
            n.oschema:20:31: unknown type 'Strr' (did you mean 'str'?)
        "#]],
    );
}

#[test]
fn idempotency_key_must_be_an_optional_str() {
    check_diags(
        &[(
            "i.oschema",
            "service S {\n    a(idempotency_key: str)\n    b(idempotency_key?: u64)\n    c(idempotency_key?: str)\n}\n",
        )],
        expect![[r#"
            i.oschema:2:7: 'idempotency_key' must be an optional str (write 'idempotency_key?: str')
            i.oschema:3:7: 'idempotency_key' must be an optional str (write 'idempotency_key?: str')
        "#]],
    );
}

#[test]
fn syntax_errors_say_what_was_expected() {
    check_diags(
        &[(
            "s.oschema",
            r#"A = {
    x str
    y: }
B = { name: "unterminated }
C = { a$: str }
D = { ok: str }
"#,
        )],
        expect![[r#"
            s.oschema:2:7: expected ':' after field name 'x', found 'str'
            s.oschema:3:8: expected type, found '}'
            s.oschema:4:13: unterminated string (strings end with '"' on the same line)
            s.oschema:4:13: expected type, found string "unterminated }"
            s.oschema:5:1: expected '}' to close 'B', found 'C' ('{' at line 4)
            s.oschema:5:8: unexpected character '$'
        "#]],
    );
}

#[test]
fn a_broken_file_reports_every_problem() {
    check_diags(
        &[(
            "broken.oschema",
            r#"Status = "a" | b
Good = { a: str }
Bad = {
    one: [str
    two: Missing
    three: {str str}
    @index
    four: str
5 = 6
service S {
    m(a: str b: str) -> X
    n(a: str
    o() -> Good
    version 1
}
service T {
    p()
"#,
        )],
        expect![[r#"
            broken.oschema:1:16: expected a "variant", found 'b'
            broken.oschema:4:14: expected ']' to close the list type, found end of line
            broken.oschema:5:10: unknown type 'Missing'
            broken.oschema:6:17: expected ':' after the map key type, found 'str'
            broken.oschema:7:5: expected a field name, found annotation '@index' (field annotations follow the type: 'email: str @index')
            broken.oschema:9:1: expected a field name or '}', found number 5
            broken.oschema:10:1: expected '}' to close 'Bad', found 'service' ('{' at line 3)
            broken.oschema:11:14: expected ',' or ')' after parameter 'a', found 'b'
            broken.oschema:11:25: unknown type 'X'
            broken.oschema:13:5: expected ')' after the parameters of 'n', found 'o'
            broken.oschema:14:5: expected a method ('name(params) -> Type') or a key ('version: "1.0"'), found 'version'
            broken.oschema:18:1: expected '}' to close service 'T', found end of file ('{' at line 16)
        "#]],
    );
}

#[test]
fn access_annotations() {
    check_model(
        &[(
            "a.oschema",
            r#"service PlainService {
    a()
}
service ShopService {
    access: "user"
    b()
    @access(public)
    c()
    d() @access(owner) @mutates
    @mutates
    @access(admin)
    e()
    f() @access(service_provider, app_provider)
    g() @access([customer])
}
service ProviderService {
    access: "service_provider, resource_provider"
    h()
}
Role = "customer" | "service_provider" | "app_provider" | "resource_provider"
"#,
        )],
        expect![[r#"
            enum Role = customer | service_provider | app_provider | resource_provider
            service PlainService ns=plain
                a() access=admin
            service ShopService ns=shop access=user
                b() access=user
                c() access=public
                d() access=owneroradmin mutates
                e() access=admin mutates
                f() access=roles(service_provider, app_provider)
                g() access=roles(customer)
            service ProviderService ns=provider access=roles(service_provider, resource_provider)
                h() access=roles(service_provider, resource_provider)
        "#]],
    );
}

#[test]
fn bad_access_values() {
    check_diags(
        &[(
            "a.oschema",
            r#"service S {
    access: "usr"
    a() @access(servce_provider)
    b() @access(public, customer)
    c() @access(wizard)
    d() @access()
    e() @access(role: admin)
    f() @access(3) @mutates(yes)
}
Role = "customer" | "service_provider" | "app_provider" | "resource_provider"
"#,
        )],
        expect![[r#"
            a.oschema:2:13: unknown role 'usr' (did you mean 'user'?)
            a.oschema:3:17: unknown role 'servce_provider' (did you mean 'service_provider'?)
            a.oschema:4:17: 'public' cannot be combined with other access values (list roles only, e.g. 'service_provider, app_provider')
            a.oschema:5:17: unknown role 'wizard' (expected public, user, owner, admin or roles: customer, service_provider, app_provider, resource_provider)
            a.oschema:6:9: expected an access value (expected public, user, owner, admin or roles: customer, service_provider, app_provider, resource_provider)
            a.oschema:7:17: '@access' takes access values, not 'key: value' (e.g. '@access(user)' or '@access(service_provider, app_provider)')
            a.oschema:8:17: expected an access value, found 3
            a.oschema:8:29: '@mutates' takes no arguments
        "#]],
    );
}

#[test]
fn roles_are_the_variants_of_the_role_enum() {
    check_diags(
        &[(
            "r.oschema",
            r#"service S {
    a() @access(customer)
    b() @access(moderator)
}
Role = "customer" | "admin"
"#,
        )],
        expect![[r#"
            r.oschema:3:17: unknown role 'moderator' (expected public, user, owner, admin or roles: customer, admin)
        "#]],
    );
    check_diags(
        &[(
            "n.oschema",
            r#"service S {
    a() @access(customer)
}
"#,
        )],
        expect![[r#"
            n.oschema:2:17: unknown role 'customer' (expected public, user, owner or admin; roles are the variants of a 'Role' enum)
        "#]],
    );
}

#[test]
fn crud_and_error_kinds() {
    check_model(
        &[(
            "c.oschema",
            r#"# A gadget [rootobject]
@crud(namespace: "gadget", create: admin, get: public, list: public,
      find: public, update: owner, delete: [service_provider, app_provider])
Gizmo = {
    owner_id: ulid @owner
    serial: str @unique(nocase)
}
ApiKey = { sid: str  name: str } @crud(get: customer)
Taken = { what: str } @error(conflict)
Late = {} @error("invalid_state")
Role = "customer" | "service_provider" | "app_provider" | "resource_provider"
"#,
        )],
        expect![[r#"
            enum Role = customer | service_provider | app_provider | resource_provider
            struct Gizmo root crud[gadget](create: admin, get: public, list: public, find: public, update: owneroradmin, delete: roles(service_provider, app_provider))  # "A gadget"
                owner_id: ulid owner
                serial: str index unique nocase
            struct ApiKey root crud[apikey](get: roles(customer))
                name: str
            struct Taken error=conflict
                what: str
            struct Late error=invalid_state
        "#]],
    );
}

#[test]
fn crud_errors() {
    check_diags(
        &[(
            "c.oschema",
            r#"Plain = { a: str } @crud(get: public)
# [rootobject]
NoOwner = { a: str } @crud(update: owner, find: user, list: owner, fetch: admin, get: public, get: user)
# [rootobject]
Empty = {} @crud
# [rootobject]
Weird = {} @crud(public, namespace: "Bad Name")
Oops = {} @error(conflit)
Huh = {} @error(nothing_like_it)
Many = {} @error(conflict, not_found)
# [rootobject]
Stored = {} @error(conflict)
"#,
        )],
        expect![[r#"
            c.oschema:1:20: '@crud' needs a root object, and 'Plain' is not one (put '[rootobject]' in the doc comment of 'Plain')
            c.oschema:3:36: 'update: owner' needs an @owner field in 'NoOwner' (mark the field holding the owner's user id with @owner)
            c.oschema:3:43: 'find' needs an @index or @unique field in 'NoOwner' (mark the fields to find by with @index)
            c.oschema:3:61: 'owner' access does not apply to 'list' ('owner' applies to get, update and delete)
            c.oschema:3:68: unknown @crud operation 'fetch' (operations: create, get, list, find, update, delete; and 'namespace')
            c.oschema:3:95: duplicate @crud operation 'get'
            c.oschema:5:12: '@crud' needs at least one operation (e.g. '@crud(get: public, list: public, create: admin)')
            c.oschema:7:18: '@crud' arguments are written 'operation: access' (e.g. '@crud(get: public, update: owner)')
            c.oschema:7:37: namespace 'Bad Name' must be lower snake_case (e.g. 'bad_name')
            c.oschema:8:18: unknown error kind 'conflit' (did you mean 'conflict'?)
            c.oschema:9:17: unknown error kind 'nothing_like_it' (error kinds: invalid_input, unauthenticated, insufficient_funds, forbidden, not_found, conflict, idempotency_mismatch, invalid_state, rate_limited)
            c.oschema:10:11: '@error' takes one value, e.g. '@error(conflict)'
            c.oschema:12:13: error type 'Stored' cannot be a root object (remove '[rootobject]' from its doc comment)
        "#]],
    );
}

#[test]
fn hot_marks_root_objects_rewritten_often() {
    check_model(
        &[(
            "h.oschema",
            "# A balance [rootobject]\n@hot\nPurse = { amount: decimal }\n# [rootobject]\nLedger = { note: str }\n",
        )],
        expect![[r#"
            struct Purse root hot  # "A balance"
                amount: decimal
            struct Ledger root
                note: str
        "#]],
    );
    check_diags(
        &[(
            "h.oschema",
            "Plain = { a: str } @hot\n# [rootobject]\nLoud = { a: str } @hot(50)\n# [rootobject]\nTwice = { a: str } @hot @hot\n",
        )],
        expect![[r#"
            h.oschema:1:20: '@hot' needs a root object, and 'Plain' is not one (put '[rootobject]' in the doc comment of 'Plain')
            h.oschema:3:24: '@hot' takes no arguments
            h.oschema:5:25: duplicate annotation '@hot'
        "#]],
    );
}

#[test]
fn field_attributes() {
    check_model(
        &[(
            "f.oschema",
            r#"Kind = "a" | "b"
# [rootobject]
Account = {
    email: str @unique(nocase) @email @maxlen(254)
    name: str @search @minlen(1) @maxlen(80)
    tags: [str] @search @maxlen(20)
    kind: Kind @index
    owner: ulid @owner
    password_hash: str @secret @server
    age: u8 @min(18) @max(130)
    balance: decimal @min(-10.5)
    opened: otime @index
}
service AccountService {
    transfer(amount: decimal @min(0.01), memo?: str @maxlen(140), to: str @email) @mutates
}
"#,
        )],
        expect![[r#"
            enum Kind = a | b
            struct Account root
                email: str index unique nocase email maxlen=254
                name: str search minlen=1 maxlen=80
                tags: [str] search maxlen=20
                kind: Kind index
                owner: ulid owner
                password_hash: str secret server
                age: u8 min=18 max=130
                balance: decimal min=-10.5
                opened: otime index
            service AccountService ns=account
                transfer(amount: decimal min=0.01, memo?: str maxlen=140, to: str email) access=admin mutates
        "#]],
    );
}

#[test]
fn bad_field_annotation_arguments_and_places() {
    check_diags(
        &[(
            "f.oschema",
            r#"Kind = "a" | "b"
Inner = { a: str }
T = {
    a: u32 @min(abc)
    b: str @maxlen(-1)
    c: str @index(3)
    d: str @min(1)
    e: u32 @minlen(2)
    f: u8 @email
    g: [u8] @search
    h: u64 @owner
    i: [str] @index
    j: Inner @unique
    k: {str: u8} @maxlen(3)
    l: f64 @index
    m: u8 @unique(nocase)
    n: str @unique(always)
    o: u8 @min(5) @max(1)
    p: str @minlen(1.5) @maxlen
    q: str @secret @index
    r: str @index @index
    s: Kind @index @access(user)
    t: str @crud(get: public)
} @mutates
E = "x" @index
service S {
    @index
    m(a: str @error(conflict)) @owner
}
"#,
        )],
        expect![[r#"
            f.oschema:4:17: '@min' expects a number, found 'abc'
            f.oschema:5:20: '@maxlen' expects a non-negative integer, found -1
            f.oschema:6:19: '@index' takes no arguments
            f.oschema:7:12: '@min' cannot be used on field 'd' of type 'str' ('@min' applies to numbers and decimals)
            f.oschema:8:12: '@minlen' cannot be used on field 'e' of type 'u32' ('@minlen' applies to str, lists and maps)
            f.oschema:9:11: '@email' cannot be used on field 'f' of type 'u8' ('@email' applies to str)
            f.oschema:10:13: '@search' cannot be used on field 'g' of type '[u8]' ('@search' applies to str and [str])
            f.oschema:11:12: '@owner' cannot be used on field 'h' of type 'u64' ('@owner' applies to the user id field: 'ulid' or 'str')
            f.oschema:13:14: '@unique' cannot be used on field 'j' of type 'Inner' ('@unique' applies to single values: str, bool, integers, ulid, otime, decimal and enums)
            f.oschema:15:12: '@index' cannot be used on field 'l' of type 'f64' ('@index' applies to single values (str, bool, integers, ulid, otime, decimal, enums) and lists of them)
            f.oschema:16:19: 'nocase' applies to str fields only
            f.oschema:17:20: '@unique' accepts only 'nocase', found 'always'
            f.oschema:18:5: 'o' has @min(5) greater than @max(1)
            f.oschema:19:20: '@minlen' expects a non-negative integer, found 1.5
            f.oschema:19:25: '@maxlen' takes one value, e.g. '@maxlen(1)'
            f.oschema:20:5: 'q' cannot be both @secret and indexed (encrypted values cannot be looked up; use @hidden for one-way hashes that must stay searchable)
            f.oschema:20:5: '@secret' field 'q' must belong to a root object (secret fields are encrypted where their root object is stored; use @hidden to only keep a field out of answers)
            f.oschema:21:19: duplicate annotation '@index'
            f.oschema:22:20: '@access' cannot be used on a field ('@access' applies to methods)
            f.oschema:23:12: '@crud' cannot be used on a field ('@crud' applies to structs)
            f.oschema:24:3: '@mutates' cannot be used on a struct ('@mutates' applies to methods)
            f.oschema:25:9: '@index' cannot be used on an enum ('@index' applies to fields and parameters)
            f.oschema:27:5: '@index' cannot be used on a method ('@index' applies to fields and parameters)
            f.oschema:28:14: '@error' cannot be used on a parameter ('@error' applies to structs)
            f.oschema:28:32: '@owner' cannot be used on a method ('@owner' applies to fields and parameters)
        "#]],
    );
}

#[test]
fn unknown_annotations_and_keys_are_warnings() {
    let files = [(
        "w.oschema",
        r#"Thing = { a: str @indx  b: str @hero_specific(1, "x") } @table(things)
service ThingService {
    version: "1"
    owner: "team-x"
    verion: "2"
    get(a: str) -> Thing @cache(60)
}
"#,
    )];
    check_diags(
        &files,
        expect![[r#"
        w.oschema:1:18: warning: unknown annotation '@indx' (did you mean 'index'?)
        w.oschema:1:32: warning: unknown annotation '@hero_specific'
        w.oschema:1:57: warning: unknown annotation '@table'
        w.oschema:4:5: warning: unknown service key 'owner' (known keys: version, description, namespace, access)
        w.oschema:5:5: warning: unknown service key 'verion' (did you mean 'version'?)
        w.oschema:6:26: warning: unknown annotation '@cache'
    "#]],
    );
    let schema = check(&sources(&files)).schema.expect("warnings only");
    let thing = schema.find_struct("Thing").expect("Thing");
    assert_eq!(thing.annotations[0].name, "table");
    let field = thing.field("b").expect("b");
    assert_eq!(
        field.annotations[0].args[1].value,
        oschema::Value::Str("x".to_owned())
    );
}

#[test]
fn annotations_with_a_space_before_the_parenthesis() {
    check_diags(
        &[("p.oschema", "T = { a: str @maxlen (3) }\n")],
        expect![[r#"
            p.oschema:1:22: unexpected space before '(' of '@maxlen' (write '@maxlen(...)')
        "#]],
    );
}

#[test]
fn dangling_annotations() {
    check_diags(
        &[(
            "d.oschema",
            "service S {\n    a()\n    @mutates\n}\n@crud(get: public)\n",
        )],
        expect![[r#"
            d.oschema:3:5: annotation '@mutates' is not followed by a method
            d.oschema:5:1: annotation '@crud' is not followed by a definition
        "#]],
    );
}

#[test]
fn docs_on_every_level() {
    check_model(
        &[(
            "docs.oschema",
            r#"# The shop
#
# Sells things.
service ShopService {
    # Buy one thing
    # right now
    buy(
        # which product
        product: str,
        quantity?: u32,  # how many
    ) -> Receipt  # returns a receipt
}

Receipt = {
    # when it was paid
    at: otime  # UTC
    total: decimal
}
"#,
        )],
        expect![[r#"
            struct Receipt
                at: otime  # "when it was paid\nUTC"
                total: decimal
            service ShopService ns=shop  # "The shop\n\nSells things."
                buy(product: str  # "which product", quantity?: u32  # "how many") -> Receipt access=admin  # "Buy one thing\nright now\nreturns a receipt"
        "#]],
    );
}

#[test]
fn diagnostics_are_sorted_by_file_line_and_col() {
    let checked = check(&sources(&[
        ("z.oschema", "B = { x: Nope }\nA = { y: Nada  z: Nil }\n"),
        ("a.oschema", "C = { w: Zip }\n"),
    ]));
    let positions: Vec<(String, u32, u32)> = checked
        .diagnostics
        .iter()
        .map(|d| (d.file.clone(), d.line, d.col))
        .collect();
    assert_eq!(
        positions,
        [
            ("z.oschema".to_owned(), 1, 10),
            ("z.oschema".to_owned(), 2, 10),
            ("z.oschema".to_owned(), 2, 19),
            ("a.oschema".to_owned(), 1, 10),
        ]
    );
}

#[test]
fn garbage_never_panics() {
    let garbage = [
        "",
        "}",
        "{{{{",
        "@",
        "= = =",
        "service",
        "service {",
        "A = {",
        "A = { b: [[[[[[[[",
        "A = \"",
        "A = { b: {str: } }",
        "service S { m(a: str, @x(",
        "\u{0}\u{1}\u{7f}é漢字",
        "# only a comment\n@x(((((\n",
        "A = { b: str } @crud(get: [[[[[[[[[[[[]]]]]",
        "-> -> | | ? ? : :",
        "A = \"a\" |",
        "service S {\n  error: X\n}",
    ];
    for text in garbage {
        let checked = check(&[Source::new("g.oschema", text)]);
        assert!(
            text.is_empty() || text.starts_with('#') || checked.has_errors(),
            "no error for {text:?}"
        );
    }
    let deep = format!(
        "A = {{ b: {}str{} }}",
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    assert!(check(&[Source::new("deep.oschema", deep)]).has_errors());
    let deep = format!("A = {{}} @x({}{})", "[".repeat(10_000), "]".repeat(10_000));
    assert!(check(&[Source::new("deep.oschema", deep)]).has_errors());
}

#[test]
fn random_token_soup_never_panics() {
    const PIECES: &[&str] = &[
        "A", "b", "service", "=", "{", "}", "[", "]", "(", ")", ":", "?", ",", "|", "->", "@x",
        "@crud", "@access", "\"s\"", "1", "-2.5", "# c", "\n", " ", "str", "error", "$", "\"",
    ];
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    for _ in 0..2_000 {
        let mut text = String::new();
        for _ in 0..40 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            text.push_str(PIECES[(seed % PIECES.len() as u64) as usize]);
            text.push(' ');
        }
        let checked = check(&[Source::new("soup.oschema", text)]);
        assert_eq!(checked.schema.is_some(), !checked.has_errors());
    }
}

#[test]
fn marketplace_schema_checks() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../schemas/marketplace.oschema"
    );
    let Ok(text) = std::fs::read_to_string(path) else {
        eprintln!("skipped: {path} is absent");
        return;
    };
    let checked = check(&[Source::new("schemas/marketplace.oschema", text)]);
    let errors: Vec<String> = checked
        .diagnostics
        .iter()
        .filter(|d| d.severity == oschema::Severity::Error)
        .map(ToString::to_string)
        .collect();
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}

#[path = "it/invariants.rs"]
mod invariants;

/// The checker takes any text: it never panics, rejects or accepts
/// consistently, every diagnostic points at a place inside its file, in
/// order, and a second check gives the same outcome.
mod props {
    use proptest::collection::vec;
    use proptest::prelude::*;
    use proptest::sample::{Index, select};

    use super::*;

    /// Pieces of the language, so that generated inputs get deep into the
    /// parser and checker rather than stopping at the first character.
    const PIECES: &[&str] = &[
        "Thing",
        " = ",
        "{",
        "}",
        "\n",
        "  ",
        "name",
        ":",
        "str",
        "u32",
        "?",
        "[",
        "]",
        "@index",
        "@unique(nocase)",
        "@min(1)",
        "@max(",
        "\"a\"",
        " | ",
        "# [rootobject]\n",
        "# doc\n",
        "service ",
        "ThingService",
        "(",
        ")",
        ",",
        " -> ",
        "error: ",
        "Gone",
        "@error(not_found)",
        "version: \"1.0\"",
        "@access(user)",
        "@crud(get: public)",
        "{str: ",
        "decimal",
        "ulid",
        "otime",
        "sid",
        "\u{2500}",
        "\"",
        "@",
        "-",
        "0",
    ];

    fn assert_diagnostics_point_into(text: &str) {
        invariants::assert_sound(&[Source::new("p.oschema", text)]);
    }

    /// `text` with the characters from `at` to `at + cut` replaced by `insert`.
    fn splice(text: &str, at: Index, cut: usize, insert: &str) -> String {
        let chars: Vec<char> = text.chars().collect();
        let start = at.index(chars.len() + 1);
        let end = (start + cut).min(chars.len());
        chars[..start]
            .iter()
            .copied()
            .chain(insert.chars())
            .chain(chars[end..].iter().copied())
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn any_text(text in "\\PC{0,200}") {
            assert_diagnostics_point_into(&text);
        }

        #[test]
        fn any_arrangement_of_the_languages_pieces(
            pieces in proptest::collection::vec(proptest::sample::select(PIECES), 0..60)
        ) {
            assert_diagnostics_point_into(&pieces.concat());
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Any bytes, read as a file with invalid UTF-8 would be shown:
        /// control characters, NUL, CR, a byte order mark and U+FFFD too.
        #[test]
        fn any_bytes_read_as_text(bytes in vec(any::<u8>(), 0..300)) {
            assert_diagnostics_point_into(&String::from_utf8_lossy(&bytes));
        }

        /// Several files of the language's pieces: each diagnostic names the
        /// file it is in, in the order the files were given.
        #[test]
        fn several_files_of_the_languages_pieces(
            files in vec(vec(select(PIECES), 0..40), 1..5)
        ) {
            let sources: Vec<Source> = files
                .iter()
                .enumerate()
                .map(|(i, pieces)| Source::new(format!("f{i}.oschema"), pieces.concat()))
                .collect();
            invariants::assert_sound(&sources);
        }
    }

    proptest! {
        // Each case checks the whole folder twice.
        #![proptest_config(ProptestConfig::with_cases(128))]

        /// A real schema folder with one file changed somewhere (a piece of
        /// the language or any text in place of a stretch of it): errors
        /// deep inside valid files and across files.
        #[test]
        fn the_hero_folder_with_one_file_changed(
            file in 0..HERO.len(),
            at in any::<Index>(),
            cut in 0..40usize,
            insert in prop_oneof![select(PIECES).prop_map(str::to_owned), any::<String>()],
        ) {
            let sources: Vec<Source> = HERO
                .iter()
                .enumerate()
                .map(|(i, (name, text))| {
                    let text = if i == file {
                        splice(text, at, cut, &insert)
                    } else {
                        (*text).to_owned()
                    };
                    Source::new(*name, text)
                })
                .collect();
            invariants::assert_sound(&sources);
        }
    }
}

#[test]
fn map_keys_and_items_have_their_own_length_annotations() {
    check_model(
        &[(
            "f.oschema",
            r#"T = {
    attributes: {str: str} @maxlen(50) @keymaxlen(64) @itemmaxlen(1000)
    tags: [str] @itemmaxlen(30)
}
"#,
        )],
        expect![[r#"
            struct T
                attributes: {str: str} maxlen=50 keymaxlen=64 itemmaxlen=1000
                tags: [str] itemmaxlen=30
        "#]],
    );
    check_diags(
        &[(
            "f.oschema",
            r#"T = {
    a: str @keymaxlen(3)
    b: {u32: str} @keymaxlen(3)
    c: [u8] @itemmaxlen(3)
    d: {str: u8} @itemmaxlen(3)
    e: {str: str} @keymaxlen(-1)
}
"#,
        )],
        expect![[r#"
            f.oschema:2:12: '@keymaxlen' cannot be used on field 'a' of type 'str' ('@keymaxlen' applies to maps with str keys)
            f.oschema:3:19: '@keymaxlen' cannot be used on field 'b' of type '{u32: str}' ('@keymaxlen' applies to maps with str keys)
            f.oschema:4:13: '@itemmaxlen' cannot be used on field 'c' of type '[u8]' ('@itemmaxlen' applies to lists of str and maps with str values)
            f.oschema:5:18: '@itemmaxlen' cannot be used on field 'd' of type '{str: u8}' ('@itemmaxlen' applies to lists of str and maps with str values)
            f.oschema:6:30: '@keymaxlen' expects a non-negative integer, found -1
        "#]],
    );
}
