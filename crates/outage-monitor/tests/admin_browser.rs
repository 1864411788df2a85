//! Admin panel stories in a real headless Chromium, against the real binary on SQLite.
//!
//! Each story starts its own `serve` (first admin from `[admin] initial_password_file`) and its
//! own Chromium. With `OUTAGE_SCREENSHOTS=<dir>` they also save the screenshots the book uses.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod browser;
mod common;

use std::time::Duration;

use std::io::Write;
use std::process::{Command, Stdio};

use browser::{Browser, DESKTOP, PHONE};
use common::{BIN, Sandbox, Server};
use serde_json::json;

const ADMIN_PASSWORD: &str = "correct horse battery";
const LIVE: Duration = Duration::from_secs(20);

/// A monitor whose first admin `admin` comes from a password file.
fn monitor(sb: &Sandbox, extra: &[(&str, &str)]) -> Server {
    let file = sb.path("admin-password");
    std::fs::write(&file, format!("{ADMIN_PASSWORD}\n")).unwrap();
    let file = file.display().to_string();
    let mut env = vec![("OUTAGE_ADMIN__INITIAL_PASSWORD_FILE", file.as_str())];
    env.extend_from_slice(extra);
    sb.serve(&env)
}

/// `outage-monitor user add <name> --role <role>` with the password on stdin.
fn add_user(sb: &Sandbox, name: &str, role: &str, password: &str) {
    let mut child = Command::new(BIN)
        .args(["user", "add", name, "--role", role])
        .current_dir(sb.dir.path())
        .env("OUTAGE_STORE__URL", sb.db_url())
        .env_remove("OUTAGE_CONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "user add {name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn log_in(b: &Browser, server: &Server, name: &str, password: &str) {
    b.goto(&format!("{}/admin/", server.base)).await;
    assert_eq!(b.path().await, "/admin/login", "no session goes to login");
    b.fill("username", name).await;
    b.fill("password", password).await;
    b.submit("#login-submit").await;
    b.wait_for(
        "the locations list",
        "document.querySelector('#new-location, #locations, #empty-list')",
        LIVE,
    )
    .await;
}

/// Creates a location through the form; returns its id and the key shown once.
async fn create_location(b: &Browser, server: &Server, name: &str) -> (i64, String) {
    create_location_with(b, server, name, "3s").await
}

/// As [`create_location`] with a chosen timeout.
async fn create_location_with(
    b: &Browser,
    server: &Server,
    name: &str,
    timeout: &str,
) -> (i64, String) {
    b.goto(&format!("{}/admin/", server.base)).await;
    b.submit("#new-location").await;
    b.fill("name", name).await;
    b.fill("timeout", timeout).await;
    b.submit("#save").await;
    let key = b.text("#api-key").await;
    assert!(key.len() >= 20, "a key is shown once after create: {key:?}");
    let flash = b.text("#flash").await;
    assert!(flash.contains("created"), "{flash}");
    let path = b.path().await;
    let id = b
        .eval("document.querySelector('#rotate-form').getAttribute('action').split('/')[3]")
        .await;
    let id: i64 = id
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no id on the device page at {path}: {id}"));
    (id, key)
}

fn beat(server: &Server, key: &str, seq: u64) {
    let status = server.beat(
        key,
        &json!({"boot_id": "browser-boot", "uptime_s": 100 + seq, "seq": seq}),
    );
    assert_eq!(status, 200, "heartbeat accepted");
}

#[tokio::test]
async fn log_in_then_a_wrong_password_is_refused_and_repeated_failures_are_throttled() {
    let Some(b) = Browser::start("login_and_throttle", DESKTOP).await else {
        return;
    };
    let sb = Sandbox::new();
    let server = monitor(&sb, &[]);

    b.goto(&format!("{}/admin/", server.base)).await;
    assert_eq!(b.path().await, "/admin/login");
    b.screenshot("login-desktop").await;
    b.fill("username", "admin").await;
    b.fill("password", "not the password").await;
    b.submit("#login-submit").await;
    let err = b.text("#login-error").await;
    assert!(err.contains("Wrong user name or password"), "{err}");
    assert_eq!(b.path().await, "/admin/login");

    for _ in 0..5 {
        b.fill("username", "admin").await;
        b.fill("password", "still wrong").await;
        b.submit("#login-submit").await;
    }
    let err = b.text("#login-error").await;
    assert!(err.contains("Too many failed logins"), "{err}");
    // Throttled means even the right password must wait now.
    b.fill("username", "admin").await;
    b.fill("password", ADMIN_PASSWORD).await;
    b.submit("#login-submit").await;
    let err = b.text("#login-error").await;
    assert!(err.contains("Too many failed logins"), "{err}");
    assert_eq!(b.path().await, "/admin/login");
    b.close().await;

    // The right password on a monitor that has seen no failures logs in; logout ends it.
    let sb2 = Sandbox::new();
    let server2 = monitor(&sb2, &[]);
    let Some(b2) = Browser::start("login_ok", DESKTOP).await else {
        return;
    };
    log_in(&b2, &server2, "admin", ADMIN_PASSWORD).await;
    assert!(b2.has("#new-location").await, "an admin may create");
    let who = b2.text("#current-user").await;
    assert!(who.contains("admin"), "{who}");
    b2.submit("#logout").await;
    b2.wait_for(
        "the login page",
        "location.pathname === '/admin/login'",
        LIVE,
    )
    .await;
    b2.goto(&format!("{}/admin/", server2.base)).await;
    assert_eq!(b2.path().await, "/admin/login", "logout ended the session");
    b2.close().await;
}

#[tokio::test]
async fn a_created_location_turns_up_with_its_first_heartbeat_and_down_when_they_stop() {
    let Some(b) = Browser::start("live_badge", DESKTOP).await else {
        return;
    };
    let sb = Sandbox::new();
    let server = monitor(&sb, &[("OUTAGE_MONITOR__STARTUP_GRACE", "0s")]);
    log_in(&b, &server, "admin", ADMIN_PASSWORD).await;
    // Long enough that the 3 s poll surely sees "up" before the timeout turns it down.
    let (id, key) = create_location_with(&b, &server, "Дача", "8s").await;
    b.screenshot("device-desktop").await;
    let curl = b.text("#settings-curl").await;
    assert!(
        curl.contains(&server.base),
        "device settings use the server's URL: {curl}"
    );

    b.goto(&format!("{}/admin/", server.base)).await;
    let badge = format!("#badge-{id}");
    let status = format!("document.querySelector('{badge}').dataset.status");
    assert_ne!(b.eval(&status).await, json!("up"));

    // The page is not reloaded: the badge changes by itself.
    beat(&server, &key, 1);
    b.wait_for("the badge to turn up", &format!("{status} === 'up'"), LIVE)
        .await;
    let label = b.text(&badge).await;
    assert!(!label.is_empty());
    b.screenshot("list-desktop").await;

    // No more beats: after the 8 s timeout the badge turns down, still without a reload.
    b.wait_for(
        "the badge to turn down",
        &format!("{status} === 'down'"),
        LIVE,
    )
    .await;
    let outage_cell =
        format!("document.querySelector('#location-{id} [data-field=outage-for]').textContent");
    b.wait_for(
        "the outage duration to show",
        &format!("{outage_cell} !== '—' && {outage_cell} !== ''"),
        LIVE,
    )
    .await;
    b.close().await;
}

#[tokio::test]
async fn edit_pause_resume_and_delete_after_confirmation() {
    let Some(b) = Browser::start("edit_pause_delete", DESKTOP).await else {
        return;
    };
    let sb = Sandbox::new();
    let server = monitor(&sb, &[]);
    log_in(&b, &server, "admin", ADMIN_PASSWORD).await;
    let (id, key) = create_location(&b, &server, "Office").await;
    beat(&server, &key, 1);

    // Edit.
    b.goto(&format!("{}/admin/locations/{id}", server.base))
        .await;
    b.submit("#edit-link").await;
    b.fill("name", "Office, 3rd floor").await;
    b.fill("timeout", "2m").await;
    b.submit("#save").await;
    assert_eq!(b.text("#location-name").await, "Office, 3rd floor");
    assert!(b.text("#flash").await.contains("Saved"));
    assert!(b.text("#timeout-value").await.contains("2m"));
    let listed = sb.json(&["location", "list", "--json"]);
    assert_eq!(
        listed[0]["name"], "Office, 3rd floor",
        "written to the store: {listed}"
    );
    b.screenshot("detail-desktop").await;

    // Pause (the form's default "until" is in the future) and resume.
    b.submit("#pause").await;
    assert!(b.text("#flash").await.contains("paused"));
    assert!(b.has("#paused-until").await);
    let badge = format!("document.querySelector('#badge-{id}').dataset.status");
    assert_eq!(b.eval(&badge).await, json!("paused"));
    b.submit("#resume").await;
    assert!(b.text("#flash").await.contains("resumed"));
    assert!(!b.has("#paused-until").await);

    // Delete asks first; cancelling keeps it.
    b.submit("#delete-link").await;
    assert!(b.has("#confirm-delete").await);
    b.goto(&format!("{}/admin/", server.base)).await;
    assert!(
        b.has(&format!("#location-{id}")).await,
        "not deleted without confirming"
    );
    b.goto(&format!("{}/admin/locations/{id}/delete", server.base))
        .await;
    b.submit("#confirm").await;
    assert!(b.text("#flash").await.contains("deleted"));
    assert!(!b.has(&format!("#location-{id}")).await);
    assert_eq!(sb.json(&["location", "list", "--json"]), json!([]));
    assert_eq!(server.beat(&key, &json!({})), 401, "its key is gone too");
    b.close().await;
}

#[tokio::test]
async fn a_viewer_sees_no_write_buttons_and_a_forged_post_is_forbidden() {
    let Some(b) = Browser::start("viewer", DESKTOP).await else {
        return;
    };
    let sb = Sandbox::new();
    let server = monitor(&sb, &[]);
    add_user(&sb, "mama", "viewer", "viewer password");
    let out = sb.cli(&["location", "add", "--name", "Home", "--timeout", "1m"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let id = sb.json(&["location", "list", "--json"])[0]["id"]
        .as_i64()
        .unwrap();

    log_in(&b, &server, "mama", "viewer password").await;
    assert!(
        b.has(&format!("#location-{id}")).await,
        "a viewer sees the locations"
    );
    assert!(!b.has("#new-location").await);
    b.goto(&format!("{}/admin/locations/{id}", server.base))
        .await;
    assert!(b.has("#diagram").await);
    for button in ["#edit-link", "#delete-link", "#pause", "#resume"] {
        assert!(!b.has(button).await, "a viewer has no {button}");
    }
    b.goto(&format!("{}/admin/locations/{id}/device", server.base))
        .await;
    assert!(!b.has("#api-key").await && !b.has("#rotate-key").await);
    b.goto(&format!("{}/admin/users", server.base)).await;
    assert!(!b.has("#users").await, "the users page is for admins");

    // A forged form with the viewer's own valid CSRF token is still forbidden.
    b.goto(&format!("{}/admin/locations/{id}", server.base))
        .await;
    let status = forged_post(&b, &format!("/admin/locations/{id}/delete"), true).await;
    assert_eq!(status, 403);
    assert_eq!(sb.json(&["location", "list", "--json"])[0]["id"], json!(id));
    b.close().await;
}

/// Posts a form from the page's own origin (with the page's session cookie) and returns the
/// status; with `with_csrf` it copies the page's CSRF token into the form.
async fn forged_post(b: &Browser, path: &str, with_csrf: bool) -> u16 {
    let js = format!(
        "(async () => {{ const body = new URLSearchParams(); \
         const t = document.querySelector('input[name=csrf_token]'); \
         if ({with_csrf} && t) body.set('csrf_token', t.value); \
         body.set('name', 'forged'); body.set('timeout', '1m'); \
         const r = await fetch('{path}', {{method: 'POST', body, redirect: 'manual', \
         credentials: 'same-origin'}}); return r.status; }})()"
    );
    let v = b.eval(&js).await;
    v.as_u64().unwrap_or_else(|| panic!("status: {v}")) as u16
}

#[tokio::test]
async fn a_post_without_the_csrf_token_is_refused_and_hostile_names_are_text() {
    let Some(b) = Browser::start("csrf_xss", DESKTOP).await else {
        return;
    };
    let sb = Sandbox::new();
    let server = monitor(&sb, &[]);
    log_in(&b, &server, "admin", ADMIN_PASSWORD).await;

    let status = forged_post(&b, "/admin/locations", false).await;
    assert_eq!(status, 403, "no CSRF token, no write");
    assert_eq!(sb.json(&["location", "list", "--json"]), json!([]));

    let hostile = "<script>alert(1)</script> Київ";
    let (id, _) = create_location(&b, &server, hostile).await;
    b.goto(&format!("{}/admin/", server.base)).await;
    let shown = b.text(&format!("#location-{id} a")).await;
    assert_eq!(shown, hostile, "the name shows as text");
    let scripts = b
        .eval("Array.from(document.scripts).filter(s => !s.src).length")
        .await;
    assert_eq!(scripts, json!(0), "no inline script made it into the page");
    b.goto(&format!("{}/admin/locations/{id}", server.base))
        .await;
    assert_eq!(b.text("#location-name").await, hostile);
    b.close().await;
}

#[tokio::test]
async fn the_phone_layout_at_360_px_has_no_horizontal_scroll() {
    let Some(b) = Browser::start("phone", PHONE).await else {
        return;
    };
    let sb = Sandbox::new();
    let server = monitor(&sb, &[]);
    b.goto(&format!("{}/admin/login", server.base)).await;
    b.screenshot("login-phone").await;
    log_in(&b, &server, "admin", ADMIN_PASSWORD).await;
    let (id, key) = create_location(&b, &server, "Батьки, Житомирська обл.").await;
    b.screenshot("device-phone").await;
    beat(&server, &key, 1);
    let no_scroll = "document.documentElement.scrollWidth <= document.documentElement.clientWidth";
    for (page, shot) in [
        (String::from("/admin/"), "list-phone"),
        (format!("/admin/locations/{id}"), "detail-phone"),
        (format!("/admin/locations/{id}/device"), ""),
        (format!("/admin/locations/{id}/edit"), ""),
        (String::from("/admin/notifiers"), ""),
        (String::from("/admin/users"), ""),
    ] {
        b.goto(&format!("{}{page}", server.base)).await;
        let width = b.eval("document.documentElement.clientWidth").await;
        assert_eq!(
            width,
            json!(PHONE.0),
            "{page}: the viewport is a 360 px phone"
        );
        let (sw, cw) = (
            b.eval("document.documentElement.scrollWidth").await,
            b.eval("document.documentElement.clientWidth").await,
        );
        assert_eq!(
            b.eval(no_scroll).await,
            json!(true),
            "{page}: scrollWidth {sw} > {cw}"
        );
        if !shot.is_empty() {
            b.screenshot(shot).await;
        }
    }
    b.close().await;
}

/// Presses Tab until the element with `id` has the focus (at most `max` times).
async fn tab_to(b: &Browser, id: &str, max: usize) {
    let tab = char::from(fantoccini::key::Key::Tab).to_string();
    for _ in 0..max {
        if b.focused_id().await == id {
            return;
        }
        b.keys(&tab).await;
    }
    assert_eq!(b.focused_id().await, id, "Tab never reached #{id}");
}

#[tokio::test]
async fn the_keyboard_alone_logs_in_and_makes_a_location_with_visible_focus() {
    let Some(b) = Browser::start("keyboard", DESKTOP).await else {
        return;
    };
    let sb = Sandbox::new();
    let server = monitor(&sb, &[]);
    let enter = char::from(fantoccini::key::Key::Enter).to_string();
    b.goto(&format!("{}/admin/login", server.base)).await;
    b.eval("document.body.focus(), true").await;
    tab_to(&b, "username", 6).await;
    // A focused field has a visible outline.
    let outline = b
        .eval("getComputedStyle(document.activeElement).outlineStyle")
        .await;
    assert_ne!(outline, json!("none"), "focus is visible");
    b.keys("admin").await;
    tab_to(&b, "password", 2).await;
    b.keys(&format!("{ADMIN_PASSWORD}{enter}")).await;
    b.wait_for(
        "the locations list",
        "location.pathname === '/admin/'",
        LIVE,
    )
    .await;
    tab_to(&b, "new-location", 15).await;
    b.keys(&enter).await;
    b.wait_for(
        "the new-location form",
        "!!document.getElementById('name')",
        LIVE,
    )
    .await;
    tab_to(&b, "name", 15).await;
    b.keys("Keyboard house").await;
    tab_to(&b, "save", 6).await;
    b.keys(&enter).await;
    b.wait_for("the key", "!!document.getElementById('api-key')", LIVE)
        .await;
    b.close().await;
}

/// WCAG 2 contrast of every visible text against the colour behind it, computed in the page
/// (colours normalised through a canvas, so `oklch()` from Tailwind works too).
const CONTRAST_JS: &str = r#"(() => {
  const c = document.createElement('canvas'); c.width = c.height = 1;
  const g = c.getContext('2d', { willReadFrequently: true });
  const rgba = (css) => { g.clearRect(0, 0, 1, 1); g.fillStyle = '#000'; g.fillStyle = css;
    g.fillRect(0, 0, 1, 1); return Array.from(g.getImageData(0, 0, 1, 1).data); };
  const lum = ([r, g2, b]) => { const f = (v) => { v /= 255;
    return v <= 0.04045 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(r) + 0.7152 * f(g2) + 0.0722 * f(b); };
  const bg = (el) => { for (let e = el; e; e = e.parentElement) {
      const v = getComputedStyle(e).backgroundColor; const p = rgba(v);
      if (v !== 'rgba(0, 0, 0, 0)' && v !== 'transparent' && p[3] > 0) return p; }
    return [255, 255, 255, 255]; };
  const bad = [];
  for (const el of document.querySelectorAll('body *')) {
    const own = Array.from(el.childNodes).some(n => n.nodeType === 3 && n.textContent.trim());
    if (!own || el.offsetParent === null && getComputedStyle(el).position !== 'fixed') continue;
    const s = getComputedStyle(el);
    if (s.visibility === 'hidden' || el.closest('.sr-only')) continue;
    const l1 = lum(rgba(s.color)), l2 = lum(bg(el));
    const ratio = (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05);
    const size = parseFloat(s.fontSize), bold = parseInt(s.fontWeight, 10) >= 700;
    const need = (size >= 24 || (bold && size >= 18.66)) ? 3 : 4.5;
    if (ratio < need) bad.push(el.tagName + ' "' + el.textContent.trim().slice(0, 30) + '" ' + ratio.toFixed(2));
  }
  return bad;
})()"#;

#[tokio::test]
async fn every_text_of_the_pages_has_wcag_aa_contrast() {
    let Some(b) = Browser::start("contrast", DESKTOP).await else {
        return;
    };
    let sb = Sandbox::new();
    let server = monitor(&sb, &[("OUTAGE_MONITOR__STARTUP_GRACE", "0s")]);
    b.goto(&format!("{}/admin/login", server.base)).await;
    b.fill("username", "admin").await;
    b.fill("password", "wrong password").await;
    b.submit("#login-submit").await;
    let mut pages = vec![("login with error".to_string(), b.eval(CONTRAST_JS).await)];
    log_in(&b, &server, "admin", ADMIN_PASSWORD).await;
    let (up, key) = create_location_with(&b, &server, "Up", "10m").await;
    pages.push(("device".into(), b.eval(CONTRAST_JS).await));
    beat(&server, &key, 1);
    let (paused, key2) = create_location_with(&b, &server, "Paused", "10m").await;
    beat(&server, &key2, 1);
    let (down, key3) = create_location(&b, &server, "Down").await;
    beat(&server, &key3, 1);
    let (_never, _) = create_location_with(&b, &server, "Never seen", "10m").await;
    b.goto(&format!("{}/admin/locations/{paused}", server.base))
        .await;
    b.submit("#pause").await;
    b.goto(&format!("{}/admin/", server.base)).await;
    let status = |id: i64| format!("document.querySelector('#badge-{id}').dataset.status");
    b.wait_for(
        "up, paused and down badges",
        &format!(
            "{} === 'up' && {} === 'paused' && {} === 'down'",
            status(up),
            status(paused),
            status(down)
        ),
        LIVE,
    )
    .await;
    pages.push(("list".into(), b.eval(CONTRAST_JS).await));
    for p in [
        format!("/admin/locations/{up}"),
        format!("/admin/locations/{up}/edit"),
        format!("/admin/locations/{up}/delete"),
        "/admin/notifiers".into(),
        "/admin/users".into(),
    ] {
        b.goto(&format!("{}{p}", server.base)).await;
        pages.push((p, b.eval(CONTRAST_JS).await));
    }
    let failures: Vec<_> = pages
        .iter()
        .filter(|(_, bad)| bad.as_array().is_none_or(|a| !a.is_empty()))
        .collect();
    assert!(failures.is_empty(), "low contrast: {failures:?}");
    b.close().await;
}
