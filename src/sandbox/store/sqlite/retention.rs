//! SQLite: how much the store keeps. The per-TPP bounds are checked inside the transaction
//! that inserts (events against `tpp_event_counts`, kept in the same transactions that insert
//! and delete events; subscriptions by counting), and the retention sweeps delete old rows
//! one bounded batch per transaction, children with their parents by the foreign keys'
//! `ON DELETE CASCADE`. One connection serialises every writer, so a check and its insert
//! cannot interleave with another's.

use rusqlite::{Connection, OptionalExtension, Params, params};

use super::{SqliteStore, unless_unique};
use crate::sandbox::domain::{Bound, ClientId, NewEvent, Timestamp};
use crate::sandbox::store::schema::{delivery_state, event_state, sql};
use crate::sandbox::store::{Result, Sweep, per_client, within};

/// Counts `events` to their TPPs; `Err` (the caller's transaction then rolls back) when one
/// goes past `max`.
pub(super) fn count_events(tx: &Connection, events: &[NewEvent], max: Option<u64>) -> Result<()> {
    let mut add = tx.prepare_cached(
        "INSERT INTO tpp_event_counts (client_id, stored) VALUES (?1, ?2)
         ON CONFLICT (client_id) DO UPDATE SET stored = stored + excluded.stored
         RETURNING stored",
    )?;
    for (client, n) in per_client(events) {
        let stored: i64 = add.query_row(params![client, n], |r| r.get(0))?;
        within(client, Bound::StoredEvents, stored, max)?;
    }
    Ok(())
}

/// Takes `gone` deleted events off their TPPs' counts.
fn uncount(conn: &Connection, gone: &[String]) -> Result<()> {
    let mut per: std::collections::BTreeMap<&str, i64> = Default::default();
    for c in gone {
        *per.entry(c.as_str()).or_insert(0) += 1;
    }
    let mut sub = conn
        .prepare_cached("UPDATE tpp_event_counts SET stored = stored - ?2 WHERE client_id = ?1")?;
    for (client, n) in per {
        sub.execute(params![client, n])?;
    }
    Ok(())
}

/// Deletes the events `delete` (a `DELETE … RETURNING client_id`) selects, off the counts.
pub(super) fn delete_events(conn: &Connection, delete: &str, p: impl Params) -> Result<usize> {
    let gone: Vec<String> = conn
        .prepare_cached(delete)?
        .query_map(p, |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    uncount(conn, &gone)?;
    Ok(gone.len())
}

/// Finished events of the sweep: no pending delivery, no attempt in flight.
const IDLE: &str = sql!(
    "NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_seq = e.seq AND (d.state = ",
    delivery_state::PENDING,
    " OR EXISTS (SELECT 1 FROM delivery_attempts a WHERE a.delivery_id = d.id AND a.in_flight = 1)))"
);

const SWEEP_FINISHED_EVENTS: &str = sql!(
    "DELETE FROM events WHERE seq IN (SELECT e.seq FROM events e WHERE e.state <> ",
    event_state::AWAITING,
    " AND e.created_at < ?1 AND ",
    IDLE,
    " ORDER BY e.created_at LIMIT ?2) RETURNING client_id"
);

const SWEEP_AWAITING_EVENTS: &str = sql!(
    "DELETE FROM events WHERE seq IN (SELECT e.seq FROM events e WHERE e.state = ",
    event_state::AWAITING,
    " AND e.created_at < ?1 AND ",
    IDLE,
    " ORDER BY e.created_at LIMIT ?2) RETURNING client_id"
);

const SWEEP_DELIVERIES: &str = sql!(
    "DELETE FROM deliveries WHERE id IN (SELECT d.id FROM deliveries d WHERE d.state <> ",
    delivery_state::PENDING,
    " AND d.updated_at < ?1 AND NOT EXISTS (SELECT 1 FROM delivery_attempts a
       WHERE a.delivery_id = d.id AND a.in_flight = 1)
     ORDER BY d.updated_at LIMIT ?2)"
);

const SWEEP_ATTEMPTS: &str = "DELETE FROM delivery_attempts WHERE id IN (SELECT id
     FROM delivery_attempts WHERE in_flight = 0 AND started_at < ?1 ORDER BY started_at LIMIT ?2)";

impl SqliteStore {
    /// Runs `insert` (one subscription of any kind for `client`) and checks the TPP's bound
    /// of subscriptions in the same transaction: false when a unique index refused the row.
    pub(super) fn insert_bounded(
        &self,
        client: &str,
        insert: &str,
        p: impl Params,
    ) -> Result<bool> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        if !unless_unique(tx.execute(insert, p))? {
            return Ok(false);
        }
        if let Some(max) = self.bounds.max_subscriptions {
            let n: i64 = tx
                .prepare_cached(
                    "SELECT (SELECT COUNT(*) FROM event_subscriptions WHERE client_id = ?1)
                          + (SELECT COUNT(*) FROM callback_urls WHERE client_id = ?1)
                          + (SELECT COUNT(*) FROM yapily_subscriptions WHERE client_id = ?1)",
                )?
                .query_row([client], |r| r.get(0))?;
            within(client, Bound::Subscriptions, n, Some(max))?;
        }
        tx.commit()?;
        Ok(true)
    }

    pub fn stored_events(&self, client_id: &ClientId) -> Result<u64> {
        let n: Option<i64> = self
            .lock()
            .prepare_cached("SELECT stored FROM tpp_event_counts WHERE client_id = ?1")?
            .query_row([client_id.as_str()], |r| r.get(0))
            .optional()?;
        Ok(n.map_or(0, |n| u64::try_from(n).unwrap_or(0)))
    }

    pub fn sweep(&self, what: Sweep, before: Timestamp, limit: usize) -> Result<usize> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let n = match what {
            Sweep::FinishedEvents => {
                delete_events(&tx, SWEEP_FINISHED_EVENTS, params![before.as_secs(), limit])?
            }
            Sweep::AwaitingEvents => {
                delete_events(&tx, SWEEP_AWAITING_EVENTS, params![before.as_secs(), limit])?
            }
            Sweep::FinishedDeliveries => tx
                .prepare_cached(SWEEP_DELIVERIES)?
                .execute(params![before.as_millis(), limit])?,
            Sweep::Attempts => tx
                .prepare_cached(SWEEP_ATTEMPTS)?
                .execute(params![before.as_millis(), limit])?,
        };
        tx.commit()?;
        Ok(n)
    }
}
