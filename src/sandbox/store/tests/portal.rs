//! The portal's reads on both engines: the client list, newest first, and the activity mark
//! moving with every change the pages show (an event, a delivery's attempt begun and recorded,
//! an acknowledgement) and only with its own TPP's.

use super::*;

/// Asserts `a`'s activity mark is new, and keeps it.
async fn changed(store: &Store, marks: &mut Vec<String>) {
    let m = store.activity(&cid("a")).await.unwrap();
    assert!(!marks.contains(&m), "{m} was seen before: {marks:?}");
    marks.push(m);
}

async fn clients_and_activity_marks(store: Store) {
    for (id, at) in [("old", 10), ("new", 20)] {
        store.upsert_client(&client(id, at)).await.unwrap();
    }
    let listed: Vec<String> = store
        .clients(10)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.client_id.to_string())
        .collect();
    assert_eq!(listed, ["new", "old"]);
    assert_eq!(store.clients(1).await.unwrap().len(), 1);

    let marks = &mut vec![store.activity(&cid("a")).await.unwrap()];
    store
        .insert_events(&[with_delivery("a", "a1", "d1")])
        .await
        .unwrap();
    changed(&store, marks).await;
    let other = store.activity(&cid("b")).await.unwrap();
    store.insert_events(&[event("b", "b1")]).await.unwrap();
    assert_ne!(store.activity(&cid("b")).await.unwrap(), other);
    assert_eq!(
        store.activity(&cid("a")).await.unwrap(),
        *marks.last().unwrap(),
        "another TPP's event leaves the mark alone"
    );
    let d1 = DeliveryId::from("d1");
    let claimed = store.claim_due(&claims(ms(1_000), ms(6_000), 10)).await;
    assert_eq!(claimed.unwrap().started.len(), 1);
    changed(&store, marks).await;
    store
        .record_attempt(
            &d1,
            &attempt(1, Some(503)),
            AttemptVerdict::RetryAt(ms(5_000)),
        )
        .await
        .unwrap();
    changed(&store, marks).await;
    store.insert_events(&[event("a", "a2")]).await.unwrap();
    changed(&store, marks).await;
    poll(&store, "a", &["a2".into()], 0).await;
    changed(&store, marks).await;
}
on_both_engines!(portal_reads, clients_and_activity_marks);
