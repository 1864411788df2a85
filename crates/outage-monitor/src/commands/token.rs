//! `token create|list|revoke`: bearer tokens for the read API.

use anyhow::{Result, bail};
use chrono::Utc;
use outage_core::config::Config;
use outage_core::keys::{KeyHash, TOKEN_PREFIX, generate_token};
use outage_core::store::StatusStore;
use outage_core::{ApiToken, ApiTokenId};
use serde_json::json;

use super::json::token_json;
use crate::cli::TokenCommand;
use crate::context::{
    open_existing_store, open_store, open_store_or_empty, print_json, print_table, rfc3339,
};

/// `token create|list|revoke`.
pub async fn run(cfg: Config, cmd: TokenCommand) -> Result<()> {
    let store = match cmd {
        TokenCommand::Create { .. } => open_store(&cfg).await?,
        TokenCommand::List { .. } => open_store_or_empty(&cfg).await?,
        _ => open_existing_store(&cfg).await?,
    };
    match cmd {
        TokenCommand::Create { name, json } => {
            let name = name.trim().to_string();
            if name.is_empty() {
                bail!("--name must not be empty");
            }
            if name.chars().all(|c| c.is_ascii_digit()) {
                bail!(
                    "--name `{name}` is only digits and would be mistaken for a token id; add a word"
                );
            }
            if name.chars().any(char::is_control) {
                bail!("--name must be one line of text");
            }
            let token = generate_token();
            let t = store
                .create_api_token(&name, KeyHash::of(token.expose()), Utc::now())
                .await?;
            if json {
                print_json(&json!({"id": t.id.0, "name": t.name, "token": token.expose()}));
            } else {
                let url = format!("{}/api/v1/locations", cfg.server.base_url());
                println!("Made API token {} \"{}\".", t.id, t.name);
                println!();
                println!(
                    "Token (shown only now; `token revoke {}` disables it):",
                    t.name
                );
                println!("  {}", token.expose());
                println!();
                println!("Use it:");
                println!("  curl -H 'Authorization: Bearer {}' {url}", token.expose());
            }
        }
        TokenCommand::List { json } => {
            let all = store.list_api_tokens().await?;
            if json {
                print_json(&all.iter().map(token_json).collect::<Vec<_>>());
            } else if all.is_empty() {
                println!(
                    "No API tokens yet. Make one with: outage-monitor token create --name grafana"
                );
            } else {
                let rows: Vec<Vec<String>> = all
                    .iter()
                    .map(|t| vec![t.id.to_string(), t.name.clone(), rfc3339(t.created_at)])
                    .collect();
                print_table(&["ID", "NAME", "CREATED"], &rows);
            }
        }
        TokenCommand::Revoke { token, json } => {
            let t = resolve_token(&*store, &token).await?;
            if !store.revoke_api_token(t.id).await? {
                bail!("API token \"{}\" was revoked meanwhile", t.name);
            }
            if json {
                print_json(&json!({"id": t.id.0, "name": t.name, "revoked": true}));
            } else {
                println!(
                    "Revoked API token {} \"{}\"; requests with it are refused now.",
                    t.id, t.name
                );
            }
        }
    }
    Ok(())
}

/// Finds an API token by id, by exact name, or by the token itself (never echoed).
async fn resolve_token(store: &dyn StatusStore, what: &str) -> Result<ApiToken> {
    let looks_like_a_token = what.starts_with(TOKEN_PREFIX);
    if looks_like_a_token && let Some(t) = store.find_api_token(&KeyHash::of(what)).await? {
        return Ok(t);
    }
    let all = store.list_api_tokens().await?;
    let by_id = what.parse::<i64>().ok().map(ApiTokenId);
    let found = all
        .iter()
        .find(|t| Some(t.id) == by_id)
        .or_else(|| all.iter().find(|t| t.name == what))
        .cloned();
    match found {
        Some(t) => Ok(t),
        None if looks_like_a_token => {
            bail!("no such API token (see `outage-monitor token list`)")
        }
        None => {
            bail!("no API token with id or name `{what}` (see `outage-monitor token list`)")
        }
    }
}
