//! The binary on the PostgreSQL store: two `serve` processes on one database, one leading and
//! one standing by, with takeovers after SIGKILL. Needs
//! `OUTAGE_TEST_POSTGRES_URL` (CI sets it; without it the test says SKIPPED, and fails under CI).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{Sandbox, key_of};
use serde_json::json;

/// A throwaway database, dropped at the end.
struct Db {
    admin: String,
    name: String,
    url: String,
}

impl Db {
    fn create() -> Option<Db> {
        let Ok(admin) = std::env::var("OUTAGE_TEST_POSTGRES_URL") else {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must set OUTAGE_TEST_POSTGRES_URL"
            );
            eprintln!("\nSKIPPED: OUTAGE_TEST_POSTGRES_URL is not set");
            return None;
        };
        let name = format!("om_bin_{}", std::process::id());
        let psql = |sql: &str| {
            Command::new("psql")
                .args([admin.as_str(), "-v", "ON_ERROR_STOP=1", "-qc", sql])
                .output()
                .expect("psql runs")
        };
        psql(&format!("DROP DATABASE IF EXISTS {name}"));
        let out = psql(&format!("CREATE DATABASE {name}"));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
        let url = format!("{base}/{name}");
        Some(Db { admin, name, url })
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        let _ = Command::new("psql")
            .args([
                self.admin.as_str(),
                "-qc",
                &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
            ])
            .output();
    }
}

/// `GET <base><path>`: status and body.
fn get(server: &common::Server, path: &str) -> (u16, String) {
    common::request(&format!("{}{path}", server.base), "GET", &[], b"")
        .unwrap_or((0, String::new()))
}

fn is_standby(server: &common::Server) -> bool {
    let (status, body) = get(server, "/readyz");
    status == 200 && body.contains("standby")
}

fn is_leader(server: &common::Server) -> bool {
    let (status, body) = get(server, "/readyz");
    status == 200 && body.trim() == "ok"
}

/// Lines on stdout (console alerts) containing `needle`.
fn count(server: &common::Server, needle: &str) -> usize {
    server
        .stdout_lines()
        .iter()
        .filter(|l| l.contains(needle))
        .count()
}

/// Beats `key` through `server` every 500 ms for `for_`.
fn keep_beating(server: &common::Server, key: &str, boot: &str, for_: Duration) {
    let until = Instant::now() + for_;
    let mut uptime = 100;
    while Instant::now() < until {
        assert_eq!(
            server.beat(key, &json!({"boot_id": boot, "uptime_s": uptime})),
            200
        );
        uptime += 1;
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn two_instances_on_one_database_lead_and_stand_by_and_hand_over_without_repeating_an_alert() {
    let Some(db) = Db::create() else { return };
    let s = Sandbox::new();
    let env = [("OUTAGE_STORE__URL", db.url.as_str())];
    let add = Command::new(common::BIN)
        .args([
            "location",
            "add",
            "--name",
            "Home",
            "--timeout",
            "3s",
            "--json",
        ])
        .env("OUTAGE_STORE__URL", &db.url)
        .output()
        .unwrap();
    assert!(
        add.status.success(),
        "{}",
        String::from_utf8_lossy(&add.stderr)
    );
    let key = key_of(&serde_json::from_slice(&add.stdout).unwrap());
    let a = s.serve(&env);
    assert_eq!(a.beat(&key, &json!({"boot_id": "a", "uptime_s": 5})), 200);
    let b = s.serve(&env);
    assert!(is_leader(&a), "{:?}", get(&a, "/readyz"));
    assert!(is_standby(&b), "{:?}", get(&b, "/readyz"));
    let check = Command::new(common::BIN)
        .arg("check-config")
        .env("OUTAGE_STORE__URL", &db.url)
        .output()
        .unwrap();
    let says = String::from_utf8_lossy(&check.stdout);
    assert!(
        says.contains(&format!(
            "leader:     outage-monitor leader (pid {})",
            a.child.id()
        )),
        "check-config names the leading instance: {says}"
    );
    assert!(get(&a, "/metrics").1.contains("outage_leader 1"));
    assert!(get(&b, "/metrics").1.contains("outage_leader 0"));
    assert!(
        b.stderr
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains("standby")),
        "the log says which role: {:?}",
        b.stderr.lock().unwrap()
    );

    // A location added on the CLI is known at once, on the leader and through the standby.
    for (server, name) in [(&a, "Cottage"), (&b, "Office")] {
        let add = Command::new(common::BIN)
            .args([
                "location",
                "add",
                "--name",
                name,
                "--timeout",
                "5m",
                "--json",
            ])
            .env("OUTAGE_STORE__URL", &db.url)
            .output()
            .unwrap();
        assert!(
            add.status.success(),
            "{}",
            String::from_utf8_lossy(&add.stderr)
        );
        let new_key = key_of(&serde_json::from_slice(&add.stdout).unwrap());
        assert_eq!(
            server.beat(&new_key, &json!({"boot_id": "n", "uptime_s": 1})),
            200,
            "{name}: the first heartbeat right after `location add`"
        );
    }

    // Beats only through the standby keep the location up on the leader (timeout 3 s, 6 s).
    keep_beating(&b, &key, "a", Duration::from_secs(6));
    assert_eq!(
        count(&a, "Home: power is off") + count(&b, "Home: power is off"),
        0
    );

    // The leader dies; the standby takes over while the device keeps beating through it.
    let killed = Instant::now();
    a.kill9();
    let mut took = None;
    let until = Instant::now() + Duration::from_secs(15);
    let mut uptime = 200;
    while Instant::now() < until {
        assert_eq!(
            b.beat(&key, &json!({"boot_id": "a", "uptime_s": uptime})),
            200
        );
        uptime += 1;
        if took.is_none() && is_leader(&b) {
            took = Some(killed.elapsed());
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let took = took.expect("the standby took over");
    println!(
        "takeover after SIGKILL of the leader: {} ms",
        took.as_millis()
    );
    keep_beating(&b, &key, "a", Duration::from_secs(4));
    assert_eq!(
        count(&b, "Home: power is off"),
        0,
        "no false alert at the takeover"
    );

    // A power cut now is alerted once, by the new leader.
    assert!(b.wait_stdout("Home: power is off", Duration::from_secs(6)));

    // The old leader comes back as a standby.
    let a = s.serve(&env);
    assert!(is_standby(&a), "{:?}", get(&a, "/readyz"));

    // A second handover in the middle of the outage: nothing repeated, the restore is sent.
    b.kill9();
    assert!(
        common::wait_until(Duration::from_secs(15), || is_leader(&a)),
        "the restarted instance takes over"
    );
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(
        count(&a, "Home: power is off"),
        0,
        "the outage alert is not repeated"
    );
    assert_eq!(a.beat(&key, &json!({"boot_id": "b", "uptime_s": 3})), 200);
    assert!(a.wait_stdout("Home: power is back", Duration::from_secs(6)));
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(count(&a, "Home: power is back"), 1);
    a.terminate();

    let list = Command::new(common::BIN)
        .args(["outage", "list", "--json"])
        .env("OUTAGE_STORE__URL", &db.url)
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    let home: Vec<&serde_json::Value> = v
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["location"] == "Home")
        .collect();
    assert_eq!(home.len(), 1, "exactly one outage of Home: {v}");
    assert!(home[0]["ended_at"].is_string(), "{v}");
}
