//! Group commit on both engines: many writes in one transaction, each rolled back alone when it
//! fails or its guard no longer holds (the others still commit), and the writer task that
//! batches what waits, answering each caller with its own write's result.

use std::sync::Arc;

use super::transactions::revoke;
use super::*;
use crate::sandbox::domain::{Bound, TppBounds};
use crate::sandbox::store::group::GroupCommit;

fn trigger(change: Option<ConsentStatusChange>, events: Vec<NewEvent>) -> Write {
    Write::Trigger {
        change,
        events: events.into(),
    }
}

async fn each_write_of_a_batch_stands_alone(store: Store) {
    let store = store.with_bounds(TppBounds {
        max_events: Some(3),
        ..Default::default()
    });
    store.insert_consent(&consent("c1")).await.unwrap();
    store
        .insert_events(&[with_delivery("a", "x1", "d1")])
        .await
        .unwrap();
    let writes = [
        // Stored.
        trigger(Some(revoke("c1")), vec![event("a", "e1")]),
        // The guard no longer holds (c1 was just revoked by the write before): not applied.
        trigger(Some(revoke("c1")), vec![event("a", "e2")]),
        // Its second event repeats the first's key: an error, and neither is stored.
        trigger(None, vec![event("b", "b1"), event("b", "b1")]),
        // Past a's bound of 3 stored events (x1 and e1 are stored): refused alone.
        trigger(None, vec![event("a", "e3"), event("a", "e4")]),
        Write::RecordAttempt {
            delivery_id: "d1".into(),
            attempt: attempt(1, Some(202)),
            verdict: AttemptVerdict::Delivered,
        },
        trigger(None, vec![event("b", "b2")]),
    ];
    let results = store.apply_writes(&writes).await.unwrap();
    assert_eq!(results.len(), writes.len());
    assert!(matches!(results[0], Ok(true)));
    assert!(matches!(results[1], Ok(false)));
    assert!(results[2].is_err());
    match &results[3] {
        Err(StoreError::BoundReached(b)) => assert_eq!(b.bound, Bound::StoredEvents),
        other => panic!("expected the bound, got {other:?}"),
    }
    assert!(matches!(results[4], Ok(true)));
    assert!(matches!(results[5], Ok(true)));
    let c = store.consent(&"c1".into()).await.unwrap().unwrap();
    assert_eq!(c.status, ConsentStatus::Revoked);
    let mut a: Vec<String> = store
        .events_of(&cid("a"), 10)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.jti)
        .collect();
    a.sort();
    assert_eq!(a, ["e1", "x1"]);
    assert_eq!(store.stored_events(&cid("a")).await.unwrap(), 2);
    let b: Vec<String> = store
        .events_of(&cid("b"), 10)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.jti)
        .collect();
    assert_eq!(b, ["b2"]);
    let d = &store.deliveries_of(&cid("a"), 10).await.unwrap()[0];
    assert_eq!(d.state, DeliveryState::Delivered);
    assert_eq!(d.attempts.len(), 1);
    assert_eq!(d.attempts[0].interaction_id.as_deref(), Some("i1"));
    assert_eq!(d.attempts[0].status_code, Some(202));
}
on_both_engines!(group_writes_alone, each_write_of_a_batch_stands_alone);

async fn the_writer_answers_each_caller_with_its_own_result(store: Store) {
    store.insert_consent(&consent("c1")).await.unwrap();
    let group = GroupCommit::start(store.clone());
    // Many callers at once, so that the writer takes several per transaction; two of them
    // race for one consent's guard.
    let mut tasks = Vec::new();
    for i in 0..200 {
        let group = group.clone();
        tasks.push(tokio::spawn(async move {
            let change = (i < 2).then(|| revoke("c1"));
            let events: Arc<[NewEvent]> = Arc::new([event("a", &format!("g{i}"))]);
            group.commit_trigger(change, events).await
        }));
    }
    let mut applied = 0;
    let mut refused = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(true) => applied += 1,
            Ok(false) => refused += 1,
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!((applied, refused), (199, 1));
    assert_eq!(store.stored_events(&cid("a")).await.unwrap(), 199);
    // Closing commits what was queued, then refuses: nothing is acknowledged unstored.
    let late = group.clone();
    group.close().await;
    let refused = late
        .commit_trigger(None, Arc::new([event("a", "late")]))
        .await;
    assert!(refused.is_err());
    assert_eq!(store.stored_events(&cid("a")).await.unwrap(), 199);
}
on_both_engines!(
    group_writer,
    the_writer_answers_each_caller_with_its_own_result
);

/// d4 claimed at 500 for a second, then d1..d5 claimed at 7,000 (attempt 1 in flight; d4's
/// attempt 2, its attempt 1 interrupted), d6 never claimed; and outcomes:
/// delivered, retried, failed, delivered, a late one (d4's attempt 1), one with no row of its
/// own (d6), and a second for d2 (a run of outcomes stops at it).
async fn outcome_scene(store: &Store) -> Vec<Write> {
    let mut events: Vec<NewEvent> = (1..=6)
        .map(|n| with_delivery("a", &format!("x{n}"), &format!("d{n}")))
        .collect();
    events[3].deliveries[0].next_attempt_at = ms(500);
    events[5].deliveries[0].next_attempt_at = ms(100_000);
    store.insert_events(&events).await.unwrap();
    let early = store
        .claim_due(&claims(ms(500), ms(1_500), 5))
        .await
        .unwrap();
    assert_eq!(early.started.len(), 1, "d4 alone");
    let first = store
        .claim_due(&claims(ms(7_000), ms(12_000), 5))
        .await
        .unwrap();
    let ids: Vec<(&str, i64)> = first
        .started
        .iter()
        .map(|d| (d.id.as_str(), d.attempt))
        .collect();
    assert_eq!(ids.len(), 5);
    assert!(ids.contains(&("d4", 2)), "{ids:?}");
    let outcome = |d: &str, n: i64, status: Option<i64>, verdict| Write::RecordAttempt {
        delivery_id: d.into(),
        attempt: attempt(n, status),
        verdict,
    };
    vec![
        outcome("d1", 1, Some(202), AttemptVerdict::Delivered),
        outcome("d2", 1, Some(503), AttemptVerdict::RetryAt(ms(9_000))),
        outcome("d3", 1, Some(404), AttemptVerdict::Failed),
        outcome("d5", 1, Some(202), AttemptVerdict::Delivered),
        outcome("d4", 1, None, AttemptVerdict::RetryAt(ms(8_000))),
        outcome("d6", 1, Some(202), AttemptVerdict::Delivered),
        outcome("d2", 1, Some(410), AttemptVerdict::Failed),
    ]
}

/// What the store shows of a's deliveries and events, but when they were stored and the
/// interaction ids a claim made up for attempts still in flight.
async fn shown(store: &Store) -> (Vec<String>, Vec<String>) {
    let mut deliveries: Vec<String> = store
        .deliveries_of(&cid("a"), 10)
        .await
        .unwrap()
        .into_iter()
        .map(|mut d| {
            d.created_at = ms(0);
            for a in d.attempts.iter_mut().filter(|a| a.in_flight) {
                a.interaction_id = None;
            }
            format!("{d:?}")
        })
        .collect();
    deliveries.sort();
    let mut events: Vec<String> = store
        .events_of(&cid("a"), 10)
        .await
        .unwrap()
        .into_iter()
        .map(|e| format!("{} {:?}", e.jti, e.state))
        .collect();
    events.sort();
    (deliveries, events)
}

/// Outcomes committed together (on SQLite a run of them goes in set-based statements) leave
/// the same rows as the same outcomes committed one at a time.
async fn outcomes_together_land_as_one_at_a_time(one_by_one: Store, together: Store) {
    let writes = outcome_scene(&one_by_one).await;
    for w in &writes {
        let r = one_by_one
            .apply_writes(std::slice::from_ref(w))
            .await
            .unwrap();
        assert!(matches!(r[0], Ok(true)), "{r:?}");
    }
    assert_eq!(outcome_scene(&together).await.len(), writes.len());
    let results = together.apply_writes(&writes).await.unwrap();
    assert!(results.iter().all(|r| matches!(r, Ok(true))), "{results:?}");
    let (deliveries, events) = shown(&together).await;
    assert_eq!(
        (deliveries.clone(), events.clone()),
        shown(&one_by_one).await
    );
    // And they are what the outcomes say.
    let states: Vec<&str> = deliveries
        .iter()
        .map(|d| {
            d.split("state: ")
                .nth(1)
                .unwrap_or("")
                .split(',')
                .next()
                .unwrap_or("")
        })
        .collect();
    assert_eq!(
        states,
        [
            "Delivered",
            "Failed",
            "Failed",
            "Pending",
            "Delivered",
            "Delivered"
        ]
    );
    assert!(
        deliveries[3].contains("next_attempt_at: Some(Timestamp(12000))"),
        "{}",
        deliveries[3]
    );
    let acknowledged = events
        .iter()
        .filter(|e| e.ends_with("Acknowledged"))
        .count();
    assert_eq!(acknowledged, 3, "{events:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outcomes_together() {
    outcomes_together_land_as_one_at_a_time(
        Store::open(":memory:").await.unwrap(),
        Store::open(":memory:").await.unwrap(),
    )
    .await;
    if let Some(server) = server_or_skip("outcomes_together") {
        let (a, b) = (
            TempPg::create(&server).await.unwrap(),
            TempPg::create(&server).await.unwrap(),
        );
        outcomes_together_land_as_one_at_a_time(
            Store::open(&a.url).await.unwrap(),
            Store::open(&b.url).await.unwrap(),
        )
        .await;
    }
}

/// A claimed delivery may wait in the worker for its URL's lane, so its attempt row shows the
/// claim's time while in flight and, with its outcome, when the request was really sent: alone
/// or in a batch of outcomes (on SQLite a run of one and a set-based run).
async fn the_outcome_sets_when_the_attempt_was_sent(store: Store) {
    let events: Vec<NewEvent> = (1..=3)
        .map(|n| with_delivery("a", &format!("x{n}"), &format!("d{n}")))
        .collect();
    store.insert_events(&events).await.unwrap();
    let claimed = store
        .claim_due(&claims(ms(7_000), ms(12_000), 3))
        .await
        .unwrap();
    assert_eq!(claimed.started.len(), 3);
    let in_flight = store.deliveries_of(&cid("a"), 10).await.unwrap();
    assert!(
        in_flight
            .iter()
            .all(|d| d.attempts[0].in_flight && d.attempts[0].started_at == ms(7_000)),
        "{in_flight:?}"
    );
    let sent = |d: &str, at: i64| Write::RecordAttempt {
        delivery_id: d.into(),
        attempt: Attempt {
            started_at: ms(at),
            ..attempt(1, Some(202))
        },
        verdict: AttemptVerdict::Delivered,
    };
    let alone = store.apply_writes(&[sent("d1", 7_040)]).await.unwrap();
    let together = store
        .apply_writes(&[sent("d2", 7_050), sent("d3", 7_060)])
        .await
        .unwrap();
    assert!(alone.iter().chain(&together).all(|r| matches!(r, Ok(true))));
    let mut done = store.deliveries_of(&cid("a"), 10).await.unwrap();
    done.sort_by(|a, b| a.id.as_str().cmp(b.id.as_str()));
    let starts: Vec<(bool, Timestamp)> = done
        .iter()
        .map(|d| (d.attempts[0].in_flight, d.attempts[0].started_at))
        .collect();
    assert_eq!(
        starts,
        [(false, ms(7_040)), (false, ms(7_050)), (false, ms(7_060))]
    );
}

/// Deliveries claimed and never sent go back as they were before their claim: no attempt on
/// record, due again, and claimed next as the same attempt. One whose row moved since its
/// claim (here: cancelled) and one named with another attempt's number are left as they are.
async fn unsent_deliveries_go_back_as_before_their_claim(store: Store) {
    let events = [
        with_delivery("a", "x1", "d1"),
        with_delivery("a", "x2", "d2"),
        with_delivery("b", "x3", "d3"),
    ];
    store.insert_events(&events).await.unwrap();
    let claimed = store
        .claim_due(&claims(ms(7_000), ms(60_000), 3))
        .await
        .unwrap();
    assert_eq!(claimed.started.len(), 3);
    // d3 is cancelled while it waits: its TPP deleted its subscription.
    let s = Subscription {
        callback_url: Some(URL.into()),
        ..sub("sub-b", "b")
    };
    assert!(store.insert_subscription(&s, false).await.unwrap());
    assert!(store.delete_subscription(&s.id, true).await.unwrap());
    let unsent = [
        (DeliveryId::from("d1"), 1),
        (DeliveryId::from("d2"), 2),
        (DeliveryId::from("d3"), 1),
    ];
    let released = store.release_unsent(&unsent, ms(8_000)).await.unwrap();
    assert_eq!(released, 1, "only d1 matched what its claim left");
    let mut shown = store.deliveries_of(&cid("a"), 10).await.unwrap();
    shown.sort_by(|a, b| a.id.as_str().cmp(b.id.as_str()));
    assert!(shown[0].attempts.is_empty(), "{:?}", shown[0]);
    assert_eq!(shown[0].state, DeliveryState::Pending);
    assert_eq!(shown[0].next_attempt_at, Some(ms(8_000)));
    assert!(shown[1].attempts[0].in_flight, "d2 keeps its claim");
    let d3 = store.deliveries_of(&cid("b"), 10).await.unwrap();
    assert_eq!(d3[0].state, DeliveryState::Cancelled);
    assert_eq!(d3[0].attempts.len(), 1, "cancelled d3 keeps its attempt");
    let again = store
        .claim_due(&claims(ms(8_000), ms(60_000), 3))
        .await
        .unwrap();
    let ids: Vec<(&str, i64)> = again
        .started
        .iter()
        .map(|d| (d.id.as_str(), d.attempt))
        .collect();
    assert_eq!(ids, [("d1", 1)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsent_go_back() {
    unsent_deliveries_go_back_as_before_their_claim(Store::open(":memory:").await.unwrap()).await;
    if let Some(server) = server_or_skip("unsent_go_back") {
        let db = TempPg::create(&server).await.unwrap();
        unsent_deliveries_go_back_as_before_their_claim(Store::open(&db.url).await.unwrap()).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outcomes_set_when_sent() {
    the_outcome_sets_when_the_attempt_was_sent(Store::open(":memory:").await.unwrap()).await;
    if let Some(server) = server_or_skip("outcomes_set_when_sent") {
        let db = TempPg::create(&server).await.unwrap();
        the_outcome_sets_when_the_attempt_was_sent(Store::open(&db.url).await.unwrap()).await;
    }
}
