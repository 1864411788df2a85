-- outage-monitor SQLite schema, version 1.
--
-- Conventions:
-- * Every time is an INTEGER: microseconds since the Unix epoch, UTC. Exact (the precision
--   PostgreSQL keeps too), sortable, and cheap to compare; read one by hand with
--   `datetime(x / 1000000, 'unixepoch')`.
-- * Durations are INTEGER milliseconds (`timeout_ms`).
-- * Device counters (`uptime_s`, `seq`) are u64 stored as the INTEGER with the same 64 bits:
--   values above 2^63-1 read back as negative numbers in plain SQL, but round-trip exactly.
-- * Enumerations are lowercase TEXT guarded by CHECK constraints.
-- * Ids that leave the database (locations, events, outbox rows) use AUTOINCREMENT so a deleted
--   id is never handed out again.

CREATE TABLE locations (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    name          TEXT    NOT NULL UNIQUE,
    key_hash      TEXT    NOT NULL,  -- lowercase hex SHA-256 of the API key; the key itself is never stored
    timeout_ms    INTEGER NOT NULL CHECK (timeout_ms >= 0),
    chat_id       TEXT,
    enabled       INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    paused_until  INTEGER,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    -- Runtime state, written by transitions (status) and heartbeat batches (the rest).
    status        TEXT CHECK (status IN ('unknown', 'up', 'down', 'paused')),
    last_seen     INTEGER,
    last_boot_id  TEXT,
    last_uptime_s INTEGER,
    last_seq      INTEGER,
    last_fw       TEXT,
    last_rssi     INTEGER
);

-- Raw beats, kept for the retention period. No primary key of their own: the rowid is enough.
CREATE TABLE heartbeats (
    location_id INTEGER NOT NULL REFERENCES locations (id) ON DELETE CASCADE,
    received_at INTEGER NOT NULL,
    boot_id     TEXT,
    uptime_s    INTEGER,
    seq         INTEGER,
    fw          TEXT,
    rssi        INTEGER
);
CREATE INDEX heartbeats_location_time ON heartbeats (location_id, received_at);

-- Outages.
CREATE TABLE events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    location_id INTEGER NOT NULL REFERENCES locations (id) ON DELETE CASCADE,
    started_at  INTEGER,           -- NULL: it began while the monitor was offline
    detected_at INTEGER NOT NULL,
    ended_at    INTEGER,           -- NULL: still going on
    cause       TEXT    NOT NULL CHECK (cause IN ('power', 'network', 'unknown'))
);
CREATE INDEX events_location ON events (location_id, id);
-- The outage in progress of each location (load_runtime, get_location).
CREATE INDEX events_open ON events (location_id, id) WHERE ended_at IS NULL;

-- State history: [start_at, end_at) per location, end_at NULL for the current interval.
CREATE TABLE intervals (
    id          INTEGER PRIMARY KEY,
    location_id INTEGER NOT NULL REFERENCES locations (id) ON DELETE CASCADE,
    kind        TEXT    NOT NULL CHECK (kind IN ('up', 'down', 'network', 'unknown', 'paused')),
    start_at    INTEGER NOT NULL,
    end_at      INTEGER,
    CHECK (end_at IS NULL OR end_at > start_at)
);
CREATE INDEX intervals_location_start ON intervals (location_id, start_at);
-- At most one open interval per location.
CREATE UNIQUE INDEX intervals_one_open ON intervals (location_id) WHERE end_at IS NULL;

-- Notification outbox. Rows of one (notifier, chat) queue are delivered in id order.
-- location_id / event_id copy the alert's ids for deletes and message refs; no foreign key,
-- so an alert about anything can be queued.
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    location_id     INTEGER NOT NULL,
    event_id        INTEGER,
    notifier        TEXT    NOT NULL,
    chat            TEXT    NOT NULL,
    alert           TEXT    NOT NULL,  -- JSON of outage_core::Alert
    status          TEXT    NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    finished_at     INTEGER,
    last_error      TEXT
);
-- Head of each queue: MIN(id) per (notifier, chat) among pending rows.
CREATE INDEX outbox_pending_queue ON outbox (notifier, chat, id) WHERE status = 'pending';
CREATE INDEX outbox_location ON outbox (location_id);
CREATE INDEX outbox_finished ON outbox (finished_at) WHERE status <> 'pending';

-- Where delivered messages went, so later alerts about the same outage edit or reply to them.
CREATE TABLE event_messages (
    id         INTEGER PRIMARY KEY,
    event_id   INTEGER NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    notifier   TEXT    NOT NULL,
    chat       TEXT    NOT NULL,
    message_id TEXT    NOT NULL,
    UNIQUE (event_id, notifier, chat, message_id)
);

-- Small facts about the monitor itself (monitor_alive_at: INTEGER time).
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value
) WITHOUT ROWID;
