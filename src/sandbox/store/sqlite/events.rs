//! SQLite: events (format-neutral rows with the signed SET), the polling queue, triggers that
//! commit a state change with their events, and push deliveries with their attempts.

use rusqlite::{Connection, OptionalExtension, params};

use super::writes::{record_in, trigger_in};
use super::{SqliteStore, id, millis, secs};
use crate::sandbox::domain::{
    Attempt, AttemptVerdict, ClientId, ConsentStatusChange, DeliveryId, DeliveryRecord,
    DeliveryState, DueDelivery, EventRecord, INTERRUPTED, NewEvent, PollBatch, PollOps,
    RetryOutcome, Timestamp,
};
use crate::sandbox::store::claim::{Claim, Claimed};
use crate::sandbox::store::schema::{
    ATTEMPT_COLUMNS, DELIVERY_RECORD_COLUMNS, DUE_DELIVERY_COLUMNS, EVENT_RECORD_COLUMNS,
    delivery_state, delivery_state_of, event_state, event_state_of, format_of, sql,
};
use crate::sandbox::store::{Result, follow};

/// A claim's candidates, oldest due first. A delivery with an attempt still in flight within
/// its lease (made due again by hand meanwhile) is left for that attempt to finish.
pub(super) const CLAIM_READ: &str = sql!(
    "SELECT ",
    DUE_DELIVERY_COLUMNS,
    " FROM deliveries d JOIN events e ON e.seq = d.event_seq
     WHERE d.state = ",
    delivery_state::PENDING,
    " AND d.next_attempt_at <= ?1
       AND d.url NOT IN (SELECT value FROM json_each(?3))
       AND NOT EXISTS (SELECT 1 FROM delivery_attempts a
         WHERE a.delivery_id = d.id AND a.in_flight = 1 AND a.started_at >= ?4)
     ORDER BY d.next_attempt_at LIMIT ?2"
);

impl SqliteStore {
    pub fn commit_trigger(
        &self,
        change: Option<&ConsentStatusChange>,
        events: &[NewEvent],
    ) -> Result<bool> {
        let mut conn = self.lock();
        self.quiet.unmark(events.iter().map(|e| &e.client_id));
        let tx = conn.transaction()?;
        // Not applied: the transaction, dropped unfinished, rolls back.
        if !trigger_in(&tx, change, events, self.bounds.max_events)? {
            return Ok(false);
        }
        tx.commit()?;
        Ok(true)
    }

    pub fn unknown_jtis(&self, client_id: &ClientId, jtis: &[String]) -> Result<Vec<String>> {
        let conn = self.lock();
        let mut stmt = conn.prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM events WHERE client_id = ?1 AND jti = ?2)",
        )?;
        let mut unknown = Vec::new();
        for jti in jtis {
            let known: bool = stmt.query_row(params![client_id.as_str(), jti], |r| r.get(0))?;
            if !known {
                unknown.push(jti.clone());
            }
        }
        Ok(unknown)
    }

    /// A poll that writes nothing is a single read statement and needs no transaction.
    pub fn poll(&self, ops: &PollOps<'_>) -> Result<PollBatch> {
        let mut conn = self.lock();
        if ops.ack.is_empty() && ops.set_errs.is_empty() {
            if let Some(nothing) = self.quiet.known_empty(ops) {
                return Ok(nothing);
            }
            let batch = select_batch(&conn, ops)?;
            self.quiet.observe(ops, &batch);
            return Ok(batch);
        }
        let tx = conn.transaction()?;
        if !ops.ack.is_empty() {
            let mut scoped = tx.prepare_cached(sql!(
                "UPDATE events SET state = ",
                event_state::ACKNOWLEDGED,
                " WHERE client_id = ?1 AND jti = ?2 AND state <> ",
                event_state::ACKNOWLEDGED
            ))?;
            let mut unscoped = tx.prepare_cached(sql!(
                "UPDATE events SET state = ",
                event_state::ACKNOWLEDGED,
                " WHERE jti = ?1 AND state <> ",
                event_state::ACKNOWLEDGED
            ))?;
            for jti in ops.ack {
                if ops.scope_acks {
                    scoped.execute(params![ops.client_id.as_str(), jti])?;
                } else {
                    unscoped.execute(params![jti])?;
                }
            }
        }
        if !ops.set_errs.is_empty() {
            let mut stmt = tx.prepare_cached(sql!(
                "UPDATE events SET err = ?3, err_description = ?4,
                   state = CASE WHEN ?5 AND state = ",
                event_state::AWAITING,
                " THEN ",
                event_state::DROPPED,
                " ELSE state END
                 WHERE client_id = ?1 AND jti = ?2"
            ))?;
            for (jti, err, desc) in ops.set_errs {
                stmt.execute(params![
                    ops.client_id.as_str(),
                    jti,
                    err,
                    desc,
                    ops.drop_errored
                ])?;
            }
        }
        let batch = select_batch(&tx, ops)?;
        tx.commit()?;
        self.quiet.observe(ops, &batch);
        Ok(batch)
    }

    pub fn reset_events(&self, client_id: &ClientId) -> Result<usize> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let n = super::retention::delete_events(
            &tx,
            "DELETE FROM events WHERE client_id = ?1 RETURNING client_id",
            [client_id.as_str()],
        )?;
        tx.commit()?;
        Ok(n)
    }

    pub fn events_of(&self, client_id: &ClientId, limit: usize) -> Result<Vec<EventRecord>> {
        let conn = self.lock();
        let mut stmt = conn.prepare_cached(sql!(
            "SELECT ",
            EVENT_RECORD_COLUMNS,
            " FROM events WHERE client_id = ?1 ORDER BY seq DESC LIMIT ?2"
        ))?;
        let rows = stmt.query_map(params![client_id.as_str(), limit as i64], |r| {
            Ok(EventRecord {
                jti: r.get(0)?,
                client_id: id(r, 1)?,
                event_type: r.get(2)?,
                resource_id: r.get(3)?,
                resource_type: r.get(4)?,
                state: event_state_of(r.get(5)?),
                created_at: secs(r, 6)?,
                err: r.get(7)?,
                err_description: r.get(8)?,
                event_id: id(r, 9)?,
                token: r.get(10)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    // ---- deliveries -------------------------------------------------------------------------

    /// Claims and starts due deliveries (see `Store::claim_due`) in one transaction.
    pub fn claim_due(&self, claim: &Claim) -> Result<Claimed> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let (chosen, cut_short) = {
            let mut stmt = tx.prepare_cached(CLAIM_READ)?;
            let full = serde_json::to_string(&claim.full_urls()).unwrap_or_else(|_| "[]".into());
            let mut rows = stmt.query(params![
                claim.now.as_millis(),
                claim.window() as i64,
                full,
                claim.live_since().as_millis()
            ])?;
            // Rows are read as they are chosen: the window past what the claim takes is not
            // read, and a row whose URL has no room left is skipped before its SET is read.
            let mut chooser = claim.chooser();
            let mut chosen = Vec::new();
            while !chooser.done() {
                let Some(r) = rows.next()? else { break };
                let url: String = r.get(3)?;
                if !chooser.take(&url) {
                    continue;
                }
                chosen.push(claim.started(DueDelivery {
                    id: id::<DeliveryId>(r, 0)?,
                    client_id: id::<ClientId>(r, 1)?,
                    format: format_of(&r.get::<_, String>(2)?)?,
                    url,
                    attempt: r.get::<_, i64>(4)? + 1,
                    event_seq: r.get(5)?,
                    created_at: millis(r, 6)?,
                    token: r.get(7)?,
                    started_at: claim.now,
                    interaction_id: String::new(),
                }));
            }
            (chosen, chooser.cut_short())
        };
        let started = super::batch::start_many_in(&tx, claim, chosen)?;
        let next_due = next_due_in(&tx)?;
        tx.commit()?;
        Ok(Claimed {
            started,
            cut_short,
            next_due,
        })
    }

    /// Pending deliveries due at `now` and not claimed (a claim moves `next_attempt_at` to the
    /// lease's end).
    pub fn due_count(&self, now: Timestamp) -> Result<u64> {
        let n: i64 = self
            .lock()
            .prepare_cached(sql!(
                "SELECT COUNT(*) FROM deliveries WHERE state = ",
                delivery_state::PENDING,
                " AND next_attempt_at <= ?1"
            ))?
            .query_row(params![now.as_millis()], |r| r.get(0))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// When the soonest pending delivery is due, if any.
    pub fn next_due(&self) -> Result<Option<Timestamp>> {
        next_due_in(&self.lock())
    }

    pub fn record_attempt(
        &self,
        delivery_id: &DeliveryId,
        a: &Attempt,
        verdict: AttemptVerdict,
    ) -> Result<()> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        record_in(&tx, delivery_id, a, verdict)?;
        tx.commit()?;
        Ok(())
    }

    pub fn deliveries_of(&self, client_id: &ClientId, limit: usize) -> Result<Vec<DeliveryRecord>> {
        let conn = self.lock();
        let mut stmt = conn.prepare_cached(sql!(
            "SELECT ",
            DELIVERY_RECORD_COLUMNS,
            " FROM deliveries d JOIN events e ON e.seq = d.event_seq
             WHERE d.client_id = ?1 ORDER BY d.created_at DESC, d.rowid DESC LIMIT ?2"
        ))?;
        let rows = stmt
            .query_map(params![client_id.as_str(), limit as i64], |r| {
                Ok((
                    id::<DeliveryId>(r, 0)?,
                    id(r, 1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, i64>(5)?,
                    r.get::<_, Option<i64>>(6)?.map(Timestamp::from_millis),
                    millis(r, 7)?,
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let mut out = Vec::with_capacity(rows.len());
        for (id, event_id, event_type, format, url, state, next, created_at) in rows {
            let attempts = attempts_of(&conn, id.as_str())?;
            out.push(DeliveryRecord {
                format: format_of(&format)?,
                state: delivery_state_of(state)?,
                id,
                event_id,
                event_type,
                url,
                next_attempt_at: next,
                created_at,
                attempts,
            });
        }
        Ok(out)
    }

    /// At start, with the database to itself: attempts left in flight by a previous process
    /// are marked interrupted and their deliveries made due at once, not when the lease would
    /// have run out.
    pub fn reclaim_leases(&self, now: Timestamp) -> Result<usize> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let due = tx.execute(
            sql!(
                "UPDATE deliveries SET next_attempt_at = ?1 WHERE state = ",
                delivery_state::PENDING,
                " AND id IN (SELECT delivery_id FROM delivery_attempts WHERE in_flight = 1)"
            ),
            params![now.as_millis()],
        )?;
        tx.execute(
            "UPDATE delivery_attempts SET in_flight = 0, error = ?1 WHERE in_flight = 1",
            params![INTERRUPTED],
        )?;
        tx.commit()?;
        Ok(due)
    }

    /// Hands back deliveries claimed and never sent (see `Store::release_unsent`).
    pub fn release_unsent(&self, unsent: &[(DeliveryId, i64)], now: Timestamp) -> Result<usize> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let mut released = 0;
        for (delivery_id, attempt) in unsent {
            let reset = tx
                .prepare_cached(sql!(
                    "UPDATE deliveries SET attempts = ?2 - 1, next_attempt_at = ?3
                     WHERE id = ?1 AND attempts = ?2 AND state = ",
                    delivery_state::PENDING
                ))?
                .execute(params![delivery_id.as_str(), attempt, now.as_millis()])?;
            if reset == 0 {
                continue;
            }
            tx.prepare_cached(
                "DELETE FROM delivery_attempts
                 WHERE delivery_id = ?1 AND attempt = ?2 AND in_flight = 1",
            )?
            .execute(params![delivery_id.as_str(), attempt])?;
            released += 1;
        }
        tx.commit()?;
        Ok(released)
    }

    /// Makes a delivery of `client_id` due at `now` again, unless it was delivered or an
    /// attempt is in flight.
    pub fn retry_delivery(
        &self,
        client_id: Option<&ClientId>,
        delivery_id: &DeliveryId,
        now: Timestamp,
    ) -> Result<RetryOutcome> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let found: Option<(i64, bool)> = tx
            .query_row(
                "SELECT d.state, EXISTS (SELECT 1 FROM delivery_attempts a
                   WHERE a.delivery_id = d.id AND a.in_flight = 1)
                 FROM deliveries d WHERE d.id = ?1 AND (?2 IS NULL OR d.client_id = ?2)",
                params![delivery_id.as_str(), client_id.map(ClientId::as_str)],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let outcome = match found {
            None => RetryOutcome::Unknown,
            Some((_, true)) => RetryOutcome::InFlight,
            Some((state, false)) if delivery_state_of(state)? == DeliveryState::Delivered => {
                RetryOutcome::Delivered
            }
            Some(_) => {
                tx.execute(
                    sql!(
                        "UPDATE deliveries SET state = ",
                        delivery_state::PENDING,
                        ", next_attempt_at = ?2, updated_at = ?2 WHERE id = ?1"
                    ),
                    params![delivery_id.as_str(), now.as_millis()],
                )?;
                RetryOutcome::Due
            }
        };
        tx.commit()?;
        Ok(outcome)
    }
}

/// The url column `sql` reads for `key`: `None` when there is no such row or no url.
pub(super) fn url_of(conn: &Connection, sql: &str, key: &str) -> Result<Option<String>> {
    Ok(conn
        .query_row(sql, [key], |r| r.get::<_, Option<String>>(0))
        .optional()?
        .flatten())
}

/// What [`follow`] says becomes of `client_id`'s pending deliveries to `old` now that their
/// destination is `new`; run inside the transaction that changed the destination.
pub(super) fn carry_pending(
    conn: &Connection,
    client_id: &str,
    old: Option<&str>,
    new: Option<&str>,
    cancel_removed: bool,
) -> Result<()> {
    if let Some(old) = old
        && let Some(to) = follow(old, new, cancel_removed)
    {
        move_pending(conn, client_id, old, to)?;
    }
    Ok(())
}

/// A client's pending deliveries to `from` go to `to` instead, or are cancelled when `to` is
/// `None`. Returns how many.
fn move_pending(conn: &Connection, client_id: &str, from: &str, to: Option<&str>) -> Result<usize> {
    let n = match to {
        Some(to) => conn.execute(
            sql!(
                "UPDATE deliveries SET url = ?3, updated_at = ?4
                 WHERE client_id = ?1 AND state = ",
                delivery_state::PENDING,
                " AND url = ?2"
            ),
            params![client_id, from, to, Timestamp::now().as_millis()],
        )?,
        None => conn.execute(
            sql!(
                "UPDATE deliveries SET state = ",
                delivery_state::CANCELLED,
                ", next_attempt_at = NULL, updated_at = ?3
                 WHERE client_id = ?1 AND state = ",
                delivery_state::PENDING,
                " AND url = ?2"
            ),
            params![client_id, from, Timestamp::now().as_millis()],
        )?,
    };
    Ok(n)
}

/// A delivery's attempts, newest first.
fn attempts_of(conn: &Connection, delivery_id: &str) -> Result<Vec<Attempt>> {
    let mut stmt = conn.prepare_cached(sql!(
        "SELECT ",
        ATTEMPT_COLUMNS,
        " FROM delivery_attempts WHERE delivery_id = ?1 ORDER BY attempt DESC"
    ))?;
    let rows = stmt.query_map([delivery_id], |r| {
        Ok(Attempt {
            attempt: r.get(0)?,
            started_at: millis(r, 1)?,
            latency_ms: r.get(2)?,
            status_code: r.get(3)?,
            error: r.get(4)?,
            interaction_id: r.get(5)?,
            response_excerpt: r.get(6)?,
            note: r.get(7)?,
            in_flight: r.get(8)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The oldest awaiting SETs, one row beyond the limit telling whether any were left out
/// (AP-12); an index range scan of at most `limit + 1` rows.
fn select_batch(conn: &Connection, ops: &PollOps<'_>) -> Result<PollBatch> {
    let mut batch = PollBatch::default();
    let client = ops.scope_select.then_some(ops.client_id.as_str());
    if ops.limit > 0 {
        // Neither ORDER BY nor LIMIT in the SQL: written before the planner stability
        // guarantee was set at open, when a bound LIMIT, or an ORDER BY with a new client_id,
        // made SQLite re-prepare the statement on every run (~15 % of a poll's CPU). The
        // forced index (client_id, state, seq) yields rows oldest first, and stepping stops
        // after `fetch` rows, so the work stays O(batch). The store tests pin the order.
        // Awaiting rows always have a token (CHECK).
        let fetch = ops.limit.saturating_add(1);
        let rows: Vec<(String, String)> = match client {
            Some(client) => conn
                .prepare_cached(sql!(
                    "SELECT jti, token FROM events INDEXED BY events_pending WHERE client_id = ?1 AND state = ",
                    event_state::AWAITING
                ))?
                .query_map(params![client], |r| Ok((r.get(0)?, r.get(1)?)))?
                .take(fetch)
                .collect::<rusqlite::Result<_>>()?,
            None => conn
                .prepare_cached(sql!(
                    "SELECT jti, token FROM events WHERE state = ",
                    event_state::AWAITING,
                    " ORDER BY seq"
                ))?
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .take(fetch)
                .collect::<rusqlite::Result<_>>()?,
        };
        batch.more_available = rows.len() > ops.limit;
        batch.sets = rows.into_iter().take(ops.limit).collect();
    } else {
        batch.more_available = match client {
            Some(client) => conn
                .prepare_cached(sql!(
                    "SELECT EXISTS (SELECT 1 FROM events WHERE client_id = ?1 AND state = ",
                    event_state::AWAITING,
                    ")"
                ))?
                .query_row([client], |r| r.get(0))?,
            None => conn
                .prepare_cached(sql!(
                    "SELECT EXISTS (SELECT 1 FROM events WHERE state = ",
                    event_state::AWAITING,
                    ")"
                ))?
                .query_row([], |r| r.get(0))?,
        };
    }
    Ok(batch)
}

/// When the soonest pending delivery is due, if any, as `conn` (or its transaction) sees it.
fn next_due_in(conn: &Connection) -> Result<Option<Timestamp>> {
    let at: Option<i64> = conn
        .prepare_cached(sql!(
            "SELECT MIN(next_attempt_at) FROM deliveries WHERE state = ",
            delivery_state::PENDING
        ))?
        .query_row([], |r| r.get(0))?;
    Ok(at.map(Timestamp::from_millis))
}
