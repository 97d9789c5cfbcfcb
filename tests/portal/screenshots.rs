//! Screenshots of every portal page, one PNG each, at 1280 px and at a narrow 420 px: the
//! README's "Portal" section shows them. They are written to `$OBEVENTS_PORTAL_SCREENSHOTS`
//! when set (`OBEVENTS_PORTAL_SCREENSHOTS=docs/portal cargo test --test portal screenshots`
//! refreshes the committed ones), else to a scratch folder under `target/`; either way the test
//! checks that each is a PNG of the asked width showing its page.

use std::path::PathBuf;

use serde_json::json;

use crate::common::{self, ADMIN, TestBank, push_config};
use crate::driver::{Browser, serial};
use crate::receiver::Receiver;
use obevents::sandbox::Bank;

fn out_dir() -> PathBuf {
    let dir = std::env::var_os("OBEVENTS_PORTAL_SCREENSHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("portal-screenshots"));
    std::fs::create_dir_all(&dir).expect("the screenshot folder");
    dir
}

/// Width and height of a PNG, from its IHDR chunk.
fn png_size(bytes: &[u8]) -> (u32, u32) {
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "a PNG");
    let be = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
    (be(16), be(20))
}

async fn shoot(b: &Browser, name: &str, width: u32, height: u32, must_show: &str) {
    b.client.set_window_size(width, height).await.unwrap();
    b.wait_text(must_show).await;
    // Let the live-status line settle so the shot is stable.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let png = b.client.screenshot().await.expect("a screenshot");
    let (w, _) = png_size(&png);
    assert!(w >= width - 20 && w <= width, "{name}: {w} px wide");
    std::fs::write(out_dir().join(format!("{name}.png")), png).expect("write the PNG");
}

#[tokio::test]
async fn screenshots_of_every_page() {
    let _one = serial().await;
    let receiver = Receiver::start(&[503]).await;
    let bank = TestBank::start(push_config(&[300])).await;
    let t = bank
        .tpp_with(json!({"client_name": "Example Budgeting App"}))
        .await;
    bank.tpp_with(json!({"client_name": "Another TPP"})).await;
    t.subscribe(json!({"Data": {"Version": "3.1", "CallbackUrl": receiver.url}}))
        .await;
    let consent = t.authorised_consent().await;
    t.revoke(&consent).await.expect(204);
    bank.inject_update(&t.client_id, "pay-1001").await;
    receiver.wait_for(3).await;

    let b = Browser::start(&bank.url, 1280).await;
    b.goto("/portal/sign-in").await;
    shoot(&b, "sign-in", 1280, 700, "Sign in as TPP").await;
    b.sign_in("operator", ADMIN.0, ADMIN.1).await;
    shoot(&b, "tpps", 1280, 500, "Example Budgeting App").await;
    let page = |rest: &str| format!("/portal/tpps/{}{rest}", t.client_id);
    b.goto(&page("")).await;
    shoot(&b, "overview", 1280, 1700, "Snippets").await;
    b.goto(&page("/events")).await;
    b.click("details.event summary").await;
    shoot(&b, "events", 1280, 1300, "SET claims").await;
    b.goto(&page("/deliveries")).await;
    shoot(&b, "deliveries", 1280, 1100, "HTTP 202").await;
    b.goto(&page("/triggers")).await;
    b.click("#create-consent button").await;
    shoot(&b, "triggers", 1280, 1000, "Consent created and authorised").await;
    b.goto(&page("/deliveries")).await;
    shoot(&b, "deliveries-narrow", 420, 1400, "HTTP 202").await;
    b.goto(&page("/events")).await;
    shoot(
        &b,
        "events-narrow",
        420,
        1000,
        "consent-authorization-revoked",
    )
    .await;
    // The TPP's own faults, ticked and saved in the browser.
    b.goto(&page("/faults")).await;
    b.click("#fault-acked-redelivered").await;
    b.click("#fault-more-available-always-false").await;
    b.click("#faults-form button").await;
    shoot(&b, "faults", 1280, 1000, "Faults saved").await;
    // The verdicts of a referee run of a faulty reference TPP, published by `test --tpp`.
    crate::referee::run_published(&bank, &t, &["accepts-bad-signature"]).await;
    b.goto(&page("/referee")).await;
    shoot(&b, "referee", 1280, 1400, "broken: ").await;
    b.close().await;
    bank.stop().await;

    let bank = TestBank::start(common::config(Bank::Tatra)).await;
    let t = bank
        .tpp_with(json!({"client_name": "Tatra-style application"}))
        .await;
    let b = Browser::start(&bank.url, 1280).await;
    b.sign_in("tpp", &t.client_id, &t.client_secret).await;
    b.click("#tatra-enabled").await;
    b.fill("#tatra-url", "https://tpp.example/hook?x=1").await;
    b.click("#tatra-settings button").await;
    // The form's answer is a new page: wait for it before scrolling to its error.
    b.wait_text("INVALID_WEBHOOK_URL").await;
    b.js("document.getElementById('tatra-error').parentElement.scrollIntoView(); return true;")
        .await;
    shoot(&b, "tatra-settings", 1280, 800, "INVALID_WEBHOOK_URL").await;
    b.close().await;
    bank.stop().await;
}
