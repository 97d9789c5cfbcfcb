//! One run of the suite against one profile: loads the features, decides which scenarios
//! apply (`plan`), checks the target can serve the profile (preflight), runs the scenarios
//! with cucumber-rs and settles each one's verdict. `obevents test` runs one of these for a
//! profile, or one per pass of the main job (`harness::main_job`, which uses this module; a
//! run knows nothing of passes).

mod progress;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use cucumber::gherkin::{Feature, Scenario};
use cucumber::{World as _, WriterExt as _, writer};
use futures::FutureExt as _;

use self::progress::{Collector, Key, ProgressWriter, key_of};
use super::context::RunContext;
use super::defects::{Occurrence, group};
use super::features;
pub use super::outcome::{RunOutcome, ScenarioRecord, Verdict};
pub use super::plan::capabilities;
use super::plan::{Planned, all_tags, judged_rules, plan};
use super::profile::{Clients, Conformance, Dialect, Profile};
use super::settle::{Ran, settle};
use super::world::HarnessWorld;
use crate::cli::TestArgs;

/// A configuration problem or unreachable target: exit code 2.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// Where the features come from.
#[derive(Debug, Clone)]
pub enum FeatureSource {
    Embedded,
    Dir(PathBuf),
}

impl FeatureSource {
    /// The features `--features` names, or the embedded ones.
    pub fn of_cli(args: &TestArgs) -> FeatureSource {
        match &args.features {
            Some(d) => FeatureSource::Dir(d.clone()),
            None => FeatureSource::Embedded,
        }
    }

    fn load(&self) -> Result<Vec<Feature>, ConfigError> {
        match self {
            FeatureSource::Embedded => features::embedded(),
            FeatureSource::Dir(d) => features::from_dir(d),
        }
        .map_err(ConfigError)
    }
}

/// How progress is shown while the run goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// A bar on a terminal, plain lines otherwise.
    Auto,
    /// Nothing (library callers such as the fault test).
    Quiet,
}

/// Everything a run needs.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub profile: Profile,
    pub features: FeatureSource,
    pub tags: Option<String>,
    pub concurrency: Option<usize>,
    pub fail_fast: bool,
    pub progress: Progress,
    /// `Some((k, n))`: only the selected scenarios whose position is `k` modulo `n` run, the
    /// others are left out of this run altogether. The main job splits a pass whose scenarios
    /// must run one at a time over several sandboxes this way.
    pub shard: Option<(usize, usize)>,
}

impl RunOptions {
    /// A run of `profile` as the command line `args` select it, with progress shown.
    pub fn for_cli(profile: Profile, args: &TestArgs) -> RunOptions {
        RunOptions {
            profile,
            features: FeatureSource::of_cli(args),
            tags: args.tags.clone(),
            concurrency: args.concurrency,
            fail_fast: args.fail_fast,
            progress: Progress::Auto,
            shard: None,
        }
    }
}

/// Feeds already-parsed features to cucumber.
struct Parsed(Vec<Feature>);

impl<I> cucumber::Parser<I> for Parsed {
    type Cli = cucumber::cli::Empty;
    type Output = futures::stream::Iter<std::vec::IntoIter<cucumber::parser::Result<Feature>>>;
    fn parse(self, _: I, _: Self::Cli) -> Self::Output {
        futures::stream::iter(self.0.into_iter().map(Ok).collect::<Vec<_>>())
    }
}

/// Keeps failing steps quiet: their panic is the failure message cucumber records and the
/// report shows; anything else still reaches the previous hook.
fn install_quiet_step_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let from_step = info
                .location()
                .is_some_and(|l| l.file().replace('\\', "/").contains("src/harness/steps/"));
            if !from_step {
                previous(info);
            }
        }));
    });
}

/// Runs the suite against `opts.profile`; with `report_dir`, cucumber's JSON is written there.
pub async fn run(opts: RunOptions, report_dir: Option<&Path>) -> Result<RunOutcome, ConfigError> {
    let started = Instant::now();
    let features = opts.features.load()?;
    let planned = plan_run(&opts, &features)?;
    let ctx = start_context(&opts.profile).await?;
    let to_run: HashSet<Key> = planned
        .iter()
        .filter(|p| p.run)
        .map(|p| p.key.clone())
        .collect();
    let collector = Arc::new(Mutex::new(Collector::default()));
    let progress = ProgressWriter::new(
        collector.clone(),
        opts.profile.conformance,
        to_run.len(),
        opts.progress == Progress::Auto,
    );
    let concurrency = concurrency(&ctx.profile, opts.concurrency)?;
    install_quiet_step_panics();
    let json_out = json_output(report_dir)?;
    let (before_ctx, after_collector) = (ctx.clone(), collector.clone());
    let mut cucumber = HarnessWorld::cucumber::<&str>()
        .with_parser(Parsed(features))
        .with_writer(
            progress
                .tee::<HarnessWorld, _>(writer::Json::for_tee(json_out))
                .normalized(),
        )
        .with_default_cli()
        .max_concurrent_scenarios(Some(concurrency.max(1)))
        .before(move |feature, _, scenario, world| {
            prepare_world(world, &before_ctx, feature, scenario);
            async {}.boxed_local()
        })
        .after(move |feature, _, scenario, _, world| {
            keep_world(&after_collector, key_of(feature, scenario), world);
            async {}.boxed_local()
        })
        .fail_on_skipped();
    if opts.fail_fast {
        cucumber = cucumber.fail_fast();
    }
    cucumber
        .filter_run("features", move |f, _, s| to_run.contains(&key_of(f, s)))
        .await;
    let mut c = collector
        .lock()
        .map_err(|_| ConfigError("the run's collector was poisoned".into()))?;
    let (scenarios, seen) = settle_all(planned, &mut c, ctx.profile.conformance, opts.fail_fast);
    Ok(RunOutcome {
        profile_name: ctx.profile.name.clone(),
        target: ctx.profile.base_url.clone(),
        scenarios,
        findings: group(seen),
        duration: started.elapsed(),
    })
}

/// Every scenario of `features` that `opts.tags` selects, with whether it applies to the
/// profile; none selected is a configuration error.
fn plan_run(opts: &RunOptions, features: &[Feature]) -> Result<Vec<Planned>, ConfigError> {
    let tag_expr = match &opts.tags {
        Some(t) => Some(
            t.parse::<cucumber::gherkin::tagexpr::TagOperation>()
                .map_err(|e| ConfigError(format!("--tags {t:?}: {e}")))?,
        ),
        None => None,
    };
    let caps = capabilities(&opts.profile);
    let mut planned = plan(features, opts.profile.conformance, &caps, tag_expr.as_ref());
    if let Some((k, n)) = opts.shard.filter(|(k, n)| k < n) {
        planned = planned
            .into_iter()
            .enumerate()
            .filter(|(i, _)| i % n == k)
            .map(|(_, p)| p)
            .collect();
    }
    if planned.is_empty() {
        return Err(ConfigError("no scenario matches --tags".into()));
    }
    Ok(planned)
}

/// The run's context for `profile`, its callback receiver started when the bank pushes, once
/// the preflight found the target able to serve the profile.
async fn start_context(profile: &Profile) -> Result<Arc<RunContext>, ConfigError> {
    let mut ctx = RunContext::new(profile.clone()).map_err(ConfigError)?;
    if ctx.profile.bank.realtime {
        ctx.start_receiver().await.map_err(ConfigError)?;
    }
    let ctx = Arc::new(ctx);
    super::preflight::preflight(&ctx)
        .await
        .map_err(ConfigError)?;
    Ok(ctx)
}

/// How many scenarios run at once: `asked` (`--concurrency`), or what the profile's clients
/// allow.
fn concurrency(profile: &Profile, asked: Option<usize>) -> Result<usize, ConfigError> {
    match (&profile.clients, asked) {
        (Clients::Fixed(_), Some(n)) if n > 1 => Err(ConfigError(
            "--concurrency: the profile's fixed [[tpp]] clients are shared by every scenario, so scenarios run one at a time".into(),
        )),
        (_, Some(n)) => Ok(n),
        // A Tatra-style application has one set of webhook settings, and a misdirected
        // webhook lands wherever another application's settings point: one scenario at a time,
        // so it lands in the scenario that watches for it (TB-10).
        (_, None) if profile.dialect == Dialect::Tatra => Ok(1),
        (Clients::Register(_), None) => Ok(16),
        (Clients::Fixed(_), None) => Ok(1),
    }
}

/// Where cucumber's JSON goes: `report_dir/cucumber.json`, or nowhere.
fn json_output(report_dir: Option<&Path>) -> Result<Box<dyn std::io::Write>, ConfigError> {
    let Some(dir) = report_dir else {
        return Ok(Box::new(std::io::sink()));
    };
    std::fs::create_dir_all(dir)
        .map_err(|e| ConfigError(format!("--report-dir {}: {e}", dir.display())))?;
    let file = std::fs::File::create(dir.join("cucumber.json"))
        .map_err(|e| ConfigError(format!("{}: {e}", dir.display())))?;
    Ok(Box::new(file))
}

/// Gives a scenario's world the run's context and the rules it is judged on.
fn prepare_world(world: &mut HarnessWorld, ctx: &Arc<RunContext>, f: &Feature, s: &Scenario) {
    world.ctx = Some(ctx.clone());
    world.rules = judged_rules(&all_tags(f, s), ctx.profile.conformance);
}

/// Keeps what a finished scenario's world recorded (evidence, findings, checks, what its
/// receiver got).
fn keep_world(collector: &Mutex<Collector>, key: Key, world: Option<&mut HarnessWorld>) {
    let (evidence, findings, checks, receiver) = world
        .map(|w| {
            (
                std::mem::take(&mut w.evidence),
                std::mem::take(&mut w.findings),
                std::mem::take(&mut w.checks),
                w.receiver_logs(),
            )
        })
        .unwrap_or_default();
    if let Ok(mut c) = collector.lock() {
        c.findings.insert(key.clone(), findings);
        let ran = Ran {
            evidence,
            checks,
            receiver,
            ..Ran::default()
        };
        c.ran.insert(key, ran);
    }
}

/// Each planned scenario's record, settled from what the run collected, and the findings of
/// the scenarios that ran, by scenario.
fn settle_all(
    planned: Vec<Planned>,
    c: &mut Collector,
    conformance: Conformance,
    fail_fast: bool,
) -> (Vec<ScenarioRecord>, Vec<(String, Vec<Occurrence>)>) {
    let mut scenarios = Vec::new();
    let mut seen = Vec::new();
    for p in planned {
        let mut record = p.record;
        if p.run {
            if let Some(list) = c.findings.remove(&p.key) {
                seen.push((
                    format!("{}:{} {}", record.path, record.line, record.name),
                    list,
                ));
            }
            let ran = c.take(&p.key);
            settle(&mut record, conformance, ran, fail_fast);
        }
        scenarios.push(record);
    }
    (scenarios, seen)
}
