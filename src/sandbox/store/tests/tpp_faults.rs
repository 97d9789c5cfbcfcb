//! The per-TPP chosen faults on both engines: replaced whole, kept once per (client, fault)
//! by the primary key, refused for an unknown client, listed and cleared per TPP or all, and
//! removed with their client by the foreign key.

use super::*;

async fn names(store: &Store, id: &str) -> Vec<String> {
    store
        .tpp_faults_of(&cid(id))
        .await
        .unwrap()
        .into_iter()
        .map(|f| f.fault)
        .collect()
}

async fn chosen_faults_per_tpp(store: Store) {
    let seeded = Client {
        seeded: true,
        ..client("a", 1)
    };
    store.upsert_client(&seeded).await.unwrap();
    store.upsert_client(&client("b", 1)).await.unwrap();
    assert!(
        store
            .replace_tpp_faults(&cid("a"), &["x", "y", "x"])
            .await
            .unwrap()
    );
    assert!(store.replace_tpp_faults(&cid("b"), &["z"]).await.unwrap());
    assert_eq!(names(&store, "a").await, ["x", "y"]);
    // Replaced whole.
    assert!(store.replace_tpp_faults(&cid("a"), &["y"]).await.unwrap());
    assert_eq!(names(&store, "a").await, ["y"]);
    // No such client: nothing stored.
    assert!(
        !store
            .replace_tpp_faults(&cid("nobody"), &["x"])
            .await
            .unwrap()
    );
    assert!(names(&store, "nobody").await.is_empty());
    let all: Vec<(String, String)> = store
        .all_tpp_faults(10)
        .await
        .unwrap()
        .into_iter()
        .map(|f| (f.client_id.to_string(), f.fault))
        .collect();
    assert_eq!(all, [("a".into(), "y".into()), ("b".into(), "z".into())]);
    assert_eq!(store.all_tpp_faults(1).await.unwrap().len(), 1);
    // A seeded client the config no longer names goes, and its faults with it.
    store.prune_seeded_clients(&[]).await.unwrap();
    assert!(names(&store, "a").await.is_empty());
    assert_eq!(store.clear_tpp_faults(Some(&cid("b"))).await.unwrap(), 1);
    store
        .replace_tpp_faults(&cid("b"), &["p", "q"])
        .await
        .unwrap();
    assert_eq!(store.clear_tpp_faults(None).await.unwrap(), 2);
    assert!(store.all_tpp_faults(10).await.unwrap().is_empty());
}
on_both_engines!(tpp_faults_store, chosen_faults_per_tpp);
