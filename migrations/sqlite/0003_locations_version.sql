-- outage-monitor SQLite schema, version 3: a version number of the location settings.
-- Additive only (a `meta` row and three triggers); the conventions of 0001_initial.sql apply.
--
-- `meta.locations_version` changes whenever a location is created, deleted, or one of its
-- settings is written (name, key_hash, timeout_ms, chat_id, enabled, paused_until; updated_at
-- only moves with them), by whichever process. Runtime columns (status, last_seen, last_*),
-- written by heartbeat batches and transitions, leave it alone. A running `serve` reads it every
-- few seconds and lists the locations only when it moved (StatusStore::locations_version).
-- Triggers, not the store's code, bump it, so no writer can forget to.

INSERT INTO meta (key, value) VALUES ('locations_version', 0) ON CONFLICT (key) DO NOTHING;

CREATE TRIGGER locations_version_on_insert AFTER INSERT ON locations
BEGIN
    UPDATE meta SET value = value + 1 WHERE key = 'locations_version';
END;

CREATE TRIGGER locations_version_on_delete AFTER DELETE ON locations
BEGIN
    UPDATE meta SET value = value + 1 WHERE key = 'locations_version';
END;

-- `UPDATE OF`: fires when one of these columns is assigned (even to the same value), never for
-- statements that set only runtime columns.
CREATE TRIGGER locations_version_on_settings
AFTER UPDATE OF name, key_hash, timeout_ms, chat_id, enabled, paused_until ON locations
BEGIN
    UPDATE meta SET value = value + 1 WHERE key = 'locations_version';
END;
