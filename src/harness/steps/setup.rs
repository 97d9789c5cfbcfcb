//! Setting the scene: clean TPPs, subscriptions for polling, events made to happen through the
//! profile's trigger, and overrides for the next request.

use std::collections::HashSet;

use cucumber::{given, when};

use super::params::{Event, Tpp, unquote};
use crate::harness::profile::BankEventType;
use crate::harness::world::{HarnessWorld, StepResult};

#[given(expr = "TPP {tpp} starts clean")]
async fn starts_clean(w: &mut HarnessWorld, tpp: Tpp) -> StepResult {
    w.start_clean(&tpp.0).await
}

#[given(expr = "TPP {tpp} is subscribed for polling")]
#[when(expr = "TPP {tpp} is subscribed for polling")]
async fn subscribed(w: &mut HarnessWorld, tpp: Tpp) -> StepResult {
    w.subscribe(&tpp.0, None).await
}

#[given(expr = "TPP {tpp} is subscribed for polling to {event_type} events only")]
async fn subscribed_to(w: &mut HarnessWorld, tpp: Tpp, t: Event) -> StepResult {
    w.subscribe(&tpp.0, Some(vec![t.0])).await
}

/// The `n`-th event type (from 0) the profile's trigger can raise.
pub(super) fn nth_trigger_type(w: &HarnessWorld, n: usize) -> Result<BankEventType, String> {
    w.ctx()?
        .profile
        .trigger_types
        .get(n)
        .cloned()
        .ok_or_else(|| {
            format!(
                "the profile's trigger produces fewer than {} event types",
                n + 1
            )
        })
}

#[given(expr = "TPP {tpp} is subscribed for polling to the first supported event type only")]
async fn subscribed_to_first_supported(w: &mut HarnessWorld, tpp: Tpp) -> StepResult {
    let t = w
        .ctx()?
        .profile
        .bank
        .event_types
        .first()
        .cloned()
        .ok_or("the profile lists no bank.event_types")?;
    w.subscribe(&tpp.0, Some(vec![t])).await
}

#[given(expr = "TPP {tpp} is subscribed for polling to the first triggerable event type only")]
async fn subscribed_to_first(w: &mut HarnessWorld, tpp: Tpp) -> StepResult {
    let t = nth_trigger_type(w, 0)?;
    w.subscribe(&tpp.0, Some(vec![t])).await
}

/// Fires `n` expected events of type `t` for `tpp` and waits until they are visible.
async fn happened(w: &mut HarnessWorld, tpp: &str, n: usize, t: BankEventType) -> StepResult {
    let before: HashSet<String> = w.tpp(tpp).await?.seen.clone();
    for _ in 0..n {
        w.fire(tpp, t.clone(), true).await?;
    }
    w.await_events(tpp, &before).await
}

#[given(regex = r"^(\d+) (?:more )?events? happened for TPP (A|B)$")]
#[when(regex = r"^(\d+) (?:more )?events? happened for TPP (A|B)$")]
async fn n_events(w: &mut HarnessWorld, n: usize, tpp: String) -> StepResult {
    let t = w.default_event_type()?;
    happened(w, &tpp, n, t).await
}

#[given(expr = "{int} {event_type} event(s) happened for TPP {tpp}")]
#[when(expr = "{int} {event_type} event(s) happened for TPP {tpp}")]
async fn n_typed_events(w: &mut HarnessWorld, n: usize, t: Event, tpp: Tpp) -> StepResult {
    happened(w, &tpp.0, n, t.0).await
}

#[given(regex = r"^(\d+) events? of the (first|second) triggerable type happened for TPP (A|B)$")]
#[when(regex = r"^(\d+) events? of the (first|second) triggerable type happened for TPP (A|B)$")]
async fn n_nth_type(w: &mut HarnessWorld, n: usize, which: String, tpp: String) -> StepResult {
    let t = nth_trigger_type(w, if which == "first" { 0 } else { 1 })?;
    happened(w, &tpp, n, t).await
}

#[given(expr = "one event more than the bank's default batch happened for TPP {tpp}")]
async fn default_batch_plus_one(w: &mut HarnessWorld, tpp: Tpp) -> StepResult {
    let n = w.declared_default_batch()?;
    let t = w.default_event_type()?;
    happened(w, &tpp.0, n as usize + 1, t).await
}

#[given(expr = "one event more than the bank's maxEvents cap happened for TPP {tpp}")]
async fn cap_plus_one(w: &mut HarnessWorld, tpp: Tpp) -> StepResult {
    let n = w.declared_cap()?;
    let t = w.default_event_type()?;
    happened(w, &tpp.0, n as usize + 1, t).await
}

#[when(expr = "an event happens for TPP {tpp}")]
async fn unexpected_event(w: &mut HarnessWorld, tpp: Tpp) -> StepResult {
    let t = w.default_event_type()?;
    w.fire(&tpp.0, t, false).await
}

#[when(expr = "an event of a type other than resource-update happens for TPP {tpp}")]
async fn unexpected_not_resource_update(w: &mut HarnessWorld, tpp: Tpp) -> StepResult {
    let t = w
        .ctx()?
        .profile
        .trigger_types
        .iter()
        .find(|t| !t.is(crate::model::EventType::ResourceUpdate))
        .cloned()
        .ok_or("the profile's trigger raises no event type other than resource-update")?;
    w.fire(&tpp.0, t, false).await
}

#[when(regex = r"^an event of the (first|second) triggerable type happens for TPP (A|B)$")]
async fn unexpected_nth_type(w: &mut HarnessWorld, which: String, tpp: String) -> StepResult {
    let t = nth_trigger_type(w, if which == "first" { 0 } else { 1 })?;
    w.fire(&tpp, t, false).await
}

#[given(expr = "the next request has header {string} set to {string}")]
async fn next_header(w: &mut HarnessWorld, name: String, value: String) {
    w.next.headers.push((unquote(&name), Some(unquote(&value))));
}

#[given(expr = "the next request has no access token")]
async fn next_no_token(w: &mut HarnessWorld) {
    w.next.no_token = true;
}

#[given(expr = "the next request has an invalid access token")]
async fn next_invalid_token(w: &mut HarnessWorld) {
    w.next.invalid_token = true;
}

#[given(expr = "the next request has a malformed Authorization header")]
async fn next_malformed_authorization(w: &mut HarnessWorld) {
    // A scheme without its credentials: neither a token nor a missing header.
    w.next.no_token = true;
    w.next
        .headers
        .push(("Authorization".into(), Some("Bearer".into())));
}

#[given(expr = "the next request uses a token without the required scope")]
async fn next_restricted(w: &mut HarnessWorld) {
    w.next.restricted_token = true;
}

#[given(expr = "the next request is not signed")]
async fn next_unsigned(w: &mut HarnessWorld) {
    w.next.unsigned = true;
}

#[given(expr = "the next request has a signature that does not match its body")]
async fn next_bad_signature(w: &mut HarnessWorld) {
    w.next.bad_signature = true;
}
