//! `obevents test` from the command line: the bank a profile describes, the TPP a TPP profile
//! describes (`--tpp`), or without either the main job; then the reports, a TPP run's
//! publication (`[publish]`) and the exit code (0 every applicable scenario passed, 1 a
//! scenario failed, 2 bad configuration, an unreachable target or a publication refused).

use super::catalogue::Catalogue;
use super::main_job;
use super::profile::Profile;
use super::profile::tpp::TppProfile;
use super::referee;
use super::report::{self, RunMode};
use super::runner::{
    self, ConfigError, FeatureSource, Progress, RunOptions, RunOutcome, TppRunOptions,
};
use crate::cli::TestArgs;

/// `obevents test`; returns the exit code.
pub async fn run_cli(args: TestArgs) -> u8 {
    match run_and_report(&args).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            2
        }
    }
}

/// An output file's directory, made before the run (as the file's writer would make it at the
/// end), so one that cannot be made stops the run at once rather than losing its report.
pub fn output_dir(flag: &str, path: &std::path::Path) -> Result<(), String> {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => std::fs::create_dir_all(d).map_err(|e| {
            format!(
                "{flag} {}: cannot make {}: {e}",
                path.display(),
                d.display()
            )
        }),
        _ => Ok(()),
    }
}

async fn run_and_report(args: &TestArgs) -> Result<u8, ConfigError> {
    if let Some(path) = &args.junit {
        output_dir("--junit", path).map_err(ConfigError)?;
    }
    let mut publish = None;
    let outcome = match (&args.profile, &args.tpp) {
        (_, Some(path)) => {
            let profile = TppProfile::load(path).map_err(|e| ConfigError(e.to_string()))?;
            publish = profile.publish.clone();
            let mut opts = TppRunOptions::quiet(profile);
            opts.features = FeatureSource::of_cli(args);
            opts.tags = args.tags.clone();
            opts.concurrency = args.concurrency;
            opts.fail_fast = args.fail_fast;
            opts.progress = Progress::Auto;
            runner::run_tpp(opts, Some(&args.report_dir)).await?
        }
        (Some(path), None) => {
            let profile = Profile::load(path, args.base_url.as_deref())
                .map_err(|e| ConfigError(e.to_string()))?;
            runner::run(RunOptions::for_cli(profile, args), Some(&args.report_dir)).await?
        }
        (None, None) => main_job::run(args).await?,
    };
    let mode = match (&args.profile, &args.tpp) {
        (_, Some(_)) => RunMode::Tpp,
        (Some(_), None) => RunMode::Bank,
        (None, None) => RunMode::MainJob,
    };
    let summary = write_reports(&outcome, args, mode)?;
    if let Some(p) = &publish {
        // Asked for and not done is a configuration problem, whatever the verdicts.
        let page = referee::publish::publish(p, &summary)
            .await
            .map_err(ConfigError)?;
        println!("published: {page}");
    }
    Ok(outcome.exit_code())
}

/// Writes every report of `outcome` and prints the console summary; the run's
/// `summary.json`.
fn write_reports(
    outcome: &RunOutcome,
    args: &TestArgs,
    mode: RunMode,
) -> Result<serde_json::Value, ConfigError> {
    let catalogue = Catalogue::embedded().map_err(ConfigError)?;
    let summary = report::write_all(
        outcome,
        &catalogue,
        mode,
        &args.report_dir,
        args.junit.as_deref(),
    )
    .map_err(ConfigError)?;
    println!("{}", report::console::render(outcome, &catalogue));
    // A TPP run started with a command leaves the TPP's output beside the reports.
    let tpp_log = if args.tpp.is_some() && args.report_dir.join("tpp.log").exists() {
        ", tpp.log"
    } else {
        ""
    };
    println!(
        "reports: {} (report.html, junit.xml, summary.json, cucumber.json{tpp_log}){}",
        args.report_dir.display(),
        args.junit
            .as_ref()
            .map(|j| format!(", JUnit also at {}", j.display()))
            .unwrap_or_default()
    );
    Ok(summary)
}
