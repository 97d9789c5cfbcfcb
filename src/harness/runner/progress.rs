//! What the run sees while cucumber executes: a cucumber writer that shows progress (a bar on
//! a terminal, a line per scenario otherwise) and collects, per scenario, when it and each of
//! its steps ran, which step failed and why, and what its world kept.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use cucumber::gherkin::{Feature, Scenario};
use cucumber::{event, writer};

use crate::harness::defects::Occurrence;
use crate::harness::outcome::{Judging, StepKind, Verdict, classify};
use crate::harness::plan::{all_tags, judged_rules};
use crate::harness::profile::Conformance;
use crate::harness::settle::Ran;
use crate::harness::world::HarnessWorld;

/// A scenario's key: its feature's path and its line.
pub(super) type Key = (String, usize);

/// The first failing step of a scenario: its text, kind and message.
type Failure = (String, StepKind, String);

/// What the run collects while cucumber executes, keyed by (feature path, scenario line). The
/// writer's events carry the time they happened (they reach it later, in feature order).
#[derive(Default)]
pub(super) struct Collector {
    /// The scenarios that finished, with what their world kept.
    pub(super) ran: HashMap<Key, Ran>,
    failures: HashMap<Key, Failure>,
    pub(super) findings: HashMap<Key, Vec<Occurrence>>,
    /// When each step started, and its text.
    steps: HashMap<Key, Vec<(SystemTime, String)>>,
    /// When each scenario started and finished.
    times: HashMap<Key, (SystemTime, Option<SystemTime>)>,
}

impl Collector {
    /// What the run saw of the scenario `key`, if it finished.
    pub(super) fn take(&mut self, key: &Key) -> Option<Ran> {
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

    /// The verdict the progress display shows for a finished scenario judged on `rules`
    /// (the final one is settled from everything collected).
    fn shown_verdict(&self, key: &Key, judging: &Judging) -> Verdict {
        let pending = self
            .ran
            .get(key)
            .is_some_and(|r| !r.checks.pending.is_empty());
        match self.failures.get(key) {
            Some((_, kind, msg)) => match classify(judging, *kind, msg).0 {
                Verdict::Blocked if pending => Verdict::Failed,
                v => v,
            },
            None if pending => Verdict::Failed,
            None => Verdict::Passed,
        }
    }
}

pub(super) fn key_of(f: &Feature, s: &Scenario) -> Key {
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

fn step_text(step: &cucumber::gherkin::Step) -> String {
    format!("{}{}", step.keyword, step.value)
}

/// Cucumber writer for progress (a bar on a terminal, a line per scenario otherwise) and for
/// capturing which step failed and why.
pub(super) struct ProgressWriter {
    collector: Arc<Mutex<Collector>>,
    conformance: Conformance,
    bar: Option<indicatif::ProgressBar>,
    plain: bool,
    total: usize,
    done: usize,
}

impl ProgressWriter {
    /// A writer for `total` scenarios judged at `conformance`; `show`: whether progress is
    /// shown at all (as a bar on a terminal, as lines otherwise).
    pub(super) fn new(
        collector: Arc<Mutex<Collector>>,
        conformance: Conformance,
        total: usize,
        show: bool,
    ) -> Self {
        let interactive = show && std::io::IsTerminal::is_terminal(&std::io::stderr());
        let bar = interactive.then(|| {
            let bar = indicatif::ProgressBar::new(total as u64);
            if let Ok(style) = indicatif::ProgressStyle::with_template(
                "{spinner} [{elapsed}] {bar:40} {pos}/{len} scenarios",
            ) {
                bar.set_style(style);
            }
            bar
        });
        ProgressWriter {
            collector,
            conformance,
            bar,
            plain: show && !interactive,
            total,
            done: 0,
        }
    }

    fn scenario_event(
        &mut self,
        f: &Feature,
        s: &Scenario,
        ev: &event::Scenario<HarnessWorld>,
        at: SystemTime,
    ) {
        let key = key_of(f, s);
        if matches!(ev, event::Scenario::Finished) {
            self.finished(f, s, key, at);
            return;
        }
        let Ok(mut c) = self.collector.lock() else {
            return;
        };
        match ev {
            event::Scenario::Started => {
                c.times.insert(key, (at, None));
            }
            event::Scenario::Step(step, event::Step::Started)
            | event::Scenario::Background(step, event::Step::Started) => {
                c.steps.entry(key).or_default().push((at, step_text(step)));
            }
            event::Scenario::Step(step, event::Step::Failed(_, _, _, err))
            | event::Scenario::Background(step, event::Step::Failed(_, _, _, err)) => {
                c.failures
                    .entry(key)
                    .or_insert_with(|| (step_text(step), step_kind(step), step_error_message(err)));
            }
            event::Scenario::Step(step, event::Step::Skipped)
            | event::Scenario::Background(step, event::Step::Skipped) => {
                c.failures.entry(key).or_insert_with(|| {
                    (
                        step_text(step),
                        StepKind::Then,
                        "no step definition matches this step".into(),
                    )
                });
            }
            _ => {}
        }
    }

    /// Records when scenario `key` finished and shows its verdict.
    fn finished(&mut self, f: &Feature, s: &Scenario, key: Key, at: SystemTime) {
        self.done += 1;
        let judging = Judging::new(
            judged_rules(&all_tags(f, s), self.conformance),
            self.conformance,
        );
        let verdict = self
            .collector
            .lock()
            .ok()
            .map(|mut c| {
                if let Some(t) = c.times.get_mut(&key) {
                    t.1 = Some(at);
                }
                c.shown_verdict(&key, &judging)
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
