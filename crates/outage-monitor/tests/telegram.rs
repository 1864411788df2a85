//! Telegram alerts end to end: the real binary against the fake Bot API, which validates every
//! request against the Bot API spec.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

mod common;

use std::time::{Duration, Instant};

use common::{Sandbox, key_of, wait_until};
use outage_testkit::telegram::FakeTelegram;
use serde_json::json;

const CHAT: &str = "-1001234567890";

fn serve_with_telegram(s: &Sandbox, fake: &FakeTelegram) -> common::Server {
    let base = fake.base_url();
    let token = fake.token();
    s.serve(&[
        ("OUTAGE_NOTIFIERS__TELEGRAM__BOT_TOKEN", token.as_str()),
        ("OUTAGE_NOTIFIERS__TELEGRAM__CHAT_ID", CHAT),
        ("OUTAGE_NOTIFIERS__TELEGRAM__API_BASE", base.as_str()),
    ])
}

/// Writes `tg.toml` with a `[notifiers.telegram]` table pointing at `fake`.
fn write_telegram_config(s: &Sandbox, fake: &FakeTelegram) {
    let cfg = format!(
        "[notifiers.telegram]\nbot_token = \"{}\"\nchat_id = {CHAT}\napi_base = \"{}\"\n",
        fake.token(),
        fake.base_url()
    );
    std::fs::write(s.path("tg.toml"), cfg).unwrap();
}

fn sent(fake: &FakeTelegram) -> Vec<outage_testkit::telegram::RecordedRequest> {
    fake.requests_to("sendMessage")
}

#[test]
fn outage_restore_and_network_drop_in_telegram() {
    let fake = FakeTelegram::start().unwrap();
    let s = Sandbox::new();
    let name = "<b>Дім</b> & 🏠";
    let key = key_of(&s.json(&[
        "location",
        "add",
        "--name",
        name,
        "--timeout",
        "2s",
        "--json",
    ]));
    let server = serve_with_telegram(&s, &fake);

    // Outage: one alert within timeout + 1 s of the last beat.
    assert_eq!(
        server.beat(&key, &json!({"boot_id": "a", "uptime_s": 100})),
        200
    );
    let last_beat = Instant::now();
    assert!(
        wait_until(Duration::from_secs(6), || !sent(&fake).is_empty()),
        "no alert"
    );
    let took = last_beat.elapsed();
    // Timeout (2 s) + 1 s, measured from after the beat's answer to the message in the chat.
    eprintln!("outage alert in the chat {took:?} after the last beat (timeout 2 s)");
    assert!(took < Duration::from_secs(3), "alert after {took:?}");
    let outage = fake.messages(CHAT);
    assert_eq!(outage.len(), 1);
    let text = outage[0].text.clone().unwrap();
    assert!(
        text.contains(name),
        "the name must arrive escaped and intact: {text}"
    );

    // Power back: a reply to the outage message, and the outage message becomes a summary.
    assert_eq!(
        server.beat(&key, &json!({"boot_id": "b", "uptime_s": 1})),
        200
    );
    assert!(wait_until(Duration::from_secs(6), || fake
        .messages(CHAT)
        .len()
        == 2));
    let msgs = fake.messages(CHAT);
    assert_eq!(
        msgs[1].reply_to,
        Some(msgs[0].message_id),
        "the restore replies to the alert"
    );
    assert!(wait_until(Duration::from_secs(3), || fake.messages(CHAT)
        [0]
    .edits
        >= 1));

    // A network drop: the new outage alert is edited, nothing new is sent.
    let mut up = 1;
    for _ in 0..3 {
        up += 1;
        assert_eq!(
            server.beat(&key, &json!({"boot_id": "b", "uptime_s": up})),
            200
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    assert!(wait_until(Duration::from_secs(6), || fake
        .messages(CHAT)
        .len()
        == 3));
    let before = sent(&fake).len();
    assert_eq!(
        server.beat(&key, &json!({"boot_id": "b", "uptime_s": up + 5})),
        200
    );
    assert!(wait_until(Duration::from_secs(6), || {
        fake.messages(CHAT)[2].edits >= 1
    }));
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        sent(&fake).len(),
        before,
        "a network drop sends no new message"
    );
    let edited = fake.messages(CHAT)[2].text.clone().unwrap();
    assert!(
        edited.to_lowercase().contains("network") || edited.contains("мереж"),
        "{edited}"
    );

    fake.assert_all_valid();
    server.terminate();
}

#[test]
fn check_config_online_names_the_bot_or_the_problem() {
    let fake = FakeTelegram::start().unwrap();
    let s = Sandbox::new();
    write_telegram_config(&s, &fake);
    let ok = s.cli(&[
        "--config",
        s.path("tg.toml").to_str().unwrap(),
        "check-config",
        "--online",
    ]);
    assert_eq!(ok.code, Some(0), "{}", ok.stderr);
    assert!(ok.stdout.contains("telegram"), "{}", ok.stdout);

    let bad = format!(
        "[notifiers.telegram]\nbot_token = \"111:wrong\"\nchat_id = {CHAT}\napi_base = \"{}\"\n",
        fake.base_url()
    );
    std::fs::write(s.path("bad.toml"), bad).unwrap();
    let out = s.cli(&[
        "--config",
        s.path("bad.toml").to_str().unwrap(),
        "check-config",
        "--online",
    ]);
    assert_ne!(out.code, Some(0));
    assert!(
        !out.stdout.contains("111:wrong") && !out.stderr.contains("111:wrong"),
        "token leaked"
    );
}

/// Outage messages in the chat that name `name`.
fn outage_messages_for(fake: &FakeTelegram, name: &str) -> usize {
    fake.messages(CHAT)
        .iter()
        .filter_map(|m| m.text.clone())
        .filter(|t| t.contains(name) && t.contains("power is off"))
        .count()
}

#[test]
fn sigkill_while_telegram_hangs_then_restart_delivers_the_alert_once() {
    let fake = FakeTelegram::start().unwrap();
    let s = Sandbox::new();
    let key = key_of(&s.json(&[
        "location",
        "add",
        "--name",
        "Home",
        "--timeout",
        "1s",
        "--json",
    ]));
    fake.fail_next_for("sendMessage", 1, outage_testkit::telegram::Fault::Hang);
    let server = serve_with_telegram(&s, &fake);
    assert_eq!(
        server.beat(&key, &json!({"boot_id": "a", "uptime_s": 100})),
        200
    );
    // The alert is on its way: Telegram has the request but has not answered.
    assert!(wait_until(Duration::from_secs(6), || sent(&fake).len() == 1));
    server.kill9();
    assert!(fake.messages(CHAT).is_empty());

    // The outbox row survived the crash; the restarted monitor delivers it, once.
    let server = serve_with_telegram(&s, &fake);
    assert!(
        wait_until(Duration::from_secs(10), || fake.messages(CHAT).len() == 1),
        "the alert was lost: {:?}",
        server.stderr.lock().unwrap()
    );
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(outage_messages_for(&fake, "Home"), 1);

    // And the restore still replies to it.
    assert_eq!(
        server.beat(&key, &json!({"boot_id": "b", "uptime_s": 1})),
        200
    );
    assert!(wait_until(Duration::from_secs(6), || fake
        .messages(CHAT)
        .len()
        == 2));
    let msgs = fake.messages(CHAT);
    assert_eq!(msgs[1].reply_to, Some(msgs[0].message_id));
    fake.assert_all_valid();
    server.terminate();
}

/// SIGKILL at moments spread over the detection and delivery of an outage alert, eight times,
/// then one clean start: no alert may be lost. Duplicates are possible only when Telegram
/// acted on a request and the monitor died before writing down that it did (a window of a few
/// milliseconds); the count is printed (`cargo test -- --nocapture`) rather than asserted.
#[test]
fn sigkill_at_moments_spread_over_delivery_loses_no_alert() {
    const CYCLES: usize = 8;
    let fake = FakeTelegram::start().unwrap();
    let s = Sandbox::new();
    let keys: Vec<String> = (0..CYCLES)
        .map(|i| {
            key_of(&s.json(&[
                "location",
                "add",
                "--name",
                &format!("Place{i}"),
                "--timeout",
                "2s",
                "--json",
            ]))
        })
        .collect();
    for (i, key) in keys.iter().enumerate() {
        let server = serve_with_telegram(&s, &fake);
        assert_eq!(
            server.beat(key, &json!({"boot_id": "x", "uptime_s": 50})),
            200
        );
        // Detection is due 2 s after the beat (which the writer has stored by then); kill
        // from 100 ms before to 320 ms after it.
        std::thread::sleep(Duration::from_millis(1900 + 60 * i as u64));
        server.kill9();
    }
    let server = serve_with_telegram(&s, &fake);
    let all_arrived = || (0..CYCLES).all(|i| outage_messages_for(&fake, &format!("Place{i}")) >= 1);
    assert!(
        wait_until(Duration::from_secs(20), all_arrived),
        "alerts lost: {:?}",
        (0..CYCLES)
            .map(|i| outage_messages_for(&fake, &format!("Place{i}")))
            .collect::<Vec<_>>()
    );
    std::thread::sleep(Duration::from_secs(2));
    let counts: Vec<usize> = (0..CYCLES)
        .map(|i| outage_messages_for(&fake, &format!("Place{i}")))
        .collect();
    let duplicates: usize = counts.iter().map(|c| c - 1).sum();
    for m in fake.messages(CHAT) {
        eprintln!("  {:?}", m.text);
    }
    eprintln!(
        "SIGKILL during delivery: {CYCLES} kills, 0 alerts lost, {duplicates} duplicated ({counts:?})"
    );
    fake.assert_all_valid();
    server.terminate();
}

/// Telegram fails for tens of seconds (500s with the worker's growing backoff), then asks to
/// slow down (429, retry_after = 3): afterwards every alert arrives, in order, once, and
/// nothing is sent to that chat before retry_after has passed.
#[test]
fn telegram_down_for_tens_of_seconds_then_rate_limited_delivers_everything_once_in_order() {
    use outage_testkit::telegram::Fault;
    const DACHA: &str = "@dacha_power";
    let fake = FakeTelegram::start().unwrap();
    let s = Sandbox::new();
    let home = key_of(&s.json(&[
        "location",
        "add",
        "--name",
        "Home",
        "--timeout",
        "1s",
        "--json",
    ]));
    let dacha = key_of(&s.json(&[
        "location",
        "add",
        "--name",
        "Dacha",
        "--timeout",
        "1s",
        "--chat-id",
        DACHA,
        "--json",
    ]));
    fake.fail_next(8, Fault::ServerError);
    fake.fail_next(1, Fault::RateLimited { retry_after: 3 });
    let server = serve_with_telegram(&s, &fake);
    let started = Instant::now();
    assert_eq!(
        server.beat(&home, &json!({"boot_id": "h1", "uptime_s": 100})),
        200
    );
    assert_eq!(
        server.beat(&dacha, &json!({"boot_id": "d1", "uptime_s": 100})),
        200
    );
    // Both go dark; Home's power comes back 4 s later (new boot) while Telegram still fails.
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(
        server.beat(&home, &json!({"boot_id": "h2", "uptime_s": 2})),
        200
    );
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let keep_home_up = std::thread::spawn({
        let url = format!("{}/api/v1/heartbeat", server.base);
        let (home, stop) = (home.clone(), stop.clone());
        move || {
            let mut up = 3;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                common::post_json(&url, &home, &json!({"boot_id": "h2", "uptime_s": up}));
                std::thread::sleep(Duration::from_millis(400));
                up += 1;
            }
        }
    });

    let delivered = || fake.messages(CHAT).len() == 2 && fake.messages(DACHA).len() == 1;
    assert!(
        wait_until(Duration::from_secs(60), delivered),
        "home {:?}, dacha {:?}",
        fake.messages(CHAT),
        fake.messages(DACHA)
    );
    let took = started.elapsed();
    std::thread::sleep(Duration::from_millis(1500));

    // Telegram really was down for tens of seconds: the last failure came that late.
    let requests = fake.requests();
    let failures: Vec<_> = requests
        .iter()
        .filter(|r| matches!(r.status(), Some(s) if s >= 429))
        .collect();
    assert_eq!(failures.len(), 9, "every scripted failure was seen once");
    let first = requests[0].received_at;
    let last_failure = failures.last().unwrap().received_at;
    let down_for = last_failure.duration_since(first).unwrap();
    assert!(down_for >= Duration::from_secs(15), "down for {down_for:?}");

    // Nothing to the rate-limited chat before retry_after.
    let limited = failures.iter().find(|r| r.status() == Some(429)).unwrap();
    let chat = limited.param_str("chat_id").unwrap();
    let next = requests
        .iter()
        .filter(|r| r.seq > limited.seq && r.param_str("chat_id").as_deref() == Some(&chat))
        .map(|r| r.received_at)
        .min()
        .unwrap();
    let waited = next.duration_since(limited.received_at).unwrap();
    assert!(waited >= Duration::from_secs(3), "retried after {waited:?}");

    // In order and once: Home's outage message, then the restore replying to it; Dacha's one.
    let msgs = fake.messages(CHAT);
    assert!(
        msgs[0]
            .text
            .as_deref()
            .unwrap()
            .starts_with("🔌 Home — power was off from "),
        "{msgs:#?}"
    );
    assert!(
        msgs[1]
            .text
            .as_deref()
            .unwrap()
            .starts_with("🟢 Home: power is back at "),
        "{msgs:#?}"
    );
    assert_eq!(msgs[1].reply_to, Some(msgs[0].message_id));
    assert!(
        fake.messages(DACHA)[0]
            .text
            .as_deref()
            .unwrap()
            .starts_with("🔴 Dacha — power is off since")
    );
    let sent_ok = requests
        .iter()
        .filter(|r| r.method == "sendMessage" && r.status() == Some(200))
        .count();
    assert_eq!(sent_ok, 3, "three messages, none repeated");
    eprintln!("Telegram down for {down_for:?}; everything delivered {took:?} after the first beat");
    fake.assert_all_valid();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    keep_home_up.join().unwrap();
    server.terminate();
}

#[test]
fn location_test_alert_reaches_the_locations_chat_or_says_why_not() {
    let fake = FakeTelegram::start().unwrap();
    let s = Sandbox::new();
    write_telegram_config(&s, &fake);
    let cfg = s.path("tg.toml");
    let cfg = cfg.to_str().unwrap();
    s.cli(&[
        "--config",
        cfg,
        "location",
        "add",
        "--name",
        "Дача",
        "--chat-id",
        "@dacha_power",
    ]);
    let out = s.cli(&["--config", cfg, "location", "test-alert", "Дача", "--json"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v[0]["notifier"], "telegram");
    assert_eq!(v[0]["chat"], "@dacha_power");
    assert_eq!(v[0]["ok"], true);
    let msgs = fake.messages("@dacha_power");
    assert_eq!(msgs.len(), 1);
    assert!(
        msgs[0].text.as_deref().unwrap().contains("Дача"),
        "{msgs:?}"
    );
    assert!(
        fake.messages(CHAT).is_empty(),
        "the location's own chat, not the default"
    );

    fake.set_chat_missing("@dacha_power");
    let out = s.cli(&["--config", cfg, "location", "test-alert", "Дача"]);
    assert_ne!(out.code, Some(0));
    assert!(
        out.stdout.contains("FAILED") && out.stdout.contains("chat not found"),
        "{}",
        out.stdout
    );
    fake.assert_all_valid();
}
