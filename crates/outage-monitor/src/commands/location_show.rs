//! `location show` (the details, or `--device-config` settings for a device) and
//! `location test-alert`.

use anyhow::{Result, bail};
use chrono::{DateTime, Utc};
use outage_core::config::Config;
use outage_core::keys::{KeyHash, generate_key};
use outage_core::store::{EventFilter, LocationRecord, StatusStore};
use serde_json::json;

use super::json::{event_json, location_json};
use crate::cli::DeviceKind;
use crate::context::{ago, notifiers_or_console, print_json, rfc3339};

/// `location show --device-config KIND [--new-key]`.
pub async fn device_config(
    cfg: &Config,
    store: &dyn StatusStore,
    r: &LocationRecord,
    kind: DeviceKind,
    new_key: bool,
) -> Result<()> {
    let loopback = cfg.server.public_url.is_none()
        && cfg
            .server
            .listen
            .parse::<std::net::SocketAddr>()
            .is_ok_and(|a| a.ip().is_loopback());
    if loopback {
        eprintln!(
            "note: devices are told to use {}, which only this machine can reach; \
             set server.public_url (and server.listen = \"0.0.0.0:8080\") first",
            cfg.server.base_url()
        );
    }
    let key = if new_key {
        let key = generate_key();
        store
            .set_key_hash(r.location.id, KeyHash::of(key.expose()))
            .await?;
        eprintln!(
            "A new API key was made for \"{}\"; the old one no longer works.",
            r.location.name
        );
        Some(key)
    } else {
        None
    };
    print!(
        "{}",
        device_settings(cfg, r, kind, key.as_ref().map(|k| k.expose()))
    );
    Ok(())
}

/// `location show`: status, last heartbeat, device facts and the latest outages.
pub async fn show(
    store: &dyn StatusStore,
    r: &LocationRecord,
    json: bool,
    now: DateTime<Utc>,
) -> Result<()> {
    let events = store
        .list_events(&EventFilter {
            location_id: Some(r.location.id),
            limit: Some(5),
            ..EventFilter::default()
        })
        .await?;
    if json {
        let mut v = location_json(r, now);
        v["last_facts"] = serde_json::to_value(&r.runtime.last_facts)?;
        v["recent_outages"] = json!(
            events
                .iter()
                .map(|e| event_json(e, &r.location.name))
                .collect::<Vec<_>>()
        );
        print_json(&v);
        return Ok(());
    }
    let l = &r.location;
    println!("{} \"{}\"", l.id, l.name);
    println!("  status:     {}", r.shown_status(now));
    println!(
        "  last seen:  {}",
        r.runtime.last_seen.map_or("never".into(), |t| format!(
            "{} ({})",
            rfc3339(t),
            ago(now, t)
        ))
    );
    println!("  timeout:    {}", humantime::format_duration(l.timeout));
    println!(
        "  chat:       {}",
        l.chat_id.as_deref().unwrap_or("(notifier default)")
    );
    let routes: Vec<String> = l.routes.iter().map(ToString::to_string).collect();
    println!(
        "  alerts to:  {}",
        if routes.is_empty() {
            "every configured notifier".to_string()
        } else {
            routes.join(", ")
        }
    );
    println!("  enabled:    {}", l.enabled);
    if let Some(u) = l.paused_until {
        println!("  paused until {}", rfc3339(u));
    }
    let f = &r.runtime.last_facts;
    if let Some(b) = &f.boot_id {
        println!(
            "  device:     boot {b}, uptime {}s, fw {}",
            f.uptime_s.unwrap_or(0),
            f.fw.as_deref().unwrap_or("?")
        );
    }
    if !events.is_empty() {
        println!("  recent outages:");
        for e in &events {
            println!(
                "    {} → {}  {}",
                e.started_at.map_or("(start unknown)".into(), rfc3339),
                e.ended_at.map_or("ongoing".into(), rfc3339),
                e.cause
            );
        }
    }
    Ok(())
}

/// `location test-alert`: one test message per notifier, delivered directly.
pub async fn test_alert(cfg: &Config, loc: &outage_core::Location, json: bool) -> Result<()> {
    let notifiers = notifiers_or_console(cfg)?;
    if !loc.enabled {
        eprintln!(
            "note: \"{}\" is disabled: the monitor sends no alerts for it until `location edit --enable`",
            loc.name
        );
    }
    let results = outage_core::device::send_test_alert(&notifiers, loc, Utc::now()).await;
    if json {
        print_json(&results);
    } else {
        for r in &results {
            match (&r.error, &r.message_id) {
                (Some(e), _) => println!("{} → {}: FAILED: {e}", r.notifier, r.chat),
                (None, Some(m)) => println!("{} → {}: sent (message {m})", r.notifier, r.chat),
                (None, None) => println!("{} → {}: sent", r.notifier, r.chat),
            }
        }
    }
    if results.iter().any(|r| !r.ok) {
        bail!("the test message could not be sent everywhere (see above)");
    }
    Ok(())
}

/// Ready-to-use settings for a device of `kind` at location `r`; `key` fills in the API key
/// when it is known (just made), otherwise a placeholder stands in.
fn device_settings(
    cfg: &Config,
    r: &LocationRecord,
    kind: DeviceKind,
    key: Option<&str>,
) -> String {
    use outage_core::device::DeviceKind as D;
    let kind = match kind {
        DeviceKind::Esp32 => D::Esp32,
        DeviceKind::Esphome => D::Esphome,
        DeviceKind::Sh => D::Sh,
        DeviceKind::Curl => D::Curl,
    };
    let text = outage_core::device::device_settings(&cfg.server.base_url(), &r.location, kind, key);
    if key.is_none() {
        // The CLI names its own way to a new key.
        return text.replace(
            "make a new one (rotate) and fill it in.",
            "add --new-key to make a new one and fill it in.",
        );
    }
    text
}
