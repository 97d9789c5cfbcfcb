//! Assertions on the SETs a scenario received (N-*, J-*, R8417-*). Every SET is already checked
//! in full when it arrives; these steps each re-examine one rule so a scenario tagged with it
//! passes or fails on that rule alone.

use std::collections::HashSet;

use cucumber::then;
use serde_json::Value;

use super::params::unquote;
use crate::harness::outcome::BLOCKED;
use crate::harness::profile::Conformance;
use crate::harness::set_check::CheckedSet;
use crate::harness::world::{HarnessWorld, StepResult};
use crate::model::set::{RID, RLK, RTY};

fn sets(w: &HarnessWorld) -> Result<&[CheckedSet], String> {
    if w.sets.is_empty() {
        Err(format!(
            "{BLOCKED}no SET was received in this scenario, so there is none to judge"
        ))
    } else {
        Ok(&w.sets)
    }
}

/// Fails with every problem of the received SETs whose defect kind starts with one of `kinds`
/// (and with none of `except`).
fn problems_with(w: &HarnessWorld, kinds: &[&str], except: &[&str]) -> StepResult {
    let wanted = |k: &str| {
        kinds.iter().any(|pre| k.starts_with(pre)) && !except.iter().any(|x| k.starts_with(x))
    };
    let found: Vec<String> = sets(w)?
        .iter()
        .flat_map(|s| {
            s.problems
                .iter()
                .filter(|p| wanted(&p.kind))
                // The rule first, so the failure is charged to it; the SET's key lets the
                // report unfold the answer that carried it.
                .map(move |p| format!("{} (SET {})", p.message(), s.key))
        })
        .collect();
    if found.is_empty() {
        Ok(())
    } else {
        Err(found.join("\n"))
    }
}

#[then(expr = "every received SET is a compact JWS that is not alg none")]
async fn compact_signed(w: &mut HarnessWorld) -> StepResult {
    for s in sets(w)? {
        if s.token.split('.').count() != 3 {
            return Err(format!(
                "N-01/J-01: SET {} is not a three-part compact JWS",
                s.key
            ));
        }
        if s.header
            .get("alg")
            .and_then(Value::as_str)
            .is_none_or(|a| a == "none")
        {
            return Err(format!(
                "R8417-16: SET {} is unsigned (alg {:?})",
                s.key,
                s.header.get("alg")
            ));
        }
    }
    Ok(())
}

#[then(expr = "every received SET uses the profile's signing algorithm")]
async fn uses_alg(w: &mut HarnessWorld) -> StepResult {
    let want = w.ctx()?.profile.alg.clone();
    for s in sets(w)? {
        let alg = s.header.get("alg").and_then(Value::as_str).unwrap_or("");
        if alg != want {
            return Err(format!(
                "J-02: SET {} is signed with {alg:?}, expected {want}",
                s.key
            ));
        }
    }
    Ok(())
}

#[then(expr = "every received SET verifies with the key its kid names in the bank's JWKS")]
async fn verifies(w: &mut HarnessWorld) -> StepResult {
    problems_with(w, &["set-signature:"], &[])
}

#[then(expr = "every received SET has the OB JOSE header members")]
async fn ob_header(w: &mut HarnessWorld) -> StepResult {
    problems_with(w, &["set-header:"], &["set-header:alg"])
}

#[then(expr = "every received SET has the claims of OBEventNotification2")]
async fn claims_model(w: &mut HarnessWorld) -> StepResult {
    problems_with(w, &["claims:"], &["claims:duplicate-member"])
}

#[then(expr = "every received SET was issued by the bank's issuer")]
async fn issuer(w: &mut HarnessWorld) -> StepResult {
    problems_with(w, &["iss:"], &[])
}

#[then(expr = "no received SET has an iat in the future")]
async fn iat_past(w: &mut HarnessWorld) -> StepResult {
    problems_with(w, &["iat:"], &[])
}

#[then(expr = "every received SET has the receiving TPP as its audience")]
async fn audience(w: &mut HarnessWorld) -> StepResult {
    problems_with(w, &["aud:"], &[])
}

#[then(expr = "every received SET has an events object keyed by URIs with object values")]
async fn events_object(w: &mut HarnessWorld) -> StepResult {
    problems_with(
        w,
        &["events:", "claims:duplicate-member"],
        &["events:linked-account-subject"],
    )?;
    for s in sets(w)? {
        if !s.claims.get("events").is_some_and(Value::is_object) {
            return Err(format!("R8417-02: SET {} has no events object", s.key));
        }
    }
    Ok(())
}

#[then(expr = "every received SET is keyed by its own jti")]
async fn keyed_by_jti(w: &mut HarnessWorld) -> StepResult {
    let rule = match w.ctx()?.profile.conformance {
        Conformance::Obie => "AP-13",
        Conformance::Rfc8936 => "R8936-16",
    };
    for s in sets(w)? {
        match s.claims.get("jti").and_then(Value::as_str) {
            Some(j) if j == s.key => {}
            other => {
                return Err(format!(
                    "{rule}: a SET is keyed {:?} but its jti is {other:?}",
                    s.key
                ));
            }
        }
    }
    Ok(())
}

/// The SETs of the scenario's expected events, with the event each belongs to.
fn expected_sets(
    w: &HarnessWorld,
) -> Result<Vec<(crate::harness::world::Triggered, CheckedSet)>, String> {
    let mut out = Vec::new();
    for t in w.triggered.iter().filter(|t| t.expected) {
        let key = t.key.as_ref().ok_or_else(|| {
            format!(
                "the {} event for resource {} was never matched to a SET",
                t.event_type.short(),
                t.resource_id
            )
        })?;
        let set = w
            .sets
            .iter()
            .rev()
            .find(|s| s.id() == key)
            // Never received (crowded out of the batch, or lost: the delivery scenarios judge
            // that), its content cannot be judged here.
            .ok_or_else(|| format!("{BLOCKED}no SET {key} was received"))?;
        out.push((t.clone(), set.clone()));
    }
    if out.is_empty() {
        Err("no expected event was triggered".into())
    } else {
        Ok(out)
    }
}

#[then(expr = "the SET of each expected event carries that event type")]
async fn carries_type(w: &mut HarnessWorld) -> StepResult {
    for (t, s) in expected_sets(w)? {
        // A type of the bank's own named without its URI cannot be looked for.
        let Some(urn) = t.event_type.urn.as_deref() else {
            continue;
        };
        if !s.event_types().iter().any(|u| u == urn) {
            return Err(format!(
                "N-03: SET {} should carry {urn} but has {:?}",
                s.key,
                s.event_types()
            ));
        }
    }
    Ok(())
}

#[then(expr = "the SET of each expected event names its resource in the subject")]
async fn names_resource(w: &mut HarnessWorld) -> StepResult {
    let check_rid = w.ctx()?.trigger_uses_resource_id();
    for (t, s) in expected_sets(w)? {
        let urn = t.event_type.urn.clone().unwrap_or_default();
        let subject = s
            .claims
            .pointer(&format!(
                "/events/{}",
                urn.replace('~', "~0").replace('/', "~1")
            ))
            .and_then(|e| e.get("subject"))
            .ok_or_else(|| {
                format!(
                    "N-04/N-05/N-06: the {} event of SET {} has no subject",
                    t.event_type.short(),
                    s.key
                )
            })?;
        for member in ["subject_type", RID, RTY, RLK] {
            if subject.get(member).is_none() {
                return Err(format!("N-04: the subject of SET {} lacks {member}", s.key));
            }
        }
        if check_rid && subject.get(RID).and_then(Value::as_str) != Some(t.resource_id.as_str()) {
            return Err(format!(
                "N-04: the subject of SET {} names resource {:?}, the event was about {}",
                s.key,
                subject.get(RID),
                t.resource_id
            ));
        }
        if subject
            .get(RLK)
            .and_then(Value::as_array)
            .is_none_or(|a| a.is_empty())
        {
            return Err(format!(
                "N-04: the subject of SET {} has no resource links",
                s.key
            ));
        }
    }
    Ok(())
}

#[then(expr = "the subject of each expected event has resource type {string}")]
async fn resource_type(w: &mut HarnessWorld, rty: String) -> StepResult {
    let rty = unquote(&rty);
    for (_, s) in expected_sets(w)? {
        let got = s.subject().and_then(|x| x.get(RTY)).and_then(Value::as_str);
        if got != Some(rty.as_str()) {
            return Err(format!(
                "N-07: the subject of SET {} has {RTY} {got:?}, expected {rty:?}",
                s.key
            ));
        }
    }
    Ok(())
}

#[then(expr = "the received SETs have distinct jti values")]
async fn distinct(w: &mut HarnessWorld) -> StepResult {
    let mut seen: HashSet<String> = HashSet::new();
    let mut by_key: HashSet<String> = HashSet::new();
    for s in sets(w)? {
        // Redelivery of the same SET is fine (R8936-19); two different SETs sharing a jti are not.
        if !by_key.insert(s.key.clone()) {
            continue;
        }
        if let Some(j) = s.claims.get("jti").and_then(Value::as_str)
            && !seen.insert(j.to_string())
        {
            return Err(format!("R8417-08: two different SETs share the jti {j}"));
        }
    }
    if by_key.len() < 2 {
        return Err(format!(
            "{BLOCKED}fewer than two SETs were received, so their jtis cannot be compared"
        ));
    }
    Ok(())
}
