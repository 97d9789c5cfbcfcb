//! Tatra-style tables on both engines: one settings row per application, consents and tasks
//! visible to their owner only, ADDED-then-UPDATED decided by the database, and deleting a
//! consent cancelling its pending webhooks in the same transaction.

use super::*;
use crate::sandbox::domain::{
    EventId, TatraAccount, TatraConsent, TatraSettings, TatraTask, TatraTaskBank,
};

fn settings(client: &str, enabled: bool, url: &str) -> TatraSettings {
    TatraSettings {
        client_id: client.into(),
        enabled,
        url: Some(url.into()),
        security_header: "Basic eA==".into(),
        active_from: enabled.then_some(ms(5)),
    }
}

fn consent(id: &str, client: &str) -> TatraConsent {
    TatraConsent {
        id: id.into(),
        client_id: client.into(),
        accounts: vec![TatraAccount {
            account_id: format!("{id}-acc"),
            bank_code: "SLSP".into(),
            iban: "SK0000000000000000000000".into(),
        }],
        created_at: ms(1),
    }
}

async fn settings_are_one_row_per_application(store: Store) {
    assert_eq!(store.tatra_settings(&cid("a")).await.unwrap(), None);
    store
        .put_tatra_settings(&settings("a", true, "https://a.example/1"))
        .await
        .unwrap();
    store
        .put_tatra_settings(&settings("a", false, "https://a.example/2"))
        .await
        .unwrap();
    let s = store.tatra_settings(&cid("a")).await.unwrap().unwrap();
    assert_eq!(s, settings("a", false, "https://a.example/2"));
    assert_eq!(store.foreign_tatra_url(&cid("b")).await.unwrap(), None);
    store
        .put_tatra_settings(&settings("b", true, "https://b.example/"))
        .await
        .unwrap();
    assert_eq!(
        store.foreign_tatra_url(&cid("a")).await.unwrap().as_deref(),
        Some("https://b.example/")
    );
    // Enabled without a url is refused by the database itself.
    let mut broken = settings("c", true, "https://c.example/");
    broken.url = None;
    assert!(store.put_tatra_settings(&broken).await.is_err());
}
on_both_engines!(tatra_settings, settings_are_one_row_per_application);

async fn consents_tasks_and_refreshed_accounts(store: Store) {
    store
        .insert_tatra_consent(&consent("c1", "a"))
        .await
        .unwrap();
    assert_eq!(
        store
            .tatra_consent(&cid("a"), &ConsentId::from("c1"))
            .await
            .unwrap(),
        Some(consent("c1", "a"))
    );
    assert_eq!(
        store
            .tatra_consent(&cid("b"), &ConsentId::from("c1"))
            .await
            .unwrap(),
        None
    );
    let task = TatraTask {
        id: "t1".into(),
        client_id: "a".into(),
        consent_id: "c1".into(),
        banks: vec![TatraTaskBank {
            bank_code: "SLSP".into(),
            finish_at: ms(9),
        }],
        created_at: ms(1),
    };
    store.insert_tatra_task(&task).await.unwrap();
    assert_eq!(
        store
            .tatra_task(&cid("a"), &TaskId::from("t1"))
            .await
            .unwrap(),
        Some(task)
    );
    assert_eq!(
        store
            .tatra_task(&cid("b"), &TaskId::from("t1"))
            .await
            .unwrap(),
        None
    );
    let ids = ["x".to_string(), "y".to_string()];
    assert_eq!(store.mark_tatra_refreshed(&ids[..1]).await.unwrap(), [true]);
    assert_eq!(
        store.mark_tatra_refreshed(&ids).await.unwrap(),
        [false, true]
    );
}
on_both_engines!(
    tatra_consents_and_tasks,
    consents_tasks_and_refreshed_accounts
);

async fn deleting_a_consent_cancels_its_webhooks(store: Store) {
    store
        .insert_tatra_consent(&consent("c1", "a"))
        .await
        .unwrap();
    let mut e = event("a", "w1");
    e.resource_id = "c1".into();
    e.poll = false;
    e.deliveries = NewDelivery::to_each(Dialect::Tatra, ["https://a.example/".into()], ms(50));
    let mut other = event("a", "w2");
    other.poll = false;
    other.deliveries = NewDelivery::to_each(Dialect::Tatra, ["https://a.example/".into()], ms(50));
    store.insert_events(&[e, other]).await.unwrap();
    assert!(
        !store
            .delete_tatra_consent(&cid("b"), &ConsentId::from("c1"))
            .await
            .unwrap()
    );
    assert!(
        store
            .delete_tatra_consent(&cid("a"), &ConsentId::from("c1"))
            .await
            .unwrap()
    );
    assert!(
        !store
            .delete_tatra_consent(&cid("a"), &ConsentId::from("c1"))
            .await
            .unwrap()
    );
    let states: Vec<(EventId, DeliveryState)> = store
        .deliveries_of(&cid("a"), 10)
        .await
        .unwrap()
        .into_iter()
        .map(|d| (d.event_id, d.state))
        .collect();
    assert!(
        states.contains(&("w1".into(), DeliveryState::Cancelled)),
        "{states:?}"
    );
    assert!(
        states.contains(&("w2".into(), DeliveryState::Pending)),
        "{states:?}"
    );
}
on_both_engines!(
    tatra_consent_delete,
    deleting_a_consent_cancels_its_webhooks
);
