//! Every subcommand except `serve` and `demo`.

use std::io::Write as _;
use std::sync::Arc;

use anyhow::{Context, Result, anyhow, bail};
use chrono::{DateTime, SecondsFormat, Utc};
use outage_core::config::Config;
use outage_core::keys::{KeyHash, TOKEN_PREFIX, generate_key, generate_token};
use outage_core::registry;
use outage_core::store::{EventFilter, LocationRecord, StatusStore};
use outage_core::{ApiToken, ApiTokenId, LocationId, LocationPatch, NewLocation};
use serde_json::json;

use crate::cli::{
    Cli, Command, ConfigCommand, DeviceKind, LocationCommand, OutageCommand, PluginsCommand,
    TokenCommand,
};

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> Result<()> {
    let config_path = cli.config.clone();
    let env = outage_core::config::Environment::read(cli.env_file.as_deref())
        .context("invalid configuration")?;
    if !env.ignored().is_empty() {
        eprintln!(
            "warning: ignoring {} (not config keys; settings look like OUTAGE_<SECTION>__<KEY>)",
            env.ignored().join(", ")
        );
    }
    let load = || -> Result<Config> {
        Config::load_from(config_path.as_deref(), &env).context("invalid configuration")
    };
    match cli.command {
        Command::Serve => {
            let cfg = load()?;
            crate::serve::init_tracing();
            crate::serve::serve(cfg, None).await
        }
        Command::Demo { timeout } => crate::demo::run(timeout).await,
        // With --url the configuration is not needed, so a broken one does not fail the check.
        Command::Healthcheck { url, timeout } => match url {
            Some(u) => crate::healthcheck::run(None, Some(&u), timeout).await,
            None => crate::healthcheck::run(Some(&load()?), None, timeout).await,
        },
        Command::Migrate => {
            let cfg = load()?;
            open_store(&cfg).await?;
            println!(
                "database schema is up to date ({})",
                outage_core::config::redact_url(cfg.store.url.expose())
            );
            Ok(())
        }
        Command::CheckConfig { online } => check_config(load()?, online).await,
        Command::Config(ConfigCommand::Example) => {
            print!("{}", example_config());
            Ok(())
        }
        Command::Plugins(PluginsCommand::List { json }) => {
            plugins_list(json);
            Ok(())
        }
        Command::Location(cmd) => location(load()?, cmd).await,
        Command::Outage(OutageCommand::List {
            location,
            limit,
            json,
        }) => outage_list(load()?, location, limit, json).await,
        Command::Diagram(crate::cli::DiagramCommand::Render {
            location,
            week,
            out,
        }) => crate::reports::render_diagram(&load()?, &location, week.as_deref(), &out).await,
        Command::Token(cmd) => token(load()?, cmd).await,
        Command::User(cmd) => crate::users::user(load()?, cmd).await,
        Command::Report {
            from,
            to,
            location,
            by,
            format,
        } => crate::reports::report(&load()?, from, to, location.as_deref(), by, format).await,
        Command::Backup { out } => {
            let cfg = load()?;
            if out.exists() {
                bail!("{} already exists; choose a new file", out.display());
            }
            let store = open_store(&cfg).await?;
            store
                .backup(&out)
                .await
                .with_context(|| format!("backup to {} failed", out.display()))?;
            println!("backup written to {}", out.display());
            Ok(())
        }
        Command::Restore { from } => {
            let cfg = load()?;
            let db = sqlite_file(&cfg)?.ok_or_else(|| {
                anyhow!(
                    "restore works on a SQLite database file; the store is `{}` \
                     (for PostgreSQL use pg_dump / pg_restore)",
                    outage_core::config::redact_url(cfg.store.url.expose())
                )
            })?;
            let r = outage_store_sqlite::restore(&db, &from, Utc::now())
                .await
                .with_context(|| format!("cannot restore {}", from.display()))?;
            println!(
                "restored {} ({} locations, schema version {}) into {}",
                from.display(),
                r.locations,
                r.backup_version,
                db.display()
            );
            if let Some(p) = r.previous {
                println!("the database it replaced was kept as {}", p.display());
            }
            Ok(())
        }
    }
}

/// The database file when the store is SQLite on a file (`None` for other stores).
pub fn sqlite_file(cfg: &Config) -> Result<Option<std::path::PathBuf>> {
    let url = cfg.store.url.expose();
    if !url.starts_with("sqlite:") {
        return Ok(None);
    }
    match outage_store_sqlite::config::parse_url(url)? {
        outage_store_sqlite::Target::File(p) => Ok(Some(p)),
        outage_store_sqlite::Target::Memory => Ok(None),
    }
}

/// Opens and migrates the configured store.
pub async fn open_store(cfg: &Config) -> Result<Arc<dyn StatusStore>> {
    let url = outage_core::config::redact_url(cfg.store.url.expose());
    let store = registry::open_store(cfg.store_options())
        .await
        .with_context(|| format!("cannot open the store {url}"))?;
    store
        .migrate()
        .await
        .with_context(|| format!("cannot migrate the store {url}"))?;
    Ok(store)
}

/// Opens the store for a command that only reads: a SQLite file that does not exist yet is an
/// error saying so (instead of silently creating an empty database and reporting nothing).
pub async fn open_existing_store(cfg: &Config) -> Result<Arc<dyn StatusStore>> {
    if let Some(db) = sqlite_file(cfg)?
        && !db.exists()
    {
        bail!(
            "no database at {}: nothing was recorded there yet (run this where `serve` runs, or \
             point --config / OUTAGE_STORE__URL at its database)",
            db.display()
        );
    }
    open_store(cfg).await
}

/// Opens the store for a listing: a SQLite file that does not exist yet lists nothing (with a
/// note on stderr) and is not created.
pub async fn open_store_or_empty(cfg: &Config) -> Result<Arc<dyn StatusStore>> {
    if let Some(db) = sqlite_file(cfg)?
        && !db.exists()
    {
        eprintln!(
            "note: no database at {} yet (run this where `serve` runs, or set --config / \
             OUTAGE_STORE__URL)",
            db.display()
        );
        return Ok(Arc::new(outage_core::memory_store::MemoryStore::new()));
    }
    open_store(cfg).await
}

fn example_config() -> String {
    let mut out = outage_core::config::EXAMPLE_TOML.to_string();
    for d in registry::all() {
        let shown = matches!(
            d.kind,
            registry::PluginKind::Notifier | registry::PluginKind::Renderer
        );
        if shown && !d.example_config.trim().is_empty() {
            out.push_str(&format!(
                "\n# {} {}: {}\n",
                d.name,
                d.kind.as_str(),
                d.description
            ));
            for line in d.example_config.lines() {
                out.push_str(&format!("# {line}\n"));
            }
        }
    }
    out
}

fn plugins_list(json: bool) {
    let all = registry::all();
    if json {
        let v: Vec<_> = all
            .iter()
            .map(|d| {
                json!({
                    "kind": d.kind.as_str(),
                    "name": d.name,
                    "description": d.description,
                    "example_config": d.example_config,
                })
            })
            .collect();
        print_json(&v);
        return;
    }
    let rows: Vec<Vec<String>> = all
        .iter()
        .map(|d| vec![d.kind.as_str().into(), d.name.into(), d.description.into()])
        .collect();
    print_table(&["KIND", "NAME", "DESCRIPTION"], &rows);
}

async fn check_config(cfg: Config, online: bool) -> Result<()> {
    let notifiers = registry::build_notifiers(&cfg).context("notifier configuration")?;
    crate::reports::renderer(&cfg).context("renderer configuration")?;
    let url = outage_core::config::redact_url(cfg.store.url.expose());
    let missing = sqlite_file(&cfg)?.filter(|db| !db.exists());
    if let Some(db) = &missing {
        let dir = db.parent().filter(|d| !d.as_os_str().is_empty());
        println!("configuration OK");
        match dir.filter(|d| !d.is_dir()) {
            // A service manager may create it at start (systemd's StateDirectory).
            Some(dir) => println!(
                "  store:      {url} (not created yet, and its directory {} does not exist yet: \
                 create it before `serve` or `location add`)",
                dir.display()
            ),
            None => println!(
                "  store:      {url} (not created yet: `serve` or `location add` creates {})",
                db.display()
            ),
        }
        println!("  listen:     {}", cfg.server.listen);
        println!("  admin:      {}", admin_line(&cfg, Some(0))?);
    } else {
        let store = open_store(&cfg).await?;
        store.ping().await.context("the store does not answer")?;
        let locations = store.list_locations().await?.len();
        println!("configuration OK");
        println!("  store:      {url} ({locations} locations)");
        println!("  listen:     {}", cfg.server.listen);
        let users = match store.list_users().await {
            Ok(u) => Some(u.len()),
            Err(outage_core::store::StoreError::Unsupported(_)) => None,
            Err(e) => return Err(e.into()),
        };
        println!("  admin:      {}", admin_line(&cfg, users)?);
        let outbox = store.outbox_stats().await?;
        println!(
            "  alerts:     {} delivered, {} waiting, {} given up{}",
            outbox.delivered,
            outbox.pending,
            outbox.failed,
            if outbox.failed > 0 {
                " (a chat could not be reached: see the log for which and why)"
            } else {
                ""
            }
        );
    }
    println!(
        "  timezone:   {}  language: {}",
        cfg.monitor.timezone,
        match cfg.monitor.language {
            outage_core::render::Language::En => "en",
            outage_core::render::Language::Uk => "uk",
        }
    );
    let names: Vec<_> = notifiers.iter().map(|n| n.name().to_string()).collect();
    println!(
        "  notifiers:  {}",
        if names.is_empty() {
            "none configured (alerts will be printed on the console)".to_string()
        } else {
            names.join(", ")
        }
    );
    if online {
        let mut failed = false;
        for n in &notifiers {
            match n.check_online().await {
                Ok(msg) => println!("  {}: {msg}", n.name()),
                Err(e) => {
                    failed = true;
                    println!("  {}: FAILED: {e}", n.name());
                }
            }
        }
        if failed {
            bail!("a notifier cannot be reached (see above)");
        }
    }
    Ok(())
}

/// The `admin:` line of `check-config`: where the panel is and how to get in. `users` is the
/// number of panel users (`None`: the store keeps none). Fails on a bad `[admin]` section.
fn admin_line(cfg: &Config, users: Option<usize>) -> Result<String> {
    if !cfg.admin.enabled {
        return Ok("off ([admin] enabled = false)".into());
    }
    crate::plugins::check_admin_config(cfg)?;
    let at = match &cfg.admin.listen {
        Some(l) => format!("http://{l}/admin/"),
        None => format!("{}/admin/", cfg.server.base_url()),
    };
    let Some(users) = users else {
        return Ok(format!("{at} is off: this store keeps no panel users"));
    };
    if users > 0 {
        return Ok(format!(
            "{at} ({users} user{})",
            if users == 1 { "" } else { "s" }
        ));
    }
    match &cfg.admin.initial_password_file {
        Some(f) => match std::fs::read_to_string(f) {
            Ok(text) if text.lines().next().is_some_and(|l| l.trim_end().len() >= 8) => {
                Ok(format!(
                    "{at} (no user yet: `serve` makes `admin` from {})",
                    f.display()
                ))
            }
            Ok(_) => bail!(
                "[admin] initial_password_file {}: its first line must be the password, at \
                 least 8 characters",
                f.display()
            ),
            Err(e) => bail!(
                "[admin] initial_password_file {} cannot be read ({e}); give a readable file",
                f.display()
            ),
        },
        None => Ok(format!(
            "{at} (no user yet: run `outage-monitor user add <NAME> --role admin`)"
        )),
    }
}

/// A location name as typed: trimmed, not empty, and not only digits (commands take an id or a
/// name, so a name like `1` could never be reached by name).
pub fn location_name(raw: &str) -> Result<String> {
    let name = raw.trim();
    if name.is_empty() {
        bail!("--name must not be empty");
    }
    if name.chars().all(|c| c.is_ascii_digit()) {
        bail!("--name `{name}` is only digits and would be mistaken for a location id; add a word");
    }
    Ok(name.to_string())
}

/// `location test-alert`: one test message per notifier, delivered directly.
async fn test_alert(cfg: &Config, loc: &outage_core::Location, json: bool) -> Result<()> {
    use outage_core::notify::{ConsoleNotifier, Notifier};
    let mut notifiers = registry::build_notifiers(cfg).context("notifier configuration")?;
    if notifiers.is_empty() {
        notifiers.push(Arc::new(ConsoleNotifier::new(cfg.monitor.timezone)) as Arc<dyn Notifier>);
    }
    if !loc.enabled {
        eprintln!(
            "note: \"{}\" is disabled: the monitor sends no alerts for it until `location edit --enable`",
            loc.name
        );
    }
    let results = outage_core::device::send_test_alert(&notifiers, loc, Utc::now()).await;
    if json {
        print_json(&results);
    } else {
        for r in &results {
            match (&r.error, &r.message_id) {
                (Some(e), _) => println!("{} → {}: FAILED: {e}", r.notifier, r.chat),
                (None, Some(m)) => println!("{} → {}: sent (message {m})", r.notifier, r.chat),
                (None, None) => println!("{} → {}: sent", r.notifier, r.chat),
            }
        }
    }
    if results.iter().any(|r| !r.ok) {
        bail!("the test message could not be sent everywhere (see above)");
    }
    Ok(())
}

/// A location's chat override, checked the way the configured Telegram notifier will read it
/// (so a typo fails now, not at the first outage).
pub fn chat_override(cfg: &Config, raw: &str) -> Result<String> {
    let chat = raw.trim();
    if chat.is_empty() {
        bail!("--chat-id must not be empty (use --no-chat-id to remove an override)");
    }
    if chat.chars().any(|c| c.is_whitespace() || c.is_control()) {
        bail!(
            "--chat-id `{chat}` contains spaces; a chat is a number like -1001234567890 or @name"
        );
    }
    if cfg.notifiers.contains_key("telegram") {
        outage_notify_telegram::ChatId::parse(chat).map_err(|e| anyhow!("--chat-id: {e}"))?;
    }
    Ok(chat.to_string())
}

/// Finds a location by id or by exact name.
pub async fn resolve(store: &dyn StatusStore, what: &str) -> Result<LocationRecord> {
    if let Ok(id) = what.parse::<i64>()
        && let Some(r) = store.get_location(LocationId(id)).await?
    {
        return Ok(r);
    }
    let all = store.list_locations().await?;
    all.into_iter()
        .find(|r| r.location.name == what)
        .ok_or_else(|| {
            anyhow!("no location with id or name `{what}` (see `outage-monitor location list`)")
        })
}

pub(crate) fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn opt_time(t: Option<DateTime<Utc>>) -> serde_json::Value {
    t.map_or(serde_json::Value::Null, |t| json!(rfc3339(t)))
}

fn location_json(r: &LocationRecord, now: DateTime<Utc>) -> serde_json::Value {
    let l = &r.location;
    json!({
        "id": l.id.0,
        "name": l.name,
        "status": r.shown_status(now).as_str(),
        "last_seen": opt_time(r.runtime.last_seen),
        "timeout_s": l.timeout.as_secs(),
        "chat_id": l.chat_id,
        "enabled": l.enabled,
        "paused_until": opt_time(l.paused_until),
        "created_at": rfc3339(l.created_at),
    })
}

async fn location(cfg: Config, cmd: LocationCommand) -> Result<()> {
    let store = match cmd {
        LocationCommand::Add { .. } | LocationCommand::Import { dry_run: false, .. } => {
            open_store(&cfg).await?
        }
        LocationCommand::Import { .. } => open_store_or_empty(&cfg).await?,
        LocationCommand::List { .. } => open_store_or_empty(&cfg).await?,
        _ => open_existing_store(&cfg).await?,
    };
    let now = Utc::now();
    match cmd {
        LocationCommand::Add {
            name,
            timeout,
            chat_id,
            json,
        } => {
            let name = location_name(&name)?;
            let chat_id = chat_id.map(|c| chat_override(&cfg, &c)).transpose()?;
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
        }
        LocationCommand::Import { csv, dry_run, json } => {
            crate::import::run(&cfg, store.as_ref(), &csv, dry_run, json, now).await?;
        }
        LocationCommand::List { json } => {
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
        }
        LocationCommand::Show {
            location,
            device_config,
            new_key,
            json,
        } => {
            let r = resolve(&*store, &location).await?;
            if let Some(kind) = device_config {
                let loopback = cfg.server.public_url.is_none()
                    && cfg
                        .server
                        .listen
                        .parse::<std::net::SocketAddr>()
                        .is_ok_and(|a| a.ip().is_loopback());
                if loopback {
                    eprintln!(
                        "note: devices are told to use {}, which only this machine can reach; \
                         set server.public_url (and server.listen = \"0.0.0.0:8080\") first",
                        cfg.server.base_url()
                    );
                }
                let key = if new_key {
                    let key = generate_key();
                    store
                        .set_key_hash(r.location.id, KeyHash::of(key.expose()))
                        .await?;
                    eprintln!(
                        "A new API key was made for \"{}\"; the old one no longer works.",
                        r.location.name
                    );
                    Some(key)
                } else {
                    None
                };
                print!(
                    "{}",
                    device_settings(&cfg, &r, kind, key.as_ref().map(|k| k.expose()))
                );
                return Ok(());
            }
            let events = store
                .list_events(&EventFilter {
                    location_id: Some(r.location.id),
                    limit: Some(5),
                    ..EventFilter::default()
                })
                .await?;
            if json {
                let mut v = location_json(&r, now);
                v["last_facts"] = serde_json::to_value(&r.runtime.last_facts)?;
                v["recent_outages"] = json!(
                    events
                        .iter()
                        .map(|e| event_json(e, &r.location.name))
                        .collect::<Vec<_>>()
                );
                print_json(&v);
            } else {
                let l = &r.location;
                println!("{} \"{}\"", l.id, l.name);
                println!("  status:     {}", r.shown_status(now));
                println!(
                    "  last seen:  {}",
                    r.runtime.last_seen.map_or("never".into(), |t| format!(
                        "{} ({})",
                        rfc3339(t),
                        ago(now, t)
                    ))
                );
                println!("  timeout:    {}", humantime::format_duration(l.timeout));
                println!(
                    "  chat:       {}",
                    l.chat_id.as_deref().unwrap_or("(notifier default)")
                );
                println!("  enabled:    {}", l.enabled);
                if let Some(u) = l.paused_until {
                    println!("  paused until {}", rfc3339(u));
                }
                let f = &r.runtime.last_facts;
                if let Some(b) = &f.boot_id {
                    println!(
                        "  device:     boot {b}, uptime {}s, fw {}",
                        f.uptime_s.unwrap_or(0),
                        f.fw.as_deref().unwrap_or("?")
                    );
                }
                if !events.is_empty() {
                    println!("  recent outages:");
                    for e in &events {
                        println!(
                            "    {} → {}  {}",
                            e.started_at.map_or("(start unknown)".into(), rfc3339),
                            e.ended_at.map_or("ongoing".into(), rfc3339),
                            e.cause
                        );
                    }
                }
            }
        }
        LocationCommand::Edit(a) => {
            let r = resolve(&*store, &a.location).await?;
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
                        .map(|c| chat_override(&cfg, c))
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
            };
            if patch == LocationPatch::default() {
                bail!(
                    "nothing to change: give --name, --timeout, --chat-id, --no-chat-id, --enable \
                     or --disable"
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
        }
        LocationCommand::Remove { location, json } => {
            let r = resolve(&*store, &location).await?;
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
        }
        LocationCommand::RotateKey { location, json } => {
            let r = resolve(&*store, &location).await?;
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
        }
        LocationCommand::Pause {
            location,
            until,
            json,
        } => {
            let r = resolve(&*store, &location).await?;
            let until = parse_until(&until, now)?;
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
        }
        LocationCommand::TestAlert { location, json } => {
            let r = resolve(&*store, &location).await?;
            test_alert(&cfg, &r.location, json).await?;
        }
        LocationCommand::Resume { location, json } => {
            let r = resolve(&*store, &location).await?;
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
        }
    }
    Ok(())
}

/// `token create|list|revoke`.
async fn token(cfg: Config, cmd: TokenCommand) -> Result<()> {
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
                print_json(
                    &all.iter()
                        .map(|t| {
                            json!({
                                "id": t.id.0,
                                "name": t.name,
                                "created_at": rfc3339(t.created_at),
                            })
                        })
                        .collect::<Vec<_>>(),
                );
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

fn event_json(e: &outage_core::PowerEvent, location: &str) -> serde_json::Value {
    json!({
        "id": e.id.0,
        "location": location,
        "location_id": e.location_id.0,
        "started_at": opt_time(e.started_at),
        "detected_at": rfc3339(e.detected_at),
        "ended_at": opt_time(e.ended_at),
        "cause": e.cause.as_str(),
        "duration_s": e.started_at.zip(e.ended_at).map(|(s, end)| (end - s).num_seconds()),
    })
}

async fn outage_list(cfg: Config, location: Option<String>, limit: u32, json: bool) -> Result<()> {
    let store = open_store_or_empty(&cfg).await?;
    let loc = match location {
        Some(l) => Some(resolve(&*store, &l).await?),
        None => None,
    };
    let names: std::collections::HashMap<_, _> = store
        .list_locations()
        .await?
        .into_iter()
        .map(|r| (r.location.id, r.location.name))
        .collect();
    let events = store
        .list_events(&EventFilter {
            location_id: loc.map(|r| r.location.id),
            limit: Some(limit),
            ..EventFilter::default()
        })
        .await?;
    let name = |id: &LocationId| names.get(id).cloned().unwrap_or_else(|| id.to_string());
    if json {
        print_json(
            &events
                .iter()
                .map(|e| event_json(e, &name(&e.location_id)))
                .collect::<Vec<_>>(),
        );
        return Ok(());
    }
    if events.is_empty() {
        println!("No outages recorded.");
        return Ok(());
    }
    let now = Utc::now();
    let rows: Vec<Vec<String>> = events
        .iter()
        .map(|e| {
            vec![
                name(&e.location_id),
                e.started_at.map_or("(unknown)".into(), rfc3339),
                e.ended_at.map_or("ongoing".into(), rfc3339),
                e.duration(now)
                    .map_or("?".into(), outage_core::notify::human_duration),
                e.cause.to_string(),
            ]
        })
        .collect();
    print_table(
        &["LOCATION", "STARTED", "ENDED", "DURATION", "CAUSE"],
        &rows,
    );
    Ok(())
}

/// Ready-to-use settings for a device of `kind` at location `r`; `key` fills in the API key
/// when it is known (just made), otherwise a placeholder stands in.
fn device_settings(
    cfg: &Config,
    r: &LocationRecord,
    kind: DeviceKind,
    key: Option<&str>,
) -> String {
    use outage_core::device::DeviceKind as D;
    let kind = match kind {
        DeviceKind::Esp32 => D::Esp32,
        DeviceKind::Esphome => D::Esphome,
        DeviceKind::Sh => D::Sh,
        DeviceKind::Curl => D::Curl,
    };
    let text = outage_core::device::device_settings(&cfg.server.base_url(), &r.location, kind, key);
    if key.is_none() {
        // The CLI names its own way to a new key.
        return text.replace(
            "make a new one (rotate) and fill it in.",
            "add --new-key to make a new one and fill it in.",
        );
    }
    text
}

fn ago(now: DateTime<Utc>, t: DateTime<Utc>) -> String {
    format!("{} ago", outage_core::notify::human_duration(now - t))
}

/// Prints pretty JSON; a closed pipe (`… | head`) is not an error.
pub fn print_json<T: serde::Serialize>(v: &T) {
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let _ = serde_json::to_writer_pretty(&mut out, v);
    let _ = writeln!(out);
    let _ = out.flush();
}

pub(crate) fn print_table(headers: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(c.chars().count());
            }
        }
    }
    let line = |cells: Vec<&str>| {
        cells
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let pad = widths[i].saturating_sub(c.chars().count());
                format!("{c}{}", " ".repeat(pad))
            })
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    println!("{}", line(headers.to_vec()));
    for r in rows {
        println!("{}", line(r.iter().map(String::as_str).collect()));
    }
}
