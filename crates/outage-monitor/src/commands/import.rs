//! `location import --csv`: many locations at once, each keeping the API key it already has
//! (devices flashed for another monitor, such as the classic Django design, keep working).
//!
//! The whole file is read and checked first; only a file without errors is written, so a
//! mistake on row 40 never leaves 39 locations behind. Names that already exist are skipped
//! (so running the same import twice is harmless); a key already in use is an error.

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Utc};
use outage_core::NewLocation;
use outage_core::config::Config;
use outage_core::keys::KeyHash;
use outage_core::store::StatusStore;
use serde_json::json;

use crate::context::{ChatCheck, location_name, print_json};

/// Keys shorter than this are accepted (the devices already use them) with a warning.
const SHORT_KEY: usize = 16;

/// One checked row.
struct Row {
    line: u64,
    location: NewLocation,
    key: String,
}

/// Runs the import (or, with `dry_run`, only the checks).
pub async fn run(
    cfg: &Config,
    store: &dyn StatusStore,
    path: &Path,
    dry_run: bool,
    json: bool,
    now: DateTime<Utc>,
) -> Result<()> {
    let text = read(path)?;
    let rows =
        parse(cfg, &text).with_context(|| format!("{}: nothing imported", path.display()))?;

    let existing = store.list_locations().await?;
    let names: HashSet<&str> = existing.iter().map(|r| r.location.name.as_str()).collect();
    let keys: HashMap<&KeyHash, &str> = existing
        .iter()
        .map(|r| (&r.key_hash, r.location.name.as_str()))
        .collect();
    let mut errors = Vec::new();
    let mut todo = Vec::new();
    let mut skipped = Vec::new();
    for row in rows {
        let hash = KeyHash::of(&row.key);
        if names.contains(row.location.name.as_str()) {
            skipped.push(row);
        } else if let Some(owner) = keys.get(&hash) {
            errors.push(format!(
                "line {}: the api_key of `{}` is already the key of location `{owner}`",
                row.line, row.location.name
            ));
        } else {
            todo.push((row, hash));
        }
    }
    if !errors.is_empty() {
        bail!(
            "{}: nothing imported: {}",
            path.display(),
            errors.join("; ")
        );
    }
    let short = todo.iter().filter(|(r, _)| r.key.len() < SHORT_KEY).count();
    if short > 0 && !json {
        eprintln!(
            "warning: {short} key(s) shorter than {SHORT_KEY} characters; they work, but give \
             those devices a new key with `location rotate-key` when you can"
        );
    }

    let mut imported = Vec::new();
    if !dry_run {
        for (row, hash) in &todo {
            let loc = store
                .create_location(&row.location, *hash, now)
                .await
                .with_context(|| {
                    format!(
                        "line {}: cannot add `{}` ({} of {} imported before it)",
                        row.line,
                        row.location.name,
                        imported.len(),
                        todo.len()
                    )
                })?;
            imported.push(loc);
        }
    }

    if json {
        let would: Vec<_> = todo
            .iter()
            .map(|(r, _)| json!({"name": r.location.name, "timeout_s": r.location.timeout.as_secs()}))
            .collect();
        print_json(&json!({
            "dry_run": dry_run,
            "imported": imported.iter().map(|l| json!({
                "id": l.id.0, "name": l.name, "timeout_s": l.timeout.as_secs(), "chat_id": l.chat_id,
            })).collect::<Vec<_>>(),
            "would_import": if dry_run { would } else { Vec::new() },
            "skipped": skipped.iter().map(|r| json!({
                "line": r.line, "name": r.location.name, "reason": "a location with this name exists",
            })).collect::<Vec<_>>(),
        }));
        return Ok(());
    }
    for r in &skipped {
        println!(
            "skipped line {}: `{}` exists already",
            r.line, r.location.name
        );
    }
    if dry_run {
        for (r, _) in &todo {
            println!(
                "would import `{}` (timeout {})",
                r.location.name,
                humantime::format_duration(r.location.timeout)
            );
        }
        println!(
            "dry run: {} to import, {} skipped, nothing written",
            todo.len(),
            skipped.len()
        );
    } else {
        for l in &imported {
            println!("imported {} \"{}\"", l.id, l.name);
        }
        println!(
            "{} imported, {} skipped; the devices can send heartbeats with their keys now",
            imported.len(),
            skipped.len()
        );
    }
    Ok(())
}

fn read(path: &Path) -> Result<String> {
    let mut bytes = Vec::new();
    if path == Path::new("-") {
        std::io::stdin()
            .read_to_end(&mut bytes)
            .context("cannot read standard input")?;
    } else {
        bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    }
    // Spreadsheet exports often start with a byte-order mark.
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
    String::from_utf8(bytes.to_vec())
        .map_err(|e| anyhow::anyhow!("{} is not UTF-8 text ({e})", path.display()))
}

/// Reads and checks every row; all problems are reported together.
fn parse(cfg: &Config, text: &str) -> Result<Vec<Row>> {
    let chats = ChatCheck::new(cfg);
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(false)
        .from_reader(text.as_bytes());
    let headers: Vec<String> = reader
        .headers()
        .context("cannot read the header row")?
        .iter()
        .map(|h| h.to_ascii_lowercase())
        .collect();
    let col = |names: &[&str]| headers.iter().position(|h| names.contains(&h.as_str()));
    let (Some(name_col), Some(key_col)) = (col(&["name"]), col(&["api_key", "key"])) else {
        bail!(
            "the first row must name the columns, with `name` and `api_key` among them (found: {})",
            headers.join(", ")
        );
    };
    let timeout_col = col(&["timeout", "timeout_s"]);
    let chat_col = col(&["chat_id"]);

    let mut rows = Vec::new();
    let mut errors = Vec::new();
    let mut seen_names = HashMap::new();
    let mut seen_keys = HashMap::new();
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                errors.push(e.to_string());
                continue;
            }
        };
        let line = record.position().map_or(0, |p| p.line());
        let field = |i: Option<usize>| i.and_then(|i| record.get(i)).unwrap_or("");
        if record.iter().all(str::is_empty) {
            continue;
        }
        let mut problem = |msg: String| errors.push(format!("line {line}: {msg}"));
        let name = match location_name(field(Some(name_col))) {
            Ok(n) => n,
            Err(e) => {
                problem(e.to_string().replace("--name", "name"));
                continue;
            }
        };
        let key = field(Some(key_col));
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_graphic()) {
            problem(format!(
                "`{name}`: api_key must be non-empty visible ASCII (what the device sends)"
            ));
            continue;
        }
        let timeout = match parse_timeout(field(timeout_col)) {
            Ok(t) => t.unwrap_or(cfg.monitor.default_timeout),
            Err(e) => {
                problem(format!("`{name}`: {e}"));
                continue;
            }
        };
        let chat = field(chat_col);
        let chat_id = if chat.is_empty() {
            None
        } else {
            match chats.check(chat) {
                Ok(c) => Some(c),
                Err(e) => {
                    problem(format!(
                        "`{name}`: {}",
                        e.to_string().replace("--chat-id", "chat_id")
                    ));
                    continue;
                }
            }
        };
        if let Some(first) = seen_names.insert(name.clone(), line) {
            problem(format!("`{name}` appears twice (also on line {first})"));
            continue;
        }
        if let Some(first) = seen_keys.insert(key.to_string(), line) {
            problem(format!("`{name}` has the same api_key as line {first}"));
            continue;
        }
        rows.push(Row {
            line,
            location: NewLocation {
                routes: Vec::new(),
                name,
                timeout,
                chat_id,
            },
            key: key.to_string(),
        });
    }
    if !errors.is_empty() {
        bail!("{}", errors.join("; "));
    }
    if rows.is_empty() {
        bail!("no rows after the header");
    }
    Ok(rows)
}

/// `30s`, `2m`, or plain seconds; empty means the default.
fn parse_timeout(raw: &str) -> Result<Option<Duration>, String> {
    if raw.is_empty() {
        return Ok(None);
    }
    let t = match raw.parse::<u64>() {
        Ok(secs) => Duration::from_secs(secs),
        Err(_) => crate::cli::parse_duration(raw)?,
    };
    if t < Duration::from_secs(1) {
        return Err(format!("timeout `{raw}` is under 1s"));
    }
    Ok(Some(t))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> Config {
        Config::default()
    }

    #[test]
    fn quoted_fields_bom_defaults_and_extra_columns() {
        let text = "\u{feff}id,Name,api_key,timeout\n\
                    7,\"Dacha, old house\",key-one-1234567890,45\n\
                    8,Мама,key-two-1234567890,\n\n";
        let text = text.trim_start_matches('\u{feff}');
        let rows = parse(&cfg(), text).expect("parse");
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].location.name, "Dacha, old house");
        assert_eq!(rows[0].location.timeout, Duration::from_secs(45));
        assert_eq!(rows[1].location.name, "Мама");
        assert_eq!(rows[1].location.timeout, cfg().monitor.default_timeout);
        assert_eq!(rows[1].key, "key-two-1234567890");
    }

    #[test]
    fn every_bad_row_is_reported_at_once() {
        let text = "name,api_key,timeout\nA,k1,2m\n,k2,\nB,k1,\nC,has space,\nD,k4,soon\nA,k5,\n";
        let e = parse(&cfg(), text)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        for want in [
            "line 3: name must not be empty",
            "line 4: `B` has the same api_key as line 2",
            "line 5: `C`: api_key must be non-empty",
            "line 6: `D`: `soon` is not a duration",
            "line 7: `A` appears twice (also on line 2)",
        ] {
            assert!(e.contains(want), "{want} not in {e}");
        }
    }

    #[test]
    fn missing_columns_and_empty_files_are_refused() {
        let e = parse(&cfg(), "title,key\nA,b\n")
            .err()
            .map(|e| e.to_string());
        assert!(e.unwrap_or_default().contains("`name` and `api_key`"));
        let e = parse(&cfg(), "name,api_key\n").err().map(|e| e.to_string());
        assert_eq!(e.as_deref(), Some("no rows after the header"));
        assert_eq!(parse_timeout("0"), Err("timeout `0` is under 1s".into()));
        assert_eq!(parse_timeout("90"), Ok(Some(Duration::from_secs(90))));
    }
}
