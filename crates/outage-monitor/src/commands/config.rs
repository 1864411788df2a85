//! `check-config` and `migrate`: is the configuration usable, and is the schema current.

use anyhow::{Context, Result, bail};
use outage_core::config::{Config, redact_url};
use outage_core::registry;

use crate::context::{open_store, sqlite_file};

/// `migrate`: opens the store, which runs its migrations.
pub async fn migrate(cfg: &Config) -> Result<()> {
    open_store(cfg).await?;
    println!(
        "database schema is up to date ({})",
        redact_url(cfg.store.url.expose())
    );
    Ok(())
}

/// `check-config [--online]`.
pub async fn check_config(cfg: Config, online: bool) -> Result<()> {
    let notifiers = registry::build_notifiers(&cfg).context("notifier configuration")?;
    registry::build_renderer(&cfg).context("renderer configuration")?;
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
        if let Some(leader) = crate::plugins::describe_leader(&cfg).await? {
            println!("  leader:     {leader}");
        }
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
    // Each instance with its kind and default chats: `family (telegram: -100…, -100…)`.
    let names: Vec<_> = notifiers
        .iter()
        .map(|n| {
            let kind = cfg
                .notifiers
                .get(n.name())
                .and_then(|t| registry::notifier_kind(n.name(), t).ok())
                .map_or(n.name(), |(d, _)| d.name);
            let chats = n.chats_for(None);
            let bot = if n.answers_commands() {
                "; answers commands"
            } else {
                ""
            };
            if chats.iter().all(|c| c == "default") {
                format!("{} ({kind}{bot})", n.name())
            } else {
                format!("{} ({kind}: {}{bot})", n.name(), chats.join(", "))
            }
        })
        .collect();
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
