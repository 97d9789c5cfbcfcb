//! Rules every ASPSP-hosted event endpoint follows (obie-rules §1, G-01..G-18) and message
//! signing of requests and responses (G-14, J-02..J-05).

use obevents::jose::SigningKey;
use reqwest::Method;
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use serde_json::json;

use super::common::*;

const IID: &str = "93bac548-d2de-4546-b106-880a5018460d";

#[track_caller]
fn assert_generated_uuid(r: &Resp) -> String {
    let id = r
        .header("x-fapi-interaction-id")
        .unwrap_or_else(|| panic!("no x-fapi-interaction-id on a {}", r.status));
    uuid::Uuid::parse_str(id).unwrap_or_else(|e| panic!("{id:?} is not a UUID: {e}"));
    id.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn g06_interaction_id_is_echoed_on_success_and_errors() {
    let bank = TestBank::start(obie()).await;
    let tpp = bank.tpp().await;
    let with_iid = |rb: reqwest::RequestBuilder| rb.header("x-fapi-interaction-id", IID);
    let responses = [
        // 200, 201
        Resp::of(with_iid(tpp.api(Method::GET, "/event-subscriptions"))).await,
        Resp::of(with_iid(tpp.api_json(
            Method::POST,
            "/event-subscriptions",
            br#"{"Data":{"Version":"3.1"}}"#,
        )))
        .await,
        // 400
        Resp::of(with_iid(tpp.api_json(
            Method::POST,
            "/event-subscriptions",
            b"{not json",
        )))
        .await,
        // 401
        Resp::of(with_iid(
            bank.request(Method::GET, &format!("{API}/event-subscriptions")),
        ))
        .await,
        // 404, 405
        Resp::of(with_iid(tpp.api(Method::GET, "/no-such-resource"))).await,
        Resp::of(with_iid(tpp.api(Method::GET, "/events"))).await,
        // the authorisation server and sandbox helpers too
        Resp::of(with_iid(bank.request(Method::GET, "/jwks"))).await,
    ];
    let statuses: Vec<u16> = responses.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [200, 201, 400, 401, 404, 405, 200]);
    for r in &responses {
        assert_eq!(
            r.header("x-fapi-interaction-id"),
            Some(IID),
            "not echoed on a {}",
            r.status
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn g06_interaction_id_is_a_fresh_uuid_when_absent() {
    let bank = TestBank::start(obie()).await;
    let tpp = bank.tpp().await;
    let ok1 = tpp.get("/event-subscriptions").await;
    let ok2 = tpp.get("/event-subscriptions").await;
    let bad = tpp.post("/event-subscriptions", &json!({})).await;
    let unauth = Resp::of(bank.request(Method::GET, &format!("{API}/event-subscriptions"))).await;
    assert_eq!(
        [ok1.status, ok2.status, bad.status, unauth.status],
        [200, 200, 400, 401]
    );
    let ids: Vec<String> = [&ok1, &ok2, &bad, &unauth]
        .into_iter()
        .map(assert_generated_uuid)
        .collect();
    assert_ne!(ids[0], ids[1], "the same id for two requests");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn g10_missing_or_garbage_token_is_401_without_body() {
    let bank = TestBank::start(obie()).await;
    let missing = Resp::of(bank.request(Method::GET, &format!("{API}/event-subscriptions"))).await;
    missing.assert_401();
    let garbage = Resp::of(
        bank.request(Method::GET, &format!("{API}/event-subscriptions"))
            .bearer_auth("not.a.token"),
    )
    .await;
    garbage.assert_401();
    assert!(
        garbage
            .header("www-authenticate")
            .unwrap()
            .contains("invalid_token")
    );
    // A token of another sandbox (other secret) is garbage here too.
    let other = TestBank::start(obie()).await;
    let foreign = other.tpp().await;
    let r = Resp::of(
        bank.request(Method::POST, &format!("{API}/events"))
            .bearer_auth(&foreign.token)
            .header(CONTENT_TYPE, "application/json")
            .body("{}"),
    )
    .await;
    r.assert_401();
    // Basic is not a bearer token.
    let r = Resp::of(
        bank.request(Method::GET, &format!("{API}/event-subscriptions"))
            .basic_auth("a", Some("b")),
    )
    .await;
    r.assert_401();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn g04_token_without_the_needed_scope_is_403() {
    let bank = TestBank::start(obie()).await;
    let polling_only = bank.tpp_with(json!({"scope": "eventpolling"})).await;
    polling_only.get("/event-subscriptions").await.ob_error(
        403,
        "GB.OBEvents.Forbidden.Scope",
        None,
    );
    polling_only
        .post("/event-subscriptions", &json!({"Data": {"Version": "3.1"}}))
        .await
        .ob_error(403, "GB.OBEvents.Forbidden.Scope", None);
    polling_only
        .post(
            "/callback-urls",
            &json!({"Data": {"Url": CALLBACK, "Version": "3.1"}}),
        )
        .await
        .expect(403);
    // v3.1.11: polling needs accounts, payments or fundsconfirmations.
    polling_only
        .poll(json!({"returnImmediately": true}))
        .await
        .ob_error(403, "GB.OBEvents.Forbidden.Scope", None);
    // AIS consents need accounts.
    let payments = bank.tpp_with(json!({"scope": "payments"})).await;
    payments
        .post(
            "/aisp/account-access-consents",
            &json!({"Data": {"Permissions": ["ReadBalances"]}, "Risk": {}}),
        )
        .await
        .expect(403);
    // …while payments alone is enough for the event APIs (one of the three, G-04).
    payments.get("/event-subscriptions").await.expect(200);
    payments.poll_now().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn g07_unsupported_content_types_are_415() {
    let bank = TestBank::start(obie()).await;
    let tpp = bank.tpp().await;
    let body = br#"{"Data":{"Version":"3.1"}}"#;
    for ct in ["text/plain", "application/jose+jwe"] {
        let r = Resp::of(
            tpp.api(Method::POST, "/event-subscriptions")
                .header(CONTENT_TYPE, ct)
                .body(body.to_vec()),
        )
        .await;
        r.ob_error(415, "GB.OBEvents.UnsupportedMediaType", None);
        let r = Resp::of(
            tpp.api(Method::POST, "/events")
                .header(CONTENT_TYPE, ct)
                .body("{}"),
        )
        .await;
        r.expect(415);
    }
    // No Content-Type at all.
    let r = Resp::of(
        tpp.api(Method::POST, "/event-subscriptions")
            .body(body.to_vec()),
    )
    .await;
    r.expect(415);
    // With a UTF-8 charset it is fine.
    let r = Resp::of(
        tpp.api(Method::POST, "/event-subscriptions")
            .header(CONTENT_TYPE, "application/json; charset=utf-8")
            .body(body.to_vec()),
    )
    .await;
    r.expect(201);
    assert_eq!(tpp.subscriptions().await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn g08_unacceptable_accept_is_406() {
    let bank = TestBank::start(obie()).await;
    let tpp = bank.tpp().await;
    let r = Resp::of(
        tpp.api(Method::GET, "/event-subscriptions")
            .header(ACCEPT, "text/xml"),
    )
    .await;
    r.ob_error(406, "GB.OBEvents.NotAcceptable", None);
    // G-18: encryption is not supported.
    let r = Resp::of(
        tpp.api(Method::GET, "/event-subscriptions")
            .header(ACCEPT, "application/jose+jwe"),
    )
    .await;
    r.expect(406);
    let r = Resp::of(
        tpp.api_json(Method::POST, "/events", b"{\"returnImmediately\":true}")
            .header(ACCEPT, "text/xml"),
    )
    .await;
    r.expect(406);
    for ok in [
        "application/json",
        "*/*",
        "text/html, application/json;q=0.5",
    ] {
        let r = Resp::of(
            tpp.api(Method::GET, "/event-subscriptions")
                .header(ACCEPT, ok),
        )
        .await;
        assert_eq!(r.status, 200, "Accept: {ok}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn g10_undefined_methods_are_405_with_an_ob_error() {
    let bank = TestBank::start(obie()).await;
    let tpp = bank.tpp().await;
    let r = tpp.get("/events").await;
    r.ob_error(405, "GB.OBEvents.MethodNotAllowed", None);
    assert_eq!(r.header("allow"), Some("POST"));
    let id = tpp.subscribe(json!({"Data": {"Version": "3.1"}})).await;
    // ES-09: there is no GET of one subscription.
    let r = tpp.get(&format!("/event-subscriptions/{id}")).await;
    r.ob_error(405, "GB.OBEvents.MethodNotAllowed", None);
    let allow = r.header("allow").expect("Allow on a 405");
    assert!(allow.contains("PUT") && allow.contains("DELETE"), "{allow}");
    let r = Resp::of(tpp.api(Method::DELETE, "/event-subscriptions")).await;
    r.ob_error(405, "GB.OBEvents.MethodNotAllowed", None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn g11_undefined_path_is_404_with_an_ob_error() {
    let bank = TestBank::start(obie()).await;
    let tpp = bank.tpp().await;
    tpp.get("/no-such-resource")
        .await
        .ob_error(404, "GB.OBEvents.NotFound", None);
    Resp::of(tpp.request(Method::GET, "/nowhere"))
        .await
        .ob_error(404, "GB.OBEvents.NotFound", None);
    Resp::of(tpp.request(Method::POST, "/open-banking/v9.9/events"))
        .await
        .ob_error(404, "GB.OBEvents.NotFound", None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn g13_malformed_json_is_400_resource_invalid_format() {
    let bank = TestBank::start(obie()).await;
    let tpp = bank.tpp().await;
    for body in [&b"{\"Data\": "[..], b"", b"[1,2]", b"\"Data\""] {
        let r = Resp::of(tpp.api_json(Method::POST, "/event-subscriptions", body)).await;
        r.ob_error(400, "UK.OBIE.Resource.InvalidFormat", None);
    }
    let r = Resp::of(tpp.api_json(Method::POST, "/events", b"{,}")).await;
    r.ob_error(400, "UK.OBIE.Resource.InvalidFormat", None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn g10_oversized_body_is_413_with_an_ob_error() {
    let mut cfg = obie();
    cfg.body_limit = 2048;
    let bank = TestBank::start(cfg).await;
    let tpp = bank.tpp().await;
    let big = json!({"Data": {"Version": "3.1", "Padding": "x".repeat(4000)}}).to_string();
    let r = Resp::of(tpp.api_json(Method::POST, "/event-subscriptions", big.as_bytes())).await;
    r.ob_error(413, "GB.OBEvents.PayloadTooLarge", None);
    assert!(r.header("x-fapi-interaction-id").is_some());
    let r = Resp::of(tpp.api_json(Method::POST, "/events", big.as_bytes())).await;
    r.ob_error(413, "GB.OBEvents.PayloadTooLarge", None);
    // Just under the limit is fine.
    let small = json!({"Data": {"Version": "3.1", "Padding": "x".repeat(1500)}}).to_string();
    Resp::of(tpp.api_json(Method::POST, "/event-subscriptions", small.as_bytes()))
        .await
        .expect(201);
}

// ---- message signing (G-14) -----------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn g14_subscription_responses_carry_a_verifiable_detached_signature() {
    let bank = TestBank::start(obie()).await;
    let jwks = bank.jwks().await;
    let kid = bank.kid().await;
    let tpp = bank.tpp().await;
    let post = tpp
        .post("/event-subscriptions", &json!({"Data": {"Version": "3.1"}}))
        .await;
    post.expect(201);
    let id = post.json()["Data"]["EventSubscriptionId"]
        .as_str()
        .unwrap()
        .to_string();
    let put = tpp
        .put(
            &format!("/event-subscriptions/{id}"),
            &json!({"Data": {"EventSubscriptionId": id, "Version": "3.1", "CallbackUrl": CALLBACK}}),
        )
        .await;
    put.expect(200);
    let get = tpp.get("/event-subscriptions").await;
    get.expect(200);
    let cb = tpp
        .post(
            "/callback-urls",
            &json!({"Data": {"Url": CALLBACK, "Version": "3.1"}}),
        )
        .await;
    cb.expect(201);
    for r in [&post, &put, &get, &cb] {
        let header = verify_response_signature(r, &jwks);
        assert_eq!(header["alg"], "PS256");
        assert_eq!(header["kid"], kid.as_str());
        assert!(header.get("b64").is_none(), "v3.1.11 has no b64");
        assert_ob_header(&header);
    }
    // DELETE has no body, so no signature; polling is not signed (AP-02).
    let del = tpp.delete(&format!("/event-subscriptions/{id}")).await;
    del.expect(204);
    assert!(del.header("x-jws-signature").is_none());
}

/// A sandbox that requires signed requests and a TPP that registered the test key's JWKS.
async fn signing_bank() -> (TestBank, Tpp) {
    let mut cfg = obie();
    cfg.require_request_signatures = true;
    let bank = TestBank::start(cfg).await;
    let tpp = bank.tpp_with(json!({"jwks": tpp_jwks()})).await;
    (bank, tpp)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn g14_unsigned_request_is_400_signature_missing() {
    let (_bank, tpp) = signing_bank().await;
    let r = tpp
        .post("/event-subscriptions", &json!({"Data": {"Version": "3.1"}}))
        .await;
    r.ob_error(400, "UK.OBIE.Signature.Missing", Some("x-jws-signature"));
    let r = tpp
        .post(
            "/callback-urls",
            &json!({"Data": {"Url": CALLBACK, "Version": "3.1"}}),
        )
        .await;
    r.ob_error(400, "UK.OBIE.Signature.Missing", None);
    assert!(tpp.subscriptions().await.is_empty());
    // Polling is never signed (AP-02), so it works without a signature.
    tpp.poll_now().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn g14_bad_request_signature_is_400_signature_invalid() {
    let (_bank, tpp) = signing_bank().await;
    let body = br#"{"Data":{"Version":"3.1"}}"#;
    // A well-formed signature over another body.
    let sig = sign_request(tpp_key(), br#"{"Data":{"Version":"3.0"}}"#);
    let r = Resp::of(
        tpp.api_json(Method::POST, "/event-subscriptions", body)
            .header("x-jws-signature", sig),
    )
    .await;
    r.ob_error(400, "UK.OBIE.Signature.Invalid", Some("x-jws-signature"));
    // Signed by a key the TPP never registered, with the registered kid.
    let stranger = SigningKey::generate().unwrap();
    let ob = obevents::jose::ObHeader {
        iss: "x".into(),
        tan: "openbanking.org.uk".into(),
    };
    let header = obevents::jose::ob_header(
        obevents::jose::Alg::PS256,
        tpp_key().kid(),
        &ob,
        now(),
        false,
    );
    let sig = obevents::jose::sign_detached(&stranger, &header, body).unwrap();
    let r = Resp::of(
        tpp.api_json(Method::POST, "/event-subscriptions", body)
            .header("x-jws-signature", sig),
    )
    .await;
    r.ob_error(400, "UK.OBIE.Signature.Invalid", None);
    // Not a JWS at all.
    let r = Resp::of(
        tpp.api_json(Method::POST, "/event-subscriptions", body)
            .header("x-jws-signature", "garbage"),
    )
    .await;
    r.expect(400);
    assert!(
        r.json()["Errors"][0]["ErrorCode"]
            .as_str()
            .unwrap()
            .starts_with("UK.OBIE.Signature."),
        "{}",
        r.text()
    );
    assert!(tpp.subscriptions().await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn g14_good_request_signature_is_accepted() {
    let (_bank, tpp) = signing_bank().await;
    let body = br#"{"Data":{"Version":"3.1"}}"#;
    let r = Resp::of(
        tpp.api_json(Method::POST, "/event-subscriptions", body)
            .header("x-jws-signature", sign_request(tpp_key(), body)),
    )
    .await;
    r.expect(201);
    let id = r.json()["Data"]["EventSubscriptionId"]
        .as_str()
        .unwrap()
        .to_string();
    let put = json!({"Data": {"EventSubscriptionId": id, "Version": "3.0"}}).to_string();
    let r = Resp::of(
        tpp.api_json(
            Method::PUT,
            &format!("/event-subscriptions/{id}"),
            put.as_bytes(),
        )
        .header("x-jws-signature", sign_request(tpp_key(), put.as_bytes())),
    )
    .await;
    r.expect(200);
    assert_eq!(tpp.subscriptions().await[0]["Version"], "3.0");
}

const LONG: usize = 600;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn g12_message_stays_within_500_chars_for_a_long_unknown_id() {
    let bank = TestBank::start(obie()).await;
    let tpp = bank.tpp().await;
    // G-11's NotFound message names the id; G-12 caps Message at 500 characters.
    tpp.delete(&format!("/event-subscriptions/{}", "x".repeat(LONG)))
        .await
        .ob_error(400, "UK.OBIE.Resource.NotFound", None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn g12_message_stays_within_500_chars_for_a_long_undefined_path() {
    let bank = TestBank::start(obie()).await;
    let tpp = bank.tpp().await;
    tpp.get(&format!("/{}", "x".repeat(LONG)))
        .await
        .ob_error(404, "GB.OBEvents.NotFound", None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn g12_path_stays_within_500_chars_for_a_long_unknown_member() {
    let bank = TestBank::start(obie()).await;
    let tpp = bank.tpp().await;
    let mut body = serde_json::Map::new();
    body.insert("Data".into(), json!({"Version": "3.1"}));
    body.insert("x".repeat(LONG), json!(1));
    tpp.post("/event-subscriptions", &serde_json::Value::Object(body))
        .await
        .ob_error(400, "UK.OBIE.Field.Unexpected", None);
}
