//! `obevents test`: turns the command line into a profile (or starts the embedded sandbox and
//! builds its profile), decides which scenarios apply, runs them with cucumber-rs, and writes
//! the reports. Exit codes: 0 every applicable scenario passed, 1 a scenario failed, 2 bad
//! configuration or an unreachable target.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use cucumber::gherkin::{Feature, Scenario};
use cucumber::{World as _, WriterExt as _, event, writer};
use futures::FutureExt as _;

use super::context::RunContext;
use super::features;
pub use super::outcome::{RunOutcome, ScenarioRecord, Verdict};
use super::outcome::{Seen, StepKind, classify, merge_findings};
pub use super::plan::capabilities;
use super::plan::{all_tags, judged_rules, plan};
use super::profile::{Clients, Conformance, Profile};
use super::report;
use super::settle::{Ran, settle};
use super::world::HarnessWorld;
use crate::cli::TestArgs;
use crate::sandbox::embedded::Bank;

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
}

/// What the run collects while cucumber executes, keyed by (feature path, scenario line). The
/// writer's events carry the time they happened (they reach it later, in feature order).
#[derive(Default)]
struct Collector {
    /// The scenarios that finished, with what their world kept.
    ran: HashMap<(String, usize), Ran>,
    failures: HashMap<(String, usize), (String, StepKind, String)>,
    findings: HashMap<(String, usize), Vec<Seen>>,
    /// When each step started, and its text.
    steps: HashMap<(String, usize), Vec<(SystemTime, String)>>,
    /// When each scenario started and finished.
    times: HashMap<(String, usize), (SystemTime, Option<SystemTime>)>,
}

impl Collector {
    /// What the run saw of the scenario `key`, if it finished.
    fn take(&mut self, key: &(String, usize)) -> Option<Ran> {
        let mut ran = self.ran.remove(key)?;
        ran.failure = self.failures.remove(key);
        ran.steps = self.steps.remove(key).unwrap_or_default();
        ran.duration_ms = match self.times.remove(key) {
            Some((start, Some(end))) => end
                .duration_since(start)
                .map(|d| d.as_millis() as u64)
                .unwrap_or(0),
            _ => 0,
        };
        Some(ran)
    }
}

fn key_of(f: &Feature, s: &Scenario) -> (String, usize) {
    (
        f.path
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
        s.position.line,
    )
}

fn panic_message(info: &event::Info) -> String {
    if let Some(s) = info.downcast_ref::<String>() {
        s.clone()
    } else if let Some(s) = info.downcast_ref::<&str>() {
        (*s).to_string()
    } else {
        "the step panicked".to_string()
    }
}

fn step_kind(step: &cucumber::gherkin::Step) -> StepKind {
    match step.ty {
        cucumber::gherkin::StepType::Given => StepKind::Given,
        cucumber::gherkin::StepType::When => StepKind::When,
        cucumber::gherkin::StepType::Then => StepKind::Then,
    }
}

fn step_error_message(e: &event::StepError) -> String {
    match e {
        event::StepError::Panic(info) => panic_message(info),
        other => other.to_string(),
    }
}

/// Cucumber writer for progress (a bar on a terminal, a line per scenario otherwise) and for
/// capturing which step failed and why.
struct ProgressWriter {
    collector: Arc<Mutex<Collector>>,
    conformance: Conformance,
    bar: Option<indicatif::ProgressBar>,
    plain: bool,
    total: usize,
    done: usize,
}

impl ProgressWriter {
    fn scenario_event(
        &mut self,
        f: &Feature,
        s: &Scenario,
        ev: &event::Scenario<HarnessWorld>,
        at: SystemTime,
    ) {
        let key = key_of(f, s);
        match ev {
            event::Scenario::Started => {
                if let Ok(mut c) = self.collector.lock() {
                    c.times.insert(key, (at, None));
                }
            }
            event::Scenario::Step(step, event::Step::Started)
            | event::Scenario::Background(step, event::Step::Started) => {
                if let Ok(mut c) = self.collector.lock() {
                    let text = format!("{}{}", step.keyword, step.value);
                    c.steps.entry(key).or_default().push((at, text));
                }
            }
            event::Scenario::Step(step, event::Step::Failed(_, _, _, err))
            | event::Scenario::Background(step, event::Step::Failed(_, _, _, err)) => {
                if let Ok(mut c) = self.collector.lock() {
                    c.failures.entry(key).or_insert_with(|| {
                        (
                            format!("{}{}", step.keyword, step.value),
                            step_kind(step),
                            step_error_message(err),
                        )
                    });
                }
            }
            event::Scenario::Step(step, event::Step::Skipped)
            | event::Scenario::Background(step, event::Step::Skipped) => {
                if let Ok(mut c) = self.collector.lock() {
                    c.failures.entry(key).or_insert_with(|| {
                        (
                            format!("{}{}", step.keyword, step.value),
                            StepKind::Then,
                            "no step definition matches this step".into(),
                        )
                    });
                }
            }
            event::Scenario::Finished => {
                self.done += 1;
                let rules = judged_rules(&all_tags(f, s), self.conformance);
                let verdict = self
                    .collector
                    .lock()
                    .ok()
                    .map(|mut c| {
                        if let Some(t) = c.times.get_mut(&key) {
                            t.1 = Some(at);
                        }
                        let pending = c
                            .ran
                            .get(&key)
                            .is_some_and(|r| !r.checks.pending.is_empty());
                        match c.failures.get(&key) {
                            Some((_, kind, msg)) => match classify(&rules, *kind, msg).0 {
                                Verdict::Blocked if pending => Verdict::Failed,
                                v => v,
                            },
                            None if pending => Verdict::Failed,
                            None => Verdict::Passed,
                        }
                    })
                    .unwrap_or(Verdict::Passed);
                let verdict = match verdict {
                    Verdict::Failed => "FAIL",
                    Verdict::Blocked => "BLOCKED",
                    _ => "pass",
                };
                if let Some(bar) = &self.bar {
                    bar.inc(1);
                    if verdict != "pass" {
                        bar.println(format!("{verdict} {}:{} {}", key.0, key.1, s.name));
                    }
                } else if self.plain {
                    eprintln!(
                        "[{}/{}] {verdict} {}:{} {}",
                        self.done, self.total, key.0, key.1, s.name
                    );
                }
            }
            _ => {}
        }
    }
}

impl cucumber::Writer<HarnessWorld> for ProgressWriter {
    type Cli = cucumber::cli::Empty;

    async fn handle_event(
        &mut self,
        ev: cucumber::parser::Result<cucumber::Event<event::Cucumber<HarnessWorld>>>,
        _: &Self::Cli,
    ) {
        let Ok(ev) = ev else { return };
        match &ev.value {
            event::Cucumber::Feature(f, event::Feature::Scenario(s, r)) => {
                self.scenario_event(f, s, &r.event, ev.at)
            }
            event::Cucumber::Feature(f, event::Feature::Rule(_, event::Rule::Scenario(s, r))) => {
                self.scenario_event(f, s, &r.event, ev.at)
            }
            event::Cucumber::Finished => {
                if let Some(bar) = &self.bar {
                    bar.finish_and_clear();
                }
            }
            _ => {}
        }
    }
}

impl writer::NonTransforming for ProgressWriter {}

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

/// Runs the suite against `opts.profile`.
pub async fn run(
    opts: RunOptions,
    report_dir: Option<&std::path::Path>,
) -> Result<RunOutcome, ConfigError> {
    let started = Instant::now();
    let features = match &opts.features {
        FeatureSource::Embedded => features::embedded(),
        FeatureSource::Dir(d) => features::from_dir(d),
    }
    .map_err(ConfigError)?;
    let tag_expr = match &opts.tags {
        Some(t) => Some(
            t.parse::<cucumber::gherkin::tagexpr::TagOperation>()
                .map_err(|e| ConfigError(format!("--tags {t:?}: {e}")))?,
        ),
        None => None,
    };
    let caps = capabilities(&opts.profile);
    let planned = plan(
        &features,
        opts.profile.conformance,
        &caps,
        tag_expr.as_ref(),
    );
    if planned.is_empty() {
        return Err(ConfigError("no scenario matches --tags".into()));
    }
    let mut ctx = RunContext::new(opts.profile.clone()).map_err(ConfigError)?;
    if ctx.profile.bank.realtime {
        ctx.start_receiver().await.map_err(ConfigError)?;
    }
    let ctx = Arc::new(ctx);
    super::preflight::preflight(&ctx)
        .await
        .map_err(ConfigError)?;

    let to_run: HashSet<(String, usize)> = planned
        .iter()
        .filter(|p| p.run)
        .map(|p| p.key.clone())
        .collect();
    let collector = Arc::new(Mutex::new(Collector::default()));
    let total = to_run.len();
    let interactive =
        opts.progress == Progress::Auto && std::io::IsTerminal::is_terminal(&std::io::stderr());
    let bar = interactive.then(|| {
        let bar = indicatif::ProgressBar::new(total as u64);
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{spinner} [{elapsed}] {bar:40} {pos}/{len} scenarios",
        ) {
            bar.set_style(style);
        }
        bar
    });
    let progress = ProgressWriter {
        collector: collector.clone(),
        conformance: opts.profile.conformance,
        bar,
        plain: opts.progress == Progress::Auto && !interactive,
        total,
        done: 0,
    };
    let concurrency = match (&ctx.profile.clients, opts.concurrency) {
        (Clients::Fixed(_), Some(n)) if n > 1 => {
            return Err(ConfigError(
                "--concurrency: the profile's fixed [[tpp]] clients are shared by every scenario, so scenarios run one at a time".into(),
            ));
        }
        (_, Some(n)) => n,
        // A Tatra-style application has one set of webhook settings, and a misdirected
        // webhook lands wherever another application's settings point: one scenario at a time,
        // so it lands in the scenario that watches for it (TB-10).
        (_, None) if ctx.profile.dialect == super::profile::Dialect::Tatra => 1,
        (Clients::Register(_), None) => 16,
        (Clients::Fixed(_), None) => 1,
    };

    install_quiet_step_panics();
    let json_out: Box<dyn std::io::Write> = match report_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .map_err(|e| ConfigError(format!("--report-dir {}: {e}", dir.display())))?;
            Box::new(
                std::fs::File::create(dir.join("cucumber.json"))
                    .map_err(|e| ConfigError(format!("{}: {e}", dir.display())))?,
            )
        }
        None => Box::new(std::io::sink()),
    };
    let before_ctx = ctx.clone();
    let after_collector = collector.clone();
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
            world.ctx = Some(before_ctx.clone());
            world.rules =
                judged_rules(&all_tags(feature, scenario), before_ctx.profile.conformance);
            async {}.boxed_local()
        })
        .after(move |feature, _, scenario, _, world| {
            let key = key_of(feature, scenario);
            let (evidence, findings, checks) = world
                .map(|w| {
                    (
                        std::mem::take(&mut w.evidence),
                        std::mem::take(&mut w.findings),
                        std::mem::take(&mut w.checks),
                    )
                })
                .unwrap_or_default();
            if let Ok(mut c) = after_collector.lock() {
                c.findings.insert(key.clone(), findings);
                let ran = Ran {
                    evidence,
                    checks,
                    ..Ran::default()
                };
                c.ran.insert(key, ran);
            }
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
            settle(&mut record, ran, opts.fail_fast);
        }
        scenarios.push(record);
    }
    Ok(RunOutcome {
        profile_name: ctx.profile.name.clone(),
        target: ctx.profile.base_url.clone(),
        scenarios,
        findings: merge_findings(seen),
        duration: started.elapsed(),
    })
}

/// Runs the embedded features selected by `tags` against `profile` without writing reports:
/// one of the main job's extra passes.
pub async fn run_tagged(
    profile: Profile,
    tags: &str,
    concurrency: Option<usize>,
    fail_fast: bool,
    progress: Progress,
) -> Result<RunOutcome, ConfigError> {
    let opts = RunOptions {
        profile,
        features: FeatureSource::Embedded,
        tags: Some(tags.into()),
        concurrency,
        fail_fast,
        progress,
    };
    run(opts, None).await
}

/// `obevents test` from the command line; returns the exit code.
pub async fn run_cli(args: TestArgs) -> u8 {
    match run_cli_inner(args).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            2
        }
    }
}

async fn run_cli_inner(args: TestArgs) -> Result<u8, ConfigError> {
    let features = match &args.features {
        Some(d) => FeatureSource::Dir(d.clone()),
        None => FeatureSource::Embedded,
    };
    let mut embedded = None;
    let mut mtls_pass = false;
    let profile = match &args.profile {
        Some(path) => {
            Profile::load(path, args.base_url.as_deref()).map_err(|e| ConfigError(e.to_string()))?
        }
        None => {
            let sandbox = crate::sandbox::embedded::start(args.bank, &args.faults)
                .await
                .map_err(|e| ConfigError(format!("cannot start the embedded sandbox: {e}")))?;
            let profile = Profile::for_sandbox(&sandbox.url(), sandbox.declaration())
                .map_err(|e| ConfigError(e.to_string()))?;
            tracing::info!(
                "testing the embedded sandbox ({}) at {}",
                sandbox.declaration().name,
                sandbox.url()
            );
            embedded = Some(sandbox);
            // The HTTPS + mTLS pass belongs to the whole suite; a run narrowed by --tags or
            // its own features is about those scenarios only.
            if args.tags.is_none() && args.features.is_none() {
                mtls_pass = true;
            }
            profile
        }
    };
    let opts = RunOptions {
        profile,
        features,
        tags: args.tags.clone(),
        concurrency: args.concurrency,
        fail_fast: args.fail_fast,
        progress: Progress::Auto,
    };
    let began = Instant::now();
    let outcome = run(opts, Some(&args.report_dir)).await;
    if let Some(s) = embedded {
        s.stop().await;
    }
    let mut outcome = outcome?;
    let stop = args.fail_fast && outcome.exit_code() != 0;
    if mtls_pass && !stop {
        // The Tatra pass runs its scenarios one at a time and mostly waits out quiet periods,
        // so it runs beside the others, without progress lines of its own (its results are in
        // the table and the reports like every pass's).
        let (faults, conc, ff) = (&args.faults, args.concurrency, args.fail_fast);
        let tatra = super::dialect_pass::run(Bank::Tatra, faults, conc, ff, Progress::Quiet);
        let others = async {
            let mtls = super::mtls_pass::run(args.bank, faults, conc, ff).await?;
            if ff && mtls.exit_code() != 0 {
                return Ok((mtls, None));
            }
            let yapily =
                super::dialect_pass::run(Bank::Yapily, faults, conc, ff, Progress::Auto).await?;
            Ok::<_, ConfigError>((mtls, Some(yapily)))
        };
        let (tatra, others) = tokio::join!(tatra, others);
        let (mtls, yapily) = others?;
        super::mtls_pass::merge(&mut outcome, mtls);
        for pass in yapily.into_iter().chain(Some(tatra?)) {
            super::dialect_pass::merge(&mut outcome, pass);
        }
        // The passes overlap: the run took its wall time, not the sum of theirs.
        outcome.duration = began.elapsed();
    }
    let catalogue = super::catalogue::Catalogue::embedded().map_err(ConfigError)?;
    report::write_all(
        &outcome,
        &catalogue,
        &args.report_dir,
        args.junit.as_deref(),
    )
    .map_err(ConfigError)?;
    println!("{}", report::console::render(&outcome, &catalogue));
    println!(
        "reports: {} (report.html, junit.xml, summary.json, cucumber.json){}",
        args.report_dir.display(),
        args.junit
            .as_ref()
            .map(|j| format!(", JUnit also at {}", j.display()))
            .unwrap_or_default()
    );
    Ok(outcome.exit_code())
}
