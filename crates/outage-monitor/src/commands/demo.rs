//! `demo`: the whole story in under a minute, on a temporary database with simulated devices.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use chrono::Utc;
use outage_core::NewLocation;
use outage_core::config::Config;
use outage_core::keys::{KeyHash, generate_key};
use outage_core::secret::Secret;
use outage_core::store::EventFilter;
use rand::Rng;

use crate::serve::Monitor;

/// A simulated device: it beats while it has power and network.
struct Device {
    name: &'static str,
    key: Secret,
    boot_id: std::sync::Mutex<String>,
    booted: std::sync::Mutex<Instant>,
    seq: AtomicU64,
    powered: AtomicBool,
    online: AtomicBool,
}

fn new_boot_id() -> String {
    let bytes: [u8; 16] = rand::rng().random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Device {
    fn new(name: &'static str, key: Secret) -> Arc<Self> {
        Arc::new(Device {
            name,
            key,
            boot_id: std::sync::Mutex::new(new_boot_id()),
            booted: std::sync::Mutex::new(Instant::now() - Duration::from_secs(3600)),
            seq: AtomicU64::new(0),
            powered: AtomicBool::new(true),
            online: AtomicBool::new(true),
        })
    }

    fn power_on(&self) {
        *self.boot_id.lock().unwrap_or_else(|p| p.into_inner()) = new_boot_id();
        *self.booted.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
        self.seq.store(0, Ordering::Relaxed);
        self.powered.store(true, Ordering::Relaxed);
    }

    async fn run(self: Arc<Self>, client: reqwest::Client, url: String, every: Duration) {
        loop {
            tokio::time::sleep(every).await;
            if !self.powered.load(Ordering::Relaxed) || !self.online.load(Ordering::Relaxed) {
                continue;
            }
            let body = serde_json::json!({
                "boot_id": self.boot_id.lock().unwrap_or_else(|p| p.into_inner()).clone(),
                "uptime_s": self.booted.lock().unwrap_or_else(|p| p.into_inner()).elapsed().as_secs(),
                "seq": self.seq.fetch_add(1, Ordering::Relaxed),
                "fw": "demo-1.0",
            });
            let sent = client
                .post(&url)
                .bearer_auth(self.key.expose())
                .json(&body)
                .send()
                .await;
            if let Err(e) = sent {
                eprintln!("  [{}] heartbeat failed: {e}", self.name);
            }
        }
    }
}

fn say(start: Instant, text: &str) {
    println!("[{:>5.1}s] {text}", start.elapsed().as_secs_f64());
}

/// Runs the demo.
pub async fn run(timeout: Duration) -> Result<()> {
    let dir = tempfile::tempdir().context("cannot create a temporary directory")?;
    let mut cfg = Config::default();
    cfg.store.url = Secret::new(format!("sqlite://{}", dir.path().join("demo.db").display()));
    cfg.monitor.default_timeout = timeout;
    cfg.monitor.live_update_every = Duration::ZERO;
    let listener =
        std::net::TcpListener::bind("127.0.0.1:0").context("cannot bind a local port")?;
    let monitor = Monitor::start(&cfg, Some(listener)).await?;
    let url = format!("http://{}/api/v1/heartbeat", monitor.addr);
    let start = Instant::now();
    println!(
        "outage-monitor demo: a monitor on {url}, database in {}",
        dir.path().display()
    );
    println!(
        "Three simulated devices beat every {:?}; the timeout is {:?}.\n",
        timeout / 4,
        timeout
    );

    let mut devices = Vec::new();
    for name in ["Home", "Office", "Dacha"] {
        let key = generate_key();
        let loc = monitor
            .store
            .create_location(
                &NewLocation {
                    routes: Vec::new(),
                    name: name.into(),
                    timeout,
                    chat_id: None,
                },
                KeyHash::of(key.expose()),
                Utc::now(),
            )
            .await?;
        monitor.engine.reload_location(loc.id).await?;
        devices.push((loc.id, Device::new(name, key)));
    }
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .context("cannot build an HTTP client")?;
    let every = (timeout / 4).max(Duration::from_millis(200));
    let runners: Vec<_> = devices
        .iter()
        .map(|(_, d)| tokio::spawn(d.clone().run(client.clone(), url.clone(), every)))
        .collect();
    say(start, "all three devices are up and beating");
    tokio::time::sleep(timeout).await;

    let (home, office) = (&devices[0].1, &devices[1].1);
    say(start, "✂  Home loses power (its device goes dark)");
    home.powered.store(false, Ordering::Relaxed);
    say(
        start,
        "✂  Office loses its internet link (the device keeps running)",
    );
    office.online.store(false, Ordering::Relaxed);
    tokio::time::sleep(timeout * 2).await;

    say(
        start,
        "⚡ power returns at Home: the device boots with a new boot id",
    );
    home.power_on();
    say(
        start,
        "🌐 the Office link comes back: same boot id, uptime kept counting",
    );
    office.online.store(true, Ordering::Relaxed);
    tokio::time::sleep(timeout).await;

    for r in &runners {
        r.abort();
    }
    println!("\nWhat the monitor recorded:");
    let events = monitor.store.list_events(&EventFilter::default()).await?;
    for (id, d) in &devices {
        let mine: Vec<_> = events.iter().filter(|e| e.location_id == *id).collect();
        let (status, _) = monitor
            .engine
            .status_of(*id)
            .unwrap_or((outage_core::Status::Unknown, None));
        if mine.is_empty() {
            println!("  {:<7} status {status}, no outage", d.name);
        }
        for e in mine {
            let dur = e
                .started_at
                .zip(e.ended_at)
                .map(|(s, end)| outage_core::notify::human_duration(end - s))
                .unwrap_or_else(|| "ongoing".into());
            println!(
                "  {:<7} status {status}, outage of {dur}, cause: {}",
                d.name, e.cause
            );
        }
    }
    monitor.stop().await;
    println!(
        "\nTry it for real: `outage-monitor serve`, then `outage-monitor location add --name Home`."
    );
    Ok(())
}
