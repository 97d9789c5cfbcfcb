//! How a scenario that ran gets its verdict: the first failed step (classified by
//! [`classify`]), and the problems of the scenario's own rules that the checks run on every
//! answer kept instead of failing the step that sent the request. Also which exchanges the
//! failed checks looked at, so the report unfolds them.

use std::collections::HashMap;
use std::time::SystemTime;

use super::client::Exchange;
use super::outcome::{BLOCKED, Judging, ReceiverLog, ScenarioRecord, StepKind, Verdict, classify};
use super::profile::Conformance;

/// A problem of a check run on every answer that concerns one of the scenario's own rules: it
/// fails the scenario even when no step asserted that rule.
#[derive(Debug, Clone)]
pub struct Pending {
    pub message: String,
    /// The defect's kind: the same defect seen on several answers fails the scenario once.
    pub kind: String,
    /// Index in the scenario's evidence of the exchange that showed it.
    pub exchange: Option<usize>,
    /// When it was found, to tell in which step.
    pub at: SystemTime,
}

/// What the checks of one scenario kept: the problems of its own rules found by the checks run
/// on every answer, and where its assertions looked, so the report unfolds the exchange of the
/// check that failed.
#[derive(Debug, Clone, Default)]
pub struct Checks {
    pub pending: Vec<Pending>,
    /// Index in the evidence of the last response (what `Then` assertions look at).
    pub last: Option<usize>,
    /// Index in the evidence of the poll answer that carried each SET, by key.
    pub set_answers: HashMap<String, usize>,
}

/// What the run saw of a scenario that ran.
#[derive(Debug, Default)]
pub struct Ran {
    pub evidence: Vec<Exchange>,
    /// What the scenario's mailboxes at the callback receiver got.
    pub receiver: Vec<ReceiverLog>,
    /// The first step that failed: its text, kind and message.
    pub failure: Option<(String, StepKind, String)>,
    pub checks: Checks,
    /// When each step started, and its text, in order.
    pub steps: Vec<(SystemTime, String)>,
    pub duration_ms: u64,
}

impl Ran {
    /// The step that was running at `at`.
    fn step_at(&self, at: SystemTime) -> String {
        self.steps
            .iter()
            .rev()
            .find(|(t, _)| *t <= at)
            .or(self.steps.first())
            .map(|(_, s)| s.clone())
            .unwrap_or_else(|| "?".into())
    }

    /// The exchanges a failed step with `message` looked at: the poll answers that carried the
    /// SETs it names, else the last response for an assertion (`Then`), else the last exchange.
    fn looked_at(&self, kind: StepKind, message: &str) -> Vec<usize> {
        let mut found: Vec<usize> = self
            .checks
            .set_answers
            .iter()
            .filter(|(key, _)| message.contains(key.as_str()))
            .map(|(_, i)| *i)
            .collect();
        found.sort_unstable();
        found.dedup();
        if !found.is_empty() {
            return found;
        }
        let last = match kind {
            StepKind::Then => self.checks.last,
            StepKind::Given | StepKind::When => None,
        };
        last.or(self.evidence.len().checked_sub(1))
            .into_iter()
            .collect()
    }
}

/// Gives a scenario that was meant to run its verdict from what the run saw of it (`None`: it
/// never finished), judged at `conformance`. A failed step is classified by [`classify`];
/// problems of the scenario's own rules kept by the checks run on every answer fail it too
/// (under the rules they name, else its primary rule), named with the step they were found in,
/// even when a later step was blocked.
pub fn settle(
    record: &mut ScenarioRecord,
    conformance: Conformance,
    ran: Option<Ran>,
    fail_fast: bool,
) {
    let Some(ran) = ran else {
        if fail_fast {
            record.verdict = Verdict::NotRun;
            record.reason = Some("--fail-fast stopped the run before this scenario".into());
        } else {
            record.verdict = Verdict::Blocked;
            record.reason = Some("the scenario did not finish".into());
        }
        return;
    };
    record.duration_ms = ran.duration_ms;
    record.verdict = Verdict::Passed;
    let judging = Judging {
        rules: record.rules.clone(),
        primary: record.primary.clone(),
        conformance,
    };
    record.receiver = ran.receiver.clone();
    if let Some((step, kind, message)) = &ran.failure {
        let (verdict, failed_rules) = classify(&judging, *kind, message);
        record.verdict = verdict;
        record.failed_rules = failed_rules;
        record.failed_step = Some(step.clone());
        record.reason = Some(message.clone());
        if verdict == Verdict::Blocked && *kind == StepKind::Then && !message.starts_with(BLOCKED) {
            // An assertion of rules this level does not judge: say why it is not a failure.
            record.reason = Some(format!(
                "{BLOCKED}the check concerns only rules conformance {} does not judge: {message}",
                conformance.name()
            ));
        }
        record.unfold = ran.looked_at(*kind, message);
    }
    let reported = record.reason.clone().unwrap_or_default();
    // Each distinct problem once (the first answer that showed it), unless a step reported it.
    let mut keys = Vec::new();
    let pending: Vec<&Pending> = ran
        .checks
        .pending
        .iter()
        .filter(|p| !reported.contains(&p.message))
        .filter(|p| {
            let new = !keys.contains(&&p.kind);
            keys.push(&p.kind);
            new
        })
        .collect();
    if let Some(first) = pending.first() {
        let messages: Vec<&str> = pending.iter().map(|p| p.message.as_str()).collect();
        let step = format!("{} (a check run on every answer)", ran.step_at(first.at));
        let (reason, failed_step) = match (record.verdict, &record.failed_step) {
            (Verdict::Failed, Some(s)) => (
                format!(
                    "{reported}\nand on the checks run on every answer:\n{}",
                    messages.join("\n")
                ),
                s.clone(),
            ),
            (Verdict::Blocked, Some(s)) => (
                format!(
                    "{}\nthen blocked at \"{s}\": {reported}",
                    messages.join("\n")
                ),
                step,
            ),
            _ => (messages.join("\n"), step),
        };
        for p in &pending {
            for r in judging.charge(&p.message) {
                if !record.failed_rules.contains(&r) {
                    record.failed_rules.push(r);
                }
            }
            record.unfold.extend(p.exchange);
        }
        record.verdict = Verdict::Failed;
        record.reason = Some(reason);
        record.failed_step = Some(failed_step);
    }
    record.evidence = ran.evidence;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn ids(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn record(rules: &[&str]) -> ScenarioRecord {
        ScenarioRecord {
            feature: "f".into(),
            path: "f.feature".into(),
            name: "s".into(),
            line: 1,
            tags: Vec::new(),
            rules: ids(rules),
            primary: rules.first().map(|r| r.to_string()),
            verdict: Verdict::Failed,
            failed_rules: Vec::new(),
            reason: None,
            failed_step: None,
            duration_ms: 0,
            evidence: Vec::new(),
            unfold: Vec::new(),
            receiver: Vec::new(),
        }
    }

    fn ran(exchanges: usize, steps: &[&str]) -> (Ran, Vec<SystemTime>) {
        let t0 = SystemTime::UNIX_EPOCH;
        let times: Vec<SystemTime> = (0..steps.len())
            .map(|i| t0 + Duration::from_secs(10 * i as u64))
            .collect();
        let ex = Exchange {
            method: "POST".into(),
            url: "http://bank/events".into(),
            request_headers: Vec::new(),
            request_body: None,
            status: Some(200),
            response_headers: Vec::new(),
            response_body: String::new(),
            error: None,
            elapsed_ms: 1,
            decoded_sets: Vec::new(),
            started: None,
            finished: None,
        };
        let ran = Ran {
            evidence: vec![ex; exchanges],
            steps: times
                .iter()
                .zip(steps)
                .map(|(t, s)| (*t, s.to_string()))
                .collect(),
            ..Ran::default()
        };
        (ran, times)
    }

    /// The step shown is the one whose check failed, and the exchange unfolded is the one that
    /// check looked at (issue 12 §7).
    #[test]
    fn a_failed_check_names_its_step_and_the_exchange_it_looked_at() {
        // A SET assertion names the SET: the poll answer that carried it is unfolded.
        let (mut r, _) = ran(
            4,
            &[
                "When TPP A polls",
                "Then every received SET has the OB JOSE header members",
            ],
        );
        r.checks.set_answers.insert("jti-1".into(), 1);
        r.checks.last = Some(3);
        let msg = "J-05: JOSE header lacks crit (SET jti-1)";
        r.failure = Some((
            "Then every received SET has the OB JOSE header members".into(),
            StepKind::Then,
            msg.into(),
        ));
        r.checks.pending.push(Pending {
            message: "J-05: JOSE header lacks crit".into(),
            kind: "set-header:crit".into(),
            exchange: Some(1),
            at: SystemTime::UNIX_EPOCH,
        });
        let mut rec = record(&["J-05"]);
        settle(&mut rec, Conformance::Obie, Some(r), false);
        assert_eq!(rec.verdict, Verdict::Failed);
        assert_eq!(rec.failed_rules, ids(&["J-05"]));
        assert_eq!(rec.reason.as_deref(), Some(msg), "reported once");
        assert_eq!(rec.unfold, vec![1]);

        // An assertion on the last response unfolds it, not a later token exchange.
        let (mut r, _) = ran(3, &["Then the response status is 200"]);
        r.checks.last = Some(1);
        r.failure = Some((
            "Then the response status is 200".into(),
            StepKind::Then,
            "expected status 200, got 404".into(),
        ));
        let mut rec = record(&["ES-02"]);
        settle(&mut rec, Conformance::Obie, Some(r), false);
        assert_eq!(
            (rec.verdict, rec.unfold.clone()),
            (Verdict::Failed, vec![1])
        );

        // A problem of an own rule found on every answer fails a scenario whose steps all
        // passed, named with the step that was running, even when a later step is blocked.
        let steps = [
            "Given TPP A starts clean",
            "When TPP A lists its event subscriptions",
            "Then the response status is 200",
        ];
        for blocked in [false, true] {
            let (mut r, times) = ran(2, &steps);
            r.checks.pending.push(Pending {
                message: "G-06: an answer carries no x-fapi-interaction-id".into(),
                kind: "interaction-id:missing".into(),
                exchange: Some(1),
                at: times[1] + Duration::from_secs(1),
            });
            if blocked {
                r.failure = Some((
                    steps[2].into(),
                    StepKind::Given,
                    "cannot reach the target".into(),
                ));
            }
            let mut rec = record(&["G-06", "G-10"]);
            settle(&mut rec, Conformance::Obie, Some(r), false);
            assert_eq!(rec.verdict, Verdict::Failed, "blocked later: {blocked}");
            assert_eq!(rec.failed_rules, ids(&["G-06"]));
            assert!(
                rec.failed_step
                    .as_deref()
                    .is_some_and(|s| s.starts_with(steps[1])),
                "{:?}",
                rec.failed_step
            );
            assert!(rec.unfold.contains(&1));
        }
    }
}
