//! The main job's Yapily pass: an embedded sandbox of the `yapily` personality judged as a
//! Yapily-style bank (`dialect = "yapily"`, the `@yapily` scenarios), so the main job covers
//! the dialect's API, its signed webhooks and their delivery. Its scenarios replace the main
//! pass's not-applicable entries for the same scenarios.

use super::profile::Profile;
use super::runner::{ConfigError, RunOutcome};
use crate::sandbox::embedded::{self, Bank, Fault};

/// The scenarios of the pass.
pub const TAGS: &str = "@yapily";

/// Starts a `yapily` sandbox with `faults`, runs [`TAGS`] against it, stops it.
pub async fn run(
    faults: &[Fault],
    concurrency: Option<usize>,
    fail_fast: bool,
) -> Result<RunOutcome, ConfigError> {
    let sandbox = embedded::start(Some(Bank::Yapily), faults)
        .await
        .map_err(|e| ConfigError(format!("cannot start the yapily sandbox: {e}")))?;
    let profile = sandbox
        .declaration()
        .push
        .as_ref()
        .ok_or_else(|| ConfigError("the yapily sandbox declares no push policy".into()))
        .and_then(|push| {
            Profile::for_yapily_sandbox(&sandbox.url(), push)
                .map_err(|e| ConfigError(e.to_string()))
        });
    tracing::info!(
        "testing the Yapily-style API of the sandbox at {}",
        sandbox.url()
    );
    let outcome = match profile {
        Ok(profile) => super::runner::run_tagged(profile, TAGS, concurrency, fail_fast).await,
        Err(e) => Err(e),
    };
    sandbox.stop().await;
    outcome
}

/// Puts the pass's scenarios in place of the main outcome's entries for the same scenarios
/// (there they were not applicable: the main pass speaks OBIE) and adds its findings.
pub fn merge(main: &mut RunOutcome, pass: RunOutcome) {
    let keys: std::collections::HashSet<(String, usize)> = pass
        .scenarios
        .iter()
        .map(|s| (s.path.clone(), s.line))
        .collect();
    main.scenarios
        .retain(|s| !keys.contains(&(s.path.clone(), s.line)));
    main.scenarios.extend(pass.scenarios);
    main.findings.extend(pass.findings);
    main.target = format!("{} and {}", main.target, pass.target);
    main.duration += pass.duration;
}
