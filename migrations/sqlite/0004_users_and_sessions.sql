-- outage-monitor SQLite schema, version 4: users and sessions of the admin panel.
-- Additive only (two new tables); the conventions of 0001_initial.sql apply. Neither table is
-- a location setting, so no trigger bumps `meta.locations_version` for them.

-- Admin-panel users. Only the argon2id PHC string of the password is kept.
CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    name          TEXT    NOT NULL UNIQUE,
    role          TEXT    NOT NULL CHECK (role IN ('admin', 'viewer')),
    password_hash TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);

-- Logged-in sessions. The cookie holds a random token; only its hash is stored, as for API
-- tokens. They go with their user.
CREATE TABLE sessions (
    token_hash TEXT    PRIMARY KEY,  -- lowercase hex SHA-256 of the session token
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
-- prune_sessions deletes by expiry; a password change or a user's deletion by user.
CREATE INDEX sessions_expires ON sessions (expires_at);
CREATE INDEX sessions_user ON sessions (user_id);
