//! Admin panel stories in a real headless Chromium (Debian's chromium + chromedriver), against
//! the real binary on SQLite: what a user does, click by click. Outside CI a missing browser
//! skips with a SKIPPED line; in CI (`CI=true`) it fails, and `.ci/run` installs it.
//!
//! With `OUTAGE_SCREENSHOTS=<dir>` the stories also save the book's screenshots there
//! (`scripts/admin-screenshots.sh` refreshes book/src/images/admin/).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod browser;
mod common;

use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::Duration;

use browser::{Browser, DESKTOP, PHONE};
use common::{Sandbox, Server};
use serde_json::json;

const PASSWORD: &str = "correct horse battery";

/// `user add` with the password on stdin, as a script would.
fn add_user(sb: &Sandbox, name: &str, role: &str) {
    let mut child = Command::new(common::BIN)
        .args(["user", "add", name, "--role", role])
        .current_dir(sb.dir.path())
        .env("OUTAGE_STORE__URL", sb.db_url())
        .env_remove("OUTAGE_CONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{PASSWORD}\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "user add {name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A monitor with an admin `ada` and a viewer `vic`, serving the panel.
fn panel() -> (Sandbox, Server) {
    let sb = Sandbox::new();
    add_user(&sb, "ada", "admin");
    add_user(&sb, "vic", "viewer");
    let server = sb.serve(&[]);
    (sb, server)
}

async fn log_in(b: &Browser, base: &str, user: &str, password: &str) {
    b.goto(&format!("{base}/admin/login")).await;
    b.fill("username", user).await;
    b.fill("password", password).await;
    b.click("#login-submit").await;
}

/// The id of the listed location whose row shows `name`.
async fn location_id(b: &Browser, base: &str, name: &str) -> i64 {
    b.goto(&format!("{base}/admin/")).await;
    let js = format!(
        "(Array.from(document.querySelectorAll('tr[data-location-id]')).find(r => r.textContent.includes({name:?})) || {{dataset: {{}}}}).dataset.locationId"
    );
    let v = b.eval(&js).await;
    v.as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no row for {name:?} in the list: {}", b.text("body").await))
}

async fn create_location(b: &Browser, base: &str, name: &str, timeout: &str) -> String {
    b.goto(&format!("{base}/admin/")).await;
    b.click("#new-location").await;
    b.fill("name", name).await;
    b.fill("timeout", timeout).await;
    b.click("#save").await;
    let flash = b.text("#flash").await;
    assert!(!flash.is_empty(), "a flash message after create");
    b.text("#api-key").await
}

#[tokio::test]
async fn an_admin_logs_in_and_a_wrong_password_is_throttled() {
    let Some(b) = Browser::start("login", DESKTOP).await else {
        return;
    };
    let (_sb, server) = panel();
    let base = &server.base;
    b.goto(&format!("{base}/admin/")).await;
    assert_eq!(b.path().await, "/admin/login", "no session: to the login page");
    b.screenshot("login-desktop").await;

    log_in(&b, base, "ada", "wrong password").await;
    assert!(b.has("#login-error").await, "a wrong password says so");
    assert!(!b.text("#login-error").await.is_empty());
    // Keep guessing: the panel slows the guesser down and says so.
    let mut throttled = false;
    for _ in 0..8 {
        log_in(&b, base, "ada", "still wrong").await;
        let body = b.text("body").await.to_lowercase();
        if body.contains("too many") || body.contains("забагато") {
            throttled = true;
            break;
        }
    }
    assert!(throttled, "repeated failures are throttled");
    b.close().await;

    // A fresh browser (another address would be the same) logs in with the right password,
    // once the throttle for that name has passed... the right password for another user works.
    let b = Browser::start("login", DESKTOP).await.unwrap();
    log_in(&b, base, "vic", PASSWORD).await;
    assert!(b.has("#locations").await || b.has("#empty-list").await, "{}", b.text("body").await);
    b.close().await;
}

#[tokio::test]
async fn a_location_is_created_and_its_badge_follows_the_device_live() {
    let Some(b) = Browser::start("live badge", DESKTOP).await else {
        return;
    };
    let (_sb, server) = panel();
    let base = &server.base;
    log_in(&b, base, "ada", PASSWORD).await;
    let key = create_location(&b, base, "Dacha", "3s").await;
    assert!(key.starts_with("om_"), "the key is shown once: {key}");
    b.screenshot("device-desktop").await;
    let id = location_id(&b, base, "Dacha").await;
    let badge = format!("document.getElementById('badge-{id}').dataset.status");
    assert_eq!(b.eval(&badge).await, json!("unknown"));

    // The device starts beating; the open page follows without a reload.
    let marker = "window.__same_page = true";
    b.eval(marker).await;
    for _ in 0..3 {
        assert_eq!(server.beat(&key, &json!({"boot_id": "b1", "uptime_s": 9})), 200);
    }
    b.wait_for("the badge to turn up", &format!("{badge} === 'up'"), Duration::from_secs(10))
        .await;
    assert_eq!(b.eval("window.__same_page === true").await, json!(true), "no reload");
    b.screenshot("list-desktop").await;

    // It stops: after its 3 s timeout the badge turns down, still without a reload.
    b.wait_for("the badge to turn down", &format!("{badge} === 'down'"), Duration::from_secs(15))
        .await;
    assert_eq!(b.eval("window.__same_page === true").await, json!(true), "no reload");
    b.close().await;
}

#[tokio::test]
async fn a_location_is_edited_paused_resumed_and_deleted_after_confirmation() {
    let Some(b) = Browser::start("edit", DESKTOP).await else {
        return;
    };
    let (sb, server) = panel();
    let base = &server.base;
    log_in(&b, base, "ada", PASSWORD).await;
    create_location(&b, base, "Office", "30s").await;
    let id = location_id(&b, base, "Office").await;

    b.goto(&format!("{base}/admin/locations/{id}")).await;
    b.click("#edit-link").await;
    b.fill("name", "Office 2").await;
    b.fill("timeout", "45s").await;
    b.click("#save").await;
    assert!(!b.text("#flash").await.is_empty());
    assert_eq!(b.text("#location-name").await, "Office 2");
    let listed = sb.json(&["location", "list", "--json"]);
    assert_eq!(listed[0]["name"], "Office 2", "the store has the edit");
    assert_eq!(listed[0]["timeout_s"], 45);
    b.screenshot("detail-desktop").await;

    b.fill("until", "2h").await;
    b.click("#pause").await;
    assert!(!b.text("#flash").await.is_empty());
    assert_eq!(b.eval(&format!("document.getElementById('badge-{id}').dataset.status")).await, json!("paused"));
    assert_eq!(sb.json(&["location", "list", "--json"])[0]["status"], "paused");
    b.click("#resume").await;
    assert!(!b.text("#flash").await.is_empty());
    assert_ne!(sb.json(&["location", "list", "--json"])[0]["status"], "paused");

    b.click("#delete-link").await;
    assert!(b.has("#confirm-delete").await, "deleting asks first");
    assert_eq!(sb.json(&["location", "list", "--json"]).as_array().unwrap().len(), 1, "not yet");
    b.click("#confirm").await;
    assert!(!b.text("#flash").await.is_empty());
    assert!(sb.json(&["location", "list", "--json"]).as_array().unwrap().is_empty());
    b.close().await;
}

/// POSTs a form from inside the page (the session cookie goes along) and returns the status.
async fn post_from_page(b: &Browser, path: &str, fields: &str) -> i64 {
    let js = format!(
        "const done = arguments[0]; fetch({path:?}, {{method: 'POST', credentials: 'same-origin', redirect: 'manual', headers: {{'Content-Type': 'application/x-www-form-urlencoded'}}, body: {fields:?}}}).then(r => done(r.status)).catch(e => done(-1));"
    );
    b.client
        .execute_async(&js, vec![])
        .await
        .unwrap()
        .as_i64()
        .unwrap()
}

#[tokio::test]
async fn a_viewer_sees_no_buttons_and_a_forged_post_is_refused() {
    let Some(b) = Browser::start("viewer", DESKTOP).await else {
        return;
    };
    let (sb, server) = panel();
    let base = &server.base;
    let key = common::key_of(&sb.json(&["location", "add", "--name", "Home", "--json"]));
    assert_eq!(server.beat(&key, &json!({})), 200);
    log_in(&b, base, "vic", PASSWORD).await;
    let id = location_id(&b, base, "Home").await;
    assert!(!b.has("#new-location").await, "no create button for a viewer");
    b.goto(&format!("{base}/admin/locations/{id}")).await;
    for button in ["#edit-link", "#delete-link", "#pause", "#resume"] {
        assert!(!b.has(button).await, "a viewer has no {button}");
    }
    b.goto(&format!("{base}/admin/locations/{id}/device")).await;
    assert!(!b.has("#api-key").await && !b.has("#rotate-key").await, "no key for a viewer");
    // Forged writes, with a valid CSRF token taken from the page's logout form.
    let csrf = b.eval("document.querySelector('input[name=csrf_token]').value").await;
    let csrf = csrf.as_str().unwrap_or_default().to_string();
    assert!(!csrf.is_empty(), "the page has a CSRF token");
    for (path, fields) in [
        (format!("/admin/locations/{id}/delete"), format!("csrf_token={csrf}")),
        (format!("/admin/locations/{id}/edit"), format!("csrf_token={csrf}&name=Pwned&timeout=30s")),
        ("/admin/locations".to_string(), format!("csrf_token={csrf}&name=New&timeout=30s")),
    ] {
        assert_eq!(post_from_page(&b, &path, &fields).await, 403, "viewer POST {path}");
    }
    assert_eq!(sb.json(&["location", "list", "--json"])[0]["name"], "Home", "nothing changed");
    b.close().await;
}

#[tokio::test]
async fn a_post_without_the_csrf_token_is_refused_and_names_show_as_text() {
    let Some(b) = Browser::start("csrf and escaping", DESKTOP).await else {
        return;
    };
    let (sb, server) = panel();
    let base = &server.base;
    log_in(&b, base, "ada", PASSWORD).await;
    assert_eq!(
        post_from_page(&b, "/admin/locations", "name=NoToken&timeout=30s").await,
        403,
        "no csrf_token"
    );
    assert!(sb.json(&["location", "list", "--json"]).as_array().unwrap().is_empty());

    let evil = "<script>alert(1)</script> Київ";
    create_location(&b, base, evil, "30s").await;
    let id = location_id(&b, base, evil).await;
    b.goto(&format!("{base}/admin/locations/{id}")).await;
    assert_eq!(b.text("#location-name").await, evil, "shown as text");
    assert_eq!(b.eval("document.querySelectorAll('script:not([src])').length").await, json!(0));
    b.close().await;
}

#[tokio::test]
async fn the_phone_layout_at_360_px_has_no_horizontal_scroll() {
    let Some(b) = Browser::start("phone layout", PHONE).await else {
        return;
    };
    let (sb, server) = panel();
    let base = &server.base;
    for name in ["Home", "Батьки, Житомир", "Office with a long name in the list"] {
        let key = common::key_of(&sb.json(&["location", "add", "--name", name, "--json"]));
        assert_eq!(server.beat(&key, &json!({"boot_id": "b"})), 200);
    }
    b.goto(&format!("{base}/admin/login")).await;
    assert_eq!(b.eval("window.innerWidth").await, json!(360));
    b.screenshot("login-phone").await;
    log_in(&b, base, "ada", PASSWORD).await;
    let id = location_id(&b, base, "Home").await;
    let no_scroll = "document.documentElement.scrollWidth <= window.innerWidth";
    for (page, shot) in [
        ("/admin/".to_string(), "list-phone"),
        (format!("/admin/locations/{id}"), "detail-phone"),
        (format!("/admin/locations/{id}/device"), "device-phone"),
        ("/admin/notifiers".to_string(), ""),
    ] {
        b.goto(&format!("{base}{page}")).await;
        let width = b.eval("document.documentElement.scrollWidth").await;
        assert_eq!(b.eval(no_scroll).await, json!(true), "{page} is {width} px wide");
        if !shot.is_empty() {
            b.screenshot(shot).await;
        }
    }
    b.close().await;
}
