//! PostgreSQL: how much the store keeps, safe with several replicas. The per-TPP bounds are
//! checked inside the transaction that inserts: events against `tpp_event_counts`, whose row
//! a commit updates (and so locks until it ends), which serialises one TPP's commits on every
//! replica; subscriptions by counting under a transaction-scoped advisory lock per TPP. The
//! retention sweeps delete one bounded batch per transaction and take their rows with
//! `FOR UPDATE SKIP LOCKED`, so replicas sweeping at once share the rows instead of waiting
//! on each other; children go with their parents by the foreign keys' `ON DELETE CASCADE`.

use std::collections::BTreeMap;

use deadpool_postgres::GenericClient;
use tokio_postgres::types::ToSql;

use super::{PgStore, unless_unique};
use crate::sandbox::domain::{Bound, ClientId, NewEvent, Timestamp};
use crate::sandbox::store::schema::{delivery_state, event_state, sql};
use crate::sandbox::store::{Result, Sweep, per_client, within};

/// First key of the advisory lock a subscription insert takes per TPP (the second is a hash
/// of the client id); the two-key space never meets the migration lock's one-key space.
const SUBSCRIPTIONS_LOCK: i32 = 0x6f62_7375;

/// Counts `events` to their TPPs, in client-id order; `Err` (the caller's transaction then
/// rolls back) when one goes past `max`. The updated row stays locked until the caller's
/// transaction ends, so a concurrent commit for the same TPP counts on top of this one.
pub(super) async fn count_events(
    tx: &impl GenericClient,
    events: &[NewEvent],
    max: Option<u64>,
) -> Result<()> {
    let add = tx
        .prepare_cached(
            "INSERT INTO tpp_event_counts (client_id, stored) VALUES ($1, $2)
             ON CONFLICT (client_id) DO UPDATE SET stored = tpp_event_counts.stored + excluded.stored
             RETURNING stored",
        )
        .await?;
    for (client, n) in per_client(events) {
        let stored: i64 = tx.query_one(&add, &[&client, &n]).await?.try_get(0)?;
        within(client, Bound::StoredEvents, stored, max)?;
    }
    Ok(())
}

/// Deletes the events `delete` (a `DELETE … RETURNING client_id`) selects and takes them off
/// their TPPs' counts, in client-id order.
pub(super) async fn delete_events(
    tx: &impl GenericClient,
    delete: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<usize> {
    let gone = tx.query(delete, params).await?;
    let mut per: BTreeMap<String, i64> = BTreeMap::new();
    for r in &gone {
        *per.entry(r.try_get::<_, String>(0)?).or_insert(0) += 1;
    }
    for (client, n) in per {
        tx.execute(
            "UPDATE tpp_event_counts SET stored = stored - $2 WHERE client_id = $1",
            &[&client, &n],
        )
        .await?;
    }
    Ok(gone.len())
}

/// Finished events of the sweep: no pending delivery, no attempt in flight.
const IDLE: &str = sql!(
    "NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_seq = e.seq AND (d.state = ",
    delivery_state::PENDING,
    " OR EXISTS (SELECT 1 FROM delivery_attempts a WHERE a.delivery_id = d.id AND a.in_flight)))"
);

const FINISHED_EVENTS: &str = sql!(
    "SELECT e.seq FROM events e WHERE e.state <> ",
    event_state::AWAITING,
    " AND e.created_at < $1 AND ",
    IDLE,
    " ORDER BY e.created_at LIMIT $2 FOR UPDATE SKIP LOCKED"
);

const AWAITING_EVENTS: &str = sql!(
    "SELECT e.seq FROM events e WHERE e.state = ",
    event_state::AWAITING,
    " AND e.created_at < $1 AND ",
    IDLE,
    " ORDER BY e.created_at LIMIT $2 FOR UPDATE SKIP LOCKED"
);

/// Of the locked candidates, those that gained work since they were chosen.
const BUSY_EVENTS: &str = sql!(
    "SELECT DISTINCT e.seq FROM events e WHERE e.seq = ANY($1) AND NOT ",
    IDLE
);

const SWEEP_DELIVERIES: &str = sql!(
    "DELETE FROM deliveries WHERE id IN (SELECT d.id FROM deliveries d WHERE d.state <> ",
    delivery_state::PENDING,
    " AND d.updated_at < $1 AND NOT EXISTS (SELECT 1 FROM delivery_attempts a
       WHERE a.delivery_id = d.id AND a.in_flight)
     ORDER BY d.updated_at LIMIT $2 FOR UPDATE SKIP LOCKED)"
);

const SWEEP_ATTEMPTS: &str = "DELETE FROM delivery_attempts WHERE id IN (SELECT id
     FROM delivery_attempts WHERE NOT in_flight AND started_at < $1
     ORDER BY started_at LIMIT $2 FOR UPDATE SKIP LOCKED)";

impl PgStore {
    /// Runs `insert` (one subscription of any kind for `client`) and checks the TPP's bound
    /// of subscriptions in the same transaction, under the TPP's advisory lock so two inserts
    /// on two replicas cannot both see room for one: false when a unique index refused it.
    pub(super) async fn insert_bounded(
        &self,
        client: &str,
        insert: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<bool> {
        let mut c = self.conn().await?;
        let tx = c.transaction().await?;
        let max = self.bounds.max_subscriptions;
        if max.is_some() {
            tx.execute(
                "SELECT pg_advisory_xact_lock($1, hashtext($2))",
                &[&SUBSCRIPTIONS_LOCK, &client],
            )
            .await?;
        }
        // A refused insert aborts the transaction; dropping it rolls back.
        if !unless_unique(tx.execute(insert, params).await)? {
            return Ok(false);
        }
        if max.is_some() {
            let n: i64 = tx
                .query_one(
                    "SELECT (SELECT COUNT(*) FROM event_subscriptions WHERE client_id = $1)
                          + (SELECT COUNT(*) FROM callback_urls WHERE client_id = $1)
                          + (SELECT COUNT(*) FROM yapily_subscriptions WHERE client_id = $1)",
                    &[&client],
                )
                .await?
                .try_get(0)?;
            within(client, Bound::Subscriptions, n, max)?;
        }
        tx.commit().await?;
        Ok(true)
    }

    pub async fn stored_events(&self, client_id: &ClientId) -> Result<u64> {
        let row = self
            .conn()
            .await?
            .query_opt(
                "SELECT stored FROM tpp_event_counts WHERE client_id = $1",
                &[&client_id.as_str()],
            )
            .await?;
        let n: i64 = match row {
            Some(r) => r.try_get(0)?,
            None => 0,
        };
        Ok(u64::try_from(n).unwrap_or(0))
    }

    pub async fn sweep(&self, what: Sweep, before: Timestamp, limit: usize) -> Result<usize> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut c = self.conn().await?;
        let tx = c.transaction().await?;
        let n = match what {
            Sweep::FinishedEvents => sweep_events(&tx, FINISHED_EVENTS, before, limit).await?,
            Sweep::AwaitingEvents => sweep_events(&tx, AWAITING_EVENTS, before, limit).await?,
            Sweep::FinishedDeliveries => {
                tx.execute(SWEEP_DELIVERIES, &[&before.as_millis(), &limit])
                    .await? as usize
            }
            Sweep::Attempts => {
                tx.execute(SWEEP_ATTEMPTS, &[&before.as_millis(), &limit])
                    .await? as usize
            }
        };
        tx.commit().await?;
        Ok(n)
    }
}

/// One batch of events: the candidates `select` locks (skipping rows other sweeps hold), then
/// their deliveries, locked so no retry or attempt can start on them; a candidate that gained
/// a pending delivery or an attempt in flight before that (seen by a fresh statement, which
/// reads what committed meanwhile) is left; the rest go, off their TPPs' counts.
async fn sweep_events(
    tx: &impl GenericClient,
    select: &str,
    before: Timestamp,
    limit: i64,
) -> Result<usize> {
    let mut seqs: Vec<i64> = Vec::new();
    for r in tx.query(select, &[&before.as_secs(), &limit]).await? {
        seqs.push(r.try_get(0)?);
    }
    if seqs.is_empty() {
        return Ok(0);
    }
    tx.execute(
        "SELECT 1 FROM deliveries WHERE event_seq = ANY($1) ORDER BY id FOR UPDATE",
        &[&seqs],
    )
    .await?;
    let mut busy = std::collections::BTreeSet::new();
    for r in tx.query(BUSY_EVENTS, &[&seqs]).await? {
        busy.insert(r.try_get::<_, i64>(0)?);
    }
    seqs.retain(|s| !busy.contains(s));
    delete_events(
        tx,
        "DELETE FROM events WHERE seq = ANY($1) RETURNING client_id",
        &[&seqs],
    )
    .await
}
