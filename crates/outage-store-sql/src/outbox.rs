//! The outbox: claiming, completing, retrying and failing rows, and its statistics — the same
//! statements and the same Rust on every SQL store, written once over any sqlx driver.

use std::marker::PhantomData;

use chrono::{DateTime, Utc};
use outage_core::domain::MessageRef;
use outage_core::store::{NotifierOutboxStats, OutboxId, OutboxItem, OutboxStats, StoreError};
use outage_core::store_support::{micros, not_found};

use crate::sql::{
    CLAIM_QUEUE_SQL, CLAIM_SQL, DELIVERED_SQL, EVENT_MESSAGE_SQL, NEXT_DUE_SQL, key_share,
};
use crate::{Dialect, NotifierOutboxRow, OutboxRow, QueueRow};

const RETRY_SQL: &str = "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = $1, \
     last_error = $2 WHERE id = $3";

/// No clock is passed: the row counts as finished when it was last due.
const FAIL_SQL: &str = "UPDATE outbox SET attempts = attempts + 1, status = 'failed', \
     finished_at = next_attempt_at, last_error = $1 WHERE id = $2";

const STATS_SQL: &str = "SELECT status, COUNT(*) FROM outbox GROUP BY status";

/// Counts per notifier and state, and the error of each notifier's newest failed row (by due
/// time, then id), in one statement. The times are the `next_attempt_at` of that row: the
/// outbox keeps no time of a failed attempt (see [`NotifierOutboxStats::last_error_at`]).
const OUTBOX_BY_NOTIFIER_SQL: &str = concat!(
    "SELECT o.notifier AS notifier, ",
    "COUNT(CASE WHEN o.status = 'pending' THEN 1 END) AS pending, ",
    "COUNT(CASE WHEN o.status = 'delivered' THEN 1 END) AS delivered, ",
    "COUNT(CASE WHEN o.status = 'failed' THEN 1 END) AS failed, ",
    "e.last_error AS last_error, e.next_attempt_at AS last_error_at ",
    "FROM outbox o LEFT JOIN (",
    "SELECT notifier, last_error, next_attempt_at, ROW_NUMBER() OVER ",
    "(PARTITION BY notifier ORDER BY next_attempt_at DESC, id DESC) AS newest ",
    "FROM outbox WHERE last_error IS NOT NULL",
    ") e ON e.notifier = o.notifier AND e.newest = 1 ",
    "GROUP BY o.notifier, e.last_error, e.next_attempt_at"
);

shared_impl! {
    /// [`StatusStore::outbox_by_notifier`](outage_core::StatusStore::outbox_by_notifier): by
    /// name in the byte order of the names, whatever the database's collation.
    pub async fn outbox_by_notifier(&self) -> Result<Vec<NotifierOutboxStats>, StoreError> {
        let s = self.0;
        let rows: Vec<NotifierOutboxRow<S::Dialect>> = sqlx::query_as(OUTBOX_BY_NOTIFIER_SQL)
            .fetch_all(s.reader())
            .await
            .map_err(|e| s.err(e))?;
        let mut stats = rows
            .into_iter()
            .map(NotifierOutboxRow::into_stats)
            .collect::<Result<Vec<_>, _>>()?;
        stats.sort_by(|a, b| a.notifier.cmp(&b.notifier));
        Ok(stats)
    }

    /// [`StatusStore::claim_notifications`](outage_core::StatusStore::claim_notifications).
    pub async fn claim_notifications(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<OutboxItem>, StoreError> {
        let s = self.0;
        let rows: Vec<OutboxRow<S::Dialect>> = sqlx::query_as(CLAIM_SQL)
            .bind(micros(now))
            .bind(i64::from(limit))
            .fetch_all(s.reader())
            .await
            .map_err(|e| s.err(e))?;
        rows.into_iter().map(OutboxRow::into_item).collect()
    }

    /// [`StatusStore::claim_queue`](outage_core::StatusStore::claim_queue): one statement, so
    /// one snapshot of the queue; rows from the head on while they are due.
    pub async fn claim_queue(
        &self,
        notifier: &str,
        chat: &str,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<OutboxItem>, StoreError> {
        let s = self.0;
        let rows: Vec<QueueRow> = sqlx::query_as(CLAIM_QUEUE_SQL)
            .bind(notifier)
            .bind(chat)
            .bind(i64::from(limit))
            .fetch_all(s.reader())
            .await
            .map_err(|e| s.err(e))?;
        let now = micros(now);
        rows.into_iter()
            .take_while(|r| r.6 <= now)
            .map(|(id, notifier, chat, alert, attempts, created_at, _)| {
                OutboxRow::<S::Dialect> {
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

    /// [`StatusStore::complete_notification`](outage_core::StatusStore::complete_notification):
    /// the row delivered and the message recorded for its event, in one transaction.
    pub async fn complete_notification(
        &self,
        id: OutboxId,
        delivered: Option<&MessageRef>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let s = self.0;
        let mut tx = s.begin_write().await?;
        let event: Option<(Option<i64>,)> = sqlx::query_as(DELIVERED_SQL)
            .bind(micros(now))
            .bind(id.0)
            .fetch_optional(&mut *tx)
            .await
            .map_err(s.e())?;
        let Some((event,)) = event else {
            return Err(not_found(format!("notification {}", id.0)));
        };
        if let (Some(event), Some(msg)) = (event, delivered) {
            sqlx::query(key_share::<S::Dialect>(EVENT_MESSAGE_SQL))
                .bind(event)
                .bind(msg.notifier.as_str())
                .bind(msg.chat.as_str())
                .bind(msg.message_id.as_str())
                .execute(&mut *tx)
                .await
                .map_err(s.e())?;
        }
        tx.commit().await.map_err(s.e())
    }

    /// [`StatusStore::retry_notification`](outage_core::StatusStore::retry_notification).
    pub async fn retry_notification(
        &self,
        id: OutboxId,
        next_attempt_at: DateTime<Utc>,
        error: &str,
    ) -> Result<(), StoreError> {
        let s = self.0;
        let done = sqlx::query(RETRY_SQL)
            .bind(micros(next_attempt_at))
            .bind(error)
            .bind(id.0)
            .execute(s.writer())
            .await
            .map_err(|e| s.err(e))?;
        if S::rows_affected(&done) == 0 {
            return Err(not_found(format!("notification {}", id.0)));
        }
        Ok(())
    }

    /// [`StatusStore::fail_notification`](outage_core::StatusStore::fail_notification).
    pub async fn fail_notification(&self, id: OutboxId, error: &str) -> Result<(), StoreError> {
        let s = self.0;
        let done = sqlx::query(FAIL_SQL)
            .bind(error)
            .bind(id.0)
            .execute(s.writer())
            .await
            .map_err(|e| s.err(e))?;
        if S::rows_affected(&done) == 0 {
            return Err(not_found(format!("notification {}", id.0)));
        }
        Ok(())
    }

    /// [`StatusStore::next_notification_due`](outage_core::StatusStore::next_notification_due).
    pub async fn next_notification_due(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let s = self.0;
        let (due,): (Option<i64>,) = sqlx::query_as(NEXT_DUE_SQL)
            .fetch_one(s.reader())
            .await
            .map_err(|e| s.err(e))?;
        due.map(|v| S::Dialect::time(v, "outbox.next_attempt_at"))
            .transpose()
    }

    /// [`StatusStore::outbox_stats`](outage_core::StatusStore::outbox_stats).
    pub async fn outbox_stats(&self) -> Result<OutboxStats, StoreError> {
        let s = self.0;
        let rows: Vec<(String, i64)> = sqlx::query_as(STATS_SQL)
            .fetch_all(s.reader())
            .await
            .map_err(|e| s.err(e))?;
        let mut stats = OutboxStats::default();
        for (status, n) in rows {
            let n = u64::try_from(n)
                .map_err(|_| S::Dialect::corrupt(format!("outbox count {n}")))?;
            match status.as_str() {
                "pending" => stats.pending = n,
                "delivered" => stats.delivered = n,
                "failed" => stats.failed = n,
                other => return Err(S::Dialect::corrupt(format!("outbox.status `{other}`"))),
            }
        }
        Ok(stats)
    }
}
