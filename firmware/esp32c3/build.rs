//! Reads the device settings from environment variables at build time,
//! checks them with the same code the device uses, and writes them as
//! constants to `$OUT_DIR/settings.rs`. Anything missing or wrong stops the
//! build with a message that says which variable and why.

use std::fmt::Write as _;
use std::path::PathBuf;

use heartbeat_proto::{
    DEFAULT_INTERVAL_S, Scheme, bearer_header, parse_server_url, settings, validate_key,
};

const VARS: [(&str, &str); 5] = [
    ("WIFI_SSID", "name of the 2.4 GHz WiFi network to join"),
    (
        "WIFI_PASSWORD",
        "its password (set it to an empty string for an open network)",
    ),
    (
        "OUTAGE_SERVER_URL",
        "base URL of the outage-monitor server, e.g. http://192.168.1.10:8080",
    ),
    (
        "OUTAGE_API_KEY",
        "the location key printed by `outage-monitor location add`",
    ),
    (
        "OUTAGE_INTERVAL_S",
        "optional: seconds between heartbeats, 5..=3600, default 30",
    ),
];

fn main() {
    // The linker script comes with esp-hal; only the binary needs it.
    println!("cargo:rustc-link-arg-bins=-Tlinkall.x");
    for (name, _) in VARS {
        println!("cargo:rerun-if-env-changed={name}");
    }
    println!("cargo:rerun-if-changed=build.rs");

    let mut problems: Vec<String> = Vec::new();
    let mut required = |name: &str| -> String {
        match std::env::var(name) {
            Ok(v) => v,
            Err(std::env::VarError::NotPresent) => {
                problems.push(format!("{name} is not set"));
                String::new()
            }
            Err(std::env::VarError::NotUnicode(_)) => {
                problems.push(format!("{name} is not valid UTF-8"));
                String::new()
            }
        }
    };
    let ssid = required("WIFI_SSID");
    let password = required("WIFI_PASSWORD");
    let server_url = required("OUTAGE_SERVER_URL");
    let api_key = required("OUTAGE_API_KEY");
    let missing = problems.len();

    if std::env::var_os("WIFI_SSID").is_some()
        && let Err(e) = settings::validate_ssid(&ssid)
    {
        problems.push(format!("WIFI_SSID: {e}"));
    }
    if std::env::var_os("WIFI_PASSWORD").is_some()
        && let Err(e) = settings::validate_wifi_password(&password)
    {
        problems.push(format!("WIFI_PASSWORD: {e}"));
    }

    let mut heartbeat_url = String::new();
    let mut host = String::new();
    if std::env::var_os("OUTAGE_SERVER_URL").is_some() {
        match parse_server_url(&server_url) {
            Ok(url) if url.scheme == Scheme::Https => problems.push(
                "OUTAGE_SERVER_URL: this firmware speaks plain http:// only (no TLS); \
                 use the server's LAN address, e.g. http://192.168.1.10:8080"
                    .to_owned(),
            ),
            Ok(url) if url.host.starts_with('[') => problems.push(
                "OUTAGE_SERVER_URL: IPv6 addresses are not supported by this firmware; \
                 use an IPv4 address or a host name"
                    .to_owned(),
            ),
            Ok(url) => {
                host = url.host.to_owned();
                if url.write_heartbeat_url(&mut heartbeat_url).is_err() {
                    problems.push("OUTAGE_SERVER_URL: could not be formatted".to_owned());
                }
            }
            Err(e) => problems.push(format!("OUTAGE_SERVER_URL {server_url:?}: {e}")),
        }
    }

    let mut authorization = String::new();
    if std::env::var_os("OUTAGE_API_KEY").is_some() {
        match validate_key(api_key.trim())
            .and_then(|()| bearer_header::<{ heartbeat_proto::MAX_KEY_LEN + 7 }>(api_key.trim()))
        {
            Ok(value) => authorization = value.as_str().to_owned(),
            Err(e) => problems.push(format!("OUTAGE_API_KEY: {e}")),
        }
    }

    let interval_s = match std::env::var("OUTAGE_INTERVAL_S") {
        Err(std::env::VarError::NotPresent) => DEFAULT_INTERVAL_S,
        Ok(v) if v.trim().is_empty() => DEFAULT_INTERVAL_S,
        Ok(v) => match settings::parse_interval_s(&v) {
            Ok(n) => n,
            Err(e) => {
                problems.push(format!("OUTAGE_INTERVAL_S {v:?}: {e}"));
                DEFAULT_INTERVAL_S
            }
        },
        Err(std::env::VarError::NotUnicode(_)) => {
            problems.push("OUTAGE_INTERVAL_S is not valid UTF-8".to_owned());
            DEFAULT_INTERVAL_S
        }
    };

    if !problems.is_empty() {
        let mut msg = String::from(
            "\n\nThe ESP32-C3 heartbeat firmware takes its settings from environment \
             variables at build time, and some are missing or invalid:\n\n",
        );
        for p in &problems {
            let _ = writeln!(msg, "  * {p}");
        }
        if missing > 0 {
            msg.push_str("\nThe variables are:\n");
            for (name, what) in VARS {
                let _ = writeln!(msg, "  {name:<18} {what}");
            }
        }
        msg.push_str(
            "\nExample:\n  WIFI_SSID='Home' WIFI_PASSWORD='secret123' \
             OUTAGE_SERVER_URL='http://192.168.1.10:8080' OUTAGE_API_KEY='<key>' \
             cargo build --release\n\nSee book/src/devices/esp32c3.md.\n",
        );
        // One error line per problem for tools that show only `cargo::error`,
        // then the full explanation.
        for p in &problems {
            println!("cargo::error={p}");
        }
        eprintln!("{msg}");
        std::process::exit(1);
    }

    let mut out =
        String::from("// Generated by build.rs from environment variables. Do not edit.\n");
    let _ = writeln!(out, "/// WiFi network name (WIFI_SSID).");
    let _ = writeln!(out, "pub const WIFI_SSID: &str = {ssid:?};");
    let _ = writeln!(
        out,
        "/// WiFi password (WIFI_PASSWORD); empty for an open network."
    );
    let _ = writeln!(out, "pub const WIFI_PASSWORD: &str = {password:?};");
    let _ = writeln!(out, "/// Full heartbeat URL built from OUTAGE_SERVER_URL.");
    let _ = writeln!(out, "pub const HEARTBEAT_URL: &str = {heartbeat_url:?};");
    let _ = writeln!(out, "/// Host part of OUTAGE_SERVER_URL, for logs.");
    let _ = writeln!(out, "pub const SERVER_HOST: &str = {host:?};");
    let _ = writeln!(out, "/// `Bearer <OUTAGE_API_KEY>`.");
    let _ = writeln!(out, "pub const AUTHORIZATION: &str = {authorization:?};");
    let _ = writeln!(
        out,
        "/// Seconds between beats until the server says otherwise."
    );
    let _ = writeln!(out, "pub const INTERVAL_S: u32 = {interval_s};");

    let out_dir = match std::env::var_os("OUT_DIR") {
        Some(d) => PathBuf::from(d),
        None => {
            eprintln!("OUT_DIR is not set; run this through cargo");
            std::process::exit(1);
        }
    };
    if let Err(e) = std::fs::write(out_dir.join("settings.rs"), out) {
        eprintln!("cannot write settings.rs: {e}");
        std::process::exit(1);
    }
}
