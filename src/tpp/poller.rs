//! The reference TPP's polling client (`obevents tpp poll`): an OBIE aggregated-polling /
//! RFC 8936 recipient. It gets a token by client credentials, polls `POST /events` with
//! `returnImmediately: true`, verifies each SET as the push receiver does ([`verify`]: JWKS,
//! issuer, audience, OB `crit`), acknowledges the valid ones in its next poll (`ack`), reports
//! the others in `setErrs` with an RFC 8935 code and `Content-Language`, follows
//! `moreAvailable` at once, waits `Retry-After` after a 429, fetches a new token after a 401,
//! waits its pace after an empty answer, and records each valid jti once (the processed file).
//! A request is resent with its acknowledgements until one is answered 200. Polling [`faults`]
//! make it misbehave one rule at a time.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Map, Value, json};
use tokio_util::sync::CancellationToken;

use super::faults::{TppFault, TppFaults};
use super::verify::{self, Expect, Keys};

/// How the polling client reaches the bank.
#[derive(Debug, Clone)]
pub struct PollerConfig {
    pub events_url: String,
    pub token_url: String,
    pub client_id: String,
    pub client_secret: String,
    /// The scope asked for at the token endpoint.
    pub scope: String,
    pub jwks_url: String,
    pub expect: Expect,
    /// The wait after an empty answer.
    pub pace: Duration,
    /// Long-poll (`returnImmediately: false`): the bank's hold paces the polls, no wait.
    pub long_poll: bool,
    /// The file processed jtis are appended to.
    pub processed: Option<PathBuf>,
    pub faults: TppFaults,
}

/// What the client still owes the bank, and what it did.
#[derive(Default)]
struct State {
    token: Option<String>,
    ack: Vec<String>,
    errs: Map<String, Value>,
    processed: HashSet<String>,
    dead_retries: u32,
}

/// Runs the client until `stop` is cancelled.
pub fn spawn(cfg: PollerConfig, stop: CancellationToken) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        // Before the first poll (see jose::ready): verifying its page must not wait for the
        // one-time OpenSSL pass, or "follows moreAvailable at once" would measure that wait.
        if let Ok(Err(e)) = tokio::task::spawn_blocking(crate::jose::ready).await {
            tracing::warn!("reference poller: cannot warm up the JOSE stack: {e}");
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap_or_default();
        let keys = Keys::new(cfg.jwks_url.clone());
        let mut st = State::default();
        loop {
            let wait = tokio::select! {
                w = round(&cfg, &http, &keys, &mut st) => w,
                () = stop.cancelled() => break,
            };
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = stop.cancelled() => break,
            }
        }
    })
}

/// One poll (getting a token first if needed); how long to wait before the next.
async fn round(
    cfg: &PollerConfig,
    http: &reqwest::Client,
    keys: &Keys,
    st: &mut State,
) -> Duration {
    let token = match &st.token {
        Some(t) => t.clone(),
        None => match fetch_token(cfg, http).await {
            Ok(t) => {
                st.token = Some(t.clone());
                t
            }
            Err(e) => {
                tracing::warn!("reference poller: no token: {e}");
                return cfg.pace;
            }
        },
    };
    let answer = http
        .post(&cfg.events_url)
        .bearer_auth(&token)
        .header("x-fapi-interaction-id", uuid::Uuid::new_v4().to_string())
        .header("content-language", "en")
        .json(&request_body(cfg, st))
        .send()
        .await;
    let answer = match answer {
        Ok(a) => a,
        Err(e) => {
            tracing::warn!("reference poller: poll failed: {e}");
            return cfg.pace;
        }
    };
    match answer.status().as_u16() {
        200 | 201 => {
            st.ack.clear();
            st.errs.clear();
            let body: Value = answer.json().await.unwrap_or_default();
            took(cfg, keys, st, &body).await
        }
        429 => retry_after(cfg, &answer),
        401 => {
            if cfg.faults.has(TppFault::RetriesDeadToken) && st.dead_retries < 5 {
                st.dead_retries += 1;
            } else {
                st.token = None;
                st.dead_retries = 0;
            }
            Duration::ZERO
        }
        _ => cfg.pace,
    }
}

/// The poll's body: what is owed, as the faults allow.
fn request_body(cfg: &PollerConfig, st: &State) -> Value {
    let mut body = json!({"returnImmediately": !cfg.long_poll});
    let mut ack = st.ack.clone();
    if cfg.faults.has(TppFault::AcksUnservedJti) {
        ack.push(uuid::Uuid::new_v4().to_string());
    }
    if !ack.is_empty() {
        let member = if cfg.faults.has(TppFault::UsesAcksMember) {
            "acks"
        } else {
            "ack"
        };
        body[member] = json!(ack);
    }
    if !st.errs.is_empty() {
        body["setErrs"] = Value::Object(st.errs.clone());
    }
    body
}

/// Verifies and records what an answer served; the wait before the next poll.
async fn took(cfg: &PollerConfig, keys: &Keys, st: &mut State, body: &Value) -> Duration {
    let sets = body["sets"].as_object().cloned().unwrap_or_default();
    let more = body["moreAvailable"].as_bool() == Some(true);
    let none = TppFaults::default();
    for (jti, set) in &sets {
        let text = set.as_str().unwrap_or_default();
        let checked = verify::check(
            keys,
            &cfg.expect,
            &none,
            Some("application/jwt"),
            text.as_bytes(),
        )
        .await;
        match checked {
            Ok(_) => {
                if !cfg.faults.has(TppFault::NeverAcks) {
                    st.ack.push(jti.clone());
                }
                if st.processed.insert(jti.clone()) {
                    record(cfg, jti);
                }
            }
            Err(r) => {
                tracing::info!(
                    "reference poller: reporting {jti} in setErrs: {} ({})",
                    r.err,
                    r.description
                );
                let err = if cfg.faults.has(TppFault::WrongSetErrCode) {
                    "bad_signature"
                } else {
                    r.err
                };
                st.errs.insert(
                    jti.clone(),
                    json!({"err": err, "description": r.description}),
                );
                if cfg.faults.has(TppFault::AcksBadSignature) {
                    st.ack.push(jti.clone());
                }
            }
        }
    }
    if cfg.faults.has(TppFault::IgnoresMoreAvailable) {
        return cfg.pace;
    }
    let owes = !st.ack.is_empty() || !st.errs.is_empty();
    if more || owes {
        return Duration::ZERO;
    }
    if sets.is_empty() && cfg.faults.has(TppFault::HotLoopEmptyPolls) {
        return Duration::from_millis(5);
    }
    if cfg.long_poll {
        return Duration::ZERO;
    }
    cfg.pace
}

fn retry_after(cfg: &PollerConfig, answer: &reqwest::Response) -> Duration {
    if cfg.faults.has(TppFault::IgnoresRetryAfter) {
        return Duration::from_millis(50);
    }
    let secs = answer
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(1);
    Duration::from_secs(secs.min(300))
}

fn record(cfg: &PollerConfig, jti: &str) {
    if let Some(path) = &cfg.processed {
        super::receiver::append_processed(path, jti);
    }
}

async fn fetch_token(cfg: &PollerConfig, http: &reqwest::Client) -> Result<String, String> {
    let form = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "client_credentials")
        .append_pair("scope", &cfg.scope)
        .finish();
    let answer = http
        .post(&cfg.token_url)
        .basic_auth(&cfg.client_id, Some(&cfg.client_secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = answer.status();
    let body: Value = answer.json().await.map_err(|e| e.to_string())?;
    body["access_token"]
        .as_str()
        .map(String::from)
        .ok_or_else(|| format!("{status}: {body}"))
}
