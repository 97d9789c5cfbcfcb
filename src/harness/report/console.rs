//! The console summary: results by feature, the failing rules, each failure in one line, and a
//! closing `N passed, N failed` line a CI log can be read by.

use tabled::settings::Style;
use tabled::{Table, Tabled};

use super::{RuleVerdict, catalogue_verdicts};
use crate::harness::catalogue::Catalogue;
use crate::harness::runner::{RunOutcome, Verdict};

#[derive(Tabled)]
struct AreaRow {
    #[tabled(rename = "feature")]
    feature: String,
    passed: usize,
    failed: usize,
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

pub fn render(outcome: &RunOutcome, catalogue: &Catalogue) -> String {
    let mut areas: Vec<AreaRow> = Vec::new();
    for s in &outcome.scenarios {
        let idx = match areas.iter().position(|a| a.feature == s.feature) {
            Some(i) => i,
            None => {
                areas.push(AreaRow {
                    feature: s.feature.clone(),
                    passed: 0,
                    failed: 0,
                    not_applicable: 0,
                });
                areas.len() - 1
            }
        };
        let row = &mut areas[idx];
        match s.verdict {
            Verdict::Passed => row.passed += 1,
            Verdict::Failed => row.failed += 1,
            Verdict::NotApplicable => row.not_applicable += 1,
        }
    }
    let mut out = String::new();
    out.push_str(&Table::new(&areas).with(Style::rounded()).to_string());
    out.push('\n');
    let verdicts = catalogue_verdicts(outcome, catalogue);
    let failing: Vec<RuleRow> = verdicts
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
        .collect();
    if !failing.is_empty() {
        out.push_str("\nRules with failing scenarios:\n");
        out.push_str(&Table::new(&failing).with(Style::rounded()).to_string());
        out.push('\n');
        out.push_str("\nFailures:\n");
        for s in outcome.failed() {
            let first = super::headline(s.reason.as_deref().unwrap_or(""));
            out.push_str(&format!(
                "  {}:{} {} [{}]\n      {}\n",
                s.path,
                s.line,
                s.name,
                s.rules.join(" "),
                first
            ));
        }
    }
    let covered = verdicts
        .iter()
        .filter(|(_, v, _)| *v != RuleVerdict::NoScenario)
        .count();
    out.push_str(&format!(
        "\nrules: {covered} of {} catalogue rules have scenarios (report.html lists the rest)\n",
        catalogue.rules.len()
    ));
    out.push_str(&format!(
        "scenarios: {} passed, {} failed, {} not applicable in {:.1} s against {}",
        outcome.count(Verdict::Passed),
        outcome.count(Verdict::Failed),
        outcome.count(Verdict::NotApplicable),
        outcome.duration.as_secs_f64(),
        outcome.target
    ));
    out
}
