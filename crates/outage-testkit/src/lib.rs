//! `outage-testkit`: what tests of outage-monitor and of its plugins share.
//!
//! - [`store_suite`](mod@store_suite): the behaviour suite every `StatusStore` must pass.
//! - [`notifier`]: notifiers that record or fail on demand.
//! - [`telegram`]: a fake Telegram Bot API server that validates requests against the spec.
//! - [`receiver`]: a local HTTP endpoint that records requests and answers as scripted (webhooks,
//!   ntfy).
//!
//! Test-only code: it may depend on anything a test needs, but production crates must never
//! depend on it (only as a dev-dependency).

mod local_http;
pub mod notifier;
pub mod receiver;
pub mod store_suite;
pub mod telegram;

pub use outage_core::TokioClock;

/// A fixed, readable start time for stories: Monday 2026-11-23 12:00:00 UTC.
pub fn t0() -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp(1_795_435_200, 0).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #[test]
    fn t0_is_what_its_doc_says() {
        assert_eq!(super::t0().to_rfc3339(), "2026-11-23T12:00:00+00:00");
    }
}
