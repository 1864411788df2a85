-- Where a location's alerts go: a JSON array of routes, each "instance" or "instance:chat"
-- (outage_core::Route). Empty: every configured notifier, as before.
ALTER TABLE locations ADD COLUMN routes TEXT NOT NULL DEFAULT '[]';

-- Routes are a setting: writing them moves meta.locations_version like the others.
DROP TRIGGER locations_version_on_settings;
CREATE TRIGGER locations_version_on_settings
AFTER UPDATE OF name, key_hash, timeout_ms, chat_id, routes, enabled, paused_until ON locations
BEGIN
    UPDATE meta SET value = value + 1 WHERE key = 'locations_version';
END;
