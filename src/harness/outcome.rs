//! The outcome of a run, shared by the runner (which fills it) and the reports (which read it):
//! each scenario's verdict (passed, failed, blocked, not applicable, not run), the run-wide
//! findings of the cross-cutting checks (grouped per defect by `defects`), and how a step
//! failure becomes a verdict (`settle` adds what the checks run on every answer kept for the
//! scenario).

use std::collections::BTreeMap;
use std::time::Duration;

use super::client::Exchange;
use super::features::is_rule_id;
use super::profile::Conformance;

pub use crate::model::verdict::Verdict;

/// One scenario's result, with the evidence the report shows.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ScenarioRecord {
    pub feature: String,
    pub path: String,
    pub name: String,
    pub line: usize,
    pub tags: Vec<String>,
    pub rules: Vec<String>,
    /// The rule a failed assertion naming no rule is charged to: the first of `rules`.
    pub primary: Option<String>,
    pub verdict: Verdict,
    /// The rules whose check failed (only for a failed scenario).
    pub failed_rules: Vec<String>,
    /// Failure message, the cause of a block, or why the scenario does not apply.
    pub reason: Option<String>,
    /// The step that failed or could not be completed.
    pub failed_step: Option<String>,
    pub duration_ms: u64,
    pub evidence: Vec<Exchange>,
    /// Indices in `evidence` of the exchanges the failed checks looked at (the report unfolds
    /// them).
    #[serde(skip)]
    pub unfold: Vec<usize>,
    /// What each of the scenario's mailboxes at the callback receiver got, as the receiver
    /// saw it (push and webhook scenarios).
    #[serde(skip)]
    pub receiver: Vec<ReceiverLog>,
}

/// The requests one mailbox of the callback receiver got in a scenario, in arrival order.
#[derive(Debug, Clone, Default)]
pub struct ReceiverLog {
    /// `A`, `A2`, `B`: whose receiver.
    pub mailbox: String,
    /// The URL the scenario registered.
    pub url: String,
    pub requests: Vec<ReceivedRequest>,
}

/// One request the receiver got, with what it answered.
#[derive(Debug, Clone, Default)]
pub struct ReceivedRequest {
    /// Arrival time, UTC, to the millisecond.
    pub arrived: String,
    /// Milliseconds since the request before it arrived.
    pub after_previous_ms: Option<u128>,
    pub method: String,
    pub path: String,
    /// What the receiver answered (`503`, or `held` past the bank's timeout).
    pub answered: String,
    /// Headers, credentials masked.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

pub use super::defects::Finding;

/// The result of a run.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    pub profile_name: String,
    pub target: String,
    pub scenarios: Vec<ScenarioRecord>,
    pub findings: Vec<Finding>,
    pub duration: Duration,
}

impl RunOutcome {
    pub fn count(&self, v: Verdict) -> usize {
        self.scenarios.iter().filter(|s| s.verdict == v).count()
    }

    pub fn with(&self, v: Verdict) -> impl Iterator<Item = &ScenarioRecord> {
        self.scenarios.iter().filter(move |s| s.verdict == v)
    }

    pub fn failed(&self) -> impl Iterator<Item = &ScenarioRecord> {
        self.with(Verdict::Failed)
    }

    pub fn blocked(&self) -> impl Iterator<Item = &ScenarioRecord> {
        self.with(Verdict::Blocked)
    }

    /// 1 when a scenario failed or was blocked, or a cross-cutting check found a problem.
    pub fn exit_code(&self) -> u8 {
        let bad = self.count(Verdict::Failed) + self.count(Verdict::Blocked) + self.findings.len();
        u8::from(bad > 0)
    }

    /// The findings grouped by rule ID (a finding naming two rules is under both).
    pub fn findings_by_rule(&self) -> BTreeMap<String, Vec<&Finding>> {
        let mut map: BTreeMap<String, Vec<&Finding>> = BTreeMap::new();
        for f in &self.findings {
            for r in &f.rules {
                map.entry(r.clone()).or_default().push(f);
            }
        }
        map
    }
}

/// The rule IDs a failure message names: the `A-01/B-02` before the first `:` of any of its
/// lines.
///
/// ```
/// use obevents::harness::outcome::rules_in;
/// assert_eq!(rules_in("AP-13/R8936-16: key differs"), vec!["AP-13", "R8936-16"]);
/// assert_eq!(rules_in("the poll answer breaks 1 rule(s):\n  J-05: crit"), vec!["J-05"]);
/// assert!(rules_in("expected status 200, got 404").is_empty());
/// ```
pub fn rules_in(message: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in message.lines() {
        let Some((head, _)) = line.trim().split_once(':') else {
            continue;
        };
        for id in head.split('/').map(str::trim) {
            if is_rule_id(id) && !out.iter().any(|r| r == id) {
                out.push(id.to_string());
            }
        }
    }
    out
}

/// Which kind of step failed (Gherkin's Given, When, Then).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepKind {
    Given,
    When,
    Then,
}

/// How a step says a check could not be judged because of something outside the scenario's
/// rules (the classification below makes its scenario blocked whatever kind of step it is).
pub const BLOCKED: &str = "blocked: ";

/// How a scenario is judged: the rules it is judged on at the profile's conformance level, its
/// primary rule (the first of them in tag order: what a failed assertion that names no rule
/// is charged to), and the level, which decides which rules a failure message may charge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Judging {
    pub rules: Vec<String>,
    pub primary: Option<String>,
    pub conformance: Conformance,
}

impl Judging {
    /// The judging of a scenario tagged with `rules` (already those `conformance` judges, in
    /// tag order).
    pub fn new(rules: Vec<String>, conformance: Conformance) -> Judging {
        Judging {
            primary: rules.first().cloned(),
            rules,
            conformance,
        }
    }

    /// The rules `message` names that this level judges.
    pub fn named(&self, message: &str) -> Vec<String> {
        rules_in(message)
            .into_iter()
            .filter(|r| self.conformance.judges(r))
            .collect()
    }

    /// What a problem named `message` is charged to in this scenario: the scenario's own rules
    /// it names, else (naming none of them, or no rule at all) its primary rule.
    pub fn charge(&self, message: &str) -> Vec<String> {
        let own: Vec<String> = self
            .named(message)
            .into_iter()
            .filter(|r| self.rules.contains(r))
            .collect();
        if own.is_empty() {
            self.primary.iter().cloned().collect()
        } else {
            own
        }
    }
}

/// The verdict of a scenario judged by `j` whose step `kind` failed with `message`, and the
/// rules whose check failed. A failure naming one of the scenario's own rules fails it under
/// those rules; a `Then` (the scenario's own assertion) fails it under the other rules it
/// names, or under the scenario's primary rule when it names none — never under every tag;
/// anything else is a precondition that could not be met. A `Then` naming only rules the level
/// does not judge (an OBIE rule under `rfc8936`) is no failure of this level: blocked.
pub fn classify(j: &Judging, kind: StepKind, message: &str) -> (Verdict, Vec<String>) {
    if message.starts_with(BLOCKED) {
        return (Verdict::Blocked, Vec::new());
    }
    let named_any = !rules_in(message).is_empty();
    let named = j.named(message);
    let own: Vec<String> = named
        .iter()
        .filter(|r| j.rules.contains(r))
        .cloned()
        .collect();
    if !own.is_empty() {
        return (Verdict::Failed, own);
    }
    match kind {
        StepKind::Then if !named_any => match &j.primary {
            Some(p) => (Verdict::Failed, vec![p.clone()]),
            None => (Verdict::Blocked, Vec::new()),
        },
        StepKind::Then if !named.is_empty() => (Verdict::Failed, named),
        StepKind::Then | StepKind::Given | StepKind::When => (Verdict::Blocked, Vec::new()),
    }
}

/// Separates a finding's problem from where it was first seen (the part [`finding_key`] ignores).
pub const SEEN_ON: &str = " — seen on ";

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_failure_is_charged_to_the_scenarios_own_rules_or_blocks_it() {
        let j = Judging::new(ids(&["AP-09", "R8936-11"]), Conformance::Obie);
        assert_eq!(
            classify(&j, StepKind::Given, "AP-09: served again"),
            (Verdict::Failed, ids(&["AP-09"]))
        );
        assert_eq!(
            classify(&j, StepKind::Given, "ES-02: cannot subscribe"),
            (Verdict::Blocked, vec![])
        );
        assert_eq!(
            classify(&j, StepKind::When, "cannot reach the target: refused"),
            (Verdict::Blocked, vec![])
        );
        assert_eq!(
            classify(&j, StepKind::Then, "blocked: AP-09: served again"),
            (Verdict::Blocked, vec![])
        );
        assert_eq!(
            classify(&j, StepKind::Then, "G-12: not an OBErrorResponse1"),
            (Verdict::Failed, ids(&["G-12"]))
        );
    }

    /// A failed assertion that names no rule is charged to the scenario's primary rule only,
    /// never to all its tags (issue 19 §4).
    #[test]
    fn an_assertion_naming_no_rule_is_charged_to_the_primary_rule() {
        let j = Judging::new(ids(&["G-03", "G-10", "R8936-28"]), Conformance::Obie);
        assert_eq!(
            classify(&j, StepKind::Then, "expected status 401, got 404"),
            (Verdict::Failed, ids(&["G-03"]))
        );
        let rfc = Judging::new(ids(&["R8936-28"]), Conformance::Rfc8936);
        assert_eq!(
            classify(&rfc, StepKind::Then, "expected status 401, got 404"),
            (Verdict::Failed, ids(&["R8936-28"]))
        );
        // An OBIE rule named under rfc8936 is charged to nothing.
        assert_eq!(
            classify(&rfc, StepKind::Then, "G-10: expected no body"),
            (Verdict::Blocked, vec![])
        );
        assert_eq!(
            classify(&rfc, StepKind::Then, "AP-07/R8936-03: 3 SETs"),
            (Verdict::Failed, ids(&["R8936-03"]))
        );
        assert_eq!(rfc.charge("G-06: no id"), ids(&["R8936-28"]));
    }
}
