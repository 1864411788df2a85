//! [`SqliteStore`]: the [`StatusStore`] over SQLite. Its statements and their Rust are shared
//! with PostgreSQL in `outage-store-sql`; this file holds the connections, the WAL checkpointer,
//! the heartbeat batch statements (multi-row `VALUES`) and the backup.
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

use std::collections::HashSet;
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use outage_core::domain::Heartbeat;
use outage_core::store::{StatusStore, StoreError};
use outage_core::store_support::{micros, u64_to_db};
use outage_store_sql::{SqlStore, sql_status_store};
use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use sqlx::{Connection, Sqlite};
use tokio::sync::{Notify, watch};

use crate::config::{SqliteConfig, Target};

/// The schema migrations, embedded at compile time.
static MIGRATOR: Migrator = sqlx::migrate!("../../migrations/sqlite");

/// The newest schema version this build knows (the last migration's number).
pub fn schema_version() -> i64 {
    MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0)
}

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

    /// The write transaction holds SQLite's one write lock: nothing changes meanwhile.
    async fn lock_locations(
        &self,
        conn: &mut SqliteConnection,
        ids: &[i64],
    ) -> Result<HashSet<i64>, StoreError> {
        let mut found = HashSet::new();
        for &id in ids {
            let exists: Option<i64> = sqlx::query_scalar("SELECT id FROM locations WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut *conn)
                .await
                .map_err(self.e())?;
            found.extend(exists);
        }
        Ok(found)
    }

    async fn write_beats<'a>(
        &'a self,
        conn: &'a mut SqliteConnection,
        newest: Vec<&'a Heartbeat>,
        raw: Vec<&'a Heartbeat>,
    ) -> Result<(), StoreError> {
        // Multi-row statements of a few fixed sizes; the inserts skip deleted locations.
        for (start, size) in chunks(newest.len()) {
            let mut q = sqlx::query(beat_sql(BeatSql::UpdateRuntime, size));
            for b in &newest[start..start + size] {
                q = bind_beat(q, b);
            }
            q.execute(&mut *conn).await.map_err(self.e())?;
        }
        for (start, size) in chunks(raw.len()) {
            let mut q = sqlx::query(beat_sql(BeatSql::Insert, size));
            for b in &raw[start..start + size] {
                q = bind_beat(q, b);
            }
            q.execute(&mut *conn).await.map_err(self.e())?;
        }
        Ok(())
    }

    fn after_large_write(&self) {
        self.nudge_checkpoint();
    }

    fn migrator(&self) -> &'static Migrator {
        &MIGRATOR
    }

    fn shown(&self) -> &dyn std::fmt::Display {
        &self.target
    }

    fn err(&self, e: sqlx::Error) -> StoreError {
        map_err(&self.target, self.busy_timeout, e)
    }

    fn rows_affected(done: &sqlx::sqlite::SqliteQueryResult) -> u64 {
        done.rows_affected()
    }
}

sql_status_store!(SqliteStore {
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
});

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

/// How SQLite rows read and which statements differ: [`outage_store_sql::dialect::Sqlite`].
pub use outage_store_sql::dialect::Sqlite as Db;

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

    use outage_store_sql::Dialect;
    use outage_store_sql::sql::{
        CLAIM_SQL, EVENTS_OF_LOCATION_SQL, INTERVALS_SQL, NEXT_DUE_SQL, PRUNE_BEATS_SQL,
        PRUNE_OUTBOX_SQL, RECORD_SQL, RECORDS_SQL,
    };

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
            (
                "recent beats",
                Db::RECENT_BEATS_SQL,
                "heartbeats_location_time",
            ),
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
