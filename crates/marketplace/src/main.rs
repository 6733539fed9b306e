//! `marketplace`: the one binary. Serves the API and checks schemas.

mod config;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use market_core::App;
use market_rpc::{Caller, RpcError};
use market_server::{Api, Authenticator, ServerConfig};
use market_store::Db;

use crate::config::Config;

#[derive(Parser)]
#[command(
    name = "marketplace",
    version,
    about = "Schema-driven cloud-capacity marketplace backend"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the JSON-RPC server
    Serve {
        /// Address to listen on [default: 127.0.0.1:8080]
        #[arg(long)]
        listen: Option<String>,
        /// Database URL [default: redb://./data/marketplace.redb]
        #[arg(long)]
        db: Option<String>,
        /// Configuration file (TOML); the environment overrides it
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Work with .oschema files
    Schema {
        #[command(subcommand)]
        command: SchemaCommand,
    },
}

#[derive(Subcommand)]
enum SchemaCommand {
    /// Parse and validate .oschema files (one schema); exit 1 on errors
    Check {
        /// Files, or folders of .oschema files
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Print the OpenRPC document of the built-in marketplace schema
    Openrpc,
    /// Write the generated Rust, OpenRPC and HTML of .oschema files to a folder, for reading
    Generate {
        /// Files, or folders of .oschema files
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Folder to write into (created if missing)
        #[arg(long, default_value = "generated")]
        out: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve { listen, db, config } => serve(listen, db, config),
        Command::Schema {
            command: SchemaCommand::Check { files },
        } => schema_check(&files),
        Command::Schema {
            command: SchemaCommand::Generate { files, out },
        } => schema_generate(&files, &out),
        Command::Schema {
            command: SchemaCommand::Openrpc,
        } => match serde_json::to_string_pretty(&market_core::openrpc()) {
            Ok(text) => {
                println!("{text}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
    }
}

/// Read the sources named on the command line; folders contribute their
/// `.oschema` files in name order.
fn read_sources(paths: &[PathBuf]) -> Result<Vec<oschema::Source>, String> {
    let mut sources = Vec::new();
    for path in paths {
        let files = if path.is_dir() {
            let entries =
                std::fs::read_dir(path).map_err(|e| format!("{}: {e}", path.display()))?;
            let mut files: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "oschema"))
                .collect();
            files.sort();
            files
        } else {
            vec![path.clone()]
        };
        for file in files {
            let text =
                std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
            sources.push(oschema::Source {
                name: file.display().to_string(),
                text,
            });
        }
    }
    Ok(sources)
}

/// Read and check schema files, printing every diagnostic.
fn check_files(paths: &[PathBuf]) -> Result<(Vec<oschema::Source>, oschema::Schema), ExitCode> {
    let sources = read_sources(paths).map_err(|e| {
        eprintln!("error: {e}");
        ExitCode::FAILURE
    })?;
    let checked = oschema::check(&sources);
    for d in &checked.diagnostics {
        eprintln!("{d}");
    }
    match checked.schema {
        Some(schema) => Ok((sources, schema)),
        None => {
            let errors = checked
                .diagnostics
                .iter()
                .filter(|d| d.severity == oschema::Severity::Error)
                .count();
            eprintln!("{errors} error(s)");
            Err(ExitCode::FAILURE)
        }
    }
}

fn schema_check(paths: &[PathBuf]) -> ExitCode {
    match check_files(paths) {
        Ok((sources, schema)) => {
            println!(
                "ok: {} file(s), {} enums, {} types ({} root objects), {} services",
                sources.len(),
                schema.enums.len(),
                schema.structs.len(),
                schema.root_objects().count(),
                schema.services.len()
            );
            ExitCode::SUCCESS
        }
        Err(code) => code,
    }
}

fn schema_generate(paths: &[PathBuf], out: &std::path::Path) -> ExitCode {
    let schema = match check_files(paths) {
        Ok((_, schema)) => schema,
        Err(code) => return code,
    };
    let info = oschema_codegen::Info {
        title: "Marketplace".into(),
        version: market_core::VERSION.into(),
        description: "Generated from the schema".into(),
    };
    let openrpc = oschema_codegen::openrpc(&schema, &info);
    let files = [
        ("generated.rs", oschema_codegen::rust(&schema)),
        (
            "openrpc.json",
            serde_json::to_string_pretty(&openrpc).unwrap_or_default(),
        ),
        ("doc.html", oschema_codegen::html(&openrpc)),
    ];
    if let Err(e) = std::fs::create_dir_all(out) {
        eprintln!("error: cannot create {}: {e}", out.display());
        return ExitCode::FAILURE;
    }
    for (name, text) in files {
        let path = out.join(name);
        if let Err(e) = std::fs::write(&path, text) {
            eprintln!("error: cannot write {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
        println!("wrote {}", path.display());
    }
    ExitCode::SUCCESS
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .init();
}

struct CoreAuth(Arc<App>);

impl Authenticator for CoreAuth {
    fn authenticate(&self, token: Option<&str>) -> Result<Caller, RpcError> {
        self.0.authenticate(token)
    }
}

fn serve(listen: Option<String>, db: Option<String>, config_file: Option<PathBuf>) -> ExitCode {
    init_tracing();
    let mut config = match Config::load(config_file.as_deref(), |k| std::env::var(k).ok()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    config.listen = listen.unwrap_or(config.listen);
    config.db = db.unwrap_or(config.db);
    let db = match Db::open(&config.db) {
        Ok(db) => Arc::new(db),
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let runtime = match market_server::runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run_server(&config, db.clone()));
    // Dropping the runtime waits for the blocking pool, so no call is left
    // holding the database when it closes.
    drop(runtime);
    match Arc::try_unwrap(db) {
        Ok(db) => {
            drop(db);
            tracing::info!("database closed");
        }
        Err(_) => tracing::warn!("database still in use at exit; it closes with the process"),
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run_server(config: &Config, db: Arc<Db>) -> Result<(), String> {
    let app = App::new(db.clone());
    let ready_db = db.clone();
    let api = Api {
        methods: app.methods(),
        openrpc: market_core::openrpc(),
        doc_html: market_core::DOC_HTML.to_string(),
        authenticator: Arc::new(CoreAuth(app.clone())),
        ready: Arc::new(move || ready_db.ping().is_ok()),
    };
    let server_config = ServerConfig {
        batch_limit: config.batch_limit,
        body_limit: config.body_limit,
        cors_origins: config.cors_origins.clone(),
        auth_rate_per_min: config.auth_rate_per_min,
        rate_per_min: config.rate_per_min,
        trusted_proxies: config.trusted_proxies.clone(),
    };
    let router = market_server::app(api, &server_config);
    let listener = tokio::net::TcpListener::bind(&config.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    tracing::info!(listen = %config.listen, db = %db.describe(), "serving JSON-RPC at /rpc");
    market_server::serve(listener, router, market_server::shutdown_signal())
        .await
        .map_err(|e| format!("server failed: {e}"))
}
