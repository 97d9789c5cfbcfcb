//! What a push must look like when it arrives: a POST of a compact SET with the SET media type,
//! an interaction id, to the registered URL unchanged, passing every check a polled SET gets.

use cucumber::then;

use super::*;

// ---- what arrives ------------------------------------------------------------------------------

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
