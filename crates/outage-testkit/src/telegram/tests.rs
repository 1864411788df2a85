//! Tests of the fake itself, over real HTTP with reqwest.

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

use super::*;

fn url(fake: &FakeTelegram, method: &str) -> String {
    format!("{}/bot{}/{method}", fake.base_url(), fake.token())
}

async fn post_json(fake: &FakeTelegram, method: &str, body: Value) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(url(fake, method))
        .json(&body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

#[tokio::test]
async fn get_me_answers_a_bot_user_that_matches_the_spec() {
    let fake = FakeTelegram::start().unwrap();
    let (status, body) = post_json(&fake, "getMe", json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(body["ok"], true);
    assert_eq!(body["result"]["username"], BOT_USERNAME);
    assert_eq!(body["result"]["id"], 123_456_789);
    let spec = spec::spec().unwrap();
    assert_eq!(
        spec.shallow_check("User", &body["result"]),
        Vec::<String>::new()
    );
    fake.assert_all_valid();
}

#[tokio::test]
async fn unknown_methods_wrong_tokens_and_bad_parameters_are_refused_like_the_real_server() {
    let fake = FakeTelegram::start().unwrap();
    let (status, body) = post_json(&fake, "getWebhookInfo", json!({})).await;
    assert_eq!(status, 404);
    assert_eq!(
        body,
        json!({"ok": false, "error_code": 404, "description": "Not Found"})
    );

    let r = reqwest::Client::new()
        .post(format!("{}/bot1:wrong/getMe", fake.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["description"], "Unauthorized");

    let (status, body) = post_json(&fake, "sendMessage", json!({"chat_id": 1})).await;
    assert_eq!(status, 400);
    assert_eq!(body["description"], "Bad Request: message text is empty");

    let (status, body) = post_json(
        &fake,
        "sendMessage",
        json!({"chat_id": 1, "text": "x", "reply_to_message_id": 4}),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        body["description"],
        "Bad Request: unknown parameter \"reply_to_message_id\""
    );
    assert_eq!(fake.violations().len(), 4, "{:?}", fake.violations());
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| fake.assert_all_valid()));
    assert!(
        caught.is_err(),
        "assert_all_valid must fail on invalid requests"
    );
}

#[tokio::test]
async fn messages_are_stored_edited_replied_to_and_deleted() {
    let fake = FakeTelegram::start().unwrap();
    let (s, sent) = post_json(
        &fake,
        "sendMessage",
        json!({"chat_id": "-1001", "text": "🔴 <b>Дім &amp; сад</b>", "parse_mode": "HTML"}),
    )
    .await;
    assert_eq!(s, 200, "{sent}");
    let m = &sent["result"];
    assert_eq!(m["message_id"], 1);
    assert_eq!(m["chat"]["id"], -1001);
    assert_eq!(m["text"], "🔴 Дім & сад");
    assert!(m["date"].as_i64().unwrap() > 1_700_000_000);
    let spec = spec::spec().unwrap();
    assert_eq!(spec.shallow_check("Message", m), Vec::<String>::new());
    assert_eq!(spec.shallow_check("Chat", &m["chat"]), Vec::<String>::new());

    // Same text again: not modified.
    let edit = json!({"chat_id": -1001, "message_id": 1, "text": "🔴 <b>Дім &amp; сад</b>", "parse_mode": "HTML"});
    let (s, body) = post_json(&fake, "editMessageText", edit).await;
    assert_eq!(s, 400);
    assert!(
        body["description"]
            .as_str()
            .unwrap()
            .starts_with("Bad Request: message is not modified: ")
    );
    // Same words, other formatting: modified.
    let edit = json!({"chat_id": -1001, "message_id": 1, "text": "🔴 Дім &amp; сад", "parse_mode": "HTML"});
    let (s, body) = post_json(&fake, "editMessageText", edit).await;
    assert_eq!(s, 200, "{body}");
    assert!(body["result"]["edit_date"].is_i64());
    assert_eq!(fake.message("-1001", 1).unwrap().edits, 1);

    let (s, body) = post_json(
        &fake,
        "editMessageText",
        json!({"chat_id": -1001, "message_id": 9, "text": "x"}),
    )
    .await;
    assert_eq!(
        (s, body["description"].as_str().unwrap()),
        (400, "Bad Request: message to edit not found")
    );

    let (s, reply) = post_json(
        &fake,
        "sendMessage",
        json!({"chat_id": -1001, "text": "back", "reply_parameters": {"message_id": 1}}),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(reply["result"]["message_id"], 2);
    assert_eq!(reply["result"]["reply_to_message"]["message_id"], 1);

    let (s, body) = post_json(
        &fake,
        "sendMessage",
        json!({"chat_id": -1001, "text": "x", "reply_parameters": {"message_id": 77}}),
    )
    .await;
    assert_eq!(
        (s, body["description"].as_str().unwrap()),
        (400, "Bad Request: message to be replied not found")
    );
    let (s, _) = post_json(
        &fake,
        "sendMessage",
        json!({"chat_id": -1001, "text": "x", "reply_parameters": {"message_id": 77, "allow_sending_without_reply": true}}),
    )
    .await;
    assert_eq!(s, 200);

    let (s, body) = post_json(
        &fake,
        "deleteMessage",
        json!({"chat_id": -1001, "message_id": 2}),
    )
    .await;
    assert_eq!((s, body["result"].clone()), (200, json!(true)));
    let (s, body) = post_json(
        &fake,
        "deleteMessage",
        json!({"chat_id": -1001, "message_id": 2}),
    )
    .await;
    assert_eq!(
        (s, body["description"].as_str().unwrap()),
        (400, "Bad Request: message to delete not found")
    );
    assert_eq!(
        fake.messages("-1001")
            .iter()
            .map(|m| m.message_id)
            .collect::<Vec<_>>(),
        vec![1, 3]
    );
    // Other chats count their own ids.
    let (_, other) = post_json(&fake, "sendMessage", json!({"chat_id": 7, "text": "x"})).await;
    assert_eq!(other["result"]["message_id"], 1);
    assert_eq!(other["result"]["chat"]["type"], "private");
    fake.assert_all_valid();
}

#[tokio::test]
async fn unescaped_html_is_a_bad_request() {
    let fake = FakeTelegram::start().unwrap();
    let (s, body) = post_json(
        &fake,
        "sendMessage",
        json!({"chat_id": 1, "text": "<b>Tom & Jerry</b>", "parse_mode": "HTML"}),
    )
    .await;
    assert_eq!(s, 400);
    assert!(
        body["description"]
            .as_str()
            .unwrap()
            .starts_with("Bad Request: Can't parse entities"),
        "{body}"
    );
    assert!(fake.messages("1").is_empty());
}

#[tokio::test]
async fn forms_and_multipart_with_attachments_are_understood() {
    let fake = FakeTelegram::start().unwrap();
    let client = reqwest::Client::new();
    let r = client
        .post(url(&fake, "sendMessage"))
        .form(&[
            ("chat_id", "42"),
            ("text", "форма"),
            ("disable_notification", "true"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(fake.message("42", 1).unwrap().silent);

    // A 2×1 PNG header is enough for the fake to read the size.
    let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    png.extend_from_slice(&640u32.to_be_bytes());
    png.extend_from_slice(&320u32.to_be_bytes());
    png.extend_from_slice(b"rest-of-image");
    let form = reqwest::multipart::Form::new()
        .text("chat_id", "42")
        .text("caption", "<b>Week</b>")
        .text("parse_mode", "HTML")
        .part(
            "photo",
            reqwest::multipart::Part::bytes(png.clone())
                .file_name("week.png")
                .mime_str("image/png")
                .unwrap(),
        );
    let r = client
        .post(url(&fake, "sendPhoto"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let body: Value = r.json().await.unwrap();
    let sizes = body["result"]["photo"].as_array().unwrap();
    assert_eq!(sizes.last().unwrap()["width"], 640);
    assert_eq!(sizes.last().unwrap()["height"], 320);
    assert_eq!(body["result"]["caption"], "Week");
    let id = body["result"]["message_id"].as_i64().unwrap();

    let media = json!({"type": "photo", "media": "attach://diagram", "caption": "Week 2"});
    let edit = |bytes: Vec<u8>| {
        reqwest::multipart::Form::new()
            .text("chat_id", "42")
            .text("message_id", id.to_string())
            .text("media", media.to_string())
            .part(
                "diagram",
                reqwest::multipart::Part::bytes(bytes).file_name("week.png"),
            )
    };
    let mut png2 = png.clone();
    png2.extend_from_slice(b"changed");
    let r = client
        .post(url(&fake, "editMessageMedia"))
        .multipart(edit(png2.clone()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let m = fake.message("42", id).unwrap();
    assert_eq!(m.photo.unwrap().bytes, png2);
    assert_eq!(m.caption.as_deref(), Some("Week 2"));
    let r = client
        .post(url(&fake, "editMessageMedia"))
        .multipart(edit(png2))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status().as_u16(),
        400,
        "same photo and caption: not modified"
    );

    let reqs = fake.requests_to("editMessageMedia");
    assert_eq!(reqs[0].body_kind, "multipart");
    assert_eq!(reqs[0].params["media"]["media"], "attach://diagram");
    assert_eq!(reqs[0].files[0].name, "diagram");
    assert_eq!(
        fake.requests_to("sendMessage")[0].param_i64("chat_id"),
        Some(42)
    );
    fake.assert_all_valid();

    // A reference to a part that is not there is invalid.
    let form = reqwest::multipart::Form::new()
        .text("chat_id", "42")
        .text("message_id", id.to_string())
        .text("media", media.to_string());
    let r = client
        .post(url(&fake, "editMessageMedia"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert_eq!(fake.violations().len(), 1, "{:?}", fake.violations());
}

#[tokio::test]
async fn scripted_faults_answer_in_order_and_then_normal_service_resumes() {
    let fake = FakeTelegram::start().unwrap();
    fake.fail_next(2, Fault::ServerError);
    fake.fail_next(1, Fault::RateLimited { retry_after: 7 });
    fake.fail_next(1, Fault::ChatNotFound);
    fake.fail_next(1, Fault::BotBlocked);
    let send = || post_json(&fake, "sendMessage", json!({"chat_id": 5, "text": "x"}));
    assert_eq!(send().await.0, 500);
    assert_eq!(send().await.0, 500);
    let (s, body) = send().await;
    assert_eq!(s, 429);
    assert_eq!(body["parameters"]["retry_after"], 7);
    assert_eq!(body["description"], "Too Many Requests: retry after 7");
    let (s, body) = send().await;
    assert_eq!(
        (s, body["description"].as_str().unwrap()),
        (400, "Bad Request: chat not found")
    );
    let (s, body) = send().await;
    assert_eq!(
        (s, body["description"].as_str().unwrap()),
        (403, "Forbidden: bot was blocked by the user")
    );
    assert_eq!(send().await.0, 200);
    assert_eq!(
        fake.messages("5").len(),
        1,
        "faulted requests change nothing"
    );
    assert_eq!(fake.pending_faults(), 0);

    fake.fail_next_for("deleteMessage", 1, Fault::BadGateway);
    assert_eq!(send().await.0, 200, "a fault for another method waits");
    let (s, _) = post_json(
        &fake,
        "deleteMessage",
        json!({"chat_id": 5, "message_id": 1}),
    )
    .await;
    assert_eq!(s, 502);
    assert_eq!(fake.pending_faults(), 0);

    fake.set_chat_missing("6");
    let (s, _) = post_json(&fake, "sendMessage", json!({"chat_id": 6, "text": "x"})).await;
    assert_eq!(s, 400);
    fake.set_chat_blocked("8");
    let (s, _) = post_json(&fake, "sendMessage", json!({"chat_id": 8, "text": "x"})).await;
    assert_eq!(s, 403);
    fake.assert_all_valid();
}

#[tokio::test]
async fn hung_requests_wait_until_released_and_dropped_ones_get_no_answer() {
    let fake = FakeTelegram::start().unwrap();
    fake.fail_next(1, Fault::Hang);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let err = client
        .post(url(&fake, "sendMessage"))
        .json(&json!({"chat_id": 5, "text": "slow"}))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err}");
    assert_eq!(fake.requests()[0].outcome, Outcome::Pending);
    fake.release_hung();
    for _ in 0..2500 {
        if fake.requests()[0].status().is_some() {
            break;
        }
        real_sleep(Duration::from_millis(2)).await;
    }
    assert_eq!(fake.requests()[0].status(), Some(200));
    assert_eq!(
        fake.messages("5").len(),
        1,
        "a released request is executed late"
    );

    fake.fail_next(1, Fault::Drop);
    let err = reqwest::Client::new()
        .post(url(&fake, "sendMessage"))
        .json(&json!({"chat_id": 5, "text": "dropped"}))
        .send()
        .await
        .unwrap_err();
    assert!(!err.is_timeout(), "{err}");
    assert_eq!(fake.requests()[1].outcome, Outcome::Dropped);
    assert_eq!(fake.messages("5").len(), 1);
    fake.assert_all_valid();
}

/// The trimmed copy must be exactly what the script makes from the full spec (the `api.json`
/// of the telegram-bot-api-spec project), found at `$TELEGRAM_BOT_API_SPEC`.
#[test]
fn the_trimmed_spec_matches_what_the_script_makes_from_the_full_spec() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let Some(full) = std::env::var_os("TELEGRAM_BOT_API_SPEC").map(std::path::PathBuf::from) else {
        println!(
            "SKIPPED: TELEGRAM_BOT_API_SPEC is not set; the trimmed Bot API spec was not compared with the full one"
        );
        return;
    };
    assert!(
        full.exists(),
        "TELEGRAM_BOT_API_SPEC={} does not exist",
        full.display()
    );
    let script = manifest.join("../../scripts/trim-telegram-spec.py");
    let out = std::env::temp_dir().join(format!("trimmed-spec-{}.json", std::process::id()));
    let run = std::process::Command::new("python3")
        .arg(&script)
        .arg("--input")
        .arg(&full)
        .arg("--output")
        .arg(&out)
        .output();
    let run = match run {
        Ok(r) => r,
        Err(e) => {
            println!(
                "SKIPPED: cannot run python3 ({e}); the trimmed Bot API spec was not compared"
            );
            return;
        }
    };
    if run.status.code() == Some(127) {
        println!("SKIPPED: python3 is not usable here; the trimmed Bot API spec was not compared");
        return;
    }
    assert!(
        run.status.success(),
        "{} failed: {}",
        script.display(),
        String::from_utf8_lossy(&run.stderr)
    );
    let fresh = std::fs::read_to_string(&out).unwrap();
    let _ = std::fs::remove_file(&out);
    assert!(
        fresh == spec::TRIMMED_SPEC_JSON,
        "crates/outage-testkit/spec/telegram-bot-api.trimmed.json is out of date: run scripts/trim-telegram-spec.py"
    );
    let licence = manifest.join("spec/LICENSE-telegram-bot-api-spec");
    let shared_licence = full.with_file_name("LICENSE");
    assert_eq!(
        std::fs::read_to_string(licence).unwrap(),
        std::fs::read_to_string(shared_licence).unwrap()
    );
}

#[tokio::test]
async fn get_updates_returns_queued_messages_until_an_offset_confirms_them() {
    let fake = FakeTelegram::start().unwrap();
    let first = fake.push_text("42", 7, "/status@outage_test_bot");
    let second = fake.push_text("-100", 8, "hello");
    let (status, body) = post_json(&fake, "getUpdates", json!({"timeout": 1})).await;
    assert_eq!(status, 200);
    let updates = body["result"].as_array().unwrap();
    assert_eq!(updates.len(), 2);
    assert_eq!(updates[0]["update_id"], first);
    assert_eq!(updates[0]["message"]["chat"]["id"], 42);
    assert_eq!(updates[0]["message"]["text"], "/status@outage_test_bot");
    assert_eq!(updates[0]["message"]["entities"][0]["length"], 23);
    assert!(updates[1]["message"].get("entities").is_none());
    let (_, body) = post_json(&fake, "getUpdates", json!({"offset": second, "limit": 5})).await;
    assert_eq!(body["result"].as_array().unwrap().len(), 1);
    assert_eq!(fake.pending_updates(), 1);
    // Confirming the last one empties the queue; an empty poll is held, then answers [].
    let started = std::time::Instant::now();
    let (_, body) = post_json(
        &fake,
        "getUpdates",
        json!({"offset": second + 1, "timeout": 1}),
    )
    .await;
    assert_eq!(body["result"], json!([]));
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(500),
        "long poll held"
    );
    assert_eq!(fake.pending_updates(), 0);
    let (status, body) = post_json(
        &fake,
        "setMyCommands",
        json!({"commands": [{"command": "status", "description": "Power now"}], "language_code": "uk"}),
    )
    .await;
    assert_eq!((status, body["result"].clone()), (200, json!(true)));
    assert_eq!(fake.my_commands()[0].0.as_deref(), Some("uk"));
    fake.assert_all_valid();
}
