//! The published referee runs on both engines: one per client, replaced by the next, refused
//! for an unknown client, deleted on request and removed with their client.

use super::*;

async fn published_runs_per_tpp(store: Store) {
    let seeded = Client {
        seeded: true,
        ..client("a", 1)
    };
    store.upsert_client(&seeded).await.unwrap();
    store.upsert_client(&client("b", 1)).await.unwrap();
    assert!(
        store
            .put_referee_run(&cid("a"), "{\"n\":1}", Timestamp::now())
            .await
            .unwrap()
    );
    assert!(
        store
            .put_referee_run(&cid("a"), "{\"n\":2}", Timestamp::now())
            .await
            .unwrap()
    );
    assert!(
        store
            .put_referee_run(&cid("b"), "{\"n\":3}", Timestamp::now())
            .await
            .unwrap()
    );
    let a = store.referee_run(&cid("a")).await.unwrap().unwrap();
    assert_eq!(
        (a.client_id.as_str(), a.summary.as_str()),
        ("a", "{\"n\":2}")
    );
    // No such client: nothing stored.
    assert!(
        !store
            .put_referee_run(&cid("nobody"), "{}", Timestamp::now())
            .await
            .unwrap()
    );
    assert!(store.referee_run(&cid("nobody")).await.unwrap().is_none());
    assert!(store.delete_referee_run(&cid("b")).await.unwrap());
    assert!(!store.delete_referee_run(&cid("b")).await.unwrap());
    assert!(store.referee_run(&cid("b")).await.unwrap().is_none());
    // A seeded client the config no longer names goes, and its run with it.
    store.prune_seeded_clients(&[]).await.unwrap();
    assert!(store.referee_run(&cid("a")).await.unwrap().is_none());
}
on_both_engines!(referee_runs_store, published_runs_per_tpp);
