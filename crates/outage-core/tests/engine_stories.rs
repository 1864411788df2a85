//! Stories of the engine on a controllable clock: tokio's paused time drives both the timers and
//! the wall clock (`TokioClock`), so a "sleep" here moves time instantly and exactly.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use outage_core::config::RestoreConfirm;
use outage_core::engine::{Engine, EngineConfig, EngineTasks, FULL_SYNC_EVERY, Rules};
use outage_core::keys::KeyHash;
use outage_core::memory_store::MemoryStore;
use outage_core::metrics::Metrics;
use outage_core::notify::{AlertKind, Notifier, NotifyError};
use outage_core::source::HeartbeatSink;
use outage_core::store::{
    EventFilter, LocationRecord, NotifierOutboxStats, OutboxId, OutboxItem, OutboxStats,
    PruneStats, RuntimeSnapshot, StatusStore, StoreError, Transition,
};
use outage_core::*;
use outage_testkit::notifier::RecordingNotifier;

const TIMEOUT: Duration = Duration::from_secs(30);

struct World {
    store: Arc<MemoryStore>,
    rec: RecordingNotifier,
    clock: TokioClock,
    engine: Engine,
    tasks: Option<EngineTasks>,
    rules: Rules,
}

fn facts(boot: &str, uptime_s: u64) -> DeviceFacts {
    DeviceFacts {
        boot_id: Some(boot.into()),
        uptime_s: Some(uptime_s),
        ..DeviceFacts::default()
    }
}

impl World {
    /// Rules for most stories: no live updates, so alert lists stay short.
    fn quiet() -> Rules {
        Rules {
            live_update_every: Duration::ZERO,
            ..Rules::default()
        }
    }

    async fn new(rules: Rules) -> World {
        Self::with_store(Arc::new(MemoryStore::new()), rules).await
    }

    async fn with_store(store: Arc<MemoryStore>, rules: Rules) -> World {
        Self::with_recorder(store, RecordingNotifier::new("rec"), rules).await
    }

    async fn with_recorder(store: Arc<MemoryStore>, rec: RecordingNotifier, rules: Rules) -> World {
        let clock = TokioClock::starting_at(outage_testkit::t0());
        let (engine, tasks) = start(store.clone(), &rec, clock, &rules).await;
        World {
            store,
            rec,
            clock,
            engine,
            tasks: Some(tasks),
            rules,
        }
    }

    /// A world whose engine reads the store through a [`CountingStore`]; the world's own
    /// `store` writes it directly, as another process would.
    async fn counting(rules: Rules) -> (World, Arc<CountingStore>) {
        let store = Arc::new(MemoryStore::new());
        let counting = Arc::new(CountingStore {
            inner: store.clone(),
            lists: AtomicUsize::new(0),
            versions: AtomicUsize::new(0),
            failing_refs: AtomicUsize::new(0),
        });
        let rec = RecordingNotifier::new("rec");
        let clock = TokioClock::starting_at(outage_testkit::t0());
        let (engine, tasks) = start(counting.clone(), &rec, clock, &rules).await;
        let w = World {
            store,
            rec,
            clock,
            engine,
            tasks: Some(tasks),
            rules,
        };
        (w, counting)
    }

    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    async fn add(&self, name: &str, key: &str) -> LocationId {
        let loc = self
            .store
            .create_location(
                &NewLocation {
                    routes: Vec::new(),
                    name: name.into(),
                    timeout: TIMEOUT,
                    chat_id: None,
                },
                KeyHash::of(key),
                self.now(),
            )
            .await
            .unwrap();
        self.engine.reload_location(loc.id).await.unwrap();
        loc.id
    }

    /// Pauses a location as `location pause --until` would, and lets the engine see it.
    async fn pause(&self, id: LocationId, until: DateTime<Utc>) {
        let patch = LocationPatch {
            paused_until: Some(Some(until)),
            ..LocationPatch::default()
        };
        self.store
            .update_location(id, &patch, self.now())
            .await
            .unwrap();
        self.engine.reload_location(id).await.unwrap();
    }

    async fn beat(&self, key: &str, f: DeviceFacts) -> Status {
        self.engine.heartbeat(key, f).await.unwrap().status
    }

    /// Restarts the monitor after it was offline for `offline`.
    async fn restart_after(&mut self, offline: Duration) {
        if let Some(t) = self.tasks.take() {
            t.shutdown().await;
        }
        tokio::time::sleep(offline).await;
        let (engine, tasks) = start(self.store.clone(), &self.rec, self.clock, &self.rules).await;
        self.engine = engine;
        self.tasks = Some(tasks);
    }

    async fn events(&self) -> Vec<PowerEvent> {
        let mut v = self
            .store
            .list_events(&EventFilter::default())
            .await
            .unwrap();
        v.reverse();
        v
    }

    async fn intervals(
        &self,
        id: LocationId,
    ) -> Vec<(IntervalKind, DateTime<Utc>, Option<DateTime<Utc>>)> {
        self.store
            .list_intervals(id, DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC)
            .await
            .unwrap()
            .into_iter()
            .map(|i| (i.kind, i.start, i.end))
            .collect()
    }
}

/// A [`MemoryStore`] that counts `list_locations` and `locations_version` calls and can be told
/// to fail the next `message_refs` reads; every other method is delegated.
#[derive(Debug)]
struct CountingStore {
    inner: Arc<MemoryStore>,
    lists: AtomicUsize,
    versions: AtomicUsize,
    /// How many of the next `message_refs` calls fail.
    failing_refs: AtomicUsize,
}

impl CountingStore {
    fn lists(&self) -> usize {
        self.lists.load(Ordering::SeqCst)
    }

    fn versions(&self) -> usize {
        self.versions.load(Ordering::SeqCst)
    }

    /// Makes the next `n` reads of earlier message ids fail.
    fn fail_message_refs(&self, n: usize) {
        self.failing_refs.store(n, Ordering::SeqCst);
    }
}

macro_rules! delegate_to_inner {
    ($($name:ident($($arg:ident: $ty:ty),*) -> $ret:ty;)*) => {
        #[async_trait::async_trait]
        impl StatusStore for CountingStore {
            async fn list_locations(&self) -> Result<Vec<LocationRecord>, StoreError> {
                self.lists.fetch_add(1, Ordering::SeqCst);
                self.inner.list_locations().await
            }
            async fn locations_version(&self) -> Result<i64, StoreError> {
                self.versions.fetch_add(1, Ordering::SeqCst);
                self.inner.locations_version().await
            }
            async fn message_refs(&self, id: EventId) -> Result<Vec<MessageRef>, StoreError> {
                let fail = self
                    .failing_refs
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok();
                if fail {
                    return Err(StoreError::Unavailable("injected: connection reset".into()));
                }
                self.inner.message_refs(id).await
            }
            $(async fn $name(&self, $($arg: $ty),*) -> Result<$ret, StoreError> {
                self.inner.$name($($arg),*).await
            })*
        }
    };
}

delegate_to_inner! {
    migrate() -> ();
    ping() -> ();
    create_location(n: &NewLocation, k: KeyHash, now: DateTime<Utc>) -> Location;
    get_location(id: LocationId) -> Option<LocationRecord>;
    update_location(id: LocationId, p: &LocationPatch, now: DateTime<Utc>) -> Location;
    set_key_hash(id: LocationId, k: KeyHash) -> ();
    delete_location(id: LocationId) -> bool;
    load_runtime() -> RuntimeSnapshot;
    record_heartbeats(b: &[Heartbeat], alive: DateTime<Utc>) -> ();
    recent_heartbeats(id: LocationId, limit: u32) -> Vec<Heartbeat>;
    apply_transition(t: &Transition) -> Option<EventId>;
    apply_transitions(ts: &[Transition]) -> ();
    list_events(f: &EventFilter) -> Vec<PowerEvent>;
    get_event(id: EventId) -> Option<PowerEvent>;
    list_intervals(id: LocationId, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<StateInterval>;
    claim_notifications(now: DateTime<Utc>, limit: u32) -> Vec<OutboxItem>;
    claim_queue(n: &str, c: &str, now: DateTime<Utc>, limit: u32) -> Vec<OutboxItem>;
    complete_notification(id: OutboxId, m: Option<&MessageRef>, now: DateTime<Utc>) -> ();
    retry_notification(id: OutboxId, next: DateTime<Utc>, e: &str) -> ();
    fail_notification(id: OutboxId, e: &str) -> ();
    next_notification_due() -> Option<DateTime<Utc>>;
    outbox_stats() -> OutboxStats;
    outbox_by_notifier() -> Vec<NotifierOutboxStats>;
    prune(beats: DateTime<Utc>, outbox: DateTime<Utc>) -> PruneStats;
    diagram_messages() -> Vec<DiagramMessage>;
    save_diagram_message(m: &DiagramMessage) -> ();
    delete_diagram_message(l: LocationId, n: &str, c: &str) -> bool;
    create_api_token(n: &str, h: KeyHash, at: DateTime<Utc>) -> ApiToken;
    list_api_tokens() -> Vec<ApiToken>;
    find_api_token(h: &KeyHash) -> Option<ApiToken>;
    revoke_api_token(id: ApiTokenId) -> bool;
    backup(path: &std::path::Path) -> ();
}

async fn start(
    store: Arc<dyn StatusStore>,
    rec: &RecordingNotifier,
    clock: TokioClock,
    rules: &Rules,
) -> (Engine, EngineTasks) {
    let notifiers: Vec<Arc<dyn Notifier>> = vec![Arc::new(rec.clone())];
    Engine::start(
        store,
        notifiers,
        Arc::new(clock),
        Arc::new(Metrics::default()),
        EngineConfig {
            rules: rules.clone(),
            ..EngineConfig::default()
        },
    )
    .await
    .unwrap()
}

/// Lets spawned tasks (timers, delivery) run without moving time noticeably.
async fn settle() {
    tokio::time::sleep(Duration::from_millis(1)).await;
}

/// Beats every 10 s for `total`.
async fn beat_for(w: &World, key: &str, boot: &str, uptime_start: u64, total: Duration) -> u64 {
    let mut uptime = uptime_start;
    let mut elapsed = Duration::ZERO;
    while elapsed < total {
        w.beat(key, facts(boot, uptime)).await;
        tokio::time::sleep(Duration::from_secs(10)).await;
        uptime += 10;
        elapsed += Duration::from_secs(10);
    }
    uptime
}

fn secs(s: i64) -> TimeDelta {
    TimeDelta::seconds(s)
}

#[tokio::test(start_paused = true)]
async fn an_outage_is_declared_at_last_seen_plus_timeout_and_backdated_to_the_last_beat() {
    let w = World::new(World::quiet()).await;
    w.add("Home", "k1").await;
    w.beat("k1", facts("boot-a", 100)).await;
    let last_beat = w.now();

    tokio::time::sleep(TIMEOUT - Duration::from_millis(10)).await;
    assert!(
        w.rec.delivered().is_empty(),
        "declared down before the deadline"
    );

    tokio::time::sleep(Duration::from_millis(20)).await;
    settle().await;
    let d = w.rec.delivered();
    assert_eq!(d.len(), 1, "exactly one outage alert: {d:?}");
    let alert = &d[0].alert;
    assert_eq!(alert.kind, AlertKind::Outage);
    assert_eq!(
        alert.started_at,
        Some(last_beat),
        "start is the last beat, not detection"
    );
    let delay = alert.detected_at.unwrap() - (last_beat + secs(30));
    assert!(
        delay >= TimeDelta::zero() && delay <= secs(1),
        "detected {delay} after the deadline"
    );
    assert_eq!(
        w.engine.status_of(alert.location_id).unwrap().0,
        Status::Down
    );
    let ev = w.events().await;
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].started_at, Some(last_beat));
    assert_eq!(ev[0].ended_at, None);
    assert_eq!(alert.event_id, Some(ev[0].id), "the alert knows its event");
}

#[tokio::test(start_paused = true)]
async fn a_network_drop_becomes_cause_network_without_a_power_alert() {
    let w = World::new(World::quiet()).await;
    let id = w.add("Office", "k").await;
    let up = beat_for(&w, "k", "boot-a", 1000, Duration::from_secs(30)).await;
    let last = w.now() - secs(10);
    // The network is gone for five minutes; the device keeps running and counting.
    tokio::time::sleep(Duration::from_secs(300)).await;
    settle().await;
    assert_eq!(w.rec.kinds(), vec![AlertKind::Outage]);
    w.beat("k", facts("boot-a", up + 300)).await;
    settle().await;

    assert_eq!(
        w.rec.kinds(),
        vec![AlertKind::Outage, AlertKind::NetworkRestored],
        "no power-restored alert for a network drop"
    );
    let restored = &w.rec.delivered()[1];
    assert_eq!(restored.alert.cause, Cause::Network);
    assert_eq!(
        restored.ctx.earlier.len(),
        1,
        "the notifier is handed the outage message to edit"
    );
    let ev = &w.events().await[0];
    assert_eq!(ev.cause, Cause::Network);
    let kinds: Vec<_> = w.intervals(id).await.iter().map(|i| i.0).collect();
    assert_eq!(
        kinds,
        vec![IntervalKind::Up, IntervalKind::Network, IntervalKind::Up]
    );
    assert_eq!(w.intervals(id).await[1].1, last);
}

#[tokio::test(start_paused = true)]
async fn a_power_cut_is_restored_at_now_minus_uptime() {
    let w = World::new(World::quiet()).await;
    let id = w.add("Home", "k").await;
    w.beat("k", facts("boot-a", 4990)).await;
    tokio::time::sleep(Duration::from_secs(10)).await;
    w.beat("k", facts("boot-a", 5000)).await;
    let last = w.now();
    tokio::time::sleep(Duration::from_secs(600)).await;
    // Power came back 20 s ago: the device booted and sends its first beat.
    w.beat("k", facts("boot-b", 20)).await;
    let now = w.now();
    settle().await;

    assert_eq!(w.rec.kinds(), vec![AlertKind::Outage, AlertKind::Restored]);
    let a = &w.rec.delivered()[1].alert;
    assert_eq!(a.cause, Cause::Power);
    assert_eq!(a.started_at, Some(last));
    let back = a.ended_at.unwrap();
    assert_eq!(back, now - secs(20));
    let ev = &w.events().await[0];
    assert_eq!(ev.cause, Cause::Power);
    assert_eq!(ev.ended_at, Some(back));
    let iv = w.intervals(id).await;
    assert_eq!(iv[1].0, IntervalKind::Down);
    assert_eq!((iv[1].1, iv[1].2), (last, Some(back)));
    assert_eq!(iv[2].0, IntervalKind::Up);
}

#[tokio::test(start_paused = true)]
async fn without_a_boot_id_the_cause_is_unknown_and_reported_as_power() {
    let w = World::new(World::quiet()).await;
    w.add("Dacha", "k").await;
    w.beat("k", DeviceFacts::default()).await;
    tokio::time::sleep(Duration::from_secs(120)).await;
    w.beat("k", DeviceFacts::default()).await;
    let now = w.now();
    settle().await;
    assert_eq!(w.rec.kinds(), vec![AlertKind::Outage, AlertKind::Restored]);
    assert_eq!(w.rec.delivered()[1].alert.cause, Cause::Unknown);
    assert_eq!(w.rec.delivered()[1].alert.ended_at, Some(now));
}

#[tokio::test(start_paused = true)]
async fn restarting_the_monitor_while_devices_keep_beating_sends_nothing() {
    let mut w = World::new(World::quiet()).await;
    w.add("A", "ka").await;
    w.add("B", "kb").await;
    w.beat("ka", facts("a", 100)).await;
    w.beat("kb", facts("b", 100)).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    w.restart_after(Duration::from_secs(3)).await;
    // Devices kept beating while the monitor was away; they go on after.
    for i in 0..10u64 {
        w.beat("ka", facts("a", 110 + i * 10)).await;
        w.beat("kb", facts("b", 110 + i * 10)).await;
        tokio::time::sleep(Duration::from_secs(10)).await;
    }
    settle().await;
    assert!(w.rec.attempts().is_empty(), "{:?}", w.rec.attempts());
    assert!(w.events().await.is_empty());
}

#[tokio::test(start_paused = true)]
async fn the_monitors_own_downtime_is_unknown_not_an_outage() {
    let mut w = World::new(World::quiet()).await;
    let id = w.add("Home", "k").await;
    let up = beat_for(&w, "k", "boot-a", 100, Duration::from_secs(30)).await;
    // Monitor offline for 10 minutes, far longer than the 30 s timeout.
    w.restart_after(Duration::from_secs(600)).await;
    assert_eq!(w.engine.status_of(id).unwrap().0, Status::Unknown);
    w.beat("k", facts("boot-a", up + 600)).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(w.rec.attempts().is_empty(), "{:?}", w.rec.kinds());
    assert!(w.events().await.is_empty());
    let kinds: Vec<_> = w.intervals(id).await.iter().map(|i| i.0).collect();
    assert_eq!(
        kinds,
        vec![IntervalKind::Up, IntervalKind::Unknown, IntervalKind::Up]
    );
}

#[tokio::test(start_paused = true)]
async fn a_device_that_rebooted_while_the_monitor_was_down_yields_an_outage_with_unknown_start() {
    let mut w = World::new(World::quiet()).await;
    w.add("Home", "k").await;
    beat_for(&w, "k", "boot-a", 100, Duration::from_secs(30)).await;
    w.restart_after(Duration::from_secs(900)).await;
    w.beat("k", facts("boot-b", 60)).await;
    let now = w.now();
    settle().await;
    assert_eq!(w.rec.kinds(), vec![AlertKind::Restored]);
    let a = &w.rec.delivered()[0].alert;
    assert_eq!(a.started_at, None, "the start was not seen");
    assert_eq!(a.ended_at, Some(now - secs(60)));
    let ev = &w.events().await[0];
    assert_eq!(
        (ev.started_at, ev.ended_at, ev.cause),
        (None, Some(now - secs(60)), Cause::Power)
    );
}

#[tokio::test(start_paused = true)]
async fn after_a_restart_nothing_is_declared_down_before_the_startup_grace() {
    let mut w = World::new(Rules {
        startup_grace: Some(Duration::from_secs(120)),
        ..World::quiet()
    })
    .await;
    w.add("Home", "k").await;
    w.beat("k", facts("a", 10)).await;
    w.restart_after(Duration::from_secs(5)).await;
    tokio::time::sleep(Duration::from_secs(119)).await;
    assert!(w.rec.attempts().is_empty());
    tokio::time::sleep(Duration::from_secs(2)).await;
    settle().await;
    assert_eq!(w.rec.kinds(), vec![AlertKind::Outage]);
}

#[tokio::test(start_paused = true)]
async fn a_paused_location_raises_no_alert_and_resumes_quietly_when_nothing_changed() {
    let w = World::new(World::quiet()).await;
    let id = w.add("Home", "k").await;
    w.beat("k", facts("a", 10)).await;
    tokio::time::sleep(Duration::from_secs(10)).await;
    w.beat("k", facts("a", 20)).await;
    let until = w.now() + secs(3600);
    w.pause(id, until).await;
    settle().await;
    assert_eq!(w.engine.status_of(id).unwrap().0, Status::Paused);
    // Heartbeats stop for 50 minutes during maintenance: no alert.
    tokio::time::sleep(Duration::from_secs(3000)).await;
    assert!(w.rec.attempts().is_empty());
    // Back before the pause ends, as before it: still no alert after it ends.
    let mut up = 3010;
    for _ in 0..70 {
        w.beat("k", facts("a", up)).await;
        tokio::time::sleep(Duration::from_secs(10)).await;
        up += 10;
    }
    settle().await;
    assert!(w.rec.attempts().is_empty(), "{:?}", w.rec.kinds());
    assert_eq!(w.engine.status_of(id).unwrap().0, Status::Up);
    let kinds: Vec<_> = w.intervals(id).await.iter().map(|i| i.0).collect();
    assert_eq!(
        kinds,
        vec![IntervalKind::Up, IntervalKind::Paused, IntervalKind::Up]
    );
}

#[tokio::test(start_paused = true)]
async fn a_pause_that_ends_in_a_different_state_alerts_once() {
    let w = World::new(World::quiet()).await;
    let id = w.add("Home", "k").await;
    w.beat("k", facts("a", 10)).await;
    let until = w.now() + secs(600);
    w.pause(id, until).await;
    tokio::time::sleep(Duration::from_secs(700)).await;
    settle().await;
    assert_eq!(w.rec.kinds(), vec![AlertKind::Outage]);
}

#[tokio::test(start_paused = true)]
async fn power_back_during_a_pause_is_dated_when_it_came_back_not_when_the_pause_ended() {
    let w = World::new(World::quiet()).await;
    let id = w.add("Home", "k").await;
    w.beat("k", facts("a", 100)).await;
    tokio::time::sleep(TIMEOUT + Duration::from_secs(10)).await;
    assert_eq!(w.rec.kinds(), vec![AlertKind::Outage]);
    // Paused for maintenance while the power is out; it comes back (rebooted 20 s earlier)
    // well before the pause ends, and keeps beating.
    let until = w.now() + secs(600);
    w.pause(id, until).await;
    tokio::time::sleep(Duration::from_secs(120)).await;
    let first_beat = w.now();
    beat_for(&w, "k", "b", 20, Duration::from_secs(600)).await;
    settle().await;
    assert_eq!(w.rec.kinds(), vec![AlertKind::Outage, AlertKind::Restored]);
    let restored = w.rec.delivered().last().unwrap().alert.clone();
    assert_eq!(restored.ended_at, Some(first_beat - secs(20)));
    let ev = w.events().await;
    assert_eq!(ev[0].ended_at, Some(first_beat - secs(20)));
}

#[tokio::test(start_paused = true)]
async fn flapping_within_restore_confirm_is_one_outage() {
    let w = World::new(Rules {
        restore_confirm: Some(RestoreConfirm::Beats(3)),
        ..World::quiet()
    })
    .await;
    w.add("Home", "k").await;
    w.beat("k", facts("a", 100)).await;
    tokio::time::sleep(Duration::from_secs(60)).await;
    // Power flickers back for a moment twice (a beat or two), then for good.
    w.beat("k", facts("b", 1)).await;
    tokio::time::sleep(Duration::from_secs(60)).await;
    w.beat("k", facts("c", 1)).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    w.beat("k", facts("c", 6)).await;
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(w.rec.kinds(), vec![AlertKind::Outage], "no restore yet");
    w.beat("k", facts("d", 2)).await;
    tokio::time::sleep(Duration::from_secs(10)).await;
    w.beat("k", facts("d", 12)).await;
    tokio::time::sleep(Duration::from_secs(10)).await;
    w.beat("k", facts("d", 22)).await;
    settle().await;
    assert_eq!(w.rec.kinds(), vec![AlertKind::Outage, AlertKind::Restored]);
    let ev = w.events().await;
    assert_eq!(
        ev.len(),
        1,
        "gaps shorter than the confirmation merge into one outage"
    );
    assert_eq!(ev[0].cause, Cause::Power);
}

#[tokio::test(start_paused = true)]
async fn a_long_outage_message_is_refreshed_every_few_minutes() {
    let w = World::new(Rules {
        live_update_every: Duration::from_secs(300),
        ..World::quiet()
    })
    .await;
    w.add("Home", "k").await;
    w.beat("k", facts("a", 100)).await;
    tokio::time::sleep(Duration::from_secs(30 + 3 * 300 + 10)).await;
    settle().await;
    let kinds = w.rec.kinds();
    assert_eq!(kinds[0], AlertKind::Outage);
    assert_eq!(
        kinds
            .iter()
            .filter(|k| **k == AlertKind::OutageUpdate)
            .count(),
        3,
        "{kinds:?}"
    );
    assert!(
        w.rec.delivered()[1].ctx.earlier.len() == 1,
        "updates edit the outage message"
    );
}

#[tokio::test(start_paused = true)]
async fn delivery_honours_retry_after_and_backs_off_on_transient_errors_in_order() {
    let w = World::new(World::quiet()).await;
    w.add("Home", "k").await;
    w.rec.fail_next(NotifyError::Transient("502".into()));
    w.rec.fail_next(NotifyError::Transient("502".into()));
    w.rec.fail_next(NotifyError::RateLimited {
        retry_after: Duration::from_secs(17),
    });
    w.beat("k", facts("a", 100)).await;
    tokio::time::sleep(Duration::from_secs(31)).await;
    settle().await;
    // Power comes back while the outage alert is still being retried; the device keeps beating.
    beat_for(&w, "k", "b", 1, Duration::from_secs(60)).await;
    settle().await;
    let attempts = w.rec.attempts();
    assert_eq!(
        attempts.len(),
        5,
        "3 failures then 2 deliveries: {attempts:?}"
    );
    assert_eq!(
        w.rec.kinds(),
        vec![AlertKind::Outage, AlertKind::Restored],
        "in order"
    );
    let t = w.rec.attempt_times();
    let gap = |i: usize| t[i + 1] - t[i];
    assert!(
        gap(0) >= Duration::from_secs(2) && gap(0) <= Duration::from_millis(2400),
        "first backoff {:?}",
        gap(0)
    );
    assert!(
        gap(1) >= Duration::from_secs(4) && gap(1) <= Duration::from_millis(4800),
        "second backoff {:?}",
        gap(1)
    );
    assert_eq!(
        gap(2),
        Duration::from_secs(17),
        "retry_after is honoured exactly"
    );
}

#[tokio::test(start_paused = true)]
async fn a_failed_read_of_earlier_message_ids_is_retried_and_never_sends_a_new_message() {
    let (w, store) = World::counting(World::quiet()).await;
    w.add("Home", "k").await;
    w.beat("k", facts("a", 100)).await;
    tokio::time::sleep(Duration::from_secs(31)).await;
    settle().await;
    assert_eq!(w.rec.kinds(), vec![AlertKind::Outage]);
    // The outage message got id "1" (the recorder numbers its deliveries).
    store.fail_message_refs(1);
    w.beat("k", facts("b", 1)).await;
    settle().await;
    assert_eq!(
        w.rec.kinds(),
        vec![AlertKind::Outage],
        "the restore must wait when its earlier message ids cannot be read"
    );
    assert_eq!(w.store.outbox_stats().await.unwrap().pending, 1);
    tokio::time::sleep(Duration::from_secs(5)).await;
    let delivered = w.rec.delivered();
    assert_eq!(
        w.rec.kinds(),
        vec![AlertKind::Outage, AlertKind::Restored],
        "delivered once after the retry"
    );
    assert_eq!(
        w.rec.attempts().len(),
        2,
        "the notifier was asked only twice"
    );
    let earlier: Vec<&str> = delivered[1]
        .ctx
        .earlier
        .iter()
        .map(|r| r.message_id.as_str())
        .collect();
    assert_eq!(earlier, vec!["1"], "the restore answers the outage message");
    let stats = w.store.outbox_stats().await.unwrap();
    assert_eq!((stats.delivered, stats.pending, stats.failed), (2, 0, 0));
}

#[tokio::test(start_paused = true)]
async fn a_permanent_error_gives_up_on_that_alert_only() {
    let w = World::new(World::quiet()).await;
    w.add("Home", "k").await;
    w.rec
        .fail_next(NotifyError::Permanent("chat not found".into()));
    w.beat("k", facts("a", 100)).await;
    tokio::time::sleep(Duration::from_secs(31)).await;
    settle().await;
    w.beat("k", facts("b", 1)).await;
    settle().await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(w.rec.attempts().len(), 2);
    assert_eq!(w.rec.kinds(), vec![AlertKind::Restored]);
    let stats = w.store.outbox_stats().await.unwrap();
    assert_eq!((stats.failed, stats.delivered, stats.pending), (1, 1, 0));
}

#[tokio::test(start_paused = true)]
async fn alerts_pending_at_a_restart_are_delivered_once_after_it() {
    let mut w = World::new(World::quiet()).await;
    w.add("Home", "k").await;
    for _ in 0..3 {
        w.rec.fail_next(NotifyError::Transient("down".into()));
    }
    w.beat("k", facts("a", 100)).await;
    tokio::time::sleep(Duration::from_secs(31)).await;
    settle().await;
    assert!(w.rec.delivered().is_empty());
    w.restart_after(Duration::from_secs(2)).await;
    tokio::time::sleep(Duration::from_secs(120)).await;
    assert_eq!(w.rec.kinds(), vec![AlertKind::Outage]);
    assert_eq!(w.events().await.len(), 1, "the outage survived the restart");
    assert_eq!(w.engine.status_of(LocationId(1)).unwrap().0, Status::Down);
}

#[tokio::test(start_paused = true)]
async fn unknown_and_disabled_keys_are_rejected() {
    let w = World::new(World::quiet()).await;
    let id = w.add("Home", "k").await;
    assert_eq!(
        w.engine.heartbeat("nope", DeviceFacts::default()).await,
        Err(outage_core::source::BeatRejection::UnknownKey)
    );
    w.store
        .update_location(
            id,
            &LocationPatch {
                enabled: Some(false),
                ..LocationPatch::default()
            },
            w.now(),
        )
        .await
        .unwrap();
    w.engine.reload_location(id).await.unwrap();
    assert_eq!(
        w.engine.heartbeat("k", DeviceFacts::default()).await,
        Err(outage_core::source::BeatRejection::Disabled)
    );
}

#[tokio::test(start_paused = true)]
async fn locations_changed_by_another_process_are_picked_up_by_the_sync() {
    let w = World::new(World::quiet()).await;
    let id = w.add("Home", "old-key").await;
    // Another process (the CLI) rotates the key and adds a location, writing only the store.
    w.store
        .set_key_hash(id, KeyHash::of("new-key"))
        .await
        .unwrap();
    let other = w
        .store
        .create_location(
            &NewLocation {
                routes: Vec::new(),
                name: "Dacha".into(),
                timeout: TIMEOUT,
                chat_id: None,
            },
            KeyHash::of("dacha-key"),
            w.now(),
        )
        .await
        .unwrap();
    w.engine.sync().await.unwrap();
    assert!(
        w.engine
            .heartbeat("old-key", DeviceFacts::default())
            .await
            .is_err()
    );
    assert!(
        w.engine
            .heartbeat("new-key", DeviceFacts::default())
            .await
            .is_ok()
    );
    assert!(
        w.engine
            .heartbeat("dacha-key", DeviceFacts::default())
            .await
            .is_ok()
    );
    w.store.delete_location(other.id).await.unwrap();
    w.engine.sync().await.unwrap();
    assert!(
        w.engine
            .heartbeat("dacha-key", DeviceFacts::default())
            .await
            .is_err()
    );
    assert!(w.engine.status_of(other.id).is_none());
}

#[tokio::test(start_paused = true)]
async fn the_sync_lists_the_locations_only_when_their_version_moved() {
    let (w, store) = World::counting(World::quiet()).await;
    let id = w.add("Home", "old-key").await;
    w.engine.sync().await.unwrap();
    assert_eq!(store.lists(), 1, "the add moved the version: one listing");
    // Heartbeats and transitions change only runtime state.
    w.beat("old-key", facts("boot-a", 100)).await;
    tokio::time::sleep(Duration::from_secs(2)).await; // the writer flushed
    for _ in 0..3 {
        w.engine.sync().await.unwrap();
    }
    assert_eq!(store.lists(), 1, "nothing changed: no listing");

    // Another process rotates the key, writing only the store: the next sync lists once.
    w.store
        .set_key_hash(id, KeyHash::of("new-key"))
        .await
        .unwrap();
    w.engine.sync().await.unwrap();
    w.engine.sync().await.unwrap();
    assert_eq!(store.lists(), 2);
    assert!(
        w.engine
            .heartbeat("old-key", DeviceFacts::default())
            .await
            .is_err()
    );
    assert!(
        w.engine
            .heartbeat("new-key", DeviceFacts::default())
            .await
            .is_ok()
    );

    // The sync loop ticks every `sync_every` without listing, and lists anyway as a safety net
    // every FULL_SYNC_EVERY ticks.
    let full = EngineConfig::default().sync_every * FULL_SYNC_EVERY;
    let elapsed = (w.now() - outage_testkit::t0()).to_std().unwrap();
    tokio::time::sleep(full - elapsed - Duration::from_secs(3)).await;
    assert_eq!(store.lists(), 2, "quiet ticks do not list");
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(store.lists(), 3, "the safety net listed once");
}

#[tokio::test(start_paused = true)]
async fn a_burst_of_outages_in_one_chat_goes_out_as_one_message() {
    let rec = RecordingNotifier::with_burst_window("rec", Duration::from_secs(10));
    let w = World::with_recorder(Arc::new(MemoryStore::new()), rec, World::quiet()).await;
    let ids = [
        w.add("Home", "k1").await,
        w.add("Office", "k2").await,
        w.add("Dacha", "k3").await,
    ];
    for k in ["k1", "k2", "k3"] {
        w.beat(k, facts("b", 100)).await;
    }
    // All three stop at once: their deadlines fall together, and they queue together.
    tokio::time::sleep(TIMEOUT + Duration::from_secs(2)).await;
    assert_eq!(
        w.rec.message_sizes(),
        vec![3],
        "one message for three outages"
    );
    let alerted: Vec<LocationId> = w
        .rec
        .delivered()
        .iter()
        .map(|d| d.alert.location_id)
        .collect();
    assert_eq!(alerted, ids, "in the order they happened");
    let events = w.store.list_events(&EventFilter::default()).await.unwrap();
    assert_eq!(events.len(), 3);
    for e in &events {
        let refs = w.store.message_refs(e.id).await.unwrap();
        assert_eq!(
            refs.len(),
            1,
            "each event remembers the burst message: {refs:?}"
        );
        assert_eq!(refs[0].message_id, "burst-1");
    }
    assert_eq!(w.store.outbox_stats().await.unwrap().pending, 0);
}

#[tokio::test(start_paused = true)]
async fn the_first_alert_of_a_burst_is_not_delayed_and_the_rest_are_grouped() {
    let rec = RecordingNotifier::with_burst_window("rec", Duration::from_secs(10));
    let w = World::with_recorder(Arc::new(MemoryStore::new()), rec, World::quiet()).await;
    for (name, key) in [
        ("Home", "k1"),
        ("Office", "k2"),
        ("Dacha", "k3"),
        ("Garage", "k4"),
    ] {
        w.add(name, key).await;
    }
    // Last beats 2 s apart, so the outages are detected 2 s apart.
    for k in ["k1", "k2", "k3"] {
        w.beat(k, facts("b", 100)).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let start = tokio::time::Instant::now();
    // The garage keeps beating: its alert-free life must not be disturbed.
    let alive = beat_for(&w, "k4", "g", 100, TIMEOUT + Duration::from_secs(20));
    let first_at = start + TIMEOUT - Duration::from_secs(6);
    alive.await;
    assert_eq!(w.rec.message_sizes(), vec![1, 2]);
    let times = w.rec.attempt_times();
    // Home's alert goes at once (its deadline + detection), the other two wait for the window
    // that Home's message opened and then go together.
    assert!(
        times[0] <= first_at + Duration::from_secs(1),
        "{:?}",
        times[0] - first_at
    );
    assert_eq!(times[1], times[2]);
    assert_eq!(times[1] - times[0], Duration::from_secs(10));
}

#[tokio::test(start_paused = true)]
async fn without_a_burst_window_every_alert_is_its_own_message() {
    let w = World::new(World::quiet()).await;
    w.add("Home", "k1").await;
    w.add("Office", "k2").await;
    for k in ["k1", "k2"] {
        w.beat(k, facts("b", 100)).await;
    }
    tokio::time::sleep(TIMEOUT + Duration::from_secs(2)).await;
    assert_eq!(w.rec.message_sizes(), vec![1, 1]);
}

#[tokio::test(start_paused = true)]
async fn a_failed_burst_is_retried_whole_and_delivered_once() {
    let rec = RecordingNotifier::with_burst_window("rec", Duration::from_secs(10));
    rec.fail_next(NotifyError::Transient("HTTP 502".into()));
    let w = World::with_recorder(Arc::new(MemoryStore::new()), rec, World::quiet()).await;
    w.add("Home", "k1").await;
    w.add("Office", "k2").await;
    for k in ["k1", "k2"] {
        w.beat(k, facts("b", 100)).await;
    }
    tokio::time::sleep(TIMEOUT + Duration::from_secs(30)).await;
    assert_eq!(w.rec.message_sizes(), vec![2]);
    assert_eq!(
        w.rec.attempts().len(),
        4,
        "two alerts, tried twice as one burst"
    );
    assert_eq!(w.rec.delivered().len(), 2);
}

#[tokio::test(start_paused = true)]
async fn stale_live_updates_queued_behind_an_outage_are_skipped() {
    let w = World::new(Rules {
        live_update_every: Duration::from_secs(60),
        ..Rules::default()
    })
    .await;
    // The notifier fails for longer than the outage lasts (backoff 2 s … 300 s).
    for _ in 0..12 {
        w.rec.fail_next(NotifyError::Transient("HTTP 500".into()));
    }
    w.add("Home", "k").await;
    w.beat("k", facts("a", 100)).await;
    tokio::time::sleep(Duration::from_secs(600)).await;
    beat_for(&w, "k", "b", 5, Duration::from_secs(3600)).await;
    let created = w
        .rec
        .attempts()
        .iter()
        .filter(|a| a.kind == AlertKind::OutageUpdate)
        .count();
    assert_eq!(created, 0, "no update was even attempted");
    assert_eq!(
        w.rec.kinds(),
        vec![AlertKind::Outage, AlertKind::Restored],
        "the updates queued behind the outage were overtaken by newer news"
    );
    let stats = w.store.outbox_stats().await.unwrap();
    assert_eq!(stats.pending, 0);
    assert!(
        stats.delivered >= 8,
        "the skipped updates count as done: {stats:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn after_a_restart_during_an_outage_later_outages_have_a_known_start_again() {
    let mut w = World::new(World::quiet()).await;
    w.add("Home", "k").await;
    w.beat("k", facts("a", 100)).await;
    tokio::time::sleep(TIMEOUT + Duration::from_secs(5)).await;
    // Down; the monitor restarts after longer than the timeout (a "blind" gap).
    w.restart_after(Duration::from_secs(120)).await;
    // Power comes back, the monitor watches it for a while, then it goes out again.
    beat_for(&w, "k", "b", 5, Duration::from_secs(60)).await;
    let last_beat = w.now() - secs(10);
    tokio::time::sleep(TIMEOUT + Duration::from_secs(5)).await;
    let events = w.events().await;
    let second = events.last().unwrap();
    assert_eq!(
        second.started_at,
        Some(last_beat),
        "the monitor saw the last beat, so the outage start is known: {events:?}"
    );
    let alert = w.rec.delivered().last().unwrap().alert.clone();
    assert_eq!(alert.kind, AlertKind::Outage);
    assert_eq!(alert.started_at, Some(last_beat));
}

#[tokio::test(start_paused = true)]
async fn a_restart_herd_of_first_beats_is_committed_together_and_correctly() {
    let mut w = World::new(World::quiet()).await;
    let n = 300;
    let mut ids = Vec::new();
    for i in 0..n {
        ids.push(w.add(&format!("L{i}"), &format!("k{i}")).await);
    }
    for i in 0..n {
        w.beat(&format!("k{i}"), facts("a", 100)).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await; // up for a while, and written down
    w.restart_after(Duration::from_secs(5)).await;
    // Every device beats at the same moment after the restart.
    let mut set = tokio::task::JoinSet::new();
    for i in 0..n {
        let e = w.engine.clone();
        set.spawn(async move { e.heartbeat(&format!("k{i}"), facts("a", 110)).await });
    }
    while let Some(r) = set.join_next().await {
        assert_eq!(r.unwrap().unwrap().status, Status::Up);
    }
    for id in &ids {
        assert_eq!(w.engine.status_of(*id).unwrap().0, Status::Up);
        let kinds: Vec<IntervalKind> = w.intervals(*id).await.iter().map(|i| i.0).collect();
        assert_eq!(
            kinds,
            [IntervalKind::Up, IntervalKind::Unknown, IntervalKind::Up]
        );
    }
    assert!(w.rec.kinds().is_empty(), "no alerts for a restart");
}

/// `location add` on the CLI writes the store; the device's very first heartbeat must be
/// accepted at once, not refused until the next sync tick.
#[tokio::test(start_paused = true)]
async fn a_key_added_by_another_process_is_accepted_at_its_first_heartbeat() {
    let (w, counting) = World::counting(World::quiet()).await;
    let loc = w
        .store
        .create_location(
            &NewLocation {
                routes: Vec::new(),
                name: "Dacha".into(),
                timeout: TIMEOUT,
                chat_id: None,
            },
            KeyHash::of("om_new"),
            w.now(),
        )
        .await
        .unwrap();
    let lists_before = counting.lists();
    let ack = w
        .engine
        .heartbeat("om_new", facts("b1", 5))
        .await
        .expect("the new key is found in the store");
    assert_eq!(ack.location_id, loc.id);
    assert_eq!(counting.lists(), lists_before + 1, "one listing loaded it");
    assert_eq!(w.beat("om_new", facts("b1", 15)).await, Status::Up);
    assert_eq!(
        counting.lists(),
        lists_before + 1,
        "a known key never touches the store"
    );
}

/// Garbage keys share look-ups: a thousand of them within a second cost a handful of
/// `locations_version` reads and no listing, and each is still refused.
#[tokio::test(start_paused = true)]
async fn a_flood_of_unknown_keys_costs_the_store_a_few_small_queries() {
    let (w, counting) = World::counting(World::quiet()).await;
    let (lists, versions) = (counting.lists(), counting.versions());
    let started = tokio::time::Instant::now();
    let mut tasks = Vec::new();
    for i in 0..1_000u32 {
        let engine = w.engine.clone();
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(u64::from(i))).await;
            engine
                .heartbeat(&format!("garbage-{i}"), DeviceFacts::default())
                .await
        }));
    }
    for t in tasks {
        assert_eq!(
            t.await.unwrap(),
            Err(outage_core::source::BeatRejection::UnknownKey)
        );
    }
    let spent = started.elapsed();
    let reads = counting.versions() - versions;
    assert!(
        reads <= 6,
        "1 000 unknown keys over {spent:?} read the version {reads} times"
    );
    assert_eq!(
        counting.lists(),
        lists,
        "nothing changed, so nothing was listed"
    );
}

/// Two engines on one store, as two `serve` processes on one PostgreSQL database: `leader`
/// detects and delivers, `standby` only takes beats (the memory store has no relay channel, so
/// the leader learns of the standby's beats only by re-reading a location before declaring
/// it down — the safety net behind the PostgreSQL relay).
async fn leader_and_standby(
    store: Arc<MemoryStore>,
    rec: &RecordingNotifier,
    clock: TokioClock,
) -> ((Engine, EngineTasks), (Engine, EngineTasks)) {
    let cfg = EngineConfig {
        rules: World::quiet(),
        shared_store: true,
        ..EngineConfig::default()
    };
    let notifiers = || vec![Arc::new(rec.clone()) as Arc<dyn Notifier>];
    let metrics = || Arc::new(Metrics::default());
    let leader = Engine::start_as(
        store.clone(),
        notifiers(),
        Arc::new(clock),
        metrics(),
        cfg.clone(),
        true,
    )
    .await
    .unwrap();
    let standby = Engine::start_as(store, notifiers(), Arc::new(clock), metrics(), cfg, false)
        .await
        .unwrap();
    (leader, standby)
}

#[tokio::test(start_paused = true)]
async fn beats_through_a_standby_keep_a_location_up_and_a_promoted_standby_alerts_once() {
    let store = Arc::new(MemoryStore::new());
    let rec = RecordingNotifier::new("rec");
    let clock = TokioClock::starting_at(outage_testkit::t0());
    let loc = store
        .create_location(
            &NewLocation {
                routes: Vec::new(),
                name: "Home".into(),
                timeout: TIMEOUT,
                chat_id: None,
            },
            KeyHash::of("k"),
            clock.now(),
        )
        .await
        .unwrap();
    let ((leader, leader_tasks), (standby, standby_tasks)) =
        leader_and_standby(store.clone(), &rec, clock).await;
    assert!(leader.is_leader() && !standby.is_leader());
    assert_eq!(
        leader.heartbeat("k", facts("a", 10)).await.unwrap().status,
        Status::Up
    );

    // Three timeouts of beats that reach only the standby: the leader declares nothing.
    for i in 0..9 {
        tokio::time::sleep(Duration::from_secs(10)).await;
        standby
            .heartbeat("k", facts("a", 20 + i * 10))
            .await
            .unwrap();
    }
    settle().await;
    assert!(rec.kinds().is_empty(), "{:?}", rec.kinds());
    assert!(
        store
            .list_events(&EventFilter::default())
            .await
            .unwrap()
            .is_empty()
    );

    // The leader dies; the standby is promoted while the device keeps beating through it.
    leader_tasks.shutdown().await;
    drop(leader);
    tokio::time::sleep(Duration::from_secs(5)).await;
    standby.promote().await.unwrap();
    assert!(standby.is_leader());
    for i in 0..6 {
        standby
            .heartbeat("k", facts("a", 200 + i * 10))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_secs(10)).await;
    }
    assert!(
        rec.kinds().is_empty(),
        "no false alert at the takeover: {:?}",
        rec.kinds()
    );
    let unknown = store
        .list_intervals(loc.id, DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC)
        .await
        .unwrap()
        .into_iter()
        .filter(|i| i.kind == IntervalKind::Unknown)
        .count();
    assert_eq!(unknown, 0, "a takeover leaves no unknown stretch");

    // The power goes: the new leader alerts once.
    tokio::time::sleep(TIMEOUT + Duration::from_secs(5)).await;
    settle().await;
    assert_eq!(rec.kinds(), vec![AlertKind::Outage]);

    // Demoted (the lead lost), it writes and sends nothing, however long.
    standby.demote();
    standby.heartbeat("k", facts("b", 3)).await.unwrap();
    tokio::time::sleep(Duration::from_secs(120)).await;
    settle().await;
    assert_eq!(rec.kinds(), vec![AlertKind::Outage]);
    assert!(
        store.list_events(&EventFilter::default()).await.unwrap()[0]
            .ended_at
            .is_none()
    );

    // Leading again, it reloads (the outage is still open) and the next beat restores.
    standby.promote().await.unwrap();
    standby.heartbeat("k", facts("b", 130)).await.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    settle().await;
    assert_eq!(rec.kinds(), vec![AlertKind::Outage, AlertKind::Restored]);
    assert_eq!(
        store
            .list_events(&EventFilter::default())
            .await
            .unwrap()
            .len(),
        1
    );
    standby_tasks.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_standby_shows_the_outages_the_leader_declares() {
    let store = Arc::new(MemoryStore::new());
    let rec = RecordingNotifier::new("rec");
    let clock = TokioClock::starting_at(outage_testkit::t0());
    let loc = store
        .create_location(
            &NewLocation {
                routes: Vec::new(),
                name: "Home".into(),
                timeout: TIMEOUT,
                chat_id: None,
            },
            KeyHash::of("k"),
            clock.now(),
        )
        .await
        .unwrap();
    let ((leader, leader_tasks), (standby, standby_tasks)) =
        leader_and_standby(store.clone(), &rec, clock).await;
    leader.heartbeat("k", facts("a", 10)).await.unwrap();
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(standby.status_of(loc.id).unwrap().0, Status::Up);
    tokio::time::sleep(TIMEOUT + Duration::from_secs(10)).await;
    settle().await;
    assert_eq!(
        rec.kinds(),
        vec![AlertKind::Outage],
        "declared by the leader, once"
    );
    assert_eq!(leader.status_of(loc.id).unwrap().0, Status::Down);
    assert_eq!(
        standby.status_of(loc.id).unwrap().0,
        Status::Down,
        "the standby follows within one sync"
    );
    leader_tasks.shutdown().await;
    standby_tasks.shutdown().await;
}
