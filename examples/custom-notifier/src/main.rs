//! Example: embedding `outage-core` in your own program, with the SQLite store and a notifier
//! written here — it POSTs every alert as JSON to a webhook URL.
//!
//! ```sh
//! cargo run -p custom-notifier -- --webhook http://127.0.0.1:9000/hook
//! ```
//!
//! It creates a location in a SQLite file, feeds it heartbeats from a simulated device, stops
//! them (a power cut), resumes them with a new boot id, and exits. Your webhook receives the
//! outage and the restore. Replace the simulated device with your own transport (MQTT, serial,
//! an HTTP server) by calling `engine.heartbeat(key, facts)`.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use async_trait::async_trait;
use outage_core::engine::{Engine, EngineConfig};
use outage_core::keys::{KeyHash, generate_key};
use outage_core::metrics::Metrics;
use outage_core::notify::{Alert, DeliveryContext, Notifier, NotifyError};
use outage_core::registry;
use outage_core::store::StoreOptions;
use outage_core::{DeviceFacts, HeartbeatSink, MessageRef, NewLocation, SystemClock};
// Linking the store crate registers the "sqlite" store plugin.
use outage_store_sqlite as _;

/// A notifier that POSTs each alert as JSON. The error variants tell the engine's delivery
/// worker what to do: retry later, retry after a given time, or give up.
#[derive(Debug)]
struct WebhookNotifier {
    url: String,
    client: reqwest::Client,
}

#[async_trait]
impl Notifier for WebhookNotifier {
    fn name(&self) -> &str {
        "webhook"
    }

    async fn deliver(
        &self,
        alert: &Alert,
        ctx: &DeliveryContext,
    ) -> Result<Option<MessageRef>, NotifyError> {
        let response = self
            .client
            .post(&self.url)
            .json(alert)
            .send()
            .await
            .map_err(|e| NotifyError::Transient(e.without_url().to_string()))?;
        let status = response.status();
        if status.as_u16() == 429 {
            return Err(NotifyError::RateLimited {
                retry_after: Duration::from_secs(30),
            });
        }
        if status.is_server_error() {
            return Err(NotifyError::Transient(format!("webhook answered {status}")));
        }
        if !status.is_success() {
            return Err(NotifyError::Permanent(format!("webhook answered {status}")));
        }
        Ok(Some(MessageRef {
            notifier: self.name().into(),
            chat: ctx.chat.clone(),
            message_id: alert.at.timestamp_millis().to_string(),
        }))
    }
}

struct Args {
    webhook: String,
    db: String,
    timeout: Duration,
}

fn parse_args() -> Result<Args> {
    let mut args = Args {
        webhook: String::new(),
        db: "sqlite::memory:".into(),
        timeout: Duration::from_secs(2),
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = || it.next().with_context(|| format!("{a} needs a value"));
        match a.as_str() {
            "--webhook" => args.webhook = value()?,
            "--db" => args.db = value()?,
            "--timeout-ms" => {
                args.timeout = Duration::from_millis(value()?.parse().context("--timeout-ms")?)
            }
            "-h" | "--help" => {
                println!(
                    "usage: custom-notifier --webhook URL [--db sqlite://file.db] [--timeout-ms 2000]"
                );
                std::process::exit(0);
            }
            other => bail!("unknown argument {other} (try --help)"),
        }
    }
    if args.webhook.is_empty() {
        bail!("--webhook URL is required");
    }
    Ok(args)
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = parse_args()?;
    let store = registry::open_store(StoreOptions {
        url: args.db.clone(),
        pool: 1,
        busy_timeout: Duration::from_secs(5),
    })
    .await?;
    store.migrate().await?;
    let key = generate_key();
    let location = store
        .create_location(
            &NewLocation {
                routes: Vec::new(),
                name: "Workshop".into(),
                timeout: args.timeout,
                chat_id: None,
            },
            KeyHash::of(key.expose()),
            chrono::Utc::now(),
        )
        .await?;
    let webhook: Arc<dyn Notifier> = Arc::new(WebhookNotifier {
        url: args.webhook.clone(),
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()?,
    });
    let (engine, tasks) = Engine::start(
        store.clone(),
        vec![webhook],
        Arc::new(SystemClock),
        Arc::new(Metrics::default()),
        EngineConfig::default(),
    )
    .await?;
    println!("location {} created; simulating a device", location.id);

    let facts = |boot: &str, uptime_s: u64| DeviceFacts {
        boot_id: Some(boot.into()),
        uptime_s: Some(uptime_s),
        ..DeviceFacts::default()
    };
    let step = args.timeout / 4;
    for i in 0..4 {
        engine
            .heartbeat(key.expose(), facts("boot-1", 600 + i))
            .await?;
        tokio::time::sleep(step).await;
    }
    println!("power cut: no heartbeats for {:?}", args.timeout * 2);
    tokio::time::sleep(args.timeout * 2).await;
    println!("power back: the device boots again");
    for i in 0..4 {
        engine
            .heartbeat(key.expose(), facts("boot-2", 1 + i))
            .await?;
        tokio::time::sleep(step).await;
    }
    let stats = store.outbox_stats().await?;
    tasks.shutdown().await;
    println!(
        "delivered {} notification(s), {} pending, {} failed",
        stats.delivered, stats.pending, stats.failed
    );
    if stats.delivered < 2 {
        bail!("expected the outage and the restore to reach the webhook");
    }
    Ok(())
}
