//! Real-time push (R-01..R-10, RFC 8935) to a TPP's callback receiver on 127.0.0.1: the request
//! acknowledgement and retries, catch-up by polling, stopping and
//! moving with the subscription, the destination guard, the TPP's delivery view and retry,
//! and surviving SIGKILL between attempts.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use super::common::*;

/// A TPP subscribed with `receiver` as its CallbackUrl.
async fn push_tpp(bank: &TestBank, receiver: &Receiver) -> Tpp {
    let tpp = bank.tpp().await;
    tpp.subscribe(json!({"Data": {"Version": "3.1", "CallbackUrl": receiver.url}}))
        .await;
    tpp
}

/// The caller's deliveries (`GET /sandbox/deliveries`).
async fn deliveries(tpp: &Tpp) -> Vec<Value> {
    let r = Resp::of(tpp.request(Method::GET, "/sandbox/deliveries")).await;
    r.expect(200);
    r.json()["deliveries"]
        .as_array()
        .expect("deliveries")
        .clone()
}

/// Waits (bounded) until the newest delivery of `tpp` is in `state`; returns it.
async fn wait_state(tpp: &Tpp, state: &str) -> Value {
    let deadline = tokio::time::Instant::now() + LIMIT;
    loop {
        let ds = deliveries(tpp).await;
        if let Some(d) = ds.first()
            && d["state"] == state
        {
            return d.clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no delivery reached {state}: {ds:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r04_an_event_is_pushed_as_a_signed_set_and_202_acknowledges_it() {
    let receiver = Receiver::start(&[]).await;
    let bank = TestBank::start(push_config(&[100])).await;
    let tpp = push_tpp(&bank, &receiver).await;
    let jti = bank.inject_update(&tpp.client_id, "pay-1").await;
    let got = receiver.wait_for(1).await;
    let r = &got[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, "/open-banking/v3.1/event-notifications");
    let header = |n: &str| {
        r.headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(String::from)
    };
    assert_eq!(header("content-type").as_deref(), Some("application/jwt"));
    assert!(header("authorization").is_none(), "R-04: no bearer token");
    assert!(header("x-fapi-interaction-id").is_some_and(|v| !v.is_empty()));
    assert_eq!(
        header("x-fapi-financial-id").as_deref(),
        Some("0015800001041RObev")
    );
    // The body is the stored SET: it verifies with the bank's JWKS and names this TPP.
    let set = open_set(
        std::str::from_utf8(&r.body).expect("utf-8"),
        &bank.jwks().await,
    );
    assert_eq!(set.claims["jti"], jti.as_str());
    assert_eq!(set.claims["aud"], tpp.client_id.as_str());
    let d = wait_state(&tpp, "delivered").await;
    assert_eq!(d["attempts"].as_array().map(Vec::len), Some(1));
    assert_eq!(d["attempts"][0]["statusCode"], 202);
    // Delivered by push = acknowledged: polling does not serve it again.
    assert!(tpp.poll_now().await.sets.is_empty());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.received().len(), 1, "pushed again after a 202");
    bank.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r08_503_503_202_gives_three_attempts_spaced_by_the_schedule() {
    let receiver = Receiver::start(&[503, 503]).await;
    let bank = TestBank::start(push_config(&[150, 300, 600])).await;
    let tpp = push_tpp(&bank, &receiver).await;
    bank.inject_update(&tpp.client_id, "pay-1").await;
    let got = receiver.wait_for(3).await;
    let gaps: Vec<Duration> = got.windows(2).map(|w| w[1].at - w[0].at).collect();
    // Never early (schedule times are whole milliseconds, so allow that much rounding);
    // lateness is measured by the bench, not asserted here beyond sanity.
    assert!(gaps[0] >= Duration::from_millis(148), "{gaps:?}");
    assert!(gaps[1] >= Duration::from_millis(298), "{gaps:?}");
    assert!(gaps.iter().all(|g| *g < Duration::from_secs(3)), "{gaps:?}");
    let ids: Vec<_> = got
        .iter()
        .map(|r| r.headers["x-fapi-interaction-id"].clone())
        .collect();
    assert_ne!(ids[0], ids[1], "an interaction id per attempt");
    assert_eq!(got[0].body, got[2].body, "the same SET on every attempt");
    let d = wait_state(&tpp, "delivered").await;
    let statuses: Vec<_> = d["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["statusCode"].clone())
        .collect();
    assert_eq!(
        statuses,
        [json!(202), json!(503), json!(503)],
        "newest first"
    );
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(receiver.received().len(), 3, "silence after the 202");
    bank.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r08_r09_a_4xx_is_not_retried_and_a_failed_set_stays_pollable() {
    let receiver = Receiver::start(&[400]).await;
    let bank = TestBank::start(push_config(&[100, 100])).await;
    let tpp = push_tpp(&bank, &receiver).await;
    let jti = bank.inject_update(&tpp.client_id, "pay-1").await;
    let d = wait_state(&tpp, "failed").await;
    assert_eq!(d["attempts"].as_array().map(Vec::len), Some(1));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.received().len(), 1, "a 4xx was retried");
    assert_eq!(tpp.poll_now().await.keys(), [jti.as_str()], "R-09 catch-up");
    // Out of retries after 5xx: failed after 1 + 2 attempts, still pollable.
    let always_down = Receiver::start(&[]).await;
    always_down.answer_from_now_on(503);
    let other = push_tpp(&bank, &always_down).await;
    let jti = bank.inject_update(&other.client_id, "pay-2").await;
    let d = wait_state(&other, "failed").await;
    assert_eq!(d["attempts"].as_array().map(Vec::len), Some(3));
    assert_eq!(other.poll_now().await.keys(), [jti.as_str()]);
    bank.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_the_subscription_stops_pushes_and_a_put_moves_them() {
    let down = Receiver::start(&[]).await;
    down.answer_from_now_on(503);
    let bank = TestBank::start(push_config(&[300, 300, 300])).await;
    let tpp = push_tpp(&bank, &down).await;
    bank.inject_update(&tpp.client_id, "pay-1").await;
    down.wait_for(1).await;
    // The first attempt is recorded (pending its retry) before the subscription goes.
    let deadline = tokio::time::Instant::now() + LIMIT;
    while deliveries(&tpp).await[0]["attempts"]
        .as_array()
        .map(Vec::len)
        != Some(1)
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the attempt was not recorded"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let subs = tpp.subscriptions().await;
    let id = subs[0]["EventSubscriptionId"].as_str().unwrap().to_string();
    tpp.delete(&format!("/event-subscriptions/{id}"))
        .await
        .expect(204);
    assert_eq!(
        wait_state(&tpp, "cancelled").await["attempts"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(
        down.received().len(),
        1,
        "pushed after the subscription was deleted"
    );

    // A PUT that changes the CallbackUrl: the pending retry goes to the new URL.
    let moved = Receiver::start(&[]).await;
    let id = tpp
        .subscribe(json!({"Data": {"Version": "3.1", "CallbackUrl": down.url}}))
        .await;
    bank.inject_update(&tpp.client_id, "pay-2").await;
    down.wait_for(2).await;
    tpp.put(
        &format!("/event-subscriptions/{id}"),
        &json!({"Data": {"EventSubscriptionId": id, "Version": "3.1", "CallbackUrl": moved.url}}),
    )
    .await
    .expect(200);
    moved.wait_for(1).await;
    wait_state(&tpp, "delivered").await;
    bank.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn es13_a_callback_url_registration_alone_gets_resource_updates_by_push_only() {
    let receiver = Receiver::start(&[]).await;
    let bank = TestBank::start(push_config(&[100])).await;
    let tpp = bank.tpp().await;
    tpp.register_callback(&receiver.url).await;
    let r = bank
        .inject(
            &tpp.client_id,
            "resource-update",
            "pay-1",
            "domestic-payment",
        )
        .await;
    r.expect(201);
    assert!(r.json()["deliveryId"].is_string(), "{}", r.text());
    receiver.wait_for(1).await;
    // CB-05: only resource-update; AP-03: nothing to poll without a subscription.
    let r = bank
        .inject(
            &tpp.client_id,
            "consent-authorization-revoked",
            "aac-1",
            "account-access-consent",
        )
        .await;
    assert_eq!(r.json()["queued"], false);
    bank.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_destinations_are_refused_unless_allowed() {
    let receiver = Receiver::start(&[]).await;
    let mut cfg = push_config(&[100]);
    cfg.push.allow_private_networks = Some(false);
    let bank = TestBank::start(cfg).await;
    let tpp = push_tpp(&bank, &receiver).await;
    bank.inject_update(&tpp.client_id, "pay-1").await;
    let d = wait_state(&tpp, "failed").await;
    let error = d["attempts"][0]["error"].as_str().unwrap_or_default();
    assert!(error.contains("non-public"), "{d}");
    assert!(receiver.received().is_empty());
    // Reserved documentation names are never contacted, even where private ones are allowed.
    let open = TestBank::start(push_config(&[100])).await;
    let doc = open.tpp().await;
    doc.subscribe(json!({"Data": {"Version": "3.1", "CallbackUrl": CALLBACK}}))
        .await;
    open.inject_update(&doc.client_id, "pay-1").await;
    let d = wait_state(&doc, "failed").await;
    assert!(
        d["attempts"][0]["error"]
            .as_str()
            .unwrap_or_default()
            .contains("reserved"),
        "{d}"
    );
    bank.stop().await;
    open.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tpp_sees_only_its_deliveries_and_can_retry_one_now() {
    let receiver = Receiver::start(&[404]).await;
    let bank = TestBank::start(push_config(&[100])).await;
    let tpp = push_tpp(&bank, &receiver).await;
    let other = bank.tpp().await;
    bank.inject_update(&tpp.client_id, "pay-1").await;
    let d = wait_state(&tpp, "failed").await;
    let id = d["id"].as_str().unwrap().to_string();
    assert!(deliveries(&other).await.is_empty());
    let path = format!("/sandbox/deliveries?clientId={}", tpp.client_id);
    Resp::of(other.request(Method::GET, &path))
        .await
        .expect(403);
    // Another TPP cannot retry it; the operator's admin credential can (as its owner can).
    let retry = format!("/sandbox/deliveries/{id}/retry");
    Resp::of(other.request(Method::POST, &retry))
        .await
        .expect(400);
    Resp::of(
        bank.request(Method::POST, &retry)
            .basic_auth(ADMIN.0, Some(ADMIN.1)),
    )
    .await
    .expect(202);
    receiver.wait_for(2).await;
    let d = wait_state(&tpp, "delivered").await;
    assert_eq!(d["attempts"].as_array().map(Vec::len), Some(2));
    // Acknowledged: a retry is refused, nothing is sent again.
    let r = Resp::of(tpp.request(Method::POST, &retry)).await;
    r.expect(409);
    assert_eq!(r.json()["Errors"][0]["ErrorCode"], "GB.OBEvents.Conflict");
    Resp::of(bank.request(Method::GET, "/sandbox/deliveries"))
        .await
        .assert_401();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.received().len(), 2);
    bank.stop().await;
}

/// A storm of manual retries sends at most one attempt at a time, records every attempt it
/// sends, and stops once the TPP acknowledges.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_storm_sends_one_attempt_at_a_time_and_records_each() {
    let receiver = Receiver::start(&[404]).await;
    let bank = TestBank::start(push_config(&[100])).await;
    let tpp = push_tpp(&bank, &receiver).await;
    bank.inject_update(&tpp.client_id, "pay-1").await;
    let d = wait_state(&tpp, "failed").await;
    let retry = format!("/sandbox/deliveries/{}/retry", d["id"].as_str().unwrap());
    receiver.answer_from_now_on(202);
    let storm = (0..200).map(|_| Resp::of(tpp.request(Method::POST, &retry)));
    let answers = futures::future::join_all(storm).await;
    for r in &answers {
        assert!([202, 409].contains(&r.status), "{} {}", r.status, r.text());
    }
    let d = wait_state(&tpp, "delivered").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let sent = receiver.received().len();
    let recorded = d["attempts"].as_array().map(Vec::len).unwrap_or(0);
    assert_eq!(sent, recorded, "every webhook sent is recorded");
    assert_eq!(sent, 2, "one failed attempt, one delivered; no more");
    bank.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_between_two_attempts_delays_but_does_not_lose_the_delivery() {
    let receiver = Receiver::start(&[503]).await;
    let db = TestDb::new().await;
    let config = std::env::temp_dir().join(format!("obevents-push-{}.toml", uuid::Uuid::new_v4()));
    std::fs::write(
        &config,
        "[push]\nretry_schedule_ms = [1500]\nrequest_timeout_ms = 2000\n",
    )
    .expect("config");
    let config_arg = config.to_string_lossy().to_string();
    let (child, url) = spawn_sandbox_with(&db.path(), &["--config", &config_arg]).await;
    let bank = TestBank::at(&url);
    let tpp = push_tpp(&bank, &receiver).await;
    let jti = bank.inject_update(&tpp.client_id, "pay-1").await;
    receiver.wait_for(1).await;
    sigkill(child).await;
    let (child, url) = spawn_sandbox_with(&db.path(), &["--config", &config_arg]).await;
    let got = receiver.wait_for(2).await;
    let set = peek_set(std::str::from_utf8(&got[1].body).expect("utf-8"));
    assert_eq!(set.claims["jti"], jti.as_str());
    let tpp = tpp.at(&url);
    wait_state(&tpp, "delivered").await;
    sigkill(child).await;
    let _ = std::fs::remove_file(&config);
}

/// SIGKILL while an attempt is in flight: the attempt stays visible, marked interrupted, and
/// the delivery is tried again — at once on SQLite (no other process can hold its lease), once
/// the lease runs out on PostgreSQL (another replica might be the one sending).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_an_attempt_leaves_it_shown_as_interrupted() {
    let receiver = Receiver::start(&[]).await;
    receiver.hold(Duration::from_millis(1_500));
    let db = TestDb::new().await;
    let config = std::env::temp_dir().join(format!("obevents-push-{}.toml", uuid::Uuid::new_v4()));
    std::fs::write(
        &config,
        "[push]\nretry_schedule_ms = [500]\nrequest_timeout_ms = 2000\n",
    )
    .expect("config");
    let config_arg = config.to_string_lossy().to_string();
    let (child, url) = spawn_sandbox_with(&db.path(), &["--config", &config_arg]).await;
    let bank = TestBank::at(&url);
    let tpp = push_tpp(&bank, &receiver).await;
    bank.inject_update(&tpp.client_id, "pay-1").await;
    receiver.wait_for(1).await;
    sigkill(child).await;
    receiver.hold(Duration::ZERO);
    let restarted = std::time::Instant::now();
    let (child, url) = spawn_sandbox_with(&db.path(), &["--config", &config_arg]).await;
    // On PostgreSQL the lease (two request timeouts + 10 s = 14 s) runs out first.
    receiver.wait_for_within(2, Duration::from_secs(20)).await;
    if matches!(crate::ENGINE, Engine::Sqlite) {
        // The lease was not waited out.
        assert!(
            restarted.elapsed() < Duration::from_secs(5),
            "{:?}",
            restarted.elapsed()
        );
    }
    let tpp = tpp.at(&url);
    let d = wait_state(&tpp, "delivered").await;
    let attempts = d["attempts"].as_array().expect("attempts").clone();
    assert_eq!(attempts.len(), 2, "{attempts:?}");
    let first = &attempts[1];
    assert!(
        first["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("interrupted")),
        "{first}"
    );
    assert!(first.get("inFlight").is_none(), "{first}");
    sigkill(child).await;
    let _ = std::fs::remove_file(&config);
}
