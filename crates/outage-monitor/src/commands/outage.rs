//! `outage list`: the recorded outages, newest first.

use anyhow::Result;
use chrono::Utc;
use outage_core::LocationId;
use outage_core::config::Config;
use outage_core::store::EventFilter;

use super::json::event_json;
use crate::context::{open_store_or_empty, print_json, print_table, resolve, rfc3339};

/// `outage list [--location L] [--limit N] [--json]`.
pub async fn list(cfg: Config, location: Option<String>, limit: u32, json: bool) -> Result<()> {
    let store = open_store_or_empty(&cfg).await?;
    let loc = match location {
        Some(l) => Some(resolve(&*store, &l).await?),
        None => None,
    };
    let names: std::collections::HashMap<_, _> = store
        .list_locations()
        .await?
        .into_iter()
        .map(|r| (r.location.id, r.location.name))
        .collect();
    let events = store
        .list_events(&EventFilter {
            location_id: loc.map(|r| r.location.id),
            limit: Some(limit),
            ..EventFilter::default()
        })
        .await?;
    let name = |id: &LocationId| names.get(id).cloned().unwrap_or_else(|| id.to_string());
    if json {
        print_json(
            &events
                .iter()
                .map(|e| event_json(e, &name(&e.location_id)))
                .collect::<Vec<_>>(),
        );
        return Ok(());
    }
    if events.is_empty() {
        println!("No outages recorded.");
        return Ok(());
    }
    let now = Utc::now();
    let rows: Vec<Vec<String>> = events
        .iter()
        .map(|e| {
            vec![
                name(&e.location_id),
                e.started_at.map_or("(unknown)".into(), rfc3339),
                e.ended_at.map_or("ongoing".into(), rfc3339),
                e.duration(now)
                    .map_or("?".into(), outage_core::notify::human_duration),
                e.cause.to_string(),
            ]
        })
        .collect();
    print_table(
        &["LOCATION", "STARTED", "ENDED", "DURATION", "CAUSE"],
        &rows,
    );
    Ok(())
}
