//! What deployments rely on: `healthcheck` (the container's HEALTHCHECK), `location import`
//! (moving from another monitor with the devices' keys kept) and the classic design's
//! `/api/heartbeat/` path, all through the real binary.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

mod common;

use std::process::{Command, Stdio};

use common::{BIN, Sandbox, request};

fn healthcheck(s: &Sandbox, listen: &str, args: &[&str]) -> common::Output {
    let out = Command::new(BIN)
        .arg("healthcheck")
        .args(args)
        .current_dir(s.dir.path())
        .env("OUTAGE_STORE__URL", s.db_url())
        .env("OUTAGE_SERVER__LISTEN", listen)
        .env_remove("OUTAGE_CONFIG")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    common::Output {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn healthcheck_says_ready_or_why_not_in_one_line() {
    let s = Sandbox::new();
    let server = s.serve(&[]);
    let addr = server.base.trim_start_matches("http://").to_string();
    let port = addr.rsplit(':').next().unwrap().to_string();

    // From the configuration; 0.0.0.0 (what a container listens on) means the loopback.
    for listen in [addr.clone(), format!("0.0.0.0:{port}")] {
        let out = healthcheck(&s, &listen, &[]);
        assert_eq!(out.code, Some(0), "{listen}: {out:?}");
        assert!(
            out.stdout.starts_with("ready (http://127.0.0.1:"),
            "{out:?}"
        );
    }
    let out = healthcheck(&s, "ignored", &["--url", &server.base]);
    assert_eq!(out.code, Some(0), "{out:?}");

    drop(server);
    let out = healthcheck(&s, &addr, &["--timeout", "2s"]);
    assert_eq!(out.code, Some(1), "{out:?}");
    assert_eq!(out.stderr.lines().count(), 1, "{out:?}");
    assert!(
        out.stderr
            .starts_with(&format!("error: http://{addr}/readyz: not reachable")),
        "{out:?}"
    );
}

#[test]
fn import_keeps_the_keys_checks_everything_first_and_is_safe_to_repeat() {
    let s = Sandbox::new();
    let csv = s.path("locations.csv");
    std::fs::write(
        &csv,
        "\u{feff}id,name,api_key,timeout\n\
         1,\"Dacha, old house\",django-key-0000000001,45\n\
         2,Мама,django-key-0000000002,\n",
    )
    .unwrap();
    let csv = csv.to_str().unwrap();

    // A dry run writes nothing.
    let v = s.json(&["location", "import", "--csv", csv, "--dry-run", "--json"]);
    assert_eq!(v["would_import"].as_array().map(Vec::len), Some(2), "{v}");
    assert_eq!(v["imported"], serde_json::json!([]));
    let listed = s.json(&["location", "list", "--json"]);
    assert_eq!(listed, serde_json::json!([]));

    let v = s.json(&["location", "import", "--csv", csv, "--json"]);
    let imported = v["imported"].as_array().unwrap();
    assert_eq!(imported.len(), 2, "{v}");
    assert_eq!(imported[0]["name"], "Dacha, old house");
    assert_eq!(imported[0]["timeout_s"], 45);
    assert_eq!(imported[1]["timeout_s"], 30);

    // Again: both exist, both skipped, nothing doubled.
    let v = s.json(&["location", "import", "--csv", csv, "--json"]);
    assert_eq!(v["imported"], serde_json::json!([]));
    assert_eq!(v["skipped"].as_array().map(Vec::len), Some(2), "{v}");
    assert_eq!(
        s.json(&["location", "list", "--json"])
            .as_array()
            .map(Vec::len),
        Some(2)
    );

    // One bad row (a key already in use) and nothing of the file is written.
    let bad = s.path("bad.csv");
    std::fs::write(
        &bad,
        "name,api_key\nGarage,django-key-0000000003\nShed,django-key-0000000001\n",
    )
    .unwrap();
    let out = s.cli(&["location", "import", "--csv", bad.to_str().unwrap()]);
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(
        out.stderr.contains(
            "line 3: the api_key of `Shed` is already the key of location `Dacha, old house`"
        ),
        "{out:?}"
    );
    assert_eq!(
        s.json(&["location", "list", "--json"])
            .as_array()
            .map(Vec::len),
        Some(2),
        "Garage must not have been added"
    );

    // The devices keep posting as they did for the classic design, at once.
    let server = s.serve(&[]);
    for (path, header) in [
        ("/api/heartbeat/", "X-API-Key: django-key-0000000001"),
        (
            "/api/heartbeat/",
            "Authorization: Api-Key django-key-0000000002",
        ),
        (
            "/api/v1/heartbeat",
            "Authorization: Bearer django-key-0000000002",
        ),
    ] {
        let (name, value) = header.split_once(": ").unwrap();
        let (code, body) = request(
            &format!("{}{path}", server.base),
            "POST",
            &[
                (name, value),
                ("Content-Type", "application/x-www-form-urlencoded"),
            ],
            if path.starts_with("/api/v1") {
                b""
            } else {
                b"status=ok"
            },
        )
        .unwrap();
        assert_eq!(code, 200, "{path} {header}: {body}");
    }
    let listed = s.json(&["location", "list", "--json"]);
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .all(|l| l["status"] == "up"),
        "{listed}"
    );
}
