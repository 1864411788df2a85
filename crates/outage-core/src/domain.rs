//! Domain types: locations, heartbeats, statuses, outages (power events) and state intervals.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Identifier of a location (a house, an office) that a device reports from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct LocationId(pub i64);

impl fmt::Display for LocationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Identifier of a power event (an outage).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EventId(pub i64);

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Default heartbeat timeout of a location.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Where a location's alerts go: a notifier instance (`[notifiers.<instance>]`) and, when the
/// instance has chats, one of them. Written `instance` (the instance's own chats for the
/// location) or `instance:chat`; serialized as that string.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Route {
    /// The notifier instance.
    pub notifier: String,
    /// The chat; `None`: the instance's default chats (or the location's `chat_id`).
    pub chat: Option<String>,
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.chat {
            Some(chat) => write!(f, "{}:{chat}", self.notifier),
            None => f.write_str(&self.notifier),
        }
    }
}

impl std::str::FromStr for Route {
    type Err = String;

    /// Reads `instance` or `instance:chat`; the error says what is accepted.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let (notifier, chat) = match s.split_once(':') {
            Some((n, c)) => (n.trim(), Some(c.trim())),
            None => (s, None),
        };
        if !crate::registry::valid_instance_name(notifier) {
            return Err(format!(
                "`{s}` is not a route: write a notifier instance (letters, digits, `-`, `_`), \
                 optionally followed by `:` and a chat, e.g. `telegram` or `family:-1001234567890`"
            ));
        }
        if chat == Some("") {
            return Err(format!(
                "`{s}` names no chat after `:`; write `{notifier}` for its default chats"
            ));
        }
        Ok(Route {
            notifier: notifier.to_string(),
            chat: chat.map(str::to_string),
        })
    }
}

impl Serialize for Route {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Route {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A monitored location.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Location {
    /// Identifier.
    pub id: LocationId,
    /// Human name, shown in alerts ("Home", "Мамина квартира").
    pub name: String,
    /// Declared down when no heartbeat arrived for this long.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Telegram chat (or other notifier target) overriding the notifier's default.
    pub chat_id: Option<String>,
    /// Where alerts go; empty: every configured notifier (see [`crate::notify::targets`]).
    #[serde(default)]
    pub routes: Vec<Route>,
    /// Disabled locations accept no heartbeats and are never declared down.
    pub enabled: bool,
    /// Paused (maintenance) until this time: no alerts meanwhile.
    pub paused_until: Option<DateTime<Utc>>,
    /// When the location was created.
    pub created_at: DateTime<Utc>,
    /// When the location was last changed.
    pub updated_at: DateTime<Utc>,
}

/// What is needed to create a location.
#[derive(Debug, Clone, PartialEq)]
pub struct NewLocation {
    /// Human name; unique.
    pub name: String,
    /// Heartbeat timeout.
    pub timeout: Duration,
    /// Optional notifier target override.
    pub chat_id: Option<String>,
    /// Where alerts go; empty: every configured notifier.
    pub routes: Vec<Route>,
}

/// A partial update of a location; `None` fields stay as they are.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LocationPatch {
    /// New name.
    pub name: Option<String>,
    /// New timeout.
    pub timeout: Option<Duration>,
    /// New chat override (`Some(None)` clears it).
    pub chat_id: Option<Option<String>>,
    /// New routes (`Some(vec![])`: back to every configured notifier).
    pub routes: Option<Vec<Route>>,
    /// Enable or disable.
    pub enabled: Option<bool>,
    /// Pause until (`Some(None)` resumes).
    pub paused_until: Option<Option<DateTime<Utc>>>,
}

/// Facts a device may send with a heartbeat. The device clock is never used for ordering.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceFacts {
    /// Random per boot: a new value means the device lost power (or rebooted).
    pub boot_id: Option<String>,
    /// Seconds since the device booted.
    pub uptime_s: Option<u64>,
    /// Counter since boot.
    pub seq: Option<u64>,
    /// Firmware version string.
    pub fw: Option<String>,
    /// WiFi signal strength in dBm.
    pub rssi: Option<i32>,
}

/// One received heartbeat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Heartbeat {
    /// Which location.
    pub location_id: LocationId,
    /// Arrival time on the server clock.
    pub received_at: DateTime<Utc>,
    /// What the device said about itself.
    pub facts: DeviceFacts,
}

/// Current status of a location.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Never seen, or the monitor itself was down since it was last seen.
    Unknown,
    /// Heartbeats arrive.
    Up,
    /// No heartbeat for longer than the timeout.
    Down,
    /// Maintenance: nothing is alerted.
    Paused,
}

impl Status {
    /// The lowercase name used in JSON, CLI output and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Unknown => "unknown",
            Status::Up => "up",
            Status::Down => "down",
            Status::Paused => "paused",
        }
    }

    /// Parses [`Status::as_str`] output.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "unknown" => Status::Unknown,
            "up" => Status::Up,
            "down" => Status::Down,
            "paused" => Status::Paused,
            _ => return None,
        })
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why heartbeats stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Cause {
    /// The device lost power (it came back with a new boot id or a short uptime).
    Power,
    /// The device kept running (same boot id, uptime kept counting): only the network was down.
    Network,
    /// Not known (the device sends no boot id, or the outage is still going on).
    Unknown,
}

impl Cause {
    /// The lowercase name used in JSON and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Cause::Power => "power",
            Cause::Network => "network",
            Cause::Unknown => "unknown",
        }
    }

    /// Parses [`Cause::as_str`] output.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "power" => Cause::Power,
            "network" => Cause::Network,
            "unknown" => Cause::Unknown,
            _ => return None,
        })
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An outage of one location.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PowerEvent {
    /// Identifier.
    pub id: EventId,
    /// Which location.
    pub location_id: LocationId,
    /// The last heartbeat before the gap (backdated, not the detection time); `None` when it
    /// went out while the monitor itself was offline.
    pub started_at: Option<DateTime<Utc>>,
    /// When the monitor noticed.
    pub detected_at: DateTime<Utc>,
    /// When power (or network) came back; `None` while it lasts.
    pub ended_at: Option<DateTime<Utc>>,
    /// Power, network or unknown.
    pub cause: Cause,
}

impl PowerEvent {
    /// How long it lasted (or has lasted until `now`); `None` when the start is unknown.
    pub fn duration(&self, now: DateTime<Utc>) -> Option<chrono::TimeDelta> {
        let start = self.started_at?;
        Some(self.ended_at.unwrap_or(now) - start)
    }
}

/// The kind of a stretch of time in a location's history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IntervalKind {
    /// Power on, heartbeats arriving.
    Up,
    /// Power off.
    Down,
    /// Device powered but unreachable (network outage).
    Network,
    /// Nobody knows: never seen, or the monitor was offline.
    Unknown,
    /// Maintenance pause.
    Paused,
}

impl IntervalKind {
    /// The lowercase name used in JSON and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            IntervalKind::Up => "up",
            IntervalKind::Down => "down",
            IntervalKind::Network => "network",
            IntervalKind::Unknown => "unknown",
            IntervalKind::Paused => "paused",
        }
    }

    /// Parses [`IntervalKind::as_str`] output.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "up" => IntervalKind::Up,
            "down" => IntervalKind::Down,
            "network" => IntervalKind::Network,
            "unknown" => IntervalKind::Unknown,
            "paused" => IntervalKind::Paused,
            _ => return None,
        })
    }
}

/// A stretch of time `[start, end)` in one state; `end == None` for the current one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateInterval {
    /// Which location.
    pub location_id: LocationId,
    /// State during the interval.
    pub kind: IntervalKind,
    /// Inclusive start.
    pub start: DateTime<Utc>,
    /// Exclusive end; `None` while it lasts.
    pub end: Option<DateTime<Utc>>,
}

/// Where a notifier put a message, so later alerts about the same outage can edit or reply to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageRef {
    /// Notifier name (`telegram`, `console`, ...).
    pub notifier: String,
    /// Chat or channel within the notifier.
    pub chat: String,
    /// The notifier's message id.
    pub message_id: String,
}

/// A weekly diagram posted to a chat, remembered so that a restart edits it instead of posting
/// a new one. One per `(location, notifier, chat)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiagramMessage {
    /// The location drawn.
    pub location_id: LocationId,
    /// Notifier that posted it (`telegram`).
    pub notifier: String,
    /// Chat within the notifier.
    pub chat: String,
    /// The notifier's message id.
    pub message_id: String,
    /// When the message was posted.
    pub posted_at: DateTime<Utc>,
    /// When it was last drawn (posted or edited).
    pub updated_at: DateTime<Utc>,
}

/// Identifier of an API token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ApiTokenId(pub i64);

impl fmt::Display for ApiTokenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A token for the read API (`outage-monitor token create`). Only its hash is stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiToken {
    /// Identifier.
    pub id: ApiTokenId,
    /// Unique name chosen by the operator ("grafana", "home-assistant").
    pub name: String,
    /// When it was made.
    pub created_at: DateTime<Utc>,
}

/// Identifier of an admin-panel user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserId(pub i64);

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// What an admin-panel user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Sees and changes everything, manages users.
    Admin,
    /// Sees everything but API keys; changes nothing.
    #[default]
    Viewer,
}

impl Role {
    /// Lowercase name (`admin`, `viewer`), as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Viewer => "viewer",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "admin" => Ok(Role::Admin),
            "viewer" => Ok(Role::Viewer),
            other => Err(format!(
                "unknown role {other:?}; expected `admin` or `viewer`"
            )),
        }
    }
}

/// An admin-panel user. Only an argon2id hash of the password is kept (a PHC string).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Identifier.
    pub id: UserId,
    /// Unique login name.
    pub name: String,
    /// What the user may do.
    pub role: Role,
    /// The argon2id PHC string of the password (never shown; redacted in `Debug`).
    #[serde(skip_serializing)]
    pub password_hash: String,
    /// When the user was made.
    pub created_at: DateTime<Utc>,
    /// Last change of password or role.
    pub updated_at: DateTime<Utc>,
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("role", &self.role)
            .field("password_hash", &"<redacted>")
            .field("created_at", &self.created_at)
            .field("updated_at", &self.updated_at)
            .finish()
    }
}

/// A logged-in admin-panel session. The cookie holds a random token; only its SHA-256 hash is
/// stored, so a copy of the database logs nobody in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// SHA-256 of the session token.
    pub token_hash: crate::keys::KeyHash,
    /// Whose session it is.
    pub user_id: UserId,
    /// When it was made (login).
    pub created_at: DateTime<Utc>,
    /// When it stops being valid.
    pub expires_at: DateTime<Utc>,
}

/// Number of locations per status (for `/metrics` and health pages).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatusCounts {
    /// Status `up`.
    pub up: u64,
    /// Status `down`.
    pub down: u64,
    /// Status `unknown`.
    pub unknown: u64,
    /// Status `paused`.
    pub paused: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_an_instance_and_maybe_a_chat() {
        let r: Route = "family".parse().unwrap();
        assert_eq!((r.notifier.as_str(), r.chat), ("family", None));
        let r: Route = " me:-1001234567890 ".parse().unwrap();
        assert_eq!(r.chat.as_deref(), Some("-1001234567890"));
        assert_eq!(r.to_string(), "me:-1001234567890");
        let r: Route = "ntfy:@home:power".parse().unwrap();
        assert_eq!(
            r.chat.as_deref(),
            Some("@home:power"),
            "only the first `:` splits"
        );
        for bad in ["", ":42", "my family", "fam:"] {
            let e = bad.parse::<Route>().unwrap_err();
            assert!(e.contains(&format!("`{}`", bad.trim())), "{bad:?}: {e}");
        }
        assert_eq!(
            serde_json::to_string(&vec!["a:1".parse::<Route>().unwrap()]).unwrap(),
            r#"["a:1"]"#
        );
        let back: Vec<Route> = serde_json::from_str(r#"["a:1","b"]"#).unwrap();
        assert_eq!(back.len(), 2);
        assert!(serde_json::from_str::<Vec<Route>>(r#"["a b"]"#).is_err());
    }
}
