//! The portal over plain HTTP: who may sign in (the `/token` lockout shared), what a session
//! cookie looks like, that every state change needs the session's CSRF token, that a TPP
//! reaches nothing of another TPP's by editing ids, that hostile values are escaped, that the
//! live stream announces changes, and that each form acts through the API's own operations.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use crate::common::{self, LIMIT, Resp, TestBank, push_config};
use crate::receiver::Receiver;
use crate::web::{Portal, tpp_portal, wait_page};
use obevents::sandbox::Bank;

/// A receiver that answers every push 503 with a body full of markup: its excerpt is shown on
/// the deliveries page.
pub const HOSTILE_BODY: &str =
    "<script>window.__xss=1</script><img src=x onerror=\"window.__xss=2\">&amp;";

pub async fn hostile_receiver() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new()
        .fallback(|| async { (axum::http::StatusCode::SERVICE_UNAVAILABLE, HOSTILE_BODY) });
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}/x\"><script>window.__xss=3</script>/v3.1/event-notifications")
}

#[tokio::test]
async fn sign_in_sets_a_strict_session_cookie_and_sign_out_clears_it() {
    let bank = TestBank::start(common::obie()).await;
    let t = bank.tpp().await;
    let mut p = Portal::new(&bank.url);
    let r = p.sign_in_tpp(&t.client_id, &t.client_secret).await;
    assert_eq!(r.status, 303);
    assert_eq!(r.location(), Some(Portal::tpp(&t.client_id, "").as_str()));
    let cookie = r
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("obevents_portal="))
        .expect("a session cookie");
    for attr in [
        "HttpOnly",
        "SameSite=Strict",
        "Path=/portal",
        "Max-Age=3600",
    ] {
        assert!(cookie.contains(attr), "{cookie} lacks {attr}");
    }
    assert!(!cookie.contains("Secure"), "no Secure flag over plain HTTP");
    let home = p.get(&Portal::tpp(&t.client_id, "")).await;
    assert_eq!(home.status, 200);
    assert!(home.body.contains(&t.client_id));
    let out = p.post("/portal/sign-out", &[]).await;
    assert_eq!(out.status, 303);
    assert!(
        out.set_cookies()
            .iter()
            .any(|c| c.starts_with("obevents_portal=;") && c.contains("Max-Age=0"))
    );
    // Without a session every page leads to the sign-in form.
    let anonymous = Portal::new(&bank.url);
    for path in [
        "/portal",
        "/portal/tpps",
        &Portal::tpp(&t.client_id, "/events"),
    ] {
        let r = anonymous.get(path).await;
        assert_eq!(r.status, 303, "{path}");
        assert_eq!(r.location(), Some("/portal/sign-in"), "{path}");
    }
    // A forged or tampered cookie is no session.
    let mut forged = Portal::new(&bank.url);
    let mut tampered = p.session.clone().unwrap();
    tampered.push('x');
    forged.session = Some(tampered);
    assert_eq!(forged.get(&Portal::tpp(&t.client_id, "")).await.status, 303);
    bank.stop().await;
}

#[tokio::test]
async fn wrong_secrets_lock_the_client_out_of_the_portal_and_token_alike() {
    let bank = TestBank::start(common::obie()).await;
    let t = bank.tpp().await;
    let other = bank.tpp().await;
    let mut p = Portal::new(&bank.url);
    let wrong = p.sign_in_tpp(&t.client_id, "not-the-secret").await;
    assert_eq!(wrong.status, 401);
    assert!(wrong.body.contains("wrong client id or secret"));
    assert!(p.session.is_none());
    let unknown = p.sign_in_tpp("no-such-client", "x").await;
    assert_eq!(
        unknown.status, 401,
        "an unknown id looks like a wrong secret"
    );
    assert!(unknown.body.contains("wrong client id or secret"));
    for _ in 1..10 {
        p.sign_in_tpp(&t.client_id, "still-wrong").await;
    }
    let locked = p.sign_in_tpp(&t.client_id, &t.client_secret).await;
    assert_eq!(locked.status, 429, "{}", locked.body);
    assert!(locked.header("retry-after").is_some());
    assert!(locked.body.contains("locked for"));
    assert!(p.session.is_none());
    // One budget with /token.
    let token = bank
        .token_basic(
            &t.client_id,
            &t.client_secret,
            &[("grant_type", "client_credentials")],
        )
        .await;
    token.expect(429);
    assert_eq!(token.json()["error"], "temporarily_unavailable");
    // Other clients are not affected.
    let ok = Portal::new(&bank.url)
        .sign_in_tpp(&other.client_id, &other.client_secret)
        .await;
    assert_eq!(ok.status, 303);
    // Failed /token calls lock the portal too.
    let third = bank.tpp().await;
    for _ in 0..10 {
        bank.token_basic(
            &third.client_id,
            "wrong",
            &[("grant_type", "client_credentials")],
        )
        .await;
    }
    let locked = Portal::new(&bank.url)
        .sign_in_tpp(&third.client_id, &third.client_secret)
        .await;
    assert_eq!(locked.status, 429);
    bank.stop().await;
}

#[tokio::test]
async fn the_operator_signs_in_with_the_admin_credential_and_sees_every_tpp() {
    let bank = TestBank::start(common::obie()).await;
    let a = bank.tpp().await;
    let b = bank.tpp().await;
    let mut wrong = Portal::new(&bank.url);
    let r = wrong
        .sign_in(&[
            ("kind", "operator"),
            ("username", "operator"),
            ("password", "nope"),
        ])
        .await;
    assert_eq!(r.status, 401);
    assert!(r.body.contains("wrong user name or password"));
    let mut op = Portal::new(&bank.url);
    let r = op.sign_in_operator().await;
    assert_eq!(r.status, 303);
    assert_eq!(r.location(), Some("/portal/tpps"));
    let list = op.get("/portal/tpps").await;
    assert_eq!(list.status, 200);
    for id in [&a.client_id, &b.client_id] {
        assert!(list.body.contains(&Portal::tpp(id, "")), "{id} listed");
        assert_eq!(op.get(&Portal::tpp(id, "/events")).await.status, 200);
    }
    // The operator acts for a TPP: an event injected from the portal is that TPP's.
    a.subscribe(json!({"Data": {"Version": "3.1"}})).await;
    let r = op
        .post(
            &Portal::tpp(&a.client_id, "/triggers/inject"),
            &[
                ("event_type", "resource-update"),
                ("resource_id", "p-op"),
                ("resource_type", "domestic-payment"),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("Event raised"));
    let stored = bank.stored_events(&a.client_id).await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0]["resourceId"], "p-op");
    assert!(bank.stored_events(&b.client_id).await.is_empty());
    // An unknown TPP is a 404 page for the operator too.
    assert_eq!(op.get(&Portal::tpp("no-such-tpp", "")).await.status, 404);
    bank.stop().await;
}

#[tokio::test]
async fn a_tpp_reaches_nothing_of_another_tpp_by_editing_ids() {
    let receiver = Receiver::start(&[400]).await;
    let bank = TestBank::start(push_config(&[60_000])).await;
    let a = bank.tpp().await;
    let b = bank.tpp().await;
    b.subscribe(json!({"Data": {"Version": "3.1", "CallbackUrl": receiver.url}}))
        .await;
    let b_consent = b.authorised_consent().await;
    let jti = bank.inject_update(&b.client_id, "p-b").await;
    receiver.wait_for(1).await;
    let b_delivery = wait_delivery(&bank, &b.client_id).await;
    let pa = tpp_portal(&bank.url, &a.client_id, &a.client_secret).await;
    // Every page of B's, and the operator's list, is refused; an unknown id looks the same.
    for rest in ["", "/events", "/deliveries", "/triggers", "/live"] {
        let r = pa.get(&Portal::tpp(&b.client_id, rest)).await;
        assert_eq!(r.status, 404, "B's {rest:?}");
        assert!(!r.body.contains(&jti) && !r.body.contains(&receiver.url));
        assert_eq!(pa.get(&Portal::tpp("nobody", rest)).await.status, 404);
    }
    assert_eq!(pa.get("/portal/tpps").await.status, 403);
    // B's forms under B's path are refused, and nothing happens.
    let under_b = [
        (format!("/deliveries/{b_delivery}/retry"), vec![]),
        (
            "/triggers/revoke".to_string(),
            vec![("consent_id", b_consent.as_str())],
        ),
        (
            "/triggers/inject".to_string(),
            vec![
                ("event_type", "resource-update"),
                ("resource_id", "x"),
                ("resource_type", "y"),
            ],
        ),
    ];
    for (rest, fields) in &under_b {
        let r = pa.post(&Portal::tpp(&b.client_id, rest), fields).await;
        assert_eq!(r.status, 404, "{rest}");
    }
    // B's ids under A's own path act on A's data only: no such delivery, not A's consent.
    let r = pa
        .post(
            &Portal::tpp(&a.client_id, &format!("/deliveries/{b_delivery}/retry")),
            &[],
        )
        .await;
    assert_eq!(r.status, 303);
    assert!(r.location().unwrap().contains("notice=retry-unknown"));
    let r = pa
        .post(
            &Portal::tpp(&a.client_id, "/triggers/revoke"),
            &[("consent_id", &b_consent)],
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("belongs to another TPP"), "{}", r.body);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(receiver.received().len(), 1, "B's delivery was not retried");
    let consent = b
        .get(&format!("/aisp/account-access-consents/{b_consent}"))
        .await;
    assert_eq!(consent.json()["Data"]["Status"], "Authorised");
    assert_eq!(bank.stored_events(&b.client_id).await.len(), 1);
    bank.stop().await;
}

/// The id of `client`'s newest delivery, once there is one.
async fn wait_delivery(bank: &TestBank, client: &str) -> String {
    let deadline = tokio::time::Instant::now() + LIMIT;
    loop {
        let path = format!(
            "/sandbox/deliveries?{}",
            common::form(&[("clientId", client)])
        );
        let r = Resp::of(common::helper_auth(
            bank.request(Method::GET, &path),
            Some(client),
        ))
        .await;
        if let Some(id) = r.json()["deliveries"][0]["id"].as_str() {
            return id.to_string();
        }
        assert!(tokio::time::Instant::now() < deadline, "no delivery");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn every_state_change_needs_the_sessions_csrf_token() {
    let bank = TestBank::start(common::obie()).await;
    let a = bank.tpp().await;
    a.subscribe(json!({"Data": {"Version": "3.1"}})).await;
    let b = bank.tpp().await;
    let pa = tpp_portal(&bank.url, &a.client_id, &a.client_secret).await;
    let pb = tpp_portal(&bank.url, &b.client_id, &b.client_secret).await;
    let inject = Portal::tpp(&a.client_id, "/triggers/inject");
    let fields = [
        ("event_type", "resource-update"),
        ("resource_id", "p-1"),
        ("resource_type", "domestic-payment"),
    ];
    let b_token = pb.csrf.clone().unwrap();
    for token in ["", "forged", b_token.as_str()] {
        let mut with = fields.to_vec();
        with.push(("csrf", token));
        let r = pa.post(&inject, &with).await;
        assert_eq!(r.status, 403, "csrf {token:?}");
        assert!(r.body.contains("CSRF check failed"));
    }
    // Sign-out too.
    assert_eq!(
        pa.post("/portal/sign-out", &[("csrf", "x")]).await.status,
        403
    );
    assert!(
        bank.stored_events(&a.client_id).await.is_empty(),
        "nothing was raised"
    );
    // The right token works.
    assert_eq!(pa.post(&inject, &fields).await.status, 200);
    assert_eq!(bank.stored_events(&a.client_id).await.len(), 1);
    // The sign-in form needs its own pre-session token.
    let raw = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .unwrap();
    let r = raw
        .post(format!("{}/portal/sign-in", bank.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "kind=tpp&client_id={}&client_secret={}&csrf=guess",
            a.client_id, a.client_secret
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(
        r.headers()
            .get_all("set-cookie")
            .iter()
            .all(|c| { !c.to_str().unwrap().starts_with("obevents_portal=e") })
    );
    // A cookie and a field that agree are not enough: the pair must be one the portal issued
    // (a made-up pair, an empty one).
    for token in ["guess", ""] {
        let r = raw
            .post(format!("{}/portal/sign-in", bank.url))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("cookie", format!("obevents_portal_signin={token}"))
            .body(format!(
                "kind=tpp&client_id={}&client_secret={}&csrf={token}",
                a.client_id, a.client_secret
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "pair {token:?}");
        assert!(
            r.headers()
                .get_all("set-cookie")
                .iter()
                .all(|c| { !c.to_str().unwrap().starts_with("obevents_portal=e") }),
            "pair {token:?}"
        );
    }
    bank.stop().await;
}

#[tokio::test]
async fn hostile_values_are_escaped_on_every_page() {
    let hostile_name = "<script>window.__xss=4</script>";
    let bank = TestBank::start(push_config(&[60_000])).await;
    let t = bank.tpp_with(json!({"client_name": hostile_name})).await;
    let url = hostile_receiver().await;
    t.subscribe(json!({"Data": {"Version": "3.1", "CallbackUrl": url}}))
        .await;
    // A resource id cannot carry markup (it must be a URI segment); a TPP's setErrs
    // description can, and the Events page shows it.
    let jti = bank.inject_update(&t.client_id, "p-hostile").await;
    t.poll(
        json!({"returnImmediately": true, "maxEvents": 0, "setErrs": {
        &jti: {"err": "jwtIss", "description": "\"><img src=x onerror=alert(1)><b>x</b>"}}}),
    )
    .await
    .expect(200);
    let p = tpp_portal(&bank.url, &t.client_id, &t.client_secret).await;
    let deliveries = wait_page(&p, &Portal::tpp(&t.client_id, "/deliveries"), |b| {
        b.contains("HTTP 503")
    })
    .await;
    let events = p.get(&Portal::tpp(&t.client_id, "/events")).await;
    let overview = p.get(&Portal::tpp(&t.client_id, "")).await;
    for page in [&deliveries, &events, &overview] {
        assert_eq!(page.status, 200);
        for raw in ["<script>window", "<img src=x", "<b>x</b>"] {
            assert!(
                !page.body.contains(raw),
                "unescaped {raw:?} in\n{}",
                page.body
            );
        }
        assert!(
            page.body.contains("&#60;script&#62;window.__xss=4"),
            "the name shown escaped"
        );
        assert!(
            page.header("content-security-policy")
                .unwrap()
                .contains("script-src 'self'")
        );
    }
    assert!(
        deliveries.body.contains("&#60;script&#62;window.__xss=1"),
        "the excerpt escaped"
    );
    assert!(
        deliveries
            .body
            .contains("&#34;&#62;&#60;script&#62;window.__xss=3"),
        "the URL escaped"
    );
    assert!(
        events
            .body
            .contains("&#34;&#62;&#60;img src=x onerror=alert(1)&#62;")
    );
    assert!(
        overview.body.contains("window.__xss=3"),
        "the callback URL is listed"
    );
    // Markup in the query string of a page is never echoed.
    let r = p
        .get(&Portal::tpp(
            &t.client_id,
            "/deliveries?notice=<script>alert(1)</script>",
        ))
        .await;
    assert_eq!(r.status, 200);
    assert!(!r.body.contains("<script>alert(1)"));
    bank.stop().await;
}

#[tokio::test]
async fn pages_show_the_state_created_through_the_api_with_one_time_format() {
    let receiver = Receiver::start(&[503]).await;
    let bank = TestBank::start(push_config(&[300])).await;
    let t = bank.tpp().await;
    t.subscribe(json!({"Data": {"Version": "3.1", "CallbackUrl": receiver.url}}))
        .await;
    let consent = t.authorised_consent().await;
    t.revoke(&consent).await.expect(204);
    receiver.wait_for(2).await;
    let p = tpp_portal(&bank.url, &t.client_id, &t.client_secret).await;
    let deliveries = wait_page(&p, &Portal::tpp(&t.client_id, "/deliveries"), |b| {
        b.contains("HTTP 202")
    })
    .await;
    let body = &deliveries.body;
    assert!(body.contains("HTTP 503") && body.contains(&receiver.url));
    assert!(body.contains("consent-authorization-revoked"));
    assert!(body.contains(">delivered<"));
    // ISO 8601 UTC with milliseconds, and the relative time beside it.
    let iso = regex_like_iso(body).expect("an ISO 8601 time");
    assert!(iso.ends_with('Z') && iso.len() == 24, "{iso}");
    assert!(body.contains("class=\"rel\""));
    let events = p.get(&Portal::tpp(&t.client_id, "/events")).await.body;
    assert!(events.contains(&consent), "the subject");
    assert!(events.contains("&#34;kid&#34;"), "the decoded header");
    assert!(events.contains("&#34;toe&#34;"), "the decoded claims");
    assert!(
        events.contains("acknowledged"),
        "a delivered SET counts as acknowledged"
    );
    assert!(events.contains("/deliveries#d-"), "a link to its delivery");
    // Filters.
    let none = p
        .get(&Portal::tpp(&t.client_id, "/events?type=nothing&state="))
        .await;
    assert!(none.body.contains("No events match the filter"));
    let overview = p.get(&Portal::tpp(&t.client_id, "")).await.body;
    assert!(overview.contains(&receiver.url));
    assert!(
        overview.contains(&format!("ID=&#39;{}&#39;", t.client_id)),
        "snippets with its id"
    );
    bank.stop().await;
}

/// The first `YYYY-MM-DDTHH:MM:SS.mmmZ` in `text`.
fn regex_like_iso(text: &str) -> Option<String> {
    let at = text.find("<time datetime=\"")? + 16;
    Some(text[at..].split('"').next()?.to_string())
}

#[tokio::test]
async fn retry_from_the_portal_sends_one_more_attempt() {
    let receiver = Receiver::start(&[400]).await;
    let bank = TestBank::start(push_config(&[60_000])).await;
    let t = bank.tpp().await;
    t.subscribe(json!({"Data": {"Version": "3.1", "CallbackUrl": receiver.url}}))
        .await;
    bank.inject_update(&t.client_id, "p-1").await;
    receiver.wait_for(1).await;
    let id = wait_delivery(&bank, &t.client_id).await;
    let p = tpp_portal(&bank.url, &t.client_id, &t.client_secret).await;
    let page = wait_page(&p, &Portal::tpp(&t.client_id, "/deliveries"), |b| {
        b.contains(">failed<")
    })
    .await;
    let action = Portal::tpp(&t.client_id, &format!("/deliveries/{id}/retry"));
    assert!(page.body.contains(&action), "a retry button");
    let r = p.post(&action, &[]).await;
    assert_eq!(r.status, 303);
    assert!(r.location().unwrap().contains("notice=retried"));
    receiver.wait_for(2).await;
    let page = wait_page(&p, &Portal::tpp(&t.client_id, "/deliveries"), |b| {
        b.contains(">delivered<")
    })
    .await;
    assert!(
        !page.body.contains(&action),
        "no retry button once delivered"
    );
    let again = p.post(&action, &[]).await;
    assert!(again.location().unwrap().contains("notice=retry-delivered"));
    bank.stop().await;
}

#[tokio::test]
async fn the_live_stream_announces_changes_of_its_tpp_only() {
    let bank = TestBank::start(common::obie()).await;
    let a = bank.tpp().await;
    let b = bank.tpp().await;
    for t in [&a, &b] {
        t.subscribe(json!({"Data": {"Version": "3.1"}})).await;
    }
    let p = tpp_portal(&bank.url, &a.client_id, &a.client_secret).await;
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let mut resp = client
        .get(format!(
            "{}{}",
            bank.url,
            Portal::tpp(&a.client_id, "/live")
        ))
        .header("cookie", p.session.clone().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let mut seen = String::new();
    let mut read_until = async |needle: &str, seen: &mut String| {
        let deadline = tokio::time::Instant::now() + LIMIT;
        while !seen.contains(needle) {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let chunk = tokio::time::timeout(left, resp.chunk())
                .await
                .unwrap_or_else(|_| panic!("no {needle:?} on the stream; got {seen:?}"))
                .unwrap()
                .expect("the stream stays open");
            seen.push_str(&String::from_utf8_lossy(&chunk));
        }
    };
    read_until("event: hello", &mut seen).await;
    // B's event does not reach A's stream; A's does.
    bank.inject_update(&b.client_id, "p-b").await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    bank.inject_update(&a.client_id, "p-a").await;
    read_until("event: change", &mut seen).await;
    assert_eq!(seen.matches("event: change").count(), 1, "{seen}");
    // A page rendered before a change: its stream announces the change at once.
    let stale = client
        .get(format!(
            "{}{}?mark=rendered-earlier",
            bank.url,
            Portal::tpp(&a.client_id, "/live")
        ))
        .header("cookie", p.session.clone().unwrap())
        .send()
        .await
        .unwrap();
    let mut first = String::new();
    let mut stale = stale;
    while !first.contains("event: change") {
        let chunk = tokio::time::timeout(LIMIT, stale.chunk())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        first.push_str(&String::from_utf8_lossy(&chunk));
    }
    bank.stop().await;
}

#[tokio::test]
async fn tatra_settings_are_edited_with_the_dialects_validation() {
    let bank = TestBank::start(common::config(Bank::Tatra)).await;
    let t = bank.tpp().await;
    let p = tpp_portal(&bank.url, &t.client_id, &t.client_secret).await;
    let action = Portal::tpp(&t.client_id, "/tatra-settings");
    let r = p
        .post(
            &action,
            &[
                ("enabled", "on"),
                ("url", "https://tpp.example/hook?x=1"),
                ("security_header", ""),
            ],
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("INVALID_WEBHOOK_URL"), "{}", r.body);
    assert!(
        r.body.contains("https://tpp.example/hook?x=1"),
        "the value kept in the form"
    );
    let r = p
        .post(
            &action,
            &[
                ("enabled", "on"),
                ("url", "https://tpp.example/hook"),
                ("security_header", "Bad<header>"),
            ],
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("INVALID_SECURITY_HEADER"));
    let r = p
        .post(
            &action,
            &[
                ("enabled", "on"),
                ("url", "https://tpp.example/hook"),
                ("security_header", "Basic dXNlcjpwYXNz"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let api = Resp::of(
        bank.request(Method::GET, "/premium/sandbox/v1/webhook-settings")
            .basic_auth(&t.client_id, Some(&t.client_secret)),
    )
    .await;
    api.expect(200);
    let j = api.json();
    assert_eq!(j["enabled"], true);
    assert_eq!(j["url"], "https://tpp.example/hook");
    assert_eq!(j["securityHeader"], "Basic dXNlcjpwYXNz");
    assert_eq!(j["active"], false, "active from the next full hour");
    let r = p.post(&format!("{action}/activate"), &[]).await;
    assert_eq!(r.status, 303);
    let overview = p
        .get(&Portal::tpp(&t.client_id, "?notice=tatra-activated"))
        .await;
    assert!(overview.body.contains("active now"));
    assert!(overview.body.contains("Webhooks are active from now."));
    // The Tatra triggers: a consent, then a refresh shows its task id.
    let page = p
        .post(&Portal::tpp(&t.client_id, "/triggers/tatra-consent"), &[])
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    let consent = crate::web::field_value(&page.body, "consent_id").expect("the consent id");
    let r = p
        .post(
            &Portal::tpp(&t.client_id, "/triggers/tatra-refresh"),
            &[("consent_id", &consent)],
        )
        .await;
    assert!(
        r.body.contains("Refresh started") && r.body.contains("taskId"),
        "{}",
        r.body
    );
    let r = p
        .post(
            &Portal::tpp(&t.client_id, "/triggers/tatra-transaction"),
            &[("consent_id", "nope")],
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("CONSENT_NOT_FOUND"));
    bank.stop().await;
}

/// Path and query parameters the portal cannot read (an id that is not UTF-8 once decoded, a
/// query field given twice) get the portal's 400 page, on pages and on forms alike.
#[tokio::test]
async fn addresses_the_portal_cannot_read_get_its_400_page() {
    let bank = TestBank::start(common::obie()).await;
    let t = bank.tpp().await;
    let mut p = Portal::new(&bank.url);
    assert_eq!(
        p.sign_in_tpp(&t.client_id, &t.client_secret).await.status,
        303
    );
    let own = Portal::tpp(&t.client_id, "");
    let pages = [
        p.get("/portal/tpps/%ff/events").await,
        p.get("/portal/tpps/%ff/live").await,
        p.get(&format!("{own}/events?type=a&type=b")).await,
        p.get(&format!("{own}?notice=a&notice=b")).await,
        p.post(&format!("{own}/deliveries/%ff/retry"), &[]).await,
        p.post("/portal/tpps/%ff/triggers/consent", &[]).await,
    ];
    for (i, r) in pages.iter().enumerate() {
        assert_eq!(r.status, 400, "case {i}: {}", r.body);
        assert!(
            r.header("content-type").unwrap().starts_with("text/html"),
            "case {i}"
        );
        assert!(r.header("content-security-policy").is_some(), "case {i}");
        assert!(r.body.contains("cannot be read"), "case {i}: {}", r.body);
    }
    bank.stop().await;
}

#[tokio::test]
async fn the_portal_is_not_in_the_api_description_and_has_its_own_404() {
    for bank in [Bank::Obie, Bank::Yapily, Bank::Tatra] {
        let b = TestBank::start(common::config(bank)).await;
        let doc = Resp::of(b.request(Method::GET, "/openapi.json")).await;
        doc.expect(200);
        let paths = doc.json()["paths"].as_object().unwrap().clone();
        assert!(paths.keys().all(|p| !p.starts_with("/portal")), "{bank:?}");
        let p = Portal::new(&b.url);
        let r = p.get("/portal/nowhere").await;
        assert_eq!(r.status, 404);
        assert!(r.header("content-type").unwrap().starts_with("text/html"));
        assert!(r.header("content-security-policy").is_some());
        for asset in ["/portal/assets/portal.css", "/portal/assets/portal.js"] {
            let a = p.get(asset).await;
            assert_eq!(a.status, 200, "{asset}");
            assert!(a.body.len() > 500);
        }
        let form = p.get("/portal/sign-in").await;
        assert!(form.body.contains(bank.name()), "the personality is named");
        b.stop().await;
    }
}

#[tokio::test]
async fn yapily_events_are_raised_from_the_portal() {
    let bank = TestBank::start(common::config(Bank::Yapily)).await;
    let t = bank.tpp().await;
    let p = tpp_portal(&bank.url, &t.client_id, &t.client_secret).await;
    let page = p.get(&Portal::tpp(&t.client_id, "/triggers")).await;
    assert!(page.body.contains("payment.status.completed"));
    let r = p
        .post(
            &Portal::tpp(&t.client_id, "/triggers/yapily"),
            &[
                ("event_type", "payment.status.completed"),
                ("object_id", "pay-1"),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("Yapily-style event raised"));
    assert!(r.body.contains("pay-1"));
    assert!(r.body.contains("does not subscribe"));
    bank.stop().await;
}

/// Issue 22 item 8 / issue 23 "Faults for this TPP": a TPP ticks faults for itself and its
/// polls meet them, another TPP's do not; it cannot reach another TPP's choice nor clear every
/// TPP's; the operator changes any TPP's and clears them all. Same store rows as
/// `/sandbox/faults`.
#[tokio::test]
async fn faults_are_chosen_from_the_portal_for_one_tpp_only() {
    let bank = TestBank::start(common::obie()).await;
    let (a, b) = (bank.subscribed_tpp().await, bank.subscribed_tpp().await);
    let own = |t: &common::Tpp| {
        let t = t.clone();
        async move {
            let r = Resp::of(t.request(Method::GET, "/sandbox/faults")).await;
            r.expect(200);
            r.json()["faults"].clone()
        }
    };
    let pa = tpp_portal(&bank.url, &a.client_id, &a.client_secret).await;
    let page = pa.get(&Portal::tpp(&a.client_id, "/faults")).await;
    assert_eq!(page.status, 200);
    assert!(
        page.body
            .contains(r#"name="fault-more-available-always-false""#)
    );
    assert!(!page.body.contains(r#"name="fault-push-to-other-tpp""#));
    assert!(page.body.contains(">Faults</a>"), "a tab in the frame");
    let save = Portal::tpp(&a.client_id, "/faults");
    let r = pa
        .post(&save, &[("fault-more-available-always-false", "on")])
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(
        r.location()
            .unwrap()
            .ends_with("/faults?notice=faults-saved")
    );
    let page = pa.get(&Portal::tpp(&a.client_id, "/faults")).await;
    assert!(
        page.body
            .contains(r#"id="fault-more-available-always-false" checked"#)
    );
    assert_eq!(own(&a).await, json!(["more-available-always-false"]));
    assert_eq!(own(&b).await, json!([]));
    // Practice behaviours sit beside the faults on the same form.
    let r = pa
        .post(
            &save,
            &[
                ("fault-more-available-always-false", "on"),
                ("behaviour-sets-newest-first", "on"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let page = pa.get(&Portal::tpp(&a.client_id, "/faults")).await;
    assert!(
        page.body
            .contains(r#"id="behaviour-sets-newest-first" checked"#)
    );
    let r = Resp::of(a.request(Method::GET, "/sandbox/faults")).await;
    assert_eq!(r.json()["behaviours"], json!(["sets-newest-first"]));
    pa.post(&save, &[("fault-more-available-always-false", "on")])
        .await;
    for t in [&a, &b] {
        for i in 0..2 {
            bank.inject_update(&t.client_id, &format!("p-{i}")).await;
        }
    }
    let one = json!({"returnImmediately": true, "maxEvents": 1});
    assert_eq!(a.poll_ok(one.clone()).await.more_available, Some(false));
    assert_eq!(b.poll_ok(one).await.more_available, Some(true));

    // Nothing of B's, no forged token, no clearing everyone's, no hand-made global fault.
    let b_faults = Portal::tpp(&b.client_id, "/faults");
    assert_eq!(pa.get(&b_faults).await.status, 404);
    let r = pa
        .post(&b_faults, &[("fault-acked-redelivered", "on")])
        .await;
    assert_eq!(r.status, 404);
    let forged = [("fault-acked-redelivered", "on"), ("csrf", "forged")];
    assert_eq!(pa.post(&save, &forged).await.status, 403);
    assert_eq!(pa.post("/portal/faults/clear-all", &[]).await.status, 403);
    let r = pa.post(&save, &[("fault-push-to-other-tpp", "on")]).await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("not chosen per TPP"), "{}", r.body);
    assert_eq!(own(&a).await, json!(["more-available-always-false"]));
    assert_eq!(own(&b).await, json!([]));

    // The operator: sees A's choice in the list, chooses for B, clears everyone's.
    let op = common_operator(&bank).await;
    let list = op.get("/portal/tpps").await;
    assert!(
        list.body
            .contains("<code>more-available-always-false</code>")
    );
    let r = op
        .post(&b_faults, &[("fault-acked-redelivered", "on")])
        .await;
    assert_eq!(r.status, 303);
    assert_eq!(own(&b).await, json!(["acked-redelivered"]));
    let r = op.post("/portal/faults/clear-all", &[]).await;
    assert_eq!(r.status, 303);
    assert_eq!(r.location(), Some("/portal/tpps?notice=faults-cleared-all"));
    assert_eq!((own(&a).await, own(&b).await), (json!([]), json!([])));
    // A TPP clears its own.
    pa.post(&save, &[("fault-empty-queue-404", "on")]).await;
    let r = pa
        .post(&Portal::tpp(&a.client_id, "/faults/clear"), &[])
        .await;
    assert_eq!(r.status, 303);
    assert_eq!(own(&a).await, json!([]));
    op.post("/portal/sign-out", &[]).await;
    bank.stop().await;
}

/// The operator signed in to `bank`'s portal.
async fn common_operator(bank: &TestBank) -> Portal {
    let mut op = Portal::new(&bank.url);
    assert_eq!(op.sign_in_operator().await.status, 303);
    op
}
