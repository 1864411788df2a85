//! The `StatusStore` conformance suite against PostgreSQL: a fresh database per story.
//!
//! Needs `OUTAGE_TEST_POSTGRES_URL` (see `common`); without it every story prints SKIPPED once
//! and passes, except under CI, where it fails.

mod common;

use std::sync::Arc;

use outage_core::StatusStore;
use outage_store_postgres::{PostgresConfig, PostgresStore};

/// A migrated store on a fresh database, which lives (and is dropped) with the story.
async fn fresh(db: common::TestDb) -> (Arc<dyn StatusStore>, common::TestDb) {
    let config = match PostgresConfig::from_url(&db.url) {
        Ok(c) => c,
        Err(e) => panic!("bad test database URL: {e}"),
    };
    match PostgresStore::open_and_migrate(&config).await {
        Ok(s) => (Arc::new(s), db),
        Err(e) => panic!("cannot open a fresh PostgreSQL database: {e}"),
    }
}

// A story without a server returns at once (after the SKIPPED line).
outage_testkit::store_suite!({
    let Some(db) = common::TestDb::create().await else {
        return;
    };
    fresh(db)
});
