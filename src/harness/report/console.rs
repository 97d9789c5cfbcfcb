//! The console summary: results by feature, the failing rules, each failed and blocked scenario
//! in one line, the cross-cutting findings, and a closing `N passed, N failed, N blocked` line a
//! CI log can be read by.

use tabled::settings::Style;
use tabled::{Table, Tabled};

use super::{RuleVerdict, catalogue_verdicts};
use crate::harness::catalogue::Catalogue;
use crate::harness::outcome::{RunOutcome, ScenarioRecord, Verdict};

#[derive(Tabled)]
struct AreaRow {
    #[tabled(rename = "feature")]
    feature: String,
    passed: usize,
    failed: usize,
    blocked: usize,
    #[tabled(rename = "n/a")]
    not_applicable: usize,
}

#[derive(Tabled)]
struct RuleRow {
    rule: String,
    level: String,
    verdict: String,
    summary: String,
}

/// The console summary of `outcome` against the rules of `catalogue`.
pub fn render(outcome: &RunOutcome, catalogue: &Catalogue) -> String {
    let mut out = String::new();
    out.push_str(
        &Table::new(feature_rows(outcome))
            .with(Style::rounded())
            .to_string(),
    );
    out.push('\n');
    let verdicts = catalogue_verdicts(outcome, catalogue);
    let failing = failing_rules(&verdicts, catalogue);
    if !failing.is_empty() {
        out.push_str("\nRules with a failed check:\n");
        out.push_str(&Table::new(&failing).with(Style::rounded()).to_string());
        out.push('\n');
    }
    list(&mut out, "Failures", outcome.failed());
    list(&mut out, "Blocked (rules not tested)", outcome.blocked());
    findings(&mut out, outcome);
    let covered = verdicts
        .iter()
        .filter(|(_, v, _)| *v != RuleVerdict::NoScenario)
        .count();
    out.push_str(&format!(
        "\nrules: {covered} of {} catalogue rules have scenarios (report.html lists the rest)\n",
        catalogue.rules.len()
    ));
    out.push_str(&summary_line(outcome));
    out
}

/// Scenario verdicts counted by feature, features in the order they first appear.
fn feature_rows(outcome: &RunOutcome) -> Vec<AreaRow> {
    let mut areas: Vec<AreaRow> = Vec::new();
    for s in &outcome.scenarios {
        let idx = match areas.iter().position(|a| a.feature == s.feature) {
            Some(i) => i,
            None => {
                areas.push(AreaRow {
                    feature: s.feature.clone(),
                    passed: 0,
                    failed: 0,
                    blocked: 0,
                    not_applicable: 0,
                });
                areas.len() - 1
            }
        };
        let row = &mut areas[idx];
        match s.verdict {
            Verdict::Passed => row.passed += 1,
            Verdict::Failed => row.failed += 1,
            Verdict::Blocked => row.blocked += 1,
            Verdict::NotApplicable | Verdict::NotRun => row.not_applicable += 1,
        }
    }
    areas
}

/// The catalogue rules a check of which failed.
fn failing_rules(
    verdicts: &[(String, RuleVerdict, Vec<usize>)],
    catalogue: &Catalogue,
) -> Vec<RuleRow> {
    verdicts
        .iter()
        .filter(|(_, v, _)| *v == RuleVerdict::Failed)
        .map(|(id, v, _)| {
            let rule = catalogue.get(id);
            RuleRow {
                rule: id.clone(),
                level: rule.map(|r| r.level.clone()).unwrap_or_default(),
                verdict: v.label().into(),
                summary: rule.map(|r| r.summary.clone()).unwrap_or_default(),
            }
        })
        .collect()
}

/// The findings of the checks run on every answer, each once.
fn findings(out: &mut String, outcome: &RunOutcome) {
    if outcome.findings.is_empty() {
        return;
    }
    out.push_str("\nFindings of the checks run on every answer (each once):\n");
    for f in &outcome.findings {
        out.push_str(&format!(
            "  {}\n      seen in {} scenario(s), first {}\n",
            super::headline(&f.message),
            f.scenarios.len(),
            f.scenarios.first().map(String::as_str).unwrap_or("?")
        ));
    }
}

/// The closing `scenarios: N passed, N failed, …` line a CI log can be read by.
fn summary_line(outcome: &RunOutcome) -> String {
    let not_run = match outcome.count(Verdict::NotRun) {
        0 => String::new(),
        n => format!(", {n} not run"),
    };
    format!(
        "scenarios: {} passed, {} failed, {} blocked, {} not applicable{not_run}, {} finding(s) in {:.1} s against {}",
        outcome.count(Verdict::Passed),
        outcome.count(Verdict::Failed),
        outcome.count(Verdict::Blocked),
        outcome.count(Verdict::NotApplicable),
        outcome.findings.len(),
        outcome.duration.as_secs_f64(),
        outcome.target
    )
}

/// One line per scenario (where, name, rules) and its reason folded into one line.
fn list<'a>(out: &mut String, title: &str, scenarios: impl Iterator<Item = &'a ScenarioRecord>) {
    let mut first = true;
    for s in scenarios {
        if first {
            out.push_str(&format!("\n{title}:\n"));
            first = false;
        }
        let step = match (s.verdict, &s.failed_step) {
            (Verdict::Blocked, Some(step)) => format!(" at \"{}\"", step.trim()),
            _ => String::new(),
        };
        out.push_str(&format!(
            "  {}:{} {} [{}]{step}\n      {}\n",
            s.path,
            s.line,
            s.name,
            s.rules.join(" "),
            super::headline(s.reason.as_deref().unwrap_or(""))
        ));
    }
}
