//! `marketplace`: the one binary. Serves the API, runs Rhai scripts and the
//! admin REPL, manages users on the database and works with schemas.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod admin;
mod board;
mod catalog_cli;
mod config;
mod data;
mod mirror;
mod schema;
mod script;
mod secrets;
mod serve;
mod webhooks;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

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
    /// Run a Rhai script on the database (--db) or against a server (--url)
    Run {
        /// The script file
        script: PathBuf,
        #[command(flatten)]
        target: script::Target,
        /// A script variable: --set name=value (numbers and true/false are typed)
        #[arg(long = "set", value_name = "NAME=VALUE")]
        set: Vec<String>,
        /// Stop the script after this many seconds (0: no limit)
        #[arg(long, default_value_t = 3600)]
        timeout: u64,
    },
    /// Interactive Rhai shell with the marketplace API (stdin not a terminal: run it as a script)
    Repl {
        #[command(flatten)]
        target: script::Target,
    },
    /// Manage users directly on the database (stop the server first)
    Admin {
        /// Database URL [default: MARKETPLACE_DB, else redb://./data/marketplace.redb]
        #[arg(long, global = true)]
        db: Option<String>,
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// The community board's log on the database: snapshots and the node id
    Board {
        /// Database URL [default: MARKETPLACE_DB, else redb://./data/marketplace.redb]
        #[arg(long, global = true)]
        db: Option<String>,
        #[command(subcommand)]
        command: BoardCommand,
    },
    /// Work with .oschema files
    Schema {
        #[command(subcommand)]
        command: SchemaCommand,
    },
    /// The module catalog
    Modules {
        #[command(subcommand)]
        command: ModulesCommand,
    },
    /// Bring a PostgreSQL database in line with the schema (start-up applies additive changes)
    Migrate {
        /// Database URL [default: MARKETPLACE_DB, else redb://./data/marketplace.redb]
        #[arg(long)]
        db: Option<String>,
        /// Print the SQL instead of running it
        #[arg(long)]
        dry_run: bool,
        /// Also drop tables, columns and indexes the schema no longer has
        #[arg(long)]
        allow_destructive: bool,
    },
    /// Copy a whole marketplace to another database (redb to PostgreSQL and back)
    Copy {
        /// The database to read
        #[arg(long)]
        from: String,
        /// The database to write (must be empty unless --force)
        #[arg(long)]
        to: String,
        /// Write into a database that is not empty (same ids are replaced)
        #[arg(long)]
        force: bool,
    },
    /// Give an embedded database's free pages back to the file system (stop the server first)
    Compact {
        /// Database URL [default: MARKETPLACE_DB, else redb://./data/marketplace.redb]
        #[arg(long)]
        db: Option<String>,
    },
    /// Write a consistent backup of the database to a file
    Backup {
        /// Database URL [default: MARKETPLACE_DB, else redb://./data/marketplace.redb]
        #[arg(long)]
        db: Option<String>,
        /// The backup file to write
        #[arg(long)]
        out: PathBuf,
    },
    /// Restore a backup file into a database (must be empty unless --force)
    Restore {
        /// Database URL [default: MARKETPLACE_DB, else redb://./data/marketplace.redb]
        #[arg(long)]
        db: Option<String>,
        /// The backup file
        file: PathBuf,
        /// Write into a database that is not empty (same ids are replaced)
        #[arg(long)]
        force: bool,
    },
    /// Write a static export (JSON and HTML) of workers, models, modules and products
    Export {
        /// Folder to write into: missing, empty, or an earlier export (replaced)
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        target: script::Target,
    },
}

#[derive(Subcommand)]
enum ModulesCommand {
    /// Import a marketplace.toml catalog (upserts its modules)
    Import {
        /// The catalog file
        file: PathBuf,
        #[command(flatten)]
        target: script::Target,
    },
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create a user (an admin unless --role says otherwise)
    AddUser {
        #[arg(long)]
        email: String,
        #[arg(long)]
        password: String,
        #[arg(long, value_enum, default_value_t = RoleArg::Admin)]
        role: RoleArg,
    },
    /// List the users that are not deleted
    ListUsers,
    /// Mark a user deleted and revoke every token (the ledger history stays)
    RemoveUser {
        #[arg(long)]
        email: String,
    },
}

#[derive(Subcommand)]
enum BoardCommand {
    /// Write the board's whole event log and its view to a file
    Snapshot {
        /// The file to write
        #[arg(long)]
        out: PathBuf,
    },
    /// Add a snapshot file's events to the log (signatures checked) and rebuild the view
    Restore {
        /// A file written by `board snapshot`
        file: PathBuf,
    },
    /// Print this node's public key (64 hex digits)
    NodeId,
}

#[derive(Clone, Copy, ValueEnum)]
#[value(rename_all = "snake_case")]
enum RoleArg {
    Customer,
    ServiceProvider,
    AppProvider,
    ResourceProvider,
    Moderator,
    Admin,
}

impl From<RoleArg> for market_core::Role {
    fn from(r: RoleArg) -> Self {
        match r {
            RoleArg::Customer => market_core::Role::Customer,
            RoleArg::ServiceProvider => market_core::Role::ServiceProvider,
            RoleArg::AppProvider => market_core::Role::AppProvider,
            RoleArg::ResourceProvider => market_core::Role::ResourceProvider,
            RoleArg::Moderator => market_core::Role::Moderator,
            RoleArg::Admin => market_core::Role::Admin,
        }
    }
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
    /// Write the TypeScript client package of the built-in marketplace schema
    Typescript {
        /// Folder to write the package into (created if missing)
        #[arg(long)]
        out: PathBuf,
    },
}

/// jemalloc: the calls' many short allocations, made on one thread and
/// freed on another, cost less than with the system allocator (see
/// docs/benchmarks.md).
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's settings (its `malloc_conf`): memory freed stays at most
/// about a second before it goes back to the system, and a background
/// thread gives it back even while the process is idle, after a large
/// piece of work such as the search index's catch-up.
// SAFETY: jemalloc reads this C string once, at its start; it is
// nul-terminated and lives for the whole process.
#[unsafe(export_name = "_rjem_malloc_conf")]
static MALLOC_CONF: &[u8; 60] = b"background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0\0";

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve { listen, db, config } => serve::run(listen, db, config),
        Command::Run {
            script,
            target,
            set,
            timeout,
        } => script::run(&script, target, &set, timeout),
        Command::Repl { target } => script::repl(target),
        Command::Admin { db, command } => match command {
            AdminCommand::AddUser {
                email,
                password,
                role,
            } => admin::add_user(db, &email, &password, role.into()),
            AdminCommand::ListUsers => admin::list_users(db),
            AdminCommand::RemoveUser { email } => admin::remove_user(db, &email),
        },
        Command::Board { db, command } => match command {
            BoardCommand::Snapshot { out } => board::snapshot(db, &out),
            BoardCommand::Restore { file } => board::restore(db, &file),
            BoardCommand::NodeId => board::node_id(db),
        },
        Command::Schema { command } => match command {
            SchemaCommand::Check { files } => schema::check(&files),
            SchemaCommand::Openrpc => schema::openrpc(),
            SchemaCommand::Generate { files, out } => schema::generate(&files, &out),
            SchemaCommand::Typescript { out } => schema::typescript(&out),
        },
        Command::Modules { command } => match command {
            ModulesCommand::Import { file, target } => catalog_cli::modules_import(&file, target),
        },
        Command::Export { out, target } => catalog_cli::export(&out, target),
        Command::Migrate {
            db,
            dry_run,
            allow_destructive,
        } => data::migrate(db, dry_run, allow_destructive),
        Command::Copy { from, to, force } => data::copy(&from, &to, force),
        Command::Compact { db } => data::compact(db),
        Command::Backup { db, out } => data::backup(db, &out),
        Command::Restore { db, file, force } => data::restore(db, &file, force),
    }
}

/// Print a command's text and succeed, or print its error and fail.
fn report(result: Result<String, String>) -> ExitCode {
    match result {
        Ok(text) => {
            println!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .init();
}
