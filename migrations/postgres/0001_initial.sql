-- outage-monitor PostgreSQL schema, version 1 (the same tables as SQLite's 0001 + 0002).
--
-- Conventions (kept identical to the SQLite store, so both stores share one mental model):
-- * Every time is a BIGINT: microseconds since the Unix epoch, UTC. Exact, sortable, cheap to
--   compare; read one by hand with `to_timestamp(x / 1e6)`.
-- * Durations are BIGINT milliseconds (`timeout_ms`).
-- * Device counters (`uptime_s`, `seq`) are u64 stored as the BIGINT with the same 64 bits:
--   values above 2^63-1 read back as negative numbers in plain SQL, but round-trip exactly.
-- * Enumerations are lowercase TEXT guarded by CHECK constraints.
-- * Ids are identity columns: a deleted id is never handed out again.

CREATE TABLE locations (
    id            BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name          TEXT    NOT NULL UNIQUE,
    key_hash      TEXT    NOT NULL,  -- lowercase hex SHA-256 of the API key; the key itself is never stored
    timeout_ms    BIGINT  NOT NULL CHECK (timeout_ms >= 0),
    chat_id       TEXT,
    enabled       BOOLEAN NOT NULL DEFAULT TRUE,
    paused_until  BIGINT,
    created_at    BIGINT  NOT NULL,
    updated_at    BIGINT  NOT NULL,
    -- Runtime state, written by transitions (status) and heartbeat batches (the rest).
    status        TEXT CHECK (status IN ('unknown', 'up', 'down', 'paused')),
    last_seen     BIGINT,
    last_boot_id  TEXT,
    last_uptime_s BIGINT,
    last_seq      BIGINT,
    last_fw       TEXT,
    last_rssi     INTEGER
);

-- Raw beats, kept for the retention period. `id` only orders beats of one instant; no primary
-- key index of its own (the location/time index below carries it).
CREATE TABLE heartbeats (
    id          BIGINT  GENERATED ALWAYS AS IDENTITY,
    location_id BIGINT  NOT NULL REFERENCES locations (id) ON DELETE CASCADE,
    received_at BIGINT  NOT NULL,
    boot_id     TEXT,
    uptime_s    BIGINT,
    seq         BIGINT,
    fw          TEXT,
    rssi        INTEGER
);
CREATE INDEX heartbeats_location_time ON heartbeats (location_id, received_at, id);

-- Outages.
CREATE TABLE events (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    location_id BIGINT NOT NULL REFERENCES locations (id) ON DELETE CASCADE,
    started_at  BIGINT,           -- NULL: it began while the monitor was offline
    detected_at BIGINT NOT NULL,
    ended_at    BIGINT,           -- NULL: still going on
    cause       TEXT   NOT NULL CHECK (cause IN ('power', 'network', 'unknown'))
);
CREATE INDEX events_location ON events (location_id, id);
-- The outage in progress of each location (load_runtime, get_location).
CREATE INDEX events_open ON events (location_id, id) WHERE ended_at IS NULL;

-- State history: [start_at, end_at) per location, end_at NULL for the current interval.
CREATE TABLE intervals (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    location_id BIGINT NOT NULL REFERENCES locations (id) ON DELETE CASCADE,
    kind        TEXT   NOT NULL CHECK (kind IN ('up', 'down', 'network', 'unknown', 'paused')),
    start_at    BIGINT NOT NULL,
    end_at      BIGINT,
    CHECK (end_at IS NULL OR end_at > start_at)
);
CREATE INDEX intervals_location_start ON intervals (location_id, start_at);
-- At most one open interval per location.
CREATE UNIQUE INDEX intervals_one_open ON intervals (location_id) WHERE end_at IS NULL;

-- Notification outbox. Rows of one (notifier, chat) queue are delivered in id order.
-- location_id / event_id copy the alert's ids for deletes and message refs; no foreign key,
-- so an alert about anything can be queued.
CREATE TABLE outbox (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    location_id     BIGINT NOT NULL,
    event_id        BIGINT,
    notifier        TEXT   NOT NULL,
    chat            TEXT   NOT NULL,
    alert           JSONB  NOT NULL,  -- outage_core::Alert
    status          TEXT   NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    created_at      BIGINT NOT NULL,
    finished_at     BIGINT,
    last_error      TEXT
);
-- Head of each queue: MIN(id) per (notifier, chat) among pending rows.
CREATE INDEX outbox_pending_queue ON outbox (notifier, chat, id) WHERE status = 'pending';
CREATE INDEX outbox_location ON outbox (location_id);
CREATE INDEX outbox_finished ON outbox (finished_at) WHERE status <> 'pending';

-- Where delivered messages went, so later alerts about the same outage edit or reply to them.
CREATE TABLE event_messages (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id   BIGINT NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    notifier   TEXT   NOT NULL,
    chat       TEXT   NOT NULL,
    message_id TEXT   NOT NULL,
    UNIQUE (event_id, notifier, chat, message_id)
);

-- Small facts about the monitor itself (monitor_alive_at: a time).
CREATE TABLE meta (
    key   TEXT   PRIMARY KEY,
    value BIGINT NOT NULL
);

-- The weekly diagram posted to each chat, so a restart edits it instead of posting a new one.
-- Goes with its location.
CREATE TABLE diagram_messages (
    location_id BIGINT NOT NULL REFERENCES locations (id) ON DELETE CASCADE,
    notifier    TEXT   NOT NULL,
    chat        TEXT   NOT NULL,
    message_id  TEXT   NOT NULL,
    posted_at   BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (location_id, notifier, chat)
);

-- Read-API tokens. Only the hash is stored; lookups go by hash (its UNIQUE index).
CREATE TABLE api_tokens (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       TEXT   NOT NULL UNIQUE,
    hash       TEXT   NOT NULL UNIQUE,  -- lowercase hex SHA-256 of the token
    created_at BIGINT NOT NULL
);
