//! Integration tests of the conformance harness (`obevents test`), run against sandboxes started
//! in-process on 127.0.0.1 port 0:
//!
//! - the embedded suite passes against every personality with its built-in profile, and with
//!   the example profiles of `fixtures/profiles/`;
//! - the strict `obie` profile fails exactly the scenarios of each personality's documented
//!   deviations;
//! - every sandbox fault is caught by a failing scenario tagged with a rule the fault violates
//!   (the detection table and `faults detected: N/N` are printed);
//! - the command line: the main job writes its reports, bad input exits 2;
//! - `profiles`: an RFC 8936 transmitter with static tokens and no JWKS, a bank without polling;
//! - `push_bank`, `yapily_bank`, `tatra_bank`: independent push, Yapily-style and Tatra-style
//!   banks written from the rule texts, clean and with one defect at a time;
//! - `independent` with `rfc_transmitter` and `obie_bank` (its subscription API in
//!   `obie_bank_subscriptions`): an RFC 8936 transmitter and an OBIE bank written from the
//!   specifications, clean and with one deviation or defect at a time: each fails exactly the
//!   rules it breaks within five scenarios, and `rfc8936` reaches no rule outside the RFCs;
//! - `verdicts`: one defect fails only the scenarios of its rules; a bank that ignores `ack`
//!   fails AP-09 once without blocking the run.
// Tests assert with unwrap/expect: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use futures::StreamExt;
use obevents::harness::profile::Profile;
use obevents::harness::runner::{self, FeatureSource, Progress, RunOptions, RunOutcome, Verdict};
use obevents::sandbox::config::PushConfig;
use obevents::sandbox::embedded::declaration;
use obevents::sandbox::faults::Area;
use obevents::sandbox::{Bank, Fault, Faults, Personality, Sandbox, SandboxConfig};

#[path = "harness/bank_kit.rs"]
mod bank_kit;
#[path = "harness/bench_profile.rs"]
mod bench_profile;
#[path = "harness/independent.rs"]
mod independent;
#[path = "harness/obie_bank.rs"]
mod obie_bank;
#[path = "harness/profiles.rs"]
mod profiles;
#[path = "harness/push_bank.rs"]
mod push_bank;
#[path = "harness/rfc_transmitter.rs"]
mod rfc_transmitter;
#[path = "harness/tatra_bank.rs"]
mod tatra_bank;
#[path = "harness/verdicts.rs"]
mod verdicts;
#[path = "harness/yapily_bank.rs"]
mod yapily_bank;

/// Long-poll hold of the test sandboxes: long enough to tell a hold from an immediate answer.
const LONG_POLL: Duration = Duration::from_millis(600);

fn sandbox_config(bank: Bank, faults: &[Fault]) -> SandboxConfig {
    let mut cfg = SandboxConfig::for_bank(bank);
    cfg.long_poll_timeout = LONG_POLL;
    cfg.faults = Faults::new(faults.iter().copied());
    cfg.push = PushConfig::quick();
    // The faults about retries already scheduled show only if a retry is still pending when
    // the harness's DELETE lands, a step or two after the first attempt arrived: under load
    // that can take longer than the quick schedule's 900 ms, so their bank waits longer
    // before its last retry (and its profile declares so).
    if faults
        .iter()
        .any(|f| matches!(f, Fault::PushAfterDelete | Fault::YapilyAfterDelete))
    {
        cfg.push.retry_schedule = vec![Duration::from_millis(300), Duration::from_millis(2_000)];
    }
    cfg
}

async fn run_with(profile: Profile, concurrency: Option<usize>) -> RunOutcome {
    run_tags(profile, None, concurrency).await
}

/// Runs the embedded scenarios selected by `tags` (all: `None`) with `profile`.
async fn run_tags(profile: Profile, tags: Option<&str>, concurrency: Option<usize>) -> RunOutcome {
    let opts = RunOptions {
        profile,
        features: FeatureSource::Embedded,
        tags: tags.map(String::from),
        concurrency,
        fail_fast: false,
        progress: Progress::Quiet,
        tpp: None,
        shard: None,
    };
    tokio::time::timeout(Duration::from_secs(120), runner::run(opts, None))
        .await
        .expect("the run finished within 120 s")
        .expect("the run started")
}

/// Runs the suite against a fresh in-process sandbox of `bank` with `faults`, using `profile`
/// (built from the sandbox's URL) or the sandbox's own built-in profile.
async fn run_sandbox(bank: Bank, faults: &[Fault], profile_bank: Option<Bank>) -> RunOutcome {
    let cfg = sandbox_config(bank, faults);
    let sandbox = Sandbox::start(cfg.clone(), ":memory:", "127.0.0.1:0".parse().unwrap())
        .await
        .expect("sandbox starts");
    // The profile declares what `profile_bank` documents, whatever the sandbox really is, and
    // the sandbox's own push policy.
    let mut documented = sandbox_config(profile_bank.unwrap_or(bank), &[]);
    documented.push = cfg.push.clone();
    let declared = declaration(&documented);
    let profile = Profile::for_sandbox(&sandbox.url(), &declared).expect("built-in profile");
    let outcome = run_with(profile, None).await;
    sandbox.stop().await;
    outcome
}

/// Runs the scenarios of dialect `bank` (`yapily` or `tatra`) against a fresh sandbox of that
/// personality with `faults`, judged with the dialect's built-in profile.
async fn run_dialect(bank: Bank, faults: &[Fault]) -> RunOutcome {
    let cfg = sandbox_config(bank, faults);
    let sandbox = Sandbox::start(cfg.clone(), ":memory:", "127.0.0.1:0".parse().unwrap())
        .await
        .expect("sandbox starts");
    let push = cfg.push.declaration();
    let profile = match bank {
        Bank::Tatra => Profile::for_tatra_sandbox(&sandbox.url(), &push),
        _ => Profile::for_yapily_sandbox(&sandbox.url(), &push),
    }
    .expect("built-in dialect profile");
    let tags = obevents::harness::main_job::dialect::tags(bank);
    let outcome = run_tags(profile, Some(tags), None).await;
    sandbox.stop().await;
    outcome
}

/// The clean yapily sandbox passes every Yapily-style scenario.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_yapily_dialect_passes_against_the_yapily_sandbox() {
    let o = run_dialect(Bank::Yapily, &[]).await;
    assert_clean(&o, "yapily");
    assert!(
        o.count(Verdict::Passed) >= 15,
        "{}",
        o.count(Verdict::Passed)
    );
}

/// The clean tatra sandbox passes every Tatra-style scenario, TB-04 included (its activation is
/// the seed's next full hour, hurried by the activate helper elsewhere).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tatra_dialect_passes_against_the_tatra_sandbox() {
    let o = run_dialect(Bank::Tatra, &[]).await;
    assert_clean(&o, "tatra");
    assert_eq!(
        o.count(Verdict::Passed),
        10,
        "every @tatra scenario applies to the tatra sandbox\n{}",
        describe_failures(&o)
    );
}

fn failed_names(o: &RunOutcome) -> BTreeSet<String> {
    o.failed().map(|s| s.name.clone()).collect()
}

/// Scenarios that failed or could not be tested because a precondition failed.
fn not_passed_names(o: &RunOutcome) -> BTreeSet<String> {
    o.failed()
        .chain(o.blocked())
        .map(|s| s.name.clone())
        .collect()
}

fn describe_failures(o: &RunOutcome) -> String {
    o.failed()
        .chain(o.blocked())
        .map(|s| {
            format!(
                "  {} [{}]: {}",
                s.name,
                s.rules.join(" "),
                s.reason.as_deref().unwrap_or("")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Nothing failed, nothing was blocked, no cross-cutting check found anything.
fn assert_clean(o: &RunOutcome, what: &str) {
    let findings: Vec<&str> = o.findings.iter().map(|f| f.message.as_str()).collect();
    assert!(
        o.count(Verdict::Failed) == 0 && o.count(Verdict::Blocked) == 0 && findings.is_empty(),
        "{what}:\n{}\nfindings: {findings:#?}",
        describe_failures(o)
    );
    assert_eq!(o.exit_code(), 0, "{what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn builtin_profile_passes_against_every_personality() {
    for bank in Bank::ALL {
        let o = run_sandbox(bank, &[], None).await;
        assert_clean(&o, &bank.to_string());
        assert!(
            o.count(Verdict::Passed) > 70,
            "{bank}: only {} passed",
            o.count(Verdict::Passed)
        );
        // Documented deviations make some scenarios not applicable, never passed.
        assert!(o.count(Verdict::NotApplicable) > 0, "{bank}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn example_profiles_pass_against_their_personality() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/profiles");
    let base =
        SandboxConfig::load(Some(&dir.join("sandbox.toml")), None, &[]).expect("sandbox.toml");
    for bank in Bank::ALL {
        let mut cfg = base.clone();
        cfg.personality = Personality::of(bank);
        let sandbox = Sandbox::start(cfg, ":memory:", "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let profile = Profile::load(&dir.join(format!("{bank}.toml")), Some(&sandbox.url()))
            .expect("example profile");
        let o = run_with(profile, None).await;
        sandbox.stop().await;
        assert_clean(&o, &bank.to_string());
    }
}

/// Scenarios that send `POST /events` with a valid token (directly, or to wait for or drain
/// events) — those a polling scope or status deviation must break.
fn polling_scenarios() -> BTreeSet<String> {
    let polling_step = |text: &str| {
        [
            "polls",
            "polled",
            "by polling",
            "acknowledges",
            "reports the",
            "happen",
            "POST \"/events\"",
        ]
        .iter()
        .any(|w| text.contains(w))
    };
    let mut out = BTreeSet::new();
    for f in obevents::harness::features::embedded().unwrap() {
        let background: Vec<String> = f
            .background
            .iter()
            .flat_map(|b| b.steps.iter().map(|s| s.value.clone()))
            .collect();
        for s in &f.scenarios {
            let steps: Vec<&String> = background
                .iter()
                .chain(s.steps.iter().map(|s| &s.value))
                .collect();
            // Polls refused before their token's scope is looked at (no token, a token without
            // any event scope, an unacceptable Accept) fail the same way on every bank.
            let tokenless = steps.iter().any(|t| {
                t.contains("no access token")
                    || t.contains("an invalid access token")
                    || t.contains("malformed Authorization")
                    || t.contains("without the required scope")
                    || t.contains("\"Accept\"")
            });
            if !tokenless && steps.iter().any(|t| polling_step(t)) {
                out.insert(s.name.clone());
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strict_obie_profile_fails_exactly_the_documented_deviations() {
    // wso2: no long polling; 5 SETs per poll without maxEvents.
    let wso2: BTreeSet<String> = [
        "Without maxEvents every awaiting SET up to the bank's cap is returned",
        "Without maxEvents a poll stops at the bank's cap and says more are available",
        "With nothing awaiting, a long poll is held until the bank's timeout, then answered empty",
        "An absent returnImmediately means a long poll",
        "A held long poll is answered promptly when an event arrives",
    ]
    .map(String::from)
    .into();
    // hsbc: maxEvents above 10 is a 400 (and 10 is its most per poll), returnImmediately false is
    // a 400 (so no long polling), an ack of a jti never issued is a 400.
    let hsbc: BTreeSet<String> = [
        "Without maxEvents every awaiting SET up to the bank's cap is returned",
        "Without maxEvents a poll stops at the bank's cap and says more are available",
        "maxEvents above the bank's cap is truncated to the cap with moreAvailable",
        "An ack naming a jti never issued is ignored",
        "With nothing awaiting, a long poll is held until the bank's timeout, then answered empty",
        "An absent returnImmediately means a long poll",
        "A held long poll is answered promptly when an event arrives",
        "A long poll with SETs already awaiting is answered at once",
        "An acknowledge-only long poll is answered at once",
    ]
    .map(String::from)
    .into();
    // ob312: POST /events needs scope eventpolling and answers 201, so every scenario that
    // polls fails or is blocked; and v3.1.2 itself: open request objects, no linked-account-update event
    // type, `b64:false` in message signatures.
    let mut ob312 = polling_scenarios();
    ob312.extend(
        [
            "The request object is closed: an unknown top-level member is refused",
            "The PUT request object is closed: an unknown top-level member is refused",
            "PUT replaces the subscription and answers the updated resource",
            "Subscription responses carry a valid detached signature",
        ]
        .map(String::from),
    );
    for (bank, expected) in [(Bank::Wso2, wso2), (Bank::Hsbc, hsbc), (Bank::Ob312, ob312)] {
        let o = run_sandbox(bank, &[], Some(Bank::Obie)).await;
        // A deviation in a precondition (ob312's polling scope) blocks the scenarios that need
        // it rather than failing them: both count as not passed.
        let failed = not_passed_names(&o);
        // Only scenarios the strict profile makes applicable can fail.
        let ran: BTreeSet<String> = o
            .scenarios
            .iter()
            .filter(|s| s.verdict != Verdict::NotApplicable)
            .map(|s| s.name.clone())
            .collect();
        let expected: BTreeSet<String> = expected.intersection(&ran).cloned().collect();
        let unexplained: Vec<_> = failed.difference(&expected).collect();
        let undetected: Vec<_> = expected.difference(&failed).collect();
        assert!(
            unexplained.is_empty() && undetected.is_empty(),
            "{bank}: failures not explained by a documented deviation: {unexplained:#?}\n\
             deviations not detected: {undetected:#?}\nall failures:\n{}",
            describe_failures(&o)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fault_is_detected_by_a_scenario_tagged_with_the_violated_rule() {
    let clean = run_sandbox(Bank::Obie, &[], None).await;
    assert_clean(&clean, "the clean sandbox");

    // The Yapily and Tatra faults live in their personality's dialect API: a sandbox of that
    // personality judged with the dialect's built-in profile must catch them.
    let results: Vec<(Fault, RunOutcome)> = futures::stream::iter(Fault::ALL.iter().copied())
        .map(|f| async move {
            let outcome = match f.area() {
                Area::Yapily => run_dialect(Bank::Yapily, &[f]).await,
                Area::Tatra => run_dialect(Bank::Tatra, &[f]).await,
                _ => run_sandbox(Bank::Obie, &[f], None).await,
            };
            (f, outcome)
        })
        .buffer_unordered(4)
        .collect()
        .await;
    let mut results = results;
    results.sort_by_key(|(f, _)| *f);

    let mut detected = 0;
    let mut table = String::from(
        "fault                          | violates              | caught by (scenarios tagged with a violated rule)\n",
    );
    let mut missed = Vec::new();
    let mut repeated = Vec::new();
    for (fault, o) in &results {
        // One defect, one finding (issue 20 §4), on every endpoint it shows on.
        let mut kinds: Vec<&str> = o.findings.iter().map(|f| f.key.kind.as_str()).collect();
        kinds.dedup();
        if kinds.len() > 1 {
            repeated.push(format!("{fault}: {kinds:?}"));
        }
        let catching: Vec<String> = o
            .failed()
            .filter(|s| s.rules.iter().any(|r| fault.rules().contains(&r.as_str())))
            .map(|s| {
                format!(
                    "{}:{}",
                    Path::new(&s.path)
                        .file_stem()
                        .unwrap_or_default()
                        .to_string_lossy(),
                    s.line
                )
            })
            .collect();
        let ok = o.exit_code() == 1 && !catching.is_empty();
        if ok {
            detected += 1;
        } else {
            missed.push(format!(
                "{fault}: exit {}, failing: {:?}",
                o.exit_code(),
                failed_names(o)
            ));
        }
        let shown: Vec<&str> = catching.iter().take(4).map(String::as_str).collect();
        let more = catching.len().saturating_sub(shown.len());
        table.push_str(&format!(
            "{:<30} | {:<21} | {}{}\n",
            fault.name(),
            fault.rules().join(","),
            if shown.is_empty() {
                "NOT CAUGHT".to_string()
            } else {
                shown.join(" ")
            },
            if more > 0 {
                format!(" (+{more} more)")
            } else {
                String::new()
            }
        ));
    }
    // A FAIL must name a rule really broken: for the faults listed, every rule the run fails
    // (a failed scenario's rules, a finding's) is one the fault breaks, or one more it
    // necessarily breaks (an ack-only poll held because maxEvents 0 is ignored breaks AP-14).
    // Every other fault's run is measured and printed, not asserted: a few (e.g.
    // set-foreign-key, push-to-other-tpp) still fail a rule downstream of their defect, and
    // some runs of others do under load (the README gives the count).
    let precise: &[(&str, &[&str])] = &[
        ("sets-key-not-jti", &[]),
        ("set-wrong-aud", &[]),
        ("empty-queue-404", &[]),
        ("set-errs-rejected", &[]),
        ("unknown-id-404", &[]),
        ("max-events-ignored", &["AP-14"]),
        ("more-available-omitted", &[]),
        ("set-rs256", &[]),
        ("set-missing-txn", &[]),
        ("push-no-backoff", &[]),
        ("events-leak-to-other-tpp", &[]),
        ("acked-redelivered", &[]),
        ("subscription-no-409", &[]),
        ("put-ignores-body", &[]),
        ("delete-200-with-body", &[]),
        ("set-unsigned", &[]),
        ("push-unsigned", &[]),
        ("set-events-string", &[]),
        ("yapily-no-event-id", &[]),
    ];
    let (mut imprecise, mut downstream) = (Vec::new(), Vec::new());
    for (fault, o) in &results {
        let listed = precise.iter().find(|(name, _)| *name == fault.name());
        let extra: &[&str] = listed.map_or(&[], |(_, extra)| *extra);
        let known = listed.is_none();
        let charged: BTreeSet<String> = o
            .failed()
            .flat_map(|s| s.failed_rules.iter().cloned())
            .chain(o.findings.iter().flat_map(|f| f.rules.iter().cloned()))
            .collect();
        let foreign: Vec<&String> = charged
            .iter()
            .filter(|r| !fault.rules().contains(&r.as_str()) && !extra.contains(&r.as_str()))
            .collect();
        if !foreign.is_empty() && known {
            downstream.push(format!("{fault} also FAILs {foreign:?}"));
        } else if !foreign.is_empty() {
            imprecise.push(format!(
                "{fault} (breaks {:?}) also FAILs {foreign:?}:\n{}",
                fault.rules(),
                describe_failures(o)
            ));
        }
    }
    println!("{table}");
    println!("faults detected: {detected}/{}", results.len());
    println!(
        "faults whose run FAILs only rules they break: {}/{}",
        results.len() - downstream.len() - imprecise.len(),
        results.len()
    );
    for d in &downstream {
        println!("  {d}");
    }
    if !imprecise.is_empty() {
        println!(
            "FAILs charged to rules the fault does not break:\n{}",
            imprecise.join("\n")
        );
    }
    assert!(
        imprecise.is_empty(),
        "FAILs charged to rules the fault does not break:\n{}",
        imprecise.join("\n")
    );
    assert!(
        missed.is_empty(),
        "faults not detected:\n{}",
        missed.join("\n")
    );
    // A panic's message is lost to the harness's panic hook here: print what went wrong first.
    if !repeated.is_empty() {
        println!(
            "faults reported as several findings:\n{}",
            repeated.join("\n")
        );
    }
    assert!(repeated.is_empty(), "faults reported as several findings");
    assert!(results.len() >= 25);
}

// ---- the command line ---------------------------------------------------------------------------

fn obevents() -> Command {
    Command::new(env!("CARGO_BIN_EXE_obevents"))
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("obevents-{name}-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn main_job_tests_the_embedded_sandbox_and_writes_reports() {
    let dir = temp_dir("reports");
    let junit = dir.join("ci/junit.xml");
    let out = obevents()
        .args(["test", "--report-dir"])
        .arg(&dir)
        .arg("--junit")
        .arg(&junit)
        .env("OBEVENTS_LOG", "warn")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(" 0 failed, 0 blocked") && stdout.contains(" 0 finding(s)"),
        "{stdout}"
    );
    for f in ["junit.xml", "cucumber.json", "report.html", "summary.json"] {
        let p = dir.join(f);
        assert!(
            p.metadata().map(|m| m.len() > 100).unwrap_or(false),
            "{} missing or empty",
            p.display()
        );
    }
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains("<testsuites") && xml.contains("<skipped"),
        "JUnit lists not-applicable scenarios as skipped"
    );
    for suite in xml.split("<testsuite ").skip(1) {
        let head = suite.split('>').next().unwrap_or("");
        for attr in ["tests=", "failures=", "errors=", "skipped=", "time="] {
            assert!(head.contains(attr), "a suite lacks {attr}: {head}");
        }
    }
    assert!(
        stdout
            .trim_end()
            .lines()
            .last()
            .is_some_and(|l| l.starts_with("reports: ")),
        "the console ends with where the reports are: {stdout}"
    );
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["blocked"], 0);
    assert!(summary["findings"].as_array().is_some_and(|f| f.is_empty()));
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(
        html.contains("no scenario"),
        "the report lists catalogue rules without a scenario"
    );
    let cucumber: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("cucumber.json")).unwrap()).unwrap();
    assert!(
        cucumber.as_array().is_some_and(|a| a.len() >= 8),
        "cucumber JSON has the features"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_fault_makes_the_run_exit_1_with_evidence() {
    let dir = temp_dir("fault");
    let out = obevents()
        .args([
            "test",
            "--fault",
            "acked-redelivered",
            "--tags",
            "@AP-09",
            "--report-dir",
        ])
        .arg(&dir)
        .env("OBEVENTS_LOG", "warn")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(html.contains("Failures and evidence") && html.contains("/open-banking/v3.1/events"));
    assert!(
        !html.contains("client_secret=") || html.contains("client_secret=***"),
        "credentials are masked"
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// A push failure's report says what to fix: an index at the top, the rule's text and source
/// at the failure, rule ids linked to the rule table, and the attempts as the receiver saw
/// them (arrival, delay from the previous one, answer, headers, body).
#[test]
fn a_push_failure_report_shows_the_rule_and_what_the_receiver_got() {
    let dir = temp_dir("push-report");
    let out = obevents()
        .args([
            "test",
            "--fault",
            "push-no-backoff",
            "--tags",
            "@realtime and @R8935-15",
            "--report-dir",
        ])
        .arg(&dir)
        .env("OBEVENTS_LOG", "warn")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    let index = html.find("id=\"index\"").expect("an index of what to fix");
    let failures = html.find("id=\"failed\"").expect("the failures");
    assert!(index < failures, "the index comes first");
    let at_failure = &html[failures..];
    for expected in [
        "<a href=\"#rule-R-08\">R-08</a> <b>MUST</b>: Unacked or 5xx pushes are retried",
        "Source: OBIE D-EN",
        "arrived (UTC)",
        "<td>503</td>",
        "content-type: application/jwt",
    ] {
        assert!(
            at_failure.contains(expected),
            "the failure shows {expected:?}"
        );
    }
    assert!(
        at_failure.contains("<td>+") && at_failure.contains(" ms</td>"),
        "each attempt's delay from the one before"
    );
    assert!(
        html.contains("<tr id=\"rule-R-08\">"),
        "rule ids link to the table"
    );
    // The exchange unfolded at the failure is a push the check judged, not the subscription
    // POST that came before it.
    let open = at_failure
        .split("<details open><summary><code>")
        .nth(1)
        .and_then(|rest| rest.split("</code>").next())
        .expect("an exchange unfolded at the failure");
    assert!(
        open.contains("event-notifications") && !open.contains("event-subscriptions"),
        "unfolded: {open}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

fn one_line_exit_2(args: &[&str], expect_in_message: &str) {
    let out = obevents()
        .args(args)
        .env("OBEVENTS_LOG", "warn")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{args:?}: expected one line, got {stderr}");
    assert!(lines[0].contains(expect_in_message), "{args:?}: {stderr}");
}

#[test]
fn bad_profiles_and_unreachable_targets_exit_2_with_one_line() {
    let dir = temp_dir("profiles");
    let bad = dir.join("bad.toml");
    std::fs::write(
        &bad,
        "[target]\nbase_url = \"http://127.0.0.1:9\"\ntoken_endpoint = \"/token\"\njwks_url = \"/jwks\"\nissuer = \"x\"\n\
         [registration]\nendpoint = \"/register\"\n[bank]\nlong_polling = \"sometimes\"\n",
    )
    .unwrap();
    one_line_exit_2(
        &["test", "--profile", bad.to_str().unwrap()],
        "bank.long_polling",
    );
    let typo = dir.join("typo.toml");
    std::fs::write(
        &typo,
        "[target]\nbase_url = \"http://x\"\ntoken_endpint = \"/token\"\n",
    )
    .unwrap();
    one_line_exit_2(
        &["test", "--profile", typo.to_str().unwrap()],
        "token_endpint",
    );
    // Port 9 (discard) on loopback: nothing listens there.
    let unreachable = dir.join("unreachable.toml");
    std::fs::write(
        &unreachable,
        "[target]\nbase_url = \"http://127.0.0.1:9\"\ntoken_endpoint = \"/token\"\njwks_url = \"/jwks\"\nissuer = \"x\"\n\
         [registration]\nendpoint = \"/register\"\n",
    )
    .unwrap();
    one_line_exit_2(
        &["test", "--profile", unreachable.to_str().unwrap()],
        "unreachable",
    );
    one_line_exit_2(
        &[
            "test",
            "--profile",
            dir.join("missing.toml").to_str().unwrap(),
        ],
        "cannot read",
    );
    one_line_exit_2(&["test", "--tags", "@no-such-tag-anywhere"], "no scenario");
    one_line_exit_2(&["test", "--frobnicate"], "--frobnicate");
    let _ = std::fs::remove_dir_all(dir);
}

/// A target that cannot serve the profile stops the run before any scenario: exit 2, one line
/// naming what failed, within 10 s (issue 12 §3).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_that_cannot_serve_the_profile_stops_the_run_in_preflight() {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/jwks"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({"keys": []})))
        .mount(&server)
        .await;
    // Registration answers without client_secret; the token endpoint refuses every client.
    Mock::given(method("POST"))
        .and(path("/register"))
        .respond_with(
            ResponseTemplate::new(201).set_body_json(serde_json::json!({"client_id": "c1"})),
        )
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(
            ResponseTemplate::new(401)
                .set_body_json(serde_json::json!({"error": "invalid_client"})),
        )
        .mount(&server)
        .await;
    let dir = temp_dir("preflight");
    let target = format!(
        "[target]\nbase_url = \"{}\"\ntoken_endpoint = \"/token\"\njwks_url = \"/jwks\"\nissuer = \"x\"\n",
        server.uri()
    );
    let registration = dir.join("registration.toml");
    std::fs::write(
        &registration,
        format!("{target}[registration]\nendpoint = \"/register\"\n"),
    )
    .unwrap();
    let fixed = dir.join("fixed.toml");
    std::fs::write(
        &fixed,
        format!(
            "{target}[[tpp]]\nclient_id = \"a\"\nclient_secret = \"s\"\n[[tpp]]\nclient_id = \"b\"\nclient_secret = \"s\"\n"
        ),
    )
    .unwrap();
    for (profile, expected) in [(&registration, "client_secret"), (&fixed, "401")] {
        let profile = profile.to_str().unwrap().to_string();
        let started = std::time::Instant::now();
        tokio::task::spawn_blocking(move || {
            one_line_exit_2(&["test", "--profile", &profile], expected)
        })
        .await
        .unwrap();
        assert!(started.elapsed() < Duration::from_secs(10));
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// The harness reaches the sandbox through `sandbox::embedded` only; everything else it
/// shares with the sandbox is in `model` (issue 12 §9). Test modules may use sandbox types.
#[test]
fn the_harness_imports_no_sandbox_internals() {
    fn visit(dir: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                visit(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs")
                && path.file_name().is_some_and(|n| n != "tests.rs")
            {
                let text = std::fs::read_to_string(&path).unwrap();
                let code = text.split("#[cfg(test)]").next().unwrap_or_default();
                for (i, line) in code.lines().enumerate() {
                    let used =
                        line.contains("crate::sandbox") || line.contains("obevents::sandbox");
                    if used && !line.contains("crate::sandbox::embedded::") {
                        out.push(format!("{}:{}: {}", path.display(), i + 1, line.trim()));
                    }
                }
            }
        }
    }
    let mut found = Vec::new();
    visit(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src/harness"),
        &mut found,
    );
    assert!(found.is_empty(), "{found:#?}");
}

/// An independent Tatra-style bank (its own paths, flat bodies, immediate activation, fixed
/// clients): clean, every applicable `@tatra` scenario passes; each defect fails the run on a
/// rule it breaks and on no other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_independent_tatra_style_bank_fails_exactly_the_rules_its_defects_break() {
    use tatra_bank::Defect::*;
    let cases: [(Option<tatra_bank::Defect>, &[&str]); 7] = [
        (None, &[]),
        (Some(QueryAccepted), &["TB-01"]),
        (Some(PrefixedAuthorization), &["TB-03"]),
        (Some(MergedAccountEvents), &["TB-07"]),
        (Some(SendsWhileDisabled), &["TB-05"]),
        (Some(NoRetry), &["TB-11"]),
        (Some(NoTaskId), &["TB-08", "TB-09"]),
    ];
    let (outcomes, already_active) = tokio::join!(
        futures::future::join_all(cases.iter().map(|(d, _)| tatra_bank::run(*d))),
        tatra_bank::run_already_active()
    );
    // Profiled as next-hour with applications enabled long before: everything but the two
    // scenarios that must enable anew (TB-04, TB-05) applies and passes.
    assert_clean(&already_active, "the already-active Tatra-style bank");
    assert_eq!(
        (
            already_active.count(Verdict::Passed),
            already_active.count(Verdict::NotApplicable)
        ),
        (8, 2),
        "{}",
        describe_failures(&already_active)
    );
    for ((defect, breaks), o) in cases.iter().zip(outcomes) {
        let failed = tatra_bank::failed_rules(&o);
        eprintln!(
            "independent tatra bank, defect {defect:?}: passed {}, failed {}, n/a {}, failed rules {failed:?}",
            o.count(Verdict::Passed),
            o.count(Verdict::Failed),
            o.count(Verdict::NotApplicable)
        );
        for f in &o.findings {
            eprintln!("  finding {} x{}: {}", f.key.kind, f.occurrences, f.message);
        }
        match defect {
            None => {
                assert_clean(&o, "the independent Tatra-style bank");
                let ran = o
                    .scenarios
                    .iter()
                    .filter(|s| s.verdict == Verdict::Passed)
                    .count();
                assert!(
                    ran >= 9,
                    "only {ran} @tatra scenarios passed\n{}",
                    describe_failures(&o)
                );
            }
            Some(d) => {
                assert!(!failed.is_empty(), "{d:?} went unnoticed");
                assert!(
                    failed.iter().all(|r| breaks.contains(&r.as_str())),
                    "{d:?} (breaks {breaks:?}) failed rules {failed:?}\n{}",
                    describe_failures(&o)
                );
                assert!(
                    o.findings.len() <= 1,
                    "{d:?}: {} findings",
                    o.findings.len()
                );
            }
        }
    }
}

/// The rules the failed scenarios of `o` failed on, and the rules of its findings.
fn failed_rules(o: &RunOutcome) -> Vec<String> {
    let mut rules: Vec<String> = o
        .failed()
        .flat_map(|s| s.failed_rules.iter().cloned())
        .chain(o.findings.iter().flat_map(|f| f.rules.iter().cloned()))
        .collect();
    rules.sort();
    rules.dedup();
    rules
}

/// Judges one independent bank's runs: the clean ones (`None`) pass with nothing failed or
/// blocked; each defect fails at least one scenario, only under the rules it breaks, and
/// blocks nothing. Prints what each run found.
fn judge_defects<D: std::fmt::Debug>(bank: &str, runs: &[(Option<D>, &[&str], RunOutcome)]) {
    for (defect, breaks, o) in runs {
        let failed = failed_rules(o);
        let scenarios: Vec<String> = o
            .failed()
            .map(|s| format!("{}:{}", s.name, s.line))
            .collect();
        eprintln!(
            "independent {bank} bank, defect {defect:?}: passed {}, failed {}, blocked {}, n/a {}, \
             failed rules {failed:?}, failed scenarios {scenarios:?}",
            o.count(Verdict::Passed),
            o.count(Verdict::Failed),
            o.count(Verdict::Blocked),
            o.count(Verdict::NotApplicable)
        );
        for f in &o.findings {
            eprintln!("  finding {} x{}: {}", f.key.kind, f.occurrences, f.message);
        }
        match defect {
            None => assert_clean(o, &format!("the independent {bank} bank")),
            Some(d) => {
                assert!(!failed.is_empty(), "{bank}: {d:?} went unnoticed");
                // One defect, one finding (issue 20 §4): however many pushes, polls or
                // scenarios show it, a bank with one defect has at most one finding.
                assert!(
                    o.findings.len() <= 1,
                    "{bank}: {d:?} gave {} findings: {:?}",
                    o.findings.len(),
                    o.findings.iter().map(|f| &f.message).collect::<Vec<_>>()
                );
                // A scenario may be blocked only by the defect itself, saying which rule of it
                // leaves the scenario nothing to judge (no event id: no id for retries to keep).
                let stray: Vec<&str> = o
                    .with(Verdict::Blocked)
                    .filter(|s| {
                        let why = s.reason.as_deref().unwrap_or_default();
                        !breaks.iter().any(|r| why.contains(r))
                    })
                    .map(|s| s.name.as_str())
                    .collect();
                assert!(
                    stray.is_empty(),
                    "{bank}: {d:?} blocked scenarios {stray:?}\n{}",
                    describe_failures(o)
                );
                assert!(
                    failed.iter().all(|r| breaks.contains(&r.as_str())),
                    "{bank}: {d:?} (breaks {breaks:?}) failed rules {failed:?}\n{}",
                    describe_failures(o)
                );
            }
        }
    }
}

/// An independent OBIE push bank (`harness/push_bank.rs`), profiled from the README alone: clean
/// it passes every applicable `@realtime` scenario whether it keeps, moves or cancels retries
/// already scheduled (as its profile declares), and each defect fails a scenario under the rule it
/// breaks and no other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_independent_push_bank_fails_exactly_the_rules_its_defects_break() {
    use push_bank::Defect::*;
    use push_bank::Pending::{Cancel, Follow, Keep};
    let cases: Vec<(Option<push_bank::Defect>, push_bank::Pending, &[&str])> = vec![
        (None, Keep, &[]),
        (None, Follow, &[]),
        (None, Cancel, &[]),
        (Some(PushAfterUnsubscribe), Keep, &["R-02"]),
        (Some(JsonContentType), Keep, &["R-04"]),
        (Some(NoInteractionId), Keep, &["R-04"]),
        (Some(NoRetry), Keep, &["R-08"]),
        (Some(Retries4xx), Keep, &["R-08"]),
        (Some(RetriesForever), Keep, &["R-08"]),
        (Some(NoBackoff), Keep, &["R-08"]),
        (Some(StopsDespiteKeep), Keep, &["R-08"]),
        (Some(MovesDespiteCancel), Cancel, &["R-08"]),
        (Some(ToOtherTpp), Keep, &["R-02"]),
        (Some(UrlRewritten), Keep, &["R-03"]),
        (
            Some(Base64Body),
            Keep,
            &["R8935-04", "N-01", "J-01", "R8417-01"],
        ),
    ];
    let outcomes: Vec<RunOutcome> = futures::stream::iter(cases.iter())
        .map(|(d, p, _)| push_bank::run(*d, *p))
        .buffered(4)
        .collect()
        .await;
    for ((d, pending, _), o) in cases.iter().zip(&outcomes) {
        if d.is_some() {
            continue;
        }
        // Keep runs the keep scenario, Follow the stop and move ones, Cancel the stop and
        // end ones: at least 17 apply whichever the bank declares.
        assert!(o.count(Verdict::Passed) >= 17, "{}", describe_failures(o));
        let declared = match pending {
            Keep => "pending-retries-keep",
            Follow => "pending-retries-follow",
            Cancel => "pending-retries-cancel",
        };
        let with = |tag: &str| -> Vec<&obevents::harness::outcome::ScenarioRecord> {
            o.scenarios
                .iter()
                .filter(|s| s.tags.iter().any(|t| t == tag))
                .collect()
        };
        assert!(
            !with(declared).is_empty()
                && with(declared).iter().all(|s| s.verdict == Verdict::Passed),
            "{pending:?}: the @{declared} scenarios did not all pass"
        );
        // The scenarios of the other choices are not applicable, naming the setting.
        let stop = *pending == Keep;
        let others = [
            "pending-retries-keep",
            "pending-retries-follow",
            "pending-retries-cancel",
        ]
        .into_iter()
        .filter(|t| *t != declared)
        .chain(stop.then_some("pending-retries-stop"));
        for s in others.flat_map(&with) {
            assert!(
                s.verdict == Verdict::NotApplicable
                    && s.reason
                        .as_deref()
                        .is_some_and(|r| r.contains("push.pending_retries")),
                "{pending:?}: {} is {:?} ({:?})",
                s.name,
                s.verdict,
                s.reason
            );
        }
    }
    let runs: Vec<_> = cases
        .iter()
        .zip(outcomes)
        .map(|((d, _, breaks), o)| (*d, *breaks, o))
        .collect();
    judge_defects("push", &runs);
}

/// An independent Yapily-style bank with fixed applications (`harness/yapily_bank.rs`),
/// profiled from the README's minimal Yapily profile: clean it passes every applicable
/// `@yapily` scenario, each scenario starting from an application without subscriptions; each
/// defect fails a scenario under the rule it breaks and no other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_independent_yapily_style_bank_fails_exactly_the_rules_its_defects_break() {
    use yapily_bank::Defect::*;
    let cases: Vec<(Option<yapily_bank::Defect>, &[&str])> = vec![
        (None, &[]),
        (Some(DeliveredAfterDelete), &["YA-06"]),
        (Some(RetriesAfterDelete), &["YA-09"]),
        (Some(NoRetry), &["YA-09"]),
        (Some(DuplicateAccepted), &["YA-03"]),
        (Some(UnsubscribedTypes), &["YA-11"]),
        (Some(ToOtherApp), &["YA-12"]),
        // No id at all: YA-07; whether retries keep the id (YA-09) is blocked, there is none.
        (Some(NoEventId), &["YA-07"]),
        (Some(WrongDigest), &["JWD-06"]),
        (Some(Expired), &["JWD-05"]),
    ];
    let outcomes: Vec<RunOutcome> = futures::stream::iter(cases.iter())
        .map(|(d, _)| yapily_bank::run(*d))
        .buffered(4)
        .collect()
        .await;
    let runs: Vec<_> = cases
        .iter()
        .zip(outcomes)
        .map(|((d, breaks), o)| (*d, *breaks, o))
        .collect();
    let clean = &runs[0].2;
    assert!(
        clean.count(Verdict::Passed) >= 16,
        "{}",
        describe_failures(clean)
    );
    judge_defects("yapily", &runs);
}

/// A Yapily-style bank whose fixed applications cannot list their subscriptions (YA-05): the
/// preflight lets the run go on (the credentials were accepted), and every applicable scenario
/// is blocked at its `starts clean` step, saying the list was refused — no scenario meets a
/// subscription an earlier one left, none is failed for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_yapily_bank_that_cannot_list_blocks_each_scenario_at_its_start_clean_step() {
    let o = yapily_bank::run(Some(yapily_bank::Defect::NoList)).await;
    assert_eq!(o.exit_code(), 1);
    let applicable: Vec<_> = o
        .scenarios
        .iter()
        .filter(|s| s.verdict != Verdict::NotApplicable)
        .collect();
    assert!(applicable.len() >= 10, "{}", describe_failures(&o));
    for s in applicable {
        let step = s.failed_step.as_deref().unwrap_or_default();
        let reason = s.reason.as_deref().unwrap_or_default();
        assert!(
            s.verdict == Verdict::Blocked
                && step.starts_with("Given TPP ")
                && step.ends_with(" starts clean")
                && reason.contains("cannot list TPP")
                && reason.contains("405"),
            "{} {:?} at {step:?}: {reason}",
            s.name,
            s.verdict
        );
    }
}

/// Command-line mistakes an outside review found passing or failing badly: each is one line
/// on stderr and exit code 2, before anything runs.
#[test]
fn command_line_mistakes_exit_2_with_one_line_before_anything_runs() {
    let dir = temp_dir("cli-mistakes");
    let missing = dir.join("no-such-dir");
    let missing_file = |name: &str| missing.join(name).to_str().unwrap().to_string();
    let garbage = dir.join("garbage.pem");
    std::fs::write(&garbage, "garbage\n").unwrap();
    let profile = dir.join("badca.toml");
    std::fs::write(
        &profile,
        format!(
            "[target]\nbase_url = \"http://127.0.0.1:9\"\ntoken_endpoint = \"/token\"\njwks_url = \"/jwks\"\nissuer = \"x\"\nca_cert = {:?}\n[registration]\nendpoint = \"/register\"\n",
            garbage.to_str().unwrap()
        ),
    )
    .unwrap();
    let p = profile.to_str().unwrap();
    let tpp = [
        "--jwks-url",
        "http://127.0.0.1:9/jwks",
        "--issuer",
        "i",
        "--audience",
        "a",
    ];
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec![], "subcommand"),
        (vec!["tpp".into()], "subcommand"),
        (vec!["certs".into()], "--out"),
        (
            vec![
                "certs",
                "--out",
                dir.to_str().unwrap(),
                "--name",
                "bad name",
            ]
            .into_iter()
            .map(String::from)
            .collect(),
            "--name",
        ),
        (
            vec!["bench", "--profile", p, "--rate", "inf", "--duration", "1"]
                .into_iter()
                .map(String::from)
                .collect(),
            "--rate",
        ),
        (
            vec![
                "bench",
                "--profile",
                p,
                "--rate",
                "1",
                "--duration",
                "18446744073709551615",
            ]
            .into_iter()
            .map(String::from)
            .collect(),
            "--duration",
        ),
        (
            vec!["bench".into(), "--seconds".into(), "0".into()],
            "--seconds",
        ),
        (
            vec!["bench".into(), "--store-sizes".into(), "abc".into()],
            "--store-sizes",
        ),
        (
            vec![
                "bench".into(),
                "--json".into(),
                "/proc/no-such-dir/x.json".into(),
            ],
            "cannot make",
        ),
        (
            vec![
                "test".into(),
                "--junit".into(),
                "/proc/no-such-dir/j.xml".into(),
            ],
            "cannot make",
        ),
        (
            vec!["test", "--profile", p]
                .into_iter()
                .map(String::from)
                .collect(),
            "target.ca_cert",
        ),
        (
            [
                "tpp",
                "receive",
                "--jwks-url",
                "not-a-url",
                "--issuer",
                "i",
                "--audience",
                "a",
            ]
            .into_iter()
            .map(String::from)
            .collect(),
            "--jwks-url",
        ),
        (
            ["tpp", "receive"]
                .into_iter()
                .chain(tpp)
                .map(String::from)
                .chain(["--processed".to_string(), missing_file("processed.txt")])
                .collect(),
            "--processed",
        ),
        (
            ["tpp", "poll"]
                .into_iter()
                .chain(tpp)
                .chain(["--events-url", "http://127.0.0.1:9/e", "--pace-ms", "0"])
                .map(String::from)
                .collect(),
            "--pace-ms",
        ),
    ];
    for (args, expect) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        one_line_exit_2(&args, expect);
    }
    let _ = std::fs::remove_dir_all(dir);
}
