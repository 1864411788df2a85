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
///
/// The monitor runs every configured source with a [`SourceContext`]; the source hands each
/// heartbeat to `ctx.sink` (the engine), which checks the key and answers with a [`BeatAck`]
/// or a [`BeatRejection`], and returns once `ctx.shutdown` is cancelled.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
///
/// use async_trait::async_trait;
/// use outage_core::engine::{Engine, EngineConfig};
/// use outage_core::keys::KeyHash;
/// use outage_core::memory_store::MemoryStore;
/// use outage_core::metrics::Metrics;
/// use outage_core::source::{CancellationToken, SourceContext, SourceError};
/// use outage_core::{Clock, DeviceFacts, HeartbeatSource, NewLocation, StatusStore, SystemClock};
///
/// /// Replays a fixed list of (key, boot id) heartbeats, then waits for shutdown.
/// struct Replay(Vec<(&'static str, &'static str)>);
///
/// #[async_trait]
/// impl HeartbeatSource for Replay {
///     fn name(&self) -> &str {
///         "replay"
///     }
///
///     async fn run(self: Box<Self>, ctx: SourceContext) -> Result<(), SourceError> {
///         for (key, boot) in &self.0 {
///             let facts = DeviceFacts { boot_id: Some(boot.to_string()), ..DeviceFacts::default() };
///             match ctx.sink.heartbeat(key, facts).await {
///                 Ok(_) => ctx.metrics.heartbeat_received(),
///                 Err(e) => tracing::warn!(error = %e, "heartbeat refused"),
///             }
///         }
///         ctx.shutdown.cancelled().await;
///         Ok(())
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let store = Arc::new(MemoryStore::new());
/// let clock = Arc::new(SystemClock);
/// let home = NewLocation { name: "Home".into(), timeout: Duration::from_secs(30), chat_id: None, routes: Vec::new() };
/// let loc = store.create_location(&home, KeyHash::of("good-key"), clock.now()).await?;
/// let metrics = Arc::new(Metrics::default());
/// let (engine, tasks) =
///     Engine::start(store.clone(), vec![], clock.clone(), metrics.clone(), EngineConfig::default())
///         .await?;
///
/// let shutdown = CancellationToken::new();
/// let ctx = SourceContext {
///     sink: Arc::new(engine.clone()),
///     store: store.clone(),
///     metrics: metrics.clone(),
///     clock,
///     shutdown: shutdown.clone(),
/// };
/// let source = Box::new(Replay(vec![("good-key", "b1"), ("wrong-key", "b1")]));
/// let running = tokio::spawn(source.run(ctx));
/// while metrics.heartbeats_received() == 0 {
///     tokio::task::yield_now().await;
/// }
/// assert_eq!(engine.status_of(loc.id).map(|(s, _)| s), Some(outage_core::Status::Up));
/// shutdown.cancel();
/// running.await??;
/// tasks.shutdown().await;
/// # Ok(())
/// # }
/// ```
#[async_trait]
pub trait HeartbeatSource: Send + Sync + 'static {
    /// Stable name.
    fn name(&self) -> &str;

    /// Runs until `ctx.shutdown` is cancelled.
    async fn run(self: Box<Self>, ctx: SourceContext) -> Result<(), SourceError>;
}
