//! Each `tatra-*` fault observably changes exactly what it names (one test per fault).

use obevents::sandbox::faults::Fault;
use serde_json::{Value, json};

use crate::common::*;
use crate::helpers::*;

/// One transactionEvent from a ready bank with `fault`.
async fn one_transaction(fault: Fault) -> (TestBank, Received) {
    let (bank, tpp, receiver, c) = ready(&[fault], &[]).await;
    transaction(&bank, &tpp, json!({"consentId": id(&c, "consentId")}))
        .await
        .expect(202);
    let got = receiver.wait_for(1).await;
    (bank, got[0].clone())
}

/// The accountEvents (after every bank finished) and the refresh's taskId, with `fault`.
async fn account_events(fault: Fault) -> (TestBank, Vec<Value>, String) {
    let (bank, tpp, receiver, c) = ready(&[fault], &[]).await;
    let r = refresh(&bank, &tpp, &id(&c, "consentId")).await;
    r.expect(202);
    let n = count_after(&receiver, DELAY * 4).await;
    let events = receiver.received()[..n]
        .iter()
        .map(|g| body(g)["accountEvent"].clone())
        .collect();
    (bank, events, id(&r.json(), "taskId"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tatra_url_query_accepted() {
    let bank = tatra_bank(&[Fault::TatraUrlQueryAccepted]).await;
    let tpp = bank.tpp().await;
    let r = put_settings(
        &bank,
        &tpp,
        json!({"enabled": true, "url": "https://tpp.example/h?a=1"}),
    )
    .await;
    r.expect(200);
    bank.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tatra_header_pattern_accepted() {
    let bank = tatra_bank(&[Fault::TatraHeaderPatternAccepted]).await;
    let tpp = bank.tpp().await;
    let body =
        json!({"enabled": true, "url": "https://tpp.example/h", "securityHeader": "Bearer a.b"});
    put_settings(&bank, &tpp, body).await.expect(200);
    bank.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tatra_no_authorization() {
    let (bank, got) = one_transaction(Fault::TatraNoAuthorization).await;
    assert!(got.headers.get("authorization").is_none());
    bank.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tatra_authorization_prefixed() {
    let (bank, got) = one_transaction(Fault::TatraAuthorizationPrefixed).await;
    assert_eq!(
        got.headers["authorization"],
        format!("Bearer {HEADER}").as_str()
    );
    bank.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tatra_wrong_transaction_type() {
    let (bank, got) = one_transaction(Fault::TatraWrongTransactionType).await;
    assert_eq!(body(&got)["transactionEvent"]["eventType"], "UPDATED");
    bank.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tatra_sends_while_disabled() {
    let (bank, tpp, receiver, c) = ready(&[Fault::TatraSendsWhileDisabled], &[]).await;
    put_settings(&bank, &tpp, json!({"enabled": false}))
        .await
        .expect(200);
    let r = transaction(&bank, &tpp, json!({"consentId": id(&c, "consentId")})).await;
    assert!(r.json()["delivery"].is_string(), "{}", r.json());
    receiver.wait_for(1).await;
    bank.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tatra_sends_before_activation() {
    let receiver = Receiver::start(&[]).await;
    let bank = tatra_bank(&[Fault::TatraSendsBeforeActivation]).await;
    let tpp = bank.tpp().await;
    put_settings(&bank, &tpp, json!({"enabled": true, "url": receiver.url}))
        .await
        .expect(200);
    let c = consent(&bank, &tpp, None).await;
    transaction(&bank, &tpp, json!({"consentId": id(&c, "consentId")}))
        .await
        .expect(202);
    receiver.wait_for(1).await;
    bank.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tatra_wrong_task_id() {
    let (bank, events, task_id) = account_events(Fault::TatraWrongTaskId).await;
    assert_eq!(events.len(), 2);
    assert!(
        events.iter().all(|e| e["taskId"] != task_id.as_str()),
        "{events:?}"
    );
    bank.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tatra_merged_account_event() {
    let (bank, events, task_id) = account_events(Fault::TatraMergedAccountEvent).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["taskId"], task_id.as_str());
    assert_eq!(events[0]["accounts"].as_array().map(Vec::len), Some(3));
    bank.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tatra_no_retry() {
    let (bank, tpp, receiver, c) = ready(&[Fault::TatraNoRetry], &[503]).await;
    transaction(&bank, &tpp, json!({"consentId": id(&c, "consentId")}))
        .await
        .expect(202);
    receiver.wait_for(1).await;
    assert_eq!(count_after(&receiver, DELAY * 3).await, 1);
    bank.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tatra_to_other_tpp() {
    let (bank, tpp, receiver, c) = ready(&[Fault::TatraToOtherTpp], &[]).await;
    let other_receiver = Receiver::start(&[]).await;
    let other = bank.tpp().await;
    enable(&bank, &other, &other_receiver.url, "Other").await;
    transaction(&bank, &tpp, json!({"consentId": id(&c, "consentId")}))
        .await
        .expect(202);
    let leaked = other_receiver.wait_for(1).await;
    assert_eq!(
        body(&leaked[0])["transactionEvent"]["consentId"],
        id(&c, "consentId").as_str()
    );
    receiver.wait_for(1).await;
    bank.stop().await;
}

/// Every fault of the Tatra area has its test above (the clean bank's side is in `flows`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_tatra_fault_has_a_test_here() {
    let tatra: Vec<&str> = Fault::ALL
        .iter()
        .filter(|f| f.area() == obevents::sandbox::faults::Area::Tatra)
        .map(|f| f.name())
        .collect();
    assert_eq!(tatra.len(), 11, "{tatra:?}");
    let here = include_str!("faults.rs");
    for name in tatra {
        let test = format!("async fn {}()", name.replace('-', "_"));
        assert!(here.contains(&test), "no test {test}");
    }
}
