//! The verdict model (issue 12): a defect found by a check that runs on every answer fails only
//! the scenarios tagged with its rule and is reported once as a finding; a bank that keeps
//! serving acknowledged SETs fails AP-09 once and blocks nothing else.

use std::collections::BTreeSet;

use obevents::harness::context::RunContext;
use obevents::harness::profile::{Clients, Profile, RequestSignatures, TppConfig};
use obevents::harness::runner::{self, FeatureSource, Progress, RunOptions, Verdict};
use obevents::sandbox::embedded::declaration;
use obevents::sandbox::{Bank, Fault, Sandbox};

use super::independent::detail;
use super::{run_sandbox, sandbox_config};

/// A SET defect fails at most 3 scenarios, each under a rule the defect breaks, blocks none,
/// and every finding of it names a rule the defect breaks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_set_defect_fails_a_few_scenarios_under_its_own_rules() {
    for fault in [Fault::SetMissingTxn, Fault::SetRs256, Fault::SetIatFuture] {
        let o = run_sandbox(Bank::Obie, &[fault], None).await;
        let broken: BTreeSet<&str> = fault.rules().iter().copied().collect();
        let detail = detail(&o);
        assert_eq!(o.exit_code(), 1, "{fault}:\n{detail}");
        assert_eq!(o.count(Verdict::Blocked), 0, "{fault}:\n{detail}");
        let failed: Vec<_> = o.failed().collect();
        assert!(
            !failed.is_empty() && failed.len() <= 3,
            "{fault}: {} failed\n{detail}",
            failed.len()
        );
        for s in &failed {
            assert!(
                !s.failed_rules.is_empty()
                    && s.failed_rules.iter().all(|r| broken.contains(r.as_str())),
                "{fault}: {} failed on {:?}\n{detail}",
                s.name,
                s.failed_rules
            );
        }
        for f in &o.findings {
            assert!(
                f.rules.iter().any(|r| broken.contains(r.as_str())),
                "{fault}: finding outside the fault's rules\n{detail}"
            );
        }
        // One SET defect is one finding per endpoint (polls, pushes), however many SETs and
        // scenarios showed it, with how often it was seen.
        let endpoints: BTreeSet<&str> =
            o.findings.iter().map(|f| f.key.endpoint.as_str()).collect();
        assert_eq!(endpoints.len(), o.findings.len(), "{fault}:\n{detail}");
        assert!(
            o.findings
                .iter()
                .all(|f| f.occurrences >= f.scenarios.len()),
            "{fault}:\n{detail}"
        );
    }
}

/// With the profile's two fixed clients (shared by every scenario, so what one scenario leaves
/// behind reaches the next), a bank that keeps serving acknowledged SETs: AP-09 fails with
/// evidence, and at most 5 other scenarios are blocked by it — among them the R8936-24 one,
/// whose question (are acks applied before the batch is chosen?) does not arise when they are
/// never applied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bank_that_ignores_acks_fails_ap09_and_blocks_almost_nothing() {
    let cfg = sandbox_config(Bank::Obie, &[Fault::AckedRedelivered]);
    let sandbox = Sandbox::start(cfg.clone(), ":memory:", "127.0.0.1:0".parse().unwrap())
        .await
        .expect("sandbox starts");
    let mut declared = declaration(&cfg);
    declared.push = None;
    let mut profile = Profile::for_sandbox(&sandbox.url(), &declared).expect("built-in profile");
    let scope = match &profile.clients {
        Clients::Register(r) => r.scope.clone(),
        Clients::Fixed(_) => panic!("the built-in profile registers its clients"),
    };
    let ctx = RunContext::new(profile.clone()).expect("context");
    let (a, _) = ctx.register("A", &scope).await.expect("register A");
    let (b, _) = ctx.register("B", &scope).await.expect("register B");
    // Registered with the event scope only: no restricted-scope scenarios.
    let (a, b) = (
        TppConfig {
            restricted_scope: None,
            ..a
        },
        TppConfig {
            restricted_scope: None,
            ..b
        },
    );
    profile.clients = Clients::Fixed(vec![a, b]);
    // Fixed clients were registered with this context's signing key, not the run's.
    profile.signing = None;
    profile.bank.request_signatures = RequestSignatures::Ignored;
    let opts = RunOptions {
        profile,
        features: FeatureSource::Embedded,
        // Without the scenarios that queue a bank's whole cap (101 SETs the bank would then
        // serve forever, ahead of everything a later scenario triggers).
        tags: Some("not @AP-07".into()),
        concurrency: None,
        fail_fast: false,
        progress: Progress::Quiet,
        tpp: None,
        shard: None,
    };
    let o = runner::run(opts, None).await.expect("the run started");
    sandbox.stop().await;
    let detail = detail(&o);

    assert_eq!(o.exit_code(), 1, "{detail}");
    let ap09_failed = o
        .failed()
        .any(|s| s.failed_rules.iter().any(|r| r == "AP-09"));
    let ap09_finding = o
        .findings
        .iter()
        .any(|f| f.rules.iter().any(|r| r == "AP-09") && f.evidence.is_some());
    assert!(ap09_failed || ap09_finding, "AP-09 is reported\n{detail}");
    assert!(
        o.count(Verdict::Blocked) <= 5,
        "{} scenarios blocked\n{detail}",
        o.count(Verdict::Blocked)
    );
    assert!(o.count(Verdict::Passed) > 40, "{detail}");
    // What fails, fails on the acknowledgement rules the defect breaks: an acknowledged SET
    // served again (AP-09, R8936-11). Served again in the answer to the very request that
    // acknowledged it too, that is the same defect, not R8936-24's ordering one: the next poll
    // serving them again tells the two apart.
    let ack_rules = ["AP-09", "R8936-11"];
    let ordering = o
        .scenarios
        .iter()
        .find(|s| s.name.starts_with("Poll and acknowledge in one request"))
        .expect("the R8936-24 scenario ran");
    assert_eq!(ordering.verdict, Verdict::Blocked, "{detail}");
    for s in o.failed() {
        assert!(
            s.failed_rules
                .iter()
                .all(|r| ack_rules.contains(&r.as_str())),
            "{} failed on {:?}\n{detail}",
            s.name,
            s.failed_rules
        );
    }
    // The drain's finding is one finding, however many scenarios hit the stuck SETs.
    assert!(
        o.findings
            .iter()
            .filter(|f| f.rules.iter().any(|r| r == "AP-09"))
            .count()
            <= 1,
        "{detail}"
    );
}

/// A fake bank (wiremock) reached with static tokens: a poll without a token gets a 401 with a
/// body and no `WWW-Authenticate`, and an explicit long poll gets a 404. The failures are
/// charged to R8936-28 and AP-08, the rules really broken (issue 12 §6).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_401s_and_refused_long_polls_are_charged_to_their_own_rules() {
    use wiremock::matchers::{body_partial_json, header_exists, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let bank = MockServer::start().await;
    let iid = (
        "x-fapi-interaction-id",
        "6f0c6d4e-9a59-4d0e-8d53-2f1b8c1e7a10",
    );
    Mock::given(method("POST"))
        .and(path("/events"))
        .and(header_exists("authorization"))
        .and(body_partial_json(
            serde_json::json!({"returnImmediately": false}),
        ))
        .respond_with(ResponseTemplate::new(404).insert_header(iid.0, iid.1))
        .with_priority(1)
        .mount(&bank)
        .await;
    Mock::given(method("POST"))
        .and(path("/events"))
        .and(header_exists("authorization"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header(iid.0, iid.1)
                .set_body_json(serde_json::json!({"sets": {}, "moreAvailable": false})),
        )
        .with_priority(2)
        .mount(&bank)
        .await;
    Mock::given(method("POST"))
        .and(path("/events"))
        .respond_with(
            ResponseTemplate::new(401)
                .insert_header(iid.0, iid.1)
                .set_body_json(serde_json::json!({"error": "unauthorized"})),
        )
        .with_priority(3)
        .mount(&bank)
        .await;
    Mock::given(method("POST"))
        .and(path("/trigger"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&bank)
        .await;
    let text = format!(
        "[target]\nbase_url = \"{}\"\napi_base = \"/\"\n\
         [[tpp]]\nclient_id = \"a\"\nauth_method = \"bearer\"\naccess_token = \"ta\"\n\
         [[tpp]]\nclient_id = \"b\"\nauth_method = \"bearer\"\naccess_token = \"tb\"\n\
         [trigger]\nkind = \"http\"\nurl = \"/trigger\"\n\
         [bank]\nsubscription_api = false\nlong_poll_timeout_ms = 500\n\
         [timing]\nevent_timeout_ms = 500\n",
        bank.uri()
    );
    let file: obevents::harness::profile::ProfileFile = toml::from_str(&text).unwrap();
    let profile = Profile::from_file(file, std::path::Path::new("."), None).unwrap();
    let opts = RunOptions {
        profile,
        features: FeatureSource::Embedded,
        tags: Some("@R8936-28 or @AP-08".into()),
        concurrency: None,
        fail_fast: false,
        progress: Progress::Quiet,
        tpp: None,
        shard: None,
    };
    let o = runner::run(opts, None).await.expect("the run started");
    let detail = detail(&o);
    let charged = |name: &str| -> Vec<String> {
        o.scenarios
            .iter()
            .find(|s| s.name == name)
            .map(|s| s.failed_rules.clone())
            .unwrap_or_default()
    };
    assert_eq!(
        charged("Polling without an access token is a 401 without a body"),
        ["R8936-28"],
        "{detail}"
    );
    assert_eq!(
        charged(
            "With nothing awaiting, a long poll is held until the bank's timeout, then answered empty"
        ),
        ["AP-08"],
        "{detail}"
    );
}
