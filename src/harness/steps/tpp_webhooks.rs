//! A TPP's Yapily-style and Tatra-style webhook receivers (`features/tpp_yapily.feature`,
//! `features/tpp_tatra.feature`): the referee sends valid and defective webhooks and the TPP's
//! answers are judged by what the rules say — accepted is any 2xx, refused any 4xx (no rule
//! names a code). A defective webhook the TPP accepts is charged to the scenario's primary rule.

use cucumber::{given, then, when};

use crate::harness::client::Exchange;
use crate::harness::referee::webhooks::{TatraAuth, TatraKind, YapilyDefect};
use crate::harness::world::{HarnessWorld, StepResult};

fn yapily_defect(phrase: &str) -> Option<YapilyDefect> {
    Some(match phrase {
        "a valid Yapily webhook" => YapilyDefect::Valid,
        "a Yapily webhook with a tampered body" => YapilyDefect::TamperedBody,
        "a Yapily webhook signed by an unknown key" => YapilyDefect::UnknownKey,
        "a Yapily webhook with an expired signature" => YapilyDefect::Expired,
        "a new Yapily webhook whose signature reuses that jti" => YapilyDefect::ReusedJti,
        "a Yapily webhook without a yapily-signature" => YapilyDefect::NoSignature,
        "a Yapily webhook signed with alg none" => YapilyDefect::AlgNone,
        _ => return None,
    })
}

fn tatra_call(kind: &str, auth: &str) -> Option<(TatraKind, TatraAuth)> {
    let kind = match kind {
        "transactionEvent" => TatraKind::TransactionEvent,
        "accountEvent" => TatraKind::AccountEvent,
        _ => return None,
    };
    let auth = match auth {
        "the configured Authorization" => TatraAuth::Configured,
        "no Authorization" => TatraAuth::Missing,
        "a wrong Authorization" => TatraAuth::Wrong,
        _ => return None,
    };
    Some((kind, auth))
}

#[when(regex = r"^the referee sends (a (?:valid |new )?Yapily webhook.*) to the TPP$")]
async fn sends_yapily(w: &mut HarnessWorld, phrase: String) -> StepResult {
    let d = yapily_defect(&phrase)
        .ok_or_else(|| format!("unknown webhook {phrase:?} (harness bug)"))?;
    w.send_yapily(d).await
}

#[when(regex = r"^the referee sends a Tatra (\w+) with (.+) to the TPP$")]
async fn sends_tatra(w: &mut HarnessWorld, kind: String, auth: String) -> StepResult {
    let (k, a) = tatra_call(&kind, &auth)
        .ok_or_else(|| format!("unknown Tatra webhook {kind:?} with {auth:?} (harness bug)"))?;
    w.send_tatra(k, a).await
}

/// The answer, or blocked when the webhook got none (nothing to judge).
fn answered(ex: &Exchange) -> Result<u16, String> {
    match &ex.error {
        Some(e) => Err(format!("blocked: the webhook got no answer: {e}")),
        None => Ok(ex.status()),
    }
}

/// Blocked unless the last webhook was accepted (a precondition of the scenario).
fn accepted_before(w: &HarnessWorld) -> StepResult {
    let (hook, ex) = w.last_hook()?;
    if !(200..300).contains(&answered(ex)?) {
        return Err(format!(
            "blocked: the TPP did not accept {} (its own scenario judges that): {}",
            hook.what,
            ex.summary()
        ));
    }
    Ok(())
}

#[given("the TPP has accepted a valid Yapily webhook")]
async fn has_accepted_yapily(w: &mut HarnessWorld) -> StepResult {
    w.send_yapily(YapilyDefect::Valid).await?;
    accepted_before(w)
}

#[given("the TPP has accepted a Tatra transactionEvent with the configured Authorization")]
async fn has_accepted_tatra(w: &mut HarnessWorld) -> StepResult {
    w.send_tatra(TatraKind::TransactionEvent, TatraAuth::Configured)
        .await?;
    accepted_before(w)
}

#[then("the TPP accepts the webhook with 2xx")]
async fn accepts(w: &mut HarnessWorld) -> StepResult {
    let (hook, ex) = w.last_hook()?;
    if !(200..300).contains(&answered(ex)?) {
        return Err(format!(
            "{} that a receiver must accept was answered {}",
            hook.what,
            ex.summary()
        ));
    }
    Ok(())
}

#[then("the TPP answered the webhook within its declared time")]
async fn in_time(w: &mut HarnessWorld) -> StepResult {
    let within = w
        .tpp_run()?
        .yapily
        .as_ref()
        .map(|h| h.answer_within)
        .unwrap_or_default();
    let (_, ex) = w.last_hook()?;
    answered(ex)?;
    if ex.elapsed() > within {
        return Err(format!(
            "YA-13: the TPP answered after {} ms; its profile declares {} ms \
             (yapily.answer_within_ms)",
            ex.elapsed_ms,
            within.as_millis()
        ));
    }
    Ok(())
}

#[then("the TPP refuses the webhook with a 4xx")]
async fn refuses(w: &mut HarnessWorld) -> StepResult {
    let (hook, ex) = w.last_hook()?;
    match answered(ex)? {
        400..=499 => Ok(()),
        s if (200..300).contains(&s) => Err(format!(
            "the TPP accepted {}, which it must refuse: {}",
            hook.what,
            ex.summary()
        )),
        _ => Err(format!(
            "{} must be refused with a 4xx (a 5xx asks the sender to try again), got {}",
            hook.what,
            ex.summary()
        )),
    }
}
