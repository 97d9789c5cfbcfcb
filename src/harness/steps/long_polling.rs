//! Long polls (R8936-07/08/18, AP-08): a long poll held while an event happens, and how long
//! the bank held or answered it.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use cucumber::{then, when};
use reqwest::Method;

use super::params::Tpp;
use crate::harness::client::Request;
use crate::harness::context::Purpose;
use crate::harness::world::{HarnessWorld, StepResult, Triggered};

#[when(expr = "TPP {tpp} long-polls while an event happens {int} ms later")]
async fn long_poll_with_event(w: &mut HarnessWorld, tpp: Tpp, delay_ms: u64) -> StepResult {
    w.ensure_drained(&tpp.0).await?;
    let ctx = w.ctx()?;
    let t = w.default_event_type()?;
    let token = w.token(&tpp.0, Purpose::Polling).await?;
    let trigger_token = w.token(&tpp.0, Purpose::Events).await?;
    let state = w.tpp(&tpp.0).await?;
    let request = crate::harness::trigger::TriggerRequest {
        tpp_name: tpp.0.clone(),
        client_id: state.id.client_id.clone(),
        event_type: t.clone(),
        resource_id: format!("obevents-{}", uuid::Uuid::new_v4()),
        resource_type: ctx.profile.trigger_resource_type.clone(),
        access_token: Some(trigger_token),
        dialect_type: None,
        client_secret: None,
        extra: Vec::new(),
    };
    let req = Request::new(Method::POST, ctx.api_url("/events"))
        .header("Accept", "application/json")
        .header("Authorization", format!("Bearer {token}"))
        .raw(
            "application/json",
            br#"{"returnImmediately":false}"#.to_vec(),
        );
    let http = ctx.http.clone();
    let fire = async {
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        // The event happens while the trigger request is in flight; its start is the earliest
        // moment a correct bank could answer the held poll with it.
        let started = Instant::now();
        (ctx.fire(&request).await, started)
    };
    let (ex, (outcome, fired_at)) = tokio::join!(crate::harness::client::send(&http, req), fire);
    let outcome = outcome?;
    if let Some(trig) = outcome.exchange {
        w.evidence.push(trig);
    }
    w.triggered.push(Triggered {
        tpp: tpp.0.clone(),
        event_type: t,
        resource_id: request.resource_id,
        key: outcome.jti,
        expected: true,
    });
    w.event_fired_at = Some(fired_at);
    if let Some(e) = &ex.error {
        return Err(format!("the long poll failed: {e}"));
    }
    w.record(ex.clone());
    w.last_caller = Some(tpp.0.clone());
    w.check_poll(&tpp.0, &ex, true).await?;
    w.assign_keys(&tpp.0, &HashSet::new());
    Ok(())
}

#[then(expr = "the poll was answered within {int} ms")]
async fn answered_within(w: &mut HarnessWorld, ms: u64) -> StepResult {
    let ex = w.last()?;
    if ex.elapsed() <= Duration::from_millis(ms) {
        return Ok(());
    }
    // An acknowledge-only poll (`maxEvents: 0`) is answered at once (AP-14); held, it was
    // treated as asking for SETs: the maxEvents rule's defect.
    let rules = if super::polling::asked_for_none(w) {
        "AP-14/AP-07"
    } else {
        "R8936-07/R8936-18"
    };
    Err(format!(
        "{rules}: the poll took {} ms, more than {ms} ms",
        ex.elapsed_ms
    ))
}

#[then(expr = "the poll was held for at least {int}% of the bank's long-poll timeout")]
async fn held(w: &mut HarnessWorld, pct: u64) -> StepResult {
    let timeout = w.ctx()?.profile.bank.long_poll_timeout;
    let min = timeout.mul_f64(pct as f64 / 100.0);
    let ex = w.last()?;
    if ex.elapsed() >= min {
        Ok(())
    } else {
        Err(w.excuse(format!(
            "R8936-08: a long poll with nothing awaiting was answered after {} ms; the bank documents a {} ms hold",
            ex.elapsed_ms,
            timeout.as_millis()
        )))
    }
}

#[then(expr = "the held poll was answered within {int} ms of the event")]
async fn answered_after_event(w: &mut HarnessWorld, ms: u64) -> StepResult {
    let fired = w
        .event_fired_at
        .ok_or("no event was fired during a long poll")?;
    let ex = w.last()?;
    let finished = ex.finished.ok_or("the poll did not finish")?;
    let delta = finished.saturating_duration_since(fired);
    if finished < fired {
        return Err(w.excuse(format!(
            "R8936-08: the long poll was answered {} ms before the event happened",
            fired.duration_since(finished).as_millis()
        )));
    }
    if delta <= Duration::from_millis(ms) {
        Ok(())
    } else {
        Err(format!(
            "R8936-08: the held poll was answered {} ms after the event, more than {ms} ms",
            delta.as_millis()
        ))
    }
}
