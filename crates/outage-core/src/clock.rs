//! Time as the engine sees it.
//!
//! Timestamps are wall-clock UTC ([`chrono::DateTime<Utc>`]); waiting is done with tokio timers.
//! [`TokioClock`] derives wall-clock time from tokio's (pausable) monotonic clock, so tests run
//! with `tokio::time::pause()` and move time with `tokio::time::advance` — no real sleeps.

use std::sync::Arc;

use chrono::{DateTime, Utc};

/// A source of "now".
pub trait Clock: Send + Sync + std::fmt::Debug + 'static {
    /// The current time in UTC.
    fn now(&self) -> DateTime<Utc>;
}

/// Shared clock handle.
pub type SharedClock = Arc<dyn Clock>;

/// The real wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock anchored at a chosen UTC instant that advances with tokio's clock.
///
/// Under `tokio::time::pause()` it only moves when the test advances time, which makes every
/// deadline in the engine exactly reproducible.
#[derive(Debug, Clone, Copy)]
pub struct TokioClock {
    base_utc: DateTime<Utc>,
    base_instant: tokio::time::Instant,
}

impl TokioClock {
    /// A clock that reads `start` now and advances with `tokio::time::Instant`.
    pub fn starting_at(start: DateTime<Utc>) -> Self {
        Self {
            base_utc: start,
            base_instant: tokio::time::Instant::now(),
        }
    }
}

impl Clock for TokioClock {
    fn now(&self) -> DateTime<Utc> {
        let elapsed = tokio::time::Instant::now().saturating_duration_since(self.base_instant);
        self.base_utc + chrono::Duration::from_std(elapsed).unwrap_or(chrono::TimeDelta::MAX)
    }
}

/// How long from `now` until `at` (zero when `at` has passed).
pub fn until(now: DateTime<Utc>, at: DateTime<Utc>) -> std::time::Duration {
    (at - now).to_std().unwrap_or_default()
}
