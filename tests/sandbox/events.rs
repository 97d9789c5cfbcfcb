//! Account-access-consents and the events they raise, the full register → subscribe → consent →
//! revoke → poll → verify → ack flow (N-01..N-11, J-01..J-05, AP-09, AP-13), and the sandbox's
//! event injection and reset (AP-03, N-11).

use reqwest::Method;
use serde_json::{Value, json};

use super::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consent_post_is_201_awaiting_authorisation() {
    let bank = TestBank::start(obie()).await;
    let tpp = bank.tpp().await;
    let r = tpp
        .post(
            "/aisp/account-access-consents",
            &json!({"Data": {"Permissions": ["ReadAccountsDetail", "ReadBalances"],
                "ExpirationDateTime": "2030-01-01T00:00:00+00:00"}, "Risk": {}}),
        )
        .await;
    r.expect(201);
    r.assert_json_type();
    let j = r.json();
    let id = j["Data"]["ConsentId"].as_str().expect("ConsentId");
    assert_eq!(j["Data"]["Status"], "AwaitingAuthorisation");
    assert_eq!(
        j["Data"]["Permissions"],
        json!(["ReadAccountsDetail", "ReadBalances"])
    );
    assert_eq!(j["Data"]["ExpirationDateTime"], "2030-01-01T00:00:00+00:00");
    let self_link = bank.api_url(&format!("/aisp/account-access-consents/{id}"));
    assert_eq!(j["Links"]["Self"], self_link.as_str());
    assert_eq!(r.header("location"), Some(self_link.as_str()));

    // Validation: unknown permission, missing Risk.
    tpp.post(
        "/aisp/account-access-consents",
        &json!({"Data": {"Permissions": ["ReadEverything"]}, "Risk": {}}),
    )
    .await
    .ob_error(400, "UK.OBIE.Field.Invalid", Some("Data.Permissions[0]"));
    tpp.post(
        "/aisp/account-access-consents",
        &json!({"Data": {"Permissions": ["ReadBalances"]}}),
    )
    .await
    .ob_error(400, "UK.OBIE.Field.Missing", Some("Risk"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consent_get_is_owner_scoped() {
    let bank = TestBank::start(obie()).await;
    let owner = bank.tpp().await;
    let other = bank.tpp().await;
    let id = owner.consent().await;
    let r = owner
        .get(&format!("/aisp/account-access-consents/{id}"))
        .await;
    r.expect(200);
    assert_eq!(r.json()["Data"]["ConsentId"], id.as_str());
    assert_eq!(r.json()["Data"]["Status"], "AwaitingAuthorisation");
    other
        .get(&format!("/aisp/account-access-consents/{id}"))
        .await
        .ob_error(403, "GB.OBEvents.Forbidden.NotOwner", None);
    owner
        .get("/aisp/account-access-consents/aac-no-such")
        .await
        .ob_error(400, "UK.OBIE.Resource.NotFound", None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn n06_authorise_then_revoke_queues_consent_authorization_revoked() {
    let bank = TestBank::start(obie()).await;
    let tpp = bank.subscribed_tpp().await;
    let id = tpp.consent().await;
    let r = tpp.authorise(&id).await;
    r.expect(200);
    assert_eq!(r.json()["Data"]["Status"], "Authorised");
    // Authorising twice is a state error.
    tpp.authorise(&id)
        .await
        .ob_error(400, "UK.OBIE.Resource.InvalidConsentStatus", None);

    let r = tpp.revoke(&id).await;
    r.expect(204);
    assert!(r.body.is_empty());
    let iid = r.header("x-fapi-interaction-id").expect("interaction id");

    let polled = tpp.poll_now().await;
    assert_eq!(polled.sets.len(), 1, "{:?}", polled.keys());
    let set = peek_set(&polled.sets[0].1);
    let event = &set.claims["events"][URN_REVOKED];
    assert_eq!(
        event["subject"]["http://openbanking.org.uk/rid"],
        id.as_str()
    );
    // The generated interaction id of the revoking call is the SET's txn.
    assert_eq!(set.claims["txn"], iid);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn n06_revoke_is_owner_scoped_and_unknown_is_400() {
    let bank = TestBank::start(obie()).await;
    let owner = bank.subscribed_tpp().await;
    let other = bank.subscribed_tpp().await;
    let id = owner.authorised_consent().await;
    other
        .revoke(&id)
        .await
        .ob_error(403, "GB.OBEvents.Forbidden.NotOwner", None);
    other
        .authorise(&id)
        .await
        .ob_error(403, "GB.OBEvents.Forbidden.NotOwner", None);
    owner
        .revoke("aac-no-such")
        .await
        .ob_error(400, "UK.OBIE.Resource.NotFound", None);
    // Nothing was raised by the refused calls.
    assert!(owner.poll_now().await.sets.is_empty());
    assert!(other.poll_now().await.sets.is_empty());
    // A consent still awaiting authorisation cannot be revoked.
    let pending = owner.consent().await;
    owner
        .revoke(&pending)
        .await
        .ob_error(400, "UK.OBIE.Resource.InvalidConsentStatus", None);
    // Without a token: 401.
    Resp::of(bank.request(
        Method::DELETE,
        &format!("/sandbox/account-access-consents/{id}"),
    ))
    .await
    .assert_401();
}

/// Two revokes of one consent at once: the status change is guarded in the database, so one
/// answers 204 and raises the event, the other 400 and raises nothing (on every engine).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn n06_concurrent_revokes_raise_one_event() {
    let bank = TestBank::start(obie()).await;
    let tpp = bank.subscribed_tpp().await;
    for _ in 0..5 {
        let id = tpp.authorised_consent().await;
        let (x, y) = tokio::join!(tpp.revoke(&id), tpp.revoke(&id));
        let (won, lost) = if x.status == 204 { (x, y) } else { (y, x) };
        won.expect(204);
        lost.ob_error(400, "UK.OBIE.Resource.InvalidConsentStatus", None);
        let raised = bank
            .stored_events(&tpp.client_id)
            .await
            .into_iter()
            .filter(|e| e["resourceId"] == id.as_str())
            .count();
        assert_eq!(raised, 1, "consent {id}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ap03_revoke_without_subscription_queues_nothing() {
    let bank = TestBank::start(obie()).await;
    let tpp = bank.tpp().await;
    let id = tpp.authorised_consent().await;
    tpp.revoke(&id).await.expect(204);
    assert!(tpp.poll_now().await.sets.is_empty());
    assert!(bank.stored_events(&tpp.client_id).await.is_empty());
}

/// Checks a SET's claims against OBEventNotification2 (N-02..N-06) for a revoked consent.
#[track_caller]
fn assert_revoked_set_claims(bank: &TestBank, claims: &Value, tpp: &Tpp, consent_id: &str) {
    let consent_url = bank.api_url(&format!("/aisp/account-access-consents/{consent_id}"));
    assert_eq!(claims["iss"], bank.url.as_str(), "{claims}");
    let iat = claims["iat"].as_i64().expect("iat is an integer");
    assert!((iat - now()).abs() <= 120, "iat {iat}");
    let toe = claims["toe"].as_i64().expect("toe is an integer");
    assert!(toe <= iat + 1 && toe > iat - 120, "toe {toe}");
    assert!(claims["jti"].as_str().is_some_and(|j| !j.is_empty()));
    assert_eq!(claims["aud"], tpp.client_id.as_str());
    assert_eq!(claims["sub"], consent_url.as_str());
    let txn = claims["txn"].as_str().expect("txn");
    assert!(!txn.is_empty() && txn.len() <= 128);
    let events = claims["events"].as_object().expect("events is an object");
    assert_eq!(events.keys().collect::<Vec<_>>(), [URN_REVOKED], "{claims}");
    let subject = &events[URN_REVOKED]["subject"];
    assert_eq!(
        subject["subject_type"],
        "http://openbanking.org.uk/rid_http://openbanking.org.uk/rty"
    );
    assert_eq!(subject["http://openbanking.org.uk/rid"], consent_id);
    assert_eq!(
        subject["http://openbanking.org.uk/rty"],
        "account-access-consent"
    );
    let rlk = subject["http://openbanking.org.uk/rlk"]
        .as_array()
        .expect("rlk is an array");
    assert!(!rlk.is_empty());
    for link in rlk {
        let v = link["version"].as_str().expect("rlk version");
        assert!(!v.is_empty() && v.len() <= 10, "{v}");
        assert_eq!(link["link"], consent_url.as_str());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn n02_full_flow_signed_set_with_claims_then_ack() {
    let bank = TestBank::start(obie()).await;
    let tpp = bank.tpp().await;
    tpp.subscribe(json!({"Data": {"Version": "3.1",
        "EventTypes": ["UK.OBIE.Consent-Authorization-Revoked"]}}))
        .await;
    let consent_id = tpp.authorised_consent().await;
    let iid = "6c0bc0a4-6a6f-4bd9-8a5c-f9c0a3d0d0e1";
    let r = Resp::of(
        tpp.request(
            Method::DELETE,
            &format!("/sandbox/account-access-consents/{consent_id}"),
        )
        .header("x-fapi-interaction-id", iid),
    )
    .await;
    r.expect(204);

    let polled = tpp.poll_now().await;
    assert_eq!(polled.more_available, Some(false));
    assert_eq!(polled.sets.len(), 1);
    let (key, token) = &polled.sets[0];

    // J-01..J-05: compact JWS, PS256, kid from /jwks, OB header members.
    let jwks = bank.jwks().await;
    let set = open_set(token, &jwks);
    assert_eq!(set.header["alg"], "PS256");
    assert_eq!(set.header["kid"], bank.kid().await.as_str());
    assert_ob_header(&set.header);
    // AP-13: the key is the jti claim.
    assert_eq!(set.claims["jti"], key.as_str());
    assert_revoked_set_claims(&bank, &set.claims, &tpp, &consent_id);
    // D-EV 3.1.7+: txn is the interaction id of the call that caused the change.
    assert_eq!(set.claims["txn"], iid);

    // Ack: nothing left, and it is never served again.
    let after = tpp
        .poll_ok(json!({"returnImmediately": true, "ack": [key]}))
        .await;
    assert!(after.sets.is_empty());
    assert_eq!(after.more_available, Some(false));
    assert!(tpp.poll_now().await.sets.is_empty());
    let stored = bank.stored_events(&tpp.client_id).await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0]["state"], "acknowledged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn n03_injected_events_of_each_type_are_201_and_pollable() {
    let bank = TestBank::start(obie()).await;
    let tpp = bank.subscribed_tpp().await;
    let consent = tpp.consent().await;
    let cases = [
        (
            "resource-update",
            "pay-001",
            "domestic-payment",
            URN_RESOURCE_UPDATE,
        ),
        (
            "UK.OBIE.Consent-Authorization-Revoked",
            consent.as_str(),
            "account-access-consent",
            URN_REVOKED,
        ),
        (
            URN_LINKED,
            consent.as_str(),
            "account-access-consent",
            URN_LINKED,
        ),
    ];
    let mut jtis = Vec::new();
    for (event_type, rid, rty, _) in cases {
        let r = bank.inject(&tpp.client_id, event_type, rid, rty).await;
        r.expect(201);
        r.assert_json_type();
        let jti = r.json()["jti"].as_str().expect("jti").to_string();
        jtis.push(jti);
    }
    let polled = tpp.poll_now().await;
    assert_eq!(
        polled.keys(),
        jtis.iter().map(String::as_str).collect::<Vec<_>>()
    );
    let jwks = bank.jwks().await;
    for ((_, rid, rty, urn), jti) in cases.iter().zip(&jtis) {
        let set = open_set(polled.token(jti), &jwks);
        let events = set.claims["events"].as_object().unwrap();
        assert_eq!(events.keys().collect::<Vec<_>>(), [urn]);
        let subject = &events[*urn]["subject"];
        assert_eq!(subject["http://openbanking.org.uk/rid"], *rid);
        assert_eq!(subject["http://openbanking.org.uk/rty"], *rty);
        assert_eq!(set.claims["aud"], tpp.client_id.as_str());
    }
    // resource-update's sub and rlk point at the payment.
    let set = peek_set(polled.token(&jtis[0]));
    assert_eq!(
        set.claims["sub"],
        bank.api_url("/pisp/domestic-payments/pay-001").as_str()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ap03_inject_without_subscription_is_200_not_queued() {
    let bank = TestBank::start(obie()).await;
    let tpp = bank.tpp().await;
    let r = bank
        .inject(
            &tpp.client_id,
            "resource-update",
            "pay-1",
            "domestic-payment",
        )
        .await;
    r.expect(200);
    let j = r.json();
    assert_eq!(j["queued"], false, "{j}");
    assert!(j.get("jti").is_none(), "{j}");
    assert!(tpp.poll_now().await.sets.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn n11_event_type_outside_the_subscription_is_not_queued() {
    let bank = TestBank::start(obie()).await;
    let tpp = bank.tpp().await;
    tpp.subscribe(json!({"Data": {"Version": "3.1", "EventTypes": ["UK.OBIE.Resource-Update"]}}))
        .await;
    let r = bank
        .inject(
            &tpp.client_id,
            "consent-authorization-revoked",
            "aac-1",
            "account-access-consent",
        )
        .await;
    r.expect(200);
    assert_eq!(r.json()["queued"], false);
    let jti = bank.inject_update(&tpp.client_id, "pay-1").await;
    assert_eq!(tpp.poll_now().await.keys(), [jti.as_str()]);

    // ES-06: Version 3.1.1 means resource-update only.
    let old = bank.tpp().await;
    old.subscribe(json!({"Data": {"Version": "3.1.1"}})).await;
    let r = bank
        .inject(
            &old.client_id,
            "consent-authorization-revoked",
            "aac-2",
            "account-access-consent",
        )
        .await;
    assert_eq!(r.json()["queued"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inject_validation_errors_are_400() {
    let bank = TestBank::start(obie()).await;
    let tpp = bank.subscribed_tpp().await;
    bank.inject("no-such-client", "resource-update", "p", "domestic-payment")
        .await
        .ob_error(400, "UK.OBIE.Field.Invalid", Some("clientId"));
    bank.inject(&tpp.client_id, "no-such-event", "p", "domestic-payment")
        .await
        .ob_error(400, "UK.OBIE.Unsupported.EventType", Some("eventType"));
    bank.sandbox_post(
        "/sandbox/events",
        &json!({"clientId": tpp.client_id, "eventType": "resource-update", "resourceType": "x"}),
    )
    .await
    .ob_error(400, "UK.OBIE.Field.Missing", Some("resourceId"));
    // N-07: a linked-account-update is about an account-access-consent.
    bank.inject(&tpp.client_id, URN_LINKED, "p", "domestic-payment")
        .await
        .ob_error(400, "UK.OBIE.Field.Invalid", Some("resourceType"));
    // Both become segments of the SET's sub and rlk URIs, so they must be segments as they are.
    for (id, kind, path) in [
        ("a b?c#d", "domestic-payment", "resourceId"),
        ("p\u{0}\n", "domestic-payment", "resourceId"),
        ("..", "domestic-payment", "resourceId"),
        ("p", "weird type/../x", "resourceType"),
    ] {
        bank.inject(&tpp.client_id, "resource-update", id, kind)
            .await
            .ob_error(400, "UK.OBIE.Field.Invalid", Some(path));
    }
    assert!(tpp.poll_now().await.sets.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandbox_reset_clears_the_queue() {
    let bank = TestBank::start(obie()).await;
    let a = bank.subscribed_tpp().await;
    let b = bank.subscribed_tpp().await;
    bank.inject_update(&a.client_id, "p1").await;
    bank.inject_update(&a.client_id, "p2").await;
    let kept = bank.inject_update(&b.client_id, "p3").await;
    let r = bank
        .sandbox_post("/sandbox/reset", &json!({"clientId": a.client_id}))
        .await;
    r.expect(200);
    assert_eq!(r.json()["deleted"], 2);
    assert!(a.poll_now().await.sets.is_empty());
    assert_eq!(b.poll_now().await.keys(), [kept.as_str()]);
    bank.sandbox_post("/sandbox/reset", &json!({}))
        .await
        .ob_error(400, "UK.OBIE.Field.Missing", Some("clientId"));
    // A reset deletes: a member it does not know (a typo) or a body that is not an object is
    // refused, and nothing is deleted.
    bank.sandbox_post(
        "/sandbox/reset",
        &json!({"clientId": b.client_id, "client_id": b.client_id}),
    )
    .await
    .ob_error(400, "UK.OBIE.Field.Unexpected", Some("client_id"));
    bank.sandbox_post("/sandbox/reset", &json!([]))
        .await
        .ob_error(400, "UK.OBIE.Field.Invalid", None);
    assert_eq!(b.poll_now().await.keys(), [kept.as_str()]);
}
