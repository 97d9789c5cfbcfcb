//! Retention and per-TPP bounds over HTTP (issue 21): a sandbox with `[retention]` removes
//! acknowledged SETs once they are older than the age and keeps awaiting ones; a TPP at its
//! bound of stored events has its trigger refused whole (409 in the dialect's error shape,
//! nothing stored, the consent not revoked; a WSO2 request with several events stores none) until
//! a reset makes room; a TPP at its bound of
//! subscriptions is refused the next one, on the OBIE and the Yapily API.

use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use obevents::sandbox::Bank;
use obevents::sandbox::config::RetentionConfig;
use reqwest::Method;
use reqwest::header::CONTENT_TYPE;
use serde_json::json;

use super::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_removes_old_acknowledged_sets_and_keeps_awaiting_ones() {
    let mut cfg = obie();
    cfg.retention = RetentionConfig {
        events: Some(Duration::from_secs(1)),
        interval: Duration::from_millis(100),
        batch: 2,
        ..RetentionConfig::default()
    };
    let bank = TestBank::start(cfg).await;
    let tpp = bank.subscribed_tpp().await;
    let mut acked = Vec::new();
    for i in 0..5 {
        acked.push(bank.inject_update(&tpp.client_id, &format!("r{i}")).await);
    }
    let awaiting = bank.inject_update(&tpp.client_id, "kept").await;
    tpp.poll_ok(json!({"maxEvents": 0, "returnImmediately": true, "ack": acked}))
        .await;
    // Five acknowledged SETs, two per batch: gone within a few sweeps once a second old.
    let deadline = Instant::now() + Duration::from_secs(15);
    let left = loop {
        let stored = bank.stored_events(&tpp.client_id).await;
        if stored.len() == 1 || Instant::now() > deadline {
            break stored;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(left[0]["jti"], awaiting.as_str());
    assert_eq!(left[0]["state"], "awaiting", "{left:?}");
    // The awaiting SET, as old as the others, is still served.
    assert_eq!(tpp.poll_now().await.keys(), [awaiting.as_str()]);
    bank.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trigger_at_the_event_bound_is_refused_whole_until_a_reset() {
    let mut cfg = obie();
    cfg.limits.max_events = Some(2);
    let bank = TestBank::start(cfg).await;
    let tpp = bank.subscribed_tpp().await;
    let consent = tpp.authorised_consent().await;
    bank.inject_update(&tpp.client_id, "r1").await;
    bank.inject_update(&tpp.client_id, "r2").await;
    let r = bank
        .inject(&tpp.client_id, "resource-update", "r3", "domestic-payment")
        .await;
    let item = r.ob_error(409, "GB.OBEvents.Limit.StoredEvents", None);
    assert_eq!(
        item["Message"],
        format!(
            "the TPP {} has reached its bound of 2 stored events ([limits] max_events_per_tpp): \
             nothing was stored; POST /sandbox/reset removes its events, [retention] removes old \
             acknowledged ones",
            tpp.client_id
        )
    );
    // A revoke would raise an event: refused whole, the consent stays authorised.
    tpp.revoke(&consent)
        .await
        .ob_error(409, "GB.OBEvents.Limit.StoredEvents", None);
    let got = tpp
        .get(&format!("/aisp/account-access-consents/{consent}"))
        .await;
    got.expect(200);
    assert_eq!(got.json()["Data"]["Status"], "Authorised");
    assert_eq!(bank.stored_events(&tpp.client_id).await.len(), 2);
    // Acknowledging does not free room (acknowledged SETs are still stored); a reset does.
    let keys: Vec<String> = tpp
        .poll_now()
        .await
        .keys()
        .iter()
        .map(|k| k.to_string())
        .collect();
    assert_eq!(keys.len(), 2);
    tpp.poll_ok(json!({"maxEvents": 0, "returnImmediately": true, "ack": keys}))
        .await;
    bank.inject(&tpp.client_id, "resource-update", "r4", "domestic-payment")
        .await
        .ob_error(409, "GB.OBEvents.Limit.StoredEvents", None);
    bank.sandbox_post("/sandbox/reset", &json!({"clientId": tpp.client_id}))
        .await
        .expect(200);
    tpp.revoke(&consent).await.expect(204);
    assert_eq!(tpp.poll_now().await.sets.len(), 1);
    bank.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_subscription_bound_counts_obie_subscriptions_and_callback_urls() {
    let mut cfg = obie();
    cfg.limits.max_subscriptions = Some(1);
    let bank = TestBank::start(cfg).await;
    let tpp = bank.subscribed_tpp().await;
    let r = tpp
        .post(
            "/callback-urls",
            &json!({"Data": {"Url": CALLBACK, "Version": "3.1"}}),
        )
        .await;
    let item = r.ob_error(409, "GB.OBEvents.Limit.Subscriptions", None);
    assert!(
        item["Message"].as_str().is_some_and(
            |m| m.contains("bound of 1 subscriptions ([limits] max_subscriptions_per_tpp)")
        ),
        "{item}"
    );
    assert!(tpp.callback_urls().await.is_empty());
    // Another TPP has its own room.
    bank.tpp().await.register_callback(CALLBACK).await;
    bank.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_subscription_bound_refuses_a_yapily_subscription_in_its_shape() {
    let mut cfg = config(Bank::Yapily);
    cfg.limits.max_subscriptions = Some(2);
    let bank = TestBank::start(cfg).await;
    let tpp = bank.tpp().await;
    let subscribe = |type_id: &str| {
        bank.request(Method::POST, "/notifications/event-subscriptions")
            .basic_auth(&tpp.client_id, Some(&tpp.client_secret))
            .json(&json!({"eventTypeId": type_id,
                "notification": {"type": "WEBHOOK", "url": "https://tpp.example/hook"}}))
    };
    Resp::of(subscribe("consent.revoked")).await.expect(201);
    Resp::of(subscribe("payment.status.completed"))
        .await
        .expect(201);
    let r = Resp::of(subscribe("payment.status.failed")).await;
    r.expect(409);
    let e = &r.json()["error"];
    assert_eq!(e["code"], 409, "{e}");
    assert!(
        e["message"]
            .as_str()
            .is_some_and(|m| m.contains("bound of 2 subscriptions")),
        "{e}"
    );
    bank.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wso2_create_events_request_past_the_bound_stores_none_of_its_events() {
    let mut cfg = config(Bank::Wso2);
    cfg.limits.max_events = Some(1);
    let bank = TestBank::start(cfg).await;
    let tpp = bank.subscribed_tpp().await;
    let consent = tpp.consent().await;
    // Two events in one request: one would fit, so neither is stored.
    let request = STANDARD.encode(json!({URN_REVOKED: {}, URN_LINKED: {}}).to_string());
    let r = Resp::of(
        bank.request(Method::POST, "/api/fs/event-notifications/create-events")
            .basic_auth(ADMIN.0, Some(ADMIN.1))
            .header("x-wso2-client-id", &tpp.client_id)
            .header("x-wso2-resource-id", &consent)
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(form(&[("request", &request)])),
    )
    .await;
    r.expect(409);
    assert_eq!(r.json()["error"], "limit_reached", "{}", r.text());
    assert!(
        r.json()["error_description"]
            .as_str()
            .is_some_and(|d| d.contains("bound of 1 stored events")),
        "{}",
        r.text()
    );
    assert!(bank.stored_events(&tpp.client_id).await.is_empty());
    bank.stop().await;
}
