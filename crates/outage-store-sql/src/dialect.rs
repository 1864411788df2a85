//! The two SQL dialects side by side: every statement and setting in which SQLite and
//! PostgreSQL differ for the shared code. (The heartbeat batch statements differ in shape, not
//! only in text, and stay with their stores.)

use outage_core::StoreError;

use crate::Dialect;

/// SQLite: integers come back as `i64`; a write transaction takes the write lock at once.
#[derive(Debug)]
pub enum Sqlite {}

/// PostgreSQL: RSSI columns are INTEGER; alerts are JSONB; reads of one snapshot run at
/// `REPEATABLE READ`, and rows a statement depends on are held with `FOR KEY SHARE`.
#[derive(Debug)]
pub enum Postgres {}

impl Dialect for Sqlite {
    const NAME: &'static str = "SQLite";
    const TOKEN_HASH_CONFLICT: &'static str = "api_tokens.hash";
    const BEGIN_WRITE: &'static str = "BEGIN IMMEDIATE";
    const BEGIN_READ: &'static str = "BEGIN";
    const KEY_SHARE: bool = false;
    const MARK_ALIVE_SQL: &'static str = "INSERT INTO meta (key, value) VALUES ($1, $2) \
         ON CONFLICT (key) DO UPDATE SET value = max(value, excluded.value)";
    const INSERT_OUTBOX_SQL: &'static str = "INSERT INTO outbox (location_id, event_id, \
         notifier, chat, alert, next_attempt_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)";
    /// Raw beats have no id column: the rowid orders them.
    const RECENT_BEATS_SQL: &'static str = "SELECT location_id, received_at, boot_id, \
         uptime_s, seq, fw, rssi FROM heartbeats WHERE location_id = $1 \
         ORDER BY received_at DESC, rowid DESC LIMIT $2";
    type Rssi = i64;

    fn rssi(v: i64, column: &str) -> Result<i32, StoreError> {
        i32::try_from(v).map_err(|_| Self::corrupt(format!("{column} {v}")))
    }
}

impl Dialect for Postgres {
    const NAME: &'static str = "PostgreSQL";
    /// The constraint's name: the PostgreSQL store puts it in a conflict's message.
    const TOKEN_HASH_CONFLICT: &'static str = "api_tokens_hash";
    const BEGIN_WRITE: &'static str = "BEGIN";
    const BEGIN_READ: &'static str = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY";
    const KEY_SHARE: bool = true;
    const MARK_ALIVE_SQL: &'static str = "INSERT INTO meta (key, value) VALUES ($1, $2) \
         ON CONFLICT (key) DO UPDATE SET value = GREATEST(meta.value, excluded.value)";
    const INSERT_OUTBOX_SQL: &'static str = "INSERT INTO outbox (location_id, event_id, \
         notifier, chat, alert, next_attempt_at, created_at) \
         VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7)";
    const RECENT_BEATS_SQL: &'static str = "SELECT location_id, received_at, boot_id, \
         uptime_s, seq, fw, rssi FROM heartbeats WHERE location_id = $1 \
         ORDER BY received_at DESC, id DESC LIMIT $2";
    type Rssi = i32;

    fn rssi(v: i32, _column: &str) -> Result<i32, StoreError> {
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreadable_values_name_the_database() {
        let e = Sqlite::time(i64::MAX, "events.ended_at");
        assert!(matches!(e, Err(StoreError::Other(m)) if m.contains("SQLite database")));
        let e = Postgres::time(i64::MAX, "events.ended_at");
        assert!(matches!(e, Err(StoreError::Other(m)) if m.contains("PostgreSQL database")));
        assert!(Sqlite::rssi(i64::from(i32::MAX) + 1, "heartbeats.rssi").is_err());
        assert_eq!(Sqlite::rssi(-70, "heartbeats.rssi").ok(), Some(-70));
    }

    #[test]
    fn key_share_locks_only_where_the_dialect_takes_them() {
        use crate::sql::{EVENT_MESSAGE_SQL, SAVE_DIAGRAM_SQL, key_share};
        for pair in [EVENT_MESSAGE_SQL, SAVE_DIAGRAM_SQL] {
            assert!(!key_share::<Sqlite>(pair).contains("FOR KEY SHARE"));
            assert!(key_share::<Postgres>(pair).contains("FOR KEY SHARE)"));
        }
    }
}
