//! Helpers for [`StatusStore`](crate::StatusStore) implementations: the pieces of logic every
//! store shares, free of any database driver (the memory store uses them as they are; the SQL
//! stores through `outage-store-sql`).
//!
//! Storage conventions of the SQL stores: times are microseconds since the Unix epoch (UTC),
//! durations milliseconds, device counters the 64 bits of the `u64` as an `i64`.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::domain::Cause;
use crate::store::{EventChange, StoreError};

/// `NotFound` for `what` ("location 3", "event 7 of location 3").
pub fn not_found(what: impl std::fmt::Display) -> StoreError {
    StoreError::NotFound {
        what: what.to_string(),
    }
}

/// The `Conflict` for a location name that another location already has.
pub fn location_name_taken(name: &str) -> StoreError {
    StoreError::Conflict(format!("a location named `{name}` already exists"))
}

/// A time as stored: microseconds since the Unix epoch. Every `DateTime<Utc>` fits in an i64.
pub fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

/// A timeout as stored: whole milliseconds; `Invalid` if it does not fit in an i64.
pub fn duration_ms(d: Duration) -> Result<i64, StoreError> {
    i64::try_from(d.as_millis())
        .map_err(|_| StoreError::Invalid(format!("timeout {d:?} is too long")))
}

/// Device counters are `u64`; SQL integers are `i64`. Store the same 64 bits, so every value
/// round-trips (those above `i64::MAX` look negative in plain SQL).
pub fn u64_to_db(v: u64) -> i64 {
    i64::from_ne_bytes(v.to_ne_bytes())
}

/// The inverse of [`u64_to_db`].
pub fn u64_from_db(v: i64) -> u64 {
    u64::from_ne_bytes(v.to_ne_bytes())
}

/// The event a transition writes as a new row (see [`new_event`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewEvent {
    /// When the power went (if known).
    pub started_at: Option<DateTime<Utc>>,
    /// When the monitor noticed.
    pub detected_at: DateTime<Utc>,
    /// Set for an event that is over as it is recorded ([`EventChange::Closed`]).
    pub ended_at: Option<DateTime<Utc>>,
    /// Why.
    pub cause: Cause,
}

/// The event `change` inserts: one for [`EventChange::Open`] and [`EventChange::Closed`], none
/// for [`EventChange::None`] and [`EventChange::Close`] (that one updates an existing event).
pub fn new_event(change: &EventChange) -> Option<NewEvent> {
    match change {
        EventChange::None | EventChange::Close { .. } => None,
        EventChange::Open {
            started_at,
            detected_at,
            cause,
        } => Some(NewEvent {
            started_at: *started_at,
            detected_at: *detected_at,
            ended_at: None,
            cause: *cause,
        }),
        EventChange::Closed {
            started_at,
            detected_at,
            ended_at,
            cause,
        } => Some(NewEvent {
            started_at: *started_at,
            detected_at: *detected_at,
            ended_at: Some(*ended_at),
            cause: *cause,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_counters_round_trip_all_64_bits() {
        for v in [0, 1, i64::MAX as u64, i64::MAX as u64 + 1, u64::MAX] {
            assert_eq!(u64_from_db(u64_to_db(v)), v);
        }
        assert_eq!(
            u64_to_db(42),
            42,
            "ordinary values are stored as themselves"
        );
    }

    #[test]
    fn times_are_microseconds() {
        let t = DateTime::from_timestamp_micros(1_763_899_200_123_456).unwrap_or_default();
        assert_eq!(micros(t), 1_763_899_200_123_456);
    }
}
