//! Bad input to every Tatra endpoint that reads a body: always a 400 `INVALID_REQUEST` in the
//! dialect's shape, never a 5xx, and the sandbox still answers afterwards.

use reqwest::Method;

use crate::common::*;
use crate::helpers::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_bodies_are_invalid_requests() {
    let bank = tatra_bank(&[]).await;
    let tpp = bank.tpp().await;
    let nested = format!("{}{}", "[".repeat(5_000), "]".repeat(5_000));
    let bodies: Vec<Vec<u8>> = vec![
        b"{".to_vec(),
        b"[]".to_vec(),
        b"null".to_vec(),
        b"123".to_vec(),
        b"\"text\"".to_vec(),
        vec![0xff, 0xfe, b'{', b'}'],
        nested.into_bytes(),
        br#"{"enabled": true, "url": 7, "accounts": 7, "consentId": 7}"#.to_vec(),
        br#"{"accounts": "TATR", "consentId": ["x"], "enabled": null}"#.to_vec(),
        br#"{"accounts": [{"bankCode": 1}], "consentId": 1, "accountIds": "a"}"#.to_vec(),
    ];
    let endpoints = [
        (Method::PUT, format!("{V1}/webhook-settings")),
        (Method::POST, format!("{V1}/consents")),
        (Method::POST, "/sandbox/tatra/transactions".to_string()),
    ];
    for (method, path) in &endpoints {
        for body in &bodies {
            let rb = basic(&bank, &tpp, method.clone(), path)
                .header("X-Request-ID", "m")
                .header("content-type", "application/json")
                .body(body.clone());
            let r = Resp::of(rb).await;
            assert_eq!(
                r.status,
                400,
                "{method} {path} {:?}: {}",
                String::from_utf8_lossy(body),
                r.text()
            );
            assert_error(&r, 400, "INVALID_REQUEST");
        }
    }
    // A missing body is refused where one is required.
    for path in [
        format!("{V1}/webhook-settings"),
        "/sandbox/tatra/transactions".into(),
    ] {
        let method = if path.ends_with("settings") {
            Method::PUT
        } else {
            Method::POST
        };
        let r = Resp::of(basic(&bank, &tpp, method, &path)).await;
        assert_error(&r, 400, "INVALID_REQUEST");
    }
    get(&bank, &tpp, &format!("{V1}/webhook-settings"))
        .await
        .expect(200);
    bank.stop().await;
}

/// Hostile webhook URLs (the Tatra API also took `https://@host`, backslashes and
/// `https:///hook`) are refused with INVALID_WEBHOOK_URL; a good one is stored as sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_webhook_urls_are_refused_and_good_ones_stored_as_sent() {
    let bank = tatra_bank(&[]).await;
    let tpp = bank.tpp().await;
    for bad in HOSTILE_URLS {
        let r = put_settings(
            &bank,
            &tpp,
            serde_json::json!({"enabled": true, "url": bad}),
        )
        .await;
        assert_error(&r, 400, "INVALID_WEBHOOK_URL");
    }
    let good = "https://tpp.example/hooks/tatra";
    put_settings(
        &bank,
        &tpp,
        serde_json::json!({"enabled": true, "url": good}),
    )
    .await
    .expect(200);
    let r = get(&bank, &tpp, &format!("{V1}/webhook-settings")).await;
    assert_eq!(r.json()["url"], good, "{}", r.text());
    bank.stop().await;
}

/// Invalid UTF-8 is malformed wherever it is: in a path id, and inside a JSON member the API
/// ignores — both a 400 `INVALID_REQUEST` in the dialect's shape.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_utf8_in_a_path_id_or_an_ignored_member_is_invalid() {
    let bank = tatra_bank(&[]).await;
    let tpp = bank.tpp().await;
    let r = get(&bank, &tpp, &format!("{V1}/consents/%FF%FE")).await;
    assert_error(&r, 400, "INVALID_REQUEST");
    let mut body = br#"{"enabled": false, "ignored": ""#.to_vec();
    body.extend_from_slice(&[0xff, 0xfe]);
    body.extend_from_slice(br#""}"#);
    let r = Resp::of(
        basic(&bank, &tpp, Method::PUT, &format!("{V1}/webhook-settings"))
            .header("content-type", "application/json")
            .body(body),
    )
    .await;
    assert_error(&r, 400, "INVALID_REQUEST");
    bank.stop().await;
}
