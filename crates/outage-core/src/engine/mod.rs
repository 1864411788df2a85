//! The detection engine.
//!
//! - Heartbeats are applied in memory ([`Engine::heartbeat`]) and persisted by a batching
//!   writer ([`writer`]).
//! - Each location has a deadline; one timer task sleeps until the earliest deadline (a heap
//!   with one entry per location, re-armed lazily), never polling.
//! - A state change is written with its outbox rows in one store transaction
//!   ([`crate::store::StatusStore::apply_transition`]); the delivery worker ([`delivery`])
//!   sends them.
//! - Locations changed by another process (the CLI) are picked up by a periodic sync, which
//!   lists the locations only when the store's `locations_version` moved (and, as a safety
//!   net, every [`FULL_SYNC_EVERY`] ticks).

mod committer;
pub mod delivery;
pub mod location;
pub mod query;
pub mod writer;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::clock::{SharedClock, until};
use crate::domain::*;
use crate::keys::KeyHash;
use crate::metrics::Metrics;
use crate::notify::Notifier;
use crate::source::{BeatAck, BeatRejection, HeartbeatSink, StatusCounts};
use crate::store::{LocationRecord, NewNotification, StatusStore, StoreError, Transition};

pub use location::{LocState, Rules};

/// Every this many sync ticks (5 minutes at the default `sync_every` of 5 s) the sync lists
/// every location even when the store's `locations_version` did not move: a safety net.
pub const FULL_SYNC_EVERY: u32 = 60;

/// A key the engine does not know is looked up in the store before it is refused, but at most
/// one such look-up starts per this interval, shared by every unknown key that arrives in the
/// meantime: a location added by the CLI (or by another instance) is accepted at its first
/// heartbeat, while a flood of garbage keys costs the database at most a few small queries a
/// second (each look-up is one `locations_version` read, and a listing only when it changed).
pub const UNKNOWN_KEY_RECHECK: Duration = Duration::from_millis(250);

/// Engine settings.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// State machine rules.
    pub rules: Rules,
    /// How far the heartbeat writer may lag.
    pub flush_every: Duration,
    /// How often locations changed by other processes are picked up.
    pub sync_every: Duration,
    /// Capacity of the heartbeat queue to the writer.
    pub queue: usize,
    /// Several instances serve on this store (PostgreSQL with standbys): before a location is
    /// declared down its stored `last_seen` is read again, so a beat that reached another
    /// instance (and whose relay was missed) still counts.
    pub shared_store: bool,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            rules: Rules::default(),
            flush_every: Duration::from_secs(1),
            sync_every: Duration::from_secs(5),
            queue: 65_536,
            shared_store: false,
        }
    }
}

impl EngineConfig {
    /// Settings from `[monitor]`.
    pub fn from_config(c: &crate::config::Config) -> Self {
        Self {
            rules: Rules {
                startup_grace: c.monitor.startup_grace,
                restore_confirm: c.monitor.restore_confirm,
                live_update_every: c.monitor.live_update_every,
            },
            ..Self::default()
        }
    }
}

/// Why the engine failed.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Unknown location.
    #[error("location {0} not found")]
    NotFound(LocationId),
}

struct Slot {
    state: tokio::sync::Mutex<LocState>,
    /// Mirror of `state.status` readable without the async lock (for counts and listings).
    status: std::sync::atomic::AtomicU8,
    last_seen_ms: std::sync::atomic::AtomicI64,
    /// Time of this location's one valid entry in the timer heap; entries with another time
    /// are stale and skipped when popped. This keeps the heap at one live entry per location.
    armed: Mutex<Option<DateTime<Utc>>>,
    /// Hash of the location's current API key (its entry in `Inner::by_key`).
    key: Mutex<KeyHash>,
    /// The location settings last applied, to skip unchanged ones without the async lock.
    settings: Mutex<Location>,
}

impl Slot {
    fn new(st: LocState, key: KeyHash) -> Arc<Self> {
        let s = Arc::new(Slot {
            key: Mutex::new(key),
            settings: Mutex::new(st.loc.clone()),
            status: std::sync::atomic::AtomicU8::new(0),
            last_seen_ms: std::sync::atomic::AtomicI64::new(i64::MIN),
            armed: Mutex::new(None),
            state: tokio::sync::Mutex::new(st.clone()),
        });
        s.mirror(&st);
        s
    }

    fn mirror(&self, st: &LocState) {
        self.status.store(status_code(st.status), Ordering::Relaxed);
        self.last_seen_ms.store(
            st.last_seen.map_or(i64::MIN, |t| t.timestamp_millis()),
            Ordering::Relaxed,
        );
    }
}

fn status_code(s: Status) -> u8 {
    match s {
        Status::Unknown => 0,
        Status::Up => 1,
        Status::Down => 2,
        Status::Paused => 3,
    }
}

fn status_of(code: u8) -> Status {
    match code {
        1 => Status::Up,
        2 => Status::Down,
        3 => Status::Paused,
        _ => Status::Unknown,
    }
}

/// How [`Engine::load`] reads the stored state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Load {
    /// A (re)start: the monitor may have been away ([`LocState::resume`]).
    Restart,
    /// A standby following the leader: loaded as it left things, nothing written.
    Follow,
    /// A standby promoted to leader ([`LocState::take_over`]).
    TakeOver,
}

/// Earliest wake-up first.
type TimerHeap = BinaryHeap<Reverse<(DateTime<Utc>, LocationId)>>;

struct Inner {
    store: Arc<dyn StatusStore>,
    notifiers: Vec<Arc<dyn Notifier>>,
    clock: SharedClock,
    metrics: Arc<Metrics>,
    cfg: EngineConfig,
    started_at: DateTime<Utc>,
    by_key: RwLock<HashMap<KeyHash, LocationId>>,
    slots: RwLock<HashMap<LocationId, Arc<Slot>>>,
    timers: Mutex<TimerHeap>,
    timer_wake: Notify,
    delivery_wake: Arc<Notify>,
    beats_tx: mpsc::Sender<Heartbeat>,
    committer: committer::Committer,
    ready: AtomicBool,
    shutdown: CancellationToken,
    /// Whether this instance leads: runs detection and delivery. A standby only takes beats,
    /// persists and relays them ([`Engine::start_standby`], [`Engine::promote`]).
    leading: tokio::sync::watch::Sender<bool>,
    /// `StatusStore::locations_version` read before the last full listing (load or sync).
    synced_version: Mutex<Option<i64>>,
    /// When the last store look-up for an unknown key started ([`UNKNOWN_KEY_RECHECK`]).
    unknown_key_check: tokio::sync::Mutex<Option<DateTime<Utc>>>,
}

/// The running engine. Cheap to clone.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("started_at", &self.inner.started_at)
            .finish_non_exhaustive()
    }
}

/// Handle to the engine's background tasks.
#[derive(Debug)]
pub struct EngineTasks {
    shutdown: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

impl EngineTasks {
    /// Stops timers and delivery, flushes pending heartbeats, and waits for all tasks.
    pub async fn shutdown(self) {
        self.shutdown.cancel();
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

/// A location as listed by the engine (live status).
#[derive(Debug, Clone, PartialEq)]
pub struct LiveLocation {
    /// The location.
    pub location: Location,
    /// Live status.
    pub status: Status,
    /// Last heartbeat.
    pub last_seen: Option<DateTime<Utc>>,
}

impl Engine {
    /// Loads the runtime state from the store and starts the timer, writer, delivery and sync
    /// tasks. Start-up transitions (up → unknown) are written before this returns.
    pub async fn start(
        store: Arc<dyn StatusStore>,
        notifiers: Vec<Arc<dyn Notifier>>,
        clock: SharedClock,
        metrics: Arc<Metrics>,
        cfg: EngineConfig,
    ) -> Result<(Engine, EngineTasks), EngineError> {
        Self::start_as(store, notifiers, clock, metrics, cfg, true).await
    }

    /// Starts a standby: the state is loaded as the leader left it (nothing is written), and
    /// heartbeats are taken, persisted and relayed to the leader
    /// ([`StatusStore::relay_heartbeats`]), but nothing is detected or delivered until
    /// [`Self::promote`].
    pub async fn start_standby(
        store: Arc<dyn StatusStore>,
        notifiers: Vec<Arc<dyn Notifier>>,
        clock: SharedClock,
        metrics: Arc<Metrics>,
        cfg: EngineConfig,
    ) -> Result<(Engine, EngineTasks), EngineError> {
        Self::start_as(store, notifiers, clock, metrics, cfg, false).await
    }

    /// [`Self::start`] when `leading`, else [`Self::start_standby`].
    pub async fn start_as(
        store: Arc<dyn StatusStore>,
        notifiers: Vec<Arc<dyn Notifier>>,
        clock: SharedClock,
        metrics: Arc<Metrics>,
        cfg: EngineConfig,
        leading: bool,
    ) -> Result<(Engine, EngineTasks), EngineError> {
        let shutdown = CancellationToken::new();
        metrics.set_leader(leading);
        let (beats_tx, beats_rx) = mpsc::channel(cfg.queue.max(1));
        let started_at = clock.now();
        let (committer, committer_task) =
            committer::Committer::start(store.clone(), shutdown.clone());
        let inner = Arc::new(Inner {
            store: store.clone(),
            notifiers: notifiers.clone(),
            clock: clock.clone(),
            metrics: metrics.clone(),
            cfg: cfg.clone(),
            started_at,
            by_key: RwLock::new(HashMap::new()),
            slots: RwLock::new(HashMap::new()),
            timers: Mutex::new(BinaryHeap::new()),
            timer_wake: Notify::new(),
            delivery_wake: Arc::new(Notify::new()),
            beats_tx,
            committer,
            ready: AtomicBool::new(false),
            shutdown: shutdown.clone(),
            leading: tokio::sync::watch::Sender::new(leading),
            synced_version: Mutex::new(None),
            unknown_key_check: tokio::sync::Mutex::new(None),
        });
        let engine = Engine { inner };
        engine
            .load(if leading { Load::Restart } else { Load::Follow })
            .await?;

        let mut tasks = Vec::new();
        tasks.push(tokio::spawn(committer_task));
        tasks.push(tokio::spawn(writer::run(
            store.clone(),
            clock.clone(),
            beats_rx,
            cfg.flush_every,
            shutdown.clone(),
            engine.inner.leading.subscribe(),
        )));
        let e = engine.clone();
        tasks.push(tokio::spawn(async move { e.timer_loop().await }));
        let e = engine.clone();
        tasks.push(tokio::spawn(async move { e.sync_loop().await }));
        let worker = delivery::Worker {
            store,
            notifiers: notifiers
                .iter()
                .map(|n| (n.name().to_string(), n.clone()))
                .collect(),
            clock,
            metrics,
            wake: engine.inner.delivery_wake.clone(),
            shutdown: shutdown.clone(),
            leading: engine.inner.leading.subscribe(),
            last_sent: HashMap::new(),
        };
        tasks.push(tokio::spawn(worker.run()));
        match engine.inner.store.relayed_heartbeats().await {
            Ok(Some(mut relayed)) => {
                let (e, stop) = (engine.clone(), shutdown.clone());
                tasks.push(tokio::spawn(async move {
                    loop {
                        tokio::select! {
                            _ = stop.cancelled() => return,
                            got = relayed.recv() => match got {
                                Some(batch) => e.apply_relayed(batch).await,
                                None => return,
                            },
                        }
                    }
                }));
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(
                error = %e,
                "cannot listen for heartbeats relayed by other instances; their beats count \
                 only when a location is about to be declared down"
            ),
        }
        engine.inner.ready.store(true, Ordering::Release);
        Ok((engine, EngineTasks { shutdown, tasks }))
    }

    async fn load(&self, how: Load) -> Result<(), EngineError> {
        // The version first: a change made while loading only costs one more listing later.
        let version = self.inner.store.locations_version().await?;
        let mut snap = self.inner.store.load_runtime().await?;
        let now = match how {
            Load::Restart => self.inner.started_at,
            Load::Follow | Load::TakeOver => self.inner.clock.now(),
        };
        if how == Load::TakeOver {
            // Beats this instance took as a standby may not be flushed yet: its memory wins
            // where it is newer than the store.
            let old = read(&self.inner.slots);
            for rec in &mut snap.locations {
                if let Some(slot) = old.get(&rec.location.id)
                    && let Ok(st) = slot.state.try_lock()
                    && st.last_seen > rec.runtime.last_seen
                {
                    rec.runtime.last_seen = st.last_seen;
                    rec.runtime.last_facts = st.facts.clone();
                }
            }
        }
        let mut transitions = Vec::new();
        let mut by_key = HashMap::with_capacity(snap.locations.len());
        let mut slots = HashMap::with_capacity(snap.locations.len());
        let mut heap = BinaryHeap::with_capacity(snap.locations.len());
        for rec in &snap.locations {
            let rules = &self.inner.cfg.rules;
            let (st, t) = match how {
                Load::Restart => LocState::resume(rec, now, snap.monitor_alive_at, rules),
                Load::Follow | Load::TakeOver => LocState::take_over(rec, now, rules),
            };
            if let Some(t) = t
                && how != Load::Follow
            {
                transitions.push(t);
            }
            let wake = st.next_wake(&self.inner.cfg.rules);
            let slot = Slot::new(st, rec.key_hash);
            if let Some(w) = wake {
                heap.push(Reverse((w, rec.location.id)));
                *lock(&slot.armed) = Some(w);
            }
            by_key.insert(rec.key_hash, rec.location.id);
            slots.insert(rec.location.id, slot);
        }
        if !transitions.is_empty() {
            self.inner.store.apply_transitions(&transitions).await?;
        }
        *write(&self.inner.by_key) = by_key;
        *write(&self.inner.slots) = slots;
        *lock(&self.inner.timers) = heap;
        *lock(&self.inner.synced_version) = Some(version);
        tracing::info!(
            locations = snap.locations.len(),
            monitor_last_alive = ?snap.monitor_alive_at,
            role = match how {
                Load::Restart => "start",
                Load::Follow => "standby",
                Load::TakeOver => "take-over",
            },
            "engine state loaded"
        );
        Ok(())
    }

    /// A standby's view of what the leader decided: every `sync_every` it reloads each
    /// location's stored status and open outage (keeping a later beat it took itself), so its
    /// read API, panel and `/metrics` show outages the leader declared.
    async fn follow(&self) -> Result<(), EngineError> {
        let snap = self.inner.store.load_runtime().await?;
        let now = self.inner.clock.now();
        let slots: Vec<(LocationRecord, Arc<Slot>)> = {
            let slots = read(&self.inner.slots);
            snap.locations
                .into_iter()
                .filter_map(|rec| slots.get(&rec.location.id).cloned().map(|s| (rec, s)))
                .collect()
        };
        for (rec, slot) in slots {
            if self.is_leader() {
                break;
            }
            let mut st = slot.state.lock().await;
            let (mut followed, _) = LocState::take_over(&rec, now, &self.inner.cfg.rules);
            if st.last_seen > followed.last_seen {
                followed.last_seen = st.last_seen;
                followed.facts = st.facts.clone();
            }
            *st = followed;
            slot.mirror(&st);
        }
        Ok(())
    }

    /// Whether this instance leads (detects and delivers). Always true for [`Self::start`].
    pub fn is_leader(&self) -> bool {
        *self.inner.leading.borrow()
    }

    /// A standby becomes the leader: reloads every location from the store as the previous
    /// leader left it ([`LocState::take_over`]: whatever is past its deadline is declared down
    /// now, nothing up is marked unknown), then starts detecting and delivering (the outbox
    /// as the previous leader left it). A no-op on a leader.
    pub async fn promote(&self) -> Result<(), EngineError> {
        if self.is_leader() {
            return Ok(());
        }
        self.load(Load::TakeOver).await?;
        self.inner.leading.send_replace(true);
        self.inner.metrics.set_leader(true);
        self.inner.timer_wake.notify_one();
        self.inner.delivery_wake.notify_one();
        Ok(())
    }

    /// Stops leading at once (the lead was lost): no state change is written and nothing is
    /// delivered from here on; heartbeats are still taken and relayed. [`Self::promote`]
    /// reloads from the store when the lead comes back.
    pub fn demote(&self) {
        if self.inner.leading.send_replace(false) {
            self.inner.metrics.set_leader(false);
            self.inner.timer_wake.notify_one();
            self.inner.delivery_wake.notify_one();
        }
    }

    /// The instant the engine started.
    pub fn started_at(&self) -> DateTime<Utc> {
        self.inner.started_at
    }

    /// Live view of every location.
    pub fn locations(&self) -> Vec<LiveLocation> {
        let slots: Vec<_> = read(&self.inner.slots).values().cloned().collect();
        let mut out: Vec<_> = slots
            .iter()
            .filter_map(|s| {
                let st = s.state.try_lock().ok()?;
                Some(LiveLocation {
                    location: st.loc.clone(),
                    status: st.status,
                    last_seen: st.last_seen,
                })
            })
            .collect();
        out.sort_by_key(|l| l.location.id);
        out
    }

    /// Live status and last-seen time of one location.
    pub fn status_of(&self, id: LocationId) -> Option<(Status, Option<DateTime<Utc>>)> {
        let slot = read(&self.inner.slots).get(&id).cloned()?;
        let ms = slot.last_seen_ms.load(Ordering::Relaxed);
        let seen = (ms != i64::MIN)
            .then(|| DateTime::from_timestamp_millis(ms))
            .flatten();
        Some((status_of(slot.status.load(Ordering::Relaxed)), seen))
    }

    /// Reloads one location's settings from the store (after an edit in this process).
    pub async fn reload_location(&self, id: LocationId) -> Result<(), EngineError> {
        match self.inner.store.get_location(id).await? {
            Some(rec) => self.upsert(&rec).await,
            None => {
                self.remove(id);
                Ok(())
            }
        }
    }

    fn remove(&self, id: LocationId) {
        if let Some(slot) = write(&self.inner.slots).remove(&id) {
            write(&self.inner.by_key).remove(&*lock(&slot.key));
        }
    }

    async fn upsert(&self, rec: &LocationRecord) -> Result<(), EngineError> {
        let id = rec.location.id;
        let existing = read(&self.inner.slots).get(&id).cloned();
        match existing {
            Some(slot) => {
                // Key rotation: swap the one entry of this location in the key map.
                let old_key = std::mem::replace(&mut *lock(&slot.key), rec.key_hash);
                if old_key != rec.key_hash {
                    let mut keys = write(&self.inner.by_key);
                    keys.remove(&old_key);
                    keys.insert(rec.key_hash, id);
                }
                // The periodic sync visits every location: skip the async lock when nothing
                // about the location changed since it was last seen.
                {
                    let mut applied = lock(&slot.settings);
                    if *applied == rec.location {
                        return Ok(());
                    }
                    *applied = rec.location.clone();
                }
                let mut st = slot.state.lock().await;
                if st.loc != rec.location {
                    st.loc = rec.location.clone();
                    st.arm(&self.inner.cfg.rules);
                    let wake = st.next_wake(&self.inner.cfg.rules);
                    drop(st);
                    if let Some(w) = wake {
                        self.schedule(&slot, id, w);
                    }
                    // A pause may have begun or ended: let the timer look now.
                    self.schedule(&slot, id, self.inner.clock.now());
                }
            }
            None => {
                let (st, _) =
                    LocState::resume(rec, self.inner.clock.now(), None, &self.inner.cfg.rules);
                let wake = st.next_wake(&self.inner.cfg.rules);
                let slot = Slot::new(st, rec.key_hash);
                write(&self.inner.by_key).insert(rec.key_hash, id);
                write(&self.inner.slots).insert(id, slot.clone());
                if let Some(w) = wake {
                    self.schedule(&slot, id, w);
                }
            }
        }
        Ok(())
    }

    /// Picks up locations added, edited or removed by other processes. Cheap when nothing
    /// changed: it reads the store's `locations_version` and lists the locations only when that
    /// differs from the version read before the last listing.
    pub async fn sync(&self) -> Result<(), EngineError> {
        let version = self.inner.store.locations_version().await?;
        if *lock(&self.inner.synced_version) == Some(version) {
            return Ok(());
        }
        self.sync_all(version).await
    }

    /// Lists every location whatever the version says (the sync loop's safety net).
    async fn full_sync(&self) -> Result<(), EngineError> {
        let version = self.inner.store.locations_version().await?;
        self.sync_all(version).await
    }

    /// Lists every location and applies the differences; `version` was read before listing,
    /// so a change made meanwhile shows as a new version at the next sync.
    async fn sync_all(&self, version: i64) -> Result<(), EngineError> {
        let recs = self.inner.store.list_locations().await?;
        let ids: std::collections::HashSet<_> = recs.iter().map(|r| r.location.id).collect();
        let gone: Vec<_> = read(&self.inner.slots)
            .keys()
            .filter(|id| !ids.contains(id))
            .copied()
            .collect();
        for id in gone {
            self.remove(id);
        }
        for rec in &recs {
            self.upsert(rec).await?;
        }
        *lock(&self.inner.synced_version) = Some(version);
        Ok(())
    }

    async fn sync_loop(&self) {
        let mut tick = tokio::time::interval(self.inner.cfg.sync_every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        let mut ticks: u32 = 0;
        loop {
            tokio::select! {
                _ = self.inner.shutdown.cancelled() => return,
                _ = tick.tick() => {
                    ticks = ticks.wrapping_add(1);
                    let synced = if ticks.is_multiple_of(FULL_SYNC_EVERY) {
                        self.full_sync().await
                    } else {
                        self.sync().await
                    };
                    let synced = match synced {
                        Ok(()) if !self.is_leader() => self.follow().await,
                        other => other,
                    };
                    if let Err(e) = synced {
                        tracing::warn!(error = %e, "cannot sync locations from the store");
                    }
                }
            }
        }
    }

    fn schedule(&self, slot: &Slot, id: LocationId, at: DateTime<Utc>) {
        {
            let mut armed = lock(&slot.armed);
            if armed.is_some_and(|a| a <= at) {
                return;
            }
            *armed = Some(at);
        }
        let mut heap = lock(&self.inner.timers);
        let earliest = heap.peek().map(|r| r.0.0);
        heap.push(Reverse((at, id)));
        drop(heap);
        if earliest.is_none_or(|e| at < e) {
            self.inner.timer_wake.notify_one();
        }
    }

    async fn timer_loop(&self) {
        let mut leading = self.inner.leading.subscribe();
        loop {
            if !*leading.borrow_and_update() {
                tokio::select! {
                    _ = self.inner.shutdown.cancelled() => return,
                    _ = leading.wait_for(|l| *l) => {}
                }
                continue;
            }
            let next = lock(&self.inner.timers).peek().map(|r| r.0.0);
            let wait = next.map(|at| until(self.inner.clock.now(), at));
            tokio::select! {
                _ = self.inner.shutdown.cancelled() => return,
                _ = self.inner.timer_wake.notified() => continue,
                _ = async {
                    match wait {
                        Some(d) => tokio::time::sleep(d).await,
                        None => std::future::pending::<()>().await,
                    }
                } => {}
            }
            let now = self.inner.clock.now();
            let popped: Vec<(DateTime<Utc>, LocationId)> = {
                let mut heap = lock(&self.inner.timers);
                let mut due = Vec::new();
                while heap.peek().is_some_and(|r| r.0.0 <= now) {
                    if let Some(Reverse(entry)) = heap.pop() {
                        due.push(entry);
                    }
                }
                due
            };
            let due: Vec<LocationId> = {
                let slots = read(&self.inner.slots);
                popped
                    .into_iter()
                    .filter(|(at, id)| {
                        slots.get(id).is_some_and(|slot| {
                            let mut armed = lock(&slot.armed);
                            let live = *armed == Some(*at);
                            if live {
                                *armed = None;
                            }
                            live
                        })
                    })
                    .map(|(_, id)| id)
                    .collect()
            };
            for id in due {
                let e = self.clone();
                // Each location is handled on its own task so one slow store write does not
                // delay the detection of another location.
                tokio::spawn(async move { e.wake_location(id, now).await });
            }
        }
    }

    async fn wake_location(&self, id: LocationId, now: DateTime<Utc>) {
        if !self.is_leader() {
            return;
        }
        let Some(slot) = read(&self.inner.slots).get(&id).cloned() else {
            return;
        };
        let mut st = slot.state.lock().await;
        // Re-read the clock under the lock: the state may have moved on meanwhile.
        let now = now.max(self.inner.clock.now());
        let rules = &self.inner.cfg.rules;
        let deadline = st.deadline;
        let mut next = st.clone();
        let mut woke = next.on_wake(now, rules);
        if self.inner.cfg.shared_store
            && woke.as_ref().is_some_and(|t| t.status == Status::Down)
            && st.status != Status::Down
        {
            // Another instance may have taken a beat this one has not heard of.
            match self.inner.store.get_location(id).await {
                Ok(Some(rec)) if rec.runtime.last_seen > st.last_seen => {
                    if let Some(seen) = rec.runtime.last_seen {
                        drop(st);
                        self.apply_beat(id, rec.runtime.last_facts, seen, false)
                            .await
                            .ok();
                        // The beat re-armed the location; look again at the new deadline.
                        self.schedule(&slot, id, now);
                        return;
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(location = %id, error = %e, "cannot re-read a location before declaring it down; retrying in 1 s");
                    drop(st);
                    self.schedule(&slot, id, now + chrono::TimeDelta::seconds(1));
                    return;
                }
            }
            next = st.clone();
            woke = next.on_wake(now, rules);
        }
        if let Some(t) = woke {
            let was_down = st.status != Status::Down && next.status == Status::Down;
            match self.commit(&mut next, t).await {
                Ok(()) => {
                    // Measured once the outage and its alerts are stored (queued for delivery),
                    // not when the timer fired: a busy store shows up in the figure.
                    if was_down && let Some(d) = deadline {
                        self.inner
                            .metrics
                            .outage_detected(until(d, self.inner.clock.now()));
                    }
                    *st = next;
                }
                Err(e) => {
                    tracing::error!(location = %id, error = %e, "cannot record a state change; retrying in 1 s");
                    drop(st);
                    self.schedule(&slot, id, now + chrono::TimeDelta::seconds(1));
                    return;
                }
            }
        } else {
            *st = next;
        }
        slot.mirror(&st);
        let wake = st.next_wake(rules);
        drop(st);
        if let Some(w) = wake {
            self.schedule(&slot, id, w);
        }
    }

    /// Writes a transition (with notifications fanned out per notifier) and fixes up the state
    /// with the id of an opened event.
    async fn commit(&self, st: &mut LocState, mut t: Transition) -> Result<(), StoreError> {
        if !self.is_leader() {
            return Err(StoreError::Unavailable(
                "this instance is a standby; the leader records state changes".into(),
            ));
        }
        let alerts: Vec<_> = t.notifications.drain(..).map(|n| n.alert).collect();
        let targets = crate::notify::targets(&self.inner.notifiers, &st.loc);
        for alert in alerts {
            for (n, chat) in &targets {
                if n.accepts(alert.kind) {
                    t.notifications.push(NewNotification {
                        notifier: n.name().to_string(),
                        chat: chat.clone(),
                        alert: alert.clone(),
                    });
                }
            }
        }
        let notify = !t.notifications.is_empty();
        let opened = self.inner.committer.commit(t).await?;
        if let (Some(id), Some(open)) = (opened, st.open.as_mut()) {
            open.id = id;
        }
        if notify {
            self.inner.delivery_wake.notify_one();
        }
        Ok(())
    }

    /// Applies a heartbeat for a known location id (authentication already done).
    pub async fn heartbeat_for(
        &self,
        id: LocationId,
        facts: DeviceFacts,
    ) -> Result<BeatAck, BeatRejection> {
        if self.inner.shutdown.is_cancelled() {
            return Err(BeatRejection::Unavailable("shutting down".into()));
        }
        let now = self.inner.clock.now();
        let ack = self.apply_beat(id, facts.clone(), now, true).await?;
        let beat = Heartbeat {
            location_id: id,
            received_at: now,
            facts,
        };
        if self.inner.beats_tx.send(beat).await.is_err() {
            return Err(BeatRejection::Unavailable("shutting down".into()));
        }
        self.inner.metrics.heartbeat_received();
        Ok(ack)
    }

    /// Heartbeats another instance took and relayed ([`StatusStore::relayed_heartbeats`]):
    /// applied like this instance's own, at the time they arrived there, unless this instance
    /// already knows a later beat of the location. They are in the store already.
    pub async fn apply_relayed(&self, beats: Vec<Heartbeat>) {
        for b in beats {
            let at = b.received_at.min(self.inner.clock.now());
            let _ = self.apply_beat(b.location_id, b.facts, at, false).await;
        }
    }

    /// Applies one beat at `at` to a location's state (a standby only notes it). `own`: the
    /// beat reached this instance now; else it is relayed or re-read and is skipped when a
    /// later beat is known.
    async fn apply_beat(
        &self,
        id: LocationId,
        facts: DeviceFacts,
        now: DateTime<Utc>,
        own: bool,
    ) -> Result<BeatAck, BeatRejection> {
        let slot = read(&self.inner.slots)
            .get(&id)
            .cloned()
            .ok_or(BeatRejection::UnknownKey)?;
        let mut st = slot.state.lock().await;
        if !st.loc.enabled {
            return Err(BeatRejection::Disabled);
        }
        let timeout = st.loc.timeout;
        if !own && st.last_seen.is_some_and(|seen| seen >= now) {
            return Ok(BeatAck {
                location_id: id,
                status: st.status,
                next_in: next_interval(timeout),
            });
        }
        if !self.is_leader() {
            // A standby keeps the last beat for its read views and for the take-over.
            st.last_seen = Some(now);
            st.facts = facts;
            slot.mirror(&st);
            return Ok(BeatAck {
                location_id: id,
                status: st.status,
                next_in: next_interval(timeout),
            });
        }
        let rules = &self.inner.cfg.rules;
        let mut next = st.clone();
        let outcome = next.on_beat(now, facts, rules);
        if let Some(t) = outcome.transition
            && let Err(e) = self.commit(&mut next, t).await
        {
            tracing::error!(location = %id, error = %e, "cannot record a state change");
            return Err(BeatRejection::Unavailable("database unavailable".into()));
        }
        *st = next;
        slot.mirror(&st);
        let new_wake = st.next_wake(rules);
        let status = st.status;
        drop(st);
        // The heap keeps one entry per location: a later deadline is found when the earlier
        // entry fires, so `schedule` only pushes a wake-up earlier than the armed one.
        if let Some(w) = new_wake {
            self.schedule(&slot, id, w);
        }
        Ok(BeatAck {
            location_id: id,
            status,
            next_in: next_interval(timeout),
        })
    }

    /// Looks up a key (by hash, then compared in constant time).
    pub fn authenticate(&self, key: &str) -> Option<LocationId> {
        let hash = KeyHash::of(key);
        let keys = read(&self.inner.by_key);
        let (stored, id) = keys.get_key_value(&hash)?;
        stored.ct_eq(&hash).then_some(*id)
    }

    /// A key the in-memory index does not know: picks up locations created or re-keyed since
    /// the last sync (by the CLI, the admin panel of another instance, ...) and looks again.
    /// Look-ups are single-flight and spaced by [`UNKNOWN_KEY_RECHECK`]: a key that arrives
    /// while one is due or running waits for it instead of starting its own, and a look-up that
    /// started after the key arrived answers for it.
    async fn authenticate_from_store(&self, key: &str) -> Option<LocationId> {
        let arrived = self.inner.clock.now();
        let mut last = self.inner.unknown_key_check.lock().await;
        if last.is_some_and(|started| started >= arrived) {
            drop(last);
            return self.authenticate(key);
        }
        if let Some(started) = *last {
            let gap = chrono::TimeDelta::from_std(UNKNOWN_KEY_RECHECK).unwrap_or_default();
            let wait = (started + gap - self.inner.clock.now())
                .to_std()
                .unwrap_or_default();
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
            }
        }
        *last = Some(self.inner.clock.now());
        if let Err(e) = self.sync().await {
            tracing::warn!(error = %e, "cannot look up an unknown API key in the store");
        }
        drop(last);
        self.authenticate(key)
    }

    /// Enqueues a test alert for a location to every notifier.
    pub async fn send_test_alert(&self, id: LocationId) -> Result<(), EngineError> {
        let slot = read(&self.inner.slots)
            .get(&id)
            .cloned()
            .ok_or(EngineError::NotFound(id))?;
        let mut st = slot.state.lock().await;
        let now = self.inner.clock.now();
        let alert = crate::notify::Alert {
            kind: crate::notify::AlertKind::Test,
            location_id: id,
            location_name: st.loc.name.clone(),
            event_id: None,
            started_at: None,
            detected_at: None,
            ended_at: None,
            cause: Cause::Unknown,
            at: now,
        };
        let t = Transition {
            location_id: id,
            status: st.status,
            interval: None,
            event: crate::store::EventChange::None,
            notifications: vec![NewNotification {
                notifier: String::new(),
                chat: String::new(),
                alert,
            }],
        };
        let mut copy = st.clone();
        self.commit(&mut copy, t).await?;
        *st = copy;
        Ok(())
    }

    /// Wakes the delivery worker (e.g. after enqueuing from outside).
    pub fn kick_delivery(&self) {
        self.inner.delivery_wake.notify_one();
    }
}

/// What the device is told: beat three times per timeout, so one lost beat is no outage.
pub fn next_interval(timeout: Duration) -> Duration {
    (timeout / 3).max(Duration::from_secs(1))
}

#[async_trait]
impl HeartbeatSink for Engine {
    async fn heartbeat(&self, key: &str, facts: DeviceFacts) -> Result<BeatAck, BeatRejection> {
        let id = match self.authenticate(key) {
            Some(id) => id,
            None => self
                .authenticate_from_store(key)
                .await
                .ok_or(BeatRejection::UnknownKey)?,
        };
        self.heartbeat_for(id, facts).await
    }

    fn status_counts(&self) -> StatusCounts {
        let mut c = StatusCounts::default();
        for slot in read(&self.inner.slots).values() {
            match status_of(slot.status.load(Ordering::Relaxed)) {
                Status::Up => c.up += 1,
                Status::Down => c.down += 1,
                Status::Unknown => c.unknown += 1,
                Status::Paused => c.paused += 1,
            }
        }
        c
    }

    fn is_ready(&self) -> bool {
        self.inner.ready.load(Ordering::Acquire) && !self.inner.shutdown.is_cancelled()
    }
}

fn read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|p| p.into_inner())
}

fn write<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|p| p.into_inner())
}

fn lock<T>(l: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    l.lock().unwrap_or_else(|p| p.into_inner())
}
