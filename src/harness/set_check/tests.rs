//! The SET checks against SETs the sandbox builds, clean and with each SET fault.

use super::*;
use crate::harness::profile::Profile;
use crate::model::EventType;
use crate::sandbox::dialects::obie::events::EventSpec;
use crate::sandbox::{AppState, Bank, Fault, Faults, SandboxConfig};
use std::sync::Arc;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// A sandbox state (no server) whose issuer is `url`, with `faults`, and the SET it builds.
async fn set_from(url: &str, faults: &[Fault]) -> (AppState, String, String) {
    let mut cfg = SandboxConfig::for_bank(Bank::Obie);
    cfg.public_url = Some(url.to_string());
    cfg.faults = Faults::new(faults.iter().copied());
    let state = crate::sandbox::app::build_state(cfg, ":memory:", "127.0.0.1:1".parse().unwrap())
        .await
        .unwrap();
    let event = crate::sandbox::dialects::obie::set::build(
        &state,
        &state.cfg.faults,
        &EventSpec {
            client_id: "tpp-1".into(),
            event_type: EventType::ConsentAuthorizationRevoked,
            resource_id: "aac-1".into(),
            resource_type: "account-access-consent".into(),
            reason: None,
            txn: None,
        },
    )
    .unwrap();
    (state, event.jti, event.token.unwrap())
}

/// A wiremock server serving the JWKS of a clean sandbox state, that state with the SET it
/// built, and a run context
/// whose profile is the sandbox's built-in one at the server's URL.
async fn checker() -> (MockServer, (AppState, String, String), Arc<RunContext>) {
    let server = MockServer::start().await;
    let (state, jti, token) = set_from(&server.uri(), &[]).await;
    let jwks = crate::jose::jwks_json(&[state.key.public_jwk()]);
    Mock::given(method("GET"))
        .and(path("/jwks"))
        .respond_with(ResponseTemplate::new(200).set_body_json(jwks))
        .mount(&server)
        .await;
    let mut declared = crate::sandbox::embedded::declaration(&SandboxConfig::for_bank(Bank::Obie));
    declared.push = None;
    let profile = Profile::for_sandbox(&server.uri(), &declared).unwrap();
    let ctx = Arc::new(RunContext::new(profile).unwrap());
    (server, (state, jti, token), ctx)
}

/// A SET whose OB JOSE header lacks `crit` breaks one rule in two ways the checks see (the
/// header schema and the OB header rules): one problem per SET, and one finding for any number
/// of SETs and scenarios, with its count (issue 19 §4).
#[tokio::test]
async fn a_missing_crit_is_one_defect_however_many_sets_show_it() {
    use crate::harness::defects::{Occurrence, group};
    let (server, (state, _, _), ctx) = checker().await;
    let mut seen = Vec::new();
    for scenario in ["a:1 one", "b:2 two"] {
        let mut occurrences = Vec::new();
        for _ in 0..3 {
            let (_, jti, token) = set_from(&server.uri(), &[]).await;
            let decoded = crate::jose::decode_compact(&token).unwrap();
            let mut header = decoded.header.clone();
            assert!(
                header.remove("crit").is_some(),
                "the sandbox's SETs carry crit"
            );
            header.insert("kid".into(), Value::String(state.key.kid().to_string()));
            let token = crate::jose::sign_compact(&state.key, &header, &decoded.payload).unwrap();
            let problems = ctx.check_set(&jti, &token, "tpp-1").await.problems;
            let kinds: Vec<&str> = problems.iter().map(|p| p.kind.as_str()).collect();
            assert_eq!(kinds, ["set-header:crit"], "{problems:?}");
            assert!(problems[0].rules.contains(&"J-05".to_string()));
            occurrences.extend(problems.into_iter().map(|p| Occurrence::new(p, None)));
        }
        seen.push((scenario.to_string(), occurrences));
    }
    let findings = group(seen);
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert_eq!(
        (findings[0].occurrences, findings[0].scenarios.len()),
        (6, 2)
    );
}

/// The harness's checks of SETs built by the sandbox: a clean SET passes, each SET fault is
/// reported under the rule it breaks. The bank's JWKS is served by a wiremock server.
#[tokio::test]
async fn set_checks_accept_a_good_set_and_name_the_rule_of_each_defect() {
    let (server, (clean_state, jti, token), ctx) = checker().await;
    let url = server.uri();

    let good = ctx.check_set(&jti, &token, "tpp-1").await;
    assert!(good.problems.is_empty(), "{:?}", good.problems);
    assert!(
        !ctx.check_set(&jti, &token, "someone-else")
            .await
            .problems
            .is_empty()
    );

    // Each faulty SET is re-signed with the key the JWKS holds (keeping its alg and any
    // wrong kid), so only the fault's own change can be found.
    let cases: &[(Fault, &str)] = &[
        (Fault::SetUnsigned, "R8417-16"),
        (Fault::SetRs256, "J-02"),
        (Fault::SetWrongKid, "J-03"),
        (Fault::SetMissingTxn, "N-02"),
        (Fault::SetIatFuture, "R8417-07"),
        (Fault::SetEventsString, "R8417-02"),
        (Fault::SetWrongAud, "N-02/R8417-09"),
        (Fault::SetsKeyNotJti, "AP-13"),
    ];
    for (fault, rule) in cases {
        let mut cfg = clean_state.cfg.clone();
        cfg.faults = Faults::new([*fault]);
        let state =
            crate::sandbox::app::build_state(cfg, ":memory:", "127.0.0.1:1".parse().unwrap())
                .await
                .unwrap();
        let mut faulty = build_with_key(&state, &clean_state);
        if *fault == Fault::SetsKeyNotJti {
            // That fault changes only the key a poll serves the SET under.
            faulty.0 = crate::sandbox::dialects::obie::polling::sets_key_not_jti(&faulty.0);
        }
        let checked = ctx.check_set(&faulty.0, &faulty.1, "tpp-1").await;
        assert!(
            checked
                .problems
                .iter()
                .any(|p| rule.split('/').all(|r| p.rules.iter().any(|x| x == r))),
            "{fault}: expected a {rule} problem, got {:?}",
            checked.problems
        );
    }
    // A key the JWKS does not hold: the signature cannot be verified.
    let (_, jti, token) = set_from(&url, &[Fault::SetForeignKey]).await;
    let checked = ctx.check_set(&jti, &token, "tpp-1").await;
    assert!(
        checked
            .problems
            .iter()
            .any(|p| p.message().starts_with("J-03") || p.message().starts_with("J-06")),
        "{:?}",
        checked.problems
    );
}

/// Builds a SET with `faulty`'s faults but `keyed`'s signing key (states differ only in key).
fn build_with_key(faulty: &AppState, keyed: &AppState) -> (String, String) {
    let spec = EventSpec {
        client_id: "tpp-1".into(),
        event_type: EventType::ConsentAuthorizationRevoked,
        resource_id: "aac-2".into(),
        resource_type: "account-access-consent".into(),
        reason: None,
        txn: None,
    };
    let event =
        crate::sandbox::dialects::obie::set::build(faulty, &faulty.cfg.faults, &spec).unwrap();
    let decoded = crate::jose::decode_compact(event.token.as_deref().unwrap()).unwrap();
    let mut header = decoded.header.clone();
    if header.get("kid").and_then(Value::as_str) == Some(faulty.key.kid()) {
        header.insert("kid".into(), Value::String(keyed.key.kid().to_string()));
    }
    let token = crate::jose::sign_compact(&keyed.key, &header, &decoded.payload).unwrap();
    (event.jti, token)
}

#[test]
fn duplicate_members_are_found() {
    assert_eq!(
        duplicate_member(br#"{"a":1,"b":{"c":1,"c":2}}"#).as_deref(),
        Some("/b/c")
    );
    assert_eq!(duplicate_member(br#"{"a":[{"x":1},{"x":2}]}"#), None);
}
