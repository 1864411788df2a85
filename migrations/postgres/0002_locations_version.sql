-- outage-monitor PostgreSQL schema, version 2: a version number of the location settings (the
-- same as SQLite's 0003). Additive only (a `meta` row, a function and a trigger).
--
-- `meta.locations_version` changes whenever a location is created, deleted, or one of its
-- settings is written (name, key_hash, timeout_ms, chat_id, enabled, paused_until; updated_at
-- only moves with them), by whichever process. Runtime columns (status, last_seen, last_*),
-- written by heartbeat batches and transitions, leave it alone. A running `serve` reads it every
-- few seconds and lists the locations only when it moved (StatusStore::locations_version).
-- A trigger, not the store's code, bumps it, so no writer can forget to. The row lock it takes
-- is held only by these rare setting changes (heartbeats write the `monitor_alive_at` row).

INSERT INTO meta (key, value) VALUES ('locations_version', 0) ON CONFLICT (key) DO NOTHING;

CREATE FUNCTION bump_locations_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE meta SET value = value + 1 WHERE key = 'locations_version';
    RETURN NULL;
END;
$$;

-- `UPDATE OF`: fires when one of these columns is assigned (even to the same value), never for
-- statements that set only runtime columns.
CREATE TRIGGER locations_version
AFTER INSERT OR DELETE OR UPDATE OF name, key_hash, timeout_ms, chat_id, enabled, paused_until
ON locations FOR EACH ROW EXECUTE FUNCTION bump_locations_version();
