//! PostgreSQL: events (format-neutral rows with the signed SET), triggers that commit a state
//! change with their events and wake-up notices, and push deliveries (the polling queue's reads
//! are `polling.rs`).

use std::collections::BTreeSet;
use std::sync::Arc;

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::writes::{record_in, start_in, trigger_in};
use super::{PgStore, id, millis, secs};
use crate::sandbox::domain::{
    Attempt, AttemptVerdict, ClientId, ConsentStatusChange, DeliveryId, DeliveryRecord,
    DeliveryState, DueDelivery, EventRecord, EventState, NewEvent, RetryOutcome, Timestamp,
};
use crate::sandbox::store::claim::{Claim, Claimed};
use crate::sandbox::store::schema::{
    ATTEMPT_COLUMNS, DELIVERY_INSERT_COLUMNS, DELIVERY_RECORD_COLUMNS, DUE_DELIVERY_COLUMNS,
    EVENT_INSERT_COLUMNS, EVENT_RECORD_COLUMNS, delivery_state, delivery_state_of, event_code,
    event_state_of, format_of, sql,
};
use crate::sandbox::store::{Result, follow, to_json};

/// Events stored by one commit from which the table's statistics are refreshed at once.
const BULK_ANALYZE: usize = 1_000;

impl PgStore {
    pub async fn commit_trigger(
        &self,
        change: Option<&ConsentStatusChange>,
        events: &[NewEvent],
    ) -> Result<bool> {
        let mut c = self.conn().await?;
        let tx = c.transaction().await?;
        let Some(stored) = trigger_in(&tx, change, events, self.bounds.max_events).await? else {
            tx.rollback().await?;
            return Ok(false);
        };
        tx.commit().await?;
        if events.len() >= BULK_ANALYZE {
            // A bulk import changes the table faster than autovacuum re-analyzes it; plans
            // cached on the old statistics would otherwise scan instead of seek.
            c.batch_execute("ANALYZE events").await?;
        }
        for (seq, _, token) in stored {
            self.tokens.put(seq, Arc::from(token));
        }
        Ok(true)
    }

    pub async fn unknown_jtis(&self, client_id: &ClientId, jtis: &[String]) -> Result<Vec<String>> {
        if jtis.is_empty() {
            return Ok(Vec::new());
        }
        let rows = self
            .conn()
            .await?
            .query(
                "SELECT jti FROM events WHERE client_id = $1 AND jti = ANY($2)",
                &[&client_id.as_str(), &jtis],
            )
            .await?;
        let known = rows
            .iter()
            .map(|r| r.try_get::<_, String>(0))
            .collect::<std::result::Result<BTreeSet<_>, _>>()?;
        Ok(jtis
            .iter()
            .filter(|j| !known.contains(*j))
            .cloned()
            .collect())
    }

    pub async fn reset_events(&self, client_id: &ClientId) -> Result<usize> {
        let mut c = self.conn().await?;
        let tx = c.transaction().await?;
        let n = super::retention::delete_events(
            &tx,
            "DELETE FROM events WHERE client_id = $1 RETURNING client_id",
            &[&client_id.as_str()],
        )
        .await?;
        tx.commit().await?;
        Ok(n)
    }

    pub async fn events_of(&self, client_id: &ClientId, limit: usize) -> Result<Vec<EventRecord>> {
        let rows = self
            .conn()
            .await?
            .query(
                sql!(
                    "SELECT ",
                    EVENT_RECORD_COLUMNS,
                    " FROM events WHERE client_id = $1 ORDER BY seq DESC LIMIT $2"
                ),
                &[&client_id.as_str(), &(limit as i64)],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(EventRecord {
                    jti: r.try_get(0)?,
                    client_id: id(r, 1)?,
                    event_type: r.try_get(2)?,
                    resource_id: r.try_get(3)?,
                    resource_type: r.try_get(4)?,
                    state: event_state_of(r.try_get(5)?),
                    created_at: secs(r, 6)?,
                    err: r.try_get(7)?,
                    err_description: r.try_get(8)?,
                    event_id: id(r, 9)?,
                    token: r.try_get(10)?,
                })
            })
            .collect()
    }

    // ---- deliveries -------------------------------------------------------------------------

    /// Claims and starts due deliveries (see `Store::claim_due`): the candidates are read
    /// and locked in one statement (`SKIP LOCKED` lets replicas claim side by side without
    /// waiting on each other), the ones within their URL's room started in a second.
    pub async fn claim_due(&self, claim: &Claim) -> Result<Claimed> {
        let mut c = self.conn().await?;
        let tx = c.transaction().await?;
        // A delivery with an attempt still in flight within its lease (made due again by
        // hand meanwhile) is left for that attempt to finish.
        let rows = tx
            .query(
                sql!(
                    "SELECT ",
                    DUE_DELIVERY_COLUMNS,
                    " FROM deliveries d JOIN events e ON e.seq = d.event_seq
                     WHERE d.state = ",
                    delivery_state::PENDING,
                    " AND d.next_attempt_at <= $1 AND NOT (d.url = ANY($3))
                       AND NOT EXISTS (SELECT 1 FROM delivery_attempts a
                         WHERE a.delivery_id = d.id AND a.in_flight AND a.started_at >= $4)
                     ORDER BY d.next_attempt_at LIMIT $2
                     FOR UPDATE OF d SKIP LOCKED"
                ),
                &[
                    &claim.now.as_millis(),
                    &(claim.window() as i64),
                    &claim.full_urls(),
                    &claim.live_since().as_millis(),
                ],
            )
            .await?;
        let candidates = rows
            .iter()
            .map(|r| {
                Ok(DueDelivery {
                    id: id(r, 0)?,
                    client_id: id(r, 1)?,
                    format: format_of(r.try_get(2)?)?,
                    url: r.try_get(3)?,
                    attempt: r.try_get::<_, i64>(4)? + 1,
                    event_seq: r.try_get(5)?,
                    created_at: millis(r, 6)?,
                    token: r.try_get(7)?,
                    started_at: claim.now,
                    interaction_id: String::new(),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let mut chosen = claim.choose(candidates);
        let started = start_in(&tx, claim, &chosen.started).await?;
        chosen.next_due = next_due_in(&tx).await?;
        tx.commit().await?;
        chosen
            .started
            .retain(|d| started.iter().any(|id| d.id.as_str() == id));
        Ok(chosen)
    }

    pub async fn due_count(&self, now: Timestamp) -> Result<u64> {
        let n: i64 = self
            .conn()
            .await?
            .query_one(
                sql!(
                    "SELECT COUNT(*) FROM deliveries WHERE state = ",
                    delivery_state::PENDING,
                    " AND next_attempt_at <= $1"
                ),
                &[&now.as_millis()],
            )
            .await?
            .try_get(0)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    pub async fn next_due(&self) -> Result<Option<Timestamp>> {
        next_due_in(&self.conn().await?).await
    }

    pub async fn record_attempt(
        &self,
        delivery_id: &DeliveryId,
        a: &Attempt,
        verdict: AttemptVerdict,
    ) -> Result<()> {
        let mut c = self.conn().await?;
        let tx = c.transaction().await?;
        record_in(&tx, delivery_id, a, verdict).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn deliveries_of(
        &self,
        client_id: &ClientId,
        limit: usize,
    ) -> Result<Vec<DeliveryRecord>> {
        let c = self.conn().await?;
        let rows = c
            .query(
                sql!(
                    "SELECT ",
                    DELIVERY_RECORD_COLUMNS,
                    " FROM deliveries d JOIN events e ON e.seq = d.event_seq
                     WHERE d.client_id = $1 ORDER BY d.created_at DESC, d.id DESC LIMIT $2"
                ),
                &[&client_id.as_str(), &(limit as i64)],
            )
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let delivery: DeliveryId = id(r, 0)?;
            let state: i64 = r.try_get(5)?;
            let attempts = c
                .query(
                    sql!(
                        "SELECT ",
                        ATTEMPT_COLUMNS,
                        " FROM delivery_attempts WHERE delivery_id = $1 ORDER BY attempt DESC"
                    ),
                    &[&delivery.as_str()],
                )
                .await?
                .iter()
                .map(attempt_from_row)
                .collect::<Result<Vec<_>>>()?;
            let next: Option<i64> = r.try_get(6)?;
            out.push(DeliveryRecord {
                event_id: id(r, 1)?,
                event_type: r.try_get(2)?,
                format: format_of(r.try_get(3)?)?,
                url: r.try_get(4)?,
                state: delivery_state_of(state)?,
                next_attempt_at: next.map(Timestamp::from_millis),
                created_at: millis(r, 7)?,
                id: delivery,
                attempts,
            });
        }
        Ok(out)
    }

    /// Hands back deliveries claimed and never sent (see `Store::release_unsent`).
    pub async fn release_unsent(
        &self,
        unsent: &[(DeliveryId, i64)],
        now: Timestamp,
    ) -> Result<usize> {
        let mut c = self.conn().await?;
        let tx = c.transaction().await?;
        let mut released = 0;
        for (delivery_id, attempt) in unsent {
            let reset = tx
                .execute(
                    sql!(
                        "UPDATE deliveries SET attempts = $2 - 1, next_attempt_at = $3
                         WHERE id = $1 AND attempts = $2 AND state = ",
                        delivery_state::PENDING
                    ),
                    &[&delivery_id.as_str(), attempt, &now.as_millis()],
                )
                .await?;
            if reset == 0 {
                continue;
            }
            tx.execute(
                "DELETE FROM delivery_attempts
                 WHERE delivery_id = $1 AND attempt = $2 AND in_flight",
                &[&delivery_id.as_str(), attempt],
            )
            .await?;
            released += 1;
        }
        tx.commit().await?;
        Ok(released)
    }

    /// Makes a delivery of `client_id` (of any client: `None`) due at `now` again, unless it
    /// was delivered or an attempt is in flight. The row is locked, so a concurrent attempt or
    /// retry waits.
    pub async fn retry_delivery(
        &self,
        client_id: Option<&ClientId>,
        delivery_id: &DeliveryId,
        now: Timestamp,
    ) -> Result<RetryOutcome> {
        let mut c = self.conn().await?;
        let tx = c.transaction().await?;
        let found = tx
            .query_opt(
                "SELECT d.state, EXISTS (SELECT 1 FROM delivery_attempts a
                   WHERE a.delivery_id = d.id AND a.in_flight)
                 FROM deliveries d
                 WHERE d.id = $1 AND ($2::text IS NULL OR d.client_id = $2) FOR UPDATE",
                &[&delivery_id.as_str(), &client_id.map(ClientId::as_str)],
            )
            .await?;
        let outcome = match found {
            None => RetryOutcome::Unknown,
            Some(r) if r.try_get::<_, bool>(1)? => RetryOutcome::InFlight,
            Some(r) if delivery_state_of(r.try_get(0)?)? == DeliveryState::Delivered => {
                RetryOutcome::Delivered
            }
            Some(_) => {
                tx.execute(
                    sql!(
                        "UPDATE deliveries SET state = ",
                        delivery_state::PENDING,
                        ", next_attempt_at = $2, updated_at = $2 WHERE id = $1"
                    ),
                    &[&delivery_id.as_str(), &now.as_millis()],
                )
                .await?;
                RetryOutcome::Due
            }
        };
        tx.commit().await?;
        Ok(outcome)
    }
}

/// Inserts the events with their delivery rows; returns the stored SETs: `(seq, client id,
/// SET)`.
pub(super) async fn insert_events<'e>(
    tx: &impl GenericClient,
    events: &'e [NewEvent],
) -> Result<Vec<(i64, &'e str, &'e str)>> {
    let insert = tx
        .prepare_cached(sql!(
            "INSERT INTO events (",
            EVENT_INSERT_COLUMNS,
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING seq"
        ))
        .await?;
    let delivery = tx
        .prepare_cached(sql!(
            "INSERT INTO deliveries (",
            DELIVERY_INSERT_COLUMNS,
            ") VALUES ($1, $2, $3, $4, $5, ",
            delivery_state::PENDING,
            ", $6, $7, $7)"
        ))
        .await?;
    let mut stored = Vec::new();
    for e in events {
        // Only a SET for a subscribed TPP enters the polling queue (AP-03).
        let state = if e.poll && e.token.is_some() {
            EventState::Awaiting
        } else {
            EventState::NotQueued
        };
        let row = tx
            .query_one(
                &insert,
                &[
                    &e.event_id.as_str(),
                    &e.jti,
                    &e.client_id.as_str(),
                    &e.event_type,
                    &e.resource_id,
                    &e.resource_type,
                    &to_json(&e.resource_links),
                    &e.txn,
                    &e.toe.as_secs(),
                    &to_json(&e.details),
                    &e.token,
                    &event_code(state),
                    &e.created_at.as_secs(),
                ],
            )
            .await?;
        let seq: i64 = row.try_get(0)?;
        if let Some(t) = &e.token {
            stored.push((seq, e.client_id.as_str(), t.as_str()));
        }
        for d in &e.deliveries {
            tx.execute(
                &delivery,
                &[
                    &d.id.as_str(),
                    &seq,
                    &e.client_id.as_str(),
                    &d.format.name(),
                    &d.url,
                    &d.next_attempt_at.as_millis(),
                    &Timestamp::now().as_millis(),
                ],
            )
            .await?;
        }
    }
    Ok(stored)
}

/// The url column `sql` reads for `key` (locking the row if `sql` says `FOR UPDATE`): `None`
/// when there is no such row or no url.
pub(super) async fn url_of(c: &impl GenericClient, sql: &str, key: &str) -> Result<Option<String>> {
    match c.query_opt(sql, &[&key]).await? {
        Some(r) => Ok(r.try_get(0)?),
        None => Ok(None),
    }
}

/// What [`follow`] says becomes of `client_id`'s pending deliveries to `old` now that their
/// destination is `new`; run inside the transaction that changed the destination.
pub(super) async fn carry_pending(
    c: &impl GenericClient,
    client_id: &str,
    old: Option<&str>,
    new: Option<&str>,
    cancel_removed: bool,
) -> Result<()> {
    if let Some(old) = old
        && let Some(to) = follow(old, new, cancel_removed)
    {
        move_pending(c, client_id, old, to).await?;
    }
    Ok(())
}

/// A client's pending deliveries to `from` go to `to` instead, or are cancelled when `to` is
/// `None`. Returns how many.
async fn move_pending(
    c: &impl GenericClient,
    client_id: &str,
    from: &str,
    to: Option<&str>,
) -> Result<u64> {
    let n = match to {
        Some(to) => {
            c.execute(
                sql!(
                    "UPDATE deliveries SET url = $3, updated_at = $4 WHERE client_id = $1 AND state = ",
                    delivery_state::PENDING,
                    " AND url = $2"
                ),
                &[&client_id, &from, &to, &Timestamp::now().as_millis()],
            )
            .await?
        }
        None => {
            c.execute(
                sql!(
                    "UPDATE deliveries SET state = ",
                    delivery_state::CANCELLED,
                    ", next_attempt_at = NULL, updated_at = $3 WHERE client_id = $1 AND state = ",
                    delivery_state::PENDING,
                    " AND url = $2"
                ),
                &[&client_id, &from, &Timestamp::now().as_millis()],
            )
            .await?
        }
    };
    Ok(n)
}

fn attempt_from_row(r: &Row) -> Result<Attempt> {
    Ok(Attempt {
        attempt: r.try_get(0)?,
        started_at: millis(r, 1)?,
        latency_ms: r.try_get(2)?,
        status_code: r.try_get(3)?,
        error: r.try_get(4)?,
        interaction_id: r.try_get(5)?,
        response_excerpt: r.try_get(6)?,
        note: r.try_get(7)?,
        in_flight: r.try_get(8)?,
    })
}

/// When the soonest pending delivery is due, if any, as `c` (or its transaction) sees it.
async fn next_due_in(c: &impl GenericClient) -> Result<Option<Timestamp>> {
    let at: Option<i64> = c
        .query_one(
            sql!(
                "SELECT MIN(next_attempt_at) FROM deliveries WHERE state = ",
                delivery_state::PENDING
            ),
            &[],
        )
        .await?
        .try_get(0)?;
    Ok(at.map(Timestamp::from_millis))
}
