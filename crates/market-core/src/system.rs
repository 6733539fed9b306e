//! `system.*`: health, version and the marketplace configuration.

use market_rpc::{Ctx, RpcError};
use market_store::{Reads, WriteTx};
use rust_decimal::Decimal;

use crate::{
    App, Currency, Health, Setting, SystemConfig, SystemConfigParams, SystemHealthParams,
    SystemService, SystemSetConfigParams, SystemVersionParams, VERSION, VersionInfo, ledger,
};

const USD_RATE: &str = "usd_rate";
const COMMISSION: &str = "commission_percent";

/// A decimal setting: the stored value, else `default`.
fn setting<R: Reads>(tx: &R, key: &str, default: Decimal) -> Result<Decimal, RpcError> {
    match Setting::by_key(tx, key)? {
        Some(s) => s.value.parse().map_err(|_| {
            tracing::error!(key, value = %s.value, "stored setting is not a decimal");
            RpcError::internal()
        }),
        None => Ok(default),
    }
}

fn store_setting(tx: &mut WriteTx<'_>, key: &str, value: Decimal) -> Result<(), RpcError> {
    match Setting::by_key(tx, key)? {
        Some(mut s) => {
            s.value = value.to_string();
            tx.update(&mut s, None)?;
        }
        None => tx.insert(&mut Setting {
            key: key.to_string(),
            value: value.to_string(),
            ..Default::default()
        })?,
    }
    Ok(())
}

impl App {
    /// Store this process's `usd_rate` and `commission_percent` where none is
    /// stored yet, so that the values of a marketplace's first start hold
    /// for every later process, whatever its environment, until an admin
    /// changes them. Returns the names stored now.
    pub fn store_initial_settings(&self) -> Result<Vec<&'static str>, RpcError> {
        let defaults = [
            (USD_RATE, self.config.usd_rate),
            (COMMISSION, self.config.commission_percent),
        ];
        self.db
            .write(&market_store::Actor::system("system.start"), |tx| {
                let mut stored = Vec::new();
                for (key, value) in defaults {
                    if Setting::by_key(tx, key)?.is_none() {
                        store_setting(tx, key, value.normalize())?;
                        stored.push(key);
                    }
                }
                Ok::<_, RpcError>(stored)
            })
    }

    /// The effective configuration: stored settings win over this process's defaults.
    pub fn system_config<R: Reads>(&self, tx: &R) -> Result<SystemConfig, RpcError> {
        Ok(SystemConfig {
            currency: Currency {
                code: ledger::CURRENCY.into(),
                name: "ThreeFold Credits".into(),
                symbol: "TFC".into(),
                usd_rate: setting(tx, USD_RATE, self.config.usd_rate)?,
            },
            commission_percent: setting(tx, COMMISSION, self.config.commission_percent)?,
            test_payments: self.config.test_payments,
        })
    }
}

impl SystemService for App {
    fn health(&self, _ctx: &Ctx, _p: SystemHealthParams) -> Result<Health, RpcError> {
        let db = match self.db.ping() {
            Ok(()) => "ok",
            Err(e) => {
                tracing::warn!(error = %e, "database does not answer");
                "unavailable"
            }
        };
        Ok(Health {
            status: if db == "ok" { "ok" } else { "degraded" }.to_string(),
            db: db.to_string(),
            version: VERSION.to_string(),
        })
    }

    fn version(&self, _ctx: &Ctx, _p: SystemVersionParams) -> Result<VersionInfo, RpcError> {
        Ok(VersionInfo {
            name: "marketplace".to_string(),
            version: VERSION.to_string(),
        })
    }

    fn config(&self, _ctx: &Ctx, _p: SystemConfigParams) -> Result<SystemConfig, RpcError> {
        self.db.read(|tx| self.system_config(tx))
    }

    fn set_config(&self, ctx: &Ctx, p: SystemSetConfigParams) -> Result<SystemConfig, RpcError> {
        ctx.write(&self.db, |tx| {
            if let Some(rate) = p.usd_rate {
                store_setting(tx, USD_RATE, rate.normalize())?;
            }
            if let Some(pct) = p.commission_percent {
                store_setting(tx, COMMISSION, pct.normalize())?;
            }
            self.system_config(tx)
        })
    }
}
