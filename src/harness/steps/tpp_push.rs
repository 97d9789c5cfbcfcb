//! A TPP's push receiver (`features/tpp_push.feature`): the referee pushes valid and defective
//! SETs, and the TPP's answers are judged against OBIE R-05 and RFC 8935 §2–§2.4 (202 and an
//! empty body for a valid SET; 400 with `application/json` `{err, description}` and a
//! registered `err` for a defective one; `Content-Language`; repeats; what was processed).
//! A defect the TPP accepts is charged to the scenario's primary rule (the rule that says the
//! SET must be refused); a malformed refusal to the RFC 8935 answer rules.

use cucumber::{given, then, when};

use crate::harness::client::Exchange;
use crate::harness::referee::sets::Defect;
use crate::harness::world::{HarnessWorld, StepResult};

/// The registered SET error codes (RFC 8935 §7.1, IANA "Security Event Token Error Codes").
pub use crate::harness::profile::tpp_polling::RFC8935_CODES as REGISTERED_ERRS;

fn defect(phrase: &str) -> Option<Defect> {
    Some(match phrase {
        "a valid SET" => Defect::Valid,
        "a valid SET with unknown claims" => Defect::UnknownClaims,
        "a SET with a bad signature" => Defect::BadSignature,
        "a SET signed with an unknown kid" => Defect::UnknownKid,
        "a SET with alg none" => Defect::AlgNone,
        "a SET signed HS256 with its public key" => Defect::Hs256PublicKey,
        "a SET with a wrong aud" => Defect::WrongAud,
        "a SET addressed to another TPP" => Defect::OtherTpp,
        "a SET with a wrong iss" => Defect::WrongIss,
        "a SET with iat an hour in the future" => Defect::IatFuture,
        "a SET whose crit lacks the OB members" => Defect::CritLacksOb,
        "a body that is not a compact JWS" => Defect::NotJws,
        "a valid SET as text/plain" => Defect::TextPlain,
        _ => return None,
    })
}

#[when(regex = r"^the referee pushes (.+) to the TPP$")]
async fn pushes(w: &mut HarnessWorld, phrase: String) -> StepResult {
    let d = defect(&phrase).ok_or_else(|| format!("unknown SET {phrase:?} (harness bug)"))?;
    w.push_to_tpp(d).await
}

#[given("the TPP has accepted a valid SET")]
async fn has_accepted(w: &mut HarnessWorld) -> StepResult {
    w.push_to_tpp(Defect::Valid).await?;
    let (_, ex) = w.last_push()?;
    if !(200..300).contains(&ex.status()) {
        return Err(format!(
            "blocked: the TPP did not accept a valid SET: {}",
            ex.summary()
        ));
    }
    Ok(())
}

#[when("the referee rotates to a new signing key and pushes a valid SET signed with it")]
async fn rotates(w: &mut HarnessWorld) -> StepResult {
    w.push_with_new_key().await
}

#[when("the referee pushes the same SET again")]
async fn pushes_again(w: &mut HarnessWorld) -> StepResult {
    w.push_again().await
}

#[when("the referee pushes a valid control SET and waits until the TPP has processed it")]
async fn control(w: &mut HarnessWorld) -> StepResult {
    w.push_control_and_observe().await
}

/// The answer, or blocked when the push got none (nothing to judge).
fn answered(ex: &Exchange) -> Result<u16, String> {
    match &ex.error {
        Some(e) => Err(format!("blocked: the push got no answer: {e}")),
        None => Ok(ex.status()),
    }
}

#[then("the TPP accepts it with 202 and an empty body")]
async fn accepts_202(w: &mut HarnessWorld) -> StepResult {
    let (_, ex) = w.last_push()?;
    let status = answered(ex)?;
    if status != 202 {
        return Err(format!(
            "R-05/R8935-06: a valid SET must be answered 202 Accepted, got {}",
            ex.summary()
        ));
    }
    if !ex.response_body.trim().is_empty() {
        return Err(format!(
            "R-05/R8935-06: the 202 must have an empty body, it has {:?}",
            ex.response_body.chars().take(200).collect::<String>()
        ));
    }
    Ok(())
}

#[then("the TPP accepts it")]
async fn accepts(w: &mut HarnessWorld) -> StepResult {
    let (_, ex) = w.last_push()?;
    if !(200..300).contains(&answered(ex)?) {
        return Err(format!(
            "the valid SET was refused (claims and members a receiver does not know must be \
             ignored): {}",
            ex.summary()
        ));
    }
    Ok(())
}

#[then("the TPP's answer echoes the push's x-fapi-interaction-id")]
async fn echoes(w: &mut HarnessWorld) -> StepResult {
    let (_, ex) = w.last_push()?;
    answered(ex)?;
    let sent = ex
        .request_header("x-fapi-interaction-id")
        .unwrap_or_default();
    match ex.header("x-fapi-interaction-id") {
        Some(got) if got == sent => Ok(()),
        Some(got) => Err(format!(
            "R-05: the answer's x-fapi-interaction-id {got:?} is not the push's {sent:?}"
        )),
        None => Err("R-05: the answer carries no x-fapi-interaction-id".into()),
    }
}

#[then("the TPP answers within its declared time")]
async fn in_time(w: &mut HarnessWorld) -> StepResult {
    let within = w
        .tpp_run()?
        .push
        .as_ref()
        .map(|p| p.answer_within)
        .unwrap_or_default();
    let (_, ex) = w.last_push()?;
    if let Some(e) = &ex.error {
        // A push that timed out was not answered in time; any other transport failure says
        // nothing about the TPP's answer time.
        let lower = e.to_ascii_lowercase();
        if !(lower.contains("timed out") || lower.contains("timeout")) {
            return Err(format!("blocked: the push got no answer: {e}"));
        }
        return Err(format!(
            "R8935-07: no answer ({e}); the profile declares {} ms",
            within.as_millis()
        ));
    }
    if ex.elapsed() > within {
        return Err(format!(
            "R8935-07: the TPP answered after {} ms; its profile declares {} ms \
             (push.answer_within_ms)",
            ex.elapsed_ms,
            within.as_millis()
        ));
    }
    Ok(())
}

/// What is wrong with `ex` as an RFC 8935 §2.3 error answer (each line names its rule).
fn error_answer_problems(ex: &Exchange) -> Vec<String> {
    let mut out = Vec::new();
    let ct = ex.header("content-type").unwrap_or_default();
    let media = ct.split(';').next().unwrap_or_default().trim();
    if !media.eq_ignore_ascii_case("application/json") {
        out.push(format!(
            "R8935-09: the 400's Content-Type must be application/json, it is {ct:?}"
        ));
    }
    let Some(body) = ex.json().filter(serde_json::Value::is_object) else {
        out.push(format!(
            "R8935-09: the 400's body must be a JSON object with err and description, it is {:?}",
            ex.response_body.chars().take(200).collect::<String>()
        ));
        return out;
    };
    match body["err"].as_str() {
        Some(err) if REGISTERED_ERRS.contains(&err) => {}
        Some(err) => out.push(format!(
            "R8935-22: err {err:?} is not a registered SET error code ({})",
            REGISTERED_ERRS.join(", ")
        )),
        None => out.push(format!(
            "R8935-09: the error body has no string err: {body}"
        )),
    }
    if !body["description"].is_string() {
        out.push(format!(
            "R8935-09: the error body has no string description: {body}"
        ));
    }
    out
}

#[then(expr = "the TPP refuses it with 400 and an RFC 8935 error, expected err {string}")]
async fn refuses(w: &mut HarnessWorld, _expected: String) -> StepResult {
    // The registry ties no code to a cause (RFC 8935 §2.4): any registered err is right; the
    // expected one is what the README and the reference TPP use.
    let (set, ex) = w.last_push()?;
    let status = answered(ex)?;
    if (200..300).contains(&status) {
        return Err(format!(
            "the TPP accepted {:?}, which it must refuse: {}",
            set.defect,
            ex.summary()
        ));
    }
    if status != 400 {
        return Err(format!(
            "R8935-09: a SET that fails parsing or validation must be answered 400, got {}",
            ex.summary()
        ));
    }
    let problems = error_answer_problems(ex);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

#[then("the TPP refuses the media type with 400 and an RFC 8935 error or with 415")]
async fn refuses_media_type(w: &mut HarnessWorld) -> StepResult {
    let (_, ex) = w.last_push()?;
    match answered(ex)? {
        415 => Ok(()),
        400 => {
            let problems = error_answer_problems(ex);
            if problems.is_empty() {
                Ok(())
            } else {
                Err(problems.join("\n"))
            }
        }
        s if (200..300).contains(&s) => Err(format!(
            "the TPP accepted a SET sent as text/plain: {}",
            ex.summary()
        )),
        _ => Err(format!(
            "R8935-24: a push with a Content-Type that is not a SET media type is answered 400 \
             or 415, got {}",
            ex.summary()
        )),
    }
}

#[then("the TPP's error answer carries Content-Language")]
async fn content_language(w: &mut HarnessWorld) -> StepResult {
    let (_, ex) = w.last_push()?;
    let status = answered(ex)?;
    if !(400..500).contains(&status) {
        return Err(format!(
            "blocked: the TPP did not refuse the SET with a 4xx (answered {status}), so its \
             error answer cannot be judged"
        ));
    }
    match ex.header("content-language") {
        Some(l) if !l.trim().is_empty() => Ok(()),
        _ => Err("R8935-10: the error answer carries no Content-Language".into()),
    }
}

#[then("the TPP answered the repeat as it answered the first delivery")]
async fn repeat_same(w: &mut HarnessWorld) -> StepResult {
    let pushed = &w.referee.pushed;
    let [(_, first), (_, again), ..] = pushed.as_slice() else {
        return Err("the scenario pushed fewer than two SETs (harness bug)".into());
    };
    let (a, b) = (answered(first)?, answered(again)?);
    if !(200..300).contains(&a) {
        return Err(format!(
            "blocked: the first delivery of the valid SET was not accepted: {}",
            first.summary()
        ));
    }
    if a != b {
        return Err(format!(
            "R8935-13: the same SET again must be answered as its first delivery ({a}), got {}",
            again.summary()
        ));
    }
    Ok(())
}

#[then("the TPP processed the first SET exactly once")]
async fn processed_once(w: &mut HarnessWorld) -> StepResult {
    let (first, _) = w
        .referee
        .pushed
        .first()
        .ok_or("no SET was pushed (harness bug)")?;
    let list = w
        .referee
        .processed
        .as_ref()
        .ok_or("the scenario observed nothing (harness bug)")?;
    match list.iter().filter(|l| **l == first.jti).count() {
        1 => Ok(()),
        0 => Err(format!(
            "blocked: {} was accepted but never showed as processed, though the later control \
             SET did",
            first.jti
        )),
        n => Err(format!(
            "R8935-25: the SET {} delivered twice was processed {n} times",
            first.jti
        )),
    }
}

#[then("the TPP did not process the refused SET")]
async fn refused_not_processed(w: &mut HarnessWorld) -> StepResult {
    let (refused, ex) = w
        .referee
        .pushed
        .first()
        .ok_or("no SET was pushed (harness bug)")?;
    if (200..300).contains(&answered(ex)?) {
        return Err(format!(
            "blocked: the TPP accepted the {:?} SET (the scenario of its rule judges that), so \
             processing it is no further defect",
            refused.defect
        ));
    }
    let list = w
        .referee
        .processed
        .as_ref()
        .ok_or("the scenario observed nothing (harness bug)")?;
    if list.contains(&refused.jti) {
        return Err(format!(
            "R8935-05: the TPP processed the SET {} it refused ({:?})",
            refused.jti, refused.defect
        ));
    }
    Ok(())
}
