//! `outage-notify-webhook`: the webhook notifier plugin of outage-monitor.
//!
//! Enabled by a `[notifiers.webhook]` table, or any `[notifiers.<instance>]` with
//! `kind = "webhook"` (one per receiver). Every alert becomes one JSON `POST` to `url`
//! ([`payload::Payload`], versioned): the event (`outage.started`, `outage.updated`,
//! `outage.ended`, `location.paused`, `test`), the location, the outage's times and cause, and a
//! readable title and sentence in the configured language.
//!
//! - **Signed**: with `secret_file` (or `secret`), the header `X-Outage-Signature-256:
//!   sha256=<hex>` carries the HMAC-SHA256 of the exact body ([`payload::sign`],
//!   [`payload::verify`]).
//! - **Retried**: a timeout, a refused connection, 408, 425 or 5xx is retried with backoff
//!   from the outbox (a restart keeps the queue); 429 waits for `Retry-After`; any other 4xx is
//!   given up and logged (the request itself is wrong). Every retry carries the same delivery id
//!   (`id`, header `X-Outage-Delivery`), so a receiver can drop a repeat.
//! - **No chats**: a webhook instance is one target; a route names it without a chat
//!   (`--notify hook`).
//!
//! The URL may hold a token (Slack, Discord and most chat webhooks do): logs, errors and
//! `Debug` show its scheme and host only; header values never appear.

pub mod payload;

use std::collections::BTreeMap;
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
use serde::Deserialize;

use payload::{DELIVERY_HEADER, EVENT_HEADER, Event, Payload, SIGNATURE_HEADER};

/// The plugin's kind name.
pub const NAME: &str = "webhook";

/// How long one POST may take before it counts as failed (and is retried).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The example shown by `outage-monitor config example` and `plugins list`.
pub const EXAMPLE_CONFIG: &str = r#"[notifiers.webhook]           # one receiver; [notifiers.ha] + kind = "webhook" makes another
url = "https://example.org/outage-hook"
# secret_file = "/run/credentials/outage-monitor/webhook-secret"  # signs bodies: X-Outage-Signature-256
# events = ["outage.started", "outage.updated", "outage.ended", "location.paused", "test"]
# headers = { Authorization = "Bearer …" }   # sent with every POST; never logged
# language = "uk"                   # of `title` and `text`; default: monitor.language
# timeout = "10s"                   # per POST; slower ones are retried
"#;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    url: Option<String>,
    secret: Option<Secret>,
    secret_file: Option<PathBuf>,
    events: Option<Vec<String>>,
    #[serde(default)]
    headers: BTreeMap<String, Secret>,
    language: Option<Language>,
    #[serde(default, with = "humantime_serde")]
    timeout: Option<Duration>,
}

/// `[notifiers.<instance>]` with `kind = "webhook"`, checked.
#[derive(Clone)]
pub struct WebhookConfig {
    /// Where to POST.
    pub url: reqwest::Url,
    /// Key of the body signature, if any.
    pub secret: Option<Secret>,
    /// Events sent; the others are never queued.
    pub events: Vec<Event>,
    /// Extra request headers (values are secrets: never logged).
    pub headers: Vec<(reqwest::header::HeaderName, Secret)>,
    /// Language of `title` and `text`; `None`: `monitor.language`.
    pub language: Option<Language>,
    /// Per POST.
    pub timeout: Duration,
}

impl std::fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookConfig")
            .field("url", &shown_url(&self.url))
            .field("signed", &self.secret.is_some())
            .field("events", &self.events)
            .field(
                "headers",
                &self
                    .headers
                    .iter()
                    .map(|(k, _)| k.as_str())
                    .collect::<Vec<_>>(),
            )
            .field("language", &self.language)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// `https://host:port/…`: a URL as logs may show it (the path and query can hold a token).
pub fn shown_url(url: &reqwest::Url) -> String {
    let host = url.host_str().unwrap_or("?");
    let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
    let rest = if url.path() == "/" && url.query().is_none() {
        ""
    } else {
        "/…"
    };
    format!("{}://{host}{port}{rest}", url.scheme())
}

impl WebhookConfig {
    /// Reads the instance table `section` (e.g. `notifiers.webhook`), which errors name.
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
        let url = raw.url.ok_or_else(|| {
            PluginError::config(
                section,
                "set `url`, the http(s) address to POST alerts to, e.g. \"https://example.org/outage-hook\"",
            )
        })?;
        let url = reqwest::Url::parse(url.trim())
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
            .ok_or_else(|| {
                PluginError::config(
                    section,
                    "`url` is not an http(s) URL with a host, e.g. \"https://example.org/outage-hook\"",
                )
            })?;
        let secret = secret_or_file("secret", raw.secret, raw.secret_file.as_deref())
            .map_err(|e| unreadable(e.into()))?;
        if secret.as_ref().is_some_and(Secret::is_empty) {
            return Err(PluginError::config(
                section,
                "the webhook secret is empty; put a long random string in it (e.g. `openssl rand -hex 32`)",
            ));
        }
        let events = match raw.events {
            None => Event::ALL.to_vec(),
            Some(names) => {
                let mut events = Vec::new();
                for n in &names {
                    let e = Event::parse(n).ok_or_else(|| {
                        PluginError::config(
                            section,
                            format!(
                                "`events` has `{n}`; the events are {}",
                                Event::ALL.map(Event::as_str).join(", ")
                            ),
                        )
                    })?;
                    if !events.contains(&e) {
                        events.push(e);
                    }
                }
                events
            }
        };
        let mut headers = Vec::new();
        for (k, v) in raw.headers {
            let name = reqwest::header::HeaderName::try_from(k.as_str()).map_err(|_| {
                PluginError::config(section, format!("`headers` has `{k}`, not a header name"))
            })?;
            if reqwest::header::HeaderValue::try_from(v.expose()).is_err() {
                return Err(PluginError::config(
                    section,
                    format!("the value of header `{k}` is not a valid header value"),
                ));
            }
            headers.push((name, v));
        }
        let timeout = raw.timeout.unwrap_or(DEFAULT_TIMEOUT);
        if timeout.is_zero() {
            return Err(PluginError::config(
                section,
                "`timeout` must be more than 0 (e.g. \"10s\")",
            ));
        }
        Ok(Self {
            url,
            secret,
            events,
            headers,
            language: raw.language,
            timeout,
        })
    }
}

/// POSTs every alert as JSON to one URL.
#[derive(Clone)]
pub struct WebhookNotifier {
    name: String,
    config: WebhookConfig,
    language: Language,
    tz: chrono_tz::Tz,
    http: reqwest::Client,
}

impl std::fmt::Debug for WebhookNotifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookNotifier")
            .field("name", &self.name)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl WebhookNotifier {
    /// A notifier named `name` (its outbox queue) with `config`; texts in `config.language`
    /// or else `language`, times in `tz`.
    pub fn new(
        name: &str,
        config: WebhookConfig,
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
        let config = WebhookConfig::from_section(ctx.table, &section)?;
        Self::new(
            ctx.instance,
            config,
            ctx.config.monitor.language,
            ctx.config.monitor.timezone,
        )
        .map_err(|e| PluginError::config(&section, format!("cannot set up an HTTP client: {e}")))
    }

    /// The body and headers of the POST for `alert`.
    pub fn request(&self, alert: &Alert) -> (Vec<u8>, Vec<(String, String)>) {
        let payload = Payload::new(&self.name, alert, plain_text(alert, self.language, self.tz));
        let body = serde_json::to_vec(&payload).unwrap_or_default();
        let mut headers = vec![
            (EVENT_HEADER.to_string(), payload.event.as_str().to_string()),
            (DELIVERY_HEADER.to_string(), payload.id.clone()),
        ];
        if let Some(secret) = &self.config.secret {
            headers.push((
                SIGNATURE_HEADER.to_string(),
                payload::sign(secret.expose().as_bytes(), &body),
            ));
        }
        (body, headers)
    }
}

#[async_trait]
impl Notifier for WebhookNotifier {
    fn name(&self) -> &str {
        &self.name
    }

    fn chat_for(&self, _location_chat: Option<&str>) -> String {
        "default".into()
    }

    fn check_chat(&self, _chat: &str) -> Result<(), String> {
        Err(format!(
            "a webhook has no chats; route to it without one: --notify {}",
            self.name
        ))
    }

    fn accepts(&self, kind: AlertKind) -> bool {
        self.config.events.contains(&Event::of(kind))
    }

    async fn check_online(&self) -> Result<String, NotifyError> {
        Ok(format!(
            "POSTs to {}{} (not contacted: a test alert would deliver)",
            shown_url(&self.config.url),
            if self.config.secret.is_some() {
                ", signed"
            } else {
                ", unsigned"
            }
        ))
    }

    async fn deliver(
        &self,
        alert: &Alert,
        ctx: &DeliveryContext,
    ) -> Result<Option<MessageRef>, NotifyError> {
        let (body, headers) = self.request(alert);
        let mut req = self
            .http
            .post(self.config.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json");
        for (k, v) in &headers {
            req = req.header(k, v);
        }
        for (k, v) in &self.config.headers {
            req = req.header(k, v.expose());
        }
        let id = headers
            .iter()
            .find(|(k, _)| k == DELIVERY_HEADER)
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        let to = shown_url(&self.config.url);
        let resp = req.body(body).send().await.map_err(|e| {
            NotifyError::Transient(format!(
                "POST to {to} failed: {}",
                ErrorChain(&e.without_url())
            ))
        })?;
        let status = resp.status();
        if status.is_success() {
            tracing::debug!(notifier = %self.name, %to, delivery = %id, "webhook delivered");
            return Ok(Some(MessageRef {
                notifier: self.name.clone(),
                chat: ctx.chat.clone(),
                message_id: id,
            }));
        }
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        Err(NotifyError::from_http_status(
            status.as_u16(),
            retry_after.as_deref(),
            &format!("{to} answered {status}"),
        ))
    }
}

fn factory(ctx: &PluginContext<'_>) -> Result<Arc<dyn Notifier>, PluginError> {
    Ok(Arc::new(WebhookNotifier::from_context(ctx)?))
}

outage_core::inventory::submit! {
    PluginDescriptor {
        kind: PluginKind::Notifier,
        name: NAME,
        description: "Webhook: a JSON POST per outage event, HMAC-SHA256 signed, retried from the outbox.",
        example_config: EXAMPLE_CONFIG,
        factory: Factory::Notifier(factory),
    }
}

#[cfg(test)]
mod tests;
