//! Recording what a scenario finds: problems of the checks that run on every answer (SET
//! verification, the schema of every poll, subscription, callback-URL and error answer,
//! interaction id, empty strings, SETs served after their acknowledgement) are charged to the
//! scenario only when it is tagged with their rule; the rest become findings the run reports
//! once each. A problem of the scenario's own rule does not fail the step that sent the request:
//! it is kept with its exchange, so the step whose check looks at that rule fails on it, and the
//! runner fails the scenario with it when no step did.

use std::time::SystemTime;

use serde_json::{Value, json};

use super::{HarnessWorld, StepResult};
use crate::harness::client::Exchange;
use crate::harness::context::RunContext;
use crate::harness::defects::{Occurrence, Problem};
use crate::harness::outcome::{BLOCKED, SEEN_ON};
use crate::harness::profile::Conformance;
use crate::harness::settle::Pending;

impl HarnessWorld {
    /// Splits `problems` into those of the scenario's own rules, which it returns for the step
    /// to fail on, and the others, recorded as occurrences of their defect (findings, grouped
    /// per defect by [`defects`](crate::harness::defects)) with `evidence`. A problem naming no
    /// rule stays the scenario's; one naming only rules the profile's conformance level does
    /// not judge is dropped.
    pub fn triage(&mut self, problems: Vec<Problem>, evidence: Option<&Exchange>) -> Vec<Problem> {
        let Some(conformance) = self.ctx.as_ref().map(|c| c.profile.conformance) else {
            return problems;
        };
        let mut own = Vec::new();
        for p in problems.into_iter().filter_map(|p| p.judged(conformance)) {
            if p.rules.is_empty() || p.rules.iter().any(|r| self.rules.contains(r)) {
                own.push(p);
            } else {
                self.findings.push(Occurrence::new(p, evidence));
            }
        }
        own
    }

    /// Records `problem` as a finding whatever the scenario's rules (a defect the scenario did
    /// not cause and does not check), if the profile's conformance level judges it.
    pub fn record_finding(&mut self, problem: Problem, evidence: Option<&Exchange>) {
        let conformance = self.ctx.as_ref().map(|c| c.profile.conformance);
        if let Some(p) = conformance.map_or(Some(problem.clone()), |c| problem.judged(c)) {
            self.findings.push(Occurrence::new(p, evidence));
        }
    }

    /// Like [`triage`](Self::triage), but the scenario's own problems are kept as pending
    /// (with the exchange at `index` in the evidence) instead of failing the step at hand.
    /// During the harness's housekeeping (the drain before a scenario) every problem is a
    /// finding: what an earlier scenario left behind is not this scenario's check.
    pub fn defer(&mut self, problems: Vec<Problem>, evidence: Option<&Exchange>, index: usize) {
        let at = SystemTime::now();
        if self.housekeeping {
            for p in problems {
                self.record_finding(p, evidence);
            }
            return;
        }
        for p in self.triage(problems, evidence) {
            self.checks.pending.push(Pending {
                message: p.message(),
                kind: p.kind,
                exchange: Some(index),
                at,
            });
        }
    }

    /// The checks every API answer gets: `x-fapi-interaction-id` played back or minted (G-06),
    /// no empty strings in the body (G-15), and the schema of a subscription, callback-URL or
    /// error answer (ES-02, ES-08, ES-10, CB-02, G-12). Problems of other rules than the
    /// scenario's become findings; the scenario's own are kept as pending ([`defer`](Self::defer)).
    pub fn check_answer(&mut self, ex: &Exchange) -> StepResult {
        let ctx = self.ctx()?;
        if ctx.profile.conformance != Conformance::Obie {
            // Interaction ids, the empty-string rule and the OB schemas are OBIE's, not RFC 8936's.
            return Ok(());
        }
        let mut problems = Vec::new();
        let path = url::Url::parse(&ex.url)
            .map(|u| u.path().to_string())
            .unwrap_or_else(|_| ex.url.clone());
        let seen = format!("{SEEN_ON}{} {path} ({})", ex.method, ex.status());
        match (
            ex.request_header("x-fapi-interaction-id"),
            ex.header("x-fapi-interaction-id"),
        ) {
            (_, None) => problems.push(Problem::new(
                "G-06",
                "interaction-id:missing",
                format!("an answer carries no x-fapi-interaction-id{seen}"),
            )),
            (Some(sent), Some(got)) if sent != got => problems.push(Problem::new(
                "G-06",
                "interaction-id:not-played-back",
                format!(
                    "an answer does not play back the request's x-fapi-interaction-id{seen}: sent {sent}, got {got}"
                ),
            )),
            _ => {}
        }
        if let Some(body) = ex.json() {
            let mut empty = Vec::new();
            empty_strings(&body, String::new(), &mut empty);
            for pointer in empty {
                problems.push(Problem::new(
                    "G-15",
                    format!("empty-string:{pointer}"),
                    format!(
                        "{pointer} is an empty string (absent optional fields are omitted){seen}"
                    ),
                ));
            }
        }
        if let Some((schema, rule)) = answer_schema(&ctx, ex) {
            let found = match ex.json() {
                Some(body) => ctx.schemas.problems(schema, &body),
                None => vec!["the body is not JSON".to_string()],
            };
            // One body breaking its schema in several places is one defect: every violation
            // in one message.
            if !found.is_empty() {
                problems.push(Problem::new(
                    rule,
                    format!("schema:{schema}"),
                    format!(
                        "the answer is not a valid {schema}: {}{seen}",
                        found.join("; ")
                    ),
                ));
            }
        }
        let index = self.evidence.len().saturating_sub(1);
        self.defer(problems, Some(ex), index);
        Ok(())
    }

    /// `failure` of a check on the last poll answer, or a block when that answer held SETs the
    /// bank keeps serving after they were acknowledged, or other TPPs' SETs: they took room in
    /// the batch, kept `moreAvailable` true or answered a long poll early, so the scenario's own
    /// rule cannot be judged.
    pub fn excuse(&self, failure: String) -> String {
        let Some(p) = self.last_poll.as_ref() else {
            return failure;
        };
        if p.stuck > 0 {
            return format!(
                "{BLOCKED}the answer held {} SET(s) the bank keeps serving after they were acknowledged \
                 (AP-09), so this check cannot be judged; {failure}",
                p.stuck
            );
        }
        if !p.leaked.is_empty() {
            return format!(
                "{BLOCKED}the answer held {} SET(s) of events raised for other TPPs (AP-17), so this \
                 check cannot be judged; {failure}",
                p.leaked.len()
            );
        }
        failure
    }
}

/// The schema an answer to `ex` must follow and the rule that asks for it: a subscription
/// created (ES-02), replaced (ES-10) or listed (ES-08), a callback URL created, replaced or
/// listed (CB-02), and an error body on any endpoint where the OpenAPI attaches one (400, 403,
/// 500: G-12; a 403 may have none).
fn answer_schema(ctx: &RunContext, ex: &Exchange) -> Option<(&'static str, &'static str)> {
    let status = ex.status();
    if matches!(status, 400 | 403 | 500) {
        return (!ex.response_body.trim().is_empty()).then_some(("OBErrorResponse1", "G-12"));
    }
    let url = ex.url.split(['?', '#']).next().unwrap_or_default();
    let resources = [
        (
            "/event-subscriptions",
            "OBEventSubscriptionResponse1",
            "OBEventSubscriptionsResponse1",
            ["ES-02", "ES-10", "ES-08"],
        ),
        (
            "/callback-urls",
            "OBCallbackUrlResponse1",
            "OBCallbackUrlsResponse1",
            ["CB-02"; 3],
        ),
    ];
    for (resource, one, list, [created, replaced, listed]) in resources {
        let base = ctx.api_url(resource);
        let collection = url == base || url.strip_suffix('/') == Some(base.as_str());
        let item = url
            .strip_prefix(&base)
            .is_some_and(|rest| rest.len() > 1 && rest.starts_with('/'));
        match (ex.method.as_str(), status) {
            ("POST", 201) if collection => return Some((one, created)),
            ("PUT", 200) if item => return Some((one, replaced)),
            ("GET", 200) if collection => return Some((list, listed)),
            _ => {}
        }
    }
    None
}

/// A `setErrs` member reporting every one of `keys` as an error.
pub fn set_errs(keys: &[String]) -> Value {
    let mut m = serde_json::Map::new();
    for k in keys {
        m.insert(
            k.clone(),
            json!({ "err": "invalid_key", "description": "obevents harness: reported as an error on purpose" }),
        );
    }
    Value::Object(m)
}

/// JSON pointers of every empty string in `v`.
fn empty_strings(v: &Value, at: String, out: &mut Vec<String>) {
    match v {
        Value::String(s) if s.is_empty() => out.push(if at.is_empty() { "/".into() } else { at }),
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                empty_strings(x, format!("{at}/{i}"), out);
            }
        }
        Value::Object(m) => {
            for (k, x) in m {
                empty_strings(x, format!("{at}/{k}"), out);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harness::profile::Profile;
    use crate::sandbox::SandboxConfig;
    use crate::sandbox::embedded::declaration;
    use crate::sandbox::personality::Bank;
    use std::sync::Arc;

    fn world(rules: &[&str]) -> HarnessWorld {
        let d = declaration(&SandboxConfig::for_bank(Bank::Obie));
        let profile = Profile::for_sandbox("http://bank.test", &d).unwrap();
        let mut w = HarnessWorld::new();
        w.ctx = Some(Arc::new(RunContext::new(profile).unwrap()));
        w.rules = rules.iter().map(|r| r.to_string()).collect();
        w
    }

    fn answer(method: &str, path: &str, status: u16, body: Value) -> Exchange {
        Exchange {
            method: method.into(),
            url: format!("http://bank.test/open-banking/v3.1{path}"),
            request_headers: Vec::new(),
            request_body: None,
            status: Some(status),
            response_headers: vec![(
                "x-fapi-interaction-id".into(),
                "93bac548-d2de-4546-b106-880a5018460d".into(),
            )],
            response_body: body.to_string(),
            error: None,
            elapsed_ms: 1,
            decoded_sets: Vec::new(),
            started: None,
            finished: None,
        }
    }

    fn rules_of(w: &HarnessWorld) -> (Vec<String>, Vec<String>) {
        let found = w
            .findings
            .iter()
            .flat_map(|f| f.problem.rules.clone())
            .collect();
        let own = w
            .checks
            .pending
            .iter()
            .flat_map(|p| crate::harness::outcome::rules_in(&p.message))
            .collect();
        (found, own)
    }

    /// Every subscription, callback-URL and error answer is checked against its schema under
    /// the rule that asks for it; the scenario's own rules are kept as pending, the rest are
    /// findings (issue 12 §2).
    #[tokio::test]
    async fn every_resource_and_error_answer_is_checked_against_its_schema() {
        let created = answer(
            "POST",
            "/event-subscriptions",
            201,
            json!({ "Data": { "EventSubscriptionId": "s1", "Version": "3.1", "CallbackUrl": "" } }),
        );
        let mut w = world(&["ES-03"]);
        w.check_answer(&created).unwrap();
        assert_eq!(rules_of(&w), (vec!["G-15".into(), "ES-02".into()], vec![]));
        let mut w = world(&["ES-02"]);
        w.check_answer(&created).unwrap();
        assert_eq!(rules_of(&w), (vec!["G-15".into()], vec!["ES-02".into()]));

        let cases = [
            answer(
                "PUT",
                "/event-subscriptions/s1",
                200,
                json!({ "Data": { "Version": "3.1" } }),
            ),
            answer(
                "GET",
                "/event-subscriptions",
                200,
                json!({ "Data": { "EventSubscription": {} } }),
            ),
            answer(
                "GET",
                "/callback-urls",
                200,
                json!({ "Data": { "CallbackUrl": {} } }),
            ),
            answer(
                "POST",
                "/callback-urls",
                201,
                json!({ "Data": { "Url": "x" } }),
            ),
            answer("POST", "/events", 400, json!({ "error": "bad" })),
        ];
        for (ex, rule) in cases
            .iter()
            .zip(["ES-10", "ES-08", "CB-02", "CB-02", "G-12"])
        {
            let mut w = world(&[]);
            w.check_answer(ex).unwrap();
            let mut found = rules_of(&w).0;
            found.dedup();
            assert_eq!(found, vec![rule.to_string()], "{} {}", ex.method, ex.url);
        }
        // A valid answer, a 403 without a body and a 409 are not judged by a schema.
        for ex in [
            answer(
                "GET",
                "/event-subscriptions",
                200,
                json!({ "Data": { "EventSubscription": [] } }),
            ),
            Exchange {
                response_body: String::new(),
                ..answer("DELETE", "/event-subscriptions/s1", 403, json!(null))
            },
            answer(
                "POST",
                "/event-subscriptions",
                409,
                json!({ "anything": 1 }),
            ),
        ] {
            let mut w = world(&[]);
            w.check_answer(&ex).unwrap();
            assert_eq!(rules_of(&w), (vec![], vec![]), "{} {}", ex.method, ex.url);
        }
    }

    #[test]
    fn empty_strings_are_found_wherever_they_are() {
        let body = json!({
            "Data": { "CallbackUrl": "", "EventTypes": ["a", ""], "Version": "3.1" },
            "Meta": {}
        });
        let mut found = Vec::new();
        empty_strings(&body, String::new(), &mut found);
        assert_eq!(found, ["/Data/CallbackUrl", "/Data/EventTypes/1"]);
        let mut none = Vec::new();
        empty_strings(&json!({ "Meta": {}, "sets": {} }), String::new(), &mut none);
        assert!(none.is_empty());
    }
}
