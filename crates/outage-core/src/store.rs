//! The [`StatusStore`] trait: where locations, heartbeats, outages, state intervals and the
//! notification outbox live.
//!
//! Invariants every implementation keeps (the conformance suite in `outage-testkit` checks them):
//! - [`StatusStore::apply_transition`] writes the status, the interval change, the event change
//!   and the outbox rows in **one transaction**: either all of it is stored or none.
//! - At most one interval per location is open (`end = NULL`), and intervals never overlap.
//! - Only the SHA-256 hash of a location key is stored.
//! - Outbox rows of one `(notifier, chat)` queue are handed out strictly in insertion order:
//!   [`StatusStore::claim_notifications`] returns only the head of each queue.
//! - [`StatusStore::locations_version`] changes with every change of a location's settings and
//!   never with its runtime state (heartbeats, transitions).

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::*;
use crate::keys::KeyHash;
use crate::notify::Alert;

/// What went wrong in a store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached or opened (maps to HTTP 503).
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A referenced row does not exist.
    #[error("{what} not found")]
    NotFound {
        /// What was looked for, e.g. `location 7`.
        what: String,
    },
    /// A uniqueness rule would be broken, e.g. two locations with one name.
    #[error("{0}")]
    Conflict(String),
    /// Invalid input to the store (a bad URL, an impossible value).
    #[error("{0}")]
    Invalid(String),
    /// The operation is not supported by this store.
    #[error("{0} is not supported by this store")]
    Unsupported(&'static str),
    /// Anything else the database reported.
    #[error("database error: {0}")]
    Other(String),
}

/// A location together with its key hash and the runtime state the engine needs after a restart.
#[derive(Debug, Clone, PartialEq)]
pub struct LocationRecord {
    /// The location.
    pub location: Location,
    /// SHA-256 of its API key.
    pub key_hash: KeyHash,
    /// Persisted runtime state.
    pub runtime: LocationRuntime,
}

impl LocationRecord {
    /// The status a person should see for the stored location: a pause in force wins, and a
    /// location that was never seen (or whose pause has ended) is `unknown`. (A running engine
    /// knows better: `Engine::status_of`.)
    pub fn shown_status(&self, now: DateTime<Utc>) -> Status {
        if self.location.paused_until.is_some_and(|u| u > now) {
            Status::Paused
        } else {
            match self.runtime.status {
                Some(Status::Paused) | None => Status::Unknown,
                Some(s) => s,
            }
        }
    }
}

/// Runtime state of a location as last persisted.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LocationRuntime {
    /// Last status written by a transition (`None` for a location never seen).
    pub status: Option<Status>,
    /// Last heartbeat time.
    pub last_seen: Option<DateTime<Utc>>,
    /// Device facts of the last heartbeat.
    pub last_facts: DeviceFacts,
    /// The outage in progress, if any.
    pub open_event: Option<PowerEvent>,
}

/// Everything the engine loads at start-up.
#[derive(Debug, Clone, Default)]
pub struct RuntimeSnapshot {
    /// All locations with their runtime state.
    pub locations: Vec<LocationRecord>,
    /// Last time the monitor itself was known to be alive (written with every heartbeat batch).
    pub monitor_alive_at: Option<DateTime<Utc>>,
}

/// A change of the event of a location, applied inside a [`Transition`].
#[derive(Debug, Clone, PartialEq)]
pub enum EventChange {
    /// No change.
    None,
    /// Open a new outage.
    Open {
        /// Backdated start (`None`: unknown, it began while the monitor was offline).
        started_at: Option<DateTime<Utc>>,
        /// Detection time.
        detected_at: DateTime<Utc>,
        /// Cause known so far.
        cause: Cause,
    },
    /// Open and close at once: an outage discovered only when it was already over.
    Closed {
        /// Backdated start, if known.
        started_at: Option<DateTime<Utc>>,
        /// Detection time.
        detected_at: DateTime<Utc>,
        /// When it ended.
        ended_at: DateTime<Utc>,
        /// Why.
        cause: Cause,
    },
    /// Close an open outage.
    Close {
        /// Which event.
        event_id: EventId,
        /// When it ended (possibly backdated by the device's uptime).
        ended_at: DateTime<Utc>,
        /// Final cause.
        cause: Cause,
    },
}

/// A change of the current state interval.
///
/// The store closes the open interval at `max(at, its start)` and opens the new one from that
/// same instant, so intervals never overlap even when `at` lies before the open interval began
/// (a backdated outage start after a restart). An interval that ends up empty is dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntervalSwitch {
    /// Close the open interval here and open a new one from here.
    pub at: DateTime<Utc>,
    /// Kind of the new interval.
    pub kind: IntervalKind,
    /// Relabel the interval being closed (down → network when the outage was only the network).
    pub relabel_closed_as: Option<IntervalKind>,
}

/// A state change of one location, written atomically with its notifications.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    /// Which location.
    pub location_id: LocationId,
    /// New status.
    pub status: Status,
    /// Interval change (possibly none, e.g. for a live update).
    pub interval: Option<IntervalSwitch>,
    /// Event change.
    pub event: EventChange,
    /// Notifications to enqueue (one row per notifier is created for each).
    pub notifications: Vec<NewNotification>,
}

/// A notification to enqueue in the outbox.
#[derive(Debug, Clone, PartialEq)]
pub struct NewNotification {
    /// Notifier name that will deliver it.
    pub notifier: String,
    /// Queue key inside the notifier (the chat); delivery is ordered per `(notifier, chat)`.
    pub chat: String,
    /// What to say. If it concerns the event being opened by the same transition, its
    /// `event_id` is filled in by the store.
    pub alert: Alert,
}

/// Identifier of an outbox row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct OutboxId(pub i64);

/// A claimed outbox row.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxItem {
    /// Row id.
    pub id: OutboxId,
    /// Notifier name.
    pub notifier: String,
    /// Queue key (chat).
    pub chat: String,
    /// What to say.
    pub alert: Alert,
    /// How many delivery attempts failed so far.
    pub attempts: u32,
    /// When the row was written.
    pub created_at: DateTime<Utc>,
}

/// Counts of outbox rows by state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboxStats {
    /// Waiting for delivery (including retries).
    pub pending: u64,
    /// Delivered.
    pub delivered: u64,
    /// Given up (permanent error).
    pub failed: u64,
}

/// The outbox rows of one notifier ([`StatusStore::outbox_by_notifier`]): counts by state and
/// the last error it reported.
///
/// Error texts come from the notifiers, which keep secrets (bot tokens) out of them, so they
/// may be shown to an operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifierOutboxStats {
    /// Notifier name, as in [`OutboxItem::notifier`].
    pub notifier: String,
    /// Waiting for delivery (including retries).
    pub pending: u64,
    /// Delivered.
    pub delivered: u64,
    /// Given up (permanent error).
    pub failed: u64,
    /// The error of the notifier's most recent failed attempt, whatever became of its row
    /// (retried and still pending, delivered later, or given up); `None` when no row of the
    /// notifier that is still kept has failed. "Most recent" is by `last_error_at`, then by
    /// the row that was queued last.
    pub last_error: Option<String>,
    /// When that error happened, as near as the outbox knows: no store keeps the time of a
    /// failed attempt, so this is the row's next due time (`next_attempt_at`). For a row given
    /// up it is when the failing attempt was due; for a row retried after the error it is
    /// when the retry was (or is) due, one back-off (at most 5 min) or a rate limit's
    /// `retry_after` after the failure — so it may lie in the future while the retry waits.
    pub last_error_at: Option<DateTime<Utc>>,
}

/// Filter for [`StatusStore::list_events`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventFilter {
    /// Only this location.
    pub location_id: Option<LocationId>,
    /// Only events that overlap `[from, to)`.
    pub from: Option<DateTime<Utc>>,
    /// See `from`.
    pub to: Option<DateTime<Utc>>,
    /// At most this many, newest first.
    pub limit: Option<u32>,
}

/// What a retention run deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PruneStats {
    /// Raw heartbeats deleted.
    pub heartbeats: u64,
    /// Delivered or failed outbox rows deleted.
    pub outbox: u64,
}

/// Storage of everything the monitor knows. Implemented by the SQLite and PostgreSQL crates
/// and by [`crate::memory_store::MemoryStore`].
///
/// The engine, the HTTP source and the admin panel hold it as `Arc<dyn StatusStore>` and never
/// see which database is behind it. A new implementation must pass the behaviour suite in
/// `outage-testkit` (`store_suite`), which holds every store to the same semantics as
/// `MemoryStore`.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
///
/// use outage_core::keys::KeyHash;
/// use outage_core::memory_store::MemoryStore;
/// use outage_core::{DeviceFacts, Heartbeat, NewLocation, StatusStore};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), outage_core::StoreError> {
/// let store: Arc<dyn StatusStore> = Arc::new(MemoryStore::new());
/// store.migrate().await?;
/// let now = chrono::Utc::now();
/// let home = NewLocation { name: "Home".into(), timeout: Duration::from_secs(30), chat_id: None, routes: Vec::new() };
/// let loc = store.create_location(&home, KeyHash::of("secret-key"), now).await?;
///
/// // Keys are stored hashed; the record carries the hash, never the key.
/// let record = store.get_location(loc.id).await?.expect("just created");
/// assert_eq!(record.key_hash, KeyHash::of("secret-key"));
///
/// let beat = Heartbeat { location_id: loc.id, received_at: now, facts: DeviceFacts::default() };
/// store.record_heartbeats(&[beat], now).await?;
/// assert_eq!(store.recent_heartbeats(loc.id, 10).await?.len(), 1);
///
/// // A second location with the same name is refused.
/// let again = store.create_location(&home, KeyHash::of("other-key"), now).await;
/// assert!(matches!(again, Err(outage_core::StoreError::Conflict(_))));
/// # Ok(())
/// # }
/// ```
#[async_trait]
pub trait StatusStore: Send + Sync + std::fmt::Debug + 'static {
    /// Brings the schema up to date. Idempotent.
    async fn migrate(&self) -> Result<(), StoreError>;

    /// Cheap round trip to check the database answers (for `/readyz`).
    async fn ping(&self) -> Result<(), StoreError>;

    /// Creates a location; the name must be unique.
    async fn create_location(
        &self,
        new: &NewLocation,
        key_hash: KeyHash,
        now: DateTime<Utc>,
    ) -> Result<Location, StoreError>;

    /// All locations, ordered by id.
    async fn list_locations(&self) -> Result<Vec<LocationRecord>, StoreError>;

    /// A number that changes whenever the set of locations or the settings of one change, so a
    /// running engine can skip [`StatusStore::list_locations`] (expensive with many locations)
    /// when nothing changed, also when the change was made by another process.
    ///
    /// Contract:
    /// - It changes with every location created or deleted, and with every write of a
    ///   location's *settings*: name, key hash, timeout, chat, enabled, paused-until — i.e. with
    ///   every successful [`StatusStore::create_location`], [`StatusStore::update_location`]
    ///   (even one that sets the same values), [`StatusStore::set_key_hash`] and
    ///   [`StatusStore::delete_location`] of an existing location, whichever process made it.
    /// - It does **not** change with runtime state: [`StatusStore::record_heartbeats`],
    ///   [`StatusStore::apply_transition`]/[`StatusStore::apply_transitions`] (status,
    ///   last-seen, device facts, events, intervals, outbox) leave it alone, so a busy monitor
    ///   sees the same number tick after tick.
    /// - Only equality means anything: callers compare it with the value they read before their
    ///   last listing. (It usually counts up, but a restored backup may bring an older number.)
    ///   Read it *before* listing: a change in between then only costs one more listing.
    async fn locations_version(&self) -> Result<i64, StoreError>;

    /// One location by id.
    async fn get_location(&self, id: LocationId) -> Result<Option<LocationRecord>, StoreError>;

    /// Applies a partial update.
    async fn update_location(
        &self,
        id: LocationId,
        patch: &LocationPatch,
        now: DateTime<Utc>,
    ) -> Result<Location, StoreError>;

    /// Replaces the key hash (key rotation).
    async fn set_key_hash(&self, id: LocationId, key_hash: KeyHash) -> Result<(), StoreError>;

    /// Deletes a location and its history. Returns whether it existed.
    async fn delete_location(&self, id: LocationId) -> Result<bool, StoreError>;

    /// Everything the engine needs to resume after a restart.
    async fn load_runtime(&self) -> Result<RuntimeSnapshot, StoreError>;

    /// Persists a batch of heartbeats (raw beats and each location's last-seen state) and the
    /// monitor's own liveness mark, in one transaction.
    async fn record_heartbeats(
        &self,
        beats: &[Heartbeat],
        alive_at: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// [`Self::record_heartbeats`] on a standby instance: the batch is persisted the same way
    /// and also handed to the leader instance, which applies it as if the beats had reached it
    /// ([`Self::relayed_heartbeats`]). A store that one instance serves alone (SQLite, memory)
    /// only records them.
    async fn relay_heartbeats(
        &self,
        beats: &[Heartbeat],
        alive_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.record_heartbeats(beats, alive_at).await
    }

    /// The batches standby instances relay ([`Self::relay_heartbeats`]), as they are committed;
    /// `None` when this store has no such channel. Delivery is best effort: a batch missed
    /// while the channel reconnects is still in the store, and the engine re-reads a location
    /// before declaring it down.
    async fn relayed_heartbeats(
        &self,
    ) -> Result<Option<tokio::sync::mpsc::Receiver<Vec<Heartbeat>>>, StoreError> {
        Ok(None)
    }

    /// Raw heartbeats of a location, newest first.
    async fn recent_heartbeats(
        &self,
        id: LocationId,
        limit: u32,
    ) -> Result<Vec<Heartbeat>, StoreError>;

    /// Writes a state change with its notifications atomically. Returns the id of the event
    /// opened (or opened-and-closed) by it, if any.
    async fn apply_transition(&self, t: &Transition) -> Result<Option<EventId>, StoreError>;

    /// Applies many transitions (e.g. marking every location `unknown` at start-up). Stores
    /// override this to use one transaction, so the batch is all or nothing (the SQLite and
    /// memory stores do; the conformance suite checks it). This default applies them one by
    /// one: each transition stays atomic, but a failure leaves the earlier ones applied.
    async fn apply_transitions(&self, ts: &[Transition]) -> Result<(), StoreError> {
        for t in ts {
            self.apply_transition(t).await?;
        }
        Ok(())
    }

    /// Power events, newest first.
    async fn list_events(&self, filter: &EventFilter) -> Result<Vec<PowerEvent>, StoreError>;

    /// One event by id.
    async fn get_event(&self, id: EventId) -> Result<Option<PowerEvent>, StoreError>;

    /// State intervals of a location overlapping `[from, to)`, oldest first.
    async fn list_intervals(
        &self,
        id: LocationId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<StateInterval>, StoreError>;

    /// The head row of every `(notifier, chat)` queue that is due at `now`, oldest first.
    async fn claim_notifications(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<OutboxItem>, StoreError>;

    /// The due pending rows of one `(notifier, chat)` queue, from its head on, in insertion
    /// order and stopping at the first row that is not due (at most `limit`). The delivery
    /// worker uses it to send a burst of alerts as one message.
    async fn claim_queue(
        &self,
        notifier: &str,
        chat: &str,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<OutboxItem>, StoreError>;

    /// Marks a row delivered and remembers where the message went (for later edits/replies).
    async fn complete_notification(
        &self,
        id: OutboxId,
        delivered: Option<&MessageRef>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Records a failed attempt and when to try again.
    async fn retry_notification(
        &self,
        id: OutboxId,
        next_attempt_at: DateTime<Utc>,
        error: &str,
    ) -> Result<(), StoreError>;

    /// Gives up on a row (permanent error); it stays visible as failed.
    async fn fail_notification(&self, id: OutboxId, error: &str) -> Result<(), StoreError>;

    /// Earliest `next_attempt_at` of the pending queue heads (so the worker knows when to
    /// wake). Rows behind a head do not count: they cannot be claimed before it.
    async fn next_notification_due(&self) -> Result<Option<DateTime<Utc>>, StoreError>;

    /// Counts of outbox rows.
    async fn outbox_stats(&self) -> Result<OutboxStats, StoreError>;

    /// Counts of outbox rows and the last error, per notifier name present in the outbox,
    /// ordered by name (byte order); empty when the outbox is. Rows removed by
    /// [`StatusStore::prune`] no longer count.
    async fn outbox_by_notifier(&self) -> Result<Vec<NotifierOutboxStats>, StoreError>;

    /// Messages sent about an event (by any notifier), oldest first.
    async fn message_refs(&self, event_id: EventId) -> Result<Vec<MessageRef>, StoreError>;

    /// Deletes raw heartbeats older than `beats_before` and finished outbox rows older than
    /// `outbox_before`. Intervals and events are kept.
    async fn prune(
        &self,
        beats_before: DateTime<Utc>,
        outbox_before: DateTime<Utc>,
    ) -> Result<PruneStats, StoreError>;

    /// Every stored diagram message, ordered by location, notifier and chat.
    async fn diagram_messages(&self) -> Result<Vec<DiagramMessage>, StoreError>;

    /// Inserts or replaces the diagram message of `(location_id, notifier, chat)`.
    /// `NotFound` when the location does not exist.
    async fn save_diagram_message(&self, m: &DiagramMessage) -> Result<(), StoreError>;

    /// Forgets the diagram message of `(location, notifier, chat)`; `true` when one existed.
    async fn delete_diagram_message(
        &self,
        location: LocationId,
        notifier: &str,
        chat: &str,
    ) -> Result<bool, StoreError>;

    /// Stores a new read-API token with a unique `name` (`Conflict` when taken).
    async fn create_api_token(
        &self,
        name: &str,
        hash: KeyHash,
        at: DateTime<Utc>,
    ) -> Result<ApiToken, StoreError>;

    /// Every API token, oldest first.
    async fn list_api_tokens(&self) -> Result<Vec<ApiToken>, StoreError>;

    /// The token with this hash, if any.
    async fn find_api_token(&self, hash: &KeyHash) -> Result<Option<ApiToken>, StoreError>;

    /// Deletes a token; `true` when it existed. Requests with it fail from then on.
    async fn revoke_api_token(&self, id: ApiTokenId) -> Result<bool, StoreError>;

    /// Users and sessions of the admin panel: a store that does not keep them (the default
    /// bodies) answers `Unsupported`, and `serve` then runs without the panel.
    ///
    /// Creates an admin-panel user with a unique `name` (`Conflict` when taken).
    async fn create_user(
        &self,
        _name: &str,
        _role: Role,
        _password_hash: &str,
        _at: DateTime<Utc>,
    ) -> Result<User, StoreError> {
        Err(StoreError::Unsupported("admin-panel users and sessions"))
    }

    /// Every user, ordered by name.
    async fn list_users(&self) -> Result<Vec<User>, StoreError> {
        Err(StoreError::Unsupported("admin-panel users and sessions"))
    }

    /// The user with this exact name, if any.
    async fn find_user(&self, _name: &str) -> Result<Option<User>, StoreError> {
        Err(StoreError::Unsupported("admin-panel users and sessions"))
    }

    /// Changes a user's password hash and/or role (`NotFound` when there is no such user).
    /// A password change also ends every session of the user.
    async fn update_user(
        &self,
        _id: UserId,
        _password_hash: Option<&str>,
        _role: Option<Role>,
        _at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        Err(StoreError::Unsupported("admin-panel users and sessions"))
    }

    /// Deletes a user and all its sessions; `true` when it existed.
    async fn delete_user(&self, _id: UserId) -> Result<bool, StoreError> {
        Err(StoreError::Unsupported("admin-panel users and sessions"))
    }

    /// Stores a new session (`NotFound` when the user does not exist).
    async fn create_session(&self, _session: &Session) -> Result<(), StoreError> {
        Err(StoreError::Unsupported("admin-panel users and sessions"))
    }

    /// The session with this token hash and its user, when it exists and has not expired at
    /// `now`.
    async fn find_session(
        &self,
        _token_hash: &KeyHash,
        _now: DateTime<Utc>,
    ) -> Result<Option<(Session, User)>, StoreError> {
        Err(StoreError::Unsupported("admin-panel users and sessions"))
    }

    /// Ends a session (logout); `true` when it existed.
    async fn delete_session(&self, _token_hash: &KeyHash) -> Result<bool, StoreError> {
        Err(StoreError::Unsupported("admin-panel users and sessions"))
    }

    /// Deletes sessions that expired before `now`; returns how many.
    async fn prune_sessions(&self, _now: DateTime<Utc>) -> Result<u64, StoreError> {
        Err(StoreError::Unsupported("admin-panel users and sessions"))
    }

    /// Writes a consistent copy of the database to `path` (SQLite: `VACUUM INTO`).
    async fn backup(&self, _path: &std::path::Path) -> Result<(), StoreError> {
        Err(StoreError::Unsupported("backup"))
    }
}

/// Options every store understands (`[store]` section).
#[derive(Debug, Clone, PartialEq)]
pub struct StoreOptions {
    /// Connection URL (`sqlite://…`, `postgres://…`).
    pub url: String,
    /// Maximum connections in the pool.
    pub pool: u32,
    /// How long to wait for a connection / a locked database.
    pub busy_timeout: Duration,
}
