//! Retention: the background task that applies `[retention]`. At start and then every
//! `interval` it removes, for each age the operator set, the rows older than it, in batches of
//! at most `batch_size` rows, one transaction per batch, yielding between batches so requests
//! are served in between. Which rows may go is the store's rule ([`Sweep`]): never a pending
//! delivery, an attempt in flight or their events, and an awaiting (unacknowledged) SET only
//! when `awaiting_event_age_secs` asks for it. On PostgreSQL every replica runs this task; the
//! store's row locks make them share the rows instead of racing for them.

use std::time::Duration;

use super::config::RetentionConfig;
use super::domain::Timestamp;
use super::state::AppState;
use super::store::{Store, Sweep};

/// What one round removed, by kind (children removed with their parents not counted).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Removed {
    pub attempts: usize,
    pub deliveries: usize,
    pub events: usize,
    pub awaiting_events: usize,
    /// Transactions (batches) it took.
    pub batches: usize,
}

/// Runs until the sandbox's shutdown token is cancelled; returns at once when no age is set.
pub async fn run(state: AppState) {
    let cfg = state.cfg.retention.clone();
    if !cfg.enabled() {
        return;
    }
    tracing::info!(
        events = ?cfg.events,
        awaiting_events = ?cfg.awaiting_events,
        deliveries = ?cfg.deliveries,
        attempts = ?cfg.attempts,
        interval = ?cfg.interval,
        batch = cfg.batch,
        "retention on"
    );
    loop {
        let removed = sweep(&state.store, &cfg, Timestamp::now(), || {
            state.shutdown.is_cancelled()
        })
        .await;
        if removed.batches > 0 && removed != Removed::default() {
            tracing::info!(
                events = removed.events,
                awaiting_events = removed.awaiting_events,
                deliveries = removed.deliveries,
                attempts = removed.attempts,
                batches = removed.batches,
                "retention removed old rows"
            );
        }
        tokio::select! {
            _ = state.shutdown.cancelled() => return,
            _ = tokio::time::sleep(cfg.interval) => {}
        }
    }
}

/// One round at `now`: each kind whose age is set, batch after batch until a batch comes back
/// short (or `stop()` says the sandbox is stopping). A failed batch is logged and ends that
/// kind's turn; the next round tries again.
pub async fn sweep(
    store: &Store,
    cfg: &RetentionConfig,
    now: Timestamp,
    stop: impl Fn() -> bool,
) -> Removed {
    let mut removed = Removed::default();
    // Children first: what a parent's cascade would take is counted under its own kind.
    let kinds = [
        (Sweep::Attempts, cfg.attempts),
        (Sweep::FinishedDeliveries, cfg.deliveries),
        (Sweep::FinishedEvents, cfg.events),
        (Sweep::AwaitingEvents, cfg.awaiting_events),
    ];
    for (what, age) in kinds {
        let Some(age) = age else { continue };
        let before = cutoff(now, age);
        loop {
            if stop() {
                return removed;
            }
            let n = match store.sweep(what, before, cfg.batch).await {
                Ok(n) => n,
                Err(e) => {
                    tracing::warn!(?what, error = %e, "retention batch failed");
                    break;
                }
            };
            removed.batches += 1;
            *slot(&mut removed, what) += n;
            if n < cfg.batch {
                break;
            }
            tokio::task::yield_now().await;
        }
    }
    removed
}

fn slot(r: &mut Removed, what: Sweep) -> &mut usize {
    match what {
        Sweep::Attempts => &mut r.attempts,
        Sweep::FinishedDeliveries => &mut r.deliveries,
        Sweep::FinishedEvents => &mut r.events,
        Sweep::AwaitingEvents => &mut r.awaiting_events,
    }
}

/// `age` before `now`.
fn cutoff(now: Timestamp, age: Duration) -> Timestamp {
    let ms = i64::try_from(age.as_millis()).unwrap_or(i64::MAX);
    Timestamp::from_millis(now.as_millis().saturating_sub(ms))
}
