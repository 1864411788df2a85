//! Routing end to end: one location alerted through two Telegram instances (two bots, one with
//! two chats, one routed to a chat of its own), each chat with its own live message, edits and
//! restore reply; a blocked chat and a SIGKILL between deliveries touch no other target.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

mod common;

use std::time::Duration;

use common::{Sandbox, Server, key_of, wait_until};
use outage_testkit::telegram::{FakeTelegram, Fault};
use serde_json::json;

/// The two chats of the `family` bot (its `chat_id` list).
const FAMILY: [&str; 2] = ["-1001", "-1002"];
/// The chat of the `me` bot that the location's route names (not the bot's default, 42).
const ME: &str = "4242";

struct Bots {
    family: FakeTelegram,
    me: FakeTelegram,
}

impl Bots {
    fn start() -> Bots {
        Bots {
            family: FakeTelegram::start().unwrap(),
            me: FakeTelegram::start_with_token("222333444:BBsecond-bot_Token").unwrap(),
        }
    }

    /// Writes `routes.toml` with the two instances and returns its path.
    fn write_config(&self, s: &Sandbox) -> String {
        let cfg = format!(
            "[notifiers.family]\nkind = \"telegram\"\nbot_token = \"{}\"\nchat_id = [{}, \"{}\"]\n\
             api_base = \"{}\"\n\n[notifiers.me]\nkind = \"telegram\"\nbot_token = \"{}\"\n\
             chat_id = 42\napi_base = \"{}\"\nlanguage = \"uk\"\n",
            self.family.token(),
            FAMILY[0],
            FAMILY[1],
            self.family.base_url(),
            self.me.token(),
            self.me.base_url(),
        );
        let path = s.path("routes.toml");
        std::fs::write(&path, cfg).unwrap();
        path.display().to_string()
    }

    /// Messages in every target chat: family's two, then me's.
    fn counts(&self) -> [usize; 3] {
        [
            self.family.messages(FAMILY[0]).len(),
            self.family.messages(FAMILY[1]).len(),
            self.me.messages(ME).len(),
        ]
    }
}

fn serve(s: &Sandbox, cfg: &str) -> Server {
    s.serve(&[("OUTAGE_CONFIG", cfg)])
}

fn add_routed(s: &Sandbox, cfg: &str, name: &str) -> String {
    let added = s.json(&[
        "--config",
        cfg,
        "location",
        "add",
        "--name",
        name,
        "--timeout",
        "2s",
        "--notify",
        "family",
        "--notify",
        &format!("me:{ME}"),
        "--json",
    ]);
    assert_eq!(added["routes"], json!(["family", format!("me:{ME}")]));
    key_of(&added)
}

#[test]
fn each_target_gets_its_own_alert_edits_and_restore_reply() {
    let bots = Bots::start();
    let s = Sandbox::new();
    let cfg = bots.write_config(&s);
    let key = add_routed(&s, &cfg, "Дача");
    let shown = s.json(&["--config", &cfg, "location", "show", "Дача", "--json"]);
    assert_eq!(shown["routes"], json!(["family", "me:4242"]), "{shown}");
    let server = serve(&s, &cfg);

    assert_eq!(
        server.beat(&key, &json!({"boot_id": "a", "uptime_s": 100})),
        200
    );
    assert!(
        wait_until(Duration::from_secs(8), || bots.counts() == [1, 1, 1]),
        "one outage message per target: {:?}",
        bots.counts()
    );
    assert!(
        bots.me.messages("42").is_empty(),
        "the route's chat replaces the bot's default chat"
    );
    let uk = bots.me.messages(ME)[0].text.clone().unwrap();
    assert!(uk.contains("Дача"), "{uk}");

    // Power back: each chat gets a restore that replies to its own outage message, and its
    // outage message is edited into a summary.
    assert_eq!(
        server.beat(&key, &json!({"boot_id": "b", "uptime_s": 1})),
        200
    );
    assert!(
        wait_until(Duration::from_secs(8), || bots.counts() == [2, 2, 2]),
        "one restore per target: {:?}",
        bots.counts()
    );
    for (fake, chat) in [
        (&bots.family, FAMILY[0]),
        (&bots.family, FAMILY[1]),
        (&bots.me, ME),
    ] {
        assert!(
            wait_until(Duration::from_secs(4), || fake.messages(chat)[0].edits >= 1),
            "chat {chat}: the outage message was not edited"
        );
        let m = fake.messages(chat);
        assert_eq!(
            m[1].reply_to,
            Some(m[0].message_id),
            "chat {chat}: the restore replies to its own message"
        );
    }
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(bots.counts(), [2, 2, 2], "nothing sent twice");
    bots.family.assert_all_valid();
    bots.me.assert_all_valid();
    server.terminate();
}

#[test]
fn a_blocked_chat_is_dropped_without_touching_the_others() {
    let bots = Bots::start();
    let s = Sandbox::new();
    let cfg = bots.write_config(&s);
    let key = add_routed(&s, &cfg, "Home");
    bots.family.set_chat_blocked(FAMILY[1]);
    let server = serve(&s, &cfg);
    assert_eq!(
        server.beat(&key, &json!({"boot_id": "a", "uptime_s": 100})),
        200
    );
    assert!(
        wait_until(Duration::from_secs(8), || bots.counts() == [1, 0, 1]),
        "{:?}",
        bots.counts()
    );
    assert_eq!(
        server.beat(&key, &json!({"boot_id": "b", "uptime_s": 1})),
        200
    );
    assert!(
        wait_until(Duration::from_secs(8), || bots.counts() == [2, 0, 2]),
        "the other targets get their restore although one chat blocked the bot: {:?}",
        bots.counts()
    );
    // 403 "bot was blocked" is permanent: tried once per alert, never again.
    let tries = |fake: &FakeTelegram| {
        fake.requests_to("sendMessage")
            .iter()
            .filter(|r| r.param_str("chat_id").as_deref() == Some(FAMILY[1]))
            .count()
    };
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        tries(&bots.family),
        2,
        "one try for the outage, one for the restore"
    );
    server.terminate();
}

#[test]
fn a_kill_between_two_targets_repeats_nothing() {
    let bots = Bots::start();
    let s = Sandbox::new();
    let cfg = bots.write_config(&s);
    let key = add_routed(&s, &cfg, "Home");
    // The second bot holds its first message: the family chats have theirs, `me` is in flight.
    bots.me.fail_next_for("sendMessage", 1, Fault::Hang);
    let server = serve(&s, &cfg);
    assert_eq!(
        server.beat(&key, &json!({"boot_id": "a", "uptime_s": 100})),
        200
    );
    assert!(
        wait_until(Duration::from_secs(8), || bots.counts() == [1, 1, 0]
            && bots.me.requests_to("sendMessage").len() == 1),
        "{:?}",
        bots.counts()
    );
    server.kill9();

    let server = serve(&s, &cfg);
    assert!(
        wait_until(Duration::from_secs(10), || bots.counts() == [1, 1, 1]),
        "the held alert is delivered after the restart: {:?}",
        bots.counts()
    );
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        bots.counts(),
        [1, 1, 1],
        "the family chats get no second alert"
    );
    assert_eq!(
        server.beat(&key, &json!({"boot_id": "b", "uptime_s": 1})),
        200
    );
    assert!(
        wait_until(Duration::from_secs(8), || bots.counts() == [2, 2, 2]),
        "{:?}",
        bots.counts()
    );
    let m = bots.me.messages(ME);
    assert_eq!(m[1].reply_to, Some(m[0].message_id));
    server.terminate();
}

#[test]
fn bad_routes_are_refused_with_the_key_the_value_and_what_is_accepted() {
    let bots = Bots::start();
    let s = Sandbox::new();
    let cfg = bots.write_config(&s);
    let add = |notify: &[&str]| {
        let mut args = vec!["--config", &cfg, "location", "add", "--name", "X"];
        for n in notify {
            args.push("--notify");
            args.push(n);
        }
        s.cli(&args)
    };
    let check = s.cli(&["--config", &cfg, "check-config"]);
    assert_eq!(check.code, Some(0), "{}", check.stderr);
    assert!(
        check
            .stdout
            .contains("notifiers:  family (telegram: -1001, -1002), me (telegram: 42)"),
        "check-config lists each instance with its kind and chats: {}",
        check.stdout
    );
    let out = add(&["pigeon"]);
    assert_ne!(out.code, Some(0));
    assert!(
        out.stderr.contains("--notify `pigeon`") && out.stderr.contains("configured: family, me"),
        "{}",
        out.stderr
    );
    let out = add(&["my family"]);
    assert_ne!(out.code, Some(0));
    assert!(
        out.stderr.contains("--notify") && out.stderr.contains("not a route"),
        "{}",
        out.stderr
    );
    let out = add(&["me:family"]);
    assert_ne!(out.code, Some(0));
    assert!(
        out.stderr.contains("--notify `me:family`") && out.stderr.contains("@channelname"),
        "{}",
        out.stderr
    );
    assert!(
        s.json(&["--config", &cfg, "location", "list", "--json"])
            .as_array()
            .unwrap()
            .is_empty(),
        "nothing was added"
    );

    // `--notify` alone goes back to every configured notifier.
    let added = s.json(&[
        "--config", &cfg, "location", "add", "--name", "Y", "--notify", "me", "--json",
    ]);
    assert_eq!(added["routes"], json!(["me"]));
    let edited = s.json(&[
        "--config", &cfg, "location", "edit", "Y", "--json", "--notify",
    ]);
    assert_eq!(edited["routes"], json!([]), "{edited}");
    let out = s.cli(&[
        "--config", &cfg, "location", "edit", "Y", "--notify", "--notify", "me",
    ]);
    assert_ne!(out.code, Some(0));
    assert!(out.stderr.contains("cannot be combined"), "{}", out.stderr);
}
