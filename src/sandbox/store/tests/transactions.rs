//! Writes that change several rows, each one store method and one transaction, on both engines:
//! consent status changes guarded in SQL (two racing revokes raise one event), and subscription,
//! callback-url, Yapily and Tatra changes that carry their pending deliveries along, also when
//! two of them race.

use super::*;
use crate::sandbox::domain::{TatraSettings, YapilySubscription};

const U1: &str = "https://tpp.example/1";
const U2: &str = "https://tpp.example/2";

/// Stores an event of `client` with one pending delivery to `url`.
async fn pending_to(store: &Store, client: &str, url: &str, format: Dialect) {
    let jti = uuid::Uuid::new_v4().to_string();
    let mut e = event(client, &jti);
    e.deliveries.push(NewDelivery {
        id: format!("d-{jti}").into(),
        format,
        url: url.into(),
        next_attempt_at: ms(1_000),
    });
    store.insert_events(&[e]).await.unwrap();
}

/// The urls of `client`'s pending deliveries, sorted.
async fn pending_urls(store: &Store, client: &str) -> Vec<String> {
    let mut urls: Vec<String> = store
        .deliveries_of(&cid(client), 1_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|d| d.state == DeliveryState::Pending)
        .map(|d| d.url)
        .collect();
    urls.sort();
    urls
}

/// The change that revokes an authorised consent `id`.
pub(super) fn revoke(id: &str) -> ConsentStatusChange {
    ConsentStatusChange {
        consent_id: id.into(),
        from: ConsentStatus::Authorised,
        status: ConsentStatus::Revoked,
        at: Timestamp::from_secs(1_767_312_000),
    }
}

async fn two_revokes_at_once_commit_one(store: Store) {
    for i in 0..20 {
        store
            .insert_consent(&consent(&format!("c{i}")))
            .await
            .unwrap();
    }
    let mut tasks = Vec::new();
    for i in 0..20 {
        for n in 0..2 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let id = format!("c{i}");
                let raised = [event("a", &format!("{id}-{n}"))];
                store.commit_trigger(Some(&revoke(&id)), &raised).await
            }));
        }
    }
    let mut committed = 0;
    for t in tasks {
        committed += usize::from(t.await.unwrap().unwrap());
    }
    assert_eq!(committed, 20);
    // A refused revoke stored none of its events.
    assert_eq!(store.events_of(&cid("a"), 100).await.unwrap().len(), 20);
    for i in 0..20 {
        let id = ConsentId::from(format!("c{i}"));
        let c = store.consent(&id).await.unwrap().unwrap();
        assert_eq!(c.status, ConsentStatus::Revoked);
    }
    // Authorising is guarded the same way: only an AwaitingAuthorisation consent.
    let awaiting = Consent {
        status: ConsentStatus::AwaitingAuthorisation,
        ..consent("w")
    };
    store.insert_consent(&awaiting).await.unwrap();
    for expected in [true, false] {
        let authorised = store
            .set_consent_status(
                &ConsentId::from("w"),
                ConsentStatus::AwaitingAuthorisation,
                ConsentStatus::Authorised,
                Timestamp::from_secs(1_767_398_400),
            )
            .await
            .unwrap();
        assert_eq!(authorised, expected);
    }
    assert!(
        !store
            .commit_trigger(Some(&revoke("nope")), &[])
            .await
            .unwrap()
    );
}
on_both_engines!(
    concurrent_revokes_raise_one_event,
    two_revokes_at_once_commit_one
);

async fn subscription_writes_carry_their_deliveries(store: Store) {
    let with_url = |url: Option<&str>| Subscription {
        callback_url: url.map(String::from),
        ..sub("s", "a")
    };
    assert!(
        store
            .insert_subscription(&with_url(Some(U1)), false)
            .await
            .unwrap()
    );
    pending_to(&store, "a", U1, Dialect::Obie).await;
    pending_to(&store, "b", U1, Dialect::Obie).await;
    store
        .replace_subscription(&with_url(Some(U2)), true)
        .await
        .unwrap();
    assert_eq!(pending_urls(&store, "a").await, [U2]);
    // The push-after-delete fault: a removed CallbackUrl keeps its pushes.
    store
        .replace_subscription(&with_url(None), false)
        .await
        .unwrap();
    assert_eq!(pending_urls(&store, "a").await, [U2]);
    store
        .replace_subscription(&with_url(Some(U2)), true)
        .await
        .unwrap();
    store
        .replace_subscription(&with_url(None), true)
        .await
        .unwrap();
    assert!(pending_urls(&store, "a").await.is_empty());
    // Deleting: kept under the fault, cancelled otherwise.
    store
        .replace_subscription(&with_url(Some(U2)), true)
        .await
        .unwrap();
    pending_to(&store, "a", U2, Dialect::Obie).await;
    let s = SubscriptionId::from("s");
    assert!(store.delete_subscription(&s, false).await.unwrap());
    assert_eq!(pending_urls(&store, "a").await, [U2]);
    assert!(
        store
            .insert_subscription(&with_url(Some(U2)), false)
            .await
            .unwrap()
    );
    assert!(store.delete_subscription(&s, true).await.unwrap());
    assert!(!store.delete_subscription(&s, true).await.unwrap());
    assert!(pending_urls(&store, "a").await.is_empty());
    // Another client's delivery to the same url was never touched.
    assert_eq!(pending_urls(&store, "b").await, [U1]);
}
on_both_engines!(
    subscription_writes,
    subscription_writes_carry_their_deliveries
);

async fn callback_url_writes_carry_their_deliveries(store: Store) {
    let cb = |url: &str| CallbackUrl {
        id: "cb".into(),
        client_id: "a".into(),
        url: url.into(),
        version: "3.1".into(),
        created_at: Timestamp::from_secs(1),
    };
    assert!(store.insert_callback_url(&cb(U1), false).await.unwrap());
    pending_to(&store, "a", U1, Dialect::Obie).await;
    store.replace_callback_url(&cb(U2)).await.unwrap();
    assert_eq!(pending_urls(&store, "a").await, [U2]);
    let id = CallbackUrlId::from("cb");
    assert!(store.delete_callback_url(&id, false).await.unwrap());
    assert_eq!(pending_urls(&store, "a").await, [U2]);
    assert!(store.insert_callback_url(&cb(U2), false).await.unwrap());
    assert!(store.delete_callback_url(&id, true).await.unwrap());
    assert!(!store.delete_callback_url(&id, true).await.unwrap());
    assert!(pending_urls(&store, "a").await.is_empty());
}
on_both_engines!(
    callback_url_writes,
    callback_url_writes_carry_their_deliveries
);

fn yapily(id: &str, t: &str, url: &str) -> YapilySubscription {
    YapilySubscription {
        url: url.into(),
        ..ysub(id, "a", t)
    }
}

async fn yapily_unsubscribe_cancels_unless_the_url_is_shared(store: Store) {
    for (id, t, url) in [("1", "t1", U1), ("2", "t2", U1), ("3", "t3", U2)] {
        assert!(
            store
                .insert_yapily_subscription(&yapily(id, t, url), false)
                .await
                .unwrap()
        );
    }
    pending_to(&store, "a", U1, Dialect::Yapily).await;
    pending_to(&store, "a", U2, Dialect::Yapily).await;
    // U1 still serves t2; a kept (fault) deletion stops nothing.
    assert!(
        store
            .delete_yapily_subscription(&cid("a"), "t1", false)
            .await
            .unwrap()
    );
    assert!(
        store
            .delete_yapily_subscription(&cid("a"), "t3", true)
            .await
            .unwrap()
    );
    assert_eq!(pending_urls(&store, "a").await, [U1, U2]);
    assert!(
        store
            .delete_yapily_subscription(&cid("a"), "t2", false)
            .await
            .unwrap()
    );
    assert!(
        !store
            .delete_yapily_subscription(&cid("a"), "t2", false)
            .await
            .unwrap()
    );
    assert_eq!(pending_urls(&store, "a").await, [U2]);
}
on_both_engines!(
    yapily_unsubscribe,
    yapily_unsubscribe_cancels_unless_the_url_is_shared
);

async fn tatra_settings_carry_their_deliveries(store: Store) {
    let settings = |enabled: bool, url: &str| TatraSettings {
        client_id: "a".into(),
        enabled,
        url: Some(url.into()),
        security_header: String::new(),
        active_from: enabled.then_some(ms(1)),
    };
    store.put_tatra_settings(&settings(true, U1)).await.unwrap();
    pending_to(&store, "a", U1, Dialect::Tatra).await;
    store
        .replace_tatra_settings(&settings(true, U2), true)
        .await
        .unwrap();
    assert_eq!(pending_urls(&store, "a").await, [U2]);
    // The sends-while-disabled fault keeps them; otherwise disabling cancels them.
    store
        .replace_tatra_settings(&settings(false, U2), false)
        .await
        .unwrap();
    assert_eq!(pending_urls(&store, "a").await, [U2]);
    store
        .replace_tatra_settings(&settings(false, U2), true)
        .await
        .unwrap();
    assert!(pending_urls(&store, "a").await.is_empty());
}
on_both_engines!(tatra_settings_writes, tatra_settings_carry_their_deliveries);

/// Two replaces at once: each moves the pending pushes from the url it overwrote, so they end
/// at whichever url won, never stranded at the loser's.
async fn racing_replaces_leave_pushes_at_the_final_url(store: Store) {
    let with_url = |url: String| Subscription {
        callback_url: Some(url),
        ..sub("s", "a")
    };
    let first = with_url("https://tpp.example/r0".into());
    assert!(store.insert_subscription(&first, false).await.unwrap());
    for _ in 0..3 {
        pending_to(&store, "a", "https://tpp.example/r0", Dialect::Obie).await;
    }
    for round in 1..=10 {
        let tasks: Vec<_> = ["x", "y"]
            .into_iter()
            .map(|side| {
                let (store, s) = (
                    store.clone(),
                    with_url(format!("https://tpp.example/r{round}{side}")),
                );
                tokio::spawn(async move { store.replace_subscription(&s, true).await })
            })
            .collect();
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        let now = store
            .subscription(&SubscriptionId::from("s"))
            .await
            .unwrap()
            .unwrap()
            .callback_url
            .unwrap();
        assert_eq!(
            pending_urls(&store, "a").await,
            [now.as_str(); 3],
            "round {round}"
        );
    }
}
on_both_engines!(
    racing_replaces,
    racing_replaces_leave_pushes_at_the_final_url
);

/// Two unsubscribes at once of the two types sharing a url: the second to commit sees the url
/// unused and cancels its pushes.
async fn racing_unsubscribes_cancel_a_shared_url(store: Store) {
    for round in 0..10 {
        let url = format!("https://tpp.example/y{round}");
        for t in ["t1", "t2"] {
            let s = yapily(&format!("{round}{t}"), t, &url);
            assert!(store.insert_yapily_subscription(&s, false).await.unwrap());
        }
        pending_to(&store, "a", &url, Dialect::Yapily).await;
        let tasks: Vec<_> = ["t1", "t2"]
            .into_iter()
            .map(|t| {
                let store = store.clone();
                tokio::spawn(
                    async move { store.delete_yapily_subscription(&cid("a"), t, false).await },
                )
            })
            .collect();
        for t in tasks {
            assert!(t.await.unwrap().unwrap());
        }
        assert!(pending_urls(&store, "a").await.is_empty(), "round {round}");
    }
}
on_both_engines!(racing_unsubscribes, racing_unsubscribes_cancel_a_shared_url);
