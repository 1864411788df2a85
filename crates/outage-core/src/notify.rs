//! The [`Notifier`] trait, the alerts it delivers and the built-in `console` notifier.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::availability::Availability;
use crate::availability::IsoWeek;
use crate::domain::{Cause, EventId, Location, LocationId, MessageRef, PowerEvent, Status};
use crate::render::Language;
use crate::text::{self, en};

/// What an alert is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// Heartbeats stopped: the power (probably) went off.
    Outage,
    /// The outage still lasts: refresh the running duration of the outage message.
    OutageUpdate,
    /// Power is back. `started_at` may be `None` when it went out while the monitor was offline.
    Restored,
    /// Heartbeats resumed from the same boot: the power stayed on, only the network was down.
    /// Notifiers edit the earlier outage message instead of sending a new one.
    NetworkRestored,
    /// A maintenance pause began.
    Paused,
    /// A manual test ("send test alert").
    Test,
}

/// One thing to tell people about a location.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// What happened.
    pub kind: AlertKind,
    /// Which location.
    pub location_id: LocationId,
    /// Its name at the time of the alert.
    pub location_name: String,
    /// The outage this is about, if any.
    pub event_id: Option<EventId>,
    /// Backdated outage start (`None`: unknown, the monitor was offline).
    pub started_at: Option<DateTime<Utc>>,
    /// When the monitor noticed the outage.
    pub detected_at: Option<DateTime<Utc>>,
    /// When it ended.
    pub ended_at: Option<DateTime<Utc>>,
    /// Cause as known now.
    pub cause: Cause,
    /// When the alert was created (server clock).
    pub at: DateTime<Utc>,
}

impl AlertKind {
    /// Alerts that may be grouped into one message when several arrive together: the ones that
    /// ring phones about a change of power. Edits and one-off messages are never grouped.
    pub fn groups_in_bursts(self) -> bool {
        matches!(self, AlertKind::Outage | AlertKind::Restored)
    }
}

impl Alert {
    /// Outage duration as known at `now` (until `ended_at` when it ended).
    pub fn duration(&self, now: DateTime<Utc>) -> Option<chrono::TimeDelta> {
        Some(self.ended_at.unwrap_or(now) - self.started_at?)
    }
}

/// Why a delivery failed; the variant decides what the delivery worker does next.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotifyError {
    /// The service asked us to slow down: retry exactly after `retry_after`.
    #[error("rate limited, retry after {retry_after:?}")]
    RateLimited {
        /// How long the service asked to wait.
        retry_after: Duration,
    },
    /// A passing problem (timeout, 5xx, connection refused): retry with backoff.
    #[error("temporary failure: {0}")]
    Transient(String),
    /// Retrying cannot help (chat not found, bot blocked, bad token): give up and report.
    #[error("permanent failure: {0}")]
    Permanent(String),
    /// The message to edit no longer exists (deleted in the chat). For diagrams this means
    /// "post a new one"; for alerts the delivery worker treats it as permanent.
    #[error("the message is gone: {0}")]
    MessageGone(String),
}

impl NotifyError {
    /// What an HTTP answer other than 2xx usually means for a delivery: 429 is
    /// [`NotifyError::RateLimited`] (after `retry_after`, the text of the answer's
    /// `Retry-After` header in seconds; else 30 s), 408, 425 and 5xx are
    /// [`NotifyError::Transient`], every other status is [`NotifyError::Permanent`] (the request
    /// itself is wrong: a bad URL, token or body). `detail` says who answered what, and is
    /// kept in the error.
    pub fn from_http_status(status: u16, retry_after: Option<&str>, detail: &str) -> Self {
        match status {
            429 => NotifyError::RateLimited {
                retry_after: retry_after
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map_or(Duration::from_secs(30), Duration::from_secs),
            },
            408 | 425 | 500..=599 => NotifyError::Transient(detail.to_string()),
            _ => NotifyError::Permanent(detail.to_string()),
        }
    }
}

/// A weekly diagram rendered for posting to a chat.
#[derive(Clone, PartialEq)]
pub struct DiagramImage {
    /// The location drawn.
    pub location_id: LocationId,
    /// Its name.
    pub location_name: String,
    /// The ISO week drawn.
    pub week: IsoWeek,
    /// Monday and Sunday of that week (local dates), for the caption.
    pub days: (NaiveDate, NaiveDate),
    /// Time without power in the week so far.
    pub down: chrono::TimeDelta,
    /// Outages that started in the week so far.
    pub outages: u32,
    /// When it was drawn.
    pub drawn_at: DateTime<Utc>,
    /// The previous local day, for the caption's daily summary (`None`: not asked for, or
    /// nothing is known about that day).
    pub yesterday: Option<DaySummary>,
    /// The PNG.
    pub png: Vec<u8>,
}

/// One day of a location in a few numbers (the caption's "Yesterday: …").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DaySummary {
    /// Time without power.
    pub down: chrono::TimeDelta,
    /// Outages that started that day.
    pub outages: u32,
}

impl std::fmt::Debug for DiagramImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiagramImage")
            .field("location_id", &self.location_id)
            .field("location_name", &self.location_name)
            .field("week", &self.week)
            .field("down", &self.down)
            .field("outages", &self.outages)
            .field("yesterday", &self.yesterday)
            .field("png_bytes", &self.png.len())
            .finish_non_exhaustive()
    }
}

/// What the notifier knows about earlier messages of the same outage.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeliveryContext {
    /// Chat (queue key) this delivery goes to.
    pub chat: String,
    /// Messages already sent about the same event by this notifier, oldest first.
    pub earlier: Vec<MessageRef>,
}

/// A location as a chat bot reports it: its settings and its live state.
#[derive(Debug, Clone, PartialEq)]
pub struct LocationState {
    /// The location.
    pub location: Location,
    /// Live status.
    pub status: Status,
    /// The last heartbeat (for a location that is down: about when the power went).
    pub last_seen: Option<DateTime<Utc>>,
}

/// Why a question to the monitor could not be answered (the store or the renderer failed);
/// the text is for the log and, shortened, for the person who asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct QueryError(pub String);

/// What a notifier that answers commands (a chat bot, see [`Notifier::answer_commands`]) may
/// ask the running monitor. Read-only. Implemented over the engine and the store by
/// [`crate::engine::query::EngineQuery`].
#[async_trait]
pub trait MonitorQuery: Send + Sync {
    /// The monitor's clock.
    fn now(&self) -> DateTime<Utc>;

    /// `monitor.timezone`: the time zone of days and of the times shown.
    fn timezone(&self) -> chrono_tz::Tz;

    /// The locations whose alerts go to `chat` of notifier instance `instance` (by
    /// [`targets`]), with their live state, in id order.
    fn locations_for(&self, instance: &str, chat: &str) -> Vec<LocationState>;

    /// Availability of a location on today's local day, up to now.
    async fn today(&self, id: LocationId) -> Result<Availability, QueryError>;

    /// The last `n` outages of a location, newest first.
    async fn last_outages(&self, id: LocationId, n: u32) -> Result<Vec<PowerEvent>, QueryError>;

    /// The diagram of a location's current week, drawn now, with texts in `language`.
    async fn week_diagram(
        &self,
        location: &Location,
        language: Language,
    ) -> Result<DiagramImage, QueryError>;
}

/// Something that tells people about alerts: Telegram, a webhook, the console.
///
/// An embedder implements [`Notifier::deliver`] (everything else has a default) and hands the
/// notifier to [`Engine::start`](crate::engine::Engine::start); the engine queues every alert
/// in the store's outbox and its delivery worker calls `deliver`, retrying as the returned
/// [`NotifyError`] says.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use std::time::Duration;
///
/// use async_trait::async_trait;
/// use outage_core::engine::{Engine, EngineConfig};
/// use outage_core::keys::KeyHash;
/// use outage_core::memory_store::MemoryStore;
/// use outage_core::metrics::Metrics;
/// use outage_core::notify::{Alert, DeliveryContext, Notifier, NotifyError};
/// use outage_core::{Clock, DeviceFacts, HeartbeatSink, MessageRef, NewLocation, StatusStore, TokioClock};
///
/// /// Writes each alert as one line into a shared list.
/// #[derive(Debug, Default)]
/// struct Lines(Mutex<Vec<String>>);
///
/// #[async_trait]
/// impl Notifier for Lines {
///     fn name(&self) -> &str {
///         "lines"
///     }
///
///     async fn deliver(
///         &self,
///         alert: &Alert,
///         ctx: &DeliveryContext,
///     ) -> Result<Option<MessageRef>, NotifyError> {
///         let mut lines = self.0.lock().map_err(|_| NotifyError::Transient("poisoned".into()))?;
///         lines.push(format!("{:?} {}", alert.kind, alert.location_name));
///         // Where later alerts about the same outage (the restore) can find this message.
///         Ok(Some(MessageRef {
///             notifier: self.name().into(),
///             chat: ctx.chat.clone(),
///             message_id: lines.len().to_string(),
///         }))
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let store = Arc::new(MemoryStore::new());
/// let lines = Arc::new(Lines::default());
/// // Paused tokio time drives the clock, so the 30 s below pass at once.
/// let clock = Arc::new(TokioClock::starting_at(chrono::Utc::now()));
/// let home = NewLocation { name: "Home".into(), timeout: Duration::from_secs(30), chat_id: None, routes: Vec::new() };
/// store.create_location(&home, KeyHash::of("secret-key"), clock.now()).await?;
/// let (engine, tasks) = Engine::start(
///     store.clone(),
///     vec![lines.clone()],
///     clock,
///     Arc::new(Metrics::default()),
///     EngineConfig::default(),
/// )
/// .await?;
///
/// engine.heartbeat("secret-key", DeviceFacts::default()).await?;
/// tokio::time::sleep(Duration::from_secs(45)).await; // no more heartbeats: an outage
/// assert_eq!(*lines.0.lock().unwrap(), ["Outage Home"]);
/// tasks.shutdown().await;
/// # Ok(())
/// # }
/// ```
#[async_trait]
pub trait Notifier: Send + Sync + std::fmt::Debug + 'static {
    /// Stable name (`telegram`, `console`); used as the outbox queue name.
    fn name(&self) -> &str;

    /// The chat (queue key) an alert for a location goes to, given the location's override.
    fn chat_for(&self, location_chat: Option<&str>) -> String {
        location_chat.unwrap_or("default").to_string()
    }

    /// Every chat an alert for a location goes to, given the location's override: by default
    /// the one [`Notifier::chat_for`] names. A notifier configured with several chats returns
    /// all of them when the location names none.
    fn chats_for(&self, location_chat: Option<&str>) -> Vec<String> {
        vec![self.chat_for(location_chat)]
    }

    /// Checks a location's chat override the way this notifier will read it, so a typo is
    /// refused when the location is saved instead of at its first outage. `Err` says what is
    /// wrong in one line. Default: every chat is accepted.
    fn check_chat(&self, _chat: &str) -> Result<(), String> {
        Ok(())
    }

    /// Whether this notifier wants alerts of this kind at all (e.g. a console has no use for
    /// live duration updates). Alerts it does not want are never enqueued for it.
    fn accepts(&self, _kind: AlertKind) -> bool {
        true
    }

    /// Contacts the service to check credentials and reachability (`check-config --online`).
    /// Returns a short description of what was found, e.g. the bot's name.
    async fn check_online(&self) -> Result<String, NotifyError> {
        Ok("nothing to check".into())
    }

    /// Delivers one alert. Returns where the message went, if it can be edited or replied to later.
    async fn deliver(
        &self,
        alert: &Alert,
        ctx: &DeliveryContext,
    ) -> Result<Option<MessageRef>, NotifyError>;

    /// Burst grouping. `Some(window)`: after a message went to a chat, outage and restore
    /// alerts about *other* locations for that chat wait until `window` has passed and then go
    /// out together through [`Notifier::deliver_burst`] — the first alert of a burst is never
    /// delayed, the rest arrive as one message listing them. `None` (the default): one message
    /// per alert.
    fn burst_window(&self) -> Option<Duration> {
        None
    }

    /// Delivers several outage/restore alerts for one chat as one message (see
    /// [`Notifier::burst_window`]). Returns one result per alert, in order: where later alerts
    /// about the same event should look. Only called with two or more alerts.
    async fn deliver_burst(
        &self,
        _alerts: &[(Alert, DeliveryContext)],
    ) -> Result<Vec<Option<MessageRef>>, NotifyError> {
        Err(NotifyError::Permanent(format!(
            "the {} notifier does not group alerts",
            self.name()
        )))
    }

    /// Whether this notifier posts weekly diagrams ([`Notifier::post_diagram`]).
    fn posts_diagrams(&self) -> bool {
        false
    }

    /// Posts a diagram as a new message in `chat`; returns where it went.
    async fn post_diagram(
        &self,
        _chat: &str,
        _image: &DiagramImage,
    ) -> Result<MessageRef, NotifyError> {
        Err(NotifyError::Permanent(format!(
            "the {} notifier does not post diagrams",
            self.name()
        )))
    }

    /// Whether this instance answers commands from its chats ([`Notifier::answer_commands`]),
    /// e.g. a Telegram bot with `commands = true`. Default: no.
    fn answers_commands(&self) -> bool {
        false
    }

    /// Answers commands from the chats this instance serves (a chat bot's `/status`) until
    /// `shutdown`, asking `query` for what it reports. `serve` runs it once, on the instance
    /// that detects and delivers, when [`Notifier::answers_commands`] says so. Errors are the
    /// notifier's to log and retry; the default returns at once.
    async fn answer_commands(
        &self,
        _query: Arc<dyn MonitorQuery>,
        _shutdown: tokio_util::sync::CancellationToken,
    ) {
    }

    /// Replaces the picture of a diagram message posted earlier. [`NotifyError::MessageGone`]
    /// when it no longer exists (the scheduler then posts a new one).
    async fn update_diagram(
        &self,
        _message: &MessageRef,
        _image: &DiagramImage,
    ) -> Result<(), NotifyError> {
        Err(NotifyError::Permanent(format!(
            "the {} notifier does not post diagrams",
            self.name()
        )))
    }
}

/// A list of notifiers is itself a notifier: it delivers to each in turn and fails with the
/// first error. (The engine enqueues one outbox row per notifier instead, so that a retry of one
/// never repeats a delivery of another; this impl is for embedding and test alerts.)
#[async_trait]
impl Notifier for Vec<Arc<dyn Notifier>> {
    fn name(&self) -> &str {
        "fan-out"
    }

    async fn deliver(
        &self,
        alert: &Alert,
        ctx: &DeliveryContext,
    ) -> Result<Option<MessageRef>, NotifyError> {
        let mut first = None;
        for n in self {
            let r = n.deliver(alert, ctx).await?;
            if first.is_none() {
                first = r;
            }
        }
        Ok(first)
    }
}

/// Where the alerts of `location` go, as (notifier, chat) pairs without repeats: for a location
/// without routes, every notifier with its [`Notifier::chats_for`] the location's `chat_id`;
/// else each route's instance with the route's chat (or, when the route names none, the
/// instance's chats for the location). A route to an instance that is not configured is left
/// out with a warning, and when no route is left the location falls back to every notifier, so
/// a change of config never silences a location.
pub fn targets<'a>(
    notifiers: &'a [Arc<dyn Notifier>],
    location: &Location,
) -> Vec<(&'a Arc<dyn Notifier>, String)> {
    fn add<'a>(
        out: &mut Vec<(&'a Arc<dyn Notifier>, String)>,
        n: &'a Arc<dyn Notifier>,
        chat: String,
    ) {
        if !out.iter().any(|(m, c)| m.name() == n.name() && *c == chat) {
            out.push((n, chat));
        }
    }
    let override_chat = location.chat_id.as_deref();
    let mut out = Vec::new();
    for route in &location.routes {
        match notifiers.iter().find(|n| n.name() == route.notifier) {
            Some(n) => match &route.chat {
                Some(chat) => add(&mut out, n, chat.clone()),
                None => {
                    for c in n.chats_for(override_chat) {
                        add(&mut out, n, c);
                    }
                }
            },
            None => tracing::warn!(
                location = %location.name,
                route = %route,
                "the location is routed to a notifier instance that is not configured; that route is skipped"
            ),
        }
    }
    if out.is_empty() {
        for n in notifiers {
            for c in n.chats_for(override_chat) {
                add(&mut out, n, c);
            }
        }
    }
    out
}

/// Reads route values (`instance` or `instance:chat`, as `location add --notify` and the admin
/// panel's form take them) and checks each against the configured `notifiers`: the instance
/// must exist and accept the chat ([`Notifier::check_chat`]). Repeats are dropped, order kept.
/// `Err` is one line that starts with the offending value in backticks and says what is
/// accepted, so callers only prefix their field's name.
pub fn check_routes<'v>(
    notifiers: &[Arc<dyn Notifier>],
    values: impl IntoIterator<Item = &'v str>,
) -> Result<Vec<crate::domain::Route>, String> {
    let mut routes: Vec<crate::domain::Route> = Vec::new();
    for value in values {
        let route: crate::domain::Route = value.parse()?;
        let Some(n) = notifiers.iter().find(|n| n.name() == route.notifier) else {
            let known: Vec<&str> = notifiers.iter().map(|n| n.name()).collect();
            return Err(format!(
                "`{}`: no notifier instance `{}` is configured; configured: {} (each \
                 [notifiers.<instance>] section is one)",
                value.trim(),
                route.notifier,
                known.join(", ")
            ));
        };
        if let Some(chat) = &route.chat {
            n.check_chat(chat)
                .map_err(|e| format!("`{}`: {e}", value.trim()))?;
        }
        if !routes.contains(&route) {
            routes.push(route);
        }
    }
    Ok(routes)
}

/// A duration in English, "2 h 14 min", "5 min", "40 s", "1 d": [`text::human_duration`]
/// with [`Language::En`].
pub fn human_duration(d: chrono::TimeDelta) -> String {
    text::human_duration(d, Language::En)
}

/// An alert as plain text without markup: a short title and one sentence, for notifiers that
/// show both (ntfy) or carry a readable line beside data (the webhook's `text`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlainText {
    /// "Home: power is off" / "Home: світла немає".
    pub title: String,
    /// "power is off since 14:02" / "світла немає з 14:02".
    pub body: String,
}

/// Renders `alert` as [`PlainText`] in `lang`, times in `tz` (`14:02`, with the date `07.12`
/// in front when it is another day than the alert's).
pub fn plain_text(alert: &Alert, lang: Language, tz: chrono_tz::Tz) -> PlainText {
    use chrono::Timelike;
    let uk = lang == Language::Uk;
    let local = |t: DateTime<Utc>| t.with_timezone(&tz);
    let time = |t: DateTime<Utc>| {
        let l = local(t);
        if l.date_naive() == local(alert.at).date_naive() {
            l.format("%H:%M").to_string()
        } else {
            l.format("%d.%m %H:%M").to_string()
        }
    };
    let hour = |t: DateTime<Utc>| local(t).hour();
    let dur = |d: chrono::TimeDelta| text::human_duration(d, lang);
    let end = alert.ended_at.unwrap_or(alert.at);
    let body = match (alert.kind, uk) {
        (AlertKind::Outage, _) => match (alert.started_at, uk) {
            (Some(s), false) => en::power_off_since(&time(s)),
            (Some(s), true) => text::uk::power_off_since(&time(s), hour(s)),
            (None, false) => en::POWER_OFF_START_UNKNOWN.into(),
            (None, true) => text::uk::POWER_OFF_START_UNKNOWN.into(),
        },
        (AlertKind::OutageUpdate, _) => {
            let d = alert.duration(alert.at).map(dur).unwrap_or_default();
            match uk {
                false => en::without_power(&d),
                true => text::uk::without_power(&d),
            }
        }
        (AlertKind::Restored, _) => match (alert.started_at, uk) {
            (Some(s), false) => en::power_back(&time(end), &dur(end - s)),
            (Some(s), true) => text::uk::power_back(&time(end), hour(end), &dur(end - s)),
            (None, false) => en::power_back_start_unknown(&time(end)),
            (None, true) => text::uk::power_back_start_unknown(&time(end), hour(end)),
        },
        (AlertKind::NetworkRestored, _) => match (alert.started_at.or(alert.detected_at), uk) {
            (Some(s), false) => en::network_only_for(&dur(end - s)),
            (Some(s), true) => text::uk::network_only_for(&dur(end - s)),
            (None, false) => en::NETWORK_ONLY.into(),
            (None, true) => text::uk::NETWORK_ONLY.into(),
        },
        (AlertKind::Paused, false) => en::PAUSED.into(),
        (AlertKind::Paused, true) => text::uk::PAUSED.into(),
        (AlertKind::Test, false) => en::test_message("outage-monitor"),
        (AlertKind::Test, true) => text::uk::test_message("outage-monitor"),
    };
    let what = match (alert.kind, uk) {
        (AlertKind::Outage | AlertKind::OutageUpdate, false) => "power is off",
        (AlertKind::Outage | AlertKind::OutageUpdate, true) => "світла немає",
        (AlertKind::Restored, false) => "power is back",
        (AlertKind::Restored, true) => "світло повернулося",
        (AlertKind::NetworkRestored, false) => "only the network was down",
        (AlertKind::NetworkRestored, true) => "не було лише зв’язку",
        (AlertKind::Paused, false) => "monitoring paused",
        (AlertKind::Paused, true) => "моніторинг призупинено",
        (AlertKind::Test, false) => "test alert",
        (AlertKind::Test, true) => "тестове сповіщення",
    };
    PlainText {
        title: format!("{}: {what}", alert.location_name),
        body,
    }
}

/// Writes alerts as readable lines to standard output (and the log). Useful before a real
/// notifier is configured, and in the `demo`.
#[derive(Debug, Clone)]
pub struct ConsoleNotifier {
    tz: chrono_tz::Tz,
    name: String,
}

impl ConsoleNotifier {
    /// A console notifier printing times in `tz`, named `console`.
    pub fn new(tz: chrono_tz::Tz) -> Self {
        Self {
            tz,
            name: "console".into(),
        }
    }

    /// The same notifier as instance `name` (`[notifiers.<name>]` with `kind = "console"`).
    pub fn named(mut self, name: &str) -> Self {
        self.name = name.to_string();
        self
    }

    /// The line printed for an alert.
    pub fn render(&self, alert: &Alert) -> String {
        let t = |d: DateTime<Utc>| d.with_timezone(&self.tz).format("%H:%M:%S").to_string();
        let name = &alert.location_name;
        let dur = alert
            .duration(alert.at)
            .map(human_duration)
            .unwrap_or_else(|| "an unknown time".into());
        let sentence = match alert.kind {
            AlertKind::Outage => match alert.started_at {
                Some(s) => en::power_off_since(&t(s)),
                None => en::POWER_OFF_START_UNKNOWN.to_string(),
            },
            AlertKind::OutageUpdate => en::without_power(&dur),
            AlertKind::Restored => {
                let end = alert.ended_at.map(t).unwrap_or_default();
                match alert.started_at {
                    Some(_) => en::power_back(&end, &dur),
                    None => en::power_back_start_unknown(&end),
                }
            }
            AlertKind::NetworkRestored => en::network_only_for(&dur),
            AlertKind::Paused => en::PAUSED.to_string(),
            AlertKind::Test => en::test_message("console"),
        };
        let emoji = match alert.kind {
            AlertKind::Outage | AlertKind::OutageUpdate => "🔴",
            AlertKind::Restored => "🟢",
            AlertKind::NetworkRestored => "🟡",
            AlertKind::Paused => "⏸",
            AlertKind::Test => "✅",
        };
        format!("{emoji} {name}: {sentence}")
    }
}

#[async_trait]
impl Notifier for ConsoleNotifier {
    fn name(&self) -> &str {
        &self.name
    }

    fn accepts(&self, kind: AlertKind) -> bool {
        kind != AlertKind::OutageUpdate
    }

    async fn deliver(
        &self,
        alert: &Alert,
        ctx: &DeliveryContext,
    ) -> Result<Option<MessageRef>, NotifyError> {
        let line = self.render(alert);
        tracing::debug!(target: "outage::console", cause = %alert.cause, "{line}");
        println!("{line}");
        Ok(Some(MessageRef {
            notifier: "console".into(),
            chat: ctx.chat.clone(),
            message_id: format!("{}", alert.at.timestamp_millis()),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn english_durations_are_the_shared_ones() {
        let d = chrono::TimeDelta::seconds;
        assert_eq!(human_duration(d(2 * 3600 + 14 * 60 + 5)), "2 h 14 min");
        assert_eq!(human_duration(d(86_400 + 7200)), "1 d 2 h");
        assert_eq!(human_duration(d(86_400)), "1 d", "not \"1 d 0 h\"");
    }

    /// A notifier with several default chats, like a Telegram instance with `chat_id = [..]`.
    #[derive(Debug)]
    struct Chats(&'static str, &'static [&'static str]);

    #[async_trait]
    impl Notifier for Chats {
        fn name(&self) -> &str {
            self.0
        }
        fn chat_for(&self, chat: Option<&str>) -> String {
            chat.map_or(self.1[0].to_string(), str::to_string)
        }
        fn chats_for(&self, chat: Option<&str>) -> Vec<String> {
            match chat {
                Some(c) => vec![c.to_string()],
                None => self.1.iter().map(|c| c.to_string()).collect(),
            }
        }
        async fn deliver(
            &self,
            _: &Alert,
            _: &DeliveryContext,
        ) -> Result<Option<MessageRef>, NotifyError> {
            Ok(None)
        }
    }

    fn place(chat: Option<&str>, routes: &[&str]) -> Location {
        let t = chrono::DateTime::UNIX_EPOCH;
        Location {
            id: LocationId(1),
            name: "Home".into(),
            timeout: std::time::Duration::from_secs(30),
            chat_id: chat.map(str::to_string),
            routes: routes.iter().map(|r| r.parse().unwrap()).collect(),
            enabled: true,
            paused_until: None,
            created_at: t,
            updated_at: t,
        }
    }

    fn shown(notifiers: &[Arc<dyn Notifier>], l: &Location) -> Vec<String> {
        targets(notifiers, l)
            .into_iter()
            .map(|(n, c)| format!("{}:{c}", n.name()))
            .collect()
    }

    #[test]
    fn targets_follow_routes_and_fall_back_to_every_notifier() {
        let notifiers: Vec<Arc<dyn Notifier>> = vec![
            Arc::new(Chats("family", &["-1001", "-1002"])),
            Arc::new(Chats("me", &["42"])),
        ];
        assert_eq!(
            shown(&notifiers, &place(None, &[])),
            ["family:-1001", "family:-1002", "me:42"],
            "no routes: every notifier, every default chat"
        );
        assert_eq!(
            shown(&notifiers, &place(Some("-7"), &[])),
            ["family:-7", "me:-7"],
            "the location's chat replaces the defaults"
        );
        assert_eq!(
            shown(&notifiers, &place(None, &["me:99", "family", "me:99"])),
            ["me:99", "family:-1001", "family:-1002"],
            "routes in order, a route without a chat gets the instance's chats, no repeats"
        );
        assert_eq!(
            shown(&notifiers, &place(None, &["gone", "me"])),
            ["me:42"],
            "a route to an instance no longer configured is skipped"
        );
        assert_eq!(
            shown(&notifiers, &place(None, &["gone"])),
            ["family:-1001", "family:-1002", "me:42"],
            "and when none is left the alerts still go somewhere"
        );
    }

    fn alert(kind: AlertKind, started: bool) -> Alert {
        let at = |h: u32, m: u32| {
            chrono::NaiveDate::from_ymd_opt(2026, 11, 23)
                .and_then(|d| d.and_hms_opt(h, m, 10))
                .map(|t| t.and_utc())
                .unwrap_or_default()
        };
        Alert {
            kind,
            location_id: LocationId(1),
            location_name: "Home".into(),
            event_id: Some(EventId(1)),
            started_at: started.then(|| at(14, 2)),
            detected_at: Some(at(14, 3)),
            ended_at: (kind != AlertKind::Outage).then(|| at(16, 16)),
            cause: Cause::Power,
            at: at(16, 16),
        }
    }

    #[test]
    fn http_statuses_map_to_retry_policies() {
        let e = |s| NotifyError::from_http_status(s, None, "x");
        assert_eq!(
            e(429),
            NotifyError::RateLimited {
                retry_after: Duration::from_secs(30)
            }
        );
        assert_eq!(
            NotifyError::from_http_status(429, Some(" 3 "), "x"),
            NotifyError::RateLimited {
                retry_after: Duration::from_secs(3)
            }
        );
        assert_eq!(
            NotifyError::from_http_status(429, Some("Wed, 21 Oct 2015 07:28:00 GMT"), "x"),
            NotifyError::RateLimited {
                retry_after: Duration::from_secs(30)
            },
            "a date is not understood: the default wait"
        );
        for s in [408, 425, 500, 502, 503, 599] {
            assert_eq!(e(s), NotifyError::Transient("x".into()), "{s}");
        }
        for s in [400, 401, 403, 404, 410, 413] {
            assert_eq!(e(s), NotifyError::Permanent("x".into()), "{s}");
        }
    }

    #[test]
    fn plain_text_in_both_languages() {
        let tz = chrono_tz::Europe::Kyiv;
        let mut a = alert(AlertKind::Restored, true);
        a.ended_at = a.started_at.map(|s| s + chrono::TimeDelta::minutes(134));
        a.at = a.ended_at.unwrap_or(a.at);
        let en = plain_text(&a, Language::En, tz);
        assert_eq!(en.title, format!("{}: power is back", a.location_name));
        assert!(en.body.starts_with("power is back at "), "{}", en.body);
        assert!(en.body.ends_with("it was off 2 h 14 min"), "{}", en.body);
        let uk = plain_text(&a, Language::Uk, tz);
        assert!(uk.title.ends_with("світло повернулося"), "{}", uk.title);
        assert!(uk.body.ends_with("його не було 2 год 14 хв"), "{}", uk.body);
        let out = plain_text(&alert(AlertKind::Outage, false), Language::Uk, tz);
        assert_eq!(out.body, text::uk::POWER_OFF_START_UNKNOWN);
    }

    #[test]
    fn console_lines() {
        let c = ConsoleNotifier::new(chrono_tz::UTC);
        let line = |k, started| c.render(&alert(k, started));
        assert_eq!(
            line(AlertKind::Outage, true),
            "🔴 Home: power is off since 14:02:10"
        );
        assert_eq!(
            line(AlertKind::Outage, false),
            "🔴 Home: power is off; it went out while the monitor was offline"
        );
        assert_eq!(
            line(AlertKind::Restored, true),
            "🟢 Home: power is back at 16:16:10 — it was off 2 h 14 min"
        );
        assert_eq!(
            line(AlertKind::Restored, false),
            "🟢 Home: power is back at 16:16:10; it went out while the monitor was offline, so how long it was off is unknown"
        );
        assert_eq!(
            line(AlertKind::NetworkRestored, true),
            "🟡 Home: the power stayed on; only the network was down for 2 h 14 min"
        );
        assert_eq!(
            line(AlertKind::Paused, true),
            "⏸ Home: monitoring paused; no alerts until it resumes"
        );
        assert_eq!(
            line(AlertKind::Test, true),
            "✅ Home: test message: console alerts work"
        );
    }
}
