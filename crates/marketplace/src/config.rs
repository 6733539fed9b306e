//! Server configuration: defaults, then the config file, then the
//! environment, then command-line flags.

use std::path::Path;

use serde::Deserialize;

/// Everything `marketplace serve` can be told.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address to listen on.
    pub listen: String,
    /// Database URL (`redb://PATH` or `postgres://USER:PASS@HOST:PORT/DB`).
    pub db: String,
    /// The embedded database's page cache, in MiB.
    pub cache_mb: usize,
    /// Embedded checkpoints save what a restart after a crash needs to
    /// open the file at once (off: one sync per checkpoint instead of two,
    /// and a check of the whole file at the first start after a crash).
    pub quick_repair: bool,
    /// The server's threads run as batch threads (Linux): one woken up
    /// waits for the running one's time slice instead of preempting it.
    pub batch_scheduling: bool,
    /// The search index writer's memory while it applies changes, in MiB
    /// (at least 15).
    pub search_writer_mb: usize,
    /// Most PostgreSQL connections this process opens.
    pub pg_pool_size: u32,
    /// Seconds a PostgreSQL statement may run before it is cancelled.
    pub pg_statement_timeout_secs: u64,
    /// PostgreSQL transactions this process's writes share at once.
    pub pg_write_lanes: usize,
    /// Most requests in one JSON-RPC batch.
    pub batch_limit: usize,
    /// Largest request body in bytes.
    pub body_limit: usize,
    /// Origins allowed to call from a browser (`*` for any).
    pub cors_origins: Vec<String>,
    /// `auth.login` plus `auth.register` calls per minute per client address.
    pub auth_rate_per_min: u32,
    /// Calls per minute per user (or address, when anonymous); 0 turns it off.
    pub rate_per_min: u32,
    /// Proxies whose `X-Forwarded-For` entry names the client.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Value of 1 TFC in US dollars, until `system.set_config` stores one.
    pub usd_rate: rust_decimal::Decimal,
    /// Platform commission in percent, until `system.set_config` stores one.
    pub commission_percent: rust_decimal::Decimal,
    /// Whether `wallet.topup` hands out credits (demo mode).
    pub test_payments: bool,
    /// Lifetime of a sign-in token, in hours.
    pub token_ttl_hours: u32,
    /// Limits against hostile clients (see `docs/operator-guide.md`).
    /// Largest JSON-RPC answer in bytes.
    pub answer_limit: usize,
    /// Seconds from a request's first byte until its headers are complete.
    pub header_timeout_secs: u64,
    /// Seconds a client may take to send a request body.
    pub body_timeout_secs: u64,
    /// Seconds a kept-alive connection may wait for its next request.
    pub idle_timeout_secs: u64,
    /// Open connections at once (0: no cap).
    pub max_connections: usize,
    /// Open connections at once from one client address (0: no cap).
    pub max_connections_per_address: usize,
    /// Wrong passwords per account before its password checks lock (0: no limit).
    pub password_attempts: u32,
    /// Seconds the wrong passwords are counted over, and the lock lasts.
    pub password_lock_secs: u32,
    /// `wallet.transfer` emails matching no account per user and hour (0: no limit).
    pub email_lookup_misses_per_hour: u32,
    /// TTL of a board post created without one, until a setting is stored.
    pub board_default_ttl_seconds: u64,
    /// Longest TTL of a board post, until a setting is stored.
    pub board_max_ttl_seconds: u64,
    /// `/rpc` URLs of the board nodes to pull events from.
    pub board_peers: Vec<String>,
    /// Seconds between two pulls from the peers.
    pub board_sync_secs: u64,
    /// Module builds, deploys and the model mirror (`[catalog]` in the file).
    pub catalog: CatalogConfig,
    /// Webhooks may point at loopback, private and link-local addresses.
    pub webhook_allow_private: bool,
    /// Seconds one webhook delivery attempt may take.
    pub webhook_timeout_secs: u64,
    /// Open WebSocket connections per client address (0: no cap).
    pub ws_connections_per_client: usize,
    /// Event subscriptions per WebSocket connection.
    pub ws_subscriptions_per_connection: usize,
    /// Messages waiting to be written to one WebSocket connection.
    pub ws_queue: usize,
    /// Seconds a subscription may wait for room in that queue before the
    /// connection is closed as too slow (1008).
    pub ws_send_timeout_secs: u64,
    /// Seconds between pings of an idle WebSocket connection.
    pub ws_ping_secs: u64,
}

/// Builds and releases of the module manifest, and the upstream model mirror.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct CatalogConfig {
    /// Shell command that builds a manifest (`sh -c`); builds are off without one.
    pub build_command: Option<String>,
    /// Shell command that smoke-checks a release before it becomes current.
    pub deploy_command: Option<String>,
    /// Folder of build manifests and logs; beside the database when absent.
    pub build_dir: Option<std::path::PathBuf>,
    /// Longest a build may run, in seconds.
    pub build_timeout_secs: u64,
    /// Seconds between SIGTERM and SIGKILL when a build is stopped.
    pub build_kill_grace_secs: u64,
    /// Releases kept.
    pub releases_keep: usize,
    /// Upstream model APIs: `huggingface=URL,civitai=URL,...`.
    pub model_sources: Vec<String>,
    /// Seconds between two refreshes of the model mirror.
    pub mirror_interval_secs: u64,
    /// Longest one upstream request may take, in seconds.
    pub mirror_timeout_secs: u64,
}

impl Default for CatalogConfig {
    fn default() -> Self {
        CatalogConfig {
            build_command: None,
            deploy_command: None,
            build_dir: None,
            build_timeout_secs: 3600,
            build_kill_grace_secs: 10,
            releases_keep: 5,
            model_sources: Vec::new(),
            mirror_interval_secs: 6 * 3600,
            mirror_timeout_secs: 20,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "127.0.0.1:8080".into(),
            db: "redb://./data/marketplace.redb".into(),
            cache_mb: market_store::DEFAULT_CACHE_BYTES >> 20,
            quick_repair: true,
            batch_scheduling: true,
            search_writer_mb: market_core::search::DEFAULT_WRITER_BYTES >> 20,
            pg_pool_size: 16,
            pg_statement_timeout_secs: 30,
            pg_write_lanes: 4,
            batch_limit: 100,
            body_limit: 1024 * 1024,
            cors_origins: vec!["*".into()],
            auth_rate_per_min: 30,
            rate_per_min: 6000,
            trusted_proxies: Vec::new(),
            usd_rate: rust_decimal::Decimal::ONE,
            commission_percent: rust_decimal::Decimal::TEN,
            test_payments: false,
            token_ttl_hours: 24 * 7,
            answer_limit: 16 * 1024 * 1024,
            header_timeout_secs: 10,
            body_timeout_secs: 30,
            idle_timeout_secs: 60,
            max_connections: 1024,
            max_connections_per_address: 64,
            password_attempts: 10,
            password_lock_secs: 900,
            email_lookup_misses_per_hour: 20,
            board_default_ttl_seconds: 7 * 24 * 3600,
            board_max_ttl_seconds: 30 * 24 * 3600,
            board_peers: Vec::new(),
            board_sync_secs: 5,
            catalog: CatalogConfig::default(),
            webhook_allow_private: false,
            webhook_timeout_secs: 10,
            ws_connections_per_client: 16,
            ws_subscriptions_per_connection: 16,
            ws_queue: 1024,
            ws_send_timeout_secs: 10,
            ws_ping_secs: 30,
        }
    }
}

/// A configuration problem, said plainly.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Parse { path: String, message: String },
    #[error("environment variable {name}: {message}")]
    Env { name: String, message: String },
}

impl Config {
    /// Defaults, overridden by `file` when given, then by the environment.
    pub fn load(
        file: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let mut config = match file {
            None => Config::default(),
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.display().to_string(),
                    source,
                })?;
                toml::from_str(&text).map_err(|e| ConfigError::Parse {
                    path: path.display().to_string(),
                    message: e.to_string(),
                })?
            }
        };
        if let Some(v) = env("MARKETPLACE_LISTEN") {
            config.listen = v;
        }
        if let Some(v) = env("MARKETPLACE_DB") {
            config.db = v;
        }
        if let Some(v) = env("MARKETPLACE_BATCH_LIMIT") {
            config.batch_limit = parse_env("MARKETPLACE_BATCH_LIMIT", &v)?;
        }
        if let Some(v) = env("MARKETPLACE_BODY_LIMIT") {
            config.body_limit = parse_env("MARKETPLACE_BODY_LIMIT", &v)?;
        }
        if let Some(v) = env("MARKETPLACE_CORS_ORIGINS") {
            config.cors_origins = list(&v);
        }
        if let Some(v) = env("MARKETPLACE_AUTH_RATE_PER_MIN") {
            config.auth_rate_per_min = parse_env("MARKETPLACE_AUTH_RATE_PER_MIN", &v)?;
        }
        if let Some(v) = env("MARKETPLACE_RATE_PER_MIN") {
            config.rate_per_min = parse_env("MARKETPLACE_RATE_PER_MIN", &v)?;
        }
        if let Some(v) = env("MARKETPLACE_TRUSTED_PROXIES") {
            config.trusted_proxies = list(&v)
                .iter()
                .map(|ip| parse_env("MARKETPLACE_TRUSTED_PROXIES", ip))
                .collect::<Result<_, _>>()?;
        }
        if let Some(v) = env("MARKETPLACE_TFC_USD_RATE") {
            config.usd_rate = parse_env("MARKETPLACE_TFC_USD_RATE", &v)?;
        }
        if let Some(v) = env("MARKETPLACE_COMMISSION_PERCENT") {
            config.commission_percent = parse_env("MARKETPLACE_COMMISSION_PERCENT", &v)?;
        }
        if let Some(v) = env("MARKETPLACE_TEST_PAYMENTS") {
            config.test_payments = parse_flag("MARKETPLACE_TEST_PAYMENTS", &v)?;
        }
        if let Some(v) = env("MARKETPLACE_TOKEN_TTL_HOURS") {
            config.token_ttl_hours = parse_env("MARKETPLACE_TOKEN_TTL_HOURS", &v)?;
        }
        config.hardening_env(&env)?;
        config.events_env(&env)?;
        if let Some(v) = env("MARKETPLACE_BOARD_PEERS") {
            config.board_peers = list(&v);
        }
        if let Some(v) = env("MARKETPLACE_BOARD_SYNC_SECS") {
            config.board_sync_secs = parse_env("MARKETPLACE_BOARD_SYNC_SECS", &v)?;
        }
        config.catalog.load_env(&env)?;
        Ok(config)
    }
}

impl Config {
    /// The limits against hostile clients from the environment.
    fn hardening_env(&mut self, env: &impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        let get = |name: &str| env(name).map(|v| (name.to_string(), v));
        if let Some((n, v)) = get("MARKETPLACE_ANSWER_LIMIT") {
            self.answer_limit = parse_env(&n, &v)?;
        }
        if let Some((n, v)) = get("MARKETPLACE_HEADER_TIMEOUT_SECS") {
            self.header_timeout_secs = parse_env(&n, &v)?;
        }
        if let Some((n, v)) = get("MARKETPLACE_BODY_TIMEOUT_SECS") {
            self.body_timeout_secs = parse_env(&n, &v)?;
        }
        if let Some((n, v)) = get("MARKETPLACE_IDLE_TIMEOUT_SECS") {
            self.idle_timeout_secs = parse_env(&n, &v)?;
        }
        if let Some((n, v)) = get("MARKETPLACE_MAX_CONNECTIONS") {
            self.max_connections = parse_env(&n, &v)?;
        }
        if let Some((n, v)) = get("MARKETPLACE_MAX_CONNECTIONS_PER_ADDRESS") {
            self.max_connections_per_address = parse_env(&n, &v)?;
        }
        if let Some((n, v)) = get("MARKETPLACE_CACHE_MB") {
            self.cache_mb = parse_env(&n, &v)?;
        }
        if let Some((n, v)) = get("MARKETPLACE_QUICK_REPAIR") {
            self.quick_repair = parse_flag(&n, &v)?;
        }
        if let Some((n, v)) = get("MARKETPLACE_BATCH_SCHEDULING") {
            self.batch_scheduling = parse_flag(&n, &v)?;
        }
        if let Some((n, v)) = get("MARKETPLACE_SEARCH_WRITER_MB") {
            self.search_writer_mb = parse_env(&n, &v)?;
        }
        if let Some((n, v)) = get("MARKETPLACE_PG_POOL_SIZE") {
            self.pg_pool_size = parse_env(&n, &v)?;
        }
        if let Some((n, v)) = get("MARKETPLACE_PG_STATEMENT_TIMEOUT_SECS") {
            self.pg_statement_timeout_secs = parse_env(&n, &v)?;
        }
        if let Some((n, v)) = get("MARKETPLACE_PG_WRITE_LANES") {
            self.pg_write_lanes = parse_env(&n, &v)?;
        }
        if let Some((n, v)) = get("MARKETPLACE_PASSWORD_ATTEMPTS") {
            self.password_attempts = parse_env(&n, &v)?;
        }
        if let Some((n, v)) = get("MARKETPLACE_PASSWORD_LOCK_SECS") {
            self.password_lock_secs = parse_env(&n, &v)?;
        }
        if let Some((n, v)) = get("MARKETPLACE_EMAIL_LOOKUP_MISSES_PER_HOUR") {
            self.email_lookup_misses_per_hour = parse_env(&n, &v)?;
        }
        Ok(())
    }
}

impl Config {
    /// The search index writer's memory budget in bytes (tantivy takes no
    /// less than [`market_core::search::MIN_WRITER_BYTES`]).
    pub fn search_writer_bytes(&self) -> usize {
        self.search_writer_mb
            .saturating_mul(1 << 20)
            .max(market_core::search::MIN_WRITER_BYTES)
    }

    /// How the database is opened: the embedded cache, PostgreSQL's pool.
    pub fn store_settings(&self) -> market_store::StoreSettings {
        market_store::StoreSettings {
            cache_bytes: self.cache_mb.max(1).saturating_mul(1 << 20),
            quick_repair: self.quick_repair,
            pg: market_store::PgSettings {
                pool_size: self.pg_pool_size.max(1),
                statement_timeout: std::time::Duration::from_secs(
                    self.pg_statement_timeout_secs.max(1),
                ),
                write_lanes: self.pg_write_lanes.max(1),
                ..market_store::PgSettings::default()
            },
        }
    }

    /// Webhook and WebSocket settings from the environment.
    fn events_env(&mut self, env: &impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        let get = |name: &str| env(name).map(|v| (name.to_string(), v));
        if let Some((n, v)) = get("MARKETPLACE_WEBHOOK_ALLOW_PRIVATE") {
            self.webhook_allow_private = parse_flag(&n, &v)?;
        }
        if let Some((n, v)) = get("MARKETPLACE_WEBHOOK_TIMEOUT_SECS") {
            self.webhook_timeout_secs = parse_env(&n, &v)?;
        }
        if let Some((n, v)) = get("MARKETPLACE_WS_CONNECTIONS_PER_CLIENT") {
            self.ws_connections_per_client = parse_env(&n, &v)?;
        }
        if let Some((n, v)) = get("MARKETPLACE_WS_SUBSCRIPTIONS_PER_CONNECTION") {
            self.ws_subscriptions_per_connection = parse_env(&n, &v)?;
        }
        if let Some((n, v)) = get("MARKETPLACE_WS_QUEUE") {
            self.ws_queue = parse_env(&n, &v)?;
        }
        if let Some((n, v)) = get("MARKETPLACE_WS_SEND_TIMEOUT_SECS") {
            self.ws_send_timeout_secs = parse_env(&n, &v)?;
        }
        if let Some((n, v)) = get("MARKETPLACE_WS_PING_SECS") {
            self.ws_ping_secs = parse_env(&n, &v)?;
        }
        Ok(())
    }
}

impl CatalogConfig {
    fn load_env(&mut self, env: &impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        let text = |name: &str| {
            env(name)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        if let Some(v) = text("MARKETPLACE_BUILD_COMMAND") {
            self.build_command = Some(v);
        }
        if let Some(v) = text("MARKETPLACE_DEPLOY_COMMAND") {
            self.deploy_command = Some(v);
        }
        if let Some(v) = text("MARKETPLACE_BUILD_DIR") {
            self.build_dir = Some(v.into());
        }
        if let Some(v) = env("MARKETPLACE_BUILD_TIMEOUT_SECS") {
            self.build_timeout_secs = parse_env("MARKETPLACE_BUILD_TIMEOUT_SECS", &v)?;
        }
        if let Some(v) = env("MARKETPLACE_BUILD_KILL_GRACE_SECS") {
            self.build_kill_grace_secs = parse_env("MARKETPLACE_BUILD_KILL_GRACE_SECS", &v)?;
        }
        if let Some(v) = env("MARKETPLACE_RELEASES_KEEP") {
            self.releases_keep = parse_env("MARKETPLACE_RELEASES_KEEP", &v)?;
        }
        if let Some(v) = env("MARKETPLACE_MODEL_SOURCES") {
            self.model_sources = list(&v);
        }
        if let Some(v) = env("MARKETPLACE_MIRROR_INTERVAL_SECS") {
            self.mirror_interval_secs = parse_env("MARKETPLACE_MIRROR_INTERVAL_SECS", &v)?;
        }
        if let Some(v) = env("MARKETPLACE_MIRROR_TIMEOUT_SECS") {
            self.mirror_timeout_secs = parse_env("MARKETPLACE_MIRROR_TIMEOUT_SECS", &v)?;
        }
        Ok(())
    }
}

fn list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// A yes-or-no setting: `1`, `true`, `yes`, `on` or `0`, `false`, `no`,
/// `off`, empty.
fn parse_flag(name: &str, value: &str) -> Result<bool, ConfigError> {
    match value.trim() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" | "" => Ok(false),
        _ => Err(ConfigError::Env {
            name: name.to_string(),
            message: format!("expected 1 or 0, got '{value}'"),
        }),
    }
}

fn parse_env<T: std::str::FromStr>(name: &str, value: &str) -> Result<T, ConfigError> {
    value.trim().parse().map_err(|_| ConfigError::Env {
        name: name.to_string(),
        message: format!("cannot read '{value}'"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_then_env() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.toml");
        std::fs::write(&path, "listen = \"0.0.0.0:9000\"\nbatch_limit = 10\n").unwrap();
        let env = |k: &str| match k {
            "MARKETPLACE_BATCH_LIMIT" => Some("20".to_string()),
            "MARKETPLACE_TEST_PAYMENTS" => Some("1".to_string()),
            "MARKETPLACE_TFC_USD_RATE" => Some("0.25".to_string()),
            "MARKETPLACE_TRUSTED_PROXIES" => Some("10.0.0.1, ::1".to_string()),
            _ => None,
        };
        let c = Config::load(Some(&path), env).unwrap();
        assert_eq!(c.listen, "0.0.0.0:9000");
        assert_eq!(c.batch_limit, 20);
        assert!(c.test_payments);
        assert_eq!(c.usd_rate.to_string(), "0.25");
        assert_eq!(c.trusted_proxies.len(), 2);
        assert_eq!(c.db, "redb://./data/marketplace.redb");

        std::fs::write(&path, "lisen = \"x\"\n").unwrap();
        let err = Config::load(Some(&path), |_| None).unwrap_err();
        assert!(err.to_string().contains("unknown field"), "{err}");
        let err = Config::load(None, |k| {
            (k == "MARKETPLACE_BODY_LIMIT").then(|| "lots".into())
        })
        .unwrap_err();
        assert!(err.to_string().contains("MARKETPLACE_BODY_LIMIT"), "{err}");
    }

    #[test]
    fn the_embedded_cache_is_set_in_mib() {
        let c = Config::load(None, |_| None).unwrap();
        assert_eq!(c.store_settings().cache_bytes, 8 << 20);
        let c = Config::load(None, |k| {
            (k == "MARKETPLACE_CACHE_MB").then(|| "256".into())
        })
        .unwrap();
        assert_eq!(c.store_settings().cache_bytes, 256 << 20);
        let err =
            Config::load(None, |k| (k == "MARKETPLACE_CACHE_MB").then(|| "-1".into())).unwrap_err();
        assert!(err.to_string().contains("MARKETPLACE_CACHE_MB"), "{err}");
    }

    #[test]
    fn batch_scheduling_is_on_unless_turned_off() {
        let batch = |v: &str| {
            Config::load(None, |k| {
                (k == "MARKETPLACE_BATCH_SCHEDULING").then(|| v.into())
            })
        };
        assert!(Config::load(None, |_| None).unwrap().batch_scheduling);
        assert!(!batch("0").unwrap().batch_scheduling);
        assert!(batch("1").unwrap().batch_scheduling);
        let err = batch("later").unwrap_err();
        assert!(
            err.to_string().contains("MARKETPLACE_BATCH_SCHEDULING"),
            "{err}"
        );
    }

    #[test]
    fn quick_repair_is_on_unless_turned_off() {
        let quick = |v: &str| {
            Config::load(None, |k| {
                (k == "MARKETPLACE_QUICK_REPAIR").then(|| v.into())
            })
        };
        assert!(
            Config::load(None, |_| None)
                .unwrap()
                .store_settings()
                .quick_repair
        );
        assert!(!quick("0").unwrap().store_settings().quick_repair);
        assert!(quick("on").unwrap().store_settings().quick_repair);
        let err = quick("sometimes").unwrap_err();
        assert!(
            err.to_string().contains("MARKETPLACE_QUICK_REPAIR"),
            "{err}"
        );
    }

    #[test]
    fn the_search_writer_memory_is_set_in_mib_and_never_below_tantivys_least() {
        let writer = |v: &str| {
            Config::load(None, |k| {
                (k == "MARKETPLACE_SEARCH_WRITER_MB").then(|| v.into())
            })
        };
        let c = Config::load(None, |_| None).unwrap();
        assert_eq!(c.search_writer_bytes(), 20 << 20);
        assert_eq!(writer("64").unwrap().search_writer_bytes(), 64 << 20);
        assert_eq!(writer("1").unwrap().search_writer_bytes(), 15_000_000);
        let err = writer("much").unwrap_err();
        assert!(
            err.to_string().contains("MARKETPLACE_SEARCH_WRITER_MB"),
            "{err}"
        );
    }
}
