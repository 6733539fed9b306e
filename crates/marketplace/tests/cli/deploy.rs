//! The deploy/ manifests start a working server: the binary runs with
//! exactly the command, arguments and environment that the K3s Deployment
//! (with its ConfigMap and the image's `ENV`) and the compose file give it,
//! and answers 200 on every probe path they name, on the port they name.
//!
//! What the test supplies, and nothing else:
//! - secret values (the Secret keys the Deployment reads, the variables the
//!   compose file requires), random per run;
//! - the database URL: the manifests name PostgreSQL, the test gives a redb
//!   file in a temp dir, so the server runs on the embedded backend here;
//! - the listen address: the manifests listen on `0.0.0.0:PORT` with PORT
//!   the container port; the test checks that, then listens on 127.0.0.1 on
//!   a free port (tests bind loopback only) and sends the probes there.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use yaml_rust2::{Yaml, YamlLoader};

use super::{bin, free_port, root};

/// The image's binary name, as the manifests call it.
const BINARY: &str = "marketplace";

fn load_yaml(path: &Path) -> Vec<Yaml> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    YamlLoader::load_from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn text(y: &Yaml, what: &str) -> String {
    match y {
        Yaml::String(s) => s.clone(),
        Yaml::Integer(i) => i.to_string(),
        other => panic!("{what}: expected a string, got {other:?}"),
    }
}

fn strings(y: &Yaml, what: &str) -> Vec<String> {
    match y {
        Yaml::BadValue => Vec::new(),
        Yaml::Array(items) => items.iter().map(|i| text(i, what)).collect(),
        other => panic!("{what}: expected a list, got {other:?}"),
    }
}

fn mapping(y: &Yaml, what: &str) -> BTreeMap<String, String> {
    match y {
        Yaml::BadValue => BTreeMap::new(),
        Yaml::Hash(h) => h
            .iter()
            .map(|(k, v)| (text(k, what), text(v, what)))
            .collect(),
        other => panic!("{what}: expected a mapping, got {other:?}"),
    }
}

/// The image: its `ENV` settings, `ENTRYPOINT` and `CMD` (exec form), from
/// deploy/Dockerfile's last stage.
struct Image {
    env: BTreeMap<String, String>,
    entrypoint: Vec<String>,
    cmd: Vec<String>,
    healthcheck: Vec<String>,
}

fn image() -> Image {
    let text = std::fs::read_to_string(root().join("deploy/Dockerfile")).unwrap();
    let joined = text.replace("\\\n", " ");
    let stage = joined
        .rsplit_once("\nFROM ")
        .map(|(_, last)| last)
        .expect("a multi-stage Dockerfile");
    let mut image = Image {
        env: BTreeMap::new(),
        entrypoint: Vec::new(),
        cmd: Vec::new(),
        healthcheck: Vec::new(),
    };
    let exec_form = |rest: &str| -> Vec<String> {
        let json = &rest[rest.find('[').expect("exec form")..];
        serde_json::from_str(json.trim()).expect("a JSON array")
    };
    for line in stage.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("ENV ") {
            for pair in rest.split_whitespace() {
                let (k, v) = pair.split_once('=').expect("ENV KEY=VALUE");
                image.env.insert(k.to_string(), v.to_string());
            }
        } else if let Some(rest) = line.strip_prefix("ENTRYPOINT ") {
            image.entrypoint = exec_form(rest);
        } else if let Some(rest) = line.strip_prefix("CMD ") {
            image.cmd = exec_form(rest);
        } else if let Some(rest) = line.strip_prefix("HEALTHCHECK ") {
            image.healthcheck = exec_form(rest.split_once(" CMD ").expect("HEALTHCHECK CMD").1);
        }
    }
    image
}

/// A process as a manifest describes it.
struct Launch {
    argv: Vec<String>,
    env: BTreeMap<String, String>,
    /// The port the manifest publishes (container port).
    port: u16,
    /// (probe name, path, port) the manifest checks.
    probes: Vec<(String, String, u16)>,
}

/// 32 random bytes in hex, as `openssl rand -hex 32` makes secret values.
fn random_hex() -> String {
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .unwrap();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `http://127.0.0.1:PORT/PATH` of a curl health check: (path, port). The
/// Dockerfile's exec form is the command itself, compose's starts with `CMD`.
fn curl_target(argv: &[String]) -> (String, u16) {
    let command = argv.strip_prefix(&["CMD".to_string()]).unwrap_or(argv);
    assert_eq!(
        command.first().map(String::as_str),
        Some("curl"),
        "{argv:?}"
    );
    let url = argv.last().expect("a URL");
    let rest = url
        .strip_prefix("http://127.0.0.1:")
        .unwrap_or_else(|| panic!("health check URL {url} is not on the container's loopback"));
    let (port, path) = rest.split_once('/').expect("a path");
    (format!("/{path}"), port.parse().expect("a port"))
}

/// The Deployment's container, with the ConfigMap it reads and the image's
/// `ENV` under it; secrets from `secrets` by (Secret name, key).
fn deployment(secrets: &BTreeMap<(&str, &str), String>) -> Launch {
    let docs = load_yaml(&root().join("deploy/k8s/deployment.yaml"));
    let deployment = &docs[0];
    assert_eq!(deployment["kind"].as_str(), Some("Deployment"));
    let containers = deployment["spec"]["template"]["spec"]["containers"]
        .as_vec()
        .expect("containers");
    assert_eq!(containers.len(), 1, "one container");
    let c = &containers[0];
    let mut config_maps = BTreeMap::new();
    for doc in load_yaml(&root().join("deploy/k8s/configmap.yaml")) {
        let name = text(&doc["metadata"]["name"], "ConfigMap name");
        config_maps.insert(name, mapping(&doc["data"], "ConfigMap data"));
    }

    let mut env = image().env;
    for from in c["envFrom"].as_vec().cloned().unwrap_or_default() {
        let name = text(&from["configMapRef"]["name"], "envFrom configMapRef");
        let data = config_maps
            .get(&name)
            .unwrap_or_else(|| panic!("envFrom names ConfigMap {name}, not in configmap.yaml"));
        env.extend(data.clone());
    }
    for entry in c["env"].as_vec().cloned().unwrap_or_default() {
        let name = text(&entry["name"], "env name");
        if !entry["value"].is_badvalue() {
            env.insert(name, text(&entry["value"], "env value"));
            continue;
        }
        let from = &entry["valueFrom"];
        if !from["configMapKeyRef"].is_badvalue() {
            let r = &from["configMapKeyRef"];
            let value = config_maps
                .get(&text(&r["name"], "configMapKeyRef name"))
                .and_then(|m| m.get(&text(&r["key"], "configMapKeyRef key")))
                .unwrap_or_else(|| panic!("{name}: no such ConfigMap key"))
                .clone();
            env.insert(name, value);
            continue;
        }
        let r = &from["secretKeyRef"];
        let secret = text(&r["name"], "secretKeyRef name");
        let key = text(&r["key"], "secretKeyRef key");
        match secrets.get(&(secret.as_str(), key.as_str())) {
            Some(value) => {
                env.insert(name, value.clone());
            }
            None if r["optional"].as_bool() == Some(true) => {}
            None => panic!("{name} reads Secret {secret}/{key}, which the test does not know"),
        }
    }

    let mut argv = strings(&c["command"], "command");
    if argv.is_empty() {
        argv = image().entrypoint;
    }
    let args = strings(&c["args"], "args");
    argv.extend(if args.is_empty() { image().cmd } else { args });

    let ports = c["ports"].as_vec().expect("container ports");
    let port_of = |p: &Yaml| -> u16 {
        match p {
            Yaml::Integer(n) => u16::try_from(*n).expect("a port"),
            Yaml::String(name) => ports
                .iter()
                .find(|q| q["name"].as_str() == Some(name))
                .and_then(|q| q["containerPort"].as_i64())
                .and_then(|n| u16::try_from(n).ok())
                .unwrap_or_else(|| panic!("no container port named {name}")),
            other => panic!("probe port {other:?}"),
        }
    };
    let port = port_of(&ports[0]["containerPort"]);
    let probes = ["startupProbe", "livenessProbe", "readinessProbe"]
        .iter()
        .map(|probe| {
            let get = &c[*probe]["httpGet"];
            assert!(!get.is_badvalue(), "{probe} is an HTTP GET");
            (
                probe.to_string(),
                text(&get["path"], "probe path"),
                port_of(&get["port"]),
            )
        })
        .collect();
    Launch {
        argv,
        env,
        port,
        probes,
    }
}

/// `${NAME}`, `${NAME:-default}` and `${NAME:?message}` as compose reads them.
fn interpolate(value: &str, vars: &BTreeMap<&str, String>) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').expect("a closing brace") + start;
        let expr = &rest[start + 2..end];
        let value = if let Some((name, default)) = expr.split_once(":-") {
            vars.get(name)
                .filter(|v| !v.is_empty())
                .cloned()
                .unwrap_or_else(|| default.to_string())
        } else if let Some((name, message)) = expr.split_once(":?") {
            vars.get(name)
                .filter(|v| !v.is_empty())
                .cloned()
                .unwrap_or_else(|| panic!("compose would refuse to start: {message}"))
        } else {
            vars.get(expr).cloned().unwrap_or_default()
        };
        out.push_str(&value);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

/// The compose file's marketplace service, with the image's entrypoint and
/// `ENV` under it; `${...}` from `vars`.
fn compose(vars: &BTreeMap<&str, String>) -> (Launch, i64) {
    let docs = load_yaml(&root().join("deploy/compose.yaml"));
    let service = &docs[0]["services"]["marketplace"];
    assert!(!service.is_badvalue(), "a marketplace service");
    let image = image();
    let mut env = image.env.clone();
    for (k, v) in mapping(&service["environment"], "environment") {
        env.insert(k, interpolate(&v, vars));
    }
    let mut argv = strings(&service["entrypoint"], "entrypoint");
    if argv.is_empty() {
        argv = image.entrypoint.clone();
    }
    let command = strings(&service["command"], "command");
    argv.extend(if command.is_empty() {
        image.cmd.clone()
    } else {
        command
    });
    let published = strings(&service["ports"], "ports");
    assert_eq!(published.len(), 1, "one published port");
    let published = interpolate(&published[0], vars);
    let port = published
        .rsplit_once(':')
        .and_then(|(_, p)| p.parse().ok())
        .unwrap_or_else(|| panic!("published port {published}"));
    let mut probes = vec![{
        let (path, port) = curl_target(&image.healthcheck);
        ("Dockerfile HEALTHCHECK".to_string(), path, port)
    }];
    let check = strings(&service["healthcheck"]["test"], "healthcheck test");
    if !check.is_empty() {
        let (path, port) = curl_target(&check);
        probes.push(("compose healthcheck".into(), path, port));
    }
    let replicas = service["deploy"]["replicas"].as_i64().unwrap_or(1);
    (
        Launch {
            argv,
            env,
            port,
            probes,
        },
        replicas,
    )
}

/// Status code of `GET path` on 127.0.0.1:port.
fn get_status(port: u16, path: &str) -> u16 {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {out}"))
}

/// Start `launch` with only the database URL and listen address replaced
/// (see the module docs); the environment is exactly the manifest's.
fn start(launch: &Launch, db_url: &str, dir: &Path) -> (Child, u16) {
    assert_eq!(
        launch.argv.first().map(String::as_str),
        Some(BINARY),
        "the manifest runs the marketplace binary"
    );
    assert_eq!(
        launch.argv.get(1).map(String::as_str),
        Some("serve"),
        "{:?}",
        launch.argv
    );
    let listen = launch
        .env
        .get("MARKETPLACE_LISTEN")
        .expect("the manifest sets MARKETPLACE_LISTEN");
    assert_eq!(
        listen,
        &format!("0.0.0.0:{}", launch.port),
        "the server listens on the container port, on every interface"
    );
    assert!(
        !launch.argv.iter().any(|a| a == "--listen" || a == "--db"),
        "listen and database come from the environment: {:?}",
        launch.argv
    );
    let port = free_port();
    let mut env = launch.env.clone();
    env.insert("MARKETPLACE_LISTEN".into(), format!("127.0.0.1:{port}"));
    env.insert("MARKETPLACE_DB".into(), db_url.into());
    let child = bin()
        .args(&launch.argv[1..])
        .env_clear()
        .envs(&env)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    (child, port)
}

/// Wait until the server listens; fail with its output if it exits first.
fn wait_listening(child: &mut Child, port: u16) {
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                e.read_to_string(&mut err).unwrap();
            }
            panic!("server exited with {status}: {err}");
        }
        assert!(started.elapsed() < Duration::from_secs(30), "no server");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn stop(mut child: Child) {
    assert!(
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    assert!(child.wait().unwrap().success());
}

/// Run `launch` and GET every probe path: all 200.
fn probes_answer(launch: &Launch, what: &str) {
    let dir = tempfile::tempdir().unwrap();
    let db_url = format!("redb://{}/data/marketplace.redb", dir.path().display());
    let (mut child, port) = start(launch, &db_url, dir.path());
    wait_listening(&mut child, port);
    assert!(
        launch.probes.len() >= 2,
        "{what}: probes {:?}",
        launch.probes
    );
    for (probe, path, probe_port) in &launch.probes {
        assert_eq!(
            *probe_port, launch.port,
            "{what}: {probe} checks the port the server listens on"
        );
        assert_eq!(get_status(port, path), 200, "{what}: {probe} GET {path}");
    }
    // a path the server does not serve is not 200: the probes test something
    assert_eq!(get_status(port, "/no-such-probe"), 404);
    stop(child);
}

fn k8s_secrets(secret_key: &str, node_key: &str) -> BTreeMap<(&'static str, &'static str), String> {
    BTreeMap::from([
        (
            ("marketplace-db-app", "uri"),
            "postgresql://marketplace:unused@marketplace-db-rw:5432/marketplace".to_string(),
        ),
        (
            ("marketplace-secrets", "secret-key"),
            secret_key.to_string(),
        ),
        (("marketplace-secrets", "node-key"), node_key.to_string()),
    ])
}

#[test]
fn the_k8s_deployment_starts_a_server_whose_probes_answer() {
    let launch = deployment(&k8s_secrets(&random_hex(), &random_hex()));
    assert!(
        launch.env["MARKETPLACE_DB"].starts_with("postgresql://"),
        "the Deployment's database is the CloudNativePG one"
    );
    let paths: Vec<&str> = launch.probes.iter().map(|p| p.1.as_str()).collect();
    assert_eq!(paths, ["/healthz", "/healthz", "/readyz"]);
    probes_answer(&launch, "Deployment");
}

#[test]
fn the_compose_file_starts_a_server_whose_health_checks_answer() {
    let vars = BTreeMap::from([
        ("POSTGRES_PASSWORD", random_hex()),
        ("MARKETPLACE_SECRET_KEY", random_hex()),
        ("MARKETPLACE_NODE_KEY", random_hex()),
    ]);
    let (launch, replicas) = compose(&vars);
    assert_eq!(replicas, 2, "two server replicas");
    assert!(
        launch.env["MARKETPLACE_DB"].starts_with(&format!(
            "postgres://marketplace:{}@postgres:5432/",
            vars["POSTGRES_PASSWORD"]
        )),
        "the compose file's database is its PostgreSQL service"
    );
    assert_eq!(
        launch.env["MARKETPLACE_SECRET_KEY"],
        vars["MARKETPLACE_SECRET_KEY"]
    );
    let paths: Vec<&str> = launch.probes.iter().map(|p| p.1.as_str()).collect();
    assert_eq!(paths, ["/healthz", "/readyz"]);
    probes_answer(&launch, "compose");
}

#[test]
fn the_secret_templates_placeholders_are_refused_at_start_up() {
    let docs = load_yaml(&root().join("deploy/k8s/secret.yaml"));
    let template = mapping(&docs[0]["stringData"], "stringData");
    let dir = tempfile::tempdir().unwrap();
    let db_url = format!("redb://{}/data/marketplace.redb", dir.path().display());
    let cases = [
        (
            template["secret-key"].clone(),
            random_hex(),
            "MARKETPLACE_SECRET_KEY",
        ),
        (
            random_hex(),
            template["node-key"].clone(),
            "MARKETPLACE_NODE_KEY",
        ),
    ];
    for (secret_key, node_key, named) in cases {
        let launch = deployment(&k8s_secrets(&secret_key, &node_key));
        let (child, _) = start(&launch, &db_url, dir.path());
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(1), "the placeholder is refused");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(named), "{err}");
    }
}
