//! What every command and `serve` share: reading the configuration, opening the store, finding
//! a location, checking a chat override, and printing tables and JSON. Depends on `plugins`
//! only; `commands/*` and `serve` depend on it, never the other way round.

use std::cell::OnceCell;
use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, anyhow, bail};
use chrono::{DateTime, Utc};
use outage_core::config::{Config, Environment, redact_url};
use outage_core::notify::Notifier;
use outage_core::registry;
use outage_core::store::{LocationRecord, StatusStore};
use outage_core::{LocationId, Route};

pub use crate::plugins::sqlite_file;

/// Reads the environment (`--env-file`, then the real one) once, warning about `OUTAGE_*`
/// names that are not settings, and loads the configuration on demand.
pub struct ConfigSource {
    path: Option<std::path::PathBuf>,
    env: Environment,
}

impl ConfigSource {
    /// Reads the environment.
    pub fn read(config: Option<&Path>, env_file: Option<&Path>) -> Result<Self> {
        let env = Environment::read(env_file).context("invalid configuration")?;
        if !env.ignored().is_empty() {
            eprintln!(
                "warning: ignoring {} (not config keys; settings look like OUTAGE_<SECTION>__<KEY>)",
                env.ignored().join(", ")
            );
        }
        Ok(ConfigSource {
            path: config.map(Path::to_path_buf),
            env,
        })
    }

    /// Loads and checks the configuration (defaults < TOML < environment).
    pub fn load(&self) -> Result<Config> {
        Config::load_from(self.path.as_deref(), &self.env).context("invalid configuration")
    }
}

/// Opens and migrates the configured store.
pub async fn open_store(cfg: &Config) -> Result<Arc<dyn StatusStore>> {
    let url = redact_url(cfg.store.url.expose());
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

/// The configured notifiers, or the console notifier when none is configured.
pub fn notifiers_or_console(cfg: &Config) -> Result<Vec<Arc<dyn Notifier>>> {
    let mut notifiers = registry::build_notifiers(cfg).context("notifier configuration")?;
    if notifiers.is_empty() {
        notifiers.push(Arc::new(outage_core::notify::ConsoleNotifier::new(
            cfg.monitor.timezone,
        )) as Arc<dyn Notifier>);
    }
    Ok(notifiers)
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

/// Checks locations' chat overrides the way the configured notifiers will read them
/// ([`Notifier::check_chat`]), so a typo fails now, not at the first outage. The notifiers are
/// built at the first override that needs them, once.
pub struct ChatCheck<'a> {
    cfg: &'a Config,
    notifiers: OnceCell<Vec<Arc<dyn Notifier>>>,
}

impl<'a> ChatCheck<'a> {
    /// Checks against the notifiers of `cfg`.
    pub fn new(cfg: &'a Config) -> Self {
        ChatCheck {
            cfg,
            notifiers: OnceCell::new(),
        }
    }

    fn notifiers(&self) -> Result<&[Arc<dyn Notifier>]> {
        if let Some(n) = self.notifiers.get() {
            return Ok(n);
        }
        let built = notifiers_or_console(self.cfg)?;
        Ok(self.notifiers.get_or_init(|| built))
    }

    /// `--notify` values as routes: `None` when none was given, `Some(vec![])` for `--notify`
    /// alone (back to every configured notifier). Each must name a configured instance, and its
    /// chat must be one that instance accepts.
    pub fn routes(&self, raw: &[String]) -> Result<Option<Vec<Route>>> {
        if raw.is_empty() {
            return Ok(None);
        }
        if raw.iter().any(|r| r.trim().is_empty()) {
            if raw.len() > 1 {
                bail!(
                    "--notify without a value means \"every configured notifier\" and cannot be \
                     combined with --notify <INSTANCE[:CHAT]>"
                );
            }
            return Ok(Some(Vec::new()));
        }
        let notifiers = self.notifiers()?;
        let routes = outage_core::notify::check_routes(notifiers, raw.iter().map(String::as_str))
            .map_err(|e| anyhow!("--notify {e}"))?;
        Ok(Some(routes))
    }

    /// The override as stored: trimmed, one word, accepted by every configured notifier.
    pub fn check(&self, raw: &str) -> Result<String> {
        let chat = raw.trim();
        if chat.is_empty() {
            bail!("--chat-id must not be empty (use --no-chat-id to remove an override)");
        }
        if chat.chars().any(|c| c.is_whitespace() || c.is_control()) {
            bail!(
                "--chat-id `{chat}` contains spaces; a chat is a number like -1001234567890 or \
                 @name"
            );
        }
        for n in self.notifiers()? {
            n.check_chat(chat).map_err(|e| anyhow!("--chat-id: {e}"))?;
        }
        Ok(chat.to_string())
    }
}

/// A time as the CLI prints it: RFC 3339 in UTC, whole seconds.
pub use outage_core::view::rfc3339;

/// "5m 3s ago".
pub fn ago(now: DateTime<Utc>, t: DateTime<Utc>) -> String {
    format!("{} ago", outage_core::notify::human_duration(now - t))
}

/// Prints pretty JSON; a closed pipe (`… | head`) is not an error.
pub fn print_json<T: serde::Serialize>(v: &T) {
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let _ = serde_json::to_writer_pretty(&mut out, v);
    let _ = writeln!(out);
    let _ = out.flush();
}

/// Prints left-aligned columns separated by two spaces, the header first.
pub fn print_table(headers: &[&str], rows: &[Vec<String>]) {
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
