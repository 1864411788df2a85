//! `outage-store-sql`: what the SQL [`StatusStore`]s of outage-monitor (`outage-store-sqlite`,
//! `outage-store-postgres`) share — the rows their queries return and how those become domain
//! types, plus the errors for unreadable values and unique violations.
//!
//! Both stores keep the same tables with the same conventions (times as microseconds since the
//! Unix epoch, durations as milliseconds, device counters as the 64 bits of the `u64`; see
//! [`outage_core::store_support`]). The rows derive [`sqlx::FromRow`] generically, so this crate
//! needs no database driver; a store names itself through a [`Dialect`] and reads
//! `query_as::<_, EventRow<ItsDialect>>`.
//!
//! This crate must never depend on a database driver, an HTTP framework or client.
//!
//! [`StatusStore`]: outage_core::StatusStore

mod outbox;
mod rows;
mod tokens;
mod users;

pub use rows::{
    BeatRow, DiagramRow, EventRow, IntervalRow, LocRow, NotifierOutboxRow, OutboxRow, RecordRow,
    SessionRow, TokenRow, UserRow,
};

use std::future::Future;

use chrono::{DateTime, Utc};
use outage_core::StoreError;
use outage_core::store_support::location_name_taken;

/// What differs between the SQL stores where they read rows: the database's name (in
/// messages) and how it returns RSSI columns.
pub trait Dialect {
    /// The database as messages name it (`SQLite`).
    const NAME: &'static str;

    /// What a unique violation's message contains when it is the hash of an API token.
    const TOKEN_HASH_CONFLICT: &'static str;

    /// The type an RSSI column decodes to.
    type Rssi;

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

/// What a SQL store lends the code it shares with the other ([`Shared`]): its connections, how
/// it starts a write transaction and how it names its errors.
pub trait SqlStore: Send + Sync {
    /// The sqlx driver.
    type Db: sqlx::Database;
    /// How its rows read.
    type Dialect: Dialect;

    /// Connections for reads.
    fn reader(&self) -> &sqlx::Pool<Self::Db>;

    /// Connections for writes (SQLite: its one writer connection).
    fn writer(&self) -> &sqlx::Pool<Self::Db>;

    /// A transaction for several writes that must go together (SQLite: `BEGIN IMMEDIATE`).
    fn begin_write(
        &self,
    ) -> impl Future<Output = Result<sqlx::Transaction<'static, Self::Db>, StoreError>> + Send;

    /// A sqlx error as a [`StoreError`] naming the database.
    fn err(&self, e: sqlx::Error) -> StoreError;

    /// How many rows a statement changed (sqlx has no driver-independent accessor).
    fn rows_affected(done: &<Self::Db as sqlx::Database>::QueryResult) -> u64;
}

/// The [`StatusStore`] methods whose statements and Rust are the same on every SQL store,
/// over the store's connections: `Shared(self).find_user(name)`.
///
/// [`StatusStore`]: outage_core::StatusStore
#[derive(Debug)]
pub struct Shared<'s, S>(pub &'s S);

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
