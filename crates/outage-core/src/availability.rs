//! Availability figures computed from state intervals (per local day / ISO week / month), and
//! the local-time helpers they need: ISO weeks (`YYYY-Www`), local day boundaries that are
//! correct across DST changes, and the wall-clock layout of a local day.
//!
//! Everything here is a pure function of its inputs (chrono + chrono-tz only): the caller
//! fetches the [`StateInterval`]s of one location from its store and passes `now`.
//!
//! # Semantics
//!
//! * A **local day** is `[local_midnight(d), local_midnight(d + 1))` in the monitor's time
//!   zone, so it lasts 23 h or 25 h on DST change days (e.g. Europe/Kyiv on 2026-03-29 and
//!   2026-10-25). Where a midnight does not exist (a zone that springs forward at 00:00), the day
//!   starts at the first instant of that date; where it exists twice, at the first one.
//! * A **week** is an ISO 8601 week (Monday to Sunday, [`IsoWeek`]); a **month** a calendar month;
//!   both cut at local midnights.
//! * Intervals are normalised by [`Timeline::new`]: open intervals end at `now`, nothing is
//!   counted after `now` (the future is not part of any total), an interval is cut where the
//!   next one (by start) begins, and adjacent intervals of the same kind are merged.
//! * Time in the past of a period that no interval covers is `no_data` (e.g. before the location
//!   was created); it is not counted as any state.
//! * An **outage** is a maximal run of [`IntervalKind::Down`] time (adjacent down intervals count
//!   once). `outages` counts the runs that *start* in the period, so the counts of the days of a
//!   week add up to the week's count and an outage crossing midnight is counted on the day it
//!   began. `longest_outage` is the full length (until `now` if still going on) of the longest
//!   run that *overlaps* the period, including the part outside it: an outage from 22:00 to
//!   02:00 is a 4 h outage on both days, and contributes 2 h of `down` time to each. Network
//!   drops ([`IntervalKind::Network`]: the device kept its power) are counted separately.
//!   The counts come from the state intervals alone (not from `PowerEvent`s) so that minutes,
//!   counts and the diagram always agree; an outage interrupted by an `unknown` stretch (the
//!   monitor itself was offline) therefore counts as two outages.
//! * Durations are exact ([`TimeDelta`]); [`Availability::row`] rounds them to whole minutes
//!   for reports, so rounded daily figures may differ by a minute from the rounded weekly one.

use std::fmt;
use std::str::FromStr;

use chrono::offset::LocalResult;
use chrono::{
    DateTime, Datelike, Days, Months, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeDelta,
    TimeZone, Utc, Weekday,
};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::domain::{IntervalKind, StateInterval};

/// Why an ISO week could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid ISO week `{input}`: {reason} (expected YYYY-Www, e.g. 2026-W13)")]
pub struct ParseIsoWeekError {
    input: String,
    reason: &'static str,
}

/// An ISO 8601 week: Monday to Sunday, numbered 1..=52 or 53 within its ISO year.
///
/// Written `YYYY-Www` (`2026-W13`); [`FromStr`] also accepts the basic form `2026W13` and a
/// lowercase `w`. Serialised as the string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IsoWeek {
    year: i32,
    week: u32,
}

impl IsoWeek {
    /// The week `week` of ISO year `year`, or `None` when that year has no such week.
    pub fn new(year: i32, week: u32) -> Option<Self> {
        NaiveDate::from_isoywd_opt(year, week, Weekday::Mon)?;
        Some(Self { year, week })
    }

    /// The ISO week containing `date`.
    pub fn of(date: NaiveDate) -> Self {
        let w = date.iso_week();
        Self {
            year: w.year(),
            week: w.week(),
        }
    }

    /// The ISO week containing the instant `t` on the wall clock of `tz`.
    pub fn of_instant(t: DateTime<Utc>, tz: Tz) -> Self {
        Self::of(local_date(tz, t))
    }

    /// The ISO year (differs from the calendar year around New Year).
    pub fn year(self) -> i32 {
        self.year
    }

    /// The week number, 1..=53.
    pub fn week(self) -> u32 {
        self.week
    }

    /// The Monday of the week.
    pub fn monday(self) -> NaiveDate {
        // `new` and `of` only build weeks that exist; MIN keeps this total without a panic.
        NaiveDate::from_isoywd_opt(self.year, self.week, Weekday::Mon).unwrap_or(NaiveDate::MIN)
    }

    /// The Sunday of the week.
    pub fn sunday(self) -> NaiveDate {
        self.monday() + Days::new(6)
    }

    /// The seven dates, Monday first.
    pub fn days(self) -> [NaiveDate; 7] {
        let monday = self.monday();
        std::array::from_fn(|i| monday + Days::new(i as u64))
    }

    /// The following week.
    pub fn succ(self) -> Self {
        Self::of(self.monday() + Days::new(7))
    }

    /// The preceding week.
    pub fn pred(self) -> Self {
        Self::of(self.monday() - Days::new(7))
    }

    /// First instant of the week in `tz`: local midnight starting its Monday.
    pub fn start(self, tz: Tz) -> DateTime<Utc> {
        local_midnight(tz, self.monday())
    }

    /// End (exclusive) of the week in `tz`: local midnight starting the next Monday.
    pub fn end(self, tz: Tz) -> DateTime<Utc> {
        local_midnight(tz, self.monday() + Days::new(7))
    }

    /// The week as a [`Period`] in `tz`, labelled `YYYY-Www`.
    pub fn period(self, tz: Tz) -> Period {
        Period {
            granularity: Granularity::Week,
            label: self.to_string(),
            start: self.start(tz),
            end: self.end(tz),
        }
    }
}

impl fmt::Display for IsoWeek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-W{:02}", self.year, self.week)
    }
}

impl FromStr for IsoWeek {
    type Err = ParseIsoWeekError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason| ParseIsoWeekError {
            input: s.to_string(),
            reason,
        };
        let t = s.trim();
        let (year, week) = t.split_once(['W', 'w']).ok_or_else(|| err("missing `W`"))?;
        let year = year.strip_suffix('-').unwrap_or(year);
        if year.len() != 4 || !year.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err("the year must have four digits"));
        }
        if week.len() != 2 || !week.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err("the week must have two digits"));
        }
        let year: i32 = year.parse().map_err(|_| err("bad year"))?;
        let week: u32 = week.parse().map_err(|_| err("bad week"))?;
        Self::new(year, week).ok_or_else(|| err("that year has no such week"))
    }
}

impl Serialize for IsoWeek {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for IsoWeek {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The local calendar date of instant `t` in `tz`.
pub fn local_date(tz: Tz, t: DateTime<Utc>) -> NaiveDate {
    t.with_timezone(&tz).date_naive()
}

/// The UTC offset of `tz` at instant `t`, in seconds east of UTC.
pub fn utc_offset_secs(tz: Tz, t: DateTime<Utc>) -> i32 {
    tz.offset_from_utc_datetime(&t.naive_utc())
        .fix()
        .local_minus_utc()
}

/// The first instant whose local date in `tz` is `date` (or later): local midnight.
///
/// Where midnight happens twice (clocks go back from 01:00 to 00:00) this is the first one;
/// where it does not exist (clocks go forward from 00:00 to 01:00) it is the instant of the
/// change, whose local time is 01:00. A date skipped entirely (Pacific/Apia, 2011-12-30)
/// gets the same instant as the next date, i.e. an empty day.
pub fn local_midnight(tz: Tz, date: NaiveDate) -> DateTime<Utc> {
    let naive = date.and_time(NaiveTime::MIN);
    match tz.from_local_datetime(&naive) {
        LocalResult::Single(t) => t.with_timezone(&Utc),
        LocalResult::Ambiguous(a, b) => a.with_timezone(&Utc).min(b.with_timezone(&Utc)),
        LocalResult::None => first_instant_at_or_after(tz, naive),
    }
}

/// Binary search for the first instant whose local time is `>= local`. UTC offsets stay
/// within ±16 h, so the answer lies within 16 h of `local` read as UTC.
fn first_instant_at_or_after(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    let local_at = |secs: i64| {
        DateTime::from_timestamp(secs, 0)
            .map(|t| t.with_timezone(&tz).naive_local())
            .unwrap_or(NaiveDateTime::MAX)
    };
    let guess = local.and_utc().timestamp();
    let (mut lo, mut hi) = (guess - 16 * 3600, guess + 16 * 3600);
    // Invariant: local_at(lo) < local <= local_at(hi).
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if local_at(mid) >= local {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    DateTime::from_timestamp(hi, 0).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// How reports group time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Granularity {
    /// Local days.
    Day,
    /// ISO weeks (Monday to Sunday).
    Week,
    /// Calendar months.
    Month,
}

impl Granularity {
    /// The lowercase name used in CLI flags and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Granularity::Day => "day",
            Granularity::Week => "week",
            Granularity::Month => "month",
        }
    }

    /// Parses [`Granularity::as_str`] output.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "day" => Granularity::Day,
            "week" => Granularity::Week,
            "month" => Granularity::Month,
            _ => return None,
        })
    }
}

/// A stretch of time `[start, end)` cut at local midnights, with a label:
/// `2026-03-29` for a day, `2026-W13` for a week, `2026-03` for a month.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Period {
    /// Day, week or month.
    pub granularity: Granularity,
    /// Human and machine readable label.
    pub label: String,
    /// Inclusive start.
    pub start: DateTime<Utc>,
    /// Exclusive end.
    pub end: DateTime<Utc>,
}

impl Period {
    /// The local day `date` in `tz` (23 h or 25 h on DST change days).
    pub fn day(tz: Tz, date: NaiveDate) -> Self {
        Self {
            granularity: Granularity::Day,
            label: date.format("%Y-%m-%d").to_string(),
            start: local_midnight(tz, date),
            end: local_midnight(tz, date + Days::new(1)),
        }
    }

    /// The ISO week `week` in `tz`.
    pub fn week(tz: Tz, week: IsoWeek) -> Self {
        week.period(tz)
    }

    /// The calendar month `month` (1..=12) of `year` in `tz`; `None` for an invalid month.
    pub fn month(tz: Tz, year: i32, month: u32) -> Option<Self> {
        let first = NaiveDate::from_ymd_opt(year, month, 1)?;
        let next = first.checked_add_months(Months::new(1))?;
        Some(Self {
            granularity: Granularity::Month,
            label: first.format("%Y-%m").to_string(),
            start: local_midnight(tz, first),
            end: local_midnight(tz, next),
        })
    }

    /// Length of the period.
    pub fn length(&self) -> TimeDelta {
        self.end - self.start
    }

    /// Whether `t` lies in `[start, end)`.
    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        self.start <= t && t < self.end
    }
}

/// The days, ISO weeks or months of `tz` that overlap the local dates `from..=to` (whole
/// periods: a week or month is never cut short). Empty when `from > to`.
pub fn periods(tz: Tz, from: NaiveDate, to: NaiveDate, granularity: Granularity) -> Vec<Period> {
    let mut out = Vec::new();
    if from > to {
        return out;
    }
    match granularity {
        Granularity::Day => {
            for d in from.iter_days().take_while(|d| *d <= to) {
                out.push(Period::day(tz, d));
            }
        }
        Granularity::Week => {
            let last = IsoWeek::of(to);
            let mut w = IsoWeek::of(from);
            while w <= last {
                out.push(w.period(tz));
                w = w.succ();
            }
        }
        Granularity::Month => {
            let (mut y, mut m) = (from.year(), from.month());
            while (y, m) <= (to.year(), to.month()) {
                if let Some(p) = Period::month(tz, y, m) {
                    out.push(p);
                }
                (y, m) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
            }
        }
    }
    out
}

/// A stretch of a local day during which the UTC offset does not change, with the wall-clock
/// time at which it starts. A day without a DST change has one span starting at 00:00; the day
/// of a change has two, whose clock ranges leave a gap (spring: the skipped hour) or overlap
/// (autumn: the repeated hour).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockSpan {
    /// Inclusive start instant.
    pub start: DateTime<Utc>,
    /// Exclusive end instant.
    pub end: DateTime<Utc>,
    /// Wall-clock time at `start`, as the time since local midnight on the clock face
    /// (`0..24 h`).
    pub clock_start: TimeDelta,
    /// UTC offset during the span, seconds east of UTC.
    pub offset_secs: i32,
}

impl ClockSpan {
    /// Wall-clock time at `end` (since local midnight on the clock face; `24 h` at most).
    pub fn clock_end(&self) -> TimeDelta {
        self.clock_start + (self.end - self.start)
    }

    /// Wall-clock position of instant `t` (which should lie in the span).
    pub fn clock_at(&self, t: DateTime<Utc>) -> TimeDelta {
        self.clock_start + (t - self.start)
    }
}

/// The instants in `(start, end)` at which the UTC offset of `tz` changes, found by sampling
/// every hour and bisecting to the second (zones change their offset at most once an hour).
pub fn offset_changes(tz: Tz, start: DateTime<Utc>, end: DateTime<Utc>) -> Vec<DateTime<Utc>> {
    let mut out = Vec::new();
    let last = end - TimeDelta::seconds(1);
    if last <= start {
        return out;
    }
    let mut a = start;
    while a < last {
        let b = (a + TimeDelta::hours(1)).min(last);
        let off_a = utc_offset_secs(tz, a);
        if utc_offset_secs(tz, b) != off_a {
            let (mut lo, mut hi) = (a, b);
            // Invariant: offset(lo) == off_a != offset(hi).
            while hi - lo > TimeDelta::seconds(1) {
                let mid = lo + (hi - lo) / 2;
                if utc_offset_secs(tz, mid) == off_a {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
            out.push(hi);
        }
        a = b;
    }
    out
}

/// The wall-clock layout of local day `date` in `tz`: one [`ClockSpan`] per stretch of constant
/// UTC offset, in time order. Empty for a date the zone skipped entirely.
pub fn clock_spans(tz: Tz, date: NaiveDate) -> Vec<ClockSpan> {
    let day = Period::day(tz, date);
    let midnight = date.and_time(NaiveTime::MIN);
    let mut cuts = vec![day.start];
    cuts.extend(offset_changes(tz, day.start, day.end));
    cuts.push(day.end);
    cuts.windows(2)
        .filter(|w| w[0] < w[1])
        .map(|w| ClockSpan {
            start: w[0],
            end: w[1],
            clock_start: w[0].with_timezone(&tz).naive_local() - midnight,
            offset_secs: utc_offset_secs(tz, w[0]),
        })
        .collect()
}

/// A normalised stretch of one state, `[start, end)`, never after `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    /// The state.
    pub kind: IntervalKind,
    /// Inclusive start.
    pub start: DateTime<Utc>,
    /// Exclusive end.
    pub end: DateTime<Utc>,
}

impl Segment {
    /// Length of the segment.
    pub fn length(&self) -> TimeDelta {
        self.end - self.start
    }
}

/// A location's history as sorted, non-overlapping [`Segment`]s (see the module docs for the
/// normalisation rules), ready for any number of period queries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timeline {
    segments: Vec<Segment>,
    now: DateTime<Utc>,
}

impl Timeline {
    /// Normalises `intervals` (of one location; the location id is not looked at) as of `now`.
    pub fn new(intervals: &[StateInterval], now: DateTime<Utc>) -> Self {
        let mut raw: Vec<Segment> = intervals
            .iter()
            .map(|i| Segment {
                kind: i.kind,
                start: i.start,
                end: i.end.unwrap_or(now).min(now),
            })
            .filter(|s| s.start < s.end)
            .collect();
        raw.sort_by_key(|s| s.start);
        let mut segments: Vec<Segment> = Vec::with_capacity(raw.len());
        for i in 0..raw.len() {
            let mut s = raw[i];
            if let Some(next) = raw.get(i + 1) {
                s.end = s.end.min(next.start);
            }
            if s.start >= s.end {
                continue;
            }
            match segments.last_mut() {
                Some(prev) if prev.kind == s.kind && prev.end == s.start => prev.end = s.end,
                _ => segments.push(s),
            }
        }
        Self { segments, now }
    }

    /// All segments, in time order.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// The `now` the timeline was built with.
    pub fn now(&self) -> DateTime<Utc> {
        self.now
    }

    /// The segments overlapping `[start, end)`, cut to it.
    pub fn clip(
        &self,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> impl Iterator<Item = Segment> + '_ {
        let first = self.segments.partition_point(|s| s.end <= start);
        self.segments[first..]
            .iter()
            .take_while(move |s| s.start < end)
            .map(move |s| Segment {
                kind: s.kind,
                start: s.start.max(start),
                end: s.end.min(end),
            })
            .filter(|s| s.start < s.end)
    }

    /// Figures for `period` (see the module docs for what is counted how).
    pub fn availability(&self, period: &Period) -> Availability {
        let elapsed_end = period.end.min(self.now).max(period.start);
        let mut a = Availability {
            period: period.clone(),
            elapsed: elapsed_end - period.start,
            up: TimeDelta::zero(),
            down: TimeDelta::zero(),
            network: TimeDelta::zero(),
            unknown: TimeDelta::zero(),
            paused: TimeDelta::zero(),
            no_data: TimeDelta::zero(),
            outages: 0,
            network_drops: 0,
            longest_outage: None,
        };
        let mut covered = TimeDelta::zero();
        for s in self.clip(period.start, period.end) {
            let d = s.length();
            covered += d;
            *a.slot(s.kind) += d;
        }
        a.no_data = a.elapsed - covered;
        // Runs: segments are merged, so each Down / Network segment is a whole run.
        let first = self.segments.partition_point(|s| s.end <= period.start);
        for s in self.segments[first..]
            .iter()
            .take_while(|s| s.start < period.end)
        {
            match s.kind {
                IntervalKind::Down => {
                    if period.contains(s.start) {
                        a.outages += 1;
                    }
                    let len = s.length();
                    if a.longest_outage.is_none_or(|l| len > l) {
                        a.longest_outage = Some(len);
                    }
                }
                IntervalKind::Network if period.contains(s.start) => a.network_drops += 1,
                _ => {}
            }
        }
        a
    }

    /// Figures for each period, in order.
    pub fn report(&self, periods: &[Period]) -> Vec<Availability> {
        periods.iter().map(|p| self.availability(p)).collect()
    }
}

/// Availability of one location over one [`Period`]. Durations are exact; see
/// [`Availability::row`] for whole minutes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Availability {
    /// The period.
    pub period: Period,
    /// The part of the period up to `now` (the whole period once it is over).
    pub elapsed: TimeDelta,
    /// Power on, heartbeats arriving.
    pub up: TimeDelta,
    /// Without power: the figure users care about.
    pub down: TimeDelta,
    /// Powered but unreachable.
    pub network: TimeDelta,
    /// Unknown (the monitor was offline, or the location never seen).
    pub unknown: TimeDelta,
    /// Paused for maintenance.
    pub paused: TimeDelta,
    /// Elapsed time that no interval covers.
    pub no_data: TimeDelta,
    /// Outages (runs of down time) that started in the period.
    pub outages: u32,
    /// Network drops (runs of network time) that started in the period.
    pub network_drops: u32,
    /// Full length of the longest outage overlapping the period; `None` when there was none.
    pub longest_outage: Option<TimeDelta>,
}

impl Availability {
    fn slot(&mut self, kind: IntervalKind) -> &mut TimeDelta {
        match kind {
            IntervalKind::Up => &mut self.up,
            IntervalKind::Down => &mut self.down,
            IntervalKind::Network => &mut self.network,
            IntervalKind::Unknown => &mut self.unknown,
            IntervalKind::Paused => &mut self.paused,
        }
    }

    /// Time spent in `kind`.
    pub fn duration(&self, kind: IntervalKind) -> TimeDelta {
        match kind {
            IntervalKind::Up => self.up,
            IntervalKind::Down => self.down,
            IntervalKind::Network => self.network,
            IntervalKind::Unknown => self.unknown,
            IntervalKind::Paused => self.paused,
        }
    }

    /// Whole minutes spent in `kind` (rounded to the nearest minute).
    pub fn minutes(&self, kind: IntervalKind) -> i64 {
        round_minutes(self.duration(kind))
    }

    /// Whole minutes without power (rounded to the nearest minute).
    pub fn minutes_without_power(&self) -> i64 {
        round_minutes(self.down)
    }

    /// Share of time with power among the time the power state is known
    /// (`(up + network) / (up + network + down)`), or `None` when it is never known.
    pub fn power_ratio(&self) -> Option<f64> {
        let on = (self.up + self.network).num_milliseconds() as f64;
        let total = on + self.down.num_milliseconds() as f64;
        (total > 0.0).then(|| on / total)
    }

    /// The figures in whole minutes, for CSV and JSON reports.
    pub fn row(&self) -> AvailabilityRow {
        AvailabilityRow {
            period: self.period.label.clone(),
            start: self.period.start,
            end: self.period.end,
            elapsed_min: round_minutes(self.elapsed),
            up_min: round_minutes(self.up),
            down_min: round_minutes(self.down),
            network_min: round_minutes(self.network),
            unknown_min: round_minutes(self.unknown),
            paused_min: round_minutes(self.paused),
            no_data_min: round_minutes(self.no_data),
            outages: self.outages,
            network_drops: self.network_drops,
            longest_outage_min: self.longest_outage.map(round_minutes),
            power_pct: self.power_ratio().map(|r| (r * 10_000.0).round() / 100.0),
        }
    }
}

/// Rounds a duration to the nearest whole minute (half a minute rounds up).
pub fn round_minutes(d: TimeDelta) -> i64 {
    (d.num_milliseconds() + 30_000).div_euclid(60_000)
}

/// One line of an availability report (JSON object or CSV row), in whole minutes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AvailabilityRow {
    /// Period label: `2026-03-29`, `2026-W13` or `2026-03`.
    pub period: String,
    /// Start of the period (local midnight, as UTC).
    pub start: DateTime<Utc>,
    /// End of the period (exclusive).
    pub end: DateTime<Utc>,
    /// Minutes of the period up to now.
    pub elapsed_min: i64,
    /// Minutes with power and heartbeats.
    pub up_min: i64,
    /// Minutes without power.
    pub down_min: i64,
    /// Minutes powered but unreachable.
    pub network_min: i64,
    /// Minutes in an unknown state.
    pub unknown_min: i64,
    /// Minutes paused.
    pub paused_min: i64,
    /// Elapsed minutes without any recorded state.
    pub no_data_min: i64,
    /// Outages that started in the period.
    pub outages: u32,
    /// Network drops that started in the period.
    pub network_drops: u32,
    /// Length of the longest outage overlapping the period.
    pub longest_outage_min: Option<i64>,
    /// Percentage of known-power time with power, two decimals.
    pub power_pct: Option<f64>,
}

impl AvailabilityRow {
    /// The CSV header matching [`AvailabilityRow::csv_line`].
    pub const CSV_HEADER: &'static str = "period,start,end,elapsed_min,up_min,down_min,network_min,unknown_min,paused_min,no_data_min,outages,network_drops,longest_outage_min,power_pct";

    /// The row as one CSV line (no newline; empty fields for `None`; times RFC 3339 UTC).
    pub fn csv_line(&self) -> String {
        let opt_i = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_default();
        format!(
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
            self.period,
            self.start
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            self.end.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            self.elapsed_min,
            self.up_min,
            self.down_min,
            self.network_min,
            self.unknown_min,
            self.paused_min,
            self.no_data_min,
            self.outages,
            self.network_drops,
            opt_i(self.longest_outage_min),
            self.power_pct
                .map(|p| format!("{p:.2}"))
                .unwrap_or_default(),
        )
    }
}

/// Convenience for reports: normalises `intervals` as of `now` and computes the figures of
/// every day, ISO week or month of `tz` overlapping the local dates `from..=to`.
pub fn report(
    intervals: &[StateInterval],
    tz: Tz,
    from: NaiveDate,
    to: NaiveDate,
    granularity: Granularity,
    now: DateTime<Utc>,
) -> Vec<Availability> {
    Timeline::new(intervals, now).report(&periods(tz, from, to, granularity))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::LocationId;
    use chrono_tz::Europe::Kyiv;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .unwrap_or_else(|e| panic!("{s}: {e}"))
            .with_timezone(&Utc)
    }

    /// A local wall-clock time that exists exactly once in `tz`.
    fn local(tz: Tz, s: &str) -> DateTime<Utc> {
        let naive = NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap();
        match tz.from_local_datetime(&naive) {
            LocalResult::Single(t) => t.with_timezone(&Utc),
            other => panic!("{s} is not a unique local time in {tz}: {other:?}"),
        }
    }

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn iv(kind: IntervalKind, start: DateTime<Utc>, end: Option<DateTime<Utc>>) -> StateInterval {
        StateInterval {
            location_id: LocationId(1),
            kind,
            start,
            end,
        }
    }

    fn mins(n: i64) -> TimeDelta {
        TimeDelta::minutes(n)
    }

    /// `(start, end, kind)` in Kyiv local time; the last one may be open (`end` = "").
    fn kyiv_history(parts: &[(&str, &str, IntervalKind)]) -> Vec<StateInterval> {
        parts
            .iter()
            .map(|(s, e, k)| {
                let end = (!e.is_empty()).then(|| local(Kyiv, e));
                iv(*k, local(Kyiv, s), end)
            })
            .collect()
    }

    fn day(tl: &Timeline, d: &str) -> Availability {
        tl.availability(&Period::day(Kyiv, date(d)))
    }

    // ---- ISO weeks -------------------------------------------------------------------------

    #[test]
    fn iso_week_parses_formats_and_validates() {
        let w: IsoWeek = "2026-W13".parse().unwrap();
        assert_eq!((w.year(), w.week()), (2026, 13));
        assert_eq!(w.monday(), date("2026-03-23"));
        assert_eq!(w.sunday(), date("2026-03-29"));
        assert_eq!(w.to_string(), "2026-W13");
        assert_eq!("2026W13".parse::<IsoWeek>().unwrap(), w);
        assert_eq!(" 2026-w13 ".parse::<IsoWeek>().unwrap(), w);
        assert_eq!(
            "2026-W01".parse::<IsoWeek>().unwrap().monday(),
            date("2025-12-29")
        );
        // 2026 starts on a Thursday, so it has 53 weeks; 2025 has 52.
        assert_eq!(
            "2026-W53".parse::<IsoWeek>().unwrap().monday(),
            date("2026-12-28")
        );
        for bad in [
            "2025-W53",
            "2026-W54",
            "2026-W00",
            "2026-13",
            "26-W13",
            "2026-W1",
            "2026-W013",
            "",
            "W13",
            "2026-Wxx",
            "+2026-W13",
        ] {
            let err = bad.parse::<IsoWeek>().unwrap_err().to_string();
            assert!(err.contains("YYYY-Www"), "{bad}: {err}");
        }
        assert!(IsoWeek::new(2020, 53).is_some());
        assert!(IsoWeek::new(2021, 53).is_none());
    }

    #[test]
    fn iso_week_of_dates_and_neighbours() {
        assert_eq!(IsoWeek::of(date("2024-12-30")).to_string(), "2025-W01");
        assert_eq!(IsoWeek::of(date("2027-01-03")).to_string(), "2026-W53");
        assert_eq!(IsoWeek::of(date("2027-01-04")).to_string(), "2027-W01");
        let w = IsoWeek::new(2026, 53).unwrap();
        assert_eq!(w.succ().to_string(), "2027-W01");
        assert_eq!(w.succ().pred(), w);
        assert_eq!(
            IsoWeek::new(2026, 1).unwrap().pred().to_string(),
            "2025-W52"
        );
        let days = IsoWeek::new(2026, 48).unwrap().days();
        assert_eq!(days[0], date("2026-11-23"));
        assert_eq!(days[6], date("2026-11-29"));
        assert!(
            days.iter()
                .zip(days.iter().skip(1))
                .all(|(a, b)| *b == *a + Days::new(1))
        );
        // Sunday 23:30 in Kyiv is already Monday in UTC... no: UTC is behind Kyiv, so
        // Monday 00:30 Kyiv is still Sunday in UTC but belongs to the new local week.
        let t = local(Kyiv, "2026-11-30 00:30");
        assert_eq!(IsoWeek::of(t.date_naive()).to_string(), "2026-W48");
        assert_eq!(IsoWeek::of_instant(t, Kyiv).to_string(), "2026-W49");
        let json = serde_json::to_string(&w).unwrap();
        assert_eq!(json, "\"2026-W53\"");
        assert_eq!(serde_json::from_str::<IsoWeek>(&json).unwrap(), w);
        assert!(serde_json::from_str::<IsoWeek>("\"2026-W99\"").is_err());
    }

    // ---- Day boundaries --------------------------------------------------------------------

    /// Offsets from the tz database (`europe` file): Europe/Kyiv is `2:00 EU EE%sT`, and the EU
    /// rules switch at 01:00 UTC on the last Sunday of March (to +3) and of October (to +2).
    #[test]
    fn kyiv_dst_boundaries_match_the_tz_database() {
        let spring = Period::day(Kyiv, date("2026-03-29"));
        assert_eq!(spring.start, utc("2026-03-28T22:00:00Z"));
        assert_eq!(spring.end, utc("2026-03-29T21:00:00Z"));
        assert_eq!(spring.length(), TimeDelta::hours(23));
        let autumn = Period::day(Kyiv, date("2026-10-25"));
        assert_eq!(autumn.start, utc("2026-10-24T21:00:00Z"));
        assert_eq!(autumn.end, utc("2026-10-25T22:00:00Z"));
        assert_eq!(autumn.length(), TimeDelta::hours(25));
        assert_eq!(
            Period::day(Kyiv, date("2026-03-28")).length(),
            TimeDelta::hours(24)
        );

        let w13 = IsoWeek::new(2026, 13).unwrap().period(Kyiv);
        assert_eq!(w13.label, "2026-W13");
        assert_eq!(w13.start, utc("2026-03-22T22:00:00Z"));
        assert_eq!(w13.end, utc("2026-03-29T21:00:00Z"));
        assert_eq!(w13.length(), TimeDelta::hours(7 * 24 - 1));
        let w43 = IsoWeek::new(2026, 43).unwrap().period(Kyiv);
        assert_eq!(w43.start, utc("2026-10-18T21:00:00Z"));
        assert_eq!(w43.length(), TimeDelta::hours(7 * 24 + 1));

        let march = Period::month(Kyiv, 2026, 3).unwrap();
        assert_eq!(march.label, "2026-03");
        assert_eq!(march.length(), TimeDelta::hours(31 * 24 - 1));
        let october = Period::month(Kyiv, 2026, 10).unwrap();
        assert_eq!(october.length(), TimeDelta::hours(31 * 24 + 1));
        assert!(Period::month(Kyiv, 2026, 13).is_none());

        assert_eq!(utc_offset_secs(Kyiv, utc("2026-03-29T00:59:59Z")), 2 * 3600);
        assert_eq!(utc_offset_secs(Kyiv, utc("2026-03-29T01:00:00Z")), 3 * 3600);
        assert_eq!(
            offset_changes(Kyiv, spring.start, spring.end),
            vec![utc("2026-03-29T01:00:00Z")]
        );
        assert_eq!(
            offset_changes(Kyiv, autumn.start, autumn.end),
            vec![utc("2026-10-25T01:00:00Z")]
        );
        // A change exactly on an hourly sample point is found too.
        assert_eq!(
            offset_changes(
                Kyiv,
                utc("2026-03-29T00:00:00Z"),
                utc("2026-03-29T02:00:00Z")
            ),
            vec![utc("2026-03-29T01:00:00Z")]
        );
        assert!(
            offset_changes(
                Kyiv,
                utc("2026-03-29T01:00:00Z"),
                utc("2026-03-30T01:00:00Z")
            )
            .is_empty()
        );
    }

    #[test]
    fn clock_spans_show_the_skipped_and_the_repeated_hour() {
        let h = TimeDelta::hours;
        let plain = clock_spans(Kyiv, date("2026-03-28"));
        assert_eq!(plain.len(), 1);
        assert_eq!((plain[0].clock_start, plain[0].clock_end()), (h(0), h(24)));

        let spring = clock_spans(Kyiv, date("2026-03-29"));
        assert_eq!(spring.len(), 2);
        assert_eq!((spring[0].clock_start, spring[0].clock_end()), (h(0), h(3)));
        assert_eq!(
            (spring[1].clock_start, spring[1].clock_end()),
            (h(4), h(24))
        );
        assert_eq!(spring[0].offset_secs, 7200);
        assert_eq!(spring[1].offset_secs, 10800);
        assert_eq!(spring[1].start, utc("2026-03-29T01:00:00Z"));

        let autumn = clock_spans(Kyiv, date("2026-10-25"));
        assert_eq!(autumn.len(), 2);
        assert_eq!((autumn[0].clock_start, autumn[0].clock_end()), (h(0), h(4)));
        assert_eq!(
            (autumn[1].clock_start, autumn[1].clock_end()),
            (h(3), h(24))
        );
        assert_eq!(
            autumn[1].clock_at(utc("2026-10-25T01:30:00Z")),
            h(3) + mins(30)
        );
    }

    /// Zones whose clocks change at midnight, from the tz database (`southamerica`,
    /// `northamerica`, `australasia` files).
    #[test]
    fn missing_ambiguous_and_skipped_midnights() {
        // Brazil sprang forward at 00:00 on 2018-11-04 (-03 -> -02): the day starts at 01:00.
        let sp = chrono_tz::America::Sao_Paulo;
        let d = Period::day(sp, date("2018-11-04"));
        assert_eq!(d.start, utc("2018-11-04T03:00:00Z"));
        assert_eq!(
            d.start.with_timezone(&sp).format("%H:%M").to_string(),
            "01:00"
        );
        assert_eq!(d.length(), TimeDelta::hours(23));
        let spans = clock_spans(sp, date("2018-11-04"));
        assert_eq!(spans.len(), 1);
        assert_eq!(spans[0].clock_start, TimeDelta::hours(1));
        assert_eq!(spans[0].clock_end(), TimeDelta::hours(24));
        // The day before still ends exactly where this one starts.
        assert_eq!(Period::day(sp, date("2018-11-03")).end, d.start);

        // Cuba falls back at 00:00 standard time = 01:00 daylight time: midnight happens twice
        // on 2025-11-02 and the day (starting at the first one) lasts 25 h.
        let hav = chrono_tz::America::Havana;
        let d = Period::day(hav, date("2025-11-02"));
        assert_eq!(d.start, utc("2025-11-02T04:00:00Z"));
        assert_eq!(d.length(), TimeDelta::hours(25));
        // ... and springs forward at 00:00 standard time: 2025-03-09 starts at 01:00.
        let d = Period::day(hav, date("2025-03-09"));
        assert_eq!(d.start, utc("2025-03-09T05:00:00Z"));
        assert_eq!(d.length(), TimeDelta::hours(23));

        // Samoa skipped 2011-12-30 entirely when it moved across the date line.
        let apia = chrono_tz::Pacific::Apia;
        let gone = Period::day(apia, date("2011-12-30"));
        assert_eq!(gone.length(), TimeDelta::zero());
        assert_eq!(gone.start, Period::day(apia, date("2011-12-31")).start);
        assert!(clock_spans(apia, date("2011-12-30")).is_empty());
        assert_eq!(Period::day(apia, date("2011-12-29")).end, gone.start);
    }

    /// Cross-checks local midnights against an independent implementation: the system's
    /// `date` (GNU coreutils + the system tz database). Skipped with a note when it is missing.
    #[test]
    fn day_boundaries_match_system_date() {
        use std::io::Write;
        use std::process::{Command, Stdio};

        let zones = [
            ("Europe/Kyiv", Kyiv),
            ("America/New_York", chrono_tz::America::New_York),
            ("Australia/Lord_Howe", chrono_tz::Australia::Lord_Howe),
        ];
        let dates: Vec<NaiveDate> = date("2025-12-28")
            .iter_days()
            .take_while(|d| *d <= date("2027-01-03"))
            .collect();
        let mut checked = 0;
        for (name, tz) in zones {
            // Make sure `date` knows the zone: an unknown TZ silently means UTC.
            let probe = Command::new("date")
                .env("TZ", name)
                .args(["-d", "2026-07-01 12:00", "+%z"])
                .output();
            let expected_probe = local(tz, "2026-07-01 12:00")
                .with_timezone(&tz)
                .format("%z")
                .to_string();
            match probe {
                Ok(o)
                    if o.status.success()
                        && String::from_utf8_lossy(&o.stdout).trim() == expected_probe => {}
                Ok(o) => {
                    // CI installs tzdata (.ci/run), so there a skip is a failure.
                    assert!(
                        std::env::var_os("CI").is_none(),
                        "the system tz database lacks {name}: install tzdata"
                    );
                    println!(
                        "SKIPPED cross-check for {name}: `date` does not know the zone ({})",
                        String::from_utf8_lossy(&o.stdout).trim()
                    );
                    continue;
                }
                Err(e) => {
                    assert!(std::env::var_os("CI").is_none(), "cannot run `date`: {e}");
                    println!("SKIPPED cross-check against `date`: cannot run it ({e})");
                    return;
                }
            }
            let mut child = Command::new("date")
                .env("TZ", name)
                .args(["-f", "-", "+%s"])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .unwrap();
            {
                let mut stdin = child.stdin.take().unwrap();
                for d in &dates {
                    writeln!(stdin, "{d} 00:00:00").unwrap();
                }
            }
            let out = child.wait_with_output().unwrap();
            assert!(out.status.success(), "date failed for {name}");
            let stamps: Vec<i64> = String::from_utf8_lossy(&out.stdout)
                .lines()
                .map(|l| l.trim().parse().unwrap())
                .collect();
            assert_eq!(stamps.len(), dates.len());
            for (d, s) in dates.iter().zip(stamps) {
                assert_eq!(
                    local_midnight(tz, *d).timestamp(),
                    s,
                    "local midnight of {d} in {name}"
                );
                checked += 1;
            }
            // The DST days of the year have the lengths `date` implies.
            let lengths: Vec<i64> = dates
                .windows(2)
                .map(|w| (local_midnight(tz, w[1]) - local_midnight(tz, w[0])).num_minutes())
                .filter(|m| *m != 24 * 60)
                .collect();
            assert_eq!(
                lengths.len(),
                2,
                "{name} has two DST changes a year: {lengths:?}"
            );
        }
        println!("cross-checked {checked} local midnights against `date`");
    }

    // ---- Totals ----------------------------------------------------------------------------

    use IntervalKind::{Down, Network, Paused, Unknown, Up};

    /// The spring DST week: Sunday 2026-03-29 has 23 hours; an outage from 02:00 (EET) to
    /// 05:00 (EEST) lasts 2 hours although the clock moved 3.
    #[test]
    fn spring_dst_week_totals() {
        let ivs = kyiv_history(&[
            ("2026-03-23 00:00", "2026-03-25 10:00", Up),
            ("2026-03-25 10:00", "2026-03-25 12:30", Down),
            ("2026-03-25 12:30", "2026-03-29 02:00", Up),
            ("2026-03-29 02:00", "2026-03-29 05:00", Down),
            ("2026-03-29 05:00", "", Up),
        ]);
        let now = utc("2026-03-30T06:00:00Z");
        let tl = Timeline::new(&ivs, now);
        let sun = day(&tl, "2026-03-29");
        assert_eq!(sun.elapsed, TimeDelta::hours(23));
        assert_eq!(sun.down, mins(120));
        assert_eq!(sun.up, mins(23 * 60 - 120));
        assert_eq!((sun.outages, sun.longest_outage), (1, Some(mins(120))));
        let wed = day(&tl, "2026-03-25");
        assert_eq!((wed.down, wed.elapsed), (mins(150), TimeDelta::hours(24)));

        let week = tl.availability(&IsoWeek::new(2026, 13).unwrap().period(Kyiv));
        assert_eq!(week.elapsed, TimeDelta::hours(167));
        assert_eq!(week.minutes_without_power(), 270);
        assert_eq!(week.minutes(Up), 167 * 60 - 270);
        assert_eq!(week.no_data, TimeDelta::zero());
        assert_eq!((week.outages, week.longest_outage), (2, Some(mins(150))));
        let row = week.row();
        assert_eq!(
            (row.elapsed_min, row.down_min, row.outages),
            (10020, 270, 2)
        );
        assert_eq!(row.power_pct, Some(97.31));
    }

    /// The autumn DST week: Sunday 2026-10-25 has 25 hours; an outage from 02:30 (EEST) to
    /// 03:30 (EET) lasts 2 hours although the clock moved 1.
    #[test]
    fn autumn_dst_week_totals() {
        // 03:30 happens twice that day, so the end is given as a UTC instant (the second one).
        let ivs = vec![
            iv(
                Up,
                local(Kyiv, "2026-10-19 00:00"),
                Some(local(Kyiv, "2026-10-25 02:30")),
            ),
            iv(
                Down,
                local(Kyiv, "2026-10-25 02:30"),
                Some(utc("2026-10-25T01:30:00Z")),
            ),
            iv(Up, utc("2026-10-25T01:30:00Z"), None),
        ];
        assert_eq!(ivs[1].start, utc("2026-10-24T23:30:00Z"));
        let tl = Timeline::new(&ivs, utc("2026-11-01T00:00:00Z"));
        let sun = day(&tl, "2026-10-25");
        assert_eq!(sun.elapsed, TimeDelta::hours(25));
        assert_eq!(sun.down, mins(120));
        assert_eq!(sun.up, mins(25 * 60 - 120));
        let sat = day(&tl, "2026-10-24");
        assert_eq!((sat.down, sat.outages), (TimeDelta::zero(), 0));
        let week = tl.availability(&IsoWeek::new(2026, 43).unwrap().period(Kyiv));
        assert_eq!(week.elapsed, TimeDelta::hours(169));
        assert_eq!((week.minutes_without_power(), week.outages), (120, 1));
        assert_eq!(week.minutes(Up), 169 * 60 - 120);
    }

    #[test]
    fn outage_crossing_midnight_is_split_by_day_and_counted_once() {
        let ivs = kyiv_history(&[
            ("2026-11-16 00:00", "2026-11-17 22:00", Up),
            ("2026-11-17 22:00", "2026-11-18 02:00", Down),
            ("2026-11-18 02:00", "", Up),
        ]);
        let tl = Timeline::new(&ivs, utc("2026-12-01T00:00:00Z"));
        let tue = day(&tl, "2026-11-17");
        let wed = day(&tl, "2026-11-18");
        assert_eq!((tue.down, tue.outages), (mins(120), 1));
        assert_eq!((wed.down, wed.outages), (mins(120), 0));
        assert_eq!(tue.longest_outage, Some(mins(240)));
        assert_eq!(wed.longest_outage, Some(mins(240)));
        assert_eq!(day(&tl, "2026-11-19").longest_outage, None);
        let week = tl.availability(&IsoWeek::new(2026, 47).unwrap().period(Kyiv));
        assert_eq!((week.down, week.outages), (mins(240), 1));
    }

    #[test]
    fn outage_crossing_a_dst_change() {
        // Spring: Sat 22:00 EET -> Sun 06:00 EEST is 7 h: 2 h on Saturday, 5 h on Sunday.
        let ivs = kyiv_history(&[
            ("2026-03-23 00:00", "2026-03-28 22:00", Up),
            ("2026-03-28 22:00", "2026-03-29 06:00", Down),
            ("2026-03-29 06:00", "", Up),
        ]);
        let tl = Timeline::new(&ivs, utc("2026-04-01T00:00:00Z"));
        assert_eq!(day(&tl, "2026-03-28").down, mins(120));
        let sun = day(&tl, "2026-03-29");
        assert_eq!((sun.down, sun.outages), (mins(300), 0));
        assert_eq!(sun.longest_outage, Some(mins(420)));
        let week = tl.availability(&IsoWeek::new(2026, 13).unwrap().period(Kyiv));
        assert_eq!((week.down, week.outages), (mins(420), 1));

        // Autumn: Sat 23:00 EEST -> Sun 03:30 EET (the second 03:30) is 5.5 h.
        let ivs = vec![
            iv(
                Up,
                local(Kyiv, "2026-10-19 00:00"),
                Some(local(Kyiv, "2026-10-24 23:00")),
            ),
            iv(
                Down,
                local(Kyiv, "2026-10-24 23:00"),
                Some(utc("2026-10-25T01:30:00Z")),
            ),
            iv(Up, utc("2026-10-25T01:30:00Z"), None),
        ];
        let tl = Timeline::new(&ivs, utc("2026-11-01T00:00:00Z"));
        assert_eq!(day(&tl, "2026-10-24").down, mins(60));
        assert_eq!(day(&tl, "2026-10-25").down, mins(270));
        assert_eq!(day(&tl, "2026-10-25").longest_outage, Some(mins(330)));
    }

    #[test]
    fn open_intervals_end_at_now_and_the_future_is_not_counted() {
        let now = local(Kyiv, "2026-11-18 13:30");
        let ivs = [
            iv(
                Up,
                local(Kyiv, "2026-11-16 00:00"),
                Some(local(Kyiv, "2026-11-18 10:00")),
            ),
            iv(Down, local(Kyiv, "2026-11-18 10:00"), None),
            // A stale closed interval reaching into the future (clock skew) is cut at now too.
            iv(
                Down,
                local(Kyiv, "2026-11-18 10:00"),
                Some(local(Kyiv, "2026-11-18 20:00")),
            ),
        ];
        let tl = Timeline::new(&ivs[..2], now);
        let wed = day(&tl, "2026-11-18");
        assert_eq!(wed.elapsed, mins(13 * 60 + 30));
        assert_eq!(wed.down, mins(210));
        assert_eq!(wed.up, mins(600));
        assert_eq!((wed.outages, wed.longest_outage), (1, Some(mins(210))));
        let thu = day(&tl, "2026-11-19");
        assert_eq!(thu.elapsed, TimeDelta::zero());
        assert_eq!(
            (thu.down, thu.up, thu.no_data),
            (TimeDelta::zero(), TimeDelta::zero(), TimeDelta::zero())
        );
        let week = tl.availability(&IsoWeek::new(2026, 47).unwrap().period(Kyiv));
        assert_eq!(week.elapsed, mins(2 * 24 * 60 + 13 * 60 + 30));
        assert_eq!(week.down + week.up, week.elapsed);

        let skewed = Timeline::new(&[ivs[0].clone(), ivs[2].clone()], now);
        assert_eq!(skewed.segments().last().unwrap().end, now);
        assert_eq!(day(&skewed, "2026-11-18").down, mins(210));
    }

    #[test]
    fn normalisation_merges_cuts_and_reports_gaps() {
        let ivs = kyiv_history(&[
            // Nothing before Monday 06:00: no data.
            ("2026-11-16 06:00", "2026-11-16 08:00", Up),
            // Two adjacent down intervals are one outage.
            ("2026-11-16 08:00", "2026-11-16 09:00", Down),
            ("2026-11-16 09:00", "2026-11-16 10:00", Down),
            ("2026-11-16 10:00", "2026-11-16 12:00", Up),
            // Down, monitor offline (unknown), down: two outages.
            ("2026-11-16 12:00", "2026-11-16 12:30", Down),
            ("2026-11-16 12:30", "2026-11-16 13:00", Unknown),
            ("2026-11-16 13:00", "2026-11-16 13:30", Down),
            ("2026-11-16 13:30", "2026-11-16 15:00", Network),
            // Overlaps the next one: cut where the next one starts.
            ("2026-11-16 15:00", "2026-11-16 18:00", Up),
            ("2026-11-16 17:00", "2026-11-16 20:00", Paused),
            ("2026-11-16 20:00", "2026-11-17 00:00", Up),
        ]);
        // Input order does not matter.
        let mut shuffled = ivs.clone();
        shuffled.reverse();
        let tl = Timeline::new(&shuffled, utc("2026-12-01T00:00:00Z"));
        let mon = day(&tl, "2026-11-16");
        assert_eq!(mon.no_data, mins(6 * 60));
        assert_eq!(mon.down, mins(180));
        assert_eq!(mon.unknown, mins(30));
        assert_eq!(mon.network, mins(90));
        assert_eq!(mon.paused, mins(180));
        assert_eq!(mon.up, mins(2 * 60 + 2 * 60 + 2 * 60 + 4 * 60));
        assert_eq!(
            mon.up + mon.down + mon.network + mon.unknown + mon.paused + mon.no_data,
            mon.elapsed
        );
        assert_eq!((mon.outages, mon.network_drops), (3, 1));
        assert_eq!(mon.longest_outage, Some(mins(120)));
        assert_eq!(tl.segments().iter().filter(|s| s.kind == Down).count(), 3);
        // A timeline is sorted and free of overlaps.
        assert!(tl.segments().windows(2).all(|w| w[0].end <= w[1].start));
        assert_eq!(
            tl.clip(
                local(Kyiv, "2026-11-16 08:30"),
                local(Kyiv, "2026-11-16 10:30")
            )
            .count(),
            2
        );
    }

    #[test]
    fn reports_by_day_week_and_month() {
        let ivs = kyiv_history(&[
            ("2026-03-01 00:00", "2026-03-25 10:00", Up),
            ("2026-03-25 10:00", "2026-03-25 12:30", Down),
            ("2026-03-25 12:30", "2026-03-29 02:00", Up),
            ("2026-03-29 02:00", "2026-03-29 05:00", Down),
            ("2026-03-29 05:00", "", Up),
        ]);
        let now = local(Kyiv, "2026-04-15 00:00");
        let days = report(
            &ivs,
            Kyiv,
            date("2026-03-23"),
            date("2026-03-29"),
            Granularity::Day,
            now,
        );
        assert_eq!(days.len(), 7);
        assert_eq!(days[0].period.label, "2026-03-23");
        let weeks = report(
            &ivs,
            Kyiv,
            date("2026-03-23"),
            date("2026-03-29"),
            Granularity::Week,
            now,
        );
        assert_eq!(weeks.len(), 1);
        let day_sum: TimeDelta = days.iter().map(|d| d.down).sum();
        assert_eq!(day_sum, weeks[0].down);
        assert_eq!(
            days.iter().map(|d| d.outages).sum::<u32>(),
            weeks[0].outages
        );
        // Whole weeks overlapping the range.
        assert_eq!(
            periods(
                Kyiv,
                date("2026-03-29"),
                date("2026-03-30"),
                Granularity::Week
            )
            .len(),
            2
        );
        assert!(
            periods(
                Kyiv,
                date("2026-03-30"),
                date("2026-03-29"),
                Granularity::Day
            )
            .is_empty()
        );
        let months = report(
            &ivs,
            Kyiv,
            date("2026-03-15"),
            date("2026-04-02"),
            Granularity::Month,
            now,
        );
        assert_eq!(
            months
                .iter()
                .map(|m| m.period.label.as_str())
                .collect::<Vec<_>>(),
            ["2026-03", "2026-04"]
        );
        assert_eq!(months[0].minutes_without_power(), 270);
        assert_eq!(months[0].elapsed, TimeDelta::hours(743));
        assert_eq!(months[1].elapsed, TimeDelta::hours(14 * 24));
        let dec = periods(
            Kyiv,
            date("2026-12-31"),
            date("2027-01-01"),
            Granularity::Month,
        );
        assert_eq!(dec.len(), 2);
        assert_eq!(dec[1].label, "2027-01");

        let row = months[0].row();
        assert_eq!(
            AvailabilityRow::CSV_HEADER.split(',').count(),
            row.csv_line().split(',').count()
        );
        assert_eq!(
            row.csv_line(),
            "2026-03,2026-02-28T22:00:00Z,2026-03-31T21:00:00Z,44580,44310,270,0,0,0,0,2,0,150,99.39"
        );
        let json = serde_json::to_value(&row).unwrap();
        assert_eq!(json["down_min"], 270);
        assert_eq!(json["period"], "2026-03");
        assert_eq!(Granularity::parse("week"), Some(Granularity::Week));
        assert_eq!(
            Granularity::parse(Granularity::Month.as_str()),
            Some(Granularity::Month)
        );
    }

    #[test]
    fn minutes_round_to_nearest() {
        assert_eq!(round_minutes(TimeDelta::milliseconds(29_999)), 0);
        assert_eq!(round_minutes(TimeDelta::seconds(30)), 1);
        assert_eq!(round_minutes(TimeDelta::seconds(89)), 1);
        assert_eq!(round_minutes(TimeDelta::seconds(90)), 2);
        assert_eq!(round_minutes(TimeDelta::hours(3)), 180);
    }
}
