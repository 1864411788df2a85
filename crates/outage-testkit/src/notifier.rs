//! Notifiers for tests: [`RecordingNotifier`] remembers every delivery and can be told to fail.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use outage_core::domain::MessageRef;
use outage_core::notify::{Alert, DeliveryContext, Notifier, NotifyError};

/// One recorded delivery.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    /// The alert.
    pub alert: Alert,
    /// The context it came with.
    pub ctx: DeliveryContext,
}

#[derive(Debug, Default)]
struct State {
    delivered: Vec<Delivery>,
    attempts: Vec<Alert>,
    attempt_times: Vec<tokio::time::Instant>,
    faults: VecDeque<NotifyError>,
    /// Sizes of the messages sent: 1 per single delivery, n per burst of n.
    messages: Vec<usize>,
}

/// Records deliveries; queued faults are returned (one per attempt) before deliveries succeed.
#[derive(Debug, Clone, Default)]
pub struct RecordingNotifier {
    name: String,
    state: Arc<Mutex<State>>,
    burst_window: Option<std::time::Duration>,
}

impl RecordingNotifier {
    /// A recorder named `name` (the outbox queue name).
    pub fn new(name: &str) -> Self {
        Self {
            name: name.into(),
            state: Arc::default(),
            burst_window: None,
        }
    }

    /// A recorder that groups bursts of alerts per chat (see `Notifier::burst_window`).
    pub fn with_burst_window(name: &str, window: std::time::Duration) -> Self {
        Self {
            burst_window: Some(window),
            ..Self::new(name)
        }
    }

    /// How many alerts each message carried, in order (1 for a single alert).
    pub fn message_sizes(&self) -> Vec<usize> {
        self.lock().messages.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Makes the next attempt fail with `e` (queue several for several attempts).
    pub fn fail_next(&self, e: NotifyError) {
        self.lock().faults.push_back(e);
    }

    /// Successful deliveries so far.
    pub fn delivered(&self) -> Vec<Delivery> {
        self.lock().delivered.clone()
    }

    /// Every attempt, failed or not.
    pub fn attempts(&self) -> Vec<Alert> {
        self.lock().attempts.clone()
    }

    /// When each attempt happened (tokio's clock, so exact under paused time).
    pub fn attempt_times(&self) -> Vec<tokio::time::Instant> {
        self.lock().attempt_times.clone()
    }

    /// Kinds of the successful deliveries, in order.
    pub fn kinds(&self) -> Vec<outage_core::AlertKind> {
        self.lock().delivered.iter().map(|d| d.alert.kind).collect()
    }
}

#[async_trait]
impl Notifier for RecordingNotifier {
    fn name(&self) -> &str {
        &self.name
    }

    async fn deliver(
        &self,
        alert: &Alert,
        ctx: &DeliveryContext,
    ) -> Result<Option<MessageRef>, NotifyError> {
        let mut g = self.lock();
        g.attempts.push(alert.clone());
        g.attempt_times.push(tokio::time::Instant::now());
        if let Some(e) = g.faults.pop_front() {
            return Err(e);
        }
        g.delivered.push(Delivery {
            alert: alert.clone(),
            ctx: ctx.clone(),
        });
        g.messages.push(1);
        Ok(Some(MessageRef {
            notifier: self.name.clone(),
            chat: ctx.chat.clone(),
            message_id: g.delivered.len().to_string(),
        }))
    }

    fn burst_window(&self) -> Option<std::time::Duration> {
        self.burst_window
    }

    async fn deliver_burst(
        &self,
        alerts: &[(Alert, DeliveryContext)],
    ) -> Result<Vec<Option<MessageRef>>, NotifyError> {
        let mut g = self.lock();
        for (a, _) in alerts {
            g.attempts.push(a.clone());
            g.attempt_times.push(tokio::time::Instant::now());
        }
        if let Some(e) = g.faults.pop_front() {
            return Err(e);
        }
        for (alert, ctx) in alerts {
            g.delivered.push(Delivery {
                alert: alert.clone(),
                ctx: ctx.clone(),
            });
        }
        g.messages.push(alerts.len());
        let id = format!("burst-{}", g.messages.len());
        Ok(alerts
            .iter()
            .map(|(_, ctx)| {
                Some(MessageRef {
                    notifier: self.name.clone(),
                    chat: ctx.chat.clone(),
                    message_id: id.clone(),
                })
            })
            .collect())
    }
}
