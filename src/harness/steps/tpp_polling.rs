//! A TPP's polling client (`features/tpp_polling.feature`): the referee's polling session has
//! run against the client (see `referee::poll_script`), and each scenario judges one duty of
//! an OBIE / RFC 8936 polling recipient over the referee's request log
//! (`referee::poll_judge`). The session runs once per run, from the moment the client starts;
//! every scenario waits for it to be complete (or for `[polling] session_timeout_ms`).

use std::sync::Arc;

use cucumber::{given, then};

use crate::harness::client::Exchange;
use crate::harness::profile::tpp_polling::PollingClient;
use crate::harness::referee::poll_judge;
use crate::harness::referee::polling::{Logged, PollingReferee, Record};
use crate::harness::world::{HarnessWorld, StepResult};

fn poller(w: &HarnessWorld) -> Result<(Arc<PollingReferee>, PollingClient), String> {
    let run = w.tpp_run()?;
    match (&run.polling, &run.profile.polling) {
        (Some(p), Some(c)) => Ok((p.clone(), c.clone())),
        _ => Err("blocked: the TPP profile has no [polling] section".into()),
    }
}

#[given("the TPP's polling client has been through the referee's polling session")]
async fn session(w: &mut HarnessWorld) -> StepResult {
    let (p, c) = poller(w)?;
    // An incomplete session is judged on what happened: each judgment blocks where it lacks
    // what it needs.
    if !p.wait_complete(c.session_timeout).await {
        tracing::info!("the polling session did not complete within the session timeout");
    }
    Ok(())
}

/// How many of the client's requests a scenario keeps as evidence.
const EVIDENCE: usize = 40;

/// A logged request as report evidence: what the client sent (its token by issue order) and
/// what the referee served.
fn exchange(base: &str, l: &Logged) -> Exchange {
    let mut request_headers = vec![("authorization".to_string(), format!("{:?}", l.token))];
    for (k, v) in [
        ("x-fapi-interaction-id", &l.interaction_id),
        ("content-type", &l.content_type),
    ] {
        if let Some(v) = v {
            request_headers.push((k.to_string(), v.clone()));
        }
    }
    let served = serde_json::json!({
        "served": l.served,
        "moreAvailable": l.more_available,
        "retryAfter": l.retry_after,
    });
    Exchange {
        method: l.method.clone(),
        url: format!("{base}{}", l.path),
        request_headers,
        request_body: l.body.as_ref().map(|b| b.to_string()),
        status: Some(l.status),
        response_headers: Vec::new(),
        response_body: served.to_string(),
        error: None,
        elapsed_ms: l.answered.saturating_sub(l.at).as_millis() as u64,
        decoded_sets: Vec::new(),
        started: None,
        finished: None,
    }
}

/// Runs `judge` over the record and keeps the requests it saw as evidence.
fn judged(
    w: &mut HarnessWorld,
    judge: impl FnOnce(&Record, &PollingClient) -> Result<(), String>,
) -> StepResult {
    let (p, c) = poller(w)?;
    let (verdict, evidence) = p.with_record(|r| {
        let evidence: Vec<Exchange> = r
            .log
            .iter()
            .filter(|l| l.is_poll() || l.path == "/token")
            .take(EVIDENCE)
            .map(|l| exchange(&p.url, l))
            .collect();
        (judge(r, &c), evidence)
    })?;
    for ex in evidence {
        w.record(ex);
    }
    verdict
}

#[then("every valid SET served is acknowledged in the next successful polls")]
async fn acknowledged(w: &mut HarnessWorld) -> StepResult {
    judged(w, |r, _| poll_judge::acknowledged(r))
}

#[then("no poll acknowledges or reports a jti the referee did not serve")]
async fn only_served(w: &mut HarnessWorld) -> StepResult {
    judged(w, |r, _| poll_judge::only_served(r))
}

#[then("the SET with a bad signature is never acknowledged")]
async fn bad_never_acked(w: &mut HarnessWorld) -> StepResult {
    judged(w, |r, _| poll_judge::bad_never_acked(r))
}

#[then("the SET with a bad signature is reported in setErrs with an err of the declared family")]
async fn bad_reported(w: &mut HarnessWorld) -> StepResult {
    judged(w, poll_judge::bad_reported)
}

#[then("the SET served again after its acknowledgement is acknowledged again")]
async fn repeat_reacked(w: &mut HarnessWorld) -> StepResult {
    judged(w, |r, _| poll_judge::repeat_reacked(r))
}

#[then("every poll is an application/json OBEventPolling1 with no unknown members")]
async fn bodies_valid(w: &mut HarnessWorld) -> StepResult {
    let schemas = w.ctx()?.schemas.clone();
    judged(w, |r, _| poll_judge::bodies_valid(r, &schemas))
}

#[then("every answer with moreAvailable true is followed by a poll at once")]
async fn follows_more(w: &mut HarnessWorld) -> StepResult {
    judged(w, poll_judge::follows_more)
}

#[then("the poll after the 429 comes no sooner than its Retry-After")]
async fn retry_after(w: &mut HarnessWorld) -> StepResult {
    judged(w, |r, _| poll_judge::honours_retry_after(r))
}

#[then("after the 401 the client polls with a new token and does not repeat the refused one")]
async fn renews_token(w: &mut HarnessWorld) -> StepResult {
    judged(w, |r, _| poll_judge::renews_token(r))
}

#[then("every empty short poll is followed by the declared wait")]
async fn paces_empty(w: &mut HarnessWorld) -> StepResult {
    judged(w, poll_judge::paces_empty)
}

#[then("every poll carries a token from the token endpoint with a scope POST /events accepts")]
async fn token_and_scope(w: &mut HarnessWorld) -> StepResult {
    judged(w, |r, _| poll_judge::token_and_scope(r))
}

#[then("every x-fapi-interaction-id the client sends is an RFC 4122 UUID")]
async fn interaction_ids(w: &mut HarnessWorld) -> StepResult {
    judged(w, |r, _| poll_judge::interaction_ids(r))
}
