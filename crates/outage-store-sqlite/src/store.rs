//! [`SqliteStore`]: every [`StatusStore`] method over SQLite, with sqlx runtime queries.
//!
//! Connections: one **writer** connection (a pool of one) takes every write, so writes of this
//! process never wait on each other inside SQLite; a pool of **reader** connections serves
//! queries concurrently with it (WAL mode). Multi-statement writes run in `BEGIN IMMEDIATE`
//! transactions, so a second process writing the same file (the CLI next to a running server)
//! waits on `busy_timeout` instead of failing on a read-to-write lock upgrade. WAL checkpoints
//! (copying the WAL back into the main file, with its fsyncs) run on a background connection
//! of their own after every heartbeat batch, so they never hold up the writer; the writer only
//! checkpoints by itself if the WAL passes 64 MiB.
//!
//! Storage conventions (see `migrations/sqlite/0001_initial.sql`): times are INTEGER
//! microseconds since the Unix epoch (UTC), durations INTEGER milliseconds, device counters the
//! 64 bits of the `u64` as an INTEGER, alerts JSON text.

use std::collections::HashMap;
use std::marker::PhantomData;
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use outage_core::domain::{
    ApiToken, ApiTokenId, DiagramMessage, EventId, Heartbeat, IntervalKind, Location, LocationId,
    LocationPatch, MessageRef, NewLocation, PowerEvent, Role, Session, StateInterval, User, UserId,
};
use outage_core::keys::KeyHash;
use outage_core::store::{
    EventChange, EventFilter, LocationRecord, NotifierOutboxStats, OutboxId, OutboxItem,
    OutboxStats, PruneStats, RuntimeSnapshot, StatusStore, StoreError, Transition,
};
use outage_core::store_support::{NewEvent, duration_ms, micros, new_event, not_found, u64_to_db};
use outage_store_sql::{
    BeatRow, Dialect, EventRow, IntervalRow, LocRow, OutboxRow, RecordRow, Shared, SqlStore,
    name_conflict,
};
use sqlx::migrate::{MigrateError, Migrator};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use sqlx::{Connection, Sqlite, Transaction};
use tokio::sync::{Notify, watch};

use crate::config::{SqliteConfig, Target};

/// The columns of a location record plus its open event (the newest event without an end).
macro_rules! record_select {
    () => {
        "SELECT l.id, l.name, l.key_hash, l.timeout_ms, l.chat_id, l.enabled, l.paused_until, \
         l.created_at, l.updated_at, l.status, l.last_seen, l.last_boot_id, l.last_uptime_s, \
         l.last_seq, l.last_fw, l.last_rssi, \
         e.id AS ev_id, e.started_at AS ev_started_at, e.detected_at AS ev_detected_at, \
         e.cause AS ev_cause \
         FROM locations l LEFT JOIN events e ON e.id = \
           (SELECT MAX(o.id) FROM events o WHERE o.location_id = l.id AND o.ended_at IS NULL)"
    };
}

/// The schema migrations, embedded at compile time.
static MIGRATOR: Migrator = sqlx::migrate!("../../migrations/sqlite");

/// The newest schema version this build knows (the last migration's number).
pub fn schema_version() -> i64 {
    MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0)
}

/// Key of the monitor's liveness mark in the `meta` table.
const ALIVE_KEY: &str = "monitor_alive_at";

/// Key of the location settings' version in the `meta` table, bumped by triggers on
/// `locations` (see the `locations_version` migration).
const LOCATIONS_VERSION_KEY: &str = "locations_version";

/// Rows per multi-row statement when recording heartbeats (7 parameters each).
const BEAT_CHUNK: usize = 128;

/// Page cache of the writer connection: `-N` is N KiB (16 MiB; the SQLite default is 2 MiB).
/// It was 64 MiB; 16 MiB bounds RSS at 100 000 locations with the same throughput (BENCHMARKS.md).
const WRITER_CACHE_SIZE: &str = "-16384";

/// WAL pages after which the writer checkpoints by itself (64 MiB of 4 KiB pages): a fallback
/// for when the background checkpointer falls behind.
const WRITER_AUTOCHECKPOINT_PAGES: &str = "16384";

/// Bytes the WAL file is trimmed to when it restarts (64 MiB).
const WAL_SIZE_LIMIT: &str = "67108864";

/// Locations per retention delete, so heartbeat writes interleave with a long prune.
const PRUNE_LOCATIONS_PER_STEP: i64 = 1000;

// The queries that run often or over big tables, named so a test can check their plans.

/// Pending queue heads come from the partial index of pending rows only, so delivered rows kept
/// until retention cost nothing here.
const CLAIM_SQL: &str = concat!(
    "SELECT o.id, o.notifier, o.chat, o.alert, o.attempts, o.created_at FROM ",
    "(SELECT MIN(id) AS head FROM outbox WHERE status = 'pending' GROUP BY notifier, chat) h ",
    "JOIN outbox o ON o.id = h.head ",
    "WHERE o.next_attempt_at <= ? ORDER BY o.id LIMIT ?"
);

const CLAIM_QUEUE_SQL: &str = concat!(
    "SELECT id, notifier, chat, alert, attempts, created_at, next_attempt_at FROM outbox ",
    "WHERE status = 'pending' AND notifier = ? AND chat = ? ORDER BY id LIMIT ?"
);

const NEXT_DUE_SQL: &str = concat!(
    "SELECT MIN(o.next_attempt_at) FROM ",
    "(SELECT MIN(id) AS head FROM outbox WHERE status = 'pending' GROUP BY notifier, chat) h ",
    "JOIN outbox o ON o.id = h.head"
);

const RECENT_BEATS_SQL: &str = concat!(
    "SELECT location_id, received_at, boot_id, uptime_s, seq, fw, rssi FROM heartbeats ",
    "WHERE location_id = ? ORDER BY received_at DESC, rowid DESC LIMIT ?"
);

const PRUNE_BEATS_SQL: &str = concat!(
    "DELETE FROM heartbeats WHERE location_id IN ",
    "(SELECT id FROM locations WHERE id > ? AND id <= ?) AND received_at < ?"
);

const PRUNE_OUTBOX_SQL: &str = "DELETE FROM outbox WHERE status <> 'pending' AND finished_at < ?";

const INTERVALS_SQL: &str = concat!(
    "SELECT location_id, kind, start_at, end_at FROM intervals ",
    "WHERE location_id = ? AND start_at < ? AND (end_at IS NULL OR end_at > ?) ",
    "ORDER BY start_at"
);

// Two fixed statements for events rather than `?1 IS NULL OR location_id = ?1`, so the location
// filter uses its index.
const EVENTS_OF_LOCATION_SQL: &str = concat!(
    "SELECT id, location_id, started_at, detected_at, ended_at, cause FROM events ",
    "WHERE location_id = ?1 ",
    "AND (?2 IS NULL OR COALESCE(started_at, detected_at) < ?2) ",
    "AND (?3 IS NULL OR ended_at IS NULL OR ended_at >= ?3) ",
    "ORDER BY id DESC LIMIT ?4"
);

const EVENTS_SQL: &str = concat!(
    "SELECT id, location_id, started_at, detected_at, ended_at, cause FROM events ",
    "WHERE ?1 IS NULL ",
    "AND (?2 IS NULL OR COALESCE(started_at, detected_at) < ?2) ",
    "AND (?3 IS NULL OR ended_at IS NULL OR ended_at >= ?3) ",
    "ORDER BY id DESC LIMIT ?4"
);

const RECORDS_SQL: &str = concat!(record_select!(), " ORDER BY l.id");

const RECORD_SQL: &str = concat!(record_select!(), " WHERE l.id = ?");

/// The SQLite [`StatusStore`]. Cheap to share behind an `Arc`; [`SqliteStore::close`] it for a
/// clean shutdown (it checkpoints the WAL and runs `PRAGMA optimize`).
pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
    target: Target,
    busy_timeout: Duration,
    /// Background WAL checkpoints (file databases only).
    checkpointer: Option<Checkpointer>,
}

/// Runs WAL checkpoints on a connection of its own, so their copying and fsyncs never hold up
/// the writer (a heartbeat batch over 100 000 locations leaves tens of MiB in the WAL).
struct Checkpointer {
    /// Nudged after large writes.
    wake: Arc<Notify>,
    /// Sent (or dropped with the store) to stop the task.
    stop: watch::Sender<bool>,
    task: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Checkpointer {
    /// How often the WAL is checkpointed when nothing nudges the task.
    const PERIOD: Duration = Duration::from_secs(5);

    fn spawn(options: SqliteConnectOptions, target: Target) -> Self {
        let wake = Arc::new(Notify::new());
        let (stop, mut stopped) = watch::channel(false);
        let nudged = wake.clone();
        let task = tokio::spawn(async move {
            let mut conn: Option<SqliteConnection> = None;
            loop {
                tokio::select! {
                    _ = stopped.changed() => break,
                    _ = nudged.notified() => {}
                    _ = tokio::time::sleep(Self::PERIOD) => {}
                }
                if conn.is_none() {
                    conn = SqliteConnection::connect_with(&options).await.ok();
                }
                let Some(c) = conn.as_mut() else { continue };
                // PASSIVE: copies what it can without waiting for, or blocking, anyone.
                if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                    .execute(&mut *c)
                    .await
                {
                    tracing::debug!(database = %target, error = %e, "WAL checkpoint failed; will retry");
                    conn = None;
                }
            }
            if let Some(c) = conn {
                let _ = c.close().await;
            }
        });
        Self {
            wake,
            stop,
            task: std::sync::Mutex::new(Some(task)),
        }
    }

    async fn shut_down(&self) {
        let _ = self.stop.send(true);
        let task = match self.task.lock() {
            Ok(mut t) => t.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("target", &self.target)
            .field("busy_timeout", &self.busy_timeout)
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (creating the file if missing) the database; does not migrate.
    ///
    /// A file whose directory does not exist, a file that cannot be opened, or a database
    /// locked by another process for longer than `busy_timeout` is
    /// [`StoreError::Unavailable`] naming the path.
    pub async fn open(config: &SqliteConfig) -> Result<Self, StoreError> {
        // Waiting for the pooled writer is bounded by busy_timeout too, but never below 1 s:
        // a large heartbeat batch may hold it for a moment.
        let acquire = config.busy_timeout.max(Duration::from_secs(1));
        match &config.target {
            Target::Memory => {
                // Every connection to `:memory:` is its own database: use exactly one, forever.
                // The special file name, not `in_memory(true)`: that flag would make the file
                // `VACUUM INTO` writes an in-memory database too, and the backup empty.
                let opts = SqliteConnectOptions::new()
                    .filename(":memory:")
                    .create_if_missing(true)
                    .foreign_keys(true)
                    .busy_timeout(config.busy_timeout)
                    .statement_cache_capacity(256);
                let pool = SqlitePoolOptions::new()
                    .max_connections(1)
                    .min_connections(1)
                    .acquire_timeout(acquire)
                    .idle_timeout(None)
                    .max_lifetime(None)
                    .connect_with(opts)
                    .await
                    .map_err(|e| map_err(&config.target, config.busy_timeout, e))?;
                Ok(Self {
                    writer: pool.clone(),
                    reader: pool,
                    target: Target::Memory,
                    busy_timeout: config.busy_timeout,
                    checkpointer: None,
                })
            }
            Target::File(path) => {
                // Absolute now: pooled connections open later, after a possible chdir.
                let path = std::path::absolute(path).map_err(|e| {
                    StoreError::Unavailable(format!(
                        "cannot resolve SQLite database path `{}`: {e}",
                        path.display()
                    ))
                })?;
                let target = Target::File(path.clone());
                if let Some(dir) = path.parent()
                    && !dir.is_dir()
                {
                    return Err(StoreError::Unavailable(format!(
                        "cannot open SQLite database `{}`: directory `{}` does not exist \
                         (create it, or point [store] url at an existing directory)",
                        path.display(),
                        dir.display()
                    )));
                }
                let base = SqliteConnectOptions::new()
                    .filename(&path)
                    .create_if_missing(true)
                    .foreign_keys(true)
                    .synchronous(SqliteSynchronous::Normal)
                    .busy_timeout(config.busy_timeout)
                    .statement_cache_capacity(256);
                let writer = SqlitePoolOptions::new()
                    .max_connections(1)
                    .min_connections(1)
                    .acquire_timeout(acquire)
                    .idle_timeout(None)
                    .max_lifetime(None)
                    .connect_with(
                        base.clone()
                            .journal_mode(SqliteJournalMode::Wal)
                            // A heartbeat batch over many locations dirties pages all over
                            // `locations` and the heartbeat index: keep them in memory (the
                            // cache only grows as far as it is used).
                            .pragma("cache_size", WRITER_CACHE_SIZE)
                            // Checkpoints run in the background (`Checkpointer`); the writer
                            // only checkpoints itself if that falls far behind, and trims the
                            // WAL file back when it restarts it.
                            .pragma("wal_autocheckpoint", WRITER_AUTOCHECKPOINT_PAGES)
                            .pragma("journal_size_limit", WAL_SIZE_LIMIT)
                            .optimize_on_close(true, None),
                    )
                    .await
                    .map_err(|e| map_err(&target, config.busy_timeout, e))?;
                // Readers connect on demand; the writer has already switched the file to WAL.
                // Rows cross from SQLite's worker thread in chunks: big ones make listing
                // 100 000 locations at start-up a few hand-overs instead of thousands.
                let reader = SqlitePoolOptions::new()
                    .max_connections(config.read_connections.max(1))
                    .acquire_timeout(acquire)
                    .connect_lazy_with(base.clone().row_buffer_size(1024));
                let checkpointer = Checkpointer::spawn(base.clone(), target.clone());
                Ok(Self {
                    writer,
                    reader,
                    target,
                    busy_timeout: config.busy_timeout,
                    checkpointer: Some(checkpointer),
                })
            }
        }
    }

    /// Opens the database and brings its schema up to date.
    pub async fn open_and_migrate(config: &SqliteConfig) -> Result<Self, StoreError> {
        let store = Self::open(config).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// The database this store uses.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// Closes every connection (checkpointing the WAL). Later calls fail with `Unavailable`.
    pub async fn close(&self) {
        if let Some(c) = &self.checkpointer {
            c.shut_down().await;
        }
        self.reader.close().await;
        self.writer.close().await;
    }

    /// Asks for a WAL checkpoint soon (after a large write).
    fn nudge_checkpoint(&self) {
        if let Some(c) = &self.checkpointer {
            c.wake.notify_one();
        }
    }

    fn err(&self, e: sqlx::Error) -> StoreError {
        map_err(&self.target, self.busy_timeout, e)
    }

    /// `map_err` adapter: `.map_err(self.e())`.
    fn e(&self) -> impl Fn(sqlx::Error) -> StoreError + '_ {
        move |e| self.err(e)
    }

    /// A write transaction that holds the write lock from its first statement.
    async fn begin_write(&self) -> Result<Transaction<'static, Sqlite>, StoreError> {
        self.writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(self.e())
    }

    async fn fetch_location(&self, id: LocationId) -> Result<Option<LocationRecord>, StoreError> {
        let row: Option<RecordRow<Db>> = sqlx::query_as(RECORD_SQL)
            .bind(id.0)
            .fetch_optional(&self.reader)
            .await
            .map_err(self.e())?;
        row.map(RecordRow::into_record).transpose()
    }

    /// Applies one transition inside the caller's transaction.
    async fn apply_in(
        &self,
        conn: &mut SqliteConnection,
        t: &Transition,
    ) -> Result<Option<EventId>, StoreError> {
        let loc = t.location_id.0;
        let exists: Option<i64> = sqlx::query_scalar("SELECT id FROM locations WHERE id = ?")
            .bind(loc)
            .fetch_optional(&mut *conn)
            .await
            .map_err(self.e())?;
        if exists.is_none() {
            return Err(not_found(format!("location {}", t.location_id)));
        }

        if let EventChange::Close {
            event_id,
            ended_at,
            cause,
        } = &t.event
        {
            let done = sqlx::query(
                "UPDATE events SET ended_at = ?, cause = ? WHERE id = ? AND location_id = ?",
            )
            .bind(micros(*ended_at))
            .bind(cause.as_str())
            .bind(event_id.0)
            .bind(loc)
            .execute(&mut *conn)
            .await
            .map_err(self.e())?;
            if done.rows_affected() == 0 {
                // The caller drops the transaction: nothing of this transition is kept.
                return Err(not_found(format!(
                    "event {event_id} of location {}",
                    t.location_id
                )));
            }
        }
        let new_event = match new_event(&t.event) {
            Some(NewEvent {
                started_at,
                detected_at,
                ended_at,
                cause,
            }) => {
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO events (location_id, started_at, detected_at, ended_at, cause) \
                     VALUES (?, ?, ?, ?, ?) RETURNING id",
                )
                .bind(loc)
                .bind(started_at.map(micros))
                .bind(micros(detected_at))
                .bind(ended_at.map(micros))
                .bind(cause.as_str())
                .fetch_one(&mut *conn)
                .await
                .map_err(self.e())?;
                Some(EventId(id))
            }
            None => None,
        };

        if let Some(sw) = &t.interval {
            let open: Option<(i64, i64)> = sqlx::query_as(
                "SELECT id, start_at FROM intervals WHERE location_id = ? AND end_at IS NULL",
            )
            .bind(loc)
            .fetch_optional(&mut *conn)
            .await
            .map_err(self.e())?;
            let mut at = micros(sw.at);
            if let Some((open_id, start)) = open {
                // Never end an interval before it began: clamp, and drop it if that leaves it
                // empty.
                at = at.max(start);
                if at == start {
                    sqlx::query("DELETE FROM intervals WHERE id = ?")
                        .bind(open_id)
                        .execute(&mut *conn)
                        .await
                        .map_err(self.e())?;
                } else {
                    sqlx::query(
                        "UPDATE intervals SET end_at = ?, kind = COALESCE(?, kind) WHERE id = ?",
                    )
                    .bind(at)
                    .bind(sw.relabel_closed_as.map(IntervalKind::as_str))
                    .bind(open_id)
                    .execute(&mut *conn)
                    .await
                    .map_err(self.e())?;
                }
            }
            sqlx::query("INSERT INTO intervals (location_id, kind, start_at) VALUES (?, ?, ?)")
                .bind(loc)
                .bind(sw.kind.as_str())
                .bind(at)
                .execute(&mut *conn)
                .await
                .map_err(self.e())?;
        }

        sqlx::query("UPDATE locations SET status = ? WHERE id = ?")
            .bind(t.status.as_str())
            .bind(loc)
            .execute(&mut *conn)
            .await
            .map_err(self.e())?;

        for n in &t.notifications {
            let mut alert = n.alert.clone();
            if alert.event_id.is_none() {
                alert.event_id = new_event;
            }
            let json = serde_json::to_string(&alert)
                .map_err(|e| StoreError::Invalid(format!("cannot encode an alert: {e}")))?;
            sqlx::query(
                "INSERT INTO outbox (location_id, event_id, notifier, chat, alert, \
                 next_attempt_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(alert.location_id.0)
            .bind(alert.event_id.map(|e| e.0))
            .bind(n.notifier.as_str())
            .bind(n.chat.as_str())
            .bind(json)
            .bind(micros(alert.at))
            .bind(micros(alert.at))
            .execute(&mut *conn)
            .await
            .map_err(self.e())?;
        }
        Ok(new_event)
    }
}

impl SqlStore for SqliteStore {
    type Db = Sqlite;
    type Dialect = Db;

    fn reader(&self) -> &sqlx::Pool<Sqlite> {
        &self.reader
    }

    fn writer(&self) -> &sqlx::Pool<Sqlite> {
        &self.writer
    }

    async fn begin_write(&self) -> Result<Transaction<'static, Sqlite>, StoreError> {
        self.begin_write().await
    }

    fn err(&self, e: sqlx::Error) -> StoreError {
        SqliteStore::err(self, e)
    }

    fn rows_affected(done: &sqlx::sqlite::SqliteQueryResult) -> u64 {
        done.rows_affected()
    }
}

#[async_trait]
impl StatusStore for SqliteStore {
    async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR.run(&self.writer).await.map_err(|e| match e {
            MigrateError::Execute(e) => self.err(e),
            MigrateError::ExecuteMigration(e, v) => match self.err(e) {
                StoreError::Other(msg) => {
                    StoreError::Other(format!("migration {v} of `{}` failed: {msg}", self.target))
                }
                other => other,
            },
            other => StoreError::Other(format!(
                "cannot migrate SQLite database `{}`: {other} (was it written by a newer \
                 outage-monitor?)",
                self.target
            )),
        })
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let one: i64 = sqlx::query_scalar("SELECT 1")
            .fetch_one(&self.reader)
            .await
            .map_err(self.e())?;
        if one == 1 {
            Ok(())
        } else {
            Err(StoreError::Other("SELECT 1 did not return 1".into()))
        }
    }

    async fn create_location(
        &self,
        new: &NewLocation,
        key_hash: KeyHash,
        now: DateTime<Utc>,
    ) -> Result<Location, StoreError> {
        let timeout_ms = duration_ms(new.timeout)?;
        let now = micros(now);
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO locations (name, key_hash, timeout_ms, chat_id, enabled, created_at, \
             updated_at) VALUES (?, ?, ?, ?, 1, ?, ?) RETURNING id",
        )
        .bind(new.name.as_str())
        .bind(key_hash.to_hex())
        .bind(timeout_ms)
        .bind(new.chat_id.as_deref())
        .bind(now)
        .bind(now)
        .fetch_one(&self.writer)
        .await
        .map_err(|e| name_conflict(self.err(e), &new.name))?;
        // Return what was stored (times at the stored precision).
        LocRow::<Db> {
            id,
            name: new.name.clone(),
            timeout_ms,
            chat_id: new.chat_id.clone(),
            enabled: true,
            paused_until: None,
            created_at: now,
            updated_at: now,
            dialect: PhantomData,
        }
        .into_location()
    }

    async fn list_locations(&self) -> Result<Vec<LocationRecord>, StoreError> {
        let rows: Vec<RecordRow<Db>> = sqlx::query_as(RECORDS_SQL)
            .fetch_all(&self.reader)
            .await
            .map_err(self.e())?;
        rows.into_iter().map(RecordRow::into_record).collect()
    }

    async fn locations_version(&self) -> Result<i64, StoreError> {
        let version: Option<i64> = sqlx::query_scalar("SELECT value FROM meta WHERE key = ?")
            .bind(LOCATIONS_VERSION_KEY)
            .fetch_optional(&self.reader)
            .await
            .map_err(self.e())?;
        version.ok_or_else(|| Db::corrupt("meta.locations_version is missing".into()))
    }

    async fn get_location(&self, id: LocationId) -> Result<Option<LocationRecord>, StoreError> {
        self.fetch_location(id).await
    }

    async fn update_location(
        &self,
        id: LocationId,
        patch: &LocationPatch,
        now: DateTime<Utc>,
    ) -> Result<Location, StoreError> {
        let timeout_ms = patch.timeout.map(duration_ms).transpose()?;
        let row: Option<LocRow<Db>> = sqlx::query_as(
            "UPDATE locations SET \
               name = CASE WHEN ?2 THEN ?3 ELSE name END, \
               timeout_ms = CASE WHEN ?4 THEN ?5 ELSE timeout_ms END, \
               chat_id = CASE WHEN ?6 THEN ?7 ELSE chat_id END, \
               enabled = CASE WHEN ?8 THEN ?9 ELSE enabled END, \
               paused_until = CASE WHEN ?10 THEN ?11 ELSE paused_until END, \
               updated_at = ?12 \
             WHERE id = ?1 \
             RETURNING id, name, timeout_ms, chat_id, enabled, paused_until, created_at, \
               updated_at",
        )
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
        .fetch_optional(&self.writer)
        .await
        .map_err(|e| name_conflict(self.err(e), patch.name.as_deref().unwrap_or_default()))?;
        match row {
            Some(r) => r.into_location(),
            None => Err(not_found(format!("location {id}"))),
        }
    }

    async fn set_key_hash(&self, id: LocationId, key_hash: KeyHash) -> Result<(), StoreError> {
        let done = sqlx::query("UPDATE locations SET key_hash = ? WHERE id = ?")
            .bind(key_hash.to_hex())
            .bind(id.0)
            .execute(&self.writer)
            .await
            .map_err(self.e())?;
        if done.rows_affected() == 0 {
            return Err(not_found(format!("location {id}")));
        }
        Ok(())
    }

    async fn delete_location(&self, id: LocationId) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        // Outbox rows carry no foreign key (see the migration); everything else cascades.
        sqlx::query("DELETE FROM outbox WHERE location_id = ?")
            .bind(id.0)
            .execute(&mut *tx)
            .await
            .map_err(self.e())?;
        let done = sqlx::query("DELETE FROM locations WHERE id = ?")
            .bind(id.0)
            .execute(&mut *tx)
            .await
            .map_err(self.e())?;
        tx.commit().await.map_err(self.e())?;
        Ok(done.rows_affected() > 0)
    }

    async fn load_runtime(&self) -> Result<RuntimeSnapshot, StoreError> {
        // One read transaction: the liveness mark and the locations come from one snapshot.
        let mut tx = self.reader.begin().await.map_err(self.e())?;
        let rows: Vec<RecordRow<Db>> = sqlx::query_as(RECORDS_SQL)
            .fetch_all(&mut *tx)
            .await
            .map_err(self.e())?;
        let alive: Option<i64> = sqlx::query_scalar("SELECT value FROM meta WHERE key = ?")
            .bind(ALIVE_KEY)
            .fetch_optional(&mut *tx)
            .await
            .map_err(self.e())?;
        tx.commit().await.map_err(self.e())?;
        Ok(RuntimeSnapshot {
            locations: rows
                .into_iter()
                .map(RecordRow::into_record)
                .collect::<Result<_, _>>()?,
            monitor_alive_at: alive
                .map(|v| Db::time(v, "meta.monitor_alive_at"))
                .transpose()?,
        })
    }

    async fn record_heartbeats(
        &self,
        beats: &[Heartbeat],
        alive_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        // The newest beat per location (the later one wins a tie), written once per batch.
        let mut newest: HashMap<LocationId, &Heartbeat> = HashMap::new();
        for b in beats {
            let slot = newest.entry(b.location_id).or_insert(b);
            if b.received_at >= slot.received_at {
                *slot = b;
            }
        }
        let mut newest: Vec<&Heartbeat> = newest.into_values().collect();
        newest.sort_unstable_by_key(|b| b.location_id);
        // Raw beats in index order (stable, so beats of one instant keep their arrival order):
        // neighbouring inserts touch neighbouring index pages.
        let mut raw: Vec<&Heartbeat> = beats.iter().collect();
        raw.sort_by_key(|b| (b.location_id, b.received_at));

        let mut tx = self.begin_write().await?;
        for (start, size) in chunks(newest.len()) {
            let mut q = sqlx::query(beat_sql(BeatSql::UpdateRuntime, size));
            for b in &newest[start..start + size] {
                q = bind_beat(q, b);
            }
            q.execute(&mut *tx).await.map_err(self.e())?;
        }
        for (start, size) in chunks(raw.len()) {
            let mut q = sqlx::query(beat_sql(BeatSql::Insert, size));
            for b in &raw[start..start + size] {
                q = bind_beat(q, b);
            }
            q.execute(&mut *tx).await.map_err(self.e())?;
        }
        sqlx::query(
            "INSERT INTO meta (key, value) VALUES (?1, ?2) \
             ON CONFLICT (key) DO UPDATE SET value = max(value, excluded.value)",
        )
        .bind(ALIVE_KEY)
        .bind(micros(alive_at))
        .execute(&mut *tx)
        .await
        .map_err(self.e())?;
        tx.commit().await.map_err(self.e())?;
        self.nudge_checkpoint();
        Ok(())
    }

    async fn recent_heartbeats(
        &self,
        id: LocationId,
        limit: u32,
    ) -> Result<Vec<Heartbeat>, StoreError> {
        let rows: Vec<BeatRow<Db>> = sqlx::query_as(RECENT_BEATS_SQL)
            .bind(id.0)
            .bind(i64::from(limit))
            .fetch_all(&self.reader)
            .await
            .map_err(self.e())?;
        rows.into_iter().map(BeatRow::into_heartbeat).collect()
    }

    async fn apply_transition(&self, t: &Transition) -> Result<Option<EventId>, StoreError> {
        let mut tx = self.begin_write().await?;
        let opened = self.apply_in(&mut tx, t).await?;
        tx.commit().await.map_err(self.e())?;
        Ok(opened)
    }

    async fn apply_transitions(&self, ts: &[Transition]) -> Result<(), StoreError> {
        if ts.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin_write().await?;
        for t in ts {
            // An error drops `tx`: the whole batch is rolled back.
            self.apply_in(&mut tx, t).await?;
        }
        tx.commit().await.map_err(self.e())
    }

    async fn list_events(&self, f: &EventFilter) -> Result<Vec<PowerEvent>, StoreError> {
        let sql = if f.location_id.is_some() {
            EVENTS_OF_LOCATION_SQL
        } else {
            EVENTS_SQL
        };
        let rows: Vec<EventRow<Db>> = sqlx::query_as(sql)
            .bind(f.location_id.map(|l| l.0))
            .bind(f.to.map(micros))
            .bind(f.from.map(micros))
            .bind(f.limit.map_or(-1, i64::from))
            .fetch_all(&self.reader)
            .await
            .map_err(self.e())?;
        rows.into_iter().map(EventRow::into_event).collect()
    }

    async fn get_event(&self, id: EventId) -> Result<Option<PowerEvent>, StoreError> {
        let row: Option<EventRow<Db>> = sqlx::query_as(
            "SELECT id, location_id, started_at, detected_at, ended_at, cause FROM events \
             WHERE id = ?",
        )
        .bind(id.0)
        .fetch_optional(&self.reader)
        .await
        .map_err(self.e())?;
        row.map(EventRow::into_event).transpose()
    }

    async fn list_intervals(
        &self,
        id: LocationId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<StateInterval>, StoreError> {
        let rows: Vec<IntervalRow<Db>> = sqlx::query_as(INTERVALS_SQL)
            .bind(id.0)
            .bind(micros(to))
            .bind(micros(from))
            .fetch_all(&self.reader)
            .await
            .map_err(self.e())?;
        rows.into_iter().map(IntervalRow::into_interval).collect()
    }

    async fn claim_notifications(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<OutboxItem>, StoreError> {
        let rows: Vec<OutboxRow<Db>> = sqlx::query_as(CLAIM_SQL)
            .bind(micros(now))
            .bind(i64::from(limit))
            .fetch_all(&self.reader)
            .await
            .map_err(self.e())?;
        rows.into_iter().map(OutboxRow::into_item).collect()
    }

    async fn claim_queue(
        &self,
        notifier: &str,
        chat: &str,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<OutboxItem>, StoreError> {
        let rows: Vec<(i64, String, String, String, i64, i64, i64)> =
            sqlx::query_as(CLAIM_QUEUE_SQL)
                .bind(notifier)
                .bind(chat)
                .bind(i64::from(limit))
                .fetch_all(&self.reader)
                .await
                .map_err(self.e())?;
        let now = micros(now);
        rows.into_iter()
            .take_while(|r| r.6 <= now)
            .map(|(id, notifier, chat, alert, attempts, created_at, _)| {
                OutboxRow::<Db> {
                    id,
                    notifier,
                    chat,
                    alert,
                    attempts,
                    created_at,
                    dialect: PhantomData,
                }
                .into_item()
            })
            .collect()
    }

    async fn complete_notification(
        &self,
        id: OutboxId,
        delivered: Option<&MessageRef>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let event: Option<Option<i64>> = sqlx::query_scalar(
            "UPDATE outbox SET status = 'delivered', finished_at = ? WHERE id = ? \
             RETURNING event_id",
        )
        .bind(micros(now))
        .bind(id.0)
        .fetch_optional(&mut *tx)
        .await
        .map_err(self.e())?;
        let Some(event) = event else {
            return Err(not_found(format!("notification {}", id.0)));
        };
        if let (Some(event), Some(msg)) = (event, delivered) {
            sqlx::query(
                "INSERT INTO event_messages (event_id, notifier, chat, message_id) \
                 SELECT ?1, ?2, ?3, ?4 WHERE EXISTS (SELECT 1 FROM events WHERE id = ?1) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(event)
            .bind(msg.notifier.as_str())
            .bind(msg.chat.as_str())
            .bind(msg.message_id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(self.e())?;
        }
        tx.commit().await.map_err(self.e())
    }

    async fn retry_notification(
        &self,
        id: OutboxId,
        next_attempt_at: DateTime<Utc>,
        error: &str,
    ) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?, last_error = ? \
             WHERE id = ?",
        )
        .bind(micros(next_attempt_at))
        .bind(error)
        .bind(id.0)
        .execute(&self.writer)
        .await
        .map_err(self.e())?;
        if done.rows_affected() == 0 {
            return Err(not_found(format!("notification {}", id.0)));
        }
        Ok(())
    }

    async fn fail_notification(&self, id: OutboxId, error: &str) -> Result<(), StoreError> {
        // No clock is passed: the row counts as finished when it was last due.
        let done = sqlx::query(
            "UPDATE outbox SET attempts = attempts + 1, status = 'failed', \
             finished_at = next_attempt_at, last_error = ? WHERE id = ?",
        )
        .bind(error)
        .bind(id.0)
        .execute(&self.writer)
        .await
        .map_err(self.e())?;
        if done.rows_affected() == 0 {
            return Err(not_found(format!("notification {}", id.0)));
        }
        Ok(())
    }

    async fn next_notification_due(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let due: Option<i64> = sqlx::query_scalar(NEXT_DUE_SQL)
            .fetch_one(&self.reader)
            .await
            .map_err(self.e())?;
        due.map(|v| Db::time(v, "outbox.next_attempt_at"))
            .transpose()
    }

    async fn outbox_stats(&self) -> Result<OutboxStats, StoreError> {
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT status, COUNT(*) FROM outbox GROUP BY status")
                .fetch_all(&self.reader)
                .await
                .map_err(self.e())?;
        let mut s = OutboxStats::default();
        for (status, n) in rows {
            let n = u64::try_from(n).map_err(|_| Db::corrupt(format!("outbox count {n}")))?;
            match status.as_str() {
                "pending" => s.pending = n,
                "delivered" => s.delivered = n,
                "failed" => s.failed = n,
                other => return Err(Db::corrupt(format!("outbox.status `{other}`"))),
            }
        }
        Ok(s)
    }

    async fn outbox_by_notifier(&self) -> Result<Vec<NotifierOutboxStats>, StoreError> {
        Shared(self).outbox_by_notifier().await
    }

    async fn message_refs(&self, event_id: EventId) -> Result<Vec<MessageRef>, StoreError> {
        let rows: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT notifier, chat, message_id FROM event_messages WHERE event_id = ? \
             ORDER BY id",
        )
        .bind(event_id.0)
        .fetch_all(&self.reader)
        .await
        .map_err(self.e())?;
        Ok(rows
            .into_iter()
            .map(|(notifier, chat, message_id)| MessageRef {
                notifier,
                chat,
                message_id,
            })
            .collect())
    }

    async fn prune(
        &self,
        beats_before: DateTime<Utc>,
        outbox_before: DateTime<Utc>,
    ) -> Result<PruneStats, StoreError> {
        let mut stats = PruneStats::default();
        // Heartbeats go location by location through the (location_id, received_at) index, a
        // slice of locations per write transaction, so heartbeat batches interleave.
        let mut after = i64::MIN;
        loop {
            let upto: Option<i64> = sqlx::query_scalar(
                "SELECT id FROM locations WHERE id > ? ORDER BY id LIMIT 1 OFFSET ?",
            )
            .bind(after)
            .bind(PRUNE_LOCATIONS_PER_STEP - 1)
            .fetch_optional(&self.reader)
            .await
            .map_err(self.e())?;
            let done = sqlx::query(PRUNE_BEATS_SQL)
                .bind(after)
                .bind(upto.unwrap_or(i64::MAX))
                .bind(micros(beats_before))
                .execute(&self.writer)
                .await
                .map_err(self.e())?;
            stats.heartbeats += done.rows_affected();
            match upto {
                Some(id) => after = id,
                None => break,
            }
        }
        let done = sqlx::query(PRUNE_OUTBOX_SQL)
            .bind(micros(outbox_before))
            .execute(&self.writer)
            .await
            .map_err(self.e())?;
        stats.outbox = done.rows_affected();
        self.nudge_checkpoint();
        Ok(stats)
    }

    async fn diagram_messages(&self) -> Result<Vec<DiagramMessage>, StoreError> {
        Shared(self).diagram_messages().await
    }

    async fn save_diagram_message(&self, m: &DiagramMessage) -> Result<(), StoreError> {
        // One statement: the location check and the upsert cannot be torn apart by a delete.
        let done = sqlx::query(
            "INSERT INTO diagram_messages \
               (location_id, notifier, chat, message_id, posted_at, updated_at) \
             SELECT ?1, ?2, ?3, ?4, ?5, ?6 WHERE EXISTS (SELECT 1 FROM locations WHERE id = ?1) \
             ON CONFLICT (location_id, notifier, chat) DO UPDATE SET \
               message_id = excluded.message_id, posted_at = excluded.posted_at, \
               updated_at = excluded.updated_at",
        )
        .bind(m.location_id.0)
        .bind(m.notifier.as_str())
        .bind(m.chat.as_str())
        .bind(m.message_id.as_str())
        .bind(micros(m.posted_at))
        .bind(micros(m.updated_at))
        .execute(&self.writer)
        .await
        .map_err(self.e())?;
        if done.rows_affected() == 0 {
            return Err(not_found(format!("location {}", m.location_id)));
        }
        Ok(())
    }

    async fn delete_diagram_message(
        &self,
        location: LocationId,
        notifier: &str,
        chat: &str,
    ) -> Result<bool, StoreError> {
        Shared(self)
            .delete_diagram_message(location, notifier, chat)
            .await
    }

    async fn create_api_token(
        &self,
        name: &str,
        hash: KeyHash,
        at: DateTime<Utc>,
    ) -> Result<ApiToken, StoreError> {
        Shared(self).create_api_token(name, hash, at).await
    }

    async fn list_api_tokens(&self) -> Result<Vec<ApiToken>, StoreError> {
        Shared(self).list_api_tokens().await
    }

    async fn find_api_token(&self, hash: &KeyHash) -> Result<Option<ApiToken>, StoreError> {
        Shared(self).find_api_token(hash).await
    }

    async fn revoke_api_token(&self, id: ApiTokenId) -> Result<bool, StoreError> {
        Shared(self).revoke_api_token(id).await
    }

    async fn create_user(
        &self,
        name: &str,
        role: Role,
        password_hash: &str,
        at: DateTime<Utc>,
    ) -> Result<User, StoreError> {
        Shared(self)
            .create_user(name, role, password_hash, at)
            .await
    }

    async fn list_users(&self) -> Result<Vec<User>, StoreError> {
        Shared(self).list_users().await
    }

    async fn find_user(&self, name: &str) -> Result<Option<User>, StoreError> {
        Shared(self).find_user(name).await
    }

    async fn update_user(
        &self,
        id: UserId,
        password_hash: Option<&str>,
        role: Option<Role>,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        Shared(self).update_user(id, password_hash, role, at).await
    }

    async fn delete_user(&self, id: UserId) -> Result<bool, StoreError> {
        Shared(self).delete_user(id).await
    }

    async fn create_session(&self, session: &Session) -> Result<(), StoreError> {
        Shared(self).create_session(session).await
    }

    async fn find_session(
        &self,
        token_hash: &KeyHash,
        now: DateTime<Utc>,
    ) -> Result<Option<(Session, User)>, StoreError> {
        Shared(self).find_session(token_hash, now).await
    }

    async fn delete_session(&self, token_hash: &KeyHash) -> Result<bool, StoreError> {
        Shared(self).delete_session(token_hash).await
    }

    async fn prune_sessions(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        Shared(self).prune_sessions(now).await
    }

    async fn backup(&self, path: &Path) -> Result<(), StoreError> {
        let shown = path.display();
        if path.exists() {
            return Err(StoreError::Invalid(format!(
                "backup target `{shown}` already exists; choose a new file"
            )));
        }
        let dest = std::path::absolute(path)
            .map_err(|e| StoreError::Invalid(format!("backup target `{shown}`: {e}")))?;
        if let Some(dir) = dest.parent()
            && !dir.is_dir()
        {
            return Err(StoreError::Invalid(format!(
                "cannot back up to `{shown}`: directory `{}` does not exist",
                dir.display()
            )));
        }
        let Some(dest) = dest.to_str() else {
            return Err(StoreError::Invalid(format!(
                "backup target `{shown}` is not valid UTF-8"
            )));
        };
        // VACUUM INTO reads one consistent snapshot; in WAL mode writers go on meanwhile.
        sqlx::query("VACUUM INTO ?")
            .bind(dest)
            .execute(&self.reader)
            .await
            .map_err(|e| match self.err(e) {
                StoreError::Other(msg) | StoreError::Unavailable(msg) => StoreError::Other(
                    format!("backup of `{}` into `{shown}` failed: {msg}", self.target),
                ),
                other => other,
            })?;
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Heartbeat batch statements

#[derive(Clone, Copy)]
enum BeatSql {
    /// Moves each location's runtime state to its newest beat, unless it already saw a newer one.
    UpdateRuntime,
    /// Inserts raw beats of locations that still exist.
    Insert,
}

/// The `(start, size)` slices of `len` rows: full chunks, then the rest in powers of two, so
/// only a handful of distinct statements are ever prepared (and stay cached).
fn chunks(len: usize) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut size = BEAT_CHUNK;
    while start < len {
        while size > len - start {
            size /= 2;
        }
        out.push((start, size));
        start += size;
    }
    out
}

/// The statement for `size` rows (`size` a power of two up to [`BEAT_CHUNK`]).
fn beat_sql(kind: BeatSql, size: usize) -> &'static str {
    static SQL: OnceLock<Vec<[String; 2]>> = OnceLock::new();
    let all = SQL.get_or_init(|| {
        let mut v = Vec::new();
        let mut n = 1;
        while n <= BEAT_CHUNK {
            let values = vec!["(?, ?, ?, ?, ?, ?, ?)"; n].join(", ");
            v.push([
                format!(
                    "UPDATE locations SET last_seen = v.column2, last_boot_id = v.column3, \
                     last_uptime_s = v.column4, last_seq = v.column5, last_fw = v.column6, \
                     last_rssi = v.column7 \
                     FROM (VALUES {values}) AS v \
                     WHERE locations.id = v.column1 \
                       AND (locations.last_seen IS NULL OR locations.last_seen <= v.column2)"
                ),
                format!(
                    "INSERT INTO heartbeats (location_id, received_at, boot_id, uptime_s, seq, \
                     fw, rssi) \
                     SELECT v.column1, v.column2, v.column3, v.column4, v.column5, v.column6, \
                       v.column7 \
                     FROM (VALUES {values}) AS v \
                     WHERE v.column1 IN (SELECT id FROM locations)"
                ),
            ]);
            n *= 2;
        }
        v
    });
    let index = size.trailing_zeros() as usize;
    let pair = &all[index.min(all.len() - 1)];
    match kind {
        BeatSql::UpdateRuntime => &pair[0],
        BeatSql::Insert => &pair[1],
    }
}

type SqliteQuery<'q> = sqlx::query::Query<'q, Sqlite, sqlx::sqlite::SqliteArguments>;

fn bind_beat<'q>(q: SqliteQuery<'q>, b: &'q Heartbeat) -> SqliteQuery<'q> {
    q.bind(b.location_id.0)
        .bind(micros(b.received_at))
        .bind(b.facts.boot_id.as_deref())
        .bind(b.facts.uptime_s.map(u64_to_db))
        .bind(b.facts.seq.map(u64_to_db))
        .bind(b.facts.fw.as_deref())
        .bind(b.facts.rssi)
}

// ---------------------------------------------------------------------------------------------
// Rows and conversions. Nothing read from the database is trusted: a value out of range is an
// error naming the column, never a panic.

/// How SQLite rows read ([`Dialect`]): integers come back as `i64`.
pub enum Db {}

impl Dialect for Db {
    const NAME: &'static str = "SQLite";
    const TOKEN_HASH_CONFLICT: &'static str = "api_tokens.hash";
    type Rssi = i64;

    fn rssi(v: i64, column: &str) -> Result<i32, StoreError> {
        i32::try_from(v).map_err(|_| Self::corrupt(format!("{column} {v}")))
    }
}

/// Turns a sqlx error into a [`StoreError`] that names the database.
pub(crate) fn map_err(target: &Target, busy_timeout: Duration, e: sqlx::Error) -> StoreError {
    // SQLite primary result codes (the low byte of the extended code).
    const PERM: i32 = 3;
    const BUSY: i32 = 5;
    const LOCKED: i32 = 6;
    const READONLY: i32 = 8;
    const IOERR: i32 = 10;
    const CORRUPT: i32 = 11;
    const FULL: i32 = 13;
    const CANTOPEN: i32 = 14;
    const NOTADB: i32 = 26;
    match e {
        sqlx::Error::Database(db) => {
            let code = db
                .code()
                .and_then(|c| c.parse::<i32>().ok())
                .unwrap_or_default();
            match code & 0xff {
                BUSY | LOCKED => StoreError::Unavailable(format!(
                    "SQLite database `{target}` is locked by another connection or process \
                     (waited {busy_timeout:?}): {}",
                    db.message()
                )),
                PERM | READONLY | IOERR | CORRUPT | FULL | CANTOPEN | NOTADB => {
                    StoreError::Unavailable(format!("SQLite database `{target}`: {}", db.message()))
                }
                _ if db.is_unique_violation() => StoreError::Conflict(db.message().to_string()),
                _ => StoreError::Other(format!("SQLite database `{target}`: {}", db.message())),
            }
        }
        sqlx::Error::PoolTimedOut => StoreError::Unavailable(format!(
            "timed out waiting for a connection to SQLite database `{target}`"
        )),
        sqlx::Error::PoolClosed => {
            StoreError::Unavailable(format!("SQLite database `{target}` is closed"))
        }
        sqlx::Error::Io(e) => StoreError::Unavailable(format!("SQLite database `{target}`: {e}")),
        other => StoreError::Other(format!("SQLite database `{target}`: {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreadable_values_name_the_database() {
        let e = Db::time(i64::MAX, "events.ended_at");
        assert!(matches!(e, Err(StoreError::Other(m)) if m.contains("SQLite database")));
    }

    #[test]
    fn beat_batches_use_full_chunks_then_powers_of_two() {
        assert_eq!(chunks(0), vec![]);
        assert_eq!(chunks(1), vec![(0, 1)]);
        assert_eq!(chunks(3), vec![(0, 2), (2, 1)]);
        assert_eq!(
            chunks(BEAT_CHUNK * 2 + 5),
            vec![(0, 128), (128, 128), (256, 4), (260, 1)]
        );
        for len in 0..1000 {
            let c = chunks(len);
            assert_eq!(c.iter().map(|(_, n)| n).sum::<usize>(), len);
            assert!(c.windows(2).all(|w| w[0].0 + w[0].1 == w[1].0));
            assert!(
                c.iter()
                    .all(|(_, n)| n.is_power_of_two() && *n <= BEAT_CHUNK)
            );
        }
        for n in [1, 2, 64, 128] {
            let sql = beat_sql(BeatSql::Insert, n);
            assert_eq!(sql.matches('?').count(), 7 * n, "{n} rows of 7 parameters");
            let sql = beat_sql(BeatSql::UpdateRuntime, n);
            assert_eq!(sql.matches('?').count(), 7 * n);
        }
    }

    /// The queries that run often or over big tables walk indexes, never a whole table: a guard
    /// against a schema or query change that would only show with 100 000 locations.
    #[tokio::test]
    async fn hot_queries_use_their_indexes() {
        let store = SqliteStore::open_and_migrate(&SqliteConfig::memory())
            .await
            .unwrap();
        let mut conn = store.writer.acquire().await.unwrap();
        let cases: [(&str, &str, &str); 12] = [
            ("claim", CLAIM_SQL, "outbox_pending_queue"),
            ("next due", NEXT_DUE_SQL, "outbox_pending_queue"),
            ("recent beats", RECENT_BEATS_SQL, "heartbeats_location_time"),
            ("prune beats", PRUNE_BEATS_SQL, "heartbeats_location_time"),
            ("prune outbox", PRUNE_OUTBOX_SQL, "outbox_finished"),
            ("intervals", INTERVALS_SQL, "intervals_location_start"),
            (
                "events of a location",
                EVENTS_OF_LOCATION_SQL,
                "events_location",
            ),
            ("one record", RECORD_SQL, "events_open"),
            ("all records", RECORDS_SQL, "events_open"),
            (
                "runtime update",
                beat_sql(BeatSql::UpdateRuntime, BEAT_CHUNK),
                "PRIMARY KEY",
            ),
            (
                "beat insert",
                beat_sql(BeatSql::Insert, BEAT_CHUNK),
                "locations",
            ),
            (
                "delete outbox of a location",
                "DELETE FROM outbox WHERE location_id = ?",
                "outbox_location",
            ),
        ];
        for (what, sql, index) in cases {
            let plan: Vec<(i64, i64, i64, String)> =
                sqlx::query_as(sqlx::AssertSqlSafe(format!("EXPLAIN QUERY PLAN {sql}")))
                    .fetch_all(&mut *conn)
                    .await
                    .unwrap();
            let lines: Vec<String> = plan.into_iter().map(|r| r.3).collect();
            assert!(
                lines.iter().any(|l| l.contains(index)),
                "{what} should use {index}: {lines:?}"
            );
            // (`h` is the derived table of queue heads: scanning it is the point.)
            for table in ["heartbeats", "outbox", "intervals", "events", "o", "e"] {
                let scan = format!("SCAN {table}");
                let full_scan = lines.iter().any(|l| {
                    l == &scan || (l.starts_with(&format!("{scan} ")) && !l.contains("INDEX"))
                });
                assert!(!full_scan, "{what} scans the whole of {table}: {lines:?}");
            }
        }
    }
}
