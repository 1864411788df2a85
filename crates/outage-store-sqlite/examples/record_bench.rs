//! How fast the SQLite store persists heartbeat batches (and, for context, single transitions).
//!
//! ```text
//! cargo run --release -p outage-store-sqlite --example record_bench [-- --quick]
//! ```
//!
//! For 1 000 and 100 000 locations it records batches of 1 000 and 10 000 beats (each beat for a
//! random location, with full device facts) into a fresh database file in a temporary
//! directory, and prints min / median / max per batch. Then it grows the heartbeat table to a
//! few million rows and measures again, and times `apply_transition` (an outage with one
//! outbox row). It measures; it asserts nothing.

use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use outage_core::Status;
use outage_core::domain::{Cause, DeviceFacts, Heartbeat, IntervalKind, LocationId, NewLocation};
use outage_core::keys::KeyHash;
use outage_core::notify::{Alert, AlertKind};
use outage_core::store::{
    EventChange, IntervalSwitch, NewNotification, StatusStore, StoreError, Transition,
};
use outage_store_sqlite::{SqliteConfig, SqliteStore};

/// A small xorshift generator: reproducible, and no dependency for a bench.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

struct Setup {
    store: SqliteStore,
    ids: Vec<LocationId>,
    clock: DateTime<Utc>,
    rng: Rng,
    _dir: tempfile::TempDir,
}

impl Setup {
    async fn new(locations: usize) -> Result<Self, Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let store =
            SqliteStore::open_and_migrate(&SqliteConfig::file(dir.path().join("b.db"))).await?;
        let clock = DateTime::from_timestamp(1_763_899_200, 0).unwrap_or_default();
        let started = Instant::now();
        let mut ids = Vec::with_capacity(locations);
        for i in 0..locations {
            let loc = store
                .create_location(
                    &NewLocation {
                        routes: Vec::new(),
                        name: format!("location {i}"),
                        timeout: Duration::from_secs(30),
                        chat_id: None,
                    },
                    KeyHash::of(&format!("om_{i}")),
                    clock,
                )
                .await?;
            ids.push(loc.id);
        }
        println!(
            "  created {locations} locations in {:.2} s",
            started.elapsed().as_secs_f64()
        );
        Ok(Self {
            store,
            ids,
            clock,
            rng: Rng(0x9e37_79b9_7f4a_7c15),
            _dir: dir,
        })
    }

    fn batch(&mut self, size: usize) -> Vec<Heartbeat> {
        let out = (0..size)
            .map(|i| {
                let id = self.ids[self.rng.below(self.ids.len())];
                let uptime = 3600 + self.rng.below(100_000) as u64;
                Heartbeat {
                    location_id: id,
                    received_at: self.clock + TimeDelta::microseconds(i as i64 * 97),
                    facts: DeviceFacts {
                        boot_id: Some(format!("{:08x}", id.0 * 2_654_435_761 % 4_294_967_291)),
                        uptime_s: Some(uptime),
                        seq: Some(uptime / 30),
                        fw: Some("0.3.1".into()),
                        rssi: Some(-40 - self.rng.below(50) as i32),
                    },
                }
            })
            .collect();
        self.clock += TimeDelta::seconds(1);
        out
    }

    /// Records one batch; returns (wall time, process CPU time).
    async fn record(&mut self, size: usize) -> Result<(Duration, Duration), StoreError> {
        let beats = self.batch(size);
        let cpu = cpu_time();
        let started = Instant::now();
        self.store.record_heartbeats(&beats, self.clock).await?;
        Ok((started.elapsed(), cpu_time().saturating_sub(cpu)))
    }
}

/// CPU time of the whole process (all threads, including SQLite's), from `/proc/self/stat`
/// (Linux, 100 ticks per second): on a shared machine it says more than the wall clock.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<u64> = after_name
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    let ticks = fields.get(11).copied().unwrap_or(0) + fields.get(12).copied().unwrap_or(0);
    Duration::from_millis(ticks * 10)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn summary(runs: Vec<(Duration, Duration)>, beats: usize) -> String {
    let mut times: Vec<_> = runs.iter().map(|r| r.0).collect();
    let mut cpu: Vec<_> = runs.iter().map(|r| r.1).collect();
    times.sort();
    cpu.sort();
    let median = times[times.len() / 2];
    format!(
        "{:>8.1} {:>8.1} {:>8.1} {:>8.0} {:>12.0}",
        ms(times[0]),
        ms(median),
        ms(times[times.len() - 1]),
        ms(cpu[cpu.len() / 2]),
        beats as f64 / median.as_secs_f64()
    )
}

fn outage(id: LocationId, at: DateTime<Utc>) -> Transition {
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
            detected_at: at,
            cause: Cause::Unknown,
        },
        notifications: vec![NewNotification {
            notifier: "telegram".into(),
            chat: "-100".into(),
            alert: Alert {
                kind: AlertKind::Outage,
                location_id: id,
                location_name: "x".into(),
                event_id: None,
                started_at: Some(at),
                detected_at: Some(at),
                ended_at: None,
                cause: Cause::Unknown,
                at,
            },
        }],
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let quick = std::env::args().any(|a| a == "--quick");
    let runs = if quick { 3 } else { 15 };
    let prefill = if quick { 200_000 } else { 3_000_000 };
    println!(
        "record_heartbeats into a fresh SQLite file (WAL, synchronous=NORMAL), {runs} runs each"
    );
    println!(
        "{:>10} {:>7} {:>10} | {:>8} {:>8} {:>8} {:>8} {:>12}",
        "locations", "batch", "table rows", "min ms", "med ms", "max ms", "cpu ms", "beats/s (med)"
    );
    for locations in [1_000, 100_000] {
        let mut s = Setup::new(locations).await?;
        s.record(1_000).await?; // warm the statement cache
        let mut rows = 1_000;
        for size in [1_000, 10_000] {
            let mut times = Vec::new();
            for _ in 0..runs {
                times.push(s.record(size).await?);
                rows += size;
            }
            println!(
                "{locations:>10} {size:>7} {rows:>10} | {}",
                summary(times, size)
            );
        }
        if locations == 100_000 {
            let started = Instant::now();
            while rows < prefill {
                s.record(10_000).await?;
                rows += 10_000;
            }
            println!(
                "  grew the heartbeat table to {rows} rows in {:.1} s",
                started.elapsed().as_secs_f64()
            );
            for size in [1_000, 10_000] {
                let mut times = Vec::new();
                for _ in 0..runs {
                    times.push(s.record(size).await?);
                    rows += size;
                }
                println!(
                    "{locations:>10} {size:>7} {rows:>10} | {}",
                    summary(times, size)
                );
            }
            let mut times = Vec::new();
            for i in 0..if quick { 100 } else { 1000 } {
                let id = s.ids[i * 37 % s.ids.len()];
                let t = outage(id, s.clock);
                let started = Instant::now();
                s.store.apply_transition(&t).await?;
                times.push(started.elapsed());
            }
            times.sort();
            println!(
                "  apply_transition (open outage + 1 outbox row): median {:.3} ms, p99 {:.3} ms, max {:.3} ms",
                ms(times[times.len() / 2]),
                ms(times[times.len() * 99 / 100]),
                ms(times[times.len() - 1])
            );
            let started = Instant::now();
            let snap = s.store.load_runtime().await?;
            println!(
                "  load_runtime of {} locations: {:.0} ms",
                snap.locations.len(),
                ms(started.elapsed())
            );
        }
        s.store.close().await;
    }
    Ok(())
}
