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
    /// Database URL (`redb://PATH`).
    pub db: String,
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
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "127.0.0.1:8080".into(),
            db: "redb://./data/marketplace.redb".into(),
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
            config.cors_origins = v
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect();
        }
        Ok(config)
    }
}

fn parse_env(name: &str, value: &str) -> Result<usize, ConfigError> {
    value.trim().parse().map_err(|_| ConfigError::Env {
        name: name.to_string(),
        message: format!("expected a positive whole number, got '{value}'"),
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
        let env = |k: &str| (k == "MARKETPLACE_BATCH_LIMIT").then(|| "20".to_string());
        let c = Config::load(Some(&path), env).unwrap();
        assert_eq!(c.listen, "0.0.0.0:9000");
        assert_eq!(c.batch_limit, 20);
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
}
