//! `outage-store-sql`: the SQL [`StatusStore`]s of outage-monitor (`outage-store-sqlite`,
//! `outage-store-postgres`) written once — their statements (both dialects accept `$N`
//! placeholders), the Rust around them ([`Shared`]), the rows they return and how those become
//! domain types, and the one `StatusStore` impl ([`sql_status_store!`](crate::sql_status_store)).
//!
//! Both stores keep the same tables with the same conventions (times as microseconds since the
//! Unix epoch, durations as milliseconds, device counters as the 64 bits of the `u64`; see
//! [`outage_core::store_support`]). What differs is small and named: a [`Dialect`] (see
//! [`dialect`]: begin statements, row locks, a few statements) and the hooks of [`SqlStore`]
//! (connections, heartbeat batches, error mapping). The code is generic over the sqlx driver,
//! so this crate needs no database feature.
//!
//! This crate must never depend on a database driver, an HTTP framework or client.
//!
//! [`StatusStore`]: outage_core::StatusStore

/// Writes `impl Shared<'_, S>` for every sqlx driver whose connections run statements, bind
/// the parameter types the shared statements use and read the shared rows: the bounds are
/// written once here, not above every file of shared methods.
macro_rules! shared_impl {
    ($($body:tt)*) => {
        impl<S, DB> $crate::Shared<'_, S>
        where
            S: $crate::SqlStore<Db = DB>,
            DB: sqlx::Database,
            DB::Connection: sqlx::migrate::Migrate,
            for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
            DB::Arguments: sqlx::IntoArguments<DB>,
            for<'t> bool: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
            for<'t> Option<bool>: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
            for<'t> i64: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
            for<'t> Option<i64>: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
            for<'t> &'t str: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
            for<'t> Option<&'t str>: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
            for<'t> String: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
            for<'t> Option<String>: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
            for<'r> (i32,): sqlx::FromRow<'r, DB::Row>,
            for<'r> (i64,): sqlx::FromRow<'r, DB::Row>,
            for<'r> (Option<i64>,): sqlx::FromRow<'r, DB::Row>,
            for<'r> (i64, i64): sqlx::FromRow<'r, DB::Row>,
            for<'r> (String, i64): sqlx::FromRow<'r, DB::Row>,
            for<'r> (String, String, String): sqlx::FromRow<'r, DB::Row>,
            for<'r> $crate::QueueRow: sqlx::FromRow<'r, DB::Row>,
            for<'r> $crate::LocRow<S::Dialect>: sqlx::FromRow<'r, DB::Row>,
            for<'r> $crate::RecordRow<S::Dialect>: sqlx::FromRow<'r, DB::Row>,
            for<'r> $crate::BeatRow<S::Dialect>: sqlx::FromRow<'r, DB::Row>,
            for<'r> $crate::EventRow<S::Dialect>: sqlx::FromRow<'r, DB::Row>,
            for<'r> $crate::IntervalRow<S::Dialect>: sqlx::FromRow<'r, DB::Row>,
            for<'r> $crate::OutboxRow<S::Dialect>: sqlx::FromRow<'r, DB::Row>,
            for<'r> $crate::NotifierOutboxRow<S::Dialect>: sqlx::FromRow<'r, DB::Row>,
            for<'r> $crate::DiagramRow<S::Dialect>: sqlx::FromRow<'r, DB::Row>,
            for<'r> $crate::TokenRow<S::Dialect>: sqlx::FromRow<'r, DB::Row>,
            for<'r> $crate::UserRow<S::Dialect>: sqlx::FromRow<'r, DB::Row>,
            for<'r> $crate::SessionRow<S::Dialect>: sqlx::FromRow<'r, DB::Row>,
        {
            $($body)*
        }
    };
}

pub mod dialect;
mod events;
mod locations;
mod outbox;
mod rows;
pub mod sql;
pub mod status;
mod tokens;
mod users;

pub use rows::{
    BeatRow, DiagramRow, EventRow, IntervalRow, LocRow, NotifierOutboxRow, OutboxRow, RecordRow,
    SessionRow, TokenRow, UserRow,
};

use std::collections::{HashMap, HashSet};
use std::fmt::Display;
use std::future::Future;

use chrono::{DateTime, Utc};
use outage_core::StoreError;
use outage_core::domain::{Heartbeat, LocationId};
use outage_core::store_support::location_name_taken;
use sqlx::migrate::{MigrateError, Migrator};

/// One row of a notifier's queue as [`Shared::claim_queue`] reads it: `id, notifier, chat,
/// alert, attempts, created_at, next_attempt_at`.
pub type QueueRow = (i64, String, String, String, i64, i64, i64);

/// Key of the monitor's liveness mark in the `meta` table.
pub const ALIVE_KEY: &str = "monitor_alive_at";

/// Key of the location settings' version in the `meta` table, bumped by triggers on
/// `locations` (see the `locations_version` migrations).
pub const LOCATIONS_VERSION_KEY: &str = "locations_version";

/// What differs between the SQL dialects for the shared code: the database's name (in
/// messages), how it returns RSSI columns, how transactions begin, whether rows are locked
/// with `FOR KEY SHARE`, and the few statements whose text differs. Both are in [`dialect`].
pub trait Dialect {
    /// The database as messages name it (`SQLite`).
    const NAME: &'static str;

    /// What a unique violation's message contains when it is the hash of an API token.
    const TOKEN_HASH_CONFLICT: &'static str;

    /// How a write transaction begins (SQLite: `BEGIN IMMEDIATE`, so it holds the write lock
    /// from its first statement and a second process waits instead of failing on a lock
    /// upgrade).
    const BEGIN_WRITE: &'static str;

    /// How a read-only transaction over one snapshot begins (PostgreSQL: `REPEATABLE READ`).
    const BEGIN_READ: &'static str;

    /// Whether statements lock the rows they depend on with `FOR KEY SHARE` (PostgreSQL, where
    /// writers run side by side); SQLite's one writer excludes every other writer anyway.
    const KEY_SHARE: bool;

    /// Raises the monitor's liveness mark in `meta` (`$1` its key, `$2` the time) to the
    /// given time unless it is already later.
    const MARK_ALIVE_SQL: &'static str;

    /// Inserts one outbox row: `location_id, event_id, notifier, chat, alert (JSON text),
    /// next_attempt_at, created_at` as `$1`…`$7` (PostgreSQL casts the alert to `jsonb`).
    const INSERT_OUTBOX_SQL: &'static str;

    /// A location's newest raw beats, newest first (ties by insertion order): `$1` the
    /// location, `$2` the limit.
    const RECENT_BEATS_SQL: &'static str;

    /// The type an RSSI column decodes to.
    type Rssi: Send + Unpin;

    /// An RSSI as read from `column`; an unreadable one is [`Dialect::corrupt`].
    fn rssi(v: Self::Rssi, column: &str) -> Result<i32, StoreError>;

    /// The error for an unreadable stored value (`what`: the column, the value and its row).
    fn corrupt(what: String) -> StoreError {
        StoreError::Other(format!(
            "unreadable value in the {} database: {what}",
            Self::NAME
        ))
    }

    /// A stored time (microseconds since the Unix epoch) read from `column`.
    fn time(v: i64, column: &str) -> Result<DateTime<Utc>, StoreError> {
        DateTime::from_timestamp_micros(v).ok_or_else(|| Self::corrupt(format!("{column} {v}")))
    }

    /// A unique violation on `api_tokens` is the name, or (with ~160-bit tokens, only if the
    /// same token is stored twice) the hash.
    fn token_conflict(e: StoreError, name: &str) -> StoreError {
        match e {
            StoreError::Conflict(msg) if msg.contains(Self::TOKEN_HASH_CONFLICT) => {
                StoreError::Conflict("an API token with this hash already exists".into())
            }
            StoreError::Conflict(_) => {
                StoreError::Conflict(format!("an API token named `{name}` already exists"))
            }
            other => other,
        }
    }
}

/// What a SQL store lends the code it shares with the other ([`Shared`]): its connections, its
/// migrations, how it names its errors, and the few steps it does its own way.
pub trait SqlStore: Send + Sync {
    /// The sqlx driver.
    type Db: sqlx::Database;
    /// How its rows read.
    type Dialect: Dialect;

    /// Connections for reads.
    fn reader(&self) -> &sqlx::Pool<Self::Db>;

    /// Connections for writes (SQLite: its one writer connection).
    fn writer(&self) -> &sqlx::Pool<Self::Db>;

    /// A transaction for several writes that must go together, on [`SqlStore::writer`].
    fn begin_write(
        &self,
    ) -> impl Future<Output = Result<sqlx::Transaction<'static, Self::Db>, StoreError>> + Send {
        async move {
            let begin = <Self::Dialect as Dialect>::BEGIN_WRITE;
            self.writer().begin_with(begin).await.map_err(self.e())
        }
    }

    /// A read-only transaction over one snapshot, on [`SqlStore::reader`].
    fn begin_read(
        &self,
    ) -> impl Future<Output = Result<sqlx::Transaction<'static, Self::Db>, StoreError>> + Send {
        async move {
            let begin = <Self::Dialect as Dialect>::BEGIN_READ;
            self.reader().begin_with(begin).await.map_err(self.e())
        }
    }

    /// Inside a write transaction: which of `ids` are existing locations, kept from being
    /// deleted or changed by another writer until it ends (PostgreSQL locks the rows in id
    /// order, so concurrent writers never deadlock; SQLite's write transaction already
    /// excludes every other writer).
    fn lock_locations<'a>(
        &'a self,
        conn: &'a mut <Self::Db as sqlx::Database>::Connection,
        ids: &'a [i64],
    ) -> impl Future<Output = Result<HashSet<i64>, StoreError>> + Send + 'a;

    /// Inside a heartbeat batch's write transaction: moves each location's runtime state to
    /// its beat in `newest` (one a location, in location order) unless it already saw a newer
    /// one, and inserts the `raw` beats (in location and time order, beats of one instant in
    /// arrival order). Beats of locations deleted meanwhile are skipped. This is where the
    /// stores differ most: SQLite binds multi-row `VALUES`, PostgreSQL one array per column.
    fn write_beats<'a>(
        &'a self,
        conn: &'a mut <Self::Db as sqlx::Database>::Connection,
        newest: Vec<&'a Heartbeat>,
        raw: Vec<&'a Heartbeat>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send + 'a;

    /// Called after a write that may have grown the database a lot (a heartbeat batch, a
    /// prune): SQLite asks for a WAL checkpoint soon.
    fn after_large_write(&self) {}

    /// The schema migrations of this database.
    fn migrator(&self) -> &'static Migrator;

    /// The database as messages name it: a path, or a URL with its password redacted.
    fn shown(&self) -> &dyn Display;

    /// A sqlx error as a [`StoreError`] naming the database.
    fn err(&self, e: sqlx::Error) -> StoreError;

    /// [`SqlStore::err`] as a closure: `.map_err(self.e())`.
    fn e(&self) -> impl Fn(sqlx::Error) -> StoreError + '_ {
        move |e| self.err(e)
    }

    /// How many rows a statement changed (sqlx has no driver-independent accessor).
    fn rows_affected(done: &<Self::Db as sqlx::Database>::QueryResult) -> u64;
}

/// The [`StatusStore`] methods whose statements and Rust are the same on every SQL store,
/// over the store's connections: `Shared(self).find_user(name)`.
///
/// [`StatusStore`]: outage_core::StatusStore
#[derive(Debug)]
pub struct Shared<'s, S>(pub &'s S);

/// A failed migration as a [`StoreError`]: `err` maps the database's own errors, `shown`
/// names the database (a path, or a URL with its password redacted).
pub fn migrate_error<D: Dialect>(
    e: MigrateError,
    shown: &dyn Display,
    err: impl Fn(sqlx::Error) -> StoreError,
) -> StoreError {
    match e {
        MigrateError::Execute(e) => err(e),
        MigrateError::ExecuteMigration(e, v) => match err(e) {
            StoreError::Other(msg) => StoreError::Other(format!(
                "migration {v} of {} database `{shown}` failed: {msg}",
                D::NAME
            )),
            other => other,
        },
        other => StoreError::Other(format!(
            "cannot migrate {} database `{shown}`: {other} (was it written by a newer \
             outage-monitor?)",
            D::NAME
        )),
    }
}

/// The newest beat of each location in `beats` (the later one of a batch wins a tie), in
/// location order: what a batch writes to `locations`.
pub fn newest_per_location(beats: &[Heartbeat]) -> Vec<&Heartbeat> {
    let mut newest: HashMap<LocationId, &Heartbeat> = HashMap::new();
    for b in beats {
        let slot = newest.entry(b.location_id).or_insert(b);
        if b.received_at >= slot.received_at {
            *slot = b;
        }
    }
    let mut newest: Vec<&Heartbeat> = newest.into_values().collect();
    newest.sort_unstable_by_key(|b| b.location_id);
    newest
}

/// A unique violation on `locations` can only be the name.
pub fn name_conflict(e: StoreError, name: &str) -> StoreError {
    match e {
        StoreError::Conflict(_) => location_name_taken(name),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    enum Test {}

    impl Dialect for Test {
        const NAME: &'static str = "Test";
        const TOKEN_HASH_CONFLICT: &'static str = "api_tokens.hash";
        const BEGIN_WRITE: &'static str = "BEGIN";
        const BEGIN_READ: &'static str = "BEGIN";
        const MARK_ALIVE_SQL: &'static str = "";
        const KEY_SHARE: bool = false;
        const INSERT_OUTBOX_SQL: &'static str = "";
        const RECENT_BEATS_SQL: &'static str = "";
        type Rssi = i32;

        fn rssi(v: i32, _column: &str) -> Result<i32, StoreError> {
            Ok(v)
        }
    }

    #[test]
    fn times_are_microseconds_and_bad_ones_are_errors() {
        let t = DateTime::from_timestamp_micros(1_763_899_200_123_456).unwrap_or_default();
        let v = outage_core::store_support::micros(t);
        assert_eq!(Test::time(v, "x").ok(), Some(t));
        assert!(
            matches!(Test::time(i64::MAX, "c"), Err(StoreError::Other(m)) if m.contains("c") && m.contains("Test database"))
        );
    }

    #[test]
    fn unique_violations_name_what_is_taken() {
        let hash = Test::token_conflict(StoreError::Conflict("api_tokens.hash".into()), "t");
        assert!(matches!(hash, StoreError::Conflict(m) if m.contains("hash")));
        let named = Test::token_conflict(StoreError::Conflict("x".into()), "t");
        assert!(matches!(named, StoreError::Conflict(m) if m.contains("`t`")));
        let loc = name_conflict(StoreError::Conflict("x".into()), "home");
        assert!(matches!(loc, StoreError::Conflict(m) if m.contains("`home`")));
    }
}
