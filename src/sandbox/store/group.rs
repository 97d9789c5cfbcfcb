//! Group commit: the sandbox's hot writes (a trigger's events, a push attempt's outcome) are
//! queued to one writer task, which commits whatever is waiting in one transaction, each
//! write inside a savepoint of its own ([`Store::apply_writes`]). A caller is
//! answered only once the transaction holding its write has committed, so nothing is
//! acknowledged before it is durable; a write that fails (a bound reached, a guard that no
//! longer holds) rolls back alone and its caller gets its own error.
//!
//! Why: each transaction costs a commit and rewrites the pages it touched (WAL frames on
//! SQLite, a WAL flush and a round trip on PostgreSQL). Under load many writes wait at once
//! and share one; when the writer is idle a write goes alone, so a quiet sandbox adds only
//! the hop to the writer task. The queue is bounded: callers wait for room rather than
//! growing it.

use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::{Result, Store, StoreError, Write};
use crate::sandbox::domain::{Attempt, AttemptVerdict, ConsentStatusChange, DeliveryId, NewEvent};

/// Writes waiting for the writer at most; senders wait beyond it.
const QUEUE: usize = 1_024;
/// Writes committed in one transaction at most.
const MAX_WRITES: usize = 256;
/// Events in one transaction at most (a bulk trigger goes alone).
const MAX_EVENTS: usize = 512;

struct Pending {
    write: Write,
    reply: oneshot::Sender<Result<bool>>,
}

/// Handle to the writer task; cheap to clone.
#[derive(Clone)]
pub struct GroupCommit {
    queue: mpsc::Sender<Pending>,
    closing: CancellationToken,
    writer: Arc<Mutex<Option<tokio::task::JoinHandle<()>>>>,
}

impl std::fmt::Debug for GroupCommit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GroupCommit")
    }
}

impl GroupCommit {
    /// Starts the writer over `store` (must run inside a tokio runtime).
    pub fn start(store: Store) -> GroupCommit {
        let (queue, rx) = mpsc::channel(QUEUE);
        let closing = CancellationToken::new();
        let writer = tokio::spawn(write_loop(store, rx, closing.clone()));
        GroupCommit {
            queue,
            closing,
            writer: Arc::new(Mutex::new(Some(writer))),
        }
    }

    /// Commits what one trigger did (see [`Store::commit_trigger`]): false when the consent
    /// status change's guard no longer held, and then nothing of it was stored.
    pub async fn commit_trigger(
        &self,
        change: Option<ConsentStatusChange>,
        events: Arc<[NewEvent]>,
    ) -> Result<bool> {
        self.submit(Write::Trigger { change, events }).await
    }

    /// Records an attempt's outcome (see [`Store::record_attempt`]).
    pub async fn record_attempt(
        &self,
        delivery_id: DeliveryId,
        attempt: Attempt,
        verdict: AttemptVerdict,
    ) -> Result<()> {
        self.submit(Write::RecordAttempt {
            delivery_id,
            attempt,
            verdict,
        })
        .await
        .map(drop)
    }

    async fn submit(&self, write: Write) -> Result<bool> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Pending { write, reply })
            .await
            .map_err(|_| stopping())?;
        answer.await.map_err(|_| stopping())?
    }

    /// Lets the writer commit what is queued and end; later writes are refused. Returns once
    /// it has ended (so the database handle it holds is released).
    pub async fn close(&self) {
        self.closing.cancel();
        let writer = self.writer.lock().ok().and_then(|mut w| w.take());
        if let Some(w) = writer {
            let _ = w.await;
        }
    }
}

fn stopping() -> StoreError {
    StoreError::Open("the sandbox is stopping: the write was not stored".into())
}

async fn write_loop(store: Store, mut rx: mpsc::Receiver<Pending>, closing: CancellationToken) {
    loop {
        let first = tokio::select! {
            biased;
            p = rx.recv() => p,
            _ = closing.cancelled() => {
                // Refuse new writes, then commit the ones already queued.
                rx.close();
                rx.recv().await
            }
        };
        let Some(first) = first else { return };
        let mut events = first.write.events();
        let mut batch = vec![first];
        while batch.len() < MAX_WRITES && events < MAX_EVENTS {
            match rx.try_recv() {
                Ok(p) => {
                    events += p.write.events();
                    batch.push(p);
                }
                Err(_) => break,
            }
        }
        let (writes, replies): (Vec<Write>, Vec<_>) =
            batch.into_iter().map(|p| (p.write, p.reply)).unzip();
        let count = writes.len();
        match store.apply_batch(writes).await {
            Ok(results) => {
                for (reply, r) in replies.into_iter().zip(results) {
                    let _ = reply.send(r);
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, writes = count, "a group commit failed; none of its writes were stored");
                let shared = Arc::new(e);
                for reply in replies {
                    let _ = reply.send(Err(StoreError::Batch(Arc::clone(&shared))));
                }
            }
        }
    }
}
