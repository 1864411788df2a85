//! The schema, locations, their runtime snapshot, heartbeat batches and retention: the same statements and the same
//! Rust on every SQL store, written once over any sqlx driver.

use std::marker::PhantomData;

use chrono::{DateTime, Utc};
use outage_core::domain::{Heartbeat, Location, LocationId, LocationPatch, NewLocation, Route};
use outage_core::keys::KeyHash;
use outage_core::store::{LocationRecord, PruneStats, RuntimeSnapshot, StoreError};
use outage_core::store_support::{duration_ms, micros, not_found};

use crate::sql::{
    PRUNE_BEATS_SQL, PRUNE_LOCATIONS_PER_STEP, PRUNE_OUTBOX_SQL, PRUNE_SLICE_END_SQL, RECORD_SQL,
    RECORDS_SQL,
};
use crate::{
    ALIVE_KEY, BeatRow, Dialect, LOCATIONS_VERSION_KEY, LocRow, RecordRow, migrate_error,
    name_conflict, newest_per_location,
};

const CREATE_LOCATION_SQL: &str = "INSERT INTO locations (name, key_hash, timeout_ms, chat_id, \
     routes, enabled, created_at, updated_at) VALUES ($1, $2, $3, $4, $6, TRUE, $5, $5) RETURNING id";

const META_SQL: &str = "SELECT value FROM meta WHERE key = $1";

/// Each setting is changed only when its flag is set (a patch may set a value to NULL).
const UPDATE_LOCATION_SQL: &str = concat!(
    "UPDATE locations SET ",
    "name = CASE WHEN $2 THEN $3 ELSE name END, ",
    "timeout_ms = CASE WHEN $4 THEN $5 ELSE timeout_ms END, ",
    "chat_id = CASE WHEN $6 THEN $7 ELSE chat_id END, ",
    "enabled = CASE WHEN $8 THEN $9 ELSE enabled END, ",
    "paused_until = CASE WHEN $10 THEN $11 ELSE paused_until END, ",
    "updated_at = $12, ",
    "routes = CASE WHEN $13 THEN $14 ELSE routes END ",
    "WHERE id = $1 ",
    "RETURNING id, name, timeout_ms, chat_id, routes, enabled, paused_until, created_at, updated_at"
);

/// The `locations.routes` column: a JSON array of route strings.
fn routes_json(routes: &[Route]) -> String {
    let strings: Vec<String> = routes.iter().map(Route::to_string).collect();
    serde_json::Value::from(strings).to_string()
}

const SET_KEY_HASH_SQL: &str = "UPDATE locations SET key_hash = $1 WHERE id = $2";

/// Outbox rows carry no foreign key (see the migrations); everything else cascades.
const DELETE_OUTBOX_OF_LOCATION_SQL: &str = "DELETE FROM outbox WHERE location_id = $1";

const DELETE_LOCATION_SQL: &str = "DELETE FROM locations WHERE id = $1";

shared_impl! {
    /// [`StatusStore::migrate`](outage_core::StatusStore::migrate).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let s = self.0;
        s.migrator()
            .run(s.writer())
            .await
            .map_err(|e| migrate_error::<S::Dialect>(e, s.shown(), s.e()))
    }

    /// [`StatusStore::ping`](outage_core::StatusStore::ping): `SELECT 1`.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let s = self.0;
        let (one,): (i32,) = sqlx::query_as("SELECT 1")
            .fetch_one(s.reader())
            .await
            .map_err(s.e())?;
        if one == 1 {
            Ok(())
        } else {
            Err(StoreError::Other("SELECT 1 did not return 1".into()))
        }
    }

    /// [`StatusStore::record_heartbeats`](outage_core::StatusStore::record_heartbeats): one
    /// write transaction; each location's runtime state is written once, from its newest beat.
    pub async fn record_heartbeats(
        &self,
        beats: &[Heartbeat],
        alive_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let s = self.0;
        let newest = newest_per_location(beats);
        // Raw beats in index order (stable, so beats of one instant keep their arrival order):
        // neighbouring inserts touch neighbouring index pages.
        let mut raw: Vec<&Heartbeat> = beats.iter().collect();
        raw.sort_by_key(|b| (b.location_id, b.received_at));
        let mut tx = s.begin_write().await?;
        s.write_beats(&mut tx, newest, raw).await?;
        sqlx::query(S::Dialect::MARK_ALIVE_SQL)
            .bind(ALIVE_KEY)
            .bind(micros(alive_at))
            .execute(&mut *tx)
            .await
            .map_err(s.e())?;
        tx.commit().await.map_err(s.e())?;
        s.after_large_write();
        Ok(())
    }

    /// [`StatusStore::create_location`](outage_core::StatusStore::create_location).
    pub async fn create_location(
        &self,
        new: &NewLocation,
        key_hash: KeyHash,
        now: DateTime<Utc>,
    ) -> Result<Location, StoreError> {
        let s = self.0;
        let timeout_ms = duration_ms(new.timeout)?;
        let now = micros(now);
        let (id,): (i64,) = sqlx::query_as(CREATE_LOCATION_SQL)
            .bind(new.name.as_str())
            .bind(key_hash.to_hex())
            .bind(timeout_ms)
            .bind(new.chat_id.as_deref())
            .bind(now)
            .bind(routes_json(&new.routes))
            .fetch_one(s.writer())
            .await
            .map_err(|e| name_conflict(s.err(e), &new.name))?;
        // Return what was stored (times at the stored precision).
        LocRow::<S::Dialect> {
            id,
            name: new.name.clone(),
            timeout_ms,
            chat_id: new.chat_id.clone(),
            routes: routes_json(&new.routes),
            enabled: true,
            paused_until: None,
            created_at: now,
            updated_at: now,
            dialect: PhantomData,
        }
        .into_location()
    }

    /// [`StatusStore::list_locations`](outage_core::StatusStore::list_locations).
    pub async fn list_locations(&self) -> Result<Vec<LocationRecord>, StoreError> {
        let s = self.0;
        let rows: Vec<RecordRow<S::Dialect>> = sqlx::query_as(RECORDS_SQL)
            .fetch_all(s.reader())
            .await
            .map_err(|e| s.err(e))?;
        rows.into_iter().map(RecordRow::into_record).collect()
    }

    /// [`StatusStore::locations_version`](outage_core::StatusStore::locations_version).
    pub async fn locations_version(&self) -> Result<i64, StoreError> {
        let s = self.0;
        let version: Option<(i64,)> = sqlx::query_as(META_SQL)
            .bind(LOCATIONS_VERSION_KEY)
            .fetch_optional(s.reader())
            .await
            .map_err(|e| s.err(e))?;
        version
            .map(|(v,)| v)
            .ok_or_else(|| S::Dialect::corrupt("meta.locations_version is missing".into()))
    }

    /// [`StatusStore::get_location`](outage_core::StatusStore::get_location).
    pub async fn get_location(&self, id: LocationId) -> Result<Option<LocationRecord>, StoreError> {
        let s = self.0;
        let row: Option<RecordRow<S::Dialect>> = sqlx::query_as(RECORD_SQL)
            .bind(id.0)
            .fetch_optional(s.reader())
            .await
            .map_err(|e| s.err(e))?;
        row.map(RecordRow::into_record).transpose()
    }

    /// [`StatusStore::update_location`](outage_core::StatusStore::update_location).
    pub async fn update_location(
        &self,
        id: LocationId,
        patch: &LocationPatch,
        now: DateTime<Utc>,
    ) -> Result<Location, StoreError> {
        let s = self.0;
        let timeout_ms = patch.timeout.map(duration_ms).transpose()?;
        let row: Option<LocRow<S::Dialect>> = sqlx::query_as(UPDATE_LOCATION_SQL)
            .bind(id.0)
            .bind(patch.name.is_some())
            .bind(patch.name.as_deref())
            .bind(timeout_ms.is_some())
            .bind(timeout_ms)
            .bind(patch.chat_id.is_some())
            .bind(patch.chat_id.clone().flatten())
            .bind(patch.enabled.is_some())
            .bind(patch.enabled)
            .bind(patch.paused_until.is_some())
            .bind(patch.paused_until.flatten().map(micros))
            .bind(micros(now))
            .bind(patch.routes.is_some())
            .bind(patch.routes.as_deref().map(routes_json))
            .fetch_optional(s.writer())
            .await
            .map_err(|e| name_conflict(s.err(e), patch.name.as_deref().unwrap_or_default()))?;
        match row {
            Some(r) => r.into_location(),
            None => Err(not_found(format!("location {id}"))),
        }
    }

    /// [`StatusStore::set_key_hash`](outage_core::StatusStore::set_key_hash).
    pub async fn set_key_hash(&self, id: LocationId, key_hash: KeyHash) -> Result<(), StoreError> {
        let s = self.0;
        let done = sqlx::query(SET_KEY_HASH_SQL)
            .bind(key_hash.to_hex())
            .bind(id.0)
            .execute(s.writer())
            .await
            .map_err(|e| s.err(e))?;
        if S::rows_affected(&done) == 0 {
            return Err(not_found(format!("location {id}")));
        }
        Ok(())
    }

    /// [`StatusStore::delete_location`](outage_core::StatusStore::delete_location): with its
    /// outbox rows, in one transaction.
    pub async fn delete_location(&self, id: LocationId) -> Result<bool, StoreError> {
        let s = self.0;
        let mut tx = s.begin_write().await?;
        sqlx::query(DELETE_OUTBOX_OF_LOCATION_SQL)
            .bind(id.0)
            .execute(&mut *tx)
            .await
            .map_err(|e| s.err(e))?;
        let done = sqlx::query(DELETE_LOCATION_SQL)
            .bind(id.0)
            .execute(&mut *tx)
            .await
            .map_err(|e| s.err(e))?;
        tx.commit().await.map_err(|e| s.err(e))?;
        Ok(S::rows_affected(&done) > 0)
    }

    /// [`StatusStore::load_runtime`](outage_core::StatusStore::load_runtime): the liveness
    /// mark and the locations from one snapshot.
    pub async fn load_runtime(&self) -> Result<RuntimeSnapshot, StoreError> {
        let s = self.0;
        let mut tx = s.begin_read().await?;
        let rows: Vec<RecordRow<S::Dialect>> = sqlx::query_as(RECORDS_SQL)
            .fetch_all(&mut *tx)
            .await
            .map_err(|e| s.err(e))?;
        let alive: Option<(i64,)> = sqlx::query_as(META_SQL)
            .bind(ALIVE_KEY)
            .fetch_optional(&mut *tx)
            .await
            .map_err(|e| s.err(e))?;
        tx.commit().await.map_err(|e| s.err(e))?;
        Ok(RuntimeSnapshot {
            locations: rows
                .into_iter()
                .map(RecordRow::into_record)
                .collect::<Result<_, _>>()?,
            monitor_alive_at: alive
                .map(|(v,)| S::Dialect::time(v, "meta.monitor_alive_at"))
                .transpose()?,
        })
    }

    /// [`StatusStore::recent_heartbeats`](outage_core::StatusStore::recent_heartbeats).
    pub async fn recent_heartbeats(
        &self,
        id: LocationId,
        limit: u32,
    ) -> Result<Vec<Heartbeat>, StoreError> {
        let s = self.0;
        let rows: Vec<BeatRow<S::Dialect>> = sqlx::query_as(S::Dialect::RECENT_BEATS_SQL)
            .bind(id.0)
            .bind(i64::from(limit))
            .fetch_all(s.reader())
            .await
            .map_err(|e| s.err(e))?;
        rows.into_iter().map(BeatRow::into_heartbeat).collect()
    }

    /// [`StatusStore::prune`](outage_core::StatusStore::prune): raw beats a slice of
    /// locations per statement through the (location, time) index, each statement its own
    /// transaction, so heartbeat batches go on in between; then finished outbox rows.
    pub async fn prune(
        &self,
        beats_before: DateTime<Utc>,
        outbox_before: DateTime<Utc>,
    ) -> Result<PruneStats, StoreError> {
        let s = self.0;
        let mut stats = PruneStats::default();
        let mut after = i64::MIN;
        loop {
            let upto: Option<(i64,)> = sqlx::query_as(PRUNE_SLICE_END_SQL)
                .bind(after)
                .bind(PRUNE_LOCATIONS_PER_STEP - 1)
                .fetch_optional(s.reader())
                .await
                .map_err(s.e())?;
            let done = sqlx::query(PRUNE_BEATS_SQL)
                .bind(after)
                .bind(upto.map_or(i64::MAX, |(id,)| id))
                .bind(micros(beats_before))
                .execute(s.writer())
                .await
                .map_err(s.e())?;
            stats.heartbeats += S::rows_affected(&done);
            match upto {
                Some((id,)) => after = id,
                None => break,
            }
        }
        let done = sqlx::query(PRUNE_OUTBOX_SQL)
            .bind(micros(outbox_before))
            .execute(s.writer())
            .await
            .map_err(s.e())?;
        stats.outbox = S::rows_affected(&done);
        s.after_large_write();
        Ok(stats)
    }
}
