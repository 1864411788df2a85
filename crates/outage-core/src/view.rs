//! The public JSON shapes of a location, an outage and an availability row, in one place.
//!
//! `outage-monitor … --json`, the read API (`/api/v1/locations…`) and the admin panel's status
//! feed all serialize these types, and the read API's OpenAPI document takes its schemas from
//! [`LocationView::schema`], [`OutageView::schema`] and [`AvailabilityView::schema`], so a field
//! is added in one file or nowhere. Times are RFC 3339 UTC with whole seconds
//! (`2026-03-01T12:00:00Z`), or `null`.
//!
//! Fields are declared in alphabetical order: that is the order the CLI and the read API have
//! always printed them in (sorted object keys), and scripts that compare output keep working.
//!
//! ```
//! use chrono::{TimeZone, Utc};
//! use outage_core::view::OutageView;
//! use outage_core::{Cause, EventId, LocationId, PowerEvent};
//!
//! let t = |h| Utc.with_ymd_and_hms(2026, 3, 1, h, 0, 0).unwrap();
//! let e = PowerEvent {
//!     id: EventId(7),
//!     location_id: LocationId(1),
//!     started_at: Some(t(10)),
//!     detected_at: t(10),
//!     ended_at: Some(t(12)),
//!     cause: Cause::Power,
//! };
//! let json = serde_json::to_string(&OutageView::new(&e, "Home")).unwrap();
//! assert!(json.contains(r#""duration_s":7200"#));
//! assert!(json.contains(r#""started_at":"2026-03-01T10:00:00Z""#));
//! ```

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::{Value, json};

use crate::availability::AvailabilityRow;
use crate::domain::{PowerEvent, Status};
use crate::store::LocationRecord;

/// A time as every view writes it: RFC 3339, UTC, whole seconds.
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn opt_rfc3339(t: Option<DateTime<Utc>>) -> Option<String> {
    t.map(rfc3339)
}

/// The OpenAPI type of a time that may be `null`.
fn nullable_time(description: Option<&str>) -> Value {
    let mut v = json!({ "type": ["string", "null"], "format": "date-time" });
    if let Some(d) = description {
        v["description"] = json!(d);
    }
    v
}

/// An object schema whose every property is required and no other is allowed.
fn object_schema(properties: Value) -> Value {
    let required: Vec<&String> = properties
        .as_object()
        .map(|o| o.keys().collect())
        .unwrap_or_default();
    json!({
        "type": "object",
        "required": required,
        "additionalProperties": false,
        "properties": properties,
    })
}

/// A location: `location list|show --json`, `GET /api/v1/locations[/{id}]`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LocationView {
    /// Telegram chat override of this location, or `null` for the notifier's default.
    pub chat_id: Option<String>,
    /// When the location was created.
    pub created_at: String,
    /// `false` while the location is switched off (its beats are refused).
    pub enabled: bool,
    /// Location id.
    pub id: i64,
    /// The last heartbeat, or `null` before the first.
    pub last_seen: Option<String>,
    /// Location name.
    pub name: String,
    /// End of the current pause, or `null`.
    pub paused_until: Option<String>,
    /// Where alerts go, each `instance` or `instance:chat`; empty: every configured notifier.
    pub routes: Vec<String>,
    /// `up`, `down`, `unknown` or `paused`.
    pub status: &'static str,
    /// Seconds without a heartbeat before an outage is declared.
    pub timeout_s: u64,
}

impl LocationView {
    /// The view of a stored location with the status shown at `now` (a pause that has ended
    /// no longer shows; see [`LocationRecord::shown_status`]).
    pub fn new(r: &LocationRecord, now: DateTime<Utc>) -> Self {
        Self::with_status(r, r.shown_status(now), r.runtime.last_seen)
    }

    /// The view with a status and last heartbeat known better than the store's, such as the
    /// running engine's live ones.
    pub fn with_status(
        r: &LocationRecord,
        status: Status,
        last_seen: Option<DateTime<Utc>>,
    ) -> Self {
        let l = &r.location;
        Self {
            chat_id: l.chat_id.clone(),
            created_at: rfc3339(l.created_at),
            enabled: l.enabled,
            id: l.id.0,
            last_seen: opt_rfc3339(last_seen),
            name: l.name.clone(),
            paused_until: opt_rfc3339(l.paused_until),
            routes: l.routes.iter().map(ToString::to_string).collect(),
            status: status.as_str(),
            timeout_s: l.timeout.as_secs(),
        }
    }

    /// The view as a JSON value.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// Its JSON Schema (OpenAPI 3.1).
    pub fn schema() -> Value {
        object_schema(json!({
            "id": { "type": "integer", "format": "int64" },
            "name": { "type": "string" },
            "status": { "type": "string", "enum": ["up", "down", "unknown", "paused"] },
            "last_seen": nullable_time(None),
            "timeout_s": { "type": "integer", "minimum": 0 },
            "chat_id": { "type": ["string", "null"] },
            "enabled": { "type": "boolean" },
            "paused_until": nullable_time(None),
            "routes": { "type": "array", "items": { "type": "string" } },
            "created_at": { "type": "string", "format": "date-time" }
        }))
    }
}

/// An outage (or network drop): `outage list --json`, `location show --json`,
/// `GET /api/v1/locations/{id}/events`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutageView {
    /// `power`, `network` or `unknown`.
    pub cause: &'static str,
    /// When the monitor declared it.
    pub detected_at: String,
    /// Seconds from start to end, `null` while it lasts or when the start is unknown.
    pub duration_s: Option<i64>,
    /// When it ended, `null` while it lasts.
    pub ended_at: Option<String>,
    /// Event id.
    pub id: i64,
    /// Location name.
    pub location: String,
    /// Location id.
    pub location_id: i64,
    /// Last heartbeat before the gap, `null` when unknown.
    pub started_at: Option<String>,
}

impl OutageView {
    /// The view of an event of the location called `location`.
    pub fn new(e: &PowerEvent, location: &str) -> Self {
        Self {
            cause: e.cause.as_str(),
            detected_at: rfc3339(e.detected_at),
            duration_s: e
                .started_at
                .zip(e.ended_at)
                .map(|(s, end)| (end - s).num_seconds()),
            ended_at: opt_rfc3339(e.ended_at),
            id: e.id.0,
            location: location.to_string(),
            location_id: e.location_id.0,
            started_at: opt_rfc3339(e.started_at),
        }
    }

    /// The view as a JSON value.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// Its JSON Schema (OpenAPI 3.1).
    pub fn schema() -> Value {
        object_schema(json!({
            "id": { "type": "integer", "format": "int64" },
            "location": { "type": "string", "description": "Location name." },
            "location_id": { "type": "integer", "format": "int64" },
            "started_at": nullable_time(Some("Last heartbeat before the gap; null when unknown.")),
            "detected_at": { "type": "string", "format": "date-time" },
            "ended_at": nullable_time(Some("null while it lasts.")),
            "cause": { "type": "string", "enum": ["power", "network", "unknown"] },
            "duration_s": { "type": ["integer", "null"] }
        }))
    }
}

/// An availability row with its location's name: `report --format json`,
/// `GET /api/v1/locations/{id}/availability`.
#[derive(Debug, Clone, PartialEq)]
pub struct AvailabilityView<'a> {
    /// The row.
    pub row: &'a AvailabilityRow,
    /// Location name.
    pub location: &'a str,
}

impl<'a> AvailabilityView<'a> {
    /// The view of `row` of the location called `location`.
    pub fn new(row: &'a AvailabilityRow, location: &'a str) -> Self {
        Self { row, location }
    }

    /// The view as a JSON object: the row's fields and `location`, keys sorted.
    pub fn to_value(&self) -> Value {
        let mut v = serde_json::to_value(self.row).unwrap_or_else(|_| json!({}));
        if let Some(o) = v.as_object_mut() {
            o.insert("location".into(), json!(self.location));
        }
        v
    }

    /// Its JSON Schema (OpenAPI 3.1).
    pub fn schema() -> Value {
        object_schema(json!({
            "location": { "type": "string" },
            "period": { "type": "string", "description": "2026-03-29, 2026-W13 or 2026-03" },
            "start": { "type": "string", "format": "date-time" },
            "end": { "type": "string", "format": "date-time" },
            "elapsed_min": { "type": "integer" },
            "up_min": { "type": "integer" },
            "down_min": { "type": "integer" },
            "network_min": { "type": "integer" },
            "unknown_min": { "type": "integer" },
            "paused_min": { "type": "integer" },
            "no_data_min": { "type": "integer" },
            "outages": { "type": "integer", "minimum": 0 },
            "network_drops": { "type": "integer", "minimum": 0 },
            "longest_outage_min": { "type": ["integer", "null"] },
            "power_pct": { "type": ["number", "null"] }
        }))
    }
}

impl Serialize for AvailabilityView<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_value().serialize(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Cause, EventId, Location, LocationId};
    use crate::keys::KeyHash;
    use crate::store::LocationRuntime;
    use chrono::TimeZone;
    use std::time::Duration;

    /// A small JSON Schema check for the subset the views use: object with required keys and
    /// no others, `type` (one or a list), `enum`, `minimum`.
    fn check(value: &Value, schema: &Value, path: &str, errors: &mut Vec<String>) {
        let types: Vec<&str> = match &schema["type"] {
            Value::String(t) => vec![t.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        let type_of = match value {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        };
        let type_ok = types.is_empty()
            || types.contains(&type_of)
            || (type_of == "integer" && types.contains(&"number"));
        if !type_ok {
            errors.push(format!("{path}: {type_of}, schema says {types:?}"));
        }
        if let Some(allowed) = schema["enum"].as_array()
            && !allowed.contains(value)
        {
            errors.push(format!("{path}: {value} not in {allowed:?}"));
        }
        if let (Some(min), Some(n)) = (schema["minimum"].as_f64(), value.as_f64())
            && n < min
        {
            errors.push(format!("{path}: {n} < {min}"));
        }
        if let Value::Object(o) = value {
            let props = schema["properties"].as_object();
            for key in schema["required"].as_array().into_iter().flatten() {
                if let Some(k) = key.as_str()
                    && !o.contains_key(k)
                {
                    errors.push(format!("{path}: required `{k}` missing"));
                }
            }
            for (k, v) in o {
                match props.and_then(|p| p.get(k)) {
                    Some(s) => check(v, s, &format!("{path}.{k}"), errors),
                    None if schema["additionalProperties"] == json!(false) => {
                        errors.push(format!("{path}: `{k}` is not in the schema"))
                    }
                    None => {}
                }
            }
        }
    }

    fn conforms(value: &Value, schema: &Value) {
        let mut errors = Vec::new();
        check(value, schema, "$", &mut errors);
        assert!(errors.is_empty(), "{value} against {schema}: {errors:?}");
        let props = schema["properties"].as_object().map(|p| p.len());
        assert_eq!(
            value.as_object().map(|o| o.len()),
            props,
            "every property of the schema is serialized"
        );
    }

    fn t(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, h, 0, 0).unwrap()
    }

    fn record(seen: bool) -> LocationRecord {
        LocationRecord {
            location: Location {
                routes: if seen {
                    vec!["family".parse().unwrap(), "me:42".parse().unwrap()]
                } else {
                    Vec::new()
                },
                id: LocationId(3),
                name: "Дача".into(),
                timeout: Duration::from_secs(90),
                chat_id: seen.then(|| "-100123".to_string()),
                enabled: true,
                paused_until: seen.then(|| t(23)),
                created_at: t(1),
                updated_at: t(2),
            },
            key_hash: KeyHash::of("om_test"),
            runtime: LocationRuntime {
                last_seen: seen.then(|| t(9)),
                ..LocationRuntime::default()
            },
        }
    }

    #[test]
    fn every_view_serializes_what_its_schema_says_with_and_without_nulls() {
        for seen in [true, false] {
            conforms(
                &LocationView::new(&record(seen), t(10)).to_value(),
                &LocationView::schema(),
            );
        }
        for (start, end) in [(Some(t(5)), Some(t(6))), (None, None)] {
            let e = PowerEvent {
                id: EventId(1),
                location_id: LocationId(3),
                started_at: start,
                detected_at: t(5),
                ended_at: end,
                cause: Cause::Network,
            };
            conforms(
                &OutageView::new(&e, "Дача").to_value(),
                &OutageView::schema(),
            );
        }
        for (longest, pct) in [(Some(12), Some(99.5)), (None, None)] {
            let row = AvailabilityRow {
                period: "2026-03-01".into(),
                start: t(0),
                end: t(23),
                elapsed_min: 600,
                up_min: 500,
                down_min: 50,
                network_min: 10,
                unknown_min: 20,
                paused_min: 0,
                no_data_min: 20,
                outages: 2,
                network_drops: 1,
                longest_outage_min: longest,
                power_pct: pct,
            };
            conforms(
                &AvailabilityView::new(&row, "Дача").to_value(),
                &AvailabilityView::schema(),
            );
        }
    }

    #[test]
    fn the_checker_catches_a_field_the_schema_does_not_know() {
        let mut v = LocationView::new(&record(true), t(10)).to_value();
        v["extra"] = json!(1);
        let mut errors = Vec::new();
        check(&v, &LocationView::schema(), "$", &mut errors);
        assert_eq!(errors.len(), 1, "{errors:?}");
        v["status"] = json!("sideways");
        errors.clear();
        check(&v, &LocationView::schema(), "$", &mut errors);
        assert_eq!(errors.len(), 2, "{errors:?}");
    }

    #[test]
    fn the_json_is_the_long_standing_cli_shape() {
        let json = serde_json::to_string(&LocationView::new(&record(true), t(10))).unwrap();
        assert_eq!(
            json,
            r#"{"chat_id":"-100123","created_at":"2026-03-01T01:00:00Z","enabled":true,"id":3,"last_seen":"2026-03-01T09:00:00Z","name":"Дача","paused_until":"2026-03-01T23:00:00Z","routes":["family","me:42"],"status":"paused","timeout_s":90}"#
        );
    }
}
