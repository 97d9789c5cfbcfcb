//! Real-time push (R-02..R-09, RFC 8935): the TPP's receiver and its scripted answers,
//! subscriptions with a CallbackUrl, and what the bank's pushes must look like and when they
//! must (and must not) arrive. Timing is judged against the bank's declared `[push]` policy.
//! This module holds the scene (answers, subscriptions, events); [`arrivals`] judges what a
//! push looks like, [`retries`] when pushes come and stop.

use std::time::Duration;

use cucumber::{given, when};

use super::params::Tpp;
use super::setup::nth_trigger_type;
use crate::harness::outcome::BLOCKED;
use crate::harness::profile::{Conformance, Dialect, PendingRetries, PushPolicy};
use crate::harness::receiver::{Answer, Received};
use crate::harness::world::{HarnessWorld, StepResult, event_id, label};

mod arrivals;
mod retries;

fn policy(w: &HarnessWorld) -> Result<PushPolicy, String> {
    Ok(w.ctx()?.profile.push.clone())
}

fn declared_attempts(p: &PushPolicy) -> Result<usize, String> {
    p.max_attempts
        .map(|n| n as usize)
        .ok_or_else(|| "the profile declares no push.max_attempts".to_string())
}

/// The rules a push check is charged to, per dialect: OBIE's R-xx, Yapily's YA-xx, Tatra's TB-xx.
struct Rules {
    /// What the dialect calls the URL pushes go to, for messages.
    endpoint: &'static str,
    deliver: &'static str,
    retry: &'static str,
    ack: &'static str,
    isolation: &'static str,
    stop: &'static str,
}

fn rules(w: &HarnessWorld) -> Rules {
    let dialect = w.ctx().map(|c| c.profile.dialect).unwrap_or(Dialect::Obie);
    let rfc = w
        .ctx()
        .is_ok_and(|c| c.profile.conformance == Conformance::Rfc8936);
    match dialect {
        // RFC 8935: a transmitter POSTs SETs to the URI its recipient supplied (§2.1) — none
        // where none is (another's, a deleted or moved one) — and retries only what may
        // recover (§2, R8935-15); a 202 is the recipient's acknowledgement.
        Dialect::Obie if rfc => Rules {
            endpoint: "endpoint",
            deliver: "R8935-01",
            retry: "R8935-15",
            ack: "R8935-15",
            isolation: "R8935-01",
            stop: "R8935-01",
        },
        Dialect::Yapily => Rules {
            endpoint: "webhook URL",
            deliver: "YA-11",
            retry: "YA-09",
            ack: "YA-10",
            isolation: "YA-12",
            stop: "YA-06",
        },
        // A Tatra-style delivery is a transactionEvent or accountEvent (TB-06); retry and
        // acknowledgement are TB-11; webhooks stop when disabled (TB-05).
        Dialect::Tatra => Rules {
            endpoint: "webhook endpoint",
            deliver: "TB-06",
            retry: "TB-11",
            ack: "TB-11",
            isolation: "TB-10",
            stop: "TB-05",
        },
        Dialect::Obie | Dialect::Wso2 => Rules {
            endpoint: "CallbackUrl",
            deliver: "R-02",
            retry: "R-08",
            ack: "R-05",
            isolation: "R-02",
            stop: "R-02",
        },
    }
}

fn ms(d: Duration) -> u128 {
    d.as_millis()
}

// ---- the receiver's answers --------------------------------------------------------------------

#[given(expr = "TPP {tpp}'s receiver accepts every push")]
async fn accepts(w: &mut HarnessWorld, tpp: Tpp) -> StepResult {
    w.script(&tpp.0, &label(&tpp.0, false), vec![], Answer::Status(202))
        .await
}

#[given(expr = "TPP {tpp}'s second receiver accepts every push")]
async fn second_accepts(w: &mut HarnessWorld, tpp: Tpp) -> StepResult {
    w.script(&tpp.0, &label(&tpp.0, true), vec![], Answer::Status(202))
        .await
}

#[given(expr = "TPP {tpp}'s receiver answers {int} to every push")]
async fn answers_always(w: &mut HarnessWorld, tpp: Tpp, status: u16) -> StepResult {
    w.script(
        &tpp.0,
        &label(&tpp.0, false),
        vec![],
        Answer::Status(status),
    )
    .await
}

/// 503 to the first two attempts (fewer when the bank declares fewer retries), then 202.
#[given(expr = "TPP {tpp}'s receiver answers 503 to the first two attempts, then 202")]
async fn answers_503_twice(w: &mut HarnessWorld, tpp: Tpp) -> StepResult {
    let failures = declared_attempts(&policy(w)?)?.saturating_sub(1).min(2);
    let script = vec![Answer::Status(503); failures];
    w.script(&tpp.0, &label(&tpp.0, false), script, Answer::Status(202))
        .await
}

#[given(expr = "TPP {tpp}'s receiver holds its first answer past the bank's request timeout")]
async fn holds_first(w: &mut HarnessWorld, tpp: Tpp) -> StepResult {
    let p = policy(w)?;
    let timeout = p
        .request_timeout
        .ok_or("the profile declares no push.request_timeout_ms")?;
    let hold = Answer::Hold(timeout + p.slack);
    w.script(
        &tpp.0,
        &label(&tpp.0, false),
        vec![hold],
        Answer::Status(202),
    )
    .await
}

// ---- subscriptions -----------------------------------------------------------------------------

#[given(expr = "TPP {tpp} is subscribed for push to its receiver")]
async fn subscribed_push(w: &mut HarnessWorld, tpp: Tpp) -> StepResult {
    w.subscribe_push(&tpp.0, &label(&tpp.0, false), None).await
}

#[given(
    expr = "TPP {tpp} is subscribed for push to its receiver for the first triggerable type only"
)]
async fn subscribed_push_first(w: &mut HarnessWorld, tpp: Tpp) -> StepResult {
    let first = w
        .ctx()?
        .profile
        .trigger_types
        .first()
        .cloned()
        .ok_or("the profile's trigger produces no event types")?;
    w.subscribe_push(&tpp.0, &label(&tpp.0, false), Some(vec![first]))
        .await
}

#[when(expr = "TPP {tpp} removes the CallbackUrl from its subscription")]
async fn removes_callback(w: &mut HarnessWorld, tpp: Tpp) -> StepResult {
    w.replace_callback(&tpp.0, None).await
}

#[when(expr = "TPP {tpp} changes its subscription to the second triggerable type only")]
async fn changes_types(w: &mut HarnessWorld, tpp: Tpp) -> StepResult {
    let second = nth_trigger_type(w, 1)?;
    let url = w.mailbox(&tpp.0, &label(&tpp.0, false)).await?.url;
    w.replace_push_subscription(&tpp.0, Some(&url), Some(vec![second]))
        .await
}

#[when(expr = "TPP {tpp} moves its CallbackUrl to its second receiver")]
async fn moves_callback(w: &mut HarnessWorld, tpp: Tpp) -> StepResult {
    let url = w.mailbox(&tpp.0, &label(&tpp.0, true)).await?.url;
    w.replace_callback(&tpp.0, Some(&url)).await
}

// ---- events ------------------------------------------------------------------------------------

#[when(expr = "an event is triggered for TPP {tpp}")]
async fn triggered(w: &mut HarnessWorld, tpp: Tpp) -> StepResult {
    let t = w.default_event_type()?;
    w.fire(&tpp.0, t, true).await
}

#[when(expr = "an event of the second triggerable type is triggered for TPP {tpp}")]
async fn triggered_second(w: &mut HarnessWorld, tpp: Tpp) -> StepResult {
    let t = nth_trigger_type(w, 1)?;
    w.fire(&tpp.0, t, false).await
}

/// An event after the subscription changed: raised for the TPP, but not expected anywhere (a
/// push of it is what the scenario watches for; it is not polled for).
#[when(expr = "a new event is raised for TPP {tpp}")]
async fn raised_after_change(w: &mut HarnessWorld, tpp: Tpp) -> StepResult {
    let t = w.default_event_type()?;
    w.fire(&tpp.0, t, false).await
}

#[when(expr = "a new event of the first triggerable type is raised for TPP {tpp}")]
async fn raised_first_after_change(w: &mut HarnessWorld, tpp: Tpp) -> StepResult {
    let t = nth_trigger_type(w, 0)?;
    w.fire(&tpp.0, t, false).await
}

/// Waits for the first push to `tpp`'s receiver and checks it carries an event of `tpp`'s.
async fn first_push(w: &mut HarnessWorld, tpp: &str) -> Result<Vec<Received>, String> {
    let p = policy(w)?;
    let got = w
        .await_pushes(&label(tpp, false), 1, p.first_push_timeout)
        .await?;
    if got.is_empty() {
        let r = rules(w);
        return Err(format!(
            "{}: no push reached TPP {tpp}'s {} within {} ms of the trigger \
             (push.first_push_timeout_ms)",
            r.deliver,
            r.endpoint,
            ms(p.first_push_timeout)
        ));
    }
    // A push addressed to someone else was answered 202 outside the scenario's script (so a
    // misdirected push cannot take a scripted answer): what the bank did next says nothing
    // of its policy. The addressing itself is judged where it is checked (its finding).
    if got.iter().any(|r| r.misdirected) {
        return Err(format!(
            "{}the pushes to TPP {tpp}'s {} are addressed to someone other than TPP {tpp} (see \
             the aud finding); the receiver acknowledged them outside this scenario's script, \
             so the policy it watches could not be observed",
            crate::harness::outcome::BLOCKED,
            rules(w).endpoint
        ));
    }
    Ok(got)
}

fn one_line(text: &str) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() > 160 {
        format!("{}…", flat.chars().take(160).collect::<String>())
    } else {
        flat
    }
}
