//! `outage-source-http`: the HTTP front door of outage-monitor, built on salvo.
//!
//! Devices (an ESP32, a router script, `curl` in a cron job) report that their house still has
//! power by posting heartbeats here; the [`HttpSource`] hands each one to the engine through
//! the [`HeartbeatSink`](outage_core::HeartbeatSink) it is given at run time. It also answers
//! the operational endpoints and lets the binary mount further routers (read API, admin panel,
//! OpenAPI) on the same listener.
//!
//! # Endpoints
//! - `POST /api/v1/heartbeat` — key in `Authorization: Bearer <key>` or `X-API-Key: <key>`.
//!   The body is optional; when present it must be `application/json` (a `charset` parameter
//!   is allowed), at most 1 KiB ([`config::BODY_LIMIT`]), and a JSON object
//!   `{boot_id?: string ≤ 64 chars, uptime_s?: u64, seq?: u64, fw?: string ≤ 64 chars,
//!   rssi?: i32}`. **Unknown fields are ignored**, so newer firmware keeps working with an
//!   older monitor; `null` counts as absent. An empty (or all-whitespace) body is a beat
//!   without facts, whatever its content type. Answers: `200 {"status":"up","next_in_s":N}`;
//!   `400` malformed body (the message names the field); `401` missing, malformed or unknown
//!   key; `403` disabled location; `408` body not received within the request timeout; `413`
//!   body too large (declared `Content-Length` checked before reading, the limit enforced again
//!   while reading chunked bodies); `415` a body that is not JSON; `503` the monitor cannot
//!   take beats. Every error is `{"error": "..."}`.
//! - `GET /healthz` (and `HEAD`) — `200 ok` while the process runs.
//! - `GET /readyz` (and `HEAD`) — `200 ok` when the engine is ready and the store answers a ping, else
//!   `503` with the reason.
//! - `GET /metrics` — Prometheus text format 0.0.4.
//! - The read API ([`api`]: locations, outages, availability, weekly diagrams, authenticated
//!   with tokens from `outage-monitor token create`) and `GET /api/v1/openapi.json`
//!   ([`openapi`]) when the binary mounts [`ReadApi::router`].
//!
//! An unknown path gets a JSON `404`, a wrong method on a known path a JSON `405`. Client
//! mistakes never get a 5xx. Request heads are limited to 16 KiB and 64 header lines (`431`),
//! and `[server] request_timeout` bounds the head, each gap in a body, writes, and the wait
//! for the engine. Rejected beats are counted in [`Metrics`](outage_core::metrics::Metrics) by
//! reason; accepted ones are counted by the engine. Keys are never logged.
//!
//! # Use from the binary
//! ```no_run
//! # async fn demo(config: outage_core::config::Config, ctx: outage_core::source::SourceContext)
//! # -> Result<(), outage_core::source::SourceError> {
//! use outage_core::HeartbeatSource;
//! use outage_source_http::{HttpConfig, HttpSource};
//!
//! let source = HttpSource::bind(HttpConfig::from_server(&config.server))?
//!     .with_router(salvo::Router::with_path("api/v1/locations")); // read API, admin, ...
//! Box::new(source).run(ctx).await // returns after `ctx.shutdown` is cancelled
//! # }
//! ```
//!
//! This crate must not depend on a database driver: it reaches the store only through
//! [`StatusStore`](outage_core::StatusStore).

pub mod api;
pub mod config;
mod health;
mod heartbeat;
pub mod metrics;
pub mod openapi;
mod reply;
mod server;
mod state;

use outage_core::registry::{Factory, PluginContext, PluginDescriptor, PluginError, PluginKind};
use outage_core::source::HeartbeatSource;

pub use api::ReadApi;
pub use config::HttpConfig;
pub use heartbeat::parse_heartbeat_body;
pub use server::{HEARTBEAT_PATH, HttpSource, LEGACY_HEARTBEAT_PATH, routes, source_context};

/// Re-exported so the binary and router crates use the same salvo version.
pub use salvo;

/// Builds the source from `[server]`.
fn factory(ctx: &PluginContext<'_>) -> Result<Box<dyn HeartbeatSource>, PluginError> {
    let cfg = HttpConfig::from_server(&ctx.config.server);
    cfg.validate().map_err(|reason| PluginError::Config {
        section: "server".into(),
        reason,
    })?;
    Ok(Box::new(HttpSource::new(cfg)))
}

/// Example `[server]` section shown by `plugins list`.
const EXAMPLE_CONFIG: &str = "[server]\n\
listen = \"127.0.0.1:8080\"\n\
public_url = \"https://power.example.org\"\n\
request_timeout = \"10s\"\n";

outage_core::inventory::submit! {
    PluginDescriptor {
        kind: PluginKind::Source,
        name: "http",
        description: "HTTP heartbeat ingest (POST /api/v1/heartbeat) with /healthz, /readyz and /metrics (salvo).",
        example_config: EXAMPLE_CONFIG,
        factory: Factory::Source(factory),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use outage_core::config::Config;
    use outage_core::registry;

    #[test]
    fn registered_as_the_http_source() {
        let d = registry::find(PluginKind::Source, "http");
        assert!(d.is_ok(), "{:?}", d.err());
    }

    #[test]
    fn example_config_parses_and_builds() {
        let config = Config::from_toml_str(EXAMPLE_CONFIG);
        assert!(config.is_ok(), "{:?}", config.err());
        let config = config.unwrap_or_default();
        assert_eq!(config.server.listen, "127.0.0.1:8080");
        let table = serde_json::Value::Null;
        let ctx = PluginContext {
            config: &config,
            table: &table,
            instance: "http",
        };
        let source = factory(&ctx);
        assert_eq!(
            source.map(|s| s.name().to_string()).ok().as_deref(),
            Some("http")
        );
    }

    #[test]
    fn factory_refuses_a_zero_timeout() {
        let mut config = Config::default();
        config.server.request_timeout = std::time::Duration::ZERO;
        let table = serde_json::Value::Null;
        let ctx = PluginContext {
            config: &config,
            table: &table,
            instance: "http",
        };
        let err = factory(&ctx)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("request_timeout"), "{err}");
    }
}
