//! Bounded work per request: request arrays have upper bounds answered with one 400 naming the
//! bound, an error body lists at most 20 problems and counts the rest, duplicate EventTypes are
//! refused, and no body within the size limit gets a 5xx or an error body much larger than
//! itself.

use serde_json::{Value, json};

use super::common::*;

/// The `Errors` of a 400, after checking the body stays small.
fn small_400(r: &Resp, request_len: usize) -> Vec<Value> {
    r.expect(400);
    assert!(
        r.body.len() < 8 * 1024 && r.body.len() < request_len.max(1024) * 4,
        "error body of {} bytes for a {request_len}-byte request",
        r.body.len()
    );
    r.json()["Errors"].as_array().expect("Errors").clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arrays_past_their_bound_are_refused_naming_the_bound() {
    let bank = TestBank::start(obie()).await;
    let tpp = bank.subscribed_tpp().await;
    let many: Vec<String> = (0..100_000).map(|i| format!("NotAPermission{i}")).collect();
    let body = json!({"Data": {"Permissions": many}, "Risk": {}});
    let r = tpp.post("/aisp/account-access-consents", &body).await;
    let errors = small_400(&r, body.to_string().len());
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0]["Path"], "Data.Permissions");
    assert!(
        errors[0]["Message"]
            .as_str()
            .unwrap()
            .contains("at most 64")
    );

    let acks: Vec<String> = (0..1_001).map(|i| format!("jti-{i}")).collect();
    let r = tpp
        .poll(json!({"returnImmediately": true, "ack": acks}))
        .await;
    let errors = small_400(&r, 20_000);
    assert_eq!(errors[0]["Path"], "ack");
    assert!(
        errors[0]["Message"]
            .as_str()
            .unwrap()
            .contains("at most 1000")
    );

    let mut errs = serde_json::Map::new();
    for i in 0..1_001 {
        errs.insert(
            format!("j{i}"),
            json!({"err": "jwtIss", "description": "d"}),
        );
    }
    let r = tpp
        .poll(json!({"returnImmediately": true, "setErrs": errs}))
        .await;
    assert_eq!(small_400(&r, 40_000)[0]["Path"], "setErrs");

    let types = vec!["UK.OBIE.Resource-Update"; 17];
    let other = bank.tpp().await;
    let r = other
        .post(
            "/event-subscriptions",
            &json!({"Data": {"Version": "3.1", "EventTypes": types}}),
        )
        .await;
    assert_eq!(small_400(&r, 1_000)[0]["Path"], "Data.EventTypes");
    bank.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_error_body_lists_twenty_problems_and_counts_the_rest() {
    let bank = TestBank::start(obie()).await;
    let tpp = bank.tpp().await;
    let bad: Vec<String> = (0..50).map(|i| format!("Nope{i}")).collect();
    let body = json!({"Data": {"Permissions": bad}, "Risk": {}});
    let r = tpp.post("/aisp/account-access-consents", &body).await;
    let errors = small_400(&r, body.to_string().len());
    assert_eq!(errors.len(), 21, "{errors:?}");
    assert!(
        errors[20]["Message"]
            .as_str()
            .unwrap()
            .contains("30 more problems")
    );
    // Thousands of unknown members in a closed object (the poll request, AP-04): the same bound.
    let mut top = serde_json::Map::new();
    top.insert("returnImmediately".into(), json!(true));
    for i in 0..5_000 {
        top.insert(format!("unknown{i}"), json!(i));
    }
    let body = Value::Object(top);
    tpp.subscribe(json!({"Data": {"Version": "3.1"}})).await;
    let r = tpp.poll(body.clone()).await;
    let errors = small_400(&r, body.to_string().len());
    assert_eq!(errors.len(), 21);
    bank.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_event_types_are_refused() {
    let bank = TestBank::start(obie()).await;
    let tpp = bank.tpp().await;
    let body = json!({"Data": {"Version": "3.1", "EventTypes": [
        "UK.OBIE.Resource-Update", "UK.OBIE.Consent-Authorization-Revoked", "UK.OBIE.Resource-Update"]}});
    let r = tpp.post("/event-subscriptions", &body).await;
    let item = r.ob_error(400, "UK.OBIE.Field.Invalid", Some("Data.EventTypes[2]"));
    assert!(item["Message"].as_str().unwrap().contains("twice"));
    bank.stop().await;
}
