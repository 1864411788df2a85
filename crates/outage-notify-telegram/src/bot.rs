//! The bot answers: with `commands = true`, an instance long-polls `getUpdates` and answers
//! `/status`, `/week`, `/last` and `/help` in the chats it serves — its `chat_id` list and every
//! chat a location is routed to through it. A command from any other chat gets no answer and
//! is logged with the chat's id (so the owner can add it). The command menu is registered with
//! `setMyCommands` in the instance's language when polling starts.
//!
//! What a chat is told about is the locations whose alerts go to it
//! ([`MonitorQuery::locations_for`]). Answers are sent directly, not through the outbox: an
//! answer lost to a failure is asked for again by the user, unlike an alert.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use outage_core::domain::{Location, Status};
use outage_core::notify::{LocationState, MonitorQuery};
use outage_core::render::Language;
use outage_core::text::human_duration;
use tokio_util::sync::CancellationToken;

use crate::api::{BotApi, BotCommand, HTML, Message, SendMessage, Upload};
use crate::config::ChatId;
use crate::messages::{Templates, escape_html};

/// How long one `getUpdates` call waits for news.
pub const POLL_WAIT: Duration = Duration::from_secs(25);

/// Longest pause between polls after failures.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// Outages listed by `/last`.
const LAST_OUTAGES: u32 = 5;

/// Diagrams sent by one `/week` without a location.
const MAX_WEEKS: usize = 5;

/// The commands, with their menu texts in English and Ukrainian.
const COMMANDS: [(&str, &str, &str); 4] = [
    (
        "status",
        "Power at every place now",
        "Чи є світло зараз у кожному місці",
    ),
    (
        "week",
        "This week's diagram [place]",
        "Діаграма цього тижня [місце]",
    ),
    (
        "last",
        "The last outages [place]",
        "Останні відключення [місце]",
    ),
    ("help", "What the bot can do", "Що вміє бот"),
];

/// A command as written: `/week@outage_bot Cottage` → `("week", Some("outage_bot"), "Cottage")`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command<'a> {
    /// Lowercased name without the slash.
    pub name: String,
    /// The bot it is addressed to, if any (`@name` suffix, without `@`).
    pub to: Option<&'a str>,
    /// The rest of the text, trimmed.
    pub arg: &'a str,
}

/// Reads a command from a message text; `None` when the text is not one.
pub fn parse_command(text: &str) -> Option<Command<'_>> {
    let text = text.trim();
    let rest = text.strip_prefix('/')?;
    let (word, arg) = rest
        .split_once(char::is_whitespace)
        .map_or((rest, ""), |(w, a)| (w, a.trim()));
    let (name, to) = match word.split_once('@') {
        Some((n, b)) => (n, Some(b)),
        None => (word, None),
    };
    if name.is_empty() {
        return None;
    }
    Some(Command {
        name: name.to_ascii_lowercase(),
        to,
        arg,
    })
}

/// One instance's bot.
pub(crate) struct Bot {
    pub instance: String,
    pub api: BotApi,
    pub default_chats: Vec<ChatId>,
    pub templates: Templates,
}

impl Bot {
    fn uk(&self) -> bool {
        self.templates.language == Language::Uk
    }

    fn say(&self, en: &str, uk: &str) -> String {
        if self.uk() { uk.into() } else { en.into() }
    }

    /// Polls until `shutdown`.
    pub async fn run(self, query: Arc<dyn MonitorQuery>, shutdown: CancellationToken) {
        let menu: Vec<BotCommand<'_>> = COMMANDS
            .iter()
            .map(|(command, en, uk)| BotCommand {
                command,
                description: if self.uk() { uk } else { en },
            })
            .collect();
        if let Err(e) = self.api.set_my_commands(&menu, None).await {
            tracing::warn!(notifier = %self.instance, error = %e, "cannot register the bot's command menu; the commands work anyway");
        }
        let username = match self.api.get_me().await {
            Ok(me) => me.username,
            Err(e) => {
                tracing::warn!(notifier = %self.instance, error = %e, "cannot ask the bot's name");
                None
            }
        };
        tracing::info!(notifier = %self.instance, bot = ?username, "answering commands");
        let mut offset = 0i64;
        let mut failures = 0u32;
        loop {
            let polled = tokio::select! {
                _ = shutdown.cancelled() => return,
                r = self.api.get_updates(offset, POLL_WAIT) => r,
            };
            match polled {
                Ok(updates) => {
                    failures = 0;
                    for u in updates {
                        offset = offset.max(u.update_id + 1);
                        if let Some(m) = u.message {
                            self.answer(&*query, &m, username.as_deref()).await;
                        }
                    }
                }
                Err(e) => {
                    failures += 1;
                    let pause = Duration::from_secs(1 << failures.min(6)).min(MAX_BACKOFF);
                    tracing::warn!(notifier = %self.instance, error = %e, ?pause, "getUpdates failed; polling again later");
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = tokio::time::sleep(pause) => {}
                    }
                }
            }
        }
    }

    /// Answers one message, if it is a command for this bot from a chat it serves.
    async fn answer(&self, query: &dyn MonitorQuery, m: &Message, username: Option<&str>) {
        let Some(cmd) = m.text.as_deref().and_then(parse_command) else {
            return;
        };
        if let (Some(to), Some(me)) = (cmd.to, username)
            && !to.eq_ignore_ascii_case(me)
        {
            return; // addressed to another bot in the group
        }
        let chat = m.chat.id.to_string();
        let places = query.locations_for(&self.instance, &chat);
        let served = !places.is_empty() || self.default_chats.contains(&ChatId::Id(m.chat.id));
        if !served {
            tracing::info!(
                notifier = %self.instance,
                chat = m.chat.id,
                command = %cmd.name,
                "a command from a chat this bot does not serve was ignored; add the chat to chat_id or route a location to it to let it ask"
            );
            return;
        }
        let chat_id = ChatId::Id(m.chat.id);
        let reply = match cmd.name.as_str() {
            "status" => Some(self.status(query, &places).await),
            "last" => Some(match pick(&places, cmd.arg) {
                Ok(list) => self.last(query, &list).await,
                Err(()) => self.not_here(cmd.arg, &places),
            }),
            "week" => match pick(&places, cmd.arg) {
                Ok(list) => {
                    self.weeks(query, &chat_id, &list).await;
                    None
                }
                Err(()) => Some(self.not_here(cmd.arg, &places)),
            },
            "help" | "start" => Some(self.help()),
            // Unknown commands: answered where they cannot be meant for another bot.
            _ if m.chat.kind == "private" || cmd.to.is_some() => Some(self.help()),
            _ => None,
        };
        if let Some(text) = reply {
            let send = SendMessage {
                chat_id: &chat_id,
                text: &text,
                parse_mode: Some(HTML),
                reply_parameters: None,
                disable_notification: true,
            };
            if let Err(e) = self.api.send_message(&send).await {
                tracing::warn!(notifier = %self.instance, chat = m.chat.id, error = %e, "cannot answer a command");
            }
        }
    }

    fn help(&self) -> String {
        let mut out = self.say(
            "I tell this chat when the power goes out and comes back. Ask me:",
            "Я повідомляю в цей чат, коли зникає і повертається світло. Запитайте:",
        );
        for (command, en, uk) in COMMANDS {
            out.push_str(&format!(
                "\n/{command} — {}",
                if self.uk() { uk } else { en }
            ));
        }
        out
    }

    fn not_here(&self, arg: &str, places: &[LocationState]) -> String {
        let names: Vec<String> = places
            .iter()
            .map(|p| escape_html(&p.location.name))
            .collect();
        match self.uk() {
            false => format!(
                "No place \u{ab}{}\u{bb} here. Places: {}",
                escape_html(arg),
                names.join(", ")
            ),
            true => format!(
                "Тут немає місця \u{ab}{}\u{bb}. Місця: {}",
                escape_html(arg),
                names.join(", ")
            ),
        }
    }

    fn nothing_here(&self) -> String {
        self.say(
            "No place sends its alerts to this chat yet.",
            "Жодне місце ще не надсилає сповіщень у цей чат.",
        )
    }

    async fn status(&self, query: &dyn MonitorQuery, places: &[LocationState]) -> String {
        if places.is_empty() {
            return self.nothing_here();
        }
        let now = query.now();
        let mut lines = Vec::new();
        for p in places {
            lines.push(self.status_line(p, now));
            let today = match query.today(p.location.id).await {
                Ok(a) if a.down.is_zero() => {
                    self.say("today: no outages", "сьогодні: без відключень")
                }
                Ok(a) => match self.uk() {
                    false => format!(
                        "today: {} without power",
                        human_duration(a.down, Language::En)
                    ),
                    true => format!(
                        "сьогодні: {} без світла",
                        human_duration(a.down, Language::Uk)
                    ),
                },
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read today's history");
                    self.say("today: not known now", "сьогодні: зараз невідомо")
                }
            };
            lines.push(format!("    <i>{today}</i>"));
        }
        lines.join("\n")
    }

    fn status_line(&self, p: &LocationState, now: DateTime<Utc>) -> String {
        let n = format!("<b>{}</b>", escape_html(&p.location.name));
        let uk = self.uk();
        match (p.status, p.last_seen) {
            (Status::Up, _) => match uk {
                false => format!("🟢 {n} — power on"),
                true => format!("🟢 {n} — світло є"),
            },
            (Status::Down, Some(since)) => {
                let d = human_duration(now - since, self.templates.language);
                let t = self.templates.time(since, now);
                match uk {
                    false => format!("🔴 {n} — no power since {t} ({d})"),
                    true => format!("🔴 {n} — світла немає з {t} ({d})"),
                }
            }
            (Status::Down, None) => match uk {
                false => format!("🔴 {n} — no power"),
                true => format!("🔴 {n} — світла немає"),
            },
            (Status::Paused, _) => match uk {
                false => format!("⏸ {n} — monitoring paused"),
                true => format!("⏸ {n} — моніторинг призупинено"),
            },
            (Status::Unknown, _) => match uk {
                false => format!("⚪ {n} — not known yet (no heartbeat since the monitor started)"),
                true => format!("⚪ {n} — поки невідомо (сигналів від запуску монітора не було)"),
            },
        }
    }

    async fn last(&self, query: &dyn MonitorQuery, places: &[&Location]) -> String {
        if places.is_empty() {
            return self.nothing_here();
        }
        let now = query.now();
        let mut out = Vec::new();
        for loc in places {
            out.push(format!("🔌 <b>{}</b>", escape_html(&loc.name)));
            match query.last_outages(loc.id, LAST_OUTAGES).await {
                Ok(events) if events.is_empty() => {
                    out.push(self.say("    no outages recorded", "    відключень не було"));
                }
                Ok(events) => {
                    for e in events {
                        let start = e
                            .started_at
                            .map_or_else(|| "?".to_string(), |s| self.templates.time(s, now));
                        let end = match e.ended_at {
                            Some(t) => self.templates.time(t, now),
                            None => self.say("now", "зараз"),
                        };
                        let dur = e
                            .duration(now)
                            .map(|d| human_duration(d, self.templates.language))
                            .unwrap_or_else(|| self.say("unknown", "невідомо"));
                        let cause = match (e.cause.as_str(), self.uk()) {
                            ("power", false) => "power cut",
                            ("power", true) => "без світла",
                            ("network", false) => "network only",
                            ("network", true) => "лише зв’язок",
                            (_, false) => "cause unknown",
                            (_, true) => "причина невідома",
                        };
                        out.push(format!("    • {start}–{end}, {dur}, {cause}"));
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the last outages");
                    out.push(self.say(
                        "    cannot read the history now",
                        "    історія зараз недоступна",
                    ));
                }
            }
        }
        out.join("\n")
    }

    async fn weeks(&self, query: &dyn MonitorQuery, chat: &ChatId, places: &[&Location]) {
        for loc in places.iter().take(MAX_WEEKS) {
            let sent = match query.week_diagram(loc, self.templates.language).await {
                Ok(img) => {
                    let caption = self.templates.diagram_caption(&img);
                    self.api
                        .send_photo(
                            chat,
                            Upload::png("week.png", img.png),
                            Some(&caption),
                            Some(HTML),
                        )
                        .await
                        .map(|_| ())
                        .map_err(|e| e.to_string())
                }
                Err(e) => Err(e.to_string()),
            };
            if let Err(e) = sent {
                tracing::warn!(notifier = %self.instance, location = %loc.name, error = %e, "cannot answer /week");
            }
        }
    }
}

/// The places a command is about: all of them without an argument, else the one named
/// (by name, case-insensitively, or by id). `Err` when the name matches none.
fn pick<'a>(places: &'a [LocationState], arg: &str) -> Result<Vec<&'a Location>, ()> {
    if arg.is_empty() {
        return Ok(places.iter().map(|p| &p.location).collect());
    }
    let wanted = arg.to_lowercase();
    places
        .iter()
        .map(|p| &p.location)
        .find(|l| l.name.to_lowercase() == wanted || l.id.0.to_string() == arg)
        .map(|l| vec![l])
        .ok_or(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_parsed_with_their_bot_and_argument() {
        assert_eq!(
            parse_command("/week@outage_bot  Cottage house "),
            Some(Command {
                name: "week".into(),
                to: Some("outage_bot"),
                arg: "Cottage house"
            })
        );
        assert_eq!(
            parse_command("/STATUS"),
            Some(Command {
                name: "status".into(),
                to: None,
                arg: ""
            })
        );
        assert_eq!(parse_command("status"), None);
        assert_eq!(parse_command("/"), None);
        assert_eq!(parse_command("/@bot"), None);
    }
}
