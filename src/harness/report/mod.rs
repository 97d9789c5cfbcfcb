//! Reports of a run, all written to the report directory: JUnit XML (`junit.xml`), cucumber
//! JSON (`cucumber.json`, written while the run goes), a self-contained HTML report
//! (`report.html`), a machine-readable summary (`summary.json`), and the console table.

pub mod console;
pub mod html;
pub mod junit;

use std::collections::BTreeMap;
use std::path::Path;

use super::catalogue::Catalogue;
use super::outcome::{RunOutcome, Verdict};

/// The verdict of one catalogue rule over a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RuleVerdict {
    Passed,
    Failed,
    /// Every scenario tagged with the rule was blocked, not run, or failed on another rule.
    NotTested,
    NotApplicable,
    NoScenario,
}

impl RuleVerdict {
    pub fn label(self) -> &'static str {
        match self {
            RuleVerdict::Passed => "pass",
            RuleVerdict::Failed => "FAIL",
            RuleVerdict::NotTested => "not tested",
            RuleVerdict::NotApplicable => "n/a",
            RuleVerdict::NoScenario => "no scenario",
        }
    }
}

/// The one-line form of a failure message: its first line, plus the first detail when the
/// first line only introduces a list (ends with ':'), with runs of white space (a pretty-printed
/// body) folded into one space.
pub fn headline(reason: &str) -> String {
    let mut lines = reason.lines().map(str::trim);
    let head = lines.next().unwrap_or("");
    let line = match lines.next() {
        Some(next) if head.ends_with(':') => format!("{head} {next}"),
        _ => head.to_string(),
    };
    line.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// How strongly a verdict speaks for a rule: a failed check beats a pass, a pass beats a rule
/// that was not tested.
fn rank(v: RuleVerdict) -> u8 {
    match v {
        RuleVerdict::Failed => 4,
        RuleVerdict::Passed => 3,
        RuleVerdict::NotTested => 2,
        RuleVerdict::NotApplicable => 1,
        RuleVerdict::NoScenario => 0,
    }
}

/// Per rule ID: its verdict and the scenarios tagged with it (or where its finding was seen).
/// A rule is FAIL only when one of its checks failed: a scenario failed on it, or a cross-cutting
/// check found it broken. A blocked scenario leaves its rules not tested.
pub fn rule_verdicts(outcome: &RunOutcome) -> BTreeMap<String, (RuleVerdict, Vec<usize>)> {
    let mut map: BTreeMap<String, (RuleVerdict, Vec<usize>)> = BTreeMap::new();
    let mut raise = |rule: &str, v: RuleVerdict, i: usize| {
        let entry = map
            .entry(rule.to_string())
            .or_insert((RuleVerdict::NotApplicable, Vec::new()));
        if !entry.1.contains(&i) {
            entry.1.push(i);
        }
        if rank(v) > rank(entry.0) {
            entry.0 = v;
        }
    };
    for (i, s) in outcome.scenarios.iter().enumerate() {
        for r in &s.rules {
            let v = match s.verdict {
                Verdict::Passed => RuleVerdict::Passed,
                Verdict::Failed if s.failed_rules.contains(r) => RuleVerdict::Failed,
                Verdict::Failed | Verdict::Blocked | Verdict::NotRun => RuleVerdict::NotTested,
                Verdict::NotApplicable => RuleVerdict::NotApplicable,
            };
            raise(r, v, i);
        }
        if s.verdict == Verdict::Failed {
            for r in s.failed_rules.iter().filter(|r| !s.rules.contains(r)) {
                raise(r, RuleVerdict::Failed, i);
            }
        }
    }
    for f in &outcome.findings {
        for r in &f.rules {
            for label in &f.scenarios {
                let i = outcome
                    .scenarios
                    .iter()
                    .position(|s| format!("{}:{} {}", s.path, s.line, s.name) == *label);
                if let Some(i) = i {
                    raise(r, RuleVerdict::Failed, i);
                }
            }
        }
    }
    map
}

/// The verdict of every catalogue rule (rules no scenario cites are `NoScenario`).
pub fn catalogue_verdicts(
    outcome: &RunOutcome,
    catalogue: &Catalogue,
) -> Vec<(String, RuleVerdict, Vec<usize>)> {
    let by_rule = rule_verdicts(outcome);
    catalogue
        .rules
        .iter()
        .map(|r| match by_rule.get(&r.id) {
            Some((v, idx)) => (r.id.clone(), *v, idx.clone()),
            None => (r.id.clone(), RuleVerdict::NoScenario, Vec::new()),
        })
        .collect()
}

/// What a run judged, as `summary.json` names it (`mode`): a bank (`--profile`), a TPP
/// (`--tpp`) or both halves (the main job).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunMode {
    Bank,
    Tpp,
    MainJob,
}

impl RunMode {
    pub fn as_str(self) -> &'static str {
        match self {
            RunMode::Bank => "bank",
            RunMode::Tpp => "tpp",
            RunMode::MainJob => "main-job",
        }
    }
}

/// `summary.json`: the counts, every scenario with its verdict, rules and reason, the
/// findings and every catalogue rule's verdict. A TPP run's is also what `[publish]` sends to
/// a sandbox (`PUT /sandbox/referee-run`).
pub fn summary(outcome: &RunOutcome, catalogue: &Catalogue, mode: RunMode) -> serde_json::Value {
    serde_json::json!({
        "mode": mode.as_str(),
        "harness": format!("obevents {}", env!("CARGO_PKG_VERSION")),
        "profile": outcome.profile_name,
        "target": outcome.target,
        "duration_ms": outcome.duration.as_millis() as u64,
        "passed": outcome.count(Verdict::Passed),
        "failed": outcome.count(Verdict::Failed),
        "blocked": outcome.count(Verdict::Blocked),
        "not_applicable": outcome.count(Verdict::NotApplicable),
        "not_run": outcome.count(Verdict::NotRun),
        "scenarios": outcome.scenarios.iter().map(|s| serde_json::json!({
            "feature": s.path, "line": s.line, "name": s.name, "verdict": s.verdict,
            "rules": s.rules, "failed_rules": s.failed_rules, "reason": s.reason,
            "failed_step": s.failed_step, "duration_ms": s.duration_ms,
        })).collect::<Vec<_>>(),
        "findings": outcome.findings,
        "rules": catalogue_verdicts(outcome, catalogue).iter().map(|(id, v, _)| serde_json::json!({"id": id, "verdict": v})).collect::<Vec<_>>(),
    })
}

/// Writes every report file into `dir` (and the JUnit XML also to `junit`, if given); the
/// run's summary.
pub fn write_all(
    outcome: &RunOutcome,
    catalogue: &Catalogue,
    mode: RunMode,
    dir: &Path,
    junit: Option<&Path>,
) -> Result<serde_json::Value, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("--report-dir {}: {e}", dir.display()))?;
    let xml = junit::render(outcome)?;
    let write = |path: &Path, text: &str| {
        std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
    };
    write(&dir.join("junit.xml"), &xml)?;
    if let Some(p) = junit {
        if let Some(parent) = p.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| format!("--junit {}: {e}", p.display()))?;
        }
        write(p, &xml)?;
    }
    write(&dir.join("report.html"), &html::render(outcome, catalogue))?;
    let summary = summary(outcome, catalogue, mode);
    write(
        &dir.join("summary.json"),
        &serde_json::to_string_pretty(&summary).unwrap_or_default(),
    )?;
    Ok(summary)
}
