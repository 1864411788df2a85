//! `location add|list|edit|remove|rotate-key|pause|resume` (and the dispatch of `show`,
//! `import` and `test-alert`, which live in their own modules).

use anyhow::{Context, Result, anyhow, bail};
use chrono::{DateTime, Utc};
use outage_core::config::Config;
use outage_core::keys::{KeyHash, generate_key};
use outage_core::store::StatusStore;
use outage_core::{LocationPatch, NewLocation};
use serde_json::json;

use super::json::location_json;
use crate::cli::{EditArgs, LocationCommand};
use crate::context::{
    ChatCheck, ago, location_name, open_existing_store, open_store, open_store_or_empty,
    print_json, print_table, resolve, rfc3339,
};

/// Runs a `location …` command.
pub async fn run(cfg: Config, cmd: LocationCommand) -> Result<()> {
    let store = match cmd {
        LocationCommand::Add { .. } | LocationCommand::Import { dry_run: false, .. } => {
            open_store(&cfg).await?
        }
        LocationCommand::Import { .. } => open_store_or_empty(&cfg).await?,
        LocationCommand::List { .. } => open_store_or_empty(&cfg).await?,
        _ => open_existing_store(&cfg).await?,
    };
    let store = &*store;
    let now = Utc::now();
    match cmd {
        LocationCommand::Add {
            name,
            timeout,
            chat_id,
            notify,
            json,
        } => {
            let new = NewLocationArgs {
                name: &name,
                timeout,
                chat_id: chat_id.as_deref(),
                notify: &notify.notify,
            };
            add(&cfg, store, new, json, now).await
        }
        LocationCommand::Import { csv, dry_run, json } => {
            super::import::run(&cfg, store, &csv, dry_run, json, now).await
        }
        LocationCommand::List { json } => list(store, json, now).await,
        LocationCommand::Show {
            location,
            device_config,
            new_key,
            json,
        } => {
            let r = resolve(store, &location).await?;
            match device_config {
                Some(kind) => {
                    super::location_show::device_config(&cfg, store, &r, kind, new_key).await
                }
                None => super::location_show::show(store, &r, json, now).await,
            }
        }
        LocationCommand::Edit(a) => edit(&cfg, store, a, now).await,
        LocationCommand::Remove { location, json } => {
            let r = resolve(store, &location).await?;
            store.delete_location(r.location.id).await?;
            if json {
                print_json(
                    &json!({"id": r.location.id.0, "name": r.location.name, "removed": true}),
                );
            } else {
                println!(
                    "Removed location {} \"{}\" and its history.",
                    r.location.id, r.location.name
                );
            }
            Ok(())
        }
        LocationCommand::RotateKey { location, json } => {
            let r = resolve(store, &location).await?;
            let key = generate_key();
            store
                .set_key_hash(r.location.id, KeyHash::of(key.expose()))
                .await?;
            if json {
                print_json(
                    &json!({"id": r.location.id.0, "name": r.location.name, "api_key": key.expose()}),
                );
            } else {
                println!(
                    "New API key for \"{}\" (the old one no longer works):",
                    r.location.name
                );
                println!("  {}", key.expose());
            }
            Ok(())
        }
        LocationCommand::Pause {
            location,
            until,
            json,
        } => pause(store, &location, &until, json, now).await,
        LocationCommand::TestAlert { location, json } => {
            let r = resolve(store, &location).await?;
            super::location_show::test_alert(&cfg, &r.location, json).await
        }
        LocationCommand::Resume { location, json } => resume(store, &location, json, now).await,
    }
}

/// What `location add` was given.
struct NewLocationArgs<'a> {
    name: &'a str,
    timeout: Option<std::time::Duration>,
    chat_id: Option<&'a str>,
    notify: &'a [String],
}

/// `location add`.
async fn add(
    cfg: &Config,
    store: &dyn StatusStore,
    new: NewLocationArgs<'_>,
    json: bool,
    now: DateTime<Utc>,
) -> Result<()> {
    let NewLocationArgs {
        name,
        timeout,
        chat_id,
        notify,
    } = new;
    let name = location_name(name)?;
    let chats = ChatCheck::new(cfg);
    let chat_id = chat_id.map(|c| chats.check(c)).transpose()?;
    let routes = chats.routes(notify)?.unwrap_or_default();
    let timeout = timeout.unwrap_or(cfg.monitor.default_timeout);
    if timeout < std::time::Duration::from_secs(1) {
        bail!("--timeout must be at least 1s");
    }
    let key = generate_key();
    let loc = store
        .create_location(
            &NewLocation {
                name,
                timeout,
                chat_id,
                routes,
            },
            KeyHash::of(key.expose()),
            now,
        )
        .await?;
    let url = format!("{}/api/v1/heartbeat", cfg.server.base_url());
    if json {
        print_json(&json!({
            "id": loc.id.0,
            "name": loc.name,
            "api_key": key.expose(),
            "timeout_s": loc.timeout.as_secs(),
            "chat_id": loc.chat_id,
            "routes": loc.routes.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "heartbeat_url": url,
        }));
    } else {
        println!(
            "Added location {} \"{}\" (timeout {}).",
            loc.id,
            loc.name,
            humantime::format_duration(loc.timeout)
        );
        println!();
        println!("API key (shown only now; `location rotate-key` makes a new one):");
        println!("  {}", key.expose());
        println!();
        println!("Test it:");
        println!(
            "  curl -X POST -H 'Authorization: Bearer {}' {url}",
            key.expose()
        );
    }
    Ok(())
}

/// `location list`.
async fn list(store: &dyn StatusStore, json: bool, now: DateTime<Utc>) -> Result<()> {
    let all = store.list_locations().await?;
    if json {
        print_json(
            &all.iter()
                .map(|r| location_json(r, now))
                .collect::<Vec<_>>(),
        );
    } else if all.is_empty() {
        println!("No locations yet. Add one with: outage-monitor location add --name Home");
    } else {
        let rows: Vec<Vec<String>> = all
            .iter()
            .map(|r| {
                vec![
                    r.location.id.to_string(),
                    r.location.name.clone(),
                    r.shown_status(now).to_string(),
                    r.runtime.last_seen.map_or("never".into(), |t| ago(now, t)),
                    humantime::format_duration(r.location.timeout).to_string(),
                ]
            })
            .collect();
        print_table(&["ID", "NAME", "STATUS", "LAST SEEN", "TIMEOUT"], &rows);
    }
    Ok(())
}

/// `location edit`.
async fn edit(
    cfg: &Config,
    store: &dyn StatusStore,
    a: EditArgs,
    now: DateTime<Utc>,
) -> Result<()> {
    let r = resolve(store, &a.location).await?;
    let chats = ChatCheck::new(cfg);
    let patch = LocationPatch {
        name: a.name.as_deref().map(location_name).transpose()?,
        timeout: match a.timeout {
            Some(t) if t < std::time::Duration::from_secs(1) => {
                bail!("--timeout must be at least 1s")
            }
            t => t,
        },
        chat_id: if a.no_chat_id {
            Some(None)
        } else {
            a.chat_id
                .as_deref()
                .map(|c| chats.check(c))
                .transpose()?
                .map(Some)
        },
        enabled: if a.enable {
            Some(true)
        } else if a.disable {
            Some(false)
        } else {
            None
        },
        paused_until: None,
        routes: chats.routes(&a.notify.notify)?,
    };
    if patch == LocationPatch::default() {
        bail!(
            "nothing to change: give --name, --timeout, --chat-id, --no-chat-id, --notify, \
             --enable or --disable"
        );
    }
    let l = store.update_location(r.location.id, &patch, now).await?;
    let updated = store
        .get_location(l.id)
        .await?
        .context("location vanished")?;
    if a.json {
        print_json(&location_json(&updated, now));
    } else {
        println!("Updated location {} \"{}\".", l.id, l.name);
    }
    Ok(())
}

/// `location pause`.
async fn pause(
    store: &dyn StatusStore,
    location: &str,
    until: &str,
    json: bool,
    now: DateTime<Utc>,
) -> Result<()> {
    let r = resolve(store, location).await?;
    let until = parse_until(until, now)?;
    store
        .update_location(
            r.location.id,
            &LocationPatch {
                paused_until: Some(Some(until)),
                ..LocationPatch::default()
            },
            now,
        )
        .await?;
    if json {
        print_json(
            &json!({"id": r.location.id.0, "name": r.location.name, "paused_until": rfc3339(until)}),
        );
    } else {
        println!(
            "\"{}\" paused until {} (no alerts meanwhile).",
            r.location.name,
            rfc3339(until)
        );
    }
    Ok(())
}

/// `location resume`.
async fn resume(
    store: &dyn StatusStore,
    location: &str,
    json: bool,
    now: DateTime<Utc>,
) -> Result<()> {
    let r = resolve(store, location).await?;
    let was_paused = r.location.paused_until.is_some_and(|u| u > now);
    store
        .update_location(
            r.location.id,
            &LocationPatch {
                paused_until: Some(None),
                ..LocationPatch::default()
            },
            now,
        )
        .await?;
    if json {
        print_json(
            &json!({"id": r.location.id.0, "name": r.location.name, "was_paused": was_paused}),
        );
    } else if was_paused {
        println!(
            "\"{}\" resumed; a running monitor picks this up within 5 s.",
            r.location.name
        );
    } else {
        println!("\"{}\" was not paused; nothing to do.", r.location.name);
    }
    Ok(())
}

/// `--until`: an RFC 3339 time or a duration from now.
fn parse_until(s: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        let t = t.with_timezone(&Utc);
        if t <= now {
            bail!("--until {s} is in the past");
        }
        return Ok(t);
    }
    let d = humantime::parse_duration(s).map_err(|_| {
        anyhow!(
            "--until `{s}` is neither an RFC 3339 time (2026-12-01T18:00:00Z) nor a duration (2h)"
        )
    })?;
    if d.is_zero() {
        bail!("--until {s} is now; give how long the pause lasts, e.g. 2h");
    }
    Ok(now + chrono::TimeDelta::from_std(d).context("--until is too far away")?)
}
