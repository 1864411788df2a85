//! The [`StatusStore`] conformance suite: stories every store must pass.
//!
//! Each story is a public async fn that takes a fresh, migrated, empty store and tells what a
//! user of the store does ("a location is created, its key rotated, ..."), panicking with a
//! message that names the step when the store misbehaves. [`MemoryStore`] is the reference: a
//! database store must behave the same way.
//!
//! Run every story as its own `#[tokio::test]` with [`store_suite!`](crate::store_suite!), so a
//! failure names the story:
//!
//! ```ignore
//! use std::sync::Arc;
//! use outage_core::memory_store::MemoryStore;
//! use outage_core::StatusStore;
//!
//! async fn fresh() -> Arc<dyn StatusStore> {
//!     Arc::new(MemoryStore::new())
//! }
//!
//! outage_testkit::store_suite!(fresh());
//! ```
//!
//! The factory expression is evaluated once per story. It yields a [`Fixture`]: the store
//! alone, or `(store, guard)` where the guard (e.g. a temporary directory) lives until the story
//! ends. The calling crate needs `tokio` (with `macros` and `rt`) as a dependency.
//!
//! Conventions the stories rely on:
//! - Times are whole milliseconds after [`crate::t0`]; a store must keep at least millisecond
//!   precision.
//! - Ids are only compared with each other within one kind (locations, events, outbox rows);
//!   a store may number each kind separately, but ids of one kind grow with insertion order.
//! - A failed outbox row counts as finished at its last due time (`next_attempt_at`), since
//!   [`StatusStore::fail_notification`] is not given a clock.
//!
//! [`MemoryStore`]: outage_core::memory_store::MemoryStore

use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use outage_core::domain::{
    Cause, DeviceFacts, DiagramMessage, EventId, Heartbeat, IntervalKind, Location, LocationId,
    LocationPatch, MessageRef, NewLocation, PowerEvent, Role, Session, StateInterval, Status, User,
    UserId,
};
use outage_core::keys::KeyHash;
use outage_core::notify::{Alert, AlertKind};
pub use outage_core::store::StatusStore;
use outage_core::store::{
    EventChange, EventFilter, IntervalSwitch, LocationRecord, LocationRuntime, NewNotification,
    OutboxId, OutboxItem, OutboxStats, PruneStats, StoreError, Transition,
};

/// What a store factory hands to the suite: the store, plus whatever must live as long as the
/// story (a temporary directory holding the database file).
pub trait Fixture {
    /// The store under test.
    fn store(&self) -> Arc<dyn StatusStore>;
}

impl Fixture for Arc<dyn StatusStore> {
    fn store(&self) -> Arc<dyn StatusStore> {
        self.clone()
    }
}

impl<G> Fixture for (Arc<dyn StatusStore>, G) {
    fn store(&self) -> Arc<dyn StatusStore> {
        self.0.clone()
    }
}

/// Expands to one `#[tokio::test]` per story of the suite, each with a store made by evaluating
/// the factory expression (a future yielding a [`Fixture`]).
#[macro_export]
macro_rules! store_suite {
    ($factory:expr) => {
        $crate::store_suite!(@stories $factory;
            locations_are_created_listed_and_fetched,
            location_names_are_unique,
            a_patch_changes_only_what_it_names,
            key_rotation_replaces_the_stored_hash,
            locations_version_moves_with_settings_not_with_runtime,
            deleting_a_location_removes_its_history,
            heartbeats_update_last_seen_with_the_newest_beat,
            device_facts_round_trip_exactly,
            monitor_alive_at_only_moves_forward,
            beats_for_deleted_locations_are_ignored,
            recent_heartbeats_are_newest_first_and_limited,
            an_outage_opens_an_event_and_queues_its_alerts,
            a_restore_closes_the_event_with_its_cause,
            an_outage_found_already_over_is_stored_closed,
            interval_switches_build_a_gapless_history,
            a_backdated_switch_is_clamped_to_the_open_interval_start,
            a_switch_at_the_same_instant_drops_the_empty_interval,
            load_runtime_returns_everything_needed_after_a_restart,
            a_failed_transition_writes_nothing,
            events_are_listed_newest_first_and_filtered,
            intervals_are_queried_by_overlap,
            the_outbox_hands_out_only_due_queue_heads,
            a_retried_head_blocks_its_queue_but_not_others,
            a_queue_is_claimed_from_its_head_while_rows_are_due,
            completing_a_notification_remembers_where_it_went,
            a_permanent_failure_marks_the_row_failed,
            next_due_and_stats_follow_the_outbox,
            outbox_counts_and_last_errors_per_notifier,
            diagram_messages_are_saved_replaced_and_deleted,
            a_diagram_message_needs_its_location,
            deleting_a_location_removes_its_diagram_messages,
            api_tokens_are_created_found_and_listed_oldest_first,
            a_revoked_api_token_is_gone,
            users_are_created_listed_by_name_and_found,
            user_names_are_unique,
            a_password_change_ends_the_users_sessions_but_a_role_change_does_not,
            deleting_a_user_removes_it_and_its_sessions,
            sessions_are_found_only_before_they_expire,
            a_session_needs_its_user,
            ending_a_session_returns_true_then_false,
            prune_sessions_counts_and_removes_only_expired_ones,
            password_hashes_round_trip_exactly,
            roles_round_trip,
            users_and_sessions_leave_locations_version_alone,
            prune_deletes_old_beats_and_finished_outbox_rows,
            a_batch_of_transitions_is_all_or_nothing,
            times_keep_millisecond_precision,
            migrate_and_ping_are_idempotent,
        );
    };
    (@stories $factory:expr; $($story:ident),* $(,)?) => {
        $(
            #[::tokio::test]
            async fn $story() {
                let fixture = $factory.await;
                let store = $crate::store_suite::Fixture::store(&fixture);
                $crate::store_suite::$story(store).await;
                drop(fixture);
            }
        )*
    };
}

// ---------------------------------------------------------------------------------------------
// Helpers

/// Unwraps a store result, or fails the story naming the step.
#[track_caller]
fn must<T, E: Debug>(r: Result<T, E>, step: &str) -> T {
    match r {
        Ok(v) => v,
        Err(e) => panic!("{step}: unexpected error {e:?}"),
    }
}

/// `t0 + secs`.
fn at(secs: i64) -> DateTime<Utc> {
    crate::t0() + TimeDelta::seconds(secs)
}

/// `t0 + ms`.
fn at_ms(ms: i64) -> DateTime<Utc> {
    crate::t0() + TimeDelta::milliseconds(ms)
}

/// Far enough back and ahead to list whole histories.
fn all_time() -> (DateTime<Utc>, DateTime<Utc>) {
    (at(-1_000_000), at(1_000_000))
}

async fn add(store: &dyn StatusStore, name: &str) -> Location {
    must(
        store
            .create_location(
                &NewLocation {
                    routes: Vec::new(),
                    name: name.into(),
                    timeout: Duration::from_secs(30),
                    chat_id: None,
                },
                KeyHash::of(&format!("om_{name}")),
                crate::t0(),
            )
            .await,
        &format!("create location {name}"),
    )
}

async fn record(store: &dyn StatusStore, id: LocationId) -> LocationRecord {
    match must(store.get_location(id).await, "get_location") {
        Some(r) => r,
        None => panic!("location {id} should exist"),
    }
}

fn beat(id: LocationId, t: DateTime<Utc>, facts: DeviceFacts) -> Heartbeat {
    Heartbeat {
        location_id: id,
        received_at: t,
        facts,
    }
}

fn facts(boot: &str, uptime_s: u64) -> DeviceFacts {
    DeviceFacts {
        boot_id: Some(boot.into()),
        uptime_s: Some(uptime_s),
        seq: Some(uptime_s / 30),
        fw: Some("0.3.1".into()),
        rssi: Some(-67),
    }
}

fn alert(kind: AlertKind, loc: &Location, t: DateTime<Utc>) -> Alert {
    Alert {
        kind,
        location_id: loc.id,
        location_name: loc.name.clone(),
        event_id: None,
        started_at: Some(t - TimeDelta::seconds(30)),
        detected_at: Some(t),
        ended_at: None,
        cause: Cause::Unknown,
        at: t,
    }
}

fn note(notifier: &str, chat: &str, alert: Alert) -> NewNotification {
    NewNotification {
        notifier: notifier.into(),
        chat: chat.into(),
        alert,
    }
}

/// A transition that only changes the status and switches the interval.
fn switch(id: LocationId, status: Status, t: DateTime<Utc>, kind: IntervalKind) -> Transition {
    Transition {
        location_id: id,
        status,
        interval: Some(IntervalSwitch {
            at: t,
            kind,
            relabel_closed_as: None,
        }),
        event: EventChange::None,
        notifications: vec![],
    }
}

/// A transition that only enqueues notifications.
fn notify(id: LocationId, status: Status, notes: Vec<NewNotification>) -> Transition {
    Transition {
        location_id: id,
        status,
        interval: None,
        event: EventChange::None,
        notifications: notes,
    }
}

/// Declares `loc` down from `start` (detected 30 s later) with one alert queued for
/// `telegram` / `chat-<name>`; returns the new event id.
async fn open_outage(store: &dyn StatusStore, loc: &Location, start: DateTime<Utc>) -> EventId {
    let detected = start + TimeDelta::seconds(30);
    let t = Transition {
        location_id: loc.id,
        status: Status::Down,
        interval: Some(IntervalSwitch {
            at: start,
            kind: IntervalKind::Down,
            relabel_closed_as: None,
        }),
        event: EventChange::Open {
            started_at: Some(start),
            detected_at: detected,
            cause: Cause::Unknown,
        },
        notifications: vec![note(
            "telegram",
            &format!("chat-{}", loc.name),
            alert(AlertKind::Outage, loc, detected),
        )],
    };
    match must(store.apply_transition(&t).await, "open an outage") {
        Some(id) => id,
        None => panic!("opening an outage must return the new event id"),
    }
}

/// Applies a transition that opens-and-closes an event; returns its id.
async fn closed_event(
    store: &dyn StatusStore,
    id: LocationId,
    started_at: Option<DateTime<Utc>>,
    detected_at: DateTime<Utc>,
    ended_at: DateTime<Utc>,
) -> EventId {
    let t = Transition {
        location_id: id,
        status: Status::Up,
        interval: None,
        event: EventChange::Closed {
            started_at,
            detected_at,
            ended_at,
            cause: Cause::Power,
        },
        notifications: vec![],
    };
    match must(store.apply_transition(&t).await, "store a closed event") {
        Some(id) => id,
        None => panic!("a Closed event change must return the new event id"),
    }
}

async fn intervals(store: &dyn StatusStore, id: LocationId) -> Vec<StateInterval> {
    let (from, to) = all_time();
    must(store.list_intervals(id, from, to).await, "list_intervals")
}

fn iv(
    id: LocationId,
    kind: IntervalKind,
    start: DateTime<Utc>,
    end: Option<DateTime<Utc>>,
) -> StateInterval {
    StateInterval {
        location_id: id,
        kind,
        start,
        end,
    }
}

fn assert_one_open(list: &[StateInterval], step: &str) {
    let open = list.iter().filter(|i| i.end.is_none()).count();
    assert!(
        open <= 1,
        "{step}: at most one interval may be open: {list:?}"
    );
    for w in list.windows(2) {
        let end = w[0].end.unwrap_or(DateTime::<Utc>::MAX_UTC);
        assert!(end <= w[1].start, "{step}: intervals overlap: {list:?}");
    }
}

async fn claim(store: &dyn StatusStore, now: DateTime<Utc>, limit: u32) -> Vec<OutboxItem> {
    must(
        store.claim_notifications(now, limit).await,
        "claim_notifications",
    )
}

fn ids(items: &[OutboxItem]) -> Vec<OutboxId> {
    items.iter().map(|i| i.id).collect()
}

fn queues(items: &[OutboxItem]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|i| (i.notifier.clone(), i.chat.clone()))
        .collect()
}

fn q(notifier: &str, chat: &str) -> (String, String) {
    (notifier.into(), chat.into())
}

fn event_ids(events: &[PowerEvent]) -> Vec<EventId> {
    events.iter().map(|e| e.id).collect()
}

// ---------------------------------------------------------------------------------------------
// Locations

/// A route to `notifier`, optionally to one `chat` of it.
fn route(notifier: &str, chat: Option<&str>) -> outage_core::Route {
    outage_core::Route {
        notifier: notifier.into(),
        chat: chat.map(Into::into),
    }
}

/// Two locations are created (one with routes); they are listed in id order and fetched one by
/// one with their key hash, routes and an empty runtime state; an unknown id gives `None`.
pub async fn locations_are_created_listed_and_fetched(store: Arc<dyn StatusStore>) {
    let s = &*store;
    assert!(
        must(s.list_locations().await, "list an empty store").is_empty(),
        "a fresh store has no locations"
    );
    let home = must(
        s.create_location(
            &NewLocation {
                routes: vec![route("family", None), route("me", Some("42"))],
                name: "Home".into(),
                timeout: Duration::from_secs(45),
                chat_id: Some("-100123".into()),
            },
            KeyHash::of("om_home"),
            at(0),
        )
        .await,
        "create Home",
    );
    let mum = must(
        s.create_location(
            &NewLocation {
                routes: Vec::new(),
                name: "Мамина квартира".into(),
                timeout: Duration::from_millis(90_500),
                chat_id: None,
            },
            KeyHash::of("om_mum"),
            at(60),
        )
        .await,
        "create a location with a Cyrillic name",
    );
    assert!(home.id < mum.id, "ids grow with insertion order");
    assert_eq!(
        home,
        Location {
            routes: vec![route("family", None), route("me", Some("42"))],
            id: home.id,
            name: "Home".into(),
            timeout: Duration::from_secs(45),
            chat_id: Some("-100123".into()),
            enabled: true,
            paused_until: None,
            created_at: at(0),
            updated_at: at(0),
        },
        "a new location is enabled, not paused, created and updated now"
    );
    assert_eq!(mum.name, "Мамина квартира");
    assert_eq!(mum.timeout, Duration::from_millis(90_500));
    assert_eq!(mum.created_at, at(60));
    assert!(mum.routes.is_empty());

    let list = must(s.list_locations().await, "list_locations");
    assert_eq!(
        list.iter().map(|r| r.location.id).collect::<Vec<_>>(),
        vec![home.id, mum.id],
        "locations are listed by id"
    );
    assert_eq!(list[0].location, home);
    assert_eq!(list[0].key_hash, KeyHash::of("om_home"));
    assert_eq!(list[0].runtime, LocationRuntime::default());
    assert_eq!(list[1].location, mum);
    assert_eq!(list[1].key_hash, KeyHash::of("om_mum"));

    let got = record(s, mum.id).await;
    assert_eq!(
        got, list[1],
        "get_location returns what list_locations does"
    );
    let missing = LocationId(mum.id.0 + 1000);
    assert_eq!(
        must(s.get_location(missing).await, "get an unknown location"),
        None
    );
}

/// A second location with a taken name is refused with a `Conflict` naming it, and so is a
/// rename onto a taken name; renaming a location to its own name is fine.
pub async fn location_names_are_unique(store: Arc<dyn StatusStore>) {
    let s = &*store;
    let home = add(s, "Home").await;
    let dup = s
        .create_location(
            &NewLocation {
                routes: Vec::new(),
                name: "Home".into(),
                timeout: Duration::from_secs(30),
                chat_id: None,
            },
            KeyHash::of("om_other"),
            at(1),
        )
        .await;
    match dup {
        Err(StoreError::Conflict(msg)) => {
            assert!(
                msg.contains("Home"),
                "the conflict names the location: {msg}"
            )
        }
        other => panic!("a duplicate name must be a Conflict, got {other:?}"),
    }
    assert_eq!(
        must(s.list_locations().await, "list").len(),
        1,
        "the duplicate was not stored"
    );

    let office = add(s, "Office").await;
    let rename = LocationPatch {
        name: Some("Home".into()),
        ..Default::default()
    };
    match s.update_location(office.id, &rename, at(2)).await {
        Err(StoreError::Conflict(msg)) => {
            assert!(
                msg.contains("Home"),
                "the conflict names the location: {msg}"
            )
        }
        other => panic!("renaming onto a taken name must be a Conflict, got {other:?}"),
    }
    assert_eq!(
        record(s, office.id).await.location,
        office,
        "a refused rename changes nothing"
    );
    let same = must(
        s.update_location(home.id, &rename, at(3)).await,
        "rename Home to Home",
    );
    assert_eq!(same.name, "Home");
}

/// A patch changes only the fields it names; `Some(None)` clears the chat and the pause;
/// `updated_at` moves, `created_at` does not; an unknown id is `NotFound`.
pub async fn a_patch_changes_only_what_it_names(store: Arc<dyn StatusStore>) {
    let s = &*store;
    let created = must(
        s.create_location(
            &NewLocation {
                routes: Vec::new(),
                name: "Dacha".into(),
                timeout: Duration::from_secs(30),
                chat_id: Some("111".into()),
            },
            KeyHash::of("om_dacha"),
            at(0),
        )
        .await,
        "create Dacha",
    );

    let longer = must(
        s.update_location(
            created.id,
            &LocationPatch {
                timeout: Some(Duration::from_secs(120)),
                ..Default::default()
            },
            at(10),
        )
        .await,
        "change the timeout",
    );
    assert_eq!(
        longer,
        Location {
            timeout: Duration::from_secs(120),
            updated_at: at(10),
            ..created.clone()
        },
        "only the timeout and updated_at change"
    );
    assert_eq!(
        record(s, created.id).await.location,
        longer,
        "and it is stored"
    );

    let paused = must(
        s.update_location(
            created.id,
            &LocationPatch {
                chat_id: Some(Some("222".into())),
                enabled: Some(false),
                paused_until: Some(Some(at(3600))),
                ..Default::default()
            },
            at(20),
        )
        .await,
        "set chat, disable and pause",
    );
    assert_eq!(paused.chat_id.as_deref(), Some("222"));
    assert!(!paused.enabled);
    assert_eq!(paused.paused_until, Some(at(3600)));
    assert_eq!(
        paused.timeout,
        Duration::from_secs(120),
        "the timeout stays"
    );
    assert_eq!(record(s, created.id).await.location, paused);

    let cleared = must(
        s.update_location(
            created.id,
            &LocationPatch {
                chat_id: Some(None),
                paused_until: Some(None),
                ..Default::default()
            },
            at(30),
        )
        .await,
        "clear chat and pause",
    );
    assert_eq!(cleared.chat_id, None, "Some(None) clears the chat");
    assert!(cleared.routes.is_empty(), "no routes until some are set");
    assert_eq!(cleared.paused_until, None, "Some(None) resumes");
    assert!(!cleared.enabled, "enabled is untouched");
    assert_eq!(record(s, created.id).await.location, cleared);

    let routes = vec![
        route("family", None),
        route("me", Some("-1001234567890")),
        route("ntfy-main", Some("@home_power")),
    ];
    let routed = must(
        s.update_location(
            created.id,
            &LocationPatch {
                routes: Some(routes.clone()),
                ..Default::default()
            },
            at(35),
        )
        .await,
        "set routes",
    );
    assert_eq!(routed.routes, routes, "routes keep their order and chats");
    assert_eq!(routed.chat_id, None, "the chat is untouched");
    assert_eq!(record(s, created.id).await.location, routed);
    let unrouted = must(
        s.update_location(
            created.id,
            &LocationPatch {
                routes: Some(Vec::new()),
                ..Default::default()
            },
            at(36),
        )
        .await,
        "clear routes",
    );
    assert!(unrouted.routes.is_empty(), "Some(vec![]) clears the routes");
    assert_eq!(record(s, created.id).await.location, unrouted);

    let renamed = must(
        s.update_location(
            created.id,
            &LocationPatch {
                name: Some("Дача".into()),
                enabled: Some(true),
                ..Default::default()
            },
            at(40),
        )
        .await,
        "rename and enable",
    );
    assert_eq!(renamed.name, "Дача");
    assert!(renamed.enabled);

    let touched = must(
        s.update_location(created.id, &LocationPatch::default(), at(50))
            .await,
        "an empty patch",
    );
    assert_eq!(
        touched,
        Location {
            updated_at: at(50),
            ..renamed
        },
        "an empty patch only moves updated_at"
    );
    assert_eq!(touched.created_at, at(0), "created_at never moves");
    assert_eq!(record(s, created.id).await.location, touched);

    match s
        .update_location(
            LocationId(created.id.0 + 1000),
            &LocationPatch::default(),
            at(60),
        )
        .await
    {
        Err(StoreError::NotFound { .. }) => {}
        other => panic!("patching an unknown location must be NotFound, got {other:?}"),
    }
}

/// The key hash given at creation is what is stored; rotating it replaces it everywhere the
/// engine reads it, and leaves other locations alone.
pub async fn key_rotation_replaces_the_stored_hash(store: Arc<dyn StatusStore>) {
    let s = &*store;
    let old = KeyHash::of("om_first-key");
    let new = KeyHash::of("om_second-key");
    let loc = must(
        s.create_location(
            &NewLocation {
                routes: Vec::new(),
                name: "Garage".into(),
                timeout: Duration::from_secs(30),
                chat_id: None,
            },
            old,
            at(0),
        )
        .await,
        "create Garage",
    );
    let other = add(s, "Shed").await;
    assert_eq!(record(s, loc.id).await.key_hash, old);

    must(s.set_key_hash(loc.id, new).await, "rotate the key");
    assert_eq!(
        record(s, loc.id).await.key_hash,
        new,
        "get_location sees the new hash"
    );
    let snap = must(s.load_runtime().await, "load_runtime");
    let hashes: Vec<_> = snap
        .locations
        .iter()
        .map(|r| (r.location.id, r.key_hash))
        .collect();
    assert_eq!(
        hashes,
        vec![(loc.id, new), (other.id, KeyHash::of("om_Shed"))],
        "load_runtime sees the new hash and the other location keeps its own"
    );
    let listed = must(s.list_locations().await, "list_locations");
    assert!(
        !listed.iter().any(|r| r.key_hash == old),
        "the old hash is gone"
    );

    match s.set_key_hash(LocationId(other.id.0 + 1000), new).await {
        Err(StoreError::NotFound { .. }) => {}
        other => panic!("rotating the key of an unknown location must be NotFound, got {other:?}"),
    }
}

async fn version(s: &dyn StatusStore) -> i64 {
    must(s.locations_version().await, "locations_version")
}

/// Fails the story unless `locations_version` moved since `before`; returns the new value.
async fn version_moved(s: &dyn StatusStore, before: i64, step: &str) -> i64 {
    let now = version(s).await;
    assert_ne!(now, before, "{step} must change locations_version");
    now
}

async fn version_kept(s: &dyn StatusStore, before: i64, step: &str) {
    assert_eq!(
        version(s).await,
        before,
        "{step} must not change locations_version (runtime state only)"
    );
}

/// `locations_version` moves with every change of the locations or their settings — creating,
/// each setting of a patch, a key rotation, deleting — and stays put through reads, heartbeats
/// and transitions, which only touch runtime state (a running engine relies on it to skip
/// listing every location every few seconds).
pub async fn locations_version_moves_with_settings_not_with_runtime(store: Arc<dyn StatusStore>) {
    let s = &*store;
    let mut v = version(s).await;
    version_kept(s, v, "reading it again").await;

    let home = add(s, "Home").await;
    v = version_moved(s, v, "creating a location").await;
    let shed = add(s, "Shed").await;
    v = version_moved(s, v, "creating a second location").await;

    let patches = [
        (
            "a rename",
            LocationPatch {
                name: Some("Дім".into()),
                ..Default::default()
            },
        ),
        (
            "a new timeout",
            LocationPatch {
                timeout: Some(Duration::from_secs(90)),
                ..Default::default()
            },
        ),
        (
            "setting the chat",
            LocationPatch {
                chat_id: Some(Some("-100".into())),
                ..Default::default()
            },
        ),
        (
            "clearing the chat",
            LocationPatch {
                chat_id: Some(None),
                ..Default::default()
            },
        ),
        (
            "setting routes",
            LocationPatch {
                routes: Some(vec![route("family", None)]),
                ..Default::default()
            },
        ),
        (
            "disabling",
            LocationPatch {
                enabled: Some(false),
                ..Default::default()
            },
        ),
        (
            "enabling",
            LocationPatch {
                enabled: Some(true),
                ..Default::default()
            },
        ),
        (
            "pausing",
            LocationPatch {
                paused_until: Some(Some(at(3600))),
                ..Default::default()
            },
        ),
        (
            "resuming",
            LocationPatch {
                paused_until: Some(None),
                ..Default::default()
            },
        ),
    ];
    let mut home_now = home.clone();
    for (i, (step, patch)) in patches.iter().enumerate() {
        home_now = must(s.update_location(home.id, patch, at(i as i64)).await, step);
        v = version_moved(s, v, step).await;
    }
    must(
        s.set_key_hash(home.id, KeyHash::of("om_rotated")).await,
        "rotate the key",
    );
    v = version_moved(s, v, "a key rotation").await;

    // Runtime state only.
    must(s.list_locations().await, "list_locations");
    must(s.load_runtime().await, "load_runtime");
    version_kept(s, v, "reading the locations").await;
    must(
        s.record_heartbeats(
            &[
                beat(home.id, at(10), facts("boot-1", 10)),
                beat(shed.id, at(10), facts("boot-2", 10)),
            ],
            at(10),
        )
        .await,
        "record heartbeats",
    );
    version_kept(s, v, "recording heartbeats").await;
    must(
        s.apply_transition(&switch(home.id, Status::Up, at(10), IntervalKind::Up))
            .await,
        "home is up",
    );
    version_kept(s, v, "a transition (status, interval)").await;
    open_outage(s, &home_now, at(20)).await;
    version_kept(s, v, "a transition opening an outage with alerts").await;
    must(
        s.apply_transitions(&[
            switch(home.id, Status::Up, at(80), IntervalKind::Up),
            switch(shed.id, Status::Unknown, at(80), IntervalKind::Unknown),
        ])
        .await,
        "a batch of transitions",
    );
    version_kept(s, v, "a batch of transitions").await;

    assert!(
        must(s.delete_location(shed.id).await, "delete Shed"),
        "Shed existed"
    );
    version_moved(s, v, "deleting a location").await;
}

/// A location with beats, intervals, an outage, queued and delivered notifications is deleted:
/// all of it goes, the other location keeps everything, and deleting again returns `false`.
pub async fn deleting_a_location_removes_its_history(store: Arc<dyn StatusStore>) {
    let s = &*store;
    let gone = add(s, "Old flat").await;
    let kept = add(s, "New flat").await;
    let mut gone_event = None;
    let mut kept_event = None;
    for loc in [&gone, &kept] {
        must(
            s.record_heartbeats(
                &[
                    beat(loc.id, at(0), facts("b1", 10)),
                    beat(loc.id, at(30), facts("b1", 40)),
                ],
                at(30),
            )
            .await,
            "record beats",
        );
        must(
            s.apply_transition(&switch(loc.id, Status::Up, at(0), IntervalKind::Up))
                .await,
            "declare up",
        );
        let ev = open_outage(s, loc, at(60)).await;
        // A second notification in its own queue, left pending.
        must(
            s.apply_transition(&notify(
                loc.id,
                Status::Down,
                vec![note(
                    "console",
                    &loc.name,
                    alert(AlertKind::OutageUpdate, loc, at(200)),
                )],
            ))
            .await,
            "queue an update",
        );
        if loc.id == gone.id {
            gone_event = Some(ev);
        } else {
            kept_event = Some(ev);
        }
    }
    let (Some(gone_event), Some(kept_event)) = (gone_event, kept_event) else {
        panic!("both outages were opened");
    };
    // Deliver the outage alert of each location, remembering the message.
    for item in claim(s, at(100), 10).await {
        if item.notifier == "telegram" {
            let msg = MessageRef {
                notifier: "telegram".into(),
                chat: item.chat.clone(),
                message_id: format!("m{}", item.alert.location_id),
            };
            must(
                s.complete_notification(item.id, Some(&msg), at(100)).await,
                "complete",
            );
        }
    }
    assert_eq!(must(s.message_refs(gone_event).await, "refs").len(), 1);

    assert!(
        must(s.delete_location(gone.id).await, "delete"),
        "it existed"
    );

    assert_eq!(must(s.get_location(gone.id).await, "get"), None);
    let left: Vec<_> = must(s.list_locations().await, "list")
        .into_iter()
        .map(|r| r.location.id)
        .collect();
    assert_eq!(left, vec![kept.id]);
    assert!(
        must(s.recent_heartbeats(gone.id, 10).await, "beats").is_empty(),
        "beats gone"
    );
    assert!(intervals(s, gone.id).await.is_empty(), "intervals gone");
    assert_eq!(
        must(s.get_event(gone_event).await, "get_event"),
        None,
        "event gone"
    );
    assert!(
        must(
            s.list_events(&EventFilter {
                location_id: Some(gone.id),
                ..Default::default()
            })
            .await,
            "list_events"
        )
        .is_empty(),
        "events gone"
    );
    assert!(
        must(s.message_refs(gone_event).await, "refs").is_empty(),
        "message refs gone"
    );
    assert_eq!(
        must(s.outbox_stats().await, "stats"),
        OutboxStats {
            pending: 1,
            delivered: 1,
            failed: 0
        },
        "only the kept location's outbox rows remain"
    );
    let pending = claim(s, at(1000), 10).await;
    assert!(
        pending.iter().all(|i| i.alert.location_id == kept.id) && pending.len() == 1,
        "only the kept location's pending row can be claimed: {pending:?}"
    );

    // The other location is untouched.
    assert_eq!(
        must(s.recent_heartbeats(kept.id, 10).await, "beats").len(),
        2
    );
    assert_eq!(intervals(s, kept.id).await.len(), 2);
    assert!(must(s.get_event(kept_event).await, "get_event").is_some());
    assert_eq!(must(s.message_refs(kept_event).await, "refs").len(), 1);

    assert!(
        !must(s.delete_location(gone.id).await, "delete again"),
        "a second delete reports it did not exist"
    );
}

// ---------------------------------------------------------------------------------------------
// Heartbeats

/// Beats arrive out of order within and across batches: last_seen and the last facts follow the
/// newest beat by arrival time (the later one in a batch wins a tie), never moving back.
pub async fn heartbeats_update_last_seen_with_the_newest_beat(store: Arc<dyn StatusStore>) {
    let s = &*store;
    let loc = add(s, "Home").await;
    let other = add(s, "Office").await;
    must(
        s.record_heartbeats(
            &[
                beat(loc.id, at(20), facts("boot-2", 5)),
                beat(other.id, at(5), facts("o", 1)),
                beat(loc.id, at(10), facts("boot-1", 900)),
            ],
            at(21),
        )
        .await,
        "record a batch with the newest beat first",
    );
    let rt = record(s, loc.id).await.runtime;
    assert_eq!(
        rt.last_seen,
        Some(at(20)),
        "the newest beat wins, not the last one"
    );
    assert_eq!(rt.last_facts, facts("boot-2", 5));
    assert_eq!(rt.status, None, "heartbeats do not write a status");
    assert_eq!(record(s, other.id).await.runtime.last_seen, Some(at(5)));

    must(
        s.record_heartbeats(&[beat(loc.id, at(15), facts("late", 1))], at(22))
            .await,
        "record a late, older beat",
    );
    let rt = record(s, loc.id).await.runtime;
    assert_eq!(
        rt.last_seen,
        Some(at(20)),
        "an older beat never moves last_seen back"
    );
    assert_eq!(rt.last_facts, facts("boot-2", 5), "nor the last facts");

    must(
        s.record_heartbeats(
            &[
                beat(loc.id, at(30), facts("first", 1)),
                beat(loc.id, at(30), DeviceFacts::default()),
            ],
            at(31),
        )
        .await,
        "record two beats at one instant",
    );
    let rt = record(s, loc.id).await.runtime;
    assert_eq!(rt.last_seen, Some(at(30)));
    assert_eq!(
        rt.last_facts,
        DeviceFacts::default(),
        "of two beats at one instant the later one wins; a beat without facts clears them"
    );
    assert_eq!(
        must(s.recent_heartbeats(loc.id, 100).await, "recent").len(),
        5,
        "every beat is kept raw, old or not"
    );
}

/// Device facts come back exactly as sent, extreme values included (a device may send any
/// `u64`; a store must not fail a whole batch because of one).
pub async fn device_facts_round_trip_exactly(store: Arc<dyn StatusStore>) {
    let s = &*store;
    let loc = add(s, "Lab").await;
    let odd = DeviceFacts {
        boot_id: Some("ünïcödé-☀".into()),
        uptime_s: Some(u64::MAX),
        seq: Some(i64::MAX as u64 + 1),
        fw: Some(String::new()),
        rssi: Some(i32::MIN),
    };
    let partial = DeviceFacts {
        boot_id: None,
        uptime_s: Some(0),
        seq: None,
        fw: None,
        rssi: Some(i32::MAX),
    };
    must(
        s.record_heartbeats(
            &[
                beat(loc.id, at(1), partial.clone()),
                beat(loc.id, at(2), odd.clone()),
            ],
            at(2),
        )
        .await,
        "record extreme facts",
    );
    assert_eq!(record(s, loc.id).await.runtime.last_facts, odd);
    let recent = must(s.recent_heartbeats(loc.id, 10).await, "recent");
    assert_eq!(
        recent,
        vec![beat(loc.id, at(2), odd), beat(loc.id, at(1), partial)],
        "raw beats keep their facts exactly"
    );
}

/// Every batch, even an empty one, records that the monitor was alive; the mark only moves
/// forward.
pub async fn monitor_alive_at_only_moves_forward(store: Arc<dyn StatusStore>) {
    let s = &*store;
    assert_eq!(must(s.load_runtime().await, "load").monitor_alive_at, None);
    must(s.record_heartbeats(&[], at(100)).await, "an empty batch");
    assert_eq!(
        must(s.load_runtime().await, "load").monitor_alive_at,
        Some(at(100)),
        "an empty batch still marks the monitor alive"
    );
    must(s.record_heartbeats(&[], at(50)).await, "an older mark");
    assert_eq!(
        must(s.load_runtime().await, "load").monitor_alive_at,
        Some(at(100)),
        "the mark never moves back"
    );
    must(s.record_heartbeats(&[], at(150)).await, "a newer mark");
    assert_eq!(
        must(s.load_runtime().await, "load").monitor_alive_at,
        Some(at(150))
    );
}

/// A batch that holds beats of a location deleted meanwhile (and of an id that never existed)
/// is still written for the others.
pub async fn beats_for_deleted_locations_are_ignored(store: Arc<dyn StatusStore>) {
    let s = &*store;
    let live = add(s, "Live").await;
    let deleted = add(s, "Deleted").await;
    must(s.delete_location(deleted.id).await, "delete");
    let never = LocationId(live.id.0.max(deleted.id.0) + 1000);
    must(
        s.record_heartbeats(
            &[
                beat(deleted.id, at(1), facts("d", 1)),
                beat(live.id, at(1), facts("l", 1)),
                beat(never, at(1), facts("n", 1)),
            ],
            at(2),
        )
        .await,
        "a batch with beats of deleted and unknown locations",
    );
    assert_eq!(record(s, live.id).await.runtime.last_seen, Some(at(1)));
    assert_eq!(
        must(s.recent_heartbeats(live.id, 10).await, "recent").len(),
        1
    );
    assert!(must(s.recent_heartbeats(deleted.id, 10).await, "recent").is_empty());
    assert!(must(s.recent_heartbeats(never, 10).await, "recent").is_empty());
    assert_eq!(
        must(s.get_location(deleted.id).await, "get"),
        None,
        "not resurrected"
    );
    assert_eq!(
        must(s.load_runtime().await, "load").monitor_alive_at,
        Some(at(2))
    );
}

/// Raw beats come back newest first, limited, and only the location's own.
pub async fn recent_heartbeats_are_newest_first_and_limited(store: Arc<dyn StatusStore>) {
    let s = &*store;
    let loc = add(s, "Home").await;
    let other = add(s, "Office").await;
    must(
        s.record_heartbeats(
            &[
                beat(loc.id, at(30), facts("b", 30)),
                beat(loc.id, at(10), facts("b", 10)),
                beat(other.id, at(35), facts("o", 35)),
            ],
            at(35),
        )
        .await,
        "first batch",
    );
    must(
        s.record_heartbeats(
            &[
                beat(loc.id, at(20), facts("b", 20)),
                beat(loc.id, at(50), facts("b", 50)),
                beat(loc.id, at(40), facts("b", 40)),
            ],
            at(50),
        )
        .await,
        "second batch",
    );
    let times = |v: Vec<Heartbeat>| v.into_iter().map(|b| b.received_at).collect::<Vec<_>>();
    assert_eq!(
        times(must(s.recent_heartbeats(loc.id, 3).await, "recent 3")),
        vec![at(50), at(40), at(30)],
        "newest first, limited"
    );
    let all = must(s.recent_heartbeats(loc.id, 100).await, "recent all");
    assert_eq!(all.len(), 5);
    assert!(
        all.iter().all(|b| b.location_id == loc.id),
        "only its own beats"
    );
    assert_eq!(all[4], beat(loc.id, at(10), facts("b", 10)));
    assert!(must(s.recent_heartbeats(loc.id, 0).await, "recent 0").is_empty());
}

// ---------------------------------------------------------------------------------------------
// Transitions

/// A location goes down: the event is opened, its status and open event are stored, the
/// interval switches, and every notification gets its own outbox row carrying the new event id
/// (an alert that already names an event keeps it).
pub async fn an_outage_opens_an_event_and_queues_its_alerts(store: Arc<dyn StatusStore>) {
    let s = &*store;
    let loc = add(s, "Home").await;
    let up = must(
        s.apply_transition(&switch(loc.id, Status::Up, at(0), IntervalKind::Up))
            .await,
        "declare up",
    );
    assert_eq!(up, None, "no event, no id");
    assert_eq!(record(s, loc.id).await.runtime.status, Some(Status::Up));

    let outage = alert(AlertKind::Outage, &loc, at(40));
    let mut about_other = alert(AlertKind::Test, &loc, at(40));
    about_other.event_id = Some(EventId(987_654));
    let t = Transition {
        location_id: loc.id,
        status: Status::Down,
        interval: Some(IntervalSwitch {
            at: at(10),
            kind: IntervalKind::Down,
            relabel_closed_as: None,
        }),
        event: EventChange::Open {
            started_at: Some(at(10)),
            detected_at: at(40),
            cause: Cause::Unknown,
        },
        notifications: vec![
            note("telegram", "chat-1", outage.clone()),
            note("console", "default", outage.clone()),
            note("webhook", "hook", about_other.clone()),
        ],
    };
    let Some(ev) = must(s.apply_transition(&t).await, "declare down") else {
        panic!("opening an event returns its id");
    };
    let expected = PowerEvent {
        id: ev,
        location_id: loc.id,
        started_at: Some(at(10)),
        detected_at: at(40),
        ended_at: None,
        cause: Cause::Unknown,
    };
    assert_eq!(
        must(s.get_event(ev).await, "get_event"),
        Some(expected.clone())
    );
    let rt = record(s, loc.id).await.runtime;
    assert_eq!(rt.status, Some(Status::Down));
    assert_eq!(
        rt.open_event,
        Some(expected),
        "the open event is part of the runtime"
    );
    assert_eq!(
        intervals(s, loc.id).await,
        vec![
            iv(loc.id, IntervalKind::Up, at(0), Some(at(10))),
            iv(loc.id, IntervalKind::Down, at(10), None),
        ]
    );

    let items = claim(s, at(40), 10).await;
    assert_eq!(
        queues(&items),
        vec![
            q("telegram", "chat-1"),
            q("console", "default"),
            q("webhook", "hook")
        ],
        "one row per notification, in insertion order"
    );
    let filled = Alert {
        event_id: Some(ev),
        ..outage
    };
    assert_eq!(items[0].alert, filled, "the new event id is filled in");
    assert_eq!(items[1].alert, filled);
    assert_eq!(
        items[2].alert, about_other,
        "an alert naming an event keeps it"
    );
    for item in &items {
        assert_eq!(item.attempts, 0);
        assert_eq!(
            item.created_at,
            at(40),
            "a row is created at its alert's time"
        );
    }
    assert!(items[0].id < items[1].id && items[1].id < items[2].id);
}

/// Power comes back: the event is closed with its final cause and end, the runtime has no open
/// event any more, and a later outage opens a new event.
pub async fn a_restore_closes_the_event_with_its_cause(store: Arc<dyn StatusStore>) {
    let s = &*store;
    let loc = add(s, "Home").await;
    must(
        s.apply_transition(&switch(loc.id, Status::Up, at(0), IntervalKind::Up))
            .await,
        "declare up",
    );
    let ev = open_outage(s, &loc, at(60)).await;
    let mut restored = alert(AlertKind::Restored, &loc, at(400));
    restored.event_id = Some(ev);
    let t = Transition {
        location_id: loc.id,
        status: Status::Up,
        interval: Some(IntervalSwitch {
            at: at(300),
            kind: IntervalKind::Up,
            relabel_closed_as: None,
        }),
        event: EventChange::Close {
            event_id: ev,
            ended_at: at(300),
            cause: Cause::Power,
        },
        notifications: vec![note("telegram", "chat-1", restored.clone())],
    };
    assert_eq!(
        must(s.apply_transition(&t).await, "restore"),
        None,
        "closing opens nothing"
    );
    let closed = must(s.get_event(ev).await, "get_event");
    assert_eq!(
        closed,
        Some(PowerEvent {
            id: ev,
            location_id: loc.id,
            started_at: Some(at(60)),
            detected_at: at(90),
            ended_at: Some(at(300)),
            cause: Cause::Power,
        })
    );
    let rt = record(s, loc.id).await.runtime;
    assert_eq!(rt.status, Some(Status::Up));
    assert_eq!(rt.open_event, None, "no open event after the restore");
    assert_eq!(
        intervals(s, loc.id).await,
        vec![
            iv(loc.id, IntervalKind::Up, at(0), Some(at(60))),
            iv(loc.id, IntervalKind::Down, at(60), Some(at(300))),
            iv(loc.id, IntervalKind::Up, at(300), None),
        ]
    );
    let rows = must(s.outbox_stats().await, "stats");
    assert_eq!(rows.pending, 2, "outage and restore alerts queued");

    let again = open_outage(s, &loc, at(1000)).await;
    assert!(again > ev, "a new outage is a new event");
    assert_eq!(
        record(s, loc.id).await.runtime.open_event.map(|e| e.id),
        Some(again)
    );
}

/// An outage discovered only when it was over (the device rebooted while the monitor was away)
/// is stored opened and closed at once, and its alert gets the event id.
pub async fn an_outage_found_already_over_is_stored_closed(store: Arc<dyn StatusStore>) {
    let s = &*store;
    let loc = add(s, "Home").await;
    let t = Transition {
        location_id: loc.id,
        status: Status::Up,
        interval: Some(IntervalSwitch {
            at: at(500),
            kind: IntervalKind::Up,
            relabel_closed_as: None,
        }),
        event: EventChange::Closed {
            started_at: None,
            detected_at: at(520),
            ended_at: at(500),
            cause: Cause::Power,
        },
        notifications: vec![note(
            "telegram",
            "chat-1",
            alert(AlertKind::Restored, &loc, at(520)),
        )],
    };
    let Some(ev) = must(s.apply_transition(&t).await, "closed outage") else {
        panic!("a Closed event change returns the new event id");
    };
    assert_eq!(
        must(s.get_event(ev).await, "get_event"),
        Some(PowerEvent {
            id: ev,
            location_id: loc.id,
            started_at: None,
            detected_at: at(520),
            ended_at: Some(at(500)),
            cause: Cause::Power,
        }),
        "an unknown start is kept as unknown"
    );
    let rt = record(s, loc.id).await.runtime;
    assert_eq!(rt.open_event, None, "a closed event is not open");
    assert_eq!(rt.status, Some(Status::Up));
    let items = claim(s, at(520), 10).await;
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].alert.event_id, Some(ev));
}

/// Interval switches close the open interval and open the next from the same instant; a
/// network-only outage relabels the closed `down` as `network`. The history has no gaps, no
/// overlaps and one open interval.
pub async fn interval_switches_build_a_gapless_history(store: Arc<dyn StatusStore>) {
    let s = &*store;
    let loc = add(s, "Home").await;
    let steps = [
        (Status::Unknown, at(0), IntervalKind::Unknown, None),
        (Status::Up, at(60), IntervalKind::Up, None),
        (Status::Down, at(300), IntervalKind::Down, None),
        (
            Status::Up,
            at(600),
            IntervalKind::Up,
            Some(IntervalKind::Network),
        ),
        (Status::Paused, at(900), IntervalKind::Paused, None),
    ];
    for (status, t, kind, relabel) in steps {
        let mut tr = switch(loc.id, status, t, kind);
        if let Some(i) = tr.interval.as_mut() {
            i.relabel_closed_as = relabel;
        }
        must(s.apply_transition(&tr).await, "switch");
        let list = intervals(s, loc.id).await;
        assert_one_open(&list, "after a switch");
        assert_eq!(list.last().map(|i| (i.kind, i.start)), Some((kind, t)));
        assert_eq!(record(s, loc.id).await.runtime.status, Some(status));
    }
    assert_eq!(
        intervals(s, loc.id).await,
        vec![
            iv(loc.id, IntervalKind::Unknown, at(0), Some(at(60))),
            iv(loc.id, IntervalKind::Up, at(60), Some(at(300))),
            iv(loc.id, IntervalKind::Network, at(300), Some(at(600))),
            iv(loc.id, IntervalKind::Up, at(600), Some(at(900))),
            iv(loc.id, IntervalKind::Paused, at(900), None),
        ],
        "the down interval was relabelled network when it closed"
    );
    // A transition without an interval switch leaves the history alone.
    must(
        s.apply_transition(&notify(loc.id, Status::Paused, vec![]))
            .await,
        "no switch",
    );
    assert_eq!(intervals(s, loc.id).await.len(), 5);
}

/// A switch backdated before the open interval began (an outage start from before a restart)
/// is clamped to that start: the open interval ends up empty and is dropped, so intervals never
/// overlap.
pub async fn a_backdated_switch_is_clamped_to_the_open_interval_start(store: Arc<dyn StatusStore>) {
    let s = &*store;
    let loc = add(s, "Home").await;
    must(
        s.apply_transition(&switch(
            loc.id,
            Status::Unknown,
            at(0),
            IntervalKind::Unknown,
        ))
        .await,
        "unknown",
    );
    must(
        s.apply_transition(&switch(loc.id, Status::Up, at(600), IntervalKind::Up))
            .await,
        "up",
    );
    must(
        s.apply_transition(&switch(loc.id, Status::Down, at(300), IntervalKind::Down))
            .await,
        "down, backdated before the up interval began",
    );
    assert_eq!(
        intervals(s, loc.id).await,
        vec![
            iv(loc.id, IntervalKind::Unknown, at(0), Some(at(600))),
            iv(loc.id, IntervalKind::Down, at(600), None),
        ],
        "the switch is clamped to 600 s and the empty up interval dropped"
    );
    let mut back = switch(loc.id, Status::Up, at(900), IntervalKind::Up);
    if let Some(i) = back.interval.as_mut() {
        i.relabel_closed_as = Some(IntervalKind::Network);
    }
    must(s.apply_transition(&back).await, "back up");
    let list = intervals(s, loc.id).await;
    assert_one_open(&list, "after the clamp");
    assert_eq!(
        list,
        vec![
            iv(loc.id, IntervalKind::Unknown, at(0), Some(at(600))),
            iv(loc.id, IntervalKind::Network, at(600), Some(at(900))),
            iv(loc.id, IntervalKind::Up, at(900), None),
        ]
    );
}

/// Two switches at one instant leave no empty interval behind.
pub async fn a_switch_at_the_same_instant_drops_the_empty_interval(store: Arc<dyn StatusStore>) {
    let s = &*store;
    let loc = add(s, "Home").await;
    let other = add(s, "Office").await;
    must(
        s.apply_transition(&switch(other.id, Status::Up, at(0), IntervalKind::Up))
            .await,
        "other up",
    );
    must(
        s.apply_transition(&switch(
            loc.id,
            Status::Unknown,
            at(0),
            IntervalKind::Unknown,
        ))
        .await,
        "unknown",
    );
    must(
        s.apply_transition(&switch(loc.id, Status::Up, at(60), IntervalKind::Up))
            .await,
        "up",
    );
    must(
        s.apply_transition(&switch(loc.id, Status::Down, at(60), IntervalKind::Down))
            .await,
        "down at the same instant",
    );
    assert_eq!(
        intervals(s, loc.id).await,
        vec![
            iv(loc.id, IntervalKind::Unknown, at(0), Some(at(60))),
            iv(loc.id, IntervalKind::Down, at(60), None),
        ]
    );
    assert_eq!(
        intervals(s, other.id).await,
        vec![iv(other.id, IntervalKind::Up, at(0), None)],
        "other locations' intervals are untouched"
    );
}

/// After a restart the engine gets, per location, its status, last beat, last facts and open
/// outage, plus when the monitor was last alive.
pub async fn load_runtime_returns_everything_needed_after_a_restart(store: Arc<dyn StatusStore>) {
    let s = &*store;
    let empty = must(s.load_runtime().await, "load an empty store");
    assert!(empty.locations.is_empty());
    assert_eq!(empty.monitor_alive_at, None);

    let down = add(s, "Down").await;
    let fresh = add(s, "Fresh").await;
    let up = add(s, "Up").await;
    must(
        s.record_heartbeats(
            &[
                beat(down.id, at(0), facts("d", 100)),
                beat(up.id, at(50), facts("u", 7)),
            ],
            at(55),
        )
        .await,
        "beats",
    );
    must(
        s.apply_transition(&switch(up.id, Status::Up, at(0), IntervalKind::Up))
            .await,
        "up",
    );
    let old = open_outage(s, &down, at(0)).await;
    must(
        s.apply_transition(&Transition {
            location_id: down.id,
            status: Status::Up,
            interval: None,
            event: EventChange::Close {
                event_id: old,
                ended_at: at(10),
                cause: Cause::Network,
            },
            notifications: vec![],
        })
        .await,
        "close the first outage",
    );
    let ev = open_outage(s, &down, at(20)).await;
    must(s.record_heartbeats(&[], at(100)).await, "alive mark");

    let snap = must(s.load_runtime().await, "load_runtime");
    assert_eq!(snap.monitor_alive_at, Some(at(100)));
    assert_eq!(
        snap.locations
            .iter()
            .map(|r| r.location.id)
            .collect::<Vec<_>>(),
        vec![down.id, fresh.id, up.id]
    );
    let d = &snap.locations[0];
    assert_eq!(d.location, down);
    assert_eq!(d.key_hash, KeyHash::of("om_Down"));
    assert_eq!(
        d.runtime,
        LocationRuntime {
            status: Some(Status::Down),
            last_seen: Some(at(0)),
            last_facts: facts("d", 100),
            open_event: Some(PowerEvent {
                id: ev,
                location_id: down.id,
                started_at: Some(at(20)),
                detected_at: at(50),
                ended_at: None,
                cause: Cause::Unknown,
            }),
        },
        "the open event is the current outage, not the closed one"
    );
    assert_eq!(snap.locations[1].runtime, LocationRuntime::default());
    assert_eq!(
        snap.locations[2].runtime,
        LocationRuntime {
            status: Some(Status::Up),
            last_seen: Some(at(50)),
            last_facts: facts("u", 7),
            open_event: None,
        }
    );
    assert_eq!(
        must(s.list_locations().await, "list"),
        snap.locations,
        "list_locations carries the same runtime state"
    );
}

/// A transition that closes an event that does not exist (or belongs to another location), or
/// concerns an unknown location, fails with `NotFound` and writes nothing: no status, no
/// interval, no event change, no outbox row.
pub async fn a_failed_transition_writes_nothing(store: Arc<dyn StatusStore>) {
    let s = &*store;
    let loc = add(s, "Home").await;
    let other = add(s, "Office").await;
    must(
        s.apply_transition(&switch(loc.id, Status::Up, at(0), IntervalKind::Up))
            .await,
        "up",
    );
    let others_event = open_outage(s, &other, at(0)).await;
    let before_loc = record(s, loc.id).await;
    let before_intervals = intervals(s, loc.id).await;
    let before_stats = must(s.outbox_stats().await, "stats");
    let before_events = must(s.list_events(&EventFilter::default()).await, "events");
    let due_before = must(s.next_notification_due().await, "due");

    let bad = |event_id| Transition {
        location_id: loc.id,
        status: Status::Down,
        interval: Some(IntervalSwitch {
            at: at(100),
            kind: IntervalKind::Down,
            relabel_closed_as: Some(IntervalKind::Network),
        }),
        event: EventChange::Close {
            event_id,
            ended_at: at(100),
            cause: Cause::Power,
        },
        notifications: vec![
            note(
                "telegram",
                "chat-1",
                alert(AlertKind::Restored, &loc, at(100)),
            ),
            note(
                "console",
                "default",
                alert(AlertKind::Restored, &loc, at(100)),
            ),
        ],
    };
    for (what, event_id) in [
        ("a nonexistent event", EventId(others_event.0 + 1000)),
        ("another location's event", others_event),
    ] {
        match s.apply_transition(&bad(event_id)).await {
            Err(StoreError::NotFound { .. }) => {}
            r => panic!("closing {what} must be NotFound, got {r:?}"),
        }
        assert_eq!(
            record(s, loc.id).await,
            before_loc,
            "{what}: status unchanged"
        );
        assert_eq!(
            intervals(s, loc.id).await,
            before_intervals,
            "{what}: no interval written"
        );
        assert_eq!(
            must(s.outbox_stats().await, "stats"),
            before_stats,
            "{what}: no outbox row written"
        );
        assert_eq!(
            must(s.list_events(&EventFilter::default()).await, "events"),
            before_events,
            "{what}: no event changed"
        );
        assert_eq!(must(s.next_notification_due().await, "due"), due_before);
    }
    assert_eq!(
        must(s.get_event(others_event).await, "get").and_then(|e| e.ended_at),
        None,
        "the other location's outage is still open"
    );

    let mut ghost = bad(others_event);
    ghost.location_id = LocationId(loc.id.0.max(other.id.0) + 1000);
    ghost.event = EventChange::Open {
        started_at: Some(at(1)),
        detected_at: at(2),
        cause: Cause::Unknown,
    };
    match s.apply_transition(&ghost).await {
        Err(StoreError::NotFound { .. }) => {}
        r => panic!("a transition of an unknown location must be NotFound, got {r:?}"),
    }
    assert_eq!(must(s.outbox_stats().await, "stats"), before_stats);
    assert_eq!(
        must(s.list_events(&EventFilter::default()).await, "events"),
        before_events
    );
}

// ---------------------------------------------------------------------------------------------
// History queries

/// Events are listed newest first, by location, overlapping `[from, to)` (an event's start is
/// its `started_at`, or `detected_at` when unknown; an open event lasts forever; one ending
/// exactly at `from` is included), and limited.
pub async fn events_are_listed_newest_first_and_filtered(store: Arc<dyn StatusStore>) {
    let s = &*store;
    let a = add(s, "A").await;
    let b = add(s, "B").await;
    let e1 = closed_event(s, a.id, Some(at(0)), at(30), at(100)).await;
    let e2 = closed_event(s, b.id, Some(at(50)), at(80), at(150)).await;
    let e3 = closed_event(s, a.id, None, at(200), at(300)).await;
    let e4 = open_outage(s, &a, at(400)).await;
    let list =
        |f: EventFilter| async move { event_ids(&must(s.list_events(&f).await, "list_events")) };
    let f = |location_id, from, to, limit| EventFilter {
        location_id,
        from,
        to,
        limit,
    };
    assert_eq!(
        list(f(None, None, None, None)).await,
        vec![e4, e3, e2, e1],
        "newest first"
    );
    assert_eq!(
        list(f(Some(a.id), None, None, None)).await,
        vec![e4, e3, e1]
    );
    assert_eq!(list(f(Some(b.id), None, None, None)).await, vec![e2]);
    assert_eq!(list(f(None, None, None, Some(2))).await, vec![e4, e3]);
    assert_eq!(list(f(Some(a.id), None, None, Some(1))).await, vec![e4]);
    assert_eq!(
        list(f(None, Some(at(100)), Some(at(200)), None)).await,
        vec![e2, e1],
        "e1 ends exactly at `from` (included), e3 starts exactly at `to` (excluded)"
    );
    assert_eq!(
        list(f(None, Some(at(250)), Some(at(260)), None)).await,
        vec![e3],
        "an unknown start counts from detection"
    );
    assert_eq!(
        list(f(None, Some(at(301)), None, None)).await,
        vec![e4],
        "only the open outage lasts past 301 s"
    );
    assert_eq!(
        list(f(None, Some(at(10_000)), Some(at(20_000)), None)).await,
        vec![e4],
        "an open outage overlaps any later window"
    );
    assert_eq!(
        list(f(None, None, Some(at(0)), None)).await,
        vec![],
        "nothing began before t0"
    );
    assert_eq!(
        list(f(Some(a.id), Some(at(0)), Some(at(500)), Some(2))).await,
        vec![e4, e3],
        "filters combine"
    );
    assert_eq!(must(s.get_event(EventId(e4.0 + 1000)).await, "get"), None);
}

/// Intervals are listed oldest first when they overlap `[from, to)`; touching the window's edge
/// is not overlapping; the open interval overlaps every later window.
pub async fn intervals_are_queried_by_overlap(store: Arc<dyn StatusStore>) {
    let s = &*store;
    let a = add(s, "A").await;
    let b = add(s, "B").await;
    for (status, t, kind) in [
        (Status::Unknown, at(0), IntervalKind::Unknown),
        (Status::Up, at(100), IntervalKind::Up),
        (Status::Down, at(200), IntervalKind::Down),
        (Status::Up, at(300), IntervalKind::Up),
    ] {
        must(
            s.apply_transition(&switch(a.id, status, t, kind)).await,
            "switch",
        );
    }
    must(
        s.apply_transition(&switch(b.id, Status::Up, at(150), IntervalKind::Up))
            .await,
        "b up",
    );
    let list = |from, to| async move {
        must(s.list_intervals(a.id, from, to).await, "list_intervals")
            .into_iter()
            .map(|i| (i.kind, i.start))
            .collect::<Vec<_>>()
    };
    use IntervalKind::*;
    assert_eq!(
        list(at(0), at(1000)).await,
        vec![
            (Unknown, at(0)),
            (Up, at(100)),
            (Down, at(200)),
            (Up, at(300))
        ],
        "oldest first"
    );
    assert_eq!(
        list(at(100), at(200)).await,
        vec![(Up, at(100))],
        "an interval ending at `from` or starting at `to` does not overlap"
    );
    assert_eq!(
        list(at(150), at(250)).await,
        vec![(Up, at(100)), (Down, at(200))]
    );
    assert_eq!(
        list(at(5000), at(6000)).await,
        vec![(Up, at(300))],
        "the open one"
    );
    assert_eq!(list(at(-100), at(0)).await, vec![]);
    assert_eq!(
        must(s.list_intervals(b.id, at(0), at(1000)).await, "b"),
        vec![iv(b.id, IntervalKind::Up, at(150), None)],
        "only the location's own intervals"
    );
}

// ---------------------------------------------------------------------------------------------
// Outbox

/// Rows of several `(notifier, chat)` queues: a claim hands out only the head of each queue,
/// and only when it is due; a head that is not due holds back its queue even when later rows
/// are; the limit takes the oldest heads.
pub async fn the_outbox_hands_out_only_due_queue_heads(store: Arc<dyn StatusStore>) {
    let s = &*store;
    let loc = add(s, "Home").await;
    let row = |n: &str, c: &str, t| note(n, c, alert(AlertKind::Test, &loc, at(t)));
    must(
        s.apply_transition(&notify(
            loc.id,
            Status::Up,
            vec![
                row("telegram", "A", 1),
                row("telegram", "A", 2),
                row("telegram", "B", 3),
                row("console", "A", 4),
                row("telegram", "A", 5),
                row("telegram", "C", 100),
                row("telegram", "D", 50),
                row("telegram", "D", 20),
            ],
        ))
        .await,
        "queue rows",
    );
    let heads = claim(s, at(10), 100).await;
    assert_eq!(
        queues(&heads),
        vec![q("telegram", "A"), q("telegram", "B"), q("console", "A")],
        "one head per due queue; C and D are not due (D's second row is, but it is not a head)"
    );
    assert_eq!(
        heads[0].alert.at,
        at(1),
        "the head is the oldest row of its queue"
    );
    assert!(heads.windows(2).all(|w| w[0].id < w[1].id), "oldest first");
    assert_eq!(
        ids(&claim(s, at(10), 2).await),
        ids(&heads[..2]),
        "the limit keeps the oldest heads"
    );
    assert!(
        claim(s, at(0), 100).await.is_empty(),
        "nothing is due before 1 s"
    );
    assert_eq!(
        ids(&claim(s, at(10), 100).await),
        ids(&heads),
        "claiming does not consume: unfinished rows are handed out again"
    );

    must(
        s.complete_notification(heads[0].id, None, at(10)).await,
        "deliver A's head",
    );
    let next = claim(s, at(10), 100).await;
    assert_eq!(
        next.iter()
            .map(|i| (i.notifier.as_str(), i.chat.as_str(), i.alert.at))
            .collect::<Vec<_>>(),
        vec![
            ("telegram", "A", at(2)),
            ("telegram", "B", at(3)),
            ("console", "A", at(4)),
        ],
        "telegram/A's second row is now its head"
    );
    let later = claim(s, at(100), 100).await;
    assert_eq!(
        queues(&later),
        vec![
            q("telegram", "A"),
            q("telegram", "B"),
            q("console", "A"),
            q("telegram", "C"),
            q("telegram", "D")
        ]
    );
    assert_eq!(later[4].alert.at, at(50), "D's head goes first");
}

/// One queue is handed out from its head on, in order, while its rows are due (the delivery
/// worker's bursts): other queues and notifiers are not included, and a head that is not due
/// holds back everything behind it.
pub async fn a_queue_is_claimed_from_its_head_while_rows_are_due(store: Arc<dyn StatusStore>) {
    let s = &*store;
    let loc = add(s, "Home").await;
    let row = |c: &str| note("telegram", c, alert(AlertKind::Outage, &loc, at(0)));
    must(
        s.apply_transition(&notify(
            loc.id,
            Status::Down,
            vec![row("A"), row("B"), row("A"), row("A")],
        ))
        .await,
        "queue rows",
    );
    let a = must(s.claim_queue("telegram", "A", at(0), 10).await, "queue A");
    assert_eq!(a.len(), 3, "every due row of A, none of B: {a:?}");
    assert!(a.iter().all(|i| i.chat == "A"));
    assert!(a.windows(2).all(|w| w[0].id < w[1].id), "insertion order");
    let two = must(s.claim_queue("telegram", "A", at(0), 2).await, "limit");
    assert_eq!(ids(&two), ids(&a[..2]));
    assert!(
        must(
            s.claim_queue("console", "A", at(0), 10).await,
            "other notifier"
        )
        .is_empty()
    );

    must(
        s.complete_notification(a[0].id, None, at(1)).await,
        "deliver head",
    );
    must(
        s.retry_notification(a[1].id, at(60), "timeout").await,
        "retry the new head",
    );
    assert!(
        must(s.claim_queue("telegram", "A", at(30), 10).await, "not due").is_empty(),
        "a head that is not due holds back the rows behind it"
    );
    let later = must(
        s.claim_queue("telegram", "A", at(60), 10).await,
        "due again",
    );
    assert_eq!(ids(&later), vec![a[1].id, a[2].id]);
    assert_eq!(later[0].attempts, 1);
}

/// A delivery fails and is retried later: the row's attempts grow, its queue waits for it, other
/// queues do not, and the worker is told to wake when the head is due (not when the row behind
/// it would be).
pub async fn a_retried_head_blocks_its_queue_but_not_others(store: Arc<dyn StatusStore>) {
    let s = &*store;
    let loc = add(s, "Home").await;
    let row = |c: &str| note("telegram", c, alert(AlertKind::Outage, &loc, at(0)));
    must(
        s.apply_transition(&notify(
            loc.id,
            Status::Down,
            vec![row("A"), row("A"), row("B")],
        ))
        .await,
        "queue rows",
    );
    let first = claim(s, at(0), 10).await;
    assert_eq!(queues(&first), vec![q("telegram", "A"), q("telegram", "B")]);
    let (a1, b1) = (first[0].id, first[1].id);

    must(
        s.retry_notification(a1, at(60), "timeout").await,
        "retry A's head",
    );
    assert_eq!(
        ids(&claim(s, at(0), 10).await),
        vec![b1],
        "A is blocked by its retried head; B is not"
    );
    assert_eq!(must(s.next_notification_due().await, "due"), Some(at(0)));
    must(s.complete_notification(b1, None, at(1)).await, "deliver B");
    assert!(
        claim(s, at(30), 10).await.is_empty(),
        "A's second row never overtakes its head"
    );
    assert_eq!(
        must(s.next_notification_due().await, "due"),
        Some(at(60)),
        "wake when the head is due, not for the row waiting behind it"
    );
    let again = claim(s, at(60), 10).await;
    assert_eq!(ids(&again), vec![a1]);
    assert_eq!(again[0].attempts, 1, "one failed attempt recorded");
    assert_eq!(
        again[0].created_at,
        at(0),
        "a retry keeps the creation time"
    );

    must(
        s.retry_notification(a1, at(120), "rate limited").await,
        "retry again",
    );
    assert!(claim(s, at(119), 10).await.is_empty());
    let third = claim(s, at(120), 10).await;
    assert_eq!(third[0].attempts, 2);
    must(
        s.complete_notification(a1, None, at(121)).await,
        "deliver A",
    );
    let rest = claim(s, at(121), 10).await;
    assert_eq!(rest.len(), 1);
    assert_ne!(rest[0].id, a1, "A's second row finally goes");
    assert_eq!(rest[0].attempts, 0);
    match s
        .retry_notification(OutboxId(a1.0 + 1000), at(1), "x")
        .await
    {
        Err(StoreError::NotFound { .. }) => {}
        r => panic!("retrying an unknown row must be NotFound, got {r:?}"),
    }
}

/// Delivered alerts remember where their messages went, per event, oldest first, so the
/// restore can reply to the outage message; a delivery without a message stores nothing.
pub async fn completing_a_notification_remembers_where_it_went(store: Arc<dyn StatusStore>) {
    let s = &*store;
    let loc = add(s, "Home").await;
    let ev = open_outage(s, &loc, at(0)).await;
    must(
        s.apply_transition(&notify(
            loc.id,
            Status::Down,
            vec![note("console", "default", {
                let mut a = alert(AlertKind::Outage, &loc, at(30));
                a.event_id = Some(ev);
                a
            })],
        ))
        .await,
        "queue a console alert",
    );
    let items = claim(s, at(30), 10).await;
    assert_eq!(items.len(), 2);
    let outage_msg = MessageRef {
        notifier: "telegram".into(),
        chat: "chat-1".into(),
        message_id: "77".into(),
    };
    must(
        s.complete_notification(items[0].id, Some(&outage_msg), at(31))
            .await,
        "deliver to telegram",
    );
    must(
        s.complete_notification(items[1].id, None, at(31)).await,
        "deliver to the console",
    );
    assert_eq!(
        must(s.message_refs(ev).await, "refs"),
        vec![outage_msg.clone()]
    );

    let mut restored = alert(AlertKind::Restored, &loc, at(300));
    restored.event_id = Some(ev);
    must(
        s.apply_transition(&Transition {
            location_id: loc.id,
            status: Status::Up,
            interval: None,
            event: EventChange::Close {
                event_id: ev,
                ended_at: at(300),
                cause: Cause::Power,
            },
            notifications: vec![note("telegram", "chat-1", restored)],
        })
        .await,
        "restore",
    );
    let restore_item = claim(s, at(300), 10).await;
    assert_eq!(restore_item.len(), 1);
    assert_eq!(restore_item[0].alert.event_id, Some(ev));
    let restore_msg = MessageRef {
        message_id: "78".into(),
        ..outage_msg.clone()
    };
    must(
        s.complete_notification(restore_item[0].id, Some(&restore_msg), at(301))
            .await,
        "deliver the restore",
    );
    // Recording the same delivery twice (a retry after a lost acknowledgement) adds nothing.
    must(
        s.complete_notification(restore_item[0].id, Some(&restore_msg), at(302))
            .await,
        "deliver the restore again",
    );
    assert_eq!(
        must(s.message_refs(ev).await, "refs"),
        vec![outage_msg, restore_msg],
        "oldest first, no duplicates"
    );
    assert_eq!(
        must(s.outbox_stats().await, "stats"),
        OutboxStats {
            pending: 0,
            delivered: 3,
            failed: 0
        }
    );
    assert!(
        claim(s, at(1000), 10).await.is_empty(),
        "delivered rows are not handed out"
    );
    assert!(must(s.message_refs(EventId(ev.0 + 1000)).await, "refs").is_empty());
    match s
        .complete_notification(OutboxId(restore_item[0].id.0 + 1000), None, at(1))
        .await
    {
        Err(StoreError::NotFound { .. }) => {}
        r => panic!("completing an unknown row must be NotFound, got {r:?}"),
    }
}

/// A permanent failure gives up on the row: it stays counted as failed, is never handed out
/// again, and the next row of its queue becomes the head.
pub async fn a_permanent_failure_marks_the_row_failed(store: Arc<dyn StatusStore>) {
    let s = &*store;
    let loc = add(s, "Home").await;
    let row = || note("telegram", "A", alert(AlertKind::Outage, &loc, at(0)));
    must(
        s.apply_transition(&notify(loc.id, Status::Down, vec![row(), row()]))
            .await,
        "queue",
    );
    let head = claim(s, at(0), 10).await;
    assert_eq!(head.len(), 1);
    must(
        s.fail_notification(head[0].id, "chat not found").await,
        "give up",
    );
    assert_eq!(
        must(s.outbox_stats().await, "stats"),
        OutboxStats {
            pending: 1,
            delivered: 0,
            failed: 1
        }
    );
    let next = claim(s, at(0), 10).await;
    assert_eq!(next.len(), 1);
    assert_ne!(
        next[0].id, head[0].id,
        "the failed row is not handed out again"
    );
    match s
        .fail_notification(OutboxId(next[0].id.0 + 1000), "x")
        .await
    {
        Err(StoreError::NotFound { .. }) => {}
        r => panic!("failing an unknown row must be NotFound, got {r:?}"),
    }
}

/// `outbox_by_notifier` counts each notifier's rows by state, keeps the error of its latest
/// failed attempt (even when the row was delivered later), is sorted by name, and is empty for
/// an empty outbox.
pub async fn outbox_counts_and_last_errors_per_notifier(store: Arc<dyn StatusStore>) {
    let s = &*store;
    assert_eq!(must(s.outbox_by_notifier().await, "empty"), vec![]);
    let loc = add(s, "Home").await;
    let row = |n: &str, c: &str, t| note(n, c, alert(AlertKind::Test, &loc, at(t)));
    must(
        s.apply_transition(&notify(
            loc.id,
            Status::Up,
            vec![
                row("telegram", "A", 1),
                row("telegram", "A", 2),
                row("telegram", "B", 3),
                row("console", "A", 4),
            ],
        ))
        .await,
        "queue rows",
    );
    let heads = claim(s, at(10), 100).await;
    assert_eq!(heads.len(), 3, "{heads:?}");
    let (tg_a, tg_b, console) = (heads[0].id, heads[1].id, heads[2].id);
    must(
        s.retry_notification(tg_a, at(20), "HTTP 500 from the Bot API")
            .await,
        "retry",
    );
    must(s.fail_notification(tg_b, "chat not found").await, "give up");
    must(s.complete_notification(console, None, at(10)).await, "done");
    let again = claim(s, at(30), 100).await;
    assert_eq!(again.first().map(|i| i.id), Some(tg_a), "{again:?}");
    must(s.complete_notification(tg_a, None, at(30)).await, "done");

    let stats = must(s.outbox_by_notifier().await, "stats");
    let names: Vec<_> = stats.iter().map(|n| n.notifier.as_str()).collect();
    assert_eq!(names, vec!["console", "telegram"], "sorted by name");
    let (c, t) = (&stats[0], &stats[1]);
    assert_eq!(
        (c.pending, c.delivered, c.failed, c.last_error.as_deref()),
        (0, 1, 0, None),
        "console: {c:?}"
    );
    assert_eq!(
        (t.pending, t.delivered, t.failed),
        (1, 1, 1),
        "telegram: the second A row waits, the first was delivered, B gave up: {t:?}"
    );
    assert_eq!(
        t.last_error.as_deref(),
        Some("HTTP 500 from the Bot API"),
        "the latest failed attempt (due at 20 s) wins over the give-up of a row due earlier: {t:?}"
    );
    assert!(t.last_error_at.is_some(), "{t:?}");
}

/// `next_notification_due` follows the earliest due head and is `None` when nothing is pending;
/// `outbox_stats` counts rows by state.
pub async fn next_due_and_stats_follow_the_outbox(store: Arc<dyn StatusStore>) {
    let s = &*store;
    assert_eq!(must(s.next_notification_due().await, "due"), None);
    assert_eq!(
        must(s.outbox_stats().await, "stats"),
        OutboxStats::default()
    );
    let loc = add(s, "Home").await;
    must(
        s.apply_transition(&notify(
            loc.id,
            Status::Down,
            vec![
                note("telegram", "late", alert(AlertKind::Outage, &loc, at(30))),
                note("telegram", "early", alert(AlertKind::Outage, &loc, at(10))),
            ],
        ))
        .await,
        "queue",
    );
    assert_eq!(must(s.next_notification_due().await, "due"), Some(at(10)));
    assert_eq!(must(s.outbox_stats().await, "stats").pending, 2);
    let items = claim(s, at(30), 10).await;
    let early = items.iter().find(|i| i.chat == "early").map(|i| i.id);
    let late = items.iter().find(|i| i.chat == "late").map(|i| i.id);
    let (Some(early), Some(late)) = (early, late) else {
        panic!("both rows are due at 30 s: {items:?}");
    };
    must(
        s.complete_notification(early, None, at(31)).await,
        "deliver early",
    );
    assert_eq!(must(s.next_notification_due().await, "due"), Some(at(30)));
    must(s.fail_notification(late, "blocked").await, "fail late");
    assert_eq!(must(s.next_notification_due().await, "due"), None);
    assert_eq!(
        must(s.outbox_stats().await, "stats"),
        OutboxStats {
            pending: 0,
            delivered: 1,
            failed: 1
        }
    );
}

// ---------------------------------------------------------------------------------------------
// Diagram messages and API tokens

fn diagram(
    loc: LocationId,
    notifier: &str,
    chat: &str,
    message_id: &str,
    posted_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
) -> DiagramMessage {
    DiagramMessage {
        location_id: loc,
        notifier: notifier.into(),
        chat: chat.into(),
        message_id: message_id.into(),
        posted_at,
        updated_at,
    }
}

/// Diagram messages of two locations and chats are saved and listed by location, notifier and
/// chat; saving the same `(location, notifier, chat)` again replaces the message id and times
/// instead of adding a row; deleting one returns `true`, then `false`, and leaves the others.
pub async fn diagram_messages_are_saved_replaced_and_deleted(store: Arc<dyn StatusStore>) {
    let s = &*store;
    assert!(
        must(s.diagram_messages().await, "list an empty store").is_empty(),
        "a fresh store has no diagram messages"
    );
    let home = add(s, "Home").await;
    let dacha = add(s, "Dacha").await;
    // Saved out of order, so the listing order has to come from the store.
    let d_tg = diagram(dacha.id, "telegram", "-100", "7", at(5), at(5));
    let h_tg_b = diagram(home.id, "telegram", "-200", "12", at(3), at(4));
    let h_tg_a = diagram(home.id, "telegram", "-100", "11", at(1), at_ms(2_001));
    let h_con = diagram(home.id, "console", "stdout", "c1", at(2), at(2));
    for m in [&d_tg, &h_tg_b, &h_tg_a, &h_con] {
        must(
            s.save_diagram_message(m).await,
            &format!("save {} {}", m.notifier, m.chat),
        );
    }
    assert_eq!(
        must(s.diagram_messages().await, "list"),
        vec![h_con.clone(), h_tg_a.clone(), h_tg_b.clone(), d_tg.clone()],
        "listed by location, notifier and chat, with every field as saved"
    );

    // A redraw posted anew: same key, new message id and times.
    let redrawn = diagram(home.id, "telegram", "-100", "99", at(600), at_ms(600_500));
    must(s.save_diagram_message(&redrawn).await, "save again");
    assert_eq!(
        must(s.diagram_messages().await, "list after the upsert"),
        vec![h_con.clone(), redrawn.clone(), h_tg_b.clone(), d_tg.clone()],
        "the second save replaced the first instead of adding a row"
    );

    assert!(
        must(
            s.delete_diagram_message(home.id, "telegram", "-100").await,
            "delete"
        ),
        "deleting an existing diagram message returns true"
    );
    assert!(
        !must(
            s.delete_diagram_message(home.id, "telegram", "-100").await,
            "delete again"
        ),
        "deleting it again returns false"
    );
    assert!(
        !must(
            s.delete_diagram_message(dacha.id, "telegram", "-200").await,
            "delete a key that was never saved"
        ),
        "a (location, notifier, chat) that was never saved is not there to delete"
    );
    assert_eq!(
        must(s.diagram_messages().await, "list after the delete"),
        vec![h_con, h_tg_b, d_tg],
        "only the deleted message is gone"
    );
}

/// A diagram message of a location that does not exist is refused with `NotFound`, and nothing
/// is stored.
pub async fn a_diagram_message_needs_its_location(store: Arc<dyn StatusStore>) {
    let s = &*store;
    let home = add(s, "Home").await;
    let unknown = LocationId(home.id.0 + 1000);
    match s
        .save_diagram_message(&diagram(unknown, "telegram", "-100", "1", at(0), at(0)))
        .await
    {
        Err(StoreError::NotFound { .. }) => {}
        other => panic!("a diagram of an unknown location must be NotFound, got {other:?}"),
    }
    assert!(
        must(s.diagram_messages().await, "list").is_empty(),
        "the refused message was not stored"
    );
    let gone = add(s, "Gone").await;
    assert!(must(s.delete_location(gone.id).await, "delete Gone"));
    match s
        .save_diagram_message(&diagram(gone.id, "telegram", "-100", "1", at(0), at(0)))
        .await
    {
        Err(StoreError::NotFound { .. }) => {}
        other => panic!("a diagram of a deleted location must be NotFound, got {other:?}"),
    }
    assert!(must(s.diagram_messages().await, "list").is_empty());
}

/// Deleting a location deletes its diagram messages and keeps those of other locations.
pub async fn deleting_a_location_removes_its_diagram_messages(store: Arc<dyn StatusStore>) {
    let s = &*store;
    let gone = add(s, "Old flat").await;
    let kept = add(s, "New flat").await;
    let kept_msg = diagram(kept.id, "telegram", "-100", "2", at(0), at(0));
    for m in [
        diagram(gone.id, "telegram", "-100", "1", at(0), at(0)),
        diagram(gone.id, "telegram", "-300", "3", at(0), at(0)),
        kept_msg.clone(),
    ] {
        must(s.save_diagram_message(&m).await, "save");
    }
    assert_eq!(must(s.diagram_messages().await, "list").len(), 3);
    assert!(
        must(s.delete_location(gone.id).await, "delete"),
        "it existed"
    );
    assert_eq!(
        must(s.diagram_messages().await, "list after the delete"),
        vec![kept_msg],
        "the deleted location's diagram messages went with it"
    );
    assert!(
        !must(
            s.delete_diagram_message(gone.id, "telegram", "-100").await,
            "delete a message of the deleted location"
        ),
        "nothing of the deleted location is left to delete"
    );
}

/// A token is created with its name and time; a second token with the same name is a
/// `Conflict` naming it and is not stored; lookup by hash finds the token and a different
/// hash finds nothing; tokens are listed oldest first.
pub async fn api_tokens_are_created_found_and_listed_oldest_first(store: Arc<dyn StatusStore>) {
    let s = &*store;
    assert!(
        must(s.list_api_tokens().await, "list an empty store").is_empty(),
        "a fresh store has no tokens"
    );
    let grafana_hash = KeyHash::of("omt_grafana");
    // Created in an order that is neither alphabetical nor the order of their hashes.
    let grafana = must(
        s.create_api_token("grafana", grafana_hash, at_ms(1_001))
            .await,
        "create grafana",
    );
    assert_eq!(grafana.name, "grafana");
    assert_eq!(grafana.created_at, at_ms(1_001));
    let ha = must(
        s.create_api_token("home-assistant", KeyHash::of("omt_ha"), at(10))
            .await,
        "create home-assistant",
    );
    let backup = must(
        s.create_api_token("backup", KeyHash::of("omt_backup"), at(20))
            .await,
        "create backup",
    );
    assert!(
        grafana.id != ha.id && ha.id != backup.id && grafana.id != backup.id,
        "every token gets its own id"
    );

    match s
        .create_api_token("grafana", KeyHash::of("omt_other"), at(30))
        .await
    {
        Err(StoreError::Conflict(msg)) => {
            assert!(
                msg.contains("grafana"),
                "the conflict names the token: {msg}"
            )
        }
        other => panic!("a duplicate token name must be a Conflict, got {other:?}"),
    }
    assert_eq!(
        must(s.find_api_token(&KeyHash::of("omt_other")).await, "find"),
        None,
        "the refused token was not stored"
    );

    assert_eq!(
        must(s.find_api_token(&grafana_hash).await, "find grafana"),
        Some(grafana.clone()),
        "the token is found by its hash"
    );
    assert_eq!(
        must(s.find_api_token(&KeyHash::of("omt_ha")).await, "find ha"),
        Some(ha.clone())
    );
    assert_eq!(
        must(
            s.find_api_token(&KeyHash::of("omt_unknown")).await,
            "find an unknown hash"
        ),
        None,
        "a different hash finds nothing"
    );

    assert_eq!(
        must(s.list_api_tokens().await, "list"),
        vec![grafana, ha, backup],
        "tokens are listed oldest first, with every field as created"
    );
}

/// Revoking a token returns `true`, then `false`; it is no longer found nor listed, the other
/// tokens stay, and its name can be used again.
pub async fn a_revoked_api_token_is_gone(store: Arc<dyn StatusStore>) {
    let s = &*store;
    let hash = KeyHash::of("omt_grafana");
    let grafana = must(
        s.create_api_token("grafana", hash, at(0)).await,
        "create grafana",
    );
    let ha = must(
        s.create_api_token("home-assistant", KeyHash::of("omt_ha"), at(1))
            .await,
        "create home-assistant",
    );
    assert!(
        must(s.revoke_api_token(grafana.id).await, "revoke"),
        "revoking an existing token returns true"
    );
    assert!(
        !must(s.revoke_api_token(grafana.id).await, "revoke again"),
        "revoking it again returns false"
    );
    assert_eq!(
        must(s.find_api_token(&hash).await, "find the revoked token"),
        None,
        "a revoked token is no longer found"
    );
    assert_eq!(
        must(s.list_api_tokens().await, "list"),
        vec![ha.clone()],
        "only the revoked token is gone"
    );
    assert_eq!(
        must(s.find_api_token(&KeyHash::of("omt_ha")).await, "find ha"),
        Some(ha),
        "the other token still works"
    );
    let again = must(
        s.create_api_token("grafana", KeyHash::of("omt_grafana2"), at(2))
            .await,
        "reuse the revoked token's name",
    );
    assert_ne!(again.id, grafana.id, "a new token gets a new id");
}

// ---------------------------------------------------------------------------------------------
// Admin-panel users and sessions

/// A realistic argon2id PHC string: `$`, `=`, `,`, `+` and `/` must all survive storage.
const PHC_OLENA: &str = "$argon2id$v=19$m=19456,t=2,p=1$b2xlbmEtc2FsdC0xMjM0$\
    Xl6nQ+2m/1kEwA7uB3o5Lr9y8p4GdV0sZc6hJtKqWfE";

/// Another user's PHC string.
const PHC_BOHDAN: &str = "$argon2id$v=19$m=19456,t=2,p=1$Ym9oZGFuLXNhbHQtNTY3OA$\
    9Kp/QwErTyUiOpAsDfGhJkLzXcVbNm+12345678abcd";

/// The PHC string after a password change.
const PHC_CHANGED: &str = "$argon2id$v=19$m=65536,t=3,p=4$bmV3LXNhbHQtYWZ0ZXItY2hhbmdl$\
    Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0Z2FycGx5";

/// Creates a user with `password_hash`, failing the story on an error.
async fn add_user(
    store: &dyn StatusStore,
    name: &str,
    role: Role,
    password_hash: &str,
    at: DateTime<Utc>,
) -> User {
    must(
        store.create_user(name, role, password_hash, at).await,
        &format!("create user {name}"),
    )
}

/// A session of `user` for the cookie token `token`, valid in `[created_at, expires_at)`.
fn session_of(
    user: &User,
    token: &str,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Session {
    Session {
        token_hash: KeyHash::of(token),
        user_id: user.id,
        created_at,
        expires_at,
    }
}

/// Stores `session` (a login), failing the story on an error.
async fn log_in(store: &dyn StatusStore, session: &Session) {
    must(store.create_session(session).await, "create a session");
}

/// What a request with the cookie token `token` at `now` finds.
async fn session_at(
    store: &dyn StatusStore,
    token: &str,
    now: DateTime<Utc>,
) -> Option<(Session, User)> {
    must(
        store.find_session(&KeyHash::of(token), now).await,
        &format!("find the session of {token}"),
    )
}

async fn user_named(store: &dyn StatusStore, name: &str) -> User {
    match must(store.find_user(name).await, &format!("find user {name}")) {
        Some(u) => u,
        None => panic!("user {name} should exist"),
    }
}

/// Three users are created (in an order that is not alphabetical): each is returned as it was
/// stored, with its own id, created and updated at its creation time; they are listed by name
/// and found by their exact name only.
pub async fn users_are_created_listed_by_name_and_found(store: Arc<dyn StatusStore>) {
    let s = &*store;
    assert!(
        must(s.list_users().await, "list an empty store").is_empty(),
        "a fresh store has no users"
    );
    let olena = add_user(s, "olena", Role::Admin, PHC_OLENA, at_ms(1_001)).await;
    assert_eq!(
        olena,
        User {
            id: olena.id,
            name: "olena".into(),
            role: Role::Admin,
            password_hash: PHC_OLENA.into(),
            created_at: at_ms(1_001),
            updated_at: at_ms(1_001),
        },
        "a new user is stored as given, created and updated now"
    );
    let bohdan = add_user(s, "bohdan", Role::Viewer, PHC_BOHDAN, at(10)).await;
    let andrii = add_user(s, "Андрій", Role::Viewer, PHC_BOHDAN, at(20)).await;
    assert!(
        olena.id != bohdan.id && bohdan.id != andrii.id && olena.id != andrii.id,
        "every user gets its own id"
    );

    let mut by_name = vec![olena.clone(), bohdan.clone(), andrii.clone()];
    by_name.sort_by(|a, b| a.name.cmp(&b.name));
    assert_eq!(
        must(s.list_users().await, "list users"),
        by_name,
        "users are listed by name, with every field as created"
    );
    assert_eq!(
        must(s.find_user("bohdan").await, "find bohdan"),
        Some(bohdan),
        "a user is found by name"
    );
    assert_eq!(
        must(s.find_user("Андрій").await, "find a Cyrillic name"),
        Some(andrii)
    );
    for other in ["Olena", "olen", "olena ", "nobody"] {
        assert_eq!(
            must(s.find_user(other).await, "find an unknown name"),
            None,
            "only the exact name finds a user, {other:?} does not"
        );
    }
}

/// A second user with a taken name is refused with a `Conflict` naming it, and the first user
/// is left as it was.
pub async fn user_names_are_unique(store: Arc<dyn StatusStore>) {
    let s = &*store;
    let olena = add_user(s, "olena", Role::Admin, PHC_OLENA, at(0)).await;
    match s
        .create_user("olena", Role::Viewer, PHC_BOHDAN, at(1))
        .await
    {
        Err(StoreError::Conflict(msg)) => {
            assert!(msg.contains("olena"), "the conflict names the user: {msg}")
        }
        other => panic!("a duplicate user name must be a Conflict, got {other:?}"),
    }
    assert_eq!(
        must(s.list_users().await, "list users"),
        vec![olena],
        "the duplicate was not stored and the first user is unchanged"
    );
}

/// Changing a user's role keeps its sessions (which see the new role at once); changing its
/// password ends every session of that user and only of that user; each change moves
/// `updated_at` and keeps what it does not name. An unknown user is `NotFound`.
pub async fn a_password_change_ends_the_users_sessions_but_a_role_change_does_not(
    store: Arc<dyn StatusStore>,
) {
    let s = &*store;
    let olena = add_user(s, "olena", Role::Admin, PHC_OLENA, at(0)).await;
    let bohdan = add_user(s, "bohdan", Role::Viewer, PHC_BOHDAN, at(0)).await;
    log_in(s, &session_of(&olena, "oms_laptop", at(10), at(86_400))).await;
    log_in(s, &session_of(&olena, "oms_phone", at(11), at(86_400))).await;
    log_in(s, &session_of(&bohdan, "oms_bohdan", at(12), at(86_400))).await;

    must(
        s.update_user(olena.id, None, Some(Role::Viewer), at_ms(20_002))
            .await,
        "make olena a viewer",
    );
    let demoted = user_named(s, "olena").await;
    assert_eq!(
        demoted,
        User {
            role: Role::Viewer,
            updated_at: at_ms(20_002),
            ..olena.clone()
        },
        "a role change sets the role and updated_at, and keeps the password hash"
    );
    match session_at(s, "oms_laptop", at(30)).await {
        Some((_, user)) => assert_eq!(
            user, demoted,
            "a role change keeps the sessions, and they see the new role"
        ),
        None => panic!("a role change must not end the user's sessions"),
    }
    assert!(session_at(s, "oms_phone", at(30)).await.is_some());

    must(
        s.update_user(olena.id, Some(PHC_CHANGED), None, at(40))
            .await,
        "change olena's password",
    );
    assert_eq!(
        user_named(s, "olena").await,
        User {
            password_hash: PHC_CHANGED.into(),
            updated_at: at(40),
            ..demoted
        },
        "a password change sets the hash and updated_at, and keeps the role"
    );
    for token in ["oms_laptop", "oms_phone"] {
        assert_eq!(
            session_at(s, token, at(41)).await,
            None,
            "a password change ends every session of the user ({token})"
        );
    }
    assert!(
        session_at(s, "oms_bohdan", at(41)).await.is_some(),
        "other users stay logged in"
    );
    log_in(
        s,
        &session_of(&olena, "oms_laptop_again", at(50), at(86_400)),
    )
    .await;
    assert!(
        session_at(s, "oms_laptop_again", at(51)).await.is_some(),
        "logging in with the new password works"
    );

    match s
        .update_user(
            UserId(bohdan.id.0.max(olena.id.0) + 1000),
            None,
            Some(Role::Admin),
            at(60),
        )
        .await
    {
        Err(StoreError::NotFound { .. }) => {}
        other => panic!("updating an unknown user must be NotFound, got {other:?}"),
    }
}

/// Deleting a user returns `true`, then `false`; the user and all its sessions are gone, the
/// other user keeps everything, and a new user may take the name without inheriting anything.
pub async fn deleting_a_user_removes_it_and_its_sessions(store: Arc<dyn StatusStore>) {
    let s = &*store;
    let olena = add_user(s, "olena", Role::Admin, PHC_OLENA, at(0)).await;
    let bohdan = add_user(s, "bohdan", Role::Viewer, PHC_BOHDAN, at(0)).await;
    log_in(s, &session_of(&olena, "oms_olena_1", at(1), at(86_400))).await;
    log_in(s, &session_of(&olena, "oms_olena_2", at(2), at(86_400))).await;
    let kept = session_of(&bohdan, "oms_bohdan", at(3), at(86_400));
    log_in(s, &kept).await;

    assert!(
        must(s.delete_user(olena.id).await, "delete olena"),
        "deleting an existing user returns true"
    );
    assert!(
        !must(s.delete_user(olena.id).await, "delete olena again"),
        "deleting it again returns false"
    );
    assert_eq!(must(s.find_user("olena").await, "find olena"), None);
    assert_eq!(
        must(s.list_users().await, "list users"),
        vec![bohdan.clone()],
        "only the deleted user is gone"
    );
    for token in ["oms_olena_1", "oms_olena_2"] {
        assert_eq!(
            session_at(s, token, at(10)).await,
            None,
            "the deleted user's sessions are gone ({token})"
        );
    }
    assert_eq!(
        session_at(s, "oms_bohdan", at(10)).await,
        Some((kept, bohdan)),
        "the other user's session stays"
    );
    match s
        .create_session(&session_of(&olena, "oms_olena_3", at(11), at(86_400)))
        .await
    {
        Err(StoreError::NotFound { .. }) => {}
        other => panic!("a session for a deleted user must be NotFound, got {other:?}"),
    }

    let again = add_user(s, "olena", Role::Viewer, PHC_CHANGED, at(20)).await;
    assert_ne!(again.id, olena.id, "a new user gets a new id");
    assert_eq!(
        session_at(s, "oms_olena_1", at(21)).await,
        None,
        "a new user with the old name inherits no session"
    );
}

/// A session is found, with its user, from its creation until just before it expires; at its
/// expiry time and later it is not, and neither is a token never stored.
pub async fn sessions_are_found_only_before_they_expire(store: Arc<dyn StatusStore>) {
    let s = &*store;
    let olena = add_user(s, "olena", Role::Admin, PHC_OLENA, at(0)).await;
    let session = session_of(&olena, "oms_laptop", at_ms(1_001), at_ms(3_600_001));
    log_in(s, &session).await;

    for (now, step) in [
        (at_ms(1_001), "at login"),
        (at(60), "a minute later"),
        (at_ms(3_600_000), "1 ms before it expires"),
    ] {
        assert_eq!(
            session_at(s, "oms_laptop", now).await,
            Some((session.clone(), olena.clone())),
            "the session is found with its user {step}, every field as stored"
        );
    }
    for (now, step) in [
        (at_ms(3_600_001), "at its expiry time"),
        (at(86_400), "a day later"),
    ] {
        assert_eq!(
            session_at(s, "oms_laptop", now).await,
            None,
            "an expired session is not found {step}"
        );
    }
    assert_eq!(
        session_at(s, "oms_never_stored", at(60)).await,
        None,
        "an unknown token finds nothing"
    );
}

/// A session for a user that does not exist is `NotFound` and is not stored.
pub async fn a_session_needs_its_user(store: Arc<dyn StatusStore>) {
    let s = &*store;
    let olena = add_user(s, "olena", Role::Admin, PHC_OLENA, at(0)).await;
    let ghost = User {
        id: UserId(olena.id.0 + 1000),
        name: "ghost".into(),
        ..olena
    };
    match s
        .create_session(&session_of(&ghost, "oms_ghost", at(1), at(3600)))
        .await
    {
        Err(StoreError::NotFound { .. }) => {}
        other => panic!("a session for a missing user must be NotFound, got {other:?}"),
    }
    assert_eq!(
        session_at(s, "oms_ghost", at(2)).await,
        None,
        "the refused session was not stored"
    );
}

/// Logging out ends the session: `delete_session` returns `true`, then `false`; the session is
/// no longer found, the user's other session stays, and an unknown token returns `false`.
pub async fn ending_a_session_returns_true_then_false(store: Arc<dyn StatusStore>) {
    let s = &*store;
    let olena = add_user(s, "olena", Role::Admin, PHC_OLENA, at(0)).await;
    log_in(s, &session_of(&olena, "oms_laptop", at(1), at(3600))).await;
    let phone = session_of(&olena, "oms_phone", at(2), at(3600));
    log_in(s, &phone).await;

    let laptop = KeyHash::of("oms_laptop");
    assert!(
        must(s.delete_session(&laptop).await, "log out"),
        "ending an existing session returns true"
    );
    assert!(
        !must(s.delete_session(&laptop).await, "log out again"),
        "ending it again returns false"
    );
    assert_eq!(session_at(s, "oms_laptop", at(3)).await, None);
    assert_eq!(
        session_at(s, "oms_phone", at(3)).await,
        Some((phone, olena)),
        "the user's other session stays"
    );
    assert!(
        !must(
            s.delete_session(&KeyHash::of("oms_unknown")).await,
            "end an unknown session"
        ),
        "an unknown token returns false"
    );
}

/// `prune_sessions` deletes exactly the sessions that have expired by `now` (the ones
/// `find_session` no longer returns), of every user, and counts them; the others stay.
pub async fn prune_sessions_counts_and_removes_only_expired_ones(store: Arc<dyn StatusStore>) {
    let s = &*store;
    let olena = add_user(s, "olena", Role::Admin, PHC_OLENA, at(0)).await;
    let bohdan = add_user(s, "bohdan", Role::Viewer, PHC_BOHDAN, at(0)).await;
    log_in(s, &session_of(&olena, "oms_10", at(0), at(10))).await;
    log_in(s, &session_of(&bohdan, "oms_20", at(0), at(20))).await;
    log_in(s, &session_of(&olena, "oms_30", at(0), at(30))).await;
    log_in(s, &session_of(&bohdan, "oms_40", at(0), at(40))).await;

    assert_eq!(
        must(s.prune_sessions(at(5)).await, "prune before any expired"),
        0,
        "nothing has expired yet"
    );
    assert_eq!(
        must(s.prune_sessions(at(20)).await, "prune at 20 s"),
        2,
        "the sessions expiring at 10 s and at 20 s are over at 20 s"
    );
    assert_eq!(
        must(s.prune_sessions(at(20)).await, "prune again"),
        0,
        "pruning again finds nothing more"
    );
    for token in ["oms_10", "oms_20"] {
        assert_eq!(
            session_at(s, token, at(5)).await,
            None,
            "a pruned session is deleted, not only expired ({token})"
        );
    }
    for token in ["oms_30", "oms_40"] {
        assert!(
            session_at(s, token, at(25)).await.is_some(),
            "a session not yet expired stays ({token})"
        );
    }
    assert_eq!(
        must(s.prune_sessions(at(1000)).await, "prune long after"),
        2
    );
}

/// The password hash comes back byte for byte from every read (`find_user`, `list_users`,
/// the user of `find_session`) and after a password change.
pub async fn password_hashes_round_trip_exactly(store: Arc<dyn StatusStore>) {
    let s = &*store;
    let long = format!(
        "$argon2id$v=19$m=19456,t=2,p=1${}${}",
        "QUJD".repeat(40),
        "eHl6+/".repeat(60)
    );
    let hashes = [PHC_OLENA, PHC_BOHDAN, long.as_str()];
    for (i, hash) in hashes.iter().enumerate() {
        let name = format!("user{i}");
        let user = add_user(s, &name, Role::Viewer, hash, at(i as i64)).await;
        assert_eq!(
            user.password_hash, *hash,
            "create returns the hash as given"
        );
        assert_eq!(
            user_named(s, &name).await.password_hash,
            *hash,
            "find_user returns the hash byte for byte"
        );
        let token = format!("oms_{name}");
        log_in(s, &session_of(&user, &token, at(100), at(200))).await;
        match session_at(s, &token, at(150)).await {
            Some((_, u)) => assert_eq!(u.password_hash, *hash, "find_session's user too"),
            None => panic!("the session of {name} should be found"),
        }
    }
    let listed: Vec<String> = must(s.list_users().await, "list users")
        .into_iter()
        .map(|u| u.password_hash)
        .collect();
    assert_eq!(listed, hashes, "list_users returns every hash exactly");

    let user0 = user_named(s, "user0").await;
    must(
        s.update_user(user0.id, Some(PHC_CHANGED), None, at(300))
            .await,
        "change user0's password",
    );
    assert_eq!(user_named(s, "user0").await.password_hash, PHC_CHANGED);
}

/// Both roles come back as stored from every read, and a role change in either direction
/// sticks.
pub async fn roles_round_trip(store: Arc<dyn StatusStore>) {
    let s = &*store;
    let admin = add_user(s, "admin", Role::Admin, PHC_OLENA, at(0)).await;
    let viewer = add_user(s, "viewer", Role::Viewer, PHC_BOHDAN, at(0)).await;
    assert_eq!((admin.role, viewer.role), (Role::Admin, Role::Viewer));
    assert_eq!(user_named(s, "admin").await.role, Role::Admin);
    assert_eq!(user_named(s, "viewer").await.role, Role::Viewer);
    let roles: Vec<(String, Role)> = must(s.list_users().await, "list users")
        .into_iter()
        .map(|u| (u.name, u.role))
        .collect();
    assert_eq!(
        roles,
        vec![
            ("admin".to_string(), Role::Admin),
            ("viewer".to_string(), Role::Viewer)
        ]
    );
    log_in(s, &session_of(&viewer, "oms_viewer", at(1), at(3600))).await;
    assert_eq!(
        session_at(s, "oms_viewer", at(2))
            .await
            .map(|(_, u)| u.role),
        Some(Role::Viewer),
        "find_session's user has its role"
    );

    must(
        s.update_user(admin.id, None, Some(Role::Viewer), at(10))
            .await,
        "demote admin",
    );
    must(
        s.update_user(viewer.id, None, Some(Role::Admin), at(10))
            .await,
        "promote viewer",
    );
    assert_eq!(user_named(s, "admin").await.role, Role::Viewer);
    assert_eq!(user_named(s, "viewer").await.role, Role::Admin);
    assert_eq!(
        session_at(s, "oms_viewer", at(11))
            .await
            .map(|(_, u)| u.role),
        Some(Role::Admin),
        "the promoted user's session sees the new role"
    );
}

/// Users and sessions are not location settings: creating, changing and deleting them, logging
/// in and out and pruning sessions all leave `locations_version` alone.
pub async fn users_and_sessions_leave_locations_version_alone(store: Arc<dyn StatusStore>) {
    let s = &*store;
    add(s, "Home").await;
    let v = version(s).await;
    let kept = |step: &'static str| async move {
        assert_eq!(
            version(s).await,
            v,
            "{step} must not change locations_version (users are not location settings)"
        );
    };
    let olena = add_user(s, "olena", Role::Admin, PHC_OLENA, at(0)).await;
    kept("creating a user").await;
    log_in(s, &session_of(&olena, "oms_1", at(1), at(10))).await;
    log_in(s, &session_of(&olena, "oms_2", at(1), at(100))).await;
    kept("logging in").await;
    must(
        s.update_user(olena.id, Some(PHC_CHANGED), Some(Role::Viewer), at(2))
            .await,
        "update olena",
    );
    kept("updating a user").await;
    log_in(s, &session_of(&olena, "oms_3", at(3), at(10))).await;
    must(s.delete_session(&KeyHash::of("oms_3")).await, "log out");
    kept("logging out").await;
    log_in(s, &session_of(&olena, "oms_4", at(4), at(10))).await;
    must(s.prune_sessions(at(50)).await, "prune sessions");
    kept("pruning sessions").await;
    must(s.delete_user(olena.id).await, "delete olena");
    kept("deleting a user").await;
}

// ---------------------------------------------------------------------------------------------
// Retention and batches

/// Retention deletes raw beats older than its cutoff and finished outbox rows finished before
/// its cutoff; pending rows, events, intervals and message refs stay.
pub async fn prune_deletes_old_beats_and_finished_outbox_rows(store: Arc<dyn StatusStore>) {
    let s = &*store;
    let a = add(s, "A").await;
    let b = add(s, "B").await;
    must(
        s.record_heartbeats(
            &[
                beat(a.id, at(0), facts("a", 0)),
                beat(a.id, at(60), facts("a", 60)),
                beat(a.id, at(120), facts("a", 120)),
                beat(a.id, at(180), facts("a", 180)),
                beat(b.id, at(0), facts("b", 0)),
            ],
            at(180),
        )
        .await,
        "beats",
    );
    must(
        s.apply_transition(&switch(a.id, Status::Up, at(0), IntervalKind::Up))
            .await,
        "up",
    );
    let ev = open_outage(s, &a, at(200)).await; // telegram/chat-A, due at 230 s
    let row = |chat: &str, t| note("telegram", chat, alert(AlertKind::Test, &a, at(t)));
    must(
        s.apply_transition(&notify(
            a.id,
            Status::Down,
            vec![
                row("delivered-early", 0),
                row("failed", 0),
                row("pending", 0),
            ],
        ))
        .await,
        "queue",
    );
    for item in claim(s, at(230), 10).await {
        match item.chat.as_str() {
            "delivered-early" => must(
                s.complete_notification(item.id, None, at(10)).await,
                "deliver",
            ),
            // Failed rows count as finished at their due time (0 s here).
            "failed" => must(s.fail_notification(item.id, "gone").await, "fail"),
            "chat-A" => {
                let msg = MessageRef {
                    notifier: "telegram".into(),
                    chat: "chat-A".into(),
                    message_id: "5".into(),
                };
                must(
                    s.complete_notification(item.id, Some(&msg), at(500)).await,
                    "deliver late",
                )
            }
            _ => {}
        }
    }
    let stats = must(s.prune(at(120), at(100)).await, "prune");
    assert_eq!(
        stats,
        PruneStats {
            heartbeats: 3,
            outbox: 2
        },
        "beats before 120 s (a: 0, 60; b: 0) and rows finished before 100 s"
    );
    let left: Vec<_> = must(s.recent_heartbeats(a.id, 10).await, "recent")
        .into_iter()
        .map(|b| b.received_at)
        .collect();
    assert_eq!(
        left,
        vec![at(180), at(120)],
        "a beat exactly at the cutoff stays"
    );
    assert!(must(s.recent_heartbeats(b.id, 10).await, "recent b").is_empty());
    assert_eq!(
        must(s.outbox_stats().await, "stats"),
        OutboxStats {
            pending: 1,
            delivered: 1,
            failed: 0
        },
        "the pending row and the row delivered after the cutoff stay"
    );
    assert_eq!(
        queues(&claim(s, at(1000), 10).await),
        vec![q("telegram", "pending")]
    );
    assert!(
        must(s.get_event(ev).await, "event").is_some(),
        "events stay"
    );
    assert_eq!(intervals(s, a.id).await.len(), 2, "intervals stay");
    assert_eq!(
        must(s.message_refs(ev).await, "refs").len(),
        1,
        "message refs stay"
    );
    assert_eq!(
        record(s, a.id).await.runtime.last_seen,
        Some(at(180)),
        "last_seen is not a raw beat"
    );
    assert_eq!(
        must(s.prune(at(120), at(100)).await, "prune again"),
        PruneStats::default(),
        "pruning twice deletes nothing more"
    );
}

/// Start-up marks every location `unknown` in one batch. A batch applies all its transitions
/// (each alert getting its own transition's new event id), or, when one fails, none of them.
pub async fn a_batch_of_transitions_is_all_or_nothing(store: Arc<dyn StatusStore>) {
    let s = &*store;
    let locs = [add(s, "A").await, add(s, "B").await, add(s, "C").await];
    must(s.apply_transitions(&[]).await, "an empty batch");
    let unknown: Vec<_> = locs
        .iter()
        .map(|l| switch(l.id, Status::Unknown, at(0), IntervalKind::Unknown))
        .collect();
    must(s.apply_transitions(&unknown).await, "mark all unknown");
    for l in &locs {
        assert_eq!(record(s, l.id).await.runtime.status, Some(Status::Unknown));
        assert_eq!(
            intervals(s, l.id).await,
            vec![iv(l.id, IntervalKind::Unknown, at(0), None)]
        );
    }

    let open = |l: &Location, t: i64| Transition {
        location_id: l.id,
        status: Status::Down,
        interval: Some(IntervalSwitch {
            at: at(t),
            kind: IntervalKind::Down,
            relabel_closed_as: None,
        }),
        event: EventChange::Open {
            started_at: Some(at(t)),
            detected_at: at(t + 30),
            cause: Cause::Unknown,
        },
        notifications: vec![note(
            "telegram",
            &l.name,
            alert(AlertKind::Outage, l, at(t + 30)),
        )],
    };
    let poisoned = vec![
        switch(locs[0].id, Status::Up, at(10), IntervalKind::Up),
        open(&locs[1], 20),
        Transition {
            event: EventChange::Close {
                event_id: EventId(1_000_000),
                ended_at: at(40),
                cause: Cause::Power,
            },
            ..open(&locs[2], 30)
        },
    ];
    assert!(
        s.apply_transitions(&poisoned).await.is_err(),
        "a batch with a bad transition fails"
    );
    for l in &locs {
        assert_eq!(
            record(s, l.id).await.runtime.status,
            Some(Status::Unknown),
            "no transition of the failed batch was applied"
        );
        assert_eq!(
            intervals(s, l.id).await.len(),
            1,
            "no interval of the failed batch"
        );
    }
    assert!(must(s.list_events(&EventFilter::default()).await, "events").is_empty());
    assert_eq!(
        must(s.outbox_stats().await, "stats"),
        OutboxStats::default()
    );

    must(
        s.apply_transitions(&[open(&locs[1], 20), open(&locs[2], 30)])
            .await,
        "a good batch",
    );
    let events = must(s.list_events(&EventFilter::default()).await, "events");
    assert_eq!(events.len(), 2);
    for item in claim(s, at(100), 10).await {
        let ev = events
            .iter()
            .find(|e| e.location_id == item.alert.location_id)
            .map(|e| e.id);
        assert_eq!(
            item.alert.event_id, ev,
            "each alert carries its own transition's event"
        );
    }
    for l in &locs[1..] {
        let rt = record(s, l.id).await.runtime;
        assert_eq!(rt.status, Some(Status::Down));
        assert!(rt.open_event.is_some());
    }
}

/// Times keep (at least) millisecond precision everywhere they are stored.
pub async fn times_keep_millisecond_precision(store: Arc<dyn StatusStore>) {
    let s = &*store;
    let loc = must(
        s.create_location(
            &NewLocation {
                routes: Vec::new(),
                name: "Precise".into(),
                timeout: Duration::from_millis(30_001),
                chat_id: None,
            },
            KeyHash::of("om_precise"),
            at_ms(1),
        )
        .await,
        "create",
    );
    assert_eq!(record(s, loc.id).await.location.created_at, at_ms(1));
    assert_eq!(
        record(s, loc.id).await.location.timeout,
        Duration::from_millis(30_001)
    );
    must(
        s.update_location(
            loc.id,
            &LocationPatch {
                paused_until: Some(Some(at_ms(3_600_999))),
                ..Default::default()
            },
            at_ms(2_002),
        )
        .await,
        "pause",
    );
    let got = record(s, loc.id).await.location;
    assert_eq!(got.paused_until, Some(at_ms(3_600_999)));
    assert_eq!(got.updated_at, at_ms(2_002));
    must(
        s.record_heartbeats(&[beat(loc.id, at_ms(5_123), facts("p", 5))], at_ms(5_124))
            .await,
        "beat",
    );
    let snap = must(s.load_runtime().await, "load");
    assert_eq!(snap.monitor_alive_at, Some(at_ms(5_124)));
    assert_eq!(snap.locations[0].runtime.last_seen, Some(at_ms(5_123)));
    let ev = closed_event(s, loc.id, Some(at_ms(7_001)), at_ms(8_002), at_ms(9_003)).await;
    let e = must(s.get_event(ev).await, "event");
    assert_eq!(
        e.map(|e| (e.started_at, e.detected_at, e.ended_at)),
        Some((Some(at_ms(7_001)), at_ms(8_002), Some(at_ms(9_003))))
    );
    must(
        s.apply_transition(&switch(loc.id, Status::Up, at_ms(10_004), IntervalKind::Up))
            .await,
        "switch",
    );
    assert_eq!(
        intervals(s, loc.id).await,
        vec![iv(loc.id, IntervalKind::Up, at_ms(10_004), None)]
    );
    must(
        s.apply_transition(&notify(
            loc.id,
            Status::Up,
            vec![note("t", "c", alert(AlertKind::Test, &loc, at_ms(11_005)))],
        ))
        .await,
        "notify",
    );
    assert!(
        claim(s, at_ms(11_004), 10).await.is_empty(),
        "not due 1 ms early"
    );
    let items = claim(s, at_ms(11_005), 10).await;
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].created_at, at_ms(11_005));
    assert_eq!(items[0].alert, alert(AlertKind::Test, &loc, at_ms(11_005)));
    must(
        s.retry_notification(items[0].id, at_ms(12_006), "x").await,
        "retry",
    );
    assert_eq!(
        must(s.next_notification_due().await, "due"),
        Some(at_ms(12_006))
    );
}

/// Migrating again is harmless and keeps the data; the store answers pings.
pub async fn migrate_and_ping_are_idempotent(store: Arc<dyn StatusStore>) {
    let s = &*store;
    must(s.ping().await, "ping");
    let loc = add(s, "Home").await;
    must(s.migrate().await, "migrate again");
    must(s.migrate().await, "and again");
    assert_eq!(
        record(s, loc.id).await.location,
        loc,
        "migrating keeps the data"
    );
    must(s.ping().await, "ping after migrating");
}
