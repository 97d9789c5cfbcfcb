//! Event Notification Subscription API (`/event-subscriptions`, ES-01..ES-14) and Callback URL
//! API (`/callback-urls`, CB-01..CB-07).

use reqwest::Method;
use serde_json::json;

use super::common::*;

// ---- /event-subscriptions ----------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn es02_post_subscription_is_201_with_id_version_and_self_link() {
    let bank = TestBank::start(obie()).await;
    let tpp = bank.tpp().await;
    let r = tpp
        .post(
            "/event-subscriptions",
            &json!({"Data": {"Version": "3.1", "EventTypes": ["UK.OBIE.Resource-Update"]}}),
        )
        .await;
    r.expect(201);
    r.assert_json_type();
    let j = r.json();
    let id = j["Data"]["EventSubscriptionId"]
        .as_str()
        .expect("EventSubscriptionId");
    assert!(!id.is_empty() && id.len() <= 40, "{id}");
    assert_eq!(j["Data"]["Version"], "3.1");
    assert_eq!(j["Data"]["EventTypes"], json!(["UK.OBIE.Resource-Update"]));
    // G-15: no CallbackUrl was given, so none is shown.
    assert!(j["Data"].get("CallbackUrl").is_none(), "{j}");
    let self_link = bank.api_url(&format!("/event-subscriptions/{id}"));
    assert_eq!(j["Links"]["Self"], self_link.as_str());
    assert!(j["Meta"].is_object(), "{j}");
    assert_eq!(r.header("location"), Some(self_link.as_str()));
}

/// ES-03 under concurrency: of many simultaneous POSTs for one TPP exactly one is a 201 (the
/// database's unique index decides), the rest are 409, and one subscription is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn es03_concurrent_duplicate_posts_give_exactly_one_201() {
    let bank = TestBank::start(obie()).await;
    let tpp = bank.tpp().await;
    let posts: Vec<_> = (0..16)
        .map(|_| {
            let tpp = tpp.clone();
            tokio::spawn(async move {
                tpp.post("/event-subscriptions", &json!({"Data": {"Version": "3.1"}}))
                    .await
                    .status
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for p in posts {
        statuses.push(p.await.expect("post"));
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 201 || *s == 409),
        "{statuses:?}"
    );
    assert_eq!(tpp.subscriptions().await.len(), 1);
    bank.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn es03_second_subscription_is_409() {
    let bank = TestBank::start(obie()).await;
    let tpp = bank.tpp().await;
    let first = tpp.subscribe(json!({"Data": {"Version": "3.1"}})).await;
    let r = tpp
        .post("/event-subscriptions", &json!({"Data": {"Version": "3.1"}}))
        .await;
    r.ob_error(409, "UK.OBIE.Rules.ResourceAlreadyExists", None);
    let subs = tpp.subscriptions().await;
    assert_eq!(subs.len(), 1);
    assert_eq!(subs[0]["EventSubscriptionId"], first.as_str());
    // Another TPP still gets its own.
    bank.tpp()
        .await
        .subscribe(json!({"Data": {"Version": "3.1"}}))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn es08_get_is_an_empty_array_then_the_subscription() {
    let bank = TestBank::start(obie()).await;
    let tpp = bank.tpp().await;
    let r = tpp.get("/event-subscriptions").await;
    r.expect(200);
    r.assert_json_type();
    let j = r.json();
    assert_eq!(j["Data"]["EventSubscription"], json!([]));
    assert_eq!(
        j["Links"]["Self"],
        bank.api_url("/event-subscriptions").as_str()
    );

    let id = tpp
        .subscribe(json!({"Data": {"Version": "3.1", "CallbackUrl": CALLBACK}}))
        .await;
    let subs = tpp.subscriptions().await;
    assert_eq!(
        subs,
        vec![json!({"EventSubscriptionId": id, "CallbackUrl": CALLBACK, "Version": "3.1"})]
    );
    // Another TPP does not see it.
    assert!(bank.tpp().await.subscriptions().await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn es10_put_is_a_full_replace() {
    let bank = TestBank::start(obie()).await;
    let tpp = bank.tpp().await;
    let id = tpp
        .subscribe(json!({"Data": {
            "Version": "3.1",
            "CallbackUrl": CALLBACK,
            "EventTypes": ["UK.OBIE.Resource-Update", "UK.OBIE.Consent-Authorization-Revoked"],
        }}))
        .await;
    let r = tpp
        .put(
            &format!("/event-subscriptions/{id}"),
            &json!({"Data": {"EventSubscriptionId": id, "Version": "3.1"}}),
        )
        .await;
    r.expect(200);
    r.assert_json_type();
    let j = r.json();
    // EventTypes and CallbackUrl were omitted, so they are gone.
    assert_eq!(
        j["Data"],
        json!({"EventSubscriptionId": id, "Version": "3.1"})
    );
    assert_eq!(
        j["Links"]["Self"],
        bank.api_url(&format!("/event-subscriptions/{id}")).as_str()
    );
    assert_eq!(
        tpp.subscriptions().await,
        vec![json!({"EventSubscriptionId": id, "Version": "3.1"})]
    );

    // And set again, with the Links and Meta of OBEventSubscriptionResponse1.
    let r = tpp
        .put(
            &format!("/event-subscriptions/{id}"),
            &json!({"Data": {"EventSubscriptionId": id, "Version": "3.1",
                "EventTypes": ["UK.OBIE.Consent-Authorization-Revoked"]},
                "Links": {"Self": bank.api_url(&format!("/event-subscriptions/{id}"))},
                "Meta": {}}),
        )
        .await;
    r.expect(200);
    assert_eq!(
        tpp.subscriptions().await[0]["EventTypes"],
        json!(["UK.OBIE.Consent-Authorization-Revoked"])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn es10_put_with_another_id_in_the_body_is_field_invalid() {
    let bank = TestBank::start(obie()).await;
    let tpp = bank.tpp().await;
    let id = tpp.subscribe(json!({"Data": {"Version": "3.1"}})).await;
    let r = tpp
        .put(
            &format!("/event-subscriptions/{id}"),
            &json!({"Data": {"EventSubscriptionId": "some-other-id", "Version": "3.1"}}),
        )
        .await;
    r.ob_error(
        400,
        "UK.OBIE.Field.Invalid",
        Some("Data.EventSubscriptionId"),
    );
    // Missing from the body altogether.
    let r = tpp
        .put(
            &format!("/event-subscriptions/{id}"),
            &json!({"Data": {"Version": "3.1"}}),
        )
        .await;
    r.ob_error(
        400,
        "UK.OBIE.Field.Missing",
        Some("Data.EventSubscriptionId"),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn es11_delete_is_204_without_body_then_get_is_empty() {
    let bank = TestBank::start(obie()).await;
    let tpp = bank.tpp().await;
    let id = tpp.subscribe(json!({"Data": {"Version": "3.1"}})).await;
    let r = tpp.delete(&format!("/event-subscriptions/{id}")).await;
    r.expect(204);
    assert!(r.body.is_empty(), "204 with a body: {}", r.text());
    assert!(tpp.subscriptions().await.is_empty());
    // A new POST succeeds after the delete.
    tpp.subscribe(json!({"Data": {"Version": "3.1"}})).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn g11_unknown_subscription_id_is_400_resource_not_found() {
    let bank = TestBank::start(obie()).await;
    let tpp = bank.tpp().await;
    let r = tpp
        .put(
            "/event-subscriptions/no-such-id",
            &json!({"Data": {"EventSubscriptionId": "no-such-id", "Version": "3.1"}}),
        )
        .await;
    r.ob_error(400, "UK.OBIE.Resource.NotFound", None);
    let r = tpp.delete("/event-subscriptions/no-such-id").await;
    r.ob_error(400, "UK.OBIE.Resource.NotFound", None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn g10_another_tpps_subscription_is_403() {
    let bank = TestBank::start(obie()).await;
    let owner = bank.tpp().await;
    let other = bank.tpp().await;
    let id = owner.subscribe(json!({"Data": {"Version": "3.1"}})).await;
    let r = other
        .put(
            &format!("/event-subscriptions/{id}"),
            &json!({"Data": {"EventSubscriptionId": id, "Version": "3.0"}}),
        )
        .await;
    r.ob_error(403, "GB.OBEvents.Forbidden.NotOwner", None);
    let r = other.delete(&format!("/event-subscriptions/{id}")).await;
    r.ob_error(403, "GB.OBEvents.Forbidden.NotOwner", None);
    // Untouched.
    assert_eq!(
        owner.subscriptions().await,
        vec![json!({"EventSubscriptionId": id, "Version": "3.1"})]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn es04_missing_version_or_data_is_field_missing() {
    let bank = TestBank::start(obie()).await;
    let tpp = bank.tpp().await;
    let r = tpp
        .post(
            "/event-subscriptions",
            &json!({"Data": {"CallbackUrl": CALLBACK}}),
        )
        .await;
    r.ob_error(400, "UK.OBIE.Field.Missing", Some("Data.Version"));
    let r = tpp.post("/event-subscriptions", &json!({})).await;
    r.ob_error(400, "UK.OBIE.Field.Missing", Some("Data"));
    let r = tpp
        .post("/event-subscriptions", &json!({"Data": "3.1"}))
        .await;
    r.ob_error(400, "UK.OBIE.Field.Invalid", Some("Data"));
    let r = tpp
        .post("/event-subscriptions", &json!({"Data": {"Version": 3.1}}))
        .await;
    r.ob_error(400, "UK.OBIE.Field.Invalid", Some("Data.Version"));
    assert!(tpp.subscriptions().await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn es06_unsupported_version_is_field_invalid() {
    let bank = TestBank::start(obie()).await;
    let tpp = bank.tpp().await;
    let r = tpp
        .post(
            "/event-subscriptions",
            &json!({"Data": {"Version": "banana"}}),
        )
        .await;
    r.ob_error(400, "UK.OBIE.Field.Invalid", Some("Data.Version"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn es04_unknown_top_level_member_is_field_unexpected() {
    let bank = TestBank::start(obie()).await;
    let tpp = bank.tpp().await;
    let r = tpp
        .post(
            "/event-subscriptions",
            &json!({"Data": {"Version": "3.1"}, "Extra": true}),
        )
        .await;
    r.ob_error(400, "UK.OBIE.Field.Unexpected", Some("Extra"));
    // Data itself is open (ES-04): an unknown member there is fine.
    tpp.subscribe(json!({"Data": {"Version": "3.1", "Note": "x"}}))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn es07_unknown_event_type_is_unsupported_event_type_with_path_and_url() {
    let bank = TestBank::start(obie()).await;
    let tpp = bank.tpp().await;
    let r = tpp
        .post(
            "/event-subscriptions",
            &json!({"Data": {"Version": "3.1",
                "EventTypes": ["UK.OBIE.Resource-Update", "UK.OBIE.No-Such-Event"]}}),
        )
        .await;
    let item = r.ob_error(
        400,
        "UK.OBIE.Unsupported.EventType",
        Some("Data.EventTypes[1]"),
    );
    let url = item["Url"].as_str().expect("a Url to the supported types");
    assert!(url.starts_with("http"), "{url}");
    // The Url lists the supported types.
    let listed = Resp::of(bank.http.get(url)).await;
    listed.expect(200);
    assert!(listed.text().contains("UK.OBIE.Resource-Update"));
    assert!(tpp.subscriptions().await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn es05_callback_url_must_end_with_version_and_event_notifications() {
    let bank = TestBank::start(obie()).await;
    let tpp = bank.tpp().await;
    for bad in [
        "https://tpp.example/open-banking/event-notifications",
        "https://tpp.example/callback",
        "https://tpp.example/v3.1/event-notifications/",
        "not a url",
    ] {
        let r = tpp
            .post(
                "/event-subscriptions",
                &json!({"Data": {"Version": "3.1", "CallbackUrl": bad}}),
            )
            .await;
        r.ob_error(400, "UK.OBIE.Field.Invalid", Some("Data.CallbackUrl"));
    }
    let r = tpp
        .post(
            "/event-subscriptions",
            &json!({"Data": {"Version": "3.1", "CallbackUrl": CALLBACK}}),
        )
        .await;
    r.expect(201);
    assert_eq!(r.json()["Data"]["CallbackUrl"], CALLBACK);
}

// ---- /callback-urls ----------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cb02_post_callback_url_is_201_and_listed() {
    let bank = TestBank::start(obie()).await;
    let tpp = bank.tpp().await;
    assert!(tpp.callback_urls().await.is_empty());
    let r = tpp
        .post(
            "/callback-urls",
            &json!({"Data": {"Url": CALLBACK, "Version": "3.1"}}),
        )
        .await;
    r.expect(201);
    r.assert_json_type();
    let j = r.json();
    let id = j["Data"]["CallbackUrlId"].as_str().expect("CallbackUrlId");
    assert!(!id.is_empty() && id.len() <= 40);
    assert_eq!(j["Data"]["Url"], CALLBACK);
    assert_eq!(j["Data"]["Version"], "3.1");
    assert_eq!(
        j["Links"]["Self"],
        bank.api_url(&format!("/callback-urls/{id}")).as_str()
    );
    assert!(j["Meta"].is_object());
    assert_eq!(
        tpp.callback_urls().await,
        vec![json!({"CallbackUrlId": id, "Url": CALLBACK, "Version": "3.1"})]
    );
    assert!(bank.tpp().await.callback_urls().await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cb03_second_callback_url_is_409() {
    let bank = TestBank::start(obie()).await;
    let tpp = bank.tpp().await;
    tpp.register_callback(CALLBACK).await;
    let r = tpp
        .post(
            "/callback-urls",
            &json!({"Data": {"Url": CALLBACK, "Version": "3.1"}}),
        )
        .await;
    r.ob_error(409, "UK.OBIE.Rules.ResourceAlreadyExists", None);
    assert_eq!(tpp.callback_urls().await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cb01_put_replaces_and_delete_is_204() {
    let bank = TestBank::start(obie()).await;
    let tpp = bank.tpp().await;
    let id = tpp.register_callback(CALLBACK).await;
    let new_url = "https://tpp.example/hooks/v3.0/event-notifications";
    let r = tpp
        .put(
            &format!("/callback-urls/{id}"),
            &json!({"Data": {"CallbackUrlId": id, "Url": new_url, "Version": "3.0"}}),
        )
        .await;
    r.expect(200);
    assert_eq!(
        r.json()["Data"],
        json!({"CallbackUrlId": id, "Url": new_url, "Version": "3.0"})
    );
    assert_eq!(tpp.callback_urls().await[0]["Url"], new_url);

    let r = tpp
        .put(
            &format!("/callback-urls/{id}"),
            &json!({"Data": {"CallbackUrlId": "other", "Url": new_url, "Version": "3.0"}}),
        )
        .await;
    r.ob_error(400, "UK.OBIE.Field.Invalid", Some("Data.CallbackUrlId"));
    // Of another type it is refused too, not ignored.
    for wrong in [json!(5), json!(null), json!({})] {
        let r = tpp
            .put(
                &format!("/callback-urls/{id}"),
                &json!({"Data": {"CallbackUrlId": wrong, "Url": new_url, "Version": "3.0"}}),
            )
            .await;
        r.ob_error(400, "UK.OBIE.Field.Invalid", Some("Data.CallbackUrlId"));
    }

    let r = tpp.delete(&format!("/callback-urls/{id}")).await;
    r.expect(204);
    assert!(r.body.is_empty());
    assert!(tpp.callback_urls().await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cb01_unknown_id_is_400_and_another_tpps_is_403() {
    let bank = TestBank::start(obie()).await;
    let owner = bank.tpp().await;
    let other = bank.tpp().await;
    let body = |id: &str| json!({"Data": {"CallbackUrlId": id, "Url": CALLBACK, "Version": "3.1"}});
    owner
        .put("/callback-urls/nope", &body("nope"))
        .await
        .ob_error(400, "UK.OBIE.Resource.NotFound", None);
    owner
        .delete("/callback-urls/nope")
        .await
        .ob_error(400, "UK.OBIE.Resource.NotFound", None);

    let id = owner.register_callback(CALLBACK).await;
    let r = other.put(&format!("/callback-urls/{id}"), &body(&id)).await;
    r.ob_error(403, "GB.OBEvents.Forbidden.NotOwner", None);
    other
        .delete(&format!("/callback-urls/{id}"))
        .await
        .expect(403);
    assert_eq!(owner.callback_urls().await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cb04_callback_url_suffix_rule_and_required_fields() {
    let bank = TestBank::start(obie()).await;
    let tpp = bank.tpp().await;
    let r = tpp
        .post(
            "/callback-urls",
            &json!({"Data": {"Url": "https://tpp.example/notify", "Version": "3.1"}}),
        )
        .await;
    r.ob_error(400, "UK.OBIE.Field.Invalid", Some("Data.Url"));
    let r = tpp
        .post("/callback-urls", &json!({"Data": {"Version": "3.1"}}))
        .await;
    r.ob_error(400, "UK.OBIE.Field.Missing", Some("Data.Url"));
    let r = tpp
        .post("/callback-urls", &json!({"Data": {"Url": CALLBACK}}))
        .await;
    r.ob_error(400, "UK.OBIE.Field.Missing", Some("Data.Version"));
    assert!(tpp.callback_urls().await.is_empty());
    // Unknown method on the item resource.
    Resp::of(tpp.api(Method::GET, "/callback-urls/x"))
        .await
        .ob_error(405, "GB.OBEvents.MethodNotAllowed", None);
}

/// ES-05/CB-04 plus the sandbox's one rule set for destinations: hostile CallbackUrls are
/// refused on POST and PUT of both APIs, and a good one is stored exactly as sent (issue 21).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_callback_urls_are_refused_and_good_ones_stored_as_sent() {
    let bank = TestBank::start(obie()).await;
    let tpp = bank.tpp().await;
    for bad in HOSTILE_URLS {
        let r = tpp
            .post(
                "/event-subscriptions",
                &json!({"Data": {"Version": "3.1", "CallbackUrl": bad}}),
            )
            .await;
        r.ob_error(400, "UK.OBIE.Field.Invalid", Some("Data.CallbackUrl"));
        let r = tpp
            .post(
                "/callback-urls",
                &json!({"Data": {"Url": bad, "Version": "3.1"}}),
            )
            .await;
        r.ob_error(400, "UK.OBIE.Field.Invalid", Some("Data.Url"));
    }
    let good = "https://TPP.example:8443/a/v3.1/event-notifications";
    tpp.subscribe(json!({"Data": {"Version": "3.1", "CallbackUrl": good}}))
        .await;
    let r = tpp.get("/event-subscriptions").await;
    assert_eq!(
        r.json()["Data"]["EventSubscription"][0]["CallbackUrl"],
        good
    );
    bank.stop().await;
}
