//! The main job's dialect passes: an embedded sandbox of the `yapily` or `tatra` personality
//! judged as a bank of that dialect (`dialect = "yapily"` with the `@yapily` scenarios,
//! `dialect = "tatra"` with the `@tatra` ones), so the main job covers each dialect's API and
//! its webhooks. A pass's scenarios replace the main pass's not-applicable entries for the same
//! scenarios.

use super::{config_error, with_profile};
use crate::harness::profile::Profile;
use crate::harness::runner::{ConfigError, RunOutcome};
use crate::sandbox::embedded::{self, Bank, Embedded, Fault};

/// The scenarios of the pass for `bank`.
pub fn tags(bank: Bank) -> &'static str {
    match bank {
        Bank::Tatra => "@tatra",
        _ => "@yapily",
    }
}

/// Starts a sandbox of personality `bank` (a dialect) with `faults`, with the dialect's
/// built-in profile for it.
pub async fn start(bank: Bank, faults: &[Fault]) -> Result<(Embedded, Profile), ConfigError> {
    let sandbox = embedded::start(Some(bank), faults)
        .await
        .map_err(|e| ConfigError(format!("cannot start the {bank} sandbox: {e}")))?;
    let profile = sandbox
        .declaration()
        .push
        .as_ref()
        .ok_or_else(|| ConfigError(format!("the {bank} sandbox declares no push policy")))
        .and_then(|push| {
            let url = sandbox.url();
            match bank {
                Bank::Tatra => Profile::for_tatra_sandbox(&url, push),
                _ => Profile::for_yapily_sandbox(&url, push),
            }
            .map_err(config_error)
        });
    tracing::info!(
        "testing the {bank}-style API of the sandbox at {}",
        sandbox.url()
    );
    with_profile(sandbox, profile).await
}

/// Puts the pass's scenarios in place of the main outcome's entries for the same scenarios
/// (there they were not applicable: the main pass speaks OBIE) and adds its findings. The
/// target is named once per dialect (by its `first` shard).
pub fn merge(main: &mut RunOutcome, pass: RunOutcome, first: bool) {
    let keys: std::collections::HashSet<(String, usize)> = pass
        .scenarios
        .iter()
        .map(|s| (s.path.clone(), s.line))
        .collect();
    main.scenarios
        .retain(|s| !keys.contains(&(s.path.clone(), s.line)));
    main.scenarios.extend(pass.scenarios);
    main.findings.extend(pass.findings);
    if first {
        main.target = format!("{} and {}", main.target, pass.target);
    }
    main.duration += pass.duration;
}
