//! The notifier against the fake Bot API: what each alert sends, how failures map to retries,
//! and that every request passes the fake's spec validation.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use outage_core::domain::MessageRef;
use outage_core::notify::{Alert, AlertKind, DeliveryContext, DiagramImage, Notifier, NotifyError};
use outage_core::render::Language;
use outage_core::secret::Secret;
use outage_core::{Cause, EventId, LocationId};
use outage_notify_telegram::{BotApi, ChatId, TelegramConfig, TelegramNotifier, Upload};
use outage_testkit::telegram::{BOT_USERNAME, FakeTelegram, Fault};

const CHAT: i64 = -1001234567890;
const CHAT_KEY: &str = "-1001234567890";

fn notifier_with(fake: &FakeTelegram, language: Language, timeout: Duration) -> TelegramNotifier {
    let mut c = TelegramConfig::new(Secret::new(fake.token()), ChatId::Id(CHAT));
    c.api_base = fake.base_url();
    c.timeout = timeout;
    TelegramNotifier::new(&c, chrono_tz::Europe::Kyiv, language).unwrap()
}

fn notifier(fake: &FakeTelegram) -> TelegramNotifier {
    notifier_with(fake, Language::En, Duration::from_secs(5))
}

/// 2026-11-23 `h:m:13` in Kyiv (UTC+2).
fn at(h: u32, m: u32) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(&format!("2026-11-23T{h:02}:{m:02}:13+02:00"))
        .unwrap()
        .with_timezone(&Utc)
}

fn alert(kind: AlertKind, name: &str) -> Alert {
    let (ended_at, at_, cause) = match kind {
        AlertKind::Outage => (None, at(14, 2) + TimeDelta::seconds(30), Cause::Unknown),
        AlertKind::OutageUpdate => (None, at(16, 15), Cause::Unknown),
        AlertKind::Restored => (
            Some(at(16, 16)),
            at(16, 16) + TimeDelta::seconds(5),
            Cause::Power,
        ),
        AlertKind::NetworkRestored => (Some(at(14, 14)), at(14, 14), Cause::Network),
        _ => (None, at(12, 0), Cause::Unknown),
    };
    Alert {
        kind,
        location_id: LocationId(1),
        location_name: name.into(),
        event_id: Some(EventId(1)),
        started_at: Some(at(14, 2)),
        detected_at: Some(at(14, 2) + TimeDelta::seconds(30)),
        ended_at,
        cause,
        at: at_,
    }
}

fn ctx(earlier: &[&MessageRef]) -> DeliveryContext {
    DeliveryContext {
        chat: CHAT_KEY.into(),
        earlier: earlier.iter().map(|r| (*r).clone()).collect(),
    }
}

fn methods(fake: &FakeTelegram) -> Vec<String> {
    fake.requests().into_iter().map(|r| r.method).collect()
}

fn texts(fake: &FakeTelegram) -> Vec<String> {
    fake.messages(CHAT_KEY)
        .into_iter()
        .map(|m| m.text.unwrap_or_default())
        .collect()
}

#[tokio::test]
async fn an_outage_sends_one_html_message_and_returns_where_it_went() {
    let fake = FakeTelegram::start().unwrap();
    let n = notifier(&fake);
    let r = n
        .deliver(&alert(AlertKind::Outage, "Home"), &ctx(&[]))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        r,
        MessageRef {
            notifier: "telegram".into(),
            chat: CHAT_KEY.into(),
            message_id: "1".into()
        }
    );
    let req = &fake.requests_to("sendMessage")[0];
    assert_eq!(req.param_i64("chat_id"), Some(CHAT));
    assert_eq!(req.param_str("parse_mode").as_deref(), Some("HTML"));
    assert_eq!(
        req.param_str("text").as_deref(),
        Some("🔴 <b>Home</b> — power is off since 14:02")
    );
    assert!(
        !req.params.contains_key("disable_notification"),
        "the outage alert rings"
    );
    assert_eq!(texts(&fake), vec!["🔴 Home — power is off since 14:02"]);
    fake.assert_all_valid();
}

#[tokio::test]
async fn updates_edit_the_live_message_and_an_unchanged_one_is_fine() {
    let fake = FakeTelegram::start().unwrap();
    let n = notifier(&fake);
    let first = n
        .deliver(&alert(AlertKind::Outage, "Home"), &ctx(&[]))
        .await
        .unwrap()
        .unwrap();
    let upd = alert(AlertKind::OutageUpdate, "Home");
    let r = n.deliver(&upd, &ctx(&[&first])).await.unwrap().unwrap();
    assert_eq!(r, first, "the live message stays the handle");
    let edit = &fake.requests_to("editMessageText")[0];
    assert_eq!(edit.param_i64("message_id"), Some(1));
    assert_eq!(
        texts(&fake),
        vec!["🔴 Home — power is off since 14:02\n⏱ 2 h 13 min without power"]
    );
    // The same update again (a retry after a lost answer): Telegram says "not modified".
    let again = n.deliver(&upd, &ctx(&[&first])).await.unwrap().unwrap();
    assert_eq!(again, first);
    let last = fake.requests().pop().unwrap();
    assert_eq!(last.status(), Some(400));
    assert_eq!(fake.requests_to("sendMessage").len(), 1, "no new message");
    fake.assert_all_valid();
}

#[tokio::test]
async fn a_restore_edits_the_summary_then_replies_to_the_outage_message() {
    let fake = FakeTelegram::start().unwrap();
    let n = notifier(&fake);
    let first = n
        .deliver(&alert(AlertKind::Outage, "Home"), &ctx(&[]))
        .await
        .unwrap()
        .unwrap();
    let r = n
        .deliver(&alert(AlertKind::Restored, "Home"), &ctx(&[&first]))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r, first, "later edits find the outage message");
    assert_eq!(
        methods(&fake),
        ["sendMessage", "editMessageText", "sendMessage"]
    );
    let reply = &fake.requests_to("sendMessage")[1];
    assert_eq!(reply.params["reply_parameters"]["message_id"], 1);
    let msgs = fake.messages(CHAT_KEY);
    assert_eq!(
        msgs[0].text.as_deref(),
        Some("🔌 Home — power was off from 14:02 to 16:16 (2 h 14 min)")
    );
    assert_eq!(
        msgs[1].text.as_deref(),
        Some("🟢 Home: power is back at 16:16 — it was off 2 h 14 min")
    );
    assert_eq!(msgs[1].reply_to, Some(1));
    assert!(!msgs[1].silent, "the restore rings");
    fake.assert_all_valid();
}

#[tokio::test]
async fn a_restore_retried_after_its_reply_failed_sends_the_reply_once() {
    let fake = FakeTelegram::start().unwrap();
    let n = notifier(&fake);
    let first = n
        .deliver(&alert(AlertKind::Outage, "Home"), &ctx(&[]))
        .await
        .unwrap()
        .unwrap();
    fake.fail_next_for("sendMessage", 1, Fault::ServerError);
    let restored = alert(AlertKind::Restored, "Home");
    let err = n.deliver(&restored, &ctx(&[&first])).await.unwrap_err();
    assert!(matches!(err, NotifyError::Transient(_)), "{err:?}");
    n.deliver(&restored, &ctx(&[&first])).await.unwrap();
    assert_eq!(
        fake.messages(CHAT_KEY).len(),
        2,
        "outage message + one reply"
    );
    assert_eq!(fake.messages(CHAT_KEY)[1].reply_to, Some(1));
    fake.assert_all_valid();
}

#[tokio::test]
async fn a_network_outage_edits_the_alert_and_sends_nothing_new() {
    let fake = FakeTelegram::start().unwrap();
    let n = notifier(&fake);
    let first = n
        .deliver(&alert(AlertKind::Outage, "Home"), &ctx(&[]))
        .await
        .unwrap()
        .unwrap();
    let r = n
        .deliver(&alert(AlertKind::NetworkRestored, "Home"), &ctx(&[&first]))
        .await
        .unwrap();
    assert_eq!(r.as_ref(), Some(&first));
    assert_eq!(methods(&fake), ["sendMessage", "editMessageText"]);
    assert_eq!(
        texts(&fake),
        vec!["🟡 Home — the power stayed on; only the network was down for 12 min (14:02–14:14)"]
    );
    fake.assert_all_valid();
}

#[tokio::test]
async fn a_vanished_outage_message_is_replaced_by_a_new_one() {
    let fake = FakeTelegram::start().unwrap();
    let n = notifier(&fake);
    let first = n
        .deliver(&alert(AlertKind::Outage, "Home"), &ctx(&[]))
        .await
        .unwrap()
        .unwrap();
    assert!(fake.delete_message(CHAT_KEY, 1));
    let second = n
        .deliver(&alert(AlertKind::OutageUpdate, "Home"), &ctx(&[&first]))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(second.message_id, "2");
    let live = fake.message(CHAT_KEY, 2).unwrap();
    assert!(live.silent, "a replacement does not ring again");
    assert!(live.text.unwrap().contains("2 h 13 min"));
    // The restore finds the replacement (the last ref) and replies to it.
    let r = n
        .deliver(
            &alert(AlertKind::Restored, "Home"),
            &ctx(&[&first, &second]),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r, second);
    assert_eq!(fake.message(CHAT_KEY, 3).unwrap().reply_to, Some(2));
    fake.assert_all_valid();
}

#[tokio::test]
async fn a_restore_without_an_outage_message_says_the_start_is_unknown() {
    let fake = FakeTelegram::start().unwrap();
    let n = notifier(&fake);
    let mut a = alert(AlertKind::Restored, "Home");
    a.started_at = None;
    let r = n.deliver(&a, &ctx(&[])).await.unwrap().unwrap();
    assert_eq!(r.message_id, "1");
    assert_eq!(methods(&fake), ["sendMessage"]);
    let req = &fake.requests_to("sendMessage")[0];
    assert!(!req.params.contains_key("reply_parameters"));
    assert_eq!(
        texts(&fake),
        vec![
            "🟢 Home: power is back at 16:16; it went out while the monitor was offline, so how long it was off is unknown"
        ]
    );
    fake.assert_all_valid();
}

#[tokio::test]
async fn an_outage_whose_start_nobody_saw_says_so() {
    let fake = FakeTelegram::start().unwrap();
    let n = notifier(&fake);
    let mut a = alert(AlertKind::Outage, "Home");
    a.started_at = None;
    n.deliver(&a, &ctx(&[])).await.unwrap();
    assert_eq!(
        texts(&fake),
        vec!["🔴 Home — power is off; it went out while the monitor was offline"]
    );
    fake.assert_all_valid();
}

#[tokio::test]
async fn names_with_markup_ampersands_emoji_and_cyrillic_arrive_escaped_and_intact() {
    let fake = FakeTelegram::start().unwrap();
    let n = notifier(&fake);
    let name = r#"<b>Tom & "Jerry"</b> 🏠 Мамина хата"#;
    let first = n
        .deliver(&alert(AlertKind::Outage, name), &ctx(&[]))
        .await
        .unwrap()
        .unwrap();
    n.deliver(&alert(AlertKind::OutageUpdate, name), &ctx(&[&first]))
        .await
        .unwrap();
    n.deliver(&alert(AlertKind::Restored, name), &ctx(&[&first]))
        .await
        .unwrap();
    let sent = fake.requests_to("sendMessage")[0]
        .param_str("text")
        .unwrap();
    assert!(
        sent.contains("<b>&lt;b&gt;Tom &amp; &quot;Jerry&quot;&lt;/b&gt; 🏠 Мамина хата</b>"),
        "{sent}"
    );
    for m in fake.messages(CHAT_KEY) {
        let text = m.text.unwrap();
        assert!(
            text.contains(name),
            "the user sees the name as typed: {text}"
        );
    }
    fake.assert_all_valid();
}

#[tokio::test]
async fn ukrainian_messages_are_sent_in_ukrainian() {
    let fake = FakeTelegram::start().unwrap();
    let n = notifier_with(&fake, Language::Uk, Duration::from_secs(5));
    let first = n
        .deliver(&alert(AlertKind::Outage, "Дім"), &ctx(&[]))
        .await
        .unwrap()
        .unwrap();
    n.deliver(&alert(AlertKind::OutageUpdate, "Дім"), &ctx(&[&first]))
        .await
        .unwrap();
    assert_eq!(
        texts(&fake),
        vec!["🔴 Дім — світла немає із 14:02\n⏱ без світла вже 2 год 13 хв"]
    );
    n.deliver(&alert(AlertKind::Restored, "Дім"), &ctx(&[&first]))
        .await
        .unwrap();
    assert_eq!(
        texts(&fake),
        vec![
            "🔌 Дім — світла не було із 14:02 до 16:16 (2 год 14 хв)",
            "🟢 Дім: світло повернулося о 16:16 — його не було 2 год 14 хв",
        ]
    );
    // The config's own language overrides monitor.language.
    let mut c = TelegramConfig::new(Secret::new(fake.token()), ChatId::Id(CHAT));
    c.api_base = fake.base_url();
    c.language = Some(Language::Uk);
    let n = TelegramNotifier::new(&c, chrono_tz::Europe::Kyiv, Language::En).unwrap();
    n.deliver(&alert(AlertKind::Test, "Дім"), &ctx(&[]))
        .await
        .unwrap();
    assert!(texts(&fake)[2].contains("тестове повідомлення"));
    fake.assert_all_valid();
}

#[tokio::test]
async fn rate_limits_carry_telegrams_retry_after_exactly() {
    let fake = FakeTelegram::start().unwrap();
    fake.fail_next(1, Fault::RateLimited { retry_after: 3 });
    let err = notifier(&fake)
        .deliver(&alert(AlertKind::Outage, "Home"), &ctx(&[]))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        NotifyError::RateLimited {
            retry_after: Duration::from_secs(3)
        }
    );
    fake.assert_all_valid();
}

#[tokio::test]
async fn server_errors_hangs_and_dropped_connections_are_transient() {
    let fake = FakeTelegram::start().unwrap();
    let n = notifier_with(&fake, Language::En, Duration::from_millis(400));
    let outage = alert(AlertKind::Outage, "Home");

    fake.fail_next(1, Fault::ServerError);
    let e = n.deliver(&outage, &ctx(&[])).await.unwrap_err();
    assert!(
        matches!(&e, NotifyError::Transient(m) if m.contains("500")),
        "{e:?}"
    );

    fake.fail_next(1, Fault::BadGateway);
    let e = n.deliver(&outage, &ctx(&[])).await.unwrap_err();
    assert!(matches!(e, NotifyError::Transient(_)), "{e:?}");

    fake.fail_next(1, Fault::Hang);
    let started = Instant::now();
    let e = n.deliver(&outage, &ctx(&[])).await.unwrap_err();
    let waited = started.elapsed();
    assert!(
        matches!(&e, NotifyError::Transient(m) if m.contains("no answer")),
        "{e:?}"
    );
    assert!(
        waited >= Duration::from_millis(350) && waited < Duration::from_secs(5),
        "{waited:?}"
    );

    fake.fail_next(1, Fault::Drop);
    let e = n.deliver(&outage, &ctx(&[])).await.unwrap_err();
    assert!(matches!(e, NotifyError::Transient(_)), "{e:?}");

    assert!(
        fake.messages(CHAT_KEY).is_empty(),
        "nothing was sent by failed calls"
    );
    n.deliver(&outage, &ctx(&[])).await.unwrap();
    assert_eq!(fake.messages(CHAT_KEY).len(), 1);
    fake.assert_all_valid();
}

#[tokio::test]
async fn chats_that_cannot_be_reached_and_bad_tokens_are_permanent() {
    let fake = FakeTelegram::start().unwrap();
    let n = notifier(&fake);
    let outage = alert(AlertKind::Outage, "Home");

    fake.set_chat_missing(CHAT_KEY);
    let e = n.deliver(&outage, &ctx(&[])).await.unwrap_err();
    assert!(
        matches!(&e, NotifyError::Permanent(m) if m.contains("chat not found") && m.contains(CHAT_KEY)),
        "{e:?}"
    );

    fake.fail_next(1, Fault::BotBlocked);
    let other = DeliveryContext {
        chat: "42".into(),
        earlier: vec![],
    };
    let e = n.deliver(&outage, &other).await.unwrap_err();
    assert!(
        matches!(&e, NotifyError::Permanent(m) if m.contains("blocked") && m.contains("42")),
        "{e:?}"
    );

    let mut c = TelegramConfig::new(Secret::new("999:AAwrongWRONGwrong"), ChatId::Id(CHAT));
    c.api_base = fake.base_url();
    let bad = TelegramNotifier::new(&c, chrono_tz::Europe::Kyiv, Language::En).unwrap();
    let e = bad.deliver(&outage, &other).await.unwrap_err();
    assert!(
        matches!(&e, NotifyError::Permanent(m) if m.contains("bot_token")),
        "{e:?}"
    );
    let e = bad.check_online().await.unwrap_err();
    assert!(
        matches!(&e, NotifyError::Permanent(m) if m.contains("401")),
        "{e:?}"
    );

    let invalid = DeliveryContext {
        chat: "family".into(),
        earlier: vec![],
    };
    let e = n.deliver(&outage, &invalid).await.unwrap_err();
    assert!(
        matches!(&e, NotifyError::Permanent(m) if m.contains("family")),
        "{e:?}"
    );
    assert_eq!(
        fake.request_count(),
        4,
        "an invalid chat is refused before any request"
    );
    // The two wrong-token requests are the only invalid ones (recorded as such).
    assert_eq!(fake.violations().len(), 2, "{:?}", fake.violations());
}

#[tokio::test]
async fn the_token_never_appears_in_errors_or_debug_output() {
    let fake = FakeTelegram::start().unwrap();
    let token = fake.token();
    let secret_half = token.split_once(':').unwrap().1.to_string();
    let n = notifier_with(&fake, Language::En, Duration::from_millis(300));
    let outage = alert(AlertKind::Outage, "Home");
    let mut seen = vec![format!("{n:?}"), format!("{:?}", n.api())];

    for f in [
        Fault::ServerError,
        Fault::RateLimited { retry_after: 1 },
        Fault::Hang,
        Fault::Drop,
        Fault::ChatNotFound,
        Fault::BotBlocked,
        Fault::Unauthorized,
        Fault::Error {
            status: 400,
            description: "Bad Request: something odd".into(),
        },
    ] {
        fake.fail_next(1, f);
        let e = n.deliver(&outage, &ctx(&[])).await.unwrap_err();
        seen.push(e.to_string());
        seen.push(format!("{e:?}"));
    }
    // Nobody listening: connection refused.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut c = TelegramConfig::new(Secret::new(token.clone()), ChatId::Id(CHAT));
    c.api_base = format!("http://127.0.0.1:{port}");
    c.timeout = Duration::from_secs(2);
    seen.push(format!("{c:?}"));
    let closed = TelegramNotifier::new(&c, chrono_tz::Europe::Kyiv, Language::En).unwrap();
    let e = closed.deliver(&outage, &ctx(&[])).await.unwrap_err();
    assert!(matches!(e, NotifyError::Transient(_)), "{e:?}");
    seen.push(e.to_string());
    let e = closed.check_online().await.unwrap_err();
    seen.push(e.to_string());
    let api = BotApi::new(&c.api_base, Secret::new(token.clone()), c.timeout).unwrap();
    seen.push(format!("{:?}", api.get_me().await.unwrap_err()));

    for s in &seen {
        assert!(
            !s.contains(&token) && !s.contains(&secret_half),
            "the token leaked: {s}"
        );
    }
    assert!(seen.iter().any(|s| s.contains("no answer")), "{seen:#?}");
    assert!(seen.iter().any(|s| s.contains("cannot reach")), "{seen:#?}");
}

#[tokio::test]
async fn check_online_names_the_bot_and_the_chat_or_why_the_chat_is_unreachable() {
    let fake = FakeTelegram::start().unwrap();
    let n = notifier(&fake);
    assert_eq!(
        n.check_online().await.unwrap(),
        format!("@{BOT_USERNAME} (Outage Test Bot), posting to \"Test group\" (supergroup)")
    );
    assert_eq!(methods(&fake), ["getMe", "getChat"]);

    fake.set_chat_missing(CHAT_KEY);
    let e = n.check_online().await.unwrap_err();
    assert!(
        matches!(&e, NotifyError::Permanent(m) if m.contains("chat not found") && m.contains(CHAT_KEY)),
        "{e:?}"
    );
    let fake2 = FakeTelegram::start().unwrap();
    fake2.set_chat_blocked(CHAT_KEY);
    let e = notifier(&fake2).check_online().await.unwrap_err();
    assert!(
        matches!(&e, NotifyError::Permanent(m) if m.contains("blocked")),
        "{e:?}"
    );
    fake.assert_all_valid();
    fake2.assert_all_valid();
}

#[tokio::test]
async fn a_location_chat_overrides_the_default_one() {
    let fake = FakeTelegram::start().unwrap();
    let n = notifier(&fake);
    assert_eq!(n.chat_for(None), CHAT_KEY);
    assert_eq!(n.chat_for(Some("@home_power")), "@home_power");
    let c = DeliveryContext {
        chat: n.chat_for(Some("@home_power")),
        earlier: vec![],
    };
    n.deliver(&alert(AlertKind::Test, "Home"), &c)
        .await
        .unwrap();
    assert_eq!(
        fake.requests_to("sendMessage")[0]
            .param_str("chat_id")
            .as_deref(),
        Some("@home_power")
    );
    assert_eq!(
        fake.messages("@home_power")[0].text.as_deref(),
        Some("✅ Home — test message: Telegram alerts work")
    );
    fake.assert_all_valid();
}

#[tokio::test]
async fn photos_are_posted_replaced_and_deleted() {
    let fake = FakeTelegram::start().unwrap();
    let n = notifier(&fake);
    let api = n.api();
    let chat = ChatId::Id(CHAT);
    let m = api
        .send_photo(
            &chat,
            Upload::png("week.png", b"\x89PNG\r\n\x1a\nfirst".to_vec()),
            Some("<b>Home</b>, week 48"),
            Some("HTML"),
        )
        .await
        .unwrap();
    let edited = api
        .edit_message_media(
            &chat,
            m.message_id,
            Upload::png("week.png", b"\x89PNG\r\n\x1a\nsecond".to_vec()),
            Some("<b>Home</b>, week 48 (updated)"),
            Some("HTML"),
        )
        .await
        .unwrap();
    assert_eq!(edited.map(|e| e.message_id), Some(m.message_id));
    let stored = fake.message(CHAT_KEY, m.message_id).unwrap();
    assert_eq!(stored.photo.unwrap().bytes, b"\x89PNG\r\n\x1a\nsecond");
    assert_eq!(stored.caption.as_deref(), Some("Home, week 48 (updated)"));
    let req = &fake.requests_to("editMessageMedia")[0];
    assert_eq!(req.params["media"]["media"], "attach://photo");
    assert_eq!(req.files[0].content_type.as_deref(), Some("image/png"));
    api.delete_message(&chat, m.message_id).await.unwrap();
    assert!(fake.messages(CHAT_KEY).is_empty());
    let e = api.delete_message(&chat, m.message_id).await.unwrap_err();
    assert!(e.is_message_gone(), "{e:?}");
    fake.assert_all_valid();
}

#[tokio::test]
async fn diagrams_are_posted_silently_edited_in_place_and_gone_ones_reported() {
    let fake = FakeTelegram::start().unwrap();
    let n = notifier_with(&fake, Language::Uk, Duration::from_secs(5));
    assert!(n.posts_diagrams());
    let img = |bytes: &[u8], outages| DiagramImage {
        location_id: LocationId(7),
        location_name: "Дача & <друзі>".into(),
        week: "2026-W48".parse().unwrap(),
        days: (
            chrono::NaiveDate::from_ymd_opt(2026, 11, 23).unwrap(),
            chrono::NaiveDate::from_ymd_opt(2026, 11, 29).unwrap(),
        ),
        down: TimeDelta::minutes(90),
        outages,
        drawn_at: at(15, 0),
        yesterday: None,
        png: bytes.to_vec(),
    };
    let r = n
        .post_diagram(CHAT_KEY, &img(b"\x89PNG\r\n\x1a\none", 1))
        .await
        .unwrap();
    assert_eq!(
        (r.notifier.as_str(), r.chat.as_str()),
        ("telegram", CHAT_KEY)
    );
    let id: i64 = r.message_id.parse().unwrap();
    let posted = fake.message(CHAT_KEY, id).unwrap();
    assert_eq!(
        posted.photo.as_ref().unwrap().bytes,
        b"\x89PNG\r\n\x1a\none"
    );
    let caption = posted.caption.unwrap();
    assert!(
        caption.starts_with("📊 Дача & <друзі> — тиждень 48"),
        "{caption}"
    );
    assert!(
        caption.contains("відключень: 1, без світла 1 год 30 хв"),
        "{caption}"
    );

    n.update_diagram(&r, &img(b"\x89PNG\r\n\x1a\ntwo", 2))
        .await
        .unwrap();
    let edited = fake.message(CHAT_KEY, id).unwrap();
    assert_eq!(edited.photo.unwrap().bytes, b"\x89PNG\r\n\x1a\ntwo");
    assert_eq!(fake.messages(CHAT_KEY).len(), 1, "edited in place");

    assert!(fake.delete_message(CHAT_KEY, id));
    let e = n
        .update_diagram(&r, &img(b"\x89PNG\r\n\x1a\nthree", 2))
        .await
        .unwrap_err();
    assert!(matches!(e, NotifyError::MessageGone(_)), "{e:?}");
    assert_eq!(
        methods(&fake),
        ["sendPhoto", "editMessageMedia", "editMessageMedia"]
    );
    fake.assert_all_valid();
}
