//! Settings of the panel: `[admin]` ([`outage_core::config::AdminConfig`]) plus what the panel
//! takes from `[server]` and `[monitor]`.

use std::time::Duration;

use chrono_tz::Tz;
use outage_core::config::{AdminConfig, Config};
use outage_core::render::Language;

/// Failed logins (per client address or per user name) allowed before the next attempt has to
/// wait.
pub const FREE_LOGIN_FAILURES: u32 = 5;

/// The first wait after [`FREE_LOGIN_FAILURES`]; it doubles with each further failure.
pub const FIRST_LOGIN_WAIT: Duration = Duration::from_secs(30);

/// The longest wait between login attempts.
pub const MAX_LOGIN_WAIT: Duration = Duration::from_secs(15 * 60);

/// Largest form body accepted, in bytes.
pub const FORM_LIMIT: usize = 16 * 1024;

/// Everything the panel needs to know from the configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct PanelSettings {
    /// How long a login lasts.
    pub session_ttl: Duration,
    /// Cookies carry `Secure`.
    pub secure_cookies: bool,
    /// Base URL devices report to (`server.public_url`, or derived from `listen`).
    pub public_url: String,
    /// Time zone of shown times, days and weeks.
    pub timezone: Tz,
    /// Language of the texts.
    pub language: Language,
}

impl PanelSettings {
    /// Takes `[admin]`, `[server]` and `[monitor]` from `cfg`.
    pub fn from_config(cfg: &Config) -> Self {
        let https = cfg
            .server
            .public_url
            .as_deref()
            .is_some_and(|u| u.starts_with("https://"));
        Self {
            session_ttl: cfg.admin.session_ttl,
            secure_cookies: cfg.admin.secure_cookies || https,
            public_url: cfg.server.base_url(),
            timezone: cfg.monitor.timezone,
            language: cfg.monitor.language,
        }
    }
}

impl Default for PanelSettings {
    fn default() -> Self {
        Self::from_config(&Config::default())
    }
}

/// Checks `[admin]`; the error says what is wrong and what would be right.
pub fn check_config(admin: &AdminConfig) -> Result<(), String> {
    if admin.session_ttl < Duration::from_secs(60) {
        return Err(format!(
            "session_ttl = {:?} is too short to use the panel; give at least \"1m\" (e.g. \"7days\")",
            humantime::format_duration(admin.session_ttl).to_string()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_https_public_url_makes_cookies_secure() {
        let mut cfg = Config::default();
        assert!(!PanelSettings::from_config(&cfg).secure_cookies);
        cfg.server.public_url = Some("https://power.example".into());
        assert!(PanelSettings::from_config(&cfg).secure_cookies);
    }

    #[test]
    fn a_session_ttl_under_a_minute_is_refused() {
        let admin = AdminConfig {
            session_ttl: Duration::from_secs(5),
            ..AdminConfig::default()
        };
        assert!(check_config(&admin).unwrap_err().contains("session_ttl"));
        assert!(check_config(&AdminConfig::default()).is_ok());
    }
}
