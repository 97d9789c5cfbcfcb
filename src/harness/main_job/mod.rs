//! The main job: `obevents test` without a profile. It is a list of passes ([`PASSES`]), each
//! one [`runner::run`] of part of the suite against an embedded sandbox of its own: the
//! sandbox of `--bank` with its built-in profile first, then the same bank over HTTPS + mTLS
//! ([`mtls`]), the Yapily and Tatra dialects ([`dialect`]), and the TPP side: the reference TPP
//! refereed by a referee bank of its own ([`tpp`]). This module starts each pass's sandbox,
//! runs the passes and merges their results into one outcome; the runner knows nothing of
//! passes.
//!
//! The passes run at the same time: most of their time is spent waiting (retry schedules,
//! quiet periods), not computing, and each has its own sandbox and TPPs, so none can see
//! another's events. The Tatra-style scenarios must run one at a time against one sandbox (a
//! misdirected webhook must land in the scenario that watches for it), so that pass is split
//! into [`TATRA_SHARDS`] shards, each with a sandbox of its own. Under `--fail-fast` the passes
//! run one after another and stop at the first that fails.

pub mod dialect;
pub mod mtls;
pub mod tpp;
pub mod tpp_polling;

use std::time::Instant;

use super::profile::{Clients, Profile, ProfileError};
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
    /// A sandbox of a dialect's personality judged as a bank of that dialect ([`dialect`]):
    /// the dialect, and which shard of its scenarios (of how many) the pass runs.
    Dialect(Bank, usize, usize),
    /// The reference TPP judged by a referee bank with the TPP features ([`tpp`]).
    Tpp,
}

/// How many sandboxes the Tatra-style scenarios, which run one at a time, are split over.
pub const TATRA_SHARDS: usize = 5;

/// Scenarios of the first pass run at once unless `--concurrency` says otherwise.
pub const MAIN_JOB_CONCURRENCY: usize = 32;

/// The main job's passes, in the order their results join the outcome; the first is the
/// outcome the others join.
pub const PASSES: [Pass; 4 + TATRA_SHARDS] = [
    Pass::Embedded,
    Pass::Mtls,
    Pass::Dialect(Bank::Yapily, 0, 1),
    Pass::Dialect(Bank::Tatra, 0, TATRA_SHARDS),
    Pass::Dialect(Bank::Tatra, 1, TATRA_SHARDS),
    Pass::Dialect(Bank::Tatra, 2, TATRA_SHARDS),
    Pass::Dialect(Bank::Tatra, 3, TATRA_SHARDS),
    Pass::Dialect(Bank::Tatra, 4, TATRA_SHARDS),
    Pass::Tpp,
];

impl Pass {
    /// The pass's sandbox, started, with the profile it is judged by.
    async fn start(self, args: &TestArgs) -> Result<(Embedded, Profile), ConfigError> {
        match self {
            Pass::Embedded => start_embedded(args).await,
            Pass::Mtls => mtls::start(args.bank, &args.faults).await,
            Pass::Dialect(bank, ..) => dialect::start(bank, &args.faults).await,
            Pass::Tpp => Err(ConfigError(
                "the TPP pass starts its own referee (harness bug)".into(),
            )),
        }
    }

    /// How the pass's scenarios are chosen and run against `profile`: the first as the
    /// command line says, the others with their own tags from the embedded features and
    /// without progress lines of their own (they run beside the first; their results are in
    /// the table and the reports like every pass's).
    fn options(self, profile: Profile, args: &TestArgs) -> RunOptions {
        let registers = matches!(profile.clients, Clients::Register(_));
        let mut opts = RunOptions::for_cli(profile, args);
        // `--concurrency` is about the first pass; the others keep their profile's own
        // (one at a time for the Tatra-style scenarios).
        opts.concurrency = None;
        let tags = match self {
            Pass::Embedded => {
                // Most of the suite's time is spent waiting for pushes, retries and quiet
                // periods: against its own sandbox, with a fresh TPP per scenario, the main job
                // overlaps more scenarios than a run against a foreign bank does by default.
                opts.concurrency = args
                    .concurrency
                    .or(registers.then_some(MAIN_JOB_CONCURRENCY));
                return opts;
            }
            Pass::Mtls => mtls::TAGS,
            Pass::Dialect(bank, k, n) => {
                opts.shard = (n > 1).then_some((k, n));
                dialect::tags(bank)
            }
            Pass::Tpp => return opts,
        };
        opts.features = FeatureSource::Embedded;
        opts.tags = Some(tags.into());
        opts.progress = Progress::Quiet;
        opts
    }

    /// Starts the pass's sandbox, runs the pass's scenarios against it, stops it.
    async fn run(self, args: &TestArgs) -> Result<RunOutcome, ConfigError> {
        let began = Instant::now();
        if self == Pass::Tpp {
            // The bank's --fault switches apply to banks; the reference TPP runs clean, beside
            // the other passes, without progress lines of its own.
            let outcome = tpp::run(Vec::new(), Progress::Quiet).await;
            tracing::debug!("main job pass {self:?} took {:?}", began.elapsed());
            return outcome;
        }
        let (sandbox, profile) = self.start(args).await?;
        let report_dir = (self == Pass::Embedded).then_some(args.report_dir.as_path());
        let outcome = runner::run(self.options(profile, args), report_dir).await;
        sandbox.stop().await;
        tracing::debug!("main job pass {self:?} took {:?}", began.elapsed());
        outcome
    }

    /// Adds the results of this pass to `main`, the outcome of the first.
    fn merge(self, main: &mut RunOutcome, pass: RunOutcome) {
        match self {
            // The first pass's results are the outcome itself.
            Pass::Embedded => *main = pass,
            Pass::Mtls => mtls::merge(main, pass),
            Pass::Dialect(_, k, _) => dialect::merge(main, pass, k == 0),
            Pass::Tpp => tpp::merge(main, pass),
        }
    }
}

/// Runs the main job for `args` (which name no profile).
pub async fn run(args: &TestArgs) -> Result<RunOutcome, ConfigError> {
    let began = Instant::now();
    // The later passes belong to the whole suite; a run narrowed by --tags or its own
    // features is about those scenarios only.
    let narrowed = args.tags.is_some() || args.features.is_some();
    let passes: &[Pass] = if narrowed { &PASSES[..1] } else { &PASSES };
    let done = if args.fail_fast {
        in_turn(passes, args).await?
    } else {
        let all = futures::future::join_all(passes.iter().map(|p| p.run(args))).await;
        let mut done = Vec::new();
        for (pass, outcome) in passes.iter().zip(all) {
            done.push((*pass, outcome?));
        }
        done
    };
    let mut done = done.into_iter();
    let Some((_, mut outcome)) = done.next() else {
        return Err(ConfigError("the main job ran no pass".into()));
    };
    for (pass, result) in done {
        pass.merge(&mut outcome, result);
    }
    // The passes overlap: the run took its wall time, not the sum of theirs.
    outcome.duration = began.elapsed();
    Ok(outcome)
}

/// Runs `passes` one after another until one fails (`--fail-fast`); returns each pass that
/// ran with its outcome.
async fn in_turn(passes: &[Pass], args: &TestArgs) -> Result<Vec<(Pass, RunOutcome)>, ConfigError> {
    let mut done = Vec::new();
    for pass in passes {
        let outcome = pass.run(args).await?;
        let failed = outcome.exit_code() != 0;
        done.push((*pass, outcome));
        if failed {
            break;
        }
    }
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
