//! Where the SQLite database lives and how to open it, parsed from the `[store]` options.
//!
//! Accepted URLs:
//! - `sqlite://outage-monitor.db`, `sqlite://data/outage.db`, `sqlite:outage.db`: a path
//!   relative to the working directory at start-up (made absolute when the store opens);
//! - `sqlite:///var/lib/outage-monitor/outage.db`: an absolute path;
//! - `sqlite::memory:` (or `sqlite://:memory:`): a private in-memory database, gone when the
//!   store is dropped (tests, trying things out).
//!
//! Query options (`?mode=ro`, ...) are not supported and are refused with a clear error. There
//! are no secrets in a SQLite URL, so the config needs no redacting `Debug`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use outage_core::store::{StoreError, StoreOptions};

/// The URL scheme this store registers under.
pub const SCHEME: &str = "sqlite";

/// Which database to open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A database file (created if missing; its directory must exist).
    File(PathBuf),
    /// A private in-memory database.
    Memory,
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::File(p) => write!(f, "{}", p.display()),
            Target::Memory => f.write_str(":memory:"),
        }
    }
}

/// Everything needed to open a [`crate::SqliteStore`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqliteConfig {
    /// The database.
    pub target: Target,
    /// Most connections used for reads (writes always go through one extra connection).
    pub read_connections: u32,
    /// How long to wait for a lock held by another connection or process, and for a pooled
    /// connection.
    pub busy_timeout: Duration,
}

impl SqliteConfig {
    /// Parses the store options; `StoreError::Invalid` names what is wrong with the URL.
    pub fn from_options(opts: &StoreOptions) -> Result<Self, StoreError> {
        Ok(Self {
            target: parse_url(&opts.url)?,
            read_connections: opts.pool.max(1),
            busy_timeout: opts.busy_timeout,
        })
    }

    /// A config for a database file with default pool and timeout (tests, tools).
    pub fn file(path: impl AsRef<Path>) -> Self {
        Self {
            target: Target::File(path.as_ref().to_path_buf()),
            read_connections: 4,
            busy_timeout: Duration::from_secs(5),
        }
    }

    /// A config for a private in-memory database.
    pub fn memory() -> Self {
        Self {
            target: Target::Memory,
            read_connections: 1,
            busy_timeout: Duration::from_secs(5),
        }
    }
}

/// Parses a `sqlite:` URL (see the module docs) into a [`Target`].
pub fn parse_url(url: &str) -> Result<Target, StoreError> {
    let invalid = |why: &str| {
        StoreError::Invalid(format!(
            "invalid SQLite URL `{url}`: {why}; expected sqlite://relative/path.db, \
             sqlite:///absolute/path.db or sqlite::memory:"
        ))
    };
    let Some(rest) = url.strip_prefix("sqlite:") else {
        return Err(invalid("it does not start with `sqlite:`"));
    };
    if rest.contains('?') || rest.contains('#') {
        return Err(invalid("query options are not supported"));
    }
    let path = rest.strip_prefix("//").unwrap_or(rest);
    if path == ":memory:" {
        return Ok(Target::Memory);
    }
    if path.is_empty() {
        return Err(invalid("the path is empty"));
    }
    if path.ends_with('/') {
        return Err(invalid("the path names a directory, not a file"));
    }
    Ok(Target::File(PathBuf::from(path)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(p: &str) -> Result<Target, StoreError> {
        Ok(Target::File(PathBuf::from(p)))
    }

    #[test]
    fn urls_name_relative_absolute_and_memory_databases() {
        let cases = [
            ("sqlite://outage-monitor.db", file("outage-monitor.db")),
            ("sqlite://data/outage.db", file("data/outage.db")),
            ("sqlite:outage.db", file("outage.db")),
            (
                "sqlite:///var/lib/om/outage.db",
                file("/var/lib/om/outage.db"),
            ),
            ("sqlite::memory:", Ok(Target::Memory)),
            ("sqlite://:memory:", Ok(Target::Memory)),
        ];
        for (url, want) in cases {
            assert_eq!(parse_url(url).ok(), want.ok(), "{url}");
        }
    }

    #[test]
    fn bad_urls_are_refused_with_the_reason() {
        for (url, why) in [
            ("postgres://db/x", "does not start with `sqlite:`"),
            ("sqlite://", "path is empty"),
            ("sqlite:", "path is empty"),
            ("sqlite://x.db?mode=ro", "query options"),
            ("sqlite:///var/lib/", "directory"),
        ] {
            match parse_url(url) {
                Err(StoreError::Invalid(msg)) => {
                    assert!(msg.contains(why), "{url}: {msg}");
                    assert!(msg.contains(url), "the error names the URL: {msg}");
                }
                other => panic!("{url} must be refused, got {other:?}"),
            }
        }
    }

    #[test]
    fn options_set_pool_and_timeout() {
        let c = SqliteConfig::from_options(&StoreOptions {
            url: "sqlite://a.db".into(),
            pool: 0,
            busy_timeout: Duration::from_millis(250),
        });
        assert_eq!(
            c.ok(),
            Some(SqliteConfig {
                target: Target::File("a.db".into()),
                read_connections: 1,
                busy_timeout: Duration::from_millis(250),
            })
        );
    }
}
