//! The evidence part of the HTML report as plain values: each failed or blocked scenario (the
//! step, the cause, the text and source of the rules it failed, what the harness's callback
//! receiver got, every exchange with the ones the failed check looked at unfolded) and the
//! findings of the checks run on every answer. Secrets in bodies are masked here; the template
//! escapes the rest.

use super::{RuleRef, bad, plain_refs, verdict_class};
use crate::harness::catalogue::Catalogue;
use crate::harness::client::{Exchange, mask_body};
use crate::harness::outcome::{Finding, ReceiverLog, RunOutcome, ScenarioRecord, Verdict};

/// One failed or blocked scenario with its evidence.
pub(super) struct FailureView<'a> {
    pub(super) i: usize,
    pub(super) class: &'static str,
    pub(super) label: &'static str,
    pub(super) name: &'a str,
    pub(super) path: &'a str,
    pub(super) line: usize,
    pub(super) rules: Vec<RuleRef>,
    /// The rules whose check failed (a failed scenario; a blocked one tested none).
    pub(super) failed: Option<Vec<RuleRef>>,
    pub(super) step: Option<&'a str>,
    pub(super) reason: &'a str,
    pub(super) texts: Vec<RuleText<'a>>,
    /// What the receiver got, when the scenario had a mailbox.
    pub(super) receiver: Option<Vec<ReceivedRow<'a>>>,
    pub(super) exchanges: Vec<ExchangeView>,
}

/// The catalogue's text of a rule a scenario failed.
pub(super) struct RuleText<'a> {
    pub(super) rule: RuleRef,
    pub(super) level: &'a str,
    pub(super) summary: &'a str,
    pub(super) source: &'a str,
}

/// One request the harness's callback receiver got, as it saw it.
pub(super) struct ReceivedRow<'a> {
    pub(super) url: &'a str,
    pub(super) mailbox: &'a str,
    /// 1-based, per mailbox.
    pub(super) n: usize,
    pub(super) arrived: &'a str,
    /// `+250 ms` from the request before it, `—` for the first.
    pub(super) delay: String,
    pub(super) method: &'a str,
    pub(super) path: &'a str,
    pub(super) answered: &'a str,
    pub(super) headers: usize,
    pub(super) bytes: usize,
    /// Headers, a blank line and the body (pretty-printed when JSON).
    pub(super) raw: String,
}

/// One request and its answer.
pub(super) struct ExchangeView {
    pub(super) open: bool,
    pub(super) method: String,
    pub(super) url: String,
    /// The status code, or `no answer`.
    pub(super) status: String,
    pub(super) elapsed_ms: u64,
    pub(super) request: String,
    pub(super) response: String,
    pub(super) sets: Option<String>,
}

/// The findings of one rule.
pub(super) struct FindingGroup<'a> {
    pub(super) rule: RuleRef,
    pub(super) list: Vec<FindingView<'a>>,
}

pub(super) struct FindingView<'a> {
    pub(super) message: &'a str,
    pub(super) seen: usize,
    /// Where it was seen, `; `-separated.
    pub(super) scenarios: String,
    pub(super) evidence: Option<ExchangeView>,
}

fn pretty(body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| body.to_string())
}

impl ExchangeView {
    fn new(ex: &Exchange, open: bool) -> Self {
        let status = ex
            .status
            .map(|c| c.to_string())
            .unwrap_or_else(|| "no answer".into());
        let mut request = format!("{} {}\n", ex.method, ex.url);
        for (k, v) in &ex.request_headers {
            request.push_str(&format!("{k}: {v}\n"));
        }
        if let Some(b) = &ex.request_body {
            request.push('\n');
            request.push_str(&pretty(b));
        }
        let mut response = String::new();
        if let Some(e) = &ex.error {
            response.push_str(&format!("transport error: {e}\n"));
        }
        response.push_str(&format!("{status}\n"));
        for (k, v) in &ex.response_headers {
            response.push_str(&format!("{k}: {v}\n"));
        }
        if !ex.response_body.is_empty() {
            response.push('\n');
            // Registration and token answers carry secrets; the report never shows them.
            response.push_str(&pretty(&mask_body(&ex.response_body)));
        }
        let sets = (!ex.decoded_sets.is_empty())
            .then(|| serde_json::to_string_pretty(&ex.decoded_sets).unwrap_or_default());
        ExchangeView {
            open,
            method: ex.method.clone(),
            url: ex.url.clone(),
            status,
            elapsed_ms: ex.elapsed_ms,
            request,
            response,
            sets,
        }
    }
}

/// The failed and blocked scenarios, each with the step whose check failed (or that could not
/// be completed), the cause, the text of the rules it failed, what the receiver got and every
/// exchange; those the failed check looked at are unfolded (the last one when the run could
/// not tell).
pub(super) fn failures<'a>(
    outcome: &'a RunOutcome,
    catalogue: &'a Catalogue,
) -> Vec<FailureView<'a>> {
    outcome
        .scenarios
        .iter()
        .enumerate()
        .filter(|(_, s)| bad(s))
        .map(|(i, s)| failure(i, s, catalogue))
        .collect()
}

fn failure<'a>(i: usize, s: &'a ScenarioRecord, catalogue: &'a Catalogue) -> FailureView<'a> {
    let (class, label) = verdict_class(s.verdict);
    let last = s.evidence.len().saturating_sub(1);
    let exchanges = s
        .evidence
        .iter()
        .enumerate()
        .map(|(n, ex)| {
            let looked_at = if s.unfold.is_empty() {
                n == last
            } else {
                s.unfold.contains(&n)
            };
            ExchangeView::new(ex, looked_at)
        })
        .collect();
    FailureView {
        i,
        class,
        label,
        name: &s.name,
        path: &s.path,
        line: s.line,
        rules: plain_refs(&s.rules),
        failed: (s.verdict == Verdict::Failed).then(|| plain_refs(&s.failed_rules)),
        step: s.failed_step.as_deref(),
        reason: s.reason.as_deref().unwrap_or(""),
        texts: rule_texts(s, catalogue),
        receiver: (!s.receiver.is_empty()).then(|| received(&s.receiver)),
        exchanges,
    }
}

/// The text and source of each rule a failed scenario failed, next to its evidence.
fn rule_texts<'a>(s: &ScenarioRecord, catalogue: &'a Catalogue) -> Vec<RuleText<'a>> {
    s.failed_rules
        .iter()
        .filter_map(|id| {
            let r = catalogue.get(id)?;
            Some(RuleText {
                rule: RuleRef::plain(id),
                level: &r.level,
                summary: &r.summary,
                source: &r.source,
            })
        })
        .collect()
}

/// What the harness's callback receiver got in a scenario, per mailbox, in arrival order.
fn received(logs: &[ReceiverLog]) -> Vec<ReceivedRow<'_>> {
    let mut rows = Vec::new();
    for log in logs {
        for (n, r) in log.requests.iter().enumerate() {
            let mut raw = String::new();
            for (k, v) in &r.headers {
                raw.push_str(&format!("{k}: {v}\n"));
            }
            raw.push('\n');
            raw.push_str(&pretty(&r.body));
            rows.push(ReceivedRow {
                url: &log.url,
                mailbox: &log.mailbox,
                n: n + 1,
                arrived: &r.arrived,
                delay: r
                    .after_previous_ms
                    .map(|ms| format!("+{ms} ms"))
                    .unwrap_or_else(|| "—".into()),
                method: &r.method,
                path: &r.path,
                answered: &r.answered,
                headers: r.headers.len(),
                bytes: r.body.len(),
                raw,
            });
        }
    }
    rows
}

/// The problems of the checks run on every answer, once per rule and distinct problem.
pub(super) fn findings(outcome: &RunOutcome) -> Vec<FindingGroup<'_>> {
    outcome
        .findings_by_rule()
        .into_iter()
        .map(|(rule, list)| FindingGroup {
            rule: RuleRef::plain(&rule),
            list: list.into_iter().map(finding).collect(),
        })
        .collect()
}

fn finding(f: &Finding) -> FindingView<'_> {
    FindingView {
        message: &f.message,
        seen: f.scenarios.len(),
        scenarios: f.scenarios.join("; "),
        evidence: f.evidence.as_ref().map(|ex| ExchangeView::new(ex, false)),
    }
}
