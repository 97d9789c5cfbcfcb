//! Requests in general and what any answer must show: status, the OBIE error body (G-12, G-13),
//! headers (G-06, G-09, R8936-28) and response signatures (G-14).

use cucumber::{then, when};
use reqwest::Method;
use serde_json::Value;

use super::params::{Tpp, unquote};
use crate::harness::client::Request;
use crate::harness::context::Purpose;
use crate::harness::profile::Conformance;
use crate::harness::template::Context;
use crate::harness::world::{HarnessWorld, StepResult};
use crate::jose;

fn purpose_for(path: &str) -> Purpose {
    if path.starts_with("/events") {
        Purpose::Polling
    } else {
        Purpose::Events
    }
}

fn method(m: &str) -> Result<Method, String> {
    Method::from_bytes(m.as_bytes()).map_err(|e| format!("bad method {m}: {e}"))
}

#[when(expr = "TPP {tpp} sends {word} {string}")]
async fn send(w: &mut HarnessWorld, tpp: Tpp, m: String, path: String) -> StepResult {
    let path = w.fill(&tpp.0, &unquote(&path), Context::Url).await?;
    w.call(&tpp.0, purpose_for(&path), method(&m)?, &path, None, false)
        .await
        .map(|_| ())
}

#[when(expr = "TPP {tpp} sends {word} {string} with the raw body {string}")]
async fn send_raw(
    w: &mut HarnessWorld,
    tpp: Tpp,
    m: String,
    path: String,
    body: String,
) -> StepResult {
    let ctx = w.ctx()?;
    let path = w.fill(&tpp.0, &unquote(&path), Context::Url).await?;
    let next = std::mem::take(&mut w.next);
    let req = Request::new(method(&m)?, ctx.api_url(&path))
        .header("Accept", "application/json")
        .raw("application/json", unquote(&body).into_bytes());
    w.send_with(&tpp.0, purpose_for(&path), req, next, false)
        .await
        .map(|_| ())
}

#[then(expr = "the response status is {int}")]
async fn status_is(w: &mut HarnessWorld, status: u16) -> StepResult {
    let ex = w.last()?;
    if ex.status() == status {
        Ok(())
    } else {
        Err(format!("expected status {status}, got {}", ex.summary()))
    }
}

#[then(expr = "the response status is {int} or {int}")]
async fn status_either(w: &mut HarnessWorld, a: u16, b: u16) -> StepResult {
    let ex = w.last()?;
    if ex.status() == a || ex.status() == b {
        Ok(())
    } else {
        Err(format!("expected status {a} or {b}, got {}", ex.summary()))
    }
}

/// G-12: the body is an `OBErrorResponse1` sent as JSON; returns it. An RFC 8936 transmitter
/// (`conformance = "rfc8936"`) may shape its error bodies as it likes: `None`.
fn ob_error(w: &HarnessWorld) -> Result<Option<Value>, String> {
    let ctx = w.ctx()?;
    if ctx.profile.conformance != Conformance::Obie {
        return Ok(None);
    }
    let ex = w.last()?;
    let ct = ex.header("content-type").unwrap_or("");
    if !ct
        .trim_start()
        .to_ascii_lowercase()
        .starts_with("application/json")
    {
        return Err(format!(
            "G-12/G-09: the error body is not application/json (Content-Type {ct:?}): {}",
            ex.summary()
        ));
    }
    let v = ex
        .json()
        .ok_or_else(|| format!("G-12: the error body is not JSON: {}", ex.summary()))?;
    let problems = ctx.schemas.problems("OBErrorResponse1", &v);
    if !problems.is_empty() {
        return Err(format!(
            "G-12: the error body is not an OBErrorResponse1: {}",
            problems.join("; ")
        ));
    }
    Ok(Some(v))
}

fn has_code(v: &Option<Value>, code: &str) -> Result<(), String> {
    let Some(v) = v else { return Ok(()) };
    let codes: Vec<&str> = v
        .get("Errors")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|e| e.get("ErrorCode").and_then(Value::as_str))
                .collect()
        })
        .unwrap_or_default();
    if codes.contains(&code) {
        Ok(())
    } else {
        Err(format!(
            "G-13: expected ErrorCode {code}, the body has {codes:?}"
        ))
    }
}

#[then(expr = "the response is an OBIE error with status {int}")]
async fn ob_error_status(w: &mut HarnessWorld, status: u16) -> StepResult {
    if status == 400 && w.ctx()?.profile.conformance == Conformance::Rfc8936 {
        // RFC 8936 §2.5.1: an invalid request gets the applicable 4xx (R8936-25), 400 always
        // being acceptable (R8936-26); the body's shape is the transmitter's.
        let ex = w.last()?;
        return if (400..500).contains(&ex.status()) {
            Ok(())
        } else {
            Err(format!(
                "R8936-25: expected a 4xx for an invalid request, got {}",
                ex.summary()
            ))
        };
    }
    status_is(w, status).await?;
    ob_error(w).map(|_| ())
}

/// An error answer in the OBIE shape, whatever its status: for scenarios about something
/// every error carries (its interaction id), where which 4xx is another rule's check.
#[then(expr = "the response is an OBIE error")]
async fn ob_error_any(w: &mut HarnessWorld) -> StepResult {
    let ex = w.last()?;
    if !(400..600).contains(&ex.status()) {
        return Err(format!("expected an error answer, got {}", ex.summary()));
    }
    if w.ctx()?.profile.conformance == Conformance::Rfc8936 {
        // The body's shape is the transmitter's (R8936-25).
        return Ok(());
    }
    ob_error(w).map(|_| ())
}

#[then(expr = "the response is an OBIE error with status {int} and code {string}")]
async fn ob_error_code(w: &mut HarnessWorld, status: u16, code: String) -> StepResult {
    status_is(w, status).await?;
    has_code(&ob_error(w)?, &unquote(&code))
}

#[then(expr = "any error body is an OBIE error with code {string}")]
async fn optional_error_code(w: &mut HarnessWorld, code: String) -> StepResult {
    if w.last()?.response_body.trim().is_empty() {
        return Ok(());
    }
    has_code(&ob_error(w)?, &unquote(&code))
}

#[then(expr = "the error names the field {string}")]
async fn names_field(w: &mut HarnessWorld, field: String) -> StepResult {
    let field = unquote(&field);
    let Some(v) = ob_error(w)? else {
        return Ok(());
    };
    let named = v.get("Errors").and_then(Value::as_array).is_some_and(|a| {
        a.iter().any(|e| {
            e.get("Path")
                .and_then(Value::as_str)
                .is_some_and(|p| p.contains(&field))
        })
    });
    if named {
        Ok(())
    } else {
        Err(format!(
            "G-13: no error item has a Path naming {field:?}: {v}"
        ))
    }
}

#[then(expr = "the response has no body")]
async fn no_body(w: &mut HarnessWorld) -> StepResult {
    if w.ctx()?.profile.conformance == Conformance::Rfc8936 {
        // No body on a 401 is OBIE's rule (G-10); RFC 8936 and RFC 6750 leave the body open.
        return Ok(());
    }
    let ex = w.last()?;
    if ex.response_body.trim().is_empty() {
        Ok(())
    } else {
        // A 401 without a body is G-10's; a DELETE's 204 without one is ES-11's too.
        let rules = if ex.status() == 401 {
            "G-10"
        } else {
            "G-10/ES-11"
        };
        Err(format!(
            "{rules}: expected no body with {}, got {:?}",
            ex.status(),
            ex.response_body.chars().take(300).collect::<String>()
        ))
    }
}

#[then(expr = "the response body is valid against {word}")]
async fn valid_against(w: &mut HarnessWorld, schema: String) -> StepResult {
    let ctx = w.ctx()?;
    let ex = w.last()?;
    let v = ex
        .json()
        .ok_or_else(|| format!("the body is not JSON: {}", ex.summary()))?;
    let problems = ctx.schemas.problems(&schema, &v);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "the body is not a valid {schema}: {}",
            problems.join("; ")
        ))
    }
}

#[then(expr = "the response echoes the x-fapi-interaction-id")]
async fn echoes_iid(w: &mut HarnessWorld) -> StepResult {
    let ex = w.last()?;
    let sent = ex
        .request_header("x-fapi-interaction-id")
        .ok_or("the request had no x-fapi-interaction-id")?;
    match ex.header("x-fapi-interaction-id") {
        Some(got) if got == sent => Ok(()),
        Some(got) => Err(format!(
            "G-06: sent x-fapi-interaction-id {sent}, the answer carries {got}"
        )),
        None => Err("G-06: the answer has no x-fapi-interaction-id".into()),
    }
}

#[then(expr = "the response carries a new x-fapi-interaction-id")]
async fn new_iid(w: &mut HarnessWorld) -> StepResult {
    match w.last()?.header("x-fapi-interaction-id") {
        Some(v) if uuid::Uuid::parse_str(v.trim()).is_ok() => Ok(()),
        Some(v) => Err(format!(
            "G-06: x-fapi-interaction-id {v:?} is not an RFC 4122 UUID"
        )),
        None => Err("G-06: the answer has no x-fapi-interaction-id".into()),
    }
}

#[then(expr = "the response challenges with the Bearer scheme")]
async fn bearer_challenge(w: &mut HarnessWorld) -> StepResult {
    match w.last()?.header("www-authenticate") {
        Some(v) if v.trim_start().to_ascii_lowercase().starts_with("bearer") => Ok(()),
        Some(v) => Err(format!(
            "R8936-28: WWW-Authenticate {v:?} does not name the Bearer scheme"
        )),
        None => Err("R8936-28: a 401 must carry WWW-Authenticate naming the scheme".into()),
    }
}

#[then(expr = "the response content type is application\\/json")]
async fn content_type_json(w: &mut HarnessWorld) -> StepResult {
    let ct = w
        .last()?
        .header("content-type")
        .unwrap_or("")
        .to_ascii_lowercase();
    if ct.trim_start().starts_with("application/json") {
        Ok(())
    } else {
        Err(format!("G-09: Content-Type is {ct:?}"))
    }
}

#[then(expr = "the response carries a valid x-jws-signature")]
async fn valid_signature(w: &mut HarnessWorld) -> StepResult {
    let ctx = w.ctx()?;
    let ex = w.last()?.clone();
    let sig = ex
        .header("x-jws-signature")
        .ok_or("G-14: the answer has no x-jws-signature")?;
    let decoded = jose::decode_detached(sig, ex.response_body.as_bytes())
        .map_err(|e| format!("G-14: {e}"))?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let b64 = ctx.profile.spec_version == crate::model::bank::SpecVersion::V3_1_2;
    let problems = jose::ob_header_problems(&decoded.header, now, ctx.profile.clock_skew, b64);
    if !problems.is_empty() {
        return Err(format!("G-14: {}", problems.join("; ")));
    }
    if decoded.alg() != Some(ctx.profile.alg.as_str()) {
        return Err(format!(
            "J-02: the response signature uses {:?}, expected {}",
            decoded.alg(),
            ctx.profile.alg
        ));
    }
    let mut result = jose::verify(&decoded, &ctx.jwks(false).await?);
    if matches!(result, Err(jose::JoseError::UnknownKid(_))) {
        result = jose::verify(&decoded, &ctx.jwks(true).await?);
    }
    result.map_err(|e| format!("G-14: the response signature does not verify: {e}"))
}
