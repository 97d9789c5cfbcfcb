//! Spot checks that a fault (`--fault NAME`) bends exactly its own behaviour and nothing next to
//! it. The full fault × harness matrix lives elsewhere.

use obevents::jose;
use obevents::sandbox::Fault;
use reqwest::Method;
use serde_json::json;

use super::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_subscription_no_409_breaks_es03() {
    let bank = TestBank::start(with_faults(&[Fault::SubscriptionNo409])).await;
    let tpp = bank.tpp().await;
    tpp.subscribe(json!({"Data": {"Version": "3.1"}})).await;
    tpp.subscribe(json!({"Data": {"Version": "3.1"}})).await;
    assert_eq!(tpp.subscriptions().await.len(), 2);
    // Other validation is unchanged.
    tpp.post("/event-subscriptions", &json!({"Data": {}}))
        .await
        .ob_error(400, "UK.OBIE.Field.Missing", Some("Data.Version"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_unknown_id_404_breaks_g11() {
    let bank = TestBank::start(with_faults(&[Fault::UnknownId404])).await;
    let tpp = bank.tpp().await;
    tpp.put(
        "/event-subscriptions/nope",
        &json!({"Data": {"EventSubscriptionId": "nope", "Version": "3.1"}}),
    )
    .await
    .expect(404);
    tpp.delete("/event-subscriptions/nope").await.expect(404);
    tpp.delete("/callback-urls/nope").await.expect(404);
    // Ownership is still 403, and the owner's own calls still work.
    let id = tpp.subscribe(json!({"Data": {"Version": "3.1"}})).await;
    bank.tpp()
        .await
        .delete(&format!("/event-subscriptions/{id}"))
        .await
        .expect(403);
    tpp.delete(&format!("/event-subscriptions/{id}"))
        .await
        .expect(204);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_no_interaction_id_breaks_g06() {
    let bank = TestBank::start(with_faults(&[Fault::NoInteractionId])).await;
    let tpp = bank.tpp().await;
    let echoed = Resp::of(tpp.api(Method::GET, "/event-subscriptions").header(
        "x-fapi-interaction-id",
        "93bac548-d2de-4546-b106-880a5018460d",
    ))
    .await;
    echoed.expect(200);
    assert!(echoed.header("x-fapi-interaction-id").is_none());
    let generated = tpp.post("/event-subscriptions", &json!({})).await;
    generated.expect(400);
    assert!(generated.header("x-fapi-interaction-id").is_none());
    // Signing is unaffected.
    assert!(echoed.header("x-jws-signature").is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_set_rs256_breaks_j02() {
    let bank = TestBank::start(with_faults(&[Fault::SetRs256])).await;
    let tpp = bank.subscribed_tpp().await;
    let jti = bank.inject_update(&tpp.client_id, "pay-1").await;
    let polled = tpp.poll_now().await;
    let decoded = jose::decode_compact(polled.token(&jti)).unwrap();
    assert_eq!(decoded.alg(), Some("RS256"));
    assert_eq!(decoded.kid(), Some(bank.kid().await.as_str()));
    // The published key is PS256-only, so a strict verifier refuses it.
    assert!(jose::verify(&decoded, &bank.jwks().await).is_err());
    // Claims are untouched.
    let claims = decoded.payload_json().unwrap();
    assert_eq!(claims["jti"], jti.as_str());
    assert_eq!(claims["aud"], tpp.client_id.as_str());
    // Response signatures stay PS256.
    let r = tpp.get("/event-subscriptions").await;
    assert_eq!(
        verify_response_signature(&r, &bank.jwks().await)["alg"],
        "PS256"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_delete_200_with_body_breaks_es11() {
    let bank = TestBank::start(with_faults(&[Fault::Delete200WithBody])).await;
    let tpp = bank.tpp().await;
    let id = tpp.subscribe(json!({"Data": {"Version": "3.1"}})).await;
    let r = tpp.delete(&format!("/event-subscriptions/{id}")).await;
    r.expect(200);
    assert_eq!(r.json()["Data"]["EventSubscriptionId"], id.as_str());
    // It is still deleted.
    assert!(tpp.subscriptions().await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_more_available_omitted_breaks_ap05() {
    let bank = TestBank::start(with_faults(&[Fault::MoreAvailableOmitted])).await;
    let tpp = bank.subscribed_tpp().await;
    let jti = bank.inject_update(&tpp.client_id, "pay-1").await;
    let r = tpp.poll_now().await;
    assert_eq!(r.more_available, None);
    assert_eq!(r.keys(), [jti.as_str()]);
}
