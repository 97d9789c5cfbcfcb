//! The built-in profile of the embedded sandbox, derived from what the sandbox declares about
//! its personality (a `model` [`Declaration`]; the example files in `fixtures/profiles/` hold
//! the same content).

use std::path::Path;

use super::{Profile, ProfileError, ProfileFile};
use crate::model::bank::{AboveCap, Declaration, LongPolling, PushDeclaration, UnknownAck};

impl Profile {
    /// The built-in profile for an obevents sandbox at `base_url` that declares `d`:
    /// per-scenario clients via `/register`, the `/sandbox/events` trigger, and the
    /// personality's documented settings. `fixtures/profiles/<bank>.toml` hold the same content
    /// as files.
    pub fn for_sandbox(base_url: &str, d: &Declaration) -> Result<Profile, ProfileError> {
        let file = sandbox_profile_toml(base_url, d);
        let parsed: ProfileFile =
            toml::from_str(&file).map_err(|e| ProfileError(format!("built-in profile: {e}")))?;
        Profile::from_file(parsed, Path::new("."), None)
    }
}

/// The TOML of the built-in sandbox profile (also what `fixtures/profiles/*.toml` contain).
pub fn sandbox_profile_toml(base_url: &str, p: &Declaration) -> String {
    let bank_section = bank_toml(p);
    let push_section = p.push.as_ref().map(push_toml).unwrap_or_default();
    format!(
        r#"name = "obevents sandbox ({bank})"
spec_version = "{spec}"

[target]
base_url = "{base_url}"
token_endpoint = "/token"
jwks_url = "/jwks"
issuer = "{{base_url}}"
ob_iss = "0015800001041RObev"
trust_anchor = "openbanking.org.uk"

[registration]
endpoint = "/register"
scope = "accounts payments fundsconfirmations eventpolling"
restricted_scope = "openid"

[request_signing]
iss = "obevents-harness"

[trigger]
kind = "http"
method = "POST"
url = "/sandbox/events"
auth = "tpp-token"
headers = {{ "Content-Type" = "application/json" }}
body = '{{"clientId":"{{client_id}}","eventType":"{{event_type}}","resourceId":"{{resource_id}}","resourceType":"{{resource_type}}"}}'
expect_status = [200, 201]

{bank_section}
[timing]
event_timeout_ms = 5000
clock_skew_secs = 60
{push_section}"#,
        bank = p.name,
        spec = p.spec_version.as_str(),
    )
}

/// The `[bank]` section: what the personality documents about its polling API.
fn bank_toml(p: &Declaration) -> String {
    let long_polling = match p.long_polling {
        LongPolling::Supported => "supported",
        LongPolling::Immediate => "immediate",
        LongPolling::Reject => "reject",
    };
    let types: Vec<String> = p
        .event_types
        .iter()
        .map(|t| format!("\"{}\"", t.code()))
        .collect();
    let above = match p.above_cap {
        AboveCap::Reject => "reject",
        AboveCap::Truncate => "truncate",
    };
    let default_batch = p
        .default_batch
        .map(|n| format!("default_batch = {n}\n"))
        .unwrap_or_default();
    let unknown_ack = match p.unknown_ack {
        UnknownAck::Ignore => "ignore",
        UnknownAck::Reject => "reject",
    };
    format!(
        r#"[bank]
long_polling = "{long_polling}"
long_poll_timeout_ms = {lpt}
max_events_cap = {cap}
above_cap = "{above}"
{default_batch}unknown_ack = "{unknown_ack}"
poll_success_status = [{status}]
errored_redelivered = {errored}
event_types = [{types}]
subscription_version = "3.1"
callback_urls = true
realtime = {realtime}
request_signatures = "{sigs}"
response_signatures = true
more_available_required = true
oldest_first = true
answers_awaiting_at_once = true
redelivers_unacked = true
"#,
        lpt = p.long_poll_timeout.as_millis(),
        cap = p.max_events_cap,
        status = p.poll_status,
        errored = p.errored_redelivered,
        types = types.join(", "),
        realtime = p.push.is_some(),
        sigs = if p.signatures_required {
            "required"
        } else {
            "verified"
        },
    )
}

/// The `[push]` section declaring the sandbox's push policy: retries per its schedule, 4xx
/// final, failed SETs left for polling (R-09), retries already scheduled cancelled with the
/// subscription and moved with its URL (`follow`), plain http callbacks on loopback.
fn push_toml(d: &PushDeclaration) -> String {
    let schedule: Vec<String> = d
        .retry_schedule
        .iter()
        .map(|s| s.as_millis().to_string())
        .collect();
    format!(
        r#"
[push]
retry_schedule_ms = [{schedule}]
request_timeout_ms = {timeout}
retries_4xx = false
pending_retries = "follow"
catch_up_polling = true
accepts_http_callbacks = true
first_push_timeout_ms = 5000
timing_slack_ms = 500
"#,
        schedule = schedule.join(", "),
        timeout = d.request_timeout.as_millis(),
    )
}

/// The TOML of the built-in Tatra-style profile (also `fixtures/profiles/tatra-webhooks.toml`):
/// the sandbox's documented settings, consent, refresh and transaction endpoints, its
/// next-hour activation hurried by `/sandbox/tatra/webhook-settings/activate`, and its push
/// policy, under which every non-2xx answer is retried.
pub fn tatra_profile_toml(base_url: &str, push: &PushDeclaration) -> String {
    let push = push_toml(push).replace("retries_4xx = false", "retries_4xx = true");
    format!(
        r#"name = "obevents sandbox (tatra dialect)"
dialect = "tatra"

[target]
base_url = "{base_url}"

[registration]
endpoint = "/register"

[trigger]
kind = "http"
method = "POST"
url = "/sandbox/tatra/transactions"
auth = "tpp-basic"
headers = {{ "Content-Type" = "application/json" }}
body = '{{"consentId":"{{consent_id}}","accountIds":{{account_ids}}}}'
expect_status = [200, 201, 202]

[tatra]
home_bank = "TATR"
activation = "next-hour"
refresh_timeout_ms = 5000

[tatra.settings]
kind = "http"
method = "PUT"
url = "/premium/sandbox/v1/webhook-settings"
auth = "tpp-basic"
headers = {{ "Content-Type" = "application/json" }}
body = '{{"enabled":{{enabled}},"url":"{{webhook_url}}","securityHeader":"{{security_header}}"}}'
expect_status = [200]

[tatra.activate]
kind = "http"
method = "POST"
url = "/sandbox/tatra/webhook-settings/activate"
auth = "tpp-basic"
expect_status = [200]

[tatra.consent]
kind = "http"
method = "POST"
url = "/premium/sandbox/v1/consents"
auth = "tpp-basic"
headers = {{ "Content-Type" = "application/json", "X-Request-ID" = "{{interaction_id}}" }}
body = '{{"accounts":[{{"bankCode":"TATR"}},{{"bankCode":"TATR"}},{{"bankCode":"SLSP"}},{{"bankCode":"SUBA"}},{{"bankCode":"SUBA"}}]}}'
expect_status = [201]

[tatra.refresh]
kind = "http"
method = "PUT"
url = "/premium/sandbox/v1/consents/{{consent_id}}/refresh"
auth = "tpp-basic"
headers = {{ "X-Request-ID" = "{{interaction_id}}" }}
expect_status = [202]

[bank]
realtime = true

[timing]
event_timeout_ms = 5000
clock_skew_secs = 5
{push}"#
    )
}

impl Profile {
    /// The built-in profile for the Tatra-style webhooks of an obevents sandbox of the `tatra`
    /// personality at `base_url` whose push policy is `push`.
    pub fn for_tatra_sandbox(
        base_url: &str,
        push: &PushDeclaration,
    ) -> Result<Profile, ProfileError> {
        let parsed: ProfileFile = toml::from_str(&tatra_profile_toml(base_url, push))
            .map_err(|e| ProfileError(format!("built-in Tatra profile: {e}")))?;
        Profile::from_file(parsed, Path::new("."), None)
    }

    /// The built-in profile for the Yapily-style API of an obevents sandbox of the `yapily`
    /// personality at `base_url` whose push policy is `push`: applications registered per
    /// scenario, events raised with `/sandbox/yapily/events` and the application's credentials.
    pub fn for_yapily_sandbox(
        base_url: &str,
        push: &PushDeclaration,
    ) -> Result<Profile, ProfileError> {
        let file = yapily_profile_toml(base_url, push);
        let parsed: ProfileFile = toml::from_str(&file)
            .map_err(|e| ProfileError(format!("built-in Yapily profile: {e}")))?;
        Profile::from_file(parsed, Path::new("."), None)
    }
}

/// The TOML of the built-in Yapily-style profile (also `fixtures/profiles/yapily-webhooks.toml`).
pub fn yapily_profile_toml(base_url: &str, push: &PushDeclaration) -> String {
    format!(
        r#"name = "obevents sandbox (yapily dialect)"
dialect = "yapily"

[target]
base_url = "{base_url}"
jwks_url = "/.well-known/jwks.json"

[registration]
endpoint = "/register"

[trigger]
kind = "http"
method = "POST"
url = "/sandbox/yapily/events"
auth = "tpp-basic"
headers = {{ "Content-Type" = "application/json" }}
body = '{{"eventTypeId":"{{event_type}}","objectId":"{{resource_id}}"}}'
expect_status = [200, 201]

[yapily]
event_types = ["payment.status.completed", "payment.status.failed"]

[bank]
realtime = true

[timing]
event_timeout_ms = 5000
clock_skew_secs = 60
{push}"#,
        push = push_toml(push),
    )
}
