//! The TPPs whose polling queue the SQLite engine knows to be empty, so the commonest poll of
//! all — a TPP asking again with nothing new — is answered without a statement.
//!
//! Sound because the engine is the database's only user (exclusive locking, one connection)
//! and a row enters the polling queue only through `writes::insert_event`: a client is marked
//! quiet only by a committed scoped read that found nothing awaiting, and every trigger
//! unmarks the clients of its events before its transaction starts. Both happen under the
//! connection's lock, so no read can see a mark that a write in between made stale. Rolled
//! back triggers leave clients unmarked, which only costs the next poll its statement.
//! PostgreSQL keeps no such set: other replicas insert rows this process never sees.

use std::collections::HashSet;
use std::sync::Mutex;

use crate::sandbox::domain::{ClientId, PollBatch, PollOps};

/// At most this many quiet clients are remembered; past it the set starts again (a cleared
/// set is always correct, only slower).
const MAX_QUIET: usize = 100_000;

/// Clients with nothing awaiting. Locked only while the connection's lock is held.
#[derive(Default)]
pub(super) struct QuietClients(Mutex<HashSet<ClientId>>);

impl QuietClients {
    fn set(&self) -> std::sync::MutexGuard<'_, HashSet<ClientId>> {
        // Only plain set operations run under this lock: a poisoned one is still whole.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The answer to `ops` when its client is known quiet: nothing, and nothing more.
    pub(super) fn known_empty(&self, ops: &PollOps<'_>) -> Option<PollBatch> {
        (ops.scope_select && self.set().contains(ops.client_id)).then(PollBatch::default)
    }

    /// Remembers `ops`'s client as quiet when `batch`, read and committed under the
    /// connection's lock, found nothing awaiting for it alone.
    pub(super) fn observe(&self, ops: &PollOps<'_>, batch: &PollBatch) {
        if !ops.scope_select || !batch.sets.is_empty() || batch.more_available {
            return;
        }
        let mut set = self.set();
        if set.len() >= MAX_QUIET {
            set.clear();
        }
        if !set.contains(ops.client_id) {
            set.insert(ops.client_id.clone());
        }
    }

    /// Forgets the clients that `clients` may queue events for.
    pub(super) fn unmark<'a>(&self, clients: impl IntoIterator<Item = &'a ClientId>) {
        let mut set = self.set();
        if set.is_empty() {
            return;
        }
        for c in clients {
            set.remove(c);
        }
    }
}
