//! `outage-notify-ntfy`: the [ntfy](https://ntfy.sh) notifier plugin of outage-monitor.
//!
//! Enabled by a `[notifiers.ntfy]` table, or any `[notifiers.<instance>]` with `kind = "ntfy"`.
//! Each alert is published to a topic (one or a list; a route `--notify ntfy:<topic>` picks
//! another) as a push notification with a title, a sentence, a priority and emoji tags: an
//! outage rings at `high`, power back at `default`, a network-only drop and a pause at `low`
//! (each configurable). Texts follow `language` (English or Ukrainian).
//!
//! ntfy cannot edit a notification, so running-duration updates are not sent. Publishing uses
//! ntfy's JSON form (`POST <server>/` with the topic in the body), which carries non-ASCII
//! titles as they are. A self-hosted server with access control takes a token (`tk_…`) from
//! `token_file`; it never appears in logs or `Debug` output.
//!
//! Answers map to retries the usual way ([`NotifyError::from_http_status`]): 5xx and timeouts
//! are retried with backoff from the outbox, 429 waits, 401/403/404 are given up and logged.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use outage_core::config::secret_or_file;
use outage_core::domain::MessageRef;
use outage_core::errors::ErrorChain;
use outage_core::notify::{Alert, AlertKind, DeliveryContext, Notifier, NotifyError, plain_text};
use outage_core::registry::{Factory, PluginContext, PluginDescriptor, PluginError, PluginKind};
use outage_core::render::Language;
use outage_core::secret::Secret;
use serde::{Deserialize, Serialize};

/// The plugin's kind name.
pub const NAME: &str = "ntfy";

/// The public server.
pub const DEFAULT_SERVER: &str = "https://ntfy.sh";

/// How long one publish may take before it counts as failed (and is retried).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The example shown by `outage-monitor config example` and `plugins list`.
pub const EXAMPLE_CONFIG: &str = r#"[notifiers.ntfy]              # push notifications; [notifiers.phone] + kind = "ntfy" makes another
topic = "home-power-replace-me"     # or a list; pick a hard-to-guess name on the public server
# server = "https://ntfy.sh"        # or your own server
# token_file = "/run/credentials/outage-monitor/ntfy-token"  # access token (tk_…), or `token`
# priority = { outage = "high", restored = "default", network_restored = "low", paused = "low", test = "default" }
# tags = ["house"]                  # added to every notification, beside the emoji of the event
# language = "uk"                   # default: monitor.language
# timeout = "10s"
"#;

/// An ntfy priority, 1 (`min`) to 5 (`urgent`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Priority(u8);

impl Priority {
    /// Priority 2: no sound.
    pub const LOW: Priority = Priority(2);
    /// Priority 3: the phone's default.
    pub const DEFAULT: Priority = Priority(3);
    /// Priority 4: long vibration, pop-over.
    pub const HIGH: Priority = Priority(4);

    /// Reads `min|low|default|high|urgent|max` or `1`–`5`.
    pub fn parse(s: &str) -> Option<Self> {
        let n = match s.trim().to_ascii_lowercase().as_str() {
            "min" | "1" => 1,
            "low" | "2" => 2,
            "default" | "3" => 3,
            "high" | "4" => 4,
            "urgent" | "max" | "5" => 5,
            _ => return None,
        };
        Some(Priority(n))
    }

    /// 1 to 5.
    pub fn get(self) -> u8 {
        self.0
    }
}

impl<'de> Deserialize<'de> for Priority {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Int(u64),
            Str(String),
        }
        let text = match Raw::deserialize(d)? {
            Raw::Int(n) => n.to_string(),
            Raw::Str(s) => s,
        };
        Priority::parse(&text).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "`{text}` is not a priority; use min, low, default, high, urgent or 1–5"
            ))
        })
    }
}

/// The priority of each event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Priorities {
    /// An outage began.
    pub outage: Priority,
    /// Power is back.
    pub restored: Priority,
    /// Only the network was down.
    pub network_restored: Priority,
    /// A maintenance pause began.
    pub paused: Priority,
    /// A test alert.
    pub test: Priority,
}

impl Default for Priorities {
    fn default() -> Self {
        Self {
            outage: Priority::HIGH,
            restored: Priority::DEFAULT,
            network_restored: Priority::LOW,
            paused: Priority::LOW,
            test: Priority::DEFAULT,
        }
    }
}

impl Priorities {
    fn of(&self, kind: AlertKind) -> Priority {
        match kind {
            AlertKind::Outage | AlertKind::OutageUpdate => self.outage,
            AlertKind::Restored => self.restored,
            AlertKind::NetworkRestored => self.network_restored,
            AlertKind::Paused => self.paused,
            AlertKind::Test => self.test,
        }
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Topics {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    topic: Option<Topics>,
    server: Option<String>,
    token: Option<Secret>,
    token_file: Option<PathBuf>,
    #[serde(default)]
    priority: Priorities,
    #[serde(default)]
    tags: Vec<String>,
    language: Option<Language>,
    #[serde(default, with = "humantime_serde")]
    timeout: Option<Duration>,
}

/// `[notifiers.<instance>]` with `kind = "ntfy"`, checked.
#[derive(Clone)]
pub struct NtfyConfig {
    /// Default topics (each one a target).
    pub topics: Vec<String>,
    /// Server base URL, without a trailing `/`.
    pub server: String,
    /// Access token, if the server wants one.
    pub token: Option<Secret>,
    /// Priority per event.
    pub priority: Priorities,
    /// Tags added to every notification.
    pub tags: Vec<String>,
    /// Language; `None`: `monitor.language`.
    pub language: Option<Language>,
    /// Per publish.
    pub timeout: Duration,
}

impl std::fmt::Debug for NtfyConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NtfyConfig")
            .field("topics", &self.topics)
            .field("server", &self.server)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("priority", &self.priority)
            .field("tags", &self.tags)
            .field("language", &self.language)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// Checks an ntfy topic name: 1–64 of `A-Z a-z 0-9 _ -`.
pub fn check_topic(topic: &str) -> Result<(), String> {
    let ok = !topic.is_empty()
        && topic.len() <= 64
        && topic
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    match ok {
        true => Ok(()),
        false => Err(format!(
            "`{topic}` is not an ntfy topic: use 1–64 letters, digits, `_` or `-`"
        )),
    }
}

impl NtfyConfig {
    /// Reads the instance table `section` (e.g. `notifiers.ntfy`), which errors name.
    pub fn from_section(table: &serde_json::Value, section: &str) -> Result<Self, PluginError> {
        let table = if table.is_null() {
            serde_json::Value::Object(Default::default())
        } else {
            table.clone()
        };
        let unreadable = |e: Box<dyn std::error::Error + Send + Sync>| PluginError::ConfigSource {
            section: section.into(),
            source: e,
        };
        let raw: RawConfig = serde_json::from_value(table).map_err(|e| unreadable(e.into()))?;
        let topics = match raw.topic {
            None => Vec::new(),
            Some(Topics::One(t)) => vec![t],
            Some(Topics::Many(ts)) => ts,
        };
        if topics.is_empty() {
            return Err(PluginError::config(
                section,
                "set `topic`, the ntfy topic to publish to (or a list of them), e.g. \"home-power-3f9c\"",
            ));
        }
        let mut unique: Vec<String> = Vec::new();
        for t in topics {
            let t = t.trim().to_string();
            check_topic(&t).map_err(|r| PluginError::config(section, format!("`topic`: {r}")))?;
            if !unique.contains(&t) {
                unique.push(t);
            }
        }
        let server = raw
            .server
            .unwrap_or_else(|| DEFAULT_SERVER.into())
            .trim()
            .trim_end_matches('/')
            .to_string();
        if reqwest::Url::parse(&server)
            .ok()
            .is_none_or(|u| !matches!(u.scheme(), "http" | "https") || u.host_str().is_none())
        {
            return Err(PluginError::config(
                section,
                format!(
                    "`server` = `{server}` is not an http(s) URL; the default is {DEFAULT_SERVER}"
                ),
            ));
        }
        let token = secret_or_file("token", raw.token, raw.token_file.as_deref())
            .map_err(|e| unreadable(e.into()))?;
        let timeout = raw.timeout.unwrap_or(DEFAULT_TIMEOUT);
        if timeout.is_zero() {
            return Err(PluginError::config(
                section,
                "`timeout` must be more than 0 (e.g. \"10s\")",
            ));
        }
        for t in &raw.tags {
            if t.is_empty() || t.contains(',') {
                return Err(PluginError::config(
                    section,
                    format!("`tags` has `{t}`; a tag is a non-empty word without commas"),
                ));
            }
        }
        Ok(Self {
            topics: unique,
            server,
            token,
            priority: raw.priority,
            tags: raw.tags,
            language: raw.language,
            timeout,
        })
    }
}

/// What is published for one alert (ntfy's JSON publishing form).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Publish {
    /// The topic.
    pub topic: String,
    /// Notification title.
    pub title: String,
    /// Notification text.
    pub message: String,
    /// 1–5.
    pub priority: Priority,
    /// Emoji short codes and plain tags.
    pub tags: Vec<String>,
}

/// Publishes alerts to ntfy topics.
#[derive(Clone)]
pub struct NtfyNotifier {
    name: String,
    config: NtfyConfig,
    language: Language,
    tz: chrono_tz::Tz,
    http: reqwest::Client,
}

impl std::fmt::Debug for NtfyNotifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NtfyNotifier")
            .field("name", &self.name)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl NtfyNotifier {
    /// A notifier named `name` (its outbox queue); texts in `config.language` or else
    /// `language`, times in `tz`.
    pub fn new(
        name: &str,
        config: NtfyConfig,
        language: Language,
        tz: chrono_tz::Tz,
    ) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .user_agent(concat!("outage-monitor/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            name: name.to_string(),
            language: config.language.unwrap_or(language),
            config,
            tz,
            http,
        })
    }

    /// Builds the instance the registry asks for.
    pub fn from_context(ctx: &PluginContext<'_>) -> Result<Self, PluginError> {
        let section = ctx.section("notifiers");
        let config = NtfyConfig::from_section(ctx.table, &section)?;
        Self::new(
            ctx.instance,
            config,
            ctx.config.monitor.language,
            ctx.config.monitor.timezone,
        )
        .map_err(|e| PluginError::config(&section, format!("cannot set up an HTTP client: {e}")))
    }

    /// What is published for `alert` to `topic`.
    pub fn publish(&self, alert: &Alert, topic: &str) -> Publish {
        let text = plain_text(alert, self.language, self.tz);
        let emoji = match alert.kind {
            AlertKind::Outage | AlertKind::OutageUpdate => "red_circle",
            AlertKind::Restored => "green_circle",
            AlertKind::NetworkRestored => "yellow_circle",
            AlertKind::Paused => "pause_button",
            AlertKind::Test => "white_check_mark",
        };
        let mut tags = vec![emoji.to_string()];
        tags.extend(self.config.tags.iter().cloned());
        Publish {
            topic: topic.to_string(),
            title: text.title,
            message: text.body,
            priority: self.config.priority.of(alert.kind),
            tags,
        }
    }
}

#[derive(Deserialize)]
struct Published {
    id: Option<String>,
}

#[async_trait]
impl Notifier for NtfyNotifier {
    fn name(&self) -> &str {
        &self.name
    }

    fn chat_for(&self, _location_chat: Option<&str>) -> String {
        self.config.topics.first().cloned().unwrap_or_default()
    }

    /// A location's `chat_id` is a Telegram chat; ntfy topics come from `topic` or a route.
    fn chats_for(&self, _location_chat: Option<&str>) -> Vec<String> {
        self.config.topics.clone()
    }

    fn check_chat(&self, chat: &str) -> Result<(), String> {
        check_topic(chat)
    }

    fn accepts(&self, kind: AlertKind) -> bool {
        kind != AlertKind::OutageUpdate
    }

    async fn check_online(&self) -> Result<String, NotifyError> {
        let url = format!("{}/v1/health", self.config.server);
        let resp = self.http.get(&url).send().await.map_err(|e| {
            NotifyError::Transient(format!(
                "{} is not reachable: {}",
                self.config.server,
                ErrorChain(&e.without_url())
            ))
        })?;
        match resp.status() {
            s if s.is_success() => Ok(format!(
                "{} is up; topics {}",
                self.config.server,
                self.config.topics.join(", ")
            )),
            s => Err(NotifyError::from_http_status(
                s.as_u16(),
                None,
                &format!("{}/v1/health answered {s}", self.config.server),
            )),
        }
    }

    async fn deliver(
        &self,
        alert: &Alert,
        ctx: &DeliveryContext,
    ) -> Result<Option<MessageRef>, NotifyError> {
        let body = self.publish(alert, &ctx.chat);
        let mut req = self
            .http
            .post(format!("{}/", self.config.server))
            .json(&body);
        if let Some(token) = &self.config.token {
            req = req.bearer_auth(token.expose());
        }
        let server = &self.config.server;
        let resp = req.send().await.map_err(|e| {
            NotifyError::Transient(format!(
                "publishing to {server} failed: {}",
                ErrorChain(&e.without_url())
            ))
        })?;
        let status = resp.status();
        if !status.is_success() {
            let retry_after = resp
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let what = resp.text().await.unwrap_or_default();
            let what: String = what.chars().take(200).collect();
            return Err(NotifyError::from_http_status(
                status.as_u16(),
                retry_after.as_deref(),
                &format!(
                    "{server} answered {status} for topic {}: {}",
                    ctx.chat,
                    what.trim()
                ),
            ));
        }
        let id = resp
            .json::<Published>()
            .await
            .ok()
            .and_then(|p| p.id)
            .unwrap_or_default();
        Ok(Some(MessageRef {
            notifier: self.name.clone(),
            chat: ctx.chat.clone(),
            message_id: id,
        }))
    }
}

fn factory(ctx: &PluginContext<'_>) -> Result<Arc<dyn Notifier>, PluginError> {
    Ok(Arc::new(NtfyNotifier::from_context(ctx)?))
}

outage_core::inventory::submit! {
    PluginDescriptor {
        kind: PluginKind::Notifier,
        name: NAME,
        description: "ntfy push notifications: title, priority and tags per event, public or self-hosted server.",
        example_config: EXAMPLE_CONFIG,
        factory: Factory::Notifier(factory),
    }
}

#[cfg(test)]
mod tests;
