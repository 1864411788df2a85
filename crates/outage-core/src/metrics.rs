//! Process-wide counters, rendered in the Prometheus text format by the HTTP source.
//!
//! Hand-written on atomics: a dozen series do not justify a metrics framework, and the hot path
//! (one heartbeat) costs a single relaxed increment.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::domain::StatusCounts;
use crate::store::OutboxStats;

/// Reasons a heartbeat is rejected, as the `reason` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectReason {
    /// Missing or unknown key.
    Unauthorized,
    /// Body is not the JSON we expect.
    Malformed,
    /// Body over 1 KiB.
    TooLarge,
    /// Wrong content type.
    UnsupportedMediaType,
    /// Location disabled.
    Disabled,
    /// Monitor unavailable.
    Unavailable,
}

impl RejectReason {
    const ALL: [RejectReason; 6] = [
        RejectReason::Unauthorized,
        RejectReason::Malformed,
        RejectReason::TooLarge,
        RejectReason::UnsupportedMediaType,
        RejectReason::Disabled,
        RejectReason::Unavailable,
    ];

    fn label(self) -> &'static str {
        match self {
            RejectReason::Unauthorized => "unauthorized",
            RejectReason::Malformed => "malformed",
            RejectReason::TooLarge => "too_large",
            RejectReason::UnsupportedMediaType => "unsupported_media_type",
            RejectReason::Disabled => "disabled",
            RejectReason::Unavailable => "unavailable",
        }
    }
}

/// Upper bounds (seconds) of the detection-delay histogram buckets.
const DELAY_BUCKETS: [f64; 10] = [0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0];

/// All counters of the monitor.
#[derive(Debug, Default)]
pub struct Metrics {
    beats: AtomicU64,
    rejected: [AtomicU64; 6],
    outages: AtomicU64,
    notifications_sent: AtomicU64,
    notifications_failed: AtomicU64,
    notifications_retried: AtomicU64,
    delay_buckets: [AtomicU64; DELAY_BUCKETS.len()],
    delay_count: AtomicU64,
    delay_sum_us: AtomicU64,
    /// This instance is a standby (the gauge `outage_leader` is 0); false by default, as one
    /// instance alone always leads.
    standby: std::sync::atomic::AtomicBool,
}

impl Metrics {
    /// Whether this instance leads (`outage_leader`); set by the engine.
    pub fn set_leader(&self, leading: bool) {
        self.standby.store(!leading, Ordering::Relaxed);
    }

    /// Whether this instance leads (detects and delivers) or is a standby.
    pub fn is_leader(&self) -> bool {
        !self.standby.load(Ordering::Relaxed)
    }

    /// A heartbeat was accepted.
    pub fn heartbeat_received(&self) {
        self.beats.fetch_add(1, Ordering::Relaxed);
    }

    /// Accepted heartbeats so far.
    pub fn heartbeats_received(&self) -> u64 {
        self.beats.load(Ordering::Relaxed)
    }

    /// A heartbeat was rejected.
    pub fn heartbeat_rejected(&self, reason: RejectReason) {
        if let Some(i) = RejectReason::ALL.iter().position(|r| *r == reason) {
            self.rejected[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// An outage was declared, `delay` after its deadline.
    pub fn outage_detected(&self, delay: std::time::Duration) {
        self.outages.fetch_add(1, Ordering::Relaxed);
        let secs = delay.as_secs_f64();
        for (i, bound) in DELAY_BUCKETS.iter().enumerate() {
            if secs <= *bound {
                self.delay_buckets[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.delay_count.fetch_add(1, Ordering::Relaxed);
        self.delay_sum_us
            .fetch_add(delay.as_micros() as u64, Ordering::Relaxed);
    }

    /// Outages declared so far.
    pub fn outages_detected(&self) -> u64 {
        self.outages.load(Ordering::Relaxed)
    }

    /// A notification was delivered.
    pub fn notification_sent(&self) {
        self.notifications_sent.fetch_add(1, Ordering::Relaxed);
    }

    /// A notification was given up.
    pub fn notification_failed(&self) {
        self.notifications_failed.fetch_add(1, Ordering::Relaxed);
    }

    /// A delivery attempt failed and will be retried.
    pub fn notification_retried(&self) {
        self.notifications_retried.fetch_add(1, Ordering::Relaxed);
    }

    /// Renders every series in the Prometheus text exposition format (version 0.0.4).
    pub fn render_prometheus(&self, statuses: StatusCounts, outbox: Option<OutboxStats>) -> String {
        let mut out = String::with_capacity(2048);
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let counter = |out: &mut String, name: &str, help: &str, v: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}"
            );
        };
        counter(
            &mut out,
            "outage_heartbeats_received_total",
            "Heartbeats accepted.",
            load(&self.beats),
        );
        let _ = writeln!(
            out,
            "# HELP outage_heartbeats_rejected_total Heartbeats refused, by reason.\n# TYPE outage_heartbeats_rejected_total counter"
        );
        for (i, r) in RejectReason::ALL.iter().enumerate() {
            let _ = writeln!(
                out,
                "outage_heartbeats_rejected_total{{reason=\"{}\"}} {}",
                r.label(),
                load(&self.rejected[i])
            );
        }
        let _ = writeln!(
            out,
            "# HELP outage_locations Locations by current status.\n# TYPE outage_locations gauge"
        );
        for (label, v) in [
            ("up", statuses.up),
            ("down", statuses.down),
            ("unknown", statuses.unknown),
            ("paused", statuses.paused),
        ] {
            let _ = writeln!(out, "outage_locations{{status=\"{label}\"}} {v}");
        }
        counter(
            &mut out,
            "outage_outages_detected_total",
            "Outages declared.",
            load(&self.outages),
        );
        counter(
            &mut out,
            "outage_notifications_sent_total",
            "Notifications delivered.",
            load(&self.notifications_sent),
        );
        counter(
            &mut out,
            "outage_notifications_failed_total",
            "Notifications given up after a permanent error.",
            load(&self.notifications_failed),
        );
        counter(
            &mut out,
            "outage_notification_retries_total",
            "Delivery attempts that failed and were scheduled again.",
            load(&self.notifications_retried),
        );
        if let Some(o) = outbox {
            let _ = writeln!(
                out,
                "# HELP outage_notifications_pending Notifications waiting in the outbox.\n# TYPE outage_notifications_pending gauge\noutage_notifications_pending {}",
                o.pending
            );
        }
        let _ = writeln!(
            out,
            "# HELP outage_leader 1 when this instance leads (detects and delivers), 0 on a standby.\n# TYPE outage_leader gauge\noutage_leader {}",
            u8::from(self.is_leader())
        );
        let _ = writeln!(
            out,
            "# HELP outage_detection_delay_seconds Time from a location's deadline to the outage being declared.\n# TYPE outage_detection_delay_seconds histogram"
        );
        for (i, bound) in DELAY_BUCKETS.iter().enumerate() {
            let _ = writeln!(
                out,
                "outage_detection_delay_seconds_bucket{{le=\"{bound}\"}} {}",
                load(&self.delay_buckets[i])
            );
        }
        let count = load(&self.delay_count);
        let _ = writeln!(
            out,
            "outage_detection_delay_seconds_bucket{{le=\"+Inf\"}} {count}\noutage_detection_delay_seconds_sum {}\noutage_detection_delay_seconds_count {count}",
            load(&self.delay_sum_us) as f64 / 1e6
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_is_cumulative() {
        let m = Metrics::default();
        m.outage_detected(std::time::Duration::from_millis(30));
        m.outage_detected(std::time::Duration::from_millis(700));
        let text = m.render_prometheus(StatusCounts::default(), None);
        assert!(text.contains("outage_detection_delay_seconds_bucket{le=\"0.01\"} 0"));
        assert!(text.contains("outage_detection_delay_seconds_bucket{le=\"0.05\"} 1"));
        assert!(text.contains("outage_detection_delay_seconds_bucket{le=\"1\"} 2"));
        assert!(text.contains("outage_detection_delay_seconds_count 2"));
        assert!(text.contains("outage_outages_detected_total 2"));
    }
}
