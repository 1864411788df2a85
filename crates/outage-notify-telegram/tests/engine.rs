//! The notifier inside the real engine and outbox (MemoryStore), against the fake Bot API while
//! Telegram fails: 500s for minutes, then a 429 with `retry_after = 3`; and 500s for a whole
//! hour while three locations change state, then a 429 — the backlog arrives grouped, in
//! order, once, and not before `retry_after`.
//!
//! Time: tokio's clock is paused and held still (a blocking task keeps it from auto-advancing,
//! see [`ClockHold`]), so engine time — deadlines, backoff, `retry_after` — moves only when the
//! test advances it, in 1 s steps. The fake runs on its own thread in real time; after each step
//! the test waits (in real time, bounded) until no delivery is in flight. So a 20-minute story
//! takes about a second, and the Bot API client's timeout can never fire spuriously.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use outage_core::domain::MessageRef;
use outage_core::engine::{Engine, EngineConfig, Rules};
use outage_core::keys::KeyHash;
use outage_core::memory_store::MemoryStore;
use outage_core::metrics::Metrics;
use outage_core::notify::{Alert, AlertKind, DeliveryContext, Notifier, NotifyError};
use outage_core::render::Language;
use outage_core::secret::Secret;
use outage_core::store::StatusStore;
use outage_core::{Clock, DeviceFacts, LocationId, NewLocation, TokioClock};
use outage_notify_telegram::{ChatId, TelegramConfig, TelegramNotifier};
use outage_testkit::telegram::{FakeTelegram, Fault, real_sleep};

const CHAT: i64 = -1001234567890;
const CHAT_KEY: &str = "-1001234567890";
const DACHA_CHAT: &str = "@dacha_power";

/// Keeps tokio's paused clock from auto-advancing while it lives (tokio does not auto-advance
/// while a blocking task runs), so HTTP over real sockets can take real time.
struct ClockHold(Option<std::sync::mpsc::Sender<()>>);

impl ClockHold {
    fn new() -> Self {
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        tokio::task::spawn_blocking(move || {
            let _ = rx.recv();
        });
        Self(Some(tx))
    }
}

impl Drop for ClockHold {
    fn drop(&mut self) {
        self.0.take();
    }
}

#[derive(Debug, Clone)]
struct Attempt {
    at: DateTime<Utc>,
    chat: String,
    alert: Alert,
    result: Result<Option<MessageRef>, NotifyError>,
}

/// The Telegram notifier, recording every attempt on the engine's clock.
#[derive(Debug)]
struct Probe {
    inner: TelegramNotifier,
    clock: TokioClock,
    log: Mutex<Vec<Attempt>>,
    in_flight: AtomicUsize,
    /// Forward the notifier's burst grouping.
    bursts: bool,
}

#[async_trait]
impl Notifier for Probe {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn chat_for(&self, location_chat: Option<&str>) -> String {
        self.inner.chat_for(location_chat)
    }

    async fn deliver(
        &self,
        alert: &Alert,
        ctx: &DeliveryContext,
    ) -> Result<Option<MessageRef>, NotifyError> {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        let at = self.clock.now();
        let result = self.inner.deliver(alert, ctx).await;
        self.log.lock().unwrap().push(Attempt {
            at,
            chat: ctx.chat.clone(),
            alert: alert.clone(),
            result: result.clone(),
        });
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        result
    }

    fn burst_window(&self) -> Option<Duration> {
        self.inner.burst_window().filter(|_| self.bursts)
    }

    async fn deliver_burst(
        &self,
        alerts: &[(Alert, DeliveryContext)],
    ) -> Result<Vec<Option<MessageRef>>, NotifyError> {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        let at = self.clock.now();
        let result = self.inner.deliver_burst(alerts).await;
        let mut log = self.log.lock().unwrap();
        for (i, (alert, ctx)) in alerts.iter().enumerate() {
            log.push(Attempt {
                at,
                chat: ctx.chat.clone(),
                alert: alert.clone(),
                result: result
                    .as_ref()
                    .map(|refs| refs.get(i).cloned().flatten())
                    .map_err(Clone::clone),
            });
        }
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        result
    }
}

/// Lets due tasks run and waits (real time, at most 10 s) until no delivery is in flight.
async fn settle(probe: &Probe) {
    let give_up = std::time::Instant::now() + Duration::from_secs(10);
    let mut quiet_rounds = 0;
    while quiet_rounds < 5 {
        for _ in 0..20 {
            tokio::task::yield_now().await;
        }
        if probe.in_flight.load(Ordering::SeqCst) == 0 {
            quiet_rounds += 1;
        } else {
            quiet_rounds = 0;
            real_sleep(Duration::from_millis(1)).await;
        }
        assert!(
            std::time::Instant::now() < give_up,
            "a delivery did not finish within 10 s of real time"
        );
    }
}

fn facts(boot: &str, uptime_s: u64) -> DeviceFacts {
    DeviceFacts {
        boot_id: Some(boot.into()),
        uptime_s: Some(uptime_s),
        ..DeviceFacts::default()
    }
}

async fn add(
    store: &MemoryStore,
    name: &str,
    chat: Option<&str>,
    key: &str,
    now: DateTime<Utc>,
) -> LocationId {
    store
        .create_location(
            &NewLocation {
                routes: Vec::new(),
                name: name.into(),
                timeout: Duration::from_secs(30),
                chat_id: chat.map(str::to_string),
            },
            KeyHash::of(key),
            now,
        )
        .await
        .unwrap()
        .id
}

/// The engine with the Telegram notifier (behind a [`Probe`]) talking to `fake`.
async fn start(
    fake: &FakeTelegram,
    store: &Arc<MemoryStore>,
    clock: TokioClock,
    bursts: bool,
    live_update_every_s: u64,
) -> (Arc<Probe>, Engine, outage_core::engine::EngineTasks) {
    let mut cfg = TelegramConfig::new(Secret::new(fake.token()), ChatId::Id(CHAT));
    cfg.api_base = fake.base_url();
    cfg.timeout = Duration::from_secs(5);
    let probe = Arc::new(Probe {
        inner: TelegramNotifier::new(&cfg, chrono_tz::Europe::Kyiv, Language::En).unwrap(),
        clock,
        log: Mutex::default(),
        in_flight: AtomicUsize::new(0),
        bursts,
    });
    let notifiers: Vec<Arc<dyn Notifier>> = vec![probe.clone()];
    let (engine, tasks) = Engine::start(
        store.clone(),
        notifiers,
        Arc::new(clock),
        Arc::new(Metrics::default()),
        EngineConfig {
            rules: Rules {
                live_update_every: Duration::from_secs(live_update_every_s),
                ..Rules::default()
            },
            ..EngineConfig::default()
        },
    )
    .await
    .unwrap();
    (probe, engine, tasks)
}

#[tokio::test(start_paused = true)]
async fn telegram_down_then_rate_limited_every_alert_arrives_once_and_in_order() {
    let fake = FakeTelegram::start().unwrap();
    let hold = ClockHold::new();
    let clock = TokioClock::starting_at(outage_testkit::t0());
    let t0 = clock.now();
    let store = Arc::new(MemoryStore::new());
    let home_name = "Дім <b>&</b> 🏠";
    let home = add(&store, home_name, None, "k-home", t0).await;
    let dacha = add(&store, "Дача", Some(DACHA_CHAT), "k-dacha", t0).await;

    let (probe, engine, tasks) = start(&fake, &store, clock, false, 60).await;

    // Telegram is down: every request fails with 500 for a long stretch, then one 429.
    const FIVE_HUNDREDS: usize = 8;
    fake.fail_next(FIVE_HUNDREDS, Fault::ServerError);
    fake.fail_next(1, Fault::RateLimited { retry_after: 3 });

    // Both beat until 60 s and go quiet (outages detected at 90 s). Home's power comes back at
    // 400 s (new boot), Dacha's network at 500 s (same boot, uptime kept counting).
    let end = 1500u64;
    for s in 0..=end {
        if s % 10 == 0 {
            if s <= 60 || s >= 400 {
                let up = if s <= 60 { 1000 + s } else { s - 390 };
                let boot = if s <= 60 { "home-a" } else { "home-b" };
                engine.heartbeat_for(home, facts(boot, up)).await.unwrap();
            }
            if s <= 60 || s >= 500 {
                engine
                    .heartbeat_for(dacha, facts("dacha", 500 + s))
                    .await
                    .unwrap();
            }
        }
        tokio::time::advance(Duration::from_secs(1)).await;
        settle(&probe).await;
    }
    tasks.shutdown().await;
    drop(hold);

    let log = probe.log.lock().unwrap().clone();
    let stats = store.outbox_stats().await.unwrap();
    assert_eq!((stats.pending, stats.failed), (0, 0), "{stats:?}");
    let ok: Vec<&Attempt> = log.iter().filter(|a| a.result.is_ok()).collect();
    assert_eq!(
        ok.len() as u64,
        stats.delivered,
        "each outbox row delivered exactly once"
    );
    assert_eq!(
        log.iter().filter(|a| a.result.is_err()).count(),
        FIVE_HUNDREDS + 1,
        "every scripted failure was seen once"
    );
    let rate_limited = log
        .iter()
        .filter(|a| matches!(a.result, Err(NotifyError::RateLimited { .. })))
        .count();
    assert_eq!(rate_limited, 1, "the 429 reached the worker as RateLimited");

    // In order per chat, nothing twice.
    let kinds = |chat: &str| -> Vec<AlertKind> {
        ok.iter()
            .filter(|a| a.chat == chat)
            .map(|a| a.alert.kind)
            .collect()
    };
    let home_kinds = kinds(CHAT_KEY);
    let dacha_kinds = kinds(DACHA_CHAT);
    assert_eq!(
        home_kinds.first(),
        Some(&AlertKind::Outage),
        "{home_kinds:?}"
    );
    assert_eq!(
        home_kinds.last(),
        Some(&AlertKind::Restored),
        "{home_kinds:?}"
    );
    assert!(
        home_kinds[1..home_kinds.len() - 1]
            .iter()
            .all(|k| *k == AlertKind::OutageUpdate)
    );
    assert!(
        home_kinds.len() >= 3,
        "live updates were delivered: {home_kinds:?}"
    );
    assert_eq!(
        dacha_kinds.first(),
        Some(&AlertKind::Outage),
        "{dacha_kinds:?}"
    );
    assert_eq!(
        dacha_kinds.last(),
        Some(&AlertKind::NetworkRestored),
        "{dacha_kinds:?}"
    );
    for chat in [CHAT_KEY, DACHA_CHAT] {
        let alerts: Vec<_> = ok
            .iter()
            .filter(|a| a.chat == chat)
            .map(|a| a.alert.at)
            .collect();
        let mut sorted = alerts.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(
            alerts, sorted,
            "{chat}: delivered in creation order, none twice"
        );
    }

    // Retries waited: exactly retry_after after the 429, at least the backoff after a 500.
    for chat in [CHAT_KEY, DACHA_CHAT] {
        let attempts: Vec<&Attempt> = log.iter().filter(|a| a.chat == chat).collect();
        for pair in attempts.windows(2) {
            let gap = pair[1].at - pair[0].at;
            match &pair[0].result {
                Err(NotifyError::RateLimited { retry_after }) => {
                    assert_eq!(*retry_after, Duration::from_secs(3));
                    assert!(
                        gap >= TimeDelta::seconds(3) && gap <= TimeDelta::seconds(4),
                        "{chat}: retried {gap} after a 429 asking for 3 s"
                    );
                }
                Err(NotifyError::Transient(_)) => {
                    assert!(
                        gap >= TimeDelta::seconds(2),
                        "{chat}: retried {gap} after a 500"
                    );
                }
                Err(e) => panic!("unexpected error {e:?}"),
                Ok(_) => {}
            }
        }
    }
    let last_failure = log
        .iter()
        .filter(|a| a.result.is_err())
        .map(|a| a.at)
        .max()
        .unwrap();
    assert!(
        ok[0].at >= last_failure,
        "alerts went out only after Telegram recovered"
    );
    assert!(
        last_failure - t0 > TimeDelta::seconds(110),
        "Telegram was down for minutes: {}",
        last_failure - t0
    );

    // What people see: one live message per outage plus the restore reply; nothing duplicated.
    let home_msgs = fake.messages(CHAT_KEY);
    assert_eq!(home_msgs.len(), 2, "{home_msgs:#?}");
    let summary = home_msgs[0].text.clone().unwrap();
    assert!(
        summary.starts_with(&format!("🔌 {home_name} — power was off from ")),
        "{summary}"
    );
    let reply = home_msgs[1].text.clone().unwrap();
    assert!(
        reply.starts_with(&format!("🟢 {home_name}: power is back at ")),
        "{reply}"
    );
    assert!(reply.contains("it was off 5 min"), "{reply}");
    assert_eq!(home_msgs[1].reply_to, Some(home_msgs[0].message_id));
    let dacha_msgs = fake.messages(DACHA_CHAT);
    assert_eq!(dacha_msgs.len(), 1, "{dacha_msgs:#?}");
    assert!(
        dacha_msgs[0]
            .text
            .as_deref()
            .unwrap()
            .contains("the power stayed on; only the network was down for 7 min"),
        "{dacha_msgs:#?}"
    );
    let sends = fake
        .requests_to("sendMessage")
        .into_iter()
        .filter(|r| r.status() == Some(200))
        .count();
    assert_eq!(sends, 3, "two outage alerts and one restore reply");
    fake.assert_all_valid();
}

#[tokio::test(start_paused = true)]
async fn telegram_down_for_an_hour_then_rate_limited_loses_nothing_and_groups_the_backlog() {
    let fake = FakeTelegram::start().unwrap();
    let hold = ClockHold::new();
    let clock = TokioClock::starting_at(outage_testkit::t0());
    let t0 = clock.now();
    let store = Arc::new(MemoryStore::new());
    let home = add(&store, "Home", None, "k-home", t0).await;
    let office = add(&store, "Office", None, "k-office", t0).await;
    let dacha = add(&store, "Dacha", None, "k-dacha", t0).await;

    let (probe, engine, tasks) = start(&fake, &store, clock, true, 300).await;

    // Telegram answers 500 to everything for the first hour of engine time, then one 429.
    const DOWN_FOR: u64 = 3600;
    const RETRY_AFTER: u64 = 30;
    fake.fail_next(100_000, Fault::ServerError);

    // All three beat until 60 s and go dark together (outages detected at 90 s). Home's power
    // returns at 1200 s, the office's at 2400 s; the dacha stays dark.
    let end = 5400u64;
    let mut recovered_at = None;
    for s in 0..=end {
        if s == DOWN_FOR {
            fake.clear_faults();
            fake.fail_next(
                1,
                Fault::RateLimited {
                    retry_after: RETRY_AFTER,
                },
            );
            recovered_at = Some(clock.now());
        }
        if s % 10 == 0 {
            if s <= 60 || s >= 1200 {
                let (boot, up) = if s <= 60 {
                    ("h1", 1000 + s)
                } else {
                    ("h2", s - 1190)
                };
                engine.heartbeat_for(home, facts(boot, up)).await.unwrap();
            }
            if s <= 60 || s >= 2400 {
                let (boot, up) = if s <= 60 {
                    ("o1", 1000 + s)
                } else {
                    ("o2", s - 2390)
                };
                engine.heartbeat_for(office, facts(boot, up)).await.unwrap();
            }
            if s <= 60 {
                engine
                    .heartbeat_for(dacha, facts("d1", 1000 + s))
                    .await
                    .unwrap();
            }
        }
        tokio::time::advance(Duration::from_secs(1)).await;
        settle(&probe).await;
    }
    tasks.shutdown().await;
    drop(hold);
    let recovered_at = recovered_at.unwrap();

    let log = probe.log.lock().unwrap().clone();
    let stats = store.outbox_stats().await.unwrap();
    assert_eq!((stats.pending, stats.failed), (0, 0), "{stats:?}");

    // Requests kept failing for the whole hour, with capped backoff (not a request storm).
    let failures: Vec<&Attempt> = log.iter().filter(|a| a.result.is_err()).collect();
    let during_outage: Vec<DateTime<Utc>> = failures
        .iter()
        .filter(|a| matches!(a.result, Err(NotifyError::Transient(_))))
        .map(|a| a.at)
        .collect();
    let span = *during_outage.last().unwrap() - *during_outage.first().unwrap();
    assert!(span > TimeDelta::minutes(50), "failing for {span}");
    let mut distinct = during_outage.clone();
    distinct.dedup();
    assert!(
        distinct.len() < 40,
        "backoff capped at 5 min keeps the attempts few: {}",
        distinct.len()
    );

    // The 429 came right after recovery; nothing was sent before its retry_after passed.
    let limited = log
        .iter()
        .find(|a| matches!(a.result, Err(NotifyError::RateLimited { .. })))
        .expect("the 429 reached the worker");
    assert!(limited.at >= recovered_at);
    let next = log
        .iter()
        .filter(|a| a.at > limited.at)
        .map(|a| a.at)
        .min()
        .unwrap();
    assert!(
        next - limited.at >= TimeDelta::seconds(RETRY_AFTER as i64),
        "a request {} after a 429 asking for {RETRY_AFTER} s",
        next - limited.at
    );
    let fake_429 = fake
        .requests()
        .iter()
        .position(|r| r.status() == Some(429))
        .unwrap();
    assert!(
        fake.requests()[fake_429 + 1..]
            .iter()
            .all(|r| r.status() == Some(200) || r.status() == Some(400)),
        "Telegram was healthy after the 429"
    );

    // Every alert arrived after recovery, in order, none twice.
    let ok: Vec<&Attempt> = log.iter().filter(|a| a.result.is_ok()).collect();
    assert!(ok.iter().all(|a| a.at >= recovered_at));
    let kinds = |loc: LocationId| -> Vec<AlertKind> {
        ok.iter()
            .filter(|a| a.alert.location_id == loc && a.alert.kind != AlertKind::OutageUpdate)
            .map(|a| a.alert.kind)
            .collect()
    };
    assert_eq!(kinds(home), [AlertKind::Outage, AlertKind::Restored]);
    assert_eq!(kinds(office), [AlertKind::Outage, AlertKind::Restored]);
    assert_eq!(kinds(dacha), [AlertKind::Outage]);
    let created: Vec<DateTime<Utc>> = ok.iter().map(|a| a.alert.at).collect();
    let mut sorted = created.clone();
    sorted.sort();
    assert_eq!(created, sorted, "delivered in the order they happened");

    // What people see: the three outages in one message, the two restores as replies to it.
    let msgs = fake.messages(CHAT_KEY);
    let texts: Vec<String> = msgs.iter().map(|m| m.text.clone().unwrap()).collect();
    assert_eq!(msgs.len(), 3, "{texts:#?}");
    assert!(
        texts[0].starts_with("⚡ Power changes at 3 places"),
        "{}",
        texts[0]
    );
    for name in ["Home", "Office", "Dacha"] {
        assert!(
            texts[0].contains(&format!("🔴 {name} — power is off since")),
            "{}",
            texts[0]
        );
    }
    assert!(
        texts[1].starts_with("🟢 Home: power is back at"),
        "{}",
        texts[1]
    );
    assert!(texts[1].contains("it was off 18 min"), "{}", texts[1]);
    assert!(
        texts[2].starts_with("🟢 Office: power is back at"),
        "{}",
        texts[2]
    );
    assert_eq!(msgs[1].reply_to, Some(msgs[0].message_id));
    assert_eq!(msgs[2].reply_to, Some(msgs[0].message_id));
    assert!(
        fake.requests_to("editMessageText").is_empty(),
        "a burst message is never edited for one of its locations"
    );
    fake.assert_all_valid();
}
