//! Planning a run: the capabilities a profile declares, and for every scenario (selected by
//! `--tags`) the rules it is judged on and whether it applies, or why not.

use std::collections::HashSet;

use cucumber::gherkin::{Feature, Scenario};
use cucumber::tag::Ext as _;

use super::features::{self, is_capability, is_rule_id};
use super::outcome::{ScenarioRecord, Verdict};
use super::profile::{
    Activation, BankSettings, Clients, Conformance, Dialect, PendingRetries, Profile, PushPolicy,
    RequestSignatures, RetrySpacing, TatraSettings,
};
use crate::model::bank::{LongPolling, SpecVersion, UnknownAck};

/// The capabilities a profile declares (matched against scenario tags).
pub fn capabilities(p: &Profile) -> HashSet<String> {
    let mut caps = Vec::new();
    caps.push(match p.dialect {
        Dialect::Obie | Dialect::Wso2 => "obie-api",
        Dialect::Yapily => "yapily",
        Dialect::Tatra => "tatra",
    });
    if let Some(t) = &p.tatra {
        tatra_capabilities(t, &mut caps);
    }
    if p.yapily.as_ref().is_some_and(|y| y.event_types.len() >= 2) {
        caps.push("yapily-two-types");
    }
    if !p.trigger_types.is_empty() {
        caps.push("trigger");
        // OBIE's types by their short names (the bank's own name no capability).
        caps.extend(
            p.trigger_types
                .iter()
                .filter_map(|t| t.ob.map(|o| o.short())),
        );
        if p.trigger_types.len() >= 2 {
            caps.push("two-event-types");
        }
    }
    polling_capabilities(&p.bank, &mut caps);
    if p.conformance == Conformance::Rfc8936 && !caps.contains(&"long-polling") {
        // R8936-08 is a SHALL for every transmitter: whatever OBIE-style alternative the
        // profile declares, the long-poll scenarios judge it (and the alternatives' own
        // scenarios check OBIE rules only).
        caps.push("long-polling");
    }
    if p.bank.realtime {
        caps.push("realtime");
        push_capabilities(&p.push, &mut caps);
        registration_capabilities(p, &mut caps);
    }
    api_capabilities(p, &mut caps);
    caps.push(match p.spec_version {
        SpecVersion::V3_1_11 => "spec-3.1.11",
        SpecVersion::V3_1_2 => "spec-3.1.2",
    });
    caps.into_iter().map(String::from).collect()
}

/// What the `[tatra]` actions and activation rule let scenarios do.
fn tatra_capabilities(t: &TatraSettings, caps: &mut Vec<&'static str>) {
    let flags = [
        (t.settings.is_some(), "tatra-settings"),
        (t.settings_api(), "tatra-settings-api"),
        (t.can_be_active(), "tatra-active"),
        (t.can_activate(), "tatra-reactivate"),
        // Enabling anew restarts the hour, which an already-active application cannot afford.
        (
            t.settings.is_some() && t.activation == Activation::NextHour && !t.already_active,
            "tatra-next-hour",
        ),
        (t.consent.is_some(), "tatra-consent"),
        (t.refresh.is_some(), "tatra-refresh"),
    ];
    caps.extend(flags.iter().filter(|(on, _)| *on).map(|(_, c)| *c));
}

/// What the bank documents about `POST /events`.
fn polling_capabilities(b: &BankSettings, caps: &mut Vec<&'static str>) {
    caps.push(match b.long_polling {
        LongPolling::Supported => "long-polling",
        LongPolling::Immediate => "short-polling-only",
        LongPolling::Reject => "long-poll-rejected",
    });
    if b.max_events_cap.is_some() {
        caps.push(if b.reject_above_cap {
            "cap-reject"
        } else {
            "cap-truncate"
        });
    }
    caps.push(if b.default_batch.is_some() {
        "default-batch"
    } else {
        "no-default-batch"
    });
    caps.push(match b.unknown_ack {
        UnknownAck::Ignore => "unknown-ack-ignored",
        UnknownAck::Reject => "unknown-ack-rejected",
    });
    caps.push(if b.errored_redelivered {
        "errored-redelivered"
    } else {
        "errored-dropped"
    });
    if b.oldest_first {
        caps.push("oldest-first");
    }
    if b.answers_awaiting_at_once {
        caps.push("answers-awaiting-at-once");
    }
    if b.redelivers_unacked {
        caps.push("redelivers-unacked");
    }
}

/// What the bank declares about its push retries.
fn push_capabilities(push: &PushPolicy, caps: &mut Vec<&'static str>) {
    let flags = [
        (
            push.max_attempts.is_some() && push.spacing != RetrySpacing::Undeclared,
            "push-retry-policy",
        ),
        (!push.retries_4xx, "push-4xx-final"),
        (push.catch_up_polling, "push-catch-up"),
        (push.request_timeout.is_some(), "push-timeout"),
        (
            push.pending_retries.is_some_and(PendingRetries::stop),
            "pending-retries-stop",
        ),
        (
            push.pending_retries == Some(PendingRetries::Cancel),
            "pending-retries-cancel",
        ),
        (
            push.pending_retries == Some(PendingRetries::Follow),
            "pending-retries-follow",
        ),
        (
            push.pending_retries == Some(PendingRetries::Keep),
            "pending-retries-keep",
        ),
    ];
    caps.extend(flags.iter().filter(|(on, _)| *on).map(|(_, c)| *c));
}

/// How push receivers are registered, moved and unregistered: through the subscription API,
/// or through the stream actions the profile names.
fn registration_capabilities(p: &Profile, caps: &mut Vec<&'static str>) {
    let api = p.bank.subscription_api;
    let stream = p.push_registration.stream();
    let flags = [
        (api || stream.is_some(), "push-registration"),
        (
            api || stream.is_some_and(|s| s.delete.is_some()),
            "push-unregister",
        ),
        (
            api || stream.is_some_and(|s| s.update.is_some()),
            "push-reregister",
        ),
    ];
    caps.extend(flags.iter().filter(|(on, _)| *on).map(|(_, c)| *c));
}

/// Which APIs, signatures and scopes the bank offers.
fn api_capabilities(p: &Profile, caps: &mut Vec<&'static str>) {
    if p.bank.callback_urls {
        caps.push("callback-urls");
    }
    match p.bank.request_signatures {
        RequestSignatures::Ignored => {}
        RequestSignatures::Verified => caps.push("request-signing"),
        RequestSignatures::Required => {
            caps.extend(["request-signing", "request-signing-required"]);
        }
    }
    if p.bank.response_signatures && p.jwks_url.is_some() {
        caps.push("response-signing");
    }
    if p.jwks_url.is_some() {
        caps.push("jwks");
    }
    if p.bank.polling {
        caps.push("polling-api");
    }
    if p.bank.subscription_api {
        caps.push("subscription-api");
    }
    let restricted = match &p.clients {
        Clients::Register(r) => r.restricted_scope.is_some(),
        Clients::Fixed(t) => t.iter().all(|t| t.restricted_scope.is_some()),
    };
    if restricted {
        caps.push("restricted-scope");
    }
}

/// A scenario as the run plans it.
pub struct Planned {
    pub key: (String, usize),
    pub record: ScenarioRecord,
    pub run: bool,
}

pub fn all_tags(f: &Feature, s: &Scenario) -> Vec<String> {
    let mut tags: Vec<String> = f.tags.iter().chain(s.tags.iter()).cloned().collect();
    tags.dedup();
    tags
}

/// The rule tags a scenario is judged on at the profile's conformance level.
pub fn judged_rules(tags: &[String], conformance: Conformance) -> Vec<String> {
    tags.iter()
        .filter(|t| is_rule_id(t) && conformance.judges(t))
        .cloned()
        .collect()
}

pub fn plan(
    features: &[Feature],
    conformance: Conformance,
    caps: &HashSet<String>,
    tags: Option<&cucumber::gherkin::tagexpr::TagOperation>,
) -> Vec<Planned> {
    let mut out = Vec::new();
    for f in features {
        let path = f
            .path
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        for s in f
            .scenarios
            .iter()
            .chain(f.rules.iter().flat_map(|r| r.scenarios.iter()))
        {
            let tag_list = all_tags(f, s);
            if let Some(expr) = tags
                && !expr.eval(tag_list.iter())
            {
                continue;
            }
            // Every bank scenario speaks one dialect: one tagged with a dialect speaks it, the
            // others speak OBIE's API. A TPP scenario (area `tpp-…`) judges no bank API.
            let obie = (!tag_list
                .iter()
                .any(|t| t == "yapily" || t == "tatra" || t.starts_with("tpp-")))
            .then_some("obie-api");
            let missing: Vec<String> = tag_list
                .iter()
                .map(String::as_str)
                .chain(obie)
                .filter(|t| is_capability(t) && !caps.contains(*t))
                .map(|t| {
                    let setting = features::capability_setting(t).unwrap_or("");
                    format!("{setting} (@{t})")
                })
                .collect();
            let rules: Vec<String> = judged_rules(&tag_list, conformance);
            let reason = if !missing.is_empty() {
                Some(format!("needs {}", missing.join("; ")))
            } else if rules.is_empty() {
                Some(format!(
                    "conformance = \"{}\": the scenario checks no rule this level holds a bank to",
                    conformance.name()
                ))
            } else {
                None
            };
            let run = reason.is_none();
            out.push(Planned {
                key: (path.clone(), s.position.line),
                run,
                record: ScenarioRecord {
                    feature: f.name.clone(),
                    path: path.clone(),
                    name: s.name.clone(),
                    line: s.position.line,
                    tags: tag_list,
                    primary: rules.first().cloned(),
                    rules,
                    verdict: if run {
                        Verdict::Failed
                    } else {
                        Verdict::NotApplicable
                    },
                    failed_rules: Vec::new(),
                    reason,
                    failed_step: None,
                    duration_ms: 0,
                    evidence: Vec::new(),
                    unfold: Vec::new(),
                    receiver: Vec::new(),
                },
            });
        }
    }
    out
}
