//! The TPP-side verdicts a TPP publishes to the sandbox (issue 23 "the TPP-side verdicts of
//! the last referee run for this client"). A referee run (`obevents test --tpp`) plays the bank
//! in its own process, so the hosted sandbox never sees it; a TPP profile's `[publish]`
//! section sends the run's summary here afterwards, with the TPP's own token, and the portal's
//! Referee page shows the last one. This module owns what a published run is ([`RunSummary`]:
//! checked whole, bounded, re-serialised before it is stored, so the page only ever renders
//! what passed these checks), keeping, reading and forgetting it, and the helpers
//! `GET`/`PUT`/`DELETE /sandbox/referee-run`.
//!
//! The summary is the TPP's own claim about its own code, like a test report it attaches to a
//! ticket: the sandbox checks its shape and arithmetic, not that the run happened; the page
//! says so.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::domain::{ClientId, StoredRefereeRun, Timestamp};
use super::http::error::{EdgeError, ErrorItem, codes, json_response};
use super::http::extract::{AnyScope, Authed, ObJson};
use super::http::openapi::ops::{HELPER, HELPER_BODY_ERRORS, JSON, OpDoc, Reply, Security};
use super::http::routes::Routes;
use super::http::routes::Verb::{Delete, Get, Put};
use super::state::AppState;
use super::store::StoreError;

/// The largest summary accepted, in bytes of the request body (a run of every TPP scenario
/// with findings is well under a tenth of this).
pub const MAX_BYTES: usize = 512 * 1024;
/// The most scenarios and findings a summary may list.
pub const MAX_ITEMS: usize = 2_000;
/// The longest text of one field.
pub const MAX_TEXT: usize = 4_000;

pub use crate::model::verdict::Verdict;

/// One scenario of a published run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScenarioSummary {
    pub feature: String,
    pub line: u64,
    pub name: String,
    pub verdict: Verdict,
    #[serde(default)]
    pub rules: Vec<String>,
    #[serde(default)]
    pub failed_rules: Vec<String>,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub failed_step: Option<String>,
    #[serde(default)]
    pub duration_ms: u64,
}

/// What makes two sightings one defect (kind and endpoint), as the harness reports it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FindingKey {
    pub kind: String,
    pub endpoint: String,
}

/// One finding of a published run: a defect, the rules it breaks and where it was seen.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FindingSummary {
    pub key: FindingKey,
    #[serde(default)]
    pub rules: Vec<String>,
    pub message: String,
    #[serde(default)]
    pub occurrences: u64,
    #[serde(default)]
    pub scenarios: Vec<String>,
}

/// A referee run's summary: the harness's `summary.json` of a `--tpp` run. Members the
/// sandbox does not show (the catalogue's rule list, members of newer harnesses) are dropped.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunSummary {
    /// `tpp`: only referee runs are kept here.
    pub mode: String,
    #[serde(default)]
    pub harness: Option<String>,
    pub profile: String,
    pub target: String,
    pub duration_ms: u64,
    pub passed: u64,
    pub failed: u64,
    pub blocked: u64,
    pub not_applicable: u64,
    #[serde(default)]
    pub not_run: u64,
    pub scenarios: Vec<ScenarioSummary>,
    #[serde(default)]
    pub findings: Vec<FindingSummary>,
}

/// Why a summary is refused: where, and what is wrong there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub path: String,
    pub message: String,
}

fn refuse(path: impl Into<String>, message: impl Into<String>) -> Refusal {
    Refusal {
        path: path.into(),
        message: message.into(),
    }
}

impl RunSummary {
    /// Reads and checks a summary: its shape (naming the member at fault), the mode, the
    /// bounds, and that each count is the number of scenarios with that verdict.
    pub fn parse(value: Value) -> Result<RunSummary, Refusal> {
        // serde would also read a struct from an array of its members in order.
        if !value.is_object() {
            return Err(refuse("body", "must be a JSON object (a summary.json)"));
        }
        let run: RunSummary = serde_path_to_error::deserialize(value).map_err(|e| {
            let path = e.path().to_string();
            let path = if path == "." { "body".into() } else { path };
            refuse(path, e.inner().to_string())
        })?;
        run.check()?;
        Ok(run)
    }

    fn check(&self) -> Result<(), Refusal> {
        if self.mode != "tpp" {
            return Err(refuse(
                "mode",
                format!(
                    "only TPP referee runs (obevents test --tpp) are kept here, not mode {:?}",
                    self.mode
                ),
            ));
        }
        for (what, n) in [
            ("scenarios", self.scenarios.len()),
            ("findings", self.findings.len()),
        ] {
            if n > MAX_ITEMS {
                return Err(refuse(
                    what,
                    format!("at most {MAX_ITEMS} are kept, not {n}"),
                ));
            }
        }
        self.check_texts()?;
        let tally = |v: Verdict| self.scenarios.iter().filter(|s| s.verdict == v).count() as u64;
        for (what, claimed, v) in [
            ("passed", self.passed, Verdict::Passed),
            ("failed", self.failed, Verdict::Failed),
            ("blocked", self.blocked, Verdict::Blocked),
            (
                "not_applicable",
                self.not_applicable,
                Verdict::NotApplicable,
            ),
            ("not_run", self.not_run, Verdict::NotRun),
        ] {
            let counted = tally(v);
            if claimed != counted {
                return Err(refuse(
                    what,
                    format!(
                        "{what} is {claimed} but {counted} of the scenarios listed are {}",
                        v.label()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Every text within [`MAX_TEXT`] characters.
    fn check_texts(&self) -> Result<(), Refusal> {
        let mut texts: Vec<(String, &str)> = vec![
            ("profile".into(), &self.profile),
            ("target".into(), &self.target),
        ];
        if let Some(h) = &self.harness {
            texts.push(("harness".into(), h));
        }
        for (i, s) in self.scenarios.iter().enumerate() {
            let at = |m: &str| format!("scenarios[{i}].{m}");
            texts.push((at("feature"), &s.feature));
            texts.push((at("name"), &s.name));
            texts.extend(s.reason.as_deref().map(|r| (at("reason"), r)));
            texts.extend(s.failed_step.as_deref().map(|r| (at("failed_step"), r)));
            texts.extend(s.rules.iter().map(|r| (at("rules"), r.as_str())));
            texts.extend(
                s.failed_rules
                    .iter()
                    .map(|r| (at("failed_rules"), r.as_str())),
            );
        }
        for (i, f) in self.findings.iter().enumerate() {
            let at = |m: &str| format!("findings[{i}].{m}");
            texts.push((at("message"), &f.message));
            texts.push((at("key.kind"), &f.key.kind));
            texts.push((at("key.endpoint"), &f.key.endpoint));
            texts.extend(f.rules.iter().map(|r| (at("rules"), r.as_str())));
            texts.extend(f.scenarios.iter().map(|r| (at("scenarios"), r.as_str())));
        }
        match texts
            .into_iter()
            .find(|(_, t)| t.chars().count() > MAX_TEXT)
        {
            Some((path, _)) => Err(refuse(path, format!("at most {MAX_TEXT} characters"))),
            None => Ok(()),
        }
    }
}

/// A published run as the sandbox keeps it.
#[derive(Debug, Clone)]
pub struct Published {
    pub client_id: ClientId,
    pub received_at: Timestamp,
    pub run: RunSummary,
}

/// Why a run was not kept.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("no client with id {0}")]
    UnknownClient(ClientId),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Keeps `run` as `client_id`'s last referee run; when it was received, as stored (to the
/// second, so the answer to the PUT says what a later GET will).
pub async fn publish(
    st: &AppState,
    client_id: &ClientId,
    run: &RunSummary,
) -> Result<Timestamp, PublishError> {
    let text = serde_json::to_string(run).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let at = Timestamp::from_secs(Timestamp::now().as_secs());
    if !st.store.put_referee_run(client_id, &text, at).await? {
        return Err(PublishError::UnknownClient(client_id.clone()));
    }
    tracing::info!(
        client = %client_id,
        passed = run.passed,
        failed = run.failed,
        "referee run published"
    );
    Ok(at)
}

/// `client_id`'s last published run. A stored row this binary cannot read (written by a
/// newer one) reads as none rather than failing the page.
pub async fn last(st: &AppState, client_id: &ClientId) -> Result<Option<Published>, StoreError> {
    let Some(StoredRefereeRun {
        client_id,
        received_at,
        summary,
    }) = st.store.referee_run(client_id).await?
    else {
        return Ok(None);
    };
    match serde_json::from_str::<RunSummary>(&summary) {
        Ok(run) => Ok(Some(Published {
            client_id,
            received_at,
            run,
        })),
        Err(e) => {
            tracing::warn!(client = %client_id, error = %e, "stored referee run unreadable");
            Ok(None)
        }
    }
}

/// Forgets `client_id`'s published run; whether there was one.
pub async fn forget(st: &AppState, client_id: &ClientId) -> Result<bool, StoreError> {
    st.store.delete_referee_run(client_id).await
}

// ---- HTTP -----------------------------------------------------------------------------------

pub fn routes() -> Routes {
    Routes::new()
        .add(Get, "/sandbox/referee-run", &GET_OWN, get_own)
        .add(Put, "/sandbox/referee-run", &PUT_OWN, put_own)
        .add(Delete, "/sandbox/referee-run", &DELETE_OWN, delete_own)
        .with_schemas(schemas)
}

fn answer(status: StatusCode, p: &Published) -> Response {
    json_response(
        status,
        &json!({
            "clientId": p.client_id,
            "receivedAt": p.received_at.as_millis(),
            "run": p.run,
        }),
    )
}

fn none_yet() -> EdgeError {
    EdgeError::NotFound(ErrorItem::new(
        codes::NOT_FOUND,
        "this TPP has published no referee run (obevents test --tpp with a [publish] section)",
    ))
}

async fn get_own(State(s): State<AppState>, auth: Authed<AnyScope>) -> Result<Response, EdgeError> {
    match last(&s, &auth.client_id).await? {
        Some(p) => Ok(answer(StatusCode::OK, &p)),
        None => Err(none_yet()),
    }
}

async fn put_own(
    State(s): State<AppState>,
    auth: Authed<AnyScope>,
    body: ObJson,
) -> Result<Response, EdgeError> {
    if body.raw.len() > MAX_BYTES {
        return Err(EdgeError::PayloadTooLarge(MAX_BYTES));
    }
    let run = RunSummary::parse(body.value)
        .map_err(|r| EdgeError::invalid(r.path, format!("the run summary: {}", r.message)))?;
    let received_at = match publish(&s, &auth.client_id, &run).await {
        Ok(at) => at,
        // The token's client was removed meanwhile: its token names nobody.
        Err(PublishError::UnknownClient(_)) => {
            return Err(EdgeError::Unauthorized {
                invalid_token: true,
                reason: None,
            });
        }
        Err(PublishError::Store(e)) => return Err(e.into()),
    };
    let published = Published {
        client_id: auth.client_id.clone(),
        received_at,
        run,
    };
    Ok(answer(StatusCode::OK, &published))
}

async fn delete_own(
    State(s): State<AppState>,
    auth: Authed<AnyScope>,
) -> Result<Response, EdgeError> {
    if forget(&s, &auth.client_id).await? {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(none_yet())
    }
}

// ---- /openapi.json --------------------------------------------------------------------------

const OWN: OpDoc = OpDoc {
    security: Security::AnyToken,
    ..HELPER
};
pub const GET_OWN: OpDoc = OpDoc {
    id: "sandboxGetOwnRefereeRun",
    summary: "The last TPP-side referee run the caller published",
    description: "404 until the TPP publishes one (obevents test --tpp with a [publish] section).",
    responses: &[Reply::Body(200, "OK", JSON, "PublishedRefereeRun")],
    ..OWN
};
pub const PUT_OWN: OpDoc = OpDoc {
    id: "sandboxPublishRefereeRun",
    summary: "Publish the summary of a TPP-side referee run, for the portal's Referee page",
    description: "The body is the summary.json of an `obevents test --tpp` run. It replaces the caller's previous one. Each count must equal the number of scenarios with that verdict; texts are at most 4000 characters, lists at most 2000 items, the body at most 512 KiB.",
    request: Some((JSON, "RefereeRunSummary")),
    responses: &[Reply::Body(200, "OK", JSON, "PublishedRefereeRun")],
    errors: HELPER_BODY_ERRORS,
    ..OWN
};
pub const DELETE_OWN: OpDoc = OpDoc {
    id: "sandboxForgetRefereeRun",
    summary: "Forget the referee run the caller published",
    responses: &[Reply::Empty(204, "No Content")],
    ..OWN
};

fn schemas() -> Value {
    let string = json!({ "type": "string" });
    let strings = json!({ "type": "array", "items": string });
    let int = json!({ "type": "integer", "minimum": 0 });
    let verdict = json!({ "type": "string", "enum": ["passed", "failed", "blocked", "not-applicable", "not-run"] });
    let summary = json!({
        "type": "object",
        "properties": {
            "mode": { "type": "string", "enum": ["tpp"] },
            "harness": string, "profile": string, "target": string, "duration_ms": int,
            "passed": int, "failed": int, "blocked": int, "not_applicable": int, "not_run": int,
            "scenarios": { "type": "array", "maxItems": MAX_ITEMS, "items": {
                "type": "object",
                "properties": {
                    "feature": string, "line": int, "name": string, "verdict": verdict,
                    "rules": strings, "failed_rules": strings,
                    "reason": { "type": ["string", "null"] },
                    "failed_step": { "type": ["string", "null"] }, "duration_ms": int,
                },
                "required": ["feature", "line", "name", "verdict"],
            }},
            "findings": { "type": "array", "maxItems": MAX_ITEMS, "items": {
                "type": "object",
                "properties": {
                    "key": { "type": "object", "properties": { "kind": string, "endpoint": string }, "required": ["kind", "endpoint"] },
                    "rules": strings, "message": string, "occurrences": int, "scenarios": strings,
                },
                "required": ["key", "message"],
            }},
        },
        "required": ["mode", "profile", "target", "duration_ms", "passed", "failed", "blocked", "not_applicable", "scenarios"],
    });
    json!({
        "RefereeRunSummary": summary,
        "PublishedRefereeRun": {
            "type": "object",
            "properties": {
                "clientId": string,
                "receivedAt": { "type": "integer", "description": "Unix milliseconds" },
                "run": { "$ref": "#/components/schemas/RefereeRunSummary" },
            },
            "required": ["clientId", "receivedAt", "run"],
        },
    })
}
