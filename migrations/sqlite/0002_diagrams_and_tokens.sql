-- outage-monitor SQLite schema, version 2: weekly diagram messages and read-API tokens.
-- Additive only (two new tables); the conventions of 0001_initial.sql apply.

-- The weekly diagram posted to each chat, so a restart edits it instead of posting a new one.
-- Goes with its location.
CREATE TABLE diagram_messages (
    location_id INTEGER NOT NULL REFERENCES locations (id) ON DELETE CASCADE,
    notifier    TEXT    NOT NULL,
    chat        TEXT    NOT NULL,
    message_id  TEXT    NOT NULL,
    posted_at   INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (location_id, notifier, chat)
) WITHOUT ROWID;

-- Read-API tokens. Only the hash is stored; lookups go by hash (its UNIQUE index).
CREATE TABLE api_tokens (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT    NOT NULL UNIQUE,
    hash       TEXT    NOT NULL UNIQUE,  -- lowercase hex SHA-256 of the token
    created_at INTEGER NOT NULL
);
