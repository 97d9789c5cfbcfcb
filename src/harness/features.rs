//! The feature files: embedded in the binary as the default suite, or read from `--features`,
//! parsed and with Scenario Outlines expanded, plus which tags are rule IDs and which are
//! capabilities a profile must declare.

use std::path::Path;

use cucumber::feature::Ext as _;
use cucumber::gherkin::{Feature, GherkinEnv};

/// The built-in suite: `(path, text)`.
pub const EMBEDDED: &[(&str, &str)] = &[
    (
        "features/subscriptions.feature",
        include_str!("../../features/subscriptions.feature"),
    ),
    (
        "features/callback_urls.feature",
        include_str!("../../features/callback_urls.feature"),
    ),
    (
        "features/polling.feature",
        include_str!("../../features/polling.feature"),
    ),
    (
        "features/long_polling.feature",
        include_str!("../../features/long_polling.feature"),
    ),
    (
        "features/malformed_requests.feature",
        include_str!("../../features/malformed_requests.feature"),
    ),
    (
        "features/sets.feature",
        include_str!("../../features/sets.feature"),
    ),
    (
        "features/common.feature",
        include_str!("../../features/common.feature"),
    ),
    (
        "features/isolation.feature",
        include_str!("../../features/isolation.feature"),
    ),
    (
        "features/bank_deviations.feature",
        include_str!("../../features/bank_deviations.feature"),
    ),
    (
        "features/message_signing.feature",
        include_str!("../../features/message_signing.feature"),
    ),
    (
        "features/realtime.feature",
        include_str!("../../features/realtime.feature"),
    ),
    (
        "features/yapily.feature",
        include_str!("../../features/yapily.feature"),
    ),
    (
        "features/tatra.feature",
        include_str!("../../features/tatra.feature"),
    ),
];

/// The built-in TPP suite (`obevents test --tpp`): `(path, text)`.
pub const EMBEDDED_TPP: &[(&str, &str)] = &[
    (
        "features/tpp_push.feature",
        include_str!("../../features/tpp_push.feature"),
    ),
    (
        "features/tpp_yapily.feature",
        include_str!("../../features/tpp_yapily.feature"),
    ),
    (
        "features/tpp_tatra.feature",
        include_str!("../../features/tpp_tatra.feature"),
    ),
    (
        "features/tpp_polling.feature",
        include_str!("../../features/tpp_polling.feature"),
    ),
];

/// Capability tags: a scenario carrying one runs only if the profile declares it.
pub const CAPABILITIES: &[(&str, &str)] = &[
    (
        "trigger",
        "the profile can make events happen (a trigger other than none)",
    ),
    (
        "resource-update",
        "the trigger can raise resource-update events",
    ),
    (
        "consent-authorization-revoked",
        "the trigger can raise consent-authorization-revoked events",
    ),
    (
        "account-access-consent-linked-account-update",
        "the trigger can raise linked-account-update events",
    ),
    (
        "two-event-types",
        "the trigger can raise at least two event types",
    ),
    (
        "polling-api",
        "bank.polling = true (the default): the bank offers POST /events",
    ),
    (
        "subscription-api",
        "bank.subscription_api = true (the default): the bank offers the Event Subscription API",
    ),
    (
        "jwks",
        "target.jwks_url is set, so SET signatures can be verified",
    ),
    ("long-polling", "bank.long_polling = \"supported\""),
    ("short-polling-only", "bank.long_polling = \"immediate\""),
    ("long-poll-rejected", "bank.long_polling = \"reject\""),
    (
        "cap-truncate",
        "bank.max_events_cap set with above_cap = \"truncate\"",
    ),
    (
        "cap-reject",
        "bank.max_events_cap set with above_cap = \"reject\"",
    ),
    ("default-batch", "bank.default_batch set"),
    ("no-default-batch", "bank.default_batch not set"),
    ("unknown-ack-ignored", "bank.unknown_ack = \"ignore\""),
    ("unknown-ack-rejected", "bank.unknown_ack = \"reject\""),
    ("errored-redelivered", "bank.errored_redelivered = true"),
    ("errored-dropped", "bank.errored_redelivered = false"),
    ("callback-urls", "bank.callback_urls = true"),
    (
        "obie-api",
        "dialect = \"obie\" (the default): the OBIE event notification API",
    ),
    (
        "yapily",
        "dialect = \"yapily\": the Yapily-style notification API",
    ),
    (
        "yapily-two-types",
        "yapily.event_types lists at least two event type ids",
    ),
    ("tatra", "dialect = \"tatra\": Tatra-banka-style webhooks"),
    (
        "tatra-settings",
        "tatra.settings (how webhook settings are applied)",
    ),
    (
        "tatra-settings-api",
        "tatra.settings with kind = \"http\" (the settings are an API)",
    ),
    (
        "tatra-active",
        "tatra.settings with tatra.activation = \"immediate\", a tatra.activate action or tatra.already_active",
    ),
    (
        "tatra-reactivate",
        "tatra.settings with tatra.activation = \"immediate\" or a tatra.activate action",
    ),
    (
        "tatra-next-hour",
        "tatra.activation = \"next-hour\" (the default) with tatra.settings, not tatra.already_active",
    ),
    ("tatra-consent", "tatra.consent (how to create a consent)"),
    ("tatra-refresh", "tatra.refresh (how to start PUT /refresh)"),
    ("realtime", "bank.realtime = true"),
    (
        "push-retry-policy",
        "push.retry_schedule_ms (or min/max_retry_delay_ms with push.max_attempts)",
    ),
    ("push-4xx-final", "push.retries_4xx = false (the default)"),
    ("push-catch-up", "push.catch_up_polling = true"),
    ("push-timeout", "push.request_timeout_ms set"),
    (
        "push-registration",
        "the subscription API (bank.subscription_api) or push.registration = \"stream\" with push.stream",
    ),
    (
        "push-unregister",
        "the subscription API, or push.stream_delete with push.registration = \"stream\"",
    ),
    (
        "push-reregister",
        "the subscription API, or push.stream_update with push.registration = \"stream\"",
    ),
    (
        "pending-retries-stop",
        "push.pending_retries = \"cancel\" or \"follow\" (retries already scheduled stop when \
         the subscription is deleted or its URL removed)",
    ),
    (
        "pending-retries-cancel",
        "push.pending_retries = \"cancel\" (retries already scheduled stop when the URL changes)",
    ),
    (
        "pending-retries-follow",
        "push.pending_retries = \"follow\" (retries already scheduled move to a changed URL)",
    ),
    (
        "pending-retries-keep",
        "push.pending_retries = \"keep\" (retries already scheduled go on to the URL of the \
         event's time)",
    ),
    (
        "request-signing",
        "bank.request_signatures = \"verified\" or \"required\"",
    ),
    (
        "request-signing-required",
        "bank.request_signatures = \"required\"",
    ),
    ("response-signing", "bank.response_signatures = true"),
    (
        "restricted-scope",
        "a restricted scope is configured (registration.restricted_scope or tpp.restricted_scope)",
    ),
    (
        "spec-3.1.11",
        "spec_version 3.1.4 or later (closed request objects)",
    ),
    ("spec-3.1.2", "spec_version 3.1.2 or 3.1.3"),
    (
        "oldest-first",
        "bank.oldest_first = true (the bank documents oldest-first delivery)",
    ),
    (
        "answers-awaiting-at-once",
        "bank.answers_awaiting_at_once = true (RFC 8936 lets a bank hold a long poll even with \
         SETs awaiting, R8936-18)",
    ),
    (
        "tpp-receiver",
        "the TPP profile names a push receiver ([push] url)",
    ),
    (
        "tpp-observation",
        "the TPP profile says how to see what the TPP processed ([observe])",
    ),
    (
        "tpp-yapily-receiver",
        "the TPP profile names a Yapily-style receiver ([yapily] url)",
    ),
    (
        "tpp-tatra-receiver",
        "the TPP profile names a Tatra-style receiver ([tatra] url)",
    ),
    (
        "tpp-tatra-authorization",
        "the TPP profile's [tatra] section names the security header the TPP configured \
         ([tatra] authorization)",
    ),
    (
        "tpp-poller",
        "the TPP profile describes its polling client ([polling])",
    ),
    (
        "redelivers-unacked",
        "bank.redelivers_unacked = true (the default with conformance = \"obie\"; RFC 8936 \
         makes redelivery a MAY, R8936-19, and OBIE lets a bank operate without \
         acknowledgements, AP-15)",
    ),
];

/// Area tags: one per feature, so `--tags` can select an area (`--tags @polling`).
pub const AREAS: &[&str] = &[
    "subscriptions",
    "callbacks",
    "polling",
    "long-polls",
    "malformed",
    "sets",
    "common",
    "isolation",
    "deviations",
    "signing",
    "push",
    "yapily",
    "tatra",
    "tpp-push",
    "tpp-yapily",
    "tpp-tatra",
    "tpp-polling",
];

pub fn is_area(tag: &str) -> bool {
    AREAS.contains(&tag)
}

/// What a profile must say for a scenario tagged with capability `tag` to apply.
pub fn capability_setting(tag: &str) -> Option<&'static str> {
    CAPABILITIES
        .iter()
        .find(|(c, _)| *c == tag)
        .map(|(_, d)| *d)
}

/// Is `tag` (without `@`) a rule ID such as `AP-09` or `R8936-11`? Other tags are capabilities
/// or areas.
///
/// ```
/// use obevents::harness::features::{is_capability, is_rule_id};
/// assert!(is_rule_id("R8936-11") && is_rule_id("G-06"));
/// assert!(!is_rule_id("long-polling") && is_capability("long-polling"));
/// ```
pub fn is_rule_id(tag: &str) -> bool {
    let Some((prefix, number)) = tag.rsplit_once('-') else {
        return false;
    };
    !prefix.is_empty()
        && prefix
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_uppercase())
        && prefix
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        && !number.is_empty()
        && number.chars().all(|c| c.is_ascii_digit())
}

pub fn is_capability(tag: &str) -> bool {
    CAPABILITIES.iter().any(|(c, _)| *c == tag)
}

fn parse_one(path: &str, text: &str) -> Result<Feature, String> {
    let mut f = Feature::parse(text, GherkinEnv::default()).map_err(|e| format!("{path}: {e}"))?;
    f.path = Some(path.into());
    f.expand_examples().map_err(|e| format!("{path}: {e}"))
}

/// The built-in features, parsed and expanded.
pub fn embedded() -> Result<Vec<Feature>, String> {
    EMBEDDED.iter().map(|(p, t)| parse_one(p, t)).collect()
}

/// The built-in TPP features, parsed and expanded.
pub fn embedded_tpp() -> Result<Vec<Feature>, String> {
    EMBEDDED_TPP.iter().map(|(p, t)| parse_one(p, t)).collect()
}

/// Both built-in suites: the bank's, then the TPP's.
pub fn embedded_all() -> Result<Vec<Feature>, String> {
    let mut all = embedded()?;
    all.extend(embedded_tpp()?);
    Ok(all)
}

/// Every `.feature` file in `dir` (sorted), parsed and expanded.
pub fn from_dir(dir: &Path) -> Result<Vec<Feature>, String> {
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| format!("--features {}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "feature"))
        .collect();
    paths.sort();
    if paths.is_empty() {
        return Err(format!(
            "--features {}: no .feature files there",
            dir.display()
        ));
    }
    paths
        .iter()
        .map(|p| {
            let text = std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?;
            parse_one(&p.display().to_string(), &text)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_scenario_has_a_rule_tag_and_only_known_tags() {
        for f in embedded_all().unwrap() {
            for s in f
                .scenarios
                .iter()
                .chain(f.rules.iter().flat_map(|r| r.scenarios.iter()))
            {
                let tags: Vec<&String> = f.tags.iter().chain(s.tags.iter()).collect();
                assert_eq!(
                    tags.iter().filter(|t| is_area(t)).count(),
                    1,
                    "{}: {} needs exactly one area tag",
                    f.name,
                    s.name
                );
                assert!(
                    tags.iter().any(|t| is_rule_id(t)),
                    "{}: {} has no rule tag",
                    f.name,
                    s.name
                );
                for t in tags {
                    assert!(
                        is_rule_id(t) || is_capability(t) || is_area(t),
                        "{}: {} has unknown tag @{t}",
                        f.name,
                        s.name
                    );
                }
            }
        }
    }

    #[test]
    fn rule_ids() {
        assert!(is_rule_id("AP-09"));
        assert!(is_rule_id("R8936-11"));
        assert!(!is_rule_id("long-polling"));
        assert!(!is_rule_id("spec-3.1.11"));
    }
}
