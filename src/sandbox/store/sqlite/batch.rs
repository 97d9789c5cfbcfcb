//! SQLite: the push worker's per-delivery writes as set-based statements, one statement per
//! table for a whole claim or a whole run of outcomes (a lone outcome is a run of one), the
//! rows passed as one JSON array (`jsonb_each`: each statement parses the array once and reads
//! every row's fields from its binary form; with `json_each` each `->>` parsed the row's text
//! again, a fifth of the outcome statements' time). The same rows change as with one statement
//! per delivery; what goes is the per-statement cost (binding, stepping, opening a cursor on
//! every index of the table), most of each row-at-a-time statement's time in a replay of the
//! push path's writes (README, Performance).

use std::collections::HashSet;

use rusqlite::{Connection, params};
use serde_json::json;

use crate::sandbox::domain::{
    Attempt, AttemptVerdict, DeliveryId, Dialect, DueDelivery, INTERRUPTED, Timestamp,
};
use crate::sandbox::store::claim::Claim;
use crate::sandbox::store::schema::{
    ATTEMPT_COLUMNS, delivery_code, delivery_state, event_state, sql,
};
use crate::sandbox::store::{Result, to_json};

/// Starts the attempts of `chosen`, claimed in `tx` by `claim` (see `store::claim`): each
/// delivery is leased and counts one more attempt, any earlier attempt of it still in flight
/// (its lease ran out: the process making it died) is marked interrupted, and the new attempt
/// is written in flight. Returns the deliveries started.
///
/// The claim's read in the same transaction found each delivery pending with no live attempt,
/// and nothing else writes in between (the process holds the database's only connection, and
/// the claim holds that), so all of them start. The lease still checks the count of attempts
/// and the state, as the per-row start did: a delivery that changed anyway is left out
/// rather than started twice, and the rest of the claim goes ahead.
pub(super) fn start_many_in(
    tx: &Connection,
    claim: &Claim,
    chosen: Vec<DueDelivery>,
) -> Result<Vec<DueDelivery>> {
    if chosen.is_empty() {
        return Ok(chosen);
    }
    let rows = |ds: &[DueDelivery]| {
        let rows: Vec<serde_json::Value> = ds
            .iter()
            .map(|d| json!([d.id.as_str(), d.attempt, d.interaction_id]))
            .collect();
        to_json(&rows)
    };
    let leased: HashSet<String> = tx
        .prepare_cached(sql!(
            "WITH o AS (SELECT value ->> 0 AS d, value ->> 1 AS n FROM jsonb_each(?1))
             UPDATE deliveries SET attempts = o.n, next_attempt_at = ?2
               FROM o WHERE deliveries.id = o.d AND deliveries.attempts = o.n - 1
                 AND deliveries.state = ",
            delivery_state::PENDING,
            " RETURNING deliveries.id"
        ))?
        .query_map(
            params![rows(&chosen), claim.lease_until().as_millis()],
            |r| r.get(0),
        )?
        .collect::<rusqlite::Result<_>>()?;
    let mut started = chosen;
    started.retain(|d| leased.contains(d.id.as_str()));
    let rows = rows(&started);
    tx.prepare_cached(
        "UPDATE delivery_attempts SET in_flight = 0, error = ?2
         WHERE in_flight = 1 AND delivery_id IN (SELECT value ->> 0 FROM jsonb_each(?1))",
    )?
    .execute(params![rows, INTERRUPTED])?;
    tx.prepare_cached(sql!(
        "INSERT INTO delivery_attempts (delivery_id, ",
        ATTEMPT_COLUMNS,
        ") SELECT value ->> 0, value ->> 1, ?2, 0, NULL, NULL, value ->> 2, NULL, NULL, 1
           FROM jsonb_each(?1)"
    ))?
    .execute(params![rows, claim.now.as_millis()])?;
    Ok(started)
}

/// R-09: a SET pushed and accepted is not served again by polling (`?1`: the outcomes' rows,
/// `?2`: the OBIE format).
const ACKNOWLEDGE_PUSHED: &str = sql!(
    "UPDATE events SET state = ",
    event_state::ACKNOWLEDGED,
    " WHERE state = ",
    event_state::AWAITING,
    " AND seq IN (SELECT d.event_seq FROM jsonb_each(?1) j
         JOIN deliveries d ON d.id = j.value ->> 0
         WHERE j.value ->> 11 AND d.format = ?2)"
);

/// One attempt's outcome, as [`record_many_in`] takes it.
pub(super) struct Outcome<'a> {
    pub delivery_id: &'a DeliveryId,
    pub attempt: &'a Attempt,
    pub verdict: AttemptVerdict,
}

/// Records attempts' outcomes and moves their deliveries on (see `Store::record_attempt`);
/// `writes::record_in` is a run of one. No two may be of the same delivery: which of two
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
    let rows = to_json(&rows);
    // The rows the claims wrote get their outcomes, and the start becomes when the request
    // was sent (a claimed delivery may wait for its URL's lane); an attempt from before
    // claims wrote one is inserted whole.
    let updated = tx
        .prepare_cached(
            "WITH o AS (SELECT value ->> 0 AS d, value ->> 1 AS n, value ->> 2 AS started,
                 value ->> 3 AS latency, value ->> 4 AS status, value ->> 5 AS error,
                 value ->> 6 AS iid, value ->> 7 AS excerpt, value ->> 8 AS note
               FROM jsonb_each(?1))
             UPDATE delivery_attempts SET started_at = o.started, latency_ms = o.latency,
               status_code = o.status,
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
               FROM jsonb_each(?1) WHERE NOT EXISTS (SELECT 1 FROM delivery_attempts a
                 WHERE a.delivery_id = value ->> 0 AND a.attempt = value ->> 1)"
        ))?
        .execute(params![rows])?;
    }
    // A delivery cancelled while its attempt was in flight stays cancelled, unless the
    // attempt delivered it; so does one whose later attempt already started (this outcome
    // came back after its lease ran out): only a delivery moves it then, and the count of
    // attempts never goes back, so the next claim's number is never one already taken.
    tx.prepare_cached(sql!(
        "WITH o AS (SELECT value ->> 0 AS d, value ->> 1 AS n, value ->> 9 AS state,
             value ->> 10 AS next, value ->> 11 AS delivered FROM jsonb_each(?1))
         UPDATE deliveries SET state = o.state, attempts = max(deliveries.attempts, o.n),
           next_attempt_at = o.next, updated_at = ?2
         FROM o WHERE deliveries.id = o.d AND ((deliveries.state = ",
        delivery_state::PENDING,
        " AND deliveries.attempts <= o.n) OR o.delivered)"
    ))?
    .execute(params![rows, Timestamp::now().as_millis()])?;
    if outcomes
        .iter()
        .any(|o| o.verdict == AttemptVerdict::Delivered)
    {
        tx.prepare_cached(ACKNOWLEDGE_PUSHED)?
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

    /// A claim at 2,000 for up to `n` deliveries, each URL with room for all of them.
    fn claim_of(n: usize) -> Claim {
        Claim {
            now: Timestamp::from_millis(2_000),
            lease: Duration::from_secs(5),
            limit: n,
            room: Default::default(),
            default_room: n,
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
        // d4 is never claimed: its outcome has no row to complete (the insert path).
        let mut unclaimed = event(4);
        unclaimed.deliveries[0].next_attempt_at = Timestamp::from_millis(100_000);
        store
            .insert_events(&[event(1), event(2), event(3), unclaimed])
            .await
            .unwrap();
        let claim = claim_of(3);
        assert_eq!(store.claim_due(&claim).await.unwrap().started.len(), 3);
        let Store::Sqlite(s) = &store else {
            unreachable!("opened in memory")
        };
        let (ok, retry, gone) = (attempt(202), attempt(503), attempt(410));
        let retry_at = AttemptVerdict::RetryAt(Timestamp::from_millis(9_000));
        let ids: Vec<DeliveryId> = ["d1", "d2", "d3", "d4"].map(DeliveryId::from).into();
        let verdicts = [
            (&ok, AttemptVerdict::Delivered),
            (&retry, retry_at),
            (&gone, AttemptVerdict::Failed),
            (&ok, AttemptVerdict::Delivered),
        ];
        let outcomes: Vec<Outcome<'_>> = ids
            .iter()
            .zip(verdicts)
            .map(|(delivery_id, (attempt, verdict))| Outcome {
                delivery_id,
                attempt,
                verdict,
            })
            .collect();
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
                DeliveryState::Failed,
                DeliveryState::Delivered
            ]
        );
        assert_eq!(
            shown[3].attempts.len(),
            1,
            "the insert path wrote d4's attempt"
        );
        assert_eq!(shown[3].attempts[0].status_code, Some(202));
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
        let mut acknowledged = acknowledged;
        acknowledged.sort();
        assert_eq!(acknowledged, ["e1", "e4"]);
    }

    /// Cached statements keep their plan from run to run (the query planner stability
    /// guarantee set at open): without it the claim was prepared again for each new window,
    /// a trigger's subscription read for each new TPP, and the acknowledgement of pushed SETs
    /// on every run.
    #[tokio::test]
    async fn hot_statements_are_not_prepared_again() {
        let store = Store::open(":memory:").await.unwrap();
        let mut events: Vec<NewEvent> = (1..=4).map(event).collect();
        events[3].client_id = "b".into();
        store.insert_events(&events).await.unwrap();
        let Store::Sqlite(s) = &store else {
            unreachable!("opened in memory")
        };
        for (n, id) in [(1, "d1"), (2, "d2"), (3, "d4")] {
            let claimed = store.claim_due(&claim_of(n)).await.unwrap();
            assert!(!claimed.started.is_empty());
            let ok = attempt(202);
            let delivery_id = DeliveryId::from(id);
            let mut conn = s.lock();
            let tx = conn.transaction().unwrap();
            let outcome = |verdict| Outcome {
                delivery_id: &delivery_id,
                attempt: &ok,
                verdict,
            };
            record_many_in(&tx, &[outcome(AttemptVerdict::Delivered)]).unwrap();
            tx.commit().unwrap();
        }
        for client in ["a", "b", "c"] {
            store.subscriptions_of(&client.into()).await.unwrap();
        }
        let conn = s.lock();
        for sql in [
            super::super::events::CLAIM_READ,
            super::super::SUBSCRIPTIONS_OF,
            ACKNOWLEDGE_PUSHED,
        ] {
            let stmt = conn.prepare_cached(sql).unwrap();
            let runs = stmt.get_status(rusqlite::StatementStatus::Run);
            assert!(runs >= 3, "{runs} runs of {sql}");
            let again = stmt.get_status(rusqlite::StatementStatus::RePrepare);
            assert_eq!(again, 0, "{sql}");
        }
    }

    /// A claimed delivery whose row no longer matches what the claim read (its count of
    /// attempts moved) is left out; the others start.
    #[tokio::test]
    async fn a_delivery_changed_under_its_claim_is_left_out() {
        let store = Store::open(":memory:").await.unwrap();
        store.insert_events(&[event(1), event(2)]).await.unwrap();
        let claim = claim_of(2);
        let due = |id: &str, attempt| DueDelivery {
            id: id.into(),
            client_id: "a".into(),
            format: Dialect::Obie,
            url: "https://tpp.example/hook".into(),
            attempt,
            event_seq: 0,
            created_at: Timestamp::from_millis(0),
            token: None,
            started_at: claim.now,
            interaction_id: format!("i-{id}"),
        };
        let Store::Sqlite(s) = &store else {
            unreachable!("opened in memory")
        };
        let started = {
            let mut conn = s.lock();
            let tx = conn.transaction().unwrap();
            let started = start_many_in(&tx, &claim, vec![due("d1", 1), due("d2", 3)]).unwrap();
            tx.commit().unwrap();
            started
        };
        let ids: Vec<&str> = started.iter().map(|d| d.id.as_str()).collect();
        assert_eq!(ids, ["d1"]);
        let mut shown = store.deliveries_of(&"a".into(), 10).await.unwrap();
        shown.sort_by(|a, b| a.id.as_str().cmp(b.id.as_str()));
        assert_eq!(shown[0].attempts.len(), 1);
        assert!(shown[0].attempts[0].in_flight);
        assert!(shown[1].attempts.is_empty(), "nothing started for d2");
    }
}
