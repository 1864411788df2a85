//! Every plugin crate compiled into the binary, and the only module of the binary that names
//! them. A plugin crate that nothing references is dropped by the linker together with its
//! `inventory` registration, so each is named here. What the registry and the core traits can
//! carry (stores, notifiers and their chat checks, the renderer) goes through them; the few
//! capabilities they cannot (the HTTP server's routes, the admin panel, SQLite file restore, the
//! one-`serve`-per-database locks, password hashing) are wrapped here so the rest of the binary
//! stays plugin-agnostic.

use outage_notify_ntfy as _;
use outage_notify_telegram as _;
use outage_notify_webhook as _;
use outage_render_plotters as _;
use outage_source_http as _;
use outage_store_postgres as _;
use outage_store_sqlite as _;
use outage_web_admin as _;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use outage_core::clock::SharedClock;
use outage_core::config::Config;
use outage_core::engine::Engine;
use outage_core::notify::Notifier;
use outage_core::render::DiagramRenderer;
use outage_core::source::HeartbeatSource;
use outage_core::store::{StatusStore, StoreError};

/// The admin panel built by [`admin_panel`].
pub type AdminPanel = outage_web_admin::Panel;

/// The HTTP heartbeat source of `serve`, bound before the engine starts (so its address is
/// known), with the read API and possibly the admin panel mounted on it.
pub struct HttpServer(outage_source_http::HttpSource);

impl HttpServer {
    /// Binds `[server] listen`, or takes an already bound `listener` (tests use port 0).
    pub fn bind(cfg: &Config, listener: Option<std::net::TcpListener>) -> anyhow::Result<Self> {
        let http_cfg = outage_source_http::HttpConfig::from_server(&cfg.server);
        Ok(HttpServer(match listener {
            Some(l) => outage_source_http::HttpSource::with_listener(l, http_cfg),
            None => outage_source_http::HttpSource::bind(http_cfg)
                .context("cannot start the HTTP server")?,
        }))
    }

    /// Where it listens.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.0.local_addr()
    }

    /// Mounts the read API (locations, events, availability, diagrams, OpenAPI).
    pub fn with_read_api(
        self,
        cfg: &Config,
        store: Arc<dyn StatusStore>,
        renderer: Arc<dyn DiagramRenderer>,
        clock: SharedClock,
        engine: Engine,
    ) -> Self {
        let read_api = outage_source_http::ReadApi::new(store, renderer)
            .timezone(cfg.monitor.timezone)
            .language(cfg.monitor.language)
            .clock(clock)
            .engine(engine)
            .timeout(cfg.server.request_timeout);
        HttpServer(self.0.with_router(read_api.router()))
    }

    /// Mounts the admin panel under `/admin/` on the same listener.
    pub fn with_panel(self, panel: &AdminPanel) -> Self {
        HttpServer(self.0.with_router(panel.router()))
    }

    /// The heartbeat source to run.
    pub fn into_source(self) -> Box<dyn HeartbeatSource> {
        Box::new(self.0)
    }
}

/// The database file when the store is SQLite on a file (`None` for other stores).
pub fn sqlite_file(cfg: &Config) -> anyhow::Result<Option<PathBuf>> {
    let url = cfg.store.url.expose();
    if !url.starts_with(&format!("{}:", outage_store_sqlite::config::SCHEME)) {
        return Ok(None);
    }
    match outage_store_sqlite::config::parse_url(url)? {
        outage_store_sqlite::Target::File(p) => Ok(Some(p)),
        outage_store_sqlite::Target::Memory => Ok(None),
    }
}

/// What [`restore_sqlite`] did.
pub struct Restored {
    /// Locations in the restored database.
    pub locations: i64,
    /// Schema version of the backup before it was migrated.
    pub backup_version: i64,
    /// Where the database that was replaced now is (`None` if there was none).
    pub previous: Option<PathBuf>,
}

/// Replaces the SQLite database file `db` by the backup `from` (refused while `serve` runs).
pub async fn restore_sqlite(
    db: &Path,
    from: &Path,
    now: DateTime<Utc>,
) -> Result<Restored, StoreError> {
    let r = outage_store_sqlite::restore(db, from, now).await?;
    Ok(Restored {
        locations: r.locations,
        backup_version: r.backup_version,
        previous: r.previous,
    })
}

/// Keeps a second `serve` off the same SQLite database (it would send every alert twice), or
/// elects the leader among the instances on one PostgreSQL database.
pub enum ServeGuard {
    /// `<db>.serve-lock`, which `restore` checks too; held for its `Drop` only.
    Sqlite(#[allow(dead_code)] outage_store_sqlite::ServeLock),
    /// The PostgreSQL leader lock (a session advisory lock on a connection of its own): the
    /// instance holding it detects and delivers, the others are standbys.
    Postgres(Box<outage_store_postgres::PostgresStore>),
}

impl ServeGuard {
    /// Whether several instances may serve on this store, one leading.
    pub fn shared(&self) -> bool {
        matches!(self, ServeGuard::Postgres(_))
    }

    /// Takes or keeps the lead (`Ok(false)`: another instance leads; `Err`: the database cannot
    /// be asked, so this instance must not lead). SQLite: always the leader.
    pub async fn try_lead(&self) -> anyhow::Result<bool> {
        match self {
            ServeGuard::Sqlite(_) => Ok(true),
            ServeGuard::Postgres(pg) => Ok(pg.try_lead().await?),
        }
    }

    /// Gives the lead up at once (shutdown), so a standby takes over without waiting.
    pub async fn resign(&self) {
        if let ServeGuard::Postgres(pg) = self
            && let Err(e) = pg.resign().await
        {
            tracing::warn!(error = %e, "cannot release the leader lock; it ends with the connection");
        }
    }
}

/// Takes the one-`serve`-per-database lock of the configured store, or for PostgreSQL opens
/// the connection that competes for the lead (`None`: the store needs none, e.g. in memory).
pub async fn serve_guard(cfg: &Config) -> anyhow::Result<Option<ServeGuard>> {
    if let Some(db) = sqlite_file(cfg)? {
        return Ok(Some(ServeGuard::Sqlite(
            outage_store_sqlite::lock_for_serve(&db)?,
        )));
    }
    let url = cfg.store.url.expose();
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let mut pg_cfg = outage_store_postgres::PostgresConfig::from_options(&cfg.store_options())?;
        // Only its dedicated leader connection is used; the store proper has its own pool.
        pg_cfg.max_connections = 1;
        let pg = outage_store_postgres::PostgresStore::open(&pg_cfg).await?;
        return Ok(Some(ServeGuard::Postgres(Box::new(pg))));
    }
    Ok(None)
}

/// For a PostgreSQL store: which instance leads now (`check-config`); `None` for other stores.
pub async fn describe_leader(cfg: &Config) -> anyhow::Result<Option<String>> {
    let url = cfg.store.url.expose();
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return Ok(None);
    }
    let mut pg_cfg = outage_store_postgres::PostgresConfig::from_options(&cfg.store_options())?;
    pg_cfg.max_connections = 1;
    let pg = outage_store_postgres::PostgresStore::open(&pg_cfg).await?;
    let holder = pg.leader_holder().await?;
    pg.close().await;
    Ok(Some(holder.unwrap_or_else(|| {
        "none: no `serve` is running on this database (the first to start leads)".into()
    })))
}

/// Hashes a panel user's password the way the admin panel checks it (argon2id).
pub fn hash_password(password: &str) -> anyhow::Result<String> {
    Ok(outage_web_admin::auth::hash_password(password)?)
}

/// Checks `[admin]` as the panel would at start.
pub fn check_admin_config(cfg: &Config) -> anyhow::Result<()> {
    outage_web_admin::check_config(&cfg.admin).map_err(|e| anyhow::anyhow!("[admin] {e}"))
}

/// The admin panel for `serve`, or `None` when `[admin] enabled = false` or the store keeps no
/// users. Makes the first admin from `[admin] initial_password_file` when there is no user.
pub async fn admin_panel(
    cfg: &Config,
    store: Arc<dyn StatusStore>,
    engine: Engine,
    notifiers: Vec<Arc<dyn Notifier>>,
    renderer: Arc<dyn DiagramRenderer>,
) -> anyhow::Result<Option<AdminPanel>> {
    if !cfg.admin.enabled {
        return Ok(None);
    }
    check_admin_config(cfg)?;
    match store.list_users().await {
        Err(StoreError::Unsupported(what)) => {
            tracing::warn!("admin panel off: {what} is not supported by this store yet");
            return Ok(None);
        }
        Err(e) => return Err(e.into()),
        Ok(_) => {}
    }
    let panel = outage_web_admin::Panel::new(
        store,
        engine,
        notifiers,
        renderer,
        outage_web_admin::PanelSettings::from_config(cfg),
    );
    panel
        .ensure_first_user(cfg.admin.initial_password_file.as_deref())
        .await?;
    Ok(Some(panel))
}

/// Names of the plugins this binary must offer, checked by a test.
#[cfg(test)]
pub const EXPECTED: &[(&str, &str)] = &[
    ("notifier", "console"),
    ("notifier", "ntfy"),
    ("notifier", "telegram"),
    ("notifier", "webhook"),
    ("panel", "admin"),
    ("renderer", "plotters"),
    ("source", "http"),
    ("store", "postgres"),
    ("store", "sqlite"),
];

#[cfg(test)]
mod tests {
    #[test]
    fn every_plugin_crate_registered_its_descriptor() {
        let have: Vec<_> = outage_core::registry::all()
            .into_iter()
            .map(|d| (d.kind.as_str(), d.name))
            .collect();
        for want in super::EXPECTED {
            assert!(have.contains(want), "{want:?} missing from {have:?}");
        }
    }

    #[test]
    fn the_renderer_is_the_default_one_or_the_one_the_config_names() {
        use outage_core::config::Config;
        use outage_core::registry::{DEFAULT_RENDERER, build_renderer};
        assert!(
            outage_core::registry::find(
                outage_core::registry::PluginKind::Renderer,
                DEFAULT_RENDERER
            )
            .is_ok()
        );
        build_renderer(&Config::from_toml_str("").unwrap()).unwrap();
        build_renderer(&Config::from_toml_str("[renderer.plotters]\n").unwrap()).unwrap();
        let err = build_renderer(&Config::from_toml_str("[renderer.nope]\n").unwrap())
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("nope") && err.contains("plotters"), "{err}");
    }

    #[test]
    fn chat_overrides_are_checked_by_the_notifiers_that_read_them() {
        let cfg = outage_core::config::Config::from_toml_str(
            "[notifiers.console]\n[notifiers.telegram]\nbot_token = \"1:abc\"\nchat_id = 1\n",
        )
        .unwrap();
        let built = outage_core::registry::build_notifiers(&cfg).unwrap();
        let check = |name: &str, chat: &str| {
            built
                .iter()
                .find(|n| n.name() == name)
                .unwrap()
                .check_chat(chat)
        };
        assert_eq!(check("console", "anything at all"), Ok(()));
        assert_eq!(check("telegram", "-1001234567890"), Ok(()));
        assert_eq!(check("telegram", "@home_power"), Ok(()));
        let err = check("telegram", "notanumber").unwrap_err();
        assert!(err.contains("notanumber"), "{err}");
    }

    #[test]
    fn every_example_config_parses_as_part_of_a_config() {
        for d in outage_core::registry::all() {
            outage_core::config::Config::from_toml_str(d.example_config).unwrap_or_else(|e| {
                panic!(
                    "example config of {} {} does not parse: {e}",
                    d.kind.as_str(),
                    d.name
                )
            });
        }
    }
}
