//! `marketplace admin ...`: user management directly on the database, with
//! the server stopped (the database file is locked by whoever opens it).

use std::process::ExitCode;
use std::sync::Arc;

use market_core::{Added, App, Role};

use crate::config::Config;

/// The configuration from the environment, on the database `db` when given.
pub(crate) fn config_for(db: Option<String>) -> Result<Config, String> {
    let mut config = Config::load(None, |k| std::env::var(k).ok()).map_err(|e| e.to_string())?;
    if let Some(url) = db {
        config.db = url;
    }
    Ok(config)
}

pub(crate) fn open_app(db: Option<String>) -> Result<Arc<App>, String> {
    crate::serve::open_app(&config_for(db)?)
}

fn finish(result: Result<(), String>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

pub fn add_user(db: Option<String>, email: &str, password: &str, role: Role) -> ExitCode {
    finish((|| {
        let app = open_app(db)?;
        match app
            .add_user(email, password, &[role], "admin.add_user")
            .map_err(|e| describe(&e))?
        {
            Added::Created(u) => {
                let roles: Vec<&str> = u.roles.iter().map(|r| r.as_str()).collect();
                println!(
                    "created {} ({}) with roles {}",
                    u.email,
                    u.id,
                    roles.join(", ")
                );
                Ok(())
            }
            Added::Exists(u) => Err(format!(
                "a user with email {} exists already ({}); nothing changed",
                u.email, u.id
            )),
        }
    })())
}

pub fn list_users(db: Option<String>) -> ExitCode {
    finish((|| {
        let app = open_app(db)?;
        let users = app.all_users().map_err(|e| describe(&e))?;
        println!("{:<26}  {:<32}  {:<9}  roles", "id", "email", "status");
        for u in &users {
            let roles: Vec<&str> = u.roles.iter().map(|r| r.as_str()).collect();
            println!(
                "{:<26}  {:<32}  {:<9}  {}",
                u.id,
                u.email,
                u.status.as_str(),
                roles.join(",")
            );
        }
        println!("{} user(s)", users.len());
        Ok(())
    })())
}

pub fn remove_user(db: Option<String>, email: &str) -> ExitCode {
    finish((|| {
        let app = open_app(db)?;
        let user = app.remove_user(email).map_err(|e| describe(&e))?;
        println!(
            "removed {} ({}): marked deleted, every token revoked",
            user.email, user.id
        );
        Ok(())
    })())
}

/// An RPC error as an operator reads it, with the fields at fault.
fn describe(e: &market_rpc::RpcError) -> String {
    match e.data.as_ref().and_then(|d| d.get("fields")) {
        Some(fields) => format!("{}: {fields}", e.message),
        None => e.message.clone(),
    }
}
