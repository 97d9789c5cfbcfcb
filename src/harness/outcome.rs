//! The outcome of a run, shared by the runner (which fills it) and the reports (which read it):
//! each scenario's verdict (passed, failed, blocked, not applicable, not run), the run-wide
//! findings of the cross-cutting checks, and how a step failure becomes a verdict (`settle`
//! adds what the checks run on every answer kept for the scenario).

use std::collections::BTreeMap;
use std::time::Duration;

use super::client::Exchange;
use super::features::is_rule_id;

/// How one scenario ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Every check of the scenario held.
    Passed,
    /// A check of one of the scenario's own rules did not hold.
    Failed,
    /// A precondition (setup, drain, token, subscription, trigger) could not be met: the
    /// scenario's rules were not tested.
    Blocked,
    /// The profile does not declare what the scenario needs.
    NotApplicable,
    /// `--fail-fast` stopped the run before the scenario started.
    NotRun,
}

impl Verdict {
    pub const ALL: [Verdict; 5] = [
        Verdict::Passed,
        Verdict::Failed,
        Verdict::Blocked,
        Verdict::NotApplicable,
        Verdict::NotRun,
    ];

    /// The label reports show.
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Passed => "passed",
            Verdict::Failed => "failed",
            Verdict::Blocked => "blocked",
            Verdict::NotApplicable => "not applicable",
            Verdict::NotRun => "not run",
        }
    }
}

/// One scenario's result, with the evidence the report shows.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ScenarioRecord {
    pub feature: String,
    pub path: String,
    pub name: String,
    pub line: usize,
    pub tags: Vec<String>,
    pub rules: Vec<String>,
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

/// A problem found by a check that runs on every answer (SET verification, poll schema, the
/// drain's acknowledgement check) in a scenario not tagged with the problem's rule: reported
/// once per distinct problem, with the scenarios where it was seen.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Finding {
    /// The rule IDs the problem names (its leading `A-01/B-02:` part).
    pub rules: Vec<String>,
    /// The problem as first seen.
    pub message: String,
    /// `path:line name` of every scenario where it was seen.
    pub scenarios: Vec<String>,
    /// The exchange that first showed it.
    #[serde(skip)]
    pub evidence: Option<Exchange>,
}

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

/// The verdict of a scenario whose step `kind` failed with `message`, and the rules whose check
/// failed. A failure naming one of the scenario's own rules fails it under those rules; a
/// `Then` (the scenario's own assertion) fails it under the rules it names, or the scenario's
/// rules when it names none; anything else is a precondition that could not be met.
pub fn classify(rules: &[String], kind: StepKind, message: &str) -> (Verdict, Vec<String>) {
    if message.starts_with(BLOCKED) {
        return (Verdict::Blocked, Vec::new());
    }
    let named = rules_in(message);
    let own: Vec<String> = named
        .iter()
        .filter(|r| rules.contains(r))
        .cloned()
        .collect();
    if !own.is_empty() {
        return (Verdict::Failed, own);
    }
    match kind {
        StepKind::Then if named.is_empty() => (Verdict::Failed, rules.to_vec()),
        StepKind::Then => (Verdict::Failed, named),
        StepKind::Given | StepKind::When => (Verdict::Blocked, Vec::new()),
    }
}

/// Separates a finding's problem from where it was first seen (the part [`finding_key`] ignores).
pub const SEEN_ON: &str = " — seen on ";

/// A finding's identity: its text with the parts that differ from one SET or request to the
/// next (ids, jtis, timestamps) masked, so one defect seen on many SETs is one finding.
///
/// ```
/// use obevents::harness::outcome::finding_key;
/// assert_eq!(
///     finding_key("J-05: SET 3f2a9c1e-1111-4222-8333-444455556666 lacks crit, iat 1790000000"),
///     finding_key("J-05: SET 9d0b7e2f-aaaa-4bbb-8ccc-ddddeeeeffff lacks crit, iat 1790000123"),
/// );
/// assert_eq!(
///     finding_key("G-06: no x-fapi-interaction-id — seen on GET /a (200)"),
///     finding_key("G-06: no x-fapi-interaction-id — seen on POST /b (400)"),
/// );
/// ```
pub fn finding_key(message: &str) -> String {
    // Where a defect was seen is evidence, not identity: one finding for every endpoint.
    let message = message.split(SEEN_ON).next().unwrap_or(message);
    let mut out = String::with_capacity(message.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        let digits = word.chars().filter(char::is_ascii_digit).count();
        let volatile = (word.len() >= 16 && digits > 0) || (digits >= 6 && digits == word.len());
        out.push_str(if volatile { "…" } else { word });
        word.clear();
    };
    for c in message.chars() {
        if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

/// A finding as one scenario recorded it (the runner merges them into [`Finding`]s).
#[derive(Debug, Clone)]
pub struct Seen {
    pub message: String,
    pub evidence: Option<Exchange>,
}

/// Merges the findings of every scenario (`scenario` label, what it saw) into distinct findings.
pub fn merge_findings(seen: Vec<(String, Vec<Seen>)>) -> Vec<Finding> {
    let mut out: Vec<Finding> = Vec::new();
    let mut index: BTreeMap<String, usize> = BTreeMap::new();
    for (scenario, list) in seen {
        for s in list {
            let key = finding_key(&s.message);
            let i = *index.entry(key).or_insert_with(|| {
                out.push(Finding {
                    rules: rules_in(&s.message),
                    message: s.message.clone(),
                    scenarios: Vec::new(),
                    evidence: s.evidence.clone(),
                });
                out.len() - 1
            });
            if !out[i].scenarios.contains(&scenario) {
                out[i].scenarios.push(scenario.clone());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_failure_is_charged_to_the_scenarios_own_rules_or_blocks_it() {
        let rules = ids(&["AP-09", "R8936-11"]);
        assert_eq!(
            classify(&rules, StepKind::Given, "AP-09: served again"),
            (Verdict::Failed, ids(&["AP-09"]))
        );
        assert_eq!(
            classify(&rules, StepKind::Given, "ES-02: cannot subscribe"),
            (Verdict::Blocked, vec![])
        );
        assert_eq!(
            classify(&rules, StepKind::When, "cannot reach the target: refused"),
            (Verdict::Blocked, vec![])
        );
        assert_eq!(
            classify(&rules, StepKind::Then, "expected status 200, got 400"),
            (Verdict::Failed, rules.clone())
        );
        assert_eq!(
            classify(&rules, StepKind::Then, "blocked: AP-09: served again"),
            (Verdict::Blocked, vec![])
        );
        assert_eq!(
            classify(&rules, StepKind::Then, "G-12: not an OBErrorResponse1"),
            (Verdict::Failed, ids(&["G-12"]))
        );
    }

    #[test]
    fn one_defect_on_many_sets_is_one_finding_with_every_scenario() {
        let seen = |jti: &str| Seen {
            message: format!("J-05: the SET under {jti}-0000-4000-8000-000000000000 lacks crit"),
            evidence: None,
        };
        let merged = merge_findings(vec![
            ("a:1 one".into(), vec![seen("11111111"), seen("22222222")]),
            ("b:2 two".into(), vec![seen("33333333")]),
            (
                "b:2 two".into(),
                vec![Seen {
                    message: "N-02: claims: txn missing".into(),
                    evidence: None,
                }],
            ),
        ]);
        assert_eq!(merged.len(), 2, "{merged:?}");
        assert_eq!(merged[0].rules, ids(&["J-05"]));
        assert_eq!(merged[0].scenarios, ids(&["a:1 one", "b:2 two"]));
        assert_eq!(merged[1].rules, ids(&["N-02"]));
    }
}
