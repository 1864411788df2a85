//! Ready-to-use device settings for a location (`location show --device-config`, the admin
//! panel's device set-up page), and the one-off test alert (`location test-alert`, the panel's
//! "send test alert" button). One text per device kind, so the CLI and the panel never differ.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::domain::{Cause, Location};
use crate::notify::{Alert, AlertKind, DeliveryContext, Notifier};

/// The kinds of device the monitor writes settings for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeviceKind {
    /// ESP32-C3 Rust firmware build settings (environment variables).
    Esp32,
    /// ESPHome `secrets.yaml` entries.
    Esphome,
    /// The POSIX shell loop for routers.
    Sh,
    /// A single `curl` command.
    Curl,
}

impl DeviceKind {
    /// Every kind, in the order the admin panel shows them.
    pub const ALL: [DeviceKind; 4] = [
        DeviceKind::Curl,
        DeviceKind::Esp32,
        DeviceKind::Esphome,
        DeviceKind::Sh,
    ];

    /// Lowercase name, as on the command line (`--device-config esp32`).
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceKind::Esp32 => "esp32",
            DeviceKind::Esphome => "esphome",
            DeviceKind::Sh => "sh",
            DeviceKind::Curl => "curl",
        }
    }
}

/// The placeholder that stands for the API key when it is not known (only its hash is stored).
pub const KEY_PLACEHOLDER: &str = "<API_KEY>";

/// Settings for a device of `kind` at `location`, reporting to `base_url` (the server's
/// `public_url`, without a trailing slash). `key` fills in the API key when it is known (just
/// made or rotated); otherwise [`KEY_PLACEHOLDER`] stands in.
pub fn device_settings(
    base_url: &str,
    location: &Location,
    kind: DeviceKind,
    key: Option<&str>,
) -> String {
    let url = base_url.trim_end_matches('/');
    let name = &location.name;
    let interval = crate::engine::next_interval(location.timeout).as_secs();
    let key_note = match key {
        Some(_) => {
            "# Keep this key secret: anyone who has it can report heartbeats for this location."
        }
        None => {
            "# The API key was shown once when it was made; make a new one (rotate) and fill it in."
        }
    };
    let text = match kind {
        DeviceKind::Curl => format!(
            "{key_note}\ncurl -fsS -X POST -H 'Authorization: Bearer {KEY_PLACEHOLDER}' -H 'Content-Type: application/json' \\\n  -d '{{\"boot_id\":\"'\"$(cat /proc/sys/kernel/random/boot_id)\"'\",\"uptime_s\":'\"$(cut -d. -f1 /proc/uptime)\"'}}' \\\n  {url}/api/v1/heartbeat\n"
        ),
        DeviceKind::Sh => format!(
            "{key_note}\n# Location \"{name}\": run firmware/scripts/outage-heartbeat.sh with\nOUTAGE_SERVER_URL={url}\nOUTAGE_API_KEY={KEY_PLACEHOLDER}\nOUTAGE_INTERVAL_S={interval}\n"
        ),
        DeviceKind::Esp32 => format!(
            "{key_note}\n# Location \"{name}\": build firmware/esp32c3 with\nexport WIFI_SSID='<your wifi>'\nexport WIFI_PASSWORD='<wifi password>'\nexport OUTAGE_SERVER_URL={url}\nexport OUTAGE_API_KEY={KEY_PLACEHOLDER}\nexport OUTAGE_INTERVAL_S={interval}\n"
        ),
        DeviceKind::Esphome => format!(
            "{key_note}\n# Location \"{name}\": secrets.yaml for firmware/esphome/outage-monitor.yaml\n# (heartbeat_interval_s in its substitutions: \"{interval}\")\nwifi_ssid: \"<your wifi>\"\nwifi_password: \"<wifi password>\"\noutage_server_url: \"{url}\"\noutage_api_key: \"{KEY_PLACEHOLDER}\"\nota_password: \"<choose one>\"\n"
        ),
    };
    match key {
        Some(k) => text.replace(KEY_PLACEHOLDER, k),
        None => text,
    }
}

/// What one notifier did with a test alert.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TestAlertResult {
    /// The notifier's name.
    pub notifier: String,
    /// The chat it went to.
    pub chat: String,
    /// Whether it was sent.
    pub ok: bool,
    /// The message id the service gave it, when it has one.
    pub message_id: Option<String>,
    /// Why it failed.
    pub error: Option<String>,
}

/// Sends one test message about `location` through every notifier, directly (not through the
/// outbox: a test should say at once whether it worked), and tells what each one did.
pub async fn send_test_alert(
    notifiers: &[Arc<dyn Notifier>],
    location: &Location,
    now: DateTime<Utc>,
) -> Vec<TestAlertResult> {
    let alert = Alert {
        kind: AlertKind::Test,
        location_id: location.id,
        location_name: location.name.clone(),
        event_id: None,
        started_at: None,
        detected_at: None,
        ended_at: None,
        cause: Cause::Unknown,
        at: now,
    };
    let mut results = Vec::with_capacity(notifiers.len());
    for (n, chat) in crate::notify::targets(notifiers, location) {
        let ctx = DeliveryContext {
            chat: chat.clone(),
            earlier: vec![],
        };
        let r = n.deliver(&alert, &ctx).await;
        results.push(TestAlertResult {
            notifier: n.name().to_string(),
            chat,
            ok: r.is_ok(),
            message_id: r
                .as_ref()
                .ok()
                .and_then(|m| m.as_ref().map(|m| m.message_id.clone())),
            error: r.as_ref().err().map(|e| e.to_string()),
        });
    }
    results
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn home() -> Location {
        Location {
            routes: Vec::new(),
            id: crate::domain::LocationId(7),
            name: "Home".into(),
            timeout: Duration::from_secs(30),
            chat_id: None,
            enabled: true,
            paused_until: None,
            created_at: DateTime::<Utc>::UNIX_EPOCH,
            updated_at: DateTime::<Utc>::UNIX_EPOCH,
        }
    }

    #[test]
    fn a_known_key_is_filled_in_and_an_unknown_one_stays_a_placeholder() {
        let with = device_settings(
            "https://power.example/",
            &home(),
            DeviceKind::Curl,
            Some("om_x"),
        );
        assert!(with.contains("Bearer om_x"), "{with}");
        assert!(
            with.contains("https://power.example/api/v1/heartbeat"),
            "{with}"
        );
        let without = device_settings("http://h", &home(), DeviceKind::Esp32, None);
        assert!(without.contains("OUTAGE_API_KEY=<API_KEY>"), "{without}");
        assert!(without.contains("OUTAGE_INTERVAL_S=10"), "{without}");
    }
}
