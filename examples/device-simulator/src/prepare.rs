//! The benchmark database: N locations with known keys, created through the library (the
//! SQLite [`StatusStore`] the server itself uses), and read back after the run.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use chrono::Utc;
use outage_core::domain::{LocationId, NewLocation, PowerEvent};
use outage_core::keys::KeyHash;
use outage_core::store::{EventFilter, StatusStore, StoreOptions};
use outage_store_sqlite::{SqliteConfig, SqliteStore};

/// Progress is printed after every this many locations.
const PROGRESS_EVERY: usize = 20_000;

/// The simulated fleet as the load generator needs it.
#[derive(Debug)]
pub struct Fleet {
    /// `keys[i]` is the API key of device `i`.
    pub keys: Vec<String>,
    /// Device index of each location id.
    pub index_of: HashMap<LocationId, usize>,
    /// Wall time spent creating the locations (migration excluded).
    pub create_time: Duration,
}

/// The store URL of a database file.
pub fn store_url(db: &Path) -> String {
    format!("sqlite://{}", db.display())
}

/// Location name of device `i` (what the console notifier prints).
pub fn device_name(i: usize) -> String {
    format!("sim-{i:06}")
}

/// The API key of device `i`. Known to the simulator by construction; the database stores
/// only its hash, as always.
fn device_key(i: usize) -> String {
    format!("om_simulated_device_key_{i:08}")
}

async fn open(db: &Path) -> Result<SqliteStore> {
    let config = SqliteConfig::from_options(&StoreOptions {
        url: store_url(db),
        pool: 2,
        busy_timeout: Duration::from_secs(10),
    })?;
    SqliteStore::open(&config)
        .await
        .with_context(|| format!("open {}", db.display()))
}

/// Creates (and migrates) a fresh database with `n` locations of the given `timeout`.
pub async fn create(db: &Path, n: usize, timeout: Duration) -> Result<Fleet> {
    let store = open(db).await?;
    store.migrate().await.context("migrate")?;
    let now = Utc::now();
    let started = Instant::now();
    let mut keys = Vec::with_capacity(n);
    let mut index_of = HashMap::with_capacity(n);
    for i in 0..n {
        let key = device_key(i);
        let new = NewLocation {
            routes: Vec::new(),
            name: device_name(i),
            timeout,
            chat_id: None,
        };
        let loc = store
            .create_location(&new, KeyHash::of(&key), now)
            .await
            .with_context(|| format!("create location {i}"))?;
        index_of.insert(loc.id, i);
        keys.push(key);
        if (i + 1) % PROGRESS_EVERY == 0 {
            eprintln!(
                "  … {} locations in {:.1} s",
                i + 1,
                started.elapsed().as_secs_f64()
            );
        }
    }
    let create_time = started.elapsed();
    // Checkpoints the WAL, so the server starts on a settled file.
    store.close().await;
    Ok(Fleet {
        keys,
        index_of,
        create_time,
    })
}

/// Every power event in the database, newest first.
pub async fn outages(db: &Path, limit: u32) -> Result<Vec<PowerEvent>> {
    let store = open(db).await?;
    let events = store
        .list_events(&EventFilter {
            limit: Some(limit),
            ..EventFilter::default()
        })
        .await
        .context("list events");
    store.close().await;
    events
}
