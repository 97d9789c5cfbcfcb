//! Yapily-style notifications (issue 10) on `--bank yapily`: the subscription API with HTTP
//! Basic auth and its error shape (YA-01..YA-05), a triggered event delivered to a receiver on
//! 127.0.0.1 with a `yapily-signature` that verifies against `/.well-known/jwks.json` and whose
//! digest is the SHA-256 of the raw body (JWD-01..JWD-06, YA-06), retries after 500 with the
//! same event id (YA-09), and silence after DELETE (YA-08).

use std::time::Duration;

use obevents::jose;
use obevents::sandbox::Bank;
use obevents::sandbox::faults::Fault;
use reqwest::Method;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::common::*;

/// The yapily bank with quick retries (50 ms, 100 ms).
async fn yapily_bank(faults: &[Fault]) -> TestBank {
    let mut c = config(Bank::Yapily);
    c.push.retry_schedule = vec![Duration::from_millis(50), Duration::from_millis(100)];
    c.push.request_timeout = Duration::from_secs(2);
    c.faults = obevents::sandbox::faults::Faults::new(faults.iter().copied());
    TestBank::start(c).await
}

/// A request of the application `tpp` with HTTP Basic credentials.
fn basic(bank: &TestBank, tpp: &Tpp, method: Method, path: &str) -> reqwest::RequestBuilder {
    bank.request(method, path)
        .basic_auth(&tpp.client_id, Some(&tpp.client_secret))
}

async fn subscribe(bank: &TestBank, tpp: &Tpp, type_id: &str, url: &str) -> Resp {
    Resp::of(
        basic(
            bank,
            tpp,
            Method::POST,
            "/notifications/event-subscriptions",
        )
        .json(&json!({"eventTypeId": type_id, "notification": {"type": "WEBHOOK", "url": url}})),
    )
    .await
}

async fn trigger(bank: &TestBank, tpp: &Tpp, type_id: &str) -> Resp {
    Resp::of(
        basic(bank, tpp, Method::POST, "/sandbox/yapily/events")
            .json(&json!({"eventTypeId": type_id, "objectId": "pay-1"})),
    )
    .await
}

/// The dialect's error shape, with `tracingId` = the interaction id.
fn assert_error(r: &Resp, status: u16) {
    r.expect(status);
    let e = &r.json()["error"];
    assert_eq!(e["code"], status, "{e}");
    assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()), "{e}");
    assert_eq!(
        e["tracingId"].as_str(),
        r.header("x-fapi-interaction-id"),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ya01_to_ya05_subscription_crud_conflict_and_errors() {
    let bank = yapily_bank(&[]).await;
    let tpp = bank.tpp().await;
    let other = bank.tpp().await;
    let url = "https://tpp.example/hooks";

    // YA-01: no or wrong credentials.
    let r = Resp::of(bank.request(Method::GET, "/notifications/event-subscriptions")).await;
    assert_error(&r, 401);
    let r = Resp::of(
        bank.request(Method::GET, "/notifications/event-subscriptions")
            .basic_auth(&tpp.client_id, Some("wrong")),
    )
    .await;
    assert_error(&r, 401);

    let r = Resp::of(basic(
        &bank,
        &tpp,
        Method::GET,
        "/notifications/event-types",
    ))
    .await;
    r.expect(200);
    let types = r.json()["data"].clone();
    for t in [
        "payment.status.completed",
        "payment.status.failed",
        "consent.revoked",
    ] {
        let listed = types
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x["eventTypeId"] == t));
        assert!(listed, "{t} in {types}");
    }

    // YA-02: create, read, list.
    let r = subscribe(&bank, &tpp, "payment.status.completed", url).await;
    r.expect(201);
    let j = r.json();
    assert!(j["meta"]["tracingId"].is_string(), "{j}");
    assert_eq!(j["data"]["eventTypeId"], "payment.status.completed");
    assert_eq!(j["data"]["applicationId"], tpp.client_id.as_str());
    assert_eq!(
        j["data"]["notification"],
        json!({"type": "WEBHOOK", "url": url})
    );
    // YA-03: a second one for the type is a 409; another type or application is fine.
    assert_error(
        &subscribe(&bank, &tpp, "payment.status.completed", url).await,
        409,
    );
    subscribe(&bank, &tpp, "consent.revoked", url)
        .await
        .expect(201);
    subscribe(&bank, &other, "payment.status.completed", url)
        .await
        .expect(201);
    let r = Resp::of(basic(
        &bank,
        &tpp,
        Method::GET,
        "/notifications/event-subscriptions",
    ))
    .await;
    r.expect(200);
    assert_eq!(r.json()["meta"]["count"], 2);
    assert_eq!(r.json()["data"].as_array().map(Vec::len), Some(2));
    let one = "/notifications/event-subscriptions/payment.status.completed";
    let r = Resp::of(basic(&bank, &tpp, Method::GET, one)).await;
    r.expect(200);
    assert_eq!(r.json()["data"]["notification"]["url"], url);

    // YA-04: unknown type, wrong notification type, http to a public host, malformed JSON.
    assert_error(&subscribe(&bank, &tpp, "payment.nothing", url).await, 400);
    assert_error(
        &subscribe(&bank, &tpp, "payment.status.failed", "http://tpp.example/h").await,
        400,
    );
    assert_error(
        &subscribe(&bank, &tpp, "payment.status.failed", "/relative").await,
        400,
    );
    let r = Resp::of(
        basic(&bank, &tpp, Method::POST, "/notifications/event-subscriptions").json(
            &json!({"eventTypeId": "payment.status.failed", "notification": {"type": "EMAIL", "url": url}}),
        ),
    )
    .await;
    assert_error(&r, 400);
    let r = Resp::of(
        basic(
            &bank,
            &tpp,
            Method::POST,
            "/notifications/event-subscriptions",
        )
        .header("content-type", "application/json")
        .body("{not json"),
    )
    .await;
    assert_error(&r, 400);

    // YA-05: delete, then the type is gone.
    Resp::of(basic(&bank, &tpp, Method::DELETE, one))
        .await
        .expect(200);
    assert_error(&Resp::of(basic(&bank, &tpp, Method::GET, one)).await, 404);
    assert_error(
        &Resp::of(basic(&bank, &tpp, Method::DELETE, one)).await,
        404,
    );
    bank.stop().await;
}

/// Checks a webhook as a TPP would: the JWT verifies by `kid` against `/.well-known/jwks.json`,
/// its digest is the upper-case hex SHA-256 of the raw body, `enc`, `iat`/`exp`. Returns the
/// event object and the JWT's `jti`.
async fn verify_webhook(bank: &TestBank, r: &Received) -> (Value, String) {
    let jwks = Resp::of(bank.request(Method::GET, "/.well-known/jwks.json")).await;
    jwks.expect(200);
    let jwks = jose::parse_jwks(jwks.text().as_bytes()).expect("JWKS");
    let sig = r
        .headers
        .get("yapily-signature")
        .and_then(|v| v.to_str().ok())
        .expect("JWD-01: yapily-signature");
    let decoded = jose::decode_compact(sig).expect("a compact JWS");
    assert_eq!(decoded.alg(), Some("PS256"));
    jose::verify(&decoded, &jwks).expect("JWD-03/04: verifies with the published key");
    let claims = decoded.payload_json().expect("claims");
    let digest: String = Sha256::digest(&r.body)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect();
    assert_eq!(claims["digest"], digest.as_str(), "JWD-06");
    assert_eq!(claims["enc"], "SHA256");
    let (iat, exp) = (
        claims["iat"].as_i64().unwrap(),
        claims["exp"].as_i64().unwrap(),
    );
    assert_eq!(exp - iat, 300);
    assert!((iat - now()).abs() < 30, "JWD-05");
    let body: Value = serde_json::from_slice(&r.body).expect("JSON body");
    (body, claims["jti"].as_str().expect("jti").to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ya06_ya09_a_triggered_event_is_signed_and_retried_with_the_same_id() {
    // Two 500s, then the receiver's default 202.
    let receiver = Receiver::start(&[500, 500]).await;
    let bank = yapily_bank(&[]).await;
    let tpp = bank.tpp().await;
    subscribe(&bank, &tpp, "payment.status.completed", &receiver.url)
        .await
        .expect(201);
    let r = trigger(&bank, &tpp, "payment.status.completed").await;
    r.expect(201);
    let event_id = r.json()["data"]["id"].as_str().expect("id").to_string();
    let got = receiver.wait_for(3).await;
    let mut jtis = Vec::new();
    for g in &got {
        assert_eq!(g.method, "POST");
        assert_eq!(
            g.headers.get("content-type").and_then(|v| v.to_str().ok()),
            Some("application/json")
        );
        let (body, jti) = verify_webhook(&bank, g).await;
        assert_eq!(
            body["id"],
            event_id.as_str(),
            "the same event id on every retry"
        );
        assert_eq!(body["eventType"], "PAYMENT_STATUS_COMPLETED");
        assert_eq!(body["applicationId"], tpp.client_id.as_str());
        assert_eq!(body["objectId"], "pay-1");
        assert_eq!(body["url"], receiver.url.as_str());
        for f in [
            "organisationId",
            "institutionId",
            "eventPayload",
            "created",
            "notificationStatus",
        ] {
            assert!(!body[f].is_null(), "{f} in {body}");
        }
        jtis.push(jti);
    }
    assert_eq!(got[0].body, got[2].body, "retries send identical bytes");
    jtis.sort();
    jtis.dedup();
    assert_eq!(jtis.len(), 3, "jti unique per attempt");
    // A 2xx ends it (YA-10).
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(receiver.received().len(), 3);
    bank.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ya07_ya08_only_subscribed_types_and_nothing_after_delete() {
    let receiver = Receiver::start(&[]).await;
    receiver.answer_from_now_on(200);
    let bank = yapily_bank(&[]).await;
    let tpp = bank.tpp().await;
    subscribe(&bank, &tpp, "payment.status.completed", &receiver.url)
        .await
        .expect(201);
    // Not subscribed: 200 and no delivery.
    let r = trigger(&bank, &tpp, "payment.status.failed").await;
    r.expect(200);
    assert_eq!(r.json()["data"]["deliveries"], json!([]));
    // The generic injection takes Yapily types on this bank.
    let r = Resp::of(
        helper_auth(
            bank.request(Method::POST, "/sandbox/events"),
            Some(&tpp.client_id),
        )
        .json(&json!({"eventType": "payment.status.completed", "resourceId": "pay-9"})),
    )
    .await;
    r.expect(201);
    let got = receiver.wait_for(1).await;
    let (body, _) = verify_webhook(&bank, &got[0]).await;
    assert_eq!(body["objectId"], "pay-9");
    let one = "/notifications/event-subscriptions/payment.status.completed";
    Resp::of(basic(&bank, &tpp, Method::DELETE, one))
        .await
        .expect(200);
    trigger(&bank, &tpp, "payment.status.completed")
        .await
        .expect(200);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.received().len(), 1, "nothing after DELETE");
    bank.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signature_faults_bend_the_header() {
    let receiver = Receiver::start(&[]).await;
    receiver.answer_from_now_on(200);
    let bank = yapily_bank(&[Fault::YapilyDigestReserialised]).await;
    let tpp = bank.tpp().await;
    subscribe(&bank, &tpp, "consent.revoked", &receiver.url)
        .await
        .expect(201);
    trigger(&bank, &tpp, "consent.revoked").await.expect(201);
    let got = receiver.wait_for(1).await;
    let sig = got[0].headers["yapily-signature"].to_str().unwrap();
    let claims = jose::decode_compact(sig).unwrap().payload_json().unwrap();
    let digest: String = Sha256::digest(&got[0].body)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect();
    assert_ne!(claims["digest"], digest.as_str());
    bank.stop().await;
}

/// A bank with `faults` and an application subscribed to `consent.revoked` with a receiver
/// answering `script` (then 202).
async fn subscribed_app(faults: &[Fault], script: &[u16]) -> (TestBank, Tpp, Receiver) {
    let receiver = Receiver::start(script).await;
    let bank = yapily_bank(faults).await;
    let tpp = bank.tpp().await;
    subscribe(&bank, &tpp, "consent.revoked", &receiver.url)
        .await
        .expect(201);
    (bank, tpp, receiver)
}

/// One webhook from a bank with `fault`, subscribed to and triggered for `consent.revoked`.
async fn one_webhook(fault: Fault) -> (TestBank, Received) {
    let (bank, tpp, receiver) = subscribed_app(&[fault], &[]).await;
    trigger(&bank, &tpp, "consent.revoked").await.expect(201);
    let got = receiver.wait_for(1).await;
    (bank, got[0].clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_webhook_fault_bends_one_thing() {
    let claims = |r: &Received| {
        let sig = r.headers["yapily-signature"].to_str().unwrap().to_string();
        jose::decode_compact(&sig).unwrap()
    };
    let body = |r: &Received| serde_json::from_slice::<Value>(&r.body).unwrap();

    let (bank, r) = one_webhook(Fault::YapilyNoSignature).await;
    assert!(r.headers.get("yapily-signature").is_none());
    bank.stop().await;
    let (bank, r) = one_webhook(Fault::YapilyAlgNone).await;
    assert_eq!(claims(&r).alg(), Some("none"));
    bank.stop().await;
    let (bank, r) = one_webhook(Fault::YapilyExpired).await;
    let c = claims(&r).payload_json().unwrap();
    assert!(c["exp"].as_i64().unwrap() < now());
    bank.stop().await;
    let (bank, r) = one_webhook(Fault::YapilyForeignKey).await;
    let jwks = Resp::of(bank.request(Method::GET, "/.well-known/jwks.json")).await;
    let jwks = jose::parse_jwks(jwks.text().as_bytes()).unwrap();
    assert!(jose::verify(&claims(&r), &jwks).is_err());
    bank.stop().await;
    let (bank, r) = one_webhook(Fault::YapilyNoEventId).await;
    assert!(body(&r).get("id").is_none());
    bank.stop().await;
    let (bank, r) = one_webhook(Fault::YapilyWrongEventType).await;
    assert_ne!(body(&r)["eventType"], "CONSENT_REVOKED");
    bank.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscription_and_retry_faults() {
    // yapily-duplicate-subscription: the second POST is accepted.
    let bank = yapily_bank(&[Fault::YapilyDuplicateSubscription]).await;
    let tpp = bank.tpp().await;
    let url = "https://tpp.example/h";
    subscribe(&bank, &tpp, "consent.revoked", url)
        .await
        .expect(201);
    subscribe(&bank, &tpp, "consent.revoked", url)
        .await
        .expect(201);
    bank.stop().await;

    // yapily-no-retry: a 500 ends it.
    let (bank, tpp, receiver) = subscribed_app(&[Fault::YapilyNoRetry], &[500]).await;
    trigger(&bank, &tpp, "consent.revoked").await.expect(201);
    receiver.wait_for(1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.received().len(), 1);
    bank.stop().await;

    // yapily-after-delete: the retries already scheduled go on after DELETE.
    let (bank, tpp, receiver) = subscribed_app(&[Fault::YapilyAfterDelete], &[500, 500]).await;
    let one = "/notifications/event-subscriptions/consent.revoked";
    trigger(&bank, &tpp, "consent.revoked").await.expect(201);
    receiver.wait_for(1).await;
    Resp::of(basic(&bank, &tpp, Method::DELETE, one))
        .await
        .expect(200);
    receiver.wait_for(2).await;
    bank.stop().await;

    // yapily-after-delete-delivered: an event raised after DELETE still reaches the old URL.
    let faults = [Fault::YapilyAfterDeleteDelivered];
    let (bank, tpp, receiver) = subscribed_app(&faults, &[]).await;
    trigger(&bank, &tpp, "consent.revoked").await.expect(201);
    receiver.wait_for(1).await;
    Resp::of(basic(&bank, &tpp, Method::DELETE, one))
        .await
        .expect(200);
    trigger(&bank, &tpp, "consent.revoked").await.expect(201);
    receiver.wait_for(2).await;
    bank.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn isolation_faults() {
    // yapily-to-other-app: A's event also reaches B's webhook.
    let (ra, rb) = (Receiver::start(&[]).await, Receiver::start(&[]).await);
    let bank = yapily_bank(&[Fault::YapilyToOtherApp]).await;
    let (a, b) = (bank.tpp().await, bank.tpp().await);
    subscribe(&bank, &a, "consent.revoked", &ra.url)
        .await
        .expect(201);
    subscribe(&bank, &b, "consent.revoked", &rb.url)
        .await
        .expect(201);
    trigger(&bank, &a, "consent.revoked").await.expect(201);
    ra.wait_for(1).await;
    let got = rb.wait_for(1).await;
    let body: Value = serde_json::from_slice(&got[0].body).unwrap();
    assert_eq!(body["applicationId"], a.client_id.as_str());
    bank.stop().await;

    // yapily-unsubscribed-types: a type nobody asked for is delivered.
    let (bank, tpp, receiver) = subscribed_app(&[Fault::YapilyUnsubscribedTypes], &[]).await;
    trigger(&bank, &tpp, "payment.status.failed")
        .await
        .expect(201);
    let got = receiver.wait_for(1).await;
    let body: Value = serde_json::from_slice(&got[0].body).unwrap();
    assert_eq!(body["eventType"], "PAYMENT_STATUS_FAILED");
    bank.stop().await;
}

/// Unknown paths and methods under `/notifications/` are refused in the dialect's error shape.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_paths_and_methods_get_the_dialect_error_shape() {
    let bank = TestBank::start_bank(Bank::Yapily).await;
    let http = reqwest::Client::new();
    for (method, path, status) in [
        (Method::GET, "/notifications/nothing-here", 404),
        (Method::PUT, "/notifications/event-subscriptions", 405),
    ] {
        let r = http
            .request(method, format!("{}{path}", bank.url))
            .send()
            .await
            .expect("answer");
        assert_eq!(r.status().as_u16(), status, "{path}");
        let body: Value = r.json().await.expect("JSON");
        assert_eq!(body["error"]["code"], status, "{body}");
        assert!(body["error"]["tracingId"].is_string(), "{body}");
    }
    bank.stop().await;
}

/// Hostile webhook URLs (control characters, white space, backslashes, empty authority, user
/// info) are refused, and a good one is stored exactly as sent (issue 21).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_urls_are_refused_unless_clean_and_stored_as_sent() {
    let bank = yapily_bank(&[]).await;
    let tpp = bank.tpp().await;
    for bad in HOSTILE_URLS {
        let r = subscribe(&bank, &tpp, "payment.status.completed", bad).await;
        assert_error(&r, 400);
    }
    let good = "https://tpp.example/hooks/yapily?x=1";
    subscribe(&bank, &tpp, "payment.status.completed", good)
        .await
        .expect(201);
    let r = Resp::of(basic(
        &bank,
        &tpp,
        Method::GET,
        "/notifications/event-subscriptions",
    ))
    .await;
    assert_eq!(r.json()["data"][0]["notification"]["url"], good);
    bank.stop().await;
}

/// Basic on the dialect API and `/token` share one failure budget per client id: guesses over
/// Basic lock `/token` out, and a locked client id is refused over Basic even with its secret.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_guesses_share_the_token_endpoints_lockout() {
    let bank = yapily_bank(&[]).await;
    let tpp = bank.tpp().await;
    let wrong = Tpp {
        client_secret: "wrong".into(),
        ..tpp.clone()
    };
    for _ in 0..10 {
        let r = Resp::of(basic(
            &bank,
            &wrong,
            Method::GET,
            "/notifications/event-types",
        ))
        .await;
        assert_error(&r, 401);
    }
    let r = Resp::of(basic(
        &bank,
        &tpp,
        Method::GET,
        "/notifications/event-types",
    ))
    .await;
    assert_error(&r, 429);
    assert!(r.header("retry-after").is_some());
    let r = bank
        .token_basic(
            &tpp.client_id,
            &tpp.client_secret,
            &[("grant_type", "client_credentials")],
        )
        .await;
    r.expect(429);
    bank.stop().await;
}

/// An eventTypeId in the path that is not UTF-8 is a 400 in the dialect's shape.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_utf8_in_a_path_id_gets_the_dialects_400() {
    let bank = yapily_bank(&[]).await;
    let tpp = bank.tpp().await;
    let r = Resp::of(basic(
        &bank,
        &tpp,
        Method::GET,
        "/notifications/event-subscriptions/%FF%FE",
    ))
    .await;
    assert_error(&r, 400);
    bank.stop().await;
}
