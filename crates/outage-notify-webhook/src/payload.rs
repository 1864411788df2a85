//! The JSON body of a webhook delivery (version 1) and its signature.
//!
//! The shape is a contract with receivers: fields are only ever added within a version; a
//! change that removes or renames one raises [`VERSION`]. Book chapter "Webhook" shows it with
//! an example, and `examples/webhook-receiver` checks a signature.

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use outage_core::domain::{Cause, EventId, LocationId};
use outage_core::notify::{Alert, AlertKind, PlainText};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The version of the body this crate sends (`"version": 1`).
pub const VERSION: u32 = 1;

/// Header carrying `sha256=<hex HMAC-SHA256 of the body>` when a secret is configured.
pub const SIGNATURE_HEADER: &str = "X-Outage-Signature-256";
/// Header carrying the [`Event`] name.
pub const EVENT_HEADER: &str = "X-Outage-Event";
/// Header carrying the delivery id (the body's `id`): the same on every retry.
pub const DELIVERY_HEADER: &str = "X-Outage-Delivery";

/// What happened, as a stable dotted name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Event {
    /// Heartbeats stopped: an outage began.
    #[serde(rename = "outage.started")]
    OutageStarted,
    /// The outage still lasts (sent about once a minute while it does).
    #[serde(rename = "outage.updated")]
    OutageUpdated,
    /// It ended: power is back (`cause` = `power` or `unknown`) or it was only the network
    /// (`cause` = `network`).
    #[serde(rename = "outage.ended")]
    OutageEnded,
    /// A maintenance pause of the location began.
    #[serde(rename = "location.paused")]
    LocationPaused,
    /// A test alert (`outage-monitor location test`, the admin panel's button).
    #[serde(rename = "test")]
    Test,
}

impl Event {
    /// Every event, in the order of an outage's life.
    pub const ALL: [Event; 5] = [
        Event::OutageStarted,
        Event::OutageUpdated,
        Event::OutageEnded,
        Event::LocationPaused,
        Event::Test,
    ];

    /// The event an alert is delivered as.
    pub fn of(kind: AlertKind) -> Self {
        match kind {
            AlertKind::Outage => Event::OutageStarted,
            AlertKind::OutageUpdate => Event::OutageUpdated,
            AlertKind::Restored | AlertKind::NetworkRestored => Event::OutageEnded,
            AlertKind::Paused => Event::LocationPaused,
            AlertKind::Test => Event::Test,
        }
    }

    /// The dotted name, `outage.started`.
    pub fn as_str(self) -> &'static str {
        match self {
            Event::OutageStarted => "outage.started",
            Event::OutageUpdated => "outage.updated",
            Event::OutageEnded => "outage.ended",
            Event::LocationPaused => "location.paused",
            Event::Test => "test",
        }
    }

    /// Parses a dotted name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.as_str() == s)
    }
}

/// The location an event is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayloadLocation {
    /// Its id (as in the read API, `/api/v1/locations/{id}`).
    pub id: LocationId,
    /// Its name at the time of the event.
    pub name: String,
}

/// The outage an event is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayloadOutage {
    /// Its id (as in `/api/v1/locations/{id}/outages`).
    pub id: Option<EventId>,
    /// The last heartbeat before it: when the power went, as well as the monitor knows.
    /// `null` when it began while the monitor itself was offline.
    pub started_at: Option<DateTime<Utc>>,
    /// When the monitor declared it.
    pub detected_at: Option<DateTime<Utc>>,
    /// When it ended; `null` while it lasts.
    pub ended_at: Option<DateTime<Utc>>,
    /// Seconds from `started_at` to `ended_at` (or to `at` while it lasts); `null` when the
    /// start is unknown.
    pub duration_seconds: Option<i64>,
}

/// The body of one delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payload {
    /// [`VERSION`].
    pub version: u32,
    /// The delivery id: the same on every retry of this delivery, different for every other
    /// one. Receivers that must not act twice keep the ids they have seen.
    pub id: String,
    /// What happened.
    pub event: Event,
    /// The monitor's finer alert kind (`restored` and `network_restored` are both
    /// `outage.ended`).
    pub kind: AlertKind,
    /// The location.
    pub location: PayloadLocation,
    /// The outage, for `outage.*` events.
    pub outage: Option<PayloadOutage>,
    /// `power`, `network` or `unknown` (not known yet while an outage lasts).
    pub cause: Cause,
    /// When the monitor raised the alert.
    pub at: DateTime<Utc>,
    /// A short title, in the configured language.
    pub title: String,
    /// One sentence saying what happened, in the configured language.
    pub text: String,
}

impl Payload {
    /// The body for `alert` going to `instance`, with `text` already rendered.
    pub fn new(instance: &str, alert: &Alert, text: PlainText) -> Self {
        let outage = matches!(
            alert.kind,
            AlertKind::Outage
                | AlertKind::OutageUpdate
                | AlertKind::Restored
                | AlertKind::NetworkRestored
        )
        .then(|| PayloadOutage {
            id: alert.event_id,
            started_at: alert.started_at,
            detected_at: alert.detected_at,
            ended_at: alert.ended_at,
            duration_seconds: alert.duration(alert.at).map(|d| d.num_seconds()),
        });
        Self {
            version: VERSION,
            id: delivery_id(instance, alert),
            event: Event::of(alert.kind),
            kind: alert.kind,
            location: PayloadLocation {
                id: alert.location_id,
                name: alert.location_name.clone(),
            },
            outage,
            cause: alert.cause,
            at: alert.at,
            title: text.title,
            text: text.body,
        }
    }
}

/// A stable id for delivering `alert` through `instance`: a retry (even after a restart) has
/// the same alert from the outbox, so the same id.
pub fn delivery_id(instance: &str, alert: &Alert) -> String {
    let mut h = Sha256::new();
    h.update(instance.as_bytes());
    h.update([0]);
    h.update(alert.location_id.0.to_be_bytes());
    h.update(alert.event_id.map_or(-1, |e| e.0).to_be_bytes());
    h.update(serde_json::to_vec(&alert.kind).unwrap_or_default());
    h.update(alert.at.timestamp_micros().to_be_bytes());
    hex::encode(&h.finalize()[..16])
}

/// `sha256=<hex>`: the HMAC-SHA256 of `body` keyed with `secret`, as sent in
/// [`SIGNATURE_HEADER`].
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    // HMAC accepts keys of any length; `new_from_slice` cannot fail for it.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Checks a [`SIGNATURE_HEADER`] value against `body` in constant time: what a receiver does.
pub fn verify(secret: &[u8], body: &[u8], header: &str) -> bool {
    let Some(hex_sig) = header.trim().strip_prefix("sha256=") else {
        return false;
    };
    let Ok(sig) = hex::decode(hex_sig) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&sig).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(kind: AlertKind) -> Alert {
        let t = |s: i64| DateTime::from_timestamp(1_795_435_200 + s, 0).unwrap_or_default();
        Alert {
            kind,
            location_id: LocationId(7),
            location_name: "Cottage".into(),
            event_id: Some(EventId(42)),
            started_at: Some(t(0)),
            detected_at: Some(t(60)),
            ended_at: (kind == AlertKind::Restored).then(|| t(3600)),
            cause: Cause::Power,
            at: t(3600),
        }
    }

    fn text() -> PlainText {
        PlainText {
            title: "Cottage: power is back".into(),
            body: "power is back at 13:00 — it was off 1 h".into(),
        }
    }

    #[test]
    fn the_body_has_the_documented_shape() {
        let p = Payload::new("hook", &alert(AlertKind::Restored), text());
        let v = serde_json::to_value(&p).unwrap();
        let id = p.id.clone();
        assert_eq!(
            v,
            serde_json::json!({
                "version": 1,
                "id": id,
                "event": "outage.ended",
                "kind": "restored",
                "location": {"id": 7, "name": "Cottage"},
                "outage": {
                    "id": 42,
                    "started_at": "2026-11-23T12:00:00Z",
                    "detected_at": "2026-11-23T12:01:00Z",
                    "ended_at": "2026-11-23T13:00:00Z",
                    "duration_seconds": 3600
                },
                "cause": "power",
                "at": "2026-11-23T13:00:00Z",
                "title": "Cottage: power is back",
                "text": "power is back at 13:00 — it was off 1 h"
            })
        );
        let back: Payload = serde_json::from_value(v).unwrap();
        assert_eq!(back, p);
        let test = Payload::new("hook", &alert(AlertKind::Test), text());
        assert_eq!(test.outage, None);
        assert_eq!(test.event, Event::Test);
    }

    #[test]
    fn delivery_ids_are_stable_and_distinct() {
        let a = alert(AlertKind::Outage);
        assert_eq!(delivery_id("hook", &a), delivery_id("hook", &a));
        assert_eq!(delivery_id("hook", &a).len(), 32);
        assert_ne!(delivery_id("hook", &a), delivery_id("other", &a));
        assert_ne!(
            delivery_id("hook", &a),
            delivery_id("hook", &alert(AlertKind::Restored))
        );
        let mut later = a.clone();
        later.at += chrono::TimeDelta::seconds(1);
        assert_ne!(delivery_id("hook", &a), delivery_id("hook", &later));
    }

    #[test]
    fn signatures_verify_and_a_changed_body_or_key_does_not() {
        // RFC 4231 test case 2.
        assert_eq!(
            sign(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        let sig = sign(b"s3cret", b"{\"a\":1}");
        assert!(verify(b"s3cret", b"{\"a\":1}", &sig));
        assert!(!verify(b"s3cret", b"{\"a\":2}", &sig));
        assert!(!verify(b"other", b"{\"a\":1}", &sig));
        assert!(!verify(b"s3cret", b"{\"a\":1}", "sha1=00"));
        assert!(!verify(b"s3cret", b"{\"a\":1}", "sha256=zz"));
    }

    #[test]
    fn event_names_round_trip() {
        for e in Event::ALL {
            assert_eq!(Event::parse(e.as_str()), Some(e));
            assert_eq!(serde_json::to_value(e).unwrap(), e.as_str());
        }
        assert_eq!(Event::parse("outage.begun"), None);
    }
}
