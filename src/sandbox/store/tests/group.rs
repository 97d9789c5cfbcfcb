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
