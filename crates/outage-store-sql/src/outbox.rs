//! Outbox reads that are the same statement and the same Rust on every SQL store.

use sqlx::{Database, Executor, FromRow, IntoArguments};

use outage_core::store::{NotifierOutboxStats, StoreError};

use crate::{NotifierOutboxRow, Shared, SqlStore};

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

impl<S, DB> Shared<'_, S>
where
    S: SqlStore<Db = DB>,
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'r> NotifierOutboxRow<S::Dialect>: FromRow<'r, DB::Row>,
{
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
}
