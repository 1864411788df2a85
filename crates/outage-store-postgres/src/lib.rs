//! `outage-store-postgres`: the PostgreSQL [`StatusStore`] of outage-monitor, for production
//! setups that already run PostgreSQL and for several monitor instances sharing one database.
//!
//! It is chosen by a `postgres://` or `postgresql://` store URL (see [`config`]) and registered
//! in the plugin registry as the `postgres` store. The registry's factory connects (a wrong
//! URL, password or an unreachable server is `StoreError::Unavailable`, with the password
//! redacted) **and migrates** the database, so a store it returns is ready to use. The schema
//! lives in `migrations/postgres/` at the repository root and is embedded at compile time; it
//! mirrors the SQLite schema: times are BIGINT microseconds since the Unix epoch (UTC), exact
//! and the same precision as every other store. Details are in [`store`].
//!
//! `backup` is not offered: use `pg_dump` (see [`store::BACKUP_UNSUPPORTED`]).
//!
//! # Leader election
//!
//! With several instances behind a load balancer, every instance may take heartbeats, but
//! exactly one may run detection, delivery and scheduling (book: PostgreSQL, "More than one
//! instance"). [`PostgresStore::try_lead`]
//! takes a session-level PostgreSQL advisory lock ([`store::LEADER_LOCK_KEY`]) on a dedicated
//! connection the store keeps open: `Ok(true)` for the one instance holding it, `Ok(false)` for
//! the others. When the leader dies (or its store is dropped or [closed](PostgresStore::close)),
//! PostgreSQL ends its session and frees the lock, and the next `try_lead` of another instance
//! wins; [`PostgresStore::resign`] hands it over at once.
//!
//! `outage-monitor serve` asks every second (`leadership_loop` in the binary): a standby that
//! wins takes over, a leader whose lock connection fails stops leading at once. Standbys hand
//! their heartbeats to the leader through the `StatusStore::relay_heartbeats` /
//! `relayed_heartbeats` pair, here `LISTEN`/`NOTIFY` on [`store::RELAY_CHANNEL`].
//!
//! This crate must never depend on an HTTP framework or client, nor on another store: it is a
//! database adapter and nothing more.
//!
//! [`StatusStore`]: outage_core::StatusStore

pub mod config;
pub mod store;

use std::sync::Arc;

use outage_core::registry::{BoxFuture, Factory, PluginDescriptor, PluginKind};
use outage_core::store::{StatusStore, StoreError, StoreOptions};

pub use config::PostgresConfig;
pub use store::PostgresStore;

/// Example `[store]` section for `plugins list` and `config example`.
pub const EXAMPLE_CONFIG: &str = r#"[store]
url = "postgres://outage@127.0.0.1:5432/outage"   # or url_file = "/run/secrets/store-url" when it holds a password
pool = 8                                          # pooled connections (leader election uses one more)
busy_timeout = "5s"                               # waiting for a connection, and for a lock held by another session
"#;

/// Connects to and migrates the PostgreSQL store named by `opts.url` (the registry's factory).
pub fn open(opts: StoreOptions) -> BoxFuture<'static, Result<Arc<dyn StatusStore>, StoreError>> {
    Box::pin(async move {
        let config = PostgresConfig::from_options(&opts)?;
        let store = PostgresStore::open_and_migrate(&config).await?;
        Ok(Arc::new(store) as Arc<dyn StatusStore>)
    })
}

outage_core::inventory::submit! {
    PluginDescriptor {
        kind: PluginKind::Store,
        name: config::SCHEME,
        description: "PostgreSQL database (postgres:// or postgresql:// URL); several instances can share it.",
        example_config: EXAMPLE_CONFIG,
        factory: Factory::Store(open),
    }
}
