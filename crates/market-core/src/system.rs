//! `system.*`: health and version.

use market_rpc::{Ctx, RpcError};

use crate::{
    App, Health, SystemHealthParams, SystemService, SystemVersionParams, VERSION, VersionInfo,
};

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
}
