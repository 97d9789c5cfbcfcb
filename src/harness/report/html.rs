//! The self-contained HTML report a bank can hand to an auditor: a summary whose counts link to
//! the failed and blocked scenarios, the findings of the checks run on every answer (each once,
//! with the scenarios where seen), the catalogue's rules with their verdicts (and the rules no
//! scenario covers yet), every scenario, and for each failed or blocked scenario the requests,
//! responses and decoded SETs as evidence (credentials masked when they were recorded).

use html_escape::encode_text as esc;

use super::{RuleVerdict, catalogue_verdicts};
use crate::harness::catalogue::Catalogue;
use crate::harness::client::{Exchange, mask_body};
use crate::harness::outcome::{RunOutcome, ScenarioRecord, Verdict};

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0;width:100%}td,th{border:1px solid #ccc;padding:4px 6px;vertical-align:top;text-align:left;font-size:14px}
th{background:#f2f2f2}.pass{color:#176f2c;font-weight:600}.fail{color:#b00020;font-weight:700}.blocked{color:#8a4b00;font-weight:700}.na{color:#777}.none{color:#a66b00}
pre{background:#f7f7f7;padding:8px;overflow-x:auto;font-size:12px;white-space:pre-wrap;word-break:break-all}
details{margin:.3em 0}.summary span{margin-right:2em;font-size:18px}code{font-size:13px}";

fn verdict_class(v: Verdict) -> (&'static str, &'static str) {
    match v {
        Verdict::Passed => ("pass", "pass"),
        Verdict::Failed => ("fail", "FAIL"),
        Verdict::Blocked => ("blocked", "BLOCKED"),
        Verdict::NotApplicable => ("na", "n/a"),
        Verdict::NotRun => ("na", "not run"),
    }
}

fn rule_class(v: RuleVerdict) -> &'static str {
    match v {
        RuleVerdict::Passed => "pass",
        RuleVerdict::Failed => "fail",
        RuleVerdict::NotTested => "blocked",
        RuleVerdict::NotApplicable => "na",
        RuleVerdict::NoScenario => "none",
    }
}

fn pretty(body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| body.to_string())
}

fn exchange(ex: &Exchange) -> String {
    let mut s = String::new();
    let status = ex
        .status
        .map(|c| c.to_string())
        .unwrap_or_else(|| "no answer".into());
    s.push_str(&format!(
        "<details><summary><code>{} {}</code> → {} ({} ms)</summary>",
        esc(&ex.method),
        esc(&ex.url),
        esc(&status),
        ex.elapsed_ms
    ));
    let mut req = format!("{} {}\n", ex.method, ex.url);
    for (k, v) in &ex.request_headers {
        req.push_str(&format!("{k}: {v}\n"));
    }
    if let Some(b) = &ex.request_body {
        req.push('\n');
        req.push_str(&pretty(b));
    }
    s.push_str(&format!("<p>Request</p><pre>{}</pre>", esc(&req)));
    let mut resp = String::new();
    if let Some(e) = &ex.error {
        resp.push_str(&format!("transport error: {e}\n"));
    }
    resp.push_str(&format!("{status}\n"));
    for (k, v) in &ex.response_headers {
        resp.push_str(&format!("{k}: {v}\n"));
    }
    if !ex.response_body.is_empty() {
        resp.push('\n');
        // Registration and token answers carry secrets; the report never shows them.
        resp.push_str(&pretty(&mask_body(&ex.response_body)));
    }
    s.push_str(&format!("<p>Response</p><pre>{}</pre>", esc(&resp)));
    if !ex.decoded_sets.is_empty() {
        let sets = serde_json::to_string_pretty(&ex.decoded_sets).unwrap_or_default();
        s.push_str(&format!("<p>Decoded SETs</p><pre>{}</pre>", esc(&sets)));
    }
    s.push_str("</details>");
    s
}

fn scenario_row(i: usize, s: &ScenarioRecord) -> String {
    let (class, label) = verdict_class(s.verdict);
    let reason = match s.verdict {
        Verdict::Failed | Verdict::Blocked => format!(
            "<a href=\"#s{i}\">{}</a>",
            esc(&super::headline(s.reason.as_deref().unwrap_or("")))
        ),
        _ => esc(s.reason.as_deref().unwrap_or("")).to_string(),
    };
    format!(
        "<tr><td class=\"{class}\">{label}</td><td>{}:{}</td><td>{}</td><td>{}</td><td>{}</td><td>{} ms</td></tr>",
        esc(&s.path),
        s.line,
        esc(&s.name),
        esc(&s.rules.join(" ")),
        reason,
        s.duration_ms
    )
}

pub fn render(outcome: &RunOutcome, catalogue: &Catalogue) -> String {
    let mut h = String::new();
    h.push_str(&format!("<!doctype html><html><head><meta charset=\"utf-8\"><title>obevents conformance report</title><style>{STYLE}</style></head><body>"));
    h.push_str("<h1>obevents conformance report</h1>");
    h.push_str(&format!(
        "<p>Profile <b>{}</b>, target <code>{}</code>, run of {:.1} s, obevents {}.</p>",
        esc(&outcome.profile_name),
        esc(&outcome.target),
        outcome.duration.as_secs_f64(),
        env!("CARGO_PKG_VERSION")
    ));
    h.push_str(&format!(
        "<p class=\"summary\"><span class=\"pass\">{} passed</span><a href=\"#failed\" class=\"fail\">{} failed</a> <a href=\"#failed\" class=\"blocked\">{} blocked</a> <span class=\"na\">{} not applicable</span> <span class=\"na\">{} not run</span> <a href=\"#findings\">{} finding(s)</a></p>",
        outcome.count(Verdict::Passed),
        outcome.count(Verdict::Failed),
        outcome.count(Verdict::Blocked),
        outcome.count(Verdict::NotApplicable),
        outcome.count(Verdict::NotRun),
        outcome.findings.len()
    ));
    failures(&mut h, outcome);
    findings(&mut h, outcome);

    h.push_str("<h2>Rules</h2><p>Every rule of the catalogue, the verdict of the scenarios tagged with it, and the rules no scenario checks yet.</p>");
    h.push_str("<table><tr><th>rule</th><th>verdict</th><th>level</th><th>area</th><th>summary</th><th>source</th><th>scenarios</th></tr>");
    for (id, verdict, idx) in catalogue_verdicts(outcome, catalogue) {
        let rule = catalogue.get(&id);
        let scenarios: Vec<String> = idx
            .iter()
            .map(|i| format!("<a href=\"#r{i}\">{}</a>", outcome.scenarios[*i].line))
            .collect();
        let label = if verdict == RuleVerdict::NoScenario && rule.is_some_and(|r| !r.testable) {
            "not testable on the wire".to_string()
        } else {
            verdict.label().to_string()
        };
        h.push_str(&format!(
            "<tr><td>{}</td><td class=\"{}\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&id),
            rule_class(verdict),
            esc(&label),
            esc(rule.map(|r| r.level.as_str()).unwrap_or("")),
            esc(rule.map(|r| r.area.as_str()).unwrap_or("")),
            esc(rule.map(|r| r.summary.as_str()).unwrap_or("")),
            esc(rule.map(|r| r.source.as_str()).unwrap_or("")),
            scenarios.join(" ")
        ));
    }
    h.push_str("</table>");

    h.push_str("<h2>Scenarios</h2><table><tr><th>verdict</th><th>feature</th><th>scenario</th><th>rules</th><th>reason</th><th>time</th></tr>");
    for (i, s) in outcome.scenarios.iter().enumerate() {
        h.push_str(&scenario_row(i, s).replacen("<tr>", &format!("<tr id=\"r{i}\">"), 1));
    }
    h.push_str("</table>");

    h.push_str("</body></html>");
    h
}

/// The failed and blocked scenarios first, each with the step whose check failed (or that could
/// not be completed), the cause and every exchange; those the failed check looked at are
/// unfolded (the last one when the run could not tell).
fn failures(h: &mut String, outcome: &RunOutcome) {
    if outcome.count(Verdict::Failed) + outcome.count(Verdict::Blocked) == 0 {
        return;
    }
    h.push_str("<h2 id=\"failed\">Failures and evidence</h2>");
    for (i, s) in outcome
        .scenarios
        .iter()
        .enumerate()
        .filter(|(_, s)| matches!(s.verdict, Verdict::Failed | Verdict::Blocked))
    {
        let (class, label) = verdict_class(s.verdict);
        h.push_str(&format!(
            "<h3 id=\"s{i}\"><span class=\"{class}\">{label}</span> {} <small>({}:{})</small></h3>",
            esc(&s.name),
            esc(&s.path),
            s.line
        ));
        h.push_str(&format!("<p>Rules: <b>{}</b>", esc(&s.rules.join(" "))));
        if s.verdict == Verdict::Failed {
            h.push_str(&format!(
                "; failed check of <b>{}</b>",
                esc(&s.failed_rules.join(" "))
            ));
        } else {
            h.push_str(" — not tested: a precondition could not be met");
        }
        h.push_str("</p>");
        if let Some(step) = &s.failed_step {
            h.push_str(&format!("<p>Step: <code>{}</code></p>", esc(step)));
        }
        h.push_str(&format!(
            "<pre>{}</pre>",
            esc(s.reason.as_deref().unwrap_or(""))
        ));
        h.push_str("<p>Exchanges of this scenario, in order (the one the failed check looked at unfolded):</p>");
        let last = s.evidence.len().saturating_sub(1);
        for (n, ex) in s.evidence.iter().enumerate() {
            let html = exchange(ex);
            let looked_at = if s.unfold.is_empty() {
                n == last
            } else {
                s.unfold.contains(&n)
            };
            if looked_at {
                h.push_str(&html.replacen("<details>", "<details open>", 1));
            } else {
                h.push_str(&html);
            }
        }
    }
}

/// The problems of the checks run on every answer, once per rule and distinct problem.
fn findings(h: &mut String, outcome: &RunOutcome) {
    if outcome.findings.is_empty() {
        return;
    }
    h.push_str("<h2 id=\"findings\">Findings of the checks run on every answer</h2>");
    h.push_str("<p>SET verification and poll-answer checks run on every answer; a problem of a rule the scenario is not about is listed here once, with the scenarios where it was seen, and fails the rule, not those scenarios.</p>");
    for (rule, list) in outcome.findings_by_rule() {
        h.push_str(&format!("<h3 class=\"fail\">{}</h3>", esc(&rule)));
        for f in list {
            h.push_str(&format!(
                "<pre>{}</pre><p>Seen in {} scenario(s): {}</p>",
                esc(&f.message),
                f.scenarios.len(),
                esc(&f.scenarios.join("; "))
            ));
            if let Some(ex) = &f.evidence {
                h.push_str(&exchange(ex));
            }
        }
    }
}
