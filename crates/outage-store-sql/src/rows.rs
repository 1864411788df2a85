//! The rows the SQL stores' queries return, with their conversions to domain types.

use std::marker::PhantomData;
use std::time::Duration;

use outage_core::domain::{
    ApiToken, ApiTokenId, Cause, DeviceFacts, DiagramMessage, EventId, Heartbeat, IntervalKind,
    Location, LocationId, PowerEvent, Role, Session, StateInterval, Status, User, UserId,
};
use outage_core::keys::KeyHash;
use outage_core::notify::Alert;
use outage_core::store::{
    LocationRecord, LocationRuntime, NotifierOutboxStats, OutboxId, OutboxItem, StoreError,
};
use outage_core::store_support::u64_from_db;
use sqlx::FromRow;

use crate::Dialect;

/// A `locations` row's settings (`id, name, timeout_ms, chat_id, routes, enabled, paused_until,
/// created_at, updated_at`).
///
/// Fields are the columns of the same names.
#[allow(missing_docs)]
#[derive(FromRow)]
pub struct LocRow<D: Dialect> {
    pub id: i64,
    pub name: String,
    pub timeout_ms: i64,
    pub chat_id: Option<String>,
    /// JSON array of [`outage_core::Route`] strings.
    pub routes: String,
    pub enabled: bool,
    pub paused_until: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    /// Which database the row came from.
    #[sqlx(skip)]
    pub dialect: PhantomData<fn() -> D>,
}

impl<D: Dialect> LocRow<D> {
    /// The location.
    pub fn into_location(self) -> Result<Location, StoreError> {
        let timeout = u64::try_from(self.timeout_ms)
            .map(Duration::from_millis)
            .map_err(|_| {
                D::corrupt(format!(
                    "locations.timeout_ms {} of location {}",
                    self.timeout_ms, self.id
                ))
            })?;
        let routes = serde_json::from_str(&self.routes).map_err(|e| {
            D::corrupt(format!(
                "locations.routes `{}` of location {}: {e}",
                self.routes, self.id
            ))
        })?;
        Ok(Location {
            id: LocationId(self.id),
            name: self.name,
            timeout,
            chat_id: self.chat_id,
            routes,
            enabled: self.enabled,
            paused_until: self
                .paused_until
                .map(|v| D::time(v, "locations.paused_until"))
                .transpose()?,
            created_at: D::time(self.created_at, "locations.created_at")?,
            updated_at: D::time(self.updated_at, "locations.updated_at")?,
        })
    }
}

/// A location record: its settings, key hash and runtime, and its open event (the `ev_`
/// columns, NULL when none).
///
/// Fields are the columns of the same names.
#[allow(missing_docs)]
#[derive(FromRow)]
pub struct RecordRow<D: Dialect> {
    #[sqlx(flatten)]
    pub loc: LocRow<D>,
    pub key_hash: String,
    pub status: Option<String>,
    pub last_seen: Option<i64>,
    pub last_boot_id: Option<String>,
    pub last_uptime_s: Option<i64>,
    pub last_seq: Option<i64>,
    pub last_fw: Option<String>,
    pub last_rssi: Option<D::Rssi>,
    pub ev_id: Option<i64>,
    pub ev_started_at: Option<i64>,
    pub ev_detected_at: Option<i64>,
    pub ev_cause: Option<String>,
    /// Which database the row came from.
    #[sqlx(skip)]
    pub dialect: PhantomData<fn() -> D>,
}

impl<D: Dialect> RecordRow<D> {
    /// The record.
    pub fn into_record(self) -> Result<LocationRecord, StoreError> {
        let id = self.loc.id;
        let key_hash = KeyHash::from_hex(&self.key_hash)
            .ok_or_else(|| D::corrupt(format!("locations.key_hash of location {id}")))?;
        let status = self
            .status
            .map(|s| {
                Status::parse(&s)
                    .ok_or_else(|| D::corrupt(format!("locations.status `{s}` of location {id}")))
            })
            .transpose()?;
        let open_event = match self.ev_id {
            None => None,
            Some(ev) => Some(
                EventRow::<D> {
                    id: ev,
                    location_id: id,
                    started_at: self.ev_started_at,
                    detected_at: self
                        .ev_detected_at
                        .ok_or_else(|| D::corrupt(format!("events.detected_at of event {ev}")))?,
                    ended_at: None,
                    cause: self.ev_cause.unwrap_or_default(),
                    dialect: PhantomData,
                }
                .into_event()?,
            ),
        };
        let last_rssi = self
            .last_rssi
            .map(|v| D::rssi(v, "locations.last_rssi"))
            .transpose()?;
        Ok(LocationRecord {
            location: self.loc.into_location()?,
            key_hash,
            runtime: LocationRuntime {
                status,
                last_seen: self
                    .last_seen
                    .map(|v| D::time(v, "locations.last_seen"))
                    .transpose()?,
                last_facts: DeviceFacts {
                    boot_id: self.last_boot_id,
                    uptime_s: self.last_uptime_s.map(u64_from_db),
                    seq: self.last_seq.map(u64_from_db),
                    fw: self.last_fw,
                    rssi: last_rssi,
                },
                open_event,
            },
        })
    }
}

/// A `heartbeats` row.
///
/// Fields are the columns of the same names.
#[allow(missing_docs)]
#[derive(FromRow)]
pub struct BeatRow<D: Dialect> {
    pub location_id: i64,
    pub received_at: i64,
    pub boot_id: Option<String>,
    pub uptime_s: Option<i64>,
    pub seq: Option<i64>,
    pub fw: Option<String>,
    pub rssi: Option<D::Rssi>,
    /// Which database the row came from.
    #[sqlx(skip)]
    pub dialect: PhantomData<fn() -> D>,
}

impl<D: Dialect> BeatRow<D> {
    /// The heartbeat.
    pub fn into_heartbeat(self) -> Result<Heartbeat, StoreError> {
        Ok(Heartbeat {
            location_id: LocationId(self.location_id),
            received_at: D::time(self.received_at, "heartbeats.received_at")?,
            facts: DeviceFacts {
                boot_id: self.boot_id,
                uptime_s: self.uptime_s.map(u64_from_db),
                seq: self.seq.map(u64_from_db),
                fw: self.fw,
                rssi: self
                    .rssi
                    .map(|v| D::rssi(v, "heartbeats.rssi"))
                    .transpose()?,
            },
        })
    }
}

/// An `events` row.
///
/// Fields are the columns of the same names.
#[allow(missing_docs)]
#[derive(FromRow)]
pub struct EventRow<D: Dialect> {
    pub id: i64,
    pub location_id: i64,
    pub started_at: Option<i64>,
    pub detected_at: i64,
    pub ended_at: Option<i64>,
    pub cause: String,
    /// Which database the row came from.
    #[sqlx(skip)]
    pub dialect: PhantomData<fn() -> D>,
}

impl<D: Dialect> EventRow<D> {
    /// The event.
    pub fn into_event(self) -> Result<PowerEvent, StoreError> {
        let id = self.id;
        Ok(PowerEvent {
            id: EventId(id),
            location_id: LocationId(self.location_id),
            started_at: self
                .started_at
                .map(|v| D::time(v, "events.started_at"))
                .transpose()?,
            detected_at: D::time(self.detected_at, "events.detected_at")?,
            ended_at: self
                .ended_at
                .map(|v| D::time(v, "events.ended_at"))
                .transpose()?,
            cause: Cause::parse(&self.cause).ok_or_else(|| {
                D::corrupt(format!("events.cause `{}` of event {id}", self.cause))
            })?,
        })
    }
}

/// An `intervals` row.
///
/// Fields are the columns of the same names.
#[allow(missing_docs)]
#[derive(FromRow)]
pub struct IntervalRow<D: Dialect> {
    pub location_id: i64,
    pub kind: String,
    pub start_at: i64,
    pub end_at: Option<i64>,
    /// Which database the row came from.
    #[sqlx(skip)]
    pub dialect: PhantomData<fn() -> D>,
}

impl<D: Dialect> IntervalRow<D> {
    /// The interval.
    pub fn into_interval(self) -> Result<StateInterval, StoreError> {
        Ok(StateInterval {
            location_id: LocationId(self.location_id),
            kind: IntervalKind::parse(&self.kind)
                .ok_or_else(|| D::corrupt(format!("intervals.kind `{}`", self.kind)))?,
            start: D::time(self.start_at, "intervals.start_at")?,
            end: self
                .end_at
                .map(|v| D::time(v, "intervals.end_at"))
                .transpose()?,
        })
    }
}

/// An `outbox` row as a notifier receives it.
///
/// Fields are the columns of the same names.
#[allow(missing_docs)]
#[derive(FromRow)]
pub struct OutboxRow<D: Dialect> {
    pub id: i64,
    pub notifier: String,
    pub chat: String,
    pub alert: String,
    pub attempts: i64,
    pub created_at: i64,
    /// Which database the row came from.
    #[sqlx(skip)]
    pub dialect: PhantomData<fn() -> D>,
}

impl<D: Dialect> OutboxRow<D> {
    /// The queued notification.
    pub fn into_item(self) -> Result<OutboxItem, StoreError> {
        let id = self.id;
        let alert: Alert = serde_json::from_str(&self.alert)
            .map_err(|e| D::corrupt(format!("outbox.alert of row {id}: {e}")))?;
        Ok(OutboxItem {
            id: OutboxId(id),
            notifier: self.notifier,
            chat: self.chat,
            alert,
            attempts: u32::try_from(self.attempts).map_err(|_| {
                D::corrupt(format!("outbox.attempts {} of row {id}", self.attempts))
            })?,
            created_at: D::time(self.created_at, "outbox.created_at")?,
        })
    }
}

/// One notifier's line of the outbox summary: its counts by state, and `last_error` with the
/// `next_attempt_at` (as `last_error_at`) of its newest failed row, both `NULL` when none.
///
/// Fields are the columns of the same names.
#[allow(missing_docs)]
#[derive(FromRow)]
pub struct NotifierOutboxRow<D: Dialect> {
    pub notifier: String,
    pub pending: i64,
    pub delivered: i64,
    pub failed: i64,
    pub last_error: Option<String>,
    pub last_error_at: Option<i64>,
    /// Which database the row came from.
    #[sqlx(skip)]
    pub dialect: PhantomData<fn() -> D>,
}

impl<D: Dialect> NotifierOutboxRow<D> {
    /// The notifier's outbox summary.
    pub fn into_stats(self) -> Result<NotifierOutboxStats, StoreError> {
        let count = |n: i64| {
            u64::try_from(n).map_err(|_| {
                D::corrupt(format!("outbox count {n} of notifier {:?}", self.notifier))
            })
        };
        Ok(NotifierOutboxStats {
            pending: count(self.pending)?,
            delivered: count(self.delivered)?,
            failed: count(self.failed)?,
            last_error_at: self
                .last_error_at
                .map(|v| D::time(v, "outbox.next_attempt_at"))
                .transpose()?,
            last_error: self.last_error,
            notifier: self.notifier,
        })
    }
}

/// A `diagram_messages` row.
///
/// Fields are the columns of the same names.
#[allow(missing_docs)]
#[derive(FromRow)]
pub struct DiagramRow<D: Dialect> {
    pub location_id: i64,
    pub notifier: String,
    pub chat: String,
    pub message_id: String,
    pub posted_at: i64,
    pub updated_at: i64,
    /// Which database the row came from.
    #[sqlx(skip)]
    pub dialect: PhantomData<fn() -> D>,
}

impl<D: Dialect> DiagramRow<D> {
    /// The diagram message.
    pub fn into_message(self) -> Result<DiagramMessage, StoreError> {
        Ok(DiagramMessage {
            location_id: LocationId(self.location_id),
            notifier: self.notifier,
            chat: self.chat,
            message_id: self.message_id,
            posted_at: D::time(self.posted_at, "diagram_messages.posted_at")?,
            updated_at: D::time(self.updated_at, "diagram_messages.updated_at")?,
        })
    }
}

/// An `api_tokens` row.
///
/// Fields are the columns of the same names.
#[allow(missing_docs)]
#[derive(FromRow)]
pub struct TokenRow<D: Dialect> {
    pub id: i64,
    pub name: String,
    pub hash: String,
    pub created_at: i64,
    /// Which database the row came from.
    #[sqlx(skip)]
    pub dialect: PhantomData<fn() -> D>,
}

impl<D: Dialect> TokenRow<D> {
    /// The token and its stored hash.
    pub fn into_token(self) -> Result<(ApiToken, KeyHash), StoreError> {
        let id = self.id;
        let hash = KeyHash::from_hex(&self.hash)
            .ok_or_else(|| D::corrupt(format!("api_tokens.hash of token {id}")))?;
        Ok((
            ApiToken {
                id: ApiTokenId(id),
                name: self.name,
                created_at: D::time(self.created_at, "api_tokens.created_at")?,
            },
            hash,
        ))
    }
}

/// A `users` row.
///
/// Fields are the columns of the same names.
#[allow(missing_docs)]
#[derive(FromRow)]
pub struct UserRow<D: Dialect> {
    pub id: i64,
    pub name: String,
    pub role: String,
    pub password_hash: String,
    pub created_at: i64,
    pub updated_at: i64,
    /// Which database the row came from.
    #[sqlx(skip)]
    pub dialect: PhantomData<fn() -> D>,
}

impl<D: Dialect> UserRow<D> {
    /// The user.
    pub fn into_user(self) -> Result<User, StoreError> {
        let id = self.id;
        let role: Role = self
            .role
            .parse()
            .map_err(|_| D::corrupt(format!("users.role `{}` of user {id}", self.role)))?;
        Ok(User {
            id: UserId(id),
            name: self.name,
            role,
            password_hash: self.password_hash,
            created_at: D::time(self.created_at, "users.created_at")?,
            updated_at: D::time(self.updated_at, "users.updated_at")?,
        })
    }
}

/// A `sessions` row joined with its user (the session's own times are `session_created_at`
/// and `expires_at`).
///
/// Fields are the columns of the same names.
#[allow(missing_docs)]
#[derive(FromRow)]
pub struct SessionRow<D: Dialect> {
    pub token_hash: String,
    pub session_created_at: i64,
    pub expires_at: i64,
    #[sqlx(flatten)]
    pub user: UserRow<D>,
}

impl<D: Dialect> SessionRow<D> {
    /// The session and its user.
    pub fn into_session(self) -> Result<(Session, User), StoreError> {
        let user = self.user.into_user()?;
        let token_hash = KeyHash::from_hex(&self.token_hash)
            .ok_or_else(|| D::corrupt(format!("sessions.token_hash of user {}", user.id)))?;
        Ok((
            Session {
                token_hash,
                user_id: user.id,
                created_at: D::time(self.session_created_at, "sessions.created_at")?,
                expires_at: D::time(self.expires_at, "sessions.expires_at")?,
            },
            user,
        ))
    }
}
