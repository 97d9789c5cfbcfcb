//! The portal in a real browser (headless Chromium over WebDriver): sign-in right, wrong and
//! locked out; a TPP, then the operator for a TPP, revoking a consent from the Triggers page
//! and watching the SET and the push attempts arrive without reloading; the forms (inject,
//! retry, Tatra settings and triggers) end to end; another TPP's page, a forged CSRF token and
//! hostile markup all failing.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{self, ADMIN, TestBank, Tpp, push_config};
use crate::driver::{Browser, serial};
use crate::http::hostile_receiver;
use crate::receiver::Receiver;
use obevents::sandbox::Bank;

/// Marks the loaded page, so a later check can tell an in-place update from a reload.
const MARK: &str = "window.__notReloaded = true; return true;";
const STILL_MARKED: &str = "return window.__notReloaded === true;";
const UPDATED_LIVE: &str =
    "return Number(document.body.getAttribute('data-live-updates') || '0') > 0;";

#[tokio::test]
async fn browser_sign_in_right_wrong_and_locked_out() {
    let _one = serial().await;
    let bank = TestBank::start(common::obie()).await;
    let t = bank.tpp().await;
    let b = Browser::start(&bank.url, 1280).await;
    b.sign_in("tpp", &t.client_id, "wrong").await;
    assert!(
        b.text("#sign-in-error")
            .await
            .contains("wrong client id or secret")
    );
    b.sign_in("operator", ADMIN.0, "wrong").await;
    assert!(
        b.text("#sign-in-error")
            .await
            .contains("wrong user name or password")
    );
    b.sign_in("tpp", &t.client_id, &t.client_secret).await;
    assert!(b.wait_text("Overview").await.contains(&t.client_id));
    assert_eq!(b.path().await, format!("/portal/tpps/{}", t.client_id));
    // The cookie is HttpOnly: the page's script cannot read it.
    assert_eq!(b.js("return document.cookie;").await, json!(""));
    b.click("header form button[type=submit]").await;
    b.find("#tpp-sign-in").await;
    // Locked out after 10 failures (here at /token), even with the right secret.
    for _ in 0..10 {
        bank.token_basic(
            &t.client_id,
            "wrong",
            &[("grant_type", "client_credentials")],
        )
        .await;
    }
    b.sign_in("tpp", &t.client_id, &t.client_secret).await;
    assert!(b.text("#sign-in-error").await.contains("locked for"));
    b.close().await;
    bank.stop().await;
}

/// From the TPP's Triggers page: create and authorise a consent, revoke it, follow the outcome
/// to the delivery and watch its second attempt arrive live; then watch a SET appear live on
/// the Events page.
async fn revoke_and_watch(b: &Browser, bank: &TestBank, t: &Tpp, receiver: &Receiver) {
    b.goto(&format!("/portal/tpps/{}/triggers", t.client_id))
        .await;
    b.click("#create-consent button").await;
    assert!(
        b.wait_text("Consent created and authorised")
            .await
            .contains("Authorised")
    );
    b.click("#outcome form button").await;
    let outcome = b.wait_text("Consent revoked").await;
    assert!(outcome.contains("push delivery"), "{outcome}");
    b.click("#outcome a[href*='/deliveries#d-']").await;
    b.wait_text("URL requested").await;
    b.js(MARK).await;
    b.wait_js("return document.body.getAttribute('data-live') === 'on';")
        .await;
    // The first attempt got 503; the retry 1.5 s later gets 202 while the page is open.
    let text = b.wait_text("HTTP 202").await;
    assert!(text.contains("HTTP 503"), "{text}");
    assert!(text.contains(&receiver.url));
    b.wait_js(STILL_MARKED).await;
    b.wait_js(UPDATED_LIVE).await;
    assert_eq!(receiver.received().len(), 2);
    // The SET, decoded, on the Events page; a second revoke made through the API appears live.
    b.click("section.delivery a[href*='/events#e-']").await;
    b.find("details.event").await;
    b.js(MARK).await;
    b.wait_js("return document.body.getAttribute('data-live') === 'on';")
        .await;
    let consent = t.authorised_consent().await;
    t.revoke(&consent).await.expect(204);
    b.wait_js(&format!(
        "return document.getElementById('live').textContent.indexOf('{consent}') >= 0;"
    ))
    .await;
    b.wait_js(STILL_MARKED).await;
    b.click("details.event summary").await;
    let text = b.body_text().await;
    assert!(text.contains("SET claims") && text.contains("consent-authorization-revoked"));
    assert!(text.contains(&format!("/rid\": \"{consent}\"")), "{text}");
    let _ = bank;
}

#[tokio::test]
async fn browser_tpp_revokes_a_consent_and_watches_its_set_and_attempts_live() {
    let _one = serial().await;
    let receiver = Receiver::start(&[503]).await;
    let bank = TestBank::start(push_config(&[1500])).await;
    let t = bank.tpp().await;
    t.subscribe(json!({"Data": {"Version": "3.1", "CallbackUrl": receiver.url}}))
        .await;
    let b = Browser::start(&bank.url, 1280).await;
    b.sign_in("tpp", &t.client_id, &t.client_secret).await;
    b.wait_text("Overview").await;
    revoke_and_watch(&b, &bank, &t, &receiver).await;
    b.close().await;
    bank.stop().await;
}

#[tokio::test]
async fn browser_operator_does_the_same_for_any_tpp() {
    let _one = serial().await;
    let receiver = Receiver::start(&[503]).await;
    let bank = TestBank::start(push_config(&[1500])).await;
    let other = bank.tpp().await;
    let t = bank.tpp_with(json!({"client_name": "operated tpp"})).await;
    t.subscribe(json!({"Data": {"Version": "3.1", "CallbackUrl": receiver.url}}))
        .await;
    let b = Browser::start(&bank.url, 1280).await;
    b.sign_in("operator", ADMIN.0, ADMIN.1).await;
    let list = b.wait_text("TPPs").await;
    assert!(list.contains(&t.client_id) && list.contains(&other.client_id));
    b.click(&format!("#tpp-list a[href='/portal/tpps/{}']", t.client_id))
        .await;
    assert!(b.wait_text("Overview").await.contains("operated tpp"));
    revoke_and_watch(&b, &bank, &t, &receiver).await;
    assert!(bank.stored_events(&other.client_id).await.is_empty());
    b.close().await;
    bank.stop().await;
}

#[tokio::test]
async fn browser_forms_work_end_to_end_and_attacks_fail() {
    let _one = serial().await;
    let receiver = Receiver::start(&[400]).await;
    let bank = TestBank::start(push_config(&[60_000])).await;
    let a = bank
        .tpp_with(json!({"client_name": "<img src=x onerror=\"window.__xss=5\">"}))
        .await;
    let other = bank.tpp().await;
    a.subscribe(json!({"Data": {"Version": "3.1", "CallbackUrl": receiver.url}}))
        .await;
    let b = Browser::start(&bank.url, 1280).await;
    b.sign_in("tpp", &a.client_id, &a.client_secret).await;
    b.wait_text("Overview").await;
    // Inject from the form: the 400 answer is not retried; the Retry button sends once more.
    b.goto(&format!("/portal/tpps/{}/triggers", a.client_id))
        .await;
    b.fill("#inject-rid", "pay-42").await;
    b.click("#inject-event button").await;
    b.wait_text("Event raised").await;
    receiver.wait_for(1).await;
    b.goto(&format!("/portal/tpps/{}/deliveries", a.client_id))
        .await;
    b.wait_text("failed").await;
    b.click("button.retry").await;
    b.wait_text("The delivery is due now").await;
    receiver.wait_for(2).await;
    b.wait_text("delivered").await;
    // Another TPP's page by editing the URL: not found, nothing of it shown.
    b.goto(&format!("/portal/tpps/{}/events", other.client_id))
        .await;
    assert!(b.wait_text("404 Not found").await.contains("not yours"));
    // A forged CSRF token: refused, and nothing raised.
    b.goto(&format!("/portal/tpps/{}/triggers", a.client_id))
        .await;
    b.js("document.querySelector('#inject-event input[name=csrf]').value = 'forged'; return true;")
        .await;
    b.click("#inject-event button").await;
    assert!(b.wait_text("CSRF check failed").await.contains("Refused"));
    assert_eq!(bank.stored_events(&a.client_id).await.len(), 1);
    // Hostile markup from the TPP and from its receiver's answers stays text.
    let url = hostile_receiver().await;
    let hostile = bank
        .tpp_with(json!({"client_name": "<script>window.__xss=6</script>"}))
        .await;
    hostile
        .subscribe(json!({"Data": {"Version": "3.1", "CallbackUrl": url}}))
        .await;
    // A resource id cannot carry markup (it must be a URI segment); a TPP's setErrs
    // description can, and the Events page shows it.
    let jti = bank.inject_update(&hostile.client_id, "p-hostile").await;
    hostile
        .poll(
            json!({"returnImmediately": true, "maxEvents": 0, "setErrs": {
            &jti: {"err": "jwtIss", "description": "<script>window.__xss=7</script>"}}}),
        )
        .await
        .expect(200);
    let b2 = Browser::start(&bank.url, 1280).await;
    b2.sign_in("tpp", &hostile.client_id, &hostile.client_secret)
        .await;
    b2.wait_text("<script>window.__xss=6</script>").await;
    b2.goto(&format!("/portal/tpps/{}/deliveries", hostile.client_id))
        .await;
    b2.wait_text("HTTP 503").await;
    b2.wait_text("<script>window.__xss=1</script>").await;
    b2.goto(&format!("/portal/tpps/{}/events", hostile.client_id))
        .await;
    b2.click("details.event summary").await;
    b2.wait_text("<script>window.__xss=7</script>").await;
    for br in [&b, &b2] {
        assert_eq!(
            br.js("return window.__xss === undefined;").await,
            Value::Bool(true)
        );
    }
    b.goto(&format!("/portal/tpps/{}", a.client_id)).await;
    assert_eq!(
        b.js("return window.__xss === undefined;").await,
        Value::Bool(true)
    );
    b2.close().await;
    b.close().await;
    bank.stop().await;
}

#[tokio::test]
async fn browser_tatra_settings_and_triggers() {
    let _one = serial().await;
    let mut cfg = common::config(Bank::Tatra);
    cfg.tatra.activation = obevents::sandbox::config::Activation::Immediate;
    let bank = TestBank::start(cfg).await;
    let t = bank.tpp().await;
    let hook = Receiver::start(&[]).await;
    let b = Browser::start(&bank.url, 1280).await;
    b.sign_in("tpp", &t.client_id, &t.client_secret).await;
    b.wait_text("Tatra-style webhook settings").await;
    b.click("#tatra-enabled").await;
    b.fill("#tatra-url", "https://tpp.example/hook?with=query")
        .await;
    b.click("#tatra-settings button").await;
    assert!(b.text("#tatra-error").await.contains("INVALID_WEBHOOK_URL"));
    b.fill("#tatra-url", &hook.url).await;
    b.fill("#tatra-header", "Basic dXNlcjpwYXNz").await;
    if !b.find("#tatra-enabled").await.is_selected().await.unwrap() {
        b.click("#tatra-enabled").await;
    }
    b.click("#tatra-settings button").await;
    assert!(
        b.wait_text("Webhook settings saved")
            .await
            .contains("active now")
    );
    b.goto(&format!("/portal/tpps/{}/triggers", t.client_id))
        .await;
    b.click("#tatra-consent button").await;
    b.wait_text("Tatra-style consent created").await;
    b.click("#outcome form:nth-of-type(1) button").await;
    b.wait_text("transactionEvent raised").await;
    let got = hook.wait_for(1).await;
    assert_eq!(got[0].headers["authorization"], "Basic dXNlcjpwYXNz");
    b.click("#outcome form:nth-of-type(2) button").await;
    assert!(b.wait_text("Refresh started").await.contains("taskId"));
    hook.wait_for(3).await;
    b.close().await;
    bank.stop().await;
}
