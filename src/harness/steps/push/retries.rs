//! When pushes must (and must not) arrive: retries spaced as the bank declares, no attempt
//! beyond the declared maximum or after a 2xx, what happens to retries already scheduled when
//! the subscription changes, and catching up by polling after the last attempt.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use cucumber::then;

use super::*;

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
    if let Some(why) = &w.change_unapplied {
        return Err(format!(
            "{BLOCKED}{why}, so what follows the change cannot be judged"
        ));
    }
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
    // A move the bank did not make leaves no new URL to judge the retries at.
    changed_at(w)?;
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
                misdirected: false,
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
