//! `outage-notify-telegram`: the Telegram notifier plugin of outage-monitor.
//!
//! Enabled by a `[notifiers.telegram]` table, or any `[notifiers.<instance>]` with
//! `kind = "telegram"` (several bots, languages or styles side by side; see [`EXAMPLE_CONFIG`]
//! and [`config`]). `chat_id` is one chat or a list; each chat is a target of its own. For each
//! outage it keeps **one live message** in each chat: the outage alert, edited while the outage
//! lasts and turned into a final summary when it ends, plus the restore message as a reply to it
//! (so phones notify). A network-only outage edits the alert instead of sending anything new.
//! Texts are English or Ukrainian ([`messages`]), in Telegram's HTML parse mode with user
//! names escaped, times in `monitor.timezone`. See [`notifier`] for exactly what each alert
//! sends and how errors map to retries.
//!
//! The Bot API calls are written by hand over reqwest with rustls ([`api`]); the bot token never
//! appears in logs, errors or `Debug` output.
//!
//! This crate never depends on a database crate: delivery state (which message belongs to which
//! outage, retries, order per chat) lives in the engine's outbox, behind
//! [`outage_core::StatusStore`].
//!
//! Bursts: when several locations change state together, the first alert to a chat goes out at
//! once; outage and restore alerts about other locations that follow within `burst_window`
//! (default 10 s) wait until it has passed and then go out as one message listing them
//! ([`Templates::burst`]); see "Bursts are leading-edge" in ARCHITECTURE.md. Telegram's 429s
//! are honoured on top of that.

pub mod api;
pub mod bot;
pub mod config;
pub mod messages;
pub mod notifier;

use std::sync::Arc;

use outage_core::notify::Notifier;
use outage_core::registry::{Factory, PluginContext, PluginDescriptor, PluginError, PluginKind};

pub use api::{ApiError, BotApi, Upload};
pub use config::{ChatId, Style, TelegramConfig};
pub use messages::Templates;
pub use notifier::{NAME, TelegramNotifier};

/// The example shown by `outage-monitor config example` and `plugins list`.
pub const EXAMPLE_CONFIG: &str = r#"[notifiers.telegram]          # one instance; [notifiers.family] + kind = "telegram" makes another
bot_token = "123456789:AAE-replace-with-the-token-from-BotFather"
# bot_token_file = "/run/credentials/outage-monitor/telegram-token"   # instead of bot_token
chat_id = -1001234567890            # a user id, a group id, or "@publicchannel"; or a list [-100…, 42]
# api_base = "https://api.telegram.org"
# language = "uk"                   # "en" or "uk"; default: monitor.language
# style = "compact"                 # or "detailed" (adds exact times)
# timeout = "10s"                   # per Bot API call; slower calls are retried
# burst_window = "10s"              # alerts within it after a message go out as one; "0s": never
# commands = true                   # answer /status, /week, /last, /help in these chats
"#;

fn factory(ctx: &PluginContext<'_>) -> Result<Arc<dyn Notifier>, PluginError> {
    Ok(Arc::new(TelegramNotifier::from_context(ctx)?))
}

outage_core::inventory::submit! {
    PluginDescriptor {
        kind: PluginKind::Notifier,
        name: NAME,
        description: "Telegram alerts: one live message per outage, edited as it goes, restore as a reply.",
        example_config: EXAMPLE_CONFIG,
        factory: Factory::Notifier(factory),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use outage_core::config::Config;
    use outage_core::errors::ErrorChain;
    use outage_core::registry;

    #[test]
    fn the_plugin_registers_and_its_example_parses_and_builds() {
        let d = registry::find(PluginKind::Notifier, "telegram").unwrap();
        assert_eq!(d.example_config, EXAMPLE_CONFIG);
        let config = Config::from_toml_str(EXAMPLE_CONFIG).unwrap();
        let table = &config.notifiers["telegram"];
        let parsed = TelegramConfig::from_table(table).unwrap();
        assert_eq!(parsed.chat_ids, [ChatId::Id(-1001234567890)]);
        let built = registry::build_notifiers(&config).unwrap();
        assert_eq!(built.len(), 1);
        assert_eq!(built[0].name(), "telegram");
        let dbg = format!("{:?}", built[0]);
        assert!(!dbg.contains("replace-with"), "{dbg}");
        assert_eq!(built[0].chat_for(None), "-1001234567890");
        assert_eq!(built[0].chat_for(Some("@home_power")), "@home_power");
    }

    #[test]
    fn a_bad_table_is_a_config_error_naming_the_section() {
        let config =
            Config::from_toml_str("[notifiers.telegram]\nchat_id = 1\nbot_tokn = \"1:a\"\n")
                .unwrap();
        let err = registry::build_notifiers(&config)
            .map_err(|e| ErrorChain(&e).to_string())
            .unwrap_err();
        assert!(
            err.contains("notifiers.telegram") && err.contains("bot_tokn"),
            "{err}"
        );
    }
}
