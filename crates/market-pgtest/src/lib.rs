//! A PostgreSQL server for tests, and a fresh database on it per test.
//!
//! When `MARKETPLACE_TEST_PG` names a server (`postgres://USER:PASS@HOST:PORT/DB`,
//! a user that may create databases), tests use it. Otherwise the first test
//! of a process starts a throwaway cluster: `initdb` and `pg_ctl` (from
//! `PATH`, else Debian's `/usr/lib/postgresql/<version>/bin`) in a temporary
//! folder, listening on a free loopback port, asking TCP clients for a
//! password (so that a wrong one can be tested). PostgreSQL refuses to run as
//! root, so as root the cluster runs as the `postgres` user (`runuser`). A
//! watcher process stops the cluster and removes its folder when the test
//! process ends.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

/// The environment variable naming an existing server.
pub const ENV: &str = "MARKETPLACE_TEST_PG";

/// The superuser's password on the throwaway cluster.
const PASSWORD: &str = "marketplace-test";

/// The test server's URL with a wrong password, when the server is the
/// throwaway cluster (which checks passwords); `None` on a server
/// `MARKETPLACE_TEST_PG` names, whose authentication is its own.
pub fn wrong_password_url() -> Option<String> {
    let url = server_url();
    url.contains(&format!(":{PASSWORD}@"))
        .then(|| url.replacen(&format!(":{PASSWORD}@"), ":not-the-password@", 1))
}

/// Where the server this process uses listens: a URL of its maintenance database.
pub fn server_url() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| match std::env::var(ENV) {
        Ok(url) if !url.is_empty() => url,
        _ => start_cluster()
            .unwrap_or_else(|e| panic!("cannot start a PostgreSQL test cluster: {e}")),
    })
}

/// A new, empty database on the test server; its URL.
pub fn fresh_database() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let base = server_url();
    let name = format!(
        "mkt_{}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0)
    );
    let mut client = postgres::Client::connect(base, postgres::NoTls)
        .unwrap_or_else(|e| panic!("cannot reach the test server {base}: {e}"));
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .unwrap_or_else(|e| panic!("cannot create database {name}: {e}"));
    with_database(base, &name)
}

/// `url` with its database name replaced by `name`.
pub fn with_database(url: &str, name: &str) -> String {
    let (head, tail) = match url.find("://") {
        Some(i) => url.split_at(i + 3),
        None => ("", url),
    };
    let (authority, query) = match tail.find('/') {
        Some(i) => {
            let rest = &tail[i + 1..];
            let query = rest.find('?').map(|q| &rest[q..]).unwrap_or("");
            (&tail[..i], query)
        }
        None => (tail, ""),
    };
    format!("{head}{authority}/{name}{query}")
}

/// The folder holding `initdb` and `pg_ctl`.
pub fn bin_dir() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            if dir.join("initdb").is_file() && dir.join("pg_ctl").is_file() {
                return Ok(dir);
            }
        }
    }
    let root = Path::new("/usr/lib/postgresql");
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir(root)
        .map_err(|_| "initdb is not installed (install Debian's postgresql package)".to_string())?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse().ok()?;
            Some((v, e.path().join("bin")))
        })
        .filter(|(_, bin)| bin.join("initdb").is_file())
        .collect();
    versions.sort();
    versions
        .pop()
        .map(|(_, bin)| bin)
        .ok_or_else(|| "initdb is not installed (install Debian's postgresql package)".into())
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// A command run as the cluster's owner: this user, or `postgres` when root.
fn as_owner(program: &Path) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn run(mut command: Command, what: &str) -> Result<(), String> {
    let out = command
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{what}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{what} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

fn free_port() -> Result<u16, String> {
    let socket = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    socket
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| e.to_string())
}

fn start_cluster() -> Result<String, String> {
    let bin = bin_dir()?;
    let dir = tempfile::Builder::new()
        .prefix("market-pg-")
        .tempdir()
        .map_err(|e| e.to_string())?
        .keep();
    if is_root() {
        run(
            {
                let mut c = Command::new("chown");
                c.arg("postgres:postgres").arg(&dir);
                c
            },
            "chown",
        )?;
    }
    let data = dir.join("data");
    let pwfile = dir.join("password");
    std::fs::write(&pwfile, PASSWORD)
        .map_err(|e| format!("cannot write the password file: {e}"))?;
    let mut initdb = as_owner(&bin.join("initdb"));
    initdb
        .arg("-D")
        .arg(&data)
        .arg(format!("--pwfile={}", pwfile.display()))
        .args([
            "-U",
            "postgres",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        ]);
    run(initdb, "initdb")?;
    let port = free_port()?;
    let options = format!(
        "-p {port} -k {} -c listen_addresses=127.0.0.1 -c max_connections=400 -c fsync=off -c full_page_writes=off",
        dir.display()
    );
    let mut start = as_owner(&bin.join("pg_ctl"));
    start
        .arg("-D")
        .arg(&data)
        .args(["-o", &options, "-l"])
        .arg(dir.join("log"))
        .args(["-w", "-t", "60", "start"]);
    run(start, "pg_ctl start")?;
    watch(&bin, &dir, &data)?;
    Ok(format!(
        "postgres://postgres:{PASSWORD}@127.0.0.1:{port}/postgres"
    ))
}

/// Stop the cluster and remove its folder once this process is gone.
fn watch(bin: &Path, dir: &Path, data: &Path) -> Result<(), String> {
    let stop = format!(
        "{} {} -D {} -m immediate stop",
        if is_root() {
            "runuser -u postgres --"
        } else {
            ""
        },
        bin.join("pg_ctl").display(),
        data.display()
    );
    let script = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 1; done; {stop} >/dev/null 2>&1; rm -rf {dir}",
        pid = std::process::id(),
        dir = dir.display()
    );
    Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map(|_| ())
        .map_err(|e| format!("cannot start the cluster's watcher: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_names_are_replaced() {
        assert_eq!(
            with_database("postgres://u:p@h:5/postgres", "x"),
            "postgres://u:p@h:5/x"
        );
        assert_eq!(
            with_database("postgresql://u@h:5/db?sslmode=disable", "x"),
            "postgresql://u@h:5/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://u@h:5", "x"), "postgres://u@h:5/x");
    }
}
