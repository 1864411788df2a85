//! The webhook and ntfy notifiers end to end, against local receivers: signed bodies, retries
//! on 500 from the outbox, nothing delivered twice across a kill -9, the example receiver in
//! `examples/webhook-receiver` checking the monitor's signatures, ntfy topics and priorities.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{Sandbox, free_port, key_of, wait_until};
use outage_notify_webhook::payload;
use outage_testkit::receiver::{ReceivedRequest, Receiver, Reply};
use serde_json::json;

const SECRET: &str = "d41d8cd98f00b204e9800998ecf8427e";

fn write(s: &Sandbox, name: &str, text: &str) -> String {
    let path = s.path(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

fn hook_config(s: &Sandbox, url: &str, secret: &str) -> String {
    let secret_file = write(s, "hook-secret", &format!("{secret}\n"));
    write(
        s,
        "hook.toml",
        &format!(
            "[notifiers.hook]\nkind = \"webhook\"\nurl = \"{url}\"\nsecret_file = \"{secret_file}\"\n\
             events = [\"outage.started\", \"outage.ended\", \"test\"]\n"
        ),
    )
}

fn events(reqs: &[ReceivedRequest]) -> Vec<String> {
    reqs.iter()
        .map(|r| r.json()["event"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn a_webhook_is_signed_retried_on_500_and_never_repeated_across_a_kill() {
    let rx = Receiver::start().unwrap();
    let s = Sandbox::new();
    let cfg = hook_config(&s, &format!("{}/outage", rx.url()), SECRET);
    let check = s.cli(&["--config", &cfg, "check-config"]);
    assert_eq!(check.code, Some(0), "{}", check.stderr);
    assert!(
        check.stdout.contains("notifiers:  hook (webhook)"),
        "{}",
        check.stdout
    );
    let added = s.json(&[
        "--config",
        &cfg,
        "location",
        "add",
        "--name",
        "Cottage",
        "--timeout",
        "2s",
        "--notify",
        "hook",
        "--json",
    ]);
    let key = key_of(&added);
    // The receiver is down for the first two tries.
    rx.reply_next(2, Reply::status(500));
    let server = s.serve(&[("OUTAGE_CONFIG", &cfg)]);
    assert_eq!(
        server.beat(&key, &json!({"boot_id": "a", "uptime_s": 100})),
        200
    );
    assert!(
        wait_until(Duration::from_secs(20), || !accepted(&rx.requests())
            .is_empty()),
        "the outage reaches the receiver after two 500s: {:?}",
        rx.requests().iter().map(|r| r.status).collect::<Vec<_>>()
    );
    let tries = rx.requests();
    assert_eq!(
        tries.iter().map(|r| r.status).collect::<Vec<_>>(),
        [500, 500, 200],
        "retried until accepted, then never again"
    );
    for r in &tries {
        let sig = r.header("x-outage-signature-256").unwrap();
        assert!(payload::verify(SECRET.as_bytes(), &r.body, sig), "signed");
        assert_eq!(r.header("x-outage-event"), Some("outage.started"));
    }
    let ids: Vec<_> = tries.iter().map(|r| r.json()["id"].clone()).collect();
    assert!(ids.iter().all(|i| *i == ids[0]), "one delivery id: {ids:?}");
    let body = tries[2].json();
    assert_eq!(body["version"], 1);
    assert_eq!(body["location"]["name"], "Cottage");
    assert_eq!(body["outage"]["ended_at"], serde_json::Value::Null);

    // A kill -9 and a restart deliver nothing again.
    server.kill9();
    let server = s.serve(&[("OUTAGE_CONFIG", &cfg)]);
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(rx.requests().len(), 3, "nothing repeated after the restart");

    // Power back: one `outage.ended`, cause power, with the duration.
    assert_eq!(
        server.beat(&key, &json!({"boot_id": "b", "uptime_s": 1})),
        200
    );
    assert!(
        wait_until(Duration::from_secs(10), || accepted(&rx.requests()).len()
            == 2),
        "{:?}",
        events(&rx.requests())
    );
    std::thread::sleep(Duration::from_millis(800));
    let ok = accepted(&rx.requests());
    assert_eq!(events(&ok), ["outage.started", "outage.ended"]);
    let end = ok[1].json();
    assert_eq!(end["cause"], "power");
    assert!(
        end["outage"]["duration_seconds"].as_i64().unwrap() >= 2,
        "{end}"
    );
    assert_ne!(end["id"], ok[0].json()["id"]);
    assert!(payload::verify(
        SECRET.as_bytes(),
        &ok[1].body,
        ok[1].header("x-outage-signature-256").unwrap()
    ));
    server.terminate();
}

fn accepted(r: &[ReceivedRequest]) -> Vec<ReceivedRequest> {
    r.iter()
        .filter(|r| (200..300).contains(&r.status))
        .cloned()
        .collect()
}

/// Starts `examples/webhook-receiver/receiver.py` with `secret`; returns it and its port.
fn example_receiver(s: &Sandbox, secret: &str) -> (std::process::Child, u16) {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/webhook-receiver/receiver.py"
    );
    let port = free_port();
    let secret_file = write(s, "receiver-secret", &format!("{secret}\n"));
    let mut child = Command::new("python3")
        .args([script, "--port", &port.to_string()])
        .env("WEBHOOK_SECRET_FILE", secret_file)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs the example receiver (CI installs it)");
    // Wait for "listening on".
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    assert!(line.contains("listening on"), "{line}");
    // Keep reading its request log, so that it never writes into a closed pipe.
    std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
    (child, port)
}

#[test]
fn the_example_receiver_accepts_the_monitors_signature_and_refuses_a_wrong_one() {
    let s = Sandbox::new();
    let (mut child, port) = example_receiver(&s, SECRET);
    let url = format!("http://127.0.0.1:{port}/outage");
    let good = hook_config(&s, &url, SECRET);
    s.json(&[
        "--config", &good, "location", "add", "--name", "Home", "--json",
    ]);
    let out = s.cli(&["--config", &good, "location", "test-alert", "Home"]);
    assert_eq!(out.code, Some(0), "{}\n{}", out.stdout, out.stderr);

    let bad_dir = Sandbox::new();
    let bad = hook_config(&bad_dir, &url, "not-the-secret");
    bad_dir.json(&[
        "--config", &bad, "location", "add", "--name", "Home", "--json",
    ]);
    let out = bad_dir.cli(&["--config", &bad, "location", "test-alert", "Home"]);
    assert_ne!(out.code, Some(0), "a wrong signature is refused");
    assert!(
        out.stdout.contains("hook → default: FAILED")
            && out.stdout.contains("answered 401 Unauthorized"),
        "{}",
        out.stdout
    );

    child.kill().unwrap();
    let mut printed = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut printed).unwrap();
    child.wait().unwrap();
    let lines: Vec<serde_json::Value> = printed
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        lines.len(),
        1,
        "only the signed test alert was acted on: {printed}"
    );
    assert_eq!(lines[0]["event"], "test");
    assert_eq!(lines[0]["location"]["name"], "Home");
}

#[test]
fn ntfy_publishes_to_the_routed_topic_with_the_outage_priority() {
    let rx = Receiver::start().unwrap();
    let s = Sandbox::new();
    let cfg = write(
        &s,
        "ntfy.toml",
        &format!(
            "[notifiers.phone]\nkind = \"ntfy\"\nserver = \"{}\"\ntopic = [\"home\", \"sister\"]\n\
             token = \"tk_e2e\"\nlanguage = \"uk\"\n",
            rx.url()
        ),
    );
    let check = s.cli(&["--config", &cfg, "check-config"]);
    assert!(
        check.stdout.contains("phone (ntfy: home, sister)"),
        "{}",
        check.stdout
    );
    let bad = s.cli(&[
        "--config",
        &cfg,
        "location",
        "add",
        "--name",
        "X",
        "--notify",
        "phone:a/b",
    ]);
    assert_ne!(bad.code, Some(0));
    assert!(bad.stderr.contains("not an ntfy topic"), "{}", bad.stderr);
    let added = s.json(&[
        "--config",
        &cfg,
        "location",
        "add",
        "--name",
        "Дача",
        "--timeout",
        "2s",
        "--notify",
        "phone:cottage",
        "--json",
    ]);
    let key = key_of(&added);
    let server = s.serve(&[("OUTAGE_CONFIG", &cfg)]);
    assert_eq!(
        server.beat(&key, &json!({"boot_id": "a", "uptime_s": 100})),
        200
    );
    assert!(
        wait_until(Duration::from_secs(10), || rx.requests().len() == 1),
        "{:?}",
        rx.requests()
    );
    assert_eq!(
        server.beat(&key, &json!({"boot_id": "b", "uptime_s": 1})),
        200
    );
    assert!(wait_until(Duration::from_secs(10), || rx.requests().len() == 2));
    std::thread::sleep(Duration::from_millis(500));
    let got = rx.requests();
    assert_eq!(got.len(), 2, "no running-duration updates on ntfy");
    let (down, up) = (got[0].json(), got[1].json());
    assert_eq!(
        down["topic"], "cottage",
        "the route's topic, not the defaults"
    );
    assert_eq!(down["priority"], 4);
    assert_eq!(down["title"], "Дача: світла немає");
    assert_eq!(up["topic"], "cottage");
    assert_eq!(up["priority"], 3);
    assert_eq!(up["tags"][0], "green_circle");
    assert_eq!(got[0].header("authorization"), Some("Bearer tk_e2e"));
    server.terminate();
}
