//! The statements both SQL stores run word for word (sqlx's SQLite driver reads `$N`
//! placeholders as PostgreSQL does). They are public so a store can check how its database
//! plans them (SQLite: `EXPLAIN QUERY PLAN` in its tests).
//!
//! Times are microseconds since the Unix epoch, so every bound time is an `i64`.

use crate::Dialect;

/// The columns of a location record plus its open event (the newest event without an end).
macro_rules! record_select {
    () => {
        "SELECT l.id, l.name, l.key_hash, l.timeout_ms, l.chat_id, l.routes, l.enabled, l.paused_until, \
         l.created_at, l.updated_at, l.status, l.last_seen, l.last_boot_id, l.last_uptime_s, \
         l.last_seq, l.last_fw, l.last_rssi, \
         e.id AS ev_id, e.started_at AS ev_started_at, e.detected_at AS ev_detected_at, \
         e.cause AS ev_cause \
         FROM locations l LEFT JOIN events e ON e.id = \
           (SELECT MAX(o.id) FROM events o WHERE o.location_id = l.id AND o.ended_at IS NULL)"
    };
}

/// Every location record, by id.
pub const RECORDS_SQL: &str = concat!(record_select!(), " ORDER BY l.id");

/// One location record: `$1` its id.
pub const RECORD_SQL: &str = concat!(record_select!(), " WHERE l.id = $1");

/// The pending queue heads (the oldest pending row of each notifier and chat) that are due at
/// `$1`, at most `$2`. They come from the partial index of pending rows only, so delivered
/// rows kept until retention cost nothing here.
pub const CLAIM_SQL: &str = concat!(
    "SELECT o.id, o.notifier, o.chat, CAST(o.alert AS TEXT) AS alert, o.attempts, ",
    "o.created_at FROM ",
    "(SELECT MIN(id) AS head FROM outbox WHERE status = 'pending' GROUP BY notifier, chat) h ",
    "JOIN outbox o ON o.id = h.head ",
    "WHERE o.next_attempt_at <= $1 ORDER BY o.id LIMIT $2"
);

/// The first `$3` pending rows of the queue of notifier `$1` and chat `$2`, oldest first.
pub const CLAIM_QUEUE_SQL: &str = concat!(
    "SELECT id, notifier, chat, CAST(alert AS TEXT) AS alert, attempts, created_at, ",
    "next_attempt_at FROM outbox ",
    "WHERE status = 'pending' AND notifier = $1 AND chat = $2 ORDER BY id LIMIT $3"
);

/// When the earliest queue head is due.
pub const NEXT_DUE_SQL: &str = concat!(
    "SELECT MIN(o.next_attempt_at) FROM ",
    "(SELECT MIN(id) AS head FROM outbox WHERE status = 'pending' GROUP BY notifier, chat) h ",
    "JOIN outbox o ON o.id = h.head"
);

/// Raw beats older than `$3` of the locations with ids in (`$1`, `$2`].
pub const PRUNE_BEATS_SQL: &str = concat!(
    "DELETE FROM heartbeats WHERE location_id IN ",
    "(SELECT id FROM locations WHERE id > $1 AND id <= $2) AND received_at < $3"
);

/// The id of the `$2`-th location after id `$1` (0-based): where a slice of the retention
/// delete ends.
pub const PRUNE_SLICE_END_SQL: &str =
    "SELECT id FROM locations WHERE id > $1 ORDER BY id LIMIT 1 OFFSET $2";

/// Finished outbox rows that finished before `$1`.
pub const PRUNE_OUTBOX_SQL: &str =
    "DELETE FROM outbox WHERE status <> 'pending' AND finished_at < $1";

/// The intervals of location `$1` that overlap [`$3`, `$2`), by start.
pub const INTERVALS_SQL: &str = concat!(
    "SELECT location_id, kind, start_at, end_at FROM intervals ",
    "WHERE location_id = $1 AND start_at < $2 AND (end_at IS NULL OR end_at > $3) ",
    "ORDER BY start_at"
);

// Two fixed statements for events rather than `$1 IS NULL OR location_id = $1`, so the
// location filter uses its index. `$2`: started before, `$3`: ended at or after (both may be
// NULL), `$4`: the limit.

/// The events of location `$1`, newest first.
pub const EVENTS_OF_LOCATION_SQL: &str = concat!(
    "SELECT id, location_id, started_at, detected_at, ended_at, cause FROM events ",
    "WHERE location_id = $1 ",
    "AND (CAST($2 AS BIGINT) IS NULL OR COALESCE(started_at, detected_at) < $2) ",
    "AND (CAST($3 AS BIGINT) IS NULL OR ended_at IS NULL OR ended_at >= $3) ",
    "ORDER BY id DESC LIMIT $4"
);

/// The events of every location (`$1` is NULL), newest first.
pub const EVENTS_SQL: &str = concat!(
    "SELECT id, location_id, started_at, detected_at, ended_at, cause FROM events ",
    "WHERE CAST($1 AS BIGINT) IS NULL ",
    "AND (CAST($2 AS BIGINT) IS NULL OR COALESCE(started_at, detected_at) < $2) ",
    "AND (CAST($3 AS BIGINT) IS NULL OR ended_at IS NULL OR ended_at >= $3) ",
    "ORDER BY id DESC LIMIT $4"
);

/// Locations per retention delete, so each statement walks the (location, time) index and
/// heartbeat batches interleave with a long prune.
pub const PRUNE_LOCATIONS_PER_STEP: i64 = 1000;

/// A statement written twice: as SQLite runs it, and with the `FOR KEY SHARE` lock that
/// PostgreSQL takes on the row it depends on, so the row stays until the statement commits.
macro_rules! key_share_pair {
    ($head:literal, $tail:literal) => {
        [
            concat!($head, $tail),
            concat!($head, " FOR KEY SHARE", $tail),
        ]
    };
}

/// The statement of `pair` for dialect `D` (see [`Dialect::KEY_SHARE`]).
pub fn key_share<D: Dialect>(pair: [&'static str; 2]) -> &'static str {
    pair[usize::from(D::KEY_SHARE)]
}

/// Marks outbox row `$2` delivered at `$1` and returns its event.
pub const DELIVERED_SQL: &str = "UPDATE outbox SET status = 'delivered', finished_at = $1 \
     WHERE id = $2 RETURNING event_id";

/// Records message `$4` of notifier `$2` in chat `$3` for event `$1`, unless the event is gone
/// (a deleted event needs no reference) or it is recorded already.
pub const EVENT_MESSAGE_SQL: [&str; 2] = key_share_pair!(
    "INSERT INTO event_messages (event_id, notifier, chat, message_id) \
     SELECT $1, $2, $3, $4 WHERE EXISTS (SELECT 1 FROM events WHERE id = $1",
    ") ON CONFLICT DO NOTHING"
);

/// Saves (or replaces) the diagram message of location `$1`, notifier `$2`, chat `$3`: one
/// statement, so the location check and the upsert cannot be torn apart by a delete.
pub const SAVE_DIAGRAM_SQL: [&str; 2] = key_share_pair!(
    "INSERT INTO diagram_messages (location_id, notifier, chat, message_id, posted_at, \
     updated_at) SELECT $1, $2, $3, $4, $5, $6 \
     WHERE EXISTS (SELECT 1 FROM locations WHERE id = $1",
    ") ON CONFLICT (location_id, notifier, chat) DO UPDATE SET \
     message_id = excluded.message_id, posted_at = excluded.posted_at, \
     updated_at = excluded.updated_at"
);
