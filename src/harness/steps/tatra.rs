//! Tatra-banka-style webhooks (TB-01..TB-12): the application's webhook settings and their
//! refusals, consents, refreshes and transactions, and what each webhook must carry and when it
//! must not come. Retry timing reuses the push steps (`steps/push.rs`).

use std::time::Duration;

use cucumber::{given, then, when};

use super::params::Tpp;
use crate::harness::dialects::tatra::{self as tb, Kind};
use crate::harness::receiver::Received;
use crate::harness::world::{HarnessWorld, StepResult, label};

async fn receiver_url(w: &mut HarnessWorld, tpp: &str) -> Result<String, String> {
    Ok(w.mailbox(tpp, &label(tpp, false)).await?.url)
}

// ---- settings ----------------------------------------------------------------------------------

#[given(expr = "TPP {tpp}'s webhooks are active at its receiver with security header {string}")]
async fn active_with_header(w: &mut HarnessWorld, tpp: Tpp, header: String) -> StepResult {
    w.tatra_enable(&tpp.0, &label(&tpp.0, false), &header).await
}

#[given(expr = "TPP {tpp}'s webhooks are active at its receiver with no security header")]
async fn active_without_header(w: &mut HarnessWorld, tpp: Tpp) -> StepResult {
    w.tatra_enable(&tpp.0, &label(&tpp.0, false), "").await
}

#[given(expr = "TPP {tpp}'s webhooks are disabled")]
async fn disabled(w: &mut HarnessWorld, tpp: Tpp) -> StepResult {
    let url = receiver_url(w, &tpp.0).await?;
    w.tatra_apply(&tpp.0, false, &url, "", true).await?;
    Ok(())
}

#[when(expr = "TPP {tpp} disables its webhooks")]
async fn disables(w: &mut HarnessWorld, tpp: Tpp) -> StepResult {
    let url = receiver_url(w, &tpp.0).await?;
    let header = w.tatra.headers.get(&tpp.0).cloned().unwrap_or_default();
    w.tatra_apply(&tpp.0, false, &url, &header, true).await?;
    Ok(())
}

/// Enables without activating. Too close to a full hour the activation would fall inside the
/// quiet period, so the step first waits for the hour to pass (at most the quiet period plus
/// the clock skew plus 3 s).
#[when(expr = "TPP {tpp} enables its webhooks at its receiver, not yet active")]
async fn enables_pending(w: &mut HarnessWorld, tpp: Tpp) -> StepResult {
    let ctx = w.ctx()?;
    let margin = ctx.profile.push.quiet_period
        + Duration::from_secs(ctx.profile.clock_skew.max(0) as u64)
        + Duration::from_secs(2);
    let left = until_next_hour(time::OffsetDateTime::now_utc());
    if left < margin {
        tokio::time::sleep(left + Duration::from_secs(1)).await;
    }
    let url = receiver_url(w, &tpp.0).await?;
    w.tatra_apply(&tpp.0, true, &url, "", true).await?;
    Ok(())
}

/// How long from `now` to the next full hour.
fn until_next_hour(now: time::OffsetDateTime) -> Duration {
    let into_hour = u64::from(now.minute()) * 60 + u64::from(now.second());
    Duration::from_secs(3600 - into_hour)
        .saturating_sub(Duration::from_nanos(u64::from(now.nanosecond())))
}

#[when(expr = "TPP {tpp} sets its webhook endpoint to its receiver with a query parameter")]
async fn endpoint_with_query(w: &mut HarnessWorld, tpp: Tpp) -> StepResult {
    let url = format!("{}?tpp={}", receiver_url(w, &tpp.0).await?, tpp.0);
    w.tatra_apply(&tpp.0, true, &url, "", false).await?;
    Ok(())
}

#[when(expr = "TPP {tpp} sets its webhook security header to {string}")]
async fn sets_header(w: &mut HarnessWorld, tpp: Tpp, header: String) -> StepResult {
    let url = receiver_url(w, &tpp.0).await?;
    w.tatra_apply(&tpp.0, true, &url, &header, false).await?;
    Ok(())
}

fn last_answer(w: &HarnessWorld) -> Result<crate::harness::client::Exchange, String> {
    w.tatra
        .last
        .clone()
        .ok_or_else(|| "the action answered nothing to judge (not an HTTP action)".to_string())
}

#[then(expr = "the Tatra answer refuses the settings under {word}")]
async fn refuses_settings(w: &mut HarnessWorld, rule: String) -> StepResult {
    let ex = last_answer(w)?;
    let s = ex.status();
    if !(400..500).contains(&s) || s == 401 || s == 403 {
        return Err(format!(
            "{rule}: the settings were not refused with a 4xx: {}",
            ex.summary()
        ));
    }
    Ok(())
}

#[then(expr = "the Tatra answer accepts the settings under {word}")]
async fn accepts_settings(w: &mut HarnessWorld, rule: String) -> StepResult {
    let ex = last_answer(w)?;
    if (200..300).contains(&ex.status()) {
        Ok(())
    } else {
        Err(format!(
            "{rule}: settings within the rule were refused: {}",
            ex.summary()
        ))
    }
}

// ---- consents, refreshes, transactions ---------------------------------------------------------

#[given(expr = "TPP {tpp} has a consent with accounts at several banks")]
async fn has_consent(w: &mut HarnessWorld, tpp: Tpp) -> StepResult {
    w.tatra_consent(&tpp.0).await.map(|_| ())
}

#[when(expr = "a transaction arrives on TPP {tpp}'s consent")]
async fn transaction(w: &mut HarnessWorld, tpp: Tpp) -> StepResult {
    w.tatra_transaction(&tpp.0).await
}

#[when(expr = "TPP {tpp} refreshes its consent")]
async fn refreshes(w: &mut HarnessWorld, tpp: Tpp) -> StepResult {
    let c = w.tatra_consent_of(&tpp.0)?;
    w.tatra_refresh(&tpp.0, &c.id).await.map(|_| ())
}

#[when(expr = "TPP {tpp} refreshes TPP {tpp}'s consent")]
async fn refreshes_other(w: &mut HarnessWorld, tpp: Tpp, owner: Tpp) -> StepResult {
    let c = w.tatra_consent_of(&owner.0)?;
    w.tatra_refresh(&tpp.0, &c.id).await.map(|_| ())
}

#[when(expr = "TPP {tpp} refreshes an unknown consent")]
async fn refreshes_unknown(w: &mut HarnessWorld, tpp: Tpp) -> StepResult {
    let id = format!("obevents-unknown-{}", uuid::Uuid::new_v4());
    w.tatra_refresh(&tpp.0, &id).await.map(|_| ())
}

#[then(expr = "the Tatra answer refuses the refresh under {word}")]
async fn refuses_refresh(w: &mut HarnessWorld, rule: String) -> StepResult {
    let ex = last_answer(w)?;
    if (400..500).contains(&ex.status()) {
        Ok(())
    } else {
        Err(format!(
            "{rule}: the refresh was not refused with a 4xx: {}",
            ex.summary()
        ))
    }
}

#[then(expr = "the refresh answers a taskId")]
async fn answers_task(w: &mut HarnessWorld) -> StepResult {
    if w.tatra.tasks.is_empty() {
        let answer = w
            .tatra
            .last
            .as_ref()
            .map(|e| e.summary())
            .unwrap_or_default();
        return Err(format!(
            "TB-08: the refresh answered no taskId at {}: {answer}",
            w.tatra_settings()?.task_id_pointer
        ));
    }
    Ok(())
}

// ---- webhooks ----------------------------------------------------------------------------------

/// The kept webhooks of TPP `tpp`'s receiver of kind `kind`, parsed.
fn events_of(w: &HarnessWorld, tpp: &str, kind: Kind) -> Vec<tb::Event> {
    let field = w.tatra_settings().ok().and_then(|t| t.kind_field.clone());
    w.mailboxes
        .get(&label(tpp, false))
        .map(|m| {
            m.kept
                .iter()
                .filter_map(|r| tb::parse(&r.body, field.as_deref()).ok())
                .filter(|e| e.kind == kind)
                .collect()
        })
        .unwrap_or_default()
}

/// Fails with every recorded webhook problem of rules `prefixes`.
fn problems_of(w: &HarnessWorld, prefixes: &[&str]) -> StepResult {
    let found: Vec<&str> = w
        .push_problems
        .iter()
        .filter(|p| prefixes.iter().any(|pre| p.starts_with(pre)))
        .map(String::as_str)
        .collect();
    if found.is_empty() {
        Ok(())
    } else {
        Err(found.join("\n"))
    }
}

#[then(
    expr = "every webhook to TPP {tpp} is a transactionEvent with NEW and the consent's own-bank accounts"
)]
async fn transaction_events(w: &mut HarnessWorld, tpp: Tpp) -> StepResult {
    problems_of(w, &["TB-06", "TB-11"])?;
    if events_of(w, &tpp.0, Kind::Transaction).is_empty() {
        return Err(format!(
            "TB-06: no webhook to TPP {} is a transactionEvent about its consent",
            tpp.0
        ));
    }
    Ok(())
}

#[then(expr = "every webhook to TPP {tpp} carries the configured security header as Authorization")]
async fn authorization(w: &mut HarnessWorld, tpp: Tpp) -> StepResult {
    let _ = tpp;
    problems_of(w, &["TB-03"])
}

#[then(expr = "every attempt to TPP {tpp} carries the same body")]
async fn same_body(w: &mut HarnessWorld, tpp: Tpp) -> StepResult {
    let kept: Vec<Received> = w
        .mailboxes
        .get(&label(&tpp.0, false))
        .map(|m| m.kept.clone())
        .unwrap_or_default();
    match kept.first() {
        Some(first) if kept.iter().any(|r| r.body != first.body) => Err(format!(
            "TB-11: the attempts of one webhook carry different bodies: {:?}",
            kept.iter().map(Received::body_text).collect::<Vec<_>>()
        )),
        _ => Ok(()),
    }
}

#[then(
    expr = "TPP {tpp}'s receiver gets one accountEvent per other bank of the consent, each with that taskId"
)]
async fn account_events(w: &mut HarnessWorld, tpp: Tpp) -> StepResult {
    let t = w.tatra_settings()?;
    let c = w.tatra_consent_of(&tpp.0)?;
    let mut banks: Vec<String> = Vec::new();
    for (_, b) in &c.accounts {
        if *b != t.home_bank && !banks.contains(b) {
            banks.push(b.clone());
        }
    }
    if banks.is_empty() {
        return Err(format!(
            "the consent has no accounts at banks other than {}; tatra.consent must create one \
             with accounts at several banks",
            t.home_bank
        ));
    }
    let lbl = label(&tpp.0, false);
    let checked = w.await_pushes(&lbl, banks.len(), t.refresh_timeout).await;
    problems_of(w, &["TB-07", "TB-08", "TB-09", "TB-11"])?;
    checked?;
    let got = events_of(w, &tpp.0, Kind::Account);
    let mut seen: Vec<String> = got
        .iter()
        .map(|e| e.str("bankCode").unwrap_or_default().to_string())
        .collect();
    seen.sort();
    let mut want = banks.clone();
    want.sort();
    if seen != want {
        return Err(format!(
            "TB-07: the refresh of consent {} was followed by accountEvents for banks {seen:?} \
             within {:?}; one per other bank, {want:?}, was due",
            c.id, t.refresh_timeout
        ));
    }
    Ok(())
}

#[then(expr = "no further accountEvent arrives for TPP {tpp} within the quiet period")]
async fn no_more_account_events(w: &mut HarnessWorld, tpp: Tpp) -> StepResult {
    let lbl = label(&tpp.0, false);
    let before = events_of(w, &tpp.0, Kind::Account).len();
    w.quiet(&lbl, 0, None).await?;
    let after = events_of(w, &tpp.0, Kind::Account);
    if after.len() > before {
        return Err(format!(
            "TB-07: {} more accountEvent(s) arrived after one per bank; first extra: {}",
            after.len() - before,
            after[before].object
        ));
    }
    Ok(())
}

#[then(expr = "TPP {tpp}'s receiver gets no webhook within the quiet period under {word}")]
async fn silence(w: &mut HarnessWorld, tpp: Tpp, rule: String) -> StepResult {
    let lbl = label(&tpp.0, false);
    w.mailbox(&tpp.0, &lbl).await?;
    // The quiet period counts from the transaction or refresh that could have caused a
    // webhook; an earlier step may already have waited part of it.
    let quiet = w.ctx()?.profile.push.quiet_period;
    if let Some(left) = w
        .tatra
        .fired_at
        .map(|t| (t + quiet).saturating_duration_since(std::time::Instant::now()))
    {
        tokio::time::sleep(left).await;
    } else {
        tokio::time::sleep(quiet).await;
    }
    let got = w.await_pushes(&lbl, 0, Duration::ZERO).await?;
    match got.first() {
        None => Ok(()),
        Some(r) => Err(format!(
            "{rule}: {} webhook(s) reached TPP {}'s endpoint; first: {}",
            got.len(),
            tpp.0,
            r.body_text().chars().take(300).collect::<String>()
        )),
    }
}

#[then(expr = "TPP {tpp}'s receiver gets no webhook before the activation hour")]
async fn silence_before_activation(w: &mut HarnessWorld, tpp: Tpp) -> StepResult {
    // The enabling step left at least the quiet period (plus clock skew) before the hour, so
    // anything arriving within the quiet period came before activation.
    silence(w, tpp, "TB-04".into()).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_to_the_next_hour() {
        let t = time::macros::datetime!(2026-12-01 11:31:00 UTC);
        assert_eq!(until_next_hour(t), Duration::from_secs(29 * 60));
        let t = time::macros::datetime!(2026-12-01 12:00:00 UTC);
        assert_eq!(until_next_hour(t), Duration::from_secs(3600));
    }
}
