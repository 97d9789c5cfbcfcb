//! Profiles for banks unlike the sandbox (issue 12 §5), tried against the sandbox itself: an
//! RFC 8936 transmitter reached with static bearer tokens and no JWKS, and a bank without a
//! polling API. Each profile is the built-in one rewritten the way a bank engineer would write
//! it from the README.

use obevents::harness::profile::{Profile, ProfileFile, sandbox_profile_toml};
use obevents::harness::runner::{RunOutcome, Verdict};
use obevents::sandbox::embedded::declaration;
use obevents::sandbox::{Bank, Sandbox};

use super::{run_tags, run_with, sandbox_config};

/// The built-in profile of a sandbox at `url` as TOML, for editing.
fn builtin(url: &str, cap: usize) -> toml::Table {
    let mut cfg = sandbox_config(Bank::Obie, &[]);
    cfg.max_events_cap = cap;
    let mut declared = declaration(&cfg);
    declared.push = None;
    let text = sandbox_profile_toml(url, &declared);
    toml::from_str(&text).expect("built-in profile is TOML")
}

fn load(t: toml::Table) -> Profile {
    let text = toml::to_string(&t).expect("TOML");
    let file: ProfileFile = toml::from_str(&text).expect("profile file");
    Profile::from_file(file, std::path::Path::new("."), None).expect("valid profile")
}

fn table<'a>(t: &'a mut toml::Table, key: &str) -> &'a mut toml::Table {
    t.get_mut(key)
        .and_then(toml::Value::as_table_mut)
        .expect("section")
}

/// A freshly registered sandbox client and a client-credentials token of it, as a bank would
/// hand them out of band.
async fn static_token(url: &str) -> (String, String) {
    let http = reqwest::Client::new();
    let reg: serde_json::Value = http
        .post(format!("{url}/register"))
        .json(&serde_json::json!({ "client_name": "static", "scope": "accounts" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let tok: serde_json::Value = http
        .post(format!("{url}/token"))
        .basic_auth(
            reg["client_id"].as_str().unwrap(),
            reg["client_secret"].as_str(),
        )
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials&scope=accounts")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    (
        reg["client_id"].as_str().unwrap().to_string(),
        tok["access_token"].as_str().unwrap().to_string(),
    )
}

/// The names of the scenarios the run found not applicable.
fn not_applicable(o: &RunOutcome) -> Vec<&str> {
    o.scenarios
        .iter()
        .filter(|s| s.verdict == Verdict::NotApplicable)
        .map(|s| s.name.as_str())
        .collect()
}

fn assert_clean(o: &RunOutcome) {
    let bad: Vec<String> = o
        .failed()
        .chain(o.blocked())
        .map(|s| {
            format!(
                "{} [{}]: {}",
                s.name,
                s.rules.join(" "),
                s.reason.as_deref().unwrap_or("")
            )
        })
        .chain(o.findings.iter().map(|f| f.message.clone()))
        .collect();
    assert!(bad.is_empty(), "{bad:#?}");
}

/// The sandbox at `url` (with `cap`) profiled as an RFC 8936 transmitter reached with static
/// bearer tokens: no token endpoint, no issuer, and without its JWKS unless `jwks`.
pub async fn rfc8936_profile(url: &str, cap: usize, jwks: bool) -> Profile {
    let mut t = builtin(url, cap);
    t.insert("conformance".into(), "rfc8936".into());
    t.remove("registration");
    t.remove("request_signing");
    let target = table(&mut t, "target");
    for field in ["token_endpoint", "issuer", "ob_iss", "trust_anchor"] {
        target.remove(field);
    }
    if !jwks {
        target.remove("jwks_url");
    }
    target.insert("api_base".into(), "/open-banking/v3.1/".into());
    let bank = table(&mut t, "bank");
    bank.insert("request_signatures".into(), "ignored".into());
    bank.remove("more_available_required");
    let mut tpps = toml::value::Array::new();
    for name in ["A", "B"] {
        let (client_id, token) = static_token(url).await;
        let mut tpp = toml::Table::new();
        tpp.insert("name".into(), name.into());
        // The client id names the TPP to the trigger and is the SETs' expected `aud`.
        tpp.insert("client_id".into(), client_id.into());
        tpp.insert("auth_method".into(), "bearer".into());
        tpp.insert("access_token".into(), token.into());
        tpps.push(tpp.into());
    }
    t.insert("tpp".into(), tpps.into());
    load(t)
}

/// `conformance = "rfc8936"`, two `[[tpp]]` with static bearer tokens, no token endpoint, no
/// JWKS, no issuer: the profile loads, only RFC-tagged scenarios run, and the sandbox passes them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_rfc8936_transmitter_with_static_tokens_and_no_jwks_is_judged_on_rfc_rules() {
    let cfg = sandbox_config(Bank::Obie, &[]);
    let sandbox = Sandbox::start(cfg.clone(), ":memory:", "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let url = sandbox.url();
    let profile = rfc8936_profile(&url, cfg.max_events_cap, false).await;
    assert!(profile.token_endpoint.is_none() && profile.jwks_url.is_none());
    let o = run_with(profile, None).await;
    sandbox.stop().await;
    assert_clean(&o);
    for s in &o.scenarios {
        if s.verdict != Verdict::NotApplicable {
            assert!(
                s.rules
                    .iter()
                    .all(|r| obevents::harness::profile::RFC_PREFIXES
                        .iter()
                        .any(|p| r.starts_with(p))),
                "{} is judged on {:?}",
                s.name,
                s.rules
            );
        }
    }
    assert!(
        o.count(Verdict::Passed) >= 10,
        "{}",
        o.count(Verdict::Passed)
    );
    assert_eq!(o.count(Verdict::Blocked), 0);
}

/// `bank.polling = false`: every scenario that polls is not applicable, the rest pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bank_without_polling_is_judged_on_its_subscription_api() {
    let cfg = sandbox_config(Bank::Obie, &[]);
    let sandbox = Sandbox::start(cfg.clone(), ":memory:", "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let mut t = builtin(&sandbox.url(), cfg.max_events_cap);
    table(&mut t, "bank").insert("polling".into(), false.into());
    let o = run_with(load(t), None).await;
    sandbox.stop().await;
    assert_clean(&o);
    assert!(
        o.count(Verdict::Passed) >= 20,
        "{}",
        o.count(Verdict::Passed)
    );
    let polling_ran = o
        .scenarios
        .iter()
        .filter(|s| s.verdict != Verdict::NotApplicable)
        .filter(|s| s.tags.iter().any(|t| t == "polling-api"))
        .count();
    assert_eq!(polling_ran, 0);
}

/// `bank.subscription_api = false` with a `[subscribe]` action (here an HTTP template that
/// happens to call the sandbox's own API): TPPs are subscribed through it, the polling scenarios
/// run and pass, the subscription API scenarios are not applicable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bank_without_a_subscription_api_is_subscribed_through_the_profile() {
    let cfg = sandbox_config(Bank::Obie, &[]);
    let sandbox = Sandbox::start(cfg.clone(), ":memory:", "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let mut t = builtin(&sandbox.url(), cfg.max_events_cap);
    table(&mut t, "bank").insert("subscription_api".into(), false.into());
    let mut subscribe = toml::Table::new();
    subscribe.insert("kind".into(), "http".into());
    subscribe.insert(
        "url".into(),
        "{base_url}{api_base}/event-subscriptions".into(),
    );
    subscribe.insert("auth".into(), "tpp-token".into());
    let mut headers = toml::Table::new();
    headers.insert("Content-Type".into(), "application/json".into());
    subscribe.insert("headers".into(), headers.into());
    subscribe.insert("body".into(), r#"{"Data":{"Version":"3.1"}}"#.into());
    subscribe.insert(
        "expect_status".into(),
        toml::Value::Array(vec![201.into(), 409.into()]),
    );
    t.insert("subscribe".into(), subscribe.into());
    let o = run_with(load(t), None).await;
    sandbox.stop().await;
    assert_clean(&o);
    let ran = |tag: &str| {
        o.scenarios
            .iter()
            .filter(|s| s.verdict != Verdict::NotApplicable)
            .filter(|s| s.tags.iter().any(|t| t == tag))
            .count()
    };
    assert_eq!(ran("subscription-api"), 0);
    assert!(ran("polling-api") >= 30, "{}", ran("polling-api"));
}

/// A bank with its own push policy (three retries with jittered back-off), declared by bounds
/// as a bank engineer would from its documentation: every applicable push scenario passes, and
/// the scenarios needing what the profile leaves undeclared (catch-up, request timeout) or
/// declares otherwise (retries already scheduled `follow` the subscription, so the `cancel` and
/// `keep` scenarios) are not applicable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bank_with_its_own_push_policy_is_judged_by_its_declared_bounds() {
    let mut cfg = sandbox_config(Bank::Obie, &[]);
    cfg.push.retry_schedule = [200, 400, 800]
        .into_iter()
        .map(std::time::Duration::from_millis)
        .collect();
    let sandbox = Sandbox::start(cfg.clone(), ":memory:", "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let mut t = builtin(&sandbox.url(), cfg.max_events_cap);
    table(&mut t, "bank").insert("realtime".into(), true.into());
    let mut push = toml::Table::new();
    push.insert("min_retry_delay_ms".into(), 150.into());
    push.insert("max_retry_delay_ms".into(), 1_000.into());
    push.insert("max_attempts".into(), 4.into());
    push.insert("pending_retries".into(), "follow".into());
    t.insert("push".into(), push.into());
    let o = run_tags(load(t), Some("@push"), None).await;
    sandbox.stop().await;
    assert_clean(&o);
    let na = not_applicable(&o);
    // Catch-up and the held answer, and the pending-retries choices other than follow.
    assert_eq!(na.len(), 4, "{na:?}");
    assert!(
        o.count(Verdict::Passed) >= 14,
        "{}",
        o.count(Verdict::Passed)
    );
}

/// SSF stream-configured push (`push.registration = "stream"`): a bank without an OBIE
/// subscription API whose receiver is registered through a stream configuration call, moved by
/// an update and removed by a delete — here calls that happen to reach the sandbox's own API,
/// written as a bank engineer would write them for an SSF `/streams` endpoint. The push
/// scenarios run through those calls and pass; those that need a subscription's PUT (removing a
/// CallbackUrl or a type) are not applicable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bank_that_registers_push_receivers_by_stream_is_judged_through_its_stream_calls() {
    let cfg = sandbox_config(Bank::Obie, &[]);
    let sandbox = Sandbox::start(cfg.clone(), ":memory:", "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let mut declared = declaration(&cfg);
    let push_policy = declared.push.take();
    let mut t: toml::Table = toml::from_str(&sandbox_profile_toml(&sandbox.url(), &{
        let mut d = declared.clone();
        d.push = push_policy;
        d
    }))
    .unwrap();
    let bank = table(&mut t, "bank");
    bank.insert("subscription_api".into(), false.into());
    let push = table(&mut t, "push");
    push.insert("registration".into(), "stream".into());
    push.insert(
        "stream_id_pointer".into(),
        "/Data/EventSubscriptionId".into(),
    );
    let action = |method: &str, url: &str, body: Option<&str>| {
        let mut a = toml::Table::new();
        a.insert("kind".into(), "http".into());
        a.insert("method".into(), method.into());
        a.insert("url".into(), url.into());
        a.insert("auth".into(), "tpp-token".into());
        if let Some(b) = body {
            let mut h = toml::Table::new();
            h.insert("Content-Type".into(), "application/json".into());
            a.insert("headers".into(), h.into());
            a.insert("body".into(), b.into());
        }
        toml::Value::Table(a)
    };
    let streams = "{base_url}{api_base}/event-subscriptions";
    push.insert(
        "stream".into(),
        action(
            "POST",
            streams,
            Some(
                r#"{"Data": {"Version": "3.1", "CallbackUrl": "{endpoint_url}", "EventTypes": {event_types}}}"#,
            ),
        ),
    );
    push.insert(
        "stream_update".into(),
        action(
            "PUT",
            "{base_url}{api_base}/event-subscriptions/{stream_id}",
            Some(
                r#"{"Data": {"EventSubscriptionId": "{stream_id}", "Version": "3.1", "CallbackUrl": "{endpoint_url}"}}"#,
            ),
        ),
    );
    push.insert(
        "stream_delete".into(),
        action(
            "DELETE",
            "{base_url}{api_base}/event-subscriptions/{stream_id}",
            None,
        ),
    );
    let profile = load(t);
    assert!(profile.push_registration.stream().is_some());
    let o = run_tags(profile, Some("@push"), None).await;
    sandbox.stop().await;
    assert_clean(&o);
    let na = not_applicable(&o);
    // A subscription's PUT (removing the CallbackUrl or a type) has no stream counterpart; the
    // sandbox declares pending_retries = "follow", so the other choices' scenarios do not apply.
    assert_eq!(
        na,
        [
            "Removing the CallbackUrl with PUT stops the retries already scheduled, as declared",
            "A PUT that changes the CallbackUrl ends the retries already scheduled, as declared",
            "Deleting the subscription leaves the retries already scheduled running, as declared",
            "An event raised after a PUT removed the CallbackUrl is not pushed to it",
            "An event of a type a PUT removed from the subscription is not pushed",
        ],
        "{na:?}"
    );
    assert!(
        o.count(Verdict::Passed) >= 14,
        "{}",
        o.count(Verdict::Passed)
    );
}

/// The bank's own event types give the scenarios their capabilities: two types of any kind
/// make `@two-event-types`, an OBIE type its own (`@resource-update`), a type of the bank's own
/// none beyond that; at `rfc8936` the long-poll scenarios apply whatever `long_polling` says.
#[test]
fn the_banks_own_event_types_and_rfc8936_give_the_scenarios_their_capabilities() {
    use obevents::harness::plan::capabilities;
    let mut t = builtin("http://127.0.0.1:9", 100);
    let bank = table(&mut t, "bank");
    bank.insert(
        "event_types".into(),
        toml::Value::Array(vec!["payment-created".into(), "resource-update".into()]),
    );
    bank.insert("long_polling".into(), "immediate".into());
    let trigger = table(&mut t, "trigger");
    trigger.remove("event_types");
    let caps = capabilities(&load(t.clone()));
    assert!(caps.contains("two-event-types") && caps.contains("resource-update"));
    assert!(!caps.contains("consent-authorization-revoked"));
    assert!(caps.contains("short-polling-only") && !caps.contains("long-polling"));
    t.insert("conformance".into(), "rfc8936".into());
    table(&mut t, "bank").remove("more_available_required");
    let caps = capabilities(&load(t));
    assert!(
        caps.contains("long-polling"),
        "R8936-08 binds every transmitter"
    );
}
