//! [`TelegramNotifier`]: one live message per outage.
//!
//! | alert | what is sent |
//! |---|---|
//! | `Outage` | `sendMessage`: the outage message ("🔴 **Home** — power is off since 14:02") |
//! | `OutageUpdate` | `editMessageText` of the outage message with the running duration |
//! | `Restored` | `editMessageText` of the outage message to its final summary, then `sendMessage` replying to it ("🟢 **Home**: power is back at 16:16 — it was off 2 h 14 min") |
//! | `NetworkRestored` | `editMessageText` of the outage message: the power stayed on, only the network was down (no new message) |
//! | `Paused`, `Test` | `sendMessage` |
//!
//! **Which message later alerts find.** Every [`MessageRef`] this notifier returns for an
//! outage points at *the outage message* (the live one), never at the restore reply. The
//! delivery worker hands the refs recorded for the same event back in
//! [`DeliveryContext::earlier`], oldest first, so the live message is always the **last** one
//! there. When the outage message has vanished (deleted in the chat), an edit sends a new
//! message instead and returns *its* ref, which becomes the last one.
//!
//! **Retries never repeat a message.** `Restored` edits first and replies second: if the reply
//! fails, the retry's edit answers "message is not modified" (treated as success) and only the
//! reply is sent again. An edit is idempotent, and each `deliver` sends at most one new message.
//!
//! **Errors.** 429 → [`NotifyError::RateLimited`] with Telegram's `retry_after`; 5xx, timeouts
//! and connection errors → [`NotifyError::Transient`]; 401, 403 (blocked, not a member) and
//! 400 (chat not found, and any other refusal) → [`NotifyError::Permanent`] with a message that
//! says what to fix. The token appears in none of them.

use std::fmt;

use async_trait::async_trait;
use chrono_tz::Tz;
use outage_core::domain::MessageRef;
use outage_core::notify::{Alert, AlertKind, DeliveryContext, DiagramImage, Notifier, NotifyError};
use outage_core::registry::{PluginContext, PluginError};
use outage_core::render::Language;

use crate::api::{
    ApiError, BotApi, EditMessageText, HTML, Message, ReplyParameters, SendMessage, Upload,
};
use crate::config::{ChatId, TelegramConfig};
use crate::messages::Templates;

/// The plugin's kind, and the name of the instance configured as `[notifiers.telegram]`.
pub const NAME: &str = "telegram";

/// Sends alerts to Telegram. `Debug` never shows the token.
#[derive(Clone)]
pub struct TelegramNotifier {
    name: String,
    api: BotApi,
    default_chats: Vec<ChatId>,
    templates: Templates,
    burst_window: std::time::Duration,
    commands: bool,
}

impl fmt::Debug for TelegramNotifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TelegramNotifier")
            .field("name", &self.name)
            .field("api", &self.api)
            .field("default_chats", &self.default_chats)
            .field("templates", &self.templates)
            .field("burst_window", &self.burst_window)
            .field("commands", &self.commands)
            .finish()
    }
}

impl TelegramNotifier {
    /// A notifier from resolved settings. `timezone` and `language` are `monitor.timezone` and
    /// `monitor.language`; the config's own `language` overrides the latter.
    pub fn new(
        config: &TelegramConfig,
        timezone: Tz,
        language: Language,
    ) -> Result<Self, ApiError> {
        let api = BotApi::new(&config.api_base, config.bot_token.clone(), config.timeout)?;
        Ok(Self {
            name: NAME.into(),
            api,
            default_chats: config.chat_ids.clone(),
            templates: Templates::new(config.language.unwrap_or(language), timezone, config.style),
            burst_window: config.burst_window,
            commands: config.commands,
        })
    }

    /// The same notifier as instance `name` (`[notifiers.<name>]`): its outbox queues and
    /// message records carry that name.
    pub fn named(mut self, name: &str) -> Self {
        self.name = name.to_string();
        self
    }

    /// Builds the notifier the way the plugin registry does: from the instance's
    /// `[notifiers.<instance>]` table and the monitor's settings.
    pub fn from_context(ctx: &PluginContext<'_>) -> Result<Self, PluginError> {
        let section = ctx.section("notifiers");
        let config = TelegramConfig::from_section(ctx.table, &section)?;
        Ok(Self::new(
            &config,
            ctx.config.monitor.timezone,
            ctx.config.monitor.language,
        )
        .map_err(|e| PluginError::Config {
            section,
            reason: e.to_string(),
        })?
        .named(ctx.instance))
    }

    /// The Bot API client (for posting diagrams with `sendPhoto` / `editMessageMedia`).
    pub fn api(&self) -> &BotApi {
        &self.api
    }

    /// The message texts.
    pub fn templates(&self) -> &Templates {
        &self.templates
    }

    /// The first configured default chat.
    pub fn default_chat(&self) -> &ChatId {
        &self.default_chats[0]
    }

    /// Every configured default chat (`chat_id`, one or a list).
    pub fn default_chats(&self) -> &[ChatId] {
        &self.default_chats
    }

    /// Calls `getMe` (for `check-config --online`): `Ok("@name (First name)")`, or the exact
    /// problem — a rejected token, an unreachable server, a timeout.
    pub async fn check_online(&self) -> Result<String, NotifyError> {
        // An unreachable server names `api_base`; anything else is read for `chat`.
        let failed = |e: ApiError, chat: &ChatId| match e {
            e @ (ApiError::Timeout { .. } | ApiError::Network { .. }) => {
                NotifyError::Transient(format!("{e} (api_base = {})", self.api.base()))
            }
            e => e.to_notify_error(chat),
        };
        let u = self
            .api
            .get_me()
            .await
            .map_err(|e| failed(e, self.default_chat()))?;
        let bot = match u.username {
            Some(name) => format!("@{name} ({})", u.first_name),
            None => u.first_name,
        };
        // The token works; can the bot reach the chats alerts go to?
        let mut chats = Vec::with_capacity(self.default_chats.len());
        for c in &self.default_chats {
            let chat = self.api.get_chat(c).await.map_err(|e| failed(e, c))?;
            chats.push(chat.describe());
        }
        Ok(format!("{bot}, posting to {}", chats.join(", ")))
    }

    fn message_ref(&self, ctx: &DeliveryContext, id: i64) -> MessageRef {
        MessageRef {
            notifier: self.name.clone(),
            chat: ctx.chat.clone(),
            message_id: id.to_string(),
        }
    }

    async fn send(
        &self,
        chat: &ChatId,
        text: &str,
        reply_to: Option<i64>,
        silent: bool,
    ) -> Result<Message, NotifyError> {
        self.api
            .send_message(&SendMessage {
                chat_id: chat,
                text,
                parse_mode: Some(HTML),
                reply_parameters: reply_to.map(|message_id| ReplyParameters {
                    message_id,
                    allow_sending_without_reply: true,
                }),
                disable_notification: silent,
            })
            .await
            .map_err(|e| e.to_notify_error(chat))
    }

    /// Edits message `id`. `Ok(true)`: it now says `text` (including "not modified");
    /// `Ok(false)`: the message is gone.
    async fn edit(&self, chat: &ChatId, id: i64, text: &str) -> Result<bool, NotifyError> {
        let r = self
            .api
            .edit_message_text(&EditMessageText {
                chat_id: chat,
                message_id: id,
                text,
                parse_mode: Some(HTML),
            })
            .await;
        match r {
            Ok(_) => Ok(true),
            Err(e) if e.is_not_modified() => Ok(true),
            Err(e) if e.is_message_gone() => {
                tracing::info!(%chat, message_id = id, error = %e, "the outage message is gone");
                Ok(false)
            }
            Err(e) => Err(e.to_notify_error(chat)),
        }
    }

    /// Edits the live message, or sends a new (silent) one when there is none any more.
    async fn edit_or_send(
        &self,
        chat: &ChatId,
        ctx: &DeliveryContext,
        live: Option<i64>,
        text: &str,
    ) -> Result<Option<MessageRef>, NotifyError> {
        if let Some(id) = live
            && self.edit(chat, id, text).await?
        {
            return Ok(Some(self.message_ref(ctx, id)));
        }
        let m = self.send(chat, text, None, true).await?;
        Ok(Some(self.message_ref(ctx, m.message_id)))
    }

    /// Later alerts about an outage that was announced in a burst message: that message lists
    /// other locations too, so it is never edited for one of them. Running-duration updates
    /// are skipped; a restore or a network-only verdict is a reply to it.
    async fn deliver_after_group(
        &self,
        chat: &ChatId,
        ctx: &DeliveryContext,
        alert: &Alert,
        group: i64,
    ) -> Result<Option<MessageRef>, NotifyError> {
        let t = &self.templates;
        let group_ref = MessageRef {
            notifier: self.name.clone(),
            chat: ctx.chat.clone(),
            message_id: format!("{GROUP_PREFIX}{group}"),
        };
        match alert.kind {
            AlertKind::OutageUpdate => {}
            AlertKind::Restored => {
                self.send(chat, &t.restored(alert), Some(group), false)
                    .await?;
            }
            AlertKind::NetworkRestored => {
                self.send(chat, &t.network_only(alert), Some(group), true)
                    .await?;
            }
            AlertKind::Outage | AlertKind::Paused | AlertKind::Test => {
                let text = match alert.kind {
                    AlertKind::Outage => t.outage(alert),
                    AlertKind::Paused => t.paused(alert),
                    _ => t.test(alert),
                };
                let m = self.send(chat, &text, None, false).await?;
                return Ok(Some(self.message_ref(ctx, m.message_id)));
            }
        }
        Ok(Some(group_ref))
    }
}

/// The message later alerts about an outage refer to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Live {
    /// No message yet (or none this notifier can use).
    None,
    /// The outage's own message: edited while it lasts, replied to on restore.
    Single(i64),
    /// A burst message listing several locations: never edited for one of them; later alerts
    /// reply to it instead.
    Group(i64),
}

/// How a burst message is recorded in a [`MessageRef`], so later alerts know not to edit it.
const GROUP_PREFIX: &str = "group:";

/// The live message: the last ref recorded for the event.
fn live_message(name: &str, ctx: &DeliveryContext) -> Live {
    let Some(r) = ctx.earlier.iter().rev().find(|r| r.notifier == name) else {
        return Live::None;
    };
    match r.message_id.strip_prefix(GROUP_PREFIX) {
        Some(g) => g.parse().map_or(Live::None, Live::Group),
        None => r.message_id.parse().map_or(Live::None, Live::Single),
    }
}

#[async_trait]
impl Notifier for TelegramNotifier {
    fn name(&self) -> &str {
        &self.name
    }

    /// The location's chat when it has one, else the first `chat_id` from the config.
    fn chat_for(&self, location_chat: Option<&str>) -> String {
        match location_chat.map(str::trim).filter(|c| !c.is_empty()) {
            Some(c) => c.to_string(),
            None => self.default_chat().to_string(),
        }
    }

    /// The location's chat when it has one, else every `chat_id` from the config.
    fn answers_commands(&self) -> bool {
        self.commands
    }

    async fn answer_commands(
        &self,
        query: std::sync::Arc<dyn outage_core::notify::MonitorQuery>,
        shutdown: tokio_util::sync::CancellationToken,
    ) {
        if !self.commands {
            return;
        }
        let bot = crate::bot::Bot {
            instance: self.name.clone(),
            api: self.api.clone(),
            default_chats: self.default_chats.clone(),
            templates: self.templates,
        };
        bot.run(query, shutdown).await;
    }

    fn chats_for(&self, location_chat: Option<&str>) -> Vec<String> {
        match location_chat.map(str::trim).filter(|c| !c.is_empty()) {
            Some(c) => vec![c.to_string()],
            None => self.default_chats.iter().map(ToString::to_string).collect(),
        }
    }

    /// A chat must be a number or a public `@name` ([`ChatId::parse`]).
    fn check_chat(&self, chat: &str) -> Result<(), String> {
        ChatId::parse(chat).map(|_| ())
    }

    async fn check_online(&self) -> Result<String, NotifyError> {
        TelegramNotifier::check_online(self).await
    }

    async fn deliver(
        &self,
        alert: &Alert,
        ctx: &DeliveryContext,
    ) -> Result<Option<MessageRef>, NotifyError> {
        let chat = ChatId::parse(&ctx.chat).map_err(|e| {
            NotifyError::Permanent(format!("cannot send to the location's chat: {e}"))
        })?;
        let t = &self.templates;
        let live = live_message(&self.name, ctx);
        if let Live::Group(group) = live {
            return self.deliver_after_group(&chat, ctx, alert, group).await;
        }
        let live = match live {
            Live::Single(id) => Some(id),
            _ => None,
        };
        match alert.kind {
            AlertKind::Outage => {
                let m = self.send(&chat, &t.outage(alert), None, false).await?;
                tracing::info!(%chat, message_id = m.message_id, location = %alert.location_name, "outage alert sent");
                Ok(Some(self.message_ref(ctx, m.message_id)))
            }
            AlertKind::OutageUpdate => {
                self.edit_or_send(&chat, ctx, live, &t.outage_update(alert))
                    .await
            }
            AlertKind::NetworkRestored => {
                self.edit_or_send(&chat, ctx, live, &t.network_only(alert))
                    .await
            }
            AlertKind::Restored => {
                let summary_in_place = match live {
                    Some(id) => self.edit(&chat, id, &t.outage_summary(alert)).await?,
                    None => false,
                };
                let reply_to = live.filter(|_| summary_in_place);
                let m = self
                    .send(&chat, &t.restored(alert), reply_to, false)
                    .await?;
                tracing::info!(%chat, message_id = m.message_id, location = %alert.location_name, "restore alert sent");
                Ok(Some(
                    self.message_ref(ctx, reply_to.unwrap_or(m.message_id)),
                ))
            }
            AlertKind::Paused => {
                let m = self.send(&chat, &t.paused(alert), None, true).await?;
                Ok(Some(self.message_ref(ctx, m.message_id)))
            }
            AlertKind::Test => {
                let m = self.send(&chat, &t.test(alert), None, false).await?;
                Ok(Some(self.message_ref(ctx, m.message_id)))
            }
        }
    }

    fn burst_window(&self) -> Option<std::time::Duration> {
        Some(self.burst_window).filter(|w| !w.is_zero())
    }

    /// One message listing every alert. Restores whose outage had its own message first edit
    /// that message to its final summary (idempotent, so a retry repeats nothing); the burst
    /// message is then the only new message.
    async fn deliver_burst(
        &self,
        alerts: &[(Alert, DeliveryContext)],
    ) -> Result<Vec<Option<MessageRef>>, NotifyError> {
        let Some((_, first)) = alerts.first() else {
            return Ok(vec![]);
        };
        let chat = ChatId::parse(&first.chat).map_err(|e| {
            NotifyError::Permanent(format!("cannot send to the location's chat: {e}"))
        })?;
        let mut keep = Vec::with_capacity(alerts.len());
        for (alert, ctx) in alerts {
            let live = live_message(&self.name, ctx);
            if let (AlertKind::Restored, Live::Single(id)) = (alert.kind, live) {
                self.edit(&chat, id, &self.templates.outage_summary(alert))
                    .await?;
            }
            keep.push(live);
        }
        let list: Vec<&Alert> = alerts.iter().map(|(a, _)| a).collect();
        let m = self
            .send(&chat, &self.templates.burst(&list), None, false)
            .await?;
        tracing::info!(%chat, message_id = m.message_id, alerts = alerts.len(), "burst of alerts sent as one message");
        let group = MessageRef {
            notifier: self.name.clone(),
            chat: first.chat.clone(),
            message_id: format!("{GROUP_PREFIX}{}", m.message_id),
        };
        Ok(alerts
            .iter()
            .zip(keep)
            .map(|((alert, ctx), live)| match (alert.kind, live) {
                // A restore keeps pointing at the outage's own message.
                (AlertKind::Restored, Live::Single(id)) => Some(self.message_ref(ctx, id)),
                _ => Some(group.clone()),
            })
            .collect())
    }

    fn posts_diagrams(&self) -> bool {
        true
    }

    /// `sendPhoto` (silent: a daily chart should not ring phones).
    async fn post_diagram(
        &self,
        chat: &str,
        img: &DiagramImage,
    ) -> Result<MessageRef, NotifyError> {
        let chat_id = ChatId::parse(chat)
            .map_err(|e| NotifyError::Permanent(format!("cannot post to the chat: {e}")))?;
        let caption = self.templates.diagram_caption(img);
        let m = self
            .api
            .send_photo(
                &chat_id,
                Upload::png(diagram_file_name(img), img.png.clone()),
                Some(&caption),
                Some(HTML),
            )
            .await
            .map_err(|e| e.to_notify_error(&chat_id))?;
        Ok(MessageRef {
            notifier: self.name.clone(),
            chat: chat.to_string(),
            message_id: m.message_id.to_string(),
        })
    }

    /// `editMessageMedia` with the new picture and caption; "not modified" is success and a
    /// deleted message is [`NotifyError::MessageGone`].
    async fn update_diagram(
        &self,
        msg: &MessageRef,
        img: &DiagramImage,
    ) -> Result<(), NotifyError> {
        let chat_id = ChatId::parse(&msg.chat)
            .map_err(|e| NotifyError::Permanent(format!("cannot post to the chat: {e}")))?;
        let id: i64 = msg.message_id.parse().map_err(|_| {
            NotifyError::MessageGone(format!("{:?} is not a Telegram message id", msg.message_id))
        })?;
        let caption = self.templates.diagram_caption(img);
        let r = self
            .api
            .edit_message_media(
                &chat_id,
                id,
                Upload::png(diagram_file_name(img), img.png.clone()),
                Some(&caption),
                Some(HTML),
            )
            .await;
        match r {
            Ok(_) => Ok(()),
            Err(e) if e.is_not_modified() => Ok(()),
            Err(e) if e.is_message_gone() => Err(NotifyError::MessageGone(e.to_string())),
            Err(e) => Err(e.to_notify_error(&chat_id)),
        }
    }
}

fn diagram_file_name(img: &DiagramImage) -> String {
    format!("week-{}-{}.png", img.week, img.location_id)
}
