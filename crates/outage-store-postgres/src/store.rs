//! [`PostgresStore`]: every [`StatusStore`] method over PostgreSQL, with sqlx runtime queries.
//!
//! Connections: one pool serves reads and writes (PostgreSQL's MVCC lets them run side by side);
//! multi-statement writes run in transactions at the default `READ COMMITTED` level, and
//! [`StatusStore::load_runtime`] reads in one `REPEATABLE READ` snapshot. A second, dedicated
//! connection holds the leader lock ([`PostgresStore::try_lead`]).
//!
//! Several monitor processes may share one database (book: PostgreSQL, "More than one instance"), so writes that touch many
//! `locations` rows lock them first, in id order (`FOR NO KEY UPDATE`): two heartbeat batches,
//! or a batch and a transition, never deadlock, and a location deleted meanwhile is simply
//! skipped (its beats are ignored, as with every store) instead of failing the batch on a
//! foreign key.
//!
//! Storage conventions (see `migrations/postgres/0001_initial.sql`, the same as SQLite's):
//! times are BIGINT microseconds since the Unix epoch (UTC), durations BIGINT milliseconds,
//! device counters the 64 bits of the `u64` as a BIGINT, alerts JSONB.

use std::collections::{HashMap, HashSet};
use std::marker::PhantomData;
use std::path::Path;
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
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::{Connection, Postgres, Transaction};

use crate::config::PostgresConfig;

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
static MIGRATOR: Migrator = sqlx::migrate!("../../migrations/postgres");

/// Key of the session-level advisory lock that elects the leader ([`PostgresStore::try_lead`]):
/// the ASCII bytes of `outage-m`. Advisory locks are per database, so monitors on different
/// databases of one server never compete. In `pg_locks` it shows as `locktype = 'advisory'`,
/// `classid = 1869968481` (`0x6f757461`), `objid = 1734684013` (`0x67652d6d`), `objsubid = 1`.
pub const LEADER_LOCK_KEY: i64 = 0x6f75_7461_6765_2d6d;

/// Key of the monitor's liveness mark in the `meta` table.
const ALIVE_KEY: &str = "monitor_alive_at";

/// Key of the location settings' version in the `meta` table, bumped by triggers on
/// `locations` (see the `locations_version` migration).
const LOCATIONS_VERSION_KEY: &str = "locations_version";

/// Locations per retention delete statement, so each walks the (location, time) index.
const PRUNE_LOCATIONS_PER_STEP: i64 = 1000;

const CLAIM_SQL: &str = concat!(
    "SELECT o.id, o.notifier, o.chat, o.alert::text AS alert, o.attempts, o.created_at FROM ",
    "(SELECT MIN(id) AS head FROM outbox WHERE status = 'pending' GROUP BY notifier, chat) h ",
    "JOIN outbox o ON o.id = h.head ",
    "WHERE o.next_attempt_at <= $1 ORDER BY o.id LIMIT $2"
);

const CLAIM_QUEUE_SQL: &str = concat!(
    "SELECT id, notifier, chat, alert::text AS alert, attempts, created_at, next_attempt_at ",
    "FROM outbox WHERE status = 'pending' AND notifier = $1 AND chat = $2 ORDER BY id LIMIT $3"
);

const NEXT_DUE_SQL: &str = concat!(
    "SELECT MIN(o.next_attempt_at) FROM ",
    "(SELECT MIN(id) AS head FROM outbox WHERE status = 'pending' GROUP BY notifier, chat) h ",
    "JOIN outbox o ON o.id = h.head"
);

const RECENT_BEATS_SQL: &str = concat!(
    "SELECT location_id, received_at, boot_id, uptime_s, seq, fw, rssi FROM heartbeats ",
    "WHERE location_id = $1 ORDER BY received_at DESC, id DESC LIMIT $2"
);

/// Locks the existing locations among `$1` in id order and returns their ids.
const LOCK_LOCATIONS_SQL: &str =
    "SELECT id FROM locations WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE";

const UPDATE_RUNTIME_SQL: &str = concat!(
    "UPDATE locations l SET last_seen = v.received_at, last_boot_id = v.boot_id, ",
    "last_uptime_s = v.uptime_s, last_seq = v.seq, last_fw = v.fw, last_rssi = v.rssi ",
    "FROM UNNEST($1::bigint[], $2::bigint[], $3::text[], $4::bigint[], $5::bigint[], ",
    "$6::text[], $7::integer[]) AS v(location_id, received_at, boot_id, uptime_s, seq, fw, rssi) ",
    "WHERE l.id = v.location_id AND (l.last_seen IS NULL OR l.last_seen <= v.received_at)"
);

/// Raw beats in the order given (`ORDINALITY`), so beats of one instant keep arrival order.
const INSERT_BEATS_SQL: &str = concat!(
    "INSERT INTO heartbeats (location_id, received_at, boot_id, uptime_s, seq, fw, rssi) ",
    "SELECT v.location_id, v.received_at, v.boot_id, v.uptime_s, v.seq, v.fw, v.rssi ",
    "FROM UNNEST($1::bigint[], $2::bigint[], $3::text[], $4::bigint[], $5::bigint[], ",
    "$6::text[], $7::integer[]) WITH ORDINALITY ",
    "AS v(location_id, received_at, boot_id, uptime_s, seq, fw, rssi, n) ORDER BY v.n"
);

const PRUNE_BEATS_SQL: &str = concat!(
    "DELETE FROM heartbeats WHERE location_id IN ",
    "(SELECT id FROM locations WHERE id > $1 AND id <= $2) AND received_at < $3"
);

const PRUNE_OUTBOX_SQL: &str = "DELETE FROM outbox WHERE status <> 'pending' AND finished_at < $1";

const INTERVALS_SQL: &str = concat!(
    "SELECT location_id, kind, start_at, end_at FROM intervals ",
    "WHERE location_id = $1 AND start_at < $2 AND (end_at IS NULL OR end_at > $3) ",
    "ORDER BY start_at"
);

const EVENTS_OF_LOCATION_SQL: &str = concat!(
    "SELECT id, location_id, started_at, detected_at, ended_at, cause FROM events ",
    "WHERE location_id = $1 ",
    "AND ($2::bigint IS NULL OR COALESCE(started_at, detected_at) < $2) ",
    "AND ($3::bigint IS NULL OR ended_at IS NULL OR ended_at >= $3) ",
    "ORDER BY id DESC LIMIT $4"
);

const EVENTS_SQL: &str = concat!(
    "SELECT id, location_id, started_at, detected_at, ended_at, cause FROM events ",
    "WHERE $1::bigint IS NULL ",
    "AND ($2::bigint IS NULL OR COALESCE(started_at, detected_at) < $2) ",
    "AND ($3::bigint IS NULL OR ended_at IS NULL OR ended_at >= $3) ",
    "ORDER BY id DESC LIMIT $4"
);

const RECORDS_SQL: &str = concat!(record_select!(), " ORDER BY l.id");

const RECORD_SQL: &str = concat!(record_select!(), " WHERE l.id = $1");

/// The PostgreSQL [`StatusStore`]. Cheap to share behind an `Arc`; [`PostgresStore::close`] it
/// for a clean shutdown (dropping it also releases the leader lock, once PostgreSQL notices the
/// connection is gone).
pub struct PostgresStore {
    pool: PgPool,
    /// Where and how to connect (holds the password: never printed).
    config: PostgresConfig,
    /// Options for the leader connection.
    connect: PgConnectOptions,
    /// The URL with its password redacted, for messages.
    shown: String,
    busy_timeout: Duration,
    leader: tokio::sync::Mutex<Leader>,
}

/// The dedicated connection that holds the leader lock, and whether it holds it.
#[derive(Default)]
struct Leader {
    conn: Option<PgConnection>,
    leading: bool,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("url", &self.shown)
            .field("busy_timeout", &self.busy_timeout)
            .finish_non_exhaustive()
    }
}

impl PostgresStore {
    /// Connects to the database (one connection is made at once, so a wrong URL, password or
    /// an unreachable server fails here); does not migrate.
    ///
    /// Every connection failure is [`StoreError::Unavailable`] naming the URL with its password
    /// redacted.
    pub async fn open(config: &PostgresConfig) -> Result<Self, StoreError> {
        let connect = config.connect_options();
        let shown = config.shown_url().to_string();
        // One plain connection first: a refused connection, a wrong password or a missing
        // database fails at once with its real reason (the pool would retry until its timeout
        // and then only say that it timed out).
        let timeout = connect_timeout(config.busy_timeout);
        match tokio::time::timeout(timeout, PgConnection::connect_with(&connect)).await {
            Err(_) => return Err(cannot_connect(&shown, config, sqlx::Error::PoolTimedOut)),
            Ok(Err(e)) => return Err(cannot_connect(&shown, config, e)),
            Ok(Ok(conn)) => {
                let _ = conn.close().await;
            }
        }
        let pool = PgPoolOptions::new()
            .max_connections(config.max_connections.max(1))
            .min_connections(1)
            .acquire_timeout(timeout)
            .connect_with(connect.clone())
            .await
            .map_err(|e| cannot_connect(&shown, config, e))?;
        Ok(Self {
            pool,
            config: config.clone(),
            connect,
            shown,
            busy_timeout: config.busy_timeout,
            leader: tokio::sync::Mutex::new(Leader::default()),
        })
    }

    /// Connects and brings the schema up to date.
    pub async fn open_and_migrate(config: &PostgresConfig) -> Result<Self, StoreError> {
        let store = Self::open(config).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// The database URL with its password redacted.
    pub fn shown_url(&self) -> &str {
        &self.shown
    }

    /// Closes the leader connection (releasing the lock at once) and every pooled connection.
    /// Later calls fail with `Unavailable`.
    pub async fn close(&self) {
        let conn = {
            let mut leader = self.leader.lock().await;
            leader.leading = false;
            leader.conn.take()
        };
        if let Some(conn) = conn {
            let _ = conn.close().await;
        }
        self.pool.close().await;
    }

    /// Tries to become (or checks that this store still is) the leader: the one monitor that
    /// runs detection, delivery and scheduling when several share the database (book: PostgreSQL, "More than one instance").
    ///
    /// Leadership is the session-level advisory lock [`LEADER_LOCK_KEY`], taken with
    /// `pg_try_advisory_lock` on a dedicated connection that this store keeps open: it never
    /// waits, and `Ok(false)` means another session holds it. The lock lasts as long as that
    /// connection, so a leader that dies (or whose store is dropped or closed) frees it for the
    /// next caller. While leading, each call checks the connection still answers; if it does
    /// not, leadership is lost, and the call reconnects and tries again.
    ///
    /// `Err` (e.g. `Unavailable` while the database is unreachable) means "not the leader".
    /// Call it periodically (every few seconds) and stop leader-only work when it stops
    /// returning `Ok(true)`.
    pub async fn try_lead(&self) -> Result<bool, StoreError> {
        let mut leader = self.leader.lock().await;
        if leader.leading {
            if let Some(conn) = leader.conn.as_mut()
                && ping(conn).await.is_ok()
            {
                return Ok(true);
            }
            tracing::warn!(database = %self.shown, "lost the leader connection; leadership lost");
            *leader = Leader::default();
        }
        if leader.conn.is_none() {
            let conn = tokio::time::timeout(
                connect_timeout(self.busy_timeout),
                PgConnection::connect_with(&self.connect),
            )
            .await
            .map_err(|_| {
                StoreError::Unavailable(format!(
                    "cannot connect to PostgreSQL at `{}`: timed out",
                    self.shown
                ))
            })?
            .map_err(|e| {
                StoreError::Unavailable(format!(
                    "cannot connect to PostgreSQL at `{}`: {}",
                    self.shown,
                    self.config.scrub_message(&e.to_string())
                ))
            })?;
            leader.conn = Some(conn);
        }
        let Some(conn) = leader.conn.as_mut() else {
            return Ok(false);
        };
        let got: Result<bool, sqlx::Error> = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(LEADER_LOCK_KEY)
            .fetch_one(&mut *conn)
            .await;
        match got {
            Ok(got) => {
                leader.leading = got;
                Ok(got)
            }
            Err(e) => {
                *leader = Leader::default();
                Err(self.err(e))
            }
        }
    }

    /// Gives up leadership at once (another instance's next [`Self::try_lead`] wins); the
    /// dedicated connection stays open. A no-op when not leading.
    pub async fn resign(&self) -> Result<(), StoreError> {
        let mut leader = self.leader.lock().await;
        if !leader.leading {
            return Ok(());
        }
        leader.leading = false;
        let Some(conn) = leader.conn.as_mut() else {
            return Ok(());
        };
        let released: Result<bool, sqlx::Error> =
            sqlx::query_scalar("SELECT pg_advisory_unlock($1)")
                .bind(LEADER_LOCK_KEY)
                .fetch_one(&mut *conn)
                .await;
        if let Err(e) = released {
            // The session is unusable: dropping it ends it, and the lock with it.
            leader.conn = None;
            return Err(self.err(e));
        }
        Ok(())
    }

    fn err(&self, e: sqlx::Error) -> StoreError {
        map_err(&self.shown, self.busy_timeout, e)
    }

    /// `map_err` adapter: `.map_err(self.e())`.
    fn e(&self) -> impl Fn(sqlx::Error) -> StoreError + '_ {
        move |e| self.err(e)
    }

    async fn begin(&self) -> Result<Transaction<'static, Postgres>, StoreError> {
        self.pool.begin().await.map_err(self.e())
    }

    async fn fetch_location(&self, id: LocationId) -> Result<Option<LocationRecord>, StoreError> {
        let row: Option<RecordRow<Db>> = sqlx::query_as(RECORD_SQL)
            .bind(id.0)
            .fetch_optional(&self.pool)
            .await
            .map_err(self.e())?;
        row.map(RecordRow::into_record).transpose()
    }

    /// Locks the rows of the existing locations among `ids` (in id order, so concurrent
    /// writers never deadlock) and returns their ids.
    async fn lock_locations(
        &self,
        conn: &mut PgConnection,
        ids: &[i64],
    ) -> Result<HashSet<i64>, StoreError> {
        let mut ids = ids.to_vec();
        ids.sort_unstable();
        ids.dedup();
        let found: Vec<i64> = sqlx::query_scalar(LOCK_LOCATIONS_SQL)
            .bind(ids)
            .fetch_all(&mut *conn)
            .await
            .map_err(self.e())?;
        Ok(found.into_iter().collect())
    }

    /// Applies one transition inside the caller's transaction, whose locks on the location
    /// rows are already held.
    async fn apply_in(
        &self,
        conn: &mut PgConnection,
        t: &Transition,
        existing: &HashSet<i64>,
    ) -> Result<Option<EventId>, StoreError> {
        let loc = t.location_id.0;
        if !existing.contains(&loc) {
            return Err(not_found(format!("location {}", t.location_id)));
        }

        if let EventChange::Close {
            event_id,
            ended_at,
            cause,
        } = &t.event
        {
            let done = sqlx::query(
                "UPDATE events SET ended_at = $1, cause = $2 \
                 WHERE id = $3 AND location_id = $4",
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
                     VALUES ($1, $2, $3, $4, $5) RETURNING id",
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
                "SELECT id, start_at FROM intervals WHERE location_id = $1 AND end_at IS NULL",
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
                    sqlx::query("DELETE FROM intervals WHERE id = $1")
                        .bind(open_id)
                        .execute(&mut *conn)
                        .await
                        .map_err(self.e())?;
                } else {
                    sqlx::query(
                        "UPDATE intervals SET end_at = $1, kind = COALESCE($2, kind) \
                         WHERE id = $3",
                    )
                    .bind(at)
                    .bind(sw.relabel_closed_as.map(IntervalKind::as_str))
                    .bind(open_id)
                    .execute(&mut *conn)
                    .await
                    .map_err(self.e())?;
                }
            }
            sqlx::query("INSERT INTO intervals (location_id, kind, start_at) VALUES ($1, $2, $3)")
                .bind(loc)
                .bind(sw.kind.as_str())
                .bind(at)
                .execute(&mut *conn)
                .await
                .map_err(self.e())?;
        }

        sqlx::query("UPDATE locations SET status = $1 WHERE id = $2")
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
                 next_attempt_at, created_at) VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7)",
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

    /// Applies transitions in one transaction: all of them or none.
    async fn apply_all(&self, ts: &[Transition]) -> Result<Vec<Option<EventId>>, StoreError> {
        let mut tx = self.begin().await?;
        let ids: Vec<i64> = ts.iter().map(|t| t.location_id.0).collect();
        let existing = self.lock_locations(&mut tx, &ids).await?;
        let mut opened = Vec::with_capacity(ts.len());
        for t in ts {
            // An error drops `tx`: the whole batch is rolled back.
            opened.push(self.apply_in(&mut tx, t, &existing).await?);
        }
        tx.commit().await.map_err(self.e())?;
        Ok(opened)
    }
}

impl SqlStore for PostgresStore {
    type Db = Postgres;
    type Dialect = Db;

    fn reader(&self) -> &sqlx::Pool<Postgres> {
        &self.pool
    }

    fn writer(&self) -> &sqlx::Pool<Postgres> {
        &self.pool
    }

    async fn begin_write(&self) -> Result<Transaction<'static, Postgres>, StoreError> {
        self.begin().await
    }

    fn err(&self, e: sqlx::Error) -> StoreError {
        PostgresStore::err(self, e)
    }

    fn rows_affected(done: &sqlx::postgres::PgQueryResult) -> u64 {
        done.rows_affected()
    }
}

#[async_trait]
impl StatusStore for PostgresStore {
    async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR.run(&self.pool).await.map_err(|e| match e {
            MigrateError::Execute(e) => self.err(e),
            MigrateError::ExecuteMigration(e, v) => match self.err(e) {
                StoreError::Other(msg) => StoreError::Other(format!(
                    "migration {v} of PostgreSQL database `{}` failed: {msg}",
                    self.shown
                )),
                other => other,
            },
            other => StoreError::Other(format!(
                "cannot migrate PostgreSQL database `{}`: {other} (was it written by a newer \
                 outage-monitor?)",
                self.shown
            )),
        })
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await.map_err(self.e())?;
        ping(&mut conn).await.map_err(self.e())
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
             updated_at) VALUES ($1, $2, $3, $4, TRUE, $5, $6) RETURNING id",
        )
        .bind(new.name.as_str())
        .bind(key_hash.to_hex())
        .bind(timeout_ms)
        .bind(new.chat_id.as_deref())
        .bind(now)
        .bind(now)
        .fetch_one(&self.pool)
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
            .fetch_all(&self.pool)
            .await
            .map_err(self.e())?;
        rows.into_iter().map(RecordRow::into_record).collect()
    }

    async fn locations_version(&self) -> Result<i64, StoreError> {
        let version: Option<i64> = sqlx::query_scalar("SELECT value FROM meta WHERE key = $1")
            .bind(LOCATIONS_VERSION_KEY)
            .fetch_optional(&self.pool)
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
               name = CASE WHEN $2 THEN $3 ELSE name END, \
               timeout_ms = CASE WHEN $4 THEN $5 ELSE timeout_ms END, \
               chat_id = CASE WHEN $6 THEN $7 ELSE chat_id END, \
               enabled = CASE WHEN $8 THEN $9 ELSE enabled END, \
               paused_until = CASE WHEN $10 THEN $11 ELSE paused_until END, \
               updated_at = $12 \
             WHERE id = $1 \
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
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| name_conflict(self.err(e), patch.name.as_deref().unwrap_or_default()))?;
        match row {
            Some(r) => r.into_location(),
            None => Err(not_found(format!("location {id}"))),
        }
    }

    async fn set_key_hash(&self, id: LocationId, key_hash: KeyHash) -> Result<(), StoreError> {
        let done = sqlx::query("UPDATE locations SET key_hash = $1 WHERE id = $2")
            .bind(key_hash.to_hex())
            .bind(id.0)
            .execute(&self.pool)
            .await
            .map_err(self.e())?;
        if done.rows_affected() == 0 {
            return Err(not_found(format!("location {id}")));
        }
        Ok(())
    }

    async fn delete_location(&self, id: LocationId) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        // Outbox rows carry no foreign key (see the migration); everything else cascades.
        sqlx::query("DELETE FROM outbox WHERE location_id = $1")
            .bind(id.0)
            .execute(&mut *tx)
            .await
            .map_err(self.e())?;
        let done = sqlx::query("DELETE FROM locations WHERE id = $1")
            .bind(id.0)
            .execute(&mut *tx)
            .await
            .map_err(self.e())?;
        tx.commit().await.map_err(self.e())?;
        Ok(done.rows_affected() > 0)
    }

    async fn load_runtime(&self) -> Result<RuntimeSnapshot, StoreError> {
        // One snapshot: the liveness mark and the locations agree.
        let mut tx = self
            .pool
            .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .await
            .map_err(self.e())?;
        let rows: Vec<RecordRow<Db>> = sqlx::query_as(RECORDS_SQL)
            .fetch_all(&mut *tx)
            .await
            .map_err(self.e())?;
        let alive: Option<i64> = sqlx::query_scalar("SELECT value FROM meta WHERE key = $1")
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
        let ids: Vec<i64> = newest.keys().map(|id| id.0).collect();

        let mut tx = self.begin().await?;
        // Locations deleted meanwhile are skipped: their beats are ignored.
        let existing = if ids.is_empty() {
            HashSet::new()
        } else {
            self.lock_locations(&mut tx, &ids).await?
        };
        let mut newest: Vec<&Heartbeat> = newest
            .into_values()
            .filter(|b| existing.contains(&b.location_id.0))
            .collect();
        newest.sort_unstable_by_key(|b| b.location_id);
        // Raw beats in index order (stable, so beats of one instant keep their arrival order).
        let mut raw: Vec<&Heartbeat> = beats
            .iter()
            .filter(|b| existing.contains(&b.location_id.0))
            .collect();
        raw.sort_by_key(|b| (b.location_id, b.received_at));
        if !newest.is_empty() {
            BeatColumns::of(&newest)
                .bind(sqlx::query(UPDATE_RUNTIME_SQL))
                .execute(&mut *tx)
                .await
                .map_err(self.e())?;
            BeatColumns::of(&raw)
                .bind(sqlx::query(INSERT_BEATS_SQL))
                .execute(&mut *tx)
                .await
                .map_err(self.e())?;
        }
        sqlx::query(
            "INSERT INTO meta (key, value) VALUES ($1, $2) \
             ON CONFLICT (key) DO UPDATE SET value = GREATEST(meta.value, excluded.value)",
        )
        .bind(ALIVE_KEY)
        .bind(micros(alive_at))
        .execute(&mut *tx)
        .await
        .map_err(self.e())?;
        tx.commit().await.map_err(self.e())
    }

    async fn recent_heartbeats(
        &self,
        id: LocationId,
        limit: u32,
    ) -> Result<Vec<Heartbeat>, StoreError> {
        let rows: Vec<BeatRow<Db>> = sqlx::query_as(RECENT_BEATS_SQL)
            .bind(id.0)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(self.e())?;
        rows.into_iter().map(BeatRow::into_heartbeat).collect()
    }

    async fn apply_transition(&self, t: &Transition) -> Result<Option<EventId>, StoreError> {
        let opened = self.apply_all(std::slice::from_ref(t)).await?;
        Ok(opened.into_iter().next().flatten())
    }

    async fn apply_transitions(&self, ts: &[Transition]) -> Result<(), StoreError> {
        if ts.is_empty() {
            return Ok(());
        }
        self.apply_all(ts).await.map(|_| ())
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
            // LIMIT NULL: no limit.
            .bind(f.limit.map(i64::from))
            .fetch_all(&self.pool)
            .await
            .map_err(self.e())?;
        rows.into_iter().map(EventRow::into_event).collect()
    }

    async fn get_event(&self, id: EventId) -> Result<Option<PowerEvent>, StoreError> {
        let row: Option<EventRow<Db>> = sqlx::query_as(
            "SELECT id, location_id, started_at, detected_at, ended_at, cause FROM events \
             WHERE id = $1",
        )
        .bind(id.0)
        .fetch_optional(&self.pool)
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
            .fetch_all(&self.pool)
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
            .fetch_all(&self.pool)
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
        // One statement, so one snapshot of the queue; rows from the head on while they are due.
        let rows: Vec<(i64, String, String, String, i64, i64, i64)> =
            sqlx::query_as(CLAIM_QUEUE_SQL)
                .bind(notifier)
                .bind(chat)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
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
        let mut tx = self.begin().await?;
        let event: Option<Option<i64>> = sqlx::query_scalar(
            "UPDATE outbox SET status = 'delivered', finished_at = $1 WHERE id = $2 \
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
            // Keep the event from being deleted until this commits; a deleted event needs no
            // message reference.
            let alive: Option<i64> =
                sqlx::query_scalar("SELECT id FROM events WHERE id = $1 FOR KEY SHARE")
                    .bind(event)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(self.e())?;
            if alive.is_some() {
                sqlx::query(
                    "INSERT INTO event_messages (event_id, notifier, chat, message_id) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                )
                .bind(event)
                .bind(msg.notifier.as_str())
                .bind(msg.chat.as_str())
                .bind(msg.message_id.as_str())
                .execute(&mut *tx)
                .await
                .map_err(self.e())?;
            }
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
            "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = $1, last_error = $2 \
             WHERE id = $3",
        )
        .bind(micros(next_attempt_at))
        .bind(error)
        .bind(id.0)
        .execute(&self.pool)
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
             finished_at = next_attempt_at, last_error = $1 WHERE id = $2",
        )
        .bind(error)
        .bind(id.0)
        .execute(&self.pool)
        .await
        .map_err(self.e())?;
        if done.rows_affected() == 0 {
            return Err(not_found(format!("notification {}", id.0)));
        }
        Ok(())
    }

    async fn next_notification_due(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let due: Option<i64> = sqlx::query_scalar(NEXT_DUE_SQL)
            .fetch_one(&self.pool)
            .await
            .map_err(self.e())?;
        due.map(|v| Db::time(v, "outbox.next_attempt_at"))
            .transpose()
    }

    async fn outbox_stats(&self) -> Result<OutboxStats, StoreError> {
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT status, COUNT(*) FROM outbox GROUP BY status")
                .fetch_all(&self.pool)
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
            "SELECT notifier, chat, message_id FROM event_messages WHERE event_id = $1 \
             ORDER BY id",
        )
        .bind(event_id.0)
        .fetch_all(&self.pool)
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
        // One transaction, all or nothing; PostgreSQL's MVCC keeps heartbeat batches going
        // meanwhile. Heartbeats go a slice of locations per statement, through the
        // (location_id, received_at) index.
        let mut tx = self.begin().await?;
        let mut after = i64::MIN;
        loop {
            let upto: Option<i64> = sqlx::query_scalar(
                "SELECT id FROM locations WHERE id > $1 ORDER BY id LIMIT 1 OFFSET $2",
            )
            .bind(after)
            .bind(PRUNE_LOCATIONS_PER_STEP - 1)
            .fetch_optional(&mut *tx)
            .await
            .map_err(self.e())?;
            let done = sqlx::query(PRUNE_BEATS_SQL)
                .bind(after)
                .bind(upto.unwrap_or(i64::MAX))
                .bind(micros(beats_before))
                .execute(&mut *tx)
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
            .execute(&mut *tx)
            .await
            .map_err(self.e())?;
        stats.outbox = done.rows_affected();
        tx.commit().await.map_err(self.e())?;
        Ok(stats)
    }

    async fn diagram_messages(&self) -> Result<Vec<DiagramMessage>, StoreError> {
        Shared(self).diagram_messages().await
    }

    async fn save_diagram_message(&self, m: &DiagramMessage) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        // The location must exist, and stays until this commits (a delete waits for it).
        let found: Option<i64> =
            sqlx::query_scalar("SELECT id FROM locations WHERE id = $1 FOR KEY SHARE")
                .bind(m.location_id.0)
                .fetch_optional(&mut *tx)
                .await
                .map_err(self.e())?;
        if found.is_none() {
            return Err(not_found(format!("location {}", m.location_id)));
        }
        sqlx::query(
            "INSERT INTO diagram_messages \
               (location_id, notifier, chat, message_id, posted_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6) \
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
        .execute(&mut *tx)
        .await
        .map_err(self.e())?;
        tx.commit().await.map_err(self.e())
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

    async fn backup(&self, _path: &Path) -> Result<(), StoreError> {
        Err(StoreError::Unsupported(BACKUP_UNSUPPORTED))
    }
}

/// What `backup` says: PostgreSQL has its own tools for consistent copies.
pub const BACKUP_UNSUPPORTED: &str = "`backup` of a PostgreSQL database (use PostgreSQL's own \
    tools instead: `pg_dump --format=custom --file=outage.dump <database>` while the monitor \
    runs, `pg_restore` to bring it back)";

/// `SELECT 1` on one connection.
async fn ping(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    let one: i32 = sqlx::query_scalar("SELECT 1").fetch_one(&mut *conn).await?;
    if one == 1 {
        Ok(())
    } else {
        Err(sqlx::Error::Protocol("SELECT 1 did not return 1".into()))
    }
}

/// How long opening a connection may take: `busy_timeout`, but at least a second.
fn connect_timeout(busy_timeout: Duration) -> Duration {
    busy_timeout.max(Duration::from_secs(1))
}

/// A failure to make the first connection: always `Unavailable`, naming the redacted URL.
fn cannot_connect(shown: &str, config: &PostgresConfig, e: sqlx::Error) -> StoreError {
    let why = match &e {
        sqlx::Error::PoolTimedOut => format!(
            "no answer within {:?} (is the server running and reachable?)",
            connect_timeout(config.busy_timeout)
        ),
        sqlx::Error::Database(db) => db.message().to_string(),
        other => other.to_string(),
    };
    StoreError::Unavailable(format!(
        "cannot connect to PostgreSQL at `{shown}`: {}",
        config.scrub_message(&why)
    ))
}

// ---------------------------------------------------------------------------------------------
// Heartbeat batches: one array per column, expanded by UNNEST.

/// The columns of a list of beats, as arrays to bind.
struct BeatColumns {
    location_id: Vec<i64>,
    received_at: Vec<i64>,
    boot_id: Vec<Option<String>>,
    uptime_s: Vec<Option<i64>>,
    seq: Vec<Option<i64>>,
    fw: Vec<Option<String>>,
    rssi: Vec<Option<i32>>,
}

impl BeatColumns {
    fn of(beats: &[&Heartbeat]) -> Self {
        let n = beats.len();
        let mut c = Self {
            location_id: Vec::with_capacity(n),
            received_at: Vec::with_capacity(n),
            boot_id: Vec::with_capacity(n),
            uptime_s: Vec::with_capacity(n),
            seq: Vec::with_capacity(n),
            fw: Vec::with_capacity(n),
            rssi: Vec::with_capacity(n),
        };
        for b in beats {
            c.location_id.push(b.location_id.0);
            c.received_at.push(micros(b.received_at));
            c.boot_id.push(b.facts.boot_id.clone());
            c.uptime_s.push(b.facts.uptime_s.map(u64_to_db));
            c.seq.push(b.facts.seq.map(u64_to_db));
            c.fw.push(b.facts.fw.clone());
            c.rssi.push(b.facts.rssi);
        }
        c
    }

    fn bind(self, q: PgQuery<'_>) -> PgQuery<'_> {
        q.bind(self.location_id)
            .bind(self.received_at)
            .bind(self.boot_id)
            .bind(self.uptime_s)
            .bind(self.seq)
            .bind(self.fw)
            .bind(self.rssi)
    }
}

type PgQuery<'q> = sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments>;

// ---------------------------------------------------------------------------------------------
// Rows and conversions. Nothing read from the database is trusted: a value out of range is an
// error naming the column, never a panic.

/// How PostgreSQL rows read ([`Dialect`]): RSSI columns are INTEGER. `map_err` (below) puts the
/// violated constraint's name in a conflict's message.
pub enum Db {}

impl Dialect for Db {
    const NAME: &'static str = "PostgreSQL";
    const TOKEN_HASH_CONFLICT: &'static str = "api_tokens_hash";
    type Rssi = i32;

    fn rssi(v: i32, _column: &str) -> Result<i32, StoreError> {
        Ok(v)
    }
}

/// Turns a sqlx error into a [`StoreError`] that names the database (`shown`: its URL with the
/// password redacted).
///
/// By SQLSTATE: connection problems (class 08), refused logins (28), a missing database
/// (3D000), the server running out of resources (53), shutting down (57P0x) or read-only
/// (25006, e.g. a standby after a failover) are `Unavailable`, and so is a lock wait that ran
/// out of `lock_timeout` (55P03); a unique violation is `Conflict` (message: the constraint);
/// everything else is `Other`.
pub(crate) fn map_err(shown: &str, busy_timeout: Duration, e: sqlx::Error) -> StoreError {
    match e {
        sqlx::Error::Database(db) => {
            let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
            let msg = db.message();
            match code.as_str() {
                "55P03" => StoreError::Unavailable(format!(
                    "PostgreSQL database `{shown}`: a lock held by another session was not \
                     released within {busy_timeout:?}: {msg}"
                )),
                "3D000" | "25006" => {
                    StoreError::Unavailable(format!("PostgreSQL database `{shown}`: {msg}"))
                }
                c if c.starts_with("08")
                    || c.starts_with("28")
                    || c.starts_with("53")
                    || c.starts_with("57P") =>
                {
                    StoreError::Unavailable(format!("PostgreSQL database `{shown}`: {msg}"))
                }
                _ if db.is_unique_violation() => StoreError::Conflict(
                    db.constraint()
                        .map_or_else(|| msg.to_string(), |c| format!("{c}: {msg}")),
                ),
                _ => StoreError::Other(format!("PostgreSQL database `{shown}`: {msg}")),
            }
        }
        sqlx::Error::PoolTimedOut => StoreError::Unavailable(format!(
            "timed out waiting for a connection to PostgreSQL database `{shown}`"
        )),
        sqlx::Error::PoolClosed => {
            StoreError::Unavailable(format!("PostgreSQL database `{shown}` is closed"))
        }
        sqlx::Error::Io(e) => {
            StoreError::Unavailable(format!("PostgreSQL database `{shown}`: {e}"))
        }
        sqlx::Error::Tls(e) => {
            StoreError::Unavailable(format!("PostgreSQL database `{shown}`: TLS: {e}"))
        }
        other => StoreError::Other(format!("PostgreSQL database `{shown}`: {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreadable_values_name_the_database() {
        let e = Db::time(i64::MAX, "events.ended_at");
        assert!(matches!(e, Err(StoreError::Other(m)) if m.contains("PostgreSQL database")));
    }

    #[test]
    fn pool_errors_are_unavailable_and_name_the_redacted_url() {
        let shown = "postgres://u:***@h/d";
        for e in [sqlx::Error::PoolTimedOut, sqlx::Error::PoolClosed] {
            match map_err(shown, Duration::from_secs(1), e) {
                StoreError::Unavailable(m) => assert!(m.contains(shown), "{m}"),
                other => panic!("expected Unavailable, got {other:?}"),
            }
        }
    }

    #[test]
    fn the_leader_key_spells_its_name() {
        assert_eq!(&LEADER_LOCK_KEY.to_be_bytes(), b"outage-m");
    }
}
