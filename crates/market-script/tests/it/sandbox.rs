//! The sandbox: runaway scripts stop with an error naming the limit, and
//! the host stays usable; no file system, `import` or `eval`.

use std::time::{Duration, Instant};

use market_script::Limits;

use crate::support::{Env, Host, Via};

fn host(limits: Limits) -> (Env, Host) {
    let env = Env::new(Via::Local);
    let h = env.host_with(env.transport(), &[], limits);
    (env, h)
}

/// The host still runs scripts and calls the API after a stop.
fn assert_healthy(h: &Host) {
    let v = h.run("let x = 20; x * 2 + 2").unwrap();
    assert_eq!(v, 42);
    assert_eq!(h.run("system::health().status").unwrap(), "ok");
}

#[test]
fn an_endless_loop_stops_at_the_operation_limit() {
    let (_env, h) = host(Limits {
        max_operations: 1_000_000,
        ..Limits::default()
    });
    let e = h.run("let n = 0;\nloop {\n    n += 1;\n}").unwrap_err();
    assert!(e.message.contains("more than 1000000 operations"), "{e}");
    assert_eq!((e.line, e.source.as_str()), (Some(3), "test.rhai"), "{e}");
    assert_healthy(&h);
}

#[test]
fn an_endless_loop_stops_at_the_time_limit() {
    let (_env, h) = host(Limits {
        max_operations: 0,
        max_duration: Some(Duration::from_millis(300)),
        ..Limits::default()
    });
    let started = Instant::now();
    let e = h.run("loop { }").unwrap_err();
    assert!(e.message.contains("ran longer than 0.3s"), "{e}");
    assert!(started.elapsed() < Duration::from_secs(10));
    // the clock starts again for every run
    assert_healthy(&h);
}

#[test]
fn deep_recursion_stops_at_the_call_depth_limit() {
    let (_env, h) = host(Limits::default());
    let e = h.run("fn down(n) { down(n + 1) }\ndown(0)").unwrap_err();
    assert!(
        e.message
            .starts_with("script stopped: function calls nested deeper than 64 levels"),
        "{e}"
    );
    assert_healthy(&h);
    let deep = "1 + ".repeat(200) + "1";
    let e = h.run(&deep).unwrap_err();
    assert!(
        e.message.contains("Expression exceeds maximum complexity"),
        "{e}"
    );
}

#[test]
fn huge_values_stop_at_the_size_limits() {
    // small collection limits: Rhai measures a collection on every change
    let (_env, h) = host(Limits {
        max_array_size: 10_000,
        max_map_size: 10_000,
        ..Limits::default()
    });
    let e = h.run("let s = \"x\";\nloop { s += s; }").unwrap_err();
    assert_eq!(
        e.message,
        "script stopped: a string grew beyond the limit of 16777216"
    );
    let e = h.run("let a = [];\nloop { a.push(0); }").unwrap_err();
    assert_eq!(
        e.message,
        "script stopped: an array grew beyond the limit of 10000"
    );
    let e = h
        .run("let m = #{};\nlet i = 0;\nloop { m.set(`k${i}`, i); i += 1; }")
        .unwrap_err();
    assert_eq!(
        e.message,
        "script stopped: an object map grew beyond the limit of 10000"
    );
    assert_healthy(&h);
}

#[cfg(target_os = "linux")]
#[test]
fn a_map_filled_by_index_stops_at_the_memory_limit() {
    // Rhai does not measure a map that grows through `m[key] = value`;
    // the memory guard stops it instead.
    let (_env, h) = host(Limits {
        max_memory_growth: Some(8 * 1024 * 1024),
        ..Limits::default()
    });
    let started = Instant::now();
    let e = h
        .run("let m = #{};\nlet i = 0;\nloop { m[`key number ${i}`] = i; i += 1; }")
        .unwrap_err();
    assert_eq!(
        e.message,
        "script stopped: the process grew by more than 8 MiB during the run (the memory limit)"
    );
    assert!(started.elapsed() < Duration::from_secs(120));
    assert_healthy(&h);
}

#[test]
fn no_files_no_import_no_eval() {
    let (env, h) = host(Limits::default());
    let e = h.run("import \"secrets\" as s;").unwrap_err();
    assert!(e.message.contains("'import'"), "{e}");
    let e = h.run("eval(\"1 + 1\")").unwrap_err();
    assert!(e.message.contains("'eval' is disabled"), "{e}");
    for name in ["open", "read_file", "system", "command"] {
        let e = h.run(&format!("{name}(\"/etc/passwd\")")).unwrap_err();
        assert!(e.message.contains("Function not found"), "{name}: {e}");
    }
    let e = h.run("write_json(\"/tmp/x.json\", 1)").unwrap_err();
    assert!(e.message.contains("relative path"), "{e}");
    let e = h.run("write_json(\"../x.json\", 1)").unwrap_err();
    assert!(e.message.contains("without '..'"), "{e}");
    assert_eq!(
        h.run("write_json(\"ok.json\", #{a: 1})").unwrap(),
        "ok.json"
    );
    assert!(env.files.path().join("ok.json").exists());
    // Only `MARKETPLACE_*` variables without a secret in their name.
    for hidden in ["PATH", "HOME", "ADMIN_SEED_USERS", "MARKETPLACE_SECRET_KEY"] {
        assert_eq!(
            h.run(&format!("type_of(env(\"{hidden}\"))")).unwrap(),
            "()",
            "{hidden}"
        );
    }
}

#[test]
fn failures_carry_their_position_and_what_was_thrown() {
    let (_env, h) = host(Limits::default());
    let e = h.run("let a = 1;\n  throw \"boom\";").unwrap_err();
    assert_eq!(e.to_string(), "test.rhai:2:3: boom");
    let e = h
        .run("fn get(id) {\n  user::get(#{id: id})\n}\nget(\"01ARZ3NDEKTSV4RRFFQ69G5FAV\")")
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "test.rhai:2:9: user.get: user not found (not_found 4040) (in get, called at line 4)"
    );
    assert_eq!(e.thrown.as_ref().unwrap()["code"], 4040);
    let e = h.run("let x = ;").unwrap_err();
    assert!(
        e.to_string().starts_with("test.rhai:1:9: Syntax error"),
        "{e}"
    );
    let e = h
        .run("user::suspend(#{id: \"01ARZ3NDEKTSV4RRFFQ69G5FAV\", reason: \"\"})")
        .unwrap_err();
    assert_eq!(
        e.message,
        "user.suspend: invalid value for reason (invalid_input 4000) [reason: must not be empty]"
    );
    // `call` still works on function pointers, as in plain Rhai
    assert_eq!(h.run("let f = |x| x * 2; f.call(21)").unwrap(), 42);
    assert_eq!(h.run("let f = |x, y| x + y; call(f, 40, 2)").unwrap(), 42);
    assert_eq!(h.run("call(\"system.health\").db").unwrap(), "ok");
}
