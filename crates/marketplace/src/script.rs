//! `marketplace run` and `marketplace repl`: Rhai scripts and the admin
//! shell, locally on the database (`--db`, acting as the system admin) or
//! against a running server (`--url`, `--token`).

use std::io::{IsTerminal, Read};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use market_script::{Limits, Options, ScriptHost, Transport, repl};

use crate::config::Config;

/// Where scripts send their calls.
#[derive(clap::Args)]
pub struct Target {
    /// Database URL: run on the database as the system admin (stop the
    /// server first) [default: MARKETPLACE_DB, else redb://./data/marketplace.redb]
    #[arg(long, conflicts_with = "url")]
    pub db: Option<String>,
    /// JSON-RPC URL of a running server, e.g. http://127.0.0.1:8080/rpc
    #[arg(long)]
    pub url: Option<String>,
    /// Bearer token (session token or API key) for --url
    #[arg(long, env = "MARKETPLACE_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

pub fn connect(target: Target) -> Result<Transport, String> {
    if let Some(url) = target.url {
        return Ok(Transport::remote(&url, target.token));
    }
    let mut config = Config::load(None, |k| std::env::var(k).ok()).map_err(|e| e.to_string())?;
    if let Some(url) = target.db {
        config.db = url;
    }
    Ok(Transport::local(crate::serve::open_app(&config)?))
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(std::io::stderr)
        .init();
}

/// `marketplace run SCRIPT`: exit 0 when the script finishes, 1 with
/// `file:line:col: message` when it fails, 2 when it cannot start.
pub fn run(script: &Path, target: Target, set: &[String], timeout_secs: u64) -> ExitCode {
    init_tracing();
    let args = match set
        .iter()
        .map(|s| market_script::parse_set(s))
        .collect::<Result<Vec<_>, _>>()
    {
        Ok(args) => args,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let transport = match connect(target) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let limits = Limits {
        max_duration: (timeout_secs > 0).then(|| Duration::from_secs(timeout_secs)),
        ..Limits::default()
    };
    let host = ScriptHost::new(
        transport,
        Options {
            limits,
            args,
            ..Options::default()
        },
    );
    // A local run's writes become durable together at the end: one flush
    // for the whole script instead of one per call.
    let (result, pending) = market_store::deferred(|| host.run_file(script));
    if let Err(e) = pending.wait() {
        eprintln!("error: the script's changes could not be made durable: {e}");
        return ExitCode::FAILURE;
    }
    match result {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// `marketplace repl`: interactive on a terminal; otherwise stdin is run
/// as one script.
pub fn repl(target: Target) -> ExitCode {
    init_tracing();
    let transport = match connect(target) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let host = ScriptHost::new(
        transport,
        Options {
            limits: Limits::interactive(),
            ..Options::default()
        },
    );
    if std::io::stdin().is_terminal() {
        return match repl::interactive(&host) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let mut text = String::new();
    if let Err(e) = std::io::stdin().read_to_string(&mut text) {
        eprintln!("error: cannot read stdin: {e}");
        return ExitCode::from(2);
    }
    if repl::run_piped(&host, &text, &mut std::io::stderr()) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
