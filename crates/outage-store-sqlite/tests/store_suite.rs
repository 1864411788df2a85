//! The `StatusStore` conformance suite against SQLite: once with a fresh database file per story
//! (the way the monitor runs), once with a private in-memory database.

use std::sync::Arc;

use outage_core::StatusStore;
use outage_store_sqlite::{SqliteConfig, SqliteStore};

/// A migrated store in a fresh temporary directory, which lives as long as the story.
async fn file_store() -> (Arc<dyn StatusStore>, tempfile::TempDir) {
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => panic!("cannot create a temporary directory: {e}"),
    };
    let config = SqliteConfig::file(dir.path().join("outage.db"));
    match SqliteStore::open_and_migrate(&config).await {
        Ok(s) => (Arc::new(s), dir),
        Err(e) => panic!("cannot open a fresh SQLite file: {e}"),
    }
}

async fn memory_store() -> Arc<dyn StatusStore> {
    match SqliteStore::open_and_migrate(&SqliteConfig::memory()).await {
        Ok(s) => Arc::new(s),
        Err(e) => panic!("cannot open an in-memory SQLite database: {e}"),
    }
}

mod file {
    use super::*;
    outage_testkit::store_suite!(file_store());
}

mod memory {
    use super::*;
    outage_testkit::store_suite!(memory_store());
}
