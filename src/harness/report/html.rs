//! The self-contained HTML report a bank can hand to an auditor: a summary whose counts link to
//! the failed and blocked scenarios, an index of what to fix, the findings of the checks run on
//! every answer (each once, with the scenarios where seen), the catalogue's rules with their
//! level and verdict (and the rules no scenario covers yet), every scenario, and for each failed
//! or blocked scenario the text and source of the rules it failed, what the harness's callback
//! receiver got (arrival, delay, answer, headers, body), and the requests, responses and decoded
//! SETs as evidence (credentials masked when they were recorded). Rule ids link to the rule
//! table.
//!
//! This module owns what the report says: it turns a run into the plain values of the page
//! (this file: summary, index, rule table, scenarios; `evidence`: failures and findings). The
//! markup is the askama templates in `templates/` (`report.html`, `macros.html`), checked at
//! compile time; they escape every value, so whatever a bank put in a body, header or URL is
//! shown as text.

mod evidence;
#[cfg(test)]
mod tests;

use askama::Template;

use super::{RuleVerdict, catalogue_verdicts};
use crate::harness::catalogue::Catalogue;
use crate::harness::outcome::{RunOutcome, ScenarioRecord, Verdict};
use evidence::{FailureView, FindingGroup};

/// The whole report, as the template `report.html` lays it out.
#[derive(Template)]
#[template(path = "report.html")]
struct ReportPage<'a> {
    profile: &'a str,
    target: &'a str,
    /// The run's length in seconds, one decimal.
    seconds: String,
    version: &'static str,
    counts: Counts,
    /// What to fix: the failed and blocked scenarios…
    index: Vec<IndexLine<'a>>,
    /// …and the findings.
    index_findings: Vec<IndexFinding>,
    failures: Vec<FailureView<'a>>,
    findings: Vec<FindingGroup<'a>>,
    rules: Vec<RuleRow<'a>>,
    scenarios: Vec<ScenarioRow<'a>>,
}

struct Counts {
    passed: usize,
    failed: usize,
    blocked: usize,
    not_applicable: usize,
    not_run: usize,
    findings: usize,
}

/// A rule id, shown as a link to its row of the rule table, with its level when the place
/// shows it (`R-08 (MUST)`).
struct RuleRef {
    id: String,
    level: Option<String>,
}

impl RuleRef {
    fn plain(id: &str) -> Self {
        RuleRef {
            id: id.to_string(),
            level: None,
        }
    }

    fn with_level(id: &str, catalogue: &Catalogue) -> Self {
        RuleRef {
            id: id.to_string(),
            level: catalogue.get(id).map(|r| r.level.clone()),
        }
    }
}

fn plain_refs(ids: &[String]) -> Vec<RuleRef> {
    ids.iter().map(|i| RuleRef::plain(i)).collect()
}

/// One failed or blocked scenario in the index.
struct IndexLine<'a> {
    i: usize,
    class: &'static str,
    label: &'static str,
    name: &'a str,
    /// The rules a failed scenario failed, with their level.
    rules: Vec<RuleRef>,
    /// The step a blocked scenario could not complete (`?` when unknown).
    blocked_at: Option<&'a str>,
    cause: String,
}

/// One finding in the index.
struct IndexFinding {
    rules: Vec<RuleRef>,
    cause: String,
}

/// One row of the rule table.
struct RuleRow<'a> {
    id: String,
    class: &'static str,
    label: String,
    level: &'a str,
    area: &'a str,
    summary: &'a str,
    source: &'a str,
    scenarios: Vec<ScenarioLink>,
}

/// A scenario of a rule, linked to its row by its line.
struct ScenarioLink {
    i: usize,
    line: usize,
}

/// One row of the scenario table.
struct ScenarioRow<'a> {
    i: usize,
    class: &'static str,
    label: &'static str,
    path: &'a str,
    line: usize,
    name: &'a str,
    rules: Vec<RuleRef>,
    reason: String,
    /// Whether the reason links to the scenario's evidence (failed and blocked scenarios).
    linked: bool,
    ms: u64,
}

fn verdict_class(v: Verdict) -> (&'static str, &'static str) {
    match v {
        Verdict::Passed => ("pass", "pass"),
        Verdict::Failed => ("fail", "FAIL"),
        Verdict::Blocked => ("blocked", "BLOCKED"),
        Verdict::NotApplicable => ("na", "n/a"),
        Verdict::NotRun => ("na", "not run"),
    }
}

fn rule_class(v: RuleVerdict) -> &'static str {
    match v {
        RuleVerdict::Passed => "pass",
        RuleVerdict::Failed => "fail",
        RuleVerdict::NotTested => "blocked",
        RuleVerdict::NotApplicable => "na",
        RuleVerdict::NoScenario => "none",
    }
}

/// Whether a failed check of a rule at `level` is a recommendation or an option rather than a
/// requirement: the rule table says so beside FAIL.
fn advisory(level: &str) -> bool {
    matches!(level, "SHOULD" | "SHOULD NOT" | "MAY")
}

fn bad(s: &ScenarioRecord) -> bool {
    matches!(s.verdict, Verdict::Failed | Verdict::Blocked)
}

/// The report of `outcome`, one self-contained HTML document.
pub fn render(outcome: &RunOutcome, catalogue: &Catalogue) -> String {
    let page = ReportPage {
        profile: &outcome.profile_name,
        target: &outcome.target,
        seconds: format!("{:.1}", outcome.duration.as_secs_f64()),
        version: env!("CARGO_PKG_VERSION"),
        counts: Counts {
            passed: outcome.count(Verdict::Passed),
            failed: outcome.count(Verdict::Failed),
            blocked: outcome.count(Verdict::Blocked),
            not_applicable: outcome.count(Verdict::NotApplicable),
            not_run: outcome.count(Verdict::NotRun),
            findings: outcome.findings.len(),
        },
        index: index(outcome, catalogue),
        index_findings: index_findings(outcome, catalogue),
        failures: evidence::failures(outcome, catalogue),
        findings: evidence::findings(outcome),
        rules: rule_rows(outcome, catalogue),
        scenarios: scenario_rows(outcome),
    };
    // Rendering plain values into a String only fails if a value's Display does; none here do.
    page.render()
        .unwrap_or_else(|e| format!("<!doctype html><p>report not rendered: {e}</p>"))
}

/// What to fix, at the top: every failed and blocked scenario in one line (its rules with their
/// level, or the step that blocked it, and the cause) linked to its evidence.
fn index<'a>(outcome: &'a RunOutcome, catalogue: &Catalogue) -> Vec<IndexLine<'a>> {
    outcome
        .scenarios
        .iter()
        .enumerate()
        .filter(|(_, s)| bad(s))
        .map(|(i, s)| {
            let (class, label) = verdict_class(s.verdict);
            let failed = s.verdict == Verdict::Failed;
            IndexLine {
                i,
                class,
                label,
                name: &s.name,
                rules: if failed {
                    let level = |r: &String| RuleRef::with_level(r, catalogue);
                    s.failed_rules.iter().map(level).collect()
                } else {
                    Vec::new()
                },
                blocked_at: (!failed).then(|| s.failed_step.as_deref().unwrap_or("?")),
                cause: cause(s.reason.as_deref().unwrap_or("")),
            }
        })
        .collect()
}

/// Every finding in one line of the index: its rules with their level, and the cause.
fn index_findings(outcome: &RunOutcome, catalogue: &Catalogue) -> Vec<IndexFinding> {
    outcome
        .findings
        .iter()
        .map(|f| IndexFinding {
            rules: f
                .rules
                .iter()
                .map(|r| RuleRef::with_level(r, catalogue))
                .collect(),
            cause: cause(&f.message),
        })
        .collect()
}

/// A failure's headline without the rule ids it starts with (the index shows them, linked).
fn cause(reason: &str) -> String {
    let line = super::headline(reason);
    match line.split_once(": ") {
        Some((head, rest))
            if !crate::harness::outcome::rules_in(&line).is_empty()
                && head
                    .split('/')
                    .all(|id| crate::harness::features::is_rule_id(id.trim())) =>
        {
            rest.to_string()
        }
        _ => line,
    }
}

/// Every rule of the catalogue with its verdict, level, area, summary, source and scenarios.
fn rule_rows<'a>(outcome: &RunOutcome, catalogue: &'a Catalogue) -> Vec<RuleRow<'a>> {
    catalogue_verdicts(outcome, catalogue)
        .into_iter()
        .map(|(id, verdict, idx)| {
            let rule = catalogue.get(&id);
            let label = match (verdict, rule) {
                (RuleVerdict::NoScenario, Some(r)) if !r.testable => {
                    "not testable on the wire".to_string()
                }
                (RuleVerdict::Failed, Some(r)) if advisory(&r.level) => {
                    format!("FAIL ({})", r.level)
                }
                _ => verdict.label().to_string(),
            };
            let scenarios = idx
                .into_iter()
                .map(|i| ScenarioLink {
                    i,
                    line: outcome.scenarios[i].line,
                })
                .collect();
            RuleRow {
                id,
                class: rule_class(verdict),
                label,
                level: rule.map(|r| r.level.as_str()).unwrap_or(""),
                area: rule.map(|r| r.area.as_str()).unwrap_or(""),
                summary: rule.map(|r| r.summary.as_str()).unwrap_or(""),
                source: rule.map(|r| r.source.as_str()).unwrap_or(""),
                scenarios,
            }
        })
        .collect()
}

/// Every scenario in one row; the reason of a failed or blocked one links to its evidence.
fn scenario_rows(outcome: &RunOutcome) -> Vec<ScenarioRow<'_>> {
    outcome
        .scenarios
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let (class, label) = verdict_class(s.verdict);
            let reason = s.reason.as_deref().unwrap_or("");
            ScenarioRow {
                i,
                class,
                label,
                path: &s.path,
                line: s.line,
                name: &s.name,
                rules: plain_refs(&s.rules),
                reason: if bad(s) {
                    super::headline(reason)
                } else {
                    reason.to_string()
                },
                linked: bad(s),
                ms: s.duration_ms,
            }
        })
        .collect()
}
