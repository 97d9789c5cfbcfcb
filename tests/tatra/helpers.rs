//! Helpers of the Tatra tests: a tatra bank with quick timers, an application's calls with HTTP
//! Basic, settings, consents, triggers, and the dialect's error shape.

#![allow(dead_code)]

use std::time::Duration;

use obevents::sandbox::config::Activation;
use obevents::sandbox::faults::{Fault, Faults};
use obevents::sandbox::{Bank, SandboxConfig};
use reqwest::Method;
use serde_json::{Value, json};

use crate::common::*;

pub const V1: &str = "/premium/sandbox/v1";
/// Per-bank refresh delay of the test banks.
pub const DELAY: Duration = Duration::from_millis(120);
pub const HEADER: &str = "Basic dXNlcjpwYXNzd29yZA==";

/// The tatra config with quick retries (`retry_ms`), a short refresh delay and `faults`.
pub fn tatra_config(faults: &[Fault], retry_ms: &[u64]) -> SandboxConfig {
    let mut c = config(Bank::Tatra);
    c.push.retry_schedule = retry_ms.iter().map(|&m| Duration::from_millis(m)).collect();
    c.push.request_timeout = Duration::from_secs(2);
    c.tatra.refresh_delay = DELAY;
    c.faults = Faults::new(faults.iter().copied());
    c
}

pub async fn tatra_bank(faults: &[Fault]) -> TestBank {
    TestBank::start(tatra_config(faults, &[50, 100])).await
}

pub async fn immediate_bank() -> TestBank {
    let mut c = tatra_config(&[], &[50, 100]);
    c.tatra.activation = Activation::Immediate;
    TestBank::start(c).await
}

/// A request of the application `tpp` with HTTP Basic credentials.
pub fn basic(bank: &TestBank, tpp: &Tpp, method: Method, path: &str) -> reqwest::RequestBuilder {
    bank.request(method, path)
        .basic_auth(&tpp.client_id, Some(&tpp.client_secret))
}

pub async fn get(bank: &TestBank, tpp: &Tpp, path: &str) -> Resp {
    Resp::of(basic(bank, tpp, Method::GET, path)).await
}

pub async fn put_settings(bank: &TestBank, tpp: &Tpp, body: Value) -> Resp {
    Resp::of(basic(bank, tpp, Method::PUT, &format!("{V1}/webhook-settings")).json(&body)).await
}

pub async fn activate(bank: &TestBank, tpp: &Tpp) -> Resp {
    Resp::of(basic(
        bank,
        tpp,
        Method::POST,
        "/sandbox/tatra/webhook-settings/activate",
    ))
    .await
}

/// Enables webhooks to `url` with `header` and activates them now.
pub async fn enable(bank: &TestBank, tpp: &Tpp, url: &str, header: &str) {
    put_settings(
        bank,
        tpp,
        json!({"enabled": true, "url": url, "securityHeader": header}),
    )
    .await
    .expect(200);
    activate(bank, tpp).await.expect(200);
}

/// A consent with one account per bank code (`None`: the default mix).
pub async fn consent(bank: &TestBank, tpp: &Tpp, banks: Option<&[&str]>) -> Value {
    let mut rb =
        basic(bank, tpp, Method::POST, &format!("{V1}/consents")).header("X-Request-ID", "req-1");
    if let Some(banks) = banks {
        let accounts: Vec<Value> = banks.iter().map(|b| json!({"bankCode": b})).collect();
        rb = rb.json(&json!({ "accounts": accounts }));
    }
    let r = Resp::of(rb).await;
    r.expect(201);
    r.json()
}

pub fn account_ids(consent: &Value, bank: &str) -> Vec<String> {
    consent["accounts"]
        .as_array()
        .expect("accounts")
        .iter()
        .filter(|a| a["bankCode"] == bank)
        .map(|a| a["accountId"].as_str().expect("accountId").to_string())
        .collect()
}

pub fn id(v: &Value, field: &str) -> String {
    v[field].as_str().expect(field).to_string()
}

pub async fn transaction(bank: &TestBank, tpp: &Tpp, body: Value) -> Resp {
    Resp::of(basic(bank, tpp, Method::POST, "/sandbox/tatra/transactions").json(&body)).await
}

pub async fn refresh(bank: &TestBank, tpp: &Tpp, consent_id: &str) -> Resp {
    Resp::of(basic(
        bank,
        tpp,
        Method::PUT,
        &format!("{V1}/consents/{consent_id}/refresh"),
    ))
    .await
}

/// `{"errorCode": code, "errorDescription": "…"}` with `status`.
pub fn assert_error(r: &Resp, status: u16, code: &str) {
    r.expect(status);
    let e = r.json();
    assert_eq!(e["errorCode"], code, "{e}");
    assert!(
        e["errorDescription"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{e}"
    );
}

/// A webhook's JSON body.
pub fn body(r: &Received) -> Value {
    serde_json::from_slice(&r.body).expect("a JSON webhook body")
}

/// Waits `d` and says how many requests the receiver has had by then.
pub async fn count_after(receiver: &Receiver, d: Duration) -> usize {
    tokio::time::sleep(d).await;
    receiver.received().len()
}

/// A bank with `faults`, an application with enabled, active webhooks to a receiver answering
/// `script` (then 202), and a default consent.
pub async fn ready(faults: &[Fault], script: &[u16]) -> (TestBank, Tpp, Receiver, Value) {
    let receiver = Receiver::start(script).await;
    let bank = tatra_bank(faults).await;
    let tpp = bank.tpp().await;
    enable(&bank, &tpp, &receiver.url, HEADER).await;
    let c = consent(&bank, &tpp, None).await;
    (bank, tpp, receiver, c)
}
