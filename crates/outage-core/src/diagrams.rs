//! Weekly diagrams in chats: [`DiagramScheduler`] posts a diagram message per location and chat
//! on the `diagram.post` schedule (daily by default) and redraws it on the `diagram.update`
//! schedule (hourly by default), both cron expressions in `monitor.timezone`.
//!
//! The scheduler keeps no state of its own: every decision is taken from the stored
//! [`DiagramMessage`]s and the schedules, so a restart behaves exactly like a monitor that never
//! stopped.
//!
//! - **Post** when the latest `post` time at or before now is later than the stored message's
//!   `posted_at` (or, without a message, later than the location's creation). A post missed
//!   while the monitor was down therefore happens once, at start; a restart after today's post
//!   posts nothing.
//! - **Update** (edit the picture in place) when the latest `update` time is later than the
//!   message's `updated_at`, until the message's week is over and drawn complete. A message
//!   deleted in the chat is replaced by a new post.
//! - A failed post or edit is retried a minute later (or after the `retry_after` the service
//!   asked for, and then no other diagram goes to that chat before it); a permanent failure
//!   (chat not found, bot blocked) waits for the next schedule.
//! - Disabled locations get no diagrams; notifiers that do not post diagrams are skipped.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use chrono_tz::Tz;
use tokio_util::sync::CancellationToken;

use crate::availability::{IsoWeek, Period, Timeline, local_date};
use crate::clock::{SharedClock, until};
use crate::config::DiagramConfig;
use crate::domain::{DiagramMessage, Location, MessageRef};
use crate::errors::ErrorChain;
use crate::notify::{DaySummary, DiagramImage, Notifier, NotifyError};
use crate::render::{DiagramRenderer, ImageFormat, Language, RenderError, WeekDiagram};
use crate::store::{StatusStore, StoreError};

/// How long to wait before retrying a failed post or edit.
pub const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(60);

/// The longest single sleep; the scheduler re-reads the clock at least this often, so a wall
/// clock that jumps (suspend, NTP) is noticed.
const MAX_SLEEP: Duration = Duration::from_secs(60);

/// Why the scheduler cannot start.
#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    /// A cron expression does not parse.
    #[error("diagram.{key} = {expr:?} is not a valid cron expression")]
    Cron {
        /// `post` or `update`.
        key: &'static str,
        /// The expression.
        expr: String,
        /// What the parser said.
        #[source]
        source: cron::error::Error,
    },
}

/// Why drawing a diagram failed.
#[derive(Debug, thiserror::Error)]
pub enum DrawError {
    /// Reading intervals failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The renderer failed.
    #[error(transparent)]
    Render(#[from] RenderError),
    /// The rendering task panicked.
    #[error("the renderer crashed")]
    Crashed(#[source] tokio::task::JoinError),
}

/// Builds the [`WeekDiagram`] of `location` for `week`, reading its intervals from the store.
pub async fn load_week(
    store: &dyn StatusStore,
    location: &Location,
    week: IsoWeek,
    tz: Tz,
    language: Language,
    now: DateTime<Utc>,
) -> Result<WeekDiagram, StoreError> {
    let intervals = store
        .list_intervals(location.id, week.start(tz), week.end(tz))
        .await?;
    Ok(WeekDiagram {
        location_name: location.name.clone(),
        monday: week.monday(),
        tz,
        intervals,
        now,
        language,
    })
}

/// Renders off the async runtime (rendering is CPU-bound).
pub async fn render_blocking(
    renderer: Arc<dyn DiagramRenderer>,
    diagram: WeekDiagram,
    format: ImageFormat,
) -> Result<Vec<u8>, DrawError> {
    tokio::task::spawn_blocking(move || renderer.render(&diagram, format))
        .await
        .map_err(DrawError::Crashed)?
        .map_err(DrawError::from)
}

/// Draws the PNG diagram of `location`'s `week` as of `now`, with the week's totals for the
/// caption (and, when `yesterday`, the previous local day's); `(tz, language)` are the days'
/// time zone and the texts' language.
pub async fn draw_week(
    store: &dyn StatusStore,
    renderer: Arc<dyn DiagramRenderer>,
    location: &Location,
    week: IsoWeek,
    (tz, language): (Tz, Language),
    now: DateTime<Utc>,
    yesterday: bool,
) -> Result<DiagramImage, DrawError> {
    let diagram = load_week(store, location, week, tz, language, now).await?;
    let totals = Timeline::new(&diagram.intervals, now).availability(&Period::week(tz, week));
    let yesterday = match yesterday {
        true => day_before(store, location, tz, now).await?,
        false => None,
    };
    let png = render_blocking(renderer, diagram, ImageFormat::Png).await?;
    Ok(DiagramImage {
        location_id: location.id,
        location_name: location.name.clone(),
        week,
        days: (week.monday(), week.sunday()),
        down: totals.down,
        outages: totals.outages,
        drawn_at: now,
        yesterday,
        png,
    })
}

/// The local day before `now` of `location`; `None` when nothing is known about it (the
/// location did not exist yet, or the monitor was off all day).
async fn day_before(
    store: &dyn StatusStore,
    location: &Location,
    tz: Tz,
    now: DateTime<Utc>,
) -> Result<Option<DaySummary>, StoreError> {
    let Some(date) = local_date(tz, now).pred_opt() else {
        return Ok(None);
    };
    let day = Period::day(tz, date);
    let intervals = store
        .list_intervals(location.id, day.start, day.end)
        .await?;
    let a = Timeline::new(&intervals, now).availability(&day);
    let known = a.up + a.down + a.network;
    Ok((!known.is_zero()).then_some(DaySummary {
        down: a.down,
        outages: a.outages,
    }))
}

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PassReport {
    /// New diagram messages posted on schedule (including missed ones).
    pub posted: u32,
    /// Messages edited in place.
    pub updated: u32,
    /// Messages that were gone and were posted again.
    pub reposted: u32,
    /// Posts or edits that failed and will be retried.
    pub failed: u32,
    /// When the earliest retry is due, if any failed.
    pub retry_at: Option<DateTime<Utc>>,
}

/// Posts and refreshes weekly diagrams. See the [module docs](self) for the rules.
#[derive(Debug)]
pub struct DiagramScheduler {
    store: Arc<dyn StatusStore>,
    renderer: Arc<dyn DiagramRenderer>,
    notifiers: Vec<Arc<dyn Notifier>>,
    clock: SharedClock,
    tz: Tz,
    language: Language,
    post: cron::Schedule,
    update: cron::Schedule,
    yesterday: bool,
    /// Until when each `(notifier, chat)` asked us to wait (429 `retry_after`).
    rate_limited: std::sync::Mutex<HashMap<(String, String), DateTime<Utc>>>,
}

fn parse_cron(key: &'static str, expr: &str) -> Result<cron::Schedule, ScheduleError> {
    cron::Schedule::from_str(expr).map_err(|e| ScheduleError::Cron {
        key,
        expr: expr.to_string(),
        source: e,
    })
}

/// Checks both cron expressions of `[diagram]` (used by config validation and `check-config`).
pub fn validate(cfg: &DiagramConfig) -> Result<(), ScheduleError> {
    parse_cron("post", &cfg.post)?;
    parse_cron("update", &cfg.update)?;
    Ok(())
}

/// The latest time of `schedule` at or before `now`, in `tz`.
pub fn last_fire(schedule: &cron::Schedule, tz: Tz, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let probe = (now + TimeDelta::seconds(1)).with_timezone(&tz);
    schedule
        .after(&probe)
        .next_back()
        .map(|t| t.with_timezone(&Utc))
        .filter(|t| *t <= now)
}

/// The earliest time of `schedule` strictly after `now`, in `tz`.
pub fn next_fire(schedule: &cron::Schedule, tz: Tz, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    schedule
        .after(&now.with_timezone(&tz))
        .next()
        .map(|t| t.with_timezone(&Utc))
}

/// What one target needs now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Need {
    Nothing,
    Post,
    Update,
}

/// Images drawn during one pass, shared by every chat showing the same location and week.
type DrawCache = HashMap<(crate::domain::LocationId, IsoWeek), DiagramImage>;

impl DiagramScheduler {
    /// A scheduler for `cfg` drawing with `renderer` and posting through those `notifiers` that
    /// post diagrams.
    pub fn new(
        cfg: &DiagramConfig,
        tz: Tz,
        language: Language,
        store: Arc<dyn StatusStore>,
        renderer: Arc<dyn DiagramRenderer>,
        notifiers: Vec<Arc<dyn Notifier>>,
        clock: SharedClock,
    ) -> Result<Self, ScheduleError> {
        Ok(Self {
            post: parse_cron("post", &cfg.post)?,
            update: parse_cron("update", &cfg.update)?,
            yesterday: cfg.yesterday,
            notifiers: notifiers
                .into_iter()
                .filter(|n| n.posts_diagrams())
                .collect(),
            store,
            renderer,
            clock,
            tz,
            language,
            rate_limited: std::sync::Mutex::default(),
        })
    }

    /// Whether any notifier posts diagrams (if none, running the scheduler is pointless).
    pub fn has_targets(&self) -> bool {
        !self.notifiers.is_empty()
    }

    /// The next scheduled post or update after `now`.
    pub fn next_wake(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let p = next_fire(&self.post, self.tz, now);
        let u = next_fire(&self.update, self.tz, now);
        match (p, u) {
            (Some(p), Some(u)) => Some(p.min(u)),
            (p, u) => p.or(u),
        }
    }

    /// Runs until `shutdown`: a catch-up pass at once, then a pass at every scheduled time
    /// (and retries of failures).
    pub async fn run(self, shutdown: CancellationToken) {
        let mut due = Some(self.clock.now());
        loop {
            let now = self.clock.now();
            if due.is_some_and(|d| d <= now) {
                let report = match self.run_pass().await {
                    Ok(r) => r,
                    Err(e) => {
                        tracing::warn!(error = %ErrorChain(&e), "diagram pass failed; retrying in a minute");
                        PassReport {
                            retry_at: Some(now + td(RETRY_AFTER_FAILURE)),
                            ..PassReport::default()
                        }
                    }
                };
                let now = self.clock.now();
                due = match (self.next_wake(now), report.retry_at) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                tracing::debug!(?report, next = ?due, "diagram pass done");
            }
            let now = self.clock.now();
            let wait = due.map_or(MAX_SLEEP, |d| until(now, d).min(MAX_SLEEP));
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Posts and updates whatever is due at the clock's current time.
    pub async fn run_pass(&self) -> Result<PassReport, StoreError> {
        let now = self.clock.now();
        let mut report = PassReport::default();
        if self.notifiers.is_empty() {
            return Ok(report);
        }
        let last_post = last_fire(&self.post, self.tz, now);
        let last_update = last_fire(&self.update, self.tz, now);
        let locations = self.store.list_locations().await?;
        let stored: HashMap<(crate::domain::LocationId, String, String), DiagramMessage> = self
            .store
            .diagram_messages()
            .await?
            .into_iter()
            .map(|m| ((m.location_id, m.notifier.clone(), m.chat.clone()), m))
            .collect();
        let mut cache = DrawCache::new();
        // Chats that answered "too many requests": their diagrams wait until the time asked
        // for, instead of collecting more refusals (also across passes).
        let mut limited = self
            .rate_limited
            .lock()
            .map(|g| g.clone())
            .unwrap_or_default();
        limited.retain(|_, until| *until > now);
        for rec in locations.iter().filter(|r| r.location.enabled) {
            let loc = &rec.location;
            for (n, chat) in crate::notify::targets(&self.notifiers, loc) {
                let key = (loc.id, n.name().to_string(), chat.clone());
                let m = stored.get(&key);
                let need = self.need(loc, m, last_post, last_update);
                if need != Need::Nothing
                    && let Some(r) = limited.get(&(n.name().to_string(), chat.clone()))
                {
                    tracing::debug!(location = %loc.name, %chat, until = %r, "chat rate limited; diagram waits");
                    report.failed += 1;
                    report.retry_at = Some(report.retry_at.map_or(*r, |x| x.min(*r)));
                    continue;
                }
                let outcome = match (need, m) {
                    (Need::Nothing, _) => continue,
                    (Need::Update, Some(m)) => {
                        self.update(&**n, loc, m, &mut cache, &mut report).await
                    }
                    (Need::Post | Need::Update, _) => self
                        .post(&**n, loc, &chat, &mut cache)
                        .await
                        .map(|()| report.posted += 1),
                };
                if let Err(e) = outcome {
                    report.failed += 1;
                    let retry = match &e {
                        Failure::Notify(NotifyError::RateLimited { retry_after }) => {
                            let at = now + td(*retry_after.max(&RETRY_AFTER_FAILURE));
                            limited.insert((n.name().to_string(), chat.clone()), at);
                            Some(at)
                        }
                        Failure::Notify(NotifyError::Permanent(_)) => None,
                        _ => Some(now + td(RETRY_AFTER_FAILURE)),
                    };
                    tracing::warn!(location = %loc.name, notifier = n.name(), %chat, error = %ErrorChain(&e), retry = ?retry, "diagram not delivered");
                    if let Some(r) = retry {
                        report.retry_at = Some(report.retry_at.map_or(r, |x| x.min(r)));
                    }
                }
            }
        }
        if let Ok(mut g) = self.rate_limited.lock() {
            *g = limited;
        }
        Ok(report)
    }

    fn need(
        &self,
        loc: &Location,
        m: Option<&DiagramMessage>,
        last_post: Option<DateTime<Utc>>,
        last_update: Option<DateTime<Utc>>,
    ) -> Need {
        let Some(m) = m else {
            return match last_post {
                Some(p) if p >= loc.created_at => Need::Post,
                _ => Need::Nothing,
            };
        };
        if last_post.is_some_and(|p| m.posted_at < p) {
            return Need::Post;
        }
        let week_end = IsoWeek::of_instant(m.posted_at, self.tz).end(self.tz);
        let stale = last_update.is_some_and(|u| m.updated_at < u);
        if stale && m.updated_at < week_end {
            Need::Update
        } else {
            Need::Nothing
        }
    }

    async fn draw(
        &self,
        loc: &Location,
        week: IsoWeek,
        cache: &mut DrawCache,
    ) -> Result<DiagramImage, Failure> {
        if let Some(img) = cache.get(&(loc.id, week)) {
            return Ok(img.clone());
        }
        let img = draw_week(
            &*self.store,
            self.renderer.clone(),
            loc,
            week,
            (self.tz, self.language),
            self.clock.now(),
            self.yesterday,
        )
        .await?;
        cache.insert((loc.id, week), img.clone());
        Ok(img)
    }

    async fn post(
        &self,
        n: &dyn Notifier,
        loc: &Location,
        chat: &str,
        cache: &mut DrawCache,
    ) -> Result<(), Failure> {
        let now = self.clock.now();
        let img = self
            .draw(loc, IsoWeek::of_instant(now, self.tz), cache)
            .await?;
        let r = n.post_diagram(chat, &img).await?;
        tracing::info!(location = %loc.name, notifier = n.name(), %chat, message_id = %r.message_id, week = %img.week, "diagram posted");
        self.store
            .save_diagram_message(&DiagramMessage {
                location_id: loc.id,
                notifier: n.name().to_string(),
                chat: chat.to_string(),
                message_id: r.message_id,
                posted_at: now,
                updated_at: now,
            })
            .await?;
        Ok(())
    }

    async fn update(
        &self,
        n: &dyn Notifier,
        loc: &Location,
        m: &DiagramMessage,
        cache: &mut DrawCache,
        report: &mut PassReport,
    ) -> Result<(), Failure> {
        let week = IsoWeek::of_instant(m.posted_at, self.tz);
        let img = self.draw(loc, week, cache).await?;
        let target = MessageRef {
            notifier: m.notifier.clone(),
            chat: m.chat.clone(),
            message_id: m.message_id.clone(),
        };
        match n.update_diagram(&target, &img).await {
            Ok(()) => {
                self.store
                    .save_diagram_message(&DiagramMessage {
                        updated_at: img.drawn_at,
                        ..m.clone()
                    })
                    .await?;
                report.updated += 1;
                Ok(())
            }
            Err(NotifyError::MessageGone(why)) => {
                tracing::info!(location = %loc.name, chat = %m.chat, message_id = %m.message_id, %why, "diagram message is gone; posting a new one");
                self.post(n, loc, &m.chat, cache).await?;
                report.reposted += 1;
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// Why one post or edit failed.
#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error(transparent)]
    Notify(#[from] NotifyError),
    #[error(transparent)]
    Draw(#[from] DrawError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn td(d: Duration) -> TimeDelta {
    TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn kyiv(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        chrono_tz::Europe::Kyiv
            .with_ymd_and_hms(y, mo, d, h, mi, 0)
            .earliest()
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default()
    }

    #[test]
    fn last_fire_includes_now_and_next_fire_excludes_it() {
        let tz = chrono_tz::Europe::Kyiv;
        let daily = parse_cron("post", "0 0 8 * * *").unwrap();
        let at8 = kyiv(2026, 11, 23, 8, 0);
        assert_eq!(last_fire(&daily, tz, at8), Some(at8));
        assert_eq!(
            last_fire(&daily, tz, at8 - TimeDelta::seconds(1)),
            Some(kyiv(2026, 11, 22, 8, 0))
        );
        assert_eq!(next_fire(&daily, tz, at8), Some(kyiv(2026, 11, 24, 8, 0)));
    }

    #[test]
    fn hourly_updates_follow_local_time_across_dst() {
        let tz = chrono_tz::Europe::Kyiv;
        let hourly = parse_cron("update", "0 0 * * * *").unwrap();
        let count = |from: DateTime<Utc>, to: DateTime<Utc>| {
            hourly
                .after(&from.with_timezone(&tz))
                .take_while(|t| t.with_timezone(&Utc) < to)
                .count()
        };
        // 2026-03-29 has 23 local hours, 2026-10-25 has 25; an hourly schedule fires once per
        // real hour on both days.
        let spring = count(kyiv(2026, 3, 28, 23, 59), kyiv(2026, 3, 29, 23, 59));
        let autumn = count(kyiv(2026, 10, 24, 23, 59), kyiv(2026, 10, 25, 23, 59));
        assert_eq!((spring, autumn), (23, 25));
    }

    #[test]
    fn bad_cron_names_the_key() {
        let cfg = DiagramConfig {
            update: "0 0 25 * * *".into(),
            ..DiagramConfig::default()
        };
        let e = validate(&cfg).unwrap_err().to_string();
        assert!(e.contains("diagram.update"), "{e}");
    }
}
