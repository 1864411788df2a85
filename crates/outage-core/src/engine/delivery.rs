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
use crate::domain::LocationId;
use crate::metrics::Metrics;
use crate::notify::{AlertKind, DeliveryContext, Notifier, NotifyError};
use crate::store::{OutboxItem, StatusStore, StoreError};

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

/// Most alerts sent as one burst message.
pub const MAX_BURST: u32 = 20;

pub(crate) struct Worker {
    pub store: Arc<dyn StatusStore>,
    pub notifiers: HashMap<String, Arc<dyn Notifier>>,
    pub clock: SharedClock,
    pub metrics: Arc<Metrics>,
    pub wake: Arc<Notify>,
    pub shutdown: CancellationToken,
    /// Whether this instance leads ([`crate::engine::Engine::is_leader`]): a standby claims
    /// nothing from the outbox, and a leader that loses the lead stops between two deliveries.
    pub leading: tokio::sync::watch::Receiver<bool>,
    /// When a message last went to each `(notifier, chat)`, and which locations it was about
    /// (for burst windows).
    pub last_sent: HashMap<(String, String), (DateTime<Utc>, Vec<LocationId>)>,
}

impl Worker {
    pub async fn run(mut self) {
        // How long to wait when the store itself fails.
        const STORE_RETRY: Duration = Duration::from_secs(1);
        loop {
            if self.shutdown.is_cancelled() {
                return;
            }
            if !*self.leading.borrow() {
                let mut leading = self.leading.clone();
                tokio::select! {
                    _ = self.shutdown.cancelled() => return,
                    _ = leading.wait_for(|l| *l) => {}
                }
                continue;
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
            let mut held: Option<DateTime<Utc>> = None;
            let mut progressed = false;
            for item in items {
                if self.shutdown.is_cancelled() {
                    return;
                }
                if !*self.leading.borrow() {
                    break;
                }
                match self.held_until(&item) {
                    Some(t) => held = Some(held.map_or(t, |h| h.min(t))),
                    None => {
                        self.deliver(item).await;
                        progressed = true;
                    }
                }
            }
            if !progressed {
                // Every due head waits for its chat's burst window to pass. Heads of other
                // queues that fall due meanwhile wait at most that long too.
                let now = self.clock.now();
                let due = self
                    .store
                    .next_notification_due()
                    .await
                    .ok()
                    .flatten()
                    .filter(|d| *d > now);
                let at = match (held, due) {
                    (Some(h), Some(d)) => Some(h.min(d)),
                    (h, d) => h.or(d),
                };
                self.sleep(at).await;
            }
        }
    }

    /// Until when a groupable alert waits because its chat got a message about *other*
    /// locations less than the notifier's burst window ago. (A restore right after its own
    /// outage alert is not held: there is nothing to group it with.)
    fn held_until(&self, item: &OutboxItem) -> Option<DateTime<Utc>> {
        if !item.alert.kind.groups_in_bursts() {
            return None;
        }
        let window = self.notifiers.get(&item.notifier)?.burst_window()?;
        let (last, about) = self
            .last_sent
            .get(&(item.notifier.clone(), item.chat.clone()))?;
        if about.contains(&item.alert.location_id) {
            return None;
        }
        let until = *last + td(window);
        (until > self.clock.now()).then_some(until)
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

    /// What the notifier knows about earlier messages of the item's event. A store error is
    /// returned, never read as "no earlier message": that would post a new message where the
    /// live one should have been edited.
    async fn context(&self, item: &OutboxItem) -> Result<DeliveryContext, StoreError> {
        let earlier = match item.alert.event_id {
            Some(ev) => self
                .store
                .message_refs(ev)
                .await?
                .into_iter()
                .filter(|r| r.notifier == item.notifier && r.chat == item.chat)
                .collect(),
            None => vec![],
        };
        Ok(DeliveryContext {
            chat: item.chat.clone(),
            earlier,
        })
    }

    /// Delivers a queue head — together with the groupable alerts waiting behind it when the
    /// notifier sends bursts as one message.
    async fn deliver(&mut self, item: OutboxItem) {
        let Some(notifier) = self.notifiers.get(&item.notifier).cloned() else {
            let msg = format!("notifier `{}` is not configured any more", item.notifier);
            tracing::error!(id = item.id.0, "{msg}");
            let _ = self.store.fail_notification(item.id, &msg).await;
            self.metrics.notification_failed();
            return;
        };
        if self.superseded(&item).await {
            tracing::debug!(id = item.id.0, event = ?item.alert.event_id, "live update superseded by a newer alert; skipped");
            if let Err(e) = self
                .store
                .complete_notification(item.id, None, self.clock.now())
                .await
            {
                tracing::error!(error = %e, id = item.id.0, "cannot record delivery outcome");
            }
            return;
        }
        let mut batch = vec![item];
        if notifier.burst_window().is_some() && batch[0].alert.kind.groups_in_bursts() {
            let head = batch[0].id;
            let queue = self
                .store
                .claim_queue(
                    &batch[0].notifier,
                    &batch[0].chat,
                    self.clock.now(),
                    MAX_BURST,
                )
                .await
                .unwrap_or_default();
            batch.extend(
                queue
                    .into_iter()
                    .skip_while(|r| r.id != head)
                    .skip(1)
                    .take_while(|r| r.alert.kind.groups_in_bursts()),
            );
            // A burst is about several places; one place's outage and restore go the usual way
            // (the restore replies to the outage message).
            let first = batch[0].alert.location_id;
            if batch.iter().all(|i| i.alert.location_id == first) {
                batch.truncate(1);
            }
        }
        let mut pairs = Vec::with_capacity(batch.len());
        for item in &batch {
            match self.context(item).await {
                Ok(ctx) => pairs.push((item.alert.clone(), ctx)),
                Err(e) => {
                    // Retry later, as after a transient delivery failure: nothing was sent, the
                    // rows stay at the head of their queue.
                    tracing::warn!(error = %e, id = item.id.0, "cannot read earlier message ids; delivery postponed");
                    let err =
                        NotifyError::Transient(format!("cannot read earlier message ids: {e}"));
                    let (now, jitter) = (self.clock.now(), rand::rng().random());
                    for item in &batch {
                        self.failed(item, &err, now, jitter).await;
                    }
                    return;
                }
            }
        }
        let result = if let [(alert, ctx)] = pairs.as_slice() {
            notifier.deliver(alert, ctx).await.map(|r| vec![r])
        } else {
            tracing::info!(notifier = %batch[0].notifier, chat = %batch[0].chat, alerts = batch.len(), "sending a burst of alerts as one message");
            notifier.deliver_burst(&pairs).await
        };
        let now = self.clock.now();
        if result.is_ok() {
            let about = batch.iter().map(|i| i.alert.location_id).collect();
            self.last_sent.insert(
                (batch[0].notifier.clone(), batch[0].chat.clone()),
                (now, about),
            );
        }
        match result {
            Ok(refs) => {
                let mut refs = refs.into_iter();
                for item in &batch {
                    self.metrics.notification_sent();
                    let r = refs.next().flatten();
                    if let Err(e) = self
                        .store
                        .complete_notification(item.id, r.as_ref(), now)
                        .await
                    {
                        tracing::error!(error = %e, id = item.id.0, "cannot record delivery outcome");
                    }
                }
            }
            Err(err) => {
                let jitter = rand::rng().random();
                for item in &batch {
                    self.failed(item, &err, now, jitter).await;
                }
            }
        }
    }

    /// A running-duration update with a newer alert about the same outage already waiting
    /// behind it (the queue was blocked, e.g. Telegram was down): sending it would only be
    /// overwritten at once, so it is skipped.
    async fn superseded(&self, item: &OutboxItem) -> bool {
        let (AlertKind::OutageUpdate, Some(event)) = (item.alert.kind, item.alert.event_id) else {
            return false;
        };
        let queue = self
            .store
            .claim_queue(&item.notifier, &item.chat, self.clock.now(), 256)
            .await
            .unwrap_or_default();
        queue
            .iter()
            .skip_while(|r| r.id != item.id)
            .skip(1)
            .any(|r| r.alert.event_id == Some(event))
    }

    /// Records a failed attempt: retry later, or give up.
    async fn failed(&self, item: &OutboxItem, err: &NotifyError, now: DateTime<Utc>, jitter: f64) {
        let outcome = match err {
            NotifyError::RateLimited { retry_after } => {
                self.metrics.notification_retried();
                tracing::info!(notifier = %item.notifier, ?retry_after, "rate limited");
                self.store
                    .retry_notification(item.id, now + td(*retry_after), "rate limited")
                    .await
            }
            NotifyError::Transient(e) => {
                self.metrics.notification_retried();
                let delay = backoff(item.attempts, jitter);
                tracing::warn!(notifier = %item.notifier, attempt = item.attempts + 1, ?delay, error = %e, "delivery failed, will retry");
                self.store
                    .retry_notification(item.id, now + td(delay), e)
                    .await
            }
            NotifyError::Permanent(e) | NotifyError::MessageGone(e) => {
                self.metrics.notification_failed();
                tracing::error!(notifier = %item.notifier, chat = %item.chat, error = %e, "delivery failed permanently; giving up on this notification");
                self.store.fail_notification(item.id, e).await
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
