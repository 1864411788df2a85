//! The [`HeartbeatSource`] trait (where heartbeats come from) and the [`HeartbeatSink`] it
//! feeds (implemented by the engine).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::clock::SharedClock;
use crate::domain::{DeviceFacts, LocationId, Status};
use crate::metrics::Metrics;
use crate::store::StatusStore;

/// Re-exported from [`crate::domain`], where it lives (so `metrics` need not import `source`).
pub use crate::domain::StatusCounts;
pub use tokio_util::sync::CancellationToken;

/// Accepted heartbeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BeatAck {
    /// Which location the key belongs to.
    pub location_id: LocationId,
    /// Its status after this beat (`up`, or `down` while a restore awaits confirmation).
    pub status: Status,
    /// When the device should send the next beat.
    pub next_in: Duration,
}

/// Why a heartbeat was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BeatRejection {
    /// No location has this key.
    #[error("unknown API key")]
    UnknownKey,
    /// The location exists but is disabled.
    #[error("location is disabled")]
    Disabled,
    /// The monitor cannot take heartbeats right now (e.g. shutting down, database gone).
    #[error("monitor unavailable: {0}")]
    Unavailable(String),
}

/// Where heartbeats go: the engine.
#[async_trait]
pub trait HeartbeatSink: Send + Sync + 'static {
    /// Authenticates `key` (constant-time) and applies a heartbeat with the given facts.
    async fn heartbeat(&self, key: &str, facts: DeviceFacts) -> Result<BeatAck, BeatRejection>;

    /// Current number of locations per status (for `/metrics`).
    fn status_counts(&self) -> StatusCounts;

    /// Whether start-up finished (runtime loaded) so the monitor can take traffic.
    fn is_ready(&self) -> bool;
}

/// What a source gets to run with.
#[derive(Clone)]
pub struct SourceContext {
    /// Where to deliver heartbeats.
    pub sink: Arc<dyn HeartbeatSink>,
    /// The store (read API, readiness).
    pub store: Arc<dyn StatusStore>,
    /// Shared counters.
    pub metrics: Arc<Metrics>,
    /// Time.
    pub clock: SharedClock,
    /// Cancelled when the monitor shuts down.
    pub shutdown: CancellationToken,
}

/// Why a source failed.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// Could not bind or listen.
    #[error("cannot listen on {addr}: {reason}")]
    Listen {
        /// The address.
        addr: String,
        /// The OS error.
        reason: String,
    },
    /// Anything else.
    #[error("{0}")]
    Other(String),
}

/// Something that receives heartbeats (an HTTP endpoint, an MQTT subscription, ...).
#[async_trait]
pub trait HeartbeatSource: Send + Sync + 'static {
    /// Stable name.
    fn name(&self) -> &str;

    /// Runs until `ctx.shutdown` is cancelled.
    async fn run(self: Box<Self>, ctx: SourceContext) -> Result<(), SourceError>;
}
