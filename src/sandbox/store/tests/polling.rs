//! Polls on both engines under concurrency: many TPPs polling at once (on PostgreSQL their
//! read-only polls are combined into shared statements) each get their own SETs, oldest
//! first; and a poll that acknowledges never gets back what it acknowledged.

use super::*;

/// 12 TPPs with 3 SETs each, each polled 4 times at once (48 polls in flight).
async fn concurrent_polls_get_their_own_sets(store: Store) {
    let clients: Vec<String> = (0..12).map(|c| format!("tpp{c}")).collect();
    for c in &clients {
        let events: Vec<NewEvent> = (0..3).map(|i| event(c, &format!("{c}-{i}"))).collect();
        store.insert_events(&events).await.unwrap();
    }
    let mut polls = tokio::task::JoinSet::new();
    for round in 0..4 {
        for c in &clients {
            let (store, c) = (store.clone(), c.clone());
            // Alternate limits, so combined polls fetch different numbers of rows.
            let limit = if round % 2 == 0 { 10 } else { 2 };
            polls.spawn(async move { (c.clone(), limit, poll(&store, &c, &[], limit).await) });
        }
    }
    let mut answered = 0;
    while let Some(done) = polls.join_next().await {
        let (c, limit, batch) = done.unwrap();
        let want: Vec<String> = (0..3.min(limit)).map(|i| format!("{c}-{i}")).collect();
        assert_eq!(jtis(&batch), want, "{c} polled with limit {limit}");
        assert_eq!(batch.more_available, limit < 3, "{c} limit {limit}");
        for (jti, token) in &batch.sets {
            assert_eq!(token, &format!("token-{jti}"));
        }
        answered += 1;
    }
    assert_eq!(answered, 48);
}
on_both_engines!(
    concurrent_polls_of_many_tpps,
    concurrent_polls_get_their_own_sets
);

/// One TPP with 5 SETs polled 36 times at once with limits 1 to 6 (on PostgreSQL many of them
/// share a combined read, which scans the TPP once for its largest poll): each poll gets the
/// oldest SETs up to its own limit, and `moreAvailable` by that limit.
async fn concurrent_polls_of_one_tpp_keep_their_limits(store: Store) {
    let events: Vec<NewEvent> = (0..5).map(|i| event("one", &format!("one-{i}"))).collect();
    store.insert_events(&events).await.unwrap();
    let mut polls = tokio::task::JoinSet::new();
    for round in 0..36 {
        let store = store.clone();
        let limit = round % 6 + 1;
        polls.spawn(async move { (limit, poll(&store, "one", &[], limit).await) });
    }
    while let Some(done) = polls.join_next().await {
        let (limit, batch) = done.unwrap();
        let want: Vec<String> = (0..5.min(limit)).map(|i| format!("one-{i}")).collect();
        assert_eq!(jtis(&batch), want, "limit {limit}");
        assert_eq!(batch.more_available, limit < 5, "limit {limit}");
    }
}
on_both_engines!(
    concurrent_polls_of_one_tpp,
    concurrent_polls_of_one_tpp_keep_their_limits
);

/// Two polls of one TPP acknowledging the same SETs at once: neither answer holds a SET it
/// acknowledged, and afterwards only the unacknowledged ones await.
async fn a_poll_never_returns_what_it_acknowledged(store: Store) {
    let events: Vec<NewEvent> = (0..6).map(|i| event("a", &format!("a{i}"))).collect();
    store.insert_events(&events).await.unwrap();
    let acked: Vec<String> = (0..4).map(|i| format!("a{i}")).collect();
    let (x, y) = tokio::join!(poll(&store, "a", &acked, 10), poll(&store, "a", &acked, 10));
    for b in [&x, &y] {
        assert_eq!(jtis(b), ["a4", "a5"]);
        assert!(!b.more_available);
    }
    // Acknowledge-only: whether anything still awaits, beside this poll's own acks.
    let b = poll(&store, "a", &["a4".into()], 0).await;
    assert!(b.sets.is_empty() && b.more_available);
    let b = poll(&store, "a", &["a5".into()], 0).await;
    assert!(!b.more_available);
}
on_both_engines!(
    racing_acks_of_one_tpp,
    a_poll_never_returns_what_it_acknowledged
);
