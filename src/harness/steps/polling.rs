//! Aggregated polling: poll, acknowledge, report errors, long-poll — and what a poll answer must
//! contain (AP-*, R8936-*).

use std::collections::HashSet;

use cucumber::gherkin::Step;
use cucumber::{given, then, when};
use reqwest::Method;
use serde_json::{Value, json};

use super::params::Tpp;
use crate::harness::client::Request;
use crate::harness::context::Purpose;
use crate::harness::outcome::BLOCKED;
use crate::harness::profile::Conformance;
use crate::harness::template::Context;
use crate::harness::world::{HarnessWorld, StepResult, Triggered};

/// Sends a poll whose body is given as text (so malformed bodies go out exactly as written).
/// When the answer to a plain poll (no `ack`, no `setErrs`) held SETs the bank serves after
/// their acknowledgement (charged to the ack rules as it arrived), they are cleared as the drain
/// clears them and the poll is sent once more, so the scenario judges an answer of its own
/// SETs rather than being blocked by another scenario's.
async fn poll_raw(w: &mut HarnessWorld, tpp: &str, body: &str) -> StepResult {
    w.ensure_drained(tpp).await?;
    let ctx = w.ctx()?;
    let next = std::mem::take(&mut w.next);
    let plain = serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v.as_object().cloned())
        .is_some_and(|m| !m.contains_key("ack") && !m.contains_key("setErrs"));
    for attempt in 0..2 {
        let req = Request::new(Method::POST, ctx.api_url("/events"))
            .header("Accept", "application/json")
            .raw("application/json", body.as_bytes().to_vec());
        let ex = w
            .send_with(tpp, Purpose::Polling, req, next.clone(), false)
            .await?;
        w.check_poll(tpp, &ex, true).await?;
        let stuck = w
            .last_poll
            .as_ref()
            .map(|p| p.stuck_ids.clone())
            .unwrap_or_default();
        if stuck.is_empty() || !plain || attempt > 0 {
            break;
        }
        w.clear_stuck(tpp, &stuck).await?;
    }
    w.assign_keys(tpp, &HashSet::new());
    Ok(())
}

async fn poll_json(w: &mut HarnessWorld, tpp: &str, body: Value) -> StepResult {
    poll_raw(w, tpp, &body.to_string()).await
}

#[when(expr = "TPP {tpp} polls")]
async fn polls(w: &mut HarnessWorld, tpp: Tpp) -> StepResult {
    poll_json(w, &tpp.0, HarnessWorld::short_poll(None)).await
}

#[when(expr = "TPP {tpp} polls with maxEvents {int}")]
async fn polls_max(w: &mut HarnessWorld, tpp: Tpp, n: u64) -> StepResult {
    poll_json(w, &tpp.0, HarnessWorld::short_poll(Some(n))).await
}

#[when(expr = "TPP {tpp} polls with maxEvents one above the bank's cap")]
async fn polls_above_cap(w: &mut HarnessWorld, tpp: Tpp) -> StepResult {
    let n = w.declared_cap()? + 1;
    poll_json(w, &tpp.0, HarnessWorld::short_poll(Some(n))).await
}

#[when(expr = "TPP {tpp} polls with maxEvents equal to the bank's cap")]
async fn polls_at_cap(w: &mut HarnessWorld, tpp: Tpp) -> StepResult {
    let n = w.declared_cap()?;
    poll_json(w, &tpp.0, HarnessWorld::short_poll(Some(n))).await
}

#[when(expr = "TPP {tpp} polls with:")]
#[when(expr = "TPP {tpp} long-polls with:")]
async fn polls_with(w: &mut HarnessWorld, tpp: Tpp, step: &Step) -> StepResult {
    let template = step
        .docstring
        .as_deref()
        .ok_or("this step needs a docstring body")?;
    let body = w.fill(&tpp.0, template, Context::Json).await?;
    poll_raw(w, &tpp.0, body.trim()).await
}

#[given(expr = "TPP {tpp} has polled the awaiting SETs")]
async fn has_polled(w: &mut HarnessWorld, tpp: Tpp) -> StepResult {
    let limit = w.peek_limit()?;
    let ex = w
        .poll(&tpp.0, HarnessWorld::short_poll(Some(limit)), true)
        .await?;
    w.expect_poll_success(&ex)?;
    w.assign_keys(&tpp.0, &HashSet::new());
    if w.tpp(&tpp.0).await?.received.is_empty() {
        return Err(format!(
            "TPP {} received no SET to work with: {}",
            tpp.0,
            ex.summary()
        ));
    }
    Ok(())
}

/// Keys `owner` received and has not acknowledged yet.
async fn unacked(w: &mut HarnessWorld, owner: &str) -> Result<Vec<String>, String> {
    let s = w.tpp(owner).await?;
    Ok(s.received
        .iter()
        .filter(|k| !s.acked.contains(k))
        .cloned()
        .collect())
}

#[when(expr = "TPP {tpp} acknowledges the received SETs")]
async fn ack_received(w: &mut HarnessWorld, tpp: Tpp) -> StepResult {
    let keys = unacked(w, &tpp.0).await?;
    poll_json(
        w,
        &tpp.0,
        json!({ "returnImmediately": true, "maxEvents": 0, "ack": keys }),
    )
    .await?;
    w.tpp(&tpp.0).await?.acked.extend(keys);
    Ok(())
}

#[when(expr = "TPP {tpp} polls and acknowledges the received SETs")]
async fn poll_and_ack(w: &mut HarnessWorld, tpp: Tpp) -> StepResult {
    let keys = unacked(w, &tpp.0).await?;
    let limit = w.peek_limit()?;
    w.tpp(&tpp.0).await?.acked.extend(keys.iter().cloned());
    poll_json(
        w,
        &tpp.0,
        json!({ "returnImmediately": true, "maxEvents": limit, "ack": keys }),
    )
    .await
}

use crate::harness::world::set_errs;

#[when(expr = "TPP {tpp} reports the received SETs as errors")]
async fn report_errors(w: &mut HarnessWorld, tpp: Tpp) -> StepResult {
    let keys = unacked(w, &tpp.0).await?;
    poll_json(
        w,
        &tpp.0,
        json!({ "returnImmediately": true, "maxEvents": 0, "setErrs": set_errs(&keys) }),
    )
    .await?;
    w.tpp(&tpp.0).await?.errored.extend(keys);
    Ok(())
}

#[when(expr = "TPP {tpp} acknowledges the SETs of TPP {tpp}")]
async fn ack_others(w: &mut HarnessWorld, caller: Tpp, owner: Tpp) -> StepResult {
    let keys = unacked(w, &owner.0).await?;
    w.tpp(&owner.0)
        .await?
        .touched_by_others
        .extend(keys.iter().cloned());
    poll_json(
        w,
        &caller.0,
        json!({ "returnImmediately": true, "maxEvents": 0, "ack": keys }),
    )
    .await
}

#[when(expr = "TPP {tpp} reports the SETs of TPP {tpp} as errors")]
async fn errors_others(w: &mut HarnessWorld, caller: Tpp, owner: Tpp) -> StepResult {
    let keys = unacked(w, &owner.0).await?;
    w.tpp(&owner.0)
        .await?
        .touched_by_others
        .extend(keys.iter().cloned());
    poll_json(
        w,
        &caller.0,
        json!({ "returnImmediately": true, "maxEvents": 0, "setErrs": set_errs(&keys) }),
    )
    .await
}

// ---- what the answer holds ----------------------------------------------------------------------

#[then(expr = "the poll succeeds")]
async fn poll_succeeds(w: &mut HarnessWorld) -> StepResult {
    let ex = w.last()?.clone();
    w.expect_poll_success(&ex)?;
    if w.last_poll.is_none() {
        return Err("the last answer was not a poll answer".into());
    }
    Ok(())
}

#[then(expr = "the poll succeeds or is refused with 400")]
async fn poll_succeeds_or_400(w: &mut HarnessWorld) -> StepResult {
    let ex = w.last()?.clone();
    if ex.status() == 400 {
        return Ok(());
    }
    w.expect_poll_success(&ex)
}

fn returned(w: &HarnessWorld) -> Result<Vec<String>, String> {
    w.last_keys()
}

#[then(expr = "the poll returns no SETs")]
async fn returns_none(w: &mut HarnessWorld) -> StepResult {
    let keys = returned(w)?;
    if keys.is_empty() {
        return Ok(());
    }
    // Asked for none (`maxEvents: 0`), any SET is the maxEvents rule's defect.
    let rule = if asked_for_none(w) {
        "AP-07/R8936-03: maxEvents 0 asks for no SETs; "
    } else {
        ""
    };
    Err(format!(
        "{rule}expected no SETs, the poll returned {}: {keys:?}",
        keys.len()
    ))
}

/// The last request was a poll with `maxEvents: 0` (acknowledge or report only).
pub fn asked_for_none(w: &HarnessWorld) -> bool {
    w.last()
        .ok()
        .and_then(|ex| ex.request_json())
        .is_some_and(|b| b.get("maxEvents").and_then(serde_json::Value::as_u64) == Some(0))
}

fn expect_count(w: &HarnessWorld, n: u64, rule: &str) -> StepResult {
    let keys = returned(w)?;
    if keys.len() as u64 == n {
        Ok(())
    } else {
        Err(w.excuse(format!(
            "{rule}: expected {n} SETs, the poll returned {}",
            keys.len()
        )))
    }
}

#[then(expr = "the poll returns {int} SET(s)")]
async fn returns_n(w: &mut HarnessWorld, n: u64) -> StepResult {
    expect_count(w, n, "AP-07/R8936-03")
}

#[then(expr = "the poll returns {int} SETs, or the bank's maxEvents cap if that is lower")]
async fn returns_n_or_cap(w: &mut HarnessWorld, n: u64) -> StepResult {
    let want = w.ctx()?.profile.bank.max_events_cap.map_or(n, |c| c.min(n));
    expect_count(w, want, "R8936-04")
}

#[then(expr = "the poll returns as many SETs as the bank's default batch")]
async fn returns_default_batch(w: &mut HarnessWorld) -> StepResult {
    let n = w.declared_default_batch()?;
    expect_count(w, n, "AP-16")
}

#[then(expr = "the poll returns as many SETs as the bank's maxEvents cap")]
async fn returns_cap(w: &mut HarnessWorld) -> StepResult {
    let n = w.declared_cap()?;
    expect_count(w, n, "AP-07/AP-16")
}

fn more_available(w: &HarnessWorld) -> Result<bool, String> {
    let poll = w
        .last_poll
        .as_ref()
        .ok_or("the last request was not a successful poll")?;
    match poll.check.more_available {
        Some(b) => Ok(b),
        None if !w.ctx()?.profile.bank.more_available_required => Ok(false),
        None => Err("AP-05: moreAvailable is missing (OBIE makes it mandatory)".into()),
    }
}

/// OBIE makes `moreAvailable` say when SETs were left out (AP-12). RFC 8936 lets a transmitter
/// leave it out, meaning false (R8936-17, a MAY), so a false there is behaviour the RFC permits:
/// an RFC 8936 transmitter is not judged on it.
#[then(expr = "moreAvailable is true")]
async fn more_true(w: &mut HarnessWorld) -> StepResult {
    let rfc = w.ctx()?.profile.conformance == Conformance::Rfc8936;
    if more_available(w)? || rfc {
        Ok(())
    } else {
        Err("AP-12: moreAvailable is false although awaiting SETs were left out".into())
    }
}

/// A `moreAvailable: true` with nothing left is wrong under both: the member says whether more
/// SETs await (AP-12, R8936-17).
#[then(expr = "moreAvailable is false")]
async fn more_false(w: &mut HarnessWorld) -> StepResult {
    if more_available(w)? {
        // SETs the TPP cannot clear (its acknowledged ones served again, another TPP's) may
        // be what is left: then the bank's queue, not the member, is the defect.
        Err(w.excuse(
            "AP-12/R8936-17: moreAvailable is true although every awaiting SET was returned".into(),
        ))
    } else {
        Ok(())
    }
}

#[then(expr = "moreAvailable is true exactly when SETs were left out")]
async fn more_exact(w: &mut HarnessWorld) -> StepResult {
    let (_, awaiting) = expected_unacked(w)?;
    let returned = returned(w)?.len();
    let left_out = awaiting.len() > returned;
    let more = more_available(w)?;
    // A cap must be signalled by moreAvailable true (R8936-04); a true with nothing left
    // misstates the member (R8936-17).
    let rule = if left_out {
        "AP-12/R8936-04"
    } else {
        "AP-12/R8936-17"
    };
    if more == left_out {
        Ok(())
    } else {
        Err(w.excuse(format!(
            "{rule}: {} SETs were awaiting and {returned} returned, yet moreAvailable is {more}",
            awaiting.len()
        )))
    }
}

/// Expected events of the polled TPP that are not yet acknowledged.
fn expected_unacked(w: &HarnessWorld) -> Result<(String, Vec<Triggered>), String> {
    let poll = w
        .last_poll
        .as_ref()
        .ok_or("the last request was not a successful poll")?;
    let name = poll.tpp.clone();
    let acked = w
        .tpps
        .get(&name)
        .map(|s| s.acked.clone())
        .unwrap_or_default();
    let list = w
        .triggered
        .iter()
        .filter(|t| {
            t.tpp == name && t.expected && !t.key.as_ref().is_some_and(|k| acked.contains(k))
        })
        .cloned()
        .collect();
    Ok((name, list))
}

fn missing_expected(w: &HarnessWorld) -> Result<Vec<String>, String> {
    let (_, expected) = expected_unacked(w)?;
    let keys: HashSet<String> = returned(w)?.into_iter().collect();
    Ok(expected
        .iter()
        .filter(|t| !t.key.as_ref().is_some_and(|k| keys.contains(k)))
        .map(|t| format!("{} for resource {}", t.event_type.short(), t.resource_id))
        .collect())
}

#[then(expr = "the poll returns every expected event")]
#[then(expr = "the poll returns the events not yet acknowledged")]
async fn returns_expected(w: &mut HarnessWorld) -> StepResult {
    let missing = missing_expected(w)?;
    if missing.is_empty() {
        return Ok(());
    }
    // A long poll answered before the event it waited for happened did not hold (R8936-08):
    // that, not a lost event, is why the event is not in it.
    if let (Some(fired), Some(done)) = (w.event_fired_at, w.last()?.finished)
        && done < fired
    {
        return Err(w.excuse(format!(
            "R8936-08: the long poll was answered {} ms before the event it waited for happened, \
             so the event is not in it",
            fired.duration_since(done).as_millis()
        )));
    }
    Err(w.excuse(format!(
        "AP-17/R8936-16: the poll lacks {} expected event(s): {}",
        missing.len(),
        missing.join(", ")
    )))
}

#[then(expr = "the poll returns exactly the expected events")]
async fn returns_exactly(w: &mut HarnessWorld) -> StepResult {
    returns_expected(w).await?;
    let (_, expected) = expected_unacked(w)?;
    let wanted: HashSet<String> = expected.iter().filter_map(|t| t.key.clone()).collect();
    let extra: Vec<String> = returned(w)?
        .into_iter()
        .filter(|k| !wanted.contains(k))
        .collect();
    if extra.is_empty() {
        Ok(())
    } else {
        let described: Vec<String> = w
            .sets
            .iter()
            .filter(|s| extra.iter().any(|k| k == s.id()))
            .map(|s| format!("{} ({})", s.id(), s.event_types().join(", ")))
            .collect();
        Err(format!(
            "N-11/AP-03/AP-17: the poll returned SETs that should not have been queued: {}",
            described.join("; ")
        ))
    }
}

/// The polled TPP's keys in one of its lists (acknowledged, errored), and the last answer's keys.
async fn polled_list(
    w: &mut HarnessWorld,
    pick: fn(&crate::harness::world::TppState) -> &Vec<String>,
) -> Result<(Vec<String>, Vec<String>), String> {
    let name = w
        .last_poll
        .as_ref()
        .map(|p| p.tpp.clone())
        .ok_or("the last request was not a successful poll")?;
    let list = pick(w.tpp(&name).await?).clone();
    Ok((list, returned(w)?))
}

#[then(expr = "the poll returns none of the acknowledged SETs")]
async fn none_acked(w: &mut HarnessWorld) -> StepResult {
    let (acked, keys) = polled_list(w, |s| &s.acked).await?;
    let again: Vec<&String> = keys.iter().filter(|k| acked.contains(k)).collect();
    if again.is_empty() {
        return Ok(());
    }
    // Served in the answer to the request that acknowledged them: the acks were not applied
    // before the batch was chosen (R8936-24); served by a later poll: not released (AP-09).
    let same_request = w
        .last_poll
        .as_ref()
        .is_some_and(|p| again.iter().all(|k| p.acked.contains(k)));
    if !same_request {
        return Err(format!(
            "AP-09/R8936-11: acknowledged SETs were served again: {again:?}"
        ));
    }
    let again: Vec<String> = again.into_iter().cloned().collect();
    if acks_ignored(w, &again).await? {
        // The every-answer check saw the same thing and kept it for this scenario's rule.
        w.checks
            .pending
            .retain(|p| p.kind != crate::harness::world::SERVED_WITH_ITS_ACK);
        return Err(format!(
            "{BLOCKED}the acknowledged SETs {again:?} came back in the answer to their \
             acknowledgement and in the next poll too: the bank does not apply the acks at all \
             (AP-09/R8936-11, charged on its own), so whether it applies them before choosing \
             the batch (R8936-24) cannot be judged"
        ));
    }
    Err(format!(
        "R8936-24: acknowledged SETs were served again in the answer to the request that \
         acknowledged them (the next poll no longer serves them): {again:?}"
    ))
}

/// Does the next poll serve `acked` again? One poll as housekeeping (its findings are the
/// run's), after which the scenario goes on from the answer it judged.
async fn acks_ignored(w: &mut HarnessWorld, acked: &[String]) -> Result<bool, String> {
    let Some(judged) = w.last_poll.clone() else {
        return Ok(false);
    };
    let was = std::mem::replace(&mut w.housekeeping, true);
    let polled = w
        .poll(&judged.tpp, HarnessWorld::short_poll(None), false)
        .await;
    w.housekeeping = was;
    let next = w.last_poll.replace(judged);
    polled?;
    // Served again after their acknowledgement was accepted, they are set aside as stuck.
    Ok(next.is_some_and(|p| {
        acked
            .iter()
            .any(|k| p.stuck_ids.contains(k) || p.check.sets.iter().any(|s| s.id() == k))
    }))
}

#[then(expr = "the poll returns the SETs reported as errors")]
async fn errored_again(w: &mut HarnessWorld) -> StepResult {
    let (errored, keys) = polled_list(w, |s| &s.errored).await?;
    let missing: Vec<&String> = errored.iter().filter(|k| !keys.contains(k)).collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "AP-10: SETs reported in setErrs should stay awaiting (the profile says they are redelivered), missing: {missing:?}"
        ))
    }
}

#[then(expr = "the poll returns none of the SETs reported as errors")]
async fn errored_not_again(w: &mut HarnessWorld) -> StepResult {
    let (errored, keys) = polled_list(w, |s| &s.errored).await?;
    let again: Vec<&String> = keys.iter().filter(|k| errored.contains(k)).collect();
    if again.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "AP-10: the profile says errored SETs are not redelivered, yet these came back: {again:?}"
        ))
    }
}

#[then(expr = "the poll returns the SETs received before, with identical claims")]
async fn received_again(w: &mut HarnessWorld) -> StepResult {
    let poll = w
        .last_poll
        .clone()
        .ok_or("the last request was not a successful poll")?;
    let conformance = w.ctx()?.profile.conformance;
    // The SETs this TPP received earlier are those of the TPP named in "has polled" — the
    // owner may differ from the poller only in isolation scenarios, where it is the poller.
    let state = w.tpp(&poll.tpp).await?.clone();
    let missing: Vec<&String> = state
        .received
        .iter()
        .filter(|k| !state.acked.contains(k))
        .filter(|k| !poll.check.sets.iter().any(|s| s.id() == k.as_str()))
        .collect();
    if !missing.is_empty() {
        // The profile declares that unacknowledged SETs are offered again: one another TPP
        // acknowledged or reported is gone because of that TPP (AP-11, AP-17; R8936-11: only
        // the recipient's own acknowledgement releases a SET).
        let by_others = missing.iter().all(|k| state.touched_by_others.contains(k));
        return Err(match (by_others, conformance) {
            (true, Conformance::Obie) => format!(
                "AP-11/AP-17: another TPP's acknowledgement or error report of TPP {}'s SETs {missing:?} \
                 released them: they are no longer offered to TPP {}",
                poll.tpp, poll.tpp
            ),
            (true, Conformance::Rfc8936) => format!(
                "R8936-11: another recipient's acknowledgement or error report of {missing:?} released \
                 them: only their recipient's acknowledgement does"
            ),
            (false, _) => format!(
                "R8936-19: SETs {missing:?} were received, never acknowledged, and are no longer \
                 offered (the profile declares bank.redelivers_unacked)"
            ),
        });
    }
    for key in &state.received {
        let Some(now) = poll.check.sets.iter().find(|s| s.id() == key) else {
            continue;
        };
        if let Some(before) = state.claims.get(key)
            && !HarnessWorld::same_claims(before, &now.claims)
        {
            return Err(format!(
                "R8417-08: SET {key} came back with different claims"
            ));
        }
    }
    Ok(())
}

#[then(expr = "the poll returns the oldest expected event")]
async fn oldest(w: &mut HarnessWorld) -> StepResult {
    let (_, expected) = expected_unacked(w)?;
    let first = expected.first().ok_or("no event was triggered")?;
    let keys = returned(w)?;
    let outcome = match (&first.key, keys.first()) {
        (Some(k), Some(got)) if k == got => Ok(()),
        (Some(k), Some(got)) => Err(format!(
            "R8936-06: the oldest event is {k}, the poll offered {got} first"
        )),
        (_, None) => Err("the poll returned nothing".into()),
        (None, _) => Err("the oldest event could not be identified in the answer".into()),
    };
    outcome.map_err(|e| w.excuse(e))
}
