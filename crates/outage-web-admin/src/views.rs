//! What the pages show, computed from the store and the live engine: badge states, times in
//! the monitor's zone, durations, today's hours without power.

use chrono::{DateTime, TimeDelta, Utc};
use chrono_tz::Tz;
use outage_core::availability::{Period, Timeline, local_date, local_midnight};
use outage_core::store::{LocationRecord, StoreError};
use outage_core::{Cause, LocationId, PowerEvent, Status};

use crate::i18n::T;
use crate::pages::{EventRow, Row};
use crate::state::Inner;

/// A time in the monitor's zone, to the minute.
pub fn local(tz: Tz, t: DateTime<Utc>) -> String {
    t.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string()
}

/// A duration as `45 s`, `12 min` or `3 h 05 min`.
pub fn duration(d: TimeDelta) -> String {
    let s = d.num_seconds().max(0);
    if s < 60 {
        format!("{s} s")
    } else if s < 3600 {
        format!("{} min", s / 60)
    } else {
        format!("{} h {:02} min", s / 3600, (s % 3600) / 60)
    }
}

/// The location or `NotFound`.
pub async fn record(inner: &Inner, id: LocationId) -> Result<LocationRecord, StoreError> {
    inner
        .store
        .get_location(id)
        .await?
        .ok_or_else(|| StoreError::NotFound {
            what: format!("location {id}"),
        })
}

/// The badge state: the engine's live status when it knows the location, else the stored one;
/// an outage known to be only the network shows as `network`.
fn state(
    inner: &Inner,
    rec: &LocationRecord,
    now: DateTime<Utc>,
) -> (&'static str, Option<DateTime<Utc>>) {
    let (status, seen) = inner
        .engine
        .status_of(rec.location.id)
        .map(|(s, seen)| (s, seen.or(rec.runtime.last_seen)))
        .unwrap_or_else(|| (rec.shown_status(now), rec.runtime.last_seen));
    let status = if rec.location.paused_until.is_some_and(|u| u > now) {
        Status::Paused
    } else {
        status
    };
    let network = rec
        .runtime
        .open_event
        .as_ref()
        .is_some_and(|e| e.cause == Cause::Network);
    let s = match status {
        Status::Down if network => "network",
        s => s.as_str(),
    };
    (s, seen)
}

/// One row of the list (also the head of the detail page).
pub async fn row(
    inner: &Inner,
    t: &'static T,
    rec: &LocationRecord,
    now: DateTime<Utc>,
) -> Result<Row, StoreError> {
    let (start, end) = today_span(inner, now);
    let intervals = inner
        .store
        .list_intervals(rec.location.id, start, end)
        .await?;
    Ok(row_of(inner, t, rec, now, &intervals))
}

/// Local midnight of today and `now` (never before it): the span of "today's hours off".
fn today_span(inner: &Inner, now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    let start = local_midnight(
        inner.settings.timezone,
        local_date(inner.settings.timezone, now),
    );
    (start, now.max(start))
}

/// A row from the location and its intervals of today.
fn row_of(
    inner: &Inner,
    t: &'static T,
    rec: &LocationRecord,
    now: DateTime<Utc>,
    intervals: &[outage_core::StateInterval],
) -> Row {
    let tz = inner.settings.timezone;
    let (state, seen) = state(inner, rec, now);
    let today = local_date(tz, now);
    let off = Timeline::new(intervals, now)
        .availability(&Period::day(tz, today))
        .minutes_without_power();
    let outage_for = match (state, &rec.runtime.open_event) {
        ("down" | "network", Some(e)) => e.duration(now).map(duration),
        _ => None,
    }
    .unwrap_or_else(|| t.nothing.into());
    Row {
        id: rec.location.id.0,
        name: rec.location.name.clone(),
        state,
        label: t.status_label(state),
        last_seen: seen.map(|s| local(tz, s)).unwrap_or_else(|| t.never.into()),
        outage_for,
        today_off: duration(TimeDelta::minutes(off)),
        enabled: rec.location.enabled,
    }
}

/// Every location's row, by name.
pub async fn rows(inner: &Inner, t: &'static T) -> Result<Vec<Row>, StoreError> {
    let now = inner.clock.now();
    let mut recs = inner.store.list_locations().await?;
    recs.sort_by(|a, b| a.location.name.cmp(&b.location.name));
    // One `list_intervals` per location: issued all at once, so a pooled store (SQLite's
    // reader connections) overlaps their round trips instead of paying them one after another.
    let (start, end) = today_span(inner, now);
    // At most `IN_FLIGHT` at a time, so 100 000 locations do not mean 100 000 tasks at once.
    const IN_FLIGHT: usize = 64;
    let mut intervals = vec![Vec::new(); recs.len()];
    let mut set = tokio::task::JoinSet::new();
    for (i, rec) in recs.iter().enumerate() {
        if set.len() >= IN_FLIGHT
            && let Some(joined) = set.join_next().await
        {
            let (j, found) = joined.map_err(|e| StoreError::Other(e.to_string()))?;
            intervals[j] = found?;
        }
        let store = inner.store.clone();
        let id = rec.location.id;
        set.spawn(async move { (i, store.list_intervals(id, start, end).await) });
    }
    while let Some(joined) = set.join_next().await {
        let (i, found) = joined.map_err(|e| StoreError::Other(e.to_string()))?;
        intervals[i] = found?;
    }
    Ok(recs
        .iter()
        .zip(&intervals)
        .map(|(rec, iv)| row_of(inner, t, rec, now, iv))
        .collect())
}

/// `GET /admin/api/status`: `[{"id", "status", "label", "last_seen", "outage_for"}]` for the
/// polling script.
pub async fn status_json(inner: &Inner, t: &'static T) -> Result<String, StoreError> {
    let now = inner.clock.now();
    let tz = inner.settings.timezone;
    let recs = inner.store.list_locations().await?;
    let items: Vec<_> = recs
        .iter()
        .map(|rec| {
            let (s, seen) = state(inner, rec, now);
            let outage_for = match (s, &rec.runtime.open_event) {
                ("down" | "network", Some(e)) => e.duration(now).map(duration),
                _ => None,
            };
            serde_json::json!({
                "id": rec.location.id.0,
                "status": s,
                "label": t.status_label(s),
                "last_seen": seen.map(|x| local(tz, x)).unwrap_or_else(|| t.never.into()),
                "outage_for": outage_for.unwrap_or_else(|| t.nothing.into()),
            })
        })
        .collect();
    Ok(serde_json::Value::Array(items).to_string())
}

/// One outage of the detail table.
pub fn event_row(t: &'static T, tz: Tz, e: &PowerEvent, now: DateTime<Utc>) -> EventRow {
    EventRow {
        start: e
            .started_at
            .map(|s| local(tz, s))
            .unwrap_or_else(|| "?".into()),
        end: e
            .ended_at
            .map(|s| local(tz, s))
            .unwrap_or_else(|| t.ongoing.into()),
        duration: e.duration(now).map(duration).unwrap_or_else(|| "?".into()),
        cause: e.cause.as_str().into(),
    }
}
