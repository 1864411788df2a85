//! `[notifiers.<instance>]` with `kind = "telegram"`: the bot token, the chats, and how messages
//! look.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use outage_core::config::secret_or_file;
use outage_core::registry::PluginError;
use outage_core::render::Language;
use outage_core::secret::Secret;
use serde::{Deserialize, Serialize};

/// The section name of the default instance, for error messages.
pub const SECTION: &str = "notifiers.telegram";

/// The official Bot API server.
pub const DEFAULT_API_BASE: &str = "https://api.telegram.org";

/// How long one Bot API call may take before it counts as failed (and is retried).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// After a message went to a chat, further outage and restore alerts for it within this window
/// are sent together as one message (Telegram allows about 20 messages a minute in a group).
pub const DEFAULT_BURST_WINDOW: Duration = Duration::from_secs(10);

/// How much a message says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Style {
    /// One or two lines: what happened, since when, for how long.
    #[default]
    Compact,
    /// Also the exact times: last heartbeat, detection, last refresh.
    Detailed,
}

/// A Telegram chat: a numeric id (users are positive, groups negative, supergroups and
/// channels `-100…`) or a public `@username` of a channel or supergroup.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ChatId {
    /// Numeric id.
    Id(i64),
    /// `@username` (kept with the `@`).
    Username(String),
}

impl ChatId {
    /// Parses `-1001234567890`, `42` or `@channelname`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let t = s.trim();
        if let Ok(n) = t.parse::<i64>() {
            return Ok(ChatId::Id(n));
        }
        let valid_name = t.strip_prefix('@').is_some_and(|n| {
            n.len() >= 4 && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        });
        if valid_name {
            return Ok(ChatId::Username(t.to_string()));
        }
        Err(format!(
            "`{t}` is not a Telegram chat id: use a number like -1001234567890 or a public @channelname"
        ))
    }
}

impl fmt::Display for ChatId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChatId::Id(n) => write!(f, "{n}"),
            ChatId::Username(u) => f.write_str(u),
        }
    }
}

impl Serialize for ChatId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            ChatId::Id(n) => s.serialize_i64(*n),
            ChatId::Username(u) => s.serialize_str(u),
        }
    }
}

impl<'de> Deserialize<'de> for ChatId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Int(i64),
            Str(String),
        }
        match Raw::deserialize(d)? {
            Raw::Int(n) => Ok(ChatId::Id(n)),
            Raw::Str(s) => ChatId::parse(&s).map_err(serde::de::Error::custom),
        }
    }
}

/// `chat_id` as written: one chat or a list of them.
struct Chats(Vec<ChatId>);

impl<'de> Deserialize<'de> for Chats {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        use serde_json::Value;
        fn one(v: &Value) -> Result<ChatId, String> {
            match v {
                Value::Number(n) => n
                    .as_i64()
                    .map(ChatId::Id)
                    .ok_or_else(|| format!("`{n}` is not a Telegram chat id (a whole number)")),
                Value::String(s) => ChatId::parse(s),
                other => Err(format!(
                    "`{other}` is not a Telegram chat id: use a number like -1001234567890, a public \"@channelname\", or a list of them"
                )),
            }
        }
        match Value::deserialize(d)? {
            Value::Array(items) => items
                .iter()
                .map(one)
                .collect::<Result<_, _>>()
                .map(Chats)
                .map_err(D::Error::custom),
            v => one(&v).map(|c| Chats(vec![c])).map_err(D::Error::custom),
        }
    }
}

/// The table as written in the config file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    bot_token: Option<Secret>,
    bot_token_file: Option<PathBuf>,
    chat_id: Chats,
    #[serde(default = "default_api_base")]
    api_base: String,
    #[serde(default)]
    language: Option<Language>,
    #[serde(default)]
    style: Style,
    #[serde(default = "default_timeout", with = "humantime_serde")]
    timeout: Duration,
    #[serde(default = "default_burst_window", with = "humantime_serde")]
    burst_window: Duration,
    #[serde(default)]
    commands: bool,
}

fn default_burst_window() -> Duration {
    DEFAULT_BURST_WINDOW
}

fn default_api_base() -> String {
    DEFAULT_API_BASE.into()
}

fn default_timeout() -> Duration {
    DEFAULT_TIMEOUT
}

/// Resolved `[notifiers.telegram]` settings. `Debug` never shows the token.
#[derive(Clone, PartialEq)]
pub struct TelegramConfig {
    /// The bot's token from @BotFather (`bot_token`, or read from `bot_token_file`).
    pub bot_token: Secret,
    /// Where alerts go unless a location or its route names a chat: `chat_id`, one chat or a
    /// list (never empty, no repeats). Every chat gets its own messages.
    pub chat_ids: Vec<ChatId>,
    /// Bot API server, without a trailing slash (tests point it at a fake).
    pub api_base: String,
    /// Language of the messages; `None`: `monitor.language`.
    pub language: Option<Language>,
    /// Compact or detailed messages.
    pub style: Style,
    /// Time limit of one Bot API call.
    pub timeout: Duration,
    /// Alerts for one chat within this window after a message are grouped; zero disables.
    pub burst_window: Duration,
    /// Whether the bot answers `/status`, `/week`, `/last` and `/help` in its chats.
    pub commands: bool,
}

impl fmt::Debug for TelegramConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TelegramConfig")
            .field("bot_token", &"***")
            .field("chat_ids", &self.chat_ids)
            .field("api_base", &self.api_base)
            .field("language", &self.language)
            .field("style", &self.style)
            .field("timeout", &self.timeout)
            .field("burst_window", &self.burst_window)
            .field("commands", &self.commands)
            .finish()
    }
}

/// The section could not be read; `source` says why.
fn unreadable(
    section: &str,
    source: impl std::error::Error + Send + Sync + 'static,
) -> PluginError {
    PluginError::ConfigSource {
        section: section.into(),
        source: Box::new(source),
    }
}

impl TelegramConfig {
    /// Settings with the defaults for everything but the token and the chat.
    pub fn new(bot_token: Secret, chat_id: ChatId) -> Self {
        Self {
            bot_token,
            chat_ids: vec![chat_id],
            api_base: DEFAULT_API_BASE.into(),
            language: None,
            style: Style::default(),
            timeout: DEFAULT_TIMEOUT,
            burst_window: DEFAULT_BURST_WINDOW,
            commands: false,
        }
    }

    /// Reads the `[notifiers.telegram]` table (as the registry hands it over), reading
    /// `bot_token_file` if given. Unknown keys are an error naming the valid ones.
    pub fn from_table(table: &serde_json::Value) -> Result<Self, PluginError> {
        Self::from_section(table, SECTION)
    }

    /// [`TelegramConfig::from_table`] for the instance whose table is `section` (e.g.
    /// `notifiers.family`), which the errors name.
    pub fn from_section(table: &serde_json::Value, section: &str) -> Result<Self, PluginError> {
        let invalid = |r: String| PluginError::config(section, r);
        let table = if table.is_null() {
            serde_json::Value::Object(Default::default())
        } else {
            table.clone()
        };
        let raw: RawConfig = serde_json::from_value(table).map_err(|e| unreadable(section, e))?;
        let token = secret_or_file("bot_token", raw.bot_token, raw.bot_token_file.as_deref())
            .map_err(|e| unreadable(section, e))?
            .ok_or_else(|| {
                invalid(
                    "set `bot_token` or `bot_token_file` (the token @BotFather gave the bot)"
                        .into(),
                )
            })?;
        check_token(&token).map_err(invalid)?;
        let mut chat_ids = Vec::new();
        for c in raw.chat_id.0 {
            if !chat_ids.contains(&c) {
                chat_ids.push(c);
            }
        }
        if chat_ids.is_empty() {
            return Err(invalid(
                "`chat_id` = [] lists no chat: give one chat (-1001234567890 or \"@channel\") or a list of them".into(),
            ));
        }
        let api_base = raw.api_base.trim().trim_end_matches('/').to_string();
        if !(api_base.starts_with("https://") || api_base.starts_with("http://")) {
            return Err(invalid(format!(
                "`api_base` = `{api_base}` is not an http(s) URL; the default is {DEFAULT_API_BASE}"
            )));
        }
        if raw.timeout.is_zero() {
            return Err(invalid(
                "`timeout` must be more than 0 (e.g. \"10s\")".into(),
            ));
        }
        Ok(Self {
            bot_token: token,
            chat_ids,
            api_base,
            language: raw.language,
            style: raw.style,
            timeout: raw.timeout,
            burst_window: raw.burst_window,
            commands: raw.commands,
        })
    }
}

/// A token looks like `123456789:AA…`; the error never repeats it.
fn check_token(token: &Secret) -> Result<(), String> {
    let t = token.expose();
    let ok = t.split_once(':').is_some_and(|(id, rest)| {
        !id.is_empty()
            && id.chars().all(|c| c.is_ascii_digit())
            && !rest.is_empty()
            && rest
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    });
    if ok {
        Ok(())
    } else {
        Err(
            "the bot token does not look like one from @BotFather (`<digits>:<letters, digits, _ and ->`); check for quotes or spaces".into(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use outage_core::errors::ErrorChain;
    use serde_json::json;

    const TOKEN: &str = "123456789:AAE-secret_Token";

    #[test]
    fn chat_ids_are_numbers_or_public_names() {
        assert_eq!(
            ChatId::parse("-1001234567890"),
            Ok(ChatId::Id(-1001234567890))
        );
        assert_eq!(ChatId::parse(" 42 "), Ok(ChatId::Id(42)));
        assert_eq!(
            ChatId::parse("@power_news"),
            Ok(ChatId::Username("@power_news".into()))
        );
        assert!(ChatId::parse("power_news").is_err());
        assert!(ChatId::parse("@x").is_err());
        assert_eq!(serde_json::to_value(ChatId::Id(-5)).unwrap(), json!(-5));
        assert_eq!(
            serde_json::to_value(ChatId::Username("@abcd".into())).unwrap(),
            json!("@abcd")
        );
    }

    #[test]
    fn chat_id_may_be_a_list_of_chats() {
        let c = TelegramConfig::from_table(
            &json!({"bot_token": TOKEN, "chat_id": [-100123, "@power_news", "-100123"]}),
        )
        .unwrap();
        assert_eq!(
            c.chat_ids,
            [ChatId::Id(-100123), ChatId::Username("@power_news".into())],
            "in order, repeats dropped"
        );
        let err = TelegramConfig::from_section(
            &json!({"bot_token": TOKEN, "chat_id": []}),
            "notifiers.family",
        )
        .unwrap_err();
        let err = ErrorChain(&err).to_string();
        assert!(
            err.contains("notifiers.family") && err.contains("lists no chat"),
            "{err}"
        );
        let err =
            TelegramConfig::from_table(&json!({"bot_token": TOKEN, "chat_id": [1, "family"]}))
                .unwrap_err();
        let err = ErrorChain(&err).to_string();
        assert!(
            err.contains("`family` is not a Telegram chat id") && err.contains("@channelname"),
            "{err}"
        );
        let err =
            TelegramConfig::from_table(&json!({"bot_token": TOKEN, "chat_id": true})).unwrap_err();
        let err = ErrorChain(&err).to_string();
        assert!(err.contains("or a list of them"), "{err}");
    }

    #[test]
    fn chat_id_may_be_written_as_a_string_or_an_integer() {
        for chat in [json!(-100123), json!("-100123")] {
            let c =
                TelegramConfig::from_table(&json!({"bot_token": TOKEN, "chat_id": chat})).unwrap();
            assert_eq!(c.chat_ids, [ChatId::Id(-100123)]);
        }
    }

    #[test]
    fn defaults_apply() {
        let c = TelegramConfig::from_table(&json!({"bot_token": TOKEN, "chat_id": 1})).unwrap();
        assert_eq!(c.api_base, DEFAULT_API_BASE);
        assert_eq!(c.timeout, DEFAULT_TIMEOUT);
        assert_eq!(c.style, Style::Compact);
        assert_eq!(c.language, None);
        let c = TelegramConfig::from_table(&json!({
            "bot_token": TOKEN, "chat_id": 1, "api_base": "http://127.0.0.1:9/",
            "language": "uk", "style": "detailed", "timeout": "2s 500ms",
        }))
        .unwrap();
        assert_eq!(c.api_base, "http://127.0.0.1:9");
        assert_eq!(c.language, Some(Language::Uk));
        assert_eq!(c.style, Style::Detailed);
        assert_eq!(c.timeout, Duration::from_millis(2500));
    }

    #[test]
    fn unknown_keys_name_the_valid_ones() {
        let err =
            TelegramConfig::from_table(&json!({"bot_token": TOKEN, "chat_id": 1, "chatid": 2}))
                .map_err(|e| ErrorChain(&e).to_string())
                .unwrap_err();
        assert!(err.contains("notifiers.telegram"), "{err}");
        assert!(err.contains("chatid"), "{err}");
        assert!(
            err.contains("chat_id") && err.contains("bot_token_file"),
            "{err}"
        );
    }

    #[test]
    fn missing_or_malformed_settings_are_explained_without_the_token() {
        let err = TelegramConfig::from_table(&json!({"chat_id": 1}))
            .map_err(|e| ErrorChain(&e).to_string())
            .unwrap_err();
        assert!(err.contains("bot_token_file"), "{err}");
        let err = TelegramConfig::from_table(&json!({"bot_token": TOKEN}))
            .map_err(|e| ErrorChain(&e).to_string())
            .unwrap_err();
        assert!(err.contains("chat_id"), "{err}");
        let err =
            TelegramConfig::from_table(&json!({"bot_token": "\"123:AbC secret\"", "chat_id": 1}))
                .map_err(|e| ErrorChain(&e).to_string())
                .unwrap_err();
        assert!(err.contains("@BotFather") && !err.contains("AbC"), "{err}");
        let err = TelegramConfig::from_table(&json!({"bot_token": TOKEN, "chat_id": "family"}))
            .map_err(|e| ErrorChain(&e).to_string())
            .unwrap_err();
        assert!(
            err.contains("family") && err.contains("@channelname"),
            "{err}"
        );
        let err = TelegramConfig::from_table(
            &json!({"bot_token": TOKEN, "chat_id": 1, "api_base": "api.telegram.org"}),
        )
        .map_err(|e| ErrorChain(&e).to_string())
        .unwrap_err();
        assert!(err.contains("api_base"), "{err}");
        let err = TelegramConfig::from_table(
            &json!({"bot_token": TOKEN, "chat_id": 1, "style": "fancy"}),
        )
        .map_err(|e| ErrorChain(&e).to_string())
        .unwrap_err();
        assert!(err.contains("compact") && err.contains("detailed"), "{err}");
    }

    #[test]
    fn the_token_comes_from_a_file_and_never_prints() {
        let dir = std::env::temp_dir().join(format!("om-tg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("token");
        std::fs::write(&f, format!("{TOKEN}\n")).unwrap();
        let c = TelegramConfig::from_table(&json!({"bot_token_file": f, "chat_id": 7})).unwrap();
        assert_eq!(c.bot_token.expose(), TOKEN);
        let dbg = format!("{c:?}");
        assert!(
            !dbg.contains("secret_Token") && dbg.contains("***"),
            "{dbg}"
        );
        let err = TelegramConfig::from_table(
            &json!({"bot_token": TOKEN, "bot_token_file": f, "chat_id": 7}),
        )
        .map_err(|e| ErrorChain(&e).to_string())
        .unwrap_err();
        assert!(
            err.contains("not both") && !err.contains("secret_Token"),
            "{err}"
        );
        let err = TelegramConfig::from_table(
            &json!({"bot_token_file": dir.join("absent"), "chat_id": 7}),
        )
        .map_err(|e| ErrorChain(&e).to_string())
        .unwrap_err();
        assert!(err.contains("absent"), "{err}");
        std::fs::remove_dir_all(&dir).ok();
    }
}
