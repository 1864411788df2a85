//! Every JSON shape the CLI prints, in one place (a later step replaces them with the shared
//! `outage_core` view types). Their output is part of the CLI contract: field names, order and
//! formats stay as they are.

use chrono::{DateTime, Utc};
use outage_core::registry::PluginDescriptor;
use outage_core::store::LocationRecord;
use outage_core::{ApiToken, User};
use serde_json::json;

use crate::context::rfc3339;

/// A time or `null`.
pub fn opt_time(t: Option<DateTime<Utc>>) -> serde_json::Value {
    t.map_or(serde_json::Value::Null, |t| json!(rfc3339(t)))
}

/// A location as `location list|show|edit --json` print it.
pub fn location_json(r: &LocationRecord, now: DateTime<Utc>) -> serde_json::Value {
    let l = &r.location;
    json!({
        "id": l.id.0,
        "name": l.name,
        "status": r.shown_status(now).as_str(),
        "last_seen": opt_time(r.runtime.last_seen),
        "timeout_s": l.timeout.as_secs(),
        "chat_id": l.chat_id,
        "enabled": l.enabled,
        "paused_until": opt_time(l.paused_until),
        "created_at": rfc3339(l.created_at),
    })
}

/// An outage as `outage list --json` and `location show --json` print it.
pub fn event_json(e: &outage_core::PowerEvent, location: &str) -> serde_json::Value {
    json!({
        "id": e.id.0,
        "location": location,
        "location_id": e.location_id.0,
        "started_at": opt_time(e.started_at),
        "detected_at": rfc3339(e.detected_at),
        "ended_at": opt_time(e.ended_at),
        "cause": e.cause.as_str(),
        "duration_s": e.started_at.zip(e.ended_at).map(|(s, end)| (end - s).num_seconds()),
    })
}

/// A panel user as `user list --json` prints it: never the password hash.
pub fn user_json(u: &User) -> serde_json::Value {
    json!({
        "id": u.id.0,
        "name": u.name,
        "role": u.role.as_str(),
        "created_at": rfc3339(u.created_at),
    })
}

/// An API token as `token list --json` prints it: never the token or its hash.
pub fn token_json(t: &ApiToken) -> serde_json::Value {
    json!({
        "id": t.id.0,
        "name": t.name,
        "created_at": rfc3339(t.created_at),
    })
}

/// A plugin as `plugins list --json` prints it.
pub fn plugin_json(d: &PluginDescriptor) -> serde_json::Value {
    json!({
        "kind": d.kind.as_str(),
        "name": d.name,
        "description": d.description,
        "example_config": d.example_config,
    })
}
