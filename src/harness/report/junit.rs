//! JUnit XML: one test suite per feature file, one test case per scenario; failures carry the
//! failing step and message, blocked scenarios are `error`s naming the step and cause, and
//! not-applicable (or not run) scenarios are `skipped` with the reason.

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use crate::harness::outcome::{RunOutcome, Verdict};

pub fn render(outcome: &RunOutcome) -> Result<String, String> {
    let mut report = Report::new("obevents conformance");
    report.set_time(outcome.duration);
    let mut suites: Vec<TestSuite> = Vec::new();
    for s in &outcome.scenarios {
        let idx = match suites.iter().position(|t| t.name.as_str() == s.path) {
            Some(i) => i,
            None => {
                suites.push(TestSuite::new(s.path.clone()));
                suites.len() - 1
            }
        };
        let status = match s.verdict {
            Verdict::Passed => TestCaseStatus::success(),
            Verdict::Failed | Verdict::Blocked => {
                let kind = if s.verdict == Verdict::Failed {
                    NonSuccessKind::Failure
                } else {
                    NonSuccessKind::Error
                };
                let mut st = TestCaseStatus::non_success(kind);
                let first = super::headline(s.reason.as_deref().unwrap_or("failed"));
                st.set_message(first);
                st.set_description(format!(
                    "step: {}\n{}\nrules: {}",
                    s.failed_step.as_deref().unwrap_or("?"),
                    s.reason.as_deref().unwrap_or(""),
                    s.rules.join(" ")
                ));
                st
            }
            Verdict::NotApplicable | Verdict::NotRun => {
                let mut st = TestCaseStatus::skipped();
                st.set_message(s.reason.clone().unwrap_or_else(|| s.verdict.label().into()));
                st
            }
        };
        let mut case = TestCase::new(format!("{} [{}]", s.name, s.rules.join(" ")), status);
        case.set_classname(s.feature.clone());
        case.set_time(std::time::Duration::from_millis(s.duration_ms));
        suites[idx].add_test_case(case);
    }
    for suite in &mut suites {
        // Every suite carries its own time and a `skipped` count (what quick-junit calls
        // `disabled`), which CI dashboards read.
        let ms: u64 = outcome
            .scenarios
            .iter()
            .filter(|s| s.path == suite.name.as_str())
            .map(|s| s.duration_ms)
            .sum();
        suite.set_time(std::time::Duration::from_millis(ms));
        let skipped = suite.disabled.to_string();
        suite.extra.insert("skipped".into(), skipped.into());
    }
    report.add_test_suites(suites);
    report
        .to_string()
        .map_err(|e| format!("cannot render JUnit XML: {e}"))
}
