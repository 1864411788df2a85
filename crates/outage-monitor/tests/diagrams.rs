//! Weekly diagrams in Telegram through the real binary and the fake Bot API: posted on the
//! `diagram.post` schedule, redrawn in place on `diagram.update`, not posted again after a
//! restart, and posted anew when the message was deleted. (The schedules here fire every few
//! seconds; the daily/hourly logic on a controllable clock is in
//! `outage-core/tests/diagram_scheduler.rs`.)
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

mod common;

use std::time::Duration;

use common::{Sandbox, wait_until};
use outage_testkit::telegram::FakeTelegram;

const CHAT: &str = "-1001234567890";

fn serve(s: &Sandbox, fake: &FakeTelegram, post: &str, update: &str) -> common::Server {
    let base = fake.base_url();
    let token = fake.token();
    s.serve(&[
        ("OUTAGE_NOTIFIERS__TELEGRAM__BOT_TOKEN", token.as_str()),
        ("OUTAGE_NOTIFIERS__TELEGRAM__CHAT_ID", CHAT),
        ("OUTAGE_NOTIFIERS__TELEGRAM__API_BASE", base.as_str()),
        ("OUTAGE_DIAGRAM__POST", post),
        ("OUTAGE_DIAGRAM__UPDATE", update),
    ])
}

fn photos(fake: &FakeTelegram) -> Vec<outage_testkit::telegram::FakeMessage> {
    fake.messages(CHAT)
        .into_iter()
        .filter(|m| m.photo.is_some())
        .collect()
}

#[test]
fn diagrams_are_posted_edited_in_place_kept_across_restarts_and_reposted_when_deleted() {
    let fake = FakeTelegram::start().unwrap();
    let s = Sandbox::new();
    s.json(&["location", "add", "--name", "Дача", "--json"]);
    // Post once a minute, 4 s from now (the rest of the story fits in the minute); update every
    // 2 s.
    let now_s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let post = format!("{} * * * * *", (now_s + 4) % 60);
    let post = post.as_str();
    let server = serve(&s, &fake, post, "*/2 * * * * *");
    assert!(
        wait_until(Duration::from_secs(15), || photos(&fake).len() == 1),
        "no diagram posted: {:?}",
        server.stderr.lock().unwrap()
    );
    let posted = photos(&fake)[0].clone();
    let png = posted.photo.as_ref().unwrap();
    assert!(png.bytes.starts_with(b"\x89PNG"), "a PNG");
    assert!(
        posted.caption.as_deref().unwrap_or("").contains("Дача"),
        "{:?}",
        posted.caption
    );
    assert!(
        wait_until(Duration::from_secs(6), || !fake
            .requests_to("editMessageMedia")
            .is_empty()),
        "no refresh"
    );
    assert_eq!(photos(&fake).len(), 1, "a refresh edits, it does not post");

    // Restart before the next post time: the same message is edited again, none is posted.
    server.terminate();
    let edits_before = fake.requests_to("editMessageMedia").len();
    let server = serve(&s, &fake, post, "*/2 * * * * *");
    assert!(wait_until(Duration::from_secs(6), || fake
        .requests_to("editMessageMedia")
        .len()
        > edits_before));
    let last_edit = fake.requests_to("editMessageMedia").pop().unwrap();
    assert_eq!(last_edit.param_i64("message_id"), Some(posted.message_id));

    // Someone deletes it: the next refresh posts a new one.
    assert!(fake.delete_message(CHAT, posted.message_id));
    assert!(
        wait_until(Duration::from_secs(6), || photos(&fake).len() == 1
            && photos(&fake)[0].message_id != posted.message_id),
        "not reposted"
    );
    fake.assert_all_valid();
    server.terminate();
}
