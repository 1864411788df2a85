//! The Telegram bot answering commands end to end, through the fake Bot API's `getUpdates`:
//! `/status` and `/last` in the chats it serves (each chat hears about its own locations),
//! `/week` as a photo, the command menu registered, and silence towards a chat it does not
//! serve.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

mod common;

use std::time::Duration;

use common::{Sandbox, key_of, wait_until};
use outage_testkit::telegram::{BOT_USERNAME, FakeMessage, FakeTelegram};
use serde_json::json;

/// The bot's default chat.
const FAMILY: &str = "42";
/// The chat the cottage is routed to.
const COTTAGE_CHAT: &str = "777";
/// A chat the bot is in but serves no location.
const STRANGER: &str = "999";

fn config(s: &Sandbox, fake: &FakeTelegram, language: &str) -> String {
    let cfg = format!(
        "[notifiers.telegram]\nbot_token = \"{}\"\nchat_id = {FAMILY}\napi_base = \"{}\"\n\
         commands = true\nlanguage = \"{language}\"\n",
        fake.token(),
        fake.base_url()
    );
    let path = s.path("bot.toml");
    std::fs::write(&path, cfg).unwrap();
    path.display().to_string()
}

fn texts(fake: &FakeTelegram, chat: &str) -> Vec<String> {
    fake.messages(chat)
        .iter()
        .filter_map(|m| m.text.clone())
        .collect()
}

fn last_text(fake: &FakeTelegram, chat: &str) -> String {
    texts(fake, chat).last().cloned().unwrap_or_default()
}

fn add(s: &Sandbox, cfg: &str, name: &str, notify: Option<&str>) -> String {
    let mut args = vec![
        "--config",
        cfg,
        "location",
        "add",
        "--name",
        name,
        "--timeout",
        "2s",
        "--json",
    ];
    if let Some(n) = notify {
        args.push("--notify");
        args.push(n);
    }
    key_of(&s.json(&args))
}

#[test]
fn the_bot_answers_status_last_and_week_in_its_chats_only() {
    let fake = FakeTelegram::start().unwrap();
    let s = Sandbox::new();
    let cfg = config(&s, &fake, "en");
    let home = add(&s, &cfg, "Home", None);
    let _cottage = add(
        &s,
        &cfg,
        "Cottage",
        Some(&format!("telegram:{COTTAGE_CHAT}")),
    );
    let check = s.cli(&["--config", &cfg, "check-config"]);
    assert!(
        check
            .stdout
            .contains("notifiers:  telegram (telegram: 42; answers commands)"),
        "{}",
        check.stdout
    );
    let server = s.serve(&[("OUTAGE_CONFIG", &cfg)]);
    assert!(
        wait_until(Duration::from_secs(5), || !fake.my_commands().is_empty()),
        "the command menu is registered"
    );
    let (lang, menu) = fake.my_commands()[0].clone();
    assert_eq!(lang, None);
    let names: Vec<_> = menu
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["command"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["status", "week", "last", "help"]);

    assert_eq!(
        server.beat(&home, &json!({"boot_id": "a", "uptime_s": 100})),
        200
    );
    // Home goes down (2 s timeout) and comes back: one outage in its history.
    assert!(
        wait_until(Duration::from_secs(8), || texts(&fake, FAMILY).len() == 1),
        "{:?}",
        texts(&fake, FAMILY)
    );
    assert_eq!(
        server.beat(&home, &json!({"boot_id": "b", "uptime_s": 1})),
        200
    );
    assert!(wait_until(Duration::from_secs(8), || texts(&fake, FAMILY)
        .len()
        == 2));

    fake.push_text(FAMILY, 1001, "/status");
    assert!(
        wait_until(Duration::from_secs(5), || texts(&fake, FAMILY).len() == 3),
        "/status is answered"
    );
    let status = last_text(&fake, FAMILY);
    assert!(status.contains("🟢 Home — power on"), "{status}");
    assert!(status.contains("today:"), "{status}");
    assert!(
        !status.contains("Cottage"),
        "the family chat hears only about its own locations: {status}"
    );

    fake.push_text(COTTAGE_CHAT, 1002, &format!("/status@{BOT_USERNAME}"));
    assert!(wait_until(Duration::from_secs(5), || texts(
        &fake,
        COTTAGE_CHAT
    )
    .len()
        == 1));
    let cottage = last_text(&fake, COTTAGE_CHAT);
    assert!(
        cottage.contains("Cottage") && !cottage.contains("Home"),
        "{cottage}"
    );

    fake.push_text(FAMILY, 1001, "/last home");
    assert!(wait_until(Duration::from_secs(5), || texts(&fake, FAMILY)
        .len()
        == 4));
    let last = last_text(&fake, FAMILY);
    assert!(
        last.contains("Home") && last.contains("power cut"),
        "{last}"
    );

    fake.push_text(FAMILY, 1001, "/week");
    let photos = |f: &FakeTelegram| {
        f.messages(FAMILY)
            .iter()
            .filter(|m| m.photo.is_some())
            .cloned()
            .collect::<Vec<FakeMessage>>()
    };
    assert!(
        wait_until(Duration::from_secs(10), || photos(&fake).len() == 1),
        "/week answers with the diagram"
    );
    let photo = photos(&fake)[0].clone();
    assert!(photo.caption.unwrap_or_default().contains("Home"));
    assert!(photo.photo.unwrap().bytes.starts_with(b"\x89PNG"));

    // Someone else's chat and a command for another bot get nothing.
    fake.push_text(STRANGER, 5, "/status");
    fake.push_text(FAMILY, 1001, "/status@some_other_bot");
    assert!(
        wait_until(Duration::from_secs(5), || fake.pending_updates() == 0),
        "every update is confirmed"
    );
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        fake.messages(STRANGER).is_empty(),
        "a stranger's chat gets no answer"
    );
    assert_eq!(
        fake.messages(FAMILY).len(),
        5,
        "no answer to another bot's command"
    );
    fake.assert_all_valid();
    server.terminate();
}

#[test]
fn a_ukrainian_bot_answers_in_ukrainian_and_explains_itself() {
    let fake = FakeTelegram::start().unwrap();
    let s = Sandbox::new();
    let cfg = config(&s, &fake, "uk");
    add(&s, &cfg, "Дача", None);
    let server = s.serve(&[("OUTAGE_CONFIG", &cfg)]);
    assert!(wait_until(Duration::from_secs(5), || !fake
        .my_commands()
        .is_empty()));
    let menu = fake.my_commands()[0].1.clone();
    assert_eq!(menu[0]["description"], "Чи є світло зараз у кожному місці");
    fake.push_text(FAMILY, 1, "/status");
    assert!(wait_until(Duration::from_secs(5), || texts(&fake, FAMILY)
        .len()
        == 1));
    let status = last_text(&fake, FAMILY);
    assert!(
        status.contains("Дача") && status.contains("поки невідомо"),
        "{status}"
    );
    fake.push_text(FAMILY, 1, "/help");
    assert!(wait_until(Duration::from_secs(5), || texts(&fake, FAMILY)
        .len()
        == 2));
    assert!(last_text(&fake, FAMILY).contains("/week — Діаграма цього тижня"));
    fake.push_text(FAMILY, 1, "/week Хата");
    assert!(wait_until(Duration::from_secs(5), || texts(&fake, FAMILY)
        .len()
        == 3));
    let miss = last_text(&fake, FAMILY);
    assert!(
        miss.contains("Тут немає місця «Хата»") && miss.contains("Дача"),
        "{miss}"
    );
    fake.assert_all_valid();
    server.terminate();
}
