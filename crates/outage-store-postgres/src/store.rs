//! [`PostgresStore`]: the [`StatusStore`] over PostgreSQL. Its statements and their Rust are
//! shared with SQLite in `outage-store-sql`; this file holds the connections, the leader lock,
//! the heartbeat batch statements (one array per column) and the row locks.
//!
//! Connections: one pool serves reads and writes (PostgreSQL's MVCC lets them run side by side);
//! multi-statement writes run in transactions at the default `READ COMMITTED` level, and
//! [`StatusStore::load_runtime`] reads in one `REPEATABLE READ` snapshot. A second, dedicated
//! connection holds the leader lock ([`PostgresStore::try_lead`]).
//!
//! Several monitor processes may share one database (book: PostgreSQL, "More than one instance"), so writes that touch
//! many `locations` rows lock them first, in id order (`FOR NO KEY UPDATE`): two heartbeat batches,
//! or a batch and a transition, never deadlock, and a location deleted meanwhile is simply
//! skipped (its beats are ignored, as with every store) instead of failing the batch on a
//! foreign key.
//!
//! Storage conventions (see `migrations/postgres/0001_initial.sql`, the same as SQLite's):
//! times are BIGINT microseconds since the Unix epoch (UTC), durations BIGINT milliseconds,
//! device counters the 64 bits of the `u64` as a BIGINT, alerts JSONB.

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use outage_core::domain::Heartbeat;
use outage_core::store::{StatusStore, StoreError};
use outage_core::store_support::{micros, u64_to_db};
use outage_store_sql::{SqlStore, sql_status_store};
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::{Connection, Postgres};

use crate::config::PostgresConfig;

/// The schema migrations, embedded at compile time.
static MIGRATOR: Migrator = sqlx::migrate!("../../migrations/postgres");

/// Key of the session-level advisory lock that elects the leader ([`PostgresStore::try_lead`]):
/// the ASCII bytes of `outage-m`. Advisory locks are per database, so monitors on different
/// databases of one server never compete. In `pg_locks` it shows as `locktype = 'advisory'`,
/// `classid = 1869968481` (`0x6f757461`), `objid = 1734684013` (`0x67652d6d`), `objsubid = 1`.
pub const LEADER_LOCK_KEY: i64 = 0x6f75_7461_6765_2d6d;

/// The `application_name` of the connection holding the leader lock (with the process id).
pub const LEADER_APPLICATION_NAME: &str = "outage-monitor leader";

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
            // Named so `check-config` (and `pg_stat_activity`) can tell which instance leads.
            let named = self.connect.clone().application_name(&format!(
                "{LEADER_APPLICATION_NAME} (pid {})",
                std::process::id()
            ));
            let conn = tokio::time::timeout(
                connect_timeout(self.busy_timeout),
                PgConnection::connect_with(&named),
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

    /// Who holds the leader lock now, as one line ("outage-monitor leader (pid 4242) on
    /// 10.0.0.11, connected since 2026-12-08 01:02:03 UTC"), or `None` when no instance leads.
    pub async fn leader_holder(&self) -> Result<Option<String>, StoreError> {
        let row: Option<(Option<String>, Option<String>, Option<String>)> = sqlx::query_as(
            "SELECT a.application_name, host(a.client_addr), \
                    to_char(a.backend_start AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') \
             FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
             WHERE l.locktype = 'advisory' AND l.granted \
               AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
               AND ((l.classid::bigint << 32) | l.objid::bigint) = $1 \
             LIMIT 1",
        )
        .bind(LEADER_LOCK_KEY)
        .fetch_optional(&self.pool)
        .await
        .map_err(self.e())?;
        Ok(row.map(|(name, addr, since)| {
            format!(
                "{} on {}, connected since {} UTC",
                name.filter(|n| !n.is_empty())
                    .unwrap_or_else(|| "an unnamed session".into()),
                addr.unwrap_or_else(|| "this host (local socket)".into()),
                since.unwrap_or_else(|| "?".into())
            )
        }))
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

    /// Locks the rows of the batch's locations first (in id order, so two batches, or a batch
    /// and a transition, never deadlock); the beats of locations deleted meanwhile are
    /// skipped instead of failing the batch on a foreign key.
    async fn write_beats<'a>(
        &'a self,
        conn: &'a mut PgConnection,
        newest: Vec<&'a Heartbeat>,
        raw: Vec<&'a Heartbeat>,
    ) -> Result<(), StoreError> {
        if newest.is_empty() {
            return Ok(());
        }
        let ids: Vec<i64> = newest.iter().map(|b| b.location_id.0).collect();
        let existing = self.lock_locations(&mut *conn, &ids).await?;
        let kept = |b: &&Heartbeat| existing.contains(&b.location_id.0);
        let newest: Vec<&Heartbeat> = newest.into_iter().filter(kept).collect();
        let raw: Vec<&Heartbeat> = raw.into_iter().filter(kept).collect();
        if newest.is_empty() {
            return Ok(());
        }
        BeatColumns::of(&newest)
            .bind(sqlx::query(UPDATE_RUNTIME_SQL))
            .execute(&mut *conn)
            .await
            .map_err(self.e())?;
        BeatColumns::of(&raw)
            .bind(sqlx::query(INSERT_BEATS_SQL))
            .execute(&mut *conn)
            .await
            .map_err(self.e())?;
        Ok(())
    }

    fn migrator(&self) -> &'static Migrator {
        &MIGRATOR
    }

    fn shown(&self) -> &dyn std::fmt::Display {
        &self.shown
    }

    fn err(&self, e: sqlx::Error) -> StoreError {
        map_err(&self.shown, self.busy_timeout, e)
    }

    fn rows_affected(done: &sqlx::postgres::PgQueryResult) -> u64 {
        done.rows_affected()
    }
}

sql_status_store!(PostgresStore {
    async fn backup(&self, _path: &Path) -> Result<(), StoreError> {
        Err(StoreError::Unsupported(BACKUP_UNSUPPORTED))
    }

    /// Records the batch, then announces it on [`RELAY_CHANNEL`] (`pg_notify`, in payloads
    /// under PostgreSQL's 8000-byte limit) for the leader's [`Self::relayed_heartbeats`]. The
    /// announcement follows the commit, so the leader never hears of a beat that is not stored;
    /// if it is lost, the leader still re-reads a location before declaring it down.
    async fn relay_heartbeats(
        &self,
        beats: &[Heartbeat],
        alive_at: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), StoreError> {
        outage_store_sql::Shared(self)
            .record_heartbeats(beats, alive_at)
            .await?;
        for payload in relay_payloads(beats) {
            if let Err(e) = sqlx::query("SELECT pg_notify($1, $2)")
                .bind(RELAY_CHANNEL)
                .bind(payload)
                .execute(&self.pool)
                .await
            {
                // Stored already: only the leader's early notice is lost.
                tracing::warn!(error = %self.err(e), "cannot relay heartbeats to the leader");
                break;
            }
        }
        Ok(())
    }

    /// Listens on [`RELAY_CHANNEL`] on a connection of its own (re-made when it drops).
    async fn relayed_heartbeats(
        &self,
    ) -> Result<Option<tokio::sync::mpsc::Receiver<Vec<Heartbeat>>>, StoreError> {
        let mut listener = sqlx::postgres::PgListener::connect_with(&self.pool)
            .await
            .map_err(self.e())?;
        listener.listen(RELAY_CHANNEL).await.map_err(self.e())?;
        let (tx, rx) = tokio::sync::mpsc::channel(1024);
        let shown = self.shown.clone();
        tokio::spawn(async move {
            loop {
                match listener.recv().await {
                    Ok(n) => match serde_json::from_str::<Vec<Heartbeat>>(n.payload()) {
                        Ok(batch) => {
                            if tx.send(batch).await.is_err() {
                                return;
                            }
                        }
                        Err(e) => tracing::warn!(error = %e, "ignoring a malformed heartbeat relay"),
                    },
                    Err(e) => {
                        // `recv` reconnects on the next call; beats relayed meanwhile are in the
                        // store and are re-read before any location is declared down.
                        tracing::warn!(database = %shown, error = %e, "heartbeat relay connection lost; reconnecting");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
        });
        Ok(Some(rx))
    }
});

/// The `LISTEN`/`NOTIFY` channel standbys relay their heartbeat batches on (per database).
pub const RELAY_CHANNEL: &str = "outage_monitor_heartbeats";

/// Largest relay payload: PostgreSQL refuses `NOTIFY` payloads of 8000 bytes or more.
const RELAY_PAYLOAD_MAX: usize = 7_000;

/// The beats as JSON arrays of at most [`RELAY_PAYLOAD_MAX`] bytes each (a beat is ~150).
fn relay_payloads(beats: &[Heartbeat]) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::from("[");
    for b in beats {
        let Ok(one) = serde_json::to_string(b) else {
            continue;
        };
        if cur.len() > 1 && cur.len() + one.len() + 2 > RELAY_PAYLOAD_MAX {
            cur.push(']');
            out.push(std::mem::replace(&mut cur, String::from("[")));
        }
        if cur.len() > 1 {
            cur.push(',');
        }
        cur.push_str(&one);
    }
    if cur.len() > 1 {
        cur.push(']');
        out.push(cur);
    }
    out
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

/// How PostgreSQL rows read and which statements differ: [`outage_store_sql::dialect::Postgres`].
pub use outage_store_sql::dialect::Postgres as Db;

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

#[cfg(test)]
mod relay_tests {
    use super::*;
    use outage_core::domain::{DeviceFacts, LocationId};

    #[test]
    fn relay_payloads_stay_under_the_notify_limit_and_keep_every_beat_in_order() {
        let beats: Vec<Heartbeat> = (0..500)
            .map(|i| Heartbeat {
                location_id: LocationId(i),
                received_at: chrono::DateTime::from_timestamp(1_700_000_000 + i, 0)
                    .unwrap_or_default(),
                facts: DeviceFacts {
                    boot_id: Some(format!("boot-{i}")),
                    uptime_s: Some(42),
                    ..DeviceFacts::default()
                },
            })
            .collect();
        let payloads = relay_payloads(&beats);
        assert!(payloads.len() > 1, "500 beats need several payloads");
        assert!(payloads.iter().all(|p| p.len() < RELAY_PAYLOAD_MAX));
        let back: Vec<Heartbeat> = payloads
            .iter()
            .flat_map(|p| serde_json::from_str::<Vec<Heartbeat>>(p).unwrap())
            .collect();
        assert_eq!(back, beats);
        assert!(relay_payloads(&[]).is_empty());
    }
}
