//! The CLI contracts scripts rely on (book: Command line, "JSON shapes"): JSON shapes, errors on stderr with a
//! non-zero exit, helpful config errors.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

mod common;

use common::Sandbox;

#[test]
fn location_add_prints_the_documented_object_once_with_the_key() {
    let s = Sandbox::new();
    let v = s.json(&[
        "location",
        "add",
        "--name",
        "Home",
        "--timeout",
        "45s",
        "--json",
    ]);
    assert_eq!(v["name"], "Home");
    assert_eq!(v["timeout_s"], 45);
    assert!(v["id"].is_i64());
    let key = v["api_key"].as_str().unwrap();
    assert!(key.starts_with("om_") && key.len() > 20);
    // The key is never shown again.
    let list = s.cli(&["location", "list", "--json"]);
    assert!(!list.stdout.contains(key));
    let show = s.cli(&["location", "show", "Home", "--json"]);
    assert!(!show.stdout.contains(key));
}

#[test]
fn location_list_json_has_the_documented_fields() {
    let s = Sandbox::new();
    s.json(&["location", "add", "--name", "Home", "--json"]);
    s.json(&[
        "location",
        "add",
        "--name",
        "Мамина хата",
        "--chat-id",
        "-1001",
        "--json",
    ]);
    let v = s.json(&["location", "list", "--json"]);
    let arr = v.as_array().unwrap();
    assert_eq!(arr.len(), 2);
    for item in arr {
        for field in ["id", "name", "status", "last_seen", "timeout_s"] {
            assert!(item.get(field).is_some(), "{field} missing in {item}");
        }
        assert_eq!(item["status"], "unknown");
        assert!(item["last_seen"].is_null());
        assert_eq!(item["timeout_s"], 30);
    }
    assert_eq!(arr[1]["name"], "Мамина хата");
}

#[test]
fn outage_list_is_an_empty_array_at_first_and_filters_by_name() {
    let s = Sandbox::new();
    s.json(&["location", "add", "--name", "Home", "--json"]);
    assert_eq!(s.json(&["outage", "list", "--json"]), serde_json::json!([]));
    assert_eq!(
        s.json(&["outage", "list", "--location", "Home", "--json"]),
        serde_json::json!([])
    );
    let out = s.cli(&["outage", "list", "--location", "Nowhere", "--json"]);
    assert_ne!(out.code, Some(0));
    assert!(out.stderr.contains("Nowhere"), "{}", out.stderr);
}

#[test]
fn edit_rotate_pause_and_remove_work_by_id_or_name() {
    let s = Sandbox::new();
    let v = s.json(&["location", "add", "--name", "Home", "--json"]);
    let id = v["id"].as_i64().unwrap().to_string();
    let e = s.json(&[
        "location",
        "edit",
        &id,
        "--name",
        "Flat",
        "--timeout",
        "1m",
        "--json",
    ]);
    assert_eq!(
        (e["name"].as_str(), e["timeout_s"].as_i64()),
        (Some("Flat"), Some(60))
    );
    let r = s.json(&["location", "rotate-key", "Flat", "--json"]);
    assert_ne!(r["api_key"], v["api_key"]);
    let p = s.json(&["location", "pause", "Flat", "--until", "2h", "--json"]);
    assert!(p["paused_until"].is_string());
    assert_eq!(
        s.json(&["location", "list", "--json"])[0]["status"],
        "paused"
    );
    let out = s.cli(&[
        "location",
        "pause",
        "Flat",
        "--until",
        "2001-01-01T00:00:00Z",
    ]);
    assert!(out.stderr.contains("past"), "{}", out.stderr);
    s.json(&["location", "remove", "Flat", "--json"]);
    assert_eq!(
        s.json(&["location", "list", "--json"]),
        serde_json::json!([])
    );
}

#[test]
fn duplicate_names_are_refused_with_a_clear_message() {
    let s = Sandbox::new();
    s.json(&["location", "add", "--name", "Home", "--json"]);
    let out = s.cli(&["location", "add", "--name", "Home", "--json"]);
    assert_ne!(out.code, Some(0));
    assert!(out.stderr.starts_with("error: "), "{}", out.stderr);
    assert!(out.stderr.contains("Home"), "{}", out.stderr);
    assert_eq!(
        out.stderr.trim().lines().count(),
        1,
        "one line: {}",
        out.stderr
    );
}

#[test]
fn bad_config_names_the_key_and_what_is_allowed() {
    let s = Sandbox::new();
    std::fs::write(s.path("bad.toml"), "[monitor]\ndefault_timout = \"30s\"\n").unwrap();
    let out = s.cli(&[
        "--config",
        s.path("bad.toml").to_str().unwrap(),
        "check-config",
    ]);
    assert_eq!(out.code, Some(1));
    assert!(
        out.stderr.contains("default_timout") && out.stderr.contains("default_timeout"),
        "{}",
        out.stderr
    );

    std::fs::write(s.path("bad2.toml"), "[monitor]\nlanguage = \"fr\"\n").unwrap();
    let out = s.cli(&[
        "--config",
        s.path("bad2.toml").to_str().unwrap(),
        "check-config",
    ]);
    assert!(
        out.stderr.contains("language") && out.stderr.contains("uk"),
        "{}",
        out.stderr
    );

    let out = s.cli(&["--config", "/nonexistent/x.toml", "location", "list"]);
    assert!(out.stderr.contains("/nonexistent/x.toml"), "{}", out.stderr);

    std::fs::write(s.path("bad3.toml"), "[notifiers.pager]\nx = 1\n").unwrap();
    let out = s.cli(&[
        "--config",
        s.path("bad3.toml").to_str().unwrap(),
        "check-config",
    ]);
    assert!(
        out.stderr.contains("pager") && out.stderr.contains("console"),
        "{}",
        out.stderr
    );
}

#[test]
fn the_example_config_passes_check_config() {
    let s = Sandbox::new();
    let ex = s.cli(&["config", "example"]);
    assert_eq!(ex.code, Some(0));
    std::fs::write(s.path("ex.toml"), &ex.stdout).unwrap();
    let out = s.cli(&[
        "--config",
        s.path("ex.toml").to_str().unwrap(),
        "check-config",
    ]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(out.stdout.contains("configuration OK"));
}

#[test]
fn a_database_in_a_missing_directory_is_an_error_not_a_panic() {
    let s = Sandbox::new();
    let out = std::process::Command::new(common::BIN)
        .args(["location", "add", "--name", "Home"])
        .env("OUTAGE_STORE__URL", "sqlite:///nonexistent-dir/sub/om.db")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("/nonexistent-dir/sub/om.db"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    drop(s);
}

#[test]
fn an_unknown_store_scheme_lists_the_available_ones() {
    let out = std::process::Command::new(common::BIN)
        .args(["location", "list"])
        .env("OUTAGE_STORE__URL", "mysql://localhost/x")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        stderr.contains("mysql") && stderr.contains("sqlite"),
        "{stderr}"
    );
}

#[test]
fn plugins_list_shows_every_compiled_plugin() {
    let s = Sandbox::new();
    let v = s.json(&["plugins", "list", "--json"]);
    let names: Vec<_> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect();
    for want in ["console", "http", "sqlite"] {
        assert!(names.contains(&want.to_string()), "{names:?}");
    }
}

#[test]
fn backup_writes_a_database_that_opens() {
    let s = Sandbox::new();
    s.json(&["location", "add", "--name", "Home", "--json"]);
    let out = s.cli(&["backup", "--out", s.path("copy.db").to_str().unwrap()]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let copy = std::process::Command::new(common::BIN)
        .args(["location", "list", "--json"])
        .env(
            "OUTAGE_STORE__URL",
            format!("sqlite://{}", s.path("copy.db").display()),
        )
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&copy.stdout).unwrap();
    assert_eq!(v[0]["name"], "Home");
    let again = s.cli(&["backup", "--out", s.path("copy.db").to_str().unwrap()]);
    assert!(again.stderr.contains("already exists"), "{}", again.stderr);
}

#[test]
fn reading_commands_do_not_create_a_database() {
    let s = Sandbox::new();
    let db = s.path("om.db");
    assert_eq!(
        s.json(&["location", "list", "--json"]),
        serde_json::json!([])
    );
    assert_eq!(s.json(&["outage", "list", "--json"]), serde_json::json!([]));
    let out = s.cli(&["location", "show", "Home"]);
    assert_ne!(out.code, Some(0));
    assert!(out.stderr.contains("no database at"), "{}", out.stderr);
    let out = s.cli(&["check-config"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(out.stdout.contains("not created yet"), "{}", out.stdout);
    assert!(!db.exists(), "nothing was created");
    s.json(&["location", "add", "--name", "Home", "--json"]);
    assert!(db.exists());
}

#[test]
fn restore_puts_a_backup_back_but_not_under_a_running_serve() {
    let s = Sandbox::new();
    s.json(&["location", "add", "--name", "Home", "--json"]);
    let backup = s.path("backup.db");
    let backup = backup.to_str().unwrap();
    assert_eq!(s.cli(&["backup", "--out", backup]).code, Some(0));
    s.json(&["location", "add", "--name", "Office", "--json"]);

    // While serve runs: refused, one line, nothing changed; a second serve is refused too.
    let server = s.serve(&[]);
    let out = s.cli(&["restore", "--from", backup]);
    assert_ne!(out.code, Some(0));
    assert!(out.stderr.contains("serve"), "{}", out.stderr);
    assert_eq!(out.stderr.trim().lines().count(), 1, "{}", out.stderr);
    let second = s.cli(&["serve"]);
    assert_ne!(second.code, Some(0));
    assert!(
        second.stderr.contains("another `outage-monitor serve`"),
        "{}",
        second.stderr
    );
    server.terminate();

    let out = s.cli(&["restore", "--from", backup]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.stdout.contains("1 locations") && out.stdout.contains("before-restore"),
        "{}",
        out.stdout
    );
    let names: Vec<String> = s
        .json(&["location", "list", "--json"])
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["Home"]);

    let junk = s.path("junk.db");
    std::fs::write(&junk, "hello").unwrap();
    let out = s.cli(&["restore", "--from", junk.to_str().unwrap()]);
    assert_ne!(out.code, Some(0));
    assert!(
        out.stderr.contains("not an outage-monitor database"),
        "{}",
        out.stderr
    );
}

#[test]
fn help_explains_the_commands() {
    let s = Sandbox::new();
    let out = s.cli(&["--help"]);
    for cmd in [
        "serve",
        "location",
        "outage",
        "check-config",
        "demo",
        "backup",
        "restore",
        "token",
        "report",
        "diagram",
        "user",
    ] {
        assert!(out.stdout.contains(cmd), "{cmd} missing from --help");
    }
}

#[test]
fn device_config_fills_in_url_and_a_fresh_key_that_works() {
    let s = Sandbox::new();
    let old = s.json(&["location", "add", "--name", "Home", "--json"]);
    for kind in ["esp32", "esphome", "sh", "curl"] {
        let out = s.cli(&["location", "show", "Home", "--device-config", kind]);
        assert_eq!(out.code, Some(0), "{}", out.stderr);
        assert!(
            out.stdout.contains("http://127.0.0.1:8080"),
            "{kind}: {}",
            out.stdout
        );
        assert!(out.stdout.contains("<API_KEY>"), "{kind}: {}", out.stdout);
    }
    let out = s.cli(&[
        "location",
        "show",
        "Home",
        "--device-config",
        "esp32",
        "--new-key",
    ]);
    assert!(!out.stdout.contains("<API_KEY>"));
    let key = out
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("export OUTAGE_API_KEY="))
        .expect("key line")
        .to_string();
    assert!(key.starts_with("om_") && key != old["api_key"].as_str().unwrap());
    assert!(out.stderr.contains("old one no longer works"));
}

#[test]
fn report_and_diagram_render_work_from_the_command_line() {
    let s = Sandbox::new();
    s.json(&["location", "add", "--name", "Дім, \"центр\"", "--json"]);
    let csv = s.cli(&[
        "report",
        "--from",
        "2026-03-28",
        "--to",
        "2026-03-30",
        "--format",
        "csv",
    ]);
    assert_eq!(csv.code, Some(0), "{}", csv.stderr);
    let lines: Vec<_> = csv.stdout.lines().collect();
    assert!(lines[0].starts_with("location,period,"), "{}", lines[0]);
    assert_eq!(lines.len(), 4, "a header and three days: {}", csv.stdout);
    assert!(
        lines[2].starts_with("\"Дім, \"\"центр\"\"\",2026-03-29,"),
        "CSV quoting: {}",
        lines[2]
    );
    let json = s.json(&[
        "report",
        "--from",
        "2026-03-01",
        "--to",
        "2026-03-31",
        "--by",
        "week",
        "--format",
        "json",
    ]);
    assert_eq!(
        json.as_array().unwrap().len(),
        6,
        "weeks 9..=14 overlap March 2026"
    );
    // The week of the spring DST change has a 23-hour Sunday: 167 hours in all.
    let w13 = json
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["period"] == "2026-W13")
        .unwrap();
    assert_eq!(w13["elapsed_min"], 167 * 60);

    let huge = s.cli(&["report", "--from", "0001-01-01", "--to", "9999-12-31"]);
    assert_ne!(huge.code, Some(0));
    assert!(huge.stderr.contains("3700 days"), "{}", huge.stderr);
    // `report … | head -1`: a closed pipe ends it quietly, without a panic.
    let mut child = std::process::Command::new(common::BIN)
        .args(["report", "--from", "2017-01-01", "--to", "2026-12-31"])
        .current_dir(s.path(""))
        .env("OUTAGE_STORE__URL", s.db_url())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 16];
    std::io::Read::read_exact(child.stdout.as_mut().unwrap(), &mut first).unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");

    let png = s.path("w.png");
    let out = s.cli(&[
        "diagram",
        "render",
        "--location",
        "1",
        "--week",
        "2026-W13",
        "--out",
        png.to_str().unwrap(),
    ]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        std::fs::read(&png)
            .unwrap()
            .starts_with(b"\x89PNG\r\n\x1a\n")
    );
    let svg = s.path("w.svg");
    let out = s.cli(&[
        "diagram",
        "render",
        "--location",
        "1",
        "--week",
        "2026-W13",
        "--out",
        svg.to_str().unwrap(),
    ]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(std::fs::read_to_string(&svg).unwrap().contains("<svg"));
    let bad = s.cli(&[
        "diagram",
        "render",
        "--location",
        "1",
        "--week",
        "2026-W99",
        "--out",
        svg.to_str().unwrap(),
    ]);
    assert_ne!(bad.code, Some(0));
    assert!(bad.stderr.contains("2026-W99"), "{}", bad.stderr);
}

#[test]
fn check_config_catches_renderer_mistakes_and_names_cannot_be_mistaken_for_ids() {
    let s = Sandbox::new();
    for (toml, says) in [
        (
            "[renderer.nope]\nx = 1\n",
            "unknown renderer plugin `nope`; available: plotters",
        ),
        (
            "[renderer.plotters]\nwidth = 0\n",
            "width = 0 is out of range",
        ),
    ] {
        std::fs::write(s.path("c.toml"), toml).unwrap();
        let out = s.cli(&[
            "--config",
            s.path("c.toml").to_str().unwrap(),
            "check-config",
        ]);
        assert_ne!(out.code, Some(0), "{toml}");
        assert!(out.stderr.contains(says), "{}", out.stderr);
    }
    let out = s.cli(&["location", "add", "--name", "42"]);
    assert_ne!(out.code, Some(0));
    assert!(
        out.stderr.contains("mistaken for a location id"),
        "{}",
        out.stderr
    );
    s.json(&["location", "add", "--name", "Flat 42", "--json"]);
    let out = s.cli(&["location", "edit", "Flat 42", "--name", "7"]);
    assert_ne!(out.code, Some(0));
}

#[test]
fn chat_ids_are_checked_edits_need_a_change_and_resume_says_what_it_did() {
    let s = Sandbox::new();
    std::fs::write(
        s.path("tg.toml"),
        "[notifiers.telegram]\nbot_token = \"123456:AAEabcdefghijklmnopqrstuvwxyz0123456\"\nchat_id = -100123\n",
    )
    .unwrap();
    let cfg = s.path("tg.toml");
    let cfg = cfg.to_str().unwrap();
    let bad = s.cli(&[
        "--config",
        cfg,
        "location",
        "add",
        "--name",
        "Home",
        "--chat-id",
        "notanumber",
    ]);
    assert_ne!(bad.code, Some(0));
    assert!(
        bad.stderr.contains("--chat-id") && bad.stderr.contains("notanumber"),
        "{}",
        bad.stderr
    );
    let ok = s.cli(&[
        "--config",
        cfg,
        "location",
        "add",
        "--name",
        "Home",
        "--chat-id",
        "@home_power",
    ]);
    assert_eq!(ok.code, Some(0), "{}", ok.stderr);

    let nothing = s.cli(&["location", "edit", "Home"]);
    assert_ne!(nothing.code, Some(0));
    assert!(
        nothing.stderr.contains("nothing to change"),
        "{}",
        nothing.stderr
    );

    let r = s.json(&["location", "resume", "Home", "--json"]);
    assert_eq!(r["was_paused"], false);
    s.cli(&["location", "pause", "Home", "--until", "1h"]);
    let r = s.json(&["location", "resume", "Home", "--json"]);
    assert_eq!(r["was_paused"], true);
}

#[test]
fn second_audit_mistakes_are_refused_with_one_line() {
    let s = Sandbox::new();
    s.json(&["location", "add", "--name", "Home", "--json"]);
    for (args, says) in [
        (vec!["token", "create", "--name", "1"], "only digits"),
        (vec!["token", "create", "--name", "a\nb"], "one line"),
        (
            vec!["location", "edit", "Home", "--timeout", "0s"],
            "at least 1s",
        ),
        (vec!["location", "pause", "Home", "--until", "0s"], "is now"),
        (
            vec!["location", "edit", "Home", "--chat-id", "my chat"],
            "contains spaces",
        ),
    ] {
        let out = s.cli(&args);
        assert_ne!(out.code, Some(0), "{args:?}");
        assert!(out.stderr.contains(says), "{args:?}: {}", out.stderr);
        assert_eq!(out.stderr.trim().lines().count(), 1, "{}", out.stderr);
    }
    let out = std::process::Command::new(common::BIN)
        .arg("check-config")
        .env(
            "OUTAGE_STORE__URL",
            format!("sqlite://{}/nodir/x.db", s.path("").display()),
        )
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "a service manager may create it later"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("does not exist yet"));
}

/// A `.env` beside the monitor selects the store, the real environment wins over it, and an
/// `OUTAGE_*` variable that is no config key (Kubernetes' `OUTAGE_PORT=tcp://…`) is only a
/// warning, for every command.
#[test]
fn dot_env_selects_the_store_and_stray_outage_variables_are_only_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join(".env"),
        "# written by the user\nOUTAGE_STORE__URL=sqlite://from-dotenv.db\n",
    )
    .unwrap();
    let run = |args: &[&str], extra: &[(&str, &str)]| {
        let mut cmd = std::process::Command::new(common::BIN);
        cmd.args(args)
            .current_dir(dir.path())
            .env_remove("OUTAGE_CONFIG")
            .env_remove("OUTAGE_STORE__URL")
            .env_remove("DATABASE_URL")
            .env("OUTAGE_PORT", "tcp://10.0.0.1:8080")
            .stdin(std::process::Stdio::null());
        for (k, v) in extra {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    };
    let out = run(&["location", "add", "--name", "Home", "--json"], &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        dir.path().join("from-dotenv.db").exists(),
        "the .env chose the database"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("warning: ignoring OUTAGE_PORT"), "{stderr}");

    let out = run(
        &["location", "list", "--json"],
        &[("OUTAGE_STORE__URL", "sqlite://real-env.db")],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "[]",
        "the real environment won"
    );

    let out = run(&["check-config"], &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = run(&["location", "list", "--env-file", "missing.env"], &[]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.env"));
}

/// Runs a CLI command in the sandbox with `input` as its standard input (not a terminal).
fn cli_with_stdin(s: &Sandbox, args: &[&str], input: &str) -> common::Output {
    use std::io::Write as _;
    let mut child = std::process::Command::new(common::BIN)
        .args(args)
        .current_dir(s.path(""))
        .env("OUTAGE_STORE__URL", s.db_url())
        .env_remove("OUTAGE_CONFIG")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // A command that fails before reading closes its stdin: that is not the test's failure.
    let _ = child.stdin.take().unwrap().write_all(input.as_bytes());
    let out = child.wait_with_output().unwrap();
    common::Output {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The stored password hash of the panel user `name`, read from the sandbox's database.
fn stored_hash(s: &Sandbox, name: &str) -> String {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let config = outage_store_sqlite::SqliteConfig::file(s.path("om.db"));
        let store = outage_store_sqlite::SqliteStore::open(&config)
            .await
            .unwrap();
        let user = outage_core::store::StatusStore::find_user(&store, name)
            .await
            .unwrap()
            .expect("user exists");
        user.password_hash
    })
}

fn user_names(s: &Sandbox) -> Vec<String> {
    s.json(&["user", "list", "--json"])
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn user_add_reads_the_password_from_stdin_and_list_shows_the_role_never_the_hash() {
    let s = Sandbox::new();
    assert_eq!(s.json(&["user", "list", "--json"]), serde_json::json!([]));
    let out = cli_with_stdin(
        &s,
        &["user", "add", "anna", "--role", "admin"],
        "s3cret-pw\r\n",
    );
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(out.stdout.trim(), "added user anna (admin)");
    let out = cli_with_stdin(&s, &["user", "add", "bob"], "bob-password\nignored\n");
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(
        out.stdout.trim(),
        "added user bob (viewer)",
        "viewer by default"
    );

    let v = s.json(&["user", "list", "--json"]);
    let arr = v.as_array().unwrap();
    assert_eq!(arr.len(), 2);
    assert_eq!(
        (arr[0]["name"].as_str(), arr[0]["role"].as_str()),
        (Some("anna"), Some("admin"))
    );
    assert_eq!(
        (arr[1]["name"].as_str(), arr[1]["role"].as_str()),
        (Some("bob"), Some("viewer"))
    );
    for u in arr {
        let keys: Vec<_> = u.as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys, ["created_at", "id", "name", "role"], "{u}");
        assert!(u["id"].is_i64());
        let created = u["created_at"].as_str().unwrap();
        assert!(
            chrono::DateTime::parse_from_rfc3339(created).is_ok(),
            "{created}"
        );
    }
    // The \r\n was stripped: the password is exactly what was typed, and only its hash is kept.
    let hash = stored_hash(&s, "anna");
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert!(outage_web_admin::auth::verify_password("s3cret-pw", &hash));
    assert!(outage_web_admin::auth::verify_password(
        "bob-password",
        &stored_hash(&s, "bob")
    ));
    let table = s.cli(&["user", "list"]);
    assert_eq!(table.code, Some(0), "{}", table.stderr);
    let lines: Vec<_> = table.stdout.lines().collect();
    assert!(
        lines[0].starts_with("NAME") && lines[0].contains("ROLE") && lines[0].contains("CREATED")
    );
    assert!(
        lines[1].starts_with("anna") && lines[1].contains("admin"),
        "{}",
        table.stdout
    );
    for listing in [&table.stdout, &v.to_string()] {
        assert!(
            !listing.contains("argon2") && !listing.contains("s3cret"),
            "{listing}"
        );
    }
}

#[test]
fn user_add_refuses_duplicates_bad_names_short_and_missing_passwords() {
    let s = Sandbox::new();
    let ok = cli_with_stdin(&s, &["user", "add", "anna"], "long-enough\n");
    assert_eq!(ok.code, Some(0), "{}", ok.stderr);
    let first_hash = stored_hash(&s, "anna");
    let long_name = "n".repeat(65);
    for (args, input, says) in [
        (
            vec!["user", "add", "anna"],
            "other-password\n",
            "already exists",
        ),
        (vec!["user", "add", "carl"], "short\n", "too short"),
        (vec!["user", "add", "carl"], "1234567\n", "at least 8"),
        (vec!["user", "add", "carl"], "", "standard input is empty"),
        (vec!["user", "add", "carl"], "\n", "password is empty"),
        (vec!["user", "add", "ca rl"], "long-enough\n", "spaces"),
        (
            vec!["user", "add", "carl\u{1b}"],
            "long-enough\n",
            "control",
        ),
        (
            vec!["user", "add", &long_name],
            "long-enough\n",
            "at most 64",
        ),
        (vec!["user", "add", ""], "long-enough\n", "empty"),
        (
            vec!["user", "add", "carl", "--role", "root"],
            "long-enough\n",
            "viewer",
        ),
    ] {
        let out = cli_with_stdin(&s, &args, input);
        assert_ne!(out.code, Some(0), "{args:?}");
        assert!(out.stderr.contains(says), "{args:?}: {}", out.stderr);
        assert!(out.stdout.is_empty(), "{args:?}: {}", out.stdout);
    }
    assert_eq!(user_names(&s), ["anna"]);
    assert_eq!(
        stored_hash(&s, "anna"),
        first_hash,
        "the duplicate changed nothing"
    );
    // `user add` with the 64-character limit exactly works (characters, not bytes).
    let ok = cli_with_stdin(&s, &["user", "add", &"я".repeat(64)], "long-enough\n");
    assert_eq!(ok.code, Some(0), "{}", ok.stderr);
}

#[test]
fn user_passwd_changes_the_hash_and_unknown_users_are_errors() {
    let s = Sandbox::new();
    cli_with_stdin(&s, &["user", "add", "anna"], "first-password\n");
    let before = stored_hash(&s, "anna");
    let out = cli_with_stdin(&s, &["user", "passwd", "anna"], "second-password\n");
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(out.stdout.lines().count(), 1, "{}", out.stdout);
    let after = stored_hash(&s, "anna");
    assert_ne!(before, after);
    assert!(outage_web_admin::auth::verify_password(
        "second-password",
        &after
    ));
    assert!(!outage_web_admin::auth::verify_password(
        "first-password",
        &after
    ));

    let short = cli_with_stdin(&s, &["user", "passwd", "anna"], "tiny\n");
    assert_ne!(short.code, Some(0));
    assert!(short.stderr.contains("too short"), "{}", short.stderr);
    assert_eq!(
        stored_hash(&s, "anna"),
        after,
        "a refused password changes nothing"
    );

    for cmd in ["passwd", "remove"] {
        let out = cli_with_stdin(&s, &["user", cmd, "nobody"], "whatever-pw\n");
        assert_ne!(out.code, Some(0), "{cmd}");
        assert!(
            out.stderr.starts_with("error: ") && out.stderr.contains("no user named `nobody`"),
            "{cmd}: {}",
            out.stderr
        );
        assert_eq!(out.stderr.trim().lines().count(), 1, "{}", out.stderr);
    }
}

#[test]
fn user_remove_takes_it_off_the_list() {
    let s = Sandbox::new();
    cli_with_stdin(
        &s,
        &["user", "add", "anna", "--role", "admin"],
        "first-password\n",
    );
    cli_with_stdin(&s, &["user", "add", "bob"], "second-password\n");
    assert_eq!(user_names(&s), ["anna", "bob"]);
    let out = s.cli(&["user", "remove", "bob"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(out.stdout.trim(), "removed user bob (viewer)");
    assert_eq!(user_names(&s), ["anna"]);
    let again = s.cli(&["user", "remove", "bob"]);
    assert_ne!(again.code, Some(0));
    let out = s.cli(&["user", "remove", "anna"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(out.stderr.contains("no admin is left"), "{}", out.stderr);
    assert_eq!(s.json(&["user", "list", "--json"]), serde_json::json!([]));
}

#[test]
fn passwords_never_come_from_argv_and_help_says_where_they_come_from() {
    let s = Sandbox::new();
    for args in [
        vec!["user", "add", "anna", "--password", "s3cret-pw"],
        vec!["user", "add", "anna", "--password=s3cret-pw"],
        vec!["user", "passwd", "anna", "--password", "s3cret-pw"],
    ] {
        let out = cli_with_stdin(&s, &args, "long-enough\n");
        assert_eq!(out.code, Some(2), "clap refuses it: {args:?}");
        assert!(out.stderr.contains("--password"), "{}", out.stderr);
    }
    assert!(!s.path("om.db").exists(), "nothing was run");
    for cmd in ["add", "passwd"] {
        let help = s.cli(&["user", cmd, "--help"]);
        assert_eq!(help.code, Some(0));
        assert!(
            help.stdout.contains("terminal") && help.stdout.contains("standard input"),
            "{cmd}: {}",
            help.stdout
        );
    }
    let help = s.cli(&["user", "--help"]);
    for cmd in ["add", "passwd", "remove", "list"] {
        assert!(help.stdout.contains(cmd), "{cmd}: {}", help.stdout);
    }
    // Reading commands on a missing database create nothing; changing ones say it is missing.
    let out = s.cli(&["user", "remove", "anna"]);
    assert!(out.stderr.contains("no database at"), "{}", out.stderr);
    assert!(!s.path("om.db").exists());
}

#[test]
fn user_commands_honour_the_config_file() {
    let s = Sandbox::new();
    let other = s.path("other.db");
    std::fs::write(
        s.path("om.toml"),
        format!("[store]\nurl = \"sqlite://{}\"\n", other.display()),
    )
    .unwrap();
    let cfg = s.path("om.toml");
    let cfg = cfg.to_str().unwrap();
    let run = |args: &[&str], input: &str| {
        use std::io::Write as _;
        let mut child = std::process::Command::new(common::BIN)
            .args(args)
            .current_dir(s.path(""))
            .env_remove("OUTAGE_STORE__URL")
            .env_remove("OUTAGE_CONFIG")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let _ = child.stdin.take().unwrap().write_all(input.as_bytes());
        child.wait_with_output().unwrap()
    };
    let out = run(&["--config", cfg, "user", "add", "anna"], "long-enough\n");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(other.exists(), "the config chose the database");
    let out = run(&["--config", cfg, "user", "list", "--json"], "");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v[0]["name"], "anna");
}

#[test]
fn check_config_says_where_the_admin_panel_is_and_how_to_get_in() {
    let s = Sandbox::new();
    let line = |out: &common::Output| {
        assert_eq!(out.code, Some(0), "{}", out.stderr);
        out.stdout
            .lines()
            .find(|l| l.trim_start().starts_with("admin:"))
            .unwrap_or_else(|| panic!("no admin line: {}", out.stdout))
            .to_string()
    };
    let l = line(&s.cli(&["check-config"]));
    assert!(l.contains("http://127.0.0.1:8080/admin/"), "{l}");
    assert!(l.contains("user add <NAME> --role admin"), "{l}");

    let out = cli_with_stdin(
        &s,
        &["user", "add", "anna", "--role", "admin"],
        "long password\n",
    );
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let l = line(&s.cli(&["check-config"]));
    assert!(l.contains("(1 user)"), "{l}");

    std::fs::write(
        s.path("c.toml"),
        "[admin]\nlisten = \"127.0.0.1:9091\"\nsession_ttl = \"10s\"\n",
    )
    .unwrap();
    let out = s.cli(&["--config", "c.toml", "check-config"]);
    assert_ne!(out.code, Some(0));
    assert!(out.stderr.contains("session_ttl"), "{}", out.stderr);
    std::fs::write(s.path("c.toml"), "[admin]\nlisten = \"127.0.0.1:9091\"\n").unwrap();
    let l = line(&s.cli(&["--config", "c.toml", "check-config"]));
    assert!(l.contains("http://127.0.0.1:9091/admin/"), "{l}");
    std::fs::write(s.path("c.toml"), "[admin]\nenabled = false\n").unwrap();
    let l = line(&s.cli(&["--config", "c.toml", "check-config"]));
    assert!(l.contains("off"), "{l}");

    let fresh = Sandbox::new();
    std::fs::write(fresh.path("pw"), "short\n").unwrap();
    std::fs::write(
        fresh.path("c.toml"),
        format!(
            "[admin]\ninitial_password_file = \"{}\"\n",
            fresh.path("pw").display()
        ),
    )
    .unwrap();
    let out = fresh.cli(&["--config", "c.toml", "check-config"]);
    assert_ne!(out.code, Some(0));
    assert!(
        out.stderr.contains("initial_password_file"),
        "{}",
        out.stderr
    );
}
