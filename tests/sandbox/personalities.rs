//! Bank personalities (obie-rules §8 and §10): `ob312` (v3.1.2), `wso2` and `hsbc` deviations,
//! each checked against what the personality documents.

use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use obevents::sandbox::Bank;
use reqwest::Method;
use reqwest::header::CONTENT_TYPE;
use serde_json::json;

use super::common::*;

// ---- ob312 ------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ob312_polling_needs_eventpolling_scope_and_answers_201() {
    let bank = TestBank::start_bank(Bank::Ob312).await;
    let tpp = bank.tpp().await;
    let accounts = tpp.with_token(
        bank.token(&tpp.client_id, &tpp.client_secret, Some("accounts"))
            .await,
    );
    let polling = tpp.with_token(
        bank.token(&tpp.client_id, &tpp.client_secret, Some("eventpolling"))
            .await,
    );
    accounts
        .poll(json!({"returnImmediately": true}))
        .await
        .ob_error(403, "GB.OBEvents.Forbidden.Scope", None);
    // The subscription API still takes accounts.
    accounts
        .subscribe(json!({"Data": {"Version": "3.1"}}))
        .await;
    let jti = bank.inject_update(&tpp.client_id, "pay-1").await;
    let r = polling
        .poll_expect(json!({"returnImmediately": true}), 201)
        .await;
    assert_eq!(r.keys(), [jti.as_str()]);
    // v3.1.2 request objects are open: an unknown member is tolerated.
    let r = polling
        .poll_expect(
            json!({"returnImmediately": true, "ack": [jti], "x-vendor-extension": 1}),
            201,
        )
        .await;
    assert!(r.sets.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ob312_response_signatures_use_b64_false() {
    let bank = TestBank::start_bank(Bank::Ob312).await;
    let jwks = bank.jwks().await;
    let tpp = bank.tpp().await;
    let r = tpp
        .post(
            "/event-subscriptions",
            &json!({"Data": {"Version": "3.1"}, "Extra": 1}),
        )
        .await;
    // Open top-level object in v3.1.2.
    r.expect(201);
    let header = verify_response_signature(&r, &jwks);
    assert_eq!(header["b64"], false);
    assert!(
        header["crit"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c == "b64")
    );
    assert_ob_header(&header);
    // v3.1.2 knows two event types only.
    tpp.delete(&format!(
        "/event-subscriptions/{}",
        r.json()["Data"]["EventSubscriptionId"].as_str().unwrap()
    ))
    .await
    .expect(204);
    tpp.post(
        "/event-subscriptions",
        &json!({"Data": {"Version": "3.1",
            "EventTypes": ["UK.OBIE.Account-Access-Consent-Linked-Account-Update"]}}),
    )
    .await
    .ob_error(
        400,
        "UK.OBIE.Unsupported.EventType",
        Some("Data.EventTypes[0]"),
    );
}

// ---- wso2 -------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wso2_long_poll_is_answered_at_once() {
    let mut cfg = config(Bank::Wso2);
    cfg.long_poll_timeout = Duration::from_secs(5);
    let bank = TestBank::start(cfg).await;
    let tpp = bank.subscribed_tpp().await;
    for body in [json!({"returnImmediately": false}), json!({})] {
        let started = Instant::now();
        let r = tpp.poll_ok(body).await;
        assert!(started.elapsed() < Duration::from_secs(1));
        assert!(r.sets.is_empty());
        assert_eq!(r.more_available, Some(false));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wso2_returns_five_sets_when_max_events_is_absent() {
    let bank = TestBank::start_bank(Bank::Wso2).await;
    let tpp = bank.subscribed_tpp().await;
    let mut jtis = Vec::new();
    for i in 0..6 {
        jtis.push(bank.inject_update(&tpp.client_id, &format!("p{i}")).await);
    }
    let r = tpp.poll_ok(json!({})).await;
    assert_eq!(
        r.keys(),
        jtis[..5].iter().map(String::as_str).collect::<Vec<_>>()
    );
    assert_eq!(r.more_available, Some(true));
    // An explicit maxEvents wins.
    let r = tpp.poll_ok(json!({"maxEvents": 6})).await;
    assert_eq!(r.sets.len(), 6);
    assert_eq!(r.more_available, Some(false));
}

/// `POST /api/fs/event-notifications/create-events` as WSO2 documents it.
async fn create_events(
    bank: &TestBank,
    auth: Option<(&str, &str)>,
    headers: &[(&str, &str)],
    request: &str,
) -> Resp {
    let mut rb = bank
        .request(Method::POST, "/api/fs/event-notifications/create-events")
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(form(&[("request", request)]));
    if let Some((u, p)) = auth {
        rb = rb.basic_auth(u, Some(p));
    }
    for (k, v) in headers {
        rb = rb.header(*k, *v);
    }
    Resp::of(rb).await
}

fn revoked_request() -> String {
    STANDARD.encode(json!({URN_REVOKED: {}}).to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wso2_event_creation_api_creates_a_pollable_set() {
    let bank = TestBank::start_bank(Bank::Wso2).await;
    let tpp = bank.subscribed_tpp().await;
    let consent = tpp.consent().await;
    let headers = [
        ("x-wso2-client-id", tpp.client_id.as_str()),
        ("x-wso2-resource-id", consent.as_str()),
    ];
    let r = create_events(&bank, Some(ADMIN), &headers, &revoked_request()).await;
    r.expect(201);
    r.assert_json_type();
    let id = r.json()["notificationsID"]
        .as_str()
        .expect("notificationsID")
        .to_string();
    let polled = tpp.poll_now().await;
    assert_eq!(polled.keys(), [id.as_str()]);
    let set = open_set(polled.token(&id), &bank.jwks().await);
    let subject = &set.claims["events"][URN_REVOKED]["subject"];
    assert_eq!(subject["http://openbanking.org.uk/rid"], consent.as_str());
    assert_eq!(
        subject["http://openbanking.org.uk/rty"],
        "account-access-consent"
    );
    assert_eq!(set.claims["aud"], tpp.client_id.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wso2_event_creation_api_errors() {
    let bank = TestBank::start_bank(Bank::Wso2).await;
    let tpp = bank.subscribed_tpp().await;
    let consent = tpp.consent().await;
    let headers = [
        ("x-wso2-client-id", tpp.client_id.as_str()),
        ("x-wso2-resource-id", consent.as_str()),
    ];
    let wso2_error = |r: &Resp, status: u16, error: &str| {
        r.expect(status);
        assert_eq!(r.json()["error"], error, "{}", r.text());
    };
    let r = create_events(
        &bank,
        Some((ADMIN.0, "wrong")),
        &headers,
        &revoked_request(),
    )
    .await;
    r.expect(401);
    assert!(r.header("www-authenticate").is_some());
    create_events(&bank, None, &headers, &revoked_request())
        .await
        .expect(401);
    let r = create_events(&bank, Some(ADMIN), &headers[1..], &revoked_request()).await;
    wso2_error(&r, 400, "missing_request_header");
    let r = create_events(&bank, Some(ADMIN), &headers, "%%%not-base64!!").await;
    wso2_error(&r, 400, "invalid_request_payload");
    // A consent of another client is not a resource of this one.
    let other = bank.subscribed_tpp().await;
    let r = create_events(
        &bank,
        Some(ADMIN),
        &[
            ("x-wso2-client-id", other.client_id.as_str()),
            ("x-wso2-resource-id", consent.as_str()),
        ],
        &revoked_request(),
    )
    .await;
    wso2_error(&r, 400, "invalid_request");
    assert!(tpp.poll_now().await.sets.is_empty());
    assert!(other.poll_now().await.sets.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wso2_event_creation_api_is_absent_for_other_banks() {
    let bank = TestBank::start(obie()).await;
    let r = create_events(&bank, Some(ADMIN), &[], &revoked_request()).await;
    r.expect(404);
}

// ---- hsbc -------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hsbc_max_events_above_ten_is_400() {
    let bank = TestBank::start_bank(Bank::Hsbc).await;
    let tpp = bank.subscribed_tpp().await;
    tpp.poll(json!({"returnImmediately": true, "maxEvents": 11}))
        .await
        .ob_error(400, "UK.OBIE.Field.Invalid", Some("maxEvents"));
    tpp.poll_ok(json!({"returnImmediately": true, "maxEvents": 10}))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hsbc_return_immediately_false_is_400_and_absent_is_immediate() {
    let mut cfg = config(Bank::Hsbc);
    cfg.long_poll_timeout = Duration::from_secs(5);
    let bank = TestBank::start(cfg).await;
    let tpp = bank.subscribed_tpp().await;
    tpp.poll(json!({"returnImmediately": false}))
        .await
        .ob_error(400, "UK.OBIE.Field.Invalid", Some("returnImmediately"));
    let started = Instant::now();
    let r = tpp.poll_ok(json!({})).await;
    assert!(started.elapsed() < Duration::from_secs(1));
    assert!(r.sets.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hsbc_ack_of_a_never_issued_jti_is_400() {
    let bank = TestBank::start_bank(Bank::Hsbc).await;
    let tpp = bank.subscribed_tpp().await;
    let jti = bank.inject_update(&tpp.client_id, "pay-1").await;
    let item = tpp
        .poll(json!({"returnImmediately": true, "ack": [jti, "never-issued"]}))
        .await
        .ob_error(400, "UK.OBIE.Field.Invalid", None);
    assert_eq!(item["Message"], "Jti in the request are not valid");
    // The refused request changed nothing; a valid ack works.
    assert_eq!(tpp.poll_now().await.keys(), [jti.as_str()]);
    let r = tpp
        .poll_ok(json!({"returnImmediately": true, "ack": [jti]}))
        .await;
    assert!(r.sets.is_empty());
    assert_eq!(r.more_available, Some(false));
    // Acking an already acknowledged (so issued) jti is fine.
    tpp.poll_ok(json!({"returnImmediately": true, "ack": [jti]}))
        .await;
}
