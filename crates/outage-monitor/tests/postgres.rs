//! The binary on the PostgreSQL store: it runs end to end, and a second `serve` on the same
//! database refuses to start (it would send every alert twice). Needs
//! `OUTAGE_TEST_POSTGRES_URL` (CI sets it; without it the test says SKIPPED, and fails under CI).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

mod common;

use std::process::Command;

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

#[test]
fn serve_runs_on_postgres_and_a_second_serve_refuses() {
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
            "2s",
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
    let server = s.serve(&env);
    assert_eq!(
        server.beat(&key, &json!({"boot_id": "a", "uptime_s": 5})),
        200
    );

    let second = Command::new(common::BIN)
        .arg("serve")
        .env("OUTAGE_STORE__URL", &db.url)
        .env(
            "OUTAGE_SERVER__LISTEN",
            format!("127.0.0.1:{}", common::free_port()),
        )
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("another `outage-monitor serve`"),
        "{stderr}"
    );
    assert!(!stderr.contains("password"), "{stderr}");

    // The outage is detected and recorded in PostgreSQL.
    assert!(server.wait_stdout("power is off", std::time::Duration::from_secs(8)));
    server.terminate();
    let list = Command::new(common::BIN)
        .args(["outage", "list", "--json"])
        .env("OUTAGE_STORE__URL", &db.url)
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v[0]["location"], "Home");
}
