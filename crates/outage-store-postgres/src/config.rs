//! Which PostgreSQL database to use and how, parsed from the `[store]` options.
//!
//! Accepted URLs are libpq-style connection URLs with the scheme `postgres://` or
//! `postgresql://`, e.g. `postgres://outage@db.example/outage`,
//! `postgresql://outage:secret@127.0.0.1:5432/outage?sslmode=require`, or
//! `postgres:///outage?host=/run/postgresql` for a Unix socket. Every query parameter sqlx
//! understands works (`sslmode`, `sslrootcert`, `application_name`, `options`, ...).
//!
//! The URL may hold a password: [`PostgresConfig`]'s `Debug` and every message of this crate show
//! it redacted ([`redact`]). Keep it out of the config file with `store.url_file` or
//! `OUTAGE_STORE__URL`.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use outage_core::store::{StoreError, StoreOptions};
use sqlx::postgres::PgConnectOptions;

/// The URL scheme this store registers under (`postgresql://` is accepted as well; the registry
/// maps it to this name).
pub const SCHEME: &str = "postgres";

/// The `application_name` the monitor's connections show in `pg_stat_activity`, unless the URL
/// sets one.
pub const APPLICATION_NAME: &str = "outage-monitor";

/// Everything needed to open a [`crate::PostgresStore`].
#[derive(Clone)]
pub struct PostgresConfig {
    /// The URL as given; it may hold a password, so it is never printed.
    url: String,
    /// Parsed connection options; they hold the password too.
    connect: PgConnectOptions,
    /// The URL with any password replaced by `***`.
    shown: String,
    /// Most pooled connections (the leader lock uses one more, see
    /// [`crate::PostgresStore::try_lead`]).
    pub max_connections: u32,
    /// How long to wait for a pooled connection (and for a connection to be made), and for a
    /// row or advisory lock held by another session (`lock_timeout`).
    pub busy_timeout: Duration,
}

impl fmt::Debug for PostgresConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresConfig")
            .field("url", &self.shown)
            .field("max_connections", &self.max_connections)
            .field("busy_timeout", &self.busy_timeout)
            .finish()
    }
}

impl PostgresConfig {
    /// Parses the store options; `StoreError::Invalid` names (redacted) what is wrong with the
    /// URL.
    pub fn from_options(opts: &StoreOptions) -> Result<Self, StoreError> {
        let mut config = Self::from_url(&opts.url)?;
        config.max_connections = opts.pool.max(1);
        config.busy_timeout = opts.busy_timeout;
        Ok(config)
    }

    /// A config for `url` with the default pool (8) and timeout (5 s): tests, tools.
    pub fn from_url(url: &str) -> Result<Self, StoreError> {
        let shown = redact(url);
        let invalid = |why: &str| {
            StoreError::Invalid(format!(
                "invalid PostgreSQL URL `{shown}`: {why}; expected \
                 postgres://user[:password]@host[:port]/database"
            ))
        };
        let lower = url.to_ascii_lowercase();
        if !lower.starts_with("postgres://") && !lower.starts_with("postgresql://") {
            return Err(invalid(
                "it does not start with `postgres://` or `postgresql://`",
            ));
        }
        let connect =
            PgConnectOptions::from_str(url).map_err(|e| invalid(&scrub(&e.to_string(), url)))?;
        Ok(Self {
            url: url.to_string(),
            connect,
            shown,
            max_connections: 8,
            busy_timeout: Duration::from_secs(5),
        })
    }

    /// The URL as it may be shown: any password replaced by `***`.
    pub fn shown_url(&self) -> &str {
        &self.shown
    }

    /// The database name the URL names, if any (PostgreSQL then uses the user name).
    pub fn database(&self) -> Option<&str> {
        self.connect.get_database()
    }

    /// `message` without any password of this config's URL.
    pub(crate) fn scrub_message(&self, message: &str) -> String {
        scrub(message, &self.url)
    }

    /// The options every connection of the store is made with: the URL's, plus an
    /// `application_name` and a `lock_timeout` of `busy_timeout` unless the URL sets them.
    pub(crate) fn connect_options(&self) -> PgConnectOptions {
        let mut opts = self.connect.clone();
        if opts.get_application_name().is_none() {
            opts = opts.application_name(APPLICATION_NAME);
        }
        let sets_lock_timeout = opts
            .get_options()
            .is_some_and(|o| o.contains("lock_timeout"));
        if !sets_lock_timeout {
            let ms = self.busy_timeout.as_millis().max(1);
            opts = opts.options([("lock_timeout", format!("{ms}ms"))]);
        }
        opts
    }
}

/// A PostgreSQL URL with its password replaced by `***`: the one in the user info
/// ([`outage_core::config::redact_url`]) and any `password=` query parameter.
pub fn redact(url: &str) -> String {
    let shown = outage_core::config::redact_url(url);
    let Some((base, query)) = shown.split_once('?') else {
        return shown;
    };
    let query: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((key, _)) if key.to_ascii_lowercase().ends_with("password") => {
                format!("{key}=***")
            }
            _ => pair.to_string(),
        })
        .collect();
    format!("{base}?{}", query.join("&"))
}

/// `message` with every password that `url` holds replaced by `***` (for messages of the
/// driver, which should never contain one; this makes sure).
pub(crate) fn scrub(message: &str, url: &str) -> String {
    let mut out = message.to_string();
    for secret in passwords(url) {
        if !secret.is_empty() {
            out = out.replace(&secret, "***");
        }
    }
    out
}

/// The passwords written in a URL: the user-info one and `password=` query values.
fn passwords(url: &str) -> Vec<String> {
    let mut found = Vec::new();
    if let (Some(scheme_end), Some(at)) = (url.find("://"), url.rfind('@'))
        && at > scheme_end
        && let Some((_, pw)) = url[scheme_end + 3..at].split_once(':')
    {
        found.push(pw.to_string());
    }
    if let Some((_, query)) = url.split_once('?') {
        for pair in query.split('&') {
            if let Some((key, value)) = pair.split_once('=')
                && key.to_ascii_lowercase().ends_with("password")
            {
                found.push(value.to_string());
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_schemes_parse_and_keep_their_parts() {
        for url in [
            "postgres://outage@db.example:5433/outage",
            "postgresql://outage@db.example:5433/outage",
            "POSTGRES://outage@db.example:5433/outage",
        ] {
            let c = PostgresConfig::from_url(url).unwrap();
            assert_eq!(c.database(), Some("outage"), "{url}");
            let o = c.connect_options();
            assert_eq!(o.get_host(), "db.example");
            assert_eq!(o.get_port(), 5433);
            assert_eq!(o.get_username(), "outage");
            assert_eq!(o.get_application_name(), Some(APPLICATION_NAME));
            assert_eq!(o.get_options(), Some("-c lock_timeout=5000ms"));
        }
    }

    #[test]
    fn the_url_wins_over_our_defaults() {
        let c = PostgresConfig::from_url(
            "postgres://u@h/d?application_name=mine&options=-c%20lock_timeout%3D1s",
        )
        .unwrap();
        let o = c.connect_options();
        assert_eq!(o.get_application_name(), Some("mine"));
        assert_eq!(o.get_options(), Some("-c lock_timeout=1s"));
    }

    #[test]
    fn bad_urls_are_refused_without_their_password() {
        for (url, why) in [
            ("sqlite://x.db", "does not start with `postgres://`"),
            ("mysql://u:hunter2@h/d", "does not start with `postgres://`"),
            ("postgres://u:hunter2@h:notaport/d", "invalid"),
            ("postgres://u:hunter2@h/d?sslmode=sometimes", "invalid"),
        ] {
            match PostgresConfig::from_url(url) {
                Err(StoreError::Invalid(msg)) => {
                    assert!(msg.contains(why), "{url}: {msg}");
                    assert!(!msg.contains("hunter2"), "the password leaked: {msg}");
                }
                other => panic!("{url} must be refused, got {other:?}"),
            }
        }
    }

    #[test]
    fn passwords_are_redacted_in_debug_and_urls() {
        let url = "postgres://outage:hunter2@db/outage?sslmode=prefer&password=swordfish";
        let c = PostgresConfig::from_url(url).unwrap();
        let debug = format!("{c:?}");
        assert!(
            !debug.contains("hunter2") && !debug.contains("swordfish"),
            "{debug}"
        );
        assert_eq!(
            c.shown_url(),
            "postgres://outage:***@db/outage?sslmode=prefer&password=***"
        );
        assert_eq!(redact("postgres://u@h/d"), "postgres://u@h/d");
        assert_eq!(
            scrub("failed for hunter2 and swordfish", url),
            "failed for *** and ***"
        );
    }

    #[test]
    fn options_set_pool_and_timeout() {
        let c = PostgresConfig::from_options(&StoreOptions {
            url: "postgres://u@h/d".into(),
            pool: 0,
            busy_timeout: Duration::from_millis(250),
        })
        .unwrap();
        assert_eq!(c.max_connections, 1);
        assert_eq!(c.busy_timeout, Duration::from_millis(250));
        assert_eq!(
            c.connect_options().get_options(),
            Some("-c lock_timeout=250ms")
        );
    }
}
