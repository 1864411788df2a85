//! Sample weeks shared by the examples, the benchmark and the tests (included with `#[path]`).
#![allow(dead_code)]

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Europe::Kyiv;
use chrono_tz::Tz;
use outage_core::domain::{IntervalKind, LocationId, StateInterval};
use outage_core::render::{Language, WeekDiagram};

/// A wall-clock time in Kyiv (`"2026-11-23 08:15"`), or a UTC instant (`"2026-10-25T01:30:00Z"`)
/// where the wall clock is ambiguous.
pub fn at(s: &str) -> DateTime<Utc> {
    if s.ends_with('Z') {
        return DateTime::parse_from_rfc3339(s)
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_else(|e| panic!("{s}: {e}"));
    }
    let naive =
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap_or_else(|e| panic!("{s}: {e}"));
    Kyiv.from_local_datetime(&naive)
        .single()
        .unwrap_or_else(|| panic!("{s} is not a unique Kyiv time"))
        .with_timezone(&Utc)
}

/// Consecutive intervals from `(start, kind)` changes; the last one is open.
pub fn history(changes: &[(&str, IntervalKind)]) -> Vec<StateInterval> {
    changes
        .iter()
        .enumerate()
        .map(|(i, (start, kind))| StateInterval {
            location_id: LocationId(1),
            kind: *kind,
            start: at(start),
            end: changes.get(i + 1).map(|(s, _)| at(s)),
        })
        .collect()
}

fn week(
    name: &str,
    monday: &str,
    now: &str,
    lang: Language,
    intervals: Vec<StateInterval>,
) -> WeekDiagram {
    WeekDiagram {
        location_name: name.to_string(),
        monday: NaiveDate::parse_from_str(monday, "%Y-%m-%d").unwrap_or_else(|e| panic!("{e}")),
        tz: Kyiv,
        intervals,
        now: at(now),
        language: lang,
    }
}

use IntervalKind::{Down, Network, Paused, Unknown, Up};

/// A quiet week in English, seen on Thursday afternoon: one short outage.
pub fn quiet_week() -> WeekDiagram {
    week(
        "Home",
        "2026-11-23",
        "2026-11-26 15:40",
        Language::En,
        history(&[
            ("2026-11-20 09:00", Up),
            ("2026-11-24 19:05", Down),
            ("2026-11-24 19:47", Up),
        ]),
    )
}

/// A bad week in Ukrainian, seen on Sunday evening: scheduled-looking outages every day, one
/// across midnight, a network drop, the monitor offline for a while, a maintenance pause.
pub fn bad_week() -> WeekDiagram {
    week(
        "Дім",
        "2026-11-16",
        "2026-11-22 18:20",
        Language::Uk,
        history(&[
            ("2026-11-15 12:00", Up),
            ("2026-11-16 06:02", Down),
            ("2026-11-16 09:58", Up),
            ("2026-11-16 17:01", Down),
            ("2026-11-16 20:55", Up),
            ("2026-11-17 09:00", Down),
            ("2026-11-17 13:04", Up),
            ("2026-11-17 20:00", Down),
            ("2026-11-17 23:10", Up),
            ("2026-11-18 02:57", Down),
            ("2026-11-18 07:03", Up),
            ("2026-11-18 11:20", Network),
            ("2026-11-18 12:35", Up),
            ("2026-11-18 14:00", Down),
            ("2026-11-18 18:00", Up),
            ("2026-11-19 03:10", Unknown),
            ("2026-11-19 05:25", Up),
            ("2026-11-19 10:00", Down),
            ("2026-11-19 14:02", Up),
            ("2026-11-19 21:00", Down),
            ("2026-11-19 23:55", Up),
            ("2026-11-20 05:00", Down),
            ("2026-11-20 08:40", Up),
            ("2026-11-20 22:30", Down),
            ("2026-11-21 02:15", Up),
            ("2026-11-21 12:00", Down),
            ("2026-11-21 16:05", Up),
            ("2026-11-22 07:30", Paused),
            ("2026-11-22 08:30", Up),
            ("2026-11-22 13:00", Down),
        ]),
    )
}

/// The spring DST week (Sunday 2026-03-29 has 23 hours), with an outage across the change.
pub fn spring_dst_week(lang: Language) -> WeekDiagram {
    week(
        "Home",
        "2026-03-23",
        "2026-03-30 09:00",
        lang,
        history(&[
            ("2026-03-20 00:00", Up),
            ("2026-03-25 10:00", Down),
            ("2026-03-25 12:30", Up),
            ("2026-03-28 22:00", Down),
            ("2026-03-29 05:00", Up),
        ]),
    )
}

/// The autumn DST week (Sunday 2026-10-25 has 25 hours), with an outage inside the repeated
/// hour: from the first 03:20 (EEST) to the second 03:40 (EET).
pub fn autumn_dst_week(lang: Language) -> WeekDiagram {
    week(
        "Home",
        "2026-10-19",
        "2026-10-26 09:00",
        lang,
        history(&[
            ("2026-10-15 00:00", Up),
            ("2026-10-21 18:00", Network),
            ("2026-10-21 19:30", Up),
            ("2026-10-25T00:20:00Z", Down),
            ("2026-10-25T01:40:00Z", Up),
        ]),
    )
}

/// A zone and week for arbitrary experiments.
pub fn custom(
    name: &str,
    tz: Tz,
    monday: NaiveDate,
    now: DateTime<Utc>,
    lang: Language,
    intervals: Vec<StateInterval>,
) -> WeekDiagram {
    WeekDiagram {
        location_name: name.to_string(),
        monday,
        tz,
        intervals,
        now,
        language: lang,
    }
}
