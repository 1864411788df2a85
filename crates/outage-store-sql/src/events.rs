//! Transitions (events, intervals, status and the outbox rows they queue), and the reads of
//! events, intervals and message references: the same statements and the same Rust on every
//! SQL store, written once over any sqlx driver.

use chrono::{DateTime, Utc};
use outage_core::domain::{
    EventId, IntervalKind, LocationId, MessageRef, PowerEvent, StateInterval,
};
use outage_core::store::{EventChange, EventFilter, StoreError, Transition};
use outage_core::store_support::{NewEvent, micros, new_event, not_found};

use crate::sql::{EVENTS_OF_LOCATION_SQL, EVENTS_SQL, INTERVALS_SQL};
use crate::{Dialect, EventRow, IntervalRow};

const CLOSE_EVENT_SQL: &str =
    "UPDATE events SET ended_at = $1, cause = $2 WHERE id = $3 AND location_id = $4";

const INSERT_EVENT_SQL: &str = "INSERT INTO events (location_id, started_at, detected_at, \
     ended_at, cause) VALUES ($1, $2, $3, $4, $5) RETURNING id";

const OPEN_INTERVAL_SQL: &str =
    "SELECT id, start_at FROM intervals WHERE location_id = $1 AND end_at IS NULL";

const DELETE_INTERVAL_SQL: &str = "DELETE FROM intervals WHERE id = $1";

const CLOSE_INTERVAL_SQL: &str =
    "UPDATE intervals SET end_at = $1, kind = COALESCE($2, kind) WHERE id = $3";

const INSERT_INTERVAL_SQL: &str =
    "INSERT INTO intervals (location_id, kind, start_at) VALUES ($1, $2, $3)";

const SET_STATUS_SQL: &str = "UPDATE locations SET status = $1 WHERE id = $2";

const EVENT_SQL: &str = "SELECT id, location_id, started_at, detected_at, ended_at, cause \
     FROM events WHERE id = $1";

const MESSAGE_REFS_SQL: &str =
    "SELECT notifier, chat, message_id FROM event_messages WHERE event_id = $1 ORDER BY id";

shared_impl! {
    /// [`StatusStore::apply_transition`](outage_core::StatusStore::apply_transition).
    pub async fn apply_transition(&self, t: &Transition) -> Result<Option<EventId>, StoreError> {
        let opened = self.apply_all(std::slice::from_ref(t)).await?;
        Ok(opened.into_iter().next().flatten())
    }

    /// [`StatusStore::apply_transitions`](outage_core::StatusStore::apply_transitions).
    pub async fn apply_transitions(&self, ts: &[Transition]) -> Result<(), StoreError> {
        if ts.is_empty() {
            return Ok(());
        }
        self.apply_all(ts).await.map(|_| ())
    }

    /// Applies transitions in one write transaction, all of them or none, with the rows of
    /// their locations held ([`crate::SqlStore::lock_locations`]).
    async fn apply_all(&self, ts: &[Transition]) -> Result<Vec<Option<EventId>>, StoreError> {
        let s = self.0;
        let mut tx = s.begin_write().await?;
        let ids: Vec<i64> = ts.iter().map(|t| t.location_id.0).collect();
        let existing = s.lock_locations(&mut tx, &ids).await?;
        let mut opened = Vec::with_capacity(ts.len());
        for t in ts {
            if !existing.contains(&t.location_id.0) {
                return Err(not_found(format!("location {}", t.location_id)));
            }
            // An error drops `tx`: the whole batch is rolled back.
            opened.push(self.apply_in(&mut tx, t).await?);
        }
        tx.commit().await.map_err(|e| s.err(e))?;
        Ok(opened)
    }

    /// Applies one transition of an existing location inside the caller's transaction.
    async fn apply_in(
        &self,
        conn: &mut DB::Connection,
        t: &Transition,
    ) -> Result<Option<EventId>, StoreError> {
        let s = self.0;
        let loc = t.location_id.0;
        if let EventChange::Close {
            event_id,
            ended_at,
            cause,
        } = &t.event
        {
            let done = sqlx::query(CLOSE_EVENT_SQL)
                .bind(micros(*ended_at))
                .bind(cause.as_str())
                .bind(event_id.0)
                .bind(loc)
                .execute(&mut *conn)
                .await
                .map_err(|e| s.err(e))?;
            if S::rows_affected(&done) == 0 {
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
                let (id,): (i64,) = sqlx::query_as(INSERT_EVENT_SQL)
                    .bind(loc)
                    .bind(started_at.map(micros))
                    .bind(micros(detected_at))
                    .bind(ended_at.map(micros))
                    .bind(cause.as_str())
                    .fetch_one(&mut *conn)
                    .await
                    .map_err(|e| s.err(e))?;
                Some(EventId(id))
            }
            None => None,
        };

        if let Some(sw) = &t.interval {
            let open: Option<(i64, i64)> = sqlx::query_as(OPEN_INTERVAL_SQL)
                .bind(loc)
                .fetch_optional(&mut *conn)
                .await
                .map_err(|e| s.err(e))?;
            let mut at = micros(sw.at);
            if let Some((open_id, start)) = open {
                // Never end an interval before it began: clamp, and drop it if that leaves it
                // empty.
                at = at.max(start);
                if at == start {
                    sqlx::query(DELETE_INTERVAL_SQL)
                        .bind(open_id)
                        .execute(&mut *conn)
                        .await
                        .map_err(|e| s.err(e))?;
                } else {
                    sqlx::query(CLOSE_INTERVAL_SQL)
                        .bind(at)
                        .bind(sw.relabel_closed_as.map(IntervalKind::as_str))
                        .bind(open_id)
                        .execute(&mut *conn)
                        .await
                        .map_err(|e| s.err(e))?;
                }
            }
            sqlx::query(INSERT_INTERVAL_SQL)
                .bind(loc)
                .bind(sw.kind.as_str())
                .bind(at)
                .execute(&mut *conn)
                .await
                .map_err(|e| s.err(e))?;
        }

        sqlx::query(SET_STATUS_SQL)
            .bind(t.status.as_str())
            .bind(loc)
            .execute(&mut *conn)
            .await
            .map_err(|e| s.err(e))?;

        for n in &t.notifications {
            let mut alert = n.alert.clone();
            if alert.event_id.is_none() {
                alert.event_id = new_event;
            }
            let json = serde_json::to_string(&alert)
                .map_err(|e| StoreError::Invalid(format!("cannot encode an alert: {e}")))?;
            sqlx::query(S::Dialect::INSERT_OUTBOX_SQL)
                .bind(alert.location_id.0)
                .bind(alert.event_id.map(|e| e.0))
                .bind(n.notifier.as_str())
                .bind(n.chat.as_str())
                .bind(json)
                .bind(micros(alert.at))
                .bind(micros(alert.at))
                .execute(&mut *conn)
                .await
                .map_err(|e| s.err(e))?;
        }
        Ok(new_event)
    }

    /// [`StatusStore::list_events`](outage_core::StatusStore::list_events).
    pub async fn list_events(&self, f: &EventFilter) -> Result<Vec<PowerEvent>, StoreError> {
        let s = self.0;
        let sql = if f.location_id.is_some() {
            EVENTS_OF_LOCATION_SQL
        } else {
            EVENTS_SQL
        };
        let rows: Vec<EventRow<S::Dialect>> = sqlx::query_as(sql)
            .bind(f.location_id.map(|l| l.0))
            .bind(f.to.map(micros))
            .bind(f.from.map(micros))
            // No limit: as many as a BIGINT counts (both databases take `LIMIT` of one).
            .bind(f.limit.map_or(i64::MAX, i64::from))
            .fetch_all(s.reader())
            .await
            .map_err(|e| s.err(e))?;
        rows.into_iter().map(EventRow::into_event).collect()
    }

    /// [`StatusStore::get_event`](outage_core::StatusStore::get_event).
    pub async fn get_event(&self, id: EventId) -> Result<Option<PowerEvent>, StoreError> {
        let s = self.0;
        let row: Option<EventRow<S::Dialect>> = sqlx::query_as(EVENT_SQL)
            .bind(id.0)
            .fetch_optional(s.reader())
            .await
            .map_err(|e| s.err(e))?;
        row.map(EventRow::into_event).transpose()
    }

    /// [`StatusStore::list_intervals`](outage_core::StatusStore::list_intervals).
    pub async fn list_intervals(
        &self,
        id: LocationId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<StateInterval>, StoreError> {
        let s = self.0;
        let rows: Vec<IntervalRow<S::Dialect>> = sqlx::query_as(INTERVALS_SQL)
            .bind(id.0)
            .bind(micros(to))
            .bind(micros(from))
            .fetch_all(s.reader())
            .await
            .map_err(|e| s.err(e))?;
        rows.into_iter().map(IntervalRow::into_interval).collect()
    }

    /// [`StatusStore::message_refs`](outage_core::StatusStore::message_refs).
    pub async fn message_refs(&self, event_id: EventId) -> Result<Vec<MessageRef>, StoreError> {
        let s = self.0;
        let rows: Vec<(String, String, String)> = sqlx::query_as(MESSAGE_REFS_SQL)
            .bind(event_id.0)
            .fetch_all(s.reader())
            .await
            .map_err(|e| s.err(e))?;
        Ok(rows
            .into_iter()
            .map(|(notifier, chat, message_id)| MessageRef {
                notifier,
                chat,
                message_id,
            })
            .collect())
    }
}
