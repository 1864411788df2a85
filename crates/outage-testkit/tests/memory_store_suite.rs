//! The store conformance suite against the reference [`MemoryStore`].

use std::sync::Arc;

use outage_core::StatusStore;
use outage_core::memory_store::MemoryStore;

async fn fresh() -> Arc<dyn StatusStore> {
    Arc::new(MemoryStore::new())
}

outage_testkit::store_suite!(fresh());
