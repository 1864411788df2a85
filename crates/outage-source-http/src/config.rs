//! Settings of the HTTP source: the listen address and request timeout come from `[server]`
//! ([`outage_core::config::ServerConfig`]); the size limits are fixed constants.

use std::time::Duration;

use outage_core::config::ServerConfig;

/// Largest heartbeat body accepted, in bytes (1 KiB). Larger bodies get `413`.
pub const BODY_LIMIT: usize = 1024;

/// Longest `boot_id` and `fw` a device may send, in characters.
pub const MAX_FACT_CHARS: usize = 64;

/// Largest request head (request line plus headers) in bytes. Larger heads get `431` from the
/// HTTP parser and the connection is closed.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// Most header lines in one request. More get `431`.
pub const MAX_HEADERS: usize = 64;

/// Most connections served at once; further clients wait in the listen backlog.
pub const MAX_CONNECTIONS: usize = 10_000;

/// Most events one read-API request returns (`limit` may ask for fewer).
pub const MAX_EVENTS: u32 = 10_000;

/// Events the read API returns when `limit` is not given.
pub const DEFAULT_EVENTS: u32 = 1_000;

/// How long in-flight requests may take to finish once shutdown was asked for.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

/// Settings of one HTTP listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpConfig {
    /// Address to bind when no listener is handed in (`host:port`).
    pub listen: String,
    /// Time allowed for reading a request head, each gap in its body, reading the whole
    /// heartbeat body, waiting for the engine, and writing the answer.
    pub request_timeout: Duration,
    /// Largest heartbeat body in bytes.
    pub body_limit: usize,
    /// Largest request head in bytes.
    pub max_header_bytes: usize,
    /// Most header lines per request.
    pub max_headers: usize,
    /// Most concurrent connections.
    pub max_connections: usize,
    /// Bound on draining in-flight requests at shutdown.
    pub shutdown_grace: Duration,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self::from_server(&ServerConfig::default())
    }
}

impl HttpConfig {
    /// Settings from the `[server]` section; the limits take their default constants.
    pub fn from_server(server: &ServerConfig) -> Self {
        Self {
            listen: server.listen.clone(),
            request_timeout: server.request_timeout,
            body_limit: BODY_LIMIT,
            max_header_bytes: MAX_HEADER_BYTES,
            max_headers: MAX_HEADERS,
            max_connections: MAX_CONNECTIONS,
            shutdown_grace: SHUTDOWN_GRACE,
        }
    }

    /// Checks that the values can work; the error says which one is wrong and why.
    pub fn validate(&self) -> Result<(), String> {
        if self.request_timeout.is_zero() {
            return Err("`server.request_timeout` must be greater than zero, e.g. \"10s\"".into());
        }
        if self.listen.trim().is_empty() {
            return Err("`server.listen` must be an address like \"127.0.0.1:8080\"".into());
        }
        // hyper refuses read buffers under 8 KiB; a head limit below that would never apply.
        if self.max_header_bytes < 1024 {
            return Err(format!(
                "max_header_bytes must be at least 1024, got {}",
                self.max_header_bytes
            ));
        }
        if self.max_headers == 0 || self.max_connections == 0 {
            return Err("max_headers and max_connections must be at least 1".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_listen_and_timeout_from_server_section() {
        let server = ServerConfig {
            listen: "0.0.0.0:9000".into(),
            public_url: None,
            request_timeout: Duration::from_secs(3),
        };
        let c = HttpConfig::from_server(&server);
        assert_eq!(c.listen, "0.0.0.0:9000");
        assert_eq!(c.request_timeout, Duration::from_secs(3));
        assert_eq!(c.body_limit, 1024);
        assert!(c.validate().is_ok());
    }

    #[test]
    fn zero_timeout_is_refused_with_the_key_named() {
        let c = HttpConfig {
            request_timeout: Duration::ZERO,
            ..HttpConfig::default()
        };
        let err = c.validate().err().unwrap_or_default();
        assert!(err.contains("server.request_timeout"), "{err}");
    }
}
