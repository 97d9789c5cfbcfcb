//! SQLite: the writes the group commit batches (`store::group`): a trigger's change and
//! events, a push attempt's outcome. Each is a function over an open transaction or
//! savepoint, used alone by the engine's single-write methods (`events.rs`) and many to a
//! transaction by [`SqliteStore::apply_writes`], which records a run of outcomes with the
//! set-based statements of `batch`.

use rusqlite::{Connection, params};

use super::SqliteStore;
use crate::sandbox::domain::{
    Attempt, AttemptVerdict, ConsentStatusChange, DeliveryId, EventState, NewEvent, Timestamp,
};
use crate::sandbox::store::schema::{
    DELIVERY_INSERT_COLUMNS, EVENT_INSERT_COLUMNS, delivery_state, event_code, sql,
};
use crate::sandbox::store::{Result, Write, to_json};

impl SqliteStore {
    /// Many writes in one transaction, each in a savepoint (see `Store::apply_writes`).
    pub fn apply_writes(&self, writes: &[Write]) -> Result<Vec<Result<bool>>> {
        let mut conn = self.lock();
        let triggered = writes.iter().flat_map(|w| match w {
            Write::Trigger { events, .. } => &events[..],
            _ => &[],
        });
        self.quiet.unmark(triggered.map(|e| &e.client_id));
        let mut tx = conn.transaction()?;
        let mut out = Vec::with_capacity(writes.len());
        let mut rest = writes;
        while !rest.is_empty() {
            // A run of outcomes goes in set-based statements, in one savepoint; if it fails,
            // its writes go one by one below, so each gets its own answer.
            let run = outcomes(rest);
            if run.len() > 1 {
                let sp = tx.savepoint()?;
                match super::batch::record_many_in(&sp, &run) {
                    Ok(()) => {
                        sp.commit()?;
                        out.extend(run.iter().map(|_| Ok(true)));
                        rest = &rest[run.len()..];
                        continue;
                    }
                    Err(e) => tracing::warn!(
                        error = %e,
                        outcomes = run.len(),
                        "recording push outcomes together failed; recording them one by one"
                    ),
                }
            }
            let take = run.len().max(1);
            for w in &rest[..take] {
                out.push(self.apply_one(&mut tx, w)?);
            }
            rest = &rest[take..];
        }
        tx.commit()?;
        Ok(out)
    }

    /// One write in a savepoint of its own: its result, or the error that stops the batch.
    fn apply_one(&self, tx: &mut rusqlite::Transaction<'_>, w: &Write) -> Result<Result<bool>> {
        let sp = tx.savepoint()?;
        let done = match w {
            Write::Trigger { change, events } => {
                trigger_in(&sp, change.as_ref(), events, self.bounds.max_events)
            }
            Write::RecordAttempt {
                delivery_id,
                attempt,
                verdict,
            } => record_in(&sp, delivery_id, attempt, *verdict).map(|()| true),
        };
        // A savepoint dropped unreleased rolls back: a failed or unapplied write alone.
        if matches!(done, Ok(true)) {
            sp.commit()?;
        }
        Ok(done)
    }
}

/// The outcomes at the head of `writes`, up to the first other write or the first second
/// outcome of one delivery (see `batch::record_many_in`).
fn outcomes(writes: &[Write]) -> Vec<super::batch::Outcome<'_>> {
    let mut run: Vec<super::batch::Outcome<'_>> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for w in writes {
        let Write::RecordAttempt {
            delivery_id,
            attempt,
            verdict,
        } = w
        else {
            break;
        };
        if !seen.insert(delivery_id) {
            break;
        }
        run.push(super::batch::Outcome {
            delivery_id,
            attempt,
            verdict: *verdict,
        });
    }
    run
}

fn insert_event(tx: &Connection, e: &NewEvent) -> Result<()> {
    tx.prepare_cached(sql!(
        "INSERT INTO events (",
        EVENT_INSERT_COLUMNS,
        ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"
    ))?
    .execute(params![
        e.event_id.as_str(),
        e.jti,
        e.client_id.as_str(),
        e.event_type,
        e.resource_id,
        e.resource_type,
        to_json(&e.resource_links),
        e.txn,
        e.toe.as_secs(),
        to_json(&e.details),
        e.token,
        // Only a SET for a subscribed TPP enters the polling queue (AP-03).
        event_code(if e.poll && e.token.is_some() {
            EventState::Awaiting
        } else {
            EventState::NotQueued
        }),
        e.created_at.as_secs()
    ])?;
    if e.deliveries.is_empty() {
        return Ok(());
    }
    let seq = tx.last_insert_rowid();
    let mut stmt = tx.prepare_cached(sql!(
        "INSERT INTO deliveries (",
        DELIVERY_INSERT_COLUMNS,
        ") VALUES (?1, ?2, ?3, ?4, ?5, ",
        delivery_state::PENDING,
        ", ?6, ?7, ?7)"
    ))?;
    for d in &e.deliveries {
        stmt.execute(params![
            d.id.as_str(),
            seq,
            e.client_id.as_str(),
            d.format.name(),
            d.url,
            d.next_attempt_at.as_millis(),
            Timestamp::now().as_millis()
        ])?;
    }
    Ok(())
}

/// What one trigger did, inside the caller's transaction: the guarded consent status change,
/// the events with their deliveries, and the TPPs' counts. False, with the change not made,
/// when the consent is no longer in the status the change starts from.
pub(super) fn trigger_in(
    tx: &Connection,
    change: Option<&ConsentStatusChange>,
    events: &[NewEvent],
    max_events: Option<u64>,
) -> Result<bool> {
    if let Some(c) = change {
        let changed = tx
            .prepare_cached(
                "UPDATE consents SET status = ?2, status_updated_at = ?3
                 WHERE consent_id = ?1 AND status = ?4",
            )?
            .execute(params![
                c.consent_id.as_str(),
                c.status.as_str(),
                c.at.rfc3339(),
                c.from.as_str()
            ])?;
        if changed == 0 {
            return Ok(false);
        }
    }
    for e in events {
        insert_event(tx, e)?;
    }
    super::retention::count_events(tx, events, max_events)?;
    Ok(true)
}

/// Records one attempt and moves its delivery on (see `Store::record_attempt`), inside the
/// caller's transaction: a run of one for the set-based statements of `batch`, so one
/// outcome and many go through the same SQL.
pub(super) fn record_in(
    tx: &Connection,
    delivery_id: &DeliveryId,
    attempt: &Attempt,
    verdict: AttemptVerdict,
) -> Result<()> {
    super::batch::record_many_in(
        tx,
        &[super::batch::Outcome {
            delivery_id,
            attempt,
            verdict,
        }],
    )
}
