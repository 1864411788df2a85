//! The batching heartbeat writer: heartbeats are applied in memory at once and persisted here
//! in batches, at most `flush_every` behind. Every flush also records that the monitor is alive,
//! which is how the next start knows how long the monitor was away.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::clock::SharedClock;
use crate::domain::Heartbeat;
use crate::store::StatusStore;

/// Most heartbeats written in one transaction.
pub const MAX_BATCH: usize = 10_000;

/// Heartbeats kept in memory while the database is unavailable before the oldest are dropped.
const MAX_BACKLOG: usize = 200_000;

/// Runs until `shutdown` is cancelled and the channel is drained, then flushes once more.
/// While `leading` is false (a standby instance) batches are relayed to the leader
/// ([`StatusStore::relay_heartbeats`]).
pub async fn run(
    store: Arc<dyn StatusStore>,
    clock: SharedClock,
    mut rx: mpsc::Receiver<Heartbeat>,
    flush_every: Duration,
    shutdown: CancellationToken,
    leading: tokio::sync::watch::Receiver<bool>,
) {
    let relay = || !*leading.borrow();
    let mut batch: Vec<Heartbeat> = Vec::with_capacity(1024);
    let mut tick = tokio::time::interval(flush_every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            _ = tick.tick() => flush(&*store, &clock, &mut batch, relay()).await,
            got = rx.recv() => match got {
                Some(b) => {
                    batch.push(b);
                    if batch.len() >= MAX_BATCH {
                        flush(&*store, &clock, &mut batch, relay()).await;
                    }
                }
                None => break,
            },
        }
    }
    // Take what is still queued, then write it: SIGTERM must not lose accepted heartbeats.
    rx.close();
    while let Ok(b) = rx.try_recv() {
        batch.push(b);
    }
    flush(&*store, &clock, &mut batch, relay()).await;
    if !batch.is_empty() {
        tracing::error!(
            lost = batch.len(),
            "could not persist heartbeats at shutdown"
        );
    }
}

async fn flush(
    store: &dyn StatusStore,
    clock: &SharedClock,
    batch: &mut Vec<Heartbeat>,
    relay: bool,
) {
    let now = clock.now();
    for chunk_end in (0..batch.len().max(1)).step_by(MAX_BATCH) {
        let end = (chunk_end + MAX_BATCH).min(batch.len());
        let chunk = &batch[chunk_end..end];
        let written = if relay {
            store.relay_heartbeats(chunk, now).await
        } else {
            store.record_heartbeats(chunk, now).await
        };
        if let Err(e) = written {
            tracing::warn!(error = %e, pending = batch.len(), "heartbeat batch not written; will retry");
            batch.drain(..chunk_end);
            if batch.len() > MAX_BACKLOG {
                let drop = batch.len() - MAX_BACKLOG;
                tracing::error!(
                    dropped = drop,
                    "database unavailable too long: dropping oldest raw heartbeats"
                );
                batch.drain(..drop);
            }
            return;
        }
    }
    batch.clear();
}
