//! Precision on banks nobody here wrote (issue 19): an RFC 8936 transmitter and an OBIE bank,
//! each written from the specifications (`rfc_transmitter`, `obie_bank`) and profiled from the
//! README alone, run clean and with one defect at a time. Clean, nothing fails; each defect
//! fails exactly the rules it breaks, touches (fails or blocks) at most five scenarios, and
//! under `conformance = "rfc8936"` nothing is charged to a rule outside the RFCs.

use std::collections::BTreeSet;

use obevents::harness::profile::RFC_PREFIXES;
use obevents::harness::runner::{RunOutcome, Verdict};

use super::{obie_bank, rfc_transmitter};

/// Every rule the run failed: those of its failed scenarios and of its findings.
fn failed_rules(o: &RunOutcome) -> BTreeSet<String> {
    o.failed()
        .flat_map(|s| s.failed_rules.iter().cloned())
        .chain(o.findings.iter().flat_map(|f| f.rules.iter().cloned()))
        .collect()
}

/// One line per failed or blocked scenario and finding, for assertion messages.
pub(super) fn detail(o: &RunOutcome) -> String {
    let mut out = String::new();
    for s in o.failed().chain(o.blocked()) {
        out.push_str(&format!(
            "  {:?} {} [{}] on {:?}: {}\n",
            s.verdict,
            s.name,
            s.rules.join(" "),
            s.failed_rules,
            s.reason
                .as_deref()
                .unwrap_or("")
                .lines()
                .next()
                .unwrap_or("")
        ));
    }
    for f in &o.findings {
        out.push_str(&format!(
            "  finding {:?} {} ×{} in {} scenario(s): {}\n",
            f.rules,
            f.key.endpoint,
            f.occurrences,
            f.scenarios.len(),
            f.message.lines().next().unwrap_or("")
        ));
    }
    out
}

/// What one run shows about one planted defect: how many scenarios it touched, how many of the
/// failed ones are charged only to the rules it breaks, and whether the failed rules are
/// exactly those.
struct Precision {
    failed: usize,
    blocked: usize,
    on_the_right_rule: usize,
    rules: BTreeSet<String>,
}

fn precision(o: &RunOutcome, breaks: &[&str]) -> Precision {
    let right = |r: &String| breaks.contains(&r.as_str());
    Precision {
        failed: o.count(Verdict::Failed),
        blocked: o.count(Verdict::Blocked),
        on_the_right_rule: o
            .failed()
            .filter(|s| !s.failed_rules.is_empty() && s.failed_rules.iter().all(right))
            .count(),
        rules: failed_rules(o),
    }
}

/// Asserts a clean run, and a run with each defect failing exactly `breaks` within five
/// scenarios and reported as at most one finding; prints the precision table.
fn judge<D: std::fmt::Debug>(bank: &str, runs: &[(Option<D>, &[&str], RunOutcome)]) {
    let mut table = format!(
        "{bank}: defect | passed | n/a | failed | blocked | on the right rule | failed rules\n"
    );
    let (mut failed, mut right, mut rules, mut right_rules) = (0, 0, 0, 0);
    for (defect, breaks, o) in runs {
        let p = precision(o, breaks);
        table.push_str(&format!(
            "  {defect:?} | {} | {} | {} | {} | {}/{} | {:?}\n{}",
            o.count(Verdict::Passed),
            o.count(Verdict::NotApplicable),
            p.failed,
            p.blocked,
            p.on_the_right_rule,
            p.failed,
            p.rules,
            detail(o)
        ));
        failed += p.failed;
        right += p.on_the_right_rule;
        rules += p.rules.len();
        right_rules += p
            .rules
            .iter()
            .filter(|r| breaks.contains(&r.as_str()))
            .count();
    }
    table.push_str(&format!(
        "  failed scenarios on the right rule: {right}/{failed}; failed rules that are right: {right_rules}/{rules}\n"
    ));
    println!("{table}");
    for (defect, breaks, o) in runs {
        let p = precision(o, breaks);
        let want: BTreeSet<String> = breaks.iter().map(|r| r.to_string()).collect();
        match defect {
            None => {
                assert!(
                    p.rules.is_empty() && p.blocked == 0 && o.exit_code() == 0,
                    "{bank} clean:\n{}",
                    detail(o)
                );
                assert!(o.count(Verdict::Passed) >= 20, "{bank} clean: too few ran");
            }
            Some(d) => {
                assert_eq!(p.rules, want, "{bank} {d:?}:\n{}", detail(o));
                assert!(
                    p.failed + p.blocked <= 5,
                    "{bank} {d:?} touches {} scenarios:\n{}",
                    p.failed + p.blocked,
                    detail(o)
                );
                assert_eq!(
                    p.on_the_right_rule,
                    p.failed,
                    "{bank} {d:?}:\n{}",
                    detail(o)
                );
                // One defect, seen on one endpoint however often: at most one finding.
                assert!(o.findings.len() <= 1, "{bank} {d:?}:\n{}", detail(o));
            }
        }
    }
}

/// The RFC 8936 transmitter: judged by RFC rules alone; the habits the RFCs allow (its own
/// event type, `typ` `secevent+jwt`, ignoring `setErrs`, static tokens, no subscription API)
/// fail nothing; each habit they forbid fails exactly its rule (issue 19 §1, §6).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_independent_rfc8936_transmitter_fails_only_the_rfc_rules_its_habits_break() {
    use rfc_transmitter::Deviation::*;
    let cases: [(Option<rfc_transmitter::Deviation>, &[&str]); 6] = [
        (None, &[]),
        (Some(IgnoresSetErrs), &[]),
        // Acks never applied: R8936-11; R8936-24 (applied before the batch) is blocked.
        (Some(AcksSpelling), &["R8936-11"]),
        (Some(TypJwt), &["R8417-14"]),
        (Some(InvalidToken404), &["R8936-28"]),
        (Some(NoLongPolling), &["R8936-08"]),
    ];
    let outcomes =
        futures::future::join_all(cases.iter().map(|(d, _)| rfc_transmitter::run(*d))).await;
    let runs: Vec<_> = cases
        .iter()
        .zip(outcomes)
        .map(|((d, b), o)| (*d, *b, o))
        .collect();
    for (d, _, o) in &runs {
        let outside: Vec<String> = failed_rules(o)
            .into_iter()
            .filter(|r| !RFC_PREFIXES.iter().any(|p| r.starts_with(p)))
            .collect();
        assert!(
            outside.is_empty(),
            "{d:?}: non-RFC rules {outside:?}\n{}",
            detail(o)
        );
    }
    // The long-poll MUST and the isolation scenarios apply whatever the profile declares.
    let clean = &runs[0].2;
    let ran = |name: &str| {
        clean
            .scenarios
            .iter()
            .any(|s| s.name == name && s.verdict == Verdict::Passed)
    };
    assert!(ran("An absent returnImmediately means a long poll"));
    assert!(ran("One TPP's SETs never appear in another TPP's poll"));
    assert!(ran("Acknowledging another TPP's jti does not release it"));
    let honest = &runs[5].2;
    assert!(
        honest.scenarios.iter().any(
            |s| s.name == "An absent returnImmediately means a long poll"
                && s.verdict == Verdict::Failed
        ),
        "declaring long_polling = \"immediate\" does not exempt it from R8936-08"
    );
    judge("RFC 8936 transmitter", &runs);
}

/// The OBIE bank: clean it passes every applicable scenario; each state-level defect fails
/// exactly its rules within five scenarios (issue 19 §2–§4, §6).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_independent_obie_bank_fails_each_state_defect_under_its_rule_within_five_scenarios() {
    use obie_bank::Defect::*;
    let cases: [(Option<obie_bank::Defect>, &[&str]); 6] = [
        (None, &[]),
        (Some(KeyNotJti), &["AP-13"]),
        (Some(EmptyQueue404), &["AP-06", "R8936-16"]),
        (Some(ListAsObject), &["ES-08"]),
        (Some(ResurrectedAcks), &["AP-09", "R8936-11"]),
        (Some(OtherTppsAck), &["AP-11", "AP-17"]),
    ];
    let outcomes = futures::future::join_all(cases.iter().map(|(d, _)| obie_bank::run(*d))).await;
    let runs: Vec<_> = cases
        .iter()
        .zip(outcomes)
        .map(|((d, b), o)| (*d, *b, o))
        .collect();
    judge("OBIE bank", &runs);
}

/// `conformance = "rfc8936"` reaches no rule outside the RFCs (issue 19 §1): every scenario
/// that can run at that level (every capability granted) is judged on RFC rules only, its
/// primary rule among them; and every failure and finding the checks reach there — the suite
/// run against the sandbox with each of its polling, SET, isolation and common faults under an
/// RFC profile — names RFC rules only, and no check of another rule set blocks a scenario.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc8936_mode_reaches_no_rule_outside_the_rfcs() {
    use futures::StreamExt;
    use obevents::harness::features::{CAPABILITIES, embedded};
    use obevents::harness::plan::plan;
    use obevents::harness::profile::Conformance;
    use obevents::sandbox::faults::Area;
    use obevents::sandbox::{Bank, Fault, Sandbox};

    let rfc = |r: &String| RFC_PREFIXES.iter().any(|p| r.starts_with(p));
    let every: std::collections::HashSet<String> =
        CAPABILITIES.iter().map(|(c, _)| c.to_string()).collect();
    let planned = plan(&embedded().unwrap(), Conformance::Rfc8936, &every, None);
    let walked: Vec<_> = planned.iter().filter(|p| p.run).collect();
    assert!(walked.len() >= 30, "{} scenarios", walked.len());
    for p in &walked {
        let r = &p.record;
        assert!(
            r.rules.iter().all(rfc) && r.primary.as_ref().is_some_and(rfc),
            "{}: judged on {:?}, primary {:?}",
            r.name,
            r.rules,
            r.primary
        );
    }

    let faults: Vec<Fault> = Fault::ALL
        .iter()
        .copied()
        .filter(|f| {
            matches!(
                f.area(),
                Area::Polling | Area::Sets | Area::Isolation | Area::Common
            )
        })
        .collect();
    let outcomes: Vec<(Fault, RunOutcome)> = futures::stream::iter(faults)
        .map(|f| async move {
            let cfg = super::sandbox_config(Bank::Obie, &[f]);
            let sandbox = Sandbox::start(cfg.clone(), ":memory:", "127.0.0.1:0".parse().unwrap())
                .await
                .expect("sandbox starts");
            let profile =
                super::profiles::rfc8936_profile(&sandbox.url(), cfg.max_events_cap, true).await;
            let o = super::run_with(profile, None).await;
            sandbox.stop().await;
            (f, o)
        })
        .buffer_unordered(4)
        .collect()
        .await;
    // Printed before asserting: concurrent runs can leave cucumber's panic hook in place,
    // which swallows an assertion's message.
    let mut wrong = Vec::new();
    for (f, o) in &outcomes {
        let outside: Vec<String> = failed_rules(o).into_iter().filter(|r| !rfc(r)).collect();
        let foreign = o.blocked().any(|s| {
            s.reason
                .as_deref()
                .is_some_and(|r| r.contains("does not judge"))
        });
        if !outside.is_empty() || foreign {
            wrong.push(format!("{f}: non-RFC rules {outside:?}\n{}", detail(o)));
        }
    }
    eprintln!("{}", wrong.join("\n"));
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
