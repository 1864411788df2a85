//! Every JSON shape the CLI prints, in one place. Locations, outages and availability rows are
//! the shared [`outage_core::view`] types, which the read API serializes too. Their output is
//! part of the CLI contract: field names, order and formats stay as they are.

use chrono::{DateTime, Utc};
use outage_core::availability::AvailabilityRow;
use outage_core::registry::PluginDescriptor;
use outage_core::store::LocationRecord;
use outage_core::view::{AvailabilityView, LocationView, OutageView};
use outage_core::{ApiToken, User};
use serde_json::json;

use crate::context::rfc3339;

/// A location as `location list|show|edit --json` print it: the shared view.
pub fn location_json(r: &LocationRecord, now: DateTime<Utc>) -> serde_json::Value {
    LocationView::new(r, now).to_value()
}

/// An outage as `outage list --json` and `location show --json` print it: the shared view.
pub fn event_json(e: &outage_core::PowerEvent, location: &str) -> serde_json::Value {
    OutageView::new(e, location).to_value()
}

/// An availability row as `report --format json` prints it: the shared view.
pub fn availability_json(row: &AvailabilityRow, location: &str) -> serde_json::Value {
    AvailabilityView::new(row, location).to_value()
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
