//! The checks of a SET's claims and of how its problems are named: the `events` claim, `iss`,
//! `iat`, `aud`, the `sets` key against `jti`, and the defect kinds that make one defect one
//! finding (a header member, a schema violation's subject, problems of one kind merged).

use serde_json::Value;

use super::is_absolute_uri;
use crate::harness::defects::Problem;
use crate::model::EventType;
use crate::model::set::{OB_IAT, OB_ISS, OB_TAN, RTY};

/// The header member a header problem is about (its defect's kind), or `other`.
pub(super) fn header_member(text: &str) -> &'static str {
    ["crit", OB_IAT, OB_ISS, OB_TAN, "typ", "cty", "kid", "b64"]
        .into_iter()
        .find(|m| text.contains(m))
        .unwrap_or("other")
}

/// What a schema violation (`path: message` from [`Schemas::problems`]) is about: the member a
/// `required` message quotes, else the first segment of its instance path.
///
/// [`Schemas::problems`]: super::schema::Schemas::problems
pub(super) fn schema_subject(problem: &str) -> String {
    if let Some(path) = problem.strip_prefix('/') {
        return path
            .split(['/', ':'])
            .next()
            .unwrap_or_default()
            .to_string();
    }
    problem
        .split('"')
        .nth(1)
        .map_or_else(|| "document".to_string(), String::from)
}

/// One problem per kind: the texts of a SET's problems of one kind joined (the schema's and a
/// check's words for one defect).
pub(super) fn merge_kinds(problems: Vec<Problem>) -> Vec<Problem> {
    let mut out: Vec<Problem> = Vec::new();
    for p in problems {
        match out.iter_mut().find(|q| q.kind == p.kind) {
            Some(q) => {
                q.text = format!("{}; {}", q.text, p.text);
                for r in p.rules {
                    if !q.rules.contains(&r) {
                        q.rules.push(r);
                    }
                }
            }
            None => out.push(p),
        }
    }
    out
}

/// The `events` claim: an object of event URIs to objects (R8417-01, R8417-02), not empty
/// (N-03), a linked-account-update about a consent (N-07).
pub(super) fn events_problems(events: Option<&Value>) -> Vec<Problem> {
    let mut p = Vec::new();
    match events {
        None => p.push(Problem::new(
            "R8417-01",
            "claims:events",
            "the SET has no events claim",
        )),
        Some(Value::Object(events)) => {
            if events.is_empty() {
                p.push(Problem::new("N-03", "events:empty", "events is empty"));
            }
            for (k, v) in events {
                if !is_absolute_uri(k) {
                    p.push(Problem::new(
                        "R8417-02",
                        "events:key-not-uri",
                        format!("event identifier {k:?} is not a URI"),
                    ));
                }
                if !v.is_object() {
                    p.push(Problem::new(
                        "R8417-02",
                        "events:value-not-object",
                        format!("the value of event {k} is not a JSON object"),
                    ));
                }
            }
            if let Some(e) = events.get(EventType::AccountAccessConsentLinkedAccountUpdate.urn())
                && e.pointer("/subject")
                    .and_then(|s| s.get(RTY))
                    .and_then(Value::as_str)
                    != Some("account-access-consent")
            {
                p.push(Problem::new(
                    "N-07",
                    "events:linked-account-subject",
                    format!(
                        "a linked-account-update subject must have {RTY} account-access-consent"
                    ),
                ));
            }
        }
        Some(other) => p.push(Problem::new(
            "R8417-02",
            "claims:events",
            format!(
                "events is not a JSON object but {}",
                crate::model::json_type_name(other)
            ),
        )),
    }
    p
}

/// `iss` is a string, the expected issuer when the profile names one (R8417-06).
pub(super) fn iss_problem(claims: &Value, want: Option<&str>) -> Option<Problem> {
    match (claims.get("iss").and_then(Value::as_str), want) {
        (Some(iss), Some(want)) if iss != want => Some(Problem::new(
            "R8417-06",
            "iss:unexpected",
            format!("iss is {iss:?}, expected {want:?}"),
        )),
        (Some(_), _) => None,
        (None, _) => Some(Problem::new(
            "R8417-06",
            "iss:missing",
            "iss is missing or not a string",
        )),
    }
}

/// `iat` is a number not in the future beyond `skew` seconds (R8417-07).
pub(super) fn iat_problem(claims: &Value, now: i64, skew: i64) -> Option<Problem> {
    match claims.get("iat") {
        Some(Value::Number(n)) if n.as_f64().is_some_and(|t| t > (now + skew) as f64) => {
            Some(Problem::new(
                "R8417-07",
                "iat:future",
                format!("iat {n} is in the future (now {now}, skew {skew} s)"),
            ))
        }
        Some(Value::Number(_)) => None,
        _ => Some(Problem::new(
            "R8417-07",
            "iat:missing",
            "iat is missing or not a number",
        )),
    }
}

/// `aud` names the receiving TPP (N-02, R8417-09). OBIE requires it; RFC 8417 recommends it
/// and only judges it when present (`obie` false).
pub(super) fn aud_problem(claims: &Value, aud: &str, obie: bool) -> Option<Problem> {
    let got = claims.get("aud");
    let aud_ok = match got {
        Some(Value::String(a)) => a == aud,
        Some(Value::Array(a)) => a.iter().any(|v| v.as_str() == Some(aud)),
        None => !obie,
        _ => false,
    };
    (!aud_ok).then(|| {
        Problem::new(
            "N-02/R8417-09",
            "aud:not-the-receiver",
            format!(
                "aud is {}, expected the receiving TPP {aud:?}",
                got.unwrap_or(&Value::Null)
            ),
        )
    })
}

/// The `sets` key is the SET's jti (AP-13 for OBIE, R8936-16 for an RFC 8936 transmitter: one
/// defect, charged once under the level's own rule), which is a string (R8417-08).
pub(super) fn sets_key_problem(claims: &Value, key: &str, obie: bool) -> Option<Problem> {
    match claims.get("jti").and_then(Value::as_str) {
        Some(jti) if jti == key => None,
        Some(jti) => Some(Problem::new(
            if obie { "AP-13" } else { "R8936-16" },
            "sets-key:not-the-jti",
            format!("sets key {key:?} differs from the SET's jti {jti:?}"),
        )),
        None => Some(Problem::new(
            "R8417-08",
            "jti:missing",
            "jti is missing or not a string",
        )),
    }
}
