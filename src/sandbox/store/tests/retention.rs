//! Retention sweeps and per-TPP bounds on both engines: old finished rows go in bounded
//! batches, young rows, awaiting SETs and deliveries with work left stay; the bounds hold
//! exactly when many writers race, and their count follows resets and sweeps.

use super::*;
use crate::sandbox::domain::{Bound, BoundReached, TppBounds};

/// A day after now: every row the tests write is older than this.
fn later() -> Timestamp {
    Timestamp::now().saturating_add(std::time::Duration::from_secs(86_400))
}

fn with_delivery(mut e: NewEvent, id: &str) -> NewEvent {
    e.deliveries.push(NewDelivery {
        id: id.into(),
        format: Dialect::Obie,
        url: "https://tpp.example/hook".into(),
        next_attempt_at: ms(1_000),
    });
    e
}

/// Claims every due delivery and records one attempt of each with `verdict`.
async fn finish_all(store: &Store, verdict: AttemptVerdict) {
    // Claimed at 1 s (when they are due), so the attempts are old enough to sweep.
    let due = store
        .claim_due(&claims(ms(1_000), later(), 100))
        .await
        .unwrap()
        .started;
    for d in due {
        assert_eq!(d.attempt, 1);
        store
            .record_attempt(&d.id, &attempt(1, Some(202)), verdict)
            .await
            .unwrap();
    }
}

async fn events_sweep_takes_finished_and_keeps_awaiting_and_busy(store: Store) {
    let young = NewEvent {
        created_at: Timestamp::now(),
        ..event("a", "young")
    };
    let mut push_only = with_delivery(event("a", "pushed"), "d-pushed");
    push_only.poll = false;
    store
        .insert_events(&[
            event("a", "acked"),
            event("a", "awaiting"),
            young,
            push_only,
        ])
        .await
        .unwrap();
    finish_all(&store, AttemptVerdict::Delivered).await;
    // Pending push, its event not awaiting: kept while the delivery has work to do.
    let mut pending = with_delivery(event("a", "pending"), "d-pending");
    pending.poll = false;
    store.insert_events(&[pending]).await.unwrap();
    poll(&store, "a", &["acked".into()], 0).await;
    assert_eq!(store.stored_events(&cid("a")).await.unwrap(), 5);

    // After the old rows (created at 0), long before the young one.
    let cutoff = Timestamp::from_secs(1_000);
    let n = store
        .sweep(Sweep::FinishedEvents, cutoff, 100)
        .await
        .unwrap();
    assert_eq!(n, 2, "the acknowledged and the delivered push-only event");
    let mut left: Vec<String> = store
        .events_of(&cid("a"), 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.jti)
        .collect();
    left.sort();
    assert_eq!(left, ["awaiting", "pending", "young"]);
    // The delivered delivery went with its event (cascade); the pending one stayed.
    let deliveries = store.deliveries_of(&cid("a"), 100).await.unwrap();
    assert_eq!(deliveries.len(), 1);
    assert_eq!(deliveries[0].id.as_str(), "d-pending");
    assert_eq!(store.stored_events(&cid("a")).await.unwrap(), 3);
    // The awaiting SET goes only when the operator asks, and is still served until then.
    assert_eq!(
        jtis(&poll(&store, "a", &[], 10).await),
        ["awaiting", "young"]
    );
    let n = store
        .sweep(Sweep::AwaitingEvents, cutoff, 100)
        .await
        .unwrap();
    assert_eq!(n, 1);
    assert_eq!(jtis(&poll(&store, "a", &[], 10).await), ["young"]);
    assert_eq!(store.stored_events(&cid("a")).await.unwrap(), 2);
}
on_both_engines!(
    retention_events,
    events_sweep_takes_finished_and_keeps_awaiting_and_busy
);

async fn sweeps_delete_in_bounded_batches(store: Store) {
    let acked: Vec<String> = (0..7).map(|i| format!("e{i}")).collect();
    let events: Vec<NewEvent> = acked.iter().map(|j| event("a", j)).collect();
    store.insert_events(&events).await.unwrap();
    poll(&store, "a", &acked, 0).await;
    let mut batches = Vec::new();
    loop {
        let n = store
            .sweep(Sweep::FinishedEvents, later(), 3)
            .await
            .unwrap();
        batches.push(n);
        if n < 3 {
            break;
        }
    }
    assert_eq!(batches, [3, 3, 1]);
    assert!(store.events_of(&cid("a"), 10).await.unwrap().is_empty());
    assert_eq!(store.stored_events(&cid("a")).await.unwrap(), 0);
}
on_both_engines!(retention_batches, sweeps_delete_in_bounded_batches);

async fn deliveries_and_attempts_sweeps_keep_work_in_progress(store: Store) {
    store
        .insert_events(&[
            with_delivery(event("a", "e1"), "d1"),
            with_delivery(event("a", "e2"), "d2"),
        ])
        .await
        .unwrap();
    finish_all(&store, AttemptVerdict::Failed).await;
    // A third delivery stays pending with an attempt in flight.
    store
        .insert_events(&[with_delivery(event("a", "e3"), "d3")])
        .await
        .unwrap();
    let due = store
        .claim_due(&claims(ms(1_000), later(), 100))
        .await
        .unwrap()
        .started;
    assert_eq!(due.len(), 1);

    // Attempts: the two completed ones go, the one in flight stays.
    assert_eq!(store.sweep(Sweep::Attempts, later(), 100).await.unwrap(), 2);
    let attempts = |d: &DeliveryRecord| d.attempts.len();
    let ds = store.deliveries_of(&cid("a"), 10).await.unwrap();
    assert_eq!(ds.iter().map(attempts).sum::<usize>(), 1);
    // Deliveries: the two failed ones go, their events stay; the pending one stays.
    let n = store
        .sweep(Sweep::FinishedDeliveries, later(), 1)
        .await
        .unwrap();
    assert_eq!(n, 1, "one per batch");
    assert_eq!(
        store
            .sweep(Sweep::FinishedDeliveries, later(), 10)
            .await
            .unwrap(),
        1
    );
    let ds = store.deliveries_of(&cid("a"), 10).await.unwrap();
    assert_eq!(ds.len(), 1);
    assert_eq!(ds[0].state, DeliveryState::Pending);
    assert_eq!(store.events_of(&cid("a"), 10).await.unwrap().len(), 3);
    // A cutoff before the rows were written removes nothing.
    assert_eq!(
        store
            .sweep(Sweep::FinishedDeliveries, ms(0), 10)
            .await
            .unwrap(),
        0
    );
}
on_both_engines!(
    retention_deliveries,
    deliveries_and_attempts_sweeps_keep_work_in_progress
);

async fn event_bound_holds_under_racing_commits(store: Store) {
    let store = store.with_bounds(TppBounds {
        max_events: Some(10),
        max_subscriptions: None,
    });
    let mut tasks = Vec::new();
    for i in 0..30 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store.insert_events(&[event("a", &format!("r{i}"))]).await
        }));
    }
    let (mut stored, mut refused) = (0, 0);
    for t in tasks {
        match t.await.unwrap() {
            Ok(()) => stored += 1,
            Err(StoreError::BoundReached(b)) => {
                assert_eq!(
                    b,
                    BoundReached {
                        client_id: cid("a"),
                        bound: Bound::StoredEvents,
                        limit: 10
                    }
                );
                refused += 1;
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!((stored, refused), (10, 20));
    assert_eq!(store.events_of(&cid("a"), 100).await.unwrap().len(), 10);
    assert_eq!(store.stored_events(&cid("a")).await.unwrap(), 10);
    // Another TPP has its own room; a batch that would overflow is refused whole.
    store.insert_events(&[event("b", "b0")]).await.unwrap();
    let many: Vec<NewEvent> = (0..10)
        .map(|i| event("b", &format!("b{}", i + 1)))
        .collect();
    assert!(store.insert_events(&many).await.is_err());
    assert_eq!(store.events_of(&cid("b"), 100).await.unwrap().len(), 1);
    // A reset frees the room.
    assert_eq!(store.reset_events(&cid("a")).await.unwrap(), 10);
    assert_eq!(store.stored_events(&cid("a")).await.unwrap(), 0);
    store.insert_events(&[event("a", "again")]).await.unwrap();
}
on_both_engines!(event_bound, event_bound_holds_under_racing_commits);

async fn subscription_bound_counts_every_kind(store: Store) {
    let store = store.with_bounds(TppBounds {
        max_events: None,
        max_subscriptions: Some(3),
    });
    assert!(
        store
            .insert_subscription(&sub("s1", "a"), false)
            .await
            .unwrap()
    );
    let cb = CallbackUrl {
        id: "c1".into(),
        client_id: cid("a"),
        url: "https://a.example/cb".into(),
        version: "3.1".into(),
        created_at: Timestamp::from_secs(1),
    };
    assert!(store.insert_callback_url(&cb, false).await.unwrap());
    // Many Yapily inserts at once (a fault admits duplicates): exactly one more fits.
    let mut tasks = Vec::new();
    for i in 0..10 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let s = ysub(&format!("y{i}"), "a", "consent.revoked");
            store.insert_yapily_subscription(&s, true).await
        }));
    }
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(true) => ok += 1,
            Err(StoreError::BoundReached(b)) => assert_eq!(b.bound, Bound::Subscriptions),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(ok, 1);
    assert_eq!(
        store
            .yapily_subscriptions_of(&cid("a"), true)
            .await
            .unwrap()
            .len(),
        1
    );
    // The one-per-TPP rule still answers first (ES-03), and other TPPs are not affected.
    assert!(
        !store
            .insert_subscription(&sub("s2", "a"), false)
            .await
            .unwrap()
    );
    assert!(
        store
            .insert_subscription(&sub("s3", "b"), false)
            .await
            .unwrap()
    );
}
on_both_engines!(subscription_bound, subscription_bound_counts_every_kind);

/// Sweeps running at once (several replicas on PostgreSQL: separate connections) share the
/// rows: every row is removed exactly once and none of them fails.
async fn concurrent_sweeps_share_the_rows(store: Store) {
    let jtis: Vec<String> = (0..60).map(|i| format!("e{i}")).collect();
    let events: Vec<NewEvent> = jtis.iter().map(|j| event("a", j)).collect();
    store.insert_events(&events).await.unwrap();
    poll(&store, "a", &jtis, 0).await;
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut total = 0;
            loop {
                let n = store
                    .sweep(Sweep::FinishedEvents, later(), 5)
                    .await
                    .unwrap();
                total += n;
                if n == 0 {
                    return total;
                }
            }
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    assert_eq!(total, 60);
    assert_eq!(store.stored_events(&cid("a")).await.unwrap(), 0);
    assert!(store.events_of(&cid("a"), 10).await.unwrap().is_empty());
}
on_both_engines!(concurrent_sweeps, concurrent_sweeps_share_the_rows);
