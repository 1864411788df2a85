//! The read API through the real binary: `token create|list|revoke`, `serve`, and requests
//! with and without the token against real SQLite.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

mod common;

use std::collections::BTreeSet;

use common::{Sandbox, request};

fn get(base: &str, path: &str, token: Option<&str>) -> (u16, String) {
    let auth = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth
        .as_deref()
        .map(|a| vec![("Authorization", a)])
        .unwrap_or_default();
    request(&format!("{base}{path}"), "GET", &headers, b"").expect("request")
}

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

fn keys(v: &serde_json::Value) -> BTreeSet<String> {
    v.as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

#[test]
fn a_token_made_with_the_cli_reads_the_api_until_it_is_revoked() {
    let s = Sandbox::new();
    let loc = s.json(&["location", "add", "--name", "Home", "--json"]);
    let id = loc["id"].as_i64().expect("id");

    let made = s.json(&["token", "create", "--name", "grafana", "--json"]);
    assert_eq!(
        keys(&made),
        ["id", "name", "token"].map(String::from).into()
    );
    assert_eq!(made["name"], "grafana");
    let token = made["token"].as_str().expect("token").to_string();
    assert!(token.starts_with("omt_"), "{token}");

    // Listing never shows the token.
    let out = s.cli(&["token", "list", "--json"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(!out.stdout.contains(&token));
    let list = json(&out.stdout);
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
    assert_eq!(
        keys(&list[0]),
        ["created_at", "id", "name"].map(String::from).into()
    );
    assert_eq!(list[0]["id"], made["id"]);
    let table = s.cli(&["token", "list"]);
    assert!(table.stdout.contains("grafana") && !table.stdout.contains(&token));

    // Names are unique; a clear one-line error otherwise.
    let dup = s.cli(&["token", "create", "--name", "grafana"]);
    assert_ne!(dup.code, Some(0));
    assert_eq!(dup.stderr.trim().lines().count(), 1, "{}", dup.stderr);
    assert!(dup.stderr.contains("already exists"), "{}", dup.stderr);

    // The plain-text form shows the token once with a usage hint.
    let plain = s.cli(&["token", "create", "--name", "scripts"]);
    assert_eq!(plain.code, Some(0), "{}", plain.stderr);
    assert!(plain.stdout.contains("omt_"), "{}", plain.stdout);
    assert!(
        plain.stdout.contains("Authorization: Bearer"),
        "{}",
        plain.stdout
    );

    let server = s.serve(&[]);
    let base = server.base.clone();
    let svg = format!("/api/v1/locations/{id}/diagram.svg");
    let availability = format!("/api/v1/locations/{id}/availability?period=week");

    let (status, body) = get(&base, &svg, Some(&token));
    assert_eq!(status, 200, "{body}");
    assert!(
        body.trim_start().starts_with("<svg"),
        "{}",
        &body[..body.len().min(200)]
    );
    let (status, body) = get(&base, &availability, Some(&token));
    assert_eq!(status, 200, "{body}");
    let rows = json(&body);
    assert!(!rows.as_array().expect("rows").is_empty(), "{rows}");
    assert_eq!(rows[0]["location"], "Home");

    // Locations have the shape of `location list --json`.
    let (status, body) = get(&base, "/api/v1/locations", Some(&token));
    assert_eq!(status, 200, "{body}");
    let api = json(&body);
    let cli = s.json(&["location", "list", "--json"]);
    assert_eq!(keys(&api[0]), keys(&cli[0]));
    assert_eq!(api[0]["id"], cli[0]["id"]);

    // The OpenAPI document needs no token.
    let (status, body) = get(&base, "/api/v1/openapi.json", None);
    assert_eq!(status, 200);
    assert!(json(&body)["paths"]["/api/v1/locations/{id}/diagram.svg"].is_object());

    for path in [&svg, &availability] {
        let (status, body) = get(&base, path, None);
        assert_eq!(status, 401, "{path}: {body}");
        assert!(json(&body)["error"].is_string());
        let (status, _) = get(&base, path, Some("omt_wrong"));
        assert_eq!(status, 401, "{path}");
    }

    // Revoked by name: refused from the next request on, by the running server.
    let out = s.cli(&["token", "revoke", "grafana"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(out.stdout.contains("grafana"), "{}", out.stdout);
    for path in [&svg, &availability] {
        let (status, _) = get(&base, path, Some(&token));
        assert_eq!(status, 401, "{path} after revoke");
    }
    // The other token still works, and can be revoked by id.
    let scripts = s.json(&["token", "list", "--json"]);
    assert_eq!(scripts.as_array().map(Vec::len), Some(1), "{scripts}");
    let scripts_id = scripts[0]["id"].to_string();
    let out = s.cli(&["token", "revoke", &scripts_id, "--json"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(json(&out.stdout)["revoked"], true);

    // Unknown token: non-zero exit, one line naming the cause; a token value is not echoed.
    let out = s.cli(&["token", "revoke", "grafana"]);
    assert_ne!(out.code, Some(0));
    assert_eq!(out.stderr.trim().lines().count(), 1, "{}", out.stderr);
    assert!(out.stderr.contains("no API token"), "{}", out.stderr);
    let out = s.cli(&["token", "revoke", &token]);
    assert_ne!(out.code, Some(0));
    assert!(!out.stderr.contains(&token), "{}", out.stderr);
    // The server never logged a token.
    let logs = server.stderr.lock().unwrap().join("\n");
    assert!(!logs.contains(&token), "token in logs");
    server.terminate();
}
