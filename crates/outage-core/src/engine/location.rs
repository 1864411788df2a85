//! The state machine of one location, free of I/O: given the current state, a heartbeat or a
//! timer wake-up and "now", it decides the next state and the [`Transition`] to persist.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use crate::config::RestoreConfirm;
use crate::domain::*;
use crate::notify::{Alert, AlertKind};
use crate::store::{EventChange, IntervalSwitch, LocationRecord, Transition};

/// Settings of the state machine that come from `[monitor]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Rules {
    /// Grace after start-up before anything is declared down (`None`: the location's timeout).
    pub startup_grace: Option<Duration>,
    /// Confirmation before a restore.
    pub restore_confirm: Option<RestoreConfirm>,
    /// Refresh period of the running outage message (zero: never).
    pub live_update_every: Duration,
}

impl Default for Rules {
    fn default() -> Self {
        Self {
            startup_grace: None,
            restore_confirm: None,
            live_update_every: Duration::from_secs(300),
        }
    }
}

/// The open outage as the engine tracks it.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenOutage {
    /// Its id.
    pub id: EventId,
    /// Backdated start, if known.
    pub started_at: Option<DateTime<Utc>>,
    /// Detection time.
    pub detected_at: DateTime<Utc>,
}

/// Heartbeats that arrived after an outage but do not yet confirm the restore.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingRestore {
    /// Arrival of the first beat of the streak.
    pub first_at: DateTime<Utc>,
    /// Facts of that first beat (they decide power vs network).
    pub first_facts: DeviceFacts,
    /// Beats in the streak so far.
    pub beats: u32,
}

/// In-memory state of one location.
#[derive(Debug, Clone, PartialEq)]
pub struct LocState {
    /// The location's settings.
    pub loc: Location,
    /// Current status.
    pub status: Status,
    /// Last heartbeat.
    pub last_seen: Option<DateTime<Utc>>,
    /// Facts of the last heartbeat.
    pub facts: DeviceFacts,
    /// Outage in progress.
    pub open: Option<OpenOutage>,
    /// Restore waiting for confirmation.
    pub pending: Option<PendingRestore>,
    /// When the location is declared down unless a heartbeat arrives.
    pub deadline: Option<DateTime<Utc>>,
    /// Last time the running outage message was refreshed.
    pub last_live_update: Option<DateTime<Utc>>,
    /// Status when a pause began (to alert only on a difference when it ends).
    pub before_pause: Option<Status>,
    /// When the engine started (for the start-up grace).
    pub engine_started: DateTime<Utc>,
    /// Facts of the last heartbeat before the current outage's gap.
    pub facts_before_gap: Option<DeviceFacts>,
    /// Whether the monitor was offline for longer than this location's timeout before start-up:
    /// an outage declared without a beat since then began at an unknown time.
    pub blind_gap: bool,
    /// When the power came back during a pause that began while it was out (the first beat of
    /// the pause, backdated by the device's uptime after a reboot), for the restore reported
    /// when the pause ends.
    pub back_during_pause: Option<DateTime<Utc>>,
}

/// What a heartbeat changed.
#[derive(Debug, Clone, PartialEq)]
pub struct BeatOutcome {
    /// Transition to persist, if the status changed.
    pub transition: Option<Transition>,
}

impl LocState {
    /// State after a (re)start from persisted data. Returns the start-up transition to write
    /// (an `up` location becomes `unknown`: the monitor cannot vouch for the time it was away).
    pub fn resume(
        rec: &LocationRecord,
        now: DateTime<Utc>,
        alive_at: Option<DateTime<Utc>>,
        rules: &Rules,
    ) -> (Self, Option<Transition>) {
        let rt = &rec.runtime;
        let open = rt.open_event.as_ref().map(|e| OpenOutage {
            id: e.id,
            started_at: e.started_at,
            detected_at: e.detected_at,
        });
        let last_alive = match (alive_at, rt.last_seen) {
            (Some(a), Some(s)) => Some(a.max(s)),
            (a, s) => a.or(s),
        };
        let blind_gap = last_alive.is_none_or(|a| now - a >= td(rec.location.timeout));
        let mut st = LocState {
            loc: rec.location.clone(),
            status: rt.status.unwrap_or(Status::Unknown),
            last_seen: rt.last_seen,
            facts: rt.last_facts.clone(),
            open,
            pending: None,
            deadline: None,
            last_live_update: None,
            before_pause: None,
            engine_started: now,
            facts_before_gap: None,
            blind_gap,
            back_during_pause: None,
        };
        if st.open.is_some() {
            st.facts_before_gap = Some(rt.last_facts.clone());
        }
        let mut transition = None;
        if st.open.is_some() {
            // Still down as far as anyone knows; the next heartbeat ends the outage.
            st.status = if st.is_paused(now) {
                Status::Paused
            } else {
                Status::Down
            };
        } else if st.status == Status::Paused && !st.is_paused(now) {
            st.status = Status::Unknown;
        } else if st.status == Status::Up
            || (st.status == Status::Unknown && st.last_seen.is_some())
        {
            let at = last_alive.unwrap_or(now);
            if st.status == Status::Up {
                transition = Some(Transition {
                    location_id: st.loc.id,
                    status: Status::Unknown,
                    interval: Some(IntervalSwitch {
                        at,
                        kind: IntervalKind::Unknown,
                        relabel_closed_as: None,
                    }),
                    event: EventChange::None,
                    notifications: vec![],
                });
            }
            st.status = Status::Unknown;
        }
        st.arm(rules);
        (st, transition)
    }

    /// The state an instance takes over from the leader before it (a standby promoted, or a
    /// standby following the leader): unlike [`Self::resume`] nobody was blind meanwhile — the
    /// stored `last_seen` holds every beat any instance took — so a location that was up stays
    /// up with its deadline at `last_seen + timeout` (no start-up grace, no `unknown` stretch),
    /// and one whose deadline passed while the leader was gone is declared down at once, from
    /// its last heartbeat. Other states resume as after a restart.
    pub fn take_over(
        rec: &LocationRecord,
        now: DateTime<Utc>,
        rules: &Rules,
    ) -> (Self, Option<Transition>) {
        let (mut st, transition) = Self::resume(rec, now, Some(now), rules);
        // No start-up grace: the deadline is the location's own.
        st.engine_started = DateTime::<Utc>::UNIX_EPOCH;
        if rec.runtime.status == Some(Status::Up) && !st.is_paused(now) && st.open.is_none() {
            st.status = Status::Up;
            st.blind_gap = false;
            st.arm(rules);
            return (st, None);
        }
        st.arm(rules);
        (st, transition)
    }

    /// Whether a pause covers `now`.
    pub fn is_paused(&self, now: DateTime<Utc>) -> bool {
        self.loc.paused_until.is_some_and(|u| u > now)
    }

    fn grace_end(&self, rules: &Rules) -> DateTime<Utc> {
        self.engine_started + td(rules.startup_grace.unwrap_or(self.loc.timeout))
    }

    /// Recomputes the deadline from the last heartbeat and the start-up grace.
    pub fn arm(&mut self, rules: &Rules) {
        self.deadline = match (self.loc.enabled, self.status, self.last_seen) {
            (false, _, _) | (_, Status::Paused, _) | (_, _, None) => None,
            (_, Status::Down, _) if self.pending.is_none() => None,
            (_, _, Some(seen)) => Some((seen + td(self.loc.timeout)).max(self.grace_end(rules))),
        };
    }

    /// The next moment this location needs attention: its deadline, the end of a pause, or the
    /// next live update of an outage message.
    pub fn next_wake(&self, rules: &Rules) -> Option<DateTime<Utc>> {
        let pause_end = match self.status {
            Status::Paused => self.loc.paused_until,
            _ => None,
        };
        let live = match (&self.open, self.status) {
            (Some(o), Status::Down) if !rules.live_update_every.is_zero() => {
                Some(self.last_live_update.unwrap_or(o.detected_at) + td(rules.live_update_every))
            }
            _ => None,
        };
        [self.deadline, pause_end, live].into_iter().flatten().min()
    }

    fn alert(&self, kind: AlertKind, now: DateTime<Utc>) -> Alert {
        Alert {
            kind,
            location_id: self.loc.id,
            location_name: self.loc.name.clone(),
            event_id: self.open.as_ref().map(|o| o.id),
            started_at: self.open.as_ref().and_then(|o| o.started_at),
            detected_at: self.open.as_ref().map(|o| o.detected_at),
            ended_at: None,
            cause: Cause::Unknown,
            at: now,
        }
    }

    fn transition(
        &self,
        status: Status,
        interval: Option<IntervalSwitch>,
        event: EventChange,
        alerts: Vec<Alert>,
    ) -> Transition {
        Transition {
            location_id: self.loc.id,
            status,
            interval,
            event,
            // Notifier fan-out happens in the engine, which knows the notifiers.
            notifications: alerts
                .into_iter()
                .map(|alert| crate::store::NewNotification {
                    notifier: String::new(),
                    chat: String::new(),
                    alert,
                })
                .collect(),
        }
    }

    /// Applies a heartbeat that arrived at `now`.
    pub fn on_beat(
        &mut self,
        now: DateTime<Utc>,
        facts: DeviceFacts,
        rules: &Rules,
    ) -> BeatOutcome {
        let prev_seen = self.last_seen;
        let prev_facts = std::mem::replace(&mut self.facts, facts.clone());
        self.last_seen = Some(now);
        if self.status == Status::Paused && self.open.is_some() && self.back_during_pause.is_none()
        {
            self.back_during_pause = Some(match prev_seen {
                Some(prev) => match classify(prev, &prev_facts, now, &facts) {
                    Verdict::Rebooted { back_at } => back_at,
                    _ => now,
                },
                None => now,
            });
        }
        let transition = match self.status {
            Status::Paused | Status::Up => None,
            Status::Unknown => self.beat_when_unknown(now, prev_seen, &prev_facts, &facts),
            Status::Down => self.beat_when_down(now, &prev_facts, facts, rules),
        };
        // The monitor is watching again: the next outage starts at a beat it saw.
        self.blind_gap = false;
        self.arm(rules);
        BeatOutcome { transition }
    }

    fn beat_when_unknown(
        &mut self,
        now: DateTime<Utc>,
        prev_seen: Option<DateTime<Utc>>,
        prev_facts: &DeviceFacts,
        facts: &DeviceFacts,
    ) -> Option<Transition> {
        self.status = Status::Up;
        self.blind_gap = false;
        let up_from = |at| {
            Some(IntervalSwitch {
                at,
                kind: IntervalKind::Up,
                relabel_closed_as: None,
            })
        };
        let Some(prev) = prev_seen else {
            // First heartbeat ever.
            return Some(self.transition(Status::Up, up_from(now), EventChange::None, vec![]));
        };
        match classify(prev, prev_facts, now, facts) {
            Verdict::Rebooted { back_at } => {
                // The device lost power while the monitor was not watching: an outage whose start
                // nobody saw, reported once, already over.
                let mut alert = self.alert(AlertKind::Restored, now);
                alert.started_at = None;
                alert.detected_at = Some(now);
                alert.ended_at = Some(back_at);
                alert.cause = Cause::Power;
                Some(self.transition(
                    Status::Up,
                    up_from(back_at),
                    EventChange::Closed {
                        started_at: None,
                        detected_at: now,
                        ended_at: back_at,
                        cause: Cause::Power,
                    },
                    vec![alert],
                ))
            }
            _ => Some(self.transition(Status::Up, up_from(now), EventChange::None, vec![])),
        }
    }

    fn beat_when_down(
        &mut self,
        now: DateTime<Utc>,
        prev_facts: &DeviceFacts,
        facts: DeviceFacts,
        rules: &Rules,
    ) -> Option<Transition> {
        let Some(open) = self.open.clone() else {
            // Down without an event cannot be produced by the engine; recover as "up".
            self.status = Status::Up;
            return None;
        };
        let pending = self.pending.get_or_insert(PendingRestore {
            first_at: now,
            first_facts: facts,
            beats: 0,
        });
        pending.beats += 1;
        let confirmed = match rules.restore_confirm {
            None => true,
            Some(RestoreConfirm::Beats(n)) => pending.beats >= n,
            Some(RestoreConfirm::For(d)) => now - pending.first_at >= td(d),
        };
        if !confirmed {
            return None;
        }
        let PendingRestore {
            first_at,
            first_facts,
            ..
        } = self.pending.take()?;
        // The facts of the last beat before the gap are what the first beat after it is
        // compared with; while a restore was pending `prev_facts` may already be post-gap.
        let before_gap = self
            .facts_before_gap
            .take()
            .unwrap_or_else(|| prev_facts.clone());
        let gap_start = open.started_at.unwrap_or(open.detected_at);
        let verdict = classify(gap_start, &before_gap, first_at, &first_facts);
        let (cause, back_at, interval) = match verdict {
            Verdict::SameBoot => (
                Cause::Network,
                first_at,
                IntervalSwitch {
                    at: first_at,
                    kind: IntervalKind::Up,
                    relabel_closed_as: Some(IntervalKind::Network),
                },
            ),
            Verdict::Rebooted { back_at } => (
                Cause::Power,
                back_at,
                IntervalSwitch {
                    at: back_at,
                    kind: IntervalKind::Up,
                    relabel_closed_as: None,
                },
            ),
            Verdict::Unknown => (
                Cause::Unknown,
                first_at,
                IntervalSwitch {
                    at: first_at,
                    kind: IntervalKind::Up,
                    relabel_closed_as: None,
                },
            ),
        };
        let kind = if cause == Cause::Network {
            AlertKind::NetworkRestored
        } else {
            AlertKind::Restored
        };
        let mut alert = self.alert(kind, now);
        alert.ended_at = Some(back_at);
        alert.cause = cause;
        let t = self.transition(
            Status::Up,
            Some(interval),
            EventChange::Close {
                event_id: open.id,
                ended_at: back_at,
                cause,
            },
            vec![alert],
        );
        self.status = Status::Up;
        self.open = None;
        self.last_live_update = None;
        Some(t)
    }

    /// Handles a timer wake-up at `now`: a passed deadline, the end of a pause, a pause that
    /// began, or a due live update.
    pub fn on_wake(&mut self, now: DateTime<Utc>, rules: &Rules) -> Option<Transition> {
        if self.is_paused(now) && self.status != Status::Paused {
            return Some(self.begin_pause(now));
        }
        if self.status == Status::Paused && !self.is_paused(now) {
            return self.end_pause(now, rules);
        }
        if self.deadline.is_some_and(|d| d <= now) {
            self.deadline = None;
            return self.deadline_passed(now, rules);
        }
        if let (Status::Down, Some(_)) = (self.status, &self.open)
            && !rules.live_update_every.is_zero()
        {
            let due = self.next_wake(rules);
            if due.is_some_and(|d| d <= now) {
                self.last_live_update = Some(now);
                let alert = self.alert(AlertKind::OutageUpdate, now);
                return Some(self.transition(Status::Down, None, EventChange::None, vec![alert]));
            }
        }
        None
    }

    fn deadline_passed(&mut self, now: DateTime<Utc>, rules: &Rules) -> Option<Transition> {
        match self.status {
            Status::Down => {
                // Beats stopped again before the restore was confirmed: same outage goes on.
                self.pending = None;
                None
            }
            Status::Up | Status::Unknown => {
                let started_at = if self.blind_gap { None } else { self.last_seen };
                self.facts_before_gap = Some(self.facts.clone());
                let t = self.declare_down(now, started_at);
                self.arm(rules);
                Some(t)
            }
            Status::Paused => None,
        }
    }

    fn declare_down(
        &mut self,
        now: DateTime<Utc>,
        started_at: Option<DateTime<Utc>>,
    ) -> Transition {
        self.status = Status::Down;
        self.pending = None;
        self.open = Some(OpenOutage {
            id: EventId(0), // filled in by the engine from the store's answer
            started_at,
            detected_at: now,
        });
        self.last_live_update = None;
        let mut alert = self.alert(AlertKind::Outage, now);
        alert.event_id = None; // the store fills in the id of the event this transition opens
        self.transition(
            Status::Down,
            Some(IntervalSwitch {
                at: started_at.unwrap_or(now),
                kind: IntervalKind::Down,
                relabel_closed_as: None,
            }),
            EventChange::Open {
                started_at,
                detected_at: now,
                cause: Cause::Unknown,
            },
            vec![alert],
        )
    }

    fn begin_pause(&mut self, now: DateTime<Utc>) -> Transition {
        self.before_pause = Some(self.status);
        self.back_during_pause = None;
        self.status = Status::Paused;
        self.pending = None;
        self.deadline = None;
        self.transition(
            Status::Paused,
            Some(IntervalSwitch {
                at: now,
                kind: IntervalKind::Paused,
                relabel_closed_as: None,
            }),
            EventChange::None,
            vec![],
        )
    }

    fn end_pause(&mut self, now: DateTime<Utc>, rules: &Rules) -> Option<Transition> {
        let before = self.before_pause.take().unwrap_or(Status::Unknown);

        let alive = self
            .last_seen
            .is_some_and(|s| now - s < td(self.loc.timeout));
        let interval = |kind| {
            Some(IntervalSwitch {
                at: now,
                kind,
                relabel_closed_as: None,
            })
        };
        let t = match (alive, &self.open) {
            (true, Some(open)) if before == Status::Down => {
                // It came back during the pause: report the end of the outage now.
                let open = open.clone();
                let back = self.back_during_pause.or(self.last_seen).unwrap_or(now);
                let mut alert = self.alert(AlertKind::Restored, now);
                alert.ended_at = Some(back);
                alert.cause = Cause::Unknown;
                self.open = None;
                self.status = Status::Up;
                Some(self.transition(
                    Status::Up,
                    interval(IntervalKind::Up),
                    EventChange::Close {
                        event_id: open.id,
                        ended_at: back,
                        cause: Cause::Unknown,
                    },
                    vec![alert],
                ))
            }
            (true, _) => {
                self.status = Status::Up;
                Some(self.transition(
                    Status::Up,
                    interval(IntervalKind::Up),
                    EventChange::None,
                    vec![],
                ))
            }
            (false, Some(_)) => {
                // Still down, as before the pause: no new alert.
                self.status = Status::Down;
                Some(self.transition(
                    Status::Down,
                    interval(IntervalKind::Down),
                    EventChange::None,
                    vec![],
                ))
            }
            (false, None) if before == Status::Up => {
                let started = self.last_seen;
                let mut t = self.declare_down(now, started);
                t.interval = interval(IntervalKind::Down);
                Some(t)
            }
            (false, None) => {
                self.status = Status::Unknown;
                Some(self.transition(
                    Status::Unknown,
                    interval(IntervalKind::Unknown),
                    EventChange::None,
                    vec![],
                ))
            }
        };
        self.back_during_pause = None;
        self.arm(rules);
        t
    }
}

/// What the first heartbeat after a gap says about the gap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    /// Same boot, uptime kept counting: the device never lost power.
    SameBoot,
    /// New boot (or uptime shorter than the gap): power came back at `back_at`.
    Rebooted { back_at: DateTime<Utc> },
    /// The device says too little to tell.
    Unknown,
}

/// Compares the last beat before a gap (`before_at`, `before`) with the first after it.
fn classify(
    before_at: DateTime<Utc>,
    before: &DeviceFacts,
    now: DateTime<Utc>,
    after: &DeviceFacts,
) -> Verdict {
    let gap = now - before_at;
    let booted_at = after
        .uptime_s
        .and_then(|u| TimeDelta::try_seconds(i64::try_from(u).ok()?))
        .map(|u| now - u);
    // Power came back when the device booted, but never before the gap began.
    let back_at = booted_at.map_or(now, |b| b.max(before_at));
    let uptime_shorter_than_gap = after
        .uptime_s
        .is_some_and(|u| i64::try_from(u).is_ok_and(|u| TimeDelta::seconds(u) < gap));
    match (&before.boot_id, &after.boot_id) {
        (Some(a), Some(b)) if a != b => Verdict::Rebooted { back_at },
        (Some(_), Some(_)) if uptime_shorter_than_gap => Verdict::Rebooted { back_at },
        (Some(_), Some(_)) => Verdict::SameBoot,
        _ if uptime_shorter_than_gap => Verdict::Rebooted { back_at },
        _ => Verdict::Unknown,
    }
}

fn td(d: Duration) -> TimeDelta {
    TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX)
}
