use super::*;
use crate::harness::client::Exchange;
use crate::harness::defects::DefectKey;
use crate::harness::outcome::{Finding, ReceivedRequest, ReceiverLog};

/// Hostile text a bank could put in any field: it closes the `<pre>`, opens a script, and
/// breaks out of an attribute.
const HOSTILE: &str = "</pre><script>alert(1)</script>";
const QUOTED: &str = "x\" onmouseover=\"alert(2)";

fn exchange(method: &str, url: &str, status: Option<u16>) -> Exchange {
    Exchange {
        method: method.into(),
        url: url.into(),
        request_headers: vec![
            ("authorization".into(), "Bearer ***".into()),
            ("x-note".into(), QUOTED.into()),
        ],
        request_body: Some("{\"client_secret\":\"***\",\"a\":1}".into()),
        status,
        response_headers: vec![("x-bank".into(), QUOTED.into())],
        response_body: format!("{{\"access_token\":\"s3cr3t\",\"note\":\"{HOSTILE}\"}}"),
        error: status.is_none().then(|| format!("reset by {HOSTILE}")),
        elapsed_ms: 12,
        decoded_sets: vec![
            serde_json::json!({"header": {"alg": "PS256"}, "claims": {"jti": HOSTILE}}),
        ],
        started: None,
        finished: None,
    }
}

fn record(name: &str, rule: &str, verdict: Verdict) -> ScenarioRecord {
    ScenarioRecord {
        feature: "f".into(),
        path: "features/f.feature".into(),
        name: name.into(),
        line: 3,
        tags: Vec::new(),
        rules: vec![rule.into()],
        primary: Some(rule.into()),
        verdict,
        failed_rules: Vec::new(),
        reason: None,
        failed_step: None,
        duration_ms: 7,
        evidence: Vec::new(),
        unfold: Vec::new(),
        receiver: Vec::new(),
    }
}

fn received(arrived: &str, after: Option<u128>, answered: &str) -> ReceivedRequest {
    ReceivedRequest {
        arrived: arrived.into(),
        after_previous_ms: after,
        method: "POST".into(),
        path: format!("/cb/{HOSTILE}"),
        answered: answered.into(),
        headers: vec![
            ("content-type".into(), "application/jwt".into()),
            ("x-sig".into(), QUOTED.into()),
        ],
        body: HOSTILE.into(),
    }
}

/// A run with every verdict, a push failure with what the receiver got, a blocked scenario,
/// and a finding, hostile text in every field a bank fills.
fn outcome() -> RunOutcome {
    let mut push = record(&format!("push {HOSTILE}"), "R-08", Verdict::Failed);
    push.failed_rules = vec!["R-08".into()];
    push.reason = Some(format!("R-08: no retry after 503\n{HOSTILE}"));
    push.failed_step = Some(format!("Then the bank retries {QUOTED}"));
    push.evidence = vec![
        exchange("POST", "https://bank/event-subscriptions", Some(201)),
        exchange("POST", &format!("https://bank/{HOSTILE}"), None),
        exchange("GET", "https://bank/events?a=1&b=2", Some(200)),
    ];
    push.unfold = vec![1];
    push.receiver = vec![ReceiverLog {
        mailbox: "A".into(),
        url: format!("https://127.0.0.1/cb/{QUOTED}"),
        requests: vec![
            received("2026-12-05T09:00:00.000Z", None, "503"),
            received("2026-12-05T09:00:00.250Z", Some(250), "held"),
        ],
    }];
    let mut should = record("a SHOULD", "JWD-07", Verdict::Failed);
    should.failed_rules = vec!["JWD-07".into()];
    should.reason = Some("JWD-07: what went wrong".into());
    should.evidence = vec![exchange("GET", "https://bank/a", Some(200))];
    let mut blocked = record("blocked", "AP-09", Verdict::Blocked);
    blocked.reason = Some(format!("no token: {HOSTILE}"));
    let mut na = record("n/a", "R-02", Verdict::NotApplicable);
    na.reason = Some(format!("profile lacks {QUOTED}"));
    let passed = record("passes", "AP-09", Verdict::Passed);
    let not_run = record("not run", "R-02", Verdict::NotRun);
    let label = |s: &ScenarioRecord| format!("{}:{} {}", s.path, s.line, s.name);
    let finding = Finding {
        key: DefectKey {
            kind: "set-header:crit".into(),
            endpoint: "GET /events".into(),
        },
        rules: vec!["JWD-07".into(), "R-02".into()],
        message: format!("JWD-07: crit present {HOSTILE}"),
        occurrences: 3,
        scenarios: vec![label(&passed), label(&na)],
        evidence: Some(exchange("GET", "https://bank/events", Some(200))),
    };
    RunOutcome {
        profile_name: format!("bank {HOSTILE}"),
        target: format!("https://bank/{QUOTED}"),
        scenarios: vec![passed, push, should, blocked, na, not_run],
        findings: vec![finding],
        duration: std::time::Duration::from_millis(1234),
    }
}

fn failed(rule: &str) -> ScenarioRecord {
    let mut s = record("a scenario", rule, Verdict::Failed);
    s.failed_rules = vec![rule.into()];
    s.reason = Some(format!("{rule}: what went wrong"));
    s.failed_step = Some("Then something".into());
    s
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
    assert!(
        html.contains(
            "<tr id=\"rule-JWD-07\"><td>JWD-07</td><td class=\"fail\">FAIL (SHOULD)</td>"
        )
    );
    assert!(html.contains("<tr id=\"rule-R-08\"><td>R-08</td><td class=\"fail\">FAIL</td>"));
    assert!(html.contains(
        "<a href=\"#rule-JWD-07\">JWD-07</a> <span class=\"lvl\">(SHOULD)</span>: what went wrong</li>"
    ));
}

/// Whatever a bank puts in a body, a header, a URL, a step or a message comes out as text: no
/// element or attribute of its own, every `<pre>` closed where the report closes it, the text
/// itself still there to read, and secrets in bodies masked.
#[test]
fn values_from_a_bank_are_escaped() {
    let catalogue = Catalogue::embedded().unwrap();
    let html = render(&outcome(), &catalogue);
    assert!(!html.contains("<script"), "no script element gets in");
    assert!(!html.contains("onmouseover=\""), "no attribute gets in");
    assert_eq!(
        html.matches("<pre>").count(),
        html.matches("</pre>").count(),
        "every <pre> is the report's own"
    );
    for escaped in [
        // A response body and a decoded SET claim, inside their <pre>.
        "&#34;note&#34;: &#34;&#60;/pre&#62;&#60;script&#62;alert(1)&#60;/script&#62;&#34;",
        "&#34;jti&#34;: &#34;&#60;/pre&#62;&#60;script&#62;alert(1)&#60;/script&#62;&#34;",
        // Header values with quotes, sent, answered and as the receiver saw them.
        "x-note: x&#34; onmouseover=&#34;alert(2)",
        "x-bank: x&#34; onmouseover=&#34;alert(2)",
        "x-sig: x&#34; onmouseover=&#34;alert(2)",
        // The receiver's URL in an attribute, its path, a transport error, a URL.
        "title=\"https://127.0.0.1/cb/x&#34; onmouseover=&#34;alert(2)\"",
        "<code>POST /cb/&#60;/pre&#62;&#60;script&#62;alert(1)&#60;/script&#62;</code>",
        "transport error: reset by &#60;/pre&#62;&#60;script&#62;alert(1)&#60;/script&#62;",
        "<code>POST https://bank/&#60;/pre&#62;&#60;script&#62;alert(1)&#60;/script&#62;</code>",
        "<code>GET https://bank/events?a=1&#38;b=2</code>",
        // The profile, the target, a scenario name, a step, a finding.
        "<b>bank &#60;/pre&#62;&#60;script&#62;alert(1)&#60;/script&#62;</b>",
        "<code>https://bank/x&#34; onmouseover=&#34;alert(2)</code>",
        "push &#60;/pre&#62;&#60;script&#62;alert(1)&#60;/script&#62; <small>",
        "<p>Step: <code>Then the bank retries x&#34; onmouseover=&#34;alert(2)</code></p>",
        "<pre>JWD-07: crit present &#60;/pre&#62;&#60;script&#62;alert(1)&#60;/script&#62;</pre>",
    ] {
        assert!(html.contains(escaped), "{escaped:?} not in the report");
    }
    assert!(!html.contains("s3cr3t"), "a token in a body is masked");
    assert!(html.contains("&#34;access_token&#34;: &#34;***&#34;"));
}

/// The report keeps its shape: the index before the failures, a blocked scenario's step, the
/// receiver's rows with their delay, the unfolded exchange the check looked at, findings with
/// where they were seen, and every scenario linked from its rules' rows.
#[test]
fn the_report_links_index_evidence_and_rule_table() {
    let catalogue = Catalogue::embedded().unwrap();
    let html = render(&outcome(), &catalogue);
    let at = |needle: &str| {
        html.find(needle)
            .unwrap_or_else(|| panic!("{needle:?} missing"))
    };
    assert!(at("id=\"index\"") < at("id=\"failed\""));
    assert!(at("id=\"failed\"") < at("id=\"findings\""));
    assert!(at("id=\"findings\"") < at("id=\"rules\""));
    for expected in [
        "<span class=\"pass\">1 passed</span><a href=\"#failed\" class=\"fail\">2 failed</a>",
        "<a href=\"#failed\" class=\"blocked\">1 blocked</a>",
        "<span class=\"na\">1 not run</span> <a href=\"#findings\">1 finding(s)</a>",
        "— <a href=\"#rule-R-08\">R-08</a> <span class=\"lvl\">(MUST)</span>: no retry after 503</li>",
        "<a href=\"#s3\">blocked</a> — not tested, at <code>?</code>: no token:",
        "<li><a href=\"#findings\" class=\"fail\">finding</a> <a href=\"#rule-JWD-07\">JWD-07</a> <span class=\"lvl\">(SHOULD)</span>, <a href=\"#rule-R-02\">R-02</a>",
        "<p>Rules: <b><a href=\"#rule-R-08\">R-08</a></b>; failed check of <b><a href=\"#rule-R-08\">R-08</a></b></p>",
        "<p>Rules: <b><a href=\"#rule-AP-09\">AP-09</a></b> — not tested: a precondition could not be met</p>",
        "<div class=\"rule\"><p><a href=\"#rule-R-08\">R-08</a> <b>MUST</b>: ",
        "<td>1</td><td>2026-12-05T09:00:00.000Z</td><td>—</td>",
        "<td>2</td><td>2026-12-05T09:00:00.250Z</td><td>+250 ms</td>",
        "<td>held</td><td><details><summary>2 headers, 31 bytes</summary>",
        "<p>Seen in 2 scenario(s): features/f.feature:3 passes; features/f.feature:3 n/a</p>",
        "<tr id=\"r1\"><td class=\"fail\">FAIL</td><td>features/f.feature:3</td>",
        "<td><a href=\"#s1\">R-08: no retry after 503</a></td><td>7 ms</td></tr>",
        "<td>profile lacks x&#34; onmouseover=&#34;alert(2)</td>",
        "<tr id=\"rule-AP-09\"><td>AP-09</td><td class=\"pass\">pass</td>",
        "<a href=\"#r0\">3</a> <a href=\"#r3\">3</a></td></tr>",
    ] {
        assert!(html.contains(expected), "{expected:?} not in the report");
    }
    // The push failure unfolds the exchange its check looked at (index 1), not the last one.
    let failure = &html[at("id=\"s1\"")..at("id=\"s2\"")];
    let opened: Vec<&str> = failure
        .split("<details open><summary><code>")
        .skip(1)
        .map(|rest| rest.split("</code>").next().unwrap_or(""))
        .collect();
    assert_eq!(
        opened,
        ["POST https://bank/&#60;/pre&#62;&#60;script&#62;alert(1)&#60;/script&#62;"]
    );
    assert!(failure.contains("→ no answer (12 ms)"));
}
