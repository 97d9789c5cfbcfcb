//! Bank faults a TPP chooses for its own client (issue 22 item 8): `/sandbox/faults` with its
//! own token, the operator's `/sandbox/admin/faults`; the choice bends that TPP's polls,
//! SETs and pushes and nobody else's, is refused in the OBIE error shape when a name is
//! unknown or not per-TPP, and survives a restart.

use obevents::jose;
use reqwest::Method;
use reqwest::header::CONTENT_TYPE;
use serde_json::{Value, json};

use super::common::*;

/// `PUT /sandbox/faults` with `body` as `tpp`.
async fn choose(tpp: &Tpp, body: &Value) -> Resp {
    Resp::of(
        tpp.request(Method::PUT, "/sandbox/faults")
            .header(CONTENT_TYPE, "application/json")
            .body(body.to_string()),
    )
    .await
}

/// `tpp`'s own faults as `GET /sandbox/faults` lists them.
async fn own_faults(tpp: &Tpp) -> Vec<String> {
    let r = Resp::of(tpp.request(Method::GET, "/sandbox/faults")).await;
    r.expect(200);
    names(&r.json()["faults"])
}

fn names(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|n| n.as_str().expect("a name").to_string())
        .collect()
}

/// A request to an admin helper with the operator's credential.
fn admin(bank: &TestBank, method: Method, path: &str) -> reqwest::RequestBuilder {
    bank.request(method, path)
        .basic_auth(ADMIN.0, Some(ADMIN.1))
}

/// Three resource-updates for `tpp`, oldest first.
async fn three_events(bank: &TestBank, tpp: &Tpp) -> Vec<String> {
    let mut jtis = Vec::new();
    for i in 0..3 {
        jtis.push(
            bank.inject_update(&tpp.client_id, &format!("pay-{i}"))
                .await,
        );
    }
    jtis
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tpps_own_polling_faults_bend_its_polls_and_not_another_tpps() {
    let bank = TestBank::start(obie()).await;
    let (a, b) = (bank.subscribed_tpp().await, bank.subscribed_tpp().await);
    let r = choose(
        &a,
        &json!({"faults": ["more-available-always-false", "acked-redelivered"]}),
    )
    .await;
    r.expect(200).assert_json_type();
    let j = r.json();
    assert_eq!(j["clientId"], a.client_id.as_str());
    assert_eq!(
        names(&j["faults"]),
        ["acked-redelivered", "more-available-always-false"]
    );
    let available = names(&json!(
        j["available"]
            .as_array()
            .expect("available")
            .iter()
            .map(|f| f["name"].clone())
            .collect::<Vec<_>>()
    ));
    assert!(available.contains(&"acked-redelivered".to_string()));
    assert!(!available.contains(&"push-to-other-tpp".to_string()));
    assert!(!available.contains(&"wrong-error-code".to_string()));
    assert_eq!(own_faults(&b).await, Vec::<String>::new());

    let (ja, jb) = (three_events(&bank, &a).await, three_events(&bank, &b).await);
    // AP-12 lie for A only: one of three served, moreAvailable false.
    let first = json!({"returnImmediately": true, "maxEvents": 1});
    let pa = a.poll_ok(first.clone()).await;
    assert_eq!(
        (pa.keys(), pa.more_available),
        (vec![ja[0].as_str()], Some(false))
    );
    let pb = b.poll_ok(first).await;
    assert_eq!(
        (pb.keys(), pb.more_available),
        (vec![jb[0].as_str()], Some(true))
    );
    // AP-09 for A only: its acknowledged SET comes back; B's does not.
    let ack = |jti: &str| json!({"returnImmediately": true, "ack": [jti]});
    assert!(
        a.poll_ok(ack(&ja[0]))
            .await
            .keys()
            .contains(&ja[0].as_str())
    );
    assert!(
        !b.poll_ok(ack(&jb[0]))
            .await
            .keys()
            .contains(&jb[0].as_str())
    );

    // Cleared: A's polls conform again at once.
    let r = Resp::of(a.request(Method::DELETE, "/sandbox/faults")).await;
    r.expect(200);
    assert_eq!(r.json()["cleared"], 2);
    assert_eq!(own_faults(&a).await, Vec::<String>::new());
    let pa = a.poll_ok(ack(&ja[0])).await;
    assert!(!pa.keys().contains(&ja[0].as_str()), "{:?}", pa.keys());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tpps_own_set_fault_bends_only_its_sets() {
    let bank = TestBank::start(obie()).await;
    let (a, b) = (bank.subscribed_tpp().await, bank.subscribed_tpp().await);
    choose(&a, &json!({"faults": ["set-wrong-aud", "set-foreign-key"]}))
        .await
        .expect(200);
    let (ja, jb) = (
        bank.inject_update(&a.client_id, "pay-a").await,
        bank.inject_update(&b.client_id, "pay-b").await,
    );
    let jwks = bank.jwks().await;
    let set_a = jose::decode_compact(a.poll_now().await.token(&ja)).unwrap();
    let set_b = jose::decode_compact(b.poll_now().await.token(&jb)).unwrap();
    assert_ne!(set_a.payload_json().unwrap()["aud"], a.client_id.as_str());
    assert!(
        jose::verify(&set_a, &jwks).is_err(),
        "A's SET is signed with a foreign key"
    );
    assert_eq!(set_b.payload_json().unwrap()["aud"], b.client_id.as_str());
    jose::verify(&set_b, &jwks).expect("B's SET verifies with the published key");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tpps_own_push_fault_bends_only_its_deliveries() {
    let receiver = Receiver::start(&[]).await;
    let bank = TestBank::start(push_config(&[100])).await;
    let mut tpps = Vec::new();
    for _ in 0..2 {
        let t = bank.tpp().await;
        t.subscribe(json!({"Data": {"Version": "3.1", "CallbackUrl": receiver.url}}))
            .await;
        tpps.push(t);
    }
    let (a, b) = (&tpps[0], &tpps[1]);
    choose(a, &json!({"faults": ["push-json-content-type"]}))
        .await
        .expect(200);
    bank.inject_update(&a.client_id, "pay-a").await;
    bank.inject_update(&b.client_id, "pay-b").await;
    let got = receiver.wait_for(2).await;
    for r in &got {
        let set = jose::decode_compact(std::str::from_utf8(&r.body).unwrap()).unwrap();
        let aud = set.payload_json().unwrap()["aud"].clone();
        let content_type = r.headers[CONTENT_TYPE].to_str().unwrap();
        let expected = if aud == a.client_id.as_str() {
            "application/json"
        } else {
            assert_eq!(aud, b.client_id.as_str());
            "application/jwt"
        };
        assert_eq!(content_type, expected, "the push for {aud}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_choices_are_obie_errors_and_change_nothing() {
    let bank = TestBank::start(obie()).await;
    let tpp = bank.tpp().await;
    choose(&tpp, &json!({"faults": ["acked-redelivered"]}))
        .await
        .expect(200);
    choose(
        &tpp,
        &json!({"faults": ["acked-redelivered", "no-such-fault"]}),
    )
    .await
    .ob_error(400, "UK.OBIE.Field.Invalid", Some("faults[1]"));
    let r = choose(&tpp, &json!({"faults": ["push-to-other-tpp"]})).await;
    let body = r.ob_error(400, "UK.OBIE.Field.Invalid", Some("faults[0]"));
    assert!(body.to_string().contains("--fault"), "{body}");
    choose(&tpp, &json!({"faults": "acked-redelivered"}))
        .await
        .ob_error(400, "UK.OBIE.Field.Invalid", Some("faults"));
    choose(&tpp, &json!({}))
        .await
        .ob_error(400, "UK.OBIE.Field.Missing", Some("faults"));
    choose(&tpp, &json!({"faults": [], "clientId": "other"}))
        .await
        .ob_error(400, "UK.OBIE.Field.Unexpected", Some("clientId"));
    let many = vec!["acked-redelivered"; 500];
    choose(&tpp, &json!({ "faults": many })).await.ob_error(
        400,
        "UK.OBIE.Field.Invalid",
        Some("faults"),
    );
    assert_eq!(own_faults(&tpp).await, ["acked-redelivered"]);
    // A TPP's token is no admin credential, and the operator has its own endpoints.
    Resp::of(tpp.request(Method::GET, "/sandbox/admin/faults"))
        .await
        .ob_error(403, "GB.OBEvents.Forbidden.NotOwner", None);
    Resp::of(bank.request(Method::GET, "/sandbox/faults"))
        .await
        .assert_401();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_lists_and_clears_every_tpps_faults() {
    let bank = TestBank::start(obie()).await;
    let (a, b) = (bank.tpp().await, bank.tpp().await);
    choose(&a, &json!({"faults": ["empty-queue-404"]}))
        .await
        .expect(200);
    choose(
        &b,
        &json!({"faults": ["max-events-ignored", "push-no-backoff"]}),
    )
    .await
    .expect(200);
    let listed = || async {
        let r = Resp::of(admin(&bank, Method::GET, "/sandbox/admin/faults")).await;
        r.expect(200);
        let j = r.json();
        assert_eq!(j["more"], false);
        j["tpps"]
            .as_array()
            .expect("tpps")
            .iter()
            .map(|t| {
                (
                    t["clientId"].as_str().unwrap().to_string(),
                    names(&t["faults"]),
                )
            })
            .collect::<std::collections::BTreeMap<_, _>>()
    };
    let all = listed().await;
    assert_eq!(all.len(), 2);
    assert_eq!(all[&a.client_id], ["empty-queue-404"]);
    assert_eq!(all[&b.client_id], ["max-events-ignored", "push-no-backoff"]);

    let one = format!("/sandbox/admin/faults/{}", a.client_id);
    let r = Resp::of(admin(&bank, Method::DELETE, &one)).await;
    r.expect(200);
    assert_eq!(r.json()["cleared"], 1);
    assert_eq!(own_faults(&a).await, Vec::<String>::new());
    assert_eq!(listed().await.len(), 1);
    Resp::of(admin(&bank, Method::DELETE, "/sandbox/admin/faults/nobody"))
        .await
        .ob_error(400, "UK.OBIE.Resource.NotFound", None);
    let r = Resp::of(admin(&bank, Method::DELETE, "/sandbox/admin/faults")).await;
    r.expect(200);
    assert_eq!(r.json()["cleared"], 2);
    assert!(listed().await.is_empty());
    assert_eq!(own_faults(&b).await, Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tpps_choice_survives_a_restart() {
    let db = TestDb::new().await;
    let bank = TestBank::start_db(obie(), &db.path()).await;
    let tpp = bank.subscribed_tpp().await;
    choose(&tpp, &json!({"faults": ["more-available-omitted"]}))
        .await
        .expect(200);
    bank.stop().await;
    let bank = TestBank::start_db(obie(), &db.path()).await;
    let tpp = tpp.at(&bank.url);
    assert_eq!(own_faults(&tpp).await, ["more-available-omitted"]);
    bank.inject_update(&tpp.client_id, "pay-1").await;
    assert_eq!(tpp.poll_now().await.more_available, None);
    bank.stop().await;
}

/// The practice behaviours (no rule broken): chosen beside the faults, they throttle, slow
/// and reorder that TPP's polls only; an unknown one is refused naming `behaviours`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tpps_practice_behaviours_shape_its_polls_and_not_another_tpps() {
    let bank = TestBank::start(obie()).await;
    let (a, b) = (bank.subscribed_tpp().await, bank.subscribed_tpp().await);
    let r = choose(&a, &json!({"faults": [], "behaviours": ["nope"]})).await;
    r.expect(400).assert_json_type();
    assert_eq!(r.json()["Errors"][0]["Path"], "behaviours");
    let r = choose(
        &a,
        &json!({"faults": [], "behaviours": ["throttle-429", "sets-newest-first"]}),
    )
    .await;
    r.expect(200);
    let j = r.json();
    assert_eq!(
        names(&j["behaviours"]),
        ["throttle-429", "sets-newest-first"]
    );
    assert_eq!(j["availableBehaviours"].as_array().unwrap().len(), 3);
    assert_eq!(own_faults(&a).await, Vec::<String>::new());

    let (ja, jb) = (three_events(&bank, &a).await, three_events(&bank, &b).await);
    // Newest first for A (the same three SETs), in order for B.
    let now = json!({"returnImmediately": true});
    let pa = a.poll_ok(now.clone()).await;
    let mut newest_first: Vec<&str> = ja.iter().map(String::as_str).collect();
    newest_first.reverse();
    assert_eq!(pa.keys(), newest_first);
    // A second poll at once is throttled: 429, Retry-After, OBIE body; its ack is not applied.
    let r = a
        .poll(json!({"returnImmediately": true, "ack": [ja[0]]}))
        .await;
    r.expect(429).assert_json_type();
    assert_eq!(r.header("retry-after"), Some("1"));
    assert!(
        r.json()["Errors"][0]["Message"]
            .as_str()
            .unwrap()
            .contains("throttle-429")
    );
    // B polls as fast as it likes.
    assert_eq!(b.poll_ok(now.clone()).await.keys(), jb);
    assert_eq!(b.poll_ok(now.clone()).await.keys(), jb);
    // After Retry-After, A's poll goes through and its ack applies.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let pa = a
        .poll_ok(json!({"returnImmediately": true, "ack": [ja[0]]}))
        .await;
    assert!(!pa.keys().contains(&ja[0].as_str()), "{:?}", pa.keys());

    // slow-polls: A's answer comes 2 s late (a lower bound, not a speed target).
    choose(&a, &json!({"faults": [], "behaviours": ["slow-polls"]}))
        .await
        .expect(200);
    let started = std::time::Instant::now();
    a.poll_ok(now.clone()).await;
    assert!(started.elapsed() >= std::time::Duration::from_millis(1900));
    // The operator's list shows behaviours beside faults; clearing clears both.
    let r = Resp::of(admin(&bank, Method::GET, "/sandbox/admin/faults")).await;
    r.expect(200);
    let mine = r.json()["tpps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["clientId"] == a.client_id.as_str())
        .cloned()
        .expect("A is listed");
    assert_eq!(names(&mine["behaviours"]), ["slow-polls"]);
    let r = Resp::of(a.request(Method::DELETE, "/sandbox/faults")).await;
    assert_eq!(r.json()["cleared"], 1);
    let r = Resp::of(a.request(Method::GET, "/sandbox/faults")).await;
    assert_eq!(names(&r.json()["behaviours"]), Vec::<String>::new());
}
