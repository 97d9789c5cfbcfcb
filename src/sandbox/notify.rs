//! Per-TPP wake-ups for long polls (R8936-08): a poll with nothing to return waits on its TPP's
//! [`Notify`]; storing an event for that TPP wakes every such waiter at once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

/// The wake-up registry. Entries are never removed: there is one per TPP that ever polled or
/// received an event, a few dozen bytes each.
#[derive(Debug, Default)]
pub struct Notifier {
    waiters: Mutex<HashMap<String, Arc<Notify>>>,
}

impl Notifier {
    /// The [`Notify`] of `client_id`, created on first use.
    pub fn of(&self, client_id: &str) -> Arc<Notify> {
        let mut map = self.waiters.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(client_id.to_string()).or_default().clone()
    }

    /// Wakes every long poll of `client_id` that is waiting now. A poll registers its interest
    /// (`Notified::enable`) before it reads the store, so an event stored between that read and
    /// the wait is not missed.
    pub fn wake(&self, client_id: &str) {
        let existing = {
            let map = self.waiters.lock().unwrap_or_else(|p| p.into_inner());
            map.get(client_id).cloned()
        };
        if let Some(n) = existing {
            n.notify_waiters();
        }
    }

    /// Wakes every waiting long poll, whatever its TPP: each re-reads the store and waits again
    /// if it still has nothing. Used when cross-replica notices may have been missed.
    pub fn wake_all(&self) {
        let all: Vec<Arc<Notify>> = {
            let map = self.waiters.lock().unwrap_or_else(|p| p.into_inner());
            map.values().cloned().collect()
        };
        for n in all {
            n.notify_waiters();
        }
    }
}
