//! `outage-store-sqlite`: the embedded, default [`StatusStore`] of outage-monitor — one SQLite
//! file next to the binary, nothing else to run.
//!
//! It is chosen by a `sqlite:` store URL (`sqlite://outage-monitor.db`,
//! `sqlite:///var/lib/outage-monitor/outage.db`, `sqlite::memory:`; see [`config`]) and
//! registered in the plugin registry as the `sqlite` store. The registry's factory opens the
//! database (creating the file if missing) **and migrates it**, so a store it returns is ready to
//! use. The schema lives in `migrations/sqlite/` at the repository root and is embedded at
//! compile time.
//!
//! The database runs in WAL mode with `synchronous = NORMAL` and foreign keys on; one writer
//! connection takes every write and a small pool of readers serves queries alongside it. Times
//! are stored as INTEGER microseconds since the Unix epoch (UTC), so every store keeps the same
//! precision as PostgreSQL. Details are in [`store`].
//!
//! This crate must never depend on an HTTP framework or client, nor on another store: it is a
//! database adapter and nothing more.
//!
//! [`StatusStore`]: outage_core::StatusStore

pub mod config;
pub mod restore;
pub mod store;

use std::sync::Arc;

use outage_core::registry::{BoxFuture, Factory, PluginDescriptor, PluginKind};
use outage_core::store::{StatusStore, StoreError, StoreOptions};

pub use config::{SqliteConfig, Target};
pub use restore::{Restored, ServeLock, lock_for_serve, restore};
pub use store::SqliteStore;

/// Example `[store]` section for `plugins list` and `config example`.
pub const EXAMPLE_CONFIG: &str = r#"[store]
url = "sqlite://outage-monitor.db"   # relative to the working directory; sqlite:///abs/path.db for an absolute one
pool = 8                             # reader connections (writes use one more)
busy_timeout = "5s"                  # how long to wait for a lock held by another process
"#;

/// Opens and migrates the SQLite store named by `opts.url` (the registry's factory).
pub fn open(opts: StoreOptions) -> BoxFuture<'static, Result<Arc<dyn StatusStore>, StoreError>> {
    Box::pin(async move {
        let config = SqliteConfig::from_options(&opts)?;
        let store = SqliteStore::open_and_migrate(&config).await?;
        Ok(Arc::new(store) as Arc<dyn StatusStore>)
    })
}

outage_core::inventory::submit! {
    PluginDescriptor {
        kind: PluginKind::Store,
        name: config::SCHEME,
        description: "Embedded SQLite database in one file (WAL); the default store.",
        example_config: EXAMPLE_CONFIG,
        factory: Factory::Store(open),
    }
}
