//! Group commit of state transitions.
//!
//! A heartbeat that changes a location's state (most often `unknown → up`, for every device
//! after a restart) must be written before it is answered. One transaction each capped the
//! restart herd at about 1 100–1 600 first beats per second on SQLite (BENCHMARKS.md, cause 1).
//! The committer takes every transition waiting at that moment and writes them in **one**
//! transaction ([`StatusStore::apply_transitions`]), then answers each waiting handler.
//!
//! - Order: each location has at most one transition in flight (its handler holds the
//!   location's lock while it waits), so a batch never reorders one location's history.
//! - Transitions that open an outage need the new event's id back, so they are written on their
//!   own ([`StatusStore::apply_transition`]).
//! - If a batch fails (one location was deleted meanwhile, say), each of its transitions is
//!   retried on its own, so one bad transition fails only its own heartbeat.
//! - On shutdown it writes what is already queued, then refuses new work.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::domain::EventId;
use crate::store::{EventChange, StatusStore, StoreError, Transition};

/// Most transitions written in one transaction.
pub const MAX_BATCH: usize = 512;

type Reply = oneshot::Sender<Result<Option<EventId>, StoreError>>;

struct Job {
    transition: Transition,
    reply: Reply,
}

/// Hands transitions to the committer task.
#[derive(Debug, Clone)]
pub(crate) struct Committer {
    tx: mpsc::Sender<Job>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job")
            .field("location", &self.transition.location_id)
            .finish_non_exhaustive()
    }
}

fn stopping() -> StoreError {
    StoreError::Unavailable("the monitor is shutting down".into())
}

impl Committer {
    /// A committer and the task that writes for it.
    pub(crate) fn start(
        store: Arc<dyn StatusStore>,
        shutdown: CancellationToken,
    ) -> (Committer, impl std::future::Future<Output = ()>) {
        let (tx, rx) = mpsc::channel(MAX_BATCH * 4);
        (Committer { tx }, run(store, rx, shutdown))
    }

    /// Writes `t` (together with whatever else is waiting) and returns the id of the event it
    /// opened, if any.
    pub(crate) async fn commit(&self, t: Transition) -> Result<Option<EventId>, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Job {
                transition: t,
                reply,
            })
            .await
            .map_err(|_| stopping())?;
        answer.await.map_err(|_| stopping())?
    }
}

async fn run(
    store: Arc<dyn StatusStore>,
    mut rx: mpsc::Receiver<Job>,
    shutdown: CancellationToken,
) {
    loop {
        let first = tokio::select! {
            biased;
            job = rx.recv() => job,
            () = shutdown.cancelled() => None,
        };
        let Some(first) = first else { break };
        let mut jobs = vec![first];
        while jobs.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        write(&*store, jobs).await;
    }
    // Shutting down: write what is already queued, then refuse the rest.
    rx.close();
    let mut rest = Vec::new();
    while let Ok(j) = rx.try_recv() {
        rest.push(j);
    }
    if !rest.is_empty() {
        write(&*store, rest).await;
    }
}

async fn write(store: &dyn StatusStore, jobs: Vec<Job>) {
    let (opening, plain): (Vec<Job>, Vec<Job>) = jobs
        .into_iter()
        .partition(|j| matches!(j.transition.event, EventChange::Open { .. }));
    for j in opening {
        let r = store.apply_transition(&j.transition).await;
        let _ = j.reply.send(r);
    }
    match plain.len() {
        0 => {}
        1 => {
            for j in plain {
                let r = store.apply_transition(&j.transition).await;
                let _ = j.reply.send(r);
            }
        }
        n => {
            let ts: Vec<Transition> = plain.iter().map(|j| j.transition.clone()).collect();
            match store.apply_transitions(&ts).await {
                Ok(()) => {
                    tracing::trace!(transitions = n, "group commit");
                    for j in plain {
                        let _ = j.reply.send(Ok(None));
                    }
                }
                Err(e) => {
                    tracing::debug!(transitions = n, error = %e, "group commit failed; writing one by one");
                    for j in plain {
                        let r = store.apply_transition(&j.transition).await;
                        let _ = j.reply.send(r);
                    }
                }
            }
        }
    }
}
