//! A sandbox shared by many TPPs: the `/sandbox/*` helpers act on a TPP only with that TPP's
//! token or the operator's admin credential, unknown and foreign client ids get the same answer,
//! there is no default admin password, failed client authentication is rate-limited, and a
//! `[[clients]]` entry removed from the config stops working after a restart.

use reqwest::Method;
use serde_json::{Value, json};

use super::common::*;

fn inject_body(client_id: Option<&str>) -> Value {
    let mut b = json!({"eventType": "resource-update", "resourceId": "p1", "resourceType": "domestic-payment"});
    if let Some(id) = client_id {
        b["clientId"] = json!(id);
    }
    b
}

async fn post_as(bank: &TestBank, path: &str, body: &Value, auth: Option<&Tpp>) -> Resp {
    let mut rb = bank
        .request(Method::POST, path)
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(t) = auth {
        rb = rb.bearer_auth(&t.token);
    }
    Resp::of(rb).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helpers_need_the_tpps_own_token_or_the_admin_credential() {
    let bank = TestBank::start(obie()).await;
    let a = bank.subscribed_tpp().await;
    let b = bank.subscribed_tpp().await;
    // No credentials: 401 everywhere.
    post_as(
        &bank,
        "/sandbox/events",
        &inject_body(Some(&a.client_id)),
        None,
    )
    .await
    .assert_401();
    post_as(
        &bank,
        "/sandbox/reset",
        &json!({"clientId": a.client_id}),
        None,
    )
    .await
    .assert_401();
    let list = format!("/sandbox/events?clientId={}", a.client_id);
    Resp::of(bank.request(Method::GET, &list))
        .await
        .assert_401();
    Resp::of(bank.request(Method::GET, "/sandbox/deliveries"))
        .await
        .assert_401();
    // B's token on A, and on an id that does not exist: the same 403.
    let foreign = post_as(
        &bank,
        "/sandbox/events",
        &inject_body(Some(&a.client_id)),
        Some(&b),
    )
    .await;
    let unknown = post_as(
        &bank,
        "/sandbox/events",
        &inject_body(Some("no-such-client")),
        Some(&b),
    )
    .await;
    let item = foreign.ob_error(403, "GB.OBEvents.Forbidden.NotOwner", Some("clientId"));
    assert_eq!(
        unknown.ob_error(403, "GB.OBEvents.Forbidden.NotOwner", Some("clientId")),
        item
    );
    post_as(
        &bank,
        "/sandbox/reset",
        &json!({"clientId": a.client_id}),
        Some(&b),
    )
    .await
    .ob_error(403, "GB.OBEvents.Forbidden.NotOwner", Some("clientId"));
    Resp::of(b.request(Method::GET, &list)).await.expect(403);
    // A's own token: clientId may be left out.
    let r = post_as(&bank, "/sandbox/events", &inject_body(None), Some(&a)).await;
    r.expect(201);
    assert_eq!(a.poll_now().await.sets.len(), 1);
    Resp::of(a.request(Method::GET, "/sandbox/events"))
        .await
        .expect(200);
    // The operator acts on anyone; a wrong password is a 401.
    let admin = |rb: reqwest::RequestBuilder, pw: &str| rb.basic_auth(ADMIN.0, Some(pw));
    let r = Resp::of(admin(bank.request(Method::GET, &list), ADMIN.1)).await;
    r.expect(200);
    assert_eq!(r.json()["events"].as_array().map(Vec::len), Some(1));
    Resp::of(admin(bank.request(Method::GET, &list), "wrong"))
        .await
        .assert_401_basic();
    let r = Resp::of(admin(
        bank.request(Method::POST, "/sandbox/reset")
            .header("content-type", "application/json")
            .body(json!({"clientId": b.client_id}).to_string()),
        ADMIN.1,
    ))
    .await;
    r.expect(200);
    bank.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_client_authentication_is_rate_limited_per_client_id() {
    let bank = TestBank::start(obie()).await;
    let a = bank.tpp().await;
    for _ in 0..10 {
        let r = bank
            .token_basic(
                &a.client_id,
                "wrong",
                &[("grant_type", "client_credentials")],
            )
            .await;
        r.expect(401);
    }
    let r = bank
        .token_basic(
            &a.client_id,
            "wrong",
            &[("grant_type", "client_credentials")],
        )
        .await;
    r.expect(429);
    assert_eq!(r.json()["error"], "temporarily_unavailable");
    let retry: u64 = r
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .expect("seconds");
    assert!((1..=60).contains(&retry), "{retry}");
    // Locked out even with the right secret until the window ends; other clients are not.
    let r = bank
        .token_basic(
            &a.client_id,
            &a.client_secret,
            &[("grant_type", "client_credentials")],
        )
        .await;
    r.expect(429);
    let b = bank.tpp().await;
    bank.token(&b.client_id, &b.client_secret, None).await;
    bank.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_default_admin_password_the_generated_one_is_printed_once() {
    let db = TestDb::new().await;
    let (child, url, lines) = spawn_sandbox_lines(&db.path(), &[]).await;
    let printed: Vec<_> = lines
        .iter()
        .filter(|l| l.contains("admin credential"))
        .collect();
    assert_eq!(printed.len(), 1, "{lines:?}");
    let credential = printed[0]
        .rsplit(' ')
        .next()
        .expect("user:password")
        .to_string();
    let (user, password) = credential.split_once(':').expect("user:password");
    assert_ne!(password, "admin");
    let bank = TestBank::at(&url);
    let a = bank.tpp().await;
    let list = format!("/sandbox/events?clientId={}", a.client_id);
    let as_admin = |pw: &str| bank.request(Method::GET, &list).basic_auth(user, Some(pw));
    Resp::of(as_admin("admin")).await.assert_401_basic();
    Resp::of(as_admin(password)).await.expect(200);
    sigkill(child).await;
    // A restart keeps the credential and does not print it again.
    let (child, url, lines) = spawn_sandbox_lines(&db.path(), &[]).await;
    assert!(
        !lines.iter().any(|l| l.contains("admin credential")),
        "{lines:?}"
    );
    let again = TestBank::at(&url);
    let r = Resp::of(
        again
            .request(Method::GET, &list)
            .basic_auth(user, Some(password)),
    )
    .await;
    r.expect(200);
    sigkill(child).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clients_entry_removed_from_the_config_stops_working_after_a_restart() {
    let db = TestDb::new().await;
    let dir = std::env::temp_dir();
    let with = dir.join(format!("obevents-with-{}.toml", uuid::Uuid::new_v4()));
    let without = dir.join(format!("obevents-without-{}.toml", uuid::Uuid::new_v4()));
    std::fs::write(
        &with,
        "[[clients]]\nclient_id = \"ci-tpp\"\nclient_secret = \"ci-secret\"\n",
    )
    .expect("config");
    std::fs::write(&without, "long_poll_timeout_ms = 500\n").expect("config");
    let arg = |p: &std::path::Path| p.to_string_lossy().to_string();
    let (child, url) = spawn_sandbox_with(&db.path(), &["--config", &arg(&with)]).await;
    let bank = TestBank::at(&url);
    let token = bank.token("ci-tpp", "ci-secret", None).await;
    let tpp = Tpp {
        client_id: "ci-tpp".into(),
        client_secret: "ci-secret".into(),
        token,
        url: url.clone(),
        http: bank.http.clone(),
    };
    tpp.get("/event-subscriptions").await.expect(200);
    sigkill(child).await;
    let (child, url) = spawn_sandbox_with(&db.path(), &["--config", &arg(&without)]).await;
    let bank = TestBank::at(&url);
    bank.token_basic(
        "ci-tpp",
        "ci-secret",
        &[("grant_type", "client_credentials")],
    )
    .await
    .expect(401);
    tpp.at(&url).get("/event-subscriptions").await.assert_401();
    sigkill(child).await;
    let _ = std::fs::remove_file(&with);
    let _ = std::fs::remove_file(&without);
}

/// The admin credential has its own failure budget: wrong passwords get a Basic challenge (not
/// a Bearer one) until the budget is spent, then 429 with `Retry-After` even for the right one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_admin_passwords_are_challenged_then_locked_out() {
    let bank = TestBank::start(obie()).await;
    let list = |password: &str| {
        bank.request(Method::GET, "/sandbox/events?clientId=x")
            .basic_auth(ADMIN.0, Some(password))
    };
    for _ in 0..10 {
        let r = Resp::of(list("wrong")).await;
        r.expect(401);
        let challenge = r.header("www-authenticate").unwrap_or_default();
        assert!(challenge.starts_with("Basic"), "{challenge}");
    }
    let r = Resp::of(list(ADMIN.1)).await;
    r.expect(429);
    let retry: u64 = r
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    assert_eq!(
        r.json()["Errors"][0]["ErrorCode"],
        "GB.OBEvents.TooManyRequests"
    );
    // TPPs with their own tokens are not affected.
    let tpp = bank.tpp().await;
    Resp::of(tpp.request(Method::GET, "/sandbox/events"))
        .await
        .expect(200);
    bank.stop().await;
}
