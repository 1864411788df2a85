//! What the built-in handlers share: the ingest paths and [`AppState`]. The server builds the
//! state and the handlers read it; neither imports the other through it.

use outage_core::source::SourceContext;

use crate::config::HttpConfig;

/// Path of the heartbeat endpoint.
pub const HEARTBEAT_PATH: &str = "/api/v1/heartbeat";

/// The heartbeat path of the classic design this project grew from, kept as a deprecated
/// alias so devices flashed for it work unchanged (same keys and headers).
pub const LEGACY_HEARTBEAT_PATH: &str = "/api/heartbeat/";

/// What the built-in handlers share.
pub(crate) struct AppState {
    pub(crate) ctx: SourceContext,
    pub(crate) cfg: HttpConfig,
}
