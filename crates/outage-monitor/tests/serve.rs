//! The monitor as a person runs it: the real binary, real HTTP, real SQLite, real signals.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

mod common;

use std::time::Duration;

use common::{Sandbox, key_of, wait_until};
use serde_json::json;

fn count(lines: &[String], needle: &str) -> usize {
    lines.iter().filter(|l| l.contains(needle)).count()
}

#[test]
fn an_outage_is_detected_and_the_restore_classified_through_the_binary() {
    let s = Sandbox::new();
    let key = key_of(&s.json(&[
        "location",
        "add",
        "--name",
        "Home",
        "--timeout",
        "2s",
        "--json",
    ]));
    let server = s.serve(&[]);
    assert_eq!(
        server.beat(&key, &json!({"boot_id": "aa", "uptime_s": 100})),
        200
    );
    assert!(
        server.wait_stdout("Home: power is off", Duration::from_secs(5)),
        "no outage alert: {:?}",
        server.stdout_lines()
    );
    // Power back: the device rebooted one second ago.
    assert_eq!(
        server.beat(&key, &json!({"boot_id": "bb", "uptime_s": 1})),
        200
    );
    assert!(server.wait_stdout("Home: power is back", Duration::from_secs(5)));
    let list = s.json(&["outage", "list", "--json"]);
    assert_eq!(list[0]["location"], "Home");
    assert_eq!(list[0]["cause"], "power");
    assert!(list[0]["ended_at"].is_string());
    assert_eq!(s.json(&["location", "list", "--json"])[0]["status"], "up");
    let took = server.terminate();
    assert!(took < Duration::from_secs(5), "SIGTERM took {took:?}");
}

#[test]
fn sigkill_mid_outage_loses_nothing_and_alerts_once() {
    let s = Sandbox::new();
    let key = key_of(&s.json(&[
        "location",
        "add",
        "--name",
        "Home",
        "--timeout",
        "2s",
        "--json",
    ]));
    let first = s.serve(&[]);
    for up in [100, 101] {
        assert_eq!(
            first.beat(&key, &json!({"boot_id": "aa", "uptime_s": up})),
            200
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    assert!(first.wait_stdout("power is off", Duration::from_secs(6)));
    let before = first.stdout_lines();
    first.kill9();

    // The monitor comes back while the power is still off, then the power returns.
    let second = s.serve(&[]);
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        second.beat(&key, &json!({"boot_id": "bb", "uptime_s": 2})),
        200
    );
    assert!(second.wait_stdout("power is back", Duration::from_secs(6)));
    std::thread::sleep(Duration::from_millis(500));
    let after = second.stdout_lines();
    assert_eq!(
        count(&before, "power is off") + count(&after, "power is off"),
        1,
        "{before:?} {after:?}"
    );
    assert_eq!(count(&after, "power is back"), 1, "{after:?}");
    let events = s.json(&["outage", "list", "--json"]);
    assert_eq!(events.as_array().unwrap().len(), 1, "{events}");
    assert_eq!(events[0]["cause"], "power");
    second.terminate();
}

#[test]
fn sigkill_before_delivery_delivers_the_pending_alert_after_restart() {
    let s = Sandbox::new();
    let key = key_of(&s.json(&[
        "location",
        "add",
        "--name",
        "Home",
        "--timeout",
        "2s",
        "--json",
    ]));
    let first = s.serve(&[]);
    assert_eq!(
        first.beat(&key, &json!({"boot_id": "aa", "uptime_s": 100})),
        200
    );
    // Kill at the moment the outage is being declared: whether or not the alert went out before
    // the kill, after the restart it must have gone out exactly once.
    assert!(wait_until(Duration::from_secs(6), || {
        s.json(&["outage", "list", "--json"])
            .as_array()
            .is_some_and(|a| !a.is_empty())
    }));
    let before = first.stdout_lines();
    first.kill9();
    let second = s.serve(&[]);
    std::thread::sleep(Duration::from_secs(2));
    let total = count(&before, "power is off") + count(&second.stdout_lines(), "power is off");
    assert_eq!(
        total,
        1,
        "before {before:?} after {:?}",
        second.stdout_lines()
    );
    second.terminate();
}

#[test]
fn restarting_while_devices_beat_sends_nothing() {
    let s = Sandbox::new();
    let key = key_of(&s.json(&[
        "location",
        "add",
        "--name",
        "Home",
        "--timeout",
        "2s",
        "--json",
    ]));
    let first = s.serve(&[]);
    let beat =
        |srv: &common::Server, up: u64| srv.beat(&key, &json!({"boot_id": "aa", "uptime_s": up}));
    for i in 0..4 {
        assert_eq!(beat(&first, 100 + i), 200);
        std::thread::sleep(Duration::from_millis(400));
    }
    first.terminate();
    let second = s.serve(&[]);
    for i in 0..8 {
        assert_eq!(beat(&second, 104 + i), 200);
        std::thread::sleep(Duration::from_millis(400));
    }
    assert!(
        second.stdout_lines().is_empty(),
        "{:?}",
        second.stdout_lines()
    );
    assert_eq!(s.json(&["outage", "list", "--json"]), json!([]));
    second.terminate();
}

#[test]
fn the_firmware_example_payload_is_accepted_as_is() {
    // The exact bytes heartbeat-proto (firmware/heartbeat-proto) documents as EXAMPLE_PAYLOAD.
    let payload = r#"{"boot_id":"3f2a9c4e8b7d4e1fa0c5d2b6e9f81734","uptime_s":86400,"seq":2880,"fw":"outage-heartbeat-esp32c3/0.1.0","rssi":-61}"#;
    let proto = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../firmware/heartbeat-proto/src/payload.rs");
    if let Ok(src) = std::fs::read_to_string(&proto) {
        assert!(
            src.contains(&payload.replace('"', "\\\"")) || src.contains(payload),
            "EXAMPLE_PAYLOAD changed in {}",
            proto.display()
        );
    }
    let s = Sandbox::new();
    let key = key_of(&s.json(&["location", "add", "--name", "Home", "--json"]));
    let server = s.serve(&[]);
    let auth = format!("Bearer {key}");
    let (code, body) = common::request(
        &format!("{}/api/v1/heartbeat", server.base),
        "POST",
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
        ],
        payload.as_bytes(),
    )
    .unwrap();
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("\"next_in_s\""), "{body}");
    std::thread::sleep(Duration::from_millis(1500));
    let show = s.json(&["location", "show", "Home", "--json"]);
    assert_eq!(
        show["last_facts"]["boot_id"],
        "3f2a9c4e8b7d4e1fa0c5d2b6e9f81734"
    );
    assert_eq!(show["last_facts"]["uptime_s"], 86400);
    server.terminate();
}

/// Runs the router script once with the given boot id and uptime.
fn router_beat(s: &Sandbox, base: &str, key: &str, boot: &str, uptime: u64) -> bool {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../firmware/scripts/outage-heartbeat.sh");
    std::fs::write(s.path("boot_id"), format!("{boot}\n")).unwrap();
    std::fs::write(s.path("uptime"), format!("{uptime}.42 1234.56\n")).unwrap();
    let out = std::process::Command::new("sh")
        .arg(&script)
        .arg("--once")
        .env("OUTAGE_SERVER_URL", base)
        .env("OUTAGE_API_KEY", key)
        .env("OUTAGE_BOOT_ID_FILE", s.path("boot_id"))
        .env("OUTAGE_UPTIME_FILE", s.path("uptime"))
        .env("OUTAGE_STATE_FILE", s.path("state"))
        .output()
        .unwrap();
    if !out.status.success() {
        eprintln!(
            "router script failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    out.status.success()
}

#[test]
fn the_router_script_reports_boot_id_and_uptime_so_a_network_drop_is_classified() {
    let has_client = ["curl", "wget"].iter().any(|c| {
        std::process::Command::new("sh")
            .args(["-c", &format!("command -v {c}")])
            .output()
            .is_ok_and(|o| o.status.success())
    });
    if !has_client {
        eprintln!("SKIPPED: neither curl nor wget is installed; the router script needs one");
        return;
    }
    let s = Sandbox::new();
    let key = key_of(&s.json(&[
        "location",
        "add",
        "--name",
        "Router",
        "--timeout",
        "2s",
        "--json",
    ]));
    let server = s.serve(&[]);
    assert!(router_beat(
        &s,
        &server.base,
        &key,
        "6b1f0c1e-aaaa-bbbb-cccc-0123456789ab",
        5000
    ));
    assert!(server.wait_stdout("Router: power is off", Duration::from_secs(6)));
    // The uplink returns: same kernel boot, uptime kept counting through the gap.
    assert!(router_beat(
        &s,
        &server.base,
        &key,
        "6b1f0c1e-aaaa-bbbb-cccc-0123456789ab",
        5010
    ));
    assert!(
        server.wait_stdout("only the network was down", Duration::from_secs(6)),
        "{:?}",
        server.stdout_lines()
    );
    let events = s.json(&["outage", "list", "--json"]);
    assert_eq!(events[0]["cause"], "network", "{events}");
    server.terminate();
}

#[test]
fn the_demo_tells_a_power_cut_from_a_network_drop() {
    let out = std::process::Command::new(common::BIN)
        .args(["demo", "--timeout", "1s"])
        .env_remove("OUTAGE_CONFIG")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("Home    status up, outage of"), "{stdout}");
    assert!(stdout.contains("cause: power"), "{stdout}");
    assert!(stdout.contains("cause: network"), "{stdout}");
    assert!(stdout.contains("Dacha   status up, no outage"), "{stdout}");
}

/// The README's own first steps: with `serve` running, `location add` in another terminal and
/// then the device's first heartbeat at once — accepted, not a 401 until the next sync.
#[test]
fn a_location_added_while_serving_accepts_its_first_heartbeat_at_once() {
    let s = Sandbox::new();
    let server = s.serve(&[]);
    for name in ["Home", "Dacha", "Office"] {
        let key = key_of(&s.json(&["location", "add", "--name", name, "--json"]));
        assert_eq!(
            server.beat(&key, &json!({"boot_id": "b1", "uptime_s": 5})),
            200,
            "{name}: the first heartbeat right after `location add`"
        );
    }
    assert_eq!(server.beat("om_not-a-key", &json!({})), 401);
    server.terminate();
}

#[test]
fn the_admin_panel_is_under_admin_or_on_its_own_address_or_off() {
    let get = |url: &str| common::request(url, "GET", &[], b"").map(|(c, _)| c);
    let status = |url: String| get(&url).unwrap();

    let s = Sandbox::new();
    let server = s.serve(&[]);
    assert_eq!(status(format!("{}/admin/login", server.base)), 200);
    assert_eq!(
        status(format!("{}/admin/", server.base)),
        303,
        "no session: to login"
    );
    drop(server);

    let s = Sandbox::new();
    let port = common::free_port();
    let own = format!("127.0.0.1:{port}");
    let server = s.serve(&[("OUTAGE_ADMIN__LISTEN", own.as_str())]);
    assert!(
        wait_until(Duration::from_secs(10), || get(&format!(
            "http://{own}/admin/login"
        ))
        .is_ok_and(|c| c == 200)),
        "the panel answers on its own address"
    );
    assert_eq!(
        status(format!("http://{own}/")),
        302,
        "/ leads to the panel"
    );
    assert_eq!(
        status(format!("{}/admin/login", server.base)),
        404,
        "not on server.listen"
    );
    assert_eq!(status(format!("{}/healthz", server.base)), 200);
    drop(server);

    let s = Sandbox::new();
    let server = s.serve(&[("OUTAGE_ADMIN__ENABLED", "false")]);
    assert_eq!(status(format!("{}/admin/login", server.base)), 404);
}
