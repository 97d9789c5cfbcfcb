//! A TPP run (`obevents test --tpp PROFILE`): start the referee bank and the TPP
//! (`harness::referee`), run the TPP features against them as one ordinary run (same plan,
//! verdicts, findings and reports as a bank run), and stop both — also when the run fails or
//! Ctrl-C interrupts it, so no TPP process outlives the run.

use std::path::Path;

use super::{ConfigError, FeatureSource, Progress, RunOptions, RunOutcome, run};
use crate::harness::profile::Profile;
use crate::harness::profile::tpp::TppProfile;
use crate::harness::referee::{self, StartInProcess, TppRun};

/// What a TPP run selects and how it shows progress.
pub struct TppRunOptions {
    pub profile: TppProfile,
    /// Starts the TPP in-process instead of the profile's `[start] command`.
    pub in_process: Option<StartInProcess>,
    pub features: FeatureSource,
    pub tags: Option<String>,
    pub concurrency: Option<usize>,
    pub fail_fast: bool,
    pub progress: Progress,
}

impl TppRunOptions {
    /// A run of `profile` with the embedded TPP features, quietly (library callers).
    pub fn quiet(profile: TppProfile) -> TppRunOptions {
        TppRunOptions {
            profile,
            in_process: None,
            features: FeatureSource::Embedded,
            tags: None,
            concurrency: None,
            fail_fast: false,
            progress: Progress::Quiet,
        }
    }
}

impl TppRun {
    /// What the report names as the target: the TPP's receiver.
    pub fn target(&self) -> String {
        let urls: Vec<&str> = [
            self.push.as_ref().map(|p| p.url.as_str()),
            self.yapily.as_ref().map(|h| h.url.as_str()),
            self.tatra.as_ref().map(|h| h.url.as_str()),
        ]
        .into_iter()
        .flatten()
        .collect();
        match urls.as_slice() {
            [] => format!("TPP refereed by {}", self.referee_url),
            [one] => format!("TPP receiver {one}"),
            many => format!("TPP receivers {}", many.join(", ")),
        }
    }
}

/// Ctrl-C (SIGINT) and SIGTERM, listened for from the start of a TPP run that starts the TPP
/// as a command (its process group would outlive the harness), so an interrupt at any moment
/// stops the TPP and the referee before the run ends. Other runs leave the signals alone:
/// tokio keeps a signal's handler for the life of the process, and the main job's other passes
/// must still stop on Ctrl-C.
struct Interrupts {
    int: Option<tokio::signal::unix::Signal>,
    term: Option<tokio::signal::unix::Signal>,
}

impl Interrupts {
    fn listen(wanted: bool) -> Interrupts {
        use tokio::signal::unix::{SignalKind, signal};
        if !wanted {
            return Interrupts {
                int: None,
                term: None,
            };
        }
        Interrupts {
            int: signal(SignalKind::interrupt()).ok(),
            term: signal(SignalKind::terminate()).ok(),
        }
    }

    /// Resolves at the first interrupt (never, if neither could be listened for).
    async fn next(&mut self) {
        async fn one(s: &mut Option<tokio::signal::unix::Signal>) {
            match s {
                Some(s) => {
                    s.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        }
        tokio::select! {
            _ = one(&mut self.int) => {}
            _ = one(&mut self.term) => {}
        }
    }
}

fn interrupted() -> ConfigError {
    ConfigError("interrupted: the TPP and the referee were stopped".into())
}

/// Referees the TPP of `opts.profile`; with `report_dir`, cucumber's JSON and the output of
/// the TPP's `[start] command` (`tpp.log`) are written there.
pub async fn run_tpp(
    opts: TppRunOptions,
    report_dir: Option<&Path>,
) -> Result<RunOutcome, ConfigError> {
    let mut interrupts =
        Interrupts::listen(opts.in_process.is_none() && opts.profile.start.is_some());
    // The TPP's own output goes beside the reports, where a failed run sends the reader.
    let log = report_dir.map(|d| d.join("tpp.log"));
    // Dropping a half-done start ends the TPP's process group (its guard) and the referee.
    let started = tokio::select! {
        s = referee::start(opts.profile, opts.in_process, log) => s.map_err(ConfigError)?,
        _ = interrupts.next() => return Err(interrupted()),
    };
    let bank = Profile::for_sandbox(&started.referee.url(), started.referee.declaration())
        .map_err(|e| ConfigError(e.to_string()));
    let outcome = match bank {
        Ok(bank) => {
            let run_opts = RunOptions {
                profile: bank,
                features: opts.features,
                tags: opts.tags,
                concurrency: opts.concurrency,
                fail_fast: opts.fail_fast,
                progress: opts.progress,
                tpp: Some(started.run.clone()),
                shard: None,
            };
            tokio::select! {
                outcome = run(run_opts, report_dir) => outcome,
                _ = interrupts.next() => Err(interrupted()),
            }
        }
        Err(e) => Err(e),
    };
    started.stop().await;
    outcome
}
