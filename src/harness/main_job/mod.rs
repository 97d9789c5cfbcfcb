//! The main job: `obevents test` without a profile. It is a list of passes ([`PASSES`]), each
//! one [`runner::run`] of part of the suite against an embedded sandbox of its own: the
//! sandbox of `--bank` with its built-in profile first, then the same bank over HTTPS + mTLS
//! ([`mtls`]), the Yapily and Tatra dialects ([`dialect`]), and the TPP side: the reference TPP
//! refereed by a referee bank ([`tpp`]). This module starts each pass's
//! sandbox, runs the passes and merges their results into one outcome; the runner knows
//! nothing of passes.

pub mod dialect;
pub mod mtls;
pub mod tpp;

use std::time::Instant;

use super::profile::{Profile, ProfileError};
use super::runner::{self, ConfigError, FeatureSource, Progress, RunOptions, RunOutcome};
use crate::cli::TestArgs;
use crate::sandbox::embedded::{self, Bank, Embedded};

/// One pass of the main job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pass {
    /// The sandbox of `--bank` with its `--fault`s, judged with its built-in profile by the
    /// scenarios `--tags` and `--features` select: the outcome the other passes join, and the
    /// only pass whose cucumber JSON is written.
    Embedded,
    /// The same bank over HTTPS with mutual TLS ([`mtls`]).
    Mtls,
    /// A sandbox of a dialect's personality judged as a bank of that dialect ([`dialect`]).
    Dialect(Bank),
    /// The reference TPP judged by a referee bank with the TPP features ([`tpp`]).
    Tpp,
}

/// The main job's passes, in the order their results join the outcome; the first is the
/// outcome the others join.
pub const PASSES: [Pass; 5] = [
    Pass::Embedded,
    Pass::Mtls,
    Pass::Dialect(Bank::Yapily),
    Pass::Dialect(Bank::Tatra),
    Pass::Tpp,
];

impl Pass {
    /// The Tatra pass runs its scenarios one at a time and mostly waits out quiet periods, so
    /// it runs beside the others, and without progress lines of its own (its results are in
    /// the table and the reports like every pass's).
    fn runs_beside(self) -> bool {
        self == Pass::Dialect(Bank::Tatra)
    }

    /// The pass's sandbox, started, with the profile it is judged by.
    async fn start(self, args: &TestArgs) -> Result<(Embedded, Profile), ConfigError> {
        match self {
            Pass::Embedded => start_embedded(args).await,
            Pass::Mtls => mtls::start(args.bank, &args.faults).await,
            Pass::Dialect(bank) => dialect::start(bank, &args.faults).await,
            Pass::Tpp => Err(ConfigError(
                "the TPP pass starts its own referee (harness bug)".into(),
            )),
        }
    }

    /// How the pass's scenarios are chosen and run against `profile`: the first as the
    /// command line says, the others with their own tags from the embedded features.
    fn options(self, profile: Profile, args: &TestArgs) -> RunOptions {
        let mut opts = RunOptions::for_cli(profile, args);
        let tags = match self {
            Pass::Embedded => return opts,
            Pass::Mtls => mtls::TAGS,
            Pass::Dialect(bank) => dialect::tags(bank),
            Pass::Tpp => return opts,
        };
        opts.features = FeatureSource::Embedded;
        opts.tags = Some(tags.into());
        if self.runs_beside() {
            opts.progress = Progress::Quiet;
        }
        opts
    }

    /// Starts the pass's sandbox, runs the pass's scenarios against it, stops it.
    async fn run(self, args: &TestArgs) -> Result<RunOutcome, ConfigError> {
        if self == Pass::Tpp {
            // The bank's --fault switches apply to banks; the reference TPP runs clean.
            return tpp::run(Vec::new(), Progress::Auto).await;
        }
        let (sandbox, profile) = self.start(args).await?;
        let report_dir = (self == Pass::Embedded).then_some(args.report_dir.as_path());
        let outcome = runner::run(self.options(profile, args), report_dir).await;
        sandbox.stop().await;
        outcome
    }

    /// Adds the results of this pass to `main`, the outcome of the first.
    fn merge(self, main: &mut RunOutcome, pass: RunOutcome) {
        match self {
            // The first pass's results are the outcome itself.
            Pass::Embedded => *main = pass,
            Pass::Mtls => mtls::merge(main, pass),
            Pass::Dialect(_) => dialect::merge(main, pass),
            Pass::Tpp => tpp::merge(main, pass),
        }
    }
}

/// Runs the main job for `args` (which name no profile).
pub async fn run(args: &TestArgs) -> Result<RunOutcome, ConfigError> {
    let began = Instant::now();
    let [first, later @ ..] = PASSES;
    let mut outcome = first.run(args).await?;
    // The later passes belong to the whole suite; a run narrowed by --tags or its own
    // features is about those scenarios only.
    let narrowed = args.tags.is_some() || args.features.is_some();
    if narrowed || (args.fail_fast && outcome.exit_code() != 0) {
        return Ok(outcome);
    }
    for (pass, result) in run_later(&later, args).await? {
        pass.merge(&mut outcome, result);
    }
    // The passes overlap: the run took its wall time, not the sum of theirs.
    outcome.duration = began.elapsed();
    Ok(outcome)
}

/// Runs `passes`: those that run beside the others at the same time as the rest, which run
/// one after another (under --fail-fast, until one fails). Returns each pass that ran with its
/// outcome, in the order of `passes`.
async fn run_later(
    passes: &[Pass],
    args: &TestArgs,
) -> Result<Vec<(Pass, RunOutcome)>, ConfigError> {
    let (beside, in_turn): (Vec<Pass>, Vec<Pass>) = passes.iter().partition(|p| p.runs_beside());
    let beside_runs = futures::future::join_all(beside.iter().map(|p| p.run(args)));
    let in_turn_runs = async {
        let mut done = Vec::new();
        for pass in in_turn {
            let outcome = pass.run(args).await?;
            let failed = outcome.exit_code() != 0;
            done.push((pass, outcome));
            if args.fail_fast && failed {
                break;
            }
        }
        Ok::<_, ConfigError>(done)
    };
    let (beside_done, in_turn_done) = tokio::join!(beside_runs, in_turn_runs);
    let mut done = in_turn_done?;
    for (pass, outcome) in beside.into_iter().zip(beside_done) {
        done.push((pass, outcome?));
    }
    done.sort_by_key(|(pass, _)| passes.iter().position(|p| p == pass));
    Ok(done)
}

/// The first pass's sandbox: `--bank` with its `--fault`s and its built-in profile.
async fn start_embedded(args: &TestArgs) -> Result<(Embedded, Profile), ConfigError> {
    let sandbox = embedded::start(args.bank, &args.faults)
        .await
        .map_err(|e| ConfigError(format!("cannot start the embedded sandbox: {e}")))?;
    let profile = Profile::for_sandbox(&sandbox.url(), sandbox.declaration()).map_err(config_error);
    tracing::info!(
        "testing the embedded sandbox ({}) at {}",
        sandbox.declaration().name,
        sandbox.url()
    );
    with_profile(sandbox, profile).await
}

/// `sandbox` with its `profile`; a sandbox whose profile cannot be made is stopped.
async fn with_profile(
    sandbox: Embedded,
    profile: Result<Profile, ConfigError>,
) -> Result<(Embedded, Profile), ConfigError> {
    match profile {
        Ok(profile) => Ok((sandbox, profile)),
        Err(e) => {
            sandbox.stop().await;
            Err(e)
        }
    }
}

fn config_error(e: ProfileError) -> ConfigError {
    ConfigError(e.to_string())
}
