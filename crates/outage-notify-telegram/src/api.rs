//! A small hand-written Telegram Bot API client over reqwest (rustls, no OpenSSL).
//!
//! Only the calls outage-monitor makes: `getMe`, `sendMessage`, `editMessageText`, `sendPhoto`,
//! `editMessageMedia` (multipart, `attach://`) and `deleteMessage`.
//!
//! **The token never leaves this module in text.** It is part of every request URL
//! (`/bot<token>/<method>`), and reqwest puts the URL into its errors, so every reqwest error is
//! stripped with [`reqwest::Error::without_url`], and every message built from an error or an
//! answer is passed through a redaction of the token as well.

use std::fmt;
use std::time::Duration;

use outage_core::notify::NotifyError;
use outage_core::secret::Secret;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::config::ChatId;

/// How long to wait when Telegram answers 429 without saying how long.
pub const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(5);

/// Why a Bot API call failed.
///
/// Unlike the other errors of the workspace, the causes here are flattened into redacted text
/// on purpose: a `reqwest` error or a JSON error can quote the request URL or the answer, and
/// both may contain the bot token, so no foreign error is kept as a `source`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// Telegram answered `{"ok":false,…}`.
    #[error("{method}: Telegram answered {code}: {description}")]
    Telegram {
        /// The method called.
        method: &'static str,
        /// `error_code` (the HTTP status).
        code: u16,
        /// `description`, e.g. `Bad Request: chat not found`.
        description: String,
        /// `parameters.retry_after` (seconds), sent with 429.
        retry_after: Option<u64>,
        /// `parameters.migrate_to_chat_id`, sent when a group became a supergroup.
        migrate_to_chat_id: Option<i64>,
    },
    /// No answer within the configured timeout.
    #[error("{method}: no answer from Telegram within {timeout:?}")]
    Timeout {
        /// The method called.
        method: &'static str,
        /// The limit that passed.
        timeout: Duration,
    },
    /// Could not connect, or the connection broke.
    #[error("{method}: cannot reach Telegram: {reason}")]
    Network {
        /// The method called.
        method: &'static str,
        /// What failed (never containing the token).
        reason: String,
    },
    /// An answer that is not the Bot API's JSON (e.g. an HTML page from a proxy).
    #[error("{method}: unexpected answer (HTTP {status}): {reason}")]
    Unexpected {
        /// The method called.
        method: &'static str,
        /// HTTP status.
        status: u16,
        /// What was wrong with it.
        reason: String,
    },
    /// The request could not be built (a bug, not a network problem).
    #[error("{method}: cannot build the request: {reason}")]
    Request {
        /// The method called.
        method: &'static str,
        /// What failed.
        reason: String,
    },
}

impl ApiError {
    fn telegram(&self) -> Option<(u16, &str)> {
        match self {
            ApiError::Telegram {
                code, description, ..
            } => Some((*code, description.as_str())),
            _ => None,
        }
    }

    /// `400 Bad Request: message is not modified`: the edit changed nothing, which for us
    /// means the message already says what it should.
    pub fn is_not_modified(&self) -> bool {
        self.telegram()
            .is_some_and(|(c, d)| c == 400 && d.contains("message is not modified"))
    }

    /// The message to edit or delete is gone (deleted by someone) or can no longer be edited.
    pub fn is_message_gone(&self) -> bool {
        self.telegram().is_some_and(|(c, d)| {
            c == 400
                && [
                    "message to edit not found",
                    "message to delete not found",
                    "message can't be edited",
                    "MESSAGE_ID_INVALID",
                    "there is no text in the message to edit",
                ]
                .iter()
                .any(|p| d.contains(p))
        })
    }

    /// What the delivery worker should do about this error, with a message a person can act on.
    pub fn to_notify_error(&self, chat: &ChatId) -> NotifyError {
        match self {
            ApiError::Telegram {
                code: 429,
                retry_after,
                ..
            } => NotifyError::RateLimited {
                retry_after: retry_after.map_or(DEFAULT_RETRY_AFTER, Duration::from_secs),
            },
            ApiError::Telegram { code, .. } if *code >= 500 => {
                NotifyError::Transient(self.to_string())
            }
            ApiError::Telegram { code: 401, .. } => NotifyError::Permanent(format!(
                "{self} — Telegram rejected the bot token: check notifiers.telegram.bot_token (ask @BotFather for the current one)"
            )),
            ApiError::Telegram {
                code: 403,
                description,
                ..
            } => NotifyError::Permanent(format!(
                "Telegram refuses messages to chat {chat} ({description}): the user blocked the bot, or the bot is not a member of the group (or not an admin of the channel)"
            )),
            ApiError::Telegram {
                code: 404, method, ..
            } => NotifyError::Permanent(format!(
                "{method}: Telegram answered 404 Not Found: check notifiers.telegram.api_base and that the bot token is complete"
            )),
            ApiError::Telegram {
                code: 400,
                description,
                migrate_to_chat_id: Some(new_id),
                ..
            } => NotifyError::Permanent(format!(
                "chat {chat} became a supergroup with id {new_id} ({description}): set that as the chat id"
            )),
            ApiError::Telegram {
                code: 400,
                description,
                ..
            } if description.contains("chat not found") => NotifyError::Permanent(format!(
                "Telegram does not know chat {chat} ({description}): check the chat id, and that the user started the bot or the bot was added to the group or channel"
            )),
            ApiError::Telegram { .. } => NotifyError::Permanent(self.to_string()),
            ApiError::Timeout { .. } | ApiError::Network { .. } => {
                NotifyError::Transient(self.to_string())
            }
            ApiError::Unexpected { status, .. } if *status == 429 || *status >= 500 => {
                NotifyError::Transient(self.to_string())
            }
            // A 2xx that is not the Bot API's JSON: Telegram may well have acted on it, but a
            // lost alert is worse than a rare duplicate.
            ApiError::Unexpected { status, .. } if (200..300).contains(status) => {
                NotifyError::Transient(self.to_string())
            }
            ApiError::Unexpected { .. } | ApiError::Request { .. } => {
                NotifyError::Permanent(self.to_string())
            }
        }
    }
}

/// A Telegram user (here: the bot itself, from `getMe`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct User {
    /// Numeric id.
    pub id: i64,
    /// Whether it is a bot.
    pub is_bot: bool,
    /// First name (a bot's display name).
    pub first_name: String,
    /// Username without `@`.
    #[serde(default)]
    pub username: Option<String>,
}

/// The chat of a message.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Chat {
    /// Numeric id.
    pub id: i64,
    /// `private`, `group`, `supergroup` or `channel`.
    #[serde(rename = "type")]
    pub kind: String,
}

/// The parts of a `ChatFullInfo` (answer of `getChat`) outage-monitor uses.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ChatInfo {
    /// Numeric id.
    pub id: i64,
    /// `private`, `group`, `supergroup` or `channel`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Title of a group or channel.
    #[serde(default)]
    pub title: Option<String>,
    /// Username of a user or public chat, without `@`.
    #[serde(default)]
    pub username: Option<String>,
    /// First name of a user.
    #[serde(default)]
    pub first_name: Option<String>,
}

impl ChatInfo {
    /// How to name the chat to a person: the title, `@username` or first name, and the kind.
    pub fn describe(&self) -> String {
        let name = self
            .title
            .clone()
            .or_else(|| self.username.as_ref().map(|u| format!("@{u}")))
            .or_else(|| self.first_name.clone())
            .unwrap_or_else(|| self.id.to_string());
        format!("\"{name}\" ({})", self.kind)
    }
}

/// The parts of a `Message` outage-monitor uses.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Message {
    /// Id within the chat.
    pub message_id: i64,
    /// The chat.
    pub chat: Chat,
    /// Unix time it was sent.
    pub date: i64,
    /// Text of a text message.
    #[serde(default)]
    pub text: Option<String>,
}

/// The parts of an `Update` (answer of `getUpdates`) outage-monitor uses: messages only.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Update {
    /// Increasing id; the next `getUpdates` asks for `offset = update_id + 1`.
    pub update_id: i64,
    /// A new message in a chat the bot is in (`None` for other kinds of update).
    #[serde(default)]
    pub message: Option<Message>,
}

/// A command shown in the chat's menu (`setMyCommands`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BotCommand<'a> {
    /// `status`, without the slash.
    pub command: &'a str,
    /// What it does, in the menu's language.
    pub description: &'a str,
}

/// `ReplyParameters`: which message a new one replies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ReplyParameters {
    /// The message replied to.
    pub message_id: i64,
    /// Send anyway if that message was deleted.
    pub allow_sending_without_reply: bool,
}

/// The HTML parse mode.
pub const HTML: &str = "HTML";

/// Parameters of `sendMessage` that outage-monitor uses.
#[derive(Debug, Clone, Serialize)]
pub struct SendMessage<'a> {
    /// Target chat.
    pub chat_id: &'a ChatId,
    /// The text (HTML when `parse_mode` is [`HTML`]).
    pub text: &'a str,
    /// `HTML` or none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parse_mode: Option<&'a str>,
    /// Reply to a message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply_parameters: Option<ReplyParameters>,
    /// Deliver without a sound.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub disable_notification: bool,
}

/// Parameters of `editMessageText` that outage-monitor uses.
#[derive(Debug, Clone, Serialize)]
pub struct EditMessageText<'a> {
    /// Chat of the message.
    pub chat_id: &'a ChatId,
    /// The message.
    pub message_id: i64,
    /// New text.
    pub text: &'a str,
    /// `HTML` or none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parse_mode: Option<&'a str>,
}

/// An image to upload.
#[derive(Clone, PartialEq, Eq)]
pub struct Upload {
    /// File name shown to Telegram (`week.png`).
    pub file_name: String,
    /// MIME type (`image/png`).
    pub mime: String,
    /// The bytes.
    pub bytes: Vec<u8>,
}

impl fmt::Debug for Upload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Upload")
            .field("file_name", &self.file_name)
            .field("mime", &self.mime)
            .field("len", &self.bytes.len())
            .finish()
    }
}

impl Upload {
    /// A PNG image.
    pub fn png(file_name: impl Into<String>, bytes: Vec<u8>) -> Self {
        Self {
            file_name: file_name.into(),
            mime: "image/png".into(),
            bytes,
        }
    }
}

#[derive(Deserialize)]
struct Envelope {
    ok: bool,
    #[serde(default)]
    result: Option<serde_json::Value>,
    #[serde(default)]
    error_code: Option<u16>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    parameters: Option<ResponseParameters>,
}

#[derive(Deserialize)]
struct ResponseParameters {
    #[serde(default)]
    retry_after: Option<u64>,
    #[serde(default)]
    migrate_to_chat_id: Option<i64>,
}

enum Body {
    Json(serde_json::Value),
    Multipart(reqwest::multipart::Form),
}

/// A Bot API client for one bot. `Debug` shows the server, never the token.
#[derive(Clone)]
pub struct BotApi {
    http: reqwest::Client,
    base: String,
    token: Secret,
    timeout: Duration,
}

impl fmt::Debug for BotApi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BotApi")
            .field("base", &self.base)
            .field("token", &"***")
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl BotApi {
    /// A client for the bot with `token` at `base` (e.g. `https://api.telegram.org`), giving
    /// each call at most `timeout`.
    pub fn new(base: &str, token: Secret, timeout: Duration) -> Result<Self, ApiError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .user_agent(concat!("outage-monitor/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ApiError::Request {
                method: "client",
                reason: describe(e, None),
            })?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_string(),
            token,
            timeout,
        })
    }

    /// The server this client talks to.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// `getMe`: who the bot is (and whether the token works).
    pub async fn get_me(&self) -> Result<User, ApiError> {
        self.call("getMe", Body::Json(serde_json::json!({}))).await
    }

    /// `getChat`: whether the bot can see the chat (for `check-config --online`).
    pub async fn get_chat(&self, chat_id: &ChatId) -> Result<ChatInfo, ApiError> {
        let body = serde_json::json!({ "chat_id": chat_id });
        self.call("getChat", Body::Json(body)).await
    }

    /// `sendMessage`.
    pub async fn send_message(&self, m: &SendMessage<'_>) -> Result<Message, ApiError> {
        self.call("sendMessage", json_body("sendMessage", m)?).await
    }

    /// `editMessageText`. Returns the edited message (`None` if Telegram answered just `true`).
    pub async fn edit_message_text(
        &self,
        e: &EditMessageText<'_>,
    ) -> Result<Option<Message>, ApiError> {
        let v: serde_json::Value = self
            .call("editMessageText", json_body("editMessageText", e)?)
            .await?;
        Ok(serde_json::from_value(v).ok())
    }

    /// `sendPhoto` with an uploaded image (multipart).
    pub async fn send_photo(
        &self,
        chat_id: &ChatId,
        photo: Upload,
        caption: Option<&str>,
        parse_mode: Option<&str>,
    ) -> Result<Message, ApiError> {
        let mut form = reqwest::multipart::Form::new()
            .text("chat_id", chat_id.to_string())
            .part("photo", part("sendPhoto", photo)?);
        if let Some(c) = caption {
            form = form.text("caption", c.to_string());
        }
        if let Some(p) = parse_mode {
            form = form.text("parse_mode", p.to_string());
        }
        self.call("sendPhoto", Body::Multipart(form)).await
    }

    /// `editMessageMedia`: replaces the photo (and caption) of a message with a new upload,
    /// sent as the multipart part `photo` and referenced as `attach://photo` from the
    /// `InputMediaPhoto`. Returns the edited message (`None` if Telegram answered `true`).
    pub async fn edit_message_media(
        &self,
        chat_id: &ChatId,
        message_id: i64,
        photo: Upload,
        caption: Option<&str>,
        parse_mode: Option<&str>,
    ) -> Result<Option<Message>, ApiError> {
        let mut media = serde_json::json!({"type": "photo", "media": "attach://photo"});
        if let Some(obj) = media.as_object_mut() {
            if let Some(c) = caption {
                obj.insert("caption".into(), c.into());
            }
            if let Some(p) = parse_mode {
                obj.insert("parse_mode".into(), p.into());
            }
        }
        let form = reqwest::multipart::Form::new()
            .text("chat_id", chat_id.to_string())
            .text("message_id", message_id.to_string())
            .text("media", media.to_string())
            .part("photo", part("editMessageMedia", photo)?);
        let v: serde_json::Value = self.call("editMessageMedia", Body::Multipart(form)).await?;
        Ok(serde_json::from_value(v).ok())
    }

    /// `getUpdates`: new messages after `offset` (long polling: Telegram holds the call up to
    /// `wait` when there are none). The call may take `wait` plus the usual timeout.
    pub async fn get_updates(&self, offset: i64, wait: Duration) -> Result<Vec<Update>, ApiError> {
        let body = serde_json::json!({
            "offset": offset,
            "timeout": wait.as_secs(),
            "allowed_updates": ["message"],
        });
        self.call_within("getUpdates", Body::Json(body), wait + self.timeout)
            .await
    }

    /// `setMyCommands`: the command menu, for users whose app is in `language` (`None`: all).
    pub async fn set_my_commands(
        &self,
        commands: &[BotCommand<'_>],
        language: Option<&str>,
    ) -> Result<(), ApiError> {
        let mut body = serde_json::json!({ "commands": commands });
        if let (Some(obj), Some(lang)) = (body.as_object_mut(), language) {
            obj.insert("language_code".into(), lang.into());
        }
        let _: serde_json::Value = self.call("setMyCommands", Body::Json(body)).await?;
        Ok(())
    }

    /// `deleteMessage`.
    pub async fn delete_message(&self, chat_id: &ChatId, message_id: i64) -> Result<(), ApiError> {
        let body = serde_json::json!({"chat_id": chat_id, "message_id": message_id});
        let _: serde_json::Value = self.call("deleteMessage", Body::Json(body)).await?;
        Ok(())
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: &'static str,
        body: Body,
    ) -> Result<T, ApiError> {
        self.call_within(method, body, self.timeout).await
    }

    async fn call_within<T: DeserializeOwned>(
        &self,
        method: &'static str,
        body: Body,
        timeout: Duration,
    ) -> Result<T, ApiError> {
        let url = format!("{}/bot{}/{method}", self.base, self.token.expose());
        let req = self.http.post(url).timeout(timeout);
        let req = match body {
            Body::Json(v) => req.json(&v),
            Body::Multipart(f) => req.multipart(f),
        };
        let resp = req.send().await.map_err(|e| self.transport(method, e))?;
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.map_err(|e| self.transport(method, e))?;
        decode_reply(method, status, &bytes, &self.token)
    }

    fn transport(&self, method: &'static str, e: reqwest::Error) -> ApiError {
        if e.is_timeout() {
            return ApiError::Timeout {
                method,
                timeout: self.timeout,
            };
        }
        ApiError::Network {
            method,
            reason: describe(e, Some(&self.token)),
        }
    }
}

fn json_body<T: Serialize>(method: &'static str, v: &T) -> Result<Body, ApiError> {
    serde_json::to_value(v)
        .map(Body::Json)
        .map_err(|e| ApiError::Request {
            method,
            reason: e.to_string(),
        })
}

fn part(method: &'static str, u: Upload) -> Result<reqwest::multipart::Part, ApiError> {
    reqwest::multipart::Part::bytes(u.bytes)
        .file_name(u.file_name)
        .mime_str(&u.mime)
        .map_err(|e| ApiError::Request {
            method,
            reason: describe(e, None),
        })
}

/// The error and its causes on one line, with the URL (and so the token) removed.
fn describe(e: reqwest::Error, token: Option<&Secret>) -> String {
    let e = e.without_url();
    let mut s = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        let c = cause.to_string();
        if !s.contains(&c) {
            s.push_str(": ");
            s.push_str(&c);
        }
        source = cause.source();
    }
    match token {
        Some(t) => redact(&s, t),
        None => s,
    }
}

/// `s` with every occurrence of the token (and of its secret half) replaced by `***`.
/// Reads a Bot API answer (`{"ok":true,"result":…}` or `{"ok":false,"error_code":…}`) into the
/// expected result type or an [`ApiError`]. Any bytes at all give an answer, never a panic (it
/// is fuzzed); error texts never contain the bot token.
pub fn decode_reply<T: DeserializeOwned>(
    method: &'static str,
    status: u16,
    bytes: &[u8],
    token: &Secret,
) -> Result<T, ApiError> {
    let env: Envelope = serde_json::from_slice(bytes).map_err(|e| ApiError::Unexpected {
        method,
        status,
        reason: redact(
            &format!(
                "not Bot API JSON ({e}): {}",
                String::from_utf8_lossy(&bytes[..bytes.len().min(200)])
            ),
            token,
        ),
    })?;
    if env.ok {
        let result = env.result.unwrap_or(serde_json::Value::Null);
        return serde_json::from_value(result).map_err(|e| ApiError::Unexpected {
            method,
            status,
            reason: format!("the result does not have the expected shape: {e}"),
        });
    }
    let params = env.parameters;
    Err(ApiError::Telegram {
        method,
        code: env.error_code.unwrap_or(status),
        description: redact(
            env.description.as_deref().unwrap_or("(no description)"),
            token,
        ),
        retry_after: params.as_ref().and_then(|p| p.retry_after),
        migrate_to_chat_id: params.as_ref().and_then(|p| p.migrate_to_chat_id),
    })
}

pub(crate) fn redact(s: &str, token: &Secret) -> String {
    let t = token.expose();
    let mut out = if t.is_empty() {
        s.to_string()
    } else {
        s.replace(t, "***")
    };
    if let Some((_, secret)) = t.split_once(':')
        && secret.len() >= 8
    {
        out = out.replace(secret, "***");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tg(code: u16, description: &str) -> ApiError {
        ApiError::Telegram {
            method: "sendMessage",
            code,
            description: description.into(),
            retry_after: None,
            migrate_to_chat_id: None,
        }
    }

    #[test]
    fn errors_map_to_what_the_worker_should_do() {
        let chat = ChatId::Id(-100);
        let e = ApiError::Telegram {
            method: "sendMessage",
            code: 429,
            description: "Too Many Requests: retry after 3".into(),
            retry_after: Some(3),
            migrate_to_chat_id: None,
        };
        assert_eq!(
            e.to_notify_error(&chat),
            NotifyError::RateLimited {
                retry_after: Duration::from_secs(3)
            }
        );
        assert!(matches!(
            tg(502, "Bad Gateway").to_notify_error(&chat),
            NotifyError::Transient(_)
        ));
        let p = tg(400, "Bad Request: chat not found").to_notify_error(&chat);
        assert!(
            matches!(&p, NotifyError::Permanent(m) if m.contains("-100") && m.contains("chat not found")),
            "{p:?}"
        );
        assert!(matches!(
            tg(403, "Forbidden: bot was blocked by the user").to_notify_error(&chat),
            NotifyError::Permanent(m) if m.contains("blocked")
        ));
        assert!(matches!(
            tg(401, "Unauthorized").to_notify_error(&chat),
            NotifyError::Permanent(m) if m.contains("bot_token")
        ));
        let timeout = ApiError::Timeout {
            method: "sendMessage",
            timeout: Duration::from_secs(1),
        };
        assert!(matches!(
            timeout.to_notify_error(&chat),
            NotifyError::Transient(_)
        ));
        assert!(
            tg(
                400,
                "Bad Request: message is not modified: specified new message content"
            )
            .is_not_modified()
        );
        assert!(tg(400, "Bad Request: message to edit not found").is_message_gone());
        assert!(!tg(400, "Bad Request: chat not found").is_message_gone());
    }

    #[test]
    fn redaction_removes_the_token_and_its_secret_half() {
        let t = Secret::new("123456:ABCdef-ghijkl");
        assert_eq!(
            redact("url /bot123456:ABCdef-ghijkl/x and ABCdef-ghijkl", &t),
            "url /bot***/x and ***"
        );
    }
}
