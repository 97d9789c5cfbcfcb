//! SQLite: the push worker's per-delivery writes as set-based statements, one statement per
//! table for a whole claim or a whole run of outcomes, the rows passed as one JSON array
//! (`json_each`). The same rows change as with one statement per delivery; what goes is the
//! per-statement cost (binding, stepping, opening a cursor on every index of the table),
//! which was more than half of the push path's time on the connection every write waits for
//! (README, Performance).

use rusqlite::{Connection, params};
use serde_json::json;

use crate::sandbox::domain::{
    Attempt, AttemptVerdict, DeliveryId, Dialect, DueDelivery, INTERRUPTED,
};
use crate::sandbox::store::claim::Claim;
use crate::sandbox::store::schema::{
    ATTEMPT_COLUMNS, delivery_code, delivery_state, event_state, sql,
};
use crate::sandbox::store::{Result, StoreError};

/// Starts the attempts of `chosen`, claimed in `tx` by `claim` (see `store::claim`): each
/// delivery is leased and counts one more attempt, any earlier attempt of it still in flight
/// (its lease ran out: the process making it died) is marked interrupted, and the new attempt
/// is written in flight.
///
/// No guard is repeated here: the claim's read in the same transaction found each delivery
/// pending with no live attempt, and nothing else writes in between (the process holds the
/// database's only connection, and the claim holds that). A delivery that changed anyway
/// aborts the claim rather than start an attempt twice.
pub(super) fn start_many_in(tx: &Connection, claim: &Claim, chosen: &[DueDelivery]) -> Result<()> {
    if chosen.is_empty() {
        return Ok(());
    }
    let rows: Vec<serde_json::Value> = chosen
        .iter()
        .map(|d| json!([d.id.as_str(), d.attempt, d.interaction_id]))
        .collect();
    let rows = serde_json::to_string(&rows).map_err(|e| StoreError::Open(e.to_string()))?;
    let leased = tx
        .prepare_cached(sql!(
            "WITH o AS (SELECT value ->> 0 AS d, value ->> 1 AS n FROM json_each(?1))
             UPDATE deliveries SET attempts = o.n, next_attempt_at = ?2
               FROM o WHERE deliveries.id = o.d AND deliveries.attempts = o.n - 1
                 AND deliveries.state = ",
            delivery_state::PENDING
        ))?
        .execute(params![rows, claim.lease_until().as_millis()])?;
    if leased != chosen.len() {
        return Err(StoreError::Open(format!(
            "{} of {} claimed deliveries changed during their claim",
            chosen.len() - leased,
            chosen.len()
        )));
    }
    tx.prepare_cached(
        "UPDATE delivery_attempts SET in_flight = 0, error = ?2
         WHERE in_flight = 1 AND delivery_id IN (SELECT value ->> 0 FROM json_each(?1))",
    )?
    .execute(params![rows, INTERRUPTED])?;
    tx.prepare_cached(sql!(
        "INSERT INTO delivery_attempts (delivery_id, ",
        ATTEMPT_COLUMNS,
        ") SELECT value ->> 0, value ->> 1, ?2, 0, NULL, NULL, value ->> 2, NULL, NULL, 1
           FROM json_each(?1)"
    ))?
    .execute(params![rows, claim.now.as_millis()])?;
    Ok(())
}

/// One attempt's outcome, as [`record_many_in`] takes it.
pub(super) struct Outcome<'a> {
    pub delivery_id: &'a DeliveryId,
    pub attempt: &'a Attempt,
    pub verdict: AttemptVerdict,
}

/// Records many attempts' outcomes and moves their deliveries on, as `record_in` does one
/// at a time (same guards, same rows). No two may be of the same delivery: which of two
/// would win a set-based update is not defined.
pub(super) fn record_many_in(tx: &Connection, outcomes: &[Outcome<'_>]) -> Result<()> {
    let rows: Vec<serde_json::Value> = outcomes
        .iter()
        .map(|o| {
            let a = o.attempt;
            let (state, next) = o.verdict.next_state();
            json!([
                o.delivery_id.as_str(),
                a.attempt,
                a.started_at.as_millis(),
                a.latency_ms,
                a.status_code,
                a.error,
                a.interaction_id,
                a.response_excerpt,
                a.note,
                delivery_code(state),
                next.map(|at| at.as_millis()),
                o.verdict == AttemptVerdict::Delivered,
            ])
        })
        .collect();
    let rows = serde_json::to_string(&rows).map_err(|e| StoreError::Open(e.to_string()))?;
    // The rows the claims wrote get their outcomes (the start left as written); an attempt
    // from before claims wrote one is inserted whole.
    let updated = tx
        .prepare_cached(
            "WITH o AS (SELECT value ->> 0 AS d, value ->> 1 AS n, value ->> 3 AS latency,
                 value ->> 4 AS status, value ->> 5 AS error, value ->> 6 AS iid,
                 value ->> 7 AS excerpt, value ->> 8 AS note FROM json_each(?1))
             UPDATE delivery_attempts SET latency_ms = o.latency, status_code = o.status,
               error = o.error, interaction_id = o.iid, response_excerpt = o.excerpt,
               note = o.note, in_flight = 0
             FROM o WHERE delivery_attempts.delivery_id = o.d AND delivery_attempts.attempt = o.n",
        )?
        .execute(params![rows])?;
    if updated < outcomes.len() {
        tx.prepare_cached(sql!(
            "INSERT INTO delivery_attempts (delivery_id, ",
            ATTEMPT_COLUMNS,
            ") SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4,
                 value ->> 5, value ->> 6, value ->> 7, value ->> 8, 0
               FROM json_each(?1) WHERE NOT EXISTS (SELECT 1 FROM delivery_attempts a
                 WHERE a.delivery_id = value ->> 0 AND a.attempt = value ->> 1)"
        ))?
        .execute(params![rows])?;
    }
    // As in `record_in`: a cancelled delivery, or one whose later attempt already started,
    // moves only if this attempt delivered it, and its count of attempts never goes back.
    tx.prepare_cached(sql!(
        "WITH o AS (SELECT value ->> 0 AS d, value ->> 1 AS n, value ->> 9 AS state,
             value ->> 10 AS next, value ->> 11 AS delivered FROM json_each(?1))
         UPDATE deliveries SET state = o.state, attempts = max(deliveries.attempts, o.n),
           next_attempt_at = o.next, updated_at = ?2
         FROM o WHERE deliveries.id = o.d AND ((deliveries.state = ",
        delivery_state::PENDING,
        " AND deliveries.attempts <= o.n) OR o.delivered)"
    ))?
    .execute(params![
        rows,
        crate::sandbox::domain::Timestamp::now().as_millis()
    ])?;
    if outcomes
        .iter()
        .any(|o| o.verdict == AttemptVerdict::Delivered)
    {
        // R-09: a SET pushed and accepted is not served again by polling.
        tx.prepare_cached(sql!(
            "UPDATE events SET state = ",
            event_state::ACKNOWLEDGED,
            " WHERE state = ",
            event_state::AWAITING,
            " AND seq IN (SELECT d.event_seq FROM json_each(?1) j
                 JOIN deliveries d ON d.id = j.value ->> 0
                 WHERE j.value ->> 11 AND d.format = ?2)"
        ))?
        .execute(params![rows, Dialect::Obie.name()])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::sandbox::domain::{DeliveryState, NewDelivery, NewEvent, Timestamp};
    use crate::sandbox::store::Store;

    fn event(n: usize) -> NewEvent {
        NewEvent {
            event_id: format!("e{n}").into(),
            jti: format!("e{n}"),
            client_id: "a".into(),
            event_type: "t".into(),
            resource_id: "r".into(),
            resource_type: "x".into(),
            resource_links: Vec::new(),
            txn: None,
            toe: Timestamp::from_millis(0),
            details: Default::default(),
            token: Some(format!("token-{n}")),
            poll: true,
            created_at: Timestamp::from_millis(0),
            deliveries: vec![NewDelivery {
                id: format!("d{n}").into(),
                format: Dialect::Obie,
                url: "https://tpp.example/hook".into(),
                next_attempt_at: Timestamp::from_millis(1_000),
            }],
        }
    }

    fn attempt(status: i64) -> Attempt {
        Attempt {
            attempt: 1,
            started_at: Timestamp::from_millis(2_000),
            latency_ms: 4,
            status_code: Some(status),
            error: None,
            interaction_id: Some("i".into()),
            response_excerpt: Some("it's \"quoted\"\n".into()),
            note: None,
            in_flight: false,
        }
    }

    /// The set-based statements themselves succeed (the group commit would otherwise fall back
    /// to one statement per outcome, unseen by tests that only compare results).
    #[tokio::test]
    async fn a_claim_and_its_outcomes_go_in_one_statement_per_table() {
        let store = Store::open(":memory:").await.unwrap();
        store
            .insert_events(&[event(1), event(2), event(3)])
            .await
            .unwrap();
        let claim = Claim {
            now: Timestamp::from_millis(2_000),
            lease: Duration::from_secs(5),
            limit: 3,
            room: Default::default(),
            default_room: 3,
        };
        assert_eq!(store.claim_due(&claim).await.unwrap().started.len(), 3);
        let Store::Sqlite(s) = &store else {
            unreachable!("opened in memory")
        };
        let (ok, retry, gone) = (attempt(202), attempt(503), attempt(410));
        let retry_at = AttemptVerdict::RetryAt(Timestamp::from_millis(9_000));
        let outcomes = [
            Outcome {
                delivery_id: &"d1".into(),
                attempt: &ok,
                verdict: AttemptVerdict::Delivered,
            },
            Outcome {
                delivery_id: &"d2".into(),
                attempt: &retry,
                verdict: retry_at,
            },
            Outcome {
                delivery_id: &"d3".into(),
                attempt: &gone,
                verdict: AttemptVerdict::Failed,
            },
        ];
        {
            let mut conn = s.lock();
            let tx = conn.transaction().unwrap();
            record_many_in(&tx, &outcomes).unwrap();
            tx.commit().unwrap();
        }
        let mut shown = store.deliveries_of(&"a".into(), 10).await.unwrap();
        shown.sort_by(|a, b| a.id.as_str().cmp(b.id.as_str()));
        let states: Vec<DeliveryState> = shown.iter().map(|d| d.state).collect();
        assert_eq!(
            states,
            [
                DeliveryState::Delivered,
                DeliveryState::Pending,
                DeliveryState::Failed
            ]
        );
        assert_eq!(
            shown[1].next_attempt_at,
            Some(Timestamp::from_millis(9_000))
        );
        let a = &shown[0].attempts[0];
        assert!(!a.in_flight);
        assert_eq!((a.status_code, a.latency_ms), (Some(202), 4));
        assert_eq!(a.response_excerpt.as_deref(), Some("it's \"quoted\"\n"));
        assert_eq!(a.started_at, Timestamp::from_millis(2_000));
        let events = store.events_of(&"a".into(), 10).await.unwrap();
        let acknowledged: Vec<&str> = events
            .iter()
            .filter(|e| e.state == crate::sandbox::domain::EventState::Acknowledged)
            .map(|e| e.jti.as_str())
            .collect();
        assert_eq!(acknowledged, ["e1"]);
    }
}
