//! Real-time push (R-02..R-09, RFC 8935): the TPP's receiver and its scripted answers,
//! subscriptions with a CallbackUrl, and what the bank's pushes must look like and when they
//! must (and must not) arrive. Timing is judged against the bank's declared `[push]` policy.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use cucumber::{given, then, when};

use super::params::Tpp;
use super::setup::nth_trigger_type;
use crate::harness::outcome::BLOCKED;
use crate::harness::profile::{Conformance, Dialect, PendingRetries, PushPolicy};
use crate::harness::receiver::{Answer, Received};
use crate::harness::world::{HarnessWorld, StepResult, event_id, label};

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

// ---- what arrives ------------------------------------------------------------------------------

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
    Ok(got)
}

#[then(expr = "TPP {tpp}'s receiver gets a first attempt")]
async fn gets_first(w: &mut HarnessWorld, tpp: Tpp) -> StepResult {
    first_push(w, &tpp.0).await.map(|_| ())
}

#[then(expr = "TPP {tpp}'s receiver gets a push of the triggered event")]
async fn gets_push(w: &mut HarnessWorld, tpp: Tpp) -> StepResult {
    first_push(w, &tpp.0).await?;
    // Without a jti from the trigger or a resource id in the SET, any SET addressed to the TPP
    // (a foreign one is already an R-02 finding) has to stand for the triggered event.
    let rid_known = w.ctx()?.trigger_uses_resource_id();
    let ours: Vec<_> = w
        .triggered
        .iter()
        .filter(|t| t.tpp == tpp.0 && t.expected && (t.key.is_some() || rid_known))
        .cloned()
        .collect();
    let pushed: Vec<_> = w
        .sets
        .iter()
        .map(|s| (s.id().to_string(), s.claims.clone()))
        .collect();
    for t in &ours {
        if !pushed.iter().any(|(k, c)| w.matches(t, k, c)) {
            return Err(format!(
                "R-02: the pushes to TPP {} carry no SET of the triggered {} event (resource {})",
                tpp.0, t.event_type, t.resource_id
            ));
        }
    }
    Ok(())
}

fn every_push(
    w: &HarnessWorld,
    tpp: &str,
    check: impl Fn(&Received) -> Option<String>,
) -> StepResult {
    let m = w
        .mailboxes
        .get(&label(tpp, false))
        .ok_or("no push was awaited in this scenario")?;
    let got = &m.kept;
    if got.is_empty() {
        return Err(format!("R-02: no push reached TPP {tpp}'s CallbackUrl"));
    }
    let problems: Vec<String> = got
        .iter()
        .enumerate()
        // The rule leads each line, so the failure is charged to it (not to every rule of the
        // scenario).
        .filter_map(|(i, r)| check(r).map(|p| format!("{p} (push {})", i + 1)))
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

fn media_type(r: &Received) -> String {
    r.header("content-type")
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

#[then(expr = "every push to TPP {tpp} is a POST of a compact SET with no bearer token")]
async fn post_compact(w: &mut HarnessWorld, tpp: Tpp) -> StepResult {
    let rfc = w.ctx()?.profile.conformance == Conformance::Rfc8936;
    every_push(w, &tpp.0, |r| {
        let segments = r.body_text().trim().split('.').count();
        if r.method != "POST" {
            Some(format!("R8935-01: sent with {}, not POST", r.method))
        } else if segments != 3 && segments != 5 {
            Some(format!(
                "R8935-04: the body is not a compact JWT (it has {segments} dot-separated parts): {}",
                one_line(&r.body_text())
            ))
        } else if !rfc && r.header("authorization").is_some() {
            Some("R-04: carries an Authorization header; pushes to a TPP carry no token".into())
        } else {
            None
        }
    })
}

#[then(expr = "every push to TPP {tpp} has the SET media type")]
async fn media(w: &mut HarnessWorld, tpp: Tpp) -> StepResult {
    let rfc = w.ctx()?.profile.conformance == Conformance::Rfc8936;
    every_push(w, &tpp.0, |r| {
        let got = media_type(r);
        match (rfc, got.as_str()) {
            (false, "application/jwt") | (true, "application/secevent+jwt") => None,
            (false, _) => Some(format!(
                "R-04: Content-Type is {got:?}; OBIE pushes the SET as application/jwt"
            )),
            (true, _) => Some(format!(
                "R8935-02: Content-Type is {got:?}, not application/secevent+jwt"
            )),
        }
    })
}

#[then(expr = "every push to TPP {tpp} carries an x-fapi-interaction-id")]
async fn interaction_id(w: &mut HarnessWorld, tpp: Tpp) -> StepResult {
    every_push(w, &tpp.0, |r| match r.header("x-fapi-interaction-id") {
        Some(v) if !v.trim().is_empty() => None,
        _ => Some("R-04: no x-fapi-interaction-id (the TPP must play it back, R-05)".into()),
    })
}

#[then(expr = "every push to TPP {tpp} went to its registered CallbackUrl unchanged")]
async fn unchanged_url(w: &mut HarnessWorld, tpp: Tpp) -> StepResult {
    let m = w
        .mailboxes
        .get(&label(&tpp.0, false))
        .cloned()
        .ok_or("no receiver was opened in this scenario")?;
    let registered = url::Url::parse(&m.url)
        .map(|u| u.path().to_string())
        .map_err(|e| e.to_string())?;
    every_push(w, &tpp.0, |r| {
        (r.path != registered).then(|| {
            format!(
                "R-03: sent to {} although the registered CallbackUrl is {}",
                r.path, registered
            )
        })
    })
}

#[then(expr = "every SET pushed to TPP {tpp} passes the checks polling applies")]
async fn sets_pass(w: &mut HarnessWorld, tpp: Tpp) -> StepResult {
    let _ = tpp;
    let problems: Vec<String> = w
        .sets
        .iter()
        // The rule first, so the failure is charged to it.
        .flat_map(|s| {
            s.problems
                .iter()
                .map(move |p| format!("{p} (SET {})", s.key))
        })
        .collect();
    if w.sets.is_empty() {
        return Err("no pushed SET was received".into());
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

/// Checks the spacing of `got`'s attempts against the declared retry windows.
fn spacing_problems(p: &PushPolicy, got: &[Received], rule: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (n, pair) in got.windows(2).enumerate() {
        let gap = pair[1].at.saturating_duration_since(pair[0].at);
        let Some((lo, hi)) = p.retry_window(n) else {
            continue;
        };
        if gap < lo {
            out.push(format!(
                "{rule}: retry {} came {} ms after the attempt before it; the declared back-off \
                 asks for at least {} ms",
                n + 1,
                ms(gap),
                ms(lo)
            ));
        } else if gap > hi {
            out.push(format!(
                "{rule}: retry {} came {} ms after the attempt before it; the declared policy \
                 allows at most {} ms",
                n + 1,
                ms(gap),
                ms(hi)
            ));
        }
    }
    out
}

/// Waits for `expected` attempts at `tpp`'s receiver, judges their spacing, then watches the
/// quiet period for attempts beyond them.
async fn attempts_then_silence(w: &mut HarnessWorld, tpp: &str, expected: usize) -> StepResult {
    let p = policy(w)?;
    let r = rules(w);
    first_push(w, tpp).await?;
    let lbl = label(tpp, false);
    let got = w
        .await_pushes(&lbl, expected, p.longest_delivery() + p.slack)
        .await?;
    if got.len() < expected {
        return Err(format!(
            "{}: {} attempt(s) reached TPP {tpp}'s {}, answered {}; the declared \
             policy makes {expected} (a 5xx is retried)",
            r.retry,
            got.len(),
            r.endpoint,
            answers(&got)
        ));
    }
    let mut problems = spacing_problems(&p, &got[..expected], r.retry);
    let extra = w.quiet(&lbl, expected, None).await?;
    if !extra.is_empty() {
        let last = got[expected - 1].answered;
        problems.push(if last == Answer::Status(202) {
            format!(
                "{}: attempt {expected} was acknowledged with 202, yet the bank pushed {} more \
                 time(s)",
                r.ack,
                extra.len()
            )
        } else {
            format!(
                "{}: the bank went on after the declared maximum of {expected} attempt(s): {} \
                 more within {} ms",
                r.retry,
                extra.len(),
                ms(p.quiet_period)
            )
        });
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

fn answers(got: &[Received]) -> String {
    got.iter()
        .map(|r| match r.answered {
            Answer::Status(s) => s.to_string(),
            Answer::Hold(_) => "held".into(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[then(expr = "TPP {tpp}'s receiver gets every declared attempt, spaced as declared, then no more")]
async fn every_attempt(w: &mut HarnessWorld, tpp: Tpp) -> StepResult {
    let n = declared_attempts(&policy(w)?)?;
    attempts_then_silence(w, &tpp.0, n).await
}

#[then(expr = "TPP {tpp}'s receiver gets attempts until its 202, spaced as declared, then no more")]
async fn until_202(w: &mut HarnessWorld, tpp: Tpp) -> StepResult {
    let n = declared_attempts(&policy(w)?)?.min(3);
    attempts_then_silence(w, &tpp.0, n).await
}

#[then(expr = "TPP {tpp}'s receiver gets one push and no retry")]
async fn one_push(w: &mut HarnessWorld, tpp: Tpp) -> StepResult {
    let got = first_push(w, &tpp.0).await?;
    let r = rules(w);
    let extra = w.quiet(&label(&tpp.0, false), 1, None).await?;
    if extra.is_empty() {
        return Ok(());
    }
    let first = got.first().map(|r| r.answered);
    Err(match first {
        Some(Answer::Status(s)) if s < 300 => format!(
            "{}: the push was acknowledged with {s}, yet the bank pushed {} more time(s)",
            r.ack,
            extra.len()
        ),
        _ => format!(
            "{}: a push answered {} was retried {} time(s); the bank declares 4xx final \
             (push.retries_4xx = false)",
            r.retry,
            answers(&got[..1]),
            extra.len()
        ),
    })
}

#[then(expr = "TPP {tpp}'s receiver gets a retry after the held attempt")]
async fn retry_after_hold(w: &mut HarnessWorld, tpp: Tpp) -> StepResult {
    let p = policy(w)?;
    first_push(w, &tpp.0).await?;
    let wait = p.request_timeout.unwrap_or_default() + p.longest_delivery();
    let got = w.await_pushes(&label(&tpp.0, false), 2, wait).await?;
    if got.len() < 2 {
        return Err(format!(
            "{}: an attempt left unanswered past the bank's request timeout was not retried \
             within {} ms",
            rules(w).retry,
            ms(wait)
        ));
    }
    held_retry_spacing(&p, &got, rules(w).retry)
}

/// The retry after a timed-out attempt counts its delay from the attempt's start or from its
/// end (the bank giving up after `request_timeout_ms`): either reading is accepted, so it must
/// come no earlier than the first delay after the attempt arrived and no later than the
/// timeout plus that delay.
fn held_retry_spacing(p: &PushPolicy, got: &[Received], rule: &str) -> StepResult {
    let (Some((lo, hi)), Some(timeout)) = (p.retry_window(0), p.request_timeout) else {
        return Ok(());
    };
    let gap = got[1].at.saturating_duration_since(got[0].at);
    if gap < lo {
        return Err(format!(
            "{rule}: the retry came {} ms after the attempt that timed out began; the declared \
             back-off asks for at least {} ms",
            ms(gap),
            ms(lo)
        ));
    }
    if gap > timeout + hi {
        return Err(format!(
            "{rule}: the retry came {} ms after the attempt that timed out began; the declared \
             timeout and first delay allow at most {} ms",
            ms(gap),
            ms(timeout + hi)
        ));
    }
    Ok(())
}

#[then(expr = "TPP {tpp}'s receiver gets no push within the quiet period")]
async fn no_push(w: &mut HarnessWorld, tpp: Tpp) -> StepResult {
    let lbl = label(&tpp.0, false);
    w.mailbox(&tpp.0, &lbl).await?;
    let got = w.quiet(&lbl, 0, None).await?;
    if got.is_empty() {
        return Ok(());
    }
    let r = rules(w);
    // Another TPP's event is an isolation breach; the TPP's own unsubscribed type a routing one.
    let rule = if w.dialect_fired.iter().any(|(t, _)| *t == tpp.0)
        || w.triggered.iter().any(|t| t.tpp == tpp.0)
    {
        r.deliver
    } else {
        r.isolation
    };
    Err(format!(
        "{rule}: {} push(es) reached TPP {}'s {} although no event it subscribed to \
         happened; first: {}",
        got.len(),
        tpp.0,
        r.endpoint,
        one_line(&got[0].body_text())
    ))
}

/// When the bank accepted the scenario's change of the subscription; without one, the
/// scenario cannot judge what follows it.
fn changed_at(w: &HarnessWorld) -> Result<Instant, String> {
    w.changed_at.ok_or_else(|| {
        format!(
            "{BLOCKED}no change of the subscription was answered 2xx, so nothing after it can be \
             judged"
        )
    })
}

/// The declared `push.pending_retries`, in words, for messages.
fn declared_pending(p: &PushPolicy) -> String {
    match p.pending_retries {
        Some(PendingRetries::Cancel) => "push.pending_retries = \"cancel\"".into(),
        Some(PendingRetries::Follow) => "push.pending_retries = \"follow\"".into(),
        Some(PendingRetries::Keep) => "push.pending_retries = \"keep\"".into(),
        None => "no push.pending_retries".into(),
    }
}

/// Retries already scheduled (declared to stop) must not reach the old URL once the change was
/// answered.
#[then(expr = "TPP {tpp}'s receiver gets no push after the subscription changed")]
async fn none_after_change(w: &mut HarnessWorld, tpp: Tpp) -> StepResult {
    let p = policy(w)?;
    // An attempt already on the wire when the change was answered may still land.
    let since = changed_at(w)? + p.slack;
    let late = w.quiet(&label(&tpp.0, false), 0, Some(since)).await?;
    if late.is_empty() {
        return Ok(());
    }
    let r = rules(w);
    Err(format!(
        "{}: {} retry(ies) reached the old {} after the subscription no longer named it; the \
         bank declares {} (retries already scheduled stop); first at +{} ms after the change",
        r.retry,
        late.len(),
        r.endpoint,
        declared_pending(&p),
        ms(late[0].at.saturating_duration_since(since - p.slack))
    ))
}

/// An event raised after the change must not reach the URL the subscription no longer names
/// (retries of events from before it are left to `push.pending_retries`).
#[then(
    expr = "TPP {tpp}'s receiver gets no push of an event raised after the subscription changed"
)]
async fn no_new_event_after_change(w: &mut HarnessWorld, tpp: Tpp) -> StepResult {
    let changed = changed_at(w)?;
    let lbl = label(&tpp.0, false);
    w.mailbox(&tpp.0, &lbl).await?;
    let all = w.quiet(&lbl, 0, None).await?;
    let before: HashSet<String> = all
        .iter()
        .filter(|r| r.at <= changed)
        .map(event_id)
        .collect();
    let new: Vec<&Received> = all
        .iter()
        .filter(|r| r.at > changed && !before.contains(&event_id(r)))
        .collect();
    let Some(first) = new.first() else {
        return Ok(());
    };
    let r = rules(w);
    Err(format!(
        "{}: {} push(es) of an event raised after the subscription stopped asking for it reached \
         the old {}, the first {} ms after the change: {}",
        r.stop,
        new.len(),
        r.endpoint,
        ms(first.at.saturating_duration_since(changed)),
        one_line(&first.body_text())
    ))
}

#[then(expr = "TPP {tpp}'s second receiver gets no retry of an earlier event")]
async fn second_gets_nothing(w: &mut HarnessWorld, tpp: Tpp) -> StepResult {
    let p = policy(w)?;
    // The quiet period counts from the change (an earlier step may have watched part of it).
    let until = changed_at(w)? + p.quiet_period;
    tokio::time::sleep_until(until.into()).await;
    let got = w
        .await_pushes(&label(&tpp.0, true), 0, Duration::ZERO)
        .await?;
    if got.is_empty() {
        return Ok(());
    }
    Err(format!(
        "{}: {} retry(ies) of an event from before the change reached the new URL; the bank \
         declares {} (retries already scheduled end when the URL changes)",
        rules(w).retry,
        got.len(),
        declared_pending(&p)
    ))
}

#[then(expr = "TPP {tpp}'s second receiver gets the next attempt")]
async fn second_gets(w: &mut HarnessWorld, tpp: Tpp) -> StepResult {
    let p = policy(w)?;
    let wait = p.longest_delivery() + p.first_push_timeout;
    let got = w.await_pushes(&label(&tpp.0, true), 1, wait).await?;
    if got.is_empty() {
        return Err(format!(
            "{}: after the CallbackUrl changed, no retry reached the new URL within {} ms; the \
             bank declares {} (retries already scheduled move to a changed URL)",
            rules(w).retry,
            ms(wait),
            declared_pending(&p)
        ));
    }
    Ok(())
}

#[then(expr = "after the last attempt TPP {tpp} finds the SET by polling")]
async fn catch_up(w: &mut HarnessWorld, tpp: Tpp) -> StepResult {
    let p = policy(w)?;
    let n = declared_attempts(&p)?;
    first_push(w, &tpp.0).await?;
    w.await_pushes(&label(&tpp.0, false), n, p.longest_delivery() + p.slack)
        .await?;
    // The bank records the last failure after the attempt's answer.
    tokio::time::sleep(p.slack).await;
    w.await_events(&tpp.0, &HashSet::new()).await.map_err(|e| {
        format!("R-09: after the last failed attempt the SET is not available by polling: {e}")
    })
}

fn one_line(text: &str) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() > 160 {
        format!("{}…", flat.chars().take(160).collect::<String>())
    } else {
        flat
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harness::profile::RetrySpacing;

    fn policy(spacing: RetrySpacing) -> PushPolicy {
        PushPolicy {
            receiver_listen: "127.0.0.1:0".parse().unwrap(),
            receiver_public_url: None,
            receiver_tls: None,
            spacing,
            max_attempts: Some(3),
            pending_retries: None,
            retries_4xx: false,
            catch_up_polling: false,
            accepts_http_callbacks: true,
            request_timeout: None,
            first_push_timeout: Duration::from_secs(1),
            quiet_period: Duration::from_secs(1),
            tolerance_percent: 10,
            slack: Duration::from_millis(100),
        }
    }

    fn spacing_problems_r08(p: &PushPolicy, got: &[Received]) -> Vec<String> {
        spacing_problems(p, got, "R-08")
    }

    fn at(offsets_ms: &[u64]) -> Vec<Received> {
        let start = Instant::now();
        offsets_ms
            .iter()
            .map(|ms| Received {
                at: start + Duration::from_millis(*ms),
                wall: std::time::SystemTime::UNIX_EPOCH,
                method: "POST".into(),
                path: "/".into(),
                headers: vec![],
                body: vec![],
                answered: Answer::Status(503),
            })
            .collect()
    }

    #[test]
    fn retries_are_judged_against_the_declared_schedule() {
        let ms = |v: u64| Duration::from_millis(v);
        let p = policy(RetrySpacing::Schedule(vec![ms(300), ms(600)]));
        assert!(spacing_problems_r08(&p, &at(&[0, 300, 900])).is_empty());
        // 10 % early and 10 % + slack late are still on time.
        assert!(spacing_problems_r08(&p, &at(&[0, 271, 1_031])).is_empty());
        let early = spacing_problems_r08(&p, &at(&[0, 5, 10]));
        assert_eq!(early.len(), 2, "{early:?}");
        assert!(early[0].starts_with("R-08: retry 1 came 5 ms"));
        let late = spacing_problems_r08(&p, &at(&[0, 300, 2_000]));
        assert!(late[0].contains("at most 760 ms"), "{late:?}");
    }

    #[test]
    fn a_retry_after_a_timeout_may_count_its_delay_from_either_end_of_the_attempt() {
        let ms = |v: u64| Duration::from_millis(v);
        let mut p = policy(RetrySpacing::Schedule(vec![ms(300), ms(600)]));
        p.request_timeout = Some(ms(1_000));
        // From the start: 300 ms; from the end: 1 000 + 300 ms; both on time.
        assert!(held_retry_spacing(&p, &at(&[0, 300]), "R-08").is_ok());
        assert!(held_retry_spacing(&p, &at(&[0, 1_300]), "R-08").is_ok());
        assert!(
            held_retry_spacing(&p, &at(&[0, 10]), "R-08")
                .unwrap_err()
                .starts_with("R-08: the retry came 10 ms")
        );
        assert!(held_retry_spacing(&p, &at(&[0, 3_000]), "R-08").is_err());
    }

    #[test]
    fn bounds_allow_any_delay_between_them() {
        let p = policy(RetrySpacing::Bounds {
            min: Duration::from_millis(100),
            max: Duration::from_millis(1_000),
        });
        assert!(spacing_problems_r08(&p, &at(&[0, 100, 1_100])).is_empty());
        assert_eq!(spacing_problems_r08(&p, &at(&[0, 20])).len(), 1);
        let undeclared = policy(RetrySpacing::Undeclared);
        assert!(spacing_problems_r08(&undeclared, &at(&[0, 1])).is_empty());
    }
}
