//! Schema types in scripts: the marketplace's (generated at build time)
//! and the golden output of the generator on the `gadgets` fixture,
//! compiled here against its Rust output.

use market_script::types::Types;
use market_script::{Limits, harden};
use serde_json::json;

use crate::support::{Env, Via};

mod gadgets {
    #![allow(clippy::all, dead_code, unused_imports)]
    include!("../../../oschema-codegen/tests/golden/gadgets.rs");
}

mod gadgets_rhai {
    #![allow(clippy::all)]
    use super::gadgets::*;
    include!("../../../oschema-codegen/tests/golden/gadgets.rhai.rs");
}

fn gadget_engine() -> rhai::Engine {
    let mut engine = rhai::Engine::new();
    harden(&mut engine, &Limits::default());
    let mut types = Types::new(&mut engine);
    gadgets_rhai::register_rhai_types(&mut types);
    assert_eq!(
        types.names(),
        [
            "Shelf",
            "Gadget",
            "Widget",
            "Loan",
            "SoldOut",
            "GadgetCount"
        ]
    );
    engine
}

#[test]
fn golden_gadget_bindings_build_read_write_and_validate() {
    let engine = gadget_engine();
    let eval = |s: &str| {
        engine
            .eval::<rhai::Dynamic>(s)
            .map(|v| market_script::value::to_json(&v).unwrap())
    };
    let g = eval(
        r#"let g = Gadget(#{name: "lamp", serial: "S-1", color: "blue", price: "12.50", tags: ["a"]});
           g.shelf = Shelf(#{room: "attic", level: 2});
           g.price = parse_decimal("13.25");
           [g.name, g.color, g.price, g.shelf.room, g.tags, type_of(g), g.version]"#,
    )
    .unwrap();
    assert_eq!(
        g,
        json!(["lamp", "blue", "13.25", "attic", ["a"], "Gadget", 0])
    );
    // enums are strings, checked on the way in
    let e = eval("let g = Gadget(); g.color = \"purple\";").unwrap_err();
    assert!(
        e.to_string()
            .contains("Gadget.color: unknown variant `purple`"),
        "{e}"
    );
    let e = eval("Gadget(#{nmae: \"x\"})").unwrap_err();
    assert!(e.to_string().contains("Gadget has no field 'nmae'"), "{e}");
    // secret fields do not exist for scripts
    let e = eval("Gadget(#{pin: \"1234\"})").unwrap_err();
    assert!(e.to_string().contains("no field 'pin'"), "{e}");
    // validate() throws the schema's field errors like an RPC error
    let fields = eval(
        r#"let g = Gadget(#{name: "", price: "-1"});
           g.shelf = #{room: "x", level: 11};
           let out = ();
           try { g.validate(); } catch (e) { out = [e.code, e.kind, e.data.fields]; }
           out"#,
    )
    .unwrap();
    assert_eq!(fields[0], 4000);
    assert_eq!(fields[1], "invalid_input");
    assert_eq!(fields[2]["name"], "must not be empty");
    assert_eq!(fields[2]["price"], "must be at least 0");
    assert_eq!(fields[2]["shelf.level"], "must be at most 10");
    assert_eq!(
        eval("Gadget(#{name: \"ok\", serial: \"s\", price: \"1\"}).validate()").unwrap(),
        json!(null)
    );
    // json(), to_map() and to_toml() leave the secret out
    let text = eval(r#"let g = Gadget(#{name: "lamp"}); g.json()"#).unwrap();
    let parsed: serde_json::Value = serde_json::from_str(text.as_str().unwrap()).unwrap();
    assert_eq!(parsed["name"], "lamp");
    assert!(parsed.get("pin").is_none());
    let map =
        eval(r#"Gadget(#{name: "lamp", shelf: #{room: "attic", level: 1}}).to_map()"#).unwrap();
    assert_eq!(map["shelf"], json!({"room": "attic", "level": 1}));
    let toml = eval(
        r#"Gadget(#{name: "lamp", tags: ["x"], shelf: #{room: "attic", level: 1}}).to_toml()"#,
    )
    .unwrap();
    let toml = toml.as_str().unwrap();
    assert!(toml.contains("name = \"lamp\""), "{toml}");
    assert!(
        toml.contains("[shelf]\nlevel = 1\nroom = \"attic\""),
        "{toml}"
    );
    assert!(!toml.contains("pin"));
}

#[test]
fn marketplace_types_round_trip_through_the_api() {
    let env = Env::new(Via::Local);
    let h = env.host(&[]);
    let r = h
        .run(
            r#"
            let u = User(user::list(#{}).items[0]);
            let out = #{type: type_of(u), email: u.email, roles: u.roles, status: u.status};
            out.map_keys = u.to_map().keys();
            out.printed = `${u}`.contains("admin@example.com");
            let cap = Capacity(#{cpu_cores: 0, memory_gb: 4, storage_gb: 200});
            try { cap.validate() } catch (e) { out.cap = e.data.fields; }
            out.params = to_json(#{capacity: cap, price: parse_decimal("1.5")});
            out
            "#,
        )
        .unwrap();
    assert_eq!(r["type"], "User");
    assert_eq!(r["email"], "admin@example.com");
    assert_eq!(r["status"], "active");
    assert!(
        !r["map_keys"]
            .as_array()
            .unwrap()
            .contains(&json!("password_hash")),
        "{r}"
    );
    assert_eq!(r["printed"], true);
    assert_eq!(r["cap"], json!({"cpu_cores": "must be at least 1"}));
    let params: serde_json::Value = serde_json::from_str(r["params"].as_str().unwrap()).unwrap();
    assert_eq!(
        params,
        json!({"capacity": {"cpu_cores": 0, "memory_gb": 4, "storage_gb": 200}, "price": "1.5"})
    );
}
