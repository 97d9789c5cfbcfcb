//! Planning a run: the capabilities a profile declares, and for every scenario (selected by
//! `--tags`) the rules it is judged on and whether it applies, or why not.

use std::collections::HashSet;

use cucumber::gherkin::{Feature, Scenario};
use cucumber::tag::Ext as _;

use super::features::{self, is_capability, is_rule_id};
use super::outcome::{ScenarioRecord, Verdict};
use super::profile::{Clients, Conformance, Dialect, Profile, RequestSignatures};
use crate::model::bank::{LongPolling, SpecVersion, UnknownAck};

/// The capabilities a profile declares (matched against scenario tags).
pub fn capabilities(p: &Profile) -> HashSet<String> {
    let mut caps = HashSet::new();
    let mut add = |c: &str| {
        caps.insert(c.to_string());
    };
    add(match p.dialect {
        Dialect::Obie => "obie-api",
        Dialect::Yapily => "yapily",
        Dialect::Tatra => "tatra",
    });
    if let Some(t) = &p.tatra {
        if t.settings.is_some() {
            add("tatra-settings");
        }
        if t.settings_api() {
            add("tatra-settings-api");
        }
        if t.can_be_active() {
            add("tatra-active");
        }
        if t.can_activate() {
            add("tatra-reactivate");
        }
        // Enabling anew restarts the hour, which an already-active application cannot afford.
        if t.settings.is_some()
            && t.activation == super::profile::Activation::NextHour
            && !t.already_active
        {
            add("tatra-next-hour");
        }
        if t.consent.is_some() {
            add("tatra-consent");
        }
        if t.refresh.is_some() {
            add("tatra-refresh");
        }
    }
    if p.yapily.as_ref().is_some_and(|y| y.event_types.len() >= 2) {
        add("yapily-two-types");
    }
    if !p.trigger_types.is_empty() {
        add("trigger");
        for t in &p.trigger_types {
            add(t.short());
        }
        if p.trigger_types.len() >= 2 {
            add("two-event-types");
        }
    }
    match p.bank.long_polling {
        LongPolling::Supported => add("long-polling"),
        LongPolling::Immediate => add("short-polling-only"),
        LongPolling::Reject => add("long-poll-rejected"),
    }
    if p.bank.max_events_cap.is_some() {
        add(if p.bank.reject_above_cap {
            "cap-reject"
        } else {
            "cap-truncate"
        });
    }
    add(if p.bank.default_batch.is_some() {
        "default-batch"
    } else {
        "no-default-batch"
    });
    add(match p.bank.unknown_ack {
        UnknownAck::Ignore => "unknown-ack-ignored",
        UnknownAck::Reject => "unknown-ack-rejected",
    });
    add(if p.bank.errored_redelivered {
        "errored-redelivered"
    } else {
        "errored-dropped"
    });
    if p.bank.callback_urls {
        add("callback-urls");
    }
    if p.bank.realtime {
        add("realtime");
        let push = &p.push;
        if push.max_attempts.is_some() && push.spacing != super::profile::RetrySpacing::Undeclared {
            add("push-retry-policy");
        }
        if !push.retries_4xx {
            add("push-4xx-final");
        }
        if push.catch_up_polling {
            add("push-catch-up");
        }
        if push.request_timeout.is_some() {
            add("push-timeout");
        }
    }
    match p.bank.request_signatures {
        RequestSignatures::Ignored => {}
        RequestSignatures::Verified => add("request-signing"),
        RequestSignatures::Required => {
            add("request-signing");
            add("request-signing-required");
        }
    }
    if p.bank.oldest_first {
        add("oldest-first");
    }
    if p.bank.response_signatures && p.jwks_url.is_some() {
        add("response-signing");
    }
    if p.jwks_url.is_some() {
        add("jwks");
    }
    if p.bank.polling {
        add("polling-api");
    }
    if p.bank.subscription_api {
        add("subscription-api");
    }
    let restricted = match &p.clients {
        Clients::Register(r) => r.restricted_scope.is_some(),
        Clients::Fixed(t) => t.iter().all(|t| t.restricted_scope.is_some()),
    };
    if restricted {
        add("restricted-scope");
    }
    add(match p.spec_version {
        SpecVersion::V3_1_11 => "spec-3.1.11",
        SpecVersion::V3_1_2 => "spec-3.1.2",
    });
    caps
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
            // Every scenario speaks one dialect: one tagged with a dialect speaks it, the others
            // speak OBIE's API.
            let obie =
                (!tag_list.iter().any(|t| t == "yapily" || t == "tatra")).then_some("obie-api");
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
                Some("conformance = \"rfc8936\": the scenario checks OBIE rules only".to_string())
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
                },
            });
        }
    }
    out
}
