//! `cargo bench --workspace --bench admin_render`: wall time of the admin panel's heaviest
//! pages, driven in-process through salvo's test client (routing, session lookup, store calls,
//! templates; no socket), over a MemoryStore and over a file SQLite store, each with a real
//! engine.
//!
//! The fixture per store:
//! - 1 000 locations (`loc-0000` …), timeout 90 s: 70 % up (seen seconds ago; a third of them
//!   had a closed outage earlier today), 15 % down (an open outage of 10–70 min), 10 % paused
//!   (2 h more), 5 % never seen;
//! - one more location `history` with a year of history: an outage every day (366 closed
//!   outages, every fifth one network-only), each with its `down` and `up` transitions and
//!   intervals, and a heartbeat now.
//!
//! Measured, logged in as an admin: `GET /admin/` (the list), `GET /admin/locations/{id}` of
//! `history` for the current week and for the week 26 weeks back (`?week=YYYY-Www`),
//! `GET /admin/locations/{id}/diagram.svg` (same two weeks) and `GET /admin/api/status`.
//! Every page is checked for its status code and a marker before timing starts.
//!
//! Prints min / median / p95 / max per page. Bounded: fixed iteration counts, and each page
//! stops early after `PAGE_BUDGET` of wall time.

#![allow(clippy::unwrap_used, clippy::expect_used)] // bench code: a panic is a failed run

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use outage_core::availability::{IsoWeek, local_date, local_midnight};
use outage_core::config::Config;
use outage_core::engine::{Engine, EngineConfig};
use outage_core::keys::KeyHash;
use outage_core::memory_store::MemoryStore;
use outage_core::metrics::Metrics;
use outage_core::registry::PluginContext;
use outage_core::store::{EventChange, IntervalSwitch, StatusStore, StoreOptions, Transition};
use outage_core::{
    Cause, DeviceFacts, Heartbeat, IntervalKind, LocationId, LocationPatch, NewLocation, Role,
    Status,
};
use outage_web_admin::{Panel, PanelSettings, auth};
use salvo::http::StatusCode;
use salvo::test::{ResponseExt, TestClient};
use salvo::{Router, Service};

/// Locations in the list.
const LOCATIONS: usize = 1_000;
/// Days of history of the detail location.
const HISTORY_DAYS: i64 = 366;
/// Location timeout.
const TIMEOUT: Duration = Duration::from_secs(90);
/// Most wall time one page may take in total (the iteration count is cut short after it).
const PAGE_BUDGET: Duration = Duration::from_secs(8);
const PASSWORD: &str = "bench-admin-password";

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(run());
}

async fn run() {
    let started = Instant::now();
    println!(
        "admin_render: {LOCATIONS} locations + 1 with {HISTORY_DAYS} days of daily outages; \
         in-process salvo test client; {} CPUs",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let mut table = Vec::new();

    let memory: Arc<dyn StatusStore> = Arc::new(MemoryStore::new());
    table.extend(bench_store("memory", memory).await);

    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("bench.db");
    let config = outage_store_sqlite::SqliteConfig::from_options(&StoreOptions {
        url: format!("sqlite://{}", path.display()),
        pool: 8,
        busy_timeout: Duration::from_secs(10),
    })
    .expect("sqlite config");
    let sqlite = outage_store_sqlite::SqliteStore::open_and_migrate(&config)
        .await
        .expect("open sqlite");
    let sqlite: Arc<dyn StatusStore> = Arc::new(sqlite);
    table.extend(bench_store("sqlite", sqlite).await);
    let db_bytes = std::fs::metadata(&path).map_or(0, |m| m.len());

    println!();
    println!(
        "{:<7} {:<34} {:>5} {:>9} {:>9} {:>9} {:>9} {:>8}",
        "store", "page", "n", "min ms", "median", "p95", "max", "bytes"
    );
    for r in &table {
        println!(
            "{:<7} {:<34} {:>5} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>8}",
            r.store, r.page, r.n, r.min, r.median, r.p95, r.max, r.bytes
        );
    }
    println!();
    println!(
        "sqlite file: {:.1} MiB (main file, WAL not counted); whole run {:.1} s",
        db_bytes as f64 / 1_048_576.0,
        started.elapsed().as_secs_f64()
    );
}

/// One line of the table.
struct Line {
    store: &'static str,
    page: String,
    n: usize,
    min: f64,
    median: f64,
    p95: f64,
    max: f64,
    bytes: usize,
}

/// Fills `store`, starts an engine and a panel over it, and times every page.
async fn bench_store(name: &'static str, store: Arc<dyn StatusStore>) -> Vec<Line> {
    let tz = PanelSettings::default().timezone;
    let t = Instant::now();
    let fixture = populate(store.as_ref(), tz).await;
    let filled = t.elapsed();

    let t = Instant::now();
    let (engine, tasks) = Engine::start(
        store.clone(),
        vec![],
        Arc::new(outage_core::SystemClock),
        Arc::new(Metrics::default()),
        EngineConfig::default(),
    )
    .await
    .expect("engine");
    // The engine starts every `up` location as `unknown` (it was not watching); the first
    // heartbeat makes it `up` again, as after a real restart.
    for id in &fixture.beating {
        engine
            .heartbeat_for(*id, facts("boot-0", 3600))
            .await
            .expect("heartbeat");
    }
    let engine_ready = t.elapsed();
    println!(
        "[{name}] filled in {:.1} s ({} transitions), engine + {} heartbeats in {:.1} s",
        filled.as_secs_f64(),
        fixture.transitions,
        fixture.beating.len(),
        engine_ready.as_secs_f64()
    );

    let renderer = outage_render_plotters::factory(&PluginContext {
        config: &Config::default(),
        table: &serde_json::Value::Null,
        instance: "plotters",
    })
    .expect("renderer");
    let panel = Panel::new(
        store.clone(),
        engine.clone(),
        vec![],
        renderer,
        PanelSettings::default(),
    );
    let service = Service::new(Router::new().push(panel.router()));
    let phc = auth::hash_password(PASSWORD).expect("hash");
    store
        .create_user("admin", Role::Admin, &phc, Utc::now())
        .await
        .expect("user");
    let cookies = login(&service).await;

    let now = Utc::now();
    let current = IsoWeek::of_instant(now, tz);
    let mut back = current;
    for _ in 0..26 {
        back = back.pred();
    }
    let id = fixture.history.0;
    let pages: Vec<(String, String, &str, usize)> = vec![
        ("list /admin/".into(), "/admin/".into(), "loc-0999", 40),
        (
            "detail, current week".into(),
            format!("/admin/locations/{id}"),
            "history",
            200,
        ),
        (
            format!("detail, ?week={back}"),
            format!("/admin/locations/{id}?week={back}"),
            "history",
            200,
        ),
        (
            "diagram.svg, current week".into(),
            format!("/admin/locations/{id}/diagram.svg"),
            "<svg",
            100,
        ),
        (
            format!("diagram.svg, ?week={back}"),
            format!("/admin/locations/{id}/diagram.svg?week={back}"),
            "<svg",
            100,
        ),
        (
            "api/status (JSON)".into(),
            "/admin/api/status".into(),
            "\"status\"",
            200,
        ),
    ];
    let mut lines = Vec::new();
    for (label, path, marker, n) in pages {
        // One untimed request warms caches and checks the page is what we think it is.
        let (status, body) = get(&service, &cookies, &path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        assert!(body.contains(marker), "{path} lacks {marker:?}");
        if label.starts_with("detail") {
            // The table shows the week's outages: a week has about 7.
            let rows = body.matches("<tr").count();
            assert!(rows >= 5, "{path}: only {rows} table rows");
        }
        let mut times = Vec::with_capacity(n);
        let budget = Instant::now();
        for _ in 0..n {
            let t = Instant::now();
            let (status, body) = get(&service, &cookies, &path).await;
            times.push(t.elapsed().as_secs_f64() * 1e3);
            assert_eq!(status, StatusCode::OK);
            std::hint::black_box(body);
            if budget.elapsed() > PAGE_BUDGET {
                break;
            }
        }
        lines.push(summarize(name, label, times, body.len()));
    }
    tasks.shutdown().await;
    lines
}

fn summarize(store: &'static str, page: String, mut times: Vec<f64>, bytes: usize) -> Line {
    times.sort_by(f64::total_cmp);
    let n = times.len();
    let at = |q: f64| times[(((n as f64) * q).ceil() as usize).clamp(1, n) - 1];
    Line {
        store,
        page,
        n,
        min: times[0],
        median: at(0.5),
        p95: at(0.95),
        max: times[n - 1],
        bytes,
    }
}

struct Fixture {
    /// The location with a year of history.
    history: LocationId,
    /// Locations that get a heartbeat once the engine runs.
    beating: Vec<LocationId>,
    transitions: usize,
}

fn facts(boot: &str, uptime_s: u64) -> DeviceFacts {
    DeviceFacts {
        boot_id: Some(boot.into()),
        uptime_s: Some(uptime_s),
        seq: Some(1),
        fw: Some("bench".into()),
        rssi: Some(-60),
    }
}

fn to_up(id: LocationId, at: DateTime<Utc>, close: Option<(i64, Cause)>) -> Transition {
    Transition {
        location_id: id,
        status: Status::Up,
        interval: Some(IntervalSwitch {
            at,
            kind: IntervalKind::Up,
            relabel_closed_as: match close {
                Some((_, Cause::Network)) => Some(IntervalKind::Network),
                _ => None,
            },
        }),
        event: match close {
            Some((event, cause)) => EventChange::Close {
                event_id: outage_core::EventId(event),
                ended_at: at,
                cause,
            },
            None => EventChange::None,
        },
        notifications: vec![],
    }
}

fn to_down(id: LocationId, at: DateTime<Utc>) -> Transition {
    Transition {
        location_id: id,
        status: Status::Down,
        interval: Some(IntervalSwitch {
            at,
            kind: IntervalKind::Down,
            relabel_closed_as: None,
        }),
        event: EventChange::Open {
            started_at: Some(at),
            detected_at: at + TimeDelta::from_std(TIMEOUT).unwrap_or_default(),
            cause: Cause::Unknown,
        },
        notifications: vec![],
    }
}

/// An outage `[start, end)` as its two transitions.
async fn outage(
    store: &dyn StatusStore,
    id: LocationId,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    cause: Cause,
) {
    let event = store
        .apply_transition(&to_down(id, start))
        .await
        .expect("open outage")
        .expect("an event id");
    store
        .apply_transition(&to_up(id, end, Some((event.0, cause))))
        .await
        .expect("close outage");
}

async fn populate(store: &dyn StatusStore, tz: chrono_tz::Tz) -> Fixture {
    let now = Utc::now();
    let midnight = local_midnight(tz, local_date(tz, now));
    let today = now - midnight;
    let yesterday = midnight - TimeDelta::days(1);
    let mut transitions = 0;
    let mut beating = Vec::new();
    let mut beats = Vec::new();
    for i in 0..LOCATIONS {
        let loc = store
            .create_location(
                &NewLocation {
                    routes: Vec::new(),
                    name: format!("loc-{i:04}"),
                    timeout: TIMEOUT,
                    chat_id: (i % 4 == 0).then(|| format!("-100{i:06}")),
                },
                KeyHash::of(&format!("bench-key-{i}")),
                now,
            )
            .await
            .expect("create location");
        let id = loc.id;
        match i % 20 {
            // Never seen.
            19 => continue,
            _ => {
                store
                    .apply_transition(&to_up(id, yesterday, None))
                    .await
                    .expect("up");
                transitions += 1;
            }
        }
        let k = i as i32;
        match i % 20 {
            0..=13 => {
                if i % 3 == 0 {
                    // A closed outage earlier today, 20–80 min, ended before now.
                    let start = midnight + today / 4 + TimeDelta::minutes(i64::from(k % 60));
                    let end = (start + TimeDelta::minutes(20 + i64::from(k % 61)))
                        .min(now - TimeDelta::seconds(30));
                    if start < end {
                        outage(store, id, start, end, Cause::Power).await;
                        transitions += 2;
                    }
                }
                beats.push(Heartbeat {
                    location_id: id,
                    received_at: now - TimeDelta::seconds(5 + i64::from(k % 30)),
                    facts: facts("boot-0", 3600),
                });
                beating.push(id);
            }
            14..=16 => {
                // Down for 10–70 min.
                let start = now - TimeDelta::minutes(10 + i64::from(k % 61));
                store
                    .apply_transition(&to_down(id, start))
                    .await
                    .expect("down");
                transitions += 1;
                beats.push(Heartbeat {
                    location_id: id,
                    received_at: start - TimeDelta::seconds(20),
                    facts: facts("boot-0", 7200),
                });
            }
            _ => {
                store
                    .update_location(
                        id,
                        &LocationPatch {
                            paused_until: Some(Some(now + TimeDelta::hours(2))),
                            ..LocationPatch::default()
                        },
                        now,
                    )
                    .await
                    .expect("pause");
            }
        }
    }

    // The location with a year of history: an outage every day at a varying hour.
    let history = store
        .create_location(
            &NewLocation {
                routes: Vec::new(),
                name: "history".into(),
                timeout: TIMEOUT,
                chat_id: Some("-100123".into()),
            },
            KeyHash::of("bench-key-history"),
            now,
        )
        .await
        .expect("create history")
        .id;
    let first = midnight - TimeDelta::days(HISTORY_DAYS);
    store
        .apply_transition(&to_up(history, first, None))
        .await
        .expect("up");
    transitions += 1;
    for d in 0..HISTORY_DAYS {
        let start = first
            + TimeDelta::days(d)
            + TimeDelta::hours((d * 7) % 20)
            + TimeDelta::minutes((d * 13) % 60);
        let end = start + TimeDelta::minutes(15 + (d * 37) % 180);
        if end >= now - TimeDelta::minutes(1) {
            break;
        }
        let cause = if d % 5 == 4 {
            Cause::Network
        } else {
            Cause::Power
        };
        outage(store, history, start, end, cause).await;
        transitions += 2;
    }
    beats.push(Heartbeat {
        location_id: history,
        received_at: now - TimeDelta::seconds(3),
        facts: facts("boot-1", 600),
    });
    beating.push(history);
    store
        .record_heartbeats(&beats, now)
        .await
        .expect("heartbeats");
    Fixture {
        history,
        beating,
        transitions,
    }
}

/// A browser's cookies, enough for the panel's.
#[derive(Default)]
struct Jar(BTreeMap<String, String>);

impl Jar {
    fn header(&self) -> String {
        self.0
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }
    fn take(&mut self, res: &salvo::Response) {
        for c in res.cookies().iter() {
            if c.value().is_empty() || c.max_age().is_some_and(|a| a.is_zero()) {
                self.0.remove(c.name());
            } else {
                self.0.insert(c.name().to_string(), c.value().to_string());
            }
        }
    }
}

async fn get(service: &Service, cookies: &str, path: &str) -> (StatusCode, String) {
    let mut res = TestClient::get(format!("http://127.0.0.1{path}"))
        .add_header("cookie", cookies, true)
        .send(service)
        .await;
    let status = res.status_code.unwrap_or(StatusCode::OK);
    (status, res.take_string().await.unwrap_or_default())
}

/// Logs in through the form; returns the `cookie` header of the session.
async fn login(service: &Service) -> String {
    let mut jar = Jar::default();
    let mut res = TestClient::get("http://127.0.0.1/admin/login")
        .send(service)
        .await;
    jar.take(&res);
    let html = res.take_string().await.unwrap_or_default();
    let marker = "name=\"csrf_token\" value=\"";
    let at = html.find(marker).expect("csrf token on the login form") + marker.len();
    let csrf = &html[at..at + html[at..].find('"').expect("end of token")];
    let body: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("username", "admin"),
            ("password", PASSWORD),
            ("csrf_token", csrf),
        ])
        .finish();
    let res = TestClient::post("http://127.0.0.1/admin/login")
        .add_header("cookie", jar.header(), true)
        .add_header("content-type", "application/x-www-form-urlencoded", true)
        .body(body)
        .send(service)
        .await;
    assert_eq!(res.status_code, Some(StatusCode::SEE_OTHER), "login failed");
    jar.take(&res);
    jar.header()
}
