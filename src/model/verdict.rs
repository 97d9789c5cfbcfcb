//! The verdict of one scenario, as the harness's reports write it (`summary.json`, JUnit,
//! HTML) and as the sandbox reads it back from a published referee run
//! (`sandbox::referee_runs`): one spelling for both sides.

/// How one scenario ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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
