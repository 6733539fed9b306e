//! `marketplace serve`: the configured server, from start-up checks to a
//! clean shutdown.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use market_core::{App, AppConfig};
use market_server::ServerConfig;
use market_store::{Db, Reads};

use crate::config::Config;
use crate::secrets;

/// How long idempotency records are kept.
const IDEMPOTENCY_RETENTION_SECS: i64 = 24 * 3600;

/// The business settings of a server configuration.
pub fn app_config(config: &Config) -> AppConfig {
    AppConfig {
        usd_rate: config.usd_rate,
        commission_percent: config.commission_percent,
        test_payments: config.test_payments,
        token_ttl_secs: i64::from(config.token_ttl_hours) * 3600,
        // On PostgreSQL each process keeps its index in memory, built at
        // start-up and following the shared change log.
        search_dir: match config.db.parse::<market_store::DbUrl>() {
            Ok(market_store::DbUrl::Redb(path)) => Some(market_core::search::index_dir(&path)),
            Ok(market_store::DbUrl::Postgres(_)) | Err(_) => None,
        },
        search_writer_bytes: config.search_writer_bytes(),
        password_attempts: config.password_attempts,
        password_lock_secs: i64::from(config.password_lock_secs),
        email_lookup_misses_per_hour: config.email_lookup_misses_per_hour,
        builds: build_config(config),
        webhooks: market_core::webhooks::WebhookConfig {
            allow_private: config.webhook_allow_private,
        },
    }
}

/// How builds run: `[catalog]` settings, build folders beside the database
/// unless `build_dir` says otherwise.
fn build_config(config: &Config) -> market_core::builds::BuildConfig {
    let c = &config.catalog;
    let defaults = market_core::builds::BuildConfig::default();
    let dir = match (&c.build_dir, config.db.parse::<market_store::DbUrl>()) {
        (Some(dir), _) => dir.clone(),
        (None, Ok(market_store::DbUrl::Redb(path))) => path.with_extension("builds"),
        (None, Ok(market_store::DbUrl::Postgres(_)) | Err(_)) => defaults.dir.clone(),
    };
    market_core::builds::BuildConfig {
        command: c.build_command.clone(),
        deploy_command: c.deploy_command.clone(),
        dir,
        timeout: Duration::from_secs(c.build_timeout_secs),
        kill_grace: Duration::from_secs(c.build_kill_grace_secs),
        releases_keep: c.releases_keep,
        ..defaults
    }
}

/// Open the database a URL names with its secret key (env or key file),
/// refusing a key that does not open the data the database sealed.
pub fn open_db(url: &str, settings: &market_store::StoreSettings) -> Result<Db, String> {
    let cipher = secrets::cipher_for(url, std::env::var("MARKETPLACE_SECRET_KEY").ok().as_deref())?;
    let db = Db::open_with(url, market_core::generated::ROOT_TABLES, settings)
        .map_err(|e| e.to_string())?
        .with_cipher(cipher);
    check_key(&db, url)?;
    Ok(db)
}

/// Does the key open the sealed fields of the newest user (if any)?
fn check_key(db: &Db, url: &str) -> Result<(), String> {
    let first = market_store::PageRequest {
        limit: 1,
        cursor: None,
    };
    match db.read(|tx| tx.list::<market_core::User>(&first)) {
        Ok(_) => Ok(()),
        Err(market_store::StoreError::Corrupt { reason, .. }) if reason.contains("decrypt") => {
            Err(format!(
                "the secret key does not open the sealed data of {url}: set MARKETPLACE_SECRET_KEY to the key this database was sealed with, or put back its key file"
            ))
        }
        Err(e) => Err(e.to_string()),
    }
}

/// The business layer on the configured database, with this node's board
/// settings (node key, community manifest, embeddings).
pub fn open_app(config: &Config) -> Result<Arc<App>, String> {
    let db = Arc::new(open_db(&config.db, &config.store_settings())?);
    let board = crate::board::board_config(config)?;
    App::with_board(db, app_config(config), board).map_err(|e| e.to_string())
}

pub fn run(listen: Option<String>, db: Option<String>, config_file: Option<PathBuf>) -> ExitCode {
    crate::init_tracing();
    match start(listen, db, config_file) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn start(
    listen: Option<String>,
    db: Option<String>,
    config_file: Option<PathBuf>,
) -> Result<(), String> {
    let mut config = Config::load(config_file.as_deref(), |k| std::env::var(k).ok())
        .map_err(|e| e.to_string())?;
    config.listen = listen.unwrap_or(config.listen);
    config.db = db.unwrap_or(config.db);
    if config.batch_scheduling
        && let Err(e) = batch_scheduling()
    {
        tracing::warn!(error = %e, "cannot run the server's threads as batch threads");
    }
    let seed = match std::env::var("ADMIN_SEED_USERS") {
        Ok(text) => {
            market_core::parse_seed_users(&text).map_err(|e| format!("ADMIN_SEED_USERS: {e}"))?
        }
        Err(_) => Vec::new(),
    };
    let app = open_app(&config)?;
    app.catch_up_search();
    let db = app.db().clone();
    app.seed_admins(&seed)
        .map_err(|e| format!("ADMIN_SEED_USERS: {e}"))?;
    let stored = app
        .store_initial_settings()
        .map_err(|e| format!("cannot store the initial settings: {e}"))?;
    if !stored.is_empty() {
        tracing::info!(settings = ?stored, "stored the first start's settings; from now on they change only through system.set_config");
    }
    let upstreams = crate::mirror::parse_sources(&config.catalog.model_sources)
        .map_err(|e| format!("MARKETPLACE_MODEL_SOURCES: {e}"))?;
    let runner = market_core::builds::Runner::start(app.clone()).map_err(|e| e.to_string())?;
    let mirror = match upstreams.is_empty() {
        true => None,
        false => Some(
            crate::mirror::Mirror::start(
                app.clone(),
                upstreams,
                Duration::from_secs(config.catalog.mirror_interval_secs.max(1)),
                Duration::from_secs(config.catalog.mirror_timeout_secs.max(1)),
            )
            .map_err(|e| format!("cannot start the model mirror: {e}"))?,
        ),
    };
    let runtime = market_server::runtime().map_err(|e| format!("cannot start the runtime: {e}"))?;
    let result = runtime.block_on(serve(&config, app));
    // A build still running is stopped and marked failed.
    drop(runner);
    drop(mirror);
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
    result
}

/// Run this thread, and every thread it starts from now on (the database's,
/// the runtime's, the write pool's), as a batch thread. A thread woken up,
/// such as the callers of a batch just made durable, then waits for the
/// running one's time slice instead of preempting it, so the thread holding
/// the open batch or committing it is not pushed off its core by a burst of
/// wake-ups. No privilege is needed, and the threads keep their share of
/// the processor.
#[cfg(target_os = "linux")]
fn batch_scheduling() -> std::io::Result<()> {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: `param` is a valid sched_param; pid 0 is the calling thread.
    if unsafe { libc::sched_setscheduler(0, libc::SCHED_BATCH, &raw const param) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(not(target_os = "linux"))]
fn batch_scheduling() -> std::io::Result<()> {
    Ok(())
}

async fn serve(config: &Config, app: Arc<App>) -> Result<(), String> {
    let db = app.db().clone();
    let api = app.api();
    let server_config = ServerConfig {
        batch_limit: config.batch_limit,
        body_limit: config.body_limit,
        cors_origins: config.cors_origins.clone(),
        auth_rate_per_min: config.auth_rate_per_min,
        rate_per_min: config.rate_per_min,
        trusted_proxies: config.trusted_proxies.clone(),
        answer_limit: config.answer_limit,
        body_timeout: Duration::from_secs(config.body_timeout_secs),
        connections: market_server::ConnectionLimits {
            header_timeout: Duration::from_secs(config.header_timeout_secs),
            idle_timeout: Duration::from_secs(config.idle_timeout_secs),
            max_connections: config.max_connections,
            max_connections_per_address: config.max_connections_per_address,
        },
        websocket: market_server::WebSocketLimits {
            connections_per_client: config.ws_connections_per_client,
            subscriptions_per_connection: config.ws_subscriptions_per_connection,
            queue: config.ws_queue.max(1),
            send_timeout: Duration::from_secs(config.ws_send_timeout_secs.max(1)),
            ping_interval: Duration::from_secs(config.ws_ping_secs.max(1)),
            ..market_server::WebSocketLimits::default()
        },
    };
    let router = market_server::app(api, &server_config);
    let listener = tokio::net::TcpListener::bind(&config.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    let sweeper = tokio::spawn(purge_idempotency(db.clone()));
    let expiry = tokio::spawn(expire_rentals(app.clone()));
    let board_sweep = tokio::spawn(crate::board::sweep(app.clone()));
    let webhooks = crate::webhooks::Worker::start(
        app.clone(),
        Duration::from_secs(config.webhook_timeout_secs.max(1)),
    )
    .map_err(|e| format!("cannot start the webhook worker: {e}"))?;
    let board_sync = tokio::spawn(crate::board::sync_peers(
        app.clone(),
        config.board_peers.clone(),
        Duration::from_secs(config.board_sync_secs.max(1)),
    ));
    tracing::info!(listen = %config.listen, db = %db.describe(), node_id = %app.node_id(), peers = config.board_peers.len(), "serving JSON-RPC at /rpc");
    let connections = server_config.connections.clone();
    let served = market_server::serve_with(
        listener,
        router,
        connections,
        market_server::shutdown_signal(),
    )
    .await
    .map_err(|e| format!("server failed: {e}"));
    for task in [sweeper, expiry, board_sweep, board_sync] {
        task.abort();
        drop(task.await);
    }
    drop(webhooks);
    let saved = tokio::task::spawn_blocking(move || app.save_board_snapshot()).await;
    if let Ok(Err(e)) = saved {
        tracing::warn!(error = %e.message, "board: cannot save the view at shutdown");
    }
    served
}

/// How often rentals past their end are expired.
const EXPIRY_INTERVAL: Duration = Duration::from_secs(30);

/// Expire rentals past their end: at start-up (catching up after a
/// restart), then every [`EXPIRY_INTERVAL`].
async fn expire_rentals(app: Arc<App>) {
    let mut tick = tokio::time::interval(EXPIRY_INTERVAL);
    loop {
        tick.tick().await;
        let app = app.clone();
        let expired = tokio::task::spawn_blocking(move || {
            app.db()
                .exclusive("rental_expiry", || app.expire_rentals())
                .map_err(|e| e.to_string())
        })
        .await;
        match expired {
            Ok(Ok(None | Some(Ok(0)))) => {}
            Ok(Ok(Some(Ok(n)))) => tracing::info!(expired = n, "rentals expired"),
            Ok(Ok(Some(Err(e)))) => tracing::warn!(error = %e, "cannot expire rentals"),
            Ok(Err(e)) => tracing::warn!(error = %e, "cannot expire rentals"),
            Err(e) => tracing::warn!(error = %e, "rental expiry task failed"),
        }
    }
}

/// Forget idempotency records older than the retention, every hour.
async fn purge_idempotency(db: Arc<Db>) {
    let mut tick = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tick.tick().await;
        let db = db.clone();
        let purged = tokio::task::spawn_blocking(move || {
            let cutoff = db.now().add_seconds(-IDEMPOTENCY_RETENTION_SECS);
            db.exclusive("idempotency_purge", || db.purge_idempotency(cutoff))
                .and_then(|ran| ran.unwrap_or(Ok(0)))
        })
        .await;
        match purged {
            Ok(Ok(0)) => {}
            Ok(Ok(n)) => tracing::info!(purged = n, "expired idempotency records removed"),
            Ok(Err(e)) => tracing::warn!(error = %e, "cannot purge idempotency records"),
            Err(e) => tracing::warn!(error = %e, "idempotency purge task failed"),
        }
    }
}
