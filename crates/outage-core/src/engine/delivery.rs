//! The delivery worker: takes due rows from the outbox, hands them to their notifier, and
//! records the outcome. The retry policy is carried by the error ([`NotifyError`]).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use rand::Rng;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::clock::{SharedClock, until};
use crate::metrics::Metrics;
use crate::notify::{DeliveryContext, Notifier, NotifyError};
use crate::store::{OutboxItem, StatusStore};

/// First retry delay after a transient failure.
pub const BACKOFF_BASE: Duration = Duration::from_secs(2);
/// Longest retry delay.
pub const BACKOFF_CAP: Duration = Duration::from_secs(300);

/// Delay before attempt `attempts + 1`: exponential from [`BACKOFF_BASE`], capped at
/// [`BACKOFF_CAP`], with up to 20 % random jitter so many queues do not retry in lockstep.
pub fn backoff(attempts: u32, jitter: f64) -> Duration {
    let exp = BACKOFF_BASE.saturating_mul(1u32 << attempts.min(16));
    let base = exp.min(BACKOFF_CAP);
    base.mul_f64(1.0 + 0.2 * jitter.clamp(0.0, 1.0))
        .min(BACKOFF_CAP)
}

pub(crate) struct Worker {
    pub store: Arc<dyn StatusStore>,
    pub notifiers: HashMap<String, Arc<dyn Notifier>>,
    pub clock: SharedClock,
    pub metrics: Arc<Metrics>,
    pub wake: Arc<Notify>,
    pub shutdown: CancellationToken,
}

impl Worker {
    pub async fn run(self) {
        // How long to wait when the store itself fails.
        const STORE_RETRY: Duration = Duration::from_secs(1);
        loop {
            if self.shutdown.is_cancelled() {
                return;
            }
            let now = self.clock.now();
            let items = match self.store.claim_notifications(now, 64).await {
                Ok(items) => items,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the outbox");
                    self.sleep(Some(now + td(STORE_RETRY))).await;
                    continue;
                }
            };
            if items.is_empty() {
                let due = self.store.next_notification_due().await.ok().flatten();
                self.sleep(due).await;
                continue;
            }
            for item in items {
                if self.shutdown.is_cancelled() {
                    return;
                }
                self.deliver(item).await;
            }
        }
    }

    async fn sleep(&self, until_at: Option<DateTime<Utc>>) {
        let wait = until_at.map(|at| until(self.clock.now(), at));
        tokio::select! {
            _ = self.shutdown.cancelled() => {}
            _ = self.wake.notified() => {}
            _ = async {
                match wait {
                    Some(d) => tokio::time::sleep(d).await,
                    None => std::future::pending::<()>().await,
                }
            } => {}
        }
    }

    async fn deliver(&self, item: OutboxItem) {
        let Some(notifier) = self.notifiers.get(&item.notifier) else {
            let msg = format!("notifier `{}` is not configured any more", item.notifier);
            tracing::error!(id = item.id.0, "{msg}");
            let _ = self.store.fail_notification(item.id, &msg).await;
            self.metrics.notification_failed();
            return;
        };
        let earlier = match item.alert.event_id {
            Some(ev) => self
                .store
                .message_refs(ev)
                .await
                .unwrap_or_default()
                .into_iter()
                .filter(|r| r.notifier == item.notifier && r.chat == item.chat)
                .collect(),
            None => vec![],
        };
        let ctx = DeliveryContext {
            chat: item.chat.clone(),
            earlier,
        };
        let result = notifier.deliver(&item.alert, &ctx).await;
        let now = self.clock.now();
        let outcome = match result {
            Ok(r) => {
                self.metrics.notification_sent();
                self.store
                    .complete_notification(item.id, r.as_ref(), now)
                    .await
            }
            Err(NotifyError::RateLimited { retry_after }) => {
                self.metrics.notification_retried();
                tracing::info!(notifier = %item.notifier, ?retry_after, "rate limited");
                self.store
                    .retry_notification(item.id, now + td(retry_after), "rate limited")
                    .await
            }
            Err(NotifyError::Transient(e)) => {
                self.metrics.notification_retried();
                let delay = backoff(item.attempts, rand::rng().random());
                tracing::warn!(notifier = %item.notifier, attempt = item.attempts + 1, ?delay, error = %e, "delivery failed, will retry");
                self.store
                    .retry_notification(item.id, now + td(delay), &e)
                    .await
            }
            Err(NotifyError::Permanent(e) | NotifyError::MessageGone(e)) => {
                self.metrics.notification_failed();
                tracing::error!(notifier = %item.notifier, chat = %item.chat, error = %e, "delivery failed permanently; giving up on this notification");
                self.store.fail_notification(item.id, &e).await
            }
        };
        if let Err(e) = outcome {
            tracing::error!(error = %e, id = item.id.0, "cannot record delivery outcome");
        }
    }
}

fn td(d: Duration) -> TimeDelta {
    TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(backoff(0, 0.0), Duration::from_secs(2));
        assert_eq!(backoff(1, 0.0), Duration::from_secs(4));
        assert_eq!(backoff(3, 0.0), Duration::from_secs(16));
        assert_eq!(backoff(30, 1.0), BACKOFF_CAP);
        assert!(backoff(2, 1.0) > backoff(2, 0.0));
    }
}
