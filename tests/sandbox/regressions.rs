//! Regression tests for defects an independent black-box client found: every error keeps the
//! OBIE body (even for ids that are not UTF-8), tokens survive a restart on another port, a PUT
//! body's `Links`/`Meta` are closed objects, the inspection endpoint says when it truncates, and
//! a few inputs the rules allow are accepted.

use reqwest::Method;
use reqwest::header::ACCEPT;
use serde_json::json;

use super::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn g11_an_id_that_is_not_utf8_is_a_400_ob_error_after_authentication() {
    let bank = TestBank::start(obie()).await;
    let tpp = bank.tpp().await;
    for path in [
        "/event-subscriptions/%FF",
        "/callback-urls/%C3%28",
        "/aisp/account-access-consents/%FF",
    ] {
        let method = if path.starts_with("/aisp") {
            Method::GET
        } else {
            Method::DELETE
        };
        let r = Resp::of(tpp.api(method.clone(), path)).await;
        r.ob_error(400, "UK.OBIE.Resource.NotFound", None);
        // Without a token the 401 comes first.
        let r = Resp::of(bank.request(method, &format!("{API}{path}"))).await;
        r.assert_401();
    }
    let r = Resp::of(tpp.request(Method::DELETE, "/sandbox/account-access-consents/%FF")).await;
    r.ob_error(400, "UK.OBIE.Resource.NotFound", None);
    let r = Resp::of(tpp.request(
        Method::GET,
        &format!("/sandbox/events?clientId={}&limit=abc", tpp.client_id),
    ))
    .await;
    r.ob_error(400, "UK.OBIE.Field.Invalid", Some("limit"));
    bank.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_survive_a_restart_on_another_port() {
    let db = TestDb::new().await;
    let bank = TestBank::start_db(obie(), &db.path()).await;
    let tpp = bank.tpp().await;
    tpp.get("/event-subscriptions").await.expect(200);
    bank.stop().await;
    let again = TestBank::start_db(obie(), &db.path()).await;
    assert_ne!(again.url, tpp.url, "port 0 picks a new port");
    let moved = Tpp {
        url: again.url.clone(),
        ..tpp
    };
    moved.get("/event-subscriptions").await.expect(200);
    again.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn es10_links_and_meta_of_a_put_body_are_closed_objects() {
    let bank = TestBank::start(obie()).await;
    let tpp = bank.tpp().await;
    let id = tpp.subscribe(json!({"Data": {"Version": "3.1"}})).await;
    let path = format!("/event-subscriptions/{id}");
    let data = json!({"EventSubscriptionId": id, "Version": "3.1"});
    let bogus = json!({"Data": data, "Links": {"Self": "https://x.example/", "Bogus": 1}});
    tpp.put(&path, &bogus)
        .await
        .ob_error(400, "UK.OBIE.Field.Unexpected", Some("Links.Bogus"));
    let no_self = json!({"Data": data, "Links": {}});
    tpp.put(&path, &no_self)
        .await
        .ob_error(400, "UK.OBIE.Field.Missing", Some("Links.Self"));
    let bad_meta = json!({"Data": data, "Meta": {"Pages": 1}});
    tpp.put(&path, &bad_meta)
        .await
        .ob_error(400, "UK.OBIE.Field.Unexpected", Some("Meta.Pages"));
    let good = json!({"Data": data, "Links": {"Self": bank.api_url(&path)}, "Meta": {}});
    tpp.put(&path, &good).await.expect(200);
    bank.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandbox_event_listing_says_when_it_truncates() {
    let bank = TestBank::start(obie()).await;
    let tpp = bank.subscribed_tpp().await;
    for i in 0..3 {
        bank.inject_update(&tpp.client_id, &format!("r{i}")).await;
    }
    let r = Resp::of(tpp.request(
        Method::GET,
        &format!("/sandbox/events?clientId={}&limit=2", tpp.client_id),
    ))
    .await;
    r.expect(200);
    let v = r.json();
    assert_eq!(v["events"].as_array().map(Vec::len), Some(2));
    assert_eq!(v["more"], json!(true));
    bank.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inputs_the_rules_allow_are_accepted_and_query_strings_on_callbacks_are_not() {
    let bank = TestBank::start(obie()).await;
    let tpp = bank.subscribed_tpp().await;
    // An empty Accept is no restriction.
    let r = Resp::of(
        tpp.api(Method::GET, "/event-subscriptions")
            .header(ACCEPT, ""),
    )
    .await;
    r.expect(200);
    // JSON Schema's integer includes 2.0 and 1e1.
    tpp.poll_expect(json!({"returnImmediately": true, "maxEvents": 2.0}), 200)
        .await;
    tpp.poll_expect(json!({"returnImmediately": true, "maxEvents": 1e1}), 200)
        .await;
    // ES-05: the URL must end with /event-notifications, so no query string.
    let other = bank.tpp().await;
    let body = json!({"Data": {"Version": "3.1", "CallbackUrl": format!("{CALLBACK}?x=1")}});
    other.post("/event-subscriptions", &body).await.ob_error(
        400,
        "UK.OBIE.Field.Invalid",
        Some("Data.CallbackUrl"),
    );
    bank.stop().await;
}
