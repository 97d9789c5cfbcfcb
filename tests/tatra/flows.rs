//! The clean tatra bank: settings, consents, transaction and account events, retries, silence.

use std::time::{Duration, Instant};

use obevents::sandbox::Sandbox;
use obevents::sandbox::config::SeedClient;
use obevents::sandbox::config::TatraWebhookFile;
use reqwest::Method;
use serde_json::{Value, json};

use crate::common::*;
use crate::helpers::*;

const HOUR_MS: i64 = 3_600_000;

fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

fn parse_ms(v: &Value) -> i64 {
    let t = time::OffsetDateTime::parse(
        v.as_str().expect("an RFC 3339 time"),
        &time::format_description::well_known::Rfc3339,
    )
    .expect("RFC 3339");
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tb01_tb02_settings_are_validated_in_the_banks_error_shape() {
    let bank = tatra_bank(&[]).await;
    let tpp = bank.tpp().await;
    let path = format!("{V1}/webhook-settings");
    let r = get(&bank, &tpp, &path).await;
    r.expect(200);
    assert_eq!(
        r.json(),
        json!({"enabled": false, "url": null, "securityHeader": "", "activeFrom": null, "active": false})
    );
    assert_error(
        &Resp::of(bank.request(Method::GET, &path)).await,
        401,
        "UNAUTHORIZED",
    );
    let wrong = bank
        .request(Method::GET, &path)
        .basic_auth(&tpp.client_id, Some("wrong"));
    assert_error(&Resp::of(wrong).await, 401, "UNAUTHORIZED");
    for url in [
        "https://tpp.example/hook?a=1",
        "https://tpp.example/hook?",
        "https://tpp.example/hook#f",
        "https://user:pw@tpp.example/hook",
        "/hook",
        "ftp://tpp.example/hook",
        "http://tpp.example/hook",
    ] {
        let r = put_settings(&bank, &tpp, json!({"enabled": true, "url": url})).await;
        assert_error(&r, 400, "INVALID_WEBHOOK_URL");
    }
    let long = format!("https://tpp.example/{}", "a".repeat(2048));
    let r = put_settings(&bank, &tpp, json!({"enabled": true, "url": long})).await;
    assert_error(&r, 400, "INVALID_WEBHOOK_URL");
    for header in ["Bearer a.b", "Basic x\ty", "ünïcode", &"a".repeat(1025)] {
        let r = put_settings(
            &bank,
            &tpp,
            json!({"enabled": true, "url": "https://tpp.example/hook", "securityHeader": header}),
        )
        .await;
        assert_error(&r, 400, "INVALID_SECURITY_HEADER");
    }
    for bad in [
        json!({"url": "https://tpp.example/hook"}),
        json!({"enabled": true}),
        json!({"enabled": "yes", "url": "https://tpp.example/hook"}),
        json!([1]),
    ] {
        assert_error(
            &put_settings(&bank, &tpp, bad).await,
            400,
            "INVALID_REQUEST",
        );
    }
    let raw = basic(&bank, &tpp, Method::PUT, &path).body("{not json");
    assert_error(&Resp::of(raw).await, 400, "INVALID_REQUEST");
    let huge = basic(&bank, &tpp, Method::PUT, &path).body(vec![b' '; 200_000]);
    assert_error(&Resp::of(huge).await, 400, "INVALID_REQUEST");
    // Nothing was stored by the refusals.
    assert_eq!(get(&bank, &tpp, &path).await.json()["enabled"], false);
    bank.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tb04_activation_is_the_next_full_hour_unless_activated() {
    let bank = tatra_bank(&[]).await;
    let tpp = bank.tpp().await;
    assert_error(&activate(&bank, &tpp).await, 409, "WEBHOOK_NOT_ENABLED");
    let before = now_ms();
    let body =
        json!({"enabled": true, "url": "https://tpp.example/hook", "securityHeader": HEADER});
    let r = put_settings(&bank, &tpp, body.clone()).await;
    let after = now_ms();
    r.expect(200);
    let v = r.json();
    let from = parse_ms(&v["activeFrom"]);
    assert_eq!(from % HOUR_MS, 0, "{v}");
    assert!(
        from > before && from <= after - after % HOUR_MS + HOUR_MS,
        "{v}"
    );
    assert_eq!(v["active"], false);
    assert_eq!(v["securityHeader"], HEADER);
    // Re-PUT while enabled keeps activeFrom.
    let again = put_settings(&bank, &tpp, body).await.json();
    assert_eq!(again["activeFrom"], v["activeFrom"]);
    let now = activate(&bank, &tpp).await;
    now.expect(200);
    assert_eq!(now.json()["active"], true);
    assert!(parse_ms(&now.json()["activeFrom"]) <= now_ms());
    // Disabling clears activeFrom and keeps the url and the header (members left out keep
    // their values); enabling again restarts the clock.
    let off = put_settings(&bank, &tpp, json!({"enabled": false}))
        .await
        .json();
    assert_eq!(off["activeFrom"], Value::Null);
    assert_eq!(off["url"], "https://tpp.example/hook");
    assert_eq!(off["securityHeader"], HEADER);
    let on = put_settings(&bank, &tpp, json!({"enabled": true}))
        .await
        .json();
    assert_eq!(on["url"], "https://tpp.example/hook");
    assert_eq!(on["securityHeader"], HEADER, "re-enabling keeps the header");
    assert_eq!(parse_ms(&on["activeFrom"]) % HOUR_MS, 0);
    assert_eq!(on["active"], false);
    bank.stop().await;

    let bank = immediate_bank().await;
    let tpp = bank.tpp().await;
    let v = put_settings(
        &bank,
        &tpp,
        json!({"enabled": true, "url": "https://tpp.example/h"}),
    )
    .await
    .json();
    assert_eq!(v["active"], true, "{v}");
    assert!(parse_ms(&v["activeFrom"]) <= now_ms());
    bank.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consents_belong_to_their_application() {
    let bank = tatra_bank(&[]).await;
    let (a, b) = (bank.tpp().await, bank.tpp().await);
    let c = consent(&bank, &a, None).await;
    assert_eq!(c["consentStatus"], "VALID");
    let banks: Vec<&str> = c["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["bankCode"].as_str().unwrap())
        .collect();
    assert_eq!(banks, ["TATR", "TATR", "SLSP", "SUBA", "SUBA"]);
    assert_eq!(c["accounts"][2]["bankName"], "Slovenská sporiteľňa");
    assert!(c["accounts"][0]["iban"].as_str().unwrap().starts_with("SK"));
    let one = consent(&bank, &a, Some(&["CEKO"])).await;
    assert_eq!(
        one["accounts"][0]["bankName"],
        "Československá obchodná banka"
    );
    let path = format!("{V1}/consents/{}", id(&c, "consentId"));
    let r = get(&bank, &a, &path).await;
    r.expect(200);
    assert_eq!(r.json(), c);
    assert_error(&get(&bank, &b, &path).await, 404, "CONSENT_NOT_FOUND");
    assert_error(
        &get(&bank, &a, &format!("{V1}/consents/nope")).await,
        404,
        "CONSENT_NOT_FOUND",
    );
    let create = |body: Value| {
        basic(&bank, &a, Method::POST, &format!("{V1}/consents"))
            .header("X-Request-ID", "r")
            .json(&body)
    };
    for bad in [
        json!({"accounts": [{"bankCode": "XXXX"}]}),
        json!({"accounts": []}),
        json!({"accounts": vec![json!({"bankCode": "TATR"}); 21]}),
        json!({"accounts": [{}]}),
    ] {
        assert_error(&Resp::of(create(bad)).await, 400, "INVALID_REQUEST");
    }
    let no_id = basic(&bank, &a, Method::POST, &format!("{V1}/consents"));
    assert_error(&Resp::of(no_id).await, 400, "INVALID_REQUEST");
    let echoed = Resp::of(create(json!({}))).await;
    echoed.expect(201);
    assert_eq!(echoed.header("x-request-id"), Some("r"));
    let del = |t: &Tpp| basic(&bank, t, Method::DELETE, &path);
    assert_error(&Resp::of(del(&b)).await, 404, "CONSENT_NOT_FOUND");
    Resp::of(del(&a)).await.expect(204);
    assert_error(&get(&bank, &a, &path).await, 404, "CONSENT_NOT_FOUND");
    assert_error(&Resp::of(del(&a)).await, 404, "CONSENT_NOT_FOUND");
    bank.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tb03_tb06_a_transaction_event_with_the_security_header_exactly() {
    let (bank, tpp, receiver, c) = ready(&[], &[]).await;
    let consent_id = id(&c, "consentId");
    let tatr = account_ids(&c, "TATR");
    let r = transaction(&bank, &tpp, json!({"consentId": consent_id})).await;
    r.expect(202);
    assert!(r.json()["delivery"].is_string(), "{}", r.json());
    assert_eq!(r.json()["dropped"], Value::Null);
    let got = receiver.wait_for(1).await;
    assert_eq!(got[0].method, "POST");
    assert_eq!(got[0].headers["content-type"], "application/json");
    assert_eq!(
        got[0].headers["authorization"].as_bytes(),
        HEADER.as_bytes()
    );
    let accounts: Vec<Value> = tatr.iter().map(|a| json!({"accountId": a})).collect();
    assert_eq!(
        body(&got[0]),
        json!({"transactionEvent": {"consentId": consent_id, "eventType": "NEW", "accounts": accounts}})
    );
    // An empty security header (`""` clears it): no Authorization at all.
    put_settings(
        &bank,
        &tpp,
        json!({"enabled": true, "url": receiver.url, "securityHeader": ""}),
    )
    .await
    .expect(200);
    let one = json!({"consentId": consent_id, "accountIds": [tatr[1]]});
    transaction(&bank, &tpp, one).await.expect(202);
    let got = receiver.wait_for(2).await;
    assert!(got[1].headers.get("authorization").is_none());
    assert_eq!(
        body(&got[1])["transactionEvent"]["accounts"],
        json!([{"accountId": tatr[1]}])
    );
    // Only Tatra banka accounts of the consent; only the owner's consent.
    let slsp = account_ids(&c, "SLSP");
    let r = transaction(
        &bank,
        &tpp,
        json!({"consentId": consent_id, "accountIds": slsp}),
    )
    .await;
    assert_error(&r, 400, "INVALID_REQUEST");
    let other = bank.tpp().await;
    let r = transaction(&bank, &other, json!({"consentId": consent_id})).await;
    assert_error(&r, 404, "CONSENT_NOT_FOUND");
    assert_error(
        &transaction(&bank, &tpp, json!({})).await,
        400,
        "INVALID_REQUEST",
    );
    assert_eq!(count_after(&receiver, DELAY).await, 2);
    bank.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tb07_tb08_tb09_one_account_event_per_other_bank_with_the_task_id() {
    let (bank, tpp, receiver, c) = ready(&[], &[]).await;
    let consent_id = id(&c, "consentId");
    let started = Instant::now();
    let r = refresh(&bank, &tpp, &consent_id).await;
    r.expect(202);
    assert!(
        started.elapsed() < DELAY,
        "the refresh answered after the first bank"
    );
    let task_id = id(&r.json(), "taskId");
    let task = get(&bank, &tpp, &format!("{V1}/refresh/{task_id}"))
        .await
        .json();
    assert_eq!(task["taskStatus"], "IN_PROGRESS", "{task}");
    assert_eq!(task["consentId"], consent_id.as_str());
    let got = receiver.wait_for(2).await;
    let events: Vec<Value> = got
        .iter()
        .map(|g| body(g)["accountEvent"].clone())
        .collect();
    let slsp = account_ids(&c, "SLSP");
    let suba = account_ids(&c, "SUBA");
    assert_eq!(
        events[0],
        json!({"consentId": consent_id, "taskId": task_id, "taskStatus": "FINISHED",
               "bankCode": "SLSP", "bankName": "Slovenská sporiteľňa",
               "accounts": [{"accountId": slsp[0], "eventType": "ADDED"}]})
    );
    assert_eq!(events[1]["bankCode"], "SUBA");
    assert_eq!(events[1]["bankName"], "Všeobecná úverová banka");
    assert_eq!(events[1]["taskId"], task_id.as_str());
    let ids: Vec<&Value> = events[1]["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| &a["accountId"])
        .collect();
    assert_eq!(ids, [&json!(suba[0]), &json!(suba[1])]);
    // The banks finish one after another, the first after one delay.
    assert!(
        got[1].at - got[0].at >= DELAY / 2,
        "{:?}",
        got[1].at - got[0].at
    );
    assert_eq!(
        got[0].headers["authorization"].as_bytes(),
        HEADER.as_bytes()
    );
    let task = get(&bank, &tpp, &format!("{V1}/refresh/{task_id}"))
        .await
        .json();
    assert_eq!(task["taskStatus"], "FINISHED");
    assert_eq!(
        task["banks"][0],
        json!({"bankCode": "SLSP", "bankName": "Slovenská sporiteľňa", "taskStatus": "FINISHED"})
    );
    assert_eq!(count_after(&receiver, DELAY).await, 2);
    // A second refresh: the accounts were seen before.
    refresh(&bank, &tpp, &consent_id).await.expect(202);
    let got = receiver.wait_for(4).await;
    assert_eq!(
        body(&got[2])["accountEvent"]["accounts"][0]["eventType"],
        "UPDATED"
    );
    bank.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tb12_refresh_of_a_foreign_unknown_or_home_only_consent_is_refused() {
    let (bank, tpp, receiver, c) = ready(&[], &[]).await;
    let other = bank.tpp().await;
    let consent_id = id(&c, "consentId");
    assert_error(
        &refresh(&bank, &other, &consent_id).await,
        404,
        "CONSENT_NOT_FOUND",
    );
    assert_error(
        &refresh(&bank, &tpp, "nope").await,
        404,
        "CONSENT_NOT_FOUND",
    );
    let home = consent(&bank, &tpp, Some(&["TATR"])).await;
    let r = refresh(&bank, &tpp, &id(&home, "consentId")).await;
    assert_error(&r, 400, "NOTHING_TO_REFRESH");
    let task_id = id(&refresh(&bank, &tpp, &consent_id).await.json(), "taskId");
    let r = get(&bank, &other, &format!("{V1}/refresh/{task_id}")).await;
    assert_error(&r, 404, "TASK_NOT_FOUND");
    assert_error(
        &get(&bank, &tpp, &format!("{V1}/refresh/nope")).await,
        404,
        "TASK_NOT_FOUND",
    );
    // A deleted consent is unknown, and its pending accountEvents stop.
    let path = format!("{V1}/consents/{consent_id}");
    Resp::of(basic(&bank, &tpp, Method::DELETE, &path))
        .await
        .expect(204);
    assert_error(
        &refresh(&bank, &tpp, &consent_id).await,
        404,
        "CONSENT_NOT_FOUND",
    );
    assert_eq!(count_after(&receiver, DELAY * 4).await, 0);
    bank.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tb11_a_503_is_retried_with_the_same_body() {
    let (bank, tpp, receiver, c) = ready(&[], &[503]).await;
    transaction(&bank, &tpp, json!({"consentId": id(&c, "consentId")}))
        .await
        .expect(202);
    let got = receiver.wait_for(2).await;
    assert_eq!(got[0].body, got[1].body);
    assert_eq!(
        got[1].headers["authorization"].as_bytes(),
        HEADER.as_bytes()
    );
    assert_eq!(count_after(&receiver, Duration::from_millis(300)).await, 2);
    bank.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tb05_disabled_means_silence_and_cancels_what_is_pending() {
    let receiver = Receiver::start(&[503]).await;
    let bank = TestBank::start(tatra_config(&[], &[400])).await;
    let tpp = bank.tpp().await;
    enable(&bank, &tpp, &receiver.url, HEADER).await;
    let c = consent(&bank, &tpp, None).await;
    let consent_id = id(&c, "consentId");
    transaction(&bank, &tpp, json!({"consentId": consent_id}))
        .await
        .expect(202);
    receiver.wait_for(1).await;
    put_settings(&bank, &tpp, json!({"enabled": false}))
        .await
        .expect(200);
    let r = transaction(&bank, &tpp, json!({"consentId": consent_id})).await;
    r.expect(202);
    assert_eq!(r.json()["delivery"], Value::Null);
    assert_eq!(r.json()["dropped"], "webhooks disabled");
    refresh(&bank, &tpp, &consent_id).await.expect(202);
    // Neither the retry of the first event nor anything raised since arrives.
    assert_eq!(count_after(&receiver, Duration::from_millis(800)).await, 1);
    bank.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tb04_events_before_activation_are_dropped_not_held() {
    let receiver = Receiver::start(&[]).await;
    let bank = tatra_bank(&[]).await;
    let tpp = bank.tpp().await;
    put_settings(&bank, &tpp, json!({"enabled": true, "url": receiver.url}))
        .await
        .expect(200);
    let c = consent(&bank, &tpp, None).await;
    let consent_id = id(&c, "consentId");
    let r = transaction(&bank, &tpp, json!({"consentId": consent_id})).await;
    r.expect(202);
    let dropped = r.json()["dropped"].as_str().unwrap_or_default().to_string();
    assert!(
        dropped.starts_with("webhooks not active until "),
        "{dropped}"
    );
    refresh(&bank, &tpp, &consent_id).await.expect(202);
    assert_eq!(count_after(&receiver, DELAY * 3).await, 0);
    activate(&bank, &tpp).await.expect(200);
    assert_eq!(
        count_after(&receiver, DELAY).await,
        0,
        "a dropped event arrived later"
    );
    transaction(&bank, &tpp, json!({"consentId": consent_id}))
        .await
        .expect(202);
    assert_eq!(receiver.wait_for(1).await.len(), 1);
    bank.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_url_takes_pending_deliveries_along() {
    let (first, second) = (Receiver::start(&[503]).await, Receiver::start(&[]).await);
    let bank = TestBank::start(tatra_config(&[], &[400])).await;
    let tpp = bank.tpp().await;
    enable(&bank, &tpp, &first.url, HEADER).await;
    let c = consent(&bank, &tpp, None).await;
    transaction(&bank, &tpp, json!({"consentId": id(&c, "consentId")}))
        .await
        .expect(202);
    first.wait_for(1).await;
    let body = json!({"enabled": true, "url": second.url, "securityHeader": "New 1"});
    put_settings(&bank, &tpp, body).await.expect(200);
    let got = second.wait_for(1).await;
    // The Authorization of the settings in force when the attempt is made.
    assert_eq!(got[0].headers["authorization"], "New 1");
    assert_eq!(first.received().len(), 1);
    bank.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dialect_errors_for_unknown_paths_and_methods_with_the_request_id() {
    let bank = tatra_bank(&[]).await;
    let tpp = bank.tpp().await;
    let r = Resp::of(
        basic(&bank, &tpp, Method::GET, &format!("{V1}/nothing")).header("X-Request-ID", "x-1"),
    )
    .await;
    assert_error(&r, 404, "NOT_FOUND");
    assert_eq!(r.header("x-request-id"), Some("x-1"));
    let r = Resp::of(basic(
        &bank,
        &tpp,
        Method::DELETE,
        &format!("{V1}/webhook-settings"),
    ))
    .await;
    assert_error(&r, 405, "METHOD_NOT_ALLOWED");
    let r = Resp::of(basic(
        &bank,
        &tpp,
        Method::GET,
        "/sandbox/tatra/transactions",
    ))
    .await;
    assert_error(&r, 405, "METHOD_NOT_ALLOWED");
    // The OBIE API is still served by the tatra personality.
    bank.tpp().await;
    bank.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configured_clients_have_active_webhooks_and_bad_ones_stop_the_start() {
    let seed = |url: &str| SeedClient {
        client_id: "fixed".into(),
        client_secret: "fixed-secret".into(),
        client_name: "fixed".into(),
        scopes: vec!["accounts".into()],
        jwks: None,
        tatra_webhook: Some(TatraWebhookFile {
            enabled: true,
            url: Some(url.into()),
            security_header: Some(HEADER.into()),
        }),
    };
    let mut cfg = tatra_config(&[], &[50]);
    cfg.clients.push(seed("https://tpp.example/hook"));
    let bank = TestBank::start(cfg).await;
    let r = Resp::of(
        bank.request(Method::GET, &format!("{V1}/webhook-settings"))
            .basic_auth("fixed", Some("fixed-secret")),
    )
    .await;
    r.expect(200);
    assert_eq!(r.json()["active"], true, "{}", r.json());
    assert_eq!(r.json()["securityHeader"], HEADER);
    bank.stop().await;

    let mut cfg = tatra_config(&[], &[50]);
    cfg.clients.push(seed("https://tpp.example/hook?x=1"));
    let started = tokio::time::timeout(
        LIMIT,
        Sandbox::start(cfg, ":memory:", "127.0.0.1:0".parse().unwrap()),
    )
    .await
    .expect("start timed out");
    let err = started
        .err()
        .expect("a query in tatra_webhook.url stops the start");
    assert!(err.to_string().contains("tatra_webhook"), "{err}");
}

/// A bad `tatra_webhook` in the config stops `obevents sandbox` with one line and exit 2,
/// before the database is created.
#[test]
fn a_bad_configured_webhook_stops_the_binary_with_one_line_and_no_database() {
    let dir = std::env::temp_dir().join(format!("obevents-tatra-cfg-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("sandbox.toml");
    std::fs::write(
        &config,
        "bank = \"tatra\"\n[[clients]]\nclient_id = \"fixed\"\nclient_secret = \"s\"\n\
         tatra_webhook = { enabled = true, url = \"https://tpp.example/hook?x=1\" }\n",
    )
    .unwrap();
    let db = dir.join("sandbox.db");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_obevents"))
        .args(["sandbox", "--addr", "127.0.0.1:0", "--config"])
        .arg(&config)
        .arg("--db")
        .arg(&db)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(lines[0].contains("tatra_webhook"), "{stderr}");
    assert!(!db.exists(), "the database was created before the error");
    let _ = std::fs::remove_dir_all(&dir);
}
