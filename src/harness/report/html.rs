//! The self-contained HTML report a bank can hand to an auditor: a summary whose counts link to
//! the failed and blocked scenarios, an index of what to fix, the findings of the checks run on
//! every answer (each once, with the scenarios where seen), the catalogue's rules with their
//! level and verdict (and the rules no scenario covers yet), every scenario, and for each failed
//! or blocked scenario the text and source of the rules it failed, what the harness's callback
//! receiver got (arrival, delay, answer, headers, body), and the requests, responses and decoded
//! SETs as evidence (credentials masked when they were recorded). Rule ids link to the rule
//! table.

use html_escape::encode_text as esc;

use super::{RuleVerdict, catalogue_verdicts};
use crate::harness::catalogue::Catalogue;
use crate::harness::client::{Exchange, mask_body};
use crate::harness::outcome::{ReceiverLog, RunOutcome, ScenarioRecord, Verdict};

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0;width:100%}td,th{border:1px solid #ccc;padding:4px 6px;vertical-align:top;text-align:left;font-size:14px}
th{background:#f2f2f2}.pass{color:#176f2c;font-weight:600}.fail{color:#b00020;font-weight:700}.blocked{color:#8a4b00;font-weight:700}.na{color:#777}.none{color:#a66b00}
pre{background:#f7f7f7;padding:8px;overflow-x:auto;font-size:12px;white-space:pre-wrap;word-break:break-all}
details{margin:.3em 0}.summary span{margin-right:2em;font-size:18px}code{font-size:13px}
.rule{border-left:4px solid #b00020;padding:2px 10px;margin:.5em 0;background:#fdf6f6}.lvl{font-size:12px;color:#555}";

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

/// A rule id as a link to its row of the rule table.
fn rule_link(id: &str) -> String {
    format!("<a href=\"#rule-{0}\">{0}</a>", esc(id))
}

fn rule_links(ids: &[String]) -> String {
    ids.iter()
        .map(|i| rule_link(i))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A rule id linked, with its level (`R-08 (MUST)`).
fn rule_with_level(id: &str, catalogue: &Catalogue) -> String {
    match catalogue.get(id) {
        Some(r) => format!(
            "{} <span class=\"lvl\">({})</span>",
            rule_link(id),
            esc(&r.level)
        ),
        None => rule_link(id),
    }
}

/// Whether a failed check of a rule at `level` is a recommendation or an option rather than a
/// requirement: the rule table says so beside FAIL.
fn advisory(level: &str) -> bool {
    matches!(level, "SHOULD" | "SHOULD NOT" | "MAY")
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
        rule_links(&s.rules),
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
    index(&mut h, outcome, catalogue);
    failures(&mut h, outcome, catalogue);
    findings(&mut h, outcome);

    h.push_str("<h2 id=\"rules\">Rules</h2><p>Every rule of the catalogue, the verdict of the scenarios tagged with it, and the rules no scenario checks yet. A failed check of a SHOULD or MAY rule is marked with its level: the bank departs from a recommendation (or does not do what it said it does of an option), not from a requirement.</p>");
    h.push_str("<table><tr><th>rule</th><th>verdict</th><th>level</th><th>area</th><th>summary</th><th>source</th><th>scenarios</th></tr>");
    for (id, verdict, idx) in catalogue_verdicts(outcome, catalogue) {
        let rule = catalogue.get(&id);
        let scenarios: Vec<String> = idx
            .iter()
            .map(|i| format!("<a href=\"#r{i}\">{}</a>", outcome.scenarios[*i].line))
            .collect();
        let label = match (verdict, rule) {
            (RuleVerdict::NoScenario, Some(r)) if !r.testable => {
                "not testable on the wire".to_string()
            }
            (RuleVerdict::Failed, Some(r)) if advisory(&r.level) => format!("FAIL ({})", r.level),
            _ => verdict.label().to_string(),
        };
        h.push_str(&format!(
            "<tr id=\"rule-{0}\"><td>{0}</td><td class=\"{1}\">{2}</td><td>{3}</td><td>{4}</td><td>{5}</td><td>{6}</td><td>{7}</td></tr>",
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

/// What to fix, at the top: every failed and blocked scenario in one line (its rules with their
/// level, the cause) linked to its evidence, and every finding.
fn index(h: &mut String, outcome: &RunOutcome, catalogue: &Catalogue) {
    let bad: Vec<(usize, &ScenarioRecord)> = outcome
        .scenarios
        .iter()
        .enumerate()
        .filter(|(_, s)| matches!(s.verdict, Verdict::Failed | Verdict::Blocked))
        .collect();
    if bad.is_empty() && outcome.findings.is_empty() {
        return;
    }
    h.push_str("<h2 id=\"index\">What to fix</h2><ol>");
    for (i, s) in bad {
        let (class, label) = verdict_class(s.verdict);
        let rules = if s.verdict == Verdict::Failed {
            s.failed_rules
                .iter()
                .map(|r| rule_with_level(r, catalogue))
                .collect::<Vec<_>>()
                .join(", ")
        } else {
            format!(
                "not tested, at <code>{}</code>",
                esc(s.failed_step.as_deref().unwrap_or("?"))
            )
        };
        h.push_str(&format!(
            "<li><span class=\"{class}\">{label}</span> <a href=\"#s{i}\">{}</a> — {rules}: {}</li>",
            esc(&s.name),
            esc(&cause(s.reason.as_deref().unwrap_or("")))
        ));
    }
    for f in &outcome.findings {
        let rules: Vec<String> = f
            .rules
            .iter()
            .map(|r| rule_with_level(r, catalogue))
            .collect();
        h.push_str(&format!(
            "<li><a href=\"#findings\" class=\"fail\">finding</a> {}: {}</li>",
            rules.join(", "),
            esc(&cause(&f.message))
        ));
    }
    h.push_str("</ol>");
}

/// A failure's headline without the rule ids it starts with (the index shows them, linked).
fn cause(reason: &str) -> String {
    let line = super::headline(reason);
    match line.split_once(": ") {
        Some((head, rest))
            if !crate::harness::outcome::rules_in(&line).is_empty()
                && head
                    .split('/')
                    .all(|id| crate::harness::features::is_rule_id(id.trim())) =>
        {
            rest.to_string()
        }
        _ => line,
    }
}

/// The text and source of each rule a failed scenario failed, next to its evidence.
fn rule_texts(h: &mut String, s: &ScenarioRecord, catalogue: &Catalogue) {
    for id in &s.failed_rules {
        let Some(r) = catalogue.get(id) else {
            continue;
        };
        h.push_str(&format!(
            "<div class=\"rule\"><p>{} <b>{}</b>: {}<br><small>Source: {}</small></p></div>",
            rule_link(id),
            esc(&r.level),
            esc(&r.summary),
            esc(&r.source)
        ));
    }
}

/// What the harness's callback receiver got in a scenario, per mailbox, as it saw it.
fn receiver_table(h: &mut String, logs: &[ReceiverLog]) {
    if logs.is_empty() {
        return;
    }
    h.push_str("<p>What the harness's callback receiver got, in the order it arrived (the delay is from the request before it at the same receiver):</p>");
    h.push_str("<table><tr><th>receiver</th><th>#</th><th>arrived (UTC)</th><th>after previous</th><th>request</th><th>answered</th><th>headers and body</th></tr>");
    for log in logs {
        for (n, r) in log.requests.iter().enumerate() {
            let mut raw = String::new();
            for (k, v) in &r.headers {
                raw.push_str(&format!("{k}: {v}\n"));
            }
            raw.push('\n');
            raw.push_str(&pretty(&r.body));
            h.push_str(&format!(
                "<tr><td title=\"{}\">{}</td><td>{}</td><td>{}</td><td>{}</td><td><code>{} {}</code></td><td>{}</td><td><details><summary>{} headers, {} bytes</summary><pre>{}</pre></details></td></tr>",
                esc(&log.url),
                esc(&log.mailbox),
                n + 1,
                esc(&r.arrived),
                r.after_previous_ms
                    .map(|ms| format!("+{ms} ms"))
                    .unwrap_or_else(|| "—".into()),
                esc(&r.method),
                esc(&r.path),
                esc(&r.answered),
                r.headers.len(),
                r.body.len(),
                esc(&raw)
            ));
        }
    }
    h.push_str("</table>");
}

/// The failed and blocked scenarios first, each with the step whose check failed (or that could
/// not be completed), the cause, the text of the rules it failed, what the receiver got and
/// every exchange; those the failed check looked at are unfolded (the last one when the run
/// could not tell).
fn failures(h: &mut String, outcome: &RunOutcome, catalogue: &Catalogue) {
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
        h.push_str(&format!("<p>Rules: <b>{}</b>", rule_links(&s.rules)));
        if s.verdict == Verdict::Failed {
            h.push_str(&format!(
                "; failed check of <b>{}</b>",
                rule_links(&s.failed_rules)
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
        rule_texts(h, s, catalogue);
        receiver_table(h, &s.receiver);
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
        h.push_str(&format!("<h3 class=\"fail\">{}</h3>", rule_link(&rule)));
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

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(rule: &str) -> ScenarioRecord {
        ScenarioRecord {
            feature: "f".into(),
            path: "features/f.feature".into(),
            name: "a scenario".into(),
            line: 3,
            tags: Vec::new(),
            rules: vec![rule.into()],
            primary: Some(rule.into()),
            verdict: Verdict::Failed,
            failed_rules: vec![rule.into()],
            reason: Some(format!("{rule}: what went wrong")),
            failed_step: Some("Then something".into()),
            duration_ms: 1,
            evidence: Vec::new(),
            unfold: Vec::new(),
            receiver: Vec::new(),
        }
    }

    /// A failed SHOULD is reported under its level; the index names the rule (linked, with its
    /// level) and the cause without repeating the rule id.
    #[test]
    fn failures_are_indexed_and_reported_under_their_level() {
        let catalogue = Catalogue::embedded().unwrap();
        let outcome = RunOutcome {
            profile_name: "p".into(),
            target: "t".into(),
            scenarios: vec![failed("JWD-07"), failed("R-08")],
            findings: Vec::new(),
            duration: std::time::Duration::ZERO,
        };
        let html = render(&outcome, &catalogue);
        assert!(html.contains(
            "<tr id=\"rule-JWD-07\"><td>JWD-07</td><td class=\"fail\">FAIL (SHOULD)</td>"
        ));
        assert!(html.contains("<tr id=\"rule-R-08\"><td>R-08</td><td class=\"fail\">FAIL</td>"));
        assert!(html.contains(
            "<a href=\"#rule-JWD-07\">JWD-07</a> <span class=\"lvl\">(SHOULD)</span>: what went wrong</li>"
        ));
    }
}
