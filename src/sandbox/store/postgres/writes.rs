//! PostgreSQL: the writes the group commit batches (`store::group`): a trigger's change,
//! events and wake-up notices, a push attempt's outcome; and the start of the attempts a
//! claim takes. Each is a
//! function over an open transaction or savepoint, used alone by the engine's single-write
//! methods (`events.rs`) and many to a transaction by [`PgStore::apply_writes`].

use std::sync::Arc;

use deadpool_postgres::GenericClient;

use super::events::insert_events;
use super::{PgStore, WAKE_CHANNEL};
use crate::sandbox::domain::{
    Attempt, AttemptVerdict, ConsentStatusChange, DeliveryId, Dialect, DueDelivery, INTERRUPTED,
    NewEvent, Timestamp,
};
use crate::sandbox::store::claim::Claim;
use crate::sandbox::store::schema::{
    ATTEMPT_COLUMNS, delivery_code, delivery_state, event_state, sql,
};
use crate::sandbox::store::{Result, StoreError, Write};

impl PgStore {
    /// Many writes in one transaction, each in a savepoint (see `Store::apply_writes`).
    pub async fn apply_writes(&self, writes: &[Write]) -> Result<Vec<Result<bool>>> {
        let mut c = self.conn().await?;
        let mut tx = c.transaction().await?;
        let mut out = Vec::with_capacity(writes.len());
        let mut stored = Vec::new();
        for w in writes {
            let sp = tx.savepoint("write").await?;
            let done = match w {
                Write::Trigger { change, events } => {
                    match trigger_in(&sp, change.as_ref(), events, self.bounds.max_events).await {
                        Ok(Some(tokens)) => {
                            stored.extend(tokens);
                            Ok(true)
                        }
                        Ok(None) => Ok(false),
                        Err(e) => Err(e),
                    }
                }
                Write::RecordAttempt {
                    delivery_id,
                    attempt,
                    verdict,
                } => record_in(&sp, delivery_id, attempt, *verdict)
                    .await
                    .map(|()| true),
            };
            // A failed or unapplied write is rolled back alone.
            if matches!(done, Ok(true)) {
                sp.commit().await?;
            } else {
                sp.rollback().await?;
            }
            out.push(done);
        }
        tx.commit().await?;
        for (seq, _, token) in stored {
            self.tokens.put(seq, Arc::from(token));
        }
        Ok(out)
    }
}

/// What one trigger did, inside the caller's transaction: the guarded consent status change,
/// the events with their deliveries and wake-up notices, and the TPPs' counts. `None`, with
/// the change not made, when the consent is no longer in the status the change starts from;
/// else the stored SETs: `(seq, client id, SET)`.
pub(super) async fn trigger_in<'e>(
    tx: &impl GenericClient,
    change: Option<&ConsentStatusChange>,
    events: &'e [NewEvent],
    max_events: Option<u64>,
) -> Result<Option<Vec<(i64, &'e str, &'e str)>>> {
    if let Some(ch) = change {
        // Under READ COMMITTED a second writer waits for the first one's row lock, then
        // re-checks the guard against the committed row: one of two revokes changes it.
        let changed = tx
            .execute(
                "UPDATE consents SET status = $2, status_updated_at = $3
                 WHERE consent_id = $1 AND status = $4",
                &[
                    &ch.consent_id.as_str(),
                    &ch.status.as_str(),
                    &ch.at.rfc3339(),
                    &ch.from.as_str(),
                ],
            )
            .await?;
        if changed == 0 {
            return Ok(None);
        }
    }
    let stored = insert_events(tx, events).await?;
    // Delivered on commit only, to every replica's listener (this one's included); a notice
    // in a savepoint rolled back is dropped with it. Each carries its client's SETs when they
    // fit (`wake.rs`).
    let notices = async {
        // Prepared once per connection: an unprepared statement costs a round trip more.
        let notify = tx.prepare_cached("SELECT pg_notify($1, $2)").await?;
        for payload in super::wake::payloads(&stored, events) {
            tx.execute(&notify, &[&WAKE_CHANNEL, &payload]).await?;
        }
        Ok::<_, StoreError>(())
    };
    // Last before the commit: the TPPs' count rows stay locked until it, so other commits
    // for the same TPPs wait as briefly as possible. Sent with the notices, in one round trip
    // (the connection pipelines them; neither depends on the other's answer).
    let counted = super::retention::count_events(tx, events, max_events);
    futures::try_join!(notices, counted)?;
    Ok(Some(stored))
}

/// Records one attempt and moves its delivery on (see `Store::record_attempt`), inside the
/// caller's transaction.
pub(super) async fn record_in(
    tx: &impl GenericClient,
    delivery_id: &DeliveryId,
    a: &Attempt,
    verdict: AttemptVerdict,
) -> Result<()> {
    let delivery_id = delivery_id.as_str();
    // The row the claim wrote gets the outcome, and the start becomes when the request was
    // sent (a claimed delivery may wait for its URL's lane); an attempt from before that
    // step existed is inserted whole.
    tx.execute(
        sql!(
            "INSERT INTO delivery_attempts (delivery_id, ",
            ATTEMPT_COLUMNS,
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, FALSE)
             ON CONFLICT (delivery_id, attempt) DO UPDATE SET
               started_at = EXCLUDED.started_at, latency_ms = EXCLUDED.latency_ms, status_code = EXCLUDED.status_code,
               error = EXCLUDED.error, interaction_id = EXCLUDED.interaction_id,
               response_excerpt = EXCLUDED.response_excerpt, note = EXCLUDED.note,
               in_flight = FALSE"
        ),
        &[
            &delivery_id,
            &a.attempt,
            &a.started_at.as_millis(),
            &a.latency_ms,
            &a.status_code,
            &a.error,
            &a.interaction_id,
            &a.response_excerpt,
            &a.note,
        ],
    )
    .await?;
    let (state, next) = verdict.next_state();
    let next = next.map(Timestamp::as_millis);
    // A delivery cancelled while this attempt was in flight stays cancelled, unless the
    // attempt did deliver it; so does one whose later attempt already started (this outcome
    // came back after its lease ran out): only a delivery moves it then, and the count of
    // attempts never goes back, so the next claim's number is never one already taken.
    tx.execute(
        sql!(
            "UPDATE deliveries SET state = $2, attempts = GREATEST(attempts, $3),
               next_attempt_at = $4, updated_at = $5
             WHERE id = $1 AND ((state = ",
            delivery_state::PENDING,
            " AND attempts <= $3) OR $6)"
        ),
        &[
            &delivery_id,
            &delivery_code(state),
            &a.attempt,
            &next,
            &Timestamp::now().as_millis(),
            &(verdict == AttemptVerdict::Delivered),
        ],
    )
    .await?;
    if verdict == AttemptVerdict::Delivered {
        // a SET pushed and accepted is not served again by polling.
        tx.execute(
            sql!(
                "UPDATE events SET state = ",
                event_state::ACKNOWLEDGED,
                " WHERE state = ",
                event_state::AWAITING,
                " AND seq = (SELECT event_seq FROM deliveries WHERE id = $1 AND format = $2)"
            ),
            &[&delivery_id, &Dialect::Obie.name()],
        )
        .await?;
    }
    Ok(())
}

/// Starts the attempts of `chosen` (deliveries a claim took, their rows locked by it),
/// inside the claim's transaction, in one statement: each delivery leased until the lease's
/// end with its attempt row written in flight; earlier attempts still in flight (their lease
/// ran out: the replica making them died) are marked interrupted. The guards are checked
/// again here, with this statement's fresh snapshot: a manual retry committed while the
/// claim waited for a row's lock may have made it due with an attempt still in flight.
/// Returns the ids of the deliveries started.
pub(super) async fn start_in(
    tx: &impl GenericClient,
    claim: &Claim,
    chosen: &[DueDelivery],
) -> Result<Vec<String>> {
    if chosen.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<&str> = chosen.iter().map(|d| d.id.as_str()).collect();
    let numbers: Vec<i64> = chosen.iter().map(|d| d.attempt).collect();
    let interaction_ids: Vec<&str> = chosen.iter().map(|d| d.interaction_id.as_str()).collect();
    let rows = tx
        .query(
            sql!(
                "WITH c AS (SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[])
                              AS c(id, attempt, interaction_id)),
                 leased AS (UPDATE deliveries d SET attempts = c.attempt, next_attempt_at = $4
                            FROM c WHERE d.id = c.id AND d.attempts = c.attempt - 1
                              AND d.state = ",
                delivery_state::PENDING,
                " AND NOT EXISTS (SELECT 1 FROM delivery_attempts a
                                WHERE a.delivery_id = d.id AND a.in_flight AND a.started_at >= $7)
                            RETURNING d.id),
                 interrupted AS (UPDATE delivery_attempts a SET in_flight = FALSE, error = $5
                                 FROM leased l WHERE a.delivery_id = l.id AND a.in_flight)
                 INSERT INTO delivery_attempts (delivery_id, ",
                ATTEMPT_COLUMNS,
                ") SELECT c.id, c.attempt, $6, 0, NULL, NULL, c.interaction_id, NULL, NULL, TRUE
                   FROM c JOIN leased l ON l.id = c.id
                   RETURNING delivery_id"
            ),
            &[
                &ids,
                &numbers,
                &interaction_ids,
                &claim.lease_until().as_millis(),
                &INTERRUPTED,
                &claim.now.as_millis(),
                &claim.live_since().as_millis(),
            ],
        )
        .await?;
    rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
}
